//! The integration-test harness of wasmpg.
//!
//! * [`cluster()`]: one real PostgreSQL server per test process, started on first use, stopped
//!   and deleted at process exit (see `cluster.rs` and tests/README.md).
//! * [`Cluster::psql`]: the real `psql`, to set up and to check results independently of the
//!   driver under test.
//! * Driver helpers: [`driver()`], [`connect`], [`client`], and assertions on errors.
//! * [`Proxy`]: a TCP proxy that cuts connections at exact protocol points and records what
//!   the server sent.

mod cluster;
mod proxy;
mod util;

pub use cluster::*;
pub use proxy::*;
pub use util::*;
pub use wasmpg;

use std::sync::OnceLock;

use wasmpg::{Client, Driver, Error, ErrorKind};

/// One driver with the default configuration, shared by every test of the process (the driver
/// is cheap to clone and thread-safe; sharing it also tests that).
pub fn driver() -> &'static Driver {
    static DRIVER: OnceLock<Driver> = OnceLock::new();
    DRIVER.get_or_init(|| Driver::new().unwrap_or_else(|e| panic!("Driver::new() failed: {e}")))
}

/// A driver whose policy allows the test cluster over TCP and reading `file` (a password file
/// outside the user's own needs the policy's grant).
pub fn driver_reading(file: &std::path::Path) -> Driver {
    let c = cluster();
    let policy = wasmpg::Policy::parse_allow(&[format!("{}:{}", c.host, c.port)])
        .unwrap_or_else(|e| panic!("the cluster's endpoint: {e}"))
        .allow_file(file);
    Driver::with_config(wasmpg::Config {
        policy: Some(policy),
        ..wasmpg::Config::default()
    })
    .unwrap_or_else(|e| panic!("Driver::with_config failed: {e}"))
}

/// Connects with the shared driver; panics with the error and the server log's tail on failure.
pub fn connect(conninfo: &str) -> Client {
    connect_with(driver(), conninfo)
}

/// Connects with `driver`; panics with the error and the server log's tail on failure.
pub fn connect_with(driver: &Driver, conninfo: &str) -> Client {
    driver.connect(conninfo).unwrap_or_else(|e| {
        panic!(
            "connect({conninfo:?}) failed: {e} (kind {:?})\n--- server log tail:\n{}",
            e.kind(),
            cluster().log_tail()
        )
    })
}

/// A client connected as `role` over TCP.
pub fn connect_as(role: &Role) -> Client {
    connect(&cluster().role_conninfo(role))
}

/// A superuser client over TCP, in `wasmpg_test`.
pub fn client() -> Client {
    connect(&cluster().superuser_conninfo())
}

/// Runs `pg_sleep(30)` on `client` while another thread waits until the server shows it running
/// and then cancels it; returns the statement's error.
pub fn cancel_a_sleep(client: &mut wasmpg::Client) -> wasmpg::Error {
    let token = client
        .cancel_token()
        .expect("a connected client has a cancel token");
    let pid = client.backend_pid();
    let canceller = std::thread::spawn(move || {
        wait_until(
            "pg_sleep to run",
            std::time::Duration::from_secs(20),
            || {
                let state = cluster().psql(&format!(
                "SELECT state FROM pg_stat_activity WHERE pid = {pid} AND query LIKE '%pg_sleep%'"
            ));
                (state == "active").then_some(())
            },
        );
        token.cancel_query()
    });
    let started = std::time::Instant::now();
    let err = expect_err(
        client.execute("SELECT pg_sleep(30)", &[]),
        "a cancelled pg_sleep",
    );
    canceller
        .join()
        .expect("the cancelling thread")
        .expect("the cancel request is delivered");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(25),
        "it was not cancelled"
    );
    err
}

/// The error of `result`; panics naming `what` if it succeeded.
#[track_caller]
pub fn expect_err<T>(result: Result<T, Error>, what: &str) -> Error {
    match result {
        Ok(_) => panic!("{what}: succeeded, but an error was expected"),
        Err(e) => e,
    }
}

/// Asserts the error's kind, showing the whole error when it differs.
#[track_caller]
pub fn assert_kind(err: &Error, kind: ErrorKind) {
    assert_eq!(
        err.kind(),
        kind,
        "unexpected error kind; the error: {err} / {err:?}"
    );
}

/// Asserts that `err` is a server error with SQLSTATE `code`, and returns its fields.
#[track_caller]
pub fn assert_db_code<'e>(err: &'e Error, code: &str) -> &'e wasmpg::DbError {
    assert_eq!(
        err.code(),
        Some(code),
        "unexpected SQLSTATE; the error: {err} / {err:?}"
    );
    let db = err
        .as_db_error()
        .unwrap_or_else(|| panic!("no DbError in {err:?}"));
    assert_eq!(db.code(), code, "DbError::code differs from Error::code");
    let shown = err.to_string();
    assert!(
        shown.contains(code),
        "Display of a server error lacks its SQLSTATE: {shown}"
    );
    db
}

/// `s` as a SQL string literal (standard_conforming_strings: only `'` needs doubling).
pub fn sql_literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}
