//! The OpenShift example file loads unchanged and compiles to what its rules say.

mod common;

use std::collections::BTreeMap;

use netwarden_policy::firewall::compiled::proto;
use netwarden_policy::firewall::{
    compile, load_yaml, select, validate, NodeIdentity, ProtectedService, Verdict,
};

const EXAMPLE: &str = include_str!("fixtures/ingress-node-firewall.yaml");

fn node(labels: &[(&str, &str)]) -> NodeIdentity {
    NodeIdentity {
        name: "worker-0".into(),
        labels: labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<BTreeMap<_, _>>(),
    }
}

#[test]
fn example_loads_as_is() {
    let loaded = load_yaml(EXAMPLE, "example.yaml").expect("the example loads");
    assert_eq!(loaded.objects.len(), 1);
    assert!(loaded.warnings.is_empty());
    assert_eq!(
        loaded.notes,
        ["example.yaml: document 0: IngressNodeFirewallConfig ingressnodefirewallconfig ignored: \
          it tells the OpenShift operator where to run its daemons, which netwarden does not need"]
    );
    let object = &loaded.objects[0];
    assert_eq!(object.name, "ingressnodefirewall-demo-1");
    assert_eq!(object.interfaces, ["eth0"]);
    assert_eq!(object.ingress.len(), 4);
    let cidrs: Vec<String> = object
        .ingress
        .iter()
        .flat_map(|e| e.source_cidrs.iter().map(ToString::to_string))
        .collect();
    assert_eq!(
        cidrs,
        [
            "1.1.1.0/24",
            "100:1::/64",
            "3.3.3.0/24",
            "10:10::/64",
            "0.0.0.0/0",
            "::/0"
        ]
    );
    let rules: usize = object.ingress.iter().map(|e| e.rules.len()).sum();
    assert_eq!(rules, 5);
}

#[test]
fn example_warns_about_host_bits() {
    let loaded = load_yaml(EXAMPLE, "example.yaml").expect("the example loads");
    let selected: Vec<_> = loaded.objects.iter().collect();
    let problems = validate(&selected, &ProtectedService::defaults());
    assert_eq!(
        common::lines(&problems),
        [
            "example.yaml: IngressNodeFirewall ingressnodefirewall-demo-1: spec.ingress[0]: \
             sourceCIDRs[0] \"1.1.1.1/24\": host bits are set: this means 1.1.1.0/24",
            "example.yaml: IngressNodeFirewall ingressnodefirewall-demo-1: spec.ingress[0]: \
             sourceCIDRs[1] \"100:1::1/64\": host bits are set: this means 100:1::/64",
            "example.yaml: IngressNodeFirewall ingressnodefirewall-demo-1: spec.ingress[1]: \
             sourceCIDRs[0] \"3.3.3.3/24\": host bits are set: this means 3.3.3.0/24",
            "example.yaml: IngressNodeFirewall ingressnodefirewall-demo-1: spec.ingress[2]: \
             sourceCIDRs[0] \"10:10::1/64\": host bits are set: this means 10:10::/64",
        ]
    );
}

#[test]
fn example_applies_only_to_labelled_nodes() {
    let loaded = load_yaml(EXAMPLE, "example.yaml").expect("the example loads");
    assert!(select(&loaded.objects, &node(&[])).is_empty());
    assert!(select(
        &loaded.objects,
        &node(&[("do-node-ingress-firewall", "false")])
    )
    .is_empty());
    assert_eq!(
        select(
            &loaded.objects,
            &node(&[("do-node-ingress-firewall", "true")])
        )
        .len(),
        1
    );
}

/// Interface, source, protocol, selector; the verdict and the deciding rule's CIDR and order.
type Case = (
    &'static str,
    &'static str,
    u8,
    Option<u16>,
    Verdict,
    Option<(&'static str, u32)>,
);

#[test]
fn example_compiles_to_its_rules() {
    let loaded = load_yaml(EXAMPLE, "example.yaml").expect("the example loads");
    let selected = select(
        &loaded.objects,
        &node(&[("do-node-ingress-firewall", "true")]),
    );
    let fw = compile(&selected, &ProtectedService::defaults()).expect("compiles");
    // 2 rules x 2 CIDRs, 1, 1, 1 rule x 2 CIDRs.
    assert_eq!(fw.rules.len(), 8);
    assert_eq!(fw.prefixes.len(), 6);
    assert_eq!(fw.interfaces, ["eth0"]);

    let cases: &[Case] = &[
        // Equal order 10 on 1.1.1.0/24 and 0.0.0.0/0: the /24's TCP 100-200 rule first.
        (
            "eth0",
            "1.1.1.77",
            proto::TCP,
            Some(150),
            Verdict::Allow,
            Some(("1.1.1.0/24", 10)),
        ),
        (
            "eth0",
            "1.1.1.77",
            proto::TCP,
            Some(250),
            Verdict::Allow,
            Some(("0.0.0.0/0", 10)),
        ),
        (
            "eth0",
            "1.1.1.77",
            proto::UDP,
            Some(8000),
            Verdict::Allow,
            Some(("1.1.1.0/24", 20)),
        ),
        (
            "eth0",
            "1.1.1.77",
            proto::UDP,
            Some(8001),
            Verdict::Pass,
            None,
        ),
        (
            "eth0",
            "3.3.3.9",
            proto::ICMP,
            Some(3 << 8 | 1),
            Verdict::Allow,
            Some(("3.3.3.0/24", 10)),
        ),
        (
            "eth0",
            "3.3.3.9",
            proto::ICMP,
            Some(3 << 8 | 2),
            Verdict::Pass,
            None,
        ),
        (
            "eth0",
            "10:10::5",
            proto::ICMPV6,
            Some(128 << 8),
            Verdict::Deny,
            Some(("10:10::/64", 10)),
        ),
        (
            "eth0",
            "10:10::5",
            proto::ICMPV6,
            Some(129 << 8),
            Verdict::Pass,
            None,
        ),
        (
            "eth0",
            "10:10::5",
            proto::TCP,
            Some(22),
            Verdict::Allow,
            Some(("::/0", 10)),
        ),
        (
            "eth0",
            "100:1::9",
            proto::TCP,
            Some(100),
            Verdict::Allow,
            Some(("100:1::/64", 10)),
        ),
        ("eth0", "8.8.8.8", proto::UDP, Some(53), Verdict::Pass, None),
        (
            "eth1",
            "1.1.1.77",
            proto::TCP,
            Some(150),
            Verdict::Pass,
            None,
        ),
    ];
    for &(interface, src, number, selector, verdict, rule) in cases {
        let d = fw.lookup(interface, src.parse().expect("ip"), number, selector);
        let got = d
            .rule
            .map(|i| &fw.rules[i as usize])
            .map(|r| (r.cidr.as_str(), r.order));
        assert_eq!(
            (d.verdict, got),
            (verdict, rule),
            "{interface} {src} {number} {selector:?}"
        );
    }
}
