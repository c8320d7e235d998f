//! Pipelines' edge cases against the real server, through the sync client and the async one:
//! a sync point whose implicit COMMIT fails (a deferred constraint) fails the statements of its
//! segment that had completed, since they were rolled back; a connection that dies mid-pipeline
//! leaves the unanswered statements with an "outcome unknown" error and the answered ones as
//! they were; a cached statement that went stale is run again, once, when the async client
//! pipelined it automatically outside a transaction block.

use wasmpg::{ErrorKind, Pipeline};
use wasmpg_tests::*;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

async fn connect_async() -> wasmpg::tokio::Client {
    let conninfo = cluster().role_conninfo(&TRUST_USER);
    let (client, connection) = wasmpg::tokio::connect(driver(), &conninfo)
        .await
        .unwrap_or_else(|e| panic!("connect: {e}"));
    tokio::spawn(connection);
    client
}

/// A table with a deferred unique constraint: duplicates fail only at COMMIT.
fn deferred_table() -> String {
    let t = unique_name("pipe_deferred");
    cluster().psql(&format!(
        "CREATE TABLE {t} (x int UNIQUE DEFERRABLE INITIALLY DEFERRED); GRANT ALL ON {t} TO PUBLIC"
    ));
    t
}

/// Two duplicate inserts and a SELECT in one segment (its COMMIT fails), then a sync point and
/// an insert that commits.
fn commit_failing(t: &str) -> Pipeline {
    let mut p = Pipeline::new();
    p.query(&format!("INSERT INTO {t} VALUES (1)"), &[])
        .unwrap();
    p.query(&format!("INSERT INTO {t} VALUES (1)"), &[])
        .unwrap();
    p.query("SELECT 7", &[]).unwrap();
    p.sync();
    p.query(&format!("INSERT INTO {t} VALUES (2)"), &[])
        .unwrap();
    p
}

#[track_caller]
fn check_commit_failing(t: &str, results: &[Result<wasmpg::PipelineResult, wasmpg::Error>]) {
    assert_eq!(results.len(), 4, "{results:?}");
    for r in &results[..3] {
        let e = r.as_ref().expect_err("rolled back by the failed COMMIT");
        assert_db_code(e, "23505");
    }
    assert_eq!(results[3].as_ref().unwrap().rows_affected(), Some(1));
    assert_eq!(
        cluster().psql(&format!("SELECT string_agg(x::text, ',') FROM {t}")),
        "2"
    );
}

#[test]
fn a_failed_commit_at_a_sync_point_fails_its_segment_sync() {
    let t = deferred_table();
    let mut client = client();
    let results = client.pipeline(&commit_failing(&t)).unwrap();
    check_commit_failing(&t, &results);
    // The guest's own final sync point fails the same way.
    let mut p = Pipeline::new();
    p.query(&format!("INSERT INTO {t} VALUES (3)"), &[])
        .unwrap();
    p.query(&format!("INSERT INTO {t} VALUES (3)"), &[])
        .unwrap();
    let results = client.pipeline(&p).unwrap();
    assert_eq!(results.len(), 2);
    for r in &results {
        assert_db_code(r.as_ref().unwrap_err(), "23505");
    }
    assert_eq!(
        client.query_one("SELECT 1", &[]).unwrap().get::<_, i32>(0),
        1
    );
    assert!(!client.in_transaction());
}

#[test]
fn a_failed_commit_at_a_sync_point_fails_its_segment_async() {
    let t = deferred_table();
    runtime().block_on(async {
        let client = connect_async().await;
        let results = client.pipeline(&commit_failing(&t)).await.unwrap();
        check_commit_failing(&t, &results);
        assert_eq!(
            client
                .query_one("SELECT 1", &[])
                .await
                .unwrap()
                .get::<_, i32>(0),
            1
        );
    });
}

#[test]
fn a_connection_lost_mid_pipeline_leaves_the_rest_unknown() {
    let mut client = client();
    let pid = client.backend_pid();
    let mut p = Pipeline::new();
    p.query("SELECT 1", &[]).unwrap();
    p.sync();
    // Ends this very session from inside it: the server answers nothing after it.
    p.query("SELECT pg_terminate_backend(pg_backend_pid())", &[])
        .unwrap();
    p.sync();
    p.query("SELECT 3", &[]).unwrap();
    let results = client.pipeline(&p).unwrap();
    assert_eq!(results.len(), 3);
    assert_eq!(results[0].as_ref().unwrap().rows()[0].get::<_, i32>(0), 1);
    let e = results[1].as_ref().unwrap_err();
    assert_db_code(e, "57P01");
    let e = results[2].as_ref().unwrap_err();
    assert!(
        e.to_string()
            .contains("outcome of this statement is unknown"),
        "{e}"
    );
    assert!(client.is_closed());
    let err = expect_err(client.query("SELECT 1", &[]), "a closed session");
    assert_kind(&err, ErrorKind::Closed);
    assert!(pid > 0);
}

#[test]
fn a_stale_statement_in_an_automatic_pipeline_is_run_again() {
    let t = unique_name("pipe_stale");
    cluster().psql(&format!(
        "CREATE TABLE {t} (a int); INSERT INTO {t} VALUES (1); GRANT ALL ON {t} TO PUBLIC"
    ));
    runtime().block_on(async {
        let client = connect_async().await;
        let sql = format!("SELECT * FROM {t}");
        // Cached with one column.
        assert_eq!(client.query(&sql, &[]).await.unwrap()[0].len(), 1);
        cluster().psql(&format!("ALTER TABLE {t} ADD COLUMN b int DEFAULT 5"));
        // Many at once: they go out as one pipeline; the server finds the cached statement
        // stale (its result type changed) for the first, and the guest has evicted it.
        let futures = (0..20).map(|_| client.query(&sql, &[]));
        let results = futures_util::future::join_all(futures).await;
        for r in results {
            let rows = r.unwrap_or_else(|e| panic!("a stale statement was not run again: {e}"));
            assert_eq!(rows[0].len(), 2);
            assert_eq!(rows[0].get::<_, i32>(1), 5);
        }
    });
}
