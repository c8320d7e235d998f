//! Typed values: conversion between Rust values and the canonical form.
//!
//! Every value crosses between host and guest as a string in the *canonical form* of its
//! PostgreSQL type (see `record row-batch` in `wit/driver.wit`): result fields arrive in it and
//! parameters leave in it, whatever the session's `DateStyle`, `bytea_output` or
//! `extra_float_digits`. [`ToSql`] appends the canonical form of a Rust value to a parameter
//! row and names the type to declare; [`FromSql`] reads a Rust value back from a field. SQL NULL
//! never reaches either as text: it is [`IsNull::Yes`] on the way out and
//! [`FromSql::from_sql_null`] on the way in.
//!
//! | Rust type | PostgreSQL type (declared) | Canonical form |
//! |---|---|---|
//! | `bool` | `bool` | `t`, `f` |
//! | `i16`, `i32`, `i64` | `int2`, `int4`, `int8` | decimal |
//! | `u32` | `oid` | decimal |
//! | `f32`, `f64` | `float4`, `float8` | shortest round-trip decimal as PostgreSQL prints it (`1.5`, `1e+300`, `-0`), `NaN`, `Infinity`, `-Infinity` |
//! | [`Numeric`] | `numeric` | exact plain decimal (`-12.340`), `NaN`, `Infinity`, `-Infinity` |
//! | `String`, `&str` | `text` (reads every type but `bytea`) | the server's text output |
//! | [`Unknown`] | unspecified (0): the server infers it | the text as given |
//! | `Vec<u8>`, `&[u8]` | `bytea` | each byte as the code point of its value (latin-1) |
//! | `NaiveDate` | `date` | `YYYY-MM-DD[ BC]` |
//! | `NaiveTime` | `time` | `HH:MM:SS[.ffffff]` |
//! | [`TimeTz`] | `timetz` | `HH:MM:SS[.ffffff]+HH:MM[:SS]` |
//! | `NaiveDateTime` | `timestamp` | `YYYY-MM-DD HH:MM:SS[.ffffff][ BC]` |
//! | `DateTime<Utc>`, `DateTime<FixedOffset>` | `timestamptz` | `YYYY-MM-DD HH:MM:SS[.ffffff]+HH:MM[:SS][ BC]` |
//! | [`Date<T>`], [`Timestamp<T>`] | as `T` | as `T`, or `infinity`, `-infinity` |
//! | [`Interval`] | `interval` | `months days microseconds` |
//! | `uuid::Uuid` | `uuid` | lowercase hyphenated |
//! | `serde_json::Value` | `jsonb` (reads `json` too) | JSON text |
//! | `Option<T>` | as `T`, also for `None` | NULL for `None` |
//! | `Vec<T>`, `&[T]`, [`Array<T>`] | the array type of `T` | JSON list (nested per dimension) of element canonical forms as JSON strings, or `null` |
//!
//! Dates and timestamps: the fraction has exactly six digits and is omitted when zero;
//! sub-microsecond precision of chrono values is truncated. Years before 1 carry a ` BC`
//! suffix: chrono's proleptic year 0 is 1 BC, year -43 is 44 BC. Years above 9999 have more
//! digits. `infinity` and `-infinity` need [`Date`] or [`Timestamp`]; time `24:00:00` has no
//! chrono equivalent and is an error, as are chrono leap seconds on the way out.
//!
//! Reading is strict: each Rust type accepts exactly the PostgreSQL types listed for it (`i64`
//! does not read `int4`), except `String` and `&str`, which read the canonical text of any type
//! but `bytea`. A mismatch is a [`WrongType`] error, a NULL read into a non-`Option` type is
//! [`WasNull`], a malformed canonical string is [`InvalidValue`] and a well-formed value the
//! other side cannot hold is [`Unrepresentable`]. No input makes a conversion panic.
//!
//! The chrono, `uuid` and `serde_json` rows need the crate features `with-chrono`, `with-uuid`
//! and `with-serde_json` (all on by default). Without one of them, values of its PostgreSQL
//! types still read as `String` and are sent as text, with [`Unknown`] where the server must
//! infer the type.
//!
//! Modules, one per type family:
//! - this one: the traits, the known OIDs and their names, references, boxes and `Option`;
//! - [`oid`]: the type OID constants;
//! - `error`: [`WasNull`], [`WrongType`], [`InvalidValue`], [`Unrepresentable`];
//! - `primitive`: `bool`, the integers, the floats;
//! - `text`: `str`, `String`, [`Unknown`];
//! - `bytea`: `[u8]`, `Vec<u8>`;
//! - `numeric`: [`Numeric`];
//! - `chrono` (`with-chrono`): dates, times, timestamps, [`TimeTz`], [`Date`], [`Timestamp`];
//! - `interval`: [`Interval`];
//! - `uuid` (`with-uuid`): `uuid::Uuid`;
//! - `serde_json` (`with-serde_json`): `serde_json::Value`;
//! - `array`: `Vec<T>`, `[T]`, [`Array`]; `json_list`: the JSON form arrays travel in.

use std::fmt;

mod array;
mod bytea;
#[cfg(feature = "with-chrono")]
mod chrono;
mod error;
mod interval;
mod json_list;
mod numeric;
pub mod oid;
mod primitive;
#[cfg(feature = "with-serde_json")]
mod serde_json;
#[cfg(test)]
mod testing;
mod text;
#[cfg(feature = "with-uuid")]
mod uuid;

#[cfg(feature = "with-chrono")]
pub use self::chrono::{Date, TimeTz, Timestamp};
pub use array::Array;
use error::check_type;
pub use error::{InvalidValue, Unrepresentable, WasNull, WrongType};
pub use interval::Interval;
pub use numeric::Numeric;
pub use text::Unknown;

/// A PostgreSQL type OID.
pub type Oid = u32;

/// Every known type: (OID, name, its array's name, its array's OID or 0 when it has none).
const TYPES: [(Oid, &str, &str, Oid); 24] = [
    (oid::BOOL, "bool", "_bool", oid::BOOL_ARRAY),
    (oid::BYTEA, "bytea", "_bytea", oid::BYTEA_ARRAY),
    (oid::CHAR, "char", "_char", oid::CHAR_ARRAY),
    (oid::NAME, "name", "_name", oid::NAME_ARRAY),
    (oid::INT8, "int8", "_int8", oid::INT8_ARRAY),
    (oid::INT2, "int2", "_int2", oid::INT2_ARRAY),
    (oid::INT4, "int4", "_int4", oid::INT4_ARRAY),
    (oid::TEXT, "text", "_text", oid::TEXT_ARRAY),
    (oid::OID, "oid", "_oid", oid::OID_ARRAY),
    (oid::JSON, "json", "_json", oid::JSON_ARRAY),
    (oid::FLOAT4, "float4", "_float4", oid::FLOAT4_ARRAY),
    (oid::FLOAT8, "float8", "_float8", oid::FLOAT8_ARRAY),
    (oid::UNKNOWN, "unknown", "", 0),
    (oid::BPCHAR, "bpchar", "_bpchar", oid::BPCHAR_ARRAY),
    (oid::VARCHAR, "varchar", "_varchar", oid::VARCHAR_ARRAY),
    (oid::DATE, "date", "_date", oid::DATE_ARRAY),
    (oid::TIME, "time", "_time", oid::TIME_ARRAY),
    (
        oid::TIMESTAMP,
        "timestamp",
        "_timestamp",
        oid::TIMESTAMP_ARRAY,
    ),
    (
        oid::TIMESTAMPTZ,
        "timestamptz",
        "_timestamptz",
        oid::TIMESTAMPTZ_ARRAY,
    ),
    (oid::INTERVAL, "interval", "_interval", oid::INTERVAL_ARRAY),
    (oid::TIMETZ, "timetz", "_timetz", oid::TIMETZ_ARRAY),
    (oid::NUMERIC, "numeric", "_numeric", oid::NUMERIC_ARRAY),
    (oid::UUID, "uuid", "_uuid", oid::UUID_ARRAY),
    (oid::JSONB, "jsonb", "_jsonb", oid::JSONB_ARRAY),
];

/// The array type whose elements are `element`, if known.
pub const fn array_oid(element: Oid) -> Option<Oid> {
    let mut i = 0;
    while i < TYPES.len() {
        if TYPES[i].0 == element && TYPES[i].3 != 0 {
            return Some(TYPES[i].3);
        }
        i += 1;
    }
    None
}

/// The element type of the array type `array`, if known.
pub const fn element_oid(array: Oid) -> Option<Oid> {
    let mut i = 0;
    while i < TYPES.len() {
        if TYPES[i].3 == array && array != 0 {
            return Some(TYPES[i].0);
        }
        i += 1;
    }
    None
}

/// The name of a known type: `"int4"`, `"_int4"` for its array, ...
pub const fn type_name(oid: Oid) -> Option<&'static str> {
    let mut i = 0;
    while i < TYPES.len() {
        if TYPES[i].0 == oid {
            return Some(TYPES[i].1);
        }
        if TYPES[i].3 == oid && oid != 0 {
            return Some(TYPES[i].2);
        }
        i += 1;
    }
    None
}

/// The error type of conversions.
pub type BoxError = Box<dyn std::error::Error + Sync + Send>;

/// Whether [`ToSql::to_sql`] produced a value or SQL NULL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IsNull {
    Yes,
    No,
}

/// The PostgreSQL type a Rust type maps to, known without a value: what an `Option::None`
/// or an empty array declares.
pub trait SqlType {
    /// The type OID; 0 lets the server infer it from the SQL.
    const OID: Oid;
}

/// A Rust value that can be sent as a parameter.
pub trait ToSql: fmt::Debug {
    /// The type OID to declare for this parameter; 0 lets the server infer it from the SQL.
    fn sql_type(&self) -> Oid;

    /// Appends the canonical form to `out` (nothing when returning [`IsNull::Yes`]).
    fn to_sql(&self, out: &mut String) -> Result<IsNull, BoxError>;
}

/// A Rust value that can be read from a result field.
pub trait FromSql<'a>: Sized {
    /// Reads a non-NULL field of type `ty` from its canonical form.
    fn from_sql(ty: Oid, raw: &'a str) -> Result<Self, BoxError>;

    /// Reads a NULL field of type `ty`; only `Option` accepts it.
    fn from_sql_null(ty: Oid) -> Result<Self, BoxError> {
        check_type::<Self>(ty)?;
        Err(Box::new(WasNull))
    }

    /// Whether fields of type `ty` can be read into this type.
    fn accepts(ty: Oid) -> bool;
}

/// A [`FromSql`] type that borrows nothing from the field; array elements need it.
pub trait FromSqlOwned: for<'a> FromSql<'a> {}

impl<T: for<'a> FromSql<'a>> FromSqlOwned for T {}

// ---------------------------------------------------------------------------------------------
// References, boxes, Option

impl<T: SqlType + ?Sized> SqlType for &T {
    const OID: Oid = T::OID;
}

impl<T: ToSql + ?Sized> ToSql for &T {
    fn sql_type(&self) -> Oid {
        (**self).sql_type()
    }

    fn to_sql(&self, out: &mut String) -> Result<IsNull, BoxError> {
        (**self).to_sql(out)
    }
}

impl<T: SqlType + ?Sized> SqlType for Box<T> {
    const OID: Oid = T::OID;
}

impl<T: ToSql + ?Sized> ToSql for Box<T> {
    fn sql_type(&self) -> Oid {
        (**self).sql_type()
    }

    fn to_sql(&self, out: &mut String) -> Result<IsNull, BoxError> {
        (**self).to_sql(out)
    }
}

impl<T: SqlType> SqlType for Option<T> {
    const OID: Oid = T::OID;
}

impl<T: ToSql + SqlType> ToSql for Option<T> {
    fn sql_type(&self) -> Oid {
        T::OID
    }

    fn to_sql(&self, out: &mut String) -> Result<IsNull, BoxError> {
        match self {
            Some(value) => value.to_sql(out),
            None => Ok(IsNull::Yes),
        }
    }
}

impl<'a, T: FromSql<'a>> FromSql<'a> for Option<T> {
    fn from_sql(ty: Oid, raw: &'a str) -> Result<Self, BoxError> {
        T::from_sql(ty, raw).map(Some)
    }

    fn from_sql_null(ty: Oid) -> Result<Self, BoxError> {
        check_type::<Self>(ty)?;
        Ok(None)
    }

    fn accepts(ty: Oid) -> bool {
        T::accepts(ty)
    }
}

#[cfg(test)]
mod tests {
    use super::testing::*;
    use super::*;

    // The tests that mix every family need them all.
    #[cfg(all(
        feature = "with-chrono",
        feature = "with-uuid",
        feature = "with-serde_json"
    ))]
    use ::{
        chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, Utc},
        serde_json::Value,
        uuid::Uuid,
    };

    #[test]
    fn oid_tables() {
        for (element, name, array_name, array) in TYPES {
            assert_eq!(type_name(element), Some(name));
            if array == 0 {
                assert_eq!(array_oid(element), None);
                continue;
            }
            assert_eq!(array_oid(element), Some(array), "{name}");
            assert_eq!(element_oid(array), Some(element), "{name}");
            assert_eq!(type_name(array), Some(array_name));
            assert_eq!(array_name, format!("_{name}"));
            assert_eq!(element_oid(element), None);
        }
        assert_eq!(type_name(oid::INT4), Some("int4"));
        assert_eq!(type_name(oid::INT4_ARRAY), Some("_int4"));
        assert_eq!(type_name(oid::JSON_ARRAY), Some("_json"));
        assert_eq!(type_name(0), None);
        assert_eq!(type_name(16385), None);
        assert_eq!(array_oid(0), None);
        assert_eq!(element_oid(0), None);
        assert_eq!(array_oid(oid::UNKNOWN), None);
    }

    #[cfg(all(
        feature = "with-chrono",
        feature = "with-uuid",
        feature = "with-serde_json"
    ))]
    #[test]
    fn declared_types() {
        assert_eq!(true.sql_type(), oid::BOOL);
        assert_eq!(1i16.sql_type(), oid::INT2);
        assert_eq!(1i32.sql_type(), oid::INT4);
        assert_eq!(1i64.sql_type(), oid::INT8);
        assert_eq!(1u32.sql_type(), oid::OID);
        assert_eq!(1f32.sql_type(), oid::FLOAT4);
        assert_eq!(1f64.sql_type(), oid::FLOAT8);
        assert_eq!("x".sql_type(), oid::TEXT);
        assert_eq!(String::new().sql_type(), oid::TEXT);
        assert_eq!(Unknown("x").sql_type(), 0);
        assert_eq!(vec![1u8].sql_type(), oid::BYTEA);
        assert_eq!([1u8][..].sql_type(), oid::BYTEA);
        assert_eq!(vec![1i32].sql_type(), oid::INT4_ARRAY);
        assert_eq!([1i64][..].sql_type(), oid::INT8_ARRAY);
        assert_eq!(Vec::<String>::new().sql_type(), oid::TEXT_ARRAY);
        assert_eq!(vec![Some("a"), None].sql_type(), oid::TEXT_ARRAY);
        assert_eq!(vec![vec![1u8]].sql_type(), oid::BYTEA_ARRAY);
        assert_eq!(vec![Unknown("a")].sql_type(), 0);
        assert_eq!(None::<i64>.sql_type(), oid::INT8);
        assert_eq!(None::<Vec<Uuid>>.sql_type(), oid::UUID_ARRAY);
        assert_eq!(Value::Null.sql_type(), oid::JSONB);
        assert_eq!(Date::<NaiveDate>::PosInfinity.sql_type(), oid::DATE);
        assert_eq!(
            Timestamp::<DateTime<Utc>>::NegInfinity.sql_type(),
            oid::TIMESTAMPTZ
        );
        assert_eq!(Array::<f64>::default().sql_type(), oid::FLOAT8_ARRAY);
        assert_eq!(Box::new(5i16).sql_type(), oid::INT2);
        // As the host sees a parameter list.
        let params: [&(dyn ToSql + Sync); 3] = [&1i32, &"x", &None::<bool>];
        let types: Vec<Oid> = params.iter().map(|p| p.sql_type()).collect();
        assert_eq!(types, [oid::INT4, oid::TEXT, oid::BOOL]);
        assert_eq!(encode(params[2]), None);
    }

    #[cfg(all(
        feature = "with-chrono",
        feature = "with-uuid",
        feature = "with-serde_json"
    ))]
    #[test]
    fn accepted_types() {
        assert!(bool::accepts(oid::BOOL) && !bool::accepts(oid::TEXT));
        assert!(f32::accepts(oid::FLOAT4) && !f32::accepts(oid::FLOAT8));
        assert!(String::accepts(oid::INT4) && String::accepts(16385) && String::accepts(0));
        assert!(!String::accepts(oid::BYTEA) && String::accepts(oid::BYTEA_ARRAY));
        assert!(Vec::<u8>::accepts(oid::BYTEA) && !Vec::<u8>::accepts(oid::INT4_ARRAY));
        assert!(Value::accepts(oid::JSON) && Value::accepts(oid::JSONB));
        assert!(!Value::accepts(oid::TEXT));
        assert!(DateTime::<Utc>::accepts(oid::TIMESTAMPTZ));
        assert!(!DateTime::<Utc>::accepts(oid::TIMESTAMP));
        assert!(Date::<NaiveDate>::accepts(oid::DATE) && !Date::<NaiveDate>::accepts(oid::TEXT));
        assert!(Option::<i32>::accepts(oid::INT4) && !Option::<i32>::accepts(oid::INT8));
        assert!(Vec::<i32>::accepts(oid::INT4_ARRAY));
        assert!(Vec::<Option<i32>>::accepts(oid::INT4_ARRAY));
        assert!(!Vec::<i32>::accepts(oid::TEXT_ARRAY));
        assert!(!Vec::<i32>::accepts(oid::INT4));
        assert!(Vec::<String>::accepts(oid::NAME_ARRAY));
        assert!(!Vec::<String>::accepts(oid::BYTEA_ARRAY));
        assert!(Vec::<Vec<u8>>::accepts(oid::BYTEA_ARRAY));
        assert!(Array::<Value>::accepts(oid::JSON_ARRAY) && !Array::<Value>::accepts(oid::JSON));
        assert!(!Array::<i64>::accepts(oid::INT4_ARRAY));
        // The element type is checked even when there is no element to convert.
        assert!(is::<WrongType>(&decode_err::<Vec<i32>>(
            oid::TEXT_ARRAY,
            "[]"
        )));
        assert!(is::<WrongType>(&decode_err::<Array<i32>>(
            oid::TEXT_ARRAY,
            "[]"
        )));
    }

    #[test]
    fn options_and_nulls() {
        assert_eq!(encode(&None::<i32>), None);
        assert_eq!(round_trip(Some(5i32)), "5");
        assert_eq!(Option::<i32>::from_sql_null(oid::INT4).expect("null"), None);
        assert_eq!(decode::<Option<String>>(oid::TEXT, "x"), Some("x".into()));
        let e = i32::from_sql_null(oid::INT4).expect_err("WasNull");
        assert!(is::<WasNull>(&e));
        assert_eq!(
            e.to_string(),
            "a NULL value was read into a non-Option type"
        );
        assert!(is::<WrongType>(
            &Option::<i16>::from_sql_null(oid::INT4).expect_err("type")
        ));
        assert!(is::<WrongType>(
            &i16::from_sql_null(oid::INT4).expect_err("type")
        ));
        assert!(is::<WasNull>(
            &String::from_sql_null(oid::TEXT).expect_err("null")
        ));
    }

    #[cfg(all(
        feature = "with-chrono",
        feature = "with-uuid",
        feature = "with-serde_json"
    ))]
    /// Every reader against every type with garbage: errors, never panics.
    #[test]
    fn garbage_never_panics() {
        let pieces = [
            "",
            "0",
            "-",
            "+",
            ".",
            "e",
            ":",
            " ",
            " BC",
            "infinity",
            "[",
            "]",
            "\"",
            "null",
            ",",
            "99",
            "24:00:00",
            "2024-01-02",
            "\u{ff}",
            "\u{100}",
            "9999999999",
            "[[",
            "]]",
            "NaN",
        ];
        let mut inputs = Vec::new();
        for a in pieces {
            for b in pieces {
                for c in ["", "-", ":", " ", "+05:30", "\"]"] {
                    inputs.push(format!("{a}{c}{b}"));
                }
            }
        }
        let oids: Vec<Oid> = TYPES
            .iter()
            .flat_map(|t| [t.0, t.3])
            .chain([0, 16385])
            .collect();
        let mut errors = 0usize;
        for raw in &inputs {
            for &ty in &oids {
                macro_rules! try_all {
                    ($($t:ty),*) => {$(
                        errors += usize::from(<$t>::from_sql(ty, raw).is_err());
                    )*};
                }
                try_all!(
                    bool,
                    i16,
                    i32,
                    i64,
                    u32,
                    f32,
                    f64,
                    String,
                    Vec<u8>,
                    Numeric,
                    NaiveDate,
                    NaiveTime,
                    NaiveDateTime,
                    DateTime<Utc>,
                    DateTime<FixedOffset>,
                    TimeTz,
                    Interval,
                    Uuid,
                    Value,
                    Date<NaiveDate>,
                    Timestamp<NaiveDateTime>,
                    Vec<i32>,
                    Vec<Option<String>>,
                    Vec<Vec<u8>>,
                    Array<NaiveDate>,
                    Array<f64>
                );
            }
        }
        assert!(errors > inputs.len() * oids.len() * 20);
    }
}
