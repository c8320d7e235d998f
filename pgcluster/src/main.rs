//! `pgcluster`: start a detached throwaway PostgreSQL cluster and print how to reach it, or stop
//! and remove one. For callers that are not Rust (the Python tests, shell scripts).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use wasmpg_pgcluster::{Cluster, ClusterOptions, StopMode, Stopper};

const USAGE: &str = "usage:
  pgcluster start [--json] [--prefix PREFIX] [--set NAME=VALUE]... [--hba LINE]... [--tls]
  pgcluster stop [--immediate] [--bindir DIR] PATH

start  starts a cluster that outlives this command (initdb, pg_ctl start on a free port on
       127.0.0.1 and a Unix socket in its directory, roles postgres/trust_user/pw_user/md5_user/
       scram_user, database wasmpg_test) and prints it: with --json as one JSON object (host,
       port, socket_dir, data_dir, bindir, superuser, roles with passwords, conninfo,
       stop_command), else as `key value` lines.
         --prefix PREFIX   directory name prefix (default wasmpg-cluster-)
         --set NAME=VALUE  an extra postgresql.conf setting (repeatable; quote strings: NAME='v')
         --hba LINE        a pg_hba.conf line placed before the defaults (repeatable)
         --tls             ssl=on with a CA and a certificate for localhost made for this
                           cluster; the JSON's ca_file is the CA certificate for clients
stop   stops the server (fast shutdown; --immediate: no checkpoint) and removes the directory.
       PATH: the data directory, the cluster's directory, or a file holding the JSON printed by
       `start --json`.

Environment: WASMPG_PG_BINDIR overrides the PostgreSQL bin directory.";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("pgcluster: {message}");
            ExitCode::from(1)
        }
    }
}

fn run(args: &[String]) -> Result<(), String> {
    match args.first().map(String::as_str) {
        Some("start") => start(&args[1..]),
        Some("stop") => stop(&args[1..]),
        Some("-h" | "--help") => {
            println!("{USAGE}");
            Ok(())
        }
        _ => Err(format!("expected `start` or `stop`\n\n{USAGE}")),
    }
}

fn start(args: &[String]) -> Result<(), String> {
    let mut options = ClusterOptions {
        dir_prefix: "wasmpg-cluster-".to_owned(),
        ..ClusterOptions::default()
    };
    let mut json = false;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = |name: &str| {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match arg.as_str() {
            "--json" => json = true,
            "--prefix" => {
                let prefix = value("--prefix")?;
                if prefix.is_empty() || prefix.contains('/') {
                    return Err(format!(
                        "--prefix {prefix:?}: must be a non-empty file name"
                    ));
                }
                options.dir_prefix = prefix;
            }
            "--set" => {
                let setting = value("--set")?;
                let (name, value) = setting
                    .split_once('=')
                    .ok_or_else(|| format!("--set {setting:?}: expected NAME=VALUE"))?;
                options
                    .settings
                    .push((name.trim().to_owned(), value.trim().to_owned()));
            }
            "--hba" => options.hba.push(value("--hba")?),
            "--tls" => options.tls = true,
            other => return Err(format!("unknown argument {other:?}\n\n{USAGE}")),
        }
    }
    let mut cluster = Cluster::start(options).map_err(|e| e.to_string())?;
    let exe = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("pgcluster"));
    let text = if json {
        cluster.to_json(&exe)
    } else {
        format!(
            "conninfo {}\nport {}\nsocket_dir {}\ndata_dir {}\nstop {} stop {}",
            cluster.conninfo("postgres", None),
            cluster.port(),
            cluster.socket_dir().display(),
            cluster.data_dir().display(),
            exe.display(),
            cluster.data_dir().display()
        )
    };
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{text}").and_then(|()| out.flush()) {
        Ok(()) => {
            // Printed: the caller owns it now.
            cluster.keep();
            Ok(())
        }
        // Nobody will learn where it is: dropping `cluster` removes it.
        Err(e) => Err(format!("cannot print the cluster: {e}")),
    }
}

fn stop(args: &[String]) -> Result<(), String> {
    let mut bindir = None;
    let mut path = None;
    let mut mode = StopMode::Fast;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--immediate" => mode = StopMode::Immediate,
            "--bindir" => {
                bindir = Some(PathBuf::from(
                    it.next().ok_or("--bindir needs a directory")?,
                ))
            }
            _ if path.is_none() => path = Some(PathBuf::from(arg)),
            other => return Err(format!("unexpected argument {other:?}\n\n{USAGE}")),
        }
    }
    let path = path.ok_or_else(|| format!("stop needs a PATH\n\n{USAGE}"))?;
    let stopper = Stopper::for_path(&path, bindir).map_err(|e| e.to_string())?;
    stopper.stop(mode).map_err(|e| e.to_string())
}
