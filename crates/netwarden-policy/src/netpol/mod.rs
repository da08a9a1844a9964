//! The pure network-policy engine: given an inventory (pods, namespaces, nodes) and the
//! policies of a cluster, which tier allows or drops a connection, per direction, with the
//! events OVN-Kubernetes would report.
//!
//! Policies: `networking.k8s.io/v1` NetworkPolicy, `policy.networking.k8s.io/v1alpha1`
//! AdminNetworkPolicy and BaselineAdminNetworkPolicy, `k8s.ovn.org/v1` EgressFirewall
//! ([`objects`]). [`load`] reads them from YAML and leaves out invalid ones with a
//! [`PolicyProblem`] each; [`explain`] evaluates a [`Connection`] ([`explain_direction`] one
//! direction of it); each [`NetworkEvent`] has the NetObserv `NetworkEvents` JSON form and the
//! OVN-Kubernetes message. [`compile_enforcement`] turns the policies of a node's pods into
//! lookup tables answering as [`explain_direction`] does, for enforce mode ([`enforce`]).
//!
//! ```
//! use netwarden_policy::netpol::{self, Connection, Inventory, PodInfo, Protocol, Verdict};
//!
//! let (policies, problems) = netpol::parse_str(r#"
//! kind: NetworkPolicy
//! apiVersion: networking.k8s.io/v1
//! metadata: {name: deny-all, namespace: shop}
//! spec: {podSelector: {}}
//! "#, "inline").unwrap();
//! assert!(problems.is_empty());
//! let pod = |name: &str, ip: &str| PodInfo {
//!     namespace: "shop".into(), name: name.into(), ips: vec![ip.parse().unwrap()],
//!     ..Default::default()
//! };
//! let inventory = Inventory { pods: vec![pod("a", "10.0.0.1"), pod("b", "10.0.0.2")], ..Default::default() };
//! let conn = Connection {
//!     src: "shop/a".parse().unwrap(), dst: "shop/b".parse().unwrap(),
//!     protocol: Protocol::Tcp, port: 80, dst_dns_names: vec![],
//! };
//! let answer = netpol::explain(&inventory, &policies, &conn).unwrap();
//! assert_eq!(answer.verdict, Verdict::Dropped);
//! assert_eq!(answer.events[0].message(),
//!     "Dropped by network policies isolation in namespace shop, direction Ingress");
//! ```

pub mod cidr;
pub mod enforce;
pub mod engine;
pub mod event;
pub mod load;
pub mod model;
pub mod objects;
pub mod selector;
pub mod validate;

#[cfg(test)]
mod tests;

pub use enforce::{
    compile_enforcement, ruleset_name, ClassPrefix, EnforceError, EnforcedPod, Enforcement, RuleSet,
};
pub use engine::{
    explain, explain_direction, DirectionVerdict, ExplainError, Explanation, Verdict, MAX_EVENTS,
};
pub use event::{Action, Direction, EventType, NetworkEvent};
pub use load::{parse_str, PolicyLoadError, PolicyLoader, PolicyProblem, PolicySet};
pub use model::{
    Connection, Endpoint, Inventory, NamedPort, NamespaceInfo, NodeInfo, PodInfo, Protocol,
};
