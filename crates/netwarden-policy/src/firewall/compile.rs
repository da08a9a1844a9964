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
//! P holds exactly the rules of the prefixes containing P.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use super::compiled::{CompiledFirewall, PrefixEntry, Region, RuleIdentity, MAX_SEGMENTS};
use super::model::{protocol_name, Action, Cidr, IngressNodeFirewall, ProtocolMatch};
use super::problem::Problem;
use super::protected::ProtectedService;
use super::region::{self, RegionRule};
use super::validate::validate;

/// One rule of one object on one interface for one CIDR.
struct Placed<'a> {
    identity: RuleIdentity,
    object: &'a IngressNodeFirewall,
    cidr: &'a Cidr,
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
    let placed = place(objects);
    let mut compiled = CompiledFirewall {
        rules: placed.iter().map(|p| p.identity.clone()).collect(),
        interfaces: objects
            .iter()
            .flat_map(|o| o.interfaces.iter().cloned())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect(),
        ..CompiledFirewall::default()
    };
    let mut problems = Vec::new();
    let mut by_interface: BTreeMap<&str, Vec<u32>> = BTreeMap::new();
    for (index, p) in placed.iter().enumerate() {
        // Billions of rules cannot be held in memory in the first place.
        let index = u32::try_from(index).unwrap_or(u32::MAX);
        by_interface
            .entry(&p.identity.interface)
            .or_default()
            .push(index);
    }
    for (interface, indexes) in by_interface {
        let prefixes: BTreeSet<(IpAddr, u8)> = indexes
            .iter()
            .map(|&i| placed[i as usize].cidr.key())
            .collect();
        for (addr, prefix_len) in prefixes {
            let prefix = Cidr {
                addr,
                prefix_len,
                written: String::new(),
            };
            let region = region_of(&placed, &indexes, &prefix, protected);
            check_size(
                &placed,
                &indexes,
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
    }
    if problems.is_empty() {
        Ok(compiled)
    } else {
        Err(problems)
    }
}

/// Every (object, interface, CIDR, rule), sorted by identity: the rule indexes.
fn place<'a>(objects: &[&'a IngressNodeFirewall]) -> Vec<Placed<'a>> {
    let mut placed = Vec::new();
    for &object in objects {
        for interface in &object.interfaces {
            for entry in &object.ingress {
                for cidr in &entry.source_cidrs {
                    for rule in &entry.rules {
                        let identity = RuleIdentity {
                            object: object.name.clone(),
                            interface: interface.clone(),
                            cidr: cidr.to_string(),
                            order: rule.order,
                            action: rule.action,
                            protocol: rule.protocol.name().map(str::to_string),
                            selector: rule.protocol.selector_text(),
                        };
                        placed.push(Placed {
                            identity,
                            object,
                            cidr,
                            matched: rule.protocol,
                            action: rule.action,
                        });
                    }
                }
            }
        }
    }
    placed.sort_by(|a, b| a.identity.cmp(&b.identity));
    placed
}

/// The region of `prefix`: the rules of every prefix of the interface containing it, in the
/// order they are tried.
fn region_of(
    placed: &[Placed],
    interface_rules: &[u32],
    prefix: &Cidr,
    protected: &[ProtectedService],
) -> Region {
    let mut rules: Vec<u32> = interface_rules
        .iter()
        .copied()
        .filter(|&i| placed[i as usize].cidr.contains_cidr(prefix))
        .collect();
    // Equal (order, length) means the same prefix with a duplicate order, which validation
    // rejects; the index only makes the sort total.
    rules.sort_by_key(|&i| {
        let p = &placed[i as usize];
        (p.identity.order, Reverse(p.cidr.prefix_len), i)
    });
    let rules: Vec<RegionRule> = rules
        .into_iter()
        .map(|index| RegionRule {
            index,
            matched: placed[index as usize].matched,
            action: placed[index as usize].action,
        })
        .collect();
    region::build(&rules, prefix.is_ipv4(), protected)
}

/// An error for every table of the region larger than the kernel's.
fn check_size(
    placed: &[Placed],
    interface_rules: &[u32],
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
        let contributors: BTreeSet<(&str, String)> = interface_rules
            .iter()
            .map(|&i| &placed[i as usize])
            .filter(|p| p.cidr.contains_cidr(prefix))
            .filter(|p| p.matched.number().is_none_or(|n| n == number))
            .map(|p| (p.object.source.as_str(), p.object.label()))
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
