//! The wasmpg guest: a PostgreSQL protocol client that performs no I/O.
//!
//! Compiled for `wasm32-wasip2` it is the component described by `wit/driver.wit`; compiled
//! natively it is an ordinary library, which is how its unit tests run.
//!
//! Modules:
//! - [`session`]: the sans-I/O state machine (startup, authentication, choosing among the
//!   hosts, simple and extended query, COPY, pipelines); every call returns a
//!   [`session::Step`].
//!   Its `auth` submodule answers the server's password requests (conninfo, password file,
//!   host) and hands out the cancel token.
//! - `framing`: taking one complete backend message off the input buffer, with the header
//!   checks (type byte, length, `max-message-size`) made before the body is buffered.
//! - `statement_cache`: the automatic prepared-statement cache behind `query` and pipelines
//!   (LRU by SQL text and parameter types, names `wasmpg_s<N>`, the Close messages owed for
//!   evicted statements, invalidation by SQLSTATE).
//! - [`conninfo`]: libpq connection strings (`key=value` and `postgresql://` URIs), and what the
//!   session requires of them ([`conninfo::parse_supported`]).
//! - [`passfile`]: password-file (`.pgpass`) matching and the file-permission rule, libpq's
//!   rules, pure (the host reads the file).
//! - [`scram`]: the SCRAM-SHA-256 client exchange, with an injectable nonce.
//! - [`codec`]: server text output to the canonical value forms, and canonical parameters to
//!   server text input.
//! - [`error`]: error kinds and the server's error fields.
//! - [`dispatch`]: the packed ABI (docs/abi.md) over the session: one request in, one step out.
//! - [`cancel`]: the cancel token and the small session that delivers a cancel request.
//! - `component` (wasm32 only): the `wit-bindgen` glue, forwarding the exports to [`dispatch`].
//!
//! The row-batch layout and the type OIDs are shared with hosts through the `wasmpg-wire`
//! crate (`wasmpg_wire::batch`, `wasmpg_wire::oid`, re-exported as [`codec::oid`]).

pub mod cancel;
pub mod codec;
pub mod conninfo;
pub mod dispatch;
pub mod error;
mod framing;
pub mod passfile;
pub mod scram;
pub mod session;
mod statement_cache;
pub mod tls;

#[cfg(target_arch = "wasm32")]
mod component;
