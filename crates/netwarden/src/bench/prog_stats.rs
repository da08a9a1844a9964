//! Time the kernel spends in the capture's tc programs, from the kernel's own BPF run-time stats
//! (on only while a [`StatsOn`] lives), and busy CPU time from /proc/stat: together they say what
//! share of the machine's work capture costs, a steadier figure than a throughput ratio on a noisy
//! machine.

use anyhow::Context;
use std::os::fd::OwnedFd;

/// Kernel BPF run-time statistics are collected while this lives.
pub struct StatsOn(#[allow(dead_code)] OwnedFd);

impl StatsOn {
    pub fn new() -> anyhow::Result<Self> {
        let fd = aya::sys::enable_stats(aya::sys::Stats::RunTime)
            .context("enabling BPF run-time statistics")?;
        Ok(Self(fd))
    }
}

/// Nanoseconds and runs of every loaded program whose name starts with `nw_tc_`.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProgTime {
    pub run_time_ns: u64,
    pub run_count: u64,
}

pub fn capture_programs() -> anyhow::Result<ProgTime> {
    let out = std::process::Command::new("bpftool")
        .args(["-j", "prog", "show"])
        .output()
        .context("running bpftool (install it with scripts/setup.sh)")?;
    let progs: Vec<serde_json::Value> =
        serde_json::from_slice(&out.stdout).context("bpftool printed no JSON")?;
    let mut t = ProgTime::default();
    for p in progs {
        if p["name"].as_str().is_some_and(|n| n.starts_with("nw_tc_")) {
            t.run_time_ns += p["run_time_ns"].as_u64().unwrap_or(0);
            t.run_count += p["run_cnt"].as_u64().unwrap_or(0);
        }
    }
    Ok(t)
}

/// CPU time the whole machine spent busy (user, nice, system, irq, softirq), in nanoseconds.
pub fn busy_cpu_ns() -> anyhow::Result<u64> {
    let stat = std::fs::read_to_string("/proc/stat").context("reading /proc/stat")?;
    let line = stat.lines().next().context("empty /proc/stat")?;
    let f: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq ...
    let busy: u64 = [0, 1, 2, 5, 6].iter().filter_map(|&i| f.get(i)).sum();
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    Ok(busy * (1_000_000_000 / hz))
}
