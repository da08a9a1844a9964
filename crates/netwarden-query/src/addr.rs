//! Addresses as order-preserving 128-bit keys, so that a CIDR block is one `BETWEEN` range.
//!
//! An address becomes its IPv6 form (IPv4 `a.b.c.d` as the IPv4-mapped `::ffff:a.b.c.d`), read as
//! a big-endian `u128`: DuckDB's UHUGEINT compares in that order and holds every address
//! (its signed HUGEINT cannot hold `i128::MIN`).

use std::net::{IpAddr, Ipv6Addr};

/// The key of an address field (a UHUGEINT column).
pub fn addr_key(addr: IpAddr) -> u128 {
    let v6 = match addr {
        IpAddr::V4(v4) => v4.to_ipv6_mapped(),
        IpAddr::V6(v6) => v6,
    };
    u128::from(v6)
}

/// The address of a key: IPv4-mapped keys are IPv4 addresses.
pub fn key_addr(key: u128) -> IpAddr {
    let v6 = Ipv6Addr::from(key);
    match v6.to_ipv4_mapped() {
        Some(v4) => IpAddr::V4(v4),
        None => IpAddr::V6(v6),
    }
}

/// An inclusive range of address keys: one address or a CIDR block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddrRange {
    /// Key of the first address of the range.
    pub first: u128,
    /// Key of the last address, inclusive.
    pub last: u128,
    /// The canonical text: `10.0.0.0/8`, `fd00::1`.
    pub text: String,
}

impl AddrRange {
    /// Whether the range is a single address.
    pub fn is_single(&self) -> bool {
        self.first == self.last
    }
}

/// Parses `10.0.0.1`, `10.0.0.0/8`, `fd00::/8`. Host bits set below the prefix are cleared
/// (`10.1.2.3/8` is `10.0.0.0/8`), as routers do. An IPv4 block covers only the IPv4 (mapped)
/// addresses: `0.0.0.0/0` is "every IPv4 address", `::/0` every address.
pub fn parse_addr_range(text: &str) -> Result<AddrRange, String> {
    let (addr_text, prefix) = match text.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (text, None),
    };
    let addr: IpAddr = addr_text
        .parse()
        .map_err(|_| format!("{addr_text:?} is not an IPv4 or IPv6 address"))?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let len = match prefix {
        None => max,
        Some(p) => {
            let len: u32 = p
                .parse()
                .ok()
                .filter(|_| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
                .ok_or_else(|| format!("prefix length {p:?} is not a number"))?;
            if len > max {
                return Err(format!("prefix length {len} is longer than {max}"));
            }
            len
        }
    };
    let bits = match addr {
        IpAddr::V4(v4) => u128::from(v4.to_ipv6_mapped()),
        IpAddr::V6(v6) => u128::from(v6),
    };
    let len128 = 128 - max + len;
    // Bits below the prefix; a full-length prefix (shift by 128) leaves none.
    let host_mask = u128::MAX.checked_shr(len128).unwrap_or(0);
    let first = bits & !host_mask;
    let last = first | host_mask;
    let text = match (addr, prefix) {
        (_, None) => addr.to_string(),
        (IpAddr::V4(_), Some(_)) => {
            let v4 = Ipv6Addr::from(first).to_ipv4_mapped().expect("mapped");
            format!("{v4}/{len}")
        }
        (IpAddr::V6(_), Some(_)) => format!("{}/{len}", Ipv6Addr::from(first)),
    };
    Ok(AddrRange { first, last, text })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(s: &str) -> u128 {
        addr_key(s.parse().unwrap())
    }

    #[test]
    fn keys_preserve_order_and_map_ipv4() {
        assert_eq!(key("::"), 0);
        assert_eq!(key("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"), u128::MAX);
        assert_eq!(key("::8000:0:0:0"), key("::") + (1u128 << 63));
        for a in ["10.0.0.1", "::", "fd00::1", "::ffff:0.0.0.0"] {
            let ip: IpAddr = a.parse().unwrap();
            let back = key_addr(addr_key(ip));
            assert_eq!(back.to_string(), a.replace("::ffff:", ""), "{a}");
        }
        assert_eq!(key("10.0.0.1"), key("::ffff:10.0.0.1"));
        let ordered = [
            "::",
            "::1",
            "::ffff:0.0.0.0",
            "10.0.0.1",
            "10.0.0.2",
            "255.255.255.255",
            "fd00::1",
            "ff02::1",
        ];
        for w in ordered.windows(2) {
            assert!(key(w[0]) < key(w[1]), "{} < {}", w[0], w[1]);
        }
    }

    #[test]
    fn cidr_bounds() {
        let cases: &[(&str, &str, &str, &str)] = &[
            ("0.0.0.0/0", "0.0.0.0", "255.255.255.255", "0.0.0.0/0"),
            ("10.0.0.0/8", "10.0.0.0", "10.255.255.255", "10.0.0.0/8"),
            ("10.1.2.3/8", "10.0.0.0", "10.255.255.255", "10.0.0.0/8"),
            (
                "192.168.1.7/32",
                "192.168.1.7",
                "192.168.1.7",
                "192.168.1.7/32",
            ),
            ("192.168.1.7", "192.168.1.7", "192.168.1.7", "192.168.1.7"),
            (
                "172.16.0.0/12",
                "172.16.0.0",
                "172.31.255.255",
                "172.16.0.0/12",
            ),
            (
                "::/0",
                "::",
                "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
                "::/0",
            ),
            (
                "fd00::/8",
                "fd00::",
                "fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
                "fd00::/8",
            ),
            (
                "2001:db8::1/128",
                "2001:db8::1",
                "2001:db8::1",
                "2001:db8::1/128",
            ),
            (
                "2001:db8:abcd::/48",
                "2001:db8:abcd::",
                "2001:db8:abcd:ffff:ffff:ffff:ffff:ffff",
                "2001:db8:abcd::/48",
            ),
            ("fe80::1", "fe80::1", "fe80::1", "fe80::1"),
        ];
        for (input, first, last, text) in cases {
            let r = parse_addr_range(input).unwrap();
            assert_eq!(r.first, key(first), "{input} first");
            assert_eq!(r.last, key(last), "{input} last");
            assert_eq!(r.text, *text, "{input} text");
        }
        assert_eq!(parse_addr_range("::/0").unwrap().first, 0);
        assert_eq!(parse_addr_range("::/0").unwrap().last, u128::MAX);
        assert!(parse_addr_range("10.0.0.1").unwrap().is_single());
        assert!(!parse_addr_range("10.0.0.0/31").unwrap().is_single());
    }

    #[test]
    fn bad_addresses() {
        let cases = [
            ("10.0.0.0/33", "prefix length 33 is longer than 32"),
            ("fd00::/129", "prefix length 129 is longer than 128"),
            ("10.0.0/8", "\"10.0.0\" is not an IPv4 or IPv6 address"),
            ("10.0.0.0/", "prefix length \"\" is not a number"),
            ("10.0.0.0/+8", "prefix length \"+8\" is not a number"),
            ("10.0.0.0/8/8", "prefix length \"8/8\" is not a number"),
            ("iperf", "\"iperf\" is not an IPv4 or IPv6 address"),
        ];
        for (input, err) in cases {
            assert_eq!(parse_addr_range(input).unwrap_err(), err, "{input}");
        }
    }
}
