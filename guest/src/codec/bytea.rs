//! bytea: server hex (`\x4142`) or escape (`\101\\`) output to latin-1 text, and back to hex.

use super::CodecError;
use wasmpg_wire::TextOut;

const HEX_DIGITS: &[u8; 16] = b"0123456789abcdef";

/// Appends the bytes of the bytea text `raw` as latin-1 characters.
pub(super) fn decode(raw: &[u8], out: &mut Vec<u8>) -> Result<(), CodecError> {
    let decoded = match raw.strip_prefix(b"\\x") {
        Some(hex) => decode_hex(hex, out),
        None => decode_escape(raw, out),
    };
    decoded.ok_or_else(|| CodecError::invalid("bytea", raw))
}

fn decode_hex(hex: &[u8], out: &mut Vec<u8>) -> Option<()> {
    let (pairs, odd) = hex.as_chunks::<2>();
    if !odd.is_empty() {
        return None;
    }
    // Characters from U+0080 take two bytes; most binary data has some.
    out.reserve(pairs.len() * 2);
    for &[high, low] in pairs {
        out.push_char(char::from(hex_value(high)? << 4 | hex_value(low)?));
    }
    Some(())
}

fn hex_value(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}

/// The escape format: `\\` is a backslash, `\ooo` an octal byte, every other byte itself.
fn decode_escape(raw: &[u8], out: &mut Vec<u8>) -> Option<()> {
    out.reserve(raw.len());
    let mut rest = raw;
    while let Some((&byte, tail)) = rest.split_first() {
        rest = tail;
        if byte != b'\\' {
            out.push_char(char::from(byte));
            continue;
        }
        match rest {
            [b'\\', tail @ ..] => {
                out.push(b'\\');
                rest = tail;
            }
            [a @ b'0'..=b'3', b @ b'0'..=b'7', c @ b'0'..=b'7', tail @ ..] => {
                out.push_char(char::from((a - b'0') << 6 | (b - b'0') << 3 | (c - b'0')));
                rest = tail;
            }
            _ => return None,
        }
    }
    Some(())
}

/// Appends `\x` and the lowercase hex of `value`, whose characters must all be U+0000..=U+00FF.
pub(super) fn encode(value: &str, out: &mut Vec<u8>) -> Result<(), CodecError> {
    out.reserve(2 + value.len() * 2);
    out.extend_from_slice(b"\\x");
    for c in value.chars() {
        let Ok(byte) = u8::try_from(c) else {
            return Err(CodecError::new(format!(
                "invalid bytea parameter: character U+{:04X} is above U+00FF \
                 (each character stands for one byte)",
                u32::from(c)
            )));
        };
        // Both indexes are below 16, the length of HEX_DIGITS.
        out.push(HEX_DIGITS[usize::from(byte >> 4)]);
        out.push(HEX_DIGITS[usize::from(byte & 0xf)]);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decoded(raw: &[u8]) -> Result<String, CodecError> {
        let mut out = Vec::new();
        decode(raw, &mut out)?;
        Ok(String::from_utf8(out).expect("decoded text is UTF-8"))
    }

    fn encoded(value: &str) -> Result<Vec<u8>, CodecError> {
        let mut out = Vec::new();
        encode(value, &mut out)?;
        Ok(out)
    }

    fn all_bytes() -> String {
        (0..=255u8).map(char::from).collect()
    }

    #[test]
    fn hex() {
        assert_eq!(decoded(b"\\x").unwrap(), "");
        assert_eq!(decoded(b"\\x4142").unwrap(), "AB");
        assert_eq!(decoded(b"\\x00ff7f80").unwrap(), "\u{0}\u{ff}\u{7f}\u{80}");
        assert_eq!(decoded(b"\\xDeadBEEF").unwrap(), "\u{de}\u{ad}\u{be}\u{ef}");
        let every: Vec<u8> = (0..=255u8)
            .flat_map(|b| format!("{b:02x}").into_bytes())
            .collect();
        let raw = [&b"\\x"[..], &every].concat();
        assert_eq!(decoded(&raw).unwrap(), all_bytes());
    }

    #[test]
    fn hex_errors() {
        for raw in [
            &b"\\x4"[..],
            b"\\x414",
            b"\\x4g",
            b"\\x 41",
            b"\\x41 ",
            b"\\X41",
            b"\\x\xff\xff",
        ] {
            let err = decoded(raw).unwrap_err();
            assert!(err.message().starts_with("invalid bytea"), "{raw:?}: {err}");
        }
    }

    #[test]
    fn escape() {
        assert_eq!(decoded(b"").unwrap(), "");
        assert_eq!(decoded(b"abc").unwrap(), "abc");
        // As printed by PostgreSQL 15 for '\x005c41ff7f20'::bytea with bytea_output=escape.
        assert_eq!(
            decoded(b"\\000\\\\A\\377\\177 ").unwrap(),
            "\u{0}\\A\u{ff}\u{7f} "
        );
        assert_eq!(decoded(b"\\101\\102x").unwrap(), "ABx");
        // Bytes the server would have escaped are still taken literally.
        assert_eq!(decoded(b"\xe9\n").unwrap(), "\u{e9}\n");
        let every: String = (0..=255u8).map(|b| format!("\\{b:03o}")).collect();
        assert_eq!(decoded(every.as_bytes()).unwrap(), all_bytes());
    }

    #[test]
    fn escape_errors() {
        for raw in [
            &b"\\"[..],
            b"a\\",
            b"\\4",
            b"\\40",
            b"\\400",
            b"\\08",
            b"\\n",
        ] {
            let err = decoded(raw).unwrap_err();
            assert_eq!(
                err.message(),
                format!("invalid bytea {:?}", String::from_utf8_lossy(raw))
            );
        }
    }

    #[test]
    fn encode_hex() {
        assert_eq!(encoded("").unwrap(), b"\\x");
        assert_eq!(encoded("AB").unwrap(), b"\\x4142");
        assert_eq!(encoded("\u{0}\u{ff}\\").unwrap(), b"\\x00ff5c");
        let every: String = (0..=255u8).map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            encoded(&all_bytes()).unwrap(),
            format!("\\x{every}").into_bytes()
        );
    }

    #[test]
    fn encode_rejects_wide_characters() {
        let err = encoded("ab\u{100}").unwrap_err();
        assert_eq!(
            err.message(),
            "invalid bytea parameter: character U+0100 is above U+00FF (each character stands for one byte)"
        );
        assert!(encoded("\u{1F600}").is_err());
    }

    #[test]
    fn round_trip() {
        let every = all_bytes();
        let param = encoded(&every).unwrap();
        assert_eq!(decoded(&param).unwrap(), every);
    }
}
