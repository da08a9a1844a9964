//! The agent's firewall: applies the objects of the configured files, re-applies when a file changes
//! or an interface the rules name appears or is re-created, and reports drop events. An invalid
//! update is rejected whole and logged; the rules in force stay.

use super::config::FirewallSection;
use crate::fw::rules::{build_for, host_name};
use anyhow::Context;
use netwarden_datapath::firewall::{
    ApplyOptions, Capacity, EventReader, Firewall, FirewallCounters, FirewallEvent, FirewallPaths,
    FirewallState,
};
use netwarden_policy::firewall::{NodeIdentity, ProtectedService, Severity};
use prometheus_client::metrics::counter::Counter;
use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tracing::{error, info, warn};

/// How often files and interfaces are checked.
const CHECK_EVERY: Duration = Duration::from_secs(1);

/// What a build depended on: the rule files' contents and the named interfaces' indexes.
#[derive(Debug, PartialEq, Eq)]
struct Inputs {
    files: Vec<Vec<u8>>,
    interfaces: BTreeMap<String, Option<u32>>,
}

pub struct AgentFirewall {
    fw: Firewall,
    section: FirewallSection,
    paths: FirewallPaths,
    node: NodeIdentity,
    protected: Vec<ProtectedService>,
    events: EventReader,
    events_out: Option<std::io::BufWriter<std::fs::File>>,
    /// Where the API reads recent drop events, when it runs.
    shared_events: Option<Arc<Mutex<crate::api::EventLog>>>,
    /// What the last build looked at.
    seen: Option<Inputs>,
    interfaces_named: Vec<String>,
    next_check: Instant,
    ifnames: HashMap<u32, String>,
    state: Option<FirewallState>,
    pub apply_errors: Counter,
}

impl AgentFirewall {
    /// Opens the firewall and applies the configured files. Configuration mistakes (no file, bad
    /// node labels) are errors; mistakes inside the objects are logged and leave the rules in force.
    pub fn start(section: &FirewallSection) -> anyhow::Result<Self> {
        if section.rules.is_empty() {
            anyhow::bail!("firewall.rules: no file given (firewall.enabled is true)");
        }
        let node = NodeIdentity {
            name: match &section.node_name {
                Some(n) => n.clone(),
                None => host_name()?,
            },
            labels: section.node_labels.clone(),
        };
        let protected = match &section.protected {
            None => ProtectedService::defaults(),
            Some(text) => ProtectedService::parse_list(text)
                .map_err(|e| anyhow::anyhow!("firewall.protected {text:?}: {e}"))?,
        };
        let paths = FirewallPaths {
            pin_dir: section.pin_dir.clone(),
            state_dir: section.state_dir.clone(),
        };
        let fw = Firewall::open(&paths, Capacity::default()).context("firewall")?;
        let events = EventReader::open(&paths)?;
        let events_out = match &section.events_jsonl {
            None => None,
            Some(p) => Some(std::io::BufWriter::new(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(p)
                    .with_context(|| format!("firewall.events_jsonl {}", p.display()))?,
            )),
        };
        let mut me = Self {
            fw,
            section: section.clone(),
            paths,
            node,
            protected,
            events,
            events_out,
            shared_events: None,
            seen: None,
            interfaces_named: Vec::new(),
            next_check: Instant::now(),
            ifnames: HashMap::new(),
            state: None,
            apply_errors: Counter::default(),
        };
        me.check();
        Ok(me)
    }

    pub fn paths(&self) -> &FirewallPaths {
        &self.paths
    }

    /// Called often by the run loop: checks files and interfaces once a second, drains events
    /// every time.
    pub fn tick(&mut self) {
        if Instant::now() >= self.next_check {
            self.check();
            self.next_check = Instant::now() + CHECK_EVERY;
        }
        self.drain_events();
    }

    fn snapshot(&self) -> Inputs {
        let files = self
            .section
            .rules
            .iter()
            .map(|f| std::fs::read(f).unwrap_or_default())
            .collect();
        let interfaces = self
            .interfaces_named
            .iter()
            .map(|n| (n.clone(), netwarden_datapath::interfaces::index_of(n)))
            .collect();
        Inputs { files, interfaces }
    }

    fn check(&mut self) {
        let now = self.snapshot();
        if self.seen.as_ref() == Some(&now) {
            return;
        }
        self.seen = Some(now);
        if let Err(e) = self.rebuild() {
            self.apply_errors.inc();
            error!("firewall update rejected, the rules in force stay: {e:#}");
        }
        // The build may name other interfaces: remember what it saw with them.
        self.seen = Some(self.snapshot());
    }

    fn rebuild(&mut self) -> anyhow::Result<()> {
        let built = build_for(&self.section.rules, &self.node, &self.protected)?;
        for note in &built.notes {
            info!("firewall: {note}");
        }
        for p in &built.problems {
            match p.severity {
                Severity::Error => error!("firewall: {p}"),
                Severity::Warning => warn!("firewall: {p}"),
            }
        }
        let compiled = built.require_valid()?;
        self.interfaces_named = compiled.interfaces.clone();
        let report = self.fw.apply(
            compiled,
            &ApplyOptions {
                audit: self.section.audit,
                events_per_sec: self.section.events_per_sec,
                source: "agent".into(),
            },
        )?;
        if report.changed {
            info!(
                rules = report.rules,
                attached = ?report.attached,
                absent = ?report.absent,
                "firewall: {}",
                built.summary()
            );
        }
        self.state = FirewallState::read(&self.paths.state_dir).ok().flatten();
        Ok(())
    }

    /// Keeps the firewall's drop events in `log` too (for the API).
    pub fn share_events(&mut self, log: Arc<Mutex<crate::api::EventLog>>) {
        self.shared_events = Some(log);
    }

    /// The rules with their counters as JSON, read from the pinned state and maps on each call.
    pub fn rules_source(&self) -> crate::api::RulesSource {
        let paths = self.paths.clone();
        Arc::new(move || {
            let Some(state) = FirewallState::read(&paths.state_dir)? else {
                return Ok(serde_json::json!([]));
            };
            let counters = FirewallCounters::read(&paths, &state)?;
            Ok(serde_json::Value::Array(
                state
                    .rules
                    .iter()
                    .map(|r| {
                        let c = counters.rules.get(&r.slot).copied().unwrap_or_default();
                        serde_json::json!({
                            "object": r.object, "interface": r.interface, "cidr": r.cidr,
                            "order": r.order, "action": r.action, "protocol": r.protocol,
                            "selector": r.selector,
                            "packets": c.allow_packets + c.deny_packets,
                            "bytes": c.allow_bytes + c.deny_bytes,
                            "allow_packets": c.allow_packets, "deny_packets": c.deny_packets,
                        })
                    })
                    .collect(),
            ))
        })
    }

    fn drain_events(&mut self) {
        let batch = self.events.poll(Duration::ZERO);
        if batch.is_empty() {
            return;
        }
        if batch.iter().any(|e| !self.ifnames.contains_key(&e.ifindex)) {
            if let Ok(m) = netwarden_datapath::interfaces::list() {
                self.ifnames = m.into_iter().collect();
            }
        }
        for e in &batch {
            let ev = FirewallEvent::decode(e, self.state.as_ref(), &self.ifnames);
            if self.section.log_events {
                info!("firewall: {}", ev.text_lines().join(" / "));
            }
            if let Some(log) = &self.shared_events {
                if let Ok(v) = serde_json::to_value(&ev) {
                    log.lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push_firewall(v);
                }
            }
            if let Some(out) = &mut self.events_out {
                let line = serde_json::to_string(&ev).unwrap_or_default();
                if let Err(e) = writeln!(out, "{line}") {
                    warn!("firewall.events_jsonl: {e}");
                }
            }
        }
        if let Some(out) = &mut self.events_out {
            let _ = out.flush();
        }
    }
}
