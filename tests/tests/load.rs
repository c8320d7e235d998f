//! Load through one host process: 64 threads, each with its own client from one shared
//! `Driver`, run 100,000 queries in total against the real server, each checking its result.
//! No deadlock (an overall deadline), correct results, and the process's RSS flat after
//! warm-up. Prints connections, queries, elapsed time and RSS at start and end.
//!
//! This file holds one test so that the process's RSS is this test's alone.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use wasmpg::{Config, Driver};
use wasmpg_tests::*;

const CONNECTIONS: usize = 64;
const QUERIES: usize = 100_000;
/// Queries per connection before the RSS baseline is taken.
const WARM_UP: usize = 200;
/// The whole test must finish within this, or it is a deadlock (or far too slow).
const DEADLINE: Duration = Duration::from_secs(300);

#[test]
fn sixty_four_connections_one_hundred_thousand_queries() {
    let cluster = cluster();
    let driver = Driver::with_config(Config {
        // A stuck request fails its thread instead of hanging the test.
        read_timeout: Some(Duration::from_secs(60)),
        ..Config::default()
    })
    .unwrap();
    let conninfo = cluster.superuser_conninfo();
    let per_thread = QUERIES.div_ceil(CONNECTIONS);
    let measured_per_thread = per_thread - WARM_UP;
    let total = per_thread * CONNECTIONS;

    // Everyone connects and warms up, then waits; the main thread takes the baseline; then
    // everyone runs the measured queries.
    let warmed = Arc::new(Barrier::new(CONNECTIONS + 1));
    let go = Arc::new(Barrier::new(CONNECTIONS + 1));
    let closing = Arc::new(Barrier::new(CONNECTIONS + 1));
    let done = Arc::new(AtomicU64::new(0));
    let (results, finished) = mpsc::channel();
    for t in 0..CONNECTIONS {
        let driver = driver.clone();
        let conninfo = conninfo.clone();
        let (warmed, go, closing, done, results) = (
            Arc::clone(&warmed),
            Arc::clone(&go),
            Arc::clone(&closing),
            Arc::clone(&done),
            results.clone(),
        );
        thread::spawn(move || {
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                let mut client = driver
                    .connect(&conninfo)
                    .unwrap_or_else(|e| panic!("thread {t}: connect: {e}"));
                let statement = client.prepare("SELECT $1::int * 2, $2::text").unwrap();
                let mut run = |i: usize| {
                    let n = (t * per_thread + i) as i32;
                    let tag = format!("t{t}-q{i}");
                    // Alternate the SQL-text path (automatic statement cache) and an explicit
                    // prepared statement.
                    let row = if i.is_multiple_of(2) {
                        client.query_one("SELECT $1::int * 2, $2::text", &[&n, &tag])
                    } else {
                        client.query_one(&statement, &[&n, &tag])
                    }
                    .unwrap_or_else(|e| panic!("thread {t}, query {i}: {e}"));
                    assert_eq!(row.get::<_, i32>(0), n * 2, "thread {t}, query {i}");
                    assert_eq!(row.get::<_, &str>(1), tag, "thread {t}, query {i}");
                    done.fetch_add(1, Ordering::Relaxed);
                };
                for i in 0..WARM_UP {
                    run(i);
                }
                warmed.wait();
                go.wait();
                for i in WARM_UP..per_thread {
                    run(i);
                }
                client
            }));
            match outcome {
                Ok(client) => {
                    let _ = results.send(Ok(client.guest_memory_bytes()));
                    // Stay connected until the final RSS is taken.
                    closing.wait();
                    client.close().unwrap();
                }
                Err(p) => {
                    let _ = results.send(Err(p
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| p.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                        .unwrap_or_default()));
                }
            }
        });
    }
    drop(results);

    let start = Instant::now();
    // Barrier::wait has no timeout: wait for the warm-up on a helper thread instead.
    let (warm_tx, warm_rx) = mpsc::channel();
    {
        let warmed = Arc::clone(&warmed);
        thread::spawn(move || {
            warmed.wait();
            let _ = warm_tx.send(());
        });
    }
    if warm_rx.recv_timeout(DEADLINE).is_err() {
        // A thread that failed before the barrier never reaches it: report its panic.
        let failure = finished.try_recv().ok();
        panic!(
            "the warm-up did not finish within {DEADLINE:?} ({} queries done); first failure: \
             {failure:?}",
            done.load(Ordering::Relaxed)
        );
    }
    let warm_up_elapsed = start.elapsed();
    let rss_start = rss_bytes();
    let measured_start = Instant::now();
    go.wait();

    let mut failures = Vec::new();
    let mut guest_memory = 0;
    for _ in 0..CONNECTIONS {
        let left = DEADLINE.saturating_sub(start.elapsed());
        match finished.recv_timeout(left) {
            Ok(Ok(bytes)) => guest_memory += bytes,
            Ok(Err(e)) => failures.push(e),
            Err(_) => panic!(
                "deadlock or stall: {} of {total} queries done after {:?}",
                done.load(Ordering::Relaxed),
                start.elapsed()
            ),
        }
    }
    let elapsed = measured_start.elapsed();
    // Taken while every connection is still open, like the baseline.
    let rss_end = rss_bytes();
    assert!(failures.is_empty(), "failed threads: {failures:?}");
    assert_eq!(done.load(Ordering::Relaxed), total as u64);
    closing.wait();

    let measured = measured_per_thread * CONNECTIONS;
    println!(
        "load: {CONNECTIONS} connections, {total} queries ({} warm-up in {:.1} s, {measured} \
         measured in {:.1} s = {:.0} queries/s); RSS after warm-up {:.1} MiB, at the end {:.1} MiB \
         ({:+.1} MiB); guest linear memory {:.1} MiB in all",
        WARM_UP * CONNECTIONS,
        warm_up_elapsed.as_secs_f64(),
        elapsed.as_secs_f64(),
        measured as f64 / elapsed.as_secs_f64(),
        rss_start as f64 / 1048576.0,
        rss_end as f64 / 1048576.0,
        (rss_end as f64 - rss_start as f64) / 1048576.0,
        guest_memory as f64 / 1048576.0,
    );
    // Flat: after the warm-up every connection's buffers, statement caches and guest memory
    // have their working size; the measured queries must not grow them.
    let growth = rss_end.saturating_sub(rss_start);
    let bound = (32u64 << 20).max(rss_start / 5);
    assert!(
        growth < bound,
        "RSS grew by {} MiB after warm-up (bound {} MiB)",
        growth >> 20,
        bound >> 20
    );
}
