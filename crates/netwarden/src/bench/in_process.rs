//! Costs measured inside this process on a capture attached nowhere, fed crafted frames with
//! BPF_PROG_TEST_RUN: the tc program's nanoseconds per packet (kernel-measured), and the eviction's
//! CPU per record (drain, decode, JSON line), which is what the agent spends per flow.

use crate::output::{Format, RecordWriter};
use anyhow::Context;
use netwarden_datapath::interfaces::InterfaceSelector;
use netwarden_datapath::{Capture, CaptureConfig};
use std::time::Duration;

const REPEAT: u32 = 1_000_000;

fn frame(proto: u8, l4: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(14 + 20 + l4.len());
    f.extend_from_slice(&[0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, 0x08, 0x00]);
    let total = (20 + l4.len()) as u16;
    f.extend_from_slice(&[0x45, 0, total.to_be_bytes()[0], total.to_be_bytes()[1]]);
    f.extend_from_slice(&[0, 0, 0x40, 0, 64, proto, 0, 0]);
    f.extend_from_slice(&[192, 168, 90, 1, 192, 168, 90, 2]);
    f.extend_from_slice(l4);
    f
}

fn udp_frame(sport: u16, payload: usize) -> Vec<u8> {
    let len = (8 + payload) as u16;
    let mut l4 = sport.to_be_bytes().to_vec();
    l4.extend_from_slice(&[0x13, 0x89]);
    l4.extend_from_slice(&len.to_be_bytes());
    l4.extend_from_slice(&[0, 0]);
    l4.resize(8 + payload, 0);
    frame(17, &l4)
}

fn tcp_ack_frame() -> Vec<u8> {
    let mut l4 = vec![0x9c, 0x41, 0x14, 0x51, 0, 0, 0, 1, 0, 0, 0, 1];
    l4.extend_from_slice(&[0x50, 0x10, 0xff, 0xff, 0, 0, 0, 0]);
    frame(6, &l4)
}

fn detached_capture() -> anyhow::Result<Capture> {
    let cfg = CaptureConfig {
        // Loaded, attached nowhere: only test runs reach it.
        interfaces: InterfaceSelector::new(Some(regex::Regex::new("^$")?), None),
        flow_map_entries: 131_072,
        ..Default::default()
    };
    Capture::start(&cfg).context("loading the capture programs")
}

/// (case, mean ns per packet) for egress.
pub fn program_cost() -> anyhow::Result<Vec<(&'static str, u32)>> {
    let mut capture = detached_capture()?;
    let mut out = Vec::new();
    for (name, f) in [
        ("UDP 64 B payload, existing flow", udp_frame(40000, 64)),
        ("TCP ACK, existing flow", tcp_ack_frame()),
    ] {
        capture.test_run(true, &f, 1)?;
        out.push((name, capture.test_run(true, &f, REPEAT)?.duration_ns));
    }
    Ok(out)
}

/// CPU (user + system, this thread) per record of evicting `flows` distinct flows into JSON lines
/// written to nowhere: the median of `runs`.
pub fn eviction_cost(flows: u32, runs: usize) -> anyhow::Result<Duration> {
    let mut capture = detached_capture()?;
    let mut costs = (0..runs.max(1))
        .map(|_| eviction_cost_once(&mut capture, flows))
        .collect::<anyhow::Result<Vec<_>>>()?;
    costs.sort();
    Ok(costs[costs.len() / 2])
}

fn eviction_cost_once(capture: &mut Capture, flows: u32) -> anyhow::Result<Duration> {
    for sport in 0..flows.min(65_536) {
        capture.test_run(true, &udp_frame(sport as u16, 64), 1)?;
    }
    let mut writer = RecordWriter::new(
        Box::new(std::io::BufWriter::new(std::io::sink())),
        Format::Json,
    );
    let started = thread_cpu();
    let mut failed = None;
    let stats = capture.evict(|rec| {
        if let Err(e) = writer.write(&rec) {
            failed.get_or_insert(e);
        }
    })?;
    writer.flush()?;
    let spent = thread_cpu().saturating_sub(started);
    if let Some(e) = failed {
        return Err(e.into());
    }
    Ok(spent / stats.records.max(1) as u32)
}

fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid timespec to fill.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}
