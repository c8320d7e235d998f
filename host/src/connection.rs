//! One session's drive loop: the sandboxed guest and its session resource, and the host
//! performing the effects the guest's steps ask for (open, read, write, password lookup) on a
//! real socket, opening only what the policy allows.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use wasmtime::component::ResourceAny;

use crate::config::Config;
use crate::error::{DbError, Error, ErrorKind};
use crate::policy::{Endpoint, Policy};
use crate::results::Response;
use crate::runtime::{wit, wit_types, Runtime, Sandbox};
use crate::socket::Socket;
use crate::startup::{add_startup_parameters, startup_parameters};
use crate::wit_error::{db_error_in, error_in, kind_out, open_error_in};

/// A connected session: the sandboxed guest, its session resource and the socket.
pub(crate) struct Connection {
    sandbox: Sandbox,
    session: ResourceAny,
    socket: Option<Socket>,
    policy: Policy,
    read_timeout: Option<Duration>,
    read_buf: Vec<u8>,
    closed: bool,
    deadline: Option<Instant>,
    /// A request is being driven: a failure now leaves its outcome unknown.
    in_request: bool,
    /// Run-time parameters the host adds to the guest's StartupMessage; see [`crate::startup`].
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
            None => Policy::for_targets(&info.targets),
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
        let mut conn = Connection {
            sandbox,
            session,
            socket: None,
            policy,
            read_timeout: config.read_timeout,
            read_buf: vec![0; config.read_chunk.max(4096)],
            closed: false,
            deadline: None,
            in_request: false,
            startup_parameters: startup_parameters(config),
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
        // The host's kind of the open failure the guest was just told about, if any.
        let mut failed_open: Option<ErrorKind> = None;
        loop {
            self.send(&step.send)?;
            let answering_open_failed = failed_open.take();
            for event in std::mem::take(&mut step.events) {
                match (event, answering_open_failed) {
                    // The guest was given a WIT kind; the host's own can be more precise.
                    (wit::Event::Error(e), Some(kind)) => {
                        response.add_error(open_error_in(e, kind))
                    }
                    (event, _) => self.event(event, &mut response),
                }
            }
            let session = self.session;
            step = match step.action {
                wit::Action::Done => return Ok(response),
                wit::Action::Close => {
                    self.close_socket();
                    response.add_error(Error::new(ErrorKind::Closed, "the session ended"));
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
                            add_startup_parameters(&self.startup_parameters, &mut step.send)?;
                            step
                        }
                        Err(e) => {
                            let kind = kind_out(e.kind());
                            let reason = e.message().to_owned();
                            let step = self.call("open-failed", |s, store| {
                                s.call_open_failed(store, session, kind, &reason)
                            })?;
                            failed_open = Some(e.kind());
                            step
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

    /// Keeps the session-state events (notices, parameters, backend key, transaction status);
    /// result events go to `response`.
    fn event(&mut self, event: wit::Event, response: &mut Response) {
        match event {
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
            result => response.add(result),
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

    /// Opens the target if the policy allows it. Nothing is sent to a denied target: the check
    /// happens before any socket exists and before a host name is resolved.
    fn open(&mut self, target: &wit_types::Target, timeout: Option<Duration>) -> Result<(), Error> {
        self.socket = None;
        let endpoint = Endpoint::of_target(target);
        self.policy.check(&endpoint)?;
        self.socket = Some(Socket::connect(&endpoint, timeout)?);
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
