//! One region's decisions: the first-match result of its ordered rules for every protocol and
//! selector, as the segment tables the kernel searches.

use std::collections::{BTreeMap, BTreeSet};

use super::compiled::{proto, Decision, PortTable, Region, Segment, Verdict};
use super::model::{Action, ProtocolMatch};
use super::protected::ProtectedService;

/// A rule of a region, already in the order it is tried.
#[derive(Debug, Clone, Copy)]
pub(super) struct RegionRule {
    /// Index into `CompiledFirewall::rules`.
    pub index: u32,
    pub matched: ProtocolMatch,
    pub action: Action,
}

impl RegionRule {
    fn decision(&self) -> Decision {
        let verdict = match self.action {
            Action::Allow => Verdict::Allow,
            Action::Deny => Verdict::Deny,
        };
        Decision {
            verdict,
            rule: Some(self.index),
        }
    }

    fn matches_protocol(&self, number: u8) -> bool {
        self.matched.number().is_none_or(|n| n == number)
    }
}

/// Whether protected services apply to a protocol's tables (they are destination ports).
pub(super) fn has_ports(number: u8) -> bool {
    matches!(number, proto::TCP | proto::UDP | proto::SCTP)
}

/// Builds the region of `rules` (in the order they are tried) for an IPv4 or IPv6 prefix.
///
/// Tables are made for every protocol a rule names (ICMP only in IPv4 regions, ICMPv6 only in
/// IPv6 ones), and also for the protected services' protocols when a protocol-less Deny would
/// otherwise close them through `other`, which has no ports to carve fail-safe holes in.
pub(super) fn build(rules: &[RegionRule], ipv4: bool, protected: &[ProtectedService]) -> Region {
    let first_any = rules.iter().find(|r| r.matched == ProtocolMatch::Any);
    let other = first_any.map_or(Decision::PASS, RegionRule::decision);
    let unparsed = first_any
        .or_else(|| rules.iter().find(|r| r.action == Action::Deny))
        .map_or(Decision::PASS, RegionRule::decision);

    let named: BTreeSet<u8> = rules
        .iter()
        .filter(|r| r.matched.fits_family(ipv4))
        .filter_map(|r| r.matched.number())
        .collect();
    let mut numbers = named.clone();
    if other.verdict == Verdict::Deny {
        numbers.extend(
            protected
                .iter()
                .map(|s| s.protocol)
                .filter(|&p| has_ports(p)),
        );
    }
    let mut tables = BTreeMap::new();
    for number in numbers {
        let table = table(rules, number, protected);
        let same_as_other =
            table.fragment == other && table.segments.iter().all(|s| s.decision == other);
        if named.contains(&number) || !same_as_other {
            tables.insert(number, table);
        }
    }
    Region {
        tables,
        other,
        unparsed,
    }
}

/// The table of one protocol. The selector domain is cut at every rule and protected-service
/// boundary; within each piece every rule either matches all of it or none of it, so deciding
/// at its start decides the piece. Each rule, in order, decides the pieces of its range that no
/// earlier rule decided, so the work grows with rules plus pieces, not their product.
fn table(rules: &[RegionRule], number: u8, protected: &[ProtectedService]) -> PortTable {
    let rules: Vec<&RegionRule> = rules
        .iter()
        .filter(|r| r.matches_protocol(number))
        .collect();
    let protected: Vec<&ProtectedService> = protected
        .iter()
        .filter(|s| has_ports(number) && s.protocol == number)
        .collect();
    let mut cuts: BTreeSet<u32> = BTreeSet::from([0]);
    let ranges = rules
        .iter()
        .filter_map(|r| r.matched.selector_range())
        .chain(protected.iter().map(|s| (s.first, s.last)));
    for (first, last) in ranges {
        cuts.insert(first.into());
        cuts.insert(u32::from(last) + 1);
    }
    // The pieces' starts; piece `i` runs up to the next start.
    let starts: Vec<u32> = cuts
        .into_iter()
        .filter(|&c| c <= u32::from(u16::MAX))
        .collect();
    let mut decided: Vec<Option<Decision>> = vec![None; starts.len()];
    let mut undecided = Undecided::new(starts.len());
    for rule in &rules {
        let (lo, hi) = match rule.matched.selector_range() {
            Some((first, last)) => (
                starts.partition_point(|&s| s < u32::from(first)),
                starts.partition_point(|&s| s <= u32::from(last)),
            ),
            None => (0, starts.len()),
        };
        let mut piece = undecided.first_from(lo);
        while piece < hi {
            decided[piece] = Some(rule.decision());
            undecided.remove(piece);
            piece = undecided.first_from(piece + 1);
        }
        if undecided.first_from(0) == starts.len() {
            break;
        }
    }
    let mut segments: Vec<Segment> = Vec::new();
    for (&start, decision) in starts.iter().zip(decided) {
        let mut decision = decision.unwrap_or(Decision::PASS);
        if decision.verdict == Verdict::Deny
            && protected
                .iter()
                .any(|s| (u32::from(s.first)..=u32::from(s.last)).contains(&start))
        {
            decision.verdict = Verdict::FailSafe;
        }
        if segments.last().is_none_or(|s| s.decision != decision) {
            // `start <= u16::MAX` was filtered above.
            let start = u16::try_from(start).unwrap_or(u16::MAX);
            segments.push(Segment { start, decision });
        }
    }
    let fragment = rules
        .iter()
        .find(|r| r.matched.selector_range().is_none())
        .map_or(Decision::PASS, |r| r.decision());
    PortTable { segments, fragment }
}

/// The pieces no rule has decided yet, among `0..len`: a disjoint-set forest where each removed
/// piece points past itself, so finding the next undecided piece skips decided runs at once.
struct Undecided {
    /// `next[i]`: `i` when piece `i` is undecided, else a later piece to look from; `len` is
    /// the end.
    next: Vec<usize>,
}

impl Undecided {
    fn new(len: usize) -> Undecided {
        Undecided {
            next: (0..=len).collect(),
        }
    }

    /// The first undecided piece at or after `from`, or `len` when there is none.
    fn first_from(&mut self, from: usize) -> usize {
        let mut root = from;
        while self.next[root] != root {
            root = self.next[root];
        }
        // Point everything on the way straight at the answer.
        let mut at = from;
        while self.next[at] != root {
            let next = self.next[at];
            self.next[at] = root;
            at = next;
        }
        root
    }

    /// Marks `piece` decided.
    fn remove(&mut self, piece: usize) {
        self.next[piece] = piece + 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::firewall::model::{IcmpMatch, PortRange};

    fn rule(index: u32, matched: ProtocolMatch, action: Action) -> RegionRule {
        RegionRule {
            index,
            matched,
            action,
        }
    }

    fn ports(first: u16, last: u16) -> Option<PortRange> {
        Some(PortRange { first, last })
    }

    fn d(verdict: Verdict, rule: u32) -> Decision {
        Decision {
            verdict,
            rule: Some(rule),
        }
    }

    fn seg(start: u16, decision: Decision) -> Segment {
        Segment { start, decision }
    }

    #[test]
    fn ranges_are_inclusive_and_first_match_wins() {
        let rules = [
            rule(0, ProtocolMatch::Tcp(ports(100, 200)), Action::Allow),
            rule(1, ProtocolMatch::Tcp(ports(150, 300)), Action::Deny),
            rule(2, ProtocolMatch::Tcp(None), Action::Allow),
        ];
        let region = build(&rules, true, &[]);
        let table = &region.tables[&proto::TCP];
        assert_eq!(
            table.segments,
            vec![
                seg(0, d(Verdict::Allow, 2)),
                seg(100, d(Verdict::Allow, 0)),
                seg(201, d(Verdict::Deny, 1)),
                seg(301, d(Verdict::Allow, 2)),
            ]
        );
        assert_eq!(table.fragment, d(Verdict::Allow, 2));
        assert_eq!(region.other, Decision::PASS);
        assert_eq!(region.unparsed, d(Verdict::Deny, 1));
    }

    #[test]
    fn range_to_65535_has_no_segment_after_it() {
        let rules = [rule(
            0,
            ProtocolMatch::Udp(ports(65000, 65535)),
            Action::Deny,
        )];
        let table = &build(&rules, true, &[]).tables[&proto::UDP];
        assert_eq!(
            table.segments,
            vec![seg(0, Decision::PASS), seg(65000, d(Verdict::Deny, 0))]
        );
        assert_eq!(table.fragment, Decision::PASS);
    }

    #[test]
    fn protocol_less_rule_decides_other_and_fills_tables() {
        let rules = [
            rule(0, ProtocolMatch::Udp(ports(53, 53)), Action::Allow),
            rule(1, ProtocolMatch::Any, Action::Deny),
        ];
        let region = build(&rules, true, &[]);
        assert_eq!(region.other, d(Verdict::Deny, 1));
        assert_eq!(region.unparsed, d(Verdict::Deny, 1));
        assert_eq!(
            region.tables.keys().copied().collect::<Vec<_>>(),
            [proto::UDP]
        );
        let udp = &region.tables[&proto::UDP];
        assert_eq!(udp.fragment, d(Verdict::Deny, 1));
        assert_eq!(udp.segments.len(), 3);
    }

    #[test]
    fn icmp_tables_follow_the_family() {
        let type_only = IcmpMatch {
            icmp_type: 3,
            icmp_code: None,
        };
        let with_code = IcmpMatch {
            icmp_type: 8,
            icmp_code: Some(0),
        };
        let rules = [
            rule(0, ProtocolMatch::Icmp(Some(type_only)), Action::Allow),
            rule(1, ProtocolMatch::Icmp(Some(with_code)), Action::Deny),
            rule(2, ProtocolMatch::Icmpv6(None), Action::Deny),
        ];
        let v4 = build(&rules, true, &[]);
        assert_eq!(v4.tables.keys().copied().collect::<Vec<_>>(), [proto::ICMP]);
        assert_eq!(
            v4.tables[&proto::ICMP].segments,
            vec![
                seg(0, Decision::PASS),
                seg(0x300, d(Verdict::Allow, 0)),
                seg(0x400, Decision::PASS),
                seg(0x800, d(Verdict::Deny, 1)),
                seg(0x801, Decision::PASS),
            ]
        );
        let v6 = build(&rules, false, &[]);
        assert_eq!(
            v6.tables.keys().copied().collect::<Vec<_>>(),
            [proto::ICMPV6]
        );
        assert_eq!(
            v6.tables[&proto::ICMPV6].segments,
            vec![seg(0, d(Verdict::Deny, 2))]
        );
        assert_eq!(v6.tables[&proto::ICMPV6].fragment, d(Verdict::Deny, 2));
    }

    #[test]
    fn fail_safe_carves_protected_ports_out_of_denies() {
        let protected = ProtectedService::defaults();
        let rules = [rule(0, ProtocolMatch::Tcp(ports(1, 100)), Action::Deny)];
        let table = &build(&rules, true, &protected).tables[&proto::TCP];
        assert_eq!(
            table.segments,
            vec![
                seg(0, Decision::PASS),
                seg(1, d(Verdict::Deny, 0)),
                seg(22, d(Verdict::FailSafe, 0)),
                seg(23, d(Verdict::Deny, 0)),
                seg(101, Decision::PASS),
            ]
        );
        // An Allow on a protected port stays an Allow.
        let rules = [rule(0, ProtocolMatch::Tcp(ports(22, 22)), Action::Allow)];
        let table = &build(&rules, true, &protected).tables[&proto::TCP];
        assert_eq!(table.segments[1], seg(22, d(Verdict::Allow, 0)));
    }

    #[test]
    fn protocol_less_deny_gets_fail_safe_tables() {
        let protected = ProtectedService::defaults();
        let rules = [rule(0, ProtocolMatch::Any, Action::Deny)];
        let region = build(&rules, true, &protected);
        assert_eq!(
            region.tables.keys().copied().collect::<Vec<_>>(),
            [proto::TCP, proto::UDP]
        );
        let udp = &region.tables[&proto::UDP];
        assert_eq!(
            udp.segments,
            vec![
                seg(0, d(Verdict::Deny, 0)),
                seg(67, d(Verdict::FailSafe, 0)),
                seg(69, d(Verdict::Deny, 0)),
                seg(546, d(Verdict::FailSafe, 0)),
                seg(548, d(Verdict::Deny, 0)),
            ]
        );
        // The fragment decision is not fail-safe adjusted: a fragment has no port.
        assert_eq!(udp.fragment, d(Verdict::Deny, 0));
        // A protocol-less Allow needs no extra tables.
        let rules = [rule(0, ProtocolMatch::Any, Action::Allow)];
        assert!(build(&rules, true, &protected).tables.is_empty());
    }
}
