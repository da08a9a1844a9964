//! The pod guard's pure parts: which pods are guarded and how.
//!
//! ```text
//! PodGuardSpec (YAML) --check--> PodGuardPolicy --assign(pod, now)--> Assignment (mode bits)
//!                                               --compile_rules-----> CompiledFirewall (by destination)
//! ```
//!
//! Selection: selectors are tried in order and the FIRST whose label selector and namespaces match
//! a pod decides its mode; pods no selector matches are not guarded. A selector's time windows
//! only switch its blocking (block-external, rules) on and off: outside them the pod is still
//! monitored (when `monitor` is on) and stays assigned to that selector.
//!
//! Rules: each rules-mode selector's rules form a rule set (its id is the selector's index),
//! compiled with the firewall's compiler as one synthetic IngressNodeFirewall on the synthetic
//! interface [`rule_set_interface`]`(id)`, one entry per rule (the rule's destination CIDR; its
//! order is its position plus one). The firewall's semantics carry over with "source" read as
//! "destination": the first rule in order whose CIDR, protocol and port (or ICMP type/code) match
//! decides; no match allows.

mod config;
mod selector;
mod window;

pub use config::{
    ConfigProblem, DestinationRule, Mode, PodGuardPolicy, PodGuardSpec, PodSelector, RuleAction,
    RuleSpec, SelectorSpec, WindowSpec,
};
pub use selector::{Selector, SelectorError};
pub use window::{Days, TimeWindow, WindowError, Zone};

use std::collections::BTreeMap;

pub use jiff::Timestamp;

use crate::firewall::compiled::CompiledFirewall;
use crate::firewall::model::{IngressEntry, IngressNodeFirewall, LabelSelector, Rule};
use crate::firewall::{compile, Problem};

/// How one pod is guarded now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Assignment {
    /// Index of the selector that matched (also the pod's rule-set id in rules mode).
    pub selector: usize,
    pub mode: Mode,
    /// Report new connections.
    pub monitor: bool,
    /// Whether the mode's blocking is in force now (inside a window, or no windows).
    pub blocking: bool,
}

impl PodSelector {
    /// Whether this selector picks a pod of `namespace` with `labels`.
    pub fn selects(&self, namespace: &str, labels: &BTreeMap<String, String>) -> bool {
        (self.namespaces.is_empty() || self.namespaces.iter().any(|n| n == namespace))
            && self.selector.matches(labels)
    }

    /// Whether blocking is in force at `now`: always without windows, else inside any window.
    /// Monitor mode never blocks.
    pub fn blocking_at(&self, now: Timestamp) -> bool {
        self.mode != Mode::Monitor
            && (self.windows.is_empty() || self.windows.iter().any(|w| w.contains(now)))
    }
}

impl PodGuardPolicy {
    /// The first selector that picks the pod, and what it means at `now`; `None`: not guarded.
    pub fn assign(
        &self,
        namespace: &str,
        labels: &BTreeMap<String, String>,
        now: Timestamp,
    ) -> Option<Assignment> {
        let (index, s) = self
            .selectors
            .iter()
            .enumerate()
            .find(|(_, s)| s.selects(namespace, labels))?;
        Some(Assignment {
            selector: index,
            mode: s.mode,
            monitor: s.monitor,
            blocking: s.blocking_at(now),
        })
    }

    /// Whether any selector has time windows (assignments then change with the clock).
    pub fn has_windows(&self) -> bool {
        self.selectors.iter().any(|s| !s.windows.is_empty())
    }

    /// The rule sets of every rules-mode selector, compiled (see the module documentation).
    pub fn compile_rules(&self) -> Result<CompiledFirewall, Vec<Problem>> {
        let objects: Vec<IngressNodeFirewall> = self
            .selectors
            .iter()
            .enumerate()
            .filter(|(_, s)| s.mode == Mode::Rules)
            .map(|(id, s)| rule_set_object(id as u32, &s.rules))
            .collect();
        let refs: Vec<&IngressNodeFirewall> = objects.iter().collect();
        compile(&refs, &[])
    }
}

/// The synthetic interface name of rule set `id` (its "ifindex" in the tables is `id`).
pub fn rule_set_interface(id: u32) -> String {
    format!("pgrs{id}")
}

/// The synthetic object name of rule set `id`.
pub fn rule_set_object_name(id: u32) -> String {
    format!("podguard-rules-{id}")
}

/// The rule set `id` named by `object` (a [`rule_set_object_name`]).
pub fn rule_set_of_object(object: &str) -> Option<u32> {
    object.strip_prefix("podguard-rules-")?.parse().ok()
}

/// Rule set `id` as an IngressNodeFirewall: one entry per rule, its destination CIDR as the
/// "source" CIDR, order = position + 1.
pub fn rule_set_object(id: u32, rules: &[DestinationRule]) -> IngressNodeFirewall {
    IngressNodeFirewall {
        name: rule_set_object_name(id),
        source: format!("pod guard selectors[{id}]"),
        node_selector: LabelSelector::default(),
        interfaces: vec![rule_set_interface(id)],
        ingress: rules
            .iter()
            .zip(1u32..)
            .map(|(r, order)| IngressEntry {
                source_cidrs: vec![r.cidr.clone()],
                rules: vec![Rule {
                    order,
                    protocol: r.protocol,
                    action: r.action,
                }],
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests;
