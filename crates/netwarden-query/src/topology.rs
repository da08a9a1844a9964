//! The traffic graph: edges between Kubernetes identities at a chosen level.

use crate::aggregate::{metric_ordinal, metric_totals, Metric, FLOWS_COLUMN, MAX_GROUPS};
use crate::fields::field;
use crate::sql::{Scope, Sql};
use serde::{Deserialize, Serialize};

/// How coarse the graph's nodes are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    /// `K8S_Namespace`.
    Namespace,
    /// `K8S_Namespace`, `K8S_OwnerName`, `K8S_OwnerType` (a Deployment, a DaemonSet...).
    Owner,
    /// `K8S_Namespace`, `K8S_Name`.
    Pod,
    /// `K8S_HostName`.
    Node,
}

impl Level {
    /// The either-end fields naming a node; the first is the one whose absence means "no
    /// Kubernetes identity at this level".
    fn fields(self) -> &'static [&'static str] {
        match self {
            Level::Namespace => &["K8S_Namespace"],
            Level::Owner => &["K8S_OwnerName", "K8S_Namespace", "K8S_OwnerType"],
            Level::Pod => &["K8S_Name", "K8S_Namespace"],
            Level::Node => &["K8S_HostName"],
        }
    }

    /// Result columns of one end, in order (`src_` or `dst_` prefixed): the level's columns in
    /// reading order, then the address column.
    fn columns(self, end: &str) -> Vec<String> {
        let mut names: Vec<&str> = self.fields().to_vec();
        // Reading order puts the namespace first.
        names.sort_by_key(|n| *n != "K8S_Namespace");
        let mut out: Vec<String> = names.iter().map(|n| column(end, n)).collect();
        out.push(format!("{end}_addr"));
        out
    }
}

fn column(end: &str, either_name: &str) -> String {
    let prefix = if end == "src" { "Src" } else { "Dst" };
    field(&format!("{prefix}{either_name}"))
        .expect("level fields are cataloged")
        .column
        .to_string()
}

/// The heaviest `max_edges` edges between nodes of `level`.
///
/// Rows: for the source then the destination, the level's columns (namespace first) and the
/// address, then `bytes, packets, flows, drop_packets, drop_bytes, denied_flows` (UBIGINT),
/// ordered by bytes descending. `denied_flows` counts flows whose network events include a
/// message containing `Dropped` (NetObserv's wording for a policy drop).
///
/// An end without a Kubernetes identity at this level (its level key, e.g. `SrcK8S_OwnerName`
/// for Owner, is NULL: an external address, a host-network process) is a node of its own,
/// named by its address: `src_addr`/`dst_addr` holds the address only then, and is NULL for
/// identified ends, so identified pods are not split per IP. The other level columns keep
/// whatever the record has (an owner-less flow may still have a namespace).
/// `max_edges` is clamped to 1..=10000.
pub fn topology_sql(level: Level, scope: &Scope, from: &str, max_edges: u32) -> Sql {
    let mut inner = Vec::new();
    let mut keys = Vec::new();
    for end in ["src", "dst"] {
        let key = column(end, level.fields()[0]);
        for c in level.columns(end) {
            if c == format!("{end}_addr") {
                inner.push(format!(
                    "CASE WHEN {key} IS NULL THEN {end}_addr END AS {c}"
                ));
            } else {
                inner.push(c.clone());
            }
            keys.push(c);
        }
    }
    inner.extend(
        [
            "bytes",
            "packets",
            "pkt_drop_packets",
            "pkt_drop_bytes",
            FLOWS_COLUMN,
            "network_event_messages",
        ]
        .map(str::to_string),
    );
    let mut sql = Sql::default();
    sql.push("SELECT ")
        .push(&keys.join(", "))
        .push(", ")
        .push(&metric_totals());
    sql.push(", CAST(coalesce(sum(nw_flows) FILTER (WHERE contains(network_event_messages, 'Dropped')), 0) AS UBIGINT) AS denied_flows");
    sql.push(" FROM (SELECT ")
        .push(&inner.join(", "))
        .push(" FROM ")
        .push(from);
    sql.append(scope.where_clause()).push(")");
    sql.push(" GROUP BY ").push(&keys.join(", "));
    sql.push(&format!(
        " ORDER BY {} DESC",
        metric_ordinal(Metric::Bytes, keys.len())
    ));
    for k in &keys {
        sql.push(", ").push(k).push(" NULLS LAST");
    }
    sql.push(&format!(" LIMIT {}", max_edges.clamp(1, MAX_GROUPS)));
    sql
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::parse_filter;
    use crate::sql::Param::*;
    use crate::sqlcheck::check;

    const TOTALS: &str = "CAST(coalesce(sum(bytes), 0) AS UBIGINT) AS bytes, \
        CAST(coalesce(sum(packets), 0) AS UBIGINT) AS packets, CAST(coalesce(sum(nw_flows), 0) AS UBIGINT) AS flows, \
        CAST(coalesce(sum(pkt_drop_packets), 0) AS UBIGINT) AS drop_packets, \
        CAST(coalesce(sum(pkt_drop_bytes), 0) AS UBIGINT) AS drop_bytes, \
        CAST(coalesce(sum(nw_flows) FILTER (WHERE contains(network_event_messages, 'Dropped')), 0) AS UBIGINT) AS denied_flows";
    const MEASURES: &str =
        "bytes, packets, pkt_drop_packets, pkt_drop_bytes, nw_flows, network_event_messages";

    #[test]
    fn namespace_graph() {
        let filter = parse_filter("Proto=6").unwrap().unwrap();
        let scope = Scope {
            filter: Some(&filter),
            since_ms: Some(1),
            until_ms: Some(2),
        };
        let sql = topology_sql(Level::Namespace, &scope, "flows", 100);
        check(&sql);
        assert_eq!(
            sql.text,
            format!(
                "SELECT src_k8s_namespace, src_addr, dst_k8s_namespace, dst_addr, {TOTALS} \
                 FROM (SELECT src_k8s_namespace, CASE WHEN src_k8s_namespace IS NULL THEN src_addr END AS src_addr, \
                 dst_k8s_namespace, CASE WHEN dst_k8s_namespace IS NULL THEN dst_addr END AS dst_addr, {MEASURES} \
                 FROM flows WHERE time_flow_end_ms >= ? AND time_flow_end_ms < ? AND proto = ?) \
                 GROUP BY src_k8s_namespace, src_addr, dst_k8s_namespace, dst_addr \
                 ORDER BY 5 DESC, src_k8s_namespace NULLS LAST, src_addr NULLS LAST, \
                 dst_k8s_namespace NULLS LAST, dst_addr NULLS LAST LIMIT 100"
            )
        );
        assert_eq!(sql.params, [Int(1), Int(2), UInt(6)]);
    }

    #[test]
    fn level_columns() {
        let cases = [
            (
                Level::Owner,
                "SELECT src_k8s_namespace, src_k8s_owner_name, src_k8s_owner_type, src_addr, \
                 dst_k8s_namespace, dst_k8s_owner_name, dst_k8s_owner_type, dst_addr, ",
                "CASE WHEN src_k8s_owner_name IS NULL THEN src_addr END AS src_addr",
                "ORDER BY 9 DESC",
            ),
            (
                Level::Pod,
                "SELECT src_k8s_namespace, src_k8s_name, src_addr, dst_k8s_namespace, dst_k8s_name, dst_addr, ",
                "CASE WHEN dst_k8s_name IS NULL THEN dst_addr END AS dst_addr",
                "ORDER BY 7 DESC",
            ),
            (
                Level::Node,
                "SELECT src_k8s_host_name, src_addr, dst_k8s_host_name, dst_addr, ",
                "CASE WHEN src_k8s_host_name IS NULL THEN src_addr END AS src_addr",
                "ORDER BY 5 DESC",
            ),
        ];
        for (level, start, case, order) in cases {
            let sql = topology_sql(level, &Scope::default(), "flows", 0);
            check(&sql);
            assert!(sql.text.starts_with(start), "{level:?}: {}", sql.text);
            assert!(sql.text.contains(case), "{level:?}: {}", sql.text);
            assert!(sql.text.contains(order), "{level:?}: {}", sql.text);
            assert!(sql.text.ends_with(" LIMIT 1"), "{level:?}: {}", sql.text);
        }
    }

    #[test]
    fn levels_deserialize_from_snake_case() {
        let l: Level = serde_json::from_str("\"owner\"").unwrap();
        assert_eq!(l, Level::Owner);
    }
}
