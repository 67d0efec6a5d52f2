//! The session feature plugin: Wasm export glue. The logic lives in `features.rs`.

pub mod features;

live_shopper_sdk::export_plugin!(features::SessionPlugin);

/// The plugin's logic, under the name the host's native twins use.
pub use features::SessionPlugin as Plugin;
