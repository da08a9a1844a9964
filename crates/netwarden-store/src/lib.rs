//! The embedded flow store: flows in DuckDB hourly partitions with dimension tables and per-minute
//! rollups ([`layout`]) behind [`FlowStore`], queried with
//! the flow query language of [`netwarden_query`], fed by a batching [`Ingest`] queue.

mod batch;
mod dims;
mod duck;
mod error;
mod ingest;
pub mod layout;
pub mod partition;
mod result;

pub use duck::{DuckStore, FlowPage, RetentionReport, StoreOptions, StoreStats, SCHEMA_VERSION};
pub use error::StoreError;
pub use ingest::{now_ms, Ingest, IngestCounters, IngestOptions};

use netwarden_model::FlowRecord;
use netwarden_query::fields::Field;
use netwarden_query::{FlowQuery, Level, Metric, Scope};

/// What the API, the CLI and ingest need from a flow store.
pub trait FlowStore: Send + Sync {
    /// Appends records atomically (all or none).
    fn insert(&self, records: &[FlowRecord]) -> Result<usize, StoreError>;
    fn flows(&self, q: &FlowQuery) -> Result<FlowPage, StoreError>;
    fn top(
        &self,
        group_by: &[&Field],
        metric: Metric,
        n: u32,
        scope: &Scope,
    ) -> Result<Vec<serde_json::Value>, StoreError>;
    fn series(
        &self,
        step_ms: i64,
        metric: Metric,
        by: Option<&Field>,
        top_groups: u32,
        scope: &Scope,
    ) -> Result<Vec<serde_json::Value>, StoreError>;
    fn topology(
        &self,
        level: Level,
        scope: &Scope,
        max_edges: u32,
    ) -> Result<serde_json::Value, StoreError>;
    fn values(
        &self,
        field: &Field,
        prefix: &str,
        scope: &Scope,
        limit: u32,
    ) -> Result<Vec<serde_json::Value>, StoreError>;
    fn stats(&self) -> Result<StoreStats, StoreError>;
    fn enforce_retention(&self, now_ms: i64) -> Result<RetentionReport, StoreError>;
}
