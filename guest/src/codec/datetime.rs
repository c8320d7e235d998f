//! date, time, timetz, timestamp and timestamptz in DateStyle ISO.
//!
//! The server prints fractions with trailing zeros trimmed (`12:00:00.5`) and offsets as short
//! as possible (`+02`); the canonical forms pad the fraction to six digits and the offset to
//! `+HH:MM` (`+HH:MM:SS` when it has seconds). Everything else is validated and copied.

use super::CodecError;
use wasmpg_wire::TextOut;

/// A cursor over ASCII text being parsed.
struct Cursor<'a> {
    rest: &'a [u8],
}

impl<'a> Cursor<'a> {
    fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    /// Consumes `byte` if it comes next.
    fn eat(&mut self, byte: u8) -> bool {
        match self.rest.split_first() {
            Some((&first, tail)) if first == byte => {
                self.rest = tail;
                true
            }
            _ => false,
        }
    }

    /// Consumes `text` if it comes next.
    fn eat_slice(&mut self, text: &[u8]) -> bool {
        match self.rest.strip_prefix(text) {
            Some(tail) => {
                self.rest = tail;
                true
            }
            None => false,
        }
    }

    /// Consumes the longest run of ASCII digits, possibly empty.
    fn digits(&mut self) -> &'a [u8] {
        let count = self.rest.iter().take_while(|b| b.is_ascii_digit()).count();
        let (digits, tail) = self.rest.split_at(count.min(self.rest.len()));
        self.rest = tail;
        digits
    }

    /// Consumes exactly two digits and returns their value if it is at most `max`.
    fn two_digits(&mut self, max: u8) -> Option<u8> {
        let [tens @ b'0'..=b'9', ones @ b'0'..=b'9', tail @ ..] = self.rest else {
            return None;
        };
        let value = (tens - b'0') * 10 + (ones - b'0');
        if value > max {
            return None;
        }
        self.rest = tail;
        Some(value)
    }
}

/// `time`: `HH:MM:SS[.f]`.
pub(super) fn time(raw: &[u8], out: &mut Vec<u8>) -> Result<(), CodecError> {
    convert("time", raw, out, push_time)
}

/// `timetz`: a time then an offset.
pub(super) fn timetz(raw: &[u8], out: &mut Vec<u8>) -> Result<(), CodecError> {
    convert("timetz", raw, out, |cursor, out| {
        push_time(cursor, out)?;
        push_offset(cursor, out)
    })
}

/// `date`: `YYYY-MM-DD[ BC]`, `infinity` or `-infinity`.
pub(super) fn date(raw: &[u8], out: &mut Vec<u8>) -> Result<(), CodecError> {
    convert("date", raw, out, |cursor, out| {
        if push_infinity(cursor, out) {
            return Some(());
        }
        push_date(cursor, out)?;
        push_era(cursor, out);
        Some(())
    })
}

/// `timestamp`: `YYYY-MM-DD HH:MM:SS[.f][ BC]`, `infinity` or `-infinity`.
pub(super) fn timestamp(raw: &[u8], out: &mut Vec<u8>) -> Result<(), CodecError> {
    convert("timestamp", raw, out, |cursor, out| {
        if push_infinity(cursor, out) {
            return Some(());
        }
        push_date(cursor, out)?;
        push_byte(cursor, b' ', out)?;
        push_time(cursor, out)?;
        push_era(cursor, out);
        Some(())
    })
}

/// `timestamptz`: as `timestamp` with the offset right after the time, before ` BC`.
pub(super) fn timestamptz(raw: &[u8], out: &mut Vec<u8>) -> Result<(), CodecError> {
    convert("timestamptz", raw, out, |cursor, out| {
        if push_infinity(cursor, out) {
            return Some(());
        }
        push_date(cursor, out)?;
        push_byte(cursor, b' ', out)?;
        push_time(cursor, out)?;
        push_offset(cursor, out)?;
        push_era(cursor, out);
        Some(())
    })
}

/// Runs `parse` over all of `raw`; an unparsed tail is an error too.
fn convert(
    what: &str,
    raw: &[u8],
    out: &mut Vec<u8>,
    parse: impl FnOnce(&mut Cursor<'_>, &mut Vec<u8>) -> Option<()>,
) -> Result<(), CodecError> {
    let mut cursor = Cursor { rest: raw };
    match parse(&mut cursor, out) {
        Some(()) if cursor.is_empty() => Ok(()),
        _ => Err(CodecError::invalid(what, raw)),
    }
}

fn push_infinity(cursor: &mut Cursor<'_>, out: &mut Vec<u8>) -> bool {
    for special in ["infinity", "-infinity"] {
        if cursor.rest == special.as_bytes() {
            cursor.rest = &[];
            out.push_str(special);
            return true;
        }
    }
    false
}

/// `YYYY-MM-DD`, the year four digits or more.
fn push_date(cursor: &mut Cursor<'_>, out: &mut Vec<u8>) -> Option<()> {
    let year = cursor.digits();
    if year.len() < 4 {
        return None;
    }
    expect(cursor, b'-')?;
    let month = cursor.two_digits(12)?;
    expect(cursor, b'-')?;
    let day = cursor.two_digits(31)?;
    if month == 0 || day == 0 {
        return None;
    }
    push_ascii(year, out);
    out.push(b'-');
    push_two_digits(month, out);
    out.push(b'-');
    push_two_digits(day, out);
    Some(())
}

/// `HH:MM:SS[.f]` (1-6 fraction digits); the canonical fraction has six digits, or none when
/// it is zero. `24:00:00` is valid.
fn push_time(cursor: &mut Cursor<'_>, out: &mut Vec<u8>) -> Option<()> {
    let hour = cursor.two_digits(24)?;
    expect(cursor, b':')?;
    let minute = cursor.two_digits(59)?;
    expect(cursor, b':')?;
    let second = cursor.two_digits(59)?;
    let fraction = if cursor.eat(b'.') {
        let digits = cursor.digits();
        if digits.is_empty() || digits.len() > 6 {
            return None;
        }
        digits
    } else {
        &[]
    };
    let fraction_is_zero = fraction.iter().all(|&d| d == b'0');
    if hour == 24 && (minute != 0 || second != 0 || !fraction_is_zero) {
        return None;
    }
    push_two_digits(hour, out);
    out.push(b':');
    push_two_digits(minute, out);
    out.push(b':');
    push_two_digits(second, out);
    if !fraction_is_zero {
        out.push(b'.');
        push_ascii(fraction, out);
        for _ in fraction.len()..6 {
            out.push(b'0');
        }
    }
    Some(())
}

/// `+HH`, `+HH:MM` or `+HH:MM:SS` (or `-`) as `+HH:MM`, or `+HH:MM:SS` when the seconds are
/// nonzero.
fn push_offset(cursor: &mut Cursor<'_>, out: &mut Vec<u8>) -> Option<()> {
    let sign = if cursor.eat(b'+') {
        '+'
    } else if cursor.eat(b'-') {
        '-'
    } else {
        return None;
    };
    // PostgreSQL limits offsets to less than 16 hours.
    let hours = cursor.two_digits(15)?;
    let mut minutes = 0;
    let mut seconds = 0;
    if cursor.eat(b':') {
        minutes = cursor.two_digits(59)?;
        if cursor.eat(b':') {
            seconds = cursor.two_digits(59)?;
        }
    }
    out.push_char(sign);
    push_two_digits(hours, out);
    out.push(b':');
    push_two_digits(minutes, out);
    if seconds != 0 {
        out.push(b':');
        push_two_digits(seconds, out);
    }
    Some(())
}

fn push_era(cursor: &mut Cursor<'_>, out: &mut Vec<u8>) {
    if cursor.eat_slice(b" BC") {
        out.push_str(" BC");
    }
}

fn expect(cursor: &mut Cursor<'_>, byte: u8) -> Option<()> {
    cursor.eat(byte).then_some(())
}

/// Consumes `byte` and appends it.
fn push_byte(cursor: &mut Cursor<'_>, byte: u8, out: &mut Vec<u8>) -> Option<()> {
    expect(cursor, byte)?;
    out.push_char(char::from(byte));
    Some(())
}

fn push_ascii(text: &[u8], out: &mut Vec<u8>) {
    for &b in text {
        out.push_char(char::from(b));
    }
}

/// Appends `value` (below 100) as two digits.
fn push_two_digits(value: u8, out: &mut Vec<u8>) {
    out.extend_from_slice(&[b'0' + value / 10 % 10, b'0' + value % 10]);
}

#[cfg(test)]
mod tests {
    use super::*;

    type Convert = fn(&[u8], &mut Vec<u8>) -> Result<(), CodecError>;

    fn check(convert: Convert, cases: &[(&str, &str)]) {
        for &(raw, canonical) in cases {
            let mut out = Vec::new();
            match convert(raw.as_bytes(), &mut out) {
                Ok(()) => assert_eq!(String::from_utf8(out).unwrap(), canonical, "{raw:?}"),
                Err(e) => panic!("{raw:?}: {e}"),
            }
        }
    }

    fn check_errors(convert: Convert, what: &str, cases: &[&str]) {
        for raw in cases {
            let mut out = Vec::new();
            let err = convert(raw.as_bytes(), &mut out).expect_err(raw);
            assert_eq!(err.message(), format!("invalid {what} {raw:?}"));
        }
    }

    #[test]
    fn time_fraction_is_padded() {
        check(
            time,
            &[
                ("12:00:00", "12:00:00"),
                ("12:00:00.5", "12:00:00.500000"),
                ("00:00:00.000001", "00:00:00.000001"),
                ("23:59:59.999999", "23:59:59.999999"),
                ("01:02:03.12", "01:02:03.120000"),
                ("01:02:03.000", "01:02:03"),
                ("24:00:00", "24:00:00"),
                ("24:00:00.000000", "24:00:00"),
            ],
        );
    }

    #[test]
    fn time_errors() {
        check_errors(
            time,
            "time",
            &[
                "",
                "12:00",
                "12:00:00.",
                "12:00:00.1234567",
                "1:00:00",
                "12:0:00",
                "12:00:0",
                "25:00:00",
                "12:60:00",
                "12:00:60",
                "24:00:01",
                "24:00:00.5",
                "12:00:00 ",
                " 12:00:00",
                "12:00:00+02",
                "12-00-00",
                "12:00:00.5x",
                "allballs",
            ],
        );
    }

    #[test]
    fn timetz_offset_is_canonical() {
        check(
            timetz,
            &[
                ("13:00:00+02", "13:00:00+02:00"),
                ("13:00:00-03", "13:00:00-03:00"),
                ("13:00:00+00", "13:00:00+00:00"),
                ("13:00:00.5+05:30", "13:00:00.500000+05:30"),
                ("13:00:00+05:30:15", "13:00:00+05:30:15"),
                ("13:00:00-05:30:00", "13:00:00-05:30"),
                ("00:00:00+15:59:59", "00:00:00+15:59:59"),
                ("24:00:00-15:59", "24:00:00-15:59"),
            ],
        );
    }

    #[test]
    fn timetz_errors() {
        check_errors(
            timetz,
            "timetz",
            &[
                "13:00:00",
                "13:00:00+",
                "13:00:00+2",
                "13:00:00+16",
                "13:00:00+02:",
                "13:00:00+02:60",
                "13:00:00+02:00:",
                "13:00:00+02:00:60",
                "13:00:00+0200",
                "13:00:00 +02",
                "13:00:00+02 BC",
                "13:00:00+02:00:00:00",
            ],
        );
    }

    #[test]
    fn dates_are_copied() {
        check(
            date,
            &[
                ("2024-01-02", "2024-01-02"),
                ("0001-01-01 BC", "0001-01-01 BC"),
                ("4713-11-24 BC", "4713-11-24 BC"),
                ("5874897-12-31", "5874897-12-31"),
                ("2024-02-30", "2024-02-30"), // the server's business
                ("infinity", "infinity"),
                ("-infinity", "-infinity"),
            ],
        );
    }

    #[test]
    fn date_errors() {
        check_errors(
            date,
            "date",
            &[
                "",
                "24-01-02",
                "2024-1-02",
                "2024-01-2",
                "2024-00-01",
                "2024-13-01",
                "2024-01-00",
                "2024-01-32",
                "2024/01/02",
                "01/02/2024",
                "2024-01-02 AD",
                "2024-01-02 BC ",
                "2024-01-02BC",
                "2024-01-02 00:00:00",
                "Infinity",
                "+infinity",
                "infinity BC",
            ],
        );
    }

    #[test]
    fn timestamps() {
        check(
            timestamp,
            &[
                ("2024-01-02 03:04:05", "2024-01-02 03:04:05"),
                ("2024-01-02 03:04:05.5", "2024-01-02 03:04:05.500000"),
                ("2024-01-02 03:04:05.123456", "2024-01-02 03:04:05.123456"),
                ("0044-03-15 12:00:00.01 BC", "0044-03-15 12:00:00.010000 BC"),
                (
                    "294276-12-31 23:59:59.999999",
                    "294276-12-31 23:59:59.999999",
                ),
                ("infinity", "infinity"),
                ("-infinity", "-infinity"),
            ],
        );
    }

    #[test]
    fn timestamp_errors() {
        check_errors(
            timestamp,
            "timestamp",
            &[
                "",
                "2024-01-02",
                "2024-01-02 03:04",
                "2024-01-02T03:04:05",
                "2024-01-02  03:04:05",
                "2024-01-02 03:04:05+01",
                "2024-01-02 03:04:05.1234567",
                "2024-01-02 03:04:05 BC BC",
                "Tue Jan 02 03:04:05 2024",
                "01/02/2024 03:04:05",
            ],
        );
    }

    #[test]
    fn timestamptz_offsets() {
        check(
            timestamptz,
            &[
                (
                    "2024-01-02 03:04:05.5+01",
                    "2024-01-02 03:04:05.500000+01:00",
                ),
                ("2024-01-02 03:04:05+05:30", "2024-01-02 03:04:05+05:30"),
                ("2024-01-02 03:04:05-08", "2024-01-02 03:04:05-08:00"),
                (
                    "1900-01-01 00:00:00+00:19:32",
                    "1900-01-01 00:00:00+00:19:32",
                ),
                ("0044-03-15 00:00:00+00 BC", "0044-03-15 00:00:00+00:00 BC"),
                (
                    "0044-03-15 00:00:00.000001-00:25:21 BC",
                    "0044-03-15 00:00:00.000001-00:25:21 BC",
                ),
                ("infinity", "infinity"),
                ("-infinity", "-infinity"),
            ],
        );
    }

    #[test]
    fn timestamptz_errors() {
        check_errors(
            timestamptz,
            "timestamptz",
            &[
                "2024-01-02 03:04:05",
                "2024-01-02 03:04:05 BC",
                "2024-01-02 03:04:05 BC+01",
                "2024-01-02 03:04:05 +01",
                "2024-01-02 03:04:05+1",
                "2024-01-02 03:04:05+01:2",
                "2024-01-02 03:04:05+01 ",
                "2024-01-02 03:04:05 PST",
                "Tue Jan 02 03:04:05 2024 PST",
                "2024-01-02 03:04:05+01:99",
            ],
        );
    }

    #[test]
    fn output_is_appended() {
        let mut out = b"x".to_vec();
        timestamptz(b"2024-01-02 03:04:05.5+01", &mut out).unwrap();
        assert_eq!(out, b"x2024-01-02 03:04:05.500000+01:00");
    }
}
