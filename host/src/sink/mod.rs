//! Where emissions go: the in-memory feature store (embedded default), Redis (pending writes
//! coalesced per hash, flushed as one pipeline) and the emission log.

pub mod background;
pub mod emission_log;
pub mod memory;
pub mod pending;
pub mod redis;

pub use emission_log::EmissionLog;
pub use memory::{FeatureStore, SharedStore};
pub use pending::PendingWrites;
pub use redis::{RedisReader, RedisSink, RedisTarget, RedisWriter};
