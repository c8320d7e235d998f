//! The sandbox: one wasmtime [`Engine`] per driver, the guest component compiled once and cached
//! on disk, and one [`Store`] per session with a WASI context that grants nothing, a memory
//! limit and an epoch deadline on every call.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::time::Duration;

use sha2::{Digest, Sha256};
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Engine, ResourceLimiter, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use wasmpg_wire::Request;

use crate::error::{Error, ErrorKind};
use crate::guest::{self, Step};

/// Generated bindings for the contract in `wit/driver.wit`.
pub(crate) mod bindings {
    wasmtime::component::bindgen!({
        // The one contract shared with every host: `version`, `call`, `call-bytes`.
        // `host/wit` links to the repository's `wit/`, so the published crate carries the contract.
        path: "wit",
        // The component's world: it exports the `packed` interface and imports nothing of ours.
        world: "driver",
    });
}

/// The guest component: built by `build.rs` from `guest/` in the repository, or the committed
/// `component/wasmpg_guest.wasm` in the published crate.
pub(crate) static GUEST_WASM: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/wasmpg_guest.wasm"));

/// The SHA-256 (lowercase hex) `build.rs` recorded for [`GUEST_WASM`]; in the published crate,
/// the one committed beside the component.
pub(crate) const GUEST_SHA256: &str =
    include_str!(concat!(env!("OUT_DIR"), "/wasmpg_guest.wasm.sha256"));

/// Where `build.rs` took the component from: `source`, `committed` or `prebuilt`.
pub(crate) const GUEST_ORIGIN: &str = env!("WASMPG_GUEST_ORIGIN");

/// The embedded component's SHA-256, checked against [`GUEST_SHA256`] before anything is
/// compiled or loaded from the cache: a component that is not the one the build recorded is a
/// setup error, never code that runs.
fn checked_digest() -> Result<[u8; 32], Error> {
    let digest: [u8; 32] = Sha256::digest(GUEST_WASM).into();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    if hex != GUEST_SHA256.trim() {
        return Err(Error::new(
            ErrorKind::Setup,
            format!(
                "the embedded guest component ({GUEST_ORIGIN}) has SHA-256 {hex}, but the build recorded {}",
                GUEST_SHA256.trim()
            ),
        ));
    }
    Ok(digest)
}

/// Epoch ticks per second: the granularity of the CPU bound.
const TICKS_PER_SECOND: u64 = 100;

/// Per-store host state: the (empty) WASI context and the resource limits.
pub(crate) struct HostState {
    wasi: WasiCtx,
    table: ResourceTable,
    limits: Limits,
}

/// Bounds the guest's linear memory and tables, and records how much memory it uses.
struct Limits {
    memory_limit: usize,
    memory_used: usize,
}

impl ResourceLimiter for Limits {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let used = self
            .memory_used
            .saturating_sub(current)
            .saturating_add(desired);
        if used > self.memory_limit {
            // The guest sees a failed `memory.grow`; Rust's allocator then aborts, which traps.
            return Ok(false);
        }
        self.memory_used = used;
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 100_000)
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// The compiled guest, ready to instantiate cheaply.
pub(crate) struct Runtime {
    engine: Engine,
    pre: bindings::DriverPre<HostState>,
    memory_limit: usize,
    cpu_ticks: u64,
}

impl Runtime {
    pub(crate) fn new(
        memory_limit: usize,
        cpu_limit: Duration,
        cache_dir: Option<&Path>,
    ) -> Result<Runtime, Error> {
        let engine = new_engine()?;
        spawn_ticker(&engine);

        let component = load_component(&engine, cache_dir)?;
        let mut linker: Linker<HostState> = Linker::new(&engine);
        // Rust's standard library links a few WASI interfaces (clocks, random, cli); the
        // context below grants none of the capabilities behind them.
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(setup("cannot link WASI"))?;
        let instance_pre = linker
            .instantiate_pre(&component)
            .map_err(setup("the guest component does not link"))?;
        let pre = bindings::DriverPre::new(instance_pre)
            .map_err(setup("the guest component does not match the contract"))?;
        let ticks = cpu_limit.as_millis() as u64 * TICKS_PER_SECOND / 1000;
        let runtime = Runtime {
            engine,
            pre,
            memory_limit,
            cpu_ticks: ticks.max(1),
        };
        // The layout of every call depends on the contract version: refuse a component this
        // host was not written for, once, before any session.
        let version = runtime.instantiate()?.version()?;
        if version != wasmpg_wire::CONTRACT_VERSION {
            return Err(Error::new(
                ErrorKind::Setup,
                format!(
                    "the guest component speaks {version:?}, this host {:?}",
                    wasmpg_wire::CONTRACT_VERSION
                ),
            ));
        }
        Ok(runtime)
    }

    /// A fresh instance in its own store.
    pub(crate) fn instantiate(&self) -> Result<Sandbox, Error> {
        let wasi = wasi_ctx();
        let limits = Limits {
            memory_limit: self.memory_limit,
            memory_used: 0,
        };
        let mut store = Store::new(
            &self.engine,
            HostState {
                wasi,
                table: ResourceTable::new(),
                limits,
            },
        );
        store.limiter(|state| &mut state.limits);
        store.epoch_deadline_trap();
        store.set_epoch_deadline(self.cpu_ticks);
        let driver = self
            .pre
            .instantiate(&mut store)
            .map_err(|e| trap("cannot instantiate the guest", e))?;
        Ok(Sandbox {
            store,
            driver,
            cpu_ticks: self.cpu_ticks,
            poisoned: false,
            columns: guest::ColumnsCache::default(),
            request: Vec::new(),
        })
    }
}

fn new_engine() -> Result<Engine, Error> {
    let mut config = wasmtime::Config::new();
    config.wasm_component_model(true);
    // Interrupt a runaway guest: each call gets a deadline in epoch ticks.
    config.epoch_interruption(true);
    Engine::new(&config).map_err(setup("cannot create the wasm engine"))
}

/// The WASI context of every instance: no environment, arguments, working directory or
/// preopened directories; stdin closed, stdout and stderr discarded (the builder's defaults);
/// no sockets, no name lookup. Clocks and randomness (the SCRAM nonce) are the only services.
fn wasi_ctx() -> WasiCtx {
    WasiCtxBuilder::new()
        .allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false)
        .socket_addr_check(|_, _| Box::pin(async { false }))
        .build()
}

/// Every import of the guest component: each interface (`wasi:cli/environment@0.2.x`) and each
/// function in it (`wasi:cli/environment@0.2.x#get-environment`). For tests: what the guest
/// could ask the host for at all.
#[doc(hidden)]
pub fn guest_imports() -> Result<Vec<String>, Error> {
    use wasmtime::component::types::ComponentItem;
    let engine = new_engine()?;
    let component = load_component(&engine, None)?;
    let mut names = Vec::new();
    for (name, item) in component.component_type().imports(&engine) {
        names.push(name.to_owned());
        if let ComponentItem::ComponentInstance(instance) = item.ty {
            for (function, _) in instance.exports(&engine) {
                names.push(format!("{name}#{function}"));
            }
        }
    }
    Ok(names)
}

/// What the WASI context of an instance hands out, asked of the same host implementations the
/// guest's imports are linked to. For tests.
#[doc(hidden)]
#[derive(Debug)]
pub struct WasiGrants {
    /// `wasi:cli/environment#get-environment`.
    pub environment: Vec<(String, String)>,
    /// `wasi:cli/environment#get-arguments`.
    pub arguments: Vec<String>,
    /// `wasi:cli/environment#initial-cwd`.
    pub initial_cwd: Option<String>,
    /// `wasi:filesystem/preopens#get-directories`: the guest's only way to any file.
    pub preopens: Vec<String>,
    /// `wasi:sockets/tcp-create-socket#create-tcp-socket` (IPv4, IPv6): `Ok` would be a socket.
    pub tcp_socket: Vec<Result<(), String>>,
    /// `wasi:sockets/udp-create-socket#create-udp-socket` (IPv4, IPv6).
    pub udp_socket: Vec<Result<(), String>>,
}

#[doc(hidden)]
pub fn wasi_grants() -> Result<WasiGrants, Error> {
    use wasmtime_wasi::cli::WasiCliCtxView;
    use wasmtime_wasi::filesystem::WasiFilesystemCtxView;
    use wasmtime_wasi::p2::bindings::cli::environment::Host as _;
    use wasmtime_wasi::p2::bindings::filesystem::preopens::Host as _;
    use wasmtime_wasi::p2::bindings::sockets::network::IpAddressFamily;
    use wasmtime_wasi::p2::bindings::sockets::tcp_create_socket::Host as _;
    use wasmtime_wasi::p2::bindings::sync::sockets::udp_create_socket::Host as _;
    use wasmtime_wasi::sockets::WasiSocketsCtxView;

    let failed = |e: wasmtime::Error| Error::with_cause(ErrorKind::Setup, "WASI probe", e.into());
    let mut wasi = wasi_ctx();
    let mut table = ResourceTable::new();
    let mut cli = WasiCliCtxView {
        ctx: wasi.cli(),
        table: &mut table,
    };
    let environment = cli.get_environment().map_err(failed)?;
    let arguments = cli.get_arguments().map_err(failed)?;
    let initial_cwd = cli.initial_cwd().map_err(failed)?;
    let mut fs = WasiFilesystemCtxView {
        ctx: wasi.filesystem(),
        table: &mut table,
    };
    let preopens = fs
        .get_directories()
        .map_err(failed)?
        .into_iter()
        .map(|(_, path)| path)
        .collect();
    let mut sockets = WasiSocketsCtxView {
        ctx: wasi.sockets(),
        table: &mut table,
    };
    let families = [IpAddressFamily::Ipv4, IpAddressFamily::Ipv6];
    let tcp_socket = families
        .iter()
        .map(|f| {
            sockets
                .create_tcp_socket(*f)
                .map(drop)
                .map_err(|e| format!("{e:?}"))
        })
        .collect();
    let udp_socket = families
        .iter()
        .map(|f| {
            let family = match f {
                IpAddressFamily::Ipv4 => {
                    wasmtime_wasi::p2::bindings::sync::sockets::udp::IpAddressFamily::Ipv4
                }
                IpAddressFamily::Ipv6 => {
                    wasmtime_wasi::p2::bindings::sync::sockets::udp::IpAddressFamily::Ipv6
                }
            };
            sockets
                .create_udp_socket(family)
                .map(drop)
                .map_err(|e| format!("{e:?}"))
        })
        .collect();
    Ok(WasiGrants {
        environment,
        arguments,
        initial_cwd,
        preopens,
        tcp_socket,
        udp_socket,
    })
}

fn setup(what: &'static str) -> impl Fn(wasmtime::Error) -> Error {
    move |e| Error::with_cause(ErrorKind::Setup, what, e.into())
}

fn trap(what: &str, e: wasmtime::Error) -> Error {
    Error::with_cause(ErrorKind::Trap, what.to_owned(), e.into())
}

/// Advances the engine's epoch until the engine is dropped.
fn spawn_ticker(engine: &Engine) {
    let weak = engine.weak();
    let spawned = std::thread::Builder::new()
        .name("wasmpg-epoch".into())
        .spawn(move || loop {
            std::thread::sleep(Duration::from_millis(1000 / TICKS_PER_SECOND));
            match weak.upgrade() {
                Some(engine) => engine.increment_epoch(),
                None => return,
            }
        });
    // Without the ticker calls are never interrupted; that only weakens the CPU bound.
    drop(spawned);
}

/// Compiles the component, or loads the compiled artifact cached by an earlier process.
///
/// The cache key covers the component bytes and the engine's compatibility hash (wasmtime
/// version and every setting that affects compiled code), so a stale artifact is never loaded.
fn load_component(engine: &Engine, cache_dir: Option<&Path>) -> Result<Component, Error> {
    let digest = checked_digest()?;
    let dir = cache_dir.map(Path::to_path_buf).or_else(default_cache_dir);
    let Some(dir) = dir else {
        return compile(engine);
    };
    let path = dir.join(cache_file_name(engine, &digest));
    if path.is_file() {
        // SAFETY: `deserialize_file` trusts the file to be a wasmtime artifact: only this crate
        // writes into the cache directory (atomically, by rename), under the user's own cache
        // directory; a corrupt or foreign file fails wasmtime's header and version checks and
        // is then recompiled and replaced.
        if let Ok(component) = unsafe { Component::deserialize_file(engine, &path) } {
            return Ok(component);
        }
    }
    let component = compile(engine)?;
    // Caching is an optimisation: failing to write it is not an error.
    if let Ok(bytes) = component.serialize() {
        let _ = std::fs::create_dir_all(&dir);
        let tmp = dir.join(format!(
            ".{}.{}.tmp",
            std::process::id(),
            cache_file_name(engine, &digest)
        ));
        if std::fs::write(&tmp, bytes).is_ok() && std::fs::rename(&tmp, &path).is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
    }
    Ok(component)
}

fn compile(engine: &Engine) -> Result<Component, Error> {
    Component::new(engine, GUEST_WASM).map_err(setup("cannot compile the guest component"))
}

fn cache_file_name(engine: &Engine, digest: &[u8; 32]) -> String {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut hasher);
    let hex: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
    format!("guest-{hex}-{:016x}.cwasm", hasher.finish())
}

fn default_cache_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("WASMPG_CACHE_DIR") {
        return Some(PathBuf::from(dir));
    }
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME") {
        return Some(PathBuf::from(dir).join("wasmpg"));
    }
    std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache").join("wasmpg"))
}

/// One guest instance: one session, or one cancel request. Any trap poisons it: the store is dropped
/// with the sandbox, and every later call reports the session closed.
pub(crate) struct Sandbox {
    store: Store<HostState>,
    driver: bindings::Driver,
    cpu_ticks: u64,
    poisoned: bool,
    /// The columns of the session's recent result shapes, shared by the results of the same
    /// shape.
    columns: guest::ColumnsCache,
    /// The buffer every request is encoded into (at most [`REQUEST_BUFFER_KEEP`] bytes kept).
    request: Vec<u8>,
}

/// The largest request buffer a sandbox keeps between calls: one socket read and its tag.
const REQUEST_BUFFER_KEEP: usize = 128 << 10;

impl Sandbox {
    fn guard<T>(
        &mut self,
        what: &str,
        f: impl FnOnce(&mut Self) -> wasmtime::Result<T>,
    ) -> Result<T, Error> {
        if self.poisoned {
            return Err(Error::new(
                ErrorKind::Closed,
                "the driver instance trapped earlier and was discarded",
            ));
        }
        self.store.set_epoch_deadline(self.cpu_ticks);
        match f(self) {
            Ok(v) => Ok(v),
            Err(e) => {
                self.poisoned = true;
                Err(trap(&format!("the guest trapped in {what}"), e))
            }
        }
    }

    /// The contract and layout version the component speaks.
    pub(crate) fn version(&mut self) -> Result<String, Error> {
        self.guard("version", |s| {
            s.driver.wasmpg_driver_packed().call_version(&mut s.store)
        })
    }

    /// One packed request (byte form: a `list<u8>` is a copy for this host) and the step the
    /// guest answers with, decoded.
    pub(crate) fn call(&mut self, request: &Request<'_>) -> Result<Step, Error> {
        let mut bytes = std::mem::take(&mut self.request);
        request.encode_bytes_into(&mut bytes);
        let packed = self.guard("call-bytes", |s| {
            s.driver
                .wasmpg_driver_packed()
                .call_call_bytes(&mut s.store, &bytes)
        });
        // The buffer is kept for the next request unless this one was large (a big COPY chunk
        // or file): an idle session holds no large buffer.
        if bytes.capacity() <= REQUEST_BUFFER_KEEP {
            self.request = bytes;
        }
        let packed = packed?;
        let step = guest::decode(&packed, &mut self.columns);
        if step.is_err() {
            // A guest that breaks the contract is not trusted again.
            self.poisoned = true;
        }
        step
    }

    /// Bytes of linear memory the instance currently has (for benchmarks and tests).
    pub(crate) fn memory_bytes(&self) -> usize {
        self.store.data().limits.memory_used
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The published crate embeds the committed component, so the committed file must be exactly
    /// what the sources build (`host/component/update` refreshes it).
    #[test]
    fn committed_component_is_what_the_sources_build() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("component");
        let committed = std::fs::read(dir.join("wasmpg_guest.wasm")).expect("committed component");
        let sum = std::fs::read_to_string(dir.join("wasmpg_guest.wasm.sha256")).expect("its sum");
        let recorded = sum.split_whitespace().next().unwrap_or_default();
        let hex: String = Sha256::digest(&committed)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(
            hex, recorded,
            "wasmpg_guest.wasm.sha256 is not the committed file's digest"
        );
        assert_eq!(
            GUEST_ORIGIN, "source",
            "the tests run on the repository's own sources"
        );
        assert!(
            committed == GUEST_WASM,
            "host/component/wasmpg_guest.wasm is not what guest/ builds: run host/component/update"
        );
    }

    #[test]
    fn the_embedded_component_matches_its_recorded_digest() {
        let digest = checked_digest().expect("digest");
        assert_eq!(digest, <[u8; 32]>::from(Sha256::digest(GUEST_WASM)));
    }
}
