//! Collecting a request's result events from the guest into a [`Response`]: its result sets,
//! the prepared statement's description and the first error; for a pipeline, where each item
//! ended and how.

use crate::error::Error;
use crate::guest::{CommandComplete, Event, RowBatch, StatementInfo, TxStatus};

/// What a request produced, gathered from the guest's events.
#[derive(Default)]
pub(crate) struct Response {
    pub(crate) results: Vec<ResultSet>,
    pub(crate) prepared: Option<StatementInfo>,
    pub(crate) error: Option<Error>,
    /// For a pipeline (`Some`): how each item ended, in order.
    pub(crate) items: Option<Vec<ItemEnd>>,
}

/// How a pipeline item ended (docs/abi.md: one terminating event per item), and how many
/// result sets the response held then: an item's results are those after the previous item's.
#[derive(Debug)]
pub(crate) struct ItemEnd {
    pub(crate) end: usize,
    pub(crate) how: How,
}

#[derive(Debug)]
pub(crate) enum How {
    /// A statement completed.
    Done,
    /// A statement failed with this error.
    Failed(Error),
    /// A statement the server skipped after an earlier failure in its sync segment.
    Aborted,
    /// A sync point, with the transaction status it reported.
    Synced(TxStatus),
}

/// One result: its columns (if it returns rows), its row batches and its completion.
#[derive(Default)]
pub(crate) struct ResultSet {
    pub(crate) columns: Option<std::sync::Arc<[crate::row::Column]>>,
    pub(crate) batches: Vec<RowBatch>,
    pub(crate) complete: Option<CommandComplete>,
}

impl Response {
    /// Adds a result event: columns, rows, completion, empty query, prepared statement or
    /// error. Session-state events (notices, parameters, backend, ...) are not part of a
    /// response; the connection keeps them, and they are ignored here.
    pub(crate) fn add(&mut self, event: Event) {
        let end = self.results.len();
        let event = match (&mut self.items, event) {
            (Some(items), Event::Error(e)) => {
                return items.push(ItemEnd {
                    end,
                    how: How::Failed(e),
                })
            }
            (Some(items), Event::Aborted) => {
                return items.push(ItemEnd {
                    end,
                    how: How::Aborted,
                })
            }
            (Some(items), Event::Synced(status)) => {
                return items.push(ItemEnd {
                    end,
                    how: How::Synced(status),
                })
            }
            (_, event) => event,
        };
        let ends_item = matches!(event, Event::Complete(_) | Event::EmptyQuery);
        self.add_result(event);
        if ends_item {
            let end = self.results.len();
            if let Some(items) = &mut self.items {
                items.push(ItemEnd {
                    end,
                    how: How::Done,
                });
            }
        }
    }

    fn add_result(&mut self, event: Event) {
        match event {
            Event::Columns(columns) => self.results.push(ResultSet {
                columns: Some(columns),
                ..ResultSet::default()
            }),
            Event::Rows(batch) => match self.results.last_mut() {
                Some(result) if result.complete.is_none() => result.batches.push(batch),
                // The guest emits Columns before any rows; keep them anyway.
                _ => self.results.push(ResultSet {
                    batches: vec![batch],
                    ..ResultSet::default()
                }),
            },
            Event::Complete(complete) => match self.results.last_mut() {
                Some(result) if result.columns.is_some() && result.complete.is_none() => {
                    result.complete = Some(complete)
                }
                _ => self.results.push(ResultSet {
                    complete: Some(complete),
                    ..ResultSet::default()
                }),
            },
            // An empty query string: a result with no columns, rows or tag.
            Event::EmptyQuery => self.results.push(ResultSet::default()),
            Event::Prepared(info) => self.prepared = Some(info),
            Event::Error(e) => self.add_error(e),
            Event::Notice(_)
            | Event::Notification(_)
            | Event::Parameter { .. }
            | Event::Backend { .. }
            | Event::CancelToken(_)
            | Event::Conninfo { .. }
            | Event::CopyIn
            | Event::CopyOut
            | Event::CopyData(_)
            | Event::Aborted
            | Event::Synced(_) => {}
        }
    }

    /// The row count of the request's last command that reported one (COPY's, an INSERT's),
    /// unless the request failed.
    pub(crate) fn rows_affected(&self) -> Option<u64> {
        if self.error.is_some() {
            return None;
        }
        self.results
            .iter()
            .rev()
            .find_map(|r| r.complete.as_ref().and_then(|c| c.rows))
    }

    /// Records an error; the first error of a request is the one to report.
    pub(crate) fn add_error(&mut self, error: Error) {
        if self.error.is_none() {
            self.error = Some(error);
        }
    }
}
