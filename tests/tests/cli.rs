//! The `wasmpg` command-line client, run as a separate process against the real server.
//! Needs the binary built first: `cargo build --release -p wasmpg-cli` (see tests/README.md).

use std::process::{Command, Output, Stdio};
use std::time::Duration;

use wasmpg_tests::*;

/// Runs the CLI with `args`, without any PG* variable of ours, for at most a minute.
fn wasmpg(args: &[&str]) -> Output {
    let mut cmd = Command::new(cli_path());
    cmd.args(args).stdout(Stdio::piped()).stderr(Stdio::piped());
    for (key, _) in std::env::vars_os() {
        if key.to_str().is_some_and(|k| k.starts_with("PG")) {
            cmd.env_remove(key);
        }
    }
    output_with_timeout(&mut cmd, None, Duration::from_secs(60)).unwrap_or_else(|e| panic!("{e}"))
}

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).expect("stdout is UTF-8")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[track_caller]
fn assert_success(out: &Output) {
    assert!(
        out.status.success(),
        "exit {}; stderr:\n{}",
        out.status,
        stderr(out)
    );
}

#[track_caller]
fn assert_failure(out: &Output) {
    assert!(
        !out.status.success(),
        "exit 0, failure expected; stdout:\n{}\nstderr:\n{}",
        stdout(out),
        stderr(out)
    );
    assert!(
        out.status.code().is_some(),
        "killed by a signal: {}",
        out.status
    );
}

fn trimmed_lines(text: &str) -> Vec<&str> {
    text.lines().map(str::trim).collect()
}

#[test]
fn prints_a_result_table() {
    let conninfo = cluster().superuser_conninfo();
    let out = wasmpg(&[&conninfo, "-c", "SELECT 1+1"]);
    assert_success(&out);
    let text = stdout(&out);
    assert!(
        trimmed_lines(&text).contains(&"2"),
        "no line with 2 in:\n{text}"
    );

    let out = wasmpg(&[
        &conninfo,
        "-c",
        "SELECT 1+1 AS answer, 'héllo ✓' AS greeting",
    ]);
    assert_success(&out);
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    let header = lines
        .iter()
        .position(|l| l.contains("answer"))
        .expect("a header line");
    assert!(lines[header].contains("greeting"), "{text}");
    assert!(
        lines[header + 1].trim_start().starts_with('-'),
        "no rule under the header:\n{text}"
    );
    let row = lines[header + 2];
    assert!(row.contains('2') && row.contains("héllo ✓"), "{text}");
    // psql-like: the column separator lines up in the header and the row.
    assert_eq!(
        lines[header].find('|'),
        row.find('|'),
        "columns are not aligned:\n{text}"
    );
}

#[test]
fn missing_table_fails_with_its_sqlstate() {
    let table = unique_name("cli_missing");
    let out = wasmpg(&[
        &cluster().superuser_conninfo(),
        "-c",
        &format!("SELECT * FROM {table}"),
    ]);
    assert_failure(&out);
    let err = stderr(&out);
    assert!(err.contains("42P01"), "stderr lacks the SQLSTATE:\n{err}");
    assert!(err.contains(&table), "stderr lacks the message:\n{err}");
}

#[test]
fn allow_list_denies_and_nothing_is_contacted() {
    let trap = Trap::tcp();
    let port = trap.port;
    let conninfo =
        format!("host=127.0.0.1 port={port} user=postgres dbname={DBNAME} connect_timeout=5");
    let out = wasmpg(&[&conninfo, "--allow", "127.0.0.1:9", "-c", "SELECT 1"]);
    assert_failure(&out);
    let err = stderr(&out);
    assert!(
        err.to_lowercase().contains("policy"),
        "stderr does not name the policy:\n{err}"
    );
    assert!(
        err.contains(&port.to_string()),
        "stderr does not name the target:\n{err}"
    );
    assert_eq!(trap.hits(), 0, "the denied CLI reached the listener");
}

#[test]
fn allow_list_admits_the_real_server() {
    let cluster = cluster();
    let allow = format!("127.0.0.1:{}", cluster.port);
    let out = wasmpg(&[
        &cluster.superuser_conninfo(),
        "--allow",
        "127.0.0.1:9",
        "--allow",
        &allow,
        "-c",
        "SELECT 40+2",
    ]);
    assert_success(&out);
    assert!(
        trimmed_lines(&stdout(&out)).contains(&"42"),
        "{}",
        stdout(&out)
    );

    // Denied against the real server: the server logs no connection for it.
    let application = unique_name("cli_denied");
    let conninfo = format!(
        "{} application_name={application}",
        cluster.superuser_conninfo()
    );
    let out = wasmpg(&[&conninfo, "--allow", "127.0.0.1:9", "-c", "SELECT 1"]);
    assert_failure(&out);
    assert!(
        !cluster.log().contains(&application),
        "the server saw the denied CLI"
    );
}

#[test]
fn csv_output() {
    let conninfo = cluster().superuser_conninfo();
    let out = wasmpg(&[
        &conninfo,
        "--csv",
        "-c",
        "SELECT 1 AS a, 'x,y' AS b, NULL::text AS c, 'say \"hi\"' AS d",
    ]);
    assert_success(&out);
    assert_eq!(stdout(&out), "a,b,c,d\n1,\"x,y\",,\"say \"\"hi\"\"\"\n");

    let out = wasmpg(&[
        &conninfo,
        "--csv",
        "-c",
        "SELECT g FROM generate_series(1, 3) AS g",
    ]);
    assert_success(&out);
    assert_eq!(stdout(&out), "g\n1\n2\n3\n");
}

#[test]
fn bad_conninfo_fails_without_a_panic() {
    let out = wasmpg(&["port=abc", "-c", "SELECT 1"]);
    assert_failure(&out);
    let err = stderr(&out);
    assert!(!err.contains("panicked"), "the CLI panicked:\n{err}");
    assert!(err.contains("port"), "stderr does not explain:\n{err}");
}

#[test]
fn sigint_cancels_the_running_statement_on_the_server() {
    let c = cluster();
    let mut cmd = Command::new(cli_path());
    cmd.args([
        &c.superuser_conninfo(),
        "-c",
        "SELECT pg_sleep(60), 'wasmpg-sigint'",
    ])
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .stdin(Stdio::null());
    let child = cmd.spawn().expect("the CLI starts");
    let pid = wait_until(
        "the CLI's statement to run",
        Duration::from_secs(30),
        || {
            let pid = c.psql(
                "SELECT pid FROM pg_stat_activity \
             WHERE state = 'active' AND query LIKE '%wasmpg-sigint%' AND pid <> pg_backend_pid()",
            );
            (!pid.is_empty()).then_some(pid)
        },
    );
    // SAFETY: kill(2) with the child's pid and SIGINT has no memory effects.
    let sent = unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
    assert_eq!(sent, 0, "kill(SIGINT)");
    let out = child.wait_with_output().expect("the CLI ends");
    assert_eq!(out.status.code(), Some(1), "stderr:\n{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("57014"), "{err}");
    // The backend was left idle (or already gone with the CLI's exit), never still sleeping.
    let state = c.psql(&format!(
        "SELECT state FROM pg_stat_activity WHERE pid = {pid}"
    ));
    assert!(
        state.is_empty() || state == "idle",
        "backend state {state:?}"
    );
}

/// Runs the CLI with `args` and `input` on stdin.
fn wasmpg_stdin(args: &[&str], input: &[u8]) -> Output {
    let mut cmd = Command::new(cli_path());
    cmd.args(args).stdout(Stdio::piped()).stderr(Stdio::piped());
    output_with_timeout(&mut cmd, Some(input), Duration::from_secs(120))
        .unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn a_pg_dump_file_restores_through_f_with_its_inline_copy_data() {
    let c = cluster();
    let source = unique_name("dump_src");
    let target = unique_name("dump_dst");
    let mut admin = client();
    for db in [&source, &target] {
        admin
            .batch_execute(&format!("CREATE DATABASE {db}"))
            .unwrap();
    }
    let mut src = connect(&format!(
        "host={} port={} user={} dbname={source}",
        c.host, c.port, "postgres"
    ));
    src.batch_execute(
        "CREATE TABLE items (id int PRIMARY KEY, name text, tags text[], note text); \
         INSERT INTO items SELECT g, 'item ' || g || E'\\t;tab', ARRAY['a;b', NULL], \
           CASE WHEN g % 3 = 0 THEN NULL ELSE $$it's \\ a; $x$ quote$$ END \
           FROM generate_series(1, 5000) g; \
         CREATE FUNCTION twice(int) RETURNS int LANGUAGE plpgsql AS $body$ \
           BEGIN RETURN $1 * 2; END; $body$; \
         CREATE VIEW doubled AS SELECT id, twice(id) AS d FROM items;",
    )
    .unwrap();
    let dump = Command::new(c.bindir.join("pg_dump"))
        .args([
            "-h",
            &c.host,
            "-p",
            &c.port.to_string(),
            "-U",
            "postgres",
            &source,
        ])
        .output()
        .unwrap();
    assert!(
        dump.status.success(),
        "{}",
        String::from_utf8_lossy(&dump.stderr)
    );
    let file = std::env::temp_dir().join(format!("{source}.sql"));
    std::fs::write(&file, &dump.stdout).unwrap();
    let conninfo = format!(
        "host={} port={} user=postgres dbname={target}",
        c.host, c.port
    );
    let out = wasmpg(&[&conninfo, "-f", file.to_str().unwrap()]);
    let _ = std::fs::remove_file(&file);
    assert_success(&out);
    let mut dst = connect(&conninfo);
    let digest = "SELECT count(*), sum(d), md5(string_agg(i::text, ',' ORDER BY i.id)) \
                  FROM items i JOIN doubled USING (id)";
    let a = src.query_one(digest, &[]).unwrap();
    let b = dst.query_one(digest, &[]).unwrap();
    assert_eq!(a.get::<_, i64>(0), 5000);
    assert_eq!(
        (
            a.get::<_, i64>(0),
            a.get::<_, i64>(1),
            a.get::<_, String>(2)
        ),
        (
            b.get::<_, i64>(0),
            b.get::<_, i64>(1),
            b.get::<_, String>(2)
        )
    );
    drop((src, dst));
    for db in [&source, &target] {
        admin
            .batch_execute(&format!("DROP DATABASE {db} WITH (FORCE)"))
            .unwrap();
    }
}

#[test]
fn a_script_on_stdin_stops_at_its_first_failure_and_single_transaction_rolls_back() {
    let conninfo = cluster().superuser_conninfo();
    let t = unique_name("script");
    let script = format!(
        "CREATE TABLE {t} (id int);\nINSERT INTO {t} VALUES (1);\n\n  SELECT nope;\n\
         INSERT INTO {t} VALUES (2);\n"
    );
    let out = wasmpg_stdin(&[&conninfo], script.as_bytes());
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("line 4"), "{}", stderr(&out));
    assert!(stderr(&out).contains("42703"), "{}", stderr(&out));
    let mut client = client();
    let ids: Vec<i32> = client
        .query(&format!("SELECT id FROM {t}"), &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(
        ids,
        [1],
        "statements before the failure stay, none after it runs"
    );

    // -1: the same script in one transaction leaves nothing behind.
    let u = unique_name("script1");
    let script = script.replace(&t, &u);
    let out = wasmpg_stdin(&[&conninfo, "-1", "-f", "-"], script.as_bytes());
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let exists: bool = client
        .query_one("SELECT to_regclass($1) IS NOT NULL", &[&u])
        .unwrap()
        .get(0);
    assert!(!exists, "-1 left the table behind");

    // A statement that cannot be split fails there, with the line it starts on.
    let out = wasmpg_stdin(&[&conninfo], b"SELECT 1;\nSELECT 'open;\n");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("line 2: unterminated quoted string"),
        "{}",
        stderr(&out)
    );
    // A missing file is an error before connecting.
    let out = wasmpg(&[&conninfo, "-f", "/nonexistent/script.sql"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("/nonexistent/script.sql"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_long_copy_shows_its_progress_when_stderr_is_a_terminal() {
    // `script` (util-linux) runs the CLI on a pseudo-terminal and records what it printed.
    let conninfo = cluster().superuser_conninfo();
    let log = std::env::temp_dir().join(unique_name("progress"));
    let command = format!(
        "{} '{conninfo}' -c 'COPY (SELECT g, repeat($$x$$, 300) FROM generate_series(1, 4000000) g) \
         TO STDOUT' > /dev/null",
        cli_path().display()
    );
    let out = output_with_timeout(
        Command::new("script")
            .arg("-qec")
            .arg(&command)
            .arg(&log)
            .stdout(Stdio::null())
            .stderr(Stdio::piped()),
        None,
        Duration::from_secs(120),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let typescript = String::from_utf8_lossy(&std::fs::read(&log).unwrap()).into_owned();
    let _ = std::fs::remove_file(&log);
    assert!(out.status.success(), "{}\n{typescript}", stderr(&out));
    assert!(
        typescript.contains("COPY: ")
            && typescript.contains(" lines, ")
            && typescript.contains(" MB/s"),
        "no progress line: {typescript:?}"
    );
    // Erased at the end: the last line drawn is followed by an erase.
    let last = typescript.rfind("COPY: ").unwrap();
    assert!(typescript[last..].contains("\r\u{1b}[K"), "{typescript:?}");

    // Not a terminal: nothing but the data.
    let out = wasmpg(&[&conninfo, "-c", "COPY (SELECT 1) TO STDOUT"]);
    assert_success(&out);
    assert_eq!(stderr(&out), "");
}
