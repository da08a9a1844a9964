//! Table tests of the engine semantics: each case is policies (YAML), a connection, and the
//! expected verdict and event messages.

use std::collections::BTreeMap;

use super::*;

/// Namespaces `a` (team=x) and `b` (team=y); pods a/web (app=web, port "http" 8080/TCP, "dns"
/// 53/UDP), a/client (app=client), b/client (app=client); node n1 (role=worker).
fn inventory() -> Inventory {
    let labels = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    let pod = |ns: &str, name: &str, app: &str, ip: &str| PodInfo {
        namespace: ns.into(),
        name: name.into(),
        labels: labels(&[("app", app)]),
        ips: vec![ip.parse().unwrap()],
        named_ports: vec![],
        host_ips: vec![],
    };
    let mut web = pod("a", "web", "web", "10.0.0.1");
    web.host_ips = vec!["192.168.0.10".parse().unwrap()];
    web.named_ports = vec![
        NamedPort {
            name: "http".into(),
            port: 8080,
            protocol: Protocol::Tcp,
        },
        NamedPort {
            name: "dns".into(),
            port: 53,
            protocol: Protocol::Udp,
        },
    ];
    Inventory {
        pods: vec![
            web,
            pod("a", "client", "client", "10.0.0.2"),
            pod("b", "client", "client", "10.0.1.2"),
        ],
        namespaces: vec![
            NamespaceInfo {
                name: "a".into(),
                labels: labels(&[("team", "x")]),
            },
            NamespaceInfo {
                name: "b".into(),
                labels: labels(&[("team", "y")]),
            },
        ],
        nodes: vec![NodeInfo {
            name: "n1".into(),
            labels: labels(&[("role", "worker")]),
            ips: vec!["192.168.0.10".parse().unwrap()],
        }],
    }
}

fn np(name: &str, spec: &str) -> String {
    format!("kind: NetworkPolicy\napiVersion: networking.k8s.io/v1\nmetadata: {{name: {name}, namespace: a}}\nspec: {spec}\n---\n")
}

fn anp(name: &str, priority: u32, spec: &str) -> String {
    format!("kind: AdminNetworkPolicy\napiVersion: policy.networking.k8s.io/v1alpha1\nmetadata: {{name: {name}}}\nspec: {{priority: {priority}, {spec}}}\n---\n")
}

fn banp(spec: &str) -> String {
    format!("kind: BaselineAdminNetworkPolicy\napiVersion: policy.networking.k8s.io/v1alpha1\nmetadata: {{name: default}}\nspec: {spec}\n---\n")
}

fn ef(rules: &str) -> String {
    format!("kind: EgressFirewall\napiVersion: k8s.ovn.org/v1\nmetadata: {{name: default, namespace: a}}\nspec: {{egress: {rules}}}\n---\n")
}

const ALL_NS: &str = "subject: {namespaces: {}}";

struct Case {
    name: &'static str,
    policies: String,
    from: &'static str,
    to: &'static str,
    port: &'static str,
    allowed: bool,
    messages: &'static [&'static str],
}

fn run(case: &Case) {
    let (policies, problems) = parse_str(&case.policies, case.name).unwrap();
    assert!(problems.is_empty(), "{}: {problems:?}", case.name);
    let (port, proto) = case.port.split_once('/').unwrap_or((case.port, "TCP"));
    let conn = Connection {
        src: case.from.parse().unwrap(),
        dst: case.to.parse().unwrap(),
        // `other`: ICMP and the like (no policy spelling).
        protocol: match proto {
            "other" => Protocol::Other,
            proto => proto.parse().unwrap(),
        },
        port: port.parse().unwrap(),
        dst_dns_names: vec!["dns.google".into()],
    };
    let got = explain(&inventory(), &policies, &conn).unwrap();
    let messages: Vec<String> = got.events.iter().map(NetworkEvent::message).collect();
    assert_eq!(messages, case.messages, "{}", case.name);
    let want = if case.allowed {
        Verdict::Allowed
    } else {
        Verdict::Dropped
    };
    assert_eq!(got.verdict, want, "{}", case.name);
}

#[test]
fn network_policy_semantics() {
    let cases = [
        Case { name: "no policy: default allow, no events", policies: String::new(), from: "a/client", to: "a/web", port: "80", allowed: true, messages: &[] },
        Case { name: "default deny ingress", policies: np("deny", "{podSelector: {}}"), from: "a/client", to: "a/web", port: "80", allowed: false,
            messages: &["Dropped by network policies isolation in namespace a, direction Ingress"] },
        Case { name: "default deny egress", policies: np("deny", "{podSelector: {}, policyTypes: [Egress]}"), from: "a/client", to: "a/web", port: "80", allowed: false,
            messages: &["Dropped by network policies isolation in namespace a, direction Egress"] },
        Case { name: "own node always reaches its pods", policies: np("deny", "{podSelector: {}}"), from: "192.168.0.10", to: "a/web", port: "80", allowed: true, messages: &[] },
        Case { name: "pods always reach their own node", policies: np("deny", "{podSelector: {}, policyTypes: [Egress]}"), from: "a/web", to: "192.168.0.10", port: "10250", allowed: true, messages: &[] },
        Case { name: "another node is isolated", policies: np("deny", "{podSelector: {}}"), from: "192.168.0.11", to: "a/web", port: "80", allowed: false,
            messages: &["Dropped by network policies isolation in namespace a, direction Ingress"] },
        Case { name: "an ANP still judges the own node", policies: anp("no-node", 5, "subject: {namespaces: {}}, egress: [{action: Deny, to: [{nodes: {}}]}]"),
            from: "a/web", to: "192.168.0.10", port: "10250", allowed: false, messages: &["Dropped by admin network policy no-node, direction Egress"] },
        Case { name: "policy selecting other pods does not isolate", policies: np("p", "{podSelector: {matchLabels: {app: other}}}"), from: "a/client", to: "a/web", port: "80", allowed: true, messages: &[] },
        Case { name: "podSelector peer allows same namespace", policies: np("p", "{podSelector: {matchLabels: {app: web}}, ingress: [{from: [{podSelector: {matchLabels: {app: client}}}]}]}"),
            from: "a/client", to: "a/web", port: "80", allowed: true, messages: &["Allowed by network policy p in namespace a, direction Ingress"] },
        Case { name: "podSelector peer alone is the policy namespace only", policies: np("p", "{podSelector: {matchLabels: {app: web}}, ingress: [{from: [{podSelector: {matchLabels: {app: client}}}]}]}"),
            from: "b/client", to: "a/web", port: "80", allowed: false, messages: &["Dropped by network policies isolation in namespace a, direction Ingress"] },
        Case { name: "AND: both selectors in one peer", policies: np("p", "{podSelector: {}, ingress: [{from: [{namespaceSelector: {matchLabels: {team: y}}, podSelector: {matchLabels: {app: web}}}]}]}"),
            from: "b/client", to: "a/web", port: "80", allowed: false, messages: &["Dropped by network policies isolation in namespace a, direction Ingress"] },
        Case { name: "OR: two peers", policies: np("p", "{podSelector: {}, ingress: [{from: [{namespaceSelector: {matchLabels: {team: y}}}, {podSelector: {matchLabels: {app: web}}}]}]}"),
            from: "b/client", to: "a/web", port: "80", allowed: true, messages: &["Allowed by network policy p in namespace a, direction Ingress"] },
        Case { name: "matchExpressions NotIn", policies: np("p", "{podSelector: {}, ingress: [{from: [{namespaceSelector: {matchExpressions: [{key: team, operator: NotIn, values: [x]}]}}]}]}"),
            from: "b/client", to: "a/web", port: "80", allowed: true, messages: &["Allowed by network policy p in namespace a, direction Ingress"] },
        Case { name: "ipBlock allows", policies: np("p", "{podSelector: {}, ingress: [{from: [{ipBlock: {cidr: 10.0.0.0/16, except: [10.0.0.0/24]}}]}]}"),
            from: "b/client", to: "a/web", port: "80", allowed: true, messages: &["Allowed by network policy p in namespace a, direction Ingress"] },
        Case { name: "ipBlock except excludes", policies: np("p", "{podSelector: {}, ingress: [{from: [{ipBlock: {cidr: 10.0.0.0/16, except: [10.0.0.0/24]}}]}]}"),
            from: "a/client", to: "a/web", port: "80", allowed: false, messages: &["Dropped by network policies isolation in namespace a, direction Ingress"] },
        Case { name: "ipBlock external egress", policies: np("p", "{podSelector: {}, policyTypes: [Egress], egress: [{to: [{ipBlock: {cidr: 8.8.8.8/24}}]}]}"),
            from: "a/client", to: "8.8.8.100", port: "53/UDP", allowed: true, messages: &["Allowed by network policy p in namespace a, direction Egress"] },
        Case { name: "port mismatch", policies: np("p", "{podSelector: {}, ingress: [{ports: [{port: 443}]}]}"),
            from: "a/client", to: "a/web", port: "80", allowed: false, messages: &["Dropped by network policies isolation in namespace a, direction Ingress"] },
        Case { name: "protocol defaults to TCP", policies: np("p", "{podSelector: {}, ingress: [{ports: [{port: 53}]}]}"),
            from: "a/client", to: "a/web", port: "53/UDP", allowed: false, messages: &["Dropped by network policies isolation in namespace a, direction Ingress"] },
        Case { name: "UDP port", policies: np("p", "{podSelector: {}, ingress: [{ports: [{port: 53, protocol: UDP}]}]}"),
            from: "a/client", to: "a/web", port: "53/UDP", allowed: true, messages: &["Allowed by network policy p in namespace a, direction Ingress"] },
        Case { name: "SCTP without port", policies: np("p", "{podSelector: {}, ingress: [{ports: [{protocol: SCTP}]}]}"),
            from: "a/client", to: "a/web", port: "9999/SCTP", allowed: true, messages: &["Allowed by network policy p in namespace a, direction Ingress"] },
        Case { name: "endPort range inside", policies: np("p", "{podSelector: {}, ingress: [{ports: [{port: 8000, endPort: 9000}]}]}"),
            from: "a/client", to: "a/web", port: "9000", allowed: true, messages: &["Allowed by network policy p in namespace a, direction Ingress"] },
        Case { name: "endPort range outside", policies: np("p", "{podSelector: {}, ingress: [{ports: [{port: 8000, endPort: 9000}]}]}"),
            from: "a/client", to: "a/web", port: "9001", allowed: false, messages: &["Dropped by network policies isolation in namespace a, direction Ingress"] },
        Case { name: "named port resolves on destination", policies: np("p", "{podSelector: {}, ingress: [{ports: [{port: http}]}]}"),
            from: "a/client", to: "a/web", port: "8080", allowed: true, messages: &["Allowed by network policy p in namespace a, direction Ingress"] },
        Case { name: "named port protocol must agree", policies: np("p", "{podSelector: {}, ingress: [{ports: [{port: dns}]}]}"),
            from: "a/client", to: "a/web", port: "53/UDP", allowed: false, messages: &["Dropped by network policies isolation in namespace a, direction Ingress"] },
        Case { name: "named port UDP", policies: np("p", "{podSelector: {}, ingress: [{ports: [{port: dns, protocol: UDP}]}]}"),
            from: "a/client", to: "a/web", port: "53/UDP", allowed: true, messages: &["Allowed by network policy p in namespace a, direction Ingress"] },
        Case { name: "union of policies: second allows", policies: np("p1", "{podSelector: {}, ingress: [{ports: [{port: 1}]}]}") + &np("p2", "{podSelector: {}, ingress: [{ports: [{port: 80}]}]}"),
            from: "a/client", to: "a/web", port: "80", allowed: true, messages: &["Allowed by network policy p2 in namespace a, direction Ingress"] },
        Case { name: "egress then ingress events", policies: np("e", "{podSelector: {matchLabels: {app: client}}, egress: [{}]}") + &np("i", "{podSelector: {matchLabels: {app: web}}, ingress: [{}]}"),
            from: "a/client", to: "a/web", port: "80", allowed: true,
            messages: &["Allowed by network policy e in namespace a, direction Egress", "Allowed by network policy i in namespace a, direction Ingress"] },
        Case { name: "egress drop: ingress never evaluated", policies: np("e", "{podSelector: {matchLabels: {app: client}}, policyTypes: [Egress]}") + &np("i", "{podSelector: {matchLabels: {app: web}}, ingress: [{}]}"),
            from: "a/client", to: "a/web", port: "80", allowed: false, messages: &["Dropped by network policies isolation in namespace a, direction Egress"] },
        Case { name: "external source: ingress only", policies: np("p", "{podSelector: {}}"), from: "1.2.3.4", to: "10.0.0.1", port: "80", allowed: false,
            messages: &["Dropped by network policies isolation in namespace a, direction Ingress"] },
    ];
    for case in &cases {
        run(case);
    }
}

#[test]
fn admin_tier_semantics() {
    let allow_b = "egress: [{action: Allow, to: [{namespaces: {matchLabels: {team: y}}}]}]";
    let deny_b = "egress: [{action: Deny, to: [{namespaces: {matchLabels: {team: y}}}]}]";
    let pass_all = "egress: [{action: Pass, to: [{namespaces: {}}]}]";
    let deny_np = np("deny", "{podSelector: {}, policyTypes: [Egress]}");
    let cases = [
        Case { name: "ANP allow beats NP deny", policies: anp("allow", 5, &format!("{ALL_NS}, {allow_b}")) + &deny_np,
            from: "a/client", to: "b/client", port: "80", allowed: true, messages: &["Allowed by admin network policy allow, direction Egress"] },
        Case { name: "lower priority number wins", policies: anp("deny", 4, &format!("{ALL_NS}, {deny_b}")) + &anp("allow", 5, &format!("{ALL_NS}, {allow_b}")),
            from: "a/client", to: "b/client", port: "80", allowed: false, messages: &["Dropped by admin network policy deny, direction Egress"] },
        Case { name: "first rule in order wins", policies: anp("both", 1, &format!("{ALL_NS}, egress: [{{action: Deny, to: [{{pods: {{namespaceSelector: {{}}, podSelector: {{matchLabels: {{app: client}}}}}}}}]}}, {{action: Allow, to: [{{namespaces: {{}}}}]}}]")),
            from: "a/client", to: "b/client", port: "80", allowed: false, messages: &["Dropped by admin network policy both, direction Egress"] },
        Case { name: "Pass delegates to NP", policies: anp("pass", 1, &format!("{ALL_NS}, {pass_all}")) + &anp("deny", 2, &format!("{ALL_NS}, {deny_b}")) + &deny_np,
            from: "a/client", to: "b/client", port: "80", allowed: false,
            messages: &["Delegated to network policy by admin network policy pass, direction Egress", "Dropped by network policies isolation in namespace a, direction Egress"] },
        Case { name: "Pass without NP falls to BANP", policies: anp("pass", 1, &format!("{ALL_NS}, {pass_all}")) + &banp(&format!("{{{ALL_NS}, {deny_b}}}")),
            from: "a/client", to: "b/client", port: "80", allowed: false,
            messages: &["Delegated to network policy by admin network policy pass, direction Egress", "Dropped by baseline admin network policy default, direction Egress"] },
        Case { name: "BANP ignored when an NP selects the pod", policies: banp(&format!("{{{ALL_NS}, {deny_b}}}")) + &np("e", "{podSelector: {}, egress: [{}]}"),
            from: "a/client", to: "b/client", port: "80", allowed: true, messages: &["Allowed by network policy e in namespace a, direction Egress"] },
        Case { name: "subject mismatch", policies: anp("deny", 1, &format!("subject: {{namespaces: {{matchLabels: {{team: y}}}}}}, {deny_b}")),
            from: "a/client", to: "b/client", port: "80", allowed: true, messages: &[] },
        Case { name: "ANP portRange and UDP", policies: anp("deny", 1, &format!("{ALL_NS}, egress: [{{action: Deny, to: [{{namespaces: {{}}}}], ports: [{{portRange: {{protocol: UDP, start: 50, end: 60}}}}]}}]")),
            from: "a/client", to: "a/web", port: "53/UDP", allowed: false, messages: &["Dropped by admin network policy deny, direction Egress"] },
        Case { name: "ANP portNumber mismatch", policies: anp("deny", 1, &format!("{ALL_NS}, egress: [{{action: Deny, to: [{{namespaces: {{}}}}], ports: [{{portNumber: {{port: 443}}}}]}}]")),
            from: "a/client", to: "a/web", port: "80", allowed: true, messages: &[] },
        Case { name: "ANP namedPort", policies: anp("deny", 1, &format!("{ALL_NS}, egress: [{{action: Deny, to: [{{namespaces: {{}}}}], ports: [{{namedPort: http}}]}}]")),
            from: "a/client", to: "a/web", port: "8080", allowed: false, messages: &["Dropped by admin network policy deny, direction Egress"] },
        Case { name: "ANP nodes peer", policies: anp("deny", 1, &format!("{ALL_NS}, egress: [{{action: Deny, to: [{{nodes: {{matchLabels: {{role: worker}}}}}}]}}]")),
            from: "a/client", to: "192.168.0.10", port: "10250", allowed: false, messages: &["Dropped by admin network policy deny, direction Egress"] },
        Case { name: "ANP networks peer", policies: anp("deny", 1, &format!("{ALL_NS}, egress: [{{action: Deny, to: [{{networks: [1.1.1.0/24]}}]}}]")),
            from: "a/client", to: "1.1.1.1", port: "443", allowed: false, messages: &["Dropped by admin network policy deny, direction Egress"] },
        Case { name: "ANP ingress with pods subject", policies: anp("in", 1, "subject: {pods: {namespaceSelector: {}, podSelector: {matchLabels: {app: web}}}}, ingress: [{action: Deny, from: [{namespaces: {matchLabels: {team: y}}}]}]"),
            from: "b/client", to: "a/web", port: "80", allowed: false, messages: &["Dropped by admin network policy in, direction Ingress"] },
    ];
    for case in &cases {
        run(case);
    }
}

#[test]
fn egress_firewall_semantics() {
    let rules = "[{type: Allow, to: {cidrSelector: 8.8.8.8/24}, ports: [{protocol: UDP, port: 53}]}, {type: Allow, to: {dnsName: dns.google}}, {type: Deny, to: {cidrSelector: 0.0.0.0/0}}]";
    let cases = [
        Case {
            name: "first match allows",
            policies: ef(rules),
            from: "a/client",
            to: "8.8.8.1",
            port: "53/UDP",
            allowed: true,
            messages: &["Allowed by egress firewall in namespace a"],
        },
        Case {
            name: "port mismatch falls to dnsName",
            policies: ef(rules),
            from: "a/client",
            to: "8.8.4.4",
            port: "443",
            allowed: true,
            messages: &["Allowed by egress firewall in namespace a"],
        },
        Case {
            name: "no match: allowed, no event",
            policies: ef("[{type: Deny, to: {cidrSelector: 9.9.9.9/32}}]"),
            from: "a/client",
            to: "1.1.1.1",
            port: "443",
            allowed: true,
            messages: &[],
        },
        Case {
            name: "deny",
            policies: ef("[{type: Deny, to: {cidrSelector: 0.0.0.0/0}}]"),
            from: "a/client",
            to: "1.1.1.1",
            port: "443",
            allowed: false,
            messages: &["Dropped by egress firewall in namespace a"],
        },
        Case {
            name: "in-cluster traffic not subject",
            policies: ef("[{type: Deny, to: {cidrSelector: 0.0.0.0/0}}]"),
            from: "a/client",
            to: "b/client",
            port: "443",
            allowed: true,
            messages: &[],
        },
        Case {
            name: "NP drop comes first",
            policies: ef("[{type: Allow, to: {cidrSelector: 0.0.0.0/0}}]")
                + &np("deny", "{podSelector: {}, policyTypes: [Egress]}"),
            from: "a/client",
            to: "1.1.1.1",
            port: "443",
            allowed: false,
            messages: &["Dropped by network policies isolation in namespace a, direction Egress"],
        },
    ];
    for case in &cases {
        run(case);
    }
}

#[test]
fn egress_firewall_node_selector() {
    let workers = "[{type: Allow, to: {nodeSelector: {matchLabels: {role: worker}}}}, {type: Deny, to: {cidrSelector: 0.0.0.0/0}}]";
    let masters = "[{type: Allow, to: {nodeSelector: {matchLabels: {role: master}}}}, {type: Deny, to: {cidrSelector: 0.0.0.0/0}}]";
    let any_node = "[{type: Deny, to: {nodeSelector: {}}, ports: [{protocol: TCP, port: 22}]}]";
    let cases = [
        Case {
            name: "matching node allowed",
            policies: ef(workers),
            from: "a/client",
            to: "192.168.0.10",
            port: "443",
            allowed: true,
            messages: &["Allowed by egress firewall in namespace a"],
        },
        Case {
            name: "node rule does not match outside addresses",
            policies: ef(workers),
            from: "a/client",
            to: "192.168.0.11",
            port: "443",
            allowed: false,
            messages: &["Dropped by egress firewall in namespace a"],
        },
        Case {
            name: "labels must match",
            policies: ef(masters),
            from: "a/client",
            to: "192.168.0.10",
            port: "443",
            allowed: false,
            messages: &["Dropped by egress firewall in namespace a"],
        },
        Case {
            name: "empty selector: every node, with ports",
            policies: ef(any_node),
            from: "a/client",
            to: "192.168.0.10",
            port: "22",
            allowed: false,
            messages: &["Dropped by egress firewall in namespace a"],
        },
        Case {
            name: "empty selector: other port",
            policies: ef(any_node),
            from: "a/client",
            to: "192.168.0.10",
            port: "23",
            allowed: true,
            messages: &[],
        },
        Case {
            name: "empty selector: not an outside address",
            policies: ef(any_node),
            from: "a/client",
            to: "1.1.1.1",
            port: "22",
            allowed: true,
            messages: &[],
        },
        Case {
            name: "pods are not subject",
            policies: ef(any_node),
            from: "a/client",
            to: "b/client",
            port: "22",
            allowed: true,
            messages: &[],
        },
    ];
    for case in &cases {
        run(case);
    }
}

#[test]
fn other_protocols_match_only_rules_without_ports() {
    let cases = [
        Case { name: "NP port rule", policies: np("p", "{podSelector: {}, ingress: [{ports: [{port: 80}]}]}"), from: "a/client", to: "a/web", port: "0/other", allowed: false,
            messages: &["Dropped by network policies isolation in namespace a, direction Ingress"] },
        Case { name: "NP protocol without port", policies: np("p", "{podSelector: {}, ingress: [{ports: [{protocol: SCTP}]}]}"), from: "a/client", to: "a/web", port: "0/other", allowed: false,
            messages: &["Dropped by network policies isolation in namespace a, direction Ingress"] },
        Case { name: "NP rule without ports", policies: np("p", "{podSelector: {}, ingress: [{from: [{podSelector: {}}]}]}"), from: "a/client", to: "a/web", port: "0/other", allowed: true,
            messages: &["Allowed by network policy p in namespace a, direction Ingress"] },
        Case { name: "ANP namedPort", policies: anp("deny", 1, &format!("{ALL_NS}, egress: [{{action: Deny, to: [{{namespaces: {{}}}}], ports: [{{namedPort: http}}]}}]")),
            from: "a/client", to: "a/web", port: "0/other", allowed: true, messages: &[] },
        Case { name: "ANP without ports", policies: anp("deny", 1, &format!("{ALL_NS}, egress: [{{action: Deny, to: [{{namespaces: {{}}}}]}}]")),
            from: "a/client", to: "a/web", port: "0/other", allowed: false, messages: &["Dropped by admin network policy deny, direction Egress"] },
        Case { name: "EF port rule", policies: ef("[{type: Allow, to: {cidrSelector: 0.0.0.0/0}, ports: [{protocol: TCP}]}, {type: Deny, to: {cidrSelector: 0.0.0.0/0}}]"),
            from: "a/client", to: "1.1.1.1", port: "0/other", allowed: false, messages: &["Dropped by egress firewall in namespace a"] },
    ];
    for case in &cases {
        run(case);
    }
    assert_eq!(Protocol::Other.to_string(), "other");
    assert!("other".parse::<Protocol>().is_err());
    assert!("ICMP".parse::<Protocol>().is_err());
}

#[test]
fn one_direction_regardless_of_the_other() {
    let policies = np(
        "e",
        "{podSelector: {matchLabels: {app: client}}, policyTypes: [Egress]}",
    ) + &np(
        "i",
        "{podSelector: {matchLabels: {app: web}}, ingress: [{}]}",
    );
    let (policies, problems) = parse_str(&policies, "inline").unwrap();
    assert!(problems.is_empty(), "{problems:?}");
    let inv = inventory();
    let conn = |from: &str, to: &str| Connection {
        src: from.parse().unwrap(),
        dst: to.parse().unwrap(),
        protocol: Protocol::Tcp,
        port: 80,
        dst_dns_names: vec![],
    };
    let direction = |c: &Connection, d| {
        explain_direction(&inv, &policies, c, d).unwrap().map(|v| {
            (
                v.verdict,
                v.events
                    .iter()
                    .map(NetworkEvent::message)
                    .collect::<Vec<_>>(),
            )
        })
    };
    let c = conn("a/client", "a/web");
    let whole = explain(&inv, &policies, &c).unwrap();
    assert_eq!(whole.ingress, None, "explain stops at the egress drop");
    assert_eq!(
        explain_direction(&inv, &policies, &c, Direction::Egress).unwrap(),
        whole.egress
    );
    assert_eq!(
        direction(&c, Direction::Ingress),
        Some((
            Verdict::Allowed,
            vec!["Allowed by network policy i in namespace a, direction Ingress".to_string()]
        ))
    );
    // The same connection written with addresses.
    let by_ip = conn("10.0.0.2", "10.0.0.1");
    assert_eq!(
        direction(&by_ip, Direction::Ingress),
        direction(&c, Direction::Ingress)
    );
    // No pod at that end: no verdict for its direction.
    assert_eq!(
        direction(&conn("1.2.3.4", "a/web"), Direction::Egress),
        None
    );
    assert_eq!(
        direction(&conn("a/web", "192.168.0.10"), Direction::Ingress),
        None
    );
    assert_eq!(
        direction(&conn("a/web", "192.168.0.10"), Direction::Egress),
        Some((Verdict::Allowed, vec![]))
    );
    assert_eq!(
        explain_direction(
            &inv,
            &policies,
            &conn("a/nobody", "a/web"),
            Direction::Ingress
        ),
        Err(ExplainError::UnknownPod {
            namespace: "a".into(),
            name: "nobody".into()
        })
    );
}

#[test]
fn invalid_policies_are_reported_and_ignored() {
    let cases: [(&str, String, &str, &str); 13] = [
        ("bad operator", np("p", "{podSelector: {matchExpressions: [{key: app, operator: Like}]}}"), "NetworkPolicy", "spec.podSelector.matchExpressions[0].operator"),
        ("In without values", np("p", "{podSelector: {matchExpressions: [{key: app, operator: In}]}}"), "NetworkPolicy", "spec.podSelector.matchExpressions[0].values"),
        ("bad cidr", np("p", "{podSelector: {}, ingress: [{from: [{ipBlock: {cidr: 10.0.0.0/33}}]}]}"), "NetworkPolicy", "spec.ingress[0].from[0].ipBlock.cidr"),
        ("except outside", np("p", "{podSelector: {}, ingress: [{from: [{ipBlock: {cidr: 10.0.0.0/16, except: [10.1.0.0/24]}}]}]}"), "NetworkPolicy", "spec.ingress[0].from[0].ipBlock.except[0]"),
        ("port 0", np("p", "{podSelector: {}, ingress: [{ports: [{port: 0}]}]}"), "NetworkPolicy", "spec.ingress[0].ports[0].port"),
        ("endPort before port", np("p", "{podSelector: {}, ingress: [{ports: [{port: 80, endPort: 79}]}]}"), "NetworkPolicy", "spec.ingress[0].ports[0].endPort"),
        ("bad protocol", np("p", "{podSelector: {}, ingress: [{ports: [{port: 80, protocol: ICMP}]}]}"), "NetworkPolicy", "spec.ingress[0].ports[0].protocol"),
        ("duplicate priority", anp("a1", 5, "subject: {namespaces: {}}") + &anp("a2", 5, "subject: {namespaces: {}}"), "AdminNetworkPolicy", "spec.priority"),
        ("pass in BANP", banp("{subject: {namespaces: {}}, egress: [{action: Pass, to: [{namespaces: {}}]}]}"), "BaselineAdminNetworkPolicy", "spec.egress[0].action"),
        ("EF both destinations", ef("[{type: Allow, to: {cidrSelector: 1.1.1.1/32, dnsName: x.com}}]"), "EgressFirewall", "spec.egress[0].to"),
        ("EF cidr and nodes", ef("[{type: Allow, to: {cidrSelector: 1.1.1.1/32, nodeSelector: {}}}]"), "EgressFirewall", "spec.egress[0].to"),
        ("EF no destination", ef("[{type: Allow, to: {}}]"), "EgressFirewall", "spec.egress[0].to"),
        ("EF bad node selector", ef("[{type: Allow, to: {nodeSelector: {matchExpressions: [{key: role, operator: Exists, values: [x]}]}}}]"), "EgressFirewall", "spec.egress[0].to.nodeSelector.matchExpressions[0].values"),
    ];
    for (name, text, kind, field) in cases {
        // A valid policy next to the invalid one keeps working.
        let text = text + &np("ok", "{podSelector: {}}");
        let (set, problems) = parse_str(&text, name).unwrap();
        assert_eq!(problems.len(), 1, "{name}: {problems:?}");
        assert_eq!(
            (problems[0].kind.as_str(), problems[0].field.as_str()),
            (kind, field),
            "{name}"
        );
        assert!(
            set.network_policies.iter().any(|p| p.metadata.name == "ok"),
            "{name}"
        );
        assert!(
            !set.network_policies.iter().any(|p| p.metadata.name == "p"),
            "{name}"
        );
    }
}

#[test]
fn events_are_netobserv_json() {
    let e = NetworkEvent {
        action: Action::Allow,
        kind: EventType::NetworkPolicy,
        name: "p".into(),
        namespace: "a".into(),
        direction: Some(Direction::Ingress),
    };
    assert_eq!(
        e.to_json(),
        serde_json::json!({"Action": "allow", "Type": "NetworkPolicy", "Feature": "acl", "Direction": "Ingress",
            "Name": "p", "Namespace": "a", "Message": "Allowed by network policy p in namespace a, direction Ingress"})
    );
}

#[test]
fn cidr_host_bits_and_families() {
    let cases = [
        ("8.8.8.8/24", "8.8.8.200", true),
        ("8.8.8.8/24", "8.8.9.1", false),
        ("0.0.0.0/0", "1.2.3.4", true),
        ("0.0.0.0/0", "::1", false),
        ("fd00::/8", "fd12::1", true),
        ("10.0.0.1/32", "10.0.0.1", true),
    ];
    for (cidr, ip, want) in cases {
        let c: cidr::Cidr = cidr.parse().unwrap();
        assert_eq!(c.contains(ip.parse().unwrap()), want, "{cidr} {ip}");
    }
}
