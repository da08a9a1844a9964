//! The compiler: the objects selected for one node to a [`CompiledFirewall`].
//!
//! Semantics, for a packet arriving on interface I from source S: every entry on I whose CIDR
//! contains S (same family) contributes its rules; they are tried in ascending `order`, on equal
//! order the longer prefix first; the first rule whose protocol and destination port (or ICMP
//! type/code) match decides Allow or Deny; no match passes. A Deny on a protected service's port
//! becomes fail-safe (passes, counted).
//!
//! Every distinct CIDR of an interface becomes a prefix with its own region; a source's longest
//! matching prefix P is contained in every other prefix containing the source, so the region of
//! P holds exactly the rules of the prefixes containing P. Those are found by masking P's address
//! to each prefix length the interface's CIDRs of P's family have (at most 33 or 129 lookups),
//! so compiling grows with the rules times the regions' sizes, not with the prefixes squared.

use std::cmp::Reverse;
use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;

use super::compiled::{CompiledFirewall, PrefixEntry, Region, RuleIdentity, MAX_SEGMENTS};
use super::model::{mask, protocol_name, Action, Cidr, IngressNodeFirewall, ProtocolMatch, Rule};
use super::problem::Problem;
use super::protected::ProtectedService;
use super::region::{self, RegionRule};
use super::validate::validate;

/// A prefix of one interface: the interface's index in [`CompiledFirewall::interfaces`], the
/// network address and the prefix length.
type PrefixKey = (u32, IpAddr, u8);

/// What the compiler keeps of a rule identity after naming it: enough to order and build regions.
struct Slot {
    /// Index into the objects compiled.
    object: u32,
    order: u32,
    prefix_len: u8,
    matched: ProtocolMatch,
    action: Action,
}

/// Compiles the objects selected for a node. Validation runs first: any error fails the compile
/// with every error found (call [`validate`] for the warnings too). The result does not depend
/// on the order of `objects`.
pub fn compile(
    objects: &[&IngressNodeFirewall],
    protected: &[ProtectedService],
) -> Result<CompiledFirewall, Vec<Problem>> {
    let errors: Vec<Problem> = validate(objects, protected)
        .into_iter()
        .filter(Problem::is_error)
        .collect();
    if !errors.is_empty() {
        return Err(errors);
    }
    let names = Names::of(objects);
    let (rules, slots, groups) = place(objects, &names);
    let mut compiled = CompiledFirewall {
        rules,
        interfaces: names.interfaces.iter().map(|i| i.to_string()).collect(),
        ..CompiledFirewall::default()
    };
    // The prefix lengths present per interface and family: where containing prefixes can be.
    let mut lengths: HashMap<(u32, bool), BTreeSet<u8>> = HashMap::new();
    for &(interface, addr, prefix_len) in groups.keys() {
        lengths
            .entry((interface, addr.is_ipv4()))
            .or_default()
            .insert(prefix_len);
    }
    let mut prefixes: Vec<PrefixKey> = groups.keys().copied().collect();
    prefixes.sort_unstable();
    let mut problems = Vec::new();
    for (interface, addr, prefix_len) in prefixes {
        let family = lengths.get(&(interface, addr.is_ipv4()));
        // The prefixes of the interface containing this one: its own address masked to each
        // shorter (or equal) length that some CIDR of the interface has.
        let containing = family
            .into_iter()
            .flat_map(|lens| lens.range(..=prefix_len))
            .filter_map(|&len| groups.get(&(interface, mask(addr, len), len)));
        let mut indexes: Vec<u32> = containing.flatten().copied().collect();
        // Equal (order, length) means the same prefix with a duplicate order, which validation
        // rejects; the index only makes the sort total.
        indexes.sort_unstable_by_key(|&i| {
            let s = &slots[i as usize];
            (s.order, Reverse(s.prefix_len), i)
        });
        let region_rules: Vec<RegionRule> = indexes
            .iter()
            .map(|&index| RegionRule {
                index,
                matched: slots[index as usize].matched,
                action: slots[index as usize].action,
            })
            .collect();
        let region = region::build(&region_rules, addr.is_ipv4(), protected);
        let interface = names.interfaces[interface as usize];
        let prefix = Cidr {
            addr,
            prefix_len,
            written: String::new(),
        };
        let contributors = indexes.iter().map(|&i| &slots[i as usize]);
        check_size(
            objects,
            contributors,
            interface,
            &prefix,
            &region,
            &mut problems,
        );
        compiled.prefixes.push(PrefixEntry {
            interface: interface.to_string(),
            addr,
            prefix_len,
            region: u32::try_from(compiled.regions.len()).unwrap_or(u32::MAX),
        });
        compiled.regions.push(region);
    }
    if problems.is_empty() {
        Ok(compiled)
    } else {
        Err(problems)
    }
}

/// The text parts of rule identities, each computed once and ranked so that comparing ranks
/// compares the texts: placing a million identities then sorts them by integers.
struct Names<'a> {
    /// Rank of each object's name (equal names share a rank), by object index.
    object_ranks: Vec<u32>,
    /// Every interface of the objects, sorted and unique (the rank is the index).
    interfaces: Vec<&'a str>,
    /// Every CIDR of the objects as normalised text, sorted and unique.
    cidrs: Vec<String>,
    cidr_ranks: HashMap<(IpAddr, u8), u32>,
    /// Every distinct (order, action, protocol, selector) of the objects' rules, sorted.
    tails: Vec<Tail>,
    /// The rank in `tails` of each rule, by object, entry and rule index.
    tail_ranks: Vec<Vec<Vec<u32>>>,
}

/// The part of a [`RuleIdentity`] that comes from the rule, in its field order.
type Tail = (u32, Action, Option<&'static str>, Option<String>);

impl<'a> Names<'a> {
    fn of(objects: &[&'a IngressNodeFirewall]) -> Names<'a> {
        let object_names = dense_ranks(objects.iter().map(|o| o.name.as_str()));
        let interfaces: Vec<&str> = objects
            .iter()
            .flat_map(|o| o.interfaces.iter().map(String::as_str))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let mut cidrs: Vec<(String, (IpAddr, u8))> = objects
            .iter()
            .flat_map(|o| &o.ingress)
            .flat_map(|e| &e.source_cidrs)
            .map(|c| (c.key(), c))
            .collect::<HashMap<_, _>>()
            .into_iter()
            .map(|(key, cidr)| (cidr.to_string(), key))
            .collect();
        cidrs.sort_unstable();
        let cidr_ranks = (0u32..).zip(&cidrs).map(|(r, (_, k))| (*k, r)).collect();
        let tail = |rule: &Rule| -> Tail {
            let p = rule.protocol;
            (rule.order, rule.action, p.name(), p.selector_text())
        };
        let tails = dense_ranks(
            objects
                .iter()
                .flat_map(|o| &o.ingress)
                .flat_map(|e| &e.rules)
                .map(tail),
        );
        let tail_ranks = objects
            .iter()
            .map(|o| {
                let entries = o.ingress.iter();
                entries
                    .map(|e| e.rules.iter().map(|r| tails[&tail(r)]).collect())
                    .collect()
            })
            .collect();
        Names {
            object_ranks: objects
                .iter()
                .map(|o| object_names[o.name.as_str()])
                .collect(),
            interfaces,
            cidrs: cidrs.into_iter().map(|(text, _)| text).collect(),
            cidr_ranks,
            tails: tails.into_keys().collect(),
            tail_ranks,
        }
    }

    fn interface_rank(&self, name: &str) -> u32 {
        // Every interface of the objects is in the list.
        let rank = self.interfaces.binary_search(&name).unwrap_or_default();
        u32::try_from(rank).unwrap_or(u32::MAX)
    }
}

/// Each distinct value with its rank in sorted order.
fn dense_ranks<T: Ord>(values: impl Iterator<Item = T>) -> BTreeMap<T, u32> {
    let mut ranks: BTreeMap<T, u32> = values.map(|v| (v, 0)).collect();
    for (rank, slot) in (0u32..).zip(ranks.values_mut()) {
        *slot = rank;
    }
    ranks
}

/// Every (object, interface, CIDR, rule), sorted by identity (the rule indexes): the identities,
/// what the compiler needs of each, and the indexes of each prefix's rules (ascending).
fn place(
    objects: &[&IngressNodeFirewall],
    names: &Names,
) -> (Vec<RuleIdentity>, Vec<Slot>, HashMap<PrefixKey, Vec<u32>>) {
    /// An identity before sorting: ranks of (object, interface, CIDR, tail) packed so that
    /// comparing keys compares identities, and where it came from.
    struct Placed<'a> {
        key: u128,
        object: u32,
        cidr: &'a Cidr,
        rule: &'a Rule,
    }
    let mut placed = Vec::new();
    for ((o, &object), tail_ranks) in (0u32..).zip(objects).zip(&names.tail_ranks) {
        let object_rank = u128::from(names.object_ranks[o as usize]) << 96;
        for interface in &object.interfaces {
            let interface = u128::from(names.interface_rank(interface)) << 64;
            for (entry, tail_ranks) in object.ingress.iter().zip(tail_ranks) {
                for cidr in &entry.source_cidrs {
                    let cidr_rank = names.cidr_ranks.get(&cidr.key()).copied();
                    let cidr_rank = u128::from(cidr_rank.unwrap_or_default()) << 32;
                    for (rule, &tail) in entry.rules.iter().zip(tail_ranks) {
                        placed.push(Placed {
                            key: object_rank | interface | cidr_rank | u128::from(tail),
                            object: o,
                            cidr,
                            rule,
                        });
                    }
                }
            }
        }
    }
    // Stable, as sorting the identities themselves was: equal keys are equal identities.
    placed.sort_by_key(|p| p.key);

    let mut rules = Vec::with_capacity(placed.len());
    let mut slots = Vec::with_capacity(placed.len());
    let mut groups: HashMap<PrefixKey, Vec<u32>> = HashMap::new();
    let mut run: Option<(PrefixKey, Vec<u32>)> = None;
    for (index, p) in (0u32..).zip(&placed) {
        // Ranks are u32s: the shifts above put each in its own 32 bits.
        let rank = |shift: u32| (p.key >> shift) as u32 as usize;
        let interface = rank(64);
        let (order, action, protocol, selector) = &names.tails[rank(0)];
        rules.push(RuleIdentity {
            object: objects[p.object as usize].name.clone(),
            interface: names.interfaces[interface].to_string(),
            cidr: names.cidrs[rank(32)].clone(),
            order: *order,
            action: *action,
            protocol: protocol.map(str::to_string),
            selector: selector.clone(),
        });
        slots.push(Slot {
            object: p.object,
            order: p.rule.order,
            prefix_len: p.cidr.prefix_len,
            matched: p.rule.protocol,
            action: p.rule.action,
        });
        let interface = u32::try_from(interface).unwrap_or(u32::MAX);
        let (addr, prefix_len) = p.cidr.key();
        let prefix = (interface, addr, prefix_len);
        // Sorted by identity, one CIDR's rules come in runs: look its list up once per run.
        match &mut run {
            Some((at, indexes)) if *at == prefix => indexes.push(index),
            _ => {
                if let Some((at, indexes)) = run.replace((prefix, vec![index])) {
                    add_run(&mut groups, at, indexes);
                }
            }
        }
    }
    if let Some((at, indexes)) = run {
        add_run(&mut groups, at, indexes);
    }
    (rules, slots, groups)
}

/// Adds a run of a prefix's rule indexes (all above those it has) to its list.
fn add_run(groups: &mut HashMap<PrefixKey, Vec<u32>>, prefix: PrefixKey, indexes: Vec<u32>) {
    match groups.entry(prefix) {
        Entry::Vacant(v) => {
            v.insert(indexes);
        }
        Entry::Occupied(o) => o.into_mut().extend(indexes),
    }
}

/// An error for every table of the region larger than the kernel's; `rules` are the region's.
fn check_size<'s>(
    objects: &[&IngressNodeFirewall],
    rules: impl Iterator<Item = &'s Slot> + Clone,
    interface: &str,
    prefix: &Cidr,
    region: &Region,
    problems: &mut Vec<Problem>,
) {
    for (&number, table) in &region.tables {
        if table.segments.len() <= MAX_SEGMENTS {
            continue;
        }
        // Name the objects whose rules feed the table, so the user knows where to look.
        let feeding: BTreeSet<u32> = rules
            .clone()
            .filter(|s| s.matched.number().is_none_or(|n| n == number))
            .map(|s| s.object)
            .collect();
        let contributors: BTreeSet<(&str, String)> = feeding
            .into_iter()
            .map(|o| objects[o as usize])
            .map(|o| (o.source.as_str(), o.label()))
            .collect();
        let sources: BTreeSet<&str> = contributors.iter().map(|(s, _)| *s).collect();
        let objects: Vec<&str> = contributors.iter().map(|(_, o)| o.as_str()).collect();
        let message = format!(
            "interface {interface}, source {prefix}, {}: the rules need {} segments, more than the \
             {MAX_SEGMENTS} a kernel table holds (merge neighbouring ports into ranges, or spread \
             the rules over narrower CIDRs)",
            protocol_name(number),
            table.segments.len()
        );
        let sources: Vec<&str> = sources.into_iter().collect();
        problems.push(Problem::error(&sources.join(", "), message).with_object(objects.join(", ")));
    }
}
