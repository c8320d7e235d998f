//! The conversion errors, and the helpers the type families build them with.

use std::error::Error;
use std::fmt;

use super::{type_name, BoxError, FromSql, Oid};

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

/// Ok when `T` reads fields of type `ty`, else a [`WrongType`] error.
pub(super) fn check_type<'a, T: FromSql<'a>>(ty: Oid) -> Result<(), BoxError> {
    if T::accepts(ty) {
        return Ok(());
    }
    Err(Box::new(WrongType::new::<T>(ty)))
}

/// An [`InvalidValue`] error.
pub(super) fn invalid(oid: Oid, reason: impl Into<String>) -> BoxError {
    Box::new(InvalidValue {
        oid,
        reason: reason.into(),
    })
}

/// An [`Unrepresentable`] error.
pub(super) fn unrepresentable(oid: Oid, reason: impl Into<String>) -> BoxError {
    Box::new(Unrepresentable {
        oid,
        reason: reason.into(),
    })
}
