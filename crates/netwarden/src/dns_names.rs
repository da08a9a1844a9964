//! The names EgressFirewall `dnsName` rules talk about, resolved to addresses, so audit mode can
//! tell which names a flow's destination is known by.
//!
//! OVN-Kubernetes resolves each rule's name itself and applies the rule to the addresses it
//! gets; netwarden does the same through the system resolver, on a thread of its own (lookups can
//! take seconds and must never hold up capture), every [`REFRESH`] and whenever the set of names
//! changes. Wildcard names (`*.example.com`) cannot be resolved this way and match nothing here.

use std::collections::{BTreeSet, HashMap};
use std::net::{IpAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;
use tracing::{debug, warn};

/// How often every name is resolved again (OVN-Kubernetes follows the records' TTLs; a fixed
/// period keeps this simple and bounded).
pub const REFRESH: Duration = Duration::from_secs(30);

/// Resolves one name to its addresses (empty when it does not resolve).
pub type Resolve = Arc<dyn Fn(&str) -> Vec<IpAddr> + Send + Sync>;

/// The system resolver (`/etc/hosts`, then DNS as `/etc/nsswitch.conf` says).
pub fn system_resolver() -> Resolve {
    Arc::new(|name: &str| match (name, 0u16).to_socket_addrs() {
        Ok(addrs) => addrs.map(|a| a.ip()).collect(),
        Err(e) => {
            debug!(name, "EgressFirewall dnsName does not resolve: {e}");
            Vec::new()
        }
    })
}

#[derive(Default)]
struct Shared {
    /// The names to resolve.
    wanted: BTreeSet<String>,
    /// Set when `wanted` changed, so the thread resolves at once.
    changed: bool,
    /// Address -> the wanted names resolving to it.
    by_addr: HashMap<IpAddr, Vec<String>>,
}

/// Resolved names, kept up to date by a background thread.
pub struct DnsNames {
    shared: Arc<(Mutex<Shared>, Condvar)>,
    /// Bumped whenever `by_addr` changes (cached verdicts are then stale).
    generation: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl DnsNames {
    /// Starts resolving `names` with `resolve` every `every`.
    pub fn start(names: BTreeSet<String>, resolve: Resolve, every: Duration) -> Self {
        let shared = Arc::new((
            Mutex::new(Shared {
                wanted: names,
                changed: true,
                ..Shared::default()
            }),
            Condvar::new(),
        ));
        let generation = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (shared, generation, stop) = (shared.clone(), generation.clone(), stop.clone());
            std::thread::Builder::new()
                .name("dns-names".into())
                .spawn(move || resolve_loop(&shared, &generation, &stop, &resolve, every))
                .map_err(|e| warn!("EgressFirewall dnsName resolver thread: {e}"))
                .ok()
        };
        Self {
            shared,
            generation,
            stop,
            thread,
        }
    }

    /// Replaces the names to resolve (after the policies changed).
    pub fn set_names(&self, names: BTreeSet<String>) {
        let (lock, wake) = &*self.shared;
        if let Ok(mut s) = lock.lock() {
            if s.wanted != names {
                s.wanted = names;
                s.changed = true;
                wake.notify_one();
            }
        }
    }

    /// The wanted names `addr` resolved to at the last lookup.
    pub fn names_of(&self, addr: IpAddr) -> Vec<String> {
        let (lock, _) = &*self.shared;
        lock.lock()
            .ok()
            .and_then(|s| s.by_addr.get(&addr).cloned())
            .unwrap_or_default()
    }

    /// Every resolved address with its names, as at the last lookup.
    pub fn by_addr(&self) -> HashMap<IpAddr, Vec<String>> {
        let (lock, _) = &*self.shared;
        lock.lock().map(|s| s.by_addr.clone()).unwrap_or_default()
    }

    /// Changes whenever some name resolves differently.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Relaxed)
    }
}

impl Drop for DnsNames {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        self.shared.1.notify_one();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn resolve_loop(
    shared: &(Mutex<Shared>, Condvar),
    generation: &AtomicU64,
    stop: &AtomicBool,
    resolve: &Resolve,
    every: Duration,
) {
    let (lock, wake) = shared;
    while !stop.load(Ordering::Relaxed) {
        let wanted = match lock.lock() {
            Ok(mut s) => {
                s.changed = false;
                s.wanted.clone()
            }
            Err(_) => return,
        };
        // Resolve without the lock: lookups may take seconds.
        let by_addr = resolve_now(&wanted, resolve);
        let Ok(mut s) = lock.lock() else { return };
        if s.by_addr != by_addr {
            s.by_addr = by_addr;
            generation.fetch_add(1, Ordering::Relaxed);
        }
        if !s.changed && !stop.load(Ordering::Relaxed) {
            let _ = wake.wait_timeout(s, every);
        }
    }
}

/// Resolves `names` once, now: address -> the names resolving to it (wildcards skipped).
pub fn resolve_now(names: &BTreeSet<String>, resolve: &Resolve) -> HashMap<IpAddr, Vec<String>> {
    let mut by_addr: HashMap<IpAddr, Vec<String>> = HashMap::new();
    for name in names.iter().filter(|n| !n.starts_with("*.")) {
        for addr in resolve(name.trim_end_matches('.')) {
            let names = by_addr.entry(addr).or_default();
            if !names.contains(name) {
                names.push(name.clone());
            }
        }
    }
    by_addr
}

/// `set` as the datapath can enforce it: every EgressFirewall `dnsName` rule becomes one
/// `cidrSelector` rule per address the name resolves to (a `/32` or `/128`, same type and
/// ports, in the rule's place), which is what OVN-Kubernetes programs; a name that resolves to
/// nothing (or a wildcard) leaves no rule, as it matches no address.
pub fn with_resolved_names(
    set: &netwarden_policy::netpol::PolicySet,
    by_addr: &HashMap<IpAddr, Vec<String>>,
) -> netwarden_policy::netpol::PolicySet {
    let mut out = set.clone();
    for ef in &mut out.egress_firewalls {
        let rules = std::mem::take(&mut ef.spec.egress);
        for rule in rules {
            let Some(name) = &rule.to.dns_name else {
                ef.spec.egress.push(rule);
                continue;
            };
            let mut addrs: Vec<IpAddr> = by_addr
                .iter()
                .filter(|(_, names)| names.contains(name))
                .map(|(addr, _)| *addr)
                .collect();
            addrs.sort();
            for addr in addrs {
                let mut r = rule.clone();
                r.to.dns_name = None;
                let len = if addr.is_ipv4() { 32 } else { 128 };
                r.to.cidr_selector = Some(format!("{addr}/{len}"));
                ef.spec.egress.push(r);
            }
        }
    }
    out
}

/// The `dnsName`s of every EgressFirewall rule of `set`.
pub fn policy_names(set: &netwarden_policy::netpol::PolicySet) -> BTreeSet<String> {
    set.egress_firewalls
        .iter()
        .flat_map(|ef| ef.spec.egress.iter())
        .filter_map(|r| r.to.dns_name.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    fn wait_for(what: impl Fn() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while !what() {
            assert!(Instant::now() < deadline, "timed out");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn names_resolve_in_the_background_and_follow_changes() {
        let answers: Arc<Mutex<HashMap<String, Vec<IpAddr>>>> = Arc::new(Mutex::new(
            [(
                "api.example.com".to_string(),
                vec!["192.0.2.10".parse().unwrap()],
            )]
            .into(),
        ));
        let lookups = answers.clone();
        let resolve: Resolve =
            Arc::new(move |n: &str| lookups.lock().unwrap().get(n).cloned().unwrap_or_default());
        let names = ["api.example.com.", "*.example.org", "gone.example.com"]
            .map(String::from)
            .into();
        let dns = DnsNames::start(names, resolve, Duration::from_millis(20));
        let addr: IpAddr = "192.0.2.10".parse().unwrap();
        wait_for(|| !dns.names_of(addr).is_empty());
        assert_eq!(dns.names_of(addr), ["api.example.com."]);
        let seen = dns.generation();
        // The record changes: the next round sees it.
        answers.lock().unwrap().insert(
            "api.example.com".into(),
            vec!["192.0.2.11".parse().unwrap()],
        );
        wait_for(|| dns.generation() != seen);
        assert!(dns.names_of(addr).is_empty());
        assert_eq!(
            dns.names_of("192.0.2.11".parse().unwrap()),
            ["api.example.com."]
        );
        // Names the policies no longer use are dropped.
        dns.set_names(BTreeSet::new());
        wait_for(|| dns.names_of("192.0.2.11".parse().unwrap()).is_empty());
    }

    #[test]
    fn enforced_dns_names_become_the_addresses_they_resolve_to_in_place() {
        let (set, problems) = netwarden_policy::netpol::parse_str(
            r#"
apiVersion: k8s.ovn.org/v1
kind: EgressFirewall
metadata: {name: default, namespace: shop}
spec:
  egress:
  - {type: Allow, to: {cidrSelector: 8.8.8.0/24}}
  - {type: Allow, to: {dnsName: api.example.com}, ports: [{protocol: TCP, port: 443}]}
  - {type: Allow, to: {dnsName: "*.example.org"}}
  - {type: Deny, to: {cidrSelector: 0.0.0.0/0}}
"#,
            "ef.yaml",
        )
        .unwrap();
        assert!(problems.is_empty(), "{problems:?}");
        let by_addr: HashMap<IpAddr, Vec<String>> = [
            (
                "192.0.2.10".parse().unwrap(),
                vec!["api.example.com".into()],
            ),
            (
                "2001:db8::1".parse().unwrap(),
                vec!["api.example.com".into()],
            ),
        ]
        .into();
        let out = with_resolved_names(&set, &by_addr);
        let rules: Vec<(String, Option<String>, usize)> = out.egress_firewalls[0]
            .spec
            .egress
            .iter()
            .map(|r| (r.kind.clone(), r.to.cidr_selector.clone(), r.ports.len()))
            .collect();
        let rule =
            |kind: &str, cidr: &str, ports| (kind.to_string(), Some(cidr.to_string()), ports);
        assert_eq!(
            rules,
            [
                rule("Allow", "8.8.8.0/24", 0),
                rule("Allow", "192.0.2.10/32", 1),
                rule("Allow", "2001:db8::1/128", 1),
                rule("Deny", "0.0.0.0/0", 0),
            ]
        );
    }

    #[test]
    fn localhost_resolves_through_the_system_resolver() {
        let ips = system_resolver()("localhost");
        assert!(ips.contains(&"127.0.0.1".parse().unwrap()), "{ips:?}");
    }
}
