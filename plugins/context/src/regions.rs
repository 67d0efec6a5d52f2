//! Region-change counting in event-time order, tolerant of out-of-order arrival.
//!
//! Events are kept as runs of the same (country, region) pair; the change count is the number of
//! run boundaries. Only the most recent runs are kept; older boundaries are folded into a counter.

use live_shopper_sdk::abi::{DecodeError, Reader, Writer};

/// Runs kept before the oldest is folded into the counter.
pub const MAX_RUNS: usize = 16;

/// Consecutive events, in event-time order, in one (country, region).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Run<'a> {
    /// The run's country.
    pub country: &'a str,
    /// The run's region.
    pub region: &'a str,
    /// Event time of the run's first event, epoch ms.
    pub first: i64,
    /// Event time of the run's last event, epoch ms.
    pub last: i64,
}

/// The latest [`MAX_RUNS`] runs in event-time order, plus the changes folded from older ones.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RegionRuns<'a> {
    runs: Vec<Run<'a>>,
    folded_changes: u64,
}

impl<'a> RegionRuns<'a> {
    /// Records an event at `t` in (country, region).
    pub fn record(&mut self, t: i64, country: &'a str, region: &'a str) {
        let same = |r: &Run<'_>| r.country == country && r.region == region;
        let new_run = || Run { country, region, first: t, last: t };
        let i = self.runs.partition_point(|r| r.last < t);
        if i < self.runs.len() && self.runs[i].first < t {
            // Inside run i's span.
            if !same(&self.runs[i]) {
                let mut right = self.runs[i];
                right.first = t;
                self.runs[i].last = t;
                self.runs.insert(i + 1, new_run());
                self.runs.insert(i + 2, right);
            }
        } else if i > 0 && same(&self.runs[i - 1]) {
            self.runs[i - 1].last = t;
        } else if i < self.runs.len() && same(&self.runs[i]) {
            self.runs[i].first = t;
        } else {
            self.runs.insert(i, new_run());
        }
        while self.runs.len() > MAX_RUNS {
            self.runs.remove(0);
            self.folded_changes += 1;
        }
    }

    /// Region changes: boundaries between runs, folded ones included.
    pub fn changes(&self) -> u64 {
        self.folded_changes + self.runs.len().saturating_sub(1) as u64
    }

    /// Writes the folded count and the runs.
    pub fn encode(&self, w: &mut Writer<'_>) {
        w.varint(self.folded_changes);
        w.varint(self.runs.len() as u64);
        for r in &self.runs {
            w.str(r.country);
            w.str(r.region);
            w.i64(r.first);
            w.i64(r.last);
        }
    }

    /// Empties the runs and the folded count, keeping allocations.
    pub fn clear(&mut self) {
        self.runs.clear();
        self.folded_changes = 0;
    }

    /// Replaces the contents with runs written by [`RegionRuns::encode`].
    pub fn load(&mut self, r: &mut Reader<'a>) -> Result<(), DecodeError> {
        self.clear();
        self.folded_changes = r.varint()?;
        for _ in 0..r.count()? {
            self.runs.push(Run { country: r.str()?, region: r.str()?, first: r.i64()?, last: r.i64()? });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_changes_in_event_time_order() {
        let mut r = RegionRuns::default();
        r.record(1, "GR", "I");
        r.record(2, "GR", "I");
        r.record(3, "GR", "B");
        assert_eq!(r.changes(), 1);
        r.record(4, "GR", "I");
        assert_eq!(r.changes(), 2);
    }

    #[test]
    fn a_late_event_inside_a_run_splits_it() {
        let mut r = RegionRuns::default();
        r.record(1, "GR", "I");
        r.record(10, "GR", "I");
        r.record(5, "CZ", "10");
        assert_eq!(r.changes(), 2);
        // A late event matching its neighbour adds nothing.
        r.record(7, "GR", "I");
        assert_eq!(r.changes(), 2);
    }

    #[test]
    fn old_runs_fold_into_the_counter() {
        let mut r = RegionRuns::default();
        for t in 0..40 {
            r.record(t, "C", if t % 2 == 0 { "a" } else { "b" });
        }
        assert_eq!(r.changes(), 39);
    }
}
