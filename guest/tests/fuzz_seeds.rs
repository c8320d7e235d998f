//! Writes the seed corpora of the packed-layout fuzz targets (`fuzz/corpus/dispatch`,
//! `fuzz/corpus/step_decode`, `fuzz/corpus/request_decode`): scripted sessions driven through a
//! [`Dispatcher`] as a host drives the component (pipelines too), plus every vector of
//! `conformance/packed.json`. Run by hand after a layout change:
//!
//! ```sh
//! cargo test -p wasmpg-guest --test fuzz_seeds -- --ignored
//! ```
//!
//! A `dispatch` seed is one scripted instance: its requests in the framing of `fuzz/src/lib.rs`
//! (`tag: u8, len: u16 BE, payload`; tag `s` = string form, `b` = byte form). The
//! `request_decode` seeds are those requests (in both forms) and the conformance requests; the
//! `step_decode` seeds are the guest's answers and the conformance steps.

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::Value;
use wasmpg_guest::dispatch::Dispatcher;
use wasmpg_wire::{step, Event, FileStatus, PipelineItem, Request};

mod common;
use common::*;

fn b(s: &str) -> Cow<'_, str> {
    Cow::Borrowed(s)
}

/// One scripted instance: the framed requests it received and every answer.
#[derive(Default)]
struct Script {
    dispatcher: Dispatcher,
    framed: Vec<u8>,
    requests: Vec<Vec<u8>>,
    answers: Vec<String>,
}

impl Script {
    /// Sends `request` in the byte form when `bytes`, else in the string form.
    fn send(&mut self, request: Request<'_>, bytes: bool) -> step::Step<'static> {
        let (tag, payload, answer) = if bytes {
            let payload = request.encode_bytes();
            let answer = self.dispatcher.call_bytes(&payload);
            (b'b', payload, answer)
        } else {
            let payload = request.encode_str();
            let answer = self.dispatcher.call_str(&payload);
            (b's', payload.into_bytes(), answer)
        };
        let len = u16::try_from(payload.len()).expect("seed requests are short");
        self.framed.push(tag);
        self.framed.extend_from_slice(&len.to_be_bytes());
        self.framed.extend_from_slice(&payload);
        self.requests.push(payload);
        self.answers.push(answer.clone());
        let s: &'static str = Box::leak(answer.into_boxed_str());
        step::decode(s).expect("the guest writes valid steps")
    }

    fn call(&mut self, request: Request<'_>) -> step::Step<'static> {
        self.send(request, false)
    }

    fn data(&mut self, bytes: &[u8]) -> step::Step<'static> {
        self.send(Request::Data(Cow::Borrowed(bytes)), true)
    }
}

fn backend_key(pid: i32, secret: i32) -> Vec<u8> {
    let mut body = pid.to_be_bytes().to_vec();
    body.extend_from_slice(&secret.to_be_bytes());
    msg(b'K', &body)
}

fn startup_reply() -> Vec<u8> {
    let mut reply = auth(0, &[]);
    reply.extend(parameter_status("TimeZone", "UTC"));
    reply.extend(parameter_status("server_version", "15.8"));
    reply.extend(backend_key(77, 88));
    reply.extend(ready(b'I'));
    reply
}

/// A session through the password file: queries, an error, a statement, notices, the token.
fn full_session() -> (Script, String) {
    let mut s = Script::default();
    s.call(Request::Init(vec![
        (b("default_passfile"), b("/home/u/.pgpass")),
        (b("batch_bytes"), b("64")),
        (b("param.statement_timeout"), b("5000")),
    ]));
    s.call(Request::Connect {
        defaults: vec![(b("PGUSER"), b("alice"))],
        conninfo: b("host=db.example port=5433 dbname=app connect_timeout=3"),
    });
    s.call(Request::Opened(Some(b("10.1.2.3:5433"))));
    s.data(&auth(3, &[]));
    s.call(Request::File {
        status: FileStatus::Ok,
        contents: b("db.example:5433:app:alice:s3cret\n"),
    });
    s.data(&startup_reply());

    s.call(Request::Query {
        param_types: vec![23, 25],
        params: b("41\u{1f}x\u{1b}^y\u{1f}\u{1e}\u{0}\u{1f}\u{0}\u{1f}\u{1e}"),
        sql: b("select $1::int + 1 as n, $2 as t"),
    });
    let mut reply = msg(b'1', &[]);
    reply.extend(msg(b't', &[0, 2, 0, 0, 0, 23, 0, 0, 0, 25]));
    reply.extend(row_description(&[("n", 23), ("t", 25)]));
    reply.extend(msg(b'2', &[]));
    reply.extend(data_row(&[Some(b"42"), Some(b"x\x1ey")]));
    reply.extend(data_row(&[None, None]));
    reply.extend(command_complete("SELECT 2"));
    reply.extend(ready(b'I'));
    // Split in two, as a socket may deliver it.
    let (first, second) = reply.split_at(reply.len() / 2);
    s.data(first);
    s.data(second);

    s.call(Request::SimpleQuery(b("begin; select * from missing")));
    let mut reply = command_complete("BEGIN");
    reply.extend(error_response(&[
        (b'S', "ERROR"),
        (b'V', "ERROR"),
        (b'C', "42P01"),
        (b'M', "relation \"missing\" does not exist"),
        (b'P', "15"),
        (b'F', "parse_relation.c"),
        (b'L', "1449"),
        (b'R', "parserOpenTable"),
    ]));
    reply.extend(ready(b'E'));
    s.data(&reply);
    s.call(Request::SimpleQuery(b("rollback")));
    let mut reply = command_complete("ROLLBACK");
    reply.extend(ready(b'I'));
    s.data(&reply);

    s.call(Request::Prepare {
        param_types: vec![25],
        name: b("s1"),
        sql: b("select length($1)"),
    });
    let mut reply = msg(b'1', &[]);
    reply.extend(msg(b't', &[0, 1, 0, 0, 0, 25]));
    reply.extend(row_description(&[("length", 23)]));
    reply.extend(ready(b'I'));
    s.data(&reply);
    s.call(Request::Execute {
        params: b("abc\u{1f}\u{1e}"),
        name: b("s1"),
    });
    let mut reply = msg(b'2', &[]);
    reply.extend(data_row(&[Some(b"3")]));
    reply.extend(command_complete("SELECT 1"));
    reply.extend(ready(b'I'));
    s.data(&reply);

    s.call(Request::SimpleQuery(b("listen ch; ; notify ch, 'hi'")));
    let mut reply = command_complete("LISTEN");
    reply.extend(msg(b'I', &[]));
    let mut notice = Vec::new();
    for (code, value) in [(b'S', "NOTICE"), (b'C', "00000"), (b'M', "hello")] {
        notice.push(code);
        notice.extend(cstr(value));
    }
    notice.push(0);
    reply.extend(msg(b'N', &notice));
    reply.extend(command_complete("NOTIFY"));
    let mut notification = 77i32.to_be_bytes().to_vec();
    notification.extend(cstr("ch"));
    notification.extend(cstr("hi"));
    reply.extend(msg(b'A', &notification));
    reply.extend(ready(b'I'));
    s.data(&reply);

    let token = s.call(Request::CancelToken);
    let token = token
        .events
        .iter()
        .find_map(|e| match e {
            Event::CancelToken(t) => Some(t.to_string()),
            _ => None,
        })
        .expect("a cancel token");
    s.call(Request::CloseStatement(b("s1")));
    let mut reply = msg(b'3', &[]);
    reply.extend(ready(b'I'));
    s.data(&reply);
    s.call(Request::Terminate);
    s.call(Request::Eof);
    (s, token)
}

/// Pipelines: results, an error and the items it aborts, sync points, a statement reused, a
/// refused COPY FROM STDIN, an empty pipeline.
fn pipelines() -> Script {
    let mut s = Script::default();
    s.call(Request::Connect {
        defaults: vec![],
        conninfo: b("host=/run/postgresql user=u dbname=d"),
    });
    s.call(Request::Opened(None));
    s.data(&startup_reply());
    let query = |sql| PipelineItem::Query {
        param_types: vec![23],
        params: b("7\u{1f}\u{1e}"),
        sql: b(sql),
    };
    s.call(Request::Pipeline(vec![
        query("select $1::int"),
        query("select $1::int / 0"),
        query("select $1::int"),
        PipelineItem::Sync,
        query("select $1::int"),
        PipelineItem::Execute {
            params: b(""),
            name: b("theirs"),
        },
    ]));
    let described = |reply: &mut Vec<u8>| {
        reply.extend(msg(b'1', &[]));
        reply.extend(msg(b't', &[0, 1, 0, 0, 0, 23]));
        reply.extend(row_description(&[("int4", 23)]));
    };
    let mut reply = Vec::new();
    described(&mut reply);
    reply.extend(msg(b'2', &[]));
    reply.extend(data_row(&[Some(b"7")]));
    reply.extend(command_complete("SELECT 1"));
    described(&mut reply);
    reply.extend(msg(b'2', &[]));
    reply.extend(error_response(&[
        (b'S', "ERROR"),
        (b'C', "22012"),
        (b'M', "division by zero"),
    ]));
    reply.extend(ready(b'I'));
    s.data(&reply);
    let mut reply = Vec::new();
    described(&mut reply);
    reply.extend(msg(b'2', &[]));
    reply.extend(data_row(&[Some(b"7")]));
    reply.extend(command_complete("SELECT 1"));
    reply.extend(msg(b't', &[0, 0]));
    reply.extend(msg(b'n', &[]));
    reply.extend(msg(b'2', &[]));
    reply.extend(command_complete("INSERT 0 1"));
    reply.extend(ready(b'T'));
    s.data(&reply);
    s.call(Request::Pipeline(vec![
        query("select $1::int"),
        PipelineItem::Query {
            param_types: vec![],
            params: b(""),
            sql: b("copy t from stdin"),
        },
        PipelineItem::Sync,
    ]));
    let mut reply = msg(b'2', &[]);
    reply.extend(data_row(&[Some(b"7")]));
    reply.extend(command_complete("SELECT 1"));
    reply.extend(msg(b'1', &[]));
    reply.extend(msg(b't', &[0, 0]));
    reply.extend(msg(b'n', &[]));
    reply.extend(msg(b'2', &[]));
    reply.extend(msg(b'G', &[0, 0, 0]));
    s.data(&reply);
    let mut reply = error_response(&[
        (b'S', "ERROR"),
        (b'C', "57014"),
        (b'M', "COPY from stdin failed"),
    ]);
    reply.extend(ready(b'E'));
    s.data(&reply);
    s.call(Request::Pipeline(vec![]));
    s.call(Request::Terminate);
    s
}

/// A cancel request on a fresh instance.
fn cancel(token: &str) -> Script {
    let mut s = Script::default();
    s.call(Request::Cancel(b(token)));
    s.call(Request::Opened(None));
    s.send(Request::Eof, true);
    s
}

/// A password from the host, then an authentication failure.
fn password_then_failure() -> Script {
    let mut s = Script::default();
    s.call(Request::Connect {
        defaults: vec![],
        conninfo: b("host=/run/postgresql user=u dbname=d"),
    });
    s.call(Request::Opened(None));
    s.data(&auth(3, &[]));
    s.call(Request::Password(Some(b("wrong"))));
    s.data(&error_response(&[
        (b'S', "FATAL"),
        (b'C', "28P01"),
        (b'M', "password authentication failed for user \"u\""),
    ]));
    s.call(Request::Eof);
    s
}

/// Conninfo parsing, refusals and a failed open.
fn refusals() -> Script {
    let mut s = Script::default();
    s.call(Request::ParseConninfo {
        defaults: vec![(b("PGUSER"), b("bob")), (b("PGCONNECT_TIMEOUT"), b("5"))],
        conninfo: b("postgresql://a:1,b:2/db?sslmode=disable"),
    });
    s.call(Request::ParseConninfo {
        defaults: vec![],
        conninfo: b("host='unterminated"),
    });
    s.call(Request::SimpleQuery(b("select 1")));
    s.call(Request::Init(vec![(b("nope"), b("1"))]));
    s.call(Request::Connect {
        defaults: vec![],
        conninfo: b("host=a,b user=u dbname=d"),
    });
    s.call(Request::OpenFailed {
        kind: wasmpg_wire::ErrorKind::ConnectionRefused,
        reason: b("refused"),
    });
    s.call(Request::OpenFailed {
        kind: wasmpg_wire::ErrorKind::HostNotFound,
        reason: b("no such host"),
    });
    s.call(Request::Password(None));
    s
}

fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Writes each input once, named by its hash, after removing the old `seed-*` files.
fn write_corpus(dir: &Path, inputs: &BTreeSet<Vec<u8>>) {
    std::fs::create_dir_all(dir).expect("corpus directory");
    for entry in std::fs::read_dir(dir).expect("corpus directory") {
        let path = entry.expect("directory entry").path();
        if path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("seed-"))
        {
            std::fs::remove_file(&path).expect("remove an old seed");
        }
    }
    for input in inputs {
        let path = dir.join(format!("seed-{:016x}", fnv(input)));
        std::fs::write(&path, input).expect("write a seed");
    }
}

fn conformance() -> Value {
    let text = include_str!("../../conformance/packed.json");
    serde_json::from_str(text).expect("conformance/packed.json")
}

fn byte_list(v: &Value) -> Vec<u8> {
    v.as_array()
        .expect("a list of bytes")
        .iter()
        .map(|n| {
            n.as_u64()
                .and_then(|n| u8::try_from(n).ok())
                .expect("a byte")
        })
        .collect()
}

#[test]
#[ignore = "writes fuzz/corpus; run by hand (see the file's doc)"]
fn record_packed_fuzz_seeds() {
    let (full, token) = full_session();
    let scripts = [
        full,
        cancel(&token),
        password_then_failure(),
        refusals(),
        pipelines(),
    ];
    let mut dispatch = BTreeSet::new();
    let mut requests = BTreeSet::new();
    let mut steps = BTreeSet::new();
    for script in &scripts {
        dispatch.insert(script.framed.clone());
        requests.extend(script.requests.iter().cloned());
        steps.extend(script.answers.iter().map(|a| a.as_bytes().to_vec()));
    }
    let doc = conformance();
    for case in doc["steps"].as_array().expect("steps") {
        let input = case["input"].as_str().expect("a packed step");
        steps.insert(input.as_bytes().to_vec());
    }
    for case in doc["requests"].as_array().expect("requests") {
        let input = &case["input"];
        let text = input["string"].as_str().expect("a packed request");
        requests.insert(text.as_bytes().to_vec());
        if !input["bytes"].is_null() {
            requests.insert(byte_list(&input["bytes"]));
        }
    }
    let corpus: PathBuf = [env!("CARGO_MANIFEST_DIR"), "..", "fuzz", "corpus"]
        .iter()
        .collect();
    write_corpus(&corpus.join("dispatch"), &dispatch);
    write_corpus(&corpus.join("request_decode"), &requests);
    write_corpus(&corpus.join("step_decode"), &steps);
}
