//! What the guest cannot know because it has no environment: libpq's PG* variables, the OS
//! user name, and where the user's own password file and `~/.postgresql/` are.

use std::path::{Path, PathBuf};

/// The PG* variables of this process, plus the OS user as `PGUSER` when that is unset (libpq's
/// default user).
pub(crate) fn defaults() -> Vec<(String, String)> {
    let mut vars: Vec<(String, String)> = std::env::vars()
        .filter(|(k, _)| k.starts_with("PG"))
        .collect();
    if !vars.iter().any(|(k, _)| k == "PGUSER") {
        if let Some(user) = os_user() {
            vars.push(("PGUSER".to_owned(), user));
        }
    }
    vars
}

fn os_user() -> Option<String> {
    for var in ["USER", "LOGNAME"] {
        if let Ok(user) = std::env::var(var) {
            if !user.is_empty() {
                return Some(user);
            }
        }
    }
    // No variable (e.g. under a service manager): look the uid up in /etc/passwd.
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let uid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))?
        .split_whitespace()
        .next()?
        .to_owned();
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let mut parts = line.split(':');
        let name = parts.next()?;
        let _password = parts.next()?;
        (parts.next()? == uid).then(|| name.to_owned())
    })
}

/// The password file libpq reads when neither the conninfo's `passfile` nor `PGPASSFILE` names
/// one: `~/.pgpass`. The guest chooses among the three; matching happens in the guest too.
pub(crate) fn default_passfile() -> Option<PathBuf> {
    std::env::var_os("HOME").map(|home| Path::new(&home).join(".pgpass"))
}

/// libpq's `~/.postgresql`, where the default root certificate, revocation list, client
/// certificate and key are (`root.crt`, `root.crl`, `postgresql.crt`, `postgresql.key`).
pub(crate) fn default_ssl_dir() -> Option<PathBuf> {
    std::env::var_os("HOME").map(|home| Path::new(&home).join(".postgresql"))
}

/// The files a session may read without being granted them: the user's own password file
/// (`PGPASSFILE` of this process, which the user set, else `~/.pgpass`) and the user's
/// `~/.postgresql/` directory (certificates and keys).
pub(crate) fn default_readable() -> (Vec<PathBuf>, Vec<PathBuf>) {
    let mut files = Vec::new();
    if let Some(p) = std::env::var_os("PGPASSFILE") {
        files.push(PathBuf::from(p));
    }
    files.extend(default_passfile());
    let dirs = default_ssl_dir().into_iter().collect();
    (files, dirs)
}
