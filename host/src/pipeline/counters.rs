//! What a run counts for the summary, the API and metrics, and the writes the store refused
//! for good, kept until a driver dead-letters them.

use crate::sink::RefusedWrite;
use std::collections::BTreeMap;
use std::time::Instant;

/// Counters of the whole run, for the summary, the API and metrics.
#[derive(Debug, Clone, Default)]
pub(super) struct RunCounters {
    pub(super) records: u64,
    /// Records sent to the dead-letter topic (or, without one, refused), per reason code.
    pub(super) rejected: BTreeMap<&'static str, u64>,
    pub(super) commits: u64,
    /// Plugin files refused (did not compile or validate, or their migration failed).
    pub(super) plugin_refusals: u64,
    /// The last refusal: the file and why.
    pub(super) last_plugin_refusal: Option<String>,
    /// When the first record arrived (benchmarks measure from it).
    pub(super) first_record: Option<Instant>,
    /// The input partitions owned (`topic[partition]`).
    pub(super) partitions: Vec<String>,
    /// Partition restores from the changelog.
    pub(super) restores: u64,
    /// Changelog records produced.
    pub(super) changelog_records: u64,
    pub(super) forwarded: u64,
    pub(super) through_held: u64,
    /// When offsets were last committed, ms since the epoch.
    pub(super) last_commit_at_ms: Option<i64>,
    /// Writes the store refused for good since the start.
    pub(super) store_refusals: u64,
    /// The last of them: the key and the store's answer.
    pub(super) last_store_refusal: Option<String>,
    /// Refused writes not yet taken for the dead-letter (bounded: [`KEEP_REFUSED`]).
    pub(super) refused: Vec<RefusedWrite>,
    /// How many of `refused` are counted already.
    pub(super) refused_counted: u64,
}

/// Refused writes kept for the dead-letter at most; older ones are only logged and counted.
const KEEP_REFUSED: usize = 1_000;

impl RunCounters {
    /// Logs and counts a plugin file that was refused; whatever ran before keeps running.
    pub(super) fn plugin_refused(&mut self, origin: &str, error: &str) {
        tracing::error!(%origin, %error, "plugin file refused; the running version stays");
        self.plugin_refusals += 1;
        self.last_plugin_refusal = Some(format!("{origin}: {error}"));
    }

    /// Counts the refused writes taken since the last call and keeps at most [`KEEP_REFUSED`]
    /// of them for the dead-letter (a driver without one never takes them).
    pub(super) fn keep_refused_bounded(&mut self) {
        let fresh = self.refused.len() as u64 - self.refused_counted;
        if fresh > 0 {
            self.store_refusals += fresh;
            let last = self.refused.last().expect("fresh ones");
            self.last_store_refusal = Some(format!("{}: {}", last.key, last.reason));
        }
        if self.refused.len() > KEEP_REFUSED {
            let excess = self.refused.len() - KEEP_REFUSED;
            self.refused.drain(..excess);
        }
        self.refused_counted = self.refused.len() as u64;
    }
}
