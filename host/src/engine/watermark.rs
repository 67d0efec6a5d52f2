//! Event-time watermarks (FEATURES.md §2): one per source partition, and the engine's, which is
//! the least of them (the time every partition has passed). A partition's never goes backwards;
//! the engine's goes back only when a partition joins behind the others. Through partitions (a
//! repartition topic's, `through.rs`) form a lane of their own with its own least watermark.

use std::collections::{BTreeMap, BTreeSet};

/// Max event time seen minus the allowed out-of-orderness; in live mode an idle partition
/// advances by wall clock. Never goes backwards.
#[derive(Debug, Clone)]
pub struct Watermark {
    out_of_orderness_ms: i64,
    max_event_time: Option<i64>,
    current: i64,
}

impl Watermark {
    /// A watermark trailing the max event time by `out_of_orderness_ms`; `i64::MIN` until an event.
    pub fn new(out_of_orderness_ms: u64) -> Self {
        Watermark { out_of_orderness_ms: out_of_orderness_ms as i64, max_event_time: None, current: i64::MIN }
    }

    /// Notes an event time; a new maximum moves the watermark to it minus the out-of-orderness.
    pub fn observe(&mut self, event_time: i64) {
        if self.max_event_time.is_none_or(|m| event_time > m) {
            self.max_event_time = Some(event_time);
            self.current = self.current.max(event_time - self.out_of_orderness_ms);
        }
    }

    /// Advances to `t` if that is later (idle partitions, end of input).
    pub fn advance_to(&mut self, t: i64) {
        self.current = self.current.max(t);
    }

    /// The watermark, in event-time ms.
    pub fn current(&self) -> i64 {
        self.current
    }

    /// The latest event time seen, if any.
    pub fn max_event_time(&self) -> Option<i64> {
        self.max_event_time
    }

    /// The wall-clock watermark for an idle partition: now minus the out-of-orderness.
    pub fn idle_target(&self, wall_now_ms: i64) -> i64 {
        wall_now_ms - self.out_of_orderness_ms
    }

    /// Takes a restored watermark and latest event time, if later than what it holds.
    pub fn restore(&mut self, watermark: i64, max_event_time: Option<i64>) {
        self.current = self.current.max(watermark);
        self.max_event_time = self.max_event_time.max(max_event_time);
    }
}

/// The watermarks of every partition feeding one engine.
#[derive(Debug, Clone)]
pub struct PartitionWatermarks {
    out_of_orderness_ms: u64,
    parts: BTreeMap<u32, Watermark>,
    /// The partitions of the through lane.
    through: BTreeSet<u32>,
    /// The least over the input partitions.
    current: i64,
    /// The least over the through partitions.
    through_current: i64,
}

impl PartitionWatermarks {
    /// No partitions yet; each one trails its max event time by `out_of_orderness_ms`.
    pub fn new(out_of_orderness_ms: u64) -> Self {
        PartitionWatermarks {
            out_of_orderness_ms,
            parts: BTreeMap::new(),
            through: BTreeSet::new(),
            current: i64::MIN,
            through_current: i64::MIN,
        }
    }

    /// Registers a through partition: it counts in the through lane, not the engine's.
    pub fn add_through(&mut self, partition: u32) {
        self.part(partition);
        self.through.insert(partition);
    }

    /// Whether `partition` is in the through lane.
    pub fn is_through(&self, partition: u32) -> bool {
        self.through.contains(&partition)
    }

    fn part(&mut self, partition: u32) -> &mut Watermark {
        let ooo = self.out_of_orderness_ms;
        self.parts.entry(partition).or_insert_with(|| Watermark::new(ooo))
    }

    /// Registers a partition that has no data yet: it holds the engine's watermark back until
    /// it sees events or goes idle.
    pub fn add(&mut self, partition: u32) {
        self.part(partition);
    }

    /// Notes an event of `partition` (added if new); the engine's watermark moves at the next update.
    pub fn observe(&mut self, partition: u32, event_time: i64) {
        self.part(partition).observe(event_time);
    }

    /// Advances one partition's watermark to `t` if that is later (an idle partition).
    pub fn advance_partition(&mut self, partition: u32, t: i64) {
        self.part(partition).advance_to(t);
    }

    /// Advances every partition's watermark and the engine's to `t` if that is later (end of input).
    pub fn advance_all(&mut self, t: i64) {
        for w in self.parts.values_mut() {
            w.advance_to(t);
        }
        self.current = self.current.max(t);
        self.through_current = self.through_current.max(t);
    }

    /// A partition handed to another consumer no longer holds the watermark back.
    pub fn remove(&mut self, partition: u32) {
        self.parts.remove(&partition);
        self.through.remove(&partition);
    }

    /// Recomputes the engine watermark from the partitions' and returns it: the least of them.
    /// Each partition's never goes backwards, so neither does the engine's while the partitions
    /// stay the same; a partition that joins behind the others (a new one, or one restored from
    /// a changelog with its own watermark) holds the engine's back until it catches up, as a
    /// Kafka Streams task keeps its own stream time. Without partitions it stays where it was.
    /// The through lane's is recomputed alike from the through partitions.
    pub fn update(&mut self) -> i64 {
        let (mut input, mut through) = (None::<i64>, None::<i64>);
        for (p, w) in &self.parts {
            let lane = if self.through.contains(p) { &mut through } else { &mut input };
            *lane = Some(lane.map_or(w.current(), |m| m.min(w.current())));
        }
        if let Some(min) = input {
            self.current = min;
        }
        if let Some(min) = through {
            self.through_current = min;
        }
        self.current
    }

    /// The through lane's watermark as of the last [`update`](Self::update).
    pub fn through_current(&self) -> i64 {
        self.through_current
    }

    /// The watermark of `partition`'s lane as of the last [`update`](Self::update).
    pub fn lane_of(&self, partition: u32) -> i64 {
        if self.is_through(partition) {
            self.through_current
        } else {
            self.current
        }
    }

    /// The engine's watermark as of the last [`update`](Self::update) or [`advance_all`](Self::advance_all).
    pub fn current(&self) -> i64 {
        self.current
    }

    /// The latest event time seen on any current partition, if any.
    pub fn max_event_time(&self) -> Option<i64> {
        self.parts.values().filter_map(Watermark::max_event_time).max()
    }

    /// The wall-clock watermark for an idle partition: now minus the out-of-orderness.
    pub fn idle_target(&self, wall_now_ms: i64) -> i64 {
        wall_now_ms - self.out_of_orderness_ms as i64
    }

    /// A partition's restored watermark and latest event time (a changelog restore).
    pub fn restore(&mut self, partition: u32, watermark: i64, max_event_time: Option<i64>) {
        self.part(partition).restore(watermark, max_event_time);
    }

    /// (partition, watermark, latest event time) of every partition.
    pub fn partition_times(&self) -> impl Iterator<Item = (u32, i64, Option<i64>)> + '_ {
        self.parts.iter().map(|(p, w)| (*p, w.current(), w.max_event_time()))
    }

    /// (partition, watermark) of every partition.
    pub fn partitions(&self) -> impl Iterator<Item = (u32, i64)> + '_ {
        self.parts.iter().map(|(p, w)| (*p, w.current()))
    }
}

#[cfg(test)]
mod tests {
    use super::{PartitionWatermarks, Watermark};

    #[test]
    fn the_engine_watermark_is_the_least_partition_watermark() {
        let mut w = PartitionWatermarks::new(5_000);
        w.observe(0, 100_000);
        assert_eq!(w.update(), 95_000);
        w.add(1);
        w.observe(0, 200_000);
        assert_eq!(w.update(), i64::MIN, "held back by the partition without data");
        w.observe(1, 150_000);
        assert_eq!(w.update(), 145_000);
        w.advance_partition(1, 300_000);
        assert_eq!(w.update(), 195_000);
        w.remove(0);
        assert_eq!(w.update(), 300_000);
        assert_eq!(w.max_event_time(), Some(150_000));
        w.restore(2, 250_000, Some(255_000));
        assert_eq!(w.update(), 250_000, "a partition restored behind the others holds the watermark back");
        w.observe(2, 400_000);
        assert_eq!(w.update(), 300_000);
    }

    #[test]
    fn through_partitions_hold_back_only_their_own_lane() {
        let mut w = PartitionWatermarks::new(5_000);
        w.observe(0, 100_000);
        w.add_through(1);
        assert_eq!(w.update(), 95_000, "a through partition without a report does not hold input back");
        assert_eq!(w.through_current(), i64::MIN);
        w.advance_partition(1, 50_000);
        w.update();
        assert_eq!((w.lane_of(0), w.lane_of(1)), (95_000, 50_000));
        w.remove(1);
        w.update();
        assert_eq!(w.through_current(), 50_000, "a lane without partitions stays where it was");
    }

    #[test]
    fn trails_the_max_event_time_and_never_goes_back() {
        let mut w = Watermark::new(5_000);
        w.observe(10_000);
        assert_eq!(w.current(), 5_000);
        w.observe(8_000);
        assert_eq!(w.current(), 5_000);
        w.advance_to(4_000);
        assert_eq!(w.current(), 5_000);
        w.advance_to(9_000);
        assert_eq!(w.current(), 9_000);
        assert_eq!(w.idle_target(20_000), 15_000);
    }
}
