//! The wire crate's error (a packed string that does not follow the layout) and the contract's
//! error kinds, by the names every host and the guest use in packed steps and requests.

use std::fmt;

/// A packed string that does not follow the layout (docs/abi.md).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireError {
    message: String,
}

impl WireError {
    pub fn new(message: impl Into<String>) -> WireError {
        WireError {
            message: message.into(),
        }
    }

    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for WireError {}

impl From<crate::escape::InvalidEscape> for WireError {
    fn from(e: crate::escape::InvalidEscape) -> WireError {
        WireError::new(format!("invalid escape sequence {:?} in a field", e.0))
    }
}

macro_rules! error_kinds {
    ($($variant:ident = $name:literal: $doc:literal;)*) => {
        /// What kind of failure an error is. The guest finds the first ten; a host reports the
        /// others to the guest when an `open` fails, and uses them for its own failures.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorKind {
            $(#[doc = $doc] $variant,)*
        }

        impl ErrorKind {
            /// Every kind, in the contract's order.
            pub const ALL: &'static [ErrorKind] = &[$(ErrorKind::$variant,)*];

            /// The kind's name in packed steps and requests.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(ErrorKind::$variant => $name,)*
                }
            }

            pub fn parse(name: &str) -> Option<ErrorKind> {
                match name {
                    $($name => Some(ErrorKind::$variant),)*
                    _ => None,
                }
            }
        }
    };
}

error_kinds! {
    Db = "db": "The server sent an ErrorResponse; the error carries its fields.";
    Config = "config": "A malformed conninfo, an unknown option, or an unsupported setting.";
    Authentication = "authentication": "Authentication could not be completed (also the server's 28P01 and 28000).";
    Protocol = "protocol": "The server violated the protocol.";
    MessageTooLarge = "message-too-large": "A server message announced a length above the limit.";
    Encode = "encode": "A parameter could not be encoded for its declared type.";
    Decode = "decode": "A value from the server was malformed for its type.";
    Usage = "usage": "A request that the session's state cannot take, or a malformed request.";
    Closed = "closed": "The server closed the connection, or the session is over.";
    Tls = "tls": "TLS failed: the server refused it or its certificate, or the handshake failed.";
    ConnectionRefused = "connection-refused": "Host-side: the connection could not be established.";
    HostNotFound = "host-not-found": "Host-side: the host name did not resolve.";
    PolicyDenied = "policy-denied": "Host-side: the policy does not allow the target or the file.";
    Io = "io": "Host-side: a socket or file operation failed.";
    Timeout = "timeout": "Host-side: a connect, read or statement timeout expired.";
    Trap = "trap": "Host-side: the guest trapped or exceeded a bound and was discarded.";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for kind in ErrorKind::ALL {
            assert_eq!(ErrorKind::parse(kind.as_str()), Some(*kind));
        }
        assert_eq!(ErrorKind::parse("nope"), None);
    }
}
