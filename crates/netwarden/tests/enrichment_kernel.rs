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
