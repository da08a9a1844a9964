//! Query results as JSON: flows with NetObserv's names and shapes (lists as arrays, network
//! events as objects), top tables, series and the topology graph.

use duckdb::types::Value;
use netwarden_query::fields::{fields, Field, Kind};
use netwarden_query::Level;
use serde_json::{json, Map, Value as Json};
use std::collections::BTreeMap;

/// Result columns and rows.
#[derive(Debug, Default)]
pub struct Rows {
    pub columns: Vec<String>,
    pub values: Vec<Vec<Value>>,
}

impl Rows {
    /// The first column of the first row as a count.
    pub fn first_u64(&self) -> Option<u64> {
        let v = self.values.first()?.first()?;
        as_i64(v).map(|i| i.max(0) as u64)
    }
}

/// An integer value, whatever its width.
pub fn as_i64(v: &Value) -> Option<i64> {
    Some(match *v {
        Value::TinyInt(i) => i.into(),
        Value::SmallInt(i) => i.into(),
        Value::Int(i) => i.into(),
        Value::BigInt(i) => i,
        Value::HugeInt(i) => i64::try_from(i).ok()?,
        Value::UTinyInt(i) => i.into(),
        Value::USmallInt(i) => i.into(),
        Value::UInt(i) => i.into(),
        Value::UBigInt(i) => i64::try_from(i).ok()?,
        _ => return None,
    })
}

/// A scalar as JSON (NULL as null).
pub fn json_value(v: &Value) -> Json {
    match v {
        Value::Null => Json::Null,
        Value::Boolean(b) => json!(b),
        Value::Text(s) => json!(s),
        Value::Float(f) => json!(f),
        Value::Double(f) => json!(f),
        Value::UBigInt(u) => json!(u),
        Value::HugeInt(h) => json!(h.to_string()),
        Value::UHugeInt(h) => json!(h.to_string()),
        other => as_i64(other).map_or_else(|| json!(format!("{other:?}")), |i| json!(i)),
    }
}

/// An address as its canonical text (SQL prints IPv6 addresses with only the first run of
/// zero groups shortened).
fn canonical_addr(text: &str) -> Json {
    text.parse::<std::net::IpAddr>()
        .map_or_else(|_| json!(text), |ip| json!(ip.to_string()))
}

/// One flow row (a value per catalog field, display columns) as a NetObserv record.
pub fn flow_json(row: &[Value]) -> Map<String, Json> {
    let mut out = Map::new();
    for (field, v) in fields().iter().zip(row) {
        if *v == Value::Null {
            continue;
        }
        let j = match (field.name, field.kind, v) {
            (_, Kind::Events { .. }, Value::Text(s)) => {
                serde_json::from_str(s).unwrap_or_else(|_| json!(s))
            }
            (_, Kind::Addr { .. }, Value::Text(s)) => canonical_addr(s),
            ("IfDirections", _, Value::Text(s)) => Json::Array(
                s.split(',')
                    .filter_map(|d| d.parse::<u8>().ok())
                    .map(|d| json!(d))
                    .collect(),
            ),
            (_, Kind::List, Value::Text(s)) => Json::Array(
                s.split(',')
                    .filter(|x| !x.is_empty())
                    .map(|x| json!(x))
                    .collect(),
            ),
            _ => json_value(v),
        };
        out.insert(field.name.to_string(), j);
    }
    out
}

/// The field of a result column that is a field's display or text column.
fn field_of(column: &str) -> Option<&'static Field> {
    fields().iter().find(|f: &&Field| {
        f.column == column || f.display_column() == column || f.text_column() == column
    })
}

const METRIC_COLUMNS: [&str; 6] = [
    "bytes",
    "packets",
    "flows",
    "drop_packets",
    "drop_bytes",
    "denied_flows",
];

/// Top-table rows: `{"group": {Field: value..}, "bytes": .., ...}`.
pub fn top_json(rows: &Rows) -> Vec<Json> {
    rows.values
        .iter()
        .map(|r| {
            let mut group = Map::new();
            let mut out = Map::new();
            for (c, v) in rows.columns.iter().zip(r) {
                if METRIC_COLUMNS.contains(&c.as_str()) {
                    out.insert(c.clone(), json_value(v));
                } else {
                    let f = field_of(c);
                    let value = match (f.map(|f| f.kind), v) {
                        (Some(Kind::Addr { .. }), Value::Text(s)) => canonical_addr(s),
                        _ => json_value(v),
                    };
                    group.insert(f.map_or_else(|| c.clone(), |f| f.name.to_string()), value);
                }
            }
            out.insert("group".into(), Json::Object(group));
            Json::Object(out)
        })
        .collect()
}

/// Series: `[{"group": g|null, "points": [[t, v], ...]}]`, groups in first-seen order.
pub fn series_json(rows: &Rows, grouped: bool) -> Vec<Json> {
    let mut order: Vec<String> = Vec::new();
    let mut by_group: BTreeMap<String, (Json, Vec<Json>)> = BTreeMap::new();
    for r in &rows.values {
        let t = r.first().and_then(as_i64).unwrap_or(0);
        let (g, v) = if grouped {
            (r.get(1).map_or(Json::Null, json_value), r.get(2))
        } else {
            (Json::Null, r.get(1))
        };
        let value = v.map_or(Json::Null, json_value);
        let key = g.to_string();
        if !by_group.contains_key(&key) {
            order.push(key.clone());
        }
        by_group
            .entry(key)
            .or_insert_with(|| (g.clone(), Vec::new()))
            .1
            .push(json!([t, value]));
    }
    order
        .into_iter()
        .filter_map(|k| by_group.remove(&k))
        .map(|(group, points)| json!({"group": group, "points": points}))
        .collect()
}

/// A graph node for one end of an edge: `ns/<ns>`, `owner/<ns>/<owner>`, `pod/<ns>/<pod>`,
/// `node/<host>`, or `addr/<ip>` (kind `external`) when the end has no identity at the level.
fn node(level: Level, end: &Map<String, Json>) -> Json {
    let get = |k: &str| end.get(k).and_then(Json::as_str).map(str::to_string);
    let ns = get("k8s_namespace");
    let (id, label, kind) = match (level, get("addr")) {
        (_, Some(addr)) => (format!("addr/{addr}"), addr, "external"),
        (Level::Namespace, None) => {
            let ns = ns.clone().unwrap_or_default();
            (format!("ns/{ns}"), ns, "namespace")
        }
        (Level::Owner, None) => {
            let owner = get("k8s_owner_name").unwrap_or_default();
            let ns = ns.clone().unwrap_or_default();
            (
                format!("owner/{ns}/{owner}"),
                format!("{ns}/{owner}"),
                "owner",
            )
        }
        (Level::Pod, None) => {
            let pod = get("k8s_name").unwrap_or_default();
            let ns = ns.clone().unwrap_or_default();
            (format!("pod/{ns}/{pod}"), format!("{ns}/{pod}"), "pod")
        }
        (Level::Node, None) => {
            let host = get("k8s_host_name").unwrap_or_default();
            (format!("node/{host}"), host, "node")
        }
    };
    let mut out = json!({"id": id, "label": label, "kind": kind});
    for (key, column) in [
        ("namespace", "k8s_namespace"),
        ("owner", "k8s_owner_name"),
        ("owner_type", "k8s_owner_type"),
        ("name", "k8s_name"),
        ("host", "k8s_host_name"),
        ("addr", "addr"),
    ] {
        if let Some(v) = get(column) {
            out[key] = json!(v);
        }
    }
    out
}

/// The graph: nodes (deduplicated ends) and edges, heaviest first.
pub fn topology_json(level: Level, rows: &Rows) -> Json {
    let mut nodes: BTreeMap<String, Json> = BTreeMap::new();
    let mut edges = Vec::new();
    for r in &rows.values {
        let mut ends = [Map::new(), Map::new()];
        let mut edge = Map::new();
        for (c, v) in rows.columns.iter().zip(r) {
            if METRIC_COLUMNS.contains(&c.as_str()) {
                edge.insert(c.clone(), json_value(v));
            } else if let Some((end, rest)) = c
                .strip_prefix("src_")
                .map(|r| (0, r))
                .or_else(|| c.strip_prefix("dst_").map(|r| (1, r)))
            {
                let value = match v {
                    Value::Text(s) if rest == "addr" => canonical_addr(s),
                    _ => json_value(v),
                };
                ends[end].insert(rest.to_string(), value);
            }
        }
        for (end, key) in ends.iter().zip(["source", "target"]) {
            let n = node(level, end);
            let id = n["id"].as_str().unwrap_or_default().to_string();
            edge.insert(key.into(), json!(id));
            nodes.entry(id).or_insert(n);
        }
        edges.push(Json::Object(edge));
    }
    json!({"nodes": nodes.into_values().collect::<Vec<_>>(), "edges": edges})
}
