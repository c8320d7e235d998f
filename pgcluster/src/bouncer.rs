//! [`Bouncer`]: a PgBouncer in front of a [`Cluster`], in transaction pooling mode with a small
//! server pool and PgBouncer's defaults for everything else (in particular an empty
//! `ignore_startup_parameters`, so a startup parameter PgBouncer does not track is refused, as
//! in a stock installation). Stopped when dropped.

use std::fs;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::error::{io, ClusterError};
use crate::process::{self, Account};
use crate::setup::{DBNAME, SUPERUSER, TRUST_USER};
use crate::Cluster;

/// The environment variable naming the `pgbouncer` binary (default: `pgbouncer` on `PATH`, then
/// `/usr/sbin/pgbouncer`).
pub const PGBOUNCER_ENV: &str = "WASMPG_PGBOUNCER";

/// A running PgBouncer process; dropping it stops it.
#[derive(Debug)]
pub struct Bouncer {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl Bouncer {
    /// Starts PgBouncer for `cluster` on a free port of 127.0.0.1: `pool_mode = transaction`,
    /// `default_pool_size = pool_size`, `auth_type = trust` for the cluster's superuser and
    /// trust user; every database is forwarded to the cluster over TCP. When this process is
    /// root it runs as the cluster's OS account (PgBouncer refuses root too).
    pub fn start(cluster: &Cluster, pool_size: u32) -> Result<Bouncer, ClusterError> {
        let program = find_pgbouncer()?;
        let account = process::owner_account(cluster.data_dir());
        let port = process::free_port()?;
        // One directory per bouncer: several may serve one cluster (each has its pidfile).
        let dir = cluster.dir().join(format!("pgbouncer-{port}"));
        fs::create_dir_all(&dir).map_err(io(format!("creating {}", dir.display())))?;
        let config = dir.join("pgbouncer.ini");
        let log = dir.join("pgbouncer.log");
        fs::write(
            dir.join("userlist.txt"),
            format!("\"{SUPERUSER}\" \"\"\n\"{}\" \"\"\n", TRUST_USER.name),
        )
        .map_err(io("writing the PgBouncer user list"))?;
        fs::write(
            &config,
            format!(
                "[databases]\n\
                 * = host={host} port={pg_port}\n\
                 [pgbouncer]\n\
                 listen_addr = 127.0.0.1\n\
                 listen_port = {port}\n\
                 unix_socket_dir =\n\
                 auth_type = trust\n\
                 auth_file = {users}\n\
                 pool_mode = transaction\n\
                 default_pool_size = {pool_size}\n\
                 logfile = {log}\n\
                 pidfile = {pid}\n",
                host = cluster.host(),
                pg_port = cluster.port(),
                users = dir.join("userlist.txt").display(),
                log = log.display(),
                pid = dir.join("pgbouncer.pid").display(),
            ),
        )
        .map_err(io("writing pgbouncer.ini"))?;
        if let Some(account) = &account {
            chown_tree(&dir, account)?;
        }
        let mut cmd = process::server_command(&program, account.as_ref(), &dir);
        cmd.arg(&config).stdout(Stdio::null()).stderr(Stdio::null());
        let child = cmd
            .spawn()
            .map_err(io(format!("starting {}", program.display())))?;
        let mut bouncer = Bouncer { child, port, dir };
        bouncer.wait_ready(Duration::from_secs(15))?;
        Ok(bouncer)
    }

    fn wait_ready(&mut self, within: Duration) -> Result<(), ClusterError> {
        let start = Instant::now();
        loop {
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return Ok(());
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(ClusterError::Command {
                    what: "pgbouncer".into(),
                    status: status.to_string(),
                    output: process::tail(&self.dir.join("pgbouncer.log"), 20),
                });
            }
            if start.elapsed() > within {
                return Err(ClusterError::Command {
                    what: "pgbouncer".into(),
                    status: format!("not accepting connections after {within:?}"),
                    output: process::tail(&self.dir.join("pgbouncer.log"), 20),
                });
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The port PgBouncer listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A key/value conninfo through PgBouncer for `user`, database `wasmpg_test`.
    pub fn conninfo(&self, user: &str) -> String {
        format!(
            "host=127.0.0.1 port={} user={user} dbname={DBNAME}",
            self.port
        )
    }

    /// PgBouncer's log.
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.join("pgbouncer.log")).unwrap_or_default()
    }
}

impl Drop for Bouncer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn find_pgbouncer() -> Result<PathBuf, ClusterError> {
    if let Some(path) = std::env::var_os(PGBOUNCER_ENV) {
        return Ok(PathBuf::from(path));
    }
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("pgbouncer"))
            .find(|p| p.is_file())
    });
    on_path
        .or_else(|| Some(PathBuf::from("/usr/sbin/pgbouncer")).filter(|p| p.is_file()))
        .ok_or(ClusterError::NoPgBouncer)
}

fn chown_tree(dir: &Path, account: &Account) -> Result<(), ClusterError> {
    std::os::unix::fs::chown(dir, Some(account.uid), Some(account.gid))
        .map_err(io(format!("chown {}", dir.display())))?;
    for entry in fs::read_dir(dir).map_err(io(format!("reading {}", dir.display())))? {
        let path = entry.map_err(io("reading a directory entry"))?.path();
        std::os::unix::fs::chown(&path, Some(account.uid), Some(account.gid))
            .map_err(io(format!("chown {}", path.display())))?;
    }
    Ok(())
}
