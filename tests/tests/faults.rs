//! Things going wrong: a backend killed mid-query, malformed conninfo, nothing listening, servers
//! that misbehave (fake servers on our own sockets), timeouts and size limits.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use wasmpg::{Config, Driver, ErrorKind};
use wasmpg_tests::*;

fn driver_with(configure: impl FnOnce(&mut Config)) -> Driver {
    let mut config = Config::default();
    configure(&mut config);
    Driver::with_config(config).expect("Driver::with_config")
}

/// A port on 127.0.0.1 with nothing listening (bound by the kernel, then released).
fn closed_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

// ---------------------------------------------------------------------------------------------
// The real server
// ---------------------------------------------------------------------------------------------

#[test]
fn terminated_backend_fails_the_running_query_and_closes_the_client() {
    let cluster = cluster();
    let mut a = client();
    let pid = a.backend_pid();
    let running = thread::spawn(move || {
        let start = Instant::now();
        let result = a.query("SELECT pg_sleep(30)", &[]).map(|rows| rows.len());
        (a, result, start.elapsed())
    });
    wait_until("A's pg_sleep to be active", Duration::from_secs(20), || {
        let state = cluster.psql(&format!(
            "SELECT state || '|' || query FROM pg_stat_activity WHERE pid = {pid}"
        ));
        (state == "active|SELECT pg_sleep(30)").then_some(())
    });

    let mut b = client();
    let terminated: bool = b
        .query_one("SELECT pg_terminate_backend($1)", &[&pid])
        .unwrap()
        .get(0);
    assert!(terminated, "pg_terminate_backend({pid}) returned false");

    let (mut a, result, elapsed) = running.join().expect("the querying thread panicked");
    let err = match result {
        Ok(rows) => panic!("the terminated query returned {rows} rows"),
        Err(e) => e,
    };
    assert!(
        err.code() == Some("57P01") || err.kind() == ErrorKind::Closed,
        "expected 57P01 or Closed, got {err} / {err:?}"
    );
    assert!(
        elapsed < Duration::from_secs(20),
        "the failure took {elapsed:?}"
    );
    assert!(a.is_closed(), "a terminated client must report is_closed()");
    let again = expect_err(a.query("SELECT 1", &[]), "query on a terminated client");
    assert_kind(&again, ErrorKind::Closed);

    // The server and the driver are fine: a new connection works, and B was never affected.
    let mut fresh = client();
    let one: i32 = fresh.query_one("SELECT 1", &[]).unwrap().get(0);
    assert_eq!(one, 1);
    assert_ne!(fresh.backend_pid(), pid);
    let two: i32 = b.query_one("SELECT 2", &[]).unwrap().get(0);
    assert_eq!(two, 2);
}

#[test]
fn read_timeout_expires_on_a_slow_query() {
    let cluster = cluster();
    let driver = driver_with(|c| c.read_timeout = Some(Duration::from_millis(500)));
    let mut c = connect_with(&driver, &cluster.superuser_conninfo());
    let start = Instant::now();
    let err = expect_err(
        c.query("SELECT pg_sleep(10)", &[]),
        "pg_sleep(10) with a 500 ms timeout",
    );
    assert_kind(&err, ErrorKind::Timeout);
    assert!(
        start.elapsed() < Duration::from_secs(8),
        "timed out only after {:?}",
        start.elapsed()
    );
}

#[test]
fn oversized_server_message_is_refused() {
    let cluster = cluster();
    let driver = driver_with(|c| c.max_message_size = 64 * 1024);
    let mut c = connect_with(&driver, &cluster.superuser_conninfo());
    let small: String = c.query_one("SELECT repeat('x', 1000)", &[]).unwrap().get(0);
    assert_eq!(small.len(), 1000);
    let err = expect_err(
        c.query("SELECT repeat('x', 1000000)", &[]),
        "a 1 MB row, 64 KiB limit",
    );
    assert_kind(&err, ErrorKind::MessageTooLarge);
}

#[test]
fn many_concurrent_connections_come_and_go() {
    let cluster = cluster();
    const N: usize = 40;
    let handles: Vec<_> = (0..N)
        .map(|i| {
            thread::spawn(move || {
                let mut c = client();
                let echoed: i64 = c
                    .query_one("SELECT $1::int8", &[&(i as i64)])
                    .unwrap()
                    .get(0);
                assert_eq!(echoed, i as i64);
                c
            })
        })
        .collect();
    let clients: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let pids: Vec<String> = clients
        .iter()
        .map(|c| c.backend_pid().to_string())
        .collect();
    let list = pids.join(",");
    let count_sql = format!("SELECT count(*) FROM pg_stat_activity WHERE pid IN ({list})");
    assert_eq!(
        cluster.psql(&count_sql),
        N.to_string(),
        "every client has its own backend"
    );
    drop(clients);
    wait_until(
        "dropped clients' backends to exit",
        Duration::from_secs(20),
        || (cluster.psql(&count_sql) == "0").then_some(()),
    );
}

#[test]
fn parallel_clients_share_one_driver() {
    let driver = driver().clone();
    let conninfo = cluster().superuser_conninfo();
    let handles: Vec<_> = (0..8)
        .map(|t| {
            let driver = driver.clone();
            let conninfo = conninfo.clone();
            thread::spawn(move || {
                let mut c = connect_with(&driver, &conninfo);
                for i in 0..100i64 {
                    let v: i64 = c
                        .query_one("SELECT $1::int8 * 1000 + $2::int8", &[&(t as i64), &i])
                        .unwrap()
                        .get(0);
                    assert_eq!(v, t as i64 * 1000 + i);
                }
            })
        })
        .collect();
    for h in handles {
        h.join().expect("a client thread failed");
    }
}

// ---------------------------------------------------------------------------------------------
// Conninfo that cannot be used
// ---------------------------------------------------------------------------------------------

#[test]
fn malformed_conninfo_is_a_config_error_never_a_panic() {
    let long = "a".repeat(100 * 1024);
    let cases: Vec<(&str, &str)> = vec![
        ("port=abc", "non-numeric port"),
        ("port=70000", "port out of range"),
        ("host='unterminated", "unterminated quote"),
        ("postgresql://[::1", "unterminated IPv6 bracket"),
        ("foo=bar", "unknown option"),
        ("postgresql://h/db?x=%zz", "bad percent escape"),
        ("postgresql://h/db?sslmode=%", "truncated percent escape"),
        ("=", "empty key"),
        ("a b c", "no '='"),
        ("\u{0}", "NUL"),
        ("host=a\u{0}b", "NUL inside a value"),
        ("host=a,b port=1,2,3", "more ports than hosts"),
        (
            "sslmode=require ssl_min_protocol_version=TLSv9",
            "unknown TLS version",
        ),
        ("sslmode=bogus", "unknown sslmode"),
        ("connect_timeout=soon", "non-numeric timeout"),
        (long.as_str(), "100 KiB without '='"),
    ];
    let mut failures = Vec::new();
    for (conninfo, why) in &cases {
        let shown: String = conninfo.chars().take(40).collect();
        match catch_unwind(AssertUnwindSafe(|| driver().connect(conninfo))) {
            Err(_) => failures.push(format!("{shown:?} ({why}): panicked")),
            Ok(Ok(_)) => failures.push(format!("{shown:?} ({why}): connected")),
            Ok(Err(e)) if e.kind() != ErrorKind::Config => failures.push(format!(
                "{shown:?} ({why}): kind {:?}, not Config: {e}",
                e.kind()
            )),
            Ok(Err(_)) => {}
        }
    }
    assert!(
        failures.is_empty(),
        "malformed conninfo handled wrongly:\n{}",
        failures.join("\n")
    );
    // The shared driver survived all of that.
    let one: i32 = client().query_one("SELECT 1", &[]).unwrap().get(0);
    assert_eq!(one, 1);
}

#[test]
fn empty_host_with_a_closed_port_fails_cleanly() {
    // libpq reads `host=` as "the default": not malformed, but there is nothing to reach.
    let conninfo = format!(
        "host= port={} user=u dbname=d connect_timeout=5",
        closed_port()
    );
    match catch_unwind(AssertUnwindSafe(|| driver().connect(&conninfo))) {
        Err(_) => panic!("{conninfo:?} panicked"),
        Ok(Ok(_)) => panic!("{conninfo:?} connected to something"),
        // The conninfo parser (like libpq's) skips the blanks after `host=`, so the host may be
        // read as the name `port=N`: its failed lookup is a DNS error.
        Ok(Err(e)) => assert!(
            matches!(
                e.kind(),
                ErrorKind::Config | ErrorKind::ConnectionRefused | ErrorKind::Dns | ErrorKind::Io
            ),
            "{conninfo:?}: {e} / {e:?}"
        ),
    }
}

#[test]
fn nothing_listening_is_connection_refused() {
    let port = closed_port();
    let err = expect_err(
        driver().connect(&format!(
            "host=127.0.0.1 port={port} user=postgres dbname=x"
        )),
        "connect to a closed port",
    );
    assert_kind(&err, ErrorKind::ConnectionRefused);
    assert!(
        err.to_string().contains(&port.to_string()),
        "the error does not name the target: {err}"
    );
}

// ---------------------------------------------------------------------------------------------
// Fake servers
// ---------------------------------------------------------------------------------------------

/// Accepts one connection, reads the startup packet (answering 'N' to an SSLRequest first), and
/// hands the stream to `behave`. Returns the port and the server thread.
fn fake_server(behave: impl FnOnce(TcpStream) + Send + 'static) -> (u16, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    listener.set_nonblocking(true).unwrap();
    let handle = thread::spawn(move || {
        // Bounded: a client that never comes must not hang the test in `join`.
        let (mut stream, _) = wait_until(
            "the client to reach the fake server",
            Duration::from_secs(30),
            || listener.accept().ok(),
        );
        stream.set_nonblocking(false).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        loop {
            let packet = read_packet(&mut stream);
            const SSL_REQUEST: [u8; 4] = 80877103u32.to_be_bytes();
            const GSS_REQUEST: [u8; 4] = 80877104u32.to_be_bytes();
            if packet.len() == 4 && (packet[..] == SSL_REQUEST || packet[..] == GSS_REQUEST) {
                stream.write_all(b"N").unwrap();
                continue;
            }
            assert_eq!(
                &packet[..4],
                &196608u32.to_be_bytes(),
                "fake server: not a v3 startup"
            );
            break;
        }
        behave(stream);
    });
    (port, handle)
}

/// One untyped packet (the startup phase): a length word, then the body.
fn read_packet(stream: &mut TcpStream) -> Vec<u8> {
    let mut len = [0u8; 4];
    stream
        .read_exact(&mut len)
        .expect("fake server: packet length");
    let len = u32::from_be_bytes(len) as usize;
    assert!(
        (8..=10_000).contains(&len),
        "fake server: odd packet length {len}"
    );
    let mut body = vec![0u8; len - 4];
    stream
        .read_exact(&mut body)
        .expect("fake server: packet body");
    body
}

/// A backend message: type byte, length word, body.
fn message(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut m = vec![kind];
    m.extend_from_slice(&(body.len() as u32 + 4).to_be_bytes());
    m.extend_from_slice(body);
    m
}

/// An ErrorResponse with the given fields.
fn error_response(fields: &[(u8, &str)]) -> Vec<u8> {
    let mut body = Vec::new();
    for (code, value) in fields {
        body.push(*code);
        body.extend_from_slice(value.as_bytes());
        body.push(0);
    }
    body.push(0);
    message(b'E', &body)
}

fn fake_conninfo(port: u16) -> String {
    format!("host=127.0.0.1 port={port} user=postgres dbname=x password=p connect_timeout=10")
}

/// Connects to a fake server that sends `reply` after the startup packet, then closes.
fn connect_to_fake(driver: &Driver, what: &str, reply: Vec<u8>) -> wasmpg::Error {
    let (port, server) = fake_server(move |mut stream| {
        stream.write_all(&reply).unwrap();
        let _ = stream.flush();
        // Give the client a chance to read before the FIN; ignore what it sends.
        let mut sink = [0u8; 1024];
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let _ = stream.read(&mut sink);
    });
    let result = catch_unwind(AssertUnwindSafe(|| driver.connect(&fake_conninfo(port))));
    server.join().expect("fake server thread");
    match result {
        Err(_) => panic!("{what}: connect panicked"),
        Ok(r) => expect_err(r, what),
    }
}

#[test]
fn server_that_closes_at_once_is_closed() {
    let (port, server) = fake_server(drop);
    let err = expect_err(
        driver().connect(&fake_conninfo(port)),
        "server closes after startup",
    );
    server.join().unwrap();
    assert_kind(&err, ErrorKind::Closed);
}

#[test]
fn garbage_from_the_server_is_a_protocol_error() {
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("unknown message type", message(b'!', b"")),
        ("length word below 4", vec![b'R', 0, 0, 0, 2]),
        ("ReadyForQuery before authentication", message(b'Z', b"I")),
        ("truncated authentication request", message(b'R', &[0, 0])),
        (
            "unknown authentication method",
            message(b'R', &99u32.to_be_bytes()),
        ),
    ];
    for (what, reply) in cases {
        let err = connect_to_fake(driver(), what, reply);
        assert!(
            matches!(err.kind(), ErrorKind::Protocol | ErrorKind::Authentication),
            "{what}: expected a protocol error, got {err} / {err:?}"
        );
        if what != "unknown authentication method" {
            assert_kind(&err, ErrorKind::Protocol);
        }
    }
}

#[test]
fn announced_oversized_message_is_refused_before_reading_it() {
    let driver = driver_with(|c| c.max_message_size = 1024 * 1024);
    // Announces a 64 MiB ErrorResponse (a type that may be long; a 64 MiB authentication
    // request is a protocol error at once) and sends nothing more: a client that tried to read
    // it would hang until the server closes, then report something else.
    let mut reply = vec![b'E'];
    reply.extend_from_slice(&(64u32 * 1024 * 1024).to_be_bytes());
    let err = connect_to_fake(&driver, "an announced 64 MiB message", reply);
    assert_kind(&err, ErrorKind::MessageTooLarge);
}

#[test]
fn server_error_during_startup_is_reported_with_its_code() {
    let err = connect_to_fake(
        driver(),
        "a FATAL error during startup",
        error_response(&[
            (b'S', "FATAL"),
            (b'V', "FATAL"),
            (b'C', "53300"),
            (b'M', "sorry, too many clients already"),
        ]),
    );
    let db = assert_db_code(&err, "53300");
    assert_eq!(db.severity(), "FATAL");
    assert_eq!(db.message(), "sorry, too many clients already");
}

#[test]
fn silent_server_times_out() {
    let (release, wait) = mpsc::channel::<()>();
    let (port, server) = fake_server(move |stream| {
        // Say nothing; hold the connection open until the test is done.
        let _ = wait.recv_timeout(Duration::from_secs(30));
        drop(stream);
    });
    let driver = driver_with(|c| c.read_timeout = Some(Duration::from_millis(300)));
    // No connect_timeout: the read timeout alone must bound the handshake.
    let conninfo = format!("host=127.0.0.1 port={port} user=postgres dbname=x password=p");
    let start = Instant::now();
    let err = expect_err(driver.connect(&conninfo), "connect to a silent server");
    let elapsed = start.elapsed();
    let _ = release.send(());
    server.join().unwrap();
    assert_kind(&err, ErrorKind::Timeout);
    assert!(
        elapsed < Duration::from_secs(8),
        "the timeout took {elapsed:?}"
    );
}

#[test]
fn connect_timeout_bounds_a_silent_handshake() {
    let (release, wait) = mpsc::channel::<()>();
    let (port, server) = fake_server(move |stream| {
        let _ = wait.recv_timeout(Duration::from_secs(30));
        drop(stream);
    });
    let conninfo = format!("host=127.0.0.1 port={port} user=u dbname=d connect_timeout=2");
    let start = Instant::now();
    let err = expect_err(
        driver().connect(&conninfo),
        "connect_timeout=2 against a silent server",
    );
    let elapsed = start.elapsed();
    let _ = release.send(());
    server.join().unwrap();
    assert_kind(&err, ErrorKind::Timeout);
    assert!(
        elapsed >= Duration::from_millis(1500),
        "gave up early, after {elapsed:?}"
    );
    assert!(
        elapsed < Duration::from_secs(10),
        "connect_timeout=2 took {elapsed:?}"
    );
}
