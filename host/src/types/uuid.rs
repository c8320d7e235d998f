//! `uuid` (feature `with-uuid`): `uuid::Uuid`, sent lowercase and hyphenated.

use uuid::Uuid;

use super::error::{check_type, invalid};
use super::{oid, BoxError, FromSql, IsNull, Oid, SqlType, ToSql};

impl SqlType for Uuid {
    const OID: Oid = oid::UUID;
}

impl ToSql for Uuid {
    fn sql_type(&self) -> Oid {
        oid::UUID
    }

    fn to_sql(&self, out: &mut String) -> Result<IsNull, BoxError> {
        out.push_str(self.hyphenated().encode_lower(&mut Uuid::encode_buffer()));
        Ok(IsNull::No)
    }
}

impl FromSql<'_> for Uuid {
    fn from_sql(ty: Oid, raw: &str) -> Result<Self, BoxError> {
        check_type::<Self>(ty)?;
        Uuid::parse_str(raw).map_err(|e| invalid(ty, e.to_string()))
    }

    fn accepts(ty: Oid) -> bool {
        ty == oid::UUID
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::super::{InvalidValue, WrongType};
    use super::*;

    #[test]
    fn uuids() {
        let u = Uuid::from_u128(0x0123_4567_89ab_cdef_fedc_ba98_7654_3210);
        assert_eq!(round_trip(u), "01234567-89ab-cdef-fedc-ba9876543210");
        assert_eq!(
            decode::<Uuid>(oid::UUID, "01234567-89AB-CDEF-FEDC-BA9876543210"),
            u
        );
        for bad in ["", "01234567-89ab-cdef-fedc-ba987654321", "not-a-uuid"] {
            assert!(
                is::<InvalidValue>(&decode_err::<Uuid>(oid::UUID, bad)),
                "{bad}"
            );
        }
        assert!(is::<WrongType>(&decode_err::<Uuid>(oid::TEXT, "x")));
    }
}
