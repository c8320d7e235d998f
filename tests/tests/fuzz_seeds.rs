//! Records the seed corpora of the fuzz targets (fuzz/corpus/<target>/) from real sessions
//! with the real server. Not part of the suite (`#[ignore]`): run it when the protocol code
//! changes enough that new seeds help, then commit what it wrote:
//!
//! ```sh
//! cargo test --release -p wasmpg-tests --test fuzz_seeds -- --ignored
//! ```
//!
//! * `session`: scripted sessions through a recording [`Proxy`], written in the record format
//!   of fuzz/src/lib.rs: every request the client made, then the server bytes it got back.
//! * `decode`: the server's text output of one value per type (`0xFF`, the OID, the text).
//! * `encode`: the canonical forms of those values (decoded by the guest's own decoders).
//! * `batch`: rows of those canonical values as row batches.

use std::path::{Path, PathBuf};

use wasmpg::types::ToSql;
use wasmpg::{Client, Driver};
use wasmpg_guest::codec::decoder_for;
use wasmpg_tests::*;
use wasmpg_wire::batch::BatchWriter;

fn corpus(target: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn write_seed(target: &str, name: &str, bytes: &[u8]) {
    let path = corpus(target).join(name);
    std::fs::write(&path, bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

/// One record of the `session` format: tag, u16 length, payload (split when longer).
fn record(tag: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    if payload.is_empty() {
        return vec![tag, 0, 0];
    }
    for chunk in payload.chunks(u16::MAX as usize) {
        out.push(tag);
        out.extend_from_slice(&(chunk.len() as u16).to_be_bytes());
        out.extend_from_slice(chunk);
    }
    out
}

/// A parameter row in the row-batch layout (plain values, no escaping needed).
fn batch(values: &[Option<&str>]) -> String {
    let mut w = BatchWriter::default();
    for v in values {
        match v {
            Some(v) => w.push_field(v),
            None => w.push_null(),
        }
    }
    w.end_row();
    w.take().expect("the values are text").data
}

/// A session recorder: the client's requests mirrored as records, each followed by the server
/// bytes that answered it.
struct Recorder {
    proxy: Proxy,
    seed: Vec<u8>,
    prepared: u32,
}

impl Recorder {
    fn start() -> Recorder {
        Recorder {
            proxy: Proxy::start(cluster().port, ProxyConfig::default()),
            // Mode byte: odd = the fuzz session's conninfo has a password.
            seed: vec![1],
            prepared: 0,
        }
    }

    fn conninfo(&self, role: &Role) -> String {
        let mut c = format!(
            "host=127.0.0.1 port={} user={} dbname={DBNAME}",
            self.proxy.port, role.name
        );
        if let Some(p) = role.password {
            c.push_str(&format!(" password={p}"));
        }
        c
    }

    /// Appends what the server sent since the last call.
    fn server(&mut self) {
        let bytes = self.proxy.take_recorded();
        if !bytes.is_empty() {
            self.seed.extend(record(b'F', &bytes));
        }
    }

    fn connect(&mut self, driver: &Driver, role: &Role) -> Option<Client> {
        let client = driver.connect(&self.conninfo(role)).ok();
        self.server();
        client
    }

    fn simple(&mut self, c: &mut Client, sql: &str) {
        self.seed.extend(record(b'Q', sql.as_bytes()));
        let _ = c.simple_query(sql);
        self.server();
    }

    /// `types` and canonical `values` must be what the host sends for `params`.
    fn query(
        &mut self,
        c: &mut Client,
        sql: &str,
        types: &[u32],
        values: &[Option<&str>],
        params: &[&(dyn ToSql + Sync)],
    ) {
        let params_batch = batch(values);
        let mut payload = vec![types.len() as u8];
        for t in types {
            payload.extend_from_slice(&t.to_be_bytes());
        }
        payload.extend_from_slice(&(params_batch.len() as u16).to_be_bytes());
        payload.extend_from_slice(params_batch.as_bytes());
        payload.extend_from_slice(sql.as_bytes());
        self.seed.extend(record(b'X', &payload));
        let _ = c.query(sql, params);
        self.server();
    }

    fn prepare_execute_close(&mut self, c: &mut Client, sql: &str, value: i32) {
        self.prepared += 1;
        let name = format!("wasmpg_p{}", self.prepared);
        let mut payload = name.as_bytes().to_vec();
        payload.push(0);
        payload.extend_from_slice(sql.as_bytes());
        self.seed.extend(record(b'P', &payload));
        let statement = c.prepare(sql);
        self.server();
        let Ok(statement) = statement else { return };
        let text = value.to_string();
        let mut payload = name.as_bytes().to_vec();
        payload.push(0);
        payload.extend_from_slice(batch(&[Some(&text)]).as_bytes());
        self.seed.extend(record(b'x', &payload));
        let _ = c.query(&statement, &[&value]);
        self.server();
        self.seed.extend(record(b'C', name.as_bytes()));
        let _ = c.close_statement(statement);
        self.server();
    }

    fn finish(mut self, name: &str, client: Option<Client>) {
        if let Some(c) = client {
            self.seed.extend(record(b'T', b""));
            let _ = c.close();
        }
        self.server();
        self.seed.extend(record(b'E', b""));
        write_seed("session", &format!("real-{name}"), &self.seed);
    }
}

/// Each role's startup and one query.
fn record_authentication() {
    let driver = driver();
    for role in AUTH_ROLES {
        let mut r = Recorder::start();
        let mut c = r.connect(driver, &role).expect("connect");
        r.simple(&mut c, "SELECT current_user");
        r.finish(&format!("auth-{}", role.method), Some(c));
    }
    // Failures during startup.
    let mut r = Recorder::start();
    let bad = Role {
        password: Some("wrong"),
        ..SCRAM_USER
    };
    let c = r.connect(driver, &bad);
    r.finish("auth-failed", c);
    let mut r = Recorder::start();
    let c = driver
        .connect(&format!(
            "host=127.0.0.1 port={} user=postgres dbname=no_such_db",
            r.proxy.port
        ))
        .ok();
    r.server();
    r.finish("no-database", c);
}

fn record_queries() {
    let driver = driver();
    let mut r = Recorder::start();
    let mut c = r.connect(driver, &TRUST_USER).expect("connect");
    r.simple(&mut c, "SELECT 1 AS one, NULL::text AS nothing, 'x' AS x");
    r.simple(&mut c, "SELECT 1; SELECT 2, 3; SET search_path = public");
    r.simple(&mut c, "");
    r.simple(&mut c, "SELECT 1/0");
    r.simple(&mut c, "DO $$ BEGIN RAISE NOTICE 'hello %', 42; END $$");
    r.simple(&mut c, "SELECT FROM generate_series(1, 3)");
    r.simple(
        &mut c,
        "SELECT g, repeat('y', g % 7) FROM generate_series(1, 60) g",
    );
    r.query(
        &mut c,
        "SELECT $1::int * 2, $2::text",
        &[23, 25],
        &[Some("21"), Some("tag")],
        &[&21i32, &"tag"],
    );
    r.query(&mut c, "SELECT $1::int", &[23], &[None], &[&None::<i32>]);
    r.query(&mut c, "SELECT no_such_column", &[], &[], &[]);
    r.prepare_execute_close(&mut c, "SELECT $1::int + 1", 41);
    r.simple(&mut c, "BEGIN");
    r.simple(&mut c, "SELECT 1/0");
    r.simple(&mut c, "SELECT 1");
    r.simple(&mut c, "ROLLBACK");
    r.simple(&mut c, "LISTEN wasmpg_seed; NOTIFY wasmpg_seed, 'payload'");
    r.simple(&mut c, "COPY (SELECT 1) TO STDOUT");
    r.simple(
        &mut c,
        "CREATE TEMP TABLE seed_t (v int); COPY seed_t FROM STDIN",
    );
    r.simple(&mut c, "SET application_name = 'seeded'");
    r.finish("queries", Some(c));

    // One row of every type the codec knows, through both protocols.
    let mut r = Recorder::start();
    let mut c = r.connect(driver, &TRUST_USER).expect("connect");
    let select = format!(
        "SELECT {}",
        VALUES
            .iter()
            .map(|(_, e)| *e)
            .collect::<Vec<_>>()
            .join(", ")
    );
    r.simple(&mut c, &select);
    r.query(&mut c, &select, &[], &[], &[]);
    r.finish("types", Some(c));
}

/// (OID, SQL expression) for every type the codec knows, with awkward values.
const VALUES: &[(u32, &str)] = &[
    (16, "true"),
    (17, r"'\x00ff1e1f'::bytea"),
    (18, "'q'::\"char\""),
    (19, "'a name'::name"),
    (20, "'-9223372036854775808'::int8"),
    (21, "32767::int2"),
    (23, "'-2147483648'::int4"),
    (25, "E'tab\\there \\u00e9 \\x1e'::text"),
    (26, "4294967295::oid"),
    (114, "'{\"a\": [1, null]}'::json"),
    (700, "'-Infinity'::float4"),
    (701, "1e-300::float8"),
    (1042, "'ab'::char(4)"),
    (1043, "'v'::varchar"),
    (1082, "'4713-01-01 BC'::date"),
    (1083, "'23:59:59.999999'::time"),
    (1114, "'294276-12-31 23:59:59.999999'::timestamp"),
    (1184, "'1900-01-01 00:00:00+00:09:21'::timestamptz"),
    (
        1186,
        "'-178956970 years -8 months -2147483647 days -2562047788:00:54.775807'::interval",
    ),
    (1266, "'24:00:00-15:59:59'::timetz"),
    (1700, "'NaN'::numeric"),
    (2950, "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid"),
    (3802, "'{\"k\": \"\\u0001x\"}'::text::jsonb"),
    (1000, "'{t,NULL,f}'::bool[]"),
    (1001, r"ARRAY['\x00'::bytea, NULL]"),
    (1005, "'[0:1]={1,2}'::int2[]"),
    (1007, "'{{1,2},{3,4}}'::int4[]"),
    (
        1009,
        r#"ARRAY['a"b', 'NULL', '', NULL, 'c\d', ' s ']::text[]"#,
    ),
    (1015, "'{}'::varchar[]"),
    (1016, "ARRAY[9223372036854775807]::int8[]"),
    (1021, "'{NaN,Infinity}'::float4[]"),
    (1022, "'{1.5,-0}'::float8[]"),
    (
        1115,
        "ARRAY['infinity'::timestamp, '2000-01-01 00:00:00.5']",
    ),
    (1182, "ARRAY['infinity'::date, '0001-01-01 BC']"),
    (1183, "ARRAY['00:00:00'::time]"),
    (1185, "ARRAY['2000-01-01 00:00:00+05:30'::timestamptz]"),
    (1187, "ARRAY['1 day -00:00:01'::interval, '-1 mons']"),
    (1231, "'{1.000,-0.5,NaN}'::numeric[]"),
    (1270, "ARRAY['01:02:03+04:05'::timetz]"),
    (2951, "ARRAY['a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid]"),
    (3807, "ARRAY['[1]'::jsonb, 'null']"),
    (199, "ARRAY['{}'::json]"),
];

fn record_codecs() {
    let cluster = cluster();
    let mut canonical_row = Vec::new();
    for (i, (oid, expr)) in VALUES.iter().enumerate() {
        // The server's text output (psql prints it unchanged, without quoting).
        let text = cluster.psql(&format!("SET TimeZone = 'UTC'; SELECT ({expr})"));
        let mut seed = vec![0xff];
        seed.extend_from_slice(&oid.to_be_bytes());
        seed.extend_from_slice(text.as_bytes());
        write_seed("decode", &format!("real-{i:02}-{oid}"), &seed);
        let mut canonical = Vec::new();
        decoder_for(*oid)
            .decode(text.as_bytes(), &mut canonical)
            .unwrap_or_else(|e| panic!("{expr}: {text:?}: {e}"));
        let canonical = String::from_utf8(canonical).expect("a decoder writes text");
        let mut seed = vec![0xff];
        seed.extend_from_slice(&oid.to_be_bytes());
        seed.extend_from_slice(canonical.as_bytes());
        write_seed("encode", &format!("real-{i:02}-{oid}"), &seed);
        canonical_row.push(canonical);
    }
    let mut w = BatchWriter::default();
    for chunk in canonical_row.chunks(8) {
        for v in chunk {
            w.push_field(v);
        }
        w.push_null();
        w.end_row();
    }
    write_seed(
        "batch",
        "real-rows",
        w.take().expect("the fields are text").data.as_bytes(),
    );
}

#[test]
#[ignore = "writes fuzz/corpus; run by hand (see the file's doc)"]
fn record_fuzz_seeds() {
    record_authentication();
    record_queries();
    record_codecs();
    for target in ["session", "decode", "encode", "batch"] {
        let dir = corpus(target);
        let (files, bytes) = std::fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .fold((0, 0), |(n, b), e| {
                (n + 1, b + e.metadata().map_or(0, |m| m.len()))
            });
        println!("{}: {files} seeds, {bytes} bytes", dir.display());
    }
}
