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

use std::error::Error;
use std::fmt::{self, Write as _};
use std::str::FromStr;

use chrono::{
    DateTime, Datelike, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, Offset, TimeDelta,
    TimeZone, Timelike, Utc,
};
use serde_json::Value;
use uuid::Uuid;

/// A PostgreSQL type OID.
pub type Oid = u32;

/// Type OIDs, the same numbers as the guest's codec.
pub mod oid {
    use super::Oid;

    pub const BOOL: Oid = 16;
    pub const BYTEA: Oid = 17;
    pub const CHAR: Oid = 18;
    pub const NAME: Oid = 19;
    pub const INT8: Oid = 20;
    pub const INT2: Oid = 21;
    pub const INT4: Oid = 23;
    pub const TEXT: Oid = 25;
    pub const OID: Oid = 26;
    pub const JSON: Oid = 114;
    pub const FLOAT4: Oid = 700;
    pub const FLOAT8: Oid = 701;
    pub const UNKNOWN: Oid = 705;
    pub const BPCHAR: Oid = 1042;
    pub const VARCHAR: Oid = 1043;
    pub const DATE: Oid = 1082;
    pub const TIME: Oid = 1083;
    pub const TIMESTAMP: Oid = 1114;
    pub const TIMESTAMPTZ: Oid = 1184;
    pub const INTERVAL: Oid = 1186;
    pub const TIMETZ: Oid = 1266;
    pub const NUMERIC: Oid = 1700;
    pub const UUID: Oid = 2950;
    pub const JSONB: Oid = 3802;

    pub const BOOL_ARRAY: Oid = 1000;
    pub const BYTEA_ARRAY: Oid = 1001;
    pub const CHAR_ARRAY: Oid = 1002;
    pub const NAME_ARRAY: Oid = 1003;
    pub const INT2_ARRAY: Oid = 1005;
    pub const INT4_ARRAY: Oid = 1007;
    pub const TEXT_ARRAY: Oid = 1009;
    pub const BPCHAR_ARRAY: Oid = 1014;
    pub const VARCHAR_ARRAY: Oid = 1015;
    pub const INT8_ARRAY: Oid = 1016;
    pub const FLOAT4_ARRAY: Oid = 1021;
    pub const FLOAT8_ARRAY: Oid = 1022;
    pub const OID_ARRAY: Oid = 1028;
    pub const TIMESTAMP_ARRAY: Oid = 1115;
    pub const DATE_ARRAY: Oid = 1182;
    pub const TIME_ARRAY: Oid = 1183;
    pub const TIMESTAMPTZ_ARRAY: Oid = 1185;
    pub const INTERVAL_ARRAY: Oid = 1187;
    pub const NUMERIC_ARRAY: Oid = 1231;
    pub const TIMETZ_ARRAY: Oid = 1270;
    pub const UUID_ARRAY: Oid = 2951;
    pub const JSON_ARRAY: Oid = 199;
    pub const JSONB_ARRAY: Oid = 3807;
}

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
pub type BoxError = Box<dyn Error + Sync + Send>;

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

/// A NULL value was read into a type that is not an `Option`.
#[derive(Debug)]
pub struct WasNull;

impl fmt::Display for WasNull {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a NULL value was read into a non-Option type")
    }
}

impl Error for WasNull {}

/// A field's PostgreSQL type cannot be read into the requested Rust type.
#[derive(Debug)]
pub struct WrongType {
    /// The Rust type, as `std::any::type_name` spells it without its module path.
    pub rust: &'static str,
    pub oid: Oid,
}

impl WrongType {
    pub fn new<T: ?Sized>(oid: Oid) -> Self {
        Self {
            rust: short_type_name(std::any::type_name::<T>()),
            oid,
        }
    }
}

impl fmt::Display for WrongType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match type_name(self.oid) {
            Some(name) => write!(
                f,
                "cannot convert PostgreSQL type {name} (OID {})",
                self.oid
            )?,
            None => write!(f, "cannot convert PostgreSQL type with OID {}", self.oid)?,
        }
        write!(f, " to Rust type {}", self.rust)
    }
}

impl Error for WrongType {}

/// A string that is not a valid canonical form of its type.
#[derive(Debug)]
pub struct InvalidValue {
    pub oid: Oid,
    pub reason: String,
}

impl fmt::Display for InvalidValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "malformed {} value: {}", PgType(self.oid), self.reason)
    }
}

impl Error for InvalidValue {}

/// A well-formed value the other side cannot hold: PostgreSQL `infinity` read into a chrono
/// type, a chrono leap second sent as a parameter, a multi-dimensional array read into a
/// `Vec`, ...
#[derive(Debug)]
pub struct Unrepresentable {
    pub oid: Oid,
    pub reason: String,
}

impl fmt::Display for Unrepresentable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cannot represent {} value: {}",
            PgType(self.oid),
            self.reason
        )
    }
}

impl Error for Unrepresentable {}

/// Displays a type OID by name when it is known.
struct PgType(Oid);

impl fmt::Display for PgType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match type_name(self.0) {
            Some(name) => f.write_str(name),
            None => write!(f, "OID {}", self.0),
        }
    }
}

/// `alloc::string::String` -> `String`; generic names keep their parameters' paths.
fn short_type_name(full: &'static str) -> &'static str {
    let head = full.find('<').unwrap_or(full.len());
    match full[..head].rfind("::") {
        Some(at) => &full[at + 2..],
        None => full,
    }
}

fn check_type<'a, T: FromSql<'a>>(ty: Oid) -> Result<(), BoxError> {
    if T::accepts(ty) {
        return Ok(());
    }
    Err(Box::new(WrongType::new::<T>(ty)))
}

fn invalid(oid: Oid, reason: impl Into<String>) -> BoxError {
    Box::new(InvalidValue {
        oid,
        reason: reason.into(),
    })
}

fn unrepresentable(oid: Oid, reason: impl Into<String>) -> BoxError {
    Box::new(Unrepresentable {
        oid,
        reason: reason.into(),
    })
}

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

// ---------------------------------------------------------------------------------------------
// bool, integers, floats

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
                write!(out, "{self}")?;
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

// ---------------------------------------------------------------------------------------------
// Text

impl SqlType for str {
    const OID: Oid = oid::TEXT;
}

impl ToSql for str {
    fn sql_type(&self) -> Oid {
        oid::TEXT
    }

    fn to_sql(&self, out: &mut String) -> Result<IsNull, BoxError> {
        out.push_str(self);
        Ok(IsNull::No)
    }
}

impl SqlType for String {
    const OID: Oid = oid::TEXT;
}

impl ToSql for String {
    fn sql_type(&self) -> Oid {
        oid::TEXT
    }

    fn to_sql(&self, out: &mut String) -> Result<IsNull, BoxError> {
        self.as_str().to_sql(out)
    }
}

impl<'a> FromSql<'a> for &'a str {
    fn from_sql(ty: Oid, raw: &'a str) -> Result<Self, BoxError> {
        check_type::<Self>(ty)?;
        Ok(raw)
    }

    fn accepts(ty: Oid) -> bool {
        ty != oid::BYTEA
    }
}

impl FromSql<'_> for String {
    fn from_sql(ty: Oid, raw: &str) -> Result<Self, BoxError> {
        check_type::<Self>(ty)?;
        Ok(raw.to_owned())
    }

    fn accepts(ty: Oid) -> bool {
        ty != oid::BYTEA
    }
}

/// Text sent with an unspecified type (OID 0): the server infers the type from the SQL, as
/// for an untyped literal (`WHERE varchar_col = $1`, `$1::int`). Plain `&str` and `String`
/// declare `text`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Unknown<'a>(pub &'a str);

impl SqlType for Unknown<'_> {
    const OID: Oid = 0;
}

impl ToSql for Unknown<'_> {
    fn sql_type(&self) -> Oid {
        0
    }

    fn to_sql(&self, out: &mut String) -> Result<IsNull, BoxError> {
        out.push_str(self.0);
        Ok(IsNull::No)
    }
}

// ---------------------------------------------------------------------------------------------
// bytea

impl SqlType for [u8] {
    const OID: Oid = oid::BYTEA;
}

impl ToSql for [u8] {
    fn sql_type(&self) -> Oid {
        oid::BYTEA
    }

    fn to_sql(&self, out: &mut String) -> Result<IsNull, BoxError> {
        out.extend(self.iter().map(|&b| char::from(b)));
        Ok(IsNull::No)
    }
}

impl FromSql<'_> for Vec<u8> {
    fn from_sql(ty: Oid, raw: &str) -> Result<Self, BoxError> {
        check_type::<Self>(ty)?;
        raw.chars()
            .map(|c| u8::try_from(c).map_err(|_| invalid(ty, "character above U+00FF")))
            .collect()
    }

    fn accepts(ty: Oid) -> bool {
        ty == oid::BYTEA
    }
}

// ---------------------------------------------------------------------------------------------
// numeric

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

// ---------------------------------------------------------------------------------------------
// Dates and times: formatting

/// Appends `YYYY-MM-DD` (the year of era); returns whether the date is BC.
fn push_ymd(out: &mut String, date: NaiveDate) -> Result<bool, fmt::Error> {
    let year = date.year();
    let (shown, bc) = if year > 0 {
        (year, false)
    } else {
        (1 - year, true)
    };
    write!(out, "{shown:04}-{:02}-{:02}", date.month(), date.day())?;
    Ok(bc)
}

/// Appends `HH:MM:SS[.ffffff]`, truncating to microseconds.
fn push_hms(out: &mut String, oid: Oid, time: NaiveTime) -> Result<(), BoxError> {
    let nanos = time.nanosecond();
    if nanos >= 1_000_000_000 {
        return Err(unrepresentable(oid, "chrono leap second (second 60)"));
    }
    write!(
        out,
        "{:02}:{:02}:{:02}",
        time.hour(),
        time.minute(),
        time.second()
    )?;
    let micros = nanos / 1000;
    if micros != 0 {
        write!(out, ".{micros:06}")?;
    }
    Ok(())
}

/// Appends `+HH:MM` or `+HH:MM:SS`.
fn push_offset(out: &mut String, offset: FixedOffset) -> fmt::Result {
    let seconds = offset.local_minus_utc();
    let sign = if seconds < 0 { '-' } else { '+' };
    let abs = seconds.unsigned_abs();
    write!(out, "{sign}{:02}:{:02}", abs / 3600, abs / 60 % 60)?;
    if !abs.is_multiple_of(60) {
        write!(out, ":{:02}", abs % 60)?;
    }
    Ok(())
}

fn push_timestamp(
    out: &mut String,
    oid: Oid,
    local: NaiveDateTime,
    offset: Option<FixedOffset>,
) -> Result<(), BoxError> {
    let bc = push_ymd(out, local.date())?;
    out.push(' ');
    push_hms(out, oid, local.time())?;
    if let Some(offset) = offset {
        push_offset(out, offset)?;
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

fn parse_timestamp(oid: Oid, raw: &str) -> Result<NaiveDateTime, BoxError> {
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
        if push_ymd(out, *self)? {
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
        push_offset(&mut offset, self.offset)?;
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
        push_offset(out, self.offset)?;
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

// ---------------------------------------------------------------------------------------------
// interval

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
    pub fn from_duration(duration: TimeDelta) -> Option<Self> {
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

// ---------------------------------------------------------------------------------------------
// uuid, json

impl SqlType for Uuid {
    const OID: Oid = oid::UUID;
}

impl ToSql for Uuid {
    fn sql_type(&self) -> Oid {
        oid::UUID
    }

    fn to_sql(&self, out: &mut String) -> Result<IsNull, BoxError> {
        out.push_str(self.hyphenated().encode_lower(&mut Uuid::encode_buffer()));
        Ok(IsNull::No)
    }
}

impl FromSql<'_> for Uuid {
    fn from_sql(ty: Oid, raw: &str) -> Result<Self, BoxError> {
        check_type::<Self>(ty)?;
        Uuid::parse_str(raw).map_err(|e| invalid(ty, e.to_string()))
    }

    fn accepts(ty: Oid) -> bool {
        ty == oid::UUID
    }
}

/// Declared `jsonb`; `$1::json` casts it where `json` is wanted. Numbers follow
/// `serde_json`'s precision (an integer beyond `u64`/`i64` becomes an `f64`).
impl SqlType for Value {
    const OID: Oid = oid::JSONB;
}

impl ToSql for Value {
    fn sql_type(&self) -> Oid {
        oid::JSONB
    }

    fn to_sql(&self, out: &mut String) -> Result<IsNull, BoxError> {
        out.push_str(&serde_json::to_string(self)?);
        Ok(IsNull::No)
    }
}

impl FromSql<'_> for Value {
    fn from_sql(ty: Oid, raw: &str) -> Result<Self, BoxError> {
        check_type::<Self>(ty)?;
        serde_json::from_str(raw).map_err(|e| invalid(ty, e.to_string()))
    }

    fn accepts(ty: Oid) -> bool {
        ty == oid::JSON || ty == oid::JSONB
    }
}

// ---------------------------------------------------------------------------------------------
// Arrays

/// The array type of `element`, or 0 (the server infers it) when unknown.
const fn array_oid_or_unknown(element: Oid) -> Oid {
    match array_oid(element) {
        Some(array) => array,
        None => 0,
    }
}

impl<T: SqlType> SqlType for [T] {
    const OID: Oid = array_oid_or_unknown(T::OID);
}

impl<T> SqlType for Vec<T>
where
    [T]: SqlType,
{
    const OID: Oid = <[T] as SqlType>::OID;
}

/// A one-dimensional array.
impl<T: ToSql + SqlType> ToSql for [T] {
    fn sql_type(&self) -> Oid {
        <Self as SqlType>::OID
    }

    fn to_sql(&self, out: &mut String) -> Result<IsNull, BoxError> {
        check_scalar::<T>()?;
        let mut scratch = String::new();
        out.push('[');
        for (i, element) in self.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            push_element(out, &mut scratch, Some(element))?;
        }
        out.push(']');
        Ok(IsNull::No)
    }
}

/// `bytea` for `Vec<u8>`, a one-dimensional array otherwise.
impl<T: fmt::Debug> ToSql for Vec<T>
where
    [T]: ToSql,
{
    fn sql_type(&self) -> Oid {
        self.as_slice().sql_type()
    }

    fn to_sql(&self, out: &mut String) -> Result<IsNull, BoxError> {
        self.as_slice().to_sql(out)
    }
}

/// A one-dimensional array: an empty array reads as an empty `Vec`; a multi-dimensional one is
/// an error (read it as [`Array`]); a NULL element is an error unless `T` is an `Option`.
impl<T: FromSqlOwned> FromSql<'_> for Vec<T> {
    fn from_sql(ty: Oid, raw: &str) -> Result<Self, BoxError> {
        check_type::<Self>(ty)?;
        let element = element_oid(ty).ok_or_else(|| WrongType::new::<Self>(ty))?;
        let Value::Array(items) = parse_json(ty, raw)? else {
            return Err(invalid(ty, "not a JSON list"));
        };
        items
            .into_iter()
            .map(|item| match item {
                Value::Null => T::from_sql_null(element),
                Value::String(s) => T::from_sql(element, &s),
                Value::Array(_) => Err(unrepresentable(
                    ty,
                    "multi-dimensional array; read it as types::Array<T>",
                )),
                _ => Err(invalid(ty, "element is neither a JSON string nor null")),
            })
            .collect()
    }

    fn accepts(ty: Oid) -> bool {
        element_oid(ty).is_some_and(T::accepts)
    }
}

/// A PostgreSQL array of any number of dimensions.
///
/// `elements` holds every element in row-major order (the last index varies fastest); `dims`
/// holds the length of each dimension, outermost first, and is empty for an empty array.
/// Lower bounds are not kept (the canonical form drops them).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Array<T> {
    pub dims: Vec<usize>,
    pub elements: Vec<Option<T>>,
}

impl<T> Array<T> {
    /// Checks that `dims` describes `elements.len()` elements.
    pub fn new(dims: Vec<usize>, elements: Vec<Option<T>>) -> Result<Self, BoxError> {
        if !shape_matches(&dims, elements.len()) {
            return Err(shape_error(&dims, elements.len()));
        }
        Ok(Self { dims, elements })
    }

    /// The element at `index` (one zero-based index per dimension); `None` when out of bounds,
    /// `Some(None)` for a NULL element.
    pub fn get(&self, index: &[usize]) -> Option<Option<&T>> {
        if index.len() != self.dims.len() {
            return None;
        }
        let mut flat = 0usize;
        for (&i, &len) in index.iter().zip(&self.dims) {
            if i >= len {
                return None;
            }
            flat = flat.checked_mul(len)?.checked_add(i)?;
        }
        self.elements.get(flat).map(Option::as_ref)
    }
}

/// A one-dimensional array.
impl<T> From<Vec<Option<T>>> for Array<T> {
    fn from(elements: Vec<Option<T>>) -> Self {
        let dims = if elements.is_empty() {
            Vec::new()
        } else {
            vec![elements.len()]
        };
        Self { dims, elements }
    }
}

impl<T> Default for Array<T> {
    fn default() -> Self {
        Self {
            dims: Vec::new(),
            elements: Vec::new(),
        }
    }
}

/// An empty array: no dims (or a zero dim); otherwise the dims' product.
fn shape_matches(dims: &[usize], len: usize) -> bool {
    if len == 0 {
        return dims.is_empty() || dims.contains(&0);
    }
    !dims.is_empty() && dims.iter().try_fold(1usize, |n, &d| n.checked_mul(d)) == Some(len)
}

fn shape_error(dims: &[usize], len: usize) -> BoxError {
    format!("array dims {dims:?} do not describe {len} elements").into()
}

impl<T: SqlType> SqlType for Array<T> {
    const OID: Oid = array_oid_or_unknown(T::OID);
}

impl<T: ToSql + SqlType> ToSql for Array<T> {
    fn sql_type(&self) -> Oid {
        <Self as SqlType>::OID
    }

    fn to_sql(&self, out: &mut String) -> Result<IsNull, BoxError> {
        check_scalar::<T>()?;
        if !shape_matches(&self.dims, self.elements.len()) {
            return Err(shape_error(&self.dims, self.elements.len()));
        }
        if self.elements.is_empty() {
            out.push_str("[]");
            return Ok(IsNull::No);
        }
        push_level(out, &mut String::new(), &self.dims, &self.elements)?;
        Ok(IsNull::No)
    }
}

/// Appends one level of nesting: `dims[0]` lists of `dims[1..]`, or the elements themselves.
/// `elements.len()` is the product of `dims`, all nonzero (checked by the caller).
fn push_level<T: ToSql>(
    out: &mut String,
    scratch: &mut String,
    dims: &[usize],
    elements: &[Option<T>],
) -> Result<(), BoxError> {
    out.push('[');
    match dims {
        [] | [_] => {
            for (i, element) in elements.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                push_element(out, scratch, element.as_ref())?;
            }
        }
        [outer, inner @ ..] => {
            let chunk = elements.len() / outer;
            if chunk == 0 {
                return Err(shape_error(dims, elements.len()));
            }
            for (i, part) in elements.chunks(chunk).enumerate() {
                if i > 0 {
                    out.push(',');
                }
                push_level(out, scratch, inner, part)?;
            }
        }
    }
    out.push(']');
    Ok(())
}

impl<T: FromSqlOwned> FromSql<'_> for Array<T> {
    fn from_sql(ty: Oid, raw: &str) -> Result<Self, BoxError> {
        check_type::<Self>(ty)?;
        let element = element_oid(ty).ok_or_else(|| WrongType::new::<Self>(ty))?;
        let value = parse_json(ty, raw)?;
        // The shape is that of the first element at every level; the rest must match it.
        let mut dims = Vec::new();
        let mut cursor = &value;
        while let Value::Array(items) = cursor {
            dims.push(items.len());
            match items.first() {
                Some(first) => cursor = first,
                None => break,
            }
        }
        if dims.is_empty() {
            return Err(invalid(ty, "not a JSON list"));
        }
        if dims == [0] {
            return Ok(Self::default());
        }
        if dims.contains(&0) {
            return Err(invalid(ty, "empty sub-array"));
        }
        let mut elements = Vec::new();
        flatten(ty, element, value, &dims, &mut elements)?;
        Ok(Self { dims, elements })
    }

    fn accepts(ty: Oid) -> bool {
        element_oid(ty).is_some_and(T::accepts)
    }
}

fn flatten<T: FromSqlOwned>(
    array: Oid,
    element: Oid,
    value: Value,
    dims: &[usize],
    out: &mut Vec<Option<T>>,
) -> Result<(), BoxError> {
    let Some((&len, inner)) = dims.split_first() else {
        out.push(match value {
            Value::Null => None,
            Value::String(s) => Some(T::from_sql(element, &s)?),
            Value::Array(_) => return Err(invalid(array, "sub-arrays differ in shape")),
            _ => return Err(invalid(array, "element is neither a JSON string nor null")),
        });
        return Ok(());
    };
    match value {
        Value::Array(items) if items.len() == len => {
            for item in items {
                flatten(array, element, item, inner, out)?;
            }
            Ok(())
        }
        _ => Err(invalid(array, "sub-arrays differ in shape")),
    }
}

fn parse_json(ty: Oid, raw: &str) -> Result<Value, BoxError> {
    serde_json::from_str(raw).map_err(|e| invalid(ty, e.to_string()))
}

/// Nested `Vec`s are not arrays of arrays: multi-dimensional arrays are [`Array`]s.
fn check_scalar<T: SqlType>() -> Result<(), BoxError> {
    if element_oid(T::OID).is_none() {
        return Ok(());
    }
    Err(unrepresentable(
        T::OID,
        "an array cannot be an array element; send multi-dimensional arrays as types::Array<T>",
    ))
}

/// Appends an element: the JSON string of its canonical form, or `null`.
fn push_element<T: ToSql + ?Sized>(
    out: &mut String,
    scratch: &mut String,
    element: Option<&T>,
) -> Result<(), BoxError> {
    let Some(element) = element else {
        out.push_str("null");
        return Ok(());
    };
    scratch.clear();
    if element.to_sql(scratch)? == IsNull::Yes {
        out.push_str("null");
        return Ok(());
    }
    push_json_string(out, scratch);
    Ok(())
}

/// Appends `s` as a JSON string literal.
fn push_json_string(out: &mut String, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push('"');
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        let escape = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0x00..=0x1f => "",
            _ => continue,
        };
        // `b` is ASCII, which never occurs inside a multi-byte UTF-8 sequence: `start` and `i`
        // are char boundaries.
        out.push_str(&s[start..i]);
        if escape.is_empty() {
            out.push_str("\\u00");
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0xf)]));
        } else {
            out.push_str(escape);
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode<T: ToSql + ?Sized>(value: &T) -> Option<String> {
        let mut out = String::new();
        match value.to_sql(&mut out).expect("to_sql") {
            IsNull::Yes => {
                assert!(out.is_empty(), "NULL wrote {out:?}");
                None
            }
            IsNull::No => Some(out),
        }
    }

    fn text<T: ToSql + ?Sized>(value: &T) -> String {
        encode(value).expect("not NULL")
    }

    fn decode<T: FromSqlOwned>(ty: Oid, raw: &str) -> T {
        match T::from_sql(ty, raw) {
            Ok(v) => v,
            Err(e) => panic!("decoding {raw:?} as OID {ty}: {e}"),
        }
    }

    fn decode_err<T: FromSqlOwned + fmt::Debug>(ty: Oid, raw: &str) -> BoxError {
        match T::from_sql(ty, raw) {
            Ok(v) => panic!("{raw:?} as OID {ty} decoded to {v:?}"),
            Err(e) => e,
        }
    }

    /// to_sql, then from_sql with the declared type; returns the canonical text.
    fn round_trip<T: ToSql + SqlType + FromSqlOwned + PartialEq + fmt::Debug>(value: T) -> String {
        assert_eq!(value.sql_type(), T::OID, "{value:?}");
        let raw = text(&value);
        let back: T = decode(value.sql_type(), &raw);
        assert_eq!(back, value, "via {raw:?}");
        raw
    }

    fn is<E: Error + 'static>(e: &BoxError) -> bool {
        e.downcast_ref::<E>().is_some()
    }

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

    #[test]
    fn text_values() {
        for s in [
            "",
            "plain",
            "é ü 中文 😀",
            "tab\tnew\nline \\ \"quote\"",
            "\u{1b}\u{1e}",
        ] {
            assert_eq!(round_trip(s.to_owned()), s);
            assert_eq!(text(&s), s);
        }
        // Text reads every type's canonical form but bytea's.
        assert_eq!(decode::<String>(oid::INT4, "42"), "42");
        assert_eq!(decode::<String>(oid::INT4_ARRAY, "[\"1\"]"), "[\"1\"]");
        assert_eq!(decode::<String>(16385, "(1,2)"), "(1,2)");
        let raw = String::from("borrowed");
        let s: &str = FromSql::from_sql(oid::VARCHAR, &raw).expect("str");
        assert!(std::ptr::eq(s, raw.as_str()));
        assert!(is::<WrongType>(
            &<&str as FromSql>::from_sql(oid::BYTEA, "x").expect_err("bytea")
        ));
        assert_eq!(text(&Unknown("42")), "42");
        assert_eq!(encode(&None::<&str>), None);
    }

    #[test]
    fn bytea_values() {
        let all: Vec<u8> = (0..=255).collect();
        let raw = round_trip(all.clone());
        assert_eq!(raw.chars().count(), 256);
        assert!(raw.chars().enumerate().all(|(i, c)| c as usize == i));
        assert_eq!(text(&all[..]), raw);
        assert_eq!(text(&vec![0u8, b'A', 0xff]), "\u{0}A\u{ff}");
        assert_eq!(round_trip(Vec::<u8>::new()), "");
        let e = decode_err::<Vec<u8>>(oid::BYTEA, "ok\u{100}");
        assert!(is::<InvalidValue>(&e));
        assert!(is::<WrongType>(&decode_err::<Vec<u8>>(oid::TEXT, "x")));
    }

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

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).expect("date")
    }

    fn time(h: u32, m: u32, s: u32, micro: u32) -> NaiveTime {
        NaiveTime::from_hms_micro_opt(h, m, s, micro).expect("time")
    }

    fn offset(seconds: i32) -> FixedOffset {
        FixedOffset::east_opt(seconds).expect("offset")
    }

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
        assert_eq!(
            Interval::from_duration(TimeDelta::milliseconds(-1500)),
            Some(Interval::new(0, 0, -1_500_000))
        );
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

    #[test]
    fn uuids() {
        let u = Uuid::from_u128(0x0123_4567_89ab_cdef_fedc_ba98_7654_3210);
        assert_eq!(round_trip(u), "01234567-89ab-cdef-fedc-ba9876543210");
        assert_eq!(
            decode::<Uuid>(oid::UUID, "01234567-89AB-CDEF-FEDC-BA9876543210"),
            u
        );
        for bad in ["", "01234567-89ab-cdef-fedc-ba987654321", "not-a-uuid"] {
            assert!(
                is::<InvalidValue>(&decode_err::<Uuid>(oid::UUID, bad)),
                "{bad}"
            );
        }
        assert!(is::<WrongType>(&decode_err::<Uuid>(oid::TEXT, "x")));
    }

    #[test]
    fn json_values() {
        let v = serde_json::json!({"a": [1, 2.5, null, true], "é": "x\"y\n", "n": -7});
        let raw = round_trip(v.clone());
        assert_eq!(decode::<Value>(oid::JSON, &raw), v);
        // jsonb output spacing.
        assert_eq!(
            decode::<Value>(oid::JSONB, "{\"a\": [1, 2], \"b\": null}"),
            serde_json::json!({"a": [1, 2], "b": null})
        );
        assert_eq!(round_trip(Value::Null), "null");
        assert!(is::<InvalidValue>(&decode_err::<Value>(oid::JSONB, "{bad")));
        assert!(is::<WrongType>(&decode_err::<Value>(oid::TEXT, "{}")));
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

    #[test]
    fn one_dimensional_arrays() {
        assert_eq!(round_trip(vec![1i32, 2, 3]), "[\"1\",\"2\",\"3\"]");
        assert_eq!(text(&[1i64, -2][..]), "[\"1\",\"-2\"]");
        assert_eq!(round_trip(Vec::<i32>::new()), "[]");
        assert_eq!(
            round_trip(vec![Some(1i32), None, Some(3)]),
            "[\"1\",null,\"3\"]"
        );
        let parsed: Vec<Option<i32>> = decode(oid::INT4_ARRAY, "[\"1\",null,\"3\"]");
        assert_eq!(parsed, [Some(1), None, Some(3)]);
        let e = decode_err::<Vec<i32>>(oid::INT4_ARRAY, "[\"1\",null,\"3\"]");
        assert!(is::<WasNull>(&e), "{e}");
        assert!(is::<WrongType>(&decode_err::<Vec<i32>>(
            oid::TEXT_ARRAY,
            "[\"1\"]"
        )));
        assert!(is::<WrongType>(&decode_err::<Vec<i32>>(
            oid::INT4,
            "[\"1\"]"
        )));
        assert!(is::<WrongType>(&decode_err::<Vec<String>>(
            oid::TEXT,
            "[\"1\"]"
        )));
        for bad in [
            "{1,2}",
            "",
            "[1]",
            "[\"1\",true]",
            "{\"a\":\"1\"}",
            "\"1\"",
            "[\"x\"]",
        ] {
            assert!(
                is::<InvalidValue>(&decode_err::<Vec<i32>>(oid::INT4_ARRAY, bad)),
                "{bad}"
            );
        }
        let e = decode_err::<Vec<String>>(oid::TEXT_ARRAY, "[[\"a\",\"b\"],[\"c\",null]]");
        assert!(is::<Unrepresentable>(&e));
        assert!(e.to_string().contains("multi-dimensional array"), "{e}");
        // Strings read every array but bytea arrays.
        let names: Vec<String> = decode(oid::NAME_ARRAY, "[\"pg_class\"]");
        assert_eq!(names, ["pg_class"]);
    }

    #[test]
    fn arrays_of_every_scalar() {
        round_trip(vec![true, false]);
        round_trip(vec![i16::MIN, i16::MAX]);
        round_trip(vec![u32::MAX]);
        assert_eq!(
            round_trip(vec![f64::INFINITY, -0.0, 1e300]),
            "[\"Infinity\",\"-0\",\"1e+300\"]"
        );
        let nan: Vec<f32> = decode(oid::FLOAT4_ARRAY, &text(&vec![f32::NAN]));
        assert!(nan[0].is_nan());
        round_trip(vec![
            "1.50".parse::<Numeric>().expect("n"),
            Numeric::from(f64::NAN),
        ]);
        assert_eq!(
            round_trip(vec![date(-43, 3, 15), date(2024, 1, 2)]),
            "[\"0044-03-15 BC\",\"2024-01-02\"]"
        );
        round_trip(vec![Date::PosInfinity, Date::Value(date(10000, 1, 1))]);
        round_trip(vec![time(1, 2, 3, 4)]);
        round_trip(vec![NaiveDateTime::new(date(1, 1, 1), time(0, 0, 0, 1))]);
        round_trip(vec![
            Timestamp::NegInfinity,
            Timestamp::Value(DateTime::<Utc>::MIN_UTC),
        ]);
        round_trip(vec![TimeTz {
            time: time(1, 0, 0, 0),
            offset: offset(-45),
        }]);
        round_trip(vec![Some(Interval::new(-1, 2, -3)), None]);
        round_trip(vec![Uuid::nil(), Uuid::max()]);
        assert_eq!(
            round_trip(vec![serde_json::json!({"k": "v\""})]),
            r#"["{\"k\":\"v\\\"\"}"]"#
        );
        assert_eq!(vec![Value::Null].sql_type(), oid::JSONB_ARRAY);
        let json: Vec<Value> = decode(oid::JSON_ARRAY, "[\"[1, 2]\",\"null\"]");
        assert_eq!(json, [serde_json::json!([1, 2]), Value::Null]);
        let all: Vec<u8> = (0..=255).collect();
        let raw = round_trip(vec![all.clone(), Vec::new(), b"\\\"".to_vec()]);
        assert!(serde_json::from_str::<Value>(&raw).is_ok());
        let with_null: Vec<Option<Vec<u8>>> = decode(oid::BYTEA_ARRAY, "[null,\"\\u0000\u{ff}\"]");
        assert_eq!(with_null, [None, Some(vec![0, 255])]);
    }

    #[test]
    fn json_escaping_of_elements() {
        let strings = vec![
            "a\"b\\c".to_owned(),
            "line\nfeed\r\ttab\u{8}\u{c}".to_owned(),
            "\u{0}\u{1}\u{1b}\u{1e}\u{1f}\u{7f}".to_owned(),
            "é 中文 😀 \u{2028}".to_owned(),
            String::new(),
            "null".to_owned(),
        ];
        let raw = round_trip(strings.clone());
        let parsed: Vec<String> = serde_json::from_str(&raw).expect("valid JSON");
        assert_eq!(parsed, strings);
        assert_eq!(text(&vec!["a\"b\\c\n\u{1}"]), r#"["a\"b\\c\n\u0001"]"#);
        assert_eq!(text(&vec![Some("null"), None]), r#"["null",null]"#);
        // As the guest may escape: non-ASCII as \u escapes, surrogate pairs included.
        let v: Vec<String> = decode(oid::TEXT_ARRAY, r#"["\u00e9\ud83d\ude00","\/"]"#);
        assert_eq!(v, ["é😀", "/"]);
    }

    #[test]
    fn multi_dimensional_arrays() {
        let a: Array<String> = decode(oid::TEXT_ARRAY, r#"[["a","b"],["c",null]]"#);
        assert_eq!(a.dims, [2, 2]);
        assert_eq!(
            a.elements,
            [Some("a".into()), Some("b".into()), Some("c".into()), None]
        );
        assert_eq!(a.get(&[1, 0]), Some(Some(&"c".to_owned())));
        assert_eq!(a.get(&[1, 1]), Some(None));
        assert_eq!(a.get(&[2, 0]), None);
        assert_eq!(a.get(&[0]), None);
        assert_eq!(text(&a), r#"[["a","b"],["c",null]]"#);

        let empty: Array<i32> = decode(oid::INT4_ARRAY, "[]");
        assert_eq!(empty, Array::default());
        assert_eq!(round_trip(empty), "[]");

        let one: Array<i32> = decode(oid::INT4_ARRAY, r#"["1",null]"#);
        assert_eq!(one, Array::from(vec![Some(1), None]));
        assert_eq!(one.dims, [2]);

        // 2x3x2, row-major, with NULLs.
        let elements: Vec<Option<i64>> = (0..12).map(|i| (i % 5 != 0).then_some(i)).collect();
        let cube = Array::new(vec![2, 3, 2], elements).expect("shape");
        let raw = round_trip(cube.clone());
        assert_eq!(
            raw,
            r#"[[[null,"1"],["2","3"],["4",null]],[["6","7"],["8","9"],[null,"11"]]]"#
        );
        assert_eq!(cube.get(&[1, 2, 1]), Some(Some(&11)));
        let single: Array<Numeric> = decode(oid::NUMERIC_ARRAY, r#"[[["1.0"]]]"#);
        assert_eq!(single.dims, [1, 1, 1]);

        for ragged in [
            r#"[["a"],["b","c"]]"#,
            r#"[["a","b"],"c"]"#,
            r#"["a",["b"]]"#,
            r#"[["a"],null]"#,
            r#"[[]]"#,
            r#"[[],[]]"#,
            r#"[[1]]"#,
            r#""a""#,
            r#"{"a":1}"#,
        ] {
            let e = decode_err::<Array<String>>(oid::TEXT_ARRAY, ragged);
            assert!(is::<InvalidValue>(&e), "{ragged}: {e}");
        }
        let e = decode_err::<Array<i32>>(oid::INT4_ARRAY, r#"[[null,"x"]]"#);
        assert!(is::<InvalidValue>(&e), "{e}");
        assert!(is::<WrongType>(&decode_err::<Array<i32>>(
            oid::INT8_ARRAY,
            "[]"
        )));
    }

    #[test]
    fn array_shapes_are_checked() {
        assert!(Array::new(vec![2, 2], vec![Some(1i32); 3]).is_err());
        assert!(Array::new(vec![], vec![Some(1i32)]).is_err());
        assert!(Array::new(vec![usize::MAX, 2], vec![Some(1i32)]).is_err());
        assert!(Array::<i32>::new(vec![], vec![]).is_ok());
        assert!(Array::<i32>::new(vec![3, 0], vec![]).is_ok());
        let bad = Array {
            dims: vec![3],
            elements: vec![Some(1i32)],
        };
        let mut out = String::new();
        assert!(bad.to_sql(&mut out).is_err());
        let zero = Array::<i32> {
            dims: vec![0, 5],
            elements: vec![],
        };
        assert_eq!(text(&zero), "[]");
    }

    #[test]
    fn nested_vecs_are_refused() {
        let nested = vec![vec![1i32], vec![2]];
        let mut out = String::new();
        let e = nested.to_sql(&mut out).expect_err("nested");
        assert!(is::<Unrepresentable>(&e), "{e}");
        let mut out = String::new();
        let e = Array::from(vec![Some(vec![1i32])])
            .to_sql(&mut out)
            .expect_err("nested");
        assert!(is::<Unrepresentable>(&e), "{e}");
    }

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
