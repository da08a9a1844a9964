//! The evaluator: which tier decides a connection, per direction, and with which events.
//!
//! Per direction (egress at the source pod, ingress at the destination pod) the tiers run as the
//! APIs define them:
//! 1. AdminNetworkPolicies by ascending priority, each rule in order; the first matching rule
//!    decides (`Allow`, `Deny`) or skips the rest of the tier (`Pass`).
//! 2. NetworkPolicies: a pod selected by any policy of that direction is isolated, and the union
//!    of their rules allows; nothing allows it: dropped ("network policies isolation").
//! 3. The BaselineAdminNetworkPolicy, only when no NetworkPolicy isolates the pod.
//! 4. Default allow (no event).
//!
//! Egress that the pod tiers allow and that leaves the cluster (the destination is no pod) then
//! meets the source namespace's EgressFirewall: its first matching rule decides, none allows.
//! [`explain`] only evaluates the ingress direction when the packet gets there (egress
//! allowed); [`explain_direction`] evaluates either direction on its own.
//!
//! [`Protocol::Other`] (ICMP and every protocol without ports) matches only rules without
//! `ports`.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

use super::cidr::Cidr;
use super::event::{Action, Direction, EventType, NetworkEvent};
use super::load::PolicySet;
use super::model::{Connection, Endpoint, Inventory, NodeInfo, PodInfo, Protocol};
use super::objects::{
    AdminNetworkPolicy, AdminPeer, AdminPods, AdminPort, AdminSubject, EgressFirewall,
    EgressFirewallRule, IntOrString, NetworkPolicy, NetworkPolicyPeer, NetworkPolicyPort,
};

/// Most events one flow carries (NetObserv keeps four).
pub const MAX_EVENTS: usize = 4;

/// Whether the connection gets through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub enum Verdict {
    /// It does.
    Allowed,
    /// A tier drops it.
    Dropped,
}

/// The decision of one direction.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DirectionVerdict {
    /// Egress (at the source pod, EgressFirewall included) or ingress (at the destination pod).
    pub direction: Direction,
    /// Its verdict.
    pub verdict: Verdict,
    /// The deciding events, in decision order (empty: default allow).
    pub events: Vec<NetworkEvent>,
}

/// The whole answer for a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Explanation {
    /// Allowed only when every evaluated direction allows.
    pub verdict: Verdict,
    /// Egress at the source; `None` when the source is not a pod.
    pub egress: Option<DirectionVerdict>,
    /// Ingress at the destination; `None` when it is not a pod or egress dropped the packet.
    pub ingress: Option<DirectionVerdict>,
    /// The flow's events: egress then ingress, at most [`MAX_EVENTS`].
    pub events: Vec<NetworkEvent>,
}

/// A connection the engine cannot place.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExplainError {
    /// `NS/POD` names no pod of the inventory.
    #[error("no pod {namespace}/{name} in the inventory")]
    UnknownPod {
        /// Namespace.
        namespace: String,
        /// Name.
        name: String,
    },
}

/// One end, placed in the inventory.
#[derive(Debug, Clone, Copy)]
pub(super) enum Place<'a> {
    /// A pod; its address when it has one.
    Pod(&'a PodInfo, Option<IpAddr>),
    /// A node address.
    Node(&'a NodeInfo, IpAddr),
    /// Outside the cluster.
    External(IpAddr),
}

impl Place<'_> {
    pub(super) fn ip(&self) -> Option<IpAddr> {
        match *self {
            Place::Pod(_, ip) => ip,
            Place::Node(_, ip) | Place::External(ip) => Some(ip),
        }
    }
}

/// What every evaluation looks up, prepared once per inventory and policy set: namespace labels,
/// each namespace's NetworkPolicies and EgressFirewall. Evaluating many connections (enforce
/// mode's compiler) builds one and reuses it; [`explain`] builds one per call.
pub(super) struct Index<'a> {
    pub(super) inv: &'a Inventory,
    pub(super) policies: &'a PolicySet,
    /// Labels of every namespace the inventory names (itself or through a pod), with
    /// `kubernetes.io/metadata.name` added as [`Inventory::namespace_labels`] does.
    ns_labels: HashMap<&'a str, BTreeMap<String, String>>,
    /// NetworkPolicies by namespace, sorted by name (stable: the tier reports the first
    /// allowing one by name, ties in load order).
    nps: HashMap<&'a str, Vec<&'a NetworkPolicy>>,
    /// The first EgressFirewall of each namespace (the one the tier applies).
    efs: HashMap<&'a str, &'a EgressFirewall>,
}

impl<'a> Index<'a> {
    pub(super) fn new(inv: &'a Inventory, policies: &'a PolicySet) -> Self {
        let mut ns_labels = HashMap::new();
        let names = inv.namespaces.iter().map(|n| n.name.as_str());
        for name in names.chain(inv.pods.iter().map(|p| p.namespace.as_str())) {
            ns_labels
                .entry(name)
                .or_insert_with(|| inv.namespace_labels(name));
        }
        let mut nps: HashMap<&str, Vec<&NetworkPolicy>> = HashMap::new();
        for np in &policies.network_policies {
            if let Some(ns) = np.metadata.namespace.as_deref() {
                nps.entry(ns).or_default().push(np);
            }
        }
        for list in nps.values_mut() {
            list.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
        }
        let mut efs = HashMap::new();
        for ef in &policies.egress_firewalls {
            if let Some(ns) = ef.metadata.namespace.as_deref() {
                efs.entry(ns).or_insert(ef);
            }
        }
        Index {
            inv,
            policies,
            ns_labels,
            nps,
            efs,
        }
    }

    /// As [`Inventory::namespace_labels`], without a search or a copy for known namespaces.
    pub(super) fn namespace_labels(&self, name: &str) -> Cow<'_, BTreeMap<String, String>> {
        match self.ns_labels.get(name) {
            Some(labels) => Cow::Borrowed(labels),
            None => Cow::Owned(self.inv.namespace_labels(name)),
        }
    }

    /// The NetworkPolicies of namespace `ns`, sorted by name.
    pub(super) fn network_policies(&self, ns: &str) -> &[&'a NetworkPolicy] {
        self.nps.get(ns).map_or(&[], Vec::as_slice)
    }

    /// The EgressFirewall that applies to namespace `ns`.
    pub(super) fn egress_firewall(&self, ns: &str) -> Option<&'a EgressFirewall> {
        self.efs.get(ns).copied()
    }
}

/// What a tier needs: the index, the connection and the two ends.
struct Ctx<'a> {
    idx: &'a Index<'a>,
    conn: &'a Connection,
    /// The pod the direction's policies apply to.
    subject: &'a PodInfo,
    /// The other end.
    peer: Place<'a>,
    /// The destination pod (for named ports), if any.
    dst_pod: Option<&'a PodInfo>,
    direction: Direction,
}

/// Explains `conn` under `policies`.
pub fn explain(
    inv: &Inventory,
    policies: &PolicySet,
    conn: &Connection,
) -> Result<Explanation, ExplainError> {
    let src = place(inv, &conn.src)?;
    let dst = place(inv, &conn.dst)?;
    let idx = Index::new(inv, policies);
    let egress = direction_verdict(&idx, conn, src, dst, Direction::Egress);
    let reached = egress
        .as_ref()
        .is_none_or(|e| e.verdict == Verdict::Allowed);
    let ingress = if reached {
        direction_verdict(&idx, conn, src, dst, Direction::Ingress)
    } else {
        None
    };
    let verdict = if [&egress, &ingress]
        .iter()
        .any(|d| d.as_ref().is_some_and(|d| d.verdict == Verdict::Dropped))
    {
        Verdict::Dropped
    } else {
        Verdict::Allowed
    };
    let events = egress
        .iter()
        .chain(ingress.iter())
        .flat_map(|d| d.events.iter().cloned())
        .take(MAX_EVENTS)
        .collect();
    Ok(Explanation {
        verdict,
        egress,
        ingress,
        events,
    })
}

/// Explains one direction of `conn`, whatever the other direction decides: egress at the source
/// pod (EgressFirewall included), `None` when the source is no pod; ingress at the destination
/// pod, `None` when the destination is no pod.
///
/// ```
/// use netwarden_policy::netpol::{self, Connection, Direction, Inventory, PodInfo, Protocol, Verdict};
///
/// let (policies, _) = netpol::parse_str(r#"
/// kind: NetworkPolicy
/// apiVersion: networking.k8s.io/v1
/// metadata: {name: no-egress, namespace: shop}
/// spec: {podSelector: {}, policyTypes: [Egress]}
/// "#, "inline").unwrap();
/// let pod = |name: &str, ip: &str| PodInfo {
///     namespace: "shop".into(), name: name.into(), ips: vec![ip.parse().unwrap()],
///     ..Default::default()
/// };
/// let inventory = Inventory { pods: vec![pod("a", "10.0.0.1"), pod("b", "10.0.0.2")], ..Default::default() };
/// let conn = Connection {
///     src: "shop/a".parse().unwrap(), dst: "shop/b".parse().unwrap(),
///     protocol: Protocol::Tcp, port: 80, dst_dns_names: vec![],
/// };
/// // `explain` stops at the egress drop; the ingress side still has its own answer.
/// let ingress = netpol::explain_direction(&inventory, &policies, &conn, Direction::Ingress).unwrap();
/// assert_eq!(ingress.unwrap().verdict, Verdict::Allowed);
/// let from_outside = Connection { src: "1.2.3.4".parse().unwrap(), ..conn };
/// assert!(netpol::explain_direction(&inventory, &policies, &from_outside, Direction::Egress)
///     .unwrap()
///     .is_none());
/// ```
pub fn explain_direction(
    inv: &Inventory,
    policies: &PolicySet,
    conn: &Connection,
    direction: Direction,
) -> Result<Option<DirectionVerdict>, ExplainError> {
    let src = place(inv, &conn.src)?;
    let dst = place(inv, &conn.dst)?;
    Ok(direction_verdict(
        &Index::new(inv, policies),
        conn,
        src,
        dst,
        direction,
    ))
}

/// One direction with both ends already placed (`conn`'s endpoints are not read again, only its
/// protocol, port and DNS names).
pub(super) fn direction_verdict(
    idx: &Index<'_>,
    conn: &Connection,
    src: Place<'_>,
    dst: Place<'_>,
    direction: Direction,
) -> Option<DirectionVerdict> {
    let dst_pod = match dst {
        Place::Pod(p, _) => Some(p),
        _ => None,
    };
    let (subject, peer) = match (direction, src, dst) {
        (Direction::Egress, Place::Pod(pod, _), _) => (pod, dst),
        (Direction::Ingress, _, Place::Pod(pod, _)) => (pod, src),
        _ => return None,
    };
    let ctx = Ctx {
        idx,
        conn,
        subject,
        peer,
        dst_pod,
        direction,
    };
    let mut d = decide(&ctx);
    if direction == Direction::Egress && d.verdict == Verdict::Allowed && dst_pod.is_none() {
        egress_firewall(&ctx, &mut d);
    }
    Some(d)
}

/// Places an endpoint named by the user in the inventory.
pub(super) fn place<'a>(inv: &'a Inventory, e: &Endpoint) -> Result<Place<'a>, ExplainError> {
    match e {
        Endpoint::Pod { namespace, name } => inv
            .pod(namespace, name)
            .map(|p| Place::Pod(p, p.ips.first().copied()))
            .ok_or_else(|| ExplainError::UnknownPod {
                namespace: namespace.clone(),
                name: name.clone(),
            }),
        Endpoint::Ip(ip) => Ok(if let Some(p) = inv.pod_by_ip(*ip) {
            Place::Pod(p, Some(*ip))
        } else if let Some(n) = inv.node_by_ip(*ip) {
            Place::Node(n, *ip)
        } else {
            Place::External(*ip)
        }),
    }
}

/// Runs the ANP, NetworkPolicy and BANP tiers for one direction.
fn decide(ctx: &Ctx<'_>) -> DirectionVerdict {
    let policies = ctx.idx.policies;
    let mut events = Vec::new();
    let done = |verdict, events| DirectionVerdict {
        direction: ctx.direction,
        verdict,
        events,
    };

    // Tier 1: sorted by priority at load time.
    'anp: for anp in &policies.admin_network_policies {
        if !subject_matches(ctx, &anp.spec.subject) {
            continue;
        }
        if let Some(action) = admin_decision(ctx, anp) {
            events.push(event(
                ctx,
                action,
                EventType::AdminNetworkPolicy,
                &anp.metadata.name,
                "",
            ));
            match action {
                Action::Allow => return done(Verdict::Allowed, events),
                Action::Drop => return done(Verdict::Dropped, events),
                Action::Pass => break 'anp,
            }
        }
    }

    // Tier 2. Traffic between a pod and its own node is never isolated by NetworkPolicies.
    let own_node = ctx
        .peer
        .ip()
        .is_some_and(|ip| ctx.subject.host_ips.contains(&ip));
    // Only the subject's namespace can hold policies selecting it; sorted by name already.
    let ns = ctx.subject.namespace.as_str();
    let selecting: Vec<&NetworkPolicy> = if own_node {
        Vec::new()
    } else {
        let candidates = ctx.idx.network_policies(ns).iter().copied();
        candidates.filter(|np| np_selects(ctx, np)).collect()
    };
    if !selecting.is_empty() {
        return match selecting.iter().find(|np| np_allows(ctx, np)) {
            Some(np) => {
                events.push(event(
                    ctx,
                    Action::Allow,
                    EventType::NetworkPolicy,
                    &np.metadata.name,
                    ns,
                ));
                done(Verdict::Allowed, events)
            }
            None => {
                events.push(event(ctx, Action::Drop, EventType::NetpolNamespace, "", ns));
                done(Verdict::Dropped, events)
            }
        };
    }

    // Tier 3.
    if let Some(banp) = &policies.baseline {
        if subject_matches(ctx, &banp.spec.subject) {
            if let Some(action) = admin_decision(ctx, banp) {
                let name = &banp.metadata.name;
                events.push(event(
                    ctx,
                    action,
                    EventType::BaselineAdminNetworkPolicy,
                    name,
                    "",
                ));
                let verdict = if action == Action::Drop {
                    Verdict::Dropped
                } else {
                    Verdict::Allowed
                };
                return done(verdict, events);
            }
        }
    }
    done(Verdict::Allowed, events)
}

fn event(
    ctx: &Ctx<'_>,
    action: Action,
    kind: EventType,
    name: &str,
    namespace: &str,
) -> NetworkEvent {
    NetworkEvent {
        action,
        kind,
        name: name.to_string(),
        namespace: namespace.to_string(),
        direction: Some(ctx.direction),
    }
}

// ------------------------------------------------------------------------------ NetworkPolicy

/// Whether `np` isolates the subject pod in this direction.
fn np_selects(ctx: &Ctx<'_>, np: &NetworkPolicy) -> bool {
    np_selects_pod(np, ctx.subject, ctx.direction)
}

/// Whether `np` isolates `pod` in `direction` (its own node aside).
pub(super) fn np_selects_pod(np: &NetworkPolicy, pod: &PodInfo, direction: Direction) -> bool {
    let dir = match direction {
        Direction::Ingress => "Ingress",
        Direction::Egress => "Egress",
    };
    let applies = match &np.spec.policy_types {
        Some(types) => types.iter().any(|t| t == dir),
        // The API server's defaulting: Ingress always, Egress when there are egress rules.
        None => direction == Direction::Ingress || !np.spec.egress.is_empty(),
    };
    applies
        && np.metadata.namespace.as_deref() == Some(pod.namespace.as_str())
        && np.spec.pod_selector.matches(&pod.labels)
}

/// The rules of `np` for `direction`, as (peers, ports).
pub(super) fn np_rules(
    np: &NetworkPolicy,
    direction: Direction,
) -> Vec<(&[NetworkPolicyPeer], &[NetworkPolicyPort])> {
    match direction {
        Direction::Ingress => np
            .spec
            .ingress
            .iter()
            .map(|r| (&r.from[..], &r.ports[..]))
            .collect(),
        Direction::Egress => np
            .spec
            .egress
            .iter()
            .map(|r| (&r.to[..], &r.ports[..]))
            .collect(),
    }
}

/// Whether a rule of `np` (for this direction) allows the connection.
fn np_allows(ctx: &Ctx<'_>, np: &NetworkPolicy) -> bool {
    let ns = np.metadata.namespace.as_deref().unwrap_or("default");
    let rules = np_rules(np, ctx.direction);
    rules.iter().any(|(peers, ports)| {
        // Empty lists mean "every peer" and "every port".
        (peers.is_empty() || peers.iter().any(|p| np_peer_matches(ctx, ns, p)))
            && (ports.is_empty() || ports.iter().any(|p| np_port_matches(ctx, p)))
    })
}

fn np_peer_matches(ctx: &Ctx<'_>, policy_ns: &str, peer: &NetworkPolicyPeer) -> bool {
    np_peer_matches_place(ctx.idx, ctx.peer, policy_ns, peer)
}

/// Whether `peer` of a NetworkPolicy in namespace `policy_ns` matches the end `place`.
pub(super) fn np_peer_matches_place(
    idx: &Index<'_>,
    place: Place<'_>,
    policy_ns: &str,
    peer: &NetworkPolicyPeer,
) -> bool {
    if let Some(block) = &peer.ip_block {
        // Validated at load time, so parse failures cannot happen here; treat them as no match.
        let Some(ip) = place.ip() else {
            return false;
        };
        let inside = |c: &str| c.parse::<Cidr>().is_ok_and(|c| c.contains(ip));
        return inside(&block.cidr) && !block.except.iter().any(|e| inside(e));
    }
    let Place::Pod(pod, _) = place else {
        return false;
    };
    // Both selectors set: AND (pods matching podSelector in namespaces matching
    // namespaceSelector); podSelector alone: the policy's namespace.
    let ns_ok = match &peer.namespace_selector {
        Some(sel) => sel.matches(&idx.namespace_labels(&pod.namespace)),
        None => pod.namespace == policy_ns,
    };
    ns_ok
        && peer
            .pod_selector
            .as_ref()
            .is_none_or(|s| s.matches(&pod.labels))
}

fn np_port_matches(ctx: &Ctx<'_>, p: &NetworkPolicyPort) -> bool {
    let proto = p
        .protocol
        .as_deref()
        .map_or(Ok(Protocol::Tcp), str::parse::<Protocol>);
    if proto != Ok(ctx.conn.protocol) {
        return false;
    }
    let port = i64::from(ctx.conn.port);
    match &p.port {
        None => true,
        Some(IntOrString::Int(n)) => (*n..=p.end_port.unwrap_or(*n)).contains(&port),
        Some(IntOrString::String(name)) => named_port_is(ctx, name),
    }
}

/// Whether the destination pod has a container port `name` with the connection's protocol and
/// port (named ports are always resolved on the destination).
fn named_port_is(ctx: &Ctx<'_>, name: &str) -> bool {
    // Container ports are TCP, UDP or SCTP; packets of other protocols have no port to name.
    ctx.conn.protocol != Protocol::Other
        && ctx.dst_pod.is_some_and(|pod| {
            pod.named_ports.iter().any(|np| {
                np.name == name && np.protocol == ctx.conn.protocol && np.port == ctx.conn.port
            })
        })
}

// ----------------------------------------------------------------------------------- ANP/BANP

fn subject_matches(ctx: &Ctx<'_>, subject: &AdminSubject) -> bool {
    subject_selects(ctx.idx, subject, ctx.subject)
}

/// Whether an (Baseline)AdminNetworkPolicy `subject` selects `pod`.
pub(super) fn subject_selects(idx: &Index<'_>, subject: &AdminSubject, pod: &PodInfo) -> bool {
    match (&subject.namespaces, &subject.pods) {
        (Some(ns), _) => ns.matches(&idx.namespace_labels(&pod.namespace)),
        (None, Some(pods)) => admin_pods_match(idx, pods, pod),
        (None, None) => false,
    }
}

fn admin_pods_match(idx: &Index<'_>, pods: &AdminPods, pod: &PodInfo) -> bool {
    pods.namespace_selector
        .matches(&idx.namespace_labels(&pod.namespace))
        && pods.pod_selector.matches(&pod.labels)
}

/// The action of the first rule of `anp` (this direction) that matches, as an event action.
fn admin_decision(ctx: &Ctx<'_>, anp: &AdminNetworkPolicy) -> Option<Action> {
    let rules = match ctx.direction {
        Direction::Ingress => &anp.spec.ingress,
        Direction::Egress => &anp.spec.egress,
    };
    rules
        .iter()
        .find(|r| {
            let peers = match ctx.direction {
                Direction::Ingress => &r.from,
                Direction::Egress => &r.to,
            };
            peers.iter().any(|p| admin_peer_matches(ctx, p))
                && r.ports
                    .as_ref()
                    .is_none_or(|ports| ports.iter().any(|p| admin_port_matches(ctx, p)))
        })
        .map(|r| match r.action.as_str() {
            "Allow" => Action::Allow,
            "Pass" => Action::Pass,
            _ => Action::Drop,
        })
}

fn admin_peer_matches(ctx: &Ctx<'_>, peer: &AdminPeer) -> bool {
    admin_peer_matches_place(ctx.idx, ctx.peer, peer)
}

/// Whether an (Baseline)AdminNetworkPolicy `peer` matches the end `place`.
pub(super) fn admin_peer_matches_place(
    idx: &Index<'_>,
    place: Place<'_>,
    peer: &AdminPeer,
) -> bool {
    if let Some(networks) = &peer.networks {
        let Some(ip) = place.ip() else {
            return false;
        };
        return networks
            .iter()
            .any(|n| n.parse::<Cidr>().is_ok_and(|c| c.contains(ip)));
    }
    if let Some(nodes) = &peer.nodes {
        return matches!(place, Place::Node(node, _) if nodes.matches(&node.labels));
    }
    let Place::Pod(pod, _) = place else {
        return false;
    };
    match (&peer.namespaces, &peer.pods) {
        (Some(ns), _) => ns.matches(&idx.namespace_labels(&pod.namespace)),
        (None, Some(pods)) => admin_pods_match(idx, pods, pod),
        (None, None) => false,
    }
}

fn admin_port_matches(ctx: &Ctx<'_>, p: &AdminPort) -> bool {
    let proto_is = |p: &Option<String>| {
        p.as_deref()
            .map_or(Ok(Protocol::Tcp), str::parse::<Protocol>)
            == Ok(ctx.conn.protocol)
    };
    let port = i64::from(ctx.conn.port);
    if let Some(n) = &p.port_number {
        return proto_is(&n.protocol) && n.port == port;
    }
    if let Some(r) = &p.port_range {
        return proto_is(&r.protocol) && (r.start..=r.end).contains(&port);
    }
    p.named_port
        .as_deref()
        .is_some_and(|name| named_port_is(ctx, name))
}

// ------------------------------------------------------------------------------ EgressFirewall

/// Applies the source namespace's EgressFirewall to egress leaving the cluster.
fn egress_firewall(ctx: &Ctx<'_>, d: &mut DirectionVerdict) {
    let ns = ctx.subject.namespace.as_str();
    let Some(ef) = ctx.idx.egress_firewall(ns) else {
        return;
    };
    if let Some(allow) = ef_decision(ctx, ef) {
        d.events.push(NetworkEvent {
            action: if allow { Action::Allow } else { Action::Drop },
            kind: EventType::EgressFirewall,
            name: String::new(),
            namespace: ns.to_string(),
            // OVN-Kubernetes' egress firewall events carry no direction.
            direction: None,
        });
        if !allow {
            d.verdict = Verdict::Dropped;
        }
    }
}

/// `Some(true)`: the first matching rule allows; `Some(false)`: it denies; `None`: no rule
/// matches (allowed, no event).
fn ef_decision(ctx: &Ctx<'_>, ef: &EgressFirewall) -> Option<bool> {
    ef.spec
        .egress
        .iter()
        .find(|r| {
            let to = ef_destination_matches(r, ctx.peer, &ctx.conn.dst_dns_names);
            to && (r.ports.is_empty()
                || r.ports.iter().any(|p| {
                    p.protocol.parse::<Protocol>() == Ok(ctx.conn.protocol)
                        && p.port.is_none_or(|n| n == i64::from(ctx.conn.port))
                }))
        })
        .map(|r| r.kind == "Allow")
}

/// Whether the destination of EgressFirewall rule `r` matches the end `place`, known by
/// `dns_names`.
pub(super) fn ef_destination_matches(
    r: &EgressFirewallRule,
    place: Place<'_>,
    dns_names: &[String],
) -> bool {
    match (&r.to.cidr_selector, &r.to.dns_name, &r.to.node_selector) {
        (Some(c), _, _) => place
            .ip()
            .is_some_and(|ip| c.parse::<Cidr>().is_ok_and(|c| c.contains(ip))),
        (None, Some(name), _) => dns_names.iter().any(|n| dns_matches(name, n)),
        (None, None, Some(nodes)) => {
            matches!(place, Place::Node(node, _) if nodes.matches(&node.labels))
        }
        (None, None, None) => false,
    }
}

/// `pattern` (`example.com`, `*.example.com`) against a name, ignoring case and final dots.
fn dns_matches(pattern: &str, name: &str) -> bool {
    let norm = |s: &str| s.trim_end_matches('.').to_ascii_lowercase();
    let (pattern, name) = (norm(pattern), norm(name));
    match pattern.strip_prefix("*.") {
        Some(suffix) => name.len() > suffix.len() + 1 && name.ends_with(&format!(".{suffix}")),
        None => pattern == name,
    }
}
