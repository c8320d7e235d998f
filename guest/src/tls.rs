//! TLS between the protocol and the bytes the host moves: a sans-I/O record layer over rustls's
//! unbuffered client. The session hands it the server's ciphertext and takes back plaintext;
//! it hands it plaintext and takes back ciphertext to send. No clock, socket or file is
//! touched here: the validation time, the certificates and keys come from the caller (the host
//! passes the time and the files' contents in), randomness from the crypto provider (WASI
//! random in the component).
//!
//! The session drives it from session/transport.rs; the files it needs come from
//! session/tls_files.rs.
//!
//! Verification follows libpq's sslmode (`Verify`): `None` checks only that the server holds the
//! key of the certificate it presents (sslmode=require without a root certificate), `Ca` checks
//! the chain against the roots but not the name (verify-ca), `Full` both (verify-full).
//! Cipher suites are offered ChaCha20-Poly1305 first: wasm has no AES instructions, and
//! software AES decrypts at a tenth of ChaCha20's speed (docs/measurements.md, "TLS in the
//! guest").

use std::fmt;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{UnbufferedClientConnection, WebPkiServerVerifier};
use rustls::crypto::{ring, CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{
    CertificateDer, CertificateRevocationListDer, PrivateKeyDer, ServerName, UnixTime,
};
use rustls::time_provider::TimeProvider;
use rustls::unbuffered::{ConnectionState, EncodeError, EncryptError, UnbufferedStatus};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
    SupportedProtocolVersion,
};

/// How much of the server's certificate is checked (libpq's sslmode).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verify {
    /// Only that the server holds the key of the certificate it presents.
    None,
    /// The chain up to a trusted root, not the name (verify-ca).
    Ca,
    /// The chain and the name (verify-full).
    Full,
}

/// A TLS protocol version as `ssl_min_protocol_version` / `ssl_max_protocol_version` name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Version {
    Tls10,
    Tls11,
    Tls12,
    Tls13,
}

impl Version {
    /// libpq's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Version::Tls10 => "TLSv1",
            Version::Tls11 => "TLSv1.1",
            Version::Tls12 => "TLSv1.2",
            Version::Tls13 => "TLSv1.3",
        }
    }

    /// libpq's spelling: `TLSv1`, `TLSv1.1`, `TLSv1.2`, `TLSv1.3`.
    pub fn parse(text: &str) -> Option<Version> {
        match text {
            "TLSv1" => Some(Version::Tls10),
            "TLSv1.1" => Some(Version::Tls11),
            "TLSv1.2" => Some(Version::Tls12),
            "TLSv1.3" => Some(Version::Tls13),
            _ => None,
        }
    }
}

/// Everything a TLS session needs, gathered by the session from the conninfo and the files the
/// host read.
#[derive(Debug)]
pub struct TlsOptions {
    pub verify: Verify,
    /// Trusted roots (sslrootcert); required for `Ca` and `Full`.
    pub roots: Vec<CertificateDer<'static>>,
    /// Revocation lists (sslcrl).
    pub crls: Vec<CertificateRevocationListDer<'static>>,
    /// The client certificate chain and its key (sslcert, sslkey).
    pub client_auth: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
    /// Send the host name in the handshake (sslsni=1, libpq's default).
    pub sni: bool,
    pub min_version: Option<Version>,
    pub max_version: Option<Version>,
    /// ALPN `postgresql`, which direct TLS negotiation (libpq 17's sslnegotiation=direct)
    /// requires.
    pub alpn_postgresql: bool,
    /// The time certificates are validated at.
    pub now: UnixTime,
}

/// Why TLS failed; each names its cause as libpq's messages do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsError {
    /// The options cannot be honoured (no root certificate for verify-full, a protocol
    /// version this driver cannot speak, a malformed certificate or key).
    Config(String),
    /// The server's certificate was refused.
    Certificate(String),
    /// The handshake or a record failed.
    Protocol(String),
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TlsError::Config(m) => write!(f, "TLS configuration: {m}"),
            TlsError::Certificate(m) => write!(f, "server certificate verification failed: {m}"),
            TlsError::Protocol(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for TlsError {}

/// As the session and the cancel request report it: options that cannot be honoured are
/// `config` errors, everything else `tls`.
impl From<TlsError> for crate::error::Error {
    fn from(e: TlsError) -> Self {
        let kind = match e {
            TlsError::Config(_) => crate::error::ErrorKind::Config,
            _ => crate::error::ErrorKind::Tls,
        };
        crate::error::Error::new(kind, e.to_string())
    }
}

/// The provider: ring, offering ChaCha20-Poly1305 and AES-128-GCM only (see the module
/// comment). PostgreSQL servers choose by their own preference, and OpenSSL's order is
/// AES-256-GCM, ChaCha20-Poly1305, AES-128-GCM: leaving AES-256-GCM out of the offer makes them
/// choose ChaCha20 (~8x faster to decrypt in wasm), while a server without ChaCha20 (FIPS mode)
/// still finds AES-128-GCM, which every TLS 1.3 server implements.
pub fn provider() -> CryptoProvider {
    use rustls::CipherSuite as S;
    let mut p = ring::default_provider();
    p.cipher_suites.retain(|s| {
        !matches!(
            s.suite(),
            S::TLS13_AES_256_GCM_SHA384
                | S::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384
                | S::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384
        )
    });
    p.cipher_suites.sort_by_key(|s| {
        !matches!(
            s.suite(),
            S::TLS13_CHACHA20_POLY1305_SHA256
                | S::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256
                | S::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256
        )
    });
    p
}

/// The validation time the caller passed in.
#[derive(Debug)]
struct FixedTime(UnixTime);

impl TimeProvider for FixedTime {
    fn current_time(&self) -> Option<UnixTime> {
        Some(self.0)
    }
}

/// sslmode=require without a root certificate: the chain is not checked, but the handshake
/// signature is, so the server must hold the key of the certificate it shows (which is what
/// channel binding's certificate hash then relies on).
#[derive(Debug)]
struct KeyOnly(WebPkiSupportedAlgorithms);

impl ServerCertVerifier for KeyOnly {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_schemes()
    }
}

/// verify-ca: the full WebPKI check, except that a name mismatch is accepted.
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
            // The chain is checked before the name: this error means the chain was good.
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

fn versions(
    min: Option<Version>,
    max: Option<Version>,
) -> Result<Vec<&'static SupportedProtocolVersion>, TlsError> {
    // libpq's default minimum is TLSv1.2; rustls speaks 1.2 and 1.3 only.
    let min = min.unwrap_or(Version::Tls12);
    let max = max.unwrap_or(Version::Tls13);
    if min > max {
        return Err(TlsError::Config(format!(
            "ssl_min_protocol_version ({min:?}) is above ssl_max_protocol_version ({max:?})"
        )));
    }
    if max < Version::Tls12 {
        return Err(TlsError::Config(
            "TLS versions before 1.2 are not supported: ssl_max_protocol_version must be at \
             least TLSv1.2"
                .to_owned(),
        ));
    }
    let mut out = Vec::new();
    if min <= Version::Tls12 {
        out.push(&rustls::version::TLS12);
    }
    out.push(&rustls::version::TLS13);
    if max == Version::Tls12 {
        out.retain(|v| v.version == rustls::ProtocolVersion::TLSv1_2);
    }
    Ok(out)
}

/// The rustls client configuration for `options`.
pub fn client_config(options: &TlsOptions) -> Result<Arc<ClientConfig>, TlsError> {
    let provider = Arc::new(provider());
    let builder =
        ClientConfig::builder_with_details(provider.clone(), Arc::new(FixedTime(options.now)))
            .with_protocol_versions(&versions(options.min_version, options.max_version)?)
            .map_err(|e| TlsError::Config(e.to_string()))?;
    let verifier: Arc<dyn ServerCertVerifier> = match options.verify {
        Verify::None => Arc::new(KeyOnly(provider.signature_verification_algorithms)),
        Verify::Ca | Verify::Full => {
            if options.roots.is_empty() {
                return Err(TlsError::Config(
                    "certificate verification needs a root certificate (sslrootcert)".to_owned(),
                ));
            }
            let mut roots = RootCertStore::empty();
            for root in &options.roots {
                roots.add(root.clone()).map_err(|e| {
                    TlsError::Config(format!("a root certificate cannot be used: {e}"))
                })?;
            }
            let webpki =
                WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                    .with_crls(options.crls.iter().cloned())
                    .build()
                    .map_err(|e| TlsError::Config(format!("certificate verifier: {e}")))?;
            if options.verify == Verify::Full {
                webpki
            } else {
                Arc::new(ChainOnly(webpki))
            }
        }
    };
    let builder = builder
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let mut config = match &options.client_auth {
        None => builder.with_no_client_auth(),
        Some((chain, key)) => builder
            .with_client_auth_cert(chain.clone(), key.clone_key())
            .map_err(|e| TlsError::Config(format!("client certificate or key: {e}")))?,
    };
    config.enable_sni = options.sni;
    if options.alpn_postgresql {
        config.alpn_protocols = vec![b"postgresql".to_vec()];
    }
    Ok(Arc::new(config))
}

/// A client's private key from the bytes of its file: PEM (PKCS#8, PKCS#1 or SEC1, or PKCS#8
/// encrypted with `password`, libpq's sslpassword) or DER (the same, guessed from the
/// structure). The message of an error says what is wrong, never the password.
pub fn private_key(
    contents: &[u8],
    password: Option<&str>,
) -> Result<PrivateKeyDer<'static>, String> {
    use rustls::pki_types::pem::PemObject;
    if looks_like_pem(contents) {
        const BEGIN: &[u8] = b"-----BEGIN ENCRYPTED PRIVATE KEY-----";
        const END: &[u8] = b"-----END ENCRYPTED PRIVATE KEY-----";
        if let Some(start) = find(contents, BEGIN) {
            let end = find(&contents[start..], END)
                .map(|e| start + e + END.len())
                .ok_or("the encrypted key's PEM block has no end line")?;
            let (_, der) = pkcs8::der::pem::decode_vec(&contents[start..end])
                .map_err(|e| format!("malformed PEM: {e}"))?;
            return decrypt_pkcs8(&der, password);
        }
        if find(contents, b"Proc-Type: 4,ENCRYPTED").is_some() {
            return Err(
                "the key is encrypted in OpenSSL's traditional format, which is not \
                        supported: convert it to PKCS#8 (openssl pkcs8 -topk8 -v2 aes-256-cbc)"
                    .to_owned(),
            );
        }
        return PrivateKeyDer::from_pem_slice(contents).map_err(|e| match e {
            rustls::pki_types::pem::Error::NoItemsFound => "no private key in the file".to_owned(),
            other => format!("{other:?}"),
        });
    }
    if pkcs8::EncryptedPrivateKeyInfo::try_from(contents).is_ok() {
        return decrypt_pkcs8(contents, password);
    }
    PrivateKeyDer::try_from(contents.to_vec()).map_err(|e| e.to_owned())
}

/// Whether a file holds PEM (a `-----BEGIN ` line), else it is taken as DER.
pub fn looks_like_pem(contents: &[u8]) -> bool {
    find(contents, b"-----BEGIN ").is_some()
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Decrypts an EncryptedPrivateKeyInfo (DER) with the password.
fn decrypt_pkcs8(der: &[u8], password: Option<&str>) -> Result<PrivateKeyDer<'static>, String> {
    let Some(password) = password else {
        return Err("the key is encrypted: give its password in sslpassword".to_owned());
    };
    let info = pkcs8::EncryptedPrivateKeyInfo::try_from(der)
        .map_err(|e| format!("malformed encrypted key: {e}"))?;
    let document = info.decrypt(password.as_bytes()).map_err(|_| {
        "the key could not be decrypted with sslpassword (wrong password, or an unsupported \
         cipher)"
            .to_owned()
    })?;
    Ok(PrivateKeyDer::Pkcs8(document.as_bytes().to_vec().into()))
}

/// The server name to verify and (for host names) to send as SNI.
pub fn server_name(host: &str) -> Result<ServerName<'static>, TlsError> {
    ServerName::try_from(host.to_owned())
        .map_err(|_| TlsError::Config(format!("{host:?} is not a valid server name for TLS")))
}

/// One TLS connection, driven by the caller.
pub struct Tls {
    conn: UnbufferedClientConnection,
    /// Ciphertext received and not yet processed.
    incoming: Vec<u8>,
    /// Ciphertext to send.
    outgoing: Vec<u8>,
    /// Plaintext waiting for the handshake to complete.
    pending: Vec<u8>,
    established: bool,
    peer_closed: bool,
    server_name: String,
}

impl fmt::Debug for Tls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tls")
            .field("established", &self.established)
            .field("peer_closed", &self.peer_closed)
            .finish_non_exhaustive()
    }
}

impl Tls {
    /// Starts a handshake with `host`; its first flight is in [`Tls::take_outgoing`] after the
    /// first [`Tls::feed`] (call it with no bytes).
    pub fn new(config: Arc<ClientConfig>, host: &str) -> Result<Tls, TlsError> {
        let conn = UnbufferedClientConnection::new(config, server_name(host)?)
            .map_err(|e| TlsError::Config(e.to_string()))?;
        Ok(Tls {
            conn,
            incoming: Vec::new(),
            outgoing: Vec::new(),
            pending: Vec::new(),
            established: false,
            peer_closed: false,
            server_name: host.to_owned(),
        })
    }

    /// True once the handshake completed.
    pub fn is_established(&self) -> bool {
        self.established
    }

    /// True once the server sent close_notify.
    pub fn peer_closed(&self) -> bool {
        self.peer_closed
    }

    /// Ciphertext to send now (empty when there is none).
    pub fn take_outgoing(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.outgoing)
    }

    /// Plaintext to send: encrypted at once when the handshake is done, else when it is.
    pub fn write(&mut self, plain: &[u8]) -> Result<(), TlsError> {
        self.pending.extend_from_slice(plain);
        if self.established {
            self.drive(&mut Vec::new())?;
        }
        Ok(())
    }

    /// Ciphertext from the server (possibly empty, to start the handshake): the plaintext it
    /// carried is appended to `plain`.
    pub fn feed(&mut self, data: &[u8], plain: &mut Vec<u8>) -> Result<(), TlsError> {
        self.incoming.extend_from_slice(data);
        self.drive(plain)
    }

    /// The negotiated protocol version and cipher suite, once established (for pg_stat_ssl-like
    /// reports).
    pub fn negotiated(&self) -> Option<(String, String)> {
        let version = self.conn.protocol_version()?;
        let suite = self.conn.negotiated_cipher_suite()?;
        Some((format!("{version:?}"), format!("{:?}", suite.suite())))
    }

    /// The application protocol the server chose (ALPN), once established.
    pub fn alpn_protocol(&self) -> Option<&[u8]> {
        self.conn.alpn_protocol()
    }

    /// The server's end-entity certificate (for channel binding's tls-server-end-point).
    pub fn server_certificate(&self) -> Option<&CertificateDer<'static>> {
        self.conn.peer_certificates()?.first()
    }

    fn drive(&mut self, plain: &mut Vec<u8>) -> Result<(), TlsError> {
        loop {
            let UnbufferedStatus { discard, state } =
                self.conn.process_tls_records(&mut self.incoming);
            let state = match state {
                Ok(state) => state,
                Err(e) => return Err(describe(e, &self.server_name)),
            };
            let mut progressed = discard > 0;
            let mut stop = false;
            match state {
                ConnectionState::ReadTraffic(mut traffic) => {
                    while let Some(record) = traffic.next_record() {
                        let record = record.map_err(|e| describe(e, &self.server_name))?;
                        plain.extend_from_slice(record.payload);
                    }
                    progressed = true;
                }
                ConnectionState::EncodeTlsData(mut encode) => {
                    encode_into(&mut self.outgoing, |buf| encode.encode(buf))?;
                    progressed = true;
                }
                ConnectionState::TransmitTlsData(transmit) => {
                    // The caller sends `outgoing` after this call returns.
                    transmit.done();
                    progressed = true;
                }
                ConnectionState::WriteTraffic(mut write) => {
                    self.established = true;
                    if !self.pending.is_empty() {
                        let pending = std::mem::take(&mut self.pending);
                        encrypt_into(&mut self.outgoing, |buf| write.encrypt(&pending, buf))?;
                    }
                    stop = true;
                }
                ConnectionState::BlockedHandshake => stop = true,
                ConnectionState::PeerClosed => {
                    self.peer_closed = true;
                    progressed = true;
                }
                ConnectionState::Closed => stop = true,
                ConnectionState::ReadEarlyData(_) => {
                    return Err(TlsError::Protocol(
                        "the server sent early data to a client".to_owned(),
                    ));
                }
                _ => {
                    return Err(TlsError::Protocol(
                        "an unexpected TLS connection state".to_owned(),
                    ))
                }
            }
            self.incoming.drain(..discard);
            if stop || !progressed {
                return Ok(());
            }
        }
    }
}

/// Grows `out` until `f` fits its record into the spare room; `needed` reads the size an
/// "insufficient size" error asks for (None: another error).
fn write_into<E: fmt::Display>(
    out: &mut Vec<u8>,
    mut f: impl FnMut(&mut [u8]) -> Result<usize, E>,
    needed: impl Fn(&E) -> Option<usize>,
) -> Result<(), TlsError> {
    let mut room = 4096;
    loop {
        let start = out.len();
        out.resize(start + room, 0);
        match f(&mut out[start..]) {
            Ok(n) => {
                out.truncate(start + n);
                return Ok(());
            }
            Err(e) => {
                out.truncate(start);
                match needed(&e) {
                    Some(size) => room = size,
                    None => return Err(TlsError::Protocol(e.to_string())),
                }
            }
        }
    }
}

fn encode_into(
    out: &mut Vec<u8>,
    f: impl FnMut(&mut [u8]) -> Result<usize, EncodeError>,
) -> Result<(), TlsError> {
    write_into(out, f, |e| match e {
        EncodeError::InsufficientSize(s) => Some(s.required_size),
        _ => None,
    })
}

fn encrypt_into(
    out: &mut Vec<u8>,
    f: impl FnMut(&mut [u8]) -> Result<usize, EncryptError>,
) -> Result<(), TlsError> {
    write_into(out, f, |e| match e {
        EncryptError::InsufficientSize(s) => Some(s.required_size),
        _ => None,
    })
}

/// A rustls error as a message that names its cause.
fn describe(e: rustls::Error, host: &str) -> TlsError {
    match e {
        rustls::Error::InvalidCertificate(c) => TlsError::Certificate(certificate_cause(c, host)),
        rustls::Error::AlertReceived(alert) => TlsError::Protocol(format!(
            "the server refused the handshake (alert {alert:?})"
        )),
        other => TlsError::Protocol(format!("the TLS handshake or a record failed: {other}")),
    }
}

fn certificate_cause(c: CertificateError, host: &str) -> String {
    match c {
        CertificateError::UnknownIssuer => {
            "the certificate was not issued by a trusted certificate authority (unknown issuer; \
             check sslrootcert)"
                .to_owned()
        }
        CertificateError::NotValidForName => {
            format!("the certificate is not valid for the host name \"{host}\"")
        }
        CertificateError::NotValidForNameContext { presented, .. } => {
            // rustls lists the names as `DnsName("a")` / `IpAddress(..)`: keep what is quoted.
            let names: Vec<String> = presented
                .iter()
                .map(|p| match (p.find('"'), p.rfind('"')) {
                    (Some(a), Some(b)) if b > a => p[a + 1..b].to_owned(),
                    _ => p.clone(),
                })
                .collect();
            match names.as_slice() {
                [] => format!(
                    "the server certificate names no host, so it does not match host name \"{host}\""
                ),
                [one] => format!(
                    "server certificate for \"{one}\" does not match host name \"{host}\""
                ),
                [first, rest @ ..] => format!(
                    "server certificate for \"{first}\" (and {} other name{}) does not match \
                     host name \"{host}\"",
                    rest.len(),
                    if rest.len() == 1 { "" } else { "s" }
                ),
            }
        }
        CertificateError::Expired => "the certificate has expired".to_owned(),
        CertificateError::ExpiredContext { time, not_after } => format!(
            "the certificate expired at {} (validation time {})",
            utc(not_after),
            utc(time)
        ),
        CertificateError::NotValidYet => "the certificate is not valid yet".to_owned(),
        CertificateError::NotValidYetContext { time, not_before } => format!(
            "the certificate is not valid before {} (validation time {})",
            utc(not_before),
            utc(time)
        ),
        CertificateError::Revoked => "the certificate has been revoked (sslcrl)".to_owned(),
        CertificateError::BadSignature => {
            "a certificate's signature does not verify: the chain was not issued by the root \
             certificates given (check sslrootcert)"
                .to_owned()
        }
        other => format!("{other:?}"),
    }
}

/// A Unix time as `YYYY-MM-DD HH:MM:SS UTC`.
fn utc(t: UnixTime) -> String {
    let secs = t.as_secs();
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests;
