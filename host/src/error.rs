//! The error type: an opaque [`Error`] with a [`kind`](Error::kind), a message, and for server
//! errors the full [`DbError`].

use std::fmt;

use crate::types::BoxError;

/// What kind of failure an [`Error`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The server reported an error; [`Error::as_db_error`] has its fields.
    Db,
    /// Malformed conninfo or an unsupported setting.
    Config,
    /// Authentication failed (a server rejection carries SQLSTATE 28P01 or 28000).
    Authentication,
    /// The server violated the protocol.
    Protocol,
    /// A server message was larger than the configured maximum.
    MessageTooLarge,
    /// A parameter could not be encoded.
    Encode,
    /// A value from the server was malformed for its type.
    Decode,
    /// The API was used in a way the session cannot take.
    Usage,
    /// The connection is closed (by the server, or after an earlier fatal error).
    Closed,
    /// TLS failed: the server refused it (`sslmode` requires it), its certificate was refused
    /// (the message names the cause: unknown issuer, a name it does not hold, expired,
    /// revoked), or the handshake failed.
    Tls,
    /// No connection could be opened to any target: the connect itself failed (refused,
    /// unreachable, no such socket file). With several hosts, the kind is that of the last one
    /// tried; the message names every attempt.
    ConnectionRefused,
    /// A TCP host name could not be resolved to any address (no such name, or the resolver
    /// failed). Only names the policy allows are ever looked up: a denied name is
    /// [`PolicyDenied`](ErrorKind::PolicyDenied) and is never resolved. With several hosts, the
    /// kind is that of the last one tried.
    Dns,
    /// The policy does not allow the target; nothing was sent.
    PolicyDenied,
    /// A socket read or write failed.
    Io,
    /// A connect or read timeout expired.
    Timeout,
    /// The guest trapped or exceeded its CPU or memory bound; its instance was discarded.
    Trap,
    /// A value could not be converted to the requested Rust type.
    Conversion,
    /// `query_one` found zero or several rows.
    RowCount,
    /// The driver could not be set up (engine, component, cache).
    Setup,
    /// A pipeline's statement was not run: an earlier statement failed before the next sync
    /// point (libpq's `PGRES_PIPELINE_ABORTED`).
    PipelineAborted,
}

impl ErrorKind {
    fn describe(self) -> &'static str {
        match self {
            ErrorKind::Db => "database error",
            ErrorKind::Config => "invalid configuration",
            ErrorKind::Authentication => "authentication failed",
            ErrorKind::Protocol => "protocol violation",
            ErrorKind::Tls => "TLS failed",
            ErrorKind::MessageTooLarge => "message too large",
            ErrorKind::Encode => "cannot encode parameter",
            ErrorKind::Decode => "cannot decode value",
            ErrorKind::Usage => "invalid use",
            ErrorKind::Closed => "connection closed",
            ErrorKind::ConnectionRefused => "connection failed",
            ErrorKind::Dns => "host name lookup failed",
            ErrorKind::PolicyDenied => "denied by policy",
            ErrorKind::Io => "I/O error",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Trap => "driver sandbox trapped",
            ErrorKind::Conversion => "type conversion failed",
            ErrorKind::RowCount => "unexpected number of rows",
            ErrorKind::Setup => "driver setup failed",
            ErrorKind::PipelineAborted => "not run: the pipeline was aborted",
        }
    }
}

/// Every field of a server ErrorResponse or NoticeResponse.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DbError {
    pub(crate) severity: String,
    pub(crate) severity_nonlocalized: Option<String>,
    pub(crate) code: String,
    pub(crate) message: String,
    pub(crate) detail: Option<String>,
    pub(crate) hint: Option<String>,
    pub(crate) position: Option<u32>,
    pub(crate) internal_position: Option<u32>,
    pub(crate) internal_query: Option<String>,
    pub(crate) where_: Option<String>,
    pub(crate) schema: Option<String>,
    pub(crate) table: Option<String>,
    pub(crate) column: Option<String>,
    pub(crate) datatype: Option<String>,
    pub(crate) constraint: Option<String>,
    pub(crate) file: Option<String>,
    pub(crate) line: Option<u32>,
    pub(crate) routine: Option<String>,
}

impl DbError {
    /// Severity, possibly localized (`ERROR`, `FATAL`, `NOTICE`, ...).
    pub fn severity(&self) -> &str {
        &self.severity
    }
    /// Severity, never localized.
    pub fn severity_nonlocalized(&self) -> Option<&str> {
        self.severity_nonlocalized.as_deref()
    }
    /// The SQLSTATE code.
    pub fn code(&self) -> &str {
        &self.code
    }
    pub fn message(&self) -> &str {
        &self.message
    }
    pub fn detail(&self) -> Option<&str> {
        self.detail.as_deref()
    }
    pub fn hint(&self) -> Option<&str> {
        self.hint.as_deref()
    }
    /// 1-based character position of the error in the query.
    pub fn position(&self) -> Option<u32> {
        self.position
    }
    pub fn internal_position(&self) -> Option<u32> {
        self.internal_position
    }
    pub fn internal_query(&self) -> Option<&str> {
        self.internal_query.as_deref()
    }
    /// The context (call stack) in which the error occurred.
    pub fn where_(&self) -> Option<&str> {
        self.where_.as_deref()
    }
    pub fn schema(&self) -> Option<&str> {
        self.schema.as_deref()
    }
    pub fn table(&self) -> Option<&str> {
        self.table.as_deref()
    }
    pub fn column(&self) -> Option<&str> {
        self.column.as_deref()
    }
    pub fn datatype(&self) -> Option<&str> {
        self.datatype.as_deref()
    }
    pub fn constraint(&self) -> Option<&str> {
        self.constraint.as_deref()
    }
    pub fn file(&self) -> Option<&str> {
        self.file.as_deref()
    }
    pub fn line(&self) -> Option<u32> {
        self.line
    }
    pub fn routine(&self) -> Option<&str> {
        self.routine.as_deref()
    }
}

impl fmt::Display for DbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} (SQLSTATE {})",
            self.severity, self.message, self.code
        )?;
        if let Some(detail) = &self.detail {
            write!(f, "\nDETAIL: {detail}")?;
        }
        if let Some(hint) = &self.hint {
            write!(f, "\nHINT: {hint}")?;
        }
        Ok(())
    }
}

impl std::error::Error for DbError {}

/// An error from wasmpg: what kind it is, a message, and the cause.
pub struct Error(Box<Inner>);

struct Inner {
    kind: ErrorKind,
    message: String,
    db: Option<DbError>,
    cause: Option<BoxError>,
}

impl Error {
    pub(crate) fn new(kind: ErrorKind, message: impl Into<String>) -> Error {
        Error(Box::new(Inner {
            kind,
            message: message.into(),
            db: None,
            cause: None,
        }))
    }

    /// The same error again (a COPY reports the error that ended it to every later call); the
    /// cause, which need not be cloneable, is kept as its text.
    pub(crate) fn duplicate(&self) -> Error {
        Error(Box::new(Inner {
            kind: self.0.kind,
            message: self.0.message.clone(),
            db: self.0.db.clone(),
            cause: self.0.cause.as_ref().map(|c| c.to_string().into()),
        }))
    }

    pub(crate) fn with_db(kind: ErrorKind, db: DbError) -> Error {
        Error(Box::new(Inner {
            kind,
            message: db.message.clone(),
            db: Some(db),
            cause: None,
        }))
    }

    pub(crate) fn with_cause(
        kind: ErrorKind,
        message: impl Into<String>,
        cause: BoxError,
    ) -> Error {
        Error(Box::new(Inner {
            kind,
            message: message.into(),
            db: None,
            cause: Some(cause),
        }))
    }

    pub fn kind(&self) -> ErrorKind {
        self.0.kind
    }

    /// The SQLSTATE, when the server reported the error.
    pub fn code(&self) -> Option<&str> {
        self.0.db.as_ref().map(|db| db.code.as_str())
    }

    /// The server's error fields, when the server reported the error.
    pub fn as_db_error(&self) -> Option<&DbError> {
        self.0.db.as_ref()
    }

    /// The message without the kind prefix.
    pub fn message(&self) -> &str {
        &self.0.message
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Error");
        d.field("kind", &self.0.kind)
            .field("message", &self.0.message);
        if let Some(db) = &self.0.db {
            d.field("db", db);
        }
        if let Some(cause) = &self.0.cause {
            d.field("cause", cause);
        }
        d.finish()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0.db {
            Some(db) => write!(f, "{db}"),
            None => {
                write!(f, "{}: {}", self.0.kind.describe(), self.0.message)?;
                if let Some(cause) = &self.0.cause {
                    write!(f, ": {cause}")?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.0.db {
            Some(db) => Some(db),
            None => self
                .0
                .cause
                .as_ref()
                .map(|c| &**c as &(dyn std::error::Error + 'static)),
        }
    }
}
