//! libpq connection strings: parsing and defaults.
//!
//! [`parse`] accepts both forms libpq accepts, with libpq's rules (`conninfo_parse`,
//! `conninfo_uri_parse_options`, `conninfo_add_defaults` and `connectOptions2` in
//! `fe-connect.c`):
//!
//! * keyword/value: `host=localhost port=5432 dbname='my db'`;
//! * URI: `postgresql://[user[:password]@][host][:port][,...][/dbname][?param=value&...]`
//!   (or `postgres://`).
//!
//! Values missing from the string are taken from the `PG*` environment variables the host
//! passes in, then from libpq's compiled-in defaults (Debian's: Unix sockets live in
//! `/var/run/postgresql`). Nothing here touches files, sockets or the real environment.
//!
//! Keywords that only matter to features this driver does not have (TLS files, keepalives,
//! GSSAPI) are validated and ignored, except where ignoring them would silently weaken a
//! requirement the user stated: those are errors.

use std::fmt;
use std::net::IpAddr;

/// The port used when the conninfo names none.
pub const DEFAULT_PORT: u16 = 5432;

/// The Unix socket directory used when the conninfo names no host (Debian's libpq default).
pub const DEFAULT_SOCKET_DIR: &str = "/var/run/postgresql";

/// Longest Unix socket path, in bytes (`sizeof(sun_path) - 1` on Linux).
const MAX_SOCKET_PATH: usize = 107;

/// Where to connect for one host of the conninfo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// TCP to a host name or a numeric address.
    Tcp { host: String, port: u16 },
    /// A Unix socket: the full path of the socket file, `<dir>/.s.PGSQL.<port>`. A path
    /// beginning with `@` names a socket in Linux's abstract namespace.
    Unix { path: String },
}

/// The `sslmode` setting. All six values parse; the session decides which it supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    Disable,
    Allow,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl SslMode {
    /// The keyword value, as libpq spells it (`verify-full`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Disable => "disable",
            Self::Allow => "allow",
            Self::Prefer => "prefer",
            Self::Require => "require",
            Self::VerifyCa => "verify-ca",
            Self::VerifyFull => "verify-full",
        }
    }

    fn from_keyword(value: &str) -> Option<Self> {
        Some(match value {
            "disable" => Self::Disable,
            "allow" => Self::Allow,
            "prefer" => Self::Prefer,
            "require" => Self::Require,
            "verify-ca" => Self::VerifyCa,
            "verify-full" => Self::VerifyFull,
            _ => return None,
        })
    }
}

impl fmt::Display for SslMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One host of a (possibly multi-host) conninfo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    /// Where to connect.
    pub target: Target,
    /// The host name to use for password-file lookup, as libpq computes it: the `host` entry
    /// as written, else the `hostaddr` entry; the default socket directory (also when no host
    /// was given) becomes `localhost`.
    pub host: String,
    /// The port, also part of a Unix target's path.
    pub port: u16,
}

/// A parsed connection string with the environment and defaults applied.
///
/// Empty values count as absent (libpq's rule): `password=''` is no password. The session
/// sends `application_name` if set, else `fallback_application_name`; an empty
/// `application_name` suppresses both, so both are `None` then.
#[derive(Clone, PartialEq, Eq)]
pub struct ConnInfo {
    /// At least one host, in order.
    pub hosts: Vec<Host>,
    pub user: String,
    pub dbname: String,
    pub password: Option<String>,
    pub passfile: Option<String>,
    pub application_name: Option<String>,
    pub fallback_application_name: Option<String>,
    /// Command-line options for the server (`options`, sent in the startup packet).
    pub options: Option<String>,
    /// `connect_timeout` in seconds as given (libpq rounds 1 up to 2); zero or negative is
    /// `None`, meaning no timeout.
    pub connect_timeout: Option<u32>,
    pub sslmode: SslMode,
    /// One of `any`, `read-write`, `read-only`, `primary`, `standby`, `prefer-standby`.
    pub target_session_attrs: String,
    pub client_encoding: Option<String>,
}

impl fmt::Debug for ConnInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnInfo")
            .field("hosts", &self.hosts)
            .field("user", &self.user)
            .field("dbname", &self.dbname)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("passfile", &self.passfile)
            .field("application_name", &self.application_name)
            .field("fallback_application_name", &self.fallback_application_name)
            .field("options", &self.options)
            .field("connect_timeout", &self.connect_timeout)
            .field("sslmode", &self.sslmode)
            .field("target_session_attrs", &self.target_session_attrs)
            .field("client_encoding", &self.client_encoding)
            .finish()
    }
}

/// A malformed or unsupported connection string. The message never contains a password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnInfoError(pub String);

impl fmt::Display for ConnInfoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConnInfoError {}

/// Parses a libpq connection string (keyword/value or URI form).
///
/// `env`: (variable name, value) pairs from the host's environment (`PGHOST`, `PGPORT`,
/// `PGUSER`, ...); unknown variables are ignored and, for a repeated name, the last pair
/// counts. A value in `conninfo` wins over the environment. The user name defaults to
/// `PGUSER`, which the host sets to the OS user when the variable is unset.
pub fn parse(conninfo: &str, env: &[(String, String)]) -> Result<ConnInfo, ConnInfoError> {
    if conninfo.contains('\0') {
        return Err(error("connection info string contains a NUL character"));
    }

    let mut raw = Raw::default();
    match uri_prefix_len(conninfo) {
        Some(prefix) => parse_uri(conninfo, prefix, &mut raw)?,
        None => parse_keyword_value(conninfo, &mut raw)?,
    }
    raw.add_defaults(env);
    raw.finish(env)
}

fn error(message: impl Into<String>) -> ConnInfoError {
    ConnInfoError(message.into())
}

/// C's `isspace()` in the C locale.
fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\x0b' | '\x0c' | '\r')
}

fn non_empty(value: Option<&str>) -> Option<&str> {
    value.filter(|v| !v.is_empty())
}

fn env_var<'a>(env: &'a [(String, String)], name: &str) -> Option<&'a str> {
    env.iter()
        .rev()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.as_str())
}

/// Every keyword libpq knows that this parser accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Keyword {
    Host,
    Hostaddr,
    Port,
    Dbname,
    User,
    Password,
    Passfile,
    Options,
    ApplicationName,
    FallbackApplicationName,
    ConnectTimeout,
    ClientEncoding,
    Sslmode,
    Sslnegotiation,
    Sslcompression,
    Sslcert,
    Sslkey,
    Sslcertmode,
    Sslpassword,
    Sslrootcert,
    Sslcrl,
    Sslcrldir,
    Sslsni,
    SslMinProtocolVersion,
    SslMaxProtocolVersion,
    Requirepeer,
    RequireAuth,
    Gssencmode,
    Krbsrvname,
    Gsslib,
    Gssdelegation,
    ChannelBinding,
    Replication,
    TargetSessionAttrs,
    LoadBalanceHosts,
    Keepalives,
    KeepalivesIdle,
    KeepalivesInterval,
    KeepalivesCount,
    TcpUserTimeout,
    Service,
}

impl Keyword {
    const ALL: [Self; 41] = [
        Self::Host,
        Self::Hostaddr,
        Self::Port,
        Self::Dbname,
        Self::User,
        Self::Password,
        Self::Passfile,
        Self::Options,
        Self::ApplicationName,
        Self::FallbackApplicationName,
        Self::ConnectTimeout,
        Self::ClientEncoding,
        Self::Sslmode,
        Self::Sslnegotiation,
        Self::Sslcompression,
        Self::Sslcert,
        Self::Sslkey,
        Self::Sslcertmode,
        Self::Sslpassword,
        Self::Sslrootcert,
        Self::Sslcrl,
        Self::Sslcrldir,
        Self::Sslsni,
        Self::SslMinProtocolVersion,
        Self::SslMaxProtocolVersion,
        Self::Requirepeer,
        Self::RequireAuth,
        Self::Gssencmode,
        Self::Krbsrvname,
        Self::Gsslib,
        Self::Gssdelegation,
        Self::ChannelBinding,
        Self::Replication,
        Self::TargetSessionAttrs,
        Self::LoadBalanceHosts,
        Self::Keepalives,
        Self::KeepalivesIdle,
        Self::KeepalivesInterval,
        Self::KeepalivesCount,
        Self::TcpUserTimeout,
        Self::Service,
    ];

    fn lookup(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }

    fn name(self) -> &'static str {
        match self {
            Self::Host => "host",
            Self::Hostaddr => "hostaddr",
            Self::Port => "port",
            Self::Dbname => "dbname",
            Self::User => "user",
            Self::Password => "password",
            Self::Passfile => "passfile",
            Self::Options => "options",
            Self::ApplicationName => "application_name",
            Self::FallbackApplicationName => "fallback_application_name",
            Self::ConnectTimeout => "connect_timeout",
            Self::ClientEncoding => "client_encoding",
            Self::Sslmode => "sslmode",
            Self::Sslnegotiation => "sslnegotiation",
            Self::Sslcompression => "sslcompression",
            Self::Sslcert => "sslcert",
            Self::Sslkey => "sslkey",
            Self::Sslcertmode => "sslcertmode",
            Self::Sslpassword => "sslpassword",
            Self::Sslrootcert => "sslrootcert",
            Self::Sslcrl => "sslcrl",
            Self::Sslcrldir => "sslcrldir",
            Self::Sslsni => "sslsni",
            Self::SslMinProtocolVersion => "ssl_min_protocol_version",
            Self::SslMaxProtocolVersion => "ssl_max_protocol_version",
            Self::Requirepeer => "requirepeer",
            Self::RequireAuth => "require_auth",
            Self::Gssencmode => "gssencmode",
            Self::Krbsrvname => "krbsrvname",
            Self::Gsslib => "gsslib",
            Self::Gssdelegation => "gssdelegation",
            Self::ChannelBinding => "channel_binding",
            Self::Replication => "replication",
            Self::TargetSessionAttrs => "target_session_attrs",
            Self::LoadBalanceHosts => "load_balance_hosts",
            Self::Keepalives => "keepalives",
            Self::KeepalivesIdle => "keepalives_idle",
            Self::KeepalivesInterval => "keepalives_interval",
            Self::KeepalivesCount => "keepalives_count",
            Self::TcpUserTimeout => "tcp_user_timeout",
            Self::Service => "service",
        }
    }

    /// The environment variable libpq reads when the keyword is not set.
    fn env(self) -> Option<&'static str> {
        Some(match self {
            Self::Host => "PGHOST",
            Self::Hostaddr => "PGHOSTADDR",
            Self::Port => "PGPORT",
            Self::Dbname => "PGDATABASE",
            Self::User => "PGUSER",
            Self::Password => "PGPASSWORD",
            Self::Passfile => "PGPASSFILE",
            Self::Options => "PGOPTIONS",
            Self::ApplicationName => "PGAPPNAME",
            Self::ConnectTimeout => "PGCONNECT_TIMEOUT",
            Self::ClientEncoding => "PGCLIENTENCODING",
            Self::Sslmode => "PGSSLMODE",
            Self::Sslnegotiation => "PGSSLNEGOTIATION",
            Self::Sslcompression => "PGSSLCOMPRESSION",
            Self::Sslcert => "PGSSLCERT",
            Self::Sslkey => "PGSSLKEY",
            Self::Sslcertmode => "PGSSLCERTMODE",
            Self::Sslrootcert => "PGSSLROOTCERT",
            Self::Sslcrl => "PGSSLCRL",
            Self::Sslcrldir => "PGSSLCRLDIR",
            Self::Sslsni => "PGSSLSNI",
            Self::SslMinProtocolVersion => "PGSSLMINPROTOCOLVERSION",
            Self::SslMaxProtocolVersion => "PGSSLMAXPROTOCOLVERSION",
            Self::Requirepeer => "PGREQUIREPEER",
            Self::RequireAuth => "PGREQUIREAUTH",
            Self::Gssencmode => "PGGSSENCMODE",
            Self::Krbsrvname => "PGKRBSRVNAME",
            Self::Gsslib => "PGGSSLIB",
            Self::Gssdelegation => "PGGSSDELEGATION",
            Self::ChannelBinding => "PGCHANNELBINDING",
            Self::TargetSessionAttrs => "PGTARGETSESSIONATTRS",
            Self::LoadBalanceHosts => "PGLOADBALANCEHOSTS",
            Self::Service => "PGSERVICE",
            Self::FallbackApplicationName
            | Self::Sslpassword
            | Self::Replication
            | Self::Keepalives
            | Self::KeepalivesIdle
            | Self::KeepalivesInterval
            | Self::KeepalivesCount
            | Self::TcpUserTimeout => return None,
        })
    }
}

/// Keyword values as given, before validation (libpq's `PQconninfoOption` array).
struct Raw {
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

    fn set(&mut self, keyword: Keyword, value: String) {
        self.values[keyword as usize] = Some(value);
    }

    /// Stores a keyword/value pair from the keyword/value form; a later value replaces an
    /// earlier one.
    fn store(&mut self, name: &str, value: String) -> Result<(), ConnInfoError> {
        let Some(keyword) = Keyword::lookup(name) else {
            return Err(error(format!("invalid connection option \"{name}\"")));
        };
        self.set(keyword, value);
        Ok(())
    }

    /// Fills unset keywords from the environment (`conninfo_add_defaults`).
    fn add_defaults(&mut self, env: &[(String, String)]) {
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
    fn finish(self, env: &[(String, String)]) -> Result<ConnInfo, ConnInfoError> {
        if non_empty(self.value(Keyword::Service)).is_some() {
            return Err(error("service files are not supported"));
        }
        if non_empty(self.value(Keyword::RequireAuth)).is_some() {
            return Err(error("connection option \"require_auth\" is not supported"));
        }

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
        self.check_choice(Keyword::ChannelBinding, &["disable", "prefer", "require"])?;
        self.check_unsupported(Keyword::ChannelBinding, "require")?;
        self.check_choice(Keyword::LoadBalanceHosts, &["disable", "random"])?;
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
            client_encoding: owned(Keyword::ClientEncoding),
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
fn parse_int(value: &str) -> Option<i32> {
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

/// The keyword/value form (`conninfo_parse`).
fn parse_keyword_value(conninfo: &str, raw: &mut Raw) -> Result<(), ConnInfoError> {
    let mut chars = conninfo.chars().peekable();
    loop {
        while chars.next_if(|&c| is_space(c)).is_some() {}
        if chars.peek().is_none() {
            return Ok(());
        }

        let mut name = String::new();
        while let Some(c) = chars.next_if(|&c| c != '=' && !is_space(c)) {
            name.push(c);
        }
        while chars.next_if(|&c| is_space(c)).is_some() {}
        if chars.next_if_eq(&'=').is_none() {
            return Err(error(format!(
                "missing \"=\" after \"{name}\" in connection info string"
            )));
        }
        while chars.next_if(|&c| is_space(c)).is_some() {}

        // A backslash takes the next character literally, quoted or not.
        let mut value = String::new();
        if chars.next_if_eq(&'\'').is_some() {
            loop {
                match chars.next() {
                    None => {
                        return Err(error(
                            "unterminated quoted string in connection info string",
                        ))
                    }
                    Some('\'') => break,
                    Some('\\') => value.extend(chars.next()),
                    Some(c) => value.push(c),
                }
            }
        } else {
            while let Some(c) = chars.next() {
                match c {
                    c if is_space(c) => break,
                    '\\' => value.extend(chars.next()),
                    c => value.push(c),
                }
            }
        }
        raw.store(&name, value)?;
    }
}

/// The length of a `postgresql://` or `postgres://` prefix (case-sensitive, like libpq).
fn uri_prefix_len(conninfo: &str) -> Option<usize> {
    ["postgresql://", "postgres://"]
        .into_iter()
        .find(|prefix| conninfo.starts_with(prefix))
        .map(str::len)
}

/// The URI form (`conninfo_uri_parse_options`).
///
/// All delimiters are ASCII, so every byte index used to slice `uri` is a char boundary.
fn parse_uri(uri: &str, prefix_len: usize, raw: &mut Raw) -> Result<(), ConnInfoError> {
    let bytes = uri.as_bytes();
    let at = |i: usize| bytes.get(i).copied();
    let mut p = prefix_len;

    // `user[:password]@`, if an `@` comes before any `/`.
    let userinfo_end = bytes[p..]
        .iter()
        .position(|&b| b == b'@' || b == b'/')
        .map(|i| p + i)
        .filter(|&i| bytes[i] == b'@');
    // The user information as host errors show it, without the password.
    let mut shown_userinfo = String::new();
    if let Some(end) = userinfo_end {
        let userinfo = &uri[p..end];
        let (user, password) = match userinfo.split_once(':') {
            Some((user, password)) => (user, Some(password)),
            None => (userinfo, None),
        };
        if !user.is_empty() {
            raw.set(Keyword::User, uri_decode(user, false)?);
        }
        shown_userinfo = match password.filter(|p| !p.is_empty()) {
            Some(password) => {
                raw.set(Keyword::Password, uri_decode(password, true)?);
                format!("{user}:****@")
            }
            None => uri[p..=end].to_owned(),
        };
        p = end + 1;
    }
    // The URI as host errors show it: the query, which may hold a password, is left out.
    let shown = {
        let rest = &uri[p..];
        let (rest, elided) = match rest.split_once('?') {
            Some((netloc, _)) => (netloc, "?..."),
            None => (rest, ""),
        };
        format!("{}{shown_userinfo}{rest}{elided}", &uri[..prefix_len])
    };

    // `host[:port]` entries separated by commas; an IPv6 host is in brackets.
    let mut host_list = String::new();
    let mut port_list = String::new();
    let terminator = loop {
        if at(p) == Some(b'[') {
            let start = p + 1;
            let Some(len) = bytes[start..].iter().position(|&b| b == b']') else {
                return Err(error(format!(
                    "end of string reached when looking for matching \"]\" in IPv6 host \
                     address in URI: \"{shown}\""
                )));
            };
            if len == 0 {
                return Err(error(format!(
                    "IPv6 host address may not be empty in URI: \"{shown}\""
                )));
            }
            host_list.push_str(&uri[start..start + len]);
            p = start + len + 1;
            if let Some(c) = uri[p..].chars().next() {
                if !matches!(c, ':' | '/' | '?' | ',') {
                    return Err(error(format!(
                        "unexpected character \"{c}\" at position {} in URI (expected \":\" \
                         or \"/\"): \"{shown}\"",
                        p + 1
                    )));
                }
            }
        } else {
            let start = p;
            while at(p).is_some_and(|b| !matches!(b, b':' | b'/' | b'?' | b',')) {
                p += 1;
            }
            host_list.push_str(&uri[start..p]);
        }

        if at(p) == Some(b':') {
            p += 1;
            let start = p;
            while at(p).is_some_and(|b| !matches!(b, b'/' | b'?' | b',')) {
                p += 1;
            }
            port_list.push_str(&uri[start..p]);
        }

        if at(p) != Some(b',') {
            break at(p);
        }
        p += 1;
        host_list.push(',');
        port_list.push(',');
    };

    if !host_list.is_empty() {
        raw.set(Keyword::Host, uri_decode(&host_list, false)?);
    }
    if !port_list.is_empty() {
        raw.set(Keyword::Port, uri_decode(&port_list, false)?);
    }

    // `/dbname`; an empty one is not set, so that PGDATABASE still applies.
    let mut terminator = terminator;
    if terminator == Some(b'/') {
        p += 1;
        let start = p;
        while at(p).is_some_and(|b| b != b'?') {
            p += 1;
        }
        let dbname = &uri[start..p];
        if !dbname.is_empty() {
            raw.set(Keyword::Dbname, uri_decode(dbname, false)?);
        }
        terminator = at(p);
    }

    if terminator.is_some() {
        parse_uri_params(&uri[p + 1..], raw)?;
    }
    Ok(())
}

/// The `?key=value&...` part of a URI (`conninfo_uri_parse_params`).
fn parse_uri_params(params: &str, raw: &mut Raw) -> Result<(), ConnInfoError> {
    if params.is_empty() {
        return Ok(());
    }
    for param in params.strip_suffix('&').unwrap_or(params).split('&') {
        let Some((keyword, value)) = param.split_once('=') else {
            return Err(error(format!(
                "missing key/value separator \"=\" in URI query parameter: \"{param}\""
            )));
        };
        if value.contains('=') {
            return Err(error(format!(
                "extra key/value separator \"=\" in URI query parameter: \"{keyword}\""
            )));
        }

        let keyword = uri_decode(keyword, false)?;
        let value = uri_decode(value, is_secret(&keyword))?;
        let known = Keyword::lookup(&keyword);

        // JDBC compatibility, as in libpq.
        let (known, value) = match (keyword.as_str(), value.as_str()) {
            ("ssl", "true") => (Some(Keyword::Sslmode), "require".to_owned()),
            _ => (known, value),
        };
        let Some(known) = known else {
            return Err(error(format!("invalid URI query parameter: \"{keyword}\"")));
        };
        raw.set(known, value);
    }
    Ok(())
}

/// Keywords whose values must not appear in error messages.
fn is_secret(keyword: &str) -> bool {
    matches!(keyword, "password" | "sslpassword")
}

/// Percent-decodes one URI component (`conninfo_uri_decode`). Errors show the component,
/// unless it is `secret`.
fn uri_decode(value: &str, secret: bool) -> Result<String, ConnInfoError> {
    let fail = |problem: &str| {
        if secret {
            error(format!("{problem} in a password"))
        } else {
            error(format!("{problem}: \"{value}\""))
        }
    };

    let bytes = value.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'%' {
            decoded.push(bytes[i]);
            i += 1;
            continue;
        }
        let hex = |i: usize| bytes.get(i).and_then(|&b| (b as char).to_digit(16));
        let (Some(high), Some(low)) = (hex(i + 1), hex(i + 2)) else {
            return Err(fail("invalid percent-encoded token"));
        };
        // Two hex digits: at most 0xff.
        let byte = (high * 16 + low) as u8;
        if byte == 0 {
            return Err(fail("forbidden value %00 in percent-encoded value"));
        }
        decoded.push(byte);
        i += 3;
    }
    String::from_utf8(decoded).map_err(|_| fail("percent-encoded value is not valid UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fmt::Write;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// A compact rendering: the hosts, then `user`, `db`, and every field not at its default.
    /// A host is `host:port` or the socket path, followed by ` as <key>` when its
    /// password-file key differs from what precedes it.
    fn summary(info: &ConnInfo) -> String {
        let hosts: Vec<String> = info
            .hosts
            .iter()
            .map(|h| {
                let (target, name) = match &h.target {
                    Target::Tcp { host, port } => {
                        assert_eq!(*port, h.port);
                        (format!("{host}:{port}"), host.as_str())
                    }
                    Target::Unix { path } => {
                        assert!(path.ends_with(&format!("/.s.PGSQL.{}", h.port)), "{path}");
                        (path.clone(), "")
                    }
                };
                if h.host == name {
                    target
                } else {
                    format!("{target} as {}", h.host)
                }
            })
            .collect();
        let mut out = format!("{} user={} db={}", hosts.join(","), info.user, info.dbname);
        let optional = [
            ("password", &info.password),
            ("passfile", &info.passfile),
            ("appname", &info.application_name),
            ("fallback", &info.fallback_application_name),
            ("options", &info.options),
            ("encoding", &info.client_encoding),
        ];
        for (name, value) in optional {
            if let Some(value) = value {
                write!(out, " {name}={value}").unwrap();
            }
        }
        if let Some(timeout) = info.connect_timeout {
            write!(out, " timeout={timeout}").unwrap();
        }
        if info.sslmode != SslMode::Prefer {
            write!(out, " sslmode={}", info.sslmode).unwrap();
        }
        if info.target_session_attrs != "any" {
            write!(out, " tsa={}", info.target_session_attrs).unwrap();
        }
        out
    }

    const LOCAL: &str = "/var/run/postgresql/.s.PGSQL.5432 as localhost";

    fn check_accepted(cases: &[(&str, &str)]) {
        let env = env(&[("PGUSER", "alice")]);
        let mut failures = Vec::new();
        for (input, expected) in cases {
            let expected = expected.replace("LOCAL", LOCAL);
            match parse(input, &env) {
                Ok(info) if summary(&info) == expected => {}
                Ok(info) => failures.push(format!(
                    "{input:?}\n  got  {}\n  want {expected}",
                    summary(&info)
                )),
                Err(e) => failures.push(format!("{input:?}\n  error {e}\n  want  {expected}")),
            }
        }
        assert!(failures.is_empty(), "\n{}", failures.join("\n"));
    }

    fn check_rejected(cases: &[(&str, &str)]) {
        let env = env(&[("PGUSER", "alice")]);
        let mut failures = Vec::new();
        for (input, expected) in cases {
            match parse(input, &env) {
                Err(e) if e.to_string().contains(expected) => {}
                Err(e) => failures.push(format!("{input:?}\n  error {e}\n  want  {expected}")),
                Ok(info) => failures.push(format!(
                    "{input:?}\n  got   {}\n  want  {expected}",
                    summary(&info)
                )),
            }
        }
        assert!(failures.is_empty(), "\n{}", failures.join("\n"));
    }

    #[test]
    fn keyword_value_accepted() {
        check_accepted(&[
            ("", "LOCAL user=alice db=alice"),
            (" \t\n ", "LOCAL user=alice db=alice"),
            ("host=localhost", "localhost:5432 user=alice db=alice"),
            (
                "host = localhost  port =5433 dbname= mydb user=bob",
                "localhost:5433 user=bob db=mydb",
            ),
            ("host=h\tport=1\ndbname=d\r\n", "h:1 user=alice db=d"),
            (
                "dbname='my db' user='o\\'brien'",
                "LOCAL user=o'brien db=my db",
            ),
            (
                "password='it\\'s \\\\ x'",
                "LOCAL user=alice db=alice password=it's \\ x",
            ),
            (
                "password=a\\ b dbname=x\\'y",
                "LOCAL user=alice db=x'y password=a b",
            ),
            ("dbname=abc\\", "LOCAL user=alice db=abc"),
            ("dbname='a'user=bob", "LOCAL user=bob db=a"),
            ("dbname=''", "LOCAL user=alice db=alice"),
            // libpq skips blanks after "=", so the value is the next word.
            ("dbname= user=bob", "LOCAL user=alice db=user=bob"),
            ("user=''", "LOCAL user=alice db=alice"),
            ("user=bob", "LOCAL user=bob db=bob"),
            ("password=", "LOCAL user=alice db=alice"),
            ("host=a host=b", "b:5432 user=alice db=alice"),
            ("host='' port=''", "LOCAL user=alice db=alice"),
            (
                "dbname=数据库 user=ユーザー",
                "LOCAL user=ユーザー db=数据库",
            ),
            ("dbname='a=b c'", "LOCAL user=alice db=a=b c"),
            // Unix sockets.
            (
                "host=/tmp port=6000",
                "/tmp/.s.PGSQL.6000 as /tmp user=alice db=alice",
            ),
            (
                "host=/tmp/",
                "/tmp//.s.PGSQL.5432 as /tmp/ user=alice db=alice",
            ),
            (
                "host=@abstract",
                "@abstract/.s.PGSQL.5432 as @abstract user=alice db=alice",
            ),
            ("host=/var/run/postgresql", "LOCAL user=alice db=alice"),
            (
                "port=5433",
                "/var/run/postgresql/.s.PGSQL.5433 as localhost user=alice db=alice",
            ),
            // Ports.
            ("host=h port=' 5433 '", "h:5433 user=alice db=alice"),
            ("host=h port=+1", "h:1 user=alice db=alice"),
            ("host=h port=65535", "h:65535 user=alice db=alice"),
            // Multiple hosts.
            (
                "host=a,b,c port=5432,5433,5434",
                "a:5432,b:5433,c:5434 user=alice db=alice",
            ),
            ("host=a,b port=6000", "a:6000,b:6000 user=alice db=alice"),
            ("host=a,b port=,5433", "a:5432,b:5433 user=alice db=alice"),
            (
                "host=a,,/tmp",
                "a:5432,LOCAL,/tmp/.s.PGSQL.5432 as /tmp user=alice db=alice",
            ),
            // hostaddr.
            (
                "host=db.example.com hostaddr=192.0.2.1",
                "192.0.2.1:5432 as db.example.com user=alice db=alice",
            ),
            ("hostaddr=::1", "::1:5432 user=alice db=alice"),
            (
                "hostaddr=fe80::1%eth0",
                "fe80::1%eth0:5432 user=alice db=alice",
            ),
            (
                "host=/tmp hostaddr=127.0.0.1",
                "127.0.0.1:5432 as /tmp user=alice db=alice",
            ),
            (
                "host=a,b hostaddr=127.0.0.1,::1 port=1,2",
                "127.0.0.1:1 as a,::1:2 as b user=alice db=alice",
            ),
            (
                "host=a, hostaddr=,10.0.0.1",
                "a:5432,10.0.0.1:5432 user=alice db=alice",
            ),
            ("hostaddr=''", "LOCAL user=alice db=alice"),
            // Plain options.
            (
                "passfile=/home/a/.pgpass",
                "LOCAL user=alice db=alice passfile=/home/a/.pgpass",
            ),
            (
                "application_name=app fallback_application_name=fb",
                "LOCAL user=alice db=alice appname=app fallback=fb",
            ),
            (
                "fallback_application_name=fb",
                "LOCAL user=alice db=alice fallback=fb",
            ),
            (
                "application_name='' fallback_application_name=fb",
                "LOCAL user=alice db=alice",
            ),
            (
                "options='-c search_path=x'",
                "LOCAL user=alice db=alice options=-c search_path=x",
            ),
            (
                "client_encoding=UTF8",
                "LOCAL user=alice db=alice encoding=UTF8",
            ),
            (
                "client_encoding=LATIN1",
                "LOCAL user=alice db=alice encoding=LATIN1",
            ),
            ("connect_timeout=10", "LOCAL user=alice db=alice timeout=10"),
            ("connect_timeout=1", "LOCAL user=alice db=alice timeout=1"),
            (
                "connect_timeout=' 7 '",
                "LOCAL user=alice db=alice timeout=7",
            ),
            ("connect_timeout=0", "LOCAL user=alice db=alice"),
            ("connect_timeout=-5", "LOCAL user=alice db=alice"),
            (
                "target_session_attrs=read-write",
                "LOCAL user=alice db=alice tsa=read-write",
            ),
            (
                "target_session_attrs=prefer-standby",
                "LOCAL user=alice db=alice tsa=prefer-standby",
            ),
            ("target_session_attrs=any", "LOCAL user=alice db=alice"),
            // sslmode.
            (
                "sslmode=disable",
                "LOCAL user=alice db=alice sslmode=disable",
            ),
            ("sslmode=allow", "LOCAL user=alice db=alice sslmode=allow"),
            ("sslmode=prefer", "LOCAL user=alice db=alice"),
            (
                "sslmode=require",
                "LOCAL user=alice db=alice sslmode=require",
            ),
            (
                "sslmode=verify-ca",
                "LOCAL user=alice db=alice sslmode=verify-ca",
            ),
            (
                "sslmode=verify-full",
                "LOCAL user=alice db=alice sslmode=verify-full",
            ),
            (
                "sslrootcert=system",
                "LOCAL user=alice db=alice sslmode=verify-full",
            ),
            (
                "sslrootcert=system sslmode=verify-full",
                "LOCAL user=alice db=alice sslmode=verify-full",
            ),
            (
                "sslmode=require sslnegotiation=direct",
                "LOCAL user=alice db=alice sslmode=require",
            ),
            // Accepted and ignored.
            (
                "keepalives=1 keepalives_idle=30 keepalives_interval=10 keepalives_count=3 \
                 tcp_user_timeout=0 sslcert=a sslkey=b sslrootcert=c sslcrl=d sslcrldir=e \
                 sslpassword=f sslcompression=0 sslsni=1 requirepeer=postgres \
                 gssencmode=disable krbsrvname=postgres gsslib=gssapi channel_binding=prefer \
                 replication=false load_balance_hosts=random sslnegotiation=postgres \
                 sslcertmode=allow ssl_min_protocol_version=TLSv1.2 \
                 ssl_max_protocol_version=TLSv1.3 gssdelegation=0",
                "LOCAL user=alice db=alice",
            ),
            (
                "gssencmode=prefer channel_binding=disable load_balance_hosts=disable \
                 replication=0 sslsni='' sslcertmode=disable ssl_min_protocol_version=''",
                "LOCAL user=alice db=alice",
            ),
            ("replication=off", "LOCAL user=alice db=alice"),
            ("service=''", "LOCAL user=alice db=alice"),
        ]);
    }

    /// libpq's src/interfaces/libpq/t/001_uri.pl vectors, plus more.
    #[test]
    fn uri_accepted() {
        check_accepted(&[
            (
                "postgresql://uri-user:secret@host:12345/db",
                "host:12345 user=uri-user db=db password=secret",
            ),
            (
                "postgresql://uri-user@host:12345/db",
                "host:12345 user=uri-user db=db",
            ),
            (
                "postgresql://uri-user@host/db",
                "host:5432 user=uri-user db=db",
            ),
            ("postgresql://host:12345/db", "host:12345 user=alice db=db"),
            ("postgresql://host/db", "host:5432 user=alice db=db"),
            (
                "postgresql://uri-user@host:12345/",
                "host:12345 user=uri-user db=uri-user",
            ),
            (
                "postgresql://uri-user@host/",
                "host:5432 user=uri-user db=uri-user",
            ),
            ("postgresql://uri-user@", "LOCAL user=uri-user db=uri-user"),
            ("postgresql://host:12345/", "host:12345 user=alice db=alice"),
            ("postgresql://host:12345", "host:12345 user=alice db=alice"),
            ("postgresql://host/", "host:5432 user=alice db=alice"),
            ("postgresql://host", "host:5432 user=alice db=alice"),
            ("postgresql://", "LOCAL user=alice db=alice"),
            (
                "postgresql://?hostaddr=127.0.0.1",
                "127.0.0.1:5432 user=alice db=alice",
            ),
            (
                "postgresql://example.com?hostaddr=63.1.2.4",
                "63.1.2.4:5432 as example.com user=alice db=alice",
            ),
            ("postgresql://%68ost/", "host:5432 user=alice db=alice"),
            (
                "postgresql://host/db?user=uri-user",
                "host:5432 user=uri-user db=db",
            ),
            (
                "postgresql://host/db?user=uri-user&port=12345",
                "host:12345 user=uri-user db=db",
            ),
            (
                "postgresql://host/db?u%73er=someotheruser&port=12345",
                "host:12345 user=someotheruser db=db",
            ),
            (
                "postgresql://host:12345?user=uri-user",
                "host:12345 user=uri-user db=uri-user",
            ),
            (
                "postgresql://host?user=uri-user",
                "host:5432 user=uri-user db=uri-user",
            ),
            ("postgresql://host?", "host:5432 user=alice db=alice"),
            ("postgresql://[::1]:12345/db", "::1:12345 user=alice db=db"),
            ("postgresql://[::1]/db", "::1:5432 user=alice db=db"),
            (
                "postgresql://[2001:db8::1234]/",
                "2001:db8::1234:5432 user=alice db=alice",
            ),
            (
                "postgresql://[200z:db8::1234]/",
                "200z:db8::1234:5432 user=alice db=alice",
            ),
            ("postgresql://[::1]", "::1:5432 user=alice db=alice"),
            ("postgres://", "LOCAL user=alice db=alice"),
            ("postgres:///", "LOCAL user=alice db=alice"),
            ("postgres:///db", "LOCAL user=alice db=db"),
            ("postgresql:///db", "LOCAL user=alice db=db"),
            ("postgres://uri-user@/db", "LOCAL user=uri-user db=db"),
            (
                "postgres://?host=/path/to/socket/dir",
                "/path/to/socket/dir/.s.PGSQL.5432 as /path/to/socket/dir user=alice db=alice",
            ),
            ("postgres://@host", "host:5432 user=alice db=alice"),
            ("postgres://host:/", "host:5432 user=alice db=alice"),
            ("postgresql://host:/db", "host:5432 user=alice db=db"),
            (
                "postgres://:12345/",
                "/var/run/postgresql/.s.PGSQL.12345 as localhost user=alice db=alice",
            ),
            (
                "postgres://otheruser@?host=/no/such/directory",
                "/no/such/directory/.s.PGSQL.5432 as /no/such/directory \
                 user=otheruser db=otheruser",
            ),
            (
                "postgres://otheruser@/?host=/no/such/directory",
                "/no/such/directory/.s.PGSQL.5432 as /no/such/directory \
                 user=otheruser db=otheruser",
            ),
            (
                "postgres://otheruser@:12345?host=/no/such/socket/path",
                "/no/such/socket/path/.s.PGSQL.12345 as /no/such/socket/path \
                 user=otheruser db=otheruser",
            ),
            (
                "postgres://otheruser@:12345/db?host=/path/to/socket",
                "/path/to/socket/.s.PGSQL.12345 as /path/to/socket user=otheruser db=db",
            ),
            (
                "postgres://:12345/db?host=/path/to/socket",
                "/path/to/socket/.s.PGSQL.12345 as /path/to/socket user=alice db=db",
            ),
            (
                "postgres://:12345?host=/path/to/socket",
                "/path/to/socket/.s.PGSQL.12345 as /path/to/socket user=alice db=alice",
            ),
            (
                "postgres://%2Fvar%2Flib%2Fpostgresql/dbname",
                "/var/lib/postgresql/.s.PGSQL.5432 as /var/lib/postgresql user=alice db=dbname",
            ),
            (
                "postgresql://%2Fvar%2Frun%2Fpostgresql/db",
                "LOCAL user=alice db=db",
            ),
            (
                "postgresql://?host=/tmp",
                "/tmp/.s.PGSQL.5432 as /tmp user=alice db=alice",
            ),
            (
                "postgresql://%40abstract/db",
                "@abstract/.s.PGSQL.5432 as @abstract user=alice db=db",
            ),
            // Multiple hosts.
            (
                "postgresql://host1:123,host2:456/somedb?target_session_attrs=any&\
                 application_name=myapp",
                "host1:123,host2:456 user=alice db=somedb appname=myapp",
            ),
            ("postgresql://a:1,b/db", "a:1,b:5432 user=alice db=db"),
            ("postgresql://a,b:7/db", "a:5432,b:7 user=alice db=db"),
            // The port list is ",,7": one entry per host.
            (
                "postgresql://a,b,c:7",
                "a:5432,b:5432,c:7 user=alice db=alice",
            ),
            (
                "postgresql://[::1]:1,[::2]:2/db",
                "::1:1,::2:2 user=alice db=db",
            ),
            ("postgresql://a,/db", "a:5432,LOCAL user=alice db=db"),
            ("postgresql://a,b?port=1,2", "a:1,b:2 user=alice db=alice"),
            // User information.
            (
                "postgresql://user:p%40ss%3Aword@host/db",
                "host:5432 user=user db=db password=p@ss:word",
            ),
            (
                "postgresql://user:pass:word@host",
                "host:5432 user=user db=user password=pass:word",
            ),
            ("postgresql://user:@host", "host:5432 user=user db=user"),
            (
                "postgresql://:pw@host",
                "host:5432 user=alice db=alice password=pw",
            ),
            (
                "postgresql://u%C3%A9ser@h%C3%B4st/d%C3%A9",
                "hôst:5432 user=uéser db=dé",
            ),
            // Database names and parameters.
            ("postgresql://host/my%20db", "host:5432 user=alice db=my db"),
            ("postgresql://host/a/b", "host:5432 user=alice db=a/b"),
            (
                "postgresql://host/db?ssl=true",
                "host:5432 user=alice db=db sslmode=require",
            ),
            (
                "postgresql://host/db?sslmode=disable&connect_timeout=10&\
                 application_name=my%20app&options=-c%20geqo%3Doff",
                "host:5432 user=alice db=db appname=my app options=-c geqo=off timeout=10 \
                 sslmode=disable",
            ),
            (
                "postgresql://host/db?host=other",
                "other:5432 user=alice db=db",
            ),
            (
                "postgresql://host/db?dbname=other",
                "host:5432 user=alice db=other",
            ),
            ("postgresql://host/db?port=", "host:5432 user=alice db=db"),
            ("postgresql://host/db?port=1&", "host:1 user=alice db=db"),
            (
                "postgresql://host/db?password=a%26b",
                "host:5432 user=alice db=db password=a&b",
            ),
            (
                "postgresql://host/db?client_encoding=UTF8&target_session_attrs=read-only",
                "host:5432 user=alice db=db encoding=UTF8 tsa=read-only",
            ),
            (
                "postgresql://host/db?keepalives=1&sslcert=%2Ftmp%2Fc",
                "host:5432 user=alice db=db",
            ),
        ]);
    }

    #[test]
    fn rejected() {
        let long_socket_dir = format!("host=/{}", "d".repeat(100));
        check_rejected(&[
            ("foo=bar", "invalid connection option \"foo\""),
            ("Host=x", "invalid connection option \"Host\""),
            ("=x", "invalid connection option \"\""),
            (
                "host",
                "missing \"=\" after \"host\" in connection info string",
            ),
            (
                "host localhost",
                "missing \"=\" after \"host\" in connection info string",
            ),
            ("host=a port", "missing \"=\" after \"port\""),
            (
                "host='abc",
                "unterminated quoted string in connection info string",
            ),
            (
                "host='abc\\'",
                "unterminated quoted string in connection info string",
            ),
            ("host='", "unterminated quoted string"),
            ("dbname=a\0b", "NUL character"),
            (
                "postgre://",
                "missing \"=\" after \"postgre://\" in connection info string",
            ),
            (
                " postgresql://host",
                "missing \"=\" after \"postgresql://host\"",
            ),
            ("POSTGRESQL://host", "missing \"=\""),
            // Ports and hosts.
            ("port=x", "invalid port number: \"x\""),
            ("port=0", "invalid port number: \"0\""),
            ("port=65536", "invalid port number: \"65536\""),
            ("port=-1", "invalid port number: \"-1\""),
            ("port=5432x", "invalid port number: \"5432x\""),
            ("port=' '", "invalid port number: \" \""),
            ("port=99999999999", "invalid port number: \"99999999999\""),
            ("port=0x10", "invalid port number"),
            ("host=a,b port=1,x", "invalid port number: \"x\""),
            (
                "host=a,b port=1,2,3",
                "could not match 3 port numbers to 2 hosts",
            ),
            (
                "host=a,b,c port=1,2",
                "could not match 2 port numbers to 3 hosts",
            ),
            ("port=1,2", "could not match 2 port numbers to 1 hosts"),
            (
                "host=a,b hostaddr=127.0.0.1",
                "could not match 2 host names to 1 hostaddr values",
            ),
            (
                "hostaddr=localhost",
                "could not parse network address \"localhost\"",
            ),
            ("hostaddr=999.1.1.1", "could not parse network address"),
            ("hostaddr=127.0.0.1%eth0", "could not parse network address"),
            ("hostaddr=fe80::1%", "could not parse network address"),
            (&long_socket_dir, "is too long (maximum 107 bytes)"),
            // Enumerations and integers.
            ("sslmode=bogus", "invalid sslmode value: \"bogus\""),
            ("sslmode=", "invalid sslmode value: \"\""),
            ("sslmode=Disable", "invalid sslmode value: \"Disable\""),
            (
                "gssencmode=require",
                "gssencmode value \"require\" is not supported",
            ),
            ("gssencmode=bogus", "invalid gssencmode value: \"bogus\""),
            (
                "channel_binding=require",
                "channel_binding value \"require\" is not supported",
            ),
            (
                "channel_binding=yes",
                "invalid channel_binding value: \"yes\"",
            ),
            (
                "replication=true",
                "replication connections are not supported",
            ),
            (
                "replication=database",
                "replication connections are not supported",
            ),
            (
                "load_balance_hosts=yes",
                "invalid load_balance_hosts value: \"yes\"",
            ),
            (
                "target_session_attrs=master",
                "invalid target_session_attrs value: \"master\"",
            ),
            ("service=foo", "service files are not supported"),
            (
                "require_auth=scram-sha-256",
                "\"require_auth\" is not supported",
            ),
            (
                "connect_timeout=abc",
                "invalid integer value \"abc\" for connection option \"connect_timeout\"",
            ),
            (
                "connect_timeout=",
                "invalid integer value \"\" for connection option \"connect_timeout\"",
            ),
            (
                "connect_timeout=99999999999",
                "invalid integer value \"99999999999\"",
            ),
            ("connect_timeout=1.5", "invalid integer value \"1.5\""),
            (
                "keepalives=yes",
                "invalid integer value \"yes\" for connection option \"keepalives\"",
            ),
            (
                "keepalives_idle=",
                "invalid integer value \"\" for connection option \"keepalives_idle\"",
            ),
            (
                "tcp_user_timeout=1s",
                "connection option \"tcp_user_timeout\"",
            ),
            ("sslsni=true", "connection option \"sslsni\""),
            (
                "sslrootcert=system sslmode=require",
                "weak sslmode \"require\" may not be used with sslrootcert=system \
                 (use \"verify-full\")",
            ),
            (
                "sslnegotiation=direct",
                "weak sslmode \"prefer\" may not be used with sslnegotiation=direct",
            ),
            (
                "sslnegotiation=bogus",
                "invalid sslnegotiation value: \"bogus\"",
            ),
            (
                "sslcertmode=require",
                "sslcertmode value \"require\" is not supported",
            ),
            (
                "ssl_min_protocol_version=TLSv1.3 ssl_max_protocol_version=TLSv1.2",
                "invalid SSL protocol version range",
            ),
            (
                "ssl_min_protocol_version=SSLv3",
                "invalid ssl_min_protocol_version value: \"SSLv3\"",
            ),
            // URIs (libpq's vectors first).
            (
                "postgres://[::1",
                "end of string reached when looking for matching \"]\" in IPv6 host address \
                 in URI: \"postgres://[::1\"",
            ),
            (
                "postgres://[]",
                "IPv6 host address may not be empty in URI: \"postgres://[]\"",
            ),
            (
                "postgres://[::1]z",
                "unexpected character \"z\" at position 17 in URI (expected \":\" or \"/\"): \
                 \"postgres://[::1]z\"",
            ),
            (
                "postgresql://host?zzz",
                "missing key/value separator \"=\" in URI query parameter: \"zzz\"",
            ),
            (
                "postgresql://host?value1&value2",
                "missing key/value separator \"=\" in URI query parameter: \"value1\"",
            ),
            (
                "postgresql://host?key=key=value",
                "extra key/value separator \"=\" in URI query parameter: \"key\"",
            ),
            (
                "postgres://host?dbname=%XXfoo",
                "invalid percent-encoded token: \"%XXfoo\"",
            ),
            (
                "postgresql://a%00b",
                "forbidden value %00 in percent-encoded value: \"a%00b\"",
            ),
            ("postgresql://%zz", "invalid percent-encoded token: \"%zz\""),
            ("postgresql://%1", "invalid percent-encoded token: \"%1\""),
            ("postgresql://%", "invalid percent-encoded token: \"%\""),
            (
                "postgresql://host/db?u%7aer=someotheruser&port=12345",
                "invalid URI query parameter: \"uzer\"",
            ),
            (
                "postgresql://host?uzer=",
                "invalid URI query parameter: \"uzer\"",
            ),
            (
                "postgresql://host?ssl=false",
                "invalid URI query parameter: \"ssl\"",
            ),
            ("postgresql://host?=x", "invalid URI query parameter: \"\""),
            (
                "postgresql://host?port=1&&",
                "missing key/value separator \"=\" in URI query parameter: \"\"",
            ),
            (
                "postgresql://host?%zz=1",
                "invalid percent-encoded token: \"%zz\"",
            ),
            ("postgresql://host:x/db", "invalid port number: \"x\""),
            (
                "postgresql://host:123456",
                "invalid port number: \"123456\"",
            ),
            ("postgresql://host:0", "invalid port number: \"0\""),
            (
                "postgresql://a:1,b:2,c/db?port=1,2",
                "could not match 2 port numbers to 3 hosts",
            ),
            (
                "postgresql://h%FF/db",
                "percent-encoded value is not valid UTF-8: \"h%FF\"",
            ),
            (
                "postgresql://host/db?sslmode=bogus",
                "invalid sslmode value: \"bogus\"",
            ),
            (
                "postgresql://host/db?service=x",
                "service files are not supported",
            ),
            ("postgresql://[::1]:5432x", "invalid port number: \"5432x\""),
        ]);
    }

    #[test]
    fn user_is_required() {
        let err = parse("host=h", &[]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "no user name given (the host must supply PGUSER)"
        );
        assert!(parse("user=''", &env(&[("PGUSER", "")])).is_err());
        assert!(parse("postgresql://host/db", &env(&[("PGHOST", "x")])).is_err());
        assert_eq!(parse("user=bob", &[]).unwrap().user, "bob");
    }

    #[test]
    fn environment() {
        let full = env(&[
            ("PGHOST", "envhost1,envhost2"),
            ("PGPORT", "6000"),
            ("PGDATABASE", "envdb"),
            ("PGUSER", "envuser"),
            ("PGPASSWORD", "envpass"),
            ("PGPASSFILE", "/env/pgpass"),
            ("PGOPTIONS", "-c x=y"),
            ("PGAPPNAME", "envapp"),
            ("PGSSLMODE", "disable"),
            ("PGCONNECT_TIMEOUT", "15"),
            ("PGCLIENTENCODING", "UTF8"),
            ("PGTARGETSESSIONATTRS", "read-write"),
            ("PGGSSENCMODE", "disable"),
            ("PATH", "/usr/bin"),
            ("HOME", "/root"),
        ]);
        let info = parse("", &full).unwrap();
        assert_eq!(
            summary(&info),
            "envhost1:6000,envhost2:6000 user=envuser db=envdb password=envpass \
             passfile=/env/pgpass appname=envapp options=-c x=y encoding=UTF8 timeout=15 \
             sslmode=disable tsa=read-write"
        );

        // Explicit values win.
        let info = parse(
            "host=h port=1 dbname=d user=u password=p passfile=f options=o application_name=a \
             sslmode=allow connect_timeout=3 client_encoding=SQL_ASCII target_session_attrs=any",
            &full,
        )
        .unwrap();
        assert_eq!(
            summary(&info),
            "h:1 user=u db=d password=p passfile=f appname=a options=o encoding=SQL_ASCII \
             timeout=3 sslmode=allow"
        );
        let info = parse("postgresql://u:p@h:1/d?sslmode=allow", &full).unwrap();
        assert_eq!(info.user, "u");
        assert_eq!(info.password.as_deref(), Some("p"));
        assert_eq!(info.dbname, "d");

        // An empty URI database name leaves PGDATABASE in force; an empty keyword does not.
        let db_env = env(&[("PGUSER", "alice"), ("PGDATABASE", "envdb")]);
        assert_eq!(
            parse("postgresql://host/", &db_env).unwrap().dbname,
            "envdb"
        );
        assert_eq!(parse("dbname=''", &db_env).unwrap().dbname, "alice");

        // hostaddr from the environment, with the host name kept for the password file.
        let info = parse(
            "host=db.example.com",
            &env(&[("PGUSER", "alice"), ("PGHOSTADDR", "10.1.2.3")]),
        )
        .unwrap();
        assert_eq!(
            summary(&info),
            "10.1.2.3:5432 as db.example.com user=alice db=alice"
        );

        // The last of repeated variables counts.
        let info = parse("", &env(&[("PGUSER", "a"), ("PGUSER", "b")])).unwrap();
        assert_eq!(info.user, "b");

        // PGREQUIRESSL, deprecated, below PGSSLMODE.
        let info = parse("", &env(&[("PGUSER", "a"), ("PGREQUIRESSL", "1")])).unwrap();
        assert_eq!(info.sslmode, SslMode::Require);
        let info = parse(
            "",
            &env(&[
                ("PGUSER", "a"),
                ("PGREQUIRESSL", "1"),
                ("PGSSLMODE", "allow"),
            ]),
        )
        .unwrap();
        assert_eq!(info.sslmode, SslMode::Allow);
        let info = parse("", &env(&[("PGUSER", "a"), ("PGREQUIRESSL", "0")])).unwrap();
        assert_eq!(info.sslmode, SslMode::Prefer);

        // Environment values are validated like conninfo values.
        for (name, value, expected) in [
            ("PGSERVICE", "svc", "service files are not supported"),
            (
                "PGGSSENCMODE",
                "require",
                "gssencmode value \"require\" is not supported",
            ),
            (
                "PGCHANNELBINDING",
                "require",
                "channel_binding value \"require\"",
            ),
            ("PGPORT", "x", "invalid port number: \"x\""),
            ("PGSSLMODE", "bogus", "invalid sslmode value: \"bogus\""),
            (
                "PGCONNECT_TIMEOUT",
                "soon",
                "invalid integer value \"soon\"",
            ),
            ("PGREQUIREAUTH", "password", "require_auth"),
        ] {
            let err = parse("", &env(&[("PGUSER", "a"), (name, value)])).unwrap_err();
            assert!(err.to_string().contains(expected), "{name}={value}: {err}");
        }
        // ... unless the conninfo overrides them.
        assert!(parse(
            "sslmode=disable",
            &env(&[("PGUSER", "a"), ("PGSSLMODE", "bogus")])
        )
        .is_ok());
    }

    #[test]
    fn host_fields() {
        let info = parse(
            "host=/tmp,db.example.com port=5000,5001",
            &env(&[("PGUSER", "a")]),
        )
        .unwrap();
        assert_eq!(
            info.hosts,
            vec![
                Host {
                    target: Target::Unix {
                        path: "/tmp/.s.PGSQL.5000".to_owned()
                    },
                    host: "/tmp".to_owned(),
                    port: 5000,
                },
                Host {
                    target: Target::Tcp {
                        host: "db.example.com".to_owned(),
                        port: 5001
                    },
                    host: "db.example.com".to_owned(),
                    port: 5001,
                },
            ]
        );
        let info = parse("", &env(&[("PGUSER", "a")])).unwrap();
        assert_eq!(
            info.hosts,
            vec![Host {
                target: Target::Unix {
                    path: "/var/run/postgresql/.s.PGSQL.5432".to_owned()
                },
                host: "localhost".to_owned(),
                port: 5432,
            }]
        );
        assert_eq!(info.sslmode.as_str(), "prefer");
        assert_eq!(info.target_session_attrs, "any");
    }

    #[test]
    fn passwords_stay_out_of_messages_and_debug() {
        let env = env(&[("PGUSER", "alice")]);
        for input in [
            "postgresql://user:s%zzecret@host",
            "postgresql://user:s%00ecret@host",
            "postgresql://user:s%FFecret@host",
            "postgresql://user:secret@[::1",
            "postgresql://user:secret@[]",
            "postgresql://[::1?password=secret",
            "postgresql://[::1]x?password=secret",
            "postgresql://u:p@[::1]x/db?sslpassword=secret",
            "postgresql://user:secret@[::1]x",
            "postgresql://user:secret@host:badport",
            "postgresql://user:secret@host?bogus=1",
            "postgresql://host?password=sec%zzret",
            "postgresql://host?sslpassword=sec%zzret",
            "postgresql://host?password=secret=x",
            "password=secret port=x",
            "password='secret' foo=bar",
            "password=secret sslmode=bogus",
        ] {
            let err = parse(input, &env).unwrap_err().to_string();
            assert!(!err.contains("ecret"), "{input}: {err}");
        }
        let err = parse("postgresql://user:s%zzecret@host", &env).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid percent-encoded token in a password"
        );
        let err = parse("postgresql://user:secret@[::1", &env).unwrap_err();
        assert!(
            err.to_string().contains("\"postgresql://user:****@[::1\""),
            "{err}"
        );
        let err = parse("postgresql://user@[::1]x/db?password=secret", &env).unwrap_err();
        let expected = "at position 24 in URI (expected \":\" or \"/\"): \
                        \"postgresql://user@[::1]x/db?...\"";
        assert!(err.to_string().contains(expected), "{err}");

        let info = parse("password=secret", &env).unwrap();
        assert_eq!(info.password.as_deref(), Some("secret"));
        let debug = format!("{info:?}");
        assert!(!debug.contains("secret"), "{debug}");
        assert!(debug.contains("<redacted>"), "{debug}");
    }

    #[test]
    fn keyword_table_is_consistent() {
        for (i, keyword) in Keyword::ALL.into_iter().enumerate() {
            assert_eq!(
                keyword as usize, i,
                "{keyword:?} is out of order in Keyword::ALL"
            );
            assert_eq!(Keyword::lookup(keyword.name()), Some(keyword));
        }
    }

    #[test]
    fn parse_int_is_strtol_like() {
        for (input, expected) in [
            ("0", Some(0)),
            ("42", Some(42)),
            (" \t42 \n", Some(42)),
            ("+7", Some(7)),
            ("-7", Some(-7)),
            ("2147483647", Some(i32::MAX)),
            ("-2147483648", Some(i32::MIN)),
            ("2147483648", None),
            ("-2147483649", None),
            ("99999999999999999999999999", None),
            ("", None),
            (" ", None),
            ("-", None),
            ("+-1", None),
            ("1 2", None),
            ("1x", None),
            ("0x1", None),
            ("١", None),
        ] {
            assert_eq!(parse_int(input), expected, "{input:?}");
        }
    }

    /// A tiny deterministic generator (xorshift), for reproducible fuzzing without a crate.
    struct XorShift(u64);

    impl XorShift {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
    }

    #[test]
    fn garbage_never_panics() {
        let env = env(&[("PGUSER", "alice"), ("PGHOST", "h1,h2"), ("PGPORT", "1,2")]);
        let tricky = [
            "postgresql://us%40er:pa%3Ass@[::1]:5432,[fe80::1]:x,host:/d%2Fb?host=%2Ftmp&\
             port=1&ssl=true&sslmode=verify-full",
            "postgres://[::1]z,[]?a=b=c&&=&%",
            "postgres://a:b@c:d@e/f/g?h=i&j",
            "host='a\\'b' port = 5432,5433 hostaddr=::1,127.0.0.1 dbname=\\ x user=\\",
            "host=/tmp,@abs,,x port=,1,65535 connect_timeout=-2147483649 sslrootcert=system",
            "postgresql://é:ü@ñ:1/ø?application_name=%C3%A9&options=%",
            "service=x replication=database gssencmode=require keepalives=' 1 '",
        ];
        for input in tricky {
            for end in 0..=input.len() {
                if let Some(prefix) = input.get(..end) {
                    let _ = parse(prefix, &env);
                    let _ = parse(prefix, &[]);
                }
                if let Some(suffix) = input.get(end..) {
                    let _ = parse(suffix, &env);
                }
            }
        }

        let alphabet: Vec<char> = "=' \\,:/@?&%[]\t\0aAbz019hostpgéи%2F".chars().collect();
        let keywords = [
            "host",
            "port",
            "hostaddr",
            "dbname",
            "user",
            "sslmode",
            "postgresql://",
            "postgres://",
        ];
        let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
        for _ in 0..20_000 {
            let mut input = String::new();
            let len = rng.next() % 40;
            for _ in 0..len {
                if rng.next().is_multiple_of(8) {
                    input.push_str(keywords[(rng.next() % keywords.len() as u64) as usize]);
                } else {
                    input.push(alphabet[(rng.next() % alphabet.len() as u64) as usize]);
                }
            }
            let _ = parse(&input, &env);
        }
    }
}
