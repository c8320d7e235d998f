//! The async [`Client`] (tokio-postgres's shape): it encodes each call's parameters, hands the
//! job to its [`Connection`](super::Connection)'s task and awaits the answer. Methods take
//! `&self`, so one client serves many tasks at once; what they send while another statement
//! runs goes out together as a pipeline.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use crate::client::{
    at_most_one, columns_of, encode_params, encode_rows, exactly_one, last_rows_affected, rows_of,
    simple_messages, total_rows_affected, StatementRef, ToStatement,
};
use crate::error::{DbError, Error, ErrorKind};
use crate::guest::TxStatus;
use crate::results::Response;
use crate::row::{Row, SimpleQueryMessage};
use crate::statement::Statement;
use crate::types::ToSql;

use super::connection::{Job, Op, Shared};
use super::copy::{CopyInSink, CopyOutStream};
use super::notifications::Notifications;
use super::row_stream::RowStream;
use super::transaction::Transaction;
use super::CancelToken;

/// Batches of rows a [`RowStream`] may hold ahead of its reader (each bounded by the guest's
/// batch size).
const ROW_BATCHES_AHEAD: usize = 4;

/// An async connection to PostgreSQL through the sandboxed driver. Its
/// [`Connection`](super::Connection) must be spawned (or awaited) for anything to happen.
pub struct Client {
    jobs: mpsc::UnboundedSender<Job>,
    pub(crate) shared: Arc<Shared>,
    cancel: CancelToken,
    statements: AtomicU64,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("backend_pid", &self.backend_pid())
            .field("closed", &self.is_closed())
            .finish_non_exhaustive()
    }
}

/// The job that runs `statement` with parameter rows already encoded, `n` values each.
pub(crate) fn statement_op<T: ?Sized + ToStatement>(
    statement: &T,
    types: Vec<u32>,
    params: String,
    n: usize,
    rows: usize,
) -> Result<Op, Error> {
    Ok(match statement.statement() {
        StatementRef::Sql(sql) => Op::Query {
            sql: sql.to_owned(),
            types,
            params,
            rows,
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
            Op::Execute {
                name: stmt.name.clone(),
                params,
                rows,
            }
        }
    })
}

fn closed() -> Error {
    Error::new(ErrorKind::Closed, "the connection is closed")
}

impl Client {
    pub(crate) fn new(
        jobs: mpsc::UnboundedSender<Job>,
        shared: Arc<Shared>,
        cancel: CancelToken,
    ) -> Client {
        Client {
            jobs,
            shared,
            cancel,
            statements: AtomicU64::new(0),
        }
    }

    /// Hands a job to the connection's task.
    pub(crate) fn submit(&self, job: Job) -> Result<(), Error> {
        self.jobs.send(job).map_err(|_| closed())
    }

    /// Runs a request and waits for its whole response.
    pub(crate) async fn request(&self, op: Op) -> Result<Response, Error> {
        let (tx, rx) = oneshot::channel();
        self.submit(Job::Request {
            op,
            reply: Some(tx),
        })?;
        // The task ended without answering: the session is gone.
        rx.await.map_err(|_| closed())?
    }

    async fn run<T: ?Sized + ToStatement>(
        &self,
        statement: &T,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Response, Error> {
        let (types, values) = encode_params(params)?;
        let op = statement_op(statement, types, values, params.len(), 1)?;
        self.request(op).await
    }

    /// Runs a statement and returns its rows.
    pub async fn query<T: ?Sized + ToStatement>(
        &self,
        statement: &T,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, Error> {
        rows_of(self.run(statement, params).await?)
    }

    /// Runs a statement that must return exactly one row.
    pub async fn query_one<T: ?Sized + ToStatement>(
        &self,
        statement: &T,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Row, Error> {
        exactly_one(self.query(statement, params).await?)
    }

    /// Runs a statement that returns zero or one row.
    pub async fn query_opt<T: ?Sized + ToStatement>(
        &self,
        statement: &T,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<Row>, Error> {
        at_most_one(self.query(statement, params).await?)
    }

    /// Runs a statement and returns the number of rows it affected.
    pub async fn execute<T: ?Sized + ToStatement>(
        &self,
        statement: &T,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<u64, Error> {
        Ok(last_rows_affected(&self.run(statement, params).await?))
    }

    /// Runs a statement once per row of parameters in one request and one sync point (as
    /// [`crate::Client::execute_many`]): the total number of rows affected.
    pub async fn execute_many<T: ?Sized + ToStatement>(
        &self,
        statement: &T,
        rows: &[&[&(dyn ToSql + Sync)]],
    ) -> Result<u64, Error> {
        if rows.is_empty() {
            return Ok(0);
        }
        let (types, values) = encode_rows(rows)?;
        let n = types.len();
        let op = statement_op(statement, types, values, n, rows.len())?;
        Ok(total_rows_affected(&self.request(op).await?))
    }

    /// Runs a statement and streams its rows as they arrive, in bounded memory (the
    /// connection stops reading while the stream is a few batches ahead of its reader).
    /// Dropping the stream early cancels the statement on the server.
    pub async fn query_raw<T: ?Sized + ToStatement>(
        &self,
        statement: &T,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<RowStream, Error> {
        let (types, values) = encode_params(params)?;
        let op = statement_op(statement, types, values, params.len(), 1)?;
        let (tx, rx) = mpsc::channel(ROW_BATCHES_AHEAD);
        self.submit(Job::Rows { op, tx })?;
        RowStream::start(rx).await
    }

    /// Runs a [`Pipeline`](crate::Pipeline): every statement sent at once, one outcome per
    /// statement in order (see [`crate::pipeline`] for what an error aborts). The outer error
    /// means nothing was sent. (Statements from concurrent calls are pipelined anyway, each
    /// behind its own sync point; this is for statements that belong together.)
    pub async fn pipeline(
        &self,
        pipeline: &crate::Pipeline,
    ) -> Result<Vec<Result<crate::PipelineResult, Error>>, Error> {
        if pipeline.is_empty() {
            return Ok(Vec::new());
        }
        let response = self.request(Op::Pipeline(pipeline.clone())).await?;
        Ok(crate::pipeline::outcomes(response, pipeline))
    }

    /// Prepares a named statement; the server resolves its parameter and column types.
    pub async fn prepare(&self, sql: &str) -> Result<Statement, Error> {
        self.prepare_typed(sql, &[]).await
    }

    /// Prepares a statement, declaring some parameter types (0 or missing: inferred).
    pub async fn prepare_typed(&self, sql: &str, types: &[u32]) -> Result<Statement, Error> {
        let n = self.statements.fetch_add(1, Ordering::Relaxed) + 1;
        let response = self
            .request(Op::Prepare {
                name: format!("wasmpg_p{n}"),
                sql: sql.to_owned(),
                types: types.to_vec(),
            })
            .await?;
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
    pub async fn close_statement(&self, statement: Statement) -> Result<(), Error> {
        self.request(Op::CloseStatement(statement.name)).await?;
        Ok(())
    }

    /// Runs one or more statements with the simple query protocol.
    pub async fn simple_query(&self, sql: &str) -> Result<Vec<SimpleQueryMessage>, Error> {
        let response = self.request(Op::Simple(sql.to_owned())).await?;
        simple_messages(response)
    }

    /// Runs one or more statements, discarding their results.
    pub async fn batch_execute(&self, sql: &str) -> Result<(), Error> {
        self.request(Op::Simple(sql.to_owned())).await?;
        Ok(())
    }

    /// Sends a statement without waiting for it (a dropped transaction's rollback): the jobs
    /// after it run after it.
    pub(crate) fn batch_execute_detached(&self, sql: String) {
        let _ = self.submit(Job::Request {
            op: Op::Simple(sql),
            reply: None,
        });
    }

    /// Begins a transaction; it rolls back unless committed (also when dropped).
    pub async fn transaction(&mut self) -> Result<Transaction<'_>, Error> {
        self.batch_execute("BEGIN").await?;
        Ok(Transaction::new(self, None))
    }

    /// `COPY ... FROM STDIN`: a sink for its data; [`CopyInSink::finish`] ends it and returns
    /// the number of rows copied.
    pub async fn copy_in(&self, sql: &str) -> Result<CopyInSink, Error> {
        CopyInSink::start(self, Op::Simple(sql.to_owned())).await
    }

    /// `COPY ... TO STDOUT`: its data as a stream of chunks.
    pub async fn copy_out(&self, sql: &str) -> Result<CopyOutStream, Error> {
        CopyOutStream::start(self, Op::Simple(sql.to_owned())).await
    }

    /// The notifications (LISTEN/NOTIFY) this session receives, as a stream. The connection's
    /// task reads them whenever no statement runs; the queue is bounded as the sync client's.
    pub fn notifications(&self) -> Notifications {
        Notifications::new(self.shared.clone())
    }

    /// Notices the server sent since the last call.
    pub fn take_notices(&self) -> Vec<DbError> {
        std::mem::take(&mut self.shared.lock().notices)
    }

    /// The backend's process ID.
    pub fn backend_pid(&self) -> i32 {
        self.shared.lock().backend_pid
    }

    /// A server parameter reported at startup or since (`server_version`, `TimeZone`, ...).
    pub fn parameter(&self, name: &str) -> Option<String> {
        self.shared.lock().parameters.get(name).cloned()
    }

    /// Whether the session has ended (server closed it, fatal error, trap, task dropped).
    pub fn is_closed(&self) -> bool {
        self.jobs.is_closed() || self.shared.lock().closed
    }

    /// Whether a transaction block was open when the last statement ended.
    pub fn in_transaction(&self) -> bool {
        !matches!(self.shared.lock().tx_status, Some(TxStatus::Idle) | None)
    }

    /// A token that cancels whatever this connection runs, from any task or thread.
    pub fn cancel_token(&self) -> CancelToken {
        self.cancel.clone()
    }
}
