//! A TCP proxy between the driver and a real server, to inject faults at exact protocol points
//! and to record what the server sent.
//!
//! One thread per proxied connection moves bytes both ways (`poll`, then blocking writes). The
//! client→server direction is parsed into messages so that a cut can happen right after the
//! client's COMMIT was forwarded, before any reply. A cut affects only the client's side: the
//! server's side stays open (its data is discarded) so that whatever the server received is
//! carried out, as it would be when a network fails between the two.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

/// How the client's connection is cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cut {
    /// An orderly close (FIN): the client reads end-of-file.
    Fin,
    /// An abortive close (RST, `SO_LINGER` 0): the client's read fails with ECONNRESET.
    Reset,
}

/// What the proxy does besides forwarding.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProxyConfig {
    /// Cut right after forwarding a COMMIT to the server (a simple-query `COMMIT`, or the Sync
    /// after an extended-protocol `COMMIT`), before any of the server's reply reaches the client.
    pub cut_after_commit: Option<Cut>,
    /// Cut once this many server bytes (startup included) have been forwarded to the client.
    pub cut_after_server_bytes: Option<(usize, Cut)>,
}

/// A running proxy on 127.0.0.1; stops (and closes every connection) when dropped.
pub struct Proxy {
    /// The port clients connect to.
    pub port: u16,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

struct Shared {
    stop: AtomicBool,
    cuts: AtomicUsize,
    recorded: Mutex<Vec<u8>>,
}

impl Proxy {
    /// Proxies to `127.0.0.1:upstream_port`.
    pub fn start(upstream_port: u16, config: ProxyConfig) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let shared = Arc::new(Shared {
            stop: AtomicBool::new(false),
            cuts: AtomicUsize::new(0),
            recorded: Mutex::new(Vec::new()),
        });
        let accepting = Arc::clone(&shared);
        let thread = std::thread::spawn(move || {
            let mut connections = Vec::new();
            while !accepting.stop.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((client, _)) => {
                        let shared = Arc::clone(&accepting);
                        connections.push(std::thread::spawn(move || {
                            let server = match TcpStream::connect(("127.0.0.1", upstream_port)) {
                                Ok(server) => server,
                                Err(_) => return, // the client sees EOF
                            };
                            pump(client, server, config, &shared);
                        }));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
            for connection in connections {
                let _ = connection.join();
            }
        });
        Proxy {
            port,
            shared,
            thread: Some(thread),
        }
    }

    /// How many connections were cut so far.
    pub fn cuts(&self) -> usize {
        self.shared.cuts.load(Ordering::SeqCst)
    }

    /// The server bytes forwarded to clients since the last call (all connections, in order).
    pub fn take_recorded(&self) -> Vec<u8> {
        std::mem::take(
            &mut *self
                .shared
                .recorded
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        )
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Parses the client's stream: untyped packets until the StartupMessage, then typed messages.
#[derive(Default)]
struct ClientParser {
    buf: Vec<u8>,
    started: bool,
    /// An extended-protocol COMMIT was parsed: cut at the next Sync.
    commit_pending: bool,
}

impl ClientParser {
    /// Appends `data`; returns how many of the buffered bytes end with a complete COMMIT (or
    /// None), so the caller forwards exactly up to there before cutting.
    fn push(&mut self, data: &[u8]) -> Option<usize> {
        let consumed_before = self.buf.len();
        self.buf.extend_from_slice(data);
        let mut at = 0;
        let mut cut_at = None;
        loop {
            let rest = &self.buf[at..];
            if !self.started {
                if rest.len() < 8 {
                    break;
                }
                let len = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
                if rest.len() < len.max(8) {
                    break;
                }
                if rest[4..8] == 196608u32.to_be_bytes() {
                    self.started = true;
                }
                at += len.max(8);
                continue;
            }
            if rest.len() < 5 {
                break;
            }
            let len = u32::from_be_bytes([rest[1], rest[2], rest[3], rest[4]]) as usize;
            if rest.len() < len + 1 {
                break;
            }
            let body = &rest[5..len + 1];
            let is_commit = |sql: &[u8]| {
                String::from_utf8_lossy(sql)
                    .trim_start()
                    .to_ascii_uppercase()
            };
            match rest[0] {
                b'Q' if is_commit(body).starts_with("COMMIT") => {
                    cut_at.get_or_insert(at + len + 1);
                }
                b'P' => {
                    // Parse: statement name NUL, query NUL, ...
                    let query = body.splitn(3, |&b| b == 0).nth(1).unwrap_or_default();
                    if is_commit(query).starts_with("COMMIT") {
                        self.commit_pending = true;
                    }
                }
                b'S' if self.commit_pending => {
                    self.commit_pending = false;
                    cut_at.get_or_insert(at + len + 1);
                }
                _ => {}
            }
            at += len + 1;
        }
        self.buf.drain(..at);
        // Offsets above are into the buffer as it was after the append.
        cut_at.map(|end| end - consumed_before)
    }
}

fn cut(stream: TcpStream, how: Cut) {
    if how == Cut::Reset {
        let linger = libc::linger {
            l_onoff: 1,
            l_linger: 0,
        };
        // SAFETY: a valid socket and a correctly sized option value.
        unsafe {
            libc::setsockopt(
                stream.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_LINGER,
                (&linger as *const libc::linger).cast(),
                std::mem::size_of::<libc::linger>() as libc::socklen_t,
            );
        }
    } else {
        let _ = stream.shutdown(Shutdown::Both);
    }
    drop(stream); // the only descriptor of the client's socket: RST with linger 0
}

fn pump(client: TcpStream, mut server: TcpStream, config: ProxyConfig, shared: &Shared) {
    let _ = client.set_nonblocking(false);
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let mut client = Some(client);
    let mut parser = ClientParser::default();
    let mut server_bytes = 0usize;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        if shared.stop.load(Ordering::SeqCst) {
            return;
        }
        let mut fds = vec![libc::pollfd {
            fd: server.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        }];
        if let Some(c) = &client {
            fds.push(libc::pollfd {
                fd: c.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            });
        }
        // SAFETY: `fds` is a valid array of pollfd of the given length.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, 50) };
        if n <= 0 {
            continue;
        }
        // Client → server.
        if fds.len() > 1 && fds[1].revents != 0 {
            let c = client.as_mut().unwrap();
            match c.read(&mut buf) {
                Ok(0) | Err(_) => {
                    let _ = server.shutdown(Shutdown::Write);
                    client = None;
                }
                Ok(n) => {
                    let data = &buf[..n];
                    let cut_at = config
                        .cut_after_commit
                        .and_then(|how| parser.push(data).map(|at| (at, how)));
                    match cut_at {
                        Some((at, how)) => {
                            let _ = server.write_all(&data[..at]);
                            shared.cuts.fetch_add(1, Ordering::SeqCst);
                            cut(client.take().unwrap(), how);
                        }
                        None => {
                            if server.write_all(data).is_err() {
                                return;
                            }
                        }
                    }
                }
            }
        }
        // Server → client.
        if fds[0].revents != 0 {
            match server.read(&mut buf) {
                Ok(0) | Err(_) => {
                    if let Some(c) = client.take() {
                        let _ = c.shutdown(Shutdown::Both);
                    }
                    return;
                }
                Ok(n) => {
                    let Some(c) = client.as_mut() else {
                        continue; // cut: the server's data is discarded
                    };
                    let mut data = &buf[..n];
                    let mut cut_now = None;
                    if let Some((limit, how)) = config.cut_after_server_bytes {
                        if server_bytes + n >= limit {
                            data = &data[..limit.saturating_sub(server_bytes)];
                            cut_now = Some(how);
                        }
                    }
                    server_bytes += data.len();
                    shared
                        .recorded
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .extend_from_slice(data);
                    if c.write_all(data).is_err() {
                        client = None;
                    }
                    if let Some(how) = cut_now {
                        if let Some(c) = client.take() {
                            shared.cuts.fetch_add(1, Ordering::SeqCst);
                            cut(c, how);
                        }
                    }
                }
            }
        }
    }
}
