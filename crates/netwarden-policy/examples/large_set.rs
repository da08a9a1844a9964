//! Times loading, validating and compiling a large rule set: one IngressNodeFirewall object with
//! one entry listing N source CIDRs (/24s under 10.0.0.0/8) on one interface, and M TCP
//! single-port rules (distinct orders), the shape `netwarden bench firewall` uses.
//!
//! ```text
//! cargo run --release -p netwarden-policy --example large_set -- 10000 100
//! ```

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr};
use std::process::ExitCode;
use std::time::Instant;

use netwarden_policy::firewall::{compile, load_yaml, validate, ProtectedService};

/// The `i`th source CIDR: 10.0.0.0/24, 10.0.1.0/24, ...
fn entry_net(i: u32) -> Ipv4Addr {
    Ipv4Addr::new(10, (i >> 8) as u8, i as u8, 0)
}

/// The YAML of the set: `cidrs` sources, `rules` rules (order k, TCP port 1000 + k, alternating
/// Allow and Deny so the last is a Deny).
fn yaml(cidrs: u32, rules: u32) -> String {
    let mut y = String::from(
        "apiVersion: netwarden.io/v1alpha1\nkind: IngressNodeFirewall\nmetadata:\n  name: big\n\
         spec:\n  interfaces: [eth0]\n  ingress:\n  - sourceCIDRs:\n",
    );
    for i in 0..cidrs {
        let _ = writeln!(y, "    - {}/24", entry_net(i));
    }
    y.push_str("    rules:\n");
    for k in 1..=rules {
        let action = if (rules - k).is_multiple_of(2) {
            "Deny"
        } else {
            "Allow"
        };
        let _ = write!(
            y,
            "    - order: {k}\n      protocolConfig:\n        protocol: TCP\n        tcp:\n          \
             ports: \"{}\"\n      action: {action}\n",
            1000 + k
        );
    }
    y
}

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1).map(|a| a.parse::<u32>());
    let (cidrs, rules) = match (args.next(), args.next()) {
        (None, _) => (10_000, 100),
        (Some(Ok(n)), Some(Ok(m))) if (1..=65_536).contains(&n) && (1..=60_000).contains(&m) => {
            (n, m)
        }
        _ => {
            eprintln!("usage: large_set [CIDRS RULES] (1-65536 CIDRs, 1-60000 rules)");
            return ExitCode::FAILURE;
        }
    };
    let text = yaml(cidrs, rules);
    let protected = ProtectedService::defaults();

    let started = Instant::now();
    let loaded = match load_yaml(&text, "large.yaml") {
        Ok(loaded) => loaded,
        Err(problems) => {
            eprintln!("load failed: {} problems", problems.len());
            return ExitCode::FAILURE;
        }
    };
    let load = started.elapsed();
    let objects: Vec<_> = loaded.objects.iter().collect();

    let started = Instant::now();
    let problems = validate(&objects, &protected);
    let validate = started.elapsed();

    let started = Instant::now();
    let compiled = match compile(&objects, &protected) {
        Ok(compiled) => compiled,
        Err(problems) => {
            eprintln!("compile failed: {} problems", problems.len());
            return ExitCode::FAILURE;
        }
    };
    let compile = started.elapsed();

    // A source in the last CIDR, on the last rule's port: that rule's Deny.
    let src = IpAddr::V4(Ipv4Addr::from(u32::from(entry_net(cidrs - 1)) | 9));
    let decision = compiled.lookup("eth0", src, 6, u16::try_from(1000 + rules).ok());
    println!(
        "{cidrs} CIDRs x {rules} rules: YAML {:.1} MiB, {} rule identities, {} prefixes, {} \
         problems\nload {:.3} s, validate {:.3} s, compile (validates again) {:.3} s\nlast rule: \
         {:?}",
        text.len() as f64 / f64::from(1 << 20),
        compiled.rules.len(),
        compiled.prefixes.len(),
        problems.len(),
        load.as_secs_f64(),
        validate.as_secs_f64(),
        compile.as_secs_f64(),
        decision.verdict,
    );
    ExitCode::SUCCESS
}
