//! COPY: the server's CopyInResponse and CopyOutResponse, the host's data for COPY FROM STDIN
//! (framed as CopyData, ended by CopyDone or CopyFail), and COPY TO STDOUT's data gathered into
//! bounded chunks for the host.
//!
//! COPY FROM STDIN: CopyInResponse puts the session in `State::CopyIn` (the `copy-in` action);
//! the host then sends data (`D` requests, split anyhow), and `F` or `f`. A server error while
//! the host is still sending (a bad row, a terminated backend) ends copy-in mode at once: the
//! host sees the error and `read`, and stops. Under the extended protocol the server ignores
//! the Sync that followed Execute while it is in copy-in mode, so one more is sent when the
//! copy ends either way.
//!
//! COPY TO STDOUT: each CopyData message is appended whole to a chunk that is handed over as a
//! `copy-data` event once it reaches `batch_bytes`, and with every step, so memory stays bounded
//! by the chunk size however much the server sends. A chunk is text when the format is text or
//! CSV and the data is UTF-8 (it always is, the client encoding being UTF8); otherwise its bytes
//! go as latin-1 characters.

use postgres_protocol::message::backend::{CopyInResponseBody, CopyOutResponseBody};
use wasmpg_wire::escape;

use super::*;

/// The largest CopyData message the session writes: a host's larger piece is split.
const MAX_COPY_MESSAGE: usize = 1 << 20;

/// COPY TO STDOUT in progress.
#[derive(Debug, Default)]
pub(super) struct CopyOut {
    /// Binary format: the data goes as latin-1 characters.
    binary: bool,
    /// The chunk being gathered, escaped.
    chunk: String,
    /// The chunk is UTF-8 text (else latin-1 characters).
    text: bool,
    /// The chunk contains escapes.
    escaped: bool,
}

/// A COPY data chunk for the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyChunk {
    pub text: bool,
    pub escaped: bool,
    pub data: String,
}

impl Session {
    pub(super) fn copy_in_response(&mut self, body: &CopyInResponseBody) -> Result<(), Error> {
        let columns = count_formats(body.column_formats())?;
        self.results_seen = true;
        self.state = State::CopyIn;
        self.events.push(Event::CopyIn {
            binary: body.format() != 0,
            columns,
        });
        Ok(())
    }

    pub(super) fn copy_out_response(&mut self, body: &CopyOutResponseBody) -> Result<(), Error> {
        let columns = count_formats(body.column_formats())?;
        self.results_seen = true;
        let binary = body.format() != 0;
        self.copy_out = Some(CopyOut {
            binary,
            ..CopyOut::default()
        });
        self.events.push(Event::CopyOut { binary, columns });
        Ok(())
    }

    /// One CopyData message of COPY TO STDOUT.
    pub(super) fn copy_out_data(&mut self, data: &[u8]) -> Result<(), Error> {
        let batch_bytes = self.opts.batch_bytes as usize;
        let Some(copy) = &mut self.copy_out else {
            return Err(Error::protocol("CopyData outside COPY TO STDOUT"));
        };
        let text = if copy.binary {
            None
        } else {
            std::str::from_utf8(data).ok()
        };
        if !copy.chunk.is_empty() && copy.text != text.is_some() {
            self.flush_copy();
        }
        let Some(copy) = &mut self.copy_out else {
            return Err(Error::protocol("CopyData outside COPY TO STDOUT"));
        };
        copy.text = text.is_some();
        match text {
            Some(text) => copy.escaped |= escape::escape_into(&mut copy.chunk, text),
            None => copy.escaped |= escape::escape_latin1_into(&mut copy.chunk, data),
        }
        if copy.chunk.len() >= batch_bytes {
            self.flush_copy();
        }
        Ok(())
    }

    /// The CopyData messages at the front of the input, handled in place: one message per row
    /// is the bulk of a COPY TO STDOUT, and parsing each into a message of its own (a shared
    /// buffer split off, reference counts) cost more than the row itself. Anything else, or a
    /// length the framing would refuse, is left to the framing.
    pub(super) fn take_copy_data(&mut self) -> Result<(), Error> {
        let mut input = std::mem::take(&mut self.inbuf);
        let mut at = 0;
        let result = loop {
            let Some(header) = input.get(at..at + 5) else {
                break Ok(());
            };
            if header[0] != b'd' {
                break Ok(());
            }
            let len = u32::from_be_bytes([header[1], header[2], header[3], header[4]]);
            if len < 4 || u64::from(len) + 1 > u64::from(self.opts.max_message_size) {
                break Ok(());
            }
            let end = at + 1 + len as usize;
            let Some(data) = input.get(at + 5..end) else {
                break Ok(());
            };
            if let Err(e) = self.copy_out_data(data) {
                break Err(e);
            }
            at = end;
        };
        bytes::Buf::advance(&mut input, at);
        self.inbuf = input;
        result
    }

    /// CopyDone of COPY TO STDOUT: the data ends (CommandComplete follows).
    pub(super) fn copy_out_done(&mut self) -> Result<(), Error> {
        if self.copy_out.is_none() {
            return Err(Error::protocol("CopyDone outside COPY TO STDOUT"));
        }
        self.flush_copy();
        self.copy_out = None;
        Ok(())
    }

    /// Hands the COPY TO STDOUT data gathered so far to the host.
    pub(super) fn flush_copy(&mut self) {
        if let Some(copy) = &mut self.copy_out {
            if !copy.chunk.is_empty() {
                let chunk = CopyChunk {
                    text: copy.text,
                    escaped: copy.escaped,
                    data: std::mem::take(&mut copy.chunk),
                };
                copy.escaped = false;
                self.events.push(Event::CopyData(chunk));
            }
        }
    }

    /// A server message while the host is sending COPY FROM STDIN's data.
    pub(super) fn handle_copy_in(&mut self, message: Message) -> Result<(), Error> {
        match message {
            Message::ErrorResponse(body) => {
                let db = DbError::parse(body.fields())?;
                // The server left copy-in mode; what the host sends from now on is dropped.
                self.state = State::Busy;
                if self.extended {
                    frontend::sync(&mut self.out);
                }
                self.server_error(db)
            }
            other => Err(Error::protocol(format!(
                "unexpected message {} during COPY FROM STDIN",
                message_name(&other)
            ))),
        }
    }

    /// Data for COPY FROM STDIN (the `D` request).
    pub fn copy_data(&mut self, data: &[u8]) -> Step {
        if let Err(e) = self.copy_in_only() {
            return self.refuse_copy(e);
        }
        for piece in data.chunks(MAX_COPY_MESSAGE) {
            self.out.reserve(piece.len() + 5);
            self.out.extend_from_slice(b"d");
            // Invariant: a piece is at most MAX_COPY_MESSAGE (1 MiB) long, so the length fits.
            let len = u32::try_from(piece.len() + 4).unwrap_or(u32::MAX);
            self.out.extend_from_slice(&len.to_be_bytes());
            self.out.extend_from_slice(piece);
        }
        self.finish()
    }

    /// The end of COPY FROM STDIN (the `F` request): CopyDone.
    pub fn copy_done(&mut self) -> Step {
        if let Err(e) = self.copy_in_only() {
            return self.refuse_copy(e);
        }
        frontend::copy_done(&mut self.out);
        self.end_copy_in();
        self.finish()
    }

    /// Aborts COPY FROM STDIN (the `f` request): CopyFail with the reason, which the server
    /// reports back in its error (SQLSTATE 57014).
    pub fn copy_fail(&mut self, reason: &str) -> Step {
        if let Err(e) = self.copy_in_only() {
            return self.refuse_copy(e);
        }
        // A NUL cannot go in the message; the reason is the host's, so it is cut there.
        let reason = reason.split('\0').next().unwrap_or("");
        if let Err(e) = frontend::copy_fail(reason, &mut self.out) {
            return self.fail(write_err(e));
        }
        self.end_copy_in();
        self.finish()
    }

    fn end_copy_in(&mut self) {
        if self.extended {
            frontend::sync(&mut self.out);
        }
        self.state = State::Busy;
    }

    fn copy_in_only(&self) -> Result<(), Error> {
        match self.state {
            State::CopyIn => Ok(()),
            State::Closed => Err(Error::new(ErrorKind::Closed, "the session is closed")),
            _ => Err(Error::new(
                ErrorKind::Usage,
                "no COPY FROM STDIN is in progress (the server may have ended it with an error)",
            )),
        }
    }

    /// Refuses a COPY request, leaving the session as it is.
    fn refuse_copy(&mut self, error: Error) -> Step {
        self.events.push(Event::Error(error));
        self.finish()
    }
}

fn count_formats(
    mut formats: postgres_protocol::message::backend::ColumnFormats<'_>,
) -> Result<u32, Error> {
    let mut n = 0u32;
    while formats.next().map_err(malformed)?.is_some() {
        n += 1;
    }
    Ok(n)
}
