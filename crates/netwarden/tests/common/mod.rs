//! Test hosts for kernel tests: network namespaces joined by veth pairs, code run inside them, and
//! the `netwarden` binary run in one of them. Names are unique per test and process, so tests run in
//! parallel; everything is removed on drop.

#![allow(dead_code)]

use serde_json::Value;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::os::fd::AsRawFd;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_netwarden");

/// Runs a command, panicking with its output if it fails.
pub fn sh(args: &[&str]) {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("{args:?}: {e}"));
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A short tag unique to this test in this process: interface names have 15 characters at most.
pub fn unique_tag() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("{:x}{:02x}", std::process::id() % 0x10000, n)
}

/// A network namespace, deleted on drop.
pub struct Netns {
    pub name: String,
}

impl Netns {
    pub fn new(name: String) -> Self {
        sh(&["ip", "netns", "add", &name]);
        let ns = Self { name };
        ns.ip(&["link", "set", "lo", "up"]);
        ns
    }

    /// `ip -n NS ...`
    pub fn ip(&self, args: &[&str]) {
        let mut full = vec!["ip", "-n", self.name.as_str()];
        full.extend_from_slice(args);
        sh(&full);
    }

    pub fn sysctl(&self, key: &str, value: &str) {
        sh(&[
            "ip",
            "netns",
            "exec",
            &self.name,
            "sysctl",
            "-qw",
            &format!("{key}={value}"),
        ]);
    }

    /// Runs `f` on a thread inside this namespace; sockets it creates stay in the namespace.
    pub fn run<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> T {
        self.spawn(f).join().expect("thread in netns panicked")
    }

    /// Like [`Netns::run`] without waiting.
    pub fn spawn<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> std::thread::JoinHandle<T> {
        let path = format!("/var/run/netns/{}", self.name);
        std::thread::spawn(move || {
            let fd = File::open(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
            // SAFETY: setns on this thread only, with a valid namespace fd.
            let rc = unsafe { libc::setns(fd.as_raw_fd(), libc::CLONE_NEWNET) };
            assert_eq!(rc, 0, "setns {path}: {}", std::io::Error::last_os_error());
            f()
        })
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
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
        let host = Netns::new(format!("nwt{tag}h"));
        let pod = Netns::new(format!("nwt{tag}p"));
        let host_if = format!("nh{tag}");
        let pod_if = format!("np{tag}");
        host.ip(&[
            "link", "add", &host_if, "type", "veth", "peer", "name", &pod_if, "netns", &pod.name,
        ]);
        host.ip(&["addr", "add", &format!("{HOST4}/24"), "dev", &host_if]);
        host.ip(&[
            "addr",
            "add",
            &format!("{HOST6}/64"),
            "dev",
            &host_if,
            "nodad",
        ]);
        host.ip(&["link", "set", &host_if, "up"]);
        pod.ip(&["addr", "add", &format!("{POD4}/24"), "dev", &pod_if]);
        pod.ip(&[
            "addr",
            "add",
            &format!("{POD6}/64"),
            "dev",
            &pod_if,
            "nodad",
        ]);
        pod.ip(&["link", "set", &pod_if, "up"]);
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
        let mut child = Command::new("ip")
            .args(["netns", "exec", netns, BIN])
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
