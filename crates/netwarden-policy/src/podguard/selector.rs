//! Kubernetes label selectors in their text form (`kubectl -l`, `POD_SELECTOR`):
//! `app=web,tier in (a,b),env!=dev,!legacy,gpu`.
//!
//! Requirements are separated by commas and must all hold:
//!
//! | text | holds when |
//! |---|---|
//! | `k=v`, `k==v` | label `k` is `v` |
//! | `k!=v` | label `k` is absent or not `v` |
//! | `k in (a,b)` | label `k` is `a` or `b` |
//! | `k notin (a,b)` | label `k` is absent or neither `a` nor `b` |
//! | `k` | label `k` is present |
//! | `!k` | label `k` is absent |
//!
//! The empty selector matches every pod. Keys are `[prefix/]name` (prefix a DNS subdomain, name up
//! to 63 characters of `[A-Za-z0-9._-]` starting and ending alphanumeric); values are empty or
//! names of the same form. The `gt`/`lt` operators of Kubernetes' parser are not supported.

use std::collections::BTreeMap;
use std::fmt;

use crate::firewall::model::{SelectorOperator, SelectorRequirement};

/// A parsed label selector: every requirement must hold.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Selector {
    /// In the order written.
    pub requirements: Vec<SelectorRequirement>,
}

/// Why a selector did not parse; `at` is the byte offset in the text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("label selector {text:?}, at {at}: {reason}")]
pub struct SelectorError {
    pub text: String,
    pub at: usize,
    pub reason: String,
}

impl Selector {
    /// Parses the text form; see the module documentation.
    pub fn parse(text: &str) -> Result<Selector, SelectorError> {
        Parser { text, pos: 0 }.selector()
    }

    /// Whether `labels` satisfy every requirement (the empty selector matches everything).
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.requirements.iter().all(|r| r.matches(labels))
    }

    /// Whether the selector has no requirement (matches every pod).
    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }
}

impl fmt::Display for Selector {
    /// The canonical text form: `k=v`, `k!=v`, `k in (a,b)`, `k notin (a,b)`, `k`, `!k`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.requirements.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            match (r.operator, r.values.as_slice()) {
                (SelectorOperator::In, [one]) => write!(f, "{}={one}", r.key)?,
                (SelectorOperator::NotIn, [one]) => write!(f, "{}!={one}", r.key)?,
                (SelectorOperator::In, values) => write!(f, "{} in ({})", r.key, values.join(","))?,
                (SelectorOperator::NotIn, values) => {
                    write!(f, "{} notin ({})", r.key, values.join(","))?
                }
                (SelectorOperator::Exists, _) => f.write_str(&r.key)?,
                (SelectorOperator::DoesNotExist, _) => write!(f, "!{}", r.key)?,
            }
        }
        Ok(())
    }
}

struct Parser<'a> {
    text: &'a str,
    pos: usize,
}

impl Parser<'_> {
    fn error(&self, reason: impl Into<String>) -> SelectorError {
        SelectorError {
            text: self.text.to_string(),
            at: self.pos,
            reason: reason.into(),
        }
    }

    fn rest(&self) -> &str {
        &self.text[self.pos..]
    }

    fn skip_spaces(&mut self) {
        let rest = self.rest();
        self.pos += rest.len() - rest.trim_start().len();
    }

    fn eat(&mut self, token: &str) -> bool {
        if self.rest().starts_with(token) {
            self.pos += token.len();
            true
        } else {
            false
        }
    }

    /// A run of characters allowed in keys and values.
    fn word(&mut self) -> &str {
        let start = self.pos;
        let len = self
            .rest()
            .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/')))
            .unwrap_or(self.rest().len());
        self.pos += len;
        &self.text[start..start + len]
    }

    fn selector(mut self) -> Result<Selector, SelectorError> {
        let mut requirements = Vec::new();
        self.skip_spaces();
        if self.rest().is_empty() {
            return Ok(Selector { requirements });
        }
        loop {
            requirements.push(self.requirement()?);
            self.skip_spaces();
            if self.rest().is_empty() {
                return Ok(Selector { requirements });
            }
            if !self.eat(",") {
                return Err(self.error("expected ',' between requirements"));
            }
        }
    }

    fn requirement(&mut self) -> Result<SelectorRequirement, SelectorError> {
        self.skip_spaces();
        let negated = self.eat("!");
        self.skip_spaces();
        let key_at = self.pos;
        let key = self.word().to_string();
        if key.is_empty() {
            return Err(self.error("expected a label key"));
        }
        check_key(&key).map_err(|reason| SelectorError {
            at: key_at,
            ..self.error(reason)
        })?;
        let requirement = |operator, values| SelectorRequirement {
            key: key.clone(),
            operator,
            values,
        };
        self.skip_spaces();
        if negated {
            return Ok(requirement(SelectorOperator::DoesNotExist, Vec::new()));
        }
        if self.rest().is_empty() || self.rest().starts_with(',') {
            return Ok(requirement(SelectorOperator::Exists, Vec::new()));
        }
        if self.eat("!=") {
            let value = self.value()?;
            return Ok(requirement(SelectorOperator::NotIn, vec![value]));
        }
        if self.eat("==") || self.eat("=") {
            let value = self.value()?;
            return Ok(requirement(SelectorOperator::In, vec![value]));
        }
        let op_at = self.pos;
        let op = self.word().to_string();
        let operator = match op.as_str() {
            "in" => SelectorOperator::In,
            "notin" => SelectorOperator::NotIn,
            "gt" | "lt" => {
                self.pos = op_at;
                return Err(self.error(format!("operator {op:?} is not supported")));
            }
            _ => {
                self.pos = op_at;
                return Err(self.error("expected =, ==, !=, in, notin, ',' or the end"));
            }
        };
        Ok(requirement(operator, self.set()?))
    }

    fn value(&mut self) -> Result<String, SelectorError> {
        self.skip_spaces();
        let at = self.pos;
        let value = self.word().to_string();
        check_value(&value).map_err(|reason| SelectorError {
            at,
            ..self.error(reason)
        })?;
        Ok(value)
    }

    /// `(a, b, ...)`: at least one value.
    fn set(&mut self) -> Result<Vec<String>, SelectorError> {
        self.skip_spaces();
        if !self.eat("(") {
            return Err(self.error("expected '(' to open the set of values"));
        }
        let mut values = Vec::new();
        loop {
            values.push(self.value()?);
            self.skip_spaces();
            if self.eat(")") {
                break;
            }
            if !self.eat(",") {
                return Err(self.error("expected ',' or ')' in the set of values"));
            }
        }
        if values.iter().all(String::is_empty) {
            return Err(self.error("a set needs at least one value"));
        }
        Ok(values)
    }
}

/// A label name or value part: up to 63 characters of `[A-Za-z0-9._-]`, alphanumeric at both
/// ends.
fn check_name(name: &str, what: &str) -> Result<(), String> {
    if name.len() > 63 {
        return Err(format!("{what} {name:?} is longer than 63 characters"));
    }
    let alnum = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    if !alnum(name.chars().next()) || !alnum(name.chars().last()) {
        return Err(format!(
            "{what} {name:?} must start and end with a letter or digit"
        ));
    }
    if name.contains('/') {
        return Err(format!("{what} {name:?} cannot contain '/'"));
    }
    Ok(())
}

fn check_key(key: &str) -> Result<(), String> {
    let (prefix, name) = match key.split_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, key),
    };
    if let Some(prefix) = prefix {
        if prefix.is_empty() || prefix.len() > 253 {
            return Err(format!("key prefix {prefix:?} must be 1-253 characters"));
        }
        for label in prefix.split('.') {
            let ok = !label.is_empty()
                && label.len() <= 63
                && label
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                && !label.starts_with('-')
                && !label.ends_with('-');
            if !ok {
                return Err(format!("key prefix {prefix:?} is not a DNS subdomain"));
            }
        }
    }
    check_name(name, "key name")
}

fn check_value(value: &str) -> Result<(), String> {
    if value.is_empty() {
        return Ok(());
    }
    check_name(value, "value")
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

    #[test]
    fn parses_to_canonical_text() {
        let cases: &[(&str, &str)] = &[
            ("", ""),
            ("  ", ""),
            ("app=web", "app=web"),
            ("app==web", "app=web"),
            (" app = web ", "app=web"),
            ("env!=dev", "env!=dev"),
            ("tier in (a,b)", "tier in (a,b)"),
            ("tier in ( a , b )", "tier in (a,b)"),
            ("tier notin (a)", "tier!=a"),
            ("tier in (a)", "tier=a"),
            ("gpu", "gpu"),
            ("!legacy", "!legacy"),
            ("! legacy", "!legacy"),
            (
                "app=web,tier in (a,b),env!=dev,!legacy,gpu",
                "app=web,tier in (a,b),env!=dev,!legacy,gpu",
            ),
            (
                "monitor=external,environment=production",
                "monitor=external,environment=production",
            ),
            ("app.kubernetes.io/name=web", "app.kubernetes.io/name=web"),
            ("app=", "app="),
            ("x in (a,)", "x in (a,)"),
        ];
        for (text, want) in cases {
            let got = Selector::parse(text).map(|s| s.to_string());
            assert_eq!(got.as_deref(), Ok(*want), "{text:?}");
        }
    }

    #[test]
    fn rejects_malformed_text_with_the_offset() {
        let cases: &[(&str, usize, &str)] = &[
            ("app=web,", 8, "expected a label key"),
            (",app", 0, "expected a label key"),
            ("app web", 4, "expected =, ==, !=, in, notin"),
            ("app=web tier=a", 8, "expected ',' between requirements"),
            ("tier in a,b", 8, "expected '('"),
            ("tier in (a b)", 11, "expected ',' or ')'"),
            ("tier in ()", 10, "at least one value"),
            ("n gt 5", 2, "not supported"),
            ("-app=x", 0, "must start and end"),
            ("app=-x", 4, "must start and end"),
            ("Foo.Example/app=x", 0, "not a DNS subdomain"),
            ("/app=x", 0, "key prefix"),
            ("app=a/b", 4, "cannot contain '/'"),
        ];
        for (text, at, reason) in cases {
            let err = Selector::parse(text).expect_err(text);
            assert_eq!(err.at, *at, "{text:?}: {err}");
            assert!(err.reason.contains(reason), "{text:?}: {err}");
        }
        let long = format!("app={}", "v".repeat(64));
        assert!(Selector::parse(&long).is_err());
    }

    #[test]
    fn matching_table() {
        let web = labels(&[("app", "web"), ("tier", "a"), ("gpu", "")]);
        let legacy = labels(&[
            ("app", "web"),
            ("tier", "c"),
            ("legacy", "true"),
            ("env", "dev"),
        ]);
        let none = labels(&[]);
        let cases: &[(&str, &BTreeMap<String, String>, bool)] = &[
            ("", &none, true),
            ("app=web", &web, true),
            ("app=web", &none, false),
            ("app!=web", &none, true),
            ("app!=web", &web, false),
            ("env!=dev", &web, true),
            ("env!=dev", &legacy, false),
            ("tier in (a,b)", &web, true),
            ("tier in (a,b)", &legacy, false),
            ("tier notin (a,b)", &legacy, true),
            ("tier notin (a,b)", &none, true),
            ("gpu", &web, true),
            ("gpu", &legacy, false),
            ("!legacy", &web, true),
            ("!legacy", &legacy, false),
            ("app=web,tier in (a,b),env!=dev,!legacy,gpu", &web, true),
            ("app=web,tier in (a,b),env!=dev,!legacy,gpu", &legacy, false),
            ("gpu=", &web, true),
        ];
        for (text, labels, want) in cases {
            let sel = Selector::parse(text).expect(text);
            assert_eq!(sel.matches(labels), *want, "{text:?} on {labels:?}");
        }
    }
}
