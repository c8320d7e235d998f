//! Conninfo forms against the real server: URIs with percent-encoding, quoted key=value values,
//! passfiles, multi-host fallback. (PG* environment variables: conninfo_env.rs, a binary of its
//! own because the environment is process-global.)

use std::os::unix::fs::PermissionsExt;

use wasmpg_tests::*;

/// A role with a password full of characters that need escaping, created with psql.
fn role_with_password(password: &str) -> String {
    let role = unique_name("uri_user");
    cluster().psql(&format!(
        "SET password_encryption = 'scram-sha-256'; CREATE ROLE {role} LOGIN PASSWORD {}",
        sql_literal(password)
    ));
    role
}

/// Percent-encodes every byte outside the URI unreserved set.
fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn current_user(conninfo: &str) -> String {
    let mut c = connect(conninfo);
    c.query_one("SELECT current_user::text", &[])
        .unwrap()
        .get(0)
}

#[test]
fn uri_with_percent_encoded_password() {
    let cluster = cluster();
    let password = "p@ss:w/rd %?&=#+ ü✓";
    let role = role_with_password(password);
    let uri = format!(
        "postgresql://{role}:{}@127.0.0.1:{}/{DBNAME}",
        percent_encode(password),
        cluster.port
    );
    assert_eq!(current_user(&uri), role);
    // The `postgres://` scheme too, and a wrong password really is checked.
    let uri = format!(
        "postgres://{role}:wrong@127.0.0.1:{}/{DBNAME}",
        cluster.port
    );
    let err = expect_err(driver().connect(&uri), "wrong password in a URI");
    assert_eq!(err.code(), Some("28P01"), "{err}");
}

#[test]
fn uri_query_parameters() {
    let cluster = cluster();
    let uri = format!(
        "postgresql://127.0.0.1:{}/{DBNAME}?user={}&password={}&application_name=wasmpg%20uri%20%2B%201",
        cluster.port,
        SCRAM_USER.name,
        SCRAM_USER.password.unwrap()
    );
    let mut c = connect(&uri);
    let row = c
        .query_one(
            "SELECT current_user::text, current_setting('application_name')",
            &[],
        )
        .unwrap();
    let (user, application): (String, String) = (row.get(0), row.get(1));
    assert_eq!(user, SCRAM_USER.name);
    // (The server replaces non-ASCII in application_name with "?": ASCII only here.)
    assert_eq!(application, "wasmpg uri + 1");
}

#[test]
fn uri_with_a_unix_socket_host() {
    let cluster = cluster();
    let dir = percent_encode(&cluster.socket_dir.to_string_lossy());
    for uri in [
        format!(
            "postgresql://{dir}:{}/{DBNAME}?user=trust_user",
            cluster.port
        ),
        format!(
            "postgresql:///{DBNAME}?host={}&port={}&user=trust_user",
            cluster.socket_dir.display(),
            cluster.port
        ),
    ] {
        let mut c = connect(&uri);
        let addr = cluster.psql(&format!(
            "SELECT coalesce(host(client_addr), 'unix') FROM pg_stat_activity WHERE pid = {}",
            c.backend_pid()
        ));
        assert_eq!(addr, "unix", "{uri}");
        let user: String = c
            .query_one("SELECT current_user::text", &[])
            .unwrap()
            .get(0);
        assert_eq!(user, "trust_user");
    }
}

#[test]
fn key_value_quoting() {
    let cluster = cluster();
    let password = "it's a \\ back slash and spaces";
    let role = role_with_password(password);
    // Cluster::conninfo quotes with libpq's rules: 'it\'s a \\ back slash and spaces'.
    let conninfo = cluster.conninfo(&role, Some(password));
    assert!(
        conninfo.contains("password='it\\'s a \\\\ back slash and spaces'"),
        "{conninfo}"
    );
    assert_eq!(current_user(&conninfo), role);
    // Spaces around '=' and odd spacing are allowed.
    let spaced = format!(
        "  host = 127.0.0.1   port= {}  user ={}\tdbname = {DBNAME}  ",
        cluster.port, TRUST_USER.name
    );
    assert_eq!(current_user(&spaced), TRUST_USER.name);
}

#[test]
fn passfile_supplies_the_password() {
    let cluster = cluster();
    let dir = std::env::temp_dir();
    let passfile = dir.join(unique_name("pgpass"));
    // Wildcards, comments, a non-matching line first, and an escaped ':' in a password.
    let role = role_with_password("colon:pass");
    let content = format!(
        "# comment\n\
         127.0.0.1:{port}:{DBNAME}:someone_else:nope\n\
         127.0.0.1:{port}:*:{role}:colon\\:pass\n\
         *:*:*:{pw}:{pw_secret}\n",
        port = cluster.port,
        pw = PW_USER.name,
        pw_secret = PW_USER.password.unwrap(),
    );
    std::fs::write(&passfile, content).unwrap();
    std::fs::set_permissions(&passfile, std::fs::Permissions::from_mode(0o600)).unwrap();
    let with_passfile = |user: &str| {
        format!(
            "{} passfile={}",
            cluster.conninfo(user, None),
            passfile.display()
        )
    };
    // A password file outside the user's own needs the policy's grant.
    let driver = driver_reading(&passfile);
    let current_user = |conninfo: &str| -> String {
        connect_with(&driver, conninfo)
            .query_one("SELECT current_user::text", &[])
            .unwrap()
            .get(0)
    };
    assert_eq!(current_user(&with_passfile(&role)), role);
    assert_eq!(current_user(&with_passfile(PW_USER.name)), PW_USER.name);
    let _ = std::fs::remove_file(&passfile);
}

#[test]
fn multi_host_falls_back_past_a_refused_host() {
    let cluster = cluster();
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let uri = format!(
        "postgresql://127.0.0.1:{dead},127.0.0.1:{}/{DBNAME}?user=postgres",
        cluster.port
    );
    let mut c = connect(&uri);
    let port: i32 = c
        .query_one("SELECT inet_server_port()", &[])
        .unwrap()
        .get(0);
    assert_eq!(port, i32::from(cluster.port));
    let kv = format!(
        "host=127.0.0.1,127.0.0.1 port={dead},{} user=postgres dbname={DBNAME}",
        cluster.port
    );
    assert_eq!(current_user(&kv), "postgres");
}

#[test]
fn dbname_and_user_are_honoured() {
    let cluster = cluster();
    let mut c = connect(&format!(
        "host=127.0.0.1 port={} user={} dbname=postgres",
        cluster.port, TRUST_USER.name
    ));
    let row = c
        .query_one("SELECT current_database()::text, current_user::text", &[])
        .unwrap();
    let (db, user): (String, String) = (row.get(0), row.get(1));
    assert_eq!((db.as_str(), user.as_str()), ("postgres", TRUST_USER.name));
    let err = expect_err(
        driver().connect(&format!(
            "host=127.0.0.1 port={} user=postgres dbname=no_such_db",
            cluster.port
        )),
        "missing database",
    );
    assert_eq!(err.code(), Some("3D000"), "{err}");
}
