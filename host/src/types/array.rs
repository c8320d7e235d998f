//! Arrays: `Vec<T>` and `[T]` (one dimension) and [`Array`] (any number), sent and read in
//! their JSON list form (see `json_list`).

use std::fmt;

use super::error::{check_type, invalid, unrepresentable};
use super::json_list::{self, Node};
use super::{
    array_oid, element_oid, BoxError, FromSql, FromSqlOwned, IsNull, Oid, SqlType, ToSql, WrongType,
};

/// The array type of `element`, or 0 (the server infers it) when unknown.
const fn array_oid_or_unknown(element: Oid) -> Oid {
    match array_oid(element) {
        Some(array) => array,
        None => 0,
    }
}

impl<T: SqlType> SqlType for [T] {
    const OID: Oid = array_oid_or_unknown(T::OID);
}

impl<T> SqlType for Vec<T>
where
    [T]: SqlType,
{
    const OID: Oid = <[T] as SqlType>::OID;
}

/// A one-dimensional array.
impl<T: ToSql + SqlType> ToSql for [T] {
    fn sql_type(&self) -> Oid {
        <Self as SqlType>::OID
    }

    fn to_sql(&self, out: &mut String) -> Result<IsNull, BoxError> {
        check_scalar::<T>()?;
        let mut scratch = String::new();
        out.push('[');
        for (i, element) in self.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            push_element(out, &mut scratch, Some(element))?;
        }
        out.push(']');
        Ok(IsNull::No)
    }
}

/// `bytea` for `Vec<u8>`, a one-dimensional array otherwise.
impl<T: fmt::Debug> ToSql for Vec<T>
where
    [T]: ToSql,
{
    fn sql_type(&self) -> Oid {
        self.as_slice().sql_type()
    }

    fn to_sql(&self, out: &mut String) -> Result<IsNull, BoxError> {
        self.as_slice().to_sql(out)
    }
}

/// A one-dimensional array: an empty array reads as an empty `Vec`; a multi-dimensional one is
/// an error (read it as [`Array`]); a NULL element is an error unless `T` is an `Option`.
impl<T: FromSqlOwned> FromSql<'_> for Vec<T> {
    fn from_sql(ty: Oid, raw: &str) -> Result<Self, BoxError> {
        check_type::<Self>(ty)?;
        let element = element_oid(ty).ok_or_else(|| WrongType::new::<Self>(ty))?;
        let Node::List(items) = json_list::parse(ty, raw)? else {
            return Err(invalid(ty, "not a JSON list"));
        };
        items
            .into_iter()
            .map(|item| match item {
                Node::Null => T::from_sql_null(element),
                Node::String(s) => T::from_sql(element, &s),
                Node::List(_) => Err(unrepresentable(
                    ty,
                    "multi-dimensional array; read it as types::Array<T>",
                )),
                _ => Err(invalid(ty, "element is neither a JSON string nor null")),
            })
            .collect()
    }

    fn accepts(ty: Oid) -> bool {
        element_oid(ty).is_some_and(T::accepts)
    }
}

/// A PostgreSQL array of any number of dimensions.
///
/// `elements` holds every element in row-major order (the last index varies fastest); `dims`
/// holds the length of each dimension, outermost first, and is empty for an empty array.
/// Lower bounds are not kept (the canonical form drops them).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Array<T> {
    pub dims: Vec<usize>,
    pub elements: Vec<Option<T>>,
}

impl<T> Array<T> {
    /// Checks that `dims` describes `elements.len()` elements.
    pub fn new(dims: Vec<usize>, elements: Vec<Option<T>>) -> Result<Self, BoxError> {
        if !shape_matches(&dims, elements.len()) {
            return Err(shape_error(&dims, elements.len()));
        }
        Ok(Self { dims, elements })
    }

    /// The element at `index` (one zero-based index per dimension); `None` when out of bounds,
    /// `Some(None)` for a NULL element.
    pub fn get(&self, index: &[usize]) -> Option<Option<&T>> {
        if index.len() != self.dims.len() {
            return None;
        }
        let mut flat = 0usize;
        for (&i, &len) in index.iter().zip(&self.dims) {
            if i >= len {
                return None;
            }
            flat = flat.checked_mul(len)?.checked_add(i)?;
        }
        self.elements.get(flat).map(Option::as_ref)
    }
}

/// A one-dimensional array.
impl<T> From<Vec<Option<T>>> for Array<T> {
    fn from(elements: Vec<Option<T>>) -> Self {
        let dims = if elements.is_empty() {
            Vec::new()
        } else {
            vec![elements.len()]
        };
        Self { dims, elements }
    }
}

impl<T> Default for Array<T> {
    fn default() -> Self {
        Self {
            dims: Vec::new(),
            elements: Vec::new(),
        }
    }
}

/// An empty array: no dims (or a zero dim); otherwise the dims' product.
fn shape_matches(dims: &[usize], len: usize) -> bool {
    if len == 0 {
        return dims.is_empty() || dims.contains(&0);
    }
    !dims.is_empty() && dims.iter().try_fold(1usize, |n, &d| n.checked_mul(d)) == Some(len)
}

fn shape_error(dims: &[usize], len: usize) -> BoxError {
    format!("array dims {dims:?} do not describe {len} elements").into()
}

impl<T: SqlType> SqlType for Array<T> {
    const OID: Oid = array_oid_or_unknown(T::OID);
}

impl<T: ToSql + SqlType> ToSql for Array<T> {
    fn sql_type(&self) -> Oid {
        <Self as SqlType>::OID
    }

    fn to_sql(&self, out: &mut String) -> Result<IsNull, BoxError> {
        check_scalar::<T>()?;
        if !shape_matches(&self.dims, self.elements.len()) {
            return Err(shape_error(&self.dims, self.elements.len()));
        }
        if self.elements.is_empty() {
            out.push_str("[]");
            return Ok(IsNull::No);
        }
        push_level(out, &mut String::new(), &self.dims, &self.elements)?;
        Ok(IsNull::No)
    }
}

/// Appends one level of nesting: `dims[0]` lists of `dims[1..]`, or the elements themselves.
/// `elements.len()` is the product of `dims`, all nonzero (checked by the caller).
fn push_level<T: ToSql>(
    out: &mut String,
    scratch: &mut String,
    dims: &[usize],
    elements: &[Option<T>],
) -> Result<(), BoxError> {
    out.push('[');
    match dims {
        [] | [_] => {
            for (i, element) in elements.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                push_element(out, scratch, element.as_ref())?;
            }
        }
        [outer, inner @ ..] => {
            let chunk = elements.len() / outer;
            if chunk == 0 {
                return Err(shape_error(dims, elements.len()));
            }
            for (i, part) in elements.chunks(chunk).enumerate() {
                if i > 0 {
                    out.push(',');
                }
                push_level(out, scratch, inner, part)?;
            }
        }
    }
    out.push(']');
    Ok(())
}

impl<T: FromSqlOwned> FromSql<'_> for Array<T> {
    fn from_sql(ty: Oid, raw: &str) -> Result<Self, BoxError> {
        check_type::<Self>(ty)?;
        let element = element_oid(ty).ok_or_else(|| WrongType::new::<Self>(ty))?;
        let value = json_list::parse(ty, raw)?;
        // The shape is that of the first element at every level; the rest must match it.
        let mut dims = Vec::new();
        let mut cursor = &value;
        while let Node::List(items) = cursor {
            dims.push(items.len());
            match items.first() {
                Some(first) => cursor = first,
                None => break,
            }
        }
        if dims.is_empty() {
            return Err(invalid(ty, "not a JSON list"));
        }
        if dims == [0] {
            return Ok(Self::default());
        }
        if dims.contains(&0) {
            return Err(invalid(ty, "empty sub-array"));
        }
        let mut elements = Vec::new();
        flatten(ty, element, value, &dims, &mut elements)?;
        Ok(Self { dims, elements })
    }

    fn accepts(ty: Oid) -> bool {
        element_oid(ty).is_some_and(T::accepts)
    }
}

fn flatten<T: FromSqlOwned>(
    array: Oid,
    element: Oid,
    value: Node,
    dims: &[usize],
    out: &mut Vec<Option<T>>,
) -> Result<(), BoxError> {
    let Some((&len, inner)) = dims.split_first() else {
        out.push(match value {
            Node::Null => None,
            Node::String(s) => Some(T::from_sql(element, &s)?),
            Node::List(_) => return Err(invalid(array, "sub-arrays differ in shape")),
            _ => return Err(invalid(array, "element is neither a JSON string nor null")),
        });
        return Ok(());
    };
    match value {
        Node::List(items) if items.len() == len => {
            for item in items {
                flatten(array, element, item, inner, out)?;
            }
            Ok(())
        }
        _ => Err(invalid(array, "sub-arrays differ in shape")),
    }
}

/// Nested `Vec`s are not arrays of arrays: multi-dimensional arrays are [`Array`]s.
fn check_scalar<T: SqlType>() -> Result<(), BoxError> {
    if element_oid(T::OID).is_none() {
        return Ok(());
    }
    Err(unrepresentable(
        T::OID,
        "an array cannot be an array element; send multi-dimensional arrays as types::Array<T>",
    ))
}

/// Appends an element: the JSON string of its canonical form, or `null`.
fn push_element<T: ToSql + ?Sized>(
    out: &mut String,
    scratch: &mut String,
    element: Option<&T>,
) -> Result<(), BoxError> {
    let Some(element) = element else {
        out.push_str("null");
        return Ok(());
    };
    scratch.clear();
    if element.to_sql(scratch)? == IsNull::Yes {
        out.push_str("null");
        return Ok(());
    }
    wasmpg_wire::json::push_string(scratch, out);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::super::{oid, InvalidValue, Numeric, Unrepresentable, WasNull};
    use super::*;

    // Arrays of every scalar need every family.
    #[cfg(all(
        feature = "with-chrono",
        feature = "with-uuid",
        feature = "with-serde_json"
    ))]
    use {
        super::super::{Date, Interval, TimeTz, Timestamp},
        ::chrono::{DateTime, NaiveDateTime, Utc},
        ::serde_json::Value,
        ::uuid::Uuid,
    };

    #[test]
    fn one_dimensional_arrays() {
        assert_eq!(round_trip(vec![1i32, 2, 3]), "[\"1\",\"2\",\"3\"]");
        assert_eq!(text(&[1i64, -2][..]), "[\"1\",\"-2\"]");
        assert_eq!(round_trip(Vec::<i32>::new()), "[]");
        assert_eq!(
            round_trip(vec![Some(1i32), None, Some(3)]),
            "[\"1\",null,\"3\"]"
        );
        let parsed: Vec<Option<i32>> = decode(oid::INT4_ARRAY, "[\"1\",null,\"3\"]");
        assert_eq!(parsed, [Some(1), None, Some(3)]);
        let e = decode_err::<Vec<i32>>(oid::INT4_ARRAY, "[\"1\",null,\"3\"]");
        assert!(is::<WasNull>(&e), "{e}");
        assert!(is::<WrongType>(&decode_err::<Vec<i32>>(
            oid::TEXT_ARRAY,
            "[\"1\"]"
        )));
        assert!(is::<WrongType>(&decode_err::<Vec<i32>>(
            oid::INT4,
            "[\"1\"]"
        )));
        assert!(is::<WrongType>(&decode_err::<Vec<String>>(
            oid::TEXT,
            "[\"1\"]"
        )));
        for bad in [
            "{1,2}",
            "",
            "[1]",
            "[\"1\",true]",
            "{\"a\":\"1\"}",
            "\"1\"",
            "[\"x\"]",
        ] {
            assert!(
                is::<InvalidValue>(&decode_err::<Vec<i32>>(oid::INT4_ARRAY, bad)),
                "{bad}"
            );
        }
        let e = decode_err::<Vec<String>>(oid::TEXT_ARRAY, "[[\"a\",\"b\"],[\"c\",null]]");
        assert!(is::<Unrepresentable>(&e));
        assert!(e.to_string().contains("multi-dimensional array"), "{e}");
        // Strings read every array but bytea arrays.
        let names: Vec<String> = decode(oid::NAME_ARRAY, "[\"pg_class\"]");
        assert_eq!(names, ["pg_class"]);
    }

    #[cfg(all(
        feature = "with-chrono",
        feature = "with-uuid",
        feature = "with-serde_json"
    ))]
    #[test]
    fn arrays_of_every_scalar() {
        round_trip(vec![true, false]);
        round_trip(vec![i16::MIN, i16::MAX]);
        round_trip(vec![u32::MAX]);
        assert_eq!(
            round_trip(vec![f64::INFINITY, -0.0, 1e300]),
            "[\"Infinity\",\"-0\",\"1e+300\"]"
        );
        let nan: Vec<f32> = decode(oid::FLOAT4_ARRAY, &text(&vec![f32::NAN]));
        assert!(nan[0].is_nan());
        round_trip(vec![
            "1.50".parse::<Numeric>().expect("n"),
            Numeric::from(f64::NAN),
        ]);
        assert_eq!(
            round_trip(vec![date(-43, 3, 15), date(2024, 1, 2)]),
            "[\"0044-03-15 BC\",\"2024-01-02\"]"
        );
        round_trip(vec![Date::PosInfinity, Date::Value(date(10000, 1, 1))]);
        round_trip(vec![time(1, 2, 3, 4)]);
        round_trip(vec![NaiveDateTime::new(date(1, 1, 1), time(0, 0, 0, 1))]);
        round_trip(vec![
            Timestamp::NegInfinity,
            Timestamp::Value(DateTime::<Utc>::MIN_UTC),
        ]);
        round_trip(vec![TimeTz {
            time: time(1, 0, 0, 0),
            offset: offset(-45),
        }]);
        round_trip(vec![Some(Interval::new(-1, 2, -3)), None]);
        round_trip(vec![Uuid::nil(), Uuid::max()]);
        assert_eq!(
            round_trip(vec![serde_json::json!({"k": "v\""})]),
            r#"["{\"k\":\"v\\\"\"}"]"#
        );
        assert_eq!(vec![Value::Null].sql_type(), oid::JSONB_ARRAY);
        let json: Vec<Value> = decode(oid::JSON_ARRAY, "[\"[1, 2]\",\"null\"]");
        assert_eq!(json, [serde_json::json!([1, 2]), Value::Null]);
        let all: Vec<u8> = (0..=255).collect();
        let raw = round_trip(vec![all.clone(), Vec::new(), b"\\\"".to_vec()]);
        assert!(serde_json::from_str::<Value>(&raw).is_ok());
        let with_null: Vec<Option<Vec<u8>>> = decode(oid::BYTEA_ARRAY, "[null,\"\\u0000\u{ff}\"]");
        assert_eq!(with_null, [None, Some(vec![0, 255])]);
    }

    #[cfg(feature = "with-serde_json")]
    #[test]
    fn json_escaping_of_elements() {
        let strings = vec![
            "a\"b\\c".to_owned(),
            "line\nfeed\r\ttab\u{8}\u{c}".to_owned(),
            "\u{0}\u{1}\u{1b}\u{1e}\u{1f}\u{7f}".to_owned(),
            "é 中文 😀 \u{2028}".to_owned(),
            String::new(),
            "null".to_owned(),
        ];
        let raw = round_trip(strings.clone());
        let parsed: Vec<String> = serde_json::from_str(&raw).expect("valid JSON");
        assert_eq!(parsed, strings);
        assert_eq!(text(&vec!["a\"b\\c\n\u{1}"]), r#"["a\"b\\c\n\u0001"]"#);
        assert_eq!(text(&vec![Some("null"), None]), r#"["null",null]"#);
        // As the guest may escape: non-ASCII as \u escapes, surrogate pairs included.
        let v: Vec<String> = decode(oid::TEXT_ARRAY, r#"["\u00e9\ud83d\ude00","\/"]"#);
        assert_eq!(v, ["é😀", "/"]);
    }

    #[test]
    fn multi_dimensional_arrays() {
        let a: Array<String> = decode(oid::TEXT_ARRAY, r#"[["a","b"],["c",null]]"#);
        assert_eq!(a.dims, [2, 2]);
        assert_eq!(
            a.elements,
            [Some("a".into()), Some("b".into()), Some("c".into()), None]
        );
        assert_eq!(a.get(&[1, 0]), Some(Some(&"c".to_owned())));
        assert_eq!(a.get(&[1, 1]), Some(None));
        assert_eq!(a.get(&[2, 0]), None);
        assert_eq!(a.get(&[0]), None);
        assert_eq!(text(&a), r#"[["a","b"],["c",null]]"#);

        let empty: Array<i32> = decode(oid::INT4_ARRAY, "[]");
        assert_eq!(empty, Array::default());
        assert_eq!(round_trip(empty), "[]");

        let one: Array<i32> = decode(oid::INT4_ARRAY, r#"["1",null]"#);
        assert_eq!(one, Array::from(vec![Some(1), None]));
        assert_eq!(one.dims, [2]);

        // 2x3x2, row-major, with NULLs.
        let elements: Vec<Option<i64>> = (0..12).map(|i| (i % 5 != 0).then_some(i)).collect();
        let cube = Array::new(vec![2, 3, 2], elements).expect("shape");
        let raw = round_trip(cube.clone());
        assert_eq!(
            raw,
            r#"[[[null,"1"],["2","3"],["4",null]],[["6","7"],["8","9"],[null,"11"]]]"#
        );
        assert_eq!(cube.get(&[1, 2, 1]), Some(Some(&11)));
        let single: Array<Numeric> = decode(oid::NUMERIC_ARRAY, r#"[[["1.0"]]]"#);
        assert_eq!(single.dims, [1, 1, 1]);

        for ragged in [
            r#"[["a"],["b","c"]]"#,
            r#"[["a","b"],"c"]"#,
            r#"["a",["b"]]"#,
            r#"[["a"],null]"#,
            r#"[[]]"#,
            r#"[[],[]]"#,
            r#"[[1]]"#,
            r#""a""#,
            r#"{"a":1}"#,
        ] {
            let e = decode_err::<Array<String>>(oid::TEXT_ARRAY, ragged);
            assert!(is::<InvalidValue>(&e), "{ragged}: {e}");
        }
        let e = decode_err::<Array<i32>>(oid::INT4_ARRAY, r#"[[null,"x"]]"#);
        assert!(is::<InvalidValue>(&e), "{e}");
        assert!(is::<WrongType>(&decode_err::<Array<i32>>(
            oid::INT8_ARRAY,
            "[]"
        )));
    }

    #[test]
    fn array_shapes_are_checked() {
        assert!(Array::new(vec![2, 2], vec![Some(1i32); 3]).is_err());
        assert!(Array::new(vec![], vec![Some(1i32)]).is_err());
        assert!(Array::new(vec![usize::MAX, 2], vec![Some(1i32)]).is_err());
        assert!(Array::<i32>::new(vec![], vec![]).is_ok());
        assert!(Array::<i32>::new(vec![3, 0], vec![]).is_ok());
        let bad = Array {
            dims: vec![3],
            elements: vec![Some(1i32)],
        };
        let mut out = String::new();
        assert!(bad.to_sql(&mut out).is_err());
        let zero = Array::<i32> {
            dims: vec![0, 5],
            elements: vec![],
        };
        assert_eq!(text(&zero), "[]");
    }

    #[test]
    fn nested_vecs_are_refused() {
        let nested = vec![vec![1i32], vec![2]];
        let mut out = String::new();
        let e = nested.to_sql(&mut out).expect_err("nested");
        assert!(is::<Unrepresentable>(&e), "{e}");
        let mut out = String::new();
        let e = Array::from(vec![Some(vec![1i32])])
            .to_sql(&mut out)
            .expect_err("nested");
        assert!(is::<Unrepresentable>(&e), "{e}");
    }
}
