//! The JSON that canonical array forms travel in (nested lists of the JSON strings of the
//! elements' canonical forms, or `null`), shared by the guest, which writes it and reads
//! parameter arrays in it, and the Rust host, which reads it and writes parameter arrays:
//! [`push_string`] writes a string literal; [`Reader`] reads JSON text token by token, with
//! [`Reader::scalar`] for the scalars of a list. Errors are static descriptions; the reader's
//! offset says where.

use crate::text::TextOut;

/// Appends `text` as a JSON string literal: `"` and `\` escaped, control characters as `\n`,
/// `\t`, ... or `\u00XX`; everything else as is.
pub fn push_string(text: &str, out: &mut impl TextOut) {
    out.push_char('"');
    let mut run_start = 0;
    for (i, &byte) in text.as_bytes().iter().enumerate() {
        let escape = match byte {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0..=0x1f => "",
            _ => continue,
        };
        // `i` is the index of an ASCII byte, hence a character boundary.
        out.push_str(text.get(run_start..i).unwrap_or_default());
        run_start = i + 1;
        if escape.is_empty() {
            push_unicode_escape(byte, out);
        } else {
            out.push_str(escape);
        }
    }
    out.push_str(text.get(run_start..).unwrap_or_default());
    out.push_char('"');
}

fn push_unicode_escape(byte: u8, out: &mut impl TextOut) {
    const HEX_DIGITS: &[u8; 16] = b"0123456789abcdef";
    out.push_str("\\u00");
    // Both indexes are below 16, the length of HEX_DIGITS.
    out.push_char(char::from(HEX_DIGITS[usize::from(byte >> 4)]));
    out.push_char(char::from(HEX_DIGITS[usize::from(byte & 0xf)]));
}

/// A JSON scalar read by [`Reader::scalar`].
#[derive(Debug, PartialEq, Eq)]
pub enum Scalar<'a> {
    Null,
    /// A string, decoded into the buffer passed to [`Reader::scalar`].
    String,
    /// A number, `true` or `false`: its JSON text.
    Literal(&'a str),
}

/// A position in JSON text. Errors are static descriptions; [`Reader::offset`] says where.
pub struct Reader<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(text: &'a str) -> Self {
        Self { text, pos: 0 }
    }

    /// The byte offset of the next unread character.
    pub fn offset(&self) -> usize {
        self.pos
    }

    pub fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    pub fn at_end(&self) -> bool {
        self.pos >= self.text.len()
    }

    pub fn skip_whitespace(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    /// Consumes `byte` if it comes next.
    pub fn eat(&mut self, byte: u8) -> bool {
        if self.peek() != Some(byte) {
            return false;
        }
        self.pos += 1;
        true
    }

    /// True when a list (`[`) comes next; it is not consumed.
    pub fn list_next(&self) -> bool {
        self.peek() == Some(b'[')
    }

    /// Reads a scalar: `null`, `true`, `false`, a number, or a string (decoded into `buf`,
    /// which is cleared first).
    pub fn scalar(&mut self, buf: &mut String) -> Result<Scalar<'a>, &'static str> {
        match self.peek() {
            Some(b'"') => {
                self.pos += 1;
                buf.clear();
                self.string(buf)?;
                Ok(Scalar::String)
            }
            Some(b'n') => self.keyword("null").map(|_| Scalar::Null),
            Some(b't') => self.keyword("true").map(Scalar::Literal),
            Some(b'f') => self.keyword("false").map(Scalar::Literal),
            Some(b'-' | b'0'..=b'9') => self.number().map(Scalar::Literal),
            Some(b'{') => Err("JSON objects are not allowed"),
            Some(_) => Err("expected a JSON value"),
            None => Err("unexpected end of JSON"),
        }
    }

    pub fn keyword(&mut self, word: &'static str) -> Result<&'a str, &'static str> {
        let end = self.pos + word.len();
        match self.text.get(self.pos..end) {
            Some(found) if found == word => {
                self.pos = end;
                Ok(found)
            }
            _ => Err("expected a JSON value"),
        }
    }

    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`
    pub fn number(&mut self) -> Result<&'a str, &'static str> {
        const INVALID: &str = "invalid JSON number";
        let start = self.pos;
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
        // Every byte consumed is ASCII, so both ends are character boundaries.
        self.text.get(start..self.pos).ok_or(INVALID)
    }

    fn digits(&mut self) -> usize {
        let start = self.pos;
        while let Some(b'0'..=b'9') = self.peek() {
            self.pos += 1;
        }
        self.pos - start
    }

    /// The rest of a string whose opening quote has been consumed, decoded and appended to
    /// `buf`.
    pub fn string(&mut self, buf: &mut String) -> Result<(), &'static str> {
        let mut run_start = self.pos;
        loop {
            let Some(byte) = self.peek() else {
                return Err("unterminated JSON string");
            };
            match byte {
                b'"' | b'\\' => {
                    // The run ends before an ASCII byte, at a character boundary.
                    buf.push_str(self.text.get(run_start..self.pos).unwrap_or_default());
                    self.pos += 1;
                    if byte == b'"' {
                        return Ok(());
                    }
                    buf.push(self.escape()?);
                    run_start = self.pos;
                }
                0..=0x1f => return Err("control character in JSON string"),
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
        let c = match byte {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => return self.unicode_escape(),
            _ => return Err("invalid escape in JSON string"),
        };
        Ok(c)
    }

    /// `XXXX` after `\u`, or a surrogate pair `D8XX\uDCXX`.
    fn unicode_escape(&mut self) -> Result<char, &'static str> {
        const LONE: &str = "unpaired surrogate in JSON string";
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

    fn hex4(&mut self) -> Result<u32, &'static str> {
        let mut value = 0;
        for _ in 0..4 {
            let digit = self
                .peek()
                .and_then(|b| char::from(b).to_digit(16))
                .ok_or("invalid \\u escape in JSON string")?;
            value = value * 16 + digit;
            self.pos += 1;
        }
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn string_literal(text: &str) -> String {
        let mut out = String::new();
        push_string(text, &mut out);
        out
    }

    /// Reads one scalar and checks that it ends the input.
    fn read(json: &str) -> Result<(Scalar<'_>, String), &'static str> {
        let mut reader = Reader::new(json);
        let mut buf = String::from("stale");
        let scalar = reader.scalar(&mut buf)?;
        assert!(reader.at_end(), "{json:?} not consumed");
        Ok((scalar, buf))
    }

    fn read_string(json: &str) -> Result<String, &'static str> {
        match read(json)? {
            (Scalar::String, s) => Ok(s),
            (other, _) => panic!("{json:?}: {other:?}"),
        }
    }

    #[test]
    fn strings_are_escaped() {
        assert_eq!(string_literal(""), r#""""#);
        assert_eq!(string_literal("plain"), r#""plain""#);
        assert_eq!(string_literal(r#"a"b\c"#), r#""a\"b\\c""#);
        assert_eq!(string_literal("\n\r\t\u{8}\u{c}"), r#""\n\r\t\b\f""#);
        assert_eq!(
            string_literal("\u{0}\u{1}\u{1b}\u{1e}\u{1f} \u{7f}"),
            "\"\\u0000\\u0001\\u001b\\u001e\\u001f \u{7f}\""
        );
        assert_eq!(string_literal("é\u{1F600}/"), "\"é\u{1F600}/\"");
        assert_eq!(string_literal("x\"é\"y"), r#""x\"é\"y""#);
    }

    #[test]
    fn written_strings_read_back() {
        let every_control: String = (0..0x20u8).map(char::from).collect();
        for text in ["", "a\"b\\c", "é\u{1F600}", &every_control, "\u{ff}\u{0}"] {
            assert_eq!(read_string(&string_literal(text)).unwrap(), text);
        }
    }

    #[test]
    fn string_escapes() {
        assert_eq!(read_string(r#""a\"b\\c\/d""#).unwrap(), "a\"b\\c/d");
        assert_eq!(read_string(r#""\b\f\n\r\t""#).unwrap(), "\u{8}\u{c}\n\r\t");
        assert_eq!(
            read_string(r#""\u0041\u00e9\u00E9\u0000""#).unwrap(),
            "Aéé\u{0}"
        );
        assert_eq!(read_string(r#""\uD83D\uDE00!""#).unwrap(), "\u{1F600}!");
        assert_eq!(read_string(r#""\udbff\udfff""#).unwrap(), "\u{10FFFF}");
        assert_eq!(read_string("\"é\u{1F600}\"").unwrap(), "é\u{1F600}");
    }

    #[test]
    fn string_errors() {
        for (json, error) in [
            (r#""abc"#, "unterminated JSON string"),
            (r#""abc\"#, "unterminated JSON string"),
            ("\"a\nb\"", "control character in JSON string"),
            (r#""\x""#, "invalid escape in JSON string"),
            (r#""\'""#, "invalid escape in JSON string"),
            (r#""\u12""#, "invalid \\u escape in JSON string"),
            (r#""\u12g4""#, "invalid \\u escape in JSON string"),
            (r#""\uD83D""#, "unpaired surrogate in JSON string"),
            (r#""\uD83Dx""#, "unpaired surrogate in JSON string"),
            (r#""\uD83D\u0041""#, "unpaired surrogate in JSON string"),
            (r#""\uDE00""#, "unpaired surrogate in JSON string"),
        ] {
            assert_eq!(read(json).unwrap_err(), error, "{json:?}");
        }
    }

    #[test]
    fn literals() {
        for json in [
            "0", "-0", "12", "-12.5", "1e3", "1E+3", "2.5e-10", "true", "false",
        ] {
            assert_eq!(read(json).unwrap().0, Scalar::Literal(json));
        }
        assert_eq!(read("null").unwrap().0, Scalar::Null);
    }

    #[test]
    fn literal_errors() {
        for (json, error) in [
            ("-", "invalid JSON number"),
            ("1.", "invalid JSON number"),
            (".5", "expected a JSON value"),
            ("1e", "invalid JSON number"),
            ("1e+", "invalid JSON number"),
            ("+1", "expected a JSON value"),
            ("nul", "expected a JSON value"),
            ("nulL", "expected a JSON value"),
            ("True", "expected a JSON value"),
            ("{}", "JSON objects are not allowed"),
            ("", "unexpected end of JSON"),
        ] {
            let mut buf = String::new();
            assert_eq!(
                Reader::new(json).scalar(&mut buf).unwrap_err(),
                error,
                "{json:?}"
            );
        }
        // A number stops where its grammar does; the caller rejects what follows.
        let mut reader = Reader::new("012");
        assert_eq!(reader.scalar(&mut String::new()), Ok(Scalar::Literal("0")));
        assert_eq!(reader.offset(), 1);
    }

    #[test]
    fn reader_navigation() {
        let mut reader = Reader::new(" \t\r\n[ 1 ]");
        reader.skip_whitespace();
        assert!(reader.list_next());
        assert!(reader.eat(b'['));
        assert!(!reader.eat(b'['));
        reader.skip_whitespace();
        assert_eq!(reader.scalar(&mut String::new()), Ok(Scalar::Literal("1")));
        reader.skip_whitespace();
        assert!(!reader.at_end());
        assert!(reader.eat(b']'));
        assert!(reader.at_end());
        assert_eq!(reader.offset(), 9);
    }
}
