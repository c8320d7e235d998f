//! TLS in the session: the SSLRequest negotiation by sslmode, the root-certificate file, and a
//! whole startup and query through a real rustls server in the same process (certificates made
//! per run with rcgen).

use std::io::{Read, Write};
use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair, KeyUsagePurpose};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::{ServerConfig, ServerConnection};
use wasmpg_guest::error::ErrorKind;
use wasmpg_guest::session::{Action, FileAnswer, Options, Session, Step};

mod common;
use common::*;

const NOW: u64 = 1_790_000_000; // 2026-09

struct Pki {
    ca_pem: String,
    leaf: (CertificateDer<'static>, PrivateKeyDer<'static>),
}

fn pki(names: &[&str]) -> Pki {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign];
    let ca = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
    let leaf_params =
        CertificateParams::new(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>()).unwrap();
    let key = KeyPair::generate().unwrap();
    let cert = leaf_params.signed_by(&key, &ca).unwrap();
    Pki {
        ca_pem: ca.pem(),
        leaf: (
            cert.der().clone(),
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        ),
    }
}

fn server(pki: &Pki) -> ServerConnection {
    let config =
        ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![pki.leaf.0.clone()], pki.leaf.1.clone_key())
            .unwrap();
    ServerConnection::new(Arc::new(config)).unwrap()
}

fn start(conninfo: &str) -> (Session, Step) {
    let mut s = Session::new(Options::default());
    let step = s.connect(conninfo, &[]).unwrap();
    (s, step)
}

#[test]
fn require_refuses_a_server_without_tls() {
    let (mut s, _) = start("host=h user=u sslmode=require");
    let step = s.opened(None, Some(NOW));
    assert_eq!(step.send, SSL_REQUEST);
    let step = s.feed(b"N");
    assert_eq!(step.action, Action::Close);
    let errors = errors(&step);
    assert!(
        errors[0]
            .1
            .contains("does not support SSL, but SSL was required"),
        "{errors:?}"
    );
}

#[test]
fn prefer_goes_on_in_clear_after_n() {
    let (mut s, _) = start("host=h user=u");
    let step = s.opened(None, Some(NOW));
    assert_eq!(step.send, SSL_REQUEST);
    let step = s.feed(b"N");
    assert_eq!(step.action, Action::Read);
    assert_eq!(
        &step.send[4..8],
        &196608u32.to_be_bytes(),
        "the StartupMessage in clear"
    );
}

#[test]
fn disable_and_unix_sockets_send_no_ssl_request() {
    let (mut s, _) = start("host=h user=u sslmode=disable");
    let step = s.opened(None, Some(NOW));
    assert_eq!(&step.send[4..8], &196608u32.to_be_bytes());
    let (mut s, _) = start("host=/run/pg user=u sslmode=prefer");
    let step = s.opened(None, Some(NOW));
    assert_eq!(&step.send[4..8], &196608u32.to_be_bytes());
}

#[test]
fn bytes_after_s_or_another_answer_are_refused() {
    let (mut s, _) = start("host=h user=u sslmode=require");
    s.opened(None, Some(NOW));
    let step = s.feed(b"SE");
    assert_eq!(step.action, Action::Close);
    assert!(
        errors(&step)[0].1.contains("unencrypted data after"),
        "{:?}",
        errors(&step)
    );
    let (mut s, _) = start("host=h user=u sslmode=require");
    s.opened(None, Some(NOW));
    let step = s.feed(b"E");
    assert_eq!(errors(&step)[0].0, ErrorKind::Protocol);
}

#[test]
fn verify_full_reads_the_root_file_first_and_needs_it() {
    let (mut s, step) = start("host=h user=u sslmode=verify-full sslrootcert=/etc/pg/ca.pem");
    assert_eq!(
        step.action,
        Action::NeedFile {
            purpose: "sslrootcert".into(),
            path: "/etc/pg/ca.pem".into()
        }
    );
    let step = s.file(FileAnswer::Missing);
    assert_eq!(step.action, Action::Close);
    assert_eq!(errors(&step)[0].0, ErrorKind::Config);
    assert!(errors(&step)[0].1.contains("does not exist"));
    // require with a missing root file stays require: it opens.
    let (mut s, _) = start("host=h user=u sslmode=require sslrootcert=/etc/pg/ca.pem");
    let step = s.file(FileAnswer::Missing);
    assert!(matches!(step.action, Action::Open(_)));
    // A denied file is a policy error.
    let (mut s, _) = start("host=h user=u sslmode=verify-ca sslrootcert=/etc/pg/ca.pem");
    let step = s.file(FileAnswer::Denied("not allowed"));
    assert_eq!(errors(&step)[0].0, ErrorKind::PolicyDenied);
}

/// Shuttles bytes between the session and the TLS server until the server has decrypted a
/// whole StartupMessage; returns it.
fn handshake(s: &mut Session, srv: &mut ServerConnection, first: Step) -> Result<Vec<u8>, String> {
    let mut to_server = first.send;
    let mut startup = Vec::new();
    for _ in 0..20 {
        if !to_server.is_empty() {
            srv.read_tls(&mut &to_server[..]).unwrap();
            srv.process_new_packets()
                .map_err(|e| format!("server: {e}"))?;
            let mut buf = [0u8; 4096];
            if let Ok(n) = srv.reader().read(&mut buf) {
                startup.extend_from_slice(&buf[..n]);
            }
            if startup.len() >= 8 {
                return Ok(startup);
            }
        }
        let mut back = Vec::new();
        while srv.wants_write() {
            srv.write_tls(&mut back).unwrap();
        }
        let step = s.feed(&back);
        if let Some((_, e)) = errors(&step).first() {
            return Err(e.clone());
        }
        to_server = step.send;
    }
    Err("no StartupMessage after 20 rounds".into())
}

fn tls_connect(conninfo: &str, host_names: &[&str]) -> Result<(Session, ServerConnection), String> {
    let pki = pki(host_names);
    let (mut s, step) = start(conninfo);
    if let Action::NeedFile { .. } = step.action {
        s.file(FileAnswer::Text(&pki.ca_pem));
    }
    let step = s.opened(None, Some(NOW));
    assert_eq!(step.send, SSL_REQUEST);
    let first = s.feed(b"S");
    let mut srv = server(&pki);
    let startup = handshake(&mut s, &mut srv, first)?;
    assert_eq!(&startup[4..8], &196608u32.to_be_bytes());
    Ok((s, srv))
}

#[test]
fn a_whole_startup_and_query_over_tls() {
    let (mut s, mut srv) = tls_connect(
        "host=localhost user=u sslmode=verify-full sslrootcert=/ca.pem",
        &["localhost"],
    )
    .unwrap();
    // The server: AuthenticationOk, ReadyForQuery, encrypted.
    let mut plain = auth(0, &[]);
    plain.extend(ready(b'I'));
    srv.writer().write_all(&plain).unwrap();
    let mut back = Vec::new();
    while srv.wants_write() {
        srv.write_tls(&mut back).unwrap();
    }
    let step = s.feed(&back);
    assert_eq!(step.action, Action::Done, "{:?}", errors(&step));
    // A query goes out encrypted: the server decrypts a Query message.
    let step = s.simple_query("SELECT 1");
    assert!(
        !step.send.is_empty() && step.send[0] == 0x17,
        "an application-data record"
    );
    srv.read_tls(&mut &step.send[..]).unwrap();
    srv.process_new_packets().unwrap();
    let mut buf = [0u8; 64];
    let n = srv.reader().read(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"Q\0\0\0\rSELECT 1\0");
}

#[test]
fn verification_failures_name_their_cause() {
    let err = tls_connect(
        "host=127.0.0.1 user=u sslmode=verify-full sslrootcert=/ca.pem",
        &["localhost"],
    )
    .map(|_| ())
    .unwrap_err();
    assert!(
        err.contains("\"127.0.0.1\"") && err.contains("localhost"),
        "{err}"
    );
    // verify-ca accepts the name.
    tls_connect(
        "host=127.0.0.1 user=u sslmode=verify-ca sslrootcert=/ca.pem",
        &["localhost"],
    )
    .unwrap();
    // require without a root file verifies nothing but the key.
    tls_connect("host=127.0.0.1 user=u sslmode=require", &["elsewhere"]).unwrap();
}
