//! The XDP ingress firewall: the program and its maps pinned under a bpffs directory, rule sets
//! applied atomically, links pinned per interface so enforcement outlives the process that applied
//! it, and read-only access (counters, events, status) for other processes.
//!
//! Layout under the pin directory (default `/sys/fs/bpf/netwarden/fw`): the maps by name, and
//! `links/<interface>` for each attachment. The state file (default `/run/netwarden/fw/state.json`,
//! see [`state`]) names the rules by counter slot.

mod encode;
mod events;
mod slots;
pub mod state;

pub use encode::{decision_word, encode, lpm_key, table_value, KernelEntries};
pub use events::{EventReader, FirewallEvent};
pub use state::{Attachment, FirewallState, RuleRecord};

use crate::interfaces;
use crate::sys;
use aya::maps::lpm_trie::{Key, LpmTrie};
use aya::maps::{
    Array, HashMap as BpfHashMap, IterableMap, Map, MapData, PerCpuArray, PerCpuValues,
};
use aya::programs::links::{FdLink, PinnedLink};
use aya::programs::{Xdp, XdpMode};
use aya::{Ebpf, EbpfLoader};
use netwarden_bpf::firewall_abi::{
    FwConfig, FwCounter, FwEventBudget, FwLpmData, FwRegion, FwRuleCounters, FwTable, FwTableKey,
    SCOPE_GEN, SLOT_SHIFT, STATE_AUDIT, STATE_ENABLED, STATE_GEN,
};
use netwarden_bpf::firewall_names as names;
use netwarden_policy::firewall::compiled::{Action, CompiledFirewall};
use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use tracing::{debug, info};

/// Where the firewall keeps its pinned objects and its state file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirewallPaths {
    /// A directory on a bpffs.
    pub pin_dir: PathBuf,
    pub state_dir: PathBuf,
}

impl Default for FirewallPaths {
    fn default() -> Self {
        Self {
            pin_dir: PathBuf::from("/sys/fs/bpf/netwarden/fw"),
            state_dir: PathBuf::from("/run/netwarden/fw"),
        }
    }
}

impl FirewallPaths {
    fn links_dir(&self) -> PathBuf {
        self.pin_dir.join("links")
    }

    fn link_pin(&self, interface: &str) -> PathBuf {
        self.links_dir().join(interface)
    }

    fn map_pin(&self, name: &str) -> PathBuf {
        self.pin_dir.join(name)
    }
}

/// Sizes of the maps when they are first created (pinned maps keep theirs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capacity {
    /// Rule slots (counters and event budgets; per CPU, 48 bytes each).
    pub rules: u32,
    /// Source prefixes, both generations.
    pub prefixes: u32,
    /// Port tables, both generations (1.5 KiB each, allocated on use).
    pub tables: u32,
}

impl Default for Capacity {
    fn default() -> Self {
        Self {
            rules: 1 << 16,
            prefixes: 1 << 20,
            tables: 1 << 18,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum FirewallError {
    #[error("the firewall needs root (CAP_BPF, CAP_NET_ADMIN): run it as root")]
    NotRoot,
    #[error("{path}: {reason}")]
    Pins { path: PathBuf, reason: String },
    #[error("loading the firewall program: {0}")]
    Load(#[from] aya::EbpfError),
    #[error("firewall program: {0}")]
    Program(#[from] aya::programs::ProgramError),
    #[error("firewall map {name}: {source}")]
    Map {
        name: &'static str,
        source: aya::maps::MapError,
    },
    #[error("the firewall object has no {0}")]
    Missing(&'static str),
    #[error(
        "the rule set needs {needed} {what} but the pinned maps hold {capacity} \
         ({in_use} in use by the rules in force); nothing was changed"
    )]
    Capacity {
        what: &'static str,
        needed: usize,
        capacity: u32,
        in_use: usize,
    },
    #[error("attaching to interface {interface}: {reason}")]
    Attach { interface: String, reason: String },
    #[error("firewall state in {dir}: {source}")]
    State {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error("nothing is applied: no pinned firewall maps in {0}")]
    NotApplied(PathBuf),
    #[error("test run: {0}")]
    TestRun(std::io::Error),
}

fn map_err(name: &'static str) -> impl FnOnce(aya::maps::MapError) -> FirewallError {
    move |source| FirewallError::Map { name, source }
}

/// How to enforce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplyOptions {
    /// Deny rules count and report but pass.
    pub audit: bool,
    /// Drop events per rule per CPU per second.
    pub events_per_sec: u32,
    /// Where the rules came from, for `fw status`.
    pub source: String,
}

impl Default for ApplyOptions {
    fn default() -> Self {
        Self {
            audit: false,
            events_per_sec: 100,
            source: String::new(),
        }
    }
}

/// What an apply did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplyReport {
    /// False when the same rules, options and interfaces were already in force.
    pub changed: bool,
    pub rules: usize,
    pub generation: u32,
    /// Interface -> mode, for every interface enforced.
    pub attached: BTreeMap<String, String>,
    /// Named by the rules but not on this node (picked up by the agent when they appear).
    pub absent: Vec<String>,
    /// Interfaces no longer named, detached.
    pub detached: Vec<String>,
}

/// The firewall program loaded with its pinned maps: what applies rules.
pub struct Firewall {
    ebpf: Ebpf,
    paths: FirewallPaths,
    config: Array<MapData, FwConfig>,
    prefixes: LpmTrie<MapData, FwLpmData, FwRegion>,
    tables: BpfHashMap<MapData, FwTableKey, FwTable>,
    rule_counters: PerCpuArray<MapData, FwRuleCounters>,
    budgets: PerCpuArray<MapData, FwEventBudget>,
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

fn take(ebpf: &mut Ebpf, name: &'static str) -> Result<Map, FirewallError> {
    ebpf.take_map(name).ok_or(FirewallError::Missing(name))
}

fn check_bpffs(dir: &Path) -> Result<(), FirewallError> {
    std::fs::create_dir_all(dir).map_err(|e| FirewallError::Pins {
        path: dir.to_path_buf(),
        reason: e.to_string(),
    })?;
    let c = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes()).map_err(|e| {
        FirewallError::Pins {
            path: dir.to_path_buf(),
            reason: e.to_string(),
        }
    })?;
    // SAFETY: a valid C string and a statfs to fill.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statfs(c.as_ptr(), &mut st) } != 0 {
        return Err(FirewallError::Pins {
            path: dir.to_path_buf(),
            reason: std::io::Error::last_os_error().to_string(),
        });
    }
    const BPF_FS_MAGIC: i64 = 0xcafe4a11;
    if st.f_type as i64 != BPF_FS_MAGIC {
        return Err(FirewallError::Pins {
            path: dir.to_path_buf(),
            reason: "not on a bpf filesystem (mount one: mount -t bpf bpf /sys/fs/bpf)".into(),
        });
    }
    Ok(())
}

impl Firewall {
    /// Loads the program, reusing the maps pinned in `paths.pin_dir` (creating and pinning them the
    /// first time, sized by `capacity`).
    pub fn open(paths: &FirewallPaths, capacity: Capacity) -> Result<Self, FirewallError> {
        if !is_root() {
            return Err(FirewallError::NotRoot);
        }
        // A decision word keeps 24 bits for the rule slot.
        const MAX_RULE_SLOTS: u32 = 1 << (32 - SLOT_SHIFT);
        if capacity.rules > MAX_RULE_SLOTS {
            return Err(FirewallError::Capacity {
                what: "rule slots",
                needed: capacity.rules as usize,
                capacity: MAX_RULE_SLOTS,
                in_use: 0,
            });
        }
        check_bpffs(&paths.pin_dir)?;
        check_pinned_layouts(paths)?;
        let mut ebpf = EbpfLoader::new()
            .default_map_pin_directory(&paths.pin_dir)
            .map_max_entries(names::RULE_COUNTERS, capacity.rules)
            .map_max_entries(names::EVENT_BUDGET, capacity.rules)
            .map_max_entries(names::PREFIXES, capacity.prefixes)
            .map_max_entries(names::TABLES, capacity.tables)
            .load(netwarden_bpf::FIREWALL_OBJECT)?;
        let prog: &mut Xdp = ebpf
            .program_mut(names::XDP)
            .ok_or(FirewallError::Missing(names::XDP))?
            .try_into()?;
        prog.load()?;
        let config =
            Array::try_from(take(&mut ebpf, names::CONFIG)?).map_err(map_err(names::CONFIG))?;
        let prefixes = LpmTrie::try_from(take(&mut ebpf, names::PREFIXES)?)
            .map_err(map_err(names::PREFIXES))?;
        let tables = BpfHashMap::try_from(take(&mut ebpf, names::TABLES)?)
            .map_err(map_err(names::TABLES))?;
        let rule_counters = PerCpuArray::try_from(take(&mut ebpf, names::RULE_COUNTERS)?)
            .map_err(map_err(names::RULE_COUNTERS))?;
        let budgets = PerCpuArray::try_from(take(&mut ebpf, names::EVENT_BUDGET)?)
            .map_err(map_err(names::EVENT_BUDGET))?;
        Ok(Self {
            ebpf,
            paths: paths.clone(),
            config,
            prefixes,
            tables,
            rule_counters,
            budgets,
        })
    }

    fn xdp(&mut self) -> Result<&mut Xdp, FirewallError> {
        Ok(self
            .ebpf
            .program_mut(names::XDP)
            .ok_or(FirewallError::Missing(names::XDP))?
            .try_into()?)
    }

    fn state(&self) -> Result<Option<FirewallState>, FirewallError> {
        FirewallState::read(&self.paths.state_dir).map_err(|source| FirewallError::State {
            dir: self.paths.state_dir.clone(),
            source,
        })
    }

    /// Puts `compiled` in force: the new rules are written beside the old ones and take over in
    /// one step; counters of rules that stay keep counting. Applying what is in force changes
    /// nothing. On error the rules in force stay.
    pub fn apply(
        &mut self,
        compiled: &CompiledFirewall,
        opts: &ApplyOptions,
    ) -> Result<ApplyReport, FirewallError> {
        let previous = self.state()?.unwrap_or_default();
        let mut ifindexes = BTreeMap::new();
        let mut absent = Vec::new();
        for name in &compiled.interfaces {
            match interfaces::index_of(name) {
                Some(idx) => {
                    ifindexes.insert(name.clone(), idx);
                }
                None => absent.push(name.clone()),
            }
        }
        let mut records: Vec<RuleRecord> = compiled
            .rules
            .iter()
            .map(|r| RuleRecord {
                slot: 0,
                object: r.object.clone(),
                interface: r.interface.clone(),
                cidr: r.cidr.clone(),
                order: r.order,
                action: match r.action {
                    Action::Allow => "Allow".into(),
                    Action::Deny => "Deny".into(),
                },
                protocol: r.protocol.clone(),
                selector: r.selector.clone(),
            })
            .collect();
        let keys: Vec<String> = records.iter().map(RuleRecord::key).collect();
        let (assigned, fresh) = slots::assign(&previous.slots(), &keys);
        let slot_of: Vec<u32> = keys.iter().map(|k| assigned[k]).collect();
        for (rec, slot) in records.iter_mut().zip(&slot_of) {
            rec.slot = *slot;
        }
        let rule_capacity = self
            .rule_counters
            .map()
            .info()
            .map_err(map_err(names::RULE_COUNTERS))?
            .max_entries();
        if let Some(max) = slot_of.iter().max() {
            if *max >= rule_capacity {
                return Err(FirewallError::Capacity {
                    what: "rule slots",
                    needed: slot_of.len(),
                    capacity: rule_capacity,
                    in_use: previous.rules.len(),
                });
            }
        }

        let digest = {
            let mut h = std::collections::hash_map::DefaultHasher::new();
            compiled.hash(&mut h);
            ifindexes.hash(&mut h);
            slot_of.hash(&mut h);
            opts.audit.hash(&mut h);
            opts.events_per_sec.hash(&mut h);
            format!("{:016x}", h.finish())
        };
        let live = self.config.get(&0, 0).map_err(map_err(names::CONFIG))?;
        let enabled = live.state & STATE_ENABLED != 0;
        if enabled && previous.digest == digest && self.links_intact(&previous, &ifindexes) {
            return Ok(ApplyReport {
                changed: false,
                rules: records.len(),
                generation: previous.generation,
                attached: previous
                    .attached
                    .iter()
                    .map(|(k, v)| (k.clone(), v.mode.clone()))
                    .collect(),
                absent,
                detached: Vec::new(),
            });
        }

        let gen = if enabled {
            (live.state & STATE_GEN) ^ 1
        } else {
            0
        };
        let entries = encode(compiled, &ifindexes, &slot_of, gen);
        self.clear_generation(gen)?;
        self.check_room(&entries)?;
        for slot in &fresh {
            self.zero_slot(*slot)?;
        }
        for (len, data, region) in &entries.prefixes {
            self.prefixes
                .insert(&Key::new(*len, *data), region, 0)
                .map_err(map_err(names::PREFIXES))?;
        }
        for (key, table) in &entries.tables {
            self.tables
                .insert(key, table, 0)
                .map_err(map_err(names::TABLES))?;
        }
        let mut state_word = STATE_ENABLED | gen;
        if opts.audit {
            state_word |= STATE_AUDIT;
        }
        // The switch: one word, read once per packet.
        self.config
            .set(
                0,
                FwConfig {
                    state: state_word,
                    events_per_sec: opts.events_per_sec,
                },
                0,
            )
            .map_err(map_err(names::CONFIG))?;

        let (attached, detached) = self.sync_links(&previous, &ifindexes)?;
        let state = FirewallState {
            digest,
            generation: gen,
            audit: opts.audit,
            events_per_sec: opts.events_per_sec,
            source: opts.source.clone(),
            applied_at_unix: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            rules: records,
            attached: attached.clone(),
            absent: absent.clone(),
            prefix_entries: entries.prefixes.len(),
            table_entries: entries.tables.len(),
        };
        state
            .write(&self.paths.state_dir)
            .map_err(|source| FirewallError::State {
                dir: self.paths.state_dir.clone(),
                source,
            })?;
        info!(
            rules = state.rules.len(),
            generation = gen,
            audit = opts.audit,
            "firewall rules in force"
        );
        Ok(ApplyReport {
            changed: true,
            rules: state.rules.len(),
            generation: gen,
            attached: attached.into_iter().map(|(k, v)| (k, v.mode)).collect(),
            absent,
            detached,
        })
    }

    /// Removes every entry of generation `gen` (the one not in force).
    fn clear_generation(&mut self, gen: u32) -> Result<(), FirewallError> {
        let stale: Vec<Key<FwLpmData>> = self
            .prefixes
            .keys()
            .filter_map(Result::ok)
            .filter(|k| (k.data().scope & SCOPE_GEN != 0) == (gen != 0))
            .collect();
        for k in stale {
            self.prefixes.remove(&k).map_err(map_err(names::PREFIXES))?;
        }
        let stale: Vec<FwTableKey> = self
            .tables
            .keys()
            .filter_map(Result::ok)
            .filter(|k| u32::from(k.gen) == gen)
            .collect();
        for k in stale {
            self.tables.remove(&k).map_err(map_err(names::TABLES))?;
        }
        Ok(())
    }

    fn check_room(&self, entries: &KernelEntries) -> Result<(), FirewallError> {
        let in_use = self.prefixes.keys().count();
        let cap = self
            .prefixes
            .map()
            .info()
            .map_err(map_err(names::PREFIXES))?
            .max_entries();
        if in_use + entries.prefixes.len() > cap as usize {
            return Err(FirewallError::Capacity {
                what: "source prefixes",
                needed: entries.prefixes.len(),
                capacity: cap,
                in_use,
            });
        }
        let in_use = self.tables.keys().count();
        let cap = self
            .tables
            .map()
            .info()
            .map_err(map_err(names::TABLES))?
            .max_entries();
        if in_use + entries.tables.len() > cap as usize {
            return Err(FirewallError::Capacity {
                what: "port tables",
                needed: entries.tables.len(),
                capacity: cap,
                in_use,
            });
        }
        Ok(())
    }

    fn zero_slot(&mut self, slot: u32) -> Result<(), FirewallError> {
        let cpus = aya::util::nr_cpus().map_err(|(_, e)| FirewallError::TestRun(e))?;
        let zero = PerCpuValues::try_from(vec![FwRuleCounters::default(); cpus])
            .map_err(|e| FirewallError::TestRun(std::io::Error::other(e.to_string())))?;
        self.rule_counters
            .set(slot, zero, 0)
            .map_err(map_err(names::RULE_COUNTERS))?;
        let zero = PerCpuValues::try_from(vec![FwEventBudget::default(); cpus])
            .map_err(|e| FirewallError::TestRun(std::io::Error::other(e.to_string())))?;
        self.budgets
            .set(slot, zero, 0)
            .map_err(map_err(names::EVENT_BUDGET))
    }

    fn links_intact(&self, previous: &FirewallState, ifindexes: &BTreeMap<String, u32>) -> bool {
        ifindexes.iter().all(|(name, idx)| {
            previous.attached.get(name).map(|a| a.ifindex) == Some(*idx)
                && self.paths.link_pin(name).exists()
        }) && previous.attached.len() == ifindexes.len()
    }

    /// Attaches (or moves onto this program) a pinned link per interface in `ifindexes`, and
    /// removes links of interfaces no longer named.
    fn sync_links(
        &mut self,
        previous: &FirewallState,
        ifindexes: &BTreeMap<String, u32>,
    ) -> Result<(BTreeMap<String, Attachment>, Vec<String>), FirewallError> {
        let links_dir = self.paths.links_dir();
        std::fs::create_dir_all(&links_dir).map_err(|e| FirewallError::Pins {
            path: links_dir.clone(),
            reason: e.to_string(),
        })?;
        let mut detached = Vec::new();
        for name in pinned_link_names(&links_dir) {
            let keep = ifindexes
                .get(&name)
                .is_some_and(|idx| previous.attached.get(&name).map(|a| a.ifindex) == Some(*idx));
            if !keep {
                remove_link(&self.paths, &name)?;
                if !ifindexes.contains_key(&name) {
                    detached.push(name);
                }
            }
        }
        let mut attached = BTreeMap::new();
        for (name, idx) in ifindexes {
            let pin = self.paths.link_pin(name);
            if pin.exists() {
                // Already attached: move the link onto this program (atomic for the interface).
                let link = PinnedLink::from_pin(&pin).map_err(|e| FirewallError::Attach {
                    interface: name.clone(),
                    reason: e.to_string(),
                })?;
                let link =
                    aya::programs::xdp::XdpLink::try_from(FdLink::from(link)).map_err(|e| {
                        FirewallError::Attach {
                            interface: name.clone(),
                            reason: e.to_string(),
                        }
                    })?;
                let xdp = self.xdp()?;
                let id = xdp.attach_to_link(link)?;
                // The pin keeps the link; our handle can close.
                drop(xdp.take_link(id)?);
                let mode = previous
                    .attached
                    .get(name)
                    .map_or_else(|| "native".to_string(), |a| a.mode.clone());
                attached.insert(
                    name.clone(),
                    Attachment {
                        ifindex: *idx,
                        mode,
                    },
                );
                continue;
            }
            let xdp = self.xdp()?;
            let (id, mode) = match xdp.attach_to_if_index(*idx, XdpMode::Driver) {
                Ok(id) => (id, "native"),
                Err(e) => {
                    debug!(interface = %name, "native XDP refused ({e}); using generic");
                    let id = xdp.attach_to_if_index(*idx, XdpMode::Skb).map_err(|e| {
                        FirewallError::Attach {
                            interface: name.clone(),
                            reason: e.to_string(),
                        }
                    })?;
                    (id, "generic")
                }
            };
            let link = xdp.take_link(id)?;
            let fd_link = FdLink::try_from(link).map_err(|e| FirewallError::Attach {
                interface: name.clone(),
                reason: format!("not a bpf_link ({e}); this kernel is too old to pin XDP links"),
            })?;
            fd_link.pin(&pin).map_err(|e| FirewallError::Attach {
                interface: name.clone(),
                reason: format!("pinning the link at {}: {e}", pin.display()),
            })?;
            info!(interface = %name, mode, "firewall attached");
            attached.insert(
                name.clone(),
                Attachment {
                    ifindex: *idx,
                    mode: mode.into(),
                },
            );
        }
        Ok((attached, detached))
    }

    /// Runs the program on `frame` as if it arrived on `ifindex` (`BPF_PROG_TEST_RUN`); returns
    /// the XDP action and the mean nanoseconds per run.
    pub fn test_run(
        &mut self,
        frame: &[u8],
        ifindex: u32,
        repeat: u32,
    ) -> Result<sys::TestRun, FirewallError> {
        let fd = self
            .xdp()?
            .fd()?
            .as_fd()
            .try_clone_to_owned()
            .map_err(FirewallError::TestRun)?;
        sys::xdp_test_run(fd.as_fd(), frame, ifindex, repeat).map_err(FirewallError::TestRun)
    }
}

/// Refuses maps pinned by a netwarden whose structs differ from ours: reusing them would make the
/// program read garbage (aya reuses a pinned map by name without comparing layouts).
fn check_pinned_layouts(paths: &FirewallPaths) -> Result<(), FirewallError> {
    use std::mem::size_of;
    let expected: [(&str, usize, usize); 6] = [
        (names::CONFIG, 4, size_of::<FwConfig>()),
        (
            names::PREFIXES,
            4 + size_of::<FwLpmData>(),
            size_of::<FwRegion>(),
        ),
        (names::TABLES, size_of::<FwTableKey>(), size_of::<FwTable>()),
        (names::RULE_COUNTERS, 4, size_of::<FwRuleCounters>()),
        (names::EVENT_BUDGET, 4, size_of::<FwEventBudget>()),
        (names::COUNTERS, 4, size_of::<u64>()),
    ];
    for (name, key, value) in expected {
        let pin = paths.map_pin(name);
        if !pin.exists() {
            continue;
        }
        let info = aya::maps::MapInfo::from_pin(&pin).map_err(map_err(name))?;
        if (info.key_size() as usize, info.value_size() as usize) != (key, value) {
            return Err(FirewallError::Pins {
                path: pin,
                reason: format!(
                    "pinned by an incompatible netwarden (key {} / value {} bytes, this one uses \
                     {key} / {value}); run `netwarden fw detach` first",
                    info.key_size(),
                    info.value_size()
                ),
            });
        }
    }
    Ok(())
}

fn pinned_link_names(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .filter_map(|e| e.file_name().into_string().ok())
                .collect()
        })
        .unwrap_or_default()
}

fn remove_link(paths: &FirewallPaths, name: &str) -> Result<(), FirewallError> {
    let pin = paths.link_pin(name);
    // The link lives while pinned or open; unpinning and closing our handle detaches it.
    match PinnedLink::from_pin(&pin) {
        Ok(link) => {
            link.unpin().map_err(|e| FirewallError::Pins {
                path: pin.clone(),
                reason: e.to_string(),
            })?;
        }
        Err(_) => {
            let _ = std::fs::remove_file(&pin);
        }
    }
    info!(interface = %name, "firewall detached");
    Ok(())
}

/// What `detach` removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DetachReport {
    pub interfaces: Vec<String>,
    pub maps: Vec<String>,
}

/// Removes every link, pinned map and the state: enforcement ends.
pub fn detach(paths: &FirewallPaths) -> Result<DetachReport, FirewallError> {
    if !is_root() {
        return Err(FirewallError::NotRoot);
    }
    let mut report = DetachReport::default();
    for name in pinned_link_names(&paths.links_dir()) {
        remove_link(paths, &name)?;
        report.interfaces.push(name);
    }
    let _ = std::fs::remove_dir(paths.links_dir());
    for name in [
        names::CONFIG,
        names::PREFIXES,
        names::TABLES,
        names::RULE_COUNTERS,
        names::EVENT_BUDGET,
        names::COUNTERS,
        names::EVENTS,
    ] {
        let pin = paths.map_pin(name);
        if pin.exists() {
            std::fs::remove_file(&pin).map_err(|e| FirewallError::Pins {
                path: pin.clone(),
                reason: e.to_string(),
            })?;
            report.maps.push(name.to_string());
        }
    }
    let _ = std::fs::remove_dir(&paths.pin_dir);
    let _ = std::fs::remove_file(paths.state_dir.join(FirewallState::FILE));
    let _ = std::fs::remove_dir(&paths.state_dir);
    Ok(report)
}

/// Counters of one rule, summed over CPUs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct RuleTotals {
    pub allow_packets: u64,
    pub allow_bytes: u64,
    pub deny_packets: u64,
    pub deny_bytes: u64,
}

/// Everything the firewall counted, read from the pinned maps.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FirewallCounters {
    /// By rule slot.
    pub rules: BTreeMap<u32, RuleTotals>,
    pub global: BTreeMap<&'static str, u64>,
}

impl FirewallCounters {
    /// Reads counters for the slots of `state`.
    pub fn read(paths: &FirewallPaths, state: &FirewallState) -> Result<Self, FirewallError> {
        let open = |name: &'static str| -> Result<MapData, FirewallError> {
            let pin = paths.map_pin(name);
            if !pin.exists() {
                return Err(FirewallError::NotApplied(paths.pin_dir.clone()));
            }
            MapData::from_pin(&pin).map_err(map_err(name))
        };
        let rules: PerCpuArray<MapData, FwRuleCounters> =
            PerCpuArray::try_from(Map::PerCpuArray(open(names::RULE_COUNTERS)?))
                .map_err(map_err(names::RULE_COUNTERS))?;
        let mut out = FirewallCounters::default();
        for r in &state.rules {
            let v = rules
                .get(&r.slot, 0)
                .map_err(map_err(names::RULE_COUNTERS))?;
            let mut t = RuleTotals::default();
            for c in v.iter() {
                t.allow_packets += c.allow_packets;
                t.allow_bytes += c.allow_bytes;
                t.deny_packets += c.deny_packets;
                t.deny_bytes += c.deny_bytes;
            }
            out.rules.insert(r.slot, t);
        }
        let global: PerCpuArray<MapData, u64> =
            PerCpuArray::try_from(Map::PerCpuArray(open(names::COUNTERS)?))
                .map_err(map_err(names::COUNTERS))?;
        for c in FwCounter::ALL {
            let v = global
                .get(&(c as u32), 0)
                .map_err(map_err(names::COUNTERS))?;
            out.global.insert(counter_name(c), v.iter().sum());
        }
        Ok(out)
    }

    /// Sum over rules.
    pub fn totals(&self) -> RuleTotals {
        let mut t = RuleTotals::default();
        for r in self.rules.values() {
            t.allow_packets += r.allow_packets;
            t.allow_bytes += r.allow_bytes;
            t.deny_packets += r.deny_packets;
            t.deny_bytes += r.deny_bytes;
        }
        t
    }
}

/// Snake-case names of the global counters (metrics and `fw stats`).
pub fn counter_name(c: FwCounter) -> &'static str {
    match c {
        FwCounter::NoMatch => "no_match_packets",
        FwCounter::FailSafe => "failsafe_packets",
        FwCounter::AlwaysPass => "always_pass_packets",
        FwCounter::Unparsed => "unparsed_packets",
        FwCounter::EventsLost => "events_lost",
        FwCounter::EventsSuppressed => "events_suppressed",
    }
}
