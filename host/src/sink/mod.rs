//! Where emissions go: the in-memory feature store (embedded default) and the emission log.

pub mod emission_log;
pub mod memory;

pub use emission_log::EmissionLog;
pub use memory::{FeatureStore, SharedStore};
