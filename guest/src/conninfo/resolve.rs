//! From raw keyword values to a [`ConnInfo`]: the environment fills what the string left unset
//! (`conninfo_add_defaults`), then values are validated and libpq's compiled-in defaults applied
//! (`connectOptions2`).

use std::net::IpAddr;

use super::keywords::Keyword;
use super::{
    env_var, error, is_space, non_empty, ChannelBinding, ConnInfo, ConnInfoError, Host, Keepalives,
    RequireAuth, SslMode, Target, TlsSettings, DEFAULT_PORT, DEFAULT_SOCKET_DIR,
};

/// Longest Unix socket path, in bytes (`sizeof(sun_path) - 1` on Linux).
const MAX_SOCKET_PATH: usize = 107;

/// Keyword values as given, before validation (libpq's `PQconninfoOption` array).
pub(super) struct Raw {
    values: [Option<String>; Keyword::ALL.len()],
}

impl Default for Raw {
    fn default() -> Self {
        Self {
            values: std::array::from_fn(|_| None),
        }
    }
}

impl Raw {
    fn value(&self, keyword: Keyword) -> Option<&str> {
        self.values[keyword as usize].as_deref()
    }

    pub(super) fn set(&mut self, keyword: Keyword, value: String) {
        self.values[keyword as usize] = Some(value);
    }

    /// Stores a keyword/value pair from the keyword/value form; a later value replaces an
    /// earlier one.
    pub(super) fn store(&mut self, name: &str, value: String) -> Result<(), ConnInfoError> {
        let Some(keyword) = Keyword::lookup(name) else {
            return Err(error(format!("invalid connection option \"{name}\"")));
        };
        self.set(keyword, value);
        Ok(())
    }

    /// Fills unset keywords from the environment (`conninfo_add_defaults`).
    pub(super) fn add_defaults(&mut self, env: &[(String, String)]) {
        for keyword in Keyword::ALL {
            if self.value(keyword).is_some() {
                continue;
            }
            if let Some(value) = keyword.env().and_then(|name| env_var(env, name)) {
                self.set(keyword, value.to_owned());
            }
        }

        // The deprecated PGREQUIRESSL: a value starting with "1" means sslmode=require.
        if self.value(Keyword::Sslmode).is_none()
            && env_var(env, "PGREQUIRESSL").is_some_and(|v| v.starts_with('1'))
        {
            self.set(Keyword::Sslmode, "require".to_owned());
        }
    }

    /// Validates the values and applies the compiled-in defaults (`connectOptions2`).
    pub(super) fn finish(self, env: &[(String, String)]) -> Result<ConnInfo, ConnInfoError> {
        if non_empty(self.value(Keyword::Service)).is_some() {
            return Err(error("service files are not supported"));
        }
        let require_auth = match non_empty(self.value(Keyword::RequireAuth)) {
            Some(list) => Some(RequireAuth::parse(list).map_err(error)?),
            None => None,
        };

        let hosts = self.hosts()?;

        // An explicitly empty user falls back to the OS user, which the host passes as PGUSER.
        let Some(user) = non_empty(self.value(Keyword::User))
            .or_else(|| non_empty(env_var(env, "PGUSER")))
            .map(str::to_owned)
        else {
            return Err(error("no user name given (the host must supply PGUSER)"));
        };
        let dbname =
            non_empty(self.value(Keyword::Dbname)).map_or_else(|| user.clone(), str::to_owned);

        let connect_timeout = match self.value(Keyword::ConnectTimeout) {
            None => None,
            Some(value) => match parse_int(value) {
                Some(seconds) => u32::try_from(seconds).ok().filter(|&s| s > 0),
                None => return Err(invalid_integer(Keyword::ConnectTimeout, value)),
            },
        };
        for keyword in [
            Keyword::Keepalives,
            Keyword::KeepalivesIdle,
            Keyword::KeepalivesInterval,
            Keyword::KeepalivesCount,
            Keyword::TcpUserTimeout,
        ] {
            self.check_integer(keyword, self.value(keyword))?;
        }
        for keyword in [
            Keyword::Sslsni,
            Keyword::Sslcompression,
            Keyword::Gssdelegation,
        ] {
            self.check_integer(keyword, non_empty(self.value(keyword)))?;
        }

        let sslmode = self.sslmode()?;
        self.check_ssl_options(sslmode)?;

        self.check_choice(Keyword::Gssencmode, &["disable", "prefer", "require"])?;
        self.check_unsupported(Keyword::Gssencmode, "require")?;
        let channel_binding =
            match self.check_choice(Keyword::ChannelBinding, &["disable", "prefer", "require"])? {
                Some("disable") => ChannelBinding::Disable,
                Some("require") => ChannelBinding::Require,
                _ => ChannelBinding::Prefer,
            };
        let keepalive = |keyword| self.value(keyword).and_then(parse_int);
        // libpq turns keepalives on unless `keepalives` is 0; the other three are the OS's
        // defaults when unset or zero.
        let keepalives = Keepalives {
            enabled: keepalive(Keyword::Keepalives).is_none_or(|v| v != 0),
            idle: keepalive(Keyword::KeepalivesIdle)
                .filter(|&v| v > 0)
                .map(|v| v as u32),
            interval: keepalive(Keyword::KeepalivesInterval)
                .filter(|&v| v > 0)
                .map(|v| v as u32),
            count: keepalive(Keyword::KeepalivesCount)
                .filter(|&v| v > 0)
                .map(|v| v as u32),
        };
        let load_balance_random =
            self.check_choice(Keyword::LoadBalanceHosts, &["disable", "random"])? == Some("random");
        let target_session_attrs = self
            .check_choice(
                Keyword::TargetSessionAttrs,
                &[
                    "any",
                    "read-write",
                    "read-only",
                    "primary",
                    "standby",
                    "prefer-standby",
                ],
            )?
            .unwrap_or("any")
            .to_owned();
        if let Some(replication) = self.value(Keyword::Replication) {
            if !matches!(replication, "" | "0" | "false" | "off" | "no") {
                return Err(error("replication connections are not supported"));
            }
        }

        let owned = |keyword| non_empty(self.value(keyword)).map(str::to_owned);
        // libpq sends `application_name` if set, else `fallback_application_name`; an empty
        // `application_name` is set, and sends nothing.
        let (application_name, fallback_application_name) =
            match self.value(Keyword::ApplicationName) {
                Some("") => (None, None),
                name => (
                    name.map(str::to_owned),
                    owned(Keyword::FallbackApplicationName),
                ),
            };

        Ok(ConnInfo {
            hosts,
            user,
            dbname,
            password: owned(Keyword::Password),
            passfile: owned(Keyword::Passfile),
            application_name,
            fallback_application_name,
            options: owned(Keyword::Options),
            connect_timeout,
            sslmode,
            target_session_attrs,
            load_balance_random,
            client_encoding: owned(Keyword::ClientEncoding),
            tls: TlsSettings {
                rootcert: owned(Keyword::Sslrootcert),
                cert: owned(Keyword::Sslcert),
                key: owned(Keyword::Sslkey),
                password: owned(Keyword::Sslpassword),
                crl: owned(Keyword::Sslcrl),
                sni: non_empty(self.value(Keyword::Sslsni)).is_none_or(|v| v != "0"),
                min_protocol_version: owned(Keyword::SslMinProtocolVersion),
                max_protocol_version: owned(Keyword::SslMaxProtocolVersion),
                direct: self.value(Keyword::Sslnegotiation) == Some("direct"),
                send_cert: self.value(Keyword::Sslcertmode) != Some("disable"),
            },
            channel_binding,
            require_auth,
            keepalives,
        })
    }

    /// The host list: `host`, `hostaddr` and `port` are parallel comma-separated lists.
    fn hosts(&self) -> Result<Vec<Host>, ConnInfoError> {
        let names: Option<Vec<&str>> =
            non_empty(self.value(Keyword::Host)).map(|list| list.split(',').collect());
        let addrs: Option<Vec<&str>> =
            non_empty(self.value(Keyword::Hostaddr)).map(|list| list.split(',').collect());

        let count = match (&names, &addrs) {
            (Some(names), Some(addrs)) if names.len() != addrs.len() => {
                return Err(error(format!(
                    "could not match {} host names to {} hostaddr values",
                    names.len(),
                    addrs.len()
                )));
            }
            (_, Some(list)) | (Some(list), None) => list.len(),
            (None, None) => 1,
        };

        let ports: Vec<&str> = match non_empty(self.value(Keyword::Port)) {
            None => vec![""; count],
            Some(list) => {
                let ports: Vec<&str> = list.split(',').collect();
                match ports.len() {
                    // One port applies to every host.
                    1 => vec![ports[0]; count],
                    n if n == count => ports,
                    n => {
                        return Err(error(format!(
                            "could not match {n} port numbers to {count} hosts"
                        )));
                    }
                }
            }
        };

        let mut hosts = Vec::with_capacity(count);
        for (i, port) in ports.into_iter().enumerate() {
            let port = parse_port(port)?;
            let name = names.as_ref().map_or("", |names| names[i]);
            let addr = addrs.as_ref().map_or("", |addrs| addrs[i]);

            let (target, key) = if !addr.is_empty() {
                if !valid_hostaddr(addr) {
                    return Err(error(format!("could not parse network address \"{addr}\"")));
                }
                let key = if name.is_empty() { addr } else { name };
                (
                    Target::Tcp {
                        host: addr.to_owned(),
                        port,
                    },
                    key,
                )
            } else if name.starts_with('/') || name.starts_with('@') {
                (unix_target(name, port)?, name)
            } else if !name.is_empty() {
                (
                    Target::Tcp {
                        host: name.to_owned(),
                        port,
                    },
                    name,
                )
            } else {
                (unix_target(DEFAULT_SOCKET_DIR, port)?, DEFAULT_SOCKET_DIR)
            };

            // libpq's passwordFromFile() looks the default socket directory up as localhost.
            let key = if key == DEFAULT_SOCKET_DIR {
                "localhost"
            } else {
                key
            };
            hosts.push(Host {
                target,
                host: key.to_owned(),
                port,
            });
        }
        Ok(hosts)
    }

    fn sslmode(&self) -> Result<SslMode, ConnInfoError> {
        let system_roots = self.value(Keyword::Sslrootcert) == Some("system");
        let sslmode = match self.value(Keyword::Sslmode) {
            Some(value) => SslMode::from_keyword(value).ok_or_else(|| {
                error(format!(
                    "invalid {} value: \"{value}\"",
                    Keyword::Sslmode.name()
                ))
            })?,
            // With the system's CA store the default is the only safe mode.
            None if system_roots => SslMode::VerifyFull,
            None => SslMode::Prefer,
        };
        if system_roots && sslmode != SslMode::VerifyFull {
            return Err(error(format!(
                "weak sslmode \"{sslmode}\" may not be used with sslrootcert=system (use \
                 \"verify-full\")"
            )));
        }
        Ok(sslmode)
    }

    fn check_ssl_options(&self, sslmode: SslMode) -> Result<(), ConnInfoError> {
        if self.check_choice(Keyword::Sslnegotiation, &["postgres", "direct"])? == Some("direct")
            && matches!(sslmode, SslMode::Disable | SslMode::Allow | SslMode::Prefer)
        {
            return Err(error(format!(
                "weak sslmode \"{sslmode}\" may not be used with sslnegotiation=direct (use \
                 \"require\", \"verify-ca\", or \"verify-full\")"
            )));
        }

        self.check_choice(Keyword::Sslcertmode, &["disable", "allow", "require"])?;
        self.check_unsupported(Keyword::Sslcertmode, "require")?;
        // A revocation directory would be silently ignored: refuse it rather than check less.
        if non_empty(self.value(Keyword::Sslcrldir)).is_some() {
            return Err(error(
                "sslcrldir is not supported: give the revocation lists in one file with sslcrl",
            ));
        }

        const VERSIONS: [&str; 5] = ["", "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"];
        let min = self.check_choice(Keyword::SslMinProtocolVersion, &VERSIONS)?;
        let max = self.check_choice(Keyword::SslMaxProtocolVersion, &VERSIONS)?;
        let rank = |version| VERSIONS.iter().position(|v| *v == version);
        if let (Some(min), Some(max)) = (non_empty(min), non_empty(max)) {
            if rank(min) > rank(max) {
                return Err(error("invalid SSL protocol version range"));
            }
        }
        Ok(())
    }

    /// Checks that `keyword`, if set, has one of the `allowed` values, and returns it.
    fn check_choice(
        &self,
        keyword: Keyword,
        allowed: &[&str],
    ) -> Result<Option<&str>, ConnInfoError> {
        match self.value(keyword) {
            Some(value) if !allowed.contains(&value) => Err(error(format!(
                "invalid {} value: \"{value}\"",
                keyword.name()
            ))),
            value => Ok(value),
        }
    }

    /// Rejects a valid value whose requirement this driver cannot meet.
    fn check_unsupported(&self, keyword: Keyword, value: &str) -> Result<(), ConnInfoError> {
        if self.value(keyword) != Some(value) {
            return Ok(());
        }
        Err(error(format!(
            "{} value \"{value}\" is not supported",
            keyword.name()
        )))
    }

    fn check_integer(&self, keyword: Keyword, value: Option<&str>) -> Result<(), ConnInfoError> {
        match value {
            Some(value) if parse_int(value).is_none() => Err(invalid_integer(keyword, value)),
            _ => Ok(()),
        }
    }
}

fn invalid_integer(keyword: Keyword, value: &str) -> ConnInfoError {
    error(format!(
        "invalid integer value \"{value}\" for connection option \"{}\"",
        keyword.name()
    ))
}

/// libpq's `parse_int_param`: `strtol` base 10 (leading whitespace, an optional sign), then
/// only whitespace; the result must fit a C `int`.
pub(super) fn parse_int(value: &str) -> Option<i32> {
    let rest = value.trim_start_matches(is_space);
    let (negative, rest) = match rest.as_bytes().first() {
        Some(b'-') => (true, &rest[1..]),
        Some(b'+') => (false, &rest[1..]),
        _ => (false, rest),
    };
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 || !rest[digits..].chars().all(is_space) {
        return None;
    }

    let mut magnitude: i64 = 0;
    for digit in rest[..digits].bytes() {
        magnitude = magnitude * 10 + i64::from(digit - b'0');
        if magnitude > 1 << 31 {
            return None;
        }
    }
    i32::try_from(if negative { -magnitude } else { magnitude }).ok()
}

/// A port list entry: empty means the default port.
fn parse_port(value: &str) -> Result<u16, ConnInfoError> {
    if value.is_empty() {
        return Ok(DEFAULT_PORT);
    }
    parse_int(value)
        .and_then(|port| u16::try_from(port).ok())
        .filter(|&port| port != 0)
        .ok_or_else(|| error(format!("invalid port number: \"{value}\"")))
}

/// A numeric IPv4 or IPv6 address, the latter possibly with a `%zone`.
fn valid_hostaddr(addr: &str) -> bool {
    match addr.split_once('%') {
        Some((ip, zone)) => !zone.is_empty() && matches!(ip.parse::<IpAddr>(), Ok(IpAddr::V6(_))),
        None => addr.parse::<IpAddr>().is_ok(),
    }
}

fn unix_target(dir: &str, port: u16) -> Result<Target, ConnInfoError> {
    let path = format!("{dir}/.s.PGSQL.{port}");
    if path.len() > MAX_SOCKET_PATH {
        return Err(error(format!(
            "Unix-domain socket path \"{path}\" is too long (maximum {MAX_SOCKET_PATH} bytes)"
        )));
    }
    Ok(Target::Unix { path })
}
