//! Build script: compiles the default plugins listed in `plugins/DEFAULT_PLUGINS` to
//! `wasm32-wasip2` components (in their own target directory, so the nested cargo never waits on
//! the outer one) and generates the table that embeds them in the binary, the list itself, and
//! the table of their native twins.

use std::env;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

const WASM_TARGET: &str = "wasm32-wasip2";

fn main() {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let root = manifest_dir.parent().expect("host/ sits in the workspace root").to_path_buf();
    for dir in ["plugins", "sdk", "abi", "wit"] {
        println!("cargo:rerun-if-changed={}", root.join(dir).display());
    }
    println!("cargo:rerun-if-changed={}", root.join("Cargo.lock").display());

    let list = root.join("plugins").join("DEFAULT_PLUGINS");
    println!("cargo:rerun-if-changed={}", list.display());
    let text =
        std::fs::read_to_string(&list).unwrap_or_else(|e| panic!("cannot read {}: {e}", list.display()));
    let plugins: Vec<&str> =
        text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).collect();
    assert!(!plugins.is_empty(), "{} names no plugin", list.display());
    ensure_wasm_target();
    let target_dir = wasm_target_dir(&root);
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(&root)
        .args(["build", "--release", "--target", WASM_TARGET, "--target-dir"])
        .arg(&target_dir);
    for p in &plugins {
        cmd.args(["-p", &format!("live-shopper-plugin-{p}")]);
    }
    // Flags meant for the host build (clippy's wrapper, coverage, a target dir) must not leak in.
    for var in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "RUSTC_WORKSPACE_WRAPPER",
        "RUSTC_WRAPPER",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "CARGO_BUILD_RUSTFLAGS",
    ] {
        cmd.env_remove(var);
    }
    let status = cmd.status().expect("cannot run cargo to build the plugins");
    assert!(status.success(), "building the default plugins for {WASM_TARGET} failed (see the output above)");

    let out_dir = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    let mut table = String::from("/// (plugin name, component bytes) of the default plugins.\n");
    table.push_str("pub static EMBEDDED: &[(&str, &[u8])] = &[\n");
    for p in &plugins {
        let built = target_dir
            .join(WASM_TARGET)
            .join("release")
            .join(format!("live_shopper_plugin_{}.wasm", crate_ident(p)));
        let copy = out_dir.join(format!("{p}.wasm"));
        std::fs::copy(&built, &copy).unwrap_or_else(|e| panic!("cannot copy {}: {e}", built.display()));
        writeln!(table, "    ({p:?}, include_bytes!({:?})),", copy.display().to_string()).unwrap();
    }
    table.push_str("];\n");
    std::fs::write(out_dir.join("embedded_plugins.rs"), table).expect("cannot write embedded_plugins.rs");

    let mut names = String::from("/// The default plugins, in load order (`plugins/DEFAULT_PLUGINS`).\n");
    writeln!(names, "pub const DEFAULT_PLUGINS: &[&str] = &{plugins:?};").unwrap();
    std::fs::write(out_dir.join("default_plugins.rs"), names).expect("cannot write default_plugins.rs");

    let mut twins = String::from("/// The default plugins compiled natively, in load order.\n");
    twins.push_str("pub fn default_set() -> Vec<NativeOperator> {\n    vec![\n");
    for p in &plugins {
        writeln!(twins, "        NativeOperator::of::<live_shopper_plugin_{}::Plugin>(),", crate_ident(p))
            .unwrap();
    }
    twins.push_str("    ]\n}\n");
    std::fs::write(out_dir.join("native_twins.rs"), twins).expect("cannot write native_twins.rs");
}

/// A plugin folder's name as its crate is named in Rust (`flash-sale` → `flash_sale`).
fn crate_ident(plugin: &str) -> String {
    plugin.replace('-', "_")
}

/// `target/wasm` beside the host's own target directory.
fn wasm_target_dir(root: &Path) -> PathBuf {
    match env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => PathBuf::from(dir).join("wasm"),
        None => root.join("target").join("wasm"),
    }
}

/// Installs the wasm target with rustup when it is missing, or explains how to.
fn ensure_wasm_target() {
    let rustc = env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let sysroot = Command::new(rustc).args(["--print", "sysroot"]).output().ok();
    let installed = sysroot
        .map(|o| {
            PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()).join("lib/rustlib").join(WASM_TARGET)
        })
        .is_some_and(|p| p.exists());
    if installed {
        return;
    }
    println!("cargo:warning=installing the {WASM_TARGET} target with rustup (needed to build the plugins)");
    let ok = Command::new("rustup").args(["target", "add", WASM_TARGET]).status().is_ok_and(|s| s.success());
    assert!(ok, "the {WASM_TARGET} target is missing and rustup could not add it: run `rustup target add {WASM_TARGET}`");
}
