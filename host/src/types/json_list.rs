//! The JSON form arrays travel in: lists, nested per dimension, of the JSON strings of the
//! elements' canonical forms, or `null`. Writing strings, and reading any JSON text into the
//! little tree the array readers need.

use super::error::invalid;
use super::{BoxError, Oid};

/// A JSON value, as far as the array form cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Node {
    Null,
    String(String),
    List(Vec<Node>),
    /// A number, `true`, `false` or an object: well-formed JSON that is never an element.
    Other,
}

/// Lists and objects nested deeper than this are refused, so no input exhausts the stack
/// (PostgreSQL arrays have at most 6 dimensions).
const MAX_DEPTH: usize = 128;

/// Reads `raw`, which must be exactly one JSON value (whitespace around it allowed); anything
/// else is an [`InvalidValue`](super::InvalidValue) error for type `ty`.
pub(super) fn parse(ty: Oid, raw: &str) -> Result<Node, BoxError> {
    let mut reader = Reader { text: raw, pos: 0 };
    let node = reader.value(0).and_then(|node| {
        reader.skip_whitespace();
        if reader.pos < raw.len() {
            return Err("trailing characters after the JSON value");
        }
        Ok(node)
    });
    node.map_err(|reason| invalid(ty, format!("{reason} at byte {}", reader.pos)))
}

/// A position in JSON text; errors are static descriptions, `pos` says where.
struct Reader<'a> {
    text: &'a str,
    pos: usize,
}

impl Reader<'_> {
    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    fn skip_whitespace(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    /// Consumes `byte` if it comes next.
    fn eat(&mut self, byte: u8) -> bool {
        if self.peek() != Some(byte) {
            return false;
        }
        self.pos += 1;
        true
    }

    /// A value, after optional whitespace, inside `depth` lists and objects.
    fn value(&mut self, depth: usize) -> Result<Node, &'static str> {
        self.skip_whitespace();
        match self.peek() {
            Some(b'[') => {
                if depth >= MAX_DEPTH {
                    return Err("JSON nested too deeply");
                }
                self.pos += 1;
                self.list(depth + 1).map(Node::List)
            }
            Some(b'{') => {
                if depth >= MAX_DEPTH {
                    return Err("JSON nested too deeply");
                }
                self.pos += 1;
                self.object(depth + 1).map(|()| Node::Other)
            }
            Some(b'"') => {
                self.pos += 1;
                self.string().map(Node::String)
            }
            Some(b'n') => self.keyword("null").map(|()| Node::Null),
            Some(b't') => self.keyword("true").map(|()| Node::Other),
            Some(b'f') => self.keyword("false").map(|()| Node::Other),
            Some(b'-' | b'0'..=b'9') => self.number().map(|()| Node::Other),
            Some(_) => Err("expected a JSON value"),
            None => Err("unexpected end of JSON"),
        }
    }

    /// The rest of a list whose `[` has been consumed.
    fn list(&mut self, depth: usize) -> Result<Vec<Node>, &'static str> {
        let mut items = Vec::new();
        self.skip_whitespace();
        if self.eat(b']') {
            return Ok(items);
        }
        loop {
            items.push(self.value(depth)?);
            self.skip_whitespace();
            if self.eat(b']') {
                return Ok(items);
            }
            if !self.eat(b',') {
                return Err("expected `,` or `]` in a JSON list");
            }
        }
    }

    /// The rest of an object whose `{` has been consumed; its contents are checked and dropped.
    fn object(&mut self, depth: usize) -> Result<(), &'static str> {
        self.skip_whitespace();
        if self.eat(b'}') {
            return Ok(());
        }
        loop {
            self.skip_whitespace();
            if !self.eat(b'"') {
                return Err("expected a string key in a JSON object");
            }
            self.string()?;
            self.skip_whitespace();
            if !self.eat(b':') {
                return Err("expected `:` in a JSON object");
            }
            self.value(depth)?;
            self.skip_whitespace();
            if self.eat(b'}') {
                return Ok(());
            }
            if !self.eat(b',') {
                return Err("expected `,` or `}` in a JSON object");
            }
        }
    }

    fn keyword(&mut self, word: &'static str) -> Result<(), &'static str> {
        let rest = self.text.get(self.pos..).unwrap_or_default();
        if !rest.starts_with(word) {
            return Err("expected a JSON value");
        }
        self.pos += word.len();
        Ok(())
    }

    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`
    fn number(&mut self) -> Result<(), &'static str> {
        const INVALID: &str = "invalid JSON number";
        self.eat(b'-');
        if !self.eat(b'0') && self.digits() == 0 {
            return Err(INVALID);
        }
        if self.eat(b'.') && self.digits() == 0 {
            return Err(INVALID);
        }
        if self.eat(b'e') || self.eat(b'E') {
            let _sign = self.eat(b'+') || self.eat(b'-');
            if self.digits() == 0 {
                return Err(INVALID);
            }
        }
        Ok(())
    }

    fn digits(&mut self) -> usize {
        let start = self.pos;
        while let Some(b'0'..=b'9') = self.peek() {
            self.pos += 1;
        }
        self.pos - start
    }

    /// The rest of a string whose opening quote has been consumed.
    fn string(&mut self) -> Result<String, &'static str> {
        let mut out = String::new();
        let mut run_start = self.pos;
        loop {
            let Some(byte) = self.peek() else {
                return Err("unterminated JSON string");
            };
            match byte {
                b'"' | b'\\' => {
                    // `pos` is at an ASCII byte, hence at a character boundary.
                    let run = self.text.get(run_start..self.pos);
                    out.push_str(run.ok_or("JSON string split inside a character")?);
                    self.pos += 1;
                    if byte == b'"' {
                        return Ok(out);
                    }
                    out.push(self.escape()?);
                    run_start = self.pos;
                }
                0..=0x1f => return Err("control character in a JSON string"),
                _ => self.pos += 1,
            }
        }
    }

    /// The character of an escape whose backslash has been consumed.
    fn escape(&mut self) -> Result<char, &'static str> {
        let Some(byte) = self.peek() else {
            return Err("unterminated JSON string");
        };
        self.pos += 1;
        Ok(match byte {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => return self.unicode_escape(),
            _ => return Err("invalid escape in a JSON string"),
        })
    }

    /// The rest of a `\uXXXX` escape, with the `\uXXXX` low half that must follow a high
    /// surrogate.
    fn unicode_escape(&mut self) -> Result<char, &'static str> {
        const LONE: &str = "lone surrogate in a JSON string";
        let first = self.hex4()?;
        let code = match first {
            0xd800..=0xdbff => {
                if !(self.eat(b'\\') && self.eat(b'u')) {
                    return Err(LONE);
                }
                let second = self.hex4()?;
                if !(0xdc00..=0xdfff).contains(&second) {
                    return Err(LONE);
                }
                0x10000 + ((first - 0xd800) << 10) + (second - 0xdc00)
            }
            0xdc00..=0xdfff => return Err(LONE),
            _ => first,
        };
        char::from_u32(code).ok_or(LONE)
    }

    /// Four hex digits.
    fn hex4(&mut self) -> Result<u32, &'static str> {
        let mut value = 0;
        for _ in 0..4 {
            let digit = self
                .peek()
                .and_then(|b| char::from(b).to_digit(16))
                .ok_or("expected four hex digits after `\\u`")?;
            value = value * 16 + digit;
            self.pos += 1;
        }
        Ok(value)
    }
}

/// Appends `s` as a JSON string literal.
pub(super) fn push_string(out: &mut String, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push('"');
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        let escape = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0x00..=0x1f => "",
            _ => continue,
        };
        // `b` is ASCII, which never occurs inside a multi-byte UTF-8 sequence: `start` and `i`
        // are char boundaries.
        out.push_str(&s[start..i]);
        if escape.is_empty() {
            out.push_str("\\u00");
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0xf)]));
        } else {
            out.push_str(escape);
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::super::testing::is;
    use super::super::InvalidValue;
    use super::*;

    fn list(items: &[Node]) -> Node {
        Node::List(items.to_vec())
    }

    fn string(s: &str) -> Node {
        Node::String(s.to_owned())
    }

    #[test]
    fn reads_lists_strings_and_null() {
        assert_eq!(parse(0, "[]").expect("[]"), list(&[]));
        assert_eq!(
            parse(0, " [ \"a\" ,null,[\"\\u00e9\\ud83d\\ude00\\/\"]]\n").expect("nested"),
            list(&[string("a"), Node::Null, list(&[string("é😀/")])])
        );
        assert_eq!(
            parse(0, r#""\"\\\b\f\n\r\t""#).expect("escapes"),
            string("\"\\\u{8}\u{c}\n\r\t")
        );
        for other in [
            "1",
            "-0.5e+3",
            "true",
            "false",
            "{}",
            r#"{"a": [1, {"b": null}]}"#,
        ] {
            assert_eq!(parse(0, other).expect(other), Node::Other, "{other}");
        }
    }

    #[test]
    fn refuses_malformed_json() {
        for bad in [
            "",
            " ",
            "[",
            "]",
            "[,]",
            "[\"a\",]",
            "[\"a\" \"b\"]",
            "[] []",
            "\"unterminated",
            "\"tab\there\"",
            "\"\\x\"",
            "\"\\u12\"",
            "\"\\ud83d\"",
            "\"\\ud83d\\u0041\"",
            "\"\\ude00\"",
            "nul",
            "True",
            "01",
            "1.",
            "-",
            "1e",
            "{\"a\"}",
            "{\"a\":1,}",
            "{1:2}",
            "\u{ff}",
        ] {
            let e = parse(oid_for_errors(), bad).expect_err(bad);
            assert!(is::<InvalidValue>(&e), "{bad}: {e}");
        }
        let e = parse(oid_for_errors(), "[\"a\"").expect_err("unterminated list");
        assert_eq!(
            e.to_string(),
            "malformed _int4 value: expected `,` or `]` in a JSON list at byte 4"
        );
    }

    fn oid_for_errors() -> Oid {
        super::super::oid::INT4_ARRAY
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        let ok = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert!(parse(0, &ok).is_ok());
        for deep in [
            format!("{}{}", "[".repeat(MAX_DEPTH + 1), "]".repeat(MAX_DEPTH + 1)),
            "[{\"a\":".repeat(100_000),
            "[".repeat(1_000_000),
        ] {
            assert!(is::<InvalidValue>(&parse(0, &deep).expect_err("deep")));
        }
    }

    #[test]
    fn written_strings_read_back() {
        let all: String = (0..=0x2ffu32).filter_map(char::from_u32).collect();
        for s in ["", "null", "a\"b\\c", "😀 \u{2028}", all.as_str()] {
            let mut out = String::new();
            push_string(&mut out, s);
            assert_eq!(parse(0, &out).expect(s), string(s));
        }
    }

    /// Whatever serde_json accepts, this accepts, to the same tree, and the other way round.
    #[cfg(feature = "with-serde_json")]
    #[test]
    fn agrees_with_serde_json() {
        use serde_json::Value;

        fn tree(value: &Value) -> Node {
            match value {
                Value::Null => Node::Null,
                Value::String(s) => Node::String(s.clone()),
                Value::Array(items) => Node::List(items.iter().map(tree).collect()),
                _ => Node::Other,
            }
        }

        let pieces = [
            "", "[", "]", ",", "\"", "\"a\"", "null", "1", "-", "e", ".", "{", "}", ":", " ", "\\",
            "\\u00e9", "\\ud83d", "\\ude00", "\u{e9}", "\n", "\t", "true", "0",
        ];
        let mut checked = 0;
        for a in pieces {
            for b in pieces {
                for c in pieces {
                    let text = format!("{a}{b}{c}");
                    let ours = parse(0, &text).ok();
                    let theirs = serde_json::from_str::<Value>(&text).ok();
                    assert_eq!(ours, theirs.as_ref().map(tree), "{text:?}");
                    checked += usize::from(ours.is_some());
                }
            }
        }
        assert!(checked > 100, "{checked}");
    }
}
