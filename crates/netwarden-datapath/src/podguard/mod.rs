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
use netwarden_policy::firewall::model::Cidr;
use netwarden_policy::firewall::Problem;
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
    rule_names: HashMap<u32, String>,
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
            rule_names: HashMap::new(),
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
        const MAX_SLOTS: usize = 1 << 24;
        if compiled.rules.len() > MAX_SLOTS {
            return Err(PodGuardError::Capacity {
                what: "pod guard rules",
                needed: compiled.rules.len(),
                capacity: MAX_SLOTS,
            });
        }
        let scopes: BTreeMap<String, u32> = compiled
            .rules
            .iter()
            .filter_map(|r| Some((r.interface.clone(), rule_set_of_object(&r.object)?)))
            .collect();
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
        self.rule_names = compiled
            .rules
            .iter()
            .zip(&slots)
            .filter_map(|(r, slot)| {
                let set = rule_set_of_object(&r.object)? as usize;
                let index = r.order.checked_sub(1)? as usize;
                let rule = policy.selectors.get(set)?.rules.get(index)?;
                Some((*slot, format!("selectors[{set}].rules[{index}]: {rule}")))
            })
            .collect();
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
        self.rule_names.get(&slot).cloned()
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
