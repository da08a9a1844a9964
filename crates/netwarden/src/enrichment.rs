//! Kubernetes identity for records: an inventory index fed by a YAML file (re-read when it changes)
//! and/or the cluster's API (kube-rs watchers), applied to each record before output.

use crate::decisions::DatapathDecisions;
use crate::dns_names::DnsNames;
use anyhow::Context;
use netwarden_inventory::kube_source::KubeWatcher;
use netwarden_inventory::{enrich, FileWatcher, Index, InventoryProblem, Severity, Snapshot};
use netwarden_model::FlowRecord;
use netwarden_policy::netpol::{self, Connection, Endpoint, Inventory, PolicySet, Protocol};
use std::collections::HashMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use tracing::{info, warn};

/// Where the inventory comes from.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct InventorySources {
    pub file: Option<PathBuf>,
    /// Watch the cluster's API (in-cluster config or KUBECONFIG).
    pub kubernetes: bool,
    /// NetworkPolicy / AdminNetworkPolicy / BaselineAdminNetworkPolicy / EgressFirewall files or
    /// directories: every flow gets the network events the policies decide (audit mode).
    pub policies: Vec<PathBuf>,
}

/// The policies in force for audit mode, with what they were read from.
struct Policies {
    paths: Vec<PathBuf>,
    /// Modification times seen at the last read, to notice edits.
    stamps: Vec<Option<std::time::SystemTime>>,
    set: PolicySet,
    inventory: Inventory,
    /// Egress and ingress events per connection (source, destination, protocol, port), until
    /// pods, policies or the addresses of EgressFirewall `dnsName`s change.
    cache: HashMap<(IpAddr, IpAddr, u8, u16), DirectionEvents>,
    /// The EgressFirewall `dnsName`s resolved, while the policies have any.
    dns: Option<DnsNames>,
    /// `dns`'s generation the cache was filled under.
    dns_generation: u64,
}

impl Policies {
    /// Follows the policies' `dnsName`s: starts resolving them, or changes the names.
    fn follow_dns_names(&mut self) {
        let names = crate::dns_names::policy_names(&self.set);
        match (&self.dns, names.is_empty()) {
            (Some(dns), _) => dns.set_names(names),
            (None, false) => {
                self.dns = Some(DnsNames::start(
                    names,
                    crate::dns_names::system_resolver(),
                    crate::dns_names::REFRESH,
                ))
            }
            (None, true) => {}
        }
    }
}

/// The engine's events of one connection, per direction.
#[derive(Debug, Clone, Default)]
struct DirectionEvents {
    egress: Vec<serde_json::Value>,
    ingress: Vec<serde_json::Value>,
}

/// The inventory as the policy engine sees it, as last built, for readers on other threads (the
/// API's `/api/inventory`, which `netwarden policy whatif` replays stored flows against).
pub type SharedInventory = Arc<Mutex<Arc<Inventory>>>;

/// Cached connections at most; beyond, the cache starts over (bounded memory).
const EVENT_CACHE_MAX: usize = 100_000;

fn policy_stamps(paths: &[PathBuf]) -> Vec<Option<std::time::SystemTime>> {
    let mut out = Vec::new();
    for p in paths {
        out.push(std::fs::metadata(p).and_then(|m| m.modified()).ok());
        if let Ok(rd) = std::fs::read_dir(p) {
            let mut files: Vec<_> = rd.filter_map(Result::ok).map(|e| e.path()).collect();
            files.sort();
            out.extend(
                files
                    .iter()
                    .map(|f| std::fs::metadata(f).and_then(|m| m.modified()).ok()),
            );
        }
    }
    out
}

pub struct Enricher {
    /// Set once something asked for the inventory ([`Self::share_inventory`]).
    shared: Option<SharedInventory>,
    policies: Option<Policies>,
    file: Option<FileWatcher>,
    kube: Option<(
        tokio::runtime::Runtime,
        KubeWatcher,
        tokio::sync::watch::Receiver<u64>,
    )>,
    file_snapshot: Snapshot,
    index: Index,
    /// Bumped whenever the index or the policies change (enforce mode recompiles then).
    generation: u64,
}

fn report(problems: &[InventoryProblem]) {
    for p in problems {
        match p.severity {
            Severity::Error | Severity::Warning => warn!("inventory: {p}"),
            Severity::Note => {}
        }
    }
}

impl Enricher {
    /// Loads the sources once; a file that cannot be read at start is an error.
    pub fn start(sources: &InventorySources) -> anyhow::Result<Option<Self>> {
        if sources.file.is_none() && !sources.kubernetes {
            if !sources.policies.is_empty() {
                anyhow::bail!(
                    "network events need an inventory (the pods the policies select): give an inventory file or the cluster's API"
                );
            }
            return Ok(None);
        }
        let policies = if sources.policies.is_empty() {
            None
        } else {
            let (set, problems) = crate::policy::load_policies(&sources.policies)?;
            for p in &problems {
                warn!("policies: {p}");
            }
            let mut p = Policies {
                paths: sources.policies.clone(),
                stamps: policy_stamps(&sources.policies),
                set,
                inventory: Inventory::default(),
                cache: HashMap::new(),
                dns: None,
                dns_generation: 0,
            };
            p.follow_dns_names();
            Some(p)
        };
        let mut me = Self {
            shared: None,
            policies,
            file: None,
            kube: None,
            file_snapshot: Snapshot::default(),
            index: Index::default(),
            generation: 0,
        };
        if let Some(path) = &sources.file {
            let mut watcher = FileWatcher::new(path.clone());
            // The first poll loads the file; at start, failing to is an error.
            let Some((snapshot, problems)) = watcher.poll() else {
                let why = watcher
                    .last_error()
                    .map_or_else(|| "unreadable".to_string(), |e| e.to_string());
                anyhow::bail!("inventory {}: {why}", path.display());
            };
            report(&problems);
            me.file_snapshot = snapshot;
            me.file = Some(watcher);
        }
        if sources.kubernetes {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .context("starting the Kubernetes client runtime")?;
            let watcher = rt.block_on(async {
                let client = kube::Client::try_default()
                    .await
                    .context("connecting to the Kubernetes API (in-cluster or KUBECONFIG)")?;
                let w = KubeWatcher::start(client);
                w.ready().await.context("listing Kubernetes objects")?;
                anyhow::Ok(w)
            })?;
            let changes = watcher.changes();
            me.kube = Some((rt, watcher, changes));
        }
        me.rebuild();
        Ok(Some(me))
    }

    /// Everything the sources hold now: the file's objects, then the cluster's.
    fn snapshot(&self) -> Snapshot {
        let mut snapshot = self.file_snapshot.clone();
        if let Some((_, w, _)) = &self.kube {
            snapshot.extend(w.snapshot());
        }
        snapshot
    }

    fn rebuild(&mut self) {
        let snapshot = self.snapshot();
        let (index, problems) = Index::build(&snapshot);
        report(&problems);
        info!(endpoints = index.len(), "inventory index built");
        self.index = index;
        self.generation += 1;
        if self.policies.is_some() || self.shared.is_some() {
            let inventory = crate::policy::to_inventory(&snapshot);
            if let Some(shared) = &self.shared {
                if let Ok(mut slot) = shared.lock() {
                    *slot = Arc::new(inventory.clone());
                }
            }
            if let Some(p) = &mut self.policies {
                p.inventory = inventory;
                p.cache.clear();
            }
        }
    }

    /// The inventory for other threads, kept up to date from now on.
    pub fn share_inventory(&mut self) -> SharedInventory {
        if let Some(shared) = &self.shared {
            return shared.clone();
        }
        let inventory = match &self.policies {
            Some(p) => p.inventory.clone(),
            None => crate::policy::to_inventory(&self.snapshot()),
        };
        let shared = Arc::new(Mutex::new(Arc::new(inventory)));
        self.shared = Some(shared.clone());
        shared
    }

    /// The index as last built.
    pub fn index(&self) -> &Index {
        &self.index
    }

    /// Picks up file changes and API changes (cheap when nothing changed); true when the index
    /// was rebuilt.
    pub fn refresh(&mut self) -> bool {
        let mut changed = false;
        if let Some(w) = &mut self.file {
            // On a bad file the watcher warns once and we keep the previous index.
            if let Some((snapshot, problems)) = w.poll() {
                report(&problems);
                self.file_snapshot = snapshot;
                changed = true;
            }
        }
        if let Some((_, _, rx)) = &mut self.kube {
            if rx.has_changed().unwrap_or(false) {
                rx.borrow_and_update();
                changed = true;
            }
        }
        if let Some(p) = &mut self.policies {
            let stamps = policy_stamps(&p.paths);
            if stamps != p.stamps {
                p.stamps = stamps;
                match crate::policy::load_policies(&p.paths) {
                    Ok((set, problems)) => {
                        for pr in &problems {
                            warn!("policies: {pr}");
                        }
                        info!("policies reloaded");
                        p.set = set;
                        p.cache.clear();
                        p.follow_dns_names();
                        self.generation += 1;
                    }
                    Err(e) => warn!("policies: {e:#}; keeping the previous ones"),
                }
            }
        }
        if changed {
            self.rebuild();
        }
        changed
    }

    /// Changes whenever the index or the policies do.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The policies as the datapath enforces them (EgressFirewall `dnsName` rules replaced by
    /// the addresses the names resolve to now) and the inventory, when policies were given.
    pub fn enforceable_policies(&self) -> Option<(PolicySet, &Inventory)> {
        let p = self.policies.as_ref()?;
        let set = match &p.dns {
            Some(dns) => crate::dns_names::with_resolved_names(&p.set, &dns.by_addr()),
            None => p.set.clone(),
        };
        Some((set, &p.inventory))
    }

    /// Changes whenever an EgressFirewall `dnsName` resolves differently.
    pub fn dns_generation(&self) -> u64 {
        self.policies
            .as_ref()
            .and_then(|p| p.dns.as_ref())
            .map_or(0, DnsNames::generation)
    }

    /// The policies and the inventory they see, when policies were given.
    pub fn policies(&self) -> Option<(&PolicySet, &Inventory)> {
        self.policies.as_ref().map(|p| (&p.set, &p.inventory))
    }

    pub fn enrich(&mut self, rec: &mut FlowRecord) {
        self.enrich_with(rec, None);
    }

    /// Enriches `rec`; in enforce mode, `decided` holds what the datapath decided, which wins
    /// over the engine for every direction it judged (the engine fills in the others, e.g. the
    /// ingress of a pod on another node).
    pub fn enrich_with(&mut self, rec: &mut FlowRecord, decided: Option<&DatapathDecisions>) {
        enrich(rec, &self.index);
        let Some(p) = &mut self.policies else {
            return;
        };
        let engine = engine_events(p, rec);
        let conn = decided.and_then(|d| d.lookup(rec));
        let egress = conn.and_then(|c| c.egress.as_ref());
        let ingress = conn.and_then(|c| c.ingress.as_ref());
        let egress_denied = egress.is_some_and(|d| d.denied);
        let mut events: Vec<serde_json::Value> = egress.map_or(engine.egress, |d| d.events.clone());
        if !egress_denied {
            events.extend(ingress.map_or(engine.ingress, |d| d.events.clone()));
        }
        events.truncate(netpol::MAX_EVENTS);
        rec.network_events = events;
    }
}

/// The connection audit mode asks the engine about for a flow record: as recorded (source to
/// destination), any protocol without ports as [`Protocol::Other`] with port 0, and no DNS
/// names yet; `None` for a TCP, UDP or SCTP record without a destination port.
pub fn audit_connection(
    src: IpAddr,
    dst: IpAddr,
    proto: u8,
    dst_port: Option<u16>,
) -> Option<Connection> {
    let (protocol, port) = match (proto, dst_port) {
        (6, Some(port)) => (Protocol::Tcp, port),
        (17, Some(port)) => (Protocol::Udp, port),
        (132, Some(port)) => (Protocol::Sctp, port),
        (6 | 17 | 132, None) => return None,
        _ => (Protocol::Other, 0),
    };
    Some(Connection {
        src: Endpoint::Ip(src),
        dst: Endpoint::Ip(dst),
        protocol,
        port,
        dst_dns_names: Vec::new(),
    })
}

/// The events the engine decides for the record's connection, per direction, cached per
/// connection.
fn engine_events(p: &mut Policies, rec: &FlowRecord) -> DirectionEvents {
    let (Some(src), Some(dst)) = (rec.src_addr, rec.dst_addr) else {
        return DirectionEvents::default();
    };
    let Some(mut conn) = audit_connection(src, dst, rec.proto, rec.dst_port) else {
        return DirectionEvents::default();
    };
    if let Some(dns) = &p.dns {
        // A name now resolves elsewhere: every cached verdict may be stale.
        if dns.generation() != p.dns_generation {
            p.dns_generation = dns.generation();
            p.cache.clear();
        }
    }
    let key = (src, dst, rec.proto, conn.port);
    if let Some(events) = p.cache.get(&key) {
        return events.clone();
    }
    conn.dst_dns_names = p.dns.as_ref().map_or_else(Vec::new, |d| d.names_of(dst));
    let json = |d: &Option<netpol::DirectionVerdict>| -> Vec<serde_json::Value> {
        d.iter()
            .flat_map(|d| d.events.iter().map(|e| e.to_json()))
            .collect()
    };
    let events = match netpol::explain(&p.inventory, &p.set, &conn) {
        Ok(answer) => DirectionEvents {
            egress: json(&answer.egress),
            ingress: json(&answer.ingress),
        },
        Err(_) => DirectionEvents::default(),
    };
    if p.cache.len() >= EVENT_CACHE_MAX {
        p.cache.clear();
    }
    p.cache.insert(key, events.clone());
    events
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    const INVENTORY: &str = r#"
apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: v1
kind: Pod
metadata: {name: client, namespace: shop, labels: {app: client}}
spec: {nodeName: node-a}
status: {phase: Running, podIP: 10.0.0.1, podIPs: [{ip: 10.0.0.1}]}
"#;

    const POLICIES: &str = r#"
apiVersion: k8s.ovn.org/v1
kind: EgressFirewall
metadata: {name: default, namespace: shop}
spec:
  egress:
  - to: {dnsName: localhost}
    type: Allow
  - to: {cidrSelector: 0.0.0.0/0}
    type: Deny
"#;

    fn flow_to(dst: &str) -> FlowRecord {
        FlowRecord {
            src_addr: "10.0.0.1".parse().ok(),
            dst_addr: dst.parse().ok(),
            proto: 6,
            src_port: Some(40000),
            dst_port: Some(80),
            ..FlowRecord::default()
        }
    }

    fn messages(rec: &FlowRecord) -> Vec<&str> {
        rec.network_events
            .iter()
            .filter_map(|e| e["Message"].as_str())
            .collect()
    }

    #[test]
    fn egress_firewall_dns_names_match_the_addresses_they_resolve_to() {
        let dir = tempfile::tempdir().unwrap();
        let inventory = dir.path().join("inventory.yaml");
        let policies = dir.path().join("policies.yaml");
        std::fs::write(&inventory, INVENTORY).unwrap();
        std::fs::write(&policies, POLICIES).unwrap();
        let sources = InventorySources {
            file: Some(inventory),
            kubernetes: false,
            policies: vec![policies],
        };
        let mut enricher = Enricher::start(&sources).unwrap().unwrap();
        // localhost resolves (in the background) to 127.0.0.1: allowed by the dnsName rule.
        let allowed = "Allowed by egress firewall in namespace shop";
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut rec = flow_to("127.0.0.1");
        loop {
            enricher.enrich(&mut rec);
            if messages(&rec) == [allowed] || Instant::now() > deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(messages(&rec), [allowed]);
        // Any other outside address falls to the Deny rule.
        let mut rec = flow_to("192.0.2.1");
        enricher.enrich(&mut rec);
        assert_eq!(
            messages(&rec),
            ["Dropped by egress firewall in namespace shop"]
        );
    }
}
