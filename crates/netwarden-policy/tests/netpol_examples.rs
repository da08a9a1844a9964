//! The NetObserv network-events examples (fixtures/network-events.yaml): namespace `iperf`, an
//! iperf3 server and client, ingress and egress NetworkPolicies, an ANP passing egress to the
//! NetworkPolicy tier and an EgressFirewall; each case is a connection and the events users see.

use netwarden_policy::netpol::{
    self, Connection, Inventory, NamespaceInfo, PodInfo, PolicySet, Verdict,
};

const EXAMPLES: &str = include_str!("fixtures/network-events.yaml");

fn inventory() -> Inventory {
    let pod = |name: &str, app: &str, ip: &str| PodInfo {
        namespace: "iperf".into(),
        name: name.into(),
        labels: [("app".to_string(), app.to_string())].into(),
        ips: vec![ip.parse().unwrap()],
        named_ports: vec![],
        host_ips: vec![],
    };
    Inventory {
        pods: vec![
            pod("server", "iperf3-server", "10.128.0.10"),
            pod("client", "iperf3-client", "10.128.0.11"),
        ],
        namespaces: vec![NamespaceInfo {
            name: "iperf".into(),
            labels: Default::default(),
        }],
        nodes: vec![],
    }
}

fn policies() -> PolicySet {
    let (set, problems) = netpol::parse_str(EXAMPLES, "network-events.yaml").unwrap();
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(set.network_policies.len(), 2);
    assert_eq!(set.admin_network_policies.len(), 1);
    assert_eq!(set.egress_firewalls.len(), 1);
    set
}

fn explain(set: &PolicySet, from: &str, to: &str, port: u16) -> (Verdict, Vec<String>) {
    let conn = Connection {
        src: from.parse().unwrap(),
        dst: to.parse().unwrap(),
        protocol: netpol::Protocol::Tcp,
        port,
        dst_dns_names: vec![],
    };
    let got = netpol::explain(&inventory(), set, &conn).unwrap();
    (
        got.verdict,
        got.events.iter().map(|e| e.message()).collect(),
    )
}

#[test]
fn documented_events() {
    use Verdict::*;
    let cases: &[(&str, &str, u16, Verdict, &[&str])] = &[
        ("iperf/client", "iperf/server", 5201, Dropped, &[
            "Delegated to network policy by admin network policy allow-egress-iperf, direction Egress",
            "Allowed by network policy iperf3-server-access-egress in namespace iperf, direction Egress",
            "Dropped by network policies isolation in namespace iperf, direction Ingress",
        ]),
        ("iperf/client", "iperf/server", 5501, Dropped, &[
            "Delegated to network policy by admin network policy allow-egress-iperf, direction Egress",
            "Dropped by network policies isolation in namespace iperf, direction Egress",
        ]),
        ("iperf/client", "8.8.8.8", 5201, Allowed, &[
            "Allowed by network policy iperf3-server-access-egress in namespace iperf, direction Egress",
            "Allowed by egress firewall in namespace iperf",
        ]),
        ("iperf/client", "1.1.1.1", 5201, Dropped, &[
            "Allowed by network policy iperf3-server-access-egress in namespace iperf, direction Egress",
            "Dropped by egress firewall in namespace iperf",
        ]),
        ("iperf/server", "iperf/client", 80, Allowed, &[
            "Delegated to network policy by admin network policy allow-egress-iperf, direction Egress",
        ]),
    ];
    let set = policies();
    for (from, to, port, verdict, messages) in cases {
        assert_eq!(
            explain(&set, from, to, *port),
            (*verdict, messages.iter().map(|m| m.to_string()).collect()),
            "{from} -> {to}:{port}"
        );
    }
}

#[test]
fn ingress_policy_alone() {
    let mut set = policies();
    set.network_policies
        .retain(|p| p.metadata.name == "iperf3-server-access-ingress");
    let (verdict, messages) = explain(&set, "iperf/client", "iperf/server", 5501);
    assert_eq!(verdict, Verdict::Allowed);
    assert_eq!(messages, [
        "Delegated to network policy by admin network policy allow-egress-iperf, direction Egress",
        "Allowed by network policy iperf3-server-access-ingress in namespace iperf, direction Ingress",
    ]);
    let conn = Connection {
        src: "iperf/client".parse().unwrap(),
        dst: "iperf/server".parse().unwrap(),
        protocol: netpol::Protocol::Tcp,
        port: 5501,
        dst_dns_names: vec![],
    };
    let got = netpol::explain(&inventory(), &set, &conn).unwrap();
    assert_eq!(
        got.events[1].to_json(),
        serde_json::json!({"Action": "allow", "Type": "NetworkPolicy", "Feature": "acl", "Direction": "Ingress",
            "Name": "iperf3-server-access-ingress", "Namespace": "iperf",
            "Message": "Allowed by network policy iperf3-server-access-ingress in namespace iperf, direction Ingress"})
    );
}
