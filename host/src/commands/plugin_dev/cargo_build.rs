//! Building a plugin crate into a `wasm32-wasip2` component with cargo, as `plugin test` and
//! `dev` do: cargo's own diagnostics and progress go to the terminal, and the component's path
//! is read from cargo's machine-readable messages.

use anyhow::{bail, Context};
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The Rust target plugin crates are built for (WASI preview 2 components).
pub const WASM_TARGET: &str = "wasm32-wasip2";

/// A built component.
#[derive(Debug, Clone)]
pub struct Built {
    /// The component's `.wasm` file, as cargo reported it.
    pub wasm: PathBuf,
    /// Wall-clock time the build took.
    pub took: Duration,
}

/// Builds the crate in `crate_dir` in release mode for [`WASM_TARGET`] and returns its component.
pub fn build_plugin(crate_dir: &Path) -> anyhow::Result<Built> {
    let manifest = crate_dir.join("Cargo.toml");
    if !manifest.is_file() {
        bail!("{} has no Cargo.toml: not a plugin crate", crate_dir.display());
    }
    let manifest =
        manifest.canonicalize().with_context(|| format!("cannot resolve {}", manifest.display()))?;
    let started = Instant::now();
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.args(["build", "--release", "--target", WASM_TARGET, "--message-format", "json-render-diagnostics"])
        .arg("--manifest-path")
        .arg(&manifest)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    // Flags meant for a host build (a wrapper, coverage) must not leak into the plugin's.
    for var in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "RUSTC_WORKSPACE_WRAPPER",
        "RUSTC_WRAPPER",
        "CARGO_BUILD_TARGET",
    ] {
        cmd.env_remove(var);
    }
    let mut child = cmd.spawn().context("cannot run cargo (is it on PATH?)")?;
    let stdout = child.stdout.take().expect("stdout is piped");
    let mut wasm = None;
    for line in std::io::BufReader::new(stdout).lines() {
        let line = line.context("cannot read cargo's output")?;
        if let Some(path) = component_of(&line, &manifest) {
            wasm = Some(path);
        }
    }
    let status = child.wait().context("cargo did not finish")?;
    if !status.success() {
        bail!(
            "building {} failed (cargo's errors are above; is the {WASM_TARGET} target installed? \
             `rustup target add {WASM_TARGET}`)",
            crate_dir.display()
        );
    }
    let Some(wasm) = wasm else {
        bail!("{} built no .wasm: its [lib] needs crate-type = [\"cdylib\"]", crate_dir.display());
    };
    Ok(Built { wasm, took: started.elapsed() })
}

/// The `.wasm` named by a `compiler-artifact` message of the package at `manifest`.
fn component_of(line: &str, manifest: &Path) -> Option<PathBuf> {
    let message: serde_json::Value = serde_json::from_str(line).ok()?;
    if message["reason"] != "compiler-artifact" || Path::new(message["manifest_path"].as_str()?) != manifest {
        return None;
    }
    message["filenames"]
        .as_array()?
        .iter()
        .filter_map(|f| f.as_str())
        .find(|f| f.ends_with(".wasm"))
        .map(PathBuf::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_component_is_read_from_the_packages_artifact_message() {
        let manifest = Path::new("/src/visits/Cargo.toml");
        let line = r#"{"reason":"compiler-artifact","manifest_path":"/src/visits/Cargo.toml","filenames":["/t/visits.d","/t/visits.wasm"]}"#;
        assert_eq!(component_of(line, manifest), Some(PathBuf::from("/t/visits.wasm")));
        let other = line.replace("/src/visits/", "/src/sdk/");
        assert_eq!(component_of(&other, manifest), None, "a dependency's artifact");
        assert_eq!(component_of(r#"{"reason":"build-finished","success":true}"#, manifest), None);
        assert_eq!(component_of("not json", manifest), None);
    }
}
