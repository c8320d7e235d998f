//! The TLS rows of the Rust bench: the wasmpg host over TLS (verify-full against the cluster's
//! own CA, the cipher the server chose) against the same host in clear, on the same cluster:
//! connect time, a 100,000-row fetch, and from their difference the guest's TLS throughput
//! (decryption and record handling of the bytes the fetch received). The comparison with
//! libpq over TLS is bench/tls_bench.py's (psycopg2 against wasmpg's Python package).

use std::time::Instant;

use crate::cell;
use crate::common::{median, ms_since, R};
use wasmpg::serde_json::{json, Value};

/// The fetch: 100,000 rows of an int and a 32-character text.
const FETCH: &str = "SELECT g, md5(g::text) FROM generate_series(1, 100000) g";

/// Runs the rows and prints their table; returns them as JSON.
pub fn run(plain: &str, tls: &str, reps: usize) -> R<Value> {
    // One driver for both: the CA file the TLS conninfo names is readable (as for the CLI).
    let driver = &wasmpg::Driver::with_config(wasmpg::Config {
        read_any_file: true,
        ..wasmpg::Config::default()
    })?;
    let connects = 30;
    let (mut c_plain, mut c_tls) = (Vec::new(), Vec::new());
    for i in 0..connects + 3 {
        let t = Instant::now();
        drop(driver.connect(plain)?);
        let p = ms_since(t);
        let t = Instant::now();
        drop(driver.connect(tls)?);
        let s = ms_since(t);
        if i >= 3 {
            c_plain.push(p);
            c_tls.push(s);
        }
    }
    let mut cp = driver.connect(plain)?;
    let mut ct = driver.connect(tls)?;
    let row = ct.query_one(
        "SELECT ssl, version, cipher FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
        &[],
    )?;
    let (ssl, version, cipher): (bool, String, String) = (row.get(0), row.get(1), row.get(2));
    if !ssl {
        return Err("the TLS conninfo gave an unencrypted session".into());
    }
    // What the fetch carries on the wire: the values plus each DataRow's 15 bytes of framing.
    let bytes: i64 = cp
        .query_one(
            "SELECT sum(octet_length(g::text) + 32 + 15)::int8 FROM generate_series(1, 100000) g",
            &[],
        )?
        .get(0);
    let (mut f_plain, mut f_tls) = (Vec::new(), Vec::new());
    for i in 0..reps + 1 {
        let t = Instant::now();
        let n = cp.query(FETCH, &[])?.len();
        let p = ms_since(t);
        let t = Instant::now();
        let m = ct.query(FETCH, &[])?.len();
        let s = ms_since(t);
        if n != 100_000 || m != 100_000 {
            return Err(format!("VERIFICATION FAILED: fetched {n} and {m} rows").into());
        }
        if i >= 1 {
            f_plain.push(p);
            f_tls.push(s);
        }
    }
    let extra_ms = median(&f_tls) - median(&f_plain);
    let throughput = if extra_ms > 0.0 {
        bytes as f64 / 1048576.0 / (extra_ms / 1000.0)
    } else {
        f64::INFINITY
    };
    println!();
    println!(
        "== TLS: the wasmpg host with TLS ({version}, {cipher}; verify-full) and in clear, same cluster; ms, median [min-max] =="
    );
    println!(
        "| {:<60} | {:>24} | {:>24} | {:>7} |",
        "what", "clear", "TLS", "ratio"
    );
    println!("|{:-<62}|{:->26}|{:->26}|{:->9}|", "", "", "", "");
    println!(
        "| {:<60} | {:>24} | {:>24} | {:>6.2}x |",
        format!("Driver::connect ({connects} each, interleaved)"),
        cell(&c_plain),
        cell(&c_tls),
        median(&c_tls) / median(&c_plain)
    );
    println!(
        "| {:<60} | {:>24} | {:>24} | {:>6.2}x |",
        format!(
            "100,000-row fetch ({:.1} MiB on the wire)",
            bytes as f64 / 1048576.0
        ),
        cell(&f_plain),
        cell(&f_tls),
        median(&f_tls) / median(&f_plain)
    );
    println!(
        "guest TLS throughput (fetch bytes / the fetch's extra time over TLS): {throughput:.0} MiB/s"
    );
    Ok(json!({
        "version": version, "cipher": cipher,
        "connect_ms": {"clear": c_plain, "tls": c_tls},
        "fetch_ms": {"clear": f_plain, "tls": f_tls},
        "fetch_bytes": bytes, "throughput_mib_s": throughput,
    }))
}
