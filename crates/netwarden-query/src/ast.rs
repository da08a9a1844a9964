//! The parsed filter: comparisons of catalog fields with typed values, combined with AND, OR and
//! NOT. Values are already checked against their field, so SQL generation cannot fail.

use crate::addr::AddrRange;
use crate::fields::Field;
use std::fmt;

/// A filter expression. `And`/`Or` hold two or more operands (chains are flattened).
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// Every operand matches.
    And(Vec<Expr>),
    /// At least one operand matches.
    Or(Vec<Expr>),
    /// The operand does not match (a comparison with a missing value does not match, so its
    /// negation does).
    Not(Box<Expr>),
    /// A leaf comparison.
    Compare(Comparison),
}

impl Expr {
    /// Every field the filter compares (both ends of an either-end comparison), repeats included.
    pub fn fields(&self) -> Vec<&'static Field> {
        let mut out = Vec::new();
        self.collect_fields(&mut out);
        out
    }

    fn collect_fields(&self, out: &mut Vec<&'static Field>) {
        match self {
            Expr::And(items) | Expr::Or(items) => {
                items.iter().for_each(|e| e.collect_fields(out));
            }
            Expr::Not(inner) => inner.collect_fields(out),
            Expr::Compare(c) => match c.target {
                Target::One(f) => out.push(f),
                Target::Either { src, dst } => out.extend([src, dst]),
            },
        }
    }
}

/// `<target> <op> <value>`.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    pub target: Target,
    pub op: Op,
    pub value: Value,
}

/// What a comparison looks at.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Target {
    One(&'static Field),
    /// `K8S_Namespace`, `Addr`, `Port`...: either end of the flow. A positive comparison matches
    /// when the source or the destination matches; a negative one (`!=`, `!~`, or under NOT)
    /// when neither does, so `K8S_Namespace!="x"` is exactly `NOT K8S_Namespace="x"`.
    Either {
        src: &'static Field,
        dst: &'static Field,
    },
}

impl Target {
    /// The name as a user would type it.
    pub fn name(&self) -> &'static str {
        match self {
            Target::One(f) => f.name,
            Target::Either { src, .. } => &src.name[3..],
        }
    }

    /// The field whose kind and type the value is checked against (both ends share them).
    pub fn field(&self) -> &'static Field {
        match self {
            Target::One(f) | Target::Either { src: f, .. } => f,
        }
    }
}

/// Comparison operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    /// `=~`: the regular expression (RE2, unanchored) matches somewhere in the text.
    Match,
    NotMatch,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Op {
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Eq => "=",
            Op::Ne => "!=",
            Op::Match => "=~",
            Op::NotMatch => "!~",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
        }
    }

    /// The positive operator and whether this one negates it: `!=` is `(Eq, true)`. Ordering
    /// operators are their own positive form.
    pub fn split(self) -> (Op, bool) {
        match self {
            Op::Ne => (Op::Eq, true),
            Op::NotMatch => (Op::Match, true),
            other => (other, false),
        }
    }
}

/// A comparison's value, typed for its field.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `""`: absent. NULL for every field, and also the empty string for text fields.
    Empty,
    /// Text for text fields, and the pattern of `=~`/`!~`.
    Text(String),
    /// For signed integer columns (ports, times).
    Int(i64),
    /// For unsigned integer columns (bytes, protocol...).
    UInt(u64),
    /// For DOUBLE columns (`DnsLatencyMs`).
    Float(f64),
    /// An address or CIDR block, for address fields.
    Addr(AddrRange),
}

/// Canonical filter text that parses back to the same expression; compound operands of
/// compound expressions are parenthesized so precedence is visible.
impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn operand(e: &Expr, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            match e {
                Expr::And(_) | Expr::Or(_) => write!(f, "({e})"),
                _ => write!(f, "{e}"),
            }
        }
        match self {
            Expr::And(items) | Expr::Or(items) => {
                let sep = if matches!(self, Expr::And(_)) {
                    " AND "
                } else {
                    " OR "
                };
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(sep)?;
                    }
                    operand(item, f)?;
                }
                Ok(())
            }
            Expr::Not(inner) => {
                f.write_str("NOT ")?;
                operand(inner, f)
            }
            Expr::Compare(c) => write!(f, "{c}"),
        }
    }
}

impl fmt::Display for Comparison {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}{}{}",
            self.target.name(),
            self.op.as_str(),
            self.value
        )
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Empty => f.write_str("\"\""),
            Value::Text(s) => {
                // A backslash needs escaping only where the lexer would read an escape: before
                // `"`, `\` or the closing quote. Regexes like `^api\.` stay readable.
                f.write_str("\"")?;
                let mut chars = s.chars().peekable();
                while let Some(c) = chars.next() {
                    let escape = match c {
                        '"' => true,
                        '\\' => matches!(chars.peek(), None | Some('"' | '\\')),
                        _ => false,
                    };
                    if escape {
                        f.write_str("\\")?;
                    }
                    write!(f, "{c}")?;
                }
                f.write_str("\"")
            }
            Value::Int(v) => write!(f, "{v}"),
            Value::UInt(v) => write!(f, "{v}"),
            Value::Float(v) => write!(f, "{v}"),
            Value::Addr(r) => f.write_str(&r.text),
        }
    }
}
