//! LISTEN/NOTIFY for the async client: [`Notifications`], a `Stream` over the session's
//! bounded queue, which the connection's task fills whenever the server sends one (with a
//! statement's results or while idle).

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_core::Stream;

use crate::notifications::Notification;

use super::connection::Shared;

/// The notifications a session receives, in arrival order; the stream ends when the session
/// does. Every clone of the client shares one queue: each notification is delivered once.
pub struct Notifications {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Notifications {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notifications").finish_non_exhaustive()
    }
}

impl Notifications {
    pub(crate) fn new(shared: Arc<Shared>) -> Notifications {
        Notifications { shared }
    }

    /// How many notifications were dropped because more than
    /// [`MAX_QUEUED`](crate::notifications::MAX_QUEUED) waited.
    pub fn dropped(&self) -> u64 {
        self.shared.lock().notifications_dropped
    }

    /// The notifications already received, without waiting.
    pub fn try_next(&mut self) -> Option<Notification> {
        self.shared.lock().notifications.pop_front()
    }
}

impl Stream for Notifications {
    type Item = Notification;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Notification>> {
        let mut state = self.shared.lock();
        if let Some(n) = state.notifications.pop_front() {
            return Poll::Ready(Some(n));
        }
        if state.closed {
            return Poll::Ready(None);
        }
        if !state.wakers.iter().any(|w| w.will_wake(cx.waker())) {
            state.wakers.push(cx.waker().clone());
        }
        Poll::Pending
    }
}
