//! The field catalog: every flow field the store keeps, with its NetObserv name, its column and
//! its DuckDB type; and the flow table's DDL, derived from it.
//!
//! This table is the only place SQL identifiers come from: the parser resolves user-typed names
//! to entries here, and the SQL generators only ever print `column`s of these entries, so no
//! text a user typed can reach the SQL as an identifier.

use crate::error::QueryError;
use std::fmt;

/// DuckDB column types the catalog uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SqlType {
    BigInt,
    Integer,
    UTinyInt,
    USmallInt,
    UInteger,
    UBigInt,
    UHugeInt,
    Double,
    Varchar,
}

impl SqlType {
    /// The type's name in DuckDB DDL.
    pub fn as_str(self) -> &'static str {
        match self {
            SqlType::BigInt => "BIGINT",
            SqlType::Integer => "INTEGER",
            SqlType::UTinyInt => "UTINYINT",
            SqlType::USmallInt => "USMALLINT",
            SqlType::UInteger => "UINTEGER",
            SqlType::UBigInt => "UBIGINT",
            SqlType::UHugeInt => "UHUGEINT",
            SqlType::Double => "DOUBLE",
            SqlType::Varchar => "VARCHAR",
        }
    }

    /// Inclusive bounds of an integer type; `None` for non-integers. Filter values outside the
    /// bounds are rejected at parse time because DuckDB fails the whole query when it cannot cast
    /// a parameter to the column's type.
    pub fn int_bounds(self) -> Option<(i128, i128)> {
        // UHUGEINT (address keys) is never compared with a typed integer: addresses parse apart.
        Some(match self {
            SqlType::BigInt => (i64::MIN.into(), i64::MAX.into()),
            SqlType::Integer => (i32::MIN.into(), i32::MAX.into()),
            SqlType::UTinyInt => (0, u8::MAX.into()),
            SqlType::USmallInt => (0, u16::MAX.into()),
            SqlType::UInteger => (0, u32::MAX.into()),
            SqlType::UBigInt => (0, u64::MAX.into()),
            SqlType::UHugeInt => (0, i128::MAX),
            SqlType::Double | SqlType::Varchar => return None,
        })
    }

    /// Whether the type is one of DuckDB's unsigned integers (values travel as `Param::UInt`).
    pub fn is_unsigned(self) -> bool {
        matches!(
            self,
            SqlType::UTinyInt | SqlType::USmallInt | SqlType::UInteger | SqlType::UBigInt
        )
    }
}

impl fmt::Display for SqlType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a field is stored and therefore how filters compare against it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// An integer or floating-point column (see [`Field::sql_type`]).
    Number,
    /// A text column.
    Text,
    /// A comma-joined list (`Interfaces`, `IfDirections`): `=` matches any element, `=~` the
    /// joined text.
    List,
    /// An IP address stored twice: `column` holds the order-preserving UHUGEINT key (see
    /// [`crate::addr`]) that `=`, CIDR and `<`/`>` filters compare and sorts use; `text_column`
    /// holds the address as text, which is what rows display, groups use and regexes match.
    Addr { text_column: &'static str },
    /// NetObserv network events: `column` holds the JSON array, `messages_column` the events'
    /// `Message` values joined with `"\n"`. Filters and groupings work on the messages (as a
    /// list: `=` matches any message, `=~` any part of them); rows display the JSON.
    Events { messages_column: &'static str },
}

/// One stored flow field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    /// NetObserv's name, as users type it and as JSON carries it (`SrcK8S_Namespace`).
    pub name: &'static str,
    /// The main column (snake_case). For [`Kind::Addr`] this is the UHUGEINT key column.
    pub column: &'static str,
    /// DuckDB type of `column`.
    pub sql_type: SqlType,
    /// How filters compare against the field.
    pub kind: Kind,
    /// Whether the column may hold NULL (the field is optional in `FlowRecord`).
    pub nullable: bool,
}

impl Field {
    /// The column rows display: the text column of an address, the main column otherwise.
    pub fn display_column(&self) -> &'static str {
        match self.kind {
            Kind::Addr { text_column } => text_column,
            _ => self.column,
        }
    }

    /// The text column regexes and list matches run on: an address's text, the events' messages,
    /// the main column otherwise.
    pub fn text_column(&self) -> &'static str {
        match self.kind {
            Kind::Addr { text_column } => text_column,
            Kind::Events { messages_column } => messages_column,
            _ => self.column,
        }
    }

    /// Every physical column of the field with its type, in table order.
    pub fn columns(&self) -> Vec<(&'static str, SqlType)> {
        match self.kind {
            Kind::Addr { text_column } => {
                vec![
                    (self.column, self.sql_type),
                    (text_column, SqlType::Varchar),
                ]
            }
            Kind::Events { messages_column } => vec![
                (self.column, self.sql_type),
                (messages_column, SqlType::Varchar),
            ],
            _ => vec![(self.column, self.sql_type)],
        }
    }
}

const fn num(name: &'static str, column: &'static str, t: SqlType, nullable: bool) -> Field {
    Field {
        name,
        column,
        sql_type: t,
        kind: Kind::Number,
        nullable,
    }
}

const fn text(name: &'static str, column: &'static str) -> Field {
    Field {
        name,
        column,
        sql_type: SqlType::Varchar,
        kind: Kind::Text,
        nullable: true,
    }
}

const fn list(name: &'static str, column: &'static str) -> Field {
    Field {
        name,
        column,
        sql_type: SqlType::Varchar,
        kind: Kind::List,
        nullable: false,
    }
}

const fn addr(name: &'static str, key_column: &'static str, text_column: &'static str) -> Field {
    Field {
        name,
        column: key_column,
        sql_type: SqlType::UHugeInt,
        kind: Kind::Addr { text_column },
        nullable: true,
    }
}

/// The catalog, in table order. Address fields are named `<x>_ip` (key) and `<x>_addr` (text).
static FIELDS: [Field; 50] = {
    use SqlType::*;
    [
        num("TimeReceived", "time_received", BigInt, false),
        num("TimeFlowStartMs", "time_flow_start_ms", BigInt, false),
        num("TimeFlowEndMs", "time_flow_end_ms", BigInt, false),
        addr("SrcAddr", "src_ip", "src_addr"),
        addr("DstAddr", "dst_ip", "dst_addr"),
        num("SrcPort", "src_port", Integer, true),
        num("DstPort", "dst_port", Integer, true),
        num("Proto", "proto", UTinyInt, false),
        num("Etype", "etype", USmallInt, false),
        num("IcmpType", "icmp_type", UTinyInt, true),
        num("IcmpCode", "icmp_code", UTinyInt, true),
        text("SrcMac", "src_mac"),
        text("DstMac", "dst_mac"),
        num("Bytes", "bytes", UBigInt, false),
        num("Packets", "packets", UBigInt, false),
        num("Flags", "flags", USmallInt, true),
        num("Dscp", "dscp", UTinyInt, false),
        list("Interfaces", "interfaces"),
        list("IfDirections", "if_directions"),
        num("Sampling", "sampling", UInteger, false),
        addr("AgentIP", "agent_ip", "agent_addr"),
        num("PktDropPackets", "pkt_drop_packets", UBigInt, true),
        num("PktDropBytes", "pkt_drop_bytes", UBigInt, true),
        text("PktDropLatestDropCause", "pkt_drop_latest_drop_cause"),
        text("PktDropLatestState", "pkt_drop_latest_state"),
        num(
            "PktDropLatestFlags",
            "pkt_drop_latest_flags",
            USmallInt,
            true,
        ),
        num("DnsId", "dns_id", USmallInt, true),
        num("DnsFlags", "dns_flags", USmallInt, true),
        text("DnsFlagsResponseCode", "dns_flags_response_code"),
        num("DnsLatencyMs", "dns_latency_ms", Double, true),
        text("DnsName", "dns_name"),
        num("TimeFlowRttNs", "time_flow_rtt_ns", UBigInt, true),
        Field {
            name: "NetworkEvents",
            column: "network_events",
            sql_type: Varchar,
            kind: Kind::Events {
                messages_column: "network_event_messages",
            },
            nullable: true,
        },
        text("SrcK8S_Namespace", "src_k8s_namespace"),
        text("SrcK8S_Name", "src_k8s_name"),
        text("SrcK8S_Type", "src_k8s_type"),
        text("SrcK8S_OwnerName", "src_k8s_owner_name"),
        text("SrcK8S_OwnerType", "src_k8s_owner_type"),
        addr("SrcK8S_HostIP", "src_k8s_host_ip", "src_k8s_host_addr"),
        text("SrcK8S_HostName", "src_k8s_host_name"),
        text("SrcK8S_NetworkName", "src_k8s_network_name"),
        text("DstK8S_Namespace", "dst_k8s_namespace"),
        text("DstK8S_Name", "dst_k8s_name"),
        text("DstK8S_Type", "dst_k8s_type"),
        text("DstK8S_OwnerName", "dst_k8s_owner_name"),
        text("DstK8S_OwnerType", "dst_k8s_owner_type"),
        addr("DstK8S_HostIP", "dst_k8s_host_ip", "dst_k8s_host_addr"),
        text("DstK8S_HostName", "dst_k8s_host_name"),
        text("DstK8S_NetworkName", "dst_k8s_network_name"),
        text("K8S_FlowLayer", "k8s_flow_layer"),
    ]
};

/// Every field, in table order.
pub fn fields() -> &'static [Field] {
    &FIELDS
}

/// The field called `name`: its exact NetObserv name, or that name in any case (`dstport`).
pub fn field(name: &str) -> Option<&'static Field> {
    FIELDS
        .iter()
        .find(|f| f.name == name)
        .or_else(|| FIELDS.iter().find(|f| f.name.eq_ignore_ascii_case(name)))
}

/// The time column that time ranges, series buckets and the default sort use.
pub fn time_field() -> &'static Field {
    field("TimeFlowEndMs").expect("TimeFlowEndMs is in the catalog")
}

/// An "either end" name (`K8S_Namespace`, `Addr`, `Port`...), as NetObserv's console offers:
/// the pair of fields `Src<name>` and `Dst<name>`. Any case is accepted.
pub fn either_end(name: &str) -> Option<(&'static Field, &'static Field)> {
    let src = FIELDS.iter().find(|f| {
        f.name.len() == name.len() + 3
            && f.name.starts_with("Src")
            && f.name[3..].eq_ignore_ascii_case(name)
    })?;
    let dst = FIELDS
        .iter()
        .find(|f| f.name.starts_with("Dst") && f.name[3..] == src.name[3..])?;
    Some((src, dst))
}

/// Every either-end name (`Addr`, `Port`, `Mac`, `K8S_Namespace`...), in catalog order.
pub fn either_end_names() -> impl Iterator<Item = &'static str> {
    FIELDS
        .iter()
        .filter_map(|f| f.name.strip_prefix("Src"))
        .filter(|rest| either_end(rest).is_some())
}

/// Checks that `name` can be printed into SQL as a table name: `[a-z_][a-z0-9_]*`, at most 63
/// characters (DuckDB would accept more, but a longer name is surely a bug).
pub fn validate_table_name(name: &str) -> Result<(), QueryError> {
    let mut chars = name.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_');
    let rest_ok = chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if first_ok && rest_ok && name.len() <= 63 {
        Ok(())
    } else {
        Err(QueryError::TableName(name.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn names_and_columns_are_unique_and_plain_identifiers() {
        let mut names = HashSet::new();
        let mut columns = HashSet::new();
        for f in fields() {
            assert!(names.insert(f.name.to_ascii_lowercase()), "{}", f.name);
            for (c, _) in f.columns() {
                assert!(columns.insert(c), "{c}");
                assert!(
                    !c.is_empty()
                        && c.chars()
                            .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '_'),
                    "{c}"
                );
            }
        }
        for e in either_end_names() {
            assert!(names.insert(e.to_ascii_lowercase()), "{e} collides");
        }
    }

    #[test]
    fn lookup_exact_and_any_case() {
        assert_eq!(field("DstPort").unwrap().column, "dst_port");
        assert_eq!(field("dstport").unwrap().name, "DstPort");
        assert_eq!(
            field("SRCK8S_NAMESPACE").unwrap().column,
            "src_k8s_namespace"
        );
        assert!(field("Port").is_none());
        assert!(field("").is_none());
    }

    #[test]
    fn either_end_pairs() {
        let names: Vec<_> = either_end_names().collect();
        assert_eq!(
            names,
            [
                "Addr",
                "Port",
                "Mac",
                "K8S_Namespace",
                "K8S_Name",
                "K8S_Type",
                "K8S_OwnerName",
                "K8S_OwnerType",
                "K8S_HostIP",
                "K8S_HostName",
                "K8S_NetworkName"
            ]
        );
        let (s, d) = either_end("k8s_namespace").unwrap();
        assert_eq!((s.name, d.name), ("SrcK8S_Namespace", "DstK8S_Namespace"));
        let (s, d) = either_end("Addr").unwrap();
        assert_eq!((s.column, d.column), ("src_ip", "dst_ip"));
        assert!(either_end("K8S_FlowLayer").is_none());
        assert!(either_end("Bytes").is_none());
    }

    #[test]
    fn address_fields_have_key_and_text_columns() {
        let f = field("SrcAddr").unwrap();
        assert_eq!(
            f.columns(),
            vec![
                ("src_ip", SqlType::UHugeInt),
                ("src_addr", SqlType::Varchar)
            ]
        );
        assert_eq!(f.display_column(), "src_addr");
        let e = field("NetworkEvents").unwrap();
        assert_eq!(e.display_column(), "network_events");
        assert_eq!(e.text_column(), "network_event_messages");
    }

    #[test]
    fn every_flow_record_json_key_is_a_field() {
        // A record with every optional field set serializes every key; each must be cataloged.
        let mut rec = netwarden_model::FlowRecord {
            src_port: Some(1),
            dst_port: Some(2),
            icmp_type: Some(0),
            icmp_code: Some(0),
            src_mac: Some("m".into()),
            dst_mac: Some("m".into()),
            flags: Some(0),
            agent_ip: Some("10.0.0.1".parse().unwrap()),
            pkt_drop_packets: Some(0),
            pkt_drop_bytes: Some(0),
            pkt_drop_latest_drop_cause: Some("c".into()),
            pkt_drop_latest_state: Some("s".into()),
            pkt_drop_latest_flags: Some(0),
            dns_id: Some(0),
            dns_flags: Some(0),
            dns_flags_response_code: Some("NoError".into()),
            dns_latency_ms: Some(0.0),
            dns_name: Some("n".into()),
            time_flow_rtt_ns: Some(0),
            network_events: vec![serde_json::json!({"Message": "m"})],
            k8s_flow_layer: Some("app".into()),
            ..Default::default()
        };
        rec.src_k8s.namespace = Some("x".into());
        rec.src_k8s.name = Some("x".into());
        rec.src_k8s.kind = Some("x".into());
        rec.src_k8s.owner_name = Some("x".into());
        rec.src_k8s.owner_type = Some("x".into());
        rec.src_k8s.host_ip = Some("10.0.0.1".parse().unwrap());
        rec.src_k8s.host_name = Some("x".into());
        rec.src_k8s.network_name = Some("x".into());
        rec.dst_k8s.namespace = Some("x".into());
        rec.dst_k8s.name = Some("x".into());
        rec.dst_k8s.kind = Some("x".into());
        rec.dst_k8s.owner_name = Some("x".into());
        rec.dst_k8s.owner_type = Some("x".into());
        rec.dst_k8s.host_ip = Some("10.0.0.1".parse().unwrap());
        rec.dst_k8s.host_name = Some("x".into());
        rec.dst_k8s.network_name = Some("x".into());
        let json = serde_json::to_value(&rec).unwrap();
        let keys: HashSet<&str> = json
            .as_object()
            .unwrap()
            .keys()
            .map(|k| k.as_str())
            .collect();
        let cataloged: HashSet<&str> = fields().iter().map(|f| f.name).collect();
        assert_eq!(keys, cataloged);
    }

    #[test]
    fn table_names() {
        for ok in ["flows", "flows_2024_05_01", "_tmp", "a"] {
            assert_eq!(validate_table_name(ok), Ok(()), "{ok}");
        }
        let long = "a".repeat(64);
        for bad in [
            "",
            "Flows",
            "1flows",
            "flows;drop",
            "flows x",
            "\"flows\"",
            "flöws",
            long.as_str(),
        ] {
            assert_eq!(
                validate_table_name(bad),
                Err(QueryError::TableName(bad.to_string())),
                "{bad}"
            );
        }
    }
}
