//! The Kubernetes source against a mocked API server: the index built from what the API serves
//! must equal the index built from the same objects in a YAML file.
//!
//! The mock (a `tower_test` service behind `kube::Client::new`) serves each resource's list from
//! `tests/fixtures/cluster.yaml`, in pages of two as the API server may; watch requests either
//! deliver queued events once or hang, like a quiet cluster.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use http::{Request, Response, StatusCode};
use kube::client::Body;
use netwarden_inventory::kube_source::{snapshot_once, KubeWatcher};
use netwarden_inventory::{yaml, Index, InventoryProblem};
use serde::Deserialize;
use serde_json::{json, Value};
use tower_test::mock;

const PAGE: usize = 2;

/// The fixture, found from the crate's directory when the test runs (cargo sets it), not when it
/// is built: another checkout sharing the target directory may have built this binary.
fn fixture() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| env!("CARGO_MANIFEST_DIR").into(), PathBuf::from)
        .join("tests/fixtures/cluster.yaml")
}

/// Where the API serves a kind cluster-wide, and its apiVersion.
fn route(kind: &str) -> Option<(&'static str, &'static str)> {
    Some(match kind {
        "Namespace" => ("/api/v1/namespaces", "v1"),
        "Pod" => ("/api/v1/pods", "v1"),
        "Service" => ("/api/v1/services", "v1"),
        "Node" => ("/api/v1/nodes", "v1"),
        "EndpointSlice" => (
            "/apis/discovery.k8s.io/v1/endpointslices",
            "discovery.k8s.io/v1",
        ),
        "ReplicaSet" => ("/apis/apps/v1/replicasets", "apps/v1"),
        "Job" => ("/apis/batch/v1/jobs", "batch/v1"),
        // Deployments, CronJobs...: the source does not ask for them.
        _ => return None,
    })
}

/// What the mocked API server holds.
#[derive(Default)]
struct MockApi {
    /// Objects per list path, with kind and apiVersion as in a manifest.
    lists: HashMap<&'static str, (String, &'static str, Vec<Value>)>,
    /// Events the first watch on a path delivers, as JSON lines.
    first_watch: HashMap<&'static str, Vec<Value>>,
    /// List requests that carried a continue token.
    continued: AtomicUsize,
}

impl MockApi {
    /// The fixture's objects, read as raw YAML (not through the YAML source under test), minus
    /// the pods named in `held_back`, which the first pod watch delivers as ADDED events.
    fn from_fixture(held_back: &[&str]) -> MockApi {
        let text = std::fs::read_to_string(fixture()).expect("fixture");
        let mut api = MockApi::default();
        for doc in serde_yaml::Deserializer::from_str(&text) {
            let doc: Value = serde_yaml::Value::deserialize(doc)
                .map(|v| serde_json::to_value(v).expect("YAML to JSON"))
                .expect("fixture YAML");
            let objects = match doc["kind"].as_str() {
                Some("List") => doc["items"].as_array().cloned().unwrap_or_default(),
                _ => vec![doc],
            };
            for object in objects {
                let kind = object["kind"].as_str().expect("kind").to_string();
                let Some((path, version)) = route(&kind) else {
                    continue;
                };
                let name = object["metadata"]["name"].as_str().unwrap_or_default();
                if kind == "Pod" && held_back.contains(&name) {
                    let mut object = object.clone();
                    object["metadata"]["resourceVersion"] = json!("101");
                    api.first_watch
                        .entry(path)
                        .or_default()
                        .push(json!({"type": "ADDED", "object": object}));
                    continue;
                }
                api.lists
                    .entry(path)
                    .or_insert_with(|| (format!("{kind}List"), version, Vec::new()))
                    .2
                    .push(object);
            }
        }
        // Kinds with no object still answer with an empty list.
        for kind in [
            "Namespace",
            "Pod",
            "Service",
            "Node",
            "EndpointSlice",
            "ReplicaSet",
            "Job",
        ] {
            if let Some((path, version)) = route(kind) {
                api.lists
                    .entry(path)
                    .or_insert_with(|| (format!("{kind}List"), version, Vec::new()));
            }
        }
        api
    }

    /// One page of a list, items without kind/apiVersion as the API returns them.
    fn list_page(&self, path: &str, query: &str) -> Option<Value> {
        let (list_kind, version, objects) = self.lists.get(path)?;
        let start = param(query, "continue")
            .inspect(|_| {
                self.continued.fetch_add(1, Ordering::Relaxed);
            })
            .and_then(|t| t.parse::<usize>().ok())
            .unwrap_or(0);
        let end = (start + PAGE).min(objects.len());
        let items: Vec<Value> = objects[start.min(end)..end]
            .iter()
            .map(|o| {
                let mut o = o.clone();
                if let Some(map) = o.as_object_mut() {
                    map.remove("kind");
                    map.remove("apiVersion");
                }
                o
            })
            .collect();
        let mut metadata = json!({"resourceVersion": "100"});
        if end < objects.len() {
            metadata["continue"] = json!(end.to_string());
        }
        Some(
            json!({"apiVersion": version, "kind": list_kind, "metadata": metadata, "items": items}),
        )
    }
}

fn param<'q>(query: &'q str, key: &str) -> Option<&'q str> {
    query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v)
}

fn respond(status: StatusCode, body: Vec<u8>) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Body::from(body))
        .expect("response")
}

/// Answers the client's requests until it goes away.
async fn serve(mut handle: mock::Handle<Request<Body>, Response<Body>>, api: Arc<MockApi>) {
    let mut watched = HashMap::<String, usize>::new();
    // Watches with nothing to say stay open, as on a quiet cluster; dropping them would fail
    // the request and make the watcher back off and retry.
    let mut open_watches = Vec::new();
    while let Some((request, send)) = handle.next_request().await {
        let path = request.uri().path().to_string();
        let query = request.uri().query().unwrap_or_default().to_string();
        if param(&query, "watch") == Some("true") {
            let n = watched.entry(path.clone()).or_default();
            *n += 1;
            match api.first_watch.get(path.as_str()).filter(|_| *n == 1) {
                Some(events) => {
                    let lines: Vec<String> = events.iter().map(Value::to_string).collect();
                    send.send_response(respond(StatusCode::OK, lines.join("\n").into_bytes()));
                }
                None => open_watches.push(send),
            }
            continue;
        }
        match api.list_page(&path, &query) {
            Some(page) => {
                send.send_response(respond(StatusCode::OK, page.to_string().into_bytes()))
            }
            None => {
                let status = json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                    "reason": "NotFound", "code": 404, "message": format!("{path} not served")});
                send.send_response(respond(
                    StatusCode::NOT_FOUND,
                    status.to_string().into_bytes(),
                ));
            }
        }
    }
}

fn mocked_client(api: Arc<MockApi>) -> kube::Client {
    let (service, handle) = mock::pair::<Request<Body>, Response<Body>>();
    tokio::spawn(serve(handle, api));
    kube::Client::new(service, "default")
}

fn index_from_file() -> (Index, Vec<InventoryProblem>) {
    let (snapshot, load_problems) = yaml::load_file(fixture()).expect("fixture loads");
    assert!(load_problems.is_empty(), "{load_problems:#?}");
    let built = Index::build(&snapshot);
    // The fixture's one invalid pod, so problems are compared too.
    let problems: Vec<String> = built.1.iter().map(ToString::to_string).collect();
    assert_eq!(
        problems,
        [r#"Pod shop/broken: status.podIPs[0]: "10.244.9.x" is not an IP address; skipped"#]
    );
    // 7 pod-network addresses, 4 node addresses, 4 service addresses.
    assert_eq!(built.0.len(), 15);
    built
}

#[tokio::test]
async fn listed_once_from_the_api_equals_the_file() {
    let api = Arc::new(MockApi::from_fixture(&[]));
    let client = mocked_client(Arc::clone(&api));
    let snapshot = tokio::time::timeout(Duration::from_secs(10), snapshot_once(&client))
        .await
        .expect("the mocked API answers")
        .expect("listing succeeds");
    assert_eq!(Index::build(&snapshot), index_from_file());
    assert!(
        api.continued.load(Ordering::Relaxed) > 0,
        "lists were paged"
    );
}

#[tokio::test]
async fn watched_from_the_api_equals_the_file() {
    // db-0 is not in the pod list: only the pod watch delivers it.
    let api = Arc::new(MockApi::from_fixture(&["db-0"]));
    let watcher = KubeWatcher::start(mocked_client(Arc::clone(&api)));
    let mut changes = watcher.changes();
    let want = index_from_file();
    let converged = async {
        watcher.ready().await.expect("caches fill");
        loop {
            let built = Index::build(&watcher.snapshot());
            if built == want {
                return built;
            }
            changes.changed().await.expect("watchers run");
        }
    };
    let built = tokio::time::timeout(Duration::from_secs(10), converged)
        .await
        .expect("the watched index converges to the file's");
    let db = built.0.lookup("10.244.2.8".parse().unwrap());
    assert_eq!(db.map(|e| e.owner_type.as_str()), Some("StatefulSet"));
    assert!(
        api.continued.load(Ordering::Relaxed) > 0,
        "lists were paged"
    );
}

#[tokio::test]
async fn api_errors_are_reported() {
    // An API that serves nothing: every list is a 404.
    let client = mocked_client(Arc::new(MockApi::default()));
    let result = tokio::time::timeout(Duration::from_secs(10), snapshot_once(&client))
        .await
        .expect("the mocked API answers");
    match result {
        Err(netwarden_inventory::InventoryError::Kube { resource, .. }) => {
            assert!(!resource.is_empty())
        }
        other => panic!("expected an API error, got {other:?}"),
    }
}
