//! `netwarden policy whatif`: replays the stored flows against a proposed policy set and lists
//! the ones whose verdict would change, grouped by workload pair, before anything is applied.
//!
//! The flows come through the API (the store's owner), one row per distinct connection
//! (source and destination address, protocol, destination port) with the network events it was
//! stored with. The verdict a flow has now is read from those events (any `Dropped by ...`
//! event means dropped); the verdict it would have is the engine's under the proposed policies,
//! judged exactly as audit mode judges a flow record, so what whatif predicts is what the flow
//! table shows once the policies are in force. The inventory is the running agent's
//! (`/api/inventory`) unless a file is given.

use crate::api_client::ApiArgs;
use anyhow::{bail, Context};
use netwarden_policy::netpol::{self, Connection, Endpoint, Inventory, Protocol, Verdict};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct WhatifArgs {
    /// The proposed policy set (file, or directory of *.yaml/*.yml/*.json), as it would be in
    /// force: it replaces the current policies, it is not added to them.
    #[arg(long, value_name = "DIR|FILE", required = true)]
    policies: Vec<PathBuf>,
    /// Inventory file (Pods, Namespaces, Nodes); by default the running agent's
    /// (GET /api/inventory).
    #[arg(long, value_name = "FILE")]
    inventory: Option<PathBuf>,
    /// Replay flows from this far back: a duration (15m, 1h), RFC 3339 or epoch ms.
    #[arg(long, default_value = "1h")]
    since: String,
    /// End of the range (exclusive), same forms.
    #[arg(long)]
    until: Option<String>,
    /// Only the flows matching this filter, e.g. 'SrcK8S_Namespace="iperf"'.
    #[arg(long, short = 'f')]
    filter: Option<String>,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    api: ApiArgs,
}

/// The fields a replayed connection is grouped by.
const GROUP_BY: &str = "SrcK8S_Namespace,SrcK8S_OwnerName,DstK8S_Namespace,DstK8S_OwnerName,\
                        SrcAddr,DstAddr,Proto,DstPort,NetworkEvents";

/// Distinct connections asked for at most (the API's group limit); the busiest come first.
const MAX_CONNECTIONS: u32 = 10_000;

/// One distinct connection as stored.
#[derive(Debug, Clone, PartialEq)]
struct Stored {
    src: Side,
    dst: Side,
    src_addr: IpAddr,
    dst_addr: IpAddr,
    proto: u8,
    port: u16,
    /// The events' messages, in order.
    events: Vec<String>,
    flows: u64,
    bytes: u64,
}

/// One end as the stored flow names it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Side {
    namespace: Option<String>,
    owner: Option<String>,
}

impl Side {
    /// `ns/owner`, `ns`, or the address when the flow names no workload.
    fn workload(&self, addr: IpAddr) -> String {
        match (&self.namespace, &self.owner) {
            (Some(ns), Some(owner)) => format!("{ns}/{owner}"),
            (Some(ns), None) => ns.clone(),
            _ => addr.to_string(),
        }
    }
}

/// What replaying found for one workload pair whose verdict changes.
#[derive(Debug, Default)]
struct Change {
    ports: BTreeSet<String>,
    connections: u64,
    flows: u64,
    bytes: u64,
    /// The events now and under the proposed policies, of the busiest connection.
    now_events: Vec<String>,
    new_events: Vec<String>,
}

/// The replay's answer.
#[derive(Debug, Default)]
struct Replay {
    connections: u64,
    flows: u64,
    /// Connections the engine could not judge (no port on a TCP/UDP/SCTP flow, bad address).
    skipped: u64,
    /// Keyed by (source workload, destination workload, verdict now, verdict proposed).
    changes: BTreeMap<(String, String, &'static str, &'static str), Change>,
    truncated: bool,
}

pub fn run(args: WhatifArgs) -> anyhow::Result<()> {
    let (policies, problems) = crate::policy::load_policies(&args.policies)?;
    for p in &problems {
        eprintln!("warning: {p}");
    }
    let inventory = match &args.inventory {
        Some(path) => {
            let (snapshot, _) = netwarden_inventory::yaml::load_file(path)
                .with_context(|| format!("reading inventory {}", path.display()))?;
            crate::policy::to_inventory(&snapshot)
        }
        None => {
            let v = args.api.get("/api/inventory", &[])?;
            serde_json::from_value::<Inventory>(v)
                .context("reading the agent's inventory (/api/inventory)")?
        }
    };
    let mut query = vec![
        ("by", GROUP_BY.replace(char::is_whitespace, "")),
        ("metric", "flows".to_string()),
        ("n", MAX_CONNECTIONS.to_string()),
        ("since", args.since.clone()),
    ];
    if let Some(u) = &args.until {
        query.push(("until", u.clone()));
    }
    if let Some(f) = &args.filter {
        query.push(("filter", f.clone()));
    }
    let rows = args.api.get("/api/top", &query)?;
    let Some(rows) = rows["rows"].as_array() else {
        bail!("/api/top answered without rows");
    };
    let replay = replay(rows, &inventory, &policies);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&to_json(&replay))?);
    } else {
        print!("{}", to_text(&replay, &args.since));
    }
    Ok(())
}

fn text_of(v: &Value) -> Option<String> {
    v.as_str().filter(|s| !s.is_empty()).map(str::to_string)
}

/// A top row as a stored connection; `None` when it lacks the addresses.
fn stored(row: &Value) -> Option<Stored> {
    let g = &row["group"];
    let side = |prefix: &str| Side {
        namespace: text_of(&g[format!("{prefix}K8S_Namespace")]),
        owner: text_of(&g[format!("{prefix}K8S_OwnerName")]),
    };
    Some(Stored {
        src: side("Src"),
        dst: side("Dst"),
        src_addr: g["SrcAddr"].as_str()?.parse().ok()?,
        dst_addr: g["DstAddr"].as_str()?.parse().ok()?,
        proto: u8::try_from(g["Proto"].as_u64()?).ok()?,
        port: g["DstPort"]
            .as_u64()
            .and_then(|p| u16::try_from(p).ok())
            .unwrap_or(0),
        events: g["NetworkEvents"]
            .as_str()
            .map(|m| {
                m.lines()
                    .filter(|l| !l.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default(),
        flows: row["flows"].as_u64().unwrap_or(0),
        bytes: row["bytes"].as_u64().unwrap_or(0),
    })
}

/// The connection as audit mode asks the engine about a flow record: as recorded, with
/// port-less protocols as [`Protocol::Other`].
fn connection(s: &Stored) -> Option<Connection> {
    let protocol = match s.proto {
        6 => Protocol::Tcp,
        17 => Protocol::Udp,
        132 => Protocol::Sctp,
        _ => Protocol::Other,
    };
    if protocol != Protocol::Other && s.port == 0 {
        return None;
    }
    Some(Connection {
        src: Endpoint::Ip(s.src_addr),
        dst: Endpoint::Ip(s.dst_addr),
        protocol,
        port: if protocol == Protocol::Other {
            0
        } else {
            s.port
        },
        dst_dns_names: Vec::new(),
    })
}

fn port_label(s: &Stored) -> String {
    match s.proto {
        6 => format!("{}/TCP", s.port),
        17 => format!("{}/UDP", s.port),
        132 => format!("{}/SCTP", s.port),
        1 => "ICMP".into(),
        58 => "ICMPv6".into(),
        p => format!("proto {p}"),
    }
}

fn verdict_now(events: &[String]) -> Verdict {
    if events.iter().any(|m| m.starts_with("Dropped by")) {
        Verdict::Dropped
    } else {
        Verdict::Allowed
    }
}

fn replay(rows: &[Value], inventory: &Inventory, policies: &netpol::PolicySet) -> Replay {
    let mut out = Replay {
        truncated: rows.len() >= MAX_CONNECTIONS as usize,
        ..Replay::default()
    };
    for row in rows {
        let Some(s) = stored(row) else {
            out.skipped += 1;
            continue;
        };
        out.connections += 1;
        out.flows += s.flows;
        let Some(answer) =
            connection(&s).and_then(|c| netpol::explain(inventory, policies, &c).ok())
        else {
            out.skipped += 1;
            continue;
        };
        let now = verdict_now(&s.events);
        if now == answer.verdict {
            continue;
        }
        let key = (
            s.src.workload(s.src_addr),
            s.dst.workload(s.dst_addr),
            word(now),
            word(answer.verdict),
        );
        let change = out.changes.entry(key).or_default();
        change.ports.insert(port_label(&s));
        change.connections += 1;
        change.flows += s.flows;
        change.bytes += s.bytes;
        // Rows come busiest first: the first connection of a pair is its example.
        if change.connections == 1 {
            change.now_events = s.events.clone();
            change.new_events = answer.events.iter().map(|e| e.message()).collect();
        }
    }
    out
}

fn word(v: Verdict) -> &'static str {
    match v {
        Verdict::Allowed => "allowed",
        Verdict::Dropped => "dropped",
    }
}

fn to_text(r: &Replay, since: &str) -> String {
    let mut out = format!(
        "Replayed {} connections ({} flows) from the last {since}: {} workload pairs would change.\n",
        r.connections,
        r.flows,
        r.changes.len()
    );
    if r.skipped > 0 {
        out += &format!(
            "{} connections could not be judged (no port or no address) and were skipped.\n",
            r.skipped
        );
    }
    if r.truncated {
        out += &format!(
            "Only the {MAX_CONNECTIONS} busiest connections were replayed; narrow with --filter or --since.\n"
        );
    }
    for ((src, dst, now, new), c) in &r.changes {
        out += &format!(
            "\n{src} -> {dst}  {}: now {}, would be {}  ({} connections, {} flows, {} bytes)\n",
            c.ports.iter().cloned().collect::<Vec<_>>().join(", "),
            now,
            new,
            c.connections,
            c.flows,
            c.bytes
        );
        let list = |events: &[String]| {
            if events.is_empty() {
                "(no policy applies)".to_string()
            } else {
                events.join(" | ")
            }
        };
        out += &format!("  now:      {}\n", list(&c.now_events));
        out += &format!("  would be: {}\n", list(&c.new_events));
    }
    out
}

fn to_json(r: &Replay) -> Value {
    json!({
        "connections": r.connections,
        "flows": r.flows,
        "skipped": r.skipped,
        "truncated": r.truncated,
        "changes": r.changes.iter().map(|((src, dst, now, new), c)| json!({
            "from": src,
            "to": dst,
            "ports": c.ports,
            "now": now,
            "would_be": new,
            "connections": c.connections,
            "flows": c.flows,
            "bytes": c.bytes,
            "now_events": c.now_events,
            "would_be_events": c.new_events,
        })).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(src: &str, dst: &str, proto: u64, port: u64, events: &str, flows: u64) -> Value {
        json!({
            "group": {
                "SrcK8S_Namespace": "iperf", "SrcK8S_OwnerName": "iperf3-client",
                "DstK8S_Namespace": "iperf", "DstK8S_OwnerName": "iperf3-server",
                "SrcAddr": src, "DstAddr": dst, "Proto": proto, "DstPort": port,
                "NetworkEvents": events,
            },
            "flows": flows, "bytes": flows * 100,
        })
    }

    fn cluster() -> (Inventory, netpol::PolicySet) {
        let (policies, problems) = netpol::parse_str(
            r#"
kind: NetworkPolicy
apiVersion: networking.k8s.io/v1
metadata: {name: server-5201, namespace: iperf}
spec:
  podSelector: {matchLabels: {app: server}}
  policyTypes: [Ingress]
  ingress: [{ports: [{port: 5201}]}]
"#,
            "proposed.yaml",
        )
        .unwrap();
        assert!(problems.is_empty());
        let pod = |name: &str, app: &str, ip: &str| netpol::PodInfo {
            namespace: "iperf".into(),
            name: name.into(),
            labels: [("app".to_string(), app.to_string())].into(),
            ips: vec![ip.parse().unwrap()],
            ..Default::default()
        };
        let inventory = Inventory {
            pods: vec![
                pod("client", "client", "10.0.0.1"),
                pod("server", "server", "10.0.0.2"),
            ],
            ..Default::default()
        };
        (inventory, policies)
    }

    #[test]
    fn lists_the_connections_whose_verdict_changes_by_workload_pair() {
        let (inventory, policies) = cluster();
        let rows = vec![
            // Allowed now and under the proposal: not listed.
            row("10.0.0.1", "10.0.0.2", 6, 5201, "", 7),
            // Allowed now, the proposal isolates the server: 8080 and 53/UDP would be dropped.
            row("10.0.0.1", "10.0.0.2", 6, 8080, "", 3),
            row("10.0.0.1", "10.0.0.2", 17, 53, "", 2),
            // Dropped now, the proposal does not isolate the client: allowed.
            row(
                "10.0.0.2",
                "10.0.0.1",
                6,
                22,
                "Dropped by network policies isolation in namespace iperf, direction Ingress",
                4,
            ),
            // No port: skipped.
            row("10.0.0.1", "10.0.0.2", 6, 0, "", 1),
        ];
        let r = replay(&rows, &inventory, &policies);
        assert_eq!((r.connections, r.flows, r.skipped), (5, 17, 1));
        assert_eq!(r.changes.len(), 2);
        let dropped = &r.changes[&(
            "iperf/iperf3-client".to_string(),
            "iperf/iperf3-server".to_string(),
            "allowed",
            "dropped",
        )];
        assert_eq!(
            dropped.ports.iter().collect::<Vec<_>>(),
            ["53/UDP", "8080/TCP"]
        );
        assert_eq!(
            (dropped.connections, dropped.flows, dropped.bytes),
            (2, 5, 500)
        );
        assert_eq!(
            dropped.new_events,
            ["Dropped by network policies isolation in namespace iperf, direction Ingress"]
        );
        let text = to_text(&r, "1h");
        assert!(text.starts_with(
            "Replayed 5 connections (17 flows) from the last 1h: 2 workload pairs would change.\n"
        ));
        assert!(text.contains(
            "iperf/iperf3-client -> iperf/iperf3-server  53/UDP, 8080/TCP: now allowed, would be dropped  (2 connections, 5 flows, 500 bytes)"
        ), "{text}");
        let j = to_json(&r);
        assert_eq!(j["changes"][1]["would_be"], "allowed");
        assert_eq!(j["changes"][1]["ports"], json!(["22/TCP"]));
    }
}
