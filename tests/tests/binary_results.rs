//! Results read in binary: a described statement (cached or prepared) asks the server for its
//! integer, bool, oid, date, time, timestamp, interval and bytea columns in binary (timestamptz
//! too when the session's TimeZone is UTC), and the guest formats them into the same canonical
//! text the server's text output becomes. These tests compare both paths on the real server,
//! value by value, over each type's range ends and calendar edges: the simple query (always text)
//! against a prepared statement and against a statement-cache hit.

use wasmpg::{Client, SimpleQueryMessage};
use wasmpg_tests::*;

/// `SELECT v::<ty> FROM unnest(<values>) ...` in order, NULL included.
fn select(ty: &str, values: &[&str]) -> String {
    let literals: Vec<String> = values
        .iter()
        .map(|v| format!("'{}'", v.replace('\'', "''")))
        .chain(["NULL".to_owned()])
        .collect();
    format!(
        "SELECT v::{ty} FROM unnest(ARRAY[{}]::text[]) WITH ORDINALITY AS t(v, i) ORDER BY i",
        literals.join(", ")
    )
}

/// The canonical values of the one-column result of `sql` through the simple query (text).
fn through_text(c: &mut Client, sql: &str) -> Vec<Option<String>> {
    c.simple_query(sql)
        .unwrap()
        .iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(row) => Some(row.get(0).map(str::to_owned)),
            _ => None,
        })
        .collect()
}

fn raw(rows: &[wasmpg::Row]) -> Vec<Option<String>> {
    rows.iter().map(|r| r.raw(0).map(str::to_owned)).collect()
}

/// Asserts that the simple query, the first (described, text) execution, a statement-cache hit
/// and a prepared statement agree on every value of `ty`.
fn agree(c: &mut Client, ty: &str, values: &[&str]) -> Vec<Option<String>> {
    let sql = select(ty, values);
    let text = through_text(c, &sql);
    assert_eq!(text.len(), values.len() + 1, "{ty}: {text:?}");
    assert_eq!(text.last(), Some(&None));
    let first = raw(&c.query(&sql, &[]).unwrap());
    let cached = raw(&c.query(&sql, &[]).unwrap());
    let stmt = c.prepare(&sql).unwrap();
    let prepared = raw(&c.query(&stmt, &[]).unwrap());
    assert_eq!(first, text, "{ty}: the first execution");
    assert_eq!(cached, text, "{ty}: a statement-cache hit");
    assert_eq!(prepared, text, "{ty}: a prepared statement");
    text
}

const DATES: &[&str] = &[
    "4714-11-24 BC",
    "4713-01-01 BC",
    "0044-03-15 BC",
    "0001-12-31 BC",
    "0001-01-01",
    "0099-12-31",
    "1582-10-15",
    "1899-12-31",
    "1900-02-28",
    "1900-03-01",
    "1969-12-31",
    "1970-01-01",
    "1999-12-31",
    "2000-01-01",
    "2000-02-29",
    "2000-03-01",
    "2024-02-29",
    "2100-02-28",
    "2100-03-01",
    "2400-02-29",
    "9999-12-31",
    "10000-01-01",
    "294276-12-31",
    "5874897-12-31",
    "infinity",
    "-infinity",
];

const TIMES: &[&str] = &[
    "00:00:00",
    "00:00:00.000001",
    "12:34:56.5",
    "12:34:56.05",
    "23:59:59.999999",
    "24:00:00",
];

const TIMESTAMPS: &[&str] = &[
    "4713-11-24 00:00:00 BC",
    "0044-03-15 12:00:00.5 BC",
    "0001-12-31 23:59:59.999999 BC",
    "0001-01-01 00:00:00",
    "1969-12-31 23:59:59.999999",
    "1970-01-01 00:00:00",
    "1999-12-31 23:59:59.000001",
    "2000-01-01 00:00:00",
    "2024-02-29 12:00:00.123",
    "2024-12-31 23:59:59",
    "9999-12-31 23:59:59.999999",
    "10000-01-01 00:00:00",
    "294276-12-31 23:59:59.999999",
    "infinity",
    "-infinity",
];

#[test]
fn integers_bool_and_oid() {
    let mut c = client();
    let ints = ["0", "1", "-1", "42", "-32768", "32767"];
    assert_eq!(agree(&mut c, "int2", &ints)[4].as_deref(), Some("-32768"));
    agree(
        &mut c,
        "int4",
        &["0", "7", "-7", "2147483647", "-2147483648", "1000000"],
    );
    let int8 = agree(
        &mut c,
        "int8",
        &[
            "0",
            "-1",
            "9223372036854775807",
            "-9223372036854775808",
            "10000000000",
        ],
    );
    assert_eq!(int8[3].as_deref(), Some("-9223372036854775808"));
    agree(&mut c, "oid", &["0", "1", "4294967295", "2147483648"]);
    assert_eq!(
        agree(&mut c, "bool", &["true", "false"])[..2],
        [Some("t".to_owned()), Some("f".to_owned())]
    );
}

#[test]
fn dates_times_and_timestamps() {
    let mut c = client();
    let dates = agree(&mut c, "date", DATES);
    assert_eq!(dates[0].as_deref(), Some("4714-11-24 BC"));
    assert_eq!(dates[23].as_deref(), Some("5874897-12-31"));
    let times = agree(&mut c, "time", TIMES);
    assert_eq!(times[2].as_deref(), Some("12:34:56.500000"));
    assert_eq!(times[5].as_deref(), Some("24:00:00"));
    let stamps = agree(&mut c, "timestamp", TIMESTAMPS);
    assert_eq!(stamps[1].as_deref(), Some("0044-03-15 12:00:00.500000 BC"));
    assert_eq!(stamps[12].as_deref(), Some("294276-12-31 23:59:59.999999"));
}

#[test]
fn timestamptz_in_utc_and_other_zones() {
    let mut c = client();
    // A UTC session reads timestamptz in binary; every spelling of UTC prints +00:00.
    for zone in ["UTC", "Etc/UTC", "GMT", "Zulu"] {
        c.batch_execute(&format!("SET TimeZone = '{zone}'"))
            .unwrap();
        let values: Vec<String> = TIMESTAMPS.iter().map(|t| with_utc(t)).collect();
        let values: Vec<&str> = values.iter().map(String::as_str).collect();
        let got = agree(&mut c, "timestamptz", &values);
        assert_eq!(
            got[7].as_deref(),
            Some("2000-01-01 00:00:00+00:00"),
            "{zone}"
        );
        assert_eq!(
            got[1].as_deref(),
            Some("0044-03-15 12:00:00.500000+00:00 BC"),
            "{zone}"
        );
    }
    // Other zones keep the text form, and with it the session's offset.
    for (zone, offset) in [("Asia/Tokyo", "+09:00"), ("America/St_Johns", "-03:30")] {
        c.batch_execute(&format!("SET TimeZone = '{zone}'"))
            .unwrap();
        let got = agree(
            &mut c,
            "timestamptz",
            &["2024-01-15 00:00:00+00", "2000-01-01 00:00:00.25+00"],
        );
        assert!(
            got[0].as_deref().is_some_and(|v| v.ends_with(offset)),
            "{zone}: {got:?}"
        );
    }
    // Back in UTC, a statement cached in the other zone reads binary again.
    c.batch_execute("SET TimeZone = 'UTC'").unwrap();
    let got = agree(&mut c, "timestamptz", &["2024-01-15 00:00:00+09"]);
    assert_eq!(got[0].as_deref(), Some("2024-01-14 15:00:00+00:00"));
}

/// A timestamp literal with an explicit UTC offset, before the era if any.
fn with_utc(t: &str) -> String {
    match t.strip_suffix(" BC") {
        _ if t.ends_with("infinity") => t.to_owned(),
        Some(body) => format!("{body}+00 BC"),
        None => format!("{t}+00"),
    }
}

#[test]
fn intervals_in_every_style_and_bytea() {
    let mut c = client();
    let intervals = [
        "00:00:00",
        "1 year 2 mons 3 days 04:05:06.789",
        "-1 days",
        "1 mon -1 days 00:00:00.000001",
        "-178000000 years",
        "178000000 years",
        "2562047788:00:54.775807",
        "-2562047788:00:54.775807",
        // Every field at its extreme: finite before PostgreSQL 17, the infinities from 17.
        "178956970 years 7 mons 2147483647 days 2562047788:00:54.775807",
        "-178956970 years -8 mons -2147483648 days -2562047788 hours -54.775808 secs",
    ];
    for style in ["postgres", "iso_8601", "sql_standard", "postgres_verbose"] {
        c.batch_execute(&format!("SET IntervalStyle = {style}"))
            .unwrap();
        let got = agree(&mut c, "interval", &intervals);
        assert_eq!(got[1].as_deref(), Some("14 3 14706789000"), "{style}");
    }
    c.batch_execute("RESET IntervalStyle").unwrap();
    let bytes = agree(&mut c, "bytea", &["\\x", "\\x00ff1b1f1e1d", "abc\\\\"]);
    assert_eq!(bytes[0].as_deref(), Some(""));
    assert_eq!(
        bytes[1].as_deref(),
        Some("\u{0}\u{ff}\u{1b}\u{1f}\u{1e}\u{1d}")
    );
    // Every byte value, in both bytea_output settings.
    let every = "SELECT decode(string_agg(lpad(to_hex(g), 2, '0'), '' ORDER BY g), 'hex') \
                 FROM generate_series(0, 255) g";
    for output in ["hex", "escape"] {
        c.batch_execute(&format!("SET bytea_output = {output}"))
            .unwrap();
        let text = through_text(&mut c, every);
        let stmt = c.prepare(every).unwrap();
        let binary = raw(&c.query(&stmt, &[]).unwrap());
        assert_eq!(binary, text, "{output}");
        let codes: Vec<u32> = binary[0]
            .as_deref()
            .unwrap()
            .chars()
            .map(u32::from)
            .collect();
        assert_eq!(codes, (0..=255).collect::<Vec<u32>>());
    }
}

#[test]
fn mixed_columns_through_every_path() {
    // Binary and text columns side by side in one row, through the typed API too.
    let mut c = client();
    c.batch_execute("SET TimeZone = 'UTC'").unwrap();
    let sql = "SELECT g AS i, 'row ' || g AS t, 1.5::numeric AS n, \
               timestamptz '2024-01-01 00:00:00+00' + g * interval '1 second' AS ts, \
               g::float8 / 4 AS f, (g % 2 = 0) AS b, NULL::int AS z, ARRAY[g, g] AS a \
               FROM generate_series(1, 3) g";
    let text: Vec<Vec<Option<String>>> = c
        .simple_query(sql)
        .unwrap()
        .iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(row) => {
                Some((0..8).map(|i| row.get(i).map(str::to_owned)).collect())
            }
            _ => None,
        })
        .collect();
    let stmt = c.prepare(sql).unwrap();
    for _ in 0..2 {
        let rows = c.query(&stmt, &[]).unwrap();
        let binary: Vec<Vec<Option<String>>> = rows
            .iter()
            .map(|r| (0..8).map(|i| r.raw(i).map(str::to_owned)).collect())
            .collect();
        assert_eq!(binary, text);
        let i: i32 = rows[1].get(0);
        let b: bool = rows[1].get(5);
        let z: Option<i32> = rows[1].get(6);
        assert_eq!((i, b, z), (2, true, None));
        assert_eq!(rows[2].raw(3), Some("2024-01-01 00:00:03+00:00"));
    }
}
