//! The context feature plugin: Wasm export glue. The logic lives in `features.rs` and `regions.rs`.

pub mod features;
pub mod regions;

live_shopper_sdk::export_plugin!(features::ContextPlugin);

/// The plugin's logic, under the name the host's native twins use.
pub use features::ContextPlugin as Plugin;
