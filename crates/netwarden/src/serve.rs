//! `netwarden serve`: the flow store's API and console over a store file, without capture (the
//! agent serves the same when its `store:` and `api:` sections are on). `--import` loads flow
//! records (JSON lines, as `capture` and the agent's JSON sink write them) first.

use crate::api::{self, ApiState, EventLog};
use anyhow::Context;
use netwarden_model::FlowRecord;
use netwarden_store::{DuckStore, FlowStore, StoreOptions};
use std::io::BufRead;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tracing::info;

/// Store options shared by `serve` and the agent's config.
#[derive(clap::Args, Debug, Clone)]
pub struct StoreArgs {
    /// The database file (created with its directory).
    #[arg(
        long,
        value_name = "FILE",
        default_value = "/var/lib/netwarden/flows.duckdb"
    )]
    pub store: PathBuf,
    /// Flows older than this are dropped (by whole hours), e.g. 24h, 7d.
    #[arg(long, default_value = "24h")]
    pub retention: String,
    /// The oldest hours are dropped while the store is larger than this many MiB.
    #[arg(long, default_value_t = 2048)]
    pub max_size_mib: u64,
    /// DuckDB's memory limit.
    #[arg(long, default_value = "256MB")]
    pub memory_limit: String,
}

impl StoreArgs {
    pub fn options(&self) -> anyhow::Result<StoreOptions> {
        let ms = netwarden_query::parse_duration(&self.retention)
            .map_err(|e| anyhow::anyhow!("--retention {:?}: {e}", self.retention))?;
        if ms <= 0 {
            anyhow::bail!("--retention {:?}: must be positive", self.retention);
        }
        Ok(StoreOptions {
            memory_limit: self.memory_limit.clone(),
            max_age: Duration::from_millis(ms as u64),
            max_bytes: self.max_size_mib.saturating_mul(1 << 20),
            ..StoreOptions::default()
        })
    }
}

#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// Address of the API and console.
    #[arg(long, default_value = "127.0.0.1:9001")]
    listen: SocketAddr,
    /// Bearer token the API requires (mandatory when --listen is not a loopback address).
    #[arg(long, env = "NETWARDEN_API_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Flow records to add first (JSON lines); repeatable.
    #[arg(long, value_name = "FILE")]
    import: Vec<PathBuf>,
}

/// Appends the JSON-lines records of `path`, in batches; returns how many.
pub fn import(store: &dyn FlowStore, path: &Path) -> anyhow::Result<usize> {
    let file = std::fs::File::open(path).with_context(|| format!("--import {}", path.display()))?;
    let mut batch = Vec::new();
    let mut total = 0;
    for (n, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.with_context(|| format!("--import {}", path.display()))?;
        if line.trim().is_empty() {
            continue;
        }
        let rec: FlowRecord = serde_json::from_str(&line)
            .with_context(|| format!("--import {} line {}", path.display(), n + 1))?;
        batch.push(rec);
        if batch.len() == 50_000 {
            total += store.insert(&batch)?;
            batch.clear();
        }
    }
    total += store.insert(&batch)?;
    Ok(total)
}

pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    // A refused address must not leave a new store (and its directory) behind.
    api::check_token(args.listen, args.token.as_deref())?;
    let store = Arc::new(DuckStore::open(&args.store.store, args.store.options()?)?);
    for path in &args.import {
        let n = import(store.as_ref(), path)?;
        info!(records = n, file = %path.display(), "imported");
    }
    let stop = crate::run_loop::stop_on_signals()?;
    let state = ApiState {
        store: store.clone(),
        ingest: None,
        events: Arc::new(Mutex::new(EventLog::default())),
        firewall_rules: None,
        firewall_enabled: false,
        pod_monitor_enabled: false,
        inventory: None,
    };
    let server = api::spawn(args.listen, state, args.token.clone())?;
    info!(url = %format!("http://{}/", server.addr), "serving started");
    let mut next_retention = std::time::Instant::now();
    while !stop.load(Ordering::Relaxed) {
        if std::time::Instant::now() >= next_retention {
            if let Err(e) = store.enforce_retention(netwarden_store::now_ms()) {
                tracing::warn!("retention: {e}");
            }
            next_retention = std::time::Instant::now() + Duration::from_secs(60);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    drop(server);
    store.checkpoint()?;
    info!("serving stopped");
    Ok(())
}
