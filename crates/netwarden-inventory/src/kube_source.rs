//! The Kubernetes source: the cluster's objects through kube-rs, as a [`Snapshot`].
//!
//! [`KubeWatcher`] keeps client-side caches (reflector stores) of the kinds the index needs and
//! reads them into a snapshot on demand: pods, services, EndpointSlices, nodes, namespaces,
//! ReplicaSets and Jobs. Deployments, StatefulSets, DaemonSets and CronJobs are not watched:
//! ReplicaSets and Jobs name their Deployment or CronJob in their owner references, and pods
//! name their StatefulSet or DaemonSet directly. [`snapshot_once`] lists the same kinds once,
//! for one-shot commands.
//!
//! Both need RBAC `list` (and `watch` for the watcher) on those resources, cluster-wide.

use std::fmt::Debug;
use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Namespace, Node, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::ListParams;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{watcher, WatchStreamExt};
use kube::{Api, Client, Resource};
use serde::de::DeserializeOwned;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::{InventoryError, Snapshot};

/// Objects per list request; the API server pages larger collections.
const PAGE_SIZE: u32 = 500;

/// What a watched or listed kind must be: a typed object kube can fetch cluster-wide.
trait WatchedKind:
    Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static
{
}
impl<K> WatchedKind for K where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static
{
}

/// Drops `metadata.managedFields`: the largest part of most objects, and never read here.
fn slim<K: Resource>(object: &mut K) {
    object.meta_mut().managed_fields = None;
}

/// Lists every object of kind `K` in the cluster, page by page.
async fn list_all<K: WatchedKind>(
    client: &Client,
    resource: &'static str,
) -> Result<Vec<K>, InventoryError> {
    let api: Api<K> = Api::all(client.clone());
    let mut items = Vec::new();
    let mut params = ListParams::default().limit(PAGE_SIZE);
    loop {
        let page = api
            .list(&params)
            .await
            .map_err(|source| InventoryError::Kube { resource, source })?;
        items.extend(page.items.into_iter().map(|mut o| {
            slim(&mut o);
            o
        }));
        match page.metadata.continue_ {
            Some(token) if !token.is_empty() => params = params.continue_token(&token),
            _ => break,
        }
    }
    Ok(items)
}

/// Lists the inventory's kinds once (concurrently) into a snapshot.
pub async fn snapshot_once(client: &Client) -> Result<Snapshot, InventoryError> {
    let (namespaces, pods, services, endpoint_slices, nodes, replica_sets, jobs) = tokio::try_join!(
        list_all::<Namespace>(client, "namespaces"),
        list_all::<Pod>(client, "pods"),
        list_all::<Service>(client, "services"),
        list_all::<EndpointSlice>(client, "endpointslices"),
        list_all::<Node>(client, "nodes"),
        list_all::<ReplicaSet>(client, "replicasets"),
        list_all::<Job>(client, "jobs"),
    )?;
    Ok(Snapshot {
        namespaces,
        pods,
        services,
        endpoint_slices,
        nodes,
        replica_sets,
        jobs,
        ..Snapshot::default()
    })
}

/// One watched kind: its cache and its name for messages.
struct Watched<K: WatchedKind> {
    resource: &'static str,
    store: Store<K>,
}

impl<K: WatchedKind> Watched<K> {
    /// Starts a watcher feeding a new store; the task bumps `generation` on every change.
    fn start(
        client: &Client,
        resource: &'static str,
        generation: &Arc<watch::Sender<u64>>,
        tasks: &mut Vec<JoinHandle<()>>,
    ) -> Watched<K> {
        let (store, writer) = reflector::store();
        let api: Api<K> = Api::all(client.clone());
        // Errors come through the stream and are retried with backoff, so the loop only ends
        // when the task is aborted.
        let stream = reflector::reflector(
            writer,
            watcher(api, watcher::Config::default())
                .modify(slim)
                .default_backoff(),
        );
        let generation = Arc::clone(generation);
        tasks.push(tokio::spawn(async move {
            let mut stream = std::pin::pin!(stream);
            while let Some(event) = stream.next().await {
                match event {
                    // The store swaps in a (re)list at InitDone; partial lists are not news.
                    Ok(watcher::Event::Init | watcher::Event::InitApply(_)) => {}
                    Ok(_) => generation.send_modify(|g| *g += 1),
                    Err(error) => {
                        tracing::warn!(resource, %error, "inventory watch failed; retrying");
                    }
                }
            }
        }));
        Watched { resource, store }
    }

    async fn ready(&self) -> Result<(), InventoryError> {
        self.store
            .wait_until_ready()
            .await
            .map_err(|_| InventoryError::WatcherStopped {
                resource: self.resource,
            })
    }

    fn objects(&self) -> Vec<K> {
        self.store.state().iter().map(|o| K::clone(o)).collect()
    }
}

/// Watchers over the inventory's kinds, each with a client-side cache.
///
/// Start it with [`KubeWatcher::start`], wait for [`KubeWatcher::ready`], then rebuild the index
/// from [`KubeWatcher::snapshot`] whenever [`KubeWatcher::changes`] moves. Dropping it stops the
/// watchers.
pub struct KubeWatcher {
    namespaces: Watched<Namespace>,
    pods: Watched<Pod>,
    services: Watched<Service>,
    endpoint_slices: Watched<EndpointSlice>,
    nodes: Watched<Node>,
    replica_sets: Watched<ReplicaSet>,
    jobs: Watched<Job>,
    generation: watch::Receiver<u64>,
    tasks: Vec<JoinHandle<()>>,
}

impl KubeWatcher {
    /// Starts one watcher task per kind on the current Tokio runtime.
    pub fn start(client: Client) -> KubeWatcher {
        let (tx, generation) = watch::channel(0);
        let tx = Arc::new(tx);
        let mut tasks = Vec::new();
        let c = &client;
        KubeWatcher {
            namespaces: Watched::start(c, "namespaces", &tx, &mut tasks),
            pods: Watched::start(c, "pods", &tx, &mut tasks),
            services: Watched::start(c, "services", &tx, &mut tasks),
            endpoint_slices: Watched::start(c, "endpointslices", &tx, &mut tasks),
            nodes: Watched::start(c, "nodes", &tx, &mut tasks),
            replica_sets: Watched::start(c, "replicasets", &tx, &mut tasks),
            jobs: Watched::start(c, "jobs", &tx, &mut tasks),
            generation,
            tasks,
        }
    }

    /// Waits until every cache holds its first complete list. Until then a snapshot may lack
    /// whole kinds (e.g. pods before their ReplicaSets, resolving owners one hop short).
    pub async fn ready(&self) -> Result<(), InventoryError> {
        self.namespaces.ready().await?;
        self.pods.ready().await?;
        self.services.ready().await?;
        self.endpoint_slices.ready().await?;
        self.nodes.ready().await?;
        self.replica_sets.ready().await?;
        self.jobs.ready().await
    }

    /// The caches' current content.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            namespaces: self.namespaces.objects(),
            pods: self.pods.objects(),
            services: self.services.objects(),
            endpoint_slices: self.endpoint_slices.objects(),
            nodes: self.nodes.objects(),
            replica_sets: self.replica_sets.objects(),
            jobs: self.jobs.objects(),
            ..Snapshot::default()
        }
    }

    /// A receiver whose value (a change counter) moves whenever a cache changed; `changed()` on
    /// it waits for the next change. Changes arrive in bursts: debounce before rebuilding.
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.generation.clone()
    }
}

impl Drop for KubeWatcher {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}
