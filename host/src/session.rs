//! One session's step loop, without I/O: the sandboxed guest, the session state it reports, and
//! [`Drive`], which turns the guest's steps into the next socket operation (read, open) or a
//! stop, performing everything else itself (events, files under the policy, the password
//! callback, refusing COPY where the API takes none). The sync connection (`connection.rs`) and
//! the tokio connection (`tokio/connection.rs`) each only perform the socket operations, so both
//! clients run this one loop.

use std::borrow::Cow;
use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use wasmpg_wire::{Keepalive, Request};

use crate::config::Config;
use crate::error::{DbError, Error, ErrorKind};
use crate::guest::{kind_out, Action, Event, Step, TxStatus};
use crate::notifications::Notification;
use crate::policy::{Endpoint, Policy};
use crate::results::Response;
use crate::runtime::{Runtime, Sandbox};

/// Bytes a row batch grows to before the guest hands it over.
const BATCH_BYTES: u32 = 256 << 10;

/// How long a cancel request may take to connect and be acknowledged when no connect timeout
/// is configured: it must not hang the task that cancels.
pub(crate) const CANCEL_TIMEOUT: Duration = Duration::from_secs(10);

/// Notices kept per session until taken: a server flooding notices cannot grow memory
/// without limit.
const MAX_NOTICES: usize = 1000;

/// Where a drive hands control back before the request is done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stop {
    /// The request is done (ReadyForQuery), or the session ended.
    Done,
    /// COPY FROM STDIN: the server waits for data (send `CopyData`, then `CopyDone`/`CopyFail`).
    CopyIn,
    /// COPY TO STDOUT data (or, when streaming rows, row batches) wait in the [`Copy`]
    /// (go on by reading).
    CopyData,
}

/// The socket operation a drive needs next, after sending the bytes returned with it.
#[derive(Debug)]
pub(crate) enum Next {
    /// Read from the server (within [`Session::read_timeout`]) and [`Session::feed`] it.
    Read,
    /// Open a connection to `endpoint`, which the policy has allowed (drop any open socket
    /// first), then report with [`Session::opened`].
    Open {
        endpoint: Endpoint,
        timeout: Option<Duration>,
        /// A cancel request's address: used only if the endpoint resolves to it.
        prefer: Option<String>,
        keepalive: Option<Keepalive>,
    },
    /// Hand control back to the caller.
    Stop(Stop),
}

/// The host side of a request whose results the caller takes as they come: COPY data, or
/// (with `stream_rows`) row batches.
#[derive(Debug, Default)]
pub(crate) struct Copy {
    /// COPY TO STDOUT data received and not yet taken, in order.
    pub(crate) data: VecDeque<Vec<u8>>,
    /// A COPY FROM STDIN began during the request.
    pub(crate) copy_in: bool,
    /// A COPY TO STDOUT began during the request.
    pub(crate) copy_out: bool,
    /// Row batches go to `batches` instead of the response (`Client::query_raw`).
    pub(crate) stream_rows: bool,
    /// The columns of the result being streamed.
    pub(crate) columns: Option<std::sync::Arc<[crate::row::Column]>>,
    /// Row batches received and not yet taken.
    pub(crate) batches: VecDeque<crate::guest::RowBatch>,
}

impl Copy {
    pub(crate) fn has_data(&self) -> bool {
        !self.data.is_empty() || !self.batches.is_empty()
    }
}

/// A per-connection password source (short-lived tokens: cloud IAM authentication).
pub(crate) type PasswordCallback =
    Box<dyn FnMut(&crate::guest::PasswordRequest) -> Option<String> + Send>;

/// One session's guest and state; the socket belongs to the connection that performs its I/O.
pub(crate) struct Session {
    sandbox: Sandbox,
    policy: Policy,
    read_timeout: Option<Duration>,
    closed: bool,
    /// The connect deadline while establishing a session with one host.
    deadline: Option<Instant>,
    /// A request is being driven: a failure now leaves its outcome unknown.
    pub(crate) in_request: bool,
    /// This instance delivers a cancel request: its `close` is the success.
    cancelling: bool,
    pub(crate) backend_pid: Option<i32>,
    pub(crate) parameters: HashMap<String, String>,
    /// A parameter changed since the async connection last published them.
    pub(crate) parameters_changed: bool,
    pub(crate) tx_status: Option<TxStatus>,
    pub(crate) notices: Vec<DbError>,
    /// Notifications received and not yet taken (`Client::notifications`).
    pub(crate) notifications: VecDeque<Notification>,
    /// Notifications dropped because the queue was full.
    pub(crate) notifications_dropped: u64,
    /// The password callback of `Driver::connect_with_password`, while connecting.
    password: Option<PasswordCallback>,
}

impl Session {
    fn new(sandbox: Sandbox, policy: Policy, config: &Config) -> Session {
        Session {
            sandbox,
            policy,
            read_timeout: config.read_timeout,
            closed: false,
            deadline: None,
            in_request: false,
            cancelling: false,
            backend_pid: None,
            parameters: HashMap::new(),
            parameters_changed: false,
            tx_status: None,
            notices: Vec::new(),
            notifications: VecDeque::new(),
            notifications_dropped: 0,
            password: None,
        }
    }

    /// A new session for `conninfo`: parses it, derives the default policy from its targets
    /// (before any server byte reaches the guest), sets the options, and returns the first step
    /// of the startup, to be driven with the connect timeout and then [`Session::connected`].
    pub(crate) fn start(
        runtime: &Runtime,
        config: &Config,
        conninfo: &str,
        password: Option<PasswordCallback>,
    ) -> Result<(Session, Step), Error> {
        let mut sandbox = runtime.instantiate()?;
        let defaults = crate::env::defaults();
        let defaults: Vec<(Cow<'_, str>, Cow<'_, str>)> = defaults
            .iter()
            .map(|(k, v)| (Cow::Borrowed(k.as_str()), Cow::Borrowed(v.as_str())))
            .collect();
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
        let mut session = Session::new(sandbox, policy, config);
        session.password = password;
        let step = session.call(&Request::Connect {
            defaults,
            conninfo: Cow::Borrowed(conninfo),
        })?;
        Ok((session, step))
    }

    /// Ends the startup the connection drove: the password callback is dropped (it is asked
    /// only during startup), and a failure or a session the server closed is the error.
    pub(crate) fn connected(&mut self, response: Result<Response, Error>) -> Result<(), Error> {
        self.deadline = None;
        self.password = None;
        let response = response?;
        if let Some(error) = response.error {
            return Err(error);
        }
        if self.closed {
            return Err(Error::new(
                ErrorKind::Closed,
                "the server closed the connection during startup",
            ));
        }
        Ok(())
    }

    /// A fresh instance that delivers a cancel request (see [`crate::CancelToken`]), and its
    /// first step, to be driven with [`cancel_timeout`] and then [`Session::cancelled`].
    pub(crate) fn start_cancel(
        runtime: &Runtime,
        config: &Config,
        policy: &Policy,
        token: &str,
    ) -> Result<(Session, Step), Error> {
        let sandbox = runtime.instantiate()?;
        let mut session = Session::new(sandbox, policy.clone(), config);
        session.cancelling = true;
        let step = session.call(&Request::Cancel(Cow::Borrowed(token)))?;
        Ok((session, step))
    }

    /// The outcome of a cancel request's drive.
    pub(crate) fn cancelled(&mut self, response: Result<Response, Error>) -> Result<(), Error> {
        self.closed = true;
        match response?.error {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed
    }

    pub(crate) fn is_cancelling(&self) -> bool {
        self.cancelling
    }

    /// Marks the session ended; the connection drops its socket.
    pub(crate) fn close(&mut self) {
        self.closed = true;
    }

    /// Bytes of linear memory the guest instance has.
    pub(crate) fn guest_memory(&self) -> usize {
        self.sandbox.memory_bytes()
    }

    pub(crate) fn policy(&self) -> &Policy {
        &self.policy
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

    /// The error for a request on a session that has ended.
    pub(crate) fn ensure_open(&self) -> Result<(), Error> {
        if self.closed {
            return Err(Error::new(ErrorKind::Closed, "the connection is closed"));
        }
        Ok(())
    }

    /// One call into the guest. A trapped instance is discarded: the session cannot continue.
    pub(crate) fn call(&mut self, request: &Request<'_>) -> Result<Step, Error> {
        let result = self.sandbox.call(request);
        if result.is_err() {
            self.closed = true;
        }
        result
    }

    /// Starts a request: its first step, to be driven until it stops.
    pub(crate) fn begin(&mut self, request: &Request<'_>) -> Result<Step, Error> {
        self.ensure_open()?;
        let step = self.call(request)?;
        self.in_request = true;
        Ok(step)
    }

    /// Hands what a read returned to the guest; an empty read is the end of the stream.
    pub(crate) fn feed(&mut self, bytes: &[u8]) -> Result<Step, Error> {
        if bytes.is_empty() {
            return self.call(&Request::Eof);
        }
        self.call(&Request::Data(Cow::Borrowed(bytes)))
    }

    /// A step that reads from the server (to go on with a request stopped at `CopyData`).
    pub(crate) fn read_step() -> Step {
        Step {
            send: Vec::new(),
            action: crate::guest::Action::Read,
            events: Vec::new(),
        }
    }

    /// Reports the outcome of [`Next::Open`] to the guest, with the clock the guest lacks
    /// (TLS validates certificates at this time).
    pub(crate) fn opened(&mut self, result: Result<Option<String>, Error>) -> Result<Step, Error> {
        match result {
            Ok(peer) => self.call(&Request::OpenedAt {
                addr: peer.map(Cow::Owned),
                now: std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs()),
            }),
            Err(e) => self.call(&Request::OpenFailed {
                kind: kind_out(e.kind()),
                reason: Cow::Borrowed(e.message()),
            }),
        }
    }

    /// How long the next read may wait: what is left of the connect deadline while connecting
    /// (an error once it has passed), else the configured read timeout.
    pub(crate) fn read_timeout(&self) -> Result<Option<Duration>, Error> {
        match self.deadline {
            Some(deadline) => {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(Error::new(
                        ErrorKind::Timeout,
                        "connect_timeout expired while connecting",
                    ));
                }
                Ok(Some(left))
            }
            None => Ok(self.read_timeout),
        }
    }

    /// The error for a read that timed out; the session ends.
    pub(crate) fn timed_out(&mut self) -> Error {
        let what = if self.deadline.is_some() {
            "connect_timeout expired while connecting"
        } else {
            "read timeout expired waiting for the server"
        };
        let error = Error::new(ErrorKind::Timeout, self.in_flight(what));
        self.closed = true;
        error
    }

    /// The error for a failed socket operation (`what`: "cannot read from the server"); the
    /// session ends.
    pub(crate) fn io_failed(&mut self, what: &str, cause: std::io::Error) -> Error {
        let error = Error::with_cause(ErrorKind::Io, self.in_flight(what), cause.into());
        self.closed = true;
        error
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

    /// Keeps the session-state events (notices, parameters, backend); result events go to
    /// `response`.
    fn event(&mut self, event: Event, response: &mut Response) {
        match event {
            Event::Notice(n) => {
                if self.notices.len() < MAX_NOTICES {
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
                self.parameters_changed = true;
            }
            Event::Backend { process_id } => self.backend_pid = Some(process_id),
            result => response.add(result),
        }
    }

    /// The Terminate message's bytes; the session is over once they are sent.
    pub(crate) fn terminate(&mut self) -> Result<Vec<u8>, Error> {
        let step = self.call(&Request::Terminate)?;
        self.closed = true;
        Ok(step.send)
    }
}

/// One drive of a request: the state that lasts across its steps.
pub(crate) struct Drive {
    /// The host's connect timeout when an `open` carries none.
    connect_timeout: Option<Duration>,
    /// A COPY TO STDOUT ran through an API that takes none: reported when the request ends.
    copy_out_refused: bool,
}

impl Drive {
    pub(crate) fn new(connect_timeout: Option<Duration>) -> Drive {
        Drive {
            connect_timeout,
            copy_out_refused: false,
        }
    }

    /// Performs a step's events and every action that needs no socket, calling the guest as
    /// often as that takes, and returns the bytes to send (in order) and the socket operation
    /// that comes after them. With `copy`, COPY data and streamed rows stop the drive for the
    /// caller; a request that takes no COPY (no `copy`, or one that streams rows) has COPY FROM
    /// STDIN aborted and COPY TO STDOUT's data dropped, each with a usage error saying what to
    /// use instead.
    pub(crate) fn advance(
        &mut self,
        session: &mut Session,
        mut step: Step,
        response: &mut Response,
        mut copy: Option<&mut Copy>,
    ) -> Result<(Vec<u8>, Next), Error> {
        let takes_copy = copy.as_ref().is_some_and(|c| !c.stream_rows);
        let mut send: Vec<u8> = Vec::new();
        loop {
            if send.is_empty() {
                send = std::mem::take(&mut step.send);
            } else {
                send.extend_from_slice(&step.send);
            }
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
                    (Event::CopyOut, _) => self.copy_out_refused = true,
                    (Event::CopyData(_), _) => {}
                    (event, _) => session.event(event, response),
                }
            }
            step = match step.action {
                Action::Done(status) => {
                    session.tx_status = Some(status);
                    session.in_request = false;
                    if self.copy_out_refused {
                        response.add_error(Error::new(
                            ErrorKind::Usage,
                            "COPY TO STDOUT runs through Client::copy_out (or \
                             simple_query_with_copy); its data was discarded",
                        ));
                    }
                    return Ok((send, Next::Stop(Stop::Done)));
                }
                Action::Close => {
                    session.closed = true;
                    session.in_request = false;
                    if !session.cancelling {
                        response.add_error(Error::new(ErrorKind::Closed, "the session ended"));
                    }
                    return Ok((send, Next::Stop(Stop::Done)));
                }
                Action::CopyIn if takes_copy => return Ok((send, Next::Stop(Stop::CopyIn))),
                Action::CopyIn => {
                    response.add_error(Error::new(
                        ErrorKind::Usage,
                        "COPY FROM STDIN runs through Client::copy_in (or \
                         simple_query_with_copy)",
                    ));
                    session.call(&Request::CopyFail(Cow::Borrowed(
                        "COPY FROM STDIN was run through an API that sends no COPY data",
                    )))?
                }
                Action::Read if copy.as_ref().is_some_and(|c| c.has_data()) => {
                    return Ok((send, Next::Stop(Stop::CopyData)))
                }
                Action::Read => return Ok((send, Next::Read)),
                Action::Open {
                    target,
                    timeout,
                    addr,
                    keepalive,
                } => {
                    // libpq: connect_timeout applies to each host separately; it bounds the
                    // whole establishment with that host, from the TCP connect through
                    // authentication to ReadyForQuery.
                    let timeout = timeout.or(self.connect_timeout);
                    session.deadline = timeout.map(|t| Instant::now() + t);
                    // Nothing is opened for a denied target: the check happens before any
                    // socket exists and before a host name is resolved.
                    let endpoint = Endpoint::of_target(&target);
                    match session.policy.check(&endpoint) {
                        Ok(()) => {
                            return Ok((
                                send,
                                Next::Open {
                                    endpoint,
                                    timeout,
                                    prefer: addr,
                                    keepalive,
                                },
                            ))
                        }
                        Err(e) => session.opened(Err(e))?,
                    }
                }
                Action::NeedFile { purpose, path } => {
                    match crate::files::read_for_session(&session.policy, &path, &purpose) {
                        Ok(bytes) => session.call(&Request::FileBytes(Cow::Owned(bytes)))?,
                        Err((status, reason)) => session.call(&Request::File {
                            status,
                            contents: Cow::Owned(reason),
                        })?,
                    }
                }
                // No prompt: what the conninfo, PGPASSWORD, the password file and the
                // connection's password callback did not give, the user did not give.
                Action::NeedPassword(request) => {
                    let password = session.password.as_mut().and_then(|f| f(&request));
                    session.call(&Request::Password(password.map(Cow::Owned)))?
                }
            };
        }
    }
}

/// The request's outcome once its drive is done: its error if it failed.
pub(crate) fn outcome(response: Response) -> Result<Response, Error> {
    match response.error {
        Some(error) => Err(error),
        None => Ok(response),
    }
}

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

/// The timeout a cancel request's drive gets.
pub(crate) fn cancel_timeout(config: &Config) -> Option<Duration> {
    config.connect_timeout.or(Some(CANCEL_TIMEOUT))
}
