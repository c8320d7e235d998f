//! [`Client::query_raw`]: a statement's rows as they arrive, in bounded memory (rust-postgres's
//! `RowIter`). The guest hands rows over in batches of a bounded size; the iterator keeps one
//! batch at a time and reads the socket only when it is used up.

use std::collections::VecDeque;
use std::sync::Arc;

use crate::client::{encode_params, statement_request, Client, ToStatement};
use crate::connection::{Copy, Stop};
use crate::error::{Error, ErrorKind};
use crate::results::Response;
use crate::row::{rows_from_batches, Column, Row};
use crate::types::ToSql;

impl Client {
    /// Runs a statement and returns an iterator over its rows as they arrive: memory stays
    /// bounded by one batch of rows however many the statement returns. The connection is busy
    /// until the iterator ends; dropping it early reads (and discards) the rest.
    pub fn query_raw<T: ?Sized + ToStatement>(
        &mut self,
        statement: &T,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<RowIter<'_>, Error> {
        let (types, values) = encode_params(params)?;
        let request = statement_request(statement, types, values, params.len())?;
        let mut response = Response::default();
        let mut copy = Copy {
            stream_rows: true,
            ..Copy::default()
        };
        let stop = self.conn.request_copy(&request, &mut response, &mut copy)?;
        let mut iter = RowIter {
            client: self,
            columns: None,
            rows: VecDeque::new(),
            response,
            copy,
            stop,
            failed: false,
        };
        // An error before any row (a bad statement) is the call's.
        iter.step_until_rows()?;
        Ok(iter)
    }
}

/// The rows of [`Client::query_raw`], as they arrive.
pub struct RowIter<'a> {
    client: &'a mut Client,
    columns: Option<Arc<[Column]>>,
    rows: VecDeque<Row>,
    response: Response,
    copy: Copy,
    stop: Stop,
    /// The error was returned: the iterator is over.
    failed: bool,
}

impl RowIter<'_> {
    /// The number of rows the statement affected or returned, once the iterator has ended.
    pub fn rows_affected(&self) -> Option<u64> {
        if self.stop != Stop::Done {
            return None;
        }
        self.response.rows_affected()
    }

    /// The result's columns (known once the first step arrived).
    pub fn columns(&self) -> &[Column] {
        self.columns.as_deref().unwrap_or_default()
    }

    /// Reads until rows are buffered or the request is over; the request's error once it is.
    fn step_until_rows(&mut self) -> Result<(), Error> {
        loop {
            if self.columns.is_none() {
                if let Some(columns) = &self.copy.columns {
                    self.columns = Some(columns.clone());
                }
            }
            if let Some(batch) = self.copy.batches.pop_front() {
                let Some(columns) = &self.columns else {
                    return Err(Error::new(
                        ErrorKind::Protocol,
                        "rows arrived before their columns",
                    ));
                };
                self.rows.extend(rows_from_batches(columns, vec![batch])?);
                return Ok(());
            }
            match self.stop {
                Stop::Done => {
                    return match &self.response.error {
                        Some(e) => Err(e.duplicate()),
                        None => Ok(()),
                    }
                }
                // The batches were taken: read on. (A request that streams rows takes no
                // COPY: the connection aborts COPY FROM STDIN and drops COPY TO STDOUT's data,
                // so it never stops at `CopyIn`.)
                Stop::CopyData | Stop::CopyIn => self.resume()?,
            }
        }
    }

    /// Reads on; a failure of the connection ends the iterator with it.
    fn resume(&mut self) -> Result<(), Error> {
        match self.client.conn.resume(&mut self.response, &mut self.copy) {
            Ok(stop) => {
                self.stop = stop;
                Ok(())
            }
            Err(e) => {
                self.response.add_error(e.duplicate());
                self.stop = Stop::Done;
                Err(e)
            }
        }
    }
}

impl Iterator for RowIter<'_> {
    type Item = Result<Row, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(row) = self.rows.pop_front() {
            return Some(Ok(row));
        }
        if self.failed {
            return None;
        }
        match self.step_until_rows() {
            Ok(()) => self.rows.pop_front().map(Ok),
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }
}

impl Drop for RowIter<'_> {
    fn drop(&mut self) {
        // The rest of the result is read and dropped, so the connection can go on.
        self.client.drain_copy(
            self.stop,
            "the query's iterator was dropped",
            &mut self.response,
            &mut self.copy,
        );
    }
}
