//! The session's transport: plain bytes, the SSLRequest negotiation, or TLS (crate::tls). The
//! protocol code above it reads `inbuf` and writes `out` in plaintext either way; this module
//! decides what the host's bytes become (`feed`) and what the host sends (`seal`), with the
//! certificates and keys session/tls_files.rs read.

use std::sync::Arc;

use postgres_protocol::message::frontend;
use rustls::pki_types::UnixTime;

use super::{Session, State};
use crate::conninfo::{SslMode, Target};
use crate::error::{Error, ErrorKind};
use crate::tls::{self, Tls, TlsOptions, Verify};

/// Where the session's bytes go.
#[derive(Debug, Default)]
pub(super) enum Transport {
    #[default]
    Plain,
    /// SSLRequest sent; the server's one-byte answer decides. Holds the StartupMessage.
    Negotiating(Vec<u8>),
    Tls(Box<Tls>),
}

impl Session {
    /// Whether the session's bytes go through TLS now.
    pub(super) fn is_tls(&self) -> bool {
        matches!(self.transport, Transport::Tls(_))
    }

    /// The server's certificate (DER), once the handshake showed it.
    pub(super) fn server_certificate(&self) -> Option<Vec<u8>> {
        match &self.transport {
            Transport::Tls(tls) => tls.server_certificate().map(|c| c.to_vec()),
            _ => None,
        }
    }

    /// Whether the sslmode refuses to go on without TLS (require, verify-ca, verify-full).
    fn tls_required(&self) -> bool {
        self.info.as_ref().is_some_and(|i| {
            matches!(
                i.sslmode,
                SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull
            )
        })
    }

    /// Whether this connection attempt starts with TLS negotiation.
    fn wants_tls(&self, target: &Target) -> bool {
        let Some(info) = &self.info else { return false };
        // libpq never uses TLS over Unix-domain sockets.
        let required = self.tls_required();
        if let Some((index, tls)) = self.transport_retry {
            if index == self.host_index {
                return tls;
            }
        }
        matches!(target, Target::Tcp { .. })
            && !matches!(info.sslmode, SslMode::Disable | SslMode::Allow)
            // A host that passes no time cannot validate certificates: under prefer the
            // session goes in clear rather than fail (required modes report it).
            && (self.now.is_some() || required)
    }

    /// libpq's second attempt on the same host after `error` ended startup: sslmode=prefer
    /// retries in clear when TLS failed (the handshake, or the server refusing the session over
    /// TLS); sslmode=allow retries with TLS when the server refused the session in clear.
    /// Returns whether the host is asked to open the same host again.
    pub(super) fn retry_other_transport(&mut self, error: &Error) -> bool {
        let Some(info) = &self.info else { return false };
        if !matches!(self.state, State::Startup) || self.authenticated {
            return false;
        }
        if self
            .transport_retry
            .is_some_and(|(index, _)| index == self.host_index)
        {
            return false;
        }
        let tls_in_use = matches!(self.transport, Transport::Tls(_));
        // A server's refusal (an ErrorResponse, of any kind), or for TLS also a failed handshake
        // or a server that hung up during it.
        let refused = error.db.is_some();
        let retry = match info.sslmode {
            SslMode::Prefer if tls_in_use => {
                refused || matches!(error.kind, ErrorKind::Tls | ErrorKind::Closed)
            }
            SslMode::Allow if !tls_in_use => refused,
            _ => false,
        };
        if !retry {
            return false;
        }
        let to_tls = !tls_in_use;
        self.attempts.push(format!(
            "{} ({}): {error}",
            self.described_target(),
            if tls_in_use { "TLS" } else { "no TLS" }
        ));
        self.out.clear();
        self.reset_connection();
        self.transport = Transport::Plain;
        self.transport_retry = Some((self.host_index, to_tls));
        self.state = State::Opening;
        true
    }

    /// Sends the StartupMessage `startup` (already encoded): in clear, or after an SSLRequest,
    /// or (sslnegotiation=direct) inside a TLS handshake started at once.
    pub(super) fn begin_transport(
        &mut self,
        startup: Vec<u8>,
        now: Option<u64>,
    ) -> Result<(), Error> {
        self.now = now;
        let Some(target) = self.target() else {
            return Err(Error::new(ErrorKind::Usage, "no target to start"));
        };
        if !self.wants_tls(&target) {
            self.transport = Transport::Plain;
            self.out.extend_from_slice(&startup);
            return Ok(());
        }
        let direct = self.info.as_ref().is_some_and(|i| i.tls.direct);
        if direct {
            self.start_tls(&startup, true)?;
        } else {
            frontend::ssl_request(&mut self.out);
            self.transport = Transport::Negotiating(startup);
        }
        Ok(())
    }

    /// Starts the handshake (its first flight goes out with the next step), the StartupMessage
    /// queued behind it.
    fn start_tls(&mut self, startup: &[u8], direct: bool) -> Result<(), Error> {
        let mut tls = self.new_tls(direct)?;
        tls.write(startup)?;
        tls.feed(&[], &mut Vec::new())?;
        self.transport = Transport::Tls(Box::new(tls));
        Ok(())
    }

    fn new_tls(&self, direct: bool) -> Result<Tls, Error> {
        let now = self.now.ok_or_else(|| {
            Error::new(
                ErrorKind::Usage,
                "the host did not pass the time with the opened connection (needed for TLS)",
            )
        })?;
        let (mut options, host) = self.tls_options(direct)?;
        options.now = UnixTime::since_unix_epoch(std::time::Duration::from_secs(now));
        options.client_auth = match &self.tls.key {
            Some(key) if !self.tls.chain.is_empty() => {
                Some((self.tls.chain.clone(), key.clone_key()))
            }
            _ => None,
        };
        let config: Arc<rustls::ClientConfig> = tls::client_config(&options)?;
        Ok(Tls::new(config, &host)?)
    }

    /// The TLS options of this connection attempt but the time and the client certificate,
    /// and the server name to verify: for the session's handshake and its cancel requests.
    fn tls_options(&self, direct: bool) -> Result<(TlsOptions, String), Error> {
        let info = self
            .info
            .as_ref()
            .ok_or_else(|| Error::new(ErrorKind::Usage, "no conninfo"))?;
        let host = info
            .hosts
            .get(self.host_index)
            .ok_or_else(|| Error::new(ErrorKind::Usage, "no host"))?;
        let verify = match info.sslmode {
            SslMode::VerifyFull => Verify::Full,
            SslMode::VerifyCa => Verify::Ca,
            // A root certificate file present makes the other modes verify the chain, as
            // libpq does (documented for require).
            _ if !self.tls.roots.is_empty() => Verify::Ca,
            _ => Verify::None,
        };
        let version = |v: &Option<String>, what: &str| -> Result<Option<tls::Version>, Error> {
            match v.as_deref() {
                None | Some("") => Ok(None),
                Some(text) => tls::Version::parse(text).map(Some).ok_or_else(|| {
                    Error::new(
                        ErrorKind::Config,
                        format!("invalid {what} value: \"{text}\""),
                    )
                }),
            }
        };
        let options = TlsOptions {
            verify,
            roots: self.tls.roots.clone(),
            crls: self.tls.crls.clone(),
            client_auth: None,
            sni: info.tls.sni,
            min_version: version(&info.tls.min_protocol_version, "ssl_min_protocol_version")?,
            max_version: version(&info.tls.max_protocol_version, "ssl_max_protocol_version")?,
            alpn_postgresql: direct,
            now: UnixTime::since_unix_epoch(std::time::Duration::ZERO),
        };
        Ok((options, host.host.clone()))
    }

    /// How a cancel request for this session reaches the server: over TLS as the session did
    /// (libpq 17), with the same verification, or `None` in clear.
    pub(super) fn cancel_tls(&self) -> Option<crate::cancel::CancelTls> {
        if !self.is_tls() {
            return None;
        }
        let direct = self.info.as_ref()?.tls.direct;
        let (options, server_name) = self.tls_options(direct).ok()?;
        Some(crate::cancel::CancelTls {
            direct,
            server_name,
            verify: options.verify,
            sni: options.sni,
            min_version: options.min_version,
            max_version: options.max_version,
            roots: options.roots,
            crls: options.crls,
        })
    }

    /// Bytes from the host, by way of the transport: the plaintext they carry is appended to
    /// `inbuf` for the protocol code (in clear, the bytes themselves, copied once).
    pub(super) fn unseal(&mut self, data: &[u8]) -> Result<(), Error> {
        match &mut self.transport {
            Transport::Plain => self.inbuf.extend_from_slice(data),
            Transport::Tls(tls) => {
                let was_established = tls.is_established();
                let mut plain = Vec::new();
                tls.feed(data, &mut plain)?;
                // Direct negotiation: the server must have chosen ALPN `postgresql` (libpq 17
                // refuses a server that did not, which may not be PostgreSQL at all).
                let direct = self.info.as_ref().is_some_and(|i| i.tls.direct);
                if direct
                    && !was_established
                    && tls.is_established()
                    && tls.alpn_protocol() != Some(b"postgresql")
                {
                    // Nothing more goes to that server: not even the queued StartupMessage.
                    self.transport = Transport::Plain;
                    return Err(Error::new(
                        ErrorKind::Tls,
                        "direct SSL connection was established without ALPN protocol \
                         negotiation extension",
                    ));
                }
                self.inbuf.extend_from_slice(&plain);
            }
            Transport::Negotiating(_) => {
                let Some((&answer, rest)) = data.split_first() else {
                    return Ok(());
                };
                let Transport::Negotiating(startup) = std::mem::take(&mut self.transport) else {
                    unreachable!("matched Negotiating above")
                };
                match answer {
                    b'S' => {
                        if !rest.is_empty() {
                            // Bytes before the handshake could be injected by a man in the
                            // middle (CVE-2021-23222): libpq refuses them, and so do we.
                            return Err(Error::protocol(
                                "received unencrypted data after the server's SSL response",
                            ));
                        }
                        self.start_tls(&startup, false)?;
                    }
                    b'N' => {
                        if self.tls_required() {
                            return Err(Error::new(
                                ErrorKind::Tls,
                                "the server does not support SSL, but SSL was required",
                            ));
                        }
                        self.transport = Transport::Plain;
                        self.out.extend_from_slice(&startup);
                        self.inbuf.extend_from_slice(rest);
                    }
                    other => {
                        return Err(Error::protocol(format!(
                            "received invalid response to SSL negotiation: {:?}",
                            char::from(other)
                        )))
                    }
                }
            }
        }
        Ok(())
    }

    /// The bytes the host sends: `out` as it is, or encrypted.
    pub(super) fn seal(&mut self, plain: Vec<u8>) -> Result<Vec<u8>, Error> {
        match &mut self.transport {
            Transport::Tls(tls) => {
                if !plain.is_empty() {
                    tls.write(&plain)?;
                }
                Ok(tls.take_outgoing())
            }
            _ => Ok(plain),
        }
    }
}
