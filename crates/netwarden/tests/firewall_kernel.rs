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
    // Neighbours first, so ARP/ND are not part of what the rules see below.
    assert!(tcp_connects(
        &pair,
        format!("{HOST4}:7011").parse().unwrap()
    ));
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
