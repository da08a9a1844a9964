//! The filter grammar, with NetObserv's habits:
//!
//! ```text
//! filter     := or
//! or         := and (("OR" | "||") and)*
//! and        := unary (("AND" | "&&") unary)*
//! unary      := ("NOT" | "!") unary | "(" or ")" | comparison
//! comparison := field ("=" | "!=" | "=~" | "!~" | "<" | "<=" | ">" | ">=") value
//! value      := "quoted \" string" | bare        (bare: letters, digits, . : / + - _)
//! ```
//!
//! Keywords are case-insensitive, so precedence is NOT > AND > OR. Field names are NetObserv's
//! (any case), or an either-end name (`K8S_Namespace`, `Addr`, `Port`...) meaning source or
//! destination.

use crate::ast::{Comparison, Expr, Target};
use crate::error::ParseError;
use crate::fields::{either_end, field};
use crate::lexer::{Cursor, Term, Token};
use crate::suggest::closest_field;
use crate::typing::typed_value;

/// How deep parentheses and NOTs may nest: deep enough for any hand-written filter, shallow
/// enough that a hostile one cannot overflow the stack.
const MAX_DEPTH: usize = 64;
/// Longest filter accepted, in characters.
const MAX_LEN: usize = 16 * 1024;

/// Parses a filter; blank text means "no filter".
pub fn parse_filter(text: &str) -> Result<Option<Expr>, ParseError> {
    let len = text.chars().count();
    if len > MAX_LEN {
        return Err(ParseError::new(
            MAX_LEN,
            "",
            format!("filter is longer than {MAX_LEN} characters"),
        ));
    }
    let mut p = Parser {
        cur: Cursor::new(text),
        depth: 0,
        last_value_end: None,
    };
    if p.cur.peek_term().term == Term::End {
        return Ok(None);
    }
    let expr = p.or()?;
    let t = p.cur.term();
    match t.term {
        Term::End => Ok(Some(expr)),
        Term::RParen => Err(ParseError::new(t.pos, t.text, "unexpected ): no ( is open")),
        _ => Err(p.expected_connective(t, "the end of the filter")),
    }
}

struct Parser {
    cur: Cursor,
    depth: usize,
    /// Where the last value ended, to tell "value followed by junk" from a missing AND.
    last_value_end: Option<usize>,
}

impl Parser {
    fn or(&mut self) -> Result<Expr, ParseError> {
        let mut items = vec![self.and()?];
        while self.cur.peek_term().term == Term::Or {
            self.cur.term();
            items.push(self.and()?);
        }
        Ok(flatten(items, true))
    }

    fn and(&mut self) -> Result<Expr, ParseError> {
        let mut items = vec![self.unary()?];
        while self.cur.peek_term().term == Term::And {
            self.cur.term();
            items.push(self.unary()?);
        }
        Ok(flatten(items, false))
    }

    fn unary(&mut self) -> Result<Expr, ParseError> {
        let t = self.cur.term();
        match t.term {
            Term::Not => {
                self.nest(&t)?;
                let inner = self.unary()?;
                self.depth -= 1;
                Ok(Expr::Not(Box::new(inner)))
            }
            Term::LParen => {
                self.nest(&t)?;
                let inner = self.or()?;
                self.depth -= 1;
                let close = self.cur.term();
                if close.term != Term::RParen {
                    return Err(
                        self.expected_connective(close, &format!(") to close the ( at {}", t.pos))
                    );
                }
                Ok(inner)
            }
            Term::Word(name) => self.comparison(t.pos, name),
            _ => Err(ParseError::new(
                t.pos,
                t.text,
                "expected a comparison like SrcK8S_Namespace=\"x\", NOT, or (",
            )),
        }
    }

    fn nest(&mut self, t: &Token) -> Result<(), ParseError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(ParseError::new(
                t.pos,
                t.text.clone(),
                format!("filter nests more than {MAX_DEPTH} levels deep"),
            ));
        }
        Ok(())
    }

    fn comparison(&mut self, pos: usize, name: String) -> Result<Expr, ParseError> {
        let target = match (field(&name), either_end(&name)) {
            (Some(f), _) => Target::One(f),
            (None, Some((src, dst))) => Target::Either { src, dst },
            (None, None) => {
                let message = match closest_field(&name) {
                    Some(s) => format!("unknown field; did you mean {s}?"),
                    None => "unknown field".to_string(),
                };
                return Err(ParseError::new(pos, name, message));
            }
        };
        let Some(op) = self.cur.operator() else {
            let at = self.cur.pos();
            return Err(ParseError::new(
                at,
                self.cur.snippet(at),
                format!(
                    "expected an operator after {} (=, !=, =~, !~, <, <=, >, >=)",
                    target.name()
                ),
            ));
        };
        let raw = self.cur.value()?;
        self.last_value_end = Some(self.cur.pos_raw());
        let value = typed_value(target.field(), target.name(), op, &raw)?;
        Ok(Expr::Compare(Comparison { target, op, value }))
    }

    /// The error for a token where AND, OR or `what` was expected.
    fn expected_connective(&self, t: Token, what: &str) -> ParseError {
        let token = t.text;
        let message = if self.last_value_end == Some(t.pos) && t.term != Term::End {
            "unexpected character after the value; quote values that contain spaces or symbols"
                .to_string()
        } else {
            format!("expected AND, OR or {what}")
        };
        ParseError::new(t.pos, token, message)
    }
}

/// One operand stays itself; nested operands of the same connective merge into one list.
fn flatten(items: Vec<Expr>, or: bool) -> Expr {
    if items.len() == 1 {
        return items.into_iter().next().expect("one item");
    }
    let mut flat = Vec::with_capacity(items.len());
    for item in items {
        match item {
            Expr::Or(inner) if or => flat.extend(inner),
            Expr::And(inner) if !or => flat.extend(inner),
            other => flat.push(other),
        }
    }
    if or {
        Expr::Or(flat)
    } else {
        Expr::And(flat)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ast::{Op, Value};

    /// The expression as an S-expression, to show structure and precedence.
    fn sexpr(e: &Expr) -> String {
        let list = |name: &str, items: &[Expr]| {
            let inner: Vec<String> = items.iter().map(sexpr).collect();
            format!("({name} {})", inner.join(" "))
        };
        match e {
            Expr::And(items) => list("and", items),
            Expr::Or(items) => list("or", items),
            Expr::Not(inner) => format!("(not {})", sexpr(inner)),
            Expr::Compare(c) => c.to_string(),
        }
    }

    fn parsed(text: &str) -> Expr {
        match parse_filter(text) {
            Ok(Some(e)) => e,
            other => panic!("{text}: {other:?}"),
        }
    }

    #[test]
    fn structure_and_precedence() {
        let cases = [
            (r#"SrcK8S_Namespace="iperf""#, r#"SrcK8S_Namespace="iperf""#),
            ("DstPort=5201", "DstPort=5201"),
            ("  DstPort  =  5201  ", "DstPort=5201"),
            (
                "Proto=6 OR Proto=17 AND DstPort=53",
                "(or Proto=6 (and Proto=17 DstPort=53))",
            ),
            (
                "Proto=6 AND Proto=17 OR DstPort=53",
                "(or (and Proto=6 Proto=17) DstPort=53)",
            ),
            (
                "(Proto=6 OR Proto=17) AND DstPort=53",
                "(and (or Proto=6 Proto=17) DstPort=53)",
            ),
            (
                "NOT Proto=6 AND DstPort=53",
                "(and (not Proto=6) DstPort=53)",
            ),
            (
                "NOT (Proto=6 AND DstPort=53)",
                "(not (and Proto=6 DstPort=53))",
            ),
            ("NOT NOT Proto=6", "(not (not Proto=6))"),
            ("not(Proto=6)", "(not Proto=6)"),
            (
                "!Proto=6 && DstPort=53 || Bytes>10",
                "(or (and (not Proto=6) DstPort=53) Bytes>10)",
            ),
            (
                "proto=6 and dstport=53 or not bytes<=10",
                "(or (and Proto=6 DstPort=53) (not Bytes<=10))",
            ),
            (
                "Proto=6 AND DstPort=53 AND Bytes>1",
                "(and Proto=6 DstPort=53 Bytes>1)",
            ),
            (
                "Proto=6 AND (DstPort=53 AND Bytes>1)",
                "(and Proto=6 DstPort=53 Bytes>1)",
            ),
            (
                "(Proto=6 OR DstPort=53) OR Bytes>1",
                "(or Proto=6 DstPort=53 Bytes>1)",
            ),
            ("((((Proto=6))))", "Proto=6"),
            (
                "Proto=6 OR (DstPort=53 OR Bytes>1) AND Packets<2",
                "(or Proto=6 (and (or DstPort=53 Bytes>1) Packets<2))",
            ),
        ];
        for (text, want) in cases {
            assert_eq!(sexpr(&parsed(text)), want, "{text}");
        }
    }

    #[test]
    fn every_operator() {
        let cases = [
            ("Bytes=1", Op::Eq),
            ("Bytes!=1", Op::Ne),
            ("Bytes<1", Op::Lt),
            ("Bytes<=1", Op::Le),
            ("Bytes>1", Op::Gt),
            ("Bytes>=1", Op::Ge),
            ("DnsName=~\"x\"", Op::Match),
            ("DnsName!~\"x\"", Op::NotMatch),
        ];
        for (text, op) in cases {
            let Expr::Compare(c) = parsed(text) else {
                panic!("{text}")
            };
            assert_eq!(c.op, op, "{text}");
            assert_eq!(c.to_string(), text);
        }
    }

    #[test]
    fn typed_values() {
        let addr = |s: &str| Value::Addr(crate::addr::parse_addr_range(s).unwrap());
        let cases = [
            (r#"SrcK8S_Namespace="iperf""#, Value::Text("iperf".into())),
            ("SrcK8S_Namespace=iperf", Value::Text("iperf".into())),
            (
                "PktDropLatestState=TCP_ESTABLISHED",
                Value::Text("TCP_ESTABLISHED".into()),
            ),
            (
                "SrcMac=0A:58:0A:80:00:01",
                Value::Text("0A:58:0A:80:00:01".into()),
            ),
            (
                r#"DnsName="a \"quoted\" \\ name""#,
                Value::Text(r#"a "quoted" \ name"#.into()),
            ),
            (r#"DnsName=~"^api\.""#, Value::Text(r"^api\.".into())),
            ("DstPort=5201", Value::Int(5201)),
            (r#"DstPort="5201""#, Value::Int(5201)),
            ("SrcPort=-1", Value::Int(-1)),
            ("Proto=6", Value::UInt(6)),
            ("Bytes>18446744073709551615", Value::UInt(u64::MAX)),
            (
                "TimeFlowEndMs>=1714564800000",
                Value::Int(1_714_564_800_000),
            ),
            ("DnsLatencyMs>1.5", Value::Float(1.5)),
            ("DnsLatencyMs<2", Value::Float(2.0)),
            ("SrcAddr=10.0.0.0/8", addr("10.0.0.0/8")),
            ("SrcAddr=10.1.2.3/8", addr("10.0.0.0/8")),
            (r#"DstAddr="fd00::1""#, addr("fd00::1")),
            ("DstAddr>=10.0.0.5", addr("10.0.0.5")),
            ("AgentIP=192.168.0.0/16", addr("192.168.0.0/16")),
            (r#"SrcAddr=~"^10\.""#, Value::Text(r"^10\.".into())),
            (r#"PktDropLatestDropCause!="""#, Value::Empty),
            (r#"DstPort="""#, Value::Empty),
            (r#"SrcAddr="""#, Value::Empty),
            (r#"NetworkEvents=~"Dropped""#, Value::Text("Dropped".into())),
            ("Interfaces=eth0", Value::Text("eth0".into())),
            ("IfDirections=1", Value::Text("1".into())),
        ];
        for (text, want) in cases {
            let Expr::Compare(c) = parsed(text) else {
                panic!("{text}")
            };
            assert_eq!(c.value, want, "{text}");
        }
    }

    #[test]
    fn display_round_trips() {
        for text in [
            r#"SrcK8S_Namespace="a \"b\" c\\" AND (DstPort=53 OR NOT Proto=17)"#,
            r#"K8S_Namespace="iperf" OR Addr=fd00::/8 OR Port>=1024"#,
            r#"NOT (DnsLatencyMs>0.5 AND DnsName!~"^x\.")"#,
            r#"PktDropLatestDropCause!="" AND SrcAddr=10.0.0.0/8"#,
        ] {
            let e = parsed(text);
            assert_eq!(e.to_string(), text);
            assert_eq!(parsed(&e.to_string()), e);
        }
    }

    #[test]
    fn either_end_names() {
        let cases = [
            (
                r#"K8S_Namespace="x""#,
                "SrcK8S_Namespace",
                "DstK8S_Namespace",
            ),
            (r#"k8s_name="x""#, "SrcK8S_Name", "DstK8S_Name"),
            (
                r#"K8S_OwnerName="x""#,
                "SrcK8S_OwnerName",
                "DstK8S_OwnerName",
            ),
            (r#"K8S_HostName="x""#, "SrcK8S_HostName", "DstK8S_HostName"),
            (r#"K8S_Type="Pod""#, "SrcK8S_Type", "DstK8S_Type"),
            (
                r#"K8S_OwnerType="Deployment""#,
                "SrcK8S_OwnerType",
                "DstK8S_OwnerType",
            ),
            ("Addr=10.0.0.0/8", "SrcAddr", "DstAddr"),
            ("Port=53", "SrcPort", "DstPort"),
        ];
        for (text, s, d) in cases {
            let Expr::Compare(c) = parsed(text) else {
                panic!("{text}")
            };
            let Target::Either { src, dst } = c.target else {
                panic!("{text}")
            };
            assert_eq!((src.name, dst.name), (s, d), "{text}");
        }
        let Expr::Compare(c) = parsed(r#"K8S_FlowLayer="infra""#) else {
            panic!()
        };
        assert!(matches!(c.target, Target::One(f) if f.name == "K8S_FlowLayer"));
    }

    #[test]
    fn blank_is_no_filter() {
        assert_eq!(parse_filter(""), Ok(None));
        assert_eq!(parse_filter(" \t\n"), Ok(None));
    }

    #[test]
    fn errors_point_at_the_token() {
        let deep = format!("{}Proto=6{}", "(".repeat(100), ")".repeat(100));
        let cases: Vec<(&str, &str)> = vec![
            ("Proto=6 AND DstPrt=80", r#"at 12 ("DstPrt"): unknown field; did you mean DstPort?"#),
            (r#"Namespace="x""#, r#"at 0 ("Namespace"): unknown field; did you mean K8S_Namespace?"#),
            (r#"SrcK8S_Namespce="x""#, r#"at 0 ("SrcK8S_Namespce"): unknown field; did you mean SrcK8S_Namespace?"#),
            ("Pkts=1", r#"at 0 ("Pkts"): unknown field"#),
            (r#"DstPort="abc""#, r#"at 8 ("abc"): DstPort needs an integer, not "abc""#),
            ("DstPort=1.5", r#"at 8 ("1.5"): DstPort needs an integer, not "1.5""#),
            ("Proto=300", r#"at 6 ("300"): 300 is out of range for Proto (0 to 255, UTINYINT)"#),
            ("Bytes=-1", r#"at 6 ("-1"): -1 is out of range for Bytes (0 to 18446744073709551615, UBIGINT)"#),
            ("DnsLatencyMs>inf", r#"at 13 ("inf"): DnsLatencyMs needs a number, not "inf""#),
            (r#"Bytes=~"x""#, r#"at 7 ("x"): =~ works on text and addresses; Bytes is a number (use =, !=, <, <=, >, >=)"#),
            (r#"DstPort!~"5.*""#, r#"at 9 ("5.*"): !~ works on text and addresses; DstPort is a number (use =, !=, <, <=, >, >=)"#),
            ("SrcAddr=10.0.0.0/33", r#"at 8 ("10.0.0.0/33"): SrcAddr needs an address or a CIDR block: prefix length 33 is longer than 32"#),
            ("Addr=fd00::/200", r#"at 5 ("fd00::/200"): Addr needs an address or a CIDR block: prefix length 200 is longer than 128"#),
            ("SrcAddr=iperf", r#"at 8 ("iperf"): SrcAddr needs an address or a CIDR block: "iperf" is not an IPv4 or IPv6 address"#),
            ("SrcAddr>10.0.0.0/8", r#"at 8 ("10.0.0.0/8"): > needs a single address, not a CIDR block"#),
            (r#"SrcK8S_Namespace>"a""#, r#"at 17 ("a"): > works on numbers and addresses; SrcK8S_Namespace is text (use =, !=, =~, !~)"#),
            ("Interfaces<=eth0", r#"at 12 ("eth0"): <= works on numbers and addresses; Interfaces is text (use =, !=, =~, !~)"#),
            (r#"DstPort>"""#, r#"at 8 (""): "" (absent) works only with = and !=, not >"#),
            (r#"DnsName=~"""#, r#"at 9 (""): "" (absent) works only with = and !=, not =~"#),
            (r#"NetworkEvents=~"(Dropped""#, r#"at 15 ("(Dropped"): regular expression has a ( without its )"#),
            (r#"DnsName="abc"#, r#"at 8 ("abc): unterminated string: missing ""#),
            ("DstPort=", "at 8 (end of filter): expected a value: a number, an address, a word, or a \"quoted string\""),
            ("DstPort==80", r#"at 8 ("=80"): expected a value: a number, an address, a word, or a "quoted string""#),
            ("DstPort 80", r#"at 8 ("80"): expected an operator after DstPort (=, !=, =~, !~, <, <=, >, >=)"#),
            ("DstPort", "at 7 (end of filter): expected an operator after DstPort (=, !=, =~, !~, <, <=, >, >=)"),
            ("Proto=6 AND", r#"at 11 (end of filter): expected a comparison like SrcK8S_Namespace="x", NOT, or ("#),
            ("AND Proto=6", r#"at 0 ("AND"): expected a comparison like SrcK8S_Namespace="x", NOT, or ("#),
            ("=5", r#"at 0 ("="): expected a comparison like SrcK8S_Namespace="x", NOT, or ("#),
            ("Proto=6 AND ()", r#"at 13 (")"): expected a comparison like SrcK8S_Namespace="x", NOT, or ("#),
            ("(Proto=6", "at 8 (end of filter): expected AND, OR or ) to close the ( at 0"),
            ("Proto=6 AND (DstPort=53 Bytes>1)", r#"at 24 ("Bytes"): expected AND, OR or ) to close the ( at 12"#),
            ("Proto=6)", r#"at 7 (")"): unexpected ): no ( is open"#),
            ("Proto=6 DstPort=53", r#"at 8 ("DstPort"): expected AND, OR or the end of the filter"#),
            ("Proto=6 ; DROP TABLE flows", r#"at 8 (";"): expected AND, OR or the end of the filter"#),
            ("Proto=6 & DstPort=5", r#"at 8 ("&"): expected AND, OR or the end of the filter"#),
            ("SrcK8S_Name=foo*bar", r#"at 15 ("*"): unexpected character after the value; quote values that contain spaces or symbols"#),
            (r#"DnsName="é" AND Foo=1"#, r#"at 16 ("Foo"): unknown field"#),
            (&deep, r#"at 64 ("("): filter nests more than 64 levels deep"#),
        ];
        for (text, want) in cases {
            let e = parse_filter(text).unwrap_err();
            assert_eq!(e.to_string(), want, "{text}");
            // The token is what was typed at the position.
            let at: String = text
                .chars()
                .skip(e.position)
                .take(e.token.chars().count())
                .collect();
            assert_eq!(at, e.token, "{text}");
        }
    }

    #[test]
    fn too_long() {
        let text = format!("DnsName=\"{}\"", "a".repeat(MAX_LEN));
        let e = parse_filter(&text).unwrap_err();
        assert_eq!(e.message, "filter is longer than 16384 characters");
    }

    #[test]
    fn many_nots_are_bounded_too() {
        let text = format!("{}Proto=6", "NOT ".repeat(65));
        assert_eq!(parse_filter(&text).unwrap_err().position, 256);
        let text = format!("{}Proto=6", "!".repeat(64));
        assert!(parse_filter(&text).is_ok());
    }
}
