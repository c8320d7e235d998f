//! libpq's PG* environment variables as defaults. The environment is process-global, so this
//! binary holds exactly one test: nothing else runs while the variables are set.

use std::env;

use wasmpg_tests::*;

const VARS: [&str; 7] = [
    "PGHOST",
    "PGPORT",
    "PGUSER",
    "PGDATABASE",
    "PGPASSWORD",
    "PGAPPNAME",
    "PGPASSFILE",
];

fn who(conninfo: &str) -> (String, String, String) {
    let mut c = connect(conninfo);
    let row = c
        .query_one(
            "SELECT current_user::text, current_database()::text, current_setting('application_name')",
            &[],
        )
        .unwrap();
    (row.get(0), row.get(1), row.get(2))
}

#[test]
fn pg_environment_variables_are_defaults() {
    let cluster = cluster(); // started before the environment changes
    driver();
    let saved: Vec<_> = VARS.iter().map(|v| (v, env::var_os(v))).collect();

    env::set_var("PGHOST", &cluster.host);
    env::set_var("PGPORT", cluster.port.to_string());
    env::set_var("PGUSER", SCRAM_USER.name);
    env::set_var("PGDATABASE", DBNAME);
    env::set_var("PGPASSWORD", SCRAM_USER.password.unwrap());
    env::set_var("PGAPPNAME", "from the environment");
    env::remove_var("PGPASSFILE");

    // Everything from the environment.
    assert_eq!(
        who(""),
        (
            SCRAM_USER.name.to_owned(),
            DBNAME.to_owned(),
            "from the environment".to_owned()
        )
    );

    // The conninfo wins over the environment, key by key.
    let (user, db, _) = who(&format!(
        "user={} password={}",
        MD5_USER.name,
        MD5_USER.password.unwrap()
    ));
    assert_eq!((user.as_str(), db.as_str()), (MD5_USER.name, DBNAME));
    let (_, db, app) = who("dbname=postgres application_name=explicit");
    assert_eq!((db.as_str(), app.as_str()), ("postgres", "explicit"));

    // A wrong PGPASSWORD is used, and refused by the server.
    env::set_var("PGPASSWORD", "wrong");
    let err = expect_err(driver().connect(""), "wrong PGPASSWORD");
    assert_eq!(err.code(), Some("28P01"), "{err}");

    // PGHOST naming the socket directory selects the Unix socket.
    env::set_var("PGHOST", &cluster.socket_dir);
    env::set_var("PGUSER", TRUST_USER.name);
    env::remove_var("PGPASSWORD");
    let mut c = connect("");
    let addr = cluster.psql(&format!(
        "SELECT coalesce(host(client_addr), 'unix') FROM pg_stat_activity WHERE pid = {}",
        c.backend_pid()
    ));
    assert_eq!(addr, "unix");
    let user: String = c
        .query_one("SELECT current_user::text", &[])
        .unwrap()
        .get(0);
    assert_eq!(user, TRUST_USER.name);

    for (var, value) in saved {
        match value {
            Some(v) => env::set_var(var, v),
            None => env::remove_var(var),
        }
    }
}
