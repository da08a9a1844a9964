//! Rust mirrors of `bpf/include/netwarden/podguard_abi.h`, checked against the pod guard object's
//! BTF by `layout_tests`. The rule tables reuse the firewall's types ([`crate::firewall_abi`]).

/// `nw_pg_pod.modes` bits.
pub const MODE_MONITOR: u8 = 0x1;
pub const MODE_BLOCK_EXTERNAL: u8 = 0x2;
pub const MODE_RULES: u8 = 0x4;
pub const MODE_POLICY: u8 = 0x8;

/// `nw_pg_config.state` bits.
pub const STATE_GEN: u32 = 0x1;

/// `nw_pg_conn.flags` bits.
pub const CONN_CLOSED: u32 = 0x1;
pub const CONN_INBOUND: u32 = 0x2;

/// `enum nw_pg_event_kind`.
pub const EV_NEW_CONNECTION: u8 = 1;
pub const EV_BLOCKED: u8 = 2;

/// `enum nw_pg_reason`.
pub const REASON_NONE: u8 = 0;
pub const REASON_EXTERNAL: u8 = 1;
pub const REASON_RULE: u8 = 2;
pub const REASON_UNPARSED: u8 = 3;
pub const REASON_RULE_ALLOW: u8 = 4;
pub const REASON_POLICY: u8 = 5;

/// `enum nw_pg_direction`: which way the packet goes, seen from the pod.
pub const DIR_EGRESS: u8 = 0;
pub const DIR_INGRESS: u8 = 1;

/// `enum nw_pg_policy`.
pub const POLICY_NONE: u8 = 0;
pub const POLICY_ALLOWED: u8 = 1;
pub const POLICY_DENIED: u8 = 2;

/// `NW_PG_NO_SLOT`: no decision names the drop.
pub const NO_SLOT: u32 = u32::MAX;

/// Indexes of the pod guard's per-CPU counters (`enum nw_pg_counter`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum PgCounter {
    AlwaysPass = 0,
    Unparsed = 1,
    EventsLost = 2,
    EventsSuppressed = 3,
}

impl PgCounter {
    pub const ALL: [PgCounter; 4] = [
        PgCounter::AlwaysPass,
        PgCounter::Unparsed,
        PgCounter::EventsLost,
        PgCounter::EventsSuppressed,
    ];

    /// The C enumerator's name.
    pub fn c_name(self) -> &'static str {
        match self {
            PgCounter::AlwaysPass => "NW_PG_CNT_ALWAYS_PASS",
            PgCounter::Unparsed => "NW_PG_CNT_UNPARSED",
            PgCounter::EventsLost => "NW_PG_CNT_EVENTS_LOST",
            PgCounter::EventsSuppressed => "NW_PG_CNT_EVENTS_SUPPRESSED",
        }
    }
}

/// `struct nw_pg_config`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PgConfig {
    pub state: u32,
    pub events_per_sec: u32,
    pub conn_idle_ns: u64,
}

/// `struct nw_pg_pod`: the value of the per-interface map.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct PgPod {
    pub pod_id: u32,
    pub ruleset: u32,
    pub modes: u8,
    pub blocking: u8,
    pub _pad: u16,
    pub policy_egress: u32,
    pub policy_ingress: u32,
}

/// `NW_PG_CLASS_DEFAULT`: the class of a rule set's default region.
pub const CLASS_DEFAULT: u32 = u32::MAX;

/// `struct nw_pg_set_key`: a pod's policy scope in one generation -> its rule set.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PgSetKey {
    pub scope: u32,
    pub gen: u32,
}

/// `struct nw_pg_np_key`: (rule set, address class, generation) -> region.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PgNpKey {
    pub set: u32,
    pub class: u32,
    pub gen: u32,
}

/// The part of `struct nw_pg_cidr_key` after `prefixlen` (aya's `LpmTrie` key adds the length).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PgCidrData {
    pub family: u32,
    pub addr: [u8; 16],
}

/// `struct nw_pg_conn_key`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct PgConnKey {
    pub pod_id: u32,
    pub family: u8,
    pub proto: u8,
    pub src_port: u16,
    pub dst_port: u16,
    pub _pad: u16,
    pub src: [u8; 16],
    pub dst: [u8; 16],
}

/// `struct nw_pg_conn`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PgConn {
    pub last_seen_ns: u64,
    pub flags: u32,
    pub _pad: u32,
}

/// `struct nw_pg_pod_counters` (one per CPU per pod slot).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PgPodCounters {
    pub allowed_packets: u64,
    pub allowed_bytes: u64,
    pub blocked_packets: u64,
    pub blocked_bytes: u64,
    pub new_connections: u64,
    pub policy_dropped_packets: u64,
    pub policy_dropped_bytes: u64,
}

/// `struct nw_pg_event_budget`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PgEventBudget {
    pub window_start_ns: u64,
    pub sent: u32,
    pub suppressed: u32,
}

/// `struct nw_pg_event`: a new connection or a dropped packet.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PgEvent {
    pub ts_ns: u64,
    pub pod_id: u32,
    pub ifindex: u32,
    pub pkt_len: u32,
    pub suppressed: u32,
    pub rule_slot: u32,
    pub kind: u8,
    pub reason: u8,
    pub family: u8,
    pub proto: u8,
    pub flags: u8,
    pub tcp_flags: u8,
    pub icmp_type: u8,
    pub icmp_code: u8,
    pub src_port: u16,
    pub dst_port: u16,
    pub src_addr: [u8; 16],
    pub dst_addr: [u8; 16],
    pub policy_slot: u32,
    pub direction: u8,
    pub policy: u8,
    pub _pad: u16,
}

unsafe impl aya::Pod for PgConfig {}
unsafe impl aya::Pod for PgPod {}
unsafe impl aya::Pod for PgCidrData {}
unsafe impl aya::Pod for PgSetKey {}
unsafe impl aya::Pod for PgNpKey {}
unsafe impl aya::Pod for PgConnKey {}
unsafe impl aya::Pod for PgConn {}
unsafe impl aya::Pod for PgPodCounters {}
unsafe impl aya::Pod for PgEventBudget {}
unsafe impl aya::Pod for PgEvent {}

#[cfg(test)]
mod layout_tests {
    use super::*;
    use crate::fields;
    use crate::layout::{check, check_enum};
    use crate::PODGUARD_OBJECT as OBJ;
    use std::mem::size_of;

    #[test]
    fn config_and_pod_match_c() {
        check(
            OBJ,
            "nw_pg_config",
            size_of::<PgConfig>(),
            fields!(PgConfig: "state" => state, "events_per_sec" => events_per_sec,
                "conn_idle_ns" => conn_idle_ns),
        );
        check(
            OBJ,
            "nw_pg_pod",
            size_of::<PgPod>(),
            fields!(PgPod: "pod_id" => pod_id, "ruleset" => ruleset, "modes" => modes,
                "blocking" => blocking, "_pad" => _pad, "policy_egress" => policy_egress,
                "policy_ingress" => policy_ingress),
        );
    }

    #[test]
    fn policy_keys_match_c() {
        check(
            OBJ,
            "nw_pg_set_key",
            size_of::<PgSetKey>(),
            fields!(PgSetKey: "scope" => scope, "gen" => gen),
        );
        check(
            OBJ,
            "nw_pg_np_key",
            size_of::<PgNpKey>(),
            fields!(PgNpKey: "set" => set, "class" => class, "gen" => gen),
        );
    }

    #[test]
    fn cidr_key_matches_c() {
        // The C key starts with the 4-byte prefixlen that aya's Key adds.
        let l = crate::btf::Btf::from_elf(OBJ)
            .unwrap()
            .struct_layout("nw_pg_cidr_key")
            .unwrap();
        assert_eq!(l.size as usize, 4 + size_of::<PgCidrData>());
        let offs: Vec<(String, u32)> = l
            .members
            .iter()
            .map(|m| (m.name.clone(), m.offset))
            .collect();
        assert_eq!(
            offs,
            vec![
                ("prefixlen".to_string(), 0),
                (
                    "family".to_string(),
                    4 + std::mem::offset_of!(PgCidrData, family) as u32
                ),
                (
                    "addr".to_string(),
                    4 + std::mem::offset_of!(PgCidrData, addr) as u32
                ),
            ]
        );
    }

    #[test]
    fn connections_match_c() {
        check(
            OBJ,
            "nw_pg_conn_key",
            size_of::<PgConnKey>(),
            fields!(PgConnKey: "pod_id" => pod_id, "family" => family, "proto" => proto,
                "src_port" => src_port, "dst_port" => dst_port, "_pad" => _pad,
                "src" => src, "dst" => dst),
        );
        check(
            OBJ,
            "nw_pg_conn",
            size_of::<PgConn>(),
            fields!(PgConn: "last_seen_ns" => last_seen_ns, "flags" => flags, "_pad" => _pad),
        );
    }

    #[test]
    fn counters_and_budget_match_c() {
        check(
            OBJ,
            "nw_pg_pod_counters",
            size_of::<PgPodCounters>(),
            fields!(PgPodCounters: "allowed_packets" => allowed_packets,
                "allowed_bytes" => allowed_bytes, "blocked_packets" => blocked_packets,
                "blocked_bytes" => blocked_bytes, "new_connections" => new_connections,
                "policy_dropped_packets" => policy_dropped_packets,
                "policy_dropped_bytes" => policy_dropped_bytes),
        );
        check(
            OBJ,
            "nw_pg_event_budget",
            size_of::<PgEventBudget>(),
            fields!(PgEventBudget: "window_start_ns" => window_start_ns, "sent" => sent,
                "suppressed" => suppressed),
        );
    }

    #[test]
    fn event_matches_c() {
        check(
            OBJ,
            "nw_pg_event",
            size_of::<PgEvent>(),
            fields!(PgEvent: "ts_ns" => ts_ns, "pod_id" => pod_id, "ifindex" => ifindex,
                "pkt_len" => pkt_len, "suppressed" => suppressed, "rule_slot" => rule_slot,
                "kind" => kind, "reason" => reason, "family" => family, "proto" => proto,
                "flags" => flags, "tcp_flags" => tcp_flags, "icmp_type" => icmp_type,
                "icmp_code" => icmp_code, "src_port" => src_port, "dst_port" => dst_port,
                "src_addr" => src_addr, "dst_addr" => dst_addr, "policy_slot" => policy_slot,
                "direction" => direction, "policy" => policy, "_pad" => _pad),
        );
    }

    #[test]
    fn enums_match_c() {
        let counters: Vec<(&str, i64)> = PgCounter::ALL
            .iter()
            .map(|c| (c.c_name(), *c as i64))
            .collect();
        check_enum(OBJ, "nw_pg_counter", &counters);
        check_enum(
            OBJ,
            "nw_pg_event_kind",
            &[
                ("NW_PG_EV_NEW_CONNECTION", EV_NEW_CONNECTION.into()),
                ("NW_PG_EV_BLOCKED", EV_BLOCKED.into()),
            ],
        );
        check_enum(
            OBJ,
            "nw_pg_reason",
            &[
                ("NW_PG_REASON_NONE", REASON_NONE.into()),
                ("NW_PG_REASON_EXTERNAL", REASON_EXTERNAL.into()),
                ("NW_PG_REASON_RULE", REASON_RULE.into()),
                ("NW_PG_REASON_UNPARSED", REASON_UNPARSED.into()),
                ("NW_PG_REASON_RULE_ALLOW", REASON_RULE_ALLOW.into()),
                ("NW_PG_REASON_POLICY", REASON_POLICY.into()),
            ],
        );
        check_enum(
            OBJ,
            "nw_pg_direction",
            &[
                ("NW_PG_DIR_EGRESS", DIR_EGRESS.into()),
                ("NW_PG_DIR_INGRESS", DIR_INGRESS.into()),
            ],
        );
        check_enum(
            OBJ,
            "nw_pg_policy",
            &[
                ("NW_PG_POLICY_NONE", POLICY_NONE.into()),
                ("NW_PG_POLICY_ALLOWED", POLICY_ALLOWED.into()),
                ("NW_PG_POLICY_DENIED", POLICY_DENIED.into()),
            ],
        );
    }

    #[test]
    fn rule_tables_use_the_firewall_layout() {
        // The pod guard's rule maps hold the firewall's structs: same names, same layout.
        use crate::firewall_abi::{FwRegion, FwTable, FwTableKey};
        check(
            OBJ,
            "nw_fw_region",
            size_of::<FwRegion>(),
            fields!(FwRegion: "region" => region, "other" => other, "unparsed" => unparsed),
        );
        check(
            OBJ,
            "nw_fw_table_key",
            size_of::<FwTableKey>(),
            fields!(FwTableKey: "region" => region, "proto" => proto, "gen" => gen, "_pad" => _pad),
        );
        check(
            OBJ,
            "nw_fw_table",
            size_of::<FwTable>(),
            fields!(FwTable: "count" => count, "_pad" => _pad, "fragment" => fragment,
                "starts" => starts, "decisions" => decisions),
        );
    }
}
