//! The flow query language and the DuckDB SQL the flow store runs.
//!
//! Users filter flows the way NetObserv's console does, with NetObserv's field names:
//!
//! ```
//! use netwarden_query::{parse_filter, where_sql, Param};
//!
//! let filter = parse_filter(r#"SrcK8S_Namespace="iperf" AND DstPort=5201"#).unwrap().unwrap();
//! let sql = where_sql(&filter);
//! assert_eq!(sql.text, "(src_k8s_namespace = ? AND dst_port = ?)");
//! assert_eq!(sql.params, [Param::Text("iperf".into()), Param::Int(5201)]);
//! ```
//!
//! The crate is pure: it turns text into typed filters ([`parse_filter`]) and queries into SQL
//! text plus parameters ([`flows_sql`], [`count_sql`], [`top_sql`], [`series_sql`],
//! [`topology_sql`], [`values_sql`]); the store executes them, over sources that give back the
//! catalog's columns ([`fields()`]); [`addr`] gives the address keys rows store.
//!
//! Identifiers in the SQL come only from the catalog and from table names the store validated
//! ([`validate_table_name`]); every value a user typed travels as a [`Param`].

pub mod addr;
mod aggregate;
mod ast;
mod autocomplete;
mod error;
pub mod fields;
mod flows;
mod lexer;
mod parse;
mod sql;
mod suggest;
mod time;
mod topology;
mod typing;

#[cfg(test)]
mod sqlcheck;

pub use addr::{addr_key, key_addr, parse_addr_range, AddrRange};
pub use aggregate::{series_sql, top_sql, Metric, FLOWS_COLUMN, MAX_GROUPS};
pub use ast::{Comparison, Expr, Op, Target, Value};
pub use autocomplete::values_sql;
pub use error::{ParseError, QueryError};
pub use fields::{
    either_end, either_end_names, field, fields, time_field, validate_table_name, Field, Kind,
    SqlType,
};
pub use flows::{count_sql, flows_sql, flows_sql_selecting, FlowQuery, SortKey, MAX_LIMIT};
pub use parse::parse_filter;
pub use sql::{where_sql, Param, Scope, Sql};
pub use time::{parse_duration, parse_time, TimeError};
pub use topology::{topology_sql, Level};
