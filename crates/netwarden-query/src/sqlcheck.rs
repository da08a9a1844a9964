//! Test helper: a light structural check of generated SQL.
//!
//! Outside string literals: parentheses balance, there is one `?` per parameter, no statement
//! separators or comments, and every word is a known keyword, function, alias, catalog column or
//! the test's FROM table. String literals are limited to the few the generators use. Together
//! these show that no user text reached the SQL text.

use crate::fields::fields;
use crate::sql::Sql;

const WORDS: &[&str] = &[
    "select",
    "from",
    "where",
    "and",
    "or",
    "not",
    "is",
    "null",
    "distinct",
    "between",
    "order",
    "by",
    "asc",
    "desc",
    "nulls",
    "last",
    "limit",
    "offset",
    "group",
    "as",
    "cast",
    "ubigint",
    "coalesce",
    "sum",
    "count",
    "with",
    "join",
    "on",
    "case",
    "when",
    "then",
    "end",
    "filter",
    "regexp_matches",
    "list_contains",
    "string_split",
    "chr",
    "unnest",
    "contains",
    "union",
    "all",
    "flows",
    "flows_a",
    "flows_b",
    "scoped",
    "top_groups",
    "grp",
    "measure",
    "bucket_ms",
    "value",
    "s",
    "t",
    "bytes",
    "packets",
    "drop_packets",
    "drop_bytes",
    "denied_flows",
    "nw_flows",
    "v",
    "varchar",
    "lower",
    "starts_with",
];

const LITERALS: &[&str] = &["", ",", "Dropped"];

/// Panics with a description when `sql` fails the check.
pub(crate) fn check(sql: &Sql) {
    let text = &sql.text;
    let mut depth = 0i32;
    let mut placeholders = 0;
    let mut chars = text.char_indices().peekable();
    let mut word = String::new();
    let check_word = |word: &mut String| {
        if !word.is_empty() {
            let w = word.to_ascii_lowercase();
            let known = WORDS.contains(&w.as_str())
                || w.bytes().all(|b| b.is_ascii_digit())
                || (w.starts_with('g') && w[1..].bytes().all(|b| b.is_ascii_digit()))
                || fields()
                    .iter()
                    .any(|f| f.columns().iter().any(|(c, _)| *c == w));
            assert!(known, "unexpected word {word:?} in {text}");
            word.clear();
        }
    };
    while let Some((_, c)) = chars.next() {
        if c.is_ascii_alphanumeric() || c == '_' {
            word.push(c);
            continue;
        }
        check_word(&mut word);
        match c {
            '\'' => {
                let mut lit = String::new();
                loop {
                    match chars.next() {
                        Some((_, '\'')) if chars.peek().map(|p| p.1) == Some('\'') => {
                            chars.next();
                            lit.push('\'');
                        }
                        Some((_, '\'')) => break,
                        Some((_, ch)) => lit.push(ch),
                        None => panic!("unterminated literal in {text}"),
                    }
                }
                assert!(
                    LITERALS.contains(&lit.as_str()),
                    "literal {lit:?} in {text}"
                );
            }
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                assert!(depth >= 0, "unbalanced ) in {text}");
            }
            '?' => placeholders += 1,
            ';' | '"' | '#' | '\\' => panic!("{c:?} in {text}"),
            '-' if chars.peek().map(|p| p.1) == Some('-') => panic!("comment in {text}"),
            '/' if chars.peek().map(|p| p.1) == Some('*') => panic!("comment in {text}"),
            _ => {}
        }
    }
    check_word(&mut word);
    assert_eq!(depth, 0, "unbalanced ( in {text}");
    assert_eq!(
        placeholders,
        sql.params.len(),
        "placeholders vs params in {text}"
    );
}
