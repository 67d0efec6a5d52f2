//! The context feature plugin: Wasm export glue. The logic lives in `features.rs` and `regions.rs`.

pub mod features;
pub mod regions;

live_shopper_sdk::export_plugin!(features::ContextPlugin);
