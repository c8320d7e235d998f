//! One session's drive loop: the sandboxed guest and the host performing the effects its steps
//! ask for (open, read, write, read a file) on a real socket, opening and reading only what the
//! policy allows. The same loop delivers cancel requests from a fresh instance.

use std::borrow::Cow;
use std::collections::HashMap;
use std::time::{Duration, Instant};

use wasmpg_wire::Request;

use crate::config::Config;
use crate::error::{DbError, Error, ErrorKind};
use crate::guest::{kind_out, Action, Event, Step, Target, TxStatus};
use crate::policy::{Endpoint, Policy};
use crate::results::Response;
use crate::runtime::{Runtime, Sandbox};
use crate::socket::Socket;

/// Bytes a row batch grows to before the guest hands it over.
const BATCH_BYTES: u32 = 256 << 10;

/// Where [`Connection::drive_until`] hands control back before the request is done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stop {
    /// The request is done (ReadyForQuery), or the session ended.
    Done,
    /// COPY FROM STDIN: the server waits for data (send `CopyData`, then `CopyDone`/`CopyFail`).
    CopyIn,
    /// COPY TO STDOUT data (or, when streaming rows, row batches) wait in the [`Copy`]
    /// (go on with [`Connection::resume`]).
    CopyData,
}

/// The host side of a request whose results the caller takes as they come: COPY data, or
/// (with `stream_rows`) row batches.
#[derive(Debug, Default)]
pub(crate) struct Copy {
    /// COPY TO STDOUT data received and not yet taken, in order.
    pub(crate) data: std::collections::VecDeque<Vec<u8>>,
    /// A COPY FROM STDIN began during the request.
    pub(crate) copy_in: bool,
    /// A COPY TO STDOUT began during the request.
    pub(crate) copy_out: bool,
    /// Row batches go to `batches` instead of the response (`Client::query_raw`).
    pub(crate) stream_rows: bool,
    /// The columns of the result being streamed.
    pub(crate) columns: Option<Vec<crate::guest::Column>>,
    /// Row batches received and not yet taken.
    pub(crate) batches: std::collections::VecDeque<crate::guest::RowBatch>,
}

impl Copy {
    fn has_data(&self) -> bool {
        !self.data.is_empty() || !self.batches.is_empty()
    }
}

/// A connected session: the sandboxed guest and the socket.
pub(crate) struct Connection {
    sandbox: Sandbox,
    socket: Option<Socket>,
    policy: Policy,
    read_timeout: Option<Duration>,
    read_buf: Vec<u8>,
    closed: bool,
    deadline: Option<Instant>,
    /// A request is being driven: a failure now leaves its outcome unknown.
    in_request: bool,
    /// This instance delivers a cancel request: its `close` is the success.
    cancelling: bool,
    pub(crate) backend_pid: Option<i32>,
    pub(crate) parameters: HashMap<String, String>,
    pub(crate) tx_status: Option<TxStatus>,
    pub(crate) notices: Vec<DbError>,
    /// Notifications received and not yet taken (`Client::notifications`).
    pub(crate) notifications: std::collections::VecDeque<crate::notifications::Notification>,
    /// Notifications dropped because the queue was full.
    pub(crate) notifications_dropped: u64,
    /// The password callback of `Driver::connect_with_password`, while connecting.
    password: Option<PasswordCallback>,
}

/// A per-connection password source (short-lived tokens: cloud IAM authentication).
pub(crate) type PasswordCallback =
    Box<dyn FnMut(&crate::guest::PasswordRequest) -> Option<String> + Send>;

impl Connection {
    fn new(sandbox: Sandbox, policy: Policy, config: &Config) -> Connection {
        Connection {
            sandbox,
            socket: None,
            policy,
            read_timeout: config.read_timeout,
            read_buf: vec![0; config.read_chunk.max(4096)],
            closed: false,
            deadline: None,
            in_request: false,
            cancelling: false,
            backend_pid: None,
            parameters: HashMap::new(),
            tx_status: None,
            notices: Vec::new(),
            notifications: std::collections::VecDeque::new(),
            notifications_dropped: 0,
            password: None,
        }
    }

    pub(crate) fn connect(
        runtime: &Runtime,
        config: &Config,
        conninfo: &str,
        password: Option<PasswordCallback>,
    ) -> Result<Connection, Error> {
        let mut sandbox = runtime.instantiate()?;
        let defaults = crate::env::defaults();
        let defaults: Vec<(Cow<'_, str>, Cow<'_, str>)> = defaults
            .iter()
            .map(|(k, v)| (Cow::Borrowed(k.as_str()), Cow::Borrowed(v.as_str())))
            .collect();
        // The default policy is computed from the user's conninfo before any server byte has
        // reached the guest.
        let parsed = sandbox.call(&Request::ParseConninfo {
            defaults: defaults.clone(),
            conninfo: Cow::Borrowed(conninfo),
        })?;
        let mut targets = None;
        for event in parsed.events {
            match event {
                Event::Error(e) => return Err(e),
                Event::Conninfo { targets: t } => targets = Some(t),
                _ => {}
            }
        }
        let mut policy = match (&config.policy, targets) {
            (Some(policy), _) => policy.clone(),
            (None, Some(targets)) => Policy::for_targets(&targets),
            (None, None) => {
                return Err(Error::new(
                    ErrorKind::Trap,
                    "the guest answered parse-conninfo without the conninfo",
                ))
            }
        };
        if config.read_any_file {
            policy = policy.allow_dir("/");
        }
        let init = sandbox.call(&Request::Init(options(config)))?;
        if let Some(e) = first_error(init.events) {
            return Err(e);
        }
        let mut conn = Connection::new(sandbox, policy, config);
        conn.password = password;
        let step = conn.call(&Request::Connect {
            defaults,
            conninfo: Cow::Borrowed(conninfo),
        })?;
        let response = conn.drive(step, config.connect_timeout);
        conn.deadline = None;
        // Asked only during startup; the callback is not kept with the session.
        conn.password = None;
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

    /// Delivers a cancel request from a fresh instance (see [`crate::CancelToken`]).
    pub(crate) fn cancel(
        runtime: &Runtime,
        config: &Config,
        policy: &Policy,
        token: &str,
    ) -> Result<(), Error> {
        let sandbox = runtime.instantiate()?;
        let mut conn = Connection::new(sandbox, policy.clone(), config);
        conn.cancelling = true;
        let step = conn.call(&Request::Cancel(Cow::Borrowed(token)))?;
        let response = conn.drive(step, config.connect_timeout.or(Some(CANCEL_TIMEOUT)))?;
        conn.closed = true;
        match response.error {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed
    }

    /// Bytes of linear memory the guest instance has.
    pub(crate) fn guest_memory(&self) -> usize {
        self.sandbox.memory_bytes()
    }

    /// The token a cancel request for this session needs.
    pub(crate) fn cancel_token(&mut self) -> Result<String, Error> {
        let step = self.call(&Request::CancelToken)?;
        let mut token = None;
        for event in step.events {
            match event {
                Event::CancelToken(t) => token = Some(t),
                Event::Error(e) => return Err(e),
                _ => {}
            }
        }
        token.ok_or_else(|| {
            Error::new(
                ErrorKind::Trap,
                "the guest answered the cancel-token request without a token",
            )
        })
    }

    pub(crate) fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Sends a request to the guest and drives it to completion.
    pub(crate) fn request(&mut self, request: &Request<'_>) -> Result<Response, Error> {
        self.ensure_open()?;
        let step = self.call(request)?;
        self.in_request = true;
        let response = self.drive(step, None);
        self.in_request = false;
        let response = response?;
        match response.error {
            Some(error) => Err(error),
            None => Ok(response),
        }
    }

    /// Sends a request that may run a COPY and drives it until it is done or the COPY needs
    /// the caller (data to send, data received). The request stays in flight until `Done`.
    pub(crate) fn request_copy(
        &mut self,
        request: &Request<'_>,
        response: &mut Response,
        copy: &mut Copy,
    ) -> Result<Stop, Error> {
        self.ensure_open()?;
        let step = self.call(request)?;
        self.in_request = true;
        self.drive_copy(step, response, copy)
    }

    /// Goes on with a request that stopped for COPY TO STDOUT data (reads from the server).
    pub(crate) fn resume(
        &mut self,
        response: &mut Response,
        copy: &mut Copy,
    ) -> Result<Stop, Error> {
        let step = Step {
            send: Vec::new(),
            action: Action::Read,
            events: Vec::new(),
        };
        self.drive_copy(step, response, copy)
    }

    /// Sends COPY FROM STDIN data (or its end) while the request is stopped at `CopyIn`.
    /// Whatever the server sent meanwhile is handed to the guest first, without waiting, so
    /// an error that ended the COPY (a bad row) stops the sending at once.
    pub(crate) fn copy_send(
        &mut self,
        request: &Request<'_>,
        response: &mut Response,
        copy: &mut Copy,
    ) -> Result<Stop, Error> {
        self.ensure_open()?;
        if let Some(n) = self.read_ready()? {
            let step = self.feed(n)?;
            match self.drive_copy(step, response, copy)? {
                Stop::CopyIn => {}
                stop => return Ok(stop),
            }
        }
        let step = self.call(request)?;
        self.drive_copy(step, response, copy)
    }

    fn drive_copy(
        &mut self,
        step: Step,
        response: &mut Response,
        copy: &mut Copy,
    ) -> Result<Stop, Error> {
        let stop = self.drive_until(step, None, response, Some(copy));
        if !matches!(stop, Ok(Stop::CopyIn | Stop::CopyData)) {
            self.in_request = false;
        }
        stop
    }

    /// What the server has sent, without waiting: `None` when nothing is there.
    fn read_ready(&mut self) -> Result<Option<usize>, Error> {
        let Some(socket) = &mut self.socket else {
            return Err(Error::new(ErrorKind::Closed, "no connection to read from"));
        };
        match socket.read_nonblocking(&mut self.read_buf) {
            Ok(n) => Ok(n),
            Err(e) => {
                let message = self.in_flight("cannot read from the server");
                self.close_socket();
                Err(Error::with_cause(ErrorKind::Io, message, e.into()))
            }
        }
    }

    /// The error for a request on a session that has ended.
    fn ensure_open(&self) -> Result<(), Error> {
        if self.closed {
            return Err(Error::new(ErrorKind::Closed, "the connection is closed"));
        }
        Ok(())
    }

    fn call(&mut self, request: &Request<'_>) -> Result<Step, Error> {
        let result = self.sandbox.call(request);
        if result.is_err() {
            // A trapped instance is discarded: the session cannot continue.
            self.close_socket();
        }
        result
    }

    /// Hands what a read returned to the guest: the first `n` bytes of the read buffer, or the
    /// end of the stream when `n` is 0 (`call` for what was read: the buffer cannot be borrowed
    /// across `call`'s `&mut self`).
    fn feed(&mut self, n: usize) -> Result<Step, Error> {
        if n == 0 {
            return self.call(&Request::Eof);
        }
        let result = self
            .sandbox
            .call(&Request::Data(Cow::Borrowed(&self.read_buf[..n])));
        if result.is_err() {
            // A trapped instance is discarded: the session cannot continue.
            self.close_socket();
        }
        result
    }

    /// Performs the guest's effects until the request is done or the session closes.
    /// `connect_timeout` is the host's default when an `open` carries none.
    fn drive(&mut self, step: Step, connect_timeout: Option<Duration>) -> Result<Response, Error> {
        let mut response = Response::default();
        self.drive_until(step, connect_timeout, &mut response, None)?;
        Ok(response)
    }

    /// Performs the guest's effects until the request is done or the session closes, or, with
    /// `copy`, until a COPY or streamed rows need the caller. A request that takes no COPY (no
    /// `copy`, or one that streams rows) has COPY FROM STDIN aborted and COPY TO STDOUT's data
    /// dropped, each with a usage error saying what to use instead.
    fn drive_until(
        &mut self,
        mut step: Step,
        connect_timeout: Option<Duration>,
        response: &mut Response,
        mut copy: Option<&mut Copy>,
    ) -> Result<Stop, Error> {
        let takes_copy = copy.as_ref().is_some_and(|c| !c.stream_rows);
        let mut copy_out_refused = false;
        loop {
            self.send(&step.send)?;
            for event in std::mem::take(&mut step.events) {
                match (event, copy.as_deref_mut()) {
                    (Event::CopyIn, Some(copy)) if takes_copy => copy.copy_in = true,
                    (Event::CopyOut, Some(copy)) if takes_copy => copy.copy_out = true,
                    (Event::CopyData(data), Some(copy)) if takes_copy => copy.data.push_back(data),
                    (Event::Columns(columns), Some(copy)) if copy.stream_rows => {
                        copy.columns.get_or_insert(columns);
                    }
                    (Event::Rows(batch), Some(copy)) if copy.stream_rows => {
                        copy.batches.push_back(batch)
                    }
                    // Reported at the end, unless the request fails otherwise (a server error
                    // or a broken session says more).
                    (Event::CopyOut, _) => copy_out_refused = true,
                    (Event::CopyData(_), _) => {}
                    (event, _) => self.event(event, response),
                }
            }
            step = match step.action {
                Action::Done(status) => {
                    self.tx_status = Some(status);
                    if copy_out_refused {
                        response.add_error(Error::new(
                            ErrorKind::Usage,
                            "COPY TO STDOUT runs through Client::copy_out (or \
                             simple_query_with_copy); its data was discarded",
                        ));
                    }
                    return Ok(Stop::Done);
                }
                Action::Close => {
                    self.close_socket();
                    if !self.cancelling {
                        response.add_error(Error::new(ErrorKind::Closed, "the session ended"));
                    }
                    return Ok(Stop::Done);
                }
                Action::CopyIn if takes_copy => return Ok(Stop::CopyIn),
                Action::CopyIn => {
                    response.add_error(Error::new(
                        ErrorKind::Usage,
                        "COPY FROM STDIN runs through Client::copy_in (or \
                         simple_query_with_copy)",
                    ));
                    self.call(&Request::CopyFail(Cow::Borrowed(
                        "COPY FROM STDIN was run through an API that sends no COPY data",
                    )))?
                }
                Action::Read if copy.as_ref().is_some_and(|c| c.has_data()) => {
                    return Ok(Stop::CopyData)
                }
                Action::Open {
                    target,
                    timeout,
                    addr,
                    keepalive,
                } => {
                    // libpq: connect_timeout applies to each host separately; it bounds the
                    // whole establishment with that host, from the TCP connect through
                    // authentication to ReadyForQuery.
                    let timeout = timeout.or(connect_timeout);
                    self.deadline = timeout.map(|t| Instant::now() + t);
                    match self.open(&target, timeout, addr.as_deref(), keepalive.as_ref()) {
                        // With the clock the guest lacks: TLS validates certificates at
                        // this time.
                        Ok(peer) => self.call(&Request::OpenedAt {
                            addr: peer.map(Cow::Owned),
                            now: std::time::SystemTime::now()
                                .duration_since(std::time::UNIX_EPOCH)
                                .map_or(0, |d| d.as_secs()),
                        })?,
                        Err(e) => self.call(&Request::OpenFailed {
                            kind: kind_out(e.kind()),
                            reason: Cow::Borrowed(e.message()),
                        })?,
                    }
                }
                Action::Read => match self.read() {
                    Ok(n) => self.feed(n)?,
                    Err(e) => {
                        self.close_socket();
                        return Err(e);
                    }
                },
                Action::NeedFile { purpose, path } => {
                    match crate::files::read_for_session(&self.policy, &path, &purpose) {
                        Ok(bytes) => self.call(&Request::FileBytes(Cow::Owned(bytes)))?,
                        Err((status, reason)) => self.call(&Request::File {
                            status,
                            contents: Cow::Owned(reason),
                        })?,
                    }
                }
                // No prompt: what the conninfo, PGPASSWORD, the password file and the
                // connection's password callback did not give, the user did not give.
                Action::NeedPassword(request) => {
                    let password = self.password.as_mut().and_then(|f| f(&request));
                    self.call(&Request::Password(password.map(Cow::Owned)))?
                }
            };
        }
    }

    /// Keeps the session-state events (notices, parameters, backend); result events go to
    /// `response`.
    fn event(&mut self, event: Event, response: &mut Response) {
        match event {
            Event::Notice(n) => {
                // Bounded: a server flooding notices cannot grow memory without limit.
                if self.notices.len() < 1000 {
                    self.notices.push(*n);
                }
            }
            Event::Notification(n) => {
                // Bounded: past the limit the oldest is dropped, and counted.
                if self.notifications.len() >= crate::notifications::MAX_QUEUED {
                    self.notifications.pop_front();
                    self.notifications_dropped += 1;
                }
                self.notifications.push_back(n);
            }
            Event::CancelToken(_) | Event::Conninfo { .. } => {}
            Event::Parameter { name, value } => {
                self.parameters.insert(name, value);
            }
            Event::Backend { process_id } => self.backend_pid = Some(process_id),
            result => response.add(result),
        }
    }

    fn send(&mut self, bytes: &[u8]) -> Result<(), Error> {
        if bytes.is_empty() {
            return Ok(());
        }
        let Some(socket) = &mut self.socket else {
            return Err(Error::new(ErrorKind::Closed, "no connection to send on"));
        };
        if let Err(e) = socket.write_all(bytes) {
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
        socket.set_read_timeout(timeout).map_err(|e| {
            Error::with_cause(ErrorKind::Io, "cannot set the read timeout", e.into())
        })?;
        match socket.read(&mut self.read_buf) {
            Ok(n) => Ok(n),
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
                Err(Error::new(ErrorKind::Timeout, self.in_flight(what)))
            }
            Err(e) => Err(Error::with_cause(
                ErrorKind::Io,
                self.in_flight("cannot read from the server"),
                e.into(),
            )),
        }
    }

    /// While no request runs: waits up to `timeout` for the server to send something (a
    /// notification, a notice, a parameter change, or the error that ends the session), hands
    /// it to the guest, and returns whether anything arrived. An error ends the session.
    pub(crate) fn poll_idle(&mut self, timeout: Duration) -> Result<bool, Error> {
        self.ensure_open()?;
        let Some(socket) = &mut self.socket else {
            return Err(Error::new(ErrorKind::Closed, "the connection is closed"));
        };
        // A zero timeout would mean "no timeout" to the socket.
        let timeout = timeout.max(Duration::from_millis(1));
        socket.set_read_timeout(Some(timeout)).map_err(|e| {
            Error::with_cause(ErrorKind::Io, "cannot set the read timeout", e.into())
        })?;
        let n = match socket.read(&mut self.read_buf) {
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return Ok(false)
            }
            Err(e) => {
                self.close_socket();
                return Err(Error::with_cause(
                    ErrorKind::Io,
                    "cannot read from the server",
                    e.into(),
                ));
            }
        };
        let step = self.feed(n)?;
        let response = self.drive(step, None)?;
        match response.error {
            Some(e) => Err(e),
            None => Ok(true),
        }
    }

    /// Opens the target if the policy allows it, and returns the peer address reached. Nothing
    /// is sent to a denied target: the check happens before any socket exists and before a host
    /// name is resolved. `prefer` (a cancel request's) is used only if the target resolves to it.
    fn open(
        &mut self,
        target: &Target,
        timeout: Option<Duration>,
        prefer: Option<&str>,
        keepalive: Option<&wasmpg_wire::Keepalive>,
    ) -> Result<Option<String>, Error> {
        self.socket = None;
        let endpoint = Endpoint::of_target(target);
        self.policy.check(&endpoint)?;
        let socket = Socket::connect(&endpoint, timeout, prefer)?;
        if let Some(keepalive) = keepalive {
            socket.set_keepalive(keepalive);
        }
        let peer = socket.peer_addr();
        self.socket = Some(socket);
        Ok(peer)
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
        let step = self.call(&Request::Terminate)?;
        let result = self.send(&step.send);
        self.close_socket();
        result
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        if !self.cancelling {
            let _ = self.terminate();
        }
    }
}

/// How long a cancel request may take to connect and be acknowledged when no connect timeout
/// is configured: it must not hang the thread that cancels.
const CANCEL_TIMEOUT: Duration = Duration::from_secs(10);

/// The session options the host sends first (docs/abi.md, request `n`).
fn options(config: &Config) -> Vec<(Cow<'static, str>, Cow<'static, str>)> {
    let mut options = vec![
        (
            Cow::Borrowed("max_message_size"),
            Cow::Owned(config.max_message_size.to_string()),
        ),
        (
            Cow::Borrowed("batch_bytes"),
            Cow::Owned(BATCH_BYTES.to_string()),
        ),
        (
            Cow::Borrowed("statement_cache"),
            Cow::Owned(config.statement_cache.to_string()),
        ),
    ];
    if let Some(path) = crate::env::default_passfile() {
        options.push((
            Cow::Borrowed("default_passfile"),
            Cow::Owned(path.to_string_lossy().into_owned()),
        ));
    }
    if let Some(dir) = crate::env::default_ssl_dir() {
        options.push((
            Cow::Borrowed("default_ssl_dir"),
            Cow::Owned(dir.to_string_lossy().into_owned()),
        ));
    }
    if let Some(timeout) = config.statement_timeout {
        options.push((
            Cow::Borrowed("param.statement_timeout"),
            Cow::Owned(millis(timeout)),
        ));
    }
    options
}

/// Whole milliseconds, rounded up (a positive timeout never becomes 0, which means none).
fn millis(d: Duration) -> String {
    let ms = d.as_nanos().div_ceil(1_000_000);
    ms.to_string()
}

fn first_error(events: Vec<Event>) -> Option<Error> {
    events.into_iter().find_map(|e| match e {
        Event::Error(e) => Some(e),
        _ => None,
    })
}
