//! The TLS files a connection reads before it opens, with libpq's rules: which ones (the root
//! certificates, their revocation list, the client certificate and its key; the conninfo's
//! paths or the defaults under `~/.postgresql/`), in what order, and what their contents become.
//! The guest has no filesystem: each file is an `f` action the host answers under its policy
//! (`Y` with the bytes, or a status), and `sslrootcert=system` asks the host for its trust store.

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, CertificateRevocationListDer, PrivateKeyDer};

use super::{FileAnswer, Session, State, Step};
use crate::conninfo::{SslMode, Target};
use crate::error::{Error, ErrorKind};

/// One file a TLS connection may need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum TlsFile {
    RootCert,
    Crl,
    Cert,
    Key,
}

impl TlsFile {
    /// The `f` action's purpose (hosts apply the private-key permission rule to `sslkey`).
    pub(super) fn purpose(self) -> &'static str {
        match self {
            TlsFile::RootCert => "sslrootcert",
            TlsFile::Crl => "sslcrl",
            TlsFile::Cert => "sslcert",
            TlsFile::Key => "sslkey",
        }
    }

    /// libpq's default file name under `~/.postgresql/`.
    fn default_name(self) -> &'static str {
        match self {
            TlsFile::RootCert => "root.crt",
            TlsFile::Crl => "root.crl",
            TlsFile::Cert => "postgresql.crt",
            TlsFile::Key => "postgresql.key",
        }
    }

    fn what(self) -> &'static str {
        match self {
            TlsFile::RootCert => "root certificate file",
            TlsFile::Crl => "SSL certificate revocation list file",
            TlsFile::Cert => "certificate file",
            TlsFile::Key => "private key file",
        }
    }
}

/// What the files held, for the handshake.
#[derive(Debug, Default)]
pub(super) struct TlsMaterial {
    /// Trusted roots; empty: no verification unless the sslmode demands it (an error then).
    pub roots: Vec<CertificateDer<'static>>,
    pub crls: Vec<CertificateRevocationListDer<'static>>,
    /// The client certificate chain, once its key is read too.
    pub chain: Vec<CertificateDer<'static>>,
    pub key: Option<PrivateKeyDer<'static>>,
}

impl Session {
    /// Whether any attempt of this connection may use TLS (a TCP host and an sslmode that
    /// negotiates it): only then are the files read.
    fn may_use_tls(&self) -> bool {
        self.info.as_ref().is_some_and(|info| {
            info.sslmode != SslMode::Disable
                && info
                    .hosts
                    .iter()
                    .any(|h| matches!(h.target, Target::Tcp { .. }))
        })
    }

    /// The files to read before the first open, in order (more are added as answers come:
    /// the CRL once roots were found, the key once a certificate was).
    pub(super) fn plan_tls_files(&mut self) {
        self.tls_files.clear();
        self.tls = TlsMaterial::default();
        if self.may_use_tls() {
            self.tls_files = vec![TlsFile::RootCert];
            // sslcertmode=disable: no client certificate is read or offered.
            if self.info.as_ref().is_some_and(|i| i.tls.send_cert) {
                self.tls_files.push(TlsFile::Cert);
            }
        }
        self.next_tls_file();
    }

    /// Drops the files that have no path (no conninfo setting and no home directory) and sets
    /// the state: the next file, or opening.
    fn next_tls_file(&mut self) {
        while let Some(&file) = self.tls_files.first() {
            if self.tls_file_path(file).is_some() {
                self.state = State::NeedTlsFile;
                return;
            }
            self.tls_files.remove(0);
        }
        self.state = State::Opening;
    }

    /// The path the conninfo gives for `file`, whether it was given explicitly.
    fn tls_file_setting(&self, file: TlsFile) -> Option<&str> {
        let tls = &self.info.as_ref()?.tls;
        match file {
            TlsFile::RootCert => tls.rootcert.as_deref(),
            TlsFile::Crl => tls.crl.as_deref(),
            TlsFile::Cert => tls.cert.as_deref(),
            TlsFile::Key => tls.key.as_deref(),
        }
    }

    /// The path to ask the host for: the conninfo's, else the default under the host's
    /// `~/.postgresql/` (none when the host did not say where that is).
    pub(super) fn tls_file_path(&self, file: TlsFile) -> Option<String> {
        match self.tls_file_setting(file) {
            Some(path) => Some(path.to_owned()),
            None => self
                .opts
                .default_ssl_dir
                .as_deref()
                .map(|dir| format!("{}/{}", dir.trim_end_matches('/'), file.default_name())),
        }
    }

    /// The `f` action for the file being read.
    pub(super) fn tls_file_request(&self) -> Option<(&'static str, String)> {
        let file = *self.tls_files.first()?;
        Some((file.purpose(), self.tls_file_path(file)?))
    }

    fn verifying(&self) -> bool {
        self.info
            .as_ref()
            .is_some_and(|i| matches!(i.sslmode, SslMode::VerifyCa | SslMode::VerifyFull))
    }

    /// The host's answer for the file being read.
    pub(super) fn tls_file(&mut self, answer: FileAnswer<'_>) -> Step {
        let Some(&file) = self.tls_files.first() else {
            return self.usage("a file was given while none was requested");
        };
        self.tls_files.remove(0);
        match self.take_tls_file(file, answer) {
            Ok(()) => {
                self.next_tls_file();
                self.finish()
            }
            Err(e) => self.fail(e),
        }
    }

    fn take_tls_file(&mut self, file: TlsFile, answer: FileAnswer<'_>) -> Result<(), Error> {
        let explicit = self.tls_file_setting(file).is_some();
        let path = self.tls_file_path(file).unwrap_or_default();
        let config = |message: String| Error::new(ErrorKind::Config, message);
        let contents: &[u8] = match answer {
            FileAnswer::Text(text) => text.as_bytes(),
            FileAnswer::Bytes(bytes) => bytes,
            // libpq goes on without a missing default, certificate or CRL (missing_tls_file
            // says which absences are errors).
            FileAnswer::Missing => return self.missing_tls_file(file, &path),
            // A default file the policy does not let the session read counts as absent; a file
            // the conninfo names does not, nor the key of a certificate that was read (the key
            // is only asked for once a certificate was).
            FileAnswer::Denied(_) if !explicit && file != TlsFile::Key => {
                return self.missing_tls_file(file, &path);
            }
            FileAnswer::Denied(reason) => {
                return Err(Error::new(
                    ErrorKind::PolicyDenied,
                    format!("{} \"{path}\": {reason}", file.what()),
                ))
            }
            FileAnswer::TooOpen => {
                return Err(config(format!(
                    "private key file \"{path}\" has group or world access; file must have \
                     permissions u=rw (0600) or less if owned by the current user, or \
                     permissions u=rw,g=r (0640) or less if owned by root"
                )))
            }
            FileAnswer::Unreadable(reason) => {
                return Err(config(format!(
                    "could not read {} \"{path}\": {reason}",
                    file.what()
                )))
            }
        };
        // Certificates: PEM (or one DER certificate), at least one.
        let certificates = || {
            let certs = pem_or_der::<CertificateDer<'static>>(contents)
                .map_err(|e| config(format!("could not read {} \"{path}\": {e}", file.what())))?;
            if certs.is_empty() {
                return Err(config(format!(
                    "the {} \"{path}\" holds no certificate",
                    file.what()
                )));
            }
            Ok(certs)
        };
        match file {
            TlsFile::RootCert => {
                self.tls.roots = certificates()?;
                self.tls_files.insert(0, TlsFile::Crl);
            }
            TlsFile::Crl => {
                self.tls.crls = pem_or_der(contents).map_err(|e| {
                    config(format!(
                        "could not load SSL certificate revocation list file \"{path}\": {e}"
                    ))
                })?;
            }
            TlsFile::Cert => {
                self.tls.chain = certificates()?;
                self.tls_files.insert(0, TlsFile::Key);
            }
            TlsFile::Key => {
                let password = self.info.as_ref().and_then(|i| i.tls.password.as_deref());
                self.tls.key = Some(crate::tls::private_key(contents, password).map_err(|e| {
                    config(format!("could not load private key file \"{path}\": {e}"))
                })?);
            }
        }
        Ok(())
    }

    /// A file that is not there: an error where libpq makes it one.
    fn missing_tls_file(&mut self, file: TlsFile, path: &str) -> Result<(), Error> {
        match file {
            TlsFile::RootCert if self.verifying() => Err(Error::new(
                ErrorKind::Config,
                if path == "system" {
                    "the host has no system trust store to give for sslrootcert=system".to_owned()
                } else {
                    format!(
                        "root certificate file \"{path}\" does not exist; either provide the \
                         file, use the system's trusted roots with sslrootcert=system, or \
                         change sslmode to disable server certificate verification"
                    )
                },
            )),
            TlsFile::Key if !self.tls.chain.is_empty() => Err(Error::new(
                ErrorKind::Config,
                format!("certificate present, but not private key file \"{path}\""),
            )),
            _ => Ok(()),
        }
    }
}

/// The items of a PEM file (certificates, revocation lists), or the file as one DER item when
/// it holds no PEM.
fn pem_or_der<T: PemObject + From<Vec<u8>>>(contents: &[u8]) -> Result<Vec<T>, String> {
    if !crate::tls::looks_like_pem(contents) {
        return Ok(vec![T::from(contents.to_vec())]);
    }
    T::pem_slice_iter(contents)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{e:?}"))
}
