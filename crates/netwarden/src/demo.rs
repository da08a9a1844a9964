//! `netwarden demo`: capture on this machine with a lab pod attached by a veth pair, and traffic that
//! shows every capture feature: UDP and TCP flows (flags, handshake RTT), ICMP and IPv6, DNS latency
//! and response codes, and drops with the kernel's reason. Everything it creates goes away on exit.

use crate::output::{Format, RecordWriter};
use crate::run_loop::{self, LoopObserver};
use anyhow::Context;
use netwarden_datapath::{Capture, CaptureConfig, EvictStats};
use netwarden_lab::traffic::{dns_query, dns_response};
use netwarden_lab::{unique_tag, Lab, LabOptions, LabSpec};
use netwarden_model::FlowRecord;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream, ToSocketAddrs, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tracing::{info, warn};

/// The demo's node and pods (see examples/demo-inventory.yaml).
const INVENTORY: &str = include_str!("../../../examples/demo-inventory.yaml");
const NODE4: &str = "10.244.250.1";
const NODE6: &str = "fd00:10:244:250::1";
const CLIENT: &str = "iperf/iperf3-client";
const CLIENT4: &str = "10.244.250.11";
const CLIENT6: &str = "fd00:10:244:250::b";
const SERVER4: &str = "10.244.250.10";
const NGINX4: &str = "10.244.250.5";

#[derive(clap::Args, Debug)]
pub struct DemoArgs {
    /// How long to capture, in seconds.
    #[arg(long, default_value_t = 12.0)]
    seconds: f64,
    /// Seconds between evictions.
    #[arg(long, default_value_t = 4.0)]
    eviction: f64,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Json)]
    format: Format,
}

pub fn run(args: DemoArgs) -> anyhow::Result<()> {
    let duration = crate::capture::seconds("--seconds", args.seconds)?;
    let eviction = crate::capture::seconds("--eviction", args.eviction)?;
    let spec = LabSpec::from_yaml(INVENTORY).context("the demo inventory")?;
    let lab = Arc::new(
        Lab::up(
            &spec,
            LabOptions {
                name: Some(format!("demo-{}", unique_tag())),
                ..Default::default()
            },
        )
        .context("building the demo node (netwarden lab)")?,
    );
    let (snapshot, _) = netwarden_inventory::yaml::parse_str(INVENTORY, "demo inventory")?;
    let (index, _) = netwarden_inventory::Index::build(&snapshot);
    info!(
        lab = lab.name(),
        bridge = %lab.record().bridge,
        "demo node up: pods iperf/iperf3-client, iperf/iperf3-server, default/nginx-pod"
    );

    let stop = run_loop::stop_on_signals()?;
    let mut capture = crate::capture::start(&CaptureConfig::default())?;
    info!(interfaces = ?capture.attached_interfaces(), "capture started");
    let traffic_stop = Arc::new(AtomicBool::new(false));
    let driver = {
        let stop = Arc::clone(&traffic_stop);
        let lab = Arc::clone(&lab);
        std::thread::spawn(move || {
            if let Err(e) = drive_traffic(&lab, &stop) {
                warn!("demo traffic: {e:#}");
            }
        })
    };
    let mut out = Summary {
        writer: RecordWriter::new(
            Box::new(std::io::BufWriter::new(std::io::stdout())),
            args.format,
        ),
        index,
        records: 0,
        named: 0,
        drops: 0,
        dns: 0,
        rtt: 0,
    };
    let result = run_loop::run(&mut capture, eviction, Some(duration), &stop, &mut out);
    traffic_stop.store(true, Ordering::Relaxed);
    let _ = driver.join();
    result?;
    info!(
        records = out.records,
        with_pod_names = out.named,
        with_drops = out.drops,
        with_dns_latency = out.dns,
        with_rtt = out.rtt,
        "demo done; removing the demo node"
    );
    Ok(())
}

/// One round of every kind of traffic, then idle until stopped.
fn drive_traffic(lab: &Lab, stop: &AtomicBool) -> anyhow::Result<()> {
    // Node-side servers: UDP echo, a one-shot HTTP-ish TCP server, a DNS responder.
    let echo = UdpSocket::bind((NODE4, 7000))?;
    let echo6 = UdpSocket::bind((NODE6, 7000))?;
    for sock in [echo.try_clone()?, echo6.try_clone()?] {
        std::thread::spawn(move || {
            let mut buf = [0u8; 1500];
            let _ = sock.set_read_timeout(Some(Duration::from_secs(20)));
            while let Ok((n, from)) = sock.recv_from(&mut buf) {
                let _ = sock.send_to(&buf[..n], from);
            }
        });
    }
    let web = TcpListener::bind((NODE4, 8080))?;
    std::thread::spawn(move || {
        if let Ok((mut conn, _)) = web.accept() {
            let mut req = [0u8; 256];
            let _ = conn.read(&mut req);
            let _ =
                conn.write_all(b"HTTP/1.0 200 OK\r\nContent-Length: 15\r\n\r\nnetwarden demo\n");
        }
    });
    let dns = UdpSocket::bind((NODE4, 53))?;
    std::thread::spawn(move || {
        let mut buf = [0u8; 512];
        let _ = dns.set_read_timeout(Some(Duration::from_secs(20)));
        while let Ok((n, from)) = dns.recv_from(&mut buf) {
            std::thread::sleep(Duration::from_millis(3));
            let _ = dns.send_to(&dns_response(&buf[..n], 3), from);
        }
    });

    lab.run(CLIENT, || -> anyhow::Result<()> {
        let udp = UdpSocket::bind((CLIENT4, 0))?;
        udp.set_read_timeout(Some(Duration::from_secs(2)))?;
        let mut buf = [0u8; 1500];
        for i in 0..5u8 {
            udp.send_to(&[i; 64], (NODE4, 7000))?;
            udp.recv_from(&mut buf)?;
        }
        let udp6 = UdpSocket::bind((CLIENT6, 0))?;
        udp6.set_read_timeout(Some(Duration::from_secs(2)))?;
        udp6.send_to(b"over IPv6", (NODE6, 7000))?;
        udp6.recv_from(&mut buf)?;
        let mut tcp = TcpStream::connect((NODE4, 8080))?;
        tcp.write_all(b"GET / HTTP/1.0\r\n\r\n")?;
        let mut page = Vec::new();
        tcp.read_to_end(&mut page)?;
        let resolver = UdpSocket::bind((CLIENT4, 0))?;
        resolver.set_read_timeout(Some(Duration::from_secs(2)))?;
        resolver.send_to(&dns_query(0x2a2a, "demo.netwarden.test"), (NODE4, 53))?;
        resolver.recv_from(&mut buf)?;
        // Nobody listens on port 9: the node drops these with SKB_DROP_REASON_NO_SOCKET.
        for _ in 0..3 {
            udp.send_to(b"anyone?", (NODE4, 9))?;
        }
        // Pod to pod: the server pod and nginx echo what they get.
        for target in [(SERVER4, 5201), (NGINX4, 80)] {
            let mut c = TcpStream::connect(target)?;
            c.write_all(b"hello from the client pod")?;
            let mut echo = [0u8; 25];
            c.read_exact(&mut echo)?;
        }
        Ok(())
    })??;
    let _ = lab
        .command(CLIENT, "ping")?
        .args(["-c", "2", "-i", "0.2", "-W", "1", NODE4])
        .output();
    // A real lookup through this machine's resolver, on its real interface.
    if let Err(e) = "deb.debian.org:80".to_socket_addrs() {
        info!("host DNS lookup failed ({e}); the flows above still show DNS");
    }
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}

/// Prints records and counts what the demo set out to show.
struct Summary {
    writer: RecordWriter,
    /// Names the flows' ends from the demo inventory.
    index: netwarden_inventory::Index,
    records: usize,
    /// Records with at least one end named.
    named: usize,
    drops: usize,
    dns: usize,
    rtt: usize,
}

impl LoopObserver for Summary {
    fn record(&mut self, mut rec: FlowRecord) -> anyhow::Result<()> {
        netwarden_inventory::enrich(&mut rec, &self.index);
        self.records += 1;
        self.named += usize::from(rec.src_k8s.name.is_some() || rec.dst_k8s.name.is_some());
        self.drops += usize::from(rec.pkt_drop_packets.is_some());
        self.dns += usize::from(rec.dns_latency_ms.is_some());
        self.rtt += usize::from(rec.time_flow_rtt_ns.is_some());
        Ok(self.writer.write(&rec)?)
    }

    fn evicted(&mut self, _stats: &EvictStats, _capture: &Capture) -> anyhow::Result<()> {
        Ok(self.writer.flush()?)
    }
}
