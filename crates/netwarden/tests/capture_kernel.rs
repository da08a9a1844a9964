//! `netwarden capture` against the real kernel: namespaces joined by veth pairs, real packets, exact
//! figures. Needs root (CI runs as root).

mod common;

use common::*;
use serde_json::json;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::process::Command;
use std::time::Duration;

fn recv_n(sock: &UdpSocket, n: usize) {
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = [0u8; 2048];
    for i in 0..n {
        sock.recv_from(&mut buf)
            .unwrap_or_else(|e| panic!("datagram {i} of {n} not received: {e}"));
    }
}

/// Lets in-flight packets reach the hooks (veth delivery is asynchronous) before stopping.
fn settle() {
    std::thread::sleep(Duration::from_millis(300));
}

#[test]
fn udp_ipv4_exact_packets_and_bytes() {
    let pair = Pair::new();
    let server = pair
        .host
        .run(|| UdpSocket::bind((HOST4, 9000)).unwrap())
        .unwrap();
    let cap = pair.capture(&[]);
    let client = pair
        .pod
        .run(|| UdpSocket::bind((POD4, 0)).unwrap())
        .unwrap();
    for _ in 0..10 {
        client.send_to(&[7u8; 100], (HOST4, 9000)).unwrap();
    }
    recv_n(&server, 10);
    settle();
    let recs = cap.stop();
    let r = recs.one(&[
        ("SrcAddr", json!(POD4)),
        ("DstAddr", json!(HOST4)),
        ("DstPort", json!(9000)),
    ]);
    assert_eq!(r["Packets"], 10);
    assert_eq!(r["Bytes"], 10 * udp4_frame(100));
    assert_eq!(r["Proto"], 17);
    assert_eq!(r["Etype"], 2048);
    assert_eq!(r["Interfaces"], json!([pair.host_if]));
    assert_eq!(r["IfDirections"], json!([0]));
    assert_eq!(r["Sampling"], 1);
    assert_eq!(r["SrcPort"], json!(client.local_addr().unwrap().port()));
    assert!(
        r.get("Flags").is_none()
            && r.get("IcmpType").is_none()
            && r.get("PktDropPackets").is_none(),
        "{r}"
    );
    assert!(
        r["SrcMac"].as_str().unwrap().len() == 17 && r["DstMac"].as_str().is_some(),
        "{r}"
    );
    let (start, end) = (
        r["TimeFlowStartMs"].as_i64().unwrap(),
        r["TimeFlowEndMs"].as_i64().unwrap(),
    );
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    assert!(
        start <= end && now_ms - start < 60_000 && end <= now_ms,
        "times {start}..{end} vs now {now_ms}"
    );
}

#[test]
fn udp_ipv6_exact_packets_and_bytes() {
    let pair = Pair::new();
    let server = pair
        .host
        .run(|| UdpSocket::bind((HOST6, 9001)).unwrap())
        .unwrap();
    let cap = pair.capture(&[]);
    let client = pair
        .pod
        .run(|| UdpSocket::bind((POD6, 0)).unwrap())
        .unwrap();
    for _ in 0..6 {
        client.send_to(&[1u8; 333], (HOST6, 9001)).unwrap();
    }
    recv_n(&server, 6);
    settle();
    let recs = cap.stop();
    let r = recs.one(&[
        ("SrcAddr", json!(POD6)),
        ("DstAddr", json!(HOST6)),
        ("DstPort", json!(9001)),
    ]);
    assert_eq!(r["Packets"], 6);
    assert_eq!(r["Bytes"], 6 * udp6_frame(333));
    assert_eq!(r["Etype"], 34525);
    assert_eq!(r["IfDirections"], json!([0]));
}

#[test]
fn tcp_flags_and_handshake_rtt() {
    let pair = Pair::new();
    let listener = pair
        .host
        .run(|| TcpListener::bind((HOST4, 8080)).unwrap())
        .unwrap();
    let cap = pair.capture(&[]);
    let mut client = pair
        .pod
        .run(|| TcpStream::connect((HOST4, 8080)).unwrap())
        .unwrap();
    let (mut conn, _) = listener.accept().unwrap();
    client.write_all(&[5u8; 1000]).unwrap();
    let mut got = vec![0u8; 1000];
    conn.read_exact(&mut got).unwrap();
    conn.write_all(b"ok").unwrap();
    let mut reply = [0u8; 2];
    client.read_exact(&mut reply).unwrap();
    client.shutdown(std::net::Shutdown::Write).unwrap();
    let mut rest = Vec::new();
    conn.read_to_end(&mut rest).unwrap();
    drop(conn);
    let _ = client.read_to_end(&mut rest);
    settle();
    let recs = cap.stop();
    let port = json!(client.local_addr().unwrap().port());
    let to_server = recs.one(&[
        ("SrcAddr", json!(POD4)),
        ("DstPort", json!(8080)),
        ("SrcPort", port.clone()),
    ]);
    let to_client = recs.one(&[
        ("SrcAddr", json!(HOST4)),
        ("SrcPort", json!(8080)),
        ("DstPort", port),
    ]);
    let flags = |r: &serde_json::Value| r["Flags"].as_u64().unwrap();
    // Client side: SYN, ACK, PSH, FIN and the FIN_ACK combination; never SYN_ACK.
    assert_eq!(
        flags(to_server) & 0x21f,
        0x01 | 0x02 | 0x08 | 0x10 | 0x200,
        "client flags {to_server}"
    );
    assert_eq!(flags(to_server) & 0x100, 0);
    // Server side: SYN_ACK as both bits and the combination bit.
    assert_eq!(flags(to_server) & 0x04, 0, "no RST");
    assert_eq!(flags(to_client) & 0x112, 0x112, "server flags {to_client}");
    // Payload bytes are inside the frames counted.
    assert!(to_server["Bytes"].as_u64().unwrap() > 1000 + 5 * 66);
    // SYN -> SYN-ACK completes on the server's flow, SYN-ACK -> ACK on the client's.
    for r in [to_server, to_client] {
        let rtt = r["TimeFlowRttNs"].as_u64().unwrap_or(0);
        assert!(rtt > 0 && rtt < 1_000_000_000, "RTT {rtt} in {r}");
    }
}

fn ping(ns: &Netns, target: &str, count: u32) {
    let out = Command::new("ip")
        .args([
            "netns",
            "exec",
            &ns.name,
            "ping",
            "-c",
            &count.to_string(),
            "-i",
            "0.05",
            "-W",
            "2",
            "-s",
            "56",
            target,
        ])
        .output()
        .expect("ping (apt install iputils-ping)");
    assert!(
        out.status.success(),
        "ping {target}: {}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn icmp_and_icmpv6_echo() {
    let pair = Pair::new();
    let cap = pair.capture(&[]);
    ping(&pair.pod, HOST4, 3);
    ping(&pair.pod, HOST6, 4);
    settle();
    let recs = cap.stop();
    let req = recs.one(&[
        ("SrcAddr", json!(POD4)),
        ("Proto", json!(1)),
        ("IcmpType", json!(8)),
    ]);
    assert_eq!(
        (
            req["Packets"].as_u64(),
            req["Bytes"].as_u64(),
            req["IcmpCode"].as_u64()
        ),
        (Some(3), Some(3 * 98), Some(0))
    );
    let rep = recs.one(&[
        ("SrcAddr", json!(HOST4)),
        ("Proto", json!(1)),
        ("IcmpType", json!(0)),
    ]);
    assert_eq!(
        (
            rep["Packets"].as_u64(),
            rep["Bytes"].as_u64(),
            rep["IfDirections"].clone()
        ),
        (Some(3), Some(3 * 98), json!([1]))
    );
    assert!(req.get("SrcPort").is_none(), "no ports on ICMP: {req}");
    let req6 = recs.one(&[
        ("SrcAddr", json!(POD6)),
        ("DstAddr", json!(HOST6)),
        ("Proto", json!(58)),
        ("IcmpType", json!(128)),
    ]);
    assert_eq!(
        (req6["Packets"].as_u64(), req6["Bytes"].as_u64()),
        (Some(4), Some(4 * 118))
    );
    let rep6 = recs.one(&[
        ("SrcAddr", json!(HOST6)),
        ("DstAddr", json!(POD6)),
        ("Proto", json!(58)),
        ("IcmpType", json!(129)),
    ]);
    assert_eq!(rep6["Packets"], 4);
}

#[test]
fn udp_to_closed_port_is_a_no_socket_drop() {
    let pair = Pair::new();
    let cap = pair.capture(&[]);
    let client = pair
        .pod
        .run(|| UdpSocket::bind((POD4, 0)).unwrap())
        .unwrap();
    for _ in 0..5 {
        client.send_to(&[9u8; 60], (HOST4, 9)).unwrap();
    }
    settle();
    let recs = cap.stop();
    let r = recs.one(&[("SrcAddr", json!(POD4)), ("DstPort", json!(9))]);
    assert_eq!(r["Packets"], 5);
    assert_eq!(r["PktDropPackets"], 5);
    assert_eq!(r["PktDropBytes"], 5 * udp4_frame(60));
    assert_eq!(r["PktDropLatestDropCause"], "SKB_DROP_REASON_NO_SOCKET");
    assert!(
        r.get("PktDropLatestState").is_none(),
        "no socket, no state: {r}"
    );
}

use netwarden_lab::traffic::{dns_query, dns_response};

#[test]
fn dns_query_and_response_latency_and_rcode() {
    let pair = Pair::new();
    let server = pair
        .host
        .run(|| UdpSocket::bind((HOST4, 53)).unwrap())
        .unwrap();
    let cap = pair.capture(&[]);
    let responder = std::thread::spawn(move || {
        let mut buf = [0u8; 512];
        let (n, from) = server.recv_from(&mut buf).unwrap();
        std::thread::sleep(Duration::from_millis(20));
        server.send_to(&dns_response(&buf[..n], 3), from).unwrap();
    });
    let client = pair
        .pod
        .run(|| UdpSocket::bind((POD4, 0)).unwrap())
        .unwrap();
    client
        .send_to(&dns_query(0x4242, "nowhere.netwarden.test"), (HOST4, 53))
        .unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut buf = [0u8; 512];
    client.recv_from(&mut buf).unwrap();
    responder.join().unwrap();
    settle();
    let recs = cap.stop();
    let query = recs.one(&[("SrcAddr", json!(POD4)), ("DstPort", json!(53))]);
    assert_eq!(query["DnsId"], 0x4242);
    assert_eq!(query["DnsName"], "nowhere.netwarden.test");
    assert!(query.get("DnsLatencyMs").is_none(), "{query}");
    let resp = recs.one(&[("SrcAddr", json!(HOST4)), ("SrcPort", json!(53))]);
    assert_eq!(resp["DnsId"], 0x4242);
    assert_eq!(resp["DnsFlags"], 0x8183);
    assert_eq!(resp["DnsFlagsResponseCode"], "NXDomain");
    assert_eq!(resp["DnsName"], "nowhere.netwarden.test");
    let ms = resp["DnsLatencyMs"].as_f64().unwrap();
    assert!(
        (20.0..1000.0).contains(&ms),
        "latency {ms} ms should include the responder's 20 ms"
    );
}

#[test]
fn flow_crossing_two_interfaces_is_counted_once() {
    // pod1 -- (ha) router (hb) -- pod2, capture on both router interfaces.
    let tag = unique_tag();
    let router = netns(format!("nwt{tag}r"));
    let pod1 = netns(format!("nwt{tag}1"));
    let pod2 = netns(format!("nwt{tag}2"));
    let (ha, hb) = (format!("na{tag}"), format!("nb{tag}"));
    for (host_if, pod, net) in [(&ha, &pod1, "78"), (&hb, &pod2, "79")] {
        let pod_if = format!("p{host_if}");
        router
            .ip(&[
                "link", "add", host_if, "type", "veth", "peer", "name", &pod_if, "netns", &pod.name,
            ])
            .unwrap();
        router
            .ip(&[
                "addr",
                "add",
                &format!("192.168.{net}.1/24"),
                "dev",
                host_if,
            ])
            .unwrap();
        router.ip(&["link", "set", host_if, "up"]).unwrap();
        pod.ip(&[
            "addr",
            "add",
            &format!("192.168.{net}.2/24"),
            "dev",
            &pod_if,
        ])
        .unwrap();
        pod.ip(&["link", "set", &pod_if, "up"]).unwrap();
        pod.ip(&[
            "route",
            "add",
            "default",
            "via",
            &format!("192.168.{net}.1"),
        ])
        .unwrap();
    }
    router.sysctl("net.ipv4.ip_forward", "1").unwrap();
    let server = pod2
        .run(|| UdpSocket::bind(("192.168.79.2", 7000)).unwrap())
        .unwrap();
    let re = format!("^({ha}|{hb})$");
    let cap = CaptureProc::start(
        &router.name,
        &["capture", "--interfaces", &re, "--eviction", "60"],
    );
    let client = pod1
        .run(|| UdpSocket::bind(("192.168.78.2", 0)).unwrap())
        .unwrap();
    for _ in 0..7 {
        client.send_to(&[3u8; 200], ("192.168.79.2", 7000)).unwrap();
    }
    recv_n(&server, 7);
    settle();
    let recs = cap.stop();
    let r = recs.one(&[
        ("SrcAddr", json!("192.168.78.2")),
        ("DstAddr", json!("192.168.79.2")),
    ]);
    assert_eq!(r["Packets"], 7);
    assert_eq!(r["Bytes"], 7 * udp4_frame(200));
    assert_eq!(r["Interfaces"], json!([ha, hb]));
    assert_eq!(r["IfDirections"], json!([0, 1]));
}

#[test]
fn interfaces_created_later_are_captured_and_removal_is_harmless() {
    let tag = unique_tag();
    let host = netns(format!("nwt{tag}h"));
    let pod = netns(format!("nwt{tag}p"));
    let (host_if, pod_if) = (format!("nl{tag}"), format!("pl{tag}"));
    let re = format!("^{host_if}$");
    let mut cap = CaptureProc::spawn(
        &host.name,
        &["capture", "--interfaces", &re, "--eviction", "60"],
    );
    // Nothing matches yet: one-shot capture refuses to start blind.
    let status = {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(s) = cap.try_wait() {
                break s;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "capture with no interface should exit"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    assert!(!status.success());
    drop(cap);

    // With a matching interface present, a second one created later is picked up within a second.
    let first = format!("nk{tag}");
    host.ip(&[
        "link",
        "add",
        &first,
        "type",
        "veth",
        "peer",
        "name",
        &format!("nj{tag}"),
    ])
    .unwrap();
    host.ip(&["link", "set", &first, "up"]).unwrap();
    let re = format!("^(nk|nl){tag}$");
    let mut cap = CaptureProc::start(
        &host.name,
        &["capture", "--interfaces", &re, "--eviction", "60"],
    );
    host.ip(&[
        "link", "add", &host_if, "type", "veth", "peer", "name", &pod_if, "netns", &pod.name,
    ])
    .unwrap();
    host.ip(&["addr", "add", "192.168.80.1/24", "dev", &host_if])
        .unwrap();
    host.ip(&["link", "set", &host_if, "up"]).unwrap();
    pod.ip(&["addr", "add", "192.168.80.2/24", "dev", &pod_if])
        .unwrap();
    pod.ip(&["link", "set", &pod_if, "up"]).unwrap();
    cap.wait_for_stderr(&host_if, Duration::from_secs(1));
    let server = host
        .run(|| UdpSocket::bind(("192.168.80.1", 7100)).unwrap())
        .unwrap();
    let client = pod
        .run(|| UdpSocket::bind(("192.168.80.2", 0)).unwrap())
        .unwrap();
    for _ in 0..4 {
        client.send_to(&[1u8; 10], ("192.168.80.1", 7100)).unwrap();
    }
    recv_n(&server, 4);
    settle();
    // Removing a captured interface is not an error; its flows keep its name.
    host.ip(&["link", "del", &host_if]).unwrap();
    std::thread::sleep(Duration::from_millis(600));
    let recs = cap.stop();
    let r = recs.one(&[("SrcAddr", json!("192.168.80.2")), ("DstPort", json!(7100))]);
    assert_eq!(r["Packets"], 4);
    assert_eq!(r["Interfaces"], json!([host_if]));
}

#[test]
fn full_flow_map_spills_to_the_fallback_path_without_losing_flows() {
    let pair = Pair::new();
    let cap = pair.capture(&["--flow-map-entries", "2", "--no-drops", "--no-dns"]);
    let client = pair
        .pod
        .run(|| UdpSocket::bind((POD4, 0)).unwrap())
        .unwrap();
    for port in 20000..20008u16 {
        for _ in 0..3 {
            client.send_to(&[0u8; 50], (HOST4, port)).unwrap();
        }
    }
    settle();
    let recs = cap.stop();
    for port in 20000..20008u16 {
        let r = recs.one(&[("SrcAddr", json!(POD4)), ("DstPort", json!(port))]);
        assert_eq!(
            (r["Packets"].as_u64(), r["Bytes"].as_u64()),
            (Some(3), Some(3 * udp4_frame(50))),
            "{r}"
        );
    }
    assert!(
        recs.stderr
            .iter()
            .any(|l| l.contains("flow_map_full") && !l.contains("fallback_lost: 1")),
        "loss counters reported: {:?}",
        recs.stderr
    );
}

#[test]
fn sampling_is_recorded_on_each_record() {
    let pair = Pair::new();
    let server = pair
        .host
        .run(|| UdpSocket::bind((HOST4, 9100)).unwrap())
        .unwrap();
    let cap = pair.capture(&["--sampling", "1"]);
    let client = pair
        .pod
        .run(|| UdpSocket::bind((POD4, 0)).unwrap())
        .unwrap();
    client.send_to(&[0u8; 10], (HOST4, 9100)).unwrap();
    recv_n(&server, 1);
    settle();
    let recs = cap.stop();
    assert_eq!(recs.one(&[("DstPort", json!(9100))])["Sampling"], 1);

    // 1-in-1000 over 20 packets: whatever was kept says so.
    let cap = pair.capture(&["--sampling", "1000"]);
    for _ in 0..20 {
        client.send_to(&[0u8; 10], (HOST4, 9100)).unwrap();
    }
    recv_n(&server, 20);
    settle();
    let recs = cap.stop();
    for r in recs.matching(&[("DstPort", json!(9100))]) {
        assert_eq!(r["Sampling"], 1000);
        assert!(r["Packets"].as_u64().unwrap() <= 20);
    }
}

#[test]
fn dns_over_tcp() {
    let pair = Pair::new();
    let listener = pair
        .host
        .run(|| TcpListener::bind((HOST4, 53)).unwrap())
        .unwrap();
    let cap = pair.capture(&[]);
    let responder = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        let mut len = [0u8; 2];
        conn.read_exact(&mut len).unwrap();
        let mut msg = vec![0u8; u16::from_be_bytes(len) as usize];
        conn.read_exact(&mut msg).unwrap();
        std::thread::sleep(Duration::from_millis(10));
        let msg = dns_response(&msg, 0);
        let mut resp = (msg.len() as u16).to_be_bytes().to_vec();
        resp.extend_from_slice(&msg);
        conn.write_all(&resp).unwrap();
    });
    let mut client = pair
        .pod
        .run(|| TcpStream::connect((HOST4, 53)).unwrap())
        .unwrap();
    let query = dns_query(0x0777, "tcp.netwarden.test");
    let mut framed = (query.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(&query);
    client.write_all(&framed).unwrap();
    let mut resp = vec![0u8; framed.len()];
    client.read_exact(&mut resp).unwrap();
    responder.join().unwrap();
    drop(client);
    settle();
    let recs = cap.stop();
    let q = recs.one(&[
        ("SrcAddr", json!(POD4)),
        ("DstPort", json!(53)),
        ("Proto", json!(6)),
    ]);
    assert_eq!(
        (q["DnsId"].as_u64(), q["DnsName"].as_str()),
        (Some(0x0777), Some("tcp.netwarden.test"))
    );
    let r = recs.one(&[
        ("SrcAddr", json!(HOST4)),
        ("SrcPort", json!(53)),
        ("Proto", json!(6)),
    ]);
    assert_eq!(r["DnsFlagsResponseCode"], "NoError");
    let ms = r["DnsLatencyMs"].as_f64().unwrap();
    assert!((10.0..1000.0).contains(&ms), "latency {ms}");
}
