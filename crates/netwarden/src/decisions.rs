//! Enforce mode: what the datapath decided for each connection, remembered from the pod guard's
//! events so that flows carry the verdict that really happened rather than the engine's opinion.
//!
//! The kernel judges a connection once per direction, when it opens: at the source pod's
//! interface (egress) and at the destination pod's (ingress), and reports each decision with
//! its slot. Both reports carry the packet that opened the connection, so the key is that
//! packet's 5-tuple; a flow record finds its connection under its own tuple (the opening
//! direction) or the reversed one (replies).

use netwarden_datapath::podguard::PodGuardEvent;
use netwarden_model::FlowRecord;
use std::collections::HashMap;
use std::net::IpAddr;

/// Protocol, source address and port, destination address and port (ports 0 without ports).
type ConnKey = (u8, IpAddr, u16, IpAddr, u16);

/// One direction's decision as the datapath reported it.
#[derive(Debug, Clone, PartialEq)]
pub struct Decided {
    pub denied: bool,
    /// The deciding events (NetObserv `NetworkEvents` form), in decision order.
    pub events: Vec<serde_json::Value>,
}

/// Both directions of one connection.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConnDecision {
    pub egress: Option<Decided>,
    pub ingress: Option<Decided>,
}

/// Connections remembered at most; beyond, the oldest half is forgotten (bounded memory).
const MAX_CONNECTIONS: usize = 200_000;

/// Decisions by connection, oldest forgotten first.
#[derive(Debug, Default)]
pub struct DatapathDecisions {
    by_conn: HashMap<ConnKey, (u64, ConnDecision)>,
    /// Insertion counter, to forget the oldest when full.
    next: u64,
}

impl DatapathDecisions {
    /// Remembers the policy decision an event carries (events without one are ignored).
    pub fn observe(&mut self, e: &PodGuardEvent) {
        let Some(policy) = e.policy else {
            return;
        };
        let key = (
            e.proto,
            e.src_addr,
            e.src_port.unwrap_or(0),
            e.dst_addr,
            e.dst_port.unwrap_or(0),
        );
        let decided = Decided {
            denied: policy == "denied",
            events: e.network_events.clone(),
        };
        if self.by_conn.len() >= MAX_CONNECTIONS && !self.by_conn.contains_key(&key) {
            self.forget_oldest_half();
        }
        self.next += 1;
        let at = self.next;
        let entry = self.by_conn.entry(key).or_default();
        entry.0 = at;
        if e.direction == "ingress" {
            entry.1.ingress = Some(decided);
        } else {
            entry.1.egress = Some(decided);
        }
    }

    fn forget_oldest_half(&mut self) {
        let mut ages: Vec<u64> = self.by_conn.values().map(|(at, _)| *at).collect();
        ages.sort_unstable();
        let cut = ages.get(ages.len() / 2).copied().unwrap_or(0);
        self.by_conn.retain(|_, (at, _)| *at >= cut);
    }

    /// The decisions of the record's connection, in either orientation.
    pub fn lookup(&self, rec: &FlowRecord) -> Option<&ConnDecision> {
        let (src, dst) = (rec.src_addr?, rec.dst_addr?);
        let (sp, dp) = (rec.src_port.unwrap_or(0), rec.dst_port.unwrap_or(0));
        self.by_conn
            .get(&(rec.proto, src, sp, dst, dp))
            .or_else(|| self.by_conn.get(&(rec.proto, dst, dp, src, sp)))
            .map(|(_, d)| d)
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.by_conn.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use netwarden_datapath::podguard::Verdict;

    fn event(direction: &'static str, policy: &'static str, message: &str) -> PodGuardEvent {
        PodGuardEvent {
            time_ms: 0,
            kind: "new-connection",
            verdict: Verdict::Allowed,
            direction,
            reason: None,
            rule: None,
            policy: Some(policy),
            network_events: vec![serde_json::json!({ "Message": message })],
            namespace: Some("iperf".into()),
            pod: Some("client".into()),
            interface: "veth1".into(),
            protocol: "TCP".into(),
            proto: 6,
            src_addr: "10.0.0.1".parse().unwrap(),
            src_port: Some(40000),
            dst_addr: "10.0.0.2".parse().unwrap(),
            dst_port: Some(5201),
            icmp_type: None,
            icmp_code: None,
            len: 74,
            suppressed: 0,
        }
    }

    fn record(src: &str, sp: u16, dst: &str, dp: u16) -> FlowRecord {
        FlowRecord {
            proto: 6,
            src_addr: Some(src.parse().unwrap()),
            src_port: Some(sp),
            dst_addr: Some(dst.parse().unwrap()),
            dst_port: Some(dp),
            ..FlowRecord::default()
        }
    }

    #[test]
    fn both_directions_are_found_from_either_end() {
        let mut d = DatapathDecisions::default();
        d.observe(&event("egress", "allowed", "e"));
        d.observe(&event("ingress", "denied", "i"));
        let got = d
            .lookup(&record("10.0.0.2", 5201, "10.0.0.1", 40000))
            .unwrap();
        assert!(!got.egress.as_ref().unwrap().denied);
        assert!(got.ingress.as_ref().unwrap().denied);
        assert_eq!(
            got.ingress.as_ref().unwrap().events[0]["Message"],
            serde_json::json!("i")
        );
        assert_eq!(
            d.lookup(&record("10.0.0.1", 40000, "10.0.0.2", 5201)),
            Some(got)
        );
        assert!(d
            .lookup(&record("10.0.0.1", 40001, "10.0.0.2", 5201))
            .is_none());
    }

    #[test]
    fn events_without_a_policy_decision_are_ignored() {
        let mut d = DatapathDecisions::default();
        let mut e = event("egress", "allowed", "e");
        e.policy = None;
        d.observe(&e);
        assert_eq!(d.len(), 0);
    }
}
