//! [`Snapshot`]: the Kubernetes objects the index is built from, whichever source they came from.

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{Namespace, Node, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;

/// The set of objects one source holds at one moment: a YAML file as loaded, or the watchers'
/// caches as read. Order does not matter: [`crate::Index::build`] gives the same index for any
/// order.
///
/// Deployments, StatefulSets, DaemonSets and CronJobs are kept when a file holds them, but the
/// index does not need them: owners are resolved from the pods', ReplicaSets' and Jobs' owner
/// references, so the Kubernetes source leaves those lists empty.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    /// Namespaces (their labels are kept in the index for namespace selectors).
    pub namespaces: Vec<Namespace>,
    /// Pods: the main thing the index maps IPs to.
    pub pods: Vec<Pod>,
    /// Services: their ClusterIPs map to the service.
    pub services: Vec<Service>,
    /// EndpointSlices: attach serving pods to services.
    pub endpoint_slices: Vec<EndpointSlice>,
    /// Nodes: their addresses map to the node.
    pub nodes: Vec<Node>,
    /// ReplicaSets: resolve Pod -> ReplicaSet -> Deployment.
    pub replica_sets: Vec<ReplicaSet>,
    /// Deployments (not needed for the index).
    pub deployments: Vec<Deployment>,
    /// StatefulSets (not needed for the index).
    pub stateful_sets: Vec<StatefulSet>,
    /// DaemonSets (not needed for the index).
    pub daemon_sets: Vec<DaemonSet>,
    /// Jobs: resolve Pod -> Job -> CronJob.
    pub jobs: Vec<Job>,
    /// CronJobs (not needed for the index).
    pub cron_jobs: Vec<CronJob>,
}

impl Snapshot {
    /// How many objects the snapshot holds, all kinds together.
    pub fn len(&self) -> usize {
        self.namespaces.len()
            + self.pods.len()
            + self.services.len()
            + self.endpoint_slices.len()
            + self.nodes.len()
            + self.replica_sets.len()
            + self.deployments.len()
            + self.stateful_sets.len()
            + self.daemon_sets.len()
            + self.jobs.len()
            + self.cron_jobs.len()
    }

    /// Adds every object of `other` (two sources feeding one index).
    pub fn extend(&mut self, other: Snapshot) {
        self.namespaces.extend(other.namespaces);
        self.pods.extend(other.pods);
        self.services.extend(other.services);
        self.endpoint_slices.extend(other.endpoint_slices);
        self.nodes.extend(other.nodes);
        self.replica_sets.extend(other.replica_sets);
        self.deployments.extend(other.deployments);
        self.stateful_sets.extend(other.stateful_sets);
        self.daemon_sets.extend(other.daemon_sets);
        self.jobs.extend(other.jobs);
        self.cron_jobs.extend(other.cron_jobs);
    }

    /// True when the snapshot holds no object.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
