//! The `io-encoding` of socket bytes crossing the boundary (see `io-encoding` in
//! wit/driver.wit): raw bytes, or latin-1, where each byte 0-255 is the code point of the same
//! value inside one string (cheap for interpreter hosts such as Python).

use crate::error::{Error, ErrorKind};
use crate::session::{Event, Session, Step};

/// Latin-1 text back to the bytes it carries; a code point above U+00FF is a usage error.
pub fn latin1_to_bytes(data: &str) -> Result<Vec<u8>, Error> {
    let mut bytes = Vec::with_capacity(data.len());
    for c in data.chars() {
        match u8::try_from(u32::from(c)) {
            Ok(b) => bytes.push(b),
            Err(_) => {
                return Err(Error::new(
                    ErrorKind::Usage,
                    format!(
                        "feed-latin1 received U+{:04X}, which is not a latin-1 byte",
                        u32::from(c)
                    ),
                ))
            }
        }
    }
    Ok(bytes)
}

/// Bytes as latin-1 text.
pub fn bytes_to_latin1(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| char::from(b)).collect()
}

/// `feed-latin1`: feeds the bytes `data` carries. Text that is not latin-1 feeds nothing; the
/// step reports the usage error before its other events.
pub fn feed_latin1(session: &mut Session, data: &str) -> Step {
    match latin1_to_bytes(data) {
        Ok(bytes) => session.feed(&bytes),
        Err(error) => {
            let mut step = session.feed(&[]);
            step.events.insert(0, Event::Error(error));
            step
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::Options;

    #[test]
    fn every_byte_round_trips() {
        let bytes: Vec<u8> = (0..=255).collect();
        let text = bytes_to_latin1(&bytes);
        assert_eq!(text.chars().count(), 256);
        assert_eq!(latin1_to_bytes(&text).unwrap(), bytes);
    }

    #[test]
    fn a_code_point_above_ff_is_a_usage_error() {
        let err = latin1_to_bytes("ok\u{100}").unwrap_err();
        assert_eq!(err.kind, ErrorKind::Usage);
        assert_eq!(
            err.message,
            "feed-latin1 received U+0100, which is not a latin-1 byte"
        );
    }

    #[test]
    fn feeding_non_latin1_reports_the_error_first() {
        let mut session = Session::new(Options::default());
        let step = feed_latin1(&mut session, "\u{2713}");
        assert!(step.send.is_empty());
        assert!(matches!(&step.events[0], Event::Error(e) if e.kind == ErrorKind::Usage));
    }
}
