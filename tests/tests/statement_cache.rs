//! The automatic statement cache against DDL and statement resets on the real server: a cached
//! statement whose result shape changed (SQLSTATE 0A000 from the plan cache) or that the server
//! no longer has (26000) is prepared again and the request sent again, transparently, outside a
//! transaction; inside one the error is reported and the entry dropped. Invalidation goes by
//! SQLSTATE and the non-localized routine field, so a server speaking German behaves the same.
//! Statements that leave the cache are closed on the server.

use wasmpg::{Client, SimpleQueryMessage};
use wasmpg_tests::*;

/// The first field of the first row of a simple query (not cached itself).
fn scalar(c: &mut Client, sql: &str) -> String {
    for message in c.simple_query(sql).unwrap() {
        if let SimpleQueryMessage::Row(row) = message {
            return row.get(0).unwrap_or("").to_owned();
        }
    }
    panic!("{sql}: no row");
}

/// How many prepared statements the session holds for exactly this text.
fn prepared_count(c: &mut Client, text: &str) -> i64 {
    scalar(
        c,
        &format!(
            "SELECT count(*) FROM pg_prepared_statements WHERE statement = {}",
            sql_literal(text)
        ),
    )
    .parse()
    .unwrap()
}

/// A table `(id int, v int)` holding `(1, 10)`, and `SELECT * FROM it WHERE id = $1`, run
/// twice so that it is cached.
fn cached_select(c: &mut Client, prefix: &str) -> (String, String) {
    let t = unique_name(prefix);
    c.batch_execute(&format!(
        "CREATE TABLE {t} (id int, v int); INSERT INTO {t} VALUES (1, 10)"
    ))
    .unwrap();
    let q = format!("SELECT * FROM {t} WHERE id = $1");
    for _ in 0..2 {
        let row = c.query_one(q.as_str(), &[&1i32]).unwrap();
        assert_eq!(row.get::<_, i32>(1), 10);
    }
    assert_eq!(prepared_count(c, &q), 1, "the statement is cached");
    (t, q)
}

/// Drops the table and creates it again with `v` as text, holding `(1, value)`.
fn recreate_as_text(c: &mut Client, t: &str, value: &str) {
    c.batch_execute(&format!(
        "DROP TABLE {t}; CREATE TABLE {t} (id int, v text); INSERT INTO {t} VALUES (1, {})",
        sql_literal(value)
    ))
    .unwrap();
}

#[test]
fn a_table_re_created_with_another_column_type_is_read_through_the_cache() {
    let mut c = client();
    let (t, q) = cached_select(&mut c, "recreated");
    recreate_as_text(&mut c, &t, "ten");
    let row = c.query_one(q.as_str(), &[&1i32]).unwrap();
    assert_eq!(row.get::<_, String>(1), "ten");
    assert_eq!(row.columns()[1].type_oid(), 25);
    // The stale statement was closed, the new one is cached and hit again.
    let row = c.query_one(q.as_str(), &[&1i32]).unwrap();
    assert_eq!(row.get::<_, String>(1), "ten");
    assert_eq!(prepared_count(&mut c, &q), 1);
}

#[test]
fn an_added_column_is_read_through_the_cache() {
    let mut c = client();
    let (t, q) = cached_select(&mut c, "added");
    c.batch_execute(&format!("ALTER TABLE {t} ADD COLUMN w text DEFAULT 'new'"))
        .unwrap();
    let row = c.query_one(q.as_str(), &[&1i32]).unwrap();
    assert_eq!(row.len(), 3);
    assert_eq!(row.get::<_, String>(2), "new");
    assert_eq!(prepared_count(&mut c, &q), 1);
}

#[test]
fn a_retried_insert_is_applied_once() {
    let mut c = client();
    let t = unique_name("once");
    c.batch_execute(&format!("CREATE TABLE {t} (id int)"))
        .unwrap();
    let q = format!("INSERT INTO {t} VALUES ($1) RETURNING *");
    for i in 1..=2i32 {
        assert_eq!(c.query_one(q.as_str(), &[&i]).unwrap().get::<_, i32>(0), i);
    }
    c.batch_execute(&format!("ALTER TABLE {t} ADD COLUMN note text DEFAULT 'x'"))
        .unwrap();
    // The cached statement's Bind fails (result type changed); its implicit transaction is
    // rolled back, so sending it again inserts the row exactly once.
    let row = c.query_one(q.as_str(), &[&3i32]).unwrap();
    assert_eq!(
        (row.get::<_, i32>(0), row.get::<_, String>(1)),
        (3, "x".to_owned())
    );
    assert_eq!(
        cluster().psql(&format!(
            "SELECT string_agg(id::text, ',' ORDER BY id) FROM {t}"
        )),
        "1,2,3"
    );
}

#[test]
fn discard_all_and_deallocate_all_reset_the_cache() {
    let mut c = client();
    let (_t, q) = cached_select(&mut c, "reset");
    for reset in ["DISCARD ALL", "DEALLOCATE ALL"] {
        c.batch_execute(reset).unwrap();
        assert_eq!(prepared_count(&mut c, &q), 0, "{reset} dropped it");
        for _ in 0..2 {
            let row = c.query_one(q.as_str(), &[&1i32]).unwrap();
            assert_eq!(row.get::<_, i32>(1), 10, "after {reset}");
        }
        assert_eq!(prepared_count(&mut c, &q), 1, "cached again after {reset}");
    }
}

#[test]
fn a_statement_deallocated_by_name_is_prepared_again() {
    let mut c = client();
    let (_t, q) = cached_select(&mut c, "dealloc");
    let name = scalar(
        &mut c,
        &format!(
            "SELECT name FROM pg_prepared_statements WHERE statement = {}",
            sql_literal(&q)
        ),
    );
    assert!(name.starts_with("wasmpg_s"), "{name}");
    c.batch_execute(&format!("DEALLOCATE {name}")).unwrap();
    // 26000 (the statement does not exist): prepared again and sent again.
    let row = c.query_one(q.as_str(), &[&1i32]).unwrap();
    assert_eq!(row.get::<_, i32>(1), 10);
    assert_eq!(prepared_count(&mut c, &q), 1);
}

#[test]
fn inside_a_transaction_the_error_is_reported_and_the_entry_dropped() {
    let mut c = client();
    let (t, q) = cached_select(&mut c, "intx");
    {
        let mut tx = c.transaction().unwrap();
        tx.batch_execute(&format!("ALTER TABLE {t} ADD COLUMN w int"))
            .unwrap();
        let err = expect_err(
            tx.query_one(q.as_str(), &[&1i32]),
            "a stale cached statement inside a transaction",
        );
        let db = assert_db_code(&err, "0A000");
        assert_eq!(db.routine(), Some("RevalidateCachedQuery"));
        tx.rollback().unwrap();
    }
    // The ALTER was rolled back; the dropped entry is closed and the statement prepared again.
    let row = c.query_one(q.as_str(), &[&1i32]).unwrap();
    assert_eq!((row.len(), row.get::<_, i32>(1)), (2, 10));
    assert_eq!(
        prepared_count(&mut c, &q),
        1,
        "the stale statement was closed"
    );
}

/// The same with the server's messages in German: nothing depends on message text. Needs the
/// `de_DE.UTF-8` locale on the server's machine (`.ci/run` generates it; by hand:
/// `localedef -i de_DE -c -f UTF-8 de_DE.UTF-8`).
#[test]
fn invalidation_does_not_depend_on_the_message_language() {
    let mut c = client();
    if let Err(e) = c.batch_execute("SET lc_messages TO 'de_DE.UTF-8'") {
        panic!(
            "cannot switch the server's messages to German ({e}); generate the locale: \
             localedef -i de_DE -c -f UTF-8 de_DE.UTF-8"
        );
    }
    let (t, q) = cached_select(&mut c, "german");
    recreate_as_text(&mut c, &t, "zehn");
    let row = c.query_one(q.as_str(), &[&1i32]).unwrap();
    assert_eq!(row.get::<_, String>(1), "zehn");
    assert_eq!(prepared_count(&mut c, &q), 1);
    // And the error a transaction sees is indeed in German.
    let mut tx = c.transaction().unwrap();
    tx.batch_execute(&format!("ALTER TABLE {t} ADD COLUMN w int"))
        .unwrap();
    let err = expect_err(tx.query_one(q.as_str(), &[&1i32]), "stale, in German");
    let db = assert_db_code(&err, "0A000");
    assert!(
        !db.message()
            .contains("cached plan must not change result type"),
        "the message is not localized: {}",
        db.message()
    );
    tx.rollback().unwrap();
}

/// A bytea parameter whose canonical form (latin-1 characters) holds a character above U+00FF:
/// the guest refuses to encode it, before anything is sent.
#[derive(Debug)]
struct NotLatin1;

impl wasmpg::types::ToSql for NotLatin1 {
    fn sql_type(&self) -> wasmpg::types::Oid {
        17
    }

    fn to_sql(&self, out: &mut String) -> Result<wasmpg::types::IsNull, wasmpg::types::BoxError> {
        out.push('\u{101}');
        Ok(wasmpg::types::IsNull::No)
    }
}

#[test]
fn a_statement_evicted_before_a_refused_request_is_still_closed() {
    let config = wasmpg::Config {
        statement_cache: 1,
        ..wasmpg::Config::default()
    };
    let driver = wasmpg::Driver::with_config(config).unwrap();
    let mut c = connect_with(&driver, &cluster().superuser_conninfo());
    let first = "SELECT $1::int4 + 100";
    let v: i32 = c.query_one(first, &[&1i32]).unwrap().get(0);
    assert_eq!(v, 101);
    assert_eq!(prepared_count(&mut c, first), 1);
    // A second statement takes the cache's one place: the first one's Close is owed.
    let v: i32 = c
        .query_one("SELECT $1::int4 + 200", &[&1i32])
        .unwrap()
        .get(0);
    assert_eq!(v, 201);
    // The request it is owed to is refused before anything is sent.
    let e = c
        .query_one("SELECT length($1::bytea)", &[&NotLatin1])
        .unwrap_err();
    assert_eq!(e.kind(), wasmpg::ErrorKind::Encode, "{e}");
    // The next request sent closes it on the server.
    assert_eq!(prepared_count(&mut c, first), 0);
    let v: i32 = c
        .query_one("SELECT $1::int4 + 200", &[&2i32])
        .unwrap()
        .get(0);
    assert_eq!(v, 202);
}
