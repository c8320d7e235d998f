//! Cancel requests: the token a session hands out, and the small session that delivers it.
//!
//! A cancel request goes over a new connection to the server the cancelled session is connected
//! to: a 16-byte CancelRequest with the backend's process id and secret key, after which the
//! server closes the connection without answering. libpq waits for that close before it reports
//! success, and so does [`CancelSession`]. The host opens the connection like any other, under the
//! same policy. A session that runs over TLS hands out a token that carries its TLS settings
//! and root certificates: the request then goes over TLS too, negotiated and verified as the
//! session was (libpq 17; a TLS-only proxy in front of the server would refuse it in clear).
//! No client certificate is offered with it (servers do not authenticate cancel requests).

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use bytes::BytesMut;
use postgres_protocol::message::frontend;
use rustls::pki_types::{CertificateDer, CertificateRevocationListDer, UnixTime};
use wasmpg_wire::escape::{self, US};

use crate::conninfo::{describe_target, Target};
use crate::error::{Error, ErrorKind};
use crate::session::{Action, Event, Step};
use crate::tls::{self, Tls, TlsOptions, Verify, Version};

/// Layout version of a token for a session in clear, its first field.
const TOKEN_VERSION: &str = "1";
/// Layout version of a token for a session over TLS: the clear layout, then the TLS fields.
const TOKEN_VERSION_TLS: &str = "2";

/// How a cancel request goes over TLS: as the cancelled session's connection did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CancelTls {
    /// sslnegotiation=direct (else an SSLRequest first).
    pub direct: bool,
    /// The name the certificate is verified against (and sent as SNI).
    pub server_name: String,
    pub verify: Verify,
    pub sni: bool,
    pub min_version: Option<Version>,
    pub max_version: Option<Version>,
    pub roots: Vec<CertificateDer<'static>>,
    pub crls: Vec<CertificateRevocationListDer<'static>>,
}

impl CancelTls {
    fn options(&self, now: u64) -> TlsOptions {
        TlsOptions {
            verify: self.verify,
            roots: self.roots.clone(),
            crls: self.crls.clone(),
            client_auth: None,
            sni: self.sni,
            min_version: self.min_version,
            max_version: self.max_version,
            alpn_postgresql: self.direct,
            now: UnixTime::since_unix_epoch(std::time::Duration::from_secs(now)),
        }
    }
}

/// What a cancel request needs. Opaque to hosts: they pass the encoded form back unchanged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub target: Target,
    /// The address the cancelled session reached, if the host reported it.
    pub addr: Option<String>,
    pub process_id: i32,
    pub secret_key: i32,
    /// The session's TLS, which the request uses too; `None`: in clear.
    pub tls: Option<CancelTls>,
}

/// DER items as one field: base64 each, comma-separated.
fn ders<'a>(items: impl Iterator<Item = &'a [u8]>) -> String {
    items
        .map(|d| STANDARD.encode(d))
        .collect::<Vec<_>>()
        .join(",")
}

fn unders(field: &str) -> Option<Vec<Vec<u8>>> {
    if field.is_empty() {
        return Some(Vec::new());
    }
    field.split(',').map(|d| STANDARD.decode(d).ok()).collect()
}

impl Token {
    pub fn encode(&self) -> String {
        let mut out = String::from(if self.tls.is_some() {
            TOKEN_VERSION_TLS
        } else {
            TOKEN_VERSION
        });
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
        if let Some(t) = &self.tls {
            field(if t.direct { "d" } else { "s" });
            field(&t.server_name);
            field(match t.verify {
                Verify::None => "n",
                Verify::Ca => "c",
                Verify::Full => "f",
            });
            field(if t.sni { "1" } else { "0" });
            field(t.min_version.map_or("", Version::as_str));
            field(t.max_version.map_or("", Version::as_str));
            field(&ders(t.roots.iter().map(|c| c.as_ref())));
            field(&ders(t.crls.iter().map(|c| c.as_ref())));
        }
        out
    }

    pub fn decode(token: &str) -> Result<Token, Error> {
        let bad = || Error::new(ErrorKind::Usage, "malformed cancel token");
        let fields: Vec<&str> = token.split(US).collect();
        let (clear, tls_fields) = match fields.as_slice() {
            [TOKEN_VERSION, rest @ ..] if rest.len() == 6 => (rest, None),
            [TOKEN_VERSION_TLS, rest @ ..] if rest.len() == 14 => (&rest[..6], Some(&rest[6..])),
            _ => return Err(bad()),
        };
        let [kind, place, port, addr, pid, secret] = clear else {
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
        let tls = match tls_fields {
            None => None,
            Some([mode, name, verify, sni, min, max, roots, crls]) => {
                let version = |v: &str| -> Result<Option<Version>, Error> {
                    match v {
                        "" => Ok(None),
                        v => Version::parse(v).map(Some).ok_or_else(bad),
                    }
                };
                Some(CancelTls {
                    direct: match *mode {
                        "d" => true,
                        "s" => false,
                        _ => return Err(bad()),
                    },
                    server_name: text(name)?,
                    verify: match *verify {
                        "n" => Verify::None,
                        "c" => Verify::Ca,
                        "f" => Verify::Full,
                        _ => return Err(bad()),
                    },
                    sni: *sni == "1",
                    min_version: version(min)?,
                    max_version: version(max)?,
                    roots: unders(roots)
                        .ok_or_else(bad)?
                        .into_iter()
                        .map(CertificateDer::from)
                        .collect(),
                    crls: unders(crls)
                        .ok_or_else(bad)?
                        .into_iter()
                        .map(CertificateRevocationListDer::from)
                        .collect(),
                })
            }
            Some(_) => return Err(bad()),
        };
        Ok(Token {
            target,
            addr: (!addr.is_empty()).then_some(addr),
            process_id: pid.parse().map_err(|_| bad())?,
            secret_key: secret.parse().map_err(|_| bad())?,
            tls,
        })
    }
}

#[derive(Debug)]
enum State {
    Opening,
    /// TLS: the SSLRequest was sent; the server's one byte decides.
    Negotiating,
    /// TLS: the handshake runs; the request waits in it, encrypted once it completes.
    Handshake(Box<Tls>),
    /// The request was sent; waiting for the server to close the connection.
    Sent,
    Done,
}

/// Delivers one cancel request: open, (TLS,) send, wait for the server's close.
#[derive(Debug)]
pub struct CancelSession {
    token: Token,
    state: State,
    /// The host's clock when the connection opened (TLS validates at it).
    now: Option<u64>,
}

fn step(send: Vec<u8>, action: Action, events: Vec<Event>) -> Step {
    Step {
        send,
        action,
        events,
    }
}

impl CancelSession {
    /// Starts from a token; the first step opens the connection.
    pub fn start(token: &str) -> Result<(CancelSession, Step), Error> {
        let token = Token::decode(token)?;
        let first = step(Vec::new(), Action::Open(token.target.clone()), Vec::new());
        Ok((
            CancelSession {
                token,
                state: State::Opening,
                now: None,
            },
            first,
        ))
    }

    /// The address to prefer when opening (see `Action::Open` in docs/abi.md).
    pub fn addr(&self) -> Option<&str> {
        self.token.addr.as_deref()
    }

    fn request(&self) -> Vec<u8> {
        let mut out = BytesMut::new();
        frontend::cancel_request(self.token.process_id, self.token.secret_key, &mut out);
        out.to_vec()
    }

    /// The connection is open; `now` is the host's clock (Unix seconds), which a request over
    /// TLS validates the certificate at.
    pub fn opened(&mut self, now: Option<u64>) -> Step {
        if !matches!(self.state, State::Opening) {
            return self.usage("opened called while no connection was being opened");
        }
        self.now = now;
        let Some(tls) = &self.token.tls else {
            self.state = State::Sent;
            return step(self.request(), Action::Read, Vec::new());
        };
        if tls.direct {
            return match self.handshake() {
                Ok(send) => step(send, Action::Read, Vec::new()),
                Err(e) => self.fail(e),
            };
        }
        let mut out = BytesMut::new();
        frontend::ssl_request(&mut out);
        self.state = State::Negotiating;
        step(out.to_vec(), Action::Read, Vec::new())
    }

    /// Starts the handshake with the request queued in it; returns its first flight.
    fn handshake(&mut self) -> Result<Vec<u8>, Error> {
        let Some(settings) = &self.token.tls else {
            return Err(Error::new(ErrorKind::Usage, "no TLS settings"));
        };
        let now = self.now.ok_or_else(|| {
            Error::new(
                ErrorKind::Usage,
                "the host did not pass the time with the opened connection (needed for TLS)",
            )
        })?;
        let config = tls::client_config(&settings.options(now))?;
        let mut tls = Tls::new(config, &settings.server_name)?;
        tls.write(&self.request())?;
        tls.feed(&[], &mut Vec::new())?;
        let send = tls.take_outgoing();
        self.state = State::Handshake(Box::new(tls));
        Ok(send)
    }

    pub fn open_failed(&mut self, kind: ErrorKind, reason: &str) -> Step {
        if !matches!(self.state, State::Opening) {
            return self.usage("open-failed called while no connection was being opened");
        }
        self.fail(Error::new(kind, reason))
    }

    /// Ends with an error naming the server.
    fn fail(&mut self, e: Error) -> Step {
        self.state = State::Done;
        let target = describe_target(&self.token.target);
        step(
            Vec::new(),
            Action::Close,
            vec![Event::Error(Error::new(
                e.kind,
                format!(
                    "could not send the cancel request to {target}: {}",
                    e.message
                ),
            ))],
        )
    }

    /// Bytes from the server: the answer to the SSLRequest, the handshake; after the request,
    /// nothing but the close is expected and bytes are ignored.
    pub fn feed(&mut self, data: &[u8]) -> Step {
        match std::mem::replace(&mut self.state, State::Done) {
            State::Negotiating => match data.split_first() {
                None => {
                    self.state = State::Negotiating;
                    step(Vec::new(), Action::Read, Vec::new())
                }
                Some((b'S', [])) => match self.handshake() {
                    Ok(send) => step(send, Action::Read, Vec::new()),
                    Err(e) => self.fail(e),
                },
                Some((b'S', _)) => self.fail(Error::protocol(
                    "received unencrypted data after the server's SSL response",
                )),
                // The session ran over TLS: a server (or a man in the middle) that now says
                // it has none is not given the request in clear.
                Some((b'N', _)) => self.fail(Error::new(
                    ErrorKind::Tls,
                    "the server does not support SSL, but the session's connection used it",
                )),
                Some((other, _)) => self.fail(Error::protocol(format!(
                    "received invalid response to SSL negotiation: {:?}",
                    char::from(*other)
                ))),
            },
            State::Handshake(mut tls) => {
                if let Err(e) = tls.feed(data, &mut Vec::new()) {
                    return self.fail(e.into());
                }
                let send = tls.take_outgoing();
                self.state = if tls.is_established() {
                    State::Sent
                } else {
                    State::Handshake(tls)
                };
                step(send, Action::Read, Vec::new())
            }
            State::Sent => {
                self.state = State::Sent;
                step(Vec::new(), Action::Read, Vec::new())
            }
            other => {
                self.state = other;
                step(Vec::new(), Action::Close, Vec::new())
            }
        }
    }

    /// The server closed the connection: after the request, it was delivered.
    pub fn eof(&mut self) -> Step {
        match std::mem::replace(&mut self.state, State::Done) {
            State::Sent | State::Done => step(Vec::new(), Action::Close, Vec::new()),
            _ => self.fail(Error::new(
                ErrorKind::Closed,
                "the server closed the connection before the request was sent",
            )),
        }
    }

    fn usage(&self, message: &str) -> Step {
        step(
            Vec::new(),
            if matches!(self.state, State::Done) {
                Action::Close
            } else {
                Action::Read
            },
            vec![Event::Error(Error::new(ErrorKind::Usage, message))],
        )
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
                tls: None,
            },
            Token {
                target: Target::Unix {
                    path: "/tmp/.s.PGSQL.5432".into(),
                },
                addr: None,
                process_id: 1,
                secret_key: i32::MIN,
                tls: None,
            },
            Token {
                target: Target::Tcp {
                    host: "db".into(),
                    port: 5432,
                },
                addr: None,
                process_id: 3,
                secret_key: 4,
                tls: Some(CancelTls {
                    direct: true,
                    server_name: "db.example".into(),
                    verify: Verify::Full,
                    sni: false,
                    min_version: Some(Version::Tls12),
                    max_version: None,
                    roots: vec![CertificateDer::from(vec![0x30, 0, 0xff])],
                    crls: vec![],
                }),
            },
        ] {
            assert_eq!(Token::decode(&token.encode()).unwrap(), token);
        }
        assert!(Token::decode("").is_err());
        assert!(Token::decode("2\u{1f}t\u{1f}h\u{1f}1\u{1f}\u{1f}1\u{1f}2").is_err());
        assert!(Token::decode("3\u{1f}t\u{1f}h\u{1f}1\u{1f}\u{1f}1\u{1f}2").is_err());
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
            tls: None,
        };
        let (mut cancel, step) = CancelSession::start(&token.encode()).unwrap();
        assert!(matches!(step.action, Action::Open(Target::Tcp { .. })));
        let step = cancel.opened(None);
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
            tls: None,
        };
        let (mut cancel, _) = CancelSession::start(&token.encode()).unwrap();
        let step = cancel.open_failed(ErrorKind::PolicyDenied, "denied");
        assert_eq!(step.action, Action::Close);
        assert!(matches!(&step.events[..], [Event::Error(e)] if e.kind == ErrorKind::PolicyDenied));
    }
}
