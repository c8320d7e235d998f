//! LISTEN/NOTIFY for the Rust API: the notifications a session received, and iterators that
//! wait for more while no request runs (rust-postgres's `Client::notifications()` shape).
//!
//! The guest reports each NotificationResponse as an event, whenever it arrives: with the
//! result of a request, or while the session is idle, when one of these iterators reads the
//! socket. They are queued in arrival order; the queue is bounded ([`MAX_QUEUED`]), and what
//! falls off its front is counted ([`Notifications::dropped`]), never silently lost.

use std::time::{Duration, Instant};

use crate::client::Client;
use crate::connection::Connection;
use crate::error::Error;

/// Largest number of notifications a session queues; the oldest are dropped past it.
pub const MAX_QUEUED: usize = 65_536;

/// A notification (NOTIFY, or `pg_notify`) on a channel this session LISTENs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    pub(crate) process_id: i32,
    pub(crate) channel: String,
    pub(crate) payload: String,
}

impl Notification {
    /// The process id of the backend that sent it.
    pub fn process_id(&self) -> i32 {
        self.process_id
    }

    pub fn channel(&self) -> &str {
        &self.channel
    }

    /// The payload ("" when NOTIFY gave none).
    pub fn payload(&self) -> &str {
        &self.payload
    }
}

/// A session's notifications: see [`Client::notifications`].
pub struct Notifications<'a> {
    conn: &'a mut Connection,
}

impl std::fmt::Debug for Notifications<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notifications")
            .field("queued", &self.len())
            .field("dropped", &self.dropped())
            .finish()
    }
}

impl<'a> Notifications<'a> {
    pub(crate) fn new(client: &'a mut Client) -> Notifications<'a> {
        Notifications {
            conn: &mut client.conn,
        }
    }

    /// Notifications received and not yet taken.
    pub fn len(&self) -> usize {
        self.conn.session.notifications.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many were dropped because more than [`MAX_QUEUED`] waited.
    pub fn dropped(&self) -> u64 {
        self.conn.session.notifications_dropped
    }

    /// The notifications queued and those the server already sent; never waits.
    pub fn iter(&mut self) -> Iter<'_> {
        Iter::new(self.conn, Wait::No)
    }

    /// Waits for each next notification as long as it takes.
    pub fn blocking_iter(&mut self) -> Iter<'_> {
        Iter::new(self.conn, Wait::Forever)
    }

    /// Waits for each next notification up to `timeout` (counted from each call of `next`);
    /// ends when none came in time.
    pub fn timeout_iter(&mut self, timeout: Duration) -> Iter<'_> {
        Iter::new(self.conn, Wait::For(timeout))
    }
}

#[derive(Debug, Clone, Copy)]
enum Wait {
    No,
    Forever,
    For(Duration),
}

/// An iterator over a session's notifications. An error (the server ended the session while
/// idle, the socket failed) comes after the notifications received before it, once; then the
/// iterator ends.
pub struct Iter<'a> {
    conn: &'a mut Connection,
    wait: Wait,
    error: Option<Error>,
    failed: bool,
}

impl<'a> Iter<'a> {
    fn new(conn: &'a mut Connection, wait: Wait) -> Iter<'a> {
        Iter {
            conn,
            wait,
            error: None,
            failed: false,
        }
    }
}

impl std::fmt::Debug for Iter<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Iter")
            .field("wait", &self.wait)
            .field("failed", &self.failed)
            .finish_non_exhaustive()
    }
}

impl Iterator for Iter<'_> {
    type Item = Result<Notification, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        let deadline = match self.wait {
            Wait::For(timeout) => Some(Instant::now() + timeout),
            _ => None,
        };
        loop {
            if let Some(n) = self.conn.session.notifications.pop_front() {
                return Some(Ok(n));
            }
            if let Some(e) = self.error.take() {
                self.failed = true;
                return Some(Err(e));
            }
            if self.failed || self.conn.is_closed() {
                return None;
            }
            let slice = match (self.wait, deadline) {
                (Wait::Forever, _) => Duration::from_secs(1),
                (Wait::For(_), Some(d)) => d.saturating_duration_since(Instant::now()),
                _ => Duration::ZERO,
            };
            match self.conn.poll_idle(slice) {
                Ok(true) => {}
                Ok(false) => match (self.wait, deadline) {
                    (Wait::Forever, _) => {}
                    (Wait::For(_), Some(d)) if Instant::now() < d => {}
                    _ => return None,
                },
                Err(e) => self.error = Some(e),
            }
        }
    }
}
