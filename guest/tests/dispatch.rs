//! The packed ABI (docs/abi.md) driven natively, as a host drives the component: packed requests
//! in, packed steps out, decoded with the wire crate's reference decoder.

use std::borrow::Cow;

use wasmpg_guest::dispatch::Dispatcher;
use wasmpg_wire::step::{self, Target, TxStatus};
use wasmpg_wire::{Action, ErrorKind, Event, FileStatus, PipelineItem, Request};

mod common;
use common::*;

fn b(s: &str) -> Cow<'_, str> {
    Cow::Borrowed(s)
}

/// Sends one request in both forms to two dispatchers kept in lockstep, checks that they answer
/// alike, and returns the decoded step.
struct Host {
    text: Dispatcher,
    bytes: Dispatcher,
}

impl Host {
    fn new() -> Host {
        Host {
            text: Dispatcher::new(),
            bytes: Dispatcher::new(),
        }
    }

    fn call(&mut self, request: Request<'_>) -> step::Step<'static> {
        let a = self.text.call_str(&request.encode_str());
        let b = self.bytes.call_bytes(&request.encode_bytes());
        assert_eq!(a, b, "the string and byte forms answer alike");
        let step = step::decode(&a).expect("the guest writes valid steps");
        into_owned(step)
    }

    fn data(&mut self, bytes: &[u8]) -> step::Step<'static> {
        self.call(Request::Data(Cow::Borrowed(bytes)))
    }

    /// The connection opened, to a server without TLS: sslmode=prefer (the default) sends an
    /// SSLRequest first over TCP; the server answers `N` and the StartupMessage follows.
    fn opened(&mut self, request: Request<'_>) -> step::Step<'static> {
        let step = self.call(request);
        if step.send.as_ref() == SSL_REQUEST {
            assert_eq!(step.action, Action::Read);
            return self.data(b"N");
        }
        step
    }
}

/// The SSLRequest: length 8, code 80877103.
const SSL_REQUEST: &[u8] = &[0, 0, 0, 8, 4, 210, 22, 47];

fn into_owned(step: step::Step<'_>) -> step::Step<'static> {
    // Re-decoding a leaked copy keeps the test simple: the strings live for the test's length.
    let s: &'static str = Box::leak(step.encode().into_boxed_str());
    step::decode(s).expect("a re-encoded step decodes")
}

fn errors(step: &step::Step<'_>) -> Vec<(ErrorKind, String)> {
    step.events
        .iter()
        .filter_map(|e| match e {
            Event::Error { kind, message, .. } => Some((*kind, message.to_string())),
            _ => None,
        })
        .collect()
}

fn startup_params(send: &[u8]) -> Vec<(String, String)> {
    // length, protocol version, then name/value C strings, then a final NUL.
    let body = &send[8..send.len() - 2];
    let parts: Vec<String> = body
        .split(|&b| b == 0)
        .map(|p| String::from_utf8(p.to_vec()).unwrap())
        .collect();
    parts
        .chunks(2)
        .map(|c| (c[0].clone(), c[1].clone()))
        .collect()
}

fn backend_key(pid: i32, secret: i32) -> Vec<u8> {
    let mut body = pid.to_be_bytes().to_vec();
    body.extend_from_slice(&secret.to_be_bytes());
    msg(b'K', &body)
}

/// Connects through a password file, the way every host does now.
fn connect_with_passfile(host: &mut Host, passfile: &str) -> step::Step<'static> {
    let step = host.call(Request::Init(vec![
        (b("default_passfile"), b("/home/u/.pgpass")),
        (b("param.statement_timeout"), b("5000")),
    ]));
    assert_eq!(step.action, Action::Done(TxStatus::Idle));
    let step = host.call(Request::Connect {
        defaults: vec![(b("PGUSER"), b("alice"))],
        conninfo: b("host=db.example port=5433 dbname=app connect_timeout=1 keepalives_idle=30"),
    });
    assert_eq!(
        step.action,
        Action::Open {
            target: Target::Tcp {
                host: b("db.example"),
                port: 5433
            },
            // libpq: connect_timeout is never less than 2 seconds.
            timeout_ms: Some(2000),
            addr: None,
            // libpq turns keepalives on; the idle time is the conninfo's, the rest the system's.
            keepalive: Some(wasmpg_wire::Keepalive {
                enabled: true,
                idle_secs: Some(30),
                interval_secs: None,
                count: None,
            }),
        }
    );
    let step = host.opened(Request::Opened(Some(b("10.1.2.3:5433"))));
    assert_eq!(step.action, Action::Read);
    let params = startup_params(&step.send);
    assert!(params.contains(&("user".into(), "alice".into())));
    assert!(params.contains(&("statement_timeout".into(), "5000".into())));
    let step = host.data(&auth(3, &[])); // cleartext password
    assert_eq!(
        step.action,
        Action::NeedFile {
            purpose: b("passfile"),
            path: b("/home/u/.pgpass")
        }
    );
    host.call(Request::File {
        status: FileStatus::Ok,
        contents: b(passfile),
    })
}

#[test]
fn connect_query_and_cancel_through_packed_calls() {
    let mut host = Host::new();
    let step = connect_with_passfile(&mut host, "# mine\ndb.example:5433:app:alice:s3cret\n");
    assert_eq!(step.action, Action::Read);
    assert_eq!(step.send, msg(b'p', &cstr("s3cret")));

    let mut reply = auth(0, &[]);
    reply.extend(parameter_status("TimeZone", "UTC"));
    reply.extend(backend_key(77, 88));
    reply.extend(ready(b'I'));
    let step = host.data(&reply);
    assert_eq!(step.action, Action::Done(TxStatus::Idle));
    assert!(step.events.contains(&Event::Backend { process_id: 77 }));
    assert!(step.events.contains(&Event::Parameter {
        name: b("TimeZone"),
        value: b("UTC")
    }));

    // A query: one round trip, ReadyForQuery folded into `done`.
    let step = host.call(Request::Query {
        param_types: vec![23],
        params: b("41\u{1f}\u{1e}"),
        sql: b("select $1::int + 1 as n"),
    });
    assert_eq!(step.action, Action::Read);
    let mut reply = msg(b'1', &[]);
    reply.extend(msg(b't', &[0, 1, 0, 0, 0, 23]));
    reply.extend(row_description(&[("n", 23)]));
    reply.extend(msg(b'2', &[]));
    reply.extend(data_row(&[Some(b"42")]));
    reply.extend(command_complete("SELECT 1"));
    reply.extend(ready(b'T'));
    let step = host.data(&reply);
    assert_eq!(step.action, Action::Done(TxStatus::InTransaction));
    assert!(step
        .events
        .iter()
        .all(|e| !matches!(e, Event::Error { .. })));
    assert!(step.events.contains(&Event::Rows {
        count: 1,
        escaped: false,
        data: b("42\u{1f}\u{1e}")
    }));
    assert!(step.events.contains(&Event::Complete {
        tag: b("SELECT 1"),
        rows: Some(1)
    }));

    // The cancel token, delivered from a fresh instance to the address the session reached.
    let step = host.call(Request::CancelToken);
    assert_eq!(step.action, Action::Done(TxStatus::InTransaction));
    let [Event::CancelToken(token)] = &step.events[..] else {
        panic!("expected the token: {step:?}");
    };
    let mut canceller = Host::new();
    let step = canceller.call(Request::Cancel(token.clone()));
    assert_eq!(
        step.action,
        Action::Open {
            target: Target::Tcp {
                host: b("db.example"),
                port: 5433
            },
            timeout_ms: None,
            addr: Some(b("10.1.2.3:5433")),
            keepalive: None,
        }
    );
    let step = canceller.call(Request::Opened(None));
    assert_eq!(
        step.send.as_ref(),
        &[0, 0, 0, 16, 0x04, 0xd2, 0x16, 0x2e, 0, 0, 0, 77, 0, 0, 0, 88]
    );
    assert_eq!(step.action, Action::Read);
    let step = canceller.call(Request::Eof);
    assert_eq!(step.action, Action::Close);
    assert!(step.events.is_empty(), "{step:?}");
    // A cancelling instance takes nothing else.
    let step = canceller.call(Request::SimpleQuery(b("select 1")));
    assert_eq!(errors(&step)[0].0, ErrorKind::Usage);
}

#[test]
fn a_password_file_outside_the_policy_ends_the_session() {
    let mut host = Host::new();
    host.call(Request::Init(vec![(
        b("default_passfile"),
        b("/home/u/.pgpass"),
    )]));
    host.call(Request::Connect {
        defaults: vec![],
        conninfo: b("host=h user=u dbname=d passfile=/etc/shadow"),
    });
    host.opened(Request::Opened(None));
    let step = host.data(&auth(3, &[]));
    assert_eq!(
        step.action,
        Action::NeedFile {
            purpose: b("passfile"),
            path: b("/etc/shadow")
        }
    );
    let step = host.call(Request::File {
        status: FileStatus::Denied,
        contents: b("not on the allow-list"),
    });
    assert_eq!(step.action, Action::Close);
    let errors = errors(&step);
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].0, ErrorKind::PolicyDenied);
    assert!(errors[0].1.contains("/etc/shadow"), "{}", errors[0].1);
}

#[test]
fn a_readable_by_others_password_file_warns_and_asks_the_host() {
    let mut host = Host::new();
    host.call(Request::Init(vec![(
        b("default_passfile"),
        b("/home/u/.pgpass"),
    )]));
    host.call(Request::Connect {
        defaults: vec![],
        conninfo: b("host=h user=u dbname=d"),
    });
    host.opened(Request::Opened(None));
    host.data(&auth(3, &[]));
    let step = host.call(Request::File {
        status: FileStatus::TooOpen,
        contents: b(""),
    });
    assert!(matches!(&step.action, Action::NeedPassword { user, .. } if user == "u"));
    let warning = step
        .events
        .iter()
        .find_map(|e| match e {
            Event::Notice(fields) => fields
                .iter()
                .find(|(c, _)| *c == 'M')
                .map(|(_, m)| m.to_string()),
            _ => None,
        })
        .expect("a warning notice");
    assert!(warning.contains("group or world access"), "{warning}");
    // No password from the host: an authentication error.
    let step = host.call(Request::Password(None));
    assert_eq!(errors(&step)[0].0, ErrorKind::Authentication);
}

#[test]
fn no_matching_line_falls_back_to_the_host() {
    let mut host = Host::new();
    let step = connect_with_passfile(&mut host, "other:5433:app:alice:x\n");
    assert!(
        matches!(step.action, Action::NeedPassword { .. }),
        "{step:?}"
    );
    let step = host.call(Request::Password(Some(b("given"))));
    assert_eq!(step.send, msg(b'p', &cstr("given")));
}

#[test]
fn parse_conninfo_and_refusals() {
    let mut host = Host::new();
    let step = host.call(Request::ParseConninfo {
        defaults: vec![(b("PGUSER"), b("bob"))],
        conninfo: b("postgresql://a:1,b:2/db?connect_timeout=0"),
    });
    let [Event::Conninfo(info)] = &step.events[..] else {
        panic!("{step:?}");
    };
    assert_eq!(info.user, "bob");
    assert_eq!(info.dbname, "db");
    assert_eq!(info.connect_timeout_ms, None);
    assert_eq!(info.targets.len(), 2);

    // One error channel: a bad conninfo is an `E` event like any other error.
    let step = host.call(Request::ParseConninfo {
        defaults: vec![],
        conninfo: b("host='unterminated"),
    });
    assert_eq!(errors(&step)[0].0, ErrorKind::Config);

    // Malformed requests and unknown options are usage errors; the state is unchanged.
    let a = host.text.call_str("");
    let a = step::decode(&a).unwrap();
    assert_eq!(errors(&a)[0].0, ErrorKind::Usage);
    assert_eq!(a.action, Action::Done(TxStatus::Idle));
    let step = host.call(Request::Init(vec![(b("nope"), b("1"))]));
    assert_eq!(errors(&step)[0].0, ErrorKind::Usage);
    let step = host.call(Request::Init(vec![(b("param.user"), b("mallory"))]));
    assert!(errors(&step).is_empty());
    let step = host.call(Request::Connect {
        defaults: vec![],
        conninfo: b("host=h user=u dbname=d"),
    });
    assert!(matches!(step.action, Action::Open { .. }));
    // A driver-set startup parameter cannot be overridden.
    let step = host.opened(Request::Opened(None));
    assert_eq!(errors(&step)[0].0, ErrorKind::Config);
    assert_eq!(step.action, Action::Close);

    // A query before connecting is refused.
    let mut fresh = Host::new();
    let step = fresh.call(Request::SimpleQuery(b("select 1")));
    assert!(!errors(&step).is_empty());
    // No cancel token without a connection.
    let step = fresh.call(Request::CancelToken);
    assert_eq!(errors(&step)[0].0, ErrorKind::Usage);
}

#[test]
fn a_pipeline_through_packed_calls() {
    let mut host = Host::new();
    connect_with_passfile(&mut host, "*:*:*:*:pw\n");
    let mut reply = auth(0, &[]);
    reply.extend(ready(b'I'));
    assert_eq!(host.data(&reply).action, Action::Done(TxStatus::Idle));
    // An empty pipeline is refused.
    let step = host.call(Request::Pipeline(vec![]));
    assert!(step.send.is_empty());
    assert_eq!(errors(&step)[0].0, ErrorKind::Usage);
    let step = host.call(Request::Pipeline(vec![
        PipelineItem::Query {
            param_types: vec![23],
            params: b("1\u{1f}\u{1e}"),
            sql: b("select $1 -- \u{1d}"),
        },
        PipelineItem::Query {
            param_types: vec![],
            params: b(""),
            sql: b("select 1/0"),
        },
        PipelineItem::Execute {
            params: b(""),
            name: b("s"),
        },
        PipelineItem::Sync,
        PipelineItem::Query {
            param_types: vec![],
            params: b(""),
            sql: b("begin"),
        },
    ]));
    assert_eq!(step.action, Action::Read);
    // The SQL goes out unescaped.
    let sent = String::from_utf8_lossy(&step.send).into_owned();
    assert!(sent.contains("select $1 -- \u{1d}\0"), "{sent:?}");
    let mut reply = msg(b'1', &[]);
    reply.extend(msg(b't', &[0, 1, 0, 0, 0, 23]));
    reply.extend(row_description(&[("n", 23)]));
    reply.extend(msg(b'2', &[]));
    reply.extend(data_row(&[Some(b"1")]));
    reply.extend(command_complete("SELECT 1"));
    reply.extend(error_response(&[
        (b'S', "ERROR"),
        (b'C', "22012"),
        (b'M', "division by zero"),
    ]));
    reply.extend(ready(b'I'));
    reply.extend(msg(b'1', &[]));
    reply.extend(msg(b't', &[0, 0]));
    reply.extend(msg(b'n', &[]));
    reply.extend(msg(b'2', &[]));
    reply.extend(command_complete("BEGIN"));
    let step = host.data(&reply);
    assert_eq!(step.action, Action::Read);
    let kinds: Vec<char> = step
        .events
        .iter()
        .map(|e| match e {
            Event::Columns(_) => 'C',
            Event::Rows { .. } => 'R',
            Event::Complete { .. } => 'K',
            Event::Error { .. } => 'E',
            Event::Aborted => 'X',
            Event::Synced(TxStatus::Idle) => 'Z',
            other => panic!("unexpected event {other:?}"),
        })
        .collect();
    assert_eq!(kinds, ['C', 'R', 'K', 'E', 'X', 'Z', 'K']);
    // The final ReadyForQuery is the `done` action, not an event.
    let step = host.data(&ready(b'T'));
    assert_eq!(step.action, Action::Done(TxStatus::InTransaction));
    assert!(step.events.is_empty(), "{step:?}");
}

#[test]
fn garbage_requests_never_panic() {
    const ALPHABET: &[u8] = b"ncioxwydestqPXLKkpS\x1d\x1e\x1f\x00\x1b:=a1";
    let mut d = Dispatcher::new();
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    for _ in 0..5_000 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let len = (seed % 24) as usize;
        let bytes: Vec<u8> = (0..len)
            .map(|i| ALPHABET[((seed >> (i % 8 * 8)) as usize) % ALPHABET.len()])
            .collect();
        let out = d.call_bytes(&bytes);
        step::decode(&out).expect("every answer is a valid step");
        if let Ok(text) = std::str::from_utf8(&bytes) {
            step::decode(&d.call_str(text)).expect("every answer is a valid step");
        }
    }
}
