//! Text: `str`, `String` (which read every type but `bytea`) and [`Unknown`].

use super::error::check_type;
use super::{oid, BoxError, FromSql, IsNull, Oid, SqlType, ToSql};

impl SqlType for str {
    const OID: Oid = oid::TEXT;
}

impl ToSql for str {
    fn sql_type(&self) -> Oid {
        oid::TEXT
    }

    fn to_sql(&self, out: &mut String) -> Result<IsNull, BoxError> {
        out.push_str(self);
        Ok(IsNull::No)
    }
}

impl SqlType for String {
    const OID: Oid = oid::TEXT;
}

impl ToSql for String {
    fn sql_type(&self) -> Oid {
        oid::TEXT
    }

    fn to_sql(&self, out: &mut String) -> Result<IsNull, BoxError> {
        self.as_str().to_sql(out)
    }
}

impl<'a> FromSql<'a> for &'a str {
    fn from_sql(ty: Oid, raw: &'a str) -> Result<Self, BoxError> {
        check_type::<Self>(ty)?;
        Ok(raw)
    }

    fn accepts(ty: Oid) -> bool {
        ty != oid::BYTEA
    }
}

impl FromSql<'_> for String {
    fn from_sql(ty: Oid, raw: &str) -> Result<Self, BoxError> {
        check_type::<Self>(ty)?;
        Ok(raw.to_owned())
    }

    fn accepts(ty: Oid) -> bool {
        ty != oid::BYTEA
    }
}

/// Text sent with an unspecified type (OID 0): the server infers the type from the SQL, as
/// for an untyped literal (`WHERE varchar_col = $1`, `$1::int`). Plain `&str` and `String`
/// declare `text`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Unknown<'a>(pub &'a str);

impl SqlType for Unknown<'_> {
    const OID: Oid = 0;
}

impl ToSql for Unknown<'_> {
    fn sql_type(&self) -> Oid {
        0
    }

    fn to_sql(&self, out: &mut String) -> Result<IsNull, BoxError> {
        out.push_str(self.0);
        Ok(IsNull::No)
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::super::WrongType;
    use super::*;

    #[test]
    fn text_values() {
        for s in [
            "",
            "plain",
            "é ü 中文 😀",
            "tab\tnew\nline \\ \"quote\"",
            "\u{1b}\u{1e}",
        ] {
            assert_eq!(round_trip(s.to_owned()), s);
            assert_eq!(text(&s), s);
        }
        // Text reads every type's canonical form but bytea's.
        assert_eq!(decode::<String>(oid::INT4, "42"), "42");
        assert_eq!(decode::<String>(oid::INT4_ARRAY, "[\"1\"]"), "[\"1\"]");
        assert_eq!(decode::<String>(16385, "(1,2)"), "(1,2)");
        let raw = String::from("borrowed");
        let s: &str = FromSql::from_sql(oid::VARCHAR, &raw).expect("str");
        assert!(std::ptr::eq(s, raw.as_str()));
        assert!(is::<WrongType>(
            &<&str as FromSql>::from_sql(oid::BYTEA, "x").expect_err("bytea")
        ));
        assert_eq!(text(&Unknown("42")), "42");
        assert_eq!(encode(&None::<&str>), None);
    }
}
