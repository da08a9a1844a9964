//! CPU time and memory of a process, from /proc.

use anyhow::Context;
use std::time::{Duration, Instant};

/// User and system CPU time of `pid` so far.
pub fn cpu_time(pid: u32) -> anyhow::Result<(Duration, Duration)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("reading /proc/{pid}/stat"))?;
    // Fields after the command name, which is in parentheses and may contain spaces.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .context("unexpected /proc/PID/stat format")?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line: 12 and 13 after the name.
    let ticks = |i: usize| -> anyhow::Result<u64> {
        fields
            .get(i)
            .and_then(|f| f.parse().ok())
            .context("unexpected /proc/PID/stat format")
    };
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    let secs = |t: u64| Duration::from_secs_f64(t as f64 / hz);
    Ok((secs(ticks(11)?), secs(ticks(12)?)))
}

/// A field of /proc/PID/status in KiB (VmHWM, VmRSS, ...).
pub fn status_kib(pid: u32, field: &str) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .with_context(|| format!("no {field} in /proc/{pid}/status"))
}

/// CPU used by a process over a window, as a share of one core.
pub struct CpuWindow {
    pid: u32,
    start: Instant,
    user: Duration,
    system: Duration,
}

/// User and system CPU as percent of one core.
#[derive(Debug, Clone, Copy)]
pub struct CpuShare {
    pub user_pct: f64,
    pub system_pct: f64,
}

impl CpuWindow {
    pub fn begin(pid: u32) -> anyhow::Result<Self> {
        let (user, system) = cpu_time(pid)?;
        Ok(Self {
            pid,
            start: Instant::now(),
            user,
            system,
        })
    }

    pub fn end(self) -> anyhow::Result<CpuShare> {
        let (user, system) = cpu_time(self.pid)?;
        let wall = self.start.elapsed().as_secs_f64().max(1e-9);
        Ok(CpuShare {
            user_pct: 100.0 * (user - self.user).as_secs_f64() / wall,
            system_pct: 100.0 * (system - self.system).as_secs_f64() / wall,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        let pid = std::process::id();
        assert!(status_kib(pid, "VmRSS").unwrap() > 0);
        assert!(status_kib(pid, "VmHWM").unwrap() >= status_kib(pid, "VmRSS").unwrap() / 2);
        cpu_time(pid).unwrap();
        assert!(status_kib(pid, "NoSuchField").is_err());
    }
}
