//! A direct, slow evaluator of the firewall semantics on the objects themselves, to check the
//! compiler against (tests only).

use std::cmp::Reverse;
use std::net::IpAddr;

use super::compiled::{RuleIdentity, Verdict};
use super::model::{Action, IngressNodeFirewall, Rule};
use super::protected::ProtectedService;
use super::region::has_ports;

/// A rule that applies to the packet's interface and source, with its identity.
struct Candidate<'a> {
    identity: RuleIdentity,
    prefix_len: u8,
    rule: &'a Rule,
}

fn candidates<'a>(
    objects: &[&'a IngressNodeFirewall],
    interface: &str,
    src: IpAddr,
) -> Vec<Candidate<'a>> {
    let mut out = Vec::new();
    for object in objects {
        if !object.interfaces.iter().any(|i| i == interface) {
            continue;
        }
        for entry in &object.ingress {
            for cidr in entry.source_cidrs.iter().filter(|c| c.contains(src)) {
                for rule in &entry.rules {
                    out.push(Candidate {
                        identity: RuleIdentity {
                            object: object.name.clone(),
                            interface: interface.to_string(),
                            cidr: cidr.to_string(),
                            order: rule.order,
                            action: rule.action,
                            protocol: rule.protocol.name().map(str::to_string),
                            selector: rule.protocol.selector_text(),
                        },
                        prefix_len: cidr.prefix_len,
                        rule,
                    });
                }
            }
        }
    }
    out.sort_by_key(|c| (c.rule.order, Reverse(c.prefix_len)));
    out
}

fn verdict(action: Action) -> Verdict {
    match action {
        Action::Allow => Verdict::Allow,
        Action::Deny => Verdict::Deny,
    }
}

/// The decision for a packet; `selector` `None` is a packet without ports (a non-first fragment),
/// which only rules without a port/type restriction can match.
pub(crate) fn decide(
    objects: &[&IngressNodeFirewall],
    protected: &[ProtectedService],
    interface: &str,
    src: IpAddr,
    proto: u8,
    selector: Option<u16>,
) -> (Verdict, Option<RuleIdentity>) {
    let first = candidates(objects, interface, src).into_iter().find(|c| {
        let m = c.rule.protocol;
        let protocol = m.number().is_none_or(|n| n == proto) && m.fits_family(src.is_ipv4());
        let selected = match (m.selector_range(), selector) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some((first, last)), Some(x)) => (first..=last).contains(&x),
        };
        protocol && selected
    });
    let Some(c) = first else {
        return (Verdict::Pass, None);
    };
    let mut v = verdict(c.rule.action);
    if let Some(port) = selector {
        let is_protected = protected.iter().any(|s| s.covers(proto, port));
        if v == Verdict::Deny && has_ports(proto) && is_protected {
            v = Verdict::FailSafe;
        }
    }
    (v, Some(c.identity))
}

/// The decision for a packet whose headers cannot be walked, as `compiled.rs` defines it.
pub(crate) fn decide_unparsed(
    objects: &[&IngressNodeFirewall],
    interface: &str,
    src: IpAddr,
) -> (Verdict, Option<RuleIdentity>) {
    // Only the longest prefix's region counts, and its rules are those of the prefixes
    // containing it, which are exactly the candidates.
    let all = candidates(objects, interface, src);
    let chosen = all
        .iter()
        .find(|c| c.rule.protocol.number().is_none())
        .or_else(|| all.iter().find(|c| c.rule.action == Action::Deny));
    match chosen {
        Some(c) => (verdict(c.rule.action), Some(c.identity.clone())),
        None => (Verdict::Pass, None),
    }
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use super::*;
    use crate::firewall::compile;
    use crate::firewall::compiled::{proto, CompiledFirewall, Decision, MAX_SEGMENTS};
    use crate::firewall::model::{
        Cidr, IcmpMatch, IngressEntry, LabelSelector, PortRange, ProtocolMatch,
    };

    /// xorshift64*: small, fixed-seed, good enough to spread test cases.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }

        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }

        fn pick<T: Copy>(&mut self, items: &[T]) -> T {
            items[self.below(items.len() as u64) as usize]
        }

        fn chance(&mut self, percent: u64) -> bool {
            self.below(100) < percent
        }
    }

    const INTERFACES: [&str; 3] = ["eth0", "eth1", "eth2"];
    const CIDRS: [&str; 14] = [
        "0.0.0.0/0",
        "10.0.0.0/8",
        "10.1.0.0/16",
        "10.1.2.0/24",
        "10.1.2.128/25",
        "10.1.2.200/32",
        "192.168.0.0/16",
        "::/0",
        "2001:db8::/32",
        "2001:db8:1::/48",
        "2001:db8:1::/64",
        "2001:db8:1::5/128",
        "fd00::/8",
        "fd00:1::/32",
    ];

    fn port(rng: &mut Rng) -> u16 {
        match rng.below(4) {
            0 => 1 + rng.below(40) as u16,
            1 => 2370 + rng.below(20) as u16,
            2 => 6440 + rng.below(10) as u16,
            _ => 65500 + rng.below(36) as u16,
        }
    }

    fn ports(rng: &mut Rng) -> Option<PortRange> {
        if rng.chance(25) {
            return None;
        }
        let first = port(rng);
        let last = first.saturating_add(rng.below(12) as u16);
        Some(PortRange { first, last })
    }

    fn icmp(rng: &mut Rng) -> Option<IcmpMatch> {
        match rng.below(3) {
            0 => None,
            1 => Some(IcmpMatch {
                icmp_type: rng.below(6) as u8,
                icmp_code: None,
            }),
            _ => Some(IcmpMatch {
                icmp_type: rng.below(6) as u8,
                icmp_code: Some(rng.below(4) as u8),
            }),
        }
    }

    fn protocol(rng: &mut Rng) -> ProtocolMatch {
        match rng.below(8) {
            0 => ProtocolMatch::Any,
            1 | 2 => ProtocolMatch::Tcp(ports(rng)),
            3 => ProtocolMatch::Udp(ports(rng)),
            4 => ProtocolMatch::Sctp(ports(rng)),
            5 | 6 => ProtocolMatch::Icmp(icmp(rng)),
            _ => ProtocolMatch::Icmpv6(icmp(rng)),
        }
    }

    /// A random rule set whose orders are unique per (interface, CIDR) but often equal across
    /// nested CIDRs, so both ordering rules get exercised.
    fn rule_set(rng: &mut Rng, count: usize) -> Vec<IngressNodeFirewall> {
        let mut used = std::collections::BTreeSet::new();
        let mut objects = Vec::new();
        for o in 0..count {
            let mut interfaces: Vec<String> = Vec::new();
            for _ in 0..1 + rng.below(2) {
                let name = rng.pick(&INTERFACES).to_string();
                if !interfaces.contains(&name) {
                    interfaces.push(name);
                }
            }
            let mut ingress = Vec::new();
            for _ in 0..1 + rng.below(4) {
                let mut cidrs: Vec<Cidr> = Vec::new();
                for _ in 0..1 + rng.below(3) {
                    let cidr = Cidr::parse(rng.pick(&CIDRS)).expect("valid pool CIDR");
                    if !cidrs.iter().any(|c| c.key() == cidr.key()) {
                        cidrs.push(cidr);
                    }
                }
                let mut rules = Vec::new();
                for _ in 0..1 + rng.below(8) {
                    let mut order = 1 + rng.below(25) as u32;
                    let clash = |order: u32, used: &std::collections::BTreeSet<_>| {
                        interfaces.iter().any(|i| {
                            cidrs
                                .iter()
                                .any(|c| used.contains(&(i.clone(), c.key(), order)))
                        })
                    };
                    while clash(order, &used) {
                        order += 1;
                    }
                    for i in &interfaces {
                        for c in &cidrs {
                            used.insert((i.clone(), c.key(), order));
                        }
                    }
                    let action = if rng.chance(50) {
                        Action::Allow
                    } else {
                        Action::Deny
                    };
                    rules.push(Rule {
                        order,
                        protocol: protocol(rng),
                        action,
                    });
                }
                ingress.push(IngressEntry {
                    source_cidrs: cidrs,
                    rules,
                });
            }
            objects.push(IngressNodeFirewall {
                name: format!("fw-{o}"),
                source: "random.yaml".into(),
                node_selector: LabelSelector::default(),
                interfaces,
                ingress,
            });
        }
        objects
    }

    /// A source: often inside a pool CIDR (host bits random), sometimes anywhere.
    fn source(rng: &mut Rng) -> IpAddr {
        let cidr = Cidr::parse(rng.pick(&CIDRS)).expect("valid pool CIDR");
        let random = if rng.chance(10) {
            0
        } else {
            (u128::from(rng.next()) << 64) | u128::from(rng.next())
        };
        let anywhere = rng.chance(10);
        match cidr.addr {
            IpAddr::V4(a) => {
                let host = u32::MAX
                    .checked_shr(u32::from(cidr.prefix_len))
                    .unwrap_or(0);
                let bits = if anywhere {
                    random as u32
                } else {
                    u32::from(a) | (random as u32 & host)
                };
                IpAddr::V4(Ipv4Addr::from(bits))
            }
            IpAddr::V6(a) => {
                let host = u128::MAX
                    .checked_shr(u32::from(cidr.prefix_len))
                    .unwrap_or(0);
                let bits = if anywhere {
                    random
                } else {
                    u128::from(a) | (random & host)
                };
                IpAddr::V6(Ipv6Addr::from(bits))
            }
        }
    }

    fn packet(rng: &mut Rng) -> (u8, Option<u16>) {
        let number = rng.pick(&[
            proto::TCP,
            proto::TCP,
            proto::UDP,
            proto::SCTP,
            proto::ICMP,
            proto::ICMPV6,
            47,
        ]);
        if rng.chance(8) {
            return (number, None);
        }
        let selector = match number {
            proto::ICMP | proto::ICMPV6 => (rng.below(8) as u16) << 8 | rng.below(5) as u16,
            _ if rng.chance(10) => rng.next() as u16,
            _ => {
                let protected = [22u16, 67, 68, 6443, 2379, 2380, 0, 65535];
                if rng.chance(20) {
                    rng.pick(&protected)
                } else {
                    port(rng)
                }
            }
        };
        (number, Some(selector))
    }

    fn identity(compiled: &CompiledFirewall, d: Decision) -> (Verdict, Option<RuleIdentity>) {
        let rule = d.rule.map(|i| compiled.rules[i as usize].clone());
        (d.verdict, rule)
    }

    fn check_invariants(compiled: &CompiledFirewall) {
        for region in &compiled.regions {
            for table in region.tables.values() {
                assert_eq!(table.segments.first().map(|s| s.start), Some(0));
                assert!(table.segments.len() <= MAX_SEGMENTS);
                for pair in table.segments.windows(2) {
                    assert!(pair[0].start < pair[1].start);
                    assert_ne!(pair[0].decision, pair[1].decision);
                }
            }
        }
    }

    #[test]
    fn compiled_lookup_agrees_with_the_reference() {
        let mut protected = ProtectedService::defaults();
        protected.push(ProtectedService {
            protocol: proto::SCTP,
            first: 30,
            last: 33,
        });
        let mut packets = 0;
        for seed in [1u64, 7, 42, 1234, 99991, 0xdead_beef] {
            let mut rng = Rng(seed);
            for round in 0..8 {
                let objects = rule_set(&mut rng, 2 + round % 4);
                let selected: Vec<&IngressNodeFirewall> = objects.iter().collect();
                let compiled = compile(&selected, &protected)
                    .unwrap_or_else(|p| panic!("seed {seed} round {round}: {p:?}"));
                check_invariants(&compiled);
                for _ in 0..1500 {
                    let interface = rng.pick(&["eth0", "eth1", "eth2", "eth3"]);
                    let src = source(&mut rng);
                    let (number, selector) = packet(&mut rng);
                    let got =
                        identity(&compiled, compiled.lookup(interface, src, number, selector));
                    let want = decide(&selected, &protected, interface, src, number, selector);
                    assert_eq!(
                        got, want,
                        "seed {seed} round {round}: {interface} {src} proto {number} \
                         selector {selector:?}"
                    );
                    let got = identity(&compiled, compiled.lookup_unparsed(interface, src));
                    assert_eq!(got, decide_unparsed(&selected, interface, src));
                    packets += 1;
                }
            }
        }
        assert_eq!(packets, 6 * 8 * 1500);
    }
}
