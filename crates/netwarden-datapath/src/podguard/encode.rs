//! Kernel values of the pod guard's inputs (pure: no maps touched here).

use crate::firewall::{decision_word, lpm_key, table_value};
use netwarden_bpf::firewall_abi::{FwLpmData, FwRegion, FwTable, FwTableKey};
use netwarden_bpf::podguard_abi::{
    PgCidrData, PgNpKey, PgPod, PgSetKey, CLASS_DEFAULT, MODE_BLOCK_EXTERNAL, MODE_MONITOR,
    MODE_POLICY, MODE_RULES,
};
use netwarden_policy::firewall::model::Cidr;
use netwarden_policy::netpol::{EnforcedPod, Enforcement};
use netwarden_policy::podguard::{Assignment, Mode};
use std::net::IpAddr;

/// Network-policy entries of one generation (see `podguard_abi.h`).
#[derive(Debug, Default, PartialEq)]
pub struct PolicyEntries {
    /// Class trie: (prefix length as the trie counts it, key data, class).
    pub classes: Vec<(u32, FwLpmData, u32)>,
    /// Pod scope -> rule set.
    pub sets: Vec<(PgSetKey, u32)>,
    /// (rule set, class) -> region, and (rule set, [`CLASS_DEFAULT`]) -> its default.
    pub regions: Vec<(PgNpKey, FwRegion)>,
    /// Port tables of the regions, in the guard's shared table map.
    pub tables: Vec<(FwTableKey, FwTable)>,
}

/// The entries of `e` in generation `gen`. `scopes` gives a pod's (egress, ingress) scopes
/// (pods without are left out); region ids start at `region_offset` and decision slots at
/// `slot_offset`, after the guard's own rules.
pub fn policy_entries(
    e: &Enforcement,
    scopes: impl Fn(&EnforcedPod) -> Option<(u32, u32)>,
    region_offset: u32,
    slot_offset: u32,
    gen: u32,
) -> PolicyEntries {
    let slots: Vec<u32> = (0..e.decisions.len() as u32)
        .map(|i| slot_offset + i)
        .collect();
    let mut out = PolicyEntries::default();
    for c in &e.classes {
        let (len, data) = lpm_key(0, gen, c.addr, c.prefix_len);
        out.classes.push((len, data, c.class));
    }
    for pod in &e.pods {
        let Some((egress, ingress)) = scopes(pod) else {
            continue;
        };
        for (scope, set) in [(egress, pod.egress), (ingress, pod.ingress)] {
            out.sets.push((PgSetKey { scope, gen }, set));
        }
    }
    let value = |region: u32| {
        let r = &e.regions[region as usize];
        FwRegion {
            region: region_offset + region,
            other: decision_word(&r.other, &slots),
            unparsed: decision_word(&r.unparsed, &slots),
        }
    };
    for (set, rules) in e.rule_sets.iter().enumerate() {
        let set = set as u32;
        let default = (CLASS_DEFAULT, rules.default);
        for (class, region) in std::iter::once(default).chain(rules.regions.iter().copied()) {
            out.regions
                .push((PgNpKey { set, class, gen }, value(region)));
        }
    }
    for (id, region) in e.regions.iter().enumerate() {
        for (&proto, table) in &region.tables {
            let key = FwTableKey {
                region: region_offset + id as u32,
                proto,
                gen: gen as u8,
                _pad: 0,
            };
            out.tables.push((key, table_value(table, &slots)));
        }
    }
    out
}

/// The kernel entry of a pod guarded by `assignment` (if any; without the pod id) and judged by
/// the network-policy rule sets `policy` (egress, ingress scopes), if any.
pub fn pod_value(assignment: Option<&Assignment>, policy: Option<(u32, u32)>) -> PgPod {
    let mut value = assignment.map(assignment_value).unwrap_or_default();
    if let Some((egress, ingress)) = policy {
        value.modes |= MODE_POLICY;
        value.policy_egress = egress;
        value.policy_ingress = ingress;
    }
    value
}

fn assignment_value(a: &Assignment) -> PgPod {
    let mut modes = if a.monitor { MODE_MONITOR } else { 0 };
    let mut ruleset = 0;
    match a.mode {
        Mode::Monitor => {}
        Mode::BlockExternal => modes |= MODE_BLOCK_EXTERNAL,
        Mode::Rules => {
            modes |= MODE_RULES;
            ruleset = a.selector as u32;
        }
    }
    PgPod {
        pod_id: 0,
        ruleset,
        modes,
        blocking: u8::from(a.blocking && a.mode != Mode::Monitor),
        ..PgPod::default()
    }
}

/// The modes of an entry as text: `monitor`, `monitor+block-external`, `rules (outside its
/// windows)`...
pub fn modes_text(v: &PgPod) -> String {
    let mut parts = Vec::new();
    if v.modes & MODE_MONITOR != 0 {
        parts.push("monitor");
    }
    if v.modes & MODE_BLOCK_EXTERNAL != 0 {
        parts.push("block-external");
    }
    if v.modes & MODE_RULES != 0 {
        parts.push("rules");
    }
    if v.modes & MODE_POLICY != 0 {
        parts.push("network-policy");
    }
    let mut text = parts.join("+");
    if v.modes & (MODE_BLOCK_EXTERNAL | MODE_RULES) != 0 && v.blocking == 0 {
        text.push_str(", blocking off outside its windows");
    }
    text
}

/// The trie key of a cluster range.
pub fn cluster_key(cidr: &Cidr) -> (u32, PgCidrData) {
    let mut data = PgCidrData::default();
    match cidr.addr {
        IpAddr::V4(a) => {
            data.family = 4;
            data.addr[..4].copy_from_slice(&a.octets());
        }
        IpAddr::V6(a) => {
            data.family = 6;
            data.addr = a.octets();
        }
    }
    (32 + u32::from(cidr.prefix_len), data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assignments_become_mode_bits() {
        let a = |mode, monitor, blocking, selector| Assignment {
            selector,
            mode,
            monitor,
            blocking,
        };
        let cases: &[(Assignment, u8, u32, u8, &str)] = &[
            (
                a(Mode::Monitor, true, false, 0),
                MODE_MONITOR,
                0,
                0,
                "monitor",
            ),
            (
                a(Mode::BlockExternal, true, true, 1),
                MODE_MONITOR | MODE_BLOCK_EXTERNAL,
                0,
                1,
                "monitor+block-external",
            ),
            (a(Mode::Rules, false, true, 3), MODE_RULES, 3, 1, "rules"),
            (
                a(Mode::Rules, true, false, 2),
                MODE_MONITOR | MODE_RULES,
                2,
                0,
                "monitor+rules, blocking off outside its windows",
            ),
        ];
        for (assignment, modes, ruleset, blocking, text) in cases {
            let v = pod_value(Some(assignment), None);
            assert_eq!(
                (v.modes, v.ruleset, v.blocking),
                (*modes, *ruleset, *blocking)
            );
            assert_eq!(modes_text(&v), *text);
        }
    }

    #[test]
    fn network_policy_adds_its_rule_sets() {
        let v = pod_value(None, Some((1 << 20, (1 << 20) + 1)));
        assert_eq!(
            (v.modes, v.policy_egress, v.policy_ingress, v.blocking),
            (MODE_POLICY, 1 << 20, (1 << 20) + 1, 0)
        );
        assert_eq!(modes_text(&v), "network-policy");
        let guarded = Assignment {
            selector: 0,
            mode: Mode::Monitor,
            monitor: true,
            blocking: false,
        };
        let v = pod_value(Some(&guarded), Some((7, 8)));
        assert_eq!(modes_text(&v), "monitor+network-policy");
    }

    #[test]
    fn cluster_keys_carry_the_family_in_the_prefix() {
        let (len, k) = cluster_key(&Cidr::parse("10.244.0.0/16").unwrap());
        assert_eq!((len, k.family, &k.addr[..4]), (48, 4, &[10, 244, 0, 0][..]));
        let (len, k) = cluster_key(&Cidr::parse("fd00::/8").unwrap());
        assert_eq!((len, k.family, k.addr[0]), (40, 6, 0xfd));
    }
}
