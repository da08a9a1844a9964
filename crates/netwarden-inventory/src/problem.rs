//! A problem found in inventory objects: which object, where it came from, and what is wrong.

use std::fmt;

/// How much of an object a [`InventoryProblem`] cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Severity {
    /// The object is invalid and was skipped; the rest of the inventory is used.
    Error,
    /// The object is used, but part of it was ignored (e.g. an IP address claimed twice).
    Warning,
    /// Nothing is wrong, but something was not used (e.g. a kind the inventory does not index).
    Note,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Note => "note",
        })
    }
}

/// One problem with one object. Displays as one line of its non-empty parts, e.g.
/// `inventory.yaml: document 3: Pod shop/web-0: status.podIPs[1]: "10.0.0.x" is not an IP address`
/// (the severity is not part of the line; print it in front where it matters).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InventoryProblem {
    /// Error, warning or note.
    pub severity: Severity,
    /// Where the object came from (a file path); empty when the caller knows (e.g. the index).
    pub source: String,
    /// Where in the source, e.g. `document 3` or `document 1, items[4]`; may be empty.
    pub location: String,
    /// The object's kind, e.g. `Pod`; empty when it has none.
    pub kind: String,
    /// The object's namespace, for namespaced objects that have one.
    pub namespace: Option<String>,
    /// The object's name, if it has one.
    pub name: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl InventoryProblem {
    /// A problem with the object `kind namespace/name`; source and location start empty.
    pub fn new(
        severity: Severity,
        kind: impl Into<String>,
        namespace: Option<&str>,
        name: Option<&str>,
        message: impl Into<String>,
    ) -> InventoryProblem {
        InventoryProblem {
            severity,
            source: String::new(),
            location: String::new(),
            kind: kind.into(),
            namespace: namespace.map(str::to_string),
            name: name.map(str::to_string),
            message: message.into(),
        }
    }

    /// Sets where the object came from and where in it.
    pub fn at(mut self, source: &str, location: impl Into<String>) -> InventoryProblem {
        self.source = source.to_string();
        self.location = location.into();
        self
    }

    /// `kind namespace/name`, `kind name` or `kind`, as the object is known.
    pub fn object(&self) -> String {
        let name = match (&self.namespace, &self.name) {
            (Some(ns), Some(n)) => format!("{ns}/{n}"),
            (Some(ns), None) => format!("{ns}/<no name>"),
            (None, Some(n)) => n.clone(),
            (None, None) => "<no name>".to_string(),
        };
        if self.kind.is_empty() {
            name
        } else {
            format!("{} {name}", self.kind)
        }
    }
}

impl fmt::Display for InventoryProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for part in [&self.source, &self.location] {
            if !part.is_empty() {
                write!(f, "{part}: ")?;
            }
        }
        write!(f, "{}: {}", self.object(), self.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn displays_non_empty_parts() {
        let cases = [
            (
                InventoryProblem::new(Severity::Error, "Pod", Some("shop"), Some("web-0"), "no IP")
                    .at("inv.yaml", "document 3"),
                "inv.yaml: document 3: Pod shop/web-0: no IP",
            ),
            (
                InventoryProblem::new(Severity::Error, "Node", None, Some("n1"), "bad"),
                "Node n1: bad",
            ),
            (
                InventoryProblem::new(Severity::Error, "Pod", Some("ns"), None, "no name"),
                "Pod ns/<no name>: no name",
            ),
            (
                InventoryProblem::new(Severity::Note, "", None, None, "empty").at("f", ""),
                "f: <no name>: empty",
            ),
        ];
        for (problem, want) in cases {
            assert_eq!(problem.to_string(), want);
        }
    }
}
