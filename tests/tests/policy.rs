//! The host's connection policy: a denied target is never contacted (our own listeners prove
//! that nothing reached them, and a denied name is never even resolved), an allowed one works,
//! and an allowed name that does not resolve is a DNS error.

use std::time::Duration;

use wasmpg::{Config, Driver, ErrorKind, Policy};
use wasmpg_tests::*;

fn driver_with(policy: Policy) -> Driver {
    let config = Config {
        policy: Some(policy),
        ..Config::default()
    };
    Driver::with_config(config).expect("Driver::with_config")
}

/// Asserts that nothing reached the trap.
#[track_caller]
fn assert_untouched(trap: Trap) {
    let hits = trap.hits();
    assert_eq!(
        hits, 0,
        "a denied connection reached the listener ({hits} connections)"
    );
}

/// Asserts a PolicyDenied error whose message names the policy and the target.
#[track_caller]
fn assert_denied(err: &wasmpg::Error, target_parts: &[&str]) {
    assert_kind(err, ErrorKind::PolicyDenied);
    let message = err.to_string();
    assert!(
        message.to_lowercase().contains("policy"),
        "message does not name the policy: {message}"
    );
    for part in target_parts {
        assert!(
            message.contains(part),
            "message does not name the target ({part}): {message}"
        );
    }
}

#[test]
fn denied_tcp_target_is_never_contacted() {
    let trap = Trap::tcp();
    let port = trap.port;
    let driver = driver_with(Policy::parse_allow(&["127.0.0.1:9"]).unwrap());
    let err = expect_err(
        driver.connect(&format!(
            "host=127.0.0.1 port={port} user=postgres dbname=x connect_timeout=5"
        )),
        "connect to a target outside the policy",
    );
    assert_denied(&err, &["127.0.0.1", &port.to_string()]);
    assert_untouched(trap);
}

#[test]
fn denied_real_server_sees_no_connection() {
    let cluster = cluster();
    let driver = driver_with(Policy::parse_allow(&["127.0.0.1:9"]).unwrap());
    let application = unique_name("denied_app");
    let err = expect_err(
        driver.connect(&format!(
            "{} application_name={application}",
            cluster.superuser_conninfo()
        )),
        "connect to the real server outside the policy",
    );
    assert_denied(&err, &[&cluster.port.to_string()]);

    // Control: an allowed connection with the same kind of name does show up in the log
    // (log_connections = on), so the absence above means something.
    let control = unique_name("allowed_app");
    let _client = connect(&format!(
        "{} application_name={control}",
        cluster.superuser_conninfo()
    ));
    wait_until(
        "the allowed connection in the server log",
        Duration::from_secs(10),
        || cluster.log().contains(&control).then_some(()),
    );
    assert!(
        !cluster.log().contains(&application),
        "the server saw the denied client"
    );
}

#[test]
fn default_policy_allows_the_conninfo_target() {
    let mut c = client();
    let one: i32 = c.query_one("SELECT 1", &[]).unwrap().get(0);
    assert_eq!(one, 1);
    // Config::default() has no explicit policy: the conninfo's own targets are allowed.
    assert!(Config::default().policy.is_none());
}

#[test]
fn explicit_allow_tcp_admits_the_server() {
    let cluster = cluster();
    let driver = driver_with(Policy::deny_all().allow_tcp("127.0.0.1", cluster.port));
    let mut c = connect_with(&driver, &cluster.superuser_conninfo());
    let one: i32 = c.query_one("SELECT 1", &[]).unwrap().get(0);
    assert_eq!(one, 1);
    let allow = format!("127.0.0.1:{}", cluster.port);
    let driver = driver_with(Policy::parse_allow(&[allow.as_str()]).unwrap());
    connect_with(&driver, &cluster.superuser_conninfo())
        .close()
        .unwrap();
}

#[test]
fn port_is_part_of_the_rule() {
    let cluster = cluster();
    let trap = Trap::tcp();
    let port = trap.port;
    // Allowing the cluster's port on the same host does not allow another port.
    let driver = driver_with(Policy::deny_all().allow_tcp("127.0.0.1", cluster.port));
    let err = expect_err(
        driver.connect(&format!(
            "host=127.0.0.1 port={port} user=postgres dbname=x connect_timeout=5"
        )),
        "other port on an allowed host",
    );
    assert_denied(&err, &[&port.to_string()]);
    assert_untouched(trap);
}

#[test]
fn deny_all_denies_unix_sockets() {
    let cluster = cluster();
    let driver = driver_with(Policy::deny_all());

    // Our own socket: nothing may reach it.
    let dir = std::env::temp_dir().join(unique_name("wasmpg_policy_sock"));
    std::fs::create_dir(&dir).unwrap();
    let trap = Trap::unix(&dir, 5999);
    let path = trap.path.clone().unwrap();
    let err = expect_err(
        driver.connect(&format!(
            "host={} port=5999 user=postgres dbname=x connect_timeout=5",
            dir.display()
        )),
        "Unix socket under deny_all",
    );
    assert_denied(&err, &[&path.display().to_string()]);
    assert_untouched(trap);
    std::fs::remove_dir_all(&dir).unwrap();

    // And the real server's socket.
    let err = expect_err(
        driver.connect(&cluster.unix_conninfo("trust_user")),
        "real Unix socket",
    );
    assert_kind(&err, ErrorKind::PolicyDenied);

    // deny_all denies TCP too.
    let err = expect_err(
        driver.connect(&cluster.superuser_conninfo()),
        "TCP under deny_all",
    );
    assert_kind(&err, ErrorKind::PolicyDenied);
}

#[test]
fn allow_unix_admits_the_socket() {
    let cluster = cluster();
    let driver = driver_with(Policy::deny_all().allow_unix(cluster.socket_path()));
    let mut c = connect_with(&driver, &cluster.unix_conninfo("trust_user"));
    let user: String = c
        .query_one("SELECT current_user::text", &[])
        .unwrap()
        .get(0);
    assert_eq!(user, "trust_user");
    // ...but not TCP to the same server.
    let err = expect_err(
        driver.connect(&cluster.superuser_conninfo()),
        "TCP, only Unix allowed",
    );
    assert_kind(&err, ErrorKind::PolicyDenied);
}

#[test]
fn multi_host_skips_the_denied_host_and_uses_the_allowed_one() {
    let cluster = cluster();
    let trap = Trap::tcp();
    let trap_port = trap.port;
    let driver = driver_with(Policy::deny_all().allow_tcp("127.0.0.1", cluster.port));
    let conninfo = format!(
        "host=127.0.0.1,127.0.0.1 port={trap_port},{} user=postgres dbname={DBNAME} connect_timeout=5",
        cluster.port
    );
    let mut c = connect_with(&driver, &conninfo);
    let port: i32 = c
        .query_one("SELECT inet_server_port()", &[])
        .unwrap()
        .get(0);
    assert_eq!(port, i32::from(cluster.port));
    assert_untouched(trap);
}

#[test]
fn multi_host_all_denied_names_every_attempt() {
    let (first, second) = (Trap::tcp(), Trap::tcp());
    let (port1, port2) = (first.port, second.port);
    let driver = driver_with(Policy::parse_allow(&["127.0.0.1:9"]).unwrap());
    let err = expect_err(
        driver.connect(&format!(
            "host=127.0.0.1,localhost port={port1},{port2} user=u dbname=d connect_timeout=5"
        )),
        "every host denied",
    );
    assert_kind(&err, ErrorKind::PolicyDenied);
    let message = err.to_string();
    for part in [port1.to_string(), port2.to_string(), "localhost".to_owned()] {
        assert!(
            message.contains(&part),
            "the error does not name the attempt {part}: {message}"
        );
    }
    assert_untouched(first);
    assert_untouched(second);
}

/// A port on which nothing listens (bound, then released).
fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

// `.invalid` is reserved (RFC 2606, RFC 6761): it never resolves.

#[test]
fn an_allowed_name_that_does_not_resolve_is_a_dns_error() {
    let err = expect_err(
        driver().connect("host=nonexistent.invalid port=5432 user=u dbname=d connect_timeout=5"),
        "connect to a name that does not resolve",
    );
    assert_kind(&err, ErrorKind::Dns);
    let message = err.to_string();
    assert!(
        message.contains("nonexistent.invalid"),
        "the error does not name the host: {message}"
    );
}

#[test]
fn a_denied_name_is_policy_denied_and_never_resolved() {
    // Were the name looked up before the policy check, this would be a DNS error.
    let driver = driver_with(Policy::parse_allow(&["127.0.0.1:9"]).unwrap());
    let err = expect_err(
        driver.connect("host=nonexistent.invalid port=5432 user=u dbname=d connect_timeout=5"),
        "connect to a denied name that does not resolve",
    );
    assert_denied(&err, &["nonexistent.invalid", "5432"]);
}

#[test]
fn multi_host_the_last_failure_decides_the_kind() {
    let port = closed_port();
    let err = expect_err(
        driver().connect(&format!(
            "host=nonexistent.invalid,127.0.0.1 port=5432,{port} user=u dbname=d connect_timeout=5"
        )),
        "a name that does not resolve, then a closed port",
    );
    assert_kind(&err, ErrorKind::ConnectionRefused);
    let message = err.to_string();
    for part in ["nonexistent.invalid", &port.to_string()] {
        assert!(
            message.contains(part),
            "the error does not name the attempt {part}: {message}"
        );
    }

    let err = expect_err(
        driver().connect(&format!(
            "host=127.0.0.1,nonexistent.invalid port={port},5432 user=u dbname=d connect_timeout=5"
        )),
        "a closed port, then a name that does not resolve",
    );
    assert_kind(&err, ErrorKind::Dns);
    let message = err.to_string();
    for part in ["nonexistent.invalid", &port.to_string()] {
        assert!(
            message.contains(part),
            "the error does not name the attempt {part}: {message}"
        );
    }
}

#[test]
fn malformed_allow_entries_are_config_errors() {
    for entry in [
        "127.0.0.1",
        "127.0.0.1:",
        ":5432",
        "127.0.0.1:abc",
        "127.0.0.1:99999",
        "",
    ] {
        match Policy::parse_allow(&[entry]) {
            Ok(_) => panic!("parse_allow accepted {entry:?}"),
            Err(e) => assert_kind(&e, ErrorKind::Config),
        }
    }
}
