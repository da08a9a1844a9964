//! Enforce mode: the compiled rule sets of local pods answer every (remote address, protocol,
//! port) exactly as `explain_direction` does. The NetObserv examples
//! (fixtures/network-events.yaml) get exact answers; a larger cluster (two namespaces, named
//! ports, dual-stack pods, nodes, a host-network pod) with every kind of policy is checked
//! against the engine at many thousands of pseudo-random points around every prefix and port
//! boundary.

use std::collections::{BTreeMap, HashSet};
use std::net::IpAddr;

use netwarden_policy::firewall::compiled::{proto, Decision, Verdict as FwVerdict, MAX_SEGMENTS};
use netwarden_policy::netpol::cidr::Cidr;
use netwarden_policy::netpol::{
    self, compile_enforcement, explain_direction, Connection, Direction, EnforceError, Enforcement,
    Inventory, NamedPort, NamespaceInfo, NodeInfo, PodInfo, PolicySet, Protocol, Verdict,
};

const EXAMPLES: &str = include_str!("fixtures/network-events.yaml");

/// Policies over the cluster of [`cluster`], next to the examples: ipBlock with except (one
/// except covered entirely by longer prefixes), endPort ranges, named ports, UDP and SCTP, an
/// ANP with `networks` and `nodes` peers, a BANP, and an EgressFirewall with CIDRs, a
/// nodeSelector and a dnsName (never matched: packets carry no names).
const SHOP: &str = r#"
kind: NetworkPolicy
apiVersion: networking.k8s.io/v1
metadata: {name: web-ingress, namespace: shop}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress:
  - from:
    - ipBlock: {cidr: 10.0.0.0/8, except: [10.0.0.0/12, 10.128.0.0/24, 10.200.0.0/16]}
    - ipBlock: {cidr: "fd00::/16", except: ["fd00:10:128::/64"]}
    ports:
    - port: http
    - port: 8000
      endPort: 8100
    - {port: dns, protocol: UDP}
  - from:
    - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: iperf}}
      podSelector: {matchLabels: {app: iperf3-client}}
    ports:
    - {port: diameter, protocol: SCTP}
---
kind: NetworkPolicy
apiVersion: networking.k8s.io/v1
metadata: {name: web-egress, namespace: shop}
spec:
  podSelector: {matchLabels: {app: web}}
  policyTypes: [Egress]
  egress:
  - to: [{podSelector: {matchLabels: {app: db}}}]
    ports: [{port: pg}]
  - to:
    - ipBlock: {cidr: 0.0.0.0/0, except: [10.0.0.0/8, 169.254.169.254/32]}
    - ipBlock: {cidr: "::/0", except: ["fd00::/16"]}
    ports:
    - port: 443
    - {port: 30000, endPort: 32767, protocol: UDP}
---
kind: NetworkPolicy
apiVersion: networking.k8s.io/v1
metadata: {name: db, namespace: shop}
spec:
  podSelector: {matchLabels: {app: db}}
  policyTypes: [Ingress, Egress]
  ingress:
  - from: [{podSelector: {matchLabels: {app: web}}}]
    ports: [{port: pg}]
  egress:
  - to: [{ipBlock: {cidr: 192.168.1.0/24}}]
    ports: [{port: 53, protocol: UDP}]
---
apiVersion: policy.networking.k8s.io/v1alpha1
kind: AdminNetworkPolicy
metadata: {name: cluster-guard}
spec:
  priority: 5
  subject: {namespaces: {}}
  egress:
  - action: Deny
    to: [{networks: [169.254.169.254/32, "fd00:ec2::254/128"]}]
  - action: Allow
    to: [{nodes: {matchLabels: {role: worker}}}]
    ports:
    - portNumber: {protocol: TCP, port: 10250}
    - portRange: {protocol: UDP, start: 4789, end: 4790}
  ingress:
  - action: Allow
    from: [{namespaces: {matchLabels: {team: shop}}}]
    ports: [{namedPort: metrics}]
---
apiVersion: policy.networking.k8s.io/v1alpha1
kind: BaselineAdminNetworkPolicy
metadata: {name: default}
spec:
  subject: {namespaces: {matchLabels: {team: shop}}}
  egress:
  - action: Deny
    to: [{networks: [203.0.113.0/24]}]
  ingress:
  - action: Deny
    from: [{namespaces: {}}]
    ports: [{portRange: {protocol: SCTP, start: 1, end: 1000}}]
---
apiVersion: k8s.ovn.org/v1
kind: EgressFirewall
metadata: {name: default, namespace: shop}
spec:
  egress:
  - type: Allow
    to: {nodeSelector: {matchLabels: {role: infra}}}
  - type: Allow
    to: {cidrSelector: 203.0.113.128/25}
    ports: [{protocol: TCP, port: 443}]
  - type: Deny
    to: {cidrSelector: 10.200.0.0/17}
  - type: Allow
    to: {cidrSelector: 10.200.128.0/17}
  - type: Allow
    to: {dnsName: example.com}
  - type: Deny
    to: {cidrSelector: "2001:db8::/32"}
  - type: Deny
    to: {cidrSelector: 0.0.0.0/0}
"#;

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn pod(ns: &str, name: &str, app: &str, ips: &[&str]) -> PodInfo {
    PodInfo {
        namespace: ns.into(),
        name: name.into(),
        labels: labels(&[("app", app)]),
        ips: ips.iter().map(|ip| ip.parse().unwrap()).collect(),
        named_ports: vec![],
        host_ips: vec![],
    }
}

fn port(name: &str, port: u16, protocol: Protocol) -> NamedPort {
    NamedPort {
        name: name.into(),
        port,
        protocol,
    }
}

/// The inventory of netpol_examples.rs: iperf/server and iperf/client.
fn iperf() -> Inventory {
    Inventory {
        pods: vec![
            pod("iperf", "server", "iperf3-server", &["10.128.0.10"]),
            pod("iperf", "client", "iperf3-client", &["10.128.0.11"]),
        ],
        namespaces: vec![NamespaceInfo {
            name: "iperf".into(),
            labels: Default::default(),
        }],
        nodes: vec![],
    }
}

/// The iperf pods dual-stack plus a second client, namespace `shop` (team=shop) with two web
/// replicas (named ports http, metrics, dns/UDP, diameter/SCTP), two db pods (pg on different
/// ports) and a batch pod, a host-network pod on node n1's address, and nodes n1 (worker,
/// dual-stack) and n2 (infra).
fn cluster() -> Inventory {
    let mut web = pod("shop", "web", "web", &["10.129.0.20", "fd00:10:129::20"]);
    web.named_ports = vec![
        port("http", 8080, Protocol::Tcp),
        port("metrics", 9090, Protocol::Tcp),
        port("dns", 53, Protocol::Udp),
        port("diameter", 3868, Protocol::Sctp),
    ];
    web.host_ips = vec!["192.168.1.10".parse().unwrap()];
    let mut web2 = web.clone();
    web2.name = "web-2".into();
    web2.ips = vec!["10.129.0.21".parse().unwrap()];
    let mut db = pod("shop", "db", "db", &["10.129.0.30", "fd00:10:129::30"]);
    db.named_ports = vec![port("pg", 5432, Protocol::Tcp)];
    // Same labels, another port behind the name.
    let mut db2 = pod("shop", "db-2", "db", &["10.129.0.31"]);
    db2.named_ports = vec![port("pg", 5433, Protocol::Tcp)];
    // Where pods run: NetworkPolicies never isolate a pod from its own node (web above on n1,
    // whose address is also a host-network pod's; db on a node the inventory has no object for).
    db.host_ips = vec!["192.168.7.1".parse().unwrap()];
    Inventory {
        pods: vec![
            pod(
                "iperf",
                "server",
                "iperf3-server",
                &["10.128.0.10", "fd00:10:128::10"],
            ),
            pod(
                "iperf",
                "client",
                "iperf3-client",
                &["10.128.0.11", "fd00:10:128::11"],
            ),
            // Same labels as the client, outside the except of web-ingress.
            pod("iperf", "client-2", "iperf3-client", &["10.128.1.11"]),
            web,
            web2,
            db,
            db2,
            pod("shop", "batch", "batch", &["10.200.0.5"]),
            pod("kube-system", "proxy", "proxy", &["192.168.1.10"]),
        ],
        namespaces: vec![
            NamespaceInfo {
                name: "iperf".into(),
                labels: Default::default(),
            },
            NamespaceInfo {
                name: "shop".into(),
                labels: labels(&[("team", "shop")]),
            },
        ],
        nodes: vec![
            NodeInfo {
                name: "n1".into(),
                labels: labels(&[("role", "worker")]),
                ips: vec![
                    "192.168.1.10".parse().unwrap(),
                    "192.168.1.12".parse().unwrap(),
                    "fd00:192::10".parse().unwrap(),
                ],
            },
            NodeInfo {
                name: "n2".into(),
                labels: labels(&[("role", "infra")]),
                ips: vec!["192.168.1.11".parse().unwrap()],
            },
        ],
    }
}

fn policies(texts: &[&str]) -> PolicySet {
    let (set, problems) = netpol::parse_str(&texts.join("\n---\n"), "policies").unwrap();
    assert!(problems.is_empty(), "{problems:?}");
    set
}

fn local(pods: &[&str]) -> Vec<(String, String)> {
    pods.iter()
        .map(|p| {
            let (ns, name) = p.split_once('/').unwrap();
            (ns.to_string(), name.to_string())
        })
        .collect()
}

/// What the rule set `pod`/`direction` decides for a packet from or to `remote`.
fn lookup(
    enf: &Enforcement,
    pod: &str,
    direction: Direction,
    remote: IpAddr,
    protocol: Protocol,
    port: u16,
) -> Decision {
    let number = match protocol {
        Protocol::Tcp => proto::TCP,
        Protocol::Udp => proto::UDP,
        Protocol::Sctp => proto::SCTP,
        Protocol::Other => proto::ICMP,
    };
    enf.lookup(set_of(enf, pod, direction), remote, number, Some(port))
}

/// The rule set of `pod` (`NS/NAME`) for `direction`.
fn set_of(enf: &Enforcement, pod: &str, direction: Direction) -> u32 {
    let (ns, name) = pod.split_once('/').unwrap();
    enf.rule_set_of(ns, name, direction)
        .unwrap_or_else(|| panic!("{pod} was compiled"))
}

/// The same question put to the engine.
fn expected(
    inv: &Inventory,
    set: &PolicySet,
    pod: &str,
    direction: Direction,
    remote: IpAddr,
    protocol: Protocol,
    port: u16,
) -> netpol::DirectionVerdict {
    let (pod, remote) = (pod.parse().unwrap(), netpol::Endpoint::Ip(remote));
    let (src, dst) = match direction {
        Direction::Egress => (pod, remote),
        Direction::Ingress => (remote, pod),
    };
    let conn = Connection {
        src,
        dst,
        protocol,
        port,
        dst_dns_names: vec![],
    };
    explain_direction(inv, set, &conn, direction)
        .unwrap()
        .expect("the local end is a pod")
}

/// The verdict and messages of a decision's slot.
fn slot(enf: &Enforcement, d: Decision) -> (Verdict, Vec<String>) {
    let verdict = &enf.decisions[d.rule.expect("every decision names a slot") as usize];
    let fw = match verdict.verdict {
        Verdict::Allowed => FwVerdict::Allow,
        Verdict::Dropped => FwVerdict::Deny,
    };
    assert_eq!(d.verdict, fw, "{verdict:?}");
    (
        verdict.verdict,
        verdict.events.iter().map(|e| e.message()).collect(),
    )
}

/// Local pod, direction, remote address, protocol, port: verdict and messages.
type Expected<'a> = (
    &'a str,
    Direction,
    &'a str,
    Protocol,
    u16,
    Verdict,
    &'a [&'a str],
);

#[test]
fn network_events_examples() {
    let (inv, set) = (iperf(), policies(&[EXAMPLES]));
    let enf = compile_enforcement(
        &inv,
        &set,
        &local(&["iperf/server", "iperf/client", "iperf/gone"]),
    )
    .unwrap();
    assert_eq!(enf.skipped, local(&["iperf/gone"]));
    let names: Vec<(&str, &str)> = enf
        .pods
        .iter()
        .map(|p| (p.namespace.as_str(), p.name.as_str()))
        .collect();
    assert_eq!(names, [("iperf", "client"), ("iperf", "server")]);
    // Four views, four different rule sets.
    let sets: HashSet<u32> = enf
        .pods
        .iter()
        .flat_map(|p| [p.egress, p.ingress])
        .collect();
    assert_eq!(sets.len(), 4);

    use Direction::*;
    use Protocol::*;
    use Verdict::*;
    let pass =
        "Delegated to network policy by admin network policy allow-egress-iperf, direction Egress";
    let np_egress =
        "Allowed by network policy iperf3-server-access-egress in namespace iperf, direction Egress";
    let np_ingress = "Allowed by network policy iperf3-server-access-ingress in namespace iperf, direction Ingress";
    let isolated_egress =
        "Dropped by network policies isolation in namespace iperf, direction Egress";
    let isolated_ingress =
        "Dropped by network policies isolation in namespace iperf, direction Ingress";
    let ef_allow = "Allowed by egress firewall in namespace iperf";
    let ef_deny = "Dropped by egress firewall in namespace iperf";
    let (server, client) = ("10.128.0.10", "10.128.0.11");
    #[rustfmt::skip]
    let cases: &[Expected] = &[
        // client -> server:5201: the ANP passes, the egress policy allows, the server's ingress
        // isolation drops.
        ("iperf/client", Egress, server, Tcp, 5201, Allowed, &[pass, np_egress]),
        ("iperf/server", Ingress, client, Tcp, 5201, Dropped, &[isolated_ingress]),
        // client -> server:5501: dropped at the client, allowed at the server.
        ("iperf/client", Egress, server, Tcp, 5501, Dropped, &[pass, isolated_egress]),
        ("iperf/server", Ingress, client, Tcp, 5501, Allowed, &[np_ingress]),
        ("iperf/server", Ingress, client, Udp, 5501, Dropped, &[isolated_ingress]),
        ("iperf/server", Ingress, "1.2.3.4", Tcp, 5501, Dropped, &[isolated_ingress]),
        // Leaving the cluster: the egress policy, then the EgressFirewall.
        ("iperf/client", Egress, "8.8.8.8", Tcp, 5201, Allowed, &[np_egress, ef_allow]),
        ("iperf/client", Egress, "8.8.8.255", Tcp, 5201, Allowed, &[np_egress, ef_allow]),
        ("iperf/client", Egress, "8.8.9.0", Tcp, 5201, Dropped, &[np_egress, ef_deny]),
        ("iperf/client", Egress, "1.1.1.1", Tcp, 5201, Dropped, &[np_egress, ef_deny]),
        ("iperf/client", Egress, "8.8.8.8", Tcp, 5200, Dropped, &[isolated_egress]),
        ("iperf/client", Egress, "8.8.8.8", Other, 0, Dropped, &[isolated_egress]),
        // IPv6 leaves through no EgressFirewall rule: allowed without an event.
        ("iperf/client", Egress, "2001:db8::1", Tcp, 5201, Allowed, &[np_egress]),
        // The server's egress is only passed to a tier that does not isolate it.
        ("iperf/server", Egress, client, Tcp, 80, Allowed, &[pass]),
        ("iperf/server", Egress, client, Other, 0, Allowed, &[pass]),
        ("iperf/server", Egress, "8.8.8.8", Udp, 53, Allowed, &[ef_allow]),
        ("iperf/server", Egress, "9.9.9.9", Udp, 53, Dropped, &[ef_deny]),
        ("iperf/server", Egress, "::1", Sctp, 9, Allowed, &[]),
        ("iperf/client", Ingress, server, Tcp, 80, Allowed, &[]),
    ];
    for (pod, direction, remote, protocol, port, verdict, messages) in cases {
        let remote: IpAddr = remote.parse().unwrap();
        let d = lookup(&enf, pod, *direction, remote, *protocol, *port);
        let want = (*verdict, messages.iter().map(|m| m.to_string()).collect());
        assert_eq!(
            slot(&enf, d),
            want,
            "{pod} {direction} {remote} {protocol}/{port}"
        );
        let engine = expected(&inv, &set, pod, *direction, remote, *protocol, *port);
        assert_eq!(enf.decisions[d.rule.unwrap() as usize], engine);
    }

    // The class table: both families' roots, the two pods, the EgressFirewall's prefix.
    let classes: Vec<String> = enf
        .classes
        .iter()
        .map(|c| format!("{}/{}", c.addr, c.prefix_len))
        .collect();
    assert_eq!(
        classes,
        [
            "0.0.0.0/0",
            "8.8.8.0/24",
            "10.128.0.10/32",
            "10.128.0.11/32",
            "::/0"
        ]
    );
    // The server's ingress: everything dropped but the client, the one class with its own
    // entry; every other class gets the default.
    let server_in = &enf.rule_sets[set_of(&enf, "iperf/server", Ingress) as usize];
    let client_class = enf.class_of(client.parse().unwrap()).unwrap();
    assert_eq!(server_in.regions.len(), 1);
    assert_eq!(server_in.regions[0].0, client_class);
    let fragment = |pod: &str, remote: &str| {
        let d = enf.lookup(
            set_of(&enf, pod, Ingress),
            remote.parse().unwrap(),
            proto::TCP,
            None,
        );
        slot(&enf, d)
    };
    // Non-first fragments: the first port that allows, if any.
    assert_eq!(
        fragment("iperf/server", client),
        (Allowed, vec![np_ingress.to_string()])
    );
    assert_eq!(
        fragment("iperf/server", "1.2.3.4"),
        (Dropped, vec![isolated_ingress.to_string()])
    );
    assert_eq!(
        enf.lookup_unparsed(
            set_of(&enf, "iperf/server", Ingress),
            client.parse().unwrap()
        ),
        lookup(
            &enf,
            "iperf/server",
            Ingress,
            client.parse().unwrap(),
            Other,
            0
        )
    );
    check_structure(&enf);
}

#[test]
fn no_policies_compile_to_default_allow() {
    let inv = cluster();
    let enf = compile_enforcement(
        &inv,
        &PolicySet::default(),
        &local(&["shop/web", "shop/db"]),
    )
    .unwrap();
    // Two rule sets (one per direction, shared by both pods), each a default and no entry.
    assert_eq!(enf.rule_sets.len(), 2);
    assert!(enf.rule_sets.iter().all(|s| s.regions.is_empty()));
    let (web, db) = (&enf.pods[1], &enf.pods[0]);
    assert_eq!((web.egress, web.ingress), (db.egress, db.ingress));
    assert_ne!(web.egress, web.ingress);
    // One slot per direction, with no events; no port tables.
    assert_eq!(enf.decisions.len(), 2);
    assert!(enf
        .decisions
        .iter()
        .all(|d| d.verdict == Verdict::Allowed && d.events.is_empty()));
    assert_eq!(enf.regions.len(), 2);
    assert!(enf.regions.iter().all(|r| r.tables.is_empty()));
    check_structure(&enf);
}

#[test]
fn too_many_port_segments_is_an_error() {
    let ports: Vec<String> = (1..=200).map(|p| format!("{{port: {}}}", p * 2)).collect();
    let np = format!(
        "kind: NetworkPolicy\napiVersion: networking.k8s.io/v1\nmetadata: {{name: many, namespace: shop}}\n\
         spec: {{podSelector: {{matchLabels: {{app: db}}}}, ingress: [{{ports: [{}]}}]}}\n",
        ports.join(", ")
    );
    let set = policies(&[&np]);
    let err = compile_enforcement(&cluster(), &set, &local(&["shop/web", "shop/db"])).unwrap_err();
    let EnforceError::TooManySegments {
        namespace,
        name,
        direction,
        protocol,
        segments,
        ..
    } = &err;
    assert_eq!(
        (
            namespace.as_str(),
            name.as_str(),
            *direction,
            *protocol,
            *segments
        ),
        ("shop", "db", Direction::Ingress, Protocol::Tcp, 401)
    );
    assert!(
        err.to_string()
            .starts_with("pod shop/db, direction Ingress: TCP towards "),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains(&format!("more than the {MAX_SEGMENTS}")),
        "{err}"
    );
}

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// Every CIDR the policies name.
fn policy_cidrs(set: &PolicySet) -> Vec<Cidr> {
    let mut out: Vec<String> = vec![];
    for np in &set.network_policies {
        let peers = np
            .spec
            .ingress
            .iter()
            .flat_map(|r| &r.from)
            .chain(np.spec.egress.iter().flat_map(|r| &r.to));
        for block in peers.flat_map(|p| &p.ip_block) {
            out.push(block.cidr.clone());
            out.extend(block.except.iter().cloned());
        }
    }
    for anp in set.admin_network_policies.iter().chain(&set.baseline) {
        for rule in anp.spec.egress.iter() {
            out.extend(
                rule.to
                    .iter()
                    .flat_map(|p| p.networks.iter().flatten().cloned()),
            );
        }
    }
    for ef in &set.egress_firewalls {
        out.extend(
            ef.spec
                .egress
                .iter()
                .flat_map(|r| r.to.cidr_selector.clone()),
        );
    }
    out.iter().map(|c| c.parse().unwrap()).collect()
}

fn to_ip(v6: bool, value: u128) -> IpAddr {
    if v6 {
        IpAddr::V6(value.into())
    } else {
        IpAddr::V4((value as u32).into())
    }
}

/// Addresses on and around the edges of every CIDR (first, last, one outside each, the
/// middle), every inventory address and its neighbours.
fn interesting_addresses(set: &PolicySet, inv: &Inventory) -> Vec<IpAddr> {
    let mut out = Vec::new();
    let mut around = |v6: bool, first: u128, last: u128| {
        let max = if v6 { u128::MAX } else { u128::from(u32::MAX) };
        for a in [
            first.checked_sub(1),
            Some(first),
            first.checked_add(1).filter(|a| *a <= last),
            Some(first + (last - first) / 2),
            last.checked_sub(1).filter(|a| *a >= first),
            Some(last),
            last.checked_add(1).filter(|a| *a <= max),
        ]
        .into_iter()
        .flatten()
        {
            out.push(to_ip(v6, a));
        }
    };
    for c in policy_cidrs(set) {
        let (v6, bits, value) = match c.addr {
            IpAddr::V4(a) => (false, 32, u128::from(u32::from(a))),
            IpAddr::V6(a) => (true, 128, u128::from(a)),
        };
        let host = u128::MAX
            .checked_shr(128 - (bits - u32::from(c.prefix)))
            .unwrap_or(0);
        around(v6, value & !host, value | host);
    }
    let inventory = inv
        .pods
        .iter()
        .flat_map(|p| p.ips.iter().chain(&p.host_ips))
        .chain(inv.nodes.iter().flat_map(|n| &n.ips));
    for ip in inventory {
        match ip {
            IpAddr::V4(a) => around(false, u128::from(u32::from(*a)), u128::from(u32::from(*a))),
            IpAddr::V6(a) => around(true, u128::from(*a), u128::from(*a)),
        }
    }
    out.sort();
    out.dedup();
    out
}

/// Ports on and next to every port the policies and pods name.
fn interesting_ports() -> Vec<u16> {
    let named = [
        0, 1, 53, 443, 1000, 3868, 4789, 4790, 5201, 5432, 5501, 8000, 8080, 8100, 9090, 10250,
        30000, 32767, 65535,
    ];
    let mut out: Vec<u16> = named
        .iter()
        .flat_map(|p: &u16| [p.saturating_sub(1), *p, p.saturating_add(1)])
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Invariants of the compiled form: a sorted class table of unique prefixes with host bits
/// clear, interned decisions, regions and rule sets, sorted entries that differ from their
/// rule set's default, well-formed tables.
fn check_structure(enf: &Enforcement) {
    let c = &enf.classes;
    assert!(c.windows(2).all(|w| w[0] < w[1]));
    let prefixes: HashSet<(IpAddr, u8)> = c.iter().map(|c| (c.addr, c.prefix_len)).collect();
    assert_eq!(prefixes.len(), c.len(), "one class per prefix");
    for entry in c {
        assert!(entry.class < enf.class_count);
        let cidr: Cidr = format!("{}/{}", entry.addr, entry.prefix_len)
            .parse()
            .unwrap();
        assert_eq!(mask(cidr), entry.addr, "host bits clear");
    }
    for root in ["0.0.0.0", "::"] {
        assert!(enf.class_of(root.parse().unwrap()).is_some());
    }
    let sets: HashSet<_> = enf.rule_sets.iter().collect();
    assert_eq!(sets.len(), enf.rule_sets.len(), "rule sets are interned");
    for set in &enf.rule_sets {
        assert!((set.default as usize) < enf.regions.len());
        assert!(set.regions.windows(2).all(|w| w[0].0 < w[1].0));
        for (class, region) in &set.regions {
            assert!(*class < enf.class_count);
            assert!((*region as usize) < enf.regions.len());
            assert_ne!(*region, set.default);
        }
    }
    for pod in &enf.pods {
        assert!((pod.egress as usize) < enf.rule_sets.len());
        assert!((pod.ingress as usize) < enf.rule_sets.len());
    }
    let mut pods = enf.pods.clone();
    pods.sort();
    assert_eq!(pods, enf.pods);
    for (i, a) in enf.decisions.iter().enumerate() {
        assert!(
            !enf.decisions[..i].contains(a),
            "decision {i} is not interned"
        );
    }
    let regions: HashSet<_> = enf.regions.iter().collect();
    assert_eq!(regions.len(), enf.regions.len(), "regions are interned");
    for region in &enf.regions {
        assert_ne!(region.other.verdict, FwVerdict::Pass);
        assert_eq!(region.unparsed, region.other);
        for table in region.tables.values() {
            let s = &table.segments;
            assert!(!s.is_empty() && s.len() <= MAX_SEGMENTS);
            assert_eq!(s[0].start, 0);
            assert!(s
                .windows(2)
                .all(|w| w[0].start < w[1].start && w[0].decision != w[1].decision));
            let first_allow = s
                .iter()
                .map(|s| s.decision)
                .find(|d| d.verdict == FwVerdict::Allow);
            assert_eq!(table.fragment, first_allow.unwrap_or(s[0].decision));
            assert!(s.iter().all(|s| s.decision.verdict != FwVerdict::Pass));
            let slots = s.iter().map(|s| s.decision).chain([table.fragment]);
            assert!(slots
                .into_iter()
                .all(|d| (d.rule.unwrap() as usize) < enf.decisions.len()));
        }
    }
}

/// The network address of `cidr` (host bits cleared).
fn mask(cidr: Cidr) -> IpAddr {
    let keep = |bits: u32| {
        u128::MAX
            .checked_shl(bits - u32::from(cidr.prefix))
            .unwrap_or(0)
    };
    match cidr.addr {
        IpAddr::V4(a) => IpAddr::V4((u32::from(a) & keep(32) as u32).into()),
        IpAddr::V6(a) => IpAddr::V6((u128::from(a) & keep(128)).into()),
    }
}

#[test]
fn rule_sets_agree_with_the_engine() {
    let inv = cluster();
    let set = policies(&[EXAMPLES, SHOP]);
    let locals = [
        "iperf/client",
        "shop/web",
        "shop/web-2",
        "shop/db-2",
        "shop/db",
        "shop/batch",
    ];
    let enf = compile_enforcement(&inv, &set, &local(&locals)).unwrap();
    check_structure(&enf);
    assert!(enf.skipped.is_empty());

    // web and web-2 look alike to the policies: they share their rule sets.
    let sets = |pod: &str| {
        (
            set_of(&enf, pod, Direction::Egress),
            set_of(&enf, pod, Direction::Ingress),
        )
    };
    assert_eq!(sets("shop/web"), sets("shop/web-2"));
    assert_ne!(sets("shop/web"), sets("shop/db"));

    let addresses = interesting_addresses(&set, &inv);
    let ports = interesting_ports();
    let protocols = [
        Protocol::Tcp,
        Protocol::Udp,
        Protocol::Sctp,
        Protocol::Other,
    ];
    let other_numbers = [proto::ICMP, proto::ICMPV6, 0, 47, 255];
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut seen = HashSet::new();
    for i in 0..40_000 {
        let pod = *rng.pick(&locals);
        let direction = *rng.pick(&[Direction::Egress, Direction::Ingress]);
        let remote = match rng.below(4) {
            0 | 1 => *rng.pick(&addresses),
            2 => to_ip(false, u128::from(rng.next() as u32)),
            _ => {
                // Random IPv6, half of them in fd00::/16 where the cluster lives.
                let a = u128::from(rng.next()) << 64 | u128::from(rng.next());
                let a = if rng.below(2) == 0 {
                    a
                } else {
                    0xfd00 << 112 | a >> 16
                };
                to_ip(true, a)
            }
        };
        let protocol = *rng.pick(&protocols);
        let port = match (protocol, rng.below(3)) {
            (Protocol::Other, _) => 0,
            (_, 0) => rng.next() as u16,
            _ => *rng.pick(&ports),
        };
        let want = expected(&inv, &set, pod, direction, remote, protocol, port);
        let ruleset = format!("{pod}/{direction}");
        let set = set_of(&enf, pod, direction);
        let got = match protocol {
            Protocol::Other => {
                let number = *rng.pick(&other_numbers);
                let selector = rng.next() as u16;
                let d = enf.lookup(set, remote, number, Some(selector));
                let unparsed = enf.lookup_unparsed(set, remote);
                assert_eq!(d, unparsed, "{ruleset} {remote} unparsed");
                d
            }
            _ => lookup(&enf, pod, direction, remote, protocol, port),
        };
        assert_ne!(got.verdict, FwVerdict::Pass, "{ruleset} {remote}");
        let rule = got.rule.expect("a slot") as usize;
        assert_eq!(
            enf.decisions[rule], want,
            "case {i}: {ruleset} {remote} {protocol}/{port}"
        );
        slot(&enf, got);
        seen.insert(rule);
    }
    // Then the whole grid of interesting points, which reaches every decision.
    for pod in locals {
        for direction in [Direction::Egress, Direction::Ingress] {
            let ruleset = format!("{pod}/{direction}");
            for remote in &addresses {
                for protocol in protocols {
                    let ports = if protocol == Protocol::Other {
                        &[0][..]
                    } else {
                        &ports[..]
                    };
                    for port in ports {
                        let want = expected(&inv, &set, pod, direction, *remote, protocol, *port);
                        let got = lookup(&enf, pod, direction, *remote, protocol, *port);
                        let rule = got.rule.expect("a slot") as usize;
                        assert_eq!(
                            enf.decisions[rule], want,
                            "{ruleset} {remote} {protocol}/{port}"
                        );
                        seen.insert(rule);
                    }
                }
            }
        }
    }
    assert_eq!(
        seen.len(),
        enf.decisions.len(),
        "every decision is reachable"
    );
}

#[test]
fn every_port_of_some_pairs_agrees() {
    // Exhaustive over ports for a few (pod, direction, remote) pairs where named ports, ranges
    // and the node rules meet.
    let inv = cluster();
    let set = policies(&[EXAMPLES, SHOP]);
    let enf =
        compile_enforcement(&inv, &set, &local(&["shop/web", "shop/db", "iperf/client"])).unwrap();
    let pairs: &[(&str, Direction, &str)] = &[
        ("shop/web", Direction::Ingress, "10.129.0.30"),
        ("shop/web", Direction::Ingress, "fd00:10:128::11"),
        ("shop/web", Direction::Ingress, "10.1.2.3"),
        ("shop/web", Direction::Egress, "10.129.0.30"),
        ("shop/web", Direction::Egress, "192.168.1.12"),
        ("shop/web", Direction::Egress, "203.0.113.200"),
        ("shop/db", Direction::Ingress, "10.129.0.21"),
        ("iperf/client", Direction::Egress, "192.168.1.12"),
        ("iperf/client", Direction::Egress, "10.129.0.20"),
    ];
    for (pod, direction, remote) in pairs {
        let remote: IpAddr = remote.parse().unwrap();
        for protocol in [Protocol::Tcp, Protocol::Udp, Protocol::Sctp] {
            // Every port, stepping over long runs the engine answers alike.
            for port in (0..=u16::MAX)
                .step_by(7)
                .chain([53, 3868, 5432, 8080, 9090, 10250])
            {
                let want = expected(&inv, &set, pod, *direction, remote, protocol, port);
                let got = lookup(&enf, pod, *direction, remote, protocol, port);
                assert_eq!(
                    enf.decisions[got.rule.unwrap() as usize],
                    want,
                    "{pod} {direction} {remote} {protocol}/{port}"
                );
            }
        }
    }
}

/// A synthetic cluster: `namespaces` namespaces (team, env labels) of Deployments of 4 pods
/// (app, tier, pod-template-hash; named ports), every third namespace dual-stack, 6 nodes; per
/// namespace a default deny, allow rules by app with ports, ranges and named ports, ipBlocks
/// with except, egress to the internet and to other teams; two ANPs, a BANP, EgressFirewalls.
fn synthetic(namespaces: usize, per_namespace: usize) -> (Inventory, PolicySet, Vec<String>) {
    const APPS: [&str; 6] = ["web", "api", "db", "cache", "queue", "auth"];
    let nodes: Vec<NodeInfo> = (0..6)
        .map(|n| NodeInfo {
            name: format!("node-{n}"),
            labels: labels(&[("role", if n < 4 { "worker" } else { "infra" })]),
            ips: vec![
                format!("10.0.0.{}", 10 + n).parse().unwrap(),
                format!("fd01::{:x}", 10 + n).parse().unwrap(),
            ],
        })
        .collect();
    let mut pods = Vec::new();
    let mut locals = Vec::new();
    let mut text = String::new();
    for n in 0..namespaces {
        let ns = format!("ns-{n}");
        for i in 0..per_namespace {
            let (d, replica) = (i / 4, i % 4);
            let app = APPS[(n + d) % APPS.len()];
            let tier = ["frontend", "backend", "db"][d % 3];
            let k = n * per_namespace + i;
            let mut ips = vec![format!("10.128.{}.{}", k / 250, 2 + k % 250)
                .parse()
                .unwrap()];
            if n % 3 == 0 {
                ips.push(format!("fd00::{:x}", 2 + k).parse().unwrap());
            }
            let node = k % nodes.len();
            let hash = format!("h{n}x{d}");
            pods.push(PodInfo {
                namespace: ns.clone(),
                name: format!("{app}-{hash}-{replica}"),
                labels: labels(&[("app", app), ("tier", tier), ("pod-template-hash", &hash)]),
                ips,
                named_ports: vec![
                    port(
                        "http",
                        3000 + 10 * ((n + d) % APPS.len()) as u16,
                        Protocol::Tcp,
                    ),
                    port("metrics", 9090, Protocol::Tcp),
                ],
                host_ips: nodes[node].ips.clone(),
            });
            if node == 0 {
                locals.push(format!("{ns}/{app}-{hash}-{replica}"));
            }
        }
        let (app, peer) = (APPS[n % APPS.len()], APPS[(n + 1) % APPS.len()]);
        let team = format!("team-{}", (n + 1) % 3);
        text.push_str(&format!(
            r#"
---
kind: NetworkPolicy
apiVersion: networking.k8s.io/v1
metadata: {{name: default-deny, namespace: {ns}}}
spec: {{podSelector: {{}}, policyTypes: [Ingress]}}
---
kind: NetworkPolicy
apiVersion: networking.k8s.io/v1
metadata: {{name: allow-{peer}, namespace: {ns}}}
spec:
  podSelector: {{matchLabels: {{app: {app}}}}}
  ingress:
  - from: [{{podSelector: {{matchLabels: {{app: {peer}}}}}}}]
    ports: [{{port: 80}}, {{port: 8080, endPort: 8090}}, {{port: http}}]
  - from:
    - ipBlock: {{cidr: 10.0.0.0/8, except: [10.128.0.0/14, 10.0.0.0/24]}}
    - ipBlock: {{cidr: 192.168.{n}.0/24}}
    ports: [{{port: 443}}, {{port: 5353, protocol: UDP}}]
  - from:
    - namespaceSelector: {{matchLabels: {{team: {team}}}}}
      podSelector: {{matchLabels: {{tier: frontend}}}}
    ports: [{{port: metrics}}]
---
kind: NetworkPolicy
apiVersion: networking.k8s.io/v1
metadata: {{name: egress-{app}, namespace: {ns}}}
spec:
  podSelector: {{matchLabels: {{tier: backend}}}}
  policyTypes: [Egress]
  egress:
  - to: [{{ipBlock: {{cidr: 0.0.0.0/0, except: [10.0.0.0/8]}}}}]
    ports: [{{port: 443}}]
  - to: [{{namespaceSelector: {{matchLabels: {{team: team-0}}}}, podSelector: {{matchLabels: {{app: api}}}}}}]
    ports: [{{port: http}}, {{port: 53, protocol: UDP}}]
  - to: [{{podSelector: {{}}}}]
"#
        ));
        if n % 2 == 0 {
            text.push_str(&format!(
                r#"
---
apiVersion: k8s.ovn.org/v1
kind: EgressFirewall
metadata: {{name: default, namespace: {ns}}}
spec:
  egress:
  - {{type: Allow, to: {{cidrSelector: 203.0.113.0/24}}, ports: [{{protocol: TCP, port: 443}}]}}
  - {{type: Allow, to: {{nodeSelector: {{matchLabels: {{role: infra}}}}}}}}
  - {{type: Deny, to: {{cidrSelector: 0.0.0.0/0}}}}
"#
            ));
        }
    }
    text.push_str(
        r#"
---
apiVersion: policy.networking.k8s.io/v1alpha1
kind: AdminNetworkPolicy
metadata: {name: guardrails}
spec:
  priority: 5
  subject: {namespaces: {}}
  ingress:
  - {action: Allow, from: [{namespaces: {matchLabels: {team: team-0}}}], ports: [{namedPort: metrics}]}
  - {action: Pass, from: [{namespaces: {}}]}
  egress:
  - {action: Deny, to: [{networks: [169.254.169.254/32, "fd00:ec2::254/128"]}]}
  - {action: Allow, to: [{nodes: {matchLabels: {role: worker}}}], ports: [{portNumber: {protocol: TCP, port: 10250}}]}
---
apiVersion: policy.networking.k8s.io/v1alpha1
kind: AdminNetworkPolicy
metadata: {name: isolate-dev}
spec:
  priority: 10
  subject: {pods: {namespaceSelector: {matchLabels: {env: prod}}, podSelector: {matchLabels: {tier: db}}}}
  ingress:
  - {action: Deny, from: [{namespaces: {matchLabels: {env: dev}}}]}
---
apiVersion: policy.networking.k8s.io/v1alpha1
kind: BaselineAdminNetworkPolicy
metadata: {name: default}
spec:
  subject: {namespaces: {}}
  egress:
  - {action: Deny, to: [{networks: [192.0.2.0/24]}]}
"#,
    );
    let namespaces = (0..namespaces)
        .map(|n| NamespaceInfo {
            name: format!("ns-{n}"),
            labels: labels(&[
                ("team", &format!("team-{}", n % 3)),
                ("env", if n % 2 == 0 { "prod" } else { "dev" }),
            ]),
        })
        .collect();
    let inv = Inventory {
        pods,
        namespaces,
        nodes,
    };
    (inv, policies(&[&text]), locals)
}

#[test]
fn a_larger_synthetic_cluster_agrees_with_the_engine() {
    let (inv, set, locals) = synthetic(12, 40);
    let locals: Vec<&str> = locals.iter().map(String::as_str).collect();
    assert!(locals.len() >= 60, "{} local pods", locals.len());
    let enf = compile_enforcement(&inv, &set, &local(&locals)).unwrap();
    check_structure(&enf);
    assert_eq!(enf.pods.len(), locals.len());
    // The class trie holds about one entry per address and prefix, not per rule set; pods that
    // look alike share rule sets, and rule sets hold only the classes off their default.
    let addresses: usize = inv.pods.iter().map(|p| p.ips.len()).sum::<usize>() + 12;
    assert!(enf.classes.len() <= addresses + 64, "{}", enf.classes.len());
    assert!(enf.rule_sets.len() < 2 * locals.len());
    // No selector reads pod-template-hash: pods of one namespace with the same app and tier
    // (two Deployments) share a class.
    let label_sets: HashSet<(&str, &BTreeMap<String, String>)> = inv
        .pods
        .iter()
        .map(|p| (p.namespace.as_str(), &p.labels))
        .collect();
    let pod_classes: HashSet<u32> = inv
        .pods
        .iter()
        .flat_map(|p| &p.ips)
        .map(|ip| enf.class_of(*ip).unwrap())
        .collect();
    assert!(
        pod_classes.len() < label_sets.len(),
        "{} pod classes, {} label sets",
        pod_classes.len(),
        label_sets.len()
    );
    assert!(
        enf.region_entries() < enf.rule_sets.len() * enf.class_count as usize / 2,
        "{} entries",
        enf.region_entries()
    );

    let addresses = interesting_addresses(&set, &inv);
    let ports = interesting_ports();
    let mut ports = ports.clone();
    ports.extend([80, 81, 3000, 3010, 3020, 3030, 3040, 3050, 8090, 8091, 5353]);
    let protocols = [Protocol::Tcp, Protocol::Udp, Protocol::Other];
    let mut rng = Rng(0xD1B5_4A32_D192_ED03);
    let mut seen = HashSet::new();
    for i in 0..15_000 {
        let pod = *rng.pick(&locals);
        let direction = *rng.pick(&[Direction::Egress, Direction::Ingress]);
        let remote = match rng.below(5) {
            0 => to_ip(false, u128::from(rng.next() as u32)),
            _ => *rng.pick(&addresses),
        };
        let protocol = *rng.pick(&protocols);
        let port = if protocol == Protocol::Other {
            0
        } else {
            *rng.pick(&ports)
        };
        let want = expected(&inv, &set, pod, direction, remote, protocol, port);
        let got = lookup(&enf, pod, direction, remote, protocol, port);
        let rule = got.rule.expect("a slot") as usize;
        assert_eq!(
            enf.decisions[rule], want,
            "case {i}: {pod} {direction} {remote} {protocol}/{port}"
        );
        slot(&enf, got);
        seen.insert(rule);
    }
    // Allowed and dropped, by every tier.
    assert!(seen.len() >= 10, "{} decisions reached", seen.len());
}
