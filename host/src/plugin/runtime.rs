//! The shared WebAssembly runtime: one wasmtime engine with epoch interruption, a linker with
//! WASI p2 (granting nothing), the epoch ticker (`epoch.rs`), and optionally the compiled-component
//! cache.

use super::bindings::PluginPre;
use super::compiled_cache::CompiledCache;
use super::epoch::EpochTicker;
use super::error::LoadError;
use super::host_state::PluginHost;
use super::limits::PluginPolicy;
use super::wasm_operator::WasmOperator;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use wasmtime::component::{Component, Linker};
use wasmtime::{Config, Engine};

/// The shared runtime every plugin of a host is loaded with.
pub struct PluginRuntime {
    engine: Engine,
    linker: Linker<PluginHost>,
    ticker: Arc<EpochTicker>,
    cache: Option<CompiledCache>,
}

impl PluginRuntime {
    /// A runtime with epoch interruption and the sandboxed WASI linker.
    pub fn new() -> Result<Self, LoadError> {
        let mut config = Config::new();
        config.epoch_interruption(true);
        config.wasm_component_model(true);
        let engine = Engine::new(&config).map_err(|e| LoadError::Runtime(e.to_string()))?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(|e| LoadError::Runtime(e.to_string()))?;
        let ticker = EpochTicker::start(engine.clone())
            .map_err(|e| LoadError::Runtime(format!("cannot start the epoch ticker: {e}")))?;
        Ok(PluginRuntime { engine, linker, ticker, cache: None })
    }

    /// Keeps compiled components in `dir`, so loading an unchanged file again skips compilation.
    pub fn with_compiled_cache(mut self, dir: &std::path::Path) -> Self {
        self.cache = Some(CompiledCache::new(dir, &self.engine));
        self
    }

    /// Compiles and checks a component, instantiates it and asks it to describe itself.
    /// `origin` names it in errors (a file path, "embedded product").
    pub fn load(&self, origin: &str, wasm: &[u8], policy: &PluginPolicy) -> Result<WasmOperator, LoadError> {
        let content_hash = hex::encode(Sha256::digest(wasm));
        let cached = self.cache.as_ref().and_then(|c| c.get(&self.engine, &content_hash));
        let from_cache = cached.is_some();
        let component = match cached {
            Some(component) => component,
            None => {
                let component = Component::new(&self.engine, wasm)
                    .map_err(|e| LoadError::Compile { origin: origin.into(), reason: format!("{e:#}") })?;
                if let Some(cache) = &self.cache {
                    cache.put(&content_hash, &component);
                }
                component
            }
        };
        let contract_error = |reason: String| LoadError::Contract {
            origin: origin.into(),
            contract: super::CONTRACT_VERSION,
            reason,
        };
        let instance_pre =
            self.linker.instantiate_pre(&component).map_err(|e| contract_error(format!("{e:#}")))?;
        let pre = PluginPre::new(instance_pre).map_err(contract_error)?;
        let mut op =
            WasmOperator::new(origin, self.engine.clone(), self.ticker.clone(), pre, policy, content_hash)?;
        op.from_compiled_cache = from_cache;
        Ok(op)
    }
}
