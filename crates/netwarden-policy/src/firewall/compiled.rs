//! The compiled form of a firewall rule set: what the XDP program looks up, still keyed by interface
//! name (the datapath resolves names to indexes and writes the kernel maps; see
//! `bpf/include/netwarden/firewall_abi.h`).
//!
//! Lookup for a packet on interface I from source S, protocol P, selector X (the destination port for
//! TCP/UDP/SCTP, `type << 8 | code` for ICMP/ICMPv6):
//! 1. the longest [`PrefixEntry`] of I containing S (same family) names a [`Region`]; none: pass;
//! 2. the region's [`PortTable`] for P; none: the region's `other` decision;
//! 3. in the table, the last [`Segment`] whose `start <= X` decides; non-first fragments and packets
//!    whose transport header is cut short use the table's `fragment` decision instead, and packets
//!    whose headers cannot be walked at all (too many IPv6 extension headers or VLAN tags) use the
//!    region's `unparsed` decision.
//!
//! Every decision is a first-match result computed here, in userspace, so the kernel's work per
//! packet does not grow with the number of rules.

use std::collections::BTreeMap;
use std::net::IpAddr;

/// Most segments one [`PortTable`] may hold (the kernel table's fixed size; binary search takes at
/// most 8 steps).
pub const MAX_SEGMENTS: usize = 256;

/// IP protocol numbers with their own tables.
pub mod proto {
    pub const ICMP: u8 = 1;
    pub const TCP: u8 = 6;
    pub const UDP: u8 = 17;
    pub const ICMPV6: u8 = 58;
    pub const SCTP: u8 = 132;
}

/// What happens to a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Verdict {
    /// No rule matched: pass, counted nowhere.
    Pass,
    Allow,
    Deny,
    /// A Deny rule matched a protected service (fail-safe): pass, counted as fail-safe.
    FailSafe,
}

/// A verdict and the rule that gave it (index into [`CompiledFirewall::rules`]); `rule` is `None`
/// exactly when `verdict` is [`Verdict::Pass`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Decision {
    pub verdict: Verdict,
    pub rule: Option<u32>,
}

impl Decision {
    pub const PASS: Decision = Decision {
        verdict: Verdict::Pass,
        rule: None,
    };
}

/// From `start` up to the next segment's start (or 65535), `decision` holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Segment {
    pub start: u16,
    pub decision: Decision,
}

/// The decisions of one protocol in one region.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PortTable {
    /// Ascending `start`, the first at 0, no two neighbours with the same decision; at most
    /// [`MAX_SEGMENTS`].
    pub segments: Vec<Segment>,
    /// For non-first fragments and cut-short transport headers: the first rule (in order) that
    /// matches this protocol whatever the port/type, else pass.
    pub fragment: Decision,
}

/// The merged, ordered rules that apply to sources whose longest matching prefix is one entry.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Region {
    /// Tables for protocols some rule of the region names (`proto::*`), and for the protected
    /// services' protocols when `other` is a Deny (so a protocol-less Deny cannot close them).
    pub tables: BTreeMap<u8, PortTable>,
    /// For every other protocol: the first protocol-less rule, else pass.
    pub other: Decision,
    /// For packets whose headers cannot be walked: the first protocol-less rule; else Deny (by the
    /// region's first Deny rule) when the region has any Deny rule; else pass.
    pub unparsed: Decision,
}

/// A source prefix on one interface (host bits cleared).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PrefixEntry {
    pub interface: String,
    pub addr: IpAddr,
    pub prefix_len: u8,
    /// Index into [`CompiledFirewall::regions`].
    pub region: u32,
}

/// Allow or Deny, as written in the object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub enum Action {
    Allow,
    Deny,
}

/// One rule as enforced: a rule of an object, on one of its interfaces, for one of its entry's CIDRs.
/// Counters are kept per identity.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub struct RuleIdentity {
    pub object: String,
    pub interface: String,
    /// The CIDR as normalised (host bits cleared), e.g. `1.1.1.0/24`.
    pub cidr: String,
    pub order: u32,
    pub action: Action,
    /// `TCP`, `UDP`, `SCTP`, `ICMP`, `ICMPv6`, or absent for every protocol.
    pub protocol: Option<String>,
    /// Ports (`80`, `100-200`) or ICMP `type/code` (`3/1`, `8/*`), absent for all.
    pub selector: Option<String>,
}

impl RuleIdentity {
    /// A stable text key: object, interface, CIDR and order (what names a rule's counters).
    pub fn key(&self) -> String {
        format!(
            "{}|{}|{}|{}",
            self.object, self.interface, self.cidr, self.order
        )
    }
}

/// Everything the datapath needs for one node. Hash it directly (it implements [`Hash`]) to
/// tell whether a new rule set changes anything.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct CompiledFirewall {
    pub rules: Vec<RuleIdentity>,
    pub regions: Vec<Region>,
    pub prefixes: Vec<PrefixEntry>,
    /// Interfaces named by the selected objects (sorted, unique).
    pub interfaces: Vec<String>,
}

impl PortTable {
    /// The decision of the last segment whose `start <= selector` (what the kernel's binary
    /// search returns).
    pub fn decide(&self, selector: u16) -> Decision {
        let after = self.segments.partition_point(|s| s.start <= selector);
        after
            .checked_sub(1)
            .and_then(|i| self.segments.get(i))
            .map_or(Decision::PASS, |s| s.decision)
    }
}

impl CompiledFirewall {
    /// Adds `other`'s rules, regions and prefixes after this one's (its interface names must not
    /// clash with ours); returns the offset added to `other`'s rule indexes.
    pub fn append(&mut self, other: &CompiledFirewall) -> u32 {
        let rule_offset = self.rules.len() as u32;
        let region_offset = self.regions.len() as u32;
        let shift = |d: &Decision| Decision {
            verdict: d.verdict,
            rule: d.rule.map(|r| r + rule_offset),
        };
        self.rules.extend(other.rules.iter().cloned());
        self.regions.extend(other.regions.iter().map(|r| {
            Region {
                tables: r
                    .tables
                    .iter()
                    .map(|(proto, t)| {
                        let table = PortTable {
                            segments: t
                                .segments
                                .iter()
                                .map(|s| Segment {
                                    start: s.start,
                                    decision: shift(&s.decision),
                                })
                                .collect(),
                            fragment: shift(&t.fragment),
                        };
                        (*proto, table)
                    })
                    .collect(),
                other: shift(&r.other),
                unparsed: shift(&r.unparsed),
            }
        }));
        self.prefixes
            .extend(other.prefixes.iter().map(|p| PrefixEntry {
                region: p.region + region_offset,
                ..p.clone()
            }));
        self.interfaces.extend(other.interfaces.iter().cloned());
        self.interfaces.sort();
        self.interfaces.dedup();
        rule_offset
    }

    /// The region of the longest prefix on `interface` containing `src` (same family), as the
    /// kernel's LPM lookup finds it.
    pub fn region_for(&self, interface: &str, src: IpAddr) -> Option<&Region> {
        self.prefixes
            .iter()
            .filter(|p| p.interface == interface && p.addr.is_ipv4() == src.is_ipv4())
            .filter(|p| super::model::mask(src, p.prefix_len) == p.addr)
            .max_by_key(|p| p.prefix_len)
            .and_then(|p| self.regions.get(p.region as usize))
    }

    /// What the kernel decides for a packet on `interface` from `src` with IP protocol `proto`
    /// and `selector` (destination port, or ICMP `type << 8 | code`); `selector` `None` is a
    /// non-first fragment or a transport header cut short.
    pub fn lookup(
        &self,
        interface: &str,
        src: IpAddr,
        proto: u8,
        selector: Option<u16>,
    ) -> Decision {
        let Some(region) = self.region_for(interface, src) else {
            return Decision::PASS;
        };
        match (region.tables.get(&proto), selector) {
            (None, _) => region.other,
            (Some(table), None) => table.fragment,
            (Some(table), Some(selector)) => table.decide(selector),
        }
    }

    /// What the kernel decides for a packet whose headers it cannot walk.
    pub fn lookup_unparsed(&self, interface: &str, src: IpAddr) -> Decision {
        self.region_for(interface, src)
            .map_or(Decision::PASS, |r| r.unparsed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(interface: &str, rule: u32) -> CompiledFirewall {
        let allow = Decision {
            verdict: Verdict::Allow,
            rule: Some(rule),
        };
        CompiledFirewall {
            rules: (0..=rule)
                .map(|i| RuleIdentity {
                    object: format!("o{i}"),
                    interface: interface.into(),
                    cidr: "0.0.0.0/0".into(),
                    order: i + 1,
                    action: Action::Allow,
                    protocol: None,
                    selector: None,
                })
                .collect(),
            regions: vec![Region {
                tables: [(
                    proto::TCP,
                    PortTable {
                        segments: vec![Segment {
                            start: 0,
                            decision: allow,
                        }],
                        fragment: allow,
                    },
                )]
                .into(),
                other: allow,
                unparsed: Decision::PASS,
            }],
            prefixes: vec![PrefixEntry {
                interface: interface.into(),
                addr: "0.0.0.0".parse().unwrap(),
                prefix_len: 0,
                region: 0,
            }],
            interfaces: vec![interface.into()],
        }
    }

    #[test]
    fn appended_tables_keep_their_decisions_under_new_indexes() {
        let mut a = table("a", 1);
        let b = table("b", 2);
        let offset = a.append(&b);
        assert_eq!(offset, 2);
        assert_eq!(a.rules.len(), 5);
        assert_eq!(a.interfaces, vec!["a".to_string(), "b".to_string()]);
        let ip = "10.0.0.1".parse().unwrap();
        let on_b = a.lookup("b", ip, proto::TCP, Some(80));
        assert_eq!(on_b.rule, Some(4));
        assert_eq!(a.rules[4].object, "o2");
        assert_eq!(a.lookup("a", ip, proto::TCP, Some(80)).rule, Some(1));
        assert_eq!(a.lookup("b", ip, proto::UDP, None).rule, Some(4));
        assert_eq!(a.lookup_unparsed("b", ip), Decision::PASS);
    }
}
