//! [`Index::build`]: from a snapshot of objects to the index, reporting what it skipped.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::net::IpAddr;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Namespace, Node, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::{Endpoint, EndpointKind, Index, ServiceInfo, PRIMARY_NETWORK};
use crate::owner::Owners;
use crate::{InventoryProblem, Severity, Snapshot};

/// The label EndpointSlices carry to name their service.
const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

impl Index {
    /// Builds the index from `snapshot`. Invalid objects (no name, an address that does not
    /// parse, a port out of range...) are reported as [`Severity::Error`] problems and skipped;
    /// addresses claimed by several objects are reported as [`Severity::Warning`]s (except a
    /// finished pod's, whose IP is routinely reused). Problems come sorted, so the result does not
    /// depend on the order of the snapshot's objects.
    pub fn build(snapshot: &Snapshot) -> (Index, Vec<InventoryProblem>) {
        let mut b = Builder::default();
        let namespaces = b.namespaces(&snapshot.namespaces);
        let owners = Owners::from_snapshot(snapshot);
        let node_names = b.nodes(&snapshot.nodes);
        let pods_by_ip = b.pods(&snapshot.pods, &owners, &node_names);
        let backends = b.backends(&snapshot.endpoint_slices, &pods_by_ip);
        b.services(&snapshot.services, &backends);
        let (by_ip, host_network) = b.resolve_claims();
        let mut problems = b.problems;
        problems.sort();
        let index = Index {
            by_ip,
            host_network,
            namespaces,
        };
        (index, problems)
    }
}

/// One object's claim on one address.
struct Claim {
    endpoint: Arc<Endpoint>,
    /// Finished pods (Succeeded/Failed) lose to live ones without a warning.
    finished: bool,
}

impl Claim {
    /// Lower wins: pod, then node, then service (flowlogs-pipeline's lookup order); live before
    /// finished; then by namespace and name.
    fn rank(&self) -> (u8, bool, Option<&str>, &str) {
        let kind = match self.endpoint.kind {
            EndpointKind::Pod => 0,
            EndpointKind::Node => 1,
            EndpointKind::Service => 2,
        };
        let ep = &self.endpoint;
        (
            kind,
            self.finished,
            ep.namespace.as_deref(),
            ep.name.as_str(),
        )
    }
}

#[derive(Default)]
struct Builder {
    problems: Vec<InventoryProblem>,
    /// (kind, namespace, name) of every object taken so far, to skip duplicates.
    seen: HashSet<(String, Option<String>, String)>,
    claims: HashMap<IpAddr, Vec<Claim>>,
    host_network: HashMap<IpAddr, Vec<Endpoint>>,
}

/// Parses `text` as an address, or describes why not (`field` locates it in the object).
fn parse_ip(field: &str, text: &str) -> Result<IpAddr, String> {
    text.trim()
        .parse::<IpAddr>()
        .map(|ip| ip.to_canonical())
        .map_err(|_| format!("{field}: {text:?} is not an IP address; skipped"))
}

impl Builder {
    /// The name of a cluster-scoped object; `None` (reported) when it has none.
    fn cluster_name<'m>(&mut self, kind: &str, meta: &'m ObjectMeta) -> Option<&'m str> {
        let name = meta.name.as_deref().filter(|s| !s.is_empty());
        match name {
            Some(name) => self.first_time(kind, None, name).then_some(name),
            None => {
                self.problems.push(InventoryProblem::new(
                    Severity::Error,
                    kind,
                    None,
                    None,
                    "metadata.name is missing; skipped",
                ));
                None
            }
        }
    }

    /// Namespace and name of a namespaced object; `None` (reported) when one is missing.
    fn namespaced_name<'m>(
        &mut self,
        kind: &str,
        meta: &'m ObjectMeta,
    ) -> Option<(&'m str, &'m str)> {
        let ns = meta.namespace.as_deref().filter(|s| !s.is_empty());
        let name = meta.name.as_deref().filter(|s| !s.is_empty());
        let missing = match (ns, name) {
            (Some(ns), Some(name)) => {
                return self.first_time(kind, Some(ns), name).then_some((ns, name))
            }
            (_, None) => "metadata.name is missing; skipped",
            (None, Some(_)) => "metadata.namespace is missing; skipped",
        };
        self.problems.push(InventoryProblem::new(
            Severity::Error,
            kind,
            ns,
            name,
            missing,
        ));
        None
    }

    /// True the first time an object is seen; a repeat (the same object twice in a file) is
    /// reported and skipped, so the first definition is the one used.
    fn first_time(&mut self, kind: &str, ns: Option<&str>, name: &str) -> bool {
        let key = (kind.to_string(), ns.map(str::to_string), name.to_string());
        if self.seen.insert(key) {
            return true;
        }
        let message = "defined more than once; this definition is skipped".to_string();
        self.error(kind, ns, name, message);
        false
    }

    fn error(&mut self, kind: &str, ns: Option<&str>, name: &str, message: String) {
        self.problems.push(InventoryProblem::new(
            Severity::Error,
            kind,
            ns,
            Some(name),
            message,
        ));
    }

    fn claim(&mut self, ip: IpAddr, endpoint: &Arc<Endpoint>, finished: bool) {
        let claims = self.claims.entry(ip).or_default();
        // A repeated address within one object is one claim.
        if !claims.iter().any(|c| Arc::ptr_eq(&c.endpoint, endpoint)) {
            claims.push(Claim {
                endpoint: Arc::clone(endpoint),
                finished,
            });
        }
    }

    fn namespaces(
        &mut self,
        namespaces: &[Namespace],
    ) -> BTreeMap<String, BTreeMap<String, String>> {
        let mut out = BTreeMap::new();
        for ns in namespaces {
            if let Some(name) = self.cluster_name("Namespace", &ns.metadata) {
                let labels = ns.metadata.labels.clone().unwrap_or_default();
                out.insert(name.to_string(), labels);
            }
        }
        out
    }

    /// Indexes the nodes; returns node names by address, for pods that lack `spec.nodeName`.
    fn nodes(&mut self, nodes: &[Node]) -> HashMap<IpAddr, String> {
        let mut names = HashMap::new();
        for node in nodes {
            let Some(name) = self.cluster_name("Node", &node.metadata) else {
                continue;
            };
            let addresses = node
                .status
                .as_ref()
                .and_then(|s| s.addresses.as_deref())
                .unwrap_or_default();
            let mut ips = Vec::new();
            let mut invalid = None;
            for (i, addr) in addresses.iter().enumerate() {
                // Hostname and InternalDNS/ExternalDNS entries are names, not addresses.
                if addr.type_ != "InternalIP" && addr.type_ != "ExternalIP" {
                    continue;
                }
                match parse_ip(&format!("status.addresses[{i}]"), &addr.address) {
                    Ok(ip) => ips.push(ip),
                    Err(e) => {
                        invalid = Some(e);
                        break;
                    }
                }
            }
            if let Some(message) = invalid {
                self.error("Node", None, name, message);
                continue;
            }
            let endpoint = Arc::new(Endpoint {
                kind: EndpointKind::Node,
                namespace: None,
                name: name.to_string(),
                labels: node.metadata.labels.clone().unwrap_or_default(),
                owner_name: name.to_string(),
                owner_type: "Node".to_string(),
                // flowlogs-pipeline repeats the node as its own host, so filtering by host
                // finds both the node's pods' flows and the node's own.
                host_ip: ips.first().copied(),
                host_name: Some(name.to_string()),
                network_name: Some(PRIMARY_NETWORK.to_string()),
                service: None,
            });
            for ip in ips {
                names.insert(ip, name.to_string());
                self.claim(ip, &endpoint, false);
            }
        }
        names
    }

    /// Indexes the pods; returns the live pod-network pods by address as `(namespace, name)`,
    /// for EndpointSlice entries without a target reference.
    fn pods(
        &mut self,
        pods: &[Pod],
        owners: &Owners,
        node_names: &HashMap<IpAddr, String>,
    ) -> HashMap<IpAddr, Vec<(String, String)>> {
        let mut by_ip: HashMap<IpAddr, Vec<(String, String)>> = HashMap::new();
        for pod in pods {
            let Some((ns, name)) = self.namespaced_name("Pod", &pod.metadata) else {
                continue;
            };
            let status = pod.status.as_ref();
            let host_ip = match status.and_then(|s| s.host_ip.as_deref()) {
                None | Some("") => None,
                Some(text) => match parse_ip("status.hostIP", text) {
                    Ok(ip) => Some(ip),
                    Err(e) => {
                        self.error("Pod", Some(ns), name, e);
                        continue;
                    }
                },
            };
            let ips = match pod_ips(pod) {
                Ok(ips) => ips,
                Err(e) => {
                    self.error("Pod", Some(ns), name, e);
                    continue;
                }
            };
            let spec = pod.spec.as_ref();
            let host_name = spec
                .and_then(|s| s.node_name.clone())
                .filter(|n| !n.is_empty())
                .or_else(|| host_ip.and_then(|ip| node_names.get(&ip).cloned()));
            let host_network = spec.and_then(|s| s.host_network).unwrap_or(false);
            let finished = matches!(
                status.and_then(|s| s.phase.as_deref()),
                Some("Succeeded" | "Failed")
            );
            let owner = owners.resolve(ns, name, &pod.metadata);
            let endpoint = Arc::new(Endpoint {
                kind: EndpointKind::Pod,
                namespace: Some(ns.to_string()),
                name: name.to_string(),
                labels: pod.metadata.labels.clone().unwrap_or_default(),
                owner_name: owner.name,
                owner_type: owner.kind,
                host_ip,
                host_name,
                network_name: Some(PRIMARY_NETWORK.to_string()),
                service: None,
            });
            for ip in ips {
                // A host-network pod's IPs are its node's; flowlogs-pipeline also drops any pod
                // IP equal to the host IP, which catches objects that omit spec.hostNetwork.
                if host_network || Some(ip) == host_ip {
                    self.host_network
                        .entry(ip)
                        .or_default()
                        .push(endpoint.as_ref().clone());
                    continue;
                }
                self.claim(ip, &endpoint, finished);
                if !finished {
                    by_ip
                        .entry(ip)
                        .or_default()
                        .push((ns.to_string(), name.to_string()));
                }
            }
        }
        by_ip
    }

    /// Ready pods per service `(namespace, name)`, from the EndpointSlices. Slices are optional
    /// and only add detail, so a bad slice entry is ignored with a warning, not an error.
    fn backends(
        &mut self,
        slices: &[EndpointSlice],
        pods_by_ip: &HashMap<IpAddr, Vec<(String, String)>>,
    ) -> HashMap<(String, String), BTreeSet<String>> {
        let mut out: HashMap<(String, String), BTreeSet<String>> = HashMap::new();
        for slice in slices {
            let Some((ns, name)) = self.namespaced_name("EndpointSlice", &slice.metadata) else {
                continue;
            };
            let labels = slice.metadata.labels.as_ref();
            let Some(service) = labels.and_then(|l| l.get(SERVICE_NAME_LABEL)) else {
                // Slices of no service (managed by someone else) say nothing we index.
                continue;
            };
            let pods = out.entry((ns.to_string(), service.clone())).or_default();
            for (i, ep) in slice.endpoints.iter().flatten().enumerate() {
                let ready = ep.conditions.as_ref().and_then(|c| c.ready);
                // Kubernetes: an unknown (absent) ready condition is to be read as ready.
                if ready == Some(false) {
                    continue;
                }
                let target = ep.target_ref.as_ref();
                if let Some(pod) = target
                    .filter(|t| t.kind.as_deref() == Some("Pod"))
                    .and_then(|t| t.name.clone())
                {
                    pods.insert(pod);
                    continue;
                }
                for addr in &ep.addresses {
                    match parse_ip(&format!("endpoints[{i}].addresses"), addr) {
                        Ok(ip) => pods.extend(
                            pods_by_ip
                                .get(&ip)
                                .into_iter()
                                .flatten()
                                .filter(|(pod_ns, _)| pod_ns == ns)
                                .map(|(_, pod)| pod.clone()),
                        ),
                        Err(e) => self.problems.push(InventoryProblem::new(
                            Severity::Warning,
                            "EndpointSlice",
                            Some(ns),
                            Some(name),
                            e.replace("; skipped", "; entry ignored"),
                        )),
                    }
                }
            }
        }
        out
    }

    fn services(
        &mut self,
        services: &[Service],
        backends: &HashMap<(String, String), BTreeSet<String>>,
    ) {
        for svc in services {
            let Some((ns, name)) = self.namespaced_name("Service", &svc.metadata) else {
                continue;
            };
            let (ips, ports) = match service_ips(svc).and_then(|ips| Ok((ips, service_ports(svc)?)))
            {
                Ok(parsed) => parsed,
                Err(e) => {
                    self.error("Service", Some(ns), name, e);
                    continue;
                }
            };
            let pods = backends
                .get(&(ns.to_string(), name.to_string()))
                .map(|p| p.iter().cloned().collect())
                .unwrap_or_default();
            let endpoint = Arc::new(Endpoint {
                kind: EndpointKind::Service,
                namespace: Some(ns.to_string()),
                name: name.to_string(),
                labels: svc.metadata.labels.clone().unwrap_or_default(),
                owner_name: name.to_string(),
                owner_type: "Service".to_string(),
                host_ip: None,
                host_name: None,
                network_name: Some(PRIMARY_NETWORK.to_string()),
                service: Some(ServiceInfo { ports, pods }),
            });
            for ip in ips {
                self.claim(ip, &endpoint, false);
            }
        }
    }

    /// Picks one endpoint per address and warns about the others.
    #[allow(clippy::type_complexity)]
    fn resolve_claims(
        &mut self,
    ) -> (
        HashMap<IpAddr, Arc<Endpoint>>,
        HashMap<IpAddr, Vec<Endpoint>>,
    ) {
        let mut by_ip = HashMap::with_capacity(self.claims.len());
        for (ip, mut claims) in std::mem::take(&mut self.claims) {
            claims.sort_by(|a, b| a.rank().cmp(&b.rank()));
            let mut claims = claims.into_iter();
            let Some(winner) = claims.next() else {
                continue;
            };
            for loser in claims.filter(|c| !c.finished) {
                let ep = &loser.endpoint;
                let w = &winner.endpoint;
                let winner_id = match &w.namespace {
                    Some(ns) => format!("{} {ns}/{}", w.kind, w.name),
                    None => format!("{} {}", w.kind, w.name),
                };
                self.problems.push(InventoryProblem::new(
                    Severity::Warning,
                    ep.kind.as_str(),
                    ep.namespace.as_deref(),
                    Some(&ep.name),
                    format!("address {ip} is also claimed by {winner_id}, which the index uses"),
                ));
            }
            by_ip.insert(ip, winner.endpoint);
        }
        let mut host_network = std::mem::take(&mut self.host_network);
        for pods in host_network.values_mut() {
            pods.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
            pods.dedup_by(|a, b| a.namespace == b.namespace && a.name == b.name);
        }
        (by_ip, host_network)
    }
}

/// A pod's addresses: `status.podIPs`, or `status.podIP` when the list is absent (older
/// objects, hand-written files).
fn pod_ips(pod: &Pod) -> Result<Vec<IpAddr>, String> {
    let Some(status) = pod.status.as_ref() else {
        return Ok(Vec::new());
    };
    match status.pod_ips.as_deref() {
        Some(list) if !list.is_empty() => list
            .iter()
            .enumerate()
            .map(|(i, p)| parse_ip(&format!("status.podIPs[{i}]"), &p.ip))
            .collect(),
        _ => match status.pod_ip.as_deref() {
            None | Some("") => Ok(Vec::new()),
            Some(text) => parse_ip("status.podIP", text).map(|ip| vec![ip]),
        },
    }
}

/// A service's ClusterIPs (`spec.clusterIPs`, else `spec.clusterIP`), without `None` (headless)
/// and empty values.
fn service_ips(svc: &Service) -> Result<Vec<IpAddr>, String> {
    let Some(spec) = svc.spec.as_ref() else {
        return Ok(Vec::new());
    };
    // (field, value) pairs, so a problem names the exact entry.
    let values: Vec<(String, &str)> = match spec.cluster_ips.as_deref() {
        Some(list) if !list.is_empty() => list
            .iter()
            .enumerate()
            .map(|(i, v)| (format!("spec.clusterIPs[{i}]"), v.as_str()))
            .collect(),
        _ => spec
            .cluster_ip
            .as_deref()
            .map(|v| ("spec.clusterIP".to_string(), v))
            .into_iter()
            .collect(),
    };
    values
        .into_iter()
        .filter(|(_, v)| !v.is_empty() && *v != "None")
        .map(|(field, v)| parse_ip(&field, v))
        .collect()
}

/// A service's ports as `(protocol, port)`; the protocol defaults to TCP, as in the API.
fn service_ports(svc: &Service) -> Result<Vec<(String, u16)>, String> {
    let ports = svc
        .spec
        .as_ref()
        .and_then(|s| s.ports.as_deref())
        .unwrap_or_default();
    ports
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let port = u16::try_from(p.port)
                .ok()
                .filter(|port| *port != 0)
                .ok_or_else(|| {
                    format!(
                        "spec.ports[{i}].port: {} is not a port (1-65535); skipped",
                        p.port
                    )
                })?;
            let protocol = p.protocol.clone().unwrap_or_else(|| "TCP".to_string());
            Ok((protocol, port))
        })
        .collect()
}
