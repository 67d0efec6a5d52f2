//! Resuming a partition exactly at the offset its restored state ends: the first record the
//! broker returns is checked against it. A Kafka broker answers a fetch inside a record batch
//! with the whole batch (the client skips the records before the offset); tansu 0.6's in-memory
//! storage instead returns only the batches that start at or after it, so a resume inside a
//! batch would silently lose the rest of that batch. When the first record comes later than
//! expected, the partition is read again from further back (twice as far each time, down to
//! offset 0) and the records before the expected offset are skipped; a gap that remains once
//! the expected offset is covered is a real one (compaction, transaction markers). Plain
//! bookkeeping, no Kafka client, so it is unit-tested.

use std::collections::BTreeMap;

/// How far back the first re-read starts, in records.
const FIRST_STEP: i64 = 64;

/// What to do with a record of a partition being resumed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Verdict {
    /// Hand it out.
    Take,
    /// Drop it: it comes before the resume offset (the restored state has it).
    Skip,
    /// Drop it and read the partition again from this offset: the broker skipped records.
    SeekTo(i64),
}

/// One partition being resumed.
#[derive(Debug, Clone, Copy)]
struct Check {
    /// The offset the restored state ends at: the first record to hand out.
    want: i64,
    /// Where the partition is being read from (`want`, or further back after a re-read).
    from: i64,
    /// A record at or before `want` was read from `from`: no batch before `want` was skipped.
    covered: bool,
}

/// The partitions whose first records are still to be checked.
#[derive(Debug, Default)]
pub(super) struct ResumeChecks {
    checks: BTreeMap<u32, Check>,
}

impl ResumeChecks {
    /// Partition `partition` resumes at `offset`: its first record must be that one.
    pub(super) fn expect(&mut self, partition: u32, offset: i64) {
        self.checks.insert(partition, Check { want: offset, from: offset, covered: false });
    }

    /// The partition was revoked: nothing more to check.
    pub(super) fn forget(&mut self, partition: u32) {
        self.checks.remove(&partition);
    }

    /// Judges the record at `offset` of `partition`.
    pub(super) fn check(&mut self, partition: u32, offset: i64) -> Verdict {
        let Some(check) = self.checks.get_mut(&partition) else { return Verdict::Take };
        if offset < check.want {
            check.covered = true;
            return Verdict::Skip;
        }
        if offset == check.want || check.covered || check.from == 0 {
            self.checks.remove(&partition);
            return Verdict::Take;
        }
        let step = (check.want - check.from).max(FIRST_STEP / 2) * 2;
        check.from = (check.want - step).max(0);
        Verdict::SeekTo(check.from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_partition_resumed_where_the_broker_starts_is_taken_at_once() {
        let mut checks = ResumeChecks::default();
        checks.expect(1, 100);
        assert_eq!(checks.check(1, 100), Verdict::Take);
        assert_eq!(checks.check(1, 101), Verdict::Take);
        assert_eq!(checks.check(2, 7), Verdict::Take, "partitions not resumed are not checked");
    }

    #[test]
    fn a_skipped_batch_is_read_again_from_further_back_and_the_records_before_are_dropped() {
        let mut checks = ResumeChecks::default();
        checks.expect(1, 100);
        // The broker answered with the next batch (at 130): read again from 36.
        assert_eq!(checks.check(1, 130), Verdict::SeekTo(36));
        // Still past 100 (a batch of 36..=120 skipped too): twice as far back.
        assert_eq!(checks.check(1, 121), Verdict::SeekTo(0));
        assert_eq!(checks.check(1, 0), Verdict::Skip);
        assert_eq!(checks.check(1, 99), Verdict::Skip);
        assert_eq!(checks.check(1, 100), Verdict::Take);
        assert_eq!(checks.check(1, 101), Verdict::Take);
    }

    #[test]
    fn a_real_gap_is_accepted_once_the_resume_offset_is_covered() {
        let mut checks = ResumeChecks::default();
        checks.expect(1, 100);
        assert_eq!(checks.check(1, 105), Verdict::SeekTo(36));
        assert_eq!(checks.check(1, 90), Verdict::Skip);
        // 100..105 do not exist (compacted away): 105 is the first record after the state.
        assert_eq!(checks.check(1, 105), Verdict::Take);
    }

    #[test]
    fn a_gap_at_the_start_of_the_partition_is_accepted_and_a_revoked_partition_forgotten() {
        let mut checks = ResumeChecks::default();
        checks.expect(1, 10);
        assert_eq!(checks.check(1, 50), Verdict::SeekTo(0));
        assert_eq!(checks.check(1, 50), Verdict::Take);
        checks.expect(2, 10);
        checks.forget(2);
        assert_eq!(checks.check(2, 50), Verdict::Take);
    }
}
