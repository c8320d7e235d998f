//! What the wasmpg guest component, its hosts and the fuzz targets share: the packed layout of
//! every value that crosses the contract (`wit/driver.wit`, specified in `docs/abi.md`), with a
//! reference encoder and decoder for each side. Depends on nothing but std; decoding never
//! panics, whatever the input.
//!
//! Modules:
//! - [`escape`]: the five structuring characters and how a value escapes them.
//! - [`step`]: the packed step (what every call returns): [`Step`], [`Action`], [`Event`],
//!   [`step::decode`] and [`Step::encode`].
//! - [`request`]: the packed request (what every call takes), in string and byte form.
//! - [`error`]: [`WireError`] and the contract's [`ErrorKind`] names.
//! - `fields` (private): reading and writing one record's fields; its integer writer is public
//!   as [`Decimal`], [`decimal_digits`] and [`padded_digits`] (the guest formats binary values
//!   and the host date/time parameters with them).
//! - [`batch`]: the one-string row-batch layout (`row-batch` in the contract): separators,
//!   escaping, the [`batch::BatchWriter`] that builds a batch and the zero-copy
//!   [`batch::split`] that reads one back.
//! - [`json`]: the JSON of canonical array forms: writing string literals, reading tokens.
//! - [`text`]: [`TextOut`], the output the shared writers take: a `String`, or a byte buffer
//!   checked as UTF-8 once when finished.
//! - [`oid`]: the well-known PostgreSQL type OIDs whose canonical forms the guest's codecs
//!   define.

pub mod batch;
pub mod error;
pub mod escape;
mod fields;
pub mod json;
pub mod oid;
pub mod request;
pub mod step;
pub mod text;

pub use error::{ErrorKind, WireError};
pub use fields::{decimal_digits, padded_digits, Decimal};
pub use request::{FileStatus, PipelineItem, Request};
pub use step::{Action, Event, Keepalive, Step};
pub use text::TextOut;

/// The contract and packed-layout version the `version` export returns; hosts compare it.
pub const CONTRACT_VERSION: &str = "wasmpg:driver@0.2.0 step/1";

#[cfg(test)]
mod packed_tests;
