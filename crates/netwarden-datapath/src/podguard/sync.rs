//! Following pods: each pod's interface from its routes, the interface map and the links made to
//! agree with the pods to guard, and what changed reported once.

use super::encode::{modes_text, pod_value};
use super::{classifier, has_tcx, map_err, names, PodGuard, PodGuardError, PodRef, Resolution};
use crate::interfaces;
use aya::maps::PerCpuValues;
use aya::programs::tc::{SchedClassifierLink, TcAttachOptions};
use aya::programs::{LinkOrder, TcAttachType};
use netwarden_bpf::podguard_abi::{PgEventBudget, PgPod, PgPodCounters};
use netwarden_policy::podguard::Assignment;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::net::IpAddr;
use tracing::debug;

/// A pod that should be guarded now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuardedPod {
    pub pod: PodRef,
    /// Its IPs (one per family, usually); each is resolved to a host interface.
    pub ips: Vec<IpAddr>,
    /// How the pod guard's selectors guard it, if one selects it.
    pub assignment: Option<Assignment>,
    /// Judge its connections by network policy (enforce mode), when
    /// [`PodGuard::set_network_policy`] gave it rule sets.
    pub network_policy: bool,
}

/// What a sync changed or found, per pod (only changes since the previous sync are reported).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PodChange {
    /// Newly guarded on `interface` with `modes` (e.g. `monitor+block-external`).
    Guarded {
        pod: PodRef,
        interface: String,
        modes: String,
    },
    /// Still guarded, with other modes, blocking state or interface.
    Changed {
        pod: PodRef,
        interface: String,
        modes: String,
    },
    /// No longer guarded (deselected, gone, or moved off this node).
    Released { pod: PodRef },
    /// Not on this node's pod interfaces.
    NotLocal { pod: PodRef, reason: String },
    /// Its interface could not be found (yet).
    Unresolved { pod: PodRef, reason: String },
    /// Its interface is already guarded for `holder` (first by namespace/name wins).
    Conflict {
        pod: PodRef,
        interface: String,
        holder: PodRef,
    },
    /// Attaching to its interface failed (retried on the next sync).
    AttachFailed {
        pod: PodRef,
        interface: String,
        reason: String,
    },
}

impl fmt::Display for PodChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PodChange::Guarded {
                pod,
                interface,
                modes,
            } => write!(f, "guarding pod {pod} on {interface} ({modes})"),
            PodChange::Changed {
                pod,
                interface,
                modes,
            } => write!(f, "pod {pod} on {interface} now {modes}"),
            PodChange::Released { pod } => write!(f, "released pod {pod}"),
            PodChange::NotLocal { pod, reason } => {
                write!(f, "pod {pod} is not on this node: {reason}")
            }
            PodChange::Unresolved { pod, reason } => {
                write!(f, "pod {pod}: interface not found: {reason}")
            }
            PodChange::Conflict {
                pod,
                interface,
                holder,
            } => write!(
                f,
                "pod {pod}: interface {interface} is already guarded for pod {holder}"
            ),
            PodChange::AttachFailed {
                pod,
                interface,
                reason,
            } => write!(f, "pod {pod}: attaching to {interface}: {reason}"),
        }
    }
}

/// Pod slots: ids name pods in events and index counters. A released id is reused only after
/// every other free id (so late events of a released pod keep its name for a while).
#[derive(Debug, Default)]
pub(super) struct PodIds {
    pub(super) by_pod: BTreeMap<PodRef, u32>,
    /// Every id ever given out, with its (latest) pod.
    pub(super) names: HashMap<u32, PodRef>,
    cursor: u32,
}

impl PodIds {
    /// The pod's id, allocating one (`Ok((id, true))`) when it has none.
    fn get_or_alloc(&mut self, pod: &PodRef, capacity: u32) -> Option<(u32, bool)> {
        if let Some(&id) = self.by_pod.get(pod) {
            return Some((id, false));
        }
        let used: BTreeSet<u32> = self.by_pod.values().copied().collect();
        let id = (0..capacity)
            .map(|i| (self.cursor + i) % capacity)
            .find(|id| !used.contains(id))?;
        self.cursor = (id + 1) % capacity;
        self.by_pod.insert(pod.clone(), id);
        self.names.insert(id, pod.clone());
        Some((id, true))
    }

    fn release(&mut self, pod: &PodRef) {
        self.by_pod.remove(pod);
    }
}

/// A pod's state as last reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Status {
    Guarded(BTreeMap<u32, String>, PgPod),
    NotLocal(String),
    Unresolved(String),
    Conflict(String, PodRef),
    AttachFailed(String, String),
}

pub(super) struct Attached {
    pub(super) name: String,
    // Dropping a link detaches it.
    _links: Vec<SchedClassifierLink>,
}

impl PodGuard {
    /// Makes the kernel guard exactly `pods` (see the module documentation); returns what changed.
    /// Errors of single pods are reported as changes, not returned: the others go on.
    pub fn sync(&mut self, pods: &[GuardedPod]) -> Result<Vec<PodChange>, PodGuardError> {
        self.resolver.begin_round();
        let mut sorted: Vec<&GuardedPod> = pods.iter().collect();
        sorted.sort_by(|a, b| a.pod.cmp(&b.pod));
        sorted.dedup_by(|a, b| a.pod == b.pod);

        let mut status: BTreeMap<PodRef, Status> = BTreeMap::new();
        // ifindex -> (pod, value, interface name)
        let mut desired: BTreeMap<u32, (PodRef, PgPod, String)> = BTreeMap::new();
        for p in &sorted {
            let mut interfaces = BTreeMap::new();
            let mut not_local = None;
            let mut unresolved = None;
            for ip in &p.ips {
                match self.resolver.resolve(*ip) {
                    Resolution::Interface { index, name } => {
                        interfaces.insert(index, name);
                    }
                    Resolution::NotLocal(r) => not_local = Some(r),
                    Resolution::Unresolved(r) => unresolved = Some(r),
                }
            }
            if interfaces.is_empty() {
                let s = match (unresolved, not_local) {
                    (Some(r), _) => Status::Unresolved(r),
                    (None, Some(r)) => Status::NotLocal(r),
                    (None, None) => Status::Unresolved("the pod has no IP".into()),
                };
                status.insert(p.pod.clone(), s);
                continue;
            }
            let policy = if p.network_policy {
                self.policy_scopes_of(&p.pod)
            } else {
                None
            };
            let value = pod_value(p.assignment.as_ref(), policy);
            let mut taken = BTreeMap::new();
            for (index, name) in interfaces {
                if let Some((holder, _, _)) = desired.get(&index) {
                    status.insert(p.pod.clone(), Status::Conflict(name, holder.clone()));
                    continue;
                }
                desired.insert(index, (p.pod.clone(), value, name.clone()));
                taken.insert(index, name);
            }
            if !taken.is_empty() {
                status.insert(p.pod.clone(), Status::Guarded(taken, value));
            }
        }

        // Interfaces no longer guarded, or guarded for another pod: entry and links go.
        let gone: Vec<u32> = self
            .entries
            .iter()
            .filter(|(idx, (pod, _))| desired.get(idx).is_none_or(|(p, _, _)| p != pod))
            .map(|(idx, _)| *idx)
            .collect();
        for idx in gone {
            self.entries.remove(&idx);
            match self.pods.remove(&idx) {
                Ok(()) | Err(aya::maps::MapError::KeyNotFound) => {}
                Err(e) => return Err(map_err(names::PODS)(e)),
            }
        }
        let stale_links: Vec<u32> = self
            .attached
            .keys()
            .filter(|idx| !desired.contains_key(idx))
            .copied()
            .collect();
        for idx in stale_links {
            if let Some(a) = self.attached.remove(&idx) {
                debug!(interface = %a.name, "pod guard detached");
            }
        }
        // Pods guarded nowhere now give their ids back.
        let guarded: BTreeSet<&PodRef> = desired.values().map(|(p, _, _)| p).collect();
        let released: Vec<PodRef> = self
            .ids
            .by_pod
            .keys()
            .filter(|p| !guarded.contains(p))
            .cloned()
            .collect();
        for p in &released {
            self.ids.release(p);
        }

        for (idx, (pod, mut value, name)) in desired {
            let Some((id, fresh)) = self.ids.get_or_alloc(&pod, self.opts.max_pods) else {
                status.insert(
                    pod.clone(),
                    Status::AttachFailed(
                        name,
                        format!("more than {} pods to guard", self.opts.max_pods),
                    ),
                );
                continue;
            };
            if fresh {
                self.zero_slot(id)?;
            }
            value.pod_id = id;
            if !self.attached.contains_key(&idx) {
                if let Err(reason) = self.attach(idx, &name) {
                    status.insert(pod.clone(), Status::AttachFailed(name, reason));
                    continue;
                }
            }
            if self.entries.get(&idx) != Some(&(pod.clone(), value)) {
                if let Err(e) = self.pods.insert(idx, value, 0) {
                    // The map is full (more interfaces than pods it was sized for): this pod
                    // waits, the others go on.
                    self.attached.remove(&idx);
                    status.insert(pod.clone(), Status::AttachFailed(name, e.to_string()));
                    continue;
                }
                self.entries.insert(idx, (pod, value));
            }
        }
        // A pod whose every interface failed is not guarded: release its id.
        let failed: Vec<PodRef> = status
            .iter()
            .filter(|(_, s)| matches!(s, Status::AttachFailed(..)))
            .map(|(p, _)| p.clone())
            .filter(|p| !self.entries.values().any(|(q, _)| q == p))
            .collect();
        for p in failed {
            self.ids.release(&p);
        }

        Ok(self.changes(status))
    }

    /// Changes between the previous statuses and `now`, which become the previous ones.
    fn changes(&mut self, now: BTreeMap<PodRef, Status>) -> Vec<PodChange> {
        let mut out = Vec::new();
        for (pod, s) in &now {
            let before = self.status.get(pod);
            if before == Some(s) {
                continue;
            }
            let pod = pod.clone();
            let was_guarded = matches!(before, Some(Status::Guarded(..)));
            let change = match s {
                Status::Guarded(ifaces, value) => {
                    let interface = ifaces.values().cloned().collect::<Vec<_>>().join(",");
                    let modes = modes_text(value);
                    if was_guarded {
                        PodChange::Changed {
                            pod,
                            interface,
                            modes,
                        }
                    } else {
                        PodChange::Guarded {
                            pod,
                            interface,
                            modes,
                        }
                    }
                }
                Status::NotLocal(reason) => PodChange::NotLocal {
                    pod,
                    reason: reason.clone(),
                },
                Status::Unresolved(reason) => PodChange::Unresolved {
                    pod,
                    reason: reason.clone(),
                },
                Status::Conflict(interface, holder) => PodChange::Conflict {
                    pod,
                    interface: interface.clone(),
                    holder: holder.clone(),
                },
                Status::AttachFailed(interface, reason) => PodChange::AttachFailed {
                    pod,
                    interface: interface.clone(),
                    reason: reason.clone(),
                },
            };
            if was_guarded && !matches!(s, Status::Guarded(..)) {
                if let PodChange::NotLocal { pod, .. }
                | PodChange::Unresolved { pod, .. }
                | PodChange::Conflict { pod, .. }
                | PodChange::AttachFailed { pod, .. } = &change
                {
                    out.push(PodChange::Released { pod: pod.clone() });
                }
            }
            out.push(change);
        }
        for (pod, s) in &self.status {
            if !now.contains_key(pod) && matches!(s, Status::Guarded(..)) {
                out.push(PodChange::Released { pod: pod.clone() });
            }
        }
        self.status = now;
        out
    }

    fn zero_slot(&mut self, id: u32) -> Result<(), PodGuardError> {
        let cpus = aya::util::nr_cpus().map_err(|(_, e)| PodGuardError::Io(e))?;
        let zero = PerCpuValues::try_from(vec![PgPodCounters::default(); cpus])
            .map_err(|e| PodGuardError::Io(std::io::Error::other(e.to_string())))?;
        self.pod_counters
            .set(id, zero, 0)
            .map_err(map_err(names::POD_COUNTERS))?;
        let zero = PerCpuValues::try_from(vec![PgEventBudget::default(); cpus])
            .map_err(|e| PodGuardError::Io(std::io::Error::other(e.to_string())))?;
        self.budgets
            .set(id, zero, 0)
            .map_err(map_err(names::EVENT_BUDGET))
    }

    /// Attaches both programs to interface `index` (named `name`), first in its tcx chains so
    /// the CNI's programs cannot bypass the guard.
    fn attach(&mut self, index: u32, name: &str) -> Result<(), String> {
        let tcx = has_tcx();
        if !tcx {
            if let Err(e) = aya::programs::tc::qdisc_add_clsact(name) {
                debug!(interface = name, "clsact qdisc: {e}");
            }
        }
        let mut links = Vec::with_capacity(2);
        for (prog_name, attach_type) in [
            (names::INGRESS, TcAttachType::Ingress),
            (names::EGRESS, TcAttachType::Egress),
        ] {
            let prog = classifier(&mut self.ebpf, prog_name).map_err(|e| e.to_string())?;
            let id = if tcx {
                prog.attach_with_options(
                    name,
                    attach_type,
                    TcAttachOptions::TcxOrder(LinkOrder::first()),
                )
            } else {
                prog.attach(name, attach_type)
            }
            .map_err(|e| e.to_string())?;
            links.push(prog.take_link(id).map_err(|e| e.to_string())?);
        }
        // The name may have passed to another interface between resolving and attaching.
        if interfaces::index_of(name) != Some(index) {
            return Err("the interface was replaced while attaching".into());
        }
        debug!(interface = name, ifindex = index, "pod guard attached");
        self.ifnames.insert(index, name.to_string());
        self.attached.insert(
            index,
            Attached {
                name: name.to_string(),
                _links: links,
            },
        );
        Ok(())
    }

    /// The pods among `pods` with an IP routed to a local pod interface (what enforce mode
    /// compiles network policies for).
    pub fn local_pods(&mut self, pods: &[GuardedPod]) -> BTreeSet<PodRef> {
        self.resolver.begin_round();
        pods.iter()
            .filter(|p| {
                p.ips
                    .iter()
                    .any(|ip| matches!(self.resolver.resolve(*ip), Resolution::Interface { .. }))
            })
            .map(|p| p.pod.clone())
            .collect()
    }

    /// Interfaces the programs are attached to, by index.
    pub fn attached_interfaces(&self) -> BTreeMap<u32, String> {
        self.attached
            .iter()
            .map(|(i, a)| (*i, a.name.clone()))
            .collect()
    }

    /// Removes every entry and detaches everything.
    pub fn detach_all(&mut self) {
        for idx in std::mem::take(&mut self.entries).into_keys() {
            let _ = self.pods.remove(&idx);
        }
        self.attached.clear();
        self.status.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(name: &str) -> PodRef {
        PodRef {
            namespace: "ns".into(),
            name: name.into(),
        }
    }

    #[test]
    fn ids_are_not_reused_at_once() {
        let mut ids = PodIds::default();
        assert_eq!(ids.get_or_alloc(&pod("a"), 3), Some((0, true)));
        assert_eq!(ids.get_or_alloc(&pod("b"), 3), Some((1, true)));
        assert_eq!(ids.get_or_alloc(&pod("a"), 3), Some((0, false)));
        ids.release(&pod("a"));
        // The cursor moves on: 2 first, then 0 again.
        assert_eq!(ids.get_or_alloc(&pod("c"), 3), Some((2, true)));
        assert_eq!(ids.get_or_alloc(&pod("d"), 3), Some((0, true)));
        assert_eq!(ids.get_or_alloc(&pod("e"), 3), None);
        // The released pod's name stays until its id is given out again.
        assert_eq!(ids.names.get(&0), Some(&pod("d")));
        assert_eq!(ids.names.get(&1), Some(&pod("b")));
    }
}
