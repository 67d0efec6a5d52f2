//! Redis as the feature store: emissions coalesce into [`PendingWrites`]; a submit hands them to
//! the writer thread (`writer_thread.rs`), which writes one pipeline per step and retries until it
//! lands, so the pipeline computes the next step meanwhile. At most two steps are in flight.
//! `client.rs` talks to the server or cluster; it is the only file that imports `redis`.

mod client;
mod writer_thread;

pub use client::{RedisReader, RedisSinkError, RedisTarget, RedisWriter};
pub use client::{CONNECT_TIMEOUT, IO_TIMEOUT, RETRY_FIRST, RETRY_MAX};

use crate::engine::emission::{Emission, EmissionSink};
use crate::error::Classified;
use crate::sink::contract::{Ack, FeatureReader, FeatureSink, RefusedWrite, SinkCounters, SinkError};
use crate::sink::pending::PendingWrites;
use std::sync::atomic::Ordering;
use writer_thread::BackgroundWriter;

impl From<RedisSinkError> for SinkError {
    fn from(e: RedisSinkError) -> Self {
        SinkError { store: "redis", fault: e.fault(), source: Box::new(e) }
    }
}

/// The Redis [`FeatureSink`].
pub struct RedisSink {
    pending: PendingWrites,
    writer: BackgroundWriter,
    /// Scratch for the writer's acknowledgements.
    acks: Vec<(u64, i64)>,
}

impl RedisSink {
    /// Checks the URL and starts the writer thread (it connects on the first write).
    pub fn new(url: &str) -> Result<Self, RedisSinkError> {
        Ok(RedisSink {
            pending: PendingWrites::default(),
            writer: BackgroundWriter::start(url)?,
            acks: Vec::new(),
        })
    }
}

impl EmissionSink for RedisSink {
    fn emit(&mut self, e: &Emission<'_>) {
        self.pending.emit(e);
    }

    fn alias(&mut self, user_id: &str, shopper_id: &str) {
        self.pending.alias(user_id, shopper_id);
    }
}

impl FeatureSink for RedisSink {
    fn submit(&mut self, ticket: u64, give_up: &dyn Fn() -> bool) -> Result<(), SinkError> {
        Ok(self.writer.submit(ticket, &mut self.pending, give_up)?)
    }

    fn take_acks(&mut self, acks: &mut Vec<Ack>) -> Result<(), SinkError> {
        self.writer.poll()?;
        self.writer.take_acks(&mut self.acks);
        acks.extend(self.acks.drain(..).map(|(ticket, at_us)| Ack { ticket, at_us }));
        Ok(())
    }

    fn wait_all(&mut self, give_up: &dyn Fn() -> bool) -> Result<(), SinkError> {
        Ok(self.writer.wait_all(give_up)?)
    }

    fn pending_fields(&self) -> usize {
        self.pending.fields()
    }

    fn maintain(&mut self, _now_ms: i64) {
        // Redis expires hashes by their TTLs itself.
    }

    fn counters(&self) -> SinkCounters {
        let c = self.writer.counters();
        SinkCounters {
            writes: Some(c.writes.load(Ordering::Relaxed)),
            retries: Some(c.retries.load(Ordering::Relaxed)),
            hashes: None,
            failing_since_ms: Some(c.failing_since_ms.load(Ordering::Relaxed)).filter(|t| *t > 0),
        }
    }

    fn take_refused(&mut self, refused: &mut Vec<RefusedWrite>) {
        self.writer.take_refused(refused);
    }
}

impl FeatureReader for RedisReader {
    fn hash(&self, key: &str) -> Result<Option<Vec<(String, String)>>, SinkError> {
        Ok(RedisReader::hash(self, key)?)
    }

    fn alias(&self, user_id: &str) -> Result<Option<String>, SinkError> {
        Ok(RedisReader::alias(self, user_id)?)
    }
}
