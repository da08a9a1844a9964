//! Selection and rule-set tables.

use super::*;
use crate::firewall::compiled::{proto, Verdict};
use std::net::IpAddr;

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn policy(yaml: &str) -> PodGuardPolicy {
    PodGuardSpec::from_yaml(yaml)
        .expect("yaml")
        .check()
        .unwrap_or_else(|p| panic!("{p:?}"))
}

fn ts(text: &str) -> Timestamp {
    text.parse().expect("timestamp")
}

#[test]
fn the_first_matching_selector_wins() {
    let p = policy(
        r#"
selectors:
- {selector: "app=web,env=prod", mode: block-external, namespaces: [shop]}
- {selector: "app=web", mode: monitor}
- selector: "tier in (db)"
  mode: rules
  monitor: false
  rules: [{cidr: 0.0.0.0/0, action: Deny}]
  windows: [{days: Mon-Fri, hours: "09:00-17:00"}]
cluster_cidrs: [10.0.0.0/8]
"#,
    );
    let monday_noon = ts("2024-06-03T12:00:00Z");
    let sunday = ts("2024-06-09T12:00:00Z");
    let web_prod = labels(&[("app", "web"), ("env", "prod")]);
    let db = labels(&[("tier", "db"), ("app", "web")]);
    let db_only = labels(&[("tier", "db")]);
    let other = labels(&[("app", "api")]);
    type Case<'a> = (
        &'a str,
        &'a BTreeMap<String, String>,
        Timestamp,
        Option<(usize, Mode, bool, bool)>,
    );
    let cases: &[Case] = &[
        (
            "shop",
            &web_prod,
            monday_noon,
            Some((0, Mode::BlockExternal, true, true)),
        ),
        // Another namespace: the first selector does not apply, the second does.
        (
            "blog",
            &web_prod,
            monday_noon,
            Some((1, Mode::Monitor, true, false)),
        ),
        // Both the second and third match; the second comes first.
        (
            "shop",
            &db,
            monday_noon,
            Some((1, Mode::Monitor, true, false)),
        ),
        (
            "shop",
            &db_only,
            monday_noon,
            Some((2, Mode::Rules, false, true)),
        ),
        // Outside its window the selector still holds the pod, without blocking.
        (
            "shop",
            &db_only,
            sunday,
            Some((2, Mode::Rules, false, false)),
        ),
        ("shop", &other, monday_noon, None),
    ];
    for (ns, labels, now, want) in cases {
        let got = p
            .assign(ns, labels, *now)
            .map(|a| (a.selector, a.mode, a.monitor, a.blocking));
        assert_eq!(got, *want, "{ns} {labels:?} at {now}");
    }
    assert!(p.has_windows());
}

#[test]
fn rule_sets_compile_to_destination_tables_first_match_wins() {
    let p = policy(
        r#"
selectors:
- {selector: "app=web"}
- selector: "app=db"
  mode: rules
  rules:
  - {cidr: 10.96.0.10/32, protocol: UDP, ports: "53", action: Allow}
  - {cidr: 10.96.0.0/12, protocol: TCP, ports: "5432", action: Allow}
  - {cidr: 10.0.0.0/8, action: Deny}
  - {cidr: 0.0.0.0/0, protocol: TCP, ports: "443", action: Allow}
  - {cidr: 0.0.0.0/0, protocol: TCP, action: Deny}
  - {cidr: "fd00::/8", protocol: TCP, ports: "80-90", action: Deny}
- selector: "app=cache"
  mode: rules
  rules: [{cidr: 0.0.0.0/0, protocol: UDP, action: Deny}]
"#,
    );
    let compiled = p.compile_rules().expect("compiles");
    assert_eq!(compiled.interfaces, ["pgrs1", "pgrs2"]);
    let ip = |s: &str| -> IpAddr { s.parse().expect("ip") };
    /// (rule set, destination, protocol, port, verdict, deciding rule's order)
    type Case<'a> = (&'a str, &'a str, u8, Option<u16>, Verdict, Option<u32>);
    let cases: &[Case] = &[
        (
            "pgrs1",
            "10.96.0.10",
            proto::UDP,
            Some(53),
            Verdict::Allow,
            Some(1),
        ),
        (
            "pgrs1",
            "10.96.0.10",
            proto::UDP,
            Some(54),
            Verdict::Deny,
            Some(3),
        ),
        (
            "pgrs1",
            "10.96.1.1",
            proto::TCP,
            Some(5432),
            Verdict::Allow,
            Some(2),
        ),
        (
            "pgrs1",
            "10.1.1.1",
            proto::TCP,
            Some(5432),
            Verdict::Deny,
            Some(3),
        ),
        (
            "pgrs1",
            "8.8.8.8",
            proto::TCP,
            Some(443),
            Verdict::Allow,
            Some(4),
        ),
        (
            "pgrs1",
            "8.8.8.8",
            proto::TCP,
            Some(80),
            Verdict::Deny,
            Some(5),
        ),
        (
            "pgrs1",
            "8.8.8.8",
            proto::UDP,
            Some(53),
            Verdict::Pass,
            None,
        ),
        (
            "pgrs1",
            "fd00::1",
            proto::TCP,
            Some(85),
            Verdict::Deny,
            Some(6),
        ),
        (
            "pgrs1",
            "fd00::1",
            proto::TCP,
            Some(91),
            Verdict::Pass,
            None,
        ),
        (
            "pgrs1",
            "2001:db8::1",
            proto::TCP,
            Some(85),
            Verdict::Pass,
            None,
        ),
        // Rule sets do not leak into each other.
        (
            "pgrs2",
            "10.96.0.10",
            proto::UDP,
            Some(53),
            Verdict::Deny,
            Some(1),
        ),
        (
            "pgrs2",
            "10.96.0.10",
            proto::TCP,
            Some(53),
            Verdict::Pass,
            None,
        ),
    ];
    for (set, dst, protocol, port, verdict, order) in cases {
        let d = compiled.lookup(set, ip(dst), *protocol, *port);
        assert_eq!(d.verdict, *verdict, "{set} {dst} {protocol} {port:?}");
        let got_order = d.rule.map(|r| {
            let rule = &compiled.rules[r as usize];
            assert_eq!(rule.interface, *set);
            rule.order
        });
        assert_eq!(got_order, *order, "{set} {dst} {protocol} {port:?}");
    }
    for r in &compiled.rules {
        let id = rule_set_of_object(&r.object).expect("rule set object");
        assert_eq!(rule_set_interface(id), r.interface);
    }
}
