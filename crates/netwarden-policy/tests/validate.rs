//! Warnings, checks on objects built in code, and node selection of loaded objects.

mod common;

use std::collections::BTreeMap;

use common::{doc, docs, objects};
use netwarden_policy::firewall::model::{
    Action, Cidr, IngressEntry, LabelSelector, PortRange, ProtocolMatch, Rule, SelectorOperator,
    SelectorRequirement,
};
use netwarden_policy::firewall::{
    select, validate, IngressNodeFirewall, NodeIdentity, ProtectedService, Severity,
};

fn problems_of(objects: &[IngressNodeFirewall]) -> Vec<(Severity, String)> {
    let selected: Vec<&IngressNodeFirewall> = objects.iter().collect();
    validate(&selected, &ProtectedService::defaults())
        .into_iter()
        .map(|p| (p.severity, p.to_string()))
        .collect()
}

#[test]
fn warnings() {
    let text = doc(
        "fw",
        "interfaces: [eth0]
ingress:
- sourceCIDRs: ['fd00::/8', '2001:db8::/32']
  rules:
  - {order: 1, protocolConfig: {protocol: ICMP, icmp: {icmpType: 8}}, action: Allow}
  - {order: 2, protocolConfig: {protocol: ICMPv6}, action: Allow}
- sourceCIDRs: [10.0.0.0/8]
  rules:
  - {order: 1, protocolConfig: {protocol: ICMPv6}, action: Allow}
- sourceCIDRs: [10.0.0.0/8, 'fd00::/8']
  rules:
  - {order: 3, protocolConfig: {protocol: ICMPv6}, action: Allow}
- sourceCIDRs: [172.16.5.4/12]
  rules:
  - {order: 1, action: Allow}",
    );
    let empty = doc("empty", "interfaces: [eth0]");
    let loaded = objects(&docs(&[text, empty]));
    assert_eq!(
        problems_of(&loaded),
        [
            (
                Severity::Warning,
                "rules.yaml: IngressNodeFirewall empty: spec: ingress: has no entries: this \
                 object allows and denies nothing"
                    .to_string()
            ),
            (
                Severity::Warning,
                "rules.yaml: IngressNodeFirewall fw: spec.ingress[0].rules[0] (order 1): \
                 protocolConfig.protocol \"ICMP\": ICMP never matches here: every source CIDR of \
                 this entry is IPv6 (use ICMPv6)"
                    .to_string()
            ),
            (
                Severity::Warning,
                "rules.yaml: IngressNodeFirewall fw: spec.ingress[1].rules[0] (order 1): \
                 protocolConfig.protocol \"ICMPv6\": ICMPv6 never matches here: every source \
                 CIDR of this entry is IPv4 (use ICMP)"
                    .to_string()
            ),
            (
                Severity::Warning,
                "rules.yaml: IngressNodeFirewall fw: spec.ingress[3]: sourceCIDRs[0] \
                 \"172.16.5.4/12\": host bits are set: this means 172.16.0.0/12"
                    .to_string()
            ),
        ]
    );
}

/// A valid object built in code, to break one field at a time.
fn object() -> IngressNodeFirewall {
    IngressNodeFirewall {
        name: "code".into(),
        source: "api".into(),
        node_selector: LabelSelector::default(),
        interfaces: vec!["eth0".into()],
        ingress: vec![IngressEntry {
            source_cidrs: vec![Cidr::parse("10.0.0.0/8").expect("valid")],
            rules: vec![Rule {
                order: 1,
                protocol: ProtocolMatch::Tcp(Some(PortRange {
                    first: 80,
                    last: 80,
                })),
                action: Action::Allow,
            }],
        }],
    }
}

#[test]
fn objects_built_in_code_are_checked_too() {
    type Break = fn(&mut IngressNodeFirewall);
    let cases: &[(&str, Break, &str)] = &[
        (
            "no name",
            |o| o.name.clear(),
            "api: IngressNodeFirewall (unnamed): metadata: name: missing",
        ),
        (
            "no interfaces",
            |o| o.interfaces.clear(),
            "api: IngressNodeFirewall code: spec: interfaces: is empty: list at least one \
             interface the rules apply on",
        ),
        (
            "bad interface",
            |o| o.interfaces.push("veth:1".into()),
            "api: IngressNodeFirewall code: spec: interfaces[1] \"veth:1\": contains ':', which \
             Linux does not allow in interface names",
        ),
        (
            "interface twice",
            |o| o.interfaces.push("eth0".into()),
            "api: IngressNodeFirewall code: spec: interfaces[1] \"eth0\": listed twice (also \
             interfaces[0])",
        ),
        (
            "selector without values",
            |o| {
                o.node_selector.match_expressions.push(SelectorRequirement {
                    key: "zone".into(),
                    operator: SelectorOperator::In,
                    values: vec![],
                })
            },
            "api: IngressNodeFirewall code: spec: nodeSelector.matchExpressions[0].values: \
             operator In needs at least one value",
        ),
        (
            "no CIDRs",
            |o| o.ingress[0].source_cidrs.clear(),
            "api: IngressNodeFirewall code: spec.ingress[0]: sourceCIDRs: is empty: list at \
             least one source CIDR",
        ),
        (
            "CIDR twice",
            |o| {
                let again = Cidr::parse("10.9.9.9/8").expect("valid");
                o.ingress[0].source_cidrs.push(again)
            },
            "api: IngressNodeFirewall code: spec.ingress[0]: sourceCIDRs[1] \"10.9.9.9/8\": is \
             10.0.0.0/8, already listed as sourceCIDRs[0]",
        ),
        (
            "no rules",
            |o| o.ingress[0].rules.clear(),
            "api: IngressNodeFirewall code: spec.ingress[0]: rules: is empty: list at least one \
             rule",
        ),
        (
            "order 0",
            |o| o.ingress[0].rules[0].order = 0,
            "api: IngressNodeFirewall code: spec.ingress[0].rules[0] (order 0): order 0: must be \
             an integer from 1 to 4294967295",
        ),
        (
            "port 0",
            |o| {
                o.ingress[0].rules[0].protocol =
                    ProtocolMatch::Udp(Some(PortRange { first: 0, last: 5 }))
            },
            "api: IngressNodeFirewall code: spec.ingress[0].rules[0] (order 1): \
             protocolConfig.udp.ports \"0-5\": port 0 is not a port (ports are 1-65535)",
        ),
        (
            "reversed range",
            |o| {
                o.ingress[0].rules[0].protocol = ProtocolMatch::Sctp(Some(PortRange {
                    first: 300,
                    last: 200,
                }))
            },
            "api: IngressNodeFirewall code: spec.ingress[0].rules[0] (order 1): \
             protocolConfig.sctp.ports \"300-200\": range start 300 is after its end 200",
        ),
    ];
    assert!(problems_of(&[object()]).is_empty());
    for (name, break_it, want) in cases {
        let mut broken = object();
        break_it(&mut broken);
        let errors: Vec<String> = problems_of(&[broken])
            .into_iter()
            .filter(|(s, _)| *s == Severity::Error)
            .map(|(_, line)| line)
            .collect();
        assert_eq!(errors, [*want], "{name}");
    }
}

#[test]
fn selection_follows_node_labels() {
    let rule = "interfaces: [eth0]
ingress:
- sourceCIDRs: [10.0.0.0/8]
  rules: [{order: 1, action: Allow}]";
    let with = |selector: &str| format!("nodeSelector:\n{selector}\n{rule}");
    let loaded = objects(&docs(&[
        doc("all", rule),
        doc(
            "workers",
            &with("  matchLabels: {node-role.kubernetes.io/worker: ''}"),
        ),
        doc(
            "zone-a-not-infra",
            &with(
                "  matchExpressions:
  - {key: zone, operator: In, values: [a, b]}
  - {key: infra, operator: DoesNotExist}",
            ),
        ),
        doc(
            "by-name",
            &with("  matchLabels: {kubernetes.io/hostname: node-7}"),
        ),
        doc(
            "labelled-and-exists",
            &with(
                "  matchLabels: {zone: a}
  matchExpressions: [{key: gpu, operator: Exists}]",
            ),
        ),
    ]));
    let node = |name: &str, labels: &[(&str, &str)]| NodeIdentity {
        name: name.into(),
        labels: labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<BTreeMap<_, _>>(),
    };
    let cases: &[(NodeIdentity, &[&str])] = &[
        (node("node-1", &[]), &["all"]),
        (
            node(
                "node-1",
                &[("node-role.kubernetes.io/worker", ""), ("zone", "a")],
            ),
            &["all", "workers", "zone-a-not-infra"],
        ),
        (
            node("node-1", &[("zone", "b"), ("infra", "true")]),
            &["all"],
        ),
        (node("node-7", &[("zone", "c")]), &["all", "by-name"]),
        (
            node("node-2", &[("zone", "a"), ("gpu", "1")]),
            &["all", "zone-a-not-infra", "labelled-and-exists"],
        ),
    ];
    for (node, want) in cases {
        let names: Vec<&str> = select(&loaded, node)
            .into_iter()
            .map(|o| o.name.as_str())
            .collect();
        assert_eq!(names, *want, "{node:?}");
    }
}
