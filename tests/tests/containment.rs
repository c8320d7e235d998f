//! What the sandbox keeps in, beyond sandbox.rs (traps, message limit) and policy.rs (plain
//! allow/deny):
//!
//! * the host opens nothing outside the allow-list however the target is spelled: a name where
//!   an address is allowed and the reverse (even when the name resolves to exactly that
//!   address), a `hostaddr` behind an allowed name, a socket path where TCP is allowed, a path
//!   that names the allowed socket through `..`;
//! * the guest component imports no capability the host would grant: no `wasi:sockets`, no
//!   `wasi:filesystem`, and the WASI context behind the imports it has hands out nothing;
//! * the memory limit holds: a 1 GiB message announced is refused without allocating it, a
//!   message that really streams past the limit traps the guest at the limit, and the host
//!   process's RSS is back where it was afterwards.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use wasmpg::{Config, Driver, ErrorKind, Policy};
use wasmpg_tests::*;

/// The RSS tests measure the whole process: they must not overlap with each other or with the
/// other tests of this file.
fn serial() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL.lock().unwrap_or_else(PoisonError::into_inner)
}

fn driver_with(configure: impl FnOnce(&mut Config)) -> Driver {
    let mut config = Config::default();
    configure(&mut config);
    Driver::with_config(config).expect("Driver::with_config")
}

fn policy(entries: &[String]) -> Driver {
    driver_with(|c| c.policy = Some(Policy::parse_allow(entries).unwrap()))
}

#[track_caller]
fn assert_denied_untouched(driver: &Driver, conninfo: &str, trap: Trap) {
    let err = expect_err(driver.connect(conninfo), conninfo);
    assert_kind(&err, ErrorKind::PolicyDenied);
    let hits = trap.hits();
    assert_eq!(hits, 0, "{conninfo}: {hits} connections reached the trap");
}

// ---------------------------------------------------------------------------------------------
// The allow-list, however the target is spelled
// ---------------------------------------------------------------------------------------------

#[test]
fn an_allowed_name_does_not_allow_its_address() {
    let _serial = serial();
    // localhost resolves to 127.0.0.1, where the trap listens: allowing the name does not allow
    // the address literal.
    let trap = Trap::tcp();
    let port = trap.port;
    let driver = policy(&[format!("localhost:{port}")]);
    assert_denied_untouched(
        &driver,
        &format!("host=127.0.0.1 port={port} user=u dbname=d connect_timeout=5"),
        trap,
    );
}

#[test]
fn an_allowed_address_does_not_allow_a_name_that_resolves_to_it() {
    let _serial = serial();
    let trap = Trap::tcp();
    let port = trap.port;
    let driver = policy(&[format!("127.0.0.1:{port}")]);
    assert_denied_untouched(
        &driver,
        &format!("host=localhost port={port} user=u dbname=d connect_timeout=5"),
        trap,
    );
}

#[test]
fn an_allowed_name_does_not_allow_a_hostaddr_behind_it() {
    let _serial = serial();
    // libpq connects to `hostaddr` and uses `host` only for authentication and the password
    // file: the policy is checked against what is connected to.
    let trap = Trap::tcp();
    let port = trap.port;
    let driver = policy(&[format!("localhost:{port}")]);
    assert_denied_untouched(
        &driver,
        &format!("host=localhost hostaddr=127.0.0.1 port={port} user=u dbname=d connect_timeout=5"),
        trap,
    );
    // The same through a URI.
    let trap = Trap::tcp();
    let port = trap.port;
    let driver = policy(&[format!("localhost:{port}")]);
    assert_denied_untouched(
        &driver,
        &format!("postgresql://u@localhost:{port}/d?hostaddr=127.0.0.1&connect_timeout=5"),
        trap,
    );
}

#[test]
fn an_allowed_tcp_target_does_not_allow_a_socket_path() {
    let _serial = serial();
    let dir = std::env::temp_dir().join(unique_name("wasmpg_contain"));
    std::fs::create_dir(&dir).unwrap();
    let trap = Trap::unix(&dir, 5432);
    let driver = policy(&["127.0.0.1:5432".to_owned(), "localhost:5432".to_owned()]);
    assert_denied_untouched(
        &driver,
        &format!(
            "host={} port=5432 user=u dbname=d connect_timeout=5",
            dir.display()
        ),
        trap,
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn an_allowed_socket_is_not_reachable_under_another_spelling() {
    let _serial = serial();
    let dir = std::env::temp_dir().join(unique_name("wasmpg_contain"));
    std::fs::create_dir(&dir).unwrap();
    let other = dir.join("other");
    std::fs::create_dir(&other).unwrap();
    // Allowed: <dir>/.s.PGSQL.5433. The trap is another socket, <dir>/other/.s.PGSQL.5433.
    let trap = Trap::unix(&other, 5433);
    let allowed = dir.join(".s.PGSQL.5433");
    let driver = policy(&[allowed.display().to_string()]);
    assert_denied_untouched(
        &driver,
        &format!(
            "host={} port=5433 user=u dbname=d connect_timeout=5",
            other.display()
        ),
        trap,
    );
    // A path that reaches the allowed socket's directory through `..` is not the allowed path:
    // compared as written, so it is denied (never widened).
    let trap = Trap::unix(&dir, 5433);
    let dotted = other.join("..");
    assert_denied_untouched(
        &driver,
        &format!(
            "host={} port=5433 user=u dbname=d connect_timeout=5",
            dotted.display()
        ),
        trap,
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

// ---------------------------------------------------------------------------------------------
// Capabilities
// ---------------------------------------------------------------------------------------------

/// Interfaces the guest may import: Rust's standard library for wasm32-wasip2 links these. The
/// list is closed: a new import fails the test until someone has looked at what it grants.
const ALLOWED_INTERFACES: &[&str] = &[
    "wasi:io/poll",
    "wasi:io/error",
    "wasi:io/streams",
    "wasi:cli/environment",
    "wasi:cli/exit",
    "wasi:cli/stdin",
    "wasi:cli/stdout",
    "wasi:cli/stderr",
    "wasi:cli/terminal-input",
    "wasi:cli/terminal-output",
    "wasi:cli/terminal-stdin",
    "wasi:cli/terminal-stdout",
    "wasi:cli/terminal-stderr",
    "wasi:random/random",
    "wasi:random/insecure",
    "wasi:random/insecure-seed",
    "wasi:clocks/monotonic-clock",
    "wasi:clocks/wall-clock",
];

#[test]
fn the_guest_imports_no_sockets_and_no_filesystem() {
    let _serial = serial();
    let imports = wasmpg::guest_imports().expect("guest_imports");
    assert!(!imports.is_empty());
    eprintln!("guest imports:\n  {}", imports.join("\n  "));
    let mut unexpected = Vec::new();
    for import in &imports {
        let interface = import.split('@').next().unwrap_or(import);
        for forbidden in ["wasi:sockets", "wasi:filesystem", "wasi:http"] {
            assert!(
                !interface.starts_with(forbidden),
                "the guest imports {import}: it could ask the host for {forbidden}"
            );
        }
        if !ALLOWED_INTERFACES.contains(&interface) {
            unexpected.push(import.clone());
        }
    }
    assert!(
        unexpected.is_empty(),
        "the guest imports interfaces nobody has reviewed: {unexpected:?}"
    );
    // The exports are the contract; the only import outside WASI would be a host function, and
    // there is none.
    assert!(
        imports.iter().all(|i| i.starts_with("wasi:")),
        "{imports:?}"
    );
}

#[test]
fn the_wasi_context_grants_nothing() {
    let _serial = serial();
    // Asked of the same host implementations the guest's imports are linked to, with the
    // context every instance gets. (A guest-side probe would need a second component; this
    // checks the host half, which is what decides: environment and arguments are empty, there
    // is no working directory and no preopened directory, so no path resolves to any file; a
    // socket cannot even be created. stdout/stderr go to a sink, stdin is closed.)
    let grants = wasmpg::wasi_grants().expect("wasi_grants");
    assert!(
        grants.environment.is_empty(),
        "environment: {:?}",
        grants.environment
    );
    assert!(grants.arguments.is_empty(), "{:?}", grants.arguments);
    assert_eq!(grants.initial_cwd, None);
    assert!(
        grants.preopens.is_empty(),
        "preopens: {:?}",
        grants.preopens
    );
    for created in grants.tcp_socket.iter().chain(&grants.udp_socket) {
        let err = created
            .as_ref()
            .expect_err("the WASI context created a socket");
        assert!(err.contains("access-denied"), "{err}");
    }
    // And the driver's own environment stays out: a PG* variable of this process reaches the
    // guest only as a conninfo default the host passes explicitly, never via WASI.
    assert!(std::env::vars().count() > 0);
}

// ---------------------------------------------------------------------------------------------
// Memory
// ---------------------------------------------------------------------------------------------

/// A fake server that completes a trust startup, reads the query, then sends `header` and, if
/// `stream` is set, zeros as fast as the client takes them (until it leaves, at most 60 s).
fn huge_message_server(header: Vec<u8>, stream: bool) -> (u16, thread::JoinHandle<u64>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let handle = thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let mut buf = [0u8; 4096];
        let _ = s.read(&mut buf); // the StartupMessage (small, one read)
        let mut startup = Vec::new();
        for (kind, body) in [
            (b'R', &0u32.to_be_bytes()[..]),
            (b'K', &[0, 0, 0, 1, 0, 0, 0, 2][..]),
            (b'Z', &b"I"[..]),
        ] {
            startup.push(kind);
            startup.extend_from_slice(&(body.len() as u32 + 4).to_be_bytes());
            startup.extend_from_slice(body);
        }
        s.write_all(&startup).unwrap();
        let _ = s.read(&mut buf); // the query
                                  // RowDescription (one text column), then the huge message.
        let mut t = vec![b'T'];
        let mut body = 1u16.to_be_bytes().to_vec();
        body.extend_from_slice(b"a\0");
        body.extend_from_slice(&[
            0, 0, 0, 0, 0, 0, 0, 0, 0, 25, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0,
        ]);
        t.extend_from_slice(&(body.len() as u32 + 4).to_be_bytes());
        t.extend_from_slice(&body);
        let _ = s.write_all(&t);
        let _ = s.write_all(&header);
        let mut sent = 0u64;
        if stream {
            let zeros = vec![0u8; 1 << 16];
            let start = Instant::now();
            while start.elapsed() < Duration::from_secs(60) && s.write_all(&zeros).is_ok() {
                sent += zeros.len() as u64;
            }
        } else {
            let _ = s.read(&mut buf); // until the client leaves
        }
        sent
    });
    (port, handle)
}

/// sslmode=disable: the fake server speaks no TLS and reads the StartupMessage first.
fn fake_conninfo(port: u16) -> String {
    format!("host=127.0.0.1 port={port} user=u dbname=d connect_timeout=5 sslmode=disable")
}

#[test]
fn a_1_gib_message_announced_is_refused_without_allocating_it() {
    let _serial = serial();
    let driver = driver_with(|c| c.read_timeout = Some(Duration::from_secs(10)));
    // Warm up (compile cache, first instance, thread stacks) so that the baseline is steady.
    for _ in 0..3 {
        let (port, server) = huge_message_server(vec![b'D', 0x40, 0, 0, 0], false);
        let mut c = driver.connect(&fake_conninfo(port)).unwrap();
        let _ = c.simple_query("SELECT big");
        drop(c);
        server.join().unwrap();
    }
    let before = rss_bytes();
    let (port, server) = huge_message_server(vec![b'D', 0x40, 0, 0, 0], false);
    let mut c = driver.connect(&fake_conninfo(port)).unwrap();
    let err = expect_err(c.simple_query("SELECT big"), "a 1 GiB DataRow");
    assert_kind(&err, ErrorKind::MessageTooLarge);
    let guest = c.guest_memory_bytes();
    drop(c);
    server.join().unwrap();
    let after = rss_bytes();
    eprintln!(
        "1 GiB announced: RSS {} KiB -> {} KiB; guest memory {} KiB",
        before / 1024,
        after / 1024,
        guest / 1024
    );
    assert!(guest < 8 << 20, "the guest grew to {guest} bytes");
    assert!(
        after < before + (16 << 20),
        "RSS grew from {before} to {after} bytes"
    );
}

#[test]
fn a_message_streaming_past_the_memory_limit_traps_at_the_limit() {
    let _serial = serial();
    // The message limit is out of the way (4 GiB): only the memory limit stands between the
    // server and the host's memory. The server announces 1 GiB and really sends it.
    const LIMIT: usize = 32 << 20;
    let driver = driver_with(|c| {
        c.memory_limit = LIMIT;
        c.max_message_size = u32::MAX;
        c.read_timeout = Some(Duration::from_secs(10));
    });
    let mut bystander = connect_with(&driver, &cluster().superuser_conninfo());
    let before = rss_bytes();
    let (port, server) = huge_message_server(vec![b'D', 0x40, 0, 0, 0], true);
    let mut c = driver.connect(&fake_conninfo(port)).unwrap();
    let start = Instant::now();
    let err = expect_err(c.simple_query("SELECT big"), "1 GiB streamed");
    let elapsed = start.elapsed();
    assert_kind(&err, ErrorKind::Trap);
    assert!(c.is_closed());
    drop(c);
    let sent = server.join().unwrap();
    let after = rss_bytes();
    eprintln!(
        "1 GiB streamed into a {} MiB sandbox: trapped after {} MiB sent, in {elapsed:?}; \
         RSS {} KiB -> {} KiB",
        LIMIT >> 20,
        sent >> 20,
        before / 1024,
        after / 1024
    );
    // The guest gave up near its limit, far short of the message.
    assert!(
        sent < 4 * LIMIT as u64,
        "{sent} bytes went in before the trap"
    );
    assert!(
        after < before + (16 << 20),
        "RSS grew from {before} to {after} bytes and stayed there"
    );
    // The driver is fine.
    let v: i32 = bystander.query_one("SELECT 5", &[]).unwrap().get(0);
    assert_eq!(v, 5);
}
