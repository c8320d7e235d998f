//! The packed request: what a host passes to each call, as one string (`call`) or one byte list
//! (`call-bytes`).
//!
//! ```text
//! request = tag *(GS part)        data request = "d" bytes
//! ```
//!
//! Every part but the last contains no U+001D (it is a number, a list of numbers, or escaped
//! text); the last part is taken verbatim, so SQL, a conninfo or a file need no escaping. Lists of
//! name/value pairs use the row-batch layout (one row per pair). In the string form each data
//! byte is the character of the same code point (latin-1); in the byte form the data is raw and
//! every other request is UTF-8.
//!
//! | tag | request | parts |
//! |---|---|---|
//! | `n` | start the session | options (pairs) |
//! | `c` | connect | defaults (pairs: PG* variables), conninfo |
//! | `i` | parse a conninfo only | defaults (pairs), conninfo |
//! | `o` | the `open` succeeded | the peer address, optionally |
//! | `x` | the `open` failed | error kind, reason |
//! | `w` | the answer to `need-password` | password, or no part for none |
//! | `y` | the answer to `need-file` | status (`ok`, `missing`, `denied`, `too-open`, `unreadable`), contents or reason |
//! | `Y` | the answer to `need-file`, byte-exact (status `ok`) | the file's bytes, directly after the tag |
//! | `d` | bytes from the server | the bytes, directly after the tag |
//! | `e` | the server closed the connection | |
//! | `s` | simple query | sql |
//! | `q` | extended query | parameter type OIDs (comma-separated), parameter rows (row batch), sql |
//! | `P` | prepare | parameter type OIDs, name, sql |
//! | `X` | execute a prepared statement | parameter rows, name |
//! | `L` | close a prepared statement | name |
//! | `t` | terminate | |
//! | `K` | ask for the cancel token | |
//! | `k` | run a cancel request (on a fresh instance) | token |
//! | `D` | COPY FROM STDIN data (while the action is `i`) | the bytes, directly after the tag |
//! | `F` | end COPY FROM STDIN (CopyDone) | |
//! | `f` | abort COPY FROM STDIN (CopyFail) | the reason |
//! | `p` | a pipeline: every item's messages at once, a Sync after the last item unless it is one | per item, its parts: `q` GS types GS params GS sql (escaped); `X` GS params GS name (escaped); `S` |
//!
//! `p` is the one request without a verbatim last part: its SQL and names are escaped text, so
//! any number of them can follow one another. Its params are one parameter row (or none),
//! exactly as `q`'s.

use std::borrow::Cow;

use crate::escape::{self, GS, RS, US};
use crate::{ErrorKind, WireError};

/// Name/value pairs (options, PG* defaults).
pub type Pairs<'a> = Vec<(Cow<'a, str>, Cow<'a, str>)>;

/// How a host answers `need-file`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileStatus {
    /// The contents follow.
    Ok,
    /// The file does not exist.
    Missing,
    /// The host's policy does not let the session read it.
    Denied,
    /// Group or others may read it (libpq ignores such a password file).
    TooOpen,
    /// It exists but could not be read (the reason follows).
    Unreadable,
}

impl FileStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            FileStatus::Ok => "ok",
            FileStatus::Missing => "missing",
            FileStatus::Denied => "denied",
            FileStatus::TooOpen => "too-open",
            FileStatus::Unreadable => "unreadable",
        }
    }

    pub fn parse(s: &str) -> Option<FileStatus> {
        Some(match s {
            "ok" => FileStatus::Ok,
            "missing" => FileStatus::Missing,
            "denied" => FileStatus::Denied,
            "too-open" => FileStatus::TooOpen,
            "unreadable" => FileStatus::Unreadable,
            _ => return None,
        })
    }
}

/// One item of a [`Request::Pipeline`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PipelineItem<'a> {
    /// Extended query with the automatic statement cache, exactly ONE parameter row (`params`
    /// is a row batch of one row, or empty for none), as [`Request::Query`].
    Query {
        param_types: Vec<u32>,
        params: Cow<'a, str>,
        sql: Cow<'a, str>,
    },
    /// A named prepared statement (as [`Request::Execute`]), one parameter row.
    Execute {
        params: Cow<'a, str>,
        name: Cow<'a, str>,
    },
    /// A synchronization point (Sync).
    Sync,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request<'a> {
    Init(Pairs<'a>),
    Connect {
        defaults: Pairs<'a>,
        conninfo: Cow<'a, str>,
    },
    ParseConninfo {
        defaults: Pairs<'a>,
        conninfo: Cow<'a, str>,
    },
    /// The connection is open; optionally the peer address it reached.
    Opened(Option<Cow<'a, str>>),
    /// The connection is open, with the host's clock (Unix seconds) for TLS certificate
    /// validation: `o` GS address-or-empty GS seconds.
    OpenedAt {
        addr: Option<Cow<'a, str>>,
        now: u64,
    },
    OpenFailed {
        kind: ErrorKind,
        reason: Cow<'a, str>,
    },
    Password(Option<Cow<'a, str>>),
    File {
        status: FileStatus,
        contents: Cow<'a, str>,
    },
    /// The file's contents byte for byte (status `ok`): keys and certificates may be DER.
    FileBytes(Cow<'a, [u8]>),
    Data(Cow<'a, [u8]>),
    Eof,
    SimpleQuery(Cow<'a, str>),
    Query {
        param_types: Vec<u32>,
        params: Cow<'a, str>,
        sql: Cow<'a, str>,
    },
    Prepare {
        param_types: Vec<u32>,
        name: Cow<'a, str>,
        sql: Cow<'a, str>,
    },
    Execute {
        params: Cow<'a, str>,
        name: Cow<'a, str>,
    },
    CloseStatement(Cow<'a, str>),
    Terminate,
    CancelToken,
    Cancel(Cow<'a, str>),
    /// Data for COPY FROM STDIN, any split: the guest frames it as CopyData.
    CopyData(Cow<'a, [u8]>),
    /// The end of COPY FROM STDIN's data (CopyDone).
    CopyDone,
    /// Abort COPY FROM STDIN with a reason (CopyFail): the server fails the COPY with it.
    CopyFail(Cow<'a, str>),
    /// A pipeline (libpq's pipeline mode): every item is sent at once, with a Sync after the
    /// last item unless it is one; the step's events report each item in order.
    Pipeline(Vec<PipelineItem<'a>>),
}

fn push_pairs(out: &mut String, pairs: &Pairs<'_>) {
    for (name, value) in pairs {
        escape::escape_into(out, name);
        out.push(US);
        escape::escape_into(out, value);
        out.push(US);
        out.push(RS);
    }
}

fn read_pairs(part: &str) -> Result<Pairs<'_>, WireError> {
    let mut pairs = Vec::new();
    let mut rows = part.split(RS);
    // Every row ends with RS, so the last piece is empty.
    let last = rows.next_back();
    if last != Some("") {
        return Err(WireError::new(
            "a pair list that does not end with a row end",
        ));
    }
    for row in rows {
        let mut fields = row.split(US);
        let (Some(name), Some(value), Some(""), None) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            return Err(WireError::new(
                "a pair list row that is not one name and one value",
            ));
        };
        pairs.push((escape::unescape(name)?, escape::unescape(value)?));
    }
    Ok(pairs)
}

fn push_types(out: &mut String, types: &[u32]) {
    for (i, oid) in types.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&oid.to_string());
    }
}

fn read_types(part: &str) -> Result<Vec<u32>, WireError> {
    if part.is_empty() {
        return Ok(Vec::new());
    }
    part.split(',')
        .map(|t| {
            crate::fields::parse_number(t).ok_or_else(|| {
                WireError::new(format!("a parameter type OID is not a number: {t:?}"))
            })
        })
        .collect()
}

impl Request<'_> {
    /// The string form (for `call`): data bytes as latin-1 characters.
    pub fn encode_str(&self) -> String {
        let mut out = String::new();
        self.encode_text(&mut out);
        out
    }

    /// The byte form (for `call-bytes`): data bytes raw, every other request UTF-8.
    pub fn encode_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_bytes_into(&mut out);
        out
    }

    /// [`Request::encode_bytes`] into `out`, which is cleared first: a host that calls the
    /// guest many times encodes every request into one buffer instead of a new one each time.
    pub fn encode_bytes_into(&self, out: &mut Vec<u8>) {
        out.clear();
        if let Request::Data(bytes) | Request::FileBytes(bytes) | Request::CopyData(bytes) = self {
            out.reserve(bytes.len() + 1);
            out.push(match self {
                Request::Data(_) => b'd',
                Request::FileBytes(_) => b'Y',
                _ => b'D',
            });
            out.extend_from_slice(bytes);
            return;
        }
        // An empty buffer is text; the string form is written into it and handed back.
        let mut text = String::from_utf8(std::mem::take(out)).unwrap_or_default();
        self.encode_text(&mut text);
        *out = text.into_bytes();
    }

    /// The string form; `encode_bytes` writes data raw instead.
    fn encode_text(&self, out: &mut String) {
        let part = |out: &mut String, text: &str| {
            out.push(GS);
            out.push_str(text);
        };
        match self {
            Request::Init(options) => {
                out.push('n');
                out.push(GS);
                push_pairs(out, options);
            }
            Request::Connect { defaults, conninfo }
            | Request::ParseConninfo { defaults, conninfo } => {
                out.push(if matches!(self, Request::Connect { .. }) {
                    'c'
                } else {
                    'i'
                });
                out.push(GS);
                push_pairs(out, defaults);
                part(out, conninfo);
            }
            Request::Opened(addr) => {
                out.push('o');
                if let Some(a) = addr {
                    part(out, a);
                }
            }
            Request::OpenedAt { addr, now } => {
                out.push('o');
                part(out, addr.as_deref().unwrap_or(""));
                part(out, &now.to_string());
            }
            Request::OpenFailed { kind, reason } => {
                out.push('x');
                part(out, kind.as_str());
                part(out, reason);
            }
            Request::Password(password) => {
                out.push('w');
                if let Some(p) = password {
                    part(out, p);
                }
            }
            Request::File { status, contents } => {
                out.push('y');
                part(out, status.as_str());
                part(out, contents);
            }
            Request::Data(bytes) | Request::FileBytes(bytes) | Request::CopyData(bytes) => {
                out.reserve(bytes.len() + 1);
                out.push(match self {
                    Request::Data(_) => 'd',
                    Request::FileBytes(_) => 'Y',
                    _ => 'D',
                });
                out.extend(bytes.iter().map(|&b| char::from(b)));
            }
            Request::Eof => out.push('e'),
            Request::SimpleQuery(sql) => {
                out.push('s');
                part(out, sql);
            }
            Request::Query {
                param_types,
                params,
                sql,
            } => {
                out.push('q');
                out.push(GS);
                push_types(out, param_types);
                part(out, params);
                part(out, sql);
            }
            Request::Prepare {
                param_types,
                name,
                sql,
            } => {
                out.push('P');
                out.push(GS);
                push_types(out, param_types);
                part(out, name);
                part(out, sql);
            }
            Request::Execute { params, name } => {
                out.push('X');
                part(out, params);
                part(out, name);
            }
            Request::CloseStatement(name) => {
                out.push('L');
                part(out, name);
            }
            Request::Terminate => out.push('t'),
            Request::CancelToken => out.push('K'),
            Request::Cancel(token) => {
                out.push('k');
                part(out, token);
            }
            Request::CopyDone => out.push('F'),
            Request::CopyFail(reason) => {
                out.push('f');
                part(out, reason);
            }
            Request::Pipeline(items) => {
                out.push('p');
                for item in items {
                    out.push(GS);
                    match item {
                        PipelineItem::Query {
                            param_types,
                            params,
                            sql,
                        } => {
                            out.push('q');
                            out.push(GS);
                            push_types(out, param_types);
                            part(out, params);
                            out.push(GS);
                            escape::escape_into(out, sql);
                        }
                        PipelineItem::Execute { params, name } => {
                            out.push('X');
                            part(out, params);
                            out.push(GS);
                            escape::escape_into(out, name);
                        }
                        PipelineItem::Sync => out.push('S'),
                    }
                }
            }
        }
    }
}

/// The items of a `p` request: `body` is everything after the tag.
fn read_pipeline(body: &str) -> Result<Vec<PipelineItem<'_>>, WireError> {
    let mut items = Vec::new();
    if body.is_empty() {
        return Ok(items);
    }
    let rest = body
        .strip_prefix(GS)
        .ok_or_else(|| WireError::new("request 'p': its items must follow U+001D"))?;
    let mut parts = rest.split(GS);
    let missing = |what: &str| WireError::new(format!("request 'p': an item without its {what}"));
    while let Some(tag) = parts.next() {
        items.push(match tag {
            "q" => {
                let types = parts.next().ok_or_else(|| missing("types"))?;
                let params = parts.next().ok_or_else(|| missing("parameters"))?;
                let sql = parts.next().ok_or_else(|| missing("sql"))?;
                PipelineItem::Query {
                    param_types: read_types(types)?,
                    params: Cow::Borrowed(params),
                    sql: escape::unescape(sql)?,
                }
            }
            "X" => {
                let params = parts.next().ok_or_else(|| missing("parameters"))?;
                let name = parts.next().ok_or_else(|| missing("name"))?;
                PipelineItem::Execute {
                    params: Cow::Borrowed(params),
                    name: escape::unescape(name)?,
                }
            }
            "S" => PipelineItem::Sync,
            other => {
                return Err(WireError::new(format!(
                    "request 'p': unknown item {other:?}"
                )))
            }
        });
    }
    Ok(items)
}

/// Decodes the byte form. Never panics, whatever the input.
pub fn decode_bytes(request: &[u8]) -> Result<Request<'_>, WireError> {
    match request.split_first() {
        None => Err(WireError::new("an empty request")),
        Some((b'd', data)) => Ok(Request::Data(Cow::Borrowed(data))),
        Some((b'Y', data)) => Ok(Request::FileBytes(Cow::Borrowed(data))),
        Some((b'D', data)) => Ok(Request::CopyData(Cow::Borrowed(data))),
        Some(_) => {
            let text = std::str::from_utf8(request)
                .map_err(|_| WireError::new("a request that is not UTF-8"))?;
            decode_text(text)
        }
    }
}

/// Decodes the string form. Never panics, whatever the input.
pub fn decode_str(request: &str) -> Result<Request<'_>, WireError> {
    let (tag, data) = match request.chars().next() {
        Some(tag @ ('d' | 'Y' | 'D')) => (tag, &request[1..]),
        _ => return decode_text(request),
    };
    let bytes = crate::escape::latin1_bytes(data).map_err(|c| {
        WireError::new(format!(
            "data character U+{:04X} is not a latin-1 byte",
            u32::from(c)
        ))
    })?;
    Ok(match tag {
        'd' => Request::Data(bytes),
        'Y' => Request::FileBytes(bytes),
        _ => Request::CopyData(bytes),
    })
}

/// A text request's `N` parts after the U+001D that follows its tag, the last one verbatim
/// (it may hold U+001D). U+001D is ASCII, so a 0x1D byte is always that character: the parts
/// are split on bytes, without a character searcher or a list.
fn parts<const N: usize>(tag: char, body: &str) -> Result<[&str; N], WireError> {
    const { assert!(N >= 1) };
    let mut rest = body
        .strip_prefix(GS)
        .ok_or_else(|| WireError::new(format!("request {tag:?}: its parts must follow U+001D")))?;
    let mut out = [""; N];
    for (found, part) in out.iter_mut().enumerate().take(N - 1) {
        let Some(at) = rest.bytes().position(|b| b == GS as u8) else {
            return Err(WireError::new(format!(
                "request {tag:?}: {} parts, {N} expected",
                found + 1
            )));
        };
        *part = &rest[..at];
        rest = &rest[at + 1..];
    }
    out[N - 1] = rest;
    Ok(out)
}

fn decode_text(request: &str) -> Result<Request<'_>, WireError> {
    let mut chars = request.chars();
    let tag = chars
        .next()
        .ok_or_else(|| WireError::new("an empty request"))?;
    let body = chars.as_str();
    let none = || -> Result<(), WireError> {
        if body.is_empty() {
            Ok(())
        } else {
            Err(WireError::new(format!("request {tag:?} takes no parts")))
        }
    };
    Ok(match tag {
        'n' => Request::Init(read_pairs(parts::<1>(tag, body)?[0])?),
        'c' | 'i' => {
            let p = parts::<2>(tag, body)?;
            let defaults = read_pairs(p[0])?;
            let conninfo = Cow::Borrowed(p[1]);
            if tag == 'c' {
                Request::Connect { defaults, conninfo }
            } else {
                Request::ParseConninfo { defaults, conninfo }
            }
        }
        'o' if body.is_empty() => Request::Opened(None),
        'o' => {
            let rest = parts::<1>(tag, body)?[0];
            match rest.split_once(GS) {
                None => Request::Opened(Some(Cow::Borrowed(rest))),
                Some((addr, now)) => Request::OpenedAt {
                    addr: (!addr.is_empty()).then_some(Cow::Borrowed(addr)),
                    now: crate::fields::parse_number::<u64>(now)
                        .ok_or_else(|| WireError::new("request 'o': the time is not a number"))?,
                },
            }
        }
        'x' => {
            let p = parts::<2>(tag, body)?;
            Request::OpenFailed {
                kind: ErrorKind::parse(p[0])
                    .ok_or_else(|| WireError::new(format!("unknown error kind {:?}", p[0])))?,
                reason: Cow::Borrowed(p[1]),
            }
        }
        'w' if body.is_empty() => Request::Password(None),
        'w' => Request::Password(Some(Cow::Borrowed(parts::<1>(tag, body)?[0]))),
        'y' => {
            let p = parts::<2>(tag, body)?;
            Request::File {
                status: FileStatus::parse(p[0])
                    .ok_or_else(|| WireError::new(format!("unknown file status {:?}", p[0])))?,
                contents: Cow::Borrowed(p[1]),
            }
        }
        'e' => {
            none()?;
            Request::Eof
        }
        's' => Request::SimpleQuery(Cow::Borrowed(parts::<1>(tag, body)?[0])),
        'q' => {
            let p = parts::<3>(tag, body)?;
            Request::Query {
                param_types: read_types(p[0])?,
                params: Cow::Borrowed(p[1]),
                sql: Cow::Borrowed(p[2]),
            }
        }
        'P' => {
            let p = parts::<3>(tag, body)?;
            Request::Prepare {
                param_types: read_types(p[0])?,
                name: Cow::Borrowed(p[1]),
                sql: Cow::Borrowed(p[2]),
            }
        }
        'X' => {
            let p = parts::<2>(tag, body)?;
            Request::Execute {
                params: Cow::Borrowed(p[0]),
                name: Cow::Borrowed(p[1]),
            }
        }
        'L' => Request::CloseStatement(Cow::Borrowed(parts::<1>(tag, body)?[0])),
        't' => {
            none()?;
            Request::Terminate
        }
        'K' => {
            none()?;
            Request::CancelToken
        }
        'k' => Request::Cancel(Cow::Borrowed(parts::<1>(tag, body)?[0])),
        'F' => {
            none()?;
            Request::CopyDone
        }
        'f' => Request::CopyFail(Cow::Borrowed(parts::<1>(tag, body)?[0])),
        'p' => Request::Pipeline(read_pipeline(body)?),
        other => return Err(WireError::new(format!("unknown request {other:?}"))),
    })
}
