//! `netwarden demo` runs the whole stack on a lab node: its API shows flows with the network
//! events of the example policies (allowed and denied for real), firewall drops, pod monitor
//! blocks and the topology, the console is served, and everything is gone afterwards. Needs root.

mod common;

use common::BIN;
use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// GET `path` from `addr`; the status and the body.
fn get(addr: &str, path: &str) -> (u16, String) {
    let Ok(mut s) = TcpStream::connect(addr) else {
        return (0, String::new());
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
    let _ = write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    );
    let mut raw = String::new();
    let _ = s.read_to_string(&mut raw);
    let status = raw
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = raw
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_string();
    (status, body)
}

fn json(addr: &str, path: &str) -> Value {
    let (status, body) = get(addr, path);
    if status != 200 {
        return Value::Null;
    }
    serde_json::from_str(&body).unwrap_or(Value::Null)
}

fn enc(filter: &str) -> String {
    filter
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Polls until `check` holds on the answer of `path`, or the deadline.
fn eventually(addr: &str, path: &str, deadline: Instant, check: impl Fn(&Value) -> bool) -> Value {
    loop {
        let v = json(addr, path);
        if check(&v) || Instant::now() > deadline {
            return v;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn messages(flow: &Value) -> Vec<String> {
    flow["NetworkEvents"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| e["Message"].as_str().unwrap_or("").to_string())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn the_demo_runs_the_whole_stack_and_cleans_up() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let mut demo = Command::new(BIN)
        .args(["demo", "--seconds", "40", "--listen", &addr])
        .env("NETWARDEN_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(demo.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    assert!(line.contains(&format!("http://{addr}/")), "{line}");
    let deadline = Instant::now() + Duration::from_secs(35);

    // Denied by policy: the client's DNS (its egress only allows TCP 5201), dropped for real.
    let denied = "Dropped by network policies isolation in namespace iperf, direction Egress";
    let path = format!(
        "/api/flows?since=5m&filter={}",
        enc(&format!(
            r#"SrcK8S_Namespace="iperf" AND DstPort=53 AND NetworkEvents=~"{denied}""#
        ))
    );
    let page = eventually(&addr, &path, deadline, |v| v["total"].as_u64() > Some(0));
    let flow = &page["flows"][0];
    assert!(messages(flow).iter().any(|m| m == denied), "{page}");
    assert_eq!(
        flow["PktDropLatestDropCause"],
        "NETWARDEN_NETWORK_POLICY_DENIED"
    );
    // Allowed by the demo's policy: iperf3 on 5201.
    let allowed =
        "Allowed by network policy allow-iperf3-5201 in namespace iperf, direction Ingress";
    let path = format!(
        "/api/flows?since=5m&filter={}",
        enc(&format!(r#"DstPort=5201 AND NetworkEvents=~"{allowed}""#))
    );
    let page = eventually(&addr, &path, deadline, |v| v["total"].as_u64() > Some(0));
    assert!(page["total"].as_u64() > Some(0), "{page}");
    // The firewall dropped pods -> node:9090, the pod monitor blocked nginx going outside.
    let fw = eventually(&addr, "/api/firewall/events", deadline, |v| {
        v["events"].as_array().is_some_and(|a| !a.is_empty())
    });
    assert!(!fw["events"].as_array().unwrap().is_empty(), "{fw}");
    // One rule per lab interface: the one on the client's interface counted its packets
    // (interfaces are listed by name, not by pod).
    let rules = json(&addr, "/api/firewall/rules");
    let counted = rules["rules"].as_array().is_some_and(|a| {
        a.iter()
            .any(|r| r["packets"].as_u64() > Some(0) && r["deny_packets"].as_u64() > Some(0))
    });
    assert!(counted, "{rules}");
    let pods = eventually(&addr, "/api/podmonitor/events?limit=500", deadline, |v| {
        v["events"].as_array().is_some_and(|a| {
            a.iter()
                .any(|e| e["pod"] == "nginx-pod" && e["verdict"] == "BLOCKED")
        })
    });
    assert!(
        pods["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["pod"] == "nginx-pod" && e["verdict"] == "BLOCKED"),
        "{pods}"
    );
    let graph = json(&addr, "/api/topology?level=namespace&since=5m");
    let ids: Vec<&str> = graph["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|n| n["id"].as_str())
        .collect();
    assert!(
        ids.contains(&"ns/iperf") && ids.contains(&"ns/shop"),
        "{graph}"
    );
    let (status, page) = get(&addr, "/");
    assert_eq!(status, 200);
    assert!(page.contains("app.js"), "{page}");

    let status = demo.wait().unwrap();
    assert!(status.success());
    // Everything it made is gone: the lab node, the firewall's pins and state.
    let left = |dir: &str| {
        std::fs::read_dir(dir)
            .map(|d| {
                d.filter_map(Result::ok)
                    .filter(|e| e.file_name().to_string_lossy().starts_with("demo-"))
                    .count()
            })
            .unwrap_or(0)
    };
    assert_eq!(left("/run/netwarden/lab"), 0, "lab node left behind");
    assert_eq!(
        left("/sys/fs/bpf/netwarden"),
        0,
        "firewall pins left behind"
    );
    assert_eq!(left("/run/netwarden"), 0, "firewall state left behind");
}
