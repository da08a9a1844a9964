//! The YAML source: Kubernetes objects as `kubectl get -o yaml` prints them or as manifests hold
//! them.
//!
//! A file holds any number of YAML documents (separated by `---`); each is one object or a list
//! (`kind: List`, or a typed list such as `PodList`) whose `items` are objects. The kinds the
//! inventory uses are Namespace, Pod, Service, EndpointSlice, Node, ReplicaSet, Deployment,
//! StatefulSet, DaemonSet, Job and CronJob; other kinds (a NetworkPolicy in the same file, say)
//! are skipped with a [`Severity::Note`]. An object that does not deserialize as its kind is
//! skipped with a [`Severity::Error`] naming the field; the rest of the file is still used. Only
//! a file that is not YAML at all fails as a whole.
//!
//! Namespaced objects without `metadata.namespace` are put in `default`, as `kubectl apply` does
//! with a context that names no namespace.

use std::path::Path;

use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_yaml::Value;

use crate::{InventoryError, InventoryProblem, Severity, Snapshot};

/// Reads and parses the inventory file at `path`; see [`parse_str`].
pub fn load_file(
    path: impl AsRef<Path>,
) -> Result<(Snapshot, Vec<InventoryProblem>), InventoryError> {
    let path = path.as_ref();
    let text = std::fs::read_to_string(path).map_err(|source| InventoryError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse_str(&text, &path.display().to_string())
}

/// Parses inventory YAML. `origin` names the text in problems and errors (a file path).
///
/// Fails only when the text is not YAML; objects that are invalid or of other kinds are
/// reported as problems and left out of the snapshot.
pub fn parse_str(
    text: &str,
    origin: &str,
) -> Result<(Snapshot, Vec<InventoryProblem>), InventoryError> {
    let mut loader = Loader {
        origin,
        snapshot: Snapshot::default(),
        problems: Vec::new(),
    };
    for (i, document) in serde_yaml::Deserializer::from_str(text).enumerate() {
        let value = Value::deserialize(document).map_err(|source| InventoryError::Yaml {
            origin: origin.to_string(),
            source,
        })?;
        loader.document(value, format!("document {}", i + 1));
    }
    Ok((loader.snapshot, loader.problems))
}

struct Loader<'o> {
    origin: &'o str,
    snapshot: Snapshot,
    problems: Vec<InventoryProblem>,
}

/// Kind, namespace and name of a raw object, for problems about it.
struct RawId {
    kind: String,
    namespace: Option<String>,
    name: Option<String>,
}

impl RawId {
    fn of(object: &Value) -> RawId {
        let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_string);
        let meta = object.get("metadata");
        RawId {
            kind: text(object.get("kind")).unwrap_or_default(),
            namespace: text(meta.and_then(|m| m.get("namespace"))),
            name: text(meta.and_then(|m| m.get("name"))),
        }
    }
}

impl Loader<'_> {
    fn report(&mut self, severity: Severity, id: &RawId, location: &str, message: String) {
        self.problems.push(
            InventoryProblem::new(
                severity,
                id.kind.as_str(),
                id.namespace.as_deref(),
                id.name.as_deref(),
                message,
            )
            .at(self.origin, location),
        );
    }

    fn document(&mut self, mut value: Value, location: String) {
        if value.is_null() {
            // An empty document, e.g. after a trailing `---`.
            return;
        }
        if let Err(e) = value.apply_merge() {
            let id = RawId::of(&value);
            self.report(
                Severity::Error,
                &id,
                &location,
                format!("merge key (<<): {e}; skipped"),
            );
            return;
        }
        let id = RawId::of(&value);
        let is_list =
            id.kind == "List" || (id.kind.ends_with("List") && value.get("items").is_some());
        if !is_list {
            self.object(value, &location);
            return;
        }
        let Some(items) = value.get("items").and_then(Value::as_sequence) else {
            self.report(
                Severity::Error,
                &id,
                &location,
                "items is not a list; skipped".into(),
            );
            return;
        };
        // A typed list (`PodList`) as the API returns it leaves kind and apiVersion off its
        // items; they are the list's kind without `List`, and the list's apiVersion.
        let item_kind = id.kind.strip_suffix("List").filter(|k| !k.is_empty());
        let api_version = value.get("apiVersion").cloned();
        for (j, item) in items.iter().enumerate() {
            let mut item = item.clone();
            if let (Some(kind), Some(map)) = (item_kind, item.as_mapping_mut()) {
                if !map.contains_key("kind") {
                    map.insert("kind".into(), kind.into());
                    if let Some(v) = &api_version {
                        map.entry("apiVersion".into()).or_insert_with(|| v.clone());
                    }
                }
            }
            self.object(item, &format!("{location}, items[{j}]"));
        }
    }

    fn object(&mut self, value: Value, location: &str) {
        let id = RawId::of(&value);
        if !value.is_mapping() {
            self.report(
                Severity::Error,
                &id,
                location,
                "not an object; skipped".into(),
            );
            return;
        }
        let s = &mut self.snapshot;
        let added = match id.kind.as_str() {
            "" => Err("kind is missing; skipped".to_string()),
            "Namespace" => add(value, false, &mut s.namespaces),
            "Node" => add(value, false, &mut s.nodes),
            "Pod" => add(value, true, &mut s.pods),
            "Service" => add(value, true, &mut s.services),
            "EndpointSlice" => add(value, true, &mut s.endpoint_slices),
            "ReplicaSet" => add(value, true, &mut s.replica_sets),
            "Deployment" => add(value, true, &mut s.deployments),
            "StatefulSet" => add(value, true, &mut s.stateful_sets),
            "DaemonSet" => add(value, true, &mut s.daemon_sets),
            "Job" => add(value, true, &mut s.jobs),
            "CronJob" => add(value, true, &mut s.cron_jobs),
            other => {
                let message = format!("kind {other} is not part of the inventory index; skipped");
                self.report(Severity::Note, &id, location, message);
                return;
            }
        };
        if let Err(message) = added {
            self.report(Severity::Error, &id, location, message);
        }
    }
}

/// Deserializes `value` as a `K` and appends it to `into`, or says which field is wrong.
fn add<K: DeserializeOwned + k8s_openapi::Resource>(
    mut value: Value,
    namespaced: bool,
    into: &mut Vec<K>,
) -> Result<(), String> {
    // Checked here, not left to the deserializer, for a message that names the field.
    if let Some(version) = value.get("apiVersion").and_then(Value::as_str) {
        if version != K::API_VERSION {
            return Err(format!(
                "apiVersion: {version:?} is not {:?}, the version of {} read here; skipped",
                K::API_VERSION,
                K::KIND
            ));
        }
    }
    if namespaced {
        default_namespace(&mut value);
    }
    match serde_path_to_error::deserialize::<_, K>(value) {
        Ok(object) => {
            into.push(object);
            Ok(())
        }
        Err(e) => {
            let path = e.path().to_string();
            if path == "." {
                Err(format!("{}; skipped", e.inner()))
            } else {
                Err(format!("{path}: {}; skipped", e.inner()))
            }
        }
    }
}

/// Sets `metadata.namespace: default` when a namespaced object names none.
fn default_namespace(value: &mut Value) {
    let Some(meta) = value.get_mut("metadata").and_then(Value::as_mapping_mut) else {
        // No metadata at all: the index reports the missing name.
        return;
    };
    let key = Value::from("namespace");
    let missing = match meta.get(&key) {
        None | Some(Value::Null) => true,
        Some(v) => v.as_str() == Some(""),
    };
    if missing {
        meta.insert(key, Value::from("default"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Names of the snapshot's objects as `Kind ns/name`, in snapshot order.
    fn names(s: &Snapshot) -> Vec<String> {
        fn id(
            kind: &str,
            m: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
        ) -> String {
            match &m.namespace {
                Some(ns) => format!("{kind} {ns}/{}", m.name.as_deref().unwrap_or("?")),
                None => format!("{kind} {}", m.name.as_deref().unwrap_or("?")),
            }
        }
        let mut out = Vec::new();
        out.extend(s.namespaces.iter().map(|o| id("Namespace", &o.metadata)));
        out.extend(s.pods.iter().map(|o| id("Pod", &o.metadata)));
        out.extend(s.services.iter().map(|o| id("Service", &o.metadata)));
        out.extend(
            s.endpoint_slices
                .iter()
                .map(|o| id("EndpointSlice", &o.metadata)),
        );
        out.extend(s.nodes.iter().map(|o| id("Node", &o.metadata)));
        out.extend(s.replica_sets.iter().map(|o| id("ReplicaSet", &o.metadata)));
        out.extend(s.deployments.iter().map(|o| id("Deployment", &o.metadata)));
        out.extend(
            s.stateful_sets
                .iter()
                .map(|o| id("StatefulSet", &o.metadata)),
        );
        out.extend(s.daemon_sets.iter().map(|o| id("DaemonSet", &o.metadata)));
        out.extend(s.jobs.iter().map(|o| id("Job", &o.metadata)));
        out.extend(s.cron_jobs.iter().map(|o| id("CronJob", &o.metadata)));
        out
    }

    #[test]
    fn loads_documents_and_lists() {
        // (case, YAML, objects loaded, problems as "severity: line")
        let cases: &[(&str, &str, &[&str], &[&str])] = &[
            (
                "multi-document, every kind",
                "
apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: v1
kind: Pod
metadata: {namespace: shop, name: web-0}
---
apiVersion: v1
kind: Service
metadata: {namespace: shop, name: web}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {namespace: shop, name: web-x}
addressType: IPv4
endpoints: []
---
apiVersion: v1
kind: Node
metadata: {name: node-a}
---
apiVersion: apps/v1
kind: ReplicaSet
metadata: {namespace: shop, name: web-1}
spec: {selector: {}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {namespace: shop, name: web}
spec: {selector: {}, template: {}}
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {namespace: shop, name: db}
spec: {selector: {}, template: {}}
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {namespace: kube-system, name: proxy}
spec: {selector: {}, template: {}}
---
apiVersion: batch/v1
kind: Job
metadata: {namespace: batch, name: once}
---
apiVersion: batch/v1
kind: CronJob
metadata: {namespace: batch, name: nightly}
spec: {schedule: '@daily', jobTemplate: {}}
---
",
                &[
                    "Namespace shop",
                    "Pod shop/web-0",
                    "Service shop/web",
                    "EndpointSlice shop/web-x",
                    "Node node-a",
                    "ReplicaSet shop/web-1",
                    "Deployment shop/web",
                    "StatefulSet shop/db",
                    "DaemonSet kube-system/proxy",
                    "Job batch/once",
                    "CronJob batch/nightly",
                ],
                &[],
            ),
            (
                "kind: List, as kubectl get -o yaml prints",
                "
apiVersion: v1
kind: List
items:
- {apiVersion: v1, kind: Pod, metadata: {namespace: a, name: p1}}
- {apiVersion: v1, kind: Node, metadata: {name: n1}}
- {apiVersion: v1, kind: ConfigMap, metadata: {namespace: a, name: cm}}
",
                &["Pod a/p1", "Node n1"],
                &["note: t.yaml: document 1, items[2]: ConfigMap a/cm: kind ConfigMap is not part of the inventory index; skipped"],
            ),
            (
                "typed list, items without kind as the API returns them",
                "
apiVersion: v1
kind: PodList
metadata: {resourceVersion: '7'}
items:
- metadata: {namespace: a, name: p1}
- metadata: {namespace: a, name: p2}
",
                &["Pod a/p1", "Pod a/p2"],
                &[],
            ),
            (
                "unknown kinds are noted, the rest is loaded",
                "
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {namespace: a, name: deny}
---
apiVersion: v1
kind: Pod
metadata: {namespace: a, name: p1}
",
                &["Pod a/p1"],
                &["note: t.yaml: document 1: NetworkPolicy a/deny: kind NetworkPolicy is not part of the inventory index; skipped"],
            ),
            (
                "no namespace means default",
                "{apiVersion: v1, kind: Pod, metadata: {name: p1}}",
                &["Pod default/p1"],
                &[],
            ),
            (
                "invalid objects are reported with the field and skipped",
                "
apiVersion: v1
kind: Pod
metadata: {namespace: a, name: bad}
spec: {hostNetwork: maybe}
---
apiVersion: apps/v1
kind: Pod
metadata: {namespace: a, name: wrong-version}
---
apiVersion: v1
kind: Service
metadata: {namespace: a, name: s}
spec: {ports: [{port: eighty}]}
---
metadata: {name: kindless}
---
- just a list
---
apiVersion: v1
kind: Pod
metadata: {namespace: a, name: good}
",
                &["Pod a/good"],
                &[
                    "error: t.yaml: document 1: Pod a/bad: spec.hostNetwork: invalid type: string \"maybe\", expected a boolean; skipped",
                    "error: t.yaml: document 2: Pod a/wrong-version: apiVersion: \"apps/v1\" is not \"v1\", the version of Pod read here; skipped",
                    "error: t.yaml: document 3: Service a/s: spec.ports[0].port: invalid type: string \"eighty\", expected i32; skipped",
                    "error: t.yaml: document 4: kindless: kind is missing; skipped",
                    "error: t.yaml: document 5: <no name>: not an object; skipped",
                ],
            ),
            ("empty file", "", &[], &[]),
            ("only separators and comments", "---\n# nothing\n---\n", &[], &[]),
        ];
        for (case, text, want_objects, want_problems) in cases {
            let (snapshot, problems) =
                parse_str(text, "t.yaml").unwrap_or_else(|e| panic!("{case}: {e}"));
            assert_eq!(names(&snapshot), *want_objects, "{case}");
            let got: Vec<String> = problems
                .iter()
                .map(|p| format!("{}: {p}", p.severity))
                .collect();
            assert_eq!(got, *want_problems, "{case}");
        }
    }

    #[test]
    fn unparsable_yaml_fails_the_whole_file() {
        for text in ["kind: Pod\n  bad: indent: here", "a: [1, 2", "{"] {
            match parse_str(text, "t.yaml") {
                Err(InventoryError::Yaml { origin, .. }) => assert_eq!(origin, "t.yaml"),
                other => panic!("{text:?}: expected a YAML error, got {other:?}"),
            }
        }
    }

    #[test]
    fn load_file_reports_unreadable_files() {
        let missing = std::path::Path::new("/nonexistent/netwarden/inventory.yaml");
        match load_file(missing) {
            Err(InventoryError::Read { path, .. }) => assert_eq!(path, missing),
            other => panic!("expected a read error, got {other:?}"),
        }
    }
}
