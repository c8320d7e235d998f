//! The async Rust rows (issue 15): wasmpg's async client (`wasmpg::tokio`) against
//! tokio-postgres 0.7 (the crate the `postgres` baseline wraps), on one single-threaded tokio
//! runtime (`new_current_thread`): the client's code and both connections' tasks share one
//! thread, pinned with the server to one CPU like the sync rows, so neither contender gets a
//! second core for its connection task.
//!
//! Workloads, the same code for both contenders (`async_workload.rs`, included once per
//! driver): the six-operation ORM workload (each statement awaited before the next), prepared
//! `SELECT 1` round trips, and 1,000 prepared INSERTs sent together. The last runs four ways:
//! tokio-postgres with 1,000 concurrently polled `execute` futures (the baseline), wasmpg with
//! the same code (its automatic pipelining), and wasmpg with an explicit [`wasmpg::Pipeline`],
//! once with a sync point after every INSERT (what the concurrent futures do: each INSERT its
//! own implicit transaction, as in autocommit) and once with a single sync point (one implicit
//! transaction for all 1,000).

use std::collections::BTreeMap;

use crate::common::*;
use crate::{cell, Args};
use wasmpg::serde_json::{json, Value};

#[allow(dead_code)]
mod native {
    use tokio_postgres as drv;
    include!("async_workload.rs");

    /// Connects and spawns the connection's task on the current runtime.
    pub async fn connect(conninfo: &str) -> R<drv::Client> {
        let (client, connection) = tokio_postgres::connect(conninfo, tokio_postgres::NoTls).await?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                eprintln!("tokio-postgres connection ended: {e}");
            }
        });
        Ok(client)
    }
}

#[allow(dead_code)]
mod sandboxed {
    mod drv {
        pub use wasmpg::tokio::Client;
        pub use wasmpg::{types, Row};
    }
    include!("async_workload.rs");

    /// Connects and spawns the connection's task on the current runtime.
    pub async fn connect(driver: &wasmpg::Driver, conninfo: &str) -> R<drv::Client> {
        let (client, connection) = wasmpg::tokio::connect(driver, conninfo).await?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                eprintln!("wasmpg connection ended: {e}");
            }
        });
        Ok(client)
    }

    /// The prepared INSERT once per row in one explicit [`wasmpg::Pipeline`], with a sync point
    /// between every two INSERTs (`sync_each`: each its own implicit transaction, as the
    /// concurrent futures) or only the pipeline's own at the end (one implicit transaction).
    /// Timed as [`insert_concurrent`]: prepare, encode, send, every outcome back.
    pub async fn insert_pipeline(
        c: &drv::Client,
        rows: &[InsertRow],
        sync_each: bool,
    ) -> R<(f64, f64)> {
        insert_reset(c).await?;
        let start = Clock::start();
        let stmt = c.prepare(MICRO_INSERT).await?;
        let mut p = wasmpg::Pipeline::new();
        for (i, (a, b, t, d)) in rows.iter().enumerate() {
            if sync_each && i > 0 {
                p.sync();
            }
            p.query(&stmt, &[a, b, t, d])?;
        }
        let outcomes = c.pipeline(&p).await?;
        let ms = start.stop();
        let mut n = 0;
        for outcome in outcomes {
            n += outcome?.rows_affected().unwrap_or(0);
        }
        ensure(n == rows.len() as u64, || {
            format!(
                "the pipelined INSERTs reported {n} rows, expected {}",
                rows.len()
            )
        })?;
        insert_check(c).await?;
        Ok(ms)
    }
}

/// The baseline and the contender of the six-operation and `SELECT 1` rows.
pub const BASELINE: &str = "tokio-postgres";
pub const CONTENDER: &str = "wasmpg::tokio";

/// The 1,000-INSERT contenders: key, label. The first is the baseline; the next three are
/// autocommit (1,000 transactions); the last three one transaction for all 1,000 INSERTs.
const INSERTS: [(&str, &str); 6] = [
    (
        "tp_join",
        "tokio-postgres: try_join_all of 1,000 execute futures (baseline)",
    ),
    (
        "wp_pipeline_sync_each",
        "wasmpg: explicit Pipeline, a sync point after each INSERT",
    ),
    (
        "wp_join",
        "wasmpg: try_join_all of 1,000 execute futures (automatic)",
    ),
    (
        "tp_join_tx",
        "tokio-postgres: the same try_join_all inside BEGIN/COMMIT",
    ),
    (
        "wp_join_tx",
        "wasmpg: the same try_join_all inside BEGIN/COMMIT",
    ),
    (
        "wp_pipeline_one_sync",
        "wasmpg: explicit Pipeline, one sync point (one transaction)",
    ),
];
/// Times each 1,000-INSERT contender runs per repetition (each run is a sample): one run is
/// only ~10-40 ms, so single samples would be at the mercy of the machine's other jobs.
const INSERT_RUNS: usize = 5;

const OPS: [&str; 6] = [
    "(1) bulk insert, 1 INSERT x {n} rows",
    "(2) {n} x INSERT ... RETURNING id",
    "(3) {n} x UPDATE by id",
    "(4) {n} x (SELECT child, its parent)",
    "(5) SELECT {n} rows into objects",
    "(6) fetchall {n} rows (raw rows)",
];

/// name -> contender -> samples
#[derive(Default)]
struct Samples(BTreeMap<String, BTreeMap<String, Vec<f64>>>);

impl Samples {
    fn push(&mut self, name: &str, who: &str, v: f64) {
        self.0
            .entry(name.to_owned())
            .or_default()
            .entry(who.to_owned())
            .or_default()
            .push(v);
    }
    fn get(&self, name: &str, who: &str) -> &[f64] {
        self.0
            .get(name)
            .and_then(|m| m.get(who))
            .map_or(&[], |v| v.as_slice())
    }
    /// Median of `who` over median of `base`.
    fn ratio(&self, name: &str, who: &str, base: &str) -> f64 {
        median(self.get(name, who)) / median(self.get(name, base))
    }
    /// Range of the ratios of samples taken side by side (same repetition, same run).
    fn paired(&self, name: &str, who: &str, base: &str) -> String {
        let r: Vec<f64> = self
            .get(name, who)
            .iter()
            .zip(self.get(name, base))
            .map(|(x, y)| x / y)
            .collect();
        let (_, lo, hi) = stats(&r);
        format!("{lo:.2}-{hi:.2}x")
    }
    fn json(&self) -> Value {
        json!(self.0)
    }
}

fn wants(args: &Args, workload: &str) -> bool {
    match args.workload.as_deref() {
        None | Some("async") => true,
        Some(w) => w == workload,
    }
}

/// `--only wasmpg` runs wasmpg's rows alone, `--only postgres` (or `tokio-postgres`)
/// tokio-postgres's (profiling).
fn runs(args: &Args, wasmpg: bool) -> bool {
    match args.only.as_deref() {
        None => true,
        Some("wasmpg") => wasmpg,
        Some(_) => !wasmpg,
    }
}

fn print_pair_table(title: &str, unit: &str, rows: &[(String, String)], s: &Samples) {
    println!();
    println!("{title}");
    let w = rows.iter().map(|(l, _)| l.len()).max().unwrap_or(10).max(9);
    println!(
        "| {:<w$} | {:>24} | {:>24} | {:>6} | {:>13} |",
        format!("({unit})"),
        format!("{BASELINE} (baseline)"),
        CONTENDER,
        "ratio",
        "paired ratios"
    );
    println!(
        "|{:-<w2$}|{:->26}|{:->26}|{:->8}|{:->15}|",
        "",
        "",
        "",
        "",
        "",
        w2 = w + 2
    );
    for (label, key) in rows {
        println!(
            "| {:<w$} | {:>24} | {:>24} | {:>5.2}x | {:>13} |",
            label,
            cell(s.get(key, BASELINE)),
            cell(s.get(key, CONTENDER)),
            s.ratio(key, CONTENDER, BASELINE),
            s.paired(key, CONTENDER, BASELINE),
        );
    }
}

fn print_insert_table(title: &str, unit: &str, s: &Samples) {
    println!();
    println!("{title}");
    let w = INSERTS.iter().map(|(_, l)| l.len()).max().unwrap_or(10);
    println!(
        "| {:<w$} | {:>24} | {:>6} | {:>13} |",
        format!("({unit})"),
        "1,000 INSERTs",
        "ratio",
        "paired ratios"
    );
    println!(
        "|{:-<w2$}|{:->26}|{:->8}|{:->15}|",
        "",
        "",
        "",
        "",
        w2 = w + 2
    );
    for (i, (key, label)) in INSERTS.into_iter().enumerate() {
        // Autocommit rows against the baseline, one-transaction rows against tokio-postgres's.
        let base = if i < 3 { "tp_join" } else { "tp_join_tx" };
        println!(
            "| {:<w$} | {:>24} | {:>5.2}x | {:>13} |",
            label,
            cell(s.get("insert", key)),
            s.ratio("insert", key, base),
            s.paired("insert", key, base),
        );
    }
}

/// Runs the async rows against `conninfo` and prints their tables; returns them as JSON.
pub fn run(args: &Args, conninfo: &str, self_pin: &str) -> R<Value> {
    let load_start = crate::loadavg();
    // One runtime, one thread: both contenders' client code and connection tasks.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let driver = wasmpg::Driver::new()?;
    let (tp, wp) = rt.block_on(async {
        let tp = native::connect(conninfo).await?;
        let wp = sandboxed::connect(&driver, conninfo).await?;
        R::Ok((tp, wp))
    })?;
    let (version, server_cpus) = rt.block_on(async {
        let version = native::server_version(&tp).await?;
        let wp_version = sandboxed::server_version(&wp).await?;
        ensure(version == wp_version, || {
            "the contenders see different servers".into()
        })?;
        let pid: i32 = tp
            .query_one("SELECT pg_backend_pid()", &[])
            .await?
            .try_get(0)?;
        let cpus = crate::status_field(&pid.to_string(), "Cpus_allowed_list")
            .unwrap_or_else(|| "unknown (server not visible in /proc)".into());
        R::Ok((version, cpus))
    })?;
    let client_cpus = crate::status_field("self", "Cpus_allowed_list").unwrap_or_default();

    println!();
    println!("== Async Rust: {CONTENDER} (wasmpg's async client) vs {BASELINE} 0.7 (baseline) ==");
    println!("Condition:");
    println!(
        "  one tokio runtime, new_current_thread (a single thread runs the workload and both connections' tasks)"
    );
    println!("  client: {self_pin}; allowed CPUs {client_cpus} | server backend allowed CPUs: {server_cpus}");
    println!(
        "  PostgreSQL {version}, TCP 127.0.0.1 (both contenders); CPU: {}",
        crate::cpu_model()
    );
    println!("  load average at start: {load_start} (other jobs may share the machine)");
    println!(
        "  {} warm-up + {} measured repetitions, contenders interleaved per repetition (order alternates); the 1,000-INSERT rows: {INSERT_RUNS} runs of each per repetition, order rotating",
        args.warmup, args.reps
    );

    let data = Data::new(args.objects);
    let insert_rows: Vec<_> = (1..=MICRO_INSERTS as i32).map(micro_insert_row).collect();
    rt.block_on(async {
        if runs(args, false) {
            native::micro_setup(&tp).await?;
        } else {
            sandboxed::micro_setup(&wp).await?;
        }
        R::Ok(())
    })?;

    let mut s = Samples::default();
    let mut sc = Samples::default();
    let mut m = Samples::default();
    let mut mc = Samples::default();
    let mut ins = Samples::default();
    let mut insc = Samples::default();
    let total = args.warmup + args.reps;
    for rep in 0..total {
        let measured = rep >= args.warmup;
        let order: [&str; 2] = if rep % 2 == 0 {
            [BASELINE, CONTENDER]
        } else {
            [CONTENDER, BASELINE]
        };
        for who in order {
            let wasm = who == CONTENDER;
            if !runs(args, wasm) || !wants(args, "six") {
                continue;
            }
            let (wall, cpu) = rt
                .block_on(async {
                    if wasm {
                        sandboxed::six_ops(&wp, &data).await
                    } else {
                        native::six_ops(&tp, &data).await
                    }
                })
                .map_err(|e| {
                    format!(
                        "async six-operation workload, {who}, repetition {}: {e}",
                        rep + 1
                    )
                })?;
            if measured {
                for i in 0..6 {
                    s.push(OPS[i], who, wall[i]);
                    sc.push(OPS[i], who, cpu[i]);
                }
                s.push("total", who, wall.iter().sum());
                sc.push("total", who, cpu.iter().sum());
            }
        }
        for who in order {
            let wasm = who == CONTENDER;
            if !runs(args, wasm) || !wants(args, "select1") {
                continue;
            }
            let (wall, cpu) = rt
                .block_on(async {
                    if wasm {
                        sandboxed::select1(&wp, args.select1).await
                    } else {
                        native::select1(&tp, args.select1).await
                    }
                })
                .map_err(|e| format!("async SELECT 1, {who}: {e}"))?;
            if measured {
                m.push("select1", who, wall);
                mc.push("select1", who, cpu);
            }
        }
        if wants(args, "pipeline") {
            for run in 0..INSERT_RUNS {
                let k = rep * INSERT_RUNS + run;
                for j in 0..INSERTS.len() {
                    let key = INSERTS[(k + j) % INSERTS.len()].0;
                    let wasm = key.starts_with("wp_");
                    if !runs(args, wasm) {
                        continue;
                    }
                    let (wall, cpu) = rt
                        .block_on(async {
                            match key {
                                "tp_join" => {
                                    native::insert_concurrent(&tp, &insert_rows, false).await
                                }
                                "tp_join_tx" => {
                                    native::insert_concurrent(&tp, &insert_rows, true).await
                                }
                                "wp_join" => {
                                    sandboxed::insert_concurrent(&wp, &insert_rows, false).await
                                }
                                "wp_join_tx" => {
                                    sandboxed::insert_concurrent(&wp, &insert_rows, true).await
                                }
                                "wp_pipeline_sync_each" => {
                                    sandboxed::insert_pipeline(&wp, &insert_rows, true).await
                                }
                                _ => sandboxed::insert_pipeline(&wp, &insert_rows, false).await,
                            }
                        })
                        .map_err(|e| format!("1,000 INSERTs, {key}: {e}"))?;
                    if measured {
                        ins.push("insert", key, wall);
                        insc.push("insert", key, cpu);
                    }
                }
            }
        }
        eprintln!("async repetition {}/{total} done", rep + 1);
    }
    drop((tp, wp));
    // Let the connection tasks see their clients go and end their sessions.
    rt.block_on(tokio::task::yield_now());

    let mut rows: Vec<(String, String)> = OPS
        .iter()
        .map(|o| (o.replace("{n}", &args.objects.to_string()), o.to_string()))
        .collect();
    rows.push(("six-operation total".into(), "total".into()));
    let select1_rows = [(
        format!(
            "SELECT 1 round trip, prepared (µs/op, {} per rep)",
            args.select1
        ),
        "select1".to_owned(),
    )];
    if wants(args, "six") {
        print_pair_table(
            &format!(
                "== Async six-operation ORM workload, {} objects, autocommit (ms; median [min-max]; ratio = {CONTENDER} / {BASELINE}) ==",
                args.objects
            ),
            "ms",
            &rows,
            &s,
        );
        print_pair_table(
            "-- the same, client CPU time only (user+system of the runtime's thread: workload and connection tasks; ms) --",
            "CPU ms",
            &rows,
            &sc,
        );
    }
    if wants(args, "select1") {
        print_pair_table(
            "== Async SELECT 1 (median [min-max]) ==",
            "µs",
            &select1_rows,
            &m,
        );
        print_pair_table(
            "-- the same, client CPU time only (µs) --",
            "CPU µs",
            &select1_rows,
            &mc,
        );
    }
    if wants(args, "pipeline") {
        print_insert_table(
            "== 1,000 prepared INSERTs sent together (ms; median [min-max] of all runs; ratio against tokio-postgres's try_join_all: \
             autocommit rows against the baseline, one-transaction rows against its BEGIN/COMMIT row) ==",
            "ms",
            &ins,
        );
        print_insert_table("-- the same, client CPU time only (ms) --", "CPU ms", &insc);
    }

    println!();
    println!("== Issue 15 targets (wasmpg::tokio vs tokio-postgres, same run) ==");
    let mut all_met = true;
    let mut targets = Vec::new();
    let mut target = |name: &str, value: f64, limit: f64| {
        let met = value <= limit;
        all_met &= met;
        println!(
            "  [{}] {name}: {value:.2}x (target <= {limit}x)",
            if met { "MET   " } else { "MISSED" }
        );
        targets.push(json!({"target": name, "ratio": value, "limit": limit, "met": met}));
    };
    let full = args.only.is_none();
    if full && wants(args, "six") {
        target(
            "async six-operation total, ratio",
            s.ratio("total", CONTENDER, BASELINE),
            1.10,
        );
    }
    if full && wants(args, "select1") {
        target(
            "async SELECT 1 round trip, ratio",
            m.ratio("select1", CONTENDER, BASELINE),
            1.10,
        );
    }
    if full && wants(args, "pipeline") {
        target(
            "1,000 INSERTs: explicit Pipeline (sync point after each) vs tokio-postgres try_join_all, ratio",
            ins.ratio("insert", "wp_pipeline_sync_each", "tp_join"),
            1.0,
        );
        println!(
            "  (for information: wasmpg try_join_all (automatic pipelining) {:.2}x; in one transaction: \
             wasmpg try_join_all {:.2}x and explicit Pipeline with one sync point {:.2}x of tokio-postgres's \
             try_join_all in BEGIN/COMMIT; async six-operation (2)/(3)/(4) {:.2}x/{:.2}x/{:.2}x)",
            ins.ratio("insert", "wp_join", "tp_join"),
            ins.ratio("insert", "wp_join_tx", "tp_join_tx"),
            ins.ratio("insert", "wp_pipeline_one_sync", "tp_join_tx"),
            s.ratio(OPS[1], CONTENDER, BASELINE),
            s.ratio(OPS[2], CONTENDER, BASELINE),
            s.ratio(OPS[3], CONTENDER, BASELINE),
        );
    }
    let load_end = crate::loadavg();
    println!("load average at end: {load_end}");
    let medians: Value = INSERTS
        .iter()
        .map(|(k, _)| ((*k).to_owned(), json!(median(ins.get("insert", k)))))
        .collect::<wasmpg::serde_json::Map<String, Value>>()
        .into();
    Ok(json!({
        "condition": {
            "runtime": "tokio current_thread (one thread)",
            "client": self_pin, "client_cpus": client_cpus, "server_cpus": server_cpus,
            "cpu": crate::cpu_model(), "postgres": version,
            "load_start": load_start, "load_end": load_end,
            "warmup": args.warmup, "reps": args.reps, "objects": args.objects,
            "select1_iters": args.select1, "insert_runs_per_rep": INSERT_RUNS,
        },
        "baseline": BASELINE, "contender": CONTENDER,
        "ops": OPS,
        "six_ops": s.json(), "six_ops_cpu": sc.json(),
        "select1": m.json(), "select1_cpu": mc.json(),
        "inserts": INSERTS.iter().map(|(k, l)| json!({"key": k, "label": l})).collect::<Vec<_>>(),
        "insert": ins.json(), "insert_cpu": insc.json(), "insert_medians_ms": medians,
        "targets": targets,
        "all_targets_met": all_met,
    }))
}
