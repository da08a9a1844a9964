//! Batched ingest that never blocks capture: records are offered to a bounded queue and a writer
//! thread appends them in batches. When the queue is full the records are dropped and counted
//! (back-pressure shows in the counters instead of stalling eviction). The writer also runs
//! retention.

use crate::FlowStore;
use netwarden_model::FlowRecord;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tracing::warn;

/// Queue and batch sizes; every field has a default.
#[derive(Debug, Clone, PartialEq)]
pub struct IngestOptions {
    /// Offered batches waiting at most (each is one eviction's records, or part of one).
    pub queue_batches: usize,
    /// Records appended in one transaction at most.
    pub batch_records: usize,
    /// A partial batch is written after this long.
    pub flush_every: Duration,
    /// Retention runs this often.
    pub retention_every: Duration,
}

impl Default for IngestOptions {
    fn default() -> Self {
        Self {
            queue_batches: 64,
            batch_records: 50_000,
            flush_every: Duration::from_millis(500),
            retention_every: Duration::from_secs(60),
        }
    }
}

/// Ingest counters, all since start.
#[derive(Debug, Default)]
pub struct IngestCounters {
    pub offered: AtomicU64,
    pub written: AtomicU64,
    /// Records dropped because the queue was full.
    pub dropped: AtomicU64,
    /// Records lost to failed writes.
    pub failed: AtomicU64,
    pub batches: AtomicU64,
}

/// The sending side; dropping it (or [`Ingest::finish`]) writes what is queued and stops.
pub struct Ingest {
    tx: Option<SyncSender<Vec<FlowRecord>>>,
    counters: Arc<IngestCounters>,
    writer: Option<JoinHandle<()>>,
}

/// Now, in the store's time unit: milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl Ingest {
    pub fn start(store: Arc<dyn FlowStore>, opts: IngestOptions) -> std::io::Result<Self> {
        let (tx, rx) = sync_channel::<Vec<FlowRecord>>(opts.queue_batches.max(1));
        let counters = Arc::new(IngestCounters::default());
        let c = counters.clone();
        let writer = std::thread::Builder::new()
            .name("flow-store".into())
            .spawn(move || {
                let mut pending: Vec<FlowRecord> = Vec::new();
                let mut next_retention = Instant::now() + opts.retention_every;
                let write = |pending: &mut Vec<FlowRecord>| {
                    if pending.is_empty() {
                        return;
                    }
                    match store.insert(pending) {
                        Ok(n) => {
                            c.written.fetch_add(n as u64, Ordering::Relaxed);
                            c.batches.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(e) => {
                            warn!("flow store: {} records not written: {e}", pending.len());
                            c.failed.fetch_add(pending.len() as u64, Ordering::Relaxed);
                        }
                    }
                    pending.clear();
                };
                loop {
                    match rx.recv_timeout(opts.flush_every) {
                        Ok(mut batch) => {
                            pending.append(&mut batch);
                            if pending.len() >= opts.batch_records {
                                write(&mut pending);
                            }
                        }
                        Err(RecvTimeoutError::Timeout) => write(&mut pending),
                        Err(RecvTimeoutError::Disconnected) => {
                            write(&mut pending);
                            break;
                        }
                    }
                    if Instant::now() >= next_retention {
                        if let Err(e) = store.enforce_retention(now_ms()) {
                            warn!("flow store retention: {e}");
                        }
                        next_retention = Instant::now() + opts.retention_every;
                    }
                }
            })?;
        Ok(Self {
            tx: Some(tx),
            counters,
            writer: Some(writer),
        })
    }

    /// Queues `records` without waiting; when the queue is full they are dropped and counted.
    pub fn offer(&self, records: Vec<FlowRecord>) {
        let n = records.len() as u64;
        if n == 0 {
            return;
        }
        self.counters.offered.fetch_add(n, Ordering::Relaxed);
        let Some(tx) = &self.tx else { return };
        match tx.try_send(records) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                self.counters.dropped.fetch_add(n, Ordering::Relaxed);
            }
        }
    }

    pub fn counters(&self) -> Arc<IngestCounters> {
        self.counters.clone()
    }

    /// Writes what is queued and stops the writer.
    pub fn finish(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        self.tx.take();
        if let Some(w) = self.writer.take() {
            let _ = w.join();
        }
    }
}

impl Drop for Ingest {
    fn drop(&mut self) {
        self.stop();
    }
}
