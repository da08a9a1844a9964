//! Protected services (fail-safe): ports that a Deny rule must not close, so that a bad rule set
//! cannot cut the node off from SSH, the API server, etcd, the kubelet or DHCP.

use std::fmt;

use super::compiled::proto;

/// A destination port range of one protocol that stays open whatever Deny rules say.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProtectedService {
    /// `proto::TCP`, `proto::UDP` or `proto::SCTP`.
    pub protocol: u8,
    /// First port, inclusive.
    pub first: u16,
    /// Last port, inclusive.
    pub last: u16,
}

/// Why a protected-service list did not parse. Every variant names the offending item.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtectedServiceError {
    /// No `:` between protocol and ports.
    #[error("protected service {0:?}: expected PROTOCOL:PORT or PROTOCOL:FIRST-LAST, e.g. tcp:22")]
    MissingColon(String),
    /// An empty item.
    #[error("protected service {0:?}: empty item (two commas in a row, or a trailing comma?)")]
    Empty(String),
    /// Not tcp, udp or sctp.
    #[error(
        "protected service {item:?}: unknown protocol {protocol:?} (expected tcp, udp or sctp)"
    )]
    UnknownProtocol {
        /// The whole item.
        item: String,
        /// The protocol as written.
        protocol: String,
    },
    /// The ports are not a port or a range of ports.
    #[error("protected service {item:?}: {reason}")]
    BadPorts {
        /// The whole item.
        item: String,
        /// What is wrong with the ports.
        reason: String,
    },
}

impl ProtectedService {
    /// TCP 22 (SSH), 6443 (API server), 2379-2380 (etcd), 10250 (kubelet), 10257
    /// (controller-manager), 10259 (scheduler); UDP 67-68 (DHCP), 546-547 (DHCPv6).
    pub fn defaults() -> Vec<ProtectedService> {
        let tcp = |first, last| ProtectedService {
            protocol: proto::TCP,
            first,
            last,
        };
        let udp = |first, last| ProtectedService {
            protocol: proto::UDP,
            first,
            last,
        };
        vec![
            tcp(22, 22),
            tcp(6443, 6443),
            tcp(2379, 2380),
            tcp(10250, 10250),
            tcp(10257, 10257),
            tcp(10259, 10259),
            udp(67, 68),
            udp(546, 547),
        ]
    }

    /// Parses a comma-separated list such as `tcp:22,tcp:2379-2380,udp:67-68` (protocol names in
    /// any case, spaces around items allowed). The empty string is the empty list: nothing
    /// protected.
    pub fn parse_list(text: &str) -> Result<Vec<ProtectedService>, ProtectedServiceError> {
        if text.trim().is_empty() {
            return Ok(Vec::new());
        }
        text.split(',')
            .map(|item| Self::parse(item.trim()))
            .collect()
    }

    /// Parses one `protocol:port` or `protocol:first-last` item.
    pub fn parse(item: &str) -> Result<ProtectedService, ProtectedServiceError> {
        if item.is_empty() {
            return Err(ProtectedServiceError::Empty(item.to_string()));
        }
        let (name, ports) = item
            .split_once(':')
            .ok_or_else(|| ProtectedServiceError::MissingColon(item.to_string()))?;
        let protocol = match name.trim().to_ascii_lowercase().as_str() {
            "tcp" => proto::TCP,
            "udp" => proto::UDP,
            "sctp" => proto::SCTP,
            _ => {
                return Err(ProtectedServiceError::UnknownProtocol {
                    item: item.to_string(),
                    protocol: name.to_string(),
                })
            }
        };
        let (first, last) = super::validate::parse_port_range(ports.trim()).map_err(|reason| {
            ProtectedServiceError::BadPorts {
                item: item.to_string(),
                reason,
            }
        })?;
        Ok(ProtectedService {
            protocol,
            first,
            last,
        })
    }

    /// Whether `port` of `protocol` is protected by this service.
    pub fn covers(&self, protocol: u8, port: u16) -> bool {
        self.protocol == protocol && (self.first..=self.last).contains(&port)
    }
}

impl fmt::Display for ProtectedService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = super::model::protocol_name(self.protocol);
        if self.first == self.last {
            write!(f, "{name} {}", self.first)
        } else {
            write!(f, "{name} {}-{}", self.first, self.last)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_lists() {
        let got = ProtectedService::parse_list("tcp:22, TCP:2379-2380,udp:67-68,sctp:38412")
            .expect("valid list");
        let want = vec![
            ProtectedService {
                protocol: proto::TCP,
                first: 22,
                last: 22,
            },
            ProtectedService {
                protocol: proto::TCP,
                first: 2379,
                last: 2380,
            },
            ProtectedService {
                protocol: proto::UDP,
                first: 67,
                last: 68,
            },
            ProtectedService {
                protocol: proto::SCTP,
                first: 38412,
                last: 38412,
            },
        ];
        assert_eq!(got, want);
        assert_eq!(ProtectedService::parse_list(" "), Ok(Vec::new()));
    }

    #[test]
    fn list_errors_name_the_item() {
        let cases = [
            ("22", "protected service \"22\": expected PROTOCOL:PORT or PROTOCOL:FIRST-LAST, e.g. tcp:22"),
            ("tcp:22,,udp:53", "protected service \"\": empty item (two commas in a row, or a trailing comma?)"),
            ("icmp:8", "protected service \"icmp:8\": unknown protocol \"icmp\" (expected tcp, udp or sctp)"),
            ("tcp:0", "protected service \"tcp:0\": port 0 is not a port (ports are 1-65535)"),
            ("tcp:ssh", "protected service \"tcp:ssh\": \"ssh\" is not a port number (expected 1-65535 or FIRST-LAST)"),
            ("udp:70000", "protected service \"udp:70000\": port 70000 is out of range 1-65535"),
            ("tcp:30-20", "protected service \"tcp:30-20\": range start 30 is after its end 20"),
        ];
        for (text, want) in cases {
            let got = ProtectedService::parse_list(text).expect_err(text);
            assert_eq!(got.to_string(), want, "{text}");
        }
    }

    #[test]
    fn displays_and_covers() {
        let defaults = ProtectedService::defaults();
        let shown: Vec<String> = defaults.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "TCP 22",
                "TCP 6443",
                "TCP 2379-2380",
                "TCP 10250",
                "TCP 10257",
                "TCP 10259",
                "UDP 67-68",
                "UDP 546-547"
            ]
        );
        assert!(defaults[2].covers(proto::TCP, 2380));
        assert!(!defaults[2].covers(proto::UDP, 2380));
        assert!(!defaults[2].covers(proto::TCP, 2381));
    }
}
