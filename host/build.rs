//! Builds the guest component (`guest/`, wasm32-wasip2) so that `cargo build -p wasmpg` alone
//! yields a working driver: the component is embedded into the host with `include_bytes!`.
//!
//! The nested cargo uses its own target directory (`target/guest`) so it never waits on the
//! outer build's lock. `WASMPG_GUEST_WASM=/path/to/component.wasm` embeds a prebuilt component
//! instead.

use std::env;
use std::path::PathBuf;
use std::process::Command;

fn main() {
    let manifest_dir =
        PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let root = manifest_dir
        .parent()
        .expect("the host crate lives inside the workspace")
        .to_path_buf();
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"))
        .join("wasmpg_guest.wasm");
    println!("cargo:rerun-if-env-changed=WASMPG_GUEST_WASM");
    if let Some(prebuilt) = env::var_os("WASMPG_GUEST_WASM") {
        println!(
            "cargo:rerun-if-changed={}",
            PathBuf::from(&prebuilt).display()
        );
        std::fs::copy(&prebuilt, &out).expect("cannot copy WASMPG_GUEST_WASM");
        return;
    }
    for path in [
        "guest/src",
        "guest/Cargo.toml",
        "wire/src",
        "wire/Cargo.toml",
        "wit",
        "Cargo.lock",
    ] {
        println!("cargo:rerun-if-changed={}", root.join(path).display());
    }
    ensure_wasm_target();
    let target_dir = root.join("target").join("guest");
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(&root)
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
    let status = cmd.status().expect("cannot run cargo to build the guest");
    if !status.success() {
        panic!(
            "building the guest component failed (is the target installed? `rustup target add wasm32-wasip2`)"
        );
    }
    let built = target_dir.join("wasm32-wasip2/guest/wasmpg_guest.wasm");
    std::fs::copy(&built, &out).unwrap_or_else(|e| panic!("cannot copy {}: {e}", built.display()));
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
