//! Plugins: loading WebAssembly components against the WIT contract and running them as engine
//! operators under per-plugin limits. This module is the only one that imports wasmtime.

mod bindings;
pub mod compiled_cache;
mod descriptor;
pub mod directory;
pub mod embedded;
mod epoch;
pub mod error;
mod host_state;
pub mod limits;
pub mod native;
pub mod runtime;
pub mod set;
pub mod wasm_operator;

pub use error::LoadError;
pub use limits::{Limits, PluginOverrides, PluginPolicy};
pub use runtime::PluginRuntime;
pub use set::PluginSet;
pub use wasm_operator::WasmOperator;

/// Compiles and checks a component as a load would (world, `describe`, limits) without keeping
/// it: the admin API's check before an upload is written.
pub fn check_component(wasm: &[u8], policy: &PluginPolicy) -> Result<live_shopper_abi::Descriptor, String> {
    use crate::engine::Operator;
    let runtime = PluginRuntime::new().map_err(|e| e.to_string())?;
    let op = runtime.load("upload", wasm, policy).map_err(|e| e.to_string())?;
    Ok(op.descriptor().clone())
}

/// The WIT package version this host speaks (it also loads 0.1.0 components).
pub const CONTRACT_VERSION: &str = "live-shopper:plugin@0.2.0";
