//! The wasmpg guest: a PostgreSQL protocol client that performs no I/O.
//!
//! Compiled for `wasm32-wasip2` it is the component described by `wit/driver.wit`; compiled
//! natively it is an ordinary library, which is how its unit tests run.
//!
//! Modules:
//! - [`session`]: the sans-I/O state machine (startup, authentication, simple and extended
//!   query, the automatic statement cache); every call returns a [`session::Step`].
//! - [`conninfo`]: libpq connection strings (`key=value` and `postgresql://` URIs).
//! - [`passfile`]: password-file (`.pgpass`) matching and the file-permission rule, libpq's
//!   rules, pure (the host reads the file).
//! - [`scram`]: the SCRAM-SHA-256 client exchange, with an injectable nonce.
//! - [`codec`]: server text output to the canonical value forms, and canonical parameters to
//!   server text input.
//! - [`batch`]: the one-string row-batch layout that crosses the boundary.
//! - [`error`]: error kinds and the server's error fields.
//! - `component` (wasm32 only): the `wit-bindgen` glue, conversions only.

pub mod batch;
pub mod codec;
pub mod conninfo;
pub mod error;
pub mod passfile;
pub mod scram;
pub mod session;

#[cfg(target_arch = "wasm32")]
mod component;
