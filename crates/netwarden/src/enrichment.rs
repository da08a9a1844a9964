//! Kubernetes identity for records: an inventory index fed by a YAML file (re-read when it changes)
//! and/or the cluster's API (kube-rs watchers), applied to each record before output.

use anyhow::Context;
use netwarden_inventory::kube_source::KubeWatcher;
use netwarden_inventory::{enrich, FileWatcher, Index, InventoryProblem, Severity, Snapshot};
use netwarden_model::FlowRecord;
use std::path::PathBuf;
use tracing::{info, warn};

/// Where the inventory comes from.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct InventorySources {
    pub file: Option<PathBuf>,
    /// Watch the cluster's API (in-cluster config or KUBECONFIG).
    pub kubernetes: bool,
}

pub struct Enricher {
    file: Option<FileWatcher>,
    kube: Option<(
        tokio::runtime::Runtime,
        KubeWatcher,
        tokio::sync::watch::Receiver<u64>,
    )>,
    file_snapshot: Snapshot,
    index: Index,
}

fn report(problems: &[InventoryProblem]) {
    for p in problems {
        match p.severity {
            Severity::Error | Severity::Warning => warn!("inventory: {p}"),
            Severity::Note => {}
        }
    }
}

impl Enricher {
    /// Loads the sources once; a file that cannot be read at start is an error.
    pub fn start(sources: &InventorySources) -> anyhow::Result<Option<Self>> {
        if sources.file.is_none() && !sources.kubernetes {
            return Ok(None);
        }
        let mut me = Self {
            file: None,
            kube: None,
            file_snapshot: Snapshot::default(),
            index: Index::default(),
        };
        if let Some(path) = &sources.file {
            let mut watcher = FileWatcher::new(path.clone());
            // The first poll loads the file; at start, failing to is an error.
            let Some((snapshot, problems)) = watcher.poll() else {
                let why = watcher
                    .last_error()
                    .map_or_else(|| "unreadable".to_string(), |e| e.to_string());
                anyhow::bail!("inventory {}: {why}", path.display());
            };
            report(&problems);
            me.file_snapshot = snapshot;
            me.file = Some(watcher);
        }
        if sources.kubernetes {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .context("starting the Kubernetes client runtime")?;
            let watcher = rt.block_on(async {
                let client = kube::Client::try_default()
                    .await
                    .context("connecting to the Kubernetes API (in-cluster or KUBECONFIG)")?;
                let w = KubeWatcher::start(client);
                w.ready().await.context("listing Kubernetes objects")?;
                anyhow::Ok(w)
            })?;
            let changes = watcher.changes();
            me.kube = Some((rt, watcher, changes));
        }
        me.rebuild();
        Ok(Some(me))
    }

    fn rebuild(&mut self) {
        let mut snapshot = self.file_snapshot.clone();
        if let Some((_, w, _)) = &self.kube {
            snapshot.extend(w.snapshot());
        }
        let (index, problems) = Index::build(&snapshot);
        report(&problems);
        info!(endpoints = index.len(), "inventory index built");
        self.index = index;
    }

    /// The index as last built.
    pub fn index(&self) -> &Index {
        &self.index
    }

    /// Picks up file changes and API changes (cheap when nothing changed); true when the index
    /// was rebuilt.
    pub fn refresh(&mut self) -> bool {
        let mut changed = false;
        if let Some(w) = &mut self.file {
            // On a bad file the watcher warns once and we keep the previous index.
            if let Some((snapshot, problems)) = w.poll() {
                report(&problems);
                self.file_snapshot = snapshot;
                changed = true;
            }
        }
        if let Some((_, _, rx)) = &mut self.kube {
            if rx.has_changed().unwrap_or(false) {
                rx.borrow_and_update();
                changed = true;
            }
        }
        if changed {
            self.rebuild();
        }
        changed
    }

    pub fn enrich(&self, rec: &mut FlowRecord) {
        enrich(rec, &self.index);
    }
}
