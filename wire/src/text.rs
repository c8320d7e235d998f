//! Where formatted text goes: the one output trait of the writers shared by a `String` (the
//! host's parameters and requests) and a byte buffer whose UTF-8 is checked once when it is
//! finished (the guest's row batches, [`crate::batch::BatchWriter`], and a step's records,
//! [`crate::Step::encode`]).
//!
//! Why a byte buffer: appending a formatted value to a `String` needs a `&str`, so each number
//! or date the guest formats from the server's binary form was checked by `str::from_utf8`
//! before it was appended, about 150 instructions per value for a few ASCII digits. A batch
//! written as bytes is checked once, in one pass over the whole batch.

/// A text output. [`TextOut::push_ascii`] takes bytes that are ASCII by the caller's
/// construction (digits, punctuation): a `String` checks them and drops them if they are not
/// (no caller gets there), a `Vec<u8>` copies them as they are and leaves the check to whoever
/// turns the buffer into text.
pub trait TextOut {
    fn push_str(&mut self, text: &str);
    fn push_char(&mut self, c: char);
    fn push_ascii(&mut self, bytes: &[u8]);

    /// [`TextOut::push_ascii`] of `buf[..len]` (`len` at most `N`). A byte buffer copies all `N`
    /// bytes and drops the rest again: in the guest a copy of fixed size is a few stores, one
    /// of `len` bytes a call out of the sandbox (`memory.copy`).
    fn push_ascii_head<const N: usize>(&mut self, buf: &[u8; N], len: usize) {
        self.push_ascii(buf.get(..len).unwrap_or(buf));
    }
}

impl TextOut for String {
    #[inline]
    fn push_str(&mut self, text: &str) {
        String::push_str(self, text);
    }

    #[inline]
    fn push_char(&mut self, c: char) {
        self.push(c);
    }

    #[inline]
    fn push_ascii(&mut self, bytes: &[u8]) {
        String::push_str(self, std::str::from_utf8(bytes).unwrap_or_default());
    }
}

impl TextOut for Vec<u8> {
    #[inline]
    fn push_str(&mut self, text: &str) {
        self.extend_from_slice(text.as_bytes());
    }

    #[inline]
    fn push_char(&mut self, c: char) {
        let mut buf = [0u8; 4];
        self.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
    }

    #[inline]
    fn push_ascii(&mut self, bytes: &[u8]) {
        debug_assert!(bytes.is_ascii(), "push_ascii given non-ASCII bytes");
        self.extend_from_slice(bytes);
    }

    #[inline]
    fn push_ascii_head<const N: usize>(&mut self, buf: &[u8; N], len: usize) {
        debug_assert!(
            buf[..len].is_ascii(),
            "push_ascii_head given non-ASCII bytes"
        );
        let at = self.len();
        self.extend_from_slice(buf);
        self.truncate(at + len.min(N));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(out: &mut impl TextOut) {
        out.push_str("d\u{e9}j\u{e0} ");
        out.push_char('\u{20ac}');
        out.push_char('x');
        out.push_ascii(b" 12:30");
        out.push_ascii_head(b":45 and more", 3);
    }

    #[test]
    fn a_string_and_a_byte_buffer_receive_the_same_text() {
        let mut text = String::new();
        let mut bytes = Vec::new();
        write(&mut text);
        write(&mut bytes);
        assert_eq!(text, "d\u{e9}j\u{e0} \u{20ac}x 12:30:45");
        assert_eq!(bytes, text.as_bytes());
    }

    #[test]
    fn a_string_refuses_bytes_that_are_not_text() {
        let mut text = String::from("a");
        text.push_ascii(b"\xff");
        assert_eq!(text, "a");
    }
}
