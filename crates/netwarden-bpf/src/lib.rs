//! netwarden's eBPF objects and the Rust side of their ABI.
//!
//! The C sources live in `bpf/` at the repository root; the build script compiles them with clang-19.
//! [`abi`] mirrors the structs of `bpf/include/netwarden/*_abi.h` (checked against the object's BTF by
//! tests) and [`btf`] reads BTF, to name kernel enum values such as drop reasons.

pub mod abi;
pub mod btf;
pub mod firewall_abi;
#[doc(hidden)]
pub mod layout;
pub mod podguard_abi;

/// The capture object: tcx flow programs and the tp_btf/kfree_skb drop program.
pub static CAPTURE_OBJECT: &[u8] =
    aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/capture.bpf.o"));

/// Program and map names inside [`CAPTURE_OBJECT`], so no other crate spells them.
pub mod names {
    pub const TC_INGRESS: &str = "nw_tc_ingress";
    pub const TC_EGRESS: &str = "nw_tc_egress";
    pub const TC_INGRESS_L3: &str = "nw_tc_ingress_l3";
    pub const TC_EGRESS_L3: &str = "nw_tc_egress_l3";
    pub const KFREE_SKB: &str = "nw_kfree_skb";
    pub const FLOWS_A: &str = "nw_flows_a";
    pub const FLOWS_B: &str = "nw_flows_b";
    pub const FLOWS_SLOT: &str = "nw_flows_slot";
    pub const EXTRAS_A: &str = "nw_extras_a";
    pub const EXTRAS_B: &str = "nw_extras_b";
    pub const EXTRAS_SLOT: &str = "nw_extras_slot";
    pub const FLOW_FALLBACK: &str = "nw_flow_fallback";
    pub const COUNTERS: &str = "nw_counters";
    pub const DNS_PENDING: &str = "nw_dns_pending";
    pub const TCP_HANDSHAKES: &str = "nw_tcp_handshakes";
    /// Load-time globals (`.rodata`).
    pub const CFG_SAMPLING: &str = "nw_sampling";
    pub const CFG_ENABLE_DNS: &str = "nw_enable_dns";
    pub const CFG_ENABLE_RTT: &str = "nw_enable_rtt";
    pub const CFG_DNS_PORTS: &str = "nw_dns_ports";
    pub const CFG_NETNS_INO: &str = "nw_netns_ino";
}

/// The firewall object: the XDP ingress program and its pinned maps.
pub static FIREWALL_OBJECT: &[u8] =
    aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/firewall.bpf.o"));

/// Program and map names inside [`FIREWALL_OBJECT`].
pub mod firewall_names {
    pub const XDP: &str = "nw_fw_xdp";
    pub const CONFIG: &str = "nw_fw_config";
    pub const PREFIXES: &str = "nw_fw_prefixes";
    pub const TABLES: &str = "nw_fw_tables";
    pub const RULE_COUNTERS: &str = "nw_fw_rule_counters";
    pub const EVENT_BUDGET: &str = "nw_fw_event_budget";
    pub const COUNTERS: &str = "nw_fw_counters";
    pub const EVENTS: &str = "nw_fw_events";
}

/// The pod guard object: tcx programs for the host side of pods' veths.
pub static PODGUARD_OBJECT: &[u8] =
    aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/podguard.bpf.o"));

/// Program and map names inside [`PODGUARD_OBJECT`].
pub mod podguard_names {
    /// What the pod sends (tcx ingress of the host-side interface).
    pub const INGRESS: &str = "nw_pg_ingress";
    /// What the pod receives (tcx egress of the host-side interface): learns inbound connections.
    pub const EGRESS: &str = "nw_pg_egress";
    pub const CONFIG: &str = "nw_pg_config";
    pub const PODS: &str = "nw_pg_pods";
    pub const CLUSTER: &str = "nw_pg_cluster";
    pub const RULE_PREFIXES: &str = "nw_pg_rule_prefixes";
    pub const RULE_TABLES: &str = "nw_pg_rule_tables";
    /// Network policy: address -> class (LPM), scope -> rule set, (rule set, class) -> region.
    pub const NP_CLASSES: &str = "nw_pg_np_classes";
    pub const NP_SETS: &str = "nw_pg_np_sets";
    pub const NP_REGIONS: &str = "nw_pg_np_regions";
    pub const CONNS: &str = "nw_pg_conns";
    pub const POD_COUNTERS: &str = "nw_pg_pod_counters";
    pub const EVENT_BUDGET: &str = "nw_pg_event_budget";
    pub const COUNTERS: &str = "nw_pg_counters";
    pub const EVENTS: &str = "nw_pg_events";
}
