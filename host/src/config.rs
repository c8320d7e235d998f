//! Driver configuration: the sandbox's limits, timeouts and caches, and which [`Policy`] applies.
//! The policy itself lives in [`policy`](crate::policy); it is re-exported here.

use std::path::PathBuf;
use std::time::Duration;

pub use crate::policy::{Endpoint, Policy};

/// Configuration of a [`Driver`](crate::Driver).
#[derive(Debug, Clone)]
pub struct Config {
    /// Which connections may be opened. `None`: exactly the targets of each conninfo.
    pub policy: Option<Policy>,
    /// Linear-memory limit of one guest instance, in bytes.
    pub memory_limit: usize,
    /// Largest server message the guest accepts, in bytes.
    pub max_message_size: u32,
    /// CPU time one call into the guest may take before it is interrupted (epoch deadline).
    pub cpu_limit_per_call: Duration,
    /// Bound on each socket read while waiting for the server. `None` waits forever.
    pub read_timeout: Option<Duration>,
    /// Connect timeout when the conninfo gives none.
    pub connect_timeout: Option<Duration>,
    /// The server's `statement_timeout` for every session: any statement running longer is
    /// cancelled by the server with SQLSTATE 57014 (`query_canceled`), and the session stays
    /// usable. Sent as a run-time parameter in the startup packet (as libpq's
    /// `options='-c statement_timeout=N'` would), in whole milliseconds, rounded up; so it is the
    /// session's default: `SET` changes it, `RESET`/`DISCARD ALL` return to it. It takes
    /// precedence over a `-c statement_timeout` in the conninfo's `options` and over role and
    /// database settings. `Some(Duration::ZERO)` sends 0 (no timeout); `None` sends nothing.
    pub statement_timeout: Option<Duration>,
    /// Capacity of the automatic prepared-statement cache (0 disables it).
    pub statement_cache: u32,
    /// Where compiled components are cached. `None`: `$WASMPG_CACHE_DIR`, else
    /// `$XDG_CACHE_HOME/wasmpg`, else `~/.cache/wasmpg`; caching is skipped if none works.
    pub cache_dir: Option<PathBuf>,
    /// Bytes read from the socket per `feed` call.
    pub read_chunk: usize,
    /// Let sessions read any file this process can (a `passfile`, `sslrootcert`, `sslcert`,
    /// `sslkey`, `sslcrl` the conninfo or a PG* variable names), as psql does, instead of only
    /// the policy's files. For conninfo strings as trusted as the user's own files: the CLI's
    /// command line. Default `false`.
    pub read_any_file: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            policy: None,
            memory_limit: 256 << 20,
            max_message_size: 64 << 20,
            cpu_limit_per_call: Duration::from_secs(5),
            read_timeout: None,
            connect_timeout: None,
            statement_timeout: None,
            statement_cache: 256,
            cache_dir: None,
            read_chunk: 256 << 10,
            read_any_file: false,
        }
    }
}
