//! Cancel requests against the real server: a [`wasmpg::CancelToken`] taken from a client cancels
//! the statement it runs, from another thread, over a new connection the guest drives (TCP and
//! Unix socket), and the session stays usable.

use wasmpg_tests::*;

#[test]
fn a_running_statement_is_cancelled_server_side_over_tcp() {
    let mut client = client();
    let err = cancel_a_sleep(&mut client);
    assert_db_code(&err, "57014");
    // The backend is idle again and the session usable.
    let one: i32 = client.query_one("SELECT 1", &[]).unwrap().get(0);
    assert_eq!(one, 1);
    let state = cluster().psql(&format!(
        "SELECT state FROM pg_stat_activity WHERE pid = {}",
        client.backend_pid()
    ));
    assert_eq!(state, "idle");
}

#[test]
fn a_running_statement_is_cancelled_over_the_unix_socket() {
    let mut client = connect(&cluster().unix_conninfo(TRUST_USER.name));
    let err = cancel_a_sleep(&mut client);
    assert_db_code(&err, "57014");
    let one: i32 = client.query_one("SELECT 1", &[]).unwrap().get(0);
    assert_eq!(one, 1);
}

#[test]
fn a_cancel_with_nothing_running_changes_nothing() {
    let mut client = client();
    let token = client.cancel_token().unwrap();
    token.cancel_query().expect("delivered");
    token.cancel_query().expect("a token can be used again");
    let one: i32 = client.query_one("SELECT 1", &[]).unwrap().get(0);
    assert_eq!(one, 1);
}

#[test]
fn a_cancel_is_bound_by_the_sessions_policy() {
    // The cancel opens the session's own target, checked against the same policy: a driver
    // whose policy allows only the cluster's TCP endpoint can cancel.
    let c = cluster();
    let policy = wasmpg::Policy::parse_allow(&[format!("{}:{}", c.host, c.port)]).unwrap();
    let driver = wasmpg::Driver::with_config(wasmpg::Config {
        policy: Some(policy),
        ..wasmpg::Config::default()
    })
    .unwrap();
    let mut client = connect_with(&driver, &c.role_conninfo(&TRUST_USER));
    let err = cancel_a_sleep(&mut client);
    assert_db_code(&err, "57014");
}
