//! Validation as the API server (and OVN-Kubernetes, for what it refuses) would do it. Each
//! function returns `(field, reason)` pairs; an object with any is left out as a whole, since
//! the API server would not have stored it.

use super::cidr::Cidr;
use super::model::Protocol;
use super::objects::{
    AdminNetworkPolicy, AdminPeer, AdminPods, AdminPort, AdminRule, EgressFirewall, IntOrString,
    NetworkPolicy, NetworkPolicyPeer, NetworkPolicyPort,
};
use super::selector::LabelSelector;

/// A `(field, reason)` list.
pub type Findings = Vec<(String, String)>;

/// Most rules an ANP/BANP direction may hold (the CRD's `maxItems`).
const MAX_ADMIN_RULES: usize = 100;
/// Highest ANP priority the API accepts.
const MAX_ANP_PRIORITY: i64 = 1000;

/// Checks a NetworkPolicy.
pub fn network_policy(np: &NetworkPolicy) -> Findings {
    let mut out = Findings::new();
    if np.metadata.name.is_empty() {
        out.push(("metadata.name".into(), "missing".into()));
    }
    selector(&mut out, "spec.podSelector", &np.spec.pod_selector);
    if let Some(types) = &np.spec.policy_types {
        for (i, t) in types.iter().enumerate() {
            if t != "Ingress" && t != "Egress" {
                out.push((
                    format!("spec.policyTypes[{i}]"),
                    format!("unknown policy type {t:?} (Ingress, Egress)"),
                ));
            }
        }
    }
    for (i, rule) in np.spec.ingress.iter().enumerate() {
        let at = format!("spec.ingress[{i}]");
        peers(&mut out, &format!("{at}.from"), &rule.from);
        np_ports(&mut out, &format!("{at}.ports"), &rule.ports);
    }
    for (i, rule) in np.spec.egress.iter().enumerate() {
        let at = format!("spec.egress[{i}]");
        peers(&mut out, &format!("{at}.to"), &rule.to);
        np_ports(&mut out, &format!("{at}.ports"), &rule.ports);
    }
    out
}

fn peers(out: &mut Findings, at: &str, peers: &[NetworkPolicyPeer]) {
    for (i, p) in peers.iter().enumerate() {
        let at = format!("{at}[{i}]");
        let selectors = p.pod_selector.is_some() || p.namespace_selector.is_some();
        match (&p.ip_block, selectors) {
            (None, false) => out.push((
                at,
                "peer sets none of podSelector, namespaceSelector, ipBlock".into(),
            )),
            (Some(_), true) => out.push((at, "ipBlock may not be combined with selectors".into())),
            (Some(block), false) => match block.cidr.parse::<Cidr>() {
                Err(e) => out.push((format!("{at}.ipBlock.cidr"), e.to_string())),
                Ok(cidr) => {
                    for (j, ex) in block.except.iter().enumerate() {
                        let field = format!("{at}.ipBlock.except[{j}]");
                        match ex.parse::<Cidr>() {
                            Err(e) => out.push((field, e.to_string())),
                            Ok(ex) if !cidr.covers(&ex) || ex.prefix == cidr.prefix => {
                                out.push((field, format!("{ex} is not strictly within {cidr}")))
                            }
                            Ok(_) => {}
                        }
                    }
                }
            },
            (None, true) => {
                if let Some(s) = &p.pod_selector {
                    selector(out, &format!("{at}.podSelector"), s);
                }
                if let Some(s) = &p.namespace_selector {
                    selector(out, &format!("{at}.namespaceSelector"), s);
                }
            }
        }
    }
}

fn np_ports(out: &mut Findings, at: &str, ports: &[NetworkPolicyPort]) {
    for (i, p) in ports.iter().enumerate() {
        let at = format!("{at}[{i}]");
        protocol(out, &format!("{at}.protocol"), p.protocol.as_deref());
        match (&p.port, p.end_port) {
            (Some(IntOrString::Int(n)), end) => {
                port_number(out, &format!("{at}.port"), *n);
                if let Some(end) = end {
                    if end < *n || !(1..=65535).contains(&end) {
                        out.push((
                            format!("{at}.endPort"),
                            format!("{end} must be between port {n} and 65535"),
                        ));
                    }
                }
            }
            (Some(IntOrString::String(name)), end) => {
                port_name(out, &format!("{at}.port"), name);
                if end.is_some() {
                    out.push((
                        format!("{at}.endPort"),
                        "endPort needs a numeric port".into(),
                    ));
                }
            }
            (None, Some(_)) => out.push((
                format!("{at}.endPort"),
                "endPort needs a numeric port".into(),
            )),
            (None, None) => {}
        }
    }
}

/// Checks an AdminNetworkPolicy (`baseline`: a BaselineAdminNetworkPolicy).
pub fn admin_network_policy(anp: &AdminNetworkPolicy, baseline: bool) -> Findings {
    let mut out = Findings::new();
    if baseline {
        // The BANP CRD only admits the singleton named "default".
        if anp.metadata.name != "default" {
            out.push((
                "metadata.name".into(),
                "a BaselineAdminNetworkPolicy must be named \"default\"".into(),
            ));
        }
    } else {
        if anp.metadata.name.is_empty() {
            out.push(("metadata.name".into(), "missing".into()));
        }
        match anp.spec.priority {
            None => out.push(("spec.priority".into(), "missing".into())),
            Some(p) if !(0..=MAX_ANP_PRIORITY).contains(&p) => out.push((
                "spec.priority".into(),
                format!("{p} is outside 0..={MAX_ANP_PRIORITY}"),
            )),
            Some(_) => {}
        }
    }
    let s = &anp.spec.subject;
    match (&s.namespaces, &s.pods) {
        (Some(ns), None) => selector(&mut out, "spec.subject.namespaces", ns),
        (None, Some(pods)) => admin_pods(&mut out, "spec.subject.pods", pods),
        _ => out.push((
            "spec.subject".into(),
            "exactly one of namespaces and pods must be set".into(),
        )),
    }
    for (dir, rules, egress) in [
        ("ingress", &anp.spec.ingress, false),
        ("egress", &anp.spec.egress, true),
    ] {
        if rules.len() > MAX_ADMIN_RULES {
            out.push((
                format!("spec.{dir}"),
                format!("more than {MAX_ADMIN_RULES} rules"),
            ));
        }
        for (i, rule) in rules.iter().enumerate() {
            admin_rule(
                &mut out,
                &format!("spec.{dir}[{i}]"),
                rule,
                egress,
                baseline,
            );
        }
    }
    out
}

fn admin_rule(out: &mut Findings, at: &str, rule: &AdminRule, egress: bool, baseline: bool) {
    match rule.action.as_str() {
        "Allow" | "Deny" => {}
        "Pass" if !baseline => {}
        other => out.push((
            format!("{at}.action"),
            format!("unsupported action {other:?}"),
        )),
    }
    let (field, peers, other) = if egress {
        ("to", &rule.to, &rule.from)
    } else {
        ("from", &rule.from, &rule.to)
    };
    if peers.is_empty() {
        out.push((
            format!("{at}.{field}"),
            "at least one peer is required".into(),
        ));
    }
    if !other.is_empty() {
        let wrong = if egress { "from" } else { "to" };
        out.push((
            format!("{at}.{wrong}"),
            format!(
                "not allowed in an {} rule",
                if egress { "egress" } else { "ingress" }
            ),
        ));
    }
    for (i, p) in peers.iter().enumerate() {
        admin_peer(out, &format!("{at}.{field}[{i}]"), p, egress);
    }
    for (i, p) in rule.ports.iter().flatten().enumerate() {
        admin_port(out, &format!("{at}.ports[{i}]"), p);
    }
}

fn admin_peer(out: &mut Findings, at: &str, p: &AdminPeer, egress: bool) {
    let set = [
        p.namespaces.is_some(),
        p.pods.is_some(),
        p.nodes.is_some(),
        p.networks.is_some(),
    ];
    if set.iter().filter(|s| **s).count() != 1 {
        out.push((
            at.into(),
            "exactly one of namespaces, pods, nodes, networks must be set".into(),
        ));
        return;
    }
    if !egress && (p.nodes.is_some() || p.networks.is_some()) {
        out.push((at.into(), "nodes and networks peers are egress-only".into()));
    }
    if let Some(s) = &p.namespaces {
        selector(out, &format!("{at}.namespaces"), s);
    }
    if let Some(pods) = &p.pods {
        admin_pods(out, &format!("{at}.pods"), pods);
    }
    if let Some(s) = &p.nodes {
        selector(out, &format!("{at}.nodes"), s);
    }
    for (i, n) in p.networks.iter().flatten().enumerate() {
        if let Err(e) = n.parse::<Cidr>() {
            out.push((format!("{at}.networks[{i}]"), e.to_string()));
        }
    }
}

fn admin_pods(out: &mut Findings, at: &str, pods: &AdminPods) {
    selector(
        out,
        &format!("{at}.namespaceSelector"),
        &pods.namespace_selector,
    );
    selector(out, &format!("{at}.podSelector"), &pods.pod_selector);
}

fn admin_port(out: &mut Findings, at: &str, p: &AdminPort) {
    let set = [
        p.port_number.is_some(),
        p.port_range.is_some(),
        p.named_port.is_some(),
    ];
    if set.iter().filter(|s| **s).count() != 1 {
        out.push((
            at.into(),
            "exactly one of portNumber, portRange, namedPort must be set".into(),
        ));
    }
    if let Some(n) = &p.port_number {
        protocol(
            out,
            &format!("{at}.portNumber.protocol"),
            n.protocol.as_deref(),
        );
        port_number(out, &format!("{at}.portNumber.port"), n.port);
    }
    if let Some(r) = &p.port_range {
        protocol(
            out,
            &format!("{at}.portRange.protocol"),
            r.protocol.as_deref(),
        );
        port_number(out, &format!("{at}.portRange.start"), r.start);
        port_number(out, &format!("{at}.portRange.end"), r.end);
        if r.end < r.start {
            out.push((
                format!("{at}.portRange"),
                format!("end {} is before start {}", r.end, r.start),
            ));
        }
    }
    if let Some(name) = &p.named_port {
        port_name(out, &format!("{at}.namedPort"), name);
    }
}

/// Checks an EgressFirewall.
pub fn egress_firewall(ef: &EgressFirewall) -> Findings {
    let mut out = Findings::new();
    // OVN-Kubernetes only acts on the EgressFirewall named "default" of a namespace.
    if ef.metadata.name != "default" {
        out.push((
            "metadata.name".into(),
            "an EgressFirewall must be named \"default\"".into(),
        ));
    }
    for (i, rule) in ef.spec.egress.iter().enumerate() {
        let at = format!("spec.egress[{i}]");
        if rule.kind != "Allow" && rule.kind != "Deny" {
            out.push((
                format!("{at}.type"),
                format!("unknown type {:?} (Allow, Deny)", rule.kind),
            ));
        }
        let to = &rule.to;
        match (&to.cidr_selector, &to.dns_name, &to.node_selector) {
            (Some(c), None, None) => {
                if let Err(e) = c.parse::<Cidr>() {
                    out.push((format!("{at}.to.cidrSelector"), e.to_string()));
                }
            }
            (None, Some(d), None) => {
                if d.is_empty() || d.contains(char::is_whitespace) {
                    out.push((
                        format!("{at}.to.dnsName"),
                        format!("invalid DNS name {d:?}"),
                    ));
                }
            }
            (None, None, Some(s)) => selector(&mut out, &format!("{at}.to.nodeSelector"), s),
            _ => out.push((
                format!("{at}.to"),
                "exactly one of cidrSelector, dnsName and nodeSelector must be set".into(),
            )),
        }
        for (j, p) in rule.ports.iter().enumerate() {
            protocol(
                &mut out,
                &format!("{at}.ports[{j}].protocol"),
                Some(&p.protocol),
            );
            if let Some(n) = p.port {
                port_number(&mut out, &format!("{at}.ports[{j}].port"), n);
            }
        }
    }
    out
}

fn selector(out: &mut Findings, at: &str, s: &LabelSelector) {
    for (field, reason) in s.validate() {
        out.push((format!("{at}.{field}"), reason));
    }
}

fn protocol(out: &mut Findings, at: &str, p: Option<&str>) {
    // The APIs are case-sensitive: "tcp" is rejected.
    if let Some(p) = p {
        if !matches!(p, "TCP" | "UDP" | "SCTP") || p.parse::<Protocol>().is_err() {
            out.push((
                at.into(),
                format!("unsupported protocol {p:?} (TCP, UDP, SCTP)"),
            ));
        }
    }
}

fn port_number(out: &mut Findings, at: &str, n: i64) {
    if !(1..=65535).contains(&n) {
        out.push((at.into(), format!("port {n} is outside 1..=65535")));
    }
}

/// IANA service names: 1-15 of `[a-z0-9-]`, at least one letter, no leading, trailing or
/// doubled hyphen.
fn port_name(out: &mut Findings, at: &str, name: &str) {
    let ok = !name.is_empty()
        && name.len() <= 15
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && name.bytes().any(|b| b.is_ascii_lowercase())
        && !name.starts_with('-')
        && !name.ends_with('-')
        && !name.contains("--");
    if !ok {
        out.push((
            at.into(),
            format!("{name:?} is not a valid port name (IANA service name)"),
        ));
    }
}
