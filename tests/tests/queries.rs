//! The query API against the real server: row counts, prepared statements, the simple query
//! protocol, column metadata, server parameters, the statement cache, large results, closing.

use std::time::Duration;

use wasmpg::{Config, Driver, SimpleQueryMessage};
use wasmpg_tests::*;

#[test]
fn execute_returns_affected_rows() {
    let mut c = client();
    let t = unique_name("affected");
    assert_eq!(
        c.execute(&format!("CREATE TABLE {t} (x int, y text)"), &[])
            .unwrap(),
        0
    );
    let inserted = c
        .execute(
            &format!("INSERT INTO {t} SELECT g, g::text FROM generate_series(1, 5) g"),
            &[],
        )
        .unwrap();
    assert_eq!(inserted, 5);
    assert_eq!(
        c.execute(&format!("UPDATE {t} SET y = 'u' WHERE x > $1"), &[&2i32])
            .unwrap(),
        3
    );
    assert_eq!(
        c.execute(&format!("DELETE FROM {t} WHERE x = $1"), &[&1i32])
            .unwrap(),
        1
    );
    assert_eq!(
        c.execute(&format!("DELETE FROM {t} WHERE x = $1"), &[&1i32])
            .unwrap(),
        0
    );
    assert_eq!(
        cluster().psql(&format!(
            "SELECT string_agg(x || y, ',' ORDER BY x) FROM {t}"
        )),
        "22,3u,4u,5u"
    );
}

#[test]
fn rows_by_index_and_name() {
    let mut c = client();
    let rows = c
        .query(
            "SELECT g AS n, 'v' || g AS label FROM generate_series(1, 3) g ORDER BY g",
            &[],
        )
        .unwrap();
    assert_eq!(rows.len(), 3);
    for (i, row) in rows.iter().enumerate() {
        assert_eq!(row.len(), 2);
        assert!(!row.is_empty());
        let by_index: i32 = row.get(0);
        let by_name: i32 = row.get("n");
        let label: String = row.get("label");
        assert_eq!((by_index, by_name), (i as i32 + 1, i as i32 + 1));
        assert_eq!(label, format!("v{}", i + 1));
        let names: Vec<&str> = row.columns().iter().map(|c| c.name()).collect();
        assert_eq!(names, ["n", "label"]);
        let oids: Vec<u32> = row.columns().iter().map(|c| c.type_oid()).collect();
        assert_eq!(oids, [23, 25]);
    }
}

#[test]
fn zero_column_rows_are_rows() {
    // `SELECT FROM t` is legal: a RowDescription with no fields, then empty DataRows.
    let mut c = client();
    let rows = c.query("SELECT FROM generate_series(1, 2)", &[]).unwrap();
    assert_eq!(rows.len(), 2, "zero-column rows still count");
    assert!(rows[0].is_empty() && rows[0].columns().is_empty());
    let messages = c.simple_query("SELECT FROM generate_series(1, 3)").unwrap();
    let count = messages
        .iter()
        .filter(|m| matches!(m, SimpleQueryMessage::Row(_)))
        .count();
    assert_eq!(count, 3);
}

#[test]
fn prepared_statement_metadata_and_reuse() {
    let mut c = client();
    let stmt = c
        .prepare("SELECT $1::int8 + 1 AS next, $2::text AS label, now() AS at")
        .unwrap();
    assert_eq!(stmt.params(), &[20, 25]);
    let columns: Vec<(&str, u32)> = stmt
        .columns()
        .iter()
        .map(|c| (c.name(), c.type_oid()))
        .collect();
    assert_eq!(columns, [("next", 20), ("label", 25), ("at", 1184)]);
    for i in 0..20i64 {
        let label = format!("n{i}");
        let rows = c.query(&stmt, &[&i, &label]).unwrap();
        assert_eq!(rows.len(), 1);
        let next: i64 = rows[0].get(0);
        let back: String = rows[0].get(1);
        assert_eq!((next, back), (i + 1, label));
    }
    // The server knows the statement under the driver's name.
    let prepared: i64 = c
        .query_one(
            "SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE 'SELECT $1::int8 + 1%'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(prepared, 1);
    let t = unique_name("prep");
    c.batch_execute(&format!("CREATE TABLE {t} (x int)"))
        .unwrap();
    let insert = c
        .prepare(&format!("INSERT INTO {t} VALUES ($1), ($1 + 1)"))
        .unwrap();
    assert!(insert.columns().is_empty());
    assert_eq!(c.execute(&insert, &[&10i32]).unwrap(), 2);
    assert_eq!(
        cluster().psql(&format!(
            "SELECT string_agg(x::text, ',' ORDER BY x) FROM {t}"
        )),
        "10,11"
    );
}

#[test]
fn simple_query_messages() {
    let mut c = client();
    let messages = c
        .simple_query("SELECT 1 AS a, NULL::text AS b, 'x\u{1f}y' AS c; SELECT g FROM generate_series(1, 2) g; SELECT 1 WHERE false")
        .unwrap();
    // Column counts of the three results; `get` is only called within them.
    let widths = [3, 1, 1];
    let mut rows: Vec<Vec<Option<String>>> = Vec::new();
    let mut completes = Vec::new();
    for m in &messages {
        match m {
            SimpleQueryMessage::Row(row) => {
                let width = widths[completes.len()];
                rows.push((0..width).map(|i| row.get(i).map(str::to_owned)).collect());
            }
            SimpleQueryMessage::CommandComplete(n) => completes.push(*n),
            #[allow(unreachable_patterns)]
            _ => {}
        }
    }
    assert_eq!(completes, [1, 2, 0]);
    assert_eq!(rows.len(), 3);
    assert_eq!(
        rows[0],
        [Some("1".to_owned()), None, Some("x\u{1f}y".to_owned())]
    );
    assert_eq!(rows[1][0].as_deref(), Some("1"));
    assert_eq!(rows[2][0].as_deref(), Some("2"));
}

#[test]
fn batch_execute_runs_every_statement() {
    let mut c = client();
    let t = unique_name("batch");
    c.batch_execute(&format!(
        "CREATE TABLE {t} (x int); INSERT INTO {t} VALUES (1); INSERT INTO {t} VALUES (2); \
         UPDATE {t} SET x = x * 10"
    ))
    .unwrap();
    assert_eq!(
        cluster().psql(&format!(
            "SELECT string_agg(x::text, ',' ORDER BY x) FROM {t}"
        )),
        "10,20"
    );
    c.batch_execute("").unwrap();
    c.batch_execute(";;").unwrap();
}

#[test]
fn server_parameters_are_reported() {
    let c = client();
    let version = c.parameter("server_version").expect("server_version");
    assert_eq!(version, cluster().psql("SHOW server_version"));
    assert_eq!(c.parameter("server_encoding").as_deref(), Some("UTF8"));
    assert!(c.parameter("TimeZone").is_some());
    assert_eq!(c.parameter("no_such_parameter"), None);
    // backend_pid is the server's pid for this session.
    let mut c = c;
    let pid: i32 = c.query_one("SELECT pg_backend_pid()", &[]).unwrap().get(0);
    assert_eq!(pid, c.backend_pid());
}

#[test]
fn large_results_and_values() {
    let mut c = client();
    let rows = c
        .query(
            "SELECT g, md5(g::text) FROM generate_series(1, 100000) g ORDER BY g",
            &[],
        )
        .unwrap();
    assert_eq!(rows.len(), 100_000);
    let sum: i64 = rows
        .iter()
        .map(|r| {
            let g: i32 = r.get(0);
            i64::from(g)
        })
        .sum();
    assert_eq!(sum, 100_000 * 100_001 / 2);
    let last: String = rows[99_999].get(1);
    assert_eq!(last, cluster().psql("SELECT md5('100000')"));

    let big = "✓x".repeat(1_000_000); // 4 MB
    let back: String = c.query_one("SELECT $1::text", &[&big]).unwrap().get(0);
    assert_eq!(back.len(), big.len());
    assert!(back == big);
    let len: i32 = c
        .query_one("SELECT length($1::text)", &[&big])
        .unwrap()
        .get(0);
    assert_eq!(len, 2_000_000);
}

#[test]
fn statement_cache_disabled_leaves_no_server_side_statements() {
    let config = Config {
        statement_cache: 0,
        ..Config::default()
    };
    let driver = Driver::with_config(config).unwrap();
    let mut c = connect_with(&driver, &cluster().superuser_conninfo());
    for i in 0..5i32 {
        let v: i32 = c.query_one("SELECT $1::int4 * 2", &[&i]).unwrap().get(0);
        assert_eq!(v, i * 2);
    }
    let named: i64 = c
        .query_one("SELECT count(*) FROM pg_prepared_statements", &[])
        .unwrap()
        .get(0);
    assert_eq!(
        named, 0,
        "statement_cache = 0 must use the unnamed statement only"
    );
}

#[test]
fn statement_cache_prepares_once_per_text() {
    let config = Config {
        statement_cache: 16,
        ..Config::default()
    };
    let driver = Driver::with_config(config).unwrap();
    let mut c = connect_with(&driver, &cluster().superuser_conninfo());
    for i in 0..5i32 {
        let v: i32 = c.query_one("SELECT $1::int4 * 3", &[&i]).unwrap().get(0);
        assert_eq!(v, i * 3);
    }
    let cached: i64 = c
        .query_one(
            "SELECT count(*) FROM pg_prepared_statements WHERE statement = 'SELECT $1::int4 * 3'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(cached, 1);
}

#[test]
fn close_ends_the_backend() {
    let cluster = cluster();
    let c = client();
    let pid = c.backend_pid();
    assert!(!c.is_closed());
    c.close().unwrap();
    wait_until(
        "the closed client's backend to exit",
        Duration::from_secs(10),
        || {
            (cluster.psql(&format!(
                "SELECT count(*) FROM pg_stat_activity WHERE pid = {pid}"
            )) == "0")
                .then_some(())
        },
    );
}

#[test]
fn execute_many_runs_each_row_in_one_request_and_fails_together() {
    let mut c = client();
    let t = unique_name("many");
    c.batch_execute(&format!("CREATE TABLE {t} (id int PRIMARY KEY, name text)"))
        .unwrap();
    let names = ["a", "b", "c"];
    let rows: Vec<(i32, Option<&str>)> = vec![(1, Some(names[0])), (2, None), (3, Some(names[2]))];
    let params: Vec<Vec<&(dyn wasmpg::types::ToSql + Sync)>> = rows
        .iter()
        .map(|(id, name)| vec![id as &(dyn wasmpg::types::ToSql + Sync), name])
        .collect();
    let refs: Vec<&[&(dyn wasmpg::types::ToSql + Sync)]> = params.iter().map(|r| &r[..]).collect();
    let insert = format!("INSERT INTO {t} VALUES ($1, $2)");
    assert_eq!(c.execute_many(insert.as_str(), &refs).unwrap(), 3);
    let got: Vec<(i32, Option<String>)> = c
        .query(&format!("SELECT id, name FROM {t} ORDER BY id"), &[])
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(
        got,
        [(1, Some("a".into())), (2, None), (3, Some("c".into()))]
    );

    // A prepared statement; then a duplicate key in the middle: the executions share one Sync,
    // so the rows before it are rolled back too.
    let statement = c.prepare(&insert).unwrap();
    let (a, b, d) = (10i32, 11i32, 12i32);
    let n = c
        .execute_many(&statement, &[&[&a, &"x"], &[&b, &"y"]])
        .unwrap();
    assert_eq!(n, 2);
    let dup = 1i32;
    let e = expect_err(
        c.execute_many(&statement, &[&[&d, &"z"], &[&dup, &"dup"]]),
        "a duplicate key",
    );
    assert_db_code(&e, "23505");
    let count: i64 = c
        .query_one(&format!("SELECT count(*) FROM {t}"), &[])
        .unwrap()
        .get(0);
    assert_eq!(
        count, 5,
        "the execution before the failing one was not rolled back"
    );
    // Rows of different shapes are refused before anything is sent.
    let e = expect_err(
        c.execute_many(insert.as_str(), &[&[&a, &"x"], &[&b]]),
        "rows of different lengths",
    );
    assert_kind(&e, wasmpg::ErrorKind::Usage);
    let e = expect_err(
        c.execute_many(insert.as_str(), &[&[&a, &"x"], &[&"b", &"y"]]),
        "rows of different types",
    );
    assert_kind(&e, wasmpg::ErrorKind::Usage);
}
