//! Errors that stop a whole source from loading (as opposed to [`crate::InventoryProblem`]s,
//! which skip one object).

use std::path::PathBuf;

/// A source could not be read at all; the caller keeps whatever index it had.
#[derive(Debug, thiserror::Error)]
pub enum InventoryError {
    /// The inventory file could not be read.
    #[error("reading inventory file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The inventory file is not valid YAML.
    #[error("{origin}: not valid YAML: {source}")]
    Yaml {
        /// The file (or other origin) as named by the caller.
        origin: String,
        /// The parser's message, with line and column.
        #[source]
        source: serde_yaml::Error,
    },
    /// Listing a resource from the Kubernetes API failed.
    #[error("listing {resource} from the Kubernetes API: {source}")]
    Kube {
        /// The resource, e.g. `pods`.
        resource: &'static str,
        /// The client's error.
        #[source]
        source: kube::Error,
    },
    /// A watcher task ended before its cache was first filled (the runtime is shutting down).
    #[error("the {resource} watcher stopped before its first list completed")]
    WatcherStopped {
        /// The resource, e.g. `pods`.
        resource: &'static str,
    },
}
