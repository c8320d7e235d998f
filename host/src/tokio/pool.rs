//! A pool of async clients (feature `deadpool`): a [`Manager`] for the `deadpool` crate, as
//! deadpool-postgres is for tokio-postgres. Why deadpool rather than a pool of our own or bb8:
//! it is what tokio-postgres users already run (deadpool-postgres), it has the waiting queue,
//! timeouts, resizing, hooks and metrics a server needs, and a manager is all a driver adds;
//! bb8's `ManageConnection` would serve as well, but its users are fewer.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use wasmpg::tokio::pool::{Manager, Pool};
//! let driver = wasmpg::Driver::new()?;
//! let pool = Pool::builder(Manager::new(driver, "host=127.0.0.1 user=postgres"))
//!     .max_size(16)
//!     .build()?;
//! let client = pool.get().await?;
//! let n: i64 = client.query_one("SELECT count(*) FROM pg_class", &[]).await?.get(0);
//! # let _ = n; Ok(()) }
//! ```

use deadpool::managed::{self, Metrics, RecycleError, RecycleResult};

use crate::client::Driver;
use crate::error::Error;

use super::Client;

/// The pool: `deadpool`'s, of [`Client`]s.
pub type Pool = managed::Pool<Manager>;
/// A client taken from the pool; it goes back when dropped.
pub type Object = managed::Object<Manager>;
/// What [`Pool::get`] can fail with.
pub type PoolError = managed::PoolError<Error>;

/// What a client gets before it is handed out again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum RecyclingMethod {
    /// Only checks that the session is open; a transaction left open is rolled back.
    #[default]
    Fast,
    /// Also runs an empty statement: a session the server ended while idle is noticed before
    /// it is handed out (one round trip per checkout).
    Verified,
    /// `Verified`, then `DISCARD ALL`: session state (settings, temporary tables, LISTEN,
    /// prepared statements) does not leak to the next user. The driver's statement cache is
    /// told by the server's reply and re-prepares what it needs.
    Clean,
}

/// Opens [`Client`]s for the pool (each with its connection spawned on the current tokio
/// runtime) and recycles them.
#[derive(Clone)]
pub struct Manager {
    driver: Driver,
    conninfo: String,
    recycling: RecyclingMethod,
}

impl std::fmt::Debug for Manager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The conninfo may hold a password.
        f.debug_struct("Manager")
            .field("recycling", &self.recycling)
            .finish_non_exhaustive()
    }
}

impl Manager {
    pub fn new(driver: Driver, conninfo: impl Into<String>) -> Manager {
        Manager {
            driver,
            conninfo: conninfo.into(),
            recycling: RecyclingMethod::default(),
        }
    }

    pub fn recycling(mut self, method: RecyclingMethod) -> Manager {
        self.recycling = method;
        self
    }
}

impl managed::Manager for Manager {
    type Type = Client;
    type Error = Error;

    async fn create(&self) -> Result<Client, Error> {
        let (client, connection) = super::connect(&self.driver, &self.conninfo).await?;
        tokio::spawn(connection);
        Ok(client)
    }

    async fn recycle(&self, client: &mut Client, _: &Metrics) -> RecycleResult<Error> {
        if client.is_closed() {
            return Err(RecycleError::message("the session has ended"));
        }
        if client.in_transaction() {
            client.batch_execute("ROLLBACK").await?;
        }
        match self.recycling {
            RecyclingMethod::Fast => {}
            RecyclingMethod::Verified => client.batch_execute("").await?,
            RecyclingMethod::Clean => client.batch_execute("DISCARD ALL").await?,
        }
        Ok(())
    }
}
