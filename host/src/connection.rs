//! The host half of a session: it owns the socket and performs the effects the guest asks for,
//! opening only what the policy allows.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use wasmtime::component::ResourceAny;

use crate::config::{Config, Endpoint, Policy};
use crate::error::{DbError, Error, ErrorKind};
use crate::runtime::{wit, wit_types, Runtime, Sandbox};

enum Socket {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Socket {
    fn set_read_timeout(&self, timeout: Option<Duration>) -> std::io::Result<()> {
        match self {
            Socket::Tcp(s) => s.set_read_timeout(timeout),
            Socket::Unix(s) => s.set_read_timeout(timeout),
        }
    }

    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Socket::Tcp(s) => s.read(buf),
            Socket::Unix(s) => s.read(buf),
        }
    }

    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        match self {
            Socket::Tcp(s) => s.write_all(buf),
            Socket::Unix(s) => s.write_all(buf),
        }
    }
}

/// What a request produced, gathered from the guest's events.
#[derive(Default)]
pub(crate) struct Response {
    pub(crate) results: Vec<ResultSet>,
    pub(crate) prepared: Option<wit::StatementInfo>,
    pub(crate) error: Option<Error>,
}

/// One result: its columns (if it returns rows), its row batches and its completion.
#[derive(Default)]
pub(crate) struct ResultSet {
    pub(crate) columns: Option<Vec<wit::Column>>,
    pub(crate) batches: Vec<wit::RowBatch>,
    pub(crate) complete: Option<wit::CommandComplete>,
}

/// A connected session: the sandboxed guest, its session resource and the socket.
pub(crate) struct Connection {
    sandbox: Sandbox,
    session: ResourceAny,
    socket: Option<Socket>,
    /// The read timeout last set on `socket`: a `setsockopt` per read would cost a syscall per
    /// round trip.
    socket_timeout: Option<Option<Duration>>,
    policy: Policy,
    read_timeout: Option<Duration>,
    read_buf: Vec<u8>,
    closed: bool,
    deadline: Option<Instant>,
    /// A request is being driven: a failure now leaves its outcome unknown.
    in_request: bool,
    /// Run-time parameters the host adds to the guest's StartupMessage (`statement_timeout`).
    startup_parameters: Vec<(String, String)>,
    pub(crate) backend_key: Option<(i32, i32)>,
    pub(crate) parameters: HashMap<String, String>,
    pub(crate) tx_status: Option<wit::TxStatus>,
    pub(crate) notices: Vec<DbError>,
}

impl Connection {
    pub(crate) fn connect(
        runtime: &Runtime,
        config: &Config,
        conninfo: &str,
    ) -> Result<Connection, Error> {
        let mut sandbox = runtime.instantiate()?;
        let defaults = crate::env::defaults();
        let info = sandbox
            .parse_conninfo(conninfo, &defaults)?
            .map_err(error_in)?;
        // The default policy is computed from the user's conninfo before any server byte has
        // reached the guest.
        let policy = match &config.policy {
            Some(policy) => policy.clone(),
            None => info
                .targets
                .iter()
                .fold(Policy::deny_all(), |p, t| match t {
                    wit_types::Target::Tcp(t) => p.allow_tcp(&t.host, t.port),
                    wit_types::Target::Unix(path) => p.allow_unix(path),
                }),
        };
        let connect_timeout = info
            .connect_timeout
            // libpq: values below 2 seconds are raised to 2.
            .map(|s| Duration::from_secs(u64::from(s.max(2))))
            .or(config.connect_timeout);
        let options = wit::Options {
            max_message_size: config.max_message_size,
            batch_bytes: 256 << 10,
            io: wit::IoEncoding::Bytes,
            statement_cache: config.statement_cache,
        };
        let session = sandbox.new_session(&options)?;
        let mut startup_parameters = Vec::new();
        if let Some(timeout) = config.statement_timeout {
            startup_parameters.push(("statement_timeout".to_owned(), millis(timeout)));
        }
        let mut conn = Connection {
            sandbox,
            session,
            socket: None,
            socket_timeout: None,
            policy,
            read_timeout: config.read_timeout,
            read_buf: vec![0; config.read_chunk.max(4096)],
            closed: false,
            deadline: None,
            in_request: false,
            startup_parameters,
            backend_key: None,
            parameters: HashMap::new(),
            tx_status: None,
            notices: Vec::new(),
        };
        let step = {
            let session = conn.session;
            conn.sandbox
                .call("connect", |s, store| {
                    s.call_connect(store, session, conninfo, &defaults)
                })?
                .map_err(error_in)?
        };
        conn.deadline = connect_timeout.map(|t| Instant::now() + t);
        let response = conn.drive(step, connect_timeout);
        conn.deadline = None;
        let response = response?;
        if let Some(error) = response.error {
            return Err(error);
        }
        if conn.closed {
            return Err(Error::new(
                ErrorKind::Closed,
                "the server closed the connection during startup",
            ));
        }
        Ok(conn)
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed
    }

    /// Bytes of linear memory the guest instance has.
    pub(crate) fn guest_memory(&self) -> usize {
        self.sandbox.memory_bytes()
    }

    /// Calls a request method on the session and drives it to completion.
    pub(crate) fn request(
        &mut self,
        what: &str,
        f: impl FnOnce(
            &wit::GuestSession,
            &mut wasmtime::Store<crate::runtime::HostState>,
            ResourceAny,
        ) -> wasmtime::Result<wit::Step>,
    ) -> Result<Response, Error> {
        if self.closed {
            return Err(Error::new(ErrorKind::Closed, "the connection is closed"));
        }
        let session = self.session;
        let step = self.call(what, |s, store| f(s, store, session))?;
        self.in_request = true;
        let response = self.drive(step, None);
        self.in_request = false;
        let response = response?;
        match response.error {
            Some(error) => Err(error),
            None => Ok(response),
        }
    }

    fn call<T>(
        &mut self,
        what: &str,
        f: impl FnOnce(
            &wit::GuestSession,
            &mut wasmtime::Store<crate::runtime::HostState>,
        ) -> wasmtime::Result<T>,
    ) -> Result<T, Error> {
        let result = self.sandbox.call(what, f);
        if result.is_err() {
            // A trapped instance is discarded: the session cannot continue.
            self.close_socket();
        }
        result
    }

    /// Performs the guest's effects until the request is done or the session closes.
    fn drive(
        &mut self,
        mut step: wit::Step,
        connect_timeout: Option<Duration>,
    ) -> Result<Response, Error> {
        let mut response = Response::default();
        loop {
            self.send(&step.send)?;
            for event in std::mem::take(&mut step.events) {
                self.event(event, &mut response);
            }
            let session = self.session;
            step = match step.action {
                wit::Action::Done => return Ok(response),
                wit::Action::Close => {
                    self.close_socket();
                    if response.error.is_none() {
                        response.error = Some(Error::new(ErrorKind::Closed, "the session ended"));
                    }
                    return Ok(response);
                }
                wit::Action::Open(target) => {
                    // libpq: connect_timeout applies to each host separately; it bounds the
                    // whole establishment with that host, from the TCP connect through
                    // authentication to ReadyForQuery.
                    if let Some(timeout) = connect_timeout {
                        self.deadline = Some(Instant::now() + timeout);
                    }
                    match self.open(&target, connect_timeout) {
                        Ok(()) => {
                            let mut step =
                                self.call("opened", |s, store| s.call_opened(store, session))?;
                            self.add_startup_parameters(&mut step.send)?;
                            step
                        }
                        Err(e) => {
                            let kind = kind_out(e.kind());
                            let reason = e.message().to_owned();
                            self.call("open-failed", |s, store| {
                                s.call_open_failed(store, session, kind, &reason)
                            })?
                        }
                    }
                }
                wit::Action::Read => match self.read() {
                    Ok(0) => self.call("eof", |s, store| s.call_eof(store, session))?,
                    Ok(n) => {
                        let data = &self.read_buf[..n];
                        let result = self
                            .sandbox
                            .call("feed", |s, store| s.call_feed(store, session, data));
                        match result {
                            Ok(step) => step,
                            Err(e) => {
                                self.close_socket();
                                return Err(e);
                            }
                        }
                    }
                    Err(e) => {
                        self.close_socket();
                        return Err(e);
                    }
                },
                wit::Action::NeedPassword(request) => {
                    let password = crate::env::passfile_password(
                        request.passfile.as_deref(),
                        &request.host,
                        request.port,
                        &request.dbname,
                        &request.user,
                    );
                    self.call("password", |s, store| {
                        s.call_password(store, session, password.as_deref())
                    })?
                }
            };
        }
    }

    fn event(&mut self, event: wit::Event, response: &mut Response) {
        match event {
            wit::Event::Columns(columns) => response.results.push(ResultSet {
                columns: Some(columns),
                ..ResultSet::default()
            }),
            wit::Event::Rows(batch) => match response.results.last_mut() {
                Some(result) if result.complete.is_none() => result.batches.push(batch),
                // The guest emits Columns before any rows; keep them anyway.
                _ => response.results.push(ResultSet {
                    batches: vec![batch],
                    ..ResultSet::default()
                }),
            },
            wit::Event::Complete(complete) => match response.results.last_mut() {
                Some(result) if result.columns.is_some() && result.complete.is_none() => {
                    result.complete = Some(complete)
                }
                _ => response.results.push(ResultSet {
                    complete: Some(complete),
                    ..ResultSet::default()
                }),
            },
            // An empty query string: a result with no columns, rows or tag.
            wit::Event::EmptyQuery => response.results.push(ResultSet::default()),
            wit::Event::Prepared(info) => response.prepared = Some(info),
            wit::Event::Error(e) => {
                // The first error of a request is the one to report.
                if response.error.is_none() {
                    response.error = Some(error_in(e));
                }
            }
            wit::Event::Notice(n) => {
                // Bounded: a server flooding notices cannot grow memory without limit.
                if self.notices.len() < 1000 {
                    self.notices.push(db_error_in(n));
                }
            }
            wit::Event::Notification(_) => {}
            wit::Event::Parameter(p) => {
                self.parameters.insert(p.name, p.value);
            }
            wit::Event::BackendKey(k) => self.backend_key = Some((k.process_id, k.secret_key)),
            wit::Event::Ready(status) => self.tx_status = Some(status),
        }
    }

    fn send(&mut self, payload: &wit::Payload) -> Result<(), Error> {
        let bytes: std::borrow::Cow<'_, [u8]> = match payload {
            wit::Payload::Bytes(b) => b.as_slice().into(),
            wit::Payload::Latin1(s) => s.chars().map(|c| c as u8).collect::<Vec<u8>>().into(),
        };
        if bytes.is_empty() {
            return Ok(());
        }
        let Some(socket) = &mut self.socket else {
            return Err(Error::new(ErrorKind::Closed, "no connection to send on"));
        };
        if let Err(e) = socket.write_all(&bytes) {
            let message = self.in_flight("cannot write to the server");
            self.close_socket();
            return Err(Error::with_cause(ErrorKind::Io, message, e.into()));
        }
        Ok(())
    }

    /// `what`, saying that the request's outcome is unknown when one is running: the server may
    /// have carried it out (a COMMIT may have committed) before the connection failed.
    fn in_flight(&self, what: &str) -> String {
        if self.in_request {
            format!(
                "{what}; the connection failed while a request was running, so its outcome is \
                 unknown (it may or may not have been carried out)"
            )
        } else {
            what.to_owned()
        }
    }

    /// Adds [`Connection::startup_parameters`] to the StartupMessage the guest wrote, before its
    /// final terminator. The server sets each as a run-time parameter of the session, exactly
    /// as `-c name=value` in `options` (and after `options`, so these win).
    fn add_startup_parameters(&self, send: &mut wit::Payload) -> Result<(), Error> {
        if self.startup_parameters.is_empty() {
            return Ok(());
        }
        let wit::Payload::Bytes(message) = send else {
            return Err(startup_mismatch());
        };
        let declared = message
            .get(..4)
            .map(|l| u32::from_be_bytes([l[0], l[1], l[2], l[3]]) as usize);
        let protocol = message
            .get(4..8)
            .map(|p| u32::from_be_bytes([p[0], p[1], p[2], p[3]]));
        if declared != Some(message.len()) || protocol != Some(196608) || message.last() != Some(&0)
        {
            return Err(startup_mismatch());
        }
        let terminator = message.pop();
        for (name, value) in &self.startup_parameters {
            message.extend_from_slice(name.as_bytes());
            message.push(0);
            message.extend_from_slice(value.as_bytes());
            message.push(0);
        }
        message.extend(terminator);
        let len = u32::try_from(message.len()).map_err(|_| startup_mismatch())?;
        message[..4].copy_from_slice(&len.to_be_bytes());
        Ok(())
    }

    fn read(&mut self) -> Result<usize, Error> {
        let Some(socket) = &mut self.socket else {
            return Err(Error::new(ErrorKind::Closed, "no connection to read from"));
        };
        let timeout = match self.deadline {
            Some(deadline) => {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(Error::new(
                        ErrorKind::Timeout,
                        "connect_timeout expired while connecting",
                    ));
                }
                Some(left)
            }
            None => self.read_timeout,
        };
        if self.socket_timeout != Some(timeout) {
            socket.set_read_timeout(timeout).map_err(|e| {
                Error::with_cause(ErrorKind::Io, "cannot set the read timeout", e.into())
            })?;
            self.socket_timeout = Some(timeout);
        }
        loop {
            match socket.read(&mut self.read_buf) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    let what = if self.deadline.is_some() {
                        "connect_timeout expired while connecting"
                    } else {
                        "read timeout expired waiting for the server"
                    };
                    return Err(Error::new(ErrorKind::Timeout, self.in_flight(what)));
                }
                Err(e) => {
                    return Err(Error::with_cause(
                        ErrorKind::Io,
                        self.in_flight("cannot read from the server"),
                        e.into(),
                    ));
                }
            }
        }
    }

    /// Opens the target if the policy allows it. Nothing is sent to a denied target: the check
    /// happens before any socket exists.
    fn open(&mut self, target: &wit_types::Target, timeout: Option<Duration>) -> Result<(), Error> {
        self.socket = None;
        let endpoint = match target {
            wit_types::Target::Tcp(t) => Endpoint::Tcp {
                host: t.host.clone(),
                port: t.port,
            },
            wit_types::Target::Unix(path) => Endpoint::Unix {
                path: PathBuf::from(path),
            },
        };
        if !self.policy.allows(&endpoint) {
            return Err(Error::new(
                ErrorKind::PolicyDenied,
                format!(
                    "connection to {endpoint} denied by policy ({})",
                    self.policy
                ),
            ));
        }
        let socket = match &endpoint {
            Endpoint::Tcp { host, port } => Socket::Tcp(connect_tcp(host, *port, timeout)?),
            Endpoint::Unix { path } => Socket::Unix(UnixStream::connect(path).map_err(|e| {
                Error::with_cause(
                    ErrorKind::ConnectionRefused,
                    format!("cannot connect to {}: {e}", path.display()),
                    e.into(),
                )
            })?),
        };
        self.socket = Some(socket);
        self.socket_timeout = None;
        Ok(())
    }

    fn close_socket(&mut self) {
        self.socket = None;
        self.closed = true;
    }

    /// Ends the session: Terminate, then close the socket.
    pub(crate) fn terminate(&mut self) -> Result<(), Error> {
        if self.closed {
            return Ok(());
        }
        let session = self.session;
        let step = self.call("terminate", |s, store| s.call_terminate(store, session))?;
        let result = self.send(&step.send);
        self.close_socket();
        result
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        let _ = self.terminate();
    }
}

fn startup_mismatch() -> Error {
    Error::new(
        ErrorKind::Protocol,
        "the guest's StartupMessage is not in the expected form; cannot add the configured \
         startup parameters",
    )
}

/// A duration as whole milliseconds for a server setting: rounded up (so a nonzero duration
/// never becomes 0, which means "none"), at most `i32::MAX`.
fn millis(duration: Duration) -> String {
    let ms = duration.as_nanos().div_ceil(1_000_000);
    ms.min(i32::MAX as u128).to_string()
}

fn connect_tcp(host: &str, port: u16, timeout: Option<Duration>) -> Result<TcpStream, Error> {
    let addrs: Vec<_> = (host, port)
        .to_socket_addrs()
        .map_err(|e| {
            Error::with_cause(
                ErrorKind::ConnectionRefused,
                format!("cannot resolve {host}: {e}"),
                e.into(),
            )
        })?
        .collect();
    let mut last = None;
    for addr in &addrs {
        let stream = match timeout {
            Some(t) => TcpStream::connect_timeout(addr, t),
            None => TcpStream::connect(addr),
        };
        match stream {
            Ok(stream) => {
                // Small request/reply messages: never wait for Nagle.
                let _ = stream.set_nodelay(true);
                return Ok(stream);
            }
            Err(e) => last = Some((addr, e)),
        }
    }
    Err(match last {
        Some((addr, e)) => {
            let kind = if e.kind() == std::io::ErrorKind::TimedOut {
                ErrorKind::Timeout
            } else {
                ErrorKind::ConnectionRefused
            };
            Error::with_cause(kind, format!("cannot connect to {addr}: {e}"), e.into())
        }
        None => Error::new(
            ErrorKind::ConnectionRefused,
            format!("{host} resolved to no address"),
        ),
    })
}

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

fn kind_out(kind: ErrorKind) -> wit_types::ErrorKind {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn millis_rounds_up_and_saturates() {
        assert_eq!(millis(Duration::ZERO), "0");
        assert_eq!(millis(Duration::from_nanos(1)), "1");
        assert_eq!(millis(Duration::from_micros(1500)), "2");
        assert_eq!(millis(Duration::from_millis(200)), "200");
        assert_eq!(millis(Duration::from_secs(u64::MAX)), i32::MAX.to_string());
    }
}
