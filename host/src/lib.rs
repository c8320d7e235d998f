//! wasmpg: a PostgreSQL driver whose protocol client runs sandboxed in a WebAssembly component.
//!
//! The guest component (built from `guest/`, contract in `wit/driver.wit`) speaks the wire
//! protocol as a pure state machine; this crate hosts it on wasmtime, owns the sockets, and
//! opens only the connections its [`Policy`] allows. The API follows rust-postgres:
//!
//! ```no_run
//! let driver = wasmpg::Driver::new()?;
//! let mut client = driver.connect("host=127.0.0.1 user=postgres dbname=postgres")?;
//! let row = client.query_one("SELECT $1::int + 1", &[&41i32])?;
//! assert_eq!(row.get::<_, i32>(0), 42);
//! # Ok::<(), wasmpg::Error>(())
//! ```
//!
//! Modules:
//! - [`client`]: [`Driver`] (engine, compiled component, limits) and [`Client`] (queries).
//! - [`transaction`]: [`Transaction`] with savepoints.
//! - [`tokio`] (feature `tokio`): the async client, tokio-postgres's shape, on the same step
//!   loop.
//! - [`copy`]: COPY: [`Client::copy_in`] ([`CopyInWriter`]), [`Client::copy_out`]
//!   ([`CopyOutReader`]), [`Client::simple_query_with_copy`] (psql's `-c`).
//! - [`notifications`]: LISTEN/NOTIFY: [`Client::notifications`], its iterators, and
//!   [`Notification`](notifications::Notification).
//! - [`pipeline`]: [`Pipeline`]: several statements sent at once, libpq's pipeline mode, for
//!   both clients.
//! - [`row`]: [`Row`], [`Column`], simple-query messages.
//! - [`row_iter`]: [`Client::query_raw`]'s [`RowIter`]: rows as they arrive, in bounded memory.
//! - [`types`]: [`ToSql`](types::ToSql)/[`FromSql`](types::FromSql) and the value types, one
//!   module per type family; chrono, uuid and serde_json behind the default features
//!   `with-chrono`, `with-uuid`, `with-serde_json`.
//! - [`config`]: [`Config`]: the sandbox's limits, timeouts and caches.
//! - [`policy`]: the connection [`Policy`] and [`Endpoint`]: what the host may open, compared
//!   by name as written (also re-exported from [`config`]).
//! - [`error`]: [`Error`], [`ErrorKind`], [`DbError`].
//! - `session` (private): one session's step loop without I/O, shared by the sync and async
//!   connections: the guest, its session state, and the next socket operation it needs.
//! - `connection` (private): the sync connection, performing that loop's socket operations.
//! - `socket` (private): the TCP/Unix socket: connect (resolution, timeout), read, write.
//! - `results` (private): collects a request's result events into a response.
//! - `guest` (private): the packed steps the guest returns (docs/abi.md), decoded once into owned
//!   values and host errors.
//! - `files` (private): reading a file on a session's behalf (the password file, TLS
//!   certificates and keys, the system trust store), under the policy.
//! - `runtime` (private): the wasmtime sandbox (engine, on-disk compile cache, limits).
//! - `env` (private): PG* variables and the user's default files, which the guest cannot know.

pub mod client;
pub mod config;
mod connection;
pub mod copy;
mod env;
pub mod error;
mod files;
mod guest;
pub mod notifications;
pub mod pipeline;
pub mod policy;
mod results;
pub mod row;
pub mod row_iter;
mod runtime;
mod session;
mod socket;
pub mod statement;
#[cfg(feature = "tokio")]
pub mod tokio;
pub mod transaction;
pub mod types;

#[cfg(feature = "with-chrono")]
pub use chrono;
#[cfg(feature = "with-serde_json")]
pub use serde_json;
#[cfg(feature = "with-uuid")]
pub use uuid;

pub use client::{CancelToken, Client, Driver, ToStatement};
pub use config::{Config, Endpoint, Policy};
pub use copy::{CopyInWriter, CopyOutReader};
pub use error::{DbError, Error, ErrorKind};
pub use guest::PasswordRequest;
pub use pipeline::{Pipeline, PipelineResult};
pub use row::{Column, Row, RowIndex, SimpleQueryMessage, SimpleQueryRow};
pub use row_iter::RowIter;
pub use statement::Statement;
pub use transaction::Transaction;

#[doc(hidden)]
pub use runtime::{guest_imports, wasi_grants, WasiGrants};
