//! The async client's socket: a tokio TCP or Unix-domain stream, opened within the connect
//! timeout the same way the sync socket is (`socket.rs`: every resolved address in turn, a
//! cancel request's preferred address first, no Nagle, keepalives as the guest asked). Opening
//! does no policy check: the step loop checked the endpoint first.

use std::io;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UnixStream};

use crate::error::{Error, ErrorKind};
use crate::policy::Endpoint;

enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

/// An open connection to the server.
pub(crate) struct Socket {
    stream: Stream,
}

impl Socket {
    /// Connects to `endpoint`, which the policy has allowed: see `socket::Socket::connect`.
    pub(crate) async fn connect(
        endpoint: &Endpoint,
        timeout: Option<Duration>,
        prefer: Option<&str>,
    ) -> Result<Socket, Error> {
        let stream = match endpoint {
            Endpoint::Tcp { host, port } => {
                Stream::Tcp(connect_tcp(host, *port, timeout, prefer).await?)
            }
            Endpoint::Unix { path } => {
                let connect = UnixStream::connect(path);
                let result = match timeout {
                    Some(t) => tokio::time::timeout(t, connect)
                        .await
                        .unwrap_or_else(|_| Err(io::ErrorKind::TimedOut.into())),
                    None => connect.await,
                };
                Stream::Unix(result.map_err(|e| {
                    Error::with_cause(
                        ErrorKind::ConnectionRefused,
                        format!("cannot connect to {}: {e}", path.display()),
                        e.into(),
                    )
                })?)
            }
        };
        Ok(Socket { stream })
    }

    /// Sets TCP keepalives as the guest asked (best effort, as in libpq).
    pub(crate) fn set_keepalive(&self, keepalive: &wasmpg_wire::Keepalive) {
        let Stream::Tcp(stream) = &self.stream else {
            return;
        };
        let socket = socket2::SockRef::from(stream);
        crate::socket::apply_keepalive(&socket, keepalive);
    }

    /// The address reached (`ip:port`, `[v6]:port`), for TCP.
    pub(crate) fn peer_addr(&self) -> Option<String> {
        match &self.stream {
            Stream::Tcp(s) => s.peer_addr().ok().map(|a| a.to_string()),
            Stream::Unix(_) => None,
        }
    }

    /// Reads what is available (0 at end of stream).
    pub(crate) async fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match &mut self.stream {
            Stream::Tcp(s) => s.read(buf).await,
            Stream::Unix(s) => s.read(buf).await,
        }
    }

    pub(crate) async fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        match &mut self.stream {
            Stream::Tcp(s) => s.write_all(buf).await,
            Stream::Unix(s) => s.write_all(buf).await,
        }
    }
}

async fn connect_tcp(
    host: &str,
    port: u16,
    timeout: Option<Duration>,
    prefer: Option<&str>,
) -> Result<TcpStream, Error> {
    let resolved = tokio::net::lookup_host((host, port)).await;
    let addrs = crate::socket::candidates(host, resolved, prefer)?;
    let mut last = None;
    for addr in &addrs {
        let connect = TcpStream::connect(addr);
        let stream = match timeout {
            Some(t) => tokio::time::timeout(t, connect)
                .await
                .unwrap_or_else(|_| Err(io::ErrorKind::TimedOut.into())),
            None => connect.await,
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
    Err(crate::socket::connect_failed(host, last))
}
