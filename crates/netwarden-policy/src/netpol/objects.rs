//! Minimal serde models of the policy objects: only the fields the engine reads. Unknown fields
//! (status, annotations...) are ignored, so `kubectl get -o yaml` output loads as is.

use serde::{Deserialize, Serialize};

use super::selector::LabelSelector;

/// The part of `metadata` the engine uses.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metadata {
    /// Object name.
    #[serde(default)]
    pub name: String,
    /// Namespace (namespaced kinds; `default` when absent, as `kubectl apply` does).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// A port written as a number or as a container port name (`IntOrString`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum IntOrString {
    /// A port number.
    Int(i64),
    /// A named container port.
    String(String),
}

// ---------------------------------------------------------------- networking.k8s.io/v1

/// `networking.k8s.io/v1` NetworkPolicy.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkPolicy {
    /// Name and namespace.
    #[serde(default)]
    pub metadata: Metadata,
    /// The policy.
    #[serde(default)]
    pub spec: NetworkPolicySpec,
}

/// `NetworkPolicy.spec`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkPolicySpec {
    /// The pods of the policy's namespace the policy isolates.
    #[serde(default)]
    pub pod_selector: LabelSelector,
    /// `Ingress`, `Egress`; when absent, Ingress plus Egress if `egress` has rules.
    #[serde(default)]
    pub policy_types: Option<Vec<String>>,
    /// Ingress allow rules.
    #[serde(default)]
    pub ingress: Vec<NetworkPolicyIngressRule>,
    /// Egress allow rules.
    #[serde(default)]
    pub egress: Vec<NetworkPolicyEgressRule>,
}

/// One ingress rule: traffic from any of `from` to any of `ports`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkPolicyIngressRule {
    /// Sources (empty: every source).
    #[serde(default)]
    pub from: Vec<NetworkPolicyPeer>,
    /// Ports (empty: every port).
    #[serde(default)]
    pub ports: Vec<NetworkPolicyPort>,
}

/// One egress rule: traffic to any of `to` on any of `ports`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkPolicyEgressRule {
    /// Destinations (empty: every destination).
    #[serde(default)]
    pub to: Vec<NetworkPolicyPeer>,
    /// Ports (empty: every port).
    #[serde(default)]
    pub ports: Vec<NetworkPolicyPort>,
}

/// A peer: selectors (ANDed when both are set) or an IP block.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkPolicyPeer {
    /// Pods (in the policy's namespace unless `namespaceSelector` is set).
    #[serde(default)]
    pub pod_selector: Option<LabelSelector>,
    /// Namespaces whose pods match.
    #[serde(default)]
    pub namespace_selector: Option<LabelSelector>,
    /// Addresses; not combinable with the selectors.
    #[serde(default)]
    pub ip_block: Option<IpBlock>,
}

/// `ipBlock`: a CIDR minus exceptions.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpBlock {
    /// The block.
    pub cidr: String,
    /// Sub-blocks left out.
    #[serde(default)]
    pub except: Vec<String>,
}

/// A port or port range of a NetworkPolicy rule.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkPolicyPort {
    /// `TCP` (default), `UDP` or `SCTP`.
    #[serde(default)]
    pub protocol: Option<String>,
    /// Number or named port; absent: every port of the protocol.
    #[serde(default)]
    pub port: Option<IntOrString>,
    /// Last port of a range starting at the numeric `port`.
    #[serde(default)]
    pub end_port: Option<i64>,
}

// ------------------------------------------------------ policy.networking.k8s.io/v1alpha1

/// `AdminNetworkPolicy` (cluster-scoped), or the single `BaselineAdminNetworkPolicy` when
/// loaded as such (which has no priority and no `Pass`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminNetworkPolicy {
    /// Name.
    #[serde(default)]
    pub metadata: Metadata,
    /// The policy.
    #[serde(default)]
    pub spec: AdminNetworkPolicySpec,
}

/// `AdminNetworkPolicy.spec` (also BANP's spec, `priority` absent).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminNetworkPolicySpec {
    /// 0..=1000, lower first.
    #[serde(default)]
    pub priority: Option<i64>,
    /// The pods the policy applies to.
    #[serde(default)]
    pub subject: AdminSubject,
    /// Ingress rules, in order.
    #[serde(default)]
    pub ingress: Vec<AdminRule>,
    /// Egress rules, in order.
    #[serde(default)]
    pub egress: Vec<AdminRule>,
}

/// The subject: exactly one of `namespaces` and `pods`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminSubject {
    /// Every pod of the matching namespaces.
    #[serde(default)]
    pub namespaces: Option<LabelSelector>,
    /// Matching pods of matching namespaces.
    #[serde(default)]
    pub pods: Option<AdminPods>,
}

/// Pods by namespace and pod labels.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdminPods {
    /// Namespaces.
    #[serde(default)]
    pub namespace_selector: LabelSelector,
    /// Pods in them.
    #[serde(default)]
    pub pod_selector: LabelSelector,
}

/// One ANP/BANP rule; ingress rules use `from`, egress rules `to`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminRule {
    /// Rule name (optional, for humans).
    #[serde(default)]
    pub name: Option<String>,
    /// `Allow`, `Deny`, or (ANP only) `Pass`.
    #[serde(default)]
    pub action: String,
    /// Ingress peers.
    #[serde(default)]
    pub from: Vec<AdminPeer>,
    /// Egress peers.
    #[serde(default)]
    pub to: Vec<AdminPeer>,
    /// Ports; absent: every port.
    #[serde(default)]
    pub ports: Option<Vec<AdminPort>>,
}

/// One peer: exactly one field set (`nodes` and `networks` only in egress).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminPeer {
    /// Every pod of the matching namespaces.
    #[serde(default)]
    pub namespaces: Option<LabelSelector>,
    /// Matching pods of matching namespaces.
    #[serde(default)]
    pub pods: Option<AdminPods>,
    /// Matching nodes (their addresses).
    #[serde(default)]
    pub nodes: Option<LabelSelector>,
    /// CIDRs.
    #[serde(default)]
    pub networks: Option<Vec<String>>,
}

/// One port entry: exactly one field set.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdminPort {
    /// A single port.
    #[serde(default)]
    pub port_number: Option<AdminPortNumber>,
    /// A range.
    #[serde(default)]
    pub port_range: Option<AdminPortRange>,
    /// A container port name of the destination pod.
    #[serde(default)]
    pub named_port: Option<String>,
}

/// `portNumber`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminPortNumber {
    /// `TCP` (default), `UDP`, `SCTP`.
    #[serde(default)]
    pub protocol: Option<String>,
    /// The port.
    pub port: i64,
}

/// `portRange`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminPortRange {
    /// `TCP` (default), `UDP`, `SCTP`.
    #[serde(default)]
    pub protocol: Option<String>,
    /// First port.
    pub start: i64,
    /// Last port.
    pub end: i64,
}

// ---------------------------------------------------------------------------- k8s.ovn.org/v1

/// OVN-Kubernetes `EgressFirewall` (one per namespace, named `default`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EgressFirewall {
    /// Name and namespace.
    #[serde(default)]
    pub metadata: Metadata,
    /// The rules.
    #[serde(default)]
    pub spec: EgressFirewallSpec,
}

/// `EgressFirewall.spec`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EgressFirewallSpec {
    /// Ordered rules; the first match decides.
    #[serde(default)]
    pub egress: Vec<EgressFirewallRule>,
}

/// One rule.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EgressFirewallRule {
    /// `Allow` or `Deny`.
    #[serde(rename = "type", default)]
    pub kind: String,
    /// Destination.
    #[serde(default)]
    pub to: EgressFirewallDestination,
    /// Ports; empty: every port.
    #[serde(default)]
    pub ports: Vec<EgressFirewallPort>,
}

/// Exactly one of `cidrSelector`, `dnsName` and `nodeSelector`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EgressFirewallDestination {
    /// A CIDR.
    #[serde(default)]
    pub cidr_selector: Option<String>,
    /// A DNS name (`*.` wildcard prefix allowed).
    #[serde(default)]
    pub dns_name: Option<String>,
    /// Nodes by label: the rule matches a destination that is an address of a matching node.
    #[serde(default)]
    pub node_selector: Option<LabelSelector>,
}

/// A port of an EgressFirewall rule.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EgressFirewallPort {
    /// `TCP`, `UDP` or `SCTP`.
    #[serde(default)]
    pub protocol: String,
    /// The port; absent: every port of the protocol.
    #[serde(default)]
    pub port: Option<i64>,
}
