//! Field escaping shared by every packed layout: the five characters that structure a packed
//! string (U+0000 NULL marker, U+001B escape, U+001D group, U+001E record, U+001F unit
//! separator) are written inside a value as U+001B followed by the character 0x40 above them
//! (`@`, `[`, `]`, `^`, `_`). Everything else is written as is, so text without control
//! characters is copied unchanged and hosts skip unescaping when no U+001B is present.

use std::borrow::Cow;

use crate::text::TextOut;

/// An escape sequence that is not one of the five: the character after U+001B (`None` at the
/// field's end).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidEscape(pub Option<char>);

/// Marks a NULL (absent) field when it is the whole field.
pub const NUL: char = '\u{0}';
/// Starts an escape sequence.
pub const ESC: char = '\u{1b}';
/// Separates the parts of a request, and a step's metadata from its row batches.
pub const GS: char = '\u{1d}';
/// Ends a row (row batches) or separates records (a step's metadata).
pub const RS: char = '\u{1e}';
/// Ends a field (row batches) or starts one (a record's fields).
pub const US: char = '\u{1f}';

/// Whether the byte must be escaped inside a field. The five are ASCII, so scanning the bytes of
/// UTF-8 text never splits a character.
#[inline]
pub fn is_special(b: u8) -> bool {
    matches!(b, 0x00 | 0x1b | 0x1d | 0x1e | 0x1f)
}

/// Whether any byte of `bytes` must be escaped. This scan runs over every field of every row and
/// every byte of COPY data the guest delivers, so it tests eight bytes at a time: a word none of
/// whose bytes is 0x00 or in 0x1B-0x1F holds none of the five, and only a word that has one
/// (0x1C, the one byte of that range that is not special, too) is looked at byte by byte. Tabs
/// and newlines, in every line of COPY's text format, pass at word speed.
#[inline]
pub fn needs_escape(bytes: &[u8]) -> bool {
    const LOW7: u64 = 0x7F7F_7F7F_7F7F_7F7F;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    const ONES: u64 = 0x0101_0101_0101_0101;
    let mut words = bytes.chunks_exact(8);
    for word in &mut words {
        let mut le = [0u8; 8];
        le.copy_from_slice(word);
        let x = u64::from_le_bytes(le);
        // Per byte, on its low seven bits (the sums stay below 0x100, so nothing carries into
        // the next byte): the high bit of low + 0x65 says byte >= 0x1B, of low + 0x60 that
        // byte >= 0x20, of low + 0x7F that byte != 0; !x keeps the bytes below 0x80.
        let low = x & LOW7;
        let from_1b = low.wrapping_add(ONES * 0x65);
        let from_20 = low.wrapping_add(ONES * 0x60);
        let nonzero = low.wrapping_add(LOW7);
        let candidates = ((from_1b & !from_20) | !nonzero) & !x & HIGH;
        if candidates != 0 && word.iter().any(|&b| is_special(b)) {
            return true;
        }
    }
    words.remainder().iter().any(|&b| is_special(b))
}

/// Appends `value` to `out`, escaped; returns whether any escape was written.
pub fn escape_into(out: &mut impl TextOut, value: &str) -> bool {
    if !needs_escape(value.as_bytes()) {
        out.push_str(value);
        return false;
    }
    let mut run_start = 0;
    for (i, &b) in value.as_bytes().iter().enumerate() {
        if is_special(b) {
            // `i` is the index of an ASCII byte, hence a character boundary.
            out.push_str(value.get(run_start..i).unwrap_or_default());
            push_escape(out, b);
            run_start = i + 1;
        }
    }
    out.push_str(value.get(run_start..).unwrap_or_default());
    true
}

/// [`escape_into`] for text held as bytes (a row batch being written): the five are ASCII, so
/// escaping never splits a character of UTF-8 bytes.
pub fn escape_bytes_into(out: &mut Vec<u8>, value: &[u8]) -> bool {
    let mut escaped = false;
    for &b in value {
        if is_special(b) {
            push_escape(out, b);
            escaped = true;
        } else {
            out.push(b);
        }
    }
    escaped
}

/// Appends `bytes` to `out` as latin-1 characters (each byte the character of the same code
/// point), escaped; returns whether any escape was written.
pub fn escape_latin1_into(out: &mut String, bytes: &[u8]) -> bool {
    out.reserve(bytes.len());
    let mut escaped = false;
    for &b in bytes {
        if is_special(b) {
            push_escape(out, b);
            escaped = true;
        } else {
            out.push(char::from(b));
        }
    }
    escaped
}

/// The bytes whose latin-1 characters `text` holds (each character the byte of the same code
/// point): borrowed when all are ASCII (the usual case for protocol messages), else decoded
/// from the UTF-8 two-byte forms of U+0080-U+00FF. `Err`: the first character above U+00FF.
pub fn latin1_bytes(text: &str) -> Result<Cow<'_, [u8]>, char> {
    latin1_take(text, usize::MAX).map(|(bytes, _)| bytes)
}

/// The bytes of the first `n` latin-1 characters of `text` (fewer if it ends first), as
/// [`latin1_bytes`], and the text after them.
pub fn latin1_take(text: &str, n: usize) -> Result<(Cow<'_, [u8]>, &str), char> {
    let utf8 = text.as_bytes();
    let head = utf8.get(..n).unwrap_or(utf8);
    if head.is_ascii() {
        return Ok((Cow::Borrowed(head), text.get(head.len()..).unwrap_or("")));
    }
    // A byte scan, no `char` decoding, eight ASCII bytes at a time where it can: protocol
    // messages are mostly ASCII with a few high bytes (a type modifier of -1, binary values).
    let mut bytes = Vec::with_capacity(head.len());
    let mut i = 0;
    while bytes.len() < n {
        if n - bytes.len() >= 8 {
            if let Some(word) = utf8.get(i..i + 8).and_then(|w| <[u8; 8]>::try_from(w).ok()) {
                if u64::from_ne_bytes(word) & 0x8080_8080_8080_8080 == 0 {
                    bytes.extend_from_slice(&word);
                    i += 8;
                    continue;
                }
            }
        }
        let Some(&b) = utf8.get(i) else { break };
        if b < 0x80 {
            bytes.push(b);
            i += 1;
            continue;
        }
        // `text` is valid UTF-8: a lead byte C2 or C3 is followed by one continuation byte and
        // encodes U+0080-U+00FF; any other lead byte starts a character above U+00FF.
        match (b, utf8.get(i + 1)) {
            (0xC2 | 0xC3, Some(&next)) => {
                bytes.push(((b & 0x03) << 6) | (next & 0x3F));
                i += 2;
            }
            _ => {
                let c = text.get(i..).and_then(|r| r.chars().next());
                return Err(c.unwrap_or(char::REPLACEMENT_CHARACTER));
            }
        }
    }
    // Invariant: `i` is past whole characters, so a boundary (else the rest is empty).
    Ok((Cow::Owned(bytes), text.get(i..).unwrap_or("")))
}

/// The escape of one of the five special bytes.
fn push_escape(out: &mut impl TextOut, b: u8) {
    out.push_char(ESC);
    // Invariant: b is one of 0x00, 0x1b, 0x1d, 0x1e, 0x1f (the caller checked), so b + 0x40 is
    // ASCII.
    out.push_char(char::from(b + 0x40));
}

/// Reverses [`escape_into`]. Borrows when the field holds no escape.
pub fn unescape(field: &str) -> Result<Cow<'_, str>, InvalidEscape> {
    if !field.contains(ESC) {
        return Ok(Cow::Borrowed(field));
    }
    let mut out = String::with_capacity(field.len());
    let mut chars = field.chars();
    while let Some(c) = chars.next() {
        if c != ESC {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('@') => out.push(NUL),
            Some('[') => out.push(ESC),
            Some(']') => out.push(GS),
            Some('^') => out.push(RS),
            Some('_') => out.push(US),
            other => return Err(InvalidEscape(other)),
        }
    }
    Ok(Cow::Owned(out))
}

/// A field as read: `None` for the lone NULL marker, else the unescaped text.
pub fn field(raw: &str) -> Result<Option<Cow<'_, str>>, InvalidEscape> {
    if raw == "\0" {
        Ok(None)
    } else {
        unescape(raw).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Byte strings of every length up to 40 with high bytes at random places (a fixed LCG),
    /// so the eight-byte fast path meets them in every position of a word.
    fn latin1_samples() -> Vec<Vec<u8>> {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut out = Vec::new();
        for len in 0..=40 {
            for _ in 0..8 {
                let v = (0..len)
                    .map(|_| {
                        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                        let r = (seed >> 33) as u8;
                        if r.is_multiple_of(5) {
                            r | 0x80
                        } else {
                            r & 0x7f
                        }
                    })
                    .collect();
                out.push(v);
            }
        }
        out
    }

    #[test]
    fn latin1_take_matches_a_char_by_char_decoding() {
        for bytes in latin1_samples() {
            let text: String = bytes.iter().map(|&b| char::from(b)).collect();
            assert_eq!(latin1_bytes(&text).unwrap().as_ref(), &bytes[..]);
            for n in 0..=bytes.len() + 2 {
                let (got, rest) = latin1_take(&text, n).unwrap();
                let k = n.min(bytes.len());
                assert_eq!(got.as_ref(), &bytes[..k], "{bytes:?} n={n}");
                let want: String = bytes[k..].iter().map(|&b| char::from(b)).collect();
                assert_eq!(rest, want, "{bytes:?} n={n}");
            }
            // A character above U+00FF anywhere is the error, whatever comes before it.
            for at in 0..=bytes.len() {
                let mut chars: Vec<char> = bytes.iter().map(|&b| char::from(b)).collect();
                chars.insert(at, '\u{20ac}');
                let bad: String = chars.into_iter().collect();
                assert_eq!(latin1_bytes(&bad), Err('\u{20ac}'), "{bytes:?} at={at}");
                assert_eq!(latin1_take(&bad, at + 1).map(|_| ()), Err('\u{20ac}'));
                assert!(latin1_take(&bad, at).is_ok(), "{bytes:?} at={at}");
            }
        }
    }

    #[test]
    fn round_trips_every_special_character() {
        let value = "a\u{0}b\u{1b}c\u{1d}d\u{1e}e\u{1f}f é";
        let mut out = String::new();
        assert!(escape_into(&mut out, value));
        assert!(!out.bytes().any(|b| matches!(b, 0x00 | 0x1d | 0x1e | 0x1f)));
        assert_eq!(unescape(&out).unwrap(), value);
    }

    #[test]
    fn bytes_go_as_latin1_characters_with_the_same_escapes() {
        let mut out = String::new();
        assert!(escape_latin1_into(
            &mut out,
            b"a\x00\xff\x1b\x1c\x1d\x1e\x1f\n"
        ));
        assert_eq!(out, "a\x1b@\u{ff}\x1b[\x1c\x1b]\x1b^\x1b_\n");
        assert_eq!(unescape(&out).unwrap(), "a\0\u{ff}\x1b\x1c\x1d\x1e\x1f\n");
        let mut plain = String::new();
        assert!(!escape_latin1_into(&mut plain, b"PGCOPY\n\xff\r\n"));
        assert_eq!(plain, "PGCOPY\n\u{ff}\r\n");
    }

    #[test]
    fn plain_text_is_borrowed_and_unchanged() {
        let mut out = String::new();
        assert!(!escape_into(&mut out, "plain ✓"));
        assert_eq!(out, "plain ✓");
        assert!(matches!(unescape(&out).unwrap(), Cow::Borrowed(_)));
    }

    /// The word-at-a-time scan agrees with the byte-by-byte definition for every byte value at
    /// every position of inputs from 0 to 20 bytes long.
    #[test]
    fn needs_escape_matches_the_definition() {
        for len in 0..=20usize {
            for pos in 0..len.max(1) {
                for b in 0..=255u8 {
                    let mut bytes = vec![b'a'; len];
                    if len > 0 {
                        bytes[pos] = b;
                    }
                    let want = bytes.iter().any(|&c| is_special(c));
                    assert_eq!(needs_escape(&bytes), want, "{bytes:?}");
                    // Neighbours with the high bit set, just above 0x20, tabs, newlines and the
                    // non-special bytes next to the range change nothing.
                    for filler in [0x80u8, 0xff, 0x20, 0x9f, 0xa0, 0x09, 0x0a, 0x1c, 0x1a, 0x7f] {
                        let mut other = vec![filler; len];
                        if len > 0 {
                            other[pos] = b;
                        }
                        let want = other.iter().any(|&c| is_special(c));
                        assert_eq!(needs_escape(&other), want, "{other:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn bad_escapes_are_errors() {
        assert!(unescape("a\u{1b}").is_err());
        assert!(unescape("a\u{1b}x").is_err());
    }

    #[test]
    fn null_marker() {
        assert_eq!(field("\0").unwrap(), None);
        assert_eq!(field("").unwrap().as_deref(), Some(""));
        assert_eq!(field("\u{1b}@").unwrap().as_deref(), Some("\0"));
    }
}
