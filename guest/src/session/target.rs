//! Choosing the server among a conninfo's hosts, with libpq's rules: `load_balance_hosts=random`
//! shuffles the host list once; `target_session_attrs` checks each server that completed
//! startup — from the `in_hot_standby` and `default_transaction_read_only` parameters it reports
//! (PostgreSQL 14 and later), else with a query — and moves on to the next host when it does
//! not fit; `prefer-standby` makes a second pass accepting any server when no standby was found.

use fallible_iterator::FallibleIterator;
use postgres_protocol::message::backend::Message;
use postgres_protocol::message::frontend;

use super::{malformed, write_err, Auth, Session, State};
use crate::error::{DbError, Error, ErrorKind};
use crate::framing::message_name;

/// What `target_session_attrs` asks of a server (libpq's names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wanted {
    Any,
    ReadWrite,
    ReadOnly,
    Primary,
    Standby,
    /// A standby if any host has one; the first pass, before falling back to any server.
    PreferStandby,
}

impl Wanted {
    pub(crate) fn parse(value: &str) -> Wanted {
        match value {
            "read-write" => Wanted::ReadWrite,
            "read-only" => Wanted::ReadOnly,
            "primary" => Wanted::Primary,
            "standby" => Wanted::Standby,
            "prefer-standby" => Wanted::PreferStandby,
            // The conninfo parser admits nothing else.
            _ => Wanted::Any,
        }
    }

    /// Whether the answer is about read-only sessions (else about hot standby).
    fn asks_read_only(self) -> bool {
        matches!(self, Wanted::ReadWrite | Wanted::ReadOnly)
    }

    /// Whether a server in this state fits; the reason in libpq's words when not.
    fn verdict(self, yes: bool) -> Result<(), &'static str> {
        match (self, yes) {
            (Wanted::Any, _) => Ok(()),
            (Wanted::ReadWrite, true) => Err("session is read-only"),
            (Wanted::ReadOnly, false) => Err("session is not read-only"),
            (Wanted::Primary, true) => Err("server is in hot standby mode"),
            (Wanted::Standby | Wanted::PreferStandby, false) => {
                Err("server is not in hot standby mode")
            }
            _ => Ok(()),
        }
    }
}

/// The query that answers the question when the server does not report it.
fn check_query(wanted: Wanted) -> &'static str {
    if wanted.asks_read_only() {
        "SHOW transaction_read_only"
    } else {
        "SELECT pg_catalog.pg_is_in_recovery()"
    }
}

impl Session {
    /// Orders the hosts for this connection: shuffled once for `load_balance_hosts=random`.
    pub(super) fn order_hosts(&mut self) {
        let Some(info) = &mut self.info else {
            return;
        };
        if !info.load_balance_random || info.hosts.len() < 2 {
            return;
        }
        // Fisher-Yates with the WASI random source the host grants (libpq does the same).
        for i in (1..info.hosts.len()).rev() {
            let mut bytes = [0u8; 8];
            rand::fill(&mut bytes);
            let j = (u64::from_le_bytes(bytes) % (i as u64 + 1)) as usize;
            info.hosts.swap(i, j);
        }
    }

    /// Startup reached ReadyForQuery: accept the server, reject it, or ask it.
    pub(super) fn startup_done(&mut self, status: u8) -> Result<(), Error> {
        let wanted = self.wanted;
        if wanted == Wanted::Any {
            return self.set_ready(status);
        }
        let reported = |name: &str| self.parameters.get(name).map(|v| v == "on");
        let answer = if wanted.asks_read_only() {
            match (
                reported("in_hot_standby"),
                reported("default_transaction_read_only"),
            ) {
                (Some(standby), Some(read_only)) => Some(standby || read_only),
                _ => None,
            }
        } else {
            reported("in_hot_standby")
        };
        match answer {
            Some(yes) => self.judge(wanted, yes, status),
            None => {
                frontend::query(check_query(wanted), &mut self.out).map_err(write_err)?;
                self.checking = Some((wanted, None));
                self.state = State::Checking;
                Ok(())
            }
        }
    }

    /// The check query's reply (state `Checking`).
    pub(super) fn handle_check(&mut self, message: Message) -> Result<(), Error> {
        let Some((wanted, answer)) = &mut self.checking else {
            return Err(Error::protocol("a check reply without a check"));
        };
        match message {
            Message::RowDescription(_) | Message::CommandComplete(_) => Ok(()),
            Message::DataRow(body) => {
                let buffer = body.buffer();
                let mut ranges = body.ranges();
                let first = ranges.next().map_err(malformed)?.flatten();
                *answer = first
                    .and_then(|r| buffer.get(r))
                    .map(|v| v == b"on" || v == b"t");
                Ok(())
            }
            Message::ErrorResponse(body) => {
                let db = DbError::parse(body.fields())?;
                let reason = format!("checking the server failed: {}", db.message);
                self.checking = None;
                self.next_host(reason)
            }
            Message::ReadyForQuery(body) => {
                let (wanted, answer) = (*wanted, *answer);
                self.checking = None;
                let Some(yes) = answer else {
                    return Err(Error::protocol(
                        "the server answered the session check without a value",
                    ));
                };
                self.judge(wanted, yes, body.status())
            }
            other => Err(Error::protocol(format!(
                "unexpected message {} while checking target_session_attrs",
                message_name(&other)
            ))),
        }
    }

    fn judge(&mut self, wanted: Wanted, yes: bool, status: u8) -> Result<(), Error> {
        match wanted.verdict(yes) {
            Ok(()) => self.set_ready(status),
            Err(reason) => self.next_host(reason.to_owned()),
        }
    }

    /// Leaves this server (Terminate) and asks the host to open the next one; after the last,
    /// `prefer-standby` starts a second pass accepting any server, and otherwise the connection
    /// fails with every attempt in its message.
    fn next_host(&mut self, reason: String) -> Result<(), Error> {
        frontend::terminate(&mut self.out);
        self.attempts
            .push(format!("{}: {reason}", self.described_target()));
        self.reset_connection();
        self.host_index += 1;
        let hosts = self.info.as_ref().map_or(0, |i| i.hosts.len());
        if self.host_index >= hosts && self.wanted == Wanted::PreferStandby {
            self.wanted = Wanted::Any;
            self.host_index = 0;
        }
        if self.host_index < hosts {
            self.state = State::Opening;
            return Ok(());
        }
        Err(Error::new(
            ErrorKind::ConnectionRefused,
            format!(
                "could not connect to any host: {}",
                self.attempts.join("; ")
            ),
        ))
    }

    /// After `open-failed` on the last host: `prefer-standby` tries every host again for any
    /// server. Returns whether a second pass began.
    pub(super) fn second_pass(&mut self) -> bool {
        if self.wanted != Wanted::PreferStandby {
            return false;
        }
        self.wanted = Wanted::Any;
        self.host_index = 0;
        true
    }

    /// Forgets what the last server said about itself, before talking to the next.
    pub(super) fn reset_connection(&mut self) {
        self.inbuf.clear();
        self.parameters.clear();
        self.utc = false;
        self.backend_key = None;
        self.authenticated = false;
        self.auth_requested = false;
        self.channel_bound = false;
        self.auth = Auth::None;
        self.peer_addr = None;
    }
}
