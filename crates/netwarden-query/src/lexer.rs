//! Splits filter text into tokens. Which tokens can come next depends on where the parser is
//! (`!` is NOT before a comparison but starts `!=` after a field; `10.0.0.0/8` is one bare value
//! after an operator), so the parser asks for the kind it expects.

use crate::ast::Op;
use crate::error::ParseError;

/// A token between comparisons.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Term {
    /// A word of letters, digits and `_` that is not a keyword: a field name where one is expected.
    Word(String),
    LParen,
    RParen,
    /// `AND`, `and`, `&&`.
    And,
    /// `OR`, `or`, `||`.
    Or,
    /// `NOT`, `not`, `!`.
    Not,
    End,
    /// Anything else; the parser reports it.
    Other(char),
}

/// A token with its character offset and its text as typed.
#[derive(Debug, Clone)]
pub(crate) struct Token {
    pub term: Term,
    pub pos: usize,
    pub text: String,
}

/// A comparison's value before it is checked against the field.
#[derive(Debug, Clone)]
pub(crate) struct RawValue {
    /// The value with quotes removed and escapes resolved.
    pub text: String,
    pub quoted: bool,
    pub pos: usize,
    /// The value exactly as typed, quotes included, for error messages.
    pub typed: String,
}

pub(crate) struct Cursor {
    chars: Vec<char>,
    pos: usize,
}

impl Cursor {
    pub fn new(text: &str) -> Cursor {
        Cursor {
            chars: text.chars().collect(),
            pos: 0,
        }
    }

    /// Offset of the next character (after skipping whitespace).
    pub fn pos(&mut self) -> usize {
        self.skip_ws();
        self.pos
    }

    /// Offset of the next character, whitespace included.
    pub fn pos_raw(&self) -> usize {
        self.pos
    }

    fn skip_ws(&mut self) {
        while self.chars.get(self.pos).is_some_and(|c| c.is_whitespace()) {
            self.pos += 1;
        }
    }

    fn at(&self, offset: usize) -> Option<char> {
        self.chars.get(self.pos + offset).copied()
    }

    /// The text at `pos` up to the next whitespace (at most 32 characters), for error messages.
    pub fn snippet(&self, pos: usize) -> String {
        self.chars[pos.min(self.chars.len())..]
            .iter()
            .take_while(|c| !c.is_whitespace())
            .take(32)
            .collect()
    }

    /// The next token between comparisons, consumed.
    pub fn term(&mut self) -> Token {
        self.skip_ws();
        let pos = self.pos;
        let Some(c) = self.at(0) else {
            return Token {
                term: Term::End,
                pos,
                text: String::new(),
            };
        };
        let (term, len) = match c {
            '(' => (Term::LParen, 1),
            ')' => (Term::RParen, 1),
            '!' => (Term::Not, 1),
            '&' if self.at(1) == Some('&') => (Term::And, 2),
            '|' if self.at(1) == Some('|') => (Term::Or, 2),
            c if is_word_char(c) => {
                let len = self.chars[pos..]
                    .iter()
                    .take_while(|c| is_word_char(**c))
                    .count();
                let word: String = self.chars[pos..pos + len].iter().collect();
                let term = match word.to_ascii_lowercase().as_str() {
                    "and" => Term::And,
                    "or" => Term::Or,
                    "not" => Term::Not,
                    _ => Term::Word(word),
                };
                (term, len)
            }
            other => (Term::Other(other), 1),
        };
        self.pos += len;
        Token {
            term,
            pos,
            text: self.chars[pos..pos + len].iter().collect(),
        }
    }

    /// The next token between comparisons, left in place.
    pub fn peek_term(&mut self) -> Token {
        let saved = self.pos;
        let t = self.term();
        self.pos = saved;
        t
    }

    /// A comparison operator, consumed if present.
    pub fn operator(&mut self) -> Option<Op> {
        self.skip_ws();
        let (op, len) = match (self.at(0)?, self.at(1)) {
            ('=', Some('~')) => (Op::Match, 2),
            ('=', _) => (Op::Eq, 1),
            ('!', Some('=')) => (Op::Ne, 2),
            ('!', Some('~')) => (Op::NotMatch, 2),
            ('<', Some('=')) => (Op::Le, 2),
            ('<', _) => (Op::Lt, 1),
            ('>', Some('=')) => (Op::Ge, 2),
            ('>', _) => (Op::Gt, 1),
            _ => return None,
        };
        self.pos += len;
        Some(op)
    }

    /// A value: a double-quoted string, or a bare run of letters, digits and `. : / + - _`
    /// (numbers, addresses, CIDRs, simple words).
    ///
    /// In quoted strings `\"` and `\\` are escapes; any other backslash is kept as typed, so
    /// regular expressions like `"10\.0\."` need no doubling.
    pub fn value(&mut self) -> Result<RawValue, ParseError> {
        self.skip_ws();
        let pos = self.pos;
        if self.at(0) == Some('"') {
            let mut text = String::new();
            let mut i = pos + 1;
            loop {
                match self.chars.get(i) {
                    None => {
                        let typed: String = self.chars[pos..].iter().collect();
                        return Err(ParseError::new(
                            pos,
                            typed,
                            "unterminated string: missing \"",
                        ));
                    }
                    Some('"') => break,
                    Some('\\') if matches!(self.chars.get(i + 1), Some('"' | '\\')) => {
                        text.push(self.chars[i + 1]);
                        i += 2;
                    }
                    Some(c) => {
                        text.push(*c);
                        i += 1;
                    }
                }
            }
            self.pos = i + 1;
            return Ok(RawValue {
                text,
                quoted: true,
                pos,
                typed: self.chars[pos..self.pos].iter().collect(),
            });
        }
        let len = self.chars[pos..]
            .iter()
            .take_while(|c| is_bare_char(**c))
            .count();
        if len == 0 {
            return Err(ParseError::new(
                pos,
                self.snippet(pos),
                "expected a value: a number, an address, a word, or a \"quoted string\"",
            ));
        }
        self.pos += len;
        let text: String = self.chars[pos..pos + len].iter().collect();
        Ok(RawValue {
            typed: text.clone(),
            text,
            quoted: false,
            pos,
        })
    }
}

fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

fn is_bare_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '.' | ':' | '/' | '+' | '-' | '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn terms(text: &str) -> Vec<Term> {
        let mut c = Cursor::new(text);
        let mut out = Vec::new();
        loop {
            let t = c.term();
            if t.term == Term::End {
                return out;
            }
            out.push(t.term);
        }
    }

    #[test]
    fn connectives_in_every_spelling() {
        use Term::*;
        assert_eq!(
            terms("AND and And && OR or || NOT not ! ( ) ; & |"),
            vec![
                And,
                And,
                And,
                And,
                Or,
                Or,
                Or,
                Not,
                Not,
                Not,
                LParen,
                RParen,
                Other(';'),
                Other('&'),
                Other('|')
            ]
        );
        assert_eq!(
            terms("andy ORx notes"),
            vec![
                Word("andy".into()),
                Word("ORx".into()),
                Word("notes".into())
            ]
        );
    }

    #[test]
    fn operators() {
        let cases = [
            ("=", Some(Op::Eq)),
            ("!=", Some(Op::Ne)),
            ("=~", Some(Op::Match)),
            ("!~", Some(Op::NotMatch)),
            ("<", Some(Op::Lt)),
            ("<=", Some(Op::Le)),
            (">", Some(Op::Gt)),
            (" >=", Some(Op::Ge)),
            ("~", None),
            ("", None),
        ];
        for (text, op) in cases {
            assert_eq!(Cursor::new(text).operator(), op, "{text:?}");
        }
    }

    #[test]
    fn values() {
        let cases: &[(&str, &str, bool, usize)] = &[
            (r#""iperf""#, "iperf", true, 7),
            (r#""a \"b\" c""#, r#"a "b" c"#, true, 11),
            (r#""back\\slash""#, r"back\slash", true, 13),
            (r#""10\.0\.""#, r"10\.0\.", true, 9),
            (r#""""#, "", true, 2),
            ("10.0.0.0/8)", "10.0.0.0/8", false, 10),
            ("fd00::1/64 AND", "fd00::1/64", false, 10),
            ("-5", "-5", false, 2),
            ("TCP_ESTABLISHED&&x", "TCP_ESTABLISHED", false, 15),
            ("  eth0", "eth0", false, 6),
        ];
        for (text, want, quoted, end) in cases {
            let mut c = Cursor::new(text);
            let v = c.value().unwrap();
            assert_eq!((v.text.as_str(), v.quoted), (*want, *quoted), "{text}");
            assert_eq!(c.pos, *end, "{text}");
        }
    }

    #[test]
    fn value_errors() {
        let e = Cursor::new(r#""open"#).value().unwrap_err();
        assert_eq!((e.position, e.token.as_str()), (0, "\"open"));
        let e = Cursor::new("  ;drop").value().unwrap_err();
        assert_eq!((e.position, e.token.as_str()), (2, ";drop"));
        let e = Cursor::new("").value().unwrap_err();
        assert_eq!((e.position, e.token.as_str()), (0, ""));
    }
}
