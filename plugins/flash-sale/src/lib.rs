//! The flash-sale plugin: Wasm export glue. The logic lives in `features.rs`.

pub mod features;

live_shopper_sdk::export_plugin!(features::FlashSalePlugin);

/// The plugin's logic, under the name the host's native twins use.
pub use features::FlashSalePlugin as Plugin;
