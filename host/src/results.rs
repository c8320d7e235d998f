//! Collecting a request's result events from the guest into a [`Response`]: its result sets,
//! the prepared statement's description and the first error.

use crate::error::Error;
use crate::runtime::wit;
use crate::wit_error::error_in;

/// What a request produced, gathered from the guest's events.
#[derive(Default)]
pub(crate) struct Response {
    pub(crate) results: Vec<ResultSet>,
    pub(crate) prepared: Option<wit::StatementInfo>,
    pub(crate) error: Option<Error>,
}

/// One result: its columns (if it returns rows), its row batches and its completion.
#[derive(Default)]
pub(crate) struct ResultSet {
    pub(crate) columns: Option<Vec<wit::Column>>,
    pub(crate) batches: Vec<wit::RowBatch>,
    pub(crate) complete: Option<wit::CommandComplete>,
}

impl Response {
    /// Adds a result event: columns, rows, completion, empty query, prepared statement or
    /// error. Session-state events (notices, parameters, ready, ...) are not part of a
    /// response; the connection keeps them, and they are ignored here.
    pub(crate) fn add(&mut self, event: wit::Event) {
        match event {
            wit::Event::Columns(columns) => self.results.push(ResultSet {
                columns: Some(columns),
                ..ResultSet::default()
            }),
            wit::Event::Rows(batch) => match self.results.last_mut() {
                Some(result) if result.complete.is_none() => result.batches.push(batch),
                // The guest emits Columns before any rows; keep them anyway.
                _ => self.results.push(ResultSet {
                    batches: vec![batch],
                    ..ResultSet::default()
                }),
            },
            wit::Event::Complete(complete) => match self.results.last_mut() {
                Some(result) if result.columns.is_some() && result.complete.is_none() => {
                    result.complete = Some(complete)
                }
                _ => self.results.push(ResultSet {
                    complete: Some(complete),
                    ..ResultSet::default()
                }),
            },
            // An empty query string: a result with no columns, rows or tag.
            wit::Event::EmptyQuery => self.results.push(ResultSet::default()),
            wit::Event::Prepared(info) => self.prepared = Some(info),
            wit::Event::Error(e) => self.add_error(error_in(e)),
            wit::Event::Notice(_)
            | wit::Event::Notification(_)
            | wit::Event::Parameter(_)
            | wit::Event::BackendKey(_)
            | wit::Event::Ready(_) => {}
        }
    }

    /// Records an error; the first error of a request is the one to report.
    pub(crate) fn add_error(&mut self, error: Error) {
        if self.error.is_none() {
            self.error = Some(error);
        }
    }
}
