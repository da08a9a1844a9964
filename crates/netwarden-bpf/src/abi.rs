//! Rust mirrors of `bpf/include/netwarden/capture_abi.h`.
//!
//! Field order, sizes and padding match the C structs exactly; `layout_tests` compares every offset
//! with the BTF of the compiled object, so a change on one side alone fails the tests.

/// Bound on the interface+direction pairs one flow remembers (`NW_MAX_OBSERVED`).
pub const MAX_OBSERVED: usize = 6;
/// Raw DNS query-name bytes kept per flow (`NW_DNS_NAME_MAX`).
pub const DNS_NAME_MAX: usize = 64;
/// DNS ports configurable at load time (`NW_MAX_DNS_PORTS`).
pub const MAX_DNS_PORTS: usize = 4;

/// `enum nw_direction`.
pub const DIR_INGRESS: u8 = 0;
/// `enum nw_direction`.
pub const DIR_EGRESS: u8 = 1;

/// Indexes of the per-CPU loss counters (`enum nw_counter`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum Counter {
    /// New flow did not fit the flow map; sent through the fallback ring buffer.
    FlowMapFull = 0,
    /// Fallback ring buffer full too: the packet is in no record.
    FallbackLost = 1,
    /// Drop, DNS or RTT data did not fit the extras map.
    ExtrasMapFull = 2,
    /// Headers cut short: packet not recorded.
    ParseError = 3,
}

impl Counter {
    /// Every counter, in index order.
    pub const ALL: [Counter; 4] = [
        Counter::FlowMapFull,
        Counter::FallbackLost,
        Counter::ExtrasMapFull,
        Counter::ParseError,
    ];
}

/// `DNS_SEEN_*` bits of [`FlowExtras::dns_seen`].
pub const DNS_SEEN_QUERY: u8 = 0x1;
/// See [`DNS_SEEN_QUERY`].
pub const DNS_SEEN_RESPONSE: u8 = 0x2;

/// `struct nw_flow_key`: addresses are IPv6 or IPv4-mapped IPv6; ports in host order.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct FlowKey {
    pub src_addr: [u8; 16],
    pub dst_addr: [u8; 16],
    pub src_port: u16,
    pub dst_port: u16,
    pub proto: u8,
    pub icmp_type: u8,
    pub icmp_code: u8,
    pub _pad: u8,
}

/// `struct nw_flow_stats`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FlowStats {
    pub packets: u64,
    pub bytes: u64,
    pub first_seen_ns: u64,
    pub last_seen_ns: u64,
    pub tcp_flags: u32,
    pub n_observed: u32,
    pub eth_protocol: u16,
    pub src_mac: [u8; 6],
    pub dst_mac: [u8; 6],
    pub dscp: u8,
    pub _pad: u8,
    pub sampling: u32,
    pub observed_direction: [u8; MAX_OBSERVED],
    pub observed_ifindex: [u32; MAX_OBSERVED],
}

/// `struct nw_flow_extras`: drops, DNS and handshake RTT of a flow.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowExtras {
    pub drop_packets: u64,
    pub drop_bytes: u64,
    pub dns_latency_ns: u64,
    pub rtt_ns: u64,
    pub drop_cause: u32,
    pub drop_tcp_flags: u16,
    pub drop_tcp_state: u8,
    pub dns_seen: u8,
    pub dns_id: u16,
    pub dns_flags: u16,
    pub _pad: u32,
    pub dns_name: [u8; DNS_NAME_MAX],
}

impl Default for FlowExtras {
    fn default() -> Self {
        Self {
            drop_packets: 0,
            drop_bytes: 0,
            dns_latency_ns: 0,
            rtt_ns: 0,
            drop_cause: 0,
            drop_tcp_flags: 0,
            drop_tcp_state: 0,
            dns_seen: 0,
            dns_id: 0,
            dns_flags: 0,
            _pad: 0,
            dns_name: [0; DNS_NAME_MAX],
        }
    }
}

/// `struct nw_flow_fallback`: one packet of a flow that did not fit the flow map.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FlowFallback {
    pub key: FlowKey,
    pub bytes: u64,
    pub ts_ns: u64,
    pub ifindex: u32,
    pub sampling: u32,
    pub eth_protocol: u16,
    pub tcp_flags: u16,
    pub src_mac: [u8; 6],
    pub dst_mac: [u8; 6],
    pub dscp: u8,
    pub direction: u8,
    pub _pad: [u8; 6],
}

/// `struct nw_dns_key`: a DNS transaction in flight.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DnsKey {
    pub src_addr: [u8; 16],
    pub dst_addr: [u8; 16],
    pub src_port: u16,
    pub dst_port: u16,
    pub id: u16,
    pub proto: u8,
    pub _pad: u8,
}

// SAFETY: plain-old-data, repr(C), no padding the C side leaves uninitialised (all explicit).
unsafe impl aya::Pod for FlowKey {}
unsafe impl aya::Pod for FlowStats {}
unsafe impl aya::Pod for FlowExtras {}
unsafe impl aya::Pod for FlowFallback {}
unsafe impl aya::Pod for DnsKey {}

/// Reads a `T` from the front of `bytes` (ring buffer records, batch buffers).
///
/// Returns `None` when `bytes` is shorter than `T`.
pub fn read_pod<T: aya::Pod>(bytes: &[u8]) -> Option<T> {
    if bytes.len() < std::mem::size_of::<T>() {
        return None;
    }
    // SAFETY: length checked; T is Pod so every bit pattern is valid; read_unaligned copes with any
    // alignment of the source buffer.
    Some(unsafe { std::ptr::read_unaligned(bytes.as_ptr().cast::<T>()) })
}

#[cfg(test)]
mod layout_tests {
    use super::*;
    use crate::fields;
    use std::mem::size_of;

    fn check(c_name: &str, rust_size: usize, fields: &[(&str, usize)]) {
        crate::layout::check(crate::CAPTURE_OBJECT, c_name, rust_size, fields);
    }

    #[test]
    fn flow_key_matches_c() {
        check(
            "nw_flow_key",
            size_of::<FlowKey>(),
            fields!(FlowKey: "src_addr" => src_addr, "dst_addr" => dst_addr, "src_port" => src_port,
                "dst_port" => dst_port, "proto" => proto, "icmp_type" => icmp_type,
                "icmp_code" => icmp_code, "_pad" => _pad),
        );
    }

    #[test]
    fn flow_stats_matches_c() {
        check(
            "nw_flow_stats",
            size_of::<FlowStats>(),
            fields!(FlowStats: "packets" => packets, "bytes" => bytes,
                "first_seen_ns" => first_seen_ns, "last_seen_ns" => last_seen_ns,
                "tcp_flags" => tcp_flags, "n_observed" => n_observed,
                "eth_protocol" => eth_protocol, "src_mac" => src_mac, "dst_mac" => dst_mac,
                "dscp" => dscp, "_pad" => _pad, "sampling" => sampling,
                "observed_direction" => observed_direction, "observed_ifindex" => observed_ifindex),
        );
    }

    #[test]
    fn flow_extras_matches_c() {
        check(
            "nw_flow_extras",
            size_of::<FlowExtras>(),
            fields!(FlowExtras: "drop_packets" => drop_packets, "drop_bytes" => drop_bytes,
                "dns_latency_ns" => dns_latency_ns, "rtt_ns" => rtt_ns, "drop_cause" => drop_cause,
                "drop_tcp_flags" => drop_tcp_flags, "drop_tcp_state" => drop_tcp_state,
                "dns_seen" => dns_seen, "dns_id" => dns_id, "dns_flags" => dns_flags,
                "_pad" => _pad, "dns_name" => dns_name),
        );
    }

    #[test]
    fn flow_fallback_matches_c() {
        check(
            "nw_flow_fallback",
            size_of::<FlowFallback>(),
            fields!(FlowFallback: "key" => key, "bytes" => bytes, "ts_ns" => ts_ns,
                "ifindex" => ifindex, "sampling" => sampling, "eth_protocol" => eth_protocol,
                "tcp_flags" => tcp_flags, "src_mac" => src_mac, "dst_mac" => dst_mac,
                "dscp" => dscp, "direction" => direction, "_pad" => _pad),
        );
    }

    #[test]
    fn dns_key_matches_c() {
        check(
            "nw_dns_key",
            size_of::<DnsKey>(),
            fields!(DnsKey: "src_addr" => src_addr, "dst_addr" => dst_addr, "src_port" => src_port,
                "dst_port" => dst_port, "id" => id, "proto" => proto, "_pad" => _pad),
        );
    }

    #[test]
    fn counter_indexes_match_c() {
        let values: Vec<(&str, i64)> = Counter::ALL
            .iter()
            .map(|c| {
                let c_name = match c {
                    Counter::FlowMapFull => "NW_CNT_FLOW_MAP_FULL",
                    Counter::FallbackLost => "NW_CNT_FALLBACK_LOST",
                    Counter::ExtrasMapFull => "NW_CNT_EXTRAS_MAP_FULL",
                    Counter::ParseError => "NW_CNT_PARSE_ERROR",
                };
                (c_name, *c as i64)
            })
            .collect();
        crate::layout::check_enum(crate::CAPTURE_OBJECT, "nw_counter", &values);
    }
}
