//! The agent's pod guard: the `pod_guard:` section's selectors applied to the pods of the
//! inventory file that are on this node, followed as the file, the pods' interfaces and the time
//! windows change. Events are logged (the pod monitor's `TRAFFIC:` lines) and optionally appended
//! to a JSON-lines file. Links are not pinned: guarding ends with the agent.

use crate::decisions::DatapathDecisions;
use crate::pods::Follower;
use anyhow::Context;
use netwarden_datapath::podguard::PodGuardEvent;
use netwarden_policy::podguard::{PodGuardSpec, SelectorSpec};
use serde::Deserialize;
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;
use tracing::{error, info, warn};

/// The `pod_guard:` section; the selector fields are those of `netwarden pods monitor --config`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct PodGuardSection {
    /// Default false. Needs `inventory.file` or `inventory.kubernetes` (the pods, their labels and
    /// IPs).
    pub enabled: bool,
    /// Tried in order; the first that matches a pod decides its mode. Default none.
    pub selectors: Vec<SelectorSpec>,
    /// The cluster's pod, service and node CIDRs (block-external's inside). Default none.
    pub cluster_cidrs: Vec<String>,
    /// Blocked-packet events per pod per CPU per second. Default 100.
    pub events_per_sec: u32,
    /// An idle connection is reported again when it resumes after this long. Default 120.
    pub connection_idle_seconds: u64,
    /// Only pods whose spec.nodeName is this; absent: every pod whose IP routes to a local pod
    /// interface.
    pub node_name: Option<String>,
    /// Log each event as one `TRAFFIC:` line. Default true.
    pub log_events: bool,
    /// File to append events to as JSON lines; absent: none.
    pub events_jsonl: Option<PathBuf>,
}

impl Default for PodGuardSection {
    fn default() -> Self {
        let spec = PodGuardSpec::default();
        Self {
            enabled: false,
            selectors: Vec::new(),
            cluster_cidrs: Vec::new(),
            events_per_sec: spec.events_per_sec,
            connection_idle_seconds: spec.connection_idle_seconds,
            node_name: None,
            log_events: true,
            events_jsonl: None,
        }
    }
}

/// The guarded pods' counters as last read, shared with the metrics endpoint.
pub type PodTotalsSnapshot = std::sync::Arc<
    std::sync::Mutex<
        std::collections::BTreeMap<
            netwarden_datapath::podguard::PodRef,
            netwarden_datapath::podguard::PodTotals,
        >,
    >,
>;

/// How often the per-pod counters are read for the metrics.
const TOTALS_EVERY: Duration = Duration::from_secs(1);

pub struct AgentPodGuard {
    follower: Follower,
    /// Enforce mode: what the datapath decided per connection, for the flows.
    pub decisions: DatapathDecisions,
    /// Where the API reads recent events, when it runs.
    shared_events: Option<std::sync::Arc<std::sync::Mutex<crate::api::EventLog>>>,
    log_events: bool,
    events_out: Option<std::io::BufWriter<std::fs::File>>,
    pub totals: PodTotalsSnapshot,
    next_totals: std::time::Instant,
}

impl AgentPodGuard {
    /// Starts the pod guard with the section's selectors (none when the section is disabled)
    /// and, with `enforce`, the inventory's network policies on every local pod.
    pub fn start(
        section: &PodGuardSection,
        inventory: &crate::enrichment::InventorySources,
        enforce: bool,
    ) -> anyhow::Result<Self> {
        if inventory.file.is_none() && !inventory.kubernetes {
            anyhow::bail!(
                "{} needs inventory.file or inventory.kubernetes (the pods and their labels)",
                if section.enabled {
                    "pod_guard.enabled"
                } else {
                    "inventory.policy_mode: enforce"
                }
            );
        }
        let selectors = if section.enabled {
            section.selectors.clone()
        } else {
            Vec::new()
        };
        let spec = PodGuardSpec {
            selectors,
            cluster_cidrs: section.cluster_cidrs.clone(),
            events_per_sec: section.events_per_sec,
            connection_idle_seconds: section.connection_idle_seconds,
        };
        let policy = spec.check().map_err(|problems| {
            let lines: Vec<String> = problems.iter().map(|p| format!("pod_guard.{p}")).collect();
            anyhow::anyhow!("{}", lines.join("\n"))
        })?;
        let events_out = match &section.events_jsonl {
            None => None,
            Some(p) => Some(std::io::BufWriter::new(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(p)
                    .with_context(|| format!("pod_guard.events_jsonl {}", p.display()))?,
            )),
        };
        let follower = Follower::start(policy, inventory, section.node_name.clone(), enforce)?;
        info!(selectors = ?follower.selectors(), "pod guard started");
        Ok(Self {
            follower,
            decisions: DatapathDecisions::default(),
            shared_events: None,
            log_events: section.log_events,
            events_out,
            totals: Default::default(),
            next_totals: std::time::Instant::now(),
        })
    }

    /// Keeps the guard's events in `log` too (for the API).
    pub fn share_events(&mut self, log: std::sync::Arc<std::sync::Mutex<crate::api::EventLog>>) {
        self.shared_events = Some(log);
    }

    /// Called often by the run loop: drains events, follows the pods when due.
    pub fn tick(&mut self) {
        match self.follower.poll(Duration::ZERO) {
            Ok(events) => {
                for e in &events {
                    self.decisions.observe(e);
                }
                if let Some(log) = &self.shared_events {
                    let mut log = log.lock().unwrap_or_else(|p| p.into_inner());
                    for e in &events {
                        if let Ok(v) = serde_json::to_value(e) {
                            log.push_pod(v);
                        }
                    }
                }
                write_events(self.log_events, self.events_out.as_mut(), &events);
            }
            Err(e) => error!("pod guard: {e:#}"),
        }
        if std::time::Instant::now() >= self.next_totals {
            match self.follower.pod_totals() {
                Ok(t) => *self.totals.lock().unwrap_or_else(|p| p.into_inner()) = t,
                Err(e) => error!("pod guard counters: {e:#}"),
            }
            self.next_totals = std::time::Instant::now() + TOTALS_EVERY;
        }
    }

    /// Writes the last events, logs each pod's totals and detaches.
    pub fn finish(self) {
        let AgentPodGuard {
            follower,
            log_events,
            mut events_out,
            ..
        } = self;
        let events = follower.finish();
        write_events(log_events, events_out.as_mut(), &events);
    }
}

fn write_events(
    log: bool,
    mut out: Option<&mut std::io::BufWriter<std::fs::File>>,
    events: &[PodGuardEvent],
) {
    for e in events {
        if log {
            info!("{}", e.text_line());
        }
        if let Some(out) = out.as_mut() {
            let line = serde_json::to_string(e).unwrap_or_default();
            if let Err(err) = writeln!(out, "{line}") {
                warn!("pod_guard.events_jsonl: {err}");
            }
        }
    }
    if let (false, Some(out)) = (events.is_empty(), out) {
        let _ = out.flush();
    }
}
