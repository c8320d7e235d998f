//! LISTEN/NOTIFY through the Rust API against the real server: notifications from another
//! session arrive while idle (the iterators read the socket) and with a request's results, in
//! order, with their channel, payload and sender; waiting ends at its timeout; a session the
//! server ends while idle reports the server's error after what it had received.

use std::time::{Duration, Instant};

use wasmpg::ErrorKind;
use wasmpg_tests::*;

#[test]
fn a_notification_from_another_session_arrives_while_idle() {
    let mut listener = client();
    let mut sender = client();
    listener.batch_execute("LISTEN wasmpg_idle").unwrap();
    assert!(
        listener.notifications().iter().next().is_none(),
        "nothing yet"
    );
    sender
        .batch_execute("NOTIFY wasmpg_idle, 'first'; NOTIFY wasmpg_idle")
        .unwrap();
    let got: Vec<_> = listener
        .notifications()
        .timeout_iter(Duration::from_secs(10))
        .take(2)
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].channel(), "wasmpg_idle");
    assert_eq!(got[0].payload(), "first");
    assert_eq!(got[1].payload(), "");
    assert_eq!(got[0].process_id(), sender.backend_pid());
    // The session stays usable.
    let n: i32 = listener.query_one("SELECT 3", &[]).unwrap().get(0);
    assert_eq!(n, 3);
}

#[test]
fn notifications_that_come_with_results_are_queued_in_order() {
    let mut listener = client();
    let mut sender = client();
    listener.batch_execute("LISTEN wasmpg_busy").unwrap();
    for i in 0..5 {
        sender
            .execute("SELECT pg_notify('wasmpg_busy', $1)", &[&i.to_string()])
            .unwrap();
    }
    // A request reads them in front of its own reply (pg_sleep lets them arrive first).
    listener.batch_execute("SELECT pg_sleep(0.2)").unwrap();
    let mut notifications = listener.notifications();
    assert_eq!(notifications.len(), 5);
    let payloads: Vec<String> = notifications
        .iter()
        .map(|n| n.unwrap().payload().to_owned())
        .collect();
    assert_eq!(payloads, ["0", "1", "2", "3", "4"]);
    assert_eq!(notifications.dropped(), 0);
}

#[test]
fn waiting_ends_at_the_timeout() {
    let mut listener = client();
    listener.batch_execute("LISTEN wasmpg_quiet").unwrap();
    let started = Instant::now();
    assert!(listener
        .notifications()
        .timeout_iter(Duration::from_millis(300))
        .next()
        .is_none());
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(290) && waited < Duration::from_secs(5),
        "{waited:?}"
    );
}

#[test]
fn a_session_ended_while_idle_reports_the_servers_error_after_its_notifications() {
    let mut listener = client();
    let mut other = client();
    listener.batch_execute("LISTEN wasmpg_end").unwrap();
    other.batch_execute("NOTIFY wasmpg_end, 'last'").unwrap();
    // Let the notification reach the listener's socket before its backend goes.
    std::thread::sleep(Duration::from_millis(200));
    other
        .execute(
            "SELECT pg_terminate_backend($1)",
            &[&listener.backend_pid()],
        )
        .unwrap();
    let items: Vec<_> = listener
        .notifications()
        .timeout_iter(Duration::from_secs(10))
        .collect();
    assert_eq!(items.len(), 2, "{items:?}");
    assert_eq!(items[0].as_ref().unwrap().payload(), "last");
    let err = items[1].as_ref().unwrap_err();
    assert_eq!(err.code(), Some("57P01"), "{err}");
    assert!(listener.is_closed());
    // Later calls end at once.
    assert!(listener.notifications().blocking_iter().next().is_none());
    let err = expect_err(
        listener.query("SELECT 1", &[]),
        "a query on the ended session",
    );
    assert_eq!(err.kind(), ErrorKind::Closed, "{err}");
}
