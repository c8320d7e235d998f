//! Prepared statements.

use std::sync::Arc;

use crate::row::Column;
use crate::types::Oid;

/// A statement prepared with [`Client::prepare`](crate::Client::prepare). It stays prepared on
/// the server until the connection closes.
#[derive(Debug, Clone)]
pub struct Statement {
    pub(crate) name: String,
    pub(crate) params: Vec<Oid>,
    pub(crate) columns: Arc<[Column]>,
}

impl Statement {
    /// Parameter types as the server resolved them.
    pub fn params(&self) -> &[Oid] {
        &self.params
    }

    /// Result columns; empty for statements that return no rows.
    pub fn columns(&self) -> &[Column] {
        &self.columns
    }

    /// The server-side name.
    pub fn name(&self) -> &str {
        &self.name
    }
}
