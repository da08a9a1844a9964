//! Enforce mode: the agent compiles the example network policies into the lab pods' tables, the
//! datapath drops what they deny, and the flows carry the decisions it took, which match the
//! engine's (`netwarden policy explain`). Needs root.

mod common;

use common::*;
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::{TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Opens the server's port 5201 to the client: the policy change of the test.
const ALLOW_5201: &str = r#"
kind: NetworkPolicy
apiVersion: networking.k8s.io/v1
metadata: {name: allow-client-5201, namespace: iperf}
spec:
  podSelector: {matchLabels: {app: iperf3-server}}
  ingress:
  - from: [{podSelector: {matchLabels: {app: iperf3-client}}}]
    ports: [{port: 5201}]
"#;

fn inventory(octet: u8) -> String {
    format!(
        r#"
apiVersion: v1
kind: Namespace
metadata: {{name: iperf}}
---
apiVersion: v1
kind: Pod
metadata: {{namespace: iperf, name: iperf3-server, labels: {{app: iperf3-server}}}}
spec: {{containers: [{{name: c, ports: [{{containerPort: 5201, protocol: TCP}}]}}]}}
status: {{phase: Running, podIP: 10.238.{octet}.10, podIPs: [{{ip: 10.238.{octet}.10}}]}}
---
apiVersion: v1
kind: Pod
metadata: {{namespace: iperf, name: iperf3-client, labels: {{app: iperf3-client}}}}
spec: {{containers: [{{name: c, ports: [{{containerPort: 7000, protocol: TCP}}]}}]}}
status: {{phase: Running, podIP: 10.238.{octet}.11, podIPs: [{{ip: 10.238.{octet}.11}}]}}
"#
    )
}

/// Connects from `pod` (source port `sport`) to `dst`; `None` when nothing answers in 500 ms.
fn connect(lab: &netwarden_lab::Lab, pod: &str, sport: u16, dst: String) -> Option<TcpStream> {
    let got = lab
        .run(pod, move || -> std::io::Result<TcpStream> {
            let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
            sock.set_reuse_address(true)?;
            let src: std::net::SocketAddr = format!("0.0.0.0:{sport}").parse().unwrap();
            sock.bind(&src.into())?;
            let dst: std::net::SocketAddr = dst.parse().unwrap();
            sock.connect_timeout(&dst.into(), Duration::from_millis(500))?;
            Ok(TcpStream::from(sock))
        })
        .unwrap();
    match got {
        Ok(s) => Some(s),
        Err(e) if e.kind() == std::io::ErrorKind::TimedOut => None,
        Err(e) => panic!("connecting from {pod} port {sport}: {e}"),
    }
}

fn echoes(s: &mut TcpStream, msg: &[u8]) -> bool {
    s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let mut got = vec![0u8; msg.len()];
    s.write_all(msg).is_ok() && s.read_exact(&mut got).is_ok() && got == msg
}

/// The engine's answer for a connection, as `netwarden policy explain --json` prints it.
fn explain(inventory: &Path, policies: &Path, from: &str, to: &str, port: &str) -> Value {
    common::json_output(
        std::process::Command::new(BIN)
            .args(["policy", "explain", "--inventory"])
            .arg(inventory)
            .arg("--policies")
            .arg(policies)
            .args(["--from", from, "--to", to, "--port", port, "--json"]),
    )
}

use common::event_messages as messages;

/// Asserts that the engine gives `verdict` for the connection and that `flow` carries exactly the
/// events it gives.
fn assert_engine_agrees(
    flow: &Value,
    (inventory, policies): (&Path, &Path),
    (from, to, port): (&str, &str, &str),
    verdict: &str,
) {
    let engine = explain(inventory, policies, from, to, port);
    assert_eq!(engine["Verdict"], verdict, "{from} -> {to} {port}");
    assert_eq!(
        messages(&flow["NetworkEvents"]),
        messages(&engine["NetworkEvents"]),
        "{from} -> {to} {port}: {flow}"
    );
}

struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn enforce_mode_drops_what_the_policies_deny_and_flows_carry_the_decisions() {
    let octet = 100 + (std::process::id() % 100) as u8;
    let yaml = inventory(octet);
    let node = LabNode::up("enforce", &yaml);
    let lab = &node.lab;
    let (server, client) = (format!("10.238.{octet}.10"), format!("10.238.{octet}.11"));
    for pod in ["iperf/iperf3-server", "iperf/iperf3-client"] {
        // Bridged pods are found through the node's neighbour entries: make them exist.
        let gw = format!("10.238.{octet}.1");
        let ok = lab
            .command(pod, "ping")
            .unwrap()
            .args(["-c", "1", "-W", "1", &gw])
            .status()
            .unwrap();
        assert!(ok.success());
    }
    // The lab echoes on the pods' container ports: the server's 5201, the client's 7000.
    // Before enforcement everything connects. This connection, allowed by the policies, was
    // opened before the agent started: it must keep working (adopted mid-stream).
    assert!(connect(lab, "iperf/iperf3-client", 0, format!("{server}:5201")).is_some());
    let mut early = connect(lab, "iperf/iperf3-server", 40999, format!("{client}:7000"))
        .expect("no policy in force yet");
    assert!(echoes(&mut early, b"early"));

    let dir = TempDir(std::env::temp_dir().join(format!("nw-enforce-{}", unique_tag())));
    let policies = dir.0.join("policies");
    std::fs::create_dir_all(&policies).unwrap();
    std::fs::copy(
        common::network_events_yaml(),
        policies.join("examples.yaml"),
    )
    .unwrap();
    let config = dir.0.join("agent.yaml");
    let prefix = lab
        .pod("iperf/iperf3-server")
        .unwrap()
        .host_interface
        .clone()
        .unwrap();
    let prefix = prefix.trim_end_matches(|c: char| c.is_ascii_digit());
    std::fs::write(
        &config,
        format!(
            r#"
capture:
  interfaces: "^{prefix}[0-9]+$"
  eviction_seconds: 60
metrics:
  enabled: false
inventory:
  file: {inventory}
  policies: [{policies}]
  policy_mode: enforce
"#,
            inventory = node.inventory_arg(),
            policies = policies.display(),
        ),
    )
    .unwrap();
    let mut agent = CaptureProc::start_here(&["agent", "-c", config.to_str().unwrap()]);
    // "started" may have been the pod guard's line: the capture attaches after it.
    for line in [
        "agent started".to_string(),
        "guarding pod iperf/iperf3-client".to_string(),
        "guarding pod iperf/iperf3-server".to_string(),
    ] {
        if !agent.stderr_seen.iter().any(|l| l.contains(&line)) {
            agent.wait_for_stderr(&line, Duration::from_secs(10));
        }
    }

    assert!(
        echoes(&mut early, b"adopted"),
        "a connection from before the agent survives"
    );
    // Allowed both ways: the server opens a connection to the client, and keeps it.
    let mut kept = connect(lab, "iperf/iperf3-server", 41000, format!("{client}:7000"))
        .expect("server -> client is allowed");
    assert!(echoes(&mut kept, b"before"));
    // Client -> server:5201: the client's egress allows it, the server's ingress drops it.
    assert!(connect(lab, "iperf/iperf3-client", 41001, format!("{server}:5201")).is_none());
    // UDP to the server: the client's egress policy only allows TCP 5201.
    let udp = lab
        .run("iperf/iperf3-client", || {
            UdpSocket::bind("0.0.0.0:41002").unwrap()
        })
        .unwrap();
    for _ in 0..3 {
        udp.send_to(b"denied", format!("{server}:5201")).unwrap();
    }

    // The policy change: port 5201 opens; the kept connection is not disturbed.
    std::fs::write(policies.join("allow-5201.yaml"), ALLOW_5201).unwrap();
    let changed = Instant::now();
    let mut opened = None;
    while changed.elapsed() < Duration::from_secs(5) {
        opened = connect(lab, "iperf/iperf3-client", 41003, format!("{server}:5201"));
        if opened.is_some() {
            break;
        }
    }
    let took = changed.elapsed();
    let mut opened = opened.expect("client -> server:5201 opens after the policy change");
    eprintln!("policy change in force after {took:?}");
    assert!(echoes(&mut opened, b"after"));
    assert!(echoes(&mut kept, b"still there"));
    drop((opened, kept, early));
    std::thread::sleep(Duration::from_millis(300));
    let records = agent.stop();

    let examples_file = common::network_events_yaml();
    let examples = (node.inventory.as_path(), examples_file.as_path());
    let changed = (node.inventory.as_path(), policies.as_path());
    let flow = |sport: u16, proto: u8| {
        records
            .one(&[("SrcPort", json!(sport)), ("Proto", json!(proto))])
            .clone()
    };
    // Denied at the server's ingress: one SYN, dropped, with the engine's events.
    let denied = flow(41001, 6);
    assert_eq!(denied["Packets"], 1, "{denied}");
    assert_eq!(denied["PktDropPackets"], 1, "{denied}");
    assert_eq!(
        denied["PktDropLatestDropCause"],
        "NETWARDEN_NETWORK_POLICY_DENIED"
    );
    assert_engine_agrees(
        &denied,
        examples,
        ("iperf/iperf3-client", "iperf/iperf3-server", "5201/TCP"),
        "Dropped",
    );
    assert_eq!(
        messages(&denied["NetworkEvents"]),
        vec![
            "Delegated to network policy by admin network policy allow-egress-iperf, direction Egress",
            "Allowed by network policy iperf3-server-access-egress in namespace iperf, direction Egress",
            "Dropped by network policies isolation in namespace iperf, direction Ingress",
        ]
    );
    // Denied at the client's egress: all three datagrams dropped.
    let udp_flow = flow(41002, 17);
    assert_eq!(udp_flow["PktDropPackets"], 3, "{udp_flow}");
    assert_eq!(
        udp_flow["PktDropLatestDropCause"],
        "NETWARDEN_NETWORK_POLICY_DENIED"
    );
    assert_engine_agrees(
        &udp_flow,
        examples,
        ("iperf/iperf3-client", "iperf/iperf3-server", "5201/UDP"),
        "Dropped",
    );
    // Allowed: the kept connection, with the engine's events.
    let allowed = flow(41000, 6);
    assert!(
        allowed.get("PktDropPackets").is_none_or(|v| v == 0),
        "{allowed}"
    );
    assert_engine_agrees(
        &allowed,
        examples,
        ("iperf/iperf3-server", "iperf/iperf3-client", "7000/TCP"),
        "Allowed",
    );
    // After the change: allowed by the new policy at the server's ingress.
    let after = flow(41003, 6);
    assert_engine_agrees(
        &after,
        changed,
        ("iperf/iperf3-client", "iperf/iperf3-server", "5201/TCP"),
        "Allowed",
    );
    assert_eq!(
        messages(&after["NetworkEvents"])[2],
        "Allowed by network policy allow-client-5201 in namespace iperf, direction Ingress"
    );
}
