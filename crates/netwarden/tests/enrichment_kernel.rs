//! Flows captured on real interfaces carry the Kubernetes identity of their ends, from an inventory
//! file. Needs root.

mod common;

use common::*;
use serde_json::json;
use std::net::UdpSocket;

const INVENTORY: &str = r#"
apiVersion: v1
kind: Node
metadata: {name: node-a}
status:
  addresses: [{type: InternalIP, address: 192.168.77.1}]
---
apiVersion: apps/v1
kind: ReplicaSet
metadata:
  namespace: shop
  name: web-7d4b9
  ownerReferences: [{apiVersion: apps/v1, kind: Deployment, name: web, uid: d1, controller: true}]
---
apiVersion: v1
kind: Pod
metadata:
  namespace: shop
  name: web-7d4b9-x2x7k
  labels: {app: web}
  ownerReferences: [{apiVersion: apps/v1, kind: ReplicaSet, name: web-7d4b9, uid: r1, controller: true}]
spec: {nodeName: node-a}
status: {hostIP: 192.168.77.1, podIP: 192.168.77.2, podIPs: [{ip: 192.168.77.2}]}
---
apiVersion: v1
kind: Service
metadata: {namespace: kube-system, name: kube-dns}
spec:
  clusterIP: 10.96.0.10
  clusterIPs: [10.96.0.10]
  ports: [{name: dns, port: 53, protocol: UDP}]
"#;

#[test]
fn records_name_pods_with_owners_nodes_and_services() {
    let pair = Pair::new();
    pair.pod
        .ip(&["route", "add", "10.96.0.0/12", "via", HOST4])
        .unwrap();
    let file = std::env::temp_dir().join(format!("nw-inventory-{}.yaml", pair.tag));
    std::fs::write(&file, INVENTORY).unwrap();
    let cap = pair.capture(&["--inventory", file.to_str().unwrap()]);
    let _server = pair
        .host
        .run(|| UdpSocket::bind((HOST4, 7100)).unwrap())
        .unwrap();
    pair.pod
        .run(|| {
            let s = UdpSocket::bind((POD4, 40100)).unwrap();
            s.send_to(b"to the node", (HOST4, 7100)).unwrap();
            s.send_to(b"to the service", ("10.96.0.10", 53)).unwrap();
        })
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(200));
    let records = cap.stop();
    let _ = std::fs::remove_file(&file);

    let to_node = records.one(&[("SrcPort", json!(40100)), ("DstPort", json!(7100))]);
    assert_eq!(to_node["SrcK8S_Namespace"], "shop");
    assert_eq!(to_node["SrcK8S_Name"], "web-7d4b9-x2x7k");
    assert_eq!(to_node["SrcK8S_Type"], "Pod");
    assert_eq!(to_node["SrcK8S_OwnerName"], "web");
    assert_eq!(to_node["SrcK8S_OwnerType"], "Deployment");
    assert_eq!(to_node["SrcK8S_HostIP"], HOST4);
    assert_eq!(to_node["SrcK8S_HostName"], "node-a");
    assert_eq!(to_node["DstK8S_Type"], "Node");
    assert_eq!(to_node["DstK8S_Name"], "node-a");
    assert_eq!(to_node["K8S_FlowLayer"], "app");

    let to_service = records.one(&[("SrcPort", json!(40100)), ("DstPort", json!(53))]);
    assert_eq!(to_service["DstK8S_Type"], "Service");
    assert_eq!(to_service["DstK8S_Namespace"], "kube-system");
    assert_eq!(to_service["DstK8S_Name"], "kube-dns");
    assert_eq!(to_service["SrcK8S_Name"], "web-7d4b9-x2x7k");
}

/// A lab node of its own subnet: two pods, a host-network pod, a Service, the Node.
fn lab_inventory(tag: &str, octet: u8) -> String {
    format!(
        r#"
apiVersion: v1
kind: Node
metadata: {{name: node-{tag}}}
status:
  addresses: [{{type: InternalIP, address: 10.233.{octet}.1}}]
---
apiVersion: v1
kind: Pod
metadata: {{namespace: shop, name: web, labels: {{app: web}}}}
spec: {{nodeName: node-{tag}, containers: [{{name: c, ports: [{{containerPort: 8080, protocol: TCP}}]}}]}}
status: {{phase: Running, hostIP: 10.233.{octet}.1, podIP: 10.233.{octet}.10, podIPs: [{{ip: 10.233.{octet}.10}}, {{ip: "fd00:233:{octet}::a"}}]}}
---
apiVersion: v1
kind: Pod
metadata: {{namespace: shop, name: client}}
spec: {{nodeName: node-{tag}}}
status: {{phase: Running, hostIP: 10.233.{octet}.1, podIP: 10.233.{octet}.11, podIPs: [{{ip: 10.233.{octet}.11}}, {{ip: "fd00:233:{octet}::b"}}]}}
---
apiVersion: v1
kind: Pod
metadata: {{namespace: monitoring, name: exporter}}
spec: {{nodeName: node-{tag}, hostNetwork: true}}
status: {{phase: Running, hostIP: 10.233.{octet}.1, podIP: 10.233.{octet}.1}}
---
apiVersion: v1
kind: Service
metadata: {{namespace: shop, name: web-svc}}
spec: {{clusterIP: 10.96.{octet}.7, clusterIPs: [10.96.{octet}.7], ports: [{{port: 80, protocol: TCP}}]}}
"#
    )
}

#[test]
fn lab_flows_name_pods_services_external_and_host_network_ends() {
    let tag = unique_tag();
    let octet = 100 + (std::process::id() % 100) as u8;
    let text = lab_inventory(&tag, octet);
    let node = common::LabNode::up("enrich", &text);
    let lab = &node.lab;
    let ifaces = format!(
        "^({}|{}.*)$",
        lab.record().bridge,
        lab.record().bridge.replacen("nwb", "nwv", 1)
    );
    let cap = CaptureProc::start_here(&[
        "capture",
        "--interfaces",
        &ifaces,
        "--eviction",
        "60",
        "--inventory",
        node.inventory_arg(),
    ]);
    let web = format!("10.233.{octet}.10");
    let svc = format!("10.96.{octet}.7");
    let node = format!("10.233.{octet}.1");
    lab.run("shop/client", move || {
        // Pod to pod (the lab's echo service), IPv4 and IPv6.
        let mut c = std::net::TcpStream::connect((web.as_str(), 8080)).unwrap();
        std::io::Write::write_all(&mut c, b"hi").unwrap();
        let six = format!("fd00:233:{octet}::a");
        let _ = std::net::TcpStream::connect((six.as_str(), 8080)).unwrap();
        let u = UdpSocket::bind(("0.0.0.0", 40200)).unwrap();
        // To a service ClusterIP (nothing translates it here: the flow still names the service).
        u.send_to(b"svc", (svc.as_str(), 80)).unwrap();
        // To the outside world, with a TTL that ends at the node.
        u.set_ttl(1).unwrap();
        u.send_to(b"out", ("203.0.113.5", 53)).unwrap();
        // To the node, i.e. the host-network pod's address.
        u.set_ttl(64).unwrap();
        u.send_to(b"node", (node.as_str(), 9)).unwrap();
    })
    .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let records = cap.stop();

    let pod_to_pod = records.one(&[
        ("DstPort", json!(8080)),
        ("Etype", json!(2048)),
        ("SrcK8S_Name", json!("client")),
    ]);
    assert_eq!(pod_to_pod["DstK8S_Name"], "web");
    assert_eq!(pod_to_pod["DstK8S_Type"], "Pod");
    assert_eq!(pod_to_pod["DstK8S_OwnerName"], "web");
    assert_eq!(pod_to_pod["DstK8S_OwnerType"], "Pod");
    assert_eq!(pod_to_pod["K8S_FlowLayer"], "app");
    let v6 = records.one(&[
        ("DstPort", json!(8080)),
        ("Etype", json!(34525)),
        ("SrcK8S_Name", json!("client")),
    ]);
    assert_eq!(v6["DstK8S_Name"], "web");
    let to_svc = records.one(&[("SrcPort", json!(40200)), ("DstPort", json!(80))]);
    assert_eq!(
        (to_svc["DstK8S_Type"].clone(), to_svc["DstK8S_Name"].clone()),
        (json!("Service"), json!("web-svc"))
    );
    let out = records.one(&[("SrcPort", json!(40200)), ("DstPort", json!(53))]);
    assert_eq!(out["SrcK8S_Name"], "client");
    assert!(
        out.get("DstK8S_Name").is_none(),
        "an external address has no name: {out}"
    );
    let to_node = records.one(&[("SrcPort", json!(40200)), ("DstPort", json!(9))]);
    assert_eq!(
        to_node["DstK8S_Type"], "Node",
        "host-network ends show as the node"
    );
    assert_eq!(to_node["DstK8S_Name"], format!("node-{tag}"));
}

#[test]
fn lab_flows_carry_the_network_events_of_the_example_policies() {
    let octet = 100 + (std::process::id() % 100) as u8;
    let inventory = format!(
        r#"
apiVersion: v1
kind: Namespace
metadata: {{name: iperf}}
---
apiVersion: v1
kind: Pod
metadata: {{namespace: iperf, name: iperf3-server, labels: {{app: iperf3-server}}}}
spec: {{containers: [{{name: c, ports: [{{containerPort: 5201, protocol: TCP}}]}}]}}
status: {{phase: Running, podIP: 10.237.{octet}.10, podIPs: [{{ip: 10.237.{octet}.10}}]}}
---
apiVersion: v1
kind: Pod
metadata: {{namespace: iperf, name: iperf3-client, labels: {{app: iperf3-client}}}}
status: {{phase: Running, podIP: 10.237.{octet}.11, podIPs: [{{ip: 10.237.{octet}.11}}]}}
"#
    );
    let node = common::LabNode::up("events", &inventory);
    let lab = &node.lab;
    let policies = common::network_events_yaml();
    let policies = policies.to_str().unwrap();
    let client_if = lab
        .pod("iperf/iperf3-client")
        .unwrap()
        .host_interface
        .clone()
        .unwrap();
    let ifaces = format!("^{client_if}$");
    let cap = CaptureProc::start_here(&[
        "capture",
        "--interfaces",
        &ifaces,
        "--eviction",
        "60",
        "--inventory",
        node.inventory_arg(),
        "--policies",
        policies,
    ]);
    let server = format!("10.237.{octet}.10");
    lab.run("iperf/iperf3-client", move || {
        let mut c = std::net::TcpStream::connect((server.as_str(), 5201)).unwrap();
        std::io::Write::write_all(&mut c, b"audit mode does not block").unwrap();
    })
    .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let records = cap.stop();
    let flow = records.one(&[
        ("DstPort", json!(5201)),
        ("SrcK8S_Name", json!("iperf3-client")),
    ]);
    let messages: Vec<&str> = flow["NetworkEvents"]
        .as_array()
        .unwrap_or_else(|| panic!("no NetworkEvents: {flow}"))
        .iter()
        .map(|e| e["Message"].as_str().unwrap())
        .collect();
    assert_eq!(
        messages,
        vec![
            "Delegated to network policy by admin network policy allow-egress-iperf, direction Egress",
            "Allowed by network policy iperf3-server-access-egress in namespace iperf, direction Egress",
            "Dropped by network policies isolation in namespace iperf, direction Ingress",
        ]
    );
    assert_eq!(flow["NetworkEvents"][2]["Action"], "drop");
    assert_eq!(flow["NetworkEvents"][2]["Feature"], "acl");
}
