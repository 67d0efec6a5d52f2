//! What the engine counts: per operator and for the whole engine, and the report of one
//! operator the API and benchmarks read.

use super::failures;
use super::operator::OperatorFailure;
use live_shopper_abi::Descriptor;

/// Counters of one operator.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OperatorStats {
    /// Events delivered to its calls (late ones are not).
    pub events_in: u64,
    /// Calls made: one per step with events for it, one per round of due timers.
    pub calls: u64,
    /// Calls that failed with one key (a failed call of several keys is tried again in halves
    /// until each failing key fails alone).
    pub failures: u64,
    /// Failed calls of several keys that were tried again in halves.
    pub split_calls: u64,
    /// Emissions of its successful calls.
    pub emissions: u64,
    /// Events dropped as late: at or before their key's as-of time (the watermark for a new key)
    /// minus its longest window.
    pub late: u64,
    /// Events not delivered because the plugin is quarantined.
    pub skipped: u64,
    /// Events it wanted whose declared entity field was missing or not a string or whole
    /// number: skipped for this plugin only.
    pub unkeyed: u64,
    /// Signals of its successful calls.
    pub signals: u64,
    /// The most recent failed call, if any.
    pub last_failure: Option<OperatorFailure>,
    /// Its run of consecutive failures, and whether it is quarantined.
    pub health: failures::Health,
}

/// Counters of the whole engine.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EngineStats {
    /// Events of input partitions accepted by dedup.
    pub events: u64,
    /// Events of input partitions dropped by dedup as already seen.
    pub duplicates: u64,
    /// Events of through partitions (the repartition topic) accepted by dedup.
    pub through_events: u64,
    /// Events of through partitions dropped as already seen (forwarded again after a crash).
    pub through_duplicates: u64,
}

/// A snapshot of one operator for reports and the HTTP API.
#[derive(Debug, Clone)]
pub struct OperatorReport {
    /// The running version of the operator, as it describes itself.
    pub descriptor: Descriptor,
    /// Its counters.
    pub stats: OperatorStats,
    /// Keys it holds a slot for (state bytes, as-of time, timer).
    pub keys: usize,
    /// Total bytes of its keys' state.
    pub state_bytes: usize,
    /// Its keys' pending timers.
    pub timers: usize,
}
