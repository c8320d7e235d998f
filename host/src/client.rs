//! [`Driver`] (the compiled sandbox, shared) and [`Client`] (one connection).

use std::sync::Arc;

use std::borrow::Cow;

use wasmpg_wire::batch::BatchWriter;
use wasmpg_wire::Request;

use crate::config::Config;
use crate::connection::Connection;
use crate::error::{DbError, Error, ErrorKind};
use crate::guest::{self, PasswordRequest, TxStatus};
use crate::results::Response;
use crate::row::{rows_from_batches, simple_rows, Column, Row, SimpleQueryMessage};
use crate::runtime::Runtime;
use crate::statement::Statement;
use crate::transaction::Transaction;
use crate::types::{IsNull, ToSql};

/// The driver: the guest component compiled once (and cached on disk), the sandbox limits and
/// the connection policy. Cheap to clone; share one per process.
#[derive(Clone)]
pub struct Driver {
    inner: Arc<DriverInner>,
}

struct DriverInner {
    runtime: Runtime,
    config: Config,
}

impl Driver {
    /// A driver with the default [`Config`]: each connection may reach exactly its conninfo's
    /// targets.
    pub fn new() -> Result<Driver, Error> {
        Driver::with_config(Config::default())
    }

    pub fn with_config(config: Config) -> Result<Driver, Error> {
        let runtime = Runtime::new(
            config.memory_limit,
            config.cpu_limit_per_call,
            config.cache_dir.as_deref(),
        )?;
        Ok(Driver {
            inner: Arc::new(DriverInner { runtime, config }),
        })
    }

    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// The shared runtime, for the async client's sessions (only it needs it from here).
    #[cfg(feature = "tokio")]
    pub(crate) fn runtime(&self) -> &Runtime {
        &self.inner.runtime
    }

    /// Connects with a libpq conninfo (`key=value ...` or `postgresql://...`); PG* environment
    /// variables and the password file supply what it leaves out.
    pub fn connect(&self, conninfo: &str) -> Result<Client, Error> {
        let conn = Connection::connect(&self.inner.runtime, &self.inner.config, conninfo, None)?;
        Ok(Client {
            conn,
            statements: 0,
            driver: self.clone(),
        })
    }

    /// Like [`connect`](Driver::connect), with a password source for this connection: called
    /// when the server asks for a password that the conninfo, `PGPASSWORD` and the password
    /// file did not give (for each host tried), with what it is for. For short-lived tokens
    /// (cloud IAM authentication), fetched at connect time. `None` means no password.
    pub fn connect_with_password(
        &self,
        conninfo: &str,
        password: impl FnMut(&PasswordRequest) -> Option<String> + Send + 'static,
    ) -> Result<Client, Error> {
        let conn = Connection::connect(
            &self.inner.runtime,
            &self.inner.config,
            conninfo,
            Some(Box::new(password)),
        )?;
        Ok(Client {
            conn,
            statements: 0,
            driver: self.clone(),
        })
    }
}

/// Something that can be executed: SQL text or a prepared [`Statement`].
pub trait ToStatement {
    #[doc(hidden)]
    fn statement(&self) -> StatementRef<'_>;
}

#[doc(hidden)]
pub enum StatementRef<'a> {
    Sql(&'a str),
    Prepared(&'a Statement),
}

impl ToStatement for str {
    fn statement(&self) -> StatementRef<'_> {
        StatementRef::Sql(self)
    }
}

impl ToStatement for String {
    fn statement(&self) -> StatementRef<'_> {
        StatementRef::Sql(self)
    }
}

impl ToStatement for Statement {
    fn statement(&self) -> StatementRef<'_> {
        StatementRef::Prepared(self)
    }
}

/// A connection to PostgreSQL through the sandboxed driver.
pub struct Client {
    pub(crate) conn: Connection,
    statements: u64,
    /// For cancel tokens: they open a fresh instance of the same compiled component.
    driver: Driver,
}

/// Parameters in the contract's form: declared types and one row-batch row of values.
pub(crate) fn encode_params(params: &[&(dyn ToSql + Sync)]) -> Result<(Vec<u32>, String), Error> {
    let mut types = Vec::with_capacity(params.len());
    let mut writer = BatchWriter::default();
    encode_row(params, &mut types, &mut writer)?;
    Ok((types, finished(&mut writer)?))
}

/// The parameter batch written. Every value is pushed as text, so the writer's UTF-8 check
/// passes; if it did not, the parameters are refused rather than sent.
fn finished(writer: &mut BatchWriter) -> Result<String, Error> {
    match writer.take() {
        Ok(batch) => Ok(batch.data),
        Err(e) => Err(Error::new(
            ErrorKind::Encode,
            format!(
                "the parameter batch is not UTF-8 after {} rows",
                e.rows_before
            ),
        )),
    }
}

/// Appends one row of parameters to `writer`, their declared types to `types`.
fn encode_row(
    params: &[&(dyn ToSql + Sync)],
    types: &mut Vec<u32>,
    writer: &mut BatchWriter,
) -> Result<(), Error> {
    let mut value = String::new();
    for (i, param) in params.iter().enumerate() {
        types.push(param.sql_type());
        value.clear();
        match param.to_sql(&mut value) {
            Ok(IsNull::Yes) => writer.push_null(),
            Ok(IsNull::No) => writer.push_field(&value),
            Err(e) => {
                return Err(Error::with_cause(
                    ErrorKind::Encode,
                    format!("cannot encode parameter ${}", i + 1),
                    e,
                ))
            }
        }
    }
    writer.end_row();
    Ok(())
}

/// Several rows of parameters for one statement: the first row's types, which every row must
/// share (a type of 0, e.g. a NULL of unknown type, matches any).
pub(crate) fn encode_rows(rows: &[&[&(dyn ToSql + Sync)]]) -> Result<(Vec<u32>, String), Error> {
    let mut types: Vec<u32> = Vec::new();
    let mut writer = BatchWriter::default();
    let mut row_types = Vec::new();
    for (r, params) in rows.iter().enumerate() {
        row_types.clear();
        encode_row(params, &mut row_types, &mut writer)?;
        if r == 0 {
            types.clone_from(&row_types);
            continue;
        }
        if row_types.len() != types.len() {
            return Err(Error::new(
                ErrorKind::Usage,
                format!(
                    "parameter row {} has {} values, the first has {}",
                    r + 1,
                    row_types.len(),
                    types.len()
                ),
            ));
        }
        for (i, (t, first)) in row_types.iter().zip(types.iter_mut()).enumerate() {
            if *first == 0 {
                *first = *t;
            } else if *t != 0 && t != first {
                return Err(Error::new(
                    ErrorKind::Usage,
                    format!(
                        "parameter ${} of row {} has type {t}, the same parameter of an earlier \
                         row type {first}",
                        i + 1,
                        r + 1
                    ),
                ));
            }
        }
    }
    Ok((types, finished(&mut writer)?))
}

/// The rows of a request's first result (none if it returned none).
pub(crate) fn rows_of(response: Response) -> Result<Vec<Row>, Error> {
    let Some(result) = response.results.into_iter().next() else {
        return Ok(Vec::new());
    };
    let columns = result.columns.unwrap_or_else(no_columns);
    rows_from_batches(&columns, result.batches)
}

/// `query_one`'s row: exactly one.
pub(crate) fn exactly_one(mut rows: Vec<Row>) -> Result<Row, Error> {
    if rows.len() != 1 {
        return Err(Error::new(
            ErrorKind::RowCount,
            format!(
                "query_one expected 1 row, the query returned {}",
                rows.len()
            ),
        ));
    }
    Ok(rows.remove(0))
}

/// `query_opt`'s row: zero or one.
pub(crate) fn at_most_one(mut rows: Vec<Row>) -> Result<Option<Row>, Error> {
    match rows.len() {
        0 => Ok(None),
        1 => Ok(Some(rows.remove(0))),
        n => Err(Error::new(
            ErrorKind::RowCount,
            format!("query_opt expected at most 1 row, the query returned {n}"),
        )),
    }
}

/// `execute`'s count: the last command's rows affected.
pub(crate) fn last_rows_affected(response: &Response) -> u64 {
    response
        .results
        .last()
        .and_then(|r| r.complete.as_ref())
        .and_then(|c| c.rows)
        .unwrap_or(0)
}

/// `execute_many`'s count: every execution's rows affected.
pub(crate) fn total_rows_affected(response: &Response) -> u64 {
    response
        .results
        .iter()
        .filter_map(|r| r.complete.as_ref().and_then(|c| c.rows))
        .sum()
}

/// A simple query's results as rust-postgres's messages.
pub(crate) fn simple_messages(response: Response) -> Result<Vec<SimpleQueryMessage>, Error> {
    let mut messages = Vec::new();
    for result in response.results {
        if let Some(columns) = result.columns {
            messages.push(SimpleQueryMessage::RowDescription(columns.clone()));
            for row in simple_rows(&columns, result.batches)? {
                messages.push(SimpleQueryMessage::Row(row));
            }
        }
        if let Some(complete) = result.complete {
            messages.push(SimpleQueryMessage::CommandComplete(
                complete.rows.unwrap_or(0),
            ));
        }
    }
    Ok(messages)
}

/// The columns of a result that has none.
pub(crate) fn no_columns() -> Arc<[Column]> {
    Arc::from(Vec::new())
}

pub(crate) fn columns_of(columns: &[guest::Column]) -> Arc<[Column]> {
    columns.iter().map(Column::from_guest).collect()
}

/// The request that runs `statement` with parameter rows already encoded, `n` values each: a
/// one-round-trip query for SQL, an execution for a prepared statement (whose parameter count
/// must match).
pub(crate) fn statement_request<T: ?Sized + ToStatement>(
    statement: &T,
    types: Vec<u32>,
    values: String,
    n: usize,
) -> Result<Request<'_>, Error> {
    Ok(match statement.statement() {
        StatementRef::Sql(sql) => Request::Query {
            param_types: types,
            params: Cow::Owned(values),
            sql: Cow::Borrowed(sql),
        },
        StatementRef::Prepared(stmt) => {
            if stmt.params.len() != n {
                return Err(Error::new(
                    ErrorKind::Usage,
                    format!(
                        "the statement takes {} parameters but {n} were given",
                        stmt.params.len()
                    ),
                ));
            }
            Request::Execute {
                params: Cow::Owned(values),
                name: Cow::Borrowed(&stmt.name),
            }
        }
    })
}

impl Client {
    fn run<T: ?Sized + ToStatement>(
        &mut self,
        statement: &T,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Response, Error> {
        let (types, values) = encode_params(params)?;
        let request = statement_request(statement, types, values, params.len())?;
        self.conn.request(&request)
    }

    /// Runs a statement and returns its rows.
    pub fn query<T: ?Sized + ToStatement>(
        &mut self,
        statement: &T,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, Error> {
        rows_of(self.run(statement, params)?)
    }

    /// Runs a statement that must return exactly one row.
    pub fn query_one<T: ?Sized + ToStatement>(
        &mut self,
        statement: &T,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Row, Error> {
        exactly_one(self.query(statement, params)?)
    }

    /// Runs a statement that returns zero or one row.
    pub fn query_opt<T: ?Sized + ToStatement>(
        &mut self,
        statement: &T,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<Row>, Error> {
        at_most_one(self.query(statement, params)?)
    }

    /// Runs a statement and returns the number of rows it affected.
    pub fn execute<T: ?Sized + ToStatement>(
        &mut self,
        statement: &T,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<u64, Error> {
        Ok(last_rows_affected(&self.run(statement, params)?))
    }

    /// Runs a statement once for each row of parameters, all in one request and one round trip
    /// (psycopg's `executemany`): the total number of rows affected. The executions share one
    /// Sync, so outside a transaction block they commit or fail together: an error in one
    /// stops the rest and rolls back the ones before it. Every row must have the same number of
    /// parameters, of the same types.
    pub fn execute_many<T: ?Sized + ToStatement>(
        &mut self,
        statement: &T,
        rows: &[&[&(dyn ToSql + Sync)]],
    ) -> Result<u64, Error> {
        if rows.is_empty() {
            return Ok(0);
        }
        let (types, values) = encode_rows(rows)?;
        let n = types.len();
        let response = self
            .conn
            .request(&statement_request(statement, types, values, n)?)?;
        Ok(total_rows_affected(&response))
    }

    /// Runs a [`Pipeline`](crate::Pipeline): every statement sent at once, one outcome per
    /// statement in order (see [`crate::pipeline`] for what an error aborts). The outer error
    /// means nothing was sent.
    pub fn pipeline(
        &mut self,
        pipeline: &crate::Pipeline,
    ) -> Result<Vec<Result<crate::PipelineResult, Error>>, Error> {
        if pipeline.is_empty() {
            return Ok(Vec::new());
        }
        let mut response = crate::pipeline::response();
        self.conn.request_into(&pipeline.request(), &mut response)?;
        Ok(crate::pipeline::outcomes(response, pipeline))
    }

    /// Prepares a named statement; the server resolves its parameter and column types.
    pub fn prepare(&mut self, sql: &str) -> Result<Statement, Error> {
        self.prepare_typed(sql, &[])
    }

    /// Prepares a statement, declaring some parameter types (0 or missing: inferred).
    pub fn prepare_typed(&mut self, sql: &str, types: &[u32]) -> Result<Statement, Error> {
        self.statements += 1;
        let name = format!("wasmpg_p{}", self.statements);
        let response = self.conn.request(&Request::Prepare {
            param_types: types.to_vec(),
            name: Cow::Borrowed(&name),
            sql: Cow::Borrowed(sql),
        })?;
        let Some(info) = response.prepared else {
            return Err(Error::new(
                ErrorKind::Protocol,
                "the guest did not report the prepared statement",
            ));
        };
        Ok(Statement {
            name: info.name,
            params: info.param_types,
            columns: columns_of(&info.columns),
        })
    }

    /// Closes a prepared statement on the server.
    pub fn close_statement(&mut self, statement: Statement) -> Result<(), Error> {
        self.conn
            .request(&Request::CloseStatement(Cow::Borrowed(&statement.name)))?;
        Ok(())
    }

    /// Runs one or more statements with the simple query protocol.
    pub fn simple_query(&mut self, sql: &str) -> Result<Vec<SimpleQueryMessage>, Error> {
        let response = self
            .conn
            .request(&Request::SimpleQuery(Cow::Borrowed(sql)))?;
        simple_messages(response)
    }

    /// Runs one or more statements, discarding their results.
    pub fn batch_execute(&mut self, sql: &str) -> Result<(), Error> {
        self.conn
            .request(&Request::SimpleQuery(Cow::Borrowed(sql)))?;
        Ok(())
    }

    /// Begins a transaction; it rolls back unless committed.
    pub fn transaction(&mut self) -> Result<Transaction<'_>, Error> {
        self.batch_execute("BEGIN")?;
        Ok(Transaction::new(self, None))
    }

    /// The backend's process ID (for `pg_terminate_backend`, `pg_cancel_backend`).
    pub fn backend_pid(&self) -> i32 {
        self.conn.session.backend_pid.unwrap_or(0)
    }

    /// A server parameter reported at startup or since (`server_version`, `TimeZone`, ...).
    pub fn parameter(&self, name: &str) -> Option<String> {
        self.conn.session.parameters.get(name).cloned()
    }

    /// Whether the connection has ended (server closed it, fatal error, trap).
    pub fn is_closed(&self) -> bool {
        self.conn.is_closed()
    }

    /// Whether a transaction block is open.
    pub fn in_transaction(&self) -> bool {
        !matches!(self.conn.session.tx_status, Some(TxStatus::Idle) | None)
    }

    /// The notifications this session received (LISTEN/NOTIFY), with iterators that wait for
    /// more while no request runs: `iter()` never waits, `timeout_iter(d)` waits up to `d` for
    /// each, `blocking_iter()` as long as it takes. Notifications that arrive with a request's
    /// results are queued as well.
    pub fn notifications(&mut self) -> crate::notifications::Notifications<'_> {
        crate::notifications::Notifications::new(self)
    }

    /// Notices the server sent since the last call.
    pub fn take_notices(&mut self) -> Vec<DbError> {
        std::mem::take(&mut self.conn.session.notices)
    }

    /// Bytes of linear memory the sandboxed guest of this connection has.
    pub fn guest_memory_bytes(&self) -> usize {
        self.conn.guest_memory()
    }

    /// A token that cancels whatever this connection is running, usable from another thread
    /// (rust-postgres's `cancel_token`). The cancel request goes over a new connection, to the
    /// address this session reached, under the same policy; the guest builds and sends it.
    pub fn cancel_token(&mut self) -> Result<CancelToken, Error> {
        Ok(CancelToken {
            driver: self.driver.clone(),
            policy: self.conn.policy().clone(),
            token: self.conn.cancel_token()?,
        })
    }

    /// Ends the session gracefully.
    pub fn close(mut self) -> Result<(), Error> {
        self.conn.terminate()
    }
}

/// Cancels what a [`Client`] is running, from any thread: [`Client::cancel_token`]. Like
/// libpq's `PQcancel`, success means the server received the request, not that anything was
/// running: a statement that was cancelled fails with SQLSTATE 57014 (`query_canceled`).
#[derive(Clone)]
pub struct CancelToken {
    driver: Driver,
    policy: crate::policy::Policy,
    token: String,
}

impl CancelToken {
    /// Sends the cancel request and waits until the server has taken it.
    pub fn cancel_query(&self) -> Result<(), Error> {
        Connection::cancel(
            &self.driver.inner.runtime,
            &self.driver.inner.config,
            &self.policy,
            &self.token,
        )
    }
}

impl std::fmt::Debug for CancelToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The token holds the backend's secret key.
        f.debug_struct("CancelToken").finish_non_exhaustive()
    }
}
