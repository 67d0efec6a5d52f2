//! What the engine does when an operator's call fails: the failed batch is kept for the plugin
//! dead-letter (plugin, version, reason, keys and event ids involved), and after a run of
//! consecutive failures the operator is quarantined (no more calls) while the others go on.

use super::operator::OperatorFailure;

/// One failed call, for the plugin dead-letter.
#[derive(Debug, Clone, PartialEq)]
pub struct FailedBatch {
    /// The plugin's name.
    pub plugin: String,
    /// The plugin's version.
    pub version: String,
    /// Why the call failed.
    pub failure: OperatorFailure,
    /// The keys the call was for.
    pub keys: Vec<String>,
    /// The events the call carried (none for a call of due timers).
    pub event_ids: Vec<String>,
    /// The plugin was quarantined by this failure.
    pub quarantined: bool,
}

/// Failed batches kept when nobody takes them (replay): enough to show, bounded in memory.
pub const KEEP_AT_MOST: usize = 1_000;

/// A runner's run of failures.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Health {
    /// Calls that failed with one key since the last successful call (a failed call of
    /// several keys is split first, so one poison key among healthy ones never adds up).
    pub consecutive_failures: u32,
    /// The operator is no longer called, until a new version is installed.
    pub quarantined: bool,
}

impl Health {
    /// Notes a failed call; true when it tips the operator into quarantine (`after` failures in
    /// a row; 0 never quarantines).
    pub fn failed(&mut self, after: u32) -> bool {
        self.consecutive_failures += 1;
        if after > 0 && !self.quarantined && self.consecutive_failures >= after {
            self.quarantined = true;
            return true;
        }
        false
    }

    /// Notes a successful call: the run of failures ends.
    pub fn succeeded(&mut self) {
        self.consecutive_failures = 0;
    }
}
