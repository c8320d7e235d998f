//! Cancel requests: the token a session hands out, and the small session that delivers it.
//!
//! A cancel request goes over a new connection to the server the cancelled session is connected
//! to: a 16-byte CancelRequest with the backend's process id and secret key, after which the
//! server closes the connection without answering. libpq waits for that close before it reports
//! success, and so does [`CancelSession`]. The host opens the connection like any other, under the
//! same policy; the guest drives it, so a later TLS layer wraps it as libpq 17 does.

use bytes::BytesMut;
use postgres_protocol::message::frontend;
use wasmpg_wire::escape::{self, US};

use crate::conninfo::{describe_target, Target};
use crate::error::{Error, ErrorKind};
use crate::session::{Action, Event, Step};

/// Layout version of the token, its first field.
const TOKEN_VERSION: &str = "1";

/// What a cancel request needs. Opaque to hosts: they pass the encoded form back unchanged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub target: Target,
    /// The address the cancelled session reached, if the host reported it.
    pub addr: Option<String>,
    pub process_id: i32,
    pub secret_key: i32,
}

impl Token {
    pub fn encode(&self) -> String {
        let mut out = String::from(TOKEN_VERSION);
        let mut field = |value: &str| {
            out.push(US);
            escape::escape_into(&mut out, value);
        };
        match &self.target {
            Target::Tcp { host, port } => {
                field("t");
                field(host);
                field(&port.to_string());
            }
            Target::Unix { path } => {
                field("u");
                field(path);
                field("");
            }
        }
        field(self.addr.as_deref().unwrap_or(""));
        field(&self.process_id.to_string());
        field(&self.secret_key.to_string());
        out
    }

    pub fn decode(token: &str) -> Result<Token, Error> {
        let bad = || Error::new(ErrorKind::Usage, "malformed cancel token");
        let fields: Vec<&str> = token.split(US).collect();
        let [TOKEN_VERSION, kind, place, port, addr, pid, secret] = fields.as_slice() else {
            return Err(bad());
        };
        let text = |f: &str| {
            escape::unescape(f)
                .map(|c| c.into_owned())
                .map_err(|_| bad())
        };
        let target = match *kind {
            "t" => Target::Tcp {
                host: text(place)?,
                port: port.parse().map_err(|_| bad())?,
            },
            "u" => Target::Unix { path: text(place)? },
            _ => return Err(bad()),
        };
        let addr = text(addr)?;
        Ok(Token {
            target,
            addr: (!addr.is_empty()).then_some(addr),
            process_id: pid.parse().map_err(|_| bad())?,
            secret_key: secret.parse().map_err(|_| bad())?,
        })
    }
}

#[derive(Debug, PartialEq, Eq)]
enum State {
    Opening,
    /// The request was sent; waiting for the server to close the connection.
    Sent,
    Done,
}

/// Delivers one cancel request: open, send, wait for the server's close.
#[derive(Debug)]
pub struct CancelSession {
    token: Token,
    state: State,
}

impl CancelSession {
    /// Starts from a token; the first step opens the connection.
    pub fn start(token: &str) -> Result<(CancelSession, Step), Error> {
        let token = Token::decode(token)?;
        let step = Step {
            send: Vec::new(),
            action: Action::Open(token.target.clone()),
            events: Vec::new(),
        };
        Ok((
            CancelSession {
                token,
                state: State::Opening,
            },
            step,
        ))
    }

    /// The address to prefer when opening (see `Action::Open` in docs/abi.md).
    pub fn addr(&self) -> Option<&str> {
        self.token.addr.as_deref()
    }

    pub fn opened(&mut self) -> Step {
        if self.state != State::Opening {
            return self.usage("opened called while no connection was being opened");
        }
        let mut out = BytesMut::new();
        frontend::cancel_request(self.token.process_id, self.token.secret_key, &mut out);
        self.state = State::Sent;
        Step {
            send: out.to_vec(),
            action: Action::Read,
            events: Vec::new(),
        }
    }

    pub fn open_failed(&mut self, kind: ErrorKind, reason: &str) -> Step {
        if self.state != State::Opening {
            return self.usage("open-failed called while no connection was being opened");
        }
        self.state = State::Done;
        let target = describe_target(&self.token.target);
        Step {
            send: Vec::new(),
            action: Action::Close,
            events: vec![Event::Error(Error::new(
                kind,
                format!("could not send the cancel request to {target}: {reason}"),
            ))],
        }
    }

    /// The server answers a cancel request with nothing but its close; bytes are ignored.
    pub fn feed(&mut self, _data: &[u8]) -> Step {
        let action = if self.state == State::Sent {
            Action::Read
        } else {
            Action::Close
        };
        Step {
            send: Vec::new(),
            action,
            events: Vec::new(),
        }
    }

    /// The server closed the connection: the request was delivered.
    pub fn eof(&mut self) -> Step {
        self.state = State::Done;
        Step {
            send: Vec::new(),
            action: Action::Close,
            events: Vec::new(),
        }
    }

    fn usage(&self, message: &str) -> Step {
        Step {
            send: Vec::new(),
            action: if self.state == State::Done {
                Action::Close
            } else {
                Action::Read
            },
            events: vec![Event::Error(Error::new(ErrorKind::Usage, message))],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_round_trips() {
        for token in [
            Token {
                target: Target::Tcp {
                    host: "db\u{1f}x".into(),
                    port: 5432,
                },
                addr: Some("10.0.0.1:5432".into()),
                process_id: 42,
                secret_key: -7,
            },
            Token {
                target: Target::Unix {
                    path: "/tmp/.s.PGSQL.5432".into(),
                },
                addr: None,
                process_id: 1,
                secret_key: i32::MIN,
            },
        ] {
            assert_eq!(Token::decode(&token.encode()).unwrap(), token);
        }
        assert!(Token::decode("").is_err());
        assert!(Token::decode("2\u{1f}t\u{1f}h\u{1f}1\u{1f}\u{1f}1\u{1f}2").is_err());
    }

    #[test]
    fn sends_the_request_and_waits_for_the_close() {
        let token = Token {
            target: Target::Tcp {
                host: "h".into(),
                port: 5,
            },
            addr: None,
            process_id: 0x0102_0304,
            secret_key: 0x0506_0708,
        };
        let (mut cancel, step) = CancelSession::start(&token.encode()).unwrap();
        assert!(matches!(step.action, Action::Open(Target::Tcp { .. })));
        let step = cancel.opened();
        assert_eq!(
            step.send,
            [0, 0, 0, 16, 0x04, 0xd2, 0x16, 0x2e, 1, 2, 3, 4, 5, 6, 7, 8]
        );
        assert_eq!(step.action, Action::Read);
        assert_eq!(cancel.feed(b"x").action, Action::Read);
        let done = cancel.eof();
        assert_eq!(done.action, Action::Close);
        assert!(done.events.is_empty());
    }

    #[test]
    fn a_failed_open_is_an_error() {
        let token = Token {
            target: Target::Tcp {
                host: "h".into(),
                port: 5,
            },
            addr: None,
            process_id: 1,
            secret_key: 2,
        };
        let (mut cancel, _) = CancelSession::start(&token.encode()).unwrap();
        let step = cancel.open_failed(ErrorKind::PolicyDenied, "denied");
        assert_eq!(step.action, Action::Close);
        assert!(matches!(&step.events[..], [Event::Error(e)] if e.kind == ErrorKind::PolicyDenied));
    }
}
