//! COPY: [`Client::copy_in`] returns a [`CopyInWriter`] (`std::io::Write`; `finish()` returns
//! the row count) and [`Client::copy_out`] a [`CopyOutReader`] (`std::io::Read` and `BufRead`),
//! as in rust-postgres; [`Client::simple_query_with_copy`] runs any SQL as `psql -c` does, COPY
//! FROM STDIN reading from a reader and COPY TO STDOUT writing to a writer.
//!
//! The guest frames and parses everything (docs/abi.md, action `i`, events `G`, `H`, `D`); this
//! side buffers the caller's writes into pieces of [`PIECE`] bytes and hands the guest's data
//! chunks over as they come, so memory is bounded by one piece and one chunk whatever the size
//! of the COPY. Between pieces, whatever the server sent is given to the guest without waiting:
//! a server error (a bad row) ends the COPY at once, and the writer reports it on its next
//! write instead of sending the rest for nothing.

use std::borrow::Cow;
use std::io::{self, BufRead, Read, Write};

use wasmpg_wire::Request;

use crate::client::Client;
use crate::connection::{Copy, Stop};
use crate::error::{Error, ErrorKind};
use crate::results::Response;
use crate::row::SimpleQueryMessage;

/// Bytes of COPY data gathered before they go to the guest (and on to the server).
pub(crate) const PIECE: usize = 64 << 10;

/// The CopyFail reasons: a COPY given up on, and a COPY FROM STDIN that `copy_out` ran.
const ABANDONED: &str = "the COPY was abandoned";
const COPY_IN_IN_COPY_OUT: &str = "copy_out ran COPY FROM STDIN";

impl Client {
    /// Starts `COPY ... FROM STDIN`: write the data (in the statement's format) to the returned
    /// writer, then call [`CopyInWriter::finish`]. Dropping the writer unfinished aborts the
    /// COPY (CopyFail): nothing of it is applied.
    pub fn copy_in(&mut self, sql: &str) -> Result<CopyInWriter<'_>, Error> {
        let (stop, mut response, mut copy) = self.start_copy(sql)?;
        match stop {
            Stop::CopyIn => Ok(CopyInWriter {
                client: self,
                buf: Vec::with_capacity(PIECE),
                response,
                copy,
                state: WriterState::Open,
            }),
            _ => {
                // Not a COPY FROM STDIN, or it failed at once: the request is over.
                self.drain_copy(stop, ABANDONED, &mut response, &mut copy);
                Err(response.error.unwrap_or_else(|| {
                    Error::new(
                        ErrorKind::Usage,
                        "copy_in: the statement did not start COPY FROM STDIN",
                    )
                }))
            }
        }
    }

    /// Starts `COPY ... TO STDOUT`: read the data from the returned reader until it ends.
    /// Dropping the reader early reads (and discards) the rest, so the connection stays usable.
    pub fn copy_out(&mut self, sql: &str) -> Result<CopyOutReader<'_>, Error> {
        let (stop, mut response, mut copy) = self.start_copy(sql)?;
        if let Some(error) = response.error.take() {
            self.drain_copy(stop, ABANDONED, &mut response, &mut copy);
            return Err(error);
        }
        if !copy.copy_out && stop == Stop::Done {
            return Err(Error::new(
                ErrorKind::Usage,
                "copy_out: the statement did not start COPY TO STDOUT",
            ));
        }
        if stop == Stop::CopyIn {
            self.drain_copy(stop, COPY_IN_IN_COPY_OUT, &mut response, &mut copy);
            return Err(Error::new(
                ErrorKind::Usage,
                "copy_out: the statement started COPY FROM STDIN (use copy_in)",
            ));
        }
        Ok(CopyOutReader {
            client: self,
            chunk: Vec::new(),
            pos: 0,
            response,
            copy,
            done: stop == Stop::Done,
        })
    }

    /// Runs one or more statements with the simple query protocol, as `psql -c` does: each
    /// COPY FROM STDIN reads `input` to its end, each COPY TO STDOUT writes to `output`. The
    /// first error is returned once the request is over; a failure to read `input` aborts that
    /// COPY with the failure as its reason, and a failure to write `output` is reported after
    /// the server's data was received.
    pub fn simple_query_with_copy(
        &mut self,
        sql: &str,
        input: &mut dyn Read,
        output: &mut dyn Write,
    ) -> Result<Vec<SimpleQueryMessage>, Error> {
        let (mut stop, mut response, mut copy) = self.start_copy(sql)?;
        let mut output_error: Option<io::Error> = None;
        let mut buf = vec![0u8; PIECE];
        loop {
            // Data may come with any stop, the request's end included.
            while let Some(data) = copy.data.pop_front() {
                if output_error.is_none() {
                    if let Err(e) = output.write_all(&data) {
                        output_error = Some(e);
                    }
                }
            }
            stop = match stop {
                Stop::Done => break,
                Stop::CopyData => self.conn.resume(&mut response, &mut copy)?,
                Stop::CopyIn => match read_piece(input, &mut buf) {
                    Ok(0) => self
                        .conn
                        .copy_send(&Request::CopyDone, &mut response, &mut copy)?,
                    Ok(n) => self.conn.copy_send(
                        &Request::CopyData(Cow::Borrowed(&buf[..n])),
                        &mut response,
                        &mut copy,
                    )?,
                    Err(e) => {
                        let reason = format!("could not read the COPY data: {e}");
                        self.conn.copy_send(
                            &Request::CopyFail(Cow::Owned(reason)),
                            &mut response,
                            &mut copy,
                        )?
                    }
                },
            };
        }
        if output_error.is_none() {
            if let Err(e) = output.flush() {
                output_error = Some(e);
            }
        }
        if let Some(error) = response.error {
            return Err(error);
        }
        if let Some(e) = output_error {
            return Err(Error::with_cause(
                ErrorKind::Io,
                "could not write the COPY TO STDOUT data",
                e.into(),
            ));
        }
        crate::client::simple_messages(response)
    }

    /// Sends `sql` as a simple query that may run COPY, up to its first stop.
    fn start_copy(&mut self, sql: &str) -> Result<(Stop, Response, Copy), Error> {
        let mut response = Response::default();
        let mut copy = Copy::default();
        let stop = self.conn.request_copy(
            &Request::SimpleQuery(Cow::Borrowed(sql)),
            &mut response,
            &mut copy,
        )?;
        Ok((stop, response, copy))
    }

    /// Ends a request that stopped for COPY or streamed rows, whatever its state: data and row
    /// batches are discarded, a COPY FROM STDIN is aborted with `abort_reason`. Errors of the
    /// request are kept in `response` (a failure of the connection too).
    pub(crate) fn drain_copy(
        &mut self,
        mut stop: Stop,
        abort_reason: &str,
        response: &mut Response,
        copy: &mut Copy,
    ) {
        loop {
            let next = match stop {
                Stop::Done => return,
                Stop::CopyData => {
                    copy.data.clear();
                    copy.batches.clear();
                    self.conn.resume(response, copy)
                }
                Stop::CopyIn => self.conn.copy_send(
                    &Request::CopyFail(Cow::Borrowed(abort_reason)),
                    response,
                    copy,
                ),
            };
            match next {
                Ok(s) => stop = s,
                Err(e) => {
                    response.add_error(e);
                    return;
                }
            }
        }
    }
}

/// Reads up to a piece of COPY data: fewer bytes only at the end of the input.
fn read_piece(input: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match input.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WriterState {
    /// The server takes data.
    Open,
    /// The server ended the COPY (its error is in the response), or the writer finished.
    Over,
}

/// The data of a `COPY ... FROM STDIN` ([`Client::copy_in`]).
pub struct CopyInWriter<'a> {
    client: &'a mut Client,
    buf: Vec<u8>,
    response: Response,
    copy: Copy,
    state: WriterState,
}

impl CopyInWriter<'_> {
    /// Sends what is buffered, then the end of the data, and waits for the server: the number
    /// of rows copied, or the server's error (a bad row: SQLSTATE 22P02, ...).
    pub fn finish(mut self) -> Result<u64, Error> {
        self.send_buffered()?;
        let stop =
            self.client
                .conn
                .copy_send(&Request::CopyDone, &mut self.response, &mut self.copy);
        self.state = WriterState::Over;
        let stop = stop?;
        self.client
            .drain_copy(stop, ABANDONED, &mut self.response, &mut self.copy);
        if let Some(error) = self.response.error.take() {
            return Err(error);
        }
        Ok(self.response.rows_affected().unwrap_or(0))
    }

    /// Hands the buffered data to the guest. An error means the COPY is over.
    fn send_buffered(&mut self) -> Result<(), Error> {
        if self.state == WriterState::Over {
            return Err(self.over_error());
        }
        if self.buf.is_empty() {
            return Ok(());
        }
        let buf = std::mem::take(&mut self.buf);
        let result = self.send_piece(&buf);
        self.buf = buf;
        self.buf.clear();
        result
    }

    /// Hands one piece of data to the guest. An error means the COPY is over: the server ended
    /// it (a bad row; the request is then run to its end) or the connection failed.
    fn send_piece(&mut self, piece: &[u8]) -> Result<(), Error> {
        let result = self.client.conn.copy_send(
            &Request::CopyData(Cow::Borrowed(piece)),
            &mut self.response,
            &mut self.copy,
        );
        match result {
            Ok(Stop::CopyIn) => Ok(()),
            Ok(stop) => {
                self.state = WriterState::Over;
                self.client
                    .drain_copy(stop, ABANDONED, &mut self.response, &mut self.copy);
                Err(self.over_error())
            }
            Err(e) => {
                self.state = WriterState::Over;
                self.response.add_error(e.duplicate());
                Err(e)
            }
        }
    }

    /// The error that ended the COPY (kept for `finish`, reported to every later write).
    fn over_error(&mut self) -> Error {
        match &self.response.error {
            Some(e) => e.duplicate(),
            None => Error::new(ErrorKind::Usage, "the COPY is over"),
        }
    }
}

impl Write for CopyInWriter<'_> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.state == WriterState::Over {
            return Err(io::Error::other(self.over_error()));
        }
        if self.buf.len() + data.len() > PIECE && !self.buf.is_empty() {
            self.send_buffered().map_err(io::Error::other)?;
        }
        if data.len() >= PIECE {
            // A large write goes piece by piece, without a copy into the buffer (and without
            // handing the guest more than a piece at once: its memory stays bounded).
            let n = data.len() - data.len() % PIECE;
            for piece in data[..n].chunks(PIECE) {
                self.send_piece(piece).map_err(io::Error::other)?;
            }
            // The rest (less than a piece) is buffered.
            self.buf.extend_from_slice(&data[n..]);
            return Ok(data.len());
        }
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send_buffered().map_err(io::Error::other)
    }
}

impl Drop for CopyInWriter<'_> {
    fn drop(&mut self) {
        if self.state == WriterState::Open && !self.client.is_closed() {
            self.client.drain_copy(
                Stop::CopyIn,
                "the COPY FROM STDIN writer was dropped before finish()",
                &mut self.response,
                &mut self.copy,
            );
        }
    }
}

/// The data of a `COPY ... TO STDOUT` ([`Client::copy_out`]).
pub struct CopyOutReader<'a> {
    client: &'a mut Client,
    chunk: Vec<u8>,
    pos: usize,
    response: Response,
    copy: Copy,
    /// The request is over (ReadyForQuery, or the session ended).
    done: bool,
}

impl CopyOutReader<'_> {
    /// The number of rows copied, once the reader reached the end (`None` before).
    pub fn rows(&self) -> Option<u64> {
        if !self.done {
            return None;
        }
        self.response.rows_affected()
    }

    /// Makes the next chunk current; false at the end of the data.
    fn next_chunk(&mut self) -> Result<bool, Error> {
        loop {
            if let Some(chunk) = self.copy.data.pop_front() {
                self.chunk = chunk;
                self.pos = 0;
                return Ok(true);
            }
            if self.done {
                return match &self.response.error {
                    Some(e) => Err(e.duplicate()),
                    None => Ok(false),
                };
            }
            match self.client.conn.resume(&mut self.response, &mut self.copy) {
                Ok(Stop::CopyData) => {}
                Ok(Stop::Done) => self.done = true,
                Ok(Stop::CopyIn) => {
                    // A later statement of the same SQL started COPY FROM STDIN.
                    self.client.drain_copy(
                        Stop::CopyIn,
                        COPY_IN_IN_COPY_OUT,
                        &mut self.response,
                        &mut self.copy,
                    );
                    self.done = true;
                }
                Err(e) => {
                    self.done = true;
                    self.response.add_error(e.duplicate());
                    return Err(e);
                }
            }
        }
    }
}

impl Read for CopyOutReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let available = self.fill_buf()?;
        let n = available.len().min(buf.len());
        buf[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl BufRead for CopyOutReader<'_> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.pos >= self.chunk.len() && !self.next_chunk().map_err(io::Error::other)? {
            return Ok(&[]);
        }
        Ok(&self.chunk[self.pos..])
    }

    fn consume(&mut self, amount: usize) {
        self.pos = (self.pos + amount).min(self.chunk.len());
    }
}

impl Drop for CopyOutReader<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.client.drain_copy(
                Stop::CopyData,
                ABANDONED,
                &mut self.response,
                &mut self.copy,
            );
        }
    }
}
