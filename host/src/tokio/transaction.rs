//! Async transactions and savepoints (tokio-postgres's `Transaction`). One that is dropped
//! unfinished is rolled back: the rollback is queued on the connection before anything the
//! client sends next, so nothing can run inside the abandoned transaction.

use std::ops::Deref;

use crate::error::Error;
use crate::transaction::{commit_sql, nested_name, rollback_sql, savepoint_sql};

use super::Client;

/// A transaction (or a savepoint inside one) on a [`Client`]. It derefs to the client for
/// queries; [`commit`](Transaction::commit) or [`rollback`](Transaction::rollback) end it.
pub struct Transaction<'a> {
    client: &'a mut Client,
    savepoint: Option<String>,
    done: bool,
}

impl std::fmt::Debug for Transaction<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transaction")
            .field("savepoint", &self.savepoint)
            .finish_non_exhaustive()
    }
}

impl<'a> Transaction<'a> {
    pub(crate) fn new(client: &'a mut Client, savepoint: Option<String>) -> Transaction<'a> {
        Transaction {
            client,
            savepoint,
            done: false,
        }
    }

    /// Commits (or releases the savepoint).
    pub async fn commit(mut self) -> Result<(), Error> {
        self.done = true;
        let sql = commit_sql(self.savepoint.as_deref());
        self.client.batch_execute(&sql).await
    }

    /// Rolls back (to the savepoint).
    pub async fn rollback(mut self) -> Result<(), Error> {
        self.done = true;
        let sql = self.rollback_sql();
        self.client.batch_execute(&sql).await
    }

    fn rollback_sql(&self) -> String {
        rollback_sql(self.savepoint.as_deref())
    }

    /// A nested transaction: a savepoint with this name.
    pub async fn savepoint(&mut self, name: &str) -> Result<Transaction<'_>, Error> {
        self.client.batch_execute(&savepoint_sql(name)).await?;
        Ok(Transaction::new(self.client, Some(name.to_owned())))
    }

    /// A nested transaction with a generated savepoint name.
    pub async fn transaction(&mut self) -> Result<Transaction<'_>, Error> {
        let name = nested_name(self.savepoint.as_deref());
        self.savepoint(&name).await
    }
}

impl Deref for Transaction<'_> {
    type Target = Client;

    fn deref(&self) -> &Client {
        self.client
    }
}

impl Drop for Transaction<'_> {
    fn drop(&mut self) {
        if !self.done && !self.client.is_closed() {
            let sql = self.rollback_sql();
            self.client.batch_execute_detached(sql);
        }
    }
}
