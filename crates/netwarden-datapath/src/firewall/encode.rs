//! A compiled rule set as kernel map entries (pure: no maps touched here).

use netwarden_bpf::firewall_abi::{
    FwLpmData, FwRegion, FwTable, FwTableKey, SCOPE_GEN, SCOPE_V6, SLOT_SHIFT, VERDICT_ALLOW,
    VERDICT_DENY, VERDICT_FAILSAFE, VERDICT_PASS,
};
use netwarden_policy::firewall::compiled::{CompiledFirewall, Decision, PortTable, Verdict};
use std::collections::BTreeMap;
use std::net::IpAddr;

/// Entries of one generation.
#[derive(Debug, Default, PartialEq)]
pub struct KernelEntries {
    /// (prefix length as the trie counts it, key data, value).
    pub prefixes: Vec<(u32, FwLpmData, FwRegion)>,
    pub tables: Vec<(FwTableKey, FwTable)>,
}

/// The decision word the program reads.
pub fn decision_word(d: &Decision, slots: &[u32]) -> u32 {
    let verdict = match d.verdict {
        Verdict::Pass => return u32::from(VERDICT_PASS),
        Verdict::Allow => VERDICT_ALLOW,
        Verdict::Deny => VERDICT_DENY,
        Verdict::FailSafe => VERDICT_FAILSAFE,
    };
    let slot = d
        .rule
        .and_then(|r| slots.get(r as usize))
        .copied()
        .unwrap_or(0);
    (slot << SLOT_SHIFT) | u32::from(verdict)
}

/// The kernel value of a port table (the compilers never produce more segments than it holds;
/// a count past its size makes the kernel's search give up).
pub fn table_value(table: &PortTable, slots: &[u32]) -> FwTable {
    let mut t = FwTable {
        count: table.segments.len() as u16,
        fragment: decision_word(&table.fragment, slots),
        ..Default::default()
    };
    for (i, seg) in table.segments.iter().take(t.starts.len()).enumerate() {
        t.starts[i] = seg.start;
        t.decisions[i] = decision_word(&seg.decision, slots);
    }
    t
}

/// The trie key of `addr/len` on interface `ifindex` in generation `gen`.
pub fn lpm_key(ifindex: u32, gen: u32, addr: IpAddr, len: u8) -> (u32, FwLpmData) {
    let mut data = FwLpmData {
        scope: ifindex & !(SCOPE_GEN | SCOPE_V6),
        addr: [0; 16],
    };
    if gen != 0 {
        data.scope |= SCOPE_GEN;
    }
    match addr {
        IpAddr::V4(a) => data.addr[..4].copy_from_slice(&a.octets()),
        IpAddr::V6(a) => {
            data.scope |= SCOPE_V6;
            data.addr = a.octets();
        }
    }
    (32 + u32::from(len), data)
}

/// Entries for `compiled` in generation `gen`. `slots[i]` is the counter slot of rule `i`;
/// interfaces missing from `ifindexes` (absent on this node) get no entries.
pub fn encode(
    compiled: &CompiledFirewall,
    ifindexes: &BTreeMap<String, u32>,
    slots: &[u32],
    gen: u32,
) -> KernelEntries {
    let mut out = KernelEntries::default();
    let mut regions_used = vec![false; compiled.regions.len()];
    for p in &compiled.prefixes {
        let (Some(&ifindex), Some(region)) = (
            ifindexes.get(&p.interface),
            compiled.regions.get(p.region as usize),
        ) else {
            continue;
        };
        let (len, data) = lpm_key(ifindex, gen, p.addr, p.prefix_len);
        out.prefixes.push((
            len,
            data,
            FwRegion {
                region: p.region,
                other: decision_word(&region.other, slots),
                unparsed: decision_word(&region.unparsed, slots),
            },
        ));
        regions_used[p.region as usize] = true;
    }
    for (id, region) in compiled.regions.iter().enumerate() {
        if !regions_used[id] {
            continue;
        }
        for (&proto, table) in &region.tables {
            let t = table_value(table, slots);
            out.tables.push((
                FwTableKey {
                    region: id as u32,
                    proto,
                    gen: gen as u8,
                    _pad: 0,
                },
                t,
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use netwarden_policy::firewall::compiled::{PrefixEntry, Region, Segment};

    fn deny(rule: u32) -> Decision {
        Decision {
            verdict: Verdict::Deny,
            rule: Some(rule),
        }
    }

    #[test]
    fn decisions_carry_the_rule_slot_and_verdict() {
        let slots = [7, 9];
        assert_eq!(decision_word(&Decision::PASS, &slots), 0);
        assert_eq!(decision_word(&deny(1), &slots), (9 << 8) | 2);
        let fs = Decision {
            verdict: Verdict::FailSafe,
            rule: Some(0),
        };
        assert_eq!(decision_word(&fs, &slots), (7 << 8) | 3);
    }

    #[test]
    fn keys_separate_interfaces_families_and_generations() {
        let (len, k) = lpm_key(5, 1, "10.1.0.0".parse().unwrap(), 16);
        assert_eq!(len, 48);
        assert_eq!(k.scope, SCOPE_GEN | 5);
        assert_eq!(&k.addr[..4], &[10, 1, 0, 0]);
        let (len, k) = lpm_key(5, 0, "fd00::".parse().unwrap(), 64);
        assert_eq!(len, 96);
        assert_eq!(k.scope, SCOPE_V6 | 5);
    }

    #[test]
    fn absent_interfaces_get_no_entries() {
        let mut tables = BTreeMap::new();
        tables.insert(
            6,
            PortTable {
                segments: vec![
                    Segment {
                        start: 0,
                        decision: Decision::PASS,
                    },
                    Segment {
                        start: 80,
                        decision: deny(0),
                    },
                    Segment {
                        start: 81,
                        decision: Decision::PASS,
                    },
                ],
                fragment: Decision::PASS,
            },
        );
        let compiled = CompiledFirewall {
            rules: vec![],
            regions: vec![
                Region {
                    tables,
                    other: Decision::PASS,
                    unparsed: deny(0),
                },
                Region {
                    tables: BTreeMap::new(),
                    other: Decision::PASS,
                    unparsed: Decision::PASS,
                },
            ],
            prefixes: vec![
                PrefixEntry {
                    interface: "eth0".into(),
                    addr: "10.0.0.0".parse().unwrap(),
                    prefix_len: 8,
                    region: 0,
                },
                PrefixEntry {
                    interface: "eth9".into(),
                    addr: "10.0.0.0".parse().unwrap(),
                    prefix_len: 8,
                    region: 1,
                },
            ],
            interfaces: vec!["eth0".into(), "eth9".into()],
        };
        let ifindexes = BTreeMap::from([("eth0".to_string(), 3)]);
        let e = encode(&compiled, &ifindexes, &[4], 1);
        assert_eq!(e.prefixes.len(), 1);
        assert_eq!(e.prefixes[0].2.unparsed, (4 << 8) | 2);
        assert_eq!(e.tables.len(), 1);
        let (k, t) = &e.tables[0];
        assert_eq!((k.region, k.proto, k.gen), (0, 6, 1));
        assert_eq!(t.count, 3);
        assert_eq!(&t.starts[..3], &[0, 80, 81]);
        assert_eq!(&t.decisions[..3], &[0, (4 << 8) | 2, 0]);
    }
}
