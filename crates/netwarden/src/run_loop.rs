//! The capture loop shared by `capture` and `agent`: follow interfaces, drain the fallback ring,
//! evict on schedule and once more on the way out, so no flow is lost at shutdown.

use netwarden_datapath::{Capture, EvictStats};
use netwarden_model::FlowRecord;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracing::{info, warn};

/// How often interfaces are re-listed: new pod veths are captured within this.
const INTERFACE_SYNC: Duration = Duration::from_millis(250);
/// Longest wait between checks of the stop flag.
const MAX_WAIT: Duration = Duration::from_millis(100);

/// Where records and per-eviction facts go.
pub trait LoopObserver {
    /// One record of the eviction in progress.
    fn record(&mut self, rec: FlowRecord) -> anyhow::Result<()>;
    /// The eviction is complete (flush here).
    fn evicted(&mut self, stats: &EvictStats, capture: &Capture) -> anyhow::Result<()>;
    /// Interfaces changed.
    fn interfaces_changed(&mut self, _capture: &Capture) {}
    /// Called on every turn of the loop (at least every 100 ms) for other periodic work.
    fn tick(&mut self) {}
}

/// SIGINT and SIGTERM set the returned flag.
pub fn stop_on_signals() -> anyhow::Result<Arc<AtomicBool>> {
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, Arc::clone(&stop))?;
    }
    Ok(stop)
}

/// Runs until `stop` is set or `duration` has passed; then evicts once more and detaches.
pub fn run(
    capture: &mut Capture,
    eviction: Duration,
    duration: Option<Duration>,
    stop: &AtomicBool,
    observer: &mut dyn LoopObserver,
) -> anyhow::Result<()> {
    let start = Instant::now();
    let deadline = duration.map(|d| start + d);
    let mut next_evict = start + eviction;
    let mut next_sync = start + INTERFACE_SYNC;
    loop {
        let now = Instant::now();
        if stop.load(Ordering::Relaxed) || deadline.is_some_and(|d| now >= d) {
            break;
        }
        let mut wake = next_evict.min(next_sync);
        if let Some(d) = deadline {
            wake = wake.min(d);
        }
        capture.poll_fallback(wake.saturating_duration_since(now).min(MAX_WAIT));
        observer.tick();
        let now = Instant::now();
        if now >= next_sync {
            match capture.sync_interfaces() {
                Ok((added, removed)) if !added.is_empty() || !removed.is_empty() => {
                    if !removed.is_empty() {
                        info!(interfaces = ?removed, "stopped capturing on removed interfaces");
                    }
                    observer.interfaces_changed(capture);
                }
                Ok(_) => {}
                Err(e) => warn!("following interfaces: {e}"),
            }
            next_sync = now + INTERFACE_SYNC;
        }
        if now >= next_evict {
            evict(capture, observer)?;
            next_evict = now + eviction;
        }
    }
    evict(capture, observer)?;
    capture.detach_all();
    Ok(())
}

fn evict(capture: &mut Capture, observer: &mut dyn LoopObserver) -> anyhow::Result<()> {
    let mut failed = None;
    let stats = capture.evict(|rec| {
        if failed.is_none() {
            if let Err(e) = observer.record(rec) {
                failed = Some(e);
            }
        }
    })?;
    if let Some(e) = failed {
        return Err(e.context("writing flow records"));
    }
    observer.evicted(&stats, capture)
}
