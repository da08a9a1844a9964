//! Table-driven tests of [`Index::build`] and lookups.

use std::net::IpAddr;

use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Namespace, Node, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use serde::de::DeserializeOwned;

use super::*;
use crate::{Severity, Snapshot};

/// An object written as (flow-style) YAML.
fn obj<T: DeserializeOwned>(yaml: &str) -> T {
    serde_yaml::from_str(yaml).unwrap_or_else(|e| panic!("test object {yaml}: {e}"))
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// A small dual-stack cluster: two nodes, pods of several owners, host-network pods, services.
fn cluster() -> Snapshot {
    Snapshot {
        namespaces: vec![obj::<Namespace>(
            "metadata: {name: shop, labels: {team: web}}",
        )],
        nodes: vec![
            obj::<Node>(
                "metadata: {name: node-a, labels: {topology.kubernetes.io/zone: z1}}
status: {addresses: [
  {type: Hostname, address: node-a},
  {type: InternalIP, address: 192.168.1.10},
  {type: InternalIP, address: 'fd00:1::10'},
  {type: ExternalIP, address: 203.0.113.10}]}",
            ),
            obj::<Node>(
                "metadata: {name: node-b}
status: {addresses: [{type: InternalIP, address: 192.168.1.11}]}",
            ),
        ],
        replica_sets: vec![obj::<ReplicaSet>(
            "metadata: {namespace: shop, name: web-7d9f, ownerReferences: [
  {apiVersion: apps/v1, kind: Deployment, name: web, uid: u1, controller: true}]}",
        )],
        jobs: vec![obj::<Job>(
            "metadata: {namespace: batch, name: backup-2899, ownerReferences: [
  {apiVersion: batch/v1, kind: CronJob, name: backup, uid: u2, controller: true}]}",
        )],
        pods: vec![
            obj::<Pod>(
                "metadata: {namespace: shop, name: web-7d9f-abc, labels: {app: web}, ownerReferences: [
  {apiVersion: apps/v1, kind: ReplicaSet, name: web-7d9f, uid: u3, controller: true}]}
spec: {nodeName: node-a, containers: []}
status: {phase: Running, hostIP: 192.168.1.10,
  podIPs: [{ip: 10.244.1.5}, {ip: 'fd00:10:244:1::5'}]}",
            ),
            obj::<Pod>(
                "metadata: {namespace: shop, name: debug}
spec: {nodeName: node-a, containers: []}
status: {phase: Running, hostIP: 192.168.1.10, podIP: 10.244.1.9}",
            ),
            // No nodeName: the host name comes from the node owning hostIP.
            obj::<Pod>(
                "metadata: {namespace: batch, name: backup-2899-xyz, ownerReferences: [
  {apiVersion: batch/v1, kind: Job, name: backup-2899, uid: u4, controller: true}]}
status: {phase: Running, hostIP: 192.168.1.11, podIPs: [{ip: 10.244.2.7}]}",
            ),
            obj::<Pod>(
                "metadata: {namespace: kube-system, name: kube-proxy-x, ownerReferences: [
  {apiVersion: apps/v1, kind: DaemonSet, name: kube-proxy, uid: u5, controller: true}]}
spec: {nodeName: node-a, hostNetwork: true, containers: []}
status: {phase: Running, hostIP: 192.168.1.10,
  podIPs: [{ip: 192.168.1.10}, {ip: 'fd00:1::10'}]}",
            ),
            // A static pod without spec.hostNetwork whose IP is its host's: host network too.
            obj::<Pod>(
                "metadata: {namespace: kube-system, name: etcd-node-b, ownerReferences: [
  {apiVersion: v1, kind: Node, name: node-b, uid: u6, controller: true}]}
spec: {nodeName: node-b, containers: []}
status: {phase: Running, hostIP: 192.168.1.11, podIPs: [{ip: 192.168.1.11}]}",
            ),
            // Pending: no IP yet, nothing to index, nothing wrong.
            obj::<Pod>("metadata: {namespace: shop, name: pending}\nstatus: {phase: Pending}"),
        ],
        services: vec![
            obj::<Service>(
                "metadata: {namespace: shop, name: web, labels: {app: web}}
spec: {clusterIP: 10.96.0.10, clusterIPs: [10.96.0.10, 'fd00:96::10'],
  ports: [{port: 80, protocol: TCP}, {port: 53, protocol: UDP}, {port: 8443}]}",
            ),
            obj::<Service>(
                "metadata: {namespace: shop, name: headless}
spec: {clusterIP: None, clusterIPs: [None], ports: [{port: 80}]}",
            ),
            obj::<Service>(
                "metadata: {namespace: default, name: kubernetes}
spec: {clusterIP: 10.96.0.1, ports: [{port: 443}]}",
            ),
        ],
        endpoint_slices: vec![obj::<EndpointSlice>(
            "metadata: {namespace: shop, name: web-x1, labels: {kubernetes.io/service-name: web}}
addressType: IPv4
endpoints:
- {addresses: [10.244.1.5], conditions: {ready: true},
   targetRef: {kind: Pod, namespace: shop, name: web-7d9f-abc}}
- {addresses: [10.244.1.77], conditions: {ready: false},
   targetRef: {kind: Pod, namespace: shop, name: web-7d9f-old}}
- {addresses: [10.244.1.9]}",
        )],
        ..Snapshot::default()
    }
}

#[test]
fn lookups_name_the_object_netobserv_would() {
    let (index, problems) = Index::build(&cluster());
    assert!(problems.is_empty(), "{problems:#?}");
    use EndpointKind::*;
    // (address, kind, namespace, name, owner name, owner type, host IP, host name)
    #[allow(clippy::type_complexity)]
    let cases: &[(
        &str,
        EndpointKind,
        Option<&str>,
        &str,
        &str,
        &str,
        Option<&str>,
        Option<&str>,
    )] = &[
        (
            "10.244.1.5",
            Pod,
            Some("shop"),
            "web-7d9f-abc",
            "web",
            "Deployment",
            Some("192.168.1.10"),
            Some("node-a"),
        ),
        (
            "fd00:10:244:1::5",
            Pod,
            Some("shop"),
            "web-7d9f-abc",
            "web",
            "Deployment",
            Some("192.168.1.10"),
            Some("node-a"),
        ),
        (
            "::ffff:10.244.1.5",
            Pod,
            Some("shop"),
            "web-7d9f-abc",
            "web",
            "Deployment",
            Some("192.168.1.10"),
            Some("node-a"),
        ),
        (
            "10.244.1.9",
            Pod,
            Some("shop"),
            "debug",
            "debug",
            "Pod",
            Some("192.168.1.10"),
            Some("node-a"),
        ),
        (
            "10.244.2.7",
            Pod,
            Some("batch"),
            "backup-2899-xyz",
            "backup",
            "CronJob",
            Some("192.168.1.11"),
            Some("node-b"),
        ),
        // Node addresses, also those host-network pods use, name the node.
        (
            "192.168.1.10",
            Node,
            None,
            "node-a",
            "node-a",
            "Node",
            Some("192.168.1.10"),
            Some("node-a"),
        ),
        (
            "fd00:1::10",
            Node,
            None,
            "node-a",
            "node-a",
            "Node",
            Some("192.168.1.10"),
            Some("node-a"),
        ),
        (
            "203.0.113.10",
            Node,
            None,
            "node-a",
            "node-a",
            "Node",
            Some("192.168.1.10"),
            Some("node-a"),
        ),
        (
            "192.168.1.11",
            Node,
            None,
            "node-b",
            "node-b",
            "Node",
            Some("192.168.1.11"),
            Some("node-b"),
        ),
        (
            "10.96.0.10",
            Service,
            Some("shop"),
            "web",
            "web",
            "Service",
            None,
            None,
        ),
        (
            "fd00:96::10",
            Service,
            Some("shop"),
            "web",
            "web",
            "Service",
            None,
            None,
        ),
        (
            "10.96.0.1",
            Service,
            Some("default"),
            "kubernetes",
            "kubernetes",
            "Service",
            None,
            None,
        ),
    ];
    for (addr, kind, ns, name, owner, owner_type, host_ip, host_name) in cases {
        let ep = index
            .lookup(ip(addr))
            .unwrap_or_else(|| panic!("{addr} not indexed"));
        assert_eq!(
            (ep.kind, ep.namespace.as_deref(), ep.name.as_str()),
            (*kind, *ns, *name),
            "{addr}"
        );
        assert_eq!(
            (ep.owner_name.as_str(), ep.owner_type.as_str()),
            (*owner, *owner_type),
            "{addr}"
        );
        assert_eq!(ep.host_ip, host_ip.map(ip), "{addr}");
        assert_eq!(ep.host_name.as_deref(), *host_name, "{addr}");
        assert_eq!(ep.network_name.as_deref(), Some(PRIMARY_NETWORK), "{addr}");
    }
    for unknown in ["8.8.8.8", "10.244.1.77", "2001:db8::1"] {
        assert_eq!(index.lookup(ip(unknown)), None, "{unknown}");
    }
    // 4 pod addresses, 4 node addresses, 3 service addresses.
    assert_eq!(index.len(), 11);
}

#[test]
fn host_network_pods_are_queryable_by_node_ip() {
    let (index, _) = Index::build(&cluster());
    // (node address, host-network pods on it)
    let cases: &[(&str, &[&str])] = &[
        ("192.168.1.10", &["kube-proxy-x"]),
        ("fd00:1::10", &["kube-proxy-x"]),
        ("192.168.1.11", &["etcd-node-b"]),
        ("203.0.113.10", &[]),
        ("10.244.1.5", &[]),
    ];
    for (addr, want) in cases {
        let got: Vec<&str> = index
            .host_network_pods(ip(addr))
            .iter()
            .map(|p| p.name.as_str())
            .collect();
        assert_eq!(got, *want, "{addr}");
    }
    let proxy = &index.host_network_pods(ip("192.168.1.10"))[0];
    assert_eq!(
        (
            proxy.kind,
            proxy.owner_name.as_str(),
            proxy.owner_type.as_str()
        ),
        (EndpointKind::Pod, "kube-proxy", "DaemonSet")
    );
    let etcd = &index.host_network_pods(ip("192.168.1.11"))[0];
    assert_eq!(etcd.owner_type, "Node");
}

#[test]
fn services_keep_ports_and_ready_pods() {
    let (index, _) = Index::build(&cluster());
    let web = index
        .lookup(ip("fd00:96::10"))
        .and_then(|e| e.service.as_ref());
    let want = ServiceInfo {
        ports: vec![("TCP".into(), 80), ("UDP".into(), 53), ("TCP".into(), 8443)],
        // The not-ready endpoint is left out; the bare address is found by pod IP.
        pods: vec!["debug".into(), "web-7d9f-abc".into()],
    };
    assert_eq!(web, Some(&want));
    let kubernetes = index
        .lookup(ip("10.96.0.1"))
        .and_then(|e| e.service.as_ref());
    assert_eq!(kubernetes.map(|s| s.pods.len()), Some(0));
}

#[test]
fn labels_are_kept() {
    let (index, _) = Index::build(&cluster());
    let web = index.lookup(ip("10.244.1.5")).map(|e| &e.labels);
    assert_eq!(
        web.and_then(|l| l.get("app")).map(String::as_str),
        Some("web")
    );
    let node = index.lookup(ip("192.168.1.10")).map(|e| &e.labels);
    assert!(node.is_some_and(|l| l.contains_key("topology.kubernetes.io/zone")));
    let shop = index.namespace_labels("shop");
    assert_eq!(
        shop.and_then(|l| l.get("team")).map(String::as_str),
        Some("web")
    );
    assert_eq!(index.namespace_labels("nope"), None);
}

#[test]
fn invalid_objects_are_reported_and_skipped() {
    let good: Pod = obj("metadata: {namespace: shop, name: good}\nstatus: {podIP: 10.0.0.1}");
    // (what to add to the snapshot, kind, namespace, name, message fragment)
    type Add = fn(&mut Snapshot);
    type Case = (
        Add,
        &'static str,
        Option<&'static str>,
        Option<&'static str>,
        &'static str,
    );
    let cases: &[Case] = &[
        (
            |s| {
                s.pods.push(obj(
                    "metadata: {namespace: shop}\nstatus: {podIP: 10.0.0.2}",
                ))
            },
            "Pod",
            Some("shop"),
            None,
            "metadata.name is missing",
        ),
        (
            |s| {
                s.pods
                    .push(obj("metadata: {name: orphan}\nstatus: {podIP: 10.0.0.2}"))
            },
            "Pod",
            None,
            Some("orphan"),
            "metadata.namespace is missing",
        ),
        (
            |s| {
                s.pods.push(obj("metadata: {namespace: shop, name: p}
status: {podIPs: [{ip: 10.0.0.2}, {ip: 10.0.0.x}]}"))
            },
            "Pod",
            Some("shop"),
            Some("p"),
            r#"status.podIPs[1]: "10.0.0.x" is not an IP address"#,
        ),
        (
            |s| {
                s.pods.push(obj("metadata: {namespace: shop, name: p}
status: {hostIP: node-a, podIP: 10.0.0.2}"))
            },
            "Pod",
            Some("shop"),
            Some("p"),
            r#"status.hostIP: "node-a" is not an IP address"#,
        ),
        (
            |s| {
                s.services.push(obj("metadata: {namespace: shop, name: s}
spec: {clusterIPs: [10.96.0.2, '10.96.0.300']}"))
            },
            "Service",
            Some("shop"),
            Some("s"),
            "spec.clusterIPs[1]",
        ),
        (
            |s| {
                s.services.push(obj("metadata: {namespace: shop, name: s}
spec: {clusterIP: 10.96.0.2, ports: [{port: 70000}]}"))
            },
            "Service",
            Some("shop"),
            Some("s"),
            "spec.ports[0].port: 70000 is not a port",
        ),
        (
            |s| {
                s.nodes.push(obj(
                    "metadata: {name: n}
status: {addresses: [{type: InternalIP, address: 10.1.0.1}, {type: ExternalIP, address: nope}]}",
                ))
            },
            "Node",
            None,
            Some("n"),
            "status.addresses[1]",
        ),
        (
            |s| {
                s.nodes.push(obj(
                    "status: {addresses: [{type: InternalIP, address: 10.1.0.1}]}",
                ))
            },
            "Node",
            None,
            None,
            "metadata.name is missing",
        ),
        (
            |s| {
                s.pods.push(obj(
                    "metadata: {namespace: shop, name: good}\nstatus: {podIP: 10.0.0.2}",
                ))
            },
            "Pod",
            Some("shop"),
            Some("good"),
            "defined more than once",
        ),
        (
            |s| s.namespaces.push(obj("metadata: {labels: {a: b}}")),
            "Namespace",
            None,
            None,
            "metadata.name is missing",
        ),
    ];
    for (add, kind, ns, name, fragment) in cases {
        let mut snapshot = Snapshot {
            pods: vec![good.clone()],
            ..Snapshot::default()
        };
        add(&mut snapshot);
        let (index, problems) = Index::build(&snapshot);
        assert_eq!(problems.len(), 1, "{kind} {fragment}: {problems:#?}");
        let p = &problems[0];
        assert_eq!(p.severity, Severity::Error, "{p}");
        assert_eq!(
            (p.kind.as_str(), p.namespace.as_deref(), p.name.as_deref()),
            (*kind, *ns, *name),
            "{p}"
        );
        assert!(p.message.contains(fragment), "{p} lacks {fragment}");
        // The skipped object contributes nothing, not even its valid addresses...
        for addr in ["10.0.0.2", "10.96.0.2", "10.1.0.1"] {
            assert_eq!(index.lookup(ip(addr)), None, "{kind} {fragment}: {addr}");
        }
        // ...and the rest of the index stays.
        assert_eq!(
            index.lookup(ip("10.0.0.1")).map(|e| e.name.as_str()),
            Some("good")
        );
    }
}

#[test]
fn shared_addresses_resolve_the_same_whatever_the_order() {
    let live_a: Pod =
        obj("metadata: {namespace: a, name: one}\nstatus: {phase: Running, podIP: 10.0.0.5}");
    let live_b: Pod =
        obj("metadata: {namespace: b, name: two}\nstatus: {phase: Running, podIP: 10.0.0.5}");
    let done: Pod =
        obj("metadata: {namespace: a, name: zz-done}\nstatus: {phase: Succeeded, podIP: 10.0.0.6}");
    let live_c: Pod =
        obj("metadata: {namespace: z, name: new}\nstatus: {phase: Running, podIP: 10.0.0.6}");
    let svc: Service = obj("metadata: {namespace: a, name: svc}\nspec: {clusterIP: 10.0.0.5}");
    let node: Node =
        obj("metadata: {name: n}\nstatus: {addresses: [{type: InternalIP, address: 10.0.0.7}]}");
    let svc_on_node: Service =
        obj("metadata: {namespace: a, name: odd}\nspec: {clusterIP: 10.0.0.7}");

    // (pods, services, nodes, address, expected name, expected warnings as "kind ns/name")
    #[allow(clippy::type_complexity)]
    let cases: Vec<(Vec<Pod>, Vec<Service>, Vec<Node>, &str, &str, Vec<&str>)> = vec![
        (
            vec![live_a.clone(), live_b.clone()],
            vec![],
            vec![],
            "10.0.0.5",
            "one",
            vec!["Pod b/two"],
        ),
        (
            vec![live_b.clone(), live_a.clone()],
            vec![],
            vec![],
            "10.0.0.5",
            "one",
            vec!["Pod b/two"],
        ),
        // A finished pod's address going to a new pod is routine: no warning.
        (
            vec![done.clone(), live_c.clone()],
            vec![],
            vec![],
            "10.0.0.6",
            "new",
            vec![],
        ),
        (
            vec![live_c.clone(), done.clone()],
            vec![],
            vec![],
            "10.0.0.6",
            "new",
            vec![],
        ),
        (
            vec![live_a.clone()],
            vec![svc.clone()],
            vec![],
            "10.0.0.5",
            "one",
            vec!["Service a/svc"],
        ),
        (
            vec![],
            vec![svc_on_node.clone()],
            vec![node.clone()],
            "10.0.0.7",
            "n",
            vec!["Service a/odd"],
        ),
    ];
    for (pods, services, nodes, addr, want, warnings) in cases {
        let snapshot = Snapshot {
            pods,
            services,
            nodes,
            ..Snapshot::default()
        };
        let (index, problems) = Index::build(&snapshot);
        assert_eq!(
            index.lookup(ip(addr)).map(|e| e.name.as_str()),
            Some(want),
            "{addr}"
        );
        let got: Vec<String> = problems
            .iter()
            .inspect(|p| assert_eq!(p.severity, Severity::Warning, "{p}"))
            .map(|p| p.object())
            .collect();
        assert_eq!(got, warnings, "{addr}: {problems:#?}");
    }
}

#[test]
fn build_does_not_depend_on_object_order() {
    let forward = cluster();
    let mut reversed = forward.clone();
    reversed.pods.reverse();
    reversed.nodes.reverse();
    reversed.services.reverse();
    reversed.endpoint_slices.reverse();
    // Add a conflict so problems are compared too.
    let extra: Pod = obj("metadata: {namespace: x, name: dup}\nstatus: {podIP: 10.244.1.9}");
    let mut forward = forward;
    forward.pods.push(extra.clone());
    reversed.pods.insert(0, extra);
    assert_eq!(Index::build(&forward), Index::build(&reversed));
}
