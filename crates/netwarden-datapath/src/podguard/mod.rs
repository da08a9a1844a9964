//! The pod guard: the tcx programs of `bpf/podguard.bpf.c` on the host side of selected pods'
//! interfaces, one map entry per interface saying how its pod is guarded, the cluster ranges,
//! the pods' rule sets (the firewall's compiled tables, by destination), events and counters.
//!
//! [`PodGuard::sync`] takes the pods that should be guarded (namespace, name, IPs and an
//! [`Assignment`](netwarden_policy::podguard::Assignment)) and makes the kernel agree: each pod's
//! interface is found from the route to its IP (see [`resolve`]); pods new to an interface get the
//! programs attached; pods whose mode, window or IP changed only get their map entry rewritten;
//! released pods lose their entry and their links. Nothing else is touched, so a sync a second
//! follows a node's pods without disturbing the rest.
//!
//! Nothing is pinned: the guard's links detach when the [`PodGuard`] is dropped (or the process
//! ends).

mod encode;
mod events;
mod netlink;
pub mod resolve;
mod sync;

pub use encode::{cluster_key, modes_text, pod_value};
pub use events::{protocol_name, PodGuardEvent, PodRef, Verdict};
pub use resolve::{Resolution, Resolver};
pub use sync::{GuardedPod, PodChange};

use sync::{Attached, PodIds, Status};

use aya::maps::lpm_trie::{Key, LpmTrie};
use aya::maps::{Array, HashMap as BpfHashMap, Map, MapData, PerCpuArray, RingBuf};
use aya::programs::SchedClassifier;
use aya::{Ebpf, EbpfLoader};
use netwarden_bpf::firewall_abi::{FwLpmData, FwRegion, FwTable, FwTableKey, SCOPE_GEN};
use netwarden_bpf::podguard_abi::{
    PgCidrData, PgConfig, PgCounter, PgEvent, PgEventBudget, PgPod, PgPodCounters, STATE_GEN,
};
use netwarden_bpf::podguard_names as names;
use netwarden_policy::firewall::compiled::CompiledFirewall;
use netwarden_policy::firewall::model::Cidr;
use netwarden_policy::firewall::Problem;
use netwarden_policy::netpol::{DirectionVerdict, Enforcement};
use netwarden_policy::podguard::{rule_set_of_object, PodGuardPolicy};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::os::fd::{AsFd, AsRawFd};
use std::time::Duration;

/// Sizes and rates; every field has a default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodGuardOptions {
    /// Blocked-packet events per pod per CPU per second.
    pub events_per_sec: u32,
    /// A connection idle this long is reported again when it resumes.
    pub connection_idle: Duration,
    /// Pods guarded at once (interfaces, counters).
    pub max_pods: u32,
    /// Connections remembered (least recently used make room).
    pub max_connections: u32,
}

impl Default for PodGuardOptions {
    fn default() -> Self {
        Self {
            events_per_sec: 100,
            connection_idle: Duration::from_secs(120),
            max_pods: 4096,
            max_connections: 65536,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PodGuardError {
    #[error("the pod guard needs root (CAP_BPF, CAP_NET_ADMIN): run it as root")]
    NotRoot,
    #[error("loading the pod guard programs: {0}")]
    Load(#[from] aya::EbpfError),
    #[error("pod guard program {name}: {source}")]
    Program {
        name: &'static str,
        source: aya::programs::ProgramError,
    },
    #[error("pod guard map {name}: {source}")]
    Map {
        name: &'static str,
        source: aya::maps::MapError,
    },
    #[error("the pod guard object has no {0}")]
    Missing(&'static str),
    #[error("the pod guard's rules do not compile:\n{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Rules(Vec<Problem>),
    #[error("{what}: {needed} needed, at most {capacity}")]
    Capacity {
        what: &'static str,
        needed: usize,
        capacity: usize,
    },
    #[error("routing (netlink): {0}")]
    Netlink(std::io::Error),
    #[error("{0}")]
    Io(std::io::Error),
}

fn map_err(name: &'static str) -> impl FnOnce(aya::maps::MapError) -> PodGuardError {
    move |source| PodGuardError::Map { name, source }
}

/// Counters of one pod, summed over CPUs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PodTotals {
    pub allowed_packets: u64,
    pub allowed_bytes: u64,
    pub blocked_packets: u64,
    pub blocked_bytes: u64,
    pub new_connections: u64,
    /// Dropped by network policy, both directions (enforce mode).
    pub policy_dropped_packets: u64,
    pub policy_dropped_bytes: u64,
}

/// Network-policy rule sets get scopes from here up (the guard's own rule sets are numbered by
/// selector, far below); scopes must stay under the generation and family bits.
const POLICY_SCOPE_BASE: u32 = 1 << 20;
const POLICY_SCOPE_END: u32 = 1 << 29;

/// The pod guard's own rule sets as last compiled.
#[derive(Debug, Default)]
struct GuardRules {
    compiled: CompiledFirewall,
    /// Synthetic interface name -> scope (the selector's index).
    scopes: BTreeMap<String, u32>,
    /// Slot -> the rule as users wrote it.
    names: HashMap<u32, String>,
}

/// The loaded pod guard and everything attached to it.
pub struct PodGuard {
    // Links first: they go before the programs.
    attached: BTreeMap<u32, Attached>,
    ebpf: Ebpf,
    config: Array<MapData, PgConfig>,
    pods: BpfHashMap<MapData, u32, PgPod>,
    cluster: LpmTrie<MapData, PgCidrData, u32>,
    rule_prefixes: LpmTrie<MapData, FwLpmData, FwRegion>,
    rule_tables: BpfHashMap<MapData, FwTableKey, FwTable>,
    pod_counters: PerCpuArray<MapData, PgPodCounters>,
    budgets: PerCpuArray<MapData, PgEventBudget>,
    counters: PerCpuArray<MapData, u64>,
    ring: RingBuf<MapData>,
    resolver: Resolver,
    opts: PodGuardOptions,
    cfg: PgConfig,
    ids: PodIds,
    /// What the interface map holds: ifindex -> (pod, value).
    entries: BTreeMap<u32, (PodRef, PgPod)>,
    status: BTreeMap<PodRef, Status>,
    cluster_keys: BTreeSet<(u32, PgCidrData)>,
    guard_rules: GuardRules,
    /// Network policies in force (enforce mode), and the scope of each rule set ever written
    /// (kept, so a pod's entry always names its own tables across updates).
    netpol: Option<Enforcement>,
    policy_scopes: HashMap<String, u32>,
    /// Kernel slot of network-policy decision 0 (they follow the guard's rules).
    netpol_offset: u32,
    rules_applied: bool,
    ifnames: HashMap<u32, String>,
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

fn take(ebpf: &mut Ebpf, name: &'static str) -> Result<Map, PodGuardError> {
    ebpf.take_map(name).ok_or(PodGuardError::Missing(name))
}

fn classifier<'a>(
    ebpf: &'a mut Ebpf,
    name: &'static str,
) -> Result<&'a mut SchedClassifier, PodGuardError> {
    ebpf.program_mut(name)
        .ok_or(PodGuardError::Missing(name))?
        .try_into()
        .map_err(|source| PodGuardError::Program { name, source })
}

/// Whether this kernel has tcx (6.6+).
fn has_tcx() -> bool {
    aya::util::KernelVersion::current().is_ok_and(|v| v >= aya::util::KernelVersion::new(6, 6, 0))
}

fn clock_ns(clock: libc::clockid_t) -> i128 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime fills the timespec we own.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    i128::from(ts.tv_sec) * 1_000_000_000 + i128::from(ts.tv_nsec)
}

impl PodGuard {
    /// Loads the programs (nothing is attached until [`PodGuard::sync`]). Resolution uses the
    /// calling thread's network namespace, now and on every sync.
    pub fn load(opts: &PodGuardOptions) -> Result<Self, PodGuardError> {
        if !is_root() {
            return Err(PodGuardError::NotRoot);
        }
        if opts.max_pods == 0 || opts.max_connections == 0 || opts.events_per_sec == 0 {
            return Err(PodGuardError::Capacity {
                what: "pods, connections and events per second",
                needed: 1,
                capacity: 0,
            });
        }
        let mut ebpf = EbpfLoader::new()
            .map_max_entries(names::PODS, opts.max_pods)
            .map_max_entries(names::POD_COUNTERS, opts.max_pods)
            .map_max_entries(names::EVENT_BUDGET, opts.max_pods)
            .map_max_entries(names::CONNS, opts.max_connections)
            .load(netwarden_bpf::PODGUARD_OBJECT)?;
        for name in [names::INGRESS, names::EGRESS] {
            classifier(&mut ebpf, name)?
                .load()
                .map_err(|source| PodGuardError::Program { name, source })?;
        }
        let config =
            Array::try_from(take(&mut ebpf, names::CONFIG)?).map_err(map_err(names::CONFIG))?;
        let pods =
            BpfHashMap::try_from(take(&mut ebpf, names::PODS)?).map_err(map_err(names::PODS))?;
        let cluster =
            LpmTrie::try_from(take(&mut ebpf, names::CLUSTER)?).map_err(map_err(names::CLUSTER))?;
        let rule_prefixes = LpmTrie::try_from(take(&mut ebpf, names::RULE_PREFIXES)?)
            .map_err(map_err(names::RULE_PREFIXES))?;
        let rule_tables = BpfHashMap::try_from(take(&mut ebpf, names::RULE_TABLES)?)
            .map_err(map_err(names::RULE_TABLES))?;
        let pod_counters = PerCpuArray::try_from(take(&mut ebpf, names::POD_COUNTERS)?)
            .map_err(map_err(names::POD_COUNTERS))?;
        let budgets = PerCpuArray::try_from(take(&mut ebpf, names::EVENT_BUDGET)?)
            .map_err(map_err(names::EVENT_BUDGET))?;
        let counters = PerCpuArray::try_from(take(&mut ebpf, names::COUNTERS)?)
            .map_err(map_err(names::COUNTERS))?;
        let ring =
            RingBuf::try_from(take(&mut ebpf, names::EVENTS)?).map_err(map_err(names::EVENTS))?;
        let resolver = Resolver::new().map_err(PodGuardError::Netlink)?;
        let cfg = PgConfig {
            state: 0,
            events_per_sec: opts.events_per_sec,
            conn_idle_ns: u64::try_from(opts.connection_idle.as_nanos()).unwrap_or(u64::MAX),
        };
        let mut guard = PodGuard {
            attached: BTreeMap::new(),
            ebpf,
            config,
            pods,
            cluster,
            rule_prefixes,
            rule_tables,
            pod_counters,
            budgets,
            counters,
            ring,
            resolver,
            opts: opts.clone(),
            cfg,
            ids: PodIds::default(),
            entries: BTreeMap::new(),
            status: BTreeMap::new(),
            cluster_keys: BTreeSet::new(),
            guard_rules: GuardRules::default(),
            netpol: None,
            policy_scopes: HashMap::new(),
            netpol_offset: 0,
            rules_applied: false,
            ifnames: HashMap::new(),
        };
        guard.write_config()?;
        Ok(guard)
    }

    fn write_config(&mut self) -> Result<(), PodGuardError> {
        self.config
            .set(0, self.cfg, 0)
            .map_err(map_err(names::CONFIG))
    }

    /// Puts the policy's cluster ranges and rule sets in force (see
    /// [`PodGuard::set_cluster_cidrs`] and [`PodGuard::set_rules`]).
    pub fn apply_policy(&mut self, policy: &PodGuardPolicy) -> Result<(), PodGuardError> {
        self.set_cluster_cidrs(&policy.cluster_cidrs)?;
        self.set_rules(policy)
    }

    /// Makes `cidrs` the cluster ranges: new ones are added before old ones go.
    pub fn set_cluster_cidrs(&mut self, cidrs: &[Cidr]) -> Result<(), PodGuardError> {
        let wanted: BTreeSet<(u32, PgCidrData)> = cidrs.iter().map(cluster_key).collect();
        for (len, data) in wanted.difference(&self.cluster_keys) {
            self.cluster
                .insert(&Key::new(*len, *data), 1, 0)
                .map_err(map_err(names::CLUSTER))?;
        }
        for (len, data) in self.cluster_keys.difference(&wanted) {
            self.cluster
                .remove(&Key::new(*len, *data))
                .map_err(map_err(names::CLUSTER))?;
        }
        self.cluster_keys = wanted;
        Ok(())
    }

    /// Compiles the rule sets of the policy's rules-mode selectors and puts them in force in one
    /// step (the tables of the other generation are written, then the generation flips).
    pub fn set_rules(&mut self, policy: &PodGuardPolicy) -> Result<(), PodGuardError> {
        let compiled = policy.compile_rules().map_err(PodGuardError::Rules)?;
        let names: HashMap<u32, String> = compiled
            .rules
            .iter()
            .enumerate()
            .filter_map(|(slot, r)| {
                let set = rule_set_of_object(&r.object)? as usize;
                let index = r.order.checked_sub(1)? as usize;
                let rule = policy.selectors.get(set)?.rules.get(index)?;
                Some((
                    slot as u32,
                    format!("selectors[{set}].rules[{index}]: {rule}"),
                ))
            })
            .collect();
        let scopes: BTreeMap<String, u32> = compiled
            .rules
            .iter()
            .filter_map(|r| Some((r.interface.clone(), rule_set_of_object(&r.object)?)))
            .collect();
        let previous = std::mem::replace(
            &mut self.guard_rules,
            GuardRules {
                compiled,
                scopes,
                names,
            },
        );
        self.write_rules()
            .inspect_err(|_| self.guard_rules = previous)
    }

    /// Puts network policies in force (enforce mode) for the pods of `enforcement`, in one step
    /// with the pod guard's own rules; `None` stops enforcing. Pods are judged by their rule sets
    /// once a sync marks them ([`GuardedPod::network_policy`]); a pod that has none here is not
    /// judged by policy. Connections already open stay open.
    pub fn set_network_policy(
        &mut self,
        enforcement: Option<Enforcement>,
    ) -> Result<(), PodGuardError> {
        if let Some(e) = &enforcement {
            for pod in &e.pods {
                for set in [&pod.egress, &pod.ingress] {
                    if !self.policy_scopes.contains_key(set) {
                        let id = POLICY_SCOPE_BASE + self.policy_scopes.len() as u32;
                        if id >= POLICY_SCOPE_END {
                            return Err(PodGuardError::Capacity {
                                what: "network-policy rule sets",
                                needed: self.policy_scopes.len() + 1,
                                capacity: (POLICY_SCOPE_END - POLICY_SCOPE_BASE) as usize,
                            });
                        }
                        self.policy_scopes.insert(set.clone(), id);
                    }
                }
            }
        }
        let previous = std::mem::replace(&mut self.netpol, enforcement);
        self.write_rules().inspect_err(|_| self.netpol = previous)
    }

    /// The policy rule-set scopes of a pod, when network policy is in force for it.
    fn policy_scopes_of(&self, pod: &PodRef) -> Option<(u32, u32)> {
        let e = self.netpol.as_ref()?;
        let p = e
            .pods
            .binary_search_by(|p| {
                (p.namespace.as_str(), p.name.as_str())
                    .cmp(&(pod.namespace.as_str(), pod.name.as_str()))
            })
            .ok()
            .and_then(|i| e.pods.get(i))?;
        Some((
            *self.policy_scopes.get(&p.egress)?,
            *self.policy_scopes.get(&p.ingress)?,
        ))
    }

    /// Writes the guard's rule sets and the network-policy rule sets into the idle generation of
    /// the tables, then flips the generation.
    fn write_rules(&mut self) -> Result<(), PodGuardError> {
        let mut compiled = self.guard_rules.compiled.clone();
        let mut scopes = self.guard_rules.scopes.clone();
        let offset = match &self.netpol {
            Some(e) => {
                scopes.extend(
                    self.policy_scopes
                        .iter()
                        .map(|(name, id)| (name.clone(), *id)),
                );
                compiled.append(&e.tables)
            }
            None => compiled.rules.len() as u32,
        };
        const MAX_SLOTS: usize = 1 << 24;
        if compiled.rules.len() > MAX_SLOTS {
            return Err(PodGuardError::Capacity {
                what: "pod guard rules and network-policy decisions",
                needed: compiled.rules.len(),
                capacity: MAX_SLOTS,
            });
        }
        let slots: Vec<u32> = (0..compiled.rules.len() as u32).collect();
        let gen = if self.rules_applied {
            (self.cfg.state & STATE_GEN) ^ 1
        } else {
            0
        };
        let entries = crate::firewall::encode(&compiled, &scopes, &slots, gen);
        self.clear_rule_generation(gen)?;
        for (len, data, region) in &entries.prefixes {
            self.rule_prefixes
                .insert(&Key::new(*len, *data), region, 0)
                .map_err(map_err(names::RULE_PREFIXES))?;
        }
        for (key, table) in &entries.tables {
            self.rule_tables
                .insert(key, table, 0)
                .map_err(map_err(names::RULE_TABLES))?;
        }
        self.cfg.state = (self.cfg.state & !STATE_GEN) | gen;
        self.write_config()?;
        self.rules_applied = true;
        self.netpol_offset = offset;
        Ok(())
    }

    fn clear_rule_generation(&mut self, gen: u32) -> Result<(), PodGuardError> {
        let stale: Vec<Key<FwLpmData>> = self
            .rule_prefixes
            .keys()
            .filter_map(Result::ok)
            .filter(|k| (k.data().scope & SCOPE_GEN != 0) == (gen != 0))
            .collect();
        for k in stale {
            self.rule_prefixes
                .remove(&k)
                .map_err(map_err(names::RULE_PREFIXES))?;
        }
        let stale: Vec<FwTableKey> = self
            .rule_tables
            .keys()
            .filter_map(Result::ok)
            .filter(|k| u32::from(k.gen) == gen)
            .collect();
        for k in stale {
            self.rule_tables
                .remove(&k)
                .map_err(map_err(names::RULE_TABLES))?;
        }
        Ok(())
    }

    /// Waits up to `timeout` for events and returns every one available.
    pub fn poll_events(&mut self, timeout: Duration) -> Vec<PodGuardEvent> {
        let mut raw = self.drain();
        if raw.is_empty() {
            let mut pfd = libc::pollfd {
                fd: self.ring.as_fd().as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
            // SAFETY: one valid pollfd; EINTR just ends the wait early.
            unsafe { libc::poll(&mut pfd, 1, ms) };
            raw = self.drain();
        }
        if raw.is_empty() {
            return Vec::new();
        }
        let offset = clock_ns(libc::CLOCK_REALTIME) - clock_ns(libc::CLOCK_MONOTONIC);
        raw.iter()
            .map(|e| PodGuardEvent::decode(e, &*self, offset))
            .collect()
    }

    fn drain(&mut self) -> Vec<PgEvent> {
        let mut out = Vec::new();
        while let Some(item) = self.ring.next() {
            if let Some(e) = netwarden_bpf::abi::read_pod::<PgEvent>(&item) {
                out.push(e);
            }
        }
        out
    }

    /// Counters of every pod guarded now.
    pub fn pod_counters(&self) -> Result<BTreeMap<PodRef, PodTotals>, PodGuardError> {
        let mut out = BTreeMap::new();
        for (pod, id) in &self.ids.by_pod {
            let v = self
                .pod_counters
                .get(id, 0)
                .map_err(map_err(names::POD_COUNTERS))?;
            let mut t = PodTotals::default();
            for c in v.iter() {
                t.allowed_packets += c.allowed_packets;
                t.allowed_bytes += c.allowed_bytes;
                t.blocked_packets += c.blocked_packets;
                t.blocked_bytes += c.blocked_bytes;
                t.new_connections += c.new_connections;
                t.policy_dropped_packets += c.policy_dropped_packets;
                t.policy_dropped_bytes += c.policy_dropped_bytes;
            }
            out.insert(pod.clone(), t);
        }
        Ok(out)
    }

    /// The global counters by name (`always_pass_packets`, `unparsed_packets`, `events_lost`,
    /// `events_suppressed`), summed over CPUs.
    pub fn counters(&self) -> Result<BTreeMap<&'static str, u64>, PodGuardError> {
        let mut out = BTreeMap::new();
        for c in PgCounter::ALL {
            let v = self
                .counters
                .get(&(c as u32), 0)
                .map_err(map_err(names::COUNTERS))?;
            out.insert(counter_name(c), v.iter().sum());
        }
        Ok(out)
    }
}

impl events::Names for PodGuard {
    fn pod(&self, pod_id: u32) -> Option<&PodRef> {
        self.ids.names.get(&pod_id)
    }

    fn interface(&self, ifindex: u32) -> String {
        self.ifnames
            .get(&ifindex)
            .cloned()
            .unwrap_or_else(|| format!("if{ifindex}"))
    }

    fn rule(&self, slot: u32) -> Option<String> {
        self.guard_rules.names.get(&slot).cloned()
    }

    fn policy_decision(&self, slot: u32) -> Option<&DirectionVerdict> {
        let index = slot.checked_sub(self.netpol_offset)?;
        self.netpol.as_ref()?.decisions.get(index as usize)
    }
}

/// Snake-case names of the global counters.
pub fn counter_name(c: PgCounter) -> &'static str {
    match c {
        PgCounter::AlwaysPass => "always_pass_packets",
        PgCounter::Unparsed => "unparsed_packets",
        PgCounter::EventsLost => "events_lost",
        PgCounter::EventsSuppressed => "events_suppressed",
    }
}
