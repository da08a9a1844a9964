//! Flows that did not fit the kernel's flow map arrive packet by packet through the fallback ring
//! buffer; this aggregates them until the next eviction, so they leave as ordinary records.

use netwarden_bpf::abi::{self, FlowFallback, FlowKey, FlowStats};
use std::collections::HashMap;

/// Fallback packets aggregated per flow, in the same shape as the kernel's flow map.
#[derive(Debug, Default)]
pub struct FallbackFlows {
    flows: HashMap<FlowKey, FlowStats>,
}

impl FallbackFlows {
    /// Adds one packet, with the kernel's count-once rule: only the first interface+direction that
    /// saw the flow counts it.
    pub fn add(&mut self, rec: &FlowFallback) {
        let s = self.flows.entry(rec.key).or_insert_with(|| {
            let mut s = FlowStats {
                eth_protocol: rec.eth_protocol,
                first_seen_ns: rec.ts_ns,
                src_mac: rec.src_mac,
                dst_mac: rec.dst_mac,
                sampling: rec.sampling,
                n_observed: 1,
                ..Default::default()
            };
            s.observed_ifindex[0] = rec.ifindex;
            s.observed_direction[0] = rec.direction;
            s
        });
        s.last_seen_ns = s.last_seen_ns.max(rec.ts_ns);
        s.first_seen_ns = s.first_seen_ns.min(rec.ts_ns);
        s.tcp_flags |= u32::from(rec.tcp_flags);
        if s.observed_ifindex[0] == rec.ifindex && s.observed_direction[0] == rec.direction {
            s.packets += 1;
            s.bytes += rec.bytes;
            s.dscp = rec.dscp;
            return;
        }
        let n = s.n_observed as usize;
        let known = (1..n).any(|i| {
            s.observed_ifindex[i] == rec.ifindex && s.observed_direction[i] == rec.direction
        });
        if !known && n < abi::MAX_OBSERVED {
            s.observed_ifindex[n] = rec.ifindex;
            s.observed_direction[n] = rec.direction;
            s.n_observed += 1;
        }
    }

    /// Takes the aggregate of `key`, if any packets of it came this way.
    pub fn take(&mut self, key: &FlowKey) -> Option<FlowStats> {
        self.flows.remove(key)
    }

    /// Takes everything left.
    pub fn drain(&mut self) -> impl Iterator<Item = (FlowKey, FlowStats)> + '_ {
        self.flows.drain()
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.flows.is_empty()
    }
}

/// Adds `other`'s counts to `into` (same flow seen both in the map and through the fallback).
pub fn merge_stats(into: &mut FlowStats, other: &FlowStats) {
    into.packets += other.packets;
    into.bytes += other.bytes;
    into.tcp_flags |= other.tcp_flags;
    into.first_seen_ns = into.first_seen_ns.min(other.first_seen_ns);
    into.last_seen_ns = into.last_seen_ns.max(other.last_seen_ns);
    for i in 0..(other.n_observed as usize).min(abi::MAX_OBSERVED) {
        let (ifx, dir) = (other.observed_ifindex[i], other.observed_direction[i]);
        let n = into.n_observed as usize;
        let known =
            (0..n).any(|j| into.observed_ifindex[j] == ifx && into.observed_direction[j] == dir);
        if !known && n < abi::MAX_OBSERVED {
            into.observed_ifindex[n] = ifx;
            into.observed_direction[n] = dir;
            into.n_observed += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkt(ifindex: u32, direction: u8, bytes: u64, ts: u64) -> FlowFallback {
        FlowFallback {
            ifindex,
            direction,
            bytes,
            ts_ns: ts,
            tcp_flags: 0x10,
            ..Default::default()
        }
    }

    #[test]
    fn counts_once_on_the_first_hop_and_lists_the_others() {
        let mut f = FallbackFlows::default();
        for ts in 0..3 {
            f.add(&pkt(4, 0, 100, 10 + ts));
            f.add(&pkt(5, 1, 100, 11 + ts));
        }
        let s = f.take(&FlowKey::default()).unwrap();
        assert_eq!((s.packets, s.bytes), (3, 300));
        assert_eq!(s.n_observed, 2);
        assert_eq!(&s.observed_ifindex[..2], &[4, 5]);
        assert_eq!((s.first_seen_ns, s.last_seen_ns), (10, 13));
        assert!(f.is_empty());
    }

    #[test]
    fn merge_adds_counts_and_interfaces() {
        let mut a = FlowStats {
            packets: 2,
            bytes: 20,
            first_seen_ns: 5,
            last_seen_ns: 9,
            n_observed: 1,
            ..Default::default()
        };
        a.observed_ifindex[0] = 4;
        let mut b = FlowStats {
            packets: 1,
            bytes: 10,
            first_seen_ns: 3,
            last_seen_ns: 12,
            n_observed: 2,
            ..Default::default()
        };
        b.observed_ifindex[..2].copy_from_slice(&[4, 6]);
        b.observed_direction[1] = 1;
        merge_stats(&mut a, &b);
        assert_eq!(
            (
                a.packets,
                a.bytes,
                a.first_seen_ns,
                a.last_seen_ns,
                a.n_observed
            ),
            (3, 30, 3, 12, 2)
        );
        assert_eq!((a.observed_ifindex[1], a.observed_direction[1]), (6, 1));
    }
}
