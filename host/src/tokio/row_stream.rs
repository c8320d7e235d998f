//! [`RowStream`]: [`Client::query_raw`](super::Client::query_raw)'s rows as a `Stream`, a batch
//! at a time, with the connection reading no further than a few batches ahead.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_core::Stream;
use tokio::sync::mpsc;

use crate::error::{Error, ErrorKind};
use crate::row::{rows_from_batches, Column, Row};

use super::connection::RowsMsg;

/// The rows of a statement as they arrive. Dropping it before the end cancels the statement
/// on the server (its remaining rows are discarded).
pub struct RowStream {
    rx: mpsc::Receiver<RowsMsg>,
    columns: Arc<[Column]>,
    rows: VecDeque<Row>,
    /// A message taken while starting (before the columns were known).
    first: Option<RowsMsg>,
    rows_affected: Option<u64>,
    ended: bool,
}

impl std::fmt::Debug for RowStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RowStream")
            .field("columns", &self.columns.len())
            .field("rows_affected", &self.rows_affected)
            .finish_non_exhaustive()
    }
}

impl RowStream {
    /// Waits for the statement's columns (or its error: a bad statement fails the call).
    pub(crate) async fn start(mut rx: mpsc::Receiver<RowsMsg>) -> Result<RowStream, Error> {
        let mut stream = RowStream {
            rx: mpsc::channel(1).1,
            columns: Arc::from(Vec::new()),
            rows: VecDeque::new(),
            first: None,
            rows_affected: None,
            ended: false,
        };
        match rx.recv().await {
            Some(RowsMsg::Columns(columns)) => stream.columns = columns,
            Some(RowsMsg::End(Err(e))) => return Err(e),
            Some(other) => stream.first = Some(other),
            None => return Err(Error::new(ErrorKind::Closed, "the connection is closed")),
        }
        stream.rx = rx;
        Ok(stream)
    }

    /// The statement's columns.
    pub fn columns(&self) -> &[Column] {
        &self.columns
    }

    /// The number of rows the statement affected or returned, once the stream has ended.
    pub fn rows_affected(&self) -> Option<u64> {
        self.rows_affected
    }
}

impl Stream for RowStream {
    type Item = Result<Row, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            if let Some(row) = this.rows.pop_front() {
                return Poll::Ready(Some(Ok(row)));
            }
            if this.ended {
                return Poll::Ready(None);
            }
            let msg = match this.first.take() {
                Some(msg) => msg,
                None => match this.rx.poll_recv(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Some(msg)) => msg,
                    Poll::Ready(None) => {
                        this.ended = true;
                        return Poll::Ready(Some(Err(Error::new(
                            ErrorKind::Closed,
                            "the connection closed while rows were streamed; the statement's \
                             outcome is unknown",
                        ))));
                    }
                },
            };
            match msg {
                RowsMsg::Columns(columns) => this.columns = columns,
                RowsMsg::Batch(batch) => match rows_from_batches(&this.columns, vec![batch]) {
                    Ok(rows) => this.rows.extend(rows),
                    Err(e) => return Poll::Ready(Some(Err(e))),
                },
                RowsMsg::End(Ok(n)) => {
                    this.ended = true;
                    this.rows_affected = n;
                }
                RowsMsg::End(Err(e)) => {
                    this.ended = true;
                    return Poll::Ready(Some(Err(e)));
                }
            }
        }
    }
}
