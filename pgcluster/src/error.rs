//! [`ClusterError`]: why a cluster could not be found, started, used or stopped.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// Why a cluster could not be found, started, used or stopped.
#[derive(Debug)]
pub enum ClusterError {
    /// No directory with `initdb` and `pg_ctl` was found.
    NoBinaries,
    /// `WASMPG_PG_BINDIR` (or [`ClusterOptions::bindir`](crate::ClusterOptions::bindir)) names
    /// a directory without `initdb` and `pg_ctl`.
    BadBindir(PathBuf),
    /// This process is root (PostgreSQL refuses to run as root) and there is no `postgres` OS
    /// user to run the server as.
    NoPostgresUser,
    /// A file-system or process operation failed.
    Io {
        what: String,
        source: std::io::Error,
    },
    /// An external command (initdb, pg_ctl, psql) exited unsuccessfully.
    Command {
        what: String,
        status: String,
        /// Its output (or the relevant log's tail).
        output: String,
    },
    /// An external command did not finish in time and was killed.
    Timeout { what: String, after: Duration },
    /// `pgcluster stop` was given something that is not a cluster this crate made.
    NotACluster { path: PathBuf, why: String },
    /// Unexpected text where a value was expected (a JSON file, `server_version_num`).
    Parse { what: String, detail: String },
    /// No `pgbouncer` binary (`WASMPG_PGBOUNCER`, `PATH`, `/usr/sbin/pgbouncer`).
    NoPgBouncer,
}

impl fmt::Display for ClusterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClusterError::NoBinaries => write!(
                f,
                "no PostgreSQL server binaries: `pg_config --bindir` has no initdb and \
                 /usr/lib/postgresql/*/bin has none either (install postgresql, or set {})",
                crate::BINDIR_ENV
            ),
            ClusterError::BadBindir(dir) => {
                write!(f, "{} has no initdb and pg_ctl", dir.display())
            }
            ClusterError::NoPostgresUser => write!(
                f,
                "running as root, and PostgreSQL refuses to: the server must run as the OS user \
                 `postgres`, which does not exist. Create it or run as another user."
            ),
            ClusterError::Io { what, source } => write!(f, "{what}: {source}"),
            ClusterError::Command {
                what,
                status,
                output,
            } => write!(f, "{what} failed ({status}):\n{output}"),
            ClusterError::Timeout { what, after } => {
                write!(f, "{what} did not finish within {after:?}; killed it")
            }
            ClusterError::NotACluster { path, why } => {
                write!(f, "{} is not a pgcluster cluster: {why}", path.display())
            }
            ClusterError::Parse { what, detail } => write!(f, "cannot parse {what}: {detail}"),
            ClusterError::NoPgBouncer => write!(
                f,
                "no pgbouncer binary: install it (Debian: apt-get install pgbouncer) or set {}",
                crate::bouncer::PGBOUNCER_ENV
            ),
        }
    }
}

impl std::error::Error for ClusterError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ClusterError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// A `map_err` adapter: an I/O error while doing `what`.
pub(crate) fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> ClusterError {
    let what = what.into();
    move |source| ClusterError::Io { what, source }
}
