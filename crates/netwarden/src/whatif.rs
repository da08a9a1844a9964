//! `netwarden policy whatif`: replays the stored flows against a proposed policy set and lists
//! the ones whose verdict would change, grouped by workload pair, before anything is applied.
//!
//! The flows come through the API (the store's owner) as two aggregations over the same
//! connections (source and destination address, protocol, destination port): all their flows,
//! and the flows stored with a `Dropped by ...` network event, which are the ones dropped now.
//! The verdict they would have is the engine's under the proposed policies, judged exactly as
//! audit mode judges a flow record, so what whatif predicts is what the flow table shows once the
//! policies are in force (EgressFirewall `dnsName`s are resolved once, as the agent resolves
//! them). A connection's flows can differ now (policies changed during the
//! range): each part is compared on its own. The inventory is the running agent's
//! (`/api/inventory`) unless a file is given.

use crate::api_client::ApiArgs;
use anyhow::{bail, Context};
use netwarden_policy::netpol::{self, Connection, Inventory, Verdict};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap};
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
const GROUP_BY: &str =
    "SrcK8S_Namespace,SrcK8S_OwnerName,DstK8S_Namespace,DstK8S_OwnerName,SrcAddr,DstAddr,Proto,DstPort";

/// Flows dropped now: they carry a drop event.
const DROPPED_NOW: &str = r#"NetworkEvents=~"Dropped by""#;

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
    flows: u64,
    bytes: u64,
}

/// The flows and bytes of a connection dropped now.
type DroppedNow = HashMap<ConnKey, (u64, u64)>;

/// A connection as both aggregations name it.
type ConnKey = (IpAddr, IpAddr, u8, u16);

impl Stored {
    fn key(&self) -> ConnKey {
        (self.src_addr, self.dst_addr, self.proto, self.port)
    }
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
    /// The busiest connection of the pair, for its events now.
    example: Option<Stored>,
    /// The events now (filled in after the replay) and under the proposed policies, of the
    /// example connection.
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
    let scope = |extra: Option<&str>| {
        let filter = match (args.filter.as_deref(), extra) {
            (Some(f), Some(e)) => Some(format!("({f}) AND {e}")),
            (Some(f), None) => Some(f.to_string()),
            (None, e) => e.map(str::to_string),
        };
        let mut query = vec![("since", args.since.clone())];
        if let Some(u) = &args.until {
            query.push(("until", u.clone()));
        }
        if let Some(f) = filter {
            query.push(("filter", f));
        }
        query
    };
    let top = |extra: Option<&str>| -> anyhow::Result<Vec<Value>> {
        let mut query = scope(extra);
        query.push(("by", GROUP_BY.to_string()));
        query.push(("metric", "flows".to_string()));
        query.push(("n", MAX_CONNECTIONS.to_string()));
        match args.api.get("/api/top", &query)?["rows"].as_array() {
            Some(rows) => Ok(rows.clone()),
            None => bail!("/api/top answered without rows"),
        }
    };
    let rows = top(None)?;
    let dropped: DroppedNow = top(Some(DROPPED_NOW))?
        .iter()
        .filter_map(stored)
        .map(|s| (s.key(), (s.flows, s.bytes)))
        .collect();
    let names = crate::dns_names::resolve_now(
        &crate::dns_names::policy_names(&policies),
        &crate::dns_names::system_resolver(),
    );
    let mut replay = replay(&rows, &dropped, &inventory, &policies, &names);
    // The events the example of each pair carries now: one flow of it, dropped or not as the
    // change says.
    for ((_, _, now, _), change) in replay.changes.iter_mut() {
        let Some(ex) = &change.example else { continue };
        let mut filter = format!(
            "SrcAddr={} AND DstAddr={} AND Proto={}",
            ex.src_addr, ex.dst_addr, ex.proto
        );
        if ex.port != 0 {
            filter += &format!(" AND DstPort={}", ex.port);
        }
        filter += if *now == "dropped" {
            " AND "
        } else {
            " AND NOT "
        };
        filter += DROPPED_NOW;
        let mut query = scope(Some(&filter));
        query.push(("limit", "1".to_string()));
        let page = args.api.get("/api/flows", &query)?;
        change.now_events = page["flows"][0]["NetworkEvents"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|e| e["Message"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
    }
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
        flows: row["flows"].as_u64().unwrap_or(0),
        bytes: row["bytes"].as_u64().unwrap_or(0),
    })
}

/// The connection as audit mode asks the engine about a flow record (a stored port 0 is no
/// port: the aggregation reports a missing one as 0).
fn connection(s: &Stored, names: &HashMap<IpAddr, Vec<String>>) -> Option<Connection> {
    let port = Some(s.port).filter(|&p| p != 0);
    let mut conn = crate::enrichment::audit_connection(s.src_addr, s.dst_addr, s.proto, port)?;
    conn.dst_dns_names = names.get(&s.dst_addr).cloned().unwrap_or_default();
    Some(conn)
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

fn replay(
    rows: &[Value],
    dropped: &DroppedNow,
    inventory: &Inventory,
    policies: &netpol::PolicySet,
    names: &HashMap<IpAddr, Vec<String>>,
) -> Replay {
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
            connection(&s, names).and_then(|c| netpol::explain(inventory, policies, &c).ok())
        else {
            out.skipped += 1;
            continue;
        };
        let (dropped_flows, dropped_bytes) = dropped.get(&s.key()).copied().unwrap_or((0, 0));
        // The part of the connection's flows whose verdict is not the proposed one.
        let (now, flows, bytes) = match answer.verdict {
            Verdict::Dropped => (
                Verdict::Allowed,
                s.flows.saturating_sub(dropped_flows),
                s.bytes.saturating_sub(dropped_bytes),
            ),
            Verdict::Allowed => (Verdict::Dropped, dropped_flows, dropped_bytes),
        };
        if flows == 0 {
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
        change.flows += flows;
        change.bytes += bytes;
        // Rows come busiest first: the first connection of a pair is its example.
        if change.example.is_none() {
            change.new_events = answer.events.iter().map(|e| e.message()).collect();
            change.example = Some(s);
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

/// `1 flow`, `2 flows`.
fn count(n: u64, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

fn to_text(r: &Replay, since: &str) -> String {
    let mut out = format!(
        "Replayed {} ({}) from the last {since}: {} would change.\n",
        count(r.connections, "connection"),
        count(r.flows, "flow"),
        count(r.changes.len() as u64, "workload pair")
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
            "\n{src} -> {dst}  {}: now {now}, would be {new}  ({}, {}, {})\n",
            c.ports.iter().cloned().collect::<Vec<_>>().join(", "),
            count(c.connections, "connection"),
            count(c.flows, "flow"),
            count(c.bytes, "byte")
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

    fn row(src: &str, dst: &str, proto: u64, port: u64, flows: u64) -> Value {
        json!({
            "group": {
                "SrcK8S_Namespace": "iperf", "SrcK8S_OwnerName": "iperf3-client",
                "DstK8S_Namespace": "iperf", "DstK8S_OwnerName": "iperf3-server",
                "SrcAddr": src, "DstAddr": dst, "Proto": proto, "DstPort": port,
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
            row("10.0.0.1", "10.0.0.2", 6, 5201, 7),
            // Allowed now, the proposal isolates the server: 8080 and 53/UDP would be dropped.
            row("10.0.0.1", "10.0.0.2", 6, 8080, 3),
            row("10.0.0.1", "10.0.0.2", 17, 53, 2),
            // Dropped now (4 of 5 flows), the proposal does not isolate the client: allowed.
            row("10.0.0.2", "10.0.0.1", 6, 22, 5),
            // No port: skipped.
            row("10.0.0.1", "10.0.0.2", 6, 0, 1),
        ];
        let dropped: DroppedNow = [(
            (
                "10.0.0.2".parse().unwrap(),
                "10.0.0.1".parse().unwrap(),
                6,
                22,
            ),
            (4, 400),
        )]
        .into();
        let r = replay(&rows, &dropped, &inventory, &policies, &HashMap::new());
        assert_eq!((r.connections, r.flows, r.skipped), (5, 18, 1));
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
            "Replayed 5 connections (18 flows) from the last 1h: 2 workload pairs would change.\n"
        ));
        assert!(text.contains(
            "iperf/iperf3-client -> iperf/iperf3-server  53/UDP, 8080/TCP: now allowed, would be dropped  (2 connections, 5 flows, 500 bytes)"
        ), "{text}");
        let j = to_json(&r);
        assert_eq!(j["changes"][1]["would_be"], "allowed");
        assert_eq!(j["changes"][1]["ports"], json!(["22/TCP"]));
        assert_eq!(j["changes"][1]["flows"], 4);
    }
}
