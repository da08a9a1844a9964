//! The agent's Prometheus metrics and the tiny HTTP endpoint that serves them.

use netwarden_datapath::firewall::{FirewallCounters, FirewallPaths, FirewallState};
use netwarden_datapath::{EvictStats, LossCounters};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex};
use tracing::{debug, warn};

/// Every agent metric; clones share the values.
#[derive(Clone)]
pub struct AgentMetrics {
    registry: Arc<Mutex<Registry>>,
    pub flows_evicted: Counter,
    pub records_exported: Counter,
    pub export_errors: Counter,
    pub fallback_records: Counter,
    pub flow_map_full: Counter,
    pub fallback_lost: Counter,
    pub extras_map_full: Counter,
    pub parse_errors: Counter,
    pub attached_interfaces: Gauge,
    pub eviction_duration: Histogram,
    /// Flows per deciding policy event (action, type, name, namespace, direction).
    pub network_events: Family<Vec<(String, String)>, Counter>,
    last_losses: Arc<Mutex<LossCounters>>,
    /// NetObserv-named flow metrics (`netobserv_*`).
    pub flows: Arc<super::flow_metrics::FlowMetrics>,
}

impl AgentMetrics {
    pub fn new() -> Self {
        let mut root = Registry::default();
        let flows = Arc::new(super::flow_metrics::FlowMetrics::register(&mut root));
        let registry = root.sub_registry_with_prefix("netwarden_agent");
        let m = Self {
            flows,
            registry: Arc::new(Mutex::new(Registry::default())),
            flows_evicted: Counter::default(),
            records_exported: Counter::default(),
            export_errors: Counter::default(),
            fallback_records: Counter::default(),
            flow_map_full: Counter::default(),
            fallback_lost: Counter::default(),
            extras_map_full: Counter::default(),
            parse_errors: Counter::default(),
            attached_interfaces: Gauge::default(),
            eviction_duration: Histogram::new([0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0]),
            network_events: Family::default(),
            last_losses: Arc::new(Mutex::new(LossCounters::default())),
        };
        registry.register(
            "network_events_flows",
            "Flow records per network event that decided them (audit mode)",
            m.network_events.clone(),
        );
        registry.register(
            "flows_evicted",
            "Flow records produced by evictions",
            m.flows_evicted.clone(),
        );
        registry.register(
            "records_exported",
            "Flow records written to the sink",
            m.records_exported.clone(),
        );
        registry.register(
            "export_errors",
            "Sink writes that failed",
            m.export_errors.clone(),
        );
        registry.register(
            "fallback_records",
            "Flow records built from the fallback ring buffer (flow map was full)",
            m.fallback_records.clone(),
        );
        registry.register(
            "flow_map_full",
            "Packets of new flows that did not fit the kernel flow map and took the fallback path",
            m.flow_map_full.clone(),
        );
        registry.register(
            "ringbuf_lost",
            "Packets lost because the fallback ring buffer was full too",
            m.fallback_lost.clone(),
        );
        registry.register(
            "extras_map_full",
            "Drop, DNS or RTT data lost because the extras map was full",
            m.extras_map_full.clone(),
        );
        registry.register(
            "parse_errors",
            "Packets with truncated headers, not recorded",
            m.parse_errors.clone(),
        );
        registry.register(
            "attached_interfaces",
            "Interfaces captured on",
            m.attached_interfaces.clone(),
        );
        registry.register(
            "eviction_duration_seconds",
            "Time to swap, drain and decode the kernel flow maps",
            m.eviction_duration.clone(),
        );
        *m.registry.lock().expect("fresh mutex") = root;
        m
    }

    /// Adds the pod guard's per-pod counters (`netwarden_podguard_*{namespace,pod}`), from a
    /// snapshot the agent refreshes every second.
    pub fn register_pod_guard(&self, totals: super::podguard::PodTotalsSnapshot) {
        let mut registry = self.registry.lock().unwrap_or_else(|p| p.into_inner());
        registry.register_collector(Box::new(PodGuardCollector { totals }));
    }

    /// Adds the flow store's ingest counters.
    pub fn register_ingest(&self, counters: std::sync::Arc<netwarden_store::IngestCounters>) {
        let mut registry = self.registry.lock().unwrap_or_else(|p| p.into_inner());
        registry.register_collector(Box::new(IngestCollector { counters }));
    }

    /// Adds the firewall's counters, read from its pinned maps at each scrape.
    pub fn register_firewall(&self, paths: FirewallPaths, apply_errors: Counter) {
        let mut registry = self.registry.lock().unwrap_or_else(|p| p.into_inner());
        registry.register(
            "netwarden_firewall_apply_errors",
            "Firewall updates rejected (invalid objects or a failed apply); the rules in force stayed",
            apply_errors,
        );
        registry.register_collector(Box::new(FirewallCollector { paths }));
    }

    /// Counts a record under each of its network events.
    pub fn observe_network_events(&self, events: &[serde_json::Value]) {
        for e in events {
            let label = |k: &str| e[k].as_str().unwrap_or_default().to_string();
            let labels = vec![
                ("action".to_string(), label("Action")),
                ("type".to_string(), label("Type")),
                ("name".to_string(), label("Name")),
                ("namespace".to_string(), label("Namespace")),
                ("direction".to_string(), label("Direction")),
            ];
            self.network_events.get_or_create(&labels).inc();
        }
    }

    /// Records one eviction and the kernel's loss counters (which only grow).
    pub fn observe_eviction(&self, stats: &EvictStats, losses: LossCounters) {
        self.flows_evicted.inc_by(stats.records as u64);
        self.fallback_records.inc_by(stats.fallback_records as u64);
        self.eviction_duration.observe(stats.duration.as_secs_f64());
        let mut last = self.last_losses.lock().unwrap_or_else(|p| p.into_inner());
        self.flow_map_full
            .inc_by(losses.flow_map_full.saturating_sub(last.flow_map_full));
        self.fallback_lost
            .inc_by(losses.fallback_lost.saturating_sub(last.fallback_lost));
        self.extras_map_full
            .inc_by(losses.extras_map_full.saturating_sub(last.extras_map_full));
        self.parse_errors
            .inc_by(losses.parse_errors.saturating_sub(last.parse_errors));
        *last = losses;
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let registry = self.registry.lock().unwrap_or_else(|p| p.into_inner());
        if encode(&mut out, &registry).is_err() {
            warn!("encoding metrics failed");
        }
        out
    }

    /// Serves `/metrics` on `addr` from a background thread.
    pub fn serve(&self, addr: SocketAddr) -> anyhow::Result<SocketAddr> {
        let listener =
            TcpListener::bind(addr).map_err(|e| anyhow::anyhow!("metrics.address {addr}: {e}"))?;
        let local = listener.local_addr()?;
        let metrics = self.clone();
        std::thread::Builder::new().name("metrics".into()).spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { continue };
                let mut line = String::new();
                if BufReader::new(&conn).read_line(&mut line).is_err() {
                    continue;
                }
                let path = line.split_whitespace().nth(1).unwrap_or("");
                let (status, ctype, body) = match path {
                    "/metrics" => ("200 OK", "application/openmetrics-text; version=1.0.0; charset=utf-8", metrics.render()),
                    "/healthz" => ("200 OK", "text/plain", "ok\n".to_string()),
                    _ => ("404 Not Found", "text/plain", "not found\n".to_string()),
                };
                let resp = format!(
                    "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                if let Err(e) = conn.write_all(resp.as_bytes()) {
                    debug!("metrics client went away: {e}");
                }
            }
        })?;
        Ok(local)
    }
}

/// The flow store's ingest counters, read when scraped.
#[derive(Debug)]
struct IngestCollector {
    counters: std::sync::Arc<netwarden_store::IngestCounters>,
}

impl Collector for IngestCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        use std::sync::atomic::Ordering::Relaxed;
        let c = &self.counters;
        for (name, help, value) in [
            (
                "netwarden_store_records_offered",
                "Flow records offered to the store",
                &c.offered,
            ),
            (
                "netwarden_store_records_written",
                "Flow records written to the store",
                &c.written,
            ),
            (
                "netwarden_store_records_dropped",
                "Flow records dropped because the store's queue was full (back-pressure)",
                &c.dropped,
            ),
            (
                "netwarden_store_records_failed",
                "Flow records lost to failed writes",
                &c.failed,
            ),
        ] {
            let m = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
            ConstCounter::new(value.load(Relaxed)).encode(m)?;
        }
        Ok(())
    }
}

/// Firewall counters, read from the pinned maps when scraped: the aggregate series with
/// ingress-node-firewall's names (dashboards carry over), and per-rule series.
#[derive(Debug)]
struct FirewallCollector {
    paths: FirewallPaths,
}

impl Collector for FirewallCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Some(state) = FirewallState::read(&self.paths.state_dir).ok().flatten() else {
            return Ok(());
        };
        let Ok(counters) = FirewallCounters::read(&self.paths, &state) else {
            return Ok(());
        };
        let t = counters.totals();
        // ingress-node-firewall exposes `_total` packet counters and `_bytes` series; the text
        // encoder appends `_total` to counters, so the byte series go out as gauges to keep the
        // names users already query.
        for (name, help, value) in [
            (
                "ingressnodefirewall_node_packet_allow",
                "Packets allowed by a rule",
                t.allow_packets,
            ),
            (
                "ingressnodefirewall_node_packet_deny",
                "Packets denied by a rule",
                t.deny_packets,
            ),
        ] {
            let m = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
            ConstCounter::new(value).encode(m)?;
        }
        for (name, help, value) in [
            (
                "ingressnodefirewall_node_packet_allow_bytes",
                "Bytes allowed by a rule",
                t.allow_bytes,
            ),
            (
                "ingressnodefirewall_node_packet_deny_bytes",
                "Bytes denied by a rule",
                t.deny_bytes,
            ),
        ] {
            let m = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
            ConstGauge::new(value as i64).encode(m)?;
        }
        for (name, help, pick) in [
            (
                "netwarden_firewall_rule_packets",
                "Packets per rule and action",
                (|c: &netwarden_datapath::firewall::RuleTotals| (c.allow_packets, c.deny_packets))
                    as fn(&netwarden_datapath::firewall::RuleTotals) -> (u64, u64),
            ),
            (
                "netwarden_firewall_rule_bytes",
                "Bytes per rule and action",
                |c| (c.allow_bytes, c.deny_bytes),
            ),
        ] {
            let mut family = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
            for r in &state.rules {
                let c = counters.rules.get(&r.slot).copied().unwrap_or_default();
                let (allow, deny) = pick(&c);
                for (action, value) in [("allow", allow), ("deny", deny)] {
                    let labels = vec![
                        ("object".to_string(), r.object.clone()),
                        ("interface".to_string(), r.interface.clone()),
                        ("cidr".to_string(), r.cidr.clone()),
                        ("order".to_string(), r.order.to_string()),
                        ("action".to_string(), action.to_string()),
                    ];
                    ConstCounter::new(value).encode(family.encode_family(&labels)?)?;
                }
            }
        }
        for (name, value) in &counters.global {
            let full = format!("netwarden_firewall_{name}");
            let m = encoder.encode_descriptor(
                &full,
                "Firewall datapath counter",
                None,
                MetricType::Counter,
            )?;
            ConstCounter::new(*value).encode(m)?;
        }
        Ok(())
    }
}

#[derive(Debug)]
struct PodGuardCollector {
    totals: super::podguard::PodTotalsSnapshot,
}

impl Collector for PodGuardCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let totals = self
            .totals
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        type Pick = fn(&netwarden_datapath::podguard::PodTotals) -> u64;
        let series: [(&str, &str, Pick); 7] = [
            (
                "netwarden_podguard_allowed_packets",
                "Packets a guarded pod sent that passed",
                |t| t.allowed_packets,
            ),
            (
                "netwarden_podguard_allowed_bytes",
                "Bytes a guarded pod sent that passed",
                |t| t.allowed_bytes,
            ),
            (
                "netwarden_podguard_blocked_packets",
                "Packets a guarded pod sent that were dropped",
                |t| t.blocked_packets,
            ),
            (
                "netwarden_podguard_blocked_bytes",
                "Bytes a guarded pod sent that were dropped",
                |t| t.blocked_bytes,
            ),
            (
                "netwarden_podguard_new_connections",
                "Connections a guarded pod opened",
                |t| t.new_connections,
            ),
            (
                "netwarden_podguard_policy_dropped_packets",
                "Packets to or from a pod dropped because network policy denies them (enforce mode)",
                |t| t.policy_dropped_packets,
            ),
            (
                "netwarden_podguard_policy_dropped_bytes",
                "Bytes to or from a pod dropped because network policy denies them (enforce mode)",
                |t| t.policy_dropped_bytes,
            ),
        ];
        for (name, help, pick) in series {
            let mut family = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
            for (pod, t) in &totals {
                let labels = vec![
                    ("namespace".to_string(), pod.namespace.clone()),
                    ("pod".to_string(), pod.name.clone()),
                ];
                ConstCounter::new(pick(t)).encode(family.encode_family(&labels)?)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn losses_are_exposed_as_growing_counters() {
        let m = AgentMetrics::new();
        let stats = EvictStats {
            records: 3,
            fallback_records: 1,
            ..Default::default()
        };
        m.observe_eviction(
            &stats,
            LossCounters {
                flow_map_full: 5,
                ..Default::default()
            },
        );
        m.observe_eviction(
            &stats,
            LossCounters {
                flow_map_full: 7,
                fallback_lost: 2,
                ..Default::default()
            },
        );
        let text = m.render();
        assert!(
            text.contains("netwarden_agent_flows_evicted_total 6"),
            "{text}"
        );
        assert!(
            text.contains("netwarden_agent_flow_map_full_total 7"),
            "{text}"
        );
        assert!(
            text.contains("netwarden_agent_ringbuf_lost_total 2"),
            "{text}"
        );
        assert!(
            text.contains("netwarden_agent_fallback_records_total 2"),
            "{text}"
        );
    }

    #[test]
    fn network_events_are_counted_by_policy_and_direction() {
        let m = AgentMetrics::new();
        let drop = serde_json::json!({"Action": "drop", "Type": "NetpolNamespace", "Namespace": "iperf", "Direction": "Ingress"});
        let events = [drop];
        m.observe_network_events(&events);
        m.observe_network_events(&events);
        let text = m.render();
        assert!(
            text.contains("netwarden_agent_network_events_flows_total{action=\"drop\",type=\"NetpolNamespace\",name=\"\",namespace=\"iperf\",direction=\"Ingress\"} 2"),
            "{text}"
        );
    }
}
