//! The JSON form arrays travel in: lists, nested per dimension, of the JSON strings of the
//! elements' canonical forms, or `null`: any JSON text read into the little tree the array
//! readers need, with the tokens read by `wasmpg_wire::json` (which also writes the strings).

use wasmpg_wire::json::Reader;

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
    let mut reader = Reader::new(raw);
    let node = value(&mut reader, 0).and_then(|node| {
        reader.skip_whitespace();
        if !reader.at_end() {
            return Err("trailing characters after the JSON value");
        }
        Ok(node)
    });
    node.map_err(|reason| invalid(ty, format!("{reason} at byte {}", reader.offset())))
}

/// A value, after optional whitespace, inside `depth` lists and objects.
fn value(reader: &mut Reader<'_>, depth: usize) -> Result<Node, &'static str> {
    reader.skip_whitespace();
    match reader.peek() {
        Some(b'[') => {
            if depth >= MAX_DEPTH {
                return Err("JSON nested too deeply");
            }
            reader.eat(b'[');
            list(reader, depth + 1).map(Node::List)
        }
        Some(b'{') => {
            if depth >= MAX_DEPTH {
                return Err("JSON nested too deeply");
            }
            reader.eat(b'{');
            object(reader, depth + 1).map(|()| Node::Other)
        }
        Some(b'"') => {
            reader.eat(b'"');
            let mut text = String::new();
            reader.string(&mut text).map(|()| Node::String(text))
        }
        Some(b'n') => reader.keyword("null").map(|_| Node::Null),
        Some(b't') => reader.keyword("true").map(|_| Node::Other),
        Some(b'f') => reader.keyword("false").map(|_| Node::Other),
        Some(b'-' | b'0'..=b'9') => reader.number().map(|_| Node::Other),
        Some(_) => Err("expected a JSON value"),
        None => Err("unexpected end of JSON"),
    }
}

/// The rest of a list whose `[` has been consumed.
fn list(reader: &mut Reader<'_>, depth: usize) -> Result<Vec<Node>, &'static str> {
    let mut items = Vec::new();
    reader.skip_whitespace();
    if reader.eat(b']') {
        return Ok(items);
    }
    loop {
        items.push(value(reader, depth)?);
        reader.skip_whitespace();
        if reader.eat(b']') {
            return Ok(items);
        }
        if !reader.eat(b',') {
            return Err("expected `,` or `]` in a JSON list");
        }
    }
}

/// The rest of an object whose `{` has been consumed; its contents are checked and dropped.
fn object(reader: &mut Reader<'_>, depth: usize) -> Result<(), &'static str> {
    reader.skip_whitespace();
    if reader.eat(b'}') {
        return Ok(());
    }
    let mut key = String::new();
    loop {
        reader.skip_whitespace();
        if !reader.eat(b'"') {
            return Err("expected a string key in a JSON object");
        }
        key.clear();
        reader.string(&mut key)?;
        reader.skip_whitespace();
        if !reader.eat(b':') {
            return Err("expected `:` in a JSON object");
        }
        value(reader, depth)?;
        reader.skip_whitespace();
        if reader.eat(b'}') {
            return Ok(());
        }
        if !reader.eat(b',') {
            return Err("expected `,` or `}` in a JSON object");
        }
    }
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
            wasmpg_wire::json::push_string(s, &mut out);
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
