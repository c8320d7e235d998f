//! Reading a file on a session's behalf (the password file, TLS certificates, keys and
//! revocation lists), only if the policy allows it: the answer to the guest's `need-file`
//! action. `sslrootcert=system` is answered with the system's trust store.
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

/// How a file's purpose is protected: libpq's permission rules for secrets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Secrecy {
    /// Certificates and revocation lists: public, no check.
    Public,
    /// The password file: ignored when group or others have any access.
    Passfile,
    /// A private key: refused when group or others have any access, except a root-owned key
    /// group members may read (0640), as libpq allows.
    Key,
}

impl Secrecy {
    /// The rule for an `f` action's purpose.
    pub(crate) fn of(purpose: &str) -> Secrecy {
        match purpose {
            "sslrootcert" | "sslcert" | "sslcrl" => Secrecy::Public,
            "sslkey" => Secrecy::Key,
            _ => Secrecy::Passfile,
        }
    }
}

/// The answer for the guest: the file's bytes, or a status and its reason.
pub(crate) type Answer = Result<Vec<u8>, (FileStatus, String)>;

/// Where the system's trust store is (`sslrootcert=system`): OpenSSL's `SSL_CERT_FILE` if set,
/// else the first bundle found among the usual places (Debian/Ubuntu/Alpine, Fedora/RHEL,
/// openSUSE, FreeBSD, macOS with Homebrew's openssl).
pub(crate) fn system_roots() -> Option<PathBuf> {
    if let Some(file) = std::env::var_os("SSL_CERT_FILE") {
        return Some(PathBuf::from(file));
    }
    const BUNDLES: &[&str] = &[
        "/etc/ssl/certs/ca-certificates.crt",
        "/etc/pki/tls/certs/ca-bundle.crt",
        "/etc/ssl/ca-bundle.pem",
        "/usr/local/share/certs/ca-root-nss.crt",
        "/etc/ssl/cert.pem",
    ];
    BUNDLES.iter().map(PathBuf::from).find(|p| p.is_file())
}

/// Reads `path` for a session: the policy decides (the resolved path is what is checked), and
/// `purpose` the permission rule. `sslrootcert` = `system` reads the system's trust store,
/// which the policy does not guard (it is public, and its path is not the conninfo's).
pub(crate) fn read_for_session(policy: &Policy, path: &str, purpose: &str) -> Answer {
    if purpose == "sslrootcert" && path == "system" {
        let Some(store) = system_roots().filter(|p| p.is_file()) else {
            return Err((FileStatus::Missing, String::new()));
        };
        return read_bytes(&store, Secrecy::Public);
    }
    let path = Path::new(path);
    let resolved = match std::fs::canonicalize(path) {
        Ok(p) => p,
        // A file that does not exist is only reported missing where the policy would allow it:
        // otherwise the answer would tell an untrusted conninfo which files exist.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return match lexical(path) {
                Some(p) if policy.allows_file(&p) => Err((FileStatus::Missing, String::new())),
                _ => Err(denied(policy, path)),
            };
        }
        Err(_) => return Err(denied(policy, path)),
    };
    if !policy.allows_file(&resolved) {
        return Err(denied(policy, path));
    }
    read_bytes(&resolved, Secrecy::of(purpose))
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

fn read_bytes(path: &Path, secrecy: Secrecy) -> Answer {
    let unreadable = |reason: String| (FileStatus::Unreadable, reason);
    let meta = std::fs::metadata(path).map_err(|e| unreadable(e.to_string()))?;
    if !meta.is_file() {
        return Err(unreadable("not a plain file".to_owned()));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let mode = meta.mode();
        let too_open = match secrecy {
            Secrecy::Public => false,
            // libpq ignores a password file that group or others may access (the guest warns).
            Secrecy::Passfile => mode & 0o077 != 0,
            // libpq's rule for sslkey: owned by this user, no access for group or others;
            // owned by root, group read at most.
            Secrecy::Key => {
                // SAFETY: geteuid has no preconditions and cannot fail.
                let euid = unsafe { libc::geteuid() };
                (meta.uid() == euid && mode & 0o077 != 0) || (meta.uid() == 0 && mode & 0o037 != 0)
            }
        };
        if too_open {
            return Err((FileStatus::TooOpen, String::new()));
        }
    }
    if meta.len() > MAX_FILE {
        return Err(unreadable(format!("larger than {MAX_FILE} bytes")));
    }
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_FILE).read_to_end(&mut bytes))
        .map_err(|e| unreadable(e.to_string()))?;
    Ok(bytes)
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

        let bytes = read_for_session(&policy, allowed.to_str().unwrap(), "passfile").unwrap();
        assert_eq!(bytes, b"*:*:*:*:pw\n");

        let (status, reason) =
            read_for_session(&policy, other.to_str().unwrap(), "passfile").unwrap_err();
        assert_eq!(status, FileStatus::Denied);
        assert!(reason.contains("secret"), "{reason}");
        // Climbing out of an allowed place does not help.
        let sneaky = dir.join("x").join("..").join("secret");
        assert_eq!(
            read_for_session(&policy, sneaky.to_str().unwrap(), "passfile")
                .unwrap_err()
                .0,
            FileStatus::Denied
        );
        // A missing file is reported missing only where reading it would be allowed.
        let policy_dir = Policy::deny_all().without_default_files().allow_dir(&dir);
        let missing = dir.join("nope");
        assert_eq!(
            read_for_session(&policy_dir, missing.to_str().unwrap(), "passfile")
                .unwrap_err()
                .0,
            FileStatus::Missing
        );
        assert_eq!(
            read_for_session(&policy, missing.to_str().unwrap(), "passfile")
                .unwrap_err()
                .0,
            FileStatus::Denied
        );
        // Group- or world-readable: libpq ignores it.
        std::fs::set_permissions(&allowed, std::fs::Permissions::from_mode(0o644)).unwrap();
        for purpose in ["passfile", "sslkey"] {
            assert_eq!(
                read_for_session(&policy, allowed.to_str().unwrap(), purpose)
                    .unwrap_err()
                    .0,
                FileStatus::TooOpen
            );
        }
        // Certificates are public.
        assert!(read_for_session(&policy, allowed.to_str().unwrap(), "sslcert").is_ok());
        // A key only its owner may read is fine; group access is not.
        std::fs::set_permissions(&allowed, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(read_for_session(&policy, allowed.to_str().unwrap(), "sslkey").is_ok());
        std::fs::set_permissions(&allowed, std::fs::Permissions::from_mode(0o640)).unwrap();
        assert_eq!(
            read_for_session(&policy, allowed.to_str().unwrap(), "sslkey")
                .unwrap_err()
                .0,
            FileStatus::TooOpen
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
