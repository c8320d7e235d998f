//! `bool`, the integers (`int2`, `int4`, `int8`, `oid`) and the floats (`float4`, `float8`).

use std::fmt::{self, Write as _};

use wasmpg_wire::Decimal as _;

use super::error::{check_type, invalid};
use super::{oid, BoxError, FromSql, IsNull, Oid, SqlType, ToSql};

impl SqlType for bool {
    const OID: Oid = oid::BOOL;
}

impl ToSql for bool {
    fn sql_type(&self) -> Oid {
        oid::BOOL
    }

    fn to_sql(&self, out: &mut String) -> Result<IsNull, BoxError> {
        out.push(if *self { 't' } else { 'f' });
        Ok(IsNull::No)
    }
}

impl FromSql<'_> for bool {
    fn from_sql(ty: Oid, raw: &str) -> Result<Self, BoxError> {
        check_type::<Self>(ty)?;
        match raw {
            "t" => Ok(true),
            "f" => Ok(false),
            _ => Err(invalid(ty, "expected `t` or `f`")),
        }
    }

    fn accepts(ty: Oid) -> bool {
        ty == oid::BOOL
    }
}

macro_rules! integer {
    ($t:ty, $oid:expr) => {
        impl SqlType for $t {
            const OID: Oid = $oid;
        }

        impl ToSql for $t {
            fn sql_type(&self) -> Oid {
                $oid
            }

            fn to_sql(&self, out: &mut String) -> Result<IsNull, BoxError> {
                // The wire crate's digit writer: `core::fmt` costs several times as much, per
                // parameter of every round trip.
                self.push_decimal(out);
                Ok(IsNull::No)
            }
        }

        impl FromSql<'_> for $t {
            fn from_sql(ty: Oid, raw: &str) -> Result<Self, BoxError> {
                check_type::<Self>(ty)?;
                raw.parse()
                    .map_err(|e: std::num::ParseIntError| invalid(ty, e.to_string()))
            }

            fn accepts(ty: Oid) -> bool {
                ty == $oid
            }
        }
    };
}

integer!(i16, oid::INT2);
integer!(i32, oid::INT4);
integer!(i64, oid::INT8);
integer!(u32, oid::OID);

/// Appends a finite or special float the way PostgreSQL (12+) prints it: the shortest
/// round-trip digits, in fixed notation when the decimal exponent is in `-4..fixed_below`
/// (`0.0001`, `123456789012345`), else in exponent notation with a signed exponent of at
/// least two digits (`1e-05`, `1e+300`).
fn push_float<F: fmt::Display + fmt::LowerExp>(
    out: &mut String,
    value: F,
    nan: bool,
    infinite: bool,
    negative: bool,
    fixed_below: i32,
) -> fmt::Result {
    if nan {
        out.push_str("NaN");
        return Ok(());
    }
    if infinite {
        out.push_str(if negative { "-Infinity" } else { "Infinity" });
        return Ok(());
    }
    // `{:e}` prints the shortest round-trip digits as `[-]d[.ddd]e[-]x`; `{}` prints the same
    // digits in fixed notation.
    let scientific = format!("{value:e}");
    let Some((mantissa, exponent)) = scientific.split_once('e') else {
        return write!(out, "{value}");
    };
    let Ok(exponent) = exponent.parse::<i32>() else {
        return write!(out, "{value}");
    };
    if (-4..fixed_below).contains(&exponent) {
        return write!(out, "{value}");
    }
    let sign = if exponent < 0 { '-' } else { '+' };
    write!(out, "{mantissa}e{sign}{:02}", exponent.unsigned_abs())
}

macro_rules! float {
    ($t:ty, $oid:expr, $fixed_below:expr) => {
        impl SqlType for $t {
            const OID: Oid = $oid;
        }

        impl ToSql for $t {
            fn sql_type(&self) -> Oid {
                $oid
            }

            fn to_sql(&self, out: &mut String) -> Result<IsNull, BoxError> {
                let v = *self;
                push_float(
                    out,
                    v,
                    v.is_nan(),
                    v.is_infinite(),
                    v.is_sign_negative(),
                    $fixed_below,
                )?;
                Ok(IsNull::No)
            }
        }

        impl FromSql<'_> for $t {
            fn from_sql(ty: Oid, raw: &str) -> Result<Self, BoxError> {
                check_type::<Self>(ty)?;
                match raw {
                    "NaN" => return Ok(<$t>::NAN),
                    "Infinity" => return Ok(<$t>::INFINITY),
                    "-Infinity" => return Ok(<$t>::NEG_INFINITY),
                    _ => {}
                }
                // Rust also parses `inf`, `nan`, ...: not canonical.
                let numeric = raw
                    .bytes()
                    .all(|b| b.is_ascii_digit() || matches!(b, b'+' | b'-' | b'.' | b'e' | b'E'));
                if !numeric {
                    return Err(invalid(ty, "not a decimal number, NaN or [-]Infinity"));
                }
                raw.parse()
                    .map_err(|e: std::num::ParseFloatError| invalid(ty, e.to_string()))
            }

            fn accepts(ty: Oid) -> bool {
                ty == $oid
            }
        }
    };
}

float!(f32, oid::FLOAT4, 6);
float!(f64, oid::FLOAT8, 15);

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::super::{InvalidValue, WrongType};
    use super::*;

    #[test]
    fn bool_values() {
        assert_eq!(round_trip(true), "t");
        assert_eq!(round_trip(false), "f");
        for bad in ["true", "T", "1", "", "t "] {
            assert!(
                is::<InvalidValue>(&decode_err::<bool>(oid::BOOL, bad)),
                "{bad}"
            );
        }
    }

    #[test]
    fn integers() {
        assert_eq!(round_trip(i16::MIN), "-32768");
        assert_eq!(round_trip(i16::MAX), "32767");
        assert_eq!(round_trip(i32::MIN), "-2147483648");
        assert_eq!(round_trip(0i32), "0");
        assert_eq!(round_trip(i64::MIN), "-9223372036854775808");
        assert_eq!(round_trip(i64::MAX), "9223372036854775807");
        assert_eq!(round_trip(u32::MAX), "4294967295");
        assert_eq!(decode::<i64>(oid::INT8, "-42"), -42);
        for bad in ["", "12a", "1.0", " 1", "--1", "32768"] {
            assert!(
                is::<InvalidValue>(&decode_err::<i16>(oid::INT2, bad)),
                "{bad}"
            );
        }
        assert!(is::<InvalidValue>(&decode_err::<u32>(oid::OID, "-1")));
        assert!(is::<InvalidValue>(&decode_err::<i64>(
            oid::INT8,
            "9223372036854775808"
        )));
    }

    #[test]
    fn integers_are_strict() {
        let e = decode_err::<i16>(oid::INT4, "1");
        assert_eq!(
            e.to_string(),
            "cannot convert PostgreSQL type int4 (OID 23) to Rust type i16"
        );
        let wrong = e.downcast_ref::<WrongType>().expect("WrongType");
        assert_eq!((wrong.rust, wrong.oid), ("i16", oid::INT4));
        assert!(is::<WrongType>(&decode_err::<i64>(oid::INT4, "1")));
        assert!(is::<WrongType>(&decode_err::<i32>(oid::INT8, "1")));
        assert!(is::<WrongType>(&decode_err::<u32>(oid::INT4, "1")));
        assert!(is::<WrongType>(&decode_err::<f64>(oid::FLOAT4, "1")));
        assert!(is::<WrongType>(&decode_err::<f64>(oid::NUMERIC, "1")));
        assert_eq!(
            decode_err::<String>(oid::BYTEA, "x").to_string(),
            "cannot convert PostgreSQL type bytea (OID 17) to Rust type String"
        );
        assert_eq!(
            decode_err::<i32>(16385, "1").to_string(),
            "cannot convert PostgreSQL type with OID 16385 to Rust type i32"
        );
    }

    #[test]
    fn float8_canonical() {
        for (value, canonical) in [
            (1.5, "1.5"),
            (0.1, "0.1"),
            (-2.0, "-2"),
            (0.0, "0"),
            (-0.0, "-0"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (0.000012345, "1.2345e-05"),
            (123456789012345.0, "123456789012345"),
            (1e15, "1e+15"),
            (1.5e15, "1.5e+15"),
            (1e300, "1e+300"),
            (5e-324, "5e-324"),
            (f64::MAX, "1.7976931348623157e+308"),
            (f64::MIN_POSITIVE, "2.2250738585072014e-308"),
            (0.30000000000000004, "0.30000000000000004"),
            (f64::INFINITY, "Infinity"),
            (f64::NEG_INFINITY, "-Infinity"),
        ] {
            assert_eq!(round_trip(value), canonical, "{value:e}");
        }
        let nan = text(&f64::NAN);
        assert_eq!(nan, "NaN");
        assert!(decode::<f64>(oid::FLOAT8, &nan).is_nan());
        let zero: f64 = decode(oid::FLOAT8, "-0");
        assert!(zero == 0.0 && zero.is_sign_negative());
        // Forms the server may also print.
        assert_eq!(decode::<f64>(oid::FLOAT8, "1e300"), 1e300);
        assert_eq!(decode::<f64>(oid::FLOAT8, "1E+300"), 1e300);
        assert_eq!(decode::<f64>(oid::FLOAT8, ".5"), 0.5);
        for bad in [
            "", "inf", "infinity", "nan", "NAN", "1,5", "0x10", "1e", " 1",
        ] {
            assert!(
                is::<InvalidValue>(&decode_err::<f64>(oid::FLOAT8, bad)),
                "{bad}"
            );
        }
    }

    #[test]
    fn float4_canonical() {
        for (value, canonical) in [
            (1.5f32, "1.5"),
            (0.1, "0.1"),
            (-0.0, "-0"),
            (123456.0, "123456"),
            (1e6, "1e+06"),
            (1234567.0, "1.234567e+06"),
            (f32::MAX, "3.4028235e+38"),
            (1e-45, "1e-45"),
            (f32::MIN_POSITIVE, "1.1754944e-38"),
            (f32::NEG_INFINITY, "-Infinity"),
        ] {
            assert_eq!(round_trip(value), canonical, "{value:e}");
        }
        assert!(decode::<f32>(oid::FLOAT4, "NaN").is_nan());
    }

    #[test]
    fn floats_round_trip_bit_exactly() {
        // A deterministic spread of bit patterns, subnormals and extremes included.
        let mut bits = 0x0123_4567_89ab_cdefu64;
        for _ in 0..2000 {
            bits = bits
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            for value in [f64::from_bits(bits), f64::from_bits(bits >> 12)] {
                let raw = text(&value);
                let back: f64 = decode(oid::FLOAT8, &raw);
                assert!(
                    back.to_bits() == value.to_bits() || (value.is_nan() && back.is_nan()),
                    "{value:e} via {raw}"
                );
            }
            let single = f32::from_bits((bits >> 32) as u32);
            let back: f32 = decode(oid::FLOAT4, &text(&single));
            assert!(back.to_bits() == single.to_bits() || single.is_nan());
        }
    }
}
