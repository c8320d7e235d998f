//! Errors the protocol core reports: a kind, a message, and for server errors every field the
//! server sent (an `E` event of the packed step, docs/abi.md).

use std::fmt;

use fallible_iterator::FallibleIterator;
use postgres_protocol::message::backend::ErrorFields;

/// What kind of failure an [`Error`] is: the contract's kinds, shared with every host.
pub use wasmpg_wire::ErrorKind;

/// Every field of an ErrorResponse or NoticeResponse.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DbError {
    pub severity: String,
    pub severity_nonlocalized: Option<String>,
    pub code: String,
    pub message: String,
    pub detail: Option<String>,
    pub hint: Option<String>,
    pub position: Option<u32>,
    pub internal_position: Option<u32>,
    pub internal_query: Option<String>,
    pub where_: Option<String>,
    pub schema: Option<String>,
    pub table: Option<String>,
    pub column: Option<String>,
    pub datatype: Option<String>,
    pub constraint: Option<String>,
    pub file: Option<String>,
    pub line: Option<u32>,
    pub routine: Option<String>,
}

impl DbError {
    /// A warning the client itself reports as a notice (libpq prints these on stderr), with
    /// SQLSTATE 01000 (warning).
    pub fn client_warning(message: String) -> DbError {
        DbError {
            severity: "WARNING".to_owned(),
            severity_nonlocalized: Some("WARNING".to_owned()),
            code: "01000".to_owned(),
            message,
            ..DbError::default()
        }
    }

    /// Collects the fields of an ErrorResponse/NoticeResponse. Values that are not UTF-8 are
    /// decoded lossily (a hostile server must not turn an error report into a second failure);
    /// unknown field codes are skipped, as the protocol requires.
    pub fn parse(mut fields: ErrorFields<'_>) -> Result<DbError, Error> {
        let mut e = DbError::default();
        loop {
            let field = match fields.next() {
                Ok(Some(field)) => field,
                Ok(None) => break,
                Err(err) => {
                    return Err(Error::protocol(format!("malformed error response: {err}")));
                }
            };
            let value = String::from_utf8_lossy(field.value_bytes()).into_owned();
            match field.type_() {
                b'S' => e.severity = value,
                b'V' => e.severity_nonlocalized = Some(value),
                b'C' => e.code = value,
                b'M' => e.message = value,
                b'D' => e.detail = Some(value),
                b'H' => e.hint = Some(value),
                b'P' => e.position = value.parse().ok(),
                b'p' => e.internal_position = value.parse().ok(),
                b'q' => e.internal_query = Some(value),
                b'W' => e.where_ = Some(value),
                b's' => e.schema = Some(value),
                b't' => e.table = Some(value),
                b'c' => e.column = Some(value),
                b'd' => e.datatype = Some(value),
                b'n' => e.constraint = Some(value),
                b'F' => e.file = Some(value),
                b'L' => e.line = value.parse().ok(),
                b'R' => e.routine = Some(value),
                _ => {}
            }
        }
        if e.message.is_empty() {
            e.message = "(the server sent an error without a message)".to_owned();
        }
        Ok(e)
    }

    /// FATAL and PANIC end the connection.
    pub fn is_fatal(&self) -> bool {
        let severity = self
            .severity_nonlocalized
            .as_deref()
            .unwrap_or(&self.severity);
        matches!(severity, "FATAL" | "PANIC")
    }
}

/// A failure of the current request or of the session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub kind: ErrorKind,
    pub message: String,
    pub db: Option<Box<DbError>>,
}

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Error {
        Error {
            kind,
            message: message.into(),
            db: None,
        }
    }

    pub fn protocol(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::Protocol, message)
    }

    /// A server error. Errors during authentication (SQLSTATE class 28) get the
    /// `Authentication` kind; the fields stay available either way.
    pub fn db(db: DbError, during_startup: bool) -> Error {
        let kind = if during_startup && db.code.starts_with("28") {
            ErrorKind::Authentication
        } else {
            ErrorKind::Db
        };
        Error {
            kind,
            message: db.message.clone(),
            db: Some(Box::new(db)),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.db {
            Some(db) => write!(f, "{}: {} (SQLSTATE {})", db.severity, db.message, db.code),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for Error {}
