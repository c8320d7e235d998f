//! A throwaway local PostgreSQL cluster: `initdb` into a temporary directory, `pg_ctl start` on
//! a free port, removed on drop. The CLI's demo, the integration tests and the benchmarks use it.
//!
//! PostgreSQL refuses to run as root; when this process is root the server runs as the
//! `postgres` OS user, which must exist.

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{SystemTime, UNIX_EPOCH};

/// Why a cluster could not be started or used.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("no PostgreSQL server binaries found (tried `pg_config --bindir` and /usr/lib/postgresql/*/bin)")]
    NoBinaries,
    #[error("running as root, but there is no `postgres` OS user to run the server as")]
    NoPostgresUser,
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{what} failed ({status}): {stderr}")]
    Command {
        what: String,
        status: String,
        stderr: String,
    },
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> ClusterError {
    let what = what.into();
    move |source| ClusterError::Io { what, source }
}

/// What to set up besides the defaults.
#[derive(Debug, Clone, Default)]
pub struct ClusterOptions {
    /// pg_hba.conf lines placed before the defaults (`local all all trust`,
    /// `host all all 127.0.0.1/32 trust`).
    pub hba: Vec<String>,
    /// Extra postgresql.conf settings.
    pub settings: Vec<(String, String)>,
}

/// A running throwaway cluster.
#[derive(Debug)]
pub struct Cluster {
    dir: PathBuf,
    bindir: PathBuf,
    port: u16,
    owner: Option<(u32, u32)>,
    running: bool,
}

impl Cluster {
    /// Starts a cluster that trusts local and loopback connections.
    pub fn start() -> Result<Cluster, ClusterError> {
        Cluster::start_with(&ClusterOptions::default())
    }

    pub fn start_with(options: &ClusterOptions) -> Result<Cluster, ClusterError> {
        let bindir = find_bindir().ok_or(ClusterError::NoBinaries)?;
        let owner = if is_root() {
            Some(postgres_user().ok_or(ClusterError::NoPostgresUser)?)
        } else {
            None
        };
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let dir = std::env::temp_dir().join(format!("wasmpg-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(io(format!("cannot create {}", dir.display())))?;
        let mut cluster = Cluster {
            dir,
            bindir,
            port: 0,
            owner,
            running: false,
        };
        // On any failure below, dropping `cluster` removes the directory.
        if let Some((uid, gid)) = owner {
            std::os::unix::fs::chown(&cluster.dir, Some(uid), Some(gid))
                .map_err(io("cannot hand the cluster directory to the postgres user"))?;
        }
        let data = cluster.data_dir();
        cluster.run(
            "initdb",
            Command::new(cluster.bindir.join("initdb"))
                .arg("-D")
                .arg(&data)
                .args([
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "-E",
                    "UTF8",
                    "--no-locale",
                    "--no-sync",
                ]),
        )?;
        let mut hba = options.hba.join("\n");
        hba.push_str("\nlocal all all trust\nhost all all 127.0.0.1/32 trust\n");
        cluster.write_owned(&data.join("pg_hba.conf"), &hba)?;
        // A free port: bind, read it, release. Another process could take it in between; the
        // start below then fails and is retried on a new port.
        let mut last = None;
        for _ in 0..3 {
            cluster.port = free_port()?;
            let mut conf = format!(
                "\nport = {}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{}'\n\
                 fsync = off\nsynchronous_commit = off\nfull_page_writes = off\nmax_connections = 120\n",
                cluster.port,
                cluster.dir.display()
            );
            for (k, v) in &options.settings {
                conf.push_str(&format!("{k} = {v}\n"));
            }
            let base = std::fs::read_to_string(data.join("postgresql.conf"))
                .map_err(io("cannot read postgresql.conf"))?;
            let base = base
                .split("\n# wasmpg\n")
                .next()
                .unwrap_or_default()
                .to_owned();
            cluster.write_owned(
                &data.join("postgresql.conf"),
                &format!("{base}\n# wasmpg\n{conf}"),
            )?;
            let log = cluster.dir.join("server.log");
            match cluster.run(
                "pg_ctl start",
                Command::new(cluster.bindir.join("pg_ctl"))
                    .arg("-D")
                    .arg(&data)
                    .arg("-l")
                    .arg(&log)
                    .args(["-w", "-t", "60", "start"]),
            ) {
                Ok(_) => {
                    cluster.running = true;
                    return Ok(cluster);
                }
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or(ClusterError::NoBinaries))
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The directory holding the Unix socket (and the data directory).
    pub fn socket_dir(&self) -> &Path {
        &self.dir
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    pub fn bindir(&self) -> &Path {
        &self.bindir
    }

    /// A conninfo for `user` over the Unix socket, database `postgres`.
    pub fn conninfo(&self, user: &str) -> String {
        format!(
            "host={} port={} user={user} dbname=postgres",
            self.dir.display(),
            self.port
        )
    }

    /// Runs SQL with the real `psql` as superuser over the socket; returns unaligned output.
    pub fn psql(&self, sql: &str) -> Result<String, ClusterError> {
        let psql = self.bindir.join("psql");
        let psql = if psql.exists() {
            psql
        } else {
            PathBuf::from("psql")
        };
        let out = self.run(
            "psql",
            Command::new(psql)
                .arg("-X")
                .args(["-A", "-t", "-q", "-v", "ON_ERROR_STOP=1", "-h"])
                .arg(&self.dir)
                .args([
                    "-p",
                    &self.port.to_string(),
                    "-U",
                    "postgres",
                    "-d",
                    "postgres",
                    "-c",
                    sql,
                ]),
        )?;
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }

    /// The tail of the server log.
    pub fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    /// Stops the server (fast shutdown) and removes the directory.
    pub fn stop(&mut self) -> Result<(), ClusterError> {
        let result = if self.running {
            self.running = false;
            self.run(
                "pg_ctl stop",
                Command::new(self.bindir.join("pg_ctl"))
                    .arg("-D")
                    .arg(self.data_dir())
                    .args(["-m", "fast", "-w", "stop"]),
            )
            .map(drop)
        } else {
            Ok(())
        };
        let _ = std::fs::remove_dir_all(&self.dir);
        result
    }

    fn run(&self, what: &str, cmd: &mut Command) -> Result<Output, ClusterError> {
        if let Some((uid, gid)) = self.owner {
            cmd.uid(uid).gid(gid).current_dir(&self.dir);
        }
        let out = cmd.output().map_err(io(format!("cannot run {what}")))?;
        if !out.status.success() {
            let mut stderr = String::from_utf8_lossy(&out.stderr).trim().to_owned();
            if what.starts_with("pg_ctl start") {
                stderr.push_str("\nserver log:\n");
                stderr.push_str(&self.log_tail());
            }
            return Err(ClusterError::Command {
                what: what.to_owned(),
                status: out.status.to_string(),
                stderr,
            });
        }
        Ok(out)
    }

    fn write_owned(&self, path: &Path, text: &str) -> Result<(), ClusterError> {
        std::fs::write(path, text).map_err(io(format!("cannot write {}", path.display())))?;
        if let Some((uid, gid)) = self.owner {
            std::os::unix::fs::chown(path, Some(uid), Some(gid))
                .map_err(io(format!("cannot chown {}", path.display())))?;
        }
        Ok(())
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

fn free_port() -> Result<u16, ClusterError> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(io("cannot find a free port"))?;
    let port = listener
        .local_addr()
        .map_err(io("cannot find a free port"))?
        .port();
    Ok(port)
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|l| l.split_whitespace().nth(1).map(|euid| euid == "0"))
        })
        .unwrap_or(false)
}

/// The `postgres` user's uid and gid from /etc/passwd.
fn postgres_user() -> Option<(u32, u32)> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        if fields.first() != Some(&"postgres") {
            return None;
        }
        Some((fields.get(2)?.parse().ok()?, fields.get(3)?.parse().ok()?))
    })
}

/// `pg_config --bindir` if it has `initdb`, else the newest `/usr/lib/postgresql/*/bin`.
pub fn find_bindir() -> Option<PathBuf> {
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output() {
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if out.status.success() && dir.join("initdb").exists() {
            return Some(dir);
        }
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let version = e.file_name().to_string_lossy().parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}
