//! Enforce mode: the policies that apply to this node's pods, compiled into the tables the pod
//! guard's TC programs look up on each pod's host-side interface.
//!
//! Each local pod gets two rule sets, both keyed by the REMOTE address: `egress` (what the pod
//! may open, looked up by destination) and `ingress` (what may open connections to the pod,
//! looked up by source). They use the firewall's compiled form ([`CompiledFirewall`]: longest
//! prefix -> region -> per-protocol port segments), with the rule set's name in place of the
//! interface name. Every decision is Allow or Deny and names a slot of
//! [`Enforcement::decisions`]: the direction's verdict and deciding events as
//! [`explain_direction`] gives them, so the datapath can report which policy decided.
//!
//! # What a rule set answers
//!
//! For a local pod P, every remote address `r` (IPv4 and IPv6), every protocol and port:
//! `tables.lookup(rule set, r, proto, Some(port))` names the slot whose verdict is
//! [`explain_direction`] for `P -> r` (egress) or `r -> P` (ingress) with that protocol and
//! port; any other IP protocol (`region.other`) and packets whose headers cannot be walked
//! (`region.unparsed`) get the answer for [`Protocol::Other`]. A table's `fragment` decision
//! (non-first fragments: no port) is its first Allow segment, else its first (Deny) segment.
//! EgressFirewall `dnsName` rules are not compiled (a packet carries no name; the engine is asked
//! with no DNS names).
//!
//! # Method: address classes
//!
//! What a remote address changes in the evaluation is its place (pod, node, outside) and which
//! policy prefixes contain it (ipBlock `cidr` and `except`, ANP/BANP `networks`, EgressFirewall
//! `cidrSelector`, plus `0.0.0.0/0` and `::/0`). Those prefixes form a tree; the prefixes
//! containing an outside address are exactly the ancestors of the longest one, X. So:
//! - each policy prefix X is one class, judged at its first address that is in no longer prefix
//!   (a sweep over its children; a prefix its children cover entirely gets no entry);
//! - each pod and node address is its own `/32` or `/128` class, judged at itself;
//! - a class whose region equals the one its enclosing entry already gives gets no entry (the
//!   longest-prefix lookup falls through to the same answer), so an unprotected cluster compiles
//!   to two entries per rule set.
//!
//! Pod and node addresses with the same signature (namespace, labels, referenced named ports,
//! longest policy prefix; for nodes labels and prefix) share one evaluation, and so do local
//! pods with the same namespace, labels and referenced named ports.
//!
//! Ports: each protocol's segments start at 0 and at every port, range start and range end + 1
//! any policy names for it, and at the destination pod's named ports that policies reference;
//! each segment is judged at its start and equal neighbours merge.
//!
//! # Cost
//!
//! With A inventory addresses, N policy prefixes, G remote groups (at most A + N), L distinct
//! local pod signatures and B port boundaries per protocol, compiling runs the engine
//! `2 L G (3 (B + 1) + 1)` times (each run is linear in the policies' size), sorts the
//! `A + N` prefixes once (`O((A + N) log (A + N))`) and walks the prefix tree once per rule set
//! (`O(A + N)`). Address lookups use one hash map built up front.
//!
//! [`explain_direction`]: super::explain_direction

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::mem::{discriminant, Discriminant};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::cidr::Cidr;
use super::engine::{direction_verdict, DirectionVerdict, Place, Verdict};
use super::event::{self, Direction, EventType};
use super::load::PolicySet;
use super::model::{Connection, Endpoint, Inventory, NamedPort, PodInfo, Protocol};
use super::objects::{AdminRule, IntOrString, NetworkPolicyPeer, NetworkPolicyPort};
use crate::firewall::compiled::{
    self, proto, CompiledFirewall, Decision, PortTable, PrefixEntry, Region, RuleIdentity, Segment,
    MAX_SEGMENTS,
};

/// A local pod and the names of its two rule sets in [`Enforcement::tables`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EnforcedPod {
    /// The pod's namespace.
    pub namespace: String,
    /// The pod's name.
    pub name: String,
    /// Rule set judging what the pod opens, by destination (`NS/NAME/egress`).
    pub egress: String,
    /// Rule set judging what is opened towards the pod, by source (`NS/NAME/ingress`).
    pub ingress: String,
}

/// Everything the datapath needs to enforce the policies on the local pods.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Enforcement {
    /// The rule sets' tables; `prefixes[].interface` is a rule-set name of [`Self::pods`].
    /// `rules` has one placeholder identity per slot (object `network-policy`).
    pub tables: CompiledFirewall,
    /// What each slot (a [`crate::firewall::compiled::Decision`]'s `rule`) stands for; equal
    /// verdicts share one slot.
    pub decisions: Vec<DirectionVerdict>,
    /// The pods compiled, sorted by namespace and name.
    pub pods: Vec<EnforcedPod>,
    /// Local pods (namespace, name) the inventory does not know, sorted; they get no rule sets.
    pub skipped: Vec<(String, String)>,
}

/// Why the policies of a pod cannot be enforced.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnforceError {
    /// The ports the policies tell apart for one protocol do not fit a kernel table.
    #[error(
        "pod {namespace}/{name}, direction {direction}: {protocol} towards {remote} needs \
         {segments} port segments, more than the {MAX_SEGMENTS} a table holds"
    )]
    TooManySegments {
        /// The local pod's namespace.
        namespace: String,
        /// The local pod's name.
        name: String,
        /// The rule set's direction.
        direction: Direction,
        /// The protocol of the table.
        protocol: Protocol,
        /// A remote address of the region.
        remote: IpAddr,
        /// The segments needed.
        segments: usize,
    },
}

/// The name of a pod's rule set for `direction`.
pub fn ruleset_name(namespace: &str, name: &str, direction: Direction) -> String {
    match direction {
        Direction::Egress => format!("{namespace}/{name}/egress"),
        Direction::Ingress => format!("{namespace}/{name}/ingress"),
    }
}

/// Compiles the rule sets of the `local` pods (namespace, name); pods the inventory does not
/// know are listed in [`Enforcement::skipped`]. See the module documentation for what the
/// tables answer.
pub fn compile_enforcement(
    inv: &Inventory,
    policies: &PolicySet,
    local: &[(String, String)],
) -> Result<Enforcement, EnforceError> {
    let mut local: Vec<&(String, String)> = local.iter().collect();
    local.sort();
    local.dedup();
    let mut by_name: HashMap<(&str, &str), &PodInfo> = HashMap::new();
    for pod in &inv.pods {
        by_name
            .entry((pod.namespace.as_str(), pod.name.as_str()))
            .or_insert(pod);
    }
    let mut compiler = Compiler::new(inv, policies);
    let mut out = Enforcement::default();
    // Rule sets of local pods that look alike to the policies, per direction (true: egress).
    let mut done: HashMap<(LocalKey<'_>, bool), Vec<(Block, u32)>> = HashMap::new();
    for (namespace, name) in local {
        let Some(pod) = by_name.get(&(namespace.as_str(), name.as_str())) else {
            out.skipped.push((namespace.clone(), name.clone()));
            continue;
        };
        let egress = ruleset_name(namespace, name, Direction::Egress);
        let ingress = ruleset_name(namespace, name, Direction::Ingress);
        for (direction, ruleset) in [(Direction::Egress, &egress), (Direction::Ingress, &ingress)] {
            let key = (compiler.local_key(pod), direction == Direction::Egress);
            let entries = match done.entry(key) {
                Entry::Occupied(e) => e.into_mut(),
                Entry::Vacant(e) => e.insert(compiler.ruleset(pod, direction, ruleset)?),
            };
            compiler
                .tables
                .prefixes
                .extend(entries.iter().map(|(block, region)| PrefixEntry {
                    interface: ruleset.clone(),
                    addr: block.addr(block.start),
                    prefix_len: block.len,
                    region: *region,
                }));
        }
        out.pods.push(EnforcedPod {
            namespace: namespace.clone(),
            name: name.clone(),
            egress,
            ingress,
        });
    }
    let mut tables = compiler.tables;
    tables.prefixes.sort();
    tables.interfaces = out
        .pods
        .iter()
        .flat_map(|p| [p.egress.clone(), p.ingress.clone()])
        .collect();
    tables.interfaces.sort();
    out.pods.sort();
    out.tables = tables;
    out.decisions = compiler.decisions;
    Ok(out)
}

// ------------------------------------------------------------------------------ address blocks

/// A prefix as a range of addresses: the family, the first address (IPv4 in the low 32 bits)
/// and the length. Orders parents before their children.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct Block {
    v6: bool,
    start: u128,
    len: u8,
}

impl Block {
    /// The block of `addr/len`, host bits cleared.
    fn new(addr: IpAddr, len: u8) -> Block {
        let (v6, value) = match addr {
            IpAddr::V4(a) => (false, u128::from(u32::from(a))),
            IpAddr::V6(a) => (true, u128::from(a)),
        };
        let mut block = Block { v6, start: 0, len };
        block.len = len.min(block.bits());
        block.start = value & !block.host_mask();
        block
    }

    /// The `/32` or `/128` of `ip`.
    fn host(ip: IpAddr) -> Block {
        Block::new(ip, if ip.is_ipv4() { 32 } else { 128 })
    }

    fn bits(self) -> u8 {
        if self.v6 {
            128
        } else {
            32
        }
    }

    /// The host part's bits set.
    fn host_mask(self) -> u128 {
        // No host bits: a shift by 128, which `checked_shr` refuses.
        u128::MAX
            .checked_shr(128 - u32::from(self.bits() - self.len))
            .unwrap_or(0)
    }

    fn last(self) -> u128 {
        self.start | self.host_mask()
    }

    fn contains(self, other: Block) -> bool {
        self.v6 == other.v6
            && other.len >= self.len
            && (self.start..=self.last()).contains(&other.start)
    }

    /// The address `value` of the block's family.
    fn addr(self, value: u128) -> IpAddr {
        if self.v6 {
            IpAddr::V6(Ipv6Addr::from(value))
        } else {
            // IPv4 values never exceed 32 bits.
            IpAddr::V4(Ipv4Addr::from(u32::try_from(value).unwrap_or(u32::MAX)))
        }
    }
}

/// The first address of `block` in none of the longer blocks of `inside`, or `None` when they
/// cover it entirely: one sweep over them by first address (blocks outside `block` are ignored).
fn free_address(block: Block, inside: &[Block]) -> Option<IpAddr> {
    let mut inside: Vec<Block> = inside
        .iter()
        .copied()
        .filter(|b| b.len > block.len && block.contains(*b))
        .collect();
    inside.sort();
    let mut next = block.start;
    for b in inside {
        if b.start > next {
            break;
        }
        // Past the end of the address space: nothing is left after `b`.
        next = next.max(b.last().checked_add(1)?);
    }
    (next <= block.last()).then(|| block.addr(next))
}

// ------------------------------------------------------------------------------------ compiler

/// A node of the prefix tree.
#[derive(Debug)]
struct Class {
    block: Block,
    /// The longest block strictly containing this one (an index into the sorted classes).
    parent: Option<usize>,
    /// The remote group judged for the class; `None`: its children cover it.
    group: Option<usize>,
}

/// Remote addresses the policies cannot tell apart, and the one evaluated for all of them.
#[derive(Debug, Clone, Copy)]
struct Group<'a> {
    place: Place<'a>,
    probe: IpAddr,
}

/// What the policies can see of a remote address.
#[derive(Debug, PartialEq, Eq, Hash)]
enum GroupKey<'a> {
    Pod {
        namespace: &'a str,
        labels: &'a BTreeMap<String, String>,
        named_ports: Vec<&'a NamedPort>,
        within: Block,
    },
    Node {
        labels: &'a BTreeMap<String, String>,
        within: Block,
    },
    External(Block),
    /// A node address some pod runs on: NetworkPolicies do not isolate pods from their own node,
    /// so each such address is told apart.
    PodHost(IpAddr),
}

/// What the policies can see of a local pod.
#[derive(Debug, PartialEq, Eq, Hash)]
struct LocalKey<'a> {
    namespace: &'a str,
    labels: &'a BTreeMap<String, String>,
    named_ports: Vec<&'a NamedPort>,
    host_ips: &'a [IpAddr],
}

/// A [`DirectionVerdict`] as a hash key (the event types do not implement `Hash`).
type VerdictKey = (Discriminant<Direction>, Verdict, Vec<EventKey>);
type EventKey = (
    Discriminant<event::Action>,
    Discriminant<EventType>,
    String,
    String,
    Option<Discriminant<Direction>>,
);

fn verdict_key(d: &DirectionVerdict) -> VerdictKey {
    let events = d
        .events
        .iter()
        .map(|e| {
            (
                discriminant(&e.action),
                discriminant(&e.kind),
                e.name.clone(),
                e.namespace.clone(),
                e.direction.as_ref().map(discriminant),
            )
        })
        .collect();
    (discriminant(&d.direction), d.verdict, events)
}

/// The protocols with port tables: engine protocol and IP protocol number.
const PORT_PROTOCOLS: [(Protocol, u8); 3] = [
    (Protocol::Tcp, proto::TCP),
    (Protocol::Udp, proto::UDP),
    (Protocol::Sctp, proto::SCTP),
];

struct Compiler<'a> {
    inv: &'a Inventory,
    policies: &'a PolicySet,
    /// The prefix tree, parents first.
    classes: Vec<Class>,
    groups: Vec<Group<'a>>,
    /// Segment starts the policies imply, per [`PORT_PROTOCOLS`] entry (0 included).
    boundaries: [BTreeSet<u16>; 3],
    /// Port names the policies reference.
    named: HashSet<&'a str>,
    tables: CompiledFirewall,
    decisions: Vec<DirectionVerdict>,
    slots: HashMap<VerdictKey, u32>,
    regions: HashMap<Region, u32>,
}

impl<'a> Compiler<'a> {
    fn new(inv: &'a Inventory, policies: &'a PolicySet) -> Self {
        let mut compiler = Compiler {
            inv,
            policies,
            classes: Vec::new(),
            groups: Vec::new(),
            boundaries: std::array::from_fn(|_| BTreeSet::from([0])),
            named: HashSet::new(),
            tables: CompiledFirewall::default(),
            decisions: Vec::new(),
            slots: HashMap::new(),
            regions: HashMap::new(),
        };
        compiler.scan_policies();
        compiler.build_classes();
        compiler
    }

    /// Collects the ports and port names the policies mention.
    fn scan_policies(&mut self) {
        let policies = self.policies;
        for np in &policies.network_policies {
            let ports = np.spec.ingress.iter().flat_map(|r| &r.ports);
            for p in ports.chain(np.spec.egress.iter().flat_map(|r| &r.ports)) {
                self.np_port(p);
            }
        }
        let admin = policies.admin_network_policies.iter();
        for anp in admin.chain(policies.baseline.as_ref()) {
            for rule in anp.spec.ingress.iter().chain(&anp.spec.egress) {
                self.admin_ports(rule);
            }
        }
        for ef in &policies.egress_firewalls {
            for p in ef.spec.egress.iter().flat_map(|r| &r.ports) {
                if let (Ok(protocol), Some(n)) = (p.protocol.parse::<Protocol>(), p.port) {
                    self.range(protocol, n, n);
                }
            }
        }
    }

    fn np_port(&mut self, p: &'a NetworkPolicyPort) {
        let protocol = p.protocol.as_deref().map_or(Ok(Protocol::Tcp), str::parse);
        match (&p.port, protocol) {
            (Some(IntOrString::Int(n)), Ok(protocol)) => {
                self.range(protocol, *n, p.end_port.unwrap_or(*n));
            }
            (Some(IntOrString::String(name)), _) => {
                self.named.insert(name);
            }
            _ => {}
        }
    }

    fn admin_ports(&mut self, rule: &'a AdminRule) {
        let protocol = |p: &Option<String>| p.as_deref().map_or(Ok(Protocol::Tcp), str::parse);
        for p in rule.ports.iter().flatten() {
            if let Some(n) = &p.port_number {
                if let Ok(protocol) = protocol(&n.protocol) {
                    self.range(protocol, n.port, n.port);
                }
            }
            if let Some(r) = &p.port_range {
                if let Ok(protocol) = protocol(&r.protocol) {
                    self.range(protocol, r.start, r.end);
                }
            }
            if let Some(name) = &p.named_port {
                self.named.insert(name);
            }
        }
    }

    /// Segment starts for the ports `first..=last` of `protocol`.
    fn range(&mut self, protocol: Protocol, first: i64, last: i64) {
        if let Some(set) = protocol_index(protocol).map(|i| &mut self.boundaries[i]) {
            add_range(set, first, last);
        }
    }

    /// The prefix tree: policy prefixes and inventory addresses, and the group of each class.
    fn build_classes(&mut self) {
        let policies = self.policies;
        let mut policy_blocks: HashSet<Block> = HashSet::new();
        let mut add = |text: &str| {
            if let Ok(c) = text.parse::<Cidr>() {
                policy_blocks.insert(Block::new(c.addr, c.prefix));
            }
        };
        add("0.0.0.0/0");
        add("::/0");
        let np_peers = |peers: &'a [NetworkPolicyPeer]| peers.iter().flat_map(|p| &p.ip_block);
        for np in &policies.network_policies {
            let ingress = np.spec.ingress.iter().flat_map(|r| np_peers(&r.from));
            for block in ingress.chain(np.spec.egress.iter().flat_map(|r| np_peers(&r.to))) {
                add(&block.cidr);
                block.except.iter().for_each(|e| add(e));
            }
        }
        let admin = policies.admin_network_policies.iter();
        for anp in admin.chain(policies.baseline.as_ref()) {
            let rules = anp.spec.ingress.iter().chain(&anp.spec.egress);
            let peers = rules.flat_map(|r| r.from.iter().chain(&r.to));
            for network in peers.flat_map(|p| p.networks.iter().flatten()) {
                add(network);
            }
        }
        for ef in &policies.egress_firewalls {
            for cidr in ef.spec.egress.iter().flat_map(|r| &r.to.cidr_selector) {
                add(cidr);
            }
        }

        // Inventory addresses, placed as the engine places them: the first pod, else the first
        // node.
        let mut places: HashMap<IpAddr, Place<'a>> = HashMap::new();
        for pod in &self.inv.pods {
            for ip in &pod.ips {
                places.entry(*ip).or_insert(Place::Pod(pod, Some(*ip)));
            }
        }
        for node in &self.inv.nodes {
            for ip in &node.ips {
                places.entry(*ip).or_insert(Place::Node(node, *ip));
            }
        }

        let hosts: HashSet<IpAddr> = self
            .inv
            .pods
            .iter()
            .flat_map(|p| p.host_ips.iter().copied())
            .collect();
        let mut blocks: Vec<Block> = policy_blocks.iter().copied().collect();
        blocks.extend(places.keys().map(|ip| Block::host(*ip)));
        blocks.extend(hosts.iter().map(|ip| Block::host(*ip)));
        blocks.sort();
        blocks.dedup();

        // Parents by a stack walk (sorted blocks nest like brackets), then each class's probe.
        let mut parents = Vec::with_capacity(blocks.len());
        let mut children: Vec<Vec<Block>> = vec![Vec::new(); blocks.len()];
        let mut stack: Vec<usize> = Vec::new();
        for (i, block) in blocks.iter().enumerate() {
            while stack
                .last()
                .is_some_and(|&top| !blocks[top].contains(*block))
            {
                stack.pop();
            }
            let parent = stack.last().copied();
            if let Some(p) = parent {
                children[p].push(*block);
            }
            parents.push(parent);
            stack.push(i);
        }
        let mut groups: HashMap<GroupKey<'a>, usize> = HashMap::new();
        for (i, block) in blocks.iter().enumerate() {
            let host = places.get(&block.addr(block.start)).filter(|_| {
                block.len == block.bits() // an inventory address, judged as itself
            });
            let exact = block.len == block.bits();
            let (place, probe) = match host {
                Some(place) => (*place, block.addr(block.start)),
                None if exact && hosts.contains(&block.addr(block.start)) => {
                    let ip = block.addr(block.start);
                    (Place::External(ip), ip)
                }
                None => match free_address(*block, &children[i]) {
                    Some(ip) => (Place::External(ip), ip),
                    None => {
                        self.classes.push(Class {
                            block: *block,
                            parent: parents[i],
                            group: None,
                        });
                        continue;
                    }
                },
            };
            let within = longest_within(&policy_blocks, probe);
            let key = match place {
                _ if exact && hosts.contains(&probe) => GroupKey::PodHost(probe),
                Place::Pod(pod, _) => GroupKey::Pod {
                    namespace: &pod.namespace,
                    labels: &pod.labels,
                    named_ports: self.referenced(pod),
                    within,
                },
                Place::Node(node, _) => GroupKey::Node {
                    labels: &node.labels,
                    within,
                },
                Place::External(_) => GroupKey::External(within),
            };
            let next = self.groups.len();
            let group = *groups.entry(key).or_insert(next);
            if group == next {
                self.groups.push(Group { place, probe });
            }
            self.classes.push(Class {
                block: *block,
                parent: parents[i],
                group: Some(group),
            });
        }
    }

    /// The named ports of `pod` that policies reference.
    fn referenced(&self, pod: &'a PodInfo) -> Vec<&'a NamedPort> {
        pod.named_ports
            .iter()
            .filter(|np| self.named.contains(np.name.as_str()))
            .collect()
    }

    fn local_key(&self, pod: &'a PodInfo) -> LocalKey<'a> {
        LocalKey {
            namespace: &pod.namespace,
            labels: &pod.labels,
            named_ports: self.referenced(pod),
            host_ips: &pod.host_ips,
        }
    }

    /// The entries (block, region) of `local`'s rule set for `direction`, named `ruleset`.
    fn ruleset(
        &mut self,
        local: &'a PodInfo,
        direction: Direction,
        ruleset: &str,
    ) -> Result<Vec<(Block, u32)>, EnforceError> {
        let mut regions = Vec::with_capacity(self.groups.len());
        for group in self.groups.clone() {
            regions.push(self.region(local, direction, group, ruleset)?);
        }
        // Parents come first, so `effective` of the parent is known: the region the
        // longest-prefix lookup falls through to when a class has no entry.
        let mut effective: Vec<Option<u32>> = Vec::with_capacity(self.classes.len());
        let mut entries = Vec::new();
        for class in &self.classes {
            let inherited = class.parent.and_then(|p| effective[p]);
            let own = class.group.map(|g| regions[g]);
            if let Some(region) = own.filter(|r| Some(*r) != inherited) {
                entries.push((class.block, region));
            }
            effective.push(own.or(inherited));
        }
        Ok(entries)
    }

    /// The region (interned) of `group` in `local`'s rule set for `direction`.
    fn region(
        &mut self,
        local: &'a PodInfo,
        direction: Direction,
        group: Group<'a>,
        ruleset: &str,
    ) -> Result<u32, EnforceError> {
        let here = Place::Pod(local, local.ips.first().copied());
        let local_end = Endpoint::Pod {
            namespace: local.namespace.clone(),
            name: local.name.clone(),
        };
        let remote_end = Endpoint::Ip(group.probe);
        let (src, dst, mut conn) = match direction {
            Direction::Egress => (here, group.place, connection(local_end, remote_end)),
            Direction::Ingress => (group.place, here, connection(remote_end, local_end)),
        };
        let other = self.decide(&conn, src, dst, direction, ruleset);
        let dst_pod = match dst {
            Place::Pod(pod, _) => Some(pod),
            _ => None,
        };
        let mut tables = BTreeMap::new();
        for (i, (protocol, number)) in PORT_PROTOCOLS.into_iter().enumerate() {
            let mut starts = self.boundaries[i].clone();
            for np in dst_pod.map(|p| self.referenced(p)).unwrap_or_default() {
                if np.protocol == protocol {
                    add_range(&mut starts, i64::from(np.port), i64::from(np.port));
                }
            }
            conn.protocol = protocol;
            let mut segments: Vec<Segment> = Vec::new();
            for start in starts {
                conn.port = start;
                let decision = self.decide(&conn, src, dst, direction, ruleset);
                if segments.last().is_none_or(|s| s.decision != decision) {
                    segments.push(Segment { start, decision });
                }
            }
            if segments.len() > MAX_SEGMENTS {
                return Err(EnforceError::TooManySegments {
                    namespace: local.namespace.clone(),
                    name: local.name.clone(),
                    direction,
                    protocol,
                    remote: group.probe,
                    segments: segments.len(),
                });
            }
            // One segment equal to `other`: the lookup without a table gives the same.
            if let [only] = segments[..] {
                if only.decision == other {
                    continue;
                }
            }
            let fragment = segments
                .iter()
                .map(|s| s.decision)
                .find(|d| d.verdict == compiled::Verdict::Allow)
                .unwrap_or(segments[0].decision);
            tables.insert(number, PortTable { segments, fragment });
        }
        let region = Region {
            tables,
            other,
            unparsed: other,
        };
        let next = u32::try_from(self.tables.regions.len()).unwrap_or(u32::MAX);
        let index = *self.regions.entry(region.clone()).or_insert(next);
        if index == next {
            self.tables.regions.push(region);
        }
        Ok(index)
    }

    /// The engine's verdict for `conn`, as a decision naming its (interned) slot.
    fn decide(
        &mut self,
        conn: &Connection,
        src: Place<'a>,
        dst: Place<'a>,
        direction: Direction,
        ruleset: &str,
    ) -> Decision {
        // The local end is a pod, so the direction always has a verdict.
        let verdict = direction_verdict(self.inv, self.policies, conn, src, dst, direction)
            .unwrap_or(DirectionVerdict {
                direction,
                verdict: Verdict::Allowed,
                events: Vec::new(),
            });
        let action = match verdict.verdict {
            Verdict::Allowed => compiled::Action::Allow,
            Verdict::Dropped => compiled::Action::Deny,
        };
        let key = verdict_key(&verdict);
        let slot = match self.slots.get(&key) {
            Some(slot) => *slot,
            None => {
                let slot = u32::try_from(self.decisions.len()).unwrap_or(u32::MAX);
                self.tables.rules.push(RuleIdentity {
                    object: "network-policy".into(),
                    interface: ruleset.to_string(),
                    cidr: String::new(),
                    order: slot.saturating_add(1),
                    action,
                    protocol: None,
                    selector: None,
                });
                self.decisions.push(verdict);
                self.slots.insert(key, slot);
                slot
            }
        };
        Decision {
            verdict: match action {
                compiled::Action::Allow => compiled::Verdict::Allow,
                compiled::Action::Deny => compiled::Verdict::Deny,
            },
            rule: Some(slot),
        }
    }
}

fn connection(src: Endpoint, dst: Endpoint) -> Connection {
    Connection {
        src,
        dst,
        protocol: Protocol::Other,
        port: 0,
        dst_dns_names: Vec::new(),
    }
}

fn protocol_index(protocol: Protocol) -> Option<usize> {
    PORT_PROTOCOLS.iter().position(|(p, _)| *p == protocol)
}

/// Adds the segment starts of the ports `first..=last` (ports outside 0..=65535 are ignored).
fn add_range(starts: &mut BTreeSet<u16>, first: i64, last: i64) {
    for n in [first, last.saturating_add(1)] {
        if let Ok(port) = u16::try_from(n) {
            starts.insert(port);
        }
    }
}

/// The longest of `blocks` containing `ip` (`0.0.0.0/0` and `::/0` are always there).
fn longest_within(blocks: &HashSet<Block>, ip: IpAddr) -> Block {
    let host = Block::host(ip);
    (0..=host.len)
        .rev()
        .map(|len| Block::new(ip, len))
        .find(|b| blocks.contains(b))
        .unwrap_or_else(|| Block::new(ip, 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(text: &str) -> Block {
        let c: Cidr = text.parse().unwrap();
        Block::new(c.addr, c.prefix)
    }

    #[test]
    fn free_address_skips_longer_prefixes() {
        let cases: &[(&str, &[&str], Option<&str>)] = &[
            ("10.0.0.0/24", &[], Some("10.0.0.0")),
            ("10.0.0.0/24", &["10.0.0.0/25"], Some("10.0.0.128")),
            ("10.0.0.0/24", &["10.0.0.0/25", "10.0.0.128/25"], None),
            (
                "10.0.0.0/24",
                &["10.0.0.0/25", "10.0.0.128/26", "10.0.0.192/26"],
                None,
            ),
            (
                "10.0.0.0/24",
                &["10.0.0.0/25", "10.0.0.0/32", "10.0.0.129/32"],
                Some("10.0.0.128"),
            ),
            (
                "10.0.0.0/24",
                &["10.0.0.128/32", "10.0.0.0/25"],
                Some("10.0.0.129"),
            ),
            ("10.0.0.7/32", &[], Some("10.0.0.7")),
            ("0.0.0.0/0", &["0.0.0.0/1", "128.0.0.0/1"], None),
            (
                "0.0.0.0/0",
                &["0.0.0.0/1", "128.0.0.0/2"],
                Some("192.0.0.0"),
            ),
            ("::/0", &["::/1", "8000::/1"], None),
            ("::/0", &["::/1", "8000::/2", "c000::/2"], None),
            ("::/0", &["::/1", "8000::/2", "c000::/3"], Some("e000::")),
            (
                "fd00::/64",
                &["fd00::/65", "fd00::8000:0:0:0/128"],
                Some("fd00::8000:0:0:1"),
            ),
            // Blocks outside the prefix, of the other family, or not longer do not count.
            ("10.0.0.0/31", &["10.0.0.2/31", "::/0"], Some("10.0.0.0")),
            (
                "10.0.0.0/31",
                &["10.0.0.0/31", "10.0.0.0/30", "0.0.0.0/0"],
                Some("10.0.0.0"),
            ),
        ];
        for (prefix, inside, want) in cases {
            let inside: Vec<Block> = inside.iter().map(|b| block(b)).collect();
            let got = free_address(block(prefix), &inside);
            assert_eq!(got, want.map(|w| w.parse().unwrap()), "{prefix} {inside:?}");
        }
    }

    #[test]
    fn blocks_nest_and_clear_host_bits() {
        assert_eq!(block("10.1.2.3/8"), block("10.0.0.0/8"));
        assert!(block("10.0.0.0/8").contains(block("10.255.0.0/16")));
        assert!(!block("10.0.0.0/8").contains(block("11.0.0.0/16")));
        assert!(!block("0.0.0.0/0").contains(block("::/0")));
        assert!(block("::/0").contains(block("::1/128")));
        assert_eq!(block("0.0.0.0/0").last(), u128::from(u32::MAX));
        assert_eq!(block("::/0").last(), u128::MAX);
        assert_eq!(block("10.0.0.1/32").last(), block("10.0.0.1/32").start);
    }
}
