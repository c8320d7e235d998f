//! The TLS layer against a real rustls server in the same process (certificates made per run
//! with rcgen): verification by sslmode, the causes errors name, versions, client
//! certificates, ALPN, and application data both ways.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig, ServerConnection};

use super::*;

struct Ca {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        Ca {
            issuer: CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap(),
        }
    }

    fn der(&self) -> CertificateDer<'static> {
        self.issuer.der().clone()
    }

    /// A leaf for `names`, valid from `from` to `to` (years).
    fn leaf(
        &self,
        names: &[&str],
        years: (i32, i32),
    ) -> (CertificateDer<'static>, PrivateKeyDer<'static>) {
        let mut params =
            CertificateParams::new(names.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>())
                .unwrap();
        params.not_before = rcgen::date_time_ymd(years.0, 1, 1);
        params.not_after = rcgen::date_time_ymd(years.1, 1, 1);
        let key = KeyPair::generate().unwrap();
        let issuer: &Issuer<'_, KeyPair> = &self.issuer;
        let cert = params.signed_by(&key, issuer).unwrap();
        (
            cert.der().clone(),
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )
    }
}

fn now() -> UnixTime {
    UnixTime::since_unix_epoch(SystemTime::now().duration_since(UNIX_EPOCH).unwrap())
}

fn options(verify: Verify, roots: Vec<CertificateDer<'static>>) -> TlsOptions {
    TlsOptions {
        verify,
        roots,
        crls: Vec::new(),
        client_auth: None,
        sni: true,
        min_version: None,
        max_version: None,
        alpn_postgresql: false,
        now: now(),
    }
}

fn server(
    leaf: (CertificateDer<'static>, PrivateKeyDer<'static>),
    client_ca: Option<CertificateDer<'static>>,
    versions: &[&'static rustls::SupportedProtocolVersion],
    alpn: bool,
) -> ServerConnection {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(versions)
        .unwrap();
    let builder = match client_ca {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let mut roots = RootCertStore::empty();
            roots.add(ca).unwrap();
            builder.with_client_cert_verifier(
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                    .build()
                    .unwrap(),
            )
        }
    };
    let mut config = builder.with_single_cert(vec![leaf.0], leaf.1).unwrap();
    if alpn {
        config.alpn_protocols = vec![b"postgresql".to_vec()];
    }
    ServerConnection::new(Arc::new(config)).unwrap()
}

/// A TLS 1.3 server presenting `leaf`, asking no client certificate, without ALPN.
fn tls13_server(leaf: (CertificateDer<'static>, PrivateKeyDer<'static>)) -> ServerConnection {
    server(leaf, None, &[&rustls::version::TLS13], false)
}

/// A TLS 1.3 server with a certificate for `localhost` from `ca`, valid 2020-2090.
fn localhost_server(ca: &Ca) -> ServerConnection {
    tls13_server(ca.leaf(&["localhost"], (2020, 2090)))
}

/// Runs the handshake and one exchange of application data; the first error either side hit.
fn exchange(client: &mut Tls, server: &mut ServerConnection) -> Result<(), String> {
    let mut plain = Vec::new();
    client.feed(&[], &mut plain).map_err(|e| e.to_string())?;
    client.write(b"ping").map_err(|e| e.to_string())?;
    let mut server_got = Vec::new();
    for _ in 0..20 {
        let out = client.take_outgoing();
        if !out.is_empty() {
            server.read_tls(&mut &out[..]).unwrap();
            if let Err(e) = server.process_new_packets() {
                // Let the client see the server's alert.
                let mut alert = Vec::new();
                let _ = server.write_tls(&mut alert);
                return client
                    .feed(&alert, &mut plain)
                    .map_err(|c| c.to_string())
                    .and(Err(format!("server: {e}")));
            }
            let mut buf = [0u8; 64];
            if let Ok(n) = std::io::Read::read(&mut server.reader(), &mut buf) {
                server_got.extend_from_slice(&buf[..n]);
                if server_got == b"ping" {
                    std::io::Write::write_all(&mut server.writer(), b"pong").unwrap();
                }
            }
        }
        let mut back = Vec::new();
        while server.wants_write() {
            server.write_tls(&mut back).unwrap();
        }
        client.feed(&back, &mut plain).map_err(|e| e.to_string())?;
        if plain == b"pong" {
            return Ok(());
        }
    }
    Err("no exchange after 20 rounds".to_owned())
}

fn connect(opts: &TlsOptions, host: &str, server: &mut ServerConnection) -> Result<Tls, String> {
    let config = client_config(opts).map_err(|e| e.to_string())?;
    let mut tls = Tls::new(config, host).map_err(|e| e.to_string())?;
    exchange(&mut tls, server)?;
    Ok(tls)
}

/// `connect` with the default options but `verify` and one root.
fn connect_with(
    verify: Verify,
    root: &CertificateDer<'static>,
    host: &str,
    srv: &mut ServerConnection,
) -> Result<Tls, String> {
    connect(&options(verify, vec![root.clone()]), host, srv)
}

#[test]
fn verify_full_succeeds_and_prefers_chacha20() {
    let ca = Ca::new("test CA");
    let mut srv = localhost_server(&ca);
    let tls = connect_with(Verify::Full, &ca.der(), "localhost", &mut srv).unwrap();
    assert!(tls.is_established());
    let (version, suite) = tls.negotiated().unwrap();
    assert_eq!(version, "TLSv1_3");
    assert_eq!(suite, "TLS13_CHACHA20_POLY1305_SHA256");
    assert!(tls.server_certificate().is_some());
}

#[test]
fn tls12_works_too() {
    let ca = Ca::new("test CA");
    let mut srv = server(
        ca.leaf(&["localhost"], (2020, 2090)),
        None,
        &[&rustls::version::TLS12],
        false,
    );
    let tls = connect_with(Verify::Full, &ca.der(), "localhost", &mut srv).unwrap();
    assert_eq!(tls.negotiated().unwrap().0, "TLSv1_2");
}

#[test]
fn a_wrong_ca_is_an_unknown_issuer() {
    let ca = Ca::new("test CA");
    let other = Ca::new("other CA");
    let mut srv = localhost_server(&ca);
    let err = connect_with(Verify::Full, &other.der(), "localhost", &mut srv).unwrap_err();
    assert!(err.contains("unknown issuer"), "{err}");
    // verify-ca checks the chain too.
    let mut srv = localhost_server(&ca);
    let err = connect_with(Verify::Ca, &other.der(), "localhost", &mut srv).unwrap_err();
    assert!(err.contains("unknown issuer"), "{err}");
}

#[test]
fn a_name_mismatch_names_both_sides_and_verify_ca_accepts_it() {
    let ca = Ca::new("test CA");
    let mut srv = localhost_server(&ca);
    let err = connect_with(Verify::Full, &ca.der(), "127.0.0.1", &mut srv).unwrap_err();
    assert!(
        err.contains("server certificate for \"localhost\" does not match host name \"127.0.0.1\""),
        "{err}"
    );
    let mut srv = localhost_server(&ca);
    connect_with(Verify::Ca, &ca.der(), "127.0.0.1", &mut srv).unwrap();
}

#[test]
fn an_expired_certificate_says_when() {
    let ca = Ca::new("test CA");
    let mut srv = tls13_server(ca.leaf(&["localhost"], (2000, 2001)));
    let err = connect_with(Verify::Full, &ca.der(), "localhost", &mut srv).unwrap_err();
    assert!(err.contains("expired at 2001-01-01 00:00:00 UTC"), "{err}");
}

#[test]
fn the_validation_time_is_the_one_passed_in() {
    let ca = Ca::new("test CA");
    let mut srv = tls13_server(ca.leaf(&["localhost"], (2000, 2001)));
    let mut opts = options(Verify::Full, vec![ca.der()]);
    opts.now = UnixTime::since_unix_epoch(Duration::from_secs(978_000_000)); // 2000-12-28
    connect(&opts, "localhost", &mut srv).unwrap();
}

#[test]
fn require_without_roots_skips_the_chain_but_not_the_key() {
    let ca = Ca::new("test CA");
    let mut srv = tls13_server(ca.leaf(&["elsewhere"], (2000, 2001)));
    connect(&options(Verify::None, Vec::new()), "localhost", &mut srv).unwrap();
    let err = client_config(&options(Verify::Full, Vec::new())).unwrap_err();
    assert!(err.to_string().contains("sslrootcert"), "{err}");
}

#[test]
fn protocol_versions() {
    let ca = Ca::new("test CA");
    let mut only12 = server(
        ca.leaf(&["localhost"], (2020, 2090)),
        None,
        &[&rustls::version::TLS12],
        false,
    );
    let mut opts = options(Verify::Full, vec![ca.der()]);
    opts.min_version = Some(Version::Tls13);
    let err = connect(&opts, "localhost", &mut only12).unwrap_err();
    assert!(err.contains("refused") || err.contains("version"), "{err}");
    opts.min_version = Some(Version::Tls10);
    opts.max_version = Some(Version::Tls11);
    let err = client_config(&opts).unwrap_err();
    assert!(err.to_string().contains("before 1.2"), "{err}");
    opts.min_version = Some(Version::Tls13);
    opts.max_version = Some(Version::Tls12);
    assert!(client_config(&opts).is_err());
    assert_eq!(Version::parse("TLSv1.2"), Some(Version::Tls12));
    assert_eq!(Version::parse("tlsv1.2"), None);
}

#[test]
fn client_certificates() {
    let ca = Ca::new("test CA");
    let client_ca = Ca::new("client CA");
    let mut srv = server(
        ca.leaf(&["localhost"], (2020, 2090)),
        Some(client_ca.der()),
        &[&rustls::version::TLS13],
        false,
    );
    let (cert, key) = client_ca.leaf(&["alice"], (2020, 2090));
    let mut opts = options(Verify::Full, vec![ca.der()]);
    opts.client_auth = Some((vec![cert], key));
    connect(&opts, "localhost", &mut srv).unwrap();
    let mut srv = server(
        ca.leaf(&["localhost"], (2020, 2090)),
        Some(client_ca.der()),
        &[&rustls::version::TLS13],
        false,
    );
    let err = connect_with(Verify::Full, &ca.der(), "localhost", &mut srv).unwrap_err();
    assert!(!err.is_empty());
}

#[test]
fn alpn_postgresql() {
    let ca = Ca::new("test CA");
    let mut srv = server(
        ca.leaf(&["localhost"], (2020, 2090)),
        None,
        &[&rustls::version::TLS13],
        true,
    );
    let mut opts = options(Verify::Full, vec![ca.der()]);
    opts.alpn_postgresql = true;
    connect(&opts, "localhost", &mut srv).unwrap();
    assert_eq!(srv.alpn_protocol(), Some(&b"postgresql"[..]));
}

#[test]
fn garbage_from_the_server_is_an_error_not_a_panic() {
    let ca = Ca::new("test CA");
    let config = client_config(&options(Verify::Full, vec![ca.der()])).unwrap();
    let mut tls = Tls::new(config, "localhost").unwrap();
    let mut plain = Vec::new();
    tls.feed(&[], &mut plain).unwrap();
    assert!(!tls.take_outgoing().is_empty(), "the ClientHello");
    let err = tls
        .feed(b"HTTP/1.1 400 Bad Request\r\n\r\n", &mut plain)
        .unwrap_err();
    assert!(matches!(err, TlsError::Protocol(_)), "{err}");
}

#[test]
fn utc_formats_dates() {
    assert_eq!(
        utc(UnixTime::since_unix_epoch(Duration::from_secs(0))),
        "1970-01-01 00:00:00 UTC"
    );
    assert_eq!(
        utc(UnixTime::since_unix_epoch(Duration::from_secs(
            951_782_400 + 3_723
        ))),
        "2000-02-29 01:02:03 UTC"
    );
}

#[test]
fn private_keys_in_every_form() {
    use pkcs8::der::pem::LineEnding;
    let key = KeyPair::generate().unwrap();
    let der = key.serialize_der();
    let expected = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(der.clone()));
    // PEM and DER PKCS#8.
    assert_eq!(
        private_key(key.serialize_pem().as_bytes(), None),
        Ok(expected.clone_key())
    );
    assert_eq!(private_key(&der, None), Ok(expected.clone_key()));
    // Encrypted PKCS#8 (PBES2), PEM and DER: the right password, none, a wrong one.
    let info = pkcs8::PrivateKeyInfo::try_from(der.as_slice()).unwrap();
    // PBKDF2-SHA256 and AES-256-CBC, as `openssl pkcs8 -topk8 -v2 aes-256-cbc` writes.
    let params =
        pkcs8::pkcs5::pbes2::Parameters::pbkdf2_sha256_aes256cbc(2048, &[7; 16], &[9; 16]).unwrap();
    let encrypted = info.encrypt_with_params(params, "s3cret").unwrap();
    let pem = encrypted
        .to_pem("ENCRYPTED PRIVATE KEY", LineEnding::LF)
        .unwrap();
    assert_eq!(
        private_key(pem.as_bytes(), Some("s3cret")),
        Ok(expected.clone_key())
    );
    assert_eq!(
        private_key(encrypted.as_bytes(), Some("s3cret")),
        Ok(expected.clone_key())
    );
    let err = private_key(pem.as_bytes(), None).unwrap_err();
    assert!(err.contains("sslpassword"), "{err}");
    let err = private_key(pem.as_bytes(), Some("wrong")).unwrap_err();
    assert!(err.contains("sslpassword"), "{err}");
    // OpenSSL's traditional encryption is named, not misread.
    let legacy = "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: \
                  AES-128-CBC,00\n\nAAAA\n-----END RSA PRIVATE KEY-----\n";
    let err = private_key(legacy.as_bytes(), Some("x")).unwrap_err();
    assert!(err.contains("pkcs8 -topk8"), "{err}");
    // Not a key at all.
    assert!(private_key(
        b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        None
    )
    .is_err());
    assert!(private_key(b"not a key", None).is_err());
}

#[test]
fn a_revoked_server_certificate_is_refused() {
    use rcgen::{CertificateRevocationListParams, RevokedCertParams, SerialNumber};
    let ca = Ca::new("test CA");
    let mut params = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    params.serial_number = Some(SerialNumber::from(4242u64));
    let key = KeyPair::generate().unwrap();
    let issuer: &Issuer<'_, KeyPair> = &ca.issuer;
    let cert = params.signed_by(&key, issuer).unwrap();
    let leaf = (
        cert.der().clone(),
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
    );
    let crl = CertificateRevocationListParams {
        this_update: rcgen::date_time_ymd(2020, 1, 1),
        next_update: rcgen::date_time_ymd(2090, 1, 1),
        crl_number: SerialNumber::from(1u64),
        issuing_distribution_point: None,
        revoked_certs: vec![RevokedCertParams {
            serial_number: SerialNumber::from(4242u64),
            revocation_time: rcgen::date_time_ymd(2021, 1, 1),
            reason_code: None,
            invalidity_date: None,
        }],
        key_identifier_method: rcgen::KeyIdMethod::Sha256,
    }
    .signed_by(issuer)
    .unwrap();
    let mut opts = options(Verify::Full, vec![ca.der()]);
    opts.crls = vec![crl.der().clone()];
    let mut srv = tls13_server(leaf);
    let err = connect(&opts, "localhost", &mut srv).unwrap_err();
    assert!(err.contains("revoked"), "{err}");
}

#[test]
fn channel_binding_hashes_the_server_certificate() {
    use sha2::{Digest, Sha256};
    let ca = Ca::new("test CA");
    let mut srv = localhost_server(&ca);
    let tls = connect(
        &options(Verify::Full, vec![ca.der()]),
        "localhost",
        &mut srv,
    )
    .unwrap();
    let cert = tls.server_certificate().unwrap();
    // rcgen signs with ECDSA P-256 and SHA-256: the binding data is the certificate's SHA-256.
    assert_eq!(
        crate::scram::server_end_point(cert),
        Some(Sha256::digest(cert).to_vec())
    );
    // Not a certificate: no binding data (never a panic).
    assert_eq!(crate::scram::server_end_point(b"\x30\x80"), None);
    assert_eq!(
        crate::scram::server_end_point(&cert[..cert.len() / 2]),
        None
    );
}
