//! One throwaway PostgreSQL cluster per test process.
//!
//! [`cluster()`] starts it on first use (initdb + pg_ctl into a fresh directory under
//! `std::env::temp_dir()`), every later call returns the same one, and an `atexit` handler stops
//! it and removes the directory when the process exits. This file depends on `std` and `libc`
//! only, so it can be built and checked without the driver.

use std::ffi::CString;
use std::fmt::Write as _;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};

use crate::util::output_with_timeout;
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Mutex, Once, OnceLock, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The database every test connects to.
pub const DBNAME: &str = "wasmpg_test";
/// The bootstrap superuser (`initdb -U postgres`). Trusted over the Unix socket and over TCP.
pub const SUPERUSER: &str = "postgres";

/// A login role created for the authentication tests, with the pg_hba.conf method that guards it
/// over TCP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Role {
    pub name: &'static str,
    /// The role's password; `None` for the trusted role.
    pub password: Option<&'static str>,
    /// The pg_hba.conf method for `host` connections from 127.0.0.1.
    pub method: &'static str,
}

/// `trust`: no password asked.
pub const TRUST_USER: Role = Role {
    name: "trust_user",
    password: None,
    method: "trust",
};
/// `password`: cleartext password (stored as a SCRAM verifier; `password` works with any storage).
pub const PW_USER: Role = Role {
    name: "pw_user",
    password: Some("pw_secret"),
    method: "password",
};
/// `md5`, with an MD5-stored password.
pub const MD5_USER: Role = Role {
    name: "md5_user",
    password: Some("md5_secret"),
    method: "md5",
};
/// `scram-sha-256`, with a SCRAM-stored password.
pub const SCRAM_USER: Role = Role {
    name: "scram_user",
    password: Some("scram_secret"),
    method: "scram-sha-256",
};
/// Every role above, for table-driven tests.
pub const AUTH_ROLES: [Role; 4] = [TRUST_USER, PW_USER, MD5_USER, SCRAM_USER];

/// Prefix of every throwaway directory; `<prefix><pid>-<nanos>`.
const DIR_PREFIX: &str = "wasmpg-test-";
/// How long any one external command (initdb, pg_ctl, psql) may run.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(120);
/// Set to keep the directory (and a running server) after the process exits, for debugging.
const KEEP_ENV: &str = "WASMPG_TEST_KEEP";
/// Overrides the PostgreSQL bin directory.
const BINDIR_ENV: &str = "WASMPG_PG_BINDIR";

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
    account: Option<Account>,
}

/// The OS account the server runs as when this process is root (PostgreSQL refuses root).
#[derive(Debug, Clone)]
struct Account {
    name: String,
    uid: u32,
    gid: u32,
}

/// What the exit handler needs to tear the cluster down.
struct Teardown {
    owner_pid: u32,
    dir: PathBuf,
    data_dir: PathBuf,
    bindir: PathBuf,
    account: Option<Account>,
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
    /// A key=value conninfo for `user` over TCP to 127.0.0.1, database `wasmpg_test`.
    pub fn conninfo(&self, user: &str, password: Option<&str>) -> String {
        let mut s = format!(
            "host={} port={} user={} dbname={}",
            conninfo_quote(&self.host),
            self.port,
            conninfo_quote(user),
            DBNAME
        );
        if let Some(password) = password {
            write!(s, " password={}", conninfo_quote(password)).unwrap();
        }
        s
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
        format!(
            "host={} port={} user={} dbname={}",
            conninfo_quote(&self.socket_dir.to_string_lossy()),
            self.port,
            conninfo_quote(user),
            DBNAME
        )
    }

    /// The full path of the server's Unix socket file.
    pub fn socket_path(&self) -> PathBuf {
        self.socket_dir.join(format!(".s.PGSQL.{}", self.port))
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
        self.run_psql(DBNAME, &["-c", sql], None)
    }

    /// The last 60 lines of the server log.
    pub fn log_tail(&self) -> String {
        tail(&self.log_file, 60)
    }

    /// The whole server log.
    pub fn log(&self) -> String {
        fs::read_to_string(&self.log_file).unwrap_or_default()
    }

    fn psql_binary(&self) -> PathBuf {
        let psql = self.bindir.join("psql");
        if psql.is_file() {
            psql
        } else {
            PathBuf::from("psql")
        }
    }

    fn run_psql(&self, db: &str, args: &[&str], stdin: Option<&str>) -> Result<String, String> {
        let mut cmd = Command::new(self.psql_binary());
        cmd.args(["-X", "-q", "-w", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h"])
            .arg(&self.socket_dir)
            .args(["-p", &self.port.to_string(), "-U", SUPERUSER, "-d", db])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        clear_pg_env(&mut cmd);
        cmd.env("PGAPPNAME", "wasmpg-tests-psql")
            .env("PGCLIENTENCODING", "UTF8")
            .env("PGCONNECT_TIMEOUT", "10");
        let what = format!("psql {}", describe_args(args, stdin));
        let out = run(&mut cmd, stdin, &what)?;
        if !out.status.success() {
            return Err(format!(
                "{what} failed ({}):\n{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let mut stdout = String::from_utf8(out.stdout)
            .map_err(|e| format!("{what} printed invalid UTF-8: {e}"))?;
        if stdout.ends_with('\n') {
            stdout.pop();
        }
        Ok(stdout)
    }
}

/// Quotes a conninfo value when it needs it (libpq rules: single quotes, `\` escapes).
pub fn conninfo_quote(value: &str) -> String {
    if !value.is_empty()
        && !value
            .chars()
            .any(|c| c.is_whitespace() || c == '\'' || c == '\\')
    {
        return value.to_owned();
    }
    let mut out = String::with_capacity(value.len() + 2);
    out.push('\'');
    for c in value.chars() {
        if c == '\'' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('\'');
    out
}

fn start() -> Result<Cluster, String> {
    REGISTER_ATEXIT.call_once(|| {
        // SAFETY: registers a plain `extern "C" fn()` that never unwinds.
        let rc = unsafe { libc::atexit(stop_at_exit) };
        assert_eq!(rc, 0, "atexit failed");
    });
    let bindir = find_bindir()?;
    let account = server_account()?;
    let base = base_dir();
    remove_stale_clusters(&base, &bindir);
    let dir = make_dir(&base, account.as_ref())?;
    let data_dir = dir.join("data");
    *lock_teardown() = Some(Teardown {
        owner_pid: std::process::id(),
        dir: dir.clone(),
        data_dir: data_dir.clone(),
        bindir: bindir.clone(),
        account: account.clone(),
    });
    let mut cluster = Cluster {
        port: 0,
        host: "127.0.0.1".to_owned(),
        socket_dir: dir.clone(),
        bindir,
        log_file: dir.join("server.log"),
        data_dir,
        version_num: 0,
        account,
    };
    match init_and_start(&mut cluster) {
        Ok(()) => Ok(cluster),
        Err(message) => {
            let message = format!(
                "{message}\n--- directory (now removed): {}\n--- server log tail ({}):\n{}",
                dir.display(),
                cluster.log_file.display(),
                cluster.log_tail()
            );
            teardown_now();
            Err(message)
        }
    }
}

fn init_and_start(cluster: &mut Cluster) -> Result<(), String> {
    let dir = cluster.socket_dir.clone();
    let initdb = cluster.bindir.join("initdb");
    let mut cmd = server_command(&initdb, cluster.account.as_ref(), &dir);
    cmd.arg("-D").arg(&cluster.data_dir).args([
        "-U",
        SUPERUSER,
        "--auth=trust",
        "-E",
        "UTF8",
        "--locale=C",
        "--no-sync",
    ]);
    run_logged(&mut cmd, &dir.join("initdb.log"), "initdb")?;

    fs::write(cluster.data_dir.join("pg_hba.conf"), PG_HBA)
        .map_err(|e| format!("writing pg_hba.conf: {e}"))?;
    let mut conf = OpenOptions::new()
        .append(true)
        .open(cluster.data_dir.join("postgresql.conf"))
        .map_err(|e| format!("opening postgresql.conf: {e}"))?;
    writeln!(
        conf,
        "{SERVER_CONF}unix_socket_directories = '{}'",
        conf_escape(&dir)
    )
    .map_err(|e| format!("writing postgresql.conf: {e}"))?;
    drop(conf);

    // A port from the kernel can be taken by someone else before the server binds it: retry.
    let pg_ctl = cluster.bindir.join("pg_ctl");
    let mut attempt = 0;
    loop {
        attempt += 1;
        cluster.port = free_port()?;
        let mut cmd = server_command(&pg_ctl, cluster.account.as_ref(), &dir);
        cmd.arg("-D")
            .arg(&cluster.data_dir)
            .arg("-l")
            .arg(&cluster.log_file)
            .args([
                "-w",
                "-t",
                "60",
                "-o",
                &format!("-p {}", cluster.port),
                "start",
            ]);
        match run_logged(&mut cmd, &dir.join("pg_ctl.log"), "pg_ctl start") {
            Ok(()) => break,
            Err(e) if attempt < 3 && cluster.log().contains("could not bind") => {
                eprintln!(
                    "wasmpg-tests: port {} was taken, retrying: {e}",
                    cluster.port
                );
                stop_server(&cluster.bindir, &cluster.data_dir, cluster.account.as_ref());
            }
            Err(e) => return Err(e),
        }
    }

    cluster.run_psql("postgres", &["-f", "-"], Some(SETUP_SQL))?;
    cluster.run_psql(DBNAME, &["-f", "-"], Some(SETUP_DB_SQL))?;
    let version = cluster.try_psql("SHOW server_version_num")?;
    cluster.version_num = version
        .parse()
        .map_err(|e| format!("server_version_num {version:?}: {e}"))?;
    Ok(())
}

const PG_HBA: &str = "\
# Written by wasmpg-tests.
local all all                     trust
host  all postgres   127.0.0.1/32 trust
host  all trust_user 127.0.0.1/32 trust
host  all pw_user    127.0.0.1/32 password
host  all md5_user   127.0.0.1/32 md5
host  all scram_user 127.0.0.1/32 scram-sha-256
host  all all        127.0.0.1/32 scram-sha-256
";

const SERVER_CONF: &str = "
# Added by wasmpg-tests.
listen_addresses = '127.0.0.1'
max_connections = 100
fsync = off
synchronous_commit = off
full_page_writes = off
shared_buffers = 16MB
log_connections = on
log_line_prefix = '%m [%p] %q%u@%d '
";

const SETUP_SQL: &str = "
CREATE ROLE trust_user LOGIN;
SET password_encryption = 'scram-sha-256';
CREATE ROLE pw_user LOGIN PASSWORD 'pw_secret';
CREATE ROLE scram_user LOGIN PASSWORD 'scram_secret';
SET password_encryption = 'md5';
CREATE ROLE md5_user LOGIN PASSWORD 'md5_secret';
CREATE DATABASE wasmpg_test OWNER postgres;
GRANT ALL ON DATABASE wasmpg_test TO PUBLIC, trust_user, pw_user, md5_user, scram_user;
";

const SETUP_DB_SQL: &str = "
GRANT ALL ON SCHEMA public TO PUBLIC;
";

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
            t.dir.display()
        );
        return;
    }
    if t.data_dir.join("postmaster.pid").exists() {
        stop_server(&t.bindir, &t.data_dir, t.account.as_ref());
    }
    let _ = fs::remove_dir_all(&t.dir);
}

fn stop_server(bindir: &Path, data_dir: &Path, account: Option<&Account>) {
    let cwd = data_dir.parent().unwrap_or(Path::new("/"));
    let mut cmd = server_command(&bindir.join("pg_ctl"), account, cwd);
    cmd.arg("-D")
        .arg(data_dir)
        .args(["-m", "immediate", "-w", "-t", "30", "stop"]);
    cmd.stdout(Stdio::null()).stderr(Stdio::null());
    // No helper threads here (this also runs inside the exit handler); pg_ctl's -t bounds it.
    let _ = cmd.status();
}

/// Stops and removes the clusters of test processes that died without running their exit
/// handler (killed by a signal or a timeout), so they do not pile up.
fn remove_stale_clusters(base: &Path, bindir: &Path) {
    let Ok(entries) = fs::read_dir(base) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix(DIR_PREFIX)) else {
            continue;
        };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<i32>().ok()) else {
            continue;
        };
        // The age check leaves alone a directory an orphaned initdb may still be writing.
        let recent = entry
            .metadata()
            .and_then(|m| m.modified())
            .is_ok_and(|t| t.elapsed().unwrap_or_default() < Duration::from_secs(30));
        if pid <= 0 || recent || process_alive(pid) {
            continue;
        }
        let dir = entry.path();
        let data_dir = dir.join("data");
        if data_dir.join("postmaster.pid").exists() {
            let account = owner_account(&data_dir);
            stop_server(bindir, &data_dir, account.as_ref());
        }
        let _ = fs::remove_dir_all(&dir);
    }
}

fn process_alive(pid: i32) -> bool {
    // SAFETY: signal 0 only checks for existence and permission.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
}

/// The account owning `path`, when this process is root and it is not root's.
fn owner_account(path: &Path) -> Option<Account> {
    use std::os::unix::fs::MetadataExt;
    let meta = fs::metadata(path).ok()?;
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 || meta.uid() == 0 {
        return None;
    }
    Some(Account {
        name: String::new(),
        uid: meta.uid(),
        gid: meta.gid(),
    })
}

fn find_bindir() -> Result<PathBuf, String> {
    let has_initdb = |dir: &Path| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file();
    if let Some(dir) = std::env::var_os(BINDIR_ENV) {
        let dir = PathBuf::from(dir);
        return if has_initdb(&dir) {
            Ok(dir)
        } else {
            Err(format!(
                "{BINDIR_ENV}={} has no initdb and pg_ctl",
                dir.display()
            ))
        };
    }
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output() {
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if out.status.success() && has_initdb(&dir) {
            return Ok(dir);
        }
    }
    // Debian layout: /usr/lib/postgresql/<major>/bin; take the newest major version.
    let newest = fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let major: u32 = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            has_initdb(&bin).then_some((major, bin))
        })
        .max_by_key(|(major, _)| *major);
    newest.map(|(_, bin)| bin).ok_or_else(|| {
        format!(
            "no PostgreSQL server binaries: `pg_config --bindir` has no initdb and \
             /usr/lib/postgresql/*/bin has none either (install postgresql, or set {BINDIR_ENV})"
        )
    })
}

/// `None` when this process may run the server itself; the `postgres` account when it is root.
fn server_account() -> Result<Option<Account>, String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Ok(None);
    }
    let name = "postgres";
    let c_name = CString::new(name).unwrap();
    let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
    let mut buf = vec![0 as libc::c_char; 16 * 1024];
    let mut result: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer is valid for the call; `buf` outlives the use of `pwd`'s strings
    // (only the numeric ids are read).
    let rc = unsafe {
        libc::getpwnam_r(
            c_name.as_ptr(),
            &mut pwd,
            buf.as_mut_ptr(),
            buf.len(),
            &mut result,
        )
    };
    if rc != 0 || result.is_null() {
        return Err(format!(
            "running as root, and PostgreSQL refuses to: the server must run as the OS user \
             `{name}`, which does not exist (getpwnam_r rc {rc}). Create it or run the tests as \
             another user."
        ));
    }
    Ok(Some(Account {
        name: name.to_owned(),
        uid: pwd.pw_uid,
        gid: pwd.pw_gid,
    }))
}

/// `temp_dir()`, unless the Unix socket path would get too long there (sun_path is 108 bytes).
fn base_dir() -> PathBuf {
    let base = std::env::temp_dir();
    let longest = format!("{DIR_PREFIX}4294967295-18446744073709551615/.s.PGSQL.65535");
    if base.join(longest).as_os_str().len() < 100 {
        base
    } else {
        PathBuf::from("/tmp")
    }
}

fn make_dir(base: &Path, account: Option<&Account>) -> Result<PathBuf, String> {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    let dir = base.join(format!("{DIR_PREFIX}{}-{}", std::process::id(), nanos));
    fs::create_dir(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o700))
        .map_err(|e| format!("chmod {}: {e}", dir.display()))?;
    if let Some(account) = account {
        std::os::unix::fs::chown(&dir, Some(account.uid), Some(account.gid)).map_err(|e| {
            format!(
                "chown {} to {} ({}): {e}",
                dir.display(),
                account.name,
                account.uid
            )
        })?;
    }
    Ok(dir)
}

fn free_port() -> Result<u16, String> {
    let listener =
        TcpListener::bind("127.0.0.1:0").map_err(|e| format!("binding 127.0.0.1:0: {e}"))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| format!("local_addr: {e}"))
}

/// A command for a server binary, run as the server's account, in `cwd`.
fn server_command(program: &Path, account: Option<&Account>, cwd: &Path) -> Command {
    let mut cmd = Command::new(program);
    cmd.current_dir(cwd).env("LC_ALL", "C").stdin(Stdio::null());
    clear_pg_env(&mut cmd);
    if let Some(account) = account {
        cmd.uid(account.uid).gid(account.gid);
    }
    cmd
}

/// Removes every `PG*` variable a test (or the user) may have set, so that only our arguments
/// count.
fn clear_pg_env(cmd: &mut Command) {
    for (key, _) in std::env::vars_os() {
        if key.to_str().is_some_and(|k| k.starts_with("PG")) {
            cmd.env_remove(key);
        }
    }
}

/// Runs `cmd` with stdout and stderr appended to `log` (never to pipes: pg_ctl leaves the server
/// running, and a pipe it inherited would never close). Fails with the log's tail.
fn run_logged(cmd: &mut Command, log: &Path, what: &str) -> Result<(), String> {
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .map_err(|e| format!("opening {}: {e}", log.display()))?;
    let err = file.try_clone().map_err(|e| format!("dup: {e}"))?;
    cmd.stdout(file).stderr(err);
    let out = run(cmd, None, what)?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{what} failed ({}); its output:\n{}",
            out.status,
            tail(log, 40)
        ))
    }
}

/// Runs `cmd` to completion, killing it after [`COMMAND_TIMEOUT`].
fn run(cmd: &mut Command, stdin: Option<&str>, what: &str) -> Result<Output, String> {
    output_with_timeout(cmd, stdin.map(str::as_bytes), COMMAND_TIMEOUT)
        .map_err(|e| format!("{what}: {e}"))
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

/// The last `lines` lines of a text file (or a note saying why there are none).
fn tail(path: &Path, lines: usize) -> String {
    let mut bytes = Vec::new();
    if let Err(e) = File::open(path).and_then(|mut f| f.read_to_end(&mut bytes)) {
        return format!("(no {}: {e})", path.display());
    }
    let text = String::from_utf8_lossy(&bytes);
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

fn conf_escape(path: &Path) -> String {
    path.to_string_lossy()
        .replace('\\', "\\\\")
        .replace('\'', "''")
}
