//! Backend message framing: taking one complete server message off the front of the input
//! buffer. The header is checked before anything is allocated for the body: an unknown type
//! byte, an impossible length, a long length on a type that is never long, and a length above
//! the session's `max_message_size` are errors at once, so a hostile or confused peer cannot
//! make the guest buffer an announced gigabyte.
//!
//! DataRows, the bulk of every result, have a path of their own: [`complete_data_row`] finds one
//! whole at the front of the buffer and [`RowFields`] reads its fields in place, without a
//! `Message` and its `Bytes` handles per row.

use bytes::BytesMut;
use postgres_protocol::message::backend::Message;

use crate::error::{Error, ErrorKind};

/// The type bytes of the backend messages this client parses (the rest, e.g. CopyBothResponse
/// or NegotiateProtocolVersion, are never sent to it).
const BACKEND_TAGS: &[u8] = b"123AcCdDEGHIKnNRsStTZ";
const BACKEND: [bool; 256] = table(BACKEND_TAGS);

/// The message types that may be longer than [`SHORT_MESSAGE_MAX`]: RowDescription, DataRow,
/// CopyData, ErrorResponse, NoticeResponse, NotificationResponse (libpq's list) and
/// ParameterDescription (up to 65535 parameters).
const LONG_TAGS: &[u8] = b"TDdENAt";
const LONG: [bool; 256] = table(LONG_TAGS);

/// A lookup table of `tags` (one test per message instead of a search of the list).
const fn table(tags: &[u8]) -> [bool; 256] {
    let mut t = [false; 256];
    let mut i = 0;
    while i < tags.len() {
        t[tags[i] as usize] = true;
        i += 1;
    }
    t
}

/// libpq's bound on the length of every other message type.
const SHORT_MESSAGE_MAX: u32 = 30_000;

/// Takes the next complete message off the front of `inbuf`; `Ok(None)` until all of it has
/// arrived. `max_message_size` bounds the whole message, type byte and length word included.
pub(crate) fn next_message(
    inbuf: &mut BytesMut,
    max_message_size: u32,
) -> Result<Option<Message>, Error> {
    // The type byte is checked first: something that is not a PostgreSQL server (an HTTP or
    // SSH banner, random bytes) is a protocol error at once, instead of a length word read out
    // of text that announces a huge message and waits for it.
    if let Some(&tag) = inbuf.first() {
        if !BACKEND[usize::from(tag)] {
            return Err(Error::protocol(format!(
                "unknown message type {:?} (0x{tag:02x}) from the server; is it a PostgreSQL \
                 server?",
                tag as char
            )));
        }
    }
    if inbuf.len() < 5 {
        return Ok(None);
    }
    let len = u32::from_be_bytes([inbuf[1], inbuf[2], inbuf[3], inbuf[4]]);
    if len < 4 || len > i32::MAX as u32 {
        return Err(Error::protocol(format!(
            "invalid message length {len} for message type {:?}",
            inbuf[0] as char
        )));
    }
    if len > SHORT_MESSAGE_MAX && !LONG[usize::from(inbuf[0])] {
        // libpq's rule (`VALID_LONG_MESSAGE_TYPE`): only these types can be long; a huge length
        // on another one means the stream is not what we think it is.
        return Err(Error::protocol(format!(
            "lost synchronization with the server: a {len}-byte message of type {:?}, which is \
             never longer than {SHORT_MESSAGE_MAX} bytes",
            inbuf[0] as char
        )));
    }
    let total = len as u64 + 1;
    if total > u64::from(max_message_size) {
        return Err(Error::new(
            ErrorKind::MessageTooLarge,
            format!(
                "the server announced a {total}-byte message (type {:?}); the limit is {} bytes",
                inbuf[0] as char, max_message_size
            ),
        ));
    }
    if (inbuf.len() as u64) < total {
        return Ok(None);
    }
    Message::parse(inbuf).map_err(|e| Error::protocol(format!("malformed server message: {e}")))
}

/// The length (type byte and length word included) of the DataRow at the front of `inbuf`, when
/// all of it has arrived and its header passes every check of [`next_message`]; `None`
/// otherwise (the caller then goes through `next_message`, which also reports what is wrong).
/// The session reads a result's rows straight from the buffer this way, without a [`Message`].
pub(crate) fn complete_data_row(inbuf: &[u8], max_message_size: u32) -> Option<usize> {
    let [b'D', a, b, c, d, ..] = *inbuf else {
        return None;
    };
    let len = u32::from_be_bytes([a, b, c, d]);
    let total = u64::from(len) + 1;
    let fits = (4..=i32::MAX as u32).contains(&len)
        && total <= u64::from(max_message_size)
        && inbuf.len() as u64 >= total;
    // `total` is at most `inbuf.len()` here, so it fits a usize.
    fits.then_some(total as usize)
}

/// The fields of a DataRow body (a field count, then each field's length word and bytes, a
/// negative length being NULL), with the checks postgres-protocol's `DataRowRanges` makes: a
/// field past the end and bytes after the last field are errors. Network input: never panics.
pub(crate) struct RowFields<'a> {
    rest: &'a [u8],
    left: u16,
}

impl<'a> RowFields<'a> {
    pub(crate) fn new(body: &'a [u8]) -> Result<Self, Error> {
        let Some((count, rest)) = body.split_first_chunk::<2>() else {
            return Err(malformed_row("no field count"));
        };
        Ok(Self {
            rest,
            left: u16::from_be_bytes(*count),
        })
    }
}

fn malformed_row(what: &str) -> Error {
    Error::protocol(format!("malformed server message: a DataRow with {what}"))
}

impl<'a> Iterator for RowFields<'a> {
    /// A field's bytes, `None` for NULL.
    type Item = Result<Option<&'a [u8]>, Error>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            if self.rest.is_empty() {
                return None;
            }
            self.rest = &[];
            return Some(Err(malformed_row("bytes after its last field")));
        }
        self.left -= 1;
        let field = (|| {
            let (len, rest) = self.rest.split_first_chunk::<4>()?;
            let len = i32::from_be_bytes(*len);
            if len < 0 {
                return Some((None, rest));
            }
            let (field, rest) = rest.split_at_checked(len as usize)?;
            Some((Some(field), rest))
        })();
        match field {
            Some((field, rest)) => {
                self.rest = rest;
                Some(Ok(field))
            }
            None => {
                self.left = 0;
                self.rest = &[];
                Some(Err(malformed_row("a field past its end")))
            }
        }
    }
}

/// A backend message's name, for error messages.
pub(crate) fn message_name(message: &Message) -> &'static str {
    match message {
        Message::AuthenticationOk => "AuthenticationOk",
        Message::BackendKeyData(_) => "BackendKeyData",
        Message::BindComplete => "BindComplete",
        Message::CloseComplete => "CloseComplete",
        Message::CommandComplete(_) => "CommandComplete",
        Message::CopyData(_) => "CopyData",
        Message::CopyDone => "CopyDone",
        Message::CopyInResponse(_) => "CopyInResponse",
        Message::CopyOutResponse(_) => "CopyOutResponse",
        Message::DataRow(_) => "DataRow",
        Message::EmptyQueryResponse => "EmptyQueryResponse",
        Message::ErrorResponse(_) => "ErrorResponse",
        Message::NoData => "NoData",
        Message::ParameterDescription(_) => "ParameterDescription",
        Message::ParseComplete => "ParseComplete",
        Message::PortalSuspended => "PortalSuspended",
        Message::ReadyForQuery(_) => "ReadyForQuery",
        Message::RowDescription(_) => "RowDescription",
        _ => "an authentication message",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The name of the message `bytes` begins with, if complete.
    fn next(bytes: &[u8], max: u32) -> Result<Option<&'static str>, Error> {
        Ok(next_message(&mut BytesMut::from(bytes), max)?.map(|m| message_name(&m)))
    }

    #[test]
    fn a_message_is_taken_only_once_complete() {
        let ready = b"Z\0\0\0\x05I";
        for cut in 0..ready.len() {
            assert!(next(&ready[..cut], 1 << 20).unwrap().is_none(), "{cut}");
        }
        let mut inbuf = BytesMut::from(&b"Z\0\0\0\x05IZ\0"[..]);
        let message = next_message(&mut inbuf, 1 << 20).unwrap();
        assert!(matches!(message, Some(Message::ReadyForQuery(_))));
        assert_eq!(&inbuf[..], b"Z\0");
    }

    #[test]
    fn headers_are_checked_before_the_body_arrives() {
        let err = next(b"xHTTP", 1 << 20).unwrap_err();
        assert!(err.message.contains("unknown message type"), "{err:?}");
        let err = next(b"Z\0\0\0\x03", 1 << 20).unwrap_err();
        assert!(err.message.contains("invalid message length 3"), "{err:?}");
        let err = next(b"Z\0\x10\0\0", 1 << 30).unwrap_err();
        assert!(err.message.contains("lost synchronization"), "{err:?}");
        // A DataRow may be long, but not beyond the session's limit (type byte included).
        assert!(next(b"D\0\0\x03\xff", 1024).unwrap().is_none());
        let err = next(b"D\0\0\x04\0", 1024).unwrap_err();
        assert_eq!(err.kind, ErrorKind::MessageTooLarge);
        assert_eq!(
            err.message,
            "the server announced a 1025-byte message (type 'D'); the limit is 1024 bytes"
        );
    }

    #[test]
    fn data_rows_are_taken_whole_and_read_field_by_field() {
        let row = b"D\0\0\0\x13\0\x03\0\0\0\x01a\xff\xff\xff\xff\0\0\0\0";
        assert_eq!(complete_data_row(row, 1 << 20), Some(20));
        assert_eq!(complete_data_row(&row[..19], 1 << 20), None);
        assert_eq!(complete_data_row(row, 19), None, "over the size limit");
        assert_eq!(complete_data_row(b"C\0\0\0\x04", 1 << 20), None);
        assert_eq!(complete_data_row(b"D\0\0\0\x03", 1 << 20), None);
        let fields: Result<Vec<_>, _> = RowFields::new(&row[5..]).unwrap().collect();
        assert_eq!(fields.unwrap(), [Some(&b"a"[..]), None, Some(&b""[..])]);
        for (body, what) in [
            (&b"\0"[..], "no field count"),
            (b"\0\x01\0\0\0\x05abc", "a field past its end"),
            (b"\0\x01\0\0", "a field past its end"),
            (b"\0\x00x", "bytes after its last field"),
        ] {
            let err = RowFields::new(body)
                .and_then(|fields| fields.collect::<Result<Vec<_>, _>>())
                .unwrap_err();
            assert!(err.message.ends_with(what), "{body:?}: {err:?}");
        }
    }

    #[test]
    fn every_parsed_type_has_a_name_or_is_authentication() {
        assert_eq!(next(b"Z\0\0\0\x05I", 64).unwrap().unwrap(), "ReadyForQuery");
        assert_eq!(
            next(b"R\0\0\0\x08\0\0\0\0", 64).unwrap().unwrap(),
            "AuthenticationOk"
        );
    }
}
