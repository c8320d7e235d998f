//! The sans-I/O session: one PostgreSQL connection's protocol state.
//!
//! Every entry point takes what the host observed or wants and returns a [`Step`]: the bytes to
//! write, the next [`Action`] and the [`Event`]s produced. The session never blocks and never
//! touches I/O, so it is driven identically by the Rust host, by Python, and by unit tests.
//!
//! This file holds the state, the entry points and the reading of server messages; `auth`
//! answers authentication requests, `requests` encodes the client's requests (with the
//! statement cache's retry), `target` chooses among a conninfo's hosts (`target_session_attrs`,
//! `load_balance_hosts`), `transport` puts TLS (or nothing) between the protocol and the
//! host's bytes, `tls_files` reads the certificates and keys it needs before the first open,
//! `copy` runs COPY FROM STDIN and COPY TO STDOUT, `pipeline` runs pipelines (many items, sync
//! points, results mapped back to the items in order).

use std::collections::HashMap;
use std::hash::BuildHasherDefault;
use std::sync::Arc;

use bytes::{Buf, BytesMut};
use fallible_iterator::FallibleIterator;
use postgres_protocol::message::backend::{Message, RowDescriptionBody};
use postgres_protocol::message::frontend;

use wasmpg_wire::batch::{BatchWriter, RowBatch};

use crate::codec::{self, Decoder};
use crate::conninfo::{self, AuthMethod, ConnInfo, Target};
use crate::error::{DbError, Error, ErrorKind};
use crate::framing::{self, message_name};
use crate::scram::ScramSha256;
use crate::statement_cache::{self, Invalidation, Lookup, Pending, StatementCache};

pub use copy::CopyChunk;
pub use pipeline::PipelineItem;

mod auth;
mod copy;
mod pipeline;
mod requests;
mod target;
mod tls_files;
mod transport;

/// A `HashMap` with FxHash.
type FxHashMap<K, V> = HashMap<K, V, BuildHasherDefault<rustc_hash::FxHasher>>;

/// Session limits and behaviour, from the host.
#[derive(Debug, Clone)]
pub struct Options {
    pub max_message_size: u32,
    pub batch_bytes: u32,
    pub statement_cache: u32,
    /// The password file libpq reads when neither `passfile` nor `PGPASSFILE` names one
    /// (`~/.pgpass`): the host knows the home directory, the guest does not.
    pub default_passfile: Option<String>,
    /// libpq's `~/.postgresql` (root.crt, root.crl, postgresql.crt, postgresql.key are read
    /// from it when the conninfo names no file): the host knows the home directory.
    pub default_ssl_dir: Option<String>,
    /// libpq's `DEFAULT_PGSOCKET_DIR`: a Unix-socket host equal to it is `localhost` in the
    /// password file.
    pub default_socket_dir: String,
    /// Run-time parameters the host adds to the StartupMessage (`statement_timeout`, ...).
    pub startup_params: Vec<(String, String)>,
}

/// StartupMessage parameters a host may not set: the session sets the first ones itself, and
/// the canonical value forms would change with the others (floats printed with fewer digits,
/// a replication connection).
const RESERVED_STARTUP_PARAMS: &[&str] = &[
    "user",
    "database",
    "client_encoding",
    "DateStyle",
    "IntervalStyle",
    "extra_float_digits",
    "replication",
];

impl Default for Options {
    fn default() -> Self {
        Options {
            max_message_size: 64 << 20,
            batch_bytes: 256 << 10,
            statement_cache: 256,
            default_passfile: None,
            default_ssl_dir: None,
            default_socket_dir: conninfo::DEFAULT_SOCKET_DIR.to_owned(),
            startup_params: Vec::new(),
        }
    }
}

/// One result column, from RowDescription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    pub type_oid: u32,
    pub type_modifier: i32,
    pub table_oid: u32,
    pub column_id: i16,
    pub type_size: i16,
}

/// A result's columns, and the same as the step's packed `C` record (docs/abi.md), encoded
/// once per statement description: each execution of a cached or prepared statement copies
/// the record instead of encoding its columns again.
#[derive(Debug, PartialEq, Eq)]
pub struct ResultColumns {
    pub columns: Vec<Column>,
    pub record: String,
}

impl ResultColumns {
    fn new(columns: Vec<Column>) -> ResultColumns {
        let record = columns_record(&columns);
        ResultColumns { columns, record }
    }
}

impl std::ops::Deref for ResultColumns {
    type Target = [Column];

    fn deref(&self) -> &[Column] {
        &self.columns
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandComplete {
    pub tag: String,
    pub rows: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatementInfo {
    pub name: String,
    pub param_types: Vec<u32>,
    pub columns: Vec<Column>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxStatus {
    Idle,
    InTransaction,
    Failed,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordRequest {
    pub host: String,
    pub port: u16,
    pub dbname: String,
    pub user: String,
}

/// What happened, in protocol order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A result's columns, shared by every execution of the statement described.
    Columns(Arc<ResultColumns>),
    Rows(RowBatch),
    Complete(CommandComplete),
    EmptyQuery,
    Prepared(StatementInfo),
    Error(Error),
    Notice(Box<DbError>),
    Notification {
        process_id: i32,
        channel: String,
        payload: String,
    },
    Parameter {
        name: String,
        value: String,
    },
    BackendKey {
        process_id: i32,
        secret_key: i32,
    },
    Ready(TxStatus),
    /// The token a cancel request needs (the answer to the host's `K` request).
    CancelToken(String),
    /// A parsed conninfo (the answer to the host's `i` request).
    Conninfo(Box<ConnInfo>),
    /// COPY FROM STDIN began: the host sends the data (the `copy-in` action).
    CopyIn {
        binary: bool,
        columns: u32,
    },
    /// COPY TO STDOUT began: `CopyData` events follow.
    CopyOut {
        binary: bool,
        columns: u32,
    },
    /// A chunk of COPY TO STDOUT's data.
    CopyData(CopyChunk),
    /// A pipeline item the server skipped: an earlier item since the last sync point failed.
    Aborted,
    /// A pipeline's Sync item: the transaction status its ReadyForQuery reported.
    Synced(TxStatus),
}

/// What the host must do next, after sending `Step::send`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Open(Target),
    Read,
    Done,
    Close,
    NeedPassword(PasswordRequest),
    /// Read a file (its policy permitting) and answer with [`Session::file`].
    NeedFile {
        purpose: String,
        path: String,
    },
    /// The server waits for COPY FROM STDIN's data: [`Session::copy_data`], then
    /// [`Session::copy_done`] or [`Session::copy_fail`].
    CopyIn,
}

/// How the host answered a [`Action::NeedFile`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileAnswer<'a> {
    Text(&'a str),
    /// The contents byte for byte (the `Y` request).
    Bytes(&'a [u8]),
    Missing,
    /// The host's policy does not let the session read it; the reason follows.
    Denied(&'a str),
    /// Group or others may read it.
    TooOpen,
    /// It could not be read; the reason follows.
    Unreadable(&'a str),
}

/// The result of every call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub send: Vec<u8>,
    pub action: Action,
    pub events: Vec<Event>,
}

/// A statement's description: what the server resolved for it.
#[derive(Debug)]
struct Described {
    param_types: Vec<u32>,
    /// `None` when the statement returns no rows (NoData); `Some` may hold zero columns
    /// (`SELECT FROM t` returns rows without columns).
    columns: Option<Arc<ResultColumns>>,
    /// Every column in text: for a Bind written before the description was known, and for the
    /// simple query's results.
    text: Arc<Reading>,
    /// The types [`Decoder::binary_for`] names in binary, timestamptz in text.
    binary: Arc<Reading>,
    /// As `binary`, with timestamptz in binary too: for sessions whose TimeZone is UTC.
    binary_utc: Arc<Reading>,
}

impl Described {
    /// `binary`: whether executions of the statement may ask for binary results (`None` for a
    /// simple query's result, which is always text), and if so whether the server has infinite
    /// intervals ([`Session::infinite_intervals`]).
    fn new(param_types: Vec<u32>, columns: Option<Vec<Column>>, binary: Option<bool>) -> Described {
        let oids: Vec<u32> = columns.iter().flatten().map(|c| c.type_oid).collect();
        let text = Arc::new(Reading::new(&oids, None));
        let (binary, binary_utc) = if let Some(infinities) = binary {
            (
                Reading::new(&oids, Some((false, infinities))).shared_or(&text),
                Reading::new(&oids, Some((true, infinities))).shared_or(&text),
            )
        } else {
            (text.clone(), text.clone())
        };
        Described {
            param_types,
            columns: columns.map(|c| Arc::new(ResultColumns::new(c))),
            text,
            binary,
            binary_utc,
        }
    }

    /// How a Bind written now for this (described) statement asks for its result; `utc`: the
    /// session's TimeZone is UTC.
    fn reading(&self, utc: bool) -> &Arc<Reading> {
        if utc {
            &self.binary_utc
        } else {
            &self.binary
        }
    }
}

/// How one execution's result columns are asked for (Bind's result format codes) and read.
#[derive(Debug, PartialEq, Eq)]
struct Reading {
    decoders: Vec<Decoder>,
    /// `[0]` when every column is text (one code for all), else one code per column.
    formats: Vec<i16>,
}

impl Reading {
    /// Decoders for columns of types `oids`: all text when `binary` is `None`, else binary
    /// where [`Decoder::binary_for`] says so (`Some((utc, infinite_intervals))`).
    fn new(oids: &[u32], binary: Option<(bool, bool)>) -> Reading {
        let decoders: Vec<Decoder> = oids
            .iter()
            .map(|&oid| {
                binary
                    .and_then(|(utc, infinities)| Decoder::binary_for(oid, utc, infinities))
                    .unwrap_or_else(|| codec::decoder_for(oid))
            })
            .collect();
        let formats = if decoders.iter().any(Decoder::is_binary) {
            decoders.iter().map(|d| i16::from(d.is_binary())).collect()
        } else {
            vec![0]
        };
        Reading { decoders, formats }
    }

    /// This reading, or `text` itself when they are the same (no column is binary).
    fn shared_or(self, text: &Arc<Reading>) -> Arc<Reading> {
        if self == **text {
            text.clone()
        } else {
            Arc::new(self)
        }
    }
}

/// An execution whose Bind went out: its statement's description (`None`: the Describe in the
/// same request supplies it, and the result is all text) and how its result was asked for.
type Bound = Option<(Arc<Described>, Arc<Reading>)>;

/// Where a statement being described in the current request goes once it succeeds.
#[derive(Debug)]
enum DescribeTarget {
    /// Insert into the automatic cache under its pending name.
    Cache(Pending),
    /// An explicit `prepare`: report `prepared` and remember it.
    Prepared(String),
    /// Unnamed or already known elsewhere: only used for this request.
    Transient,
}

/// A Describe(Statement) in flight.
#[derive(Debug)]
struct Describing {
    target: DescribeTarget,
    param_types: Option<Vec<u32>>,
    result: Option<Arc<Described>>,
}

/// The result set being received.
#[derive(Debug)]
struct Current {
    reading: Arc<Reading>,
    /// A client-side decode error ended this result; its remaining rows are skipped.
    discarding: bool,
}

#[derive(Debug)]
enum Auth {
    None,
    Cleartext,
    Md5([u8; 4]),
    /// The server offered SCRAM-SHA-256 (and -PLUS, if `plus`); the exchange starts once a
    /// password is known.
    SaslRequested {
        plus: bool,
    },
    /// A SCRAM exchange in progress.
    Scram(Box<ScramSha256>),
}

#[derive(Debug)]
enum State {
    /// Created, no connect yet.
    New,
    /// Waiting for the host to open `info.hosts[index]`.
    Opening,
    /// Startup and authentication in progress.
    Startup,
    /// Waiting for the host's `password` answer.
    NeedPassword,
    /// Waiting for the host to read the password file.
    NeedPassfile,
    /// Waiting for the host to read a TLS file (before opening; session/tls_files.rs).
    NeedTlsFile,
    /// Idle: ready for a request.
    Ready,
    /// A request is in flight; waiting for ReadyForQuery.
    Busy,
    /// The server waits for COPY FROM STDIN's data from the host (session/copy.rs).
    CopyIn,
    /// Startup is complete; asking the server whether it fits `target_session_attrs`.
    Checking,
    /// The session is over.
    Closed,
}

/// One PostgreSQL connection's protocol state.
pub struct Session {
    opts: Options,
    state: State,
    info: Option<ConnInfo>,
    host_index: usize,
    attempts: Vec<String>,
    password: Option<String>,
    /// The password file was consulted for this connection attempt.
    passfile_read: bool,
    /// The address the host reported for the open connection (for cancel requests).
    peer_addr: Option<String>,
    /// BackendKeyData: what a cancel request needs.
    backend_key: Option<(i32, i32)>,
    auth: Auth,
    /// AuthenticationOk arrived: only then may startup complete.
    authenticated: bool,
    /// The server asked for some authentication before AuthenticationOk (require_auth=none).
    auth_requested: bool,
    /// A SCRAM-SHA-256-PLUS exchange completed (channel_binding=require).
    channel_bound: bool,
    inbuf: BytesMut,
    out: BytesMut,
    /// A step's send buffer given back by [`Session::recycle`], for the next step's bytes.
    spare_send: Vec<u8>,
    events: Vec<Event>,
    /// FxHash (as the statement cache): the keys are server parameter names and the
    /// application's statement names, looked up on every round trip, not attacker-chosen.
    parameters: FxHashMap<String, String>,
    /// The server's TimeZone is a UTC zone ([`is_utc_zone`]): timestamptz results may be asked
    /// for in binary.
    utc: bool,
    tx_status: TxStatus,
    // Request state.
    describing: Option<Describing>,
    /// Descriptions for the executions of the current request, consumed at each BindComplete.
    pending_results: std::collections::VecDeque<Bound>,
    current: Option<Current>,
    batch: BatchWriter,
    cache: StatementCache<Arc<Described>>,
    prepared: FxHashMap<String, Arc<Described>>,
    /// The current `query` request when it ran a cached statement: what to send again if the
    /// server says the statement is stale or gone.
    retry: Option<Retry>,
    /// The last `retry` once its request ended, for its buffers.
    spare_retry: Option<Retry>,
    /// The statements whose Close(Statement) the request being encoded carries (taken from the
    /// cache by `begin_request`): owed again if the request is refused before it is sent.
    closing: Vec<String>,
    /// What `target_session_attrs` asks of the server (`Any` once prefer-standby falls back).
    wanted: target::Wanted,
    /// The check query in flight, and its answer once it arrived.
    checking: Option<(target::Wanted, Option<bool>)>,
    /// A result of the current request reached the host's events (columns, a tag, an empty
    /// query): from then on it is not retried, so nothing is delivered twice.
    results_seen: bool,
    /// The error of a request that will be retried at ReadyForQuery if the transaction allows
    /// it, else reported then.
    deferred: Option<DbError>,
    /// Plain, negotiating TLS, or TLS (session/transport.rs).
    transport: transport::Transport,
    /// The TLS files still to read before opening, the next first.
    tls_files: Vec<tls_files::TlsFile>,
    /// What the TLS files held (roots, CRLs, the client certificate and key).
    tls: tls_files::TlsMaterial,
    /// The time the host passed with the opened connection (Unix seconds), for TLS.
    now: Option<u64>,
    /// libpq's second attempt on one host with the other transport: (host index, with TLS).
    transport_retry: Option<(usize, bool)>,
    /// The current request uses the extended protocol (its Sync is ignored during COPY).
    extended: bool,
    /// COPY TO STDOUT in progress, with its data chunk.
    copy_out: Option<copy::CopyOut>,
    /// The pipeline in flight (session/pipeline.rs): what the server still owes, in order.
    pipeline: Option<pipeline::Pipeline>,
}

/// A `query` request that ran a cached statement, kept until its ReadyForQuery. Its buffers
/// are reused by the next one (`Session::spare_retry`): most requests are such queries.
#[derive(Debug, Default)]
struct Retry {
    sql: String,
    param_types: Vec<u32>,
    params: String,
    /// The cached statement's name.
    name: Arc<str>,
    /// No transaction was open when the request began: its implicit transaction is rolled back
    /// by the error, so sending it again cannot apply anything twice.
    idle_at_start: bool,
}

/// The largest buffer kept between calls for reuse, in bytes: by [`Session::recycle`], and
/// the dispatcher's buffer for a step's records.
pub(crate) const RECYCLE_MAX: usize = 16 * 1024;

fn write_err(e: std::io::Error) -> Error {
    Error::new(ErrorKind::Encode, format!("cannot encode message: {e}"))
}

impl Session {
    pub fn new(opts: Options) -> Session {
        Session {
            cache: StatementCache::new(opts.statement_cache),
            opts,
            state: State::New,
            info: None,
            host_index: 0,
            attempts: Vec::new(),
            password: None,
            passfile_read: false,
            peer_addr: None,
            backend_key: None,
            auth: Auth::None,
            authenticated: false,
            auth_requested: false,
            channel_bound: false,
            inbuf: BytesMut::new(),
            out: BytesMut::new(),
            spare_send: Vec::new(),
            events: Vec::new(),
            parameters: FxHashMap::default(),
            utc: false,
            tx_status: TxStatus::Idle,
            describing: None,
            pending_results: Default::default(),
            current: None,
            batch: BatchWriter::default(),
            prepared: FxHashMap::default(),
            retry: None,
            spare_retry: None,
            closing: Vec::new(),
            wanted: target::Wanted::Any,
            checking: None,
            results_seen: false,
            deferred: None,
            transport: transport::Transport::Plain,
            transport_retry: None,
            tls_files: Vec::new(),
            tls: tls_files::TlsMaterial::default(),
            now: None,
            extended: false,
            copy_out: None,
            pipeline: None,
        }
    }

    /// Whether the server is PostgreSQL 17 or later, whose interval type has infinities (its
    /// `server_version` parameter's major number; false when unknown or unreadable).
    fn infinite_intervals(&self) -> bool {
        self.parameter("server_version").is_some_and(|v| {
            let major = v.split(|c: char| !c.is_ascii_digit()).next().unwrap_or("");
            major.parse::<u32>().is_ok_and(|m| m >= 17)
        })
    }

    /// Server parameters reported so far (ParameterStatus).
    pub fn parameter(&self, name: &str) -> Option<&str> {
        self.parameters.get(name).map(String::as_str)
    }

    /// The parsed conninfo, once `connect` accepted it.
    pub fn conninfo(&self) -> Option<&ConnInfo> {
        self.info.as_ref()
    }

    /// The session's current action, with whatever events are pending: for requests that
    /// change nothing (the cancel token, a parsed conninfo).
    pub fn poll(&mut self) -> Step {
        self.finish()
    }

    pub fn tx_status(&self) -> TxStatus {
        self.tx_status
    }

    // ---- connection establishment ----

    pub fn connect(
        &mut self,
        conninfo: &str,
        defaults: &[(String, String)],
    ) -> Result<Step, Error> {
        if !matches!(self.state, State::New) {
            return Err(Error::new(
                ErrorKind::Usage,
                "connect called on a session that was already used",
            ));
        }
        let info = conninfo::parse_supported(conninfo, defaults)?;
        if info.hosts.is_empty() {
            return Err(Error::new(ErrorKind::Config, "no host to connect to"));
        }
        self.password = info.password.clone();
        self.wanted = target::Wanted::parse(&info.target_session_attrs);
        self.info = Some(info);
        self.order_hosts();
        self.host_index = 0;
        self.plan_tls_files();
        Ok(self.finish())
    }

    /// The connection [`Action::Open`] asked for is established; `peer_addr` is the address it
    /// reached, if the host reports it (kept for the cancel token).
    pub fn opened(&mut self, peer_addr: Option<&str>, now: Option<u64>) -> Step {
        if !matches!(self.state, State::Opening) {
            return self.usage("opened called while no connection was being opened");
        }
        let Some(info) = &self.info else {
            return self.usage("opened called before connect");
        };
        let application_name = info
            .application_name
            .as_deref()
            .or(info.fallback_application_name.as_deref());
        let mut params: Vec<(&str, &str)> = vec![
            ("user", &info.user),
            ("database", &info.dbname),
            // The codecs read text in UTF-8 and dates in ISO order. Both are parameters that
            // PgBouncer tracks, so a pooled connection gets them too. Nothing else is sent:
            // PgBouncer refuses untracked startup parameters by default, intervals are read in
            // every IntervalStyle, and since PostgreSQL 12 the default extra_float_digits (1)
            // already prints floats exactly.
            ("client_encoding", "UTF8"),
            ("DateStyle", "ISO, MDY"),
        ];
        if let Some(name) = application_name {
            params.push(("application_name", name));
        }
        if let Some(options) = info.options.as_deref() {
            params.push(("options", options));
        }
        for (name, value) in &self.opts.startup_params {
            if RESERVED_STARTUP_PARAMS
                .iter()
                .any(|r| r.eq_ignore_ascii_case(name))
                || params.iter().any(|(p, _)| p.eq_ignore_ascii_case(name))
            {
                return self.fail(Error::new(
                    ErrorKind::Config,
                    format!("the startup parameter {name:?} is set by the conninfo or the driver"),
                ));
            }
            params.push((name, value));
        }
        self.peer_addr = peer_addr.map(str::to_owned);
        self.passfile_read = false;
        let mut startup = BytesMut::new();
        if let Err(e) = frontend::startup_message(params, &mut startup) {
            return self.fail(write_err(e));
        }
        if let Err(e) = self.begin_transport(startup.to_vec(), now) {
            return self.fail(e);
        }
        self.state = State::Startup;
        self.finish()
    }

    pub fn open_failed(&mut self, kind: ErrorKind, reason: &str) -> Step {
        if !matches!(self.state, State::Opening) {
            return self.usage("open-failed called while no connection was being opened");
        }
        self.attempts
            .push(format!("{}: {reason}", self.described_target()));
        self.host_index += 1;
        let remaining = self.info.as_ref().map_or(0, |i| i.hosts.len());
        if self.host_index < remaining || self.second_pass() {
            return self.finish();
        }
        let message = if self.attempts.len() == 1 {
            self.attempts[0].clone()
        } else {
            format!(
                "could not connect to any host: {}",
                self.attempts.join("; ")
            )
        };
        self.fail(Error::new(kind, message))
    }

    fn described_target(&self) -> String {
        self.target()
            .map(|t| conninfo::describe_target(&t))
            .unwrap_or_default()
    }

    fn target(&self) -> Option<Target> {
        let info = self.info.as_ref()?;
        info.hosts.get(self.host_index).map(|h| h.target.clone())
    }

    // ---- input ----

    pub fn feed(&mut self, data: &[u8]) -> Step {
        if matches!(self.state, State::Closed) {
            return self.finish();
        }
        if let Err(e) = self.unseal(data).and_then(|()| self.process()) {
            if self.retry_other_transport(&e) {
                return self.finish();
            }
            return self.fail(e);
        }
        self.finish()
    }

    pub fn eof(&mut self) -> Step {
        if matches!(self.state, State::Closed) {
            return self.finish();
        }
        let message = match self.state {
            State::Startup | State::NeedPassword | State::NeedPassfile | State::Checking => {
                "the server closed the connection during startup"
            }
            State::Busy | State::CopyIn => {
                "the server closed the connection unexpectedly while a request was running; \
                 its outcome is unknown"
            }
            _ => "the server closed the connection",
        };
        let error = Error::new(ErrorKind::Closed, message);
        if self.retry_other_transport(&error) {
            return self.finish();
        }
        self.fail(error)
    }

    fn process(&mut self) -> Result<(), Error> {
        loop {
            if self.copy_out.is_some() {
                self.take_copy_data()?;
            }
            // The hot path of every result: while a request runs, a DataRow is read straight
            // from the input buffer instead of being parsed into a `Message` (no `Bytes` handles
            // per row), so `handle_response` and the pipeline never see one.
            if matches!(self.state, State::Busy) {
                if let Some(total) =
                    framing::complete_data_row(&self.inbuf, self.opts.max_message_size)
                {
                    let inbuf = std::mem::take(&mut self.inbuf);
                    let result = inbuf
                        .get(5..total)
                        .ok_or_else(|| Error::protocol("a truncated DataRow"))
                        .and_then(|body| self.data_row(body));
                    self.inbuf = inbuf;
                    self.inbuf.advance(total);
                    result?;
                    continue;
                }
            }
            let Some(message) = framing::next_message(&mut self.inbuf, self.opts.max_message_size)?
            else {
                return Ok(());
            };
            self.handle(message)?;
            if matches!(
                self.state,
                State::Closed | State::NeedPassword | State::NeedPassfile | State::Opening
            ) {
                return Ok(());
            }
        }
    }

    fn handle(&mut self, message: Message) -> Result<(), Error> {
        // Messages that may arrive at any time.
        match message {
            Message::NoticeResponse(body) => {
                let notice = DbError::parse(body.fields())?;
                self.events.push(Event::Notice(Box::new(notice)));
                Ok(())
            }
            Message::ParameterStatus(body) => {
                let name = body.name().map_err(malformed)?.to_owned();
                let value = body.value().map_err(malformed)?.to_owned();
                if name == "TimeZone" {
                    self.utc = is_utc_zone(&value);
                }
                self.parameters.insert(name.clone(), value.clone());
                self.events.push(Event::Parameter { name, value });
                Ok(())
            }
            Message::NotificationResponse(body) => {
                self.events.push(Event::Notification {
                    process_id: body.process_id(),
                    channel: body.channel().map_err(malformed)?.to_owned(),
                    payload: body.message().map_err(malformed)?.to_owned(),
                });
                Ok(())
            }
            Message::ErrorResponse(body) if matches!(self.state, State::Ready) => {
                // E.g. the backend was terminated while the session was idle.
                let db = DbError::parse(body.fields())?;
                self.server_error(db)
            }
            message => match self.state {
                State::Startup => self.handle_startup(message),
                State::Checking => self.handle_check(message),
                State::Busy => self.handle_response(message),
                State::CopyIn => self.handle_copy_in(message),
                _ => Err(Error::protocol(format!(
                    "unexpected message {} while {}",
                    message_name(&message),
                    match self.state {
                        State::Ready => "idle",
                        _ => "not expecting one",
                    }
                ))),
            },
        }
    }

    fn handle_startup(&mut self, message: Message) -> Result<(), Error> {
        match message {
            Message::AuthenticationOk => {
                if matches!(self.auth, Auth::Scram(_)) {
                    return Err(Error::new(
                        ErrorKind::Authentication,
                        "the server ended SCRAM authentication without proving it knows the password",
                    ));
                }
                self.authentication_ok()?;
                self.authenticated = true;
                Ok(())
            }
            Message::AuthenticationCleartextPassword => {
                self.auth_requested(AuthMethod::Password)?;
                self.password_needed(Auth::Cleartext)
            }
            Message::AuthenticationMd5Password(body) => {
                self.auth_requested(AuthMethod::Md5)?;
                self.password_needed(Auth::Md5(body.salt()))
            }
            Message::AuthenticationSasl(body) => {
                self.auth_requested(AuthMethod::ScramSha256)?;
                let mut mechanisms = Vec::new();
                let mut iter = body.mechanisms();
                while let Some(m) = iter.next().map_err(malformed)? {
                    mechanisms.push(m.to_owned());
                }
                let plus = mechanisms.iter().any(|m| m == ScramSha256::MECHANISM_PLUS);
                self.check_binding_offer(plus)?;
                if !plus && !mechanisms.iter().any(|m| m == ScramSha256::MECHANISM) {
                    return Err(Error::new(
                        ErrorKind::Authentication,
                        format!(
                            "the server offered no supported SASL mechanism (offered: {})",
                            mechanisms.join(", ")
                        ),
                    ));
                }
                self.password_needed(Auth::SaslRequested { plus })
            }
            Message::AuthenticationSaslContinue(body) => {
                let Auth::Scram(scram) = &mut self.auth else {
                    return Err(Error::protocol("SASL continue without a SASL exchange"));
                };
                let reply = scram
                    .server_first(body.data())
                    .map_err(|e| Error::new(ErrorKind::Authentication, format!("SCRAM: {e}")))?;
                frontend::sasl_response(&reply, &mut self.out).map_err(write_err)
            }
            Message::AuthenticationSaslFinal(body) => {
                let Auth::Scram(scram) = &self.auth else {
                    return Err(Error::protocol("SASL final without a SASL exchange"));
                };
                scram
                    .server_final(body.data())
                    .map_err(|e| Error::new(ErrorKind::Authentication, format!("SCRAM: {e}")))?;
                self.channel_bound = scram.mechanism() == ScramSha256::MECHANISM_PLUS;
                self.auth = Auth::None;
                Ok(())
            }
            Message::AuthenticationGss
            | Message::AuthenticationKerberosV5
            | Message::AuthenticationScmCredential
            | Message::AuthenticationSspi
            | Message::AuthenticationGssContinue(_) => {
                self.auth_requested(if matches!(message, Message::AuthenticationSspi) {
                    AuthMethod::Sspi
                } else {
                    AuthMethod::Gss
                })?;
                Err(Error::new(
                    ErrorKind::Authentication,
                    "the server requested an authentication method wasmpg does not support \
                 (GSSAPI/SSPI/Kerberos/SCM)",
                ))
            }
            Message::BackendKeyData(body) => {
                self.backend_key = Some((body.process_id(), body.secret_key()));
                self.events.push(Event::BackendKey {
                    process_id: body.process_id(),
                    secret_key: body.secret_key(),
                });
                Ok(())
            }
            Message::ErrorResponse(body) => {
                let db = DbError::parse(body.fields())?;
                Err(Error::db(db, true))
            }
            Message::ReadyForQuery(_) if !self.authenticated => Err(Error::protocol(
                "the server reported ReadyForQuery before authentication completed",
            )),
            Message::ReadyForQuery(body) => self.startup_done(body.status()),
            other => Err(Error::protocol(format!(
                "unexpected message {} during startup",
                message_name(&other)
            ))),
        }
    }

    fn handle_response(&mut self, message: Message) -> Result<(), Error> {
        if self.pipeline.is_some() {
            return self.handle_pipeline(message);
        }
        match message {
            Message::ParseComplete | Message::CloseComplete => Ok(()),
            Message::ParameterDescription(body) => {
                let Some(describing) = &mut self.describing else {
                    return Err(Error::protocol("unexpected ParameterDescription"));
                };
                let mut types = Vec::new();
                let mut iter = body.parameters();
                while let Some(oid) = iter.next().map_err(malformed)? {
                    types.push(oid);
                }
                describing.param_types = Some(types);
                Ok(())
            }
            Message::RowDescription(body) => {
                let columns = parse_columns(&body)?;
                // Only a statement's description may be read in binary later; a simple query's
                // result set is not, and needs no look at the server version.
                let described_here = self.describing.as_ref().is_some_and(|d| d.result.is_none());
                let binary = described_here.then(|| self.infinite_intervals());
                if let Some(describing) = self.describing.as_mut().filter(|_| described_here) {
                    let types = describing.param_types.take().unwrap_or_default();
                    describing.result =
                        Some(Arc::new(Described::new(types, Some(columns), binary)));
                    return Ok(());
                }
                // Simple query: a result set starts.
                let described = Arc::new(Described::new(Vec::new(), Some(columns), None));
                let reading = described.text.clone();
                self.start_result(described, reading);
                Ok(())
            }
            Message::NoData => {
                let Some(describing) = &mut self.describing else {
                    return Err(Error::protocol("unexpected NoData"));
                };
                let types = describing.param_types.take().unwrap_or_default();
                describing.result = Some(Arc::new(Described::new(types, None, None)));
                Ok(())
            }
            Message::BindComplete => {
                let (described, reading) = match self.pending_results.pop_front() {
                    Some(Some(bound)) => bound,
                    Some(None) => match self.describing.as_ref().and_then(|d| d.result.clone()) {
                        Some(d) => {
                            let text = d.text.clone();
                            (d, text)
                        }
                        None => {
                            return Err(Error::protocol(
                                "BindComplete before the statement was described",
                            ))
                        }
                    },
                    None => return Err(Error::protocol("unexpected BindComplete")),
                };
                if described.columns.is_some() {
                    self.start_result(described, reading);
                }
                Ok(())
            }
            // Taken by `process` before parsing.
            Message::DataRow(_) => Err(Error::protocol("unexpected DataRow")),
            Message::CommandComplete(body) => {
                self.flush_batch();
                self.current = None;
                self.results_seen = true;
                let tag = body.tag().map_err(malformed)?.to_owned();
                if tag == "DISCARD ALL" || tag == "DEALLOCATE ALL" {
                    // The server dropped every prepared statement of the session.
                    self.cache.clear();
                    self.prepared.clear();
                }
                let rows = tag_rows(&tag);
                self.events
                    .push(Event::Complete(CommandComplete { tag, rows }));
                Ok(())
            }
            Message::EmptyQueryResponse => {
                self.current = None;
                self.results_seen = true;
                self.events.push(Event::EmptyQuery);
                Ok(())
            }
            Message::PortalSuspended => {
                self.flush_batch();
                self.current = None;
                Ok(())
            }
            Message::ErrorResponse(body) => {
                let db = DbError::parse(body.fields())?;
                self.flush_batch();
                self.current = None;
                self.pending_results.clear();
                // COPY TO STDOUT failed midway: the data so far is delivered, then the error.
                self.flush_copy();
                self.copy_out = None;
                if let Some(describing) = &mut self.describing {
                    // A statement whose Parse or Describe failed does not exist on the server:
                    // it must not be cached or reported. One that was described (the failure
                    // came later, e.g. in Bind) exists and stays usable.
                    if describing.result.is_none() {
                        describing.target = DescribeTarget::Transient;
                    }
                }
                let invalidation = statement_cache::invalidation(&db.code, db.routine.as_deref());
                let ours = match (&self.retry, invalidation) {
                    (Some(retry), Some(Invalidation::Stale)) => {
                        self.cache.discard(&retry.name, true)
                    }
                    (Some(retry), Some(Invalidation::Gone)) => {
                        self.cache.discard(&retry.name, false)
                    }
                    _ => false,
                };
                let retryable = ours
                    && !self.results_seen
                    && self.deferred.is_none()
                    && self.retry.as_ref().is_some_and(|r| r.idle_at_start);
                if retryable && !db.is_fatal() {
                    // Decided at ReadyForQuery, once the transaction state is known.
                    self.deferred = Some(db);
                    return Ok(());
                }
                self.server_error(db)
            }
            Message::CopyInResponse(body) => {
                self.flush_batch();
                self.current = None;
                self.copy_in_response(&body)
            }
            Message::CopyOutResponse(body) => {
                self.flush_batch();
                self.current = None;
                self.copy_out_response(&body)
            }
            Message::CopyData(body) => self.copy_out_data(body.data()),
            Message::CopyDone => self.copy_out_done(),
            Message::ReadyForQuery(body) => {
                self.flush_batch();
                self.current = None;
                self.pending_results.clear();
                if self.copy_out.is_some() {
                    return Err(Error::protocol("ReadyForQuery before COPY TO STDOUT ended"));
                }
                if let Some(describing) = self.describing.take() {
                    self.remember(describing);
                }
                let retry = self.retry.take();
                if let Some(db) = self.deferred.take() {
                    match retry {
                        // The implicit transaction was rolled back: send the request again.
                        Some(retry) if body.status() == b'I' => return self.requery(retry),
                        _ => self.server_error(db)?,
                    }
                } else if retry.is_some() {
                    self.spare_retry = retry;
                }
                self.set_ready(body.status())
            }
            other => Err(Error::protocol(format!(
                "unexpected message {} during a query",
                message_name(&other)
            ))),
        }
    }

    /// Stores a successfully described statement where its request said.
    fn remember(&mut self, describing: Describing) {
        let Some(described) = describing.result else {
            return;
        };
        match describing.target {
            DescribeTarget::Transient => {}
            DescribeTarget::Prepared(name) => {
                self.events.push(Event::Prepared(StatementInfo {
                    name: name.clone(),
                    param_types: described.param_types.clone(),
                    columns: described
                        .columns
                        .as_ref()
                        .map(|c| c.columns.clone())
                        .unwrap_or_default(),
                }));
                self.prepared.insert(name, described);
            }
            DescribeTarget::Cache(pending) => self.cache.insert(pending, described),
        }
    }

    /// Reports a server error: FATAL and PANIC end the session (the `Err`), others fail only
    /// the current request.
    fn server_error(&mut self, db: DbError) -> Result<(), Error> {
        let fatal = db.is_fatal();
        let error = Error::db(db, false);
        if fatal {
            return Err(error);
        }
        self.events.push(Event::Error(error));
        Ok(())
    }

    fn set_ready(&mut self, status: u8) -> Result<(), Error> {
        let status = match status {
            b'I' => TxStatus::Idle,
            b'T' => TxStatus::InTransaction,
            b'E' => TxStatus::Failed,
            other => {
                return Err(Error::protocol(format!(
                    "invalid transaction status {:?} in ReadyForQuery",
                    other as char
                )))
            }
        };
        self.tx_status = status;
        self.state = State::Ready;
        self.events.push(Event::Ready(status));
        Ok(())
    }

    /// A result set starts, its columns read as `reading` says.
    fn start_result(&mut self, described: Arc<Described>, reading: Arc<Reading>) {
        self.flush_batch();
        self.results_seen = true;
        let columns = described
            .columns
            .clone()
            .unwrap_or_else(|| Arc::new(ResultColumns::new(Vec::new())));
        self.events.push(Event::Columns(columns));
        self.current = Some(Current {
            reading,
            discarding: false,
        });
    }

    /// One DataRow's body (after the length word) of the current result.
    fn data_row(&mut self, body: &[u8]) -> Result<(), Error> {
        if self.pipeline.is_some() {
            return self.pipeline_data_row(body);
        }
        if let Some(error) = self.decode_row(body)? {
            self.events.push(Event::Error(error));
        }
        Ok(())
    }

    /// Decodes one DataRow into the batch. `Ok(Some)`: a value the codecs refuse, reported by
    /// the caller; the rows before it are delivered, this one and the rest of the result are not.
    fn decode_row(&mut self, body: &[u8]) -> Result<Option<Error>, Error> {
        let Some(current) = &self.current else {
            return Err(Error::protocol("DataRow without a RowDescription"));
        };
        if current.discarding {
            return Ok(None);
        }
        let decoders = &current.reading.decoders;
        let batch = &mut self.batch;
        let mut index = 0usize;
        let mut failure = None;
        for field in framing::RowFields::new(body)? {
            let field = field?;
            let Some(decoder) = decoders.get(index) else {
                return Err(Error::protocol(format!(
                    "a DataRow has more fields than the {} columns of its RowDescription",
                    decoders.len()
                )));
            };
            index += 1;
            if failure.is_some() {
                continue;
            }
            let Some(raw) = field else {
                batch.push_null();
                continue;
            };
            if decoder.is_passthrough() {
                // Most text values are ASCII: a far cheaper test than the UTF-8 check.
                if raw.is_ascii() {
                    batch.push_ascii_field(raw);
                    continue;
                }
                match std::str::from_utf8(raw) {
                    Ok(text) => batch.push_field(text),
                    Err(_) => {
                        failure = Some(format!("column {index}: invalid UTF-8 in a text value"))
                    }
                }
                continue;
            }
            let pushed = if decoder.writes_plain() {
                batch.push_plain_with(|out| decoder.decode(raw, out))
            } else {
                batch.push_with(|out| decoder.decode(raw, out))
            };
            if let Err(e) = pushed {
                failure = Some(format!("column {index}: {e}"));
            }
        }
        if index != decoders.len() {
            return Err(Error::protocol(format!(
                "a DataRow has {index} fields but its RowDescription has {} columns",
                decoders.len()
            )));
        }
        if let Some(message) = failure {
            // Rows already complete are delivered; this row and the rest of the result are not.
            self.batch.discard_partial_row();
            self.flush_batch();
            if let Some(current) = &mut self.current {
                current.discarding = true;
            }
            return Ok(Some(Error::new(ErrorKind::Decode, message)));
        }
        self.batch.end_row();
        if self.batch.len() >= self.opts.batch_bytes as usize {
            self.flush_batch();
        }
        Ok(None)
    }

    fn flush_batch(&mut self) {
        if self.batch.is_empty() {
            return;
        }
        match self.batch.take() {
            Ok(batch) => self.events.push(Event::Rows(batch)),
            Err(e) => {
                // No writer gets here (every codec writes text, and text from the server is
                // checked before it is copied); if one did, its rows are reported, not sent,
                // and the rest of the result is not delivered either.
                if let Some(current) = &mut self.current {
                    current.discarding = true;
                }
                self.events.push(Event::Error(Error::new(
                    ErrorKind::Decode,
                    format!(
                        "a row batch was not valid UTF-8 after its first {} rows; \
                         the result's rows from there on are not delivered",
                        e.rows_before
                    ),
                )));
            }
        }
    }

    // ---- step assembly ----

    /// Takes back a step's buffers once it was encoded, so that the next steps reuse their
    /// allocations: a row batch's text becomes the next batch's, the event list and the send
    /// buffer the next step's.
    /// Only small ones are kept (at most [`RECYCLE_MAX`] bytes each), so an idle session holds
    /// no large buffer.
    pub fn recycle(&mut self, step: Step) {
        let Step {
            mut events, send, ..
        } = step;
        if send.capacity() <= RECYCLE_MAX && send.capacity() > self.spare_send.capacity() {
            self.spare_send = send;
        }
        for event in events.drain(..) {
            if let Event::Rows(batch) = event {
                self.batch.recycle(batch.data, RECYCLE_MAX);
            }
        }
        if self.events.capacity() == 0 && events.capacity() <= 64 {
            self.events = events;
        }
    }

    /// Ends the session with an error.
    fn fail(&mut self, error: Error) -> Step {
        self.flush_batch();
        self.flush_copy();
        self.events.push(Event::Error(error));
        self.state = State::Closed;
        self.finish()
    }

    /// Refuses a request without changing state ([`Session::unsend`]).
    fn reject(&mut self, error: Error) -> Step {
        self.unsend(error);
        self.finish()
    }

    /// Drops what a refused request wrote and reports why: nothing of it is sent, so the
    /// Closes it carried are owed to the next request again.
    pub(super) fn unsend(&mut self, error: Error) {
        self.out.clear();
        self.cache.owe_closes(std::mem::take(&mut self.closing));
        self.describing = None;
        self.pending_results.clear();
        self.events.push(Event::Error(error));
    }

    fn usage(&mut self, message: &str) -> Step {
        self.events
            .push(Event::Error(Error::new(ErrorKind::Usage, message)));
        self.finish()
    }

    fn finish(&mut self) -> Step {
        // The step's bytes go out with it: the Closes they carry are no longer owed.
        self.closing.clear();
        // Deliver the rows decoded so far with every step, so the host can stream them.
        self.flush_batch();
        self.flush_copy();
        let action = match self.state {
            State::New | State::Ready => Action::Done,
            State::Opening => match self.target() {
                Some(target) => Action::Open(target),
                None => Action::Close,
            },
            State::Startup | State::Busy | State::Checking => Action::Read,
            State::CopyIn => Action::CopyIn,
            State::NeedPassword => match self.password_request() {
                Some(request) => Action::NeedPassword(request),
                None => Action::Close,
            },
            State::NeedTlsFile => match self.tls_file_request() {
                Some((purpose, path)) => Action::NeedFile {
                    purpose: purpose.to_owned(),
                    path,
                },
                None => Action::Close,
            },
            State::NeedPassfile => match self.passfile_path() {
                Some(path) => Action::NeedFile {
                    purpose: "passfile".to_owned(),
                    path: path.to_owned(),
                },
                None => Action::Close,
            },
            State::Closed => Action::Close,
        };
        let plain = if self.out.capacity() <= RECYCLE_MAX {
            // Copied, into an earlier step's send buffer when `recycle` gave one back (no
            // allocation): the output buffer keeps its allocation for the next request.
            let mut plain = std::mem::take(&mut self.spare_send);
            plain.clear();
            plain.extend_from_slice(&self.out);
            self.out.clear();
            plain
        } else {
            // A large buffer is given away whole (no copy) and not kept.
            Vec::from(std::mem::take(&mut self.out))
        };
        let send = match self.seal(plain) {
            Ok(send) => send,
            Err(e) => {
                // Nothing can be sent any more: the session ends with this error.
                self.events.push(Event::Error(e));
                self.state = State::Closed;
                Vec::new()
            }
        };
        let action = if matches!(self.state, State::Closed) {
            Action::Close
        } else {
            action
        };
        Step {
            send,
            action,
            events: std::mem::take(&mut self.events),
        }
    }
}

/// The packed `C` record of these columns.
fn columns_record(columns: &[Column]) -> String {
    wasmpg_wire::step::columns_record(&wire_columns(columns))
}

/// Columns in the packed layout's form (borrowed).
pub(crate) fn wire_columns(columns: &[Column]) -> Vec<wasmpg_wire::step::Column<'_>> {
    columns
        .iter()
        .map(|c| wasmpg_wire::step::Column {
            name: std::borrow::Cow::Borrowed(&c.name),
            type_oid: c.type_oid,
            type_modifier: c.type_modifier,
            table_oid: c.table_oid,
            column_id: c.column_id,
            type_size: c.type_size,
        })
        .collect()
}

fn parse_columns(body: &RowDescriptionBody) -> Result<Vec<Column>, Error> {
    let mut columns = Vec::new();
    let mut fields = body.fields();
    while let Some(field) = fields.next().map_err(malformed)? {
        columns.push(Column {
            name: field.name().to_owned(),
            type_oid: field.type_oid(),
            type_modifier: field.type_modifier(),
            table_oid: field.table_oid(),
            column_id: field.column_id(),
            type_size: field.type_size(),
        });
    }
    Ok(columns)
}

/// Whether the TimeZone `name` (as the server reports it) is UTC at every instant: the zone
/// names tzdata links to `Etc/UTC` or `Etc/GMT`, in any case (PostgreSQL matches zone names
/// case-insensitively). Leap-second zones (`right/UTC`) and zones that are UTC only part of
/// the year are not.
fn is_utc_zone(name: &str) -> bool {
    const ZONES: [&str; 18] = [
        "UTC",
        "Etc/UTC",
        "UCT",
        "Etc/UCT",
        "Universal",
        "Etc/Universal",
        "Zulu",
        "Etc/Zulu",
        "GMT",
        "Etc/GMT",
        "GMT0",
        "Etc/GMT0",
        "GMT+0",
        "GMT-0",
        "Etc/GMT+0",
        "Etc/GMT-0",
        "Greenwich",
        "Etc/Greenwich",
    ];
    ZONES.iter().any(|zone| zone.eq_ignore_ascii_case(name))
}

/// The row count in a command tag: the last word for the commands that carry one.
pub fn tag_rows(tag: &str) -> Option<u64> {
    // Byte scans: the tag is short, and a `char` searcher costs more than the whole scan.
    let bytes = tag.as_bytes();
    let first = bytes.iter().position(|&b| b == b' ')?;
    if !matches!(
        &bytes[..first],
        b"INSERT" | b"UPDATE" | b"DELETE" | b"SELECT" | b"MERGE" | b"MOVE" | b"FETCH" | b"COPY"
    ) {
        return None;
    }
    let last = bytes.iter().rposition(|&b| b == b' ')?;
    tag[last + 1..].parse().ok()
}

fn malformed(e: std::io::Error) -> Error {
    Error::protocol(format!("malformed server message: {e}"))
}
