//! Value suggestions for a filter being typed: the most frequent values of a field.

use crate::aggregate::MAX_GROUPS;
use crate::fields::{Field, Kind};
use crate::sql::{Param, Scope, Sql};

/// The most frequent values of `field` in the scope that start with `prefix` (ignoring case).
///
/// Rows: one column, named after the field's [`Field::text_column`], at most `limit` rows
/// (clamped to 1..=[`MAX_GROUPS`]), most frequent first, ties in value order. NULL and empty
/// values are left out; lists and network events yield their single elements (one interface,
/// one message); addresses their text.
pub fn values_sql(field: &Field, prefix: &str, scope: &Scope, from: &str, limit: u32) -> Sql {
    let column = field.text_column();
    let (expr, is_text) = match field.kind {
        Kind::List => (format!("unnest(string_split({column}, ','))"), true),
        Kind::Events { .. } => (format!("unnest(string_split({column}, chr(10)))"), true),
        Kind::Text | Kind::Addr { .. } => (column.to_string(), true),
        Kind::Number => (column.to_string(), false),
    };
    let mut sql = Sql::default();
    sql.push(&format!(
        "SELECT v AS {column} FROM (SELECT {expr} AS v FROM "
    ));
    sql.push(from).append(scope.where_clause());
    sql.push(") WHERE v IS NOT NULL");
    if is_text {
        sql.push(" AND v <> ''");
    }
    if !prefix.is_empty() {
        sql.push(if is_text {
            " AND starts_with(lower(v), "
        } else {
            " AND starts_with(CAST(v AS VARCHAR), "
        });
        sql.param(Param::Text(prefix.to_lowercase())).push(")");
    }
    sql.push(&format!(
        " GROUP BY v ORDER BY count(*) DESC, v LIMIT {}",
        limit.clamp(1, MAX_GROUPS)
    ));
    sql
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fields::field;
    use crate::parse::parse_filter;
    use crate::sql::Param::*;
    use crate::sqlcheck::check;

    #[test]
    fn shapes() {
        let filter = parse_filter("Proto=6").unwrap().unwrap();
        let scope = Scope {
            filter: Some(&filter),
            since_ms: Some(1),
            until_ms: None,
        };
        let cases = [
            (
                "SrcK8S_Namespace",
                "IP",
                "SELECT v AS src_k8s_namespace FROM (SELECT src_k8s_namespace AS v FROM flows \
                 WHERE time_flow_end_ms >= ? AND proto = ?) WHERE v IS NOT NULL AND v <> '' \
                 AND starts_with(lower(v), ?) GROUP BY v ORDER BY count(*) DESC, v LIMIT 20",
                vec![Int(1), UInt(6), Text("ip".into())],
            ),
            (
                "DstPort",
                "52",
                "SELECT v AS dst_port FROM (SELECT dst_port AS v FROM flows \
                 WHERE time_flow_end_ms >= ? AND proto = ?) WHERE v IS NOT NULL \
                 AND starts_with(CAST(v AS VARCHAR), ?) GROUP BY v ORDER BY count(*) DESC, v LIMIT 20",
                vec![Int(1), UInt(6), Text("52".into())],
            ),
            (
                "SrcAddr",
                "",
                "SELECT v AS src_addr FROM (SELECT src_addr AS v FROM flows \
                 WHERE time_flow_end_ms >= ? AND proto = ?) WHERE v IS NOT NULL AND v <> '' \
                 GROUP BY v ORDER BY count(*) DESC, v LIMIT 20",
                vec![Int(1), UInt(6)],
            ),
            (
                "Interfaces",
                "",
                "SELECT v AS interfaces FROM (SELECT unnest(string_split(interfaces, ',')) AS v FROM flows \
                 WHERE time_flow_end_ms >= ? AND proto = ?) WHERE v IS NOT NULL AND v <> '' \
                 GROUP BY v ORDER BY count(*) DESC, v LIMIT 20",
                vec![Int(1), UInt(6)],
            ),
            (
                "NetworkEvents",
                "Dropped",
                "SELECT v AS network_event_messages FROM (SELECT unnest(string_split(network_event_messages, chr(10))) AS v \
                 FROM flows WHERE time_flow_end_ms >= ? AND proto = ?) WHERE v IS NOT NULL AND v <> '' \
                 AND starts_with(lower(v), ?) GROUP BY v ORDER BY count(*) DESC, v LIMIT 20",
                vec![Int(1), UInt(6), Text("dropped".into())],
            ),
        ];
        for (name, prefix, want, params) in cases {
            let sql = values_sql(field(name).unwrap(), prefix, &scope, "flows", 20);
            check(&sql);
            assert_eq!(sql.text, want, "{name}");
            assert_eq!(sql.params, params, "{name}");
        }
    }

    #[test]
    fn prefix_is_a_parameter_and_limit_is_clamped() {
        let f = field("DnsName").unwrap();
        let sql = values_sql(
            f,
            "x'); DROP TABLE flows; --",
            &Scope::default(),
            "flows",
            0,
        );
        check(&sql);
        assert!(sql.text.ends_with(" LIMIT 1"));
        assert_eq!(sql.params, [Text("x'); drop table flows; --".into())]);
        let sql = values_sql(f, "", &Scope::default(), "flows", u32::MAX);
        assert!(sql.text.ends_with(" LIMIT 10000"));
    }
}
