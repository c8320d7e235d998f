//! Type OIDs: the one table in `wasmpg-wire` that the guest's codecs also use, re-exported so
//! the host's type conversions and its users name the same numbers.

pub use wasmpg_wire::oid::*;
