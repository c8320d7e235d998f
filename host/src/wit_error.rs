//! Conversion between the guest's WIT errors (`wasmpg:driver/types.error`) and the host's
//! [`Error`]: every error the user sees from the guest passes through here.

use crate::error::{DbError, Error, ErrorKind};
use crate::runtime::wit_types;

/// The host kind of a WIT error kind (one to one: every WIT kind has a host kind).
pub(crate) fn kind_in(kind: wit_types::ErrorKind) -> ErrorKind {
    use wit_types::ErrorKind as W;
    match kind {
        W::Db => ErrorKind::Db,
        W::Config => ErrorKind::Config,
        W::Authentication => ErrorKind::Authentication,
        W::Protocol => ErrorKind::Protocol,
        W::MessageTooLarge => ErrorKind::MessageTooLarge,
        W::Encode => ErrorKind::Encode,
        W::Decode => ErrorKind::Decode,
        W::Usage => ErrorKind::Usage,
        W::Closed => ErrorKind::Closed,
        W::ConnectionRefused => ErrorKind::ConnectionRefused,
        W::PolicyDenied => ErrorKind::PolicyDenied,
        W::Io => ErrorKind::Io,
        W::Timeout => ErrorKind::Timeout,
        W::Trap => ErrorKind::Trap,
    }
}

/// The WIT kind the guest is told for a failed open. WIT has no DNS kind: a name that does not
/// resolve travels as `connection-refused`, its closest kind (no connection could be made), and
/// [`open_error_in`] restores the host's precise kind on the way back.
pub(crate) fn kind_out(kind: ErrorKind) -> wit_types::ErrorKind {
    use wit_types::ErrorKind as W;
    match kind {
        ErrorKind::PolicyDenied => W::PolicyDenied,
        ErrorKind::Timeout => W::Timeout,
        ErrorKind::Io => W::Io,
        _ => W::ConnectionRefused,
    }
}

pub(crate) fn db_error_in(e: wit_types::DbError) -> DbError {
    DbError {
        severity: e.severity,
        severity_nonlocalized: e.severity_nonlocalized,
        code: e.code,
        message: e.message,
        detail: e.detail,
        hint: e.hint,
        position: e.position,
        internal_position: e.internal_position,
        internal_query: e.internal_query,
        where_: e.where_,
        schema: e.schema,
        table: e.table,
        column: e.column,
        datatype: e.datatype,
        constraint: e.constraint,
        file: e.file,
        line: e.line,
        routine: e.routine,
    }
}

pub(crate) fn error_in(e: wit_types::Error) -> Error {
    let kind = kind_in(e.kind);
    match e.db {
        Some(db) => Error::with_db(kind, db_error_in(db)),
        None => Error::new(kind, e.message),
    }
}

/// An error the guest reported in answer to `open-failed(kind_out(host_kind), ...)`. When it is
/// that failure coming back (the guest ends a failed open with the kind of the last attempt,
/// and a message naming every attempt), it gets the host's own kind, which is more precise than
/// the WIT kind (e.g. [`ErrorKind::Dns`] rather than `connection-refused`). Any other error
/// converts as usual.
pub(crate) fn open_error_in(e: wit_types::Error, host_kind: ErrorKind) -> Error {
    if e.db.is_none() && e.kind == kind_out(host_kind) {
        Error::new(host_kind, e.message)
    } else {
        error_in(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guest_error(kind: wit_types::ErrorKind, message: &str) -> wit_types::Error {
        wit_types::Error {
            kind,
            message: message.to_owned(),
            db: None,
        }
    }

    #[test]
    fn every_host_open_failure_round_trips() {
        for kind in [
            ErrorKind::PolicyDenied,
            ErrorKind::ConnectionRefused,
            ErrorKind::Dns,
            ErrorKind::Timeout,
            ErrorKind::Io,
        ] {
            let back = open_error_in(guest_error(kind_out(kind), "h:5432: failed"), kind);
            assert_eq!(back.kind(), kind);
            assert_eq!(back.message(), "h:5432: failed");
        }
    }

    #[test]
    fn dns_travels_as_connection_refused() {
        assert_eq!(
            kind_out(ErrorKind::Dns),
            wit_types::ErrorKind::ConnectionRefused
        );
        // A plain conversion (no open failure pending) keeps the WIT kind.
        let e = error_in(guest_error(wit_types::ErrorKind::ConnectionRefused, "x"));
        assert_eq!(e.kind(), ErrorKind::ConnectionRefused);
    }

    #[test]
    fn an_unrelated_error_keeps_its_own_kind() {
        let e = open_error_in(
            guest_error(
                wit_types::ErrorKind::Usage,
                "no connection was being opened",
            ),
            ErrorKind::Dns,
        );
        assert_eq!(e.kind(), ErrorKind::Usage);
    }
}
