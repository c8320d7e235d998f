//! Provides the guest component that the host embeds with `include_bytes!`, and its SHA-256,
//! which the host checks again when it loads the component.
//!
//! Three sources, in this order:
//! 1. `WASMPG_GUEST_WASM=/path/to/component.wasm`: a prebuilt component, embedded as it is.
//! 2. In the repository (`../guest/Cargo.toml` exists): the component is built from `guest/`
//!    for wasm32-wasip2, reproducibly (paths remapped, toolchain pinned by
//!    `rust-toolchain.toml`, dependencies by `Cargo.lock`), into its own target directory
//!    (`target/guest`) so the nested cargo never waits on the outer build's lock. The host's
//!    tests check that the result is byte for byte the committed `component/wasmpg_guest.wasm`.
//! 3. In the published crate (no `guest/` beside it): the committed `component/wasmpg_guest.wasm`,
//!    checked against `component/wasmpg_guest.wasm.sha256`. No wasm target, no nested cargo: a
//!    crate that depends on `wasmpg` builds with a plain native toolchain.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

fn main() {
    let manifest_dir =
        PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let out = out_dir.join("wasmpg_guest.wasm");
    let committed = manifest_dir.join("component").join("wasmpg_guest.wasm");
    let committed_sum = manifest_dir
        .join("component")
        .join("wasmpg_guest.wasm.sha256");
    println!("cargo:rerun-if-env-changed=WASMPG_GUEST_WASM");
    println!("cargo:rerun-if-changed={}", committed.display());
    println!("cargo:rerun-if-changed={}", committed_sum.display());
    let root = manifest_dir
        .parent()
        .expect("a crate's manifest has a parent directory")
        .to_path_buf();
    let origin = if let Some(prebuilt) = env::var_os("WASMPG_GUEST_WASM") {
        println!(
            "cargo:rerun-if-changed={}",
            PathBuf::from(&prebuilt).display()
        );
        std::fs::copy(&prebuilt, &out).expect("cannot copy WASMPG_GUEST_WASM");
        "prebuilt"
    } else if root.join("guest").join("Cargo.toml").is_file() {
        let built = build_from_source(&root);
        std::fs::copy(&built, &out)
            .unwrap_or_else(|e| panic!("cannot copy {}: {e}", built.display()));
        "source"
    } else {
        let expected = read_sum(&committed_sum);
        let actual =
            sha256_hex(&std::fs::read(&committed).unwrap_or_else(|e| {
                panic!("the published crate lacks {}: {e}", committed.display())
            }));
        if actual != expected {
            panic!(
                "{} has SHA-256 {actual}, but {} records {expected}: the file is damaged",
                committed.display(),
                committed_sum.display()
            );
        }
        std::fs::copy(&committed, &out).expect("cannot copy the committed component");
        "committed"
    };
    let digest = sha256_hex(&std::fs::read(&out).expect("cannot read the embedded component"));
    std::fs::write(out_dir.join("wasmpg_guest.wasm.sha256"), &digest)
        .expect("cannot write the component's digest");
    println!("cargo:rustc-env=WASMPG_GUEST_ORIGIN={origin}");
}

fn read_sum(path: &Path) -> String {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    // `sha256sum` format: the digest, then the file name.
    text.split_whitespace()
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase()
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Builds `guest/` with the `guest` profile and returns the component's path. The same sources,
/// toolchain and lock file give the same bytes wherever the repository and `CARGO_HOME` are:
/// the only machine-specific strings the compiler would embed (source paths in panic locations)
/// are remapped to fixed prefixes.
fn build_from_source(root: &Path) -> PathBuf {
    for path in [
        "guest/src",
        "guest/Cargo.toml",
        "wire/src",
        "wire/Cargo.toml",
        "wit",
        "Cargo.lock",
        "Cargo.toml",
        "rust-toolchain.toml",
    ] {
        println!("cargo:rerun-if-changed={}", root.join(path).display());
    }
    ensure_wasm_target();
    let target_dir = root.join("target").join("guest");
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(root)
        .args([
            "build",
            "--profile",
            "guest",
            "--locked",
            "-p",
            "wasmpg-guest",
            "--target",
            "wasm32-wasip2",
        ])
        .arg("--target-dir")
        .arg(&target_dir);
    // The outer build's settings (clippy's wrapper, host rustflags, profile overrides) are not
    // meant for the guest.
    for (key, _) in env::vars_os() {
        let key = key.to_string_lossy();
        if key.starts_with("CARGO_BUILD_")
            || key.starts_with("CARGO_PROFILE_")
            || key.starts_with("CARGO_TARGET_")
            || key.starts_with("CARGO_ENCODED_")
            || key.starts_with("RUSTC_")
            || key == "RUSTFLAGS"
            || key == "CARGO_TARGET_DIR"
        {
            cmd.env_remove(key.as_ref());
        }
    }
    cmd.env("CARGO_ENCODED_RUSTFLAGS", remap_flags(root));
    let status = cmd.status().expect("cannot run cargo to build the guest");
    if !status.success() {
        panic!(
            "building the guest component failed (is the target installed? `rustup target add wasm32-wasip2`)"
        );
    }
    target_dir.join("wasm32-wasip2/guest/wasmpg_guest.wasm")
}

/// `--remap-path-prefix` for the repository and for cargo's home (where registry sources live),
/// separated by 0x1f as `CARGO_ENCODED_RUSTFLAGS` wants. The standard library's paths are
/// already remapped by the toolchain's own build.
fn remap_flags(root: &Path) -> String {
    let mut flags = vec![format!("--remap-path-prefix={}=/wasmpg", root.display())];
    let cargo_home = env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| env::var_os("HOME").map(|home| PathBuf::from(home).join(".cargo")));
    if let Some(home) = cargo_home {
        flags.push(format!("--remap-path-prefix={}=/cargo", home.display()));
    }
    flags.join("\x1f")
}

/// The guest needs the `wasm32-wasip2` standard library. `rust-toolchain.toml` names the target,
/// but rustup installs a toolchain file's targets only when it installs the toolchain itself, so
/// a machine whose toolchain was already there lacks it: then add it with rustup (the same thing
/// `rustup target add wasm32-wasip2` does by hand) instead of failing minutes later with
/// "can't find crate for `core`".
fn ensure_wasm_target() {
    const TARGET: &str = "wasm32-wasip2";
    let rustc = env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let sysroot = Command::new(&rustc)
        .args(["--print", "sysroot"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    let Some(sysroot) = sysroot else {
        return; // Unknown layout: let the guest build report what is missing.
    };
    if sysroot.join("lib/rustlib").join(TARGET).exists() {
        return;
    }
    println!(
        "cargo:warning=the {TARGET} target is not installed; running `rustup target add {TARGET}`"
    );
    let mut cmd = Command::new("rustup");
    cmd.args(["target", "add", TARGET]);
    if let Some(toolchain) = env::var_os("RUSTUP_TOOLCHAIN") {
        cmd.arg("--toolchain").arg(toolchain);
    }
    match cmd.status() {
        Ok(status) if status.success() => {}
        _ => panic!(
            "the {TARGET} Rust target is missing and `rustup target add {TARGET}` failed; \
             install it by hand, or set WASMPG_GUEST_WASM to a prebuilt component"
        ),
    }
}
