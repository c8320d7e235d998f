//! Faults of a real server and of the network between: a fast-shutdown restart in the middle of
//! a transaction, `max_connections` exhausted, a connection cut while a large result streams, a
//! COMMIT whose reply never arrives; and the server-side statement timeout. Every case ends in a
//! clear error, never a hang or a false success, and a new connection works afterwards.
//!
//! Restarts and connection limits need a server of their own (the harness cluster is shared by
//! every test of this process): those tests start a throwaway `wasmpg_pgcluster::Cluster`.

use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use wasmpg::{Client, Config, Driver, ErrorKind};
use wasmpg_pgcluster::{Cluster, ClusterOptions};
use wasmpg_tests::*;

fn driver_with(configure: impl FnOnce(&mut Config)) -> Driver {
    let mut config = Config::default();
    configure(&mut config);
    Driver::with_config(config).expect("Driver::with_config")
}

/// A throwaway cluster with `settings` in postgresql.conf.
fn own_cluster(settings: &[(&str, &str)]) -> Cluster {
    let options = ClusterOptions {
        settings: settings
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        ..ClusterOptions::default()
    };
    Cluster::start(options).unwrap_or_else(|e| panic!("starting a throwaway cluster: {e}"))
}

/// TCP conninfo for a throwaway cluster (its superuser is trusted over loopback).
fn tcp_conninfo(cluster: &Cluster) -> String {
    format!(
        "host=127.0.0.1 port={} user=postgres dbname=postgres connect_timeout=10",
        cluster.port()
    )
}

/// `pg_ctl restart -m fast`, as the owner of the data directory (the server refuses root).
fn restart_fast(cluster: &Cluster) {
    let data = cluster.data_dir();
    let meta = std::fs::metadata(data).expect("data directory");
    let mut cmd = Command::new(cluster.bindir().join("pg_ctl"));
    cmd.arg("-D")
        .arg(data)
        .arg("-l")
        .arg(cluster.socket_dir().join("server.log"))
        .args(["-m", "fast", "-w", "-t", "60", "restart"])
        .current_dir(cluster.socket_dir());
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        cmd.uid(meta.uid()).gid(meta.gid());
    }
    let out = output_with_timeout(
        cmd.stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped()),
        None,
        Duration::from_secs(90),
    )
    .expect("pg_ctl restart");
    assert!(
        out.status.success(),
        "pg_ctl restart failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        cluster.log_tail(30)
    );
}

#[track_caller]
fn assert_works(client: &mut Client) {
    let v: i32 = client
        .query_one("SELECT $1::int + 1", &[&41i32])
        .unwrap_or_else(|e| panic!("a fresh connection failed: {e}"))
        .get(0);
    assert_eq!(v, 42);
}

/// The message says the outcome of the interrupted request is unknown.
#[track_caller]
fn assert_outcome_unknown(err: &wasmpg::Error) {
    let message = err.to_string();
    assert!(
        message.contains("outcome is unknown"),
        "the error does not say the outcome is unknown: {message} / {err:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Restart, connection limit
// ---------------------------------------------------------------------------------------------

#[test]
fn fast_shutdown_restart_mid_transaction_is_a_clear_error_and_reconnecting_works() {
    let cluster = own_cluster(&[]);
    let conninfo = tcp_conninfo(&cluster);
    cluster
        .psql_in("postgres", "CREATE TABLE restart_t (v int)")
        .expect("create table");
    let driver = driver_with(|c| c.read_timeout = Some(Duration::from_secs(30)));
    let mut client = driver.connect(&conninfo).expect("connect");
    client.batch_execute("BEGIN").unwrap();
    client
        .execute("INSERT INTO restart_t VALUES (1)", &[])
        .unwrap();
    assert!(client.in_transaction());

    restart_fast(&cluster);

    // The backend was told to terminate while the client was idle in the transaction: the next
    // request fails (the server's FATAL 57P01 is read, or the write or read fails), clearly.
    let start = Instant::now();
    let err = expect_err(client.batch_execute("COMMIT"), "COMMIT after a restart");
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "took {:?}",
        start.elapsed()
    );
    match err.kind() {
        ErrorKind::Db => {
            assert_db_code(&err, "57P01");
        }
        ErrorKind::Closed | ErrorKind::Io => {}
        other => panic!("unexpected kind {other:?}: {err}"),
    }
    assert!(client.is_closed(), "the client must know it is closed");
    let again = expect_err(client.query("SELECT 1", &[]), "query on the dead client");
    assert_kind(&again, ErrorKind::Closed);

    // The transaction did not commit, and a new connection works.
    let mut fresh = driver
        .connect(&conninfo)
        .expect("connect after the restart");
    assert_works(&mut fresh);
    let count: i64 = fresh
        .query_one("SELECT count(*) FROM restart_t", &[])
        .unwrap()
        .get(0);
    assert_eq!(count, 0, "an interrupted transaction must not be committed");
}

#[test]
fn max_connections_exhausted_is_53300_and_a_freed_slot_works() {
    let cluster = own_cluster(&[
        ("max_connections", "4"),
        ("superuser_reserved_connections", "0"),
    ]);
    let conninfo = tcp_conninfo(&cluster);
    let driver = Driver::new().unwrap();
    let mut held: Vec<Client> = (0..4)
        .map(|i| {
            driver
                .connect(&conninfo)
                .unwrap_or_else(|e| panic!("connection {i} of 4: {e}"))
        })
        .collect();
    let start = Instant::now();
    let err = expect_err(driver.connect(&conninfo), "a fifth connection");
    assert!(start.elapsed() < Duration::from_secs(5));
    let db = assert_db_code(&err, "53300");
    assert_eq!(db.severity(), "FATAL");
    assert!(
        db.message().contains("too many clients"),
        "{}",
        db.message()
    );
    // The held connections are unaffected.
    for c in &mut held {
        assert_works(c);
    }
    held.pop().unwrap().close().unwrap();
    let mut fresh = wait_until("a freed slot", Duration::from_secs(10), || {
        driver.connect(&conninfo).ok()
    });
    assert_works(&mut fresh);
}

// ---------------------------------------------------------------------------------------------
// A large result cut off
// ---------------------------------------------------------------------------------------------

/// 99,999 rows are produced (and all but the server's last buffer sent), then the server sleeps
/// at row 100,000: a result reliably caught in the middle.
const STALLING_RESULT: &str = "SELECT g, repeat('x', 40) FROM generate_series(1, 200000) g \
     WHERE CASE WHEN g = 100000 THEN (SELECT true FROM pg_sleep(60)) ELSE true END";

#[test]
fn backend_terminated_while_a_large_result_streams_is_a_clear_error() {
    let cluster = cluster();
    let mut victim = client();
    let pid = victim.backend_pid();
    let fetching = thread::spawn(move || {
        let start = Instant::now();
        let result = victim.query(STALLING_RESULT, &[]).map(|rows| rows.len());
        (victim, result, start.elapsed())
    });
    wait_until(
        "the result to be half sent (the backend sleeping)",
        Duration::from_secs(30),
        || {
            let state = cluster.psql(&format!(
                "SELECT wait_event FROM pg_stat_activity WHERE pid = {pid}"
            ));
            (state == "PgSleep").then_some(())
        },
    );
    cluster.psql(&format!("SELECT pg_terminate_backend({pid})"));
    let (victim, result, elapsed) = fetching.join().expect("the fetching thread");
    let err = match result {
        Ok(rows) => panic!("a terminated result returned {rows} rows"),
        Err(e) => e,
    };
    assert!(elapsed < Duration::from_secs(30), "took {elapsed:?}");
    assert!(
        err.code() == Some("57P01") || err.kind() == ErrorKind::Closed,
        "expected 57P01 or Closed, got {err} / {err:?}"
    );
    assert!(victim.is_closed());
    assert_works(&mut client());
}

#[test]
fn connection_reset_while_a_large_result_streams_is_a_clear_error() {
    let cluster = cluster();
    for how in [Cut::Reset, Cut::Fin] {
        // Cut after ~1 MB of the result.
        let proxy = Proxy::start(
            cluster.port,
            ProxyConfig {
                cut_after_server_bytes: Some((1 << 20, how)),
                ..ProxyConfig::default()
            },
        );
        let conninfo = format!(
            "host=127.0.0.1 port={} user=postgres dbname={DBNAME} connect_timeout=10",
            proxy.port
        );
        let mut c = connect(&conninfo);
        let start = Instant::now();
        let err = expect_err(
            c.query(
                "SELECT g, repeat('x', 40) FROM generate_series(1, 1000000) g",
                &[],
            ),
            "a result cut after 1 MB",
        );
        assert!(start.elapsed() < Duration::from_secs(20));
        assert_eq!(proxy.cuts(), 1, "{how:?}: the proxy did not cut");
        let expected = match how {
            Cut::Reset => ErrorKind::Io,
            Cut::Fin => ErrorKind::Closed,
        };
        assert_kind(&err, expected);
        assert_outcome_unknown(&err);
        assert!(c.is_closed());
    }
    assert_works(&mut client());
}

// ---------------------------------------------------------------------------------------------
// A COMMIT whose reply never arrives
// ---------------------------------------------------------------------------------------------

/// Through a proxy that cuts the client off right after forwarding its COMMIT: the client must
/// report the outcome as unknown (never success), and the server did in fact commit, which is
/// why "unknown" is the only honest answer.
fn commit_reply_lost(how: Cut, extended: bool) {
    let cluster = cluster();
    let table = unique_name("lost_commit");
    cluster.psql(&format!("CREATE TABLE {table} (v int)"));
    let proxy = Proxy::start(
        cluster.port,
        ProxyConfig {
            cut_after_commit: Some(how),
            ..ProxyConfig::default()
        },
    );
    let conninfo = format!(
        "host=127.0.0.1 port={} user=postgres dbname={DBNAME} connect_timeout=10",
        proxy.port
    );
    let driver = driver_with(|c| c.read_timeout = Some(Duration::from_secs(20)));
    let mut c = connect_with(&driver, &conninfo);
    let start = Instant::now();
    let result = if extended {
        c.batch_execute("BEGIN").unwrap();
        c.execute(&format!("INSERT INTO {table} VALUES (7)"), &[])
            .unwrap();
        // The extended protocol: Parse/Bind/Execute COMMIT, then Sync; the cut is after Sync.
        c.execute("COMMIT", &[]).map(drop)
    } else {
        let mut tx = c.transaction().unwrap();
        tx.execute(&format!("INSERT INTO {table} VALUES (7)"), &[])
            .unwrap();
        tx.commit()
    };
    let err = match result {
        Ok(()) => panic!("{how:?}: a COMMIT whose reply never arrived was reported as a success"),
        Err(e) => e,
    };
    assert!(start.elapsed() < Duration::from_secs(15));
    assert_eq!(proxy.cuts(), 1, "the proxy did not see the COMMIT");
    let expected = match how {
        Cut::Reset => ErrorKind::Io,
        Cut::Fin => ErrorKind::Closed,
    };
    assert_kind(&err, expected);
    assert_outcome_unknown(&err);
    assert!(c.is_closed());

    // The server received the COMMIT and carried it out.
    wait_until("the commit to be visible", Duration::from_secs(10), || {
        (cluster.psql(&format!("SELECT count(*) FROM {table}")) == "1").then_some(())
    });
    // A new connection works (directly and through the proxy).
    assert_works(&mut client());
    drop(proxy);
}

#[test]
fn commit_reply_lost_to_a_reset_is_outcome_unknown() {
    commit_reply_lost(Cut::Reset, false);
}

#[test]
fn commit_reply_lost_to_an_orderly_close_is_outcome_unknown() {
    commit_reply_lost(Cut::Fin, false);
}

#[test]
fn extended_protocol_commit_reply_lost_is_outcome_unknown() {
    commit_reply_lost(Cut::Reset, true);
    commit_reply_lost(Cut::Fin, true);
}

#[test]
fn read_timeout_mid_request_says_the_outcome_is_unknown() {
    // A reply later than the read timeout: the statement may still run (or commit) on the
    // server, so the timeout must not read as "not done".
    let cluster = cluster();
    let driver = driver_with(|c| c.read_timeout = Some(Duration::from_millis(300)));
    let mut c = connect_with(&driver, &cluster.superuser_conninfo());
    let err = expect_err(
        c.batch_execute("SELECT pg_sleep(3)"),
        "a statement slower than the read timeout",
    );
    assert_kind(&err, ErrorKind::Timeout);
    assert_outcome_unknown(&err);
    assert!(
        c.is_closed(),
        "a timed-out session cannot be resynchronised"
    );
    assert_works(&mut client());
}

// ---------------------------------------------------------------------------------------------
// connect_timeout per host
// ---------------------------------------------------------------------------------------------

/// A port where a TCP connect hangs: a listener with a backlog of 0 whose one queued
/// connection is never accepted, so further SYNs are dropped. Returns the port and what must
/// stay open (the listener's descriptor and the queued connection).
fn blackhole() -> (u16, std::os::fd::OwnedFd, std::net::TcpStream) {
    use std::os::fd::FromRawFd;
    // SAFETY: plain socket calls on a descriptor this function owns; every pointer is to a
    // correctly sized local.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0);
        assert!(fd >= 0, "socket");
        let owned = std::os::fd::OwnedFd::from_raw_fd(fd);
        let mut addr: libc::sockaddr_in = std::mem::zeroed();
        addr.sin_family = libc::AF_INET as libc::sa_family_t;
        addr.sin_addr.s_addr = u32::from(std::net::Ipv4Addr::LOCALHOST).to_be();
        let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
        assert_eq!(
            libc::bind(fd, (&addr as *const libc::sockaddr_in).cast(), len),
            0
        );
        assert_eq!(libc::listen(fd, 0), 0);
        let mut bound: libc::sockaddr_in = std::mem::zeroed();
        let mut bound_len = len;
        assert_eq!(
            libc::getsockname(
                fd,
                (&mut bound as *mut libc::sockaddr_in).cast(),
                &mut bound_len
            ),
            0
        );
        let port = u16::from_be(bound.sin_port);
        let queued = std::net::TcpStream::connect(("127.0.0.1", port)).expect("the queued one");
        (port, owned, queued)
    }
}

#[test]
fn connect_timeout_applies_to_each_host() {
    let cluster = cluster();
    let (dead, _listener, _queued) = blackhole();
    // Is the TCP connect really hanging here? (Some network stacks refuse instead.)
    let probe = std::net::TcpStream::connect_timeout(
        &std::net::SocketAddr::from(([127, 0, 0, 1], dead)),
        Duration::from_millis(300),
    );
    if probe.is_ok() {
        eprintln!("skipped: a backlog-0 listener does not make connects hang on this system");
        return;
    }
    drop(probe);
    // The first host eats its whole connect_timeout; the second still gets a full one of its
    // own (libpq's semantics), and the connection succeeds.
    let conninfo = format!(
        "host=127.0.0.1,127.0.0.1 port={dead},{} user=postgres dbname={DBNAME} connect_timeout=2",
        cluster.port
    );
    let start = Instant::now();
    let mut c = connect(&conninfo);
    let elapsed = start.elapsed();
    assert!(
        elapsed >= Duration::from_millis(1900) && elapsed < Duration::from_secs(6),
        "took {elapsed:?}"
    );
    assert_works(&mut c);
    // One host only: the timeout is the error.
    let start = Instant::now();
    let err = expect_err(
        driver().connect(&format!(
            "host=127.0.0.1 port={dead} user=postgres dbname=x connect_timeout=2"
        )),
        "a host whose TCP connect hangs",
    );
    assert_kind(&err, ErrorKind::Timeout);
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "took {:?}",
        start.elapsed()
    );
}

// ---------------------------------------------------------------------------------------------
// Statement timeout
// ---------------------------------------------------------------------------------------------

#[test]
fn statement_timeout_cancels_a_slow_statement_with_57014() {
    let cluster = cluster();
    let driver = driver_with(|c| c.statement_timeout = Some(Duration::from_millis(200)));
    let mut c = connect_with(&driver, &cluster.superuser_conninfo());
    let shown: String = c
        .query_one("SELECT current_setting('statement_timeout')", &[])
        .unwrap()
        .get(0);
    assert_eq!(shown, "200ms");
    let start = Instant::now();
    let err = expect_err(c.query("SELECT pg_sleep(5)", &[]), "pg_sleep(5), 200 ms");
    let elapsed = start.elapsed();
    assert_db_code(&err, "57014");
    assert!(
        elapsed >= Duration::from_millis(150) && elapsed < Duration::from_secs(3),
        "cancelled after {elapsed:?}"
    );
    // A server-side cancel leaves the session usable.
    assert!(!c.is_closed());
    assert_works(&mut c);
    // It is the session default: RESET returns to it, SET overrides it.
    c.batch_execute("SET statement_timeout = 0; RESET statement_timeout")
        .unwrap();
    let err = expect_err(c.query("SELECT pg_sleep(5)", &[]), "after RESET");
    assert_db_code(&err, "57014");
    c.batch_execute("SET statement_timeout = '10s'").unwrap();
    c.query("SELECT pg_sleep(0.3)", &[]).unwrap();
}

#[test]
fn statement_timeout_composes_with_conninfo_options_and_wins() {
    let cluster = cluster();
    let driver = driver_with(|c| c.statement_timeout = Some(Duration::from_millis(1500)));
    let conninfo = format!(
        "{} options='-c search_path=pg_catalog -c statement_timeout=99999'",
        cluster.superuser_conninfo()
    );
    let mut c = connect_with(&driver, &conninfo);
    let row = c
        .query_one(
            "SELECT current_setting('search_path'), current_setting('statement_timeout')",
            &[],
        )
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "pg_catalog", "options still apply");
    assert_eq!(row.get::<_, String>(1), "1500ms", "the Config wins");
    // The same through a URI conninfo, and without a timeout: nothing is sent.
    let uri = format!(
        "postgresql://postgres@127.0.0.1:{}/{DBNAME}?options=-c%20statement_timeout%3D7000",
        cluster.port
    );
    let mut c = connect_with(&driver, &uri);
    let v: String = c
        .query_one("SELECT current_setting('statement_timeout')", &[])
        .unwrap()
        .get(0);
    assert_eq!(v, "1500ms");
    let mut c = connect(&uri);
    let v: String = c
        .query_one("SELECT current_setting('statement_timeout')", &[])
        .unwrap()
        .get(0);
    assert_eq!(v, "7s", "no Config timeout: the conninfo's applies");
}

#[test]
fn statement_timeout_rounds_up_to_whole_milliseconds() {
    let cluster = cluster();
    // (Sub-millisecond values round up to 1 ms, never to 0 = "no timeout": a unit test of the
    // host checks that, since a 1 ms timeout cancels the query that would show it.)
    for (timeout, shown) in [
        (Duration::from_micros(2_500_100), "2501ms"),
        (Duration::ZERO, "0"),
        (Duration::from_secs(90), "90s"),
    ] {
        let driver = driver_with(|c| c.statement_timeout = Some(timeout));
        let mut c = connect_with(&driver, &cluster.superuser_conninfo());
        let v: String = c
            .query_one("SELECT current_setting('statement_timeout')", &[])
            .unwrap()
            .get(0);
        assert_eq!(v, shown, "{timeout:?}");
    }
}
