//! Crash safety: a writer killed with SIGKILL in the middle of ingest leaves a store that reopens
//! with every batch it had committed, and no part of any other.
//!
//! The test binary runs itself as the writer (NW_STORE_CRASH_WRITER=<path>): it appends batches of
//! `BATCH` records and prints `committed N` after each; the parent kills it after a few.

use netwarden_model::FlowRecord;
use netwarden_query::FlowQuery;
use netwarden_store::{DuckStore, FlowStore, StoreOptions};
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

const BATCH: usize = 20_000;
const ENV: &str = "NW_STORE_CRASH_WRITER";

fn record(i: usize) -> FlowRecord {
    FlowRecord {
        src_addr: Some("10.0.0.1".parse().unwrap()),
        dst_addr: Some("10.0.0.2".parse().unwrap()),
        src_port: Some((i % 60000) as u16),
        dst_port: Some(80),
        proto: 6,
        bytes: 100,
        packets: 1,
        time_flow_start_ms: 1_700_000_000_000 + i as i64,
        time_flow_end_ms: 1_700_000_000_000 + i as i64,
        ..Default::default()
    }
}

/// The writer side: appends batches forever.
fn writer(path: &str) {
    let store = DuckStore::open(path.as_ref(), StoreOptions::default()).unwrap();
    let mut out = std::io::stdout();
    for b in 0.. {
        let batch: Vec<FlowRecord> = (0..BATCH).map(|i| record(b * BATCH + i)).collect();
        store.insert(&batch).unwrap();
        writeln!(out, "committed {}", (b + 1) * BATCH).unwrap();
        out.flush().unwrap();
    }
}

#[test]
fn a_killed_writer_leaves_every_committed_batch_and_nothing_else() {
    if let Ok(path) = std::env::var(ENV) {
        writer(&path);
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("flows.duckdb");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "a_killed_writer_leaves_every_committed_batch_and_nothing_else",
            "--nocapture",
        ])
        .env(ENV, &path)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut committed = 0;
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        if let Some(n) = line.strip_prefix("committed ") {
            committed = n.parse().unwrap();
            if committed >= 3 * BATCH {
                break;
            }
        }
    }
    // SIGKILL, mid-batch most likely: no chance to flush or checkpoint.
    child.kill().unwrap();
    child.wait().unwrap();
    let store = DuckStore::open(&path, StoreOptions::default()).unwrap();
    let total = store.flows(&FlowQuery::default()).unwrap().total as usize;
    assert!(total >= committed, "{total} < {committed} committed");
    assert_eq!(total % BATCH, 0, "a partial batch survived: {total}");
}
