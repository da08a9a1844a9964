//! Listing flows: one row per stored flow, filtered, sorted and paged.

use crate::ast::Expr;
use crate::error::ParseError;
use crate::fields::{field, fields, time_field, Field, Kind};
use crate::sql::{Scope, Sql};
use crate::suggest::closest_field;

/// Most rows one page may hold.
pub const MAX_LIMIT: u32 = 10_000;

/// One sort criterion. Holding a catalog entry (not a name) means only known columns can be
/// printed into `ORDER BY`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SortKey {
    /// The field sorted on (an address sorts by its key, i.e. numerically).
    pub field: &'static Field,
    /// Largest first.
    pub descending: bool,
}

impl SortKey {
    /// `Bytes`, `-Bytes` (descending), `Bytes desc`, `Bytes:desc`, `Bytes asc`, `Bytes:asc`;
    /// field names in any case.
    pub fn parse(text: &str) -> Result<SortKey, ParseError> {
        let mut words = words(text);
        if let Some(&(pos, first)) = words.first() {
            if let Some((name, direction)) = first.split_once(':') {
                let at = pos + name.chars().count() + 1;
                words.splice(0..1, [(pos, name), (at, direction)]);
            }
        }
        let (pos, first) = match words.as_slice() {
            [] => return Err(ParseError::new(0, "", "expected a field name to sort by")),
            [_, _, (pos, extra), ..] => {
                return Err(ParseError::new(
                    *pos,
                    *extra,
                    "expected nothing after asc or desc",
                ))
            }
            [first, ..] => *first,
        };
        let (pos, name, minus) = match first.strip_prefix('-') {
            Some(rest) => (pos + 1, rest, true),
            None => (pos, first, false),
        };
        let f = field(name).ok_or_else(|| {
            let message = match closest_field(name) {
                Some(s) if field(s).is_some() => format!("unknown field; did you mean {s}?"),
                _ => "unknown field".to_string(),
            };
            ParseError::new(pos, name, message)
        })?;
        let descending = match words.get(1) {
            None => minus,
            Some((pos, "")) => return Err(ParseError::new(*pos, "", "expected asc or desc")),
            Some((_, d)) if d.eq_ignore_ascii_case("desc") => true,
            Some((_, d)) if d.eq_ignore_ascii_case("asc") && !minus => false,
            Some((pos, d)) => return Err(ParseError::new(*pos, *d, "expected asc or desc")),
        };
        Ok(SortKey {
            field: f,
            descending,
        })
    }
}

/// Whitespace-separated words with their character offsets.
fn words(text: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, (byte, c)) in text.char_indices().chain([(text.len(), ' ')]).enumerate() {
        match (c.is_whitespace(), start) {
            (false, None) => start = Some((i, byte)),
            (true, Some((pos, from))) => {
                out.push((pos, &text[from..byte]));
                start = None;
            }
            _ => {}
        }
    }
    out
}

/// A page of flows.
#[derive(Debug, Clone, PartialEq)]
pub struct FlowQuery {
    /// Only flows matching this filter; `None`: every flow.
    pub filter: Option<Expr>,
    /// Inclusive lower bound on `TimeFlowEndMs`.
    pub since_ms: Option<i64>,
    /// Exclusive upper bound on `TimeFlowEndMs`.
    pub until_ms: Option<i64>,
    /// Sort criteria, first wins; empty means newest first (`TimeFlowEndMs` descending).
    pub sort: Vec<SortKey>,
    /// Rows per page, at most [`MAX_LIMIT`] (larger values are clamped).
    pub limit: u32,
    /// Rows skipped before the page.
    pub offset: u64,
}

impl Default for FlowQuery {
    fn default() -> Self {
        FlowQuery {
            filter: None,
            since_ms: None,
            until_ms: None,
            sort: Vec::new(),
            limit: 100,
            offset: 0,
        }
    }
}

impl FlowQuery {
    /// The flows this query covers, for count and aggregation queries.
    pub fn scope(&self) -> Scope<'_> {
        Scope {
            filter: self.filter.as_ref(),
            since_ms: self.since_ms,
            until_ms: self.until_ms,
        }
    }
}

/// The page of flows: one column per field in [`fields()`] order, each field's display column
/// (an address as text, network events as their JSON), so row `i`, column `j` is field `j`.
///
/// Sorting by an address sorts numerically (by its key), NULLs come last either way.
/// `from` is a trusted FROM source built by the store: a table name or a parenthesized query.
pub fn flows_sql(q: &FlowQuery, from: &str) -> Sql {
    let columns: Vec<&str> = fields().iter().map(|f| f.display_column()).collect();
    flows_sql_selecting(q, from, &columns)
}

/// The page of flows as [`flows_sql`] picks it, with `columns` of `from` as its columns (the
/// store pages over its own columns, then looks up what rows show for that page only).
pub fn flows_sql_selecting(q: &FlowQuery, from: &str, columns: &[&str]) -> Sql {
    let mut sql = Sql::default();
    sql.push("SELECT ")
        .push(&columns.join(", "))
        .push(" FROM ")
        .push(from);
    sql.append(q.scope().where_clause());
    let default_sort = [SortKey {
        field: time_field(),
        descending: true,
    }];
    let sort = if q.sort.is_empty() {
        &default_sort[..]
    } else {
        &q.sort[..]
    };
    sql.push(" ORDER BY ");
    for (i, key) in sort.iter().enumerate() {
        if i > 0 {
            sql.push(", ");
        }
        let column = match key.field.kind {
            Kind::Addr { .. } => key.field.column,
            _ => key.field.display_column(),
        };
        sql.push(column)
            .push(if key.descending { " DESC" } else { " ASC" })
            .push(" NULLS LAST");
    }
    let limit = q.limit.min(MAX_LIMIT);
    sql.push(&format!(" LIMIT {limit} OFFSET {}", q.offset));
    sql
}

/// How many flows the query covers (ignoring sort and paging): one row, one BIGINT column.
pub fn count_sql(q: &FlowQuery, from: &str) -> Sql {
    let mut sql = Sql::default();
    sql.push("SELECT count(*) AS flows FROM ").push(from);
    sql.append(q.scope().where_clause());
    sql
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::parse_filter;
    use crate::sql::Param::*;
    use crate::sqlcheck::check;

    const COLUMNS: &str = "time_received, time_flow_start_ms, time_flow_end_ms, src_addr, dst_addr, \
        src_port, dst_port, proto, etype, icmp_type, icmp_code, src_mac, dst_mac, bytes, packets, flags, \
        dscp, interfaces, if_directions, sampling, agent_addr, pkt_drop_packets, pkt_drop_bytes, \
        pkt_drop_latest_drop_cause, pkt_drop_latest_state, pkt_drop_latest_flags, dns_id, dns_flags, \
        dns_flags_response_code, dns_latency_ms, dns_name, time_flow_rtt_ns, network_events, \
        src_k8s_namespace, src_k8s_name, src_k8s_type, src_k8s_owner_name, src_k8s_owner_type, \
        src_k8s_host_addr, src_k8s_host_name, src_k8s_network_name, dst_k8s_namespace, dst_k8s_name, \
        dst_k8s_type, dst_k8s_owner_name, dst_k8s_owner_type, dst_k8s_host_addr, dst_k8s_host_name, \
        dst_k8s_network_name, k8s_flow_layer";

    fn key(name: &str, descending: bool) -> SortKey {
        SortKey {
            field: field(name).unwrap(),
            descending,
        }
    }

    #[test]
    fn default_page_is_newest_first() {
        let sql = flows_sql(&FlowQuery::default(), "flows");
        check(&sql);
        assert_eq!(
            sql.text,
            format!("SELECT {COLUMNS} FROM flows ORDER BY time_flow_end_ms DESC NULLS LAST LIMIT 100 OFFSET 0")
        );
        assert!(sql.params.is_empty());
    }

    #[test]
    fn filtered_sorted_page() {
        let from = "(SELECT * FROM flows_a UNION ALL SELECT * FROM flows_b)";
        let q = FlowQuery {
            filter: parse_filter(r#"K8S_Namespace="iperf""#).unwrap(),
            since_ms: Some(1_000),
            until_ms: Some(2_000),
            sort: vec![
                key("Bytes", true),
                key("SrcAddr", false),
                key("NetworkEvents", false),
            ],
            limit: 50_000,
            offset: 20,
        };
        let sql = flows_sql(&q, from);
        check(&sql);
        assert_eq!(
            sql.text,
            format!(
                "SELECT {COLUMNS} FROM {from} WHERE time_flow_end_ms >= ? AND time_flow_end_ms < ? \
                 AND (src_k8s_namespace = ? OR dst_k8s_namespace = ?) \
                 ORDER BY bytes DESC NULLS LAST, src_ip ASC NULLS LAST, network_events ASC NULLS LAST \
                 LIMIT 10000 OFFSET 20"
            )
        );
        assert_eq!(
            sql.params,
            [
                Int(1_000),
                Int(2_000),
                Text("iperf".into()),
                Text("iperf".into())
            ]
        );
    }

    #[test]
    fn columns_follow_the_catalog() {
        let listed: Vec<&str> = COLUMNS.split(", ").collect();
        let catalog: Vec<&str> = fields().iter().map(|f| f.display_column()).collect();
        assert_eq!(listed, catalog);
    }

    #[test]
    fn count() {
        let q = FlowQuery {
            filter: parse_filter("Proto=6").unwrap(),
            since_ms: Some(5),
            sort: vec![key("Bytes", true)],
            ..Default::default()
        };
        let sql = count_sql(&q, "flows");
        check(&sql);
        assert_eq!(
            sql.text,
            "SELECT count(*) AS flows FROM flows WHERE time_flow_end_ms >= ? AND proto = ?"
        );
        assert_eq!(sql.params, [Int(5), UInt(6)]);
        assert_eq!(
            count_sql(&FlowQuery::default(), "flows").text,
            "SELECT count(*) AS flows FROM flows"
        );
    }

    #[test]
    fn sort_keys() {
        let cases = [
            ("Bytes", "Bytes", false),
            ("-Bytes", "Bytes", true),
            ("bytes desc", "Bytes", true),
            ("  Bytes   DESC ", "Bytes", true),
            ("Bytes asc", "Bytes", false),
            ("-SrcAddr desc", "SrcAddr", true),
            ("timeflowendms", "TimeFlowEndMs", false),
            ("TimeFlowEndMs:desc", "TimeFlowEndMs", true),
            ("Bytes:ASC", "Bytes", false),
        ];
        for (text, name, descending) in cases {
            let k = SortKey::parse(text).unwrap();
            assert_eq!((k.field.name, k.descending), (name, descending), "{text}");
        }
        let errors = [
            (
                "",
                r#"at 0 (end of filter): expected a field name to sort by"#,
            ),
            (
                "Byts",
                r#"at 0 ("Byts"): unknown field; did you mean Bytes?"#,
            ),
            (
                "-Byts",
                r#"at 1 ("Byts"): unknown field; did you mean Bytes?"#,
            ),
            ("Port", r#"at 0 ("Port"): unknown field"#),
            ("Bytes up", r#"at 6 ("up"): expected asc or desc"#),
            ("-Bytes asc", r#"at 7 ("asc"): expected asc or desc"#),
            (
                "Bytes desc x",
                r#"at 11 ("x"): expected nothing after asc or desc"#,
            ),
            (
                "Bytes:desc x",
                r#"at 11 ("x"): expected nothing after asc or desc"#,
            ),
            ("Bytes:up", r#"at 6 ("up"): expected asc or desc"#),
            ("Bytes:", "at 6 (end of filter): expected asc or desc"),
            (
                "Byts:desc",
                r#"at 0 ("Byts"): unknown field; did you mean Bytes?"#,
            ),
            (
                "bytes; DROP",
                r#"at 0 ("bytes;"): unknown field; did you mean Bytes?"#,
            ),
        ];
        for (text, want) in errors {
            assert_eq!(
                SortKey::parse(text).unwrap_err().to_string(),
                want,
                "{text}"
            );
        }
    }
}
