//! TLS against the real server: the test turns `ssl=on` with certificates it makes (a private
//! CA, a server certificate for `localhost` only, an expired one), then checks sslmode's
//! verification levels and the causes of failures through the Rust API, and what the server
//! saw (pg_stat_ssl).

use std::os::unix::fs::{chown, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair, KeyUsagePurpose};
use wasmpg::{Config, Driver, Policy};
use wasmpg_tests::*;

struct Pki {
    dir: PathBuf,
    ca: PathBuf,
    other_ca: PathBuf,
}

fn make_ca(name: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap()
}

/// Installs a server certificate for `names`, valid in `years`, and reloads the server.
fn install_server_cert(ca: &CertifiedIssuer<'static, KeyPair>, names: &[&str], years: (i32, i32)) {
    let c = cluster();
    let mut params =
        CertificateParams::new(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>()).unwrap();
    params.not_before = rcgen::date_time_ymd(years.0, 1, 1);
    params.not_after = rcgen::date_time_ymd(years.1, 1, 1);
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, ca).unwrap();
    // In the data directory, owned by the server's OS user, the key readable by it alone.
    let owner = std::fs::metadata(&c.data_dir).unwrap();
    let crt = c.data_dir.join("server.crt");
    let keyfile = c.data_dir.join("server.key");
    std::fs::write(&crt, cert.pem()).unwrap();
    std::fs::write(&keyfile, key.serialize_pem()).unwrap();
    std::fs::set_permissions(&keyfile, std::fs::Permissions::from_mode(0o600)).unwrap();
    for f in [&crt, &keyfile] {
        chown(f, Some(owner.uid()), Some(owner.gid())).unwrap();
    }
    c.psql("ALTER SYSTEM SET ssl = on");
    c.psql("SELECT pg_reload_conf()");
    wait_until(
        "the server to reload its certificate",
        std::time::Duration::from_secs(10),
        || (c.psql("SHOW ssl") == "on").then_some(()),
    );
}

fn pki() -> &'static Pki {
    static PKI: OnceLock<Pki> = OnceLock::new();
    PKI.get_or_init(|| {
        let ca = make_ca("wasmpg test CA");
        install_server_cert(&ca, &["localhost"], (2020, 2090));
        let dir = std::env::temp_dir().join(format!("wasmpg-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let ca_path = dir.join("ca.crt");
        std::fs::write(&ca_path, ca.pem()).unwrap();
        let other = dir.join("other-ca.crt");
        std::fs::write(&other, make_ca("another CA").pem()).unwrap();
        Pki {
            dir,
            ca: ca_path,
            other_ca: other,
        }
    })
}

fn tls_driver(files: &[&Path]) -> Driver {
    let c = cluster();
    let mut policy = Policy::parse_allow(&[
        format!("127.0.0.1:{}", c.port),
        format!("localhost:{}", c.port),
    ])
    .unwrap();
    for f in files {
        policy = policy.allow_file(*f);
    }
    Driver::with_config(Config {
        policy: Some(policy),
        ..Config::default()
    })
    .unwrap()
}

fn conninfo(host: &str, extra: &str) -> String {
    format!(
        "host={host} port={} user=postgres dbname=wasmpg_test {extra}",
        cluster().port
    )
}

/// Whether the server sees this session encrypted (pg_stat_ssl).
fn encrypted(client: &mut wasmpg::Client) -> bool {
    client
        .query_one(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .unwrap()
        .get(0)
}

#[test]
fn verify_full_succeeds_and_the_server_sees_tls() {
    let p = pki();
    let driver = tls_driver(&[&p.ca]);
    let mut client = driver
        .connect(&conninfo(
            "localhost",
            &format!("sslmode=verify-full sslrootcert={}", p.ca.display()),
        ))
        .unwrap_or_else(|e| panic!("verify-full: {e}"));
    let row = client
        .query_one(
            "SELECT ssl, version, cipher FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .unwrap();
    let ssl: bool = row.get(0);
    let version: String = row.get(1);
    let cipher: String = row.get(2);
    assert!(ssl);
    assert_eq!(version, "TLSv1.3");
    assert_eq!(cipher, "TLS_CHACHA20_POLY1305_SHA256");
    // A bigger result through TLS, several records.
    let n: i64 = client
        .query_one(
            "SELECT count(*) FROM (SELECT repeat('x', 1000) FROM generate_series(1, 5000)) s",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(n, 5000);
    let rows = client
        .query(
            "SELECT repeat('y', 10000) FROM generate_series(1, 100)",
            &[],
        )
        .unwrap();
    assert_eq!(rows.len(), 100);
}

#[test]
fn a_name_not_in_the_certificate_fails_with_both_names() {
    let p = pki();
    let driver = tls_driver(&[&p.ca]);
    let err = expect_err(
        driver.connect(&conninfo(
            "127.0.0.1",
            &format!("sslmode=verify-full sslrootcert={}", p.ca.display()),
        )),
        "127.0.0.1 against a certificate for localhost",
    );
    let message = err.to_string();
    assert!(
        message.contains("\"127.0.0.1\"") && message.contains("localhost"),
        "{message}"
    );
    // verify-ca does not check the name.
    driver
        .connect(&conninfo(
            "127.0.0.1",
            &format!("sslmode=verify-ca sslrootcert={}", p.ca.display()),
        ))
        .unwrap_or_else(|e| panic!("verify-ca: {e}"));
}

#[test]
fn a_wrong_ca_is_an_unknown_issuer() {
    let p = pki();
    let driver = tls_driver(&[&p.other_ca]);
    let err = expect_err(
        driver.connect(&conninfo(
            "localhost",
            &format!("sslmode=verify-full sslrootcert={}", p.other_ca.display()),
        )),
        "a CA that did not issue the server's certificate",
    );
    assert!(err.to_string().contains("unknown issuer"), "{err}");
}

#[test]
fn require_encrypts_without_verifying_and_disable_does_not_encrypt() {
    let _ = pki();
    let driver = tls_driver(&[]);
    // prefer (the default) uses TLS when the server offers it.
    for (mode, expected) in [("require", true), ("disable", false), ("prefer", true)] {
        let mut c = driver
            .connect(&conninfo("127.0.0.1", &format!("sslmode={mode}")))
            .unwrap_or_else(|e| panic!("{mode}: {e}"));
        assert_eq!(encrypted(&mut c), expected, "{mode}");
    }
}

#[test]
fn a_root_file_outside_the_policy_is_denied() {
    let p = pki();
    let driver = tls_driver(&[]);
    let err = expect_err(
        driver.connect(&conninfo(
            "localhost",
            &format!("sslmode=verify-full sslrootcert={}", p.ca.display()),
        )),
        "a root file the policy does not grant",
    );
    assert_eq!(err.kind(), wasmpg::ErrorKind::PolicyDenied, "{err}");
    let _ = &p.dir;
}
