//! Helpers for walking a `serde_yaml::Value` by hand while collecting every problem.

use serde_yaml::{Mapping, Value};

use crate::firewall::problem::Problem;

/// Where problems go, and which object and file they are in.
pub(super) struct Ctx<'a> {
    pub source: &'a str,
    /// How messages name the object, e.g. `IngressNodeFirewall fw-1`.
    pub object: String,
    pub problems: &'a mut Vec<Problem>,
}

impl Ctx<'_> {
    /// Records an error at `location`/`field`, showing `value` when it is a scalar.
    pub fn error(
        &mut self,
        location: &str,
        field: &str,
        value: Option<&Value>,
        message: impl Into<String>,
    ) {
        let mut problem = Problem::error(self.source, message)
            .with_object(&self.object)
            .with_location(location)
            .with_field(field);
        problem.value = value.and_then(render);
        self.problems.push(problem);
    }

    /// Expects a mapping whose keys are all in `allowed`; reports the value's type otherwise and
    /// every unknown key. Returns the mapping even when it has unknown keys, so that the known
    /// ones are still checked.
    pub fn mapping<'v>(
        &mut self,
        location: &str,
        field: &str,
        value: &'v Value,
        allowed: &[&str],
    ) -> Option<&'v Mapping> {
        let Value::Mapping(map) = value else {
            self.error(location, field, Some(value), expected("a mapping", value));
            return None;
        };
        for key in map.keys() {
            let known = key.as_str().is_some_and(|k| allowed.contains(&k));
            if !known {
                let name = key.as_str().map(str::to_string).or_else(|| render(key));
                let message = match allowed {
                    [one] => format!("unknown field (expected {one})"),
                    _ => format!("unknown field (expected one of: {})", allowed.join(", ")),
                };
                self.error(
                    location,
                    &join(field, &name.unwrap_or_default()),
                    None,
                    message,
                );
            }
        }
        Some(map)
    }

    /// Expects a list.
    pub fn sequence<'v>(
        &mut self,
        location: &str,
        field: &str,
        value: &'v Value,
    ) -> Option<&'v [Value]> {
        match value {
            Value::Sequence(items) => Some(items),
            _ => {
                self.error(location, field, Some(value), expected("a list", value));
                None
            }
        }
    }

    /// Expects a string.
    pub fn string<'v>(&mut self, location: &str, field: &str, value: &'v Value) -> Option<&'v str> {
        match value {
            Value::String(s) => Some(s),
            Value::Bool(_) | Value::Number(_) => {
                let message = format!(
                    "{} (quote it: \"{}\")",
                    expected("a string", value),
                    render(value).unwrap_or_default()
                );
                self.error(location, field, Some(value), message);
                None
            }
            _ => {
                self.error(location, field, Some(value), expected("a string", value));
                None
            }
        }
    }

    /// Expects a list of strings.
    pub fn strings(&mut self, location: &str, field: &str, value: &Value) -> Option<Vec<String>> {
        let items = self.sequence(location, field, value)?;
        let strings: Vec<Option<String>> = items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                self.string(location, &format!("{field}[{i}]"), item)
                    .map(str::to_string)
            })
            .collect();
        strings.into_iter().collect()
    }
}

/// A field of a mapping; absent and `null` are the same, as in Kubernetes.
pub(super) fn field<'v>(map: &'v Mapping, key: &str) -> Option<&'v Value> {
    map.get(key).filter(|v| !v.is_null())
}

/// `parent.key`, or `key` at the top.
pub(super) fn join(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_string()
    } else {
        format!("{parent}.{key}")
    }
}

/// A scalar as written: strings quoted, numbers and booleans plain; `None` for lists and maps.
pub(super) fn render(value: &Value) -> Option<String> {
    match value {
        Value::Null => Some("null".to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) => Some(format!("{s:?}")),
        Value::Sequence(_) | Value::Mapping(_) | Value::Tagged(_) => None,
    }
}

/// `expected a list, found a string`.
pub(super) fn expected(what: &str, found: &Value) -> String {
    let found = match found {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Sequence(_) => "a list",
        Value::Mapping(_) => "a mapping",
        Value::Tagged(_) => "a tagged value",
    };
    format!("expected {what}, found {found}")
}

/// An integer in `min..=max`, or `None` for anything else (floats, strings, out of range).
pub(super) fn integer_in(value: &Value, min: i128, max: i128) -> Option<i128> {
    let n = match value {
        Value::Number(n) => n
            .as_i64()
            .map(i128::from)
            .or_else(|| n.as_u64().map(i128::from))?,
        _ => return None,
    };
    (min..=max).contains(&n).then_some(n)
}

/// Any integer, for showing it in a location (`(order 0)`).
pub(super) fn any_integer(value: &Value) -> Option<i128> {
    integer_in(value, i128::MIN, i128::MAX)
}
