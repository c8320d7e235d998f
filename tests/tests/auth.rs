//! Authentication against the real server: trust, cleartext password, md5 and SCRAM-SHA-256
//! (pg_hba.conf picks the method per role, see the harness), over TCP and the Unix socket.

use wasmpg::{Client, ErrorKind};
use wasmpg_tests::*;

/// Connects as `role`, checks who the server thinks we are, and how we are connected.
fn assert_connects_as(role: &Role) {
    let mut c = connect_as(role);
    let user: String = c
        .query_one("SELECT current_user::text", &[])
        .unwrap()
        .get(0);
    assert_eq!(user, role.name, "{} login", role.method);
    // Independently: the server lists our backend under that role, from 127.0.0.1.
    let seen = cluster().psql(&format!(
        "SELECT usename || '|' || host(client_addr) FROM pg_stat_activity WHERE pid = {}",
        c.backend_pid()
    ));
    assert_eq!(seen, format!("{}|127.0.0.1", role.name));
}

/// A wrong password is refused by the server with 28P01.
fn assert_wrong_password_refused(role: &Role) {
    let conninfo = cluster().conninfo(role.name, Some("definitely-wrong"));
    let err = expect_err(
        driver().connect(&conninfo),
        &format!("{} with a wrong password", role.method),
    );
    assert!(
        matches!(err.kind(), ErrorKind::Authentication | ErrorKind::Db),
        "{}: kind {:?}: {err}",
        role.method,
        err.kind()
    );
    assert_eq!(
        err.code(),
        Some("28P01"),
        "{}: {err} / {err:?}",
        role.method
    );
    let db = err.as_db_error().expect("the server's ErrorResponse");
    assert_eq!(db.severity(), "FATAL");
    assert!(
        db.message().contains("password authentication failed") && db.message().contains(role.name),
        "{}: {}",
        role.method,
        db.message()
    );
}

/// No password at all for a role that needs one: the client cannot answer the server.
fn assert_missing_password_refused(role: &Role) {
    // An empty passfile, so no ~/.pgpass of the machine can supply one.
    let passfile = std::env::temp_dir().join(unique_name("empty_pgpass"));
    std::fs::write(&passfile, "").unwrap();
    let conninfo = format!(
        "{} passfile={}",
        cluster().conninfo(role.name, None),
        passfile.display()
    );
    // The file is not the user's own password file: the policy must grant it.
    let driver = driver_reading(&passfile);
    let err = expect_err(
        driver.connect(&conninfo),
        &format!("{} without a password", role.method),
    );
    let _ = std::fs::remove_file(&passfile);
    assert_kind(&err, ErrorKind::Authentication);
}

fn private_file(name: &str, text: &str) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::temp_dir().join(unique_name(name));
    std::fs::write(&path, text).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path
}

#[test]
fn the_password_file_supplies_the_password_with_libpq_rules() {
    let c = cluster();
    // The guest matches the lines: a wildcard line for another role, then an escaped one.
    let passfile = private_file(
        "pgpass",
        &format!(
            "# comment\n*:*:*:nobody:wrong\n{}:{}:*:{}:{}\n",
            c.host,
            c.port,
            SCRAM_USER.name,
            SCRAM_USER.password.unwrap()
        ),
    );
    let conninfo = format!(
        "{} passfile={}",
        c.conninfo(SCRAM_USER.name, None),
        passfile.display()
    );
    let mut client = driver_reading(&passfile)
        .connect(&conninfo)
        .unwrap_or_else(|e| panic!("connect through the password file: {e}"));
    let row = client.query_one("select current_user::text", &[]).unwrap();
    assert_eq!(row.get::<_, String>(0), SCRAM_USER.name);
    let _ = std::fs::remove_file(&passfile);
}

#[test]
fn a_password_file_outside_the_policy_is_refused_before_it_is_read() {
    let c = cluster();
    let passfile = private_file("pgpass_denied", "*:*:*:*:whatever\n");
    let conninfo = format!(
        "{} passfile={}",
        c.conninfo(SCRAM_USER.name, None),
        passfile.display()
    );
    // The default policy: the conninfo's targets, the user's own password file, ~/.postgresql.
    let err = expect_err(driver().connect(&conninfo), "a passfile outside the policy");
    assert_kind(&err, ErrorKind::PolicyDenied);
    assert!(
        err.to_string().contains(&passfile.display().to_string()),
        "{err}"
    );
    // The same with a path that climbs out of an allowed directory.
    let sneaky = format!(
        "{} passfile={}/.postgresql/../{}",
        c.conninfo(SCRAM_USER.name, None),
        std::env::var("HOME").unwrap_or_default(),
        passfile.file_name().unwrap().to_string_lossy()
    );
    let err = expect_err(driver().connect(&sneaky), "a passfile climbing out");
    assert_kind(&err, ErrorKind::PolicyDenied);
    let _ = std::fs::remove_file(&passfile);
}

#[test]
fn a_password_file_readable_by_others_is_ignored_as_libpq_does() {
    use std::os::unix::fs::PermissionsExt;
    let c = cluster();
    let passfile = private_file(
        "pgpass_open",
        &format!(
            "*:*:*:{}:{}\n",
            SCRAM_USER.name,
            SCRAM_USER.password.unwrap()
        ),
    );
    std::fs::set_permissions(&passfile, std::fs::Permissions::from_mode(0o644)).unwrap();
    let conninfo = format!(
        "{} passfile={}",
        c.conninfo(SCRAM_USER.name, None),
        passfile.display()
    );
    let err = expect_err(
        driver_reading(&passfile).connect(&conninfo),
        "a group-readable password file",
    );
    assert_kind(&err, ErrorKind::Authentication);
    let _ = std::fs::remove_file(&passfile);
}

#[test]
fn trust_connects() {
    assert_connects_as(&TRUST_USER);
}

#[test]
fn trust_ignores_a_password() {
    let mut c = connect(&cluster().conninfo(TRUST_USER.name, Some("anything")));
    let user: String = c
        .query_one("SELECT current_user::text", &[])
        .unwrap()
        .get(0);
    assert_eq!(user, TRUST_USER.name);
}

#[test]
fn cleartext_password_connects() {
    assert_connects_as(&PW_USER);
}

#[test]
fn md5_connects() {
    assert_connects_as(&MD5_USER);
}

#[test]
fn scram_sha_256_connects() {
    assert_connects_as(&SCRAM_USER);
}

#[test]
fn wrong_password_is_28p01_for_every_password_method() {
    for role in [PW_USER, MD5_USER, SCRAM_USER] {
        assert_wrong_password_refused(&role);
    }
}

#[test]
fn missing_password_is_an_authentication_error_for_every_password_method() {
    for role in [PW_USER, MD5_USER, SCRAM_USER] {
        assert_missing_password_refused(&role);
    }
}

#[test]
fn unknown_role_is_refused() {
    let conninfo = cluster().conninfo("no_such_role", Some("x"));
    let err = expect_err(driver().connect(&conninfo), "unknown role");
    // pg_hba's catch-all line asks for SCRAM; the server then refuses the login (28P01), without
    // telling whether the role exists.
    assert_eq!(err.code(), Some("28P01"), "{err}");
}

#[test]
fn unix_socket_connects() {
    let cluster = cluster();
    for role in AUTH_ROLES {
        // Every local connection is trusted: no password needed, whatever the role.
        let mut c: Client = connect(&cluster.unix_conninfo(role.name));
        let user: String = c
            .query_one("SELECT current_user::text", &[])
            .unwrap()
            .get(0);
        assert_eq!(user, role.name);
        // A Unix-socket backend has no client address.
        let addr = cluster.psql(&format!(
            "SELECT coalesce(host(client_addr), 'unix') FROM pg_stat_activity WHERE pid = {}",
            c.backend_pid()
        ));
        assert_eq!(
            addr, "unix",
            "{} did not connect over the Unix socket",
            role.name
        );
    }
}

#[test]
fn password_roles_work_from_many_threads_at_once() {
    // SCRAM and md5 handshakes in parallel through one shared driver.
    let handles: Vec<_> = (0..6)
        .map(|i| {
            let role = [PW_USER, MD5_USER, SCRAM_USER][i % 3];
            std::thread::spawn(move || {
                let mut c = connect_as(&role);
                let user: String = c
                    .query_one("SELECT current_user::text", &[])
                    .unwrap()
                    .get(0);
                assert_eq!(user, role.name);
            })
        })
        .collect();
    for h in handles {
        h.join().expect("an authenticating thread failed");
    }
}

/// The per-connection password callback (short-lived tokens): asked only when the conninfo,
/// PGPASSWORD and the password file give nothing, with what the password is for; its answer
/// is used, `None` is "no password", a wrong answer is the server's 28P01.
#[test]
fn a_password_callback_supplies_the_password_per_connection() {
    let c = cluster();
    // A password file that is not there (where the policy lets it be looked for).
    let home = std::env::var("HOME").expect("HOME");
    let conninfo = format!(
        "{} passfile={home}/.postgresql/wasmpg-no-such-passfile",
        c.conninfo(SCRAM_USER.name, None)
    );
    let asked = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = asked.clone();
    let mut client = driver()
        .connect_with_password(&conninfo, move |request| {
            log.lock().unwrap().push(request.clone());
            SCRAM_USER.password.map(str::to_owned)
        })
        .unwrap_or_else(|e| panic!("with the callback's password: {e}"));
    let user: String = client
        .query_one("SELECT current_user::text", &[])
        .unwrap()
        .get(0);
    assert_eq!(user, SCRAM_USER.name);
    let asked = asked.lock().unwrap();
    assert_eq!(asked.len(), 1, "asked once: {asked:?}");
    assert_eq!(asked[0].user, SCRAM_USER.name);
    assert_eq!(asked[0].port, c.port);
    assert_eq!(asked[0].dbname, DBNAME);
    // No answer: the client's own error, nothing sent.
    let err = expect_err(
        driver().connect_with_password(&conninfo, |_| None),
        "a callback without a password",
    );
    assert_eq!(err.kind(), ErrorKind::Authentication, "{err}");
    assert!(
        err.to_string().contains("no password was supplied"),
        "{err}"
    );
    // A wrong one: the server refuses it.
    let err = expect_err(
        driver().connect_with_password(&conninfo, |_| Some("expired-token".to_owned())),
        "a wrong token",
    );
    assert_eq!(err.code(), Some("28P01"), "{err}");
    // A password in the conninfo wins; the callback is not asked.
    driver()
        .connect_with_password(&c.role_conninfo(&SCRAM_USER), |_| {
            panic!("asked although the conninfo has the password")
        })
        .unwrap();
}
