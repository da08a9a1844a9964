//! The engine's pure inputs: a small inventory (pods, namespaces, nodes) and the connection to
//! explain. Callers convert from whatever source they have (the CLI from the inventory crate).

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A transport protocol the policy APIs know, or [`Protocol::Other`] for the rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Protocol {
    /// TCP (the APIs' default).
    #[serde(rename = "TCP")]
    Tcp,
    /// UDP.
    #[serde(rename = "UDP")]
    Udp,
    /// SCTP.
    #[serde(rename = "SCTP")]
    Sctp,
    /// Any other IP protocol (ICMP, ICMPv6, ...): no ports. Policy `ports` entries never match
    /// it (they name TCP, UDP or SCTP); rules without ports do. Never parsed from policy text.
    Other,
}

impl FromStr for Protocol {
    type Err = String;

    /// `TCP`, `UDP`, `SCTP`, any case ([`Protocol::Other`] has no policy spelling).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_uppercase().as_str() {
            "TCP" => Ok(Protocol::Tcp),
            "UDP" => Ok(Protocol::Udp),
            "SCTP" => Ok(Protocol::Sctp),
            _ => Err(format!("unknown protocol {s:?} (TCP, UDP, SCTP)")),
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Protocol::Tcp => "TCP",
            Protocol::Udp => "UDP",
            Protocol::Sctp => "SCTP",
            Protocol::Other => "other",
        })
    }
}

/// A named container port of a pod.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct NamedPort {
    /// The port's name.
    pub name: String,
    /// Its number.
    pub port: u16,
    /// Its protocol.
    pub protocol: Protocol,
}

/// A pod as policies see it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PodInfo {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// Pod IPs (the first is used when the pod is named rather than addressed).
    pub ips: Vec<IpAddr>,
    /// Named container ports.
    pub named_ports: Vec<NamedPort>,
    /// Addresses of the node the pod runs on (`status.hostIPs`): NetworkPolicies never isolate a
    /// pod from its own node (kubelet probes), whatever they say.
    #[serde(default)]
    pub host_ips: Vec<IpAddr>,
}

/// A namespace as policies see it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamespaceInfo {
    /// Name.
    pub name: String,
    /// Labels (`kubernetes.io/metadata.name` is implied when absent).
    pub labels: BTreeMap<String, String>,
}

/// A node as ANP `nodes` peers see it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeInfo {
    /// Name.
    pub name: String,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// Node addresses.
    pub ips: Vec<IpAddr>,
}

/// The cluster objects the engine needs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inventory {
    /// Pods.
    pub pods: Vec<PodInfo>,
    /// Namespaces.
    pub namespaces: Vec<NamespaceInfo>,
    /// Nodes.
    pub nodes: Vec<NodeInfo>,
}

impl Inventory {
    /// The labels of namespace `name`; the API server always sets
    /// `kubernetes.io/metadata.name`, so it is added when an inventory omits it (or the
    /// namespace object itself).
    pub fn namespace_labels(&self, name: &str) -> BTreeMap<String, String> {
        let mut labels = self
            .namespaces
            .iter()
            .find(|n| n.name == name)
            .map(|n| n.labels.clone())
            .unwrap_or_default();
        labels
            .entry("kubernetes.io/metadata.name".to_string())
            .or_insert_with(|| name.to_string());
        labels
    }

    /// The pod `namespace/name`.
    pub fn pod(&self, namespace: &str, name: &str) -> Option<&PodInfo> {
        self.pods
            .iter()
            .find(|p| p.namespace == namespace && p.name == name)
    }

    /// The pod that has `ip`.
    pub fn pod_by_ip(&self, ip: IpAddr) -> Option<&PodInfo> {
        self.pods.iter().find(|p| p.ips.contains(&ip))
    }

    /// The node that has `ip`.
    pub fn node_by_ip(&self, ip: IpAddr) -> Option<&NodeInfo> {
        self.nodes.iter().find(|n| n.ips.contains(&ip))
    }
}

/// One end of a connection, as the user names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Endpoint {
    /// A pod of the inventory.
    Pod {
        /// Namespace.
        namespace: String,
        /// Name.
        name: String,
    },
    /// An address: a pod's, a node's, or one outside the cluster.
    Ip(IpAddr),
}

impl FromStr for Endpoint {
    type Err = String;

    /// `NAMESPACE/POD` or an IP address.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Ok(ip) = s.parse() {
            return Ok(Endpoint::Ip(ip));
        }
        match s.split_once('/') {
            Some((ns, name)) if !ns.is_empty() && !name.is_empty() && !name.contains('/') => {
                Ok(Endpoint::Pod {
                    namespace: ns.to_string(),
                    name: name.to_string(),
                })
            }
            _ => Err(format!("{s:?} is neither NAMESPACE/POD nor an IP address")),
        }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Pod { namespace, name } => write!(f, "{namespace}/{name}"),
            Endpoint::Ip(ip) => write!(f, "{ip}"),
        }
    }
}

/// The connection to explain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Connection {
    /// Who opens it.
    pub src: Endpoint,
    /// Who it goes to.
    pub dst: Endpoint,
    /// Transport protocol ([`Protocol::Other`]: any protocol without ports).
    pub protocol: Protocol,
    /// Destination port (0 with [`Protocol::Other`]).
    pub port: u16,
    /// DNS names the destination address is known by (for EgressFirewall `dnsName` rules,
    /// which OVN-Kubernetes resolves to addresses).
    #[serde(default)]
    pub dst_dns_names: Vec<String>,
}
