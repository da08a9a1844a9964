//! Which objects apply to a node: Kubernetes LabelSelector matching against the node's labels.

use std::collections::BTreeMap;

use super::model::{IngressNodeFirewall, LabelSelector, SelectorOperator, SelectorRequirement};

/// The label every Kubernetes node carries with its own name.
pub const HOSTNAME_LABEL: &str = "kubernetes.io/hostname";

/// The node whose firewall is being compiled.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NodeIdentity {
    /// The node's name.
    pub name: String,
    /// The node's labels; `kubernetes.io/hostname` = `name` is implied when absent.
    pub labels: BTreeMap<String, String>,
}

impl NodeIdentity {
    /// The node's labels with the implied hostname label added.
    pub fn effective_labels(&self) -> BTreeMap<String, String> {
        let mut labels = self.labels.clone();
        labels
            .entry(HOSTNAME_LABEL.to_string())
            .or_insert_with(|| self.name.clone());
        labels
    }
}

impl LabelSelector {
    /// Whether `labels` satisfy every `matchLabels` pair and every expression. The empty selector
    /// matches everything. An invalid expression (`In` without values, ...) is reported by
    /// validation; here `In` with no values matches nothing, like Kubernetes' empty set would.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.match_labels
            .iter()
            .all(|(k, v)| labels.get(k) == Some(v))
            && self.match_expressions.iter().all(|r| r.matches(labels))
    }
}

impl SelectorRequirement {
    /// Whether `labels` satisfy this one expression.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        let value = labels.get(&self.key);
        match self.operator {
            SelectorOperator::In => value.is_some_and(|v| self.values.contains(v)),
            SelectorOperator::NotIn => value.is_none_or(|v| !self.values.contains(v)),
            SelectorOperator::Exists => value.is_some(),
            SelectorOperator::DoesNotExist => value.is_none(),
        }
    }
}

/// The objects whose node selector matches `node`, in their given order.
pub fn select<'a>(
    objects: &'a [IngressNodeFirewall],
    node: &NodeIdentity,
) -> Vec<&'a IngressNodeFirewall> {
    let labels = node.effective_labels();
    objects
        .iter()
        .filter(|o| o.node_selector.matches(&labels))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn expr(key: &str, operator: SelectorOperator, values: &[&str]) -> SelectorRequirement {
        SelectorRequirement {
            key: key.to_string(),
            operator,
            values: values.iter().map(|v| v.to_string()).collect(),
        }
    }

    #[test]
    fn selectors_match_like_kubernetes() {
        use SelectorOperator::*;
        let node = NodeIdentity {
            name: "worker-1".into(),
            labels: labels(&[("role", "worker"), ("zone", "a")]),
        };
        let node_labels = node.effective_labels();
        let cases: &[(&str, LabelSelector, bool)] = &[
            ("empty", LabelSelector::default(), true),
            (
                "matchLabels hit",
                LabelSelector {
                    match_labels: labels(&[("role", "worker")]),
                    ..Default::default()
                },
                true,
            ),
            (
                "matchLabels all must hold",
                LabelSelector {
                    match_labels: labels(&[("role", "worker"), ("zone", "b")]),
                    ..Default::default()
                },
                false,
            ),
            (
                "implied hostname",
                LabelSelector {
                    match_labels: labels(&[(HOSTNAME_LABEL, "worker-1")]),
                    ..Default::default()
                },
                true,
            ),
            (
                "In",
                LabelSelector {
                    match_expressions: vec![expr("zone", In, &["a", "b"])],
                    ..Default::default()
                },
                true,
            ),
            (
                "In missing key",
                LabelSelector {
                    match_expressions: vec![expr("rack", In, &["1"])],
                    ..Default::default()
                },
                false,
            ),
            (
                "NotIn",
                LabelSelector {
                    match_expressions: vec![expr("zone", NotIn, &["a"])],
                    ..Default::default()
                },
                false,
            ),
            (
                "NotIn missing key matches",
                LabelSelector {
                    match_expressions: vec![expr("rack", NotIn, &["1"])],
                    ..Default::default()
                },
                true,
            ),
            (
                "Exists",
                LabelSelector {
                    match_expressions: vec![expr("role", Exists, &[])],
                    ..Default::default()
                },
                true,
            ),
            (
                "DoesNotExist",
                LabelSelector {
                    match_expressions: vec![expr("role", DoesNotExist, &[])],
                    ..Default::default()
                },
                false,
            ),
            (
                "labels AND expressions",
                LabelSelector {
                    match_labels: labels(&[("role", "worker")]),
                    match_expressions: vec![expr("zone", In, &["b"])],
                },
                false,
            ),
        ];
        for (name, selector, want) in cases {
            assert_eq!(selector.matches(&node_labels), *want, "{name}");
        }
    }

    #[test]
    fn explicit_hostname_label_wins() {
        let node = NodeIdentity {
            name: "worker-1".into(),
            labels: labels(&[(HOSTNAME_LABEL, "w1.example")]),
        };
        assert_eq!(
            node.effective_labels()
                .get(HOSTNAME_LABEL)
                .map(String::as_str),
            Some("w1.example")
        );
    }
}
