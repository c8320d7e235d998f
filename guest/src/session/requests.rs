//! The client's requests, encoded into the session's output: the simple query, the extended
//! query with the automatic statement cache (and its one transparent retry when a cached
//! statement went stale or was dropped), prepare/execute/close of named statements, Sync and
//! Terminate; the start of every request and the Bind/Execute encoding that pipelines
//! (`pipeline.rs`) share.

use std::borrow::Cow;

use bytes::BufMut;
use postgres_protocol::message::frontend;
use wasmpg_wire::batch;

use super::*;

impl Session {
    /// Whether a request may start: the session is connected and idle.
    pub(super) fn check_ready(&self) -> Result<(), Error> {
        match self.state {
            State::Ready => Ok(()),
            State::Closed => Err(Error::new(ErrorKind::Closed, "the session is closed")),
            _ => Err(Error::new(
                ErrorKind::Usage,
                "another request is in progress or the session is not connected",
            )),
        }
    }

    /// Starts a request: the Close(Statement) messages the cache owes go first (the only place
    /// they are sent, so a statement evicted while a request is in flight is closed only after
    /// that request ended).
    pub(super) fn begin_request(&mut self) -> Result<(), Error> {
        self.check_ready()?;
        self.closing = self.cache.take_evicted();
        for name in &self.closing {
            frontend::close(b'S', name, &mut self.out).map_err(write_err)?;
        }
        if let Some(retry) = self.retry.take() {
            self.spare_retry = Some(retry);
        }
        self.results_seen = false;
        self.deferred = None;
        self.extended = true;
        Ok(())
    }

    /// Simple query protocol: one or more statements.
    pub fn simple_query(&mut self, sql: &str) -> Step {
        if let Err(e) = self.begin_request() {
            return self.reject(e);
        }
        self.extended = false;
        if let Err(e) = frontend::query(sql, &mut self.out) {
            self.out.clear();
            return self.reject(write_err(e));
        }
        self.state = State::Busy;
        self.finish()
    }

    /// Extended query: Parse (unless cached) + Bind/Execute per parameter row + Sync.
    pub fn query(&mut self, sql: &str, param_types: &[u32], params: &str) -> Step {
        if let Err(e) = self.start_query(sql, param_types, params) {
            return self.reject(e);
        }
        self.finish()
    }

    pub(super) fn start_query(
        &mut self,
        sql: &str,
        param_types: &[u32],
        params: &str,
    ) -> Result<(), Error> {
        self.begin_request()?;
        match self.cache.lookup(sql, param_types) {
            Lookup::Hit(name, described) => {
                let reading = described.reading(self.utc).clone();
                self.send_executions(&name, Some((described, reading)), param_types, params)?;
                let mut retry = self.spare_retry.take().unwrap_or_default();
                retry.sql.clear();
                retry.sql.push_str(sql);
                retry.param_types.clear();
                retry.param_types.extend_from_slice(param_types);
                retry.params.clear();
                retry.params.push_str(params);
                retry.name = name;
                retry.idle_at_start = self.tx_status == TxStatus::Idle;
                self.retry = Some(retry);
            }
            Lookup::Miss(pending) => {
                let (name, target) = match pending {
                    None => (String::new(), DescribeTarget::Transient),
                    Some(pending) => (pending.name().to_owned(), DescribeTarget::Cache(pending)),
                };
                self.send_parse_describe(&name, sql, param_types, target)?;
                self.send_executions(&name, None, param_types, params)?;
            }
        }
        self.encode_sync()?;
        self.state = State::Busy;
        Ok(())
    }

    /// Sends a request again whose cached statement the server found stale or gone: the entry
    /// is no longer cached, so this is a fresh Parse, and never retried a second time.
    pub(super) fn requery(&mut self, retry: Retry) -> Result<(), Error> {
        self.state = State::Ready;
        if let Err(e) = self.start_query(&retry.sql, &retry.param_types, &retry.params) {
            self.unsend(e);
            return self.set_ready(b'I');
        }
        Ok(())
    }

    /// Prepares a named statement and reports it with `Event::Prepared`.
    pub fn prepare(&mut self, name: &str, sql: &str, param_types: &[u32]) -> Step {
        if let Err(e) = self.begin_request() {
            return self.reject(e);
        }
        let target = DescribeTarget::Prepared(name.to_owned());
        if let Err(e) = self
            .send_parse_describe(name, sql, param_types, target)
            .and_then(|()| self.encode_sync())
        {
            return self.reject(e);
        }
        self.state = State::Busy;
        self.finish()
    }

    /// Executes a statement from `prepare` (or an SQL-level PREPARE).
    pub fn execute(&mut self, name: &str, params: &str) -> Step {
        if let Err(e) = self.begin_request() {
            return self.reject(e);
        }
        let known = self.prepared.get(name).cloned();
        let result = (|| {
            if known.is_none() {
                // Not prepared through this session: describe it first.
                frontend::describe(b'S', name, &mut self.out).map_err(write_err)?;
                self.describing = Some(Describing {
                    target: DescribeTarget::Transient,
                    param_types: None,
                    result: None,
                });
            }
            // Values are encoded for the server-resolved types of a statement prepared here.
            let types = known
                .as_ref()
                .map(|d| d.param_types.clone())
                .unwrap_or_default();
            let bound = known.map(|d| {
                let reading = d.reading(self.utc).clone();
                (d, reading)
            });
            self.send_executions(name, bound, &types, params)?;
            self.encode_sync()
        })();
        if let Err(e) = result {
            return self.reject(e);
        }
        self.state = State::Busy;
        self.finish()
    }

    pub fn close_statement(&mut self, name: &str) -> Step {
        if let Err(e) = self.begin_request() {
            return self.reject(e);
        }
        if let Err(e) = frontend::close(b'S', name, &mut self.out).map_err(write_err) {
            return self.reject(e);
        }
        frontend::sync(&mut self.out);
        self.prepared.remove(name);
        self.state = State::Busy;
        self.finish()
    }

    pub fn terminate(&mut self) -> Step {
        if !matches!(self.state, State::Closed | State::New) {
            frontend::terminate(&mut self.out);
        }
        self.state = State::Closed;
        self.finish()
    }

    pub(super) fn encode_sync(&mut self) -> Result<(), Error> {
        frontend::sync(&mut self.out);
        Ok(())
    }

    pub(super) fn send_parse_describe(
        &mut self,
        name: &str,
        sql: &str,
        param_types: &[u32],
        target: DescribeTarget,
    ) -> Result<(), Error> {
        frontend::parse(name, sql, param_types.iter().copied(), &mut self.out)
            .map_err(write_err)?;
        frontend::describe(b'S', name, &mut self.out).map_err(write_err)?;
        self.describing = Some(Describing {
            target,
            param_types: None,
            result: None,
        });
        Ok(())
    }

    /// Encodes Bind + Execute for each row of `params` (a parameter batch; none: one execution
    /// without parameters). `bound` is the statement's description, when already known, and
    /// how its result is asked for; otherwise the Describe in flight supplies the description
    /// and the result is all text. Values are converted from canonical form by `types` (0:
    /// unchanged), always the types the host declared, so an execution encodes the same whether
    /// or not its statement was cached. The batch is read as it is encoded, without a copy; a
    /// malformed one fails the request (the caller discards what was written).
    pub(super) fn send_executions(
        &mut self,
        statement: &str,
        bound: Bound,
        types: &[u32],
        params: &str,
    ) -> Result<(), Error> {
        let formats = bound.as_ref().map_or(&[0][..], |(_, r)| &r.formats[..]);
        if params.is_empty() {
            write_execution(&mut self.out, statement, types, std::iter::empty(), formats)?;
            self.pending_results.push_back(bound);
            return Ok(());
        }
        for row in batch::split(params, true) {
            let fields = row.map_err(malformed_params)?;
            write_execution(
                &mut self.out,
                statement,
                types,
                param_fields(fields),
                formats,
            )?;
            self.pending_results.push_back(bound.clone());
        }
        Ok(())
    }
}

/// One parameter row's values, borrowed from the batch unless a value had to be unescaped.
pub(super) fn param_fields(
    fields: batch::Fields<'_>,
) -> impl Iterator<Item = Result<Option<Cow<'_, str>>, Error>> {
    fields.map(|field| field.map_err(malformed_params))
}

pub(super) fn malformed_params(e: batch::BatchError) -> Error {
    Error::new(ErrorKind::Encode, format!("malformed parameters: {e}"))
}

/// The error `postgres-protocol` gives for a count or length its field cannot hold.
fn too_large() -> Error {
    write_err(std::io::Error::new(
        std::io::ErrorKind::InvalidInput,
        "value too large to transmit",
    ))
}

/// Encodes Bind (of `statement` to the unnamed portal, every value in text, the result in
/// `formats`: Bind's result format codes) + Execute (all rows) for one parameter row,
/// converting each value from canonical form by its type in `types` (0 or missing: unchanged).
/// Written directly into `out`: a value whose canonical form is the server's text input (most
/// types) is copied once, from the host's batch to the message.
pub(super) fn write_execution<'p>(
    out: &mut BytesMut,
    statement: &str,
    types: &[u32],
    row: impl Iterator<Item = Result<Option<Cow<'p, str>>, Error>>,
    formats: &[i16],
) -> Result<(), Error> {
    if statement.as_bytes().contains(&0) {
        return Err(write_err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "string contains embedded null",
        )));
    }
    // Bind: the unnamed portal, the statement, one format code for every value (text). Written
    // in few pieces: in the guest every small copy is a call.
    let start = out.len();
    out.put_slice(&[b'B', 0, 0, 0, 0, 0]);
    out.put_slice(statement.as_bytes());
    out.put_slice(&[0, 0, 1, 0, 0, 0, 0]);
    let count_at = out.len() - 2;
    let mut count = 0usize;
    let mut converted = Vec::new();
    for (i, value) in row.enumerate() {
        count += 1;
        let Some(value) = value? else {
            out.put_i32(-1);
            continue;
        };
        let oid = types.get(i).copied().unwrap_or(0);
        let bytes = if codec::param_is_server_text(oid) {
            value.as_bytes()
        } else {
            converted.clear();
            codec::encode_param(oid, &value, &mut converted)
                .map_err(|e| Error::new(ErrorKind::Encode, format!("parameter ${}: {e}", i + 1)))?;
            &converted[..]
        };
        out.put_i32(i32::try_from(bytes.len()).map_err(|_| too_large())?);
        out.put_slice(bytes);
    }
    let count = u16::try_from(count).map_err(|_| too_large())?;
    out[count_at..count_at + 2].copy_from_slice(&count.to_be_bytes());
    // The result format codes: their count, then each.
    let mut codes = [0u8; 2 + 2 * 16];
    let n = formats.len();
    if n <= 16 {
        codes[..2].copy_from_slice(&(n as u16).to_be_bytes());
        for (code, format) in codes[2..].chunks_exact_mut(2).zip(formats) {
            code.copy_from_slice(&format.to_be_bytes());
        }
        out.put_slice(&codes[..2 + 2 * n]);
    } else {
        out.put_u16(u16::try_from(n).map_err(|_| too_large())?);
        for format in formats {
            out.put_i16(*format);
        }
    }
    let length = i32::try_from(out.len() - start - 1).map_err(|_| too_large())?;
    out[start + 1..start + 5].copy_from_slice(&length.to_be_bytes());
    // Execute: the unnamed portal, all rows.
    out.put_slice(&[b'E', 0, 0, 0, 9, 0, 0, 0, 0, 0]);
    Ok(())
}
