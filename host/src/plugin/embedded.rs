//! The default plugin set, compiled to wasm by the build script and embedded in the binary,
//! and loading of plugin directories.

use super::error::LoadError;
use super::limits::PluginPolicy;
use super::runtime::PluginRuntime;
use super::wasm_operator::WasmOperator;
use crate::engine::Operator;
use std::path::Path;

// Defines `EMBEDDED: &[(&str, &[u8])]`: (plugin name, component bytes).
include!(concat!(env!("OUT_DIR"), "/embedded_plugins.rs"));
// Defines `DEFAULT_PLUGINS: &[&str]`, the list in `plugins/DEFAULT_PLUGINS`.
include!(concat!(env!("OUT_DIR"), "/default_plugins.rs"));

/// Names of the embedded plugins, in load order.
pub fn names() -> impl Iterator<Item = &'static str> {
    EMBEDDED.iter().map(|(name, _)| *name)
}

/// The embedded component bytes of plugin `name` (to write a plugin directory from).
pub fn wasm(name: &str) -> Option<&'static [u8]> {
    EMBEDDED.iter().find(|(n, _)| *n == name).map(|(_, wasm)| *wasm)
}

/// The embedded component of plugin `name` with a custom section holding `tag` appended: the
/// same plugin under another content hash (to exercise reloads and the compiled cache).
pub fn retagged(name: &str, tag: u64) -> Option<Vec<u8>> {
    const SECTION: &[u8] = b"live-shopper-tag";
    let mut bytes = wasm(name)?.to_vec();
    // A custom section: id 0, its size, the name's length and the name, then the payload.
    bytes.extend_from_slice(&[0, (1 + SECTION.len() + 8) as u8, SECTION.len() as u8]);
    bytes.extend_from_slice(SECTION);
    bytes.extend_from_slice(&tag.to_le_bytes());
    Some(bytes)
}

/// Loads the embedded default plugins.
pub fn load_default(runtime: &PluginRuntime, policy: &PluginPolicy) -> Result<Vec<WasmOperator>, LoadError> {
    EMBEDDED.iter().map(|(name, wasm)| runtime.load(&format!("embedded {name}"), wasm, policy)).collect()
}

/// Loads every `*.wasm` in `dir`, in file-name order.
pub fn load_dir(
    runtime: &PluginRuntime,
    dir: &Path,
    policy: &PluginPolicy,
) -> Result<Vec<WasmOperator>, LoadError> {
    let read_error = |source| LoadError::Read { path: dir.display().to_string(), source };
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map_err(read_error)?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "wasm"))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(LoadError::Empty { dir: dir.display().to_string() });
    }
    let mut loaded: Vec<(String, WasmOperator)> = Vec::new();
    for path in files {
        let origin = path.display().to_string();
        let wasm = std::fs::read(&path).map_err(|source| LoadError::Read { path: origin.clone(), source })?;
        let op = runtime.load(&origin, &wasm, policy)?;
        if let Some((first, _)) = loaded.iter().find(|(_, o)| o.descriptor().name == op.descriptor().name) {
            return Err(LoadError::DuplicateName {
                name: op.descriptor().name.clone(),
                first: first.clone(),
                second: origin,
            });
        }
        loaded.push((origin, op));
    }
    Ok(loaded.into_iter().map(|(_, op)| op).collect())
}
