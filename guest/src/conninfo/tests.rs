//! Tests of the conninfo parser: both forms, the environment, defaults and every error.

use super::keywords::Keyword;
use super::resolve::parse_int;
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
        // Accepted: valid values of every keyword the session uses or may leave to libpq.
        (
            "keepalives=1 keepalives_idle=30 keepalives_interval=10 keepalives_count=3 \
             tcp_user_timeout=0 sslcert=a sslkey=b sslrootcert=c sslcrl=d \
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
            "require_auth=scram-sha-256,!md5",
            "negative require_auth method \"!md5\" cannot be mixed with non-negative methods",
        ),
        (
            "require_auth=!md5,password",
            "require_auth method \"password\" cannot be mixed with negative methods",
        ),
        (
            "require_auth=md5,md5",
            "require_auth method \"md5\" is specified more than once",
        ),
        (
            "require_auth=kerberos",
            "invalid require_auth value: \"kerberos\"",
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
            "always",
            "invalid channel_binding value: \"always\"",
        ),
        ("PGPORT", "x", "invalid port number: \"x\""),
        ("PGSSLMODE", "bogus", "invalid sslmode value: \"bogus\""),
        (
            "PGCONNECT_TIMEOUT",
            "soon",
            "invalid integer value \"soon\"",
        ),
        ("PGREQUIREAUTH", "password,!md5", "require_auth"),
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
fn tls_and_auth_settings() {
    use super::{AuthMethod, ChannelBinding};
    let info = parse(
        "host=h channel_binding=require require_auth=!password,!md5 keepalives_idle=30 \
         keepalives_count=0",
        &env(&[("PGUSER", "a")]),
    )
    .unwrap();
    assert_eq!(info.channel_binding, ChannelBinding::Require);
    let require = info.require_auth.as_ref().unwrap();
    assert!(!require.allows(AuthMethod::Password));
    assert!(!require.allows(AuthMethod::Md5));
    assert!(require.allows(AuthMethod::ScramSha256));
    assert!(require.allows(AuthMethod::None));
    assert!(info.keepalives.enabled);
    assert_eq!(info.keepalives.idle, Some(30));
    // Zero means the system's default, as libpq.
    assert_eq!(info.keepalives.count, None);
    let info = parse("host=h keepalives=0", &env(&[("PGUSER", "a")])).unwrap();
    assert!(!info.keepalives.enabled);
    let info = parse(
        "host=h",
        &env(&[("PGUSER", "a"), ("PGREQUIREAUTH", "none,md5")]),
    )
    .unwrap();
    let require = info.require_auth.as_ref().unwrap();
    assert!(require.allows(AuthMethod::None) && require.allows(AuthMethod::Md5));
    assert!(!require.allows(AuthMethod::ScramSha256));
    assert_eq!(info.channel_binding, ChannelBinding::Prefer);
    // The key's password never shows in Debug output.
    let info = parse("host=h sslpassword=hunter2", &env(&[("PGUSER", "a")])).unwrap();
    assert!(!format!("{info:?}").contains("hunter2"));
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
