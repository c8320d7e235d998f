//! The session's transport: plain bytes, the SSLRequest negotiation, or TLS (crate::tls). The
//! protocol code above it reads `inbuf` and writes `out` in plaintext either way; this module
//! decides what the host's bytes become (`feed`) and what the host sends (`seal`), and loads
//! the root certificates the sslmode needs (the `f` action with purpose `sslrootcert`).

use std::sync::Arc;

use postgres_protocol::message::frontend;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, UnixTime};

use super::{Session, State, Step};
use crate::conninfo::{SslMode, Target};
use crate::error::{Error, ErrorKind};
use crate::session::FileAnswer;
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

fn tls_error(e: tls::TlsError) -> Error {
    let kind = match e {
        tls::TlsError::Config(_) => ErrorKind::Config,
        _ => ErrorKind::Protocol,
    };
    Error::new(kind, e.to_string())
}

impl Session {
    /// The root-certificate file this connection must read before opening, if any: sslrootcert
    /// for verify-ca / verify-full, and for require (where a root file present upgrades it to
    /// verify-ca, as libpq does).
    pub(super) fn tls_rootcert_path(&self) -> Option<&str> {
        let info = self.info.as_ref()?;
        match info.sslmode {
            SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => {
                info.tls.rootcert.as_deref().filter(|p| *p != "system")
            }
            _ => None,
        }
    }

    /// The host's answer to the `sslrootcert` file request.
    pub(super) fn rootcert_file(&mut self, answer: FileAnswer<'_>) -> Step {
        let path = self.tls_rootcert_path().unwrap_or_default().to_owned();
        let verifying = self
            .info
            .as_ref()
            .is_some_and(|i| matches!(i.sslmode, SslMode::VerifyCa | SslMode::VerifyFull));
        match answer {
            FileAnswer::Text(pem) => {
                let certs: Result<Vec<_>, _> =
                    CertificateDer::pem_slice_iter(pem.as_bytes()).collect();
                match certs {
                    Ok(certs) if !certs.is_empty() => self.roots = certs,
                    Ok(_) => {
                        return self.fail(Error::new(
                            ErrorKind::Config,
                            format!("the root certificate file \"{path}\" holds no certificate"),
                        ))
                    }
                    Err(e) => {
                        return self.fail(Error::new(
                            ErrorKind::Config,
                            format!("could not read root certificate file \"{path}\": {e:?}"),
                        ))
                    }
                }
            }
            FileAnswer::Missing if !verifying => self.roots.clear(),
            FileAnswer::Missing => {
                return self.fail(Error::new(
                    ErrorKind::Config,
                    format!(
                        "root certificate file \"{path}\" does not exist; either provide the \
                         file, use the system's trusted roots with sslrootcert=system, or \
                         change sslmode to disable server certificate verification"
                    ),
                ))
            }
            FileAnswer::Denied(reason) => {
                return self.fail(Error::new(
                    ErrorKind::PolicyDenied,
                    format!("reading the root certificate file \"{path}\" was denied: {reason}"),
                ))
            }
            FileAnswer::TooOpen | FileAnswer::Unreadable(_) => {
                let why = match answer {
                    FileAnswer::Unreadable(r) => r.to_owned(),
                    _ => "unreadable".to_owned(),
                };
                return self.fail(Error::new(
                    ErrorKind::Config,
                    format!("could not read root certificate file \"{path}\": {why}"),
                ));
            }
        }
        self.state = State::Opening;
        self.finish()
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
        matches!(target, Target::Tcp { .. })
            && !matches!(info.sslmode, SslMode::Disable | SslMode::Allow)
            // A host that passes no time cannot validate certificates: under prefer the
            // session goes in clear rather than fail (required modes report it).
            && (self.now.is_some() || required)
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
        tls.write(startup).map_err(tls_error)?;
        tls.feed(&[], &mut Vec::new()).map_err(tls_error)?;
        self.transport = Transport::Tls(Box::new(tls));
        Ok(())
    }

    fn new_tls(&self, direct: bool) -> Result<Tls, Error> {
        let info = self
            .info
            .as_ref()
            .ok_or_else(|| Error::new(ErrorKind::Usage, "no conninfo"))?;
        let host = info
            .hosts
            .get(self.host_index)
            .ok_or_else(|| Error::new(ErrorKind::Usage, "no host"))?;
        let roots = self.roots.clone();
        let verify = match info.sslmode {
            SslMode::VerifyFull => Verify::Full,
            SslMode::VerifyCa => Verify::Ca,
            // A root certificate file present makes require behave as verify-ca (libpq).
            SslMode::Require if !roots.is_empty() => Verify::Ca,
            _ => Verify::None,
        };
        if info.tls.rootcert.as_deref() == Some("system") {
            return Err(Error::new(
                ErrorKind::Config,
                "sslrootcert=system is not supported yet (give the CA file's path)",
            ));
        }
        if info.tls.cert.is_some() || info.tls.crl.is_some() {
            return Err(Error::new(
                ErrorKind::Config,
                "client certificates (sslcert) and revocation lists (sslcrl) are not supported yet",
            ));
        }
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
        let now = self.now.ok_or_else(|| {
            Error::new(
                ErrorKind::Usage,
                "the host did not pass the time with the opened connection (needed for TLS)",
            )
        })?;
        let options = TlsOptions {
            verify,
            roots,
            crls: Vec::new(),
            client_auth: None,
            sni: info.tls.sni,
            min_version: version(&info.tls.min_protocol_version, "ssl_min_protocol_version")?,
            max_version: version(&info.tls.max_protocol_version, "ssl_max_protocol_version")?,
            alpn_postgresql: direct,
            now: UnixTime::since_unix_epoch(std::time::Duration::from_secs(now)),
        };
        let config: Arc<rustls::ClientConfig> = tls::client_config(&options).map_err(tls_error)?;
        Tls::new(config, &host.host).map_err(tls_error)
    }

    /// Bytes from the host, by way of the transport: the plaintext they carry is appended to
    /// `inbuf` for the protocol code (in clear, the bytes themselves, copied once).
    pub(super) fn unseal(&mut self, data: &[u8]) -> Result<(), Error> {
        match &mut self.transport {
            Transport::Plain => self.inbuf.extend_from_slice(data),
            Transport::Tls(tls) => {
                let mut plain = Vec::new();
                tls.feed(data, &mut plain).map_err(tls_error)?;
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
                                ErrorKind::Protocol,
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
                    tls.write(&plain).map_err(tls_error)?;
                }
                Ok(tls.take_outgoing())
            }
            _ => Ok(plain),
        }
    }
}
