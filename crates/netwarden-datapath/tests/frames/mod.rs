//! Crafted frames for BPF_PROG_TEST_RUN tests: Ethernet (with VLAN tags), IPv4 (options,
//! fragments), IPv6 (extension headers), UDP, TCP. Addresses: 10.1.0.1 -> 10.1.0.2, fd00::1 -> fd00::2.

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
    let ihl = 5 + options / 4;
    let total = ihl * 4 + payload_len;
    let mut h = vec![0x40 | ihl as u8, 0xb8];
    h.extend_from_slice(&(total as u16).to_be_bytes());
    h.extend_from_slice(&[0, 1]);
    h.extend_from_slice(&frag_offset_units.to_be_bytes());
    h.extend_from_slice(&[64, proto, 0, 0, 10, 1, 0, 1, 10, 1, 0, 2]);
    h.extend(std::iter::repeat_n(1u8, options)); // NOPs
    h
}

/// IPv6 header (fd00::1 -> fd00::2).
pub fn ipv6(next: u8, payload_len: usize) -> Vec<u8> {
    let mut h = vec![0x60, 0, 0, 0];
    h.extend_from_slice(&(payload_len as u16).to_be_bytes());
    h.extend_from_slice(&[next, 64]);
    let mut a = [0u8; 16];
    a[0] = 0xfd;
    a[15] = 1;
    h.extend_from_slice(&a);
    a[15] = 2;
    h.extend_from_slice(&a);
    h
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

pub fn cat(parts: &[Vec<u8>]) -> Vec<u8> {
    parts.concat()
}
