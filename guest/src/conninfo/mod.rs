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
//!
//! Modules:
//! - `keyvalue`: the keyword/value form, read into raw keyword values;
//! - `uri`: the URI form, read into raw keyword values;
//! - `keywords`: the keywords this parser accepts and the environment variables behind them;
//! - `resolve`: the environment and libpq's defaults applied, values validated: a [`ConnInfo`];
//! - `supported`: what the session requires on top ([`parse_supported`]: no TLS, UTF8 only);
//! - `tests` (test builds only).

mod keyvalue;
mod keywords;
mod resolve;
mod supported;
mod uri;

use std::fmt;

use resolve::Raw;

pub use supported::parse_supported;

/// The port used when the conninfo names none.
pub const DEFAULT_PORT: u16 = 5432;

/// The Unix socket directory used when the conninfo names no host (Debian's libpq default).
pub const DEFAULT_SOCKET_DIR: &str = "/var/run/postgresql";

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
    /// `load_balance_hosts=random`: try the hosts in a random order.
    pub load_balance_random: bool,
    pub client_encoding: Option<String>,
    /// The TLS settings (files are paths; the host reads them).
    pub tls: TlsSettings,
    /// `channel_binding` (SCRAM-SHA-256-PLUS over TLS).
    pub channel_binding: ChannelBinding,
    /// `require_auth` (libpq 16): the authentication methods the server may ask for.
    pub require_auth: Option<RequireAuth>,
    /// TCP keepalives for the host to set on the socket.
    pub keepalives: Keepalives,
}

/// libpq's `channel_binding`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ChannelBinding {
    Disable,
    /// Bind when TLS is in use and the server offers SCRAM-SHA-256-PLUS (the default).
    #[default]
    Prefer,
    /// Refuse any authentication but SCRAM-SHA-256-PLUS over TLS.
    Require,
}

/// TCP keepalive settings (`keepalives`, `keepalives_idle`, `_interval`, `_count`): `None`
/// leaves the operating system's default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Keepalives {
    pub enabled: bool,
    pub idle: Option<u32>,
    pub interval: Option<u32>,
    pub count: Option<u32>,
}

impl Default for Keepalives {
    fn default() -> Self {
        Keepalives {
            enabled: true,
            idle: None,
            interval: None,
            count: None,
        }
    }
}

/// An authentication method as `require_auth` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    Password,
    Md5,
    Gss,
    Sspi,
    ScramSha256,
    /// No authentication at all (the server accepts the connection without asking).
    None,
}

impl AuthMethod {
    fn parse(name: &str) -> Option<AuthMethod> {
        Some(match name {
            "password" => AuthMethod::Password,
            "md5" => AuthMethod::Md5,
            "gss" => AuthMethod::Gss,
            "sspi" => AuthMethod::Sspi,
            "scram-sha-256" => AuthMethod::ScramSha256,
            "none" => AuthMethod::None,
            _ => return None,
        })
    }

    /// Why a server asking for this method fails the requirement, in libpq's words.
    pub fn requested(self) -> &'static str {
        match self {
            AuthMethod::Password => "server requested a cleartext password",
            AuthMethod::Md5 => "server requested a hashed password",
            AuthMethod::Gss => "server requested GSSAPI authentication",
            AuthMethod::Sspi => "server requested SSPI authentication",
            AuthMethod::ScramSha256 => "server requested SASL authentication",
            AuthMethod::None => "server did not complete authentication",
        }
    }
}

/// libpq 16's `require_auth`: a comma-separated list of methods, all allowed, or all prefixed
/// with `!` and all refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequireAuth {
    /// The value as given (error messages quote it).
    pub text: String,
    allowed: Vec<AuthMethod>,
    negated: bool,
}

impl RequireAuth {
    fn parse(text: &str) -> Result<RequireAuth, String> {
        let mut allowed = Vec::new();
        let mut negated = None;
        for item in text.split(',') {
            let (neg, name) = match item.strip_prefix('!') {
                Some(name) => (true, name),
                None => (false, item),
            };
            match negated {
                Some(false) if neg => {
                    return Err(format!(
                        "negative require_auth method \"{item}\" cannot be mixed with \
                         non-negative methods"
                    ))
                }
                Some(true) if !neg => {
                    return Err(format!(
                        "require_auth method \"{item}\" cannot be mixed with negative methods"
                    ))
                }
                _ => negated = Some(neg),
            }
            let method = AuthMethod::parse(name)
                .ok_or_else(|| format!("invalid require_auth value: \"{name}\""))?;
            if allowed.contains(&method) {
                return Err(format!(
                    "require_auth method \"{name}\" is specified more than once"
                ));
            }
            allowed.push(method);
        }
        Ok(RequireAuth {
            text: text.to_owned(),
            allowed,
            negated: negated.unwrap_or(false),
        })
    }

    /// Whether the server may use `method`.
    pub fn allows(&self, method: AuthMethod) -> bool {
        self.allowed.contains(&method) != self.negated
    }
}

/// libpq's TLS keywords, as given (paths unresolved: `~/.postgresql/...` defaults are the
/// session's, which knows the host's home directory).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct TlsSettings {
    pub rootcert: Option<String>,
    pub cert: Option<String>,
    pub key: Option<String>,
    pub password: Option<String>,
    pub crl: Option<String>,
    /// sslsni (default on).
    pub sni: bool,
    pub min_protocol_version: Option<String>,
    pub max_protocol_version: Option<String>,
    /// sslnegotiation=direct.
    pub direct: bool,
    /// Offer a client certificate (sslcertmode other than `disable`).
    pub send_cert: bool,
}

impl fmt::Debug for TlsSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsSettings")
            .field("rootcert", &self.rootcert)
            .field("cert", &self.cert)
            .field("key", &self.key)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("crl", &self.crl)
            .field("sni", &self.sni)
            .field("min_protocol_version", &self.min_protocol_version)
            .field("max_protocol_version", &self.max_protocol_version)
            .field("direct", &self.direct)
            .field("send_cert", &self.send_cert)
            .finish()
    }
}

impl ConnInfo {
    /// The time allowed per connection attempt, in milliseconds, as libpq applies
    /// `connect_timeout`: none when unset or not positive, and never less than 2 seconds.
    pub fn connect_timeout_ms(&self) -> Option<u32> {
        self.connect_timeout
            .map(|seconds| seconds.max(2).saturating_mul(1000))
    }
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
            .field("load_balance_random", &self.load_balance_random)
            .field("client_encoding", &self.client_encoding)
            .field("tls", &self.tls)
            .field("channel_binding", &self.channel_binding)
            .field("require_auth", &self.require_auth)
            .field("keepalives", &self.keepalives)
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

/// A target as connection errors show it: `host:port`, `[v6addr]:port`, or the socket path.
pub fn describe_target(target: &Target) -> String {
    match target {
        Target::Tcp { host, port } if host.contains(':') => format!("[{host}]:{port}"),
        Target::Tcp { host, port } => format!("{host}:{port}"),
        Target::Unix { path } => path.clone(),
    }
}

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
    match uri::prefix_len(conninfo) {
        Some(prefix) => uri::parse(conninfo, prefix, &mut raw)?,
        None => keyvalue::parse(conninfo, &mut raw)?,
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

#[cfg(test)]
mod tests;
