//! Which host interface carries a pod's traffic: asked of the kernel's routing, as on a real node.
//!
//! - routed CNIs (Calico, Cilium, kindnet, AWS VPC CNI...): the route to the pod's IP leaves by the
//!   host side of its veth, without a gateway;
//! - bridge CNIs (bridge, flannel's cni0, `netwarden lab`): the route leaves by the bridge; the
//!   pod's port is the one the bridge forwards the pod's MAC to (neighbour table, then the
//!   bridge's forwarding table). Until the node has exchanged a packet with the pod it has no
//!   neighbour entry and the pod is unresolved (retried on every sync).
//!
//! Pods reached through a gateway, by a default route's interface (the node's uplink), or at an
//! address of the node itself are not on this node's pod interfaces and are never guarded.

use super::netlink::{FdbEntry, Link, Neighbour, Netlink, RTN_LOCAL};
use std::collections::{BTreeSet, HashMap};
use std::io;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// How long an address found off this node's pod interfaces is not asked about again: a node
/// whose inventory holds the whole cluster's pods then asks about each remote pod about once a
/// second, not on every sync.
const NOT_LOCAL_TTL: Duration = Duration::from_millis(750);

/// Where a pod IP leads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution {
    /// The host side of the pod's interface.
    Interface { index: u32, name: String },
    /// Not a pod interface of this node; the reason says why.
    NotLocal(String),
    /// Could not tell (yet); the reason says why.
    Unresolved(String),
}

/// Resolves pod IPs; caches tables for one sync round ([`Resolver::begin_round`]).
pub struct Resolver {
    nl: Netlink,
    uplinks: BTreeSet<u32>,
    links: HashMap<u32, Link>,
    neighbours: Option<Vec<Neighbour>>,
    fdb: Option<Vec<FdbEntry>>,
    not_local: HashMap<IpAddr, (Instant, String)>,
}

/// Addresses whose route shows the default route's interface.
const PROBES: [&str; 2] = ["192.0.2.1", "2001:db8::1"];

impl Resolver {
    /// A resolver for the calling thread's network namespace.
    pub fn new() -> io::Result<Resolver> {
        Ok(Resolver {
            nl: Netlink::open()?,
            uplinks: BTreeSet::new(),
            links: HashMap::new(),
            neighbours: None,
            fdb: None,
            not_local: HashMap::new(),
        })
    }

    /// Forgets cached tables and finds the uplinks again; call once per sync round.
    pub fn begin_round(&mut self) {
        self.links.clear();
        self.neighbours = None;
        self.fdb = None;
        self.not_local
            .retain(|_, (at, _)| at.elapsed() < NOT_LOCAL_TTL);
        self.uplinks.clear();
        for probe in PROBES {
            let Ok(ip) = probe.parse() else { continue };
            if let Ok(r) = self.nl.route_get(ip) {
                if let (true, Some(oif)) = (r.via_gateway, r.oif) {
                    self.uplinks.insert(oif);
                }
            }
        }
    }

    fn link(&mut self, index: u32) -> io::Result<Link> {
        if let Some(l) = self.links.get(&index) {
            return Ok(l.clone());
        }
        let l = self.nl.link(index)?;
        self.links.insert(index, l.clone());
        Ok(l)
    }

    /// The interface carrying traffic to and from `ip`.
    pub fn resolve(&mut self, ip: IpAddr) -> Resolution {
        if let Some((_, reason)) = self.not_local.get(&ip) {
            return Resolution::NotLocal(reason.clone());
        }
        let r = self.lookup(ip);
        if let Resolution::NotLocal(reason) = &r {
            self.not_local.insert(ip, (Instant::now(), reason.clone()));
        }
        r
    }

    fn lookup(&mut self, ip: IpAddr) -> Resolution {
        let route = match self.nl.route_get(ip) {
            Ok(r) => r,
            Err(e) => return Resolution::NotLocal(format!("no route to {ip}: {e}")),
        };
        if route.kind == RTN_LOCAL {
            return Resolution::NotLocal(format!("{ip} is an address of this node"));
        }
        if route.via_gateway {
            return Resolution::NotLocal(format!("{ip} is reached through a gateway"));
        }
        let Some(oif) = route.oif else {
            return Resolution::Unresolved(format!("the route to {ip} names no interface"));
        };
        let link = match self.link(oif) {
            Ok(l) => l,
            Err(e) => return Resolution::Unresolved(format!("interface {oif}: {e}")),
        };
        if self.uplinks.contains(&oif) {
            return Resolution::NotLocal(format!("{ip} is on {}, the node's uplink", link.name));
        }
        if link.kind == "bridge" {
            return self.bridge_port(ip, &link);
        }
        if oif == 1 || link.name == "lo" {
            return Resolution::NotLocal(format!("{ip} is on loopback"));
        }
        Resolution::Interface {
            index: oif,
            name: link.name,
        }
    }

    fn bridge_port(&mut self, ip: IpAddr, bridge: &Link) -> Resolution {
        if self.neighbours.is_none() {
            match self.nl.neighbours() {
                Ok(n) => self.neighbours = Some(n),
                Err(e) => return Resolution::Unresolved(format!("neighbour table: {e}")),
            }
        }
        if self.fdb.is_none() {
            match self.nl.fdb() {
                Ok(f) => self.fdb = Some(f),
                Err(e) => return Resolution::Unresolved(format!("bridge forwarding table: {e}")),
            }
        }
        let mac = self
            .neighbours
            .iter()
            .flatten()
            .find(|n| n.ip == ip && n.ifindex == bridge.index)
            .map(|n| n.lladdr.clone());
        let Some(mac) = mac else {
            return Resolution::Unresolved(format!(
                "{ip} is behind bridge {} and has no neighbour entry yet",
                bridge.name
            ));
        };
        let port = self
            .fdb
            .iter()
            .flatten()
            .find(|e| {
                e.lladdr == mac && e.master == Some(bridge.index) && e.ifindex != bridge.index
            })
            .map(|e| e.ifindex);
        let Some(port) = port else {
            return Resolution::Unresolved(format!(
                "{ip} is behind bridge {}; its MAC is not in the forwarding table",
                bridge.name
            ));
        };
        match self.link(port) {
            Ok(l) => Resolution::Interface {
                index: port,
                name: l.name,
            },
            Err(e) => Resolution::Unresolved(format!("bridge port {port}: {e}")),
        }
    }
}
