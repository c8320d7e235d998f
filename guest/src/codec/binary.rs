//! Server binary output to canonical text, for the fixed-width types whose binary form is
//! cheaper than text for both sides: the server sends the stored value without formatting it
//! (a timestamptz's text output is most of the server's work on a wide fetch), and the guest
//! formats digits instead of parsing and reformatting text.
//!
//! The output is byte for byte the canonical form the text decoders produce for the same value
//! (`tests/tests/binary_results.rs` compares both on a real server over every type's range ends).
//! Which columns are asked for in binary, and when, is the session's choice
//! ([`super::Decoder::binary_for`]); nothing here depends on a session setting, which is why
//! timestamptz is only read in binary when the session's TimeZone is UTC (the caller's check):
//! its binary form is an instant, its text carries the session's offset.

use wasmpg_wire::{padded_digits, Decimal};

use super::CodecError;
use wasmpg_wire::TextOut;

/// A type read from its binary form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Binary {
    Bool,
    Int2,
    Int4,
    Int8,
    Oid,
    Date,
    Time,
    Timestamp,
    /// A timestamptz printed at offset `+00:00`: only for sessions whose TimeZone is UTC.
    TimestampUtc,
    /// `infinities`: the server has infinite intervals (PostgreSQL 17), stored as every field at
    /// its maximum or minimum; before 17 those are finite values.
    Interval {
        infinities: bool,
    },
    Bytea,
}

/// Microseconds in a day.
const DAY_MICROS: i64 = 86_400_000_000;
/// Days from 1970-01-01 (the civil-date arithmetic's origin) to 2000-01-01 (PostgreSQL's).
const DAYS_1970_TO_2000: i64 = 10_957;

impl Binary {
    /// Appends the canonical text of the binary value `raw`.
    pub(super) fn decode(self, raw: &[u8], out: &mut Vec<u8>) -> Result<(), CodecError> {
        let ok = match self {
            Self::Bool => match raw {
                [0] => Some(b'f'),
                [1] => Some(b't'),
                _ => None,
            }
            .map(|c| out.push(c)),
            Self::Int2 => fixed::<2>(raw).map(|b| i16::from_be_bytes(b).push_decimal(out)),
            Self::Int4 => fixed::<4>(raw).map(|b| i32::from_be_bytes(b).push_decimal(out)),
            Self::Int8 => fixed::<8>(raw).map(|b| i64::from_be_bytes(b).push_decimal(out)),
            Self::Oid => fixed::<4>(raw).map(|b| u32::from_be_bytes(b).push_decimal(out)),
            Self::Date => fixed::<4>(raw).map(|b| push_date(i32::from_be_bytes(b), out)),
            Self::Time => fixed::<8>(raw).and_then(|b| push_time(i64::from_be_bytes(b), out)),
            Self::Timestamp => {
                fixed::<8>(raw).map(|b| push_timestamp(i64::from_be_bytes(b), false, out))
            }
            Self::TimestampUtc => {
                fixed::<8>(raw).map(|b| push_timestamp(i64::from_be_bytes(b), true, out))
            }
            Self::Interval { infinities } => {
                fixed::<16>(raw).map(|b| push_interval(b, infinities, out))
            }
            Self::Bytea => {
                push_latin1(raw, out);
                Some(())
            }
        };
        ok.ok_or_else(|| {
            CodecError::new(format!(
                "invalid binary {} value ({} bytes)",
                self.name(),
                raw.len()
            ))
        })
    }

    /// Whether [`Binary::decode`] writes only characters a row batch never escapes (see
    /// `Decoder::writes_plain`): every kind but bytea.
    pub(super) fn writes_plain(self) -> bool {
        !matches!(self, Self::Bytea)
    }

    fn name(self) -> &'static str {
        match self {
            Self::Bool => "bool",
            Self::Int2 => "int2",
            Self::Int4 => "int4",
            Self::Int8 => "int8",
            Self::Oid => "oid",
            Self::Date => "date",
            Self::Time => "time",
            Self::Timestamp => "timestamp",
            Self::TimestampUtc => "timestamptz",
            Self::Interval { .. } => "interval",
            Self::Bytea => "bytea",
        }
    }
}

/// `raw` as an array of exactly `N` bytes.
fn fixed<const N: usize>(raw: &[u8]) -> Option<[u8; N]> {
    raw.try_into().ok()
}

/// A small ASCII buffer: the text of one value is assembled here and appended once.
struct Ascii<const N: usize> {
    bytes: [u8; N],
    len: usize,
}

impl<const N: usize> Ascii<N> {
    fn new() -> Self {
        Self {
            bytes: [0; N],
            len: 0,
        }
    }

    /// Appends `bytes` (ASCII by every caller's construction); beyond the capacity they are
    /// dropped, which no caller reaches (each sizes `N` for its longest value).
    fn put(&mut self, bytes: &[u8]) {
        if let Some(slot) = self.bytes.get_mut(self.len..self.len + bytes.len()) {
            slot.copy_from_slice(bytes);
            self.len += bytes.len();
        }
    }

    /// `value` (below 100) as two digits.
    fn two(&mut self, value: u32) {
        self.put(&[b'0' + (value / 10 % 10) as u8, b'0' + (value % 10) as u8]);
    }

    /// `value` in decimal, at least `width` digits (zero-padded, `width` at most 20).
    fn number(&mut self, value: u64, width: usize) {
        let mut digits = [0; 20];
        let start = padded_digits(value, width, &mut digits);
        self.put(&digits[start..]);
    }

    fn append_to(&self, out: &mut Vec<u8>) {
        // Every byte put is ASCII.
        out.push_ascii_head(&self.bytes, self.len);
    }
}

/// `date`: days from 2000-01-01; the extreme values are the infinities.
fn push_date(days: i32, out: &mut Vec<u8>) {
    match days {
        i32::MAX => out.push_str("infinity"),
        i32::MIN => out.push_str("-infinity"),
        _ => {
            let mut text = Ascii::<32>::new();
            let bc = civil_date(days.into(), &mut text);
            if bc {
                text.put(b" BC");
            }
            text.append_to(out);
        }
    }
}

/// `time`: microseconds from midnight, 24:00:00 included.
fn push_time(micros: i64, out: &mut Vec<u8>) -> Option<()> {
    if !(0..=DAY_MICROS).contains(&micros) {
        return None;
    }
    let mut text = Ascii::<16>::new();
    time_of_day(micros, &mut text);
    text.append_to(out);
    Some(())
}

/// `timestamp` and `timestamptz`: microseconds from 2000-01-01 00:00:00 (UTC for timestamptz),
/// printed with `+00:00` after the time when `utc`; the extreme values are the infinities.
fn push_timestamp(micros: i64, utc: bool, out: &mut Vec<u8>) {
    match micros {
        i64::MAX => out.push_str("infinity"),
        i64::MIN => out.push_str("-infinity"),
        _ => {
            let days = micros.div_euclid(DAY_MICROS);
            let (year, month, day) = civil(days);
            if let Ok(year @ 1_000..=9_999) = u32::try_from(year) {
                push_common_timestamp(
                    [year / 100, year % 100, month, day],
                    micros.rem_euclid(DAY_MICROS),
                    utc,
                    out,
                );
                return;
            }
            push_any_timestamp(micros, utc, out);
        }
    }
}

/// Any finite timestamp, BC and years beyond 9999 included, written field by field.
fn push_any_timestamp(micros: i64, utc: bool, out: &mut Vec<u8>) {
    let mut text = Ascii::<48>::new();
    let bc = civil_date(micros.div_euclid(DAY_MICROS), &mut text);
    text.put(b" ");
    time_of_day(micros.rem_euclid(DAY_MICROS), &mut text);
    if utc {
        text.put(b"+00:00");
    }
    if bc {
        text.put(b" BC");
    }
    text.append_to(out);
}

/// A timestamp of the years 1000 to 9999 AD (nearly every one stored): every character has a
/// fixed place, so it is written into a template by position, then appended with one copy of
/// fixed size. `date` holds the century, the year within it, the month and the day; `micros`
/// is within the day. The same text as the general writer (`push_any_timestamp`), which a test
/// compares.
fn push_common_timestamp(date: [u32; 4], micros: i64, utc: bool, out: &mut Vec<u8>) {
    let mut text = *b"0000-00-00 00:00:00.000000+00:00";
    let seconds = (micros / 1_000_000) as u32;
    let fraction = (micros % 1_000_000) as u32;
    let fields = [
        (0, date[0]),
        (2, date[1]),
        (5, date[2]),
        (8, date[3]),
        (11, seconds / 3_600),
        (14, seconds / 60 % 60),
        (17, seconds % 60),
        (20, fraction / 10_000),
        (22, fraction / 100 % 100),
        (24, fraction % 100),
    ];
    for (at, value) in fields {
        text[at] = b'0' + (value / 10 % 10) as u8;
        text[at + 1] = b'0' + (value % 10) as u8;
    }
    let mut len = if fraction == 0 { 19 } else { 26 };
    if utc {
        text[len..len + 6].copy_from_slice(b"+00:00");
        len += 6;
    }
    out.push_ascii_head(&text, len);
}

/// Writes `YYYY-MM-DD` (the year at least four digits, counted as the era does) of the day
/// `days` after 2000-01-01 in the proleptic Gregorian calendar, as PostgreSQL does; returns
/// whether the date is BC.
///
/// The day-to-date conversion is the standard era arithmetic (400-year eras of 146,097 days,
/// years starting on March 1st so that the leap day comes last).
fn civil_date<const N: usize>(days: i64, text: &mut Ascii<N>) -> bool {
    let (year, month, day) = civil(days);
    // Year 0 is 1 BC.
    let bc = year <= 0;
    let shown = if bc { 1 - year } else { year };
    if (1_000..=9_999).contains(&shown) {
        let shown = shown as u32;
        text.two(shown / 100);
        text.two(shown % 100);
    } else {
        text.number(shown.unsigned_abs(), 4);
    }
    text.put(b"-");
    text.two(month);
    text.put(b"-");
    text.two(day);
    bc
}

/// The proleptic Gregorian year (0 is 1 BC), month and day of the day `days` after 2000-01-01.
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + DAYS_1970_TO_2000 + 719_468;
    let era = z.div_euclid(146_097);
    // Within an era every quantity is small and non-negative: 32-bit arithmetic.
    let day_of_era = z.rem_euclid(146_097) as u32;
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = i64::from(year_of_era) + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// `HH:MM:SS`, then `.ffffff` when the fraction is nonzero; `micros` is within one day
/// (86,400,000,000 itself is 24:00:00).
fn time_of_day<const N: usize>(micros: i64, text: &mut Ascii<N>) {
    let seconds = (micros / 1_000_000) as u32;
    let fraction = (micros % 1_000_000) as u32;
    text.two(seconds / 3_600);
    text.put(b":");
    text.two(seconds / 60 % 60);
    text.put(b":");
    text.two(seconds % 60);
    if fraction != 0 {
        text.put(b".");
        text.two(fraction / 10_000);
        text.two(fraction / 100 % 100);
        text.two(fraction % 100);
    }
}

/// `interval`: microseconds (int64), days (int32), months (int32) as `months days microseconds`;
/// with `infinities`, all three at their maximum (or minimum) is `infinity` (`-infinity`).
fn push_interval(raw: [u8; 16], infinities: bool, out: &mut Vec<u8>) {
    let [m0, m1, m2, m3, m4, m5, m6, m7, d0, d1, d2, d3, n0, n1, n2, n3] = raw;
    let micros = i64::from_be_bytes([m0, m1, m2, m3, m4, m5, m6, m7]);
    let days = i32::from_be_bytes([d0, d1, d2, d3]);
    let months = i32::from_be_bytes([n0, n1, n2, n3]);
    match (months, days, micros) {
        (i32::MAX, i32::MAX, i64::MAX) if infinities => out.push_str("infinity"),
        (i32::MIN, i32::MIN, i64::MIN) if infinities => out.push_str("-infinity"),
        _ => {
            months.push_decimal(out);
            out.push(b' ');
            days.push_decimal(out);
            out.push(b' ');
            micros.push_decimal(out);
        }
    }
}

/// Each byte as the character of that code point (bytea's canonical form).
fn push_latin1(raw: &[u8], out: &mut Vec<u8>) {
    out.reserve(raw.len());
    let mut rest = raw;
    // ASCII runs go in at once; a byte from 0x80 on is the two-byte UTF-8 of its character.
    while !rest.is_empty() {
        let ascii = rest.iter().position(|&b| b >= 0x80).unwrap_or(rest.len());
        out.extend_from_slice(&rest[..ascii]);
        let Some(&high) = rest.get(ascii) else {
            break;
        };
        out.extend_from_slice(&[0xC0 | high >> 6, 0x80 | (high & 0x3F)]);
        rest = &rest[ascii + 1..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(kind: Binary, raw: &[u8]) -> Result<String, CodecError> {
        let mut out = b">".to_vec();
        kind.decode(raw, &mut out)?;
        Ok(String::from_utf8(out[1..].to_vec()).expect("decoded text is UTF-8"))
    }

    fn ts(kind: Binary, micros: i64) -> String {
        decode(kind, &micros.to_be_bytes()).expect("8 bytes decode")
    }

    #[test]
    fn integers_and_bool() {
        assert_eq!(
            decode(Binary::Int2, &i16::MIN.to_be_bytes()).unwrap(),
            "-32768"
        );
        assert_eq!(decode(Binary::Int4, &0i32.to_be_bytes()).unwrap(), "0");
        assert_eq!(decode(Binary::Int4, &(-7i32).to_be_bytes()).unwrap(), "-7");
        assert_eq!(
            decode(Binary::Int8, &i64::MIN.to_be_bytes()).unwrap(),
            "-9223372036854775808"
        );
        assert_eq!(
            decode(Binary::Int8, &i64::MAX.to_be_bytes()).unwrap(),
            "9223372036854775807"
        );
        assert_eq!(
            decode(Binary::Oid, &u32::MAX.to_be_bytes()).unwrap(),
            "4294967295"
        );
        assert_eq!(decode(Binary::Bool, &[1]).unwrap(), "t");
        assert_eq!(decode(Binary::Bool, &[0]).unwrap(), "f");
    }

    #[test]
    fn dates() {
        let date = |days: i32| decode(Binary::Date, &days.to_be_bytes()).unwrap();
        assert_eq!(date(0), "2000-01-01");
        assert_eq!(date(59), "2000-02-29");
        assert_eq!(date(-1), "1999-12-31");
        assert_eq!(date(-10_957), "1970-01-01");
        // 0001-01-01 and the day before it, 0001-12-31 BC (year 0).
        assert_eq!(date(-730_119), "0001-01-01");
        assert_eq!(date(-730_120), "0001-12-31 BC");
        // PostgreSQL's range ends: 4714-11-24 BC and 5874897-12-31.
        assert_eq!(date(-2_451_545), "4714-11-24 BC");
        assert_eq!(date(2_145_031_948), "5874897-12-31");
        assert_eq!(date(i32::MAX), "infinity");
        assert_eq!(date(i32::MIN), "-infinity");
    }

    #[test]
    fn times_and_timestamps() {
        let time = |micros: i64| decode(Binary::Time, &micros.to_be_bytes());
        assert_eq!(time(0).unwrap(), "00:00:00");
        assert_eq!(time(45_296_500_000).unwrap(), "12:34:56.500000");
        assert_eq!(time(DAY_MICROS).unwrap(), "24:00:00");
        assert!(time(DAY_MICROS + 1).is_err());
        assert!(time(-1).is_err());
        assert_eq!(ts(Binary::Timestamp, 0), "2000-01-01 00:00:00");
        assert_eq!(ts(Binary::Timestamp, -1), "1999-12-31 23:59:59.999999");
        assert_eq!(
            ts(Binary::TimestampUtc, 1_000_001),
            "2000-01-01 00:00:01.000001+00:00"
        );
        // 0044-03-15 BC at noon (year -43), before the offset as the text form has it.
        let days = -(730_120 + 365 * 43 + 10 + 292);
        let noon = days * DAY_MICROS + DAY_MICROS / 2;
        assert_eq!(
            ts(Binary::TimestampUtc, noon),
            "0044-03-15 12:00:00+00:00 BC"
        );
        assert_eq!(ts(Binary::Timestamp, i64::MAX), "infinity");
        assert_eq!(ts(Binary::TimestampUtc, i64::MIN), "-infinity");
    }

    /// The fixed-place writer of the common years agrees with the general writer (the one that
    /// also serves the years outside 1000-9999 AD), at both ends of that range, across days,
    /// times of day with and without a fraction, and both offsets.
    #[test]
    fn common_timestamps_match_the_general_writer() {
        let general = |micros: i64, utc: bool| {
            let mut out = Vec::new();
            push_any_timestamp(micros, utc, &mut out);
            String::from_utf8(out).expect("ASCII")
        };
        // Days from 2000-01-01 to 1000-01-01 and to 10000-01-01.
        let first = -365_242i64;
        let after_last = 2_921_940i64;
        let mut days: Vec<i64> = (-3..3)
            .flat_map(|d| [first + d, after_last + d, d])
            .collect();
        days.extend((first..after_last).step_by(9_973));
        let times = [
            0,
            1,
            999_999,
            1_000_000,
            45_296_500_000,
            DAY_MICROS - 1,
            3_599_000_010,
        ];
        for day in days {
            for time in times {
                let micros = day * DAY_MICROS + time;
                for (kind, utc) in [(Binary::Timestamp, false), (Binary::TimestampUtc, true)] {
                    assert_eq!(ts(kind, micros), general(micros, utc), "{micros}");
                }
            }
        }
        assert_eq!(
            ts(Binary::TimestampUtc, first * DAY_MICROS - 1),
            "0999-12-31 23:59:59.999999+00:00"
        );
        assert_eq!(
            ts(Binary::Timestamp, after_last * DAY_MICROS),
            "10000-01-01 00:00:00"
        );
    }

    #[test]
    fn intervals_and_bytea() {
        // The binary interval: microseconds, days, months.
        let interval = |micros: i64, days: i32, months: i32| {
            let mut raw = [0u8; 16];
            raw[..8].copy_from_slice(&micros.to_be_bytes());
            raw[8..12].copy_from_slice(&days.to_be_bytes());
            raw[12..].copy_from_slice(&months.to_be_bytes());
            raw
        };
        let raw = interval(-1_500_000, 3, 14);
        let pg17 = Binary::Interval { infinities: true };
        let pg15 = Binary::Interval { infinities: false };
        assert_eq!(decode(pg17, &raw).unwrap(), "14 3 -1500000");
        assert_eq!(decode(pg15, &raw).unwrap(), "14 3 -1500000");
        let max = interval(i64::MAX, i32::MAX, i32::MAX);
        assert_eq!(decode(pg17, &max).unwrap(), "infinity");
        assert_eq!(
            decode(pg15, &max).unwrap(),
            "2147483647 2147483647 9223372036854775807"
        );
        let min = interval(i64::MIN, i32::MIN, i32::MIN);
        assert_eq!(decode(pg17, &min).unwrap(), "-infinity");
        assert_eq!(
            decode(pg15, &min).unwrap(),
            "-2147483648 -2147483648 -9223372036854775808"
        );
        let bytes: Vec<u8> = (0..=255).collect();
        let text = decode(Binary::Bytea, &bytes).unwrap();
        assert_eq!(
            text.chars().map(|c| c as u32).collect::<Vec<_>>(),
            (0..=255).collect::<Vec<_>>()
        );
        assert_eq!(
            decode(Binary::Bytea, "é\u{1}".as_bytes()).unwrap(),
            "\u{c3}\u{a9}\u{1}"
        );
    }

    #[test]
    fn plain_kinds_write_nothing_a_batch_escapes() {
        // `writes_plain` lets the row batch skip its escape scan for these kinds: every byte
        // pattern of the right length (the extremes, each byte 0x00-0xFF in every place, and a
        // pseudo-random spread) must give printable ASCII.
        let kinds = [
            (Binary::Bool, 1),
            (Binary::Int2, 2),
            (Binary::Int4, 4),
            (Binary::Int8, 8),
            (Binary::Oid, 4),
            (Binary::Date, 4),
            (Binary::Time, 8),
            (Binary::Timestamp, 8),
            (Binary::TimestampUtc, 8),
            (Binary::Interval { infinities: false }, 16),
            (Binary::Interval { infinities: true }, 16),
        ];
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for (kind, len) in kinds {
            assert!(kind.writes_plain(), "{kind:?}");
            let mut inputs = vec![
                vec![0u8; len],
                vec![0xFF; len],
                {
                    let mut max = vec![0xFF; len];
                    max[0] = 0x7F;
                    max
                },
                {
                    let mut min = vec![0; len];
                    min[0] = 0x80;
                    min
                },
            ];
            for at in 0..len {
                for b in 0..=255u8 {
                    let mut raw = vec![0u8; len];
                    raw[at] = b;
                    inputs.push(raw);
                }
            }
            for _ in 0..20_000 {
                inputs.push((0..len).map(|_| next() as u8).collect());
            }
            for raw in inputs {
                let mut out = Vec::new();
                if kind.decode(&raw, &mut out).is_ok() {
                    assert!(
                        out.iter().all(|&b| (0x20..0x7F).contains(&b)),
                        "{kind:?} {raw:?} wrote {out:?}"
                    );
                }
            }
        }
        assert!(!Binary::Bytea.writes_plain());
    }

    #[test]
    fn wrong_lengths_are_errors() {
        for (kind, len) in [
            (Binary::Bool, 2),
            (Binary::Int2, 4),
            (Binary::Int4, 3),
            (Binary::Int8, 4),
            (Binary::Oid, 8),
            (Binary::Date, 8),
            (Binary::Time, 4),
            (Binary::Timestamp, 7),
            (Binary::TimestampUtc, 0),
            (Binary::Interval { infinities: true }, 12),
        ] {
            let err = decode(kind, &vec![0; len]).unwrap_err();
            assert_eq!(
                err.message(),
                format!("invalid binary {} value ({len} bytes)", kind.name())
            );
        }
        assert!(decode(Binary::Bool, &[2]).is_err());
    }

    #[test]
    fn dates_match_the_calendar_day_by_day() {
        // Every day of 1599-2401 (three 400-year cycles' boundaries and every leap rule) against
        // a plain day-counting calendar.
        let leap = |y: i64| (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
        let mut days = -(DAYS_1970_TO_2000 + 135_140); // 1600-01-01 - 1970-01-01 is -135,140
        for year in 1600..2401 {
            for month in 1..=12u32 {
                let len = match month {
                    2 if leap(year) => 29,
                    2 => 28,
                    4 | 6 | 9 | 11 => 30,
                    _ => 31,
                };
                for day in 1..=len {
                    let mut text = Ascii::<16>::new();
                    assert!(!civil_date(days, &mut text));
                    let mut s = Vec::new();
                    text.append_to(&mut s);
                    assert_eq!(
                        String::from_utf8(s).unwrap(),
                        format!("{year:04}-{month:02}-{day:02}")
                    );
                    days += 1;
                }
            }
        }
    }
}
