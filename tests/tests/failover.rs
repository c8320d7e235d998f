//! Multi-host conninfos against a real primary and real streaming standbys (`pg_basebackup -R`),
//! as failover managers (Patroni, pg_auto_failover) hand them out: `target_session_attrs`
//! picks the server libpq would pick, a new connection finds the promoted standby after the
//! primary stopped, and `load_balance_hosts=random` spreads connections over the standbys.
//! Each test starts its own clusters, so stopping a primary affects no other test.

use std::collections::HashMap;
use std::time::Duration;

use wasmpg::Client;
use wasmpg_pgcluster::{Cluster, ClusterOptions};
use wasmpg_tests::*;

fn primary() -> Cluster {
    Cluster::start(ClusterOptions {
        dir_prefix: "wasmpg-primary-".into(),
        ..ClusterOptions::default()
    })
    .unwrap_or_else(|e| panic!("the primary could not be started: {e}"))
}

fn standby(primary: &Cluster) -> Cluster {
    primary
        .start_standby()
        .unwrap_or_else(|e| panic!("the standby could not be started: {e}"))
}

/// A conninfo naming the clusters in this order, as the superuser.
fn hosts(clusters: &[&Cluster], extra: &str) -> String {
    let ports: Vec<String> = clusters.iter().map(|c| c.port().to_string()).collect();
    let hosts = vec!["127.0.0.1"; clusters.len()].join(",");
    format!(
        "host={hosts} port={} user={SUPERUSER} dbname={DBNAME} connect_timeout=5 {extra}",
        ports.join(",")
    )
}

/// (port, in recovery) of the server a client reached.
fn which(c: &mut Client) -> (u16, bool) {
    let row = c
        .query_one("SELECT inet_server_port(), pg_is_in_recovery()", &[])
        .unwrap();
    (row.get::<_, i32>(0) as u16, row.get(1))
}

#[test]
fn target_session_attrs_picks_the_server_libpq_would() {
    let p = primary();
    let s = standby(&p);
    let (pp, sp) = (p.port(), s.port());
    for (order, attrs, expected) in [
        ([&s, &p], "any", (sp, true)),
        ([&s, &p], "read-write", (pp, false)),
        ([&s, &p], "primary", (pp, false)),
        ([&p, &s], "read-only", (sp, true)),
        ([&p, &s], "standby", (sp, true)),
        ([&p, &s], "prefer-standby", (sp, true)),
        ([&p, &p], "prefer-standby", (pp, false)),
    ] {
        let conninfo = hosts(&order, &format!("target_session_attrs={attrs}"));
        let mut c = connect(&conninfo);
        assert_eq!(which(&mut c), expected, "{conninfo}");
    }
    // No host fits: every attempt is named.
    let err = expect_err(
        wasmpg_tests::driver().connect(&hosts(&[&p, &p], "target_session_attrs=standby")),
        "standby among primaries only",
    );
    assert!(
        err.to_string()
            .contains("server is not in hot standby mode"),
        "{err}"
    );
}

#[test]
fn after_promotion_a_new_connection_lands_on_the_new_primary() {
    let mut p = primary();
    let s = standby(&p);
    let conninfo = hosts(&[&p, &s], "target_session_attrs=read-write");
    let mut c = connect(&conninfo);
    assert_eq!(which(&mut c), (p.port(), false));
    c.batch_execute("CREATE TABLE failover_marker (x int); INSERT INTO failover_marker VALUES (1)")
        .unwrap();
    // Wait until the standby has replayed it, then fail over.
    wait_until(
        "the standby to replay the marker",
        Duration::from_secs(30),
        || {
            s.psql("SELECT count(*) FROM pg_class WHERE relname = 'failover_marker'")
                .ok()
                .filter(|n| n == "1")
        },
    );
    drop(c);
    p.stop().unwrap();
    s.promote().unwrap();
    let mut c = connect(&conninfo);
    assert_eq!(which(&mut c), (s.port(), false));
    let n: i32 = c
        .query_one("SELECT x FROM failover_marker", &[])
        .unwrap()
        .get(0);
    assert_eq!(n, 1);
    c.execute("INSERT INTO failover_marker VALUES (2)", &[])
        .unwrap();
}

#[test]
fn load_balance_hosts_random_spreads_connections_over_two_standbys() {
    let p = primary();
    let s1 = standby(&p);
    let s2 = standby(&p);
    let conninfo = hosts(
        &[&s1, &s2],
        "load_balance_hosts=random target_session_attrs=standby",
    );
    let mut count: HashMap<u16, u32> = HashMap::new();
    for _ in 0..200 {
        let mut c = connect(&conninfo);
        let (port, standby) = which(&mut c);
        assert!(standby);
        *count.entry(port).or_default() += 1;
    }
    // Binomial(200, 1/2): fewer than 60 on one side has probability below 1e-8.
    for port in [s1.port(), s2.port()] {
        let n = count.get(&port).copied().unwrap_or(0);
        assert!(n >= 60, "{count:?}");
    }
    // Without load balancing the first host takes every connection.
    let mut c = connect(&hosts(&[&s1, &s2], "target_session_attrs=standby"));
    assert_eq!(which(&mut c).0, s1.port());
}
