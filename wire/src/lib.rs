//! What the wasmpg guest component, its hosts and the fuzz targets share, beyond the WIT
//! contract itself (`wit/driver.wit`): layouts of data that crosses the boundary as plain strings
//! and numbers. Depends on nothing but std.
//!
//! Modules:
//! - [`batch`]: the one-string row-batch layout (`row-batch` in the contract): separators,
//!   escaping, the [`batch::BatchWriter`] that builds a batch and the zero-copy
//!   [`batch::split`] that reads one back.
//! - [`oid`]: the well-known PostgreSQL type OIDs whose canonical forms the guest's codecs
//!   define.

pub mod batch;
pub mod oid;
