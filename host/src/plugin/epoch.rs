//! The epoch ticker: a thread that advances the wasmtime engine's epoch at a fixed period, which
//! is what turns a plugin's CPU deadline into an interruption.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use wasmtime::Engine;

/// How often the epoch advances; CPU deadlines are whole multiples of it.
pub const EPOCH_TICK: Duration = Duration::from_millis(5);

/// Advances the engine's epoch every [`EPOCH_TICK`] until the last holder drops it. Every loaded
/// operator holds it, so CPU deadlines keep working however long an operator outlives its runtime.
pub struct EpochTicker {
    stop: Arc<AtomicBool>,
}

impl EpochTicker {
    /// Starts the thread for `engine`.
    pub(super) fn start(engine: Engine) -> std::io::Result<Arc<Self>> {
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
