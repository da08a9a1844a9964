//! The dimension dictionaries: what repeats from flow to flow (a workload, a pod's identity, the
//! capture context, a set of network events) gets an id once, and facts store the id.
//!
//! Lookups borrow the record's strings (a key is built with `Cow::Borrowed`, and owned only when
//! it is new), because ingest looks up four keys per flow. Ids handed out during a batch are
//! pending until the batch commits: a failed batch takes them back.

use netwarden_model::{Direction, FlowRecord};
use serde_json::Value;
use std::borrow::Cow;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, Hasher};
use std::net::IpAddr;

/// Namespace and owner of one end.
#[derive(Debug, Clone, Hash)]
pub struct Workload<'a> {
    pub namespace: Option<Cow<'a, str>>,
    pub owner_name: Option<Cow<'a, str>>,
    pub owner_type: Option<Cow<'a, str>>,
}

/// The rest of one end's identity: its address when it has a Kubernetes name (a pod's address is
/// as stable as its name; other addresses stay in the facts, so scans cannot grow this table),
/// its MAC, pod (or node, service) and host.
#[derive(Debug, Clone, Hash)]
pub struct Endpoint<'a> {
    pub ip: Option<IpAddr>,
    pub mac: Option<Cow<'a, str>>,
    pub name: Option<Cow<'a, str>>,
    pub kind: Option<Cow<'a, str>>,
    pub host_ip: Option<IpAddr>,
    pub host_name: Option<Cow<'a, str>>,
    pub network_name: Option<Cow<'a, str>>,
}

/// Where and how a flow was seen.
#[derive(Debug, Clone, Hash)]
pub struct Context<'a> {
    pub interfaces: Cow<'a, [String]>,
    pub if_directions: Cow<'a, [Direction]>,
    pub agent_ip: Option<IpAddr>,
    pub flow_layer: Option<Cow<'a, str>>,
}

/// A flow's network events, in order.
#[derive(Debug, Clone)]
pub struct Events<'a>(pub Cow<'a, [Value]>);

impl Hash for Events<'_> {
    fn hash<H: Hasher>(&self, h: &mut H) {
        fn walk<H: Hasher>(v: &Value, h: &mut H) {
            match v {
                Value::Null => h.write_u8(0),
                Value::Bool(b) => b.hash(h),
                Value::Number(n) => n.to_string().hash(h),
                Value::String(s) => s.hash(h),
                Value::Array(items) => {
                    h.write_usize(items.len());
                    items.iter().for_each(|i| walk(i, h));
                }
                Value::Object(map) => {
                    h.write_usize(map.len());
                    for (k, v) in map {
                        k.hash(h);
                        walk(v, h);
                    }
                }
            }
        }
        h.write_usize(self.0.len());
        self.0.iter().for_each(|v| walk(v, h));
    }
}

/// A key that can become its owned (`'static`) form.
pub trait IntoOwned {
    type Owned;
    fn into_owned(self) -> Self::Owned;
}

fn own(s: Option<Cow<'_, str>>) -> Option<Cow<'static, str>> {
    s.map(|s| Cow::Owned(s.into_owned()))
}

impl IntoOwned for Workload<'_> {
    type Owned = Workload<'static>;
    fn into_owned(self) -> Workload<'static> {
        Workload {
            namespace: own(self.namespace),
            owner_name: own(self.owner_name),
            owner_type: own(self.owner_type),
        }
    }
}

impl IntoOwned for Endpoint<'_> {
    type Owned = Endpoint<'static>;
    fn into_owned(self) -> Endpoint<'static> {
        Endpoint {
            ip: self.ip,
            mac: own(self.mac),
            name: own(self.name),
            kind: own(self.kind),
            host_ip: self.host_ip,
            host_name: own(self.host_name),
            network_name: own(self.network_name),
        }
    }
}

impl IntoOwned for Context<'_> {
    type Owned = Context<'static>;
    fn into_owned(self) -> Context<'static> {
        Context {
            interfaces: Cow::Owned(self.interfaces.into_owned()),
            if_directions: Cow::Owned(self.if_directions.into_owned()),
            agent_ip: self.agent_ip,
            flow_layer: own(self.flow_layer),
        }
    }
}

impl IntoOwned for Events<'_> {
    type Owned = Events<'static>;
    fn into_owned(self) -> Events<'static> {
        Events(Cow::Owned(self.0.into_owned()))
    }
}

fn borrowed(s: &Option<String>) -> Option<Cow<'_, str>> {
    s.as_deref().map(Cow::Borrowed)
}

/// The workloads of a record's source and destination.
pub fn workloads(r: &FlowRecord) -> [Workload<'_>; 2] {
    [
        Workload {
            namespace: borrowed(&r.src_k8s.namespace),
            owner_name: borrowed(&r.src_k8s.owner_name),
            owner_type: borrowed(&r.src_k8s.owner_type),
        },
        Workload {
            namespace: borrowed(&r.dst_k8s.namespace),
            owner_name: borrowed(&r.dst_k8s.owner_name),
            owner_type: borrowed(&r.dst_k8s.owner_type),
        },
    ]
}

/// The addresses a record's facts keep: those of ends without a Kubernetes name (the others are
/// in their [`Endpoint`]).
pub fn fact_addrs(r: &FlowRecord) -> [Option<IpAddr>; 2] {
    [
        r.src_addr.filter(|_| r.src_k8s.name.is_none()),
        r.dst_addr.filter(|_| r.dst_k8s.name.is_none()),
    ]
}

/// The endpoints of a record's source and destination.
pub fn endpoints(r: &FlowRecord) -> [Endpoint<'_>; 2] {
    [
        Endpoint {
            ip: r.src_addr.filter(|_| r.src_k8s.name.is_some()),
            mac: borrowed(&r.src_mac),
            name: borrowed(&r.src_k8s.name),
            kind: borrowed(&r.src_k8s.kind),
            host_ip: r.src_k8s.host_ip,
            host_name: borrowed(&r.src_k8s.host_name),
            network_name: borrowed(&r.src_k8s.network_name),
        },
        Endpoint {
            ip: r.dst_addr.filter(|_| r.dst_k8s.name.is_some()),
            mac: borrowed(&r.dst_mac),
            name: borrowed(&r.dst_k8s.name),
            kind: borrowed(&r.dst_k8s.kind),
            host_ip: r.dst_k8s.host_ip,
            host_name: borrowed(&r.dst_k8s.host_name),
            network_name: borrowed(&r.dst_k8s.network_name),
        },
    ]
}

pub fn context(r: &FlowRecord) -> Context<'_> {
    Context {
        interfaces: Cow::Borrowed(&r.interfaces),
        if_directions: Cow::Borrowed(&r.if_directions),
        agent_ip: r.agent_ip,
        flow_layer: borrowed(&r.k8s_flow_layer),
    }
}

pub fn events(r: &FlowRecord) -> Events<'_> {
    Events(Cow::Borrowed(&r.network_events))
}

/// Ids for one dimension's keys. Ids are never reused while the store is open (pruned ones
/// leave holes), so a fact can never point at another key's row.
#[derive(Debug)]
pub struct Dictionary<K> {
    /// Key by id; `None` for pruned ids.
    keys: Vec<Option<K>>,
    /// Ids by key hash.
    by_hash: HashMap<u64, Vec<u32>>,
    /// Ids below this are in the database.
    committed: usize,
    hasher: foldhash::fast::FixedState,
}

impl<K> Default for Dictionary<K> {
    fn default() -> Self {
        Self {
            keys: Vec::new(),
            by_hash: HashMap::new(),
            committed: 0,
            hasher: foldhash::fast::FixedState::with_seed(0x006e_7761_7264_656e),
        }
    }
}

impl<K: Hash> Dictionary<K> {
    fn hash_of<Q: Hash + ?Sized>(&self, key: &Q) -> u64 {
        self.hasher.hash_one(key)
    }

    /// The id of `key`, handing out a new (pending) one when it is new.
    pub fn id<B>(&mut self, key: B) -> u32
    where
        B: IntoOwned<Owned = K> + Hash,
        K: PartialEq<B>,
    {
        let hash = self.hash_of(&key);
        if let Some(ids) = self.by_hash.get(&hash) {
            for id in ids {
                if self.keys[*id as usize].as_ref().is_some_and(|k| *k == key) {
                    return *id;
                }
            }
        }
        let id = u32::try_from(self.keys.len()).unwrap_or(u32::MAX);
        self.keys.push(Some(key.into_owned()));
        self.by_hash.entry(hash).or_default().push(id);
        id
    }

    /// Puts back a stored key under its id (when the store opens).
    pub fn load(&mut self, id: u32, key: K) {
        let at = id as usize;
        if self.keys.len() <= at {
            self.keys.resize_with(at + 1, || None);
        }
        let hash = self.hash_of(&key);
        self.keys[at] = Some(key);
        self.by_hash.entry(hash).or_default().push(id);
        self.committed = self.keys.len();
    }

    /// The keys handed out since the last commit, with their ids.
    pub fn pending(&self) -> impl Iterator<Item = (u32, &K)> {
        self.keys[self.committed..]
            .iter()
            .enumerate()
            .filter_map(move |(i, k)| k.as_ref().map(|k| ((self.committed + i) as u32, k)))
    }

    pub fn commit(&mut self) {
        self.committed = self.keys.len();
    }

    /// Forgets the keys handed out since the last commit.
    pub fn rollback(&mut self) {
        for id in self.committed..self.keys.len() {
            self.remove(id as u32);
        }
        self.keys.truncate(self.committed);
    }

    /// Forgets `id` and its key (a pruned row, or a pending one rolled back).
    pub fn remove(&mut self, id: u32) {
        if let Some(k) = self.keys.get_mut(id as usize).and_then(Option::take) {
            let hash = self.hash_of(&k);
            if let Some(ids) = self.by_hash.get_mut(&hash) {
                ids.retain(|i| *i != id);
                if ids.is_empty() {
                    self.by_hash.remove(&hash);
                }
            }
        }
    }

    /// Number of live keys.
    pub fn len(&self) -> usize {
        self.keys.iter().filter(|k| k.is_some()).count()
    }
}

// Comparisons of a stored (owned) key with a borrowed one.
impl<'b> PartialEq<Workload<'b>> for Workload<'_> {
    fn eq(&self, o: &Workload<'b>) -> bool {
        self.namespace == o.namespace
            && self.owner_name == o.owner_name
            && self.owner_type == o.owner_type
    }
}

impl<'b> PartialEq<Endpoint<'b>> for Endpoint<'_> {
    fn eq(&self, o: &Endpoint<'b>) -> bool {
        self.name == o.name
            && self.ip == o.ip
            && self.mac == o.mac
            && self.kind == o.kind
            && self.host_ip == o.host_ip
            && self.host_name == o.host_name
            && self.network_name == o.network_name
    }
}

impl<'b> PartialEq<Context<'b>> for Context<'_> {
    fn eq(&self, o: &Context<'b>) -> bool {
        self.interfaces == o.interfaces
            && self.if_directions == o.if_directions
            && self.agent_ip == o.agent_ip
            && self.flow_layer == o.flow_layer
    }
}

impl<'b> PartialEq<Events<'b>> for Events<'_> {
    fn eq(&self, o: &Events<'b>) -> bool {
        self.0 == o.0
    }
}

/// The four dictionaries.
#[derive(Debug, Default)]
pub struct Dims {
    pub workloads: Dictionary<Workload<'static>>,
    pub endpoints: Dictionary<Endpoint<'static>>,
    pub contexts: Dictionary<Context<'static>>,
    pub events: Dictionary<Events<'static>>,
}

/// The dimension ids of one flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FlowIds {
    pub src_wl: u32,
    pub dst_wl: u32,
    pub src_ep: u32,
    pub dst_ep: u32,
    pub ctx: u32,
    pub events: u32,
}

impl Dims {
    pub fn ids(&mut self, r: &FlowRecord) -> FlowIds {
        let [sw, dw] = workloads(r);
        let [se, de] = endpoints(r);
        FlowIds {
            src_wl: self.workloads.id(sw),
            dst_wl: self.workloads.id(dw),
            src_ep: self.endpoints.id(se),
            dst_ep: self.endpoints.id(de),
            ctx: self.contexts.id(context(r)),
            events: self.events.id(events(r)),
        }
    }

    /// Live keys of all four dictionaries.
    pub fn rows(&self) -> usize {
        self.workloads.len() + self.endpoints.len() + self.contexts.len() + self.events.len()
    }

    pub fn commit(&mut self) {
        self.workloads.commit();
        self.endpoints.commit();
        self.contexts.commit();
        self.events.commit();
    }

    pub fn rollback(&mut self) {
        self.workloads.rollback();
        self.endpoints.rollback();
        self.contexts.rollback();
        self.events.rollback();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_keys_same_ids_and_rollback_forgets() {
        let mut a = FlowRecord::default();
        a.src_k8s.namespace = Some("iperf".into());
        a.network_events = vec![serde_json::json!({"Message": "Allowed by x"})];
        let mut b = a.clone();
        b.dst_k8s.namespace = Some("db".into());
        let mut dims = Dims::default();
        let ia = dims.ids(&a);
        assert_eq!(dims.ids(&a), ia);
        let ib = dims.ids(&b);
        assert_eq!(ib.src_wl, ia.src_wl);
        assert_ne!(ib.dst_wl, ia.dst_wl);
        assert_eq!(ib.events, ia.events);
        assert_eq!(dims.workloads.pending().count(), 3);
        dims.commit();
        assert_eq!(dims.workloads.pending().count(), 0);
        let mut c = a.clone();
        c.src_k8s.namespace = Some("new".into());
        let ic = dims.ids(&c);
        assert_eq!(ic.src_wl, 3);
        dims.rollback();
        assert_eq!(dims.workloads.len(), 3);
        // The id is handed out again, for whatever key comes next.
        c.src_k8s.namespace = Some("other".into());
        assert_eq!(dims.ids(&c).src_wl, 3);
        assert_eq!(dims.ids(&a), ia);
    }

    #[test]
    fn removed_ids_leave_holes() {
        let mut d: Dictionary<Workload<'static>> = Dictionary::default();
        let w = |n: &'static str| Workload {
            namespace: Some(Cow::Borrowed(n)),
            owner_name: None,
            owner_type: None,
        };
        assert_eq!(d.id(w("a")), 0);
        assert_eq!(d.id(w("b")), 1);
        d.commit();
        d.remove(0);
        assert_eq!(d.len(), 1);
        assert_eq!(d.id(w("a")), 2);
        assert_eq!(d.id(w("b")), 1);
    }
}
