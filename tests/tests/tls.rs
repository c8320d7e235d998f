//! TLS against the real server: the test turns `ssl=on` with certificates it makes (a private
//! CA, a server certificate for `localhost` only, a client certificate for `cert_user`, whom
//! pg_hba lets in by certificate over TLS only), then checks sslmode's verification levels, the
//! causes of failures, client certificates and their keys (PEM, DER, encrypted), revocation
//! lists, channel binding, require_auth, prefer's and allow's second attempt, the default files
//! under `~/.postgresql/` and `sslrootcert=system` (through the CLI, with its own HOME and
//! SSL_CERT_FILE), and TCP keepalives, through the Rust API and what the server saw
//! (pg_stat_ssl, pg_stat_activity, the kernel's socket table).

use std::os::unix::fs::{chown, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair, KeyUsagePurpose,
    SerialNumber,
};
use wasmpg::{Config, Driver, Policy};
use wasmpg_tests::*;

struct Pki {
    /// The CA that issued the server's certificate.
    issuer: CertifiedIssuer<'static, KeyPair>,
    dir: PathBuf,
    ca: PathBuf,
    other_ca: PathBuf,
    /// A CRL from the CA revoking the server's certificate.
    crl: PathBuf,
    /// The client certificate for cert_user and its key: PEM, DER, encrypted PEM.
    client_cert: PathBuf,
    client_key: PathBuf,
    client_cert_der: PathBuf,
    client_key_der: PathBuf,
    client_key_encrypted: PathBuf,
}

/// The server certificate's serial number (the CRL revokes it).
const SERVER_SERIAL: u64 = 0x5e4e;
const KEY_PASSWORD: &str = "correct horse";

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
    params.serial_number = Some(SerialNumber::from(SERVER_SERIAL));
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
    // The same CA checks client certificates; cert_user gets in by certificate over TLS only.
    let client_ca = c.data_dir.join("client-ca.crt");
    std::fs::write(&client_ca, ca.pem()).unwrap();
    chown(&client_ca, Some(owner.uid()), Some(owner.gid())).unwrap();
    let hba_path = c.data_dir.join("pg_hba.conf");
    let hba = std::fs::read_to_string(&hba_path).unwrap();
    if !hba.contains("cert_user") {
        let lines = "hostssl all cert_user 127.0.0.1/32 cert\n\
                     hostnossl all cert_user 127.0.0.1/32 reject\n";
        std::fs::write(&hba_path, format!("{lines}{hba}")).unwrap();
    }
    c.psql(&format!(
        "ALTER SYSTEM SET ssl_ca_file = '{}'",
        client_ca.display()
    ));
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
        let crl = dir.join("root.crl");
        std::fs::write(&crl, revoke_server(&ca)).unwrap();
        // The client certificate: its common name is the role (pg_hba `cert`).
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "cert_user");
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &ca).unwrap();
        let write = |name: &str, contents: &[u8], mode: u32| {
            let path = dir.join(name);
            std::fs::write(&path, contents).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
            path
        };
        Pki {
            client_cert: write("client.crt", cert.pem().as_bytes(), 0o644),
            client_key: write("client.key", key.serialize_pem().as_bytes(), 0o600),
            client_cert_der: write("client.der", cert.der(), 0o644),
            client_key_der: write("client-key.der", &key.serialize_der(), 0o600),
            client_key_encrypted: write("client-enc.key", &encrypt(&key.serialize_der()), 0o600),
            crl,
            dir,
            ca: ca_path,
            other_ca: other,
            issuer: ca,
        }
    })
}

/// A CRL from `ca` that revokes the server's certificate (PEM).
fn revoke_server(ca: &CertifiedIssuer<'static, KeyPair>) -> String {
    rcgen::CertificateRevocationListParams {
        this_update: rcgen::date_time_ymd(2020, 1, 1),
        next_update: rcgen::date_time_ymd(2090, 1, 1),
        crl_number: SerialNumber::from(1u64),
        issuing_distribution_point: None,
        revoked_certs: vec![rcgen::RevokedCertParams {
            serial_number: SerialNumber::from(SERVER_SERIAL),
            revocation_time: rcgen::date_time_ymd(2021, 1, 1),
            reason_code: None,
            invalidity_date: None,
        }],
        key_identifier_method: rcgen::KeyIdMethod::Sha256,
    }
    .signed_by(ca)
    .unwrap()
    .pem()
    .unwrap()
}

/// A PKCS#8 key encrypted with [`KEY_PASSWORD`] as OpenSSL's `pkcs8 -topk8 -v2 aes-256-cbc`
/// does (PBKDF2-SHA256, AES-256-CBC), PEM.
fn encrypt(der: &[u8]) -> Vec<u8> {
    let info = pkcs8::PrivateKeyInfo::try_from(der).unwrap();
    let params =
        pkcs8::pkcs5::pbes2::Parameters::pbkdf2_sha256_aes256cbc(2048, &[3; 16], &[5; 16]).unwrap();
    info.encrypt_with_params(params, KEY_PASSWORD)
        .unwrap()
        .to_pem("ENCRYPTED PRIVATE KEY", pkcs8::der::pem::LineEnding::LF)
        .unwrap()
        .as_bytes()
        .to_vec()
}

/// A driver that may open `targets` and read `files`.
fn driver_for(targets: &[String], files: &[&Path]) -> Driver {
    let mut policy = Policy::parse_allow(targets).unwrap();
    for f in files {
        policy = policy.allow_file(*f);
    }
    Driver::with_config(Config {
        policy: Some(policy),
        ..Config::default()
    })
    .unwrap()
}

/// A driver for the cluster (by address and by the name its certificate holds).
fn tls_driver(files: &[&Path]) -> Driver {
    let port = cluster().port;
    driver_for(
        &[format!("127.0.0.1:{port}"), format!("localhost:{port}")],
        files,
    )
}

fn conninfo(host: &str, extra: &str) -> String {
    format!(
        "host={host} port={} user=postgres dbname=wasmpg_test {extra}",
        cluster().port
    )
}

/// `conninfo` with sslmode=verify-full against `ca`.
fn verify_full(host: &str, ca: &Path) -> String {
    conninfo(
        host,
        &format!("sslmode=verify-full sslrootcert={}", ca.display()),
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
        .connect(&verify_full("localhost", &p.ca))
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
        driver.connect(&verify_full("127.0.0.1", &p.ca)),
        "127.0.0.1 against a certificate for localhost",
    );
    let message = err.to_string();
    assert!(
        message.contains(
            "server certificate for \"localhost\" does not match host name \"127.0.0.1\""
        ),
        "{message}"
    );
    assert_eq!(err.kind(), wasmpg::ErrorKind::Tls, "{err}");
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
        driver.connect(&verify_full("localhost", &p.other_ca)),
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
        driver.connect(&verify_full("localhost", &p.ca)),
        "a root file the policy does not grant",
    );
    assert_eq!(err.kind(), wasmpg::ErrorKind::PolicyDenied, "{err}");
    let _ = &p.dir;
}

/// `conninfo` for cert_user with the client certificate and key given.
fn as_cert_user(cert: &Path, key: &Path, extra: &str) -> String {
    let p = pki();
    conninfo(
        "localhost",
        &format!(
            "sslmode=verify-full sslrootcert={} sslcert={} sslkey={} {extra}",
            p.ca.display(),
            cert.display(),
            key.display()
        ),
    )
    .replace("user=postgres", "user=cert_user")
}

fn current_user(client: &mut wasmpg::Client) -> String {
    client
        .query_one("SELECT current_user::text", &[])
        .unwrap()
        .get(0)
}

#[test]
fn a_client_certificate_authenticates_in_pem_der_and_encrypted_forms() {
    let p = pki();
    for (cert, key, extra) in [
        (&p.client_cert, &p.client_key, String::new()),
        (&p.client_cert_der, &p.client_key_der, String::new()),
        (
            &p.client_cert,
            &p.client_key_encrypted,
            format!("sslpassword='{KEY_PASSWORD}'"),
        ),
    ] {
        let driver = tls_driver(&[&p.ca, cert, key]);
        let mut client = driver
            .connect(&as_cert_user(cert, key, &extra))
            .unwrap_or_else(|e| panic!("{} + {}: {e}", cert.display(), key.display()));
        assert_eq!(current_user(&mut client), "cert_user");
        assert!(encrypted(&mut client));
    }
}

#[test]
fn without_its_certificate_the_server_refuses_cert_user() {
    let p = pki();
    let driver = tls_driver(&[&p.ca]);
    let err = expect_err(
        driver.connect(
            &conninfo(
                "localhost",
                &format!("sslmode=verify-full sslrootcert={}", p.ca.display()),
            )
            .replace("user=postgres", "user=cert_user"),
        ),
        "cert_user without a certificate",
    );
    assert_eq!(err.code(), Some("28000"), "{err}");
}

#[test]
fn key_problems_are_named_before_anything_is_sent() {
    let p = pki();
    let driver = tls_driver(&[
        &p.ca,
        &p.client_cert,
        &p.client_key_encrypted,
        &p.client_key,
    ]);
    // No password, or a wrong one, for the encrypted key.
    for extra in ["", "sslpassword=wrong"] {
        let err = expect_err(
            driver.connect(&as_cert_user(
                &p.client_cert,
                &p.client_key_encrypted,
                extra,
            )),
            "an encrypted key without its password",
        );
        assert_eq!(err.kind(), wasmpg::ErrorKind::Config, "{err}");
        assert!(err.to_string().contains("sslpassword"), "{err}");
    }
    // A key that group or others may read is refused, as libpq does.
    let open_key = p.dir.join("open.key");
    std::fs::copy(&p.client_key, &open_key).unwrap();
    std::fs::set_permissions(&open_key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let driver = tls_driver(&[&p.ca, &p.client_cert, &open_key]);
    let err = expect_err(
        driver.connect(&as_cert_user(&p.client_cert, &open_key, "")),
        "a world-readable key",
    );
    assert!(err.to_string().contains("group or world access"), "{err}");
    // A certificate without its key.
    let missing = p.dir.join("no-such.key");
    let driver = tls_driver(&[&p.ca, &p.client_cert, &missing]);
    let err = expect_err(
        driver.connect(&as_cert_user(&p.client_cert, &missing, "")),
        "a certificate without its key",
    );
    assert!(
        err.to_string()
            .contains("certificate present, but not private key file"),
        "{err}"
    );
}

#[test]
fn a_revocation_list_that_names_the_server_certificate_refuses_it() {
    let p = pki();
    let driver = tls_driver(&[&p.ca, &p.crl]);
    let err = expect_err(
        driver.connect(&conninfo(
            "localhost",
            &format!(
                "sslmode=verify-full sslrootcert={} sslcrl={}",
                p.ca.display(),
                p.crl.display()
            ),
        )),
        "a revoked server certificate",
    );
    assert_eq!(err.kind(), wasmpg::ErrorKind::Tls, "{err}");
    assert!(err.to_string().contains("revoked"), "{err}");
}

#[test]
fn channel_binding_require_needs_scram_plus_over_tls() {
    let _ = pki();
    let driver = tls_driver(&[]);
    let role = |name: &str, password: &str, extra: &str| {
        conninfo("127.0.0.1", extra)
            .replace("user=postgres", &format!("user={name} password={password}"))
    };
    // SCRAM over TLS binds to the channel.
    let mut client = driver
        .connect(&role(
            "scram_user",
            "scram_secret",
            "sslmode=require channel_binding=require",
        ))
        .unwrap_or_else(|e| panic!("SCRAM-SHA-256-PLUS: {e}"));
    assert_eq!(current_user(&mut client), "scram_user");
    for (name, password, extra, cause) in [
        (
            "md5_user",
            "md5_secret",
            "sslmode=require channel_binding=require",
            "channel binding required but not supported by server's authentication request",
        ),
        (
            "scram_user",
            "scram_secret",
            "sslmode=disable channel_binding=require",
            "channel binding is required, but SSL is not in use",
        ),
        (
            "postgres",
            "unused",
            "sslmode=require channel_binding=require",
            "server authenticated client without channel binding",
        ),
    ] {
        let err = expect_err(
            driver.connect(&role(name, password, extra)),
            "channel_binding=require without binding",
        );
        assert_eq!(err.kind(), wasmpg::ErrorKind::Authentication, "{err}");
        assert!(err.to_string().contains(cause), "{name} {extra}: {err}");
    }
    // disable: SCRAM without binding still works over TLS.
    driver
        .connect(&role(
            "scram_user",
            "scram_secret",
            "sslmode=require channel_binding=disable",
        ))
        .unwrap_or_else(|e| panic!("channel_binding=disable: {e}"));
}

#[test]
fn require_auth_checks_what_the_server_asks_for() {
    let _ = pki();
    let driver = tls_driver(&[]);
    let scram = |extra: &str| {
        conninfo("127.0.0.1", extra)
            .replace("user=postgres", "user=scram_user password=scram_secret")
    };
    driver
        .connect(&scram("require_auth=scram-sha-256"))
        .unwrap_or_else(|e| panic!("require_auth=scram-sha-256: {e}"));
    driver
        .connect(&scram("require_auth=!password,!md5"))
        .unwrap_or_else(|e| panic!("require_auth=!password,!md5: {e}"));
    for (conninfo, cause) in [
        (
            scram("require_auth=md5,password"),
            "authentication method requirement \"md5,password\" failed: server requested SASL \
             authentication",
        ),
        (
            conninfo("127.0.0.1", "require_auth=scram-sha-256"),
            "authentication method requirement \"scram-sha-256\" failed: server did not \
             complete authentication",
        ),
    ] {
        let err = expect_err(driver.connect(&conninfo), "a method require_auth refuses");
        assert!(err.to_string().contains(cause), "{err}");
    }
}

#[test]
fn prefer_retries_in_clear_and_allow_retries_with_tls() {
    let p = pki();
    // prefer with a root file that does not verify the server: libpq's second attempt in clear.
    let driver = tls_driver(&[&p.other_ca]);
    let mut client = driver
        .connect(&conninfo(
            "localhost",
            &format!("sslmode=prefer sslrootcert={}", p.other_ca.display()),
        ))
        .unwrap_or_else(|e| panic!("prefer after a failed handshake: {e}"));
    assert!(!encrypted(&mut client));
    // require does not retry.
    let err = expect_err(
        driver.connect(&conninfo(
            "localhost",
            &format!("sslmode=require sslrootcert={}", p.other_ca.display()),
        )),
        "require with a root file that does not verify the server",
    );
    assert_eq!(err.kind(), wasmpg::ErrorKind::Tls, "{err}");
    // allow: in clear first; cert_user is refused in clear (hostnossl reject), so TLS next.
    let driver = tls_driver(&[&p.ca, &p.client_cert, &p.client_key]);
    let mut client = driver
        .connect(
            &as_cert_user(&p.client_cert, &p.client_key, "")
                .replace("sslmode=verify-full", "sslmode=allow"),
        )
        .unwrap_or_else(|e| panic!("allow after a refusal in clear: {e}"));
    assert!(encrypted(&mut client));
    assert_eq!(current_user(&mut client), "cert_user");
}

/// Runs the CLI with `env` (and nothing of this process's PG* variables).
fn cli(conninfo: &str, env: &[(&str, &Path)]) -> std::process::Output {
    let mut command = std::process::Command::new(cli_path());
    command.arg(conninfo).args(["-c", "select current_user"]);
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("PG")) {
        command.env_remove(k);
    }
    for (k, v) in env {
        command.env(k, v);
    }
    command.output().unwrap()
}

#[test]
fn the_cli_reads_the_default_files_under_home_and_the_system_store() {
    let p = pki();
    let home = p.dir.join("home");
    let ssl_dir = home.join(".postgresql");
    std::fs::create_dir_all(&ssl_dir).unwrap();
    std::fs::copy(&p.ca, ssl_dir.join("root.crt")).unwrap();
    std::fs::copy(&p.client_cert, ssl_dir.join("postgresql.crt")).unwrap();
    std::fs::copy(&p.client_key, ssl_dir.join("postgresql.key")).unwrap();
    std::fs::set_permissions(
        ssl_dir.join("postgresql.key"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    let port = cluster().port;
    // verify-full with ~/.postgresql/root.crt, and the client certificate from there too.
    let out = cli(
        &format!(
            "host=localhost port={port} user=cert_user dbname=wasmpg_test sslmode=verify-full"
        ),
        &[("HOME", &home)],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("cert_user"),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // sslrootcert=system: OpenSSL's SSL_CERT_FILE names the store; the private CA in it
    // verifies the server, and a store without it does not.
    let empty_home = p.dir.join("empty-home");
    std::fs::create_dir_all(&empty_home).unwrap();
    let system =
        format!("host=localhost port={port} user=postgres dbname=wasmpg_test sslrootcert=system");
    let out = cli(&system, &[("HOME", &empty_home), ("SSL_CERT_FILE", &p.ca)]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = cli(
        &system,
        &[("HOME", &empty_home), ("SSL_CERT_FILE", &p.other_ca)],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("unknown issuer"),
        "{stderr}"
    );
}

/// The kernel's timer for the client's end of this session's TCP connection (/proc/net/tcp):
/// (timer kind, time to expiry in 1/100 s). Kind 2 is the keepalive timer.
#[cfg(target_os = "linux")]
fn socket_timer(client: &mut wasmpg::Client) -> (u32, u64) {
    let port: i32 = client
        .query_one(
            "SELECT client_port FROM pg_stat_activity WHERE pid = pg_backend_pid()",
            &[],
        )
        .unwrap()
        .get(0);
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap();
    let local = format!(":{:04X}", port);
    let remote = format!(":{:04X}", cluster().port);
    for line in table.lines().skip(1) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields[1].ends_with(&local) && fields[2].ends_with(&remote) {
            let (kind, when) = fields[5].split_once(':').unwrap();
            return (
                u32::from_str_radix(kind, 16).unwrap(),
                u64::from_str_radix(when, 16).unwrap(),
            );
        }
    }
    panic!("no socket from port {port} in /proc/net/tcp");
}

#[cfg(target_os = "linux")]
#[test]
fn keepalives_are_set_on_the_socket() {
    let driver = tls_driver(&[]);
    // On by default (libpq), with the conninfo's idle time.
    let mut client = driver
        .connect(&conninfo("127.0.0.1", "sslmode=disable keepalives_idle=7"))
        .unwrap();
    let (kind, when) = socket_timer(&mut client);
    assert_eq!(kind, 2, "the keepalive timer runs");
    assert!(when <= 700, "fires within the 7 s idle time: {when}");
    let mut client = driver
        .connect(&conninfo("127.0.0.1", "sslmode=disable keepalives=0"))
        .unwrap();
    assert_eq!(socket_timer(&mut client).0, 0, "no timer with keepalives=0");
}

/// A certificate for `localhost` from `issuer` and its key, for the proxy.
fn localhost_leaf(
    issuer: &CertifiedIssuer<'static, KeyPair>,
) -> (
    rustls::pki_types::CertificateDer<'static>,
    rustls::pki_types::PrivateKeyDer<'static>,
) {
    leaf_valid(issuer, (2020, 2090))
}

/// A certificate for `localhost` from `issuer`, valid from the first to the second year.
fn leaf_valid(
    issuer: &CertifiedIssuer<'static, KeyPair>,
    years: (i32, i32),
) -> (
    rustls::pki_types::CertificateDer<'static>,
    rustls::pki_types::PrivateKeyDer<'static>,
) {
    let mut params = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    params.not_before = rcgen::date_time_ymd(years.0, 1, 1);
    params.not_after = rcgen::date_time_ymd(years.1, 1, 1);
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, issuer).unwrap();
    (
        cert.der().clone(),
        rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
    )
}

/// A TLS-terminating proxy in front of the cluster, for one connection: with `direct` the
/// ClientHello comes at once (sslnegotiation=direct), else it answers the SSLRequest with 'S'.
/// It presents `leaf`, offers ALPN `postgresql` when `alpn`, and forwards the plaintext to the
/// cluster over TCP in clear. Returns its port and, once the handshake is done, the ALPN
/// protocol it agreed on.
fn tls_proxy(
    leaf: (
        rustls::pki_types::CertificateDer<'static>,
        rustls::pki_types::PrivateKeyDer<'static>,
    ),
    direct: bool,
    alpn: bool,
) -> (u16, std::sync::Arc<std::sync::Mutex<Option<Vec<u8>>>>) {
    use std::net::TcpListener;
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![leaf.0], leaf.1)
        .unwrap();
    if alpn {
        config.alpn_protocols = vec![b"postgresql".to_vec()];
    }
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let agreed = std::sync::Arc::new(std::sync::Mutex::new(None));
    let seen = agreed.clone();
    let backend_port = cluster().port;
    let config = std::sync::Arc::new(config);
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(client) = client else { return };
            let (config, seen) = (config.clone(), seen.clone());
            std::thread::spawn(move || proxy_one(client, config, direct, seen, backend_port));
        }
    });
    (port, agreed)
}

/// One connection of [`tls_proxy`]: TLS only (a client that does not ask for it is dropped).
fn proxy_one(
    mut client: std::net::TcpStream,
    config: std::sync::Arc<rustls::ServerConfig>,
    direct: bool,
    seen: std::sync::Arc<std::sync::Mutex<Option<Vec<u8>>>>,
    backend_port: u16,
) {
    use std::io::{ErrorKind as Io, Read, Write};
    use std::net::TcpStream;
    if !direct {
        let mut request = [0u8; 8];
        if client.read_exact(&mut request).is_err() || request[4..] != 80877103u32.to_be_bytes() {
            return; // not an SSLRequest: this proxy speaks TLS only
        }
        client.write_all(b"S").unwrap();
    }
    let mut tls = rustls::ServerConnection::new(config).unwrap();
    while tls.is_handshaking() {
        if tls.complete_io(&mut client).is_err() {
            return; // the client refused the certificate
        }
    }
    *seen.lock().unwrap() = Some(tls.alpn_protocol().unwrap_or_default().to_vec());
    let mut backend = TcpStream::connect(("127.0.0.1", backend_port)).unwrap();
    let tick = Some(std::time::Duration::from_millis(5));
    client.set_read_timeout(tick).unwrap();
    backend.set_read_timeout(tick).unwrap();
    let mut buf = vec![0u8; 64 << 10];
    let idle = |e: &std::io::Error| matches!(e.kind(), Io::WouldBlock | Io::TimedOut);
    loop {
        match tls.read_tls(&mut client) {
            Ok(0) => return,
            Ok(_) => {
                if tls.process_new_packets().is_err() {
                    return;
                }
            }
            Err(e) if idle(&e) => {}
            Err(_) => return,
        }
        // Plaintext may wait from the handshake's last flight too.
        loop {
            match tls.reader().read(&mut buf) {
                Ok(0) => return,
                Ok(n) => backend.write_all(&buf[..n]).unwrap(),
                Err(e) if idle(&e) => break,
                Err(_) => return,
            }
        }
        match backend.read(&mut buf) {
            Ok(0) => {
                // The server closed (after a cancel request, say): so does the proxy.
                tls.send_close_notify();
                let _ = tls.write_tls(&mut client);
                return;
            }
            Ok(n) => tls.writer().write_all(&buf[..n]).unwrap(),
            Err(e) if idle(&e) => {}
            Err(_) => return,
        }
        while tls.wants_write() {
            if tls.write_tls(&mut client).is_err() {
                return;
            }
        }
    }
}

fn via_proxy(port: u16, extra: &str) -> String {
    format!("host=localhost port={port} user=postgres dbname=wasmpg_test connect_timeout=5 {extra}")
}

#[test]
fn direct_negotiation_through_a_tls_terminating_proxy() {
    let p = pki();
    let (port, alpn) = tls_proxy(localhost_leaf(&p.issuer), true, true);
    let driver = proxy_driver(port, &[&p.ca]);
    let mut client = driver
        .connect(&via_proxy(
            port,
            &format!(
                "sslmode=verify-full sslrootcert={} sslnegotiation=direct",
                p.ca.display()
            ),
        ))
        .unwrap_or_else(|e| panic!("direct negotiation: {e}"));
    let n: i32 = client.query_one("SELECT 41 + 1", &[]).unwrap().get(0);
    assert_eq!(n, 42);
    assert_eq!(alpn.lock().unwrap().as_deref(), Some(&b"postgresql"[..]));
    // A server that does not agree on ALPN `postgresql` is refused.
    let (port, _) = tls_proxy(localhost_leaf(&p.issuer), true, false);
    let err = expect_err(
        proxy_driver(port, &[&p.ca]).connect(&via_proxy(
            port,
            &format!(
                "sslmode=verify-full sslrootcert={} sslnegotiation=direct",
                p.ca.display()
            ),
        )),
        "direct negotiation without ALPN",
    );
    assert_eq!(err.kind(), wasmpg::ErrorKind::Tls, "{err}");
    assert!(err.to_string().contains("without ALPN"), "{err}");
}

fn proxy_driver(port: u16, files: &[&Path]) -> Driver {
    driver_for(&[format!("localhost:{port}")], files)
}

#[test]
fn a_proxy_presenting_another_certificate_is_refused_by_the_api_and_the_cli() {
    let p = pki();
    let conninfo = |port| {
        via_proxy(
            port,
            &format!("sslmode=verify-full sslrootcert={}", p.ca.display()),
        )
    };
    let stranger = make_ca("a man in the middle");
    let (port, _) = tls_proxy(localhost_leaf(&stranger), false, false);
    let err = expect_err(
        proxy_driver(port, &[&p.ca]).connect(&conninfo(port)),
        "a proxy with another CA's certificate",
    );
    assert_eq!(err.kind(), wasmpg::ErrorKind::Tls, "{err}");
    assert!(err.to_string().contains("unknown issuer"), "{err}");
    let (port, _) = tls_proxy(localhost_leaf(&stranger), false, false);
    let out = cli(&conninfo(port), &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("TLS failed") && stderr.contains("unknown issuer"),
        "{stderr}"
    );
}

#[test]
fn an_expired_server_certificate_is_refused_with_its_dates() {
    let p = pki();
    let (port, _) = tls_proxy(leaf_valid(&p.issuer, (2010, 2011)), false, false);
    let err = expect_err(
        proxy_driver(port, &[&p.ca]).connect(&via_proxy(
            port,
            &format!("sslmode=verify-full sslrootcert={}", p.ca.display()),
        )),
        "an expired server certificate",
    );
    assert_eq!(err.kind(), wasmpg::ErrorKind::Tls, "{err}");
    assert!(
        err.to_string()
            .contains("the certificate expired at 2011-01-01 00:00:00 UTC"),
        "{err}"
    );
}

#[test]
fn pg_variables_and_sslcertmode_through_the_cli() {
    let p = pki();
    let port = cluster().port.to_string();
    let home = p.dir.join("env-home");
    std::fs::create_dir_all(&home).unwrap();
    // libpq's variables: PGSSLMODE, PGSSLROOTCERT, PGSSLCERT, PGSSLKEY.
    let run = |extra: &str| {
        let mut command = std::process::Command::new(cli_path());
        command
            .arg(format!(
                "host=localhost user=cert_user dbname=wasmpg_test {extra}"
            ))
            .args(["-c", "select current_user"]);
        for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("PG")) {
            command.env_remove(k);
        }
        command
            .env("HOME", &home)
            .env("PGPORT", &port)
            .env("PGSSLMODE", "verify-full")
            .env("PGSSLROOTCERT", &p.ca)
            .env("PGSSLCERT", &p.client_cert)
            .env("PGSSLKEY", &p.client_key)
            .output()
            .unwrap()
    };
    let out = run("");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("cert_user"),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // sslcertmode=disable: the certificate is not offered, so the server refuses cert_user.
    let out = run("sslcertmode=disable");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("28000"),
        "{stderr}"
    );
}

#[test]
fn a_cancel_request_goes_over_tls_like_its_session() {
    let p = pki();
    // The proxy speaks TLS only: a cancel request in clear would never reach the server.
    let (port, _) = tls_proxy(localhost_leaf(&p.issuer), false, false);
    let driver = proxy_driver(port, &[&p.ca]);
    let mut client = driver
        .connect(&via_proxy(
            port,
            &format!("sslmode=verify-full sslrootcert={}", p.ca.display()),
        ))
        .unwrap();
    let err = cancel_a_sleep(&mut client);
    assert_eq!(err.code(), Some("57014"), "{err}");
    let n: i32 = client.query_one("SELECT 7", &[]).unwrap().get(0);
    assert_eq!(n, 7);
}
