//! Reading and writing the fields of one packed record: a tag character, then each field
//! preceded by U+001F, escaped (see [`crate::escape`]); a lone U+0000 is an absent field.

use std::borrow::Cow;
use std::str::FromStr;

use crate::escape::{self, NUL, US};
use crate::text::TextOut;
use crate::WireError;

/// An integer written in the layout's one spelling: decimal ASCII digits, a leading `-` when
/// negative. Written by hand: every step carries several numbers per column, and `core::fmt`
/// was a visible share of the guest's time per round trip.
pub trait Decimal: Copy {
    fn push_decimal(self, out: &mut impl TextOut);
}

/// `00` to `99`: two digits per lookup.
const DIGIT_PAIRS: &[u8; 200] = b"0001020304050607080910111213141516171819\
2021222324252627282930313233343536373839\
4041424344454647484950515253545556575859\
6061626364656667686970717273747576777879\
8081828384858687888990919293949596979899";

/// Writes the decimal ASCII digits of `value` at the end of `buf` and returns where they start
/// (u64's largest value has 20 digits). The one digit writer of the step encoder and the
/// guest's binary-value formatting.
pub fn decimal_digits(value: u64, buf: &mut [u8; 20]) -> usize {
    digits_ending_at(value, buf, 20)
}

/// Writes the digits of `value` so that they end just before `end` and returns where they
/// start. Invariant (every caller's): `buf[..end]` has room for them, 20 bytes for any `u64`.
fn digits_ending_at(value: u64, buf: &mut [u8], end: usize) -> usize {
    let mut start = end;
    let mut rest = value;
    while rest >= 100 {
        let at = (rest % 100) as usize * 2;
        rest /= 100;
        start -= 2;
        buf[start..start + 2].copy_from_slice(&DIGIT_PAIRS[at..at + 2]);
    }
    if rest >= 10 {
        let at = rest as usize * 2;
        start -= 2;
        buf[start..start + 2].copy_from_slice(&DIGIT_PAIRS[at..at + 2]);
    } else {
        start -= 1;
        buf[start] = b'0' + rest as u8;
    }
    start
}

/// [`decimal_digits`], zero-padded to at least `width` digits (`width` at most 20): returns where
/// the digits start in `buf`. The one padded writer of the guest's binary-value formatting and
/// the host's date/time parameters.
pub fn padded_digits(value: u64, width: usize, buf: &mut [u8; 20]) -> usize {
    buf.fill(b'0');
    decimal_digits(value, buf).min(buf.len().saturating_sub(width))
}

/// The number is assembled at the start of a fixed buffer, `-` first if negative, so that
/// [`TextOut::push_ascii_head`] can append it with a copy of fixed size.
fn push_digits(value: u64, negative: bool, out: &mut impl TextOut) {
    let mut buf = [b'-'; 21];
    let len = usize::from(negative) + value.checked_ilog10().map_or(1, |log| log as usize + 1);
    digits_ending_at(value, &mut buf, len);
    out.push_ascii_head(&buf, len);
}

macro_rules! unsigned_decimal {
    ($($t:ty),*) => {$(
        impl Decimal for $t {
            fn push_decimal(self, out: &mut impl TextOut) {
                push_digits(self as u64, false, out);
            }
        }
    )*};
}

macro_rules! signed_decimal {
    ($($t:ty),*) => {$(
        impl Decimal for $t {
            fn push_decimal(self, out: &mut impl TextOut) {
                let value = i64::from(self);
                push_digits(value.unsigned_abs(), value < 0, out);
            }
        }
    )*};
}

impl<T: Decimal> Decimal for &T {
    fn push_decimal(self, out: &mut impl TextOut) {
        (*self).push_decimal(out);
    }
}

unsigned_decimal!(u8, u16, u32, u64, usize);
signed_decimal!(i8, i16, i32, i64);

/// Appends fields to a record under construction, in a `String` or a byte buffer
/// ([`TextOut`]).
pub(crate) struct RecordWriter<'o, O: TextOut = String> {
    out: &'o mut O,
}

impl<'o, O: TextOut> RecordWriter<'o, O> {
    pub(crate) fn new(out: &'o mut O, tag: char) -> Self {
        out.push_char(tag);
        RecordWriter { out }
    }

    pub(crate) fn text(&mut self, value: &str) -> &mut Self {
        self.out.push_char(US);
        escape::escape_into(self.out, value);
        self
    }

    pub(crate) fn opt(&mut self, value: Option<&str>) -> &mut Self {
        match value {
            Some(v) => self.text(v),
            None => {
                self.out.push_char(US);
                self.out.push_char(NUL);
                self
            }
        }
    }

    pub(crate) fn num(&mut self, value: impl Decimal) -> &mut Self {
        self.out.push_char(US);
        value.push_decimal(self.out);
        self
    }

    pub(crate) fn opt_num<T: Decimal>(&mut self, value: Option<T>) -> &mut Self {
        match value {
            Some(v) => self.num(v),
            None => self.opt(None),
        }
    }

    pub(crate) fn flag(&mut self, value: bool) -> &mut Self {
        self.out.push_char(US);
        self.out.push_char(if value { '1' } else { '0' });
        self
    }
}

/// Where `stop` first occurs in `bytes` (if it does), and how many times `count` occurs before
/// that: eight bytes at a time (a step's records run to a few hundred bytes, where a byte loop
/// costs about four instructions a byte).
pub(crate) fn find_counting(bytes: &[u8], stop: u8, count: u8) -> (Option<usize>, usize) {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    // 0x80 in exactly the bytes of `v` that are zero (no carries between bytes, so no false
    // positives, unlike the shorter `(v - ONES) & !v & HIGH`).
    let zeros = |v: u64| !(((v & LOW7).wrapping_add(LOW7)) | v | LOW7);
    let (stop_word, count_word) = (ONES * u64::from(stop), ONES * u64::from(count));
    let mut seen = 0usize;
    let mut i = 0usize;
    while let Some(word) = bytes
        .get(i..i + 8)
        .and_then(|w| <[u8; 8]>::try_from(w).ok())
    {
        // Little-endian: the first byte is the lowest, so `trailing_zeros` finds the first.
        let v = u64::from_le_bytes(word);
        let stops = zeros(v ^ stop_word);
        let counted = zeros(v ^ count_word);
        if stops != 0 {
            let at = (stops.trailing_zeros() / 8) as usize;
            // The counted bytes before `at` (`at` < 8, so the shift is in range).
            let before = counted & ((1u64 << (at * 8)) - 1);
            return (Some(i + at), seen + before.count_ones() as usize);
        }
        seen += counted.count_ones() as usize;
        i += 8;
    }
    for (j, &b) in bytes.iter().enumerate().skip(i) {
        if b == stop {
            return (Some(j), seen);
        }
        seen += usize::from(b == count);
    }
    (None, seen)
}

/// `str::split` at an ASCII separator, by a plain byte scan: records and their fields are a few
/// bytes long, where `str::split`'s searcher costs more to set up than the scan (this runs for
/// every record of every call, on both sides of the crossing).
#[derive(Debug, Clone)]
pub(crate) struct Pieces<'a> {
    rest: Option<&'a str>,
    separator: u8,
}

impl<'a> Pieces<'a> {
    /// Splits `text` at `separator`, which must be ASCII (so every split is a char boundary).
    pub(crate) fn new(text: &'a str, separator: char) -> Self {
        debug_assert!(separator.is_ascii());
        Pieces {
            rest: Some(text),
            separator: separator as u8,
        }
    }
}

impl<'a> Iterator for Pieces<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let rest = self.rest?;
        match rest.bytes().position(|b| b == self.separator) {
            Some(at) => {
                self.rest = Some(&rest[at + 1..]);
                Some(&rest[..at])
            }
            None => {
                self.rest = None;
                Some(rest)
            }
        }
    }
}

/// Reads the fields of one record in order.
pub(crate) struct FieldReader<'a> {
    tag: char,
    rest: Pieces<'a>,
}

impl<'a> FieldReader<'a> {
    /// Splits `record` into its tag and fields. An empty record is an error.
    pub(crate) fn new(record: &'a str) -> Result<Self, WireError> {
        let mut chars = record.chars();
        let tag = chars
            .next()
            .ok_or_else(|| WireError::new("an empty record"))?;
        let body = chars.as_str();
        let mut rest = Pieces::new(body, US);
        if !body.is_empty() {
            // A record's fields each start with U+001F, so the text before the first is empty.
            if rest.next() != Some("") {
                return Err(WireError::new(format!(
                    "record {tag:?}: text between the tag and the first field"
                )));
            }
        } else {
            rest.next(); // the single empty piece of an empty body
        }
        Ok(FieldReader { tag, rest })
    }

    pub(crate) fn tag(&self) -> char {
        self.tag
    }

    /// Whether another field follows (for optional trailing fields).
    pub(crate) fn has_more(&self) -> bool {
        self.rest.clone().next().is_some()
    }

    fn raw(&mut self, what: &str) -> Result<&'a str, WireError> {
        self.rest
            .next()
            .ok_or_else(|| WireError::new(format!("record {:?}: missing field {what}", self.tag)))
    }

    pub(crate) fn opt(&mut self, what: &str) -> Result<Option<Cow<'a, str>>, WireError> {
        Ok(escape::field(self.raw(what)?)?)
    }

    pub(crate) fn text(&mut self, what: &str) -> Result<Cow<'a, str>, WireError> {
        self.opt(what)?
            .ok_or_else(|| WireError::new(format!("record {:?}: {what} is absent", self.tag)))
    }

    pub(crate) fn num<T: FromStr>(&mut self, what: &str) -> Result<T, WireError> {
        let raw = self.raw(what)?;
        parse_number(raw).ok_or_else(|| {
            WireError::new(format!(
                "record {:?}: {what} is not a number: {raw:?}",
                self.tag
            ))
        })
    }

    pub(crate) fn opt_num<T: FromStr>(&mut self, what: &str) -> Result<Option<T>, WireError> {
        match self.raw(what)? {
            "\0" => Ok(None),
            raw => parse_number(raw).map(Some).ok_or_else(|| {
                WireError::new(format!(
                    "record {:?}: {what} is not a number: {raw:?}",
                    self.tag
                ))
            }),
        }
    }

    pub(crate) fn flag(&mut self, what: &str) -> Result<bool, WireError> {
        match self.raw(what)? {
            "0" => Ok(false),
            "1" => Ok(true),
            raw => Err(WireError::new(format!(
                "record {:?}: {what} is not 0 or 1: {raw:?}",
                self.tag
            ))),
        }
    }

    /// A count of following items, bounded by what the record can still hold (so a hostile
    /// count never drives a large allocation).
    pub(crate) fn count(&mut self, what: &str, per_item: usize) -> Result<usize, WireError> {
        let n: usize = self.num(what)?;
        let left = self.rest.clone().count();
        if n.saturating_mul(per_item.max(1)) > left {
            return Err(WireError::new(format!(
                "record {:?}: {what} = {n}, but only {left} fields follow",
                self.tag
            )));
        }
        Ok(n)
    }

    /// The remaining fields, each unescaped (used for open-ended lists).
    pub(crate) fn remaining(&mut self) -> impl Iterator<Item = &'a str> + '_ {
        &mut self.rest
    }

    /// Fails if fields are left over: a record carries exactly what its tag defines.
    pub(crate) fn end(mut self) -> Result<(), WireError> {
        match self.rest.next() {
            None => Ok(()),
            Some(_) => Err(WireError::new(format!(
                "record {:?}: more fields than its tag defines",
                self.tag
            ))),
        }
    }
}

/// A number as the layout writes it: ASCII digits, an optional leading `-`, no leading zeros,
/// no `+` (so every number has exactly one spelling, and every host's parser agrees on it).
pub(crate) fn parse_number<T: FromStr>(raw: &str) -> Option<T> {
    let digits = raw.strip_prefix('-').unwrap_or(raw);
    let canonical = !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && (digits == "0" || !digits.starts_with('0'))
        && !(digits == "0" && raw.starts_with('-'));
    if canonical {
        raw.parse().ok()
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::find_counting;

    #[test]
    fn find_counting_matches_a_byte_loop() {
        // Every length up to three words, the stop and the counted byte at every place (and
        // absent), among bytes next to them in value and high bytes that could carry.
        let naive = |b: &[u8], stop: u8, count: u8| {
            let end = b.iter().position(|&x| x == stop);
            let n = b[..end.unwrap_or(b.len())]
                .iter()
                .filter(|&&x| x == count)
                .count();
            (end, n)
        };
        let fill = [0x1c, 0x1f, 0x00, 0xff, 0x80, 0x9e, 0x9d, b'a', 0x3d, 0x1e];
        for len in 0..=24usize {
            for stop_at in 0..=len {
                for count_every in 1..=4usize {
                    let mut b: Vec<u8> = (0..len)
                        .map(|k| match k % count_every {
                            0 => 0x1e,
                            _ => fill[(k * 7 + len) % fill.len()],
                        })
                        .collect();
                    if stop_at < len {
                        b[stop_at] = 0x1d;
                    }
                    assert_eq!(
                        find_counting(&b, 0x1d, 0x1e),
                        naive(&b, 0x1d, 0x1e),
                        "{b:x?}"
                    );
                }
            }
        }
        // A stop before and after counted bytes in one word; two stops (the first counts).
        let b = b"\x1e\x1e\x1dx\x1e\x1d\x1e\x1e\x1e";
        assert_eq!(find_counting(b, 0x1d, 0x1e), (Some(2), 2));
        assert_eq!(find_counting(b"", 0x1d, 0x1e), (None, 0));
    }

    use super::*;

    /// Zero-padded to the width asked for, never cut below the number's own digits.
    #[test]
    fn padded_digits_pad_and_never_cut() {
        let text = |value: u64, width: usize| {
            let mut buf = [0; 20];
            let start = padded_digits(value, width, &mut buf);
            String::from_utf8(buf[start..].to_vec()).unwrap()
        };
        assert_eq!(text(0, 0), "0");
        assert_eq!(text(7, 2), "07");
        assert_eq!(text(123, 6), "000123");
        assert_eq!(text(262_144, 4), "262144");
        assert_eq!(text(5, 20), "00000000000000000005");
        assert_eq!(text(u64::MAX, 4), u64::MAX.to_string());
    }

    /// `Pieces` splits exactly as `str::split` does, empty pieces and non-ASCII text included.
    #[test]
    fn pieces_split_as_str_split() {
        for text in [
            "",
            "a",
            "\u{1f}",
            "a\u{1f}",
            "\u{1f}b",
            "a\u{1f}\u{1f}b\u{1f}",
            "é\u{1f}ü\u{1e}",
        ] {
            for sep in [US, '\u{1e}'] {
                let ours: Vec<&str> = Pieces::new(text, sep).collect();
                let std: Vec<&str> = text.split(sep).collect();
                assert_eq!(ours, std, "{text:?} at {sep:?}");
            }
        }
    }

    #[test]
    fn decimal_digits_of_every_width() {
        let mut values = vec![0, u64::MAX];
        for power in 1..=19u32 {
            let p = 10u64.pow(power);
            values.extend([p - 1, p, p + 1]);
        }
        for value in values {
            let mut buf = [0u8; 20];
            let start = decimal_digits(value, &mut buf);
            assert_eq!(
                std::str::from_utf8(&buf[start..]),
                Ok(value.to_string().as_str())
            );
        }
        let mut out = String::new();
        i64::MIN.push_decimal(&mut out);
        out.push(' ');
        u64::MAX.push_decimal(&mut out);
        assert_eq!(out, "-9223372036854775808 18446744073709551615");
    }

    /// A byte buffer gets the same text as a `String`, at every width and sign (its numbers
    /// are appended as a fixed-size head, then cut to length).
    #[test]
    fn a_byte_buffer_gets_the_same_decimals() {
        let mut values = vec![0i64, 1, -1, i64::MIN, i64::MAX];
        for power in 1..=18u32 {
            let p = 10i64.pow(power);
            values.extend([p - 1, p, p + 1, -p + 1, -p, -p - 1]);
        }
        for value in values {
            let mut text = String::from("<");
            let mut bytes = b"<".to_vec();
            value.push_decimal(&mut text);
            value.push_decimal(&mut bytes);
            text.push('>');
            bytes.push(b'>');
            assert_eq!(text, format!("<{value}>"));
            assert_eq!(bytes, text.as_bytes(), "{value}");
        }
        let mut bytes = Vec::new();
        u64::MAX.push_decimal(&mut bytes);
        assert_eq!(bytes, b"18446744073709551615");
    }

    #[test]
    fn decimals_are_written_in_their_one_spelling() {
        let check = |f: &dyn Fn(&mut String), want: &str| {
            let mut out = String::from("x");
            f(&mut out);
            assert_eq!(out, format!("x{want}"));
        };
        check(&|o| 0u32.push_decimal(o), "0");
        check(&|o| 7u8.push_decimal(o), "7");
        check(&|o| u64::MAX.push_decimal(o), "18446744073709551615");
        check(&|o| i64::MIN.push_decimal(o), "-9223372036854775808");
        check(&|o| (-1i16).push_decimal(o), "-1");
        check(&|o| i32::MIN.push_decimal(o), "-2147483648");
        check(&|o| 10usize.push_decimal(o), "10");
        check(&|o| (&65535u16).push_decimal(o), "65535");
        for v in [-1000i64, -999, -10, -9, 0, 9, 10, 99, 100, 12345678901] {
            check(&|o| v.push_decimal(o), &v.to_string());
        }
    }
}
