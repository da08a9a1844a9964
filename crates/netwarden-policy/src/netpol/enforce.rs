//! Enforce mode: the policies that apply to this node's pods, compiled into the tables the pod
//! guard's TC programs look up on each pod's host-side interface.
//!
//! Each local pod has two rule sets, both judged by the REMOTE address: `egress` (what the pod
//! may open, by destination) and `ingress` (what may open connections to the pod, by source).
//! Every decision is Allow or Deny and names a slot of [`Enforcement::decisions`]: the
//! direction's verdict and deciding events as [`explain_direction`] gives them, so the datapath
//! can report which policy decided.
//!
//! # Two stages: address classes, then rule sets
//!
//! A lookup is `address -> class -> region -> decision`:
//! 1. [`Enforcement::classes`], one longest-prefix table shared by every rule set, gives the
//!    remote address's CLASS: addresses no policy can tell apart (see below);
//! 2. the rule set gives the class's [`Region`] (its explicit entry, else its `default`);
//! 3. the region gives the decision as in the firewall's compiled form
//!    ([`crate::firewall::compiled`]): the protocol's port table, else `other`.
//!
//! So the kernel holds one entry per inventory address and policy prefix (not per rule set),
//! plus, per rule set, only the classes whose region differs from its default. Local pods whose
//! policies look alike share one rule set ([`EnforcedPod::egress`] and `ingress` name it), and
//! so does any rule set with the same contents.
//!
//! # What a rule set answers
//!
//! For a local pod P, every remote address `r` (IPv4 and IPv6), every protocol and port:
//! [`Enforcement::lookup`] of P's rule set at `r`, protocol and port names the slot whose verdict
//! is [`explain_direction`] for `P -> r` (egress) or `r -> P` (ingress) with that protocol and
//! port; any other IP protocol (`region.other`) and packets whose headers cannot be walked
//! (`region.unparsed`) get the answer for [`Protocol::Other`]. A table's `fragment` decision
//! (non-first fragments: no port) is its first Allow segment, else its first (Deny) segment.
//! EgressFirewall `dnsName` rules are not compiled (a packet carries no name; the engine is asked
//! with no DNS names).
//!
//! # Classes
//!
//! What a remote address changes in the evaluation is its place (pod, node, outside), for pods
//! their namespace, labels and the named ports egress rules reference, for nodes their labels,
//! whether it is the address of a node some pod runs on (NetworkPolicies never isolate a pod from
//! its own node), and which policy prefixes contain it (ipBlock `cidr` and `except`, ANP/BANP
//! `networks`, EgressFirewall `cidrSelector`, plus `0.0.0.0/0` and `::/0`). Those prefixes form
//! a tree; the prefixes containing an address are exactly the ancestors of the longest one. So
//! the class table holds each policy prefix (its class is that of its first address in no
//! longer prefix; a prefix its children cover entirely gets no entry) and each pod and node
//! address as a `/32` or `/128`. Then classes that match the same peers of every policy (and
//! have the same place, named ports and node-of-a-pod status) merge: pods of Deployments whose
//! labels differ only by ones no selector reads, outside prefixes every rule treats alike. An
//! entry whose class equals the one its enclosing entry gives is left out (the longest-prefix
//! lookup falls through to the same class).
//!
//! # Rule sets
//!
//! A rule set is compiled for a VIEW: a direction and what the tiers see of the local pod (its
//! namespace, the AdminNetworkPolicies and NetworkPolicies that select it, whether the baseline
//! does, its named ports, its node's addresses). Only the peers, prefixes and ports of the
//! view's rules can change its answers, so classes are grouped by how those peers match them
//! (one bit per peer, computed once per peer over all classes and shared by every view), and the
//! engine is asked once per group and per port segment start of the view's rules. The region
//! most classes get becomes the rule set's default.
//!
//! # Cost
//!
//! With A inventory addresses and policy prefixes, C classes, V distinct views, K peer groups
//! per view and B port boundaries per view's rules, compiling sorts the A prefixes once, matches
//! each peer of the policies against the classes once (selectors only against the namespaces
//! they can select, prefixes by containment), builds `V C` group keys and runs the engine
//! `V K (3 (B + 1) + 1)` times; the engine finds a namespace's policies and labels by hash.
//!
//! [`explain_direction`]: super::explain_direction

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::cidr::Cidr;
use super::engine::{
    admin_peer_matches_place, direction_verdict, ef_destination_matches, np_peer_matches_place,
    np_selects_pod, subject_selects, DirectionVerdict, Index, Place, Verdict,
};
use super::event::Direction;
use super::load::PolicySet;
use super::model::{Connection, Endpoint, Inventory, NamedPort, PodInfo, Protocol};
use super::objects::{
    AdminNetworkPolicy, AdminPeer, AdminRule, EgressFirewall, EgressFirewallRule, IntOrString,
    IpBlock, NetworkPolicy, NetworkPolicyPeer, NetworkPolicyPort,
};
use crate::firewall::compiled::{self, proto, Decision, PortTable, Region, Segment, MAX_SEGMENTS};

/// A local pod and its two rule sets (indexes into [`Enforcement::rule_sets`]; pods that look
/// alike to the policies share them).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EnforcedPod {
    /// The pod's namespace.
    pub namespace: String,
    /// The pod's name.
    pub name: String,
    /// Rule set judging what the pod opens, by destination.
    pub egress: u32,
    /// Rule set judging what is opened towards the pod, by source.
    pub ingress: u32,
}

/// One entry of the class table: the addresses of `addr/prefix_len` (host bits clear) whose
/// longest entry this is are in `class`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClassPrefix {
    /// The first address.
    pub addr: IpAddr,
    /// The prefix length.
    pub prefix_len: u8,
    /// The class, below [`Enforcement::class_count`].
    pub class: u32,
}

/// The regions of one rule set, by class.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct RuleSet {
    /// The region of every class without an entry in `regions` (an index into
    /// [`Enforcement::regions`]).
    pub default: u32,
    /// (class, region), sorted by class; no region equals `default`.
    pub regions: Vec<(u32, u32)>,
}

impl RuleSet {
    /// The region of `class`.
    pub fn region_of(&self, class: u32) -> u32 {
        self.regions
            .binary_search_by_key(&class, |(c, _)| *c)
            .map_or(self.default, |i| self.regions[i].1)
    }
}

/// Everything the datapath needs to enforce the policies on the local pods.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Enforcement {
    /// The class table, shared by every rule set: sorted, unique prefixes of both families,
    /// `0.0.0.0/0` and `::/0` among them unless longer entries cover them entirely.
    pub classes: Vec<ClassPrefix>,
    /// Classes are numbered `0..class_count`.
    pub class_count: u32,
    /// The rule sets; [`Self::pods`] name them.
    pub rule_sets: Vec<RuleSet>,
    /// Regions, interned (no two equal); their decisions name slots of [`Self::decisions`].
    pub regions: Vec<Region>,
    /// What each slot (a [`Decision`]'s `rule`) stands for; equal verdicts share one slot.
    pub decisions: Vec<DirectionVerdict>,
    /// The pods compiled, sorted by namespace and name.
    pub pods: Vec<EnforcedPod>,
    /// Local pods (namespace, name) the inventory does not know, sorted; they get no rule sets.
    pub skipped: Vec<(String, String)>,
    /// The class table by (family, length) then first address, for [`Self::class_of`].
    index: ClassIndex,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
struct ClassIndex {
    /// (is IPv6, length) of the entries, longest first.
    lengths: Vec<(bool, u8)>,
    entries: HashMap<(bool, u8, u128), u32>,
}

impl Enforcement {
    /// The class of `ip`: that of the longest entry of [`Self::classes`] containing it.
    pub fn class_of(&self, ip: IpAddr) -> Option<u32> {
        let host = Block::host(ip);
        self.index
            .lengths
            .iter()
            .filter(|(v6, _)| *v6 == host.v6)
            .find_map(|&(v6, len)| {
                let b = Block::new(ip, len);
                self.index.entries.get(&(v6, len, b.start)).copied()
            })
    }

    /// The region rule set `set` gives the remote address `remote`.
    pub fn region_for(&self, set: u32, remote: IpAddr) -> Option<&Region> {
        let set = self.rule_sets.get(set as usize)?;
        let region = match self.class_of(remote) {
            Some(class) => set.region_of(class),
            None => set.default,
        };
        self.regions.get(region as usize)
    }

    /// What the kernel decides with rule set `set` for a packet to or from `remote` with IP
    /// protocol `proto` and `selector` (the port); `selector` `None` is a non-first fragment or
    /// a transport header cut short. [`Decision::PASS`] for an unknown rule set.
    pub fn lookup(&self, set: u32, remote: IpAddr, proto: u8, selector: Option<u16>) -> Decision {
        let Some(region) = self.region_for(set, remote) else {
            return Decision::PASS;
        };
        match (region.tables.get(&proto), selector) {
            (None, _) => region.other,
            (Some(table), None) => table.fragment,
            (Some(table), Some(selector)) => table.decide(selector),
        }
    }

    /// What the kernel decides with rule set `set` for a packet whose headers it cannot walk.
    pub fn lookup_unparsed(&self, set: u32, remote: IpAddr) -> Decision {
        self.region_for(set, remote)
            .map_or(Decision::PASS, |r| r.unparsed)
    }

    /// The compiled pod `namespace/name`.
    pub fn pod(&self, namespace: &str, name: &str) -> Option<&EnforcedPod> {
        self.pods
            .binary_search_by(|p| (p.namespace.as_str(), p.name.as_str()).cmp(&(namespace, name)))
            .ok()
            .map(|i| &self.pods[i])
    }

    /// The rule set of pod `namespace/name` for `direction`.
    pub fn rule_set_of(&self, namespace: &str, name: &str, direction: Direction) -> Option<u32> {
        self.pod(namespace, name).map(|p| match direction {
            Direction::Egress => p.egress,
            Direction::Ingress => p.ingress,
        })
    }

    /// Explicit entries summed over the rule sets (each also has its default).
    pub fn region_entries(&self) -> usize {
        self.rule_sets.iter().map(|s| s.regions.len()).sum()
    }
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

/// A stable name for a pod's rule set in `direction` (`NS/NAME/egress`), for datapaths that
/// keep per-pod handles across compiles.
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
    let idx = Index::new(inv, policies);
    let mut compiler = Compiler::new(&idx);
    let mut out = Enforcement::default();
    // Views already compiled, and rule sets by contents.
    let mut by_view: HashMap<ViewKey, u32> = HashMap::new();
    let mut by_contents: HashMap<RuleSet, u32> = HashMap::new();
    for (namespace, name) in local {
        let Some(pod) = by_name.get(&(namespace.as_str(), name.as_str())) else {
            out.skipped.push((namespace.clone(), name.clone()));
            continue;
        };
        let mut sets = [0u32; 2];
        for (slot, direction) in [Direction::Egress, Direction::Ingress]
            .into_iter()
            .enumerate()
        {
            let view = compiler.view(pod, direction);
            let key = view.key.clone();
            sets[slot] = match by_view.entry(key) {
                Entry::Occupied(e) => *e.get(),
                Entry::Vacant(e) => {
                    let set = compiler.rule_set(&view)?;
                    let next = u32::try_from(out.rule_sets.len()).unwrap_or(u32::MAX);
                    let id = *by_contents.entry(set.clone()).or_insert(next);
                    if id == next {
                        out.rule_sets.push(set);
                    }
                    *e.insert(id)
                }
            };
        }
        out.pods.push(EnforcedPod {
            namespace: namespace.clone(),
            name: name.clone(),
            egress: sets[0],
            ingress: sets[1],
        });
    }
    out.pods.sort();
    out.classes = compiler.class_prefixes();
    out.class_count = u32::try_from(compiler.classes.len()).unwrap_or(u32::MAX);
    out.index = ClassIndex::new(&out.classes);
    out.regions = compiler.regions;
    out.decisions = compiler.decisions;
    Ok(out)
}

impl ClassIndex {
    fn new(classes: &[ClassPrefix]) -> Self {
        let mut lengths = BTreeSet::new();
        let mut entries = HashMap::with_capacity(classes.len());
        for c in classes {
            let b = Block::new(c.addr, c.prefix_len);
            lengths.insert((b.v6, b.len));
            entries.insert((b.v6, b.len, b.start), c.class);
        }
        ClassIndex {
            lengths: lengths.into_iter().rev().collect(),
            entries,
        }
    }
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
struct TreeNode {
    block: Block,
    /// The longest block strictly containing this one (an index into the sorted nodes).
    parent: Option<usize>,
    /// The class of the node's own addresses; `None`: its children cover it.
    class: Option<u32>,
}

/// Remote addresses the policies cannot tell apart, and the one evaluated for all of them.
#[derive(Debug, Clone, Copy)]
struct Class<'a> {
    place: Place<'a>,
    probe: IpAddr,
    /// The longest policy prefix containing the class's addresses.
    within: Block,
    /// The interned named ports (of a pod class) egress rules reference; 0: none.
    named: u32,
    /// The address of a node some pod runs on (told apart: see [`ClassKey::PodHost`]).
    pod_host: bool,
}

/// What the policies can see of a remote address.
#[derive(Debug, PartialEq, Eq, Hash)]
enum ClassKey<'a> {
    Pod {
        namespace: &'a str,
        labels: &'a BTreeMap<String, String>,
        named: u32,
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

/// What a rule set depends on: the direction and what the tiers see of the local pod.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct ViewKey {
    direction: Direction,
    namespace: String,
    /// Indexes of the AdminNetworkPolicies selecting the pod.
    anps: Vec<usize>,
    /// The NetworkPolicies selecting the pod in this direction (addresses: identity).
    nps: Vec<usize>,
    baseline: bool,
    /// The pod's named ports the policies reference (ingress: the pod is the destination).
    named: Vec<NamedPort>,
    host_ips: Vec<IpAddr>,
}

/// A rule set to compile: the local pod it is compiled at and what its rules look at.
struct View<'a> {
    key: ViewKey,
    pod: &'a PodInfo,
    /// Peer predicates (indexes into `Compiler::bits`) of the view's rules.
    preds: Vec<usize>,
    /// Egress rules of the view name ports: the destination's named ports matter.
    remote_named: bool,
    /// Port names the view's rules reference.
    names: HashSet<&'a str>,
    /// Segment starts the view's rules imply, per [`PORT_PROTOCOLS`] entry (0 included).
    boundaries: [BTreeSet<u16>; 3],
}

/// A peer of a rule, as a predicate over classes.
#[derive(Clone, Copy)]
enum Pred<'a> {
    Np(&'a str, &'a NetworkPolicyPeer),
    Admin(&'a AdminPeer),
    Ef(&'a EgressFirewallRule),
}

impl Pred<'_> {
    /// Identity: the peer object's address and kind.
    fn id(&self) -> (usize, u8) {
        match self {
            Pred::Np(_, p) => (*p as *const NetworkPolicyPeer as usize, 0),
            Pred::Admin(p) => (*p as *const AdminPeer as usize, 1),
            Pred::Ef(r) => (*r as *const EgressFirewallRule as usize, 2),
        }
    }
}

/// The protocols with port tables: engine protocol and IP protocol number.
const PORT_PROTOCOLS: [(Protocol, u8); 3] = [
    (Protocol::Tcp, proto::TCP),
    (Protocol::Udp, proto::UDP),
    (Protocol::Sctp, proto::SCTP),
];

struct Compiler<'a> {
    idx: &'a Index<'a>,
    /// The prefix tree, parents first.
    tree: Vec<TreeNode>,
    classes: Vec<Class<'a>>,
    /// Pod classes by namespace.
    by_namespace: HashMap<&'a str, Vec<usize>>,
    /// Port names egress rules reference (named ports of the destination, a remote pod).
    egress_names: HashSet<&'a str>,
    /// Port names any rule references.
    names: HashSet<&'a str>,
    named_ports: HashMap<Vec<&'a NamedPort>, u32>,
    /// The classes were merged: `by_namespace` no longer holds.
    merged: bool,
    /// Per predicate, whether it holds for each class.
    bits: Vec<Vec<bool>>,
    pred_ids: HashMap<(usize, u8), usize>,
    regions: Vec<Region>,
    region_ids: HashMap<Region, u32>,
    decisions: Vec<DirectionVerdict>,
    slots: HashMap<DirectionVerdict, u32>,
}

impl<'a> Compiler<'a> {
    fn new(idx: &'a Index<'a>) -> Self {
        let mut compiler = Compiler {
            idx,
            tree: Vec::new(),
            classes: Vec::new(),
            by_namespace: HashMap::new(),
            egress_names: HashSet::new(),
            names: HashSet::new(),
            named_ports: HashMap::from([(Vec::new(), 0)]),
            merged: false,
            bits: Vec::new(),
            pred_ids: HashMap::new(),
            regions: Vec::new(),
            region_ids: HashMap::new(),
            decisions: Vec::new(),
            slots: HashMap::new(),
        };
        compiler.scan_names();
        compiler.build_classes();
        compiler.merge_classes();
        compiler
    }

    /// Collects the port names the policies reference, all and in egress rules.
    fn scan_names(&mut self) {
        let policies = self.idx.policies;
        let np_name = |p: &'a NetworkPolicyPort| match &p.port {
            Some(IntOrString::String(name)) => Some(name.as_str()),
            _ => None,
        };
        let admin_names = |rules: &'a [AdminRule]| {
            rules
                .iter()
                .flat_map(|r| r.ports.iter().flatten())
                .filter_map(|p| p.named_port.as_deref())
        };
        for np in &policies.network_policies {
            let ingress = np.spec.ingress.iter().flat_map(|r| &r.ports);
            self.names.extend(ingress.filter_map(np_name));
            let egress = np.spec.egress.iter().flat_map(|r| &r.ports);
            self.egress_names.extend(egress.filter_map(np_name));
        }
        let admin = policies.admin_network_policies.iter();
        for anp in admin.chain(policies.baseline.as_ref()) {
            self.names.extend(admin_names(&anp.spec.ingress));
            self.egress_names.extend(admin_names(&anp.spec.egress));
        }
        let egress_names: Vec<&str> = self.egress_names.iter().copied().collect();
        self.names.extend(egress_names);
    }

    /// The prefix tree of policy prefixes and inventory addresses, and the class of each node.
    fn build_classes(&mut self) {
        let policies = self.idx.policies;
        let mut policy_blocks: HashSet<Block> = HashSet::new();
        for c in policy_cidrs(policies) {
            policy_blocks.insert(Block::new(c.addr, c.prefix));
        }
        policy_blocks.insert(Block::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0));
        policy_blocks.insert(Block::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 0));

        // Inventory addresses, placed as the engine places them: the first pod, else the first
        // node.
        let inv = self.idx.inv;
        let mut places: HashMap<IpAddr, Place<'a>> = HashMap::new();
        for pod in &inv.pods {
            for ip in &pod.ips {
                places.entry(*ip).or_insert(Place::Pod(pod, Some(*ip)));
            }
        }
        for node in &inv.nodes {
            for ip in &node.ips {
                places.entry(*ip).or_insert(Place::Node(node, *ip));
            }
        }
        let hosts: HashSet<IpAddr> = inv
            .pods
            .iter()
            .flat_map(|p| p.host_ips.iter().copied())
            .collect();
        let mut blocks: Vec<Block> = policy_blocks.iter().copied().collect();
        blocks.extend(places.keys().map(|ip| Block::host(*ip)));
        blocks.extend(hosts.iter().map(|ip| Block::host(*ip)));
        blocks.sort();
        blocks.dedup();

        // Parents by a stack walk (sorted blocks nest like brackets), then each node's probe.
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
        let mut keys: HashMap<ClassKey<'a>, u32> = HashMap::new();
        for (i, block) in blocks.iter().enumerate() {
            let exact = block.len == block.bits();
            let first = block.addr(block.start);
            // An inventory address is judged as itself.
            let host = places.get(&first).filter(|_| exact);
            let (place, probe) = match host {
                Some(place) => (*place, first),
                None if exact && hosts.contains(&first) => (Place::External(first), first),
                None => match free_address(*block, &children[i]) {
                    Some(ip) => (Place::External(ip), ip),
                    None => {
                        self.tree.push(TreeNode {
                            block: *block,
                            parent: parents[i],
                            class: None,
                        });
                        continue;
                    }
                },
            };
            let within = longest_within(&policy_blocks, probe);
            let named = match place {
                Place::Pod(pod, _) => self.named_id(pod),
                _ => 0,
            };
            let key = match place {
                _ if exact && hosts.contains(&probe) => ClassKey::PodHost(probe),
                Place::Pod(pod, _) => ClassKey::Pod {
                    namespace: &pod.namespace,
                    labels: &pod.labels,
                    named,
                    within,
                },
                Place::Node(node, _) => ClassKey::Node {
                    labels: &node.labels,
                    within,
                },
                Place::External(_) => ClassKey::External(within),
            };
            let next = u32::try_from(self.classes.len()).unwrap_or(u32::MAX);
            let class = *keys.entry(key).or_insert(next);
            if class == next {
                if let Place::Pod(pod, _) = place {
                    let list = self.by_namespace.entry(pod.namespace.as_str()).or_default();
                    list.push(next as usize);
                }
                self.classes.push(Class {
                    place,
                    probe,
                    within,
                    named,
                    pod_host: exact && hosts.contains(&probe),
                });
            }
            self.tree.push(TreeNode {
                block: *block,
                parent: parents[i],
                class: Some(class),
            });
        }
    }

    /// Merges the classes that no peer of any policy tells apart (pods of Deployments whose
    /// labels differ only by ones no selector reads, addresses outside the cluster in prefixes
    /// that every rule treats alike...): every evaluation reads a remote address only through
    /// its kind, its named ports, whether it is a pod's node, and the peers it matches.
    fn merge_classes(&mut self) {
        let policies = self.idx.policies;
        let mut preds = Vec::new();
        for np in &policies.network_policies {
            let ns = np.metadata.namespace.as_deref().unwrap_or("default");
            let ingress = np.spec.ingress.iter().flat_map(|r| &r.from);
            for peer in ingress.chain(np.spec.egress.iter().flat_map(|r| &r.to)) {
                preds.push(Pred::Np(ns, peer));
            }
        }
        let admin = policies.admin_network_policies.iter();
        for anp in admin.chain(policies.baseline.as_ref()) {
            let rules = anp.spec.ingress.iter().chain(&anp.spec.egress);
            preds.extend(
                rules
                    .flat_map(|r| r.from.iter().chain(&r.to))
                    .map(Pred::Admin),
            );
        }
        for ef in &policies.egress_firewalls {
            preds.extend(ef.spec.egress.iter().map(Pred::Ef));
        }
        let ids: Vec<usize> = preds.into_iter().map(|p| self.pred(p)).collect();
        let mut ids = ids;
        ids.sort_unstable();
        ids.dedup();

        let words = ids.len().div_ceil(64);
        let mut merged: HashMap<(u8, Option<IpAddr>, u32, Vec<u64>), u32> = HashMap::new();
        let mut to_merged = Vec::with_capacity(self.classes.len());
        let mut kept: Vec<usize> = Vec::new();
        for (c, class) in self.classes.iter().enumerate() {
            let mut bits = vec![0u64; words];
            for (i, &pred) in ids.iter().enumerate() {
                if self.bits[pred][c] {
                    bits[i / 64] |= 1 << (i % 64);
                }
            }
            let host = class.pod_host.then_some(class.probe);
            let key = (kind(class.place), host, class.named, bits);
            let next = u32::try_from(kept.len()).unwrap_or(u32::MAX);
            let id = *merged.entry(key).or_insert(next);
            if id == next {
                kept.push(c);
            }
            to_merged.push(id);
        }
        // The first class of each group stands for it: same answers to every peer.
        self.classes = kept.iter().map(|&c| self.classes[c]).collect();
        for bits in &mut self.bits {
            *bits = kept.iter().map(|&c| bits[c]).collect();
        }
        for node in &mut self.tree {
            node.class = node.class.map(|c| to_merged[c as usize]);
        }
        self.by_namespace.clear();
        self.merged = true;
    }

    /// The interned id of the named ports of `pod` that egress rules reference.
    fn named_id(&mut self, pod: &'a PodInfo) -> u32 {
        let ports: Vec<&NamedPort> = pod
            .named_ports
            .iter()
            .filter(|np| self.egress_names.contains(np.name.as_str()))
            .collect();
        let next = u32::try_from(self.named_ports.len()).unwrap_or(u32::MAX);
        *self.named_ports.entry(ports).or_insert(next)
    }

    /// The class table: each tree node with a class other than the one it falls through to.
    fn class_prefixes(&self) -> Vec<ClassPrefix> {
        // Parents come first, so the parent's effective class is known.
        let mut effective: Vec<Option<u32>> = Vec::with_capacity(self.tree.len());
        let mut out = Vec::new();
        for node in &self.tree {
            let inherited = node.parent.and_then(|p| effective[p]);
            if let Some(class) = node.class.filter(|c| Some(*c) != inherited) {
                out.push(ClassPrefix {
                    addr: node.block.addr(node.block.start),
                    prefix_len: node.block.len,
                    class,
                });
            }
            effective.push(node.class.or(inherited));
        }
        out.sort();
        out
    }

    /// What the tiers see of `pod` in `direction`: the policies that apply and what their rules
    /// look at.
    fn view(&mut self, pod: &'a PodInfo, direction: Direction) -> View<'a> {
        let idx = self.idx;
        let policies = idx.policies;
        let anps: Vec<usize> = (0..policies.admin_network_policies.len())
            .filter(|&i| {
                let anp = &policies.admin_network_policies[i];
                subject_selects(idx, &anp.spec.subject, pod)
            })
            .collect();
        let nps: Vec<&'a NetworkPolicy> = idx
            .network_policies(&pod.namespace)
            .iter()
            .copied()
            .filter(|np| np_selects_pod(np, pod, direction))
            .collect();
        let baseline = policies
            .baseline
            .as_ref()
            .filter(|b| subject_selects(idx, &b.spec.subject, pod));
        let ef = match direction {
            Direction::Egress => idx.egress_firewall(&pod.namespace),
            Direction::Ingress => None,
        };
        let named: Vec<NamedPort> = match direction {
            Direction::Ingress => pod
                .named_ports
                .iter()
                .filter(|np| self.names.contains(np.name.as_str()))
                .cloned()
                .collect(),
            Direction::Egress => Vec::new(),
        };
        let key = ViewKey {
            direction,
            namespace: pod.namespace.clone(),
            anps: anps.clone(),
            nps: nps
                .iter()
                .map(|np| *np as *const NetworkPolicy as usize)
                .collect(),
            baseline: baseline.is_some(),
            named,
            host_ips: pod.host_ips.clone(),
        };
        let mut view = View {
            key,
            pod,
            preds: Vec::new(),
            remote_named: false,
            names: HashSet::new(),
            boundaries: std::array::from_fn(|_| BTreeSet::from([0])),
        };
        let admin = anps
            .iter()
            .map(|&i| &policies.admin_network_policies[i])
            .chain(baseline);
        for anp in admin {
            self.admin_view(&mut view, anp, direction);
        }
        for np in nps {
            self.np_view(&mut view, np, direction);
        }
        if let Some(ef) = ef {
            self.ef_view(&mut view, ef);
        }
        view.preds.sort_unstable();
        view.preds.dedup();
        view
    }

    fn admin_view(&mut self, view: &mut View<'a>, anp: &'a AdminNetworkPolicy, dir: Direction) {
        let rules = match dir {
            Direction::Ingress => &anp.spec.ingress,
            Direction::Egress => &anp.spec.egress,
        };
        let protocol = |p: &Option<String>| p.as_deref().map_or(Ok(Protocol::Tcp), str::parse);
        for rule in rules {
            let peers = match dir {
                Direction::Ingress => &rule.from,
                Direction::Egress => &rule.to,
            };
            for peer in peers {
                let pred = self.pred(Pred::Admin(peer));
                view.preds.push(pred);
            }
            for p in rule.ports.iter().flatten() {
                if let Some(n) = &p.port_number {
                    if let Ok(protocol) = protocol(&n.protocol) {
                        view.range(protocol, n.port, n.port);
                    }
                }
                if let Some(r) = &p.port_range {
                    if let Ok(protocol) = protocol(&r.protocol) {
                        view.range(protocol, r.start, r.end);
                    }
                }
                if let Some(name) = &p.named_port {
                    view.name(name, dir);
                }
            }
        }
    }

    fn np_view(&mut self, view: &mut View<'a>, np: &'a NetworkPolicy, dir: Direction) {
        let ns = np.metadata.namespace.as_deref().unwrap_or("default");
        let rules = super::engine::np_rules(np, dir);
        for (peers, ports) in rules {
            for peer in peers {
                let pred = self.pred(Pred::Np(ns, peer));
                view.preds.push(pred);
            }
            for p in ports {
                let protocol = p.protocol.as_deref().map_or(Ok(Protocol::Tcp), str::parse);
                match (&p.port, protocol) {
                    (Some(IntOrString::Int(n)), Ok(protocol)) => {
                        view.range(protocol, *n, p.end_port.unwrap_or(*n));
                    }
                    (Some(IntOrString::String(name)), _) => view.name(name, dir),
                    _ => {}
                }
            }
        }
    }

    fn ef_view(&mut self, view: &mut View<'a>, ef: &'a EgressFirewall) {
        for rule in &ef.spec.egress {
            let pred = self.pred(Pred::Ef(rule));
            view.preds.push(pred);
            for p in &rule.ports {
                if let (Ok(protocol), Some(n)) = (p.protocol.parse::<Protocol>(), p.port) {
                    view.range(protocol, n, n);
                }
            }
        }
    }

    /// The index of `pred`'s bits over the classes, computed on first use (every peer of the
    /// policies is computed before the classes merge).
    fn pred(&mut self, pred: Pred<'a>) -> usize {
        if let Some(&i) = self.pred_ids.get(&pred.id()) {
            return i;
        }
        debug_assert!(!self.merged, "a peer no policy has");
        let bits = self.pred_bits(pred);
        self.bits.push(bits);
        let i = self.bits.len() - 1;
        self.pred_ids.insert(pred.id(), i);
        i
    }

    /// Whether `pred` holds for each class, as the engine matches it at the class's probe.
    /// Selectors that only pods can match are only tried on the pod classes of the namespaces
    /// they can select, each namespace selector once per namespace.
    fn pred_bits(&self, pred: Pred<'a>) -> Vec<bool> {
        let idx = self.idx;
        let mut bits = vec![false; self.classes.len()];
        // Address peers: whether the prefixes contain the class's longest policy prefix (every
        // policy prefix is in the tree, so it contains the class's addresses exactly when it
        // contains that one), each CIDR parsed once.
        let blocks = |texts: &mut dyn Iterator<Item = &String>| -> Vec<Block> {
            texts
                .filter_map(|t| t.parse::<Cidr>().ok())
                .map(|c| Block::new(c.addr, c.prefix))
                .collect()
        };
        let (inside, except) = match pred {
            Pred::Np(_, p) => match &p.ip_block {
                // A cidr that does not parse matches nothing.
                Some(b) => (
                    blocks(&mut std::iter::once(&b.cidr)),
                    blocks(&mut b.except.iter()),
                ),
                None => (Vec::new(), Vec::new()),
            },
            Pred::Admin(p) => (blocks(&mut p.networks.iter().flatten()), Vec::new()),
            Pred::Ef(r) => (blocks(&mut r.to.cidr_selector.iter()), Vec::new()),
        };
        let by_address = match pred {
            Pred::Np(_, p) => p.ip_block.is_some(),
            Pred::Admin(p) => p.networks.is_some(),
            Pred::Ef(r) => r.to.cidr_selector.is_some(),
        };
        if by_address {
            for (bit, class) in bits.iter_mut().zip(&self.classes) {
                let has = |b: &Block| b.contains(class.within);
                *bit = inside.iter().any(has) && !except.iter().any(has);
            }
            return bits;
        }
        let pod_peer = match pred {
            Pred::Np(ns, p) => Some((p.namespace_selector.as_ref(), ns)),
            Pred::Admin(p) if p.nodes.is_none() => None,
            _ => {
                // Nodes: every class is a candidate.
                for (bit, class) in bits.iter_mut().zip(&self.classes) {
                    *bit = self.matches(pred, class);
                }
                return bits;
            }
        };
        let namespaces: Vec<&Vec<usize>> = match pod_peer {
            // podSelector alone: the policy's namespace only.
            Some((None, ns)) => self.by_namespace.get(ns).into_iter().collect(),
            Some((Some(sel), _)) => self
                .by_namespace
                .iter()
                .filter(|(ns, _)| sel.matches(&idx.namespace_labels(ns)))
                .map(|(_, classes)| classes)
                .collect(),
            None => self.by_namespace.values().collect(),
        };
        for class in namespaces.into_iter().flatten() {
            bits[*class] = self.matches(pred, &self.classes[*class]);
        }
        bits
    }

    fn matches(&self, pred: Pred<'a>, class: &Class<'a>) -> bool {
        match pred {
            Pred::Np(ns, peer) => np_peer_matches_place(self.idx, class.place, ns, peer),
            Pred::Admin(peer) => admin_peer_matches_place(self.idx, class.place, peer),
            // Packets carry no names: dnsName rules never match.
            Pred::Ef(rule) => ef_destination_matches(rule, class.place, &[]),
        }
    }

    /// The rule set of `view`: classes grouped by what the view's rules see of them, the engine
    /// asked once per group.
    fn rule_set(&mut self, view: &View<'a>) -> Result<RuleSet, EnforceError> {
        let words = view.preds.len().div_ceil(64);
        let mut groups: HashMap<(u8, bool, u32, Vec<u64>), u32> = HashMap::new();
        let mut regions: Vec<u32> = Vec::with_capacity(self.classes.len());
        for c in 0..self.classes.len() {
            let class = self.classes[c];
            let mut bits = vec![0u64; words];
            for (i, &pred) in view.preds.iter().enumerate() {
                if self.bits[pred][c] {
                    bits[i / 64] |= 1 << (i % 64);
                }
            }
            let kind = kind(class.place);
            let own_node = view.pod.host_ips.contains(&class.probe);
            let named = if view.remote_named { class.named } else { 0 };
            let region = match groups.entry((kind, own_node, named, bits)) {
                Entry::Occupied(e) => *e.get(),
                Entry::Vacant(e) => *e.insert(self.region(view, class)?),
            };
            regions.push(region);
        }
        // The most common region becomes the default (the lowest on ties, for stable output).
        let mut counts: HashMap<u32, usize> = HashMap::new();
        for r in &regions {
            *counts.entry(*r).or_default() += 1;
        }
        let default = counts
            .iter()
            .max_by_key(|(r, n)| (**n, std::cmp::Reverse(**r)))
            .map_or(0, |(r, _)| *r);
        let entries = regions
            .iter()
            .enumerate()
            .filter(|(_, r)| **r != default)
            .map(|(c, r)| (u32::try_from(c).unwrap_or(u32::MAX), *r))
            .collect();
        Ok(RuleSet {
            default,
            regions: entries,
        })
    }

    /// The region (interned) of `class` in `view`.
    fn region(&mut self, view: &View<'a>, class: Class<'a>) -> Result<u32, EnforceError> {
        let local = view.pod;
        let direction = view.key.direction;
        let here = Place::Pod(local, local.ips.first().copied());
        // The engine reads only the protocol, port and names of the connection: the ends are
        // the places.
        let mut conn = Connection {
            src: Endpoint::Ip(class.probe),
            dst: Endpoint::Ip(class.probe),
            protocol: Protocol::Other,
            port: 0,
            dst_dns_names: Vec::new(),
        };
        let (src, dst) = match direction {
            Direction::Egress => (here, class.place),
            Direction::Ingress => (class.place, here),
        };
        let other = self.decide(&conn, src, dst, direction);
        let dst_pod = match dst {
            Place::Pod(pod, _) => Some(pod),
            _ => None,
        };
        let mut tables = BTreeMap::new();
        for (i, (protocol, number)) in PORT_PROTOCOLS.into_iter().enumerate() {
            let mut starts = view.boundaries[i].clone();
            let named = dst_pod.map_or(&[][..], |p| &p.named_ports[..]);
            for np in named {
                if np.protocol == protocol && view.names.contains(np.name.as_str()) {
                    add_range(&mut starts, i64::from(np.port), i64::from(np.port));
                }
            }
            conn.protocol = protocol;
            let mut segments: Vec<Segment> = Vec::new();
            for start in starts {
                conn.port = start;
                let decision = self.decide(&conn, src, dst, direction);
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
                    remote: class.probe,
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
        if let Some(&id) = self.region_ids.get(&region) {
            return Ok(id);
        }
        let id = u32::try_from(self.regions.len()).unwrap_or(u32::MAX);
        self.region_ids.insert(region.clone(), id);
        self.regions.push(region);
        Ok(id)
    }

    /// The engine's verdict for `conn`, as a decision naming its (interned) slot.
    fn decide(
        &mut self,
        conn: &Connection,
        src: Place<'a>,
        dst: Place<'a>,
        direction: Direction,
    ) -> Decision {
        // The local end is a pod, so the direction always has a verdict.
        let verdict =
            direction_verdict(self.idx, conn, src, dst, direction).unwrap_or(DirectionVerdict {
                direction,
                verdict: Verdict::Allowed,
                events: Vec::new(),
            });
        let fw = match verdict.verdict {
            Verdict::Allowed => compiled::Verdict::Allow,
            Verdict::Dropped => compiled::Verdict::Deny,
        };
        let slot = match self.slots.get(&verdict) {
            Some(slot) => *slot,
            None => {
                let slot = u32::try_from(self.decisions.len()).unwrap_or(u32::MAX);
                self.decisions.push(verdict.clone());
                self.slots.insert(verdict, slot);
                slot
            }
        };
        Decision {
            verdict: fw,
            rule: Some(slot),
        }
    }
}

impl View<'_> {
    /// Segment starts for the ports `first..=last` of `protocol`.
    fn range(&mut self, protocol: Protocol, first: i64, last: i64) {
        if let Some(set) = protocol_index(protocol).map(|i| &mut self.boundaries[i]) {
            add_range(set, first, last);
        }
    }
}

impl<'a> View<'a> {
    /// A port name a rule of the view references; in egress it resolves on the remote pod.
    fn name(&mut self, name: &'a str, dir: Direction) {
        self.names.insert(name);
        if dir == Direction::Egress {
            self.remote_named = true;
        }
    }
}

/// Every CIDR the policies name (unparsable ones, which validation rejects, left out).
fn policy_cidrs(policies: &PolicySet) -> Vec<Cidr> {
    let mut texts: Vec<&str> = Vec::new();
    fn np_peers(peers: &[NetworkPolicyPeer]) -> impl Iterator<Item = &IpBlock> {
        peers.iter().flat_map(|p| &p.ip_block)
    }
    for np in &policies.network_policies {
        let ingress = np.spec.ingress.iter().flat_map(|r| np_peers(&r.from));
        for block in ingress.chain(np.spec.egress.iter().flat_map(|r| np_peers(&r.to))) {
            texts.push(&block.cidr);
            texts.extend(block.except.iter().map(String::as_str));
        }
    }
    let admin = policies.admin_network_policies.iter();
    for anp in admin.chain(policies.baseline.as_ref()) {
        let rules = anp.spec.ingress.iter().chain(&anp.spec.egress);
        let peers = rules.flat_map(|r| r.from.iter().chain(&r.to));
        texts.extend(
            peers
                .flat_map(|p| p.networks.iter().flatten())
                .map(String::as_str),
        );
    }
    for ef in &policies.egress_firewalls {
        let cidrs = ef.spec.egress.iter().flat_map(|r| &r.to.cidr_selector);
        texts.extend(cidrs.map(String::as_str));
    }
    texts.iter().filter_map(|t| t.parse().ok()).collect()
}

/// The kind of an end: pod, node, outside.
fn kind(place: Place<'_>) -> u8 {
    match place {
        Place::Pod(..) => 0,
        Place::Node(..) => 1,
        Place::External(_) => 2,
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
