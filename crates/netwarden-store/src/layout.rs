//! The tables behind the catalog, and the flow sources statements read.
//!
//! Flows are stored narrow: a fact table per hour holds numbers only (Kubernetes identities,
//! interfaces and network events as ids; the addresses of ends without a Kubernetes name as two
//! UBIGINT halves), and dimension tables hold what repeats from flow to flow (a pod's identity
//! and address, a set of network events) once. Appending
//! numbers is several times cheaper than appending text, and ids compress to a byte or two.
//! A per-minute rollup per hour sums flows by workload pair, port, protocol, network events and
//! drop cause, so dashboards over hours read thousands of rows instead of millions.
//!
//! Statements are compiled against the catalog's columns ([`netwarden_query::fields`]) with
//! [`SOURCE`] as their FROM; [`raw_source`] and [`rollup_source`] give those columns back, joining
//! only the dimensions the statement names (DuckDB does not drop unused joins on its own).

use std::collections::HashSet;

/// The placeholder FROM source statements are compiled with.
pub const SOURCE: &str = "nw_flow_source";

/// The fact table's columns, in table order (the Arrow batches of [`crate::batch`] follow it).
pub const FACT_COLUMNS: &[(&str, &str)] = &[
    ("time_received", "BIGINT NOT NULL"),
    ("time_flow_start_ms", "BIGINT NOT NULL"),
    ("time_flow_end_ms", "BIGINT NOT NULL"),
    ("src_ip_hi", "UBIGINT"),
    ("src_ip_lo", "UBIGINT"),
    ("dst_ip_hi", "UBIGINT"),
    ("dst_ip_lo", "UBIGINT"),
    ("src_port", "INTEGER"),
    ("dst_port", "INTEGER"),
    ("proto", "UTINYINT NOT NULL"),
    ("etype", "USMALLINT NOT NULL"),
    ("icmp_type", "UTINYINT"),
    ("icmp_code", "UTINYINT"),
    ("bytes", "UBIGINT NOT NULL"),
    ("packets", "UBIGINT NOT NULL"),
    ("flags", "USMALLINT"),
    ("dscp", "UTINYINT NOT NULL"),
    ("sampling", "UINTEGER NOT NULL"),
    ("pkt_drop_packets", "UBIGINT"),
    ("pkt_drop_bytes", "UBIGINT"),
    ("pkt_drop_latest_drop_cause", "VARCHAR"),
    ("pkt_drop_latest_state", "VARCHAR"),
    ("pkt_drop_latest_flags", "USMALLINT"),
    ("dns_id", "USMALLINT"),
    ("dns_flags", "USMALLINT"),
    ("dns_flags_response_code", "VARCHAR"),
    ("dns_latency_ms", "DOUBLE"),
    ("dns_name", "VARCHAR"),
    ("time_flow_rtt_ns", "UBIGINT"),
    ("src_wl", "UINTEGER NOT NULL"),
    ("dst_wl", "UINTEGER NOT NULL"),
    ("src_ep", "UINTEGER NOT NULL"),
    ("dst_ep", "UINTEGER NOT NULL"),
    ("ctx", "UINTEGER NOT NULL"),
    ("events", "UINTEGER NOT NULL"),
];

/// The rollup table's columns: the minute, the keys, then the sums.
pub const ROLLUP_COLUMNS: &[(&str, &str)] = &[
    ("minute_ms", "BIGINT NOT NULL"),
    ("src_wl", "UINTEGER NOT NULL"),
    ("dst_wl", "UINTEGER NOT NULL"),
    ("events", "UINTEGER NOT NULL"),
    ("proto", "UTINYINT NOT NULL"),
    ("dst_port", "INTEGER"),
    ("pkt_drop_latest_drop_cause", "VARCHAR"),
    ("bytes", "UBIGINT NOT NULL"),
    ("packets", "UBIGINT NOT NULL"),
    ("pkt_drop_packets", "UBIGINT NOT NULL"),
    ("pkt_drop_bytes", "UBIGINT NOT NULL"),
    ("flows", "UBIGINT NOT NULL"),
];

/// The catalog fields a rollup answers for: a top table or series grouping and filtering on these
/// only (and with whole minutes as buckets) reads the rollups.
pub const ROLLUP_FIELDS: &[&str] = &[
    "SrcK8S_Namespace",
    "SrcK8S_OwnerName",
    "SrcK8S_OwnerType",
    "DstK8S_Namespace",
    "DstK8S_OwnerName",
    "DstK8S_OwnerType",
    "NetworkEvents",
    "Proto",
    "DstPort",
    "PktDropLatestDropCause",
];

/// A dimension table: `id` then `columns`; fact (and rollup) columns `refs` hold its ids.
#[derive(Debug)]
pub struct Dim {
    pub table: &'static str,
    pub columns: &'static [(&'static str, &'static str)],
    /// The id columns referring to it, each with the prefix that turns a dimension column into
    /// the catalog's column (`src_` + `k8s_namespace`).
    pub refs: &'static [(&'static str, &'static str)],
    /// Whether the rollups refer to it too.
    pub in_rollups: bool,
}

pub const WORKLOADS: Dim = Dim {
    table: "nw_workloads",
    columns: &[
        ("k8s_namespace", "VARCHAR"),
        ("k8s_owner_name", "VARCHAR"),
        ("k8s_owner_type", "VARCHAR"),
    ],
    refs: &[("src_wl", "src_"), ("dst_wl", "dst_")],
    in_rollups: true,
};

pub const ENDPOINTS: Dim = Dim {
    table: "nw_endpoints",
    columns: &[
        ("ep_ip", "UHUGEINT"),
        ("mac", "VARCHAR"),
        ("k8s_name", "VARCHAR"),
        ("k8s_type", "VARCHAR"),
        ("k8s_host_ip", "UHUGEINT"),
        ("k8s_host_addr", "VARCHAR"),
        ("k8s_host_name", "VARCHAR"),
        ("k8s_network_name", "VARCHAR"),
    ],
    refs: &[("src_ep", "src_"), ("dst_ep", "dst_")],
    in_rollups: false,
};

pub const CONTEXTS: Dim = Dim {
    table: "nw_contexts",
    columns: &[
        ("interfaces", "VARCHAR NOT NULL"),
        ("if_directions", "VARCHAR NOT NULL"),
        ("agent_ip", "UHUGEINT"),
        ("agent_addr", "VARCHAR"),
        ("k8s_flow_layer", "VARCHAR"),
    ],
    refs: &[("ctx", "")],
    in_rollups: false,
};

pub const EVENTS: Dim = Dim {
    table: "nw_events",
    columns: &[
        ("network_events", "VARCHAR"),
        ("network_event_messages", "VARCHAR"),
    ],
    refs: &[("events", "")],
    in_rollups: true,
};

pub const DIMS: [&Dim; 4] = [&WORKLOADS, &ENDPOINTS, &CONTEXTS, &EVENTS];

/// The catalog's address columns (key, text) of each end, made from the fact's halves or, for an
/// end with a Kubernetes name, its endpoint's address (`<end>_ep_ip`).
const FACT_ADDRS: [(&str, &str, &str); 2] = [
    ("src_ip", "src_addr", "src_ep_ip"),
    ("dst_ip", "dst_addr", "dst_ep_ip"),
];

/// `nw_addr_text(key)`: an address key as text (IPv4 dotted, IPv6 with its first run of zero
/// groups as `::`), for regexes and groupings in SQL; rows shown to users are re-printed by Rust.
pub const ADDR_TEXT_MACRO: &str = "CREATE OR REPLACE MACRO nw_addr_text(k) AS CASE \
    WHEN k IS NULL THEN NULL \
    WHEN k >> 32 = 65535 THEN concat_ws('.', (k >> 24) & 255, (k >> 16) & 255, (k >> 8) & 255, k & 255) \
    ELSE regexp_replace(concat_ws(':', \
        printf('%x', (k >> 112) & 65535), printf('%x', (k >> 96) & 65535), \
        printf('%x', (k >> 80) & 65535), printf('%x', (k >> 64) & 65535), \
        printf('%x', (k >> 48) & 65535), printf('%x', (k >> 32) & 65535), \
        printf('%x', (k >> 16) & 65535), printf('%x', k & 65535)), \
        '(^|:)0(:0)+(:|$)', '::') END";

/// `CREATE TABLE IF NOT EXISTS <table> (...)` (`table` is built by the store, never typed).
pub fn create_sql(table: &str, columns: &[(&str, &str)]) -> String {
    let body: Vec<String> = columns.iter().map(|(c, t)| format!("{c} {t}")).collect();
    format!("CREATE TABLE IF NOT EXISTS {table} ({})", body.join(", "))
}

/// The DDL of a dimension table.
pub fn create_dim_sql(dim: &Dim) -> String {
    let mut columns = vec![("id", "UINTEGER NOT NULL")];
    columns.extend_from_slice(dim.columns);
    create_sql(dim.table, &columns)
}

/// The identifiers (`[A-Za-z_][A-Za-z0-9_]*` words) of a statement. Only used to decide which
/// joins a source needs: a word that is really inside a string literal costs a join, nothing more.
pub fn identifiers(sql: &str) -> HashSet<&str> {
    let mut out = HashSet::new();
    let bytes = sql.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b.is_ascii_alphabetic() || b == b'_' {
            let start = i;
            while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                i += 1;
            }
            out.insert(&sql[start..i]);
        } else {
            i += 1;
        }
    }
    out
}

/// `(SELECT * FROM a UNION ALL SELECT * FROM b)`, or the one table, with `columns` as projection.
fn union(tables: &[String], columns: &str, filter: &str) -> String {
    let parts: Vec<String> = tables
        .iter()
        .map(|t| format!("SELECT {columns} FROM {t}{filter}"))
        .collect();
    parts.join(" UNION ALL ")
}

/// The key expression of an end's address: the fact's halves, else its endpoint's address.
fn addr_key_expr(key: &str, endpoint_ip: &str) -> String {
    format!("coalesce((CAST(f.{key}_hi AS UHUGEINT) << 64) | f.{key}_lo, {endpoint_ip})")
}

/// The dimension columns `used` names, as `select` items, and the joins they need.
fn dims_for(used: &HashSet<&str>, alias: &str, rollup: bool) -> (Vec<String>, Vec<String>) {
    let mut items = Vec::new();
    let mut joins = Vec::new();
    for dim in DIMS {
        if rollup && !dim.in_rollups {
            continue;
        }
        for (id_column, prefix) in dim.refs {
            let wanted: Vec<(&str, String)> = dim
                .columns
                .iter()
                .map(|(c, _)| (*c, format!("{prefix}{c}")))
                .filter(|(_, name)| used.contains(name.as_str()))
                .collect();
            if wanted.is_empty() {
                continue;
            }
            let d = format!("d_{id_column}");
            for (c, name) in wanted {
                items.push(format!("{d}.{c} AS {name}"));
            }
            joins.push(format!(
                " LEFT JOIN {} {d} ON {alias}.{id_column} = {d}.id",
                dim.table
            ));
        }
    }
    (items, joins)
}

/// Every stored flow of `tables` (fact partitions; `empty` when there are none), with the
/// catalog's columns `sql` uses and `nw_flows` = 1.
pub fn raw_source(tables: &[String], empty: &str, sql: &str) -> String {
    let from = match tables {
        [] => empty.to_string(),
        [one] => one.clone(),
        many => format!("({})", union(many, "*", "")),
    };
    raw_source_over(&from, sql)
}

/// The flows of `relation` (a table or a parenthesized query with the fact table's columns),
/// with the catalog's columns `sql` uses and `nw_flows` = 1.
pub fn raw_source_over(relation: &str, sql: &str) -> String {
    let mut used = identifiers(sql);
    for (key, text, endpoint_ip) in FACT_ADDRS {
        if used.contains(key) || used.contains(text) {
            used.insert(endpoint_ip);
        }
    }
    let mut items = vec!["f.*".to_string(), "1 AS nw_flows".to_string()];
    let (dim_items, joins) = dims_for(&used, "f", false);
    items.extend(dim_items);
    for (key, text, endpoint_ip) in FACT_ADDRS {
        // `src_ep_ip` is joined as `d_src_ep.ep_ip`.
        let expr = addr_key_expr(key, &format!("d_{}.ep_ip", &endpoint_ip[..6]));
        if used.contains(key) || used.contains(text) {
            items.push(format!("{expr} AS {key}"));
        }
        if used.contains(text) {
            items.push(format!("nw_addr_text({expr}) AS {text}"));
        }
    }
    format!(
        "(SELECT {} FROM {relation} f{})",
        items.join(", "),
        joins.concat()
    )
}

/// Time bounds of a rollup read: whole minutes `[first, end)` come from the rollups, the partial
/// minutes at either end of `[since, until)` from the facts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RollupRange {
    pub since_ms: Option<i64>,
    pub until_ms: Option<i64>,
}

const MINUTE_MS: i64 = 60_000;

impl RollupRange {
    /// The first whole minute (since rounded up) and the end of the last (until rounded down).
    fn whole_minutes(&self) -> (Option<i64>, Option<i64>) {
        let first = self.since_ms.map(|s| {
            s.div_euclid(MINUTE_MS) * MINUTE_MS
                + if s.rem_euclid(MINUTE_MS) > 0 {
                    MINUTE_MS
                } else {
                    0
                }
        });
        let end = self.until_ms.map(|u| u.div_euclid(MINUTE_MS) * MINUTE_MS);
        (first, end)
    }

    /// Whether there is at least one whole minute to read from rollups.
    pub fn has_whole_minute(&self) -> bool {
        match self.whole_minutes() {
            (Some(f), Some(e)) => f < e,
            _ => true,
        }
    }
}

/// Flows of `range` as rollup rows (whole minutes from `rollups`, the edges from `facts`), with the
/// catalog's columns `sql` uses: the rollup keys, `time_flow_end_ms` (a minute's start for a
/// rollup row), the summed metrics and `nw_flows`. Only statements whose filter and groups use
/// [`ROLLUP_FIELDS`] may read it, and only over at least one partition (`rollups` not empty).
pub fn rollup_source(
    rollups: &[String],
    facts: &[String],
    range: RollupRange,
    sql: &str,
) -> String {
    let used = identifiers(sql);
    let (first, end) = range.whole_minutes();
    let mut minute_filter = Vec::new();
    if let Some(f) = first {
        minute_filter.push(format!("minute_ms >= {f}"));
    }
    if let Some(e) = end {
        minute_filter.push(format!("minute_ms < {e}"));
    }
    let where_minutes = if minute_filter.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", minute_filter.join(" AND "))
    };
    let keys = "src_wl, dst_wl, events, proto, dst_port, pkt_drop_latest_drop_cause";
    debug_assert!(!rollups.is_empty(), "a rollup source needs a partition");
    let mut parts = vec![union(
        rollups,
        &format!("minute_ms AS time_flow_end_ms, {keys}, bytes, packets, pkt_drop_packets, pkt_drop_bytes, flows AS nw_flows"),
        &where_minutes,
    )];
    // The partial minutes at the edges, straight from the facts.
    let fact_columns = format!("time_flow_end_ms, {keys}, bytes, packets, coalesce(pkt_drop_packets, 0) AS pkt_drop_packets, coalesce(pkt_drop_bytes, 0) AS pkt_drop_bytes, CAST(1 AS UBIGINT) AS nw_flows");
    let mut edges = Vec::new();
    if let (Some(s), Some(f)) = (range.since_ms, first) {
        if s < f {
            edges.push(format!(
                "time_flow_end_ms >= {s} AND time_flow_end_ms < {f}"
            ));
        }
    }
    if let (Some(e), Some(u)) = (end, range.until_ms) {
        if e < u {
            edges.push(format!(
                "time_flow_end_ms >= {e} AND time_flow_end_ms < {u}"
            ));
        }
    }
    if !edges.is_empty() && !facts.is_empty() {
        let filter = format!(" WHERE ({})", edges.join(") OR ("));
        parts.push(union(facts, &fact_columns, &filter));
    }
    let mut items = vec!["r.*".to_string()];
    let (dim_items, joins) = dims_for(&used, "r", true);
    items.extend(dim_items);
    format!(
        "(SELECT {} FROM ({}) r{})",
        items.join(", "),
        parts.join(" UNION ALL "),
        joins.concat()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use netwarden_query::fields::fields;

    /// Every catalog column is a fact column, a derived address column, or a dimension column.
    #[test]
    fn every_catalog_column_has_a_home() {
        let fact: HashSet<&str> = FACT_COLUMNS.iter().map(|(c, _)| *c).collect();
        let mut dim_columns = HashSet::new();
        for dim in DIMS {
            for (_, prefix) in dim.refs {
                for (c, _) in dim.columns {
                    dim_columns.insert(format!("{prefix}{c}"));
                }
            }
        }
        for f in fields() {
            for (c, _) in f.columns() {
                let derived = FACT_ADDRS.iter().any(|(k, t, _)| *k == c || *t == c);
                assert!(
                    fact.contains(c) || derived || dim_columns.contains(c),
                    "{} ({c}) is stored nowhere",
                    f.name
                );
            }
        }
        for name in ROLLUP_FIELDS {
            assert!(netwarden_query::field(name).is_some(), "{name}");
        }
    }

    #[test]
    fn identifiers_are_words() {
        let ids = identifiers("SELECT src_k8s_namespace, sum(bytes) FROM x WHERE a1 = ?");
        for w in [
            "SELECT",
            "src_k8s_namespace",
            "sum",
            "bytes",
            "FROM",
            "x",
            "a1",
        ] {
            assert!(ids.contains(w), "{w}");
        }
        assert!(!ids.contains("1"));
    }

    #[test]
    fn raw_sources_join_only_what_is_used() {
        let tables = ["flows_h1".to_string()];
        assert_eq!(
            raw_source(&tables, "e", "SELECT sum(bytes) FROM nw_flow_source"),
            "(SELECT f.*, 1 AS nw_flows FROM flows_h1 f)"
        );
        let s = raw_source(&tables, "e", "SELECT src_k8s_namespace, dst_addr FROM x");
        let dst = "coalesce((CAST(f.dst_ip_hi AS UHUGEINT) << 64) | f.dst_ip_lo, d_dst_ep.ep_ip)";
        assert_eq!(
            s,
            format!(
                "(SELECT f.*, 1 AS nw_flows, \
                 d_src_wl.k8s_namespace AS src_k8s_namespace, d_dst_ep.ep_ip AS dst_ep_ip, \
                 {dst} AS dst_ip, nw_addr_text({dst}) AS dst_addr \
                 FROM flows_h1 f LEFT JOIN nw_workloads d_src_wl ON f.src_wl = d_src_wl.id \
                 LEFT JOIN nw_endpoints d_dst_ep ON f.dst_ep = d_dst_ep.id)"
            )
        );
        let two = ["flows_h1".to_string(), "flows_h2".to_string()];
        assert!(raw_source(&two, "e", "x")
            .contains("FROM (SELECT * FROM flows_h1 UNION ALL SELECT * FROM flows_h2) f"));
        assert!(raw_source(&[], "flows_empty", "x").contains("FROM flows_empty f"));
    }

    #[test]
    fn rollup_sources_read_whole_minutes_and_the_edges() {
        let range = RollupRange {
            since_ms: Some(90_000),
            until_ms: Some(300_500),
        };
        assert!(range.has_whole_minute());
        let s = rollup_source(
            &["rollup_h0".into()],
            &["flows_h0".into()],
            range,
            "SELECT dst_k8s_owner_name FROM x",
        );
        assert!(
            s.contains("FROM rollup_h0 WHERE minute_ms >= 120000 AND minute_ms < 300000"),
            "{s}"
        );
        assert!(s.contains("WHERE (time_flow_end_ms >= 90000 AND time_flow_end_ms < 120000) OR (time_flow_end_ms >= 300000 AND time_flow_end_ms < 300500)"), "{s}");
        assert!(
            s.contains("LEFT JOIN nw_workloads d_dst_wl ON r.dst_wl = d_dst_wl.id"),
            "{s}"
        );
        // Aligned bounds read no facts.
        let aligned = RollupRange {
            since_ms: Some(120_000),
            until_ms: Some(180_000),
        };
        assert!(
            !rollup_source(&["rollup_h0".into()], &["flows_h0".into()], aligned, "x")
                .contains("flows_h0")
        );
        // Within one minute there is nothing whole to read.
        let short = RollupRange {
            since_ms: Some(61_000),
            until_ms: Some(119_000),
        };
        assert!(!short.has_whole_minute());
    }
}
