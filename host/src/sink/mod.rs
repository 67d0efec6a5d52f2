//! Where emissions go. One contract, [`FeatureSink`], for the stores the pipeline writes to — the
//! in-memory store of the embedded default ([`memory`]) and Redis ([`redis`]) — and one,
//! [`FeatureReader`], for the HTTP API reading features back. Also the emission log of `replay`
//! and the rules every feature hash follows ([`hash`]).
//!
//! Imports go one way: `redis/mod.rs` → `redis/writer_thread.rs` → `redis/client.rs` (the only
//! file that imports the `redis` crate); the contract (`contract.rs`), [`pending`] and [`hash`]
//! are shared below them and import none of them.

mod contract;
pub mod emission_log;
pub mod hash;
pub mod memory;
pub mod pending;
pub mod redis;

use std::sync::Arc;

pub use contract::{Ack, FeatureReader, FeatureSink, RefusedWrite, SinkCounters, SinkError};
pub use emission_log::EmissionLog;
pub use memory::{FeatureStore, SharedStore};
pub use pending::PendingWrites;
pub use redis::{RedisReader, RedisSink, RedisSinkError, RedisTarget};

/// A store as its two sides: the pipeline writes to the sink, the API reads from the reader.
pub type OpenedStore = (Box<dyn FeatureSink>, Arc<dyn FeatureReader>);

/// The store `run` writes to and the API reads from: Redis at `redis_url`, else in memory.
pub fn open(redis_url: Option<&str>) -> Result<OpenedStore, SinkError> {
    match redis_url {
        Some(url) => Ok((Box::new(RedisSink::new(url)?), Arc::new(RedisReader::new(url)?))),
        None => {
            let store = SharedStore::default();
            Ok((Box::new(store.clone()), Arc::new(store)))
        }
    }
}
