//! Kernel values of the pod guard's inputs (pure: no maps touched here).

use netwarden_bpf::podguard_abi::{
    PgCidrData, PgPod, MODE_BLOCK_EXTERNAL, MODE_MONITOR, MODE_POLICY, MODE_RULES,
};
use netwarden_policy::firewall::model::Cidr;
use netwarden_policy::podguard::{Assignment, Mode};
use std::net::IpAddr;

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
