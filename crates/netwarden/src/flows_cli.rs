//! `netwarden flows`: query the flow store through the API of the process that owns it (DuckDB
//! locks its file, so the CLI never opens it directly): a page of flows, or a top table.

use crate::api_client::{clock, ApiArgs};
use serde_json::Value;

#[derive(clap::Args, Debug)]
pub struct FlowsArgs {
    /// Flow filter, e.g. 'SrcK8S_Namespace="iperf" AND DstPort=5201' or 'NetworkEvents=~"Dropped"'.
    #[arg(long, short = 'f')]
    filter: Option<String>,
    /// Start of the range: a duration before now (15m, 1h), RFC 3339 or epoch ms.
    #[arg(long, default_value = "15m")]
    since: String,
    /// End of the range (exclusive), same forms.
    #[arg(long)]
    until: Option<String>,
    /// Rows of flows.
    #[arg(long, default_value_t = 50)]
    limit: u32,
    /// Instead of flows: the top N groups (with --by).
    #[arg(long, value_name = "N")]
    top: Option<u32>,
    /// Fields to group by for --top, comma-separated (e.g. SrcK8S_Namespace,DstK8S_Namespace).
    #[arg(long, value_name = "FIELDS")]
    by: Option<String>,
    /// Metric --top ranks by: bytes, packets, flows, drop_packets, drop_bytes.
    #[arg(long, default_value = "bytes")]
    metric: String,
    /// table or json.
    #[arg(long, default_value = "table")]
    format: String,
    #[command(flatten)]
    api: ApiArgs,
}

fn text(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `namespace/name`, else the address.
fn end(f: &Value, side: &str) -> String {
    match (
        f[format!("{side}K8S_Namespace")].as_str(),
        f[format!("{side}K8S_Name")].as_str(),
    ) {
        (Some(ns), Some(name)) => format!("{ns}/{name}"),
        _ => text(&f[format!("{side}Addr")]),
    }
}

fn print_flows(v: &Value) {
    let flows = v["flows"].as_array().cloned().unwrap_or_default();
    println!(
        "{:<12} {:<34} {:<34} {:>6} {:>5} {:>10} {:>7} {:>5}  EVENTS",
        "END (UTC)", "SRC", "DST", "DPORT", "PROTO", "BYTES", "PACKETS", "DROPS"
    );
    for f in &flows {
        let events: Vec<String> = f["NetworkEvents"]
            .as_array()
            .map(|a| a.iter().map(|e| text(&e["Message"])).collect())
            .unwrap_or_default();
        println!(
            "{:<12} {:<34} {:<34} {:>6} {:>5} {:>10} {:>7} {:>5}  {}",
            f["TimeFlowEndMs"]
                .as_i64()
                .map_or_else(|| "-".into(), clock),
            end(f, "Src"),
            end(f, "Dst"),
            text(&f["DstPort"]),
            text(&f["Proto"]),
            text(&f["Bytes"]),
            text(&f["Packets"]),
            f["PktDropPackets"].as_u64().unwrap_or(0),
            events.join(" | ")
        );
    }
    println!("({} of {} flows)", flows.len(), text(&v["total"]));
}

fn print_top(v: &Value) {
    for row in v["rows"].as_array().cloned().unwrap_or_default() {
        let group: Vec<String> = row["group"]
            .as_object()
            .map(|g| g.iter().map(|(k, v)| format!("{k}={}", text(v))).collect())
            .unwrap_or_default();
        println!(
            "{:>12} bytes {:>10} packets {:>8} flows {:>6} drops  {}",
            text(&row["bytes"]),
            text(&row["packets"]),
            text(&row["flows"]),
            text(&row["drop_packets"]),
            group.join(" ")
        );
    }
}

pub fn run(args: FlowsArgs) -> anyhow::Result<()> {
    if !matches!(args.format.as_str(), "table" | "json") {
        anyhow::bail!("--format {:?}: table or json", args.format);
    }
    let mut query = vec![("since", args.since.clone())];
    if let Some(f) = &args.filter {
        query.push(("filter", f.clone()));
    }
    if let Some(u) = &args.until {
        query.push(("until", u.clone()));
    }
    let (v, top) = match (args.top, &args.by) {
        (Some(n), Some(by)) => {
            query.push(("n", n.to_string()));
            query.push(("by", by.clone()));
            query.push(("metric", args.metric.clone()));
            (args.api.get("/api/top", &query)?, true)
        }
        (Some(_), None) => anyhow::bail!("--top needs --by FIELDS"),
        (None, Some(_)) => anyhow::bail!("--by goes with --top N"),
        (None, None) => {
            query.push(("limit", args.limit.to_string()));
            (args.api.get("/api/flows", &query)?, false)
        }
    };
    match (args.format.as_str(), top) {
        ("json", _) => println!("{}", serde_json::to_string_pretty(&v)?),
        (_, true) => print_top(&v),
        (_, false) => print_flows(&v),
    }
    Ok(())
}
