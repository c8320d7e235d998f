//! Every supported type, both directions: a SQL literal decoded into the Rust type, and the Rust
//! value bound as a parameter, decoded back, compared by the server with the literal, and stored
//! in a table whose value `psql` (not the driver) compares with the literal.

use std::fmt::Debug;

use wasmpg::chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use wasmpg::serde_json::{json, Value};
use wasmpg::types::{Array, Date, FromSql, Interval, Numeric, TimeTz, Timestamp, ToSql};
use wasmpg::uuid::Uuid;
use wasmpg::{Client, Error};
use wasmpg_tests::*;

// ---------------------------------------------------------------------------------------------
// The round trip
// ---------------------------------------------------------------------------------------------

/// Checks that the SQL expression `sql` of type `ty` and the Rust value `expected` are the same
/// value, judged by `==`.
fn check<T>(c: &mut Client, ty: &str, sql: &str, expected: T)
where
    T: ToSql + Sync + for<'a> FromSql<'a> + PartialEq + Debug,
{
    check_by(c, ty, sql, &expected, |a, b| a == b);
}

/// [`check`] for a quoted literal: `'<text>'::<ty>`.
fn check_lit<T>(c: &mut Client, ty: &str, text: &str, expected: T)
where
    T: ToSql + Sync + for<'a> FromSql<'a> + PartialEq + Debug,
{
    check(c, ty, &sql_literal(text), expected);
}

/// The four checks, with `same` deciding whether two Rust values are equal.
fn check_by<T>(c: &mut Client, ty: &str, sql: &str, expected: &T, same: impl Fn(&T, &T) -> bool)
where
    T: ToSql + Sync + for<'a> FromSql<'a> + Debug,
{
    let what = format!("({sql})::{ty}");
    let short = shorten(&what);

    // 1. The literal, decoded.
    let row = c
        .query_one(&format!("SELECT {what}"), &[])
        .unwrap_or_else(|e| panic!("SELECT {short}: {e}"));
    let got: T = row
        .try_get(0)
        .unwrap_or_else(|e| panic!("decoding {short}: {e}"));
    assert!(
        same(&got, expected),
        "decoding {short}: got {got:?}, want {expected:?}"
    );

    // 2. The value as a parameter, decoded back.
    let row = c
        .query_one(&format!("SELECT $1::{ty}"), &[expected])
        .unwrap_or_else(|e| panic!("binding {expected:?} as {ty}: {e}"));
    let back: T = row
        .try_get(0)
        .unwrap_or_else(|e| panic!("decoding $1::{ty}: {e}"));
    assert!(
        same(&back, expected),
        "round trip as {ty}: got {back:?}, sent {expected:?}"
    );

    // 3. The server compares the parameter with the literal, in one session (so DateStyle,
    //    IntervalStyle, TimeZone... apply to both sides alike). Text identity, not `=`: it tells
    //    -0 from 0, 1.50 from 1.5, '1 mon' from '30 days'. json has no `=`: compared as jsonb.
    let canon = canonical_type(ty);
    let row = c
        .query_one(
            &format!("SELECT $1::{ty}::{canon}::text, {what}::{canon}::text"),
            &[expected],
        )
        .unwrap_or_else(|e| panic!("comparing $1::{ty} with {short}: {e}"));
    let (sent, literal): (String, String) = (row.get(0), row.get(1));
    assert!(
        sent == literal,
        "{short}: the parameter {expected:?} reached the server as {}, the literal is {}",
        shorten(&sent),
        shorten(&literal)
    );

    // 4. Independently of the driver's decoding: store the parameter, let psql compare.
    let table = unique_name("rt");
    c.batch_execute(&format!("CREATE TABLE {table} (v {ty})"))
        .unwrap();
    let inserted = c
        .execute(&format!("INSERT INTO {table} VALUES ($1)"), &[expected])
        .unwrap();
    assert_eq!(inserted, 1, "INSERT of {expected:?} into a {ty} column");
    let verdict = cluster().psql(&format!(
        "SELECT v::{canon} = {what}::{canon} FROM {table}; DROP TABLE {table}"
    ));
    assert_eq!(
        verdict, "t",
        "psql: the stored {expected:?} differs from {short}"
    );
}

/// The type a value is compared as on the server: its text, except json (no text identity, no
/// `=`) and arrays of json.
fn canonical_type(ty: &str) -> &'static str {
    match ty {
        "json" | "jsonb" => "jsonb",
        "json[]" | "jsonb[]" => "jsonb[]",
        _ => "text",
    }
}

fn shorten(s: &str) -> String {
    if s.chars().count() <= 200 {
        return s.to_owned();
    }
    let head: String = s.chars().take(120).collect();
    let tail: String = s
        .chars()
        .rev()
        .take(40)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    format!("{head}...({} chars)...{tail}", s.chars().count())
}

// ---------------------------------------------------------------------------------------------
// Value builders
// ---------------------------------------------------------------------------------------------

fn ymd(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

fn hms_micro(h: u32, m: u32, s: u32, micro: u32) -> NaiveTime {
    NaiveTime::from_hms_micro_opt(h, m, s, micro).unwrap()
}

fn datetime(date: NaiveDate, time: NaiveTime) -> NaiveDateTime {
    date.and_time(time)
}

fn offset(seconds_east: i32) -> FixedOffset {
    FixedOffset::east_opt(seconds_east).unwrap()
}

fn numeric(text: &str) -> Numeric {
    text.parse()
        .unwrap_or_else(|e| panic!("Numeric::from_str({text:?}): {e:?}"))
}

fn same_f64(a: &f64, b: &f64) -> bool {
    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
}

fn same_f32(a: &f32, b: &f32) -> bool {
    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
}

fn same_numeric(a: &Numeric, b: &Numeric) -> bool {
    a.as_str() == b.as_str()
}

/// `ARRAY[...]::<ty>` from optional elements (each a SQL literal, or NULL).
fn array_sql(elements: &[Option<&str>], ty: &str) -> String {
    let items: Vec<String> = elements
        .iter()
        .map(|e| e.map_or_else(|| "NULL".to_owned(), sql_literal))
        .collect();
    format!("ARRAY[{}]::{ty}", items.join(","))
}

/// Strings that stress quoting, escaping and the row-batch separators.
fn tricky_strings() -> Vec<String> {
    let mut strings: Vec<String> = [
        "",
        "plain",
        "héllo wörld ✓ 𝄞",
        "\u{1}",
        "\u{1b}",
        "\u{1e}",
        "\u{1f}",
        "a\u{1f}b\u{1e}c\u{1b}d\u{1}e",
        // What the escaped forms look like: must come back verbatim, not unescaped.
        "\u{1b}@\u{1b}[\u{1b}^\u{1b}_",
        "tab\there\nnewline\r\nend\n",
        "quote ' double \" backslash \\ end\\",
        "\\x00ff",
        "NULL",
        "  leading and trailing spaces  ",
        "{\"looks\": [\"like\", \"json\"]}",
        "{a,b}",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    strings.push("x\u{1f}✓\u{1e}".repeat(15_000));
    strings
}

// ---------------------------------------------------------------------------------------------
// Scalars
// ---------------------------------------------------------------------------------------------

#[test]
fn bool_values() {
    let mut c = client();
    check_lit(&mut c, "bool", "true", true);
    check_lit(&mut c, "bool", "false", false);
}

#[test]
fn integer_limits() {
    let mut c = client();
    for (text, v) in [("-32768", i16::MIN), ("32767", i16::MAX), ("0", 0)] {
        check_lit(&mut c, "int2", text, v);
    }
    for (text, v) in [
        ("-2147483648", i32::MIN),
        ("2147483647", i32::MAX),
        ("0", 0),
    ] {
        check_lit(&mut c, "int4", text, v);
    }
    for (text, v) in [
        ("-9223372036854775808", i64::MIN),
        ("9223372036854775807", i64::MAX),
        ("0", 0),
    ] {
        check_lit(&mut c, "int8", text, v);
    }
}

#[test]
fn oid_limits() {
    let mut c = client();
    check_lit(&mut c, "oid", "0", 0u32);
    check_lit(&mut c, "oid", "4294967295", u32::MAX);
}

#[test]
fn float8_values() {
    let mut c = client();
    let cases = [
        ("NaN", f64::NAN),
        ("Infinity", f64::INFINITY),
        ("-Infinity", f64::NEG_INFINITY),
        ("-0", -0.0),
        ("0", 0.0),
        ("1e300", 1e300),
        ("5e-324", 5e-324),
        ("0.1", 0.1),
        ("-1.7976931348623157e308", f64::MIN),
    ];
    for (text, v) in cases {
        check_by(&mut c, "float8", &sql_literal(text), &v, same_f64);
    }
}

#[test]
fn float4_values() {
    let mut c = client();
    let cases = [
        ("NaN", f32::NAN),
        ("Infinity", f32::INFINITY),
        ("-Infinity", f32::NEG_INFINITY),
        ("-0", -0.0),
        ("3.4028235e38", f32::MAX),
        ("1e-45", 1e-45),
        ("0.1", 0.1),
    ];
    for (text, v) in cases {
        check_by(&mut c, "float4", &sql_literal(text), &v, same_f32);
    }
}

#[test]
fn numeric_values_are_exact() {
    let mut c = client();
    let thousand_digits = "1234567890".repeat(100);
    let tiny = format!("0.{}1", "0".repeat(499));
    let long_fraction = format!("-{}.{}", "9".repeat(300), "1234567890".repeat(30));
    let texts = [
        "0",
        "-1.5",
        "1.50",
        "0.000",
        thousand_digits.as_str(),
        tiny.as_str(),
        long_fraction.as_str(),
        "NaN",
        "Infinity",
        "-Infinity",
    ];
    for text in texts {
        let expected = numeric(text);
        assert_eq!(
            expected.as_str(),
            text,
            "Numeric::from_str must keep the text exactly"
        );
        check_by(
            &mut c,
            "numeric",
            &sql_literal(text),
            &expected,
            same_numeric,
        );
        assert_eq!(expected.to_string(), text, "Display of Numeric");
    }
}

#[test]
fn text_types_round_trip_tricky_strings() {
    let mut c = client();
    for s in tricky_strings() {
        for ty in ["text", "varchar", "bpchar", "name"] {
            // name holds at most 63 bytes; bpchar's padding spaces are insignificant in
            // comparisons, which the text identity check treats like the server does.
            if ty == "name" && s.len() > 63 {
                continue;
            }
            check_lit(&mut c, ty, &s, s.clone());
        }
    }
}

#[test]
fn borrowed_str_and_bytes_parameters() {
    let mut c = client();
    let s: &str = "héllo wörld ✓ 𝄞 \u{1f}\u{1e}\u{1b}";
    let row = c
        .query_one(
            "SELECT $1::text = 'héllo wörld ✓ 𝄞 ' || chr(31) || chr(30) || chr(27), $1::text",
            &[&s],
        )
        .unwrap();
    let equal: bool = row.get(0);
    assert!(equal, "&str parameter differs on the server");
    let borrowed: &str = row.get(1);
    assert_eq!(borrowed, s);

    let bytes: &[u8] = &[0, 1, 0x1b, 0x1e, 0x1f, 0x7f, 0x80, 0xff];
    let row = c
        .query_one(
            "SELECT $1::bytea = '\\x00011b1e1f7f80ff'::bytea, $1::bytea",
            &[&bytes],
        )
        .unwrap();
    let equal: bool = row.get(0);
    assert!(equal, "&[u8] parameter differs on the server");
    let back: Vec<u8> = row.get(1);
    assert_eq!(back, bytes);
}

#[test]
fn bpchar_with_length_pads() {
    let mut c = client();
    let row = c
        .query_one("SELECT 'ab'::char(5), $1::char(5)", &[&"xy"])
        .unwrap();
    let (literal, param): (String, String) = (row.get(0), row.get(1));
    assert_eq!(literal, "ab   ");
    assert_eq!(param, "xy   ");
}

#[test]
fn bytea_values() {
    let mut c = client();
    check(&mut c, "bytea", "'\\x'", Vec::<u8>::new());
    let all: Vec<u8> = (0..=255).collect();
    let hex: String = all.iter().map(|b| format!("{b:02x}")).collect();
    check(&mut c, "bytea", &format!("'\\x{hex}'"), all.clone());
    let mut reversed = all;
    reversed.reverse();
    let hex: String = reversed.iter().map(|b| format!("{b:02x}")).collect();
    check(&mut c, "bytea", &format!("'\\x{hex}'"), reversed);
}

#[test]
fn date_values() {
    let mut c = client();
    let cases = [
        ("2024-02-29", Date::Value(ymd(2024, 2, 29))),
        ("1970-01-01", Date::Value(ymd(1970, 1, 1))),
        ("0001-01-01", Date::Value(ymd(1, 1, 1))),
        ("0044-03-15 BC", Date::Value(ymd(-43, 3, 15))),
        ("4713-01-01 BC", Date::Value(ymd(-4712, 1, 1))),
        ("10000-01-01", Date::Value(ymd(10000, 1, 1))),
        ("infinity", Date::PosInfinity),
        ("-infinity", Date::NegInfinity),
    ];
    for (text, v) in cases {
        check_lit(&mut c, "date", text, v);
    }
    // Plain NaiveDate for finite values...
    check_lit(&mut c, "date", "0044-03-15 BC", ymd(-43, 3, 15));
    // ...and an error, not a made-up date, for what it cannot hold.
    for text in ["infinity", "-infinity", "5874897-12-31"] {
        let row = c
            .query_one(&format!("SELECT {}::date", sql_literal(text)), &[])
            .unwrap();
        let r: Result<NaiveDate, Error> = row.try_get(0);
        assert!(r.is_err(), "{text}::date decoded into NaiveDate as {r:?}");
    }
}

#[test]
fn time_values() {
    let mut c = client();
    let cases = [
        ("00:00:00", hms_micro(0, 0, 0, 0)),
        ("23:59:59.999999", hms_micro(23, 59, 59, 999_999)),
        ("12:00:00.5", hms_micro(12, 0, 0, 500_000)),
        ("01:02:03.000004", hms_micro(1, 2, 3, 4)),
    ];
    for (text, v) in cases {
        check_lit(&mut c, "time", text, v);
    }
}

#[test]
fn timetz_values() {
    let mut c = client();
    let cases = [
        (
            "12:34:56.789+05:30",
            hms_micro(12, 34, 56, 789_000),
            5 * 3600 + 1800,
        ),
        ("23:59:59-03", hms_micro(23, 59, 59, 0), -3 * 3600),
        ("00:00:00+00", hms_micro(0, 0, 0, 0), 0),
        ("06:07:08.000009+14:00", hms_micro(6, 7, 8, 9), 14 * 3600),
    ];
    for (text, time, east) in cases {
        check_lit(
            &mut c,
            "timetz",
            text,
            TimeTz {
                time,
                offset: offset(east),
            },
        );
    }
}

#[test]
fn timestamp_values() {
    let mut c = client();
    let cases = [
        (
            "2024-02-29 13:14:15.123456",
            Timestamp::Value(datetime(ymd(2024, 2, 29), hms_micro(13, 14, 15, 123_456))),
        ),
        (
            "1999-12-31 23:59:59",
            Timestamp::Value(datetime(ymd(1999, 12, 31), hms_micro(23, 59, 59, 0))),
        ),
        (
            "0044-03-15 12:00:00.000001 BC",
            Timestamp::Value(datetime(ymd(-43, 3, 15), hms_micro(12, 0, 0, 1))),
        ),
        ("infinity", Timestamp::PosInfinity),
        ("-infinity", Timestamp::NegInfinity),
    ];
    for (text, v) in cases {
        check_lit(&mut c, "timestamp", text, v);
    }
    let plain = datetime(ymd(2000, 1, 2), hms_micro(3, 4, 5, 600_000));
    check_lit(&mut c, "timestamp", "2000-01-02 03:04:05.6", plain);
    let row = c.query_one("SELECT 'infinity'::timestamp", &[]).unwrap();
    let r: Result<NaiveDateTime, Error> = row.try_get(0);
    assert!(r.is_err(), "infinity decoded into NaiveDateTime as {r:?}");
}

#[test]
fn timestamptz_values() {
    let mut c = client();
    let utc = |date, time| Utc.from_utc_datetime(&datetime(date, time));
    let cases = [
        (
            "2024-02-29 13:14:15.123456+00",
            Timestamp::Value(utc(ymd(2024, 2, 29), hms_micro(13, 14, 15, 123_456))),
        ),
        // An instant written with +05:30 is the same instant in UTC.
        (
            "2024-02-29 13:14:15.123456+05:30",
            Timestamp::Value(utc(ymd(2024, 2, 29), hms_micro(7, 44, 15, 123_456))),
        ),
        (
            "1970-01-01 00:00:00+00",
            Timestamp::Value(utc(ymd(1970, 1, 1), hms_micro(0, 0, 0, 0))),
        ),
        (
            "0044-03-15 12:00:00+00 BC",
            Timestamp::Value(utc(ymd(-43, 3, 15), hms_micro(12, 0, 0, 0))),
        ),
        ("infinity", Timestamp::PosInfinity),
        ("-infinity", Timestamp::NegInfinity),
    ];
    for (text, v) in cases {
        check_lit(&mut c, "timestamptz", text, v);
    }

    // DateTime<Utc> directly.
    let instant = utc(ymd(2024, 2, 29), hms_micro(7, 44, 15, 123_456));
    check_lit(
        &mut c,
        "timestamptz",
        "2024-02-29 13:14:15.123456+05:30",
        instant,
    );

    // DateTime<FixedOffset>, compared as instants (chrono's `==` compares instants; the offset
    // that comes back is the session's).
    let kolkata: DateTime<FixedOffset> = offset(5 * 3600 + 1800)
        .from_local_datetime(&datetime(ymd(2024, 2, 29), hms_micro(13, 14, 15, 123_456)))
        .unwrap();
    check_lit(
        &mut c,
        "timestamptz",
        "2024-02-29 13:14:15.123456+05:30",
        kolkata,
    );
    let row = c
        .query_one(
            "SELECT '2024-02-29 13:14:15.123456+05:30'::timestamptz",
            &[],
        )
        .unwrap();
    let got: DateTime<FixedOffset> = row.get(0);
    assert_eq!(got.timestamp_micros(), instant.timestamp_micros());
}

#[test]
fn interval_values() {
    let mut c = client();
    let cases = [
        (
            "1 year 2 mons 3 days 04:05:06.789",
            Interval {
                months: 14,
                days: 3,
                microseconds: 14_706_789_000,
            },
        ),
        (
            "-1 years -2 mons +3 days -04:05:06",
            Interval {
                months: -14,
                days: 3,
                microseconds: -14_706_000_000,
            },
        ),
        (
            "1 mon",
            Interval {
                months: 1,
                days: 0,
                microseconds: 0,
            },
        ),
        (
            "30 days",
            Interval {
                months: 0,
                days: 30,
                microseconds: 0,
            },
        ),
        (
            "00:00:00.000001",
            Interval {
                months: 0,
                days: 0,
                microseconds: 1,
            },
        ),
        (
            "0",
            Interval {
                months: 0,
                days: 0,
                microseconds: 0,
            },
        ),
        // The most negative interval. PostgreSQL 15 prints its time part as
        // -2562047788:00:54.775808 but cannot parse that spelling back (invalid input syntax),
        // so the literal spells it in hours and seconds.
        (
            "-178956970 years -8 mons -2147483648 days -2562047788 hours -54.775808 secs",
            Interval {
                months: i32::MIN,
                days: i32::MIN,
                microseconds: i64::MIN,
            },
        ),
        (
            "178956970 years 7 mons 2147483647 days 2562047788:00:54.775807",
            Interval {
                months: i32::MAX,
                days: i32::MAX,
                microseconds: i64::MAX,
            },
        ),
    ];
    for (text, v) in cases {
        check_lit(&mut c, "interval", text, v);
    }
}

#[test]
fn uuid_values() {
    let mut c = client();
    for text in [
        "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
        "00000000-0000-0000-0000-000000000000",
        "ffffffff-ffff-ffff-ffff-ffffffffffff",
    ] {
        check_lit(&mut c, "uuid", text, Uuid::parse_str(text).unwrap());
    }
}

#[test]
fn json_and_jsonb_values() {
    let mut c = client();
    let text = r#"{"name": "héllo ✓ 𝄞", "nested": {"list": [1, 2.5, -3, null, true, false, "x\u001fy"], "empty": {}}, "quote": "a\"b\\c"}"#;
    let value = json!({
        "name": "héllo ✓ 𝄞",
        "nested": {"list": [1, 2.5, -3, null, true, false, "x\u{1f}y"], "empty": {}},
        "quote": "a\"b\\c",
    });
    for ty in ["json", "jsonb"] {
        check_lit(&mut c, ty, text, value.clone());
        check_lit(&mut c, ty, "[1, \"two\", [3]]", json!([1, "two", [3]]));
        check_lit(&mut c, ty, "\"just a string\"", json!("just a string"));
        // JSON null is a value, not SQL NULL.
        check_lit(&mut c, ty, "null", Value::Null);
        let row = c
            .query_one(&format!("SELECT 'null'::{ty}, NULL::{ty}"), &[])
            .unwrap();
        let (json_null, sql_null): (Option<Value>, Option<Value>) = (row.get(0), row.get(1));
        assert_eq!(json_null, Some(Value::Null), "'null'::{ty}");
        assert_eq!(sql_null, None, "NULL::{ty}");
    }
}

// ---------------------------------------------------------------------------------------------
// Arrays
// ---------------------------------------------------------------------------------------------

#[test]
fn one_dimensional_arrays() {
    let mut c = client();
    check_lit(&mut c, "int4[]", "{1,NULL,3}", vec![Some(1), None, Some(3)]);
    check_lit(&mut c, "int4[]", "{1,2,3}", vec![1, 2, 3]);
    check_lit(
        &mut c,
        "int8[]",
        "{-9223372036854775808,9223372036854775807}",
        vec![i64::MIN, i64::MAX],
    );
    check_lit(
        &mut c,
        "bool[]",
        "{t,f,NULL}",
        vec![Some(true), Some(false), None],
    );
    check_by(
        &mut c,
        "float8[]",
        "'{NaN,Infinity,-Infinity,-0,0.1}'",
        &vec![f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -0.0, 0.1],
        |a, b| a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same_f64(x, y)),
    );
    check_by(
        &mut c,
        "numeric[]",
        "'{1.50,NaN,-0.001,NULL,123456789012345678901234567890}'",
        &vec![
            Some(numeric("1.50")),
            Some(numeric("NaN")),
            Some(numeric("-0.001")),
            None,
            Some(numeric("123456789012345678901234567890")),
        ],
        |a, b| {
            a.len() == b.len()
                && a.iter().zip(b).all(|(x, y)| match (x, y) {
                    (Some(x), Some(y)) => same_numeric(x, y),
                    (None, None) => true,
                    _ => false,
                })
        },
    );
    let uuid = Uuid::parse_str("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11").unwrap();
    check_lit(
        &mut c,
        "uuid[]",
        "{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11,NULL}",
        vec![Some(uuid), None],
    );
    check(
        &mut c,
        "jsonb[]",
        "ARRAY['{\"a\": [1, \"✓\"]}'::jsonb, 'null'::jsonb, NULL]",
        vec![Some(json!({"a": [1, "✓"]})), Some(Value::Null), None],
    );
}

#[test]
fn text_arrays_with_quoting_hazards() {
    let mut c = client();
    let mut elements: Vec<Option<String>> = [
        "a\"b",
        "c,d",
        "{e}",
        "NULL",
        "null",
        "",
        " spaced ",
        "back\\slash",
        "héllo ✓ 𝄞",
        "\u{1f}\u{1e}\u{1b}@",
        "[\"json-like\"]",
        "tab\tnew\nline",
    ]
    .into_iter()
    .map(|s| Some(s.to_owned()))
    .collect();
    elements.insert(4, None);
    let refs: Vec<Option<&str>> = elements.iter().map(Option::as_deref).collect();
    for ty in ["text[]", "varchar[]"] {
        check(&mut c, ty, &array_sql(&refs, ty), elements.clone());
    }
    let present: Vec<Option<&str>> = refs.iter().copied().filter(Option::is_some).collect();
    let no_nulls: Vec<String> = elements.iter().flatten().cloned().collect();
    check(&mut c, "text[]", &array_sql(&present, "text[]"), no_nulls);
}

#[test]
fn empty_arrays() {
    let mut c = client();
    check_lit(&mut c, "int4[]", "{}", Vec::<i32>::new());
    check_lit(&mut c, "text[]", "{}", Vec::<Option<String>>::new());
    check_lit(&mut c, "bytea[]", "{}", Vec::<Vec<u8>>::new());
}

#[test]
fn bytea_and_temporal_arrays() {
    let mut c = client();
    check(
        &mut c,
        "bytea[]",
        "ARRAY['\\x'::bytea, '\\x00ff1b1e1f'::bytea, NULL]",
        vec![
            Some(Vec::<u8>::new()),
            Some(vec![0x00u8, 0xff, 0x1b, 0x1e, 0x1f]),
            None,
        ],
    );
    let instant =
        |h, micro| Utc.from_utc_datetime(&datetime(ymd(2024, 6, 30), hms_micro(h, 34, 56, micro)));
    check_lit(
        &mut c,
        "timestamptz[]",
        "{\"2024-06-30 12:34:56.5+02\",NULL,\"2024-06-30 10:34:56+00\"}",
        vec![Some(instant(10, 500_000)), None, Some(instant(10, 0))],
    );
    check_lit(
        &mut c,
        "date[]",
        "{2024-02-29,infinity,-infinity,\"0044-03-15 BC\"}",
        vec![
            Date::Value(ymd(2024, 2, 29)),
            Date::PosInfinity,
            Date::NegInfinity,
            Date::Value(ymd(-43, 3, 15)),
        ],
    );
    check_lit(
        &mut c,
        "interval[]",
        "{\"1 mon\",\"-2 days\",\"00:00:01.5\"}",
        vec![
            Interval {
                months: 1,
                days: 0,
                microseconds: 0,
            },
            Interval {
                months: 0,
                days: -2,
                microseconds: 0,
            },
            Interval {
                months: 0,
                days: 0,
                microseconds: 1_500_000,
            },
        ],
    );
}

#[test]
fn multi_dimensional_arrays() {
    let mut c = client();
    check_lit(
        &mut c,
        "int4[]",
        "{{1,2,3},{4,5,6}}",
        Array {
            dims: vec![2, 3],
            elements: (1..=6).map(Some).collect(),
        },
    );
    check_lit(
        &mut c,
        "int4[]",
        "{{1,NULL},{NULL,4}}",
        Array {
            dims: vec![2, 2],
            elements: vec![Some(1), None, None, Some(4)],
        },
    );
    check_lit(
        &mut c,
        "int8[]",
        "{{{1,2},{3,4}},{{5,6},{7,8}}}",
        Array {
            dims: vec![2, 2, 2],
            elements: (1..=8).map(Some).collect::<Vec<Option<i64>>>(),
        },
    );
    check_lit(
        &mut c,
        "text[]",
        "{{a,NULL},{NULL,\"b c\"},{\"\",\"{x}\"}}",
        Array {
            dims: vec![3, 2],
            elements: vec![
                Some("a".to_owned()),
                None,
                None,
                Some("b c".to_owned()),
                Some(String::new()),
                Some("{x}".to_owned()),
            ],
        },
    );
    // A one-dimensional array is an Array too.
    check_lit(
        &mut c,
        "int4[]",
        "{7,NULL}",
        Array {
            dims: vec![2],
            elements: vec![Some(7), None],
        },
    );
}

#[test]
fn array_lower_bounds_are_dropped() {
    let mut c = client();
    let row = c
        .query_one(
            "SELECT '[0:2]={1,2,3}'::int4[], '[-1:0][3:4]={{1,2},{3,4}}'::int4[]",
            &[],
        )
        .unwrap();
    let flat: Vec<i32> = row.get(0);
    assert_eq!(flat, vec![1, 2, 3]);
    let grid: Array<i32> = row.get(1);
    assert_eq!(
        grid,
        Array {
            dims: vec![2, 2],
            elements: vec![Some(1), Some(2), Some(3), Some(4)]
        }
    );
}

// ---------------------------------------------------------------------------------------------
// NULL and unknown types
// ---------------------------------------------------------------------------------------------

/// NULL of `ty` decodes into `None`, fails into a plain `T`, and `None` binds as NULL.
fn check_null<T>(c: &mut Client, ty: &str)
where
    T: for<'a> FromSql<'a> + Debug,
    Option<T>: ToSql + Sync,
{
    let none: Option<T> = None;
    let row = c
        .query_one(
            &format!("SELECT NULL::{ty}, $1::{ty} IS NULL, $1::{ty}"),
            &[&none],
        )
        .unwrap_or_else(|e| panic!("NULL::{ty}: {e}"));
    let literal: Option<T> = row.get(0);
    assert!(literal.is_none(), "NULL::{ty} decoded as {literal:?}");
    let arrived_null: bool = row.get(1);
    assert!(arrived_null, "None bound as {ty} did not arrive as NULL");
    let back: Option<T> = row.get(2);
    assert!(back.is_none(), "None bound as {ty} came back as {back:?}");
    let plain: Result<T, Error> = row.try_get(0);
    assert!(
        plain.is_err(),
        "NULL::{ty} decoded into a non-Option type as {plain:?}"
    );
}

#[test]
fn null_of_every_type() {
    let mut c = client();
    check_null::<bool>(&mut c, "bool");
    check_null::<i16>(&mut c, "int2");
    check_null::<i32>(&mut c, "int4");
    check_null::<i64>(&mut c, "int8");
    check_null::<u32>(&mut c, "oid");
    check_null::<f32>(&mut c, "float4");
    check_null::<f64>(&mut c, "float8");
    check_null::<Numeric>(&mut c, "numeric");
    check_null::<String>(&mut c, "text");
    check_null::<String>(&mut c, "varchar");
    check_null::<String>(&mut c, "bpchar");
    check_null::<String>(&mut c, "name");
    check_null::<Vec<u8>>(&mut c, "bytea");
    check_null::<NaiveDate>(&mut c, "date");
    check_null::<Date<NaiveDate>>(&mut c, "date");
    check_null::<NaiveTime>(&mut c, "time");
    check_null::<TimeTz>(&mut c, "timetz");
    check_null::<NaiveDateTime>(&mut c, "timestamp");
    check_null::<Timestamp<NaiveDateTime>>(&mut c, "timestamp");
    check_null::<DateTime<Utc>>(&mut c, "timestamptz");
    check_null::<DateTime<FixedOffset>>(&mut c, "timestamptz");
    check_null::<Timestamp<DateTime<Utc>>>(&mut c, "timestamptz");
    check_null::<Interval>(&mut c, "interval");
    check_null::<Uuid>(&mut c, "uuid");
    check_null::<Value>(&mut c, "json");
    check_null::<Value>(&mut c, "jsonb");
    check_null::<Vec<Option<i32>>>(&mut c, "int4[]");
    check_null::<Vec<Option<String>>>(&mut c, "text[]");
    check_null::<Array<i32>>(&mut c, "int4[]");
}

#[test]
fn null_empty_and_control_characters_are_distinct() {
    let mut c = client();
    let row = c
        .query_one(
            "SELECT NULL::text, ''::text, chr(27), chr(27) || '@', chr(1), 'x'",
            &[],
        )
        .unwrap();
    let values: Vec<Option<String>> = (0..row.len()).map(|i| row.get(i)).collect();
    assert_eq!(
        values,
        vec![
            None,
            Some(String::new()),
            Some("\u{1b}".to_owned()),
            Some("\u{1b}@".to_owned()),
            Some("\u{1}".to_owned()),
            Some("x".to_owned()),
        ]
    );
}

#[test]
fn control_characters_across_many_rows() {
    // Enough rows and bytes to span several row batches, every row full of separators.
    let mut c = client();
    let rows = c
        .query(
            "SELECT i, repeat(chr(31) || chr(30) || chr(27) || '@' || chr(1), i % 7) || i::text, \
                    CASE WHEN i % 5 = 0 THEN NULL ELSE chr(27) || '_' END \
             FROM generate_series(1, 20000) AS i ORDER BY i",
            &[],
        )
        .unwrap();
    assert_eq!(rows.len(), 20000);
    for (n, row) in rows.iter().enumerate() {
        let i = n as i32 + 1;
        let id: i32 = row.get(0);
        let text: String = row.get(1);
        let maybe: Option<String> = row.get(2);
        assert_eq!(id, i);
        assert_eq!(
            text,
            format!("{}{i}", "\u{1f}\u{1e}\u{1b}@\u{1}".repeat((i % 7) as usize))
        );
        assert_eq!(maybe, (i % 5 != 0).then(|| "\u{1b}_".to_owned()), "row {i}");
    }
}

#[test]
fn unknown_types_come_back_as_server_text() {
    let cluster = cluster();
    let enum_type = unique_name("mood");
    cluster.psql(&format!(
        "CREATE TYPE {enum_type} AS ENUM ('happy', 'sad ✓')"
    ));
    let mut c = client();
    let cases = [
        "'192.168.0.1'::inet".to_owned(),
        "'10.1.0.0/16'::cidr".to_owned(),
        "'08:00:2b:01:02:03'::macaddr".to_owned(),
        "'(1.5,-2)'::point".to_owned(),
        "'[1,10)'::int4range".to_owned(),
        "'a fat cat'::tsvector".to_owned(),
        format!("'sad ✓'::{enum_type}"),
    ];
    for sql in &cases {
        let row = c
            .query_one(&format!("SELECT {sql}"), &[])
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        let got: String = row
            .try_get(0)
            .unwrap_or_else(|e| panic!("decoding {sql}: {e}"));
        let expected = cluster.psql(&format!("SELECT {sql}"));
        assert_eq!(
            got, expected,
            "{sql}: the driver's text differs from psql's"
        );
    }
}
