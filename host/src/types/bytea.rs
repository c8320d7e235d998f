//! `bytea`: `[u8]` and `Vec<u8>`, each byte as the code point of its value.

use super::error::{check_type, invalid};
use super::{oid, BoxError, FromSql, IsNull, Oid, SqlType, ToSql};

impl SqlType for [u8] {
    const OID: Oid = oid::BYTEA;
}

impl ToSql for [u8] {
    fn sql_type(&self) -> Oid {
        oid::BYTEA
    }

    fn to_sql(&self, out: &mut String) -> Result<IsNull, BoxError> {
        out.extend(self.iter().map(|&b| char::from(b)));
        Ok(IsNull::No)
    }
}

impl FromSql<'_> for Vec<u8> {
    fn from_sql(ty: Oid, raw: &str) -> Result<Self, BoxError> {
        check_type::<Self>(ty)?;
        raw.chars()
            .map(|c| u8::try_from(c).map_err(|_| invalid(ty, "character above U+00FF")))
            .collect()
    }

    fn accepts(ty: Oid) -> bool {
        ty == oid::BYTEA
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::super::{InvalidValue, WrongType};
    use super::*;

    #[test]
    fn bytea_values() {
        let all: Vec<u8> = (0..=255).collect();
        let raw = round_trip(all.clone());
        assert_eq!(raw.chars().count(), 256);
        assert!(raw.chars().enumerate().all(|(i, c)| c as usize == i));
        assert_eq!(text(&all[..]), raw);
        assert_eq!(text(&vec![0u8, b'A', 0xff]), "\u{0}A\u{ff}");
        assert_eq!(round_trip(Vec::<u8>::new()), "");
        let e = decode_err::<Vec<u8>>(oid::BYTEA, "ok\u{100}");
        assert!(is::<InvalidValue>(&e));
        assert!(is::<WrongType>(&decode_err::<Vec<u8>>(oid::TEXT, "x")));
    }
}
