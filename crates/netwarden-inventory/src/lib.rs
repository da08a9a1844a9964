//! The Kubernetes inventory: which pod, service or node is behind an IP address.
//!
//! Two sources feed one index (architecture decision 4):
//! - [`kube_source`]: kube-rs watchers over the cluster's pods, services, EndpointSlices, nodes,
//!   namespaces, ReplicaSets and Jobs;
//! - [`yaml`]: a YAML file holding the same objects (multi-document, or `kind: List`), reloaded by
//!   a [`FileWatcher`] when it changes.
//!
//! Both produce a [`Snapshot`]; the pure [`Index::build`] turns it into an [`Index`], reporting
//! invalid objects as [`InventoryProblem`]s rather than failing. [`enrich()`] fills a flow's
//! `SrcK8S_*`/`DstK8S_*` fields and `K8S_FlowLayer` from the index, as NetObserv's
//! flowlogs-pipeline does.
//!
//! ```
//! use netwarden_inventory::{enrich, yaml, Index};
//! use netwarden_model::FlowRecord;
//!
//! let text = r#"
//! apiVersion: v1
//! kind: Pod
//! metadata: {namespace: shop, name: web-0}
//! spec: {nodeName: node-a}
//! status: {hostIP: 192.168.1.10, podIPs: [{ip: 10.244.1.5}]}
//! "#;
//! let (snapshot, problems) = yaml::parse_str(text, "inline").unwrap();
//! assert!(problems.is_empty());
//! let (index, _) = Index::build(&snapshot);
//!
//! let mut flow = FlowRecord {
//!     src_addr: Some("10.244.1.5".parse().unwrap()),
//!     dst_addr: Some("93.184.216.34".parse().unwrap()),
//!     ..Default::default()
//! };
//! enrich(&mut flow, &index);
//! assert_eq!(flow.src_k8s.name.as_deref(), Some("web-0"));
//! assert_eq!(flow.src_k8s.owner_type.as_deref(), Some("Pod"));
//! assert_eq!(flow.dst_k8s.name, None);
//! assert_eq!(flow.k8s_flow_layer.as_deref(), Some("app"));
//! ```

mod enrich;
mod error;
mod file_watcher;
mod index;
pub mod kube_source;
mod owner;
mod problem;
mod snapshot;
pub mod yaml;

pub use enrich::{enrich, enrich_with, FlowLayerRule, FLOW_LAYER_APP, FLOW_LAYER_INFRA};
pub use error::InventoryError;
pub use file_watcher::FileWatcher;
pub use index::{Endpoint, EndpointKind, Index, ServiceInfo, PRIMARY_NETWORK};
pub use problem::{InventoryProblem, Severity};
pub use snapshot::Snapshot;
