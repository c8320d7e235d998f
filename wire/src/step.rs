//! The packed step: what every call into the guest returns, as one string.
//!
//! ```text
//! step    = send-len ":" send meta *(GS batch)
//! meta    = action *(RS event)
//! action  = tag *(US field)          event = tag *(US field)
//! ```
//!
//! * `send-len` is the decimal number of bytes the host must write before doing the action;
//!   `send` is those bytes, each as the character of the same code point (U+0000-U+00FF,
//!   latin-1), so a host takes `send-len` characters and encodes them as latin-1.
//! * `meta` holds the action and the events in protocol order; fields are escaped (see
//!   [`crate::escape`]), so it contains U+001B only if some field needed escaping.
//! * each `R` (rows) event's data is the next `batch` part, in the row-batch layout
//!   ([`crate::batch`]), whose escaping also covers U+001D; each `D` (COPY data) event's data
//!   is the next part too, in order with the `R` events' parts.
//!
//! Tags, with their fields (`?` = may be absent, `*` = repeated):
//!
//! | action | fields |
//! |---|---|
//! | `r` read | |
//! | `d` done (ReadyForQuery) | status: `I` idle, `T` in a transaction, `E` failed transaction |
//! | `c` close | |
//! | `o` open | kind `t`/`u`, host or socket path, port (empty for `u`), timeout-ms?, address? |
//! | `p` need-password | host, port, dbname, user |
//! | `f` need-file | purpose, path |
//! | `i` copy-in: send COPY data (`D` requests), then `F` (done) or `f` (abort) | |
//!
//! | event | fields |
//! |---|---|
//! | `C` columns | n, then per column: name, type-oid, type-modifier, table-oid, column-id, type-size |
//! | `R` rows | count, escaped `0`/`1` |
//! | `K` complete | tag, rows? |
//! | `Q` empty query | |
//! | `P` prepared | name, n, param-oid*, then columns as in `C` |
//! | `E` error | kind, message, db-field* (each: the protocol's field code, then the value) |
//! | `N` notice | db-field* |
//! | `A` notification | process-id, channel, payload |
//! | `S` parameter status | name, value |
//! | `B` backend | process-id |
//! | `T` cancel token | token |
//! | `I` conninfo | user, dbname, connect-timeout-ms?, has-password, passfile?, sslmode, n, then per target: kind, host or path, port |
//! | `G` copy-in began (CopyInResponse) | binary `0`/`1`, column count |
//! | `H` copy-out began (CopyOutResponse) | binary `0`/`1`, column count |
//! | `D` copy data (COPY TO STDOUT) | encoding (`t`: UTF-8 text; `l`: bytes as latin-1 characters), escaped `0`/`1` |
//! | `X` aborted (a pipeline item the server skipped after an earlier failure) | |
//! | `Z` synced (a pipeline's Sync item: its ReadyForQuery) | status: `I`, `T` or `E` |

use std::borrow::Cow;

use crate::escape::{GS, RS};
use crate::fields::{FieldReader, RecordWriter};
use crate::text::TextOut;
use crate::{ErrorKind, WireError};

/// What the host must do after writing `send`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action<'a> {
    Read,
    Done(TxStatus),
    Close,
    Open {
        target: Target<'a>,
        /// Milliseconds for this attempt (connect plus the whole handshake), if limited.
        timeout_ms: Option<u32>,
        /// For a cancel request: the address the cancelled session was connected to. The host
        /// still checks `target` against its policy, and uses this address only if `target`
        /// resolves to it.
        addr: Option<Cow<'a, str>>,
        /// TCP keepalives to set on the socket (libpq's `keepalives*`); absent for a Unix
        /// socket, or from a guest that does not send them (the host's default then).
        keepalive: Option<Keepalive>,
    },
    NeedPassword {
        host: Cow<'a, str>,
        port: u16,
        dbname: Cow<'a, str>,
        user: Cow<'a, str>,
    },
    /// Read a file for the session (its policy permitting) and answer with
    /// [`crate::Request::File`].
    NeedFile {
        purpose: Cow<'a, str>,
        path: Cow<'a, str>,
    },
    /// The server waits for COPY FROM STDIN's data: send [`crate::Request::CopyData`], then
    /// [`crate::Request::CopyDone`] or [`crate::Request::CopyFail`].
    CopyIn,
}

/// TCP keepalive settings for the socket of an `o` action: one field, `0` (off) or
/// `1,IDLE,INTERVAL,COUNT` with seconds and a probe count, each empty for the system's default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Keepalive {
    pub enabled: bool,
    pub idle_secs: Option<u32>,
    pub interval_secs: Option<u32>,
    pub count: Option<u32>,
}

impl Keepalive {
    pub fn encode(&self) -> String {
        if !self.enabled {
            return "0".to_owned();
        }
        let n = |v: Option<u32>| v.map(|v| v.to_string()).unwrap_or_default();
        format!(
            "1,{},{},{}",
            n(self.idle_secs),
            n(self.interval_secs),
            n(self.count)
        )
    }

    pub fn parse(text: &str) -> Option<Keepalive> {
        if text == "0" {
            return Some(Keepalive::default());
        }
        let mut parts = text.split(',');
        if parts.next()? != "1" {
            return None;
        }
        let mut n = || -> Option<Option<u32>> {
            match parts.next()? {
                "" => Some(None),
                v => crate::fields::parse_number::<u32>(v).map(Some),
            }
        };
        let (idle_secs, interval_secs, count) = (n()?, n()?, n()?);
        if parts.next().is_some() {
            return None;
        }
        Some(Keepalive {
            enabled: true,
            idle_secs,
            interval_secs,
            count,
        })
    }
}

/// Transaction status from ReadyForQuery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxStatus {
    Idle,
    InTransaction,
    Failed,
}

impl TxStatus {
    pub fn code(self) -> char {
        match self {
            TxStatus::Idle => 'I',
            TxStatus::InTransaction => 'T',
            TxStatus::Failed => 'E',
        }
    }

    pub fn from_code(c: &str) -> Option<TxStatus> {
        match c {
            "I" => Some(TxStatus::Idle),
            "T" => Some(TxStatus::InTransaction),
            "E" => Some(TxStatus::Failed),
            _ => None,
        }
    }
}

/// A connection target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target<'a> {
    /// TCP to a host name or address literal, as the conninfo spelled it.
    Tcp { host: Cow<'a, str>, port: u16 },
    /// A Unix-domain socket: the socket file's full path.
    Unix(Cow<'a, str>),
}

/// One result column (RowDescription).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column<'a> {
    pub name: Cow<'a, str>,
    pub type_oid: u32,
    pub type_modifier: i32,
    pub table_oid: u32,
    pub column_id: i16,
    pub type_size: i16,
}

/// Error or notice fields, keyed by the protocol's one-letter field codes (`S`, `V`, `C`, `M`,
/// `D`, `H`, `P`, ...), in the order the server sent them.
pub type DbFields<'a> = Vec<(char, Cow<'a, str>)>;

/// A parsed conninfo, as `parse-conninfo` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conninfo<'a> {
    pub targets: Vec<Target<'a>>,
    pub user: Cow<'a, str>,
    pub dbname: Cow<'a, str>,
    pub connect_timeout_ms: Option<u32>,
    pub has_password: bool,
    pub passfile: Option<Cow<'a, str>>,
    pub sslmode: Cow<'a, str>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event<'a> {
    Columns(Vec<Column<'a>>),
    /// A batch of rows in the row-batch layout.
    Rows {
        count: u32,
        escaped: bool,
        data: Cow<'a, str>,
    },
    Complete {
        tag: Cow<'a, str>,
        rows: Option<u64>,
    },
    EmptyQuery,
    Prepared {
        name: Cow<'a, str>,
        param_types: Vec<u32>,
        columns: Vec<Column<'a>>,
    },
    Error {
        kind: ErrorKind,
        message: Cow<'a, str>,
        db: DbFields<'a>,
    },
    Notice(DbFields<'a>),
    Notification {
        process_id: i32,
        channel: Cow<'a, str>,
        payload: Cow<'a, str>,
    },
    Parameter {
        name: Cow<'a, str>,
        value: Cow<'a, str>,
    },
    Backend {
        process_id: i32,
    },
    CancelToken(Cow<'a, str>),
    Conninfo(Conninfo<'a>),
    /// COPY FROM STDIN began: the format (binary or text/csv) and the column count.
    CopyIn {
        binary: bool,
        columns: u32,
    },
    /// COPY TO STDOUT began.
    CopyOut {
        binary: bool,
        columns: u32,
    },
    /// COPY TO STDOUT data: whole CopyData messages, concatenated. `text`: UTF-8 text (the data
    /// as is); else each byte is the character of the same code point (latin-1). `escaped`: the
    /// part contains escapes ([`crate::escape`]) to undo.
    CopyData {
        text: bool,
        escaped: bool,
        data: Cow<'a, str>,
    },
    /// A pipeline item the server skipped because an earlier item since the last sync point
    /// failed (libpq's `PGRES_PIPELINE_ABORTED`).
    Aborted,
    /// A pipeline's Sync item was reached: the transaction status of its ReadyForQuery.
    Synced(TxStatus),
    /// A record as text. Encoding writes it as it is: a [`columns_record`] the guest keeps
    /// with a statement's description, so each execution of a cached or prepared statement
    /// copies its columns instead of encoding them again. [`decode_keeping_columns`] returns a
    /// `C` record this way, undecoded; [`decode`] never returns it (a record decodes as what
    /// it encodes, e.g. [`Event::Columns`]).
    Record(Cow<'a, str>),
}

impl Event<'_> {
    /// The data part that follows the metadata for this event, if it has one.
    fn part(&self) -> Option<&str> {
        match self {
            Event::Rows { data, .. } | Event::CopyData { data, .. } => Some(data),
            _ => None,
        }
    }
}

/// One step: bytes to send, then the action, and the events in protocol order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step<'a> {
    pub send: Cow<'a, [u8]>,
    pub action: Action<'a>,
    pub events: Vec<Event<'a>>,
}

/// Appends each byte as the character of the same code point. ASCII runs (most of every
/// message but TLS records and binary values) are copied whole.
fn push_latin1(out: &mut impl TextOut, mut bytes: &[u8]) {
    if bytes.is_ascii() {
        // `is_ascii` tests a word at a time.
        out.push_ascii(bytes);
        return;
    }
    while !bytes.is_empty() {
        let ascii = bytes
            .iter()
            .position(|b| !b.is_ascii())
            .unwrap_or(bytes.len());
        let (run, rest) = bytes.split_at(ascii);
        out.push_ascii(run);
        let Some((&high, rest)) = rest.split_first() else {
            break;
        };
        out.push_char(char::from(high));
        bytes = rest;
    }
}

fn write_target(w: &mut RecordWriter<'_, impl TextOut>, target: &Target<'_>) {
    match target {
        Target::Tcp { host, port } => w.text("t").text(host).num(port),
        Target::Unix(path) => w.text("u").text(path).text(""),
    };
}

fn read_target<'a>(r: &mut FieldReader<'a>) -> Result<Target<'a>, WireError> {
    let kind = r.text("target kind")?;
    let host = r.text("target")?;
    let port = r.text("port")?;
    match &*kind {
        "t" => Ok(Target::Tcp {
            host,
            port: crate::fields::parse_number(&port)
                .ok_or_else(|| WireError::new(format!("bad port {port:?}")))?,
        }),
        "u" => Ok(Target::Unix(host)),
        other => Err(WireError::new(format!("unknown target kind {other:?}"))),
    }
}

fn write_columns(w: &mut RecordWriter<'_, impl TextOut>, columns: &[Column<'_>]) {
    w.num(columns.len());
    for c in columns {
        w.text(&c.name)
            .num(c.type_oid)
            .num(c.type_modifier)
            .num(c.table_oid)
            .num(c.column_id)
            .num(c.type_size);
    }
}

/// The `C` record of a result's columns exactly as [`Step::encode`] writes
/// `Event::Columns(columns)`, for [`Event::Record`].
pub fn columns_record(columns: &[Column<'_>]) -> String {
    let mut out = String::with_capacity(8 + 24 * columns.len());
    write_columns(&mut RecordWriter::new(&mut out, 'C'), columns);
    out
}

fn read_columns<'a>(r: &mut FieldReader<'a>) -> Result<Vec<Column<'a>>, WireError> {
    let n = r.count("column count", 6)?;
    let mut columns = Vec::with_capacity(n);
    for _ in 0..n {
        columns.push(Column {
            name: r.text("column name")?,
            type_oid: r.num("type oid")?,
            type_modifier: r.num("type modifier")?,
            table_oid: r.num("table oid")?,
            column_id: r.num("column id")?,
            type_size: r.num("type size")?,
        });
    }
    Ok(columns)
}

fn write_db(w: &mut RecordWriter<'_, impl TextOut>, db: &DbFields<'_>, scratch: &mut String) {
    for (code, value) in db {
        scratch.clear();
        scratch.push(*code);
        scratch.push_str(value);
        w.text(scratch);
    }
}

fn read_db<'a>(r: &mut FieldReader<'a>) -> Result<DbFields<'a>, WireError> {
    let mut out = Vec::new();
    for raw in r.remaining() {
        let mut chars = raw.chars();
        let code = chars
            .next()
            .ok_or_else(|| WireError::new("an empty error field"))?;
        if !code.is_ascii_alphanumeric() {
            return Err(WireError::new(format!(
                "an error field code {code:?} is not a letter"
            )));
        }
        let value = crate::escape::unescape(chars.as_str())?;
        out.push((code, value));
    }
    Ok(out)
}

impl Step<'_> {
    /// The step as one string.
    pub fn encode(&self) -> String {
        self.encode_with(&mut Vec::new())
    }

    /// [`Step::encode`], with the send bytes and the records written into `head` first (cleared
    /// here; a buffer the caller may keep between steps). The string returned is allocated
    /// once, at its exact length: a component export that hands it over as a boxed slice, as
    /// wit-bindgen's does, then has no spare capacity to give back with a reallocation.
    pub fn encode_with(&self, head: &mut Vec<u8>) -> String {
        head.clear();
        crate::fields::Decimal::push_decimal(self.send.len(), head);
        head.push(b':');
        push_latin1(head, &self.send);
        self.encode_action(head);
        let mut scratch = String::new();
        for event in &self.events {
            head.push(RS as u8);
            encode_event(head, event, &mut scratch);
        }
        // The records are written as bytes and checked as UTF-8 once, here (`crate::text` says
        // why); the parts, text already, are appended after. Invariant: every write above
        // appends text or ASCII, so the check passes (were it to fail, invalid bytes would
        // become U+FFFD rather than a panic).
        let records = match std::str::from_utf8(head) {
            Ok(text) => Cow::Borrowed(text),
            Err(_) => String::from_utf8_lossy(head),
        };
        let parts: usize = self
            .events
            .iter()
            .filter_map(Event::part)
            .map(|data| GS.len_utf8() + data.len())
            .sum();
        let mut out = String::with_capacity(records.len() + parts);
        out.push_str(&records);
        for event in &self.events {
            if let Some(data) = event.part() {
                out.push(GS);
                out.push_str(data);
            }
        }
        out
    }

    fn encode_action(&self, out: &mut impl TextOut) {
        match &self.action {
            Action::Read => {
                RecordWriter::new(out, 'r');
            }
            Action::Done(status) => {
                RecordWriter::new(out, 'd').text(status.code().encode_utf8(&mut [0; 4]));
            }
            Action::Close => {
                RecordWriter::new(out, 'c');
            }
            Action::Open {
                target,
                timeout_ms,
                addr,
                keepalive,
            } => {
                let mut w = RecordWriter::new(out, 'o');
                write_target(&mut w, target);
                w.opt_num(*timeout_ms).opt(addr.as_deref());
                if let Some(k) = keepalive {
                    w.text(&k.encode());
                }
            }
            Action::NeedPassword {
                host,
                port,
                dbname,
                user,
            } => {
                RecordWriter::new(out, 'p')
                    .text(host)
                    .num(port)
                    .text(dbname)
                    .text(user);
            }
            Action::NeedFile { purpose, path } => {
                RecordWriter::new(out, 'f').text(purpose).text(path);
            }
            Action::CopyIn => {
                RecordWriter::new(out, 'i');
            }
        }
    }
}

fn encode_event(out: &mut impl TextOut, event: &Event<'_>, scratch: &mut String) {
    match event {
        Event::Columns(columns) => write_columns(&mut RecordWriter::new(out, 'C'), columns),
        Event::Rows { count, escaped, .. } => {
            RecordWriter::new(out, 'R').num(count).flag(*escaped);
        }
        Event::Complete { tag, rows } => {
            RecordWriter::new(out, 'K').text(tag).opt_num(*rows);
        }
        Event::EmptyQuery => {
            RecordWriter::new(out, 'Q');
        }
        Event::Prepared {
            name,
            param_types,
            columns,
        } => {
            let mut w = RecordWriter::new(out, 'P');
            w.text(name).num(param_types.len());
            for oid in param_types {
                w.num(oid);
            }
            write_columns(&mut w, columns);
        }
        Event::Error { kind, message, db } => {
            let mut w = RecordWriter::new(out, 'E');
            w.text(kind.as_str()).text(message);
            write_db(&mut w, db, scratch);
        }
        Event::Notice(db) => write_db(&mut RecordWriter::new(out, 'N'), db, scratch),
        Event::Notification {
            process_id,
            channel,
            payload,
        } => {
            RecordWriter::new(out, 'A')
                .num(process_id)
                .text(channel)
                .text(payload);
        }
        Event::Parameter { name, value } => {
            RecordWriter::new(out, 'S').text(name).text(value);
        }
        Event::Backend { process_id } => {
            RecordWriter::new(out, 'B').num(process_id);
        }
        Event::CancelToken(token) => {
            RecordWriter::new(out, 'T').text(token);
        }
        Event::CopyIn { binary, columns } => {
            RecordWriter::new(out, 'G').flag(*binary).num(columns);
        }
        Event::CopyOut { binary, columns } => {
            RecordWriter::new(out, 'H').flag(*binary).num(columns);
        }
        Event::CopyData { text, escaped, .. } => {
            RecordWriter::new(out, 'D')
                .text(if *text { "t" } else { "l" })
                .flag(*escaped);
        }
        Event::Aborted => {
            RecordWriter::new(out, 'X');
        }
        Event::Synced(status) => {
            RecordWriter::new(out, 'Z').text(status.code().encode_utf8(&mut [0; 4]));
        }
        Event::Record(record) => out.push_str(record),
        Event::Conninfo(info) => {
            let mut w = RecordWriter::new(out, 'I');
            w.text(&info.user)
                .text(&info.dbname)
                .opt_num(info.connect_timeout_ms)
                .flag(info.has_password)
                .opt(info.passfile.as_deref())
                .text(&info.sslmode)
                .num(info.targets.len());
            for t in &info.targets {
                write_target(&mut w, t);
            }
        }
    }
}

/// Decodes a step. Never panics, whatever the input.
pub fn decode(step: &str) -> Result<Step<'_>, WireError> {
    decode_inner(step, false)
}

/// As [`decode`], but a result's columns (a `C` record) come back undecoded, as
/// [`Event::Record`]: a host that keeps the columns it decoded last compares the record's text
/// with theirs (a statement executed again sends the same record) and decodes it with
/// [`decode_columns`] only when it differs.
pub fn decode_keeping_columns(step: &str) -> Result<Step<'_>, WireError> {
    decode_inner(step, true)
}

/// The columns of a `C` record ([`Event::Record`] from [`decode_keeping_columns`]).
pub fn decode_columns(record: &str) -> Result<Vec<Column<'_>>, WireError> {
    match decode_event(record)? {
        Event::Columns(columns) => Ok(columns),
        _ => Err(WireError::new("not a columns record")),
    }
}

fn decode_inner(step: &str, keep_columns: bool) -> Result<Step<'_>, WireError> {
    let mut reader = StepReader::new(step, keep_columns)?;
    let mut events = Vec::with_capacity(reader.events_left());
    while let Some(event) = reader.next_event()? {
        events.push(event);
    }
    let (send, action) = reader.finish()?;
    Ok(Step {
        send,
        action,
        events,
    })
}

/// A step read one event at a time: what [`decode_keeping_columns`] returns, for a host that
/// turns each event into its own type at once, without the [`Step`]'s vector of them in
/// between. Never panics, whatever the input.
#[derive(Debug)]
pub struct StepReader<'a> {
    send: Cow<'a, [u8]>,
    action: Action<'a>,
    records: crate::fields::Pieces<'a>,
    /// The events not yet read: the separators left in the records.
    left: usize,
    batches: Option<&'a str>,
    keep_columns: bool,
}

impl<'a> StepReader<'a> {
    /// Reads the send bytes and the action; the events follow from [`StepReader::next_event`].
    /// With `keep_columns`, a result's columns come back as [`Event::Record`], as from
    /// [`decode_keeping_columns`].
    pub fn new(step: &'a str, keep_columns: bool) -> Result<StepReader<'a>, WireError> {
        // A byte scan: the length is a few digits, and a `char` searcher costs more than the
        // scan.
        let colon = step
            .bytes()
            .position(|b| b == b':')
            .ok_or_else(|| WireError::new("a step without its send length"))?;
        let len: usize = crate::fields::parse_number(&step[..colon])
            .ok_or_else(|| WireError::new("a step's send length is not a number"))?;
        let after = &step[colon + 1..];
        let (send, rest) = take_latin1(after, len)?;
        // One scan finds the records' end and counts their separators (each event's record
        // follows one). Separators are ASCII, so byte positions are char boundaries.
        let (end, left) = crate::fields::find_counting(rest.as_bytes(), GS as u8, RS as u8);
        let (meta, batches) = match end {
            Some(i) => (&rest[..i], Some(&rest[i + 1..])),
            None => (rest, None),
        };
        let mut records = crate::fields::Pieces::new(meta, RS);
        let action = decode_action(records.next().unwrap_or(""))?;
        Ok(StepReader {
            send,
            action,
            records,
            left,
            batches,
            keep_columns,
        })
    }

    /// How many events are still to be read.
    pub fn events_left(&self) -> usize {
        self.left
    }

    /// The next event in protocol order, `None` after the last.
    pub fn next_event(&mut self) -> Result<Option<Event<'a>>, WireError> {
        let Some(record) = self.records.next() else {
            return Ok(None);
        };
        self.left = self.left.saturating_sub(1);
        if self.keep_columns && record.starts_with('C') {
            return Ok(Some(Event::Record(Cow::Borrowed(record))));
        }
        let mut event = decode_event(record)?;
        if let Event::Rows { data, .. } | Event::CopyData { data, .. } = &mut event {
            let part = self
                .batches
                .ok_or_else(|| WireError::new("a rows or COPY data event without its part"))?;
            let (this, next) = match part.find(GS) {
                Some(i) => (&part[..i], Some(&part[i + 1..])),
                None => (part, None),
            };
            *data = Cow::Borrowed(this);
            self.batches = next;
        }
        Ok(Some(event))
    }

    /// The send bytes and the action, once every event was read: a data part left over (one
    /// that no event took) is an error, as is an event not read.
    pub fn finish(mut self) -> Result<(Cow<'a, [u8]>, Action<'a>), WireError> {
        if self.records.next().is_some() {
            return Err(WireError::new("a step's events were not all read"));
        }
        if self.batches.is_some() {
            return Err(WireError::new(
                "a data part without its rows or COPY data event",
            ));
        }
        Ok((self.send, self.action))
    }
}

/// Takes `n` latin-1 characters off the front of `s`: the bytes, and what follows.
fn take_latin1(s: &str, n: usize) -> Result<(Cow<'_, [u8]>, &str), WireError> {
    let (bytes, rest) =
        crate::escape::latin1_take(s, n).map_err(|_| WireError::new("a send byte above U+00FF"))?;
    if bytes.len() < n {
        return Err(WireError::new("a step shorter than its send length"));
    }
    Ok((bytes, rest))
}

fn decode_action(record: &str) -> Result<Action<'_>, WireError> {
    let mut r = FieldReader::new(record)?;
    let action = match r.tag() {
        'r' => Action::Read,
        'd' => {
            let code = r.text("status")?;
            Action::Done(
                TxStatus::from_code(&code)
                    .ok_or_else(|| WireError::new(format!("unknown status {code:?}")))?,
            )
        }
        'c' => Action::Close,
        'o' => Action::Open {
            target: read_target(&mut r)?,
            timeout_ms: r.opt_num("timeout")?,
            addr: r.opt("address")?,
            keepalive: match r.has_more() {
                false => None,
                true => {
                    let text = r.text("keepalive")?;
                    Some(Keepalive::parse(&text).ok_or_else(|| {
                        WireError::new(format!("record 'o': malformed keepalive {text:?}"))
                    })?)
                }
            },
        },
        'p' => Action::NeedPassword {
            host: r.text("host")?,
            port: r.num("port")?,
            dbname: r.text("dbname")?,
            user: r.text("user")?,
        },
        'f' => Action::NeedFile {
            purpose: r.text("purpose")?,
            path: r.text("path")?,
        },
        'i' => Action::CopyIn,
        other => return Err(WireError::new(format!("unknown action {other:?}"))),
    };
    r.end()?;
    Ok(action)
}

fn decode_event(record: &str) -> Result<Event<'_>, WireError> {
    let mut r = FieldReader::new(record)?;
    let event = match r.tag() {
        'C' => Event::Columns(read_columns(&mut r)?),
        'R' => Event::Rows {
            count: r.num("row count")?,
            escaped: r.flag("escaped")?,
            data: Cow::Borrowed(""),
        },
        'K' => Event::Complete {
            tag: r.text("tag")?,
            rows: r.opt_num("rows")?,
        },
        'Q' => Event::EmptyQuery,
        'P' => {
            let name = r.text("name")?;
            let n = r.count("parameter count", 1)?;
            let mut param_types = Vec::with_capacity(n);
            for _ in 0..n {
                param_types.push(r.num("parameter type")?);
            }
            Event::Prepared {
                name,
                param_types,
                columns: read_columns(&mut r)?,
            }
        }
        'E' => {
            let kind = r.text("kind")?;
            let kind = ErrorKind::parse(&kind)
                .ok_or_else(|| WireError::new(format!("unknown error kind {kind:?}")))?;
            let message = r.text("message")?;
            Event::Error {
                kind,
                message,
                db: read_db(&mut r)?,
            }
        }
        'N' => Event::Notice(read_db(&mut r)?),
        'A' => Event::Notification {
            process_id: r.num("process id")?,
            channel: r.text("channel")?,
            payload: r.text("payload")?,
        },
        'S' => Event::Parameter {
            name: r.text("name")?,
            value: r.text("value")?,
        },
        'B' => Event::Backend {
            process_id: r.num("process id")?,
        },
        'T' => Event::CancelToken(r.text("token")?),
        'G' => Event::CopyIn {
            binary: r.flag("binary")?,
            columns: r.num("column count")?,
        },
        'H' => Event::CopyOut {
            binary: r.flag("binary")?,
            columns: r.num("column count")?,
        },
        'D' => {
            let encoding = r.text("encoding")?;
            let text = match &*encoding {
                "t" => true,
                "l" => false,
                other => {
                    return Err(WireError::new(format!(
                        "unknown COPY data encoding {other:?}"
                    )))
                }
            };
            Event::CopyData {
                text,
                escaped: r.flag("escaped")?,
                data: Cow::Borrowed(""),
            }
        }
        'X' => Event::Aborted,
        'Z' => {
            let code = r.text("status")?;
            Event::Synced(
                TxStatus::from_code(&code)
                    .ok_or_else(|| WireError::new(format!("unknown status {code:?}")))?,
            )
        }
        'I' => {
            let user = r.text("user")?;
            let dbname = r.text("dbname")?;
            let connect_timeout_ms = r.opt_num("connect timeout")?;
            let has_password = r.flag("has-password")?;
            let passfile = r.opt("passfile")?;
            let sslmode = r.text("sslmode")?;
            let n = r.count("target count", 3)?;
            let mut targets = Vec::with_capacity(n);
            for _ in 0..n {
                targets.push(read_target(&mut r)?);
            }
            Event::Conninfo(Conninfo {
                targets,
                user,
                dbname,
                connect_timeout_ms,
                has_password,
                passfile,
                sslmode,
            })
        }
        other => return Err(WireError::new(format!("unknown event {other:?}"))),
    };
    r.end()?;
    Ok(event)
}
