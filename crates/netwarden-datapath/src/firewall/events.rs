//! Drop events from the pinned ring buffer, named by the rules in the state file.

use super::state::FirewallState;
use super::{map_err, FirewallError, FirewallPaths};
use aya::maps::{Map, MapData, RingBuf};
use netwarden_bpf::firewall_abi::{FwEvent, EV_FRAGMENT, EV_TRUNCATED, EV_UNPARSED};
use netwarden_bpf::firewall_names as names;
use serde::Serialize;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsFd, AsRawFd};
use std::time::Duration;

/// A denied packet, as reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FirewallEvent {
    /// Seconds since boot (CLOCK_MONOTONIC) when the program saw the packet.
    pub monotonic_ns: u64,
    /// `Drop`, or `Audit` when audit mode let it pass.
    pub action: &'static str,
    /// The rule's order (OpenShift's ruleId).
    pub rule_id: Option<u32>,
    pub object: Option<String>,
    pub cidr: Option<String>,
    pub interface: String,
    pub len: u32,
    pub src_addr: IpAddr,
    pub dst_addr: IpAddr,
    /// `tcp`, `udp`, `sctp`, `icmpv4`, `icmpv6` or the protocol number.
    pub protocol: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub src_port: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dst_port: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub icmp_type: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub icmp_code: Option<u8>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub fragment: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub unparsed: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub truncated: bool,
    /// Events of this rule suppressed (rate limit) on this CPU since the previous one.
    pub suppressed: u32,
}

fn protocol_name(p: u8, family: u8) -> String {
    match (p, family) {
        (6, _) => "tcp".into(),
        (17, _) => "udp".into(),
        (132, _) => "sctp".into(),
        (1, _) => "icmpv4".into(),
        (58, _) => "icmpv6".into(),
        (n, _) => n.to_string(),
    }
}

impl FirewallEvent {
    /// Decodes a kernel event; rule names come from `state`, interface names from `ifnames`.
    pub fn decode(
        e: &FwEvent,
        state: Option<&FirewallState>,
        ifnames: &HashMap<u32, String>,
    ) -> Self {
        let rule = state.and_then(|s| s.rule_by_slot(e.rule_slot));
        let addr = |raw: &[u8; 16]| -> IpAddr {
            if e.family == 4 {
                IpAddr::V4(Ipv4Addr::new(raw[0], raw[1], raw[2], raw[3]))
            } else {
                IpAddr::V6(Ipv6Addr::from(*raw))
            }
        };
        let has_ports = matches!(e.proto, 6 | 17 | 132)
            && e.flags & (EV_FRAGMENT | EV_TRUNCATED | EV_UNPARSED) == 0;
        let is_icmp =
            matches!(e.proto, 1 | 58) && e.flags & (EV_FRAGMENT | EV_TRUNCATED | EV_UNPARSED) == 0;
        FirewallEvent {
            monotonic_ns: e.ts_ns,
            action: if e.audit != 0 { "Audit" } else { "Drop" },
            rule_id: rule.map(|r| r.order),
            object: rule.map(|r| r.object.clone()),
            cidr: rule.map(|r| r.cidr.clone()),
            interface: ifnames
                .get(&e.ifindex)
                .cloned()
                .unwrap_or_else(|| format!("if{}", e.ifindex)),
            len: e.pkt_len,
            src_addr: addr(&e.src_addr),
            dst_addr: addr(&e.dst_addr),
            protocol: protocol_name(e.proto, e.family),
            src_port: has_ports.then_some(e.src_port),
            dst_port: has_ports.then_some(e.dst_port),
            icmp_type: is_icmp.then_some(e.icmp_type),
            icmp_code: is_icmp.then_some(e.icmp_code),
            fragment: e.flags & EV_FRAGMENT != 0,
            unparsed: e.flags & EV_UNPARSED != 0,
            truncated: e.flags & EV_TRUNCATED != 0,
            suppressed: e.suppressed,
        }
    }

    /// The ingress-node-firewall text form: three lines, e.g.
    /// `ruleId 10 action Drop len 98 if eth0` / `ipv4 src addr S dst addr D` / `icmpv4 type 8 code 0`.
    pub fn text_lines(&self) -> Vec<String> {
        let rule = self
            .rule_id
            .map_or_else(|| "?".to_string(), |r| r.to_string());
        let mut first = format!(
            "ruleId {rule} action {} len {} if {}",
            self.action, self.len, self.interface
        );
        if self.suppressed > 0 {
            first.push_str(&format!(" (+{} suppressed)", self.suppressed));
        }
        let family = if self.src_addr.is_ipv4() {
            "ipv4"
        } else {
            "ipv6"
        };
        let second = format!(
            "{family} src addr {} dst addr {}",
            self.src_addr, self.dst_addr
        );
        let third = match (self.src_port, self.dst_port, self.icmp_type, self.icmp_code) {
            (Some(s), Some(d), _, _) => format!("{} srcPort {s} dstPort {d}", self.protocol),
            (_, _, Some(t), Some(c)) => format!("{} type {t} code {c}", self.protocol),
            _ if self.fragment => format!("{} non-first fragment", self.protocol),
            _ if self.unparsed => format!("{} headers not walked", self.protocol),
            _ => format!("{} transport header cut short", self.protocol),
        };
        vec![first, second, third]
    }
}

/// Reads events from the pinned ring buffer. One reader at a time: two would split the events.
pub struct EventReader {
    ring: RingBuf<MapData>,
}

impl EventReader {
    pub fn open(paths: &FirewallPaths) -> Result<Self, FirewallError> {
        let pin = paths.pin_dir.join(names::EVENTS);
        if !pin.exists() {
            return Err(FirewallError::NotApplied(paths.pin_dir.clone()));
        }
        let data = MapData::from_pin(&pin).map_err(map_err(names::EVENTS))?;
        let ring = RingBuf::try_from(Map::RingBuf(data)).map_err(map_err(names::EVENTS))?;
        Ok(Self { ring })
    }

    /// Waits up to `timeout` for events and returns every one available.
    pub fn poll(&mut self, timeout: Duration) -> Vec<FwEvent> {
        let mut out = self.drain();
        if !out.is_empty() {
            return out;
        }
        let mut pfd = libc::pollfd {
            fd: self.ring.as_fd().as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
        // SAFETY: one valid pollfd; EINTR just ends the wait early.
        unsafe { libc::poll(&mut pfd, 1, ms) };
        out.extend(self.drain());
        out
    }

    fn drain(&mut self) -> Vec<FwEvent> {
        let mut out = Vec::new();
        while let Some(item) = self.ring.next() {
            if let Some(e) = netwarden_bpf::abi::read_pod::<FwEvent>(&item) {
                out.push(e);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::firewall::state::RuleRecord;

    #[test]
    fn text_matches_the_ingress_node_firewall_form() {
        let mut e = FwEvent {
            rule_slot: 3,
            ifindex: 2,
            pkt_len: 98,
            verdict: 2,
            family: 4,
            proto: 1,
            icmp_type: 8,
            ..Default::default()
        };
        e.src_addr[..4].copy_from_slice(&[172, 18, 0, 1]);
        e.dst_addr[..4].copy_from_slice(&[172, 18, 0, 4]);
        let state = FirewallState {
            rules: vec![RuleRecord {
                slot: 3,
                object: "fw".into(),
                interface: "eth0".into(),
                cidr: "172.18.0.0/16".into(),
                order: 10,
                action: "Deny".into(),
                protocol: Some("ICMP".into()),
                selector: None,
            }],
            ..Default::default()
        };
        let names = HashMap::from([(2, "eth0".to_string())]);
        let ev = FirewallEvent::decode(&e, Some(&state), &names);
        assert_eq!(
            ev.text_lines(),
            vec![
                "ruleId 10 action Drop len 98 if eth0",
                "ipv4 src addr 172.18.0.1 dst addr 172.18.0.4",
                "icmpv4 type 8 code 0",
            ]
        );
        let mut tcp = e;
        tcp.proto = 6;
        tcp.src_port = 40000;
        tcp.dst_port = 22;
        tcp.suppressed = 4;
        tcp.audit = 1;
        let ev = FirewallEvent::decode(&tcp, Some(&state), &names);
        assert_eq!(
            ev.text_lines()[0],
            "ruleId 10 action Audit len 98 if eth0 (+4 suppressed)"
        );
        assert_eq!(ev.text_lines()[2], "tcp srcPort 40000 dstPort 22");
    }
}
