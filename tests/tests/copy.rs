//! COPY through the Rust API and the CLI against the real server: a million rows in and out
//! with checksums the server computes; text, CSV and binary; a bad row, a terminated backend,
//! an abandoned writer and COPY through the wrong API each leave a clear error and a usable (or
//! cleanly closed) session; COPY TO STDOUT streams in bounded memory.

use std::io::{BufRead, Read, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use wasmpg::ErrorKind;
use wasmpg_tests::*;

/// The server's checksum of a table `(id int, t text)`: rows, sum of ids, sum of the texts'
/// lengths in characters, NULL texts.
fn server_checksum(client: &mut wasmpg::Client, table: &str) -> (i64, i64, i64, i64) {
    let row = client
        .query_one(
            &format!(
                "SELECT count(*), coalesce(sum(id), 0)::int8, coalesce(sum(length(t)), 0)::int8, \
                 count(*) FILTER (WHERE t IS NULL) FROM {table}"
            ),
            &[],
        )
        .unwrap();
    (row.get(0), row.get(1), row.get(2), row.get(3))
}

/// The same checksum over text-format COPY data `id\tt\n`, computed here.
fn local_checksum(data: &[u8]) -> (i64, i64, i64, i64) {
    let text = std::str::from_utf8(data).unwrap();
    let (mut rows, mut ids, mut chars, mut nulls) = (0, 0, 0, 0);
    for line in text.lines() {
        let (id, t) = line.split_once('\t').unwrap();
        rows += 1;
        ids += id.parse::<i64>().unwrap();
        if t == "\\N" {
            nulls += 1;
        } else {
            chars += t.chars().count() as i64;
        }
    }
    (rows, ids, chars, nulls)
}

fn million_rows() -> Vec<u8> {
    let mut data = Vec::with_capacity(30 << 20);
    for i in 1..=1_000_000 {
        match i % 7 {
            0 => writeln!(data, "{i}\t\\N").unwrap(),
            1 => writeln!(data, "{i}\tünïcödé {i}").unwrap(),
            _ => writeln!(data, "{i}\trow number {i}").unwrap(),
        }
    }
    data
}

#[test]
fn a_million_rows_in_and_out_with_checksums() {
    let mut client = client();
    let table = unique_name("copy_million");
    client
        .batch_execute(&format!(
            "CREATE TABLE {table} (id int PRIMARY KEY, t text)"
        ))
        .unwrap();
    let data = million_rows();
    let mut writer = client.copy_in(&format!("COPY {table} FROM STDIN")).unwrap();
    // Odd-sized writes: rows split across pieces.
    for piece in data.chunks(7919) {
        writer.write_all(piece).unwrap();
    }
    assert_eq!(writer.finish().unwrap(), 1_000_000);
    let expected = local_checksum(&data);
    assert_eq!(server_checksum(&mut client, &table), expected);

    let mut reader = client
        .copy_out(&format!(
            "COPY (SELECT * FROM {table} ORDER BY id) TO STDOUT"
        ))
        .unwrap();
    let mut out = Vec::new();
    reader.read_to_end(&mut out).unwrap();
    assert_eq!(reader.rows(), Some(1_000_000));
    drop(reader);
    assert_eq!(out.len(), data.len());
    assert!(out == data, "the copied-out data differs from what went in");
    // The session is usable.
    let n: i64 = client
        .query_one(&format!("SELECT count(*) FROM {table}"), &[])
        .unwrap()
        .get(0);
    assert_eq!(n, 1_000_000);
}

#[test]
fn csv_with_a_header_and_binary_round_trip() {
    let mut client = client();
    let table = unique_name("copy_formats");
    client
        .batch_execute(&format!(
            "CREATE TABLE {table} (id int, t text, b bytea, f float8); \
             INSERT INTO {table} VALUES (1, 'a,b \"q\"', '\\x00ff1d1b', 1.5), \
             (2, NULL, NULL, 'NaN'), (3, E'line\\nbreak\\ttab', '\\x', -0.0)"
        ))
        .unwrap();
    let mut csv = String::new();
    client
        .copy_out(&format!(
            "COPY (SELECT id, t FROM {table} ORDER BY id) TO STDOUT (FORMAT csv, HEADER)"
        ))
        .unwrap()
        .read_to_string(&mut csv)
        .unwrap();
    assert_eq!(
        csv,
        "id,t\n1,\"a,b \"\"q\"\"\"\n2,\n3,\"line\nbreak\ttab\"\n"
    );

    // Binary: the bytes (NUL, 0xff and the contract's own control characters among them)
    // survive out and back in.
    let mut binary = Vec::new();
    client
        .copy_out(&format!("COPY {table} TO STDOUT (FORMAT binary)"))
        .unwrap()
        .read_to_end(&mut binary)
        .unwrap();
    assert!(binary.starts_with(b"PGCOPY\n\xff\r\n\0"));
    let copy = unique_name("copy_formats_b");
    client
        .batch_execute(&format!("CREATE TABLE {copy} (LIKE {table})"))
        .unwrap();
    let mut writer = client
        .copy_in(&format!("COPY {copy} FROM STDIN (FORMAT binary)"))
        .unwrap();
    writer.write_all(&binary).unwrap();
    assert_eq!(writer.finish().unwrap(), 3);
    let same: bool = client
        .query_one(
            &format!(
                "SELECT NOT EXISTS (SELECT * FROM {table} EXCEPT SELECT * FROM {copy}) \
                 AND NOT EXISTS (SELECT * FROM {copy} EXCEPT SELECT * FROM {table})"
            ),
            &[],
        )
        .unwrap()
        .get(0);
    assert!(same, "the binary round trip changed the rows");

    // CSV in, with a header to skip.
    let mut writer = client
        .copy_in(&format!(
            "COPY {copy} (id, t) FROM STDIN (FORMAT csv, HEADER)"
        ))
        .unwrap();
    writer.write_all(b"id,t\n10,\"x,y\"\n11,\n").unwrap();
    assert_eq!(writer.finish().unwrap(), 2);
    let t: Option<String> = client
        .query_one(&format!("SELECT t FROM {copy} WHERE id = 10"), &[])
        .unwrap()
        .get(0);
    assert_eq!(t.as_deref(), Some("x,y"));
}

#[test]
fn a_bad_row_fails_the_copy_with_its_sqlstate_and_the_session_goes_on() {
    let mut client = client();
    let table = unique_name("copy_bad");
    client
        .batch_execute(&format!("CREATE TABLE {table} (id int)"))
        .unwrap();
    // The bad row comes early; the writer learns of the error while sending the rest.
    let mut writer = client.copy_in(&format!("COPY {table} FROM STDIN")).unwrap();
    writer.write_all(b"1\n2\nnot a number\n").unwrap();
    let mut failed = None;
    for i in 0..2_000_000 {
        if let Err(e) = writeln!(writer, "{i}") {
            failed = Some(e);
            break;
        }
    }
    let io_error = failed.expect("writes went on after the server failed the COPY");
    let error = io_error
        .into_inner()
        .and_then(|e| e.downcast::<wasmpg::Error>().ok())
        .expect("the write error carries the driver's error");
    assert_db_code(&error, "22P02");
    let finished = expect_err(writer.finish(), "finish after a bad row");
    assert_db_code(&finished, "22P02");
    // Nothing was applied, and the session is usable.
    let n: i64 = client
        .query_one(&format!("SELECT count(*) FROM {table}"), &[])
        .unwrap()
        .get(0);
    assert_eq!(n, 0);
    assert!(!client.is_closed());

    // A bad row found only at the end is reported by finish().
    let mut writer = client.copy_in(&format!("COPY {table} FROM STDIN")).unwrap();
    writer.write_all(b"1\n2\nx\n").unwrap();
    assert_db_code(&expect_err(writer.finish(), "finish"), "22P02");
    assert_eq!(
        client.query_one("SELECT 7", &[]).unwrap().get::<_, i32>(0),
        7
    );
}

#[test]
fn an_abandoned_writer_aborts_the_copy() {
    let mut client = client();
    let table = unique_name("copy_abandon");
    client
        .batch_execute(&format!("CREATE TABLE {table} (id int)"))
        .unwrap();
    {
        let mut writer = client.copy_in(&format!("COPY {table} FROM STDIN")).unwrap();
        writer.write_all(b"1\n2\n3\n").unwrap();
        writer.flush().unwrap();
        // Dropped without finish(): CopyFail.
    }
    let n: i64 = client
        .query_one(&format!("SELECT count(*) FROM {table}"), &[])
        .unwrap()
        .get(0);
    assert_eq!(n, 0, "an abandoned COPY applied rows");
    // In a transaction, the abort fails the transaction as the server's error would.
    client.batch_execute("BEGIN").unwrap();
    drop(client.copy_in(&format!("COPY {table} FROM STDIN")).unwrap());
    assert!(client.in_transaction());
    let e = expect_err(
        client.execute("SELECT 1", &[]),
        "query in a failed transaction",
    );
    assert_db_code(&e, "25P02");
    client.batch_execute("ROLLBACK").unwrap();
}

#[test]
fn a_reader_dropped_early_leaves_the_session_usable() {
    let mut client = client();
    {
        let mut reader = client
            .copy_out(
                "COPY (SELECT g, repeat('x', 100) FROM generate_series(1, 200000) g) TO STDOUT",
            )
            .unwrap();
        let mut line = String::new();
        std::io::BufReader::new(&mut reader)
            .read_line(&mut line)
            .unwrap();
        assert!(line.starts_with("1\tx"), "{line:?}");
    }
    assert_eq!(
        client.query_one("SELECT 8", &[]).unwrap().get::<_, i32>(0),
        8
    );
}

#[test]
fn copy_through_the_wrong_api_is_refused_and_the_session_goes_on() {
    let mut client = client();
    let table = unique_name("copy_wrong");
    client
        .batch_execute(&format!(
            "CREATE TABLE {table} (id int); INSERT INTO {table} VALUES (1)"
        ))
        .unwrap();
    let e = expect_err(
        client.execute(&format!("COPY {table} FROM STDIN"), &[]),
        "COPY FROM STDIN through execute",
    );
    assert_kind(&e, ErrorKind::Usage);
    assert!(e.to_string().contains("copy_in"), "{e}");
    let e = expect_err(
        client.simple_query(&format!("COPY {table} TO STDOUT")),
        "COPY TO STDOUT through simple_query",
    );
    assert_kind(&e, ErrorKind::Usage);
    assert!(e.to_string().contains("copy_out"), "{e}");
    let e = expect_err(client.copy_out("SELECT 1"), "copy_out of a SELECT");
    assert_kind(&e, ErrorKind::Usage);
    let e = expect_err(
        client.copy_in(&format!("COPY {table} TO STDOUT")),
        "copy_in of COPY TO STDOUT",
    );
    assert_kind(&e, ErrorKind::Usage);
    let e = expect_err(
        client.copy_in("COPY no_such_table FROM STDIN"),
        "no such table",
    );
    assert_db_code(&e, "42P01");
    let n: i64 = client
        .query_one(&format!("SELECT count(*) FROM {table}"), &[])
        .unwrap()
        .get(0);
    assert_eq!(n, 1);
}

#[test]
fn a_terminated_backend_ends_the_copy_with_an_error_and_closes_the_session() {
    let mut client = client();
    let mut admin = wasmpg_tests::client();
    let table = unique_name("copy_kill");
    client
        .batch_execute(&format!("CREATE TABLE {table} (id int)"))
        .unwrap();
    let pid = client.backend_pid();
    let mut writer = client.copy_in(&format!("COPY {table} FROM STDIN")).unwrap();
    writer.write_all(b"1\n2\n").unwrap();
    writer.flush().unwrap();
    admin
        .execute("SELECT pg_terminate_backend($1)", &[&pid])
        .unwrap();
    let mut result = Ok(());
    for i in 0..10_000_000 {
        if let Err(e) = writeln!(writer, "{i}") {
            result = Err(e);
            break;
        }
    }
    assert!(
        result.is_err(),
        "writes kept succeeding after the backend was terminated"
    );
    let e = expect_err(writer.finish(), "finish after the backend was terminated");
    assert!(
        matches!(e.kind(), ErrorKind::Db | ErrorKind::Closed | ErrorKind::Io),
        "{:?}: {e}",
        e.kind()
    );
    if e.kind() == ErrorKind::Db {
        assert_db_code(&e, "57P01");
    }
    assert!(client.is_closed());
}

#[test]
fn copy_out_streams_in_bounded_memory() {
    let mut client = client();
    // About 400 MB of COPY data, read and dropped as it comes.
    let mut reader = client
        .copy_out("COPY (SELECT g, repeat('y', 390) FROM generate_series(1, 1000000) g) TO STDOUT")
        .unwrap();
    let before = rss_bytes();
    let mut total = 0u64;
    let mut peak = before;
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = reader.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        total += n as u64;
        if total % (32 << 20) < (1 << 16) {
            peak = peak.max(rss_bytes());
        }
    }
    assert!(total > 390_000_000, "{total} bytes");
    assert_eq!(reader.rows(), Some(1_000_000));
    let grew = peak.saturating_sub(before);
    assert!(
        grew < 64 << 20,
        "memory grew by {grew} bytes while streaming {total} bytes"
    );
}

#[test]
fn the_cli_copies_from_stdin_and_to_stdout() {
    let mut client = client();
    let table = unique_name("copy_cli");
    client
        .batch_execute(&format!(
            "CREATE TABLE {table} (id int PRIMARY KEY, t text)"
        ))
        .unwrap();
    let conninfo = cluster().superuser_conninfo();
    let data = million_rows();
    let cli = |sql: String, stdin: Option<&[u8]>| {
        output_with_timeout(
            Command::new(cli_path())
                .arg(&conninfo)
                .arg("-c")
                .arg(sql)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped()),
            stdin,
            Duration::from_secs(180),
        )
        .unwrap()
    };
    let out = cli(format!("COPY {table} FROM STDIN"), Some(&data));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(server_checksum(&mut client, &table), local_checksum(&data));

    let out = cli(
        format!("COPY (SELECT * FROM {table} ORDER BY id) TO STDOUT"),
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stdout == data,
        "the CLI's COPY TO STDOUT differs from the data"
    );

    // A bad row: exit 1 with the server's message, nothing applied.
    let out = cli(
        format!("COPY {table} FROM STDIN"),
        Some(b"2000001\tok\nnope\tbad\n"),
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("22P02"), "{stderr}");
    assert_eq!(server_checksum(&mut client, &table).0, 1_000_000);
}
