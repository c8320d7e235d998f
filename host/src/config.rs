//! Driver configuration: the sandbox's limits and the connection [`Policy`].

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use crate::error::{Error, ErrorKind};

/// A place the host may connect to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// A TCP host (name or address literal, compared as written and after resolution) and port.
    Tcp { host: String, port: u16 },
    /// A Unix-domain socket file.
    Unix { path: PathBuf },
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
/// connection to an address literal only when that literal is listed. So a name that resolves
/// somewhere unexpected never widens the list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policy {
    allow: Vec<Endpoint>,
}

impl Policy {
    /// Allows nothing.
    pub fn deny_all() -> Policy {
        Policy::default()
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
    let port: u16 = port.parse().map_err(|_| bad())?;
    if port == 0 {
        return Err(bad());
    }
    Ok(Endpoint::Tcp {
        host: normalize_host(host),
        port,
    })
}

/// Configuration of a [`Driver`](crate::Driver).
#[derive(Debug, Clone)]
pub struct Config {
    /// Which connections may be opened. `None`: exactly the targets of each conninfo.
    pub policy: Option<Policy>,
    /// Linear-memory limit of one guest instance, in bytes.
    pub memory_limit: usize,
    /// Largest server message the guest accepts, in bytes.
    pub max_message_size: u32,
    /// CPU time one call into the guest may take before it is interrupted (epoch deadline).
    pub cpu_limit_per_call: Duration,
    /// Bound on each socket read while waiting for the server. `None` waits forever.
    pub read_timeout: Option<Duration>,
    /// Connect timeout when the conninfo gives none.
    pub connect_timeout: Option<Duration>,
    /// The server's `statement_timeout` for every session: any statement running longer is
    /// cancelled by the server with SQLSTATE 57014 (`query_canceled`), and the session stays
    /// usable. Sent as a run-time parameter in the startup packet (as libpq's
    /// `options='-c statement_timeout=N'` would), in whole milliseconds, rounded up; so it is the
    /// session's default: `SET` changes it, `RESET`/`DISCARD ALL` return to it. It takes
    /// precedence over a `-c statement_timeout` in the conninfo's `options` and over role and
    /// database settings. `Some(Duration::ZERO)` sends 0 (no timeout); `None` sends nothing.
    pub statement_timeout: Option<Duration>,
    /// Capacity of the automatic prepared-statement cache (0 disables it).
    pub statement_cache: u32,
    /// Where compiled components are cached. `None`: `$WASMPG_CACHE_DIR`, else
    /// `$XDG_CACHE_HOME/wasmpg`, else `~/.cache/wasmpg`; caching is skipped if none works.
    pub cache_dir: Option<PathBuf>,
    /// Bytes read from the socket per `feed` call.
    pub read_chunk: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            policy: None,
            memory_limit: 256 << 20,
            max_message_size: 64 << 20,
            cpu_limit_per_call: Duration::from_secs(5),
            read_timeout: None,
            connect_timeout: None,
            statement_timeout: None,
            statement_cache: 256,
            cache_dir: None,
            read_chunk: 256 << 10,
        }
    }
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
    fn deny_all_denies() {
        let p = Policy::deny_all();
        assert!(!p.allows(&Endpoint::Tcp {
            host: "localhost".into(),
            port: 5432
        }));
        assert_eq!(p.to_string(), "deny all");
    }
}
