//! From YAML text to a validated [`PolicySet`]: every object that deserializes and validates is
//! kept; the others are reported as [`PolicyProblem`]s and left out, as the API server (or
//! OVN-Kubernetes) would leave them out. Objects of other kinds (pods, namespaces...) are
//! skipped silently, so one file can hold the inventory and the policies.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_yaml::Value;

use super::objects::{AdminNetworkPolicy, EgressFirewall, NetworkPolicy};
use super::validate;

/// The valid policies, ready for the engine.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PolicySet {
    /// NetworkPolicies.
    pub network_policies: Vec<NetworkPolicy>,
    /// AdminNetworkPolicies, sorted by priority (unique).
    pub admin_network_policies: Vec<AdminNetworkPolicy>,
    /// The BaselineAdminNetworkPolicy, if any.
    pub baseline: Option<AdminNetworkPolicy>,
    /// EgressFirewalls (at most one per namespace).
    pub egress_firewalls: Vec<EgressFirewall>,
}

/// An object left out, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyProblem {
    /// Where the object came from (file and document number).
    pub origin: String,
    /// Its kind.
    pub kind: String,
    /// Its namespace (empty for cluster-scoped kinds).
    pub namespace: String,
    /// Its name.
    pub name: String,
    /// The offending field (`spec.ingress[0].ports[0].port`).
    pub field: String,
    /// What is wrong.
    pub reason: String,
}

impl fmt::Display for PolicyProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let object = if self.namespace.is_empty() {
            self.name.clone()
        } else {
            format!("{}/{}", self.namespace, self.name)
        };
        write!(
            f,
            "{}: {} {}: {}: {} (ignored)",
            self.origin, self.kind, object, self.field, self.reason
        )
    }
}

/// The text is not YAML at all.
#[derive(Debug, thiserror::Error)]
#[error("{origin}: not YAML: {source}")]
pub struct PolicyLoadError {
    /// What was being read.
    pub origin: String,
    /// The parser's error.
    #[source]
    pub source: serde_yaml::Error,
}

/// Objects read from any number of texts, not yet validated together.
#[derive(Debug, Default)]
pub struct PolicyLoader {
    set: PolicySet,
    /// Origin of each kept object, for set-level problems: (kind, namespace, name) -> origin.
    origins: BTreeMap<(String, String, String), String>,
    problems: Vec<PolicyProblem>,
}

impl PolicyLoader {
    /// An empty loader.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds the objects of a YAML text (multi-document, `kind: List` too). `origin` names the
    /// text in problems.
    pub fn add_str(&mut self, text: &str, origin: &str) -> Result<(), PolicyLoadError> {
        for (i, document) in serde_yaml::Deserializer::from_str(text).enumerate() {
            let value = Value::deserialize(document).map_err(|source| PolicyLoadError {
                origin: origin.to_string(),
                source,
            })?;
            self.value(value, &format!("{origin} document {}", i + 1));
        }
        Ok(())
    }

    fn value(&mut self, value: Value, origin: &str) {
        let kind = value
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let api = value
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let group = api.split_once('/').map(|(g, _)| g).unwrap_or("");
        if kind == "List" || kind.ends_with("List") {
            if let Some(Value::Sequence(items)) = value.get("items") {
                for item in items.clone() {
                    self.value(item, origin);
                }
            }
            return;
        }
        match (group, kind.as_str()) {
            ("networking.k8s.io", "NetworkPolicy") => {
                if let Some(mut np) = self.parse::<NetworkPolicy>(value, &kind, origin) {
                    np.metadata
                        .namespace
                        .get_or_insert_with(|| "default".into());
                    if self.check(&kind, &np.metadata, origin, validate::network_policy(&np)) {
                        self.set.network_policies.push(np);
                    }
                }
            }
            ("policy.networking.k8s.io", "AdminNetworkPolicy" | "BaselineAdminNetworkPolicy") => {
                let baseline = kind == "BaselineAdminNetworkPolicy";
                if let Some(anp) = self.parse::<AdminNetworkPolicy>(value, &kind, origin) {
                    let findings = validate::admin_network_policy(&anp, baseline);
                    if self.check(&kind, &anp.metadata, origin, findings) {
                        if baseline {
                            self.set.baseline = Some(anp);
                        } else {
                            self.set.admin_network_policies.push(anp);
                        }
                    }
                }
            }
            ("k8s.ovn.org", "EgressFirewall") => {
                if let Some(mut ef) = self.parse::<EgressFirewall>(value, &kind, origin) {
                    ef.metadata
                        .namespace
                        .get_or_insert_with(|| "default".into());
                    if self.check(&kind, &ef.metadata, origin, validate::egress_firewall(&ef)) {
                        self.set.egress_firewalls.push(ef);
                    }
                }
            }
            // Inventory objects and anything else: not ours.
            _ => {}
        }
    }

    fn parse<T: DeserializeOwned>(&mut self, value: Value, kind: &str, origin: &str) -> Option<T> {
        let meta = |key: &str| {
            value
                .get("metadata")
                .and_then(|m| m.get(key))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        let (mut namespace, name) = (meta("namespace"), meta("name"));
        // Namespaced kinds without a namespace land in `default`, as with `kubectl apply`.
        if namespace.is_empty() && matches!(kind, "NetworkPolicy" | "EgressFirewall") {
            namespace = "default".to_string();
        }
        match serde_path_to_error::deserialize::<_, T>(value) {
            Ok(t) => Some(t),
            Err(e) => {
                self.problems.push(PolicyProblem {
                    origin: origin.to_string(),
                    kind: kind.to_string(),
                    namespace,
                    name,
                    field: e.path().to_string(),
                    reason: e.inner().to_string(),
                });
                None
            }
        }
    }

    /// Records the findings; true when there are none.
    fn check(
        &mut self,
        kind: &str,
        meta: &super::objects::Metadata,
        origin: &str,
        findings: validate::Findings,
    ) -> bool {
        let namespace = meta.namespace.clone().unwrap_or_default();
        for (field, reason) in &findings {
            self.problems.push(PolicyProblem {
                origin: origin.to_string(),
                kind: kind.to_string(),
                namespace: namespace.clone(),
                name: meta.name.clone(),
                field: field.clone(),
                reason: reason.clone(),
            });
        }
        if findings.is_empty() {
            self.origins.insert(
                (kind.to_string(), namespace, meta.name.clone()),
                origin.to_string(),
            );
        }
        findings.is_empty()
    }

    /// Checks what only the whole set shows and returns the usable policies and all problems.
    ///
    /// Two ANPs with one priority: OVN-Kubernetes refuses the second (its status reports the
    /// conflict); here the one whose name sorts later is left out, so the result does not depend
    /// on file order. Two EgressFirewalls in one namespace: the later one is left out.
    pub fn finish(mut self) -> (PolicySet, Vec<PolicyProblem>) {
        let mut anps = std::mem::take(&mut self.set.admin_network_policies);
        anps.sort_by(|a, b| {
            (a.spec.priority, &a.metadata.name).cmp(&(b.spec.priority, &b.metadata.name))
        });
        let mut kept: Vec<AdminNetworkPolicy> = Vec::new();
        for anp in anps {
            if let Some(first) = kept.iter().find(|k| k.spec.priority == anp.spec.priority) {
                let reason = format!(
                    "priority {} is already used by AdminNetworkPolicy {}",
                    anp.spec.priority.unwrap_or_default(),
                    first.metadata.name
                );
                self.set_problem(
                    "AdminNetworkPolicy",
                    "",
                    &anp.metadata.name,
                    "spec.priority",
                    reason,
                );
            } else {
                kept.push(anp);
            }
        }
        self.set.admin_network_policies = kept;
        let mut seen = std::collections::BTreeSet::new();
        let firewalls = std::mem::take(&mut self.set.egress_firewalls);
        for ef in firewalls {
            let ns = ef.metadata.namespace.clone().unwrap_or_default();
            if seen.insert(ns.clone()) {
                self.set.egress_firewalls.push(ef);
            } else {
                let reason = "namespace already has an EgressFirewall".to_string();
                self.set_problem(
                    "EgressFirewall",
                    &ns,
                    &ef.metadata.name,
                    "metadata.name",
                    reason,
                );
            }
        }
        (self.set, self.problems)
    }

    fn set_problem(
        &mut self,
        kind: &str,
        namespace: &str,
        name: &str,
        field: &str,
        reason: String,
    ) {
        let key = (kind.to_string(), namespace.to_string(), name.to_string());
        self.problems.push(PolicyProblem {
            origin: self.origins.get(&key).cloned().unwrap_or_default(),
            kind: kind.to_string(),
            namespace: namespace.to_string(),
            name: name.to_string(),
            field: field.to_string(),
            reason,
        });
    }
}

/// Loads one YAML text; see [`PolicyLoader`].
pub fn parse_str(
    text: &str,
    origin: &str,
) -> Result<(PolicySet, Vec<PolicyProblem>), PolicyLoadError> {
    let mut loader = PolicyLoader::new();
    loader.add_str(text, origin)?;
    Ok(loader.finish())
}
