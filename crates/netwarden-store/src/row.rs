//! A flow record as the row the store appends: one value per column of the catalog
//! ([`netwarden_query::fields`]), in table order.

use duckdb::types::Value;
use netwarden_model::FlowRecord;
use netwarden_query::addr::addr_key;
use netwarden_query::fields::{fields, Field};
use std::net::IpAddr;

fn opt<T>(v: Option<T>, f: impl FnOnce(T) -> Value) -> Value {
    v.map_or(Value::Null, f)
}

fn text(v: &Option<String>) -> Value {
    opt(v.as_ref(), |s| Value::Text(s.clone()))
}

/// The key and text columns of an address field.
fn addr(out: &mut Vec<Value>, ip: Option<IpAddr>) {
    out.push(opt(ip, |ip| Value::HugeInt(addr_key(ip))));
    out.push(opt(ip, |ip| Value::Text(ip.to_string())));
}

/// Appends the values of `field`'s columns for `rec` to `out`.
fn push_field(out: &mut Vec<Value>, rec: &FlowRecord, field: &Field) {
    let (s, d) = (&rec.src_k8s, &rec.dst_k8s);
    let v = match field.name {
        "TimeReceived" => Value::BigInt(rec.time_received),
        "TimeFlowStartMs" => Value::BigInt(rec.time_flow_start_ms),
        "TimeFlowEndMs" => Value::BigInt(rec.time_flow_end_ms),
        "SrcAddr" => return addr(out, rec.src_addr),
        "DstAddr" => return addr(out, rec.dst_addr),
        "SrcPort" => opt(rec.src_port, |p| Value::Int(p.into())),
        "DstPort" => opt(rec.dst_port, |p| Value::Int(p.into())),
        "Proto" => Value::UTinyInt(rec.proto),
        "Etype" => Value::USmallInt(rec.etype),
        "IcmpType" => opt(rec.icmp_type, Value::UTinyInt),
        "IcmpCode" => opt(rec.icmp_code, Value::UTinyInt),
        "SrcMac" => text(&rec.src_mac),
        "DstMac" => text(&rec.dst_mac),
        "Bytes" => Value::UBigInt(rec.bytes),
        "Packets" => Value::UBigInt(rec.packets),
        "Flags" => opt(rec.flags, Value::USmallInt),
        "Dscp" => Value::UTinyInt(rec.dscp),
        "Interfaces" => Value::Text(rec.interfaces.join(",")),
        "IfDirections" => Value::Text(
            rec.if_directions
                .iter()
                .map(|d| (*d as u8).to_string())
                .collect::<Vec<_>>()
                .join(","),
        ),
        "Sampling" => Value::UInt(rec.sampling),
        "AgentIP" => return addr(out, rec.agent_ip),
        "PktDropPackets" => opt(rec.pkt_drop_packets, Value::UBigInt),
        "PktDropBytes" => opt(rec.pkt_drop_bytes, Value::UBigInt),
        "PktDropLatestDropCause" => text(&rec.pkt_drop_latest_drop_cause),
        "PktDropLatestState" => text(&rec.pkt_drop_latest_state),
        "PktDropLatestFlags" => opt(rec.pkt_drop_latest_flags, Value::USmallInt),
        "DnsId" => opt(rec.dns_id, Value::USmallInt),
        "DnsFlags" => opt(rec.dns_flags, Value::USmallInt),
        "DnsFlagsResponseCode" => text(&rec.dns_flags_response_code),
        "DnsLatencyMs" => opt(rec.dns_latency_ms, Value::Double),
        "DnsName" => text(&rec.dns_name),
        "TimeFlowRttNs" => opt(rec.time_flow_rtt_ns, Value::UBigInt),
        "NetworkEvents" => {
            if rec.network_events.is_empty() {
                out.push(Value::Null);
                out.push(Value::Null);
            } else {
                let messages: Vec<&str> = rec
                    .network_events
                    .iter()
                    .filter_map(|e| e.get("Message").and_then(|m| m.as_str()))
                    .collect();
                let json = serde_json::Value::Array(rec.network_events.clone()).to_string();
                out.push(Value::Text(json));
                out.push(Value::Text(messages.join("\n")));
            }
            return;
        }
        "SrcK8S_Namespace" => text(&s.namespace),
        "SrcK8S_Name" => text(&s.name),
        "SrcK8S_Type" => text(&s.kind),
        "SrcK8S_OwnerName" => text(&s.owner_name),
        "SrcK8S_OwnerType" => text(&s.owner_type),
        "SrcK8S_HostIP" => return addr(out, s.host_ip),
        "SrcK8S_HostName" => text(&s.host_name),
        "SrcK8S_NetworkName" => text(&s.network_name),
        "DstK8S_Namespace" => text(&d.namespace),
        "DstK8S_Name" => text(&d.name),
        "DstK8S_Type" => text(&d.kind),
        "DstK8S_OwnerName" => text(&d.owner_name),
        "DstK8S_OwnerType" => text(&d.owner_type),
        "DstK8S_HostIP" => return addr(out, d.host_ip),
        "DstK8S_HostName" => text(&d.host_name),
        "DstK8S_NetworkName" => text(&d.network_name),
        "K8S_FlowLayer" => text(&rec.k8s_flow_layer),
        // A catalog field this function does not know: NULL in each of its columns (the test
        // below keeps the two in step).
        _ => {
            let n = field.columns().len();
            out.extend(std::iter::repeat_n(Value::Null, n));
            return;
        }
    };
    out.push(v);
}

/// The row of `rec`: every column of the table, in order.
pub fn row(rec: &FlowRecord) -> Vec<Value> {
    let mut out = Vec::with_capacity(64);
    for f in fields() {
        push_field(&mut out, rec, f);
    }
    out
}

/// Number of columns of the flow tables.
pub fn column_count() -> usize {
    fields().iter().map(|f| f.columns().len()).sum()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use netwarden_model::{Direction as FlowDirection, K8sEndpointDst, K8sEndpointSrc};

    /// A record with every field set.
    pub(crate) fn full_record() -> FlowRecord {
        let ip = |s: &str| Some(s.parse::<IpAddr>().unwrap());
        FlowRecord {
            src_addr: ip("10.0.0.1"),
            dst_addr: ip("fd00::2"),
            src_port: Some(40000),
            dst_port: Some(5201),
            proto: 6,
            etype: 0x0800,
            icmp_type: Some(8),
            icmp_code: Some(0),
            src_mac: Some("AA:BB:CC:DD:EE:01".into()),
            dst_mac: Some("AA:BB:CC:DD:EE:02".into()),
            bytes: 1500,
            packets: 3,
            flags: Some(0x12),
            dscp: 10,
            interfaces: vec!["eth0".into(), "veth1".into()],
            if_directions: vec![FlowDirection::Ingress, FlowDirection::Egress],
            time_flow_start_ms: 1_700_000_000_000,
            time_flow_end_ms: 1_700_000_001_000,
            time_received: 1_700_000_002,
            sampling: 1,
            agent_ip: ip("192.168.0.1"),
            pkt_drop_packets: Some(1),
            pkt_drop_bytes: Some(60),
            pkt_drop_latest_drop_cause: Some("NETWARDEN_NETWORK_POLICY_DENIED".into()),
            pkt_drop_latest_state: Some("TCP_SYN_SENT".into()),
            pkt_drop_latest_flags: Some(2),
            dns_id: Some(7),
            dns_flags: Some(0x8180),
            dns_flags_response_code: Some("NoError".into()),
            dns_latency_ms: Some(1.5),
            dns_name: Some("example.com".into()),
            time_flow_rtt_ns: Some(20_000),
            network_events: vec![
                serde_json::json!({"Message": "Allowed by x"}),
                serde_json::json!({"Message": "Dropped by y"}),
            ],
            src_k8s: K8sEndpointSrc {
                namespace: Some("iperf".into()),
                name: Some("client".into()),
                kind: Some("Pod".into()),
                owner_name: Some("client".into()),
                owner_type: Some("Deployment".into()),
                host_ip: ip("192.168.0.1"),
                host_name: Some("node-a".into()),
                network_name: Some("primary".into()),
            },
            dst_k8s: K8sEndpointDst {
                namespace: Some("iperf".into()),
                name: Some("server".into()),
                kind: Some("Pod".into()),
                owner_name: Some("server".into()),
                owner_type: Some("Deployment".into()),
                host_ip: ip("192.168.0.2"),
                host_name: Some("node-b".into()),
                network_name: Some("primary".into()),
            },
            k8s_flow_layer: Some("app".into()),
        }
    }

    #[test]
    fn every_catalog_field_has_its_columns() {
        let rec = full_record();
        for f in fields() {
            let mut out = Vec::new();
            push_field(&mut out, &rec, f);
            assert_eq!(out.len(), f.columns().len(), "{}", f.name);
            assert!(
                out.iter().all(|v| *v != Value::Null),
                "{} is not converted",
                f.name
            );
        }
        assert_eq!(row(&rec).len(), column_count());
    }

    #[test]
    fn lists_events_and_addresses_are_flattened() {
        let r = row(&full_record());
        let at = |name: &str| {
            let mut i = 0;
            for f in fields() {
                if f.name == name {
                    return i;
                }
                i += f.columns().len();
            }
            panic!("{name}")
        };
        let src = at("SrcAddr");
        assert_eq!(
            r[src],
            Value::HugeInt(addr_key("10.0.0.1".parse().unwrap()))
        );
        assert_eq!(r[src + 1], Value::Text("10.0.0.1".into()));
        assert_eq!(r[at("Interfaces")], Value::Text("eth0,veth1".into()));
        assert_eq!(r[at("IfDirections")], Value::Text("0,1".into()));
        assert_eq!(
            r[at("NetworkEvents") + 1],
            Value::Text("Allowed by x\nDropped by y".into())
        );
    }
}
