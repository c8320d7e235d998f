//! The COPY rows of the Rust bench (issue 14's targets): 1,000,000 rows in and out through
//! `psql -c "COPY ..."` (the named baseline: libpq's COPY, the same data from and to files),
//! the wasmpg CLI doing the same, the wasmpg host's `copy_in`/`copy_out`, and the native
//! `postgres` crate's for reference. Each repetition runs every contender once, interleaved,
//! and each COPY's result is checked (row count in, bytes out).

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use crate::cell;
use crate::common::{fail, median, ms_since, R};
use wasmpg::serde_json::{json, Value};

const ROWS: usize = 1_000_000;

/// The data: an int, a text of 20-40 characters, a date, a numeric; about 60 MB.
fn data() -> Vec<u8> {
    let mut out = Vec::with_capacity(64 << 20);
    for i in 1..=ROWS {
        writeln!(
            out,
            "{i}\tcustomer {i} of the benchmark set\t2026-{:02}-{:02}\t{}.{:02}",
            i % 12 + 1,
            i % 28 + 1,
            i % 100_000,
            i % 100
        )
        .unwrap_or_default();
    }
    out
}

const TABLE: &str = "bench_copy";
const CREATE: &str = "DROP TABLE IF EXISTS bench_copy; \
     CREATE UNLOGGED TABLE bench_copy (id int, name text, day date, amount numeric)";
const COPY_IN: &str = "COPY bench_copy FROM STDIN";
const COPY_OUT: &str = "COPY bench_copy TO STDOUT";

struct Tools {
    psql: PathBuf,
    cli: PathBuf,
}

fn tools() -> R<Tools> {
    let bindir = wasmpg_pgcluster::find_bindir()?;
    let psql = bindir.join("psql");
    // The CLI is built next to this binary (cargo build --release builds the workspace's
    // binaries into one directory).
    let here = std::env::current_exe()?;
    let cli = here.with_file_name("wasmpg");
    if !cli.exists() {
        return Err(fail(format!(
            "the wasmpg CLI is not built at {} (cargo build --release -p wasmpg-cli)",
            cli.display()
        )));
    }
    Ok(Tools { psql, cli })
}

/// Runs `program conninfo -c sql` (psql and the CLI take the same arguments for this) with
/// stdin from `input` or stdout to `output`; returns the time.
fn run_tool(
    program: &Path,
    conninfo: &str,
    sql: &str,
    input: Option<&Path>,
    output: Option<&Path>,
) -> R<f64> {
    let mut cmd = Command::new(program);
    cmd.arg(conninfo).arg("-c").arg(sql).stderr(Stdio::piped());
    if program.ends_with("psql") {
        cmd.arg("-X").arg("-q").arg("-v").arg("ON_ERROR_STOP=1");
    }
    cmd.stdin(match input {
        Some(p) => Stdio::from(std::fs::File::open(p)?),
        None => Stdio::null(),
    });
    cmd.stdout(match output {
        Some(p) => Stdio::from(std::fs::File::create(p)?),
        None => Stdio::null(),
    });
    let t = Instant::now();
    let out = cmd.output()?;
    let ms = ms_since(t);
    if !out.status.success() {
        return Err(fail(format!(
            "{} failed: {}",
            program.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(ms)
}

/// Runs the rows and prints their table; returns them as JSON.
pub fn run(conninfo: &str, reps: usize) -> R<Value> {
    let tools = tools()?;
    let dir = std::env::temp_dir().join(format!("wasmpg-bench-copy-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let input = dir.join("in.tsv");
    let output = dir.join("out.tsv");
    let data = data();
    std::fs::write(&input, &data)?;
    let result = measure(conninfo, reps, &tools, &data, &input, &output);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn measure(
    conninfo: &str,
    reps: usize,
    tools: &Tools,
    data: &[u8],
    input: &Path,
    output: &Path,
) -> R<Value> {
    let driver = wasmpg::Driver::new()?;
    let mut client = driver.connect(conninfo)?;
    let mut native = postgres::Client::connect(conninfo, postgres::NoTls)?;
    let names = [
        "psql -c",
        "wasmpg CLI -c",
        "wasmpg host API",
        "postgres crate",
    ];
    let mut ins: Vec<Vec<f64>> = vec![Vec::new(); 4];
    let mut outs: Vec<Vec<f64>> = vec![Vec::new(); 4];
    let check_in = |client: &mut wasmpg::Client| -> R<()> {
        let n: i64 = client
            .query_one(&format!("SELECT count(*) FROM {TABLE}"), &[])?
            .get(0);
        if n != ROWS as i64 {
            return Err(fail(format!("VERIFICATION FAILED: {n} rows copied in")));
        }
        Ok(())
    };
    for rep in 0..reps + 1 {
        let mut times_in = [0.0; 4];
        let mut times_out = [0.0; 4];
        for (k, time) in times_in.iter_mut().enumerate() {
            client.batch_execute(CREATE)?;
            *time = match k {
                0 => run_tool(&tools.psql, conninfo, COPY_IN, Some(input), None)?,
                1 => run_tool(&tools.cli, conninfo, COPY_IN, Some(input), None)?,
                2 => {
                    let t = Instant::now();
                    let mut w = client.copy_in(COPY_IN)?;
                    w.write_all(data)?;
                    let n = w.finish()?;
                    if n != ROWS as u64 {
                        return Err(fail(format!("VERIFICATION FAILED: copy_in reported {n}")));
                    }
                    ms_since(t)
                }
                _ => {
                    let t = Instant::now();
                    let mut w = native.copy_in(COPY_IN)?;
                    w.write_all(data)?;
                    w.finish()?;
                    ms_since(t)
                }
            };
            check_in(&mut client)?;
        }
        for (k, time) in times_out.iter_mut().enumerate() {
            let bytes = match k {
                0 | 1 => {
                    let tool = if k == 0 { &tools.psql } else { &tools.cli };
                    *time = run_tool(tool, conninfo, COPY_OUT, None, Some(output))?;
                    std::fs::metadata(output)?.len() as usize
                }
                2 => {
                    let t = Instant::now();
                    let mut r = client.copy_out(COPY_OUT)?;
                    let mut sink = Vec::with_capacity(data.len());
                    r.read_to_end(&mut sink)?;
                    *time = ms_since(t);
                    sink.len()
                }
                _ => {
                    let t = Instant::now();
                    let mut r = native.copy_out(COPY_OUT)?;
                    let mut sink = Vec::with_capacity(data.len());
                    r.read_to_end(&mut sink)?;
                    *time = ms_since(t);
                    sink.len()
                }
            };
            if bytes != data.len() {
                return Err(fail(format!(
                    "VERIFICATION FAILED: {} copied out {bytes} bytes, {} went in",
                    names[k],
                    data.len()
                )));
            }
        }
        if rep >= 1 {
            for k in 0..4 {
                ins[k].push(times_in[k]);
                outs[k].push(times_out[k]);
            }
        }
    }
    println!();
    println!(
        "== COPY: {ROWS} rows ({:.1} MB of text) in and out; ms, median [min-max]; ratio to psql -c ==",
        data.len() as f64 / 1e6
    );
    println!(
        "| {:<18} | {:>24} | {:>7} | {:>24} | {:>7} |",
        "contender", "COPY FROM STDIN", "ratio", "COPY TO STDOUT", "ratio"
    );
    println!(
        "|{:-<20}|{:->26}|{:->9}|{:->26}|{:->9}|",
        "", "", "", "", ""
    );
    for k in 0..4 {
        println!(
            "| {:<18} | {:>24} | {:>6.2}x | {:>24} | {:>6.2}x |",
            names[k],
            cell(&ins[k]),
            median(&ins[k]) / median(&ins[0]),
            cell(&outs[k]),
            median(&outs[k]) / median(&outs[0]),
        );
    }
    println!("targets (issue 14): the wasmpg CLI and host API <= 1.2x psql -c, in and out");
    let mut rows = Vec::new();
    for k in 0..4 {
        rows.push(json!({"contender": names[k], "in_ms": ins[k], "out_ms": outs[k]}));
    }
    client.batch_execute(&format!("DROP TABLE {TABLE}"))?;
    Ok(json!({"rows": ROWS, "bytes": data.len(), "contenders": rows}))
}
