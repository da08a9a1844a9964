//! `netwarden agent` and the CLI's error paths against the real kernel.

mod common;

use common::*;
use serde_json::json;
use std::net::UdpSocket;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("netwarden-test-{}", unique_tag()));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn agent_writes_json_lines_serves_metrics_and_stops_on_sigterm() {
    let pair = Pair::new();
    let dir = TempDir::new();
    let out = dir.0.join("flows.jsonl");
    let cfg = dir.0.join("agent.yaml");
    std::fs::write(
        &cfg,
        format!(
            "capture:\n  interfaces: '^{}$'\n  eviction_seconds: 0.5\nsink:\n  jsonl:\n    path: {}\nmetrics:\n  address: 127.0.0.1:0\n",
            pair.host_if,
            out.display()
        ),
    )
    .unwrap();
    let agent = CaptureProc::start(
        &pair.host.name,
        &["agent", "--config", cfg.to_str().unwrap()],
    );
    let addr = metrics_addr(&agent.stderr_seen);

    let server = pair
        .host
        .run(|| UdpSocket::bind((HOST4, 9300)).unwrap())
        .unwrap();
    let client = pair
        .pod
        .run(|| UdpSocket::bind((POD4, 0)).unwrap())
        .unwrap();
    for _ in 0..5 {
        client.send_to(&[0u8; 40], (HOST4, 9300)).unwrap();
    }
    server
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut buf = [0u8; 64];
    for _ in 0..5 {
        server.recv_from(&mut buf).unwrap();
    }
    std::thread::sleep(Duration::from_millis(1500));
    let text = scrape(&pair.host, addr);
    assert_eq!(
        metric(&text, "netwarden_agent_attached_interfaces"),
        1,
        "{text}"
    );
    let exported = metric(&text, "netwarden_agent_records_exported_total");
    assert!(exported >= 1, "{text}");
    assert_eq!(metric(&text, "netwarden_agent_ringbuf_lost_total"), 0);
    assert!(
        text.contains("netwarden_agent_eviction_duration_seconds_count"),
        "{text}"
    );

    let stdout = agent.stop();
    assert!(stdout.all.is_empty(), "records go to the file, not stdout");
    let lines = std::fs::read_to_string(&out).unwrap();
    let recs = Records::parse(&lines, vec![]);
    assert!(recs.all.len() as u64 >= exported);
    // Evictions every 0.5 s may split the flow; together they hold every packet exactly once.
    let ours = recs.matching(&[("SrcAddr", json!(POD4)), ("DstPort", json!(9300))]);
    let packets: u64 = ours.iter().map(|r| r["Packets"].as_u64().unwrap()).sum();
    let bytes: u64 = ours.iter().map(|r| r["Bytes"].as_u64().unwrap()).sum();
    assert_eq!((packets, bytes), (5, 5 * udp4_frame(40)));
}

/// Runs netwarden to completion and returns (exit code, stderr).
fn run_cli(prefix: &[&str], args: &[&str]) -> (i32, String) {
    let mut cmd = Command::new(prefix.first().copied().unwrap_or(BIN));
    if prefix.is_empty() {
        cmd.args(args);
    } else {
        cmd.args(&prefix[1..]).arg(BIN).args(args);
    }
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn bad_input_gives_one_clear_error_line() {
    let dir = TempDir::new();
    let cfg = dir.0.join("bad.yaml");
    std::fs::write(&cfg, "capture:\n  samplin: 3\n").unwrap();
    let cfg = cfg.to_str().unwrap().to_string();
    let missing = dir.0.join("missing.yaml").to_str().unwrap().to_string();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["capture", "--interfaces", "(eth"],
            "--interfaces \"(eth\" is not a valid regular expression",
        ),
        (
            vec!["capture", "--exclude", "[x"],
            "--exclude \"[x\" is not a valid regular expression",
        ),
        (
            vec!["capture", "--sampling", "0"],
            "invalid capture setting sampling: must be 1",
        ),
        (
            vec!["capture", "--eviction", "0"],
            "--eviction must be a positive number of seconds",
        ),
        (
            vec!["capture", "--dns-ports", "53,54,55,56,57"],
            "dns.ports: at most 4 ports",
        ),
        (
            vec!["capture", "--interfaces", "^nw-none$"],
            "no interface matches --interfaces \"^nw-none$\"",
        ),
        (vec!["agent", "--config", &cfg], "unknown field `samplin`"),
        (vec!["agent", "--config", &missing], "missing.yaml"),
    ];
    for (args, want) in cases {
        let (code, stderr) = run_cli(&[], &args);
        assert_eq!(code, 1, "{args:?}: {stderr}");
        let errors: Vec<&str> = stderr
            .lines()
            .filter(|l| l.starts_with("netwarden: error:"))
            .collect();
        assert_eq!(errors.len(), 1, "{args:?}: {stderr}");
        assert!(
            errors[0].contains(want),
            "{args:?}: want {want:?} in {:?}",
            errors[0]
        );
    }
}

#[test]
fn capture_without_root_says_so() {
    let (code, stderr) = run_cli(
        &[
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
        ],
        &["capture", "--duration", "1"],
    );
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("capture needs root"), "{stderr}");
}
