//! The sandbox's bounds against a real server: a guest that runs out of memory traps and is
//! discarded without harming other sessions; an oversized message is refused; the compiled
//! component is cached on disk for the next process.

use std::time::Duration;

use wasmpg::{Config, Driver, ErrorKind};
use wasmpg_tests::{assert_kind, client, cluster, connect_with, expect_err, unique_name};

fn driver_with(config: Config) -> Driver {
    Driver::with_config(config).unwrap_or_else(|e| panic!("driver: {e}"))
}

#[test]
fn a_trapped_guest_is_discarded_and_other_sessions_keep_working() {
    // 16 MiB of linear memory cannot hold a 20 MB message, and the message limit lets it through
    // to the allocator: the guest's allocation fails and it traps.
    let driver = driver_with(Config {
        memory_limit: 16 << 20,
        max_message_size: 256 << 20,
        ..Config::default()
    });
    let conninfo = cluster().superuser_conninfo();
    let mut bystander = connect_with(&driver, &conninfo);
    let mut victim = connect_with(&driver, &conninfo);
    let err = expect_err(
        victim.query("SELECT repeat('x', 20000000)", &[]),
        "a 20 MB value in a 16 MiB sandbox",
    );
    assert_kind(&err, ErrorKind::Trap);
    assert!(victim.is_closed(), "a trapped session must be closed");
    let again = expect_err(
        victim.query("SELECT 1", &[]),
        "a query on a trapped session",
    );
    assert_kind(&again, ErrorKind::Closed);

    let row = bystander.query_one("SELECT 41 + 1", &[]).unwrap();
    assert_eq!(row.get::<_, i32>(0), 42);
    let mut fresh = connect_with(&driver, &conninfo);
    let row = fresh.query_one("SELECT 'still fine'::text", &[]).unwrap();
    assert_eq!(row.get::<_, &str>(0), "still fine");
}

#[test]
fn an_oversized_message_is_an_error_not_an_allocation() {
    let driver = driver_with(Config {
        max_message_size: 1 << 20,
        ..Config::default()
    });
    let conninfo = cluster().superuser_conninfo();
    let mut c = connect_with(&driver, &conninfo);
    let err = expect_err(
        c.query("SELECT repeat('x', 2000000)", &[]),
        "a 2 MB row with a 1 MiB message limit",
    );
    assert_kind(&err, ErrorKind::MessageTooLarge);
    assert!(err.to_string().contains("limit"), "{err}");
    // The stream cannot be resynchronised after a refused message: the session ends, and a new
    // one works.
    assert!(c.is_closed());
    let mut fresh = connect_with(&driver, &conninfo);
    assert_eq!(
        fresh.query_one("SELECT 1", &[]).unwrap().get::<_, i32>(0),
        1
    );
}

#[test]
fn the_compiled_component_is_cached_for_the_next_process() {
    let dir = std::env::temp_dir().join(unique_name("wasmpg-cache"));
    let config = Config {
        cache_dir: Some(dir.clone()),
        ..Config::default()
    };
    drop(driver_with(config.clone()));
    let files: Vec<_> = std::fs::read_dir(&dir)
        .expect("the cache directory was created")
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "cwasm"))
        .collect();
    assert_eq!(files.len(), 1, "one compiled artifact: {files:?}");
    let written = std::fs::metadata(&files[0]).unwrap().modified().unwrap();
    std::thread::sleep(Duration::from_millis(20));
    // A second driver (as a second process would) loads the artifact instead of rewriting it.
    let driver = driver_with(config);
    let again = std::fs::metadata(&files[0]).unwrap().modified().unwrap();
    assert_eq!(written, again, "the cached artifact was rewritten");
    let mut c = connect_with(&driver, &cluster().superuser_conninfo());
    assert_eq!(c.query_one("SELECT 2", &[]).unwrap().get::<_, i32>(0), 2);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_corrupt_cache_file_is_recompiled() {
    let dir = std::env::temp_dir().join(unique_name("wasmpg-cache-corrupt"));
    let config = Config {
        cache_dir: Some(dir.clone()),
        ..Config::default()
    };
    drop(driver_with(config.clone()));
    for entry in std::fs::read_dir(&dir).unwrap().filter_map(|e| e.ok()) {
        std::fs::write(entry.path(), b"not a wasmtime artifact").unwrap();
    }
    let driver = driver_with(config);
    let mut c = connect_with(&driver, &cluster().superuser_conninfo());
    assert_eq!(c.query_one("SELECT 3", &[]).unwrap().get::<_, i32>(0), 3);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn guest_memory_of_an_idle_session_is_small() {
    let mut c = client();
    c.query("SELECT 1", &[]).unwrap();
    let bytes = c.guest_memory_bytes();
    assert!(bytes > 0, "the guest has some linear memory");
    // Not a performance target (that is bench/'s job), a sanity bound: an idle session must not
    // hold on to large buffers.
    assert!(bytes < 16 << 20, "idle guest holds {bytes} bytes");
}
