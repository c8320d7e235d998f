//! Through PgBouncer (Debian 12 ships 1.18, without prepared-statement support) in transaction
//! pooling mode, with its default configuration otherwise: the guest's StartupMessage holds only
//! parameters PgBouncer accepts, and with `statement_cache = 0` every query works while 8 clients
//! share 2 server connections, through the Rust API and through the Python package.

use std::collections::HashSet;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use wasmpg::{Config, Driver};
use wasmpg_tests::*;

const CLIENTS: usize = 8;
const QUERIES: i32 = 500;
const POOL: u32 = 2;

#[test]
fn eight_rust_clients_share_two_server_connections() {
    let bouncer = cluster().bouncer(POOL);
    let driver = Arc::new(
        Driver::with_config(Config {
            statement_cache: 0,
            ..Config::default()
        })
        .unwrap(),
    );
    let conninfo = bouncer.conninfo(SUPERUSER);
    let clients: Vec<_> = (0..CLIENTS)
        .map(|k| {
            let driver = driver.clone();
            let conninfo = conninfo.clone();
            std::thread::spawn(move || {
                let mut c = driver
                    .connect(&conninfo)
                    .unwrap_or_else(|e| panic!("client {k}: connect through PgBouncer: {e}"));
                let label = format!("client {k}");
                let mut backends = HashSet::new();
                for i in 0..QUERIES {
                    let n = k as i32 * 100_000 + i;
                    let row = c
                        .query_one(
                            "SELECT $1::int4 * 2, $2::text || '!', pg_backend_pid()",
                            &[&n, &label],
                        )
                        .unwrap_or_else(|e| panic!("{label}, query {i}: {e}"));
                    assert_eq!(row.get::<_, i32>(0), n * 2, "{label}, query {i}");
                    assert_eq!(row.get::<_, String>(1), format!("{label}!"));
                    backends.insert(row.get::<_, i32>(2));
                }
                backends
            })
        })
        .collect();
    let mut backends = HashSet::new();
    for client in clients {
        backends.extend(client.join().expect("a client thread panicked"));
    }
    assert!(
        (1..=POOL as usize).contains(&backends.len()),
        "{} server backends served the clients; PgBouncer's pool has {POOL}",
        backends.len()
    );
}

/// Values whose text form depends on session settings the guest no longer sends at startup
/// (IntervalStyle, extra_float_digits) still arrive in their canonical forms.
#[test]
fn canonical_forms_hold_without_the_startup_parameters_pgbouncer_refuses() {
    let bouncer = cluster().bouncer(POOL);
    let driver = Driver::with_config(Config {
        statement_cache: 0,
        ..Config::default()
    })
    .unwrap();
    let mut c = connect_with(&driver, &bouncer.conninfo(SUPERUSER));
    let row = c
        .query_one(
            "SELECT 0.1::float8 + 0.2::float8, 1e300::float8 * 10, 0.1::float4, \
             '1 year 2 mons 3 days 04:05:06.789'::interval, current_setting('IntervalStyle'), \
             '2024-02-29'::date",
            &[],
        )
        .unwrap();
    assert_eq!(row.get::<_, f64>(0), 0.1f64 + 0.2f64);
    assert_eq!(row.get::<_, f64>(1), 1e301);
    assert_eq!(row.get::<_, f32>(2), 0.1f32);
    assert_eq!(row.raw(3), Some("14 3 14706789000"));
    assert_eq!(row.get::<_, String>(4), "postgres");
    assert_eq!(row.raw(5), Some("2024-02-29"));
    // Another IntervalStyle set in a transaction reads the same.
    let mut tx = c.transaction().unwrap();
    tx.batch_execute("SET LOCAL IntervalStyle = 'sql_standard'")
        .unwrap();
    let row = tx
        .query_one("SELECT '1 year 2 mons 3 days 04:05:06.789'::interval", &[])
        .unwrap();
    assert_eq!(row.raw(0), Some("14 3 14706789000"));
    tx.commit().unwrap();
}

const PYTHON_CLIENTS: &str = r#"
import json, sys, threading
import wasmpg

conninfo, clients, queries = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
backends, errors = set(), []

def client(k):
    try:
        conn = wasmpg.connect(conninfo, statement_cache=0, autocommit=True)
        cur = conn.cursor()
        for i in range(queries):
            n = k * 100000 + i
            cur.execute("SELECT %s::int4 * 2, %s::text || '!', pg_backend_pid()", (n, "c%d" % k))
            row = cur.fetchone()
            if row[:2] != (n * 2, "c%d!" % k):
                errors.append("client %d, query %d: %r" % (k, i, row))
                return
            backends.add(row[2])
        conn.close()
    except Exception as e:
        errors.append("client %d: %s: %s" % (k, type(e).__name__, e))

threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(json.dumps({"backends": sorted(backends), "errors": errors}))
"#;

#[test]
fn eight_python_clients_share_two_server_connections() {
    let Some(python) = python() else {
        return; // python() said why
    };
    let bouncer = cluster().bouncer(POOL);
    let mut cmd = Command::new(&python);
    cmd.args([
        "-c",
        PYTHON_CLIENTS,
        &bouncer.conninfo(SUPERUSER),
        &CLIENTS.to_string(),
        &QUERIES.to_string(),
    ])
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let out = output_with_timeout(&mut cmd, None, Duration::from_secs(300))
        .unwrap_or_else(|e| panic!("the Python clients: {e}"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the Python clients failed: {stderr}");
    let result: wasmpg::serde_json::Value = wasmpg::serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("the Python clients' output: {e}; stderr: {stderr}"));
    assert_eq!(
        result["errors"],
        wasmpg::serde_json::json!([]),
        "PgBouncer log:\n{}",
        bouncer.log()
    );
    let backends = result["backends"].as_array().expect("backends").len();
    assert!(
        (1..=POOL as usize).contains(&backends),
        "{backends} server backends served the clients; PgBouncer's pool has {POOL}"
    );
}
