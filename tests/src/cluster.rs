//! One throwaway PostgreSQL cluster per test process, over the `wasmpg-pgcluster` crate.
//!
//! [`cluster()`] starts it on first use (a `wasmpg_pgcluster::Cluster` in a fresh directory
//! `wasmpg-test-<pid>-<nanos>` under the temp directory), every later call returns the same one,
//! and an `atexit` handler stops it and removes the directory when the process exits. The roles,
//! pg_hba.conf and settings are the crate's (see pgcluster/src/setup.rs).

use std::path::PathBuf;
use std::sync::{Mutex, Once, OnceLock, PoisonError};

pub use wasmpg_pgcluster::{
    conninfo_quote, Role, AUTH_ROLES, DBNAME, MD5_USER, PW_USER, SCRAM_USER, SUPERUSER, TRUST_USER,
};
use wasmpg_pgcluster::{ClusterOptions, StopMode, Stopper};

/// Prefix of every throwaway directory; `<prefix><pid>-<nanos>`.
const DIR_PREFIX: &str = "wasmpg-test-";
/// Set to keep the directory (and a running server) after the process exits, for debugging.
const KEEP_ENV: &str = "WASMPG_TEST_KEEP";

/// A running PostgreSQL cluster owned by this test process.
#[derive(Debug)]
pub struct Cluster {
    /// TCP port; the server listens on 127.0.0.1 only.
    pub port: u16,
    /// `"127.0.0.1"`.
    pub host: String,
    /// Directory of the Unix socket `.s.PGSQL.<port>`; also the throwaway directory.
    pub socket_dir: PathBuf,
    /// PostgreSQL's bin directory (initdb, pg_ctl, psql).
    pub bindir: PathBuf,
    /// The data directory, inside the throwaway directory.
    pub data_dir: PathBuf,
    /// The server log.
    pub log_file: PathBuf,
    /// `server_version_num`, e.g. 150014.
    pub version_num: u32,
    inner: wasmpg_pgcluster::Cluster,
}

/// What the exit handler needs to tear the cluster down.
struct Teardown {
    owner_pid: u32,
    stopper: Stopper,
}

static CLUSTER: OnceLock<Result<Cluster, String>> = OnceLock::new();
static TEARDOWN: Mutex<Option<Teardown>> = Mutex::new(None);
static REGISTER_ATEXIT: Once = Once::new();

/// The cluster of this test process, started on first call. Safe to call from any number of
/// threads at once: all but the first wait for the start-up. If the start-up failed, every call
/// panics with the same message (server log tail included) instead of trying again.
pub fn cluster() -> &'static Cluster {
    match CLUSTER.get_or_init(start) {
        Ok(cluster) => cluster,
        Err(message) => panic!("the test PostgreSQL cluster could not be started:\n{message}"),
    }
}

impl Cluster {
    /// Starts a PgBouncer in front of this cluster: transaction pooling, `pool_size` server
    /// connections, PgBouncer's defaults otherwise (see `wasmpg_pgcluster::Bouncer`). Panics
    /// with the reason when it cannot start (Debian: `apt-get install pgbouncer`).
    pub fn bouncer(&self, pool_size: u32) -> wasmpg_pgcluster::Bouncer {
        wasmpg_pgcluster::Bouncer::start(&self.inner, pool_size)
            .unwrap_or_else(|e| panic!("PgBouncer could not be started: {e}"))
    }

    /// A key=value conninfo for `user` over TCP to 127.0.0.1, database `wasmpg_test`.
    pub fn conninfo(&self, user: &str, password: Option<&str>) -> String {
        self.inner.conninfo(user, password)
    }

    /// The conninfo of `role` (with its password).
    pub fn role_conninfo(&self, role: &Role) -> String {
        self.conninfo(role.name, role.password)
    }

    /// The superuser over TCP (trusted).
    pub fn superuser_conninfo(&self) -> String {
        self.conninfo(SUPERUSER, None)
    }

    /// `user` over the Unix socket (every local connection is trusted).
    pub fn unix_conninfo(&self, user: &str) -> String {
        self.inner.unix_conninfo(user)
    }

    /// The full path of the server's Unix socket file.
    pub fn socket_path(&self) -> PathBuf {
        self.inner.socket_path()
    }

    /// Runs `sql` with the real `psql` as the superuser over the Unix socket, in `wasmpg_test`,
    /// and returns its output: unaligned, tuples only, fields separated by `|`, one line per row,
    /// without the final newline. `sql` is sent as one query string (`psql -c`), so it may hold
    /// several statements (one implicit transaction) but no psql meta-commands. Panics with
    /// psql's stderr if psql fails (ON_ERROR_STOP=1).
    pub fn psql(&self, sql: &str) -> String {
        self.try_psql(sql).unwrap_or_else(|e| panic!("{e}"))
    }

    /// [`Cluster::psql`], returning the failure (with psql's stderr) instead of panicking.
    pub fn try_psql(&self, sql: &str) -> Result<String, String> {
        self.inner.psql(sql).map_err(|e| e.to_string())
    }

    /// The last 60 lines of the server log.
    pub fn log_tail(&self) -> String {
        self.inner.log_tail(60)
    }

    /// The whole server log.
    pub fn log(&self) -> String {
        self.inner.log()
    }
}

fn start() -> Result<Cluster, String> {
    REGISTER_ATEXIT.call_once(|| {
        // SAFETY: registers a plain `extern "C" fn()` that never unwinds.
        let rc = unsafe { libc::atexit(stop_at_exit) };
        assert_eq!(rc, 0, "atexit failed");
    });
    wasmpg_pgcluster::remove_stale_clusters(DIR_PREFIX);
    let options = ClusterOptions {
        dir_prefix: DIR_PREFIX.to_owned(),
        ..ClusterOptions::default()
    };
    // On failure the crate has already stopped the server and removed the directory; its error
    // carries the relevant output and log tail.
    let mut inner = wasmpg_pgcluster::Cluster::start(options).map_err(|e| e.to_string())?;
    // The exit handler stops it (a static is never dropped anyway).
    inner.keep();
    *lock_teardown() = Some(Teardown {
        owner_pid: std::process::id(),
        stopper: inner.stopper(),
    });
    Ok(Cluster {
        port: inner.port(),
        host: inner.host().to_owned(),
        socket_dir: inner.socket_dir().to_owned(),
        bindir: inner.bindir().to_owned(),
        data_dir: inner.data_dir().to_owned(),
        log_file: inner.log_file().to_owned(),
        version_num: inner.version_num(),
        inner,
    })
}

/// The exit handler: stops the server and removes the directory. Never panics.
extern "C" fn stop_at_exit() {
    // Unwinding out of an `extern "C"` function aborts; make sure nothing unwinds.
    let _ = std::panic::catch_unwind(teardown_now);
}

fn lock_teardown() -> std::sync::MutexGuard<'static, Option<Teardown>> {
    TEARDOWN.lock().unwrap_or_else(PoisonError::into_inner)
}

fn teardown_now() {
    let Some(t) = lock_teardown().take() else {
        return;
    };
    if t.owner_pid != std::process::id() {
        return; // a forked child exiting: the cluster is the parent's
    }
    if std::env::var_os(KEEP_ENV).is_some() {
        eprintln!(
            "wasmpg-tests: {KEEP_ENV} is set, keeping {}",
            t.stopper.dir().display()
        );
        return;
    }
    let _ = t.stopper.stop(StopMode::Immediate);
}
