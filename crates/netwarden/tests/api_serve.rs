//! `netwarden serve` over a store of known flows: the API's answers (exact counts, sums, the
//! filter error's position, paging, the OpenAPI paths), the bearer token off loopback, and
//! `netwarden flows` through it. No root needed.

mod common;

use common::http::{self, enc, free_port};
use common::BIN;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

/// A running `serve`, killed on drop.
struct Serve {
    child: Child,
    addr: String,
    _dir: tempfile::TempDir,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Six flows ending in the last minutes: iperf client -> server (3, one dropped by policy),
/// shop web -> db (2), and one from outside.
fn flows(now_ms: i64) -> Vec<Value> {
    let flow = |i: i64, src: &str, dst: &str, ns: (&str, &str), port: u16, bytes: u64| {
        json!({
            "SrcAddr": src, "DstAddr": dst, "SrcPort": 40000 + i, "DstPort": port, "Proto": 6,
            "Etype": 2048, "Bytes": bytes, "Packets": 10, "Sampling": 1, "Dscp": 0,
            "TimeFlowStartMs": now_ms - 60_000 * i - 1000, "TimeFlowEndMs": now_ms - 60_000 * i,
            "TimeReceived": (now_ms - 60_000 * i) / 1000,
            "Interfaces": ["eth0"], "IfDirections": [0],
            "SrcK8S_Namespace": ns.0, "DstK8S_Namespace": ns.1,
        })
    };
    let mut out = vec![
        flow(1, "10.0.0.1", "10.0.0.2", ("iperf", "iperf"), 5201, 1000),
        flow(2, "10.0.0.1", "10.0.0.2", ("iperf", "iperf"), 5201, 2000),
        flow(3, "10.0.0.1", "10.0.0.2", ("iperf", "iperf"), 5501, 74),
        flow(4, "10.0.1.1", "10.0.1.2", ("shop", "shop"), 5432, 300),
        flow(5, "10.0.1.1", "10.0.1.2", ("shop", "shop"), 5432, 400),
        flow(6, "192.0.2.9", "10.0.1.1", ("", "shop"), 443, 50),
    ];
    out[2]["PktDropPackets"] = json!(1);
    out[2]["PktDropBytes"] = json!(74);
    out[2]["PktDropLatestDropCause"] = json!("NETWARDEN_NETWORK_POLICY_DENIED");
    out[2]["NetworkEvents"] = json!([{
        "Action": "drop", "Type": "NetpolNamespace", "Feature": "acl", "Direction": "Ingress",
        "Namespace": "iperf",
        "Message": "Dropped by network policies isolation in namespace iperf, direction Ingress"
    }]);
    out[5].as_object_mut().unwrap().remove("SrcK8S_Namespace");
    out
}

fn serve(listen_ip: &str, token: Option<&str>) -> Serve {
    let dir = tempfile::tempdir().unwrap();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let import = dir.path().join("flows.jsonl");
    let lines: Vec<String> = flows(now).iter().map(Value::to_string).collect();
    std::fs::write(&import, lines.join("\n") + "\n").unwrap();
    let port = free_port();
    let mut cmd = Command::new(BIN);
    cmd.args(["serve", "--listen", &format!("{listen_ip}:{port}")])
        .arg("--store")
        .arg(dir.path().join("flows.duckdb"))
        .arg("--import")
        .arg(&import)
        .env("NETWARDEN_LOG", "info")
        .env_remove("NETWARDEN_API_TOKEN")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if let Some(t) = token {
        cmd.args(["--token", t]);
    }
    let mut child = cmd.spawn().unwrap();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    loop {
        line.clear();
        if err.read_line(&mut line).unwrap() == 0 {
            panic!("serve ended before serving");
        }
        if line.contains("serving started") {
            break;
        }
    }
    // Keep draining stderr so serve never blocks on it.
    std::thread::spawn(move || {
        let mut sink = String::new();
        let _ = err.read_to_string(&mut sink);
    });
    Serve {
        child,
        addr: format!("127.0.0.1:{port}"),
        _dir: dir,
    }
}

/// GET `path`; the status and the JSON body.
fn get(addr: &str, path: &str, token: Option<&str>) -> (u16, Value) {
    let (status, body) = http::get(addr, path, token);
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}

#[test]
fn the_api_answers_with_exact_figures() {
    let s = serve("127.0.0.1", None);
    let a = &s.addr;
    let (status, health) = get(a, "/api/health", None);
    assert_eq!(status, 200);
    assert_eq!(health["flows"], 6, "{health}");
    // The imported flows take room (in the write-ahead log until a checkpoint).
    assert!(health["bytes_used"].as_u64() > Some(0), "{health}");

    let (_, page) = get(
        a,
        &format!(
            "/api/flows?since=1h&filter={}",
            enc(r#"SrcK8S_Namespace="iperf""#)
        ),
        None,
    );
    assert_eq!(page["total"], 3, "{page}");
    // Newest first by default; paging.
    let (_, page) = get(
        a,
        &format!(
            "/api/flows?since=1h&limit=2&offset=2&filter={}",
            enc("SrcAddr=10.0.0.0/16")
        ),
        None,
    );
    assert_eq!(page["total"], 5, "{page}");
    let ports: Vec<&Value> = page["flows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| &f["DstPort"])
        .collect();
    assert_eq!(ports, [&json!(5501), &json!(5432)], "{page}");

    let path = format!(
        "/api/flows?since=1h&filter={}",
        enc(r#"NetworkEvents=~"Dropped" AND PktDropLatestDropCause!="""#)
    );
    let (_, page) = get(a, &path, None);
    assert_eq!(page["total"], 1, "{page}");
    assert_eq!(page["flows"][0]["DstPort"], 5501);

    let (_, top) = get(
        a,
        "/api/top?since=1h&by=DstK8S_Namespace&metric=bytes",
        None,
    );
    assert_eq!(
        top["rows"],
        json!([
            {"group": {"DstK8S_Namespace": "iperf"}, "bytes": 3074, "packets": 30, "flows": 3, "drop_packets": 1, "drop_bytes": 74},
            {"group": {"DstK8S_Namespace": "shop"}, "bytes": 750, "packets": 30, "flows": 3, "drop_packets": 0, "drop_bytes": 0},
        ]),
        "{top}"
    );

    // A bad filter: 400, the message and the offending token's position.
    let (status, err) = get(
        a,
        &format!("/api/flows?filter={}", enc("Proto=6 AND Dstprt=5201")),
        None,
    );
    assert_eq!(status, 400);
    assert_eq!(err["position"], 12, "{err}");
    assert_eq!(err["token"], "Dstprt");
    assert!(
        err["error"]
            .as_str()
            .unwrap()
            .contains("did you mean DstPort?"),
        "{err}"
    );
    let (status, err) = get(a, "/api/top?by=Nope", None);
    assert_eq!(status, 400);
    assert!(err["error"].as_str().unwrap().contains("Nope"), "{err}");

    let (_, spec) = get(a, "/api/openapi.json", None);
    for p in [
        "/api/flows",
        "/api/top",
        "/api/series",
        "/api/topology",
        "/api/health",
    ] {
        assert!(
            spec["paths"][p].is_object(),
            "{p} missing from the OpenAPI document"
        );
    }
    // serve has no firewall, pod monitor or inventory: 404 with a reason.
    let (status, _) = get(a, "/api/firewall/rules", None);
    assert_eq!(status, 404);
    let (status, _) = get(a, "/api/inventory", None);
    assert_eq!(status, 404);

    // The CLI through the same API.
    let top = common::json_output(
        Command::new(BIN)
            .args([
                "flows",
                "--since",
                "1h",
                "--top",
                "1",
                "--by",
                "DstK8S_Namespace",
            ])
            .args(["--format", "json", "--api", &format!("http://{a}")]),
    );
    assert_eq!(top["rows"][0]["bytes"], 3074);
    let out = Command::new(BIN)
        .args([
            "flows",
            "--filter",
            "DstPort=>1",
            "--api",
            &format!("http://{a}"),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("at 8 (\">1\")"), "{stderr}");
}

#[test]
fn off_loopback_the_api_wants_the_bearer_token() {
    // Without a token, serve refuses to listen on a non-loopback address.
    let out = Command::new(BIN)
        .args([
            "serve",
            "--listen",
            "0.0.0.0:0",
            "--store",
            "/nonexistent/x.duckdb",
        ])
        .env_remove("NETWARDEN_API_TOKEN")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("needs a bearer token"), "{stderr}");

    let s = serve("0.0.0.0", Some("s3cret"));
    let (status, body) = get(&s.addr, "/api/health", None);
    assert_eq!(status, 401, "{body}");
    let (status, _) = get(&s.addr, "/api/health", Some("wrong"));
    assert_eq!(status, 401);
    let (status, body) = get(&s.addr, "/api/health", Some("s3cret"));
    assert_eq!(status, 200);
    assert_eq!(body["flows"], 6);
}
