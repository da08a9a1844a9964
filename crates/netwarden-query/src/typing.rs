//! Checks a typed value against its field and operator, so that type mistakes are reported at
//! the value while the user is typing, and the SQL never fails on a parameter DuckDB cannot cast.

use crate::addr::parse_addr_range;
use crate::ast::{Op, Value};
use crate::error::ParseError;
use crate::fields::{Field, Kind, SqlType};
use crate::lexer::RawValue;

/// The typed value of `field <op> raw`.
pub(crate) fn typed_value(
    field: &Field,
    name: &str,
    op: Op,
    raw: &RawValue,
) -> Result<Value, ParseError> {
    let err = |message: String| ParseError::new(raw.pos, raw.typed.clone(), message);
    let (base, _) = op.split();
    if raw.quoted && raw.text.is_empty() {
        return match base {
            Op::Eq => Ok(Value::Empty),
            _ => Err(err(format!(
                "\"\" (absent) works only with = and !=, not {}",
                op.as_str()
            ))),
        };
    }
    match (base, field.kind) {
        (Op::Match, Kind::Number) => Err(err(format!(
            "{} works on text and addresses; {name} is a number (use =, !=, <, <=, >, >=)",
            op.as_str()
        ))),
        (Op::Match, _) => check_regex(&raw.text)
            .map(|()| Value::Text(raw.text.clone()))
            .map_err(err),
        (_, Kind::Number) => number(field, name, &raw.text).map_err(err),
        (Op::Eq, Kind::Addr { .. }) => parse_addr_range(&raw.text)
            .map(Value::Addr)
            .map_err(|m| err(format!("{name} needs an address or a CIDR block: {m}"))),
        (_, Kind::Addr { .. }) => match parse_addr_range(&raw.text) {
            Ok(r) if r.is_single() && !raw.text.contains('/') => Ok(Value::Addr(r)),
            Ok(_) => Err(err(format!(
                "{} needs a single address, not a CIDR block",
                op.as_str()
            ))),
            Err(m) => Err(err(format!("{name} needs an address: {m}"))),
        },
        (Op::Eq, Kind::Text | Kind::List | Kind::Events { .. }) => {
            Ok(Value::Text(raw.text.clone()))
        }
        (_, Kind::Text | Kind::List | Kind::Events { .. }) => Err(err(format!(
            "{} works on numbers and addresses; {name} is text (use =, !=, =~, !~)",
            op.as_str()
        ))),
    }
}

fn number(field: &Field, name: &str, text: &str) -> Result<Value, String> {
    let Some((min, max)) = field.sql_type.int_bounds() else {
        return match text.parse::<f64>() {
            Ok(v) if v.is_finite() && text.bytes().any(|b| b.is_ascii_digit()) => {
                Ok(Value::Float(v))
            }
            _ => Err(format!("{name} needs a number, not {text:?}")),
        };
    };
    let v: i128 = text
        .parse()
        .map_err(|_| format!("{name} needs an integer, not {text:?}"))?;
    if v < min || v > max {
        return Err(format!(
            "{v} is out of range for {name} ({min} to {max}, {})",
            field.sql_type
        ));
    }
    Ok(if field.sql_type.is_unsigned() {
        Value::UInt(v as u64)
    } else {
        debug_assert!(field.sql_type != SqlType::UHugeInt);
        Value::Int(v as i64)
    })
}

/// A light check of a regular expression, catching the common typos before DuckDB (RE2) fails
/// the whole query: unbalanced parentheses, an unclosed `[...]`, a trailing backslash. It does
/// not try to accept exactly RE2's language.
fn check_regex(pattern: &str) -> Result<(), String> {
    let mut depth = 0usize;
    let mut chars = pattern.chars().peekable();
    let mut in_class = false;
    while let Some(c) = chars.next() {
        match c {
            // The guard consumes the escaped character, which is therefore never special.
            '\\' if chars.next().is_none() => {
                return Err("regular expression ends with a lone \\".into());
            }
            '[' if !in_class => {
                in_class = true;
                // `]` right after `[` or `[^` is a literal.
                if chars.peek() == Some(&'^') {
                    chars.next();
                }
                if chars.peek() == Some(&']') {
                    chars.next();
                }
            }
            ']' if in_class => in_class = false,
            '(' if !in_class => depth += 1,
            ')' if !in_class => {
                depth = depth
                    .checked_sub(1)
                    .ok_or("regular expression has a ) without its (")?;
            }
            _ => {}
        }
    }
    if in_class {
        return Err("regular expression has a [ without its ]".into());
    }
    if depth > 0 {
        return Err("regular expression has a ( without its )".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regexes() {
        for ok in [
            "Dropped", "a(b|c)*", r"10\.0\.", "[(]", "[]a]", "[^]a]", r"\(", "^$", "",
        ] {
            assert_eq!(check_regex(ok), Ok(()), "{ok}");
        }
        let cases = [
            ("(Dropped", "regular expression has a ( without its )"),
            ("Dropped)", "regular expression has a ) without its ("),
            ("[abc", "regular expression has a [ without its ]"),
            (r"abc\", "regular expression ends with a lone \\"),
        ];
        for (bad, msg) in cases {
            assert_eq!(check_regex(bad), Err(msg.to_string()), "{bad}");
        }
    }
}
