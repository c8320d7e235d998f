//! Dates and times (feature `with-chrono`): chrono's `NaiveDate`, `NaiveTime`,
//! `NaiveDateTime` and `DateTime`, [`TimeTz`], and the [`Date`] and [`Timestamp`] wrappers
//! that also hold `infinity` and `-infinity`.

use std::fmt;

use wasmpg_wire::TextOut as _;

use chrono::{
    DateTime, Datelike, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, Offset, TimeZone,
    Timelike, Utc,
};

use super::error::{check_type, invalid, unrepresentable};
use super::{oid, BoxError, FromSql, IsNull, Oid, SqlType, ToSql};

// ---------------------------------------------------------------------------------------------
// Dates and times: formatting

/// Appends `value` in decimal, zero-padded to `width` digits (at most 20). Written by hand:
/// `write!` with a width costs several times as much, per timestamp parameter.
fn push_padded(out: &mut String, value: u32, width: usize) {
    let mut buf = [0u8; 20];
    let start = wasmpg_wire::padded_digits(value.into(), width, &mut buf);
    // `padded_digits` wrote ASCII digits.
    out.push_ascii(&buf[start..]);
}

/// Appends `YYYY-MM-DD` (the year of era); returns whether the date is BC.
fn push_ymd(out: &mut String, date: NaiveDate) -> bool {
    let year = date.year();
    let (shown, bc) = if year > 0 {
        (year.unsigned_abs(), false)
    } else {
        ((1 - year).unsigned_abs(), true)
    };
    push_padded(out, shown, 4);
    out.push('-');
    push_padded(out, date.month(), 2);
    out.push('-');
    push_padded(out, date.day(), 2);
    bc
}

/// Appends `HH:MM:SS[.ffffff]`, truncating to microseconds.
fn push_hms(out: &mut String, oid: Oid, time: NaiveTime) -> Result<(), BoxError> {
    let nanos = time.nanosecond();
    if nanos >= 1_000_000_000 {
        return Err(unrepresentable(oid, "chrono leap second (second 60)"));
    }
    push_padded(out, time.hour(), 2);
    out.push(':');
    push_padded(out, time.minute(), 2);
    out.push(':');
    push_padded(out, time.second(), 2);
    let micros = nanos / 1000;
    if micros != 0 {
        out.push('.');
        push_padded(out, micros, 6);
    }
    Ok(())
}

/// Appends `+HH:MM` or `+HH:MM:SS`.
fn push_offset(out: &mut String, offset: FixedOffset) {
    let seconds = offset.local_minus_utc();
    out.push(if seconds < 0 { '-' } else { '+' });
    let abs = seconds.unsigned_abs();
    push_padded(out, abs / 3600, 2);
    out.push(':');
    push_padded(out, abs / 60 % 60, 2);
    if !abs.is_multiple_of(60) {
        out.push(':');
        push_padded(out, abs % 60, 2);
    }
}

fn push_timestamp(
    out: &mut String,
    oid: Oid,
    local: NaiveDateTime,
    offset: Option<FixedOffset>,
) -> Result<(), BoxError> {
    let bc = push_ymd(out, local.date());
    out.push(' ');
    push_hms(out, oid, local.time())?;
    if let Some(offset) = offset {
        push_offset(out, offset);
    }
    if bc {
        out.push_str(" BC");
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Dates and times: parsing

/// Parses exactly `min..=max` ASCII digits (`max` at most 9).
fn digits(s: &str, min: usize, max: usize) -> Option<u32> {
    if s.len() < min || s.len() > max || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn split_bc(raw: &str) -> (&str, bool) {
    match raw.strip_suffix(" BC") {
        Some(body) => (body, true),
        None => (raw, false),
    }
}

fn reject_infinity(oid: Oid, raw: &str, rust: &str, wrapper: &str) -> Result<(), BoxError> {
    if raw != "infinity" && raw != "-infinity" {
        return Ok(());
    }
    Err(unrepresentable(
        oid,
        format!("{raw} does not fit {rust}; read it as types::{wrapper}<{rust}>"),
    ))
}

/// `YYYY-MM-DD` (four or more year digits), the era given separately.
fn parse_ymd(oid: Oid, s: &str, bc: bool) -> Result<NaiveDate, BoxError> {
    let mut parts = s.split('-');
    let (Some(y), Some(m), Some(d), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(invalid(oid, "expected YYYY-MM-DD"));
    };
    let (Some(year), Some(month), Some(day)) = (digits(y, 4, 9), digits(m, 2, 2), digits(d, 2, 2))
    else {
        return Err(invalid(oid, "expected YYYY-MM-DD"));
    };
    if year == 0 {
        return Err(invalid(oid, "there is no year 0"));
    }
    // `year` has at most 9 digits, so it fits an i32 either way.
    let year = year as i32;
    let year = if bc { 1 - year } else { year };
    if let Some(date) = NaiveDate::from_ymd_opt(year, month, day) {
        return Ok(date);
    }
    if (1..=12).contains(&month)
        && (1..=31).contains(&day)
        && !(NaiveDate::MIN.year()..=NaiveDate::MAX.year()).contains(&year)
    {
        return Err(unrepresentable(oid, "year beyond chrono's range"));
    }
    Err(invalid(oid, "no such date"))
}

/// `HH:MM:SS[.f]` with one to six fraction digits.
fn parse_hms(oid: Oid, s: &str) -> Result<NaiveTime, BoxError> {
    let (hms, fraction) = match s.split_once('.') {
        Some((hms, fraction)) => (hms, Some(fraction)),
        None => (s, None),
    };
    let mut parts = hms.split(':');
    let (Some(h), Some(m), Some(sec), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(invalid(oid, "expected HH:MM:SS"));
    };
    let (Some(hour), Some(minute), Some(second)) =
        (digits(h, 2, 2), digits(m, 2, 2), digits(sec, 2, 2))
    else {
        return Err(invalid(oid, "expected HH:MM:SS"));
    };
    let micros = match fraction {
        None => 0,
        Some(f) => match digits(f, 1, 6) {
            // At most six digits: the scale factor is 10^0..=10^5.
            Some(v) => v * 10u32.pow(6 - f.len() as u32),
            None => return Err(invalid(oid, "expected one to six fraction digits")),
        },
    };
    if hour == 24 && minute == 0 && second == 0 && micros == 0 {
        return Err(unrepresentable(
            oid,
            "24:00:00 does not fit chrono::NaiveTime",
        ));
    }
    if hour > 23 || minute > 59 || second > 59 {
        return Err(invalid(oid, "time field out of range"));
    }
    NaiveTime::from_hms_micro_opt(hour, minute, second, micros)
        .ok_or_else(|| invalid(oid, "time field out of range"))
}

/// `+HH`, `+HH:MM` or `+HH:MM:SS` (or `-`).
fn parse_offset(oid: Oid, s: &str) -> Result<FixedOffset, BoxError> {
    let (sign, rest) = if let Some(rest) = s.strip_prefix('+') {
        (1, rest)
    } else if let Some(rest) = s.strip_prefix('-') {
        (-1, rest)
    } else {
        return Err(invalid(oid, "expected a UTC offset"));
    };
    let mut seconds = 0i32;
    let mut count = 0;
    for (i, part) in rest.split(':').enumerate() {
        let limit = if i == 0 { 23 } else { 59 };
        let value = digits(part, 2, 2)
            .filter(|&v| v <= limit)
            .ok_or_else(|| invalid(oid, "malformed UTC offset"))?;
        // At most 23*3600 + 59*60 + 59: no overflow.
        seconds += value as i32 * [3600, 60, 1].get(i).copied().unwrap_or(0);
        count += 1;
    }
    if count > 3 {
        return Err(invalid(oid, "malformed UTC offset"));
    }
    FixedOffset::east_opt(sign * seconds).ok_or_else(|| invalid(oid, "UTC offset out of range"))
}

/// Splits `time+offset` at the offset's sign.
fn split_offset(oid: Oid, s: &str) -> Result<(&str, &str), BoxError> {
    match s.find(['+', '-']) {
        Some(at) => Ok(s.split_at(at)),
        None => Err(invalid(oid, "missing UTC offset")),
    }
}

/// The canonical form's common case at fixed positions: `YYYY-MM-DD HH:MM:SS[.ffffff]` with a
/// four-digit year from 0001, AD, then the rest (an offset, or nothing). `None` for anything
/// else, which the general parsers then read or report.
fn fast_datetime(raw: &str) -> Option<(NaiveDateTime, &str)> {
    let b = raw.as_bytes();
    let punctuation = [(4, b'-'), (7, b'-'), (10, b' '), (13, b':'), (16, b':')];
    if b.len() < 19 || punctuation.iter().any(|&(i, c)| b[i] != c) {
        return None;
    }
    let digit = |i: usize| {
        let d = b.get(i)?.wrapping_sub(b'0');
        (d < 10).then_some(u32::from(d))
    };
    let two = |i: usize| Some(digit(i)? * 10 + digit(i + 1)?);
    let year = two(0)? * 100 + two(2)?;
    let (month, day) = (two(5)?, two(8)?);
    let (hour, minute, second) = (two(11)?, two(14)?, two(17)?);
    let mut rest = raw.get(19..)?;
    let mut micros = 0;
    if let Some(fraction) = rest.strip_prefix('.') {
        // The canonical fraction has exactly six digits.
        micros = two(20)? * 10_000 + two(22)? * 100 + two(24)?;
        rest = fraction.get(6..)?;
    }
    if year == 0 || hour > 23 || rest.ends_with(" BC") {
        return None;
    }
    let date = NaiveDate::from_ymd_opt(year as i32, month, day)?;
    let time = NaiveTime::from_hms_micro_opt(hour, minute, second, micros)?;
    Some((NaiveDateTime::new(date, time), rest))
}

fn parse_timestamp(oid: Oid, raw: &str) -> Result<NaiveDateTime, BoxError> {
    if let Some((value, "")) = fast_datetime(raw) {
        return Ok(value);
    }
    general_timestamp(oid, raw)
}

/// Every timestamp form [`parse_timestamp`]'s fast path does not take, and its errors.
fn general_timestamp(oid: Oid, raw: &str) -> Result<NaiveDateTime, BoxError> {
    let (body, bc) = split_bc(raw);
    let Some((date, time)) = body.split_once(' ') else {
        return Err(invalid(oid, "expected a date and a time"));
    };
    Ok(NaiveDateTime::new(
        parse_ymd(oid, date, bc)?,
        parse_hms(oid, time)?,
    ))
}

fn parse_timestamptz(oid: Oid, raw: &str) -> Result<DateTime<FixedOffset>, BoxError> {
    if let Some((local, offset)) = fast_datetime(raw) {
        let offset = match offset {
            "+00:00" => FixedOffset::east_opt(0),
            _ => parse_offset(oid, offset).ok(),
        };
        if let Some(utc) = offset.and_then(|o| Some((local.checked_sub_offset(o)?, o))) {
            return Ok(DateTime::from_naive_utc_and_offset(utc.0, utc.1));
        }
    }
    general_timestamptz(oid, raw)
}

/// Every timestamptz form [`parse_timestamptz`]'s fast path does not take, and its errors.
fn general_timestamptz(oid: Oid, raw: &str) -> Result<DateTime<FixedOffset>, BoxError> {
    let (body, bc) = split_bc(raw);
    let Some((date, rest)) = body.split_once(' ') else {
        return Err(invalid(oid, "expected a date and a time"));
    };
    let (time, offset) = split_offset(oid, rest)?;
    let local = NaiveDateTime::new(parse_ymd(oid, date, bc)?, parse_hms(oid, time)?);
    let offset = parse_offset(oid, offset)?;
    let utc = local
        .checked_sub_offset(offset)
        .ok_or_else(|| unrepresentable(oid, "instant beyond chrono's range"))?;
    Ok(DateTime::from_naive_utc_and_offset(utc, offset))
}

// ---------------------------------------------------------------------------------------------
// Dates and times: impls

impl SqlType for NaiveDate {
    const OID: Oid = oid::DATE;
}

impl ToSql for NaiveDate {
    fn sql_type(&self) -> Oid {
        oid::DATE
    }

    fn to_sql(&self, out: &mut String) -> Result<IsNull, BoxError> {
        if push_ymd(out, *self) {
            out.push_str(" BC");
        }
        Ok(IsNull::No)
    }
}

impl FromSql<'_> for NaiveDate {
    fn from_sql(ty: Oid, raw: &str) -> Result<Self, BoxError> {
        check_type::<Self>(ty)?;
        reject_infinity(ty, raw, "NaiveDate", "Date")?;
        let (body, bc) = split_bc(raw);
        parse_ymd(ty, body, bc)
    }

    fn accepts(ty: Oid) -> bool {
        ty == oid::DATE
    }
}

impl SqlType for NaiveTime {
    const OID: Oid = oid::TIME;
}

impl ToSql for NaiveTime {
    fn sql_type(&self) -> Oid {
        oid::TIME
    }

    fn to_sql(&self, out: &mut String) -> Result<IsNull, BoxError> {
        push_hms(out, oid::TIME, *self)?;
        Ok(IsNull::No)
    }
}

impl FromSql<'_> for NaiveTime {
    fn from_sql(ty: Oid, raw: &str) -> Result<Self, BoxError> {
        check_type::<Self>(ty)?;
        parse_hms(ty, raw)
    }

    fn accepts(ty: Oid) -> bool {
        ty == oid::TIME
    }
}

impl SqlType for NaiveDateTime {
    const OID: Oid = oid::TIMESTAMP;
}

impl ToSql for NaiveDateTime {
    fn sql_type(&self) -> Oid {
        oid::TIMESTAMP
    }

    fn to_sql(&self, out: &mut String) -> Result<IsNull, BoxError> {
        push_timestamp(out, oid::TIMESTAMP, *self, None)?;
        Ok(IsNull::No)
    }
}

impl FromSql<'_> for NaiveDateTime {
    fn from_sql(ty: Oid, raw: &str) -> Result<Self, BoxError> {
        check_type::<Self>(ty)?;
        reject_infinity(ty, raw, "NaiveDateTime", "Timestamp")?;
        parse_timestamp(ty, raw)
    }

    fn accepts(ty: Oid) -> bool {
        ty == oid::TIMESTAMP
    }
}

impl<Tz: TimeZone> SqlType for DateTime<Tz> {
    const OID: Oid = oid::TIMESTAMPTZ;
}

/// Sent with the value's own UTC offset (`+00:00` for `Utc`).
impl<Tz: TimeZone> ToSql for DateTime<Tz> {
    fn sql_type(&self) -> Oid {
        oid::TIMESTAMPTZ
    }

    fn to_sql(&self, out: &mut String) -> Result<IsNull, BoxError> {
        let offset = self.offset().fix();
        let local = self
            .naive_utc()
            .checked_add_offset(offset)
            .ok_or_else(|| unrepresentable(oid::TIMESTAMPTZ, "local time beyond chrono's range"))?;
        push_timestamp(out, oid::TIMESTAMPTZ, local, Some(offset))?;
        Ok(IsNull::No)
    }
}

impl FromSql<'_> for DateTime<FixedOffset> {
    fn from_sql(ty: Oid, raw: &str) -> Result<Self, BoxError> {
        check_type::<Self>(ty)?;
        reject_infinity(ty, raw, "DateTime", "Timestamp")?;
        parse_timestamptz(ty, raw)
    }

    fn accepts(ty: Oid) -> bool {
        ty == oid::TIMESTAMPTZ
    }
}

impl FromSql<'_> for DateTime<Utc> {
    fn from_sql(ty: Oid, raw: &str) -> Result<Self, BoxError> {
        check_type::<Self>(ty)?;
        reject_infinity(ty, raw, "DateTime", "Timestamp")?;
        Ok(parse_timestamptz(ty, raw)?.with_timezone(&Utc))
    }

    fn accepts(ty: Oid) -> bool {
        ty == oid::TIMESTAMPTZ
    }
}

/// A time of day with a UTC offset: PostgreSQL `timetz`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TimeTz {
    pub time: NaiveTime,
    pub offset: FixedOffset,
}

/// The canonical form, `HH:MM:SS[.ffffff]+HH:MM[:SS]`; a chrono leap second, which has no
/// canonical form, shows as second 60.
impl fmt::Display for TimeTz {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let nanos = self.time.nanosecond();
        let (second, nanos) = match nanos.checked_sub(1_000_000_000) {
            Some(rest) => (60, rest),
            None => (self.time.second(), nanos),
        };
        write!(
            f,
            "{:02}:{:02}:{second:02}",
            self.time.hour(),
            self.time.minute()
        )?;
        let micros = nanos / 1000;
        if micros != 0 {
            write!(f, ".{micros:06}")?;
        }
        let mut offset = String::new();
        push_offset(&mut offset, self.offset);
        f.write_str(&offset)
    }
}

impl SqlType for TimeTz {
    const OID: Oid = oid::TIMETZ;
}

impl ToSql for TimeTz {
    fn sql_type(&self) -> Oid {
        oid::TIMETZ
    }

    fn to_sql(&self, out: &mut String) -> Result<IsNull, BoxError> {
        push_hms(out, oid::TIMETZ, self.time)?;
        push_offset(out, self.offset);
        Ok(IsNull::No)
    }
}

impl FromSql<'_> for TimeTz {
    fn from_sql(ty: Oid, raw: &str) -> Result<Self, BoxError> {
        check_type::<Self>(ty)?;
        let (time, offset) = split_offset(ty, raw)?;
        Ok(Self {
            time: parse_hms(ty, time)?,
            offset: parse_offset(ty, offset)?,
        })
    }

    fn accepts(ty: Oid) -> bool {
        ty == oid::TIMETZ
    }
}

/// A `date` that may be infinite; `T` is `NaiveDate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Date<T> {
    PosInfinity,
    NegInfinity,
    Value(T),
}

/// A `timestamp` or `timestamptz` that may be infinite; `T` is `NaiveDateTime`,
/// `DateTime<Utc>` or `DateTime<FixedOffset>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Timestamp<T> {
    PosInfinity,
    NegInfinity,
    Value(T),
}

macro_rules! infinite {
    ($wrapper:ident) => {
        impl<T: SqlType> SqlType for $wrapper<T> {
            const OID: Oid = T::OID;
        }

        impl<T: ToSql + SqlType> ToSql for $wrapper<T> {
            fn sql_type(&self) -> Oid {
                T::OID
            }

            fn to_sql(&self, out: &mut String) -> Result<IsNull, BoxError> {
                match self {
                    Self::PosInfinity => out.push_str("infinity"),
                    Self::NegInfinity => out.push_str("-infinity"),
                    Self::Value(value) => return value.to_sql(out),
                }
                Ok(IsNull::No)
            }
        }

        impl<'a, T: FromSql<'a>> FromSql<'a> for $wrapper<T> {
            fn from_sql(ty: Oid, raw: &'a str) -> Result<Self, BoxError> {
                check_type::<Self>(ty)?;
                match raw {
                    "infinity" => Ok(Self::PosInfinity),
                    "-infinity" => Ok(Self::NegInfinity),
                    _ => T::from_sql(ty, raw).map(Self::Value),
                }
            }

            fn accepts(ty: Oid) -> bool {
                T::accepts(ty)
            }
        }
    };
}

infinite!(Date);
infinite!(Timestamp);

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::super::{InvalidValue, Unrepresentable, WrongType};
    use super::*;

    #[test]
    fn dates() {
        for (value, canonical) in [
            (date(2024, 2, 29), "2024-02-29"),
            (date(1, 1, 1), "0001-01-01"),
            (date(0, 12, 31), "0001-12-31 BC"),
            (date(-43, 3, 15), "0044-03-15 BC"),
            (date(-4712, 1, 1), "4713-01-01 BC"),
            (date(10000, 1, 1), "10000-01-01"),
            (NaiveDate::MAX, "262142-12-31"),
            (NaiveDate::MIN, "262144-01-01 BC"),
        ] {
            assert_eq!(round_trip(value), canonical);
        }
        let e = decode_err::<NaiveDate>(oid::DATE, "infinity");
        assert!(is::<Unrepresentable>(&e));
        assert!(e.to_string().contains("Date<NaiveDate>"), "{e}");
        assert!(is::<Unrepresentable>(&decode_err::<NaiveDate>(
            oid::DATE,
            "-infinity"
        )));
        assert!(is::<Unrepresentable>(&decode_err::<NaiveDate>(
            oid::DATE,
            "5874897-12-31"
        )));
        for bad in [
            "",
            "2024-1-02",
            "2024-01-2",
            "24-01-02",
            "2024-02-30",
            "2024-13-01",
            "0000-01-01",
            "0000-01-01 BC",
            "2024-01-02 AD",
            "2024-01-02 bc",
            "2024/01/02",
            "-2024-01-02",
            "2024-01-02-03",
            "+2024-01-02",
            "Infinity",
        ] {
            assert!(
                is::<InvalidValue>(&decode_err::<NaiveDate>(oid::DATE, bad)),
                "{bad}"
            );
        }
        assert!(is::<WrongType>(&decode_err::<NaiveDate>(
            oid::TIMESTAMP,
            "2024-01-02"
        )));
    }

    #[test]
    fn infinite_dates() {
        assert_eq!(round_trip(Date::<NaiveDate>::PosInfinity), "infinity");
        assert_eq!(round_trip(Date::<NaiveDate>::NegInfinity), "-infinity");
        assert_eq!(round_trip(Date::Value(date(-43, 3, 15))), "0044-03-15 BC");
        assert!(is::<WrongType>(&decode_err::<Date<NaiveDate>>(
            oid::TIMESTAMP,
            "infinity"
        )));
        assert_eq!(encode(&None::<Date<NaiveDate>>), None);
    }

    #[test]
    fn times() {
        for (value, canonical) in [
            (time(0, 0, 0, 0), "00:00:00"),
            (time(3, 4, 5, 1), "03:04:05.000001"),
            (time(23, 59, 59, 999_999), "23:59:59.999999"),
            (time(12, 0, 0, 500_000), "12:00:00.500000"),
        ] {
            assert_eq!(round_trip(value), canonical);
        }
        // Sub-microsecond precision is truncated.
        let fine = NaiveTime::from_hms_nano_opt(1, 2, 3, 1_999).expect("time");
        assert_eq!(text(&fine), "01:02:03.000001");
        assert_eq!(
            text(&NaiveTime::from_hms_nano_opt(1, 2, 3, 999).expect("t")),
            "01:02:03"
        );
        let leap = NaiveTime::from_hms_micro_opt(23, 59, 59, 1_500_000).expect("leap second");
        let mut out = String::new();
        let e = leap.to_sql(&mut out).expect_err("leap second");
        assert!(is::<Unrepresentable>(&e), "{e}");
        // Shorter fractions from other producers still read.
        assert_eq!(
            decode::<NaiveTime>(oid::TIME, "03:04:05.5"),
            time(3, 4, 5, 500_000)
        );
        let e = decode_err::<NaiveTime>(oid::TIME, "24:00:00");
        assert!(is::<Unrepresentable>(&e), "{e}");
        for bad in [
            "",
            "3:04:05",
            "03:04",
            "03:04:05.",
            "03:04:05.1234567",
            "03:60:00",
            "03:00:60",
            "24:00:01",
            "25:00:00",
            "03:04:05+00",
            "03:04:05 ",
            "aa:bb:cc",
            "03:04:05.-1",
        ] {
            assert!(
                is::<InvalidValue>(&decode_err::<NaiveTime>(oid::TIME, bad)),
                "{bad}"
            );
        }
    }

    #[test]
    fn timestamps() {
        let at = |d: NaiveDate, t: NaiveTime| NaiveDateTime::new(d, t);
        for (value, canonical) in [
            (
                at(date(2024, 1, 2), time(3, 4, 5, 123_456)),
                "2024-01-02 03:04:05.123456",
            ),
            (
                at(date(2024, 1, 2), time(3, 4, 5, 0)),
                "2024-01-02 03:04:05",
            ),
            (
                at(date(2000, 1, 1), time(0, 0, 0, 1)),
                "2000-01-01 00:00:00.000001",
            ),
            (
                at(date(-43, 3, 15), time(10, 0, 0, 0)),
                "0044-03-15 10:00:00 BC",
            ),
            (
                at(date(10000, 12, 31), time(23, 59, 59, 999_999)),
                "10000-12-31 23:59:59.999999",
            ),
            (NaiveDateTime::MIN, "262144-01-01 00:00:00 BC"),
        ] {
            assert_eq!(round_trip(value), canonical);
        }
        assert_eq!(
            round_trip(Timestamp::<NaiveDateTime>::PosInfinity),
            "infinity"
        );
        assert_eq!(
            round_trip(Timestamp::<NaiveDateTime>::NegInfinity),
            "-infinity"
        );
        let e = decode_err::<NaiveDateTime>(oid::TIMESTAMP, "infinity");
        assert!(e.to_string().contains("Timestamp<NaiveDateTime>"), "{e}");
        for bad in [
            "2024-01-02",
            "2024-01-02T03:04:05",
            "2024-01-02  03:04:05",
            "2024-01-02 03:04:05+00",
            "2024-01-02 03:04:05 BC BC",
            "2024-01-02 24:00:00",
        ] {
            let e = decode_err::<NaiveDateTime>(oid::TIMESTAMP, bad);
            assert!(
                is::<InvalidValue>(&e) || is::<Unrepresentable>(&e),
                "{bad}: {e}"
            );
        }
        assert!(is::<WrongType>(&decode_err::<NaiveDateTime>(
            oid::TIMESTAMPTZ,
            "2024-01-02 03:04:05+00:00"
        )));
    }

    #[test]
    fn timestamptz_from_guest() {
        let v: DateTime<FixedOffset> = decode(oid::TIMESTAMPTZ, "2024-01-02 03:04:05.123456+05:30");
        assert_eq!(v.offset().local_minus_utc(), 19800);
        assert_eq!(
            v.naive_local(),
            NaiveDateTime::new(date(2024, 1, 2), time(3, 4, 5, 123_456))
        );
        let utc: DateTime<Utc> = decode(oid::TIMESTAMPTZ, "2024-01-02 03:04:05.123456+05:30");
        assert_eq!(
            utc.naive_utc(),
            NaiveDateTime::new(date(2024, 1, 1), time(21, 34, 5, 123_456))
        );
        assert_eq!(text(&utc), "2024-01-01 21:34:05.123456+00:00");
        assert_eq!(text(&v), "2024-01-02 03:04:05.123456+05:30");

        let bc: DateTime<Utc> = decode(oid::TIMESTAMPTZ, "0044-03-15 10:00:00+00:00 BC");
        assert_eq!(
            bc.naive_utc(),
            NaiveDateTime::new(date(-43, 3, 15), time(10, 0, 0, 0))
        );
        assert_eq!(text(&bc), "0044-03-15 10:00:00+00:00 BC");

        // The offset moves a local BC date across the year boundary.
        let v: DateTime<FixedOffset> = decode(oid::TIMESTAMPTZ, "0001-01-01 01:00:00+02:00");
        let utc = v.with_timezone(&Utc);
        assert_eq!(
            utc.naive_utc(),
            NaiveDateTime::new(date(0, 12, 31), time(23, 0, 0, 0))
        );
        assert_eq!(text(&utc), "0001-12-31 23:00:00+00:00 BC");

        let odd: DateTime<FixedOffset> = decode(oid::TIMESTAMPTZ, "1900-01-01 00:00:00-03:00:12");
        assert_eq!(odd.offset().local_minus_utc(), -(3 * 3600 + 12));
        assert_eq!(text(&odd), "1900-01-01 00:00:00-03:00:12");
        let short: DateTime<FixedOffset> = decode(oid::TIMESTAMPTZ, "2024-01-02 03:04:05+05");
        assert_eq!(short.offset().local_minus_utc(), 5 * 3600);

        for bad in [
            "2024-01-02 03:04:05",
            "2024-01-02 03:04:05+5:30",
            "2024-01-02 03:04:05+05:30:00:00",
            "2024-01-02 03:04:05+24:00",
            "2024-01-02 03:04:05+05:60",
            "2024-01-02 03:04:05+",
            "2024-01-02 03:04:05 +05:30",
            "2024-01-02 03:04:05Z",
        ] {
            let e = decode_err::<DateTime<Utc>>(oid::TIMESTAMPTZ, bad);
            assert!(is::<InvalidValue>(&e), "{bad}: {e}");
        }
    }

    #[test]
    fn timestamptz_round_trip() {
        for (seconds, local, canonical) in [
            (
                19800,
                (2024, 1, 2, 123_456),
                "2024-01-02 03:04:05.123456+05:30",
            ),
            (
                -(3 * 3600 + 12),
                (2024, 1, 2, 1),
                "2024-01-02 03:04:05.000001-03:00:12",
            ),
            (0, (-43, 3, 15, 0), "0044-03-15 03:04:05+00:00 BC"),
            (-3600, (10000, 1, 2, 0), "10000-01-02 03:04:05-01:00"),
        ] {
            let (y, m, d, micro) = local;
            let naive = NaiveDateTime::new(date(y, m, d), time(3, 4, 5, micro));
            let v = offset(seconds)
                .from_local_datetime(&naive)
                .single()
                .expect("local");
            assert_eq!(round_trip(v), canonical);
            let utc = v.with_timezone(&Utc);
            let raw = round_trip(utc);
            assert!(raw.contains("+00:00"), "{raw}");
        }
        assert_eq!(
            round_trip(Timestamp::<DateTime<Utc>>::PosInfinity),
            "infinity"
        );
        assert_eq!(
            round_trip(Timestamp::<DateTime<FixedOffset>>::NegInfinity),
            "-infinity"
        );
        let e = decode_err::<DateTime<Utc>>(oid::TIMESTAMPTZ, "infinity");
        assert!(is::<Unrepresentable>(&e));
        // Out of chrono's range after applying the offset.
        let e = decode_err::<DateTime<Utc>>(oid::TIMESTAMPTZ, "262142-12-31 23:00:00-05:00");
        assert!(is::<Unrepresentable>(&e), "{e}");
        let extreme = DateTime::<Utc>::MAX_UTC.with_timezone(&offset(3600));
        let mut out = String::new();
        assert!(is::<Unrepresentable>(
            &extreme.to_sql(&mut out).expect_err("overflow")
        ));
    }

    #[test]
    fn timetz_values() {
        for (value, canonical) in [
            (
                TimeTz {
                    time: time(10, 0, 0, 0),
                    offset: offset(19800),
                },
                "10:00:00+05:30",
            ),
            (
                TimeTz {
                    time: time(23, 59, 59, 1),
                    offset: offset(-(3 * 3600 + 12)),
                },
                "23:59:59.000001-03:00:12",
            ),
            (
                TimeTz {
                    time: time(0, 0, 0, 0),
                    offset: offset(0),
                },
                "00:00:00+00:00",
            ),
        ] {
            assert_eq!(round_trip(value), canonical);
            assert_eq!(value.to_string(), canonical);
        }
        let leap = TimeTz {
            time: NaiveTime::from_hms_micro_opt(23, 59, 59, 1_000_001).expect("leap second"),
            offset: offset(3600),
        };
        assert_eq!(leap.to_string(), "23:59:60.000001+01:00");
        assert!(leap.to_sql(&mut String::new()).is_err());
        let v: TimeTz = decode(oid::TIMETZ, "10:00:00-08");
        assert_eq!(v.offset.local_minus_utc(), -8 * 3600);
        assert!(is::<Unrepresentable>(&decode_err::<TimeTz>(
            oid::TIMETZ,
            "24:00:00+00:00"
        )));
        for bad in ["10:00:00", "10:00:00+5", "10:00+05:00", "+05:00"] {
            assert!(
                is::<InvalidValue>(&decode_err::<TimeTz>(oid::TIMETZ, bad)),
                "{bad}"
            );
        }
    }

    #[test]
    fn the_fast_path_agrees_with_the_general_parsers() {
        let cases = [
            "2024-01-01 00:00:01.000001+00:00",
            "2024-02-29 23:59:59.999999+00:00",
            "1999-12-31 12:00:00+05:30",
            "0001-01-01 00:00:00-03:00:15",
            "9999-12-31 23:59:59.5+00:00",
            "2024-02-30 00:00:00+00:00",
            "2023-02-29 00:00:00+00:00",
            "0000-01-01 00:00:00+00:00",
            "2024-01-01 24:00:00+00:00",
            "2024-01-01 00:00:60+00:00",
            "2024-01-01 00:00:00.1234567+00:00",
            "2024-01-01 00:00:00.123456",
            "2024-01-01 00:00:00+00:00 BC",
            "2024-01-01 00:00:00 BC",
            "12024-01-01 00:00:00+00:00",
            "2024-01-01 00:00:00",
            "2024-01-01T00:00:00+00:00",
            "2024-1-01 00:00:00+00:00",
            "2024-01-01 00:00:00+0x:00",
            "2024-01-01 00:00:00+",
            "",
        ];
        for raw in cases {
            let fast = parse_timestamptz(oid::TIMESTAMPTZ, raw).map_err(|e| e.to_string());
            let general = general_timestamptz(oid::TIMESTAMPTZ, raw).map_err(|e| e.to_string());
            assert_eq!(fast, general, "timestamptz {raw:?}");
            let fast = parse_timestamp(oid::TIMESTAMP, raw).map_err(|e| e.to_string());
            let general = general_timestamp(oid::TIMESTAMP, raw).map_err(|e| e.to_string());
            assert_eq!(fast, general, "timestamp {raw:?}");
        }
        assert!(parse_timestamptz(oid::TIMESTAMPTZ, cases[0]).is_ok());
        assert!(parse_timestamp(oid::TIMESTAMP, "2024-01-01 00:00:00.5").is_ok());
    }
}
