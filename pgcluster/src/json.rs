//! Just enough JSON for `pgcluster`: quoting strings for the object `start --json` prints, and
//! reading such an object back for `stop` (a complete parser of JSON text, without floats'
//! conversion: numbers are kept as written).

/// A parsed JSON value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    /// The number as written.
    Number(String),
    String(String),
    Array(Vec<Value>),
    /// Members in document order.
    Object(Vec<(String, Value)>),
}

impl Value {
    /// The member `key` of an object (the first, if repeated).
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Object(members) => members.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }
}

/// `s` as a JSON string literal.
pub fn string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Parses one JSON value (surrounded by optional whitespace).
pub fn parse(text: &str) -> Result<Value, String> {
    let mut p = Parser {
        chars: text.char_indices().peekable(),
        depth: 0,
    };
    let value = p.value()?;
    p.skip_ws();
    match p.chars.peek() {
        None => Ok(value),
        Some(&(at, c)) => Err(format!("unexpected {c:?} at byte {at} after the value")),
    }
}

struct Parser<'a> {
    chars: std::iter::Peekable<std::str::CharIndices<'a>>,
    depth: usize,
}

impl Parser<'_> {
    fn skip_ws(&mut self) {
        while self
            .chars
            .peek()
            .is_some_and(|&(_, c)| matches!(c, ' ' | '\t' | '\n' | '\r'))
        {
            self.chars.next();
        }
    }

    fn next(&mut self) -> Result<char, String> {
        self.chars
            .next()
            .map(|(_, c)| c)
            .ok_or_else(|| "unexpected end of input".to_owned())
    }

    fn expect(&mut self, word: &str) -> Result<(), String> {
        for want in word.chars() {
            let got = self.next()?;
            if got != want {
                return Err(format!("expected {word:?}, found {got:?}"));
            }
        }
        Ok(())
    }

    fn value(&mut self) -> Result<Value, String> {
        self.skip_ws();
        let Some(&(at, c)) = self.chars.peek() else {
            return Err("unexpected end of input".to_owned());
        };
        match c {
            'n' => self.expect("null").map(|()| Value::Null),
            't' => self.expect("true").map(|()| Value::Bool(true)),
            'f' => self.expect("false").map(|()| Value::Bool(false)),
            '"' => self.string().map(Value::String),
            '[' | '{' => {
                self.depth += 1;
                if self.depth > 64 {
                    return Err("nested too deeply".to_owned());
                }
                let v = if c == '[' {
                    self.array()
                } else {
                    self.object()
                };
                self.depth -= 1;
                v
            }
            '-' | '0'..='9' => {
                let mut n = String::new();
                while let Some(&(_, d)) = self.chars.peek() {
                    if d.is_ascii_digit() || matches!(d, '-' | '+' | '.' | 'e' | 'E') {
                        n.push(d);
                        self.chars.next();
                    } else {
                        break;
                    }
                }
                Ok(Value::Number(n))
            }
            other => Err(format!("unexpected {other:?} at byte {at}")),
        }
    }

    fn array(&mut self) -> Result<Value, String> {
        self.expect("[")?;
        let mut items = Vec::new();
        self.skip_ws();
        if self.chars.peek().is_some_and(|&(_, c)| c == ']') {
            self.chars.next();
            return Ok(Value::Array(items));
        }
        loop {
            items.push(self.value()?);
            self.skip_ws();
            match self.next()? {
                ',' => {}
                ']' => return Ok(Value::Array(items)),
                c => return Err(format!("expected ',' or ']', found {c:?}")),
            }
        }
    }

    fn object(&mut self) -> Result<Value, String> {
        self.expect("{")?;
        let mut members = Vec::new();
        self.skip_ws();
        if self.chars.peek().is_some_and(|&(_, c)| c == '}') {
            self.chars.next();
            return Ok(Value::Object(members));
        }
        loop {
            self.skip_ws();
            let key = self.string()?;
            self.skip_ws();
            self.expect(":")?;
            members.push((key, self.value()?));
            self.skip_ws();
            match self.next()? {
                ',' => {}
                '}' => return Ok(Value::Object(members)),
                c => return Err(format!("expected ',' or '}}', found {c:?}")),
            }
        }
    }

    fn string(&mut self) -> Result<String, String> {
        self.expect("\"")?;
        let mut out = String::new();
        loop {
            match self.next()? {
                '"' => return Ok(out),
                '\\' => match self.next()? {
                    '"' => out.push('"'),
                    '\\' => out.push('\\'),
                    '/' => out.push('/'),
                    'b' => out.push('\u{8}'),
                    'f' => out.push('\u{c}'),
                    'n' => out.push('\n'),
                    'r' => out.push('\r'),
                    't' => out.push('\t'),
                    'u' => {
                        let high = self.hex4()?;
                        let code = if (0xD800..0xDC00).contains(&high) {
                            self.expect("\\u")?;
                            let low = self.hex4()?;
                            if !(0xDC00..0xE000).contains(&low) {
                                return Err("unpaired surrogate".to_owned());
                            }
                            0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00)
                        } else {
                            high
                        };
                        out.push(char::from_u32(code).ok_or("invalid \\u escape")?);
                    }
                    c => return Err(format!("invalid escape \\{c}")),
                },
                c if u32::from(c) < 0x20 => return Err("control character in a string".into()),
                c => out.push(c),
            }
        }
    }

    fn hex4(&mut self) -> Result<u32, String> {
        let mut v = 0;
        for _ in 0..4 {
            let d = self.next()?;
            v = v * 16
                + d.to_digit(16)
                    .ok_or_else(|| format!("bad hex digit {d:?}"))?;
        }
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_round_trip() {
        for s in ["", "plain", "a \"quoted\" \\ path\n\ttab", "ü€😀", "\u{1}"] {
            assert_eq!(parse(&string(s)), Ok(Value::String(s.to_owned())), "{s:?}");
        }
        assert_eq!(
            parse(r#""\ud83d\ude00\/""#),
            Ok(Value::String("😀/".to_owned()))
        );
    }

    #[test]
    fn objects_and_arrays() {
        let v = parse(r#" {"a": [1, -2.5e3, null, true, false, {}], "b": "x", "a": 0} "#).unwrap();
        assert_eq!(v.get("b").and_then(Value::as_str), Some("x"));
        assert_eq!(
            v.get("a"),
            Some(&Value::Array(vec![
                Value::Number("1".into()),
                Value::Number("-2.5e3".into()),
                Value::Null,
                Value::Bool(true),
                Value::Bool(false),
                Value::Object(vec![]),
            ]))
        );
        assert_eq!(v.get("missing"), None);
    }

    #[test]
    fn malformed_input_is_an_error() {
        for bad in [
            "",
            "{",
            "{\"a\" 1}",
            "[1,]",
            "\"\\x\"",
            "nul",
            "{} x",
            "\"\\ud800\"",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} parsed");
        }
        assert!(parse(&"[".repeat(100)).is_err());
    }
}
