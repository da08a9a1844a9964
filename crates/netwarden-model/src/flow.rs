//! [`FlowRecord`] and the small vocabularies its fields use.

use serde::{Deserialize, Serialize};
use std::net::IpAddr;

/// Direction of a flow at an interface, as NetObserv encodes it in `IfDirections`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(into = "u8", try_from = "u8")]
pub enum Direction {
    Ingress = 0,
    Egress = 1,
}

impl From<Direction> for u8 {
    fn from(d: Direction) -> u8 {
        d as u8
    }
}

impl TryFrom<u8> for Direction {
    type Error = String;
    fn try_from(v: u8) -> Result<Self, String> {
        match v {
            0 => Ok(Direction::Ingress),
            1 => Ok(Direction::Egress),
            other => Err(format!(
                "IfDirections: {other} is neither 0 (ingress) nor 1 (egress)"
            )),
        }
    }
}

/// NetObserv's TCP flag bits (`Flags`): the header's flag byte plus three combinations.
pub mod tcp_flags {
    pub const FIN: u16 = 0x01;
    pub const SYN: u16 = 0x02;
    pub const RST: u16 = 0x04;
    pub const PSH: u16 = 0x08;
    pub const ACK: u16 = 0x10;
    pub const URG: u16 = 0x20;
    pub const ECE: u16 = 0x40;
    pub const CWR: u16 = 0x80;
    pub const SYN_ACK: u16 = 0x100;
    pub const FIN_ACK: u16 = 0x200;
    pub const RST_ACK: u16 = 0x400;

    const NAMES: [(u16, &str); 11] = [
        (FIN, "FIN"),
        (SYN, "SYN"),
        (RST, "RST"),
        (PSH, "PSH"),
        (ACK, "ACK"),
        (URG, "URG"),
        (ECE, "ECE"),
        (CWR, "CWR"),
        (SYN_ACK, "SYN_ACK"),
        (FIN_ACK, "FIN_ACK"),
        (RST_ACK, "RST_ACK"),
    ];

    /// Names of the bits set in `flags`, in bit order (e.g. `["SYN", "ACK", "SYN_ACK"]`).
    pub fn names(flags: u16) -> Vec<&'static str> {
        NAMES
            .iter()
            .filter(|(bit, _)| flags & bit != 0)
            .map(|(_, n)| *n)
            .collect()
    }
}

/// One flow over one eviction window, with NetObserv's field names.
///
/// A flow is directional (`SrcAddr` -> `DstAddr`); a connection's replies are another record.
/// Packets and bytes are counted once per node even when the flow crosses several interfaces, which
/// are all listed in `Interfaces`/`IfDirections`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FlowRecord {
    #[serde(rename = "SrcAddr")]
    pub src_addr: Option<IpAddr>,
    #[serde(rename = "DstAddr")]
    pub dst_addr: Option<IpAddr>,
    #[serde(rename = "SrcPort", skip_serializing_if = "Option::is_none", default)]
    pub src_port: Option<u16>,
    #[serde(rename = "DstPort", skip_serializing_if = "Option::is_none", default)]
    pub dst_port: Option<u16>,
    #[serde(rename = "Proto")]
    pub proto: u8,
    /// Ethertype: 2048 for IPv4, 34525 for IPv6.
    #[serde(rename = "Etype")]
    pub etype: u16,
    #[serde(rename = "IcmpType", skip_serializing_if = "Option::is_none", default)]
    pub icmp_type: Option<u8>,
    #[serde(rename = "IcmpCode", skip_serializing_if = "Option::is_none", default)]
    pub icmp_code: Option<u8>,
    #[serde(rename = "SrcMac", skip_serializing_if = "Option::is_none", default)]
    pub src_mac: Option<String>,
    #[serde(rename = "DstMac", skip_serializing_if = "Option::is_none", default)]
    pub dst_mac: Option<String>,
    #[serde(rename = "Bytes")]
    pub bytes: u64,
    #[serde(rename = "Packets")]
    pub packets: u64,
    /// OR of the TCP flags seen, in NetObserv's encoding ([`tcp_flags`]).
    #[serde(rename = "Flags", skip_serializing_if = "Option::is_none", default)]
    pub flags: Option<u16>,
    #[serde(rename = "Dscp")]
    pub dscp: u8,
    #[serde(rename = "Interfaces")]
    pub interfaces: Vec<String>,
    #[serde(rename = "IfDirections")]
    pub if_directions: Vec<Direction>,
    #[serde(rename = "TimeFlowStartMs")]
    pub time_flow_start_ms: i64,
    #[serde(rename = "TimeFlowEndMs")]
    pub time_flow_end_ms: i64,
    /// When the record was produced (eviction), seconds since the epoch.
    #[serde(rename = "TimeReceived")]
    pub time_received: i64,
    /// 1-in-N sampling the packets were recorded with (1: every packet).
    #[serde(rename = "Sampling")]
    pub sampling: u32,
    #[serde(rename = "AgentIP", skip_serializing_if = "Option::is_none", default)]
    pub agent_ip: Option<IpAddr>,

    #[serde(
        rename = "PktDropPackets",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub pkt_drop_packets: Option<u64>,
    #[serde(
        rename = "PktDropBytes",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub pkt_drop_bytes: Option<u64>,
    /// The kernel's name for the latest drop reason, e.g. `SKB_DROP_REASON_NO_SOCKET`.
    #[serde(
        rename = "PktDropLatestDropCause",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub pkt_drop_latest_drop_cause: Option<String>,
    /// TCP state of the socket at the latest drop, e.g. `TCP_ESTABLISHED`.
    #[serde(
        rename = "PktDropLatestState",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub pkt_drop_latest_state: Option<String>,
    #[serde(
        rename = "PktDropLatestFlags",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub pkt_drop_latest_flags: Option<u16>,

    #[serde(rename = "DnsId", skip_serializing_if = "Option::is_none", default)]
    pub dns_id: Option<u16>,
    #[serde(rename = "DnsFlags", skip_serializing_if = "Option::is_none", default)]
    pub dns_flags: Option<u16>,
    /// Response code name (`NoError`, `NXDomain`...), on responses.
    #[serde(
        rename = "DnsFlagsResponseCode",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub dns_flags_response_code: Option<String>,
    #[serde(
        rename = "DnsLatencyMs",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub dns_latency_ms: Option<f64>,
    #[serde(rename = "DnsName", skip_serializing_if = "Option::is_none", default)]
    pub dns_name: Option<String>,

    /// Handshake round trip measured at the node (SYN->SYN-ACK or SYN-ACK->ACK), nanoseconds.
    #[serde(
        rename = "TimeFlowRttNs",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub time_flow_rtt_ns: Option<u64>,

    #[serde(
        rename = "NetworkEvents",
        skip_serializing_if = "Vec::is_empty",
        default
    )]
    pub network_events: Vec<serde_json::Value>,

    #[serde(flatten)]
    pub src_k8s: K8sEndpointSrc,
    #[serde(flatten)]
    pub dst_k8s: K8sEndpointDst,
    #[serde(
        rename = "K8S_FlowLayer",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub k8s_flow_layer: Option<String>,
}

/// Kubernetes identity of the source (filled by enrichment).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct K8sEndpointSrc {
    #[serde(
        rename = "SrcK8S_Namespace",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub namespace: Option<String>,
    #[serde(
        rename = "SrcK8S_Name",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub name: Option<String>,
    #[serde(
        rename = "SrcK8S_Type",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub kind: Option<String>,
    #[serde(
        rename = "SrcK8S_OwnerName",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub owner_name: Option<String>,
    #[serde(
        rename = "SrcK8S_OwnerType",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub owner_type: Option<String>,
    #[serde(
        rename = "SrcK8S_HostIP",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub host_ip: Option<IpAddr>,
    #[serde(
        rename = "SrcK8S_HostName",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub host_name: Option<String>,
    #[serde(
        rename = "SrcK8S_NetworkName",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub network_name: Option<String>,
}

/// Kubernetes identity of the destination (filled by enrichment).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct K8sEndpointDst {
    #[serde(
        rename = "DstK8S_Namespace",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub namespace: Option<String>,
    #[serde(
        rename = "DstK8S_Name",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub name: Option<String>,
    #[serde(
        rename = "DstK8S_Type",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub kind: Option<String>,
    #[serde(
        rename = "DstK8S_OwnerName",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub owner_name: Option<String>,
    #[serde(
        rename = "DstK8S_OwnerType",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub owner_type: Option<String>,
    #[serde(
        rename = "DstK8S_HostIP",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub host_ip: Option<IpAddr>,
    #[serde(
        rename = "DstK8S_HostName",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub host_name: Option<String>,
    #[serde(
        rename = "DstK8S_NetworkName",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub network_name: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_uses_netobserv_names_and_omits_absent_fields() {
        let rec = FlowRecord {
            src_addr: Some("10.0.0.1".parse().unwrap()),
            dst_addr: Some("10.0.0.2".parse().unwrap()),
            src_port: Some(1234),
            dst_port: Some(53),
            proto: 17,
            etype: 2048,
            bytes: 100,
            packets: 2,
            interfaces: vec!["eth0".into()],
            if_directions: vec![Direction::Egress],
            sampling: 1,
            ..Default::default()
        };
        let v: serde_json::Value = serde_json::to_value(&rec).unwrap();
        assert_eq!(v["SrcAddr"], "10.0.0.1");
        assert_eq!(v["DstPort"], 53);
        assert_eq!(v["Interfaces"], serde_json::json!(["eth0"]));
        assert_eq!(v["IfDirections"], serde_json::json!([1]));
        for absent in [
            "IcmpType",
            "Flags",
            "PktDropPackets",
            "DnsId",
            "TimeFlowRttNs",
            "SrcK8S_Namespace",
            "NetworkEvents",
        ] {
            assert!(v.get(absent).is_none(), "{absent} should be omitted");
        }
        let back: FlowRecord = serde_json::from_value(v).unwrap();
        assert_eq!(back, rec);
    }

    #[test]
    fn k8s_fields_flatten_with_prefixes() {
        let mut rec = FlowRecord::default();
        rec.src_k8s.namespace = Some("iperf".into());
        rec.dst_k8s.owner_type = Some("Deployment".into());
        let v = serde_json::to_value(&rec).unwrap();
        assert_eq!(v["SrcK8S_Namespace"], "iperf");
        assert_eq!(v["DstK8S_OwnerType"], "Deployment");
    }

    #[test]
    fn tcp_flag_names() {
        assert_eq!(tcp_flags::names(0x112), vec!["SYN", "ACK", "SYN_ACK"]);
        assert!(tcp_flags::names(0).is_empty());
    }
}
