//! Server errors: SQLSTATE and every field the server sends, and a client that keeps working
//! after them.

use wasmpg::{Client, ErrorKind};
use wasmpg_tests::*;

/// The client still answers queries, in both protocols.
#[track_caller]
fn assert_usable(c: &mut Client) {
    let one: i32 = c
        .query_one("SELECT 1", &[])
        .expect("SELECT 1 after an error")
        .get(0);
    assert_eq!(one, 1);
    c.batch_execute("SELECT 2")
        .expect("simple query after an error");
    assert!(!c.is_closed());
}

/// 1-based character (not byte) position of `needle` in `sql`, as the server reports it.
fn char_position(sql: &str, needle: &str) -> u32 {
    let byte = sql.find(needle).expect("needle in sql");
    sql[..byte].chars().count() as u32 + 1
}

#[test]
fn unique_violation_reports_constraint_table_schema_detail() {
    let mut c = client();
    let table = unique_name("uv");
    let constraint = format!("{table}_id_key");
    c.batch_execute(&format!(
        "CREATE TABLE {table} (id int CONSTRAINT {constraint} UNIQUE)"
    ))
    .unwrap();
    c.execute(&format!("INSERT INTO {table} VALUES ($1)"), &[&1i32])
        .unwrap();

    let err = expect_err(
        c.execute(&format!("INSERT INTO {table} VALUES ($1)"), &[&1i32]),
        "duplicate insert",
    );
    assert_kind(&err, ErrorKind::Db);
    let db = assert_db_code(&err, "23505");
    assert_eq!(db.severity(), "ERROR");
    assert_eq!(db.constraint(), Some(constraint.as_str()));
    assert_eq!(db.table(), Some(table.as_str()));
    assert_eq!(db.schema(), Some("public"));
    assert_eq!(db.detail(), Some("Key (id)=(1) already exists."));
    assert!(
        db.message()
            .contains("duplicate key value violates unique constraint")
            && db.message().contains(&constraint),
        "message: {}",
        db.message()
    );
    assert!(
        err.to_string().contains(db.message()),
        "Display lacks the message: {err}"
    );
    // Server bookkeeping fields are passed through.
    assert!(
        db.file().is_some() && db.line().is_some() && db.routine().is_some(),
        "{db:?}"
    );
    assert_usable(&mut c);
    // The failed insert changed nothing.
    assert_eq!(
        cluster().psql(&format!("SELECT count(*) FROM {table}")),
        "1"
    );
}

#[test]
fn syntax_error_gives_42601_and_character_position() {
    let mut c = client();
    for (sql, near) in [
        ("SELECT 1 + ;", ";"),
        ("SELEC 1", "SELEC"),
        // Multi-byte characters before the error: the position counts characters.
        ("SELECT 'ééé ✓ 𝄞' AS x ) ;", ")"),
    ] {
        let err = expect_err(c.query(sql, &[]), sql);
        let db = assert_db_code(&err, "42601");
        assert_eq!(
            db.position(),
            Some(char_position(sql, near)),
            "{sql}: {db:?}"
        );
        assert!(
            db.message().contains("syntax error"),
            "{sql}: {}",
            db.message()
        );
        // The same through the simple query protocol.
        let err = expect_err(c.batch_execute(sql), sql);
        let db = assert_db_code(&err, "42601");
        assert_eq!(
            db.position(),
            Some(char_position(sql, near)),
            "simple {sql}: {db:?}"
        );
        assert_usable(&mut c);
    }
}

#[test]
fn missing_table_gives_42p01() {
    let mut c = client();
    let table = unique_name("no_such_table");
    let sql = format!("SELECT * FROM {table}");
    let err = expect_err(c.query(&sql, &[]), "select from a missing table");
    let db = assert_db_code(&err, "42P01");
    assert!(db.message().contains(&table), "{}", db.message());
    assert_eq!(db.position(), Some(char_position(&sql, &table)));
    // Preparing fails the same way.
    let err = expect_err(c.prepare(&sql), "prepare against a missing table");
    assert_db_code(&err, "42P01");
    assert_usable(&mut c);
}

#[test]
fn division_by_zero_gives_22012() {
    let mut c = client();
    let err = expect_err(c.query("SELECT 1/0", &[]), "1/0");
    assert_db_code(&err, "22012");
    // With a parameter, so the error comes at execution, not at parse time.
    let err = expect_err(c.query_one("SELECT 1/$1::int4", &[&0i32]), "1/$1");
    let db = assert_db_code(&err, "22012");
    assert_eq!(db.message(), "division by zero");
    assert_usable(&mut c);
    let half: i32 = c.query_one("SELECT 10/$1::int4", &[&2i32]).unwrap().get(0);
    assert_eq!(half, 5);
}

#[test]
fn plpgsql_raise_sets_every_optional_field() {
    let mut c = client();
    let function = unique_name("raiser");
    cluster().psql(&format!(
        "CREATE FUNCTION {function}() RETURNS int LANGUAGE plpgsql AS $$
         BEGIN
           RAISE EXCEPTION USING MESSAGE = 'custom failure ✓', DETAIL = 'the detail',
             HINT = 'the hint', ERRCODE = '22023', COLUMN = 'col', CONSTRAINT = 'con',
             DATATYPE = 'dt', TABLE = 'tab', SCHEMA = 'sch';
         END $$"
    ));
    let err = expect_err(
        c.query(&format!("SELECT {function}()"), &[]),
        "raising function",
    );
    let db = assert_db_code(&err, "22023");
    assert_eq!(db.severity(), "ERROR");
    assert_eq!(db.message(), "custom failure ✓");
    assert_eq!(db.detail(), Some("the detail"));
    assert_eq!(db.hint(), Some("the hint"));
    assert_eq!(db.column(), Some("col"));
    assert_eq!(db.constraint(), Some("con"));
    assert_eq!(db.datatype(), Some("dt"));
    assert_eq!(db.table(), Some("tab"));
    assert_eq!(db.schema(), Some("sch"));
    let context = db
        .where_()
        .unwrap_or_else(|| panic!("no context (where) in {db:?}"));
    assert!(
        context.contains(&format!("PL/pgSQL function {function}()")) && context.contains("RAISE"),
        "context: {context}"
    );
    assert_eq!(db.routine(), Some("exec_stmt_raise"));
    assert_eq!(db.file(), Some("pl_exec.c"));
    assert!(db.line().is_some_and(|l| l > 0), "{db:?}");
    assert_eq!(db.position(), None, "a RAISE has no query position");
    assert_usable(&mut c);
}

#[test]
fn failed_batch_runs_nothing_after_the_error_and_rolls_back() {
    let mut c = client();
    let table = unique_name("batch");
    cluster().psql(&format!("CREATE TABLE {table} (x int)"));
    let err = expect_err(
        c.batch_execute(&format!(
            "INSERT INTO {table} VALUES (1); SELECT 1/0; INSERT INTO {table} VALUES (2)"
        )),
        "batch with a failing statement",
    );
    assert_db_code(&err, "22012");
    // One simple-query string is one implicit transaction: the first insert is gone too.
    assert_eq!(
        cluster().psql(&format!("SELECT count(*) FROM {table}")),
        "0"
    );
    assert_usable(&mut c);
}

#[test]
fn many_errors_in_a_row_do_not_wear_the_client_out() {
    let mut c = client();
    for i in 0..200 {
        let err = expect_err(c.query("SELECT 1/$1::int8", &[&0i64]), "1/0");
        assert_eq!(err.code(), Some("22012"), "iteration {i}");
        let n: i64 = c
            .query_one("SELECT $1::int8 + 1", &[&(i as i64)])
            .unwrap()
            .get(0);
        assert_eq!(n, i as i64 + 1);
    }
}

#[test]
fn notices_and_warnings_do_not_break_a_query() {
    let mut c = client();
    let function = unique_name("noisy");
    cluster().psql(&format!(
        "CREATE FUNCTION {function}(n int) RETURNS int LANGUAGE plpgsql AS $$
         BEGIN
           RAISE NOTICE 'notice % ✓', n;
           RAISE WARNING 'warning %', n;
           RAISE INFO 'info %', n;
           RETURN n * 2;
         END $$"
    ));
    let rows = c
        .query(
            &format!("SELECT {function}(g) FROM generate_series(1, 50) AS g"),
            &[],
        )
        .unwrap();
    let doubled: Vec<i32> = rows.iter().map(|r| r.get(0)).collect();
    assert_eq!(doubled, (1..=50).map(|n| n * 2).collect::<Vec<_>>());
    c.batch_execute("DO $$ BEGIN RAISE NOTICE 'from DO'; END $$")
        .unwrap();
    let simple = c.simple_query(&format!("SELECT {function}(21)")).unwrap();
    let row = simple
        .iter()
        .find_map(|m| match m {
            wasmpg::SimpleQueryMessage::Row(row) => Some(row),
            _ => None,
        })
        .expect("a row");
    assert_eq!(row.get(0), Some("42"));
    assert_usable(&mut c);
}

#[test]
fn row_count_errors() {
    let mut c = client();
    let err = expect_err(
        c.query_one("SELECT 1 WHERE false", &[]),
        "query_one, no row",
    );
    assert_kind(&err, ErrorKind::RowCount);
    let err = expect_err(
        c.query_one("SELECT 1 UNION ALL SELECT 2", &[]),
        "query_one, 2 rows",
    );
    assert_kind(&err, ErrorKind::RowCount);
    assert!(c.query_opt("SELECT 1 WHERE false", &[]).unwrap().is_none());
    let one: i32 = c
        .query_opt("SELECT 1", &[])
        .unwrap()
        .expect("one row")
        .get(0);
    assert_eq!(one, 1);
    let err = expect_err(
        c.query_opt("SELECT 1 UNION ALL SELECT 2", &[]),
        "query_opt, 2 rows",
    );
    assert_kind(&err, ErrorKind::RowCount);
    assert_usable(&mut c);
}

#[test]
fn wrong_rust_type_or_index_is_an_error_not_a_panic() {
    let mut c = client();
    let row = c
        .query_one("SELECT 'text'::text AS t, 5::int4 AS n", &[])
        .unwrap();
    let as_int: Result<i32, wasmpg::Error> = row.try_get(0);
    assert!(as_int.is_err(), "text decoded as i32: {as_int:?}");
    let out_of_range: Result<i32, wasmpg::Error> = row.try_get(2);
    assert!(out_of_range.is_err());
    let unknown_name: Result<i32, wasmpg::Error> = row.try_get("nope");
    assert!(unknown_name.is_err());
    let by_name: i32 = row.get("n");
    assert_eq!(by_name, 5);
}

#[test]
fn too_few_parameters_is_an_error() {
    // (A parameter too many is legal: the driver declares its type, and the server accepts
    // declared but unused parameters, as libpq's PQexecParams does.)
    let mut c = client();
    let err = expect_err(
        c.query("SELECT $1::int4, $2::int4", &[&1i32]),
        "one of two parameters",
    );
    assert_ne!(err.kind(), ErrorKind::Trap, "{err}");
    assert_usable(&mut c);
}
