//! What can go wrong in the store.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("opening the flow store {path}: {source}")]
    Open {
        path: PathBuf,
        source: duckdb::Error,
    },
    #[error(
        "the flow store {path} has schema version {found}; this netwarden reads version {expected} (move it away or point --store elsewhere)"
    )]
    Schema {
        path: PathBuf,
        found: String,
        expected: u32,
    },
    #[error("flow store: {0}")]
    Db(#[from] duckdb::Error),
    #[error("flow store query: {0}")]
    Query(#[from] netwarden_query::QueryError),
    #[error("flow store: {0}")]
    Invalid(String),
    #[error("flow store: building a batch: {0}")]
    Batch(#[from] duckdb::arrow::error::ArrowError),
}
