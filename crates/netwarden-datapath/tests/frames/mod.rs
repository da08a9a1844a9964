//! Crafted frames for BPF_PROG_TEST_RUN tests: Ethernet (with VLAN tags), ARP, IPv4 (options,
//! fragments), IPv6 (extension headers), UDP, TCP, SCTP, ICMP, ICMPv6, GRE. Addresses: 10.1.0.1 ->
//! 10.1.0.2 and fd00::1 -> fd00::2, or any source with the `_from` variants.

#![allow(dead_code)]

pub const ETH_IP: u16 = 0x0800;
pub const ETH_IPV6: u16 = 0x86dd;
pub const ETH_VLAN: u16 = 0x8100;
pub const ETH_QINQ: u16 = 0x88a8;

/// Ethernet header with the given tags (TPIDs) before `ethertype`.
pub fn eth(tags: &[u16], ethertype: u16) -> Vec<u8> {
    let mut f = vec![0x02, 0, 0, 0, 0, 0xbb, 0x02, 0, 0, 0, 0, 0xaa];
    for (i, tpid) in tags.iter().enumerate() {
        f.extend_from_slice(&tpid.to_be_bytes());
        f.extend_from_slice(&(100 + i as u16).to_be_bytes());
    }
    f.extend_from_slice(&ethertype.to_be_bytes());
    f
}

/// IPv4 header (10.1.0.1 -> 10.1.0.2) with `options` bytes (a multiple of 4) and fragment offset.
pub fn ipv4(proto: u8, options: usize, frag_offset_units: u16, payload_len: usize) -> Vec<u8> {
    ipv4_from(
        [10, 1, 0, 1],
        proto,
        options,
        frag_offset_units,
        payload_len,
    )
}

/// Like [`ipv4`] from `src` (to 10.1.0.2).
pub fn ipv4_from(
    src: [u8; 4],
    proto: u8,
    options: usize,
    frag_offset_units: u16,
    payload_len: usize,
) -> Vec<u8> {
    let ihl = 5 + options / 4;
    let total = ihl * 4 + payload_len;
    let mut h = vec![0x40 | ihl as u8, 0xb8];
    h.extend_from_slice(&(total as u16).to_be_bytes());
    h.extend_from_slice(&[0, 1]);
    h.extend_from_slice(&frag_offset_units.to_be_bytes());
    h.extend_from_slice(&[64, proto, 0, 0]);
    h.extend_from_slice(&src);
    h.extend_from_slice(&[10, 1, 0, 2]);
    h.extend(std::iter::repeat_n(1u8, options)); // NOPs
    h
}

/// IPv6 header (fd00::1 -> fd00::2).
pub fn ipv6(next: u8, payload_len: usize) -> Vec<u8> {
    ipv6_from(v6(0xfd00, 1), next, payload_len)
}

/// Like [`ipv6`] from `src` (to fd00::2).
pub fn ipv6_from(src: [u8; 16], next: u8, payload_len: usize) -> Vec<u8> {
    let mut h = vec![0x60, 0, 0, 0];
    h.extend_from_slice(&(payload_len as u16).to_be_bytes());
    h.extend_from_slice(&[next, 64]);
    h.extend_from_slice(&src);
    h.extend_from_slice(&v6(0xfd00, 2));
    h
}

/// The address `<prefix>::<host>`, e.g. `v6(0xfd02, 1)` is fd02::1.
pub fn v6(prefix: u16, host: u8) -> [u8; 16] {
    let mut a = [0u8; 16];
    a[..2].copy_from_slice(&prefix.to_be_bytes());
    a[15] = host;
    a
}

pub fn udp(sport: u16, dport: u16, payload: usize) -> Vec<u8> {
    let mut h = Vec::new();
    h.extend_from_slice(&sport.to_be_bytes());
    h.extend_from_slice(&dport.to_be_bytes());
    h.extend_from_slice(&((8 + payload) as u16).to_be_bytes());
    h.extend_from_slice(&[0, 0]);
    h.extend(std::iter::repeat_n(0u8, payload));
    h
}

pub fn tcp(sport: u16, dport: u16, flags: u8) -> Vec<u8> {
    let mut h = Vec::new();
    h.extend_from_slice(&sport.to_be_bytes());
    h.extend_from_slice(&dport.to_be_bytes());
    h.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
    h
}

/// IPv6 extension header of 8 bytes announcing `next`.
pub fn ext8(next: u8) -> Vec<u8> {
    vec![next, 0, 1, 4, 0, 0, 0, 0]
}

pub fn frag6(next: u8, offset_units: u16, more: bool) -> Vec<u8> {
    let off = (offset_units << 3) | u16::from(more);
    let mut h = vec![next, 0];
    h.extend_from_slice(&off.to_be_bytes());
    h.extend_from_slice(&[0, 0, 0, 7]);
    h
}

/// IPv6 authentication header (12 bytes: its length field counts 4-byte units minus 2).
pub fn ah(next: u8) -> Vec<u8> {
    vec![next, 1, 0, 0, 0, 0, 0, 9, 0, 0, 0, 1]
}

/// SCTP common header (ports, verification tag, checksum).
pub fn sctp(sport: u16, dport: u16) -> Vec<u8> {
    let mut h = Vec::new();
    h.extend_from_slice(&sport.to_be_bytes());
    h.extend_from_slice(&dport.to_be_bytes());
    h.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0]);
    h
}

/// ICMP or ICMPv6 header (type, code, checksum, 4 bytes of rest-of-header).
pub fn icmp(icmp_type: u8, code: u8) -> Vec<u8> {
    vec![icmp_type, code, 0, 0, 0, 1, 0, 1]
}

/// ICMPv6 neighbour solicitation for fd00::2 (type 135: header and target address).
pub fn neighbour_solicitation() -> Vec<u8> {
    let mut h = vec![135, 0, 0, 0, 0, 0, 0, 0];
    h.extend_from_slice(&v6(0xfd00, 2));
    h
}

/// GRE header carrying IPv4 (no checksum, key or sequence number).
pub fn gre() -> Vec<u8> {
    vec![0, 0, 0x08, 0x00]
}

/// An ARP request (who has 10.1.0.2, tell 10.1.0.1): the payload after an 0x0806 Ethernet header.
pub fn arp() -> Vec<u8> {
    let mut h = vec![0, 1, 0x08, 0x00, 6, 4, 0, 1];
    h.extend_from_slice(&[0x02, 0, 0, 0, 0, 0xaa, 10, 1, 0, 1]);
    h.extend_from_slice(&[0, 0, 0, 0, 0, 0, 10, 1, 0, 2]);
    h
}

pub fn cat(parts: &[Vec<u8>]) -> Vec<u8> {
    parts.concat()
}

/// The first `len` bytes of `frame`: a header cut short.
pub fn cut(frame: Vec<u8>, len: usize) -> Vec<u8> {
    frame[..len].to_vec()
}
