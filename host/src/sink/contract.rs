//! The sink contract: what the pipeline asks of a feature store ([`FeatureSink`]: emit, submit
//! under a ticket, acknowledgements, wait, maintain, counters), what the HTTP API asks of it
//! ([`FeatureReader`]), and their error.

use crate::engine::emission::EmissionSink;
use crate::error::{Classified, Fault};
use thiserror::Error;

/// A store failed to take or serve features: which store, whose fault, and the store's own error.
#[derive(Debug, Error)]
#[error("the {store} feature store failed")]
pub struct SinkError {
    /// `redis`, `memory`.
    pub store: &'static str,
    /// Whose fault the cause is.
    pub fault: Fault,
    /// The store's own error.
    #[source]
    pub source: Box<dyn std::error::Error + Send + Sync>,
}

impl Classified for SinkError {
    fn fault(&self) -> Fault {
        self.fault
    }
}

/// A step's writes acknowledged by the store: every emission submitted under `ticket` (and
/// under every ticket before it) is durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ack {
    /// The ticket the writes were submitted under.
    pub ticket: u64,
    /// When the store acknowledged them, µs since the epoch.
    pub at_us: i64,
}

/// What a store reports about itself for the summary, `/healthz` and metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SinkCounters {
    /// Pipelines written to Redis (None for a store that is not Redis).
    pub writes: Option<u64>,
    /// Failed write attempts that were retried.
    pub retries: Option<u64>,
    /// Feature hashes held in memory (None for a store that does not hold them here).
    pub hashes: Option<usize>,
    /// Since when every write attempt has failed, ms since the epoch (None: the last succeeded).
    pub failing_since_ms: Option<i64>,
}

/// A write the store refused for good, which retrying cannot change (Redis: `WRONGTYPE` where a
/// plugin's key template meets a key of another type, an `ERR` from the hash script). The rest of
/// its step was written; this one is reported once, for the plugin dead-letter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefusedWrite {
    /// The key that was not written.
    pub key: String,
    /// The plugins whose fields it held (none for an alias).
    pub plugins: Vec<String>,
    /// The store's answer.
    pub reason: String,
}

/// The store the pipeline writes features to.
///
/// Emissions arrive through [`EmissionSink`] while a step runs; the caller then submits the
/// step's writes under a ticket it minted (tickets increase), and later takes the store's
/// acknowledgements, which come in ticket order. A store may write in the background; it blocks
/// `submit` when it is too far behind (backpressure) until it catches up or `give_up` says so.
pub trait FeatureSink: EmissionSink + Send {
    /// Hands the writes emitted since the last submit (maybe none) to the store as `ticket`.
    fn submit(&mut self, ticket: u64, give_up: &dyn Fn() -> bool) -> Result<(), SinkError>;

    /// Appends the acknowledgements that arrived since the last call, in ticket order, without
    /// waiting. A write that was given up is reported here as its error, once.
    fn take_acks(&mut self, acks: &mut Vec<Ack>) -> Result<(), SinkError>;

    /// Waits until everything submitted is acknowledged (the acknowledgements are then taken
    /// by the next [`FeatureSink::take_acks`]), or `give_up`.
    fn wait_all(&mut self, give_up: &dyn Fn() -> bool) -> Result<(), SinkError>;

    /// Fields emitted and not yet submitted: a caller bounds its memory by submitting early.
    fn pending_fields(&self) -> usize;

    /// Housekeeping between steps, e.g. dropping expired hashes of an in-memory store.
    fn maintain(&mut self, now_ms: i64);

    /// The store's counters.
    fn counters(&self) -> SinkCounters;

    /// Appends the writes refused for good since the last call (see [`RefusedWrite`]).
    fn take_refused(&mut self, _refused: &mut Vec<RefusedWrite>) {}
}

/// Reads features back for the HTTP API, from whichever store the pipeline writes.
pub trait FeatureReader: Send + Sync {
    /// A hash's live fields, or None when it does not exist.
    fn hash(&self, key: &str) -> Result<Option<Vec<(String, String)>>, SinkError>;

    /// The shopper id a login id is aliased to.
    fn alias(&self, user_id: &str) -> Result<Option<String>, SinkError>;
}
