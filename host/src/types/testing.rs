//! Helpers shared by the type families' unit tests.

use std::error::Error;
use std::fmt;

#[cfg(feature = "with-chrono")]
use chrono::{FixedOffset, NaiveDate, NaiveTime};

use super::{BoxError, FromSqlOwned, IsNull, Oid, SqlType, ToSql};

pub(super) fn encode<T: ToSql + ?Sized>(value: &T) -> Option<String> {
    let mut out = String::new();
    match value.to_sql(&mut out).expect("to_sql") {
        IsNull::Yes => {
            assert!(out.is_empty(), "NULL wrote {out:?}");
            None
        }
        IsNull::No => Some(out),
    }
}

pub(super) fn text<T: ToSql + ?Sized>(value: &T) -> String {
    encode(value).expect("not NULL")
}

pub(super) fn decode<T: FromSqlOwned>(ty: Oid, raw: &str) -> T {
    match T::from_sql(ty, raw) {
        Ok(v) => v,
        Err(e) => panic!("decoding {raw:?} as OID {ty}: {e}"),
    }
}

pub(super) fn decode_err<T: FromSqlOwned + fmt::Debug>(ty: Oid, raw: &str) -> BoxError {
    match T::from_sql(ty, raw) {
        Ok(v) => panic!("{raw:?} as OID {ty} decoded to {v:?}"),
        Err(e) => e,
    }
}

/// to_sql, then from_sql with the declared type; returns the canonical text.
pub(super) fn round_trip<T: ToSql + SqlType + FromSqlOwned + PartialEq + fmt::Debug>(
    value: T,
) -> String {
    assert_eq!(value.sql_type(), T::OID, "{value:?}");
    let raw = text(&value);
    let back: T = decode(value.sql_type(), &raw);
    assert_eq!(back, value, "via {raw:?}");
    raw
}

pub(super) fn is<E: Error + 'static>(e: &BoxError) -> bool {
    e.downcast_ref::<E>().is_some()
}

#[cfg(feature = "with-chrono")]
pub(super) fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("date")
}

#[cfg(feature = "with-chrono")]
pub(super) fn time(h: u32, m: u32, s: u32, micro: u32) -> NaiveTime {
    NaiveTime::from_hms_micro_opt(h, m, s, micro).expect("time")
}

#[cfg(feature = "with-chrono")]
pub(super) fn offset(seconds: i32) -> FixedOffset {
    FixedOffset::east_opt(seconds).expect("offset")
}
