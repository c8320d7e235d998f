//! The async connection: a future (spawned by the caller, as tokio-postgres's is) that owns the
//! session and its socket, takes the clients' jobs in order, and performs on a tokio socket the
//! operations the shared step loop (`session.rs`) asks for. Jobs that arrive while one runs are
//! sent together as a pipeline, one sync point each. A job whose caller went away (its future
//! was dropped) while it runs is cancelled on the server and its results are discarded.

use std::borrow::Cow;
use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use futures_core::Stream;
use tokio::sync::{mpsc, oneshot};
use wasmpg_wire::{PipelineItem, Request};

use crate::error::{DbError, Error, ErrorKind};
use crate::guest::{RowBatch, Step, TxStatus};
use crate::notifications::Notification;
use crate::results::Response;
use crate::session::{Copy, Drive, Next, Session, Stop};

use super::socket::Socket;

/// Most statements one automatic pipeline takes from the queue.
const MAX_AUTO_PIPELINE: usize = 1024;

/// Whether a statement's error says its cached statement was stale or gone (the errors for
/// which the guest's statement cache retries: `guest/src/statement_cache.rs`).
fn stale(error: &Error) -> bool {
    error.as_db_error().is_some_and(|db| {
        db.code() == "26000"
            || (db.code() == "0A000" && db.routine() == Some("RevalidateCachedQuery"))
    })
}

/// What a job asks the session to run, owned (it crosses to the connection's task).
#[derive(Debug)]
pub(crate) enum Op {
    /// Simple query protocol: one or more statements.
    Simple(String),
    /// Extended query through the statement cache; `params` holds `rows` parameter rows.
    Query {
        sql: String,
        types: Vec<u32>,
        params: String,
        rows: usize,
    },
    /// A named prepared statement, `rows` parameter rows.
    Execute {
        name: String,
        params: String,
        rows: usize,
    },
    Prepare {
        name: String,
        sql: String,
        types: Vec<u32>,
    },
    CloseStatement(String),
    /// An explicit pipeline ([`crate::Pipeline`]): its response keeps every item's outcome.
    Pipeline(crate::Pipeline),
}

impl Op {
    /// A single statement with one parameter row: it can share a pipeline with the jobs
    /// queued after it, each behind its own sync point (so each keeps its own outcome).
    fn pipelinable(&self) -> bool {
        matches!(
            self,
            Op::Query { rows: 1, .. } | Op::Execute { rows: 1, .. }
        )
    }

    /// Its item in an automatic pipeline (see [`Op::pipelinable`]).
    fn item(&self) -> Option<PipelineItem<'_>> {
        Some(match self {
            Op::Query {
                sql, types, params, ..
            } => PipelineItem::Query {
                param_types: types.clone(),
                params: Cow::Borrowed(params),
                sql: Cow::Borrowed(sql),
            },
            Op::Execute { name, params, .. } => PipelineItem::Execute {
                params: Cow::Borrowed(params),
                name: Cow::Borrowed(name),
            },
            _ => return None,
        })
    }

    fn request(&self) -> Request<'_> {
        match self {
            Op::Simple(sql) => Request::SimpleQuery(Cow::Borrowed(sql)),
            Op::Query {
                sql, types, params, ..
            } => Request::Query {
                param_types: types.clone(),
                params: Cow::Borrowed(params),
                sql: Cow::Borrowed(sql),
            },
            Op::Execute { name, params, .. } => Request::Execute {
                params: Cow::Borrowed(params),
                name: Cow::Borrowed(name),
            },
            Op::Prepare { name, sql, types } => Request::Prepare {
                param_types: types.clone(),
                name: Cow::Borrowed(name),
                sql: Cow::Borrowed(sql),
            },
            Op::CloseStatement(name) => Request::CloseStatement(Cow::Borrowed(name)),
            Op::Pipeline(pipeline) => pipeline.request(),
        }
    }
}

/// What streamed rows deliver ([`super::Client::query_raw`]).
#[derive(Debug)]
pub(crate) enum RowsMsg {
    Columns(std::sync::Arc<[crate::row::Column]>),
    Batch(RowBatch),
    /// The end: the rows affected, or the error that ended the statement.
    End(Result<Option<u64>, Error>),
}

/// What a COPY FROM STDIN sink hands the connection.
#[derive(Debug)]
pub(crate) enum CopyMsg {
    Data(Vec<u8>),
    Done,
    Fail(String),
}

/// Where a whole request's response goes.
pub(crate) type Reply = oneshot::Sender<Result<Response, Error>>;

/// One unit of work for the connection, with where its results go.
pub(crate) enum Job {
    /// A whole request, answered at once; no reply: fire and forget (a dropped transaction's
    /// ROLLBACK).
    Request { op: Op, reply: Option<Reply> },
    /// Rows as they arrive, at most a few batches ahead of the reader.
    Rows { op: Op, tx: mpsc::Sender<RowsMsg> },
    /// COPY TO STDOUT: its data as it arrives, then the row count or the error.
    CopyOut {
        op: Op,
        tx: mpsc::Sender<Result<Vec<u8>, Error>>,
    },
    /// COPY FROM STDIN: `started` once the server waits for data, `data` from the sink,
    /// `done` with the row count or the error.
    CopyIn {
        op: Op,
        started: oneshot::Sender<Result<(), Error>>,
        data: futures_channel::mpsc::Receiver<CopyMsg>,
        done: oneshot::Sender<Result<u64, Error>>,
    },
}

/// Session state the clients read without asking the connection's task.
#[derive(Default)]
pub(crate) struct State {
    pub(crate) parameters: HashMap<String, String>,
    pub(crate) backend_pid: i32,
    pub(crate) tx_status: Option<TxStatus>,
    pub(crate) closed: bool,
    pub(crate) notices: Vec<DbError>,
    pub(crate) notifications: VecDeque<Notification>,
    pub(crate) notifications_dropped: u64,
    /// The notification streams waiting for the next one.
    pub(crate) wakers: Vec<Waker>,
}

/// The state shared by a connection and its clients.
#[derive(Default)]
pub(crate) struct Shared {
    state: Mutex<State>,
}

impl Shared {
    /// The state. A panic while it was held (none of its updates can panic) leaves it usable.
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A connection's task: drive it to completion (`tokio::spawn(connection)`). It ends when every
/// [`super::Client`] is dropped (after Terminate), or with the error that ended the session.
#[must_use = "the connection does nothing unless spawned or awaited"]
pub struct Connection {
    run: Pin<Box<dyn Future<Output = Result<(), Error>> + Send>>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection").finish_non_exhaustive()
    }
}

impl Future for Connection {
    type Output = Result<(), Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.run.as_mut().poll(cx)
    }
}

/// The connection's task state.
pub(crate) struct Worker {
    session: Session,
    socket: Option<Socket>,
    read_buf: Vec<u8>,
    jobs: mpsc::UnboundedReceiver<Job>,
    shared: Arc<Shared>,
    cancel: Option<super::CancelToken>,
    /// A cancel request on its way: the next job waits for it, so that it cannot hit that job.
    cancelling: Option<tokio::task::JoinHandle<()>>,
    /// A job taken from the queue while gathering a pipeline that could not join it: it runs
    /// next.
    stash: Option<Job>,
}

/// Where a running job's results go, watched for the caller going away.
enum Watch<'a> {
    Nobody,
    Reply(&'a mut Reply),
    Rows(&'a mpsc::Sender<RowsMsg>),
    Bytes(&'a mpsc::Sender<Result<Vec<u8>, Error>>),
    /// An automatic pipeline: only the statement the server is running can be cancelled (a
    /// cancel request interrupts whatever runs when it arrives).
    Batch {
        replies: &'a mut [Option<Reply>],
        /// The statement the server runs now: the count of those answered.
        running: usize,
        /// The statement a cancel request was sent for.
        cancelled: Option<usize>,
    },
}

impl Watch<'_> {
    /// Resolves when the caller has dropped its end; never for a job nobody waits for.
    async fn abandoned(&mut self) {
        match self {
            Watch::Nobody => std::future::pending().await,
            Watch::Reply(tx) => tx.closed().await,
            Watch::Rows(tx) => tx.closed().await,
            Watch::Bytes(tx) => tx.closed().await,
            Watch::Batch {
                replies,
                running,
                cancelled,
            } => match replies.get_mut(*running) {
                Some(Some(tx)) if *cancelled != Some(*running) => tx.closed().await,
                _ => std::future::pending().await,
            },
        }
    }

    /// Before a read: what the response says about a pipeline's progress.
    fn progress(&mut self, response: &Response) {
        if let Watch::Batch { running, .. } = self {
            *running = response.items.as_ref().map_or(0, |items| {
                items
                    .iter()
                    .filter(|i| !matches!(i.how, crate::results::How::Synced(_)))
                    .count()
            });
        }
    }

    /// A cancel request was sent for the statement running now.
    fn cancelled(&mut self) {
        if let Watch::Batch {
            running, cancelled, ..
        } = self
        {
            *cancelled = Some(*running);
        }
    }
}

impl Worker {
    pub(crate) fn new(
        session: Session,
        socket: Option<Socket>,
        read_chunk: usize,
        jobs: mpsc::UnboundedReceiver<Job>,
        shared: Arc<Shared>,
        cancel: Option<super::CancelToken>,
    ) -> Worker {
        let mut worker = Worker {
            session,
            socket,
            read_buf: vec![0; read_chunk.max(4096)],
            jobs,
            shared,
            cancel,
            cancelling: None,
            stash: None,
        };
        worker.publish();
        worker
    }

    pub(crate) fn into_connection(self) -> Connection {
        Connection {
            run: Box::pin(self.run()),
        }
    }

    /// Drives the startup (before the worker becomes a connection).
    pub(crate) async fn startup(
        session: Session,
        step: Step,
        config: &crate::config::Config,
    ) -> Result<(Session, Option<Socket>), Error> {
        let mut worker = Worker::alone(session, config.read_chunk);
        let result = worker.drive_alone(step, config.connect_timeout).await;
        worker.session.connected(result)?;
        Ok((worker.session, worker.socket.take()))
    }

    /// Delivers a cancel request from its own session.
    pub(crate) async fn deliver_cancel(
        session: Session,
        step: Step,
        config: &crate::config::Config,
    ) -> Result<(), Error> {
        let mut worker = Worker::alone(session, 4096);
        let result = worker
            .drive_alone(step, crate::session::cancel_timeout(config))
            .await;
        worker.session.cancelled(result)
    }

    /// A worker that serves no client (yet): for a startup or a cancel request.
    fn alone(session: Session, read_chunk: usize) -> Worker {
        let (_tx, jobs) = mpsc::unbounded_channel();
        Worker {
            session,
            socket: None,
            read_buf: vec![0; read_chunk.max(4096)],
            jobs,
            shared: Arc::default(),
            cancel: None,
            cancelling: None,
            stash: None,
        }
    }

    /// Drives a startup or a cancel request to its end. Not `drive`: nothing is published from
    /// a worker that serves no client yet (the session's parameters and notices go to the
    /// connection's clients in `Worker::new`).
    async fn drive_alone(
        &mut self,
        step: Step,
        connect_timeout: Option<Duration>,
    ) -> Result<Response, Error> {
        let mut response = Response::default();
        self.drive_steps(
            step,
            connect_timeout,
            &mut response,
            None,
            &mut Watch::Nobody,
        )
        .await?;
        Ok(response)
    }

    async fn run(mut self) -> Result<(), Error> {
        let mut ended: Option<Error> = None;
        loop {
            if self.session.is_closed() {
                break;
            }
            // Every drive publishes the shared state before its caller is answered; a session
            // that ended without one is published once the loop ends.
            if let Some(job) = self.stash.take() {
                self.run_job(job).await;
                continue;
            }
            let job = {
                let Worker {
                    jobs,
                    socket,
                    read_buf,
                    ..
                } = &mut self;
                let Some(socket) = socket.as_mut() else {
                    break;
                };
                tokio::select! {
                    biased;
                    job = jobs.recv() => match job {
                        Some(job) => Ok(job),
                        None => break,
                    },
                    read = socket.read(read_buf) => Err(read),
                }
            };
            match job {
                Ok(job) => self.run_job(job).await,
                // While idle: a notification, a notice, a parameter change, or the error that
                // ends the session.
                Err(read) => {
                    let result = match read {
                        Ok(n) => self.idle_data(n).await,
                        Err(e) => Err(self.session.io_failed("cannot read from the server", e)),
                    };
                    if let Err(e) = result {
                        ended = Some(e);
                    }
                }
            }
        }
        self.publish();
        if !self.session.is_closed() {
            // Every client is gone: end the session gracefully.
            if let Ok(bytes) = self.session.terminate() {
                if let Some(socket) = &mut self.socket {
                    let _ = socket.write_all(&bytes).await;
                }
            }
            self.socket = None;
            self.publish();
            return Ok(());
        }
        self.socket = None;
        match ended {
            Some(e) => Err(e),
            // The session ended during a request, whose caller got the error.
            None => Err(Error::new(
                ErrorKind::Closed,
                "the session ended while a request ran (its caller got the error)",
            )),
        }
    }

    /// Server data while no request runs.
    async fn idle_data(&mut self, n: usize) -> Result<(), Error> {
        let step = self.feed(n)?;
        let mut response = Response::default();
        self.drive(step, None, &mut response, None, &mut Watch::Nobody)
            .await?;
        match response.error {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Copies what the clients read (parameters, status, notices, notifications) into the
    /// shared state, and wakes a notification stream.
    fn publish(&mut self) {
        let mut state = self.shared.lock();
        if self.session.parameters_changed {
            self.session.parameters_changed = false;
            state.parameters.clone_from(&self.session.parameters);
        }
        state.backend_pid = self.session.backend_pid.unwrap_or(0);
        state.tx_status = self.session.tx_status;
        for notice in self.session.notices.drain(..) {
            if state.notices.len() < 1000 {
                state.notices.push(notice);
            }
        }
        let mut wake = false;
        for n in self.session.notifications.drain(..) {
            if state.notifications.len() >= crate::notifications::MAX_QUEUED {
                state.notifications.pop_front();
                state.notifications_dropped += 1;
            }
            state.notifications.push_back(n);
            wake = true;
        }
        state.notifications_dropped += std::mem::take(&mut self.session.notifications_dropped);
        if self.session.is_closed() && !state.closed {
            state.closed = true;
            wake = true;
        }
        if wake {
            for waker in state.wakers.drain(..) {
                waker.wake();
            }
        }
    }

    /// Waits for a cancel request sent for an abandoned job to be delivered.
    async fn settle_cancel(&mut self) {
        if let Some(handle) = self.cancelling.take() {
            let _ = handle.await;
        }
    }

    async fn run_job(&mut self, job: Job) {
        self.settle_cancel().await;
        let job = match job {
            Job::Request { op, reply } if op.pipelinable() => {
                let mut batch = vec![(op, reply)];
                self.gather(&mut batch);
                if batch.len() > 1 {
                    return self.run_batch(batch).await;
                }
                let Some((op, reply)) = batch.pop() else {
                    return;
                };
                Job::Request { op, reply }
            }
            job => job,
        };
        match job {
            Job::Request { op, mut reply } => {
                let mut watch = match &mut reply {
                    Some(tx) => Watch::Reply(tx),
                    None => Watch::Nobody,
                };
                let result = self.request(&op, &mut watch).await;
                if let Some(tx) = reply {
                    let _ = tx.send(result);
                }
            }
            Job::Rows { op, tx } => {
                let end = self.stream_rows(&op, &tx).await;
                let _ = tx.send(RowsMsg::End(end)).await;
            }
            Job::CopyOut { op, tx } => {
                let end = self.copy_out(&op, &tx).await;
                if let Err(e) = end {
                    let _ = tx.send(Err(e)).await;
                }
            }
            Job::CopyIn {
                op,
                started,
                data,
                done,
            } => {
                let result = self.copy_in(&op, started, data).await;
                let _ = done.send(result);
            }
        }
    }

    async fn request(&mut self, op: &Op, watch: &mut Watch<'_>) -> Result<Response, Error> {
        let step = self.begin(&op.request())?;
        if let Op::Pipeline(_) = op {
            // Every item's outcome is kept, the connection's failure too (answered items
            // stay answered; the rest are unknown).
            let mut response = crate::pipeline::response();
            let result = self.drive(step, None, &mut response, None, watch).await;
            self.session.in_request = false;
            if let Err(e) = result {
                response.add_error(e);
            }
            return Ok(response);
        }
        let mut response = Response::default();
        let result = self.drive(step, None, &mut response, None, watch).await;
        self.session.in_request = false;
        result?;
        crate::session::outcome(response)
    }

    /// Takes the jobs already queued behind the first of `batch` that can share its pipeline,
    /// up to a bound; the first that cannot waits in the stash.
    fn gather(&mut self, batch: &mut Vec<(Op, Option<Reply>)>) {
        while batch.len() < MAX_AUTO_PIPELINE {
            match self.jobs.try_recv() {
                Ok(Job::Request { op, reply }) if op.pipelinable() => batch.push((op, reply)),
                Ok(job) => {
                    self.stash = Some(job);
                    return;
                }
                Err(_) => return,
            }
        }
    }

    /// Runs queued statements as one pipeline, each behind its own sync point (so each is its
    /// own implicit transaction, exactly as if run one by one), and answers each job with its
    /// own outcome. A statement the server found stale in the statement cache, outside a
    /// transaction block, is run again alone (where the guest's transparent retry applies):
    /// it was rolled back, so nothing runs twice. A caller that goes away gets its statement
    /// cancelled only while the server runs it; one interrupted by a cancel meant for an
    /// earlier statement is run again the same way.
    async fn run_batch(&mut self, batch: Vec<(Op, Option<Reply>)>) {
        let (ops, mut replies): (Vec<Op>, Vec<Option<Reply>>) = batch.into_iter().unzip();
        let mut items = Vec::with_capacity(ops.len() * 2);
        for op in &ops {
            if let Some(item) = op.item() {
                items.push(item);
                items.push(PipelineItem::Sync);
            }
        }
        let request = Request::Pipeline(items);
        let mut response = crate::pipeline::response();
        let mut cancelled = None;
        match self.begin(&request) {
            Ok(step) => {
                let mut watch = Watch::Batch {
                    replies: &mut replies,
                    running: 0,
                    cancelled: None,
                };
                let result = self
                    .drive(step, None, &mut response, None, &mut watch)
                    .await;
                if let Watch::Batch { cancelled: c, .. } = watch {
                    cancelled = c;
                }
                self.session.in_request = false;
                if let Err(e) = result {
                    response.add_error(e);
                }
            }
            Err(e) => {
                // Nothing was sent: every statement gets the error as it is.
                for reply in replies.into_iter().flatten() {
                    let _ = reply.send(Err(e.duplicate()));
                }
                return;
            }
        }
        drop(request);
        let layout = std::iter::repeat_n([false, true], ops.len()).flatten();
        let outcomes = crate::pipeline::split(response, layout);
        let mut again = Vec::new();
        for (i, ((op, reply), outcome)) in ops.into_iter().zip(replies).zip(outcomes).enumerate() {
            // A cancel request meant for an abandoned statement can reach the server after it
            // ended, and interrupt the next one: that one, in its own implicit transaction,
            // was rolled back and runs again alone.
            let missed_cancel = |e: &Error| {
                cancelled.is_some_and(|c| c != i)
                    && e.as_db_error().is_some_and(|db| db.code() == "57014")
            };
            let result = match outcome.result {
                Ok(result) => Ok(Response {
                    results: result.into_iter().collect(),
                    ..Response::default()
                }),
                Err(e)
                    if outcome.synced == Some(TxStatus::Idle)
                        && ((stale(&e) && matches!(op, Op::Query { .. })) || missed_cancel(&e)) =>
                {
                    again.push((op, reply));
                    continue;
                }
                Err(e) => Err(e),
            };
            if let Some(reply) = reply {
                let _ = reply.send(result);
            }
        }
        if !again.is_empty() {
            // A cancel request still on its way must not reach what runs again.
            self.settle_cancel().await;
        }
        for (op, mut reply) in again {
            let mut watch = match &mut reply {
                Some(tx) => Watch::Reply(tx),
                None => Watch::Nobody,
            };
            let result = self.request(&op, &mut watch).await;
            if let Some(reply) = reply {
                let _ = reply.send(result);
            }
        }
    }

    async fn stream_rows(
        &mut self,
        op: &Op,
        tx: &mpsc::Sender<RowsMsg>,
    ) -> Result<Option<u64>, Error> {
        let step = self.begin(&op.request())?;
        let mut response = Response::default();
        let mut copy = Copy {
            stream_rows: true,
            ..Copy::default()
        };
        let mut step = Some(step);
        let mut columns_sent = false;
        loop {
            let stop = self
                .drive(
                    step.take().unwrap_or_else(Session::read_step),
                    None,
                    &mut response,
                    Some(&mut copy),
                    &mut Watch::Rows(tx),
                )
                .await;
            let stop = stop?;
            if !columns_sent {
                if let Some(columns) = copy.columns.take() {
                    columns_sent = true;
                    let _ = tx.send(RowsMsg::Columns(columns)).await;
                }
            }
            // Waiting for the reader here is the back-pressure: the socket is not read
            // meanwhile. A reader that went away gets nothing more.
            while let Some(batch) = copy.batches.pop_front() {
                if !tx.is_closed() {
                    let _ = tx.send(RowsMsg::Batch(batch)).await;
                }
            }
            if stop == Stop::Done {
                break;
            }
        }
        let response = crate::session::outcome(response)?;
        if !columns_sent {
            if let Some(columns) = copy.columns.take() {
                let _ = tx.send(RowsMsg::Columns(columns)).await;
            }
        }
        Ok(response.rows_affected())
    }

    async fn copy_out(
        &mut self,
        op: &Op,
        tx: &mpsc::Sender<Result<Vec<u8>, Error>>,
    ) -> Result<(), Error> {
        let step = self.begin(&op.request())?;
        let mut response = Response::default();
        let mut copy = Copy::default();
        let mut step = Some(step);
        loop {
            let stop = self
                .drive(
                    step.take().unwrap_or_else(Session::read_step),
                    None,
                    &mut response,
                    Some(&mut copy),
                    &mut Watch::Bytes(tx),
                )
                .await;
            let stop = stop?;
            if stop == Stop::CopyIn {
                // COPY FROM STDIN through copy_out: abort it, as the sync client does.
                response.add_error(Error::new(
                    ErrorKind::Usage,
                    "COPY FROM STDIN runs through copy_in",
                ));
                step = Some(self.call(&Request::CopyFail(Cow::Borrowed(
                    "COPY FROM STDIN was run through copy_out",
                )))?);
                continue;
            }
            while let Some(data) = copy.data.pop_front() {
                if !tx.is_closed() {
                    let _ = tx.send(Ok(data)).await;
                }
            }
            if stop == Stop::Done {
                break;
            }
        }
        crate::session::outcome(response)?;
        if !copy.copy_out {
            return Err(Error::new(
                ErrorKind::Usage,
                "copy_out runs COPY ... TO STDOUT; the statement was not one",
            ));
        }
        Ok(())
    }

    async fn copy_in(
        &mut self,
        op: &Op,
        started: oneshot::Sender<Result<(), Error>>,
        mut data: futures_channel::mpsc::Receiver<CopyMsg>,
    ) -> Result<u64, Error> {
        let step = match self.begin(&op.request()) {
            Ok(step) => step,
            Err(e) => {
                let _ = started.send(Err(e.duplicate()));
                return Err(e);
            }
        };
        let mut response = Response::default();
        let mut copy = Copy::default();
        let stop = self
            .drive(
                step,
                None,
                &mut response,
                Some(&mut copy),
                &mut Watch::Nobody,
            )
            .await;
        let mut stop = match stop {
            Ok(stop) => stop,
            Err(e) => {
                let _ = started.send(Err(e.duplicate()));
                return Err(e);
            }
        };
        if stop != Stop::CopyIn {
            // Not a COPY FROM STDIN (or it failed at once): run the request to its end.
            let end = self.finish_copy(stop, &mut response, &mut copy).await;
            let error = match (end, response.error.take()) {
                (Err(e), _) | (Ok(()), Some(e)) => e,
                (Ok(()), None) => Error::new(
                    ErrorKind::Usage,
                    "copy_in runs COPY ... FROM STDIN; the statement was not one",
                ),
            };
            let _ = started.send(Err(error.duplicate()));
            return Err(error);
        }
        let _ = started.send(Ok(()));
        loop {
            // The sink's next message, or server data meanwhile (an error that ended the COPY).
            let msg = {
                let Worker {
                    socket, read_buf, ..
                } = &mut *self;
                let Some(socket) = socket.as_mut() else {
                    return Err(Error::new(ErrorKind::Closed, "the connection is closed"));
                };
                tokio::select! {
                    biased;
                    read = socket.read(read_buf) => Err(read),
                    msg = std::future::poll_fn(|cx| Pin::new(&mut data).poll_next(cx)) => Ok(msg),
                }
            };
            let step = match msg {
                Ok(Some(CopyMsg::Data(bytes))) => {
                    // At most a piece at a time into the guest: its memory stays bounded.
                    let mut pieces = bytes.chunks(crate::copy::PIECE).peekable();
                    let mut step = None;
                    while let Some(piece) = pieces.next() {
                        let s = self.call(&Request::CopyData(Cow::Borrowed(piece)))?;
                        if pieces.peek().is_some() {
                            match self
                                .drive(s, None, &mut response, Some(&mut copy), &mut Watch::Nobody)
                                .await?
                            {
                                Stop::CopyIn => continue,
                                other => {
                                    stop = other;
                                    break;
                                }
                            }
                        }
                        step = Some(s);
                    }
                    match step {
                        Some(step) => step,
                        None if stop != Stop::CopyIn => break,
                        None => continue,
                    }
                }
                Ok(Some(CopyMsg::Done)) => self.call(&Request::CopyDone)?,
                Ok(Some(CopyMsg::Fail(reason))) => {
                    self.call(&Request::CopyFail(Cow::Borrowed(&reason)))?
                }
                Ok(None) => self.call(&Request::CopyFail(Cow::Borrowed(
                    "the COPY FROM STDIN sink was dropped before finish()",
                )))?,
                Err(Ok(n)) => self.feed(n)?,
                Err(Err(e)) => {
                    let e = self.session.io_failed("cannot read from the server", e);
                    self.socket = None;
                    return Err(e);
                }
            };
            stop = self
                .drive(
                    step,
                    None,
                    &mut response,
                    Some(&mut copy),
                    &mut Watch::Nobody,
                )
                .await?;
            if stop != Stop::CopyIn {
                break;
            }
        }
        self.finish_copy(stop, &mut response, &mut copy).await?;
        match response.error.take() {
            Some(e) => Err(e),
            None => Ok(response.rows_affected().unwrap_or(0)),
        }
    }

    /// Runs a COPY request that no longer takes data to its end, discarding COPY TO STDOUT
    /// data and aborting a COPY FROM STDIN that started anyway.
    async fn finish_copy(
        &mut self,
        mut stop: Stop,
        response: &mut Response,
        copy: &mut Copy,
    ) -> Result<(), Error> {
        loop {
            copy.data.clear();
            let step = match stop {
                Stop::Done => {
                    self.session.in_request = false;
                    return Ok(());
                }
                Stop::CopyData => Session::read_step(),
                Stop::CopyIn => self.call(&Request::CopyFail(Cow::Borrowed(
                    "the COPY was abandoned by the client",
                )))?,
            };
            stop = self
                .drive(step, None, response, Some(copy), &mut Watch::Nobody)
                .await?;
        }
    }

    fn begin(&mut self, request: &Request<'_>) -> Result<Step, Error> {
        let step = self.session.begin(request);
        self.sync_socket();
        if step.is_err() {
            // No drive follows to publish it: a trapped session is closed before its caller
            // gets the error.
            self.publish();
        }
        step
    }

    fn call(&mut self, request: &Request<'_>) -> Result<Step, Error> {
        let step = self.session.call(request);
        self.sync_socket();
        step
    }

    fn feed(&mut self, n: usize) -> Result<Step, Error> {
        let step = self.session.feed(&self.read_buf[..n]);
        self.sync_socket();
        step
    }

    /// Drops the socket once the session has ended.
    fn sync_socket(&mut self) {
        if self.session.is_closed() {
            self.socket = None;
        }
    }

    /// Performs the socket operations the step loop asks for until it stops. While it waits
    /// for the server, a caller that went away gets the statement cancelled (once). What the
    /// clients read (transaction status, notices, closed) is published before the caller is
    /// answered: `in_transaction()` right after a `BEGIN` resolves must see it.
    async fn drive(
        &mut self,
        step: Step,
        connect_timeout: Option<Duration>,
        response: &mut Response,
        copy: Option<&mut Copy>,
        watch: &mut Watch<'_>,
    ) -> Result<Stop, Error> {
        let result = self
            .drive_steps(step, connect_timeout, response, copy, watch)
            .await;
        if result.is_err() {
            // The request is over (the session, too, mostly).
            self.session.in_request = false;
        }
        self.publish();
        result
    }

    async fn drive_steps(
        &mut self,
        mut step: Step,
        connect_timeout: Option<Duration>,
        response: &mut Response,
        mut copy: Option<&mut Copy>,
        watch: &mut Watch<'_>,
    ) -> Result<Stop, Error> {
        let mut drive = Drive::new(connect_timeout);
        loop {
            let advanced = drive.advance(&mut self.session, step, response, copy.as_deref_mut());
            let (send, next) = match advanced {
                Ok(v) => v,
                Err(e) => {
                    self.sync_socket();
                    return Err(e);
                }
            };
            self.send(&send).await?;
            self.sync_socket();
            step = match next {
                Next::Stop(stop) => return Ok(stop),
                Next::Read => {
                    watch.progress(response);
                    let n = self.read(watch).await?;
                    self.feed(n)?
                }
                Next::Open {
                    endpoint,
                    timeout,
                    prefer,
                    keepalive,
                } => {
                    self.socket = None;
                    let opened = Socket::connect(&endpoint, timeout, prefer.as_deref())
                        .await
                        .map(|socket| {
                            if let Some(keepalive) = &keepalive {
                                socket.set_keepalive(keepalive);
                            }
                            let peer = socket.peer_addr();
                            self.socket = Some(socket);
                            peer
                        });
                    let step = self.session.opened(opened);
                    self.sync_socket();
                    step?
                }
            };
        }
    }

    async fn send(&mut self, bytes: &[u8]) -> Result<(), Error> {
        if bytes.is_empty() {
            return Ok(());
        }
        let Some(socket) = &mut self.socket else {
            return Err(Error::new(ErrorKind::Closed, "no connection to send on"));
        };
        if let Err(e) = socket.write_all(bytes).await {
            let e = self.session.io_failed("cannot write to the server", e);
            self.socket = None;
            return Err(e);
        }
        Ok(())
    }

    /// Reads within the session's read timeout. If the job's caller goes away meanwhile, a
    /// cancel request goes out (on its own task) and the read goes on: the request is run to
    /// its end, its results discarded.
    async fn read(&mut self, watch: &mut Watch<'_>) -> Result<usize, Error> {
        let timeout = match self.session.read_timeout() {
            Ok(t) => t,
            Err(e) => {
                self.session.close();
                self.socket = None;
                return Err(e);
            }
        };
        let deadline = timeout.map(|t| tokio::time::Instant::now() + t);
        let mut watching = true;
        loop {
            let Worker {
                socket,
                read_buf,
                cancel,
                cancelling,
                ..
            } = &mut *self;
            let Some(socket) = socket.as_mut() else {
                return Err(Error::new(ErrorKind::Closed, "no connection to read from"));
            };
            let read = async {
                match deadline {
                    Some(d) => tokio::time::timeout_at(d, socket.read(read_buf)).await,
                    None => Ok(socket.read(read_buf).await),
                }
            };
            let result = tokio::select! {
                biased;
                result = read => result,
                _ = watch.abandoned(), if watching => {
                    watching = false;
                    watch.cancelled();
                    let idle = cancelling.as_ref().is_none_or(|h| h.is_finished());
                    if let (true, Some(token)) = (idle, cancel) {
                        *cancelling = Some(tokio::spawn(token.clone().cancel_detached()));
                    }
                    continue;
                }
            };
            return match result {
                Ok(Ok(n)) => Ok(n),
                Err(_elapsed) => {
                    let e = self.session.timed_out();
                    self.socket = None;
                    Err(e)
                }
                Ok(Err(e)) => {
                    let e = self.session.io_failed("cannot read from the server", e);
                    self.socket = None;
                    Err(e)
                }
            };
        }
    }
}
