//! `interval`: [`Interval`], its three independent fields.

use std::fmt::{self, Write as _};

use super::error::{check_type, invalid};
use super::{oid, BoxError, FromSql, IsNull, Oid, SqlType, ToSql};

/// PostgreSQL `interval`: its three independent fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Interval {
    pub months: i32,
    pub days: i32,
    pub microseconds: i64,
}

impl Interval {
    pub const fn new(months: i32, days: i32, microseconds: i64) -> Self {
        Self {
            months,
            days,
            microseconds,
        }
    }

    /// An interval of `duration`'s microseconds (sub-microsecond part truncated), no months or
    /// days; `None` beyond ±2^63 microseconds.
    #[cfg(feature = "with-chrono")]
    pub fn from_duration(duration: chrono::TimeDelta) -> Option<Self> {
        Some(Self::new(0, 0, duration.num_microseconds()?))
    }
}

/// PostgreSQL's `postgres` IntervalStyle: `1 year 2 mons 3 days 04:05:06.789`,
/// `-1 days +01:00:00`, `00:00:00`.
impl fmt::Display for Interval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const HOUR: i64 = 3_600_000_000;
        const MINUTE: i64 = 60_000_000;
        const SECOND: i64 = 1_000_000;
        let mut first = true;
        let mut after_negative = false;
        for (value, unit) in [
            (i64::from(self.months / 12), "year"),
            (i64::from(self.months % 12), "mon"),
            (i64::from(self.days), "day"),
        ] {
            if value == 0 {
                continue;
            }
            let space = if first { "" } else { " " };
            let plus = if after_negative && value > 0 { "+" } else { "" };
            let plural = if value == 1 { "" } else { "s" };
            write!(f, "{space}{plus}{value} {unit}{plural}")?;
            after_negative = value < 0;
            first = false;
        }
        let time = self.microseconds;
        if !first && time == 0 {
            return Ok(());
        }
        let sign = if time < 0 {
            "-"
        } else if after_negative {
            "+"
        } else {
            ""
        };
        let space = if first { "" } else { " " };
        let hours = (time / HOUR).unsigned_abs();
        let minutes = (time % HOUR / MINUTE).unsigned_abs();
        let seconds = (time % MINUTE / SECOND).unsigned_abs();
        let fraction = (time % SECOND).unsigned_abs();
        write!(f, "{space}{sign}{hours:02}:{minutes:02}:{seconds:02}")?;
        if fraction != 0 {
            let digits = format!("{fraction:06}");
            write!(f, ".{}", digits.trim_end_matches('0'))?;
        }
        Ok(())
    }
}

impl SqlType for Interval {
    const OID: Oid = oid::INTERVAL;
}

impl ToSql for Interval {
    fn sql_type(&self) -> Oid {
        oid::INTERVAL
    }

    fn to_sql(&self, out: &mut String) -> Result<IsNull, BoxError> {
        write!(out, "{} {} {}", self.months, self.days, self.microseconds)?;
        Ok(IsNull::No)
    }
}

impl FromSql<'_> for Interval {
    fn from_sql(ty: Oid, raw: &str) -> Result<Self, BoxError> {
        check_type::<Self>(ty)?;
        let mut parts = raw.split(' ');
        let (Some(months), Some(days), Some(micros), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(invalid(ty, "expected `months days microseconds`"));
        };
        let field = |e: std::num::ParseIntError| invalid(ty, e.to_string());
        Ok(Self {
            months: months.parse().map_err(field)?,
            days: days.parse().map_err(field)?,
            microseconds: micros.parse().map_err(field)?,
        })
    }

    fn accepts(ty: Oid) -> bool {
        ty == oid::INTERVAL
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::super::InvalidValue;
    use super::*;

    #[test]
    fn intervals() {
        let v: Interval = decode(oid::INTERVAL, "14 3 14706789000");
        assert_eq!(v, Interval::new(14, 3, 14_706_789_000));
        assert_eq!(v.to_string(), "1 year 2 mons 3 days 04:05:06.789");
        for (value, canonical) in [
            (Interval::new(0, 0, 0), "0 0 0"),
            (Interval::new(-14, -3, -1), "-14 -3 -1"),
            (Interval::new(1, -1, 3_600_000_000), "1 -1 3600000000"),
            (
                Interval::new(i32::MIN, i32::MAX, i64::MIN),
                "-2147483648 2147483647 -9223372036854775808",
            ),
            (
                Interval::new(i32::MAX, i32::MIN, i64::MAX),
                "2147483647 -2147483648 9223372036854775807",
            ),
        ] {
            assert_eq!(round_trip(value), canonical);
        }
        for (value, display) in [
            (Interval::new(0, 0, 0), "00:00:00"),
            (Interval::new(-1, 0, 0), "-1 mons"),
            (Interval::new(12, 1, 0), "1 year 1 day"),
            (Interval::new(-14, 0, 0), "-1 years -2 mons"),
            (Interval::new(0, -1, 3_600_000_000), "-1 days +01:00:00"),
            (Interval::new(0, 2, -60_000_000), "2 days -00:01:00"),
            (Interval::new(0, 0, -1), "-00:00:00.000001"),
            (Interval::new(0, 0, 90_061_500_000), "25:01:01.5"),
            (Interval::new(-1, 1, 0), "-1 mons +1 day"),
            (Interval::new(0, 0, i64::MIN), "-2562047788:00:54.775808"),
        ] {
            assert_eq!(value.to_string(), display, "{value:?}");
        }
        for bad in [
            "",
            "1 2",
            "1 2 3 4",
            "1  2 3",
            "a b c",
            "1 2 3.5",
            "2147483648 0 0",
            " 1 2 3",
        ] {
            assert!(
                is::<InvalidValue>(&decode_err::<Interval>(oid::INTERVAL, bad)),
                "{bad}"
            );
        }
    }

    #[cfg(feature = "with-chrono")]
    #[test]
    fn interval_from_duration() {
        assert_eq!(
            Interval::from_duration(chrono::TimeDelta::milliseconds(-1500)),
            Some(Interval::new(0, 0, -1_500_000))
        );
    }
}
