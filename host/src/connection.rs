//! The sync connection: performs on a blocking socket the operations the session's step loop
//! (`session.rs`) asks for: open, send, read. The same loop delivers cancel requests from a
//! fresh instance.

use std::time::Duration;

use wasmpg_wire::Request;

use crate::config::Config;
use crate::error::{Error, ErrorKind};
use crate::guest::Step;
use crate::results::Response;
use crate::runtime::Runtime;
use crate::session::{self, Drive, Next, PasswordCallback, Session};
use crate::socket::Socket;

pub(crate) use crate::session::{Copy, Stop};

/// A connected session: the sandboxed guest's session and the socket.
pub(crate) struct Connection {
    pub(crate) session: Session,
    socket: Option<Socket>,
    read_buf: Vec<u8>,
}

impl Connection {
    fn new(session: Session, config: &Config) -> Connection {
        Connection {
            session,
            socket: None,
            read_buf: vec![0; config.read_chunk.max(4096)],
        }
    }

    pub(crate) fn connect(
        runtime: &Runtime,
        config: &Config,
        conninfo: &str,
        password: Option<PasswordCallback>,
    ) -> Result<Connection, Error> {
        let (session, step) = Session::start(runtime, config, conninfo, password)?;
        let mut conn = Connection::new(session, config);
        let response = conn.drive(step, config.connect_timeout);
        conn.session.connected(response)?;
        Ok(conn)
    }

    /// Delivers a cancel request from a fresh instance (see [`crate::CancelToken`]).
    pub(crate) fn cancel(
        runtime: &Runtime,
        config: &Config,
        policy: &crate::policy::Policy,
        token: &str,
    ) -> Result<(), Error> {
        let (session, step) = Session::start_cancel(runtime, config, policy, token)?;
        let mut conn = Connection::new(session, config);
        let response = conn.drive(step, session::cancel_timeout(config));
        conn.session.cancelled(response)
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.session.is_closed()
    }

    /// Bytes of linear memory the guest instance has.
    pub(crate) fn guest_memory(&self) -> usize {
        self.session.guest_memory()
    }

    /// The token a cancel request for this session needs.
    pub(crate) fn cancel_token(&mut self) -> Result<String, Error> {
        self.session.cancel_token()
    }

    pub(crate) fn policy(&self) -> &crate::policy::Policy {
        self.session.policy()
    }

    /// Sends a request to the guest and drives it to completion.
    pub(crate) fn request(&mut self, request: &Request<'_>) -> Result<Response, Error> {
        let step = self.begin(request)?;
        let response = self.drive(step, None);
        self.session.in_request = false;
        session::outcome(response?)
    }

    /// Sends a request and drives it to completion into `response`, which keeps what arrived
    /// if the connection fails midway (a pipeline's answered statements). An error before
    /// anything was sent is returned; one after is recorded in the response.
    pub(crate) fn request_into(
        &mut self,
        request: &Request<'_>,
        response: &mut Response,
    ) -> Result<(), Error> {
        let step = self.begin(request)?;
        let result = self.drive_until(step, None, response, None);
        self.session.in_request = false;
        if let Err(e) = result {
            response.add_error(e);
        }
        Ok(())
    }

    fn begin(&mut self, request: &Request<'_>) -> Result<Step, Error> {
        let step = self.session.begin(request);
        self.sync_socket();
        step
    }

    /// Sends a request that may run a COPY and drives it until it is done or the COPY needs
    /// the caller (data to send, data received). The request stays in flight until `Done`.
    pub(crate) fn request_copy(
        &mut self,
        request: &Request<'_>,
        response: &mut Response,
        copy: &mut Copy,
    ) -> Result<Stop, Error> {
        let step = self.begin(request)?;
        self.drive_until(step, None, response, Some(copy))
    }

    /// Goes on with a request that stopped for COPY TO STDOUT data (reads from the server).
    pub(crate) fn resume(
        &mut self,
        response: &mut Response,
        copy: &mut Copy,
    ) -> Result<Stop, Error> {
        self.drive_until(Session::read_step(), None, response, Some(copy))
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
        self.session.ensure_open()?;
        if let Some(n) = self.read_ready()? {
            let step = self.feed(n)?;
            match self.drive_until(step, None, response, Some(copy))? {
                Stop::CopyIn => {}
                stop => return Ok(stop),
            }
        }
        let step = self.call(request)?;
        self.drive_until(step, None, response, Some(copy))
    }

    /// What the server has sent, without waiting: `None` when nothing is there.
    fn read_ready(&mut self) -> Result<Option<usize>, Error> {
        let Some(socket) = &mut self.socket else {
            return Err(Error::new(ErrorKind::Closed, "no connection to read from"));
        };
        match socket.read_nonblocking(&mut self.read_buf) {
            Ok(n) => Ok(n),
            Err(e) => {
                let e = self.session.io_failed("cannot read from the server", e);
                self.sync_socket();
                Err(e)
            }
        }
    }

    fn call(&mut self, request: &Request<'_>) -> Result<Step, Error> {
        let result = self.session.call(request);
        self.sync_socket();
        result
    }

    /// Hands the first `n` bytes of the read buffer to the guest (0: the end of the stream).
    fn feed(&mut self, n: usize) -> Result<Step, Error> {
        let result = self.session.feed(&self.read_buf[..n]);
        self.sync_socket();
        result
    }

    /// Drops the socket once the session has ended (a trap, an I/O failure, a close).
    fn sync_socket(&mut self) {
        if self.session.is_closed() {
            self.socket = None;
        }
    }

    /// Performs the guest's effects until the request is done or the session closes.
    /// `connect_timeout` is the host's default when an `open` carries none.
    fn drive(&mut self, step: Step, connect_timeout: Option<Duration>) -> Result<Response, Error> {
        let mut response = Response::default();
        self.drive_until(step, connect_timeout, &mut response, None)?;
        Ok(response)
    }

    /// Performs the socket operations the step loop asks for until it stops.
    fn drive_until(
        &mut self,
        mut step: Step,
        connect_timeout: Option<Duration>,
        response: &mut Response,
        mut copy: Option<&mut Copy>,
    ) -> Result<Stop, Error> {
        let mut drive = Drive::new(connect_timeout);
        loop {
            let advanced = drive.advance(&mut self.session, step, response, copy.as_deref_mut());
            let (send, next) = match advanced {
                Ok(v) => v,
                Err(e) => {
                    self.sync_socket();
                    return Err(e);
                }
            };
            self.send(&send)?;
            self.sync_socket();
            step = match next {
                Next::Stop(stop) => return Ok(stop),
                Next::Read => {
                    let n = self.read()?;
                    self.feed(n)?
                }
                Next::Open {
                    endpoint,
                    timeout,
                    prefer,
                    keepalive,
                } => {
                    self.socket = None;
                    let opened =
                        Socket::connect(&endpoint, timeout, prefer.as_deref()).map(|socket| {
                            if let Some(keepalive) = &keepalive {
                                socket.set_keepalive(keepalive);
                            }
                            let peer = socket.peer_addr();
                            self.socket = Some(socket);
                            peer
                        });
                    let step = self.session.opened(opened);
                    self.sync_socket();
                    step?
                }
            };
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
            let e = self.session.io_failed("cannot write to the server", e);
            self.socket = None;
            return Err(e);
        }
        Ok(())
    }

    fn read(&mut self) -> Result<usize, Error> {
        let Some(socket) = &mut self.socket else {
            return Err(Error::new(ErrorKind::Closed, "no connection to read from"));
        };
        let timeout = match self.session.read_timeout() {
            Ok(t) => t,
            Err(e) => {
                self.session.close();
                self.socket = None;
                return Err(e);
            }
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
                let e = self.session.timed_out();
                self.socket = None;
                Err(e)
            }
            Err(e) => {
                let e = self.session.io_failed("cannot read from the server", e);
                self.socket = None;
                Err(e)
            }
        }
    }

    /// While no request runs: waits up to `timeout` for the server to send something (a
    /// notification, a notice, a parameter change, or the error that ends the session), hands
    /// it to the guest, and returns whether anything arrived. An error ends the session.
    pub(crate) fn poll_idle(&mut self, timeout: Duration) -> Result<bool, Error> {
        self.session.ensure_open()?;
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
                let e = self.session.io_failed("cannot read from the server", e);
                self.socket = None;
                return Err(e);
            }
        };
        let step = self.feed(n)?;
        let response = self.drive(step, None)?;
        match response.error {
            Some(e) => Err(e),
            None => Ok(true),
        }
    }

    /// Ends the session: Terminate, then close the socket.
    pub(crate) fn terminate(&mut self) -> Result<(), Error> {
        if self.session.is_closed() {
            return Ok(());
        }
        let bytes = self.session.terminate();
        let result = match bytes {
            Ok(bytes) => match &mut self.socket {
                Some(socket) if !bytes.is_empty() => socket.write_all(&bytes).map_err(|e| {
                    Error::with_cause(ErrorKind::Io, "cannot write to the server", e.into())
                }),
                _ => Ok(()),
            },
            Err(e) => Err(e),
        };
        self.socket = None;
        result
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        if !self.session.is_cancelling() {
            let _ = self.terminate();
        }
    }
}
