//! The operating-system side: finding the PostgreSQL binaries, the OS account the server runs as,
//! and running external commands with a time bound.

use std::ffi::CString;
use std::fs::{self, File};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::error::{io, ClusterError};
use crate::BINDIR_ENV;

/// The OS account the server runs as when this process is root (PostgreSQL refuses root).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Account {
    pub uid: u32,
    pub gid: u32,
}

/// PostgreSQL's bin directory: `WASMPG_PG_BINDIR` if set (it must hold `initdb` and `pg_ctl`),
/// else `pg_config --bindir` if it has them, else the newest `/usr/lib/postgresql/<major>/bin`.
pub fn find_bindir() -> Result<PathBuf, ClusterError> {
    if let Some(dir) = std::env::var_os(BINDIR_ENV) {
        let dir = PathBuf::from(dir);
        return if has_server_binaries(&dir) {
            Ok(dir)
        } else {
            Err(ClusterError::BadBindir(dir))
        };
    }
    if let Ok(out) = Command::new("pg_config")
        .arg("--bindir")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
    {
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if out.status.success() && has_server_binaries(&dir) {
            return Ok(dir);
        }
    }
    // Debian layout: /usr/lib/postgresql/<major>/bin; take the newest major version.
    fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let major: u32 = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            has_server_binaries(&bin).then_some((major, bin))
        })
        .max_by_key(|(major, _)| *major)
        .map(|(_, bin)| bin)
        .ok_or(ClusterError::NoBinaries)
}

pub(crate) fn has_server_binaries(dir: &Path) -> bool {
    dir.join("initdb").is_file() && dir.join("pg_ctl").is_file()
}

/// `None` when this process may run the server itself; the `postgres` account when it is root.
pub(crate) fn server_account() -> Result<Option<Account>, ClusterError> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Ok(None);
    }
    let name = CString::new("postgres").map_err(|_| ClusterError::NoPostgresUser)?;
    // SAFETY: `passwd` is plain data; all-zero is a valid value that getpwnam_r overwrites.
    let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
    let mut buf = vec![0 as libc::c_char; 16 * 1024];
    let mut result: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer is valid for the call; only the numeric ids of `pwd` are read, so
    // nothing points into `buf` after it is dropped.
    let rc = unsafe {
        libc::getpwnam_r(
            name.as_ptr(),
            &mut pwd,
            buf.as_mut_ptr(),
            buf.len(),
            &mut result,
        )
    };
    if rc != 0 || result.is_null() {
        return Err(ClusterError::NoPostgresUser);
    }
    Ok(Some(Account {
        uid: pwd.pw_uid,
        gid: pwd.pw_gid,
    }))
}

/// The account owning `path`, when this process is root and `path` is not root's: the account a
/// cluster made by another process runs as.
pub(crate) fn owner_account(path: &Path) -> Option<Account> {
    use std::os::unix::fs::MetadataExt;
    let meta = fs::metadata(path).ok()?;
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 || meta.uid() == 0 {
        return None;
    }
    Some(Account {
        uid: meta.uid(),
        gid: meta.gid(),
    })
}

/// Whether process `pid` exists (or exists but is not ours to signal).
pub(crate) fn process_alive(pid: i32) -> bool {
    // SAFETY: signal 0 only checks for existence and permission.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
}

/// A free TCP port on 127.0.0.1: bind, read it, release. Another process may take it before the
/// server binds it; the caller retries then.
pub(crate) fn free_port() -> Result<u16, ClusterError> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(io("binding 127.0.0.1:0"))?;
    Ok(listener
        .local_addr()
        .map_err(io("reading the bound port"))?
        .port())
}

/// A command for a server binary (initdb, pg_ctl, psql), run as `account`, in `cwd`, with the C
/// locale and without any `PG*` variable of ours.
pub(crate) fn server_command(program: &Path, account: Option<&Account>, cwd: &Path) -> Command {
    use std::os::unix::process::CommandExt;
    let mut cmd = Command::new(program);
    cmd.current_dir(cwd).env("LC_ALL", "C").stdin(Stdio::null());
    clear_pg_env(&mut cmd);
    if let Some(account) = account {
        cmd.uid(account.uid).gid(account.gid);
    }
    cmd
}

/// Removes every `PG*` variable the caller (or the user) may have set, so that only our
/// arguments count.
pub(crate) fn clear_pg_env(cmd: &mut Command) {
    for (key, _) in std::env::vars_os() {
        if key.to_str().is_some_and(|k| k.starts_with("PG")) {
            cmd.env_remove(key);
        }
    }
}

/// Runs `cmd` to completion with `stdin` as its input (else /dev/null), capturing stdout and
/// stderr unless the caller already redirected them (to a file: pg_ctl leaves the server
/// running, and a pipe it inherited would never close). Kills it after `timeout`.
pub(crate) fn run(
    cmd: &mut Command,
    stdin: Option<&[u8]>,
    timeout: Duration,
    what: &str,
) -> Result<Output, ClusterError> {
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    });
    let mut child = cmd
        .spawn()
        .map_err(io(format!("cannot run {what} ({:?})", cmd.get_program())))?;
    let writer = match (stdin, child.stdin.take()) {
        (Some(input), Some(mut pipe)) => {
            let input = input.to_vec();
            // A thread, so a child that prints a lot before reading cannot deadlock us.
            Some(std::thread::spawn(move || {
                let _ = pipe.write_all(&input);
            }))
        }
        _ => None,
    };
    let stdout = child.stdout.take().map(read_all);
    let stderr = child.stderr.take().map(read_all);
    let status = wait_bounded(&mut child, timeout, what);
    if let Some(w) = writer {
        let _ = w.join();
    }
    let collect = |reader: Option<std::thread::JoinHandle<Vec<u8>>>| {
        reader
            .map(|r| r.join().unwrap_or_default())
            .unwrap_or_default()
    };
    let stdout = collect(stdout);
    let stderr = collect(stderr);
    Ok(Output {
        status: status?,
        stdout,
        stderr,
    })
}

fn read_all(mut pipe: impl Read + Send + 'static) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        bytes
    })
}

/// Polls the child (backing off from 1 ms to 20 ms) until it exits or `timeout` passes.
fn wait_bounded(
    child: &mut Child,
    timeout: Duration,
    what: &str,
) -> Result<std::process::ExitStatus, ClusterError> {
    let start = Instant::now();
    let mut delay = Duration::from_millis(1);
    loop {
        if let Some(status) = child
            .try_wait()
            .map_err(io(format!("waiting for {what}")))?
        {
            return Ok(status);
        }
        if start.elapsed() >= timeout {
            let _ = child.kill();
            let _ = child.wait();
            return Err(ClusterError::Timeout {
                what: what.to_owned(),
                after: timeout,
            });
        }
        std::thread::sleep(delay);
        delay = (delay * 2).min(Duration::from_millis(20));
    }
}

/// The last `lines` lines of a text file (or a note saying why there are none).
pub(crate) fn tail(path: &Path, lines: usize) -> String {
    let mut bytes = Vec::new();
    if let Err(e) = File::open(path).and_then(|mut f| f.read_to_end(&mut bytes)) {
        return format!("(no {}: {e})", path.display());
    }
    let text = String::from_utf8_lossy(&bytes);
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
