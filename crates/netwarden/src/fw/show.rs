//! `fw status`, `fw stats` and `fw events`: read what is in force from the pins and the state file.

use super::PathArgs;
use anyhow::Context;
use netwarden_datapath::firewall::{
    EventReader, FirewallCounters, FirewallEvent, FirewallPaths, FirewallState,
};
use serde_json::json;
use std::collections::HashMap;
use std::io::Write;
use std::sync::atomic::Ordering;
use std::time::Duration;

fn state(paths: &FirewallPaths) -> anyhow::Result<FirewallState> {
    FirewallState::read(&paths.state_dir)
        .with_context(|| format!("reading {}", paths.state_dir.display()))?
        .with_context(|| {
            format!(
                "no firewall rules are applied (no state in {}); run `netwarden fw apply -f FILE`",
                paths.state_dir.display()
            )
        })
}

pub fn status(paths: &PathArgs, as_json: bool) -> anyhow::Result<()> {
    let paths = paths.paths();
    let st = state(&paths)?;
    let links_ok: Vec<(String, bool)> = st
        .attached
        .keys()
        .map(|name| {
            let intact = paths.pin_dir.join("links").join(name).exists()
                && netwarden_datapath::interfaces::index_of(name)
                    == st.attached.get(name).map(|a| a.ifindex);
            (name.clone(), intact)
        })
        .collect();
    if as_json {
        let attached: Vec<_> = st
            .attached
            .iter()
            .zip(&links_ok)
            .map(|((name, a), (_, ok))| {
                json!({"interface": name, "ifindex": a.ifindex, "mode": a.mode, "enforcing": ok})
            })
            .collect();
        let out = json!({
            "source": st.source,
            "appliedAtUnix": st.applied_at_unix,
            "audit": st.audit,
            "rules": st.rules.len(),
            "generation": st.generation,
            "attached": attached,
            "absent": st.absent,
            "prefixEntries": st.prefix_entries,
            "tableEntries": st.table_entries,
            "eventsPerSecond": st.events_per_sec,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    println!(
        "rules: {} from {} ({} mode), generation {}",
        st.rules.len(),
        if st.source.is_empty() {
            "?"
        } else {
            &st.source
        },
        if st.audit { "audit" } else { "enforcing" },
        st.generation
    );
    for ((name, a), (_, ok)) in st.attached.iter().zip(&links_ok) {
        println!(
            "  {name:<16} ifindex {:<5} {:<8} {}",
            a.ifindex,
            a.mode,
            if *ok {
                "attached"
            } else {
                "NOT ATTACHED (interface gone or recreated)"
            }
        );
    }
    for name in &st.absent {
        println!("  {name:<16} absent: rules kept, attached when it appears (agent)");
    }
    Ok(())
}

pub fn stats(paths: &PathArgs, as_json: bool) -> anyhow::Result<()> {
    let paths = paths.paths();
    let st = state(&paths)?;
    let counters = FirewallCounters::read(&paths, &st)?;
    let totals = counters.totals();
    if as_json {
        let rules: Vec<_> = st
            .rules
            .iter()
            .map(|r| {
                let c = counters.rules.get(&r.slot).copied().unwrap_or_default();
                json!({
                    "object": r.object, "interface": r.interface, "cidr": r.cidr, "order": r.order,
                    "action": r.action, "protocol": r.protocol, "selector": r.selector,
                    "allowPackets": c.allow_packets, "allowBytes": c.allow_bytes,
                    "denyPackets": c.deny_packets, "denyBytes": c.deny_bytes,
                })
            })
            .collect();
        let out = json!({
            "rules": rules,
            "totals": totals,
            "counters": counters.global,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    println!(
        "{:<28} {:<12} {:<20} {:>6} {:<6} {:>10} {:>12} {:>10} {:>12}",
        "OBJECT",
        "INTERFACE",
        "CIDR",
        "ORDER",
        "ACTION",
        "ALLOW PKTS",
        "ALLOW BYTES",
        "DENY PKTS",
        "DENY BYTES"
    );
    for r in &st.rules {
        let c = counters.rules.get(&r.slot).copied().unwrap_or_default();
        println!(
            "{:<28} {:<12} {:<20} {:>6} {:<6} {:>10} {:>12} {:>10} {:>12}",
            r.object,
            r.interface,
            r.cidr,
            r.order,
            r.action,
            c.allow_packets,
            c.allow_bytes,
            c.deny_packets,
            c.deny_bytes
        );
    }
    println!(
        "total: allow {} packets / {} bytes, deny {} packets / {} bytes",
        totals.allow_packets, totals.allow_bytes, totals.deny_packets, totals.deny_bytes
    );
    let global: Vec<String> = counters
        .global
        .iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect();
    println!("{}", global.join(", "));
    Ok(())
}

pub fn events(paths: &PathArgs, follow: bool, as_json: bool) -> anyhow::Result<()> {
    let paths = paths.paths();
    let mut reader = EventReader::open(&paths)?;
    let stop = crate::run_loop::stop_on_signals()?;
    let mut st = FirewallState::read(&paths.state_dir).ok().flatten();
    let mut ifnames: HashMap<u32, String> = netwarden_datapath::interfaces::list()
        .map(|m| m.into_iter().collect())
        .unwrap_or_default();
    let mut out = std::io::BufWriter::new(std::io::stdout());
    loop {
        let batch = reader.poll(Duration::from_millis(if follow { 200 } else { 50 }));
        if !batch.is_empty() && follow {
            // Rules and interfaces may have changed since we started.
            st = FirewallState::read(&paths.state_dir).ok().flatten();
            if let Ok(m) = netwarden_datapath::interfaces::list() {
                ifnames = m.into_iter().collect();
            }
        }
        for e in &batch {
            let ev = FirewallEvent::decode(e, st.as_ref(), &ifnames);
            if as_json {
                serde_json::to_writer(&mut out, &ev)?;
                writeln!(out)?;
            } else {
                for line in ev.text_lines() {
                    writeln!(out, "{line}")?;
                }
            }
        }
        out.flush()?;
        if (!follow && batch.is_empty()) || stop.load(Ordering::Relaxed) {
            return Ok(());
        }
    }
}
