//! Authentication: answering the server's password requests (cleartext, MD5, SCRAM-SHA-256)
//! with the password from the conninfo, from the password file the host reads on the guest's
//! request (matched with libpq's rules), or from the host; and the cancel token, which carries
//! the backend key that startup delivered.

use postgres_protocol::authentication::md5_hash;
use postgres_protocol::message::frontend;

use super::{write_err, Auth, Event, FileAnswer, PasswordRequest, Session, State, Step};
use crate::error::{DbError, Error, ErrorKind};
use crate::scram::{self, ScramSha256};

impl Session {
    pub fn password(&mut self, password: Option<String>) -> Step {
        if !matches!(self.state, State::NeedPassword) {
            return self.usage("password given while none was requested");
        }
        let Some(password) = password else {
            return self.fail(Error::new(
                ErrorKind::Authentication,
                "the server requested password authentication, but no password was supplied",
            ));
        };
        self.password = Some(password);
        self.state = State::Startup;
        let auth = std::mem::replace(&mut self.auth, Auth::None);
        if let Err(e) = self.answer_auth(auth) {
            return self.fail(e);
        }
        self.finish()
    }

    /// Answers an authentication request now that a password is known.
    pub(super) fn answer_auth(&mut self, auth: Auth) -> Result<(), Error> {
        let Some(password) = self.password.clone() else {
            return Err(Error::new(
                ErrorKind::Authentication,
                "no password available",
            ));
        };
        let user = self
            .info
            .as_ref()
            .map(|i| i.user.clone())
            .unwrap_or_default();
        match auth {
            Auth::None | Auth::Scram(_) => {}
            Auth::Cleartext => {
                frontend::password_message(password.as_bytes(), &mut self.out)
                    .map_err(write_err)?;
            }
            Auth::Md5(salt) => {
                let hash = md5_hash(user.as_bytes(), password.as_bytes(), salt);
                frontend::password_message(hash.as_bytes(), &mut self.out).map_err(write_err)?;
            }
            Auth::SaslRequested => {
                let scram = ScramSha256::new(&password, &scram::random_nonce());
                frontend::sasl_initial_response(
                    ScramSha256::MECHANISM,
                    &scram.client_first(),
                    &mut self.out,
                )
                .map_err(write_err)?;
                self.auth = Auth::Scram(Box::new(scram));
            }
        }
        Ok(())
    }

    /// The server asked for a password: answer now, or ask the host to read the password file,
    /// or for a password.
    pub(super) fn password_needed(&mut self, auth: Auth) -> Result<(), Error> {
        if self.password.is_some() {
            return self.answer_auth(auth);
        }
        self.auth = auth;
        self.state = if !self.passfile_read && self.passfile_path().is_some() {
            State::NeedPassfile
        } else {
            State::NeedPassword
        };
        Ok(())
    }

    /// libpq's choice: `passfile` (conninfo or `PGPASSFILE`), else the host's default.
    pub(super) fn passfile_path(&self) -> Option<&str> {
        let info = self.info.as_ref()?;
        info.passfile
            .as_deref()
            .or(self.opts.default_passfile.as_deref())
            .filter(|p| !p.is_empty())
    }

    /// The answer to [`Action::NeedFile`] for the password file: matched with libpq's rules;
    /// no match (or no file) asks the host for a password.
    pub fn file(&mut self, answer: FileAnswer<'_>) -> Step {
        if matches!(self.state, State::NeedTlsRoot) {
            return self.rootcert_file(answer);
        }
        if !matches!(self.state, State::NeedPassfile) {
            return self.usage("a file was given while none was requested");
        }
        self.passfile_read = true;
        let path = self.passfile_path().unwrap_or_default().to_owned();
        let found = match answer {
            FileAnswer::Text(text) => self.passfile_lookup(text),
            FileAnswer::Missing | FileAnswer::Unreadable(_) => None,
            FileAnswer::TooOpen => {
                let warning = crate::passfile::Ignored::GroupOrWorldAccess.warning(&path);
                self.events
                    .push(Event::Notice(Box::new(DbError::client_warning(warning))));
                None
            }
            FileAnswer::Denied(reason) => {
                return self.fail(Error::new(
                    ErrorKind::PolicyDenied,
                    format!("reading the password file \"{path}\" was denied: {reason}"),
                ));
            }
        };
        match found {
            Some(password) => {
                self.password = Some(password);
                self.state = State::Startup;
                let auth = std::mem::replace(&mut self.auth, Auth::None);
                if let Err(e) = self.answer_auth(auth) {
                    return self.fail(e);
                }
            }
            None => self.state = State::NeedPassword,
        }
        self.finish()
    }

    pub(super) fn passfile_lookup(&self, text: &str) -> Option<String> {
        let info = self.info.as_ref()?;
        let host = info.hosts.get(self.host_index)?;
        let port = host.port.to_string();
        crate::passfile::lookup(
            text,
            &crate::passfile::Target {
                host: &host.host,
                port: &port,
                dbname: &info.dbname,
                user: &info.user,
            },
            Some(&self.opts.default_socket_dir),
        )
        // libpq: an empty password from the file counts as none.
        .filter(|p| !p.is_empty())
    }

    /// What a cancel request for this session needs, as an opaque token (see [`crate::cancel`]).
    pub fn cancel_token(&self) -> Result<String, Error> {
        let (Some((process_id, secret_key)), Some(target)) = (self.backend_key, self.target())
        else {
            return Err(Error::new(
                ErrorKind::Usage,
                "no cancel token: the session is not connected",
            ));
        };
        Ok(crate::cancel::Token {
            target,
            addr: self.peer_addr.clone(),
            process_id,
            secret_key,
        }
        .encode())
    }

    pub(super) fn password_request(&self) -> Option<PasswordRequest> {
        let info = self.info.as_ref()?;
        let host = info.hosts.get(self.host_index)?;
        Some(PasswordRequest {
            host: host.host.clone(),
            port: host.port,
            dbname: info.dbname.clone(),
            user: info.user.clone(),
        })
    }
}
