//! Transactions and savepoints, with psql (another session) as the witness of what is committed.

use wasmpg::Client;
use wasmpg_tests::*;

/// A fresh table `(x int)`, created with psql.
fn table() -> String {
    let name = unique_name("tx");
    cluster().psql(&format!("CREATE TABLE {name} (x int)"));
    name
}

/// The table's values, as another session sees them.
fn committed(table: &str) -> String {
    cluster().psql(&format!(
        "SELECT coalesce(string_agg(x::text, ',' ORDER BY x), '') FROM {table}"
    ))
}

/// `INSERT INTO <table> VALUES ($1)`.
fn insert(table: &str) -> String {
    format!("INSERT INTO {table} VALUES ($1)")
}

/// The state of the client's backend as the server sees it: `idle`, `idle in transaction`...
fn backend_state(c: &Client) -> String {
    state_of(c.backend_pid())
}

fn state_of(pid: i32) -> String {
    cluster().psql(&format!(
        "SELECT state FROM pg_stat_activity WHERE pid = {pid}"
    ))
}

#[test]
fn commit_persists() {
    let t = table();
    let mut c = client();
    let mut tx = c.transaction().unwrap();
    assert_eq!(tx.execute(&insert(&t), &[&1i32]).unwrap(), 1);
    assert_eq!(tx.execute(&insert(&t), &[&2i32]).unwrap(), 1);
    // Our own uncommitted rows are visible to us, not to anyone else.
    let count: i64 = tx
        .query_one(&format!("SELECT count(*) FROM {t}"), &[])
        .unwrap()
        .get(0);
    assert_eq!(count, 2);
    assert_eq!(committed(&t), "");
    tx.commit().unwrap();
    assert_eq!(committed(&t), "1,2");
    assert_eq!(backend_state(&c), "idle");
}

#[test]
fn rollback_discards() {
    let t = table();
    let mut c = client();
    let mut tx = c.transaction().unwrap();
    tx.execute(&insert(&t), &[&1i32]).unwrap();
    tx.batch_execute(&format!("INSERT INTO {t} VALUES (2), (3)"))
        .unwrap();
    tx.rollback().unwrap();
    assert_eq!(committed(&t), "");
    let count: i64 = c
        .query_one(&format!("SELECT count(*) FROM {t}"), &[])
        .unwrap()
        .get(0);
    assert_eq!(count, 0);
    assert_eq!(backend_state(&c), "idle");
}

#[test]
fn dropping_a_transaction_rolls_back() {
    let t = table();
    let mut c = client();
    {
        let mut tx = c.transaction().unwrap();
        tx.execute(&insert(&t), &[&1i32]).unwrap();
        // Dropped here without commit.
    }
    // The next statement runs outside any transaction: autocommitted at once.
    c.execute(&insert(&t), &[&2i32]).unwrap();
    assert_eq!(committed(&t), "2");
    assert_eq!(backend_state(&c), "idle");
}

#[test]
fn savepoint_rollback_keeps_outer_work() {
    let t = table();
    let mut c = client();
    let mut tx = c.transaction().unwrap();
    tx.execute(&insert(&t), &[&1i32]).unwrap();
    {
        let mut sp = tx.savepoint("sp_discard").unwrap();
        sp.execute(&insert(&t), &[&2i32]).unwrap();
        sp.rollback().unwrap();
    }
    {
        let mut sp = tx.savepoint("sp_keep").unwrap();
        sp.execute(&insert(&t), &[&3i32]).unwrap();
        sp.commit().unwrap();
    }
    {
        let mut sp = tx.savepoint("sp_dropped").unwrap();
        sp.execute(&insert(&t), &[&4i32]).unwrap();
        // Dropped: rolled back to the savepoint.
    }
    tx.execute(&insert(&t), &[&5i32]).unwrap();
    assert_eq!(committed(&t), "");
    tx.commit().unwrap();
    assert_eq!(committed(&t), "1,3,5");
}

#[test]
fn failed_statement_aborts_the_transaction_until_rollback() {
    let t = table();
    let mut c = client();
    let pid = c.backend_pid();
    let mut tx = c.transaction().unwrap();
    tx.execute(&insert(&t), &[&1i32]).unwrap();
    assert_eq!(state_of(pid), "idle in transaction");
    let err = expect_err(tx.query("SELECT 1/0", &[]), "1/0");
    assert_db_code(&err, "22012");
    assert_eq!(state_of(pid), "idle in transaction (aborted)");
    for sql in ["SELECT 1", "SELECT now()"] {
        let err = expect_err(tx.query(sql, &[]), sql);
        let db = assert_db_code(&err, "25P02");
        assert!(
            db.message().contains("current transaction is aborted"),
            "{}",
            db.message()
        );
    }
    let err = expect_err(
        tx.batch_execute("SELECT 1"),
        "simple query in an aborted transaction",
    );
    assert_db_code(&err, "25P02");
    tx.rollback().unwrap();
    let one: i32 = c.query_one("SELECT 1", &[]).unwrap().get(0);
    assert_eq!(one, 1);
    assert_eq!(committed(&t), "");
    assert_eq!(backend_state(&c), "idle");
}

#[test]
fn commit_of_an_aborted_transaction_does_not_persist() {
    let t = table();
    let mut c = client();
    let mut tx = c.transaction().unwrap();
    tx.execute(&insert(&t), &[&1i32]).unwrap();
    expect_err(tx.execute("SELECT 1/0", &[]), "1/0");
    // COMMIT of a failed transaction is a ROLLBACK on the server; whatever the driver reports,
    // nothing may be persisted and the client must be usable.
    let _ = tx.commit();
    assert_eq!(committed(&t), "");
    let one: i32 = c.query_one("SELECT 1", &[]).unwrap().get(0);
    assert_eq!(one, 1);
}

#[test]
fn savepoint_recovers_from_an_error_inside_it() {
    let t = table();
    let mut c = client();
    let mut tx = c.transaction().unwrap();
    tx.execute(&insert(&t), &[&1i32]).unwrap();
    {
        let mut sp = tx.savepoint("sp_fail").unwrap();
        let err = expect_err(sp.execute("SELECT 1/0", &[]), "1/0 in a savepoint");
        assert_db_code(&err, "22012");
        sp.rollback().unwrap();
    }
    tx.execute(&insert(&t), &[&2i32]).unwrap();
    tx.commit().unwrap();
    assert_eq!(committed(&t), "1,2");
}

#[test]
fn a_statement_prepared_in_a_transaction_outlives_it() {
    // Prepared statements are not transactional: rolling back keeps them.
    let t = table();
    let mut c = client();
    let mut tx = c.transaction().unwrap();
    let stmt = tx.prepare(&insert(&t)).unwrap();
    assert_eq!(stmt.params(), &[23]);
    assert!(stmt.columns().is_empty());
    tx.rollback().unwrap();
    for x in [7i32, 8, 9] {
        assert_eq!(c.execute(&stmt, &[&x]).unwrap(), 1);
    }
    assert_eq!(committed(&t), "7,8,9");
}

#[test]
fn transactions_see_a_snapshot_under_repeatable_read() {
    let t = table();
    let mut c = client();
    let mut tx = c.transaction().unwrap();
    tx.batch_execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        .unwrap();
    let before: i64 = tx
        .query_one(&format!("SELECT count(*) FROM {t}"), &[])
        .unwrap()
        .get(0);
    cluster().psql(&format!("INSERT INTO {t} VALUES (42)"));
    let after: i64 = tx
        .query_one(&format!("SELECT count(*) FROM {t}"), &[])
        .unwrap()
        .get(0);
    assert_eq!(
        (before, after),
        (0, 0),
        "the snapshot must not see a later commit"
    );
    tx.commit().unwrap();
    let now: i64 = c
        .query_one(&format!("SELECT count(*) FROM {t}"), &[])
        .unwrap()
        .get(0);
    assert_eq!(now, 1);
}
