//! TLS material for a test cluster (`ClusterOptions::tls`): a private CA made per cluster, a
//! server certificate for `localhost` signed by it (PostgreSQL's `server.crt`/`server.key` in
//! the data directory, owned by the server's account, the key readable by it alone), and the
//! CA's certificate beside the data directory for clients (`Cluster::ca_file`).

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};

use crate::error::ClusterError;
use crate::process::Account;

fn tls_error(what: &str, e: impl std::fmt::Display) -> ClusterError {
    ClusterError::Parse {
        what: format!("TLS material: {what}"),
        detail: e.to_string(),
    }
}

/// Writes the server's certificate and key into `data_dir` and the CA certificate into `dir`;
/// returns the CA certificate's path and the postgresql.conf settings that turn TLS on.
pub(crate) fn write(
    data_dir: &Path,
    dir: &Path,
    account: Option<&Account>,
) -> Result<(PathBuf, Vec<(String, String)>), ClusterError> {
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
    fs::write(&crt, cert.pem()).map_err(io(format!("writing {}", crt.display())))?;
    fs::write(&keyfile, key.serialize_pem())
        .map_err(io(format!("writing {}", keyfile.display())))?;
    fs::set_permissions(&keyfile, fs::Permissions::from_mode(0o600))
        .map_err(io(format!("chmod {}", keyfile.display())))?;
    if let Some(a) = account {
        for f in [&crt, &keyfile] {
            std::os::unix::fs::chown(f, Some(a.uid), Some(a.gid))
                .map_err(io(format!("chown {}", f.display())))?;
        }
    }
    let ca_file = dir.join("ca.crt");
    fs::write(&ca_file, ca.pem()).map_err(io(format!("writing {}", ca_file.display())))?;
    fs::set_permissions(&ca_file, fs::Permissions::from_mode(0o644))
        .map_err(io(format!("chmod {}", ca_file.display())))?;
    let settings = vec![
        ("ssl".to_owned(), "on".to_owned()),
        ("ssl_cert_file".to_owned(), "'server.crt'".to_owned()),
        ("ssl_key_file".to_owned(), "'server.key'".to_owned()),
    ];
    Ok((ca_file, settings))
}
