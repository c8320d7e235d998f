//! What the guest cannot know because it has no environment: libpq's PG* variables, the OS
//! user name, and the password file.

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

/// Looks a password up in the password file, with libpq's rules: `passfile` from the conninfo,
/// else `PGPASSFILE`, else `~/.pgpass`; lines `host:port:db:user:password` with `*` wildcards and
/// `\` escapes; a file readable by group or others is ignored; a Unix-socket host also matches
/// `localhost`.
pub(crate) fn passfile_password(
    passfile: Option<&str>,
    host: &str,
    port: u16,
    dbname: &str,
    user: &str,
) -> Option<String> {
    let path = passfile
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("PGPASSFILE").map(PathBuf::from))
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".pgpass")))?;
    let meta = std::fs::metadata(&path).ok()?;
    if !meta.is_file() {
        return None;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if meta.permissions().mode() & 0o077 != 0 {
            return None;
        }
    }
    let text = std::fs::read_to_string(&path).ok()?;
    lookup(&text, host, port, dbname, user)
}

fn lookup(text: &str, host: &str, port: u16, dbname: &str, user: &str) -> Option<String> {
    let port = port.to_string();
    let is_socket = host.starts_with('/') || host.starts_with('@');
    for line in text.lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let fields = split_fields(line);
        let [h, p, d, u, password] = fields.as_slice() else {
            continue;
        };
        let host_ok = h == "*" || h == host || (is_socket && h == "localhost");
        if host_ok
            && (p == "*" || *p == port)
            && (d == "*" || d == dbname)
            && (u == "*" || u == user)
        {
            return Some(password.clone());
        }
    }
    None
}

/// Splits a passfile line on unescaped `:`; the password is the rest of the line.
fn split_fields(line: &str) -> Vec<String> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(next) = chars.next() {
                    field.push(next);
                }
            }
            ':' if fields.len() < 4 => fields.push(std::mem::take(&mut field)),
            c => field.push(c),
        }
    }
    fields.push(field);
    fields
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_with_wildcards_and_escapes() {
        let text = "# comment\n\
                    db.example:5432:app:alice:secret\n\
                    *:*:*:bob:pa\\:ss\\\\word\n\
                    localhost:5433:*:carol:sock\n";
        assert_eq!(
            lookup(text, "db.example", 5432, "app", "alice").as_deref(),
            Some("secret")
        );
        assert_eq!(lookup(text, "db.example", 5433, "app", "alice"), None);
        assert_eq!(
            lookup(text, "anything", 1, "x", "bob").as_deref(),
            Some("pa:ss\\word")
        );
        assert_eq!(
            lookup(text, "/var/run/postgresql", 5433, "x", "carol").as_deref(),
            Some("sock")
        );
        assert_eq!(lookup(text, "otherhost", 5433, "x", "carol"), None);
    }

    #[test]
    fn password_may_contain_colons_unescaped() {
        assert_eq!(
            lookup("h:1:d:u:a:b", "h", 1, "d", "u").as_deref(),
            Some("a:b")
        );
    }
}
