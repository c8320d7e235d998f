//! Transactions and savepoints. Dropping an unfinished one rolls it back.

use crate::client::{Client, ToStatement};
use crate::error::Error;
use crate::row::{Row, SimpleQueryMessage};
use crate::statement::Statement;
use crate::types::ToSql;

/// A transaction (or a savepoint inside one) on a [`Client`].
pub struct Transaction<'a> {
    client: &'a mut Client,
    savepoint: Option<String>,
    done: bool,
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
    pub fn commit(mut self) -> Result<(), Error> {
        self.done = true;
        self.client
            .batch_execute(&commit_sql(self.savepoint.as_deref()))
    }

    /// Rolls back (to the savepoint).
    pub fn rollback(mut self) -> Result<(), Error> {
        self.done = true;
        self.rollback_now()
    }

    fn rollback_now(&mut self) -> Result<(), Error> {
        self.client
            .batch_execute(&rollback_sql(self.savepoint.as_deref()))
    }

    /// A nested transaction: a savepoint with this name.
    pub fn savepoint(&mut self, name: &str) -> Result<Transaction<'_>, Error> {
        self.client.batch_execute(&savepoint_sql(name))?;
        Ok(Transaction::new(self.client, Some(name.to_owned())))
    }

    /// A nested transaction with a generated savepoint name.
    pub fn transaction(&mut self) -> Result<Transaction<'_>, Error> {
        self.savepoint(&nested_name(self.savepoint.as_deref()))
    }

    pub fn query<T: ?Sized + ToStatement>(
        &mut self,
        statement: &T,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, Error> {
        self.client.query(statement, params)
    }

    pub fn query_one<T: ?Sized + ToStatement>(
        &mut self,
        statement: &T,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Row, Error> {
        self.client.query_one(statement, params)
    }

    pub fn query_opt<T: ?Sized + ToStatement>(
        &mut self,
        statement: &T,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<Row>, Error> {
        self.client.query_opt(statement, params)
    }

    pub fn execute<T: ?Sized + ToStatement>(
        &mut self,
        statement: &T,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<u64, Error> {
        self.client.execute(statement, params)
    }

    pub fn prepare(&mut self, sql: &str) -> Result<Statement, Error> {
        self.client.prepare(sql)
    }

    pub fn simple_query(&mut self, sql: &str) -> Result<Vec<SimpleQueryMessage>, Error> {
        self.client.simple_query(sql)
    }

    pub fn batch_execute(&mut self, sql: &str) -> Result<(), Error> {
        self.client.batch_execute(sql)
    }
}

impl Drop for Transaction<'_> {
    fn drop(&mut self) {
        if !self.done && !self.client.is_closed() {
            // Errors cannot be reported from drop; a broken connection is visible on next use.
            let _ = self.rollback_now();
        }
    }
}

/// What ends a transaction (`None`) or a savepoint with success. Shared with the tokio client.
pub(crate) fn commit_sql(savepoint: Option<&str>) -> String {
    match savepoint {
        Some(name) => format!("RELEASE SAVEPOINT {}", quote_ident(name)),
        None => "COMMIT".to_owned(),
    }
}

/// What rolls back a transaction (`None`) or to a savepoint, and releases the savepoint.
pub(crate) fn rollback_sql(savepoint: Option<&str>) -> String {
    match savepoint {
        Some(name) => format!(
            "ROLLBACK TO SAVEPOINT {0}; RELEASE SAVEPOINT {0}",
            quote_ident(name)
        ),
        None => "ROLLBACK".to_owned(),
    }
}

/// What opens a savepoint.
pub(crate) fn savepoint_sql(name: &str) -> String {
    format!("SAVEPOINT {}", quote_ident(name))
}

/// The generated name of a savepoint nested in `savepoint` (or in the transaction).
pub(crate) fn nested_name(savepoint: Option<&str>) -> String {
    match savepoint {
        Some(name) => format!("{name}_"),
        None => "wasmpg_sp".to_owned(),
    }
}

/// Quotes an SQL identifier.
fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}
