//! The pipeline's side of partitions moving between hosts: tracking the engine's state changes
//! for the changelog, dropping a revoked partition, restoring an assigned one. The Kafka driver
//! decides when; the engine does the work (`engine::partitions`).

use super::Pipeline;
use crate::changelog::Changelog;
use crate::engine::emission::Tee;
use crate::engine::partitions::{PartitionDrop, PartitionRestore, PartitionState};
use crate::engine::snapshot::SnapshotError;
use crate::engine::through::ThroughKey;
use crate::model::Event;
use std::collections::BTreeMap;

impl Pipeline {
    /// Starts tracking state changes for a changelog.
    pub fn track_changes(&mut self) {
        self.engine.track_changes();
    }

    /// Hands the step `ticket`'s state changes to `changelog`; `positions` holds each partition's
    /// next input offset after the step.
    pub fn record_changes(&mut self, changelog: &mut Changelog, ticket: u64, positions: &BTreeMap<u32, i64>) {
        changelog.record_step(ticket, &mut self.engine, positions);
    }

    /// Drops a revoked partition's keys, timers and dedup memory (no write, no timer fires).
    pub fn drop_partition(&mut self, partition: u32) -> PartitionDrop {
        self.engine.drop_partition(partition)
    }

    /// Restores an assigned partition's state before its first record.
    pub fn restore_partition(
        &mut self,
        partition: u32,
        state: PartitionState,
    ) -> Result<PartitionRestore, SnapshotError> {
        self.engine.restore_partition(partition, state)
    }

    /// From now on the plugins keyed by product, category, global or an entity field take
    /// their events from through partitions (`engine::through`).
    pub fn repartition(&mut self) {
        self.engine.repartition();
    }

    /// Appends the (kind, key) pairs input event `e` is forwarded under.
    pub fn through_keys(&mut self, e: &Event, out: &mut Vec<ThroughKey>) {
        self.engine.through_keys(e, out);
    }

    /// Registers an assigned through partition.
    pub fn add_through_partition(&mut self, partition: u32) {
        self.engine.add_through_partition(partition);
    }

    /// Advances a through partition's watermark to `t`, its upstream partitions' least.
    pub fn advance_partition(&mut self, partition: u32, t: i64) {
        self.engine.advance_partition(partition, t, &mut Tee(&mut self.writes, &mut self.signals));
    }

    /// Records the number of records forwarded to the repartition topic so far, and how many
    /// of its events are held for their watermark.
    pub fn set_through(&mut self, forwarded: u64, held: u64) {
        self.counters.forwarded = forwarded;
        self.counters.through_held = held;
    }

    /// The watermark of `partition`, if the engine has it.
    pub fn partition_watermark(&self, partition: u32) -> Option<i64> {
        self.engine.partition_watermark(partition)
    }
}
