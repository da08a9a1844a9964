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

pub use encode::{cluster_key, modes_text, pod_value, policy_entries, PolicyEntries};
pub use events::{protocol_name, PodGuardEvent, PodRef, Verdict};
pub use resolve::{Resolution, Resolver};
pub use sync::{GuardedPod, PodChange};

use sync::{Attached, PodIds, Status};

use aya::maps::lpm_trie::{Key, LpmTrie};
use aya::maps::{Array, HashMap as BpfHashMap, Map, MapData, PerCpuArray, RingBuf};
use aya::programs::SchedClassifier;
use aya::{Ebpf, EbpfLoader};
use netwarden_bpf::firewall_abi::{FwLpmData, FwRegion, FwTable, FwTableKey};
use netwarden_bpf::podguard_abi::{
    PgCidrData, PgConfig, PgCounter, PgEvent, PgEventBudget, PgNpKey, PgPod, PgPodCounters,
    PgSetKey, STATE_GEN,
};
use netwarden_bpf::podguard_names as names;
use netwarden_policy::firewall::compiled::CompiledFirewall;
use netwarden_policy::firewall::model::Cidr;
use netwarden_policy::firewall::Problem;
use netwarden_policy::netpol::{ruleset_name, Direction, DirectionVerdict, Enforcement};
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
    /// Network policy: entries of the address-class trie, both generations (one per pod and
    /// node address and policy prefix and generation).
    pub max_policy_classes: u32,
    /// Network policy: (rule set, class) entries, both generations (per rule set, the classes
    /// whose region is not its default, plus one).
    pub max_policy_regions: u32,
    /// Port tables of the guard's rules and of network policy, both generations.
    pub max_rule_tables: u32,
}

impl Default for PodGuardOptions {
    fn default() -> Self {
        Self {
            events_per_sec: 100,
            connection_idle: Duration::from_secs(120),
            max_pods: 4096,
            max_connections: 65536,
            // A 10,000-pod cluster (a third dual-stack) needs about 14,000 classes and 100
            // local pods some 30,000 region entries per generation; both fit twice with room.
            // Trie and hash entries are allocated on use (BPF_F_NO_PREALLOC).
            max_policy_classes: 1 << 18,
            max_policy_regions: 1 << 19,
            max_rule_tables: 1 << 15,
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
    #[error(
        "map {table} is too small for the new rules: the new generation needs {needed} entries, \
         the generation in force holds {in_use}, the map holds at most {capacity}; the rules in \
         force stay"
    )]
    TableFull {
        table: &'static str,
        needed: usize,
        in_use: usize,
        capacity: u32,
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

/// The keys written into one generation of the rule maps, so the next write into it removes
/// exactly them (the guard owns its maps from load, nothing else writes them).
#[derive(Debug, Default)]
struct Written {
    /// (prefix length as the trie counts it, key data).
    prefixes: Vec<(u32, FwLpmData)>,
    tables: Vec<FwTableKey>,
    classes: Vec<(u32, FwLpmData)>,
    sets: Vec<PgSetKey>,
    regions: Vec<PgNpKey>,
}

/// Sizes of the rule maps, from [`PodGuardOptions`] and the object.
#[derive(Debug, Clone, Copy)]
struct RuleCapacity {
    prefixes: u32,
    tables: u32,
    classes: u32,
    sets: u32,
    regions: u32,
}

/// How long the last write of the rule maps took, and what it wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RulesWrite {
    /// Entries of the generation's guard rule prefixes, port tables, network-policy classes,
    /// rule sets (pod scopes) and regions.
    pub prefixes: usize,
    pub tables: usize,
    pub classes: usize,
    pub sets: usize,
    pub regions: usize,
    /// Removing the idle generation's previous entries.
    pub clear: Duration,
    /// Writing the new entries and flipping the generation.
    pub write: Duration,
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
    np_classes: LpmTrie<MapData, FwLpmData, u32>,
    np_sets: BpfHashMap<MapData, PgSetKey, u32>,
    np_regions: BpfHashMap<MapData, PgNpKey, FwRegion>,
    capacity: RuleCapacity,
    /// What each generation of the rule maps holds.
    written: [Written; 2],
    last_write: RulesWrite,
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

/// The size a map of the loaded object was created with.
fn ebpf_max_entries(ebpf: &Ebpf, name: &'static str) -> Result<u32, PodGuardError> {
    let map = ebpf.map(name).ok_or(PodGuardError::Missing(name))?;
    let data = match map {
        Map::LpmTrie(d) | Map::HashMap(d) => d,
        _ => return Err(PodGuardError::Missing(name)),
    };
    data.info().map(|i| i.max_entries()).map_err(map_err(name))
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
        // Every local pod has two policy scopes in each generation.
        let sets = opts.max_pods.saturating_mul(4);
        let mut ebpf = EbpfLoader::new()
            .map_max_entries(names::PODS, opts.max_pods)
            .map_max_entries(names::POD_COUNTERS, opts.max_pods)
            .map_max_entries(names::EVENT_BUDGET, opts.max_pods)
            .map_max_entries(names::CONNS, opts.max_connections)
            .map_max_entries(names::NP_CLASSES, opts.max_policy_classes)
            .map_max_entries(names::NP_SETS, sets)
            .map_max_entries(names::NP_REGIONS, opts.max_policy_regions)
            .map_max_entries(names::RULE_TABLES, opts.max_rule_tables)
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
        let rule_prefixes_max = ebpf_max_entries(&ebpf, names::RULE_PREFIXES)?;
        let rule_prefixes = LpmTrie::try_from(take(&mut ebpf, names::RULE_PREFIXES)?)
            .map_err(map_err(names::RULE_PREFIXES))?;
        let rule_tables = BpfHashMap::try_from(take(&mut ebpf, names::RULE_TABLES)?)
            .map_err(map_err(names::RULE_TABLES))?;
        let np_classes = LpmTrie::try_from(take(&mut ebpf, names::NP_CLASSES)?)
            .map_err(map_err(names::NP_CLASSES))?;
        let np_sets = BpfHashMap::try_from(take(&mut ebpf, names::NP_SETS)?)
            .map_err(map_err(names::NP_SETS))?;
        let np_regions = BpfHashMap::try_from(take(&mut ebpf, names::NP_REGIONS)?)
            .map_err(map_err(names::NP_REGIONS))?;
        let capacity = RuleCapacity {
            prefixes: rule_prefixes_max,
            tables: opts.max_rule_tables,
            classes: opts.max_policy_classes,
            sets,
            regions: opts.max_policy_regions,
        };
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
            np_classes,
            np_sets,
            np_regions,
            capacity,
            written: Default::default(),
            last_write: RulesWrite::default(),
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
                let names = [Direction::Egress, Direction::Ingress]
                    .map(|d| ruleset_name(&pod.namespace, &pod.name, d));
                for set in names {
                    if !self.policy_scopes.contains_key(&set) {
                        let id = POLICY_SCOPE_BASE + self.policy_scopes.len() as u32;
                        if id >= POLICY_SCOPE_END {
                            return Err(PodGuardError::Capacity {
                                what: "network-policy rule sets",
                                needed: self.policy_scopes.len() + 1,
                                capacity: (POLICY_SCOPE_END - POLICY_SCOPE_BASE) as usize,
                            });
                        }
                        self.policy_scopes.insert(set, id);
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
        e.pod(&pod.namespace, &pod.name)?;
        self.scopes_named(&pod.namespace, &pod.name)
    }

    /// The (egress, ingress) scopes given to pod `namespace/name`.
    fn scopes_named(&self, namespace: &str, name: &str) -> Option<(u32, u32)> {
        let scope = |d| {
            self.policy_scopes
                .get(&ruleset_name(namespace, name, d))
                .copied()
        };
        Some((scope(Direction::Egress)?, scope(Direction::Ingress)?))
    }

    /// What the last write of the rule maps wrote and how long it took.
    pub fn last_rules_write(&self) -> RulesWrite {
        self.last_write
    }

    /// Writes the guard's rule sets and the network-policy tables into the idle generation of
    /// the maps, then flips the generation. When the new generation does not fit, nothing is
    /// touched and the generation in force stays.
    fn write_rules(&mut self) -> Result<(), PodGuardError> {
        let compiled = &self.guard_rules.compiled;
        const MAX_SLOTS: usize = 1 << 24;
        let decisions = self.netpol.as_ref().map_or(0, |e| e.decisions.len());
        if compiled.rules.len() + decisions > MAX_SLOTS {
            return Err(PodGuardError::Capacity {
                what: "pod guard rules and network-policy decisions",
                needed: compiled.rules.len() + decisions,
                capacity: MAX_SLOTS,
            });
        }
        let slots: Vec<u32> = (0..compiled.rules.len() as u32).collect();
        let gen = if self.rules_applied {
            (self.cfg.state & STATE_GEN) ^ 1
        } else {
            0
        };
        let guard = crate::firewall::encode(compiled, &self.guard_rules.scopes, &slots, gen);
        // Network-policy regions and decision slots follow the guard's own.
        let region_offset = compiled.regions.len() as u32;
        let offset = compiled.rules.len() as u32;
        let policy = match &self.netpol {
            Some(e) => policy_entries(
                e,
                |pod| self.scopes_named(&pod.namespace, &pod.name),
                region_offset,
                offset,
                gen,
            ),
            None => PolicyEntries::default(),
        };
        self.check_fits(gen, &guard, &policy)?;

        let started = std::time::Instant::now();
        self.clear_rule_generation(gen)?;
        let cleared = started.elapsed();
        let written = &mut self.written[gen as usize];
        for (len, data, region) in &guard.prefixes {
            self.rule_prefixes
                .insert(&Key::new(*len, *data), region, 0)
                .map_err(map_err(names::RULE_PREFIXES))?;
            written.prefixes.push((*len, *data));
        }
        for (key, table) in guard.tables.iter().chain(&policy.tables) {
            self.rule_tables
                .insert(key, table, 0)
                .map_err(map_err(names::RULE_TABLES))?;
            written.tables.push(*key);
        }
        for (key, region) in &policy.regions {
            self.np_regions
                .insert(key, region, 0)
                .map_err(map_err(names::NP_REGIONS))?;
            written.regions.push(*key);
        }
        for (key, set) in &policy.sets {
            self.np_sets
                .insert(key, set, 0)
                .map_err(map_err(names::NP_SETS))?;
            written.sets.push(*key);
        }
        for (len, data, class) in &policy.classes {
            self.np_classes
                .insert(&Key::new(*len, *data), class, 0)
                .map_err(map_err(names::NP_CLASSES))?;
            written.classes.push((*len, *data));
        }
        self.cfg.state = (self.cfg.state & !STATE_GEN) | gen;
        self.write_config()?;
        self.rules_applied = true;
        self.netpol_offset = offset;
        self.last_write = RulesWrite {
            prefixes: guard.prefixes.len(),
            tables: guard.tables.len() + policy.tables.len(),
            classes: policy.classes.len(),
            sets: policy.sets.len(),
            regions: policy.regions.len(),
            clear: cleared,
            write: started.elapsed() - cleared,
        };
        Ok(())
    }

    /// Fails with the first map the new generation `gen` does not fit next to the one in force.
    fn check_fits(
        &self,
        gen: u32,
        guard: &crate::firewall::KernelEntries,
        policy: &PolicyEntries,
    ) -> Result<(), PodGuardError> {
        let live = &self.written[(gen ^ 1) as usize];
        let cap = self.capacity;
        let maps = [
            (
                names::RULE_PREFIXES,
                guard.prefixes.len(),
                live.prefixes.len(),
                cap.prefixes,
            ),
            (
                names::RULE_TABLES,
                guard.tables.len() + policy.tables.len(),
                live.tables.len(),
                cap.tables,
            ),
            (
                names::NP_CLASSES,
                policy.classes.len(),
                live.classes.len(),
                cap.classes,
            ),
            (names::NP_SETS, policy.sets.len(), live.sets.len(), cap.sets),
            (
                names::NP_REGIONS,
                policy.regions.len(),
                live.regions.len(),
                cap.regions,
            ),
        ];
        for (table, needed, in_use, capacity) in maps {
            if needed + in_use > capacity as usize {
                return Err(PodGuardError::TableFull {
                    table,
                    needed,
                    in_use,
                    capacity,
                });
            }
        }
        Ok(())
    }

    /// Removes what generation `gen` of the rule maps holds (it is not in force).
    fn clear_rule_generation(&mut self, gen: u32) -> Result<(), PodGuardError> {
        let old = std::mem::take(&mut self.written[gen as usize]);
        // Missing keys are fine: a failed write may have recorded less than it tried.
        fn gone<E>(
            r: Result<(), aya::maps::MapError>,
            f: impl FnOnce(aya::maps::MapError) -> E,
        ) -> Result<(), E> {
            match r {
                Ok(()) | Err(aya::maps::MapError::KeyNotFound) => Ok(()),
                Err(e) => Err(f(e)),
            }
        }
        for (len, data) in &old.classes {
            let k = Key::new(*len, *data);
            gone(self.np_classes.remove(&k), map_err(names::NP_CLASSES))?;
        }
        for k in &old.sets {
            gone(self.np_sets.remove(k), map_err(names::NP_SETS))?;
        }
        for k in &old.regions {
            gone(self.np_regions.remove(k), map_err(names::NP_REGIONS))?;
        }
        for (len, data) in &old.prefixes {
            let k = Key::new(*len, *data);
            gone(self.rule_prefixes.remove(&k), map_err(names::RULE_PREFIXES))?;
        }
        for k in &old.tables {
            gone(self.rule_tables.remove(k), map_err(names::RULE_TABLES))?;
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
