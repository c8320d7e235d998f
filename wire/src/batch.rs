//! The row-batch string layout shared by results, parameters and name/value lists (docs/abi.md):
//! fields end with U+001F, rows with U+001E, NULL is a lone U+0000, and the five structuring
//! characters inside a value are escaped as [`crate::escape`] says.
//!
//! [`BatchWriter`] builds a batch; [`split`] reads one back without copying (a field is
//! borrowed from the batch unless it had to be unescaped); [`parse_rows`] collects what
//! [`split`] yields.

use std::borrow::Cow;
use std::fmt;

use crate::escape;
pub use crate::escape::{ESC as ESCAPE, NUL as NULL, RS as ROW_END, US as FIELD_END};

/// Accumulates rows into one string. The rows are written as bytes ([`crate::text`] says why)
/// and checked as UTF-8 once, when [`BatchWriter::take`] turns them into the batch's text.
#[derive(Debug, Default)]
pub struct BatchWriter {
    data: Vec<u8>,
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

/// What [`BatchWriter::take`] returns when the rows written are not UTF-8: a writer's defect
/// (every writer appends text, or ASCII it formatted), reported instead of sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotText {
    /// Complete rows before the first invalid byte.
    pub rows_before: u32,
}

impl BatchWriter {
    pub fn push_null(&mut self) {
        self.data.extend_from_slice(&[NULL as u8, FIELD_END as u8]);
    }

    /// Appends one non-NULL field, escaping structuring characters.
    pub fn push_field(&mut self, value: &str) {
        self.escaped |= escape::escape_into(&mut self.data, value);
        self.data.push(FIELD_END as u8);
    }

    /// [`BatchWriter::push_field`] for a value the caller found to be ASCII
    /// (`<[u8]>::is_ascii`, for a short value a fraction of what `str::from_utf8` costs), which
    /// is text with no other check. Were it not ASCII after all, [`BatchWriter::take`]'s check
    /// would still refuse the batch.
    pub fn push_ascii_field(&mut self, value: &[u8]) {
        debug_assert!(value.is_ascii());
        if escape::needs_escape(value) {
            self.escaped |= escape::escape_bytes_into(&mut self.data, value);
        } else {
            self.data.extend_from_slice(value);
        }
        self.data.push(FIELD_END as u8);
    }

    /// Appends one non-NULL field that `write` produces directly into the batch (no scratch
    /// copy), then escapes what it wrote if it has to. `write` appends text ([`TextOut`]
    /// methods, or bytes that are UTF-8). When `write` fails, nothing of the field stays in the
    /// batch.
    ///
    /// [`TextOut`]: crate::text::TextOut
    pub fn push_with<E>(
        &mut self,
        write: impl FnOnce(&mut Vec<u8>) -> Result<(), E>,
    ) -> Result<(), E> {
        let start = self.write_field(write)?;
        if escape::needs_escape(&self.data[start..]) {
            let value = self.data.split_off(start);
            self.escaped |= escape::escape_bytes_into(&mut self.data, &value);
        }
        self.data.push(FIELD_END as u8);
        Ok(())
    }

    /// [`BatchWriter::push_with`] for a `write` whose output never holds one of the five
    /// structuring characters (the guest's formatters of binary values: ASCII digits, letters,
    /// signs, spaces and punctuation), so the field is not scanned for them. A `write` that
    /// broke that promise would corrupt the batch's layout: debug builds check it here, and the
    /// guest's unit tests and the `decode` fuzz target check every such formatter's output.
    pub fn push_plain_with<E>(
        &mut self,
        write: impl FnOnce(&mut Vec<u8>) -> Result<(), E>,
    ) -> Result<(), E> {
        let start = self.write_field(write)?;
        debug_assert!(!escape::needs_escape(&self.data[start..]));
        self.data.push(FIELD_END as u8);
        Ok(())
    }

    /// Runs `write` at the end of the batch and returns where its field starts; when it fails,
    /// nothing of what it wrote stays.
    #[inline(always)]
    fn write_field<E>(
        &mut self,
        write: impl FnOnce(&mut Vec<u8>) -> Result<(), E>,
    ) -> Result<usize, E> {
        let start = self.data.len();
        if let Err(e) = write(&mut self.data) {
            self.data.truncate(start);
            return Err(e);
        }
        Ok(start)
    }

    pub fn end_row(&mut self) {
        self.data.push(ROW_END as u8);
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

    /// Gives the writer a taken batch's buffer back to write the next batch into (its
    /// allocation is reused), if the writer has none yet and the buffer holds at most `keep`
    /// bytes of capacity.
    pub fn recycle(&mut self, data: String, keep: usize) {
        let mut data = data.into_bytes();
        if self.data.is_empty() && self.data.capacity() < data.capacity() && data.capacity() <= keep
        {
            data.clear();
            self.data = data;
        }
    }

    /// Takes the rows written so far, leaving the writer empty. Their bytes are checked as
    /// UTF-8 here, in one pass; `Err` (no writer's output reaches it) drops the rows and says
    /// how many complete rows came before the first invalid byte.
    pub fn take(&mut self) -> Result<RowBatch, NotText> {
        let data = std::mem::take(&mut self.data);
        let count = std::mem::take(&mut self.count);
        let escaped = std::mem::take(&mut self.escaped);
        self.row_start = 0;
        match String::from_utf8(data) {
            Ok(data) => Ok(RowBatch {
                count,
                escaped,
                data,
            }),
            Err(e) => {
                let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
                let rows_before = valid.iter().filter(|&&b| b == ROW_END as u8).count();
                Err(NotText {
                    rows_before: u32::try_from(rows_before).unwrap_or(u32::MAX),
                })
            }
        }
    }
}

/// A batch that does not follow the layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchError {
    /// Text after the last U+001E.
    UnterminatedRow,
    /// Text after the last U+001F of a row.
    UnterminatedField,
    /// U+001B followed by something other than an escape code (`None`: the field's end).
    InvalidEscape(Option<char>),
}

impl fmt::Display for BatchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BatchError::UnterminatedRow => f.write_str("a parameter row does not end with U+001E"),
            BatchError::UnterminatedField => {
                f.write_str("a parameter field does not end with U+001F")
            }
            BatchError::InvalidEscape(code) => {
                write!(f, "invalid escape sequence {code:?} in a field")
            }
        }
    }
}

impl std::error::Error for BatchError {}

/// Reverses the field escaping.
pub fn unescape(field: &str) -> Result<Cow<'_, str>, BatchError> {
    escape::unescape(field).map_err(|e| BatchError::InvalidEscape(e.0))
}

/// Splits a batch into rows, lazily and without copying.
///
/// `escaped` is the batch's flag: when it is false no field is scanned for escapes and every
/// field is borrowed from `data` (a writer that escaped nothing sets it false). Parameter
/// batches carry no flag; read them with `escaped = true`, which unescapes only the fields that
/// contain U+001B.
pub fn split(data: &str, escaped: bool) -> Rows<'_> {
    Rows {
        rest: data,
        escaped,
    }
}

/// The rows of a batch, from [`split`]. After an error it yields nothing more.
#[derive(Debug, Clone)]
pub struct Rows<'a> {
    rest: &'a str,
    escaped: bool,
}

impl<'a> Iterator for Rows<'a> {
    type Item = Result<Fields<'a>, BatchError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let Some(end) = self.rest.find(ROW_END) else {
            self.rest = "";
            return Some(Err(BatchError::UnterminatedRow));
        };
        let row = &self.rest[..end];
        self.rest = &self.rest[end + ROW_END.len_utf8()..];
        Some(Ok(Fields {
            rest: row,
            escaped: self.escaped,
        }))
    }
}

/// The fields of one row, from [`Rows`]: `None` is NULL. A zero-column row yields nothing.
/// After an error it yields nothing more.
#[derive(Debug, Clone)]
pub struct Fields<'a> {
    rest: &'a str,
    escaped: bool,
}

/// Whether a field, as it stands in the batch, is the NULL marker (a lone U+0000).
#[inline]
pub fn is_null(field: &[u8]) -> bool {
    field == [NULL as u8]
}

/// Where the field at the start of `bytes` ends (the index of its FIELD_END), and whether an
/// ESCAPE comes before that; `None` when no FIELD_END follows.
///
/// Eight bytes at a time while none is a control character (every structuring character is
/// one), then byte by byte through the word that holds one. Fields are mostly short and
/// escape-free: one pass finds both answers, where `str::find` and then a search for escapes
/// were two, each with a searcher to set up. Public for readers that keep fields as positions
/// in the batch (the Rust host's rows) instead of as slices.
#[inline]
pub fn scan_field(bytes: &[u8]) -> Option<(usize, bool)> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let mut escaped = false;
    let mut at = 0;
    loop {
        while let Some(word) = bytes.get(at..at + 8) {
            let mut chunk = [0u8; 8];
            chunk.copy_from_slice(word);
            let w = u64::from_le_bytes(chunk);
            // Nonzero when some byte is below 0x20 (exact for a bound of at most 0x80).
            if w.wrapping_sub(ONES * 0x20) & !w & HIGH != 0 {
                break;
            }
            at += 8;
        }
        let end = (at + 8).min(bytes.len());
        while at < end {
            match bytes[at] {
                b if b == FIELD_END as u8 => return Some((at, escaped)),
                b if b == ESCAPE as u8 => escaped = true,
                _ => {}
            }
            at += 1;
        }
        if at >= bytes.len() {
            return None;
        }
    }
}

impl<'a> Fields<'a> {
    /// The next field as it is in the batch, and whether it holds an escape.
    fn next_field(&mut self) -> Option<Result<Option<(&'a str, bool)>, BatchError>> {
        if self.rest.is_empty() {
            return None;
        }
        let Some((end, escapes)) = scan_field(self.rest.as_bytes()) else {
            self.rest = "";
            return Some(Err(BatchError::UnterminatedField));
        };
        // FIELD_END is ASCII, so `end` and `end + 1` are char boundaries.
        let field = &self.rest[..end];
        self.rest = &self.rest[end + 1..];
        if is_null(field.as_bytes()) {
            Some(Ok(None))
        } else {
            Some(Ok(Some((field, escapes))))
        }
    }

    /// The next field exactly as it is in the batch, escapes and all: `Some(None)` is NULL.
    /// With [`Fields::next`] this reads a row field by field.
    pub fn next_raw(&mut self) -> Option<Result<Option<&'a str>, BatchError>> {
        Some(self.next_field()?.map(|f| f.map(|(field, _)| field)))
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = Result<Option<Cow<'a, str>>, BatchError>;

    fn next(&mut self) -> Option<Self::Item> {
        let (field, escapes) = match self.next_field()? {
            Ok(Some(field)) => field,
            Ok(None) => return Some(Ok(None)),
            Err(e) => return Some(Err(e)),
        };
        if !self.escaped || !escapes {
            return Some(Ok(Some(Cow::Borrowed(field))));
        }
        match unescape(field) {
            Ok(value) => Some(Ok(Some(value))),
            Err(e) => {
                self.rest = "";
                Some(Err(e))
            }
        }
    }
}

/// One row's fields (`None` = NULL), as [`parse_rows`] returns them.
pub type ParsedRow<'a> = Vec<Option<Cow<'a, str>>>;

/// Splits a batch into rows of fields (`None` = NULL), unescaping where needed: [`split`] with
/// `escaped = true`, collected.
pub fn parse_rows(data: &str) -> Result<Vec<ParsedRow<'_>>, BatchError> {
    split(data, true)
        .map(|row| row?.collect::<Result<Vec<_>, _>>())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::TextOut;

    /// The word-at-a-time scan agrees with a byte-by-byte one, wherever the separator, an
    /// escape or another control character falls relative to the 8-byte words, next to bytes
    /// just above the control range and to non-ASCII text.
    #[test]
    fn field_scan_agrees_with_a_plain_scan() {
        let plain = |b: &[u8]| {
            let end = b.iter().position(|&x| x == 0x1f)?;
            Some((end, b[..end].contains(&0x1b)))
        };
        let fillers: [&[u8]; 4] = [b"a", b" ", "\u{e9}".as_bytes(), b"\x7f"];
        let marks: [u8; 6] = [0x1f, 0x1b, 0x00, 0x0a, 0x1e, 0x20];
        for filler in fillers {
            for len in 0..24 {
                let base: Vec<u8> = filler.iter().copied().cycle().take(len).collect();
                assert_eq!(scan_field(&base), plain(&base));
                for at in 0..len {
                    for mark in marks {
                        for second in [None, Some(0x1f), Some(0x1b)] {
                            let mut b = base.clone();
                            b[at] = mark;
                            if let Some(m) = second {
                                if at + 9 < len {
                                    b[at + 9] = m;
                                }
                            }
                            assert_eq!(scan_field(&b), plain(&b), "{b:?}");
                        }
                    }
                }
            }
        }
    }

    /// Bytes that are not UTF-8 (no writer appends any) are refused when the batch is taken,
    /// with the count of complete rows before them; the writer is empty afterwards.
    #[test]
    fn a_batch_that_is_not_text_is_refused_when_taken() {
        let mut w = BatchWriter::default();
        w.push_field("a");
        w.end_row();
        w.push_field("b");
        w.end_row();
        w.push_with(|out| {
            out.extend_from_slice(b"\xff");
            Ok::<(), ()>(())
        })
        .expect("written");
        w.end_row();
        assert_eq!(w.take(), Err(NotText { rows_before: 2 }));
        assert!(w.is_empty());
        assert_eq!(w.len(), 0);
        w.push_field("c");
        w.end_row();
        assert_eq!(w.take().expect("text").data, "c\u{1f}\u{1e}");
    }

    /// Escaping bytes and escaping text write the same, escapes included.
    #[test]
    fn escaping_bytes_matches_escaping_text() {
        for value in [
            "",
            "plain",
            "a\u{0}b",
            "\u{1b}\u{1d}\u{1e}\u{1f}\u{1c}",
            "\u{e9}\u{1e}\u{20ac}",
        ] {
            let mut text = String::new();
            let mut bytes = Vec::new();
            let a = escape::escape_into(&mut text, value);
            let b = escape::escape_bytes_into(&mut bytes, value.as_bytes());
            assert_eq!((a, bytes.as_slice()), (b, text.as_bytes()), "{value:?}");
            assert_eq!(escape::unescape(&text).expect("escaped"), value);
        }
    }

    #[test]
    fn ascii_fields_are_escaped_like_text() {
        let mut w = BatchWriter::default();
        w.push_ascii_field(b"plain");
        w.end_row();
        let batch = w.take().expect("the rows are text");
        assert!(!batch.escaped);
        assert_eq!(batch.data, "plain\u{1f}\u{1e}");
        for value in ["a\u{1f}b", "\u{0}", "\u{1b}[", "x\u{1e}\u{1d}"] {
            let (mut ascii, mut text) = (BatchWriter::default(), BatchWriter::default());
            ascii.push_ascii_field(value.as_bytes());
            text.push_field(value);
            let (ascii, text) = (ascii.take().unwrap(), text.take().unwrap());
            assert_eq!(ascii, text);
            assert!(ascii.escaped);
        }
    }

    #[test]
    fn push_plain_with_writes_in_place_and_rolls_back() {
        let mut w = BatchWriter::default();
        w.push_plain_with(|out| {
            out.extend_from_slice(b"-12345");
            Ok::<(), ()>(())
        })
        .unwrap();
        assert!(w
            .push_plain_with(|out| {
                out.extend_from_slice(b"half");
                Err("bad value")
            })
            .is_err());
        w.push_null();
        w.end_row();
        let batch = w.take().expect("the rows are text");
        assert!(!batch.escaped);
        assert_eq!(batch.data, "-12345\u{1f}\u{0}\u{1f}\u{1e}");
        assert_eq!(
            parse_rows(&batch.data).unwrap(),
            vec![vec![Some("-12345".into()), None]]
        );
    }

    #[test]
    fn push_with_writes_in_place_escapes_and_rolls_back() {
        let mut w = BatchWriter::default();
        w.push_with(|out| {
            out.push_str("2024-01-02 03:04:05.000000+00:00");
            Ok::<(), ()>(())
        })
        .unwrap();
        assert!(w
            .push_with(|out| {
                out.push_str("half written");
                Err("bad value")
            })
            .is_err());
        let mut plain = w.take().expect("the rows are text");
        assert!(!plain.escaped);
        assert_eq!(plain.data, "2024-01-02 03:04:05.000000+00:00\u{1f}");
        w.push_with(|out| {
            out.push_str("a\u{1e}b\u{0}");
            Ok::<(), ()>(())
        })
        .unwrap();
        w.end_row();
        plain = w.take().expect("the rows are text");
        assert!(plain.escaped);
        let rows = parse_rows(&plain.data).unwrap();
        assert_eq!(rows[0][0].as_deref(), Some("a\u{1e}b\u{0}"));
    }

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
        let batch = w.take().expect("the rows are text");
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
        let batch = w.take().expect("the rows are text");
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

    #[test]
    fn errors_keep_their_messages() {
        assert_eq!(
            parse_rows("x\u{1f}").unwrap_err().to_string(),
            "a parameter row does not end with U+001E"
        );
        assert_eq!(
            parse_rows("x\u{1e}").unwrap_err().to_string(),
            "a parameter field does not end with U+001F"
        );
        assert_eq!(
            parse_rows("\u{1b}Z\u{1f}\u{1e}").unwrap_err().to_string(),
            "invalid escape sequence Some('Z') in a field"
        );
        assert_eq!(
            parse_rows("\u{1b}\u{1f}\u{1e}").unwrap_err().to_string(),
            "invalid escape sequence None in a field"
        );
    }

    /// Writes `rows` and reads them back through `split` with the batch's own flag.
    fn round_trip(rows: &[Vec<Option<&str>>]) -> RowBatch {
        let mut w = BatchWriter::default();
        for row in rows {
            for field in row {
                match field {
                    Some(value) => w.push_field(value),
                    None => w.push_null(),
                }
            }
            w.end_row();
        }
        let batch = w.take().expect("the rows are text");
        assert_eq!(batch.count as usize, rows.len());
        let back: Vec<Vec<Option<String>>> = split(&batch.data, batch.escaped)
            .map(|row| {
                row.unwrap()
                    .map(|f| f.unwrap().map(Cow::into_owned))
                    .collect()
            })
            .collect();
        let expected: Vec<Vec<Option<String>>> = rows
            .iter()
            .map(|row| row.iter().map(|f| f.map(str::to_owned)).collect())
            .collect();
        assert_eq!(back, expected);
        batch
    }

    #[test]
    fn escaping_round_trips_every_separator() {
        let specials = ["\u{0}", "\u{1b}", "\u{1e}", "\u{1f}"];
        for a in specials {
            for b in specials {
                let value = format!("{a}x{b}{a}{b}");
                let batch = round_trip(&[vec![Some(&value), Some(a), Some(b)]]);
                assert!(batch.escaped);
                // An escaped field never contains a raw separator.
                let row = batch.data.strip_suffix(ROW_END).unwrap();
                assert_eq!(row.matches(FIELD_END).count(), 3);
                assert!(!row.contains(NULL) && !row.contains(ROW_END));
            }
        }
        // An escape code character alone is not special.
        round_trip(&[vec![Some("@[^_"), Some("\u{1b}@")]]);
    }

    #[test]
    fn empty_fields_are_not_null() {
        let batch = round_trip(&[vec![Some(""), None, Some(""), None]]);
        assert!(!batch.escaped);
        assert_eq!(batch.data, "\u{1f}\u{0}\u{1f}\u{1f}\u{0}\u{1f}\u{1e}");
        // A NUL that is the value (not the NULL marker) is escaped, so it stays a value.
        let batch = round_trip(&[vec![Some("\u{0}"), None]]);
        assert!(batch.escaped);
        let rows = parse_rows(&batch.data).unwrap();
        assert_eq!(rows[0], vec![Some(Cow::Borrowed("\u{0}")), None]);
    }

    #[test]
    fn zero_column_rows() {
        let batch = round_trip(&[vec![], vec![], vec![]]);
        assert_eq!(batch.data, "\u{1e}\u{1e}\u{1e}");
        assert_eq!(split(&batch.data, false).count(), 3);
        assert!(split(&batch.data, false).all(|row| row.unwrap().next().is_none()));
        // Zero-column rows between ordinary ones.
        round_trip(&[vec![Some("a")], vec![], vec![None], vec![]]);
        // An empty batch has no rows at all.
        assert_eq!(split("", false).count(), 0);
        assert!(parse_rows("").unwrap().is_empty());
    }

    #[test]
    fn unescaped_batches_are_borrowed() {
        let batch = round_trip(&[vec![Some("one"), None, Some("two\u{1}")], vec![Some("é✓")]]);
        assert!(!batch.escaped);
        for row in split(&batch.data, false) {
            for field in row.unwrap() {
                if let Some(value) = field.unwrap() {
                    assert!(matches!(value, Cow::Borrowed(_)));
                }
            }
        }
        // With escaping, only the fields that held an escape are owned.
        let batch = round_trip(&[vec![Some("plain"), Some("a\u{1f}b")]]);
        let fields: Vec<_> = split(&batch.data, batch.escaped)
            .next()
            .unwrap()
            .unwrap()
            .map(|f| f.unwrap().unwrap())
            .collect();
        assert!(matches!(fields[0], Cow::Borrowed("plain")));
        assert!(matches!(&fields[1], Cow::Owned(s) if s == "a\u{1f}b"));
    }

    #[test]
    fn raw_fields_keep_their_escapes() {
        let mut w = BatchWriter::default();
        w.push_field("a\u{1e}");
        w.push_null();
        w.end_row();
        let batch = w.take().expect("the rows are text");
        let mut fields = split(&batch.data, batch.escaped).next().unwrap().unwrap();
        assert_eq!(fields.next_raw(), Some(Ok(Some("a\u{1b}^"))));
        assert_eq!(fields.next_raw(), Some(Ok(None)));
        assert_eq!(fields.next_raw(), None);
    }

    #[test]
    fn splitting_stops_after_an_error() {
        let mut rows = split("a\u{1f}\u{1e}tail", false);
        assert!(rows.next().unwrap().is_ok());
        assert_eq!(
            rows.next().unwrap().unwrap_err(),
            BatchError::UnterminatedRow
        );
        assert!(rows.next().is_none());

        let mut fields = split("\u{1b}Z\u{1f}ok\u{1f}\u{1e}", true)
            .next()
            .unwrap()
            .unwrap();
        assert_eq!(
            fields.next().unwrap().unwrap_err(),
            BatchError::InvalidEscape(Some('Z'))
        );
        assert!(fields.next().is_none());

        let mut fields = split("a\u{1f}b\u{1e}", false).next().unwrap().unwrap();
        assert_eq!(fields.next().unwrap().unwrap().as_deref(), Some("a"));
        assert_eq!(
            fields.next().unwrap().unwrap_err(),
            BatchError::UnterminatedField
        );
        assert!(fields.next().is_none());
    }
}
