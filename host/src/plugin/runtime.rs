//! The shared WebAssembly runtime: one wasmtime engine with epoch interruption, a linker with
//! WASI p2 (granting nothing), a ticker thread that advances the epoch, and optionally the
//! compiled-component cache.

use super::bindings::PluginPre;
use super::compiled_cache::CompiledCache;
use super::error::LoadError;
use super::host_state::PluginHost;
use super::limits::Limits;
use super::wasm_operator::WasmOperator;
use sha2::{Digest, Sha256};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use wasmtime::component::{Component, Linker};
use wasmtime::{Config, Engine};

/// How often the epoch advances; CPU deadlines are whole multiples of it.
pub const EPOCH_TICK: Duration = Duration::from_millis(5);

pub struct PluginRuntime {
    engine: Engine,
    linker: Linker<PluginHost>,
    ticker: Arc<EpochTicker>,
    cache: Option<CompiledCache>,
}

/// Advances the engine's epoch every [`EPOCH_TICK`] until the last holder drops it. Every loaded
/// operator holds it, so CPU deadlines keep working however long an operator outlives its runtime.
pub struct EpochTicker {
    stop: Arc<AtomicBool>,
}

impl EpochTicker {
    fn start(engine: Engine) -> std::io::Result<Arc<Self>> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        std::thread::Builder::new().name("wasm-epoch".into()).spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                std::thread::sleep(EPOCH_TICK);
                engine.increment_epoch();
            }
        })?;
        Ok(Arc::new(EpochTicker { stop }))
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

impl PluginRuntime {
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
    pub fn load(&self, origin: &str, wasm: &[u8], limits: Limits) -> Result<WasmOperator, LoadError> {
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
        let contract_error = |e: wasmtime::Error| LoadError::Contract {
            origin: origin.into(),
            contract: super::CONTRACT_VERSION,
            reason: format!("{e:#}"),
        };
        let instance_pre = self.linker.instantiate_pre(&component).map_err(contract_error)?;
        let pre = PluginPre::new(instance_pre).map_err(contract_error)?;
        let mut op =
            WasmOperator::new(origin, self.engine.clone(), self.ticker.clone(), pre, limits, content_hash)?;
        op.from_compiled_cache = from_cache;
        Ok(op)
    }
}
