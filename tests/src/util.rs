//! Helpers that do not need the driver: unique names, bounded polling, running commands, the
//! CLI's path.

use std::io::Write;
use std::net::TcpListener;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

/// A name no other test (of this or a concurrent process) uses: `<prefix>_<pid>_<n>`, lower case,
/// a valid unquoted SQL identifier when `prefix` is one.
pub fn unique_name(prefix: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}_{}_{n}", std::process::id()).to_lowercase()
}

/// Calls `probe` until it returns `Some`, for at most `timeout` (first after no delay, then
/// backing off from 5 ms to 100 ms). Panics naming `what` if it never does.
pub fn wait_until<T>(what: &str, timeout: Duration, mut probe: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    let mut delay = Duration::from_millis(5);
    loop {
        if let Some(value) = probe() {
            return value;
        }
        if start.elapsed() >= timeout {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        std::thread::sleep(delay);
        delay = (delay * 2).min(Duration::from_millis(100));
    }
}

/// The `wasmpg` CLI binary, built by `cargo build [--release] -p wasmpg-cli`. Cargo only builds
/// the binaries of the package under test, so this looks next to the running test executable
/// (`<target>/<profile>/deps/<test>` → `<target>/<profile>/wasmpg`), then in the other profile.
/// `WASMPG_CLI` overrides the search. Panics with the command to run when it finds none.
pub fn cli_path() -> PathBuf {
    if let Some(path) = std::env::var_os("WASMPG_CLI") {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().expect("current_exe");
    let mut candidates = Vec::new();
    // <target>/<profile>/deps/<test-exe>
    if let Some(profile_dir) = exe.parent().and_then(|deps| deps.parent()) {
        candidates.push(profile_dir.join("wasmpg"));
        if let Some(target) = profile_dir.parent() {
            for profile in ["release", "debug"] {
                candidates.push(target.join(profile).join("wasmpg"));
            }
        }
    }
    candidates
        .iter()
        .find(|p| p.is_file())
        .cloned()
        .unwrap_or_else(|| {
            panic!(
                "the wasmpg CLI binary is not built; looked at {candidates:?}. Run \
             `cargo build --release -p wasmpg-cli` (same profile as the tests) first, \
             or set WASMPG_CLI"
            )
        })
}

/// Runs `cmd` to completion with `stdin` as its input (else /dev/null), capturing whatever
/// output `cmd` pipes (`Command::spawn` inherits by default: set `Stdio::piped()` to capture).
/// Kills it after `timeout`.
pub fn output_with_timeout(
    cmd: &mut Command,
    stdin: Option<&[u8]>,
    timeout: Duration,
) -> Result<Output, String> {
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    });
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("could not start {cmd:?}: {e}"))?;
    let pid = child.id();
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().expect("stdin is piped");
        let input = input.to_vec();
        // A writer thread, so a child that prints a lot before reading cannot deadlock us.
        std::thread::spawn(move || {
            let _ = pipe.write_all(&input);
        });
    }
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(timeout) {
        Ok(result) => result.map_err(|e| format!("waiting for {cmd:?}: {e}")),
        Err(_) => {
            // SAFETY: `pid` is our child and not yet reaped: the waiter thread still waits on it.
            unsafe { libc::kill(pid as i32, libc::SIGKILL) };
            Err(format!(
                "{cmd:?} did not finish within {timeout:?}; killed it"
            ))
        }
    }
}

/// A listener that must never be reached: it accepts and at once closes every connection (so a
/// client that wrongly gets through fails fast instead of hanging), and counts them.
pub struct Trap {
    /// The TCP port, for [`Trap::tcp`].
    pub port: u16,
    /// The socket file, for [`Trap::unix`].
    pub path: Option<PathBuf>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<usize>>,
}

impl Trap {
    /// A trap on 127.0.0.1, on a port of the kernel's choice.
    pub fn tcp() -> Trap {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        Trap::spawn(port, None, move || listener.accept().map(|_| ()))
    }

    /// A trap on the Unix socket `<dir>/.s.PGSQL.<port>` (the directory must exist).
    pub fn unix(dir: &Path, port: u16) -> Trap {
        let path = dir.join(format!(".s.PGSQL.{port}"));
        let listener = UnixListener::bind(&path).expect("bind the Unix socket");
        listener.set_nonblocking(true).unwrap();
        Trap::spawn(port, Some(path), move || listener.accept().map(|_| ()))
    }

    fn spawn(
        port: u16,
        path: Option<PathBuf>,
        mut accept: impl FnMut() -> std::io::Result<()> + Send + 'static,
    ) -> Trap {
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let mut hits = 0;
            loop {
                // Read the flag before draining: once it is set, every attempt has returned, so
                // this last drain sees every connection that ever reached the socket.
                let last = stopping.load(Ordering::SeqCst);
                // Accepted streams are dropped (closed) at once.
                while accept().is_ok() {
                    hits += 1;
                }
                if last {
                    return hits;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        });
        Trap {
            port,
            path,
            stop,
            thread: Some(thread),
        }
    }

    /// How many connections reached the trap. Call it after the attempts have returned.
    pub fn hits(mut self) -> usize {
        self.finish()
    }

    fn finish(&mut self) -> usize {
        self.stop.store(true, Ordering::SeqCst);
        let hits = self
            .thread
            .take()
            .map_or(0, |t| t.join().expect("trap thread"));
        if let Some(path) = &self.path {
            let _ = std::fs::remove_file(path);
        }
        hits
    }
}

impl Drop for Trap {
    fn drop(&mut self) {
        self.finish();
    }
}

/// The process's resident set size, from /proc/self/status.
pub fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmRSS");
    kb * 1024
}

/// Whether `program args...` runs and exits 0 (its output discarded).
fn succeeds(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A host's suite cannot run here: a failure when `require_var` is set (CI), else a loud skip.
fn unavailable<T>(require_var: &str, failure: &str, skipped: &str) -> Option<T> {
    assert!(
        std::env::var_os(require_var).is_none(),
        "{require_var} is set, but {failure}"
    );
    eprintln!("SKIPPED: {skipped}");
    None
}

/// The Node package's entry module (`node/src/index.js`) when Node >= 20 can import it (its
/// `gen/` built by `node/run-tests.sh --prepare`, which `tests/run-all` runs first); else None
/// after saying why (a failure with `WASMPG_REQUIRE_NODE=1`).
pub fn node_package() -> Option<PathBuf> {
    let entry = Path::new(env!("CARGO_MANIFEST_DIR")).join("../node/src/index.js");
    let built = entry
        .parent()
        .is_some_and(|src| src.join("../gen/wasmpg.js").is_file());
    let version = "process.exit(Number(process.versions.node.split('.')[0]) >= 20 ? 0 : 1)";
    if built && succeeds("node", &["-e", version]) {
        return Some(entry);
    }
    unavailable(
        "WASMPG_REQUIRE_NODE",
        "Node >= 20 or the built package is missing (run node/run-tests.sh --prepare)",
        "no Node >= 20 with the built package (node/run-tests.sh --prepare)",
    )
}

/// A Python interpreter that can import the wasmpg package: `$WASMPG_PYTHON`, else `python3`
/// if it has the package. None (the Python run is skipped, loudly) when there is none, unless
/// `WASMPG_REQUIRE_PYTHON=1`, which makes that a failure (for CI).
pub fn python() -> Option<String> {
    let python = std::env::var("WASMPG_PYTHON").unwrap_or_else(|_| "python3".to_owned());
    if succeeds(&python, &["-c", "import wasmpg"]) {
        return Some(python);
    }
    unavailable(
        "WASMPG_REQUIRE_PYTHON",
        "no Python can import wasmpg (set WASMPG_PYTHON)",
        "no Python with the wasmpg package (pip install ./python; set WASMPG_PYTHON to its \
         interpreter)",
    )
}
