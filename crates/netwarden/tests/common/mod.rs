//! Test hosts for kernel tests: network namespaces joined by veth pairs, code run inside them, and
//! the `netwarden` binary run in one of them. Names are unique per test and process, so tests run in
//! parallel; everything is removed on drop.

#![allow(dead_code)]

pub mod firewall;
pub mod http;

use serde_json::Value;
use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_netwarden");

pub use netwarden_lab::{unique_tag, Netns};

/// ../shared/examples/network-events.yaml as the policy crate's fixture. The crate's directory is
/// read when the test runs (cargo sets it), not when it is built: another checkout sharing the
/// target directory may have built this binary.
pub fn network_events_yaml() -> std::path::PathBuf {
    let dir = std::env::var_os("CARGO_MANIFEST_DIR").map_or_else(
        || env!("CARGO_MANIFEST_DIR").into(),
        std::path::PathBuf::from,
    );
    dir.join("../netwarden-policy/tests/fixtures/network-events.yaml")
}

/// A namespace for a test, or a panic saying why not.
pub fn netns(name: String) -> Netns {
    Netns::create(name).unwrap_or_else(|e| panic!("{e}"))
}

/// Two namespaces: `host` (where netwarden runs, interface `host_if`) and `pod` (interface `pod_if`),
/// joined by a veth pair, addressed 192.168.77.1/24 + fd77::1/64 (host) and .2 / ::2 (pod).
pub struct Pair {
    pub tag: String,
    pub host: Netns,
    pub pod: Netns,
    pub host_if: String,
    pub pod_if: String,
}

pub const HOST4: &str = "192.168.77.1";
pub const POD4: &str = "192.168.77.2";
pub const HOST6: &str = "fd77::1";
pub const POD6: &str = "fd77::2";

impl Pair {
    pub fn new() -> Self {
        let tag = unique_tag();
        let host = netns(format!("nwt{tag}h"));
        let pod = netns(format!("nwt{tag}p"));
        let host_if = format!("nh{tag}");
        let pod_if = format!("np{tag}");
        host.veth_to(
            &host_if,
            &[&format!("{HOST4}/24"), &format!("{HOST6}/64")],
            &pod,
            &pod_if,
            &[&format!("{POD4}/24"), &format!("{POD6}/64")],
        )
        .unwrap();
        Self {
            tag,
            host,
            pod,
            host_if,
            pod_if,
        }
    }

    /// `netwarden capture` in the host namespace on the veth, started and attached.
    pub fn capture(&self, extra: &[&str]) -> CaptureProc {
        let iface = format!("^{}$", self.host_if);
        let mut args = vec![
            "capture",
            "--interfaces",
            iface.as_str(),
            "--eviction",
            "60",
            "--format",
            "json",
        ];
        args.extend_from_slice(extra);
        CaptureProc::start(&self.host.name, &args)
    }
}

/// A `netwarden` process in a namespace; stdout collected, stderr scanned for readiness.
pub struct CaptureProc {
    child: Option<Child>,
    stdout: Option<std::thread::JoinHandle<String>>,
    stderr_lines: mpsc::Receiver<String>,
    pub stderr_seen: Vec<String>,
}

impl CaptureProc {
    /// Starts `netwarden ARGS` in `netns` and waits for "started" on stderr.
    pub fn start(netns: &str, args: &[&str]) -> Self {
        let mut p = Self::spawn(netns, args);
        p.wait_for_stderr("started", Duration::from_secs(20));
        p
    }

    pub fn spawn(netns: &str, args: &[&str]) -> Self {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", netns, BIN]);
        Self::spawn_command(cmd, args)
    }

    /// Like [`CaptureProc::start`], keeping this process's mounts (the host's bpffs) instead of
    /// `ip netns exec`'s.
    pub fn start_keep_mounts(netns: &str, args: &[&str]) -> Self {
        let cmd = netwarden_lab::command_keep_mounts(netns, BIN).expect("enter netns");
        let mut p = Self::spawn_command(cmd, args);
        p.wait_for_stderr("started", Duration::from_secs(20));
        p
    }

    /// `netwarden ARGS` in this process's namespaces (the host's), started and attached.
    pub fn start_here(args: &[&str]) -> Self {
        let mut p = Self::spawn_command(Command::new(BIN), args);
        p.wait_for_stderr("started", Duration::from_secs(20));
        p
    }

    fn spawn_command(mut cmd: Command, args: &[&str]) -> Self {
        let mut child = cmd
            .args(args)
            .env("NETWARDEN_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn netwarden");
        let mut stdout = child.stdout.take().expect("stdout");
        let stderr = child.stderr.take().expect("stderr");
        let out = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = stdout.read_to_string(&mut s);
            s
        });
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self {
            child: Some(child),
            stdout: Some(out),
            stderr_lines: rx,
            stderr_seen: Vec::new(),
        }
    }

    /// Waits until a stderr line contains `needle`.
    pub fn wait_for_stderr(&mut self, needle: &str, timeout: Duration) {
        let end = Instant::now() + timeout;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match self.stderr_lines.recv_timeout(left) {
                Ok(line) => {
                    let hit = line.contains(needle);
                    self.stderr_seen.push(line);
                    if hit {
                        return;
                    }
                }
                Err(_) => panic!(
                    "no {needle:?} on stderr within {timeout:?}; saw:\n{}",
                    self.stderr_seen.join("\n")
                ),
            }
        }
    }

    /// The exit status, if the process has ended.
    pub fn try_wait(&mut self) -> Option<std::process::ExitStatus> {
        self.child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
    }

    /// SIGTERM, wait, and return the records printed (the final eviction included).
    pub fn stop(mut self) -> Records {
        let mut child = self.child.take().expect("running");
        // SAFETY: signalling our own child. `ip netns exec` execs the binary, so the pid is netwarden's.
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        let status = child.wait().expect("wait");
        let out = self
            .stdout
            .take()
            .expect("stdout")
            .join()
            .expect("stdout reader");
        while let Ok(line) = self.stderr_lines.recv_timeout(Duration::from_millis(200)) {
            self.stderr_seen.push(line);
        }
        assert!(
            status.success(),
            "netwarden exited with {status}; stderr:\n{}",
            self.stderr_seen.join("\n")
        );
        Records::parse(&out, self.stderr_seen.clone())
    }
}

impl Drop for CaptureProc {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A lab node built from an inventory, with the inventory also written to a file for
/// `--inventory`; both removed on drop (also when the test fails).
pub struct LabNode {
    pub lab: netwarden_lab::Lab,
    pub inventory: std::path::PathBuf,
}

impl LabNode {
    /// `name` is made unique; `yaml` is the inventory text.
    pub fn up(name: &str, yaml: &str) -> Self {
        let tag = unique_tag();
        let lab = netwarden_lab::Lab::up(
            &netwarden_lab::LabSpec::from_yaml(yaml).unwrap(),
            netwarden_lab::LabOptions {
                name: Some(format!("{name}-{tag}")),
                ..Default::default()
            },
        )
        .unwrap();
        let inventory = std::env::temp_dir().join(format!("nw-{name}-inventory-{tag}.yaml"));
        std::fs::write(&inventory, yaml).unwrap();
        Self { lab, inventory }
    }

    pub fn inventory_arg(&self) -> &str {
        self.inventory.to_str().unwrap()
    }
}

impl Drop for LabNode {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.inventory);
    }
}

/// GET /metrics from `addr` inside `ns`.
pub fn scrape(ns: &Netns, addr: String) -> String {
    use std::io::{Read, Write};
    ns.run(move || {
        let mut conn = std::net::TcpStream::connect(&addr).unwrap();
        conn.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        let mut body = String::new();
        conn.read_to_string(&mut body).unwrap();
        body
    })
    .unwrap()
}

/// The value of the sample named exactly `name` (no labels) in a metrics text.
pub fn metric(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|rest| rest.strip_prefix(' ')))
        .unwrap_or_else(|| panic!("{name} missing from:\n{text}"))
        .trim()
        .parse()
        .unwrap()
}

/// The metrics address a `netwarden agent` logged.
pub fn metrics_addr(stderr: &[String]) -> String {
    stderr
        .iter()
        .find_map(|l| {
            l.split("http://")
                .nth(1)
                .and_then(|rest| rest.split('/').next())
        })
        .expect("metrics address logged")
        .to_string()
}

/// Records printed by a capture, with lookups by the fields tests care about.
pub struct Records {
    pub all: Vec<Value>,
    pub stderr: Vec<String>,
}

impl Records {
    pub fn parse(stdout: &str, stderr: Vec<String>) -> Self {
        let all = stdout
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
            .collect();
        Self { all, stderr }
    }

    /// Records matching every (field, value) pair.
    pub fn matching(&self, want: &[(&str, Value)]) -> Vec<&Value> {
        self.all
            .iter()
            .filter(|r| want.iter().all(|(k, v)| &r[*k] == v))
            .collect()
    }

    /// The one record matching; panics with every record if not exactly one.
    pub fn one(&self, want: &[(&str, Value)]) -> &Value {
        let found = self.matching(want);
        assert_eq!(
            found.len(),
            1,
            "want exactly one record with {want:?}; records:\n{}",
            self.dump()
        );
        found[0]
    }

    pub fn dump(&self) -> String {
        self.all
            .iter()
            .map(|r| r.to_string())
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// Frame bytes of a UDP datagram with `payload` bytes over IPv4 on Ethernet.
pub fn udp4_frame(payload: usize) -> u64 {
    (14 + 20 + 8 + payload) as u64
}

/// Frame bytes of a UDP datagram with `payload` bytes over IPv6 on Ethernet.
pub fn udp6_frame(payload: usize) -> u64 {
    (14 + 40 + 8 + payload) as u64
}

/// Runs `cmd`, which must succeed (its stderr is the failure message), and parses its stdout as
/// JSON.
pub fn json_output(cmd: &mut Command) -> Value {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The `Message` of each NetObserv network event of a JSON array.
pub fn event_messages(events: &Value) -> Vec<String> {
    events
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| e["Message"].as_str().unwrap_or("").to_string())
                .collect()
        })
        .unwrap_or_default()
}
