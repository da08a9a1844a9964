//! The crate's errors: [`ParseError`] for text users typed, [`QueryError`] for queries the
//! program built.

use std::fmt;

/// A filter (or sort key) that does not parse, pointing at the offending token so a UI can
/// underline it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ParseError {
    /// Offset of the token in the input, in characters (not bytes) from 0.
    pub position: usize,
    /// The token exactly as typed (quotes included), so `position` plus its length in
    /// characters spans it; empty at the end of the input.
    pub token: String,
    pub message: String,
}

impl ParseError {
    pub(crate) fn new(
        position: usize,
        token: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        ParseError {
            position,
            token: token.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for ParseError {
    /// `at 12 ("Dstprt"): unknown field; did you mean DstPort?`, `at 8 ("abc"): ...` for a
    /// quoted token (shown as typed), or `at 20 (end of filter): ...`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (position, token, message) = (self.position, &self.token, &self.message);
        if token.is_empty() {
            write!(f, "at {position} (end of filter): {message}")
        } else if token.starts_with('"') {
            write!(f, "at {position} ({token}): {message}")
        } else {
            write!(f, "at {position} (\"{token}\"): {message}")
        }
    }
}

/// A query the caller assembled that cannot become SQL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    /// Table names are printed into SQL, so they must be plain lowercase identifiers.
    #[error(
        "table name {0:?} is not a plain identifier ([a-z_][a-z0-9_]*, at most 63 characters)"
    )]
    TableName(String),
    #[error("series step must be at least 1 ms, not {0}")]
    Step(i64),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display() {
        let e = ParseError::new(14, "Dstprt", "unknown field; did you mean DstPort?");
        assert_eq!(
            e.to_string(),
            r#"at 14 ("Dstprt"): unknown field; did you mean DstPort?"#
        );
        let e = ParseError::new(8, "", "expected a value");
        assert_eq!(e.to_string(), "at 8 (end of filter): expected a value");
        let e = ParseError::new(8, "\"abc\"", "x");
        assert_eq!(e.to_string(), r#"at 8 ("abc"): x"#);
        let e = ParseError::new(8, "\"\"", "x");
        assert_eq!(e.to_string(), r#"at 8 (""): x"#);
    }
}
