//! The host's side of the packed contract (docs/abi.md): requests it sends are
//! [`wasmpg_wire::Request`]s; the steps it gets back are decoded here, once, into owned values
//! and host errors, so the rest of the crate never sees the layout.

use std::sync::Arc;
use std::time::Duration;

use wasmpg_wire::step::{self as wire, DbFields};
use wasmpg_wire::ErrorKind as WireKind;

pub(crate) use wasmpg_wire::batch::RowBatch;
pub(crate) use wasmpg_wire::step::TxStatus;

use crate::error::{DbError, Error, ErrorKind};

/// Where the guest asks the host to connect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    Tcp { host: String, port: u16 },
    Unix(String),
}

/// One result column (RowDescription).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Column {
    pub(crate) name: String,
    pub(crate) type_oid: u32,
    pub(crate) type_modifier: i32,
    pub(crate) table_oid: u32,
    pub(crate) column_id: i16,
    pub(crate) type_size: i16,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CommandComplete {
    pub(crate) tag: String,
    pub(crate) rows: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StatementInfo {
    pub(crate) name: String,
    pub(crate) param_types: Vec<u32>,
    pub(crate) columns: Vec<Column>,
}

/// What the server asked a password for: the host (as the conninfo names it), port, database
/// and user of the connection attempt (argument of [`Driver::connect_with_password`]'s
/// callback).
///
/// [`Driver::connect_with_password`]: crate::Driver::connect_with_password
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordRequest {
    pub host: String,
    pub port: u16,
    pub dbname: String,
    pub user: String,
}

#[derive(Debug)]
pub(crate) enum Action {
    Read,
    Done(TxStatus),
    Close,
    Open {
        target: Target,
        timeout: Option<Duration>,
        /// For a cancel request: the address to prefer (see docs/abi.md).
        addr: Option<String>,
        /// TCP keepalives to set (absent: the system's default).
        keepalive: Option<wire::Keepalive>,
    },
    NeedPassword(PasswordRequest),
    NeedFile {
        /// `passfile`, `sslrootcert`, ... (docs/abi.md).
        purpose: String,
        path: String,
    },
    /// COPY FROM STDIN: the server waits for the data.
    CopyIn,
}

#[derive(Debug)]
pub(crate) enum Event {
    /// A result's columns, shared with every result of the same shape that follows it
    /// ([`ColumnsCache`]).
    Columns(Arc<[crate::row::Column]>),
    Rows(RowBatch),
    Complete(CommandComplete),
    EmptyQuery,
    Prepared(StatementInfo),
    Error(Error),
    Notice(Box<DbError>),
    Notification(crate::notifications::Notification),
    Parameter {
        name: String,
        value: String,
    },
    Backend {
        process_id: i32,
    },
    CancelToken(String),
    Conninfo {
        targets: Vec<Target>,
    },
    /// COPY FROM STDIN began.
    CopyIn,
    /// COPY TO STDOUT began.
    CopyOut,
    /// COPY TO STDOUT data, as bytes.
    CopyData(Vec<u8>),
    /// A pipeline item the server skipped after an earlier failure.
    Aborted,
    /// A pipeline's sync point was reached, with its transaction status.
    Synced(TxStatus),
}

#[derive(Debug)]
pub(crate) struct Step {
    pub(crate) send: Vec<u8>,
    pub(crate) action: Action,
    pub(crate) events: Vec<Event>,
}

/// Results' columns by their record, most recently used first: a statement executed again
/// sends the same record, whose columns are then shared instead of decoded again. More than one
/// entry, because a session usually alternates statements (an ORM loading a child, then its
/// parent); bounded, so a session running ever-new shapes keeps at most
/// [`ColumnsCache::CAPACITY`] of them.
#[derive(Debug, Default)]
pub(crate) struct ColumnsCache {
    entries: Vec<(Box<str>, Arc<[crate::row::Column]>)>,
}

impl ColumnsCache {
    /// Shapes kept per session. A lookup compares the lengths of at most this many records
    /// (their text only when the length matches), which costs far less than one decode.
    const CAPACITY: usize = 64;

    fn columns(&mut self, record: &str) -> Result<Arc<[crate::row::Column]>, Error> {
        if let Some(at) = self.entries.iter().position(|(r, _)| &**r == record) {
            // Most recently used first: a loop over a few statements finds each near the front.
            self.entries[..=at].rotate_right(1);
            return Ok(self.entries[0].1.clone());
        }
        let columns = host_columns(&wire::decode_columns(record).map_err(malformed_step)?);
        self.entries.truncate(Self::CAPACITY - 1);
        self.entries.insert(0, (record.into(), columns.clone()));
        Ok(columns)
    }
}

fn malformed_step(e: wasmpg_wire::WireError) -> Error {
    Error::new(
        ErrorKind::Trap,
        format!("the guest returned a malformed step: {e}"),
    )
}

/// Decodes a step the guest returned. A step that does not follow the layout is the guest's
/// fault: reported as a trap, and the caller discards the instance.
pub(crate) fn decode(step: &str, cache: &mut ColumnsCache) -> Result<Step, Error> {
    // Each event becomes the host's as it is read: one vector, sized once.
    let mut reader = wire::StepReader::new(step, true).map_err(malformed_step)?;
    let mut events = Vec::with_capacity(reader.events_left());
    while let Some(event) = reader.next_event().map_err(malformed_step)? {
        events.push(event_in(event, cache)?);
    }
    let (send, action) = reader.finish().map_err(malformed_step)?;
    Ok(Step {
        send: send.into_owned(),
        action: action_in(action),
        events,
    })
}

fn target_in(target: wire::Target<'_>) -> Target {
    match target {
        wire::Target::Tcp { host, port } => Target::Tcp {
            host: host.into_owned(),
            port,
        },
        wire::Target::Unix(path) => Target::Unix(path.into_owned()),
    }
}

fn action_in(action: wire::Action<'_>) -> Action {
    match action {
        wire::Action::Read => Action::Read,
        wire::Action::Done(status) => Action::Done(status),
        wire::Action::Close => Action::Close,
        wire::Action::Open {
            target,
            timeout_ms,
            addr,
            keepalive,
        } => Action::Open {
            target: target_in(target),
            timeout: timeout_ms.map(|ms| Duration::from_millis(ms.into())),
            addr: addr.map(|a| a.into_owned()),
            keepalive,
        },
        wire::Action::NeedPassword {
            host,
            port,
            dbname,
            user,
        } => Action::NeedPassword(PasswordRequest {
            host: host.into_owned(),
            port,
            dbname: dbname.into_owned(),
            user: user.into_owned(),
        }),
        wire::Action::NeedFile { purpose, path } => Action::NeedFile {
            purpose: purpose.into_owned(),
            path: path.into_owned(),
        },
        wire::Action::CopyIn => Action::CopyIn,
    }
}

/// COPY data as bytes: the text itself, or latin-1 characters back to their bytes, once the
/// escapes are undone.
fn copy_data_in(
    text: bool,
    escaped: bool,
    data: std::borrow::Cow<'_, str>,
) -> Result<Vec<u8>, Error> {
    let malformed = |what: &str| {
        Error::new(
            ErrorKind::Trap,
            format!("the guest returned malformed COPY data: {what}"),
        )
    };
    let data = if escaped {
        match wasmpg_wire::escape::unescape(&data) {
            Ok(d) => std::borrow::Cow::Owned(d.into_owned()),
            Err(_) => return Err(malformed("an invalid escape")),
        }
    } else {
        data
    };
    if text {
        return Ok(data.into_owned().into_bytes());
    }
    wasmpg_wire::escape::latin1_bytes(&data)
        .map(std::borrow::Cow::into_owned)
        .map_err(|_| malformed("a character above U+00FF"))
}

fn columns_in(columns: Vec<wire::Column<'_>>) -> Vec<Column> {
    columns.iter().map(column_in).collect()
}

fn column_in(c: &wire::Column<'_>) -> Column {
    Column {
        name: c.name.to_string(),
        type_oid: c.type_oid,
        type_modifier: c.type_modifier,
        table_oid: c.table_oid,
        column_id: c.column_id,
        type_size: c.type_size,
    }
}

/// A result's columns as the API shows them.
fn host_columns(columns: &[wire::Column<'_>]) -> Arc<[crate::row::Column]> {
    columns
        .iter()
        .map(|c| crate::row::Column::from_guest(&column_in(c)))
        .collect()
}

fn event_in(event: wire::Event<'_>, cache: &mut ColumnsCache) -> Result<Event, Error> {
    Ok(match event {
        // `decode_keeping_columns` hands a result's columns over as their record.
        wire::Event::Record(record) => Event::Columns(cache.columns(&record)?),
        wire::Event::Columns(columns) => Event::Columns(host_columns(&columns)),
        wire::Event::Rows {
            count,
            escaped,
            data,
        } => Event::Rows(RowBatch {
            count,
            escaped,
            data: data.into_owned(),
        }),
        wire::Event::Complete { tag, rows } => Event::Complete(CommandComplete {
            tag: tag.into_owned(),
            rows,
        }),
        wire::Event::EmptyQuery => Event::EmptyQuery,
        wire::Event::Prepared {
            name,
            param_types,
            columns,
        } => Event::Prepared(StatementInfo {
            name: name.into_owned(),
            param_types,
            columns: columns_in(columns),
        }),
        wire::Event::Error { kind, message, db } => Event::Error(error_in(kind, &message, db)),
        wire::Event::Notice(fields) => Event::Notice(Box::new(db_error_in(fields))),
        wire::Event::Notification {
            process_id,
            channel,
            payload,
        } => Event::Notification(crate::notifications::Notification {
            process_id,
            channel: channel.into_owned(),
            payload: payload.into_owned(),
        }),
        wire::Event::Parameter { name, value } => Event::Parameter {
            name: name.into_owned(),
            value: value.into_owned(),
        },
        wire::Event::Backend { process_id } => Event::Backend { process_id },
        wire::Event::CancelToken(token) => Event::CancelToken(token.into_owned()),
        wire::Event::Conninfo(info) => Event::Conninfo {
            targets: info.targets.into_iter().map(target_in).collect(),
        },
        wire::Event::CopyIn { .. } => Event::CopyIn,
        wire::Event::CopyOut { .. } => Event::CopyOut,
        wire::Event::CopyData {
            text,
            escaped,
            data,
        } => Event::CopyData(copy_data_in(text, escaped, data)?),
        wire::Event::Aborted => Event::Aborted,
        wire::Event::Synced(status) => Event::Synced(status),
    })
}

/// The host kind of a contract kind (one to one).
pub(crate) fn kind_in(kind: WireKind) -> ErrorKind {
    match kind {
        WireKind::Db => ErrorKind::Db,
        WireKind::Config => ErrorKind::Config,
        WireKind::Authentication => ErrorKind::Authentication,
        WireKind::Protocol => ErrorKind::Protocol,
        WireKind::MessageTooLarge => ErrorKind::MessageTooLarge,
        WireKind::Encode => ErrorKind::Encode,
        WireKind::Decode => ErrorKind::Decode,
        WireKind::Usage => ErrorKind::Usage,
        WireKind::Closed => ErrorKind::Closed,
        WireKind::Tls => ErrorKind::Tls,
        WireKind::ConnectionRefused => ErrorKind::ConnectionRefused,
        WireKind::HostNotFound => ErrorKind::Dns,
        WireKind::PolicyDenied => ErrorKind::PolicyDenied,
        WireKind::Io => ErrorKind::Io,
        WireKind::Timeout => ErrorKind::Timeout,
        WireKind::Trap => ErrorKind::Trap,
    }
}

/// The contract kind the guest is told when an open fails.
pub(crate) fn kind_out(kind: ErrorKind) -> WireKind {
    match kind {
        ErrorKind::PolicyDenied => WireKind::PolicyDenied,
        ErrorKind::Timeout => WireKind::Timeout,
        ErrorKind::Io => WireKind::Io,
        ErrorKind::Dns => WireKind::HostNotFound,
        _ => WireKind::ConnectionRefused,
    }
}

fn error_in(kind: WireKind, message: &str, db: DbFields<'_>) -> Error {
    let kind = kind_in(kind);
    if db.is_empty() {
        Error::new(kind, message)
    } else {
        Error::with_db(kind, db_error_in(db))
    }
}

/// A server error or notice from its protocol field codes.
pub(crate) fn db_error_in(fields: DbFields<'_>) -> DbError {
    let mut e = DbError::default();
    for (code, value) in fields {
        let value = value.into_owned();
        match code {
            'S' => e.severity = value,
            'V' => e.severity_nonlocalized = Some(value),
            'C' => e.code = value,
            'M' => e.message = value,
            'D' => e.detail = Some(value),
            'H' => e.hint = Some(value),
            'P' => e.position = value.parse().ok(),
            'p' => e.internal_position = value.parse().ok(),
            'q' => e.internal_query = Some(value),
            'W' => e.where_ = Some(value),
            's' => e.schema = Some(value),
            't' => e.table = Some(value),
            'c' => e.column = Some(value),
            'd' => e.datatype = Some(value),
            'n' => e.constraint = Some(value),
            'F' => e.file = Some(value),
            'L' => e.line = value.parse().ok(),
            'R' => e.routine = Some(value),
            // Unknown field codes are ignored, as the protocol requires.
            _ => {}
        }
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_contract_kind_has_a_host_kind_and_back() {
        for kind in WireKind::ALL {
            let host = kind_in(*kind);
            if matches!(
                kind,
                WireKind::PolicyDenied
                    | WireKind::Timeout
                    | WireKind::Io
                    | WireKind::HostNotFound
                    | WireKind::ConnectionRefused
            ) {
                assert_eq!(kind_out(host), *kind);
            }
        }
    }

    #[test]
    fn a_repeated_columns_record_shares_its_columns() {
        let mut cache = ColumnsCache::default();
        let one = "0:d\u{1f}I\u{1e}C\u{1f}1\u{1f}a\u{1f}23\u{1f}-1\u{1f}0\u{1f}0\u{1f}4";
        let other = "0:d\u{1f}I\u{1e}C\u{1f}1\u{1f}b\u{1f}25\u{1f}-1\u{1f}0\u{1f}0\u{1f}-1";
        let columns = |packed: &str, cache: &mut ColumnsCache| {
            let step = decode(packed, cache).unwrap();
            let [Event::Columns(c)] = &step.events[..] else {
                panic!("{step:?}")
            };
            c.clone()
        };
        let first = columns(one, &mut cache);
        assert_eq!(first[0].name(), "a");
        assert_eq!(first[0].type_oid(), 23);
        let again = columns(one, &mut cache);
        assert!(Arc::ptr_eq(&first, &again));
        let second = columns(other, &mut cache);
        assert_eq!(second[0].name(), "b");
        assert_eq!(second[0].type_oid(), 25);
        // Alternating statements keep sharing (an ORM loading a child, then its parent).
        for _ in 0..3 {
            assert!(Arc::ptr_eq(&first, &columns(one, &mut cache)));
            assert!(Arc::ptr_eq(&second, &columns(other, &mut cache)));
        }
        // Bounded: past its capacity the least recently used shape is decoded again.
        for i in 0..ColumnsCache::CAPACITY - 1 {
            let record =
                format!("0:d\u{1f}I\u{1e}C\u{1f}1\u{1f}c{i}\u{1f}23\u{1f}-1\u{1f}0\u{1f}0\u{1f}4");
            columns(&record, &mut cache);
        }
        assert_eq!(cache.entries.len(), ColumnsCache::CAPACITY);
        assert!(Arc::ptr_eq(&second, &columns(other, &mut cache)));
        let decoded_again = columns(one, &mut cache);
        assert_eq!(decoded_again[0].name(), "a");
        assert!(!Arc::ptr_eq(&first, &decoded_again));
        assert_eq!(cache.entries.len(), ColumnsCache::CAPACITY);
        // A malformed record is the guest's fault, as any malformed step.
        let bad = "0:d\u{1f}I\u{1e}C\u{1f}x";
        assert_eq!(decode(bad, &mut cache).unwrap_err().kind(), ErrorKind::Trap);
    }

    #[test]
    fn decodes_a_step_and_its_server_error() {
        let packed = "0:d\u{1f}E\u{1e}E\u{1f}db\u{1f}boom\u{1f}SERROR\u{1f}C42P01\u{1f}Mrelation \"x\" does not exist\u{1f}P15\u{1f}Zfuture";
        let step = decode(packed, &mut ColumnsCache::default()).unwrap();
        assert!(matches!(step.action, Action::Done(TxStatus::Failed)));
        let [Event::Error(e)] = &step.events[..] else {
            panic!("{step:?}")
        };
        assert_eq!(e.kind(), ErrorKind::Db);
        assert_eq!(e.code(), Some("42P01"));
        assert_eq!(e.as_db_error().and_then(|d| d.position), Some(15));
        assert!(
            decode("garbage", &mut ColumnsCache::default())
                .unwrap_err()
                .kind()
                == ErrorKind::Trap
        );
    }
}
