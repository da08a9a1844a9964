//! The node's side of the pod network: which subnets the pods are in and which address of each the
//! node's bridge takes as the pods' gateway. Pure: no system is touched here.

use crate::spec::LabSpec;
use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// An address prefix (`10.244.1.0/24`), always stored with its host bits cleared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Cidr {
    network: IpAddr,
    prefix_len: u8,
}

impl Cidr {
    /// The prefix of length `prefix_len` containing `ip` (lengths past the family's are clamped).
    pub fn new(ip: IpAddr, prefix_len: u8) -> Self {
        let width = width(ip);
        let prefix_len = prefix_len.min(width);
        let network = from_bits(ip, to_bits(ip) & mask(prefix_len, width));
        Self {
            network,
            prefix_len,
        }
    }

    /// The subnet the lab puts a pod with address `ip` in: the /24 (IPv4) or /64 (IPv6) around it,
    /// the usual per-node pod CIDR sizes.
    pub fn pod_subnet(ip: IpAddr) -> Self {
        Self::new(ip, if ip.is_ipv4() { 24 } else { 64 })
    }

    pub fn network(&self) -> IpAddr {
        self.network
    }

    pub fn prefix_len(&self) -> u8 {
        self.prefix_len
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        ip.is_ipv4() == self.network.is_ipv4() && Self::new(ip, self.prefix_len) == *self
    }

    /// Whether the two prefixes share an address.
    pub fn overlaps(&self, other: &Cidr) -> bool {
        let shorter = self.prefix_len.min(other.prefix_len);
        self.network.is_ipv4() == other.network.is_ipv4()
            && Self::new(self.network, shorter) == Self::new(other.network, shorter)
    }

    /// The address `offset` places into the prefix (`None` past its end).
    fn host(&self, offset: u128) -> Option<IpAddr> {
        let span_bits = width(self.network) - self.prefix_len;
        if span_bits < 128 && offset >> span_bits != 0 {
            return None;
        }
        Some(from_bits(self.network, to_bits(self.network) | offset))
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix_len)
    }
}

impl FromStr for Cidr {
    type Err = String;

    /// `ADDR/LEN`, or a bare address (a host prefix). Host bits are cleared.
    fn from_str(s: &str) -> Result<Self, String> {
        let (addr, len) = match s.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (s, None),
        };
        let ip: IpAddr = addr
            .parse()
            .map_err(|_| format!("{s:?}: not an address prefix"))?;
        let len = match len {
            Some(l) => l
                .parse::<u8>()
                .ok()
                .filter(|l| *l <= width(ip))
                .ok_or_else(|| format!("{s:?}: bad prefix length"))?,
            None => width(ip),
        };
        Ok(Self::new(ip, len))
    }
}

impl serde::Serialize for Cidr {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Cidr {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// The node's address in one pod subnet.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Gateway {
    pub subnet: Cidr,
    pub address: IpAddr,
    /// The pod that has the usual gateway address (.1, ::1), when one does, which moved the
    /// gateway to the first free address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usual_address_taken_by: Option<String>,
}

impl Gateway {
    /// `address/len`, as `ip addr add` takes it.
    pub fn address_cidr(&self) -> String {
        format!("{}/{}", self.address, self.subnet.prefix_len())
    }
}

/// A subnet with no address left for the node.
#[derive(Debug, thiserror::Error)]
#[error("subnet {0}: every host address is used by a pod, none is left for the node")]
pub struct SubnetFull(pub Cidr);

/// One gateway per subnet holding a pod-network pod, IPv4 first, then by address. The gateway is
/// the subnet's first host address (.1, ::1) unless a pod has it, else the next free one.
pub fn gateways(spec: &LabSpec) -> Result<Vec<Gateway>, SubnetFull> {
    let mut used: BTreeMap<Cidr, BTreeMap<IpAddr, String>> = BTreeMap::new();
    for pod in spec.pods.iter().filter(|p| !p.host_network) {
        for ip in &pod.ips {
            used.entry(Cidr::pod_subnet(*ip))
                .or_default()
                .insert(*ip, pod.key());
        }
    }
    let mut out = Vec::with_capacity(used.len());
    for (subnet, taken) in used {
        // The last IPv4 address is the broadcast address; for IPv6 a bound keeps the search short
        // (a /64 cannot be full of pods).
        let last = if subnet.network().is_ipv4() {
            254
        } else {
            65535
        };
        let address = (1..=last)
            .filter_map(|offset| subnet.host(offset))
            .find(|ip| !taken.contains_key(ip))
            .ok_or(SubnetFull(subnet))?;
        let usual = subnet.host(1).and_then(|ip| taken.get(&ip)).cloned();
        out.push(Gateway {
            subnet,
            address,
            usual_address_taken_by: usual,
        });
    }
    Ok(out)
}

fn width(ip: IpAddr) -> u8 {
    if ip.is_ipv4() {
        32
    } else {
        128
    }
}

fn mask(prefix_len: u8, width: u8) -> u128 {
    let all = if width == 32 {
        u32::MAX as u128
    } else {
        u128::MAX
    };
    all & !all.checked_shr(prefix_len.into()).unwrap_or(0)
}

fn to_bits(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u32::from(v4) as u128,
        IpAddr::V6(v6) => u128::from(v6),
    }
}

fn from_bits(family: IpAddr, bits: u128) -> IpAddr {
    match family {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::from(bits as u32)),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::from(bits)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn cidr(s: &str) -> Cidr {
        s.parse().unwrap()
    }

    #[test]
    fn prefixes() {
        let cases = [
            ("10.244.1.77", 24, "10.244.1.0/24"),
            ("10.244.1.77", 0, "0.0.0.0/0"),
            ("10.244.1.77", 40, "10.244.1.77/32"),
            ("fd00:10:244:1::a", 64, "fd00:10:244:1::/64"),
            ("fd00:10:244:1:ffff::a", 48, "fd00:10:244::/48"),
            ("::1", 128, "::1/128"),
        ];
        for (addr, len, want) in cases {
            assert_eq!(Cidr::new(ip(addr), len).to_string(), want);
        }
        assert_eq!(cidr("10.1.2.3").to_string(), "10.1.2.3/32");
        assert_eq!(cidr("10.1.2.3/16").to_string(), "10.1.0.0/16");
        assert!(cidr("10.1.0.0/16").contains(ip("10.1.200.1")));
        assert!(!cidr("10.1.0.0/16").contains(ip("10.2.0.1")));
        assert!(!cidr("::/0").contains(ip("10.2.0.1")));
        assert!(cidr("10.0.0.0/8").overlaps(&cidr("10.244.1.0/24")));
        assert!(cidr("10.244.1.0/24").overlaps(&cidr("10.0.0.0/8")));
        assert!(!cidr("10.244.1.0/24").overlaps(&cidr("10.244.2.0/24")));
        assert!(!cidr("0.0.0.0/0").overlaps(&cidr("::/0")));
        assert!("10.0.0.0/33".parse::<Cidr>().is_err());
        assert!("x/3".parse::<Cidr>().is_err());
    }

    #[test]
    fn gateway_choice() {
        let spec = |pods: &[(&str, &[&str])]| {
            let mut text = String::new();
            for (name, ips) in pods {
                let ips: Vec<String> = ips.iter().map(|i| format!("{{ip: '{i}'}}")).collect();
                text.push_str(&format!(
                    "kind: Pod\nmetadata: {{name: {name}}}\nstatus: {{podIPs: [{}]}}\n---\n",
                    ips.join(", ")
                ));
            }
            LabSpec::from_yaml(&text).unwrap()
        };
        let got = gateways(&spec(&[
            ("a", &["10.244.2.5", "fd00:10:244:2::5"]),
            ("b", &["10.244.1.1", "fd00:10:244:1::1"]),
            ("c", &["10.244.1.2"]),
            ("d", &["10.244.2.6"]),
        ]))
        .unwrap();
        let summary: Vec<_> = got
            .iter()
            .map(|g| {
                (
                    g.subnet.to_string(),
                    g.address_cidr(),
                    g.usual_address_taken_by.clone(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                (
                    "10.244.1.0/24".into(),
                    "10.244.1.3/24".into(),
                    Some("default/b".into())
                ),
                ("10.244.2.0/24".into(), "10.244.2.1/24".into(), None),
                (
                    "fd00:10:244:1::/64".into(),
                    "fd00:10:244:1::2/64".into(),
                    Some("default/b".into())
                ),
                (
                    "fd00:10:244:2::/64".to_string(),
                    "fd00:10:244:2::1/64".to_string(),
                    None
                ),
            ]
        );
    }

    #[test]
    fn a_full_subnet_is_an_error() {
        let mut text = String::new();
        for host in 1..=254 {
            text.push_str(&format!(
                "kind: Pod\nmetadata: {{name: p{host}}}\nstatus: {{podIP: 10.9.9.{host}}}\n---\n"
            ));
        }
        let err = gateways(&LabSpec::from_yaml(&text).unwrap()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "subnet 10.9.9.0/24: every host address is used by a pod, none is left for the node"
        );
    }
}
