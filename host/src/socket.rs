//! The host's socket to the server: a TCP or Unix-domain stream, opened within the connect
//! timeout, then read and written as plain bytes. Opening does no policy check: the caller
//! checks the endpoint against the policy first.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use crate::error::{Error, ErrorKind};
use crate::policy::Endpoint;

enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

/// An open connection to the server.
pub(crate) struct Socket {
    stream: Stream,
    /// The read timeout last set on `stream`: a `setsockopt` per read would cost a syscall per
    /// round trip.
    read_timeout: Option<Option<Duration>>,
}

impl Socket {
    /// Connects to `endpoint`, which the policy has allowed. A TCP host name is resolved here
    /// (a failure is [`ErrorKind::Dns`]) and each of its addresses is tried in turn, each
    /// within `timeout`; `prefer` (`ip:port`, a cancel request's address) goes first if the name
    /// resolves to it, and is ignored otherwise: it never widens what the policy allowed.
    pub(crate) fn connect(
        endpoint: &Endpoint,
        timeout: Option<Duration>,
        prefer: Option<&str>,
    ) -> Result<Socket, Error> {
        let stream = match endpoint {
            Endpoint::Tcp { host, port } => Stream::Tcp(connect_tcp(host, *port, timeout, prefer)?),
            Endpoint::Unix { path } => Stream::Unix(connect_unix(path)?),
        };
        Ok(Socket {
            stream,
            read_timeout: None,
        })
    }

    /// Sets TCP keepalives as the guest asked (libpq's `keepalives*`; on by default, each
    /// interval the system's unless given). Best effort, as in libpq, which only warns: a
    /// platform without a setting keeps its default.
    pub(crate) fn set_keepalive(&self, keepalive: &wasmpg_wire::Keepalive) {
        let Stream::Tcp(stream) = &self.stream else {
            return;
        };
        apply_keepalive(&socket2::SockRef::from(stream), keepalive);
    }

    /// Sets the read timeout (`None`: wait forever), skipping the syscall when it is unchanged.
    pub(crate) fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        if self.read_timeout == Some(timeout) {
            return Ok(());
        }
        match &self.stream {
            Stream::Tcp(s) => s.set_read_timeout(timeout),
            Stream::Unix(s) => s.set_read_timeout(timeout),
        }?;
        self.read_timeout = Some(timeout);
        Ok(())
    }

    /// Reads what is available (0 at end of stream), retrying when interrupted by a signal.
    /// An expired read timeout is `WouldBlock` or `TimedOut`.
    pub(crate) fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let result = match &mut self.stream {
                Stream::Tcp(s) => s.read(buf),
                Stream::Unix(s) => s.read(buf),
            };
            match result {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                result => return result,
            }
        }
    }

    /// Reads what is available without waiting: `None` when nothing is (`Some(0)` at end of
    /// stream).
    pub(crate) fn read_nonblocking(&mut self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        self.set_nonblocking(true)?;
        let result = self.read(buf);
        self.set_nonblocking(false)?;
        match result {
            Ok(n) => Ok(Some(n)),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn set_nonblocking(&self, on: bool) -> io::Result<()> {
        match &self.stream {
            Stream::Tcp(s) => s.set_nonblocking(on),
            Stream::Unix(s) => s.set_nonblocking(on),
        }
    }

    /// The address reached (`ip:port`, `[v6]:port`), for TCP.
    pub(crate) fn peer_addr(&self) -> Option<String> {
        match &self.stream {
            Stream::Tcp(s) => s.peer_addr().ok().map(|a| a.to_string()),
            Stream::Unix(_) => None,
        }
    }

    pub(crate) fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        match &mut self.stream {
            Stream::Tcp(s) => s.write_all(buf),
            Stream::Unix(s) => s.write_all(buf),
        }
    }
}

/// Applies the guest's keepalive settings to a TCP socket (shared with the tokio socket).
pub(crate) fn apply_keepalive(socket: &socket2::SockRef<'_>, keepalive: &wasmpg_wire::Keepalive) {
    if !keepalive.enabled {
        let _ = socket.set_keepalive(false);
        return;
    }
    let mut params = socket2::TcpKeepalive::new();
    if let Some(idle) = keepalive.idle_secs {
        params = params.with_time(Duration::from_secs(idle.into()));
    }
    #[cfg(any(
        target_os = "linux",
        target_os = "macos",
        target_os = "freebsd",
        windows
    ))]
    if let Some(interval) = keepalive.interval_secs {
        params = params.with_interval(Duration::from_secs(interval.into()));
    }
    #[cfg(any(target_os = "linux", target_os = "macos", target_os = "freebsd"))]
    if let Some(count) = keepalive.count {
        params = params.with_retries(count);
    }
    let _ = socket.set_tcp_keepalive(&params);
}

fn connect_unix(path: &Path) -> Result<UnixStream, Error> {
    UnixStream::connect(path).map_err(|e| {
        Error::with_cause(
            ErrorKind::ConnectionRefused,
            format!("cannot connect to {}: {e}", path.display()),
            e.into(),
        )
    })
}

fn connect_tcp(
    host: &str,
    port: u16,
    timeout: Option<Duration>,
    prefer: Option<&str>,
) -> Result<TcpStream, Error> {
    let addrs = candidates(host, (host, port).to_socket_addrs(), prefer)?;
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
            Err(e) => last = Some((*addr, e)),
        }
    }
    Err(connect_failed(host, last))
}

/// The addresses a host name resolved to, in the order to try them: `prefer` (a cancel
/// request's address) first if the name resolves to it. Shared with the tokio socket.
pub(crate) fn candidates(
    host: &str,
    resolved: io::Result<impl Iterator<Item = SocketAddr>>,
    prefer: Option<&str>,
) -> Result<Vec<SocketAddr>, Error> {
    let mut addrs: Vec<SocketAddr> = resolved
        .map_err(|e| {
            Error::with_cause(
                ErrorKind::Dns,
                format!("cannot resolve {host}: {e}"),
                e.into(),
            )
        })?
        .collect();
    if let Some(i) = prefer.and_then(|p| addrs.iter().position(|a| a.to_string() == p)) {
        let preferred = addrs.remove(i);
        addrs.insert(0, preferred);
    }
    Ok(addrs)
}

/// The error when no address of `host` could be connected: the last attempt's (a timeout is
/// [`ErrorKind::Timeout`]), or none resolved. Shared with the tokio socket.
pub(crate) fn connect_failed(host: &str, last: Option<(SocketAddr, io::Error)>) -> Error {
    match last {
        Some((addr, e)) => {
            let kind = if e.kind() == io::ErrorKind::TimedOut {
                ErrorKind::Timeout
            } else {
                ErrorKind::ConnectionRefused
            };
            Error::with_cause(kind, format!("cannot connect to {addr}: {e}"), e.into())
        }
        None => Error::new(ErrorKind::Dns, format!("{host} resolved to no address")),
    }
}
