//! Pipelines (libpq's pipeline mode): every item's messages encoded at once into one request,
//! with a Sync per sync point and one at the end, and the server's answers mapped back to the
//! items, strictly in order, one terminating event per item (docs/abi.md, "Pipelines").
//!
//! The server answers a pipeline in order and, after an error, skips every message up to the
//! next Sync. So the session keeps a queue of what the server still owes, one slot per item and
//! per Sync, and pops a slot when its answer ends: an item at its CommandComplete,
//! EmptyQueryResponse or ErrorResponse, the items the server skipped at the ReadyForQuery that
//! ends their segment (`Aborted`), a Sync at its ReadyForQuery (`Synced`, or nothing for the
//! final Sync the session appended). The request is done at the last ReadyForQuery only.
//!
//! The statement cache: an item whose SQL is cached binds the cached statement; one that is not
//! Parses it under a cache name, and later items of the same segment (up to the next Sync) bind
//! that name without parsing again. Later segments parse it again, unnamed: if anything before
//! the first Parse in its segment fails, the server skips that Parse, and a later segment binding
//! the name would fail for a statement it never created. Nothing is pinned either: a statement
//! evicted while the pipeline runs (the cache inserts each new statement when the server has
//! described it, evicting the least recently used one) still exists on the server until its
//! Close, and Closes go out only at the start of the next request (`begin_request`), after
//! every Bind of this one. A cached statement found stale or gone is evicted, not retried: the
//! item reports the error (results are delivered in order, so nothing can be sent again).

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use bytes::BytesMut;
use fallible_iterator::FallibleIterator;
use postgres_protocol::message::backend::Message;
use postgres_protocol::message::frontend;

pub use wasmpg_wire::request::PipelineItem;

use super::requests::{malformed_params, param_fields, write_execution};
use super::*;
use wasmpg_wire::batch;

/// Why the session aborts a COPY FROM STDIN that a pipeline item started (it is in the server's
/// error, which the session does not report: the item's usage error says it).
const COPY_IN_REASON: &str = "COPY FROM STDIN cannot run in a pipeline";

/// A pipeline in flight.
#[derive(Debug, Default)]
pub(super) struct Pipeline {
    /// What the server still owes, in order: the items and the Syncs, the final one last.
    slots: VecDeque<Slot>,
    /// The descriptions of the statements this pipeline Parses or Describes, by index, filled
    /// in as the server describes them.
    statements: Vec<Option<Arc<Described>>>,
    /// An item failed: the server skips everything up to the next Sync, whose ReadyForQuery
    /// reports the items in between as aborted.
    aborting: bool,
    /// A failure of a sync point itself (a deferred constraint or a serialization failure at
    /// the implicit commit), reported just before its `Synced` (or the final `done`).
    sync_error: Option<Error>,
    /// An item's COPY FROM STDIN was refused: the server's error for it comes next, and is not
    /// reported again.
    copy_refused: bool,
}

#[derive(Debug)]
enum Slot {
    Item(Item),
    Sync {
        /// A Sync item (reported with `Synced`); else the final Sync the session appended.
        explicit: bool,
        /// The server ignored it, being in copy-in mode: no ReadyForQuery answers it, and it is
        /// reported with the status of the next one.
        swallowed: bool,
    },
}

/// A query or execute item.
#[derive(Debug)]
struct Item {
    /// The Describe(Statement) this item sent, if any.
    describe: Option<Describe>,
    /// The description its execution is read with.
    source: Source,
    /// The cached statement it binds, for eviction when the server finds it stale or gone.
    cached: Option<String>,
    /// BindComplete arrived.
    bound: bool,
    /// Its rows held a value the codecs refuse: reported instead of its CommandComplete,
    /// unless the server fails the item (its error then says more).
    decode_error: Option<Error>,
}

/// A Describe(Statement) of a pipeline item.
#[derive(Debug)]
struct Describe {
    /// The statement's index in [`Pipeline::statements`].
    statement: usize,
    /// The cache entry to make once described (`None`: unnamed, or a named prepared statement).
    cache: Option<Pending>,
    /// From ParameterDescription.
    param_types: Option<Vec<u32>>,
    /// RowDescription or NoData arrived.
    done: bool,
}

#[derive(Debug)]
enum Source {
    /// Known when the pipeline was encoded (a cached or prepared statement), and how the
    /// item's Bind asked for the result.
    Known(Arc<Described>, Arc<Reading>),
    /// Described by the pipeline itself: an index in [`Pipeline::statements`].
    Statement(usize),
}

impl Source {
    /// The item's Bind result format codes: binary where its reading says, else all text (the
    /// statement is described in the same pipeline, after the Bind was written).
    fn formats(&self) -> &[i16] {
        match self {
            Source::Known(_, reading) => &reading.formats,
            Source::Statement(_) => &[0],
        }
    }
}

impl Pipeline {
    /// The item whose answer comes next, unless the server is skipping to a Sync.
    fn item(&mut self) -> Option<&mut Item> {
        match self.slots.front_mut() {
            Some(Slot::Item(item)) if !self.aborting && !self.copy_refused => Some(item),
            _ => None,
        }
    }

    /// The Describe in flight: the next item's, unfinished.
    fn describing(&mut self) -> Option<&mut Describe> {
        self.item()?.describe.as_mut().filter(|d| !d.done)
    }

    /// Takes the next item off the queue once the server has bound it (its execution ended).
    fn pop_bound(&mut self, what: &str) -> Result<Item, Error> {
        if !self.item().is_some_and(|item| item.bound) {
            return Err(Error::protocol(format!("unexpected {what} in a pipeline")));
        }
        match self.slots.pop_front() {
            Some(Slot::Item(item)) => Ok(item),
            // Invariant: `item()` just found an item at the front.
            _ => Err(Error::protocol(format!("unexpected {what} in a pipeline"))),
        }
    }
}

/// The statement a query item binds, while the pipeline is encoded: named statements parsed
/// by earlier items, by SQL and declared types, with the segment (sync points before it) they
/// were parsed in.
type Parsed<'a> = HashMap<(&'a str, &'a [u32]), (String, usize, usize)>;

impl Session {
    /// A pipeline: every item's messages go out at once, with a Sync after the last item unless
    /// it is one. The events report the items in order, each ending with exactly one of
    /// `Complete`, `EmptyQuery`, `Error` or `Aborted` (a Sync item: `Synced`); the action is
    /// `Done` only after the last ReadyForQuery. No item is sent if any fails to encode.
    pub fn pipeline(&mut self, items: &[PipelineItem<'_>]) -> Step {
        if let Err(e) = self.start_pipeline(items) {
            return self.reject(e);
        }
        self.finish()
    }

    fn start_pipeline(&mut self, items: &[PipelineItem<'_>]) -> Result<(), Error> {
        self.check_ready()?;
        if items.is_empty() {
            return Err(Error::new(
                ErrorKind::Usage,
                "a pipeline needs at least one item",
            ));
        }
        // Encoded apart, so that an item that cannot be encoded leaves nothing behind: the
        // Closes the cache owes are taken (by `begin_request`) only once all is well.
        let mut out = BytesMut::new();
        let mut pipeline = Pipeline::default();
        let mut parsed = Parsed::new();
        let mut segment = 0usize;
        for (index, item) in items.iter().enumerate() {
            let slot = match item {
                PipelineItem::Sync => {
                    frontend::sync(&mut out);
                    segment += 1;
                    Slot::Sync {
                        explicit: true,
                        swallowed: false,
                    }
                }
                PipelineItem::Query {
                    param_types,
                    params,
                    sql,
                } => self
                    .encode_query_item(
                        &mut out,
                        &mut pipeline,
                        &mut parsed,
                        segment,
                        (sql, param_types, params),
                    )
                    .map_err(|e| in_item(index, e))?,
                PipelineItem::Execute { params, name } => self
                    .encode_execute_item(&mut out, &mut pipeline, name, params)
                    .map_err(|e| in_item(index, e))?,
            };
            pipeline.slots.push_back(slot);
        }
        if !matches!(items.last(), Some(PipelineItem::Sync)) {
            frontend::sync(&mut out);
            pipeline.slots.push_back(Slot::Sync {
                explicit: false,
                swallowed: false,
            });
        }
        self.begin_request()?;
        self.out.extend_from_slice(&out);
        self.pipeline = Some(pipeline);
        self.state = State::Busy;
        Ok(())
    }

    /// Encodes a query item: Bind/Execute of its cached statement, or of the one an earlier
    /// item of the segment parsed, else Parse/Describe first.
    fn encode_query_item<'a>(
        &mut self,
        out: &mut BytesMut,
        pipeline: &mut Pipeline,
        parsed: &mut Parsed<'a>,
        segment: usize,
        (sql, param_types, params): (&'a str, &'a [u32], &str),
    ) -> Result<Slot, Error> {
        let row = one_row(params)?;
        let (name, describe, source, cached) = match parsed.get(&(sql, param_types)) {
            Some((name, statement, at)) if *at == segment => (
                name.clone(),
                None,
                Source::Statement(*statement),
                Some(name.clone()),
            ),
            // Parsed in an earlier segment, which may have skipped that Parse: unnamed here.
            Some(_) => {
                let describe = parse_describe(out, pipeline, "", sql, param_types, None)?;
                let source = Source::Statement(describe.statement);
                (String::new(), Some(describe), source, None)
            }
            None => match self.cache.lookup(sql, param_types) {
                Lookup::Hit(name, described) => {
                    let reading = described.reading(self.utc).clone();
                    (
                        name.to_string(),
                        None,
                        Source::Known(described, reading),
                        Some(name.to_string()),
                    )
                }
                Lookup::Miss(Some(pending)) => {
                    let name = pending.name().to_owned();
                    let describe =
                        parse_describe(out, pipeline, &name, sql, param_types, Some(pending))?;
                    let statement = describe.statement;
                    parsed.insert((sql, param_types), (name.clone(), statement, segment));
                    (
                        name.clone(),
                        Some(describe),
                        Source::Statement(statement),
                        Some(name),
                    )
                }
                // The cache is off: the unnamed statement.
                Lookup::Miss(None) => {
                    let describe = parse_describe(out, pipeline, "", sql, param_types, None)?;
                    let source = Source::Statement(describe.statement);
                    (String::new(), Some(describe), source, None)
                }
            },
        };
        let values = row.into_iter().flat_map(param_fields);
        write_execution(out, &name, param_types, values, source.formats())?;
        Ok(Slot::Item(Item {
            describe,
            source,
            cached,
            bound: false,
            decode_error: None,
        }))
    }

    /// Encodes an execute item: Bind/Execute of a named prepared statement, described first
    /// unless this session prepared it.
    fn encode_execute_item(
        &mut self,
        out: &mut BytesMut,
        pipeline: &mut Pipeline,
        name: &str,
        params: &str,
    ) -> Result<Slot, Error> {
        let row = one_row(params)?;
        let (describe, source, types) = match self.prepared.get(name) {
            Some(known) => (
                None,
                Source::Known(known.clone(), known.reading(self.utc).clone()),
                known.param_types.clone(),
            ),
            None => {
                // Not prepared through this session: described first.
                frontend::describe(b'S', name, out).map_err(write_err)?;
                let describe = new_statement(pipeline, None);
                let source = Source::Statement(describe.statement);
                // Values go unchanged: the host declared no types for them.
                (Some(describe), source, Vec::new())
            }
        };
        let values = row.into_iter().flat_map(param_fields);
        write_execution(out, name, &types, values, source.formats())?;
        Ok(Slot::Item(Item {
            describe,
            source,
            cached: None,
            bound: false,
            decode_error: None,
        }))
    }

    /// A DataRow's body in a pipeline: a row of the item whose answer comes next, which must be
    /// bound; a value the codecs refuse is kept for that item.
    pub(super) fn pipeline_data_row(&mut self, body: &[u8]) -> Result<(), Error> {
        let Some(mut p) = self.pipeline.take() else {
            return Err(Error::protocol("a pipeline message without a pipeline"));
        };
        let result = if p.item().is_some_and(|item| item.bound) {
            self.decode_row(body).map(|error| {
                if let (Some(error), Some(item)) = (error, p.item()) {
                    item.decode_error.get_or_insert(error);
                }
            })
        } else {
            Err(Error::protocol("unexpected DataRow"))
        };
        self.pipeline = Some(p);
        result
    }

    /// A server message while a pipeline runs (notices, notifications and parameter statuses
    /// were handled already).
    pub(super) fn handle_pipeline(&mut self, message: Message) -> Result<(), Error> {
        let Some(mut pipeline) = self.pipeline.take() else {
            return Err(Error::protocol("a pipeline message without a pipeline"));
        };
        let result = self.pipeline_message(&mut pipeline, message);
        // The last ReadyForQuery emptied the queue: the request is over.
        if !pipeline.slots.is_empty() {
            self.pipeline = Some(pipeline);
        }
        result
    }

    fn pipeline_message(&mut self, p: &mut Pipeline, message: Message) -> Result<(), Error> {
        match message {
            Message::ParseComplete | Message::CloseComplete => Ok(()),
            Message::ParameterDescription(body) => {
                let Some(describing) = p.describing() else {
                    return Err(Error::protocol("unexpected ParameterDescription"));
                };
                let mut types = Vec::new();
                let mut iter = body.parameters();
                while let Some(oid) = iter.next().map_err(malformed)? {
                    types.push(oid);
                }
                describing.param_types = Some(types);
                Ok(())
            }
            Message::RowDescription(body) => {
                let columns = parse_columns(&body)?;
                self.described(p, Some(columns), "RowDescription")
            }
            Message::NoData => self.described(p, None, "NoData"),
            Message::BindComplete => {
                let Some(item) = p.item().filter(|item| !item.bound) else {
                    return Err(Error::protocol("unexpected BindComplete"));
                };
                item.bound = true;
                let bound = match &item.source {
                    Source::Known(d, reading) => Some((d.clone(), reading.clone())),
                    Source::Statement(i) => {
                        let i = *i;
                        p.statements.get(i).cloned().flatten().map(|d| {
                            let text = d.text.clone();
                            (d, text)
                        })
                    }
                };
                let Some((described, reading)) = bound else {
                    return Err(Error::protocol(
                        "BindComplete before the statement was described",
                    ));
                };
                if described.columns.is_some() {
                    self.start_result(described, reading);
                }
                Ok(())
            }
            // Taken by `process` before parsing (`pipeline_data_row`).
            Message::DataRow(_) => Err(Error::protocol("unexpected DataRow")),
            Message::CommandComplete(body) => {
                let item = p.pop_bound("CommandComplete")?;
                if self.copy_out.is_some() {
                    return Err(Error::protocol(
                        "CommandComplete before COPY TO STDOUT ended",
                    ));
                }
                self.flush_batch();
                self.current = None;
                let tag = body.tag().map_err(malformed)?.to_owned();
                if tag == "DISCARD ALL" || tag == "DEALLOCATE ALL" {
                    // The server dropped every prepared statement of the session.
                    self.cache.clear();
                    self.prepared.clear();
                }
                match item.decode_error {
                    Some(error) => self.events.push(Event::Error(error)),
                    None => {
                        let rows = tag_rows(&tag);
                        self.events
                            .push(Event::Complete(CommandComplete { tag, rows }));
                    }
                }
                Ok(())
            }
            Message::EmptyQueryResponse => {
                p.pop_bound("EmptyQueryResponse")?;
                self.current = None;
                self.events.push(Event::EmptyQuery);
                Ok(())
            }
            Message::ErrorResponse(body) => {
                let db = DbError::parse(body.fields())?;
                if db.is_fatal() {
                    return Err(Error::db(db, false));
                }
                self.flush_batch();
                self.current = None;
                // COPY TO STDOUT failed midway: the data so far is delivered, then the error.
                self.flush_copy();
                self.copy_out = None;
                if p.copy_refused {
                    // The refused COPY's end, reported already; the server now skips to a Sync.
                    p.copy_refused = false;
                    p.aborting = true;
                    return Ok(());
                }
                if p.item().is_none() {
                    // Not an item's: the sync point's own failure (its implicit commit).
                    if p.sync_error.is_none() {
                        p.sync_error = Some(Error::db(db, false));
                    }
                    return Ok(());
                }
                let Some(Slot::Item(item)) = p.slots.pop_front() else {
                    // Invariant: `item()` just found an item at the front.
                    return Err(Error::protocol("unexpected ErrorResponse in a pipeline"));
                };
                if let Some(name) = &item.cached {
                    // Evicted (closed with the next request if the server still has it) so
                    // that the next use prepares it afresh; not retried here.
                    match statement_cache::invalidation(&db.code, db.routine.as_deref()) {
                        Some(Invalidation::Stale) => {
                            self.cache.discard(name, true);
                        }
                        Some(Invalidation::Gone) => {
                            self.cache.discard(name, false);
                        }
                        None => {}
                    }
                }
                p.aborting = true;
                self.events.push(Event::Error(Error::db(db, false)));
                Ok(())
            }
            Message::CopyOutResponse(body) => {
                if !p.item().is_some_and(|item| item.bound) || self.copy_out.is_some() {
                    return Err(Error::protocol("unexpected CopyOutResponse"));
                }
                self.flush_batch();
                self.current = None;
                self.copy_out_response(&body)
            }
            Message::CopyData(body) => self.copy_out_data(body.data()),
            Message::CopyDone => self.copy_out_done(),
            Message::CopyInResponse(_) => self.refuse_copy_in(p),
            Message::ReadyForQuery(body) => self.pipeline_ready(p, body.status()),
            other => Err(Error::protocol(format!(
                "unexpected message {} during a pipeline",
                message_name(&other)
            ))),
        }
    }

    /// RowDescription or NoData: the next item's statement is described; a new cached
    /// statement joins the cache now (the server has it, whatever happens to the execution).
    fn described(
        &mut self,
        p: &mut Pipeline,
        columns: Option<Vec<Column>>,
        what: &str,
    ) -> Result<(), Error> {
        let Some(describing) = p.describing() else {
            return Err(Error::protocol(format!("unexpected {what}")));
        };
        describing.done = true;
        let types = describing.param_types.take().unwrap_or_default();
        let infinities = self.infinite_intervals();
        let described = Arc::new(Described::new(types, columns, Some(infinities)));
        if let Some(pending) = describing.cache.take() {
            self.cache.insert(pending, described.clone());
        }
        let statement = describing.statement;
        match p.statements.get_mut(statement) {
            Some(slot) => *slot = Some(described),
            // Invariant: every Describe's index was pushed when it was encoded.
            None => return Err(Error::protocol(format!("unexpected {what}"))),
        }
        Ok(())
    }

    /// CopyInResponse: the host sends no COPY data in a pipeline, so the item fails with a
    /// usage error and the server's COPY is ended. In copy-in mode the server ignores Sync;
    /// the first other message fails the COPY (an item that follows). When only Syncs follow,
    /// the session ends the COPY with CopyFail and sends one more Sync for its ReadyForQuery.
    fn refuse_copy_in(&mut self, p: &mut Pipeline) -> Result<(), Error> {
        p.pop_bound("CopyInResponse")?;
        self.flush_batch();
        self.current = None;
        self.events.push(Event::Error(Error::new(
            ErrorKind::Usage,
            "COPY FROM STDIN cannot run in a pipeline: the COPY was aborted",
        )));
        p.copy_refused = true;
        let mut only_syncs = true;
        for slot in p.slots.iter_mut() {
            match slot {
                Slot::Sync { swallowed, .. } => *swallowed = true,
                Slot::Item(_) => {
                    only_syncs = false;
                    break;
                }
            }
        }
        if only_syncs {
            frontend::copy_fail(COPY_IN_REASON, &mut self.out).map_err(write_err)?;
            frontend::sync(&mut self.out);
            p.slots.push_back(Slot::Sync {
                explicit: false,
                swallowed: false,
            });
        }
        Ok(())
    }

    /// ReadyForQuery: the items the server skipped are aborted, the Syncs up to this one's are
    /// synced; the last one ends the request.
    fn pipeline_ready(&mut self, p: &mut Pipeline, status: u8) -> Result<(), Error> {
        self.flush_batch();
        self.current = None;
        if self.copy_out.is_some() {
            return Err(Error::protocol("ReadyForQuery before COPY TO STDOUT ended"));
        }
        if p.copy_refused {
            return Err(Error::protocol(
                "ReadyForQuery while COPY FROM STDIN was being aborted",
            ));
        }
        let tx = match status {
            b'I' => TxStatus::Idle,
            b'T' => TxStatus::InTransaction,
            b'E' => TxStatus::Failed,
            other => {
                return Err(Error::protocol(format!(
                    "invalid transaction status {:?} in ReadyForQuery",
                    other as char
                )))
            }
        };
        loop {
            match p.slots.pop_front() {
                None => {
                    return Err(Error::protocol(
                        "ReadyForQuery after the pipeline's last sync point",
                    ))
                }
                Some(Slot::Item(_)) if !p.aborting => {
                    return Err(Error::protocol(
                        "ReadyForQuery before a pipeline item completed",
                    ))
                }
                Some(Slot::Item(_)) => self.events.push(Event::Aborted),
                Some(Slot::Sync {
                    explicit,
                    swallowed,
                }) => {
                    if !swallowed {
                        if let Some(error) = p.sync_error.take() {
                            self.events.push(Event::Error(error));
                        }
                    }
                    if explicit {
                        self.events.push(Event::Synced(tx));
                    }
                    if !swallowed {
                        break;
                    }
                }
            }
        }
        p.aborting = false;
        self.tx_status = tx;
        if p.slots.is_empty() {
            return self.set_ready(status);
        }
        Ok(())
    }
}

/// Parse + Describe(Statement) of `name` into `out`, and the Describe to expect.
fn parse_describe(
    out: &mut BytesMut,
    pipeline: &mut Pipeline,
    name: &str,
    sql: &str,
    param_types: &[u32],
    cache: Option<Pending>,
) -> Result<Describe, Error> {
    frontend::parse(name, sql, param_types.iter().copied(), out).map_err(write_err)?;
    frontend::describe(b'S', name, out).map_err(write_err)?;
    Ok(new_statement(pipeline, cache))
}

/// A statement the pipeline describes: its index, and the Describe to expect.
fn new_statement(pipeline: &mut Pipeline, cache: Option<Pending>) -> Describe {
    let statement = pipeline.statements.len();
    pipeline.statements.push(None);
    Describe {
        statement,
        cache,
        param_types: None,
        done: false,
    }
}

/// An item's one parameter row (none for an empty batch), read as it is encoded.
fn one_row(params: &str) -> Result<Option<batch::Fields<'_>>, Error> {
    let mut rows = batch::split(params, true);
    let first = rows.next().transpose().map_err(malformed_params)?;
    match rows.next() {
        None => Ok(first),
        Some(Err(e)) => Err(malformed_params(e)),
        Some(Ok(_)) => {
            let mut count = 2;
            for row in rows {
                row.map_err(malformed_params)?;
                count += 1;
            }
            Err(Error::new(
                ErrorKind::Usage,
                format!("a pipeline item takes one parameter row, not {count}"),
            ))
        }
    }
}

/// An item's encoding error, naming the item (its index from 0).
fn in_item(index: usize, error: Error) -> Error {
    Error {
        message: format!("pipeline item {index}: {}", error.message),
        ..error
    }
}
