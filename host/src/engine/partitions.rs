//! State grouped by source partition, for a changelog and for rebalances: the changes a step made
//! (each changed key's state, as-of and timer, each cleared key, the dedup ids taken, every
//! partition's watermark), dropping a revoked partition's keys, timers and dedup memory without a
//! write, and restoring a partition's state before its first record is processed.
//!
//! The engine knows nothing of Kafka: a partition is the engine's partition id, and what a change
//! becomes on the wire is the changelog's business (`crate::changelog`).

use super::snapshot::key_kind_tag;
use super::{keyed_state, Engine};
use std::collections::BTreeMap;

/// One change of a step, borrowed from the engine for the duration of the call.
#[derive(Debug)]
pub enum StateChange<'a> {
    /// A key of a plugin holds `value` now, or nothing (`None`: it was cleared).
    Key {
        /// The partition the key belongs to.
        partition: u32,
        /// The plugin's name.
        plugin: &'a str,
        /// The key.
        key: &'a str,
        /// What the key holds; `None` when it was cleared.
        value: Option<KeyValue<'a>>,
    },
    /// Event ids a partition's dedup memory took (event time, compact id), in arrival order.
    Dedup {
        /// The partition.
        partition: u32,
        /// The ids.
        ids: &'a [(i64, u128)],
    },
    /// A partition's watermark and the latest event time it saw.
    Watermark {
        /// The partition.
        partition: u32,
        /// Its watermark, event-time ms.
        watermark: i64,
        /// The latest event time it saw, if any.
        max_event_time: Option<i64>,
    },
}

/// What one key of one plugin holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyValue<'a> {
    /// The plugin's state schema version the bytes are in.
    pub schema: u32,
    /// The plugin's key kind, as checkpoints record it.
    pub key_kind: u8,
    /// The key's as-of time.
    pub as_of: i64,
    /// The key's timer, if set.
    pub timer: Option<i64>,
    /// The plugin's state bytes.
    pub state: &'a [u8],
}

/// One key's restored value (owned), as read back from a changelog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoredKey {
    /// The plugin's state schema version the bytes are in.
    pub schema: u32,
    /// The plugin's key kind when it was written.
    pub key_kind: u8,
    /// The key's as-of time.
    pub as_of: i64,
    /// The key's timer, if set.
    pub timer: Option<i64>,
    /// The plugin's state bytes.
    pub state: Vec<u8>,
}

/// Everything a partition's changelog held: its keys by plugin, its dedup memory and its watermark.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PartitionState {
    /// plugin -> key -> value.
    pub keys: BTreeMap<String, BTreeMap<String, RestoredKey>>,
    /// (event time, compact id) the dedup memory held, oldest first.
    pub dedup: Vec<(i64, u128)>,
    /// (watermark, latest event time) of the partition, when it was ever written.
    pub watermark: Option<(i64, Option<i64>)>,
}

/// What restoring one partition did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PartitionRestore {
    /// Keys restored, over all plugins.
    pub keys: usize,
    /// (plugin, the changelog's state schema) whose restored state a migration converted.
    pub migrated: Vec<(String, u32)>,
    /// (plugin, keys dropped, why): state the loaded plugins cannot take.
    pub dropped: Vec<(String, usize, String)>,
    /// Ids restored into the dedup memory.
    pub dedup_ids: usize,
}

/// What dropping a revoked partition removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PartitionDrop {
    /// Keys dropped, over all plugins.
    pub keys: usize,
    /// Dedup ids forgotten.
    pub dedup_ids: usize,
}

impl Engine {
    /// Starts tracking changes for a changelog: from now on [`take_changes`](Self::take_changes)
    /// hands out what each step changed.
    pub fn track_changes(&mut self) {
        self.fresh_ids.get_or_insert_with(BTreeMap::new);
        for r in &mut self.runners {
            r.state.set_tracking(true);
        }
    }

    /// Hands every change since the last take to `out`: cleared and changed keys, plugin by
    /// plugin, then each partition's new dedup ids, then every partition's watermark.
    pub fn take_changes(&mut self, mut out: impl FnMut(StateChange<'_>)) {
        for r in &mut self.runners {
            let (plugin, schema) = (r.descriptor.name.as_str(), r.descriptor.state_schema);
            let key_kind = key_kind_tag(&r.descriptor.key);
            r.state.take_changes(|change| match change {
                keyed_state::Change::Put(slot) => out(StateChange::Key {
                    partition: slot.owner,
                    plugin,
                    key: &slot.key,
                    value: Some(KeyValue {
                        schema,
                        key_kind,
                        as_of: slot.as_of,
                        timer: slot.timer,
                        state: &slot.state,
                    }),
                }),
                keyed_state::Change::Removed { key, owner } => {
                    out(StateChange::Key { partition: owner, plugin, key, value: None })
                }
            });
        }
        if let Some(fresh) = &mut self.fresh_ids {
            for (partition, ids) in fresh.iter_mut() {
                if !ids.is_empty() {
                    out(StateChange::Dedup { partition: *partition, ids });
                    ids.clear();
                }
            }
        }
        for (partition, watermark, max_event_time) in self.watermark.partition_times() {
            out(StateChange::Watermark { partition, watermark, max_event_time });
        }
    }

    /// Drops a revoked partition: its keys, timers and dedup memory leave without a write or a
    /// timer firing, and its watermark stops holding the engine's back. Its next owner restores
    /// them from the changelog.
    pub fn drop_partition(&mut self, partition: u32) -> PartitionDrop {
        let keys = self.runners.iter_mut().map(|r| r.state.drop_owner(partition)).sum();
        let dedup_ids = self.dedup.drop_partition(partition);
        if let Some(fresh) = &mut self.fresh_ids {
            fresh.remove(&partition);
        }
        self.watermark.remove(partition);
        self.watermark.update();
        PartitionDrop { keys, dedup_ids }
    }

    /// Restores a partition's state before its first record is processed. State of a plugin
    /// that is not loaded, or whose key kind changed, is dropped and reported; state in another
    /// schema is converted by the loaded version's migration, or dropped when it has none. A
    /// migration that fails is an error naming the plugin (dropping what it should convert would
    /// lose it). Restored state is not a change: it is in the changelog already.
    pub fn restore_partition(
        &mut self,
        partition: u32,
        restored: PartitionState,
    ) -> Result<PartitionRestore, super::snapshot::SnapshotError> {
        let mut report = PartitionRestore::default();
        self.watermark.add(partition);
        if let Some((watermark, max_event_time)) = restored.watermark {
            self.watermark.restore(partition, watermark, max_event_time);
        }
        // The partition may be behind the others: the next step's lateness is judged by it.
        self.watermark.update();
        for &(t, id) in &restored.dedup {
            self.dedup.restore(partition, t, id);
        }
        report.dedup_ids = restored.dedup.len();
        for (plugin, keys) in restored.keys {
            let Some(runner) = self.runners.iter_mut().find(|r| r.descriptor.name == plugin) else {
                report.dropped.push((plugin, keys.len(), "the plugin is not loaded".into()));
                continue;
            };
            let (loaded_schema, loaded_kind) =
                (runner.descriptor.state_schema, key_kind_tag(&runner.descriptor.key));
            let mut by_schema: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
            let mut dropped: BTreeMap<String, usize> = BTreeMap::new();
            for (key, value) in keys {
                let why = if value.key_kind != loaded_kind {
                    Some(format!("its key kind changed to {:?}", runner.descriptor.key))
                } else if value.schema != loaded_schema && !runner.op.migrates() {
                    Some(format!(
                        "state schema {} in the changelog, {loaded_schema} loaded, and it has no migration",
                        value.schema
                    ))
                } else {
                    None
                };
                if let Some(why) = why {
                    *dropped.entry(why).or_default() += 1;
                    continue;
                }
                let slot = runner.state.get_or_insert(&key, value.as_of, partition);
                runner.state.slot_mut(slot).as_of = value.as_of;
                runner.state.set_state(slot, &value.state);
                runner.state.set_timer(slot, value.timer);
                by_schema.entry(value.schema).or_default().push(slot);
                report.keys += 1;
            }
            for (schema, slots) in by_schema.into_iter().filter(|(s, _)| *s != loaded_schema) {
                runner.migrate_slots(schema, &slots).map_err(|reason| {
                    super::snapshot::SnapshotError::Migration {
                        plugin: plugin.clone(),
                        from_schema: schema as u64,
                        reason,
                    }
                })?;
                // Converted state is new: the changelog gets it in the loaded schema.
                for slot in slots {
                    runner.state.touch(slot);
                }
                report.migrated.push((plugin.clone(), schema));
            }
            report.dropped.extend(dropped.into_iter().map(|(why, n)| (plugin.clone(), n, why)));
        }
        Ok(report)
    }
}
