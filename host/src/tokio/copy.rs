//! COPY for the async client: [`CopyInSink`] (a `Sink` of byte chunks for `COPY ... FROM
//! STDIN`) and [`CopyOutStream`] (a `Stream` of the chunks of `COPY ... TO STDOUT`), as
//! tokio-postgres's. Data crosses to the connection's task through bounded channels, so memory
//! stays bounded whichever side is slower.

use std::pin::Pin;
use std::task::{Context, Poll};

use futures_channel::mpsc as fmpsc;
use futures_core::Stream;
use futures_sink::Sink;
use tokio::sync::{mpsc, oneshot};

use crate::error::{Error, ErrorKind};

use super::connection::{CopyMsg, Job, Op};
use super::Client;

/// Chunks a sink or stream may hold ahead of the other side.
const CHUNKS_AHEAD: usize = 8;

fn closed() -> Error {
    Error::new(ErrorKind::Closed, "the connection is closed")
}

/// The data of a `COPY ... FROM STDIN` ([`Client::copy_in`]): send chunks of bytes (any
/// split), then [`finish`](CopyInSink::finish). Dropped before `finish`, the COPY is aborted
/// (CopyFail) and nothing is copied.
pub struct CopyInSink {
    tx: fmpsc::Sender<CopyMsg>,
    done: Option<oneshot::Receiver<Result<u64, Error>>>,
}

impl std::fmt::Debug for CopyInSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CopyInSink").finish_non_exhaustive()
    }
}

impl CopyInSink {
    pub(crate) async fn start(client: &Client, op: Op) -> Result<CopyInSink, Error> {
        let (tx, data) = fmpsc::channel(CHUNKS_AHEAD);
        let (started_tx, started) = oneshot::channel();
        let (done_tx, done) = oneshot::channel();
        client.submit(Job::CopyIn {
            op,
            started: started_tx,
            data,
            done: done_tx,
        })?;
        started.await.map_err(|_| closed())??;
        Ok(CopyInSink {
            tx,
            done: Some(done),
        })
    }

    /// Sends one chunk (waiting while the connection is behind).
    pub async fn send(&mut self, data: impl AsRef<[u8]>) -> Result<(), Error> {
        let msg = CopyMsg::Data(data.as_ref().to_vec());
        self.send_msg(msg).await
    }

    async fn send_msg(&mut self, msg: CopyMsg) -> Result<(), Error> {
        std::future::poll_fn(|cx| self.tx.poll_ready(cx))
            .await
            .map_err(|_| self.over())?;
        self.tx.start_send(msg).map_err(|_| self.over())
    }

    /// The COPY ended early (the server refused a row): [`finish`](CopyInSink::finish) has
    /// the error.
    fn over(&self) -> Error {
        Error::new(
            ErrorKind::Usage,
            "the COPY is over (the server ended it: finish() returns its error)",
        )
    }

    /// Ends the data and waits for the server: the number of rows copied, or its error (a
    /// bad row: SQLSTATE 22P02, ...).
    pub async fn finish(mut self) -> Result<u64, Error> {
        // A closed channel means the COPY already ended: the outcome says how.
        let _ = self.send_msg(CopyMsg::Done).await;
        self.outcome().await
    }

    /// Aborts the COPY with a reason (CopyFail): the server fails it, nothing is copied; the
    /// server's error is returned.
    pub async fn abort(mut self, reason: &str) -> Result<(), Error> {
        let _ = self.send_msg(CopyMsg::Fail(reason.to_owned())).await;
        match self.outcome().await {
            Ok(_) => Err(Error::new(
                ErrorKind::Protocol,
                "the server took an aborted COPY as complete",
            )),
            Err(e) if e.kind() == ErrorKind::Db => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn outcome(&mut self) -> Result<u64, Error> {
        match self.done.take() {
            Some(done) => done.await.map_err(|_| closed())?,
            None => Err(self.over()),
        }
    }
}

impl<T: AsRef<[u8]>> Sink<T> for CopyInSink {
    type Error = Error;

    fn poll_ready(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let this = &mut *self;
        this.tx.poll_ready(cx).map_err(|_| this.over())
    }

    fn start_send(mut self: Pin<&mut Self>, item: T) -> Result<(), Error> {
        let this = &mut *self;
        this.tx
            .start_send(CopyMsg::Data(item.as_ref().to_vec()))
            .map_err(|_| this.over())
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let this = &mut *self;
        Pin::new(&mut this.tx)
            .poll_flush(cx)
            .map_err(|_| this.over())
    }

    /// Flushes what was sent; the COPY ends with [`finish`](CopyInSink::finish).
    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        <Self as Sink<T>>::poll_flush(self, cx)
    }
}

/// The data of a `COPY ... TO STDOUT` ([`Client::copy_out`]), chunk by chunk as the server
/// sends it. Dropping it early cancels the COPY on the server.
pub struct CopyOutStream {
    rx: mpsc::Receiver<Result<Vec<u8>, Error>>,
}

impl std::fmt::Debug for CopyOutStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CopyOutStream").finish_non_exhaustive()
    }
}

impl CopyOutStream {
    pub(crate) async fn start(client: &Client, op: Op) -> Result<CopyOutStream, Error> {
        let (tx, rx) = mpsc::channel(CHUNKS_AHEAD);
        client.submit(Job::CopyOut { op, tx })?;
        Ok(CopyOutStream { rx })
    }
}

impl Stream for CopyOutStream {
    type Item = Result<Vec<u8>, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.rx.poll_recv(cx)
    }
}
