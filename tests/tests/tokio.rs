//! The async client (`wasmpg::tokio`, features `tokio` and `deadpool`) against the real server:
//! typed round trips and server errors; many queries at once over 16 connections, and many at
//! once on one; cancellation by dropping a future (a timed-out query, a dropped row stream) and
//! by a cancel token; transactions and savepoints, with psql as the witness of what is
//! committed; streamed rows; COPY as a `Sink` and a `Stream`; LISTEN/NOTIFY as a `Stream`; a
//! terminated backend, a denied target, a wrong password; the deadpool pool's recycling.
//!
//! Blocking work (psql, polling pg_stat_activity) runs on `spawn_blocking`, so it never holds a
//! worker the connections' tasks need.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use wasmpg::tokio::pool::{Manager, Pool, RecyclingMethod};
use wasmpg::tokio::{Client, Connection};
use wasmpg::{Config, Driver, Error, ErrorKind, Policy, SimpleQueryMessage};
use wasmpg_tests::*;

type Task = tokio::task::JoinHandle<Result<(), Error>>;

/// Connects with the shared driver and spawns the connection; panics with the server log's
/// tail on failure.
async fn connect_task(conninfo: &str) -> (Client, Task) {
    let (client, connection): (Client, Connection) =
        match wasmpg::tokio::connect(driver(), conninfo).await {
            Ok(pair) => pair,
            Err(e) => panic!(
                "connect({conninfo:?}) failed: {e} (kind {:?})\n--- server log tail:\n{}",
                e.kind(),
                cluster().log_tail()
            ),
        };
    (client, tokio::spawn(connection))
}

/// A superuser client over TCP in `wasmpg_test`, its connection spawned.
async fn connect() -> Client {
    connect_task(&cluster().superuser_conninfo()).await.0
}

/// [`Cluster::psql`] off the runtime's workers.
async fn psql(sql: impl Into<String>) -> String {
    let sql = sql.into();
    tokio::task::spawn_blocking(move || cluster().psql(&sql))
        .await
        .expect("psql task")
}

/// [`wait_until`] off the runtime's workers.
async fn wait_for<T: Send + 'static>(
    what: &'static str,
    timeout: Duration,
    probe: impl FnMut() -> Option<T> + Send + 'static,
) -> T {
    tokio::task::spawn_blocking(move || wait_until(what, timeout, probe))
        .await
        .expect("the polling task")
}

/// Waits until the server shows `pid` running a statement that mentions `text`.
async fn wait_running(pid: i32, text: &'static str) {
    wait_for("the statement to run", Duration::from_secs(20), move || {
        let state = cluster().psql(&format!(
            "SELECT state FROM pg_stat_activity WHERE pid = {pid} AND query LIKE '%{text}%'"
        ));
        (state == "active").then_some(())
    })
    .await;
}

/// The server's view of a backend: `state|query`.
async fn activity(pid: i32) -> String {
    psql(format!(
        "SELECT state || '|' || query FROM pg_stat_activity WHERE pid = {pid}"
    ))
    .await
}

/// A fresh table `(x int)`, created with psql.
async fn table(prefix: &str) -> String {
    let name = unique_name(prefix);
    psql(format!("CREATE TABLE {name} (x int)")).await;
    name
}

/// The table's values as another session sees them.
async fn committed(table: &str) -> String {
    psql(format!(
        "SELECT coalesce(string_agg(x::text, ',' ORDER BY x), '') FROM {table}"
    ))
    .await
}

#[track_caller]
fn expect_failure<T: std::fmt::Debug>(result: Result<T, Error>, what: &str) -> Error {
    match result {
        Ok(v) => panic!("{what}: succeeded ({v:?}), but an error was expected"),
        Err(e) => e,
    }
}

async fn select_int(client: &Client, n: i32) -> i32 {
    client
        .query_one("SELECT $1::int", &[&n])
        .await
        .unwrap_or_else(|e| panic!("SELECT {n}: {e}"))
        .get(0)
}

// ---------------------------------------------------------------------------------------------
// The API
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queries_round_trip_typed_values() {
    let client = connect().await;
    assert!(client.backend_pid() > 0);
    assert!(!client.is_closed());
    assert!(!client.in_transaction());
    let version = client.parameter("server_version").expect("server_version");
    assert!(version.starts_with(&(cluster().version_num / 10000).to_string()));

    let text = "héllo 'quoted' \\ \"x\"\ttab";
    let bytes: &[u8] = &[0, 1, 255, 10, 92];
    let row = client
        .query_one(
            "SELECT $1::int4, $2::int8, $3::text, $4::float8, $5::bool, $6::bytea, $7::int4, \
             $8::int4[]",
            &[
                &42i32,
                &-9_000_000_000i64,
                &text,
                &-1.25f64,
                &true,
                &bytes,
                &None::<i32>,
                &vec![1i32, -2, 3],
            ],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, i32>(0), 42);
    assert_eq!(row.get::<_, i64>(1), -9_000_000_000);
    assert_eq!(row.get::<_, String>(2), text);
    assert_eq!(row.get::<_, f64>(3), -1.25);
    assert!(row.get::<_, bool>(4));
    assert_eq!(row.get::<_, Vec<u8>>(5), bytes);
    assert_eq!(row.get::<_, Option<i32>>(6), None);
    assert_eq!(row.get::<_, Vec<i32>>(7), [1, -2, 3]);
    // The server saw the values, not just echoed text: it computes with them.
    let row = client
        .query_one(
            "SELECT $1::int8 * 2, length($2::text), octet_length($3::bytea)",
            &[&-9_000_000_000i64, &text, &bytes],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, i64>(0), -18_000_000_000);
    assert_eq!(row.get::<_, i32>(1), text.chars().count() as i32);
    assert_eq!(row.get::<_, i32>(2), 5);

    // query, query_opt, query_one's row counts.
    let rows = client
        .query("SELECT g FROM generate_series(1, $1::int) g", &[&5i32])
        .await
        .unwrap();
    let got: Vec<i32> = rows.iter().map(|r| r.get(0)).collect();
    assert_eq!(got, [1, 2, 3, 4, 5]);
    assert!(client
        .query_opt("SELECT 1 WHERE false", &[])
        .await
        .unwrap()
        .is_none());
    let one = client.query_opt("SELECT 7", &[]).await.unwrap().unwrap();
    assert_eq!(one.get::<_, i32>(0), 7);
    let e = expect_failure(
        client.query_opt("SELECT generate_series(1, 2)", &[]).await,
        "query_opt of 2 rows",
    );
    assert_kind(&e, ErrorKind::RowCount);
    let e = expect_failure(
        client.query_one("SELECT 1 WHERE false", &[]).await,
        "query_one of 0 rows",
    );
    assert_kind(&e, ErrorKind::RowCount);

    // execute, execute_many, batch_execute, simple_query.
    let t = unique_name("tokio_api");
    client
        .batch_execute(&format!(
            "CREATE TABLE {t} (id int PRIMARY KEY, label text); INSERT INTO {t} VALUES (1, 'one')"
        ))
        .await
        .unwrap();
    assert_eq!(
        client
            .execute(
                &format!("INSERT INTO {t} VALUES ($1, $2)"),
                &[&2i32, &"two"]
            )
            .await
            .unwrap(),
        1
    );
    let n = client
        .execute_many(
            &format!("INSERT INTO {t} VALUES ($1, $2)"),
            &[
                &[&3i32, &"three"],
                &[&4i32, &"four"],
                &[&5i32, &None::<&str>],
            ],
        )
        .await
        .unwrap();
    assert_eq!(n, 3);
    assert_eq!(
        client
            .execute(
                &format!("UPDATE {t} SET label = upper(label) WHERE id > $1"),
                &[&2i32]
            )
            .await
            .unwrap(),
        3
    );
    assert_eq!(
        psql(format!(
            "SELECT string_agg(id || ':' || coalesce(label, 'NULL'), ',' ORDER BY id) FROM {t}"
        ))
        .await,
        "1:one,2:two,3:THREE,4:FOUR,5:NULL"
    );
    let messages = client
        .simple_query(&format!(
            "SELECT id, label FROM {t} WHERE id <= 2 ORDER BY id; SELECT 9"
        ))
        .await
        .unwrap();
    let mut rows = Vec::new();
    let mut completes = Vec::new();
    for m in &messages {
        match m {
            SimpleQueryMessage::Row(r) => rows.push(format!(
                "{}:{}",
                r.get(0).unwrap_or("NULL"),
                r.get(1).unwrap_or("NULL")
            )),
            SimpleQueryMessage::CommandComplete(n) => completes.push(*n),
            _ => {}
        }
    }
    assert_eq!(rows, ["1:one", "2:two", "9:NULL"]);
    assert_eq!(completes, [2, 1]);

    // Prepared statements: metadata, reuse, a wrong parameter count, closing.
    let stmt = client
        .prepare(&format!("SELECT label FROM {t} WHERE id = $1"))
        .await
        .unwrap();
    assert_eq!(stmt.params(), &[23]);
    assert_eq!(stmt.columns().len(), 1);
    assert_eq!(stmt.columns()[0].name(), "label");
    for (id, label) in [(1i32, "one"), (3, "THREE")] {
        let got: String = client.query_one(&stmt, &[&id]).await.unwrap().get(0);
        assert_eq!(got, label);
    }
    let e = expect_failure(client.query(&stmt, &[]).await, "a missing parameter");
    assert_kind(&e, ErrorKind::Usage);
    let typed = client
        .prepare_typed("SELECT $1 || 'x'", &[25])
        .await
        .unwrap();
    assert_eq!(typed.params(), &[25]);
    let name = stmt.name().to_owned();
    assert_eq!(prepared_on_server(&client, &name).await, 1);
    client.close_statement(stmt).await.unwrap();
    assert_eq!(prepared_on_server(&client, &name).await, 0);
}

/// How many prepared statements named `name` the client's session has.
async fn prepared_on_server(client: &Client, name: &str) -> i64 {
    client
        .query_one(
            "SELECT count(*) FROM pg_prepared_statements WHERE name = $1",
            &[&name],
        )
        .await
        .unwrap()
        .get(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_are_typed_and_the_client_stays_usable() {
    let client = connect().await;
    let e = expect_failure(
        client.query("SELECT * FROM no_such_table_tokio", &[]).await,
        "a missing table",
    );
    assert_kind(&e, ErrorKind::Db);
    let db = assert_db_code(&e, "42P01");
    assert!(
        db.message().contains("no_such_table_tokio"),
        "{}",
        db.message()
    );
    assert_eq!(select_int(&client, 1).await, 1);

    let t = unique_name("tokio_unique");
    client
        .batch_execute(&format!("CREATE TABLE {t} (id int PRIMARY KEY)"))
        .await
        .unwrap();
    let insert = format!("INSERT INTO {t} VALUES ($1)");
    client.execute(&insert, &[&1i32]).await.unwrap();
    let e = expect_failure(client.execute(&insert, &[&1i32]).await, "a duplicate key");
    let db = assert_db_code(&e, "23505");
    assert_eq!(db.table(), Some(t.as_str()));
    // Through the simple protocol and a prepared statement as well.
    let e = expect_failure(
        client
            .batch_execute(&format!("INSERT INTO {t} VALUES (1)"))
            .await,
        "a duplicate key, simple protocol",
    );
    assert_db_code(&e, "23505");
    let e = expect_failure(client.prepare("SELEC 1").await, "a syntax error");
    assert_db_code(&e, "42601");
    let e = expect_failure(
        client.query_one("SELECT 1 / $1::int", &[&0i32]).await,
        "division by zero",
    );
    assert_db_code(&e, "22012");
    // A failed execute_many commits none of its rows (one sync point).
    let e = expect_failure(
        client
            .execute_many(&insert, &[&[&2i32], &[&3i32], &[&1i32], &[&4i32]])
            .await,
        "execute_many with a duplicate",
    );
    assert_db_code(&e, "23505");
    assert_eq!(committed_ids(&t).await, "1");
    assert!(!client.is_closed());
    assert!(!client.in_transaction());
    assert_eq!(select_int(&client, 2).await, 2);
}

async fn committed_ids(table: &str) -> String {
    psql(format!(
        "SELECT coalesce(string_agg(id::text, ',' ORDER BY id), '') FROM {table}"
    ))
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_state_is_current_when_a_call_returns() {
    // What a call changed (transaction status, notices) is visible as soon as its future
    // resolves: a pool checks in_transaction() right after the user's last call.
    let client = connect().await;
    for i in 0..300 {
        client.batch_execute("BEGIN").await.unwrap();
        assert!(client.in_transaction(), "after BEGIN (round {i})");
        client.batch_execute("COMMIT").await.unwrap();
        assert!(!client.in_transaction(), "after COMMIT (round {i})");
    }
    for i in 0..100 {
        client
            .batch_execute(&format!(
                "DO $$BEGIN RAISE NOTICE 'tokio notice {i}'; END$$"
            ))
            .await
            .unwrap();
        let notices = client.take_notices();
        assert_eq!(notices.len(), 1, "round {i}: {notices:?}");
        assert_eq!(notices[0].message(), format!("tokio notice {i}"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_queries_on_sixteen_connections() {
    let application = unique_name("tokio_many");
    let conninfo = format!(
        "{} application_name={application}",
        cluster().superuser_conninfo()
    );
    let mut clients = Vec::new();
    for _ in 0..16 {
        clients.push(connect_task(&conninfo).await.0);
    }
    let pids: HashSet<i32> = clients.iter().map(|c| c.backend_pid()).collect();
    assert_eq!(pids.len(), 16);
    let clients = Arc::new(clients);
    let started = Instant::now();
    let tasks: Vec<_> = (0..1000i32)
        .map(|i| {
            let clients = clients.clone();
            tokio::spawn(async move {
                let client = &clients[i as usize % 16];
                let row = client
                    .query_one(
                        "SELECT $1::int * 2, $2::text || $1::text, pg_backend_pid()",
                        &[&i, &"n"],
                    )
                    .await
                    .unwrap_or_else(|e| panic!("query {i}: {e}"));
                let (doubled, label, pid): (i32, String, i32) =
                    (row.get(0), row.get(1), row.get(2));
                assert_eq!(doubled, i * 2, "query {i}");
                assert_eq!(label, format!("n{i}"), "query {i}");
                assert_eq!(
                    pid,
                    client.backend_pid(),
                    "query {i} ran on another backend"
                );
                pid
            })
        })
        .collect();
    let mut served = HashSet::new();
    for task in tasks {
        served.insert(task.await.expect("a query task"));
    }
    assert_eq!(served, pids, "every connection served its share");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "took {:?}",
        started.elapsed()
    );
    // The server saw 16 sessions of ours, every one idle now.
    let seen = psql(format!(
        "SELECT count(*) || '|' || count(*) FILTER (WHERE state = 'idle') FROM pg_stat_activity \
         WHERE application_name = '{application}'"
    ))
    .await;
    assert_eq!(seen, "16|16");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_futures_on_one_client() {
    let client = connect().await;
    let futures = (0..200i32).map(|i| {
        let client = &client;
        async move {
            let row = client
                .query_one("SELECT $1::int + 1000, repeat('x', $1::int)", &[&i])
                .await
                .unwrap_or_else(|e| panic!("query {i}: {e}"));
            (i, row.get::<_, i32>(0), row.get::<_, String>(1))
        }
    });
    let results = futures_util::future::join_all(futures).await;
    assert_eq!(results.len(), 200);
    for (i, plus, text) in results {
        assert_eq!(plus, i + 1000);
        assert_eq!(text.len(), i as usize);
    }
    // Mixed with failures: each future gets its own outcome.
    let futures = (0..50i32).map(|i| {
        let client = &client;
        async move { client.query_one("SELECT 10 / $1::int", &[&(i % 5)]).await }
    });
    for (i, result) in futures_util::future::join_all(futures)
        .await
        .into_iter()
        .enumerate()
    {
        let i = i as i32;
        if i % 5 == 0 {
            let e = expect_failure(result, "10 / 0");
            assert_db_code(&e, "22012");
        } else {
            assert_eq!(result.unwrap().get::<_, i32>(0), 10 / (i % 5), "query {i}");
        }
    }
    assert!(!client.in_transaction());
}

// ---------------------------------------------------------------------------------------------
// Cancellation
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timed_out_query_is_cancelled_on_the_server() {
    let client = connect().await;
    let pid = client.backend_pid();
    let started = Instant::now();
    let timed_out = tokio::time::timeout(
        Duration::from_millis(300),
        client.query("SELECT pg_sleep(30)", &[]),
    )
    .await;
    assert!(timed_out.is_err(), "pg_sleep(30) returned: {timed_out:?}");
    // The next query waits for the abandoned one to be cancelled, not for its 30 s.
    let row = client.query_one("SELECT 5", &[]).await.unwrap();
    assert_eq!(row.get::<_, i32>(0), 5);
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_secs(5), "took {elapsed:?}");
    assert_eq!(activity(pid).await, "idle|SELECT 5");
    // The cancelled statement's error went nowhere: the session goes on normally.
    assert_eq!(select_int(&client, 6).await, 6);
    assert!(!client.is_closed());
}

#[tokio::test(flavor = "current_thread")]
async fn on_a_current_thread_runtime() {
    // The connection's task and its callers share one thread: concurrent futures, a timed-out
    // query and its cancel all make progress.
    let client = connect().await;
    let results = futures_util::future::join_all((0..100i32).map(|i| {
        let client = &client;
        async move { select_int(client, i).await }
    }))
    .await;
    assert_eq!(results, (0..100).collect::<Vec<_>>());
    let started = Instant::now();
    let timed_out = tokio::time::timeout(
        Duration::from_millis(200),
        client.execute("SELECT pg_sleep(30)", &[]),
    )
    .await;
    assert!(timed_out.is_err());
    assert_eq!(select_int(&client, 8).await, 8);
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_secs(5), "took {elapsed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timed_out_query_queued_with_others_is_cancelled_too() {
    // While a statement runs, more calls queue up: the connection sends them together (each
    // behind its own sync point). One of them timing out must still be cancelled, and only it.
    let client = connect().await;
    let pid = client.backend_pid();
    let started = Instant::now();
    let busy = client.query_one("SELECT pg_sleep(0.3)::text", &[]);
    let queued = async {
        // Queued behind `busy` (which the server shows running).
        wait_running(pid, "pg_sleep(0.3)").await;
        let before = select_int(&client, 1);
        let sleep = tokio::time::timeout(
            Duration::from_millis(1000),
            client.query("SELECT pg_sleep(30)", &[]),
        );
        let after = select_int(&client, 2);
        tokio::join!(before, sleep, after)
    };
    let (busy, (before, sleep, after)) = tokio::join!(busy, queued);
    busy.unwrap();
    assert_eq!((before, after), (1, 2));
    assert!(sleep.is_err(), "pg_sleep(30) returned: {sleep:?}");
    assert_eq!(select_int(&client, 3).await, 3);
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_secs(5), "took {elapsed:?}");
    assert_eq!(activity(pid).await, "idle|SELECT $1::int");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_row_stream_leaves_the_client_usable() {
    let client = connect().await;
    let pid = client.backend_pid();
    let started;
    {
        // A hundred million rows, made as they are sent (a set-returning function in the
        // target list is not materialized first): a minute or more without the cancel.
        let mut rows = client
            .query_raw("SELECT generate_series(1, 100000000)", &[])
            .await
            .unwrap();
        for expected in 1..=10i32 {
            let row = rows.next().await.expect("a row").unwrap();
            assert_eq!(row.get::<_, i32>(0), expected);
        }
        started = Instant::now();
    }
    assert_eq!(select_int(&client, 3).await, 3);
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_secs(5), "took {elapsed:?}");
    assert_eq!(activity(pid).await, "idle|SELECT $1::int");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_token_cancels_from_another_task() {
    let client = connect().await;
    let pid = client.backend_pid();
    let token = client.cancel_token();
    let canceller = tokio::spawn(async move {
        wait_running(pid, "pg_sleep").await;
        token.cancel_query().await
    });
    let started = Instant::now();
    let e = expect_failure(
        client.execute("SELECT pg_sleep(30)", &[]).await,
        "a cancelled pg_sleep",
    );
    assert!(started.elapsed() < Duration::from_secs(20), "not cancelled");
    canceller
        .await
        .expect("the cancelling task")
        .expect("the cancel request is delivered");
    let db = assert_db_code(&e, "57014");
    assert!(db.message().contains("cancel"), "{}", db.message());
    assert_eq!(select_int(&client, 4).await, 4);
    assert_eq!(activity(pid).await, "idle|SELECT $1::int");
    // With nothing running, a cancel changes nothing.
    client.cancel_token().cancel_query().await.unwrap();
    assert_eq!(select_int(&client, 5).await, 5);
}

// ---------------------------------------------------------------------------------------------
// Transactions
// ---------------------------------------------------------------------------------------------

fn insert(table: &str) -> String {
    format!("INSERT INTO {table} VALUES ($1)")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commit_rollback_and_drop() {
    let t = table("tokio_tx").await;
    let mut client = connect().await;
    let pid = client.backend_pid();

    let tx = client.transaction().await.unwrap();
    assert!(tx.in_transaction());
    tx.execute(&insert(&t), &[&1i32]).await.unwrap();
    tx.execute(&insert(&t), &[&2i32]).await.unwrap();
    let own: i64 = tx
        .query_one(&format!("SELECT count(*) FROM {t}"), &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(own, 2);
    assert_eq!(committed(&t).await, "", "visible before commit");
    tx.commit().await.unwrap();
    assert_eq!(committed(&t).await, "1,2");
    assert!(!client.in_transaction());

    let tx = client.transaction().await.unwrap();
    tx.execute(&insert(&t), &[&3i32]).await.unwrap();
    tx.rollback().await.unwrap();
    assert_eq!(committed(&t).await, "1,2");

    {
        let tx = client.transaction().await.unwrap();
        tx.execute(&insert(&t), &[&4i32]).await.unwrap();
        // Dropped without commit.
    }
    // The very next statement runs after the rollback, outside any transaction: committed
    // at once, and the dropped transaction's row is gone.
    client.execute(&insert(&t), &[&5i32]).await.unwrap();
    assert!(!client.in_transaction());
    assert_eq!(committed(&t).await, "1,2,5");
    assert_eq!(activity(pid).await, format!("idle|{}", insert(&t)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_dropped_while_its_statement_runs_is_rolled_back() {
    let t = table("tokio_tx_abandoned").await;
    let mut client = connect().await;
    let started = Instant::now();
    {
        let tx = client.transaction().await.unwrap();
        tx.execute(&insert(&t), &[&1i32]).await.unwrap();
        let timed_out = tokio::time::timeout(
            Duration::from_millis(200),
            tx.execute("SELECT pg_sleep(30)", &[]),
        )
        .await;
        assert!(timed_out.is_err());
    }
    client.execute(&insert(&t), &[&2i32]).await.unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert!(!client.in_transaction());
    assert_eq!(committed(&t).await, "2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn savepoints_nest() {
    let t = table("tokio_sp").await;
    let mut client = connect().await;
    let mut tx = client.transaction().await.unwrap();
    tx.execute(&insert(&t), &[&1i32]).await.unwrap();
    {
        let sp = tx.transaction().await.unwrap();
        sp.execute(&insert(&t), &[&2i32]).await.unwrap();
        sp.rollback().await.unwrap();
    }
    {
        let mut sp = tx.savepoint("keep").await.unwrap();
        sp.execute(&insert(&t), &[&3i32]).await.unwrap();
        {
            // Two levels deep, dropped: rolled back to its savepoint only.
            let inner = sp.transaction().await.unwrap();
            inner.execute(&insert(&t), &[&4i32]).await.unwrap();
        }
        sp.execute(&insert(&t), &[&5i32]).await.unwrap();
        sp.commit().await.unwrap();
    }
    {
        let sp = tx.transaction().await.unwrap();
        let e = expect_failure(sp.execute("SELECT 1/0", &[]).await, "1/0 in a savepoint");
        assert_db_code(&e, "22012");
        // Dropped: the rollback to the savepoint recovers the transaction.
    }
    tx.execute(&insert(&t), &[&6i32]).await.unwrap();
    assert_eq!(committed(&t).await, "");
    tx.commit().await.unwrap();
    assert_eq!(committed(&t).await, "1,3,5,6");
    assert!(!client.in_transaction());
}

// ---------------------------------------------------------------------------------------------
// Streaming rows
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_raw_streams_a_hundred_thousand_rows() {
    let client = connect().await;
    let mut rows = client
        .query_raw(
            "SELECT g, 'row ' || g FROM generate_series(1, $1::int) g",
            &[&100_000i32],
        )
        .await
        .unwrap();
    assert_eq!(rows.columns().len(), 2);
    assert_eq!(rows.rows_affected(), None, "before the end");
    let (mut count, mut sum) = (0i64, 0i64);
    while let Some(row) = rows.next().await {
        let row = row.unwrap();
        let g: i32 = row.get(0);
        count += 1;
        assert_eq!(i64::from(g), count, "out of order");
        sum += i64::from(g);
        if g % 9973 == 0 {
            assert_eq!(row.get::<_, &str>(1), format!("row {g}"));
        }
    }
    assert_eq!(count, 100_000);
    assert_eq!(sum, 100_000 * 100_001 / 2);
    assert_eq!(rows.rows_affected(), Some(100_000));
    assert!(rows.next().await.is_none(), "an ended stream stays ended");

    // A statement without rows: nothing, then what it did.
    client
        .batch_execute("CREATE TEMP TABLE raw_t (x int)")
        .await
        .unwrap();
    let mut rows = client
        .query_raw("INSERT INTO raw_t SELECT generate_series(1, 5)", &[])
        .await
        .unwrap();
    assert!(rows.next().await.is_none());
    assert_eq!(rows.rows_affected(), Some(5));
    // A bad statement fails the call itself.
    let e = expect_failure(
        client
            .query_raw("SELECT * FROM no_such_table", &[])
            .await
            .map(|_| ()),
        "a bad statement",
    );
    assert_db_code(&e, "42P01");
    // A prepared statement streams too.
    let stmt = client
        .prepare("SELECT $1::int * g FROM generate_series(1, 3) g")
        .await
        .unwrap();
    let got: Vec<i32> = client
        .query_raw(&stmt, &[&7i32])
        .await
        .unwrap()
        .map(|r| r.unwrap().get::<_, i32>(0))
        .collect()
        .await;
    assert_eq!(got, [7, 14, 21]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_error_mid_stream_ends_the_stream_with_it() {
    let client = connect().await;
    let mut rows = client
        .query_raw(
            "SELECT 1 / (50000 - g) FROM generate_series(1, 100000) g",
            &[],
        )
        .await
        .unwrap();
    let mut ok = 0;
    let mut error = None;
    while let Some(row) = rows.next().await {
        match row {
            Ok(_) => ok += 1,
            Err(e) => {
                error = Some(e);
                break;
            }
        }
    }
    let error = error.expect("the division by zero was not reported");
    assert_db_code(&error, "22012");
    assert!(ok < 50_000, "{ok} rows before the error");
    assert!(
        rows.next().await.is_none(),
        "the stream ends after its error"
    );
    assert_eq!(select_int(&client, 2).await, 2);
}

// ---------------------------------------------------------------------------------------------
// COPY
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_in_through_the_sink_and_out_through_the_stream() {
    let client = connect().await;
    let t = unique_name("tokio_copy");
    client
        .batch_execute(&format!("CREATE TABLE {t} (id int, label text)"))
        .await
        .unwrap();
    let mut data = Vec::new();
    for i in 1..=20_000 {
        let label = if i % 7 == 0 {
            "\\N".to_owned()
        } else {
            format!("ünï {i}")
        };
        data.extend_from_slice(format!("{i}\t{label}\n").as_bytes());
    }
    let mut sink = client
        .copy_in(&format!("COPY {t} FROM STDIN"))
        .await
        .unwrap();
    // Odd-sized chunks, rows split across them, through the Sink trait.
    let mut chunks = data.chunks(4099);
    for chunk in chunks.by_ref().take(5) {
        SinkExt::send(&mut sink, chunk.to_vec()).await.unwrap();
    }
    let rest: Vec<Result<Vec<u8>, Error>> = chunks.map(|c| Ok(c.to_vec())).collect();
    sink.send_all(&mut futures_util::stream::iter(rest))
        .await
        .unwrap();
    assert_eq!(sink.finish().await.unwrap(), 20_000);
    let summary = psql(format!(
        "SELECT count(*) || '|' || sum(id) || '|' || count(*) FILTER (WHERE label IS NULL) \
         FROM {t}"
    ))
    .await;
    assert_eq!(
        summary,
        format!("20000|{}|{}", 20_000 * 20_001 / 2, 20_000 / 7)
    );

    let mut out = Vec::new();
    let mut stream = client
        .copy_out(&format!("COPY (SELECT * FROM {t} ORDER BY id) TO STDOUT"))
        .await
        .unwrap();
    let mut chunks = 0;
    while let Some(chunk) = stream.next().await {
        out.extend_from_slice(&chunk.unwrap());
        chunks += 1;
    }
    assert!(chunks > 1, "one chunk per row at least");
    assert!(out == data, "COPY TO STDOUT differs from what went in");
    assert_eq!(select_int(&client, 1).await, 1);

    // CSV with a header, exactly.
    let csv: Vec<Vec<u8>> = client
        .copy_out(&format!(
            "COPY (SELECT id, label FROM {t} WHERE id IN (1, 7) ORDER BY id) TO STDOUT \
             (FORMAT csv, HEADER)"
        ))
        .await
        .unwrap()
        .map(|c| c.unwrap())
        .collect()
        .await;
    assert_eq!(
        String::from_utf8(csv.concat()).unwrap(),
        "id,label\n1,ünï 1\n7,\n"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_copy_out_stream_leaves_the_client_usable() {
    let client = connect().await;
    let pid = client.backend_pid();
    let started;
    {
        // Gigabytes of COPY data: a minute or more to send without the cancel.
        let mut stream = client
            .copy_out("COPY (SELECT generate_series(1, 200000000)) TO STDOUT")
            .await
            .unwrap();
        let first = stream.next().await.expect("a chunk").unwrap();
        assert!(
            first.starts_with(b"1\n2\n"),
            "{:?}",
            &first[..first.len().min(8)]
        );
        started = Instant::now();
    }
    assert_eq!(select_int(&client, 4).await, 4);
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_secs(5), "took {elapsed:?}");
    assert_eq!(activity(pid).await, "idle|SELECT $1::int");
    // A statement that is no COPY, and a failing one, end the stream with the error.
    let mut stream = client.copy_out("SELECT 1").await.unwrap();
    let e = stream.next().await.expect("the error").unwrap_err();
    assert_kind(&e, ErrorKind::Usage);
    assert!(stream.next().await.is_none());
    let mut stream = client
        .copy_out("COPY (SELECT 1/0) TO STDOUT")
        .await
        .unwrap();
    let e = stream.next().await.expect("the error").unwrap_err();
    assert_db_code(&e, "22012");
    assert_eq!(select_int(&client, 5).await, 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_in_a_bad_row_and_an_abort() {
    let client = connect().await;
    let t = table("tokio_copy_bad").await;
    let mut sink = client
        .copy_in(&format!("COPY {t} FROM STDIN"))
        .await
        .unwrap();
    sink.send(b"1\n2\n".to_vec()).await.unwrap();
    sink.send(b"three\n4\n".to_vec()).await.unwrap();
    let e = expect_failure(sink.finish().await, "a bad row");
    let db = assert_db_code(&e, "22P02");
    assert!(db.message().contains("three"), "{}", db.message());
    assert_eq!(committed(&t).await, "");
    assert_eq!(select_int(&client, 1).await, 1);

    // Many more rows after the bad one: the sink's sends may fail once the server has ended
    // the COPY; finish has the server's error.
    let mut sink = client
        .copy_in(&format!("COPY {t} FROM STDIN"))
        .await
        .unwrap();
    sink.send(b"x\n".to_vec()).await.unwrap();
    for _ in 0..200 {
        if sink.send(b"5\n".repeat(1000)).await.is_err() {
            break;
        }
    }
    let e = expect_failure(sink.finish().await, "a bad first row");
    assert_db_code(&e, "22P02");
    assert_eq!(committed(&t).await, "");

    let mut sink = client
        .copy_in(&format!("COPY {t} FROM STDIN"))
        .await
        .unwrap();
    sink.send(b"1\n2\n".to_vec()).await.unwrap();
    sink.abort("changed my mind").await.unwrap();
    assert_eq!(committed(&t).await, "");

    // Dropped before finish: aborted as well.
    {
        let mut sink = client
            .copy_in(&format!("COPY {t} FROM STDIN"))
            .await
            .unwrap();
        sink.send(b"1\n".to_vec()).await.unwrap();
    }
    client.execute(&insert(&t), &[&9i32]).await.unwrap();
    assert_eq!(committed(&t).await, "9");
    assert!(!client.in_transaction());

    // COPY through the wrong call: a usage error, the session usable.
    let e = expect_failure(
        client.copy_in("SELECT 1").await.map(|_| ()),
        "copy_in of a SELECT",
    );
    assert_kind(&e, ErrorKind::Usage);
    let e = expect_failure(
        client
            .copy_in("COPY no_such_table FROM STDIN")
            .await
            .map(|_| ()),
        "copy_in of a missing table",
    );
    assert_db_code(&e, "42P01");
    let e = expect_failure(
        client.execute(&format!("COPY {t} FROM STDIN"), &[]).await,
        "COPY FROM STDIN through execute",
    );
    assert_kind(&e, ErrorKind::Usage);
    assert_eq!(select_int(&client, 2).await, 2);
}

// ---------------------------------------------------------------------------------------------
// Notifications
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifications_arrive_as_a_stream_while_idle() {
    let listener = connect().await;
    let sender = connect().await;
    let channel = unique_name("tokio_chan");
    listener
        .batch_execute(&format!("LISTEN {channel}"))
        .await
        .unwrap();
    let mut notifications = listener.notifications();
    assert!(notifications.try_next().is_none(), "nothing yet");
    sender
        .batch_execute(&format!("NOTIFY {channel}, 'first'; NOTIFY {channel}"))
        .await
        .unwrap();
    // No statement runs on the listener: its connection reads them while idle.
    let mut got = Vec::new();
    for _ in 0..2 {
        let n = tokio::time::timeout(Duration::from_secs(10), notifications.next())
            .await
            .expect("a notification within 10 s")
            .expect("the stream goes on");
        got.push(n);
    }
    assert_eq!(got[0].channel(), channel);
    assert_eq!(got[0].payload(), "first");
    assert_eq!(got[1].payload(), "");
    assert_eq!(got[0].process_id(), sender.backend_pid());

    // Many, in order, from statements that each commit.
    for i in 0..20 {
        sender
            .execute("SELECT pg_notify($1, $2)", &[&channel, &i.to_string()])
            .await
            .unwrap();
    }
    let mut payloads = Vec::new();
    while payloads.len() < 20 {
        let n = tokio::time::timeout(Duration::from_secs(10), notifications.next())
            .await
            .expect("a notification within 10 s")
            .expect("the stream goes on");
        payloads.push(n.payload().parse::<i32>().unwrap());
    }
    assert_eq!(payloads, (0..20).collect::<Vec<_>>());
    assert_eq!(notifications.dropped(), 0);
    // Nothing more arrives; the session is usable.
    assert!(
        tokio::time::timeout(Duration::from_millis(200), notifications.next())
            .await
            .is_err()
    );
    assert_eq!(select_int(&listener, 3).await, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notification_arriving_during_a_query_is_delivered() {
    let listener = connect().await;
    let channel = unique_name("tokio_busy");
    listener
        .batch_execute(&format!("LISTEN {channel}"))
        .await
        .unwrap();
    let mut notifications = listener.notifications();
    let pid = listener.backend_pid();
    let notify = format!("NOTIFY {channel}, 'during'");
    let sender = tokio::spawn(async move {
        wait_running(pid, "pg_sleep").await;
        psql(notify).await;
    });
    listener
        .batch_execute("SELECT pg_sleep(0.5)")
        .await
        .unwrap();
    sender.await.unwrap();
    let n = tokio::time::timeout(Duration::from_secs(10), notifications.next())
        .await
        .expect("a notification within 10 s")
        .expect("the stream goes on");
    assert_eq!(n.payload(), "during");
}

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backend_terminated_while_idle_ends_the_connection() {
    let (client, connection) = connect_task(&cluster().superuser_conninfo()).await;
    let admin = connect().await;
    let channel = unique_name("tokio_end");
    client
        .batch_execute(&format!("LISTEN {channel}"))
        .await
        .unwrap();
    let mut notifications = client.notifications();
    admin
        .execute("SELECT pg_terminate_backend($1)", &[&client.backend_pid()])
        .await
        .unwrap();
    // The connection's task reads the server's FATAL while idle and ends with it.
    let ended = tokio::time::timeout(Duration::from_secs(10), connection)
        .await
        .expect("the connection ends within 10 s")
        .expect("the connection task");
    let e = ended.expect_err("the connection ends with the server's error");
    assert_db_code(&e, "57P01");
    assert!(client.is_closed());
    assert!(
        tokio::time::timeout(Duration::from_secs(1), notifications.next())
            .await
            .expect("the notification stream ends at once")
            .is_none()
    );
    let e = expect_failure(
        client.query("SELECT 1", &[]).await,
        "a query on the ended session",
    );
    assert_kind(&e, ErrorKind::Closed);
    let e = expect_failure(
        client.query_raw("SELECT 1", &[]).await.map(|_| ()),
        "query_raw on the ended session",
    );
    assert_kind(&e, ErrorKind::Closed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backend_terminated_during_a_query_fails_it() {
    let (client, connection) = connect_task(&cluster().superuser_conninfo()).await;
    let pid = client.backend_pid();
    let killer = tokio::spawn(async move {
        wait_running(pid, "pg_sleep").await;
        psql(format!("SELECT pg_terminate_backend({pid})")).await
    });
    let started = Instant::now();
    let e = expect_failure(
        client.execute("SELECT pg_sleep(30)", &[]).await,
        "a query whose backend is terminated",
    );
    assert!(started.elapsed() < Duration::from_secs(20));
    assert_eq!(killer.await.unwrap(), "t");
    assert!(
        e.code() == Some("57P01") || e.kind() == ErrorKind::Closed,
        "expected 57P01 or Closed, got {e} / {e:?}"
    );
    assert!(client.is_closed());
    let ended = tokio::time::timeout(Duration::from_secs(10), connection)
        .await
        .expect("the connection ends")
        .expect("the connection task");
    assert!(ended.is_err(), "{ended:?}");
    let e = expect_failure(
        client.query("SELECT 1", &[]).await,
        "a query on the ended session",
    );
    assert_kind(&e, ErrorKind::Closed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_whose_connection_is_dropped_is_closed() {
    let (client, connection) = wasmpg::tokio::connect(driver(), &cluster().superuser_conninfo())
        .await
        .unwrap();
    let pid = client.backend_pid();
    drop(connection);
    assert!(client.is_closed());
    let e = expect_failure(
        client.query("SELECT 1", &[]).await,
        "a query without its connection",
    );
    assert_kind(&e, ErrorKind::Closed);
    // The socket went with it: the server ends the backend.
    wait_for("the backend to exit", Duration::from_secs(10), move || {
        let n = cluster().psql(&format!(
            "SELECT count(*) FROM pg_stat_activity WHERE pid = {pid}"
        ));
        (n == "0").then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_client_ends_the_session() {
    let (client, connection) = connect_task(&cluster().superuser_conninfo()).await;
    let pid = client.backend_pid();
    assert_eq!(select_int(&client, 1).await, 1);
    drop(client);
    let ended = tokio::time::timeout(Duration::from_secs(10), connection)
        .await
        .expect("the connection ends")
        .expect("the connection task");
    assert!(ended.is_ok(), "{ended:?}");
    wait_for("the backend to exit", Duration::from_secs(10), move || {
        let n = cluster().psql(&format!(
            "SELECT count(*) FROM pg_stat_activity WHERE pid = {pid}"
        ));
        (n == "0").then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_denied_target_and_a_wrong_password() {
    let denied = Driver::with_config(Config {
        policy: Some(Policy::parse_allow(&["127.0.0.1:1"]).unwrap()),
        ..Config::default()
    })
    .unwrap();
    let trap = Trap::tcp();
    let started = Instant::now();
    let conninfo = format!(
        "host=127.0.0.1 port={} user=postgres connect_timeout=5",
        trap.port
    );
    let e = expect_failure(
        wasmpg::tokio::connect(&denied, &conninfo).await.map(|_| ()),
        "a target the policy denies",
    );
    assert_kind(&e, ErrorKind::PolicyDenied);
    let e = expect_failure(
        wasmpg::tokio::connect(&denied, &cluster().superuser_conninfo())
            .await
            .map(|_| ()),
        "the cluster, which the policy denies",
    );
    assert_kind(&e, ErrorKind::PolicyDenied);
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(trap.hits(), 0, "a denied target was reached");

    for role in [PW_USER, MD5_USER, SCRAM_USER] {
        let e = expect_failure(
            wasmpg::tokio::connect(driver(), &cluster().conninfo(role.name, Some("wrong-one")))
                .await
                .map(|_| ()),
            "a wrong password",
        );
        assert_kind(&e, ErrorKind::Authentication);
        assert_eq!(e.code(), Some("28P01"), "{}: {e}", role.method);
        // The right one connects.
        let (client, _) = connect_task(&cluster().role_conninfo(&role)).await;
        let user: String = client
            .query_one("SELECT current_user::text", &[])
            .await
            .unwrap()
            .get(0);
        assert_eq!(user, role.name);
    }
    // A password callback, asked because the conninfo has none.
    let (client, connection) = wasmpg::tokio::connect_with_password(
        driver(),
        &cluster().conninfo(SCRAM_USER.name, None),
        |_| SCRAM_USER.password.map(str::to_owned),
    )
    .await
    .unwrap();
    tokio::spawn(connection);
    assert_eq!(select_int(&client, 1).await, 1);
}

// ---------------------------------------------------------------------------------------------
// The pool
// ---------------------------------------------------------------------------------------------

fn pool(max_size: usize, recycling: RecyclingMethod) -> Pool {
    Pool::builder(
        Manager::new(driver().clone(), cluster().superuser_conninfo()).recycling(recycling),
    )
    .max_size(max_size)
    .build()
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pool_of_four_serves_a_hundred_tasks() {
    let pool = pool(4, RecyclingMethod::Fast);
    let tasks: Vec<_> = (0..100i32)
        .map(|i| {
            let pool = pool.clone();
            tokio::spawn(async move {
                let client = pool.get().await.unwrap_or_else(|e| panic!("get {i}: {e}"));
                let row = client
                    .query_one("SELECT $1::int * 3, pg_backend_pid()", &[&i])
                    .await
                    .unwrap();
                assert_eq!(row.get::<_, i32>(0), i * 3);
                row.get::<_, i32>(1)
            })
        })
        .collect();
    let mut pids = HashSet::new();
    for task in tasks {
        pids.insert(task.await.unwrap());
    }
    assert!(
        !pids.is_empty() && pids.len() <= 4,
        "{} backends",
        pids.len()
    );
    let status = pool.status();
    assert!(status.size <= 4, "{status:?}");
    assert_eq!(status.max_size, 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pooled_client_returned_in_a_transaction_is_rolled_back() {
    let t = table("tokio_pool_tx").await;
    let pool = pool(1, RecyclingMethod::Fast);
    let pid = {
        let client = pool.get().await.unwrap();
        client.batch_execute("BEGIN").await.unwrap();
        client.execute(&insert(&t), &[&1i32]).await.unwrap();
        assert!(client.in_transaction());
        client.backend_pid()
    };
    let client = pool.get().await.unwrap();
    assert_eq!(client.backend_pid(), pid, "the same session is reused");
    assert!(!client.in_transaction());
    let n: i64 = client
        .query_one(&format!("SELECT count(*) FROM {t}"), &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 0, "the uncommitted row is visible to the next user");
    drop(client);
    assert_eq!(committed(&t).await, "");

    // A Transaction dropped with its pooled client.
    {
        let mut client = pool.get().await.unwrap();
        let tx = client.transaction().await.unwrap();
        tx.execute(&insert(&t), &[&2i32]).await.unwrap();
    }
    let client = pool.get().await.unwrap();
    assert_eq!(client.backend_pid(), pid);
    assert!(!client.in_transaction());
    client.execute(&insert(&t), &[&3i32]).await.unwrap();
    assert_eq!(committed(&t).await, "3");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clean_recycling_resets_session_state() {
    for (method, kept) in [
        (RecyclingMethod::Fast, true),
        (RecyclingMethod::Clean, false),
    ] {
        let pool = pool(1, method);
        let pid = {
            let client = pool.get().await.unwrap();
            client
                .batch_execute("SET statement_timeout = '12345ms'")
                .await
                .unwrap();
            // A statement the driver caches (prepared on the server).
            let row = client
                .query_one("SELECT $1::int + 1", &[&1i32])
                .await
                .unwrap();
            assert_eq!(row.get::<_, i32>(0), 2);
            client.backend_pid()
        };
        let client = pool.get().await.unwrap();
        assert_eq!(
            client.backend_pid(),
            pid,
            "{method:?}: the same session is reused"
        );
        let timeout: String = client
            .query_one("SELECT current_setting('statement_timeout')", &[])
            .await
            .unwrap()
            .get(0);
        let expected = if kept { "12345ms" } else { "0" };
        assert_eq!(timeout, expected, "{method:?}");
        // The cached statement still runs (re-prepared after DISCARD ALL).
        let row = client
            .query_one("SELECT $1::int + 1", &[&41i32])
            .await
            .unwrap();
        assert_eq!(row.get::<_, i32>(0), 42, "{method:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pooled_session_the_server_ended_is_replaced() {
    let pool = pool(1, RecyclingMethod::Fast);
    let pid = pool.get().await.unwrap().backend_pid();
    psql(format!("SELECT pg_terminate_backend({pid})")).await;
    // The idle session's task notices the end; the pool then opens a new one.
    let client = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let client = pool.get().await.unwrap();
            if client.backend_pid() != pid {
                return client;
            }
            drop(client);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("a fresh session within 10 s");
    assert_eq!(select_int(&client, 1).await, 1);
}

// ---------------------------------------------------------------------------------------------
// Pipelines (`wasmpg::Pipeline`), through the async client and the sync one
// ---------------------------------------------------------------------------------------------

mod pipelines {
    use super::*;
    use wasmpg::{Pipeline, PipelineResult};

    /// INSERT 1, a failure, a statement it aborts, a sync point, a statement after it.
    fn failing_pipeline(t: &str) -> Pipeline {
        let mut p = Pipeline::new();
        p.query(&insert(t), &[&1i32]).unwrap();
        p.query("SELECT 1/0", &[]).unwrap();
        p.query("SELECT 3", &[]).unwrap();
        p.sync();
        p.query("SELECT $1::int", &[&4i32]).unwrap();
        assert_eq!(p.len(), 4, "sync points are not statements");
        p
    }

    #[track_caller]
    fn check_failing(results: &[Result<PipelineResult, Error>]) {
        assert_eq!(results.len(), 4, "{results:?}");
        let inserted = results[0].as_ref().expect("the INSERT before the failure");
        assert_eq!(inserted.rows_affected(), Some(1));
        assert!(inserted.rows().is_empty());
        let e = results[1].as_ref().expect_err("1/0");
        assert_db_code(e, "22012");
        let e = results[2]
            .as_ref()
            .expect_err("a statement after the failure");
        assert_kind(e, ErrorKind::PipelineAborted);
        let after = results[3]
            .as_ref()
            .expect("the statement after the sync point");
        assert_eq!(after.rows().len(), 1);
        assert_eq!(after.rows()[0].get::<_, i32>(0), 4);
        assert_eq!(after.columns().len(), 1);
        assert_eq!(after.rows_affected(), Some(1));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_error_aborts_its_segment_and_rolls_it_back() {
        let t = table("tokio_pipe").await;
        let client = connect().await;
        let results = client.pipeline(&failing_pipeline(&t)).await.unwrap();
        check_failing(&results);
        // The INSERT shared the failure's implicit transaction: rolled back.
        assert_eq!(committed(&t).await, "");
        assert!(!client.in_transaction());

        // A sync point between them keeps it.
        let mut p = Pipeline::new();
        p.query(&insert(&t), &[&2i32]).unwrap();
        p.sync();
        p.query("SELECT 1/0", &[]).unwrap();
        p.query(&insert(&t), &[&3i32]).unwrap();
        let results = client.pipeline(&p).await.unwrap();
        assert_eq!(results.len(), 3);
        assert_eq!(results[0].as_ref().unwrap().rows_affected(), Some(1));
        assert_db_code(results[1].as_ref().unwrap_err(), "22012");
        assert_kind(results[2].as_ref().unwrap_err(), ErrorKind::PipelineAborted);
        assert_eq!(committed(&t).await, "2");
        assert_eq!(select_int(&client, 1).await, 1);

        // A pipeline is reusable; an empty one does nothing.
        let p = failing_pipeline(&t);
        check_failing(&client.pipeline(&p).await.unwrap());
        check_failing(&client.pipeline(&p).await.unwrap());
        assert!(client.pipeline(&Pipeline::new()).await.unwrap().is_empty());
        assert_eq!(committed(&t).await, "2");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_thousand_inserts_land() {
        let t = table("tokio_pipe_many").await;
        let client = connect().await;
        let stmt = client.prepare(&insert(&t)).await.unwrap();
        let mut p = Pipeline::new();
        for i in 1..=1000i32 {
            // SQL and a prepared statement, alternately.
            if i % 2 == 0 {
                p.query(&insert(&t), &[&i]).unwrap();
            } else {
                p.query(&stmt, &[&i]).unwrap();
            }
        }
        let results = client.pipeline(&p).await.unwrap();
        assert_eq!(results.len(), 1000);
        for (i, r) in results.iter().enumerate() {
            assert_eq!(r.as_ref().unwrap().rows_affected(), Some(1), "insert {i}");
        }
        assert_eq!(
            psql(format!("SELECT count(*) || '|' || sum(x) FROM {t}")).await,
            format!("1000|{}", 1000 * 1001 / 2)
        );
        let e = expect_failure(
            Pipeline::new().query(&stmt, &[]).map(|_| ()),
            "a prepared statement without its parameter",
        );
        assert_kind(&e, ErrorKind::Usage);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn pipelines_and_queries_at_once_on_one_client() {
        let t = table("tokio_pipe_mixed").await;
        let client = connect().await;
        let pipelines = (0..10i32).map(|k| {
            let (client, t) = (&client, &t);
            async move {
                let mut p = Pipeline::new();
                for i in 0..10 {
                    p.query(&insert(t), &[&(k * 10 + i)]).unwrap();
                }
                p.query("SELECT $1::int", &[&k]).unwrap();
                let results = client.pipeline(&p).await.unwrap();
                assert_eq!(results.len(), 11);
                assert_eq!(results[10].as_ref().unwrap().rows()[0].get::<_, i32>(0), k);
            }
        });
        let queries = (0..100i32).map(|i| {
            let client = &client;
            async move { assert_eq!(select_int(client, i).await, i) }
        });
        futures_util::future::join(
            futures_util::future::join_all(pipelines),
            futures_util::future::join_all(queries),
        )
        .await;
        assert_eq!(
            psql(format!(
                "SELECT count(DISTINCT x) || '|' || sum(x) FROM {t}"
            ))
            .await,
            "100|4950"
        );
    }

    #[test]
    fn the_sync_client_runs_the_same_pipeline() {
        let t = unique_name("sync_pipe");
        cluster().psql(&format!("CREATE TABLE {t} (x int)"));
        let mut client = client();
        let results = client.pipeline(&failing_pipeline(&t)).unwrap();
        check_failing(&results);
        assert_eq!(cluster().psql(&format!("SELECT count(*) FROM {t}")), "0");
        let mut p = Pipeline::new();
        p.query(&insert(&t), &[&2i32]).unwrap();
        p.sync();
        p.query("SELECT 1/0", &[]).unwrap();
        let results = client.pipeline(&p).unwrap();
        assert_eq!(results[0].as_ref().unwrap().rows_affected(), Some(1));
        assert_db_code(results[1].as_ref().unwrap_err(), "22012");
        let mut p = Pipeline::new();
        for i in 3..=1002i32 {
            p.query(&insert(&t), &[&i]).unwrap();
        }
        let results = client.pipeline(&p).unwrap();
        assert!(results.iter().all(|r| r.is_ok()));
        assert_eq!(
            cluster().psql(&format!(
                "SELECT count(*) || '|' || min(x) || '|' || max(x) FROM {t}"
            )),
            "1001|2|1002"
        );
        assert!(!client.in_transaction());
        let one: i32 = client.query_one("SELECT 1", &[]).unwrap().get(0);
        assert_eq!(one, 1);
    }
}

// ---------------------------------------------------------------------------------------------
// The Unix-domain socket

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connects_queries_and_cancels_over_the_unix_socket() {
    let (client, _task) = connect_task(&cluster().unix_conninfo(TRUST_USER.name)).await;
    assert_eq!(select_int(&client, 41).await, 41);
    let address: Option<String> = client
        .query_one("SELECT inet_client_addr()::text", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(address, None, "a Unix-socket session has no client address");
    // The cancel request goes over the same socket path.
    let pid = client.backend_pid();
    let token = client.cancel_token();
    let canceller = tokio::spawn(async move {
        wait_running(pid, "pg_sleep").await;
        token.cancel_query().await
    });
    let e = expect_failure(
        client.execute("SELECT pg_sleep(30)", &[]).await,
        "a cancelled pg_sleep",
    );
    assert_db_code(&e, "57014");
    canceller.await.unwrap().unwrap();
    assert_eq!(select_int(&client, 2).await, 2);
}
