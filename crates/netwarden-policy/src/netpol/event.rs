//! Network events: the structured decisions of the ACL tiers, with the messages OVN-Kubernetes
//! prints (`Allowed by network policy X in namespace N, direction Ingress`), in the JSON shape
//! NetObserv puts in a flow's `NetworkEvents`.

use std::fmt;

use serde::{Deserialize, Serialize};

/// What an ACL did with the packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Let it through.
    Allow,
    /// Dropped it.
    Drop,
    /// Delegated to the NetworkPolicy tier (ANP `Pass`).
    Pass,
}

/// Which kind of object owns the deciding ACL (OVN-Kubernetes' owner types).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EventType {
    /// An AdminNetworkPolicy.
    AdminNetworkPolicy,
    /// The BaselineAdminNetworkPolicy.
    BaselineAdminNetworkPolicy,
    /// A NetworkPolicy's allow rule.
    NetworkPolicy,
    /// The default deny of pods isolated by NetworkPolicies.
    NetpolNamespace,
    /// An EgressFirewall rule.
    EgressFirewall,
}

/// Traffic direction, as seen from the pod the rule applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Direction {
    /// Into the destination pod.
    Ingress,
    /// Out of the source pod.
    Egress,
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Direction::Ingress => "Ingress",
            Direction::Egress => "Egress",
        })
    }
}

/// One deciding event.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NetworkEvent {
    /// What was done.
    pub action: Action,
    /// Owner kind.
    pub kind: EventType,
    /// Owner name (empty for namespace isolation and the egress firewall).
    pub name: String,
    /// Owner namespace (empty for cluster-scoped owners).
    pub namespace: String,
    /// Direction; OVN-Kubernetes gives none for egress firewall events.
    pub direction: Option<Direction>,
}

impl NetworkEvent {
    /// The message OVN-Kubernetes' sample decoder prints for this event.
    pub fn message(&self) -> String {
        let action = match self.action {
            Action::Allow => "Allowed",
            Action::Drop => "Dropped",
            Action::Pass => "Delegated to network policy",
        };
        let actor = match self.kind {
            EventType::AdminNetworkPolicy => format!("admin network policy {}", self.name),
            EventType::BaselineAdminNetworkPolicy => {
                format!("baseline admin network policy {}", self.name)
            }
            EventType::NetworkPolicy => {
                format!(
                    "network policy {} in namespace {}",
                    self.name, self.namespace
                )
            }
            EventType::NetpolNamespace => {
                format!("network policies isolation in namespace {}", self.namespace)
            }
            EventType::EgressFirewall => format!("egress firewall in namespace {}", self.namespace),
        };
        match self.direction {
            Some(d) => format!("{action} by {actor}, direction {d}"),
            None => format!("{action} by {actor}"),
        }
    }

    /// The NetObserv `NetworkEvents` entry: `Action`, `Type`, `Feature` (`acl`), `Direction`,
    /// `Name`, `Namespace` (empty ones left out) and `Message`.
    pub fn to_json(&self) -> serde_json::Value {
        let mut map = serde_json::Map::new();
        let put = |map: &mut serde_json::Map<_, _>, k: &str, v: serde_json::Value| {
            map.insert(k.to_string(), v);
        };
        put(&mut map, "Action", serde_json::json!(self.action));
        put(&mut map, "Type", serde_json::json!(self.kind));
        put(&mut map, "Feature", "acl".into());
        if let Some(d) = self.direction {
            put(&mut map, "Direction", d.to_string().into());
        }
        if !self.name.is_empty() {
            put(&mut map, "Name", self.name.clone().into());
        }
        if !self.namespace.is_empty() {
            put(&mut map, "Namespace", self.namespace.clone().into());
        }
        put(&mut map, "Message", self.message().into());
        serde_json::Value::Object(map)
    }
}

impl fmt::Display for NetworkEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message())
    }
}
