//! `netwarden agent`: the long-running node daemon.

mod config;
mod firewall;
mod flow_metrics;
mod metrics;
mod podguard;

pub use config::AgentConfig;
pub use metrics::AgentMetrics;

use crate::capture::{interface_regex, seconds, start};
use crate::output::{Format, RecordWriter};
use crate::run_loop::{self, LoopObserver};
use anyhow::Context;
use netwarden_datapath::interfaces::InterfaceSelector;
use netwarden_datapath::{Capture, CaptureConfig, EvictStats};
use netwarden_model::FlowRecord;
use netwarden_store::{DuckStore, Ingest, IngestOptions};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use tracing::{info, warn};

#[derive(clap::Args, Debug)]
pub struct AgentArgs {
    /// YAML config (see README, "Agent config"); every field is optional.
    #[arg(long, short = 'c', value_name = "FILE")]
    config: PathBuf,
}

/// The capture settings of an agent config, validated.
pub fn capture_config(cfg: &AgentConfig) -> anyhow::Result<CaptureConfig> {
    let c = &cfg.capture;
    Ok(CaptureConfig {
        interfaces: InterfaceSelector::new(
            interface_regex("capture.interfaces", c.interfaces.as_deref())?,
            interface_regex("capture.exclude", c.exclude.as_deref())?,
        ),
        sampling: c.sampling,
        flow_map_entries: c.flow_map_entries,
        extras_map_entries: c.extras_map_entries,
        dns_enabled: c.dns.enabled,
        dns_ports: c.dns.ports.clone(),
        rtt_enabled: c.rtt.enabled,
        drops_enabled: c.drops.enabled,
        drops_all_namespaces: c.drops.all_namespaces,
        agent_ip: c.agent_ip,
    })
}

fn open_sink(path: &Path) -> anyhow::Result<Box<dyn std::io::Write>> {
    if path == Path::new("-") {
        return Ok(Box::new(std::io::BufWriter::new(std::io::stdout())));
    }
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("sink.jsonl.path {}", path.display()))?;
    Ok(Box::new(std::io::BufWriter::new(file)))
}

pub fn run(args: AgentArgs) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(&args.config)
        .with_context(|| format!("--config {}", args.config.display()))?;
    let cfg = AgentConfig::from_yaml(&text)
        .with_context(|| format!("--config {}", args.config.display()))?;
    let stop = run_loop::stop_on_signals()?;
    run_config(&cfg, &stop, None)
}

/// Runs the agent from a parsed config until `stop` is set (or `duration` has passed).
pub fn run_config(
    cfg: &AgentConfig,
    stop: &Arc<std::sync::atomic::AtomicBool>,
    duration: Option<std::time::Duration>,
) -> anyhow::Result<()> {
    let cfg = cfg.clone();
    let capture_cfg = capture_config(&cfg)?;
    let eviction = seconds("capture.eviction_seconds", cfg.capture.eviction_seconds)?;
    let writer = RecordWriter::new(open_sink(&cfg.sink.jsonl.path)?, Format::Json);

    let metrics = AgentMetrics::new();
    if cfg.metrics.enabled {
        let addr = metrics.serve(cfg.metrics.address)?;
        info!(%addr, "metrics on http://{addr}/metrics");
    }
    let mut firewall = if cfg.firewall.enabled {
        let fw = firewall::AgentFirewall::start(&cfg.firewall)?;
        metrics.register_firewall(fw.paths().clone(), fw.apply_errors.clone());
        Some(fw)
    } else {
        None
    };
    let sources = crate::enrichment::InventorySources {
        file: cfg.inventory.file.clone(),
        kubernetes: cfg.inventory.kubernetes,
        policies: cfg.inventory.policies.clone(),
    };
    let mut enricher = crate::enrichment::Enricher::start(&sources)?;
    let enforce = cfg.inventory.policy_mode == config::PolicyMode::Enforce;
    if enforce && cfg.inventory.policies.is_empty() {
        anyhow::bail!(
            "inventory.policy_mode: enforce needs inventory.policies (the policies to enforce)"
        );
    }
    let mut podguard = if cfg.pod_guard.enabled || enforce {
        let pg = podguard::AgentPodGuard::start(&cfg.pod_guard, &sources, enforce)?;
        metrics.register_pod_guard(pg.totals.clone());
        Some(pg)
    } else {
        None
    };
    let inventory = match &mut enricher {
        Some(e) if cfg.api.enabled => Some(e.share_inventory()),
        _ => None,
    };
    let (ingest, api) = start_store(
        &cfg,
        &metrics,
        firewall.as_mut(),
        podguard.as_mut(),
        inventory,
    )?;
    let mut capture = start(&capture_cfg)?;
    let attached = capture.attached_interfaces();
    if attached.is_empty() {
        warn!("no interface selected yet; waiting for matching interfaces to appear");
    }
    metrics.attached_interfaces.set(attached.len() as i64);
    info!(interfaces = ?attached, "agent started");
    let mut observer = AgentSink {
        writer,
        metrics,
        firewall,
        enricher,
        podguard,
        ingest,
        stored: Vec::new(),
    };
    let result = run_loop::run(&mut capture, eviction, duration, stop, &mut observer);
    if let Some(pg) = observer.podguard.take() {
        pg.finish();
    }
    // The API goes first, then ingest writes what is queued.
    drop(api);
    if let Some(ingest) = observer.ingest.take() {
        ingest.finish();
    }
    result?;
    info!("agent stopped");
    Ok(())
}

/// Opens the store and its ingest queue, and starts the API over it, as the config asks.
fn start_store(
    cfg: &AgentConfig,
    metrics: &AgentMetrics,
    firewall: Option<&mut firewall::AgentFirewall>,
    podguard: Option<&mut podguard::AgentPodGuard>,
    inventory: Option<crate::enrichment::SharedInventory>,
) -> anyhow::Result<(Option<Ingest>, Option<crate::api::ApiServer>)> {
    if !cfg.store.enabled {
        if cfg.api.enabled {
            anyhow::bail!("api.enabled needs store.enabled (the API serves the stored flows)");
        }
        return Ok((None, None));
    }
    let args = crate::serve::StoreArgs {
        store: cfg.store.path.clone(),
        retention: cfg.store.retention.clone(),
        max_size_mib: cfg.store.max_size_mib,
        memory_limit: cfg.store.memory_limit.clone(),
    };
    let opts = args
        .options()
        .map_err(|e| anyhow::anyhow!("store: {}", e.to_string().replace("--", "store.")))?;
    let token = std::env::var("NETWARDEN_API_TOKEN")
        .ok()
        .filter(|t| !t.is_empty())
        .or_else(|| cfg.api.token.clone());
    if cfg.api.enabled {
        crate::api::check_token(cfg.api.listen, token.as_deref())?;
    }
    let store = Arc::new(DuckStore::open(&cfg.store.path, opts)?);
    let ingest = Ingest::start(store.clone(), IngestOptions::default())?;
    metrics.register_ingest(ingest.counters());
    if !cfg.api.enabled {
        return Ok((Some(ingest), None));
    }
    let events = Arc::new(Mutex::new(crate::api::EventLog::default()));
    let firewall_rules = firewall.map(|fw| {
        fw.share_events(events.clone());
        fw.rules_source()
    });
    let pod_monitor_enabled = podguard.is_some();
    if let Some(pg) = podguard {
        pg.share_events(events.clone());
    }
    let state = crate::api::ApiState {
        store,
        ingest: Some(ingest.counters()),
        events,
        firewall_enabled: firewall_rules.is_some(),
        firewall_rules,
        pod_monitor_enabled,
        inventory,
    };
    let server = crate::api::spawn(cfg.api.listen, state, token)?;
    Ok((Some(ingest), Some(server)))
}

struct AgentSink {
    writer: RecordWriter,
    metrics: AgentMetrics,
    firewall: Option<firewall::AgentFirewall>,
    enricher: Option<crate::enrichment::Enricher>,
    podguard: Option<podguard::AgentPodGuard>,
    ingest: Option<Ingest>,
    /// This eviction's records, for the store.
    stored: Vec<FlowRecord>,
}

impl LoopObserver for AgentSink {
    fn record(&mut self, mut rec: FlowRecord) -> anyhow::Result<()> {
        if let Some(e) = &mut self.enricher {
            e.enrich_with(&mut rec, self.podguard.as_ref().map(|p| &p.decisions));
            self.metrics.observe_network_events(&rec.network_events);
        }
        self.metrics.flows.observe(&rec);
        match self.writer.write(&rec) {
            Ok(()) => {
                self.metrics.records_exported.inc();
            }
            Err(e) => {
                // A full disk or a closed pipe must not stop capture: count and go on.
                if self.metrics.export_errors.inc() == 0 {
                    warn!("writing a flow record failed (counted in netwarden_agent_export_errors_total): {e}");
                }
            }
        }
        if self.ingest.is_some() {
            self.stored.push(rec);
        }
        Ok(())
    }

    fn evicted(&mut self, stats: &EvictStats, capture: &Capture) -> anyhow::Result<()> {
        if let Some(e) = &mut self.enricher {
            e.refresh();
        }
        if let Err(e) = self.writer.flush() {
            self.metrics.export_errors.inc();
            warn!("flushing flow records failed: {e}");
        }
        if let Some(ingest) = &self.ingest {
            // Never waits: a full queue drops the batch and counts it.
            ingest.offer(std::mem::take(&mut self.stored));
        }
        self.metrics
            .observe_eviction(stats, capture.loss_counters());
        Ok(())
    }

    fn tick(&mut self) {
        if let Some(fw) = &mut self.firewall {
            fw.tick();
        }
        if let Some(pg) = &mut self.podguard {
            pg.tick();
        }
    }

    fn interfaces_changed(&mut self, capture: &Capture) {
        self.metrics
            .attached_interfaces
            .set(capture.attached_interfaces().len() as i64);
    }
}
