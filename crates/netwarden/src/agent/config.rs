//! The agent's YAML config: one section per component, unknown fields rejected, every field
//! defaulted (the defaults are the values written below and in README's "Agent config").

use serde::Deserialize;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

#[derive(Debug, Clone, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct AgentConfig {
    pub capture: CaptureSection,
    pub sink: SinkSection,
    pub metrics: MetricsSection,
    pub firewall: FirewallSection,
    pub inventory: InventorySection,
    pub pod_guard: super::podguard::PodGuardSection,
    pub store: StoreSection,
    pub api: ApiSection,
}

/// The embedded flow store: every record the agent exports is also stored here.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct StoreSection {
    /// Default false.
    pub enabled: bool,
    /// The database file. Default /var/lib/netwarden/flows.duckdb.
    pub path: PathBuf,
    /// Flows older than this are dropped, by whole hours. Default 24h.
    pub retention: String,
    /// The oldest hours are dropped while the store is larger. Default 2048.
    pub max_size_mib: u64,
    /// DuckDB's memory limit. Default 256MB.
    pub memory_limit: String,
}

impl Default for StoreSection {
    fn default() -> Self {
        Self {
            enabled: false,
            path: PathBuf::from("/var/lib/netwarden/flows.duckdb"),
            retention: "24h".into(),
            max_size_mib: 2048,
            memory_limit: "256MB".into(),
        }
    }
}

/// The HTTP API and web console over the store (needs `store.enabled`).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ApiSection {
    /// Default false.
    pub enabled: bool,
    /// Default 127.0.0.1:9001.
    pub listen: SocketAddr,
    /// Bearer token; required when `listen` is not a loopback address. NETWARDEN_API_TOKEN
    /// overrides it.
    pub token: Option<String>,
}

impl Default for ApiSection {
    fn default() -> Self {
        Self {
            enabled: false,
            listen: SocketAddr::from(([127, 0, 0, 1], 9001)),
            token: None,
        }
    }
}

/// Where the Kubernetes identity of flows comes from (both may be on: one index).
#[derive(Debug, Clone, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct InventorySection {
    /// YAML file of Kubernetes objects, re-read when it changes; absent: none.
    pub file: Option<PathBuf>,
    /// Watch the cluster's API (in-cluster config or KUBECONFIG). Default false.
    pub kubernetes: bool,
    /// NetworkPolicy/AdminNetworkPolicy/BaselineAdminNetworkPolicy/EgressFirewall files or
    /// directories: each flow gets the network events they decide. Default none.
    pub policies: Vec<PathBuf>,
    /// `audit` (default): the engine explains each flow, nothing is dropped. `enforce`: the
    /// policies are compiled into per-pod tables on this node's pod interfaces, the datapath
    /// drops what they deny and flows carry the decisions it took.
    pub policy_mode: PolicyMode,
}

/// What the agent does with `inventory.policies`.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum PolicyMode {
    #[default]
    Audit,
    Enforce,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct CaptureSection {
    /// Regex of interface names to capture on; absent: all.
    pub interfaces: Option<String>,
    /// Regex of interface names to skip; absent: `^lo$`.
    pub exclude: Option<String>,
    /// Seconds between evictions. Default 5.
    pub eviction_seconds: f64,
    /// Record 1 packet in N. Default 1.
    pub sampling: u32,
    /// Flows held in the kernel between evictions. Default 100000.
    pub flow_map_entries: u32,
    /// Flows with drop/DNS/RTT data held between evictions. Default 20000.
    pub extras_map_entries: u32,
    pub dns: DnsSection,
    pub rtt: Toggle,
    pub drops: DropsSection,
    /// AgentIP of every record; absent: none.
    pub agent_ip: Option<IpAddr>,
}

impl Default for CaptureSection {
    fn default() -> Self {
        Self {
            interfaces: None,
            exclude: None,
            eviction_seconds: 5.0,
            sampling: 1,
            flow_map_entries: 100_000,
            extras_map_entries: 20_000,
            dns: DnsSection::default(),
            rtt: Toggle::default(),
            drops: DropsSection::default(),
            agent_ip: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DnsSection {
    /// Default true.
    pub enabled: bool,
    /// UDP and TCP ports treated as DNS, at most 4. Default [53].
    pub ports: Vec<u16>,
}

impl Default for DnsSection {
    fn default() -> Self {
        Self {
            enabled: true,
            ports: vec![53],
        }
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Toggle {
    /// Default true.
    pub enabled: bool,
}

impl Default for Toggle {
    fn default() -> Self {
        Self { enabled: true }
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DropsSection {
    /// Default true.
    pub enabled: bool,
    /// Record drops of every network namespace, not just the agent's. Default false.
    pub all_namespaces: bool,
}

impl Default for DropsSection {
    fn default() -> Self {
        Self {
            enabled: true,
            all_namespaces: false,
        }
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct SinkSection {
    pub jsonl: JsonlSink,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct JsonlSink {
    /// File to append JSON lines to; `-` is stdout. Default `-`.
    pub path: PathBuf,
}

impl Default for JsonlSink {
    fn default() -> Self {
        Self {
            path: PathBuf::from("-"),
        }
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsSection {
    /// Default true.
    pub enabled: bool,
    /// Prometheus endpoint (`/metrics`). Default 127.0.0.1:9400.
    pub address: SocketAddr,
}

impl Default for MetricsSection {
    fn default() -> Self {
        Self {
            enabled: true,
            address: SocketAddr::from(([127, 0, 0, 1], 9400)),
        }
    }
}

/// The XDP ingress node firewall, from IngressNodeFirewall objects in files the agent watches.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct FirewallSection {
    /// Default false.
    pub enabled: bool,
    /// YAML files of IngressNodeFirewall objects, re-read when they change. Default none.
    pub rules: Vec<PathBuf>,
    /// This node's name for nodeSelectors; absent: the host name.
    pub node_name: Option<String>,
    /// This node's labels for nodeSelectors. Default none.
    pub node_labels: std::collections::BTreeMap<String, String>,
    /// Deny rules count and report but pass. Default false.
    pub audit: bool,
    /// Services never dropped, e.g. "tcp:22,udp:67-68"; absent: SSH, Kubernetes API, etcd,
    /// kubelet, controller-manager, scheduler, DHCP v4/v6.
    pub protected: Option<String>,
    /// Drop events per rule per CPU per second. Default 100.
    pub events_per_sec: u32,
    /// Log each drop event as one line. Default true.
    pub log_events: bool,
    /// File to append drop events to as JSON lines; absent: none.
    pub events_jsonl: Option<PathBuf>,
    /// bpffs directory of the pinned links and maps. Default /sys/fs/bpf/netwarden/fw.
    pub pin_dir: PathBuf,
    /// State file directory. Default /run/netwarden/fw.
    pub state_dir: PathBuf,
}

impl Default for FirewallSection {
    fn default() -> Self {
        Self {
            enabled: false,
            rules: Vec::new(),
            node_name: None,
            node_labels: Default::default(),
            audit: false,
            protected: None,
            events_per_sec: 100,
            log_events: true,
            events_jsonl: None,
            pin_dir: PathBuf::from("/sys/fs/bpf/netwarden/fw"),
            state_dir: PathBuf::from("/run/netwarden/fw"),
        }
    }
}

impl AgentConfig {
    /// Parses YAML; errors name the field and the value (serde_yaml reports path and position).
    pub fn from_yaml(text: &str) -> anyhow::Result<Self> {
        if text.trim().is_empty() {
            return Ok(Self::default());
        }
        Ok(serde_yaml::from_str(text)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_config_is_all_defaults() {
        assert_eq!(AgentConfig::from_yaml("").unwrap(), AgentConfig::default());
        assert_eq!(
            AgentConfig::from_yaml("{}").unwrap(),
            AgentConfig::default()
        );
    }

    #[test]
    fn partial_sections_keep_other_defaults() {
        let cfg =
            AgentConfig::from_yaml("capture:\n  sampling: 50\n  dns:\n    ports: [53, 5353]\n")
                .unwrap();
        assert_eq!(cfg.capture.sampling, 50);
        assert_eq!(cfg.capture.dns.ports, vec![53, 5353]);
        assert!(cfg.capture.dns.enabled);
        assert_eq!(cfg.capture.eviction_seconds, 5.0);
        assert_eq!(cfg.metrics.address.port(), 9400);
    }

    #[test]
    fn the_documented_example_is_the_defaults() {
        let text = include_str!("../../../../config/agent.yaml");
        assert_eq!(
            AgentConfig::from_yaml(text).unwrap(),
            AgentConfig::default()
        );
    }

    #[test]
    fn errors_name_the_field() {
        let cases = [
            ("capture:\n  samplin: 5\n", "samplin"),
            ("capture:\n  sampling: many\n", "sampling"),
            ("metrics:\n  address: nowhere\n", "address"),
            ("sinks: {}\n", "sinks"),
            ("capture:\n  dns:\n    ports: [70000]\n", "ports"),
        ];
        for (yaml, field) in cases {
            let err = format!("{:#}", AgentConfig::from_yaml(yaml).unwrap_err());
            assert!(err.contains(field), "{yaml:?}: {err}");
        }
    }
}
