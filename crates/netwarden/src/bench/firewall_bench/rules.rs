//! The rule sets the firewall bench applies, written as IngressNodeFirewall YAML (so the figures
//! include the loader and validator a user's file goes through), and their compilation.

use anyhow::Context;
use netwarden_policy::firewall::{
    compile, load_yaml, select, CompiledFirewall, NodeIdentity, Problem, ProtectedService,
};
use std::fmt::Write as _;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

/// Destination port of rule `k` (1-based) in the generated sets: clear of every protected service
/// (fail-safe would turn a Deny there into a pass).
pub fn rule_port(k: u32) -> u16 {
    // At most MAX_RULES rules, so this stays within 1001..=1127.
    1000 + k as u16
}

/// Most rules per entry: every single-port rule adds two segments to the TCP table, and a table
/// holds 256 (2 * 127 + 1 = 255).
pub const MAX_RULES: u32 = 127;
/// Most entries: /24s under 10.0.0.0/8.
pub const MAX_ENTRIES: u32 = 1 << 16;

/// The `i`th generated source CIDR: 10.0.0.0/24, 10.0.1.0/24, ... (a /24 each, under 10.0.0.0/8).
pub fn entry_net(i: u32) -> Ipv4Addr {
    Ipv4Addr::new(10, (i >> 8) as u8, i as u8, 0)
}

/// One IngressNodeFirewall object on `interface`: one ingress entry with `cidrs` as its sources and
/// `rules` TCP single-port rules (orders 1..=rules, port [`rule_port`]), alternating Allow and
/// Deny so that the last (even) one is `last`.
pub fn tcp_ports_object(
    name: &str,
    interface: &str,
    cidrs: impl IntoIterator<Item = String>,
    rules: u32,
    last: &str,
) -> String {
    let mut y = format!(
        "apiVersion: netwarden.io/v1alpha1\nkind: IngressNodeFirewall\nmetadata:\n  name: {name}\n\
         spec:\n  interfaces: [{interface}]\n  ingress:\n  - sourceCIDRs:\n"
    );
    for c in cidrs {
        let _ = writeln!(y, "    - {c}");
    }
    y.push_str("    rules:\n");
    for k in 1..=rules {
        let action = if k == rules {
            last
        } else if (rules - k).is_multiple_of(2) {
            "Deny"
        } else {
            "Allow"
        };
        let _ = write!(
            y,
            "    - order: {k}\n      protocolConfig:\n        protocol: TCP\n        tcp:\n          \
             ports: \"{}\"\n      action: {action}\n",
            rule_port(k)
        );
    }
    y
}

/// `entries` /24 sources (see [`entry_net`]) on `interface`, each with `rules` rules, the last a Deny.
pub fn big_set(interface: &str, entries: u32, rules: u32) -> String {
    tcp_ports_object(
        "bench-big",
        interface,
        (0..entries).map(|i| format!("{}/24", entry_net(i))),
        rules,
        "Deny",
    )
}

/// A set whose one rule denies UDP `port` from `cidr` on `interface`.
pub fn udp_deny(interface: &str, cidr: &str, port: u16) -> String {
    format!(
        "apiVersion: netwarden.io/v1alpha1\nkind: IngressNodeFirewall\nmetadata:\n  name: bench-udp\n\
         spec:\n  interfaces: [{interface}]\n  ingress:\n  - sourceCIDRs: [{cidr}]\n    rules:\n    \
         - order: 10\n      protocolConfig:\n        protocol: UDP\n        udp:\n          ports: \
         \"{port}\"\n      action: Deny\n"
    )
}

/// A compiled set and what it took to get there.
pub struct Compiled {
    pub compiled: CompiledFirewall,
    /// Loading (YAML parsing and per-field checks).
    pub load: Duration,
    /// Validation and compilation.
    pub compile: Duration,
}

/// Loads, selects (for any node: the generated objects have no node selector) and compiles `yaml`,
/// with the default protected services.
pub fn build(yaml: &str) -> anyhow::Result<Compiled> {
    let started = Instant::now();
    let loaded = load_yaml(yaml, "bench").map_err(|p| problems("loading", &p))?;
    let load = started.elapsed();
    let started = Instant::now();
    let node = NodeIdentity {
        name: "bench".into(),
        ..Default::default()
    };
    let selected = select(&loaded.objects, &node);
    let protected = ProtectedService::defaults();
    let compiled = compile(&selected, &protected).map_err(|p| problems("compiling", &p))?;
    Ok(Compiled {
        compiled,
        load,
        compile: started.elapsed(),
    })
}

/// The empty rule set (nothing selected).
pub fn empty() -> anyhow::Result<CompiledFirewall> {
    compile(&[], &[])
        .map_err(|p| problems("compiling", &p))
        .context("the empty rule set")
}

fn problems(what: &str, p: &[Problem]) -> anyhow::Error {
    let shown: Vec<String> = p.iter().take(3).map(|p| p.to_string()).collect();
    anyhow::anyhow!(
        "{what} a generated rule set: {} problems, first: {}",
        p.len(),
        shown.join("; ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use netwarden_policy::firewall::Verdict;

    #[test]
    fn generated_sets_compile_to_what_the_cases_expect() {
        let c = build(&big_set("lo", 3, 5)).unwrap().compiled;
        assert_eq!(c.rules.len(), 15);
        assert_eq!(c.prefixes.len(), 3);
        let src = "10.0.2.9".parse().unwrap();
        let last = c.lookup("lo", src, 6, Some(rule_port(5)));
        assert_eq!(last.verdict, Verdict::Deny);
        assert_eq!(c.rules[last.rule.unwrap() as usize].order, 5);
        assert_eq!(
            c.lookup("lo", src, 6, Some(rule_port(4))).verdict,
            Verdict::Allow
        );
        assert_eq!(c.lookup("lo", src, 6, Some(2000)).verdict, Verdict::Pass);
        let outside = "172.16.0.1".parse().unwrap();
        assert_eq!(
            c.lookup("lo", outside, 6, Some(rule_port(5))).verdict,
            Verdict::Pass
        );
        let u = build(&udp_deny("veth0", "192.168.95.0/24", 9000))
            .unwrap()
            .compiled;
        let from = "192.168.95.1".parse().unwrap();
        assert_eq!(
            u.lookup("veth0", from, 17, Some(9000)).verdict,
            Verdict::Deny
        );
        assert!(empty().unwrap().rules.is_empty());
    }

    #[test]
    fn entries_are_distinct_slash_24s() {
        assert_eq!(entry_net(0), Ipv4Addr::new(10, 0, 0, 0));
        assert_eq!(entry_net(9_999), Ipv4Addr::new(10, 39, 15, 0));
        assert_eq!(entry_net(MAX_ENTRIES - 1), Ipv4Addr::new(10, 255, 255, 0));
    }
}
