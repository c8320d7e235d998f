//! TLS material for a test cluster (`ClusterOptions::tls`): a private CA made per cluster, a
//! server certificate for `localhost` signed by it (PostgreSQL's `server.crt`/`server.key` in
//! the data directory, owned by the server's account, the key readable by it alone), the CA's
//! certificate beside the data directory for clients (`Cluster::ca_file`) and in the data
//! directory for the server to check client certificates with, and a client certificate for
//! the role [`CERT_USER`] with its key, plain and encrypted with [`CLIENT_KEY_PASSWORD`]
//! (`Cluster::client_files`).

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};

use crate::error::ClusterError;
use crate::process::Account;

/// The role that authenticates with its client certificate (pg_hba `cert`), over TLS only.
pub const CERT_USER: &str = "cert_user";
/// The password of the encrypted copy of the client key (PKCS#8, PBES2 with AES-256-CBC).
pub const CLIENT_KEY_PASSWORD: &str = "wasmpg key password";

/// pg_hba.conf lines a TLS cluster puts first: the certificate role over TLS, nothing else.
pub(crate) const HBA: &[&str] = &[
    "hostssl   all cert_user 127.0.0.1/32 cert",
    "hostnossl all cert_user 127.0.0.1/32 reject",
];

/// The client side of a TLS cluster's material.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientFiles {
    /// The certificate for [`CERT_USER`], signed by the cluster's CA (PEM).
    pub cert: PathBuf,
    /// Its key, PKCS#8 PEM, mode 0600.
    pub key: PathBuf,
    /// The same key encrypted with [`CLIENT_KEY_PASSWORD`] (ENCRYPTED PRIVATE KEY PEM), 0600.
    pub key_encrypted: PathBuf,
}

/// What [`write`] made.
pub(crate) struct Material {
    pub(crate) ca_file: PathBuf,
    pub(crate) client: ClientFiles,
    pub(crate) settings: Vec<(String, String)>,
}

fn tls_error(what: &str, e: impl std::fmt::Display) -> ClusterError {
    ClusterError::Parse {
        what: format!("TLS material: {what}"),
        detail: e.to_string(),
    }
}

/// Writes the server's certificate and key (and the CA, to check clients with) into
/// `data_dir`, the CA certificate and the client's files into `dir`; returns their paths and
/// the postgresql.conf settings that turn TLS on.
pub(crate) fn write(
    data_dir: &Path,
    dir: &Path,
    account: Option<&Account>,
) -> Result<Material, ClusterError> {
    let mut ca_params =
        CertificateParams::new(Vec::<String>::new()).map_err(|e| tls_error("CA", e))?;
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "wasmpg-pgcluster test CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_key = KeyPair::generate().map_err(|e| tls_error("CA key", e))?;
    let ca = CertifiedIssuer::self_signed(ca_params, ca_key).map_err(|e| tls_error("CA", e))?;

    let mut params = CertificateParams::new(vec!["localhost".to_owned()])
        .map_err(|e| tls_error("server certificate", e))?;
    params
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    let key = KeyPair::generate().map_err(|e| tls_error("server key", e))?;
    let cert = params
        .signed_by(&key, &ca)
        .map_err(|e| tls_error("server certificate", e))?;

    let io = |what: String| move |e: std::io::Error| ClusterError::Io { what, source: e };
    let crt = data_dir.join("server.crt");
    let keyfile = data_dir.join("server.key");
    let server_ca = data_dir.join("root.crt");
    fs::write(&crt, cert.pem()).map_err(io(format!("writing {}", crt.display())))?;
    fs::write(&keyfile, key.serialize_pem())
        .map_err(io(format!("writing {}", keyfile.display())))?;
    fs::write(&server_ca, ca.pem()).map_err(io(format!("writing {}", server_ca.display())))?;
    fs::set_permissions(&keyfile, fs::Permissions::from_mode(0o600))
        .map_err(io(format!("chmod {}", keyfile.display())))?;
    if let Some(a) = account {
        for f in [&crt, &keyfile, &server_ca] {
            std::os::unix::fs::chown(f, Some(a.uid), Some(a.gid))
                .map_err(io(format!("chown {}", f.display())))?;
        }
    }
    let ca_file = dir.join("ca.crt");
    fs::write(&ca_file, ca.pem()).map_err(io(format!("writing {}", ca_file.display())))?;
    fs::set_permissions(&ca_file, fs::Permissions::from_mode(0o644))
        .map_err(io(format!("chmod {}", ca_file.display())))?;

    // The client certificate: the role's name as the common name (pg_hba `cert` compares it).
    let mut client_params =
        CertificateParams::new(Vec::<String>::new()).map_err(|e| tls_error("client", e))?;
    client_params
        .distinguished_name
        .push(DnType::CommonName, CERT_USER);
    let client_key = KeyPair::generate().map_err(|e| tls_error("client key", e))?;
    let client_cert = client_params
        .signed_by(&client_key, &ca)
        .map_err(|e| tls_error("client certificate", e))?;
    let client = ClientFiles {
        cert: dir.join("client.crt"),
        key: dir.join("client.key"),
        key_encrypted: dir.join("client-encrypted.key"),
    };
    let encrypted = encrypt_key(&client_key.serialize_der())?;
    for (file, contents, mode) in [
        (&client.cert, client_cert.pem().into_bytes(), 0o644),
        (&client.key, client_key.serialize_pem().into_bytes(), 0o600),
        (&client.key_encrypted, encrypted, 0o600),
    ] {
        fs::write(file, contents).map_err(io(format!("writing {}", file.display())))?;
        fs::set_permissions(file, fs::Permissions::from_mode(mode))
            .map_err(io(format!("chmod {}", file.display())))?;
    }
    let settings = vec![
        ("ssl".to_owned(), "on".to_owned()),
        ("ssl_cert_file".to_owned(), "'server.crt'".to_owned()),
        ("ssl_key_file".to_owned(), "'server.key'".to_owned()),
        ("ssl_ca_file".to_owned(), "'root.crt'".to_owned()),
    ];
    Ok(Material {
        ca_file,
        client,
        settings,
    })
}

/// A PKCS#8 key (DER) encrypted with [`CLIENT_KEY_PASSWORD`], as PEM.
fn encrypt_key(der: &[u8]) -> Result<Vec<u8>, ClusterError> {
    use pkcs8::der::pem::LineEnding;
    let info = pkcs8::PrivateKeyInfo::try_from(der).map_err(|e| tls_error("client key", e))?;
    // PBKDF2-SHA256 (2048 rounds) and AES-256-CBC, as `openssl pkcs8 -topk8 -v2 aes-256-cbc`.
    let mut salt = [0u8; 16];
    let mut iv = [0u8; 16];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut salt);
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut iv);
    let params = pkcs8::pkcs5::pbes2::Parameters::pbkdf2_sha256_aes256cbc(2048, &salt, &iv)
        .map_err(|e| tls_error("encrypting the client key", e))?;
    let document = info
        .encrypt_with_params(params, CLIENT_KEY_PASSWORD)
        .map_err(|e| tls_error("encrypting the client key", e))?;
    let pem = document
        .to_pem("ENCRYPTED PRIVATE KEY", LineEnding::LF)
        .map_err(|e| tls_error("encrypting the client key", e))?;
    Ok(pem.as_bytes().to_vec())
}
