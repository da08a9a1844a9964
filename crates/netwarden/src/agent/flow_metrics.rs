//! Flow metrics in NetObserv's naming (`netobserv_namespace_flows_total`,
//! `netobserv_workload_ingress_bytes_total`, ...), so dashboards built for NetObserv's
//! flowlogs-pipeline work on netwarden's agent.
//!
//! Label sets are bounded: each family keeps at most [`MAX_SERIES`] label combinations; records
//! beyond fall into one series whose labels are all `other`, and
//! `netobserv_series_overflow_total` counts them, so a scan of random addresses cannot exhaust
//! memory and nothing is silently lost.

use netwarden_model::FlowRecord;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;
use std::collections::HashSet;
use std::sync::Mutex;

/// Label combinations kept per family.
pub const MAX_SERIES: usize = 5000;

type Labels = Vec<(String, String)>;

/// One family with its bound.
struct Bounded {
    family: Family<Labels, Counter>,
    seen: Mutex<HashSet<Labels>>,
}

impl Bounded {
    fn new() -> Self {
        Self {
            family: Family::default(),
            seen: Mutex::new(HashSet::new()),
        }
    }

    /// Adds `v` under `labels`, or under the overflow series when the family is full.
    fn add(&self, labels: Labels, v: u64, overflow: &Counter) {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        let labels = if seen.contains(&labels) {
            labels
        } else if seen.len() < MAX_SERIES {
            seen.insert(labels.clone());
            labels
        } else {
            overflow.inc();
            labels
                .into_iter()
                .map(|(k, _)| (k, "other".to_string()))
                .collect()
        };
        self.family.get_or_create(&labels).inc_by(v);
    }
}

pub struct FlowMetrics {
    namespace_flows: Bounded,
    namespace_ingress_bytes: Bounded,
    namespace_egress_bytes: Bounded,
    namespace_drop_packets: Bounded,
    workload_flows: Bounded,
    workload_ingress_bytes: Bounded,
    workload_egress_bytes: Bounded,
    workload_drop_packets: Bounded,
    node_ingress_bytes: Bounded,
    node_egress_bytes: Bounded,
    drop_causes: Bounded,
    network_policy_events: Bounded,
    overflow: Counter,
}

fn value(v: &Option<String>) -> String {
    v.clone().unwrap_or_default()
}

impl FlowMetrics {
    /// Creates the families and registers them under `netobserv_`.
    pub fn register(root: &mut Registry) -> Self {
        let m = Self {
            namespace_flows: Bounded::new(),
            namespace_ingress_bytes: Bounded::new(),
            namespace_egress_bytes: Bounded::new(),
            namespace_drop_packets: Bounded::new(),
            workload_flows: Bounded::new(),
            workload_ingress_bytes: Bounded::new(),
            workload_egress_bytes: Bounded::new(),
            workload_drop_packets: Bounded::new(),
            node_ingress_bytes: Bounded::new(),
            node_egress_bytes: Bounded::new(),
            drop_causes: Bounded::new(),
            network_policy_events: Bounded::new(),
            overflow: Counter::default(),
        };
        let r = root.sub_registry_with_prefix("netobserv");
        let families: [(&str, &str, &Bounded); 12] = [
            (
                "namespace_flows",
                "Flows by source and destination namespace",
                &m.namespace_flows,
            ),
            (
                "namespace_ingress_bytes",
                "Bytes received by each destination namespace, by source namespace",
                &m.namespace_ingress_bytes,
            ),
            (
                "namespace_egress_bytes",
                "Bytes sent by each source namespace, by destination namespace",
                &m.namespace_egress_bytes,
            ),
            (
                "namespace_drop_packets",
                "Dropped packets by source and destination namespace and drop cause",
                &m.namespace_drop_packets,
            ),
            (
                "workload_flows",
                "Flows by source and destination workload (namespace, owner, owner kind)",
                &m.workload_flows,
            ),
            (
                "workload_ingress_bytes",
                "Bytes received by each destination workload, by source workload",
                &m.workload_ingress_bytes,
            ),
            (
                "workload_egress_bytes",
                "Bytes sent by each source workload, by destination workload",
                &m.workload_egress_bytes,
            ),
            (
                "workload_drop_packets",
                "Dropped packets by source and destination workload and drop cause",
                &m.workload_drop_packets,
            ),
            (
                "node_ingress_bytes",
                "Bytes received by each destination node, by source node",
                &m.node_ingress_bytes,
            ),
            (
                "node_egress_bytes",
                "Bytes sent by each source node, by destination node",
                &m.node_egress_bytes,
            ),
            (
                "drop_packets",
                "Dropped packets by drop cause (kernel reason or netwarden's own)",
                &m.drop_causes,
            ),
            (
                "network_policy_events",
                "Flows per deciding network event (action, type, direction, namespace)",
                &m.network_policy_events,
            ),
        ];
        for (name, help, b) in families {
            r.register(name, help, b.family.clone());
        }
        r.register(
            "series_overflow",
            "Records counted under `other` labels because a family reached its series bound",
            m.overflow.clone(),
        );
        m
    }

    /// Counts one flow record.
    pub fn observe(&self, rec: &FlowRecord) {
        let (s, d) = (&rec.src_k8s, &rec.dst_k8s);
        let ns = || {
            vec![
                ("SrcK8S_Namespace".to_string(), value(&s.namespace)),
                ("DstK8S_Namespace".to_string(), value(&d.namespace)),
            ]
        };
        let workload = || {
            vec![
                ("SrcK8S_Namespace".to_string(), value(&s.namespace)),
                ("SrcK8S_OwnerName".to_string(), value(&s.owner_name)),
                ("SrcK8S_OwnerType".to_string(), value(&s.owner_type)),
                ("DstK8S_Namespace".to_string(), value(&d.namespace)),
                ("DstK8S_OwnerName".to_string(), value(&d.owner_name)),
                ("DstK8S_OwnerType".to_string(), value(&d.owner_type)),
            ]
        };
        let nodes = || {
            vec![
                ("SrcK8S_HostName".to_string(), value(&s.host_name)),
                ("DstK8S_HostName".to_string(), value(&d.host_name)),
            ]
        };
        let o = &self.overflow;
        let (ingress, egress) = node_direction(rec);
        self.namespace_flows.add(ns(), 1, o);
        self.workload_flows.add(workload(), 1, o);
        let has_nodes = s.host_name.is_some() || d.host_name.is_some();
        if ingress {
            self.namespace_ingress_bytes.add(ns(), rec.bytes, o);
            self.workload_ingress_bytes.add(workload(), rec.bytes, o);
            if has_nodes {
                self.node_ingress_bytes.add(nodes(), rec.bytes, o);
            }
        }
        if egress {
            self.namespace_egress_bytes.add(ns(), rec.bytes, o);
            self.workload_egress_bytes.add(workload(), rec.bytes, o);
            if has_nodes {
                self.node_egress_bytes.add(nodes(), rec.bytes, o);
            }
        }
        if let Some(drops) = rec.pkt_drop_packets.filter(|d| *d > 0) {
            let cause = value(&rec.pkt_drop_latest_drop_cause);
            let with_cause = |mut l: Labels| {
                l.push(("PktDropLatestDropCause".to_string(), cause.clone()));
                l
            };
            self.namespace_drop_packets.add(with_cause(ns()), drops, o);
            self.workload_drop_packets
                .add(with_cause(workload()), drops, o);
            self.drop_causes.add(with_cause(Vec::new()), drops, o);
        }
        for e in &rec.network_events {
            let label = |k: &str| e[k].as_str().unwrap_or_default().to_string();
            let labels = vec![
                ("action".to_string(), label("Action")),
                ("type".to_string(), label("Type")),
                ("direction".to_string(), label("Direction")),
                ("namespace".to_string(), label("Namespace")),
                ("name".to_string(), label("Name")),
            ];
            self.network_policy_events.add(labels, 1, o);
        }
    }
}

/// Whether a flow counts as ingress and as egress of this node, as NetObserv's
/// flowlogs-pipeline reinterprets `FlowDirection`: ingress when the destination's host is the
/// capturing node, egress when the source's is, both ("inner") when both are; otherwise the
/// direction of the first interface the flow was seen on.
fn node_direction(rec: &FlowRecord) -> (bool, bool) {
    let here = |host: Option<std::net::IpAddr>| rec.agent_ip.is_some() && host == rec.agent_ip;
    let (to_here, from_here) = (here(rec.dst_k8s.host_ip), here(rec.src_k8s.host_ip));
    if to_here || from_here {
        return (to_here, from_here);
    }
    match rec.if_directions.first() {
        Some(netwarden_model::Direction::Ingress) => (true, false),
        Some(netwarden_model::Direction::Egress) => (false, true),
        None => (false, false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus_client::encoding::text::encode;

    fn render(m: &Registry) -> String {
        let mut out = String::new();
        encode(&mut out, m).unwrap();
        out
    }

    fn flow(src_ns: &str, dst_ns: &str, bytes: u64) -> FlowRecord {
        let mut r = FlowRecord {
            bytes,
            if_directions: vec![netwarden_model::Direction::Ingress],
            ..FlowRecord::default()
        };
        r.src_k8s.namespace = Some(src_ns.into());
        r.dst_k8s.namespace = Some(dst_ns.into());
        r
    }

    #[test]
    fn families_carry_netobserv_names_and_labels() {
        let mut reg = Registry::default();
        let m = FlowMetrics::register(&mut reg);
        m.observe(&flow("iperf", "shop", 100));
        m.observe(&flow("iperf", "shop", 50));
        let mut dropped = flow("iperf", "iperf", 0);
        dropped.pkt_drop_packets = Some(3);
        dropped.pkt_drop_latest_drop_cause = Some("NETWARDEN_NETWORK_POLICY_DENIED".into());
        dropped.network_events = vec![serde_json::json!({
            "Action": "drop", "Type": "NetpolNamespace", "Direction": "Ingress", "Namespace": "iperf"
        })];
        m.observe(&dropped);
        let text = render(&reg);
        assert!(text.contains(
            r#"netobserv_namespace_flows_total{SrcK8S_Namespace="iperf",DstK8S_Namespace="shop"} 2"#
        ), "{text}");
        assert!(text.contains(
            r#"netobserv_namespace_ingress_bytes_total{SrcK8S_Namespace="iperf",DstK8S_Namespace="shop"} 150"#
        ), "{text}");
        assert!(text.contains(
            r#"netobserv_drop_packets_total{PktDropLatestDropCause="NETWARDEN_NETWORK_POLICY_DENIED"} 3"#
        ), "{text}");
        assert!(text.contains(
            r#"netobserv_network_policy_events_total{action="drop",type="NetpolNamespace",direction="Ingress",namespace="iperf",name=""} 1"#
        ), "{text}");
    }

    #[test]
    fn ingress_and_egress_bytes_follow_the_node() {
        let mut reg = Registry::default();
        let m = FlowMetrics::register(&mut reg);
        let node: std::net::IpAddr = "192.168.1.10".parse().unwrap();
        let other: std::net::IpAddr = "192.168.1.11".parse().unwrap();
        let with_hosts = |src_ns: &str, src_host, dst_host, bytes| {
            let mut r = flow(src_ns, "db", bytes);
            r.agent_ip = Some(node);
            r.src_k8s.host_ip = Some(src_host);
            r.dst_k8s.host_ip = Some(dst_host);
            r.if_directions = vec![netwarden_model::Direction::Egress];
            r
        };
        m.observe(&with_hosts("in", other, node, 100)); // to this node: ingress
        m.observe(&with_hosts("out", node, other, 20)); // from this node: egress
        m.observe(&with_hosts("inner", node, node, 3)); // both ends here: both
        let mut egress_iface = flow("iface", "db", 7); // no hosts: the interface decides
        egress_iface.if_directions = vec![netwarden_model::Direction::Egress];
        m.observe(&egress_iface);
        let text = render(&reg);
        let line = |family: &str, ns: &str| {
            format!(
                r#"netobserv_namespace_{family}_bytes_total{{SrcK8S_Namespace="{ns}",DstK8S_Namespace="db"}}"#
            )
        };
        for (family, ns, want) in [
            ("ingress", "in", Some(100)),
            ("egress", "in", None),
            ("ingress", "out", None),
            ("egress", "out", Some(20)),
            ("ingress", "inner", Some(3)),
            ("egress", "inner", Some(3)),
            ("ingress", "iface", None),
            ("egress", "iface", Some(7)),
        ] {
            let l = line(family, ns);
            match want {
                Some(v) => assert!(text.contains(&format!("{l} {v}\n")), "{l} {v}: {text}"),
                None => assert!(!text.contains(&l), "{l}: {text}"),
            }
        }
    }

    #[test]
    fn label_sets_are_bounded() {
        let mut reg = Registry::default();
        let m = FlowMetrics::register(&mut reg);
        for i in 0..MAX_SERIES + 10 {
            m.observe(&flow(&format!("ns{i}"), "x", 1));
        }
        let text = render(&reg);
        assert!(text.contains(
            r#"netobserv_namespace_flows_total{SrcK8S_Namespace="other",DstK8S_Namespace="other"} 10"#
        ));
        assert!(
            text.contains("netobserv_series_overflow_total 40"),
            "{text}"
        );
    }
}
