//! The async client on tokio (feature `tokio`), in tokio-postgres's shape: [`connect`] returns
//! a [`Client`] and a [`Connection`] future to spawn. Same driver, policy, limits and
//! [`Error`] as the sync client, and the same step loop (`session.rs`): the guest's calls stay
//! synchronous and short (the guest never waits on I/O); only the socket operations are async.
//!
//! ```no_run
//! # async fn demo() -> Result<(), wasmpg::Error> {
//! let driver = wasmpg::Driver::new()?;
//! let (client, connection) = wasmpg::tokio::connect(&driver, "host=127.0.0.1 user=postgres").await?;
//! tokio::spawn(connection);
//! let row = client.query_one("SELECT $1::int + 1", &[&41i32]).await?;
//! assert_eq!(row.get::<_, i32>(0), 42);
//! # Ok(()) }
//! ```
//!
//! Modules:
//! - [`client`]: [`Client`]: queries, prepared statements, COPY, notifications.
//! - `connection` (private): the [`Connection`] task: jobs in order, pipelined while one runs,
//!   a dropped caller's statement cancelled.
//! - `socket` (private): the tokio TCP/Unix socket.
//! - [`transaction`]: [`Transaction`], savepoints, rollback on drop.
//! - [`row_stream`]: [`RowStream`], [`Client::query_raw`]'s rows as a `Stream`.
//! - [`copy`]: [`CopyInSink`] (a `Sink`) and [`CopyOutStream`] (a `Stream`).
//! - [`notifications`]: [`Notifications`], LISTEN/NOTIFY as a `Stream`.
//! - `pool` (feature `deadpool`): a `deadpool` manager for [`Client`]s.

pub mod client;
mod connection;
pub mod copy;
pub mod notifications;
#[cfg(feature = "deadpool")]
pub mod pool;
pub mod row_stream;
mod socket;
pub mod transaction;

use std::sync::Arc;

use tokio::sync::mpsc;

pub use client::Client;
pub use connection::Connection;
pub use copy::{CopyInSink, CopyOutStream};
pub use notifications::Notifications;
pub use row_stream::RowStream;
pub use transaction::Transaction;

use crate::client::Driver;
use crate::error::Error;
use crate::guest::PasswordRequest;
use crate::session::Session;
use connection::{Shared, Worker};

/// Connects with a libpq conninfo, as [`Driver::connect`] does; spawn the returned
/// [`Connection`] (`tokio::spawn(connection)`) before using the [`Client`].
pub async fn connect(driver: &Driver, conninfo: &str) -> Result<(Client, Connection), Error> {
    start(driver, conninfo, None).await
}

/// [`connect`] with a password callback, asked only if the server wants a password that the
/// conninfo, `PGPASSWORD` and the password file did not give (as
/// [`Driver::connect_with_password`]).
pub async fn connect_with_password(
    driver: &Driver,
    conninfo: &str,
    password: impl FnMut(&PasswordRequest) -> Option<String> + Send + 'static,
) -> Result<(Client, Connection), Error> {
    start(driver, conninfo, Some(Box::new(password))).await
}

async fn start(
    driver: &Driver,
    conninfo: &str,
    password: Option<crate::session::PasswordCallback>,
) -> Result<(Client, Connection), Error> {
    let config = driver.config();
    let (session, step) = Session::start(driver.runtime(), config, conninfo, password)?;
    let (mut session, socket) = Worker::startup(session, step, config).await?;
    let cancel = CancelToken {
        driver: driver.clone(),
        policy: session.policy().clone(),
        token: session.cancel_token()?,
    };
    let (tx, rx) = mpsc::unbounded_channel();
    let shared = Arc::new(Shared::default());
    let worker = Worker::new(
        session,
        socket,
        config.read_chunk,
        rx,
        shared.clone(),
        Some(cancel.clone()),
    );
    Ok((Client::new(tx, shared, cancel), worker.into_connection()))
}

/// Cancels what a [`Client`] runs, from any task: [`Client::cancel_token`]. As libpq's
/// `PQcancel`, success means the server received the request; a statement it cancelled fails
/// with SQLSTATE 57014. The request goes over a new connection to the address the session
/// reached, under the same policy.
#[derive(Clone)]
pub struct CancelToken {
    driver: Driver,
    policy: crate::policy::Policy,
    token: String,
}

impl CancelToken {
    /// Sends the cancel request and waits until the server has taken it.
    pub async fn cancel_query(&self) -> Result<(), Error> {
        let config = self.driver.config();
        let (session, step) =
            Session::start_cancel(self.driver.runtime(), config, &self.policy, &self.token)?;
        Worker::deliver_cancel(session, step, config).await
    }

    /// The cancel request as a boxed task of its own (the connection spawns it for a caller
    /// that went away; the box ends the type recursion of a connection that cancels).
    pub(crate) fn cancel_detached(
        self,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> {
        Box::pin(async move {
            let _ = self.cancel_query().await;
        })
    }
}

impl std::fmt::Debug for CancelToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The token holds the backend's secret key.
        f.debug_struct("CancelToken").finish_non_exhaustive()
    }
}
