//! Rust mirrors of `bpf/include/netwarden/firewall_abi.h`, checked against the firewall object's
//! BTF by `layout_tests`.

/// Segments per table (`NW_FW_MAX_SEGMENTS`).
pub const MAX_SEGMENTS: usize = 256;

/// `enum nw_fw_verdict`.
pub const VERDICT_PASS: u8 = 0;
pub const VERDICT_ALLOW: u8 = 1;
pub const VERDICT_DENY: u8 = 2;
pub const VERDICT_FAILSAFE: u8 = 3;

/// A decision word: `(slot << SLOT_SHIFT) | verdict`.
pub const SLOT_SHIFT: u32 = 8;
pub const VERDICT_MASK: u32 = 0xff;

/// `nw_fw_config.state` bits.
pub const STATE_GEN: u32 = 0x1;
pub const STATE_AUDIT: u32 = 0x2;
pub const STATE_ENABLED: u32 = 0x4;

/// `nw_fw_lpm_key.scope` bits above the interface index.
pub const SCOPE_GEN: u32 = 0x8000_0000;
pub const SCOPE_V6: u32 = 0x4000_0000;

/// `NW_FW_EV_*` bits of [`FwEvent::flags`].
pub const EV_FRAGMENT: u8 = 0x1;
pub const EV_UNPARSED: u8 = 0x2;
pub const EV_TRUNCATED: u8 = 0x4;

/// Indexes of the firewall's per-CPU counters (`enum nw_fw_counter`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum FwCounter {
    NoMatch = 0,
    FailSafe = 1,
    AlwaysPass = 2,
    Unparsed = 3,
    EventsLost = 4,
    EventsSuppressed = 5,
}

impl FwCounter {
    pub const ALL: [FwCounter; 6] = [
        FwCounter::NoMatch,
        FwCounter::FailSafe,
        FwCounter::AlwaysPass,
        FwCounter::Unparsed,
        FwCounter::EventsLost,
        FwCounter::EventsSuppressed,
    ];

    /// The C enumerator's name.
    pub fn c_name(self) -> &'static str {
        match self {
            FwCounter::NoMatch => "NW_FW_CNT_NO_MATCH",
            FwCounter::FailSafe => "NW_FW_CNT_FAILSAFE",
            FwCounter::AlwaysPass => "NW_FW_CNT_ALWAYS_PASS",
            FwCounter::Unparsed => "NW_FW_CNT_UNPARSED",
            FwCounter::EventsLost => "NW_FW_CNT_EVENTS_LOST",
            FwCounter::EventsSuppressed => "NW_FW_CNT_EVENTS_SUPPRESSED",
        }
    }
}

/// `struct nw_fw_config`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FwConfig {
    pub state: u32,
    pub events_per_sec: u32,
}

/// The part of `struct nw_fw_lpm_key` after `prefixlen` (aya's `LpmTrie` key adds the length).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct FwLpmData {
    pub scope: u32,
    pub addr: [u8; 16],
}

/// `struct nw_fw_region`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FwRegion {
    pub region: u32,
    pub other: u32,
    pub unparsed: u32,
}

/// `struct nw_fw_table_key`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct FwTableKey {
    pub region: u32,
    pub proto: u8,
    pub gen: u8,
    pub _pad: u16,
}

/// `struct nw_fw_table`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FwTable {
    pub count: u16,
    pub _pad: u16,
    pub fragment: u32,
    pub starts: [u16; MAX_SEGMENTS],
    pub decisions: [u32; MAX_SEGMENTS],
}

impl Default for FwTable {
    fn default() -> Self {
        Self {
            count: 0,
            _pad: 0,
            fragment: 0,
            starts: [0; MAX_SEGMENTS],
            decisions: [0; MAX_SEGMENTS],
        }
    }
}

/// `struct nw_fw_rule_counters` (one per CPU per rule slot).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FwRuleCounters {
    pub allow_packets: u64,
    pub allow_bytes: u64,
    pub deny_packets: u64,
    pub deny_bytes: u64,
}

/// `struct nw_fw_event_budget`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FwEventBudget {
    pub window_start_ns: u64,
    pub sent: u32,
    pub suppressed: u32,
}

/// `struct nw_fw_event`: a denied packet.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FwEvent {
    pub ts_ns: u64,
    pub rule_slot: u32,
    pub ifindex: u32,
    pub pkt_len: u32,
    pub suppressed: u32,
    pub verdict: u8,
    pub audit: u8,
    pub family: u8,
    pub proto: u8,
    pub icmp_type: u8,
    pub icmp_code: u8,
    pub flags: u8,
    pub _pad: u8,
    pub src_port: u16,
    pub dst_port: u16,
    pub src_addr: [u8; 16],
    pub dst_addr: [u8; 16],
}

unsafe impl aya::Pod for FwConfig {}
unsafe impl aya::Pod for FwLpmData {}
unsafe impl aya::Pod for FwRegion {}
unsafe impl aya::Pod for FwTableKey {}
unsafe impl aya::Pod for FwTable {}
unsafe impl aya::Pod for FwRuleCounters {}
unsafe impl aya::Pod for FwEventBudget {}
unsafe impl aya::Pod for FwEvent {}

#[cfg(test)]
mod layout_tests {
    use super::*;
    use crate::fields;
    use crate::layout::{check, check_enum};
    use crate::FIREWALL_OBJECT as OBJ;
    use std::mem::size_of;

    #[test]
    fn config_matches_c() {
        check(
            OBJ,
            "nw_fw_config",
            size_of::<FwConfig>(),
            fields!(FwConfig: "state" => state, "events_per_sec" => events_per_sec),
        );
    }

    #[test]
    fn lpm_key_matches_c() {
        // The C key starts with the 4-byte prefixlen that aya's Key adds.
        let l = crate::btf::Btf::from_elf(OBJ)
            .unwrap()
            .struct_layout("nw_fw_lpm_key")
            .unwrap();
        assert_eq!(l.size as usize, 4 + size_of::<FwLpmData>());
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
                    "scope".to_string(),
                    4 + std::mem::offset_of!(FwLpmData, scope) as u32
                ),
                (
                    "addr".to_string(),
                    4 + std::mem::offset_of!(FwLpmData, addr) as u32
                ),
            ]
        );
    }

    #[test]
    fn region_matches_c() {
        check(
            OBJ,
            "nw_fw_region",
            size_of::<FwRegion>(),
            fields!(FwRegion: "region" => region, "other" => other, "unparsed" => unparsed),
        );
    }

    #[test]
    fn table_matches_c() {
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

    #[test]
    fn counters_and_budget_match_c() {
        check(
            OBJ,
            "nw_fw_rule_counters",
            size_of::<FwRuleCounters>(),
            fields!(FwRuleCounters: "allow_packets" => allow_packets, "allow_bytes" => allow_bytes,
                "deny_packets" => deny_packets, "deny_bytes" => deny_bytes),
        );
        check(
            OBJ,
            "nw_fw_event_budget",
            size_of::<FwEventBudget>(),
            fields!(FwEventBudget: "window_start_ns" => window_start_ns, "sent" => sent,
                "suppressed" => suppressed),
        );
    }

    #[test]
    fn event_matches_c() {
        check(
            OBJ,
            "nw_fw_event",
            size_of::<FwEvent>(),
            fields!(FwEvent: "ts_ns" => ts_ns, "rule_slot" => rule_slot, "ifindex" => ifindex,
                "pkt_len" => pkt_len, "suppressed" => suppressed, "verdict" => verdict,
                "audit" => audit, "family" => family, "proto" => proto, "icmp_type" => icmp_type,
                "icmp_code" => icmp_code, "flags" => flags, "_pad" => _pad,
                "src_port" => src_port, "dst_port" => dst_port, "src_addr" => src_addr,
                "dst_addr" => dst_addr),
        );
    }

    #[test]
    fn enums_match_c() {
        let counters: Vec<(&str, i64)> = FwCounter::ALL
            .iter()
            .map(|c| (c.c_name(), *c as i64))
            .collect();
        check_enum(OBJ, "nw_fw_counter", &counters);
        check_enum(
            OBJ,
            "nw_fw_verdict",
            &[
                ("NW_FW_PASS", VERDICT_PASS.into()),
                ("NW_FW_ALLOW", VERDICT_ALLOW.into()),
                ("NW_FW_DENY", VERDICT_DENY.into()),
                ("NW_FW_FAILSAFE", VERDICT_FAILSAFE.into()),
            ],
        );
    }
}
