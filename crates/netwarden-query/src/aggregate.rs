//! Aggregations: "top talkers" tables and time series.
//!
//! Every total is a UBIGINT (`CAST(... AS UBIGINT)`), so the store reads one integer type
//! whatever DuckDB's `sum` returns, and an empty sum reads 0, not NULL.
//!
//! Flows are counted as `sum(nw_flows)`, not `count(*)`: the store's sources give every row the
//! number of flows it stands for, 1 for a stored flow and more for a row of its rollups, so the
//! same statement runs on either.

use crate::error::QueryError;
use crate::fields::{time_field, Field, Kind};
use crate::sql::{Scope, Sql};
use serde::{Deserialize, Serialize};

/// Most groups a top table or a series may return.
pub const MAX_GROUPS: u32 = 10_000;

/// What to rank or plot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    Bytes,
    Packets,
    /// Number of flow records (the sources' `nw_flows` column).
    Flows,
    DropPackets,
    DropBytes,
}

impl Metric {
    /// The column summed.
    fn column(self) -> &'static str {
        match self {
            Metric::Bytes => "bytes",
            Metric::Packets => "packets",
            Metric::Flows => FLOWS_COLUMN,
            Metric::DropPackets => "pkt_drop_packets",
            Metric::DropBytes => "pkt_drop_bytes",
        }
    }

    /// The total as an expression over the flow columns.
    fn total(self) -> String {
        format!("CAST(coalesce(sum({}), 0) AS UBIGINT)", self.column())
    }
}

/// The column of a flow source holding the number of flows a row stands for.
pub const FLOWS_COLUMN: &str = "nw_flows";

/// The metric columns every top table and topology edge carries, in this order.
pub(crate) const METRICS: [(Metric, &str); 5] = [
    (Metric::Bytes, "bytes"),
    (Metric::Packets, "packets"),
    (Metric::Flows, "flows"),
    (Metric::DropPackets, "drop_packets"),
    (Metric::DropBytes, "drop_bytes"),
];

/// `total AS name, ...` for [`METRICS`].
pub(crate) fn metric_totals() -> String {
    METRICS
        .iter()
        .map(|(m, name)| format!("{} AS {name}", m.total()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// 1-based position of `metric` among the result columns after `groups` group columns, for
/// `ORDER BY`: positions stay unambiguous even when a group column is also called `bytes`.
pub(crate) fn metric_ordinal(metric: Metric, groups: usize) -> usize {
    groups
        + 1
        + METRICS
            .iter()
            .position(|(m, _)| *m == metric)
            .expect("listed")
}

/// The expression a field groups by, and the name of its result column (the field's
/// [`Field::text_column`], so a result column maps back to its field): an address groups by its
/// text; network events by each message (a flow with two events counts in both groups, a flow
/// without events in none).
pub(crate) fn group_expr(f: &Field) -> (String, &'static str) {
    match f.kind {
        Kind::Events { messages_column } => (
            format!("unnest(string_split({messages_column}, chr(10)))"),
            messages_column,
        ),
        _ => (f.text_column().to_string(), f.text_column()),
    }
}

/// The top `n` groups by `metric`.
///
/// Rows: one column per group field (named after its [`Field::text_column`]: `src_addr` for
/// SrcAddr, `network_event_messages` holding one message for NetworkEvents), then `bytes, packets, flows, drop_packets, drop_bytes` (UBIGINT), ordered
/// by the metric descending, ties by the group columns. With no group fields: one row of totals.
/// Repeated group fields count once; `n` is clamped to 1..=[`MAX_GROUPS`].
pub fn top_sql(group_by: &[&Field], metric: Metric, n: u32, scope: &Scope, from: &str) -> Sql {
    let mut groups: Vec<&Field> = Vec::new();
    for f in group_by {
        if !groups.iter().any(|g| g.name == f.name) {
            groups.push(f);
        }
    }
    // The inner query names group values g0, g1... so they cannot collide with the measures.
    let mut inner = Vec::new();
    let mut outer = Vec::new();
    for (i, f) in groups.iter().enumerate() {
        let (expr, name) = group_expr(f);
        inner.push(format!("{expr} AS g{i}"));
        outer.push(format!("g{i} AS {name}"));
    }
    inner.extend(METRICS.iter().map(|(m, _)| m.column().to_string()));
    outer.push(metric_totals());

    let mut sql = Sql::default();
    sql.push("SELECT ").push(&outer.join(", "));
    sql.push(" FROM (SELECT ")
        .push(&inner.join(", "))
        .push(" FROM ")
        .push(from);
    sql.append(scope.where_clause()).push(")");
    if !groups.is_empty() {
        let keys: Vec<String> = (0..groups.len()).map(|i| format!("g{i}")).collect();
        sql.push(" GROUP BY ").push(&keys.join(", "));
        sql.push(&format!(
            " ORDER BY {} DESC",
            metric_ordinal(metric, groups.len())
        ));
        for k in &keys {
            sql.push(", ").push(k).push(" NULLS LAST");
        }
        sql.push(&format!(" LIMIT {}", n.clamp(1, MAX_GROUPS)));
    }
    sql
}

/// A time series of `metric` in buckets of `step_ms`, optionally split by one field.
///
/// Rows: `bucket_ms` (BIGINT, the bucket's start: `TimeFlowEndMs // step * step`), then with a
/// group field its value (named as in [`top_sql`]), then `value` (UBIGINT); ordered by bucket,
/// then value descending. When split, only the `top_groups` groups with the largest total over
/// the whole scope appear (clamped to 1..=[`MAX_GROUPS`]); the rest are left out, not lumped
/// together, because "other" would be indistinguishable from a NULL group. Empty buckets are
/// absent (the caller fills gaps).
pub fn series_sql(
    step_ms: i64,
    metric: Metric,
    group_by: Option<&Field>,
    top_groups: u32,
    scope: &Scope,
    from: &str,
) -> Result<Sql, QueryError> {
    if step_ms < 1 {
        return Err(QueryError::Step(step_ms));
    }
    let bucket = format!("({} // {step_ms}) * {step_ms}", time_field().column);
    let mut sql = Sql::default();
    let Some(f) = group_by else {
        sql.push(&format!(
            "SELECT {bucket} AS bucket_ms, {} AS value FROM ",
            metric.total()
        ));
        sql.push(from).append(scope.where_clause());
        sql.push(" GROUP BY bucket_ms ORDER BY bucket_ms");
        return Ok(sql);
    };
    let (expr, name) = group_expr(f);
    let measure = metric.column();
    let total = "CAST(coalesce(sum(measure), 0) AS UBIGINT)";
    sql.push(&format!(
        "WITH scoped AS (SELECT {bucket} AS bucket_ms, {expr} AS grp, {measure} AS measure FROM "
    ));
    sql.push(from).append(scope.where_clause());
    sql.push(&format!(
        "), top_groups AS (SELECT grp FROM scoped GROUP BY grp ORDER BY {total} DESC, grp NULLS LAST LIMIT {})",
        top_groups.clamp(1, MAX_GROUPS)
    ));
    sql.push(&format!(
        " SELECT s.bucket_ms, s.grp AS {name}, {} AS value FROM scoped s JOIN top_groups t ON s.grp IS NOT DISTINCT FROM t.grp GROUP BY s.bucket_ms, s.grp ORDER BY s.bucket_ms, value DESC, s.grp NULLS LAST",
        total.replace("measure", "s.measure")
    ));
    Ok(sql)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fields::field;
    use crate::parse::parse_filter;
    use crate::sql::Param::*;
    use crate::sqlcheck::check;

    const TOTALS: &str = "CAST(coalesce(sum(bytes), 0) AS UBIGINT) AS bytes, \
        CAST(coalesce(sum(packets), 0) AS UBIGINT) AS packets, CAST(coalesce(sum(nw_flows), 0) AS UBIGINT) AS flows, \
        CAST(coalesce(sum(pkt_drop_packets), 0) AS UBIGINT) AS drop_packets, \
        CAST(coalesce(sum(pkt_drop_bytes), 0) AS UBIGINT) AS drop_bytes";
    const MEASURES: &str = "bytes, packets, nw_flows, pkt_drop_packets, pkt_drop_bytes";

    fn f(name: &str) -> &'static Field {
        field(name).unwrap()
    }

    #[test]
    fn top_namespace_pairs() {
        let filter = parse_filter("Proto=6").unwrap().unwrap();
        let scope = Scope {
            filter: Some(&filter),
            since_ms: Some(7),
            until_ms: None,
        };
        let groups = [
            f("SrcK8S_Namespace"),
            f("DstK8S_Namespace"),
            f("SrcK8S_Namespace"),
        ];
        let sql = top_sql(&groups, Metric::Bytes, 10, &scope, "flows");
        check(&sql);
        assert_eq!(
            sql.text,
            format!(
                "SELECT g0 AS src_k8s_namespace, g1 AS dst_k8s_namespace, {TOTALS} \
                 FROM (SELECT src_k8s_namespace AS g0, dst_k8s_namespace AS g1, {MEASURES} \
                 FROM flows WHERE time_flow_end_ms >= ? AND proto = ?) \
                 GROUP BY g0, g1 ORDER BY 3 DESC, g0 NULLS LAST, g1 NULLS LAST LIMIT 10"
            )
        );
        assert_eq!(sql.params, [Int(7), UInt(6)]);
    }

    #[test]
    fn top_metric_picks_the_order_column() {
        let cases = [
            (Metric::Bytes, "ORDER BY 2 DESC"),
            (Metric::Packets, "ORDER BY 3 DESC"),
            (Metric::Flows, "ORDER BY 4 DESC"),
            (Metric::DropPackets, "ORDER BY 5 DESC"),
            (Metric::DropBytes, "ORDER BY 6 DESC"),
        ];
        for (metric, order) in cases {
            let sql = top_sql(&[f("DstPort")], metric, 5, &Scope::default(), "flows");
            check(&sql);
            assert!(sql.text.contains(order), "{metric:?}: {}", sql.text);
        }
    }

    #[test]
    fn top_addresses_events_and_totals() {
        let sql = top_sql(
            &[f("SrcAddr"), f("Bytes")],
            Metric::Packets,
            0,
            &Scope::default(),
            "flows",
        );
        check(&sql);
        assert_eq!(
            sql.text,
            format!(
                "SELECT g0 AS src_addr, g1 AS bytes, {TOTALS} \
                 FROM (SELECT src_addr AS g0, bytes AS g1, {MEASURES} FROM flows) \
                 GROUP BY g0, g1 ORDER BY 4 DESC, g0 NULLS LAST, g1 NULLS LAST LIMIT 1"
            )
        );

        let sql = top_sql(
            &[f("NetworkEvents")],
            Metric::Flows,
            50_000,
            &Scope::default(),
            "flows",
        );
        check(&sql);
        assert_eq!(
            sql.text,
            format!(
                "SELECT g0 AS network_event_messages, {TOTALS} \
                 FROM (SELECT unnest(string_split(network_event_messages, chr(10))) AS g0, {MEASURES} FROM flows) \
                 GROUP BY g0 ORDER BY 4 DESC, g0 NULLS LAST LIMIT 10000"
            )
        );

        let sql = top_sql(&[], Metric::Bytes, 10, &Scope::default(), "flows");
        check(&sql);
        assert_eq!(
            sql.text,
            format!("SELECT {TOTALS} FROM (SELECT {MEASURES} FROM flows)")
        );
    }

    #[test]
    fn series_without_groups() {
        let scope = Scope {
            since_ms: Some(0),
            until_ms: Some(3_600_000),
            ..Default::default()
        };
        let sql = series_sql(60_000, Metric::Bytes, None, 5, &scope, "flows").unwrap();
        check(&sql);
        assert_eq!(
            sql.text,
            "SELECT (time_flow_end_ms // 60000) * 60000 AS bucket_ms, \
             CAST(coalesce(sum(bytes), 0) AS UBIGINT) AS value FROM flows \
             WHERE time_flow_end_ms >= ? AND time_flow_end_ms < ? \
             GROUP BY bucket_ms ORDER BY bucket_ms"
        );
        assert_eq!(sql.params, [Int(0), Int(3_600_000)]);
        let sql = series_sql(1_000, Metric::Flows, None, 5, &Scope::default(), "flows").unwrap();
        check(&sql);
        assert_eq!(
            sql.text,
            "SELECT (time_flow_end_ms // 1000) * 1000 AS bucket_ms, CAST(coalesce(sum(nw_flows), 0) AS UBIGINT) AS value \
             FROM flows GROUP BY bucket_ms ORDER BY bucket_ms"
        );
    }

    #[test]
    fn series_split_by_top_groups() {
        let filter = parse_filter(r#"K8S_Namespace="iperf""#).unwrap().unwrap();
        let scope = Scope {
            filter: Some(&filter),
            ..Default::default()
        };
        let sql = series_sql(
            60_000,
            Metric::DropPackets,
            Some(f("DstK8S_Namespace")),
            5,
            &scope,
            "flows",
        )
        .unwrap();
        check(&sql);
        assert_eq!(
            sql.text,
            "WITH scoped AS (SELECT (time_flow_end_ms // 60000) * 60000 AS bucket_ms, dst_k8s_namespace AS grp, \
             pkt_drop_packets AS measure FROM flows WHERE (src_k8s_namespace = ? OR dst_k8s_namespace = ?)), \
             top_groups AS (SELECT grp FROM scoped GROUP BY grp \
             ORDER BY CAST(coalesce(sum(measure), 0) AS UBIGINT) DESC, grp NULLS LAST LIMIT 5) \
             SELECT s.bucket_ms, s.grp AS dst_k8s_namespace, CAST(coalesce(sum(s.measure), 0) AS UBIGINT) AS value \
             FROM scoped s JOIN top_groups t ON s.grp IS NOT DISTINCT FROM t.grp \
             GROUP BY s.bucket_ms, s.grp ORDER BY s.bucket_ms, value DESC, s.grp NULLS LAST"
        );
        assert_eq!(sql.params, [Text("iperf".into()), Text("iperf".into())]);

        let sql = series_sql(
            10,
            Metric::Flows,
            Some(f("NetworkEvents")),
            0,
            &Scope::default(),
            "flows",
        )
        .unwrap();
        check(&sql);
        assert!(sql.text.starts_with(
            "WITH scoped AS (SELECT (time_flow_end_ms // 10) * 10 AS bucket_ms, \
             unnest(string_split(network_event_messages, chr(10))) AS grp, nw_flows AS measure FROM flows), "
        ));
        assert!(sql.text.contains("LIMIT 1)"));
        assert!(sql.text.contains("s.grp AS network_event_messages,"));
    }

    #[test]
    fn series_step_must_be_positive() {
        for step in [0, -1, i64::MIN] {
            assert_eq!(
                series_sql(step, Metric::Bytes, None, 5, &Scope::default(), "flows"),
                Err(QueryError::Step(step))
            );
        }
    }

    #[test]
    fn metrics_deserialize_from_snake_case() {
        let m: Metric = serde_json::from_str("\"drop_packets\"").unwrap();
        assert_eq!(m, Metric::DropPackets);
    }
}
