//! `json` and `jsonb` (feature `with-serde_json`): `serde_json::Value`.

use serde_json::Value;

use super::error::{check_type, invalid};
use super::{oid, BoxError, FromSql, IsNull, Oid, SqlType, ToSql};

/// Declared `jsonb`; `$1::json` casts it where `json` is wanted. Numbers follow
/// `serde_json`'s precision (an integer beyond `u64`/`i64` becomes an `f64`).
impl SqlType for Value {
    const OID: Oid = oid::JSONB;
}

impl ToSql for Value {
    fn sql_type(&self) -> Oid {
        oid::JSONB
    }

    fn to_sql(&self, out: &mut String) -> Result<IsNull, BoxError> {
        out.push_str(&serde_json::to_string(self)?);
        Ok(IsNull::No)
    }
}

impl FromSql<'_> for Value {
    fn from_sql(ty: Oid, raw: &str) -> Result<Self, BoxError> {
        check_type::<Self>(ty)?;
        serde_json::from_str(raw).map_err(|e| invalid(ty, e.to_string()))
    }

    fn accepts(ty: Oid) -> bool {
        ty == oid::JSON || ty == oid::JSONB
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::super::{InvalidValue, WrongType};
    use super::*;

    #[test]
    fn json_values() {
        let v = serde_json::json!({"a": [1, 2.5, null, true], "é": "x\"y\n", "n": -7});
        let raw = round_trip(v.clone());
        assert_eq!(decode::<Value>(oid::JSON, &raw), v);
        // jsonb output spacing.
        assert_eq!(
            decode::<Value>(oid::JSONB, "{\"a\": [1, 2], \"b\": null}"),
            serde_json::json!({"a": [1, 2], "b": null})
        );
        assert_eq!(round_trip(Value::Null), "null");
        assert!(is::<InvalidValue>(&decode_err::<Value>(oid::JSONB, "{bad")));
        assert!(is::<WrongType>(&decode_err::<Value>(oid::TEXT, "{}")));
    }
}
