//! Owner resolution: the workload a pod belongs to, as NetObserv names it.
//!
//! A pod's controller owner reference names its direct owner. Two kinds are intermediates that
//! users never think in: a ReplicaSet (owned by a Deployment, or by anything else that manages
//! ReplicaSets) and a Job (owned by a CronJob). For those, one more hop is taken through the
//! ReplicaSet's or Job's own owner reference. StatefulSets and DaemonSets own their pods directly.
//! A pod without owner is its own owner (`OwnerType` = `Pod`), as in NetObserv.

use std::collections::HashMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::Snapshot;

/// An owner as `(OwnerName, OwnerType)`, e.g. `("web", "Deployment")`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Owner {
    pub name: String,
    pub kind: String,
}

/// The owner that manages an object: the reference marked `controller: true`, else the first one
/// (NetObserv takes the first; objects created by controllers always mark one as controller).
pub(crate) fn controller_of(meta: &ObjectMeta) -> Option<Owner> {
    let refs = meta.owner_references.as_deref()?;
    let chosen = refs
        .iter()
        .find(|r| r.controller == Some(true))
        .or_else(|| refs.first())?;
    Some(Owner {
        name: chosen.name.clone(),
        kind: chosen.kind.clone(),
    })
}

/// The owners of the intermediate objects (ReplicaSets, Jobs), by kind, namespace and name.
#[derive(Debug, Default)]
pub(crate) struct Owners {
    // Keyed by (kind, namespace, name); the value is the object's own controller, if any.
    intermediates: HashMap<(&'static str, String, String), Option<Owner>>,
}

impl Owners {
    /// Collects the ReplicaSets' and Jobs' owners. Objects without name or namespace are
    /// skipped here; they cannot be referenced by a pod anyway.
    pub fn from_snapshot(snapshot: &Snapshot) -> Owners {
        let mut owners = Owners::default();
        for rs in &snapshot.replica_sets {
            owners.insert("ReplicaSet", &rs.metadata);
        }
        for job in &snapshot.jobs {
            owners.insert("Job", &job.metadata);
        }
        owners
    }

    fn insert(&mut self, kind: &'static str, meta: &ObjectMeta) {
        if let (Some(ns), Some(name)) = (&meta.namespace, &meta.name) {
            self.intermediates
                .insert((kind, ns.clone(), name.clone()), controller_of(meta));
        }
    }

    /// The owner to report for the pod `namespace/pod_name` with metadata `meta`.
    ///
    /// When the intermediate (ReplicaSet, Job) is not known, or has no owner itself (a bare
    /// ReplicaSet or Job), the intermediate is the owner: that is what the cluster says.
    pub fn resolve(&self, namespace: &str, pod_name: &str, meta: &ObjectMeta) -> Owner {
        let Some(direct) = controller_of(meta) else {
            return Owner {
                name: pod_name.to_string(),
                kind: "Pod".to_string(),
            };
        };
        let intermediate = match direct.kind.as_str() {
            "ReplicaSet" => "ReplicaSet",
            "Job" => "Job",
            _ => return direct,
        };
        let key = (intermediate, namespace.to_string(), direct.name.clone());
        match self.intermediates.get(&key) {
            Some(Some(up)) => up.clone(),
            _ => direct,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::apps::v1::ReplicaSet;
    use k8s_openapi::api::batch::v1::Job;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;

    fn meta(ns: &str, name: &str, owners: &[(&str, &str, Option<bool>)]) -> ObjectMeta {
        ObjectMeta {
            namespace: Some(ns.into()),
            name: Some(name.into()),
            owner_references: (!owners.is_empty()).then(|| {
                owners
                    .iter()
                    .map(|(kind, name, controller)| OwnerReference {
                        api_version: "apps/v1".into(),
                        kind: (*kind).into(),
                        name: (*name).into(),
                        uid: format!("uid-{name}"),
                        controller: *controller,
                        block_owner_deletion: None,
                    })
                    .collect()
            }),
            ..Default::default()
        }
    }

    fn snapshot() -> Snapshot {
        Snapshot {
            replica_sets: vec![
                ReplicaSet {
                    metadata: meta("shop", "web-7d9f", &[("Deployment", "web", Some(true))]),
                    ..Default::default()
                },
                ReplicaSet {
                    metadata: meta("shop", "bare-rs", &[]),
                    ..Default::default()
                },
                ReplicaSet {
                    metadata: meta("shop", "roll-5c", &[("Rollout", "roll", Some(true))]),
                    ..Default::default()
                },
            ],
            jobs: vec![
                Job {
                    metadata: meta("batch", "backup-2899", &[("CronJob", "backup", Some(true))]),
                    ..Default::default()
                },
                Job {
                    metadata: meta("batch", "once", &[]),
                    ..Default::default()
                },
            ],
            ..Default::default()
        }
    }

    #[test]
    fn resolves_the_chain_netobserv_reports() {
        let owners = Owners::from_snapshot(&snapshot());
        // (pod namespace, pod owner references, expected OwnerName, expected OwnerType)
        type Refs = &'static [(&'static str, &'static str, Option<bool>)];
        let cases: &[(&str, Refs, &str, &str)] = &[
            ("shop", &[], "pod-x", "Pod"),
            (
                "shop",
                &[("ReplicaSet", "web-7d9f", Some(true))],
                "web",
                "Deployment",
            ),
            (
                "shop",
                &[("ReplicaSet", "bare-rs", Some(true))],
                "bare-rs",
                "ReplicaSet",
            ),
            (
                "shop",
                &[("ReplicaSet", "gone-rs", Some(true))],
                "gone-rs",
                "ReplicaSet",
            ),
            (
                "shop",
                &[("ReplicaSet", "roll-5c", Some(true))],
                "roll",
                "Rollout",
            ),
            // Same ReplicaSet name in another namespace: not the same object.
            (
                "other",
                &[("ReplicaSet", "web-7d9f", Some(true))],
                "web-7d9f",
                "ReplicaSet",
            ),
            (
                "batch",
                &[("Job", "backup-2899", Some(true))],
                "backup",
                "CronJob",
            ),
            ("batch", &[("Job", "once", Some(true))], "once", "Job"),
            (
                "db",
                &[("StatefulSet", "pg", Some(true))],
                "pg",
                "StatefulSet",
            ),
            (
                "kube-system",
                &[("DaemonSet", "kube-proxy", Some(true))],
                "kube-proxy",
                "DaemonSet",
            ),
            // The controller reference wins over an earlier non-controller one.
            (
                "db",
                &[
                    ("ConfigMap", "cfg", None),
                    ("StatefulSet", "pg", Some(true)),
                ],
                "pg",
                "StatefulSet",
            ),
            // No controller marked: the first reference.
            (
                "db",
                &[("StatefulSet", "pg", None), ("Other", "o", None)],
                "pg",
                "StatefulSet",
            ),
        ];
        for (ns, refs, want_name, want_kind) in cases {
            let got = owners.resolve(ns, "pod-x", &meta(ns, "pod-x", refs));
            assert_eq!(
                (got.name.as_str(), got.kind.as_str()),
                (*want_name, *want_kind),
                "pod in {ns} owned by {refs:?}"
            );
        }
    }
}
