//! `netwarden capture`: one-shot capture to stdout.

use crate::output::{Format, RecordWriter};
use crate::run_loop::{self, LoopObserver};
use anyhow::{bail, Context};
use netwarden_datapath::interfaces::{self, InterfaceSelector};
use netwarden_datapath::{Capture, CaptureConfig, EvictStats};
use netwarden_model::FlowRecord;
use regex::Regex;
use std::time::Duration;
use tracing::{info, warn};

/// Flags shared by `capture` and (as YAML) the agent's `capture:` section.
#[derive(clap::Args, Debug)]
pub struct CaptureArgs {
    /// Capture on interfaces whose name matches this regex (default: all).
    #[arg(long, value_name = "RE")]
    interfaces: Option<String>,
    /// Skip interfaces whose name matches this regex (default: ^lo$).
    #[arg(long, value_name = "RE")]
    exclude: Option<String>,
    /// Stop after this many seconds (default: run until Ctrl-C or SIGTERM).
    #[arg(long, value_name = "SECS")]
    duration: Option<f64>,
    /// Seconds between evictions of flows from the kernel.
    #[arg(long, value_name = "SECS", default_value_t = 5.0)]
    eviction: f64,
    /// Record 1 packet in N.
    #[arg(long, value_name = "N", default_value_t = 1)]
    sampling: u32,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Json)]
    format: Format,
    /// DNS ports (comma-separated, at most 4).
    #[arg(
        long,
        value_name = "PORTS",
        value_delimiter = ',',
        default_value = "53"
    )]
    dns_ports: Vec<u16>,
    /// Do not track DNS.
    #[arg(long)]
    no_dns: bool,
    /// Do not measure TCP handshake RTT.
    #[arg(long)]
    no_rtt: bool,
    /// Do not record packet drops.
    #[arg(long)]
    no_drops: bool,
    /// Record drops in every network namespace, not only this one.
    #[arg(long)]
    drops_all_namespaces: bool,
    /// Flows held in the kernel between evictions (more take the fallback path, counted).
    #[arg(long, value_name = "N", default_value_t = 100_000)]
    flow_map_entries: u32,
    /// YAML file of Kubernetes objects (pods, services, nodes...) naming the flows' ends
    /// (SrcK8S_*, DstK8S_*); re-read when it changes.
    #[arg(long, value_name = "FILE")]
    inventory: Option<std::path::PathBuf>,
    /// Also name the ends from the cluster's API (in-cluster config or KUBECONFIG).
    #[arg(long)]
    kubernetes: bool,
    /// Policy files or directories (NetworkPolicy, AdminNetworkPolicy, BaselineAdminNetworkPolicy,
    /// EgressFirewall): each flow gets the NetworkEvents they decide (audit mode; needs an inventory).
    #[arg(long, value_name = "PATH")]
    policies: Vec<std::path::PathBuf>,
}

/// Compiles an interface regex, naming the flag in the error.
pub fn interface_regex(flag: &str, re: Option<&str>) -> anyhow::Result<Option<Regex>> {
    re.map(|s| {
        Regex::new(s).with_context(|| format!("{flag} {s:?} is not a valid regular expression"))
    })
    .transpose()
}

/// Seconds from a flag, checked.
pub fn seconds(flag: &str, secs: f64) -> anyhow::Result<Duration> {
    if !secs.is_finite() || secs <= 0.0 {
        bail!("{flag} must be a positive number of seconds, got {secs}");
    }
    Ok(Duration::from_secs_f64(secs))
}

/// Starts the capture and fails clearly when nothing can be captured on.
pub fn start(cfg: &CaptureConfig) -> anyhow::Result<Capture> {
    let capture = Capture::start(cfg)?;
    for d in capture.disabled_features() {
        warn!("{} disabled: {}", d.feature, d.reason);
    }
    Ok(capture)
}

pub fn run(args: CaptureArgs) -> anyhow::Result<()> {
    let include = interface_regex("--interfaces", args.interfaces.as_deref())?;
    let exclude = interface_regex("--exclude", args.exclude.as_deref())?;
    let eviction = seconds("--eviction", args.eviction)?;
    let duration = args
        .duration
        .map(|d| seconds("--duration", d))
        .transpose()?;
    let cfg = CaptureConfig {
        interfaces: InterfaceSelector::new(include, exclude),
        sampling: args.sampling,
        flow_map_entries: args.flow_map_entries,
        dns_enabled: !args.no_dns,
        dns_ports: args.dns_ports,
        rtt_enabled: !args.no_rtt,
        drops_enabled: !args.no_drops,
        drops_all_namespaces: args.drops_all_namespaces,
        ..Default::default()
    };
    let enricher = crate::enrichment::Enricher::start(&crate::enrichment::InventorySources {
        file: args.inventory.clone(),
        kubernetes: args.kubernetes,
        policies: args.policies.clone(),
    })?;
    let stop = run_loop::stop_on_signals()?;
    let mut capture = start(&cfg)?;
    let attached = capture.attached_interfaces();
    if attached.is_empty() {
        let here: Vec<String> = interfaces::list()
            .map(|m| m.into_values().collect())
            .unwrap_or_default();
        bail!(
            "no interface matches --interfaces {:?} --exclude {:?} (interfaces here: {})",
            args.interfaces.as_deref().unwrap_or(".*"),
            args.exclude.as_deref().unwrap_or("^lo$"),
            here.join(", ")
        );
    }
    info!(interfaces = ?attached, "capture started");
    let mut out = Printer {
        writer: RecordWriter::new(
            Box::new(std::io::BufWriter::new(std::io::stdout())),
            args.format,
        ),
        enricher,
    };
    run_loop::run(&mut capture, eviction, duration, &stop, &mut out)?;
    let losses = capture.loss_counters();
    if losses != Default::default() {
        warn!(
            ?losses,
            "some packets went uncounted or through the fallback path"
        );
    }
    Ok(())
}

struct Printer {
    writer: RecordWriter,
    enricher: Option<crate::enrichment::Enricher>,
}

impl LoopObserver for Printer {
    fn record(&mut self, mut rec: FlowRecord) -> anyhow::Result<()> {
        if let Some(e) = &mut self.enricher {
            e.enrich(&mut rec);
        }
        Ok(self.writer.write(&rec)?)
    }

    fn evicted(&mut self, _stats: &EvictStats, _capture: &Capture) -> anyhow::Result<()> {
        if let Some(e) = &mut self.enricher {
            e.refresh();
        }
        Ok(self.writer.flush()?)
    }
}
