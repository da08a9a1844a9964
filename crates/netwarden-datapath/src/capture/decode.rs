//! Kernel structs -> [`FlowRecord`]: pure functions, no I/O.

use crate::kernel_names::KernelNames;
use netwarden_bpf::abi::{self, FlowExtras, FlowKey, FlowStats};
use netwarden_model::{Direction, FlowRecord};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};

const ETH_P_IP: u16 = 0x0800;
const ETH_P_IPV6: u16 = 0x86dd;
const PROTO_TCP: u8 = 6;
const PROTO_UDP: u8 = 17;
const PROTO_ICMP: u8 = 1;
const PROTO_SCTP: u8 = 132;
const PROTO_ICMPV6: u8 = 58;

/// What turning kernel values into records needs besides the values.
#[derive(Debug, Clone, Default)]
pub struct DecodeContext {
    /// Interface names by index, including interfaces removed since the flows were seen.
    pub ifnames: HashMap<u32, String>,
    pub names: KernelNames,
    /// CLOCK_REALTIME minus CLOCK_MONOTONIC, in nanoseconds.
    pub mono_to_real_ns: i128,
    /// Eviction time, seconds since the epoch.
    pub now_s: i64,
    pub agent_ip: Option<IpAddr>,
    /// Sampling the programs were loaded with, for records made of extras alone.
    pub sampling: u32,
}

impl DecodeContext {
    fn epoch_ms(&self, mono_ns: u64) -> i64 {
        ((mono_ns as i128 + self.mono_to_real_ns) / 1_000_000) as i64
    }

    fn ifname(&self, index: u32) -> String {
        self.ifnames
            .get(&index)
            .cloned()
            .unwrap_or_else(|| format!("if{index}"))
    }
}

/// The address in a key: IPv4-mapped addresses of IPv4 flows come back as IPv4.
pub fn key_addr(raw: &[u8; 16], etype: u16) -> IpAddr {
    let v6 = Ipv6Addr::from(*raw);
    match (etype, v6.to_ipv4_mapped()) {
        (ETH_P_IPV6, _) | (_, None) => IpAddr::V6(v6),
        (_, Some(v4)) => IpAddr::V4(v4),
    }
}

fn etype_of_key(key: &FlowKey) -> u16 {
    if Ipv6Addr::from(key.src_addr).to_ipv4_mapped().is_some() {
        ETH_P_IP
    } else {
        ETH_P_IPV6
    }
}

fn mac(bytes: &[u8; 6]) -> Option<String> {
    if bytes.iter().all(|b| *b == 0) {
        return None;
    }
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut s = String::with_capacity(17);
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 {
            s.push(':');
        }
        s.push(HEX[usize::from(b >> 4)] as char);
        s.push(HEX[usize::from(b & 0xf)] as char);
    }
    Some(s)
}

/// Fields that come from the key alone.
fn base_record(key: &FlowKey, etype: u16) -> FlowRecord {
    let has_ports = matches!(key.proto, PROTO_TCP | PROTO_UDP | PROTO_SCTP);
    let is_icmp = matches!(key.proto, PROTO_ICMP | PROTO_ICMPV6);
    FlowRecord {
        src_addr: Some(key_addr(&key.src_addr, etype)),
        dst_addr: Some(key_addr(&key.dst_addr, etype)),
        src_port: has_ports.then_some(key.src_port),
        dst_port: has_ports.then_some(key.dst_port),
        proto: key.proto,
        etype,
        icmp_type: is_icmp.then_some(key.icmp_type),
        icmp_code: is_icmp.then_some(key.icmp_code),
        ..Default::default()
    }
}

/// A record from the flow map's counters.
pub fn flow_record(key: &FlowKey, stats: &FlowStats, ctx: &DecodeContext) -> FlowRecord {
    let etype = if stats.eth_protocol == ETH_P_IPV6 || stats.eth_protocol == ETH_P_IP {
        stats.eth_protocol
    } else {
        etype_of_key(key)
    };
    let mut rec = base_record(key, etype);
    rec.src_mac = mac(&stats.src_mac);
    rec.dst_mac = mac(&stats.dst_mac);
    rec.bytes = stats.bytes;
    rec.packets = stats.packets;
    rec.flags = (key.proto == PROTO_TCP).then_some(stats.tcp_flags as u16);
    rec.dscp = stats.dscp;
    let n = (stats.n_observed as usize).min(abi::MAX_OBSERVED);
    for i in 0..n {
        let (index, dir) = (stats.observed_ifindex[i], stats.observed_direction[i]);
        // Two CPUs meeting a new hop at once may both have listed it.
        let listed_before = (0..i)
            .any(|j| stats.observed_ifindex[j] == index && stats.observed_direction[j] == dir);
        if !listed_before {
            rec.interfaces.push(ctx.ifname(index));
            rec.if_directions.push(direction(dir));
        }
    }
    rec.time_flow_start_ms = ctx.epoch_ms(stats.first_seen_ns);
    rec.time_flow_end_ms = ctx.epoch_ms(stats.last_seen_ns);
    rec.time_received = ctx.now_s;
    rec.sampling = stats.sampling.max(1);
    rec.agent_ip = ctx.agent_ip;
    rec
}

/// A record for a flow the TC hooks did not count in this window but other hooks saw (a drop
/// before TC, a DNS response after the flow was evicted...).
pub fn extras_only_record(key: &FlowKey, ctx: &DecodeContext) -> FlowRecord {
    let mut rec = base_record(key, etype_of_key(key));
    let now_ms = ctx.now_s * 1000;
    rec.time_flow_start_ms = now_ms;
    rec.time_flow_end_ms = now_ms;
    rec.time_received = ctx.now_s;
    rec.sampling = ctx.sampling.max(1);
    rec.agent_ip = ctx.agent_ip;
    rec
}

fn direction(raw: u8) -> Direction {
    if raw == abi::DIR_EGRESS {
        Direction::Egress
    } else {
        Direction::Ingress
    }
}

/// Adds drops, DNS and RTT to a record.
pub fn apply_extras(rec: &mut FlowRecord, e: &FlowExtras, ctx: &DecodeContext) {
    if e.drop_packets > 0 {
        rec.pkt_drop_packets = Some(e.drop_packets);
        rec.pkt_drop_bytes = Some(e.drop_bytes);
        rec.pkt_drop_latest_drop_cause = Some(ctx.names.drop_reason(e.drop_cause));
        rec.pkt_drop_latest_state = ctx.names.tcp_state(e.drop_tcp_state);
        rec.pkt_drop_latest_flags = Some(e.drop_tcp_flags);
    }
    if e.dns_seen != 0 {
        rec.dns_id = Some(e.dns_id);
        rec.dns_flags = Some(e.dns_flags);
        rec.dns_name = dns_name(&e.dns_name);
        if e.dns_seen & abi::DNS_SEEN_RESPONSE != 0 {
            rec.dns_flags_response_code = Some(dns_rcode_name(e.dns_flags & 0xf).to_string());
            rec.dns_latency_ms = Some(e.dns_latency_ns as f64 / 1e6);
        }
    }
    if e.rtt_ns > 0 {
        rec.time_flow_rtt_ns = Some(e.rtt_ns);
    }
}

/// Decodes the raw question name (length-prefixed labels) into `example.com`. A name longer than the
/// bytes the kernel copied ends where the copy ends.
pub fn dns_name(raw: &[u8]) -> Option<String> {
    let mut labels: Vec<String> = Vec::new();
    let mut i = 0;
    while i < raw.len() {
        let len = raw[i] as usize;
        // 0 ends the name; the two top bits mark a compression pointer, never in a question's name.
        if len == 0 || len & 0xc0 != 0 {
            break;
        }
        let end = (i + 1 + len).min(raw.len());
        labels.push(
            raw[i + 1..end]
                .iter()
                .map(|&b| if b.is_ascii_graphic() { b as char } else { '?' })
                .collect(),
        );
        i = end;
    }
    (!labels.is_empty()).then(|| labels.join("."))
}

/// NetObserv's names for DNS response codes.
pub fn dns_rcode_name(rcode: u16) -> &'static str {
    match rcode {
        0 => "NoError",
        1 => "FormErr",
        2 => "ServFail",
        3 => "NXDomain",
        4 => "NotImp",
        5 => "Refused",
        6 => "YXDomain",
        7 => "YXRRSet",
        8 => "NXRRSet",
        9 => "NotAuth",
        10 => "NotZone",
        _ => "Unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4_key(src: [u8; 4], dst: [u8; 4], proto: u8) -> FlowKey {
        let mut k = FlowKey {
            proto,
            ..Default::default()
        };
        k.src_addr[10..12].copy_from_slice(&[0xff, 0xff]);
        k.src_addr[12..].copy_from_slice(&src);
        k.dst_addr[10..12].copy_from_slice(&[0xff, 0xff]);
        k.dst_addr[12..].copy_from_slice(&dst);
        k
    }

    fn ctx() -> DecodeContext {
        let mut c = DecodeContext {
            mono_to_real_ns: 1_700_000_000_000_000_000,
            now_s: 1_700_000_010,
            ..Default::default()
        };
        c.ifnames.insert(7, "veth0".into());
        c
    }

    #[test]
    fn udp_v4_flow() {
        let mut key = v4_key([10, 0, 0, 1], [10, 0, 0, 2], PROTO_UDP);
        key.src_port = 4000;
        key.dst_port = 53;
        let mut stats = FlowStats {
            eth_protocol: ETH_P_IP,
            packets: 3,
            bytes: 300,
            first_seen_ns: 1_000_000,
            last_seen_ns: 5_000_000,
            src_mac: [2, 0, 0, 0, 0, 1],
            n_observed: 2,
            sampling: 0,
            ..Default::default()
        };
        stats.observed_ifindex[..2].copy_from_slice(&[7, 9]);
        stats.observed_direction[..2].copy_from_slice(&[0, 1]);
        let rec = flow_record(&key, &stats, &ctx());
        assert_eq!(rec.src_addr, Some("10.0.0.1".parse().unwrap()));
        assert_eq!(
            (rec.src_port, rec.dst_port, rec.proto, rec.etype),
            (Some(4000), Some(53), 17, 2048)
        );
        assert_eq!((rec.packets, rec.bytes), (3, 300));
        assert_eq!(rec.flags, None, "no TCP flags on UDP");
        assert_eq!(rec.icmp_type, None);
        assert_eq!(rec.interfaces, vec!["veth0", "if9"]);
        assert_eq!(
            rec.if_directions,
            vec![Direction::Ingress, Direction::Egress]
        );
        assert_eq!(rec.src_mac.as_deref(), Some("02:00:00:00:00:01"));
        assert_eq!(rec.dst_mac, None);
        assert_eq!(rec.time_flow_start_ms, 1_700_000_000_001);
        assert_eq!(rec.time_flow_end_ms, 1_700_000_000_005);
        assert_eq!(rec.sampling, 1);
    }

    #[test]
    fn a_hop_claimed_twice_by_racing_cpus_is_listed_once() {
        let key = v4_key([10, 0, 0, 1], [10, 0, 0, 2], PROTO_UDP);
        let mut stats = FlowStats {
            n_observed: 4,
            ..Default::default()
        };
        stats.observed_ifindex[..4].copy_from_slice(&[7, 9, 9, 9]);
        stats.observed_direction[..4].copy_from_slice(&[0, 1, 1, 0]);
        let rec = flow_record(&key, &stats, &ctx());
        assert_eq!(rec.interfaces, vec!["veth0", "if9", "if9"]);
        assert_eq!(
            rec.if_directions,
            vec![Direction::Ingress, Direction::Egress, Direction::Ingress]
        );
    }

    #[test]
    fn icmpv6_flow_keeps_type_and_code_and_no_ports() {
        let mut key = FlowKey {
            proto: PROTO_ICMPV6,
            icmp_type: 128,
            icmp_code: 0,
            ..Default::default()
        };
        key.src_addr = "fd00::1".parse::<Ipv6Addr>().unwrap().octets();
        key.dst_addr = "fd00::2".parse::<Ipv6Addr>().unwrap().octets();
        let stats = FlowStats {
            eth_protocol: ETH_P_IPV6,
            packets: 1,
            n_observed: 1,
            ..Default::default()
        };
        let rec = flow_record(&key, &stats, &ctx());
        assert_eq!(rec.src_addr, Some("fd00::1".parse().unwrap()));
        assert_eq!(
            (rec.icmp_type, rec.icmp_code, rec.src_port),
            (Some(128), Some(0), None)
        );
        assert_eq!(rec.etype, 34525);
    }

    #[test]
    fn extras_fill_drop_dns_and_rtt() {
        let mut rec = FlowRecord::default();
        let mut e = FlowExtras {
            drop_packets: 2,
            drop_bytes: 180,
            drop_cause: 999_999,
            dns_seen: abi::DNS_SEEN_RESPONSE,
            dns_id: 0x1234,
            dns_flags: 0x8183,
            dns_latency_ns: 2_500_000,
            rtt_ns: 42_000,
            ..Default::default()
        };
        e.dns_name[..12].copy_from_slice(b"\x07example\x03com");
        apply_extras(&mut rec, &e, &ctx());
        assert_eq!(
            (rec.pkt_drop_packets, rec.pkt_drop_bytes),
            (Some(2), Some(180))
        );
        assert_eq!(
            rec.pkt_drop_latest_drop_cause.as_deref(),
            Some("SKB_DROP_REASON_0xf423f")
        );
        assert_eq!(rec.pkt_drop_latest_state, None);
        assert_eq!(rec.dns_id, Some(0x1234));
        assert_eq!(rec.dns_flags_response_code.as_deref(), Some("NXDomain"));
        assert_eq!(rec.dns_latency_ms, Some(2.5));
        assert_eq!(rec.dns_name.as_deref(), Some("example.com"));
        assert_eq!(rec.time_flow_rtt_ns, Some(42_000));
    }

    #[test]
    fn dns_query_has_no_latency_or_rcode() {
        let mut rec = FlowRecord::default();
        let e = FlowExtras {
            dns_seen: abi::DNS_SEEN_QUERY,
            dns_id: 7,
            ..Default::default()
        };
        apply_extras(&mut rec, &e, &ctx());
        assert_eq!(rec.dns_id, Some(7));
        assert_eq!(
            (rec.dns_latency_ms, rec.dns_flags_response_code.as_deref()),
            (None, None)
        );
        assert_eq!(rec.pkt_drop_packets, None);
    }

    #[test]
    fn macs_are_upper_case_colon_separated_and_zero_is_absent() {
        assert_eq!(
            mac(&[0x0a, 0xbc, 0, 0x10, 0xff, 0x01]).as_deref(),
            Some("0A:BC:00:10:FF:01")
        );
        assert_eq!(mac(&[0; 6]), None);
    }

    #[test]
    fn dns_names() {
        let cases: &[(&[u8], Option<&str>)] = &[
            (
                b"\x03www\x07example\x03com\x00\x00\x01",
                Some("www.example.com"),
            ),
            (b"\x00", None),
            (b"", None),
            (b"\x05abc", Some("abc")),
            (b"\x03a\x01b\xc0\x0c", Some("a?b")),
            (b"\x02a\xffb\x00", Some("a?")),
        ];
        for (raw, want) in cases {
            assert_eq!(dns_name(raw).as_deref(), *want, "{raw:?}");
        }
    }
}
