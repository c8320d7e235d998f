//! The component glue: `wit-bindgen` bindings and conversions between the core's types and the
//! contract's. No logic lives here: each export calls the core (the latin-1 io encoding is
//! `io_encoding`'s) and converts what it returns.

use std::cell::RefCell;

use crate::{error, io_encoding, session};

wit_bindgen::generate!({
    // The contract, shared with every host.
    path: "../wit",
    world: "driver",
});

use exports::wasmpg::driver::session as wit;
use exports::wasmpg::driver::types as wit_types;

struct Component;

export!(Component);

/// The exported `session` resource: the core session behind a `RefCell`, because resource
/// methods take `&self` and the component model never re-enters a running call.
struct SessionResource {
    inner: RefCell<session::Session>,
    io: wit::IoEncoding,
}

impl wit::Guest for Component {
    type Session = SessionResource;

    fn parse_conninfo(
        conninfo: String,
        defaults: Vec<(String, String)>,
    ) -> Result<wit::Conninfo, wit_types::Error> {
        let info = crate::conninfo::parse_supported(&conninfo, &defaults).map_err(error_out)?;
        Ok(wit::Conninfo {
            targets: info.hosts.iter().map(|h| target_out(&h.target)).collect(),
            user: info.user,
            dbname: info.dbname,
            connect_timeout: info.connect_timeout,
            has_password: info.password.is_some(),
            passfile: info.passfile,
            sslmode: format!("{:?}", info.sslmode).to_ascii_lowercase(),
        })
    }
}

impl wit::GuestSession for SessionResource {
    fn new(options: wit::Options) -> Self {
        SessionResource {
            inner: RefCell::new(session::Session::new(session::Options {
                max_message_size: options.max_message_size,
                batch_bytes: options.batch_bytes,
                statement_cache: options.statement_cache,
            })),
            io: options.io,
        }
    }

    fn connect(
        &self,
        conninfo: String,
        defaults: Vec<(String, String)>,
    ) -> Result<wit::Step, wit_types::Error> {
        let step = self
            .inner
            .borrow_mut()
            .connect(&conninfo, &defaults)
            .map_err(error_out)?;
        Ok(self.step_out(step))
    }

    fn opened(&self) -> wit::Step {
        self.step_out(self.inner.borrow_mut().opened())
    }

    fn open_failed(&self, kind: wit_types::ErrorKind, reason: String) -> wit::Step {
        self.step_out(self.inner.borrow_mut().open_failed(kind_in(kind), &reason))
    }

    fn password(&self, password: Option<String>) -> wit::Step {
        self.step_out(self.inner.borrow_mut().password(password))
    }

    fn feed(&self, data: Vec<u8>) -> wit::Step {
        self.step_out(self.inner.borrow_mut().feed(&data))
    }

    fn feed_latin1(&self, data: String) -> wit::Step {
        self.step_out(io_encoding::feed_latin1(
            &mut self.inner.borrow_mut(),
            &data,
        ))
    }

    fn eof(&self) -> wit::Step {
        self.step_out(self.inner.borrow_mut().eof())
    }

    fn simple_query(&self, sql: String) -> wit::Step {
        self.step_out(self.inner.borrow_mut().simple_query(&sql))
    }

    fn query(&self, sql: String, param_types: Vec<u32>, params: String) -> wit::Step {
        self.step_out(self.inner.borrow_mut().query(&sql, &param_types, &params))
    }

    fn prepare(&self, name: String, sql: String, param_types: Vec<u32>) -> wit::Step {
        self.step_out(self.inner.borrow_mut().prepare(&name, &sql, &param_types))
    }

    fn execute(&self, name: String, params: String) -> wit::Step {
        self.step_out(self.inner.borrow_mut().execute(&name, &params))
    }

    fn close_statement(&self, name: String) -> wit::Step {
        self.step_out(self.inner.borrow_mut().close_statement(&name))
    }

    fn terminate(&self) -> wit::Step {
        self.step_out(self.inner.borrow_mut().terminate())
    }
}

impl SessionResource {
    fn step_out(&self, step: session::Step) -> wit::Step {
        let send = match self.io {
            wit::IoEncoding::Bytes => wit::Payload::Bytes(step.send),
            wit::IoEncoding::Latin1 => {
                wit::Payload::Latin1(io_encoding::bytes_to_latin1(&step.send))
            }
        };
        wit::Step {
            send,
            action: action_out(step.action),
            events: step.events.into_iter().map(event_out).collect(),
        }
    }
}

fn target_out(target: &crate::conninfo::Target) -> wit_types::Target {
    match target {
        crate::conninfo::Target::Tcp { host, port } => {
            wit_types::Target::Tcp(wit_types::TcpTarget {
                host: host.clone(),
                port: *port,
            })
        }
        crate::conninfo::Target::Unix { path } => wit_types::Target::Unix(path.clone()),
    }
}

fn action_out(action: session::Action) -> wit::Action {
    match action {
        session::Action::Open(target) => wit::Action::Open(target_out(&target)),
        session::Action::Read => wit::Action::Read,
        session::Action::Done => wit::Action::Done,
        session::Action::Close => wit::Action::Close,
        session::Action::NeedPassword(r) => wit::Action::NeedPassword(wit::PasswordRequest {
            host: r.host,
            port: r.port,
            dbname: r.dbname,
            user: r.user,
            passfile: r.passfile,
        }),
    }
}

fn column_out(c: session::Column) -> wit::Column {
    wit::Column {
        name: c.name,
        type_oid: c.type_oid,
        type_modifier: c.type_modifier,
        table_oid: c.table_oid,
        column_id: c.column_id,
        type_size: c.type_size,
    }
}

fn event_out(event: session::Event) -> wit::Event {
    match event {
        session::Event::Columns(columns) => {
            wit::Event::Columns(columns.into_iter().map(column_out).collect())
        }
        session::Event::Rows(b) => wit::Event::Rows(wit::RowBatch {
            count: b.count,
            escaped: b.escaped,
            data: b.data,
        }),
        session::Event::Complete(c) => wit::Event::Complete(wit::CommandComplete {
            tag: c.tag,
            rows: c.rows,
        }),
        session::Event::EmptyQuery => wit::Event::EmptyQuery,
        session::Event::Prepared(s) => wit::Event::Prepared(wit::StatementInfo {
            name: s.name,
            param_types: s.param_types,
            columns: s.columns.into_iter().map(column_out).collect(),
        }),
        session::Event::Error(e) => wit::Event::Error(error_out(e)),
        session::Event::Notice(n) => wit::Event::Notice(db_error_out(*n)),
        session::Event::Notification {
            process_id,
            channel,
            payload,
        } => wit::Event::Notification(wit_types::Notification {
            process_id,
            channel,
            payload,
        }),
        session::Event::Parameter { name, value } => {
            wit::Event::Parameter(wit_types::Parameter { name, value })
        }
        session::Event::BackendKey {
            process_id,
            secret_key,
        } => wit::Event::BackendKey(wit::BackendKey {
            process_id,
            secret_key,
        }),
        session::Event::Ready(status) => wit::Event::Ready(match status {
            session::TxStatus::Idle => wit::TxStatus::Idle,
            session::TxStatus::InTransaction => wit::TxStatus::InTransaction,
            session::TxStatus::Failed => wit::TxStatus::Failed,
        }),
    }
}

fn kind_out(kind: error::ErrorKind) -> wit_types::ErrorKind {
    use error::ErrorKind as K;
    use wit_types::ErrorKind as W;
    match kind {
        K::Db => W::Db,
        K::Config => W::Config,
        K::Authentication => W::Authentication,
        K::Protocol => W::Protocol,
        K::MessageTooLarge => W::MessageTooLarge,
        K::Encode => W::Encode,
        K::Decode => W::Decode,
        K::Usage => W::Usage,
        K::Closed => W::Closed,
        K::ConnectionRefused => W::ConnectionRefused,
        K::PolicyDenied => W::PolicyDenied,
        K::Io => W::Io,
        K::Timeout => W::Timeout,
        K::Trap => W::Trap,
    }
}

fn kind_in(kind: wit_types::ErrorKind) -> error::ErrorKind {
    use error::ErrorKind as K;
    use wit_types::ErrorKind as W;
    match kind {
        W::Db => K::Db,
        W::Config => K::Config,
        W::Authentication => K::Authentication,
        W::Protocol => K::Protocol,
        W::MessageTooLarge => K::MessageTooLarge,
        W::Encode => K::Encode,
        W::Decode => K::Decode,
        W::Usage => K::Usage,
        W::Closed => K::Closed,
        W::ConnectionRefused => K::ConnectionRefused,
        W::PolicyDenied => K::PolicyDenied,
        W::Io => K::Io,
        W::Timeout => K::Timeout,
        W::Trap => K::Trap,
    }
}

fn db_error_out(e: error::DbError) -> wit_types::DbError {
    wit_types::DbError {
        severity: e.severity,
        severity_nonlocalized: e.severity_nonlocalized,
        code: e.code,
        message: e.message,
        detail: e.detail,
        hint: e.hint,
        position: e.position,
        internal_position: e.internal_position,
        internal_query: e.internal_query,
        where_: e.where_,
        schema: e.schema,
        table: e.table,
        column: e.column,
        datatype: e.datatype,
        constraint: e.constraint,
        file: e.file,
        line: e.line,
        routine: e.routine,
    }
}

fn error_out(e: error::Error) -> wit_types::Error {
    wit_types::Error {
        kind: kind_out(e.kind),
        message: e.message,
        db: e.db.map(|db| db_error_out(*db)),
    }
}
