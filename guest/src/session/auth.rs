//! Authentication: answering the server's password requests (cleartext, MD5, SCRAM-SHA-256)
//! with the password from the conninfo, from the password file the host reads on the guest's
//! request (matched with libpq's rules), or from the host; and the cancel token, which carries
//! the backend key that startup delivered.

use postgres_protocol::authentication::md5_hash;
use postgres_protocol::message::frontend;

use super::{write_err, Auth, Event, FileAnswer, PasswordRequest, Session, State, Step};
use crate::conninfo::{AuthMethod, ChannelBinding};
use crate::error::{DbError, Error, ErrorKind};
use crate::scram::{self, Binding, ScramSha256};

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
            Auth::SaslRequested { plus } => {
                let binding = self.scram_binding(plus)?;
                let scram = ScramSha256::with_binding(&password, &scram::random_nonce(), binding);
                frontend::sasl_initial_response(
                    scram.mechanism(),
                    &scram.client_first(),
                    &mut self.out,
                )
                .map_err(write_err)?;
                self.auth = Auth::Scram(Box::new(scram));
            }
        }
        Ok(())
    }

    fn channel_binding(&self) -> ChannelBinding {
        self.info
            .as_ref()
            .map_or(ChannelBinding::Prefer, |i| i.channel_binding)
    }

    /// The server asked for `method`: refused by require_auth, or by channel_binding=require
    /// for anything but SASL (libpq's checks and messages).
    pub(super) fn auth_requested(&mut self, method: AuthMethod) -> Result<(), Error> {
        self.auth_requested = true;
        if let Some(require) = self.info.as_ref().and_then(|i| i.require_auth.as_ref()) {
            if !require.allows(method) {
                return Err(Error::new(
                    ErrorKind::Authentication,
                    format!(
                        "authentication method requirement \"{}\" failed: {}",
                        require.text,
                        method.requested()
                    ),
                ));
            }
        }
        if method != AuthMethod::ScramSha256 && self.channel_binding() == ChannelBinding::Require {
            return Err(Error::new(
                ErrorKind::Authentication,
                "channel binding required but not supported by server's authentication request",
            ));
        }
        Ok(())
    }

    /// The SASL mechanisms arrived: channel_binding=require needs TLS and -PLUS.
    pub(super) fn check_binding_offer(&self, plus: bool) -> Result<(), Error> {
        if self.channel_binding() != ChannelBinding::Require {
            return Ok(());
        }
        if !self.is_tls() {
            return Err(Error::new(
                ErrorKind::Authentication,
                "channel binding is required, but SSL is not in use",
            ));
        }
        if !plus {
            return Err(Error::new(
                ErrorKind::Authentication,
                "channel binding is required, but server did not offer an authentication \
                 method that supports channel binding",
            ));
        }
        Ok(())
    }

    /// How a SCRAM exchange binds to the channel: -PLUS over TLS when offered and allowed.
    fn scram_binding(&self, plus: bool) -> Result<Binding, Error> {
        if self.channel_binding() == ChannelBinding::Disable || !self.is_tls() {
            return Ok(Binding::Unsupported);
        }
        if !plus {
            return Ok(Binding::NotOffered);
        }
        let certificate = self.server_certificate().ok_or_else(|| {
            Error::new(
                ErrorKind::Authentication,
                "channel binding: the server presented no certificate",
            )
        })?;
        match scram::server_end_point(&certificate) {
            Some(hash) => Ok(Binding::TlsServerEndPoint(hash)),
            None if self.channel_binding() == ChannelBinding::Require => Err(Error::new(
                ErrorKind::Authentication,
                "channel binding: could not find the hash algorithm of the server \
                 certificate's signature",
            )),
            // prefer: the server cannot bind either (it uses the same rule); go unbound.
            None => Ok(Binding::NotOffered),
        }
    }

    /// AuthenticationOk: require_auth=none-style and channel_binding=require checks.
    pub(super) fn authentication_ok(&mut self) -> Result<(), Error> {
        if !self.auth_requested {
            if let Some(require) = self.info.as_ref().and_then(|i| i.require_auth.as_ref()) {
                if !require.allows(AuthMethod::None) {
                    return Err(Error::new(
                        ErrorKind::Authentication,
                        format!(
                            "authentication method requirement \"{}\" failed: {}",
                            require.text,
                            AuthMethod::None.requested()
                        ),
                    ));
                }
            }
        }
        if self.channel_binding() == ChannelBinding::Require && !self.channel_bound {
            return Err(Error::new(
                ErrorKind::Authentication,
                "channel binding required, but server authenticated client without channel \
                 binding",
            ));
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
        if matches!(self.state, State::NeedTlsFile) {
            return self.tls_file(answer);
        }
        if !matches!(self.state, State::NeedPassfile) {
            return self.usage("a file was given while none was requested");
        }
        self.passfile_read = true;
        let path = self.passfile_path().unwrap_or_default().to_owned();
        let found = match answer {
            FileAnswer::Text(text) => self.passfile_lookup(text),
            FileAnswer::Bytes(bytes) => self.passfile_lookup(&String::from_utf8_lossy(bytes)),
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
            tls: self.cancel_tls(),
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
