//! The XDP ingress firewall on real packets between network namespaces: the pod sends, the firewall
//! guards the host's end of the veth. Needs root.

mod common;

use common::firewall::Fw;
use common::{Pair, HOST4, HOST6, POD4};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::time::Duration;

/// Ethernet + IPv4 + UDP header bytes in front of a datagram's payload.
const UDP4_OVERHEAD: u64 = 14 + 20 + 8;

fn rules(host_if: &str) -> String {
    format!(
        r#"
apiVersion: ingressnodefirewall.openshift.io/v1alpha1
kind: IngressNodeFirewall
metadata:
  name: guard
spec:
  interfaces: [{host_if}]
  ingress:
  - sourceCIDRs: [192.168.77.0/24, fd77::/64]
    rules:
    - order: 10
      protocolConfig:
        protocol: TCP
        tcp:
          ports: "7000-7010"
      action: Deny
    - order: 20
      protocolConfig:
        protocol: UDP
        udp:
          ports: 9000
      action: Deny
    - order: 30
      protocolConfig:
        protocol: ICMP
        icmp:
          icmpType: 8
      action: Deny
    - order: 31
      protocolConfig:
        protocol: ICMPv6
        icmpv6:
          icmpType: 128
      action: Deny
    - order: 40
      protocolConfig:
        protocol: UDP
      action: Allow
"#
    )
}

/// Whether a TCP connection from the pod to `addr` completes within a second.
fn tcp_connects(pair: &Pair, addr: SocketAddr) -> bool {
    pair.pod
        .run(move || TcpStream::connect_timeout(&addr, Duration::from_millis(700)).is_ok())
        .unwrap()
}

/// Sends `n` datagrams of `size` bytes from the pod to `port` on the host; returns how many arrived.
fn udp_delivered(pair: &Pair, port: u16, n: usize, size: usize) -> usize {
    let server = pair
        .host
        .run(move || UdpSocket::bind((HOST4, port)).unwrap())
        .unwrap();
    server
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let client = pair
        .pod
        .run(|| UdpSocket::bind((POD4, 0)).unwrap())
        .unwrap();
    for _ in 0..n {
        client.send_to(&vec![7u8; size], (HOST4, port)).unwrap();
    }
    let mut got = 0;
    let mut buf = [0u8; 2048];
    while server.recv_from(&mut buf).is_ok() {
        got += 1;
    }
    got
}

fn ping(pair: &Pair, target: &str) -> bool {
    pair.pod
        .command("ping")
        .args(["-c", "1", "-W", "1", target])
        .output()
        .unwrap()
        .status
        .success()
}

fn listen(pair: &Pair, addr: SocketAddr) -> TcpListener {
    pair.host
        .run(move || TcpListener::bind(addr).unwrap())
        .unwrap()
}

#[test]
fn allows_and_denies_real_packets_and_counts_them_exactly() {
    let pair = Pair::new();
    let fw = Fw::new(&pair.tag, &pair.host);
    let _l1 = listen(&pair, format!("{HOST4}:7005").parse().unwrap());
    let _l2 = listen(&pair, format!("{HOST4}:7011").parse().unwrap());
    let _l3 = listen(&pair, format!("[{HOST6}]:7005").parse().unwrap());
    // Neighbours first, so ARP/ND are not part of what the rules see below. A fresh veth may
    // drop the first SYN while its link comes up (SYN retries wait 1 s): try a few times.
    assert!((0..5).any(|_| tcp_connects(&pair, format!("{HOST4}:7011").parse().unwrap())));
    let file = fw.rules("guard.yaml", &rules(&pair.host_if));
    let out = fw.apply(&file, &[]);
    assert!(
        out.contains(&format!("enforcing on {}", pair.host_if)),
        "{out}"
    );

    assert!(
        !tcp_connects(&pair, format!("{HOST4}:7005").parse().unwrap()),
        "TCP 7005 is in the denied range"
    );
    assert!(
        tcp_connects(&pair, format!("{HOST4}:7011").parse().unwrap()),
        "TCP 7011 is past the range"
    );
    assert!(
        !tcp_connects(&pair, format!("[{HOST6}]:7005").parse().unwrap()),
        "IPv6 too"
    );
    assert_eq!(udp_delivered(&pair, 9000, 5, 100), 0, "UDP 9000 denied");
    assert_eq!(
        udp_delivered(&pair, 9001, 3, 60),
        3,
        "other UDP allowed by order 40"
    );
    assert!(!ping(&pair, HOST4), "ICMP echo request denied");
    assert!(!ping(&pair, HOST6), "ICMPv6 echo request denied");

    // Exact counters: 5 denied datagrams of 100 bytes; 3 allowed of 60.
    let (_, _, deny_pkts, deny_bytes) = fw.rule_counts(20);
    assert_eq!((deny_pkts, deny_bytes), (5, 5 * (UDP4_OVERHEAD + 100)));
    let (allow_pkts, allow_bytes, _, _) = fw.rule_counts(40);
    assert_eq!((allow_pkts, allow_bytes), (3, 3 * (UDP4_OVERHEAD + 60)));

    let events = fw.events();
    let udp: Vec<_> = events.iter().filter(|e| e["protocol"] == "udp").collect();
    assert_eq!(udp.len(), 5, "one event per denied datagram: {events:?}");
    assert_eq!(udp[0]["dst_port"], 9000);
    assert_eq!(udp[0]["rule_id"], 20);
    assert_eq!(udp[0]["action"], "Drop");
    assert_eq!(udp[0]["len"], UDP4_OVERHEAD + 100);
    assert!(events
        .iter()
        .any(|e| e["protocol"] == "icmpv4" && e["icmp_type"] == 8));
    assert!(events
        .iter()
        .any(|e| e["protocol"] == "icmpv6" && e["icmp_type"] == 128));
}

#[test]
fn enforcement_outlives_the_process_survives_bad_updates_and_detach_removes_it() {
    let pair = Pair::new();
    let fw = Fw::new(&pair.tag, &pair.host);
    let file = fw.rules("guard.yaml", &rules(&pair.host_if));
    fw.apply(&file, &[]);
    // The apply process has exited: the pinned link keeps enforcing.
    assert_eq!(udp_delivered(&pair, 9000, 2, 10), 0);
    let again = fw.apply(&file, &[]);
    assert!(again.contains("unchanged"), "{again}");

    let bad = fw.rules(
        "bad.yaml",
        &rules(&pair.host_if).replace("\"7000-7010\"", "\"7010-7000\""),
    );
    let out = fw.run(&["apply", "-f", &bad, "--node-name", "node-1"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("7010-7000"),
        "the error names the value: {err}"
    );
    assert_eq!(
        udp_delivered(&pair, 9000, 2, 10),
        0,
        "the old rules are still in force"
    );
    let (_, _, deny_pkts, _) = fw.rule_counts(20);
    assert_eq!(deny_pkts, 4, "counters survive re-applies");

    let status = fw.ok(&["status", "--json"]);
    let status: serde_json::Value = serde_json::from_str(&status).unwrap();
    assert_eq!(status["attached"][0]["interface"], pair.host_if.as_str());
    assert_eq!(status["attached"][0]["enforcing"], true);

    fw.ok(&["detach"]);
    assert_eq!(
        udp_delivered(&pair, 9000, 2, 10),
        2,
        "detached: traffic passes"
    );
    assert!(!fw.pin_dir.join("links").exists());
}

#[test]
fn audit_mode_counts_and_reports_but_passes() {
    let pair = Pair::new();
    let fw = Fw::new(&pair.tag, &pair.host);
    let file = fw.rules("guard.yaml", &rules(&pair.host_if));
    fw.apply(&file, &["--audit"]);
    assert_eq!(udp_delivered(&pair, 9000, 3, 10), 3);
    let (_, _, deny_pkts, _) = fw.rule_counts(20);
    assert_eq!(deny_pkts, 3);
    let events = fw.events();
    assert_eq!(events.len(), 3);
    assert!(events.iter().all(|e| e["action"] == "Audit"));
}

#[test]
fn protected_services_stay_open_under_a_deny_all() {
    let pair = Pair::new();
    let fw = Fw::new(&pair.tag, &pair.host);
    let _ssh = listen(&pair, format!("{HOST4}:22").parse().unwrap());
    let _other = listen(&pair, format!("{HOST4}:2222").parse().unwrap());
    let yaml = format!(
        r#"
apiVersion: netwarden.io/v1alpha1
kind: IngressNodeFirewall
metadata:
  name: deny-all
spec:
  interfaces: [{}]
  ingress:
  - sourceCIDRs: [0.0.0.0/0]
    rules:
    - order: 1
      action: Deny
"#,
        pair.host_if
    );
    let file = fw.rules("deny.yaml", &yaml);
    let out = fw.run(&["apply", "-f", &file, "--node-name", "node-1"]);
    assert!(out.status.success());
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        text.contains("protected"),
        "a warning names the overridden services: {text}"
    );
    assert!(
        tcp_connects(&pair, format!("{HOST4}:22").parse().unwrap()),
        "SSH stays reachable"
    );
    assert!(!tcp_connects(
        &pair,
        format!("{HOST4}:2222").parse().unwrap()
    ));
}

/// Polls `cond` every 100 ms for up to `secs` seconds.
fn eventually(secs: u64, mut cond: impl FnMut() -> bool) -> bool {
    let end = std::time::Instant::now() + Duration::from_secs(secs);
    while std::time::Instant::now() < end {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

#[test]
fn agent_applies_watches_rejects_bad_updates_attaches_late_interfaces_and_exports_metrics() {
    let pair = Pair::new();
    let fw = Fw::new(&pair.tag, &pair.host);
    // The rules also name an interface that does not exist yet.
    let late_if = format!("nl{}", pair.tag);
    let yaml = rules(&pair.host_if).replace(
        &format!("interfaces: [{}]", pair.host_if),
        &format!("interfaces: [{}, {late_if}]", pair.host_if),
    );
    let file = fw.rules("guard.yaml", &yaml);
    let events = fw.rules_dir.join("events.jsonl");
    let cfg = fw.rules(
        "agent.yaml",
        &format!(
            "capture:\n  interfaces: '^{host_if}$'\nsink:\n  jsonl:\n    path: /dev/null\nmetrics:\n  address: 127.0.0.1:0\n\
             firewall:\n  enabled: true\n  rules: [{file}]\n  node_name: node-1\n  events_jsonl: {events}\n  pin_dir: {pin}\n  state_dir: {state}\n",
            host_if = pair.host_if,
            events = events.display(),
            pin = fw.pin_dir.display(),
            state = fw.state_dir.display(),
        ),
    );
    let agent =
        common::CaptureProc::start_keep_mounts(&pair.host.name, &["agent", "--config", &cfg]);
    let addr = common::metrics_addr(&agent.stderr_seen);

    assert_eq!(udp_delivered(&pair, 9000, 4, 50), 0);
    let text = common::scrape(&pair.host, addr.clone());
    assert_eq!(
        common::metric(&text, "ingressnodefirewall_node_packet_deny_total"),
        4
    );
    assert_eq!(
        common::metric(&text, "ingressnodefirewall_node_packet_deny_bytes"),
        4 * (UDP4_OVERHEAD + 50)
    );
    assert!(text.contains(&format!(
        "netwarden_firewall_rule_packets_total{{object=\"guard\",interface=\"{}\",cidr=\"192.168.77.0/24\",order=\"20\",action=\"deny\"}} 4",
        pair.host_if
    )), "{text}");
    assert!(eventually(3, || std::fs::read_to_string(&events)
        .is_ok_and(|t| t.lines().count() == 4)));

    // An invalid edit is rejected whole: the old rules stay.
    std::fs::write(&file, yaml.replace("ports: 9000", "ports: 99999")).unwrap();
    assert!(eventually(5, || common::metric(
        &common::scrape(&pair.host, addr.clone()),
        "netwarden_firewall_apply_errors_total"
    ) == 1));
    assert_eq!(udp_delivered(&pair, 9000, 1, 50), 0);

    // A valid edit takes over: 9000 is now allowed (by order 40), 9001 denied.
    std::fs::write(&file, yaml.replace("ports: 9000", "ports: 9001")).unwrap();
    assert!(eventually(5, || udp_delivered(&pair, 9000, 1, 10) == 1));
    assert_eq!(udp_delivered(&pair, 9001, 2, 10), 0);

    // The late interface appears: the agent attaches to it.
    let late_peer = format!("nm{}", pair.tag);
    pair.host
        .ip(&[
            "link", "add", &late_if, "type", "veth", "peer", "name", &late_peer,
        ])
        .unwrap();
    assert!(eventually(5, || fw
        .ok(&["status", "--json"])
        .contains(&format!("\"interface\": \"{late_if}\""))));

    // Stopping the agent leaves the firewall enforcing.
    agent.stop();
    assert_eq!(udp_delivered(&pair, 9001, 1, 10), 0);
}

#[test]
fn overlapping_cidrs_of_several_objects_merge_per_interface() {
    let pair = Pair::new();
    let fw = Fw::new(&pair.tag, &pair.host);
    // A second link between the same two namespaces, on another subnet.
    let (if2_host, if2_pod) = (format!("nx{}", pair.tag), format!("ny{}", pair.tag));
    pair.host
        .veth_to(
            &if2_host,
            &["192.168.78.1/24"],
            &pair.pod,
            &if2_pod,
            &["192.168.78.2/24"],
        )
        .unwrap();
    let yaml = format!(
        r#"
apiVersion: netwarden.io/v1alpha1
kind: IngressNodeFirewall
metadata:
  name: wide
spec:
  interfaces: [{h1}, {h2}]
  ingress:
  - sourceCIDRs: [192.168.0.0/16]
    rules:
    - order: 20
      protocolConfig:
        protocol: UDP
      action: Deny
---
apiVersion: ingressnodefirewall.openshift.io/v1alpha1
kind: IngressNodeFirewall
metadata:
  name: narrow
spec:
  interfaces: [{h1}]
  ingress:
  - sourceCIDRs: [192.168.77.0/24]
    rules:
    - order: 10
      protocolConfig:
        protocol: UDP
        udp:
          ports: 9000
      action: Allow
"#,
        h1 = pair.host_if,
        h2 = if2_host
    );
    let file = fw.rules("merged.yaml", &yaml);
    fw.apply(&file, &[]);
    let send = |src: &'static str, dst: &'static str, port: u16| -> usize {
        let server = pair
            .host
            .run(move || UdpSocket::bind((dst, port)).unwrap())
            .unwrap();
        server
            .set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        let client = pair
            .pod
            .run(move || UdpSocket::bind((src, 0)).unwrap())
            .unwrap();
        client.send_to(b"x", (dst, port)).unwrap();
        let mut buf = [0u8; 16];
        usize::from(server.recv_from(&mut buf).is_ok())
    };
    assert_eq!(
        send(POD4, HOST4, 9000),
        1,
        "the /24's order 10 Allow comes first on the first link"
    );
    assert_eq!(
        send(POD4, HOST4, 9001),
        0,
        "the /16's order 20 Deny catches the rest"
    );
    assert_eq!(
        send("192.168.78.2", "192.168.78.1", 9000),
        0,
        "the /24 object is not on the second link"
    );
    let (allow, _, _, _) = fw.rule_counts(10);
    let (_, _, deny, _) = fw.rule_counts(20);
    assert_eq!((allow, deny), (1, 2));
}

#[test]
fn maps_pinned_with_another_layout_are_refused_not_reused() {
    let pair = Pair::new();
    let fw = Fw::new(&pair.tag, &pair.host);
    std::fs::create_dir_all(&fw.pin_dir).unwrap();
    let pin = fw.pin_dir.join("nw_fw_config");
    let made = std::process::Command::new("bpftool")
        .args([
            "map",
            "create",
            pin.to_str().unwrap(),
            "type",
            "array",
            "key",
            "4",
            "value",
            "4",
            "entries",
            "1",
            "name",
            "nw_fw_config",
        ])
        .status()
        .unwrap();
    assert!(made.success());
    let file = fw.rules("guard.yaml", &rules(&pair.host_if));
    let out = fw.run(&["apply", "-f", &file, "--node-name", "node-1"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("incompatible") && err.contains("nw_fw_config"),
        "{err}"
    );
    assert_eq!(udp_delivered(&pair, 9000, 1, 10), 1, "nothing was attached");
}
