//! Checks on firewall objects: value ranges, duplicate orders and names across objects, and
//! warnings for rules that cannot do what they say.
//!
//! The single-value checks are small functions shared with the YAML loader, which runs them on the
//! raw values (so one pass reports every problem of a file) with the same messages.
//!
//! Accepted ranges:
//! - `order`: an integer from 1 to 4294967295 ([`ORDER_MIN`]..=[`ORDER_MAX`], the `u32` range
//!   without 0); lower orders are tried first;
//! - ports: 1 to 65535, a single port or an inclusive `first-last` range with `first <= last`;
//! - `icmpType`, `icmpCode`: 0 to 255;
//! - interface names: 1 to 15 bytes, not `.` or `..`, without `/`, `:` or whitespace (Linux's
//!   `dev_valid_name`).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::Hash;
use std::net::IpAddr;

use super::model::{Action, Cidr, IngressNodeFirewall, ProtocolMatch, Rule, SelectorOperator};
use super::problem::Problem;
use super::protected::ProtectedService;

/// The lowest accepted rule `order`.
pub const ORDER_MIN: u32 = 1;
/// The highest accepted rule `order` (`u32::MAX`).
pub const ORDER_MAX: u32 = u32::MAX;

/// The message for an `order` outside [`ORDER_MIN`]..=[`ORDER_MAX`] or not an integer.
pub(crate) fn order_message() -> String {
    format!("must be an integer from {ORDER_MIN} to {ORDER_MAX}")
}

/// Checks one port number (1-65535).
pub(crate) fn port_number(port: u64) -> Result<u16, String> {
    match u16::try_from(port) {
        Ok(0) => Err("port 0 is not a port (ports are 1-65535)".to_string()),
        Ok(port) => Ok(port),
        Err(_) => Err(format!("port {port} is out of range 1-65535")),
    }
}

/// Checks an inclusive range of valid ports.
pub(crate) fn port_range(first: u16, last: u16) -> Result<(u16, u16), String> {
    port_number(first.into())?;
    port_number(last.into())?;
    if first > last {
        return Err(format!("range start {first} is after its end {last}"));
    }
    Ok((first, last))
}

/// Parses `80` or `100-200` (spaces around the numbers allowed) into an inclusive range.
pub(crate) fn parse_port_range(text: &str) -> Result<(u16, u16), String> {
    let number = |part: &str| -> Result<u16, String> {
        let part = part.trim();
        if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!(
                "{part:?} is not a port number (expected 1-65535 or FIRST-LAST)"
            ));
        }
        // All digits: only overflow can fail, and that is out of range too.
        port_number(part.parse().unwrap_or(u64::MAX))
    };
    match text.split_once('-') {
        Some((first, last)) => port_range(number(first)?, number(last)?),
        None => number(text).map(|port| (port, port)),
    }
}

/// Checks an interface name the way Linux's `dev_valid_name` does.
pub(crate) fn interface_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("an interface name cannot be empty".to_string());
    }
    if name.len() > 15 {
        return Err(format!(
            "is {} bytes long; Linux interface names have at most 15",
            name.len()
        ));
    }
    if name == "." || name == ".." {
        return Err("is not a valid interface name".to_string());
    }
    for bad in ['/', ':'] {
        if name.contains(bad) {
            return Err(format!(
                "contains '{bad}', which Linux does not allow in interface names"
            ));
        }
    }
    if name.chars().any(char::is_whitespace) {
        return Err("contains whitespace, which Linux does not allow in interface names".into());
    }
    Ok(())
}

/// Checks that an operator has values exactly when it needs them.
pub(crate) fn requirement(operator: SelectorOperator, values: usize) -> Result<(), String> {
    match operator {
        SelectorOperator::In | SelectorOperator::NotIn if values == 0 => Err(format!(
            "operator {} needs at least one value",
            operator.name()
        )),
        SelectorOperator::Exists | SelectorOperator::DoesNotExist if values > 0 => Err(format!(
            "operator {} takes no values (found {values})",
            operator.name()
        )),
        _ => Ok(()),
    }
}

/// Where a rule is, as messages show it: `spec.ingress[1].rules[0] (order 10)`.
pub(crate) fn rule_location(entry: usize, rule: usize, order: Option<i128>) -> String {
    match order {
        Some(order) => format!("spec.ingress[{entry}].rules[{rule}] (order {order})"),
        None => format!("spec.ingress[{entry}].rules[{rule}]"),
    }
}

/// Every problem of `objects` taken together (the objects selected for one node): per-object
/// checks, duplicate names, duplicate orders on the same interface and source CIDR, and warnings.
/// Problems come in a deterministic order whatever the order of `objects`.
pub fn validate(objects: &[&IngressNodeFirewall], protected: &[ProtectedService]) -> Vec<Problem> {
    let mut sorted = objects.to_vec();
    sorted.sort_by(|a, b| (&a.name, &a.source).cmp(&(&b.name, &b.source)));
    let mut problems = Vec::new();
    for object in &sorted {
        object_problems(object, protected, &mut problems);
    }
    duplicate_names(&sorted, &mut problems);
    duplicate_orders(&sorted, &mut problems);
    problems
}

fn object_problems(
    object: &IngressNodeFirewall,
    protected: &[ProtectedService],
    out: &mut Vec<Problem>,
) {
    let error = |location: &str, field: &str, message: String| {
        Problem::error(&object.source, message)
            .with_object(object.label())
            .with_location(location)
            .with_field(field)
    };
    if object.name.is_empty() {
        out.push(error("metadata", "name", "missing".into()));
    }
    if object.interfaces.is_empty() {
        out.push(error("spec", "interfaces", empty_interfaces()));
    }
    let mut first_interface: HashMap<&str, usize> = HashMap::new();
    for (i, name) in object.interfaces.iter().enumerate() {
        let first = *first_interface.entry(name).or_insert(i);
        if let Err(message) = interface_name(name) {
            out.push(error("spec", &format!("interfaces[{i}]"), message).with_text(name));
        } else if first != i {
            out.push(
                error(
                    "spec",
                    &format!("interfaces[{i}]"),
                    listed_twice("interfaces", first),
                )
                .with_text(name),
            );
        }
    }
    for (i, req) in object.node_selector.match_expressions.iter().enumerate() {
        if let Err(message) = requirement(req.operator, req.values.len()) {
            let field = format!("nodeSelector.matchExpressions[{i}].values");
            out.push(error("spec", &field, message));
        }
    }
    if object.ingress.is_empty() {
        out.push(no_ingress(&object.source, &object.label()));
    }
    for (e, entry) in object.ingress.iter().enumerate() {
        let location = format!("spec.ingress[{e}]");
        if entry.source_cidrs.is_empty() {
            out.push(error(&location, "sourceCIDRs", empty_cidrs()));
        }
        if entry.rules.is_empty() {
            out.push(error(&location, "rules", empty_rules()));
        }
        let mut first_cidr: HashMap<(IpAddr, u8), usize> = HashMap::new();
        for (c, cidr) in entry.source_cidrs.iter().enumerate() {
            let first = *first_cidr.entry(cidr.key()).or_insert(c);
            if first != c {
                let field = format!("sourceCIDRs[{c}]");
                let message = same_cidr_twice(&cidr.to_string(), first);
                out.push(error(&location, &field, message).with_text(&cidr.written));
            } else if cidr.had_host_bits() {
                let field = format!("sourceCIDRs[{c}]");
                out.push(
                    Problem::warning(&object.source, host_bits(&cidr.to_string()))
                        .with_object(object.label())
                        .with_location(&location)
                        .with_field(&field)
                        .with_text(&cidr.written),
                );
            }
        }
        // The address families of the entry's CIDRs, once per entry rather than per rule.
        let families: Vec<bool> = [true, false]
            .into_iter()
            .filter(|&v4| entry.source_cidrs.iter().any(|c| c.is_ipv4() == v4))
            .collect();
        for (r, rule) in entry.rules.iter().enumerate() {
            let location = rule_location(e, r, Some(rule.order.into()));
            rule_problems(object, &location, rule, &families, protected, out);
        }
    }
}

fn rule_problems(
    object: &IngressNodeFirewall,
    location: &str,
    rule: &Rule,
    families: &[bool],
    protected: &[ProtectedService],
    out: &mut Vec<Problem>,
) {
    let problem = |p: Problem| p.with_object(object.label()).with_location(location);
    if rule.order < ORDER_MIN {
        let p = Problem::error(&object.source, order_message());
        out.push(problem(
            p.with_field("order").with_value(rule.order.to_string()),
        ));
    }
    if let ProtocolMatch::Tcp(Some(p))
    | ProtocolMatch::Udp(Some(p))
    | ProtocolMatch::Sctp(Some(p)) = rule.protocol
    {
        if let Err(message) = port_range(p.first, p.last) {
            let block = rule
                .protocol
                .name()
                .unwrap_or_default()
                .to_ascii_lowercase();
            let field = format!("protocolConfig.{block}.ports");
            let p = Problem::error(&object.source, message).with_text(&p.to_string());
            out.push(problem(p.with_field(field)));
        }
    }
    if !families.is_empty() && !families.iter().any(|&v4| rule.protocol.fits_family(v4)) {
        let message = match rule.protocol {
            ProtocolMatch::Icmp(_) => {
                "ICMP never matches here: every source CIDR of this entry is IPv6 (use ICMPv6)"
            }
            _ => "ICMPv6 never matches here: every source CIDR of this entry is IPv4 (use ICMP)",
        };
        let name = rule.protocol.name().unwrap_or_default();
        let p = Problem::warning(&object.source, message).with_field("protocolConfig.protocol");
        out.push(problem(p.with_text(name)));
    }
    if rule.action == Action::Deny {
        let overridden: Vec<String> = protected
            .iter()
            .filter(|s| overlaps_protected(rule.protocol, s))
            .map(ToString::to_string)
            .collect();
        if !overridden.is_empty() {
            let what = if overridden.len() == 1 {
                "protected service"
            } else {
                "protected services"
            };
            let message = format!(
                "Deny would drop {} ({what}): those ports stay open",
                overridden.join(", ")
            );
            out.push(problem(Problem::warning(&object.source, message)));
        }
    }
}

/// Whether a Deny with this match would close part of `service`.
fn overlaps_protected(matched: ProtocolMatch, service: &ProtectedService) -> bool {
    match matched.number() {
        None => true,
        Some(number) if number != service.protocol => false,
        Some(_) => matched
            .selector_range()
            .is_none_or(|(first, last)| first <= service.last && service.first <= last),
    }
}

fn duplicate_names(objects: &[&IngressNodeFirewall], out: &mut Vec<Problem>) {
    let mut first_named: HashMap<&str, usize> = HashMap::new();
    for (i, object) in objects.iter().enumerate() {
        let first = *first_named.entry(&object.name).or_insert(i);
        if first != i && !object.name.is_empty() {
            let first = objects[first];
            let message = format!(
                "another IngressNodeFirewall ({}) has this name too; names must be unique",
                origin(&first.source)
            );
            out.push(
                Problem::error(&object.source, message)
                    .with_object(object.label())
                    .with_location("metadata")
                    .with_field("name")
                    .with_text(&object.name),
            );
        }
    }
}

/// A rule's place: object index, entry index, rule index.
type RulePlace = (usize, usize, usize);

fn duplicate_orders(objects: &[&IngressNodeFirewall], out: &mut Vec<Problem>) {
    // Every (interface, prefix, order) a rule takes, as `interface | prefix | order | seq`
    // (numbers, so that a million of them sort quickly; `seq` counts the rules as met, so the
    // first met leads each run of equal places once sorted).
    let mut interfaces: Numbering<&str, &str> = Numbering::default();
    let mut prefixes: Numbering<(IpAddr, u8), &Cidr> = Numbering::default();
    let mut taken: Vec<u128> = Vec::new();
    let mut places: Vec<RulePlace> = Vec::new();
    for (o, object) in objects.iter().enumerate() {
        // An interface or CIDR listed twice is its own error (see `object_problems`).
        for interface in first_of_each(&object.interfaces, |&i| i) {
            let interface = u128::from(interfaces.number(interface, interface)) << 96;
            for (e, entry) in object.ingress.iter().enumerate() {
                for cidr in first_of_each(&entry.source_cidrs, |c| c.key()) {
                    let prefix = u128::from(prefixes.number(cidr.key(), cidr)) << 64;
                    for (r, rule) in entry.rules.iter().enumerate() {
                        let seq = u32::try_from(places.len()).unwrap_or(u32::MAX);
                        let order = u128::from(rule.order) << 32;
                        taken.push(interface | prefix | order | u128::from(seq));
                        places.push((o, e, r));
                    }
                }
            }
        }
    }
    taken.sort_unstable();
    // (seq of the later rule, later rule, first rule, place), in the order the rules were met.
    let mut repeats: Vec<(u32, RulePlace, RulePlace, u128)> = Vec::new();
    for run in taken.chunk_by(|a, b| a >> 32 == b >> 32) {
        // The low 32 bits are `seq`.
        let first = places[run[0] as u32 as usize];
        for &later in &run[1..] {
            let here = places[later as u32 as usize];
            if here != first {
                repeats.push((later as u32, here, first, later >> 32));
            }
        }
    }
    repeats.sort_unstable_by_key(|r| r.0);
    // (later rule, first rule) -> where they collide, so each pair is reported once.
    let mut clashes: BTreeMap<(RulePlace, RulePlace), Vec<String>> = BTreeMap::new();
    for (_, here, first, place) in repeats {
        // `place` is `interface | prefix | order` shifted down 32 bits.
        let interface = interfaces.values[(place >> 64) as u32 as usize];
        let cidr = prefixes.values[(place >> 32) as u32 as usize];
        let at = format!("{interface} for {cidr}");
        clashes.entry((here, first)).or_default().push(at);
    }
    for (((o, e, r), (fo, fe, fr)), places) in clashes {
        let (object, first) = (objects[o], objects[fo]);
        let order = object.ingress[e].rules[r].order;
        let message = format!(
            "order {order} is also used by {} at {} ({}) on {}; orders must be unique per \
             interface and source CIDR",
            first.label(),
            rule_location(fe, fr, None),
            origin(&first.source),
            places.join(", ")
        );
        out.push(
            Problem::error(&object.source, message)
                .with_object(object.label())
                .with_location(rule_location(e, r, Some(order.into()))),
        );
    }
}

/// Numbers for distinct keys, from 0 in the order met, with a value kept for each.
struct Numbering<K, V> {
    numbers: HashMap<K, u32>,
    /// By number.
    values: Vec<V>,
}

impl<K, V> Default for Numbering<K, V> {
    fn default() -> Self {
        Numbering {
            numbers: HashMap::new(),
            values: Vec::new(),
        }
    }
}

impl<K: Eq + Hash, V> Numbering<K, V> {
    /// The number of `key`; a new key gets the next one and keeps `value`.
    fn number(&mut self, key: K, value: V) -> u32 {
        let next = u32::try_from(self.values.len()).unwrap_or(u32::MAX);
        let number = *self.numbers.entry(key).or_insert(next);
        if number == next {
            self.values.push(value);
        }
        number
    }
}

/// `items` without their repeats (by `key`), in order.
fn first_of_each<T, K: Eq + Hash>(
    items: impl IntoIterator<Item = T>,
    key: impl Fn(&T) -> K,
) -> Vec<T> {
    let mut seen = HashSet::new();
    items.into_iter().filter(|i| seen.insert(key(i))).collect()
}

fn origin(source: &str) -> &str {
    if source.is_empty() {
        "unnamed source"
    } else {
        source
    }
}

pub(crate) fn empty_interfaces() -> String {
    "is empty: list at least one interface the rules apply on".to_string()
}

pub(crate) fn empty_cidrs() -> String {
    "is empty: list at least one source CIDR".to_string()
}

pub(crate) fn empty_rules() -> String {
    "is empty: list at least one rule".to_string()
}

pub(crate) fn listed_twice(list: &str, first: usize) -> String {
    format!("listed twice (also {list}[{first}])")
}

pub(crate) fn same_cidr_twice(normalised: &str, first: usize) -> String {
    format!("is {normalised}, already listed as sourceCIDRs[{first}]")
}

fn host_bits(normalised: &str) -> String {
    format!("host bits are set: this means {normalised}")
}

fn no_ingress(source: &str, object: &str) -> Problem {
    Problem::warning(
        source,
        "has no entries: this object allows and denies nothing",
    )
    .with_object(object)
    .with_location("spec")
    .with_field("ingress")
}

#[cfg(test)]
mod tests {
    use super::*;

    type PortCase = (&'static str, Result<(u16, u16), &'static str>);

    #[test]
    fn port_ranges() {
        let cases: &[PortCase] = &[
            ("80", Ok((80, 80))),
            ("100-200", Ok((100, 200))),
            (" 1 - 65535 ", Ok((1, 65535))),
            ("7-7", Ok((7, 7))),
            ("0", Err("port 0 is not a port (ports are 1-65535)")),
            ("0-10", Err("port 0 is not a port (ports are 1-65535)")),
            ("65536", Err("port 65536 is out of range 1-65535")),
            ("300-200", Err("range start 300 is after its end 200")),
            (
                "http",
                Err("\"http\" is not a port number (expected 1-65535 or FIRST-LAST)"),
            ),
            (
                "1-2-3",
                Err("\"2-3\" is not a port number (expected 1-65535 or FIRST-LAST)"),
            ),
            (
                "-5",
                Err("\"\" is not a port number (expected 1-65535 or FIRST-LAST)"),
            ),
        ];
        for (text, want) in cases {
            assert_eq!(
                parse_port_range(text),
                want.map_err(str::to_string),
                "{text}"
            );
        }
    }

    #[test]
    fn interface_names() {
        let cases: &[(&str, Result<(), &str>)] = &[
            ("eth0", Ok(())),
            ("br-ex.100", Ok(())),
            ("abcdefghijklmno", Ok(())),
            ("", Err("an interface name cannot be empty")),
            (
                "abcdefghijklmnop",
                Err("is 16 bytes long; Linux interface names have at most 15"),
            ),
            (".", Err("is not a valid interface name")),
            ("..", Err("is not a valid interface name")),
            (
                "eth/0",
                Err("contains '/', which Linux does not allow in interface names"),
            ),
            (
                "eth0:1",
                Err("contains ':', which Linux does not allow in interface names"),
            ),
            (
                "eth 0",
                Err("contains whitespace, which Linux does not allow in interface names"),
            ),
        ];
        for (name, want) in cases {
            assert_eq!(
                interface_name(name),
                want.map_err(str::to_string),
                "{name:?}"
            );
        }
    }

    #[test]
    fn requirements() {
        use SelectorOperator::*;
        assert_eq!(requirement(In, 1), Ok(()));
        assert_eq!(requirement(Exists, 0), Ok(()));
        assert_eq!(
            requirement(NotIn, 0),
            Err("operator NotIn needs at least one value".to_string())
        );
        assert_eq!(
            requirement(DoesNotExist, 2),
            Err("operator DoesNotExist takes no values (found 2)".to_string())
        );
    }
}
