//! The sans-I/O session driven natively with hand-built server messages: what it sends, which
//! actions it asks for, which events it reports.

use wasmpg_guest::conninfo::Target;
use wasmpg_guest::error::ErrorKind;
use wasmpg_guest::session::{Action, Event, Options, Session, Step, TxStatus};
use wasmpg_wire::batch::parse_rows;

mod common;
use common::*;

/// A session connected over TCP with trust authentication.
fn connected(opts: Options) -> Session {
    let mut s = Session::new(opts);
    let step = s
        .connect("host=db.example port=5433 user=alice dbname=app", &[])
        .unwrap();
    assert_eq!(
        step.action,
        Action::Open(Target::Tcp {
            host: "db.example".into(),
            port: 5433
        })
    );
    let step = opened_plain(&mut s, None);
    assert_eq!(step.action, Action::Read);
    // StartupMessage: length, protocol 3.0, then key/value pairs.
    assert_eq!(&step.send[4..8], &196608u32.to_be_bytes());
    let params = String::from_utf8_lossy(&step.send[8..]).into_owned();
    for expected in [
        "user\0alice\0",
        "database\0app\0",
        "client_encoding\0UTF8\0",
        "DateStyle\0ISO",
    ] {
        assert!(
            params.contains(expected),
            "{expected:?} missing from {params:?}"
        );
    }
    let mut input = auth(0, &[]);
    input.extend(parameter_status("server_version", "15.0"));
    input.extend(msg(b'K', &[0, 0, 0, 42, 0, 0, 0, 7]));
    input.extend(ready(b'I'));
    let step = s.feed(&input);
    assert_eq!(step.action, Action::Done);
    assert!(step.events.contains(&Event::BackendKey {
        process_id: 42,
        secret_key: 7
    }));
    assert!(step.events.contains(&Event::Ready(TxStatus::Idle)));
    assert_eq!(s.parameter("server_version"), Some("15.0"));
    s
}

#[test]
fn simple_query_round_trip_in_arbitrary_chunks() {
    let mut s = connected(Options::default());
    let step = s.simple_query("SELECT 1 AS a, NULL::text AS b");
    assert_eq!(step.action, Action::Read);
    assert_eq!(step.send[0], b'Q');
    let mut reply = row_description(&[("a", 23), ("b", 25)]);
    reply.extend(data_row(&[Some(b"1"), None]));
    reply.extend(data_row(&[Some(b"2"), Some("x\u{1e}y".as_bytes())]));
    reply.extend(command_complete("SELECT 2"));
    reply.extend(ready(b'I'));
    // Feed one byte at a time: message framing must not depend on read boundaries.
    let mut events = Vec::new();
    let mut last = None;
    for b in &reply {
        let step = s.feed(std::slice::from_ref(b));
        events.extend(step.events);
        last = Some(step.action);
    }
    assert_eq!(last, Some(Action::Done));
    let Event::Columns(columns) = &events[0] else {
        panic!("expected columns first, got {events:?}");
    };
    assert_eq!(columns[0].name, "a");
    assert_eq!(columns[1].type_oid, 25);
    let rows: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            Event::Rows(b) => Some(b.clone()),
            _ => None,
        })
        .collect();
    let total: u32 = rows.iter().map(|b| b.count).sum();
    assert_eq!(total, 2);
    let all: String = rows.iter().map(|b| b.data.as_str()).collect();
    let parsed = parse_rows(&all).unwrap();
    assert_eq!(parsed[0][0].as_deref(), Some("1"));
    assert_eq!(parsed[0][1], None);
    assert_eq!(parsed[1][1].as_deref(), Some("x\u{1e}y"));
    assert!(events.iter().any(|e| matches!(e,
        Event::Complete(c) if c.tag == "SELECT 2" && c.rows == Some(2))));
}

#[test]
fn extended_query_is_cached_after_first_use() {
    let mut s = connected(Options::default());
    let first = s.query("SELECT $1::int", &[23], "41\u{1f}\u{1e}");
    let tags: Vec<u8> = message_tags(&first.send);
    assert_eq!(tags, b"PDBES");
    let mut reply = msg(b'1', &[]);
    reply.extend(msg(b't', &[0, 1, 0, 0, 0, 23]));
    reply.extend(row_description(&[("int4", 23)]));
    reply.extend(msg(b'2', &[]));
    reply.extend(data_row(&[Some(b"41")]));
    reply.extend(command_complete("SELECT 1"));
    reply.extend(ready(b'I'));
    let step = s.feed(&reply);
    assert_eq!(step.action, Action::Done);
    assert!(errors(&step).is_empty(), "{step:?}");
    // Same SQL and types: only Bind/Execute/Sync, and the cached columns are reported. The
    // first Bind asked for text (the Describe went with it); this one asks for the int4 in
    // binary.
    assert_eq!(bind_result_formats(&first.send), [vec![0]]);
    let second = s.query("SELECT $1::int", &[23], "42\u{1f}\u{1e}");
    assert_eq!(message_tags(&second.send), b"BES");
    assert_eq!(bind_result_formats(&second.send), [vec![1]]);
    let mut reply = msg(b'2', &[]);
    reply.extend(data_row(&[Some(&42i32.to_be_bytes())]));
    reply.extend(command_complete("SELECT 1"));
    reply.extend(ready(b'I'));
    let step = s.feed(&reply);
    assert!(errors(&step).is_empty(), "{step:?}");
    assert!(matches!(&step.events[0], Event::Columns(c) if c[0].name == "int4"));
    assert!(matches!(&step.events[1], Event::Rows(b) if b.data == "42\u{1f}\u{1e}"));
}

/// Runs `SELECT ...` once to describe it (int4, text, timestamptz, numeric, bytea, date
/// columns), then again from the cache; returns the second Bind's result format codes.
fn second_bind_formats(s: &mut Session) -> Vec<Vec<i16>> {
    let sql = "SELECT i, t, ts, n, b, d FROM t";
    let columns = [
        ("i", 23),
        ("t", 25),
        ("ts", 1184),
        ("n", 1700),
        ("b", 17),
        ("d", 1082),
    ];
    let first = s.query(sql, &[], "");
    // Described with this first execution, or cached from an earlier call already.
    let mut reply = Vec::new();
    if message_tags(&first.send) == b"PDBES" {
        reply.extend(msg(b'1', &[]));
        reply.extend(msg(b't', &[0, 0]));
        reply.extend(row_description(&columns));
    }
    reply.extend(msg(b'2', &[]));
    reply.extend(command_complete("SELECT 0"));
    reply.extend(ready(b'I'));
    assert_eq!(s.feed(&reply).action, Action::Done);
    let second = s.query(sql, &[], "");
    assert_eq!(message_tags(&second.send), b"BES");
    bind_result_formats(&second.send)
}

#[test]
fn described_statements_read_fixed_width_types_in_binary() {
    let mut s = connected(Options::default());
    // No TimeZone reported yet: timestamptz stays text (its text carries the session's offset).
    assert_eq!(second_bind_formats(&mut s), [vec![1, 0, 0, 0, 1, 1]]);
    // A UTC session reads timestamptz in binary too, whatever the zone's spelling.
    for zone in ["Etc/UTC", "utc", "GMT", "Zulu"] {
        let mut status = parameter_status("TimeZone", zone);
        status.extend(ready(b'I'));
        s.feed(&status);
        assert_eq!(
            second_bind_formats(&mut s),
            [vec![1, 0, 1, 0, 1, 1]],
            "{zone}"
        );
    }
    // Any other zone, including one that is UTC part of the year: text again.
    for zone in ["Europe/London", "right/UTC", "Asia/Tokyo"] {
        let mut status = parameter_status("TimeZone", zone);
        status.extend(ready(b'I'));
        s.feed(&status);
        assert_eq!(
            second_bind_formats(&mut s),
            [vec![1, 0, 0, 0, 1, 1]],
            "{zone}"
        );
    }
    // The rows of a binary Bind are decoded from binary into canonical text.
    let mut status = parameter_status("TimeZone", "UTC");
    status.extend(ready(b'I'));
    s.feed(&status);
    let step = s.query("SELECT i, t, ts, n, b, d FROM t", &[], "");
    assert_eq!(bind_result_formats(&step.send), [vec![1, 0, 1, 0, 1, 1]]);
    let mut reply = msg(b'2', &[]);
    reply.extend(data_row(&[
        Some(&(-5i32).to_be_bytes()),
        Some(b"text"),
        Some(&1_000_001i64.to_be_bytes()),
        Some(b"1.50"),
        Some(&[0, 0xff]),
        None,
    ]));
    reply.extend(command_complete("SELECT 1"));
    reply.extend(ready(b'I'));
    let step = s.feed(&reply);
    assert!(errors(&step).is_empty(), "{step:?}");
    let rows: String = step
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Rows(b) => Some(b.data.clone()),
            _ => None,
        })
        .collect();
    let parsed = parse_rows(&rows).unwrap();
    assert_eq!(
        parsed[0],
        [
            Some("-5".into()),
            Some("text".into()),
            Some("2000-01-01 00:00:01.000001+00:00".into()),
            Some("1.50".into()),
            Some("\u{0}\u{ff}".into()),
            None
        ]
    );
    // A value of the wrong size is a decode error for that result, not a broken session.
    let step = s.query("SELECT i, t, ts, n, b, d FROM t", &[], "");
    assert_eq!(message_tags(&step.send), b"BES");
    let mut reply = msg(b'2', &[]);
    reply.extend(data_row(&[
        Some(b"-5"),
        Some(b"text"),
        None,
        None,
        None,
        None,
    ]));
    reply.extend(command_complete("SELECT 1"));
    reply.extend(ready(b'I'));
    let step = s.feed(&reply);
    assert_eq!(
        errors(&step),
        [(
            ErrorKind::Decode,
            "column 1: invalid binary int4 value (2 bytes)".to_owned()
        )]
    );
    assert_eq!(step.action, Action::Done);
    assert_eq!(s.tx_status(), TxStatus::Idle);
}

#[test]
fn executemany_pipelines_every_row_before_one_sync() {
    let mut s = connected(Options::default());
    let step = s.query(
        "INSERT INTO t VALUES ($1)",
        &[23],
        "1\u{1f}\u{1e}2\u{1f}\u{1e}3\u{1f}\u{1e}",
    );
    assert_eq!(message_tags(&step.send), b"PDBEBEBES");
}

#[test]
fn server_error_keeps_session_usable_and_reports_fields() {
    let mut s = connected(Options::default());
    s.simple_query("INSERT INTO t VALUES (1)");
    let mut reply = error_response(&[
        (b'S', "ERROR"),
        (b'V', "ERROR"),
        (b'C', "23505"),
        (
            b'M',
            "duplicate key value violates unique constraint \"t_pkey\"",
        ),
        (b'D', "Key (id)=(1) already exists."),
        (b's', "public"),
        (b't', "t"),
        (b'n', "t_pkey"),
        (b'Z', "unknown field codes are ignored"),
    ]);
    reply.extend(ready(b'I'));
    let step = s.feed(&reply);
    assert_eq!(step.action, Action::Done);
    let Some(Event::Error(e)) = step.events.iter().find(|e| matches!(e, Event::Error(_))) else {
        panic!("no error in {step:?}");
    };
    let db = e.db.as_ref().unwrap();
    assert_eq!(e.kind, ErrorKind::Db);
    assert_eq!(db.code, "23505");
    assert_eq!(db.constraint.as_deref(), Some("t_pkey"));
    assert_eq!(db.table.as_deref(), Some("t"));
    assert_eq!(db.detail.as_deref(), Some("Key (id)=(1) already exists."));
    // The session takes the next request.
    assert_eq!(s.simple_query("SELECT 1").action, Action::Read);
}

#[test]
fn oversized_message_is_refused_before_buffering() {
    let mut s = connected(Options {
        max_message_size: 1024,
        ..Options::default()
    });
    s.simple_query("SELECT big");
    // Only the header of a 1 GiB DataRow arrives.
    let mut header = vec![b'D'];
    header.extend_from_slice(&(1u32 << 30).to_be_bytes());
    let step = s.feed(&header);
    assert_eq!(step.action, Action::Close);
    assert_eq!(errors(&step)[0].0, ErrorKind::MessageTooLarge);
}

#[test]
fn only_long_message_types_may_announce_long_lengths() {
    // ReadyForQuery is 5 bytes: announcing 1 MiB is a lost synchronization, found at once.
    let mut s = connected(Options::default());
    s.simple_query("SELECT 1");
    let mut header = vec![b'Z'];
    header.extend_from_slice(&(1u32 << 20).to_be_bytes());
    let step = s.feed(&header);
    assert_eq!(step.action, Action::Close);
    let errors = errors(&step);
    assert_eq!(errors[0].0, ErrorKind::Protocol);
    assert!(errors[0].1.contains("lost synchronization"), "{errors:?}");
    // A 1 MiB DataRow is legitimate: the session waits for the rest of it.
    let mut s = connected(Options::default());
    s.simple_query("SELECT 1");
    s.feed(&row_description(&[("a", 25)]));
    let mut header = vec![b'D'];
    header.extend_from_slice(&(1u32 << 20).to_be_bytes());
    let step = s.feed(&header);
    assert_eq!(step.action, Action::Read);
    assert!(step.events.is_empty(), "{step:?}");
}

#[test]
fn row_that_disagrees_with_its_description_is_a_protocol_error() {
    let mut s = connected(Options::default());
    s.simple_query("SELECT 1");
    let mut reply = row_description(&[("a", 23)]);
    reply.extend(data_row(&[Some(b"1"), Some(b"2")]));
    let step = s.feed(&reply);
    assert_eq!(step.action, Action::Close);
    assert_eq!(errors(&step)[0].0, ErrorKind::Protocol);

    let mut s = connected(Options::default());
    s.simple_query("SELECT 1");
    let step = s.feed(&data_row(&[Some(b"1")]));
    assert_eq!(
        errors(&step)[0].0,
        ErrorKind::Protocol,
        "DataRow without RowDescription"
    );
}

#[test]
fn garbage_and_unknown_messages_are_protocol_errors() {
    for input in [
        msg(b'!', b"what"),
        vec![b'D', 0, 0, 0, 2],
        b"HTTP/1.1 400 Bad Request\r\n".to_vec(),
    ] {
        let mut s = connected(Options::default());
        s.simple_query("SELECT 1");
        let step = s.feed(&input);
        assert_eq!(step.action, Action::Close, "{input:?}");
        assert_eq!(errors(&step)[0].0, ErrorKind::Protocol, "{input:?}");
    }
}

#[test]
fn a_server_that_is_not_postgresql_is_refused_at_its_first_byte() {
    // Text read as a length word would announce a huge message and wait for it: the type byte
    // is checked first, and only a few types may be longer than 30000 bytes (libpq's rule).
    for banner in [
        &b"HTTP/1.1 400 Bad Request\r\n"[..],
        b"SSH-2.0-OpenSSH_9.6\r\n",
        b"\x16\x03\x01\x02\x00",
        b"<html>",
        b"\x00\x00\x00\x08",
    ] {
        let mut s = Session::new(Options::default());
        s.connect("host=h user=u dbname=d", &[]).unwrap();
        opened_plain(&mut s, None);
        let step = s.feed(banner);
        assert_eq!(step.action, Action::Close, "{banner:?}");
        let errors = errors(&step);
        assert_eq!(errors[0].0, ErrorKind::Protocol, "{banner:?}");
        assert!(
            errors[0].1.contains("unknown message type")
                || errors[0].1.contains("lost synchronization"),
            "{errors:?}"
        );
    }
}

#[test]
fn fatal_error_and_eof_close_the_session() {
    let mut s = connected(Options::default());
    s.simple_query("SELECT pg_sleep(10)");
    let step = s.feed(&error_response(&[
        (b'S', "FATAL"),
        (b'C', "57P01"),
        (b'M', "terminating connection due to administrator command"),
    ]));
    assert_eq!(step.action, Action::Close);
    assert_eq!(errors(&step)[0].0, ErrorKind::Db);
    assert_eq!(
        s.simple_query("SELECT 1").events.len(),
        1,
        "closed session refuses requests"
    );

    let mut s = connected(Options::default());
    s.simple_query("COMMIT");
    let step = s.eof();
    assert_eq!(step.action, Action::Close);
    let (kind, message) = &errors(&step)[0];
    assert_eq!(*kind, ErrorKind::Closed);
    assert!(message.contains("outcome is unknown"), "{message}");
}

#[test]
fn md5_password_from_host_when_missing() {
    let mut s = Session::new(Options::default());
    s.connect("host=h user=md5_user dbname=d", &[]).unwrap();
    opened_plain(&mut s, None);
    let step = s.feed(&auth(5, &[1, 2, 3, 4]));
    let Action::NeedPassword(request) = step.action else {
        panic!("expected need-password, got {:?}", step.action);
    };
    assert_eq!(
        (request.host.as_str(), request.port, request.user.as_str()),
        ("h", 5432, "md5_user")
    );
    let step = s.password(Some("secret".into()));
    assert_eq!(step.action, Action::Read);
    // PasswordMessage with md5(md5(password + user) + salt).
    assert_eq!(step.send[0], b'p');
    let sent = String::from_utf8_lossy(&step.send[5..step.send.len() - 1]).into_owned();
    assert_eq!(
        sent,
        postgres_protocol::authentication::md5_hash(b"md5_user", b"secret", [1, 2, 3, 4])
    );
}

#[test]
fn no_password_is_an_authentication_error() {
    let mut s = Session::new(Options::default());
    s.connect("host=h user=u dbname=d", &[]).unwrap();
    opened_plain(&mut s, None);
    s.feed(&auth(3, &[]));
    let step = s.password(None);
    assert_eq!(step.action, Action::Close);
    assert_eq!(errors(&step)[0].0, ErrorKind::Authentication);
}

#[test]
fn scram_exchange_checks_the_server_signature() {
    let mut s = Session::new(Options::default());
    s.connect("host=h user=u dbname=d password=pencil", &[])
        .unwrap();
    opened_plain(&mut s, None);
    let mut mechanisms = cstr("SCRAM-SHA-256");
    mechanisms.push(0);
    let step = s.feed(&auth(10, &mechanisms));
    assert_eq!(step.action, Action::Read);
    let sent = String::from_utf8_lossy(&step.send).into_owned();
    assert!(sent.contains("SCRAM-SHA-256\0"), "{sent:?}");
    let nonce = sent.split("r=").nth(1).unwrap().to_owned();
    // A server nonce that does not extend ours is refused.
    let server_first = format!("r=someoneelse{},s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096", "x");
    let step = s.feed(&auth(11, server_first.as_bytes()));
    assert_eq!(step.action, Action::Close);
    assert_eq!(errors(&step)[0].0, ErrorKind::Authentication);
    assert!(!nonce.is_empty());
}

#[test]
fn policy_refusal_moves_to_the_next_host_then_fails_with_every_attempt() {
    let mut s = Session::new(Options::default());
    let step = s.connect("host=a,b port=1,2 user=u dbname=d", &[]).unwrap();
    assert!(matches!(step.action, Action::Open(Target::Tcp { ref host, port: 1 }) if host == "a"));
    let step = s.open_failed(ErrorKind::PolicyDenied, "denied by policy");
    assert!(matches!(step.action, Action::Open(Target::Tcp { ref host, port: 2 }) if host == "b"));
    let step = s.open_failed(ErrorKind::ConnectionRefused, "refused");
    assert_eq!(step.action, Action::Close);
    let (kind, message) = &errors(&step)[0];
    assert_eq!(*kind, ErrorKind::ConnectionRefused);
    assert!(
        message.contains("a:1: denied by policy") && message.contains("b:2: refused"),
        "{message}"
    );
}

#[test]
fn other_encodings_are_refused_at_connect() {
    for conninfo in ["host=h user=u client_encoding=LATIN1", "host='x"] {
        let mut s = Session::new(Options::default());
        let e = s.connect(conninfo, &[]).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Config, "{conninfo}");
    }
}

#[test]
fn requests_while_busy_are_refused_without_sending() {
    let mut s = connected(Options::default());
    s.simple_query("SELECT 1");
    let step = s.simple_query("SELECT 2");
    assert!(step.send.is_empty());
    assert_eq!(errors(&step)[0].0, ErrorKind::Usage);
}

/// The tags of the frontend messages in `bytes`.
fn message_tags(bytes: &[u8]) -> Vec<u8> {
    let mut tags = Vec::new();
    let mut rest = bytes;
    while rest.len() >= 5 {
        tags.push(rest[0]);
        let len = u32::from_be_bytes([rest[1], rest[2], rest[3], rest[4]]) as usize;
        rest = &rest[1 + len..];
    }
    tags
}

#[test]
fn rows_without_columns_are_rows() {
    let mut s = connected(Options::default());
    s.query("SELECT FROM generate_series(1, 2)", &[], "");
    let mut reply = msg(b'1', &[]);
    reply.extend(msg(b't', &[0, 0]));
    reply.extend(row_description(&[]));
    reply.extend(msg(b'2', &[]));
    reply.extend(data_row(&[]));
    reply.extend(data_row(&[]));
    reply.extend(command_complete("SELECT 2"));
    reply.extend(ready(b'I'));
    let step = s.feed(&reply);
    assert!(errors(&step).is_empty(), "{step:?}");
    assert!(matches!(&step.events[0], Event::Columns(c) if c.is_empty()));
    assert!(step
        .events
        .iter()
        .any(|e| matches!(e, Event::Rows(b) if b.count == 2 && b.data == "\u{1e}\u{1e}")));
}

#[test]
fn startup_cannot_skip_authentication() {
    let mut s = Session::new(Options::default());
    s.connect("host=h user=u dbname=d", &[]).unwrap();
    opened_plain(&mut s, None);
    let step = s.feed(&ready(b'I'));
    assert_eq!(step.action, Action::Close);
    assert_eq!(errors(&step)[0].0, ErrorKind::Protocol);
}

/// Opens the current target and completes trust startup with `params` reported.
fn start_on(s: &mut Session, params: &[(&str, &str)]) -> Step {
    let step = opened_plain(s, None);
    assert_eq!(step.action, Action::Read);
    let mut input = auth(0, &[]);
    for (name, value) in params {
        input.extend(parameter_status(name, value));
    }
    input.extend(ready(b'I'));
    s.feed(&input)
}

fn open_host(step: &Step) -> String {
    match &step.action {
        Action::Open(Target::Tcp { host, .. }) => host.clone(),
        other => panic!("expected an open, got {other:?}"),
    }
}

#[test]
fn read_write_skips_a_standby_that_reports_itself() {
    let mut s = Session::new(Options::default());
    let step = s
        .connect(
            "host=standby,primary user=u dbname=d target_session_attrs=read-write",
            &[],
        )
        .unwrap();
    assert_eq!(open_host(&step), "standby");
    let step = start_on(
        &mut s,
        &[
            ("in_hot_standby", "on"),
            ("default_transaction_read_only", "off"),
        ],
    );
    // Terminate to the standby, then open the next host.
    assert_eq!(step.send, msg(b'X', &[]));
    assert_eq!(open_host(&step), "primary");
    assert!(!step.events.contains(&Event::Ready(TxStatus::Idle)));
    let step = start_on(
        &mut s,
        &[
            ("in_hot_standby", "off"),
            ("default_transaction_read_only", "off"),
        ],
    );
    assert_eq!(step.action, Action::Done);
    assert!(step.events.contains(&Event::Ready(TxStatus::Idle)));
}

#[test]
fn a_server_that_does_not_report_is_asked() {
    // PostgreSQL before 14 reports neither in_hot_standby nor default_transaction_read_only.
    let mut s = Session::new(Options::default());
    let step = s
        .connect("host=a,b user=u dbname=d target_session_attrs=standby", &[])
        .unwrap();
    assert_eq!(open_host(&step), "a");
    let step = start_on(&mut s, &[]);
    assert_eq!(step.action, Action::Read);
    assert_eq!(
        step.send,
        msg(b'Q', b"SELECT pg_catalog.pg_is_in_recovery()\0")
    );
    let mut reply = row_description(&[("pg_is_in_recovery", 16)]);
    reply.extend(data_row(&[Some(b"f")]));
    reply.extend(command_complete("SELECT 1"));
    reply.extend(ready(b'I'));
    let step = s.feed(&reply);
    assert_eq!(open_host(&step), "b");
    assert_eq!(start_on(&mut s, &[]).action, Action::Read);
    let mut reply = row_description(&[("pg_is_in_recovery", 16)]);
    reply.extend(data_row(&[Some(b"t")]));
    reply.extend(command_complete("SELECT 1"));
    reply.extend(ready(b'I'));
    let step = s.feed(&reply);
    assert_eq!(step.action, Action::Done);
    // read-write asks another question.
    let mut s = Session::new(Options::default());
    s.connect(
        "host=a user=u dbname=d target_session_attrs=read-write",
        &[],
    )
    .unwrap();
    let step = start_on(&mut s, &[]);
    assert_eq!(step.send, msg(b'Q', b"SHOW transaction_read_only\0"));
    let mut reply = row_description(&[("transaction_read_only", 25)]);
    reply.extend(data_row(&[Some(b"on")]));
    reply.extend(command_complete("SHOW"));
    reply.extend(ready(b'I'));
    let step = s.feed(&reply);
    assert_eq!(step.action, Action::Close);
    let (kind, message) = &errors(&step)[0];
    assert_eq!(*kind, ErrorKind::ConnectionRefused);
    assert!(
        message.contains("a:5432: session is read-only"),
        "{message}"
    );
}

#[test]
fn prefer_standby_falls_back_to_any_server_in_a_second_pass() {
    let mut s = Session::new(Options::default());
    let step = s
        .connect(
            "host=p1,p2 user=u dbname=d target_session_attrs=prefer-standby",
            &[],
        )
        .unwrap();
    assert_eq!(open_host(&step), "p1");
    let primary = [
        ("in_hot_standby", "off"),
        ("default_transaction_read_only", "off"),
    ];
    let step = start_on(&mut s, &primary);
    assert_eq!(open_host(&step), "p2");
    let step = s.open_failed(ErrorKind::ConnectionRefused, "refused");
    // No standby anywhere: any server, from the first host again.
    assert_eq!(open_host(&step), "p1");
    let step = start_on(&mut s, &primary);
    assert_eq!(step.action, Action::Done);
}

#[test]
fn load_balance_hosts_random_shuffles_the_host_order() {
    let mut firsts = std::collections::HashSet::new();
    for _ in 0..200 {
        let mut s = Session::new(Options::default());
        let step = s
            .connect("host=a,b,c user=u dbname=d load_balance_hosts=random", &[])
            .unwrap();
        firsts.insert(open_host(&step));
    }
    assert_eq!(firsts.len(), 3, "{firsts:?}");
    let mut s = Session::new(Options::default());
    let step = s.connect("host=a,b,c user=u dbname=d", &[]).unwrap();
    assert_eq!(open_host(&step), "a");
}

/// The messages of `bytes` with tag `B` or `E`, in order.
fn binds_and_executes(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut rest = bytes;
    while rest.len() >= 5 {
        let len = u32::from_be_bytes([rest[1], rest[2], rest[3], rest[4]]) as usize;
        if rest[0] == b'B' || rest[0] == b'E' {
            out.extend_from_slice(&rest[..1 + len]);
        }
        rest = &rest[1 + len..];
    }
    out
}

/// The session writes Bind and Execute itself, reading the parameter batch as it goes: the bytes
/// are what `postgres-protocol` writes for the same values (NULLs, values converted for the
/// server, escaped values, several rows, more result columns than fit the short path), and a
/// malformed batch fails the request with nothing sent.
#[test]
fn binds_are_written_as_postgres_protocol_writes_them() {
    use postgres_protocol::message::frontend;
    use postgres_protocol::IsNull;
    use wasmpg_guest::codec;
    let mut s = connected(Options::default());
    let mut batch = wasmpg_wire::batch::BatchWriter::default();
    let rows: [[Option<&str>; 5]; 2] = [
        [
            Some("7"),
            None,
            Some("a\u{1f}b\u{1e}c\u{1b}"),
            Some("\u{0}\u{ff}"),
            Some("1 2 3"),
        ],
        [None, Some("x"), Some(""), Some(""), None],
    ];
    for row in &rows {
        for field in row {
            match field {
                Some(v) => batch.push_field(v),
                None => batch.push_null(),
            }
        }
        batch.end_row();
    }
    let params = batch.take().expect("the parameters are text").data;
    // int4, text, text, bytea (latin-1 canonical form, sent as hex), interval (converted).
    let types = [23, 25, 25, 17, 1186];
    let columns: Vec<(String, u32)> = (0..20).map(|i| (format!("c{i}"), 23)).collect();
    let columns: Vec<(&str, u32)> = columns.iter().map(|(n, t)| (n.as_str(), *t)).collect();
    let sql = "SELECT c0, c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11, c12, c13, c14, c15, \
               c16, c17, c18, c19 FROM t WHERE $1::int IS NULL OR $2 = $3 OR $4 IS NULL OR $5 IS NULL";
    let expected = |statement: &str, formats: &[i16]| {
        let mut out = bytes::BytesMut::new();
        for row in &rows {
            let values: Vec<Option<Vec<u8>>> = row
                .iter()
                .zip(types)
                .map(|(v, oid)| {
                    v.map(|v| {
                        let mut buf = Vec::new();
                        codec::encode_param(oid, v, &mut buf).unwrap();
                        buf
                    })
                })
                .collect();
            let serialize = |v: &Option<Vec<u8>>, out: &mut bytes::BytesMut| match v {
                None => Ok(IsNull::Yes),
                Some(b) => {
                    out.extend_from_slice(b);
                    Ok(IsNull::No)
                }
            };
            let bound = frontend::bind(
                "",
                statement,
                Some(0),
                values.iter(),
                serialize,
                formats.iter().copied(),
                &mut out,
            );
            assert!(bound.is_ok());
            frontend::execute("", 0, &mut out).unwrap();
        }
        out.to_vec()
    };
    // The first execution: described with it, its result asked for in text.
    let first = s.query(sql, &types, &params);
    assert_eq!(message_tags(&first.send), b"PDBEBES");
    let name = {
        // The cached statement's name, from the Parse.
        let body = &first.send[5..];
        let end = body.iter().position(|&b| b == 0).unwrap();
        String::from_utf8(body[..end].to_vec()).unwrap()
    };
    assert_eq!(binds_and_executes(&first.send), expected(&name, &[0]));
    let mut reply = msg(b'1', &[]);
    reply.extend(msg(
        b't',
        &[
            0, 5, 0, 0, 0, 23, 0, 0, 0, 25, 0, 0, 0, 25, 0, 0, 0, 17, 0, 0, 4, 162,
        ],
    ));
    reply.extend(row_description(&columns));
    for _ in &rows {
        reply.extend(msg(b'2', &[]));
        reply.extend(command_complete("SELECT 0"));
    }
    reply.extend(ready(b'I'));
    assert!(errors(&s.feed(&reply)).is_empty());
    // From the cache: every int4 result column in binary (more than 16 format codes).
    let second = s.query(sql, &types, &params);
    assert_eq!(message_tags(&second.send), b"BEBES");
    assert_eq!(binds_and_executes(&second.send), expected(&name, &[1; 20]));
    let mut reply = Vec::new();
    for _ in &rows {
        reply.extend(msg(b'2', &[]));
        reply.extend(command_complete("SELECT 0"));
    }
    reply.extend(ready(b'I'));
    assert!(errors(&s.feed(&reply)).is_empty());
    // A malformed batch (an unterminated field, a bad escape): an encode error, nothing sent.
    for bad in ["7\u{1f}\u{1e}8", "7\u{1b}x\u{1f}\u{1e}"] {
        let step = s.query(sql, &types, bad);
        assert!(step.send.is_empty(), "{bad:?}");
        let errs = errors(&step);
        assert_eq!(errs.len(), 1, "{bad:?}");
        assert_eq!(errs[0].0, ErrorKind::Encode);
        assert!(errs[0].1.contains("malformed parameters"), "{errs:?}");
        assert_eq!(step.action, Action::Done);
    }
}

/// The Close a statement evicted from the cache is owed goes out with the next request that is
/// sent: a request refused before it was sent (a malformed parameter batch) does not lose it.
#[test]
fn a_refused_request_keeps_the_close_it_owed() {
    let mut s = connected(Options {
        statement_cache: 1,
        ..Options::default()
    });
    let run = |s: &mut Session, sql: &str| {
        let step = s.query(sql, &[], "");
        let mut reply = Vec::new();
        for tag in message_tags(&step.send) {
            match tag {
                b'C' => reply.extend(msg(b'3', &[])),
                b'P' => reply.extend(msg(b'1', &[])),
                b'D' => {
                    reply.extend(msg(b't', &[0, 0]));
                    reply.extend(msg(b'n', &[]));
                }
                b'B' => reply.extend(msg(b'2', &[])),
                b'E' => reply.extend(command_complete("SELECT 0")),
                b'S' => reply.extend(ready(b'I')),
                _ => {}
            }
        }
        assert!(errors(&s.feed(&reply)).is_empty());
        step
    };
    run(&mut s, "SELECT 1 WHERE false");
    // A second statement evicts the first: its Close is owed to the next request.
    let second = run(&mut s, "SELECT 2 WHERE false");
    assert!(!message_tags(&second.send).contains(&b'C'));
    let refused = s.query("SELECT 3 WHERE false", &[], "x\u{1b}?\u{1f}\u{1e}");
    assert!(refused.send.is_empty());
    assert_eq!(errors(&refused).len(), 1);
    // The next request that goes out carries it.
    let next = run(&mut s, "SELECT 4 WHERE false");
    let tags = message_tags(&next.send);
    assert_eq!(tags.first(), Some(&b'C'), "{tags:?}");
    assert!(String::from_utf8_lossy(&next.send).contains("wasmpg_s1"));
}

#[test]
fn command_tags_give_row_counts() {
    use wasmpg_guest::session::tag_rows;
    for (tag, rows) in [
        ("INSERT 0 5", Some(5)),
        ("SELECT 12", Some(12)),
        ("UPDATE 0", Some(0)),
        ("DELETE 3", Some(3)),
        ("MERGE 2", Some(2)),
        ("MOVE 4", Some(4)),
        ("FETCH 7", Some(7)),
        ("COPY 1000000", Some(1_000_000)),
        ("CREATE TABLE", None),
        ("SELECT", None),
        ("BEGIN", None),
        ("", None),
        ("SELECTED 3", None),
        ("INSERT 0 x", None),
    ] {
        assert_eq!(tag_rows(tag), rows, "{tag:?}");
    }
}

#[test]
fn invalid_utf8_in_a_text_value_delivers_the_rows_before_it() {
    // Each row's place of the invalid value: the first row (nothing delivered), a later row of
    // the same batch, and the last row. The rows before it arrive, then one decode error naming
    // the column, and nothing of the result after it; the session stays usable.
    for bad_row in [0usize, 2, 3] {
        let mut s = connected(Options::default());
        s.simple_query("SELECT a, b, c FROM t");
        let mut reply = row_description(&[("a", 23), ("b", 25), ("c", 25)]);
        let values = ["one", "two", "three", "four"];
        for (i, value) in values.iter().enumerate() {
            let number = (i + 1).to_string();
            let b: &[u8] = if i == bad_row {
                b"ok \xff\xfe"
            } else {
                value.as_bytes()
            };
            reply.extend(data_row(&[
                Some(number.as_bytes()),
                Some(b),
                Some(b"\x1ftail"),
            ]));
        }
        reply.extend(command_complete("SELECT 4"));
        reply.extend(ready(b'I'));
        let step = s.feed(&reply);
        assert_eq!(
            errors(&step),
            vec![(
                ErrorKind::Decode,
                "column 2: invalid UTF-8 in a text value".to_owned()
            )],
            "bad row {bad_row}: {step:?}"
        );
        let delivered: Vec<Vec<Option<String>>> = step
            .events
            .iter()
            .filter_map(|e| match e {
                Event::Rows(batch) => Some(batch),
                _ => None,
            })
            .flat_map(|batch| {
                parse_rows(&batch.data)
                    .unwrap()
                    .into_iter()
                    .map(|row| row.into_iter().map(|f| f.map(|v| v.into_owned())).collect())
                    .collect::<Vec<_>>()
            })
            .collect();
        let expected: Vec<Vec<Option<String>>> = (0..bad_row)
            .map(|i| {
                vec![
                    Some((i + 1).to_string()),
                    Some(values[i].to_owned()),
                    Some("\u{1f}tail".to_owned()),
                ]
            })
            .collect();
        assert_eq!(delivered, expected, "bad row {bad_row}");
        assert_eq!(step.action, Action::Done);
        // The error comes after the rows before it.
        let error_at = step
            .events
            .iter()
            .position(|e| matches!(e, Event::Error(_)))
            .unwrap();
        assert!(!step.events[error_at..]
            .iter()
            .any(|e| matches!(e, Event::Rows(_))));

        s.simple_query("SELECT 1");
        let mut reply = row_description(&[("x", 23)]);
        reply.extend(data_row(&[Some(b"1")]));
        reply.extend(command_complete("SELECT 1"));
        reply.extend(ready(b'I'));
        let step = s.feed(&reply);
        assert!(errors(&step).is_empty(), "{step:?}");
        assert!(step
            .events
            .iter()
            .any(|e| matches!(e, Event::Rows(b) if b.count == 1 && b.data == "1\u{1f}\u{1e}")));
    }
}
