//! What compiled rule sets decide, and the problems only a set of objects can have.

mod common;

use common::{compile_errors, compiled, doc, docs, objects};
use netwarden_policy::firewall::compiled::{proto, MAX_SEGMENTS};
use netwarden_policy::firewall::{
    compile, validate, CompiledFirewall, IngressNodeFirewall, ProtectedService, Verdict,
};

/// The verdict and the rule (`object|interface|cidr|order`) for a packet.
fn decide(
    fw: &CompiledFirewall,
    interface: &str,
    src: &str,
    number: u8,
    selector: Option<u16>,
) -> (Verdict, Option<String>) {
    let d = fw.lookup(interface, src.parse().expect("ip"), number, selector);
    (d.verdict, d.rule.map(|i| fw.rules[i as usize].key()))
}

fn hit(verdict: Verdict, key: &str) -> (Verdict, Option<String>) {
    (verdict, Some(key.to_string()))
}

const PASS: (Verdict, Option<String>) = (Verdict::Pass, None);

#[test]
fn narrower_cidr_with_lower_order_wins_inside_it() {
    let fw = compiled(&doc(
        "fw",
        "interfaces: [eth0]
ingress:
- sourceCIDRs: [10.0.0.0/8]
  rules: [{order: 20, action: Deny}]
- sourceCIDRs: [10.1.2.0/24]
  rules: [{order: 10, action: Allow}]",
    ));
    let cases = [
        ("10.1.2.3", hit(Verdict::Allow, "fw|eth0|10.1.2.0/24|10")),
        ("10.1.3.3", hit(Verdict::Deny, "fw|eth0|10.0.0.0/8|20")),
        ("11.0.0.1", PASS),
    ];
    for (src, want) in cases {
        assert_eq!(
            decide(&fw, "eth0", src, proto::UDP, Some(53)),
            want,
            "{src}"
        );
    }
}

#[test]
fn wider_cidr_with_lower_order_wins_everywhere() {
    let fw = compiled(&doc(
        "fw",
        "interfaces: [eth0]
ingress:
- sourceCIDRs: [10.0.0.0/8]
  rules: [{order: 5, action: Deny}]
- sourceCIDRs: [10.1.2.0/24]
  rules: [{order: 10, action: Allow}]",
    ));
    assert_eq!(
        decide(&fw, "eth0", "10.1.2.3", proto::TCP, Some(80)),
        hit(Verdict::Deny, "fw|eth0|10.0.0.0/8|5")
    );
}

#[test]
fn equal_order_tries_the_longer_prefix_first() {
    for (wide, narrow) in [("Deny", "Allow"), ("Allow", "Deny")] {
        let fw = compiled(&doc(
            "fw",
            &format!(
                "interfaces: [eth0]
ingress:
- sourceCIDRs: ['2001:db8::/32']
  rules: [{{order: 10, action: {wide}}}]
- sourceCIDRs: ['2001:db8:1::/48']
  rules: [{{order: 10, action: {narrow}}}]"
            ),
        ));
        let narrow_verdict = if narrow == "Allow" {
            Verdict::Allow
        } else {
            Verdict::Deny
        };
        assert_eq!(
            decide(&fw, "eth0", "2001:db8:1::7", proto::TCP, Some(443)),
            hit(narrow_verdict, "fw|eth0|2001:db8:1::/48|10")
        );
        assert_eq!(
            decide(&fw, "eth0", "2001:db8:2::7", proto::TCP, Some(443)).1,
            Some("fw|eth0|2001:db8::/32|10".to_string())
        );
    }
}

#[test]
fn port_ranges_are_inclusive_at_both_ends() {
    let fw = compiled(&doc(
        "fw",
        "interfaces: [eth0]
ingress:
- sourceCIDRs: [0.0.0.0/0]
  rules:
  - {order: 1, protocolConfig: {protocol: TCP, tcp: {ports: '100-200'}}, action: Deny}
  - {order: 2, protocolConfig: {protocol: UDP, udp: {ports: 65535}}, action: Deny}
  - {order: 3, protocolConfig: {protocol: SCTP, sctp: {ports: '1-1'}}, action: Deny}",
    ));
    let deny_tcp = hit(Verdict::Deny, "fw|eth0|0.0.0.0/0|1");
    let cases = [
        (proto::TCP, 99, PASS),
        (proto::TCP, 100, deny_tcp.clone()),
        (proto::TCP, 200, deny_tcp),
        (proto::TCP, 201, PASS),
        (proto::UDP, 65534, PASS),
        (proto::UDP, 65535, hit(Verdict::Deny, "fw|eth0|0.0.0.0/0|2")),
        (proto::SCTP, 0, PASS),
        (proto::SCTP, 1, hit(Verdict::Deny, "fw|eth0|0.0.0.0/0|3")),
        (proto::SCTP, 2, PASS),
    ];
    for (number, port, want) in cases {
        assert_eq!(
            decide(&fw, "eth0", "1.2.3.4", number, Some(port)),
            want,
            "{number} {port}"
        );
    }
}

#[test]
fn protocol_less_rule_matches_every_protocol() {
    let fw = compiled(&doc(
        "fw",
        "interfaces: [eth0]
ingress:
- sourceCIDRs: [192.168.0.0/16, 'fd00::/8']
  rules:
  - {order: 10, protocolConfig: {protocol: TCP, tcp: {ports: 443}}, action: Allow}
  - {order: 20, action: Deny}",
    ));
    let allow = hit(Verdict::Allow, "fw|eth0|192.168.0.0/16|10");
    let deny = hit(Verdict::Deny, "fw|eth0|192.168.0.0/16|20");
    let cases = [
        (proto::TCP, Some(443), allow),
        (proto::TCP, Some(444), deny.clone()),
        (proto::UDP, Some(443), deny.clone()),
        (proto::ICMP, Some(8 << 8), deny.clone()),
        (47, None, deny.clone()),
        (47, Some(0), deny),
    ];
    for (number, selector, want) in cases {
        assert_eq!(decide(&fw, "eth0", "192.168.1.1", number, selector), want);
    }
    assert_eq!(
        decide(&fw, "eth0", "fd00::1", proto::ICMPV6, Some(128 << 8)),
        hit(Verdict::Deny, "fw|eth0|fd00::/8|20")
    );
}

#[test]
fn icmp_by_type_or_type_and_code() {
    let fw = compiled(&doc(
        "fw",
        "interfaces: [eth0]
ingress:
- sourceCIDRs: [0.0.0.0/0]
  rules:
  - {order: 1, protocolConfig: {protocol: ICMP, icmp: {icmpType: 3, icmpCode: 4}}, action: Allow}
  - {order: 2, protocolConfig: {protocol: ICMP, icmp: {icmpType: 3}}, action: Deny}
  - {order: 3, protocolConfig: {protocol: ICMP, icmp: {icmpType: 8, icmpCode: 0}}, action: Allow}
- sourceCIDRs: ['::/0']
  rules:
  - {order: 1, protocolConfig: {protocol: ICMPv6, icmpv6: {icmpType: 128}}, action: Deny}",
    ));
    let cases = [
        (3 << 8 | 4, hit(Verdict::Allow, "fw|eth0|0.0.0.0/0|1")),
        (3 << 8, hit(Verdict::Deny, "fw|eth0|0.0.0.0/0|2")),
        (3 << 8 | 255, hit(Verdict::Deny, "fw|eth0|0.0.0.0/0|2")),
        (8 << 8, hit(Verdict::Allow, "fw|eth0|0.0.0.0/0|3")),
        (8 << 8 | 1, PASS),
        (4 << 8, PASS),
        (2 << 8 | 255, PASS),
    ];
    for (selector, want) in cases {
        assert_eq!(
            decide(&fw, "eth0", "5.6.7.8", proto::ICMP, Some(selector)),
            want,
            "{selector:#x}"
        );
    }
    assert_eq!(
        decide(&fw, "eth0", "2001::1", proto::ICMPV6, Some(128 << 8 | 9)),
        hit(Verdict::Deny, "fw|eth0|::/0|1")
    );
    // ICMP rules are IPv4's: an IPv6 region has no ICMP table.
    assert_eq!(
        decide(&fw, "eth0", "2001::1", proto::ICMP, Some(3 << 8)),
        PASS
    );
}

#[test]
fn fragments_use_the_first_rule_without_ports() {
    let fw = compiled(&doc(
        "fw",
        "interfaces: [eth0]
ingress:
- sourceCIDRs: [10.0.0.0/8]
  rules:
  - {order: 1, protocolConfig: {protocol: TCP, tcp: {ports: 80}}, action: Allow}
  - {order: 2, protocolConfig: {protocol: TCP}, action: Deny}
  - {order: 3, protocolConfig: {protocol: UDP, udp: {ports: 53}}, action: Deny}
  - {order: 4, protocolConfig: {protocol: ICMP, icmp: {icmpType: 8}}, action: Deny}",
    ));
    let cases = [
        (proto::TCP, hit(Verdict::Deny, "fw|eth0|10.0.0.0/8|2")),
        (proto::UDP, PASS),
        (proto::ICMP, PASS),
        (proto::SCTP, PASS),
    ];
    for (number, want) in cases {
        assert_eq!(
            decide(&fw, "eth0", "10.0.0.1", number, None),
            want,
            "{number}"
        );
    }
    let src = "10.0.0.1".parse().expect("ip");
    // No protocol-less rule: unparsed packets get the region's first Deny.
    let unparsed = fw.lookup_unparsed("eth0", src);
    assert_eq!(unparsed.verdict, Verdict::Deny);
    assert_eq!(fw.rules[unparsed.rule.expect("a rule") as usize].order, 2);
}

#[test]
fn protected_services_stay_open_with_a_warning() {
    let text = doc(
        "fw",
        "interfaces: [eth0]
ingress:
- sourceCIDRs: [0.0.0.0/0]
  rules:
  - {order: 1, protocolConfig: {protocol: TCP, tcp: {ports: '1-1000'}}, action: Deny}
  - {order: 2, protocolConfig: {protocol: UDP, udp: {ports: 68}}, action: Deny}
  - {order: 3, protocolConfig: {protocol: UDP, udp: {ports: 53}}, action: Deny}
  - {order: 4, action: Deny}",
    );
    let fw = compiled(&text);
    let cases = [
        (proto::TCP, 21, hit(Verdict::Deny, "fw|eth0|0.0.0.0/0|1")),
        (
            proto::TCP,
            22,
            hit(Verdict::FailSafe, "fw|eth0|0.0.0.0/0|1"),
        ),
        (proto::TCP, 23, hit(Verdict::Deny, "fw|eth0|0.0.0.0/0|1")),
        (
            proto::UDP,
            68,
            hit(Verdict::FailSafe, "fw|eth0|0.0.0.0/0|2"),
        ),
        (proto::UDP, 53, hit(Verdict::Deny, "fw|eth0|0.0.0.0/0|3")),
        // The protocol-less Deny: still fail-safe on protected ports.
        (
            proto::TCP,
            6443,
            hit(Verdict::FailSafe, "fw|eth0|0.0.0.0/0|4"),
        ),
        (
            proto::UDP,
            547,
            hit(Verdict::FailSafe, "fw|eth0|0.0.0.0/0|4"),
        ),
        (proto::TCP, 6444, hit(Verdict::Deny, "fw|eth0|0.0.0.0/0|4")),
    ];
    for (number, port, want) in cases {
        assert_eq!(
            decide(&fw, "eth0", "1.1.1.1", number, Some(port)),
            want,
            "{number} {port}"
        );
    }
    let objects = objects(&text);
    let selected: Vec<&IngressNodeFirewall> = objects.iter().collect();
    assert_eq!(
        common::lines(&validate(&selected, &ProtectedService::defaults())),
        [
            "rules.yaml: IngressNodeFirewall fw: spec.ingress[0].rules[0] (order 1): Deny would \
             drop TCP 22 (protected service): those ports stay open",
            "rules.yaml: IngressNodeFirewall fw: spec.ingress[0].rules[1] (order 2): Deny would \
             drop UDP 67-68 (protected service): those ports stay open",
            "rules.yaml: IngressNodeFirewall fw: spec.ingress[0].rules[3] (order 4): Deny would \
             drop TCP 22, TCP 6443, TCP 2379-2380, TCP 10250, TCP 10257, TCP 10259, UDP 67-68, \
             UDP 546-547 (protected services): those ports stay open",
        ]
    );
    // With nothing protected, a Deny is a Deny.
    let plain = compile(&selected, &[]).expect("compiles");
    assert_eq!(
        decide(&plain, "eth0", "1.1.1.1", proto::TCP, Some(22)),
        hit(Verdict::Deny, "fw|eth0|0.0.0.0/0|1")
    );
    // A custom list.
    let custom = ProtectedService::parse_list("tcp:23").expect("valid");
    let fw = compile(&selected, &custom).expect("compiles");
    assert_eq!(
        decide(&fw, "eth0", "1.1.1.1", proto::TCP, Some(22)).0,
        Verdict::Deny
    );
    assert_eq!(
        decide(&fw, "eth0", "1.1.1.1", proto::TCP, Some(23)).0,
        Verdict::FailSafe
    );
}

#[test]
fn objects_merge_on_shared_interfaces() {
    let text = docs(&[
        doc(
            "a",
            "interfaces: [eth0, eth1]
ingress:
- sourceCIDRs: [10.0.0.0/8]
  rules: [{order: 20, protocolConfig: {protocol: TCP}, action: Deny}]",
        ),
        doc(
            "b",
            "interfaces: [eth0]
ingress:
- sourceCIDRs: [10.1.0.0/16]
  rules: [{order: 10, protocolConfig: {protocol: TCP, tcp: {ports: 443}}, action: Allow}]",
        ),
    ]);
    let fw = compiled(&text);
    assert_eq!(fw.interfaces, ["eth0", "eth1"]);
    let cases = [
        (
            "eth0",
            "10.1.0.1",
            443,
            hit(Verdict::Allow, "b|eth0|10.1.0.0/16|10"),
        ),
        (
            "eth0",
            "10.1.0.1",
            80,
            hit(Verdict::Deny, "a|eth0|10.0.0.0/8|20"),
        ),
        (
            "eth1",
            "10.1.0.1",
            443,
            hit(Verdict::Deny, "a|eth1|10.0.0.0/8|20"),
        ),
        ("eth2", "10.1.0.1", 443, PASS),
    ];
    for (interface, src, port, want) in cases {
        assert_eq!(decide(&fw, interface, src, proto::TCP, Some(port)), want);
    }
}

#[test]
fn duplicate_orders_across_objects_are_errors() {
    let text = docs(&[
        doc(
            "fw-1",
            "interfaces: [eth0, eth1]
ingress:
- sourceCIDRs: [10.0.0.0/8]
  rules: [{order: 10, action: Allow}]",
        ),
        doc(
            "fw-2",
            "interfaces: [eth1]
ingress:
- sourceCIDRs: [10.1.1.1/8, 11.0.0.0/8]
  rules: [{order: 20, action: Allow}, {order: 10, action: Deny}]",
        ),
    ]);
    assert_eq!(
        compile_errors(&text),
        ["rules.yaml: IngressNodeFirewall fw-2: spec.ingress[0].rules[1] (order 10): order 10 is \
          also used by IngressNodeFirewall fw-1 at spec.ingress[0].rules[0] (rules.yaml) on eth1 \
          for 10.0.0.0/8; orders must be unique per interface and source CIDR"]
    );
}

#[test]
fn duplicate_orders_within_an_object_are_errors() {
    let text = doc(
        "fw-1",
        "interfaces: [eth0]
ingress:
- sourceCIDRs: [10.0.0.0/8, 'fd00::/8']
  rules: [{order: 10, action: Allow}]
- sourceCIDRs: [10.0.0.0/8, 'fd00::/8']
  rules: [{order: 10, action: Deny}]",
    );
    assert_eq!(
        compile_errors(&text),
        ["rules.yaml: IngressNodeFirewall fw-1: spec.ingress[1].rules[0] (order 10): order 10 is \
          also used by IngressNodeFirewall fw-1 at spec.ingress[0].rules[0] (rules.yaml) on eth0 \
          for 10.0.0.0/8, eth0 for fd00::/8; orders must be unique per interface and source CIDR"]
    );
}

#[test]
fn duplicate_names_are_errors() {
    let object = doc(
        "fw-1",
        "interfaces: [eth0]
ingress:
- sourceCIDRs: [10.0.0.0/8]
  rules: [{order: 10, action: Allow}]",
    );
    let text = docs(&[object.clone(), object.replace("eth0", "eth1")]);
    assert_eq!(
        compile_errors(&text),
        [
            "rules.yaml: IngressNodeFirewall fw-1: metadata: name \"fw-1\": another \
          IngressNodeFirewall (rules.yaml) has this name too; names must be unique"
        ]
    );
}

#[test]
fn too_many_segments_is_an_error() {
    // Every other port alternates Allow and Deny: 2 segments per rule plus the gaps.
    let rules: String = (1..=130u32)
        .map(|i| {
            let action = if i % 2 == 0 { "Allow" } else { "Deny" };
            format!(
                "  - {{order: {i}, protocolConfig: {{protocol: UDP, udp: {{ports: {}}}}}, action: {action}}}\n",
                i * 2 + 1000
            )
        })
        .collect();
    let text = doc(
        "big",
        &format!("interfaces: [eth0]\ningress:\n- sourceCIDRs: [10.0.0.0/8]\n  rules:\n{rules}"),
    );
    assert_eq!(
        compile_errors(&text),
        [format!(
            "rules.yaml: IngressNodeFirewall big: interface eth0, source 10.0.0.0/8, UDP: the \
             rules need 261 segments, more than the {MAX_SEGMENTS} a kernel table holds (merge \
             neighbouring ports into ranges, or spread the rules over narrower CIDRs)"
        )]
    );
    // 127 such rules fit: 2 * 127 + 1 = 255 segments.
    let fits: String = rules.lines().take(127).map(|l| format!("{l}\n")).collect();
    let text = doc(
        "big",
        &format!("interfaces: [eth0]\ningress:\n- sourceCIDRs: [10.0.0.0/8]\n  rules:\n{fits}"),
    );
    let fw = compiled(&text);
    assert_eq!(fw.regions[0].tables[&proto::UDP].segments.len(), 255);
}

#[test]
fn output_does_not_depend_on_object_order() {
    let parts: Vec<String> = (0..5)
        .map(|i| {
            doc(
                &format!("fw-{i}"),
                &format!(
                    "interfaces: [eth{}, eth9]
ingress:
- sourceCIDRs: [10.{i}.0.0/16, 10.0.0.0/8, 'fd00:{i}::/32']
  rules:
  - {{order: {}, protocolConfig: {{protocol: TCP, tcp: {{ports: '{}-{}'}}}}, action: Deny}}
  - {{order: {}, protocolConfig: {{protocol: ICMP}}, action: Allow}}",
                    i % 2,
                    10 + i,
                    100 * i + 1,
                    100 * i + 150,
                    50 + i
                ),
            )
        })
        .collect();
    let reference = compiled(&docs(&parts));
    let orders: [[usize; 5]; 3] = [[4, 3, 2, 1, 0], [2, 0, 4, 1, 3], [1, 4, 0, 3, 2]];
    for order in orders {
        let shuffled: Vec<String> = order.iter().map(|&i| parts[i].clone()).collect();
        assert_eq!(compiled(&docs(&shuffled)), reference, "{order:?}");
    }
}

#[test]
fn equal_compiled_firewalls_hash_alike() {
    use std::collections::hash_map::DefaultHasher;
    use std::hash::{Hash, Hasher};

    let hash = |fw: &CompiledFirewall| {
        let mut hasher = DefaultHasher::new();
        fw.hash(&mut hasher);
        hasher.finish()
    };
    let text = |port: u16| {
        doc(
            "fw",
            &format!(
                "interfaces: [eth0]
ingress:
- sourceCIDRs: [10.0.0.0/8]
  rules:
  - {{order: 1, protocolConfig: {{protocol: TCP, tcp: {{ports: {port}}}}}, action: Deny}}"
            ),
        )
    };
    let (a, b, other) = (
        compiled(&text(80)),
        compiled(&text(80)),
        compiled(&text(81)),
    );
    assert_eq!(hash(&a), hash(&b));
    assert_ne!(a, other);
    assert_ne!(hash(&a), hash(&other));
}

/// The shape `netwarden bench firewall` compiles: 10,000 /24 sources in one entry, 100 TCP
/// single-port rules, plus a wider entry over them. Slow in debug builds, hence ignored; time it
/// with `examples/large_set.rs`.
#[test]
#[ignore]
fn large_set_compiles_quickly() {
    let cidrs: String = (0..10_000u32)
        .map(|i| format!("    - 10.{}.{}.0/24\n", i >> 8, i & 0xff))
        .collect();
    let rules: String = (1..=100u32)
        .map(|k| {
            let action = if k.is_multiple_of(2) { "Deny" } else { "Allow" };
            format!(
                "    - {{order: {k}, protocolConfig: {{protocol: TCP, tcp: {{ports: {}}}}}, \
                 action: {action}}}\n",
                1000 + k
            )
        })
        .collect();
    let spec = format!(
        "interfaces: [eth0]\ningress:\n- sourceCIDRs:\n{cidrs}  rules:\n{rules}\
         - sourceCIDRs: [10.0.0.0/8]\n  rules:\n  - {{order: 50, action: Deny}}\n"
    );
    let fw = compiled(&doc("big", &spec));
    assert_eq!(fw.rules.len(), 10_000 * 100 + 1);
    assert_eq!(fw.prefixes.len(), 10_001);
    let wide = "big|eth0|10.0.0.0/8|50";
    // Inside a /24: its own rules first (orders 1-49), then the /8's protocol-less Deny.
    assert_eq!(
        decide(&fw, "eth0", "10.39.15.7", proto::TCP, Some(1002)),
        hit(Verdict::Deny, "big|eth0|10.39.15.0/24|2")
    );
    assert_eq!(
        decide(&fw, "eth0", "10.39.15.7", proto::TCP, Some(1049)),
        hit(Verdict::Allow, "big|eth0|10.39.15.0/24|49")
    );
    assert_eq!(
        decide(&fw, "eth0", "10.39.15.7", proto::TCP, Some(1100)),
        hit(Verdict::Deny, wide)
    );
    // Fail-safe: the /8's Deny leaves SSH open.
    assert_eq!(
        decide(&fw, "eth0", "10.39.15.7", proto::TCP, Some(22)).0,
        Verdict::FailSafe
    );
    // Outside every /24 but inside the /8; outside the /8; another interface.
    assert_eq!(
        decide(&fw, "eth0", "10.200.0.1", proto::TCP, Some(1002)),
        hit(Verdict::Deny, wide)
    );
    assert_eq!(
        decide(&fw, "eth0", "11.0.0.1", proto::TCP, Some(1002)),
        PASS
    );
    assert_eq!(
        decide(&fw, "eth1", "10.0.0.1", proto::TCP, Some(1002)),
        PASS
    );
}
