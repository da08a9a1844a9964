//! Pod guard events: new connections and dropped packets, named by pod, interface and rule.

use netwarden_bpf::firewall_abi::{EV_FRAGMENT, EV_TRUNCATED, EV_UNPARSED};
use netwarden_bpf::podguard_abi::{
    PgEvent, DIR_INGRESS, EV_BLOCKED, POLICY_ALLOWED, POLICY_DENIED, REASON_EXTERNAL,
    REASON_POLICY, REASON_RULE, REASON_RULE_ALLOW, REASON_UNPARSED,
};
use netwarden_policy::netpol::DirectionVerdict;
use serde::Serialize;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// A pod, as namespace and name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct PodRef {
    pub namespace: String,
    pub name: String,
}

impl fmt::Display for PodRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// What the guard did with the packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Verdict {
    #[serde(rename = "ALLOWED")]
    Allowed,
    #[serde(rename = "BLOCKED")]
    Blocked,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Allowed => "ALLOWED",
            Verdict::Blocked => "BLOCKED",
        }
    }
}

/// An event as reported: the first packet of a new connection (allowed) or a dropped packet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PodGuardEvent {
    /// Wall-clock time of the packet, milliseconds since the Unix epoch.
    pub time_ms: u64,
    /// `new-connection` or `blocked`.
    pub kind: &'static str,
    pub verdict: Verdict,
    /// Which way the packet goes, seen from the pod: `egress` (it sends) or `ingress`.
    pub direction: &'static str,
    /// Why blocked (`external`, `rule`, `policy`, `unparsed`) or allowed by a rule (`rule`);
    /// absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'static str>,
    /// The rule that decided, e.g. `selectors[1].rules[0]: Deny 0.0.0.0/0 TCP`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// What network policy decided for the connection (`allowed`, `denied`), in enforce mode.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy: Option<&'static str>,
    /// The deciding network events of that direction (NetObserv's `NetworkEvents` form).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub network_events: Vec<serde_json::Value>,
    /// Absent when the pod is no longer known (released since).
    pub namespace: Option<String>,
    pub pod: Option<String>,
    /// The host-side interface.
    pub interface: String,
    /// `TCP`, `UDP`, `SCTP`, `ICMP`, `ICMPv6` or the protocol number.
    pub protocol: String,
    /// The IP protocol number `protocol` names (for lookups; not serialized).
    #[serde(skip)]
    pub proto: u8,
    pub src_addr: IpAddr,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub src_port: Option<u16>,
    pub dst_addr: IpAddr,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dst_port: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub icmp_type: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub icmp_code: Option<u8>,
    /// Bytes of the packet (Ethernet frame).
    pub len: u32,
    /// Blocked events of this pod suppressed (rate limit) on the reporting CPU since the previous.
    pub suppressed: u32,
}

/// The protocol as users name it.
pub fn protocol_name(proto: u8) -> String {
    // The names rules use; other protocols by number.
    match netwarden_policy::firewall::model::protocol_name(proto) {
        "other" => proto.to_string(),
        name => name.to_string(),
    }
}

/// What [`PodGuardEvent::decode`] needs to name things.
pub trait Names {
    fn pod(&self, pod_id: u32) -> Option<&PodRef>;
    fn interface(&self, ifindex: u32) -> String;
    fn rule(&self, slot: u32) -> Option<String>;
    /// The network-policy decision of a kernel slot.
    fn policy_decision(&self, slot: u32) -> Option<&DirectionVerdict>;
}

impl PodGuardEvent {
    /// Decodes a kernel event. `mono_to_wall_ns` converts the kernel's monotonic clock to the
    /// wall clock (add it).
    pub fn decode(e: &PgEvent, names: &dyn Names, mono_to_wall_ns: i128) -> PodGuardEvent {
        let addr = |raw: &[u8; 16]| -> IpAddr {
            if e.family == 4 {
                IpAddr::V4(Ipv4Addr::new(raw[0], raw[1], raw[2], raw[3]))
            } else {
                IpAddr::V6(Ipv6Addr::from(*raw))
            }
        };
        let whole = e.flags & (EV_FRAGMENT | EV_TRUNCATED | EV_UNPARSED) == 0;
        let has_ports = matches!(e.proto, 6 | 17 | 132) && whole;
        let is_icmp = matches!(e.proto, 1 | 58) && whole;
        let blocked = e.kind == EV_BLOCKED;
        let reason = match e.reason {
            REASON_EXTERNAL => Some("external"),
            REASON_RULE | REASON_RULE_ALLOW => Some("rule"),
            REASON_UNPARSED => Some("unparsed"),
            REASON_POLICY => Some("policy"),
            _ => None,
        };
        let policy = match e.policy {
            POLICY_ALLOWED => Some("allowed"),
            POLICY_DENIED => Some("denied"),
            _ => None,
        };
        let network_events = policy
            .and_then(|_| names.policy_decision(e.policy_slot))
            .map(|d| d.events.iter().map(|ev| ev.to_json()).collect())
            .unwrap_or_default();
        let rule = matches!(e.reason, REASON_RULE | REASON_RULE_ALLOW)
            .then(|| names.rule(e.rule_slot))
            .flatten();
        let pod = names.pod(e.pod_id);
        let wall = (i128::from(e.ts_ns) + mono_to_wall_ns).max(0);
        PodGuardEvent {
            time_ms: (wall / 1_000_000) as u64,
            kind: if blocked { "blocked" } else { "new-connection" },
            verdict: if blocked {
                Verdict::Blocked
            } else {
                Verdict::Allowed
            },
            direction: if e.direction == DIR_INGRESS {
                "ingress"
            } else {
                "egress"
            },
            reason,
            rule,
            policy,
            network_events,
            namespace: pod.map(|p| p.namespace.clone()),
            pod: pod.map(|p| p.name.clone()),
            interface: names.interface(e.ifindex),
            protocol: protocol_name(e.proto),
            proto: e.proto,
            src_addr: addr(&e.src_addr),
            src_port: has_ports.then_some(e.src_port),
            dst_addr: addr(&e.dst_addr),
            dst_port: has_ports.then_some(e.dst_port),
            icmp_type: is_icmp.then_some(e.icmp_type),
            icmp_code: is_icmp.then_some(e.icmp_code),
            len: e.pkt_len,
            suppressed: e.suppressed,
        }
    }

    /// The pod monitor's log line, e.g.
    /// `TRAFFIC: 10.244.1.5:45678 -> 8.8.8.8:53 (UDP) [ALLOWED] [pod: default/nginx-pod]`;
    /// IPv6 addresses with ports are bracketed (`[fd00::1]:80`), protocols without ports show the
    /// bare address, and ` [suppressed: N]` follows when a rate limit held events back. In
    /// enforce mode the policy decision follows, e.g. ` [policy: ingress denied: Dropped by
    /// network policies isolation in namespace iperf, direction Ingress]`.
    pub fn text_line(&self) -> String {
        let end = |addr: IpAddr, port: Option<u16>| match port {
            Some(p) => SocketAddr::new(addr, p).to_string(),
            None => addr.to_string(),
        };
        let pod = match (&self.namespace, &self.pod) {
            (Some(ns), Some(name)) => format!("{ns}/{name}"),
            _ => "?".to_string(),
        };
        let mut line = format!(
            "TRAFFIC: {} -> {} ({}) [{}] [pod: {pod}]",
            end(self.src_addr, self.src_port),
            end(self.dst_addr, self.dst_port),
            self.protocol,
            self.verdict.as_str(),
        );
        if let Some(policy) = self.policy {
            let messages: Vec<&str> = self
                .network_events
                .iter()
                .filter_map(|e| e.get("Message").and_then(|m| m.as_str()))
                .collect();
            let why = match (messages.is_empty(), policy) {
                (false, _) => messages.join("; "),
                (true, "allowed") => "no policy applies".to_string(),
                (true, _) => "headers unreadable".to_string(),
            };
            line.push_str(&format!(" [policy: {} {policy}: {why}]", self.direction));
        }
        if self.suppressed > 0 {
            line.push_str(&format!(" [suppressed: {}]", self.suppressed));
        }
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use netwarden_bpf::podguard_abi::{EV_NEW_CONNECTION, REASON_NONE};

    struct Fixed(PodRef);

    impl Names for Fixed {
        fn pod(&self, id: u32) -> Option<&PodRef> {
            (id == 3).then_some(&self.0)
        }
        fn interface(&self, ifindex: u32) -> String {
            format!("veth{ifindex}")
        }
        fn rule(&self, slot: u32) -> Option<String> {
            Some(format!("rule {slot}"))
        }
        fn policy_decision(&self, _slot: u32) -> Option<&DirectionVerdict> {
            None
        }
    }

    fn names() -> Fixed {
        Fixed(PodRef {
            namespace: "default".into(),
            name: "nginx-pod".into(),
        })
    }

    #[test]
    fn lines_match_the_pod_monitor_format() {
        let mut e = PgEvent {
            pod_id: 3,
            ifindex: 9,
            kind: EV_NEW_CONNECTION,
            reason: REASON_NONE,
            family: 4,
            proto: 17,
            src_port: 45678,
            dst_port: 53,
            pkt_len: 70,
            ..Default::default()
        };
        e.src_addr[..4].copy_from_slice(&[10, 244, 1, 5]);
        e.dst_addr[..4].copy_from_slice(&[8, 8, 8, 8]);
        let ev = PodGuardEvent::decode(&e, &names(), 0);
        assert_eq!(
            ev.text_line(),
            "TRAFFIC: 10.244.1.5:45678 -> 8.8.8.8:53 (UDP) [ALLOWED] [pod: default/nginx-pod]"
        );
        assert_eq!(ev.interface, "veth9");
        assert_eq!(ev.rule, None);

        let mut blocked = e;
        blocked.kind = EV_BLOCKED;
        blocked.reason = REASON_RULE;
        blocked.rule_slot = 4;
        blocked.suppressed = 2;
        blocked.proto = 6;
        let ev = PodGuardEvent::decode(&blocked, &names(), 0);
        assert_eq!(
            ev.text_line(),
            "TRAFFIC: 10.244.1.5:45678 -> 8.8.8.8:53 (TCP) [BLOCKED] [pod: default/nginx-pod] \
             [suppressed: 2]"
        );
        assert_eq!(
            (ev.reason, ev.rule.as_deref()),
            (Some("rule"), Some("rule 4"))
        );

        let mut v6 = e;
        v6.family = 6;
        v6.src_addr = "fd00::5".parse::<Ipv6Addr>().unwrap().octets();
        v6.dst_addr = "2001:db8::8".parse::<Ipv6Addr>().unwrap().octets();
        v6.pod_id = 7;
        let ev = PodGuardEvent::decode(&v6, &names(), 0);
        assert_eq!(
            ev.text_line(),
            "TRAFFIC: [fd00::5]:45678 -> [2001:db8::8]:53 (UDP) [ALLOWED] [pod: ?]"
        );

        let mut icmp = e;
        icmp.proto = 1;
        icmp.icmp_type = 8;
        let ev = PodGuardEvent::decode(&icmp, &names(), 0);
        assert_eq!(
            ev.text_line(),
            "TRAFFIC: 10.244.1.5 -> 8.8.8.8 (ICMP) [ALLOWED] [pod: default/nginx-pod]"
        );
        let json = serde_json::to_value(&ev).unwrap();
        assert_eq!(json["verdict"], "ALLOWED");
        assert_eq!(json["icmpType"], 8);
        assert_eq!(json["pod"], "nginx-pod");
        assert!(json.get("srcPort").is_none());
    }
}
