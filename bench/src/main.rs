//! wasmpg-bench: the Rust contenders — the wasmpg host (protocol client sandboxed in Wasm) and
//! the native `postgres` crate (the named baseline) — on the same workloads, same server, same
//! run, interleaved per repetition.
//!
//! ```text
//! wasmpg-bench [run] [--conninfo C] [--reps N] [--warmup N] [--objects N] [--select1 N]
//!                    [--json PATH] [--no-pin] [--cpu N]
//! wasmpg-bench serve [--no-pin] [--cpu N]   # start a throwaway cluster, print its conninfo,
//!                                            # keep it until stdin closes (used by bench/run)
//! wasmpg-bench async [--conninfo C] [--reps N] ...  # the async rows (wasmpg::tokio vs
//!                                                    # tokio-postgres, `async_bench.rs`)
//! ```
//!
//! Without `--conninfo` the bench starts its own throwaway cluster. Unless `--no-pin`, it pins
//! itself and the server (postmaster and all its processes) to CPU `--cpu` (default 0) with
//! `taskset`, the steadiest condition for round trips on these machines (see
//! docs/measurements.md).

mod async_bench;
mod common;
mod copy;
mod tls;

#[allow(dead_code)]
mod native {
    use postgres as drv;
    include!("workload.rs");

    pub fn connect(conninfo: &str) -> R<drv::Client> {
        Ok(drv::Client::connect(conninfo, postgres::NoTls)?)
    }
}

#[allow(dead_code)]
mod sandboxed {
    use wasmpg as drv;
    include!("workload.rs");
}

use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::process::Command;
use std::time::Instant;

use common::*;
use wasmpg::serde_json::{self, json, Value};

const BASELINE: &str = "postgres crate";
const CONTENDER: &str = "wasmpg host";

struct Args {
    mode: String,
    conninfo: Option<String>,
    /// The same cluster over TLS (verify-full with its CA): the TLS rows.
    tls_conninfo: Option<String>,
    reps: usize,
    warmup: usize,
    objects: usize,
    select1: usize,
    json: Option<String>,
    pin: bool,
    cpu: u32,
    driver: String,
    n: usize,
    /// Profiling aid: run only this contender ("wasmpg" or "postgres") and skip sessions/memory.
    only: Option<String>,
    /// Profiling aid: run only this workload (six, select1, fetch, insert; `async`: the async
    /// rows alone; in `async` mode: six, select1, pipeline).
    workload: Option<String>,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        mode: "run".into(),
        conninfo: None,
        tls_conninfo: None,
        reps: 7,
        warmup: 2,
        objects: 5000,
        select1: 20_000,
        json: None,
        pin: true,
        cpu: 0,
        driver: String::new(),
        n: 0,
        only: None,
        workload: None,
    };
    let mut it = std::env::args().skip(1).peekable();
    if let Some(m) = it.peek() {
        if !m.starts_with('-') {
            a.mode = it.next().unwrap();
        }
    }
    while let Some(arg) = it.next() {
        let mut val = |name: &str| it.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "--conninfo" => a.conninfo = Some(val("--conninfo")?),
            "--tls-conninfo" => {
                a.tls_conninfo = Some(val("--tls-conninfo")?).filter(|v| !v.is_empty())
            }
            "--reps" => a.reps = val("--reps")?.parse().map_err(|e| format!("--reps: {e}"))?,
            "--warmup" => {
                a.warmup = val("--warmup")?
                    .parse()
                    .map_err(|e| format!("--warmup: {e}"))?
            }
            "--objects" => {
                a.objects = val("--objects")?
                    .parse()
                    .map_err(|e| format!("--objects: {e}"))?
            }
            "--select1" => {
                a.select1 = val("--select1")?
                    .parse()
                    .map_err(|e| format!("--select1: {e}"))?
            }
            "--json" => a.json = Some(val("--json")?),
            "--no-pin" => a.pin = false,
            "--cpu" => a.cpu = val("--cpu")?.parse().map_err(|e| format!("--cpu: {e}"))?,
            "--driver" => a.driver = val("--driver")?,
            "--only" => a.only = Some(val("--only")?),
            "--workload" => a.workload = Some(val("--workload")?),
            "--n" => a.n = val("--n")?.parse().map_err(|e| format!("--n: {e}"))?,
            "-h" | "--help" => {
                println!("{}", include_str!("usage.txt"));
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other:?} (see --help)")),
        }
    }
    if a.reps < 5 && a.mode == "run" {
        eprintln!("note: fewer than 5 measured repetitions ({})", a.reps);
    }
    Ok(a)
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("wasmpg-bench: {e}");
            std::process::exit(2);
        }
    };
    let result = match args.mode.as_str() {
        "run" => run(&args),
        "serve" => serve(&args),
        "mem" => mem_child(&args),
        "copy" => copy_only(&args),
        "async" => async_only(&args),
        other => Err(format!("unknown mode {other:?} (run, serve, copy, async)").into()),
    };
    if let Err(e) = result {
        eprintln!("wasmpg-bench: {e}");
        std::process::exit(1);
    }
}

// ---------------------------------------------------------------------------------------------
// Condition: CPU pinning, cores, server

fn status_field(pid: &str, field: &str) -> Option<String> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find_map(|l| l.strip_prefix(field))
        .map(|v| v.trim_start_matches(':').trim().to_owned())
}

fn have_taskset() -> bool {
    Command::new("taskset")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Pins `pid` (all its threads) to `cpu`.
fn taskset(pid: u32, cpu: u32) -> R<()> {
    let out = Command::new("taskset")
        .args(["-apc", &cpu.to_string(), &pid.to_string()])
        .output()?;
    if !out.status.success() {
        return Err(format!(
            "taskset -apc {cpu} {pid}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )
        .into());
    }
    Ok(())
}

fn children_of(pid: u32) -> Vec<u32> {
    let mut kids = Vec::new();
    if let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) {
        for t in tasks.flatten() {
            if let Ok(s) = std::fs::read_to_string(t.path().join("children")) {
                kids.extend(s.split_whitespace().filter_map(|x| x.parse::<u32>().ok()));
            }
        }
    }
    kids
}

/// Pins the postmaster and every process under it; backends forked later inherit it.
fn pin_server(cluster: &wasmpg_pgcluster::Cluster, cpu: u32) -> R<usize> {
    let pidfile = std::fs::read_to_string(cluster.data_dir().join("postmaster.pid"))?;
    let pm: u32 = pidfile
        .lines()
        .next()
        .and_then(|l| l.trim().parse().ok())
        .ok_or("cannot read the postmaster pid")?;
    let mut todo = vec![pm];
    let mut n = 0;
    while let Some(pid) = todo.pop() {
        taskset(pid, cpu)?;
        n += 1;
        todo.extend(children_of(pid));
    }
    Ok(n)
}

fn start_cluster(args: &Args) -> R<(wasmpg_pgcluster::Cluster, String)> {
    let options = wasmpg_pgcluster::ClusterOptions {
        settings: [
            // Steadier numbers: no autovacuum worker waking up in the middle of a repetition
            // (every repetition recreates its tables anyway).
            ("autovacuum", "off"),
            // The benchmark's conditions as before the shared cluster crate: PostgreSQL's
            // default shared_buffers, and no log line per connection (connect time is measured).
            ("shared_buffers", "128MB"),
            ("log_connections", "off"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect(),
        // ssl=on with the cluster's own CA, for the TLS rows; every other row asks for clear.
        tls: true,
        ..wasmpg_pgcluster::ClusterOptions::default()
    };
    let cluster = wasmpg_pgcluster::Cluster::start(options)?;
    let mut pin_note = "server not pinned".to_owned();
    if args.pin {
        if have_taskset() {
            let n = pin_server(&cluster, args.cpu)?;
            pin_note = format!("server pinned to CPU {} ({n} processes)", args.cpu);
        } else {
            pin_note = "taskset unavailable: server not pinned".into();
        }
    }
    eprintln!("cluster on 127.0.0.1:{}; {pin_note}", cluster.port());
    let conninfo = format!(
        "host=127.0.0.1 port={} user=postgres dbname=postgres sslmode=disable",
        cluster.port()
    );
    Ok((cluster, conninfo))
}

/// The cluster over TLS: `localhost` (the name its certificate holds), verify-full.
fn tls_conninfo(cluster: &wasmpg_pgcluster::Cluster) -> Option<String> {
    Some(format!(
        "host=localhost port={} user=postgres dbname=postgres sslmode=verify-full sslrootcert={}",
        cluster.port(),
        cluster.ca_file()?.display()
    ))
}

fn pin_self(args: &Args) -> String {
    if !args.pin {
        return "not pinned (--no-pin)".into();
    }
    if !have_taskset() {
        return "taskset unavailable: running unpinned".into();
    }
    match taskset(std::process::id(), args.cpu) {
        Ok(()) => format!("pinned to CPU {}", args.cpu),
        Err(e) => format!("pinning failed ({e}): running unpinned"),
    }
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------------------------
// serve: a cluster for bench/run

fn serve(args: &Args) -> R<()> {
    let (mut cluster, conninfo) = start_cluster(args)?;
    let mut c = native::connect(&conninfo)?;
    let version = native::server_version(&mut c)?;
    drop(c);
    let mut out = std::io::stdout().lock();
    writeln!(out, "conninfo {conninfo}")?;
    if let Some(tls) = tls_conninfo(&cluster) {
        writeln!(out, "tls_conninfo {tls}")?;
    }
    writeln!(out, "port {}", cluster.port())?;
    writeln!(out, "version {version}")?;
    writeln!(out, "ready")?;
    out.flush()?;
    drop(out);
    // Until stdin closes (bench/run closes it, or dies).
    let stdin = std::io::stdin();
    for line in stdin.lock().lines() {
        if line.is_err() {
            break;
        }
    }
    cluster.stop()?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// mem: a child process that opens N connections and reports its RSS

fn vm_kib(field: &str) -> u64 {
    status_field("self", field)
        .and_then(|v| v.split_whitespace().next().and_then(|x| x.parse().ok()))
        .unwrap_or(0)
}

fn mem_child(args: &Args) -> R<()> {
    let conninfo = args.conninfo.as_deref().ok_or("mem needs --conninfo")?;
    let n = args.n;
    let mut result = json!({"driver": args.driver, "n": n});
    match args.driver.as_str() {
        "wasmpg" => {
            let driver = wasmpg::Driver::new()?;
            let base_rss = vm_kib("VmRSS");
            let base_hwm = vm_kib("VmHWM");
            let mut clients = Vec::with_capacity(n);
            for _ in 0..n {
                clients.push(driver.connect(conninfo)?);
            }
            for c in &mut clients {
                c.query_one("SELECT 1", &[])?;
            }
            let guest: Vec<usize> = clients.iter().map(|c| c.guest_memory_bytes()).collect();
            result["base_rss_kib"] = json!(base_rss);
            result["base_hwm_kib"] = json!(base_hwm);
            result["rss_kib"] = json!(vm_kib("VmRSS"));
            result["hwm_kib"] = json!(vm_kib("VmHWM"));
            result["guest_bytes"] = json!(guest);
        }
        "postgres" => {
            let base_rss = vm_kib("VmRSS");
            let base_hwm = vm_kib("VmHWM");
            let mut clients = Vec::with_capacity(n);
            for _ in 0..n {
                clients.push(native::connect(conninfo)?);
            }
            for c in &mut clients {
                c.query_one("SELECT 1", &[])?;
            }
            result["base_rss_kib"] = json!(base_rss);
            result["base_hwm_kib"] = json!(base_hwm);
            result["rss_kib"] = json!(vm_kib("VmRSS"));
            result["hwm_kib"] = json!(vm_kib("VmHWM"));
        }
        other => return Err(format!("unknown --driver {other:?}").into()),
    }
    println!("{result}");
    Ok(())
}

fn mem_measure(conninfo: &str, driver: &str, n: usize) -> R<Value> {
    let out = Command::new(std::env::current_exe()?)
        .args(["mem", "--conninfo", conninfo, "--driver", driver, "--n"])
        .arg(n.to_string())
        .output()?;
    if !out.status.success() {
        return Err(format!(
            "memory child ({driver}, {n} connections) failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )
        .into());
    }
    Ok(serde_json::from_slice(&out.stdout)?)
}

// ---------------------------------------------------------------------------------------------
// run

const OPS: [&str; 6] = [
    "(1) bulk insert, 1 INSERT x {n} rows",
    "(2) {n} x INSERT ... RETURNING id",
    "(3) {n} x UPDATE by id",
    "(4) {n} x (SELECT child, its parent)",
    "(5) SELECT {n} rows into objects",
    "(6) fetchall {n} rows (raw rows)",
];
/// Operations bound by round trips (one statement per object).
const ROUND_TRIP_OPS: [usize; 3] = [1, 2, 3];

#[derive(Default)]
struct Samples {
    /// name -> contender -> samples
    by: BTreeMap<String, BTreeMap<&'static str, Vec<f64>>>,
}

impl Samples {
    fn push(&mut self, name: &str, who: &'static str, v: f64) {
        self.by
            .entry(name.to_owned())
            .or_default()
            .entry(who)
            .or_default()
            .push(v);
    }
    fn get(&self, name: &str, who: &str) -> &[f64] {
        self.by
            .get(name)
            .and_then(|m| m.get(who))
            .map_or(&[], |v| v.as_slice())
    }
    fn ratio(&self, name: &str) -> f64 {
        median(self.get(name, CONTENDER)) / median(self.get(name, BASELINE))
    }
    /// Range of the per-repetition ratios (contender / baseline, same repetition).
    fn paired(&self, name: &str) -> (f64, f64) {
        let a = self.get(name, CONTENDER);
        let b = self.get(name, BASELINE);
        let r: Vec<f64> = a.iter().zip(b).map(|(x, y)| x / y).collect();
        let (_, lo, hi) = stats(&r);
        (lo, hi)
    }
}

fn fmt_num(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

fn cell(xs: &[f64]) -> String {
    let (m, lo, hi) = stats(xs);
    format!("{} [{}-{}]", fmt_num(m), fmt_num(lo), fmt_num(hi))
}

fn print_table(title: &str, unit: &str, rows: &[(String, String)], s: &Samples) {
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
        let (lo, hi) = s.paired(key);
        println!(
            "| {:<w$} | {:>24} | {:>24} | {:>5.2}x | {:>13} |",
            label,
            cell(s.get(key, BASELINE)),
            cell(s.get(key, CONTENDER)),
            s.ratio(key),
            format!("{lo:.2}-{hi:.2}x")
        );
    }
}

fn wants(args: &Args, workload: &str) -> bool {
    args.workload.as_deref().is_none_or(|w| w == workload)
}

fn skip(args: &Args, who: &str) -> bool {
    match args.only.as_deref() {
        None => false,
        Some("wasmpg") => who != CONTENDER,
        Some(_) => who != BASELINE,
    }
}

/// The COPY rows alone (`wasmpg-bench copy`).
fn copy_only(args: &Args) -> R<()> {
    let _self_pin = pin_self(args);
    let (_cluster, conninfo) = match &args.conninfo {
        Some(c) => (None, c.clone()),
        None => {
            let (cl, c) = start_cluster(args)?;
            (Some(cl), c)
        }
    };
    let doc = copy::run(&conninfo, args.reps.min(5))?;
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&doc)?)?;
    }
    Ok(())
}

/// The async rows alone (`wasmpg-bench async`, or `run --workload async`): wasmpg::tokio
/// against tokio-postgres; bench/run runs them as a step of their own.
fn async_only(args: &Args) -> R<()> {
    let self_pin = pin_self(args);
    let (_cluster, conninfo) = match &args.conninfo {
        Some(c) => (None, c.clone()),
        None => {
            let (cl, c) = start_cluster(args)?;
            (Some(cl), c)
        }
    };
    let doc = async_bench::run(args, &conninfo, &self_pin)?;
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&doc)?)?;
    }
    Ok(())
}

fn run(args: &Args) -> R<()> {
    if args.workload.as_deref() == Some("async") {
        return async_only(args);
    }
    let self_pin = pin_self(args);
    let load_start = loadavg();
    let (_cluster, conninfo, tls) = match &args.conninfo {
        Some(c) => (None, c.clone(), args.tls_conninfo.clone()),
        None => {
            let (cl, c) = start_cluster(args)?;
            let tls = tls_conninfo(&cl);
            (Some(cl), c, tls)
        }
    };

    let t = Instant::now();
    let driver = wasmpg::Driver::new()?;
    let driver_new_ms = ms_since(t);

    let mut pg = native::connect(&conninfo)?;
    let mut wp = driver.connect(&conninfo)?;
    let version = native::server_version(&mut pg)?;
    let wp_version = sandboxed::server_version(&mut wp)?;
    ensure(version == wp_version, || {
        "the contenders see different servers".into()
    })?;
    let backend = native::backend_pid(&mut pg)?.to_string();
    let server_cpus = status_field(&backend, "Cpus_allowed_list")
        .unwrap_or_else(|| "unknown (server not visible in /proc)".into());
    let client_cpus = status_field("self", "Cpus_allowed_list").unwrap_or_default();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let online = std::fs::read_to_string("/sys/devices/system/cpu/online")
        .map(|s| s.trim().to_owned())
        .unwrap_or_default();

    println!("wasmpg-bench: Rust contenders, baseline = native `{BASELINE}` 0.19 (sync)");
    println!("Condition:");
    println!(
        "  CPU: {}; CPUs online: {online}; usable by this process: {cores}",
        cpu_model()
    );
    println!(
        "  client: {self_pin}; allowed CPUs {client_cpus} | server backend allowed CPUs: {server_cpus}"
    );
    println!("  PostgreSQL {version}, TCP 127.0.0.1 (both contenders), trust auth, fsync=off, autovacuum off (if started by this bench)");
    println!("  load average at start: {load_start} (other jobs may share the machine)");
    println!(
        "  {} warm-up + {} measured repetitions, contenders interleaved per repetition (order alternates)",
        args.warmup, args.reps
    );
    println!("  wasmpg Driver::new() (compile or load cached component): {driver_new_ms:.1} ms");

    // ---- six-operation workload
    let data = Data::new(args.objects);
    let mut s = Samples::default();
    let mut sc = Samples::default();
    let total = args.warmup + args.reps;
    for rep in 0..total {
        let measured = rep >= args.warmup;
        let order: [&'static str; 2] = if rep % 2 == 0 {
            [BASELINE, CONTENDER]
        } else {
            [CONTENDER, BASELINE]
        };
        for who in order {
            if skip(args, who) || !wants(args, "six") {
                continue;
            }
            let t = if who == BASELINE {
                native::six_ops(&mut pg, &data)
            } else {
                sandboxed::six_ops(&mut wp, &data)
            }
            .map_err(|e| format!("six-operation workload, {who}, repetition {}: {e}", rep + 1))?;
            if measured {
                let (wall, cpu) = t;
                for i in 0..6 {
                    s.push(OPS[i], who, wall[i]);
                    sc.push(OPS[i], who, cpu[i]);
                }
                s.push("total", who, wall.iter().sum());
                sc.push("total", who, cpu.iter().sum());
            }
        }
        eprintln!("six-op repetition {}/{total} done", rep + 1);
    }
    let mut rows: Vec<(String, String)> = OPS
        .iter()
        .map(|o| (o.replace("{n}", &args.objects.to_string()), o.to_string()))
        .collect();
    rows.push(("six-operation total".into(), "total".into()));
    print_table(
        &format!(
            "== Six-operation ORM workload, {} objects, autocommit (ms; median [min-max]; ratio = wasmpg host / {BASELINE}) ==",
            args.objects
        ),
        "ms",
        &rows,
        &s,
    );
    print_table(
        "-- the same, client CPU time only (user+system of the client thread: excludes the server and waiting; ms) --",
        "CPU ms",
        &rows,
        &sc,
    );

    // ---- micro benchmarks
    native::micro_setup(&mut pg)?;
    let expected = micro_rows_expected();
    let mut m = Samples::default();
    let mut mc = Samples::default();
    for rep in 0..total {
        let measured = rep >= args.warmup;
        let order: [&'static str; 2] = if rep % 2 == 0 {
            [BASELINE, CONTENDER]
        } else {
            [CONTENDER, BASELINE]
        };
        for who in order {
            if skip(args, who) || !wants(args, "select1") {
                continue;
            }
            let r = if who == BASELINE {
                native::select1(&mut pg, args.select1)
            } else {
                sandboxed::select1(&mut wp, args.select1)
            }
            .map_err(|e| format!("SELECT 1, {who}: {e}"))?;
            if measured {
                m.push("select1", who, r.0);
                mc.push("select1", who, r.1);
            }
        }
        for who in order {
            if skip(args, who) || !wants(args, "fetch") {
                continue;
            }
            let r = if who == BASELINE {
                native::fetch_rows(&mut pg, &expected)
            } else {
                sandboxed::fetch_rows(&mut wp, &expected)
            }
            .map_err(|e| format!("100k-row fetch, {who}: {e}"))?;
            if measured {
                m.push("fetch", who, r.0);
                mc.push("fetch", who, r.1);
            }
        }
        for who in order {
            if skip(args, who) || !wants(args, "insert") {
                continue;
            }
            let r = if who == BASELINE {
                native::insert_many(&mut pg)
            } else {
                sandboxed::insert_many(&mut wp)
            }
            .map_err(|e| format!("executemany, {who}: {e}"))?;
            if measured {
                m.push("insert_many", who, r.0);
                mc.push("insert_many", who, r.1);
            }
        }
        eprintln!("micro repetition {}/{total} done", rep + 1);
    }
    let micro_rows = [
        (
            format!(
                "SELECT 1 round trip, prepared (µs/op, {} per rep)",
                args.select1
            ),
            "select1".into(),
        ),
        (
            "100,000 rows x (int, int, text, timestamptz) to typed values (ms)".into(),
            "fetch".into(),
        ),
        (
            "1,000 x prepared INSERT, autocommit (executemany) (ms)".into(),
            "insert_many".into(),
        ),
    ];
    print_table(
        "== Micro benchmarks (median [min-max]) ==",
        "unit",
        &micro_rows,
        &m,
    );
    print_table(
        "-- the same, client CPU time only (user+system of the client thread; same units) --",
        "CPU",
        &micro_rows,
        &mc,
    );

    if args.only.is_some() || args.workload.is_some() {
        return Ok(());
    }

    // ---- connect time and sandbox instantiation
    let denied = wasmpg::Driver::with_config(wasmpg::Config {
        policy: Some(wasmpg::Policy::deny_all()),
        ..wasmpg::Config::default()
    })?;
    let mut c = Samples::default();
    let connects = 30;
    for i in 0..connects + 3 {
        let t = Instant::now();
        let client = native::connect(&conninfo)?;
        let native_ms = ms_since(t);
        drop(client);
        let t = Instant::now();
        let client = driver.connect(&conninfo)?;
        let wasm_ms = ms_since(t);
        drop(client);
        // The sandbox alone: instantiate, parse the conninfo, open a session, run the guest up
        // to its first request (open a socket), which the deny-all policy refuses.
        let t = Instant::now();
        let e = match denied.connect(&conninfo) {
            Ok(_) => return Err("a deny-all policy let a connection through".into()),
            Err(e) => e,
        };
        let sandbox_ms = ms_since(t);
        ensure(e.kind() == wasmpg::ErrorKind::PolicyDenied, || {
            format!("expected a policy denial, got {e}")
        })?;
        if i >= 3 {
            c.push("connect", BASELINE, native_ms);
            c.push("connect", CONTENDER, wasm_ms);
            c.push("sandbox", CONTENDER, sandbox_ms);
        }
    }
    let connect_extra = median(c.get("connect", CONTENDER)) - median(c.get("connect", BASELINE));
    let sandbox_ms = median(c.get("sandbox", CONTENDER));
    println!();
    println!("== Sessions: connect time ({connects} each, interleaved; ms; median [min-max]) ==");
    println!("| {:<74} | {:>24} |", "what", "ms");
    println!("|{:-<76}|{:->26}|", "", "");
    println!(
        "| {:<74} | {:>24} |",
        format!("{BASELINE}: Client::connect (TCP, startup, auth)"),
        cell(c.get("connect", BASELINE))
    );
    println!(
        "| {:<74} | {:>24} |",
        "wasmpg host: Driver::connect (sandbox + TCP, startup, auth)",
        cell(c.get("connect", CONTENDER))
    );
    println!(
        "| {:<74} | {:>24} |",
        "wasmpg host: connect minus native connect (medians)",
        format!("{connect_extra:.3}")
    );
    println!(
        "| {:<74} | {:>24} |",
        "wasmpg host: new session's sandbox (instantiate+conninfo+session, no I/O)",
        cell(c.get("sandbox", CONTENDER))
    );
    println!(
        "| {:<74} | {:>24} |",
        "wasmpg host: first sandbox = Driver::new() (compile or load cache)",
        format!("{driver_new_ms:.1}")
    );

    // ---- TLS
    let tls_json = match &tls {
        Some(tls) => tls::run(&conninfo, tls, args.reps)?,
        None => Value::Null,
    };

    // ---- COPY
    let copy_json = copy::run(&conninfo, args.reps.min(5))?;

    // ---- memory
    println!();
    println!("== Memory: host process RSS with N open connections (child process; KiB over the baseline after start-up) ==");
    println!(
        "| {:>4} | {:>22} | {:>22} | {:>22} | {:>20} |",
        "N", "postgres crate RSS +", "wasmpg host RSS +", "wasmpg VmHWM +", "wasmpg per conn."
    );
    println!(
        "|{:->6}|{:->24}|{:->24}|{:->24}|{:->22}|",
        "", "", "", "", ""
    );
    let mut mem_json = Vec::new();
    let mut guest_bytes: Vec<u64> = Vec::new();
    let mut per_conn = Vec::new();
    for n in [1usize, 10, 100] {
        let nat = mem_measure(&conninfo, "postgres", n)?;
        let wsm = mem_measure(&conninfo, "wasmpg", n)?;
        let d =
            |v: &Value, a: &str, b: &str| v[a].as_i64().unwrap_or(0) - v[b].as_i64().unwrap_or(0);
        let nat_rss = d(&nat, "rss_kib", "base_rss_kib");
        let w_rss = d(&wsm, "rss_kib", "base_rss_kib");
        let w_hwm = d(&wsm, "hwm_kib", "base_rss_kib");
        per_conn.push((n, w_rss as f64 / n as f64));
        if let Some(g) = wsm["guest_bytes"].as_array() {
            guest_bytes.extend(g.iter().filter_map(|x| x.as_u64()));
        }
        println!(
            "| {:>4} | {:>22} | {:>22} | {:>22} | {:>20} |",
            n,
            nat_rss,
            w_rss,
            w_hwm,
            format!("{:.0} KiB", w_rss as f64 / n as f64)
        );
        mem_json.push(json!({"n": n, "postgres": nat, "wasmpg": wsm}));
    }
    let guest_max = guest_bytes.iter().copied().max().unwrap_or(0);
    let guest_min = guest_bytes.iter().copied().min().unwrap_or(0);
    println!(
        "guest linear memory per idle session (client.guest_memory_bytes(), after connect + SELECT 1): {:.2} MiB (min {:.2}, max {:.2}, over {} sessions)",
        median(&guest_bytes.iter().map(|&b| b as f64).collect::<Vec<_>>()) / 1048576.0,
        guest_min as f64 / 1048576.0,
        guest_max as f64 / 1048576.0,
        guest_bytes.len()
    );
    let guest_busy = wp.guest_memory_bytes();
    println!(
        "guest linear memory of the benchmark's session after the workloads (100k-row fetch, 30k-parameter insert): {:.2} MiB",
        guest_busy as f64 / 1048576.0
    );

    // ---- targets
    println!();
    println!("== Issue targets (Rust host vs native `{BASELINE}`, same run) ==");
    let mut all_met = true;
    let mut target = |name: String, value: f64, limit: f64, unit: &str| {
        let met = value <= limit;
        all_met &= met;
        println!(
            "  [{}] {name}: {value:.2}{unit} (target <= {limit}{unit})",
            if met { "MET   " } else { "MISSED" }
        );
    };
    target(
        "six-operation total, ratio".into(),
        s.ratio("total"),
        1.15,
        "x",
    );
    for i in ROUND_TRIP_OPS {
        target(
            format!(
                "round-trip-bound {}, ratio",
                OPS[i].replace("{n}", &args.objects.to_string())
            ),
            s.ratio(OPS[i]),
            1.15,
            "x",
        );
    }
    target(
        "100,000-row fetch, ratio".into(),
        m.ratio("fetch"),
        1.10,
        "x",
    );
    target(
        "new session's sandbox ready after the first (ms)".into(),
        sandbox_ms,
        1.0,
        " ms",
    );
    target(
        "guest memory per idle session (MiB, largest)".into(),
        guest_max as f64 / 1048576.0,
        2.0,
        " MiB",
    );
    println!(
        "  (for information: SELECT 1 ratio {:.2}x; connect-time difference {:.3} ms)",
        m.ratio("select1"),
        connect_extra
    );
    let load_end = loadavg();
    println!("load average at end: {load_end}");

    if let Some(path) = &args.json {
        let series = |smp: &Samples| {
            let mut o = serde_json::Map::new();
            for (k, v) in &smp.by {
                let mut inner = serde_json::Map::new();
                for (who, xs) in v {
                    inner.insert((*who).to_owned(), json!(xs));
                }
                o.insert(k.clone(), Value::Object(inner));
            }
            Value::Object(o)
        };
        let doc = json!({
            "condition": {
                "client": self_pin, "client_cpus": client_cpus, "server_cpus": server_cpus,
                "cores": cores, "online": online, "cpu": cpu_model(), "postgres": version,
                "load_start": load_start, "load_end": load_end,
                "warmup": args.warmup, "reps": args.reps, "objects": args.objects,
                "select1_iters": args.select1,
            },
            "baseline": BASELINE, "contender": CONTENDER,
            "ops": OPS, "six_ops": series(&s), "micro": series(&m),
            "six_ops_cpu": series(&sc), "micro_cpu": series(&mc), "connect": series(&c),
            "driver_new_ms": driver_new_ms, "sandbox_ms": sandbox_ms,
            "memory": mem_json, "guest_bytes": guest_bytes, "per_conn_kib": per_conn,
            "tls": tls_json,
            "copy": copy_json,
            "all_targets_met": all_met,
        });
        std::fs::write(path, serde_json::to_string_pretty(&doc)?)?;
    }
    Ok(())
}
