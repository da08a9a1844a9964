//! `netwarden demo` runs the whole stack on a lab node: its API shows flows with the network
//! events of the example policies (allowed and denied for real), firewall drops, pod monitor
//! blocks and the topology, the console is served, and everything is gone afterwards. Needs root.

mod common;

use common::http::{enc, free_port, get};
use common::BIN;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn json(addr: &str, path: &str) -> Value {
    let (status, body) = get(addr, path, None);
    if status != 200 {
        return Value::Null;
    }
    serde_json::from_str(&body).unwrap_or(Value::Null)
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

/// Stops the demo if the test fails half-way, so its lab does not outlive the test (it would hold
/// the demo's pod subnet for the next run).
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            // SIGINT: the demo's Ctrl-C path, which removes everything it made.
            unsafe { libc::kill(self.0.id() as i32, libc::SIGINT) };
            let _ = self.0.wait();
        }
    }
}

fn messages(flow: &Value) -> Vec<String> {
    common::event_messages(&flow["NetworkEvents"])
}

#[test]
fn the_demo_runs_the_whole_stack_and_cleans_up() {
    let addr = format!("127.0.0.1:{}", free_port());
    let metrics_addr = format!("127.0.0.1:{}", free_port());
    let mut demo = Command::new(BIN)
        .args(["demo", "--seconds", "120", "--listen", &addr])
        .args(["--metrics", &metrics_addr])
        .env("NETWARDEN_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(demo.stdout.take().unwrap());
    let mut demo = Running(demo);
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
    // The rule is installed on every pod interface; the client's attempts hit one of them.
    let rules = json(&addr, "/api/firewall/rules");
    let denied: u64 = rules["rules"]
        .as_array()
        .map(|a| a.iter().filter_map(|r| r["deny_packets"].as_u64()).sum())
        .unwrap_or(0);
    assert!(denied > 0, "{rules}");
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
    // What if the demo's own policies went away: iperf3 on 5201 would be dropped at the server.
    let proposed = common::network_events_yaml();
    let proposed = proposed.to_str().unwrap();
    let out = Command::new(BIN)
        .args([
            "policy",
            "whatif",
            "--policies",
            proposed,
            "--since",
            "5m",
            "--json",
        ])
        .args(["--api", &format!("http://{addr}")])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let whatif: Value = serde_json::from_slice(&out.stdout).unwrap();
    let change = whatif["changes"]
        .as_array()
        .and_then(|c| {
            c.iter()
                .find(|c| c["from"] == "iperf/iperf3-client" && c["to"] == "iperf/iperf3-server")
        })
        .unwrap_or_else(|| panic!("{whatif}"));
    assert_eq!(change["now"], "allowed", "{change}");
    assert_eq!(change["would_be"], "dropped", "{change}");
    assert!(
        change["ports"]
            .as_array()
            .unwrap()
            .contains(&"5201/TCP".into()),
        "{change}"
    );
    assert!(
        change["would_be_events"].as_array().unwrap().contains(
            &"Dropped by network policies isolation in namespace iperf, direction Ingress".into()
        ),
        "{change}"
    );
    // NetObserv's flow metrics, with the workload and the deciding policy.
    let (status, metrics) = get(&metrics_addr, "/metrics", None);
    assert_eq!(status, 200);
    let sample = |prefix: &str| {
        metrics
            .lines()
            .find(|l| l.starts_with(prefix))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    assert!(
        sample("netobserv_namespace_flows_total{") > 0.0,
        "{metrics}"
    );
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("netobserv_workload_ingress_bytes_total{")
                && l.contains("iperf3-server")),
        "{metrics}"
    );
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("netobserv_network_policy_events_total{")
                && l.contains("allow-iperf3-5201")),
        "{metrics}"
    );
    let (status, page) = get(&addr, "/", None);
    assert_eq!(status, 200);
    assert!(page.contains("app.js"), "{page}");

    // Ctrl-C, as a user stops it.
    unsafe { libc::kill(demo.0.id() as i32, libc::SIGINT) };
    let status = demo.0.wait().unwrap();
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
