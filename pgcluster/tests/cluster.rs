//! The crate against real PostgreSQL binaries: a cluster starts with the documented roles and
//! settings, accepts connections (checked with `pg_isready` and `psql`), and stopping it (drop,
//! `stop`, a `Stopper`, or the `pgcluster` binary) removes its directory.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use wasmpg_pgcluster::json::{self, Value};
use wasmpg_pgcluster::{
    Cluster, ClusterError, ClusterOptions, StopMode, Stopper, AUTH_ROLES, DBNAME, MARKER_FILE,
};

fn start(settings: &[(&str, &str)], hba: &[&str]) -> Cluster {
    let options = ClusterOptions {
        settings: settings
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        hba: hba.iter().map(|l| (*l).to_owned()).collect(),
        dir_prefix: "wasmpg-pgcluster-test-".to_owned(),
        ..ClusterOptions::default()
    };
    Cluster::start(options).unwrap_or_else(|e| panic!("Cluster::start: {e}"))
}

/// `pg_isready` against host/port; `None` when the binary is not installed.
fn pg_isready(bindir: &Path, host: &str, port: u16) -> Option<bool> {
    let program = bindir.join("pg_isready");
    if !program.is_file() {
        eprintln!("no pg_isready in {}: skipping that check", bindir.display());
        return None;
    }
    let status = Command::new(program)
        .args(["-h", host, "-p", &port.to_string(), "-t", "10"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("running pg_isready");
    Some(status.success())
}

#[test]
fn a_cluster_has_the_documented_roles_settings_and_sockets_and_drop_removes_it() {
    let cluster = start(&[], &[]);
    let dir = cluster.dir().to_owned();
    assert!(dir.join(MARKER_FILE).is_file());
    assert!(cluster.data_dir().join("PG_VERSION").is_file());
    assert!(cluster.socket_path().exists(), "no Unix socket");
    assert!(cluster.version_num() >= 90000, "{}", cluster.version_num());
    assert_eq!(cluster.host(), "127.0.0.1");
    for host in [
        cluster.host().to_owned(),
        dir.to_string_lossy().into_owned(),
    ] {
        if let Some(ready) = pg_isready(cluster.bindir(), &host, cluster.port()) {
            assert!(ready, "pg_isready -h {host} failed");
        }
    }

    assert_eq!(
        cluster
            .psql("SELECT current_user, current_database()")
            .unwrap(),
        format!("postgres|{DBNAME}")
    );
    assert_eq!(
        cluster
            .psql_in("postgres", "SELECT current_database()")
            .unwrap(),
        "postgres"
    );
    let roles = cluster
        .psql("SELECT rolname FROM pg_roles WHERE rolcanlogin ORDER BY rolname")
        .unwrap();
    let mut expected: Vec<&str> = AUTH_ROLES.iter().map(|r| r.name).collect();
    // The superuser, and the role TLS clusters let in by client certificate (pg_hba `cert`).
    expected.extend(["postgres", wasmpg_pgcluster::CERT_USER]);
    expected.sort_unstable();
    assert_eq!(roles.lines().collect::<Vec<_>>(), expected);
    // The MD5 role is stored as MD5, the others as SCRAM.
    assert_eq!(
        cluster
            .psql("SELECT rolname, left(rolpassword, 3) FROM pg_authid WHERE rolpassword IS NOT NULL ORDER BY 1")
            .unwrap(),
        "md5_user|md5\npw_user|SCR\nscram_user|SCR"
    );
    for (setting, value) in [
        ("listen_addresses", "127.0.0.1"),
        ("log_connections", "on"),
        ("fsync", "off"),
        ("max_connections", "120"),
    ] {
        assert_eq!(
            cluster.psql(&format!("SHOW {setting}")).unwrap(),
            value,
            "{setting}"
        );
    }
    // One line per role, one for everyone else, and one for the superuser's replication
    // connections (standbys are made with pg_basebackup).
    assert_eq!(
        cluster
            .psql("SELECT count(*) FROM pg_hba_file_rules WHERE type = 'host'")
            .unwrap(),
        "7"
    );
    assert_eq!(
        cluster
            .psql(
                "SELECT count(*) FROM pg_hba_file_rules \
                 WHERE 'replication' = ANY(database) AND 'postgres' = ANY(user_name)"
            )
            .unwrap(),
        "1"
    );
    assert!(cluster.log().contains("database system is ready"));
    assert!(cluster
        .conninfo("pw_user", Some("it's"))
        .ends_with(&format!(
            "port={} user=pw_user dbname={DBNAME} password='it\\'s'",
            cluster.port()
        )));

    drop(cluster);
    assert!(!dir.exists(), "{} survived the drop", dir.display());
}

#[test]
fn options_add_settings_and_hba_lines_and_stop_removes_the_directory() {
    let mut cluster = start(
        &[("max_connections", "7"), ("work_mem", "'3MB'")],
        &["host all wasmpg_nobody 127.0.0.1/32 reject"],
    );
    assert_eq!(cluster.psql("SHOW max_connections").unwrap(), "7");
    assert_eq!(cluster.psql("SHOW work_mem").unwrap(), "3MB");
    assert_eq!(
        cluster
            .psql("SELECT user_name[1], auth_method FROM pg_hba_file_rules ORDER BY line_number LIMIT 1")
            .unwrap(),
        "wasmpg_nobody|reject"
    );
    let err = cluster.psql("SELECT nope").unwrap_err();
    assert!(matches!(err, ClusterError::Command { .. }), "{err:?}");
    assert!(err.to_string().contains("nope"), "{err}");

    let dir = cluster.dir().to_owned();
    cluster.stop().unwrap();
    assert!(!dir.exists());
    cluster.stop().unwrap(); // twice is fine
}

#[test]
fn a_kept_cluster_survives_the_drop_and_a_stopper_removes_it() {
    let mut cluster = start(&[], &[]);
    cluster.keep();
    let (dir, data_dir, bindir, port) = (
        cluster.dir().to_owned(),
        cluster.data_dir().to_owned(),
        cluster.bindir().to_owned(),
        cluster.port(),
    );
    drop(cluster);
    assert!(data_dir.join("postmaster.pid").is_file(), "not running");
    if let Some(ready) = pg_isready(&bindir, "127.0.0.1", port) {
        assert!(ready);
    }
    let stopper = Stopper::for_path(&data_dir, None).unwrap();
    assert_eq!(stopper.dir(), dir);
    stopper.stop(StopMode::Fast).unwrap();
    assert!(!dir.exists());
}

#[test]
fn a_directory_without_the_marker_is_refused() {
    let dir =
        std::env::temp_dir().join(format!("wasmpg-pgcluster-nomarker-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("data")).unwrap();
    std::fs::write(dir.join("data").join("PG_VERSION"), "15\n").unwrap();
    for path in [
        dir.clone(),
        dir.join("data"),
        PathBuf::from("/nonexistent/x"),
    ] {
        let err = Stopper::for_path(&path, Some(PathBuf::from("/usr/bin"))).unwrap_err();
        assert!(matches!(err, ClusterError::NotACluster { .. }), "{err:?}");
    }
    assert!(
        dir.join("data").join("PG_VERSION").is_file(),
        "it touched the directory"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_bindir_without_initdb_is_an_error() {
    let options = ClusterOptions {
        bindir: Some(PathBuf::from("/nonexistent")),
        ..ClusterOptions::default()
    };
    let err = Cluster::start(options).unwrap_err();
    assert!(matches!(err, ClusterError::BadBindir(_)), "{err:?}");
}

fn pgcluster(args: &[&str]) -> std::process::Output {
    let out = Command::new(env!("CARGO_BIN_EXE_pgcluster"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("running pgcluster");
    assert!(
        out.status.success(),
        "pgcluster {args:?}: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn str_field<'v>(json: &'v Value, key: &str) -> &'v str {
    json.get(key)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("no string {key:?} in {json:?}"))
}

/// `pgcluster start --json`, checked; returns the JSON text and value.
fn cli_start() -> (String, Value) {
    let out = pgcluster(&["start", "--json", "--prefix", "wasmpg-pgcluster-test-"]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text.trim().lines().count(), 1, "one line of JSON: {text}");
    let json = json::parse(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    let data_dir = PathBuf::from(str_field(&json, "data_dir"));
    assert!(
        data_dir.join("postmaster.pid").is_file(),
        "not running: {text}"
    );
    assert_eq!(str_field(&json, "host"), "127.0.0.1");
    assert_eq!(str_field(&json, "superuser"), "postgres");
    let port: u16 = match json.get("port") {
        Some(Value::Number(n)) => n.parse().unwrap(),
        other => panic!("port: {other:?}"),
    };
    let socket_dir = str_field(&json, "socket_dir");
    assert!(Path::new(str_field(&json, "socket_path")).exists());
    assert!(str_field(&json, "conninfo").contains(&format!("port={port} user=postgres")));
    let Some(Value::Array(roles)) = json.get("roles") else {
        panic!("roles: {json:?}");
    };
    let scram = roles
        .iter()
        .find(|r| str_field(r, "name") == "scram_user")
        .expect("scram_user");
    assert_eq!(str_field(scram, "password"), "scram_secret");
    assert_eq!(str_field(scram, "method"), "scram-sha-256");
    let Some(Value::Array(stop)) = json.get("stop_command") else {
        panic!("stop_command: {json:?}");
    };
    assert_eq!(stop[1].as_str(), Some("stop"));
    let bindir = PathBuf::from(str_field(&json, "bindir"));
    for host in ["127.0.0.1", socket_dir] {
        if let Some(ready) = pg_isready(&bindir, host, port) {
            assert!(ready, "pg_isready -h {host}");
        }
    }
    (text, json)
}

#[test]
fn the_binary_starts_a_detached_cluster_and_stops_it_from_its_json_file() {
    let (text, json) = cli_start();
    let dir = PathBuf::from(str_field(&json, "dir"));
    let file = std::env::temp_dir().join(format!("wasmpg-pgcluster-{}.json", std::process::id()));
    std::fs::write(&file, &text).unwrap();
    pgcluster(&["stop", file.to_str().unwrap()]);
    assert!(!dir.exists(), "{} survived `pgcluster stop`", dir.display());
    std::fs::remove_file(&file).unwrap();
}

#[test]
fn the_binary_stops_a_cluster_given_its_data_directory() {
    let (_, json) = cli_start();
    let dir = PathBuf::from(str_field(&json, "dir"));
    pgcluster(&["stop", "--immediate", str_field(&json, "data_dir")]);
    assert!(!dir.exists(), "{} survived `pgcluster stop`", dir.display());
}
