//! SCRAM-SHA-256 client (RFC 5802, RFC 7677) as PostgreSQL uses it.
//!
//! Channel binding (RFC 5929's `tls-server-end-point`, SCRAM-SHA-256-PLUS) is chosen by the
//! caller with [`Binding`]: `p=tls-server-end-point` with the hash of the server's certificate,
//! `y` (the client could bind but the server offered no -PLUS mechanism, so a man in the middle
//! who stripped it is caught by the server) or `n` (no TLS, or binding disabled). The
//! SCRAM user name is left empty, since PostgreSQL ignores it and authenticates the user named
//! in the startup packet.
//!
//! The exchange is a small state machine driven by the caller:
//!
//! 1. [`ScramSha256::client_first`] goes into SASLInitialResponse (mechanism
//!    [`ScramSha256::MECHANISM`]);
//! 2. the data of AuthenticationSASLContinue goes into [`ScramSha256::server_first`], whose
//!    result goes into SASLResponse;
//! 3. the data of AuthenticationSASLFinal goes into [`ScramSha256::server_final`], which checks
//!    that the server knew the password too.
//!
//! The client nonce is injected, so the exchange is deterministic under test; production code
//! passes [`random_nonce`]. Nothing here performs I/O.

use std::fmt;
use std::mem;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

/// How the exchange binds to the TLS channel (the GS2 header's flag).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Binding {
    /// `n`: no TLS, or channel_binding=disable.
    Unsupported,
    /// `y`: TLS in use, but the server offered no SCRAM-SHA-256-PLUS.
    NotOffered,
    /// `p=tls-server-end-point` with the hash of the server's certificate (SCRAM-SHA-256-PLUS).
    TlsServerEndPoint(Vec<u8>),
}

impl Binding {
    fn gs2_header(&self) -> &'static str {
        match self {
            Binding::Unsupported => "n,,",
            Binding::NotOffered => "y,,",
            Binding::TlsServerEndPoint(_) => "p=tls-server-end-point,,",
        }
    }

    /// The `c=` attribute: base64 of the GS2 header and the binding data.
    fn attribute(&self) -> String {
        let mut input = self.gs2_header().as_bytes().to_vec();
        if let Binding::TlsServerEndPoint(data) = self {
            input.extend_from_slice(data);
        }
        STANDARD.encode(input)
    }
}

/// The `tls-server-end-point` binding data (RFC 5929): the hash of the server's certificate
/// with the hash function of its signature algorithm, SHA-256 for MD5 and SHA-1. `None` when
/// the certificate cannot be parsed or its algorithm names no single hash (Ed25519, RSA-PSS),
/// as PostgreSQL too refuses binding then.
pub fn server_end_point(certificate: &[u8]) -> Option<Vec<u8>> {
    use sha2::{Sha384, Sha512};
    let oid = signature_algorithm(certificate)?;
    // The DER of the OIDs' contents.
    const SHA256_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b];
    const SHA384_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0c];
    const SHA512_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0d];
    const SHA1_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x05];
    const MD5_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x04];
    const ECDSA_SHA256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02];
    const ECDSA_SHA384: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03];
    const ECDSA_SHA512: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x04];
    const ECDSA_SHA1: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x01];
    Some(match oid {
        SHA256_RSA | ECDSA_SHA256 | SHA1_RSA | MD5_RSA | ECDSA_SHA1 => {
            Sha256::digest(certificate).to_vec()
        }
        SHA384_RSA | ECDSA_SHA384 => Sha384::digest(certificate).to_vec(),
        SHA512_RSA | ECDSA_SHA512 => Sha512::digest(certificate).to_vec(),
        _ => return None,
    })
}

/// The signature algorithm's OID (its DER contents) in a certificate:
/// `SEQUENCE { tbsCertificate, SEQUENCE { OID, ... }, signature }`.
fn signature_algorithm(der: &[u8]) -> Option<&[u8]> {
    let (tag, certificate, _) = der_element(der)?;
    if tag != 0x30 {
        return None;
    }
    let (_, _, rest) = der_element(certificate)?; // tbsCertificate
    let (tag, algorithm, _) = der_element(rest)?;
    if tag != 0x30 {
        return None;
    }
    let (tag, oid, _) = der_element(algorithm)?;
    (tag == 0x06).then_some(oid)
}

/// One DER element: (tag, contents, what follows). Only single-byte tags and lengths up to
/// four bytes, which is all a certificate's outer structure uses.
fn der_element(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        (len, &rest[n..])
    };
    if rest.len() < len {
        return None;
    }
    Some((tag, &rest[..len], &rest[len..]))
}

/// Number of random bytes in a nonce made by [`random_nonce`] (the same as libpq).
const NONCE_BYTES: usize = 18;

/// Largest iteration count accepted from a server.
///
/// The count drives the PBKDF2 loop, so a hostile server could otherwise make the client burn
/// CPU for as long as it likes before authentication completes. PostgreSQL's default is 4096.
pub const MAX_ITERATIONS: u32 = 10_000_000;

/// Length of a SHA-256 output, and so of every SCRAM-SHA-256 key and signature.
const KEY_LEN: usize = 32;

/// A SCRAM exchange failed: a malformed or inconsistent server message, a server-reported
/// error, a wrong server signature, or a call out of order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScramError(pub String);

impl ScramError {
    fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

impl fmt::Display for ScramError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ScramError {}

enum State {
    /// `client_first` was produced; waiting for the server-first-message.
    Started { password: Vec<u8> },
    /// The client-final-message was produced; waiting for the server-final-message.
    ProofSent {
        server_key: [u8; KEY_LEN],
        auth_message: String,
    },
    /// The exchange failed or the nonce given to `new` was invalid.
    Aborted,
}

/// The client side of one SCRAM-SHA-256 exchange.
pub struct ScramSha256 {
    nonce: String,
    /// `n=<user>,r=<nonce>`: the client-first-message without its GS2 header.
    client_first_bare: String,
    state: State,
    binding: Binding,
}

impl fmt::Debug for ScramSha256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match self.state {
            State::Started { .. } => "Started",
            State::ProofSent { .. } => "ProofSent",
            State::Aborted => "Aborted",
        };
        // The password and the keys derived from it stay out.
        f.debug_struct("ScramSha256")
            .field("nonce", &self.nonce)
            .field("state", &state)
            .finish_non_exhaustive()
    }
}

impl ScramSha256 {
    /// The mechanism name to put in SASLInitialResponse.
    pub const MECHANISM: &'static str = "SCRAM-SHA-256";
    /// The channel-binding variant.
    pub const MECHANISM_PLUS: &'static str = "SCRAM-SHA-256-PLUS";

    /// Starts an exchange for `password` with the client nonce `nonce`.
    ///
    /// `nonce` must be non-empty printable ASCII without `,`; use [`random_nonce`] in
    /// production. With any other nonce the exchange cannot succeed: `server_first` fails.
    ///
    /// The password is normalized with SASLprep; a password SASLprep rejects is used as is,
    /// as PostgreSQL does.
    pub fn new(password: &str, nonce: &str) -> Self {
        Self::with_user("", password, nonce)
    }

    /// Like `new`, bound to the TLS channel as `binding` says.
    pub fn with_binding(password: &str, nonce: &str, binding: Binding) -> Self {
        let mut scram = Self::with_user("", password, nonce);
        scram.binding = binding;
        scram
    }

    /// The mechanism to name in SASLInitialResponse: -PLUS when binding to the channel.
    pub fn mechanism(&self) -> &'static str {
        match self.binding {
            Binding::TlsServerEndPoint(_) => Self::MECHANISM_PLUS,
            _ => Self::MECHANISM,
        }
    }

    /// Like `new`, with a SCRAM user name: only for the RFC test vectors, since PostgreSQL
    /// ignores the name. `user` must not need `saslname` escaping.
    fn with_user(user: &str, password: &str, nonce: &str) -> Self {
        let state = if valid_nonce(nonce) {
            State::Started {
                password: normalize(password),
            }
        } else {
            State::Aborted
        };
        Self {
            nonce: nonce.to_owned(),
            client_first_bare: format!("n={user},r={nonce}"),
            state,
            binding: Binding::Unsupported,
        }
    }

    /// The client-first-message: the GS2 header, then `n=,r=<nonce>`.
    pub fn client_first(&self) -> Vec<u8> {
        format!("{}{}", self.binding.gs2_header(), self.client_first_bare).into_bytes()
    }

    /// Consumes the server-first-message and returns the client-final-message.
    ///
    /// Fails if the message is malformed, its nonce does not extend ours, its iteration count is
    /// 0 or above [`MAX_ITERATIONS`], or if called twice. After a failure the exchange is
    /// aborted.
    pub fn server_first(&mut self, data: &[u8]) -> Result<Vec<u8>, ScramError> {
        let password = match mem::replace(&mut self.state, State::Aborted) {
            State::Started { password } => password,
            State::ProofSent { .. } => {
                return Err(ScramError::new("SCRAM server-first-message received twice"))
            }
            State::Aborted if valid_nonce(&self.nonce) => {
                return Err(ScramError::new("SCRAM exchange already failed"))
            }
            State::Aborted => return Err(ScramError::new("invalid SCRAM client nonce")),
        };

        let server_first = ServerFirst::parse(data)?;
        if server_first.nonce.len() <= self.nonce.len()
            || !server_first.nonce.starts_with(self.nonce.as_str())
        {
            return Err(ScramError::new("invalid SCRAM response (nonce mismatch)"));
        }

        let salted_password = hi(&password, &server_first.salt, server_first.iterations);
        let client_key = hmac(&salted_password, b"Client Key");
        let stored_key: [u8; KEY_LEN] = Sha256::digest(client_key).into();
        let server_key = hmac(&salted_password, b"Server Key");

        let without_proof = format!("c={},r={}", self.binding.attribute(), server_first.nonce);
        let auth_message = format!(
            "{},{},{}",
            self.client_first_bare, server_first.message, without_proof
        );

        let client_signature = hmac(&stored_key, auth_message.as_bytes());
        let mut proof = client_key;
        for (p, s) in proof.iter_mut().zip(client_signature) {
            *p ^= s;
        }

        self.state = State::ProofSent {
            server_key,
            auth_message,
        };
        Ok(format!("{without_proof},p={}", STANDARD.encode(proof)).into_bytes())
    }

    /// Verifies the server-final-message (`v=<signature>`).
    ///
    /// A server error (`e=...`), a malformed message, a wrong signature, or a call before
    /// `server_first` succeeded is an error. Authentication is only complete once this
    /// returns `Ok`.
    pub fn server_final(&self, data: &[u8]) -> Result<(), ScramError> {
        let State::ProofSent {
            server_key,
            auth_message,
        } = &self.state
        else {
            return Err(ScramError::new(
                "SCRAM server-final-message received before the server-first-message",
            ));
        };

        let message = std::str::from_utf8(data)
            .map_err(|_| ScramError::new("malformed SCRAM message (invalid UTF-8)"))?;
        let first = message.split(',').next().unwrap_or_default();
        if let Some(error) = first.strip_prefix("e=") {
            return Err(ScramError(format!(
                "error received from server in SCRAM exchange: {error}"
            )));
        }
        let Some(verifier) = first.strip_prefix("v=") else {
            return Err(ScramError::new(
                "malformed SCRAM message (attribute \"v\" expected)",
            ));
        };
        let signature = STANDARD
            .decode(verifier)
            .map_err(|_| ScramError::new("malformed SCRAM message (invalid server signature)"))?;
        if signature.len() != KEY_LEN {
            return Err(ScramError::new(
                "malformed SCRAM message (invalid server signature)",
            ));
        }

        let mut mac = new_mac(server_key);
        mac.update(auth_message.as_bytes());
        // `verify_slice` compares in constant time.
        mac.verify_slice(&signature)
            .map_err(|_| ScramError::new("incorrect server signature"))
    }
}

/// A fresh client nonce: 18 random bytes from the operating system's CSPRNG (wasi:random on
/// wasm32-wasip2), base64-encoded to 24 printable characters without `,`.
pub fn random_nonce() -> String {
    let mut bytes = [0u8; NONCE_BYTES];
    rand::fill(&mut bytes);
    STANDARD.encode(bytes)
}

/// The parts of a server-first-message:
/// `[reserved-mext ","] nonce "," salt "," iteration-count ["," extensions]`.
struct ServerFirst<'a> {
    message: &'a str,
    nonce: &'a str,
    salt: Vec<u8>,
    iterations: u32,
}

impl<'a> ServerFirst<'a> {
    fn parse(data: &'a [u8]) -> Result<Self, ScramError> {
        let message = std::str::from_utf8(data)
            .map_err(|_| ScramError::new("malformed SCRAM message (invalid UTF-8)"))?;
        if message.is_empty() {
            return Err(ScramError::new("malformed SCRAM message (empty message)"));
        }

        if message.starts_with("m=") {
            return Err(ScramError::new(
                "malformed SCRAM message (unsupported mandatory extension)",
            ));
        }

        let mut attributes = message.split(',');
        let mut next = |name: char| {
            attributes
                .next()
                .and_then(|a| a.strip_prefix(name))
                .and_then(|a| a.strip_prefix('='))
                .ok_or_else(|| {
                    ScramError(format!(
                        "malformed SCRAM message (attribute \"{name}\" expected)"
                    ))
                })
        };

        let nonce = next('r')?;
        if nonce.is_empty() || !nonce.bytes().all(|b| matches!(b, 0x21..=0x7e)) {
            return Err(ScramError::new("malformed SCRAM message (invalid nonce)"));
        }
        let salt = STANDARD
            .decode(next('s')?)
            .map_err(|_| ScramError::new("malformed SCRAM message (invalid salt)"))?;
        let iterations = next('i')?;
        // Any further attributes are extensions (RFC 5802 section 7), which are ignored.

        if iterations.is_empty() || !iterations.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ScramError::new(
                "malformed SCRAM message (invalid iteration count)",
            ));
        }
        // All digits: failing to parse means it overflows `u32`, far above the maximum.
        let iterations = match iterations.parse::<u32>() {
            Ok(0) => {
                return Err(ScramError::new(
                    "malformed SCRAM message (invalid iteration count)",
                ))
            }
            Ok(n) if n <= MAX_ITERATIONS => n,
            _ => {
                return Err(ScramError(format!(
                    "SCRAM iteration count exceeds the maximum of {MAX_ITERATIONS}"
                )))
            }
        };

        Ok(Self {
            message,
            nonce,
            salt,
            iterations,
        })
    }
}

/// SASLprep the password; one SASLprep rejects is used as raw bytes, like PostgreSQL's client
/// and server do.
fn normalize(password: &str) -> Vec<u8> {
    match stringprep::saslprep(password) {
        Ok(prepared) => prepared.into_owned().into_bytes(),
        Err(_) => password.as_bytes().to_vec(),
    }
}

/// A nonce is non-empty and printable ASCII except `,`.
fn valid_nonce(nonce: &str) -> bool {
    !nonce.is_empty()
        && nonce
            .bytes()
            .all(|b| matches!(b, 0x21..=0x2b | 0x2d..=0x7e))
}

fn new_mac(key: &[u8]) -> HmacSha256 {
    // HMAC takes keys of any length (long keys are hashed), so this cannot fail.
    HmacSha256::new_from_slice(key).expect("HMAC accepts keys of any length")
}

fn hmac(key: &[u8], data: &[u8]) -> [u8; KEY_LEN] {
    let mut mac = new_mac(key);
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// `Hi()` of RFC 5802: PBKDF2 with HMAC-SHA-256 and one output block.
fn hi(password: &[u8], salt: &[u8], iterations: u32) -> [u8; KEY_LEN] {
    let keyed = new_mac(password);

    let mut mac = keyed.clone();
    mac.update(salt);
    mac.update(&1u32.to_be_bytes());
    let mut previous: [u8; KEY_LEN] = mac.finalize().into_bytes().into();
    let mut result = previous;

    for _ in 1..iterations {
        let mut mac = keyed.clone();
        mac.update(&previous);
        previous = mac.finalize().into_bytes().into();
        for (r, p) in result.iter_mut().zip(previous) {
            *r ^= p;
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    const NONCE: &str = "abcdefghijklmnopqrstuvwx";
    const SERVER_FIRST: &str = "r=abcdefghijklmnopqrstuvwxSERVERPART,s=c2FsdHNhbHRzYWx0,i=4096";

    fn text(bytes: Vec<u8>) -> String {
        String::from_utf8(bytes).expect("SCRAM messages are ASCII")
    }

    #[test]
    fn channel_binding_flags_and_data() {
        let nonce = "abcdefghijklmnopqrstuvwx";
        // Not bound: "n,,", c=biws (as the RFC vectors).
        let mut plain = ScramSha256::with_binding("pw", nonce, Binding::Unsupported);
        assert_eq!(plain.mechanism(), ScramSha256::MECHANISM);
        assert!(text(plain.client_first()).starts_with("n,,n=,r="));
        assert!(text(plain.server_first(SERVER_FIRST.as_bytes()).unwrap()).starts_with("c=biws,"));
        // TLS but no -PLUS offered: "y,,", c=base64("y,,").
        let mut unbound = ScramSha256::with_binding("pw", nonce, Binding::NotOffered);
        assert_eq!(unbound.mechanism(), ScramSha256::MECHANISM);
        assert!(text(unbound.client_first()).starts_with("y,,n=,r="));
        assert!(text(unbound.server_first(SERVER_FIRST.as_bytes()).unwrap()).starts_with("c=eSws,"));
        // Bound: the -PLUS mechanism, "p=tls-server-end-point,,", and the data in c=.
        let data = vec![1, 2, 3, 250];
        let mut bound =
            ScramSha256::with_binding("pw", nonce, Binding::TlsServerEndPoint(data.clone()));
        assert_eq!(bound.mechanism(), ScramSha256::MECHANISM_PLUS);
        assert!(text(bound.client_first()).starts_with("p=tls-server-end-point,,n=,r="));
        let mut cbind = b"p=tls-server-end-point,,".to_vec();
        cbind.extend_from_slice(&data);
        let reply = text(bound.server_first(SERVER_FIRST.as_bytes()).unwrap());
        assert!(
            reply.starts_with(&format!("c={},", STANDARD.encode(&cbind))),
            "{reply}"
        );
        // The proof covers the binding: it differs from the unbound exchange's.
        let proof = |r: &str| r.rsplit_once("p=").unwrap().1.to_owned();
        assert_ne!(proof(&reply), proof(&text(plain_reply())));
    }

    fn plain_reply() -> Vec<u8> {
        ScramSha256::new("pw", "abcdefghijklmnopqrstuvwx")
            .server_first(SERVER_FIRST.as_bytes())
            .unwrap()
    }

    #[test]
    fn rfc7677_example() {
        let mut scram = ScramSha256::with_user("user", "pencil", "rOprNGfwEbeRWgbNEkqO");
        assert_eq!(
            text(scram.client_first()),
            "n,,n=user,r=rOprNGfwEbeRWgbNEkqO"
        );
        let server_first = "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
                            s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
        let client_final = scram.server_first(server_first.as_bytes()).unwrap();
        assert_eq!(
            text(client_final),
            "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
             p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
        );
        scram
            .server_final(b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")
            .unwrap();
    }

    /// An exchange recorded from psql (rust-postgres' test vector), with the empty user name.
    #[test]
    fn recorded_postgres_exchange() {
        let mut scram = ScramSha256::new("foobar", "9IZ2O01zb9IgiIZ1WJ/zgpJB");
        assert_eq!(
            text(scram.client_first()),
            "n,,n=,r=9IZ2O01zb9IgiIZ1WJ/zgpJB"
        );
        let client_final = scram
            .server_first(
                b"r=9IZ2O01zb9IgiIZ1WJ/zgpJBjx/oIRLs02gGSHcw1KEty3eY,s=fs3IXBy7U7+IvVjZ,i=4096",
            )
            .unwrap();
        assert_eq!(
            text(client_final),
            "c=biws,r=9IZ2O01zb9IgiIZ1WJ/zgpJBjx/oIRLs02gGSHcw1KEty3eY,\
             p=AmNKosjJzS31NTlQYNs5BTeQjdHdk7lOflDo5re2an8="
        );
        scram
            .server_final(b"v=U+ppxD5XUKtradnv8e2MkeupiA8FU87Sg8CXzXHDAzw=")
            .unwrap();
    }

    #[test]
    fn mechanism_name() {
        assert_eq!(ScramSha256::MECHANISM, "SCRAM-SHA-256");
    }

    #[test]
    fn debug_hides_the_password() {
        let mut scram = ScramSha256::new("hunter2", NONCE);
        let debug = format!("{scram:?}");
        assert!(!debug.contains("hunter2"), "{debug}");
        assert!(debug.contains("Started"), "{debug}");
        scram.server_first(SERVER_FIRST.as_bytes()).unwrap();
        assert!(format!("{scram:?}").contains("ProofSent"));
    }

    #[test]
    fn wrong_server_signature() {
        let mut scram = ScramSha256::new("foobar", "9IZ2O01zb9IgiIZ1WJ/zgpJB");
        scram
            .server_first(
                b"r=9IZ2O01zb9IgiIZ1WJ/zgpJBjx/oIRLs02gGSHcw1KEty3eY,s=fs3IXBy7U7+IvVjZ,i=4096",
            )
            .unwrap();
        // Right length, last byte changed.
        let err = scram
            .server_final(b"v=U+ppxD5XUKtradnv8e2MkeupiA8FU87Sg8CXzXHDAzs=")
            .unwrap_err();
        assert_eq!(err.to_string(), "incorrect server signature");
        // Wrong length.
        let err = scram.server_final(b"v=AAAA").unwrap_err();
        assert!(err.0.contains("invalid server signature"), "{err}");
        // The correct one still verifies: server_final does not consume the state.
        scram
            .server_final(b"v=U+ppxD5XUKtradnv8e2MkeupiA8FU87Sg8CXzXHDAzw=")
            .unwrap();
    }

    #[test]
    fn wrong_password_gives_other_proof() {
        let mut right = ScramSha256::new("foobar", "9IZ2O01zb9IgiIZ1WJ/zgpJB");
        let mut wrong = ScramSha256::new("foobaz", "9IZ2O01zb9IgiIZ1WJ/zgpJB");
        let server_first =
            b"r=9IZ2O01zb9IgiIZ1WJ/zgpJBjx/oIRLs02gGSHcw1KEty3eY,s=fs3IXBy7U7+IvVjZ,i=4096";
        assert_ne!(
            right.server_first(server_first).unwrap(),
            wrong.server_first(server_first).unwrap()
        );
        assert!(wrong
            .server_final(b"v=U+ppxD5XUKtradnv8e2MkeupiA8FU87Sg8CXzXHDAzw=")
            .is_err());
    }

    #[test]
    fn server_error_in_final_message() {
        let mut scram = ScramSha256::new("secret", NONCE);
        scram.server_first(SERVER_FIRST.as_bytes()).unwrap();
        let err = scram.server_final(b"e=invalid-proof").unwrap_err();
        assert_eq!(
            err.to_string(),
            "error received from server in SCRAM exchange: invalid-proof"
        );
        for bad in [&b""[..], b"x=1", b"v=!!!!", b"\xff", b"v"] {
            assert!(scram.server_final(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn server_nonce_must_extend_ours() {
        for server_first in [
            // Different prefix.
            "r=abcdefghijklmnopqrstuvwXSERVERPART,s=c2FsdHNhbHRzYWx0,i=4096",
            // Ours, truncated.
            "r=abcdefghijklmnopqrstuvw,s=c2FsdHNhbHRzYWx0,i=4096",
            // Ours, with nothing added.
            "r=abcdefghijklmnopqrstuvwx,s=c2FsdHNhbHRzYWx0,i=4096",
        ] {
            let mut scram = ScramSha256::new("secret", NONCE);
            let err = scram.server_first(server_first.as_bytes()).unwrap_err();
            assert!(err.0.contains("nonce mismatch"), "{server_first}: {err}");
        }
    }

    #[test]
    fn malformed_server_first() {
        let cases: &[(&[u8], &str)] = &[
            (b"", "empty message"),
            (b"\xff\xfe", "invalid UTF-8"),
            (b"s=c2FsdA==,i=4096", "attribute \"r\" expected"),
            (b"r=abcdefghijklmnopqrstuvwxS", "attribute \"s\" expected"),
            (
                b"r=abcdefghijklmnopqrstuvwxS,i=4096",
                "attribute \"s\" expected",
            ),
            (
                b"r=abcdefghijklmnopqrstuvwxS,s=c2FsdA==",
                "attribute \"i\" expected",
            ),
            (
                b"r=abcdefghijklmnopqrstuvwxS,s=c2FsdA==,4096",
                "attribute \"i\" expected",
            ),
            (
                b"r=abcdefghijklmnopqrstuvwxS,s=c2Fsd!==,i=4096",
                "invalid salt",
            ),
            (
                b"r=abcdefghijklmnopqrstuvwxS,s=c2FsdA,i=4096",
                "invalid salt",
            ),
            (
                b"r=abcdefghijklmnopqrstuvwxS,s=c2FsdA==,i=0",
                "invalid iteration count",
            ),
            (
                b"r=abcdefghijklmnopqrstuvwxS,s=c2FsdA==,i=",
                "invalid iteration count",
            ),
            (
                b"r=abcdefghijklmnopqrstuvwxS,s=c2FsdA==,i=-1",
                "invalid iteration count",
            ),
            (
                b"r=abcdefghijklmnopqrstuvwxS,s=c2FsdA==,i=+4096",
                "invalid iteration count",
            ),
            (
                b"r=abcdefghijklmnopqrstuvwxS,s=c2FsdA==,i=4096x",
                "invalid iteration count",
            ),
            (
                b"r=abcdefghijklmnopqrstuvwxS,s=c2FsdA==,i=10000001",
                "exceeds the maximum",
            ),
            (
                b"r=abcdefghijklmnopqrstuvwxS,s=c2FsdA==,i=99999999999999999999999",
                "exceeds the maximum",
            ),
            (
                b"r=abcdefghijklmnopqrstuvwx\x01,s=c2FsdA==,i=4096",
                "invalid nonce",
            ),
            (b"r=,s=c2FsdA==,i=4096", "invalid nonce"),
            (
                b"m=ext,r=abcdefghijklmnopqrstuvwxS,s=c2FsdA==,i=4096",
                "mandatory extension",
            ),
        ];
        for (message, expected) in cases {
            let mut scram = ScramSha256::new("secret", NONCE);
            let err = scram.server_first(message).unwrap_err();
            assert!(
                err.0.contains(expected),
                "{:?}: {err} (expected {expected})",
                String::from_utf8_lossy(message)
            );
        }
    }

    #[test]
    fn extensions_after_iteration_count_are_ignored() {
        let mut plain = ScramSha256::new("secret", NONCE);
        let mut extended = ScramSha256::new("secret", NONCE);
        let plain_final = plain.server_first(SERVER_FIRST.as_bytes()).unwrap();
        let extended_final = extended
            .server_first(format!("{SERVER_FIRST},x=ext").as_bytes())
            .unwrap();
        // Same nonce, salt and count; the proof differs because the AuthMessage does.
        assert_eq!(
            plain_final[..plain_final.len() - 44],
            extended_final[..extended_final.len() - 44]
        );
        assert_ne!(plain_final, extended_final);
    }

    #[test]
    fn call_order_errors() {
        let mut scram = ScramSha256::new("secret", NONCE);
        let err = scram.server_final(b"v=AAAA").unwrap_err();
        assert!(err.0.contains("before"), "{err}");
        scram.server_first(SERVER_FIRST.as_bytes()).unwrap();
        let err = scram.server_first(SERVER_FIRST.as_bytes()).unwrap_err();
        assert!(err.0.contains("twice"), "{err}");

        // A failed server_first aborts the exchange.
        let mut scram = ScramSha256::new("secret", NONCE);
        assert!(scram.server_first(b"garbage").is_err());
        let err = scram.server_first(SERVER_FIRST.as_bytes()).unwrap_err();
        assert!(err.0.contains("already failed"), "{err}");
        assert!(scram.server_final(b"v=AAAA").is_err());
    }

    #[test]
    fn invalid_client_nonce() {
        for nonce in ["", "a,b", "abc def", "é", "a\u{7f}"] {
            let mut scram = ScramSha256::new("secret", nonce);
            let err = scram
                .server_first(format!("r={nonce}xyz,s=c2FsdA==,i=1").as_bytes())
                .unwrap_err();
            assert_eq!(err.to_string(), "invalid SCRAM client nonce", "{nonce:?}");
        }
    }

    /// Expected values computed independently with Python's hashlib and hmac.
    #[test]
    fn saslprep_non_ascii_password() {
        let expected = "c=biws,r=abcdefghijklmnopqrstuvwxSERVERPART,\
                        p=I5i7Magq85C3B6h5kwOtmAsJHeQ/lmyRDsyToXizqjM=";
        // Precomposed, and decomposed with a no-break space and U+2168 ROMAN NUMERAL NINE, which
        // SASLprep maps to a space and NFKC-normalizes to "IX".
        for password in ["pässwörd IX", "pa\u{308}sswo\u{308}rd\u{a0}\u{2168}"] {
            let mut scram = ScramSha256::new(password, NONCE);
            let client_final = scram.server_first(SERVER_FIRST.as_bytes()).unwrap();
            assert_eq!(text(client_final), expected, "{password:?}");
            scram
                .server_final(b"v=/Wx3r0n+LVbApI3FNlZSlvCrxa/uiCHD4y5xpTadOTg=")
                .unwrap();
        }
        // U+00AD SOFT HYPHEN is mapped to nothing.
        assert_eq!(normalize("pass\u{ad}word"), b"password");
    }

    #[test]
    fn prohibited_password_is_used_raw() {
        // A control character is prohibited by SASLprep: the raw bytes are used.
        assert_eq!(normalize("a\u{7}b"), b"a\x07b");
        let mut scram = ScramSha256::new("a\u{7}b", NONCE);
        let client_final = scram.server_first(SERVER_FIRST.as_bytes()).unwrap();
        assert_eq!(
            text(client_final),
            "c=biws,r=abcdefghijklmnopqrstuvwxSERVERPART,\
             p=2Qd7hRRUSY0rG33lHkAy59HqTKguQeG7vM4eAH68FHg="
        );
        scram
            .server_final(b"v=tINPM+mJVy/kTUavnPpVUtslviuepvFs3Fdc66QgJq8=")
            .unwrap();
    }

    #[test]
    fn random_nonces() {
        let a = random_nonce();
        let b = random_nonce();
        assert_eq!(a.len(), 24);
        assert!(valid_nonce(&a), "{a}");
        assert_ne!(a, b);
    }

    #[test]
    fn prefixes_of_messages_never_panic() {
        let server_first = SERVER_FIRST.as_bytes();
        for end in 0..=server_first.len() {
            let mut scram = ScramSha256::new("secret", NONCE);
            let _ = scram.server_first(&server_first[..end]);
        }
        let mut scram = ScramSha256::new("secret", NONCE);
        scram.server_first(server_first).unwrap();
        let server_final = b"v=/Wx3r0n+LVbApI3FNlZSlvCrxa/uiCHD4y5xpTadOTg=,e=x";
        for end in 0..=server_final.len() {
            let _ = scram.server_final(&server_final[..end]);
        }
    }
}
