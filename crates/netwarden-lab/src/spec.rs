//! The pods a lab builds, read from a Kubernetes inventory file (the YAML `kubectl get -o yaml`
//! writes, or hand-written objects): only the fields the lab needs, so the lab does not depend on
//! the inventory crate and tolerates every other field and kind.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;

/// A problem with the inventory: which document or object, which field, what is wrong.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    /// A YAML document that cannot be read at all.
    #[error("document {document}: {source}")]
    Yaml {
        /// 1-based position of the document in the file.
        document: usize,
        source: serde_yaml::Error,
    },
    /// A field of one object with a bad value.
    #[error("{kind} {object}: {field}: {reason}")]
    Field {
        kind: String,
        /// `namespace/name`.
        object: String,
        /// The field's path, e.g. `status.podIPs[1].ip`.
        field: String,
        reason: String,
    },
    /// Two pods with the same namespace and name.
    #[error("Pod {0} appears twice")]
    DuplicatePod(String),
    /// Two pods with the same address.
    #[error("pods {first} and {second} both have address {ip}")]
    DuplicateIp {
        ip: IpAddr,
        first: String,
        second: String,
    },
}

/// Every pod of an inventory, in file order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabSpec {
    pub pods: Vec<PodSpec>,
}

/// One pod as the lab sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodSpec {
    /// `metadata.namespace` (`default` when absent, as the API server would set it).
    pub namespace: String,
    pub name: String,
    pub labels: BTreeMap<String, String>,
    /// `spec.hostNetwork`: the pod is the node itself, the lab makes nothing for it.
    pub host_network: bool,
    /// `status.podIP` then the other `status.podIPs`, at most one per family.
    pub ips: Vec<IpAddr>,
    /// `status.hostIP`.
    pub host_ip: Option<IpAddr>,
    /// Every container's `ports`, in order, without repeats.
    pub ports: Vec<ContainerPort>,
}

impl PodSpec {
    /// `namespace/name`, how pods are named everywhere in the lab.
    pub fn key(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }
}

/// A `containerPort` with its protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ContainerPort {
    pub port: u16,
    pub protocol: Protocol,
}

/// A container port's protocol.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Tcp,
    Udp,
    Sctp,
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::Sctp => "sctp",
        })
    }
}

impl LabSpec {
    /// The pods of `text`: one or more YAML documents, each an object or a `List` (any kind ending
    /// in `List`) of objects. Objects of other kinds are skipped.
    pub fn from_yaml(text: &str) -> Result<Self, SpecError> {
        let mut pods = Vec::new();
        for (i, document) in serde_yaml::Deserializer::from_str(text).enumerate() {
            let value =
                serde_yaml::Value::deserialize(document).map_err(|source| SpecError::Yaml {
                    document: i + 1,
                    source,
                })?;
            collect(value, &mut pods)?;
        }
        let spec = Self { pods };
        spec.check_unique()?;
        Ok(spec)
    }

    /// The pod `namespace/name`.
    pub fn pod(&self, key: &str) -> Option<&PodSpec> {
        self.pods.iter().find(|p| p.key() == key)
    }

    fn check_unique(&self) -> Result<(), SpecError> {
        let mut keys = BTreeMap::new();
        let mut ips: BTreeMap<IpAddr, String> = BTreeMap::new();
        for pod in &self.pods {
            if keys.insert(pod.key(), ()).is_some() {
                return Err(SpecError::DuplicatePod(pod.key()));
            }
            // Host-network pods share the node's address, so only pod-network addresses must differ.
            if pod.host_network {
                continue;
            }
            for ip in &pod.ips {
                if let Some(first) = ips.insert(*ip, pod.key()) {
                    return Err(SpecError::DuplicateIp {
                        ip: *ip,
                        first,
                        second: pod.key(),
                    });
                }
            }
        }
        Ok(())
    }
}

/// Adds the pods in `value` (an object, a list, or nothing of interest) to `pods`.
fn collect(value: serde_yaml::Value, pods: &mut Vec<PodSpec>) -> Result<(), SpecError> {
    // An empty document (a trailing `---`, a file of comments) is null.
    if value.is_null() {
        return Ok(());
    }
    let kind = value
        .get("kind")
        .and_then(|k| k.as_str())
        .unwrap_or_default()
        .to_string();
    if kind == "Pod" {
        let object = object_name(&value);
        // from_value alone would say what is wrong but not where.
        let raw: RawPod =
            serde_path_to_error::deserialize(value).map_err(|e| SpecError::Field {
                kind: kind.clone(),
                object,
                field: e.path().to_string(),
                reason: e.into_inner().to_string(),
            })?;
        pods.push(raw.into_spec()?);
    } else if kind.ends_with("List") {
        if let Some(serde_yaml::Value::Sequence(items)) = value.get("items") {
            for item in items {
                collect(item.clone(), pods)?;
            }
        }
    }
    Ok(())
}

/// `namespace/name` of any object, for error messages written before the object is parsed.
fn object_name(value: &serde_yaml::Value) -> String {
    let meta = value.get("metadata");
    let get = |field: &str| {
        meta.and_then(|m| m.get(field))
            .and_then(|v| v.as_str())
            .map(str::to_string)
    };
    format!(
        "{}/{}",
        get("namespace").unwrap_or_else(|| "default".into()),
        get("name").unwrap_or_else(|| "(unnamed)".into())
    )
}

// The slice of the Pod API the lab reads. Scalars the lab validates itself are kept as YAML values
// so a bad one is reported with its field path rather than as a serde type error.

#[derive(Deserialize)]
struct RawPod {
    #[serde(default)]
    metadata: RawMeta,
    #[serde(default)]
    spec: RawPodSpec,
    #[serde(default)]
    status: RawStatus,
}

#[derive(Deserialize, Default)]
struct RawMeta {
    name: Option<String>,
    namespace: Option<String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct RawPodSpec {
    #[serde(default)]
    host_network: bool,
    #[serde(default)]
    containers: Vec<RawContainer>,
}

#[derive(Deserialize)]
struct RawContainer {
    #[serde(default)]
    ports: Vec<RawPort>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawPort {
    container_port: Option<serde_yaml::Value>,
    protocol: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct RawStatus {
    #[serde(rename = "podIP")]
    pod_ip: Option<String>,
    #[serde(rename = "podIPs", default)]
    pod_ips: Vec<RawPodIp>,
    #[serde(rename = "hostIP")]
    host_ip: Option<String>,
}

#[derive(Deserialize)]
struct RawPodIp {
    ip: Option<String>,
}

impl RawPod {
    fn into_spec(self) -> Result<PodSpec, SpecError> {
        let namespace = self
            .metadata
            .namespace
            .clone()
            .unwrap_or_else(|| "default".into());
        let object = format!(
            "{namespace}/{}",
            self.metadata.name.as_deref().unwrap_or("(unnamed)")
        );
        let err = |field: String, reason: String| SpecError::Field {
            kind: "Pod".into(),
            object: object.clone(),
            field,
            reason,
        };
        let name = match self.metadata.name {
            Some(n) if !n.is_empty() => n,
            _ => return Err(err("metadata.name".into(), "missing".into())),
        };
        let host_network = self.spec.host_network;

        let mut candidates = Vec::new();
        if let Some(ip) = &self.status.pod_ip {
            candidates.push(("status.podIP".to_string(), ip.clone()));
        }
        for (i, entry) in self.status.pod_ips.iter().enumerate() {
            match &entry.ip {
                Some(ip) => candidates.push((format!("status.podIPs[{i}].ip"), ip.clone())),
                None => return Err(err(format!("status.podIPs[{i}].ip"), "missing".into())),
            }
        }
        let mut ips: Vec<IpAddr> = Vec::new();
        for (field, text) in candidates {
            let ip = parse_ip(&text).map_err(|reason| err(field.clone(), reason))?;
            if !host_network {
                pod_network_address(ip).map_err(|reason| err(field.clone(), reason))?;
            }
            if ips.contains(&ip) {
                continue; // podIP is repeated as podIPs[0]
            }
            if let Some(other) = ips.iter().find(|o| o.is_ipv4() == ip.is_ipv4()) {
                return Err(err(
                    field,
                    format!("{ip}: a second address of the family of {other} (Kubernetes allows one per family)"),
                ));
            }
            ips.push(ip);
        }
        if ips.is_empty() && !host_network {
            return Err(err(
                "status.podIP".into(),
                "missing: the lab builds a pod with the addresses its status reports and allocates none".into(),
            ));
        }
        let host_ip = match &self.status.host_ip {
            Some(text) => Some(parse_ip(text).map_err(|r| err("status.hostIP".into(), r))?),
            None => None,
        };

        let mut ports = Vec::new();
        for (c, container) in self.spec.containers.iter().enumerate() {
            for (p, port) in container.ports.iter().enumerate() {
                let field = format!("spec.containers[{c}].ports[{p}]");
                let number = match &port.container_port {
                    Some(v) => v
                        .as_u64()
                        .filter(|n| (1..=65535).contains(n))
                        .ok_or_else(|| {
                            err(
                                format!("{field}.containerPort"),
                                format!("{}: not a port number (1-65535)", yaml_text(v)),
                            )
                        })?,
                    None => return Err(err(format!("{field}.containerPort"), "missing".into())),
                };
                let protocol = match port.protocol.as_deref().unwrap_or("TCP") {
                    "TCP" => Protocol::Tcp,
                    "UDP" => Protocol::Udp,
                    "SCTP" => Protocol::Sctp,
                    other => {
                        return Err(err(
                            format!("{field}.protocol"),
                            format!("{other:?}: not TCP, UDP or SCTP"),
                        ))
                    }
                };
                let cp = ContainerPort {
                    port: number as u16,
                    protocol,
                };
                if !ports.contains(&cp) {
                    ports.push(cp);
                }
            }
        }
        Ok(PodSpec {
            namespace,
            name,
            labels: self.metadata.labels,
            host_network,
            ips,
            host_ip,
            ports,
        })
    }
}

fn parse_ip(text: &str) -> Result<IpAddr, String> {
    text.trim()
        .parse()
        .map_err(|_| format!("{text:?}: not an IPv4 or IPv6 address"))
}

/// Refuses addresses a pod on the pod network cannot have: the lab gives each pod the /24 (IPv4)
/// or /64 (IPv6) containing its address, on a bridge of this machine.
fn pod_network_address(ip: IpAddr) -> Result<(), String> {
    let bad = match ip {
        IpAddr::V4(v4) => {
            let last = v4.octets()[3];
            if v4.is_unspecified() || v4.is_loopback() || v4.is_multicast() || v4.is_broadcast() {
                Some("not a unicast address")
            } else if last == 0 || last == 255 {
                Some("the network or broadcast address of its /24")
            } else {
                None
            }
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            if v6.is_unspecified() || v6.is_loopback() || v6.is_multicast() {
                Some("not a unicast address")
            } else if s[0] & 0xffc0 == 0xfe80 {
                Some("link-local (every interface has that /64 already)")
            } else if v6.to_ipv4_mapped().is_some() {
                Some("an IPv4-mapped address")
            } else if s[4..] == [0, 0, 0, 0] {
                Some("the subnet-router anycast address of its /64")
            } else {
                None
            }
        }
    };
    match bad {
        Some(why) => Err(format!("{ip}: {why}")),
        None => Ok(()),
    }
}

fn yaml_text(v: &serde_yaml::Value) -> String {
    serde_yaml::to_string(v)
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| format!("{v:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const POD: &str = "
apiVersion: v1
kind: Pod
metadata: {name: a, namespace: ns, labels: {app: x}}
spec:
  containers:
  - name: c
    ports: [{containerPort: 80}, {containerPort: 53, protocol: UDP}, {containerPort: 80}]
status:
  podIP: 10.1.2.3
  podIPs: [{ip: 10.1.2.3}, {ip: 'fd00:1:2::3'}]
  hostIP: 192.168.0.10
";

    #[test]
    fn reads_a_pod() {
        let spec = LabSpec::from_yaml(POD).unwrap();
        let pod = &spec.pods[0];
        assert_eq!(pod.key(), "ns/a");
        assert_eq!(pod.labels["app"], "x");
        assert!(!pod.host_network);
        assert_eq!(
            pod.ips,
            vec![
                "10.1.2.3".parse::<IpAddr>().unwrap(),
                "fd00:1:2::3".parse().unwrap()
            ]
        );
        assert_eq!(pod.host_ip, Some("192.168.0.10".parse().unwrap()));
        assert_eq!(
            pod.ports,
            vec![
                ContainerPort {
                    port: 80,
                    protocol: Protocol::Tcp
                },
                ContainerPort {
                    port: 53,
                    protocol: Protocol::Udp
                }
            ]
        );
    }

    #[test]
    fn documents_lists_and_other_kinds() {
        let text = "
kind: Service
metadata: {name: s}
spec: {clusterIP: 10.96.0.10}
---
apiVersion: v1
kind: List
items:
- kind: Pod
  metadata: {name: b}
  status: {podIP: 10.0.0.2}
- kind: ConfigMap
  metadata: {name: c}
---
kind: PodList
items:
- kind: Pod
  metadata: {name: h, namespace: kube-system}
  spec: {hostNetwork: true}
  status: {podIP: 192.168.0.10, hostIP: 192.168.0.10}
---
";
        let spec = LabSpec::from_yaml(text).unwrap();
        let keys: Vec<_> = spec.pods.iter().map(PodSpec::key).collect();
        assert_eq!(keys, ["default/b", "kube-system/h"]);
        assert!(spec.pods[1].host_network);
        assert!(spec.pod("default/b").is_some());
    }

    #[test]
    fn errors_name_object_and_field() {
        let pod = |status: &str, ports: &str| {
            format!("kind: Pod\nmetadata: {{name: p, namespace: n}}\nspec: {{containers: [{{ports: {ports}}}]}}\nstatus: {status}\n")
        };
        let cases = [
            (
                pod("{podIP: 10.0.0.300}", "[]"),
                "Pod n/p: status.podIP: \"10.0.0.300\": not an IPv4 or IPv6 address",
            ),
            (
                pod("{podIP: 10.0.0.1, podIPs: [{ip: 10.0.0.1}, {ip: 'fd00::zz'}]}", "[]"),
                "Pod n/p: status.podIPs[1].ip: \"fd00::zz\": not an IPv4 or IPv6 address",
            ),
            (
                pod("{podIPs: [{ip: 10.0.0.1}, {ip: 10.0.0.2}]}", "[]"),
                "Pod n/p: status.podIPs[1].ip: 10.0.0.2: a second address of the family of 10.0.0.1 (Kubernetes allows one per family)",
            ),
            (
                pod("{}", "[]"),
                "Pod n/p: status.podIP: missing: the lab builds a pod with the addresses its status reports and allocates none",
            ),
            (
                pod("{podIP: 10.0.0.255}", "[]"),
                "Pod n/p: status.podIP: 10.0.0.255: the network or broadcast address of its /24",
            ),
            (
                pod("{podIP: 'fe80::1'}", "[]"),
                "Pod n/p: status.podIP: fe80::1: link-local (every interface has that /64 already)",
            ),
            (
                pod("{podIP: 'fd00:1::'}", "[]"),
                "Pod n/p: status.podIP: fd00:1::: the subnet-router anycast address of its /64",
            ),
            (
                pod("{podIP: 10.0.0.1, hostIP: node}", "[]"),
                "Pod n/p: status.hostIP: \"node\": not an IPv4 or IPv6 address",
            ),
            (
                pod("{podIP: 10.0.0.1}", "[{containerPort: 70000}]"),
                "Pod n/p: spec.containers[0].ports[0].containerPort: 70000: not a port number (1-65535)",
            ),
            (
                pod("{podIP: 10.0.0.1}", "[{containerPort: http}]"),
                "Pod n/p: spec.containers[0].ports[0].containerPort: http: not a port number (1-65535)",
            ),
            (
                pod("{podIP: 10.0.0.1}", "[{containerPort: 1, protocol: ICMP}]"),
                "Pod n/p: spec.containers[0].ports[0].protocol: \"ICMP\": not TCP, UDP or SCTP",
            ),
            (
                "kind: Pod\nmetadata: {namespace: n}\nstatus: {podIP: 10.0.0.1}\n".to_string(),
                "Pod n/(unnamed): metadata.name: missing",
            ),
            (
                "kind: Pod\nmetadata: {name: p}\nspec: {containers: 3}\n".to_string(),
                "Pod default/p: spec.containers: invalid type: integer `3`, expected a sequence",
            ),
            (
                format!("{}---\n{}", pod("{podIP: 10.0.0.1}", "[]"), pod("{podIP: 10.0.0.2}", "[]")),
                "Pod n/p appears twice",
            ),
            (
                format!(
                    "{}---\n{}",
                    pod("{podIP: 10.0.0.1}", "[]"),
                    pod("{podIP: 10.0.0.1}", "[]").replace("name: p", "name: q")
                ),
                "pods n/p and n/q both have address 10.0.0.1",
            ),
            ("a: [".to_string(), "document 1: "),
        ];
        for (text, want) in cases {
            let got = LabSpec::from_yaml(&text).unwrap_err().to_string();
            assert!(got.starts_with(want), "{text}\n got: {got}\nwant: {want}");
        }
    }

    #[test]
    fn host_network_pods_may_share_the_node_address() {
        let text = "
kind: Pod
metadata: {name: a}
spec: {hostNetwork: true}
status: {podIP: 192.168.0.10}
---
kind: Pod
metadata: {name: b}
spec: {hostNetwork: true}
status: {podIP: 192.168.0.10}
";
        assert_eq!(LabSpec::from_yaml(text).unwrap().pods.len(), 2);
    }
}
