//! Structured label selectors (`matchLabels` + `matchExpressions`) as the policy APIs write them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A `metav1.LabelSelector`: every `matchLabels` pair and every expression must hold. The empty
/// selector (`{}`) matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LabelSelector {
    /// Labels that must be present with exactly these values.
    #[serde(default)]
    pub match_labels: BTreeMap<String, String>,
    /// Set-based requirements.
    #[serde(default)]
    pub match_expressions: Vec<SelectorExpression>,
}

/// One `matchExpressions` entry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SelectorExpression {
    /// The label key.
    pub key: String,
    /// `In`, `NotIn`, `Exists` or `DoesNotExist`.
    pub operator: String,
    /// The values (`In`/`NotIn` need at least one; `Exists`/`DoesNotExist` none).
    #[serde(default)]
    pub values: Vec<String>,
}

impl LabelSelector {
    /// Whether `labels` satisfy the selector. Unknown operators never match; [`Self::validate`]
    /// reports them, and invalid policies are left out before evaluation.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.match_labels
            .iter()
            .all(|(k, v)| labels.get(k) == Some(v))
            && self.match_expressions.iter().all(|e| {
                let value = labels.get(&e.key);
                match e.operator.as_str() {
                    "In" => value.is_some_and(|v| e.values.contains(v)),
                    "NotIn" => value.is_none_or(|v| !e.values.contains(v)),
                    "Exists" => value.is_some(),
                    "DoesNotExist" => value.is_none(),
                    _ => false,
                }
            })
    }

    /// The reasons the API server would reject the selector, with the sub-field they concern
    /// (relative to the selector).
    pub fn validate(&self) -> Vec<(String, String)> {
        let mut problems = Vec::new();
        for key in self.match_labels.keys() {
            if key.is_empty() {
                problems.push(("matchLabels".to_string(), "empty label key".to_string()));
            }
        }
        for (i, e) in self.match_expressions.iter().enumerate() {
            let field = format!("matchExpressions[{i}]");
            if e.key.is_empty() {
                problems.push((format!("{field}.key"), "empty label key".to_string()));
            }
            match e.operator.as_str() {
                "In" | "NotIn" if e.values.is_empty() => problems.push((
                    format!("{field}.values"),
                    format!("operator {} needs at least one value", e.operator),
                )),
                "Exists" | "DoesNotExist" if !e.values.is_empty() => problems.push((
                    format!("{field}.values"),
                    format!("operator {} takes no values", e.operator),
                )),
                "In" | "NotIn" | "Exists" | "DoesNotExist" => {}
                other => problems.push((
                    format!("{field}.operator"),
                    format!("unknown operator {other:?} (In, NotIn, Exists, DoesNotExist)"),
                )),
            }
        }
        problems
    }
}
