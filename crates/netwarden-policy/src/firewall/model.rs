//! The IngressNodeFirewall object (`ingressnodefirewall.openshift.io/v1alpha1`), typed and
//! normalised: CIDRs parsed with host bits cleared, ports as inclusive ranges, ICMP type/code as
//! numbers. [`crate::firewall::load_yaml`] builds these from YAML; the compiler reads them.

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::compiled::proto;
pub use super::compiled::Action;

/// One IngressNodeFirewall object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngressNodeFirewall {
    /// `metadata.name`.
    pub name: String,
    /// Where the object was read from (the file name given to the loader), for messages.
    pub source: String,
    /// `spec.nodeSelector`; the empty selector matches every node.
    pub node_selector: LabelSelector,
    /// `spec.interfaces`: the interfaces the rules apply on.
    pub interfaces: Vec<String>,
    /// `spec.ingress`.
    pub ingress: Vec<IngressEntry>,
}

impl IngressNodeFirewall {
    /// How messages name the object, e.g. `IngressNodeFirewall fw-1`.
    pub fn label(&self) -> String {
        if self.name.is_empty() {
            "IngressNodeFirewall (unnamed)".to_string()
        } else {
            format!("IngressNodeFirewall {}", self.name)
        }
    }
}

/// A Kubernetes LabelSelector: every `match_labels` pair and every expression must hold.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LabelSelector {
    /// `matchLabels`: each label must be present with exactly this value.
    pub match_labels: BTreeMap<String, String>,
    /// `matchExpressions`: each must hold.
    pub match_expressions: Vec<SelectorRequirement>,
}

/// One `matchExpressions` item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelectorRequirement {
    /// The label key.
    pub key: String,
    /// How the label's value is compared with `values`.
    pub operator: SelectorOperator,
    /// Non-empty for `In`/`NotIn`, empty for `Exists`/`DoesNotExist`.
    pub values: Vec<String>,
}

/// A `matchExpressions` operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SelectorOperator {
    /// The label is present with one of the values.
    In,
    /// The label is absent, or present with none of the values.
    NotIn,
    /// The label is present.
    Exists,
    /// The label is absent.
    DoesNotExist,
}

impl SelectorOperator {
    /// The operator as written in YAML.
    pub fn name(self) -> &'static str {
        match self {
            SelectorOperator::In => "In",
            SelectorOperator::NotIn => "NotIn",
            SelectorOperator::Exists => "Exists",
            SelectorOperator::DoesNotExist => "DoesNotExist",
        }
    }

    /// Parses an operator name (exact case, as Kubernetes does).
    pub fn parse(text: &str) -> Option<SelectorOperator> {
        [
            SelectorOperator::In,
            SelectorOperator::NotIn,
            SelectorOperator::Exists,
            SelectorOperator::DoesNotExist,
        ]
        .into_iter()
        .find(|op| op.name() == text)
    }
}

/// One `spec.ingress` item: its rules apply to packets from any of its CIDRs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngressEntry {
    /// `sourceCIDRs`: the packet's source must be in one of them.
    pub source_cidrs: Vec<Cidr>,
    /// `rules`, as written (the compiler orders them).
    pub rules: Vec<Rule>,
}

/// One rule of an entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// Lower orders are tried first; see [`crate::firewall::validate`] for the accepted range.
    pub order: u32,
    /// `protocolConfig`.
    pub protocol: ProtocolMatch,
    /// What a matching packet gets.
    pub action: Action,
}

/// What a rule's `protocolConfig` matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProtocolMatch {
    /// `protocol` omitted: every protocol, every port.
    Any,
    /// TCP, with a destination port range or every port (`None`).
    Tcp(Option<PortRange>),
    /// UDP, with a destination port range or every port.
    Udp(Option<PortRange>),
    /// SCTP, with a destination port range or every port.
    Sctp(Option<PortRange>),
    /// ICMP (IPv4 only), with a type/code or every type (`None`).
    Icmp(Option<IcmpMatch>),
    /// ICMPv6 (IPv6 only).
    Icmpv6(Option<IcmpMatch>),
}

impl ProtocolMatch {
    /// The IP protocol number, `None` for every protocol.
    pub fn number(self) -> Option<u8> {
        match self {
            ProtocolMatch::Any => None,
            ProtocolMatch::Tcp(_) => Some(proto::TCP),
            ProtocolMatch::Udp(_) => Some(proto::UDP),
            ProtocolMatch::Sctp(_) => Some(proto::SCTP),
            ProtocolMatch::Icmp(_) => Some(proto::ICMP),
            ProtocolMatch::Icmpv6(_) => Some(proto::ICMPV6),
        }
    }

    /// The protocol as written in YAML (`TCP`, `ICMPv6`, ...), `None` for every protocol.
    pub fn name(self) -> Option<&'static str> {
        self.number().map(protocol_name)
    }

    /// The selectors matched, as an inclusive range of the table domain (destination port, or
    /// `type << 8 | code`); `None` when the rule matches the whole protocol.
    pub fn selector_range(self) -> Option<(u16, u16)> {
        match self {
            ProtocolMatch::Any => None,
            ProtocolMatch::Tcp(p) | ProtocolMatch::Udp(p) | ProtocolMatch::Sctp(p) => {
                p.map(|p| (p.first, p.last))
            }
            ProtocolMatch::Icmp(i) | ProtocolMatch::Icmpv6(i) => i.map(IcmpMatch::selector_range),
        }
    }

    /// The selector as shown to users: `80`, `100-200`, `3/1`, `8/*`; `None` for all.
    pub fn selector_text(self) -> Option<String> {
        match self {
            ProtocolMatch::Any => None,
            ProtocolMatch::Tcp(p) | ProtocolMatch::Udp(p) | ProtocolMatch::Sctp(p) => {
                p.map(|p| p.to_string())
            }
            ProtocolMatch::Icmp(i) | ProtocolMatch::Icmpv6(i) => i.map(|i| i.to_string()),
        }
    }

    /// Whether the rule can match packets of this address family at all (ICMP is IPv4's,
    /// ICMPv6 is IPv6's).
    pub fn fits_family(self, ipv4: bool) -> bool {
        match self {
            ProtocolMatch::Icmp(_) => ipv4,
            ProtocolMatch::Icmpv6(_) => !ipv4,
            _ => true,
        }
    }
}

/// The name of a protocol number with its own table (`TCP`, ...), or the number itself.
pub fn protocol_name(number: u8) -> &'static str {
    match number {
        proto::TCP => "TCP",
        proto::UDP => "UDP",
        proto::SCTP => "SCTP",
        proto::ICMP => "ICMP",
        proto::ICMPV6 => "ICMPv6",
        _ => "other",
    }
}

/// An inclusive destination port range; a single port has `first == last`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct PortRange {
    /// First port, inclusive.
    pub first: u16,
    /// Last port, inclusive.
    pub last: u16,
}

impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.first == self.last {
            write!(f, "{}", self.first)
        } else {
            write!(f, "{}-{}", self.first, self.last)
        }
    }
}

/// An ICMP/ICMPv6 type and optionally a code (`None`: every code of the type).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IcmpMatch {
    /// `icmpType`.
    pub icmp_type: u8,
    /// `icmpCode`; `None` matches every code.
    pub icmp_code: Option<u8>,
}

impl IcmpMatch {
    /// The selectors (`type << 8 | code`) this matches, inclusive.
    pub fn selector_range(self) -> (u16, u16) {
        let base = u16::from(self.icmp_type) << 8;
        match self.icmp_code {
            Some(code) => (base | u16::from(code), base | u16::from(code)),
            None => (base, base | 0xff),
        }
    }
}

impl fmt::Display for IcmpMatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.icmp_code {
            Some(code) => write!(f, "{}/{}", self.icmp_type, code),
            None => write!(f, "{}/*", self.icmp_type),
        }
    }
}

/// A source CIDR, normalised: `addr` has its host bits cleared. `written` keeps the text as the
/// user wrote it, for messages. Displays as the normalised form, e.g. `1.1.1.0/24`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cidr {
    /// The network address (host bits cleared).
    pub addr: IpAddr,
    /// Prefix length: 0-32 for IPv4, 0-128 for IPv6.
    pub prefix_len: u8,
    /// The text as written, e.g. `1.1.1.1/24`.
    pub written: String,
}

/// Why a CIDR did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CidrError {
    /// A bare address: no `/len`.
    #[error("a CIDR needs a prefix length, e.g. 10.0.0.0/8 or 10.1.2.3/32")]
    MissingPrefixLength,
    /// The part before `/` is not an address.
    #[error("{0:?} is not an IPv4 or IPv6 address")]
    BadAddress(String),
    /// The part after `/` is not a number.
    #[error("prefix length {0:?} is not a number")]
    BadPrefixLength(String),
    /// The prefix length is longer than the family's addresses.
    #[error("prefix length {len} is out of range 0-{max} for {family}")]
    PrefixTooLong {
        /// As written.
        len: u32,
        /// 32 or 128.
        max: u8,
        /// `IPv4` or `IPv6`.
        family: &'static str,
    },
}

impl Cidr {
    /// Parses `addr/len`, clearing host bits (`1.1.1.1/24` is `1.1.1.0/24`). A bare address is an
    /// error: writing `/32` or `/128` says the narrow match is meant.
    pub fn parse(text: &str) -> Result<Cidr, CidrError> {
        let trimmed = text.trim();
        let (addr, len) = trimmed
            .split_once('/')
            .ok_or(CidrError::MissingPrefixLength)?;
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| CidrError::BadAddress(addr.to_string()))?;
        if len.is_empty() || !len.bytes().all(|b| b.is_ascii_digit()) {
            return Err(CidrError::BadPrefixLength(len.to_string()));
        }
        let max = family_bits(addr);
        let len: u32 = len.parse().unwrap_or(u32::MAX);
        if len > u32::from(max) {
            return Err(CidrError::PrefixTooLong {
                len,
                max,
                family: if addr.is_ipv4() { "IPv4" } else { "IPv6" },
            });
        }
        // `len <= max <= 128` was just checked.
        let prefix_len = len as u8;
        Ok(Cidr {
            addr: mask(addr, prefix_len),
            prefix_len,
            written: text.to_string(),
        })
    }

    /// Whether this is an IPv4 prefix.
    pub fn is_ipv4(&self) -> bool {
        self.addr.is_ipv4()
    }

    /// Whether the written address had bits set beyond the prefix length.
    pub fn had_host_bits(&self) -> bool {
        self.written
            .trim()
            .split_once('/')
            .and_then(|(a, _)| a.parse::<IpAddr>().ok())
            .is_some_and(|a| a != self.addr)
    }

    /// Whether `ip` (of the same family) is inside this prefix.
    pub fn contains(&self, ip: IpAddr) -> bool {
        ip.is_ipv4() == self.is_ipv4() && mask(ip, self.prefix_len) == self.addr
    }

    /// Whether every address of `other` (of the same family) is inside this prefix.
    pub fn contains_cidr(&self, other: &Cidr) -> bool {
        other.prefix_len >= self.prefix_len && self.contains(other.addr)
    }

    /// The identity of the prefix, ignoring how it was written.
    pub fn key(&self) -> (IpAddr, u8) {
        (self.addr, self.prefix_len)
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix_len)
    }
}

/// Address bits of the family: 32 or 128.
pub fn family_bits(addr: IpAddr) -> u8 {
    if addr.is_ipv4() {
        32
    } else {
        128
    }
}

/// `addr` with every bit past `prefix_len` cleared.
pub fn mask(addr: IpAddr, prefix_len: u8) -> IpAddr {
    match addr {
        IpAddr::V4(a) => {
            let bits = u32::from(a);
            let kept = u32::MAX
                .checked_shl(32 - u32::from(prefix_len.min(32)))
                .unwrap_or(0);
            IpAddr::V4(Ipv4Addr::from(bits & kept))
        }
        IpAddr::V6(a) => {
            let bits = u128::from(a);
            let kept = u128::MAX
                .checked_shl(128 - u32::from(prefix_len.min(128)))
                .unwrap_or(0);
            IpAddr::V6(Ipv6Addr::from(bits & kept))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidrs_parse_and_normalise() {
        let cases: &[(&str, Result<&str, CidrError>)] = &[
            ("1.1.1.1/24", Ok("1.1.1.0/24")),
            ("10.0.0.0/8", Ok("10.0.0.0/8")),
            ("0.0.0.0/0", Ok("0.0.0.0/0")),
            ("9.9.9.9/32", Ok("9.9.9.9/32")),
            ("100:1::1/64", Ok("100:1::/64")),
            ("0::0/0", Ok("::/0")),
            ("::1/128", Ok("::1/128")),
            ("1.1.1.1", Err(CidrError::MissingPrefixLength)),
            ("1.1.1/24", Err(CidrError::BadAddress("1.1.1".into()))),
            ("1.1.1.1/", Err(CidrError::BadPrefixLength("".into()))),
            ("1.1.1.1/-1", Err(CidrError::BadPrefixLength("-1".into()))),
            (
                "1.1.1.1/33",
                Err(CidrError::PrefixTooLong {
                    len: 33,
                    max: 32,
                    family: "IPv4",
                }),
            ),
            (
                "::/129",
                Err(CidrError::PrefixTooLong {
                    len: 129,
                    max: 128,
                    family: "IPv6",
                }),
            ),
        ];
        for (text, want) in cases {
            let got = Cidr::parse(text).map(|c| c.to_string());
            assert_eq!(got, want.clone().map(str::to_string), "{text}");
        }
    }

    #[test]
    fn host_bits_and_containment() {
        let wide = Cidr::parse("10.0.0.0/8").expect("valid");
        let narrow = Cidr::parse("10.1.2.3/24").expect("valid");
        assert!(!wide.had_host_bits());
        assert!(narrow.had_host_bits());
        assert!(wide.contains_cidr(&narrow));
        assert!(!narrow.contains_cidr(&wide));
        assert!(wide.contains("10.255.0.1".parse().expect("ip")));
        assert!(!wide.contains("11.0.0.1".parse().expect("ip")));
        assert!(!wide.contains("::a00:1".parse().expect("ip")));
        let all6 = Cidr::parse("::/0").expect("valid");
        assert!(all6.contains("2001:db8::1".parse().expect("ip")));
        assert!(!all6.contains("1.2.3.4".parse().expect("ip")));
    }

    #[test]
    fn icmp_selector_ranges() {
        let type_only = IcmpMatch {
            icmp_type: 3,
            icmp_code: None,
        };
        let with_code = IcmpMatch {
            icmp_type: 3,
            icmp_code: Some(1),
        };
        assert_eq!(type_only.selector_range(), (0x300, 0x3ff));
        assert_eq!(with_code.selector_range(), (0x301, 0x301));
        assert_eq!(type_only.to_string(), "3/*");
        assert_eq!(with_code.to_string(), "3/1");
    }
}
