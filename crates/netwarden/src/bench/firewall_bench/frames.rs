//! Ethernet frames for the firewall bench: TCP SYNs for test runs (the program reads addresses and
//! ports only, so checksums are left zero) and a UDP datagram the receiving kernel accepts up to
//! its drop point (valid IPv4 header checksum, UDP checksum absent).

use std::net::{Ipv4Addr, Ipv6Addr};

pub type Mac = [u8; 6];

const ETH_IPV4: [u8; 2] = [0x08, 0x00];
const ETH_IPV6: [u8; 2] = [0x86, 0xdd];
const DST_MAC: Mac = [0x02, 0, 0, 0, 0, 2];
const SRC_MAC: Mac = [0x02, 0, 0, 0, 0, 1];

fn ethernet(dst: Mac, src: Mac, ethertype: [u8; 2]) -> Vec<u8> {
    let mut f = Vec::with_capacity(128);
    f.extend_from_slice(&dst);
    f.extend_from_slice(&src);
    f.extend_from_slice(&ethertype);
    f
}

fn ipv4_header(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, l4_len: usize) -> [u8; 20] {
    let total = ((20 + l4_len) as u16).to_be_bytes();
    let mut h = [
        0x45, 0, total[0], total[1], 0, 0, 0x40, 0, 64, proto, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    ];
    h[12..16].copy_from_slice(&src.octets());
    h[16..20].copy_from_slice(&dst.octets());
    let sum = checksum(&h).to_be_bytes();
    h[10..12].copy_from_slice(&sum);
    h
}

/// The Internet checksum (RFC 1071) of `bytes`.
fn checksum(bytes: &[u8]) -> u16 {
    let mut sum: u32 = bytes
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

fn tcp_syn(dport: u16) -> [u8; 20] {
    let d = dport.to_be_bytes();
    [
        0x9c, 0x41, d[0], d[1], 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0xff, 0xff, 0, 0, 0, 0,
    ]
}

/// A TCP SYN from `src` to 192.168.0.1 port `dport`.
pub fn tcp4(src: Ipv4Addr, dport: u16) -> Vec<u8> {
    let mut f = ethernet(DST_MAC, SRC_MAC, ETH_IPV4);
    f.extend_from_slice(&ipv4_header(src, Ipv4Addr::new(192, 168, 0, 1), 6, 20));
    f.extend_from_slice(&tcp_syn(dport));
    f
}

/// A TCP SYN from `src` to fd00::1 port `dport`, behind a hop-by-hop and a destination-options
/// header (8 bytes each, PadN only) when `extension_headers`.
pub fn tcp6(src: Ipv6Addr, dport: u16, extension_headers: bool) -> Vec<u8> {
    const HOPOPTS: u8 = 0;
    const DSTOPTS: u8 = 60;
    const TCP: u8 = 6;
    let ext: &[u8] = if extension_headers {
        &[DSTOPTS, 0, 1, 4, 0, 0, 0, 0, TCP, 0, 1, 4, 0, 0, 0, 0]
    } else {
        &[]
    };
    let payload = ((ext.len() + 20) as u16).to_be_bytes();
    let next = if extension_headers { HOPOPTS } else { TCP };
    let mut f = ethernet(DST_MAC, SRC_MAC, ETH_IPV6);
    f.extend_from_slice(&[0x60, 0, 0, 0, payload[0], payload[1], next, 64]);
    f.extend_from_slice(&src.octets());
    f.extend_from_slice(&Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 1).octets());
    f.extend_from_slice(ext);
    f.extend_from_slice(&tcp_syn(dport));
    f
}

/// A UDP datagram of `payload` zero bytes from `src`:40000 to `dst`:`dport`, addressed `src_mac`
/// to `dst_mac`.
pub fn udp4(
    (src_mac, dst_mac): (Mac, Mac),
    src: Ipv4Addr,
    dst: Ipv4Addr,
    dport: u16,
    payload: usize,
) -> Vec<u8> {
    let len = ((8 + payload) as u16).to_be_bytes();
    let d = dport.to_be_bytes();
    let mut f = ethernet(dst_mac, src_mac, ETH_IPV4);
    f.extend_from_slice(&ipv4_header(src, dst, 17, 8 + payload));
    // Source port 40000; checksum 0 (none, allowed over IPv4).
    f.extend_from_slice(&[0x9c, 0x40, d[0], d[1], len[0], len[1], 0, 0]);
    f.resize(f.len() + payload, 0);
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_header_checksums_to_zero() {
        let f = udp4(
            ([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]),
            Ipv4Addr::new(192, 168, 95, 1),
            Ipv4Addr::new(192, 168, 95, 2),
            9000,
            18,
        );
        assert_eq!(f.len(), 14 + 20 + 8 + 18);
        assert_eq!(checksum(&f[14..34]), 0);
        assert_eq!(&f[36..38], &9000u16.to_be_bytes());
    }

    #[test]
    fn ipv6_extension_headers_chain_to_tcp() {
        let f = tcp6("fd00:95::7".parse().unwrap(), 1100, true);
        assert_eq!(f.len(), 14 + 40 + 16 + 20);
        assert_eq!(f[14 + 6], 0, "hop-by-hop first");
        assert_eq!(f[54], 60, "then destination options");
        assert_eq!(f[62], 6, "then TCP");
        assert_eq!(&f[72..74], &1100u16.to_be_bytes());
        assert_eq!(tcp6("fd00:95::7".parse().unwrap(), 1100, false)[20], 6);
        assert_eq!(&tcp4(Ipv4Addr::new(10, 0, 0, 1), 80)[36..38], &[0, 80]);
    }
}
