//! `netwarden demo`: the whole stack on a simulated node. A lab node (examples/demo-inventory.yaml:
//! the iperf pods of the network-events examples, nginx, a shop with web and db, cluster DNS)
//! runs the agent with everything on: capture with Kubernetes identity, the example policies
//! enforced (network events on every flow), an IngressNodeFirewall rule on the pods' interfaces,
//! a pod monitor selector, the flow store, the API and the console. Traffic keeps flowing (iperf3,
//! DNS, HTTP-ish, database, pings; some denied by policy, some dropped by the firewall or the pod
//! monitor) until Ctrl-C, which tears everything down.

use crate::agent::{self, AgentConfig};
use anyhow::Context;
use netwarden_lab::traffic::{dns_query, dns_response};
use netwarden_lab::{unique_tag, Lab, LabOptions, LabSpec};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tracing::{info, warn};

/// The demo's node and pods.
const INVENTORY: &str = include_str!("../../../examples/demo-inventory.yaml");
/// The network-events examples (../shared/examples/network-events.yaml).
const EXAMPLE_POLICIES: &str =
    include_str!("../../netwarden-policy/tests/fixtures/network-events.yaml");
const DEMO_POLICIES: &str = include_str!("../../../examples/demo-policies.yaml");

const NODE4: &str = "10.244.250.1";
const POD_CIDR: &str = "10.244.250.0/24";
const CLIENT: &str = "iperf/iperf3-client";
const SERVER: &str = "iperf/iperf3-server-5d9f7-k8x2p";
const SERVER4: &str = "10.244.250.10";
const NGINX: &str = "default/nginx-pod";
const WEB: &str = "shop/web-7c9d4-mx2lp";
const DB4: &str = "10.244.250.21";
const DNS_POD: &str = "kube-system/coredns-5d78c-q8wz7";
const DNS4: &str = "10.244.250.53";
/// The node port the firewall rule closes to pods.
const FIREWALLED_PORT: u16 = 9090;

#[derive(clap::Args, Debug)]
pub struct DemoArgs {
    /// Address of the API and console.
    #[arg(long, default_value = "127.0.0.1:9001")]
    listen: SocketAddr,
    /// Address of the Prometheus metrics (NetObserv's flow metrics among them) at /metrics.
    #[arg(long, default_value = "127.0.0.1:9400")]
    metrics: SocketAddr,
    /// Stop after this many seconds (default: run until Ctrl-C).
    #[arg(long)]
    seconds: Option<f64>,
    /// Keep the demo's files (config, policies, flow store) in this directory instead of a
    /// temporary one removed on exit.
    #[arg(long, value_name = "DIR")]
    keep: Option<PathBuf>,
}

/// The demo's files, removed on drop unless kept.
struct Workdir {
    path: PathBuf,
    keep: bool,
}

impl Drop for Workdir {
    fn drop(&mut self) {
        if !self.keep {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

fn write(dir: &Path, name: &str, text: &str) -> anyhow::Result<PathBuf> {
    let path = dir.join(name);
    std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

/// The IngressNodeFirewall rule: pods may not reach the node's port 9090.
fn firewall_rules(interfaces: &[String]) -> String {
    let list = interfaces
        .iter()
        .map(|i| format!("\"{i}\""))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        r#"apiVersion: ingressnodefirewall.openshift.io/v1alpha1
kind: IngressNodeFirewall
metadata: {{name: demo-node-ports}}
spec:
  nodeSelector: {{}}
  interfaces: [{list}]
  ingress:
  - sourceCIDRs: ["{POD_CIDR}"]
    rules:
    - order: 10
      protocolConfig: {{protocol: TCP, tcp: {{ports: "{FIREWALLED_PORT}"}}}}
      action: Deny
"#
    )
}

fn config(
    dir: &Path,
    lab: &Lab,
    listen: SocketAddr,
    metrics: SocketAddr,
) -> anyhow::Result<AgentConfig> {
    let record = lab.record();
    let veths: Vec<String> = record
        .pods
        .iter()
        .filter_map(|p| p.host_interface.clone())
        .collect();
    let mut capture: Vec<String> = veths.iter().map(|v| regex::escape(v)).collect();
    capture.push(regex::escape(&record.bridge));
    let inventory = write(dir, "inventory.yaml", INVENTORY)?;
    let policies = dir.join("policies");
    std::fs::create_dir_all(&policies)?;
    write(&policies, "network-events.yaml", EXAMPLE_POLICIES)?;
    write(&policies, "demo.yaml", DEMO_POLICIES)?;
    let rules = write(dir, "firewall.yaml", &firewall_rules(&veths))?;
    let tag = &record.tag;
    let yaml = format!(
        r#"
capture:
  interfaces: "^({capture})$"
  eviction_seconds: 2
sink:
  jsonl:
    path: {flows}
metrics:
  address: {metrics}
inventory:
  file: {inventory}
  policies: [{policies}]
  policy_mode: enforce
firewall:
  enabled: true
  rules: [{rules}]
  node_name: demo-node
  log_events: false
  pin_dir: /sys/fs/bpf/netwarden/demo-{tag}
  state_dir: /run/netwarden/demo-{tag}
pod_guard:
  enabled: true
  selectors:
  - selector: app=nginx
    mode: block-external
  cluster_cidrs: [10.244.0.0/16, "fd00:10:244::/48", 10.96.0.0/12]
  log_events: false
store:
  enabled: true
  path: {store}
api:
  enabled: true
  listen: {listen}
"#,
        capture = capture.join("|"),
        flows = dir.join("flows.jsonl").display(),
        inventory = inventory.display(),
        policies = policies.display(),
        rules = rules.display(),
        store = dir.join("flows.duckdb").display(),
    );
    let path = write(dir, "agent.yaml", &yaml)?;
    AgentConfig::from_yaml(&yaml).with_context(|| format!("the demo's {}", path.display()))
}

pub fn run(args: DemoArgs) -> anyhow::Result<()> {
    let duration = args
        .seconds
        .map(|s| crate::capture::seconds("--seconds", s))
        .transpose()?;
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
    let dir = match &args.keep {
        Some(d) => Workdir {
            path: d.clone(),
            keep: true,
        },
        None => Workdir {
            path: std::env::temp_dir().join(lab.name()),
            keep: false,
        },
    };
    std::fs::create_dir_all(&dir.path)
        .with_context(|| format!("creating {}", dir.path.display()))?;
    let cfg = config(&dir.path, &lab, args.listen, args.metrics)?;
    // Bridged pods are found from the node's neighbour entries: make them exist.
    for pod in [CLIENT, SERVER, NGINX, WEB, DNS_POD, "shop/db-0"] {
        let _ = lab
            .command(pod, "ping")?
            .args(["-c", "1", "-W", "1", NODE4])
            .output();
    }
    let stop = crate::run_loop::stop_on_signals()?;
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
    println!(
        "netwarden demo: console on http://{}/ (flows appear within seconds; metrics on http://{}/metrics; Ctrl-C stops and removes everything)",
        args.listen, args.metrics
    );
    info!(lab = lab.name(), dir = %dir.path.display(), "demo node up");
    let result = agent::run_config(&cfg, &stop, duration);
    traffic_stop.store(true, Ordering::Relaxed);
    let _ = driver.join();
    let paths = netwarden_datapath::firewall::FirewallPaths {
        pin_dir: cfg.firewall.pin_dir.clone(),
        state_dir: cfg.firewall.state_dir.clone(),
    };
    if let Err(e) = netwarden_datapath::firewall::detach(&paths) {
        warn!("removing the demo firewall: {e}");
    }
    let _ = std::fs::remove_dir_all(&paths.state_dir);
    let _ = std::fs::remove_dir(&paths.pin_dir);
    // The demo created /sys/fs/bpf/netwarden too when it was missing; it goes when empty.
    if let Some(parent) = paths.pin_dir.parent() {
        let _ = std::fs::remove_dir(parent);
    }
    result?;
    info!("demo done; removing the demo node");
    Ok(())
}

/// Servers the traffic needs: iperf3 in the server pod, DNS in the DNS pod, HTTP-ish on the node.
fn start_servers(lab: &Lab, stop: &Arc<AtomicBool>) -> anyhow::Result<Option<std::process::Child>> {
    let iperf = lab
        .command(SERVER, "iperf3")?
        .args(["-s", "-B", SERVER4, "-p", "5201"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map_err(|e| warn!("iperf3 server not started ({e}); install iperf3"))
        .ok();
    let dns = lab.run(DNS_POD, || UdpSocket::bind((DNS4, 53)))??;
    dns.set_read_timeout(Some(Duration::from_millis(200)))?;
    let s = Arc::clone(stop);
    std::thread::spawn(move || {
        let mut buf = [0u8; 512];
        while !s.load(Ordering::Relaxed) {
            if let Ok((n, from)) = dns.recv_from(&mut buf) {
                std::thread::sleep(Duration::from_millis(2));
                let _ = dns.send_to(&dns_response(&buf[..n], 2), from);
            }
        }
    });
    for port in [8081, FIREWALLED_PORT] {
        let web = std::net::TcpListener::bind((NODE4, port))?;
        web.set_nonblocking(true)?;
        let s = Arc::clone(stop);
        std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                match web.accept() {
                    Ok((mut conn, _)) => {
                        let _ = conn.set_nonblocking(false);
                        let mut req = [0u8; 256];
                        let _ = conn.read(&mut req);
                        let _ = conn.write_all(
                            b"HTTP/1.0 200 OK\r\nContent-Length: 15\r\n\r\nnetwarden demo\n",
                        );
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(50)),
                }
            }
        });
    }
    Ok(iperf)
}

fn http_get(addr: (&str, u16)) -> std::io::Result<()> {
    let target: SocketAddr = format!("{}:{}", addr.0, addr.1)
        .parse()
        .map_err(std::io::Error::other)?;
    let mut c = TcpStream::connect_timeout(&target, Duration::from_millis(500))?;
    c.set_read_timeout(Some(Duration::from_millis(500)))?;
    c.write_all(b"GET / HTTP/1.0\r\n\r\n")?;
    let mut page = Vec::new();
    let _ = c.read_to_end(&mut page);
    Ok(())
}

fn dns_lookup(server: &str, id: u16, name: &str) -> std::io::Result<()> {
    let u = UdpSocket::bind("0.0.0.0:0")?;
    u.set_read_timeout(Some(Duration::from_millis(300)))?;
    u.send_to(&dns_query(id, name), (server, 53))?;
    let mut buf = [0u8; 512];
    u.recv_from(&mut buf).map(|_| ())
}

/// One round of the demo's traffic; errors are the point for the denied parts.
fn round(lab: &Lab, n: u16) -> anyhow::Result<()> {
    // Allowed: iperf3 on 5201 (demo policy), web -> db, web -> DNS, pods -> node:8081.
    let _ = lab
        .command(CLIENT, "iperf3")?
        .args(["-c", SERVER4, "-p", "5201", "-t", "1", "-b", "20M"])
        .output();
    lab.run(WEB, move || {
        let _ = dns_lookup(DNS4, n, "db.shop.svc.cluster.local");
        let _ = TcpStream::connect_timeout(
            &format!("{DB4}:5432").parse().expect("literal"),
            Duration::from_millis(500),
        )
        .and_then(|mut c| c.write_all(b"SELECT 1"));
        let _ = http_get((NODE4, 8081));
    })?;
    // Denied by policy: the client's egress only allows TCP 5201 (DNS, 5501), and the db only
    // takes the web pods; dropped by the firewall: pods -> node:9090.
    lab.run(CLIENT, move || {
        let _ = dns_lookup(
            DNS4,
            n.wrapping_add(1),
            "iperf3-server.iperf.svc.cluster.local",
        );
        let _ = TcpStream::connect_timeout(
            &format!("{SERVER4}:5501").parse().expect("literal"),
            Duration::from_millis(300),
        );
        let _ = http_get((NODE4, FIREWALLED_PORT));
    })?;
    lab.run(NGINX, move || {
        let _ = TcpStream::connect_timeout(
            &format!("{DB4}:5432").parse().expect("literal"),
            Duration::from_millis(300),
        );
        // Blocked by the pod monitor (block-external); TTL 1 so it never leaves the node.
        if let Ok(u) = UdpSocket::bind("0.0.0.0:0") {
            let _ = u.set_ttl(1);
            let _ = u.send_to(b"outside?", "203.0.113.7:443");
        }
    })?;
    let _ = lab
        .command(WEB, "ping")?
        .args(["-c", "2", "-i", "0.2", "-W", "1", "10.244.250.5"])
        .output();
    Ok(())
}

fn drive_traffic(lab: &Lab, stop: &Arc<AtomicBool>) -> anyhow::Result<()> {
    // The agent needs a moment to attach and compile the policies.
    std::thread::sleep(Duration::from_secs(2));
    let mut iperf = start_servers(lab, stop)?;
    let mut n: u16 = 1;
    while !stop.load(Ordering::Relaxed) {
        if let Err(e) = round(lab, n) {
            warn!("demo traffic round: {e:#}");
        }
        n = n.wrapping_add(2);
        for _ in 0..30 {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    if let Some(child) = iperf.as_mut() {
        let _ = child.kill();
        let _ = child.wait();
    }
    Ok(())
}
