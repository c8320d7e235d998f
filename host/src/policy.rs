//! The policy: which endpoints the host may open for the guest (checked before any socket
//! exists), and which files it may read on a session's behalf.
//!
//! Files: by default a session may read the user's own password file (`PGPASSFILE` of this
//! process, else `~/.pgpass`) and the files under `~/.postgresql/`; any other path only when
//! granted with [`Policy::allow_file`] or [`Policy::allow_dir`]. Paths are compared after
//! resolving symbolic links and `..`. [`Policy::without_default_files`] removes the defaults
//! (for a host whose conninfos come from untrusted plugins).
//!
//! Deny by default. A TCP entry is a host (name or address literal) and a port, compared with
//! the target **by name as written** in the conninfo, never after resolution: host names
//! compare case-insensitively, IPv6 literals in canonical form without brackets, and nothing
//! else is equated. Allowing `localhost` does not allow `127.0.0.1` (nor the reverse), even
//! though one resolves to the other; a listed name is resolved only once it has been allowed,
//! so where it resolves never widens the list. A Unix entry is the full path of the socket file.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::error::{Error, ErrorKind};
use crate::guest::Target;

/// A place the host may connect to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// A TCP host and port. The host is a name or an address literal, compared as written
    /// (names case-insensitively, IPv6 literals without brackets), never after resolution.
    Tcp { host: String, port: u16 },
    /// A Unix-domain socket file.
    Unix { path: PathBuf },
}

impl Endpoint {
    /// The endpoint the guest asked the host to open.
    pub(crate) fn of_target(target: &Target) -> Endpoint {
        match target {
            Target::Tcp { host, port } => Endpoint::Tcp {
                host: host.clone(),
                port: *port,
            },
            Target::Unix(path) => Endpoint::Unix {
                path: PathBuf::from(path),
            },
        }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Tcp { host, port } if host.contains(':') => write!(f, "[{host}]:{port}"),
            Endpoint::Tcp { host, port } => write!(f, "{host}:{port}"),
            Endpoint::Unix { path } => write!(f, "{}", path.display()),
        }
    }
}

/// Which connections the host opens for the guest: an allow-list, deny by default.
///
/// A TCP entry allows a host name or address and a port; a connection to a name is allowed
/// only when the name itself is listed (the addresses it resolves to are then used), and a
/// connection to an address literal only when that literal is listed. Entries and targets are
/// compared by name as written, before any resolution, so a name that resolves somewhere
/// unexpected never widens the list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    allow: Vec<Endpoint>,
    files: Vec<PathBuf>,
    dirs: Vec<PathBuf>,
    default_files: bool,
}

impl Default for Policy {
    fn default() -> Policy {
        Policy {
            allow: Vec::new(),
            files: Vec::new(),
            dirs: Vec::new(),
            default_files: true,
        }
    }
}

impl Policy {
    /// Allows no endpoint (the user's own password file and `~/.postgresql/` stay readable; see
    /// [`Policy::without_default_files`]).
    pub fn deny_all() -> Policy {
        Policy::default()
    }

    /// Lets sessions read `path` (for example a `passfile` or, later, a certificate).
    pub fn allow_file(mut self, path: impl Into<PathBuf>) -> Policy {
        self.files.push(path.into());
        self
    }

    /// Lets sessions read the files under `dir`.
    pub fn allow_dir(mut self, dir: impl Into<PathBuf>) -> Policy {
        self.dirs.push(dir.into());
        self
    }

    /// No file is readable unless granted with [`Policy::allow_file`] or
    /// [`Policy::allow_dir`]: not even the user's own password file.
    pub fn without_default_files(mut self) -> Policy {
        self.default_files = false;
        self
    }

    /// Whether a session may read `path`, a resolved absolute path (or a lexically absolute one
    /// for a file that does not exist).
    pub(crate) fn allows_file(&self, path: &Path) -> bool {
        let (default_files, default_dirs) = if self.default_files {
            crate::env::default_readable()
        } else {
            (Vec::new(), Vec::new())
        };
        let resolve = |p: &PathBuf| std::fs::canonicalize(p).unwrap_or_else(|_| p.clone());
        self.files
            .iter()
            .chain(&default_files)
            .any(|f| resolve(f) == path)
            || self
                .dirs
                .iter()
                .chain(&default_dirs)
                .any(|d| path.starts_with(resolve(d)))
    }

    /// The file rules, for error messages.
    pub(crate) fn describe_files(&self) -> String {
        let mut parts: Vec<String> = Vec::new();
        if self.default_files {
            parts.push("the user's own password file and ~/.postgresql/".to_owned());
        }
        parts.extend(self.files.iter().map(|f| f.display().to_string()));
        parts.extend(self.dirs.iter().map(|d| format!("{}/", d.display())));
        if parts.is_empty() {
            "no files".to_owned()
        } else {
            format!("files: {}", parts.join(", "))
        }
    }

    /// Parses `HOST:PORT`, `[V6]:PORT` and absolute socket paths (`/run/pg/.s.PGSQL.5432`).
    pub fn parse_allow<S: AsRef<str>>(entries: &[S]) -> Result<Policy, Error> {
        let mut policy = Policy::deny_all();
        for entry in entries {
            policy.allow.push(parse_endpoint(entry.as_ref())?);
        }
        Ok(policy)
    }

    pub fn allow_tcp(mut self, host: &str, port: u16) -> Policy {
        self.allow.push(Endpoint::Tcp {
            host: normalize_host(host),
            port,
        });
        self
    }

    pub fn allow_unix(mut self, path: impl Into<PathBuf>) -> Policy {
        self.allow.push(Endpoint::Unix { path: path.into() });
        self
    }

    /// The entries, in order.
    pub fn entries(&self) -> &[Endpoint] {
        &self.allow
    }

    /// Whether `endpoint` may be opened.
    pub fn allows(&self, endpoint: &Endpoint) -> bool {
        match endpoint {
            Endpoint::Tcp { host, port } => {
                let host = normalize_host(host);
                self.allow.iter().any(|e| {
                    matches!(e, Endpoint::Tcp { host: h, port: p } if *p == *port && *h == host)
                })
            }
            Endpoint::Unix { path } => self
                .allow
                .iter()
                .any(|e| matches!(e, Endpoint::Unix { path: p } if p == path)),
        }
    }

    /// The default policy of a connection (no [`Config::policy`](crate::Config::policy)):
    /// exactly the targets of its conninfo, as the guest parsed them before any server byte
    /// reached it.
    pub(crate) fn for_targets(targets: &[Target]) -> Policy {
        targets.iter().fold(Policy::deny_all(), |p, t| match t {
            Target::Tcp { host, port } => p.allow_tcp(host, *port),
            Target::Unix(path) => p.allow_unix(path),
        })
    }

    /// `Ok` if `endpoint` may be opened, else a [`ErrorKind::PolicyDenied`] error naming the
    /// endpoint and the policy. Called before any socket exists or any name is resolved.
    pub(crate) fn check(&self, endpoint: &Endpoint) -> Result<(), Error> {
        if self.allows(endpoint) {
            return Ok(());
        }
        Err(Error::new(
            ErrorKind::PolicyDenied,
            format!("connection to {endpoint} denied by policy ({self})"),
        ))
    }
}

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.allow.is_empty() {
            return f.write_str("deny all");
        }
        let entries: Vec<String> = self.allow.iter().map(ToString::to_string).collect();
        write!(f, "allow {}", entries.join(", "))
    }
}

/// Host names compare case-insensitively; IPv6 literals compare without brackets.
fn normalize_host(host: &str) -> String {
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    match host.parse::<std::net::IpAddr>() {
        Ok(ip) => ip.to_string(),
        Err(_) => host.to_ascii_lowercase(),
    }
}

fn parse_endpoint(entry: &str) -> Result<Endpoint, Error> {
    if entry.starts_with('/') {
        return Ok(Endpoint::Unix {
            path: PathBuf::from(entry),
        });
    }
    let bad = || {
        Error::new(
            ErrorKind::Config,
            format!("invalid allow-list entry {entry:?}: expected HOST:PORT, [IPV6]:PORT or an absolute socket path"),
        )
    };
    let (host, port) = entry.rsplit_once(':').ok_or_else(bad)?;
    if host.is_empty() || (host.contains(':') && !host.starts_with('[')) {
        return Err(bad());
    }
    if !port.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let port: u16 = port.parse().map_err(|_| bad())?;
    if port == 0 {
        return Err(bad());
    }
    Ok(Endpoint::Tcp {
        host: normalize_host(host),
        port,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_entries() {
        let p = Policy::parse_allow(&[
            "127.0.0.1:9",
            "[::1]:5432",
            "db.example:5432",
            "/tmp/.s.PGSQL.5432",
        ])
        .unwrap();
        assert!(p.allows(&Endpoint::Tcp {
            host: "127.0.0.1".into(),
            port: 9
        }));
        assert!(!p.allows(&Endpoint::Tcp {
            host: "127.0.0.1".into(),
            port: 10
        }));
        assert!(p.allows(&Endpoint::Tcp {
            host: "::1".into(),
            port: 5432
        }));
        assert!(p.allows(&Endpoint::Tcp {
            host: "0:0:0:0:0:0:0:1".into(),
            port: 5432
        }));
        assert!(p.allows(&Endpoint::Tcp {
            host: "DB.example".into(),
            port: 5432
        }));
        assert!(p.allows(&Endpoint::Unix {
            path: "/tmp/.s.PGSQL.5432".into()
        }));
        assert!(!p.allows(&Endpoint::Unix {
            path: "/tmp/.s.PGSQL.5433".into()
        }));
    }

    #[test]
    fn rejects_malformed_entries() {
        for bad in [
            "",
            "host",
            "host:",
            ":5432",
            "host:0",
            "host:99999",
            "::1:5432",
            "rel/path",
        ] {
            assert!(Policy::parse_allow(&[bad]).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn names_and_addresses_are_compared_as_written() {
        let by_name = Policy::deny_all().allow_tcp("localhost", 5432);
        assert!(by_name.allows(&Endpoint::Tcp {
            host: "LocalHost".into(),
            port: 5432
        }));
        assert!(!by_name.allows(&Endpoint::Tcp {
            host: "127.0.0.1".into(),
            port: 5432
        }));
        let by_address = Policy::deny_all().allow_tcp("127.0.0.1", 5432);
        assert!(!by_address.allows(&Endpoint::Tcp {
            host: "localhost".into(),
            port: 5432
        }));
    }

    #[test]
    fn check_names_the_target_and_the_policy() {
        let p = Policy::deny_all().allow_tcp("db.example", 5432);
        assert!(p
            .check(&Endpoint::Tcp {
                host: "db.example".into(),
                port: 5432
            })
            .is_ok());
        let err = p
            .check(&Endpoint::Tcp {
                host: "nonexistent.invalid".into(),
                port: 5432,
            })
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::PolicyDenied);
        let message = err.to_string();
        assert!(message.contains("nonexistent.invalid:5432"), "{message}");
        assert!(message.contains("allow db.example:5432"), "{message}");
    }

    #[test]
    fn deny_all_denies() {
        let p = Policy::deny_all();
        assert!(!p.allows(&Endpoint::Tcp {
            host: "localhost".into(),
            port: 5432
        }));
        assert_eq!(p.to_string(), "deny all");
    }

    /// The shared vectors, `conformance/policy.json`: cases the Rust host knowingly answers
    /// differently (`known_difference.rust`) are skipped and printed.
    #[test]
    fn conformance_vectors() {
        let doc: serde_json::Value =
            serde_json::from_str(include_str!("../../conformance/policy.json"))
                .expect("policy.json is JSON");
        assert_eq!(doc["topic"], "policy");
        let cases = doc["cases"].as_array().expect("cases");
        let mut failures = Vec::new();
        for case in cases {
            let name = case["name"].as_str().expect("name");
            if let Some(why) = case.get("known_difference").and_then(|d| d.get("rust")) {
                println!("skipped (known difference): {name}: {why}");
                continue;
            }
            let entries: Vec<&str> = case["input"]["allow"]
                .as_array()
                .expect("allow")
                .iter()
                .map(|e| e.as_str().expect("entries are strings"))
                .collect();
            let expected = &case["expected"];
            let policy = match (Policy::parse_allow(&entries), expected.get("error")) {
                (Ok(policy), None) => policy,
                (Ok(policy), Some(_)) => {
                    failures.push(format!("{name}: accepted as {policy}"));
                    continue;
                }
                (Err(e), None) => {
                    failures.push(format!("{name}: rejected: {}", e.message()));
                    continue;
                }
                (Err(e), Some(error)) => {
                    assert_eq!(error["kind"], "config", "{name}");
                    let needle = error["message_contains"]
                        .as_str()
                        .expect("message_contains");
                    if e.kind() != ErrorKind::Config || !e.message().contains(needle) {
                        failures.push(format!("{name}: wrong error: {}", e.message()));
                    }
                    continue;
                }
            };
            let target = &case["input"]["target"];
            let endpoint = match target["kind"].as_str().expect("kind") {
                "tcp" => Endpoint::Tcp {
                    host: target["host"].as_str().expect("host").to_owned(),
                    port: u16::try_from(target["port"].as_u64().expect("port")).expect("port"),
                },
                "unix" => Endpoint::Unix {
                    path: PathBuf::from(target["path"].as_str().expect("path")),
                },
                other => panic!("{name}: unknown target kind {other:?}"),
            };
            let allowed = expected["allowed"].as_bool().expect("allowed");
            if policy.allows(&endpoint) != allowed {
                failures.push(format!(
                    "{name}: {endpoint} with {policy}: expected allowed={allowed}"
                ));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }
}
