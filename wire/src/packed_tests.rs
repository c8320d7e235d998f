//! Packed layout: round trips of every request and step shape, the documented examples, and garbage that
//! must be rejected without a panic.

use std::borrow::Cow;

use crate::step::{self, Column, Conninfo, Target, TxStatus};
use crate::{request, Action, ErrorKind, Event, FileStatus, PipelineItem, Request, Step};

fn b(s: &str) -> Cow<'_, str> {
    Cow::Borrowed(s)
}

fn every_request() -> Vec<Request<'static>> {
    let pairs = vec![
        (b("PGHOST"), b("db\u{1e}odd")),
        (b("PGAPPNAME"), b("")),
        (b("x\u{1f}y"), b("\u{0}")),
    ];
    vec![
        Request::Init(vec![(b("batch_bytes"), b("65536"))]),
        Request::Init(vec![]),
        Request::Connect {
            defaults: pairs.clone(),
            conninfo: b("host=a dbname='x\u{1d}y'"),
        },
        Request::ParseConninfo {
            defaults: vec![],
            conninfo: b(""),
        },
        Request::Opened(None),
        Request::Opened(Some(b("127.0.0.1:5432"))),
        Request::OpenFailed {
            kind: ErrorKind::PolicyDenied,
            reason: b("no\u{1d}pe"),
        },
        Request::Password(None),
        Request::Password(Some(b(""))),
        Request::Password(Some(b("p\u{1d}w"))),
        Request::File {
            status: FileStatus::Ok,
            contents: b("*:*:*:*:pw\n\u{1d}"),
        },
        Request::File {
            status: FileStatus::TooOpen,
            contents: b(""),
        },
        Request::Data(Cow::Borrowed(b"\x00\x1d\xff\x80abc")),
        Request::Data(Cow::Borrowed(b"")),
        Request::Eof,
        Request::SimpleQuery(b("select 1; select '\u{1d}'")),
        Request::Query {
            param_types: vec![],
            params: b(""),
            sql: b("select 1"),
        },
        Request::Query {
            param_types: vec![23, 0, 4294967295],
            params: b("1\u{1f}\u{0}\u{1f}x\u{1f}\u{1e}"),
            sql: b("select $1, $2, $3"),
        },
        Request::Prepare {
            param_types: vec![25],
            name: b("s1"),
            sql: b("select $1"),
        },
        Request::Execute {
            params: b("a\u{1f}\u{1e}"),
            name: b("s1"),
        },
        Request::CloseStatement(b("s1")),
        Request::Terminate,
        Request::CancelToken,
        Request::Cancel(b("t\u{1f}127.0.0.1")),
        Request::Pipeline(vec![]),
        Request::Pipeline(vec![PipelineItem::Sync]),
        Request::Pipeline(vec![
            PipelineItem::Query {
                param_types: vec![23, 0],
                params: b("1\u{1f}\u{0}\u{1f}\u{1e}"),
                sql: b("select $1, $2 -- odd: \u{1d}\u{1e}\u{1f}\u{1b}\u{0}"),
            },
            PipelineItem::Sync,
            PipelineItem::Query {
                param_types: vec![],
                params: b(""),
                sql: b(""),
            },
            PipelineItem::Execute {
                params: b("x\u{1b}]y\u{1f}\u{1e}"),
                name: b("s\u{1d}1"),
            },
            PipelineItem::Execute {
                params: b("\u{1e}"),
                name: b(""),
            },
            PipelineItem::Sync,
            PipelineItem::Sync,
        ]),
    ]
}

#[test]
fn requests_round_trip_in_both_forms() {
    for req in every_request() {
        let s = req.encode_str();
        assert_eq!(request::decode_str(&s).unwrap(), req, "string form {s:?}");
        let bytes = req.encode_bytes();
        assert_eq!(
            request::decode_bytes(&bytes).unwrap(),
            req,
            "byte form {bytes:?}"
        );
    }
}

#[test]
fn data_forms() {
    let req = Request::Data(Cow::Borrowed(b"\xe9\x00"));
    assert_eq!(req.encode_str(), "d\u{e9}\u{0}");
    assert_eq!(req.encode_bytes(), b"d\xe9\x00");
    assert!(request::decode_str("d\u{100}").is_err());
    // Every byte value, ASCII runs between high bytes, and a non-latin-1 character after some.
    let all: Vec<u8> = (0..=255u8).chain(*b"abc\xff\x80z").collect();
    let req = Request::Data(Cow::Owned(all.clone()));
    assert_eq!(
        request::decode_str(&req.encode_str()).unwrap(),
        Request::Data(Cow::Owned(all))
    );
    let e = request::decode_str("dab\u{e9}\u{20ac}").unwrap_err();
    assert!(e.to_string().contains("U+20AC"), "{e}");
    assert_eq!(
        request::decode_str("dplain").unwrap(),
        Request::Data(Cow::Borrowed(b"plain"))
    );
}

#[test]
fn request_examples() {
    // The layout as a host writes it by hand.
    assert_eq!(
        request::decode_str("q\u{1d}23,25\u{1d}1\u{1f}a\u{1f}\u{1e}\u{1d}select $1, $2").unwrap(),
        Request::Query {
            param_types: vec![23, 25],
            params: b("1\u{1f}a\u{1f}\u{1e}"),
            sql: b("select $1, $2")
        }
    );
    // A pipeline: two queries and an execute, a sync point after the first; SQL and names are
    // escaped text (U+001D inside the second query's SQL).
    assert_eq!(
        request::decode_str(
            "p\u{1d}q\u{1d}23\u{1d}1\u{1f}\u{1e}\u{1d}select $1\u{1d}S\u{1d}q\u{1d}\u{1d}\u{1d}select '\u{1b}]'\u{1d}X\u{1d}a\u{1f}\u{1e}\u{1d}s1"
        )
        .unwrap(),
        Request::Pipeline(vec![
            PipelineItem::Query {
                param_types: vec![23],
                params: b("1\u{1f}\u{1e}"),
                sql: b("select $1"),
            },
            PipelineItem::Sync,
            PipelineItem::Query {
                param_types: vec![],
                params: b(""),
                sql: Cow::Owned("select '\u{1d}'".to_owned()),
            },
            PipelineItem::Execute {
                params: b("a\u{1f}\u{1e}"),
                name: b("s1"),
            },
        ])
    );
    assert_eq!(request::decode_str("p").unwrap(), Request::Pipeline(vec![]));
    // docs/abi.md's example.
    let example = Request::Pipeline(vec![
        PipelineItem::Query {
            param_types: vec![23],
            params: b("1\u{1f}\u{1e}"),
            sql: b("select $1"),
        },
        PipelineItem::Sync,
        PipelineItem::Execute {
            params: b(""),
            name: b("s1"),
        },
    ]);
    let text = "p\u{1d}q\u{1d}23\u{1d}1\u{1f}\u{1e}\u{1d}select $1\u{1d}S\u{1d}X\u{1d}\u{1d}s1";
    assert_eq!(example.encode_str(), text);
    assert_eq!(request::decode_str(text).unwrap(), example);
    assert_eq!(
        request::decode_str("c\u{1d}PGUSER\u{1f}me\u{1f}\u{1e}\u{1d}host=x").unwrap(),
        Request::Connect {
            defaults: vec![(b("PGUSER"), b("me"))],
            conninfo: b("host=x")
        }
    );
}

#[test]
fn malformed_requests_are_errors() {
    for bad in [
        "",
        "z",
        "q\u{1d}1,x\u{1d}\u{1d}s",
        "q\u{1d}1",
        "s",
        "n\u{1d}a\u{1f}b",
        "n\u{1d}a\u{1f}\u{1e}",
        "x\u{1d}nope\u{1d}r",
        "y\u{1d}maybe\u{1d}",
        "t\u{1d}",
        "c\u{1d}k\u{1f}v\u{1f}extra\u{1f}\u{1e}\u{1d}c",
        // Pipelines: items after U+001D, each complete, known, with valid escapes and types.
        "pS",
        "p\u{1d}",
        "p\u{1d}S\u{1d}",
        "p\u{1d}s",
        "p\u{1d}q",
        "p\u{1d}q\u{1d}\u{1d}",
        "p\u{1d}q\u{1d}x\u{1d}\u{1d}select 1",
        "p\u{1d}q\u{1d}\u{1d}\u{1d}select \u{1b}Z",
        "p\u{1d}X\u{1d}",
        "p\u{1d}X\u{1d}\u{1d}s\u{1b}",
        "p\u{1d}q\u{1d}\u{1d}\u{1d}select 1\u{1d}SS",
    ] {
        assert!(request::decode_str(bad).is_err(), "{bad:?}");
    }
    assert!(request::decode_bytes(b"s\x1d\xff").is_err());
    // The parts are counted, and the last one is verbatim (it may hold U+001D).
    for (bad, count) in [("q\u{1d}1", 1), ("q\u{1d}23\u{1d}5", 2), ("X\u{1d}", 1)] {
        let e = request::decode_str(bad).expect_err(bad);
        let expected = if bad.starts_with('X') { 2 } else { 3 };
        assert!(
            e.to_string()
                .contains(&format!("{count} parts, {expected} expected")),
            "{bad:?}: {e}"
        );
    }
    assert_eq!(
        request::decode_str("q\u{1d}23\u{1d}5\u{1f}\u{1e}\u{1d}select '\u{1d}é'").unwrap(),
        Request::Query {
            param_types: vec![23],
            params: b("5\u{1f}\u{1e}"),
            sql: b("select '\u{1d}é'"),
        }
    );
}

fn col(name: &'static str, oid: u32) -> Column<'static> {
    Column {
        name: b(name),
        type_oid: oid,
        type_modifier: -1,
        table_oid: 0,
        column_id: 0,
        type_size: -1,
    }
}

fn every_step() -> Vec<Step<'static>> {
    let db = vec![
        ('S', b("ERROR")),
        ('C', b("42P01")),
        ('M', b("relation \"x\u{1e}\" does not exist")),
        ('P', b("15")),
    ];
    vec![
        Step {
            send: Cow::Borrowed(b""),
            action: Action::Read,
            events: vec![],
        },
        Step {
            send: Cow::Borrowed(b"\x00\x00\x00\x08\x04\xd2\x16/\xff\x1d"),
            action: Action::Close,
            events: vec![],
        },
        Step {
            send: Cow::Borrowed(b""),
            action: Action::Open {
                target: Target::Tcp {
                    host: b("db.example"),
                    port: 5432,
                },
                timeout_ms: Some(2000),
                addr: None,
                keepalive: Some(crate::Keepalive {
                    enabled: true,
                    idle_secs: Some(30),
                    interval_secs: None,
                    count: Some(3),
                }),
            },
            events: vec![],
        },
        Step {
            send: Cow::Borrowed(b""),
            action: Action::Open {
                target: Target::Unix(b("/run/postgresql/.s.PGSQL.5432")),
                timeout_ms: None,
                addr: Some(b("[::1]:5432")),
                keepalive: None,
            },
            events: vec![],
        },
        Step {
            send: Cow::Borrowed(b""),
            action: Action::NeedPassword {
                host: b("h"),
                port: 1,
                dbname: b("d"),
                user: b("u"),
            },
            events: vec![],
        },
        Step {
            send: Cow::Borrowed(b""),
            action: Action::NeedFile {
                purpose: b("passfile"),
                path: b("/home/u/.pgpass"),
            },
            events: vec![],
        },
        Step {
            send: Cow::Borrowed(b""),
            action: Action::Done(TxStatus::Idle),
            events: vec![
                Event::Parameter {
                    name: b("TimeZone"),
                    value: b("UTC"),
                },
                Event::Backend { process_id: 4242 },
                Event::Columns(vec![col("a", 23), col("b\u{1f}", 25)]),
                Event::Rows {
                    count: 2,
                    escaped: false,
                    data: b("1\u{1f}x\u{1f}\u{1e}2\u{1f}\u{0}\u{1f}\u{1e}"),
                },
                Event::Rows {
                    count: 1,
                    escaped: true,
                    data: b("3\u{1f}\u{1b}]\u{1f}\u{1e}"),
                },
                Event::Complete {
                    tag: b("SELECT 3"),
                    rows: Some(3),
                },
                Event::Columns(vec![]),
                Event::Rows {
                    count: 1,
                    escaped: false,
                    data: b("\u{1e}"),
                },
                Event::Complete {
                    tag: b("CREATE TABLE"),
                    rows: None,
                },
                Event::EmptyQuery,
                Event::Prepared {
                    name: b("s1"),
                    param_types: vec![23, 25],
                    columns: vec![col("x", 16)],
                },
                Event::Prepared {
                    name: b(""),
                    param_types: vec![],
                    columns: vec![],
                },
                Event::Error {
                    kind: ErrorKind::Db,
                    message: b("relation does not exist"),
                    db: db.clone(),
                },
                Event::Error {
                    kind: ErrorKind::Timeout,
                    message: b("timed out"),
                    db: vec![],
                },
                Event::Notice(db),
                Event::Notification {
                    process_id: -1,
                    channel: b("ch"),
                    payload: b(""),
                },
                Event::CancelToken(b("opaque\u{1d}token")),
                Event::Aborted,
                Event::Synced(TxStatus::Idle),
                Event::Synced(TxStatus::InTransaction),
                Event::Synced(TxStatus::Failed),
                Event::Conninfo(Conninfo {
                    targets: vec![
                        Target::Tcp {
                            host: b("a"),
                            port: 1,
                        },
                        Target::Unix(b("/tmp/.s.PGSQL.5")),
                    ],
                    user: b("u"),
                    dbname: b("d"),
                    connect_timeout_ms: Some(2000),
                    has_password: true,
                    passfile: None,
                    sslmode: b("prefer"),
                }),
            ],
        },
        Step {
            send: Cow::Borrowed(b"Q\x00\x00\x00\x0dselect 1\x00"),
            action: Action::Read,
            events: vec![],
        },
    ]
}

#[test]
fn steps_round_trip() {
    for step in every_step() {
        let s = step.encode();
        assert_eq!(step::decode(&s).unwrap(), step, "{s:?}");
    }
}

#[test]
fn a_step_read_event_by_event_is_the_decoded_step() {
    // `StepReader` (the Rust host's decoder) against `decode_keeping_columns`, which collects
    // the same reader's events: the count it announces, each event in order, then the send
    // bytes and the action.
    for step in every_step() {
        let s = step.encode();
        let whole = step::decode_keeping_columns(&s).unwrap();
        let mut reader = step::StepReader::new(&s, true).unwrap();
        assert_eq!(reader.events_left(), step.events.len(), "{s:?}");
        let mut events = Vec::new();
        while let Some(event) = reader.next_event().unwrap() {
            events.push(event);
            assert_eq!(reader.events_left(), step.events.len() - events.len());
        }
        assert_eq!(reader.next_event().unwrap(), None);
        let (send, action) = reader.finish().unwrap();
        assert_eq!(
            (send, action, events),
            (whole.send, whole.action, whole.events)
        );
    }
    // Without `keep_columns` a result's columns are decoded, as by `decode`.
    let s = "0:d\u{1f}I\u{1e}C\u{1f}1\u{1f}n\u{1f}23\u{1f}-1\u{1f}0\u{1f}0\u{1f}4";
    let mut kept = step::StepReader::new(s, true).unwrap();
    assert!(matches!(kept.next_event().unwrap(), Some(Event::Record(_))));
    let mut decoded = step::StepReader::new(s, false).unwrap();
    assert_eq!(
        decoded.next_event().unwrap().as_ref(),
        step::decode(s).unwrap().events.first()
    );
}

#[test]
fn a_step_reader_reports_what_a_decode_reports() {
    // An event left unread, a data part no event took, and a malformed event in the middle:
    // errors, never a short step.
    let rows = "0:r\u{1e}R\u{1f}1\u{1f}0\u{1e}Q\u{1d}1\u{1f}\u{1e}";
    let mut reader = step::StepReader::new(rows, true).unwrap();
    assert!(reader.next_event().unwrap().is_some());
    let e = reader.finish().unwrap_err();
    assert!(e.to_string().contains("not all read"), "{e}");
    let extra = "0:r\u{1e}Q\u{1d}1\u{1f}\u{1e}";
    let mut reader = step::StepReader::new(extra, true).unwrap();
    assert_eq!(reader.next_event().unwrap(), Some(Event::EmptyQuery));
    assert_eq!(reader.next_event().unwrap(), None);
    let e = reader.finish().unwrap_err();
    assert!(e.to_string().contains("without its rows"), "{e}");
    assert!(step::decode(extra).is_err());
    let bad = "0:r\u{1e}Q\u{1e}B\u{1f}x\u{1e}Q";
    let mut reader = step::StepReader::new(bad, true).unwrap();
    assert_eq!(reader.events_left(), 3);
    assert_eq!(reader.next_event().unwrap(), Some(Event::EmptyQuery));
    assert!(reader.next_event().is_err());
    assert!(step::decode(bad).is_err());
    // A malformed head fails at once.
    assert!(step::StepReader::new("x:r", true).is_err());
    assert!(step::StepReader::new("0:z", true).is_err());
}

#[test]
fn steps_encode_at_their_exact_length_with_a_kept_buffer() {
    // The guest keeps one head buffer across steps: what it held before changes nothing, and
    // the string has no spare capacity (wit-bindgen's export would shrink it by reallocation).
    let mut head = b"stale bytes of an earlier step".to_vec();
    for step in every_step() {
        let s = step.encode_with(&mut head);
        assert_eq!(s, step.encode());
        assert_eq!(s.capacity(), s.len(), "{s:?}");
        assert_eq!(step::decode(&s).unwrap(), step);
    }
}

#[test]
fn step_example() {
    // `send-len ":" send`, then the action, events after U+001E, row data after U+001D.
    let s = "0:d\u{1f}I\u{1e}C\u{1f}1\u{1f}n\u{1f}23\u{1f}-1\u{1f}0\u{1f}0\u{1f}4\u{1e}R\u{1f}1\u{1f}0\u{1e}K\u{1f}SELECT 1\u{1f}1\u{1d}42\u{1f}\u{1e}";
    let step = step::decode(s).unwrap();
    assert_eq!(step.action, Action::Done(TxStatus::Idle));
    assert_eq!(step.events.len(), 3);
    assert_eq!(
        step.events[1],
        Event::Rows {
            count: 1,
            escaped: false,
            data: b("42\u{1f}\u{1e}")
        }
    );
    assert_eq!(step.encode(), s);
}

#[test]
fn latin1_send_bytes() {
    let step = Step {
        send: Cow::Borrowed(b"\xff\x00a"),
        action: Action::Read,
        events: vec![],
    };
    let s = step.encode();
    assert!(s.starts_with("3:\u{ff}\u{0}a"));
    assert_eq!(step::decode(&s).unwrap().send.as_ref(), b"\xff\x00a");
    // Every byte value, in runs and alone, before records and parts: the string is exactly
    // as long as it was allocated and decodes to the same step.
    let all: Vec<u8> = (0..=255u8).chain(*b"abc\xff\x80z\xc3\xa9").collect();
    let step = Step {
        send: Cow::Owned(all.clone()),
        action: Action::Done(TxStatus::Idle),
        events: vec![Event::Rows {
            count: 1,
            escaped: false,
            data: Cow::Borrowed("x\u{e9}\u{1f}\u{1e}"),
        }],
    };
    let s = step.encode();
    assert_eq!(s.capacity(), s.len());
    assert!(s.starts_with(&format!("{}:", all.len())));
    assert_eq!(step::decode(&s).unwrap(), step);
    // A character above U+00FF among the send bytes, and fewer characters than announced.
    let e = step::decode("3:a\u{e9}\u{100}r").unwrap_err();
    assert!(e.to_string().contains("above U+00FF"), "{e}");
    let e = step::decode("4:a\u{e9}").unwrap_err();
    assert!(e.to_string().contains("shorter"), "{e}");
}

#[test]
fn malformed_steps_are_errors() {
    for bad in [
        // Numbers have one spelling: no `+`, no leading zeros, no `-0`.
        "+0:r",
        "00:r",
        "0:r\u{1e}B\u{1f}+5",
        "0:r\u{1e}B\u{1f}05",
        "0:r\u{1e}B\u{1f}-0",
        "",
        "x",
        "1:",
        "2:a",
        "0:",
        "0:z",
        "0:d",
        "0:d\u{1f}Q",
        "0:r\u{1f}extra",
        "0:r\u{1d}",
        "0:r\u{1e}R\u{1f}1\u{1f}0",
        "0:r\u{1e}R\u{1f}1",
        "0:r\u{1e}C\u{1f}99999999999",
        "0:r\u{1e}C\u{1f}1\u{1f}a",
        "0:r\u{1e}E\u{1f}weird\u{1f}m",
        "0:r\u{1e}N\u{1f}",
        "0:r\u{1e}",
        "1:\u{100}r",
        "0:o\u{1f}t\u{1f}h\u{1f}99999\u{1f}\u{0}\u{1f}\u{0}",
        "0:o\u{1f}t\u{1f}h\u{1f}1\u{1f}\u{0}",
        "0:rx",
        "0:r\u{1e}X\u{1f}1",
        "0:r\u{1e}Z",
        "0:r\u{1e}Z\u{1f}Q",
        "0:r\u{1e}Z\u{1f}I\u{1f}I",
    ] {
        assert!(step::decode(bad).is_err(), "{bad:?}");
    }
}

/// A deterministic pseudo-random walk over mutations of valid steps and requests: decoding
/// returns, never panics, and whatever decodes re-encodes to something that decodes the same.
#[test]
fn mutations_never_panic() {
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let alphabet = [
        '\u{0}', '\u{1b}', '\u{1d}', '\u{1e}', '\u{1f}', ':', '1', 'R', 'x', 'é', '@', ']',
    ];
    let samples: Vec<String> = every_step()
        .iter()
        .map(Step::encode)
        .chain(every_request().iter().map(Request::encode_str))
        .collect();
    for _ in 0..20_000 {
        let base = &samples[(next() % samples.len() as u64) as usize];
        let mut chars: Vec<char> = base.chars().collect();
        for _ in 0..1 + next() % 3 {
            let pos = (next() % (chars.len() as u64 + 1)) as usize;
            match next() % 3 {
                0 if pos < chars.len() => {
                    chars.remove(pos);
                }
                1 if pos < chars.len() => {
                    chars[pos] = alphabet[(next() % alphabet.len() as u64) as usize]
                }
                _ => chars.insert(pos, alphabet[(next() % alphabet.len() as u64) as usize]),
            }
        }
        let s: String = chars.into_iter().collect();
        if let Ok(step) = step::decode(&s) {
            let again = step.encode();
            assert_eq!(step::decode(&again).unwrap(), step);
        }
        if let Ok(req) = request::decode_str(&s) {
            assert_eq!(request::decode_str(&req.encode_str()).unwrap(), req);
        }
        let _ = request::decode_bytes(s.as_bytes());
    }
}
