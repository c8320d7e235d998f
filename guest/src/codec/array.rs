//! Arrays: server text (`{1,NULL}`, `[0:1]={{"a b",c}}`) to JSON lists of element strings, and
//! JSON lists back to array literals.
//!
//! Both directions check that the array is rectangular (every sub-array at a depth has the same
//! length, elements only at the deepest level, no empty sub-arrays) and has at most six
//! dimensions, PostgreSQL's limit.

use super::{CodecError, Decoder};
use wasmpg_wire::json::{self, Reader, Scalar};
use wasmpg_wire::TextOut;

/// PostgreSQL's `MAXDIM`.
const MAX_DIMS: usize = 6;

/// Checks that nested lists form a rectangular array. Depth 1 is the outermost list.
#[derive(Debug, Default)]
struct Shape {
    /// The length of the lists at each depth, once one has closed.
    lens: [Option<usize>; MAX_DIMS],
    /// The depth of the lists holding elements, once an element has been seen.
    leaf_depth: Option<usize>,
}

impl Shape {
    /// A list opens at `depth`.
    fn open(&self, depth: usize) -> Result<(), &'static str> {
        if depth > MAX_DIMS {
            return Err("more than 6 dimensions");
        }
        match self.leaf_depth {
            Some(leaf) if depth > leaf => Err("elements and sub-arrays are mixed"),
            _ => Ok(()),
        }
    }

    /// An element appears in a list at `depth`.
    fn element(&mut self, depth: usize) -> Result<(), &'static str> {
        match self.leaf_depth {
            Some(leaf) if leaf != depth => Err("elements and sub-arrays are mixed"),
            _ => {
                self.leaf_depth = Some(depth);
                Ok(())
            }
        }
    }

    /// The list at `depth` closes with `len` items.
    fn close(&mut self, depth: usize, len: usize) -> Result<(), &'static str> {
        if len == 0 && depth > 1 {
            return Err("empty sub-array");
        }
        let Some(slot) = depth.checked_sub(1).and_then(|i| self.lens.get_mut(i)) else {
            return Err("more than 6 dimensions");
        };
        match *slot {
            Some(expected) if expected != len => Err("sub-arrays have different lengths"),
            _ => {
                *slot = Some(len);
                Ok(())
            }
        }
    }

    /// The length of each dimension; none for an empty array.
    fn dims(&self) -> &[Option<usize>] {
        let count = self.leaf_depth.unwrap_or(0).min(MAX_DIMS);
        self.lens.get(..count).unwrap_or_default()
    }
}

/// Why an array could not be converted.
enum Failure {
    /// The array's own syntax or shape.
    Syntax(&'static str),
    /// An element, with the element type's error.
    Element(CodecError),
}

impl From<&'static str> for Failure {
    fn from(reason: &'static str) -> Self {
        Self::Syntax(reason)
    }
}

/// Appends the JSON form of the array text `raw`, its elements decoded by `element`.
pub(super) fn decode(element: &Decoder, raw: &[u8], out: &mut Vec<u8>) -> Result<(), CodecError> {
    let mut parser = ArrayText {
        rest: raw,
        element,
        shape: Shape::default(),
        unescaped: Vec::new(),
        canonical: Vec::new(),
    };
    parser.array(out).map_err(|failure| match failure {
        Failure::Syntax(reason) => CodecError::invalid_because("array", raw, reason),
        Failure::Element(e) => CodecError::invalid_because("array", raw, e.message()),
    })
}

/// Parser state for one array text value.
struct ArrayText<'a> {
    rest: &'a [u8],
    element: &'a Decoder,
    shape: Shape,
    /// Holds an element whose text had backslash escapes, without them.
    unescaped: Vec<u8>,
    /// Holds an element's canonical form before it is written as a JSON string.
    canonical: Vec<u8>,
}

/// Where an element's unescaped text is.
enum Element<'a> {
    Null,
    /// A slice of the array text: there were no escapes.
    Text(&'a [u8]),
    /// In `ArrayText::unescaped`.
    Unescaped,
}

/// PostgreSQL's `array_isspace`.
fn is_space(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\n' | b'\r' | b'\x0b' | b'\x0c')
}

impl<'a> ArrayText<'a> {
    fn peek(&self) -> Option<u8> {
        self.rest.first().copied()
    }

    fn bump(&mut self) {
        self.rest = self.rest.get(1..).unwrap_or_default();
    }

    fn eat(&mut self, byte: u8) -> bool {
        if self.peek() != Some(byte) {
            return false;
        }
        self.bump();
        true
    }

    fn skip_space(&mut self) {
        while self.peek().is_some_and(is_space) {
            self.bump();
        }
    }

    /// The whole value: optional bounds, the outermost list, nothing after it.
    fn array(&mut self, out: &mut Vec<u8>) -> Result<(), Failure> {
        self.skip_space();
        let bounds = self.bounds()?;
        self.skip_space();
        if !self.eat(b'{') {
            return Err("expected \"{\"".into());
        }
        self.list(1, out)?;
        self.skip_space();
        if !self.rest.is_empty() {
            return Err("junk after closing \"}\"".into());
        }
        if let Some(bounds) = bounds {
            self.check_bounds(&bounds)?;
        }
        Ok(())
    }

    /// Dimension decoration such as `[0:1][-2:-1]=`, as the length of each dimension.
    fn bounds(&mut self) -> Result<Option<Vec<i64>>, &'static str> {
        if self.peek() != Some(b'[') {
            return Ok(None);
        }
        let mut lens = Vec::new();
        while self.eat(b'[') {
            if lens.len() == MAX_DIMS {
                return Err("more than 6 dimensions");
            }
            let lower = self.bound()?;
            if !self.eat(b':') {
                return Err("expected \":\" in dimensions");
            }
            let upper = self.bound()?;
            if !self.eat(b']') {
                return Err("expected \"]\" in dimensions");
            }
            let len = upper
                .checked_sub(lower)
                .and_then(|d| d.checked_add(1))
                .filter(|&len| len > 0)
                .ok_or("upper bound below lower bound")?;
            lens.push(len);
        }
        self.skip_space();
        if !self.eat(b'=') {
            return Err("expected \"=\" after dimensions");
        }
        Ok(Some(lens))
    }

    /// A signed decimal array bound (PostgreSQL's are `int4`).
    fn bound(&mut self) -> Result<i64, &'static str> {
        const INVALID: &str = "invalid bound in dimensions";
        let negative = self.eat(b'-');
        let mut magnitude: i64 = 0;
        let mut digits = 0;
        while let Some(digit @ b'0'..=b'9') = self.peek() {
            magnitude = magnitude
                .checked_mul(10)
                .and_then(|m| m.checked_add(i64::from(digit - b'0')))
                .ok_or(INVALID)?;
            digits += 1;
            self.bump();
        }
        if digits == 0 {
            return Err(INVALID);
        }
        Ok(if negative { -magnitude } else { magnitude })
    }

    fn check_bounds(&self, lens: &[i64]) -> Result<(), &'static str> {
        let dims = self.shape.dims();
        let matches = dims.len() == lens.len()
            && dims
                .iter()
                .zip(lens)
                .all(|(dim, &len)| dim.and_then(|d| i64::try_from(d).ok()) == Some(len));
        if !matches {
            return Err("dimensions do not match the contents");
        }
        Ok(())
    }

    /// The rest of a list whose `{` has been consumed, at `depth`.
    fn list(&mut self, depth: usize, out: &mut Vec<u8>) -> Result<(), Failure> {
        self.shape.open(depth)?;
        out.push(b'[');
        self.skip_space();
        let mut len = 0;
        if !self.eat(b'}') {
            loop {
                if len > 0 {
                    out.push(b',');
                }
                self.skip_space();
                if self.eat(b'{') {
                    self.list(depth + 1, out)?;
                } else {
                    self.shape.element(depth)?;
                    self.element(out)?;
                }
                len += 1;
                self.skip_space();
                if self.eat(b',') {
                    continue;
                }
                if self.eat(b'}') {
                    break;
                }
                return Err("expected \",\" or \"}\"".into());
            }
        }
        out.push(b']');
        Ok(self.shape.close(depth, len)?)
    }

    /// One element, written as a JSON string of its canonical form or `null`.
    fn element(&mut self, out: &mut Vec<u8>) -> Result<(), Failure> {
        let text = match self.element_text()? {
            Element::Null => {
                out.push_str("null");
                return Ok(());
            }
            Element::Text(text) => text,
            Element::Unescaped => &self.unescaped,
        };
        if self.element.is_passthrough() {
            let text = std::str::from_utf8(text).map_err(|_| "invalid UTF-8 in an element")?;
            json::push_string(text, out);
            return Ok(());
        }
        self.canonical.clear();
        self.element
            .decode(text, &mut self.canonical)
            .map_err(Failure::Element)?;
        let canonical = std::str::from_utf8(&self.canonical)
            .map_err(|_| "invalid UTF-8 in an element's canonical form")?;
        json::push_string(canonical, out);
        Ok(())
    }

    fn element_text(&mut self) -> Result<Element<'a>, &'static str> {
        if self.eat(b'"') {
            return self.quoted();
        }
        self.unquoted()
    }

    /// The rest of a quoted element: `\` escapes any byte, `"` ends it.
    fn quoted(&mut self) -> Result<Element<'a>, &'static str> {
        const UNTERMINATED: &str = "unterminated quoted element";
        let start = self.rest;
        let plain = start
            .iter()
            .take_while(|&&b| b != b'"' && b != b'\\')
            .count();
        match start.get(plain) {
            Some(b'"') => {
                self.rest = start.get(plain + 1..).unwrap_or_default();
                return Ok(Element::Text(start.get(..plain).unwrap_or_default()));
            }
            None => return Err(UNTERMINATED),
            Some(_) => {}
        }
        self.unescaped.clear();
        loop {
            match self.peek() {
                None => return Err(UNTERMINATED),
                Some(b'"') => {
                    self.bump();
                    return Ok(Element::Unescaped);
                }
                Some(b'\\') => {
                    self.bump();
                    let escaped = self.peek().ok_or(UNTERMINATED)?;
                    self.unescaped.push(escaped);
                    self.bump();
                }
                Some(byte) => {
                    self.unescaped.push(byte);
                    self.bump();
                }
            }
        }
    }

    /// An unquoted element: up to an unescaped `,` or `}`, surrounding space trimmed (escaped
    /// space is kept), `NULL` in any case without escapes is SQL NULL.
    fn unquoted(&mut self) -> Result<Element<'a>, &'static str> {
        let start = self.rest;
        let plain = start
            .iter()
            .take_while(|&&b| !matches!(b, b',' | b'}' | b'\\' | b'"' | b'{'))
            .count();
        if !matches!(start.get(plain), Some(b'\\' | b'"' | b'{')) {
            self.rest = start.get(plain..).unwrap_or_default();
            let text = trim_end_space(start.get(..plain).unwrap_or_default());
            if text.is_empty() {
                return Err("empty unquoted element");
            }
            if text.eq_ignore_ascii_case(b"NULL") {
                return Ok(Element::Null);
            }
            return Ok(Element::Text(text));
        }
        self.unescaped.clear();
        // Length of `unescaped` up to its last escaped or non-space byte.
        let mut keep = 0;
        loop {
            match self.peek() {
                None | Some(b',' | b'}') => break,
                Some(b'"' | b'{') => return Err("unexpected character in unquoted element"),
                Some(b'\\') => {
                    self.bump();
                    let escaped = self.peek().ok_or("unterminated escape")?;
                    self.unescaped.push(escaped);
                    keep = self.unescaped.len();
                    self.bump();
                }
                Some(byte) => {
                    self.unescaped.push(byte);
                    if !is_space(byte) {
                        keep = self.unescaped.len();
                    }
                    self.bump();
                }
            }
        }
        self.unescaped.truncate(keep);
        Ok(Element::Unescaped)
    }
}

fn trim_end_space(text: &[u8]) -> &[u8] {
    let len = text.len() - text.iter().rev().take_while(|&&b| is_space(b)).count();
    text.get(..len).unwrap_or_default()
}

/// Appends the array literal for the JSON list `value`, each element encoded for `element_oid`.
pub(super) fn encode(element_oid: u32, value: &str, out: &mut Vec<u8>) -> Result<(), CodecError> {
    let mut encoder = JsonList {
        reader: Reader::new(value),
        element_oid,
        shape: Shape::default(),
        text: String::new(),
        encoded: Vec::new(),
    };
    encoder.array(out).map_err(|failure| {
        let message = match failure {
            Failure::Syntax(reason) => format!(
                "invalid array parameter at byte {}: {reason}",
                encoder.reader.offset()
            ),
            Failure::Element(e) => format!("invalid array parameter element: {e}"),
        };
        CodecError::new(message)
    })
}

/// Encoder state for one JSON list parameter.
struct JsonList<'a> {
    reader: Reader<'a>,
    element_oid: u32,
    shape: Shape,
    /// A string element, decoded from JSON.
    text: String,
    /// An element in PostgreSQL input syntax, before quoting.
    encoded: Vec<u8>,
}

impl JsonList<'_> {
    fn array(&mut self, out: &mut Vec<u8>) -> Result<(), Failure> {
        self.reader.skip_whitespace();
        if !self.reader.list_next() {
            return Err("expected a JSON list".into());
        }
        self.list(1, out)?;
        self.reader.skip_whitespace();
        if !self.reader.at_end() {
            return Err("junk after the JSON list".into());
        }
        Ok(())
    }

    /// A list at `depth`, from its `[`.
    fn list(&mut self, depth: usize, out: &mut Vec<u8>) -> Result<(), Failure> {
        self.shape.open(depth)?;
        self.reader.eat(b'[');
        out.push(b'{');
        self.reader.skip_whitespace();
        let mut len = 0;
        if !self.reader.eat(b']') {
            loop {
                if len > 0 {
                    out.push(b',');
                }
                self.reader.skip_whitespace();
                self.item(depth, out)?;
                len += 1;
                self.reader.skip_whitespace();
                if self.reader.eat(b',') {
                    continue;
                }
                if self.reader.eat(b']') {
                    break;
                }
                return Err("expected \",\" or \"]\"".into());
            }
        }
        out.push(b'}');
        Ok(self.shape.close(depth, len)?)
    }

    /// A sub-list or an element of the list at `depth`.
    fn item(&mut self, depth: usize, out: &mut Vec<u8>) -> Result<(), Failure> {
        if self.reader.list_next() {
            return self.list(depth + 1, out);
        }
        self.shape.element(depth)?;
        let text = match self.reader.scalar(&mut self.text)? {
            Scalar::Null => {
                out.extend_from_slice(b"NULL");
                return Ok(());
            }
            Scalar::String => self.text.as_str(),
            Scalar::Literal(literal) => literal,
        };
        self.encoded.clear();
        super::encode_param(self.element_oid, text, &mut self.encoded).map_err(Failure::Element)?;
        push_quoted(&self.encoded, out);
        Ok(())
    }
}

/// Appends `text` double-quoted, with `"` and `\` backslash-escaped.
fn push_quoted(text: &[u8], out: &mut Vec<u8>) {
    out.reserve(text.len() + 2);
    out.push(b'"');
    for &byte in text {
        if matches!(byte, b'"' | b'\\') {
            out.push(b'\\');
        }
        out.push(byte);
    }
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::super::{decoder_for, oid};
    use super::*;

    fn decoded(element: Decoder, raw: &str) -> Result<String, CodecError> {
        let mut out = Vec::new();
        decode(&element, raw.as_bytes(), &mut out)?;
        Ok(String::from_utf8(out).expect("decoded text is UTF-8"))
    }

    fn text(raw: &str) -> String {
        decoded(Decoder::Passthrough, raw).unwrap_or_else(|e| panic!("{raw:?}: {e}"))
    }

    fn encoded(element_oid: u32, value: &str) -> Result<String, CodecError> {
        let mut out = Vec::new();
        encode(element_oid, value, &mut out)?;
        Ok(String::from_utf8(out).expect("UTF-8 output"))
    }

    #[test]
    fn decode_simple() {
        assert_eq!(text("{}"), "[]");
        assert_eq!(text("{1,2,NULL}"), r#"["1","2",null]"#);
        assert_eq!(text("{{1,2},{3,4}}"), r#"[["1","2"],["3","4"]]"#);
        assert_eq!(text("{{{1},{2}}}"), r#"[[["1"],["2"]]]"#);
        assert_eq!(text("{t,f}"), r#"["t","f"]"#);
        assert_eq!(text("{{NULL}}"), "[[null]]");
    }

    #[test]
    fn decode_quoting() {
        // As printed by PostgreSQL 15 for array['a b','c"d\e',NULL,'NULL','',' x ','{}','a,b',
        // E'tab\there','null'].
        assert_eq!(
            text("{\"a b\",\"c\\\"d\\\\e\",NULL,\"NULL\",\"\",\" x \",\"{}\",\"a,b\",\"tab\there\",\"null\"}"),
            r#"["a b","c\"d\\e",null,"NULL",""," x ","{}","a,b","tab\there","null"]"#
        );
        assert_eq!(text(r#"{"\\"}"#), r#"["\\"]"#);
        assert_eq!(text(r#"{"\"\""}"#), r#"["\"\""]"#);
        assert_eq!(text("{\"é\u{1F600}\"}"), "[\"é\u{1F600}\"]");
        assert_eq!(text("{é}"), "[\"é\"]");
    }

    #[test]
    fn decode_unquoted_space_and_escapes() {
        assert_eq!(text("{ 1 , 2 }"), r#"["1","2"]"#);
        assert_eq!(text("{a b}"), r#"["a b"]"#);
        assert_eq!(text(r#"{"a" , b\ , c\,d}"#), r#"["a","b ","c,d"]"#);
        assert_eq!(text(r"{\ a\ }"), r#"[" a "]"#);
        assert_eq!(text(r#"{a\\b,\"}"#), r#"["a\\b","\""]"#);
        assert_eq!(text(r"{\N\U\L\L,N\ULL}"), r#"["NULL","NULL"]"#);
        assert_eq!(text("{null,Null,nULL}"), "[null,null,null]");
        assert_eq!(text("{NULLS,\"NULL\"}"), r#"["NULLS","NULL"]"#);
        assert_eq!(text(" \t{ {1} , {2} }\n"), r#"[["1"],["2"]]"#);
    }

    #[test]
    fn decode_drops_bounds() {
        assert_eq!(text("[0:1]={1,2}"), r#"["1","2"]"#);
        assert_eq!(text("[1:1][-2:-1]={{3,4}}"), r#"[["3","4"]]"#);
        assert_eq!(text("[-5:-5]={x}"), r#"["x"]"#);
        assert_eq!(
            text("[1:1][1:1][1:1][1:1][1:1][1:2]={{{{{{1,2}}}}}}"),
            r#"[[[[[["1","2"]]]]]]"#
        );
    }

    #[test]
    fn decode_applies_the_element_decoder() {
        // As printed by PostgreSQL 15.
        assert_eq!(
            decoded(Decoder::Bytea, r#"{"\\x0102","\\x",NULL}"#).unwrap(),
            r#"["\u0001\u0002","",null]"#
        );
        assert_eq!(
            decoded(Decoder::Bytea, r#"{"\\000\\\\A\\377"}"#).unwrap(),
            "[\"\\u0000\\\\A\u{ff}\"]"
        );
        assert_eq!(
            decoded(Decoder::Interval, r#"{"1 year 2 mons",00:00:00}"#).unwrap(),
            r#"["14 0 0","0 0 0"]"#
        );
        assert_eq!(
            decoded(
                Decoder::TimestampTz,
                r#"{"2024-01-02 02:04:05.5+00",infinity}"#
            )
            .unwrap(),
            r#"["2024-01-02 02:04:05.500000+00:00","infinity"]"#
        );
        assert_eq!(
            decoded(Decoder::TimeTz, "{12:00:00.5+05:30}").unwrap(),
            r#"["12:00:00.500000+05:30"]"#
        );
        assert_eq!(
            decoded(decoder_for(oid::JSON), r#"{"{}","\"x\""}"#).unwrap(),
            r#"["{}","\"x\""]"#
        );
        let err = decoded(Decoder::Interval, r#"{"1 fortnight"}"#).unwrap_err();
        assert_eq!(
            err.message(),
            r#"invalid array "{\"1 fortnight\"}": invalid interval "1 fortnight""#
        );
    }

    #[test]
    fn decode_errors() {
        for (raw, reason) in [
            ("", "expected \"{\""),
            ("1,2", "expected \"{\""),
            ("{", "empty unquoted element"),
            ("{1", "expected \",\" or \"}\""),
            ("{1,", "empty unquoted element"),
            ("{1,}", "empty unquoted element"),
            ("{,1}", "empty unquoted element"),
            ("{1,2}}", "junk after closing \"}\""),
            ("{1} x", "junk after closing \"}\""),
            ("{\"a\"b}", "expected \",\" or \"}\""),
            ("{a\"b\"}", "unexpected character in unquoted element"),
            ("{a{}", "unexpected character in unquoted element"),
            ("{a\\", "unterminated escape"),
            ("{\"a", "unterminated quoted element"),
            ("{\"a\\", "unterminated quoted element"),
            ("{\"a\\\"}", "unterminated quoted element"),
            ("{{1,2},{3}}", "sub-arrays have different lengths"),
            ("{{1},{2,3}}", "sub-arrays have different lengths"),
            ("{1,{2}}", "elements and sub-arrays are mixed"),
            ("{{1},2}", "elements and sub-arrays are mixed"),
            ("{{{1}},{2}}", "elements and sub-arrays are mixed"),
            ("{{}}", "empty sub-array"),
            ("{{1},{}}", "empty sub-array"),
            ("{{{{{{{1}}}}}}}", "more than 6 dimensions"),
            ("[0:2]={1,2}", "dimensions do not match the contents"),
            ("[1:2]={{1,2}}", "dimensions do not match the contents"),
            ("[1:1][1:2]={1,2}", "dimensions do not match the contents"),
            ("[1:0]={}", "upper bound below lower bound"),
            ("[1:2]{1,2}", "expected \"=\" after dimensions"),
            ("[1-2]={1,2}", "expected \":\" in dimensions"),
            ("[1:2={1,2}", "expected \"]\" in dimensions"),
            ("[:2]={1,2}", "invalid bound in dimensions"),
            (
                "[1:99999999999999999999]={1}",
                "invalid bound in dimensions",
            ),
            (
                "[1:1][1:1][1:1][1:1][1:1][1:1][1:1]={1}",
                "more than 6 dimensions",
            ),
        ] {
            let err = decoded(Decoder::Passthrough, raw).expect_err(raw);
            assert_eq!(
                err.message(),
                format!("invalid array {raw:?}: {reason}"),
                "{raw:?}"
            );
        }
        let err = decode(&Decoder::Passthrough, b"{\"\xff\"}", &mut Vec::new()).unwrap_err();
        assert!(
            err.message().ends_with("invalid UTF-8 in an element"),
            "{err}"
        );
    }

    #[test]
    fn deep_nesting_is_refused_without_recursing() {
        let raw = "{".repeat(100_000);
        let err = decoded(Decoder::Passthrough, &raw).unwrap_err();
        assert!(err.message().ends_with("more than 6 dimensions"), "{err}");
        let value = "[".repeat(100_000);
        let err = encoded(oid::INT4, &value).unwrap_err();
        assert!(err.message().ends_with("more than 6 dimensions"), "{err}");
    }

    #[test]
    fn encode_lists() {
        assert_eq!(encoded(oid::INT4, "[]").unwrap(), "{}");
        assert_eq!(
            encoded(oid::INT4, r#"["1","2",null]"#).unwrap(),
            r#"{"1","2",NULL}"#
        );
        assert_eq!(
            encoded(oid::INT4, "[1, -2.5e3, null]").unwrap(),
            r#"{"1","-2.5e3",NULL}"#
        );
        assert_eq!(
            encoded(oid::BOOL, "[true,false]").unwrap(),
            r#"{"true","false"}"#
        );
        assert_eq!(
            encoded(oid::INT4, r#" [ ["1" , "2"] , ["3","4"] ] "#).unwrap(),
            r#"{{"1","2"},{"3","4"}}"#
        );
        assert_eq!(
            encoded(oid::TEXT, r#"["a b","c\"d\\e",null,"NULL","","{}","a,b"]"#).unwrap(),
            r#"{"a b","c\"d\\e",NULL,"NULL","","{}","a,b"}"#
        );
        assert_eq!(
            encoded(oid::TEXT, r#"["\uD83D\uDE00\u00e9\n"]"#).unwrap(),
            "{\"\u{1F600}é\n\"}"
        );
        assert_eq!(
            encoded(oid::INT4, "[[[[[[1]]]]]]").unwrap(),
            r#"{{{{{{"1"}}}}}}"#
        );
    }

    #[test]
    fn encode_applies_the_element_encoder() {
        assert_eq!(
            encoded(oid::BYTEA, r#"["\u0001\u0002", "", "\\", null]"#).unwrap(),
            r#"{"\\x0102","\\x","\\x5c",NULL}"#
        );
        assert_eq!(
            encoded(oid::INTERVAL, r#"["14 3 14706789000"]"#).unwrap(),
            r#"{"+14 mons +3 days +4 hours +306.789 secs"}"#
        );
        let err = encoded(oid::BYTEA, r#"["ok", "\u0100"]"#).unwrap_err();
        assert!(
            err.message()
                .starts_with("invalid array parameter element: invalid bytea parameter"),
            "{err}"
        );
        let err = encoded(oid::INTERVAL, r#"["1 day"]"#).unwrap_err();
        assert!(err
            .message()
            .starts_with("invalid array parameter element: invalid interval"));
    }

    #[test]
    fn encode_errors() {
        for (value, offset, reason) in [
            ("", 0, "expected a JSON list"),
            ("\"1\"", 0, "expected a JSON list"),
            ("{}", 0, "expected a JSON list"),
            ("{1,2}", 0, "expected a JSON list"),
            ("null", 0, "expected a JSON list"),
            ("[", 1, "unexpected end of JSON"),
            ("[1", 2, "expected \",\" or \"]\""),
            ("[1,", 3, "unexpected end of JSON"),
            ("[1,]", 3, "expected a JSON value"),
            ("[,1]", 1, "expected a JSON value"),
            ("[1 2]", 3, "expected \",\" or \"]\""),
            ("[01]", 2, "expected \",\" or \"]\""),
            ("[1] [2]", 4, "junk after the JSON list"),
            ("[1]]", 3, "junk after the JSON list"),
            ("[{\"a\": 1}]", 1, "JSON objects are not allowed"),
            ("[\"a]", 4, "unterminated JSON string"),
            ("[nil]", 1, "expected a JSON value"),
            ("[[1],[2,3]]", 10, "sub-arrays have different lengths"),
            ("[[1,2],[3]]", 10, "sub-arrays have different lengths"),
            ("[1,[2]]", 3, "elements and sub-arrays are mixed"),
            ("[[1],2]", 5, "elements and sub-arrays are mixed"),
            ("[[]]", 3, "empty sub-array"),
            ("[[[[[[[1]]]]]]]", 6, "more than 6 dimensions"),
        ] {
            let err = encoded(oid::INT4, value).expect_err(value);
            assert_eq!(
                err.message(),
                format!("invalid array parameter at byte {offset}: {reason}"),
                "{value:?}"
            );
        }
    }

    #[test]
    fn decode_then_encode_gives_the_literal() {
        for (element, server, literal) in [
            (oid::INT4, "{1,2,NULL}", r#"{"1","2",NULL}"#),
            (
                oid::INT4,
                "[0:1][1:2]={{1,2},{3,4}}",
                r#"{{"1","2"},{"3","4"}}"#,
            ),
            (oid::TEXT, "{}", "{}"),
            (
                oid::TEXT,
                r#"{"a b","c\"d\\e",NULL,"NULL",""}"#,
                r#"{"a b","c\"d\\e",NULL,"NULL",""}"#,
            ),
            (oid::BYTEA, r#"{"\\x00ff"}"#, r#"{"\\x00ff"}"#),
            (oid::BYTEA, r#"{"\\000\\377"}"#, r#"{"\\x00ff"}"#),
            (oid::TIME, "{12:00:00.5}", r#"{"12:00:00.500000"}"#),
            (
                oid::INTERVAL,
                r#"{"1 mon -2 days -00:00:01"}"#,
                r#"{"+1 mons -2 days -0 hours -1 secs"}"#,
            ),
        ] {
            let mut canonical = Vec::new();
            decode(&decoder_for(element), server.as_bytes(), &mut canonical).unwrap();
            let canonical = String::from_utf8(canonical).unwrap();
            assert_eq!(encoded(element, &canonical).unwrap(), literal, "{server:?}");
        }
    }

    #[test]
    fn shape_dims() {
        let mut shape = Shape::default();
        assert_eq!(shape.dims(), &[] as &[Option<usize>]);
        shape.open(1).unwrap();
        shape.open(2).unwrap();
        shape.element(2).unwrap();
        shape.close(2, 3).unwrap();
        shape.close(1, 1).unwrap();
        assert_eq!(shape.dims(), &[Some(1), Some(3)]);
        assert_eq!(shape.close(0, 1), Err("more than 6 dimensions"));
    }
}
