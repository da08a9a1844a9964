//! Flow capture: the capture object loaded, attached to the selected interfaces, and drained.
//!
//! [`Capture`] is synchronous and single-owner: a runner calls [`Capture::sync_interfaces`] a few
//! times a second, [`Capture::poll_fallback`] while it waits, and [`Capture::evict`] every eviction
//! period and once more before it stops.

mod decode;
mod fallback;

pub use decode::{dns_name, dns_rcode_name, DecodeContext};

use crate::interfaces::{self, InterfaceSelector};
use crate::kernel_names::KernelNames;
use crate::sys;
use aya::maps::{ArrayOfMaps, Map, MapData, PerCpuArray, RingBuf};
use aya::programs::tc::SchedClassifierLink;
use aya::programs::{BtfTracePoint, SchedClassifier, TcAttachType};
use aya::{Btf, Ebpf, EbpfLoader};
use fallback::FallbackFlows;
use netwarden_bpf::abi::{self, Counter, FlowExtras, FlowFallback, FlowKey, FlowStats};
use netwarden_bpf::names as bpf_names;
use netwarden_model::FlowRecord;
use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::os::fd::{AsFd, AsRawFd};
use std::time::{Duration, Instant};
use tracing::{debug, info, warn};

/// What to capture and how; every field has a default (see [`CaptureConfig::default`]).
#[derive(Debug, Clone)]
pub struct CaptureConfig {
    pub interfaces: InterfaceSelector,
    /// Record 1 packet in N (1: all).
    pub sampling: u32,
    /// Flows held in the kernel between evictions; beyond it new flows take the fallback path.
    pub flow_map_entries: u32,
    /// Flows with drop, DNS or RTT data held between evictions.
    pub extras_map_entries: u32,
    pub dns_enabled: bool,
    /// UDP and TCP ports recognised as DNS (at most 4).
    pub dns_ports: Vec<u16>,
    pub rtt_enabled: bool,
    pub drops_enabled: bool,
    /// Record drops in every network namespace, not just the one the capture runs in.
    pub drops_all_namespaces: bool,
    /// `AgentIP` of every record.
    pub agent_ip: Option<IpAddr>,
}

impl Default for CaptureConfig {
    fn default() -> Self {
        Self {
            interfaces: InterfaceSelector::all_but_loopback(),
            sampling: 1,
            flow_map_entries: 100_000,
            extras_map_entries: 20_000,
            dns_enabled: true,
            dns_ports: vec![53],
            rtt_enabled: true,
            drops_enabled: true,
            drops_all_namespaces: false,
            agent_ip: None,
        }
    }
}

/// Why capture could not start or go on.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    #[error("capture needs root (CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON): run it as root")]
    NotRoot,
    #[error("invalid capture setting {field}: {reason}")]
    InvalidConfig { field: &'static str, reason: String },
    #[error("loading the capture programs into the kernel: {0}")]
    Load(#[from] aya::EbpfError),
    #[error("capture program {name}: {source}")]
    Program {
        name: &'static str,
        source: aya::programs::ProgramError,
    },
    #[error("capture map {name}: {source}")]
    Map {
        name: &'static str,
        source: aya::maps::MapError,
    },
    #[error("the capture object has no map {0}")]
    MissingMap(&'static str),
    #[error("draining {name}: {source}")]
    Drain {
        name: &'static str,
        source: std::io::Error,
    },
    #[error("test run of {name}: {source}")]
    TestRun {
        name: &'static str,
        source: std::io::Error,
    },
    #[error("listing network interfaces: {0}")]
    Interfaces(std::io::Error),
    #[error("attaching to interface {name}: {source}")]
    Attach {
        name: String,
        source: aya::programs::ProgramError,
    },
}

/// Flows and records lost or diverted since start, summed over CPUs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LossCounters {
    pub flow_map_full: u64,
    pub fallback_lost: u64,
    pub extras_map_full: u64,
    pub parse_errors: u64,
}

/// What one eviction did.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct EvictStats {
    /// Records produced.
    pub records: usize,
    /// Of which came from the fallback ring alone.
    pub fallback_records: usize,
    /// Of which had drop/DNS/RTT data but no counted packets.
    pub extras_only_records: usize,
    pub duration: Duration,
}

/// A hook family that could not be used, and why (the capture goes on without it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisabledFeature {
    pub feature: &'static str,
    pub reason: String,
}

struct Attached {
    name: String,
    // Dropping a link detaches it.
    _links: Vec<SchedClassifierLink>,
}

/// The loaded capture object and everything attached to it.
pub struct Capture {
    // Links reference the programs; drop them first.
    attached: BTreeMap<u32, Attached>,
    ebpf: Ebpf,
    flows: [MapData; 2],
    extras: [MapData; 2],
    flows_slot: ArrayOfMaps<MapData, MapData>,
    extras_slot: ArrayOfMaps<MapData, MapData>,
    /// Which of `flows`/`extras` the programs write now.
    active: usize,
    fallback_ring: RingBuf<MapData>,
    fallback: FallbackFlows,
    counters: PerCpuArray<MapData, u64>,
    selector: InterfaceSelector,
    /// Names of every interface seen, so records name interfaces removed since.
    ifnames: HashMap<u32, String>,
    gone: Vec<u32>,
    names: KernelNames,
    disabled: Vec<DisabledFeature>,
    sampling: u32,
    agent_ip: Option<IpAddr>,
}

fn take_map(ebpf: &mut Ebpf, name: &'static str) -> Result<Map, CaptureError> {
    ebpf.take_map(name).ok_or(CaptureError::MissingMap(name))
}

fn hash_map_data(ebpf: &mut Ebpf, name: &'static str) -> Result<MapData, CaptureError> {
    match take_map(ebpf, name)? {
        Map::HashMap(data) => Ok(data),
        _ => Err(CaptureError::MissingMap(name)),
    }
}

impl Capture {
    /// Loads the capture object with `cfg` and attaches to the interfaces selected now.
    pub fn start(cfg: &CaptureConfig) -> Result<Self, CaptureError> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return Err(CaptureError::NotRoot);
        }
        validate(cfg)?;
        let sampling = cfg.sampling.max(1);
        let mut dns_ports = [0u16; abi::MAX_DNS_PORTS];
        dns_ports[..cfg.dns_ports.len()].copy_from_slice(&cfg.dns_ports);
        let enable_dns = u8::from(cfg.dns_enabled);
        let enable_rtt = u8::from(cfg.rtt_enabled);
        let netns_ino: u32 = if cfg.drops_all_namespaces {
            0
        } else {
            sys::current_netns_inode().map(|i| i as u32).unwrap_or(0)
        };

        let mut ebpf = EbpfLoader::new()
            .override_global(bpf_names::CFG_SAMPLING, &sampling, true)
            .override_global(bpf_names::CFG_ENABLE_DNS, &enable_dns, true)
            .override_global(bpf_names::CFG_ENABLE_RTT, &enable_rtt, true)
            .override_global(bpf_names::CFG_DNS_PORTS, &dns_ports, true)
            .override_global(bpf_names::CFG_NETNS_INO, &netns_ino, true)
            .map_max_entries(bpf_names::FLOWS_A, cfg.flow_map_entries)
            .map_max_entries(bpf_names::FLOWS_B, cfg.flow_map_entries)
            .map_max_entries(bpf_names::EXTRAS_A, cfg.extras_map_entries)
            .map_max_entries(bpf_names::EXTRAS_B, cfg.extras_map_entries)
            .load(netwarden_bpf::CAPTURE_OBJECT)?;

        let flows = [
            hash_map_data(&mut ebpf, bpf_names::FLOWS_A)?,
            hash_map_data(&mut ebpf, bpf_names::FLOWS_B)?,
        ];
        let extras = [
            hash_map_data(&mut ebpf, bpf_names::EXTRAS_A)?,
            hash_map_data(&mut ebpf, bpf_names::EXTRAS_B)?,
        ];
        let mut flows_slot =
            ArrayOfMaps::<MapData, MapData>::try_from(take_map(&mut ebpf, bpf_names::FLOWS_SLOT)?)
                .map_err(|source| CaptureError::Map {
                    name: bpf_names::FLOWS_SLOT,
                    source,
                })?;
        let mut extras_slot =
            ArrayOfMaps::<MapData, MapData>::try_from(take_map(&mut ebpf, bpf_names::EXTRAS_SLOT)?)
                .map_err(|source| CaptureError::Map {
                    name: bpf_names::EXTRAS_SLOT,
                    source,
                })?;
        flows_slot
            .set(0, &flows[0], 0)
            .map_err(|source| CaptureError::Map {
                name: bpf_names::FLOWS_SLOT,
                source,
            })?;
        extras_slot
            .set(0, &extras[0], 0)
            .map_err(|source| CaptureError::Map {
                name: bpf_names::EXTRAS_SLOT,
                source,
            })?;
        let fallback_ring = RingBuf::try_from(take_map(&mut ebpf, bpf_names::FLOW_FALLBACK)?)
            .map_err(|source| CaptureError::Map {
                name: bpf_names::FLOW_FALLBACK,
                source,
            })?;
        let counters =
            PerCpuArray::try_from(take_map(&mut ebpf, bpf_names::COUNTERS)?).map_err(|source| {
                CaptureError::Map {
                    name: bpf_names::COUNTERS,
                    source,
                }
            })?;

        for name in [
            bpf_names::TC_INGRESS,
            bpf_names::TC_EGRESS,
            bpf_names::TC_INGRESS_L3,
            bpf_names::TC_EGRESS_L3,
        ] {
            classifier(&mut ebpf, name)?
                .load()
                .map_err(|source| CaptureError::Program { name, source })?;
        }

        let mut disabled = Vec::new();
        let names = match KernelNames::from_kernel() {
            Ok(names) => names,
            Err(e) => {
                warn!(
                    "kernel BTF unreadable ({e}): drop reasons and TCP states will show as numbers"
                );
                KernelNames::default()
            }
        };
        if cfg.drops_enabled {
            if let Err(reason) = attach_drops(&mut ebpf) {
                warn!("packet drops disabled: {reason}");
                disabled.push(DisabledFeature {
                    feature: "drops",
                    reason,
                });
            }
        }

        let mut capture = Self {
            attached: BTreeMap::new(),
            ebpf,
            flows,
            extras,
            flows_slot,
            extras_slot,
            active: 0,
            fallback_ring,
            fallback: FallbackFlows::default(),
            counters,
            selector: cfg.interfaces.clone(),
            ifnames: HashMap::new(),
            gone: Vec::new(),
            names,
            disabled,
            sampling,
            agent_ip: cfg.agent_ip,
        };
        capture.sync_interfaces()?;
        Ok(capture)
    }

    /// Hook families that are off on this kernel, with the reason.
    pub fn disabled_features(&self) -> &[DisabledFeature] {
        &self.disabled
    }

    /// Names of the interfaces captured on now.
    pub fn attached_interfaces(&self) -> Vec<String> {
        self.attached.values().map(|a| a.name.clone()).collect()
    }

    /// Attaches to selected interfaces that appeared and forgets the ones that went away. An interface
    /// that vanishes while we attach is skipped, not an error. Returns (attached, detached) names.
    pub fn sync_interfaces(&mut self) -> Result<(Vec<String>, Vec<String>), CaptureError> {
        let now = interfaces::list().map_err(CaptureError::Interfaces)?;
        let mut detached = Vec::new();
        let stale: Vec<u32> = self
            .attached
            .iter()
            .filter(|(idx, a)| now.get(idx) != Some(&a.name))
            .map(|(idx, _)| *idx)
            .collect();
        for idx in stale {
            if let Some(a) = self.attached.remove(&idx) {
                debug!(interface = %a.name, "interface gone or renamed: detached");
                detached.push(a.name);
            }
        }
        for (idx, name) in &self.ifnames {
            if !now.contains_key(idx) && !self.gone.contains(idx) {
                debug!(interface = %name, "interface removed");
                self.gone.push(*idx);
            }
        }
        let mut added = Vec::new();
        for (idx, name) in &now {
            self.ifnames.insert(*idx, name.clone());
            self.gone.retain(|g| g != idx);
            if self.attached.contains_key(idx) || !self.selector.selects(name) {
                continue;
            }
            match self.attach(*idx, name) {
                Ok(()) => added.push(name.clone()),
                Err(e) if interfaces::index_of(name) != Some(*idx) => {
                    debug!(interface = %name, "interface vanished while attaching: {e}");
                }
                Err(e) => return Err(e),
            }
        }
        Ok((added, detached))
    }

    fn attach(&mut self, idx: u32, name: &str) -> Result<(), CaptureError> {
        let l2 = interfaces::has_ethernet_header(name);
        let (ingress, egress) = if l2 {
            (bpf_names::TC_INGRESS, bpf_names::TC_EGRESS)
        } else {
            (bpf_names::TC_INGRESS_L3, bpf_names::TC_EGRESS_L3)
        };
        if !has_tcx() {
            // Before tcx (6.6) aya attaches through cls_bpf, which needs a clsact qdisc; one that is
            // already there (ours or someone else's) is fine.
            if let Err(e) = aya::programs::tc::qdisc_add_clsact(name) {
                debug!(interface = name, "clsact qdisc: {e}");
            }
        }
        let mut links = Vec::with_capacity(2);
        for (prog_name, attach_type) in [
            (ingress, TcAttachType::Ingress),
            (egress, TcAttachType::Egress),
        ] {
            let prog = classifier(&mut self.ebpf, prog_name)?;
            let link_id =
                prog.attach(name, attach_type)
                    .map_err(|source| CaptureError::Attach {
                        name: name.to_string(),
                        source,
                    })?;
            links.push(
                prog.take_link(link_id)
                    .map_err(|source| CaptureError::Attach {
                        name: name.to_string(),
                        source,
                    })?,
            );
        }
        info!(interface = name, ifindex = idx, ethernet = l2, "capturing");
        self.attached.insert(
            idx,
            Attached {
                name: name.to_string(),
                _links: links,
            },
        );
        Ok(())
    }

    /// Runs the Ethernet ingress or egress program on a crafted `frame` without attaching it, as if it
    /// arrived on loopback (`BPF_PROG_TEST_RUN`). The flow lands in the maps like any other: for
    /// parser tests and per-packet cost benchmarks.
    pub fn test_run(
        &mut self,
        egress: bool,
        frame: &[u8],
        repeat: u32,
    ) -> Result<sys::TestRun, CaptureError> {
        let name = if egress {
            bpf_names::TC_EGRESS
        } else {
            bpf_names::TC_INGRESS
        };
        let prog = classifier(&mut self.ebpf, name)?;
        let fd = prog
            .fd()
            .map_err(|source| CaptureError::Program { name, source })?;
        sys::prog_test_run(fd.as_fd(), frame, repeat)
            .map_err(|source| CaptureError::TestRun { name, source })
    }

    /// Detaches from every interface (also done on drop).
    pub fn detach_all(&mut self) {
        self.attached.clear();
    }

    /// Waits up to `timeout` for fallback records and aggregates whatever arrived.
    pub fn poll_fallback(&mut self, timeout: Duration) {
        let mut pfd = libc::pollfd {
            fd: self.fallback_ring.as_fd().as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
        // SAFETY: one valid pollfd; EINTR just ends the wait early.
        unsafe { libc::poll(&mut pfd, 1, ms) };
        self.drain_fallback();
    }

    fn drain_fallback(&mut self) -> usize {
        let mut n = 0;
        while let Some(item) = self.fallback_ring.next() {
            if let Some(rec) = abi::read_pod::<FlowFallback>(&item) {
                self.fallback.add(&rec);
                n += 1;
            }
        }
        n
    }

    /// Loss counters since start.
    pub fn loss_counters(&self) -> LossCounters {
        let get = |c: Counter| -> u64 {
            self.counters
                .get(&(c as u32), 0)
                .map(|v| v.iter().sum())
                .unwrap_or(0)
        };
        LossCounters {
            flow_map_full: get(Counter::FlowMapFull),
            fallback_lost: get(Counter::FallbackLost),
            extras_map_full: get(Counter::ExtrasMapFull),
            parse_errors: get(Counter::ParseError),
        }
    }

    /// Ends the current window: swaps in the empty maps, drains the old ones and hands every flow
    /// of the window to `sink` as a record.
    pub fn evict(&mut self, mut sink: impl FnMut(FlowRecord)) -> Result<EvictStats, CaptureError> {
        let started = Instant::now();
        let old = self.active;
        let new = 1 - old;
        // Each set waits for an RCU grace period: afterwards no program holds the old maps.
        self.flows_slot
            .set(0, &self.flows[new], 0)
            .map_err(|source| CaptureError::Map {
                name: bpf_names::FLOWS_SLOT,
                source,
            })?;
        self.extras_slot
            .set(0, &self.extras[new], 0)
            .map_err(|source| CaptureError::Map {
                name: bpf_names::EXTRAS_SLOT,
                source,
            })?;
        self.active = new;
        self.drain_fallback();

        let (mono, real) = sys::clocks_ns();
        let ctx = DecodeContext {
            ifnames: self.ifnames.clone(),
            names: self.names.clone(),
            mono_to_real_ns: real - mono as i128,
            now_s: (real / 1_000_000_000) as i64,
            agent_ip: self.agent_ip,
            sampling: self.sampling,
        };

        let mut extras: HashMap<FlowKey, FlowExtras> = HashMap::new();
        sys::drain_hash_map(
            self.extras[old].fd().as_fd(),
            size_of::<FlowKey>(),
            size_of::<FlowExtras>(),
            |k, v| {
                if let (Some(key), Some(e)) =
                    (abi::read_pod::<FlowKey>(k), abi::read_pod::<FlowExtras>(v))
                {
                    extras.insert(key, e);
                }
            },
        )
        .map_err(|source| CaptureError::Drain {
            name: "extras map",
            source,
        })?;

        let mut stats = EvictStats::default();
        let fallback = &mut self.fallback;
        sys::drain_hash_map(
            self.flows[old].fd().as_fd(),
            size_of::<FlowKey>(),
            size_of::<FlowStats>(),
            |k, v| {
                let (Some(key), Some(mut s)) =
                    (abi::read_pod::<FlowKey>(k), abi::read_pod::<FlowStats>(v))
                else {
                    return;
                };
                if let Some(extra) = fallback.take(&key) {
                    fallback::merge_stats(&mut s, &extra);
                }
                let mut rec = decode::flow_record(&key, &s, &ctx);
                if let Some(e) = extras.remove(&key) {
                    decode::apply_extras(&mut rec, &e, &ctx);
                }
                sink(rec);
                stats.records += 1;
            },
        )
        .map_err(|source| CaptureError::Drain {
            name: "flow map",
            source,
        })?;

        for (key, s) in self.fallback.drain() {
            let mut rec = decode::flow_record(&key, &s, &ctx);
            if let Some(e) = extras.remove(&key) {
                decode::apply_extras(&mut rec, &e, &ctx);
            }
            sink(rec);
            stats.records += 1;
            stats.fallback_records += 1;
        }
        for (key, e) in extras {
            let mut rec = decode::extras_only_record(&key, &ctx);
            decode::apply_extras(&mut rec, &e, &ctx);
            sink(rec);
            stats.records += 1;
            stats.extras_only_records += 1;
        }
        // Removed interfaces were named in this window's records; now they can go.
        for idx in self.gone.drain(..) {
            self.ifnames.remove(&idx);
        }
        stats.duration = started.elapsed();
        Ok(stats)
    }
}

/// Whether this kernel has tcx (6.6+), which aya uses for TC programs when present.
fn has_tcx() -> bool {
    aya::util::KernelVersion::current().is_ok_and(|v| v >= aya::util::KernelVersion::new(6, 6, 0))
}

fn classifier<'a>(
    ebpf: &'a mut Ebpf,
    name: &'static str,
) -> Result<&'a mut SchedClassifier, CaptureError> {
    let prog = ebpf
        .program_mut(name)
        .ok_or(CaptureError::MissingMap(name))?;
    prog.try_into()
        .map_err(|source| CaptureError::Program { name, source })
}

fn attach_drops(ebpf: &mut Ebpf) -> Result<(), String> {
    let btf =
        Btf::from_sys_fs().map_err(|e| format!("kernel BTF unavailable ({e}), tp_btf needs it"))?;
    let prog = ebpf.program_mut(bpf_names::KFREE_SKB).ok_or_else(|| {
        format!(
            "program {} missing from the capture object",
            bpf_names::KFREE_SKB
        )
    })?;
    let prog: &mut BtfTracePoint = prog.try_into().map_err(|e| format!("{e}"))?;
    prog.load("kfree_skb", &btf)
        .map_err(|e| format!("tp_btf/kfree_skb cannot be loaded on this kernel: {e}"))?;
    prog.attach()
        .map_err(|e| format!("tp_btf/kfree_skb cannot be attached on this kernel: {e}"))?;
    Ok(())
}

fn validate(cfg: &CaptureConfig) -> Result<(), CaptureError> {
    let bad = |field, reason: String| Err(CaptureError::InvalidConfig { field, reason });
    if cfg.sampling == 0 {
        return bad("sampling", "must be 1 (every packet) or more, got 0".into());
    }
    if cfg.dns_ports.len() > abi::MAX_DNS_PORTS {
        return bad(
            "dns.ports",
            format!(
                "at most {} ports, got {}",
                abi::MAX_DNS_PORTS,
                cfg.dns_ports.len()
            ),
        );
    }
    if cfg.dns_ports.contains(&0) {
        return bad("dns.ports", "port 0 is not a DNS port".into());
    }
    if cfg.flow_map_entries == 0 {
        return bad("flow_map_entries", "must be at least 1".into());
    }
    if cfg.extras_map_entries == 0 {
        return bad("extras_map_entries", "must be at least 1".into());
    }
    Ok(())
}
