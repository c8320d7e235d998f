//! Server output to canonical values, and canonical parameters to server text input.
//!
//! The guest sends every parameter in text format, and asks for results in text format except
//! the fixed-width types [`Decoder::binary_for`] names, which it asks for in binary once the
//! statement's description is known (a cached or prepared statement): the server does not format
//! them, and [`binary`] formats them once. The host never sees either: it sees each value in the
//! *canonical form* of its type, defined on `record row-batch` in `wit/driver.wit`, the same
//! whichever format the server used. In short:
//!
//! - most types (bool, integers, floats, numeric, text types, json, uuid, and every type this
//!   module does not know) are canonical as the server prints them: [`Decoder::Passthrough`];
//! - bytea is the raw bytes, each as the code point of its value (latin-1);
//! - time, timestamp and their `tz` variants always carry six fraction digits when the fraction is
//!   nonzero, and offsets are `+HH:MM` or `+HH:MM:SS`;
//! - interval is `months days microseconds`, three decimal integers;
//! - arrays are JSON lists, nested per dimension, of the JSON strings of the elements' canonical
//!   forms (or `null`).
//!
//! The session sets `client_encoding=UTF8` and `DateStyle=ISO` at startup (both pass through
//! PgBouncer). Intervals are read in every IntervalStyle, so the session does not set it; dates
//! in other DateStyles are reported as decode errors (their field order cannot be known from the
//! text). Floats are the server's text: exact since PostgreSQL 12, whose default
//! `extra_float_digits` (1) prints the shortest exact form.
//!
//! A [`Decoder`] is chosen once per result column with [`decoder_for`] (text) or
//! [`Decoder::binary_for`]; [`encode_param`] goes the other way. Nothing here panics on any input: malformed text is a [`CodecError`].

mod array;
mod binary;
mod bytea;
mod datetime;
mod interval;

use std::fmt;
use wasmpg_wire::TextOut;

pub use binary::Binary;

/// Type OIDs (`pg_type.oid`) the codec knows; shared with hosts through the wire crate.
pub use wasmpg_wire::oid;

/// Element type of a known array type.
pub fn array_element(oid: u32) -> Option<u32> {
    let element = match oid {
        oid::JSON_ARRAY => oid::JSON,
        oid::BOOL_ARRAY => oid::BOOL,
        oid::BYTEA_ARRAY => oid::BYTEA,
        oid::CHAR_ARRAY => oid::CHAR,
        oid::NAME_ARRAY => oid::NAME,
        oid::INT2_ARRAY => oid::INT2,
        oid::INT4_ARRAY => oid::INT4,
        oid::TEXT_ARRAY => oid::TEXT,
        oid::BPCHAR_ARRAY => oid::BPCHAR,
        oid::VARCHAR_ARRAY => oid::VARCHAR,
        oid::INT8_ARRAY => oid::INT8,
        oid::FLOAT4_ARRAY => oid::FLOAT4,
        oid::FLOAT8_ARRAY => oid::FLOAT8,
        oid::OID_ARRAY => oid::OID,
        oid::TIMESTAMP_ARRAY => oid::TIMESTAMP,
        oid::DATE_ARRAY => oid::DATE,
        oid::TIME_ARRAY => oid::TIME,
        oid::TIMESTAMPTZ_ARRAY => oid::TIMESTAMPTZ,
        oid::INTERVAL_ARRAY => oid::INTERVAL,
        oid::NUMERIC_ARRAY => oid::NUMERIC,
        oid::TIMETZ_ARRAY => oid::TIMETZ,
        oid::UUID_ARRAY => oid::UUID,
        oid::JSONB_ARRAY => oid::JSONB,
        _ => return None,
    };
    Some(element)
}

/// A value that could not be converted; the message says what was wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodecError {
    message: String,
}

impl CodecError {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }

    /// `invalid <what> "<value>"`, the value shortened to a readable length.
    fn invalid(what: &str, value: &[u8]) -> Self {
        Self::new(format!("invalid {what} {:?}", echo(value)))
    }

    /// Like [`CodecError::invalid`], with the reason appended.
    fn invalid_because(what: &str, value: &[u8], reason: &str) -> Self {
        Self::new(format!("invalid {what} {:?}: {reason}", echo(value)))
    }

    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for CodecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CodecError {}

/// The first 64 characters of `value` (lossily decoded), with `...` when there is more.
fn echo(value: &[u8]) -> String {
    const MAX_CHARS: usize = 64;
    // A character is at most four bytes, so this many bytes hold the characters shown.
    let head = value.get(..MAX_CHARS * 4).unwrap_or(value);
    let text = String::from_utf8_lossy(head);
    let mut chars = text.chars();
    let mut shown: String = chars.by_ref().take(MAX_CHARS).collect();
    if chars.next().is_some() || head.len() < value.len() {
        shown.push_str("...");
    }
    shown
}

/// How a column's text values become canonical; chosen once per result column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decoder {
    /// The server's text is canonical: only checked to be UTF-8.
    Passthrough,
    Bytea,
    Time,
    TimeTz,
    Date,
    Timestamp,
    TimestampTz,
    Interval,
    /// An array whose elements are decoded by the boxed decoder.
    Array(Box<Decoder>),
    /// A value the server sent in binary format.
    Binary(Binary),
}

/// The decoder for values of type `oid`; unknown types pass through.
pub fn decoder_for(oid: u32) -> Decoder {
    if let Some(element) = array_element(oid) {
        return Decoder::Array(Box::new(decoder_for(element)));
    }
    match oid {
        oid::BYTEA => Decoder::Bytea,
        oid::TIME => Decoder::Time,
        oid::TIMETZ => Decoder::TimeTz,
        oid::DATE => Decoder::Date,
        oid::TIMESTAMP => Decoder::Timestamp,
        oid::TIMESTAMPTZ => Decoder::TimestampTz,
        oid::INTERVAL => Decoder::Interval,
        _ => Decoder::Passthrough,
    }
}

impl Decoder {
    /// The binary decoder for results of type `oid`, if the session should ask for it: the
    /// integer, bool, oid, date, time, timestamp, interval and bytea types always, timestamptz
    /// only when the session's TimeZone is UTC (`utc`), since its text carries the session's
    /// offset. Every other type (floats, numeric, text types, timetz, arrays, ...) is read as
    /// text. `infinite_intervals`: the server is PostgreSQL 17 or later, where the extreme
    /// interval values are the infinities.
    pub fn binary_for(oid: u32, utc: bool, infinite_intervals: bool) -> Option<Decoder> {
        let kind = match oid {
            oid::BOOL => Binary::Bool,
            oid::INT2 => Binary::Int2,
            oid::INT4 => Binary::Int4,
            oid::INT8 => Binary::Int8,
            oid::OID => Binary::Oid,
            oid::DATE => Binary::Date,
            oid::TIME => Binary::Time,
            oid::TIMESTAMP => Binary::Timestamp,
            oid::TIMESTAMPTZ if utc => Binary::TimestampUtc,
            oid::INTERVAL => Binary::Interval {
                infinities: infinite_intervals,
            },
            oid::BYTEA => Binary::Bytea,
            _ => return None,
        };
        Some(Decoder::Binary(kind))
    }

    /// True when the value arrives in binary format (Bind's result format code 1).
    pub fn is_binary(&self) -> bool {
        matches!(self, Self::Binary(_))
    }

    /// True when what [`Decoder::decode`] writes never needs escaping in a row batch: the
    /// formatters of binary numbers, dates, times and intervals (not bytea's, whose canonical
    /// form has a character for every byte), which write ASCII digits, letters, signs, spaces
    /// and `-:.+` only. Checked by the unit tests of `binary` and by the `decode` fuzz target.
    pub fn writes_plain(&self) -> bool {
        matches!(self, Self::Binary(kind) if kind.writes_plain())
    }

    /// True when canonical == server text (the caller then just validates UTF-8 and copies).
    pub fn is_passthrough(&self) -> bool {
        matches!(self, Self::Passthrough)
    }

    #[inline]
    /// Appends the canonical form of `raw` (text format, or binary for [`Decoder::Binary`]) to
    /// `out`. On error `out` is left as
    /// it was.
    pub fn decode(&self, raw: &[u8], out: &mut Vec<u8>) -> Result<(), CodecError> {
        let start = out.len();
        let result = self.decode_into(raw, out);
        if result.is_err() {
            out.truncate(start);
        }
        result
    }

    fn decode_into(&self, raw: &[u8], out: &mut Vec<u8>) -> Result<(), CodecError> {
        match self {
            Self::Passthrough => passthrough(raw, out),
            Self::Bytea => bytea::decode(raw, out),
            Self::Time => datetime::time(raw, out),
            Self::TimeTz => datetime::timetz(raw, out),
            Self::Date => datetime::date(raw, out),
            Self::Timestamp => datetime::timestamp(raw, out),
            Self::TimestampTz => datetime::timestamptz(raw, out),
            Self::Interval => interval::decode(raw, out),
            Self::Array(element) => array::decode(element, raw, out),
            Self::Binary(kind) => kind.decode(raw, out),
        }
    }
}

fn passthrough(raw: &[u8], out: &mut Vec<u8>) -> Result<(), CodecError> {
    let text = std::str::from_utf8(raw).map_err(|e| {
        CodecError::new(format!(
            "invalid UTF-8 in text value at byte {}",
            e.valid_up_to()
        ))
    })?;
    out.push_str(text);
    Ok(())
}

/// Whether a parameter of type `oid` is sent as the host gave it: its canonical form is the
/// server's text input (what [`encode_param`] would copy unchanged).
#[inline]
pub fn param_is_server_text(oid: u32) -> bool {
    oid != oid::BYTEA && oid != oid::INTERVAL && array_element(oid).is_none()
}

/// Appends the PostgreSQL text input form of canonical parameter `value` of type `oid` to `out`.
/// Oid 0 and every type without a special canonical form: the value unchanged (the server
/// validates it). On error `out` is left as it was.
pub fn encode_param(oid: u32, value: &str, out: &mut Vec<u8>) -> Result<(), CodecError> {
    let start = out.len();
    let result = encode_into(oid, value, out);
    if result.is_err() {
        out.truncate(start);
    }
    result
}

fn encode_into(oid: u32, value: &str, out: &mut Vec<u8>) -> Result<(), CodecError> {
    // Keep in step with `param_is_server_text`.
    if let Some(element) = array_element(oid) {
        return array::encode(element, value, out);
    }
    match oid {
        oid::BYTEA => bytea::encode(value, out),
        oid::INTERVAL => interval::encode(value, out),
        _ => {
            out.extend_from_slice(value.as_bytes());
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(oid: u32, raw: &str) -> Result<String, CodecError> {
        let mut out = Vec::new();
        decoder_for(oid).decode(raw.as_bytes(), &mut out)?;
        Ok(String::from_utf8(out).expect("decoded text is UTF-8"))
    }

    fn encode(oid: u32, value: &str) -> Result<String, CodecError> {
        let mut out = Vec::new();
        encode_param(oid, value, &mut out)?;
        Ok(String::from_utf8(out).expect("encoder output is UTF-8"))
    }

    const ARRAYS: [(u32, u32); 23] = [
        (oid::JSON_ARRAY, oid::JSON),
        (oid::BOOL_ARRAY, oid::BOOL),
        (oid::BYTEA_ARRAY, oid::BYTEA),
        (oid::CHAR_ARRAY, oid::CHAR),
        (oid::NAME_ARRAY, oid::NAME),
        (oid::INT2_ARRAY, oid::INT2),
        (oid::INT4_ARRAY, oid::INT4),
        (oid::TEXT_ARRAY, oid::TEXT),
        (oid::BPCHAR_ARRAY, oid::BPCHAR),
        (oid::VARCHAR_ARRAY, oid::VARCHAR),
        (oid::INT8_ARRAY, oid::INT8),
        (oid::FLOAT4_ARRAY, oid::FLOAT4),
        (oid::FLOAT8_ARRAY, oid::FLOAT8),
        (oid::OID_ARRAY, oid::OID),
        (oid::TIMESTAMP_ARRAY, oid::TIMESTAMP),
        (oid::DATE_ARRAY, oid::DATE),
        (oid::TIME_ARRAY, oid::TIME),
        (oid::TIMESTAMPTZ_ARRAY, oid::TIMESTAMPTZ),
        (oid::INTERVAL_ARRAY, oid::INTERVAL),
        (oid::NUMERIC_ARRAY, oid::NUMERIC),
        (oid::TIMETZ_ARRAY, oid::TIMETZ),
        (oid::UUID_ARRAY, oid::UUID),
        (oid::JSONB_ARRAY, oid::JSONB),
    ];

    #[test]
    fn array_oids_map_to_their_elements() {
        for (array, element) in ARRAYS {
            assert_eq!(array_element(array), Some(element), "array oid {array}");
            assert_eq!(
                decoder_for(array),
                Decoder::Array(Box::new(decoder_for(element))),
                "array oid {array}"
            );
            assert_eq!(array_element(element), None, "element oid {element}");
        }
        assert_eq!(array_element(0), None);
        assert_eq!(array_element(1010), None); // tid[]: not known
    }

    #[test]
    fn decoders_by_oid() {
        let passthrough = [
            oid::BOOL,
            oid::CHAR,
            oid::NAME,
            oid::INT8,
            oid::INT2,
            oid::INT4,
            oid::TEXT,
            oid::OID,
            oid::JSON,
            oid::FLOAT4,
            oid::FLOAT8,
            oid::UNKNOWN,
            oid::BPCHAR,
            oid::VARCHAR,
            oid::NUMERIC,
            oid::UUID,
            oid::JSONB,
            0,
            600, // point
            u32::MAX,
        ];
        for oid in passthrough {
            assert!(decoder_for(oid).is_passthrough(), "oid {oid}");
        }
        assert_eq!(decoder_for(oid::BYTEA), Decoder::Bytea);
        assert_eq!(decoder_for(oid::TIME), Decoder::Time);
        assert_eq!(decoder_for(oid::TIMETZ), Decoder::TimeTz);
        assert_eq!(decoder_for(oid::DATE), Decoder::Date);
        assert_eq!(decoder_for(oid::TIMESTAMP), Decoder::Timestamp);
        assert_eq!(decoder_for(oid::TIMESTAMPTZ), Decoder::TimestampTz);
        assert_eq!(decoder_for(oid::INTERVAL), Decoder::Interval);
        for (array, _) in ARRAYS {
            assert!(!decoder_for(array).is_passthrough(), "oid {array}");
        }
        for oid in [oid::BYTEA, oid::TIME, oid::TIMETZ, oid::DATE, oid::INTERVAL] {
            assert!(!decoder_for(oid).is_passthrough(), "oid {oid}");
        }
    }

    #[test]
    fn passthrough_copies_utf8() {
        for (oid, raw) in [
            (oid::BOOL, "t"),
            (oid::INT8, "-9223372036854775808"),
            (oid::FLOAT8, "-Infinity"),
            (oid::NUMERIC, "3.14159265358979323846"),
            (oid::TEXT, "héllo, wörld \u{1F600}"),
            (oid::TEXT, ""),
            (oid::JSONB, r#"{"a": [1, "\u0000"]}"#),
            (oid::UUID, "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"),
            (600, "(1,2)"),
        ] {
            assert_eq!(decode(oid, raw).unwrap(), raw);
        }
    }

    #[test]
    fn passthrough_appends() {
        let mut out = b"x".to_vec();
        Decoder::Passthrough.decode(b"yz", &mut out).unwrap();
        assert_eq!(out, b"xyz");
    }

    #[test]
    fn passthrough_rejects_invalid_utf8() {
        let mut out = b"keep".to_vec();
        let err = Decoder::Passthrough
            .decode(b"ab\xffcd", &mut out)
            .unwrap_err();
        assert_eq!(err.message(), "invalid UTF-8 in text value at byte 2");
        assert_eq!(out, b"keep");
        assert!(Decoder::Passthrough.decode(b"\xc3", &mut out).is_err());
    }

    #[test]
    fn failed_decode_leaves_output_unchanged() {
        for (decoder, raw) in [
            (Decoder::Bytea, &b"\\x41zz"[..]),
            (Decoder::Time, b"12:00:00.1234567"),
            (Decoder::TimestampTz, b"2024-01-02 03:04:05+01:99"),
            (Decoder::Interval, b"1 year 2 parsecs"),
            (decoder_for(oid::INT4_ARRAY), b"{1,2,{3}}"),
            (decoder_for(oid::BYTEA_ARRAY), b"{\"\\\\x00\",\"\\\\x0\"}"),
        ] {
            let mut out = b"before".to_vec();
            assert!(
                decoder.decode(raw, &mut out).is_err(),
                "{decoder:?} {raw:?}"
            );
            assert_eq!(out, b"before", "{decoder:?}");
        }
    }

    #[test]
    fn failed_encode_leaves_output_unchanged() {
        for (oid, value) in [
            (oid::BYTEA, "ab\u{100}"),
            (oid::INTERVAL, "1 2"),
            (oid::INT4_ARRAY, r#"["1", "2", {}]"#),
        ] {
            let mut out = b"before".to_vec();
            assert!(encode_param(oid, value, &mut out).is_err(), "{oid} {value}");
            assert_eq!(out, b"before");
        }
    }

    #[test]
    fn other_params_are_unchanged() {
        for (oid, value) in [
            (0, "anything at all"),
            (oid::TEXT, "{\"not\": \"touched\"} \\x"),
            (oid::INT4, "42"),
            (oid::BOOL, "t"),
            (oid::DATE, "0044-03-15 BC"),
            (oid::TIME, "24:00:00"),
            (oid::TIMESTAMPTZ, "2024-01-02 03:04:05.500000+05:30"),
            (oid::TIMETZ, "13:00:00+02:00"),
            (oid::FLOAT8, "NaN"),
            (oid::JSONB, "[1, 2]"),
            (600, "(1,2)"),
        ] {
            assert_eq!(encode(oid, value).unwrap(), value);
        }
    }

    #[test]
    fn encode_appends() {
        let mut out = b"x".to_vec();
        encode_param(oid::BYTEA, "A", &mut out).unwrap();
        encode_param(oid::TEXT, "y", &mut out).unwrap();
        assert_eq!(out, b"x\\x41y");
    }

    #[test]
    fn errors_echo_a_shortened_value() {
        let err = decode(oid::INTERVAL, "nonsense").unwrap_err();
        assert_eq!(err.to_string(), r#"invalid interval "nonsense""#);
        let long = "x".repeat(500);
        let err = decode(oid::INTERVAL, &long).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("invalid interval \"{}...\"", "x".repeat(64))
        );
        assert_eq!(echo(&[b'a'; 64]), "a".repeat(64));
        assert_eq!(echo(&[b'a'; 65]), format!("{}...", "a".repeat(64)));
        assert_eq!(
            echo("é".repeat(200).as_bytes()),
            format!("{}...", "é".repeat(64))
        );
        assert_eq!(echo(b"a\"b\n\xff"), "a\"b\n\u{fffd}");
        let err = decode(oid::TIME, "1\"2\n").unwrap_err();
        assert_eq!(err.message(), r#"invalid time "1\"2\n""#);
        let err: Box<dyn std::error::Error> = Box::new(err);
        assert!(err.to_string().starts_with("invalid time"));
    }

    /// Mutations of valid inputs through every decoder and encoder: errors are fine, panics and
    /// output left behind by a failed call are not.
    #[test]
    fn garbage_never_panics() {
        const SEEDS: [&str; 14] = [
            r"\x00ff41",
            r"\000\\A",
            "24:00:00.5+05:30:15",
            "0044-03-15 00:00:00.123456+00 BC",
            "-178956970 years -8 mons -2147483648 days -2562047788:00:54.775808",
            "@ 1 day -2 hours -3 mins 4.5 secs ago",
            "+0-1 -2 -0:00:01.5",
            "P-1Y-2M3DT-4H-5M-6.789S",
            r#"[1:1][-2:-1]={{"a\"b",NULL},{" c ",d\,e}}"#,
            r#"{"\\x0102","\\000\\\\",NULL}"#,
            r#"[["1", null], ["\uD83D\uDE00\n", 2.5e-3]]"#,
            r#"["14 3 14706789000", "-1 0 -5", true]"#,
            "1 -2 -9223372036854775808",
            "{{{{{{1}}}}}}",
        ];
        const ALPHABET: &[u8] = b"0123456789:.-+ PTYMWDHS@ago{}[]=,\"\\xNUL\xc3\xa9\xff\x00\n";
        const OIDS: [u32; 12] = [
            oid::BYTEA,
            oid::TIME,
            oid::TIMETZ,
            oid::DATE,
            oid::TIMESTAMP,
            oid::TIMESTAMPTZ,
            oid::INTERVAL,
            oid::TEXT_ARRAY,
            oid::BYTEA_ARRAY,
            oid::INTERVAL_ARRAY,
            oid::TIMESTAMPTZ_ARRAY,
            oid::INT4,
        ];
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move |bound: usize| {
            // xorshift64*: deterministic, good enough to pick mutations.
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            (state.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33) as usize % bound.max(1)
        };
        for _ in 0..20_000 {
            let mut input = SEEDS[next(SEEDS.len())].as_bytes().to_vec();
            for _ in 0..=next(4) {
                let at = next(input.len() + 1);
                let byte = ALPHABET[next(ALPHABET.len())];
                match next(3) {
                    0 => input.insert(at, byte),
                    1 if at < input.len() => {
                        input.remove(at);
                    }
                    _ if at < input.len() => input[at] = byte,
                    _ => input.push(byte),
                }
            }
            for oid in OIDS {
                let mut out = b"x".to_vec();
                if decoder_for(oid).decode(&input, &mut out).is_err() {
                    assert_eq!(out, b"x");
                } else {
                    // What a decoder writes is text: the row batch relies on it
                    // (`BatchWriter::take` checks it once per batch).
                    assert!(std::str::from_utf8(&out).is_ok(), "{oid} {input:?}");
                }
                if let Ok(text) = std::str::from_utf8(&input) {
                    let mut out = b"x".to_vec();
                    if encode_param(oid, text, &mut out).is_err() {
                        assert_eq!(out, b"x");
                    }
                }
            }
        }
    }

    /// Server output (PostgreSQL 15) of every decoded kind, decoded then encoded back: the result
    /// is what the server accepts as input for the same value.
    #[test]
    fn round_trips() {
        for (oid, server, canonical, param) in [
            (oid::BYTEA, r"\x00ff41", "\u{0}\u{ff}A", r"\x00ff41"),
            (oid::BYTEA, r"\000\377A", "\u{0}\u{ff}A", r"\x00ff41"),
            (
                oid::TIME,
                "12:00:00.5",
                "12:00:00.500000",
                "12:00:00.500000",
            ),
            (
                oid::TIMETZ,
                "13:00:00+02",
                "13:00:00+02:00",
                "13:00:00+02:00",
            ),
            (oid::DATE, "0044-03-15 BC", "0044-03-15 BC", "0044-03-15 BC"),
            (
                oid::TIMESTAMPTZ,
                "2024-01-02 03:04:05.5+05:30",
                "2024-01-02 03:04:05.500000+05:30",
                "2024-01-02 03:04:05.500000+05:30",
            ),
            (
                oid::INTERVAL,
                "1 year 2 mons 3 days 04:05:06.789",
                "14 3 14706789000",
                "+14 mons +3 days +4 hours +306.789 secs",
            ),
            (
                oid::INT4_ARRAY,
                "[0:1]={1,NULL}",
                r#"["1",null]"#,
                r#"{"1",NULL}"#,
            ),
            (
                oid::TEXT_ARRAY,
                r#"{{"a b","c\"d\\e"},{NULL,"NULL"}}"#,
                r#"[["a b","c\"d\\e"],[null,"NULL"]]"#,
                r#"{{"a b","c\"d\\e"},{NULL,"NULL"}}"#,
            ),
            (
                oid::BYTEA_ARRAY,
                r#"{"\\x0102","\\x",NULL}"#,
                r#"["\u0001\u0002","",null]"#,
                r#"{"\\x0102","\\x",NULL}"#,
            ),
            (
                oid::INTERVAL_ARRAY,
                r#"{"-1 days +02:03:00",00:00:00}"#,
                r#"["0 -1 7380000000","0 0 0"]"#,
                r#"{"+0 mons -1 days +2 hours +180 secs","+0 mons +0 days +0 hours +0 secs"}"#,
            ),
        ] {
            let decoded = decode(oid, server).unwrap();
            assert_eq!(decoded, canonical, "decode {server:?}");
            assert_eq!(encode(oid, &decoded).unwrap(), param, "encode {decoded:?}");
        }
    }
}
