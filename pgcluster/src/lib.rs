//! Throwaway local PostgreSQL clusters: the one implementation behind wasmpg's integration tests
//! (`tests/`), the Python tests (through the `pgcluster` binary), the CLI's demo (`cli/`) and
//! the benchmarks (`bench/`). Not published.
//!
//! ```no_run
//! use wasmpg_pgcluster::{Cluster, ClusterOptions};
//! let cluster = Cluster::start(ClusterOptions::default())?;
//! println!("{}", cluster.conninfo("postgres", None)); // host=127.0.0.1 port=... dbname=wasmpg_test
//! // Dropping it stops the server and removes the directory.
//! # Ok::<(), wasmpg_pgcluster::ClusterError>(())
//! ```
//!
//! PostgreSQL refuses to run as root: when this process is root, initdb, pg_ctl and the server
//! run as the `postgres` OS user, which must exist. The binaries come from `WASMPG_PG_BINDIR`,
//! else `pg_config --bindir`, else the newest `/usr/lib/postgresql/*/bin`.
//!
//! Modules:
//! - `cluster`: [`Cluster`] (start, conninfo, psql, stop on drop), [`ClusterOptions`],
//!   [`Stopper`] (stop a cluster later or from another process), [`remove_stale_clusters`].
//! - `setup`: the roles ([`Role`], [`AUTH_ROLES`]), pg_hba.conf, postgresql.conf settings and
//!   set-up SQL every cluster gets; [`conninfo_quote`].
//! - `process`: finding the binaries ([`find_bindir`]), the server's OS account, running
//!   commands with a time bound.
//! - `bouncer`: [`Bouncer`], a PgBouncer (transaction pooling) in front of a cluster.
//! - `error`: [`ClusterError`].
//! - [`json`]: the JSON that `pgcluster start --json` prints and `pgcluster stop` reads.
//!
//! The `pgcluster` binary (`src/main.rs`): `pgcluster start --json` starts a detached cluster
//! and prints it as JSON; `pgcluster stop <data-dir|dir|json-file>` stops and removes it.

mod bouncer;
mod cluster;
mod error;
pub mod json;
mod process;
mod setup;
mod tls;

pub use bouncer::{Bouncer, PGBOUNCER_ENV};
pub use cluster::{remove_stale_clusters, Cluster, ClusterOptions, StopMode, Stopper, MARKER_FILE};
pub use error::ClusterError;
pub use process::find_bindir;
pub use setup::{
    conninfo_quote, Role, AUTH_ROLES, DBNAME, MD5_USER, PW_USER, SCRAM_USER, SUPERUSER, TRUST_USER,
};
pub use tls::{ClientFiles, CERT_USER, CLIENT_KEY_PASSWORD};

/// The environment variable that overrides the PostgreSQL bin directory.
pub const BINDIR_ENV: &str = "WASMPG_PG_BINDIR";
