//! Enrichment: a flow's `SrcK8S_*`/`DstK8S_*` fields and `K8S_FlowLayer`, from the [`Index`],
//! the way NetObserv's flowlogs-pipeline fills them.
//!
//! For each end whose address the index knows, the fields are set from the [`Endpoint`]:
//! `_Type` Pod/Service/Node, `_Namespace` (absent for nodes), `_Name`, `_OwnerName` and
//! `_OwnerType` (the resolved workload for pods; the service or node itself otherwise),
//! `_HostIP`/`_HostName` (the pod's node; the node itself for nodes; written only when the host
//! IP is known, and never for services) and `_NetworkName` (`primary`). A flow to a ClusterIP
//! names the service. Traffic of host-network pods carries the node's address and so names the
//! node. An address the index does not know (outside the cluster) leaves that end's fields as
//! they were.
//!
//! # `K8S_FlowLayer`
//!
//! flowlogs-pipeline's rule, kept as is: a flow is `app` when at least one end is a namespaced
//! object (pod or service) that is not infrastructure, and `infra` otherwise. Nodes and external
//! addresses have no namespace and so never make a flow `app`: node<->node, node<->kube-system
//! and external<->kube-system flows are `infra`; an application pod talking to anything, a node
//! included, is `app`. Infrastructure is a namespace prefix or a `namespace/name` reference
//! ([`FlowLayerRule`]). NetObserv's operator configures the prefixes `netobserv` (its own
//! namespace) and `openshift`, and the refs `default/kubernetes` and `default/openshift`; our
//! default swaps in `netwarden` and adds `kube-` so that vanilla Kubernetes' `kube-system`,
//! `kube-public` and `kube-node-lease` count as infrastructure too.

use std::sync::LazyLock;

use netwarden_model::FlowRecord;

use crate::{Endpoint, Index};

/// `K8S_FlowLayer` of a flow with an application end.
pub const FLOW_LAYER_APP: &str = "app";
/// `K8S_FlowLayer` of a flow between infrastructure, nodes and the outside world.
pub const FLOW_LAYER_INFRA: &str = "infra";

/// Which namespaced objects are infrastructure, for `K8S_FlowLayer`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowLayerRule {
    /// Namespaces starting with one of these are infrastructure.
    /// Default: `netwarden`, `openshift`, `kube-`.
    pub infra_prefixes: Vec<String>,
    /// These `(namespace, name)` objects are infrastructure wherever they live.
    /// Default: `default/kubernetes` (the API server's service) and `default/openshift`.
    pub infra_refs: Vec<(String, String)>,
}

impl Default for FlowLayerRule {
    fn default() -> FlowLayerRule {
        FlowLayerRule {
            infra_prefixes: ["netwarden", "openshift", "kube-"]
                .map(String::from)
                .to_vec(),
            infra_refs: vec![
                ("default".to_string(), "kubernetes".to_string()),
                ("default".to_string(), "openshift".to_string()),
            ],
        }
    }
}

impl FlowLayerRule {
    /// True when the object `namespace/name` is infrastructure.
    pub fn is_infra(&self, namespace: &str, name: &str) -> bool {
        self.infra_prefixes
            .iter()
            .any(|p| namespace.starts_with(p.as_str()))
            || self
                .infra_refs
                .iter()
                .any(|(ns, n)| ns == namespace && n == name)
    }

    /// The layer of a flow whose ends are these `(namespace, name)`s (`None` namespace for
    /// nodes and unknown addresses): `app` if one end is a non-infrastructure namespaced object.
    pub fn layer(&self, ends: [(Option<&str>, Option<&str>); 2]) -> &'static str {
        let app = ends.iter().any(|(ns, name)| match ns {
            Some(ns) if !ns.is_empty() => !self.is_infra(ns, name.unwrap_or_default()),
            _ => false,
        });
        if app {
            FLOW_LAYER_APP
        } else {
            FLOW_LAYER_INFRA
        }
    }
}

static DEFAULT_RULE: LazyLock<FlowLayerRule> = LazyLock::new(FlowLayerRule::default);

/// Fills `record`'s Kubernetes fields from `index`, with the default [`FlowLayerRule`].
pub fn enrich(record: &mut FlowRecord, index: &Index) {
    enrich_with(record, index, &DEFAULT_RULE);
}

// The source and destination field sets are distinct types with the same fields.
macro_rules! fill {
    ($target:expr, $endpoint:expr) => {{
        let target = &mut $target;
        let ep: &Endpoint = $endpoint;
        target.namespace = ep.namespace.clone();
        target.name = Some(ep.name.clone());
        target.kind = Some(ep.kind.as_str().to_string());
        target.owner_name = Some(ep.owner_name.clone());
        target.owner_type = Some(ep.owner_type.clone());
        target.host_ip = ep.host_ip;
        // flowlogs-pipeline writes the host name only along with a host IP.
        target.host_name = ep.host_ip.and(ep.host_name.clone());
        target.network_name = ep.network_name.clone();
    }};
}

/// Fills `record`'s Kubernetes fields from `index`, deciding `K8S_FlowLayer` with `rule`.
pub fn enrich_with(record: &mut FlowRecord, index: &Index, rule: &FlowLayerRule) {
    if let Some(ep) = record.src_addr.and_then(|ip| index.lookup(ip)) {
        fill!(record.src_k8s, ep);
    }
    if let Some(ep) = record.dst_addr.and_then(|ip| index.lookup(ip)) {
        fill!(record.dst_k8s, ep);
    }
    let layer = rule.layer([
        (
            record.src_k8s.namespace.as_deref(),
            record.src_k8s.name.as_deref(),
        ),
        (
            record.dst_k8s.namespace.as_deref(),
            record.dst_k8s.name.as_deref(),
        ),
    ]);
    record.k8s_flow_layer = Some(layer.to_string());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{yaml, PRIMARY_NETWORK};

    const CLUSTER: &str = r#"
apiVersion: v1
kind: Node
metadata: {name: node-a}
status: {addresses: [{type: InternalIP, address: 192.168.1.10}, {type: InternalIP, address: "fd00:1::10"}]}
---
apiVersion: v1
kind: Node
metadata: {name: node-b}
status: {addresses: [{type: InternalIP, address: 192.168.1.11}]}
---
apiVersion: apps/v1
kind: ReplicaSet
metadata:
  namespace: shop
  name: web-7d9f
  ownerReferences: [{apiVersion: apps/v1, kind: Deployment, name: web, uid: u1, controller: true}]
---
apiVersion: v1
kind: Pod
metadata:
  namespace: shop
  name: web-7d9f-abc
  ownerReferences: [{apiVersion: apps/v1, kind: ReplicaSet, name: web-7d9f, uid: u2, controller: true}]
spec: {nodeName: node-a, containers: []}
status: {hostIP: 192.168.1.10, podIPs: [{ip: 10.244.1.5}, {ip: "fd00:10:244:1::5"}]}
---
apiVersion: v1
kind: Pod
metadata: {namespace: shop, name: db-0, ownerReferences: [{apiVersion: apps/v1, kind: StatefulSet, name: db, uid: u3, controller: true}]}
spec: {nodeName: node-b, containers: []}
status: {hostIP: 192.168.1.11, podIPs: [{ip: 10.244.2.8}]}
---
apiVersion: v1
kind: Pod
metadata: {namespace: kube-system, name: coredns-1}
spec: {nodeName: node-b, containers: []}
status: {hostIP: 192.168.1.11, podIPs: [{ip: 10.244.2.2}]}
---
apiVersion: v1
kind: Pod
metadata: {namespace: kube-system, name: kube-proxy-a, ownerReferences: [{apiVersion: apps/v1, kind: DaemonSet, name: kube-proxy, uid: u4, controller: true}]}
spec: {nodeName: node-a, hostNetwork: true, containers: []}
status: {hostIP: 192.168.1.10, podIPs: [{ip: 192.168.1.10}]}
---
apiVersion: v1
kind: Service
metadata: {namespace: shop, name: db}
spec: {clusterIPs: [10.96.0.20, "fd00:96::20"], ports: [{port: 5432}]}
---
apiVersion: v1
kind: Service
metadata: {namespace: default, name: kubernetes}
spec: {clusterIP: 10.96.0.1, ports: [{port: 443}]}
"#;

    /// One end's fields as `(Type, Namespace, Name, OwnerName, OwnerType, HostIP, HostName)`.
    type Fields<'a> = (
        Option<&'a str>,
        Option<&'a str>,
        Option<&'a str>,
        Option<&'a str>,
        Option<&'a str>,
        Option<&'a str>,
        Option<&'a str>,
    );

    const NONE: Fields<'static> = (None, None, None, None, None, None, None);
    const WEB: Fields<'static> = (
        Some("Pod"),
        Some("shop"),
        Some("web-7d9f-abc"),
        Some("web"),
        Some("Deployment"),
        Some("192.168.1.10"),
        Some("node-a"),
    );
    const DB_POD: Fields<'static> = (
        Some("Pod"),
        Some("shop"),
        Some("db-0"),
        Some("db"),
        Some("StatefulSet"),
        Some("192.168.1.11"),
        Some("node-b"),
    );
    const DB_SVC: Fields<'static> = (
        Some("Service"),
        Some("shop"),
        Some("db"),
        Some("db"),
        Some("Service"),
        None,
        None,
    );
    const NODE_A: Fields<'static> = (
        Some("Node"),
        None,
        Some("node-a"),
        Some("node-a"),
        Some("Node"),
        Some("192.168.1.10"),
        Some("node-a"),
    );
    const NODE_B: Fields<'static> = (
        Some("Node"),
        None,
        Some("node-b"),
        Some("node-b"),
        Some("Node"),
        Some("192.168.1.11"),
        Some("node-b"),
    );
    const COREDNS: Fields<'static> = (
        Some("Pod"),
        Some("kube-system"),
        Some("coredns-1"),
        Some("coredns-1"),
        Some("Pod"),
        Some("192.168.1.11"),
        Some("node-b"),
    );
    const API: Fields<'static> = (
        Some("Service"),
        Some("default"),
        Some("kubernetes"),
        Some("kubernetes"),
        Some("Service"),
        None,
        None,
    );

    macro_rules! fields {
        ($k:expr) => {{
            let k = &$k;
            let host_ip = k.host_ip.map(|ip| ip.to_string());
            (
                k.kind.clone(),
                k.namespace.clone(),
                k.name.clone(),
                k.owner_name.clone(),
                k.owner_type.clone(),
                host_ip,
                k.host_name.clone(),
            )
        }};
    }

    type Owned = (
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
    );

    fn owned(f: Fields<'_>) -> Owned {
        let o = |s: Option<&str>| s.map(str::to_string);
        (o(f.0), o(f.1), o(f.2), o(f.3), o(f.4), o(f.5), o(f.6))
    }

    #[test]
    fn fills_both_ends_and_the_layer() {
        let (snapshot, problems) = yaml::parse_str(CLUSTER, "cluster").unwrap();
        assert!(problems.is_empty(), "{problems:#?}");
        let (index, problems) = Index::build(&snapshot);
        assert!(problems.is_empty(), "{problems:#?}");

        // (case, source address, destination address, source fields, destination fields, layer)
        let cases: &[(&str, &str, &str, Fields, Fields, &str)] = &[
            ("pod -> pod", "10.244.1.5", "10.244.2.8", WEB, DB_POD, "app"),
            (
                "pod -> pod, IPv6",
                "fd00:10:244:1::5",
                "10.244.2.8",
                WEB,
                DB_POD,
                "app",
            ),
            (
                "pod -> service",
                "10.244.1.5",
                "10.96.0.20",
                WEB,
                DB_SVC,
                "app",
            ),
            (
                "pod -> service, IPv6",
                "fd00:10:244:1::5",
                "fd00:96::20",
                WEB,
                DB_SVC,
                "app",
            ),
            (
                "pod -> external",
                "10.244.1.5",
                "93.184.216.34",
                WEB,
                NONE,
                "app",
            ),
            (
                "external -> pod",
                "93.184.216.34",
                "10.244.1.5",
                NONE,
                WEB,
                "app",
            ),
            // A host-network pod's traffic carries its node's address: it names the node.
            (
                "host-network -> API service",
                "192.168.1.10",
                "10.96.0.1",
                NODE_A,
                API,
                "infra",
            ),
            (
                "node -> node",
                "fd00:1::10",
                "192.168.1.11",
                NODE_A,
                NODE_B,
                "infra",
            ),
            (
                "node -> app pod",
                "192.168.1.11",
                "10.244.2.8",
                NODE_B,
                DB_POD,
                "app",
            ),
            (
                "app pod -> node",
                "10.244.1.5",
                "192.168.1.11",
                WEB,
                NODE_B,
                "app",
            ),
            (
                "infra pod -> external",
                "10.244.2.2",
                "8.8.8.8",
                COREDNS,
                NONE,
                "infra",
            ),
            (
                "infra pod -> node",
                "10.244.2.2",
                "192.168.1.10",
                COREDNS,
                NODE_A,
                "infra",
            ),
            (
                "app pod -> infra pod",
                "10.244.2.8",
                "10.244.2.2",
                DB_POD,
                COREDNS,
                "app",
            ),
            (
                "external -> external",
                "1.1.1.1",
                "8.8.8.8",
                NONE,
                NONE,
                "infra",
            ),
        ];
        for (case, src, dst, want_src, want_dst, layer) in cases {
            let mut flow = FlowRecord {
                src_addr: Some(src.parse().unwrap()),
                dst_addr: Some(dst.parse().unwrap()),
                ..FlowRecord::default()
            };
            enrich(&mut flow, &index);
            assert_eq!(fields!(flow.src_k8s), owned(*want_src), "{case}: source");
            assert_eq!(
                fields!(flow.dst_k8s),
                owned(*want_dst),
                "{case}: destination"
            );
            let network = want_src.0.map(|_| PRIMARY_NETWORK.to_string());
            assert_eq!(flow.src_k8s.network_name, network, "{case}: network");
            assert_eq!(
                flow.k8s_flow_layer.as_deref(),
                Some(*layer),
                "{case}: layer"
            );
        }
    }

    #[test]
    fn unknown_addresses_leave_fields_alone() {
        let mut flow = FlowRecord {
            src_addr: Some("1.1.1.1".parse().unwrap()),
            dst_addr: None,
            ..FlowRecord::default()
        };
        flow.src_k8s.name = Some("set-upstream".into());
        enrich(&mut flow, &Index::default());
        assert_eq!(flow.src_k8s.name.as_deref(), Some("set-upstream"));
        assert_eq!(flow.dst_k8s, Default::default());
        assert_eq!(flow.k8s_flow_layer.as_deref(), Some(FLOW_LAYER_INFRA));
    }

    #[test]
    fn layer_rule() {
        let rule = FlowLayerRule::default();
        // (source (namespace, name), destination (namespace, name), layer)
        #[allow(clippy::type_complexity)]
        let cases: &[(
            (Option<&str>, Option<&str>),
            (Option<&str>, Option<&str>),
            &str,
        )] = &[
            ((Some("shop"), Some("a")), (None, None), "app"),
            (
                (Some("openshift-dns"), Some("a")),
                (Some("kube-system"), Some("b")),
                "infra",
            ),
            (
                (Some("netwarden"), Some("agent")),
                (None, Some("node-a")),
                "infra",
            ),
            (
                (Some("default"), Some("kubernetes")),
                (Some("kube-system"), Some("x")),
                "infra",
            ),
            (
                (Some("default"), Some("web")),
                (Some("kube-system"), Some("x")),
                "app",
            ),
            // "kube-" is a prefix: a namespace named "kubeflow" is an application's.
            ((Some("kubeflow"), Some("x")), (None, None), "app"),
            ((Some(""), Some("x")), (None, None), "infra"),
            ((None, None), (None, None), "infra"),
        ];
        for (src, dst, want) in cases {
            assert_eq!(rule.layer([*src, *dst]), *want, "{src:?} -> {dst:?}");
        }
        let custom = FlowLayerRule {
            infra_prefixes: vec!["platform-".into()],
            infra_refs: vec![],
        };
        assert_eq!(
            custom.layer([(Some("kube-system"), Some("x")), (None, None)]),
            "app"
        );
        assert_eq!(
            custom.layer([(Some("platform-logs"), Some("x")), (None, None)]),
            "infra"
        );
    }
}
