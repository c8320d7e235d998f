//! Reading a file on a session's behalf (the password file today, certificates with TLS), only
//! if the policy allows it: the answer to the guest's `need-file` action.
//!
//! A conninfo can name any path (`passfile=/etc/shadow`), and in the plugin setting the conninfo
//! is not trusted, so the host reads nothing the [`Policy`] does not allow. The path is resolved
//! first (symbolic links and `..` followed), and the resolved path is what is checked.

use std::io::Read;
use std::path::{Component, Path, PathBuf};

use wasmpg_wire::FileStatus;

use crate::policy::Policy;

/// Largest file the host reads for a session.
const MAX_FILE: u64 = 1 << 20;

/// The answer for the guest: a status and the file's text or the reason.
///
/// `private`: the file holds a secret (a password file, a key) and is refused when group or
/// others may read it, as libpq does; certificates are public and need no such check.
pub(crate) fn read_for_session(policy: &Policy, path: &str, private: bool) -> (FileStatus, String) {
    let path = Path::new(path);
    let resolved = match std::fs::canonicalize(path) {
        Ok(p) => p,
        // A file that does not exist is only reported missing where the policy would allow it:
        // otherwise the answer would tell an untrusted conninfo which files exist.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return match lexical(path) {
                Some(p) if policy.allows_file(&p) => (FileStatus::Missing, String::new()),
                _ => denied(policy, path),
            };
        }
        Err(_) => return denied(policy, path),
    };
    if !policy.allows_file(&resolved) {
        return denied(policy, path);
    }
    match read_text(&resolved, private) {
        Ok(text) => text,
        Err(reason) => (FileStatus::Unreadable, reason),
    }
}

fn denied(policy: &Policy, path: &Path) -> (FileStatus, String) {
    (
        FileStatus::Denied,
        format!(
            "reading {} is denied by policy ({})",
            path.display(),
            policy.describe_files()
        ),
    )
}

fn read_text(path: &Path, private: bool) -> Result<(FileStatus, String), String> {
    let meta = std::fs::metadata(path).map_err(|e| e.to_string())?;
    if !meta.is_file() {
        return Err("not a plain file".to_owned());
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // libpq ignores a password file that group or others may read (the guest warns).
        if private && meta.permissions().mode() & 0o077 != 0 {
            return Ok((FileStatus::TooOpen, String::new()));
        }
    }
    if meta.len() > MAX_FILE {
        return Err(format!("larger than {MAX_FILE} bytes"));
    }
    let mut text = String::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_FILE).read_to_string(&mut text))
        .map_err(|e| e.to_string())?;
    Ok((FileStatus::Ok, text))
}

/// `path` made absolute without touching the file system, or `None` if it climbs with `..`
/// (which cannot be judged without resolving).
fn lexical(path: &Path) -> Option<PathBuf> {
    let absolute = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir().ok()?.join(path)
    };
    let mut out = PathBuf::new();
    for part in absolute.components() {
        match part {
            Component::ParentDir => return None,
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    Some(out)
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn reads_only_what_the_policy_allows() {
        let dir = std::env::temp_dir().join(format!("wasmpg-files-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let allowed = dir.join("pgpass");
        let other = dir.join("secret");
        std::fs::write(&allowed, "*:*:*:*:pw\n").unwrap();
        std::fs::write(&other, "top secret\n").unwrap();
        for f in [&allowed, &other] {
            std::fs::set_permissions(f, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        let policy = Policy::deny_all()
            .without_default_files()
            .allow_file(&allowed);

        let (status, text) = read_for_session(&policy, allowed.to_str().unwrap(), true);
        assert_eq!((status, text.as_str()), (FileStatus::Ok, "*:*:*:*:pw\n"));

        let (status, reason) = read_for_session(&policy, other.to_str().unwrap(), true);
        assert_eq!(status, FileStatus::Denied);
        assert!(reason.contains("secret"), "{reason}");
        // Climbing out of an allowed place does not help.
        let sneaky = dir.join("x").join("..").join("secret");
        assert_eq!(
            read_for_session(&policy, sneaky.to_str().unwrap(), true).0,
            FileStatus::Denied
        );
        // A missing file is reported missing only where reading it would be allowed.
        let policy_dir = Policy::deny_all().without_default_files().allow_dir(&dir);
        let missing = dir.join("nope");
        assert_eq!(
            read_for_session(&policy_dir, missing.to_str().unwrap(), true).0,
            FileStatus::Missing
        );
        assert_eq!(
            read_for_session(&policy, missing.to_str().unwrap(), true).0,
            FileStatus::Denied
        );
        // Group- or world-readable: libpq ignores it.
        std::fs::set_permissions(&allowed, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(
            read_for_session(&policy, allowed.to_str().unwrap(), true).0,
            FileStatus::TooOpen
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
