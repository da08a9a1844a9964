//! Filters as SQL conditions with `?` parameters.
//!
//! Values the user typed only ever travel as [`Param`]s; the SQL text is built from catalog
//! column names and fixed keywords. Integers the program itself holds as Rust integers (LIMIT,
//! OFFSET, bucket width) are printed as literals: they cannot carry SQL, and DuckDB's numbering
//! of `?` inside LIMIT/OFFSET has had bugs (duckdb/duckdb#15466).
//!
//! Missing values are never surprising: a comparison with a NULL column is false, and its
//! negation (`!=`, `!~`, `NOT`) is true. To get there without wrapping everything in
//! `coalesce`, negations are pushed down to the comparisons (De Morgan), and each negated
//! comparison is written in a form that is true on NULL (`IS DISTINCT FROM`, `c IS NULL OR ...`).

use crate::ast::{Comparison, Expr, Op, Target, Value};
use crate::fields::{time_field, Field, Kind};

/// A parameter value, bound in order to the `?`s of [`Sql::text`].
#[derive(Debug, Clone, PartialEq)]
pub enum Param {
    Text(String),
    Int(i64),
    UInt(u64),
    /// An address key (UHUGEINT), see [`crate::addr`].
    AddrKey(u128),
    Float(f64),
}

/// A statement (or a condition) and its parameters.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Sql {
    /// DuckDB SQL with one `?` per parameter.
    pub text: String,
    /// The parameters, in the order of the `?`s.
    pub params: Vec<Param>,
}

impl Sql {
    pub(crate) fn push(&mut self, text: &str) -> &mut Self {
        self.text.push_str(text);
        self
    }

    pub(crate) fn param(&mut self, p: Param) -> &mut Self {
        self.text.push('?');
        self.params.push(p);
        self
    }

    /// Appends another fragment with its parameters.
    pub(crate) fn append(&mut self, other: Sql) -> &mut Self {
        self.text.push_str(&other.text);
        self.params.extend(other.params);
        self
    }
}

/// Which flows a query covers: an optional filter and a time range on `TimeFlowEndMs`,
/// `since_ms` inclusive, `until_ms` exclusive (half-open, so adjacent windows do not overlap).
#[derive(Debug, Clone, Copy, Default)]
pub struct Scope<'a> {
    /// Only flows matching this filter; `None`: every flow.
    pub filter: Option<&'a Expr>,
    /// Inclusive lower bound on `TimeFlowEndMs`.
    pub since_ms: Option<i64>,
    /// Exclusive upper bound on `TimeFlowEndMs`.
    pub until_ms: Option<i64>,
}

impl Scope<'_> {
    /// ` WHERE ...` for the scope, or nothing when it covers everything.
    pub(crate) fn where_clause(&self) -> Sql {
        let mut sql = Sql::default();
        let time = time_field().column;
        let mut sep = " WHERE ";
        if let Some(since) = self.since_ms {
            sql.push(sep)
                .push(time)
                .push(" >= ")
                .param(Param::Int(since));
            sep = " AND ";
        }
        if let Some(until) = self.until_ms {
            sql.push(sep)
                .push(time)
                .push(" < ")
                .param(Param::Int(until));
            sep = " AND ";
        }
        if let Some(filter) = self.filter {
            sql.push(sep).append(where_sql(filter));
        }
        sql
    }
}

/// The condition for a filter, self-contained (compound conditions are parenthesized), to put
/// after `WHERE` or `AND`.
pub fn where_sql(expr: &Expr) -> Sql {
    let mut sql = Sql::default();
    emit(expr, false, &mut sql);
    sql
}

fn emit(expr: &Expr, negated: bool, sql: &mut Sql) {
    match expr {
        Expr::And(items) | Expr::Or(items) => {
            // NOT (a AND b) is (NOT a OR NOT b), and the other way round.
            let and = matches!(expr, Expr::And(_)) != negated;
            sql.push("(");
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    sql.push(if and { " AND " } else { " OR " });
                }
                emit(item, negated, sql);
            }
            sql.push(")");
        }
        Expr::Not(inner) => emit(inner, !negated, sql),
        Expr::Compare(c) => comparison(c, negated, sql),
    }
}

fn comparison(c: &Comparison, negated: bool, sql: &mut Sql) {
    let (op, op_negated) = c.op.split();
    let negated = negated != op_negated;
    match c.target {
        Target::One(f) => leaf(f, op, &c.value, negated, sql),
        Target::Either { src, dst } => {
            // Either end matches; negated, neither does.
            sql.push("(");
            leaf(src, op, &c.value, negated, sql);
            sql.push(if negated { " AND " } else { " OR " });
            leaf(dst, op, &c.value, negated, sql);
            sql.push(")");
        }
    }
}

/// One column compared with one value. `op` is positive (`=`, `=~` or an ordering); `negated`
/// asks for the form that is true exactly when the positive one is false or NULL.
fn leaf(f: &Field, op: Op, value: &Value, negated: bool, sql: &mut Sql) {
    // `c IS NULL OR ` for negations on nullable columns, so NULL rows count as "not matching".
    let null_or = |sql: &mut Sql, column: &str| {
        if negated && f.nullable {
            sql.push("(").push(column).push(" IS NULL OR ");
        }
    };
    let close = |sql: &mut Sql| {
        if negated && f.nullable {
            sql.push(")");
        }
    };
    let not = if negated { "NOT " } else { "" };
    match (op, value) {
        (_, Value::Empty) => {
            let c = match f.kind {
                Kind::Text | Kind::List | Kind::Events { .. } => f.text_column(),
                Kind::Number | Kind::Addr { .. } => {
                    let test = if negated { " IS NOT NULL" } else { " IS NULL" };
                    sql.push(f.column).push(test);
                    return;
                }
            };
            match (negated, f.nullable) {
                (false, true) => sql
                    .push("(")
                    .push(c)
                    .push(" IS NULL OR ")
                    .push(c)
                    .push(" = '')"),
                (true, true) => sql
                    .push("(")
                    .push(c)
                    .push(" IS NOT NULL AND ")
                    .push(c)
                    .push(" <> '')"),
                (false, false) => sql.push(c).push(" = ''"),
                (true, false) => sql.push(c).push(" <> ''"),
            };
        }
        (Op::Match, Value::Text(pattern)) => {
            let c = f.text_column();
            null_or(sql, c);
            sql.push(not).push("regexp_matches(").push(c).push(", ");
            sql.param(Param::Text(pattern.clone())).push(")");
            close(sql);
        }
        (Op::Eq, Value::Text(text)) if matches!(f.kind, Kind::List | Kind::Events { .. }) => {
            let c = f.text_column();
            let separator = if matches!(f.kind, Kind::List) {
                "','"
            } else {
                "chr(10)"
            };
            null_or(sql, c);
            sql.push(not).push("list_contains(string_split(").push(c);
            sql.push(", ").push(separator).push("), ");
            sql.param(Param::Text(text.clone())).push(")");
            close(sql);
        }
        (Op::Eq, Value::Addr(range)) if !range.is_single() => {
            null_or(sql, f.column);
            sql.push(f.column).push(if negated {
                " NOT BETWEEN "
            } else {
                " BETWEEN "
            });
            sql.param(Param::AddrKey(range.first))
                .push(" AND ")
                .param(Param::AddrKey(range.last));
            close(sql);
        }
        (Op::Eq, _) => {
            let cmp = match (negated, f.nullable) {
                (false, _) => " = ",
                (true, true) => " IS DISTINCT FROM ",
                (true, false) => " <> ",
            };
            sql.push(f.column).push(cmp).param(scalar(value));
        }
        (_, _) => {
            // Orderings: on a non-NULL column NOT (c > v) is c <= v.
            let cmp = match (op, negated) {
                (Op::Lt, false) | (Op::Ge, true) => " < ",
                (Op::Le, false) | (Op::Gt, true) => " <= ",
                (Op::Gt, false) | (Op::Le, true) => " > ",
                _ => " >= ",
            };
            null_or(sql, f.column);
            sql.push(f.column).push(cmp).param(scalar(value));
            close(sql);
        }
    }
}

/// The parameter for a single value (the parser guarantees it fits the column).
fn scalar(value: &Value) -> Param {
    match value {
        Value::Text(s) => Param::Text(s.clone()),
        Value::Int(v) => Param::Int(*v),
        Value::UInt(v) => Param::UInt(*v),
        Value::Float(v) => Param::Float(*v),
        Value::Addr(r) => Param::AddrKey(r.first),
        Value::Empty => unreachable!("absent values are not compared"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::addr::addr_key;
    use crate::parse::parse_filter;
    use crate::sqlcheck::check;
    use Param::*;

    fn key(s: &str) -> Param {
        AddrKey(addr_key(s.parse().unwrap()))
    }

    fn text(s: &str) -> Param {
        Text(s.to_string())
    }

    fn sql_of(filter: &str) -> Sql {
        let expr = parse_filter(filter).unwrap().unwrap();
        let sql = where_sql(&expr);
        check(&sql);
        sql
    }

    #[test]
    fn comparisons() {
        let cases: Vec<(&str, &str, Vec<Param>)> = vec![
            (r#"SrcK8S_Namespace="iperf""#, "src_k8s_namespace = ?", vec![text("iperf")]),
            (r#"SrcK8S_Namespace!="iperf""#, "src_k8s_namespace IS DISTINCT FROM ?", vec![text("iperf")]),
            ("DstPort=5201", "dst_port = ?", vec![Int(5201)]),
            ("DstPort!=53", "dst_port IS DISTINCT FROM ?", vec![Int(53)]),
            ("Proto=6", "proto = ?", vec![UInt(6)]),
            ("Proto!=6", "proto <> ?", vec![UInt(6)]),
            ("Bytes>1000", "bytes > ?", vec![UInt(1000)]),
            ("Bytes>=1000", "bytes >= ?", vec![UInt(1000)]),
            ("Bytes<1000", "bytes < ?", vec![UInt(1000)]),
            ("Bytes<=1000", "bytes <= ?", vec![UInt(1000)]),
            ("DstPort<1024", "dst_port < ?", vec![Int(1024)]),
            ("TimeFlowEndMs>=5", "time_flow_end_ms >= ?", vec![Int(5)]),
            ("DnsLatencyMs>1.5", "dns_latency_ms > ?", vec![Float(1.5)]),
            (r#"NetworkEvents=~"Dropped""#, "regexp_matches(network_event_messages, ?)", vec![text("Dropped")]),
            (
                r#"NetworkEvents!~"Dropped""#,
                "(network_event_messages IS NULL OR NOT regexp_matches(network_event_messages, ?))",
                vec![text("Dropped")],
            ),
            (
                r#"NetworkEvents="Dropped by network policies""#,
                "list_contains(string_split(network_event_messages, chr(10)), ?)",
                vec![text("Dropped by network policies")],
            ),
            ("Interfaces=eth0", "list_contains(string_split(interfaces, ','), ?)", vec![text("eth0")]),
            ("Interfaces!=eth0", "NOT list_contains(string_split(interfaces, ','), ?)", vec![text("eth0")]),
            ("Interfaces=~\"^veth\"", "regexp_matches(interfaces, ?)", vec![text("^veth")]),
            ("Interfaces!~\"^veth\"", "NOT regexp_matches(interfaces, ?)", vec![text("^veth")]),
            (
                r#"PktDropLatestDropCause!="""#,
                "(pkt_drop_latest_drop_cause IS NOT NULL AND pkt_drop_latest_drop_cause <> '')",
                vec![],
            ),
            (
                r#"PktDropLatestDropCause="""#,
                "(pkt_drop_latest_drop_cause IS NULL OR pkt_drop_latest_drop_cause = '')",
                vec![],
            ),
            (r#"NetworkEvents="""#, "(network_event_messages IS NULL OR network_event_messages = '')", vec![]),
            (r#"Interfaces="""#, "interfaces = ''", vec![]),
            (r#"Interfaces!="""#, "interfaces <> ''", vec![]),
            (r#"DstPort="""#, "dst_port IS NULL", vec![]),
            (r#"DstPort!="""#, "dst_port IS NOT NULL", vec![]),
            (r#"SrcAddr="""#, "src_ip IS NULL", vec![]),
            (r#"NOT SrcAddr="""#, "src_ip IS NOT NULL", vec![]),
            ("SrcAddr=10.0.0.0/8", "src_ip BETWEEN ? AND ?", vec![key("10.0.0.0"), key("10.255.255.255")]),
            (
                "SrcAddr!=10.0.0.0/8",
                "(src_ip IS NULL OR src_ip NOT BETWEEN ? AND ?)",
                vec![key("10.0.0.0"), key("10.255.255.255")],
            ),
            ("SrcAddr=10.0.0.1", "src_ip = ?", vec![key("10.0.0.1")]),
            ("SrcAddr=10.0.0.1/32", "src_ip = ?", vec![key("10.0.0.1")]),
            ("SrcAddr!=10.0.0.1", "src_ip IS DISTINCT FROM ?", vec![key("10.0.0.1")]),
            ("DstAddr>=10.0.0.5", "dst_ip >= ?", vec![key("10.0.0.5")]),
            ("DstAddr=fd00::/8", "dst_ip BETWEEN ? AND ?", vec![key("fd00::"), key("fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")]),
            ("DstAddr=::/0", "dst_ip BETWEEN ? AND ?", vec![AddrKey(0), AddrKey(u128::MAX)]),
            ("AgentIP=192.168.0.0/16", "agent_ip BETWEEN ? AND ?", vec![key("192.168.0.0"), key("192.168.255.255")]),
            (r#"SrcAddr=~"^10\.""#, "regexp_matches(src_addr, ?)", vec![text(r"^10\.")]),
            (
                r#"K8S_Namespace="iperf""#,
                "(src_k8s_namespace = ? OR dst_k8s_namespace = ?)",
                vec![text("iperf"), text("iperf")],
            ),
            (
                r#"K8S_Namespace!="iperf""#,
                "(src_k8s_namespace IS DISTINCT FROM ? AND dst_k8s_namespace IS DISTINCT FROM ?)",
                vec![text("iperf"), text("iperf")],
            ),
            (
                r#"NOT K8S_Namespace="iperf""#,
                "(src_k8s_namespace IS DISTINCT FROM ? AND dst_k8s_namespace IS DISTINCT FROM ?)",
                vec![text("iperf"), text("iperf")],
            ),
            (
                r#"K8S_Namespace="""#,
                "((src_k8s_namespace IS NULL OR src_k8s_namespace = '') OR (dst_k8s_namespace IS NULL OR dst_k8s_namespace = ''))",
                vec![],
            ),
            (
                "Addr=10.0.0.0/8",
                "(src_ip BETWEEN ? AND ? OR dst_ip BETWEEN ? AND ?)",
                vec![key("10.0.0.0"), key("10.255.255.255"), key("10.0.0.0"), key("10.255.255.255")],
            ),
            ("Port=53", "(src_port = ? OR dst_port = ?)", vec![Int(53), Int(53)]),
            ("Port>=1024", "(src_port >= ? OR dst_port >= ?)", vec![Int(1024), Int(1024)]),
            (
                "NOT Port>=1024",
                "((src_port IS NULL OR src_port < ?) AND (dst_port IS NULL OR dst_port < ?))",
                vec![Int(1024), Int(1024)],
            ),
        ];
        for (filter, want, params) in cases {
            let sql = sql_of(filter);
            assert_eq!(sql.text, want, "{filter}");
            assert_eq!(sql.params, params, "{filter}");
        }
    }

    #[test]
    fn negations_go_down_to_the_comparisons() {
        let cases: Vec<(&str, &str, Vec<Param>)> = vec![
            ("NOT DstPort<1024", "(dst_port IS NULL OR dst_port >= ?)", vec![Int(1024)]),
            ("NOT Bytes>5", "bytes <= ?", vec![UInt(5)]),
            ("NOT Bytes>=5", "bytes < ?", vec![UInt(5)]),
            ("NOT Bytes<5", "bytes >= ?", vec![UInt(5)]),
            ("NOT Bytes<=5", "bytes > ?", vec![UInt(5)]),
            ("NOT DnsLatencyMs<=5", "(dns_latency_ms IS NULL OR dns_latency_ms > ?)", vec![Float(5.0)]),
            ("NOT NOT Proto=6", "proto = ?", vec![UInt(6)]),
            ("NOT Proto!=6", "proto = ?", vec![UInt(6)]),
            (r#"NOT DnsName!~"x""#, "regexp_matches(dns_name, ?)", vec![text("x")]),
            (
                r#"SrcK8S_Namespace="a" AND (DstPort=53 OR Proto=17)"#,
                "(src_k8s_namespace = ? AND (dst_port = ? OR proto = ?))",
                vec![text("a"), Int(53), UInt(17)],
            ),
            (
                r#"NOT (SrcK8S_Namespace="a" AND DstPort=53)"#,
                "(src_k8s_namespace IS DISTINCT FROM ? OR dst_port IS DISTINCT FROM ?)",
                vec![text("a"), Int(53)],
            ),
            ("NOT (Proto=6 OR NOT DstPort=53)", "(proto <> ? AND dst_port = ?)", vec![UInt(6), Int(53)]),
            (
                r#"Proto=6 OR Proto=17 AND NOT (DstPort=53 OR DnsName=~"x")"#,
                "(proto = ? OR (proto = ? AND (dst_port IS DISTINCT FROM ? AND (dns_name IS NULL OR NOT regexp_matches(dns_name, ?)))))",
                vec![UInt(6), UInt(17), Int(53), text("x")],
            ),
        ];
        for (filter, want, params) in cases {
            let sql = sql_of(filter);
            assert_eq!(sql.text, want, "{filter}");
            assert_eq!(sql.params, params, "{filter}");
        }
    }

    #[test]
    fn user_text_only_travels_as_parameters() {
        let cases = [
            (r#"SrcK8S_Namespace="x' OR '1'='1""#, "x' OR '1'='1"),
            (
                r#"DnsName="a\"; DROP TABLE flows; --""#,
                r#"a"; DROP TABLE flows; --"#,
            ),
            (
                r#"NetworkEvents=~".*'; DELETE FROM flows; --""#,
                ".*'; DELETE FROM flows; --",
            ),
            (r#"K8S_Name="/* comment */ ? ? ?""#, "/* comment */ ? ? ?"),
            (
                r#"Interfaces="eth0') OR true OR ('""#,
                "eth0') OR true OR ('",
            ),
            (r#"SrcMac="\\\\""#, r"\\"),
        ];
        for (filter, value) in cases {
            let sql = sql_of(filter);
            assert!(
                sql.params.iter().all(|p| *p == text(value)),
                "{filter}: {:?}",
                sql.params
            );
            assert!(!sql.text.contains(value), "{filter}: {}", sql.text);
        }
        // Unquoted values stop at anything that is not part of a word, number or address.
        for filter in [
            "SrcK8S_Name=robert');DROP",
            "DnsName=a;b",
            "DnsName=a'b",
            "Proto=6;",
            "DnsName=a--b c",
        ] {
            assert!(parse_filter(filter).is_err(), "{filter}");
        }
    }

    #[test]
    fn scope_where_clause() {
        let expr = parse_filter("Proto=6 OR Proto=17").unwrap().unwrap();
        let cases: Vec<(Scope, &str, Vec<Param>)> = vec![
            (Scope::default(), "", vec![]),
            (Scope { since_ms: Some(10), ..Default::default() }, " WHERE time_flow_end_ms >= ?", vec![Int(10)]),
            (Scope { until_ms: Some(20), ..Default::default() }, " WHERE time_flow_end_ms < ?", vec![Int(20)]),
            (
                Scope { filter: Some(&expr), since_ms: Some(10), until_ms: Some(20) },
                " WHERE time_flow_end_ms >= ? AND time_flow_end_ms < ? AND (proto = ? OR proto = ?)",
                vec![Int(10), Int(20), UInt(6), UInt(17)],
            ),
            (Scope { filter: Some(&expr), ..Default::default() }, " WHERE (proto = ? OR proto = ?)", vec![UInt(6), UInt(17)]),
        ];
        for (scope, want, params) in cases {
            let sql = scope.where_clause();
            assert_eq!(sql.text, want);
            assert_eq!(sql.params, params);
        }
    }
}
