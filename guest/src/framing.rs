//! Backend message framing: taking one complete server message off the front of the input
//! buffer. The header is checked before anything is allocated for the body: an unknown type
//! byte, an impossible length, a long length on a type that is never long, and a length above
//! the session's `max_message_size` are errors at once, so a hostile or confused peer cannot
//! make the guest buffer an announced gigabyte.

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
    fn every_parsed_type_has_a_name_or_is_authentication() {
        assert_eq!(next(b"Z\0\0\0\x05I", 64).unwrap().unwrap(), "ReadyForQuery");
        assert_eq!(
            next(b"R\0\0\0\x08\0\0\0\0", 64).unwrap().unwrap(),
            "AuthenticationOk"
        );
    }
}
