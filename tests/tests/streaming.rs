//! `Client::query_raw` against the real server: ten million rows stream through in flat
//! memory; rows before an error arrive, then the error with its SQLSTATE; an iterator dropped
//! early, a bad statement and a prepared statement leave the session usable.

use wasmpg::ErrorKind;
use wasmpg_tests::*;

#[test]
fn ten_million_rows_stream_in_flat_memory() {
    let mut client = client();
    let mut rows = client
        .query_raw(
            "SELECT g, 'row ' || g FROM generate_series(1, $1::int) g",
            &[&10_000_000i32],
        )
        .unwrap();
    assert_eq!(rows.columns().len(), 2);
    let before = rss_bytes();
    let mut peak = before;
    let (mut count, mut sum) = (0i64, 0i64);
    for row in &mut rows {
        let row = row.unwrap();
        let g: i32 = row.get(0);
        let text: &str = row.get(1);
        count += 1;
        sum += i64::from(g);
        if count % 1_000_000 == 0 {
            assert_eq!(text, format!("row {g}"));
            peak = peak.max(rss_bytes());
        }
    }
    assert_eq!(count, 10_000_000);
    assert_eq!(sum, 10_000_000 * 10_000_001 / 2);
    assert_eq!(rows.rows_affected(), Some(10_000_000));
    drop(rows);
    let grew = peak.saturating_sub(before);
    assert!(
        grew < 64 << 20,
        "memory grew by {grew} bytes while streaming ten million rows"
    );
    assert_eq!(
        client.query_one("SELECT 1", &[]).unwrap().get::<_, i32>(0),
        1
    );
}

#[test]
fn rows_before_an_error_arrive_then_the_error() {
    let mut client = client();
    // Division by zero at g = 50,000: the rows before it were sent first.
    let rows = client
        .query_raw(
            "SELECT 1 / (50000 - g) FROM generate_series(1, 100000) g",
            &[],
        )
        .unwrap();
    let mut ok = 0;
    let mut error = None;
    for row in rows {
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
    assert!(ok > 0 && ok < 50_000, "{ok} rows before the error");
    assert_eq!(
        client.query_one("SELECT 2", &[]).unwrap().get::<_, i32>(0),
        2
    );
}

#[test]
fn a_dropped_iterator_a_bad_statement_and_a_prepared_one() {
    let mut client = client();
    {
        let mut rows = client
            .query_raw("SELECT g FROM generate_series(1, 1000000) g", &[])
            .unwrap();
        let first: i32 = rows.next().unwrap().unwrap().get(0);
        assert_eq!(first, 1);
    }
    assert_eq!(
        client.query_one("SELECT 3", &[]).unwrap().get::<_, i32>(0),
        3
    );

    let e = expect_err(
        client
            .query_raw("SELECT * FROM no_such_table", &[])
            .map(|_| ()),
        "a bad statement",
    );
    assert_db_code(&e, "42P01");

    let statement = client
        .prepare("SELECT $1::int * g FROM generate_series(1, 3) g")
        .unwrap();
    let got: Vec<i32> = client
        .query_raw(&statement, &[&7i32])
        .unwrap()
        .map(|r| r.unwrap().get(0))
        .collect();
    assert_eq!(got, [7, 14, 21]);
    let e = expect_err(
        client.query_raw(&statement, &[]).map(|_| ()),
        "missing parameter",
    );
    assert_kind(&e, ErrorKind::Usage);

    // A statement without rows: nothing to iterate, and what it did.
    client
        .batch_execute("CREATE TEMP TABLE raw_t (x int)")
        .unwrap();
    let mut rows = client
        .query_raw("INSERT INTO raw_t SELECT generate_series(1, 5)", &[])
        .unwrap();
    assert!(rows.next().is_none());
    assert_eq!(rows.rows_affected(), Some(5));
}
