//! [`Index`]: IP address -> the Kubernetes object behind it (pod, service or node).
//!
//! The index is built by a pure function from a [`crate::Snapshot`], so both sources (the
//! Kubernetes watchers and the YAML file) produce the same index for the same objects. It follows
//! NetObserv's flowlogs-pipeline:
//! - a pod's IPs map to the pod, except host-network pods, whose IPs are the node's: an IP lookup
//!   for a node address returns the node; the host-network pods stay queryable by node IP through
//!   [`Index::host_network_pods`];
//! - a service's ClusterIPs (IPv4 and IPv6) map to the service;
//! - a node's InternalIP and ExternalIP addresses map to the node;
//! - when several objects claim one IP, a pod wins over a node, a node over a service (the order
//!   in which flowlogs-pipeline looks them up), a running pod over a finished one, then the first
//!   by namespace and name, so the result never depends on the order objects arrived in.

mod build;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

/// The network name NetObserv reports for addresses on the cluster's primary (default) network,
/// which is every address this index knows.
pub const PRIMARY_NETWORK: &str = "primary";

/// What an [`Endpoint`] is, as NetObserv's `SrcK8S_Type`/`DstK8S_Type` name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EndpointKind {
    /// A pod (on the pod network, or host-network in [`Index::host_network_pods`]).
    Pod,
    /// A service, by its ClusterIP.
    Service,
    /// A node, by one of its addresses.
    Node,
}

impl EndpointKind {
    /// `Pod`, `Service` or `Node`.
    pub fn as_str(self) -> &'static str {
        match self {
            EndpointKind::Pod => "Pod",
            EndpointKind::Service => "Service",
            EndpointKind::Node => "Node",
        }
    }
}

impl fmt::Display for EndpointKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the index keeps about a service besides its identity.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServiceInfo {
    /// The service's ports as `(protocol, port)`, e.g. `("TCP", 443)`, in the service's order.
    pub ports: Vec<(String, u16)>,
    /// Names of the pods (in the service's namespace) that its EndpointSlices list as ready,
    /// sorted; empty when the snapshot holds no slice for the service.
    pub pods: Vec<String>,
}

/// The Kubernetes identity behind an IP address, with the values NetObserv puts in the
/// `*K8S_*` fields of a flow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// Pod, Service or Node (`K8S_Type`).
    pub kind: EndpointKind,
    /// The namespace; `None` for nodes (`K8S_Namespace`).
    pub namespace: Option<String>,
    /// The object's name (`K8S_Name`).
    pub name: String,
    /// The object's labels.
    pub labels: BTreeMap<String, String>,
    /// The workload: a pod's resolved owner (e.g. the Deployment), the pod itself when it has
    /// none; the service or node itself for those (`K8S_OwnerName`).
    pub owner_name: String,
    /// The owner's kind, e.g. `Deployment`, `DaemonSet`, `Pod`, `Service`, `Node`
    /// (`K8S_OwnerType`).
    pub owner_type: String,
    /// The node's IP: for a pod, its `status.hostIP`; for a node, its first address
    /// (`K8S_HostIP`). `None` for services and unscheduled pods.
    pub host_ip: Option<IpAddr>,
    /// The node's name: for a pod, its `spec.nodeName` (or the node owning `host_ip`); for a
    /// node, itself (`K8S_HostName`).
    pub host_name: Option<String>,
    /// The network the address is on (`K8S_NetworkName`): [`PRIMARY_NETWORK`] for every entry
    /// of this index.
    pub network_name: Option<String>,
    /// Ports and serving pods, for services only.
    pub service: Option<ServiceInfo>,
}

/// The in-memory index from IP address to [`Endpoint`]. Build it with [`Index::build`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Index {
    // Arc: a dual-stack pod or service shares one Endpoint between its addresses.
    by_ip: HashMap<IpAddr, Arc<Endpoint>>,
    // Sorted by namespace and name for each node IP.
    host_network: HashMap<IpAddr, Vec<Endpoint>>,
    namespaces: BTreeMap<String, BTreeMap<String, String>>,
}

impl Index {
    /// The object behind `ip`: a pod, a node (also for host-network pods' traffic) or a service.
    /// IPv4-mapped IPv6 addresses (`::ffff:10.0.0.1`) are looked up as IPv4.
    pub fn lookup(&self, ip: IpAddr) -> Option<&Endpoint> {
        self.by_ip.get(&ip.to_canonical()).map(Arc::as_ref)
    }

    /// The host-network pods on the node with address `node_ip`, sorted by namespace and name;
    /// empty when there are none.
    pub fn host_network_pods(&self, node_ip: IpAddr) -> &[Endpoint] {
        self.host_network
            .get(&node_ip.to_canonical())
            .map(Vec::as_slice)
            .unwrap_or_default()
    }

    /// The labels of namespace `name`, if the snapshot held it.
    pub fn namespace_labels(&self, name: &str) -> Option<&BTreeMap<String, String>> {
        self.namespaces.get(name)
    }

    /// Every indexed address with its endpoint, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (IpAddr, &Endpoint)> {
        self.by_ip.iter().map(|(ip, ep)| (*ip, ep.as_ref()))
    }

    /// How many addresses the index maps (host-network pods not counted).
    pub fn len(&self) -> usize {
        self.by_ip.len()
    }

    /// True when no address is indexed.
    pub fn is_empty(&self) -> bool {
        self.by_ip.is_empty()
    }
}
