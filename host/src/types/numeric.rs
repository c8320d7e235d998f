//! `numeric`: [`Numeric`], an exact decimal held as its canonical text.

use std::fmt;
use std::str::FromStr;

use super::error::check_type;
use super::{oid, BoxError, FromSql, InvalidValue, IsNull, Oid, SqlType, ToSql};

/// An exact decimal number of any precision: PostgreSQL `numeric`.
///
/// Held as its canonical text, the way PostgreSQL prints it: an optional `-`, the integer
/// digits without leading zeros, and the fraction digits with their trailing zeros (the scale
/// is part of the value: `1.50` and `1.5` are different `Numeric`s), or `NaN`, `Infinity`,
/// `-Infinity`. Equality is textual.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Numeric(String);

/// PostgreSQL's limits: digits before the decimal point, digits after it.
const NUMERIC_MAX_WEIGHT: i64 = 131_072;
const NUMERIC_MAX_SCALE: i64 = 16_383;

impl Numeric {
    /// The canonical text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_nan(&self) -> bool {
        self.0 == "NaN"
    }

    /// False for `NaN` and the infinities.
    pub fn is_finite(&self) -> bool {
        !matches!(self.0.as_str(), "NaN" | "Infinity" | "-Infinity")
    }

    /// The nearest `f64` (infinite beyond its range).
    pub fn to_f64(&self) -> f64 {
        match self.0.as_str() {
            "NaN" => f64::NAN,
            "Infinity" => f64::INFINITY,
            "-Infinity" => f64::NEG_INFINITY,
            // A canonical finite numeric is a plain decimal, which `f64` always parses.
            digits => digits.parse().unwrap_or(f64::NAN),
        }
    }

    /// Parses and normalizes: optional sign, digits with an optional fraction (`.5` and `5.`
    /// too), optional exponent (`1.5e3` is `1500`, `1.50e1` is `15.0`), or `NaN`, `Infinity`,
    /// `inf` with an optional sign, case-insensitive. Beyond PostgreSQL's limits (131072
    /// digits before the point, 16383 after) is an error.
    fn normalize(s: &str) -> Result<String, &'static str> {
        if s.eq_ignore_ascii_case("nan") {
            return Ok("NaN".into());
        }
        for (spelling, canonical) in [
            ("infinity", "Infinity"),
            ("+infinity", "Infinity"),
            ("inf", "Infinity"),
            ("+inf", "Infinity"),
            ("-infinity", "-Infinity"),
            ("-inf", "-Infinity"),
        ] {
            if s.eq_ignore_ascii_case(spelling) {
                return Ok(canonical.into());
            }
        }
        let (negative, unsigned) = match s.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, s.strip_prefix('+').unwrap_or(s)),
        };
        let (mantissa, exponent) = match unsigned.split_once(['e', 'E']) {
            Some((mantissa, exponent)) => (mantissa, Some(exponent)),
            None => (unsigned, None),
        };
        let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        if !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()) {
            return Err("unexpected character");
        }
        if int.is_empty() && frac.is_empty() {
            return Err("no digits");
        }
        let exponent: i64 = match exponent {
            None => 0,
            Some(e) => {
                let digits = e.strip_prefix(['+', '-']).unwrap_or(e);
                if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                    return Err("malformed exponent");
                }
                if digits.len() > 9 {
                    return Err("exponent out of range");
                }
                e.parse().map_err(|_| "malformed exponent")?
            }
        };
        let int = int.trim_start_matches('0');
        // The value is 0.{int}{frac} * 10^point; the scale is the fraction's length.
        let digits = [int, frac].concat();
        let point = int.len() as i64 + exponent;
        let scale = (frac.len() as i64 - exponent).max(0);
        if point > NUMERIC_MAX_WEIGHT || scale > NUMERIC_MAX_SCALE {
            return Err("value exceeds PostgreSQL's numeric limits");
        }
        let digit = |i: i64| -> char {
            usize::try_from(i)
                .ok()
                .and_then(|i| digits.as_bytes().get(i))
                .map_or('0', |&b| char::from(b))
        };
        let mut out = String::with_capacity((point.max(1) + scale + 2) as usize);
        if negative && digits.bytes().any(|b| b != b'0') {
            out.push('-');
        }
        let integer: String = (0..point).map(digit).collect();
        match integer.trim_start_matches('0') {
            "" => out.push('0'),
            significant => out.push_str(significant),
        }
        if scale > 0 {
            out.push('.');
            out.extend((point..point + scale).map(digit));
        }
        Ok(out)
    }
}

impl FromStr for Numeric {
    type Err = InvalidValue;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::normalize(s).map(Self).map_err(|reason| InvalidValue {
            oid: oid::NUMERIC,
            reason: reason.into(),
        })
    }
}

impl fmt::Display for Numeric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

macro_rules! numeric_from_integer {
    ($($t:ty),*) => {$(
        impl From<$t> for Numeric {
            fn from(v: $t) -> Self {
                Self(v.to_string())
            }
        }
    )*};
}

numeric_from_integer!(i16, i32, i64, i128, u16, u32, u64, u128);

/// The shortest decimal that reads back as the same `f64` (`0.1`, not the binary value's
/// full expansion); `NaN` and the infinities map to their numeric counterparts, `-0.0` to
/// `0`. Infallible, so `Numeric::try_from(f64)` works as well.
impl From<f64> for Numeric {
    fn from(v: f64) -> Self {
        if v.is_nan() {
            return Self("NaN".into());
        }
        if v.is_infinite() {
            return Self(if v < 0.0 { "-Infinity" } else { "Infinity" }.into());
        }
        if v == 0.0 {
            return Self("0".into());
        }
        // `Display` of a finite nonzero f64 is the shortest round-trip digits in plain
        // notation, without leading zeros or `+`: already canonical.
        Self(v.to_string())
    }
}

impl SqlType for Numeric {
    const OID: Oid = oid::NUMERIC;
}

impl ToSql for Numeric {
    fn sql_type(&self) -> Oid {
        oid::NUMERIC
    }

    fn to_sql(&self, out: &mut String) -> Result<IsNull, BoxError> {
        out.push_str(&self.0);
        Ok(IsNull::No)
    }
}

impl FromSql<'_> for Numeric {
    fn from_sql(ty: Oid, raw: &str) -> Result<Self, BoxError> {
        check_type::<Self>(ty)?;
        Ok(raw.parse::<Self>()?)
    }

    fn accepts(ty: Oid) -> bool {
        ty == oid::NUMERIC
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::super::{InvalidValue, WrongType};
    use super::*;

    #[test]
    fn numeric_round_trip() {
        let long = format!("-{}.{}", "9876543210".repeat(60), "0123456789".repeat(40));
        assert_eq!(long.len(), 1002);
        let n: Numeric = long.parse().expect("numeric");
        assert_eq!(n.as_str(), long);
        assert_eq!(round_trip(n), long);
        for s in [
            "0",
            "1.50",
            "-0.001",
            "12345678901234567890.000",
            "NaN",
            "Infinity",
            "-Infinity",
        ] {
            let n: Numeric = s.parse().expect(s);
            assert_eq!(round_trip(n.clone()), s);
            assert_eq!(n.to_string(), s);
        }
    }

    #[test]
    fn numeric_normalization() {
        for (input, canonical) in [
            ("+1.50", "1.50"),
            ("-0", "0"),
            ("-0.00", "0.00"),
            ("00012", "12"),
            ("000.5", "0.5"),
            (".5", "0.5"),
            ("5.", "5"),
            ("1.5e3", "1500"),
            ("1.50e1", "15.0"),
            ("1e-3", "0.001"),
            ("-12.5E-1", "-1.25"),
            ("0.05e2", "5"),
            ("123e-5", "0.00123"),
            ("0e5", "0"),
            ("nan", "NaN"),
            ("inf", "Infinity"),
            ("-INFINITY", "-Infinity"),
        ] {
            let n: Numeric = input.parse().expect(input);
            assert_eq!(n.as_str(), canonical, "{input}");
        }
        for bad in [
            "",
            "-",
            "+",
            ".",
            "1.2.3",
            "1e",
            "1e+",
            "e5",
            "abc",
            "1 ",
            "1_000",
            "--1",
            "1e9999999999",
            "1e200000",
            "1e-20000",
        ] {
            let e = bad.parse::<Numeric>().expect_err(bad);
            assert_eq!(e.oid, oid::NUMERIC);
            assert!(
                is::<InvalidValue>(&decode_err::<Numeric>(oid::NUMERIC, bad)),
                "{bad}"
            );
        }
        assert!(is::<WrongType>(&decode_err::<Numeric>(oid::FLOAT8, "1")));
    }

    #[test]
    fn numeric_conversions() {
        assert_eq!(Numeric::from(i64::MIN).as_str(), "-9223372036854775808");
        assert_eq!(Numeric::from(u64::MAX).as_str(), "18446744073709551615");
        assert_eq!(Numeric::from(7i32).as_str(), "7");
        assert_eq!(Numeric::from(0.1).as_str(), "0.1");
        assert_eq!(Numeric::from(-0.0).as_str(), "0");
        assert_eq!(Numeric::from(-2.5).as_str(), "-2.5");
        assert_eq!(
            Numeric::from(1e300).as_str(),
            format!("1{}", "0".repeat(300))
        );
        assert_eq!(
            Numeric::from(5e-324).as_str(),
            format!("0.{}5", "0".repeat(323))
        );
        assert_eq!(Numeric::from(f64::NAN).as_str(), "NaN");
        assert_eq!(Numeric::from(f64::NEG_INFINITY).as_str(), "-Infinity");
        assert_eq!(Numeric::from(2.0).as_str(), "2");
        for v in [0.1, -2.5, 1e300, 5e-324, f64::MAX, 123.456] {
            let n = Numeric::from(v);
            assert_eq!(n.as_str().parse::<Numeric>().expect("canonical"), n);
            assert_eq!(n.to_f64(), v);
        }
        assert!(Numeric::from(f64::NAN).is_nan());
        assert!(Numeric::from(f64::NAN).to_f64().is_nan());
        assert!(!Numeric::from(f64::INFINITY).is_finite());
        assert_eq!(Numeric::from(f64::INFINITY).to_f64(), f64::INFINITY);
        assert!(Numeric::from(1).is_finite());
    }
}
