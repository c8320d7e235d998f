//! What every cluster is set up with: the login roles, pg_hba.conf, the postgresql.conf
//! settings, and the SQL that creates the roles and the test database.
//!
//! This is the union of what the integration tests, the Python tests, the CLI's demo and the
//! benchmarks need; callers add to it with [`ClusterOptions`](crate::ClusterOptions).

/// The database the tests connect to (created at start-up; `postgres` exists too).
pub const DBNAME: &str = "wasmpg_test";
/// The bootstrap superuser (`initdb -U postgres`). Trusted over the Unix socket and over TCP.
pub const SUPERUSER: &str = "postgres";

/// A login role created at start-up, with the pg_hba.conf method that guards it over TCP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Role {
    pub name: &'static str,
    /// The role's password; `None` for the trusted role.
    pub password: Option<&'static str>,
    /// The pg_hba.conf method for `host` connections from 127.0.0.1.
    pub method: &'static str,
}

/// `trust`: no password asked.
pub const TRUST_USER: Role = Role {
    name: "trust_user",
    password: None,
    method: "trust",
};
/// `password`: cleartext password (stored as a SCRAM verifier; `password` works with any storage).
pub const PW_USER: Role = Role {
    name: "pw_user",
    password: Some("pw_secret"),
    method: "password",
};
/// `md5`, with an MD5-stored password.
pub const MD5_USER: Role = Role {
    name: "md5_user",
    password: Some("md5_secret"),
    method: "md5",
};
/// `scram-sha-256`, with a SCRAM-stored password.
pub const SCRAM_USER: Role = Role {
    name: "scram_user",
    password: Some("scram_secret"),
    method: "scram-sha-256",
};
/// Every role above, for table-driven tests.
pub const AUTH_ROLES: [Role; 4] = [TRUST_USER, PW_USER, MD5_USER, SCRAM_USER];

/// initdb's arguments after `-D <data>`.
pub(crate) const INITDB_ARGS: &[&str] = &[
    "-U",
    SUPERUSER,
    "--auth=trust",
    "-E",
    "UTF8",
    "--locale=C",
    "--no-sync",
];

/// pg_hba.conf after the caller's lines: every Unix-socket connection is trusted; over TCP from
/// 127.0.0.1 each role has its method, and anyone else must use SCRAM.
pub(crate) const PG_HBA: &str = "\
local all all                     trust
local replication all               trust
host  replication postgres 127.0.0.1/32 trust
host  all postgres   127.0.0.1/32 trust
host  all trust_user 127.0.0.1/32 trust
host  all pw_user    127.0.0.1/32 password
host  all md5_user   127.0.0.1/32 md5
host  all scram_user 127.0.0.1/32 scram-sha-256
host  all all        127.0.0.1/32 scram-sha-256
";

/// postgresql.conf settings after the port and the socket directory; the caller's settings
/// follow (a later line wins).
pub(crate) const SERVER_CONF: &[(&str, &str)] = &[
    ("listen_addresses", "'127.0.0.1'"),
    ("max_connections", "120"),
    // Two-phase commit (PREPARE TRANSACTION): the Python package's tpc_* tests.
    ("max_prepared_transactions", "10"),
    ("fsync", "off"),
    ("synchronous_commit", "off"),
    ("full_page_writes", "off"),
    ("shared_buffers", "16MB"),
    ("log_connections", "on"),
    ("log_line_prefix", "'%m [%p] %q%u@%d '"),
];

/// Run in database `postgres` once the server is up.
pub(crate) const SETUP_SQL: &str = "
CREATE ROLE trust_user LOGIN;
CREATE ROLE cert_user LOGIN;
SET password_encryption = 'scram-sha-256';
CREATE ROLE pw_user LOGIN PASSWORD 'pw_secret';
CREATE ROLE scram_user LOGIN PASSWORD 'scram_secret';
SET password_encryption = 'md5';
CREATE ROLE md5_user LOGIN PASSWORD 'md5_secret';
CREATE DATABASE wasmpg_test OWNER postgres;
GRANT ALL ON DATABASE wasmpg_test TO PUBLIC, trust_user, pw_user, md5_user, scram_user, cert_user;
";

/// Run in database `wasmpg_test` after [`SETUP_SQL`].
pub(crate) const SETUP_DB_SQL: &str = "
GRANT ALL ON SCHEMA public TO PUBLIC;
";

/// Quotes a conninfo value when it needs it (libpq rules: single quotes, `\` escapes).
pub fn conninfo_quote(value: &str) -> String {
    if !value.is_empty()
        && !value
            .chars()
            .any(|c| c.is_whitespace() || c == '\'' || c == '\\')
    {
        return value.to_owned();
    }
    let mut out = String::with_capacity(value.len() + 2);
    out.push('\'');
    for c in value.chars() {
        if c == '\'' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('\'');
    out
}

/// A path as a postgresql.conf string literal body.
pub(crate) fn conf_escape(path: &std::path::Path) -> String {
    path.to_string_lossy()
        .replace('\\', "\\\\")
        .replace('\'', "''")
}
