//! A problem found in firewall objects, reported as one line that says where it is.

use std::fmt;

/// How bad a [`Problem`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Severity {
    /// The objects cannot be compiled.
    Error,
    /// Compiles, but probably not what was meant.
    Warning,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        })
    }
}

/// One problem. Displays as one line of its non-empty parts, e.g.
/// `rules.yaml: IngressNodeFirewall fw-1: spec.ingress[1].rules[0] (order 10): protocolConfig.tcp.ports "300-200": range start 300 is after its end 200`
/// (the severity is not part of the line; print it in front where it matters).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Problem {
    /// Error or warning.
    pub severity: Severity,
    /// The file (or other origin) as named by the caller.
    pub source: String,
    /// The object, e.g. `IngressNodeFirewall fw-1`; empty when the problem is not in one.
    pub object: String,
    /// Where in the object, e.g. `spec.ingress[1].rules[0] (order 10)`.
    pub location: String,
    /// The field at that location, e.g. `protocolConfig.tcp.ports`.
    pub field: String,
    /// The offending value as written (strings quoted), if there is one.
    pub value: Option<String>,
    /// What is wrong, and where useful what to do.
    pub message: String,
}

impl Problem {
    /// An error with no object, location, field or value yet; fill them in with the `with_*`
    /// helpers.
    pub fn error(source: &str, message: impl Into<String>) -> Problem {
        Problem {
            severity: Severity::Error,
            source: source.to_string(),
            object: String::new(),
            location: String::new(),
            field: String::new(),
            value: None,
            message: message.into(),
        }
    }

    /// Like [`Problem::error`], as a warning.
    pub fn warning(source: &str, message: impl Into<String>) -> Problem {
        Problem {
            severity: Severity::Warning,
            ..Problem::error(source, message)
        }
    }

    /// Sets the object, e.g. `IngressNodeFirewall fw-1`.
    pub fn with_object(mut self, object: impl Into<String>) -> Problem {
        self.object = object.into();
        self
    }

    /// Sets the location, e.g. `spec.ingress[0]`.
    pub fn with_location(mut self, location: impl Into<String>) -> Problem {
        self.location = location.into();
        self
    }

    /// Sets the field at the location, e.g. `sourceCIDRs[1]`.
    pub fn with_field(mut self, field: impl Into<String>) -> Problem {
        self.field = field.into();
        self
    }

    /// Sets the value, quoting it as a string (`"300-200"`).
    pub fn with_text(mut self, value: &str) -> Problem {
        self.value = Some(format!("{value:?}"));
        self
    }

    /// Sets the value as already rendered (numbers, `true`, ...).
    pub fn with_value(mut self, rendered: impl Into<String>) -> Problem {
        self.value = Some(rendered.into());
        self
    }

    /// Whether this problem stops compilation.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let field = match (&self.field, &self.value) {
            (field, Some(value)) if !field.is_empty() => format!("{field} {value}"),
            (_, Some(value)) => value.clone(),
            (field, None) => field.clone(),
        };
        for part in [&self.source, &self.object, &self.location, &field] {
            if !part.is_empty() {
                write!(f, "{part}: ")?;
            }
        }
        f.write_str(&self.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn displays_non_empty_parts_on_one_line() {
        let full = Problem::error("rules.yaml", "range start 300 is after its end 200")
            .with_object("IngressNodeFirewall fw-1")
            .with_location("spec.ingress[1].rules[0] (order 10)")
            .with_field("protocolConfig.tcp.ports")
            .with_text("300-200");
        assert_eq!(
            full.to_string(),
            "rules.yaml: IngressNodeFirewall fw-1: spec.ingress[1].rules[0] (order 10): \
             protocolConfig.tcp.ports \"300-200\": range start 300 is after its end 200"
        );
        let bare = Problem::warning("", "nothing to say");
        assert_eq!(bare.to_string(), "nothing to say");
        let numeric = Problem::error("a.yaml", "bad")
            .with_field("order")
            .with_value("0");
        assert_eq!(numeric.to_string(), "a.yaml: order 0: bad");
    }
}
