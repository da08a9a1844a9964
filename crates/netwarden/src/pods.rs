//! `netwarden pods monitor`: the pod network access monitor. Guards the pods of an inventory file
//! that a label selector picks, on this node's pod interfaces, and prints one line per new
//! connection and per blocked packet until Ctrl-C or SIGTERM.
//!
//! ```text
//! TRAFFIC: 10.244.1.5:45678 -> 8.8.8.8:53 (UDP) [ALLOWED] [pod: default/nginx-pod]
//! ```
//!
//! The pods followed are those of the inventory (re-read when it changes) whose labels match and
//! whose IP routes to a local interface; relabelled, restarted, moved and new pods are followed
//! within a second.

use crate::enrichment::{Enricher, InventorySources};
use crate::run_loop;
use anyhow::{bail, Context};
use netwarden_datapath::podguard::{
    GuardedPod, PodChange, PodGuard, PodGuardEvent, PodGuardOptions, PodRef,
};
use netwarden_inventory::{EndpointKind, Index};
use netwarden_policy::netpol;
use netwarden_policy::podguard::{Mode, PodGuardPolicy, PodGuardSpec, SelectorSpec, Timestamp};
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tracing::{debug, info, warn};

/// How often the inventory, the routes and the time windows are looked at again.
const SYNC_EVERY: Duration = Duration::from_millis(250);
/// Longest wait for events between checks of the stop flag.
const POLL: Duration = Duration::from_millis(100);

/// Ranges treated as in-cluster when block-external is asked for without `--cluster-cidrs`:
/// the private, shared and link-local ranges (RFC 1918, 6598, 3927, 4193, 4291).
pub const PRIVATE_RANGES: &[&str] = &[
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "100.64.0.0/10",
    "169.254.0.0/16",
    "fc00::/7",
    "fe80::/10",
];

#[derive(clap::Subcommand)]
pub enum PodsCommand {
    /// Monitor (and optionally restrict) the network access of selected pods until Ctrl-C.
    Monitor(MonitorArgs),
}

#[derive(clap::Args, Debug)]
pub struct MonitorArgs {
    /// Inventory file (Kubernetes Pod objects with labels and IPs), re-read when it changes.
    #[arg(long, value_name = "FILE", required_unless_present = "kubernetes")]
    inventory: Option<PathBuf>,
    /// Take the pods from the cluster's API (in-cluster config or KUBECONFIG), as well.
    #[arg(long)]
    kubernetes: bool,
    /// Label selector of the pods to guard, e.g. 'app=web,tier in (a,b),!legacy' ("" selects
    /// every pod).
    #[arg(long, value_name = "SELECTOR", env = "POD_SELECTOR")]
    selector: Option<String>,
    /// Drop the selected pods' packets to destinations outside the cluster CIDRs.
    #[arg(long, env = "BLOCK_EXTERNAL", value_parser = clap::builder::BoolishValueParser::new())]
    block_external: bool,
    /// The cluster's pod, service and node CIDRs, comma-separated (default with
    /// --block-external: the private ranges 10/8, 172.16/12, 192.168/16, 100.64/10, 169.254/16,
    /// fc00::/7, fe80::/10).
    #[arg(
        long,
        value_name = "CIDRS",
        value_delimiter = ',',
        env = "CLUSTER_CIDRS"
    )]
    cluster_cidrs: Vec<String>,
    /// Pod guard config (YAML: selectors with modes, rules and time windows, cluster_cidrs...;
    /// the agent's pod_guard section). Replaces --selector and --block-external.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Print events as JSON lines instead of text lines.
    #[arg(long)]
    json: bool,
    /// Only pods scheduled on this node (spec.nodeName); default: every pod whose IP routes to a
    /// local pod interface.
    #[arg(long, value_name = "NAME")]
    node_name: Option<String>,
    /// Blocked-packet events per pod per CPU per second (beyond: suppressed and counted).
    #[arg(long, value_name = "N")]
    events_per_sec: Option<u32>,
}

pub fn run(cmd: PodsCommand) -> anyhow::Result<()> {
    match cmd {
        PodsCommand::Monitor(args) => monitor(args),
    }
}

/// The policy the flags (or the config file) describe.
fn policy(args: &MonitorArgs) -> anyhow::Result<PodGuardPolicy> {
    let mut spec = match &args.config {
        Some(path) => {
            if args.selector.is_some() || args.block_external {
                warn!("--config given: --selector/POD_SELECTOR and --block-external/BLOCK_EXTERNAL are ignored");
            }
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            PodGuardSpec::from_yaml(&text).with_context(|| format!("{}", path.display()))?
        }
        None => {
            let Some(selector) = &args.selector else {
                bail!(
                    "say which pods to guard: --selector 'app=web' (or POD_SELECTOR), \
                     or --config FILE"
                );
            };
            let mode = if args.block_external {
                Mode::BlockExternal
            } else {
                Mode::Monitor
            };
            let mut spec = PodGuardSpec {
                selectors: vec![SelectorSpec {
                    selector: selector.clone(),
                    namespaces: Vec::new(),
                    mode,
                    monitor: true,
                    rules: Vec::new(),
                    windows: Vec::new(),
                }],
                ..PodGuardSpec::default()
            };
            if args.block_external && args.cluster_cidrs.is_empty() {
                warn!(
                    ranges = PRIVATE_RANGES.join(","),
                    "no --cluster-cidrs: treating the private ranges as the cluster"
                );
                spec.cluster_cidrs = PRIVATE_RANGES.iter().map(|s| s.to_string()).collect();
            }
            spec
        }
    };
    if !args.cluster_cidrs.is_empty() {
        spec.cluster_cidrs = args.cluster_cidrs.clone();
    }
    if let Some(n) = args.events_per_sec {
        spec.events_per_sec = n;
    }
    spec.check().map_err(|problems| {
        let lines: Vec<String> = problems.iter().map(ToString::to_string).collect();
        anyhow::anyhow!("invalid pod guard settings:\n{}", lines.join("\n"))
    })
}

/// The inventory's pods that `policy` guards now, and with `network_policy` (enforce mode)
/// every pod, with their IPs (pods of other nodes skipped when `node` is given).
pub fn targets(
    index: &Index,
    policy: &PodGuardPolicy,
    node: Option<&str>,
    now: Timestamp,
    network_policy: bool,
) -> Vec<GuardedPod> {
    let mut by_pod: BTreeMap<PodRef, GuardedPod> = BTreeMap::new();
    for (ip, ep) in index.iter() {
        if ep.kind != EndpointKind::Pod {
            continue;
        }
        let Some(namespace) = &ep.namespace else {
            continue;
        };
        if let (Some(node), Some(host)) = (node, &ep.host_name) {
            if host != node {
                continue;
            }
        }
        let assignment = policy.assign(namespace, &ep.labels, now);
        if assignment.is_none() && !network_policy {
            continue;
        }
        let pod = PodRef {
            namespace: namespace.clone(),
            name: ep.name.clone(),
        };
        by_pod
            .entry(pod.clone())
            .or_insert_with(|| GuardedPod {
                pod,
                ips: Vec::new(),
                assignment,
                network_policy,
            })
            .ips
            .push(ip);
    }
    let mut out: Vec<GuardedPod> = by_pod.into_values().collect();
    for p in &mut out {
        // IPv4 first, then IPv6, each sorted: stable resolution order.
        p.ips.sort_by_key(|ip: &IpAddr| (ip.is_ipv6(), *ip));
    }
    out
}

/// Logs a sync's changes at a level matching their weight.
pub fn log_changes(changes: &[PodChange]) {
    for c in changes {
        match c {
            PodChange::Guarded { .. } | PodChange::Changed { .. } | PodChange::Released { .. } => {
                info!("{c}")
            }
            PodChange::NotLocal { .. } => debug!("{c}"),
            PodChange::Unresolved { .. } => info!("{c}"),
            PodChange::Conflict { .. } | PodChange::AttachFailed { .. } => warn!("{c}"),
        }
    }
}

/// Writes events as text or JSON lines.
struct EventOut {
    out: std::io::LineWriter<std::io::Stdout>,
    json: bool,
}

impl EventOut {
    fn write(&mut self, e: &PodGuardEvent) -> anyhow::Result<()> {
        if self.json {
            serde_json::to_writer(&mut self.out, e)?;
            self.out.write_all(b"\n")?;
        } else {
            writeln!(self.out, "{}", e.text_line())?;
        }
        Ok(())
    }
}

/// The pod guard following the inventory (file and/or API): what `pods monitor` and the agent run.
pub struct Follower {
    guard: PodGuard,
    policy: PodGuardPolicy,
    inventory: Enricher,
    node: Option<String>,
    next_sync: Instant,
    /// Enforce the inventory's network policies on the local pods.
    enforce: bool,
    /// What the network-policy tables were last compiled for: the inventory and policy
    /// generation, the generation of the EgressFirewall `dnsName` addresses, and the local pods.
    compiled_for: Option<((u64, u64), BTreeSet<PodRef>)>,
}

impl Follower {
    /// Loads the guard with `policy`, reads the inventory (which must be readable now) and
    /// guards its pods; with `enforce`, also enforces the network policies of `sources` on
    /// every local pod.
    pub fn start(
        policy: PodGuardPolicy,
        sources: &InventorySources,
        node: Option<String>,
        enforce: bool,
    ) -> anyhow::Result<Self> {
        let Some(inventory) = Enricher::start(sources)? else {
            bail!("the pod guard needs an inventory: a file (--inventory) or the cluster's API (--kubernetes)");
        };
        if enforce && inventory.policies().is_none() {
            bail!("enforcing network policies needs policies (inventory.policies)");
        }
        let opts = PodGuardOptions {
            events_per_sec: policy.events_per_sec,
            connection_idle: Duration::from_secs(policy.connection_idle_seconds),
            ..PodGuardOptions::default()
        };
        let mut guard = PodGuard::load(&opts).context("starting the pod guard")?;
        guard
            .apply_policy(&policy)
            .context("putting the cluster CIDRs and rules in force")?;
        let mut me = Follower {
            guard,
            policy,
            inventory,
            node,
            next_sync: Instant::now(),
            enforce,
            compiled_for: None,
        };
        me.sync()?;
        Ok(me)
    }

    /// The selectors in force, for the start-up log line.
    pub fn selectors(&self) -> Vec<String> {
        self.policy
            .selectors
            .iter()
            .map(|s| format!("{} ({})", s.selector, s.mode))
            .collect()
    }

    fn sync(&mut self) -> anyhow::Result<()> {
        self.inventory.refresh();
        let pods = targets(
            self.inventory.index(),
            &self.policy,
            self.node.as_deref(),
            Timestamp::now(),
            self.enforce,
        );
        if self.enforce {
            self.enforce_policies(&pods)?;
        }
        let changes = self.guard.sync(&pods).context("following the pods")?;
        log_changes(&changes);
        self.next_sync = Instant::now() + SYNC_EVERY;
        Ok(())
    }

    /// Compiles the network policies for the local pods among `pods` and puts them in force,
    /// when the inventory, the policies or the set of local pods changed. A compile error, or
    /// tables that do not fit the kernel maps, keep the previous tables in force.
    fn enforce_policies(&mut self, pods: &[GuardedPod]) -> anyhow::Result<()> {
        let local = self.guard.local_pods(pods);
        let generation = (self.inventory.generation(), self.inventory.dns_generation());
        if self
            .compiled_for
            .as_ref()
            .is_some_and(|(g, l)| *g == generation && *l == local)
        {
            return Ok(());
        }
        let Some((set, inventory)) = self.inventory.enforceable_policies() else {
            return Ok(());
        };
        let names: Vec<(String, String)> = local
            .iter()
            .map(|p| (p.namespace.clone(), p.name.clone()))
            .collect();
        let started = Instant::now();
        match netpol::compile_enforcement(inventory, &set, &names) {
            Ok(enforcement) => {
                let compiled = started.elapsed();
                let (pods, decisions) = (enforcement.pods.len(), enforcement.decisions.len());
                let (classes, rule_sets) = (enforcement.classes.len(), enforcement.rule_sets.len());
                let region_entries = enforcement.region_entries();
                // A new generation that does not fit the maps leaves the one in force: like a
                // compile error, reported and retried when the inventory or pods change.
                if let Err(e) = self.guard.set_network_policy(Some(enforcement)) {
                    warn!("network policies: {e}");
                    self.compiled_for = Some((generation, local));
                    return Ok(());
                }
                let write = self.guard.last_rules_write();
                info!(
                    pods,
                    decisions,
                    classes,
                    rule_sets,
                    region_entries,
                    compile_ms = compiled.as_millis() as u64,
                    apply_ms = (write.clear + write.write).as_millis() as u64,
                    "network policies enforced"
                );
            }
            Err(e) => warn!("network policies: {e}; the previous tables stay in force"),
        }
        self.compiled_for = Some((generation, local));
        Ok(())
    }

    /// Waits up to `timeout` for events; follows the inventory, routes and time windows when
    /// due (every 250 ms).
    pub fn poll(&mut self, timeout: Duration) -> anyhow::Result<Vec<PodGuardEvent>> {
        let events = self.guard.poll_events(timeout);
        if Instant::now() >= self.next_sync {
            self.sync()?;
        }
        Ok(events)
    }

    /// Each guarded pod's counters, summed over CPUs.
    pub fn pod_totals(
        &self,
    ) -> anyhow::Result<
        std::collections::BTreeMap<
            netwarden_datapath::podguard::PodRef,
            netwarden_datapath::podguard::PodTotals,
        >,
    > {
        Ok(self.guard.pod_counters()?)
    }

    /// Drains the last events, logs each pod's totals and detaches everything.
    pub fn finish(mut self) -> Vec<PodGuardEvent> {
        let events = self.guard.poll_events(Duration::ZERO);
        summary(&self.guard);
        self.guard.detach_all();
        events
    }
}

fn monitor(args: MonitorArgs) -> anyhow::Result<()> {
    let policy = policy(&args)?;
    let stop = run_loop::stop_on_signals()?;
    let sources = InventorySources {
        file: args.inventory.clone(),
        kubernetes: args.kubernetes,
        policies: Vec::new(),
    };
    let mut follower = Follower::start(policy, &sources, args.node_name.clone(), false)?;
    let mut out = EventOut {
        out: std::io::LineWriter::new(std::io::stdout()),
        json: args.json,
    };
    info!(selectors = ?follower.selectors(), "pod guard started");
    let result = loop {
        if stop.load(Ordering::Relaxed) {
            break Ok(());
        }
        let events = match follower.poll(POLL) {
            Ok(events) => events,
            Err(e) => break Err(e),
        };
        if let Err(e) = events.iter().try_for_each(|e| out.write(e)) {
            break Err(e.context("writing events"));
        }
    };
    // Events already in the ring still count.
    for e in follower.finish() {
        let _ = out.write(&e);
    }
    let _ = out.out.flush();
    info!("pod guard stopped");
    result
}

fn summary(guard: &PodGuard) {
    match guard.pod_counters() {
        Ok(pods) => {
            for (pod, t) in pods {
                info!(
                    pod = %pod,
                    allowed_packets = t.allowed_packets,
                    allowed_bytes = t.allowed_bytes,
                    blocked_packets = t.blocked_packets,
                    blocked_bytes = t.blocked_bytes,
                    new_connections = t.new_connections,
                    policy_dropped_packets = t.policy_dropped_packets,
                    "pod totals"
                );
            }
        }
        Err(e) => warn!("reading pod counters: {e}"),
    }
    match guard.counters() {
        Ok(c) => {
            let lost = c.get("events_lost").copied().unwrap_or(0);
            let suppressed = c.get("events_suppressed").copied().unwrap_or(0);
            if lost > 0 || suppressed > 0 {
                warn!(
                    events_lost = lost,
                    events_suppressed = suppressed,
                    "not every event was printed"
                );
            }
        }
        Err(e) => warn!("reading counters: {e}"),
    }
}
