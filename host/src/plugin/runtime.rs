//! The shared WebAssembly runtime: one wasmtime engine with epoch interruption, a linker with
//! WASI p2 (granting nothing), and a ticker thread that advances the epoch.

use super::bindings::PluginPre;
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
        Ok(PluginRuntime { engine, linker, ticker })
    }

    /// Compiles and checks a component, instantiates it and asks it to describe itself.
    /// `origin` names it in errors (a file path, "embedded product").
    pub fn load(&self, origin: &str, wasm: &[u8], limits: Limits) -> Result<WasmOperator, LoadError> {
        let component = Component::new(&self.engine, wasm)
            .map_err(|e| LoadError::Compile { origin: origin.into(), reason: format!("{e:#}") })?;
        let contract_error = |e: wasmtime::Error| LoadError::Contract {
            origin: origin.into(),
            contract: super::CONTRACT_VERSION,
            reason: format!("{e:#}"),
        };
        let instance_pre = self.linker.instantiate_pre(&component).map_err(contract_error)?;
        let pre = PluginPre::new(instance_pre).map_err(contract_error)?;
        let content_hash = hex::encode(Sha256::digest(wasm));
        WasmOperator::new(origin, self.engine.clone(), self.ticker.clone(), pre, limits, content_hash)
    }
}
