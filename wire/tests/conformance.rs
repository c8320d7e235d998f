//! The reference encoder and decoder against the shared vectors of `conformance/packed.json`
//! (the packed layout every host implements): each valid step and request decodes to its
//! expected form and that form encodes back to exactly the input; each malformed one is
//! rejected.

use std::borrow::Cow;

use serde_json::Value;
use wasmpg_wire::request::{self, Pairs};
use wasmpg_wire::step::{self, Column, Conninfo, DbFields, Target, TxStatus};
use wasmpg_wire::{Action, ErrorKind, Event, FileStatus, Request, Step};

const VECTORS: &str = include_str!("../../conformance/packed.json");

fn doc() -> Value {
    serde_json::from_str(VECTORS).expect("conformance/packed.json is JSON")
}

fn cases<'d>(doc: &'d Value, list: &str) -> &'d [Value] {
    doc[list]
        .as_array()
        .unwrap_or_else(|| panic!("conformance/packed.json has no list {list:?}"))
}

fn name(case: &Value) -> &str {
    case["name"].as_str().expect("every case has a name")
}

// Readers of the expected forms. The vectors are data under test: a field of the wrong shape
// is a broken vector, reported with its key.

fn text<'v>(v: &'v Value, key: &str) -> &'v str {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key:?} is not a string in {v}"))
}

fn owned(v: &Value, key: &str) -> Cow<'static, str> {
    Cow::Owned(text(v, key).to_owned())
}

fn opt_text(v: &Value, key: &str) -> Option<Cow<'static, str>> {
    match &v[key] {
        Value::Null => None,
        _ => Some(owned(v, key)),
    }
}

fn number<T: TryFrom<i64> + TryFrom<u64>>(v: &Value, key: &str) -> T {
    let n = &v[key];
    let value = if let Some(u) = n.as_u64() {
        T::try_from(u).ok()
    } else {
        n.as_i64().and_then(|i| T::try_from(i).ok())
    };
    value.unwrap_or_else(|| panic!("{key:?} is not a number in range in {v}"))
}

fn opt_number<T: TryFrom<i64> + TryFrom<u64>>(v: &Value, key: &str) -> Option<T> {
    match &v[key] {
        Value::Null => None,
        _ => Some(number(v, key)),
    }
}

fn flag(v: &Value, key: &str) -> bool {
    v[key]
        .as_bool()
        .unwrap_or_else(|| panic!("{key:?} is not a boolean in {v}"))
}

fn list<'v>(v: &'v Value, key: &str) -> &'v [Value] {
    v[key]
        .as_array()
        .unwrap_or_else(|| panic!("{key:?} is not a list in {v}"))
}

fn bytes(v: &Value) -> Vec<u8> {
    v.as_array()
        .unwrap_or_else(|| panic!("not a list of bytes: {v}"))
        .iter()
        .map(|b| {
            b.as_u64()
                .and_then(|b| u8::try_from(b).ok())
                .unwrap_or_else(|| panic!("not a byte: {b}"))
        })
        .collect()
}

fn oids(v: &Value, key: &str) -> Vec<u32> {
    list(v, key)
        .iter()
        .map(|n| {
            n.as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .unwrap_or_else(|| panic!("not a type OID: {n}"))
        })
        .collect()
}

fn tag(v: &Value, key: &str) -> char {
    let t = text(v, key);
    let mut chars = t.chars();
    match (chars.next(), chars.next()) {
        (Some(c), None) => c,
        _ => panic!("{key:?} is not one character in {v}"),
    }
}

fn kind(v: &Value) -> ErrorKind {
    let k = text(v, "kind");
    ErrorKind::parse(k).unwrap_or_else(|| panic!("unknown error kind {k:?}"))
}

fn target(v: &Value) -> Target<'static> {
    match text(v, "kind") {
        "t" => Target::Tcp {
            host: owned(v, "host"),
            port: number(v, "port"),
        },
        "u" => {
            assert!(v["port"].is_null(), "a Unix target's port is null: {v}");
            Target::Unix(owned(v, "host"))
        }
        other => panic!("unknown target kind {other:?}"),
    }
}

fn columns(v: &Value) -> Vec<Column<'static>> {
    list(v, "columns")
        .iter()
        .map(|c| Column {
            name: owned(c, "name"),
            type_oid: number(c, "type_oid"),
            type_modifier: number(c, "type_modifier"),
            table_oid: number(c, "table_oid"),
            column_id: number(c, "column_number"),
            type_size: number(c, "type_size"),
        })
        .collect()
}

fn db_fields(v: &Value) -> DbFields<'static> {
    list(v, "fields")
        .iter()
        .map(|f| (tag(f, "code"), owned(f, "value")))
        .collect()
}

fn action(v: &Value) -> Action<'static> {
    match tag(v, "action") {
        'r' => Action::Read,
        'd' => Action::Done(match text(v, "status") {
            "I" => TxStatus::Idle,
            "T" => TxStatus::InTransaction,
            "E" => TxStatus::Failed,
            other => panic!("unknown status {other:?}"),
        }),
        'c' => Action::Close,
        'o' => Action::Open {
            target: target(v),
            timeout_ms: opt_number(v, "timeout_ms"),
            addr: opt_text(v, "address"),
            keepalive: opt_text(v, "keepalive").map(|k| {
                wasmpg_wire::Keepalive::parse(&k).unwrap_or_else(|| panic!("keepalive {k:?}"))
            }),
        },
        'p' => Action::NeedPassword {
            host: owned(v, "host"),
            port: number(v, "port"),
            dbname: owned(v, "dbname"),
            user: owned(v, "user"),
        },
        'f' => Action::NeedFile {
            purpose: owned(v, "purpose"),
            path: owned(v, "path"),
        },
        'i' => Action::CopyIn,
        other => panic!("unknown action {other:?}"),
    }
}

fn event(v: &Value) -> Event<'static> {
    match tag(v, "event") {
        'C' => Event::Columns(columns(v)),
        'R' => Event::Rows {
            count: number(v, "row_count"),
            escaped: flag(v, "escaped"),
            data: owned(v, "batch"),
        },
        'K' => Event::Complete {
            tag: owned(v, "tag"),
            rows: opt_number(v, "row_count"),
        },
        'Q' => Event::EmptyQuery,
        'P' => Event::Prepared {
            name: owned(v, "name"),
            param_types: oids(v, "param_types"),
            columns: columns(v),
        },
        'E' => Event::Error {
            kind: kind(v),
            message: owned(v, "message"),
            db: db_fields(v),
        },
        'N' => Event::Notice(db_fields(v)),
        'A' => Event::Notification {
            process_id: number(v, "process_id"),
            channel: owned(v, "channel"),
            payload: owned(v, "payload"),
        },
        'S' => Event::Parameter {
            name: owned(v, "name"),
            value: owned(v, "value"),
        },
        'B' => Event::Backend {
            process_id: number(v, "process_id"),
        },
        'T' => Event::CancelToken(owned(v, "token")),
        'I' => Event::Conninfo(Conninfo {
            targets: list(v, "targets").iter().map(target).collect(),
            user: owned(v, "user"),
            dbname: owned(v, "dbname"),
            connect_timeout_ms: opt_number(v, "connect_timeout_ms"),
            has_password: flag(v, "has_password"),
            passfile: opt_text(v, "passfile"),
            sslmode: owned(v, "sslmode"),
        }),
        'G' => Event::CopyIn {
            binary: flag(v, "binary"),
            columns: number(v, "columns"),
        },
        'H' => Event::CopyOut {
            binary: flag(v, "binary"),
            columns: number(v, "columns"),
        },
        'D' => Event::CopyData {
            text: match text(v, "encoding") {
                "t" => true,
                "l" => false,
                other => panic!("unknown COPY data encoding {other:?}"),
            },
            escaped: flag(v, "escaped"),
            data: owned(v, "data"),
        },
        other => panic!("unknown event {other:?}"),
    }
}

fn expected_step(v: &Value) -> Step<'static> {
    Step {
        send: Cow::Owned(bytes(&v["send"])),
        action: action(&v["action"]),
        events: list(v, "events").iter().map(event).collect(),
    }
}

fn pairs(v: &Value, key: &str) -> Pairs<'static> {
    list(v, key)
        .iter()
        .map(|p| (owned(p, "name"), owned(p, "value")))
        .collect()
}

fn expected_request(v: &Value) -> Request<'static> {
    match tag(v, "request") {
        'n' => Request::Init(pairs(v, "options")),
        'c' => Request::Connect {
            defaults: pairs(v, "defaults"),
            conninfo: owned(v, "conninfo"),
        },
        'i' => Request::ParseConninfo {
            defaults: pairs(v, "defaults"),
            conninfo: owned(v, "conninfo"),
        },
        'o' => match v.get("time").and_then(|t| t.as_u64()) {
            Some(now) => Request::OpenedAt {
                addr: opt_text(v, "address"),
                now,
            },
            None => Request::Opened(opt_text(v, "address")),
        },
        'x' => Request::OpenFailed {
            kind: kind(v),
            reason: owned(v, "reason"),
        },
        'w' => Request::Password(opt_text(v, "password")),
        'y' => {
            let status = text(v, "status");
            Request::File {
                status: FileStatus::parse(status)
                    .unwrap_or_else(|| panic!("unknown file status {status:?}")),
                contents: owned(v, "text"),
            }
        }
        'd' => Request::Data(Cow::Owned(bytes(&v["bytes"]))),
        'Y' => Request::FileBytes(Cow::Owned(bytes(&v["bytes"]))),
        'e' => Request::Eof,
        's' => Request::SimpleQuery(owned(v, "sql")),
        'q' => Request::Query {
            param_types: oids(v, "param_types"),
            params: owned(v, "params"),
            sql: owned(v, "sql"),
        },
        'P' => Request::Prepare {
            param_types: oids(v, "param_types"),
            name: owned(v, "name"),
            sql: owned(v, "sql"),
        },
        'X' => Request::Execute {
            params: owned(v, "params"),
            name: owned(v, "name"),
        },
        'L' => Request::CloseStatement(owned(v, "name")),
        't' => Request::Terminate,
        'K' => Request::CancelToken,
        'k' => Request::Cancel(owned(v, "token")),
        'D' => Request::CopyData(Cow::Owned(bytes(&v["bytes"]))),
        'F' => Request::CopyDone,
        'f' => Request::CopyFail(owned(v, "reason")),
        other => panic!("unknown request {other:?}"),
    }
}

#[test]
fn the_file_follows_the_house_format() {
    let doc = doc();
    assert_eq!(doc["topic"], "packed");
    assert!(doc["about"].is_string());
    let mut names = std::collections::HashSet::new();
    for list in ["steps", "requests", "malformed_steps", "malformed_requests"] {
        for case in cases(&doc, list) {
            assert!(names.insert(name(case)), "duplicate name {:?}", name(case));
            assert!(case.get("input").is_some(), "{}: no input", name(case));
            assert!(
                case.get("expected").is_some(),
                "{}: no expected",
                name(case)
            );
        }
    }
}

#[test]
fn steps_decode_to_their_expected_form_and_encode_back() {
    let doc = doc();
    let steps = cases(&doc, "steps");
    assert!(steps.len() >= 25);
    for case in steps {
        let name = name(case);
        let packed = case["input"].as_str().expect("a step's input is a string");
        let expected = expected_step(&case["expected"]);
        match step::decode(packed) {
            Ok(decoded) => assert_eq!(decoded, expected, "{name}: decoded"),
            Err(e) => panic!("{name}: rejected: {e}"),
        }
        assert_eq!(expected.encode(), packed, "{name}: encoded");
    }
}

#[test]
fn the_step_vectors_cover_every_tag() {
    let doc = doc();
    let mut actions = String::new();
    let mut events = String::new();
    for case in cases(&doc, "steps") {
        actions.push(tag(&case["expected"]["action"], "action"));
        for e in list(&case["expected"], "events") {
            events.push(tag(e, "event"));
        }
    }
    for a in "rdcopfi".chars() {
        assert!(actions.contains(a), "no step with action {a:?}");
    }
    for e in "CRKQPENASBTIGHD".chars() {
        assert!(events.contains(e), "no step with event {e:?}");
    }
    let kinds: Vec<ErrorKind> = cases(&doc, "steps")
        .iter()
        .flat_map(|c| list(&c["expected"], "events"))
        .filter(|e| e["event"] == "E")
        .map(kind)
        .collect();
    for k in ErrorKind::ALL {
        assert!(kinds.contains(k), "no error event of kind {k:?}");
    }
}

#[test]
fn requests_decode_to_their_expected_form_and_encode_back() {
    let doc = doc();
    let mut tags = String::new();
    for case in cases(&doc, "requests") {
        let name = name(case);
        let input = &case["input"];
        let string = text(input, "string");
        let byte_form = match &input["bytes"] {
            Value::Null => string.as_bytes().to_vec(),
            b => bytes(b),
        };
        let expected = expected_request(&case["expected"]);
        tags.push(tag(&case["expected"], "request"));
        match request::decode_str(string) {
            Ok(decoded) => assert_eq!(decoded, expected, "{name}: decoded, string form"),
            Err(e) => panic!("{name}: string form rejected: {e}"),
        }
        match request::decode_bytes(&byte_form) {
            Ok(decoded) => assert_eq!(decoded, expected, "{name}: decoded, byte form"),
            Err(e) => panic!("{name}: byte form rejected: {e}"),
        }
        assert_eq!(
            expected.encode_str(),
            string,
            "{name}: encoded, string form"
        );
        assert_eq!(
            expected.encode_bytes(),
            byte_form,
            "{name}: encoded, byte form"
        );
    }
    for t in "nciowxyYdestqPXLtKkDFf".chars() {
        assert!(tags.contains(t), "no request with tag {t:?}");
    }
}

#[test]
fn malformed_steps_are_rejected() {
    let doc = doc();
    let malformed = cases(&doc, "malformed_steps");
    assert!(malformed.len() >= 15);
    for case in malformed {
        assert!(case["expected"].is_null(), "{}: expected null", name(case));
        let packed = case["input"].as_str().expect("a step's input is a string");
        if let Ok(step) = step::decode(packed) {
            panic!("{}: accepted as {step:?}", name(case));
        }
    }
}

#[test]
fn malformed_requests_are_rejected() {
    let doc = doc();
    let malformed = cases(&doc, "malformed_requests");
    assert!(malformed.len() >= 15);
    for case in malformed {
        let name = name(case);
        assert!(case["expected"].is_null(), "{name}: expected null");
        let input = &case["input"];
        if let Some(string) = input["string"].as_str() {
            if let Ok(req) = request::decode_str(string) {
                panic!("{name}: string form accepted as {req:?}");
            }
            // Not data: the same text is malformed in the byte form too.
            if !string.starts_with(['d', 'Y', 'D']) {
                if let Ok(req) = request::decode_bytes(string.as_bytes()) {
                    panic!("{name}: byte form accepted as {req:?}");
                }
            }
        } else {
            let b = bytes(&input["bytes"]);
            if let Ok(req) = request::decode_bytes(&b) {
                panic!("{name}: byte form accepted as {req:?}");
            }
        }
    }
}
