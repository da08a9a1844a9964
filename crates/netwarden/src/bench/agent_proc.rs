//! `netwarden agent` run in a bench namespace as its own process, so its CPU and memory are its own.

use super::procstat;
use anyhow::{bail, Context};
use netwarden_lab::Netns;
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const METRICS_ADDR: &str = "127.0.0.1:9400";

pub struct AgentProc {
    child: Child,
    config: PathBuf,
    /// Lines the agent logged, for errors.
    log: mpsc::Receiver<String>,
}

impl AgentProc {
    /// Starts the agent in `ns` capturing on `interface`, and waits until it is attached.
    pub fn start(ns: &Netns, interface: &str, flow_map_entries: u32) -> anyhow::Result<Self> {
        let config = std::env::temp_dir().join(format!("netwarden-bench-{}.yaml", ns.name));
        std::fs::write(
            &config,
            format!(
                "capture:\n  interfaces: '^{interface}$'\n  flow_map_entries: {flow_map_entries}\n\
                 sink:\n  jsonl:\n    path: /dev/null\nmetrics:\n  address: {METRICS_ADDR}\n"
            ),
        )
        .with_context(|| format!("writing {}", config.display()))?;
        let exe = std::env::current_exe().context("finding the netwarden binary")?;
        let exe = exe.to_str().context("netwarden binary path is not UTF-8")?;
        let mut child = ns
            .command(exe)
            .args(["--log", "info", "agent", "--config"])
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .context("starting the agent")?;
        let (tx, rx) = mpsc::channel();
        let stderr = child.stderr.take().context("agent stderr")?;
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut agent = Self {
            child,
            config,
            log: rx,
        };
        agent.wait_for("agent started", Duration::from_secs(20))?;
        Ok(agent)
    }

    fn wait_for(&mut self, needle: &str, timeout: Duration) -> anyhow::Result<()> {
        let deadline = std::time::Instant::now() + timeout;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.log.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return Ok(()),
                Ok(line) => seen.push(line),
                Err(_) => bail!(
                    "the agent did not log {needle:?} within {timeout:?}; it logged:\n{}",
                    seen.join("\n")
                ),
            }
        }
    }

    pub fn pid(&self) -> u32 {
        // `ip netns exec` execs the command: the child is the agent itself.
        self.child.id()
    }

    pub fn peak_rss_kib(&self) -> anyhow::Result<u64> {
        procstat::status_kib(self.pid(), "VmHWM")
    }

    pub fn rss_kib(&self) -> anyhow::Result<u64> {
        procstat::status_kib(self.pid(), "VmRSS")
    }

    /// The agent's counters (`netwarden_agent_*`, without the prefix), read from its endpoint.
    pub fn metrics(&self, ns: &Netns) -> anyhow::Result<HashMap<String, f64>> {
        let text = ns
            .run(|| -> std::io::Result<String> {
                let mut s = std::net::TcpStream::connect(METRICS_ADDR)?;
                s.set_read_timeout(Some(Duration::from_secs(5)))?;
                s.write_all(b"GET /metrics HTTP/1.0\r\nHost: bench\r\n\r\n")?;
                let mut body = String::new();
                s.read_to_string(&mut body)?;
                Ok(body)
            })?
            .context("reading the agent's metrics")?;
        Ok(text
            .lines()
            .filter_map(|l| {
                let (name, value) = l.strip_prefix("netwarden_agent_")?.split_once(' ')?;
                Some((name.to_string(), value.trim().parse().ok()?))
            })
            .collect())
    }

    /// SIGTERM and wait; the agent must exit cleanly.
    pub fn stop(mut self) -> anyhow::Result<()> {
        // SAFETY: signalling our own child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let status = self.child.wait().context("waiting for the agent")?;
        if !status.success() {
            let log: Vec<String> = self.log.try_iter().collect();
            bail!("the agent exited with {status}:\n{}", log.join("\n"));
        }
        Ok(())
    }
}

impl Drop for AgentProc {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        let _ = std::fs::remove_file(&self.config);
    }
}
