//! [`Cluster`]: start a throwaway cluster (initdb into a fresh directory, pg_ctl start on a free
//! port, roles and database created), use it, and stop and remove it; [`Stopper`]: what stopping
//! one needs, also for a cluster started by another process.

use std::fs::{self, OpenOptions};
use std::io::Write as _;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::error::{io, ClusterError};
use crate::process::{self, Account};
use crate::setup::{self, conf_escape, conninfo_quote, DBNAME, SUPERUSER};

/// Name of the file that marks a directory as made by this crate; [`Stopper::for_path`] refuses
/// to remove a directory without it.
pub const MARKER_FILE: &str = ".wasmpg-pgcluster";
/// How many ports to try when another process takes the free port before the server binds it.
const PORT_ATTEMPTS: u32 = 3;

/// What to set up besides the defaults (see the `setup` module).
#[derive(Debug, Clone)]
pub struct ClusterOptions {
    /// postgresql.conf settings after the defaults (a later line wins), e.g.
    /// `("max_connections", "4")`. Values are written as given: quote strings yourself.
    pub settings: Vec<(String, String)>,
    /// pg_hba.conf lines placed before the defaults.
    pub hba: Vec<String>,
    /// The directory is `<temp dir>/<dir_prefix><pid>-<nanos>`. Default `wasmpg-`.
    pub dir_prefix: String,
    /// The bin directory; `None`: [`find_bindir`](crate::find_bindir).
    pub bindir: Option<PathBuf>,
    /// How long any one external command (initdb, pg_ctl, psql) may run.
    pub command_timeout: Duration,
    /// Turn TLS on with a private CA and a certificate for `localhost` made for this cluster
    /// (the `tls` module); clients find the CA at [`Cluster::ca_file`].
    pub tls: bool,
}

impl Default for ClusterOptions {
    fn default() -> Self {
        ClusterOptions {
            settings: Vec::new(),
            hba: Vec::new(),
            dir_prefix: "wasmpg-".to_owned(),
            bindir: None,
            command_timeout: Duration::from_secs(120),
            tls: false,
        }
    }
}

/// How to shut the server down (`pg_ctl stop -m ...`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopMode {
    /// Disconnect clients, checkpoint, exit.
    Fast,
    /// Exit at once (no checkpoint): the quickest, for a directory about to be removed.
    Immediate,
}

impl StopMode {
    fn as_arg(self) -> &'static str {
        match self {
            StopMode::Fast => "fast",
            StopMode::Immediate => "immediate",
        }
    }
}

/// What stopping a cluster and removing its directory needs. Cheap to clone, and its
/// [`stop`](Stopper::stop) starts no threads, so it can run inside an exit handler.
#[derive(Debug, Clone)]
pub struct Stopper {
    dir: PathBuf,
    data_dir: PathBuf,
    bindir: PathBuf,
    account: Option<Account>,
}

impl Stopper {
    /// The stopper of a cluster this crate made, found from its data directory, its directory
    /// (the data directory's parent), or the JSON file `pgcluster start --json` printed.
    /// `bindir`: where `pg_ctl` is; `None`: the JSON's `bindir`, else
    /// [`find_bindir`](crate::find_bindir).
    pub fn for_path(path: &Path, bindir: Option<PathBuf>) -> Result<Stopper, ClusterError> {
        let not_ours = |why: &str| ClusterError::NotACluster {
            path: path.to_owned(),
            why: why.to_owned(),
        };
        let mut bindir = bindir;
        let data_dir = if path.is_file() {
            let text =
                fs::read_to_string(path).map_err(io(format!("reading {}", path.display())))?;
            let json = crate::json::parse(&text).map_err(|detail| ClusterError::Parse {
                what: path.display().to_string(),
                detail,
            })?;
            if bindir.is_none() {
                bindir = json
                    .get("bindir")
                    .and_then(|v| v.as_str())
                    .map(PathBuf::from);
            }
            let data = json
                .get("data_dir")
                .and_then(|v| v.as_str())
                .ok_or_else(|| not_ours("the JSON has no \"data_dir\" string"))?;
            PathBuf::from(data)
        } else if path.join("PG_VERSION").is_file() {
            path.to_owned()
        } else if path.join("data").join("PG_VERSION").is_file() {
            path.join("data")
        } else {
            return Err(not_ours("neither it nor its data/ holds a PG_VERSION file"));
        };
        let dir = data_dir
            .parent()
            .ok_or_else(|| not_ours("the data directory has no parent"))?
            .to_owned();
        if !dir.join(MARKER_FILE).is_file() {
            return Err(not_ours(&format!(
                "{} has no {MARKER_FILE}; refusing to stop or remove it",
                dir.display()
            )));
        }
        let bindir = match bindir {
            Some(b) => b,
            None => process::find_bindir()?,
        };
        Ok(Stopper {
            account: process::owner_account(&data_dir),
            dir,
            data_dir,
            bindir,
        })
    }

    /// The cluster's directory (socket, logs, `data/`).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Stops the server if it runs (`pg_ctl stop -m <mode> -w -t 60`), then removes the
    /// directory. The directory is removed even when pg_ctl fails; its error is returned.
    pub fn stop(&self, mode: StopMode) -> Result<(), ClusterError> {
        let result = if self.data_dir.join("postmaster.pid").exists() {
            self.stop_server(mode)
        } else {
            Ok(())
        };
        let removed = fs::remove_dir_all(&self.dir)
            .or_else(|e| match e.kind() {
                std::io::ErrorKind::NotFound => Ok(()),
                _ => Err(e),
            })
            .map_err(io(format!("removing {}", self.dir.display())));
        result.and(removed)
    }

    /// `pg_ctl stop`, without helper threads (`Command::output`); pg_ctl's `-t` bounds it.
    fn stop_server(&self, mode: StopMode) -> Result<(), ClusterError> {
        let cwd = if self.dir.is_dir() {
            self.dir.as_path()
        } else {
            Path::new("/")
        };
        let mut cmd =
            process::server_command(&self.bindir.join("pg_ctl"), self.account.as_ref(), cwd);
        cmd.arg("-D")
            .arg(&self.data_dir)
            .args(["-m", mode.as_arg(), "-w", "-t", "60", "stop"]);
        let out = cmd.output().map_err(io("cannot run pg_ctl stop"))?;
        if out.status.success() {
            return Ok(());
        }
        Err(ClusterError::Command {
            what: "pg_ctl stop".to_owned(),
            status: out.status.to_string(),
            output: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        })
    }
}

/// A running throwaway cluster. Dropping it stops the server (fast) and removes the directory,
/// unless [`keep`](Cluster::keep) was called.
#[derive(Debug)]
pub struct Cluster {
    stopper: Stopper,
    host: String,
    port: u16,
    log_file: PathBuf,
    version_num: u32,
    timeout: Duration,
    keep: bool,
    stopped: bool,
    /// The CA certificate clients verify the server with (`ClusterOptions::tls`).
    ca_file: Option<PathBuf>,
    /// The client certificate and keys (`ClusterOptions::tls`).
    client_files: Option<crate::tls::ClientFiles>,
}

impl Cluster {
    /// Starts a cluster: initdb into `<temp>/<prefix><pid>-<nanos>/data`, pg_hba.conf and
    /// postgresql.conf as in the `setup` module plus `options`, `pg_ctl start` on a free port
    /// (listening on 127.0.0.1 and on a Unix socket in the directory), then the roles and the
    /// database `wasmpg_test`. When this process is root the server runs as the `postgres` OS
    /// user. On failure nothing is left behind, and the error carries the relevant log's tail.
    pub fn start(options: ClusterOptions) -> Result<Cluster, ClusterError> {
        let bindir = match options.bindir.clone() {
            Some(dir) if process::has_server_binaries(&dir) => dir,
            Some(dir) => return Err(ClusterError::BadBindir(dir)),
            None => process::find_bindir()?,
        };
        let account = process::server_account()?;
        let dir = make_dir(&options.dir_prefix, account.as_ref())?;
        let mut cluster = Cluster {
            stopper: Stopper {
                data_dir: dir.join("data"),
                dir: dir.clone(),
                bindir,
                account,
            },
            host: "127.0.0.1".to_owned(),
            port: 0,
            log_file: dir.join("server.log"),
            version_num: 0,
            timeout: options.command_timeout,
            keep: false,
            stopped: false,
            ca_file: None,
            client_files: None,
        };
        // On failure, dropping `cluster` stops whatever runs and removes the directory.
        cluster.init_and_start(&options)?;
        Ok(cluster)
    }

    /// Starts a streaming-replication hot standby of this cluster in a directory of its own
    /// (`pg_basebackup -R` over the primary's Unix socket, then `pg_ctl start` on a free port).
    /// Its roles and databases are the primary's; promote it with [`Cluster::promote`].
    pub fn start_standby(&self) -> Result<Cluster, ClusterError> {
        let account = self.stopper.account.clone();
        let dir = make_dir("wasmpg-standby-", account.as_ref())?;
        let mut standby = Cluster {
            stopper: Stopper {
                data_dir: dir.join("data"),
                dir: dir.clone(),
                bindir: self.stopper.bindir.clone(),
                account,
            },
            host: self.host.clone(),
            port: 0,
            log_file: dir.join("server.log"),
            version_num: self.version_num,
            timeout: self.timeout,
            keep: false,
            stopped: false,
            ca_file: self.ca_file.clone(),
            client_files: self.client_files.clone(),
        };
        // On failure, dropping `standby` stops whatever runs and removes the directory.
        fs::write(
            standby.dir().join(MARKER_FILE),
            "made by wasmpg-pgcluster\n",
        )
        .map_err(io("writing the marker file"))?;
        let mut cmd = standby.server_command("pg_basebackup");
        cmd.arg("-D")
            .arg(&standby.stopper.data_dir)
            .arg("-h")
            .arg(self.socket_dir())
            .args(["-p", &self.port.to_string(), "-U", setup::SUPERUSER])
            .args(["-R", "-X", "stream", "-c", "fast"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let out = process::run(&mut cmd, None, self.timeout, "pg_basebackup")?;
        if !out.status.success() {
            return Err(ClusterError::Command {
                what: "pg_basebackup".to_owned(),
                status: out.status.to_string(),
                output: String::from_utf8_lossy(&out.stderr).into_owned(),
            });
        }
        let conf_path = standby.stopper.data_dir.join("postgresql.conf");
        let base_conf = fs::read_to_string(&conf_path).map_err(io("reading postgresql.conf"))?;
        standby.port = process::free_port()?;
        // Later lines win over the primary's port and socket directory copied with the backup.
        let conf = format!(
            "{base_conf}\n# Standby, added by wasmpg-pgcluster.\nport = {}\nunix_socket_directories = '{}'\n",
            standby.port,
            conf_escape(standby.dir())
        );
        write_file(&conf_path, &conf)?;
        standby.pg_ctl_start()?;
        Ok(standby)
    }

    /// Promotes a standby to a primary (`pg_ctl promote -w`: returns once it accepts writes).
    pub fn promote(&self) -> Result<(), ClusterError> {
        let mut cmd = self.server_command("pg_ctl");
        cmd.arg("-D")
            .arg(&self.stopper.data_dir)
            .args(["-w", "-t", "60", "promote"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let out = process::run(&mut cmd, None, self.timeout, "pg_ctl promote")?;
        if out.status.success() {
            return Ok(());
        }
        Err(self.pg_ctl_failed(
            "promote",
            &out.status,
            &String::from_utf8_lossy(&out.stderr),
        ))
    }

    fn init_and_start(&mut self, options: &ClusterOptions) -> Result<(), ClusterError> {
        fs::write(self.dir().join(MARKER_FILE), "made by wasmpg-pgcluster\n")
            .map_err(io("writing the marker file"))?;
        let data_dir = self.stopper.data_dir.clone();
        let mut cmd = self.server_command("initdb");
        cmd.arg("-D")
            .arg(&data_dir)
            .args(setup::INITDB_ARGS)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let out = process::run(&mut cmd, None, self.timeout, "initdb")?;
        if !out.status.success() {
            return Err(ClusterError::Command {
                what: "initdb".to_owned(),
                status: out.status.to_string(),
                output: format!(
                    "{}{}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                ),
            });
        }

        let mut hba = String::from("# Written by wasmpg-pgcluster.\n");
        let tls_hba = if options.tls { crate::tls::HBA } else { &[] };
        for line in options
            .hba
            .iter()
            .map(String::as_str)
            .chain(tls_hba.iter().copied())
        {
            hba.push_str(line);
            hba.push('\n');
        }
        hba.push_str(setup::PG_HBA);
        // Writing an existing file keeps its owner (the server's account).
        write_file(&data_dir.join("pg_hba.conf"), &hba)?;
        let conf_path = data_dir.join("postgresql.conf");
        let base_conf = fs::read_to_string(&conf_path).map_err(io("reading postgresql.conf"))?;
        let mut tls_settings = Vec::new();
        if options.tls {
            let material = crate::tls::write(&data_dir, self.dir(), self.stopper.account.as_ref())?;
            self.ca_file = Some(material.ca_file);
            self.client_files = Some(material.client);
            tls_settings = material.settings;
        }

        let mut attempt = 0;
        loop {
            attempt += 1;
            self.port = process::free_port()?;
            let mut conf = format!(
                "{base_conf}\n# Added by wasmpg-pgcluster.\nport = {}\nunix_socket_directories = '{}'\n",
                self.port,
                conf_escape(self.dir())
            );
            for (key, value) in setup::SERVER_CONF {
                conf.push_str(&format!("{key} = {value}\n"));
            }
            for (key, value) in tls_settings.iter().chain(&options.settings) {
                conf.push_str(&format!("{key} = {value}\n"));
            }
            write_file(&conf_path, &conf)?;
            match self.pg_ctl_start() {
                Ok(()) => break,
                Err(e) if attempt < PORT_ATTEMPTS && self.log().contains("could not bind") => {
                    eprintln!(
                        "wasmpg-pgcluster: port {} was taken, retrying: {e}",
                        self.port
                    );
                    let _ = self.stopper.stop_server(StopMode::Immediate);
                }
                Err(e) => return Err(e),
            }
        }

        self.run_psql("postgres", &["-f", "-"], Some(setup::SETUP_SQL))?;
        self.run_psql(DBNAME, &["-f", "-"], Some(setup::SETUP_DB_SQL))?;
        let version = self.psql("SHOW server_version_num")?;
        self.version_num = version.parse().map_err(|e| ClusterError::Parse {
            what: "server_version_num".to_owned(),
            detail: format!("{version:?}: {e}"),
        })?;
        Ok(())
    }

    /// `pg_ctl start -w`, its own output appended to `pg_ctl.log` (never to pipes: the server it
    /// leaves running would inherit them, and they would never close).
    fn pg_ctl_start(&self) -> Result<(), ClusterError> {
        let log = self.dir().join("pg_ctl.log");
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .map_err(io(format!("opening {}", log.display())))?;
        let err = file.try_clone().map_err(io("duplicating a file handle"))?;
        let mut cmd = self.server_command("pg_ctl");
        cmd.arg("-D")
            .arg(&self.stopper.data_dir)
            .arg("-l")
            .arg(&self.log_file)
            .args(["-w", "-t", "60", "start"])
            .stdout(file)
            .stderr(err);
        let out = process::run(&mut cmd, None, self.timeout, "pg_ctl start")?;
        if out.status.success() {
            return Ok(());
        }
        Err(self.pg_ctl_failed("start", &out.status, &process::tail(&log, 20)))
    }

    /// A failed `pg_ctl <what>`: its own output, then the server log's tail.
    fn pg_ctl_failed(
        &self,
        what: &str,
        status: &std::process::ExitStatus,
        output: &str,
    ) -> ClusterError {
        ClusterError::Command {
            what: format!("pg_ctl {what}"),
            status: status.to_string(),
            output: format!("{output}\n--- server log tail:\n{}", self.log_tail(40)),
        }
    }

    fn server_command(&self, program: &str) -> std::process::Command {
        process::server_command(
            &self.stopper.bindir.join(program),
            self.stopper.account.as_ref(),
            &self.stopper.dir,
        )
    }

    /// `"127.0.0.1"`: the only TCP address the server listens on.
    pub fn host(&self) -> &str {
        &self.host
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The cluster's directory: it holds the Unix socket `.s.PGSQL.<port>`, the logs and `data/`.
    pub fn socket_dir(&self) -> &Path {
        &self.stopper.dir
    }

    /// The same as [`socket_dir`](Cluster::socket_dir).
    pub fn dir(&self) -> &Path {
        &self.stopper.dir
    }

    /// The full path of the server's Unix socket file.
    pub fn socket_path(&self) -> PathBuf {
        self.dir().join(format!(".s.PGSQL.{}", self.port))
    }

    pub fn data_dir(&self) -> &Path {
        &self.stopper.data_dir
    }

    /// PostgreSQL's bin directory (initdb, pg_ctl, psql).
    pub fn bindir(&self) -> &Path {
        &self.stopper.bindir
    }

    /// The server log.
    /// The CA certificate that issued the server's (only with `ClusterOptions::tls`).
    pub fn ca_file(&self) -> Option<&Path> {
        self.ca_file.as_deref()
    }

    /// The client certificate for [`CERT_USER`](crate::CERT_USER) and its keys (only with
    /// `ClusterOptions::tls`).
    pub fn client_files(&self) -> Option<&crate::tls::ClientFiles> {
        self.client_files.as_ref()
    }

    pub fn log_file(&self) -> &Path {
        &self.log_file
    }

    /// `server_version_num`, e.g. 150014.
    pub fn version_num(&self) -> u32 {
        self.version_num
    }

    /// A key=value conninfo for `user` over TCP to 127.0.0.1, database `wasmpg_test`.
    pub fn conninfo(&self, user: &str, password: Option<&str>) -> String {
        self.conninfo_db(DBNAME, user, password)
    }

    /// A key=value conninfo for `user` over TCP to 127.0.0.1, database `dbname`.
    pub fn conninfo_db(&self, dbname: &str, user: &str, password: Option<&str>) -> String {
        let mut s = format!(
            "host={} port={} user={} dbname={}",
            conninfo_quote(&self.host),
            self.port,
            conninfo_quote(user),
            conninfo_quote(dbname)
        );
        if let Some(password) = password {
            s.push_str(" password=");
            s.push_str(&conninfo_quote(password));
        }
        s
    }

    /// `user` over the Unix socket (every local connection is trusted), database `wasmpg_test`.
    pub fn unix_conninfo(&self, user: &str) -> String {
        self.unix_conninfo_db(DBNAME, user)
    }

    /// `user` over the Unix socket, database `dbname`.
    pub fn unix_conninfo_db(&self, dbname: &str, user: &str) -> String {
        format!(
            "host={} port={} user={} dbname={}",
            conninfo_quote(&self.dir().to_string_lossy()),
            self.port,
            conninfo_quote(user),
            conninfo_quote(dbname)
        )
    }

    /// Runs `sql` with the real `psql` as the superuser over the Unix socket, in `wasmpg_test`;
    /// see [`run_psql`](Cluster::run_psql) for the output.
    pub fn psql(&self, sql: &str) -> Result<String, ClusterError> {
        self.run_psql(DBNAME, &["-c", sql], None)
    }

    /// [`psql`](Cluster::psql) in database `db`.
    pub fn psql_in(&self, db: &str, sql: &str) -> Result<String, ClusterError> {
        self.run_psql(db, &["-c", sql], None)
    }

    /// Runs psql (`-X -q -w -A -t -v ON_ERROR_STOP=1`) as the superuser over the Unix socket in
    /// `db` with `args` and `stdin`, and returns its output: unaligned, tuples only, fields
    /// separated by `|`, one line per row, without the final newline. Fails with psql's stderr.
    pub fn run_psql(
        &self,
        db: &str,
        args: &[&str],
        stdin: Option<&str>,
    ) -> Result<String, ClusterError> {
        let psql = self.bindir().join("psql");
        let psql = if psql.is_file() {
            psql
        } else {
            PathBuf::from("psql")
        };
        let mut cmd = std::process::Command::new(psql);
        cmd.args(["-X", "-q", "-w", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h"])
            .arg(self.dir())
            .args(["-p", &self.port.to_string(), "-U", SUPERUSER, "-d", db])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        process::clear_pg_env(&mut cmd);
        cmd.env("PGAPPNAME", "wasmpg-pgcluster-psql")
            .env("PGCLIENTENCODING", "UTF8")
            .env("PGCONNECT_TIMEOUT", "10");
        let what = format!("psql {}", describe_args(args, stdin));
        let out = process::run(&mut cmd, stdin.map(str::as_bytes), self.timeout, &what)?;
        if !out.status.success() {
            return Err(ClusterError::Command {
                what,
                status: out.status.to_string(),
                output: String::from_utf8_lossy(&out.stderr).into_owned(),
            });
        }
        let mut stdout = String::from_utf8(out.stdout).map_err(|e| ClusterError::Parse {
            what: format!("the output of {what}"),
            detail: e.to_string(),
        })?;
        if stdout.ends_with('\n') {
            stdout.pop();
        }
        Ok(stdout)
    }

    /// The whole server log.
    pub fn log(&self) -> String {
        fs::read_to_string(&self.log_file).unwrap_or_default()
    }

    /// The last `lines` lines of the server log.
    pub fn log_tail(&self, lines: usize) -> String {
        process::tail(&self.log_file, lines)
    }

    /// What stopping this cluster needs, for a caller that stops it later (an exit handler).
    pub fn stopper(&self) -> Stopper {
        self.stopper.clone()
    }

    /// Leaves the server running and the directory in place when this value is dropped (the
    /// caller stops it later: `pgcluster stop`, or a [`Stopper`]).
    pub fn keep(&mut self) {
        self.keep = true;
    }

    /// Stops the server (fast shutdown) and removes the directory; dropping does the same.
    pub fn stop(&mut self) -> Result<(), ClusterError> {
        if self.stopped {
            return Ok(());
        }
        self.stopped = true;
        self.stopper.stop(StopMode::Fast)
    }

    /// The cluster as one JSON object: where it is, who may log in, a ready conninfo, and what
    /// `pgcluster stop` needs. `stop_command` is the program to name in `"stop_command"`.
    pub fn to_json(&self, stop_command: &Path) -> String {
        use crate::json::string as s;
        let roles: Vec<String> = std::iter::once((SUPERUSER, None, "trust", true))
            .chain(
                setup::AUTH_ROLES
                    .iter()
                    .map(|r| (r.name, r.password, r.method, false)),
            )
            .map(|(name, password, method, superuser)| {
                format!(
                    "{{\"name\": {}, \"password\": {}, \"method\": {}, \"superuser\": {superuser}}}",
                    s(name),
                    password.map_or("null".to_owned(), s),
                    s(method)
                )
            })
            .collect();
        let path = |p: &Path| s(&p.to_string_lossy());
        let stop = [path(stop_command), s("stop"), path(self.data_dir())];
        let client = self.client_files.as_ref();
        format!(
            "{{\"host\": {}, \"port\": {}, \"socket_dir\": {}, \"socket_path\": {}, \
             \"dir\": {}, \"data_dir\": {}, \"bindir\": {}, \"log_file\": {}, \
             \"version_num\": {}, \"dbname\": {}, \"superuser\": {}, \"roles\": [{}], \
             \"conninfo\": {}, \"unix_conninfo\": {}, \"ca_file\": {}, \"client_cert\": {}, \
             \"client_key\": {}, \"client_key_encrypted\": {}, \"client_key_password\": {}, \
             \"cert_user\": {}, \"stop_command\": [{}]}}",
            s(&self.host),
            self.port,
            path(self.dir()),
            path(&self.socket_path()),
            path(self.dir()),
            path(self.data_dir()),
            path(self.bindir()),
            path(&self.log_file),
            self.version_num,
            s(DBNAME),
            s(SUPERUSER),
            roles.join(", "),
            s(&self.conninfo(SUPERUSER, None)),
            s(&self.unix_conninfo(SUPERUSER)),
            self.ca_file.as_deref().map_or("null".to_owned(), path),
            client.map_or("null".to_owned(), |c| path(&c.cert)),
            client.map_or("null".to_owned(), |c| path(&c.key)),
            client.map_or("null".to_owned(), |c| path(&c.key_encrypted)),
            s(crate::tls::CLIENT_KEY_PASSWORD),
            s(crate::tls::CERT_USER),
            stop.join(", ")
        )
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if !self.keep {
            let _ = self.stop();
        }
    }
}

/// Stops and removes the clusters named `<prefix><pid>-...` (in the directory [`Cluster::start`]
/// uses) whose process is gone: left by processes killed before they could clean up. Leaves
/// alone directories younger than 30 s (an orphaned initdb may still be writing) and those
/// without the marker file.
pub fn remove_stale_clusters(prefix: &str) {
    let Ok(entries) = fs::read_dir(base_dir(prefix)) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix(prefix)) else {
            continue;
        };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<i32>().ok()) else {
            continue;
        };
        let recent = entry
            .metadata()
            .and_then(|m| m.modified())
            .is_ok_and(|t| t.elapsed().unwrap_or_default() < Duration::from_secs(30));
        if pid <= 0 || recent || process::process_alive(pid) {
            continue;
        }
        if let Ok(stopper) = Stopper::for_path(&entry.path(), None) {
            let _ = stopper.stop(StopMode::Immediate);
        }
    }
}

/// `temp_dir()`, unless the Unix socket path would get too long there (sun_path is 108 bytes).
fn base_dir(prefix: &str) -> PathBuf {
    let base = std::env::temp_dir();
    let longest =
        format!("{prefix}4294967295-340282366920938463463374607431768211455/.s.PGSQL.65535");
    if base.join(longest).as_os_str().len() < 100 {
        base
    } else {
        PathBuf::from("/tmp")
    }
}

fn make_dir(prefix: &str, account: Option<&Account>) -> Result<PathBuf, ClusterError> {
    let mut nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    // Two clusters started at once by one process can read the same time (it happened to the
    // failover tests): the next free name is taken instead.
    let dir = loop {
        let dir = base_dir(prefix).join(format!("{prefix}{}-{nanos}", std::process::id()));
        match fs::create_dir(&dir) {
            Ok(()) => break dir,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => nanos += 1,
            Err(e) => return Err(io(format!("creating {}", dir.display()))(e)),
        }
    };
    let chmod = fs::set_permissions(&dir, fs::Permissions::from_mode(0o700))
        .map_err(io(format!("chmod {}", dir.display())));
    let chown =
        match account {
            Some(a) => std::os::unix::fs::chown(&dir, Some(a.uid), Some(a.gid))
                .map_err(io(format!("chown {} to uid {}", dir.display(), a.uid))),
            None => Ok(()),
        };
    if let Err(e) = chmod.and(chown) {
        let _ = fs::remove_dir(&dir);
        return Err(e);
    }
    Ok(dir)
}

fn write_file(path: &Path, text: &str) -> Result<(), ClusterError> {
    let mut file = fs::File::create(path).map_err(io(format!("writing {}", path.display())))?;
    file.write_all(text.as_bytes())
        .map_err(io(format!("writing {}", path.display())))
}

fn describe_args(args: &[&str], stdin: Option<&str>) -> String {
    let mut text = args.join(" ");
    if let Some(input) = stdin {
        text.push_str(" <<< ");
        text.push_str(input.trim());
    }
    if text.len() > 300 {
        let mut cut = 300;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.push_str("...");
    }
    text
}
