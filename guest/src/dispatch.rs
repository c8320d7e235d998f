//! The packed ABI over the session: one request in, one step out (docs/abi.md). An instance holds
//! one [`Dispatcher`]: the session it drives, or the cancel request it delivers.
//!
//! Everything here is plain Rust, so the packed entry points are unit-tested natively and
//! fuzzed; `component.rs` only forwards the three exports to it.

use std::borrow::Cow;

use wasmpg_wire::request::{self, Pairs, Request};
use wasmpg_wire::step::{self as wire, Conninfo, DbFields, TxStatus as WireTx};
use wasmpg_wire::{FileStatus, WireError};

use crate::cancel::CancelSession;
use crate::conninfo::{self, Target};
use crate::error::{DbError, Error, ErrorKind};
use crate::session::{Action, Event, FileAnswer, Options, Session, Step, TxStatus, RECYCLE_MAX};

/// One instance's state.
#[derive(Default)]
pub struct Dispatcher {
    options: Options,
    session: Option<Session>,
    cancel: Option<CancelSession>,
    /// The buffer each step's records are written into before they become its string
    /// (`wire::Step::encode_with`); kept between calls while it is at most
    /// [`RECYCLE_MAX`] bytes, as the session's buffers.
    step_head: Vec<u8>,
}

impl Dispatcher {
    pub fn new() -> Dispatcher {
        Dispatcher::default()
    }

    /// `call`: a request in the string form.
    pub fn call_str(&mut self, request: &str) -> String {
        let request = request::decode_str(request);
        self.call(request)
    }

    /// `call-bytes`: a request in the byte form.
    pub fn call_bytes(&mut self, request: &[u8]) -> String {
        let request = request::decode_bytes(request);
        self.call(request)
    }

    fn call(&mut self, request: Result<Request<'_>, WireError>) -> String {
        let (step, addr) = match request {
            Ok(request) => self.handle(request),
            Err(e) => (
                self.refuse(Error::new(
                    ErrorKind::Usage,
                    format!("malformed request: {e}"),
                )),
                None,
            ),
        };
        let mut head = std::mem::take(&mut self.step_head);
        let encoded = self.encode(&step, addr, &mut head);
        if head.capacity() <= RECYCLE_MAX {
            self.step_head = head;
        }
        if let Some(session) = &mut self.session {
            session.recycle(step);
        }
        encoded
    }

    fn session(&mut self) -> &mut Session {
        let options = &self.options;
        self.session
            .get_or_insert_with(|| Session::new(options.clone()))
    }

    /// The current action, with nothing new: the session's if one started (without starting
    /// one: options may still come), `close` for a cancel request.
    fn poll(&mut self) -> Step {
        let action = match (&mut self.session, &self.cancel) {
            (_, Some(_)) => Action::Close,
            (Some(session), None) => return session.poll(),
            (None, None) => Action::Done,
        };
        Step {
            send: Vec::new(),
            action,
            events: Vec::new(),
        }
    }

    /// A request that is refused without touching the session's state.
    fn refuse(&mut self, error: Error) -> Step {
        let mut step = self.poll();
        step.events.push(Event::Error(error));
        step
    }

    /// Performs one request; also returns the address to prefer for an `open`.
    fn handle(&mut self, request: Request<'_>) -> (Step, Option<String>) {
        if let Some(cancel) = &mut self.cancel {
            let step = match request {
                Request::Opened(_) => cancel.opened(None),
                Request::OpenedAt { now, .. } => cancel.opened(Some(now)),
                Request::OpenFailed { kind, reason } => cancel.open_failed(kind, &reason),
                Request::Data(data) => cancel.feed(&data),
                Request::Eof => cancel.eof(),
                _ => {
                    return (
                        self.refuse(Error::new(
                            ErrorKind::Usage,
                            "this instance is delivering a cancel request",
                        )),
                        None,
                    )
                }
            };
            return (step, None);
        }
        let step = match request {
            Request::Init(pairs) => match (&self.session, parse_options(&pairs)) {
                (Some(_), _) => self.refuse(Error::new(
                    ErrorKind::Usage,
                    "options must come before the session starts",
                )),
                (None, Ok(options)) => {
                    self.options = options;
                    self.poll()
                }
                (None, Err(e)) => self.refuse(e),
            },
            Request::Connect { defaults, conninfo } => {
                let defaults = owned_pairs(&defaults);
                let session = self.session();
                match session.connect(&conninfo, &defaults) {
                    Ok(step) => step,
                    Err(e) => {
                        let mut step = session.poll();
                        step.events.push(Event::Error(e));
                        step
                    }
                }
            }
            Request::ParseConninfo { defaults, conninfo } => {
                let defaults = owned_pairs(&defaults);
                match conninfo::parse_supported(&conninfo, &defaults) {
                    Ok(info) => {
                        let mut step = self.poll();
                        step.events.insert(0, Event::Conninfo(Box::new(info)));
                        step
                    }
                    Err(e) => self.refuse(e),
                }
            }
            Request::Opened(addr) => self.session().opened(addr.as_deref(), None),
            Request::OpenedAt { addr, now } => self.session().opened(addr.as_deref(), Some(now)),
            Request::OpenFailed { kind, reason } => self.session().open_failed(kind, &reason),
            Request::Password(password) => self.session().password(password.map(Cow::into_owned)),
            Request::File { status, contents } => {
                let answer = match status {
                    FileStatus::Ok => FileAnswer::Text(&contents),
                    FileStatus::Missing => FileAnswer::Missing,
                    FileStatus::Denied => FileAnswer::Denied(&contents),
                    FileStatus::TooOpen => FileAnswer::TooOpen,
                    FileStatus::Unreadable => FileAnswer::Unreadable(&contents),
                };
                self.session().file(answer)
            }
            Request::FileBytes(contents) => self.session().file(FileAnswer::Bytes(&contents)),
            Request::Data(data) => self.session().feed(&data),
            Request::Eof => self.session().eof(),
            Request::SimpleQuery(sql) => self.session().simple_query(&sql),
            Request::Query {
                param_types,
                params,
                sql,
            } => self.session().query(&sql, &param_types, &params),
            Request::Pipeline(items) => self.session().pipeline(&items),
            Request::Prepare {
                param_types,
                name,
                sql,
            } => self.session().prepare(&name, &sql, &param_types),
            Request::Execute { params, name } => self.session().execute(&name, &params),
            Request::CloseStatement(name) => self.session().close_statement(&name),
            Request::Terminate => self.session().terminate(),
            Request::CopyData(data) => self.session().copy_data(&data),
            Request::CopyDone => self.session().copy_done(),
            Request::CopyFail(reason) => self.session().copy_fail(&reason),
            Request::CancelToken => match self.session.as_ref().map(Session::cancel_token) {
                Some(Ok(token)) => {
                    let mut step = self.poll();
                    step.events.push(Event::CancelToken(token));
                    step
                }
                Some(Err(e)) => self.refuse(e),
                None => self.refuse(Error::new(
                    ErrorKind::Usage,
                    "no cancel token: the session is not connected",
                )),
            },
            Request::Cancel(token) => {
                if self.session.is_some() {
                    self.refuse(Error::new(
                        ErrorKind::Usage,
                        "a cancel request runs on a fresh instance, not on a session's",
                    ))
                } else {
                    match CancelSession::start(&token) {
                        Ok((cancel, step)) => {
                            let addr = cancel.addr().map(str::to_owned);
                            self.cancel = Some(cancel);
                            return (step, addr);
                        }
                        Err(e) => self.refuse(e),
                    }
                }
            }
        };
        (step, None)
    }

    /// The session's step in the packed layout, ReadyForQuery folded into `done`.
    fn encode(&self, step: &Step, addr: Option<String>, head: &mut Vec<u8>) -> String {
        let mut ready = None;
        let mut events = Vec::with_capacity(step.events.len());
        for event in &step.events {
            match event {
                Event::Ready(status) => ready = Some(*status),
                other => events.push(event_out(other)),
            }
        }
        let timeout_ms = self
            .session
            .as_ref()
            .and_then(Session::conninfo)
            .and_then(|info| info.connect_timeout_ms());
        let action = match &step.action {
            Action::Open(target) => wire::Action::Open {
                target: target_out(target),
                timeout_ms: if self.cancel.is_some() {
                    None
                } else {
                    timeout_ms
                },
                addr: addr.map(Cow::Owned),
                keepalive: match target {
                    Target::Tcp { .. } if self.cancel.is_none() => self
                        .session
                        .as_ref()
                        .and_then(Session::conninfo)
                        .map(|info| wire::Keepalive {
                            enabled: info.keepalives.enabled,
                            idle_secs: info.keepalives.idle,
                            interval_secs: info.keepalives.interval,
                            count: info.keepalives.count,
                        }),
                    _ => None,
                },
            },
            Action::Read => wire::Action::Read,
            Action::Done => {
                let status = ready.unwrap_or_else(|| {
                    self.session
                        .as_ref()
                        .map_or(TxStatus::Idle, Session::tx_status)
                });
                wire::Action::Done(tx_out(status))
            }
            Action::Close => wire::Action::Close,
            Action::NeedPassword(r) => wire::Action::NeedPassword {
                host: Cow::Borrowed(&r.host),
                port: r.port,
                dbname: Cow::Borrowed(&r.dbname),
                user: Cow::Borrowed(&r.user),
            },
            Action::NeedFile { purpose, path } => wire::Action::NeedFile {
                purpose: Cow::Borrowed(purpose),
                path: Cow::Borrowed(path),
            },
            Action::CopyIn => wire::Action::CopyIn,
        };
        wire::Step {
            send: Cow::Borrowed(&step.send),
            action,
            events,
        }
        .encode_with(head)
    }
}

/// The `n` request's options (docs/abi.md).
fn parse_options(pairs: &Pairs<'_>) -> Result<Options, Error> {
    let mut options = Options::default();
    for (name, value) in pairs {
        let number = || {
            value.parse::<u32>().map_err(|_| {
                Error::new(
                    ErrorKind::Usage,
                    format!("option {name} must be a whole number, not {value:?}"),
                )
            })
        };
        match &**name {
            "max_message_size" => options.max_message_size = number()?,
            "batch_bytes" => options.batch_bytes = number()?,
            "statement_cache" => options.statement_cache = number()?,
            "default_passfile" => options.default_passfile = Some(value.to_string()),
            "default_ssl_dir" => options.default_ssl_dir = Some(value.to_string()),
            "default_socket_dir" => options.default_socket_dir = value.to_string(),
            other => match other.strip_prefix("param.") {
                Some(param) if !param.is_empty() => options
                    .startup_params
                    .push((param.to_owned(), value.to_string())),
                _ => {
                    return Err(Error::new(
                        ErrorKind::Usage,
                        format!("unknown option {other:?}"),
                    ))
                }
            },
        }
    }
    Ok(options)
}

fn owned_pairs(pairs: &Pairs<'_>) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn tx_out(status: TxStatus) -> WireTx {
    match status {
        TxStatus::Idle => WireTx::Idle,
        TxStatus::InTransaction => WireTx::InTransaction,
        TxStatus::Failed => WireTx::Failed,
    }
}

fn target_out(target: &Target) -> wire::Target<'_> {
    match target {
        Target::Tcp { host, port } => wire::Target::Tcp {
            host: Cow::Borrowed(host),
            port: *port,
        },
        Target::Unix { path } => wire::Target::Unix(Cow::Borrowed(path)),
    }
}

/// A server error's fields by their protocol codes, in the order the protocol lists them.
fn db_out(e: &DbError) -> DbFields<'_> {
    fn b(v: &Option<String>) -> Option<Cow<'_, str>> {
        v.as_deref().map(Cow::Borrowed)
    }
    let n = |v: Option<u32>| v.map(|v| Cow::Owned(v.to_string()));
    let fields: [(char, Option<Cow<'_, str>>); 18] = [
        ('S', Some(Cow::Borrowed(&e.severity))),
        ('V', b(&e.severity_nonlocalized)),
        ('C', Some(Cow::Borrowed(&e.code))),
        ('M', Some(Cow::Borrowed(&e.message))),
        ('D', b(&e.detail)),
        ('H', b(&e.hint)),
        ('P', n(e.position)),
        ('p', n(e.internal_position)),
        ('q', b(&e.internal_query)),
        ('W', b(&e.where_)),
        ('s', b(&e.schema)),
        ('t', b(&e.table)),
        ('c', b(&e.column)),
        ('d', b(&e.datatype)),
        ('n', b(&e.constraint)),
        ('F', b(&e.file)),
        ('L', n(e.line)),
        ('R', b(&e.routine)),
    ];
    fields
        .into_iter()
        .filter_map(|(code, value)| value.map(|v| (code, v)))
        .collect()
}

fn event_out(event: &Event) -> wire::Event<'_> {
    match event {
        Event::Columns(columns) => wire::Event::Record(Cow::Borrowed(&columns.record)),
        Event::Rows(batch) => wire::Event::Rows {
            count: batch.count,
            escaped: batch.escaped,
            data: Cow::Borrowed(&batch.data),
        },
        Event::Complete(c) => wire::Event::Complete {
            tag: Cow::Borrowed(&c.tag),
            rows: c.rows,
        },
        Event::EmptyQuery => wire::Event::EmptyQuery,
        Event::Prepared(info) => wire::Event::Prepared {
            name: Cow::Borrowed(&info.name),
            param_types: info.param_types.clone(),
            columns: crate::session::wire_columns(&info.columns),
        },
        Event::Error(e) => wire::Event::Error {
            kind: e.kind,
            message: Cow::Borrowed(&e.message),
            db: e.db.as_deref().map(db_out).unwrap_or_default(),
        },
        Event::Notice(n) => wire::Event::Notice(db_out(n)),
        Event::Notification {
            process_id,
            channel,
            payload,
        } => wire::Event::Notification {
            process_id: *process_id,
            channel: Cow::Borrowed(channel),
            payload: Cow::Borrowed(payload),
        },
        Event::Parameter { name, value } => wire::Event::Parameter {
            name: Cow::Borrowed(name),
            value: Cow::Borrowed(value),
        },
        Event::BackendKey { process_id, .. } => wire::Event::Backend {
            process_id: *process_id,
        },
        Event::CancelToken(token) => wire::Event::CancelToken(Cow::Borrowed(token)),
        Event::Conninfo(info) => wire::Event::Conninfo(Conninfo {
            targets: info.hosts.iter().map(|h| target_out(&h.target)).collect(),
            user: Cow::Borrowed(&info.user),
            dbname: Cow::Borrowed(&info.dbname),
            connect_timeout_ms: info.connect_timeout_ms(),
            has_password: info.password.is_some(),
            passfile: info.passfile.as_deref().map(Cow::Borrowed),
            sslmode: Cow::Borrowed(info.sslmode.as_str()),
        }),
        Event::CopyIn { binary, columns } => wire::Event::CopyIn {
            binary: *binary,
            columns: *columns,
        },
        Event::CopyOut { binary, columns } => wire::Event::CopyOut {
            binary: *binary,
            columns: *columns,
        },
        Event::CopyData(chunk) => wire::Event::CopyData {
            text: chunk.text,
            escaped: chunk.escaped,
            data: Cow::Borrowed(&chunk.data),
        },
        Event::Aborted => wire::Event::Aborted,
        Event::Synced(status) => wire::Event::Synced(tx_out(*status)),
        // Folded into the `done` action by the caller.
        Event::Ready(_) => wire::Event::EmptyQuery,
    }
}
