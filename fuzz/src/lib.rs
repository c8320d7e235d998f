//! Shared by the fuzz targets: the record formats of the `session` and `dispatch` targets and the
//! type OIDs the codec targets choose from.
//!
//! ## `session`
//!
//! A `session` input is a sequence of records, `tag: u8, len: u16 (big-endian), payload`, replayed
//! against one [`Session`]; a record whose length runs past the input takes the rest. The first
//! byte of the input (before any record) selects the conninfo: bit 0 set = with a password, clear
//! = without (so `NeedPassword` is reachable); bit 1 set = the session has a default password
//! file (so `NeedFile` is reachable and `Y` records answer it). Tags:
//!
//! | tag | call |
//! | --- | --- |
//! | `F` | `feed(payload)`: bytes from the server |
//! | `E` | `eof()` |
//! | `Q` | `simple_query(payload)` |
//! | `X` | `query(sql, types, params)`: payload = `n: u8`, `n` type OIDs (u32 BE), `plen: u16 BE`, params (a row batch), sql |
//! | `P` | `prepare(name, sql, [])`: payload = `name NUL sql` |
//! | `x` | `execute(name, params)`: payload = `name NUL params` |
//! | `C` | `close_statement(payload)` |
//! | `W` | `password(payload)`, empty = `None` |
//! | `Y` | `file(answer)`: payload = status byte (`o` text, `m` missing, `d` denied, `t` too open, else unreadable), then the text or reason |
//! | `T` | `terminate()` |
//! | `p` | `pipeline(items)`: payload = items separated by NUL; an item `S` is a Sync, `x` + name an execute, `q` + sql (or any other text) a query, each without parameters |
//!
//! Anything else is skipped. Text payloads are decoded lossily. The recorder
//! (`tests/tests/fuzz_seeds.rs`) writes real sessions in this format.
//!
//! ## `dispatch`
//!
//! A `dispatch` input is a sequence of records in the same framing (`tag: u8, len: u16 BE,
//! payload`, see [`record`]), each one packed request (docs/abi.md) sent to one
//! [`Dispatcher`]: tag `s` = the string form (`call`; the payload is read as UTF-8, lossily),
//! any other tag = the byte form (`call-bytes`; the payload as is). A request longer than
//! 65,535 bytes is cut at that length. `guest/tests/fuzz_seeds.rs` writes the seeds.

use wasmpg_guest::conninfo::Target;
use wasmpg_guest::dispatch::Dispatcher;
use wasmpg_guest::session::{Action, FileAnswer, Options, PipelineItem, Session, Step};

pub const CONNINFO_WITH_PASSWORD: &str = "host=h port=5432 user=u dbname=d password=p";
pub const CONNINFO_WITHOUT_PASSWORD: &str = "host=h port=5432 user=u dbname=d";
/// The default password file of a session whose mode byte has bit 1 set.
pub const DEFAULT_PASSFILE: &str = "/home/u/.pgpass";

/// One record of a `session` input.
pub enum Record<'a> {
    Feed(&'a [u8]),
    Eof,
    SimpleQuery(String),
    Query {
        sql: String,
        types: Vec<u32>,
        params: String,
    },
    Prepare {
        name: String,
        sql: String,
    },
    Execute {
        name: String,
        params: String,
    },
    Close(String),
    Password(Option<String>),
    /// The answer to `NeedFile`: the status byte, then the text or reason.
    File(u8, String),
    Terminate,
    Pipeline(Vec<Item>),
    Unknown,
}

/// One item of a `p` record.
pub enum Item {
    Query(String),
    Execute(String),
    Sync,
}

impl Item {
    fn borrow(&self) -> PipelineItem<'_> {
        match self {
            Item::Query(sql) => PipelineItem::Query {
                param_types: Vec::new(),
                params: "".into(),
                sql: sql.as_str().into(),
            },
            Item::Execute(name) => PipelineItem::Execute {
                params: "".into(),
                name: name.as_str().into(),
            },
            Item::Sync => PipelineItem::Sync,
        }
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn split_nul(bytes: &[u8]) -> (String, String) {
    match bytes.iter().position(|&b| b == 0) {
        Some(i) => (text(&bytes[..i]), text(&bytes[i + 1..])),
        None => (text(bytes), String::new()),
    }
}

/// Splits a `session` input (after its first byte) into records.
pub fn records(data: &[u8]) -> Vec<Record<'_>> {
    let mut out = Vec::new();
    for (tag, payload) in framed(data) {
        out.push(match tag {
            b'F' => Record::Feed(payload),
            b'E' => Record::Eof,
            b'Q' => Record::SimpleQuery(text(payload)),
            b'X' => {
                let n = payload.first().copied().unwrap_or(0) as usize;
                let mut rest = payload.get(1..).unwrap_or_default();
                let mut types = Vec::new();
                for _ in 0..n {
                    let Some((oid, tail)) = rest.split_first_chunk::<4>() else {
                        break;
                    };
                    types.push(u32::from_be_bytes(*oid));
                    rest = tail;
                }
                let (plen, tail) = match rest.split_first_chunk::<2>() {
                    Some((plen, tail)) => (u16::from_be_bytes(*plen) as usize, tail),
                    None => (0, rest),
                };
                let plen = plen.min(tail.len());
                Record::Query {
                    params: text(&tail[..plen]),
                    sql: text(&tail[plen..]),
                    types,
                }
            }
            b'P' => {
                let (name, sql) = split_nul(payload);
                Record::Prepare { name, sql }
            }
            b'x' => {
                let (name, params) = split_nul(payload);
                Record::Execute { name, params }
            }
            b'C' => Record::Close(text(payload)),
            b'W' => Record::Password((!payload.is_empty()).then(|| text(payload))),
            b'Y' => match payload.split_first() {
                Some((&status, rest)) => Record::File(status, text(rest)),
                None => Record::File(b'm', String::new()),
            },
            b'T' => Record::Terminate,
            b'p' => Record::Pipeline(
                payload
                    .split(|&b| b == 0)
                    .map(|item| match item.split_first() {
                        Some((b'S', [])) => Item::Sync,
                        Some((b'x', name)) => Item::Execute(text(name)),
                        Some((b'q', sql)) => Item::Query(text(sql)),
                        _ => Item::Query(text(item)),
                    })
                    .collect(),
            ),
            _ => Record::Unknown,
        });
    }
    out
}

/// Encodes one record (for the recorder and for hand-made seeds).
pub fn record(tag: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for chunk in payload.chunks(u16::MAX as usize) {
        out.push(tag);
        out.extend_from_slice(&(chunk.len() as u16).to_be_bytes());
        out.extend_from_slice(chunk);
    }
    if payload.is_empty() {
        out.extend_from_slice(&[tag, 0, 0]);
    }
    out
}

/// Checks what every step must satisfy whatever the input.
fn check(step: &Step) {
    if let Action::Open(target) = &step.action {
        // Nothing is sent together with a request for the host to open a target.
        assert!(step.send.is_empty(), "bytes to send with an Open action");
        // The server cannot redirect the client: the only target ever opened is the
        // conninfo's.
        assert_eq!(
            target,
            &Target::Tcp {
                host: "h".to_owned(),
                port: 5432
            },
            "the session asked to open a target its conninfo does not name"
        );
    }
    if let Action::NeedFile { path, .. } = &step.action {
        // The only file a session reads is the password file the host configured.
        assert_eq!(path, DEFAULT_PASSFILE, "the session asked for another file");
    }
}

/// Replays a `session` input. Never panics unless the session does (or breaks an invariant).
pub fn run_session(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let conninfo = if mode & 1 == 1 {
        CONNINFO_WITH_PASSWORD
    } else {
        CONNINFO_WITHOUT_PASSWORD
    };
    let mut session = Session::new(Options {
        // Small, so that the size check is reachable with small inputs.
        max_message_size: 1 << 16,
        batch_bytes: 1 << 10,
        statement_cache: 4,
        default_passfile: (mode & 2 == 2).then(|| DEFAULT_PASSFILE.to_owned()),
        ..Options::default()
    });
    let step = session
        .connect(conninfo, &[])
        .expect("a fixed, valid conninfo");
    assert!(matches!(step.action, Action::Open(_)));
    check(&step);
    // No time: sslmode=prefer stays in clear, as the seeds expect.
    let step = session.opened(None, None);
    check(&step);
    assert!(!step.send.is_empty(), "no startup message");
    for record in records(rest) {
        let step = match record {
            Record::Feed(bytes) => session.feed(bytes),
            Record::Eof => session.eof(),
            Record::SimpleQuery(sql) => session.simple_query(&sql),
            Record::Query { sql, types, params } => session.query(&sql, &types, &params),
            Record::Prepare { name, sql } => session.prepare(&name, &sql, &[]),
            Record::Execute { name, params } => session.execute(&name, &params),
            Record::Close(name) => session.close_statement(&name),
            Record::Password(password) => session.password(password),
            Record::File(status, text) => session.file(match status {
                b'o' => FileAnswer::Text(&text),
                b'b' => FileAnswer::Bytes(text.as_bytes()),
                b'm' => FileAnswer::Missing,
                b'd' => FileAnswer::Denied(&text),
                b't' => FileAnswer::TooOpen,
                _ => FileAnswer::Unreadable(&text),
            }),
            Record::Terminate => session.terminate(),
            Record::Pipeline(items) => {
                let items: Vec<PipelineItem<'_>> = items.iter().map(Item::borrow).collect();
                session.pipeline(&items)
            }
            Record::Unknown => continue,
        };
        check(&step);
    }
}

/// Splits a `session` (after its first byte) or `dispatch` input into `(tag, payload)` records.
pub fn framed(mut data: &[u8]) -> Vec<(u8, &[u8])> {
    let mut out = Vec::new();
    while data.len() >= 3 {
        let tag = data[0];
        let len = u16::from_be_bytes([data[1], data[2]]) as usize;
        let end = (3 + len).min(data.len());
        out.push((tag, &data[3..end]));
        data = &data[end..];
    }
    out
}

/// Replays a `dispatch` input: every answer must be a step the reference decoder reads, and
/// re-encoding it must give the same string (the guest writes only canonical steps).
pub fn run_dispatch(data: &[u8]) {
    let mut dispatcher = Dispatcher::new();
    for (tag, payload) in framed(data) {
        let answer = if tag == b's' {
            dispatcher.call_str(&String::from_utf8_lossy(payload))
        } else {
            dispatcher.call_bytes(payload)
        };
        match wasmpg_wire::step::decode(&answer) {
            Ok(step) => assert_eq!(step.encode(), answer, "a step that is not canonical"),
            Err(e) => panic!("the guest answered an undecodable step ({e}): {answer:?}"),
        }
    }
}

/// Type OIDs the codec targets pick from (every OID the codec knows, plus unknown ones).
pub const OIDS: &[u32] = &[
    0, 16, 17, 18, 19, 20, 21, 23, 25, 26, 114, 700, 701, 705, 1042, 1043, 1082, 1083, 1114, 1184,
    1186, 1266, 1700, 2950, 3802, 199, 1000, 1001, 1002, 1003, 1005, 1007, 1009, 1014, 1015, 1016,
    1021, 1022, 1028, 1115, 1182, 1183, 1185, 1187, 1231, 1270, 2951, 3807, 4242,
];

/// The OID an input's first byte selects, and the rest of the input: 0xFF takes the OID from
/// the next four bytes (big-endian; the recorder writes seeds so), any other byte indexes
/// [`OIDS`] (modulo its length).
pub fn pick_oid(data: &[u8]) -> Option<(u32, &[u8])> {
    let (&selector, rest) = data.split_first()?;
    if selector == 0xff {
        let (oid, rest) = rest.split_first_chunk::<4>()?;
        return Some((u32::from_be_bytes(*oid), rest));
    }
    Some((OIDS[selector as usize % OIDS.len()], rest))
}
