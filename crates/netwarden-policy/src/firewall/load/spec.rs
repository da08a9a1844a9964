//! `spec` of an IngressNodeFirewall, from YAML to the typed model, reporting every problem.

use std::collections::HashMap;
use std::net::IpAddr;

use serde_yaml::{Mapping, Value};

use super::walk::{any_integer, expected, field, integer_in, Ctx};
use crate::firewall::model::{
    Action, Cidr, IcmpMatch, IngressEntry, IngressNodeFirewall, LabelSelector, PortRange,
    ProtocolMatch, Rule, SelectorOperator, SelectorRequirement,
};
use crate::firewall::validate::{self, ORDER_MAX, ORDER_MIN};

/// The object's spec; `None` when it has errors (all of them recorded).
pub(super) fn object(ctx: &mut Ctx, name: String, spec: &Value) -> Option<IngressNodeFirewall> {
    let map = ctx.mapping("", "spec", spec, &["nodeSelector", "interfaces", "ingress"])?;
    let node_selector = match field(map, "nodeSelector") {
        Some(value) => node_selector(ctx, value),
        None => Some(LabelSelector::default()),
    };
    let interfaces = interfaces(ctx, field(map, "interfaces"));
    let ingress = match field(map, "ingress") {
        Some(value) => ctx.sequence("spec", "ingress", value).and_then(|items| {
            let entries: Vec<_> = items
                .iter()
                .enumerate()
                .map(|(e, item)| entry(ctx, e, item))
                .collect();
            entries.into_iter().collect()
        }),
        None => Some(Vec::new()),
    };
    Some(IngressNodeFirewall {
        name,
        source: ctx.source.to_string(),
        node_selector: node_selector?,
        interfaces: interfaces?,
        ingress: ingress?,
    })
}

fn node_selector(ctx: &mut Ctx, value: &Value) -> Option<LabelSelector> {
    let map = ctx.mapping(
        "spec",
        "nodeSelector",
        value,
        &["matchLabels", "matchExpressions"],
    )?;
    let mut ok = true;
    let mut selector = LabelSelector::default();
    if let Some(labels) = field(map, "matchLabels") {
        let fld = "nodeSelector.matchLabels";
        match labels {
            Value::Mapping(labels) => {
                for (key, value) in labels {
                    let key = ctx.string("spec", fld, key);
                    let name = format!("{fld}.{}", key.unwrap_or_default());
                    match (key, ctx.string("spec", &name, value)) {
                        (Some(key), Some(value)) => {
                            selector.match_labels.insert(key.into(), value.into());
                        }
                        _ => ok = false,
                    }
                }
            }
            other => {
                ctx.error("spec", fld, Some(other), expected("a mapping", other));
                ok = false;
            }
        }
    }
    if let Some(exprs) = field(map, "matchExpressions") {
        match ctx.sequence("spec", "nodeSelector.matchExpressions", exprs) {
            Some(items) => {
                for (i, item) in items.iter().enumerate() {
                    match requirement(ctx, i, item) {
                        Some(req) => selector.match_expressions.push(req),
                        None => ok = false,
                    }
                }
            }
            None => ok = false,
        }
    }
    ok.then_some(selector)
}

fn requirement(ctx: &mut Ctx, i: usize, value: &Value) -> Option<SelectorRequirement> {
    let fld = format!("nodeSelector.matchExpressions[{i}]");
    let map = ctx.mapping("spec", &fld, value, &["key", "operator", "values"])?;
    let key = match field(map, "key") {
        Some(v) => ctx.string("spec", &format!("{fld}.key"), v),
        None => {
            ctx.error("spec", &format!("{fld}.key"), None, "missing");
            None
        }
    };
    let operator = match field(map, "operator") {
        Some(v) => ctx
            .string("spec", &format!("{fld}.operator"), v)
            .and_then(|text| {
                let op = SelectorOperator::parse(text);
                if op.is_none() {
                    let message = "unknown operator (expected In, NotIn, Exists or DoesNotExist)";
                    ctx.error("spec", &format!("{fld}.operator"), Some(v), message);
                }
                op
            }),
        None => {
            ctx.error("spec", &format!("{fld}.operator"), None, "missing");
            None
        }
    };
    let values_field = format!("{fld}.values");
    let values = match field(map, "values") {
        Some(v) => ctx.strings("spec", &values_field, v),
        None => Some(Vec::new()),
    };
    if let (Some(op), Some(values)) = (operator, &values) {
        if let Err(message) = validate::requirement(op, values.len()) {
            ctx.error("spec", &values_field, None, message);
            return None;
        }
    }
    Some(SelectorRequirement {
        key: key?.to_string(),
        operator: operator?,
        values: values?,
    })
}

fn interfaces(ctx: &mut Ctx, value: Option<&Value>) -> Option<Vec<String>> {
    let names = match value {
        Some(value) => ctx.strings("spec", "interfaces", value)?,
        None => Vec::new(),
    };
    if names.is_empty() {
        ctx.error("spec", "interfaces", None, validate::empty_interfaces());
        return None;
    }
    let mut ok = true;
    let mut first_at: HashMap<&str, usize> = HashMap::with_capacity(names.len());
    for (i, name) in names.iter().enumerate() {
        let message = match validate::interface_name(name) {
            Err(message) => message,
            Ok(()) => match *first_at.entry(name).or_insert(i) {
                first if first != i => validate::listed_twice("interfaces", first),
                _ => continue,
            },
        };
        let text = Value::String(name.clone());
        ctx.error("spec", &format!("interfaces[{i}]"), Some(&text), message);
        ok = false;
    }
    ok.then_some(names)
}

fn entry(ctx: &mut Ctx, e: usize, value: &Value) -> Option<IngressEntry> {
    let location = format!("spec.ingress[{e}]");
    let map = ctx.mapping(&location, "", value, &["sourceCIDRs", "rules"])?;
    let source_cidrs = cidrs(ctx, &location, field(map, "sourceCIDRs"));
    let rules = match field(map, "rules").map(|v| ctx.sequence(&location, "rules", v)) {
        Some(Some(items)) if !items.is_empty() => {
            let rules: Vec<_> = items
                .iter()
                .enumerate()
                .map(|(r, item)| rule(ctx, e, r, item))
                .collect();
            rules.into_iter().collect()
        }
        Some(None) => None,
        _ => {
            ctx.error(&location, "rules", None, validate::empty_rules());
            None
        }
    };
    Some(IngressEntry {
        source_cidrs: source_cidrs?,
        rules: rules?,
    })
}

fn cidrs(ctx: &mut Ctx, location: &str, value: Option<&Value>) -> Option<Vec<Cidr>> {
    let texts = match value {
        Some(value) => ctx.strings(location, "sourceCIDRs", value)?,
        None => Vec::new(),
    };
    if texts.is_empty() {
        ctx.error(location, "sourceCIDRs", None, validate::empty_cidrs());
        return None;
    }
    let mut parsed: Vec<Cidr> = Vec::with_capacity(texts.len());
    // Each prefix's first position, to name it when it comes again.
    let mut first_at: HashMap<(IpAddr, u8), usize> = HashMap::with_capacity(texts.len());
    let mut ok = true;
    for (c, text) in texts.iter().enumerate() {
        match Cidr::parse(text) {
            Ok(cidr) => {
                let first = *first_at.entry(cidr.key()).or_insert(c);
                if first != c {
                    let shown = Value::String(text.clone());
                    let fld = format!("sourceCIDRs[{c}]");
                    let message = validate::same_cidr_twice(&cidr.to_string(), first);
                    ctx.error(location, &fld, Some(&shown), message);
                    ok = false;
                }
                parsed.push(cidr);
            }
            Err(err) => {
                let shown = Value::String(text.clone());
                let fld = format!("sourceCIDRs[{c}]");
                ctx.error(location, &fld, Some(&shown), err.to_string());
                ok = false;
            }
        }
    }
    ok.then_some(parsed)
}

fn rule(ctx: &mut Ctx, e: usize, r: usize, value: &Value) -> Option<Rule> {
    let Value::Mapping(map) = value else {
        let location = validate::rule_location(e, r, None);
        ctx.error(&location, "", Some(value), expected("a mapping", value));
        return None;
    };
    let order_value = field(map, "order");
    let location = validate::rule_location(e, r, order_value.and_then(any_integer));
    ctx.mapping(&location, "", value, &["order", "protocolConfig", "action"]);
    let order = match order_value {
        Some(v) => {
            let order = integer_in(v, ORDER_MIN.into(), ORDER_MAX.into());
            if order.is_none() {
                ctx.error(&location, "order", Some(v), validate::order_message());
            }
            order.and_then(|o| u32::try_from(o).ok())
        }
        None => {
            let message = format!("missing: {}", validate::order_message());
            ctx.error(&location, "order", None, message);
            None
        }
    };
    let protocol = match field(map, "protocolConfig") {
        Some(v) => protocol_config(ctx, &location, v),
        None => Some(ProtocolMatch::Any),
    };
    let action = match field(map, "action") {
        Some(Value::String(s)) if s == "Allow" => Some(Action::Allow),
        Some(Value::String(s)) if s == "Deny" => Some(Action::Deny),
        Some(v) => {
            ctx.error(&location, "action", Some(v), "expected Allow or Deny");
            None
        }
        None => {
            ctx.error(&location, "action", None, "missing: expected Allow or Deny");
            None
        }
    };
    Some(Rule {
        order: order?,
        protocol: protocol?,
        action: action?,
    })
}

/// The protocol names and the block each takes.
const PROTOCOLS: [(&str, &str); 5] = [
    ("TCP", "tcp"),
    ("UDP", "udp"),
    ("SCTP", "sctp"),
    ("ICMP", "icmp"),
    ("ICMPv6", "icmpv6"),
];

fn protocol_config(ctx: &mut Ctx, location: &str, value: &Value) -> Option<ProtocolMatch> {
    let base = "protocolConfig";
    let allowed = ["protocol", "tcp", "udp", "sctp", "icmp", "icmpv6"];
    let map = ctx.mapping(location, base, value, &allowed)?;
    let protocol = match field(map, "protocol") {
        None => Ok(None),
        Some(v) => {
            let known = v
                .as_str()
                .and_then(|name| PROTOCOLS.iter().find(|(p, _)| *p == name));
            match known {
                Some(&(name, block)) => Ok(Some((name, block))),
                None => {
                    let message = "unknown protocol (expected TCP, UDP, SCTP, ICMP or ICMPv6)";
                    ctx.error(location, "protocolConfig.protocol", Some(v), message);
                    Err(())
                }
            }
        }
    };
    let blocks: Vec<&str> = PROTOCOLS
        .iter()
        .map(|(_, block)| *block)
        .filter(|block| field(map, block).is_some())
        .collect();
    if blocks.len() > 1 {
        let message = format!(
            "has {} protocol blocks ({}): a rule takes at most one",
            blocks.len(),
            blocks.join(", ")
        );
        ctx.error(location, base, None, message);
        return None;
    }
    let protocol = protocol.ok()?;
    let block = blocks.first().copied();
    match (protocol, block) {
        (None, None) => Some(ProtocolMatch::Any),
        (None, Some(block)) => {
            let name = PROTOCOLS.iter().find(|(_, b)| *b == block).map(|(n, _)| *n);
            let message = format!(
                "a {block} block needs protocol: {}",
                name.unwrap_or_default()
            );
            ctx.error(location, &format!("{base}.{block}"), None, message);
            None
        }
        (Some((name, wanted)), Some(block)) if block != wanted => {
            let message = format!("does not apply to protocol {name} (its block is {wanted})");
            ctx.error(location, &format!("{base}.{block}"), None, message);
            None
        }
        (Some((name, block)), _) => {
            let fld = format!("{base}.{block}");
            let settings = field(map, block);
            Some(match name {
                "TCP" => ProtocolMatch::Tcp(ports(ctx, location, &fld, settings)?),
                "UDP" => ProtocolMatch::Udp(ports(ctx, location, &fld, settings)?),
                "SCTP" => ProtocolMatch::Sctp(ports(ctx, location, &fld, settings)?),
                "ICMP" => ProtocolMatch::Icmp(icmp(ctx, location, &fld, settings)?),
                _ => ProtocolMatch::Icmpv6(icmp(ctx, location, &fld, settings)?),
            })
        }
    }
}

/// A tcp/udp/sctp block: `Some(None)` when the block is absent (every port).
fn ports(
    ctx: &mut Ctx,
    location: &str,
    fld: &str,
    block: Option<&Value>,
) -> Option<Option<PortRange>> {
    let Some(block) = block else {
        return Some(None);
    };
    let map: &Mapping = ctx.mapping(location, fld, block, &["ports"])?;
    let fld = format!("{fld}.ports");
    let Some(value) = field(map, "ports") else {
        let message =
            "missing: give a port or a FIRST-LAST range (leave out the block for every port)";
        ctx.error(location, &fld, None, message);
        return None;
    };
    let parsed = match value {
        Value::String(text) => validate::parse_port_range(text),
        Value::Number(n) => match n.as_u64() {
            Some(port) => validate::port_number(port).map(|p| (p, p)),
            None => Err(format!("{n} is not a port number (expected 1-65535)")),
        },
        other => Err(expected("a port number or a \"FIRST-LAST\" string", other)),
    };
    match parsed {
        Ok((first, last)) => Some(Some(PortRange { first, last })),
        Err(message) => {
            ctx.error(location, &fld, Some(value), message);
            None
        }
    }
}

/// An icmp/icmpv6 block: `Some(None)` when the block is absent (every type).
fn icmp(
    ctx: &mut Ctx,
    location: &str,
    fld: &str,
    block: Option<&Value>,
) -> Option<Option<IcmpMatch>> {
    let Some(block) = block else {
        return Some(None);
    };
    let map = ctx.mapping(location, fld, block, &["icmpType", "icmpCode"])?;
    let byte = |ctx: &mut Ctx, key: &str| -> Result<Option<u8>, ()> {
        let Some(value) = field(map, key) else {
            return Ok(None);
        };
        match integer_in(value, 0, 255).and_then(|n| u8::try_from(n).ok()) {
            Some(n) => Ok(Some(n)),
            None => {
                let message = "must be an integer from 0 to 255";
                ctx.error(location, &format!("{fld}.{key}"), Some(value), message);
                Err(())
            }
        }
    };
    let icmp_type = byte(ctx, "icmpType");
    let icmp_code = byte(ctx, "icmpCode");
    if let Ok(None) = icmp_type {
        let message = "missing: an ICMP block needs icmpType (leave out the block for every type)";
        ctx.error(location, &format!("{fld}.icmpType"), None, message);
    }
    Some(Some(IcmpMatch {
        icmp_type: icmp_type.ok()??,
        icmp_code: icmp_code.ok()?,
    }))
}
