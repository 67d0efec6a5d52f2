//! Plugin loading, in one place: the plugins a command runs — the embedded default set or a
//! directory of `.wasm` files, optionally watched for changes — through one runtime.

use super::directory::{PluginChange, PluginDirectory};
use super::{embedded, LoadError, PluginPolicy, PluginRuntime, WasmOperator};
use crate::engine::Operator;
use std::path::Path;

/// Loaded Wasm plugins, ready to hand to an engine.
pub struct PluginSet {
    /// The loaded plugins, in load order.
    pub operators: Vec<WasmOperator>,
}

impl PluginSet {
    /// Loads `dir`'s plugins, or the embedded default set when `dir` is `None`.
    pub fn load(dir: Option<&Path>, policy: &PluginPolicy) -> Result<Self, LoadError> {
        Self::load_cached(dir, policy, None)
    }

    /// Like [`PluginSet::load`], keeping compiled components in `cache` (if given) so the next
    /// load of the same bytes skips compilation.
    pub fn load_cached(
        dir: Option<&Path>,
        policy: &PluginPolicy,
        cache: Option<&Path>,
    ) -> Result<Self, LoadError> {
        let runtime = Self::runtime(cache)?;
        let operators = match dir {
            Some(dir) => embedded::load_dir(&runtime, dir, policy)?,
            None => embedded::load_default(&runtime, policy)?,
        };
        for op in &operators {
            let d = op.descriptor();
            tracing::debug!(plugin = %d.name, version = %d.version, hash = %&op.content_hash()[..12], from_cache = op.from_compiled_cache, "plugin loaded");
        }
        Ok(PluginSet { operators })
    }

    /// The plugin runtime, with the compiled-component cache in `cache` if given.
    pub fn runtime(cache: Option<&Path>) -> Result<PluginRuntime, LoadError> {
        let runtime = PluginRuntime::new()?;
        Ok(match cache {
            Some(cache) => runtime.with_compiled_cache(cache),
            None => runtime,
        })
    }

    /// Loads `dir`'s plugins and watches it: changes arrive on the returned receiver, checked
    /// every `every`, until `stop`.
    pub fn load_watched(
        dir: &Path,
        policy: &PluginPolicy,
        cache: Option<&Path>,
        every: std::time::Duration,
        stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    ) -> Result<(Self, std::sync::mpsc::Receiver<PluginChange>), LoadError> {
        let (directory, operators) = PluginDirectory::open(dir, Self::runtime(cache)?, policy.clone())?;
        let changes = directory.watch(every, stop).map_err(LoadError::Watcher)?;
        Ok((PluginSet { operators }, changes))
    }

    /// Keeps only the plugins named in `names` (all of them when `names` is empty).
    pub fn select(mut self, names: &[String]) -> Result<Self, LoadError> {
        if names.is_empty() {
            return Ok(self);
        }
        for name in names {
            if !self.operators.iter().any(|op| op.descriptor().name == *name) {
                let loaded =
                    self.operators.iter().map(|op| op.descriptor().name.as_str()).collect::<Vec<_>>();
                return Err(LoadError::NoSuchPlugin { name: name.clone(), loaded: loaded.join(", ") });
            }
        }
        self.operators.retain(|op| names.contains(&op.descriptor().name));
        Ok(self)
    }

    /// The plugins as engine operators.
    pub fn into_operators(self) -> Vec<Box<dyn Operator>> {
        self.operators.into_iter().map(|op| Box::new(op) as Box<dyn Operator>).collect()
    }
}
