//! Which offsets may be committed: where every partition stands after each step, kept until the
//! feature store acknowledged that step. Plain bookkeeping, no Kafka client, so it is unit-tested.

use std::collections::{BTreeMap, VecDeque};

/// Next offset per engine partition.
pub type Positions = BTreeMap<u32, i64>;

/// Positions after each step, oldest first, from the step's end until it is committed.
#[derive(Debug, Default)]
pub struct StepOffsets {
    /// One past the last record handed out, per partition.
    positions: Positions,
    /// (step ticket, positions after that step) not yet committed.
    steps: VecDeque<(u64, Positions)>,
    /// What the group has committed (or been asked to commit) per partition.
    committed: Positions,
}

impl StepOffsets {
    /// A record at `offset` of `partition` was handed out.
    pub fn handed_out(&mut self, partition: u32, offset: i64) {
        self.positions.insert(partition, offset + 1);
    }

    /// One past the last record handed out, per partition.
    pub fn positions(&self) -> &Positions {
        &self.positions
    }

    /// Notes where every partition stands after step `ticket` (tickets increase). A step that
    /// moved nothing adds nothing: the positions stay tied to the step that reached them, so they
    /// become committable as soon as *that* step is acknowledged, however many idle steps follow.
    pub fn end_step(&mut self, ticket: u64) {
        let last = self.steps.back().map_or(&self.committed, |(_, p)| p);
        if *last != self.positions {
            self.steps.push_back((ticket, self.positions.clone()));
        }
    }

    /// The positions after the last step below `durable_below` that differ from what is
    /// committed, taking those steps out. None: nothing new to commit.
    pub fn take_committable(&mut self, durable_below: u64) -> Option<(u64, Positions)> {
        let mut target = None;
        while self.steps.front().is_some_and(|(t, _)| *t < durable_below) {
            target = self.steps.pop_front();
        }
        target.filter(|(_, p)| *p != self.committed)
    }

    /// Puts back positions taken by [`StepOffsets::take_committable`] whose commit could not
    /// be made, so the next attempt commits them.
    pub fn put_back(&mut self, step: (u64, Positions)) {
        self.steps.push_front(step);
    }

    /// The partitions of `target` whose offset differs from the committed one.
    pub fn changed<'a>(&'a self, target: &'a Positions) -> impl Iterator<Item = (u32, i64)> + 'a {
        target.iter().filter(|(id, o)| self.committed.get(id) != Some(o)).map(|(id, o)| (*id, *o))
    }

    /// Records `target` as committed.
    pub fn committed(&mut self, target: Positions) {
        self.committed = target;
    }

    /// Forgets a revoked partition: its uncommitted positions belong to its next owner, who
    /// reads those records again.
    pub fn revoke(&mut self, partition: u32) {
        self.positions.remove(&partition);
        self.committed.remove(&partition);
        for (_, positions) in &mut self.steps {
            positions.remove(&partition);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Before the fix, an idle step re-stamped the last positions with its own ticket, so on a
    /// quiet topic the last records' offsets waited for an acknowledgement that every next idle
    /// step pushed further away: the committed offset stayed behind.
    #[test]
    fn the_last_step_is_committed_once_acknowledged_even_when_idle_steps_follow() {
        let mut offsets = StepOffsets::default();
        for offset in 0..50 {
            offsets.handed_out(0, offset);
        }
        offsets.end_step(7);
        // Idle steps 8, 9, 10 are submitted before step 7 is acknowledged.
        for ticket in 8..=10 {
            offsets.end_step(ticket);
            assert_eq!(offsets.take_committable(7), None, "step 7 not acknowledged yet");
        }
        // Step 7 is acknowledged while step 10 is still in flight.
        let (ticket, target) = offsets.take_committable(8).expect("step 7 is durable");
        assert_eq!((ticket, target.get(&0)), (7, Some(&50)));
        offsets.committed(target);
        offsets.end_step(11);
        assert_eq!(offsets.take_committable(12), None, "nothing new after the commit");
    }

    #[test]
    fn only_acknowledged_steps_are_committed_and_a_failed_commit_is_retried() {
        let mut offsets = StepOffsets::default();
        offsets.handed_out(0, 9);
        offsets.end_step(0);
        offsets.handed_out(1, 4);
        offsets.end_step(1);
        let step = offsets.take_committable(1).expect("step 0 is durable");
        assert_eq!(step.1, Positions::from([(0, 10)]));
        offsets.put_back(step);
        let (_, target) = offsets.take_committable(2).expect("both steps durable");
        assert_eq!(target, Positions::from([(0, 10), (1, 5)]));
        offsets.committed(target.clone());
        offsets.handed_out(1, 5);
        offsets.end_step(2);
        let (_, next) = offsets.take_committable(3).unwrap();
        assert_eq!(offsets.changed(&next).collect::<Vec<_>>(), [(1, 6)], "only what moved");
    }

    #[test]
    fn a_revoked_partition_is_forgotten() {
        let mut offsets = StepOffsets::default();
        offsets.handed_out(0, 1);
        offsets.handed_out(1, 1);
        offsets.end_step(0);
        offsets.revoke(1);
        let (_, target) = offsets.take_committable(1).unwrap();
        assert_eq!(target, Positions::from([(0, 2)]));
    }
}
