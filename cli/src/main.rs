//! `wasmpg [CONNINFO] [-c SQL | -f FILE]... [-1] [--csv] [--allow HOST:PORT]...`
//!
//! Runs SQL through the sandboxed driver and prints the results like psql: `COPY ... FROM STDIN`
//! reads the CLI's stdin and `COPY ... TO STDOUT` writes to its stdout, as `psql -c` does;
//! scripts (`-f`, or SQL on stdin) run statement by statement, with their COPY data inline
//! (`script`), and stop at the first failure. With no CONNINFO and
//! no PG* variables it starts a throwaway local cluster (`wasmpg-pgcluster`), runs against it (a
//! demo when no `-c` is given) and removes it.

use std::io::{IsTerminal, Read, Write};
use std::process::ExitCode;

mod progress;
mod script;

use anyhow::{bail, Context};
use wasmpg::serde_json;
use wasmpg::types::oid;
use wasmpg::{Client, Config, Driver, Policy, SimpleQueryMessage};
use wasmpg_pgcluster::{Cluster, ClusterOptions, SUPERUSER};

const USAGE: &str =
    "usage: wasmpg [CONNINFO] [-c SQL | -f FILE]... [-1] [--csv] [--allow HOST:PORT|SOCKET]...

  CONNINFO           libpq conninfo: 'host=... port=... user=... dbname=...' or postgresql://...
                     Without it (and without PG* variables) a throwaway local cluster is used.
  -c, --command SQL  SQL to run (repeatable; each may hold several statements). COPY ... FROM
                     STDIN reads this program's stdin, COPY ... TO STDOUT writes to its stdout.
  -f, --file FILE    run the SQL script FILE (`-` for stdin; repeatable, in order with -c):
                     statement by statement, COPY ... FROM STDIN data inline up to a line \\.
                     (a plain pg_dump file runs as is). Without -c and -f, SQL is read from
                     stdin when it is not a terminal (and a server is given).
  -1, --single-transaction
                     run everything in one transaction (BEGIN ... COMMIT; rolled back on error)
                     Every run stops at the first failed statement (exit status 1).
      --csv          print results as CSV instead of an aligned table
      --allow ENTRY  allow connecting to HOST:PORT or a socket path; replaces the default
                     allow-list (exactly the conninfo's targets). Repeatable.
  -h, --help         this text";

const DEMO: &[&str] = &[
    "SELECT version()",
    "CREATE TABLE planets (id int PRIMARY KEY, name text NOT NULL, discovered date, \
     mass_earths numeric, moons int[])",
    "INSERT INTO planets VALUES (1, 'Mercury', NULL, 0.0553, '{}'), \
     (2, 'Neptune', '1846-09-23', 17.147, '{14,NULL}'), (3, 'Pluto?', '1930-02-18', 0.0022, '{5}')",
    "SELECT id, name, discovered, mass_earths, moons FROM planets ORDER BY id",
    "SELECT count(*) AS planets, sum(mass_earths) AS total_mass FROM planets",
];

/// What to run, in command-line order.
enum Source {
    /// `-c`: one simple-query message (several statements allowed), as `psql -c`.
    Command(String),
    /// `-f` (or stdin): a script, run statement by statement.
    Script(String),
}

struct Args {
    conninfo: Option<String>,
    commands: Vec<Source>,
    csv: bool,
    allow: Vec<String>,
    single_transaction: bool,
}

fn parse_args() -> anyhow::Result<Option<Args>> {
    let mut args = Args {
        conninfo: None,
        commands: Vec::new(),
        csv: false,
        allow: Vec::new(),
        single_transaction: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "-h" | "--help" => return Ok(None),
            "-c" | "--command" => args.commands.push(Source::Command(
                it.next().context("-c needs an SQL argument")?,
            )),
            "-f" | "--file" => {
                let file = it.next().context("-f needs a file name")?;
                args.commands.push(Source::Script(file));
            }
            "-1" | "--single-transaction" => args.single_transaction = true,
            "--csv" => args.csv = true,
            "--allow" => args.allow.push(
                it.next()
                    .context("--allow needs HOST:PORT or a socket path")?,
            ),
            s if s.starts_with("--allow=") => args.allow.push(s["--allow=".len()..].to_owned()),
            s if s.starts_with('-') && s.len() > 1 => bail!("unknown option {s}\n\n{USAGE}"),
            _ if args.conninfo.is_none() => args.conninfo = Some(arg),
            _ => bail!("more than one CONNINFO given\n\n{USAGE}"),
        }
    }
    Ok(Some(args))
}

fn main() -> ExitCode {
    match run() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("wasmpg: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn run() -> anyhow::Result<ExitCode> {
    let Some(args) = parse_args()? else {
        println!("{USAGE}");
        return Ok(ExitCode::SUCCESS);
    };
    // The command line is the user's own: the files its conninfo names (sslrootcert, sslcert,
    // sslkey, passfile) are read as psql reads them.
    let mut config = Config {
        read_any_file: true,
        ..Config::default()
    };
    if !args.allow.is_empty() {
        config.policy = Some(Policy::parse_allow(&args.allow)?);
    }
    let driver = Driver::with_config(config)?;

    let has_env = std::env::vars().any(|(k, _)| k.starts_with("PG"));
    let mut cluster = None;
    let conninfo = match args.conninfo {
        Some(c) => c,
        None if has_env => String::new(),
        None => {
            eprintln!("wasmpg: no CONNINFO and no PG* variables: starting a throwaway cluster");
            let c = Cluster::start(ClusterOptions::default())
                .context("cannot start a throwaway cluster")?;
            eprintln!(
                "wasmpg: cluster up in {} (port {}); it is removed on exit",
                c.socket_dir().display(),
                c.port()
            );
            let conninfo = c.unix_conninfo_db("postgres", SUPERUSER);
            cluster = Some(c);
            conninfo
        }
    };
    // The throwaway cluster without -c or -f is the demo, whatever stdin is (the README's first
    // command runs it from scripts too).
    let demo = cluster.is_some() && args.commands.is_empty();
    let commands: Vec<Source> = if !args.commands.is_empty() {
        args.commands
    } else if demo {
        DEMO.iter()
            .map(|s| Source::Command((*s).to_owned()))
            .collect()
    } else if !std::io::stdin().is_terminal() {
        vec![Source::Script("-".to_owned())]
    } else {
        bail!("no -c SQL or -f FILE given\n\n{USAGE}");
    };
    // Scripts are read before connecting: a missing file is not a failed statement.
    let mut texts = Vec::with_capacity(commands.len());
    for source in &commands {
        texts.push(match source {
            Source::Command(sql) => sql.clone(),
            Source::Script(path) => read_script(path)?,
        });
    }

    let mut client = match driver.connect(&conninfo) {
        Ok(client) => client,
        Err(e) => {
            eprintln!("wasmpg: connection failed: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    // Ctrl-C cancels the running statement on the server, as psql does: the statement fails
    // with 57014, which is reported below, and the backend is left idle.
    match client.cancel_token() {
        Ok(token) => {
            let installed = ctrlc::set_handler(move || {
                if let Err(e) = token.cancel_query() {
                    eprintln!("wasmpg: could not send the cancel request: {e}");
                }
            });
            if let Err(e) = installed {
                eprintln!("wasmpg: Ctrl-C will not cancel statements: {e}");
            }
        }
        Err(e) => eprintln!("wasmpg: Ctrl-C will not cancel statements: {e}"),
    }
    let mut out = std::io::stdout().lock();
    let mut ran = if args.single_transaction {
        run_one(&mut client, "BEGIN", args.csv, &mut out, None)
    } else {
        Ok(())
    };
    for (source, text) in commands.iter().zip(&texts) {
        if ran.is_err() {
            break;
        }
        ran = match source {
            Source::Command(sql) => {
                if demo {
                    writeln!(out, "=> {sql}")?;
                }
                run_one(&mut client, sql, args.csv, &mut out, None)
            }
            Source::Script(_) => run_script(&mut client, text, args.csv, &mut out),
        };
    }
    if ran.is_ok() && args.single_transaction {
        ran = run_one(&mut client, "COMMIT", args.csv, &mut out, None);
    }
    if let Err(e) = ran {
        out.flush()?;
        eprintln!("wasmpg: {e}");
        if args.single_transaction && !client.is_closed() {
            let _ = client.batch_execute("ROLLBACK");
        }
        return Ok(ExitCode::from(1));
    }
    out.flush()?;
    drop(client);
    if let Some(mut c) = cluster {
        c.stop().context("cannot stop the throwaway cluster")?;
    }
    Ok(ExitCode::SUCCESS)
}

/// A script's text: the file's, or stdin's for `-`.
fn read_script(path: &str) -> anyhow::Result<String> {
    let mut text = String::new();
    if path == "-" {
        std::io::stdin()
            .read_to_string(&mut text)
            .context("cannot read SQL from stdin")?;
    } else {
        std::fs::File::open(path)
            .and_then(|mut f| f.read_to_string(&mut text))
            .with_context(|| format!("cannot read {path}"))?;
    }
    Ok(text)
}

/// Runs a script statement by statement; a `COPY ... FROM STDIN` takes its data from the
/// script, up to the line `\.`. Stops at the first failure, naming the statement's line.
fn run_script(
    client: &mut Client,
    text: &str,
    csv: bool,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let mut at = 0;
    while let Some(statement) = script::next_statement(text, at).map_err(anyhow::Error::msg)? {
        let mut data = InlineCopy {
            script: text,
            from: statement.end,
            data: None,
        };
        run_one(client, statement.sql, csv, out, Some(&mut data))
            .map_err(|e| anyhow::anyhow!("line {}: {e}", script::line_of(text, statement.start)))?;
        at = match data.data {
            Some((_, next)) => next,
            None => statement.end,
        };
    }
    Ok(())
}

/// A script's inline COPY data, found when the server first asks for it.
struct InlineCopy<'a> {
    script: &'a str,
    from: usize,
    /// The data still to send, and where the script goes on after it.
    data: Option<(&'a [u8], usize)>,
}

impl Read for InlineCopy<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let (data, _) = self.data.get_or_insert_with(|| {
            let (data, next) = script::copy_data(self.script, self.from);
            (data.as_bytes(), next)
        });
        let n = data.len().min(buf.len());
        buf[..n].copy_from_slice(&data[..n]);
        *data = &data[n..];
        Ok(n)
    }
}

fn run_one(
    client: &mut Client,
    sql: &str,
    csv: bool,
    out: &mut impl Write,
    copy_data: Option<&mut dyn Read>,
) -> anyhow::Result<()> {
    // Results printed so far go out before COPY data does.
    out.flush()?;
    // A long COPY shows its progress on stderr when that is a terminal.
    let progress = progress::Progress::new(std::io::stderr().is_terminal());
    let messages = {
        let mut stdin;
        let input: &mut dyn Read = match copy_data {
            Some(input) => input,
            None => {
                stdin = std::io::stdin().lock();
                &mut stdin
            }
        };
        let mut input = progress::Counted::new(input, &progress);
        let mut sink = progress::Counted::new(&mut *out, &progress);
        let result = client.simple_query_with_copy(sql, &mut input, &mut sink);
        progress.finish();
        result?
    };
    let mut table: Option<Table> = None;
    for message in messages {
        match message {
            SimpleQueryMessage::RowDescription(columns) => {
                table = Some(Table {
                    headers: columns.iter().map(|c| c.name().to_owned()).collect(),
                    right: columns.iter().map(|c| is_numeric(c.type_oid())).collect(),
                    kinds: columns.iter().map(|c| Kind::of(c.type_oid())).collect(),
                    rows: Vec::new(),
                });
            }
            SimpleQueryMessage::Row(row) => {
                if let Some(t) = &mut table {
                    let cells = (0..row.len())
                        .map(|i| row.get(i).map(|v| t.kinds[i].display(v)))
                        .collect();
                    t.rows.push(cells);
                }
            }
            SimpleQueryMessage::CommandComplete(_) => {
                if let Some(t) = table.take() {
                    if csv {
                        t.write_csv(out)?;
                    } else {
                        t.write_aligned(out)?;
                    }
                }
            }
            _ => {}
        }
    }
    Ok(())
}

fn is_numeric(ty: u32) -> bool {
    matches!(
        ty,
        oid::INT2 | oid::INT4 | oid::INT8 | oid::OID | oid::FLOAT4 | oid::FLOAT8 | oid::NUMERIC
    )
}

/// How a column's canonical values are shown: like psql's text output.
#[derive(Clone, Copy)]
enum Kind {
    Plain,
    /// Canonical bytea is raw latin-1; psql shows `\x` hex.
    Bytea,
    /// Canonical arrays are JSON; psql shows `{a,"b c",NULL}`.
    Array,
}

impl Kind {
    fn of(ty: u32) -> Kind {
        if ty == oid::BYTEA {
            Kind::Bytea
        } else if wasmpg::types::element_oid(ty).is_some() {
            Kind::Array
        } else {
            Kind::Plain
        }
    }

    fn display(self, value: &str) -> String {
        match self {
            Kind::Plain => value.to_owned(),
            Kind::Bytea => {
                let mut s = String::from("\\x");
                for c in value.chars() {
                    s.push_str(&format!("{:02x}", u32::from(c)));
                }
                s
            }
            Kind::Array => match serde_json::from_str::<serde_json::Value>(value) {
                Ok(json) => {
                    let mut s = String::new();
                    array_text(&json, &mut s);
                    s
                }
                Err(_) => value.to_owned(),
            },
        }
    }
}

fn array_text(value: &serde_json::Value, out: &mut String) {
    match value {
        serde_json::Value::Array(items) => {
            out.push('{');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                array_text(item, out);
            }
            out.push('}');
        }
        serde_json::Value::Null => out.push_str("NULL"),
        serde_json::Value::String(s) => {
            let quote = s.is_empty()
                || s.eq_ignore_ascii_case("null")
                || s.chars()
                    .any(|c| c.is_whitespace() || "{}\",\\".contains(c));
            if !quote {
                out.push_str(s);
                return;
            }
            out.push('"');
            for c in s.chars() {
                if c == '"' || c == '\\' {
                    out.push('\\');
                }
                out.push(c);
            }
            out.push('"');
        }
        other => out.push_str(&other.to_string()),
    }
}

struct Table {
    headers: Vec<String>,
    right: Vec<bool>,
    kinds: Vec<Kind>,
    rows: Vec<Vec<Option<String>>>,
}

impl Table {
    fn write_aligned(&self, out: &mut impl Write) -> std::io::Result<()> {
        let width = |s: &str| s.chars().count();
        let mut widths: Vec<usize> = self.headers.iter().map(|h| width(h)).collect();
        for row in &self.rows {
            for (i, cell) in row.iter().enumerate() {
                widths[i] = widths[i].max(cell.as_deref().map_or(0, width));
            }
        }
        let header: Vec<String> = self
            .headers
            .iter()
            .zip(&widths)
            .map(|(h, w)| {
                let pad = w - width(h);
                format!("{}{}{}", " ".repeat(pad / 2), h, " ".repeat(pad - pad / 2))
            })
            .collect();
        writeln!(out, " {} ", header.join(" | "))?;
        let rule: Vec<String> = widths.iter().map(|w| "-".repeat(w + 2)).collect();
        writeln!(out, "{}", rule.join("+"))?;
        for row in &self.rows {
            let cells: Vec<String> = row
                .iter()
                .enumerate()
                .map(|(i, cell)| {
                    let v = cell.as_deref().unwrap_or("");
                    let pad = " ".repeat(widths[i] - width(v));
                    if self.right[i] {
                        format!("{pad}{v}")
                    } else {
                        format!("{v}{pad}")
                    }
                })
                .collect();
            writeln!(out, " {} ", cells.join(" | ").trim_end())?;
        }
        let n = self.rows.len();
        writeln!(out, "({n} row{})\n", if n == 1 { "" } else { "s" })
    }

    fn write_csv(&self, out: &mut impl Write) -> std::io::Result<()> {
        let quote = |v: &str| {
            if v.contains([',', '"', '\n', '\r']) {
                format!("\"{}\"", v.replace('"', "\"\""))
            } else {
                v.to_owned()
            }
        };
        let header: Vec<String> = self.headers.iter().map(|h| quote(h)).collect();
        writeln!(out, "{}", header.join(","))?;
        for row in &self.rows {
            let cells: Vec<String> = row
                .iter()
                .map(|c| c.as_deref().map(quote).unwrap_or_default())
                .collect();
            writeln!(out, "{}", cells.join(","))?;
        }
        Ok(())
    }
}
