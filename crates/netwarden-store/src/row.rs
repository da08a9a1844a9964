//! A flow record as the row the store appends: one value per column of the catalog
//! ([`netwarden_query::fields`]), in table order.
//!
//! Ingest is the store's hot path (hundreds of thousands of records a second), so a record is
//! turned into [`Cell`]s that borrow its strings, by one function per field looked up once for
//! the whole catalog ([`cells`]), and [`crate::batch`] copies the cells straight into Arrow
//! columns. Nothing here allocates per value except the text DuckDB cannot get from the record
//! as is (addresses, joined lists, the events' JSON).

use netwarden_model::FlowRecord;
use netwarden_query::addr::addr_key;
use netwarden_query::fields::{fields, Field};
use std::borrow::Cow;
use std::net::IpAddr;
use std::sync::OnceLock;

/// One column's value of one record.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell<'a> {
    Null,
    Int(i64),
    UInt(u64),
    Huge(i128),
    Double(f64),
    Text(Cow<'a, str>),
}

/// Appends the cells of one field of a record.
type Push = for<'a> fn(&'a FlowRecord, &mut Vec<Cell<'a>>);

fn text<'a>(v: &'a Option<String>) -> Cell<'a> {
    v.as_deref()
        .map_or(Cell::Null, |s| Cell::Text(Cow::Borrowed(s)))
}

fn uint<T: Into<u64>>(v: Option<T>) -> Cell<'static> {
    v.map_or(Cell::Null, |v| Cell::UInt(v.into()))
}

/// The key and text columns of an address field.
fn addr(out: &mut Vec<Cell<'_>>, ip: Option<IpAddr>) {
    match ip {
        Some(ip) => {
            out.push(Cell::Huge(addr_key(ip)));
            out.push(Cell::Text(Cow::Owned(ip.to_string())));
        }
        None => {
            out.push(Cell::Null);
            out.push(Cell::Null);
        }
    }
}

fn events<'a>(rec: &'a FlowRecord, out: &mut Vec<Cell<'a>>) {
    if rec.network_events.is_empty() {
        out.push(Cell::Null);
        out.push(Cell::Null);
        return;
    }
    let messages: Vec<&str> = rec
        .network_events
        .iter()
        .filter_map(|e| e.get("Message").and_then(|m| m.as_str()))
        .collect();
    let json = serde_json::Value::Array(rec.network_events.clone()).to_string();
    out.push(Cell::Text(Cow::Owned(json)));
    out.push(Cell::Text(Cow::Owned(messages.join("\n"))));
}

/// The function filling `field`'s columns; `None` for a catalog field this module does not
/// know (the test below keeps the two in step).
fn pusher(name: &str) -> Option<Push> {
    Some(match name {
        "TimeReceived" => |r, o| o.push(Cell::Int(r.time_received)),
        "TimeFlowStartMs" => |r, o| o.push(Cell::Int(r.time_flow_start_ms)),
        "TimeFlowEndMs" => |r, o| o.push(Cell::Int(r.time_flow_end_ms)),
        "SrcAddr" => |r, o| addr(o, r.src_addr),
        "DstAddr" => |r, o| addr(o, r.dst_addr),
        "SrcPort" => |r, o| o.push(uint(r.src_port)),
        "DstPort" => |r, o| o.push(uint(r.dst_port)),
        "Proto" => |r, o| o.push(Cell::UInt(r.proto.into())),
        "Etype" => |r, o| o.push(Cell::UInt(r.etype.into())),
        "IcmpType" => |r, o| o.push(uint(r.icmp_type)),
        "IcmpCode" => |r, o| o.push(uint(r.icmp_code)),
        "SrcMac" => |r, o| o.push(text(&r.src_mac)),
        "DstMac" => |r, o| o.push(text(&r.dst_mac)),
        "Bytes" => |r, o| o.push(Cell::UInt(r.bytes)),
        "Packets" => |r, o| o.push(Cell::UInt(r.packets)),
        "Flags" => |r, o| o.push(uint(r.flags)),
        "Dscp" => |r, o| o.push(Cell::UInt(r.dscp.into())),
        "Interfaces" => |r, o| {
            o.push(match r.interfaces.as_slice() {
                [one] => Cell::Text(Cow::Borrowed(one.as_str())),
                many => Cell::Text(Cow::Owned(many.join(","))),
            })
        },
        "IfDirections" => |r, o| {
            let mut t = String::with_capacity(r.if_directions.len() * 2);
            for (i, d) in r.if_directions.iter().enumerate() {
                if i > 0 {
                    t.push(',');
                }
                t.push(char::from(b'0' + *d as u8));
            }
            o.push(Cell::Text(Cow::Owned(t)))
        },
        "Sampling" => |r, o| o.push(Cell::UInt(r.sampling.into())),
        "AgentIP" => |r, o| addr(o, r.agent_ip),
        "PktDropPackets" => |r, o| o.push(uint(r.pkt_drop_packets)),
        "PktDropBytes" => |r, o| o.push(uint(r.pkt_drop_bytes)),
        "PktDropLatestDropCause" => |r, o| o.push(text(&r.pkt_drop_latest_drop_cause)),
        "PktDropLatestState" => |r, o| o.push(text(&r.pkt_drop_latest_state)),
        "PktDropLatestFlags" => |r, o| o.push(uint(r.pkt_drop_latest_flags)),
        "DnsId" => |r, o| o.push(uint(r.dns_id)),
        "DnsFlags" => |r, o| o.push(uint(r.dns_flags)),
        "DnsFlagsResponseCode" => |r, o| o.push(text(&r.dns_flags_response_code)),
        "DnsLatencyMs" => |r, o| o.push(r.dns_latency_ms.map_or(Cell::Null, Cell::Double)),
        "DnsName" => |r, o| o.push(text(&r.dns_name)),
        "TimeFlowRttNs" => |r, o| o.push(uint(r.time_flow_rtt_ns)),
        "NetworkEvents" => events,
        "SrcK8S_Namespace" => |r, o| o.push(text(&r.src_k8s.namespace)),
        "SrcK8S_Name" => |r, o| o.push(text(&r.src_k8s.name)),
        "SrcK8S_Type" => |r, o| o.push(text(&r.src_k8s.kind)),
        "SrcK8S_OwnerName" => |r, o| o.push(text(&r.src_k8s.owner_name)),
        "SrcK8S_OwnerType" => |r, o| o.push(text(&r.src_k8s.owner_type)),
        "SrcK8S_HostIP" => |r, o| addr(o, r.src_k8s.host_ip),
        "SrcK8S_HostName" => |r, o| o.push(text(&r.src_k8s.host_name)),
        "SrcK8S_NetworkName" => |r, o| o.push(text(&r.src_k8s.network_name)),
        "DstK8S_Namespace" => |r, o| o.push(text(&r.dst_k8s.namespace)),
        "DstK8S_Name" => |r, o| o.push(text(&r.dst_k8s.name)),
        "DstK8S_Type" => |r, o| o.push(text(&r.dst_k8s.kind)),
        "DstK8S_OwnerName" => |r, o| o.push(text(&r.dst_k8s.owner_name)),
        "DstK8S_OwnerType" => |r, o| o.push(text(&r.dst_k8s.owner_type)),
        "DstK8S_HostIP" => |r, o| addr(o, r.dst_k8s.host_ip),
        "DstK8S_HostName" => |r, o| o.push(text(&r.dst_k8s.host_name)),
        "DstK8S_NetworkName" => |r, o| o.push(text(&r.dst_k8s.network_name)),
        "K8S_FlowLayer" => |r, o| o.push(text(&r.k8s_flow_layer)),
        _ => return None,
    })
}

/// One pusher per catalog field, in table order; an unknown field fills its columns with NULL.
fn pushers() -> &'static [(Push, usize)] {
    static PUSHERS: OnceLock<Vec<(Push, usize)>> = OnceLock::new();
    PUSHERS.get_or_init(|| {
        fields()
            .iter()
            .map(|f: &Field| {
                let nulls: Push = |_, _| {};
                (pusher(f.name).unwrap_or(nulls), f.columns().len())
            })
            .collect()
    })
}

/// The cells of `rec`, every column of the table in order, appended to `out`.
pub fn cells<'a>(rec: &'a FlowRecord, out: &mut Vec<Cell<'a>>) {
    for (push, width) in pushers() {
        let before = out.len();
        push(rec, out);
        // A field without a pusher, or a pusher that fell short: NULL for the rest.
        while out.len() < before + width {
            out.push(Cell::Null);
        }
    }
}

/// The row of `rec`: every column of the table, in order.
pub fn row(rec: &FlowRecord) -> Vec<Cell<'_>> {
    let mut out = Vec::with_capacity(column_count());
    cells(rec, &mut out);
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
            let push = pusher(f.name).unwrap_or_else(|| panic!("{} has no pusher", f.name));
            let mut out = Vec::new();
            push(&rec, &mut out);
            assert_eq!(out.len(), f.columns().len(), "{}", f.name);
            assert!(
                out.iter().all(|v| *v != Cell::Null),
                "{} is not converted",
                f.name
            );
        }
        assert_eq!(row(&rec).len(), column_count());
    }

    #[test]
    fn lists_events_and_addresses_are_flattened() {
        let rec = full_record();
        let r = row(&rec);
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
        assert_eq!(r[src], Cell::Huge(addr_key("10.0.0.1".parse().unwrap())));
        assert_eq!(r[src + 1], Cell::Text("10.0.0.1".into()));
        assert_eq!(r[at("Interfaces")], Cell::Text("eth0,veth1".into()));
        assert_eq!(r[at("IfDirections")], Cell::Text("0,1".into()));
        assert_eq!(
            r[at("NetworkEvents") + 1],
            Cell::Text("Allowed by x\nDropped by y".into())
        );
    }
}
