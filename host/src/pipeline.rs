//! Pipelines for both clients (libpq's pipeline mode): several statements sent at once, their
//! results read in order, with sync points that bound what an error aborts.
//!
//! [`Client::pipeline`](crate::Client::pipeline) and the async client's `pipeline` send every
//! statement of a [`Pipeline`] in one request (the guest encodes them all, then reads the
//! results) and return one outcome per statement. Between two sync points the statements form
//! one implicit transaction, as in libpq: when one fails, the ones after it up to the next
//! [`sync`](Pipeline::sync) are not run ([`ErrorKind::PipelineAborted`]) and, outside a
//! transaction block, the ones before it in that segment are rolled back. A pipeline ends with
//! a sync point of its own. If the connection fails midway, the statements it did not answer
//! report an error saying their outcome is unknown.

use std::sync::Arc;

use std::borrow::Cow;

use wasmpg_wire::{PipelineItem, Request};

use crate::client::{encode_params, StatementRef, ToStatement};
use crate::error::{Error, ErrorKind};
use crate::guest::TxStatus;
use crate::results::{How, ItemEnd, Response, ResultSet};
use crate::row::{rows_from_batches, Column, Row};
use crate::types::ToSql;

/// Statements to send together: [`query`](Pipeline::query) adds one,
/// [`sync`](Pipeline::sync) a sync point. Reusable: running it does not consume it.
#[derive(Debug, Default, Clone)]
pub struct Pipeline {
    items: Vec<Item>,
    statements: usize,
}

#[derive(Debug, Clone)]
enum Item {
    Query {
        sql: String,
        types: Vec<u32>,
        params: String,
    },
    Execute {
        name: String,
        params: String,
    },
    Sync,
}

impl Pipeline {
    pub fn new() -> Pipeline {
        Pipeline::default()
    }

    /// Adds a statement (SQL, through the statement cache, or a prepared [`Statement`]) with
    /// its parameters, encoded now.
    ///
    /// [`Statement`]: crate::Statement
    pub fn query<T: ?Sized + ToStatement>(
        &mut self,
        statement: &T,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<&mut Pipeline, Error> {
        let (types, params_text) = encode_params(params)?;
        let item = match statement.statement() {
            StatementRef::Sql(sql) => Item::Query {
                sql: sql.to_owned(),
                types,
                params: params_text,
            },
            StatementRef::Prepared(stmt) => {
                if stmt.params.len() != params.len() {
                    return Err(Error::new(
                        ErrorKind::Usage,
                        format!(
                            "the statement takes {} parameters but {} were given",
                            stmt.params.len(),
                            params.len()
                        ),
                    ));
                }
                Item::Execute {
                    name: stmt.name.clone(),
                    params: params_text,
                }
            }
        };
        self.items.push(item);
        self.statements += 1;
        Ok(self)
    }

    /// Adds a sync point: an error before it aborts nothing after it.
    pub fn sync(&mut self) -> &mut Pipeline {
        self.items.push(Item::Sync);
        self
    }

    /// The number of statements (sync points not counted).
    pub fn len(&self) -> usize {
        self.statements
    }

    pub fn is_empty(&self) -> bool {
        self.statements == 0
    }

    /// The request that runs it.
    pub(crate) fn request(&self) -> Request<'_> {
        Request::Pipeline(
            self.items
                .iter()
                .map(|item| match item {
                    Item::Query { sql, types, params } => PipelineItem::Query {
                        param_types: types.clone(),
                        params: Cow::Borrowed(params),
                        sql: Cow::Borrowed(sql),
                    },
                    Item::Execute { name, params } => PipelineItem::Execute {
                        params: Cow::Borrowed(params),
                        name: Cow::Borrowed(name),
                    },
                    Item::Sync => PipelineItem::Sync,
                })
                .collect(),
        )
    }
}

/// What one statement of a pipeline returned.
#[derive(Debug)]
pub struct PipelineResult {
    columns: Arc<[Column]>,
    rows: Vec<Row>,
    rows_affected: Option<u64>,
}

impl PipelineResult {
    /// The statement's columns (none for a statement that returns no rows).
    pub fn columns(&self) -> &[Column] {
        &self.columns
    }

    pub fn rows(&self) -> &[Row] {
        &self.rows
    }

    pub fn into_rows(self) -> Vec<Row> {
        self.rows
    }

    /// The row count of its command tag (INSERT, UPDATE, SELECT, ...), if it has one.
    pub fn rows_affected(&self) -> Option<u64> {
        self.rows_affected
    }
}

/// One outcome per statement of a pipeline's response, in order.
pub(crate) fn outcomes(
    response: Response,
    pipeline: &Pipeline,
) -> Vec<Result<PipelineResult, Error>> {
    split(
        response,
        pipeline.items.iter().map(|i| matches!(i, Item::Sync)),
    )
    .into_iter()
    .map(|outcome| outcome.result.and_then(result_of))
    .collect()
}

/// A statement's outcome in a pipeline: its result set (none for a statement that returned
/// no result, which cannot happen for a completed one), and the transaction status of the
/// sync point that ended its segment, if it was reached.
pub(crate) struct StatementOutcome {
    pub(crate) result: Result<Option<ResultSet>, Error>,
    pub(crate) synced: Option<TxStatus>,
}

/// Splits a pipeline's response into one outcome per statement. `layout` says, per item of the
/// request in order, whether it is a sync point; a final sync point the guest added (when the
/// last item is a statement) reports nothing but a commit error. An error reported where a
/// sync point was expected is that segment's commit failing (a deferred constraint): the
/// segment's statements that completed were rolled back, so they carry it. Statements the
/// guest did not answer (the connection failed) carry an error saying their outcome is
/// unknown.
pub(crate) fn split(
    mut response: Response,
    layout: impl Iterator<Item = bool>,
) -> Vec<StatementOutcome> {
    let failure = response.error.take();
    let mut ends = response
        .items
        .take()
        .unwrap_or_default()
        .into_iter()
        .peekable();
    let mut results = response.results.into_iter();
    let mut taken = 0;
    let mut out: Vec<StatementOutcome> = Vec::new();
    let mut segment = 0;
    let mut last_was_sync = true;
    let unknown = |failure: &Option<Error>| {
        let (kind, what) = match failure {
            Some(e) => (e.kind(), e.to_string()),
            None => (
                ErrorKind::Protocol,
                "the guest ended the pipeline without answering every statement".to_owned(),
            ),
        };
        Error::new(
            kind,
            format!(
                "the outcome of this statement is unknown (it may or may not have run): {what}"
            ),
        )
    };
    let sync_point = |out: &mut Vec<StatementOutcome>,
                      segment: &mut usize,
                      ends: &mut std::iter::Peekable<std::vec::IntoIter<ItemEnd>>,
                      explicit: bool| {
        while let Some(ItemEnd {
            how: How::Failed(_),
            ..
        }) = ends.peek()
        {
            let Some(ItemEnd {
                how: How::Failed(e),
                ..
            }) = ends.next()
            else {
                break;
            };
            for o in &mut out[*segment..] {
                if o.result.is_ok() {
                    o.result = Err(e.duplicate());
                }
            }
        }
        if explicit {
            if let Some(ItemEnd {
                how: How::Synced(status),
                ..
            }) = ends.peek()
            {
                let status = *status;
                ends.next();
                for o in &mut out[*segment..] {
                    o.synced = Some(status);
                }
            }
        }
        *segment = out.len();
    };
    for is_sync in layout {
        last_was_sync = is_sync;
        if is_sync {
            sync_point(&mut out, &mut segment, &mut ends, true);
            continue;
        }
        let result = match ends.next() {
            Some(ItemEnd { end, how }) => {
                let mut mine = None;
                while taken < end {
                    mine = results.next();
                    taken += 1;
                }
                match how {
                    How::Done => Ok(mine),
                    How::Failed(e) => Err(e),
                    How::Aborted => Err(Error::new(
                        ErrorKind::PipelineAborted,
                        "not run: an earlier statement of the pipeline failed before the next \
                         sync point",
                    )),
                    How::Synced(_) => Err(Error::new(
                        ErrorKind::Protocol,
                        "the guest answered a pipeline's statements out of order",
                    )),
                }
            }
            None => Err(unknown(&failure)),
        };
        out.push(StatementOutcome {
            result,
            synced: None,
        });
    }
    if !last_was_sync {
        sync_point(&mut out, &mut segment, &mut ends, false);
    }
    out
}

fn result_of(result: Option<ResultSet>) -> Result<PipelineResult, Error> {
    let Some(result) = result else {
        return Ok(PipelineResult {
            columns: Arc::from(Vec::new()),
            rows: Vec::new(),
            rows_affected: None,
        });
    };
    let columns = result.columns.unwrap_or_else(crate::client::no_columns);
    let rows_affected = result.complete.as_ref().and_then(|c| c.rows);
    let rows = rows_from_batches(&columns, result.batches)?;
    Ok(PipelineResult {
        columns,
        rows,
        rows_affected,
    })
}

/// An empty response that collects a pipeline's items.
pub(crate) fn response() -> Response {
    Response {
        items: Some(Vec::new()),
        ..Response::default()
    }
}
