//! The row-batch string layout shared by results and parameters (see `row-batch` in
//! wit/driver.wit): fields end with U+001F, rows with U+001E, NULL is a lone U+0000, and the four
//! separator characters inside a value are escaped with U+001B.

use std::borrow::Cow;

pub const FIELD_END: char = '\u{1f}';
pub const ROW_END: char = '\u{1e}';
pub const NULL: char = '\u{0}';
pub const ESCAPE: char = '\u{1b}';

/// Characters that must be escaped inside a field, with their escape codes.
const ESCAPES: [(char, char); 4] = [(NULL, '@'), (ESCAPE, '['), (ROW_END, '^'), (FIELD_END, '_')];

#[inline]
fn needs_escape(b: u8) -> bool {
    matches!(b, 0x00 | 0x1b | 0x1e | 0x1f)
}

/// Accumulates rows into one string.
#[derive(Debug, Default)]
pub struct BatchWriter {
    data: String,
    count: u32,
    escaped: bool,
    /// Where the row being written starts in `data`.
    row_start: usize,
}

/// A finished batch, ready to cross the boundary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowBatch {
    pub count: u32,
    pub escaped: bool,
    pub data: String,
}

impl BatchWriter {
    pub fn push_null(&mut self) {
        self.data.push(NULL);
        self.data.push(FIELD_END);
    }

    /// Appends one non-NULL field, escaping separator characters.
    pub fn push_field(&mut self, value: &str) {
        let bytes = value.as_bytes();
        // The separators are ASCII, so scanning bytes never splits a UTF-8 sequence.
        if !bytes.iter().any(|&b| needs_escape(b)) {
            self.data.push_str(value);
        } else {
            self.escaped = true;
            for c in value.chars() {
                match ESCAPES.iter().find(|(raw, _)| *raw == c) {
                    Some((_, code)) => {
                        self.data.push(ESCAPE);
                        self.data.push(*code);
                    }
                    None => self.data.push(c),
                }
            }
        }
        self.data.push(FIELD_END);
    }

    pub fn end_row(&mut self) {
        self.data.push(ROW_END);
        self.count += 1;
        self.row_start = self.data.len();
    }

    /// Drops the fields written since the last complete row.
    pub fn discard_partial_row(&mut self) {
        self.data.truncate(self.row_start);
    }

    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// True when no complete row is waiting.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Takes the rows written so far, leaving the writer empty.
    pub fn take(&mut self) -> RowBatch {
        let batch = RowBatch {
            count: self.count,
            escaped: self.escaped,
            data: std::mem::take(&mut self.data),
        };
        self.count = 0;
        self.escaped = false;
        self.row_start = 0;
        batch
    }
}

/// Reverses the field escaping.
pub fn unescape(field: &str) -> Result<Cow<'_, str>, String> {
    if !field.contains(ESCAPE) {
        return Ok(Cow::Borrowed(field));
    }
    let mut out = String::with_capacity(field.len());
    let mut chars = field.chars();
    while let Some(c) = chars.next() {
        if c != ESCAPE {
            out.push(c);
            continue;
        }
        let code = chars.next();
        match ESCAPES.iter().find(|(_, esc)| Some(*esc) == code) {
            Some((raw, _)) => out.push(*raw),
            None => return Err(format!("invalid escape sequence {code:?} in a field")),
        }
    }
    Ok(Cow::Owned(out))
}

/// Splits a batch into rows of fields (`None` = NULL), unescaping where needed.
pub fn parse_rows(data: &str) -> Result<Vec<Vec<Option<Cow<'_, str>>>>, String> {
    let mut rows = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        let Some(end) = rest.find(ROW_END) else {
            return Err("a parameter row does not end with U+001E".to_owned());
        };
        let row = &rest[..end];
        rest = &rest[end + ROW_END.len_utf8()..];
        let mut fields = Vec::new();
        let mut row_rest = row;
        while !row_rest.is_empty() {
            let Some(fend) = row_rest.find(FIELD_END) else {
                return Err("a parameter field does not end with U+001F".to_owned());
            };
            let field = &row_rest[..fend];
            row_rest = &row_rest[fend + FIELD_END.len_utf8()..];
            if field.len() == 1 && field.starts_with(NULL) {
                fields.push(None);
            } else {
                fields.push(Some(unescape(field)?));
            }
        }
        rows.push(fields);
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_and_parses_back() {
        let mut w = BatchWriter::default();
        w.push_field("plain");
        w.push_null();
        w.push_field("");
        w.end_row();
        w.push_field("a\u{1e}b\u{1f}c\u{1b}d\u{0}e");
        w.push_field("\u{0}");
        w.push_field("é✓");
        w.end_row();
        w.end_row(); // a zero-column row
        let batch = w.take();
        assert_eq!(batch.count, 3);
        assert!(batch.escaped);
        assert!(w.is_empty());
        let rows = parse_rows(&batch.data).unwrap();
        assert_eq!(rows.len(), 3);
        assert_eq!(
            rows[0],
            vec![Some(Cow::Borrowed("plain")), None, Some(Cow::Borrowed(""))]
        );
        assert_eq!(rows[1][0].as_deref(), Some("a\u{1e}b\u{1f}c\u{1b}d\u{0}e"));
        assert_eq!(rows[1][1].as_deref(), Some("\u{0}"));
        assert_eq!(rows[1][2].as_deref(), Some("é✓"));
        assert!(rows[2].is_empty());
    }

    #[test]
    fn unescaped_batches_are_flagged_clean() {
        let mut w = BatchWriter::default();
        w.push_field("x");
        w.end_row();
        let batch = w.take();
        assert!(!batch.escaped);
        assert_eq!(batch.data, "x\u{1f}\u{1e}");
    }

    #[test]
    fn malformed_input_is_an_error() {
        assert!(parse_rows("x\u{1f}").is_err());
        assert!(parse_rows("x\u{1e}").is_err());
        assert!(parse_rows("\u{1b}Z\u{1f}\u{1e}").is_err());
        assert!(parse_rows("\u{1b}\u{1f}\u{1e}").is_err());
    }
}
