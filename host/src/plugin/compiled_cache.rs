//! The compiled-component cache: a component compiled once is kept on disk, keyed by the SHA-256
//! of its `.wasm` bytes and by wasmtime's compatibility hash (version and settings), so a restart
//! or a reload of an unchanged file skips compilation. Files are written atomically (temporary
//! file, rename); a file that does not load is removed and the component compiled again.
//!
//! Loading a compiled artifact runs native code that wasmtime produced, so the directory must be
//! writable by the host alone: it is the host's own cache, never a place plugins are uploaded to.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use wasmtime::component::Component;
use wasmtime::Engine;

/// Compiled components kept in a directory, by content hash and wasmtime's compatibility hash.
pub struct CompiledCache {
    dir: PathBuf,
    /// wasmtime's compatibility hash, folded to hex: a new wasmtime or other settings miss.
    compat: String,
}

impl CompiledCache {
    /// The cache in `dir` for components compiled by `engine` (the directory is created on the first put).
    pub fn new(dir: &Path, engine: &Engine) -> Self {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        CompiledCache { dir: dir.to_path_buf(), compat: format!("{:016x}", hasher.finish()) }
    }

    /// Where the component with this content hash is kept.
    pub fn path(&self, content_hash: &str) -> PathBuf {
        self.dir.join(format!("{content_hash}-{}.cwasm", self.compat))
    }

    /// The cached component, if there is one that loads.
    pub fn get(&self, engine: &Engine, content_hash: &str) -> Option<Component> {
        let path = self.path(content_hash);
        if !path.exists() {
            return None;
        }
        // SAFETY: the file was written by `put` from `Component::serialize` of the same
        // wasmtime build and settings (both are in its name), in the host's own cache directory.
        match unsafe { Component::deserialize_file(engine, &path) } {
            Ok(component) => Some(component),
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "compiled component does not load; compiling again");
                if let Err(e) = std::fs::remove_file(&path) {
                    // `put` overwrites it after the compile; only the disk space waits.
                    tracing::warn!(path = %path.display(), error = %e, "cannot remove the damaged cache file");
                }
                None
            }
        }
    }

    /// Keeps a freshly compiled component. A failure only costs the next load a compile.
    pub fn put(&self, content_hash: &str, component: &Component) {
        let path = self.path(content_hash);
        let result = component.serialize().map_err(|e| e.to_string()).and_then(|bytes| {
            std::fs::create_dir_all(&self.dir).map_err(|e| e.to_string())?;
            let tmp = path.with_extension(format!("tmp{}", std::process::id()));
            std::fs::write(&tmp, bytes).map_err(|e| e.to_string())?;
            std::fs::rename(&tmp, &path).map_err(|e| e.to_string())
        });
        if let Err(e) = result {
            tracing::warn!(path = %path.display(), error = %e, "cannot keep the compiled component");
        }
    }
}

/// The default cache directory: `$XDG_CACHE_HOME/live-shopper/components`, else
/// `~/.cache/live-shopper/components`.
pub fn default_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("live-shopper").join("components"))
}

#[cfg(test)]
mod tests {
    use crate::engine::emission::CountingSink;
    use crate::engine::{Engine, EngineConfig, Operator};
    use crate::plugin::{embedded, PluginPolicy, PluginRuntime};
    use crate::source::generator::{Generator, GeneratorConfig};

    /// Emissions and final state bytes of the loaded plugins over generated events.
    fn run(ops: Vec<crate::plugin::WasmOperator>) -> (u64, Vec<usize>) {
        let ops: Vec<Box<dyn Operator>> = ops.into_iter().map(|o| Box::new(o) as Box<dyn Operator>).collect();
        let mut engine = Engine::new(EngineConfig::default(), ops);
        let mut sink = CountingSink::default();
        let config = GeneratorConfig { shoppers: 50, events: 2_000, seed: 4, start_ms: 1_742_000_000_000 };
        let events: Vec<_> = Generator::new(config).collect();
        for chunk in events.chunks(256) {
            engine.process(chunk, &mut sink);
        }
        (sink.emissions, engine.reports().iter().map(|r| r.state_bytes).collect())
    }

    #[test]
    fn a_second_load_comes_from_the_cache_and_computes_the_same() {
        let dir = tempfile::tempdir().unwrap();
        let runtime = || PluginRuntime::new().unwrap().with_compiled_cache(dir.path());
        let first = embedded::load_default(&runtime(), &PluginPolicy::default()).unwrap();
        assert!(first.iter().all(|op| !op.from_compiled_cache));
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            embedded::DEFAULT_PLUGINS.len(),
            "one compiled file per plugin"
        );
        let second = embedded::load_default(&runtime(), &PluginPolicy::default()).unwrap();
        assert!(second.iter().all(|op| op.from_compiled_cache));
        assert_eq!(
            first.iter().map(|o| o.content_hash().to_string()).collect::<Vec<_>>(),
            second.iter().map(|o| o.content_hash().to_string()).collect::<Vec<_>>()
        );
        let (a, b) = (run(first), run(second));
        assert!(a.0 > 500, "{a:?}");
        assert_eq!(a, b);
    }

    #[test]
    fn a_damaged_cache_file_is_compiled_again_and_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let runtime = PluginRuntime::new().unwrap().with_compiled_cache(dir.path());
        embedded::load_default(&runtime, &PluginPolicy::default()).unwrap();
        let victim = std::fs::read_dir(dir.path()).unwrap().next().unwrap().unwrap().path();
        std::fs::write(&victim, b"not a compiled component").unwrap();
        let again = embedded::load_default(&runtime, &PluginPolicy::default()).unwrap();
        assert_eq!(again.iter().filter(|op| !op.from_compiled_cache).count(), 1);
        assert!(std::fs::read(&victim).unwrap().len() > 1_000, "rewritten");
        let third = embedded::load_default(&runtime, &PluginPolicy::default()).unwrap();
        assert!(third.iter().all(|op| op.from_compiled_cache));
    }
}
