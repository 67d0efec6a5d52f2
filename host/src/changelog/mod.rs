//! The state changelog, in the manner of Kafka Streams: each step's state changes become
//! records keyed by (input topic, plugin, key), produced to the changelog partition of the input
//! partition they belong to, so a partition's state follows it to whichever host owns it next
//! and survives the loss of every disk. Knows no Kafka client: records are bytes here, produced
//! and read back by `source::kafka::changelog`.
//!
//! Order of durability, per step: the store acknowledges the step's feature writes, then the
//! step's changelog records are produced, then (once they are delivered) the input offsets are
//! committed. A partition's records of one step end with its **position record** (the next input
//! offset, the watermark): a restore applies only records followed by a position record, so a
//! step cut short by a crash is dropped whole and read again from the input. Values are
//! overwrites computed from state, so writing a step's features twice is harmless.

pub mod format;

use crate::engine::partitions::{PartitionState, StateChange};
use crate::engine::Engine;
use format::{Position, RecordKey};
use std::collections::{BTreeMap, VecDeque};

/// One changelog record, for the changelog partition of the engine partition `partition`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangelogRecord {
    /// The engine's partition id of the input partition the record belongs to.
    pub partition: u32,
    /// The record's key (see [`mod@format`]).
    pub key: Vec<u8>,
    /// The record's value; `None` for a tombstone.
    pub value: Option<Vec<u8>>,
}

/// What the changelog holds of one partition, kept to write only what changed.
#[derive(Debug, Clone)]
struct Ledger {
    /// The input topic of the partition.
    topic: String,
    /// The last position written.
    last: Option<Position>,
    /// (sequence, latest event time) of the dedup records the changelog holds, oldest first.
    dedup: VecDeque<(i64, i64)>,
    /// The sequence number of the next dedup record.
    next_dedup: i64,
}

/// What a step did to one open partition.
#[derive(Debug, Default)]
struct StepShare {
    /// The step wrote state or dedup records for it.
    has_records: bool,
    /// Its watermark and latest event time after the step.
    times: Option<(i64, Option<i64>)>,
}

/// A step's records waiting for the step's feature writes to be acknowledged.
#[derive(Debug)]
struct PendingStep {
    ticket: u64,
    records: Vec<ChangelogRecord>,
}

/// Turns each step's state changes into changelog records and holds them until the step is
/// durable in the store.
#[derive(Debug)]
pub struct Changelog {
    dedup_horizon_ms: i64,
    ledgers: BTreeMap<u32, Ledger>,
    pending: VecDeque<PendingStep>,
}

/// A partition's state as read back from the changelog, with the position to resume from.
#[derive(Debug, Clone, Default)]
pub struct Restored {
    /// The state, for [`Engine::restore_partition`].
    pub state: PartitionState,
    /// Where the input resumes: every record before it is in the state. None when the
    /// changelog holds nothing of the partition.
    pub position: Option<Position>,
    /// (sequence, latest event time) of the dedup records read.
    dedup: VecDeque<(i64, i64)>,
    /// Records read of this partition's topic.
    pub records: u64,
    /// Records of a step cut short (no position record after them), left out.
    pub incomplete: u64,
}

impl Changelog {
    /// A changelog whose dedup records are dropped `dedup_horizon_ms` behind the watermark.
    pub fn new(dedup_horizon_ms: u64) -> Self {
        Changelog {
            dedup_horizon_ms: dedup_horizon_ms as i64,
            ledgers: BTreeMap::new(),
            pending: VecDeque::new(),
        }
    }

    /// Partition `partition` of input `topic` is owned from now on, starting from what
    /// `restored` read of it.
    ///
    /// Its first record is a takeover marker: a step a dead owner left cut short (records with
    /// no position after them) is never completed by the positions this owner writes.
    pub fn open_partition(&mut self, partition: u32, topic: &str, restored: &Restored) {
        let next_dedup = restored.dedup.iter().map(|(seq, _)| seq + 1).max().unwrap_or(0);
        let ledger = Ledger {
            topic: topic.to_string(),
            last: restored.position,
            dedup: restored.dedup.clone(),
            next_dedup,
        };
        let takeover =
            record(partition, topic, &RecordKey::Takeover(crate::clock::wall_us()), Some(Vec::new()));
        self.ledgers.insert(partition, ledger);
        // Ticket 0 is below every durable bound: it goes out with the next records produced,
        // behind the steps already waiting and before any of this partition's own.
        self.pending.push_back(PendingStep { ticket: 0, records: vec![takeover] });
    }

    /// Partition `partition` was revoked: nothing more is written for it. Call once its steps
    /// are produced.
    pub fn close_partition(&mut self, partition: u32) {
        self.ledgers.remove(&partition);
    }

    /// Collects step `ticket`'s changes from `engine`; `positions` holds the next input offset
    /// of every owned partition after the step.
    pub fn record_step(&mut self, ticket: u64, engine: &mut Engine, positions: &BTreeMap<u32, i64>) {
        let mut records = Vec::new();
        let mut touched: BTreeMap<u32, StepShare> = BTreeMap::new();
        engine.take_changes(|change| match change {
            StateChange::Key { partition, plugin, key, value } => {
                let Some(ledger) = self.ledgers.get(&partition) else { return };
                let value = value.map(|v| encoded(|out| format::write_state(&v, out)));
                records.push(record(partition, &ledger.topic, &RecordKey::State { plugin, key }, value));
                touched.entry(partition).or_default().has_records = true;
            }
            StateChange::Dedup { partition, ids } => {
                let Some(ledger) = self.ledgers.get_mut(&partition) else { return };
                let seq = ledger.next_dedup;
                ledger.next_dedup += 1;
                let value = encoded(|out| format::write_dedup(ids, out));
                records.push(record(partition, &ledger.topic, &RecordKey::Dedup(seq), Some(value)));
                let latest = ids.iter().map(|(t, _)| *t).max().unwrap_or(i64::MIN);
                ledger.dedup.push_back((seq, latest));
                touched.entry(partition).or_default().has_records = true;
            }
            StateChange::Watermark { partition, watermark, max_event_time } => {
                if self.ledgers.contains_key(&partition) {
                    touched.entry(partition).or_default().times = Some((watermark, max_event_time));
                }
            }
        });
        for (partition, StepShare { has_records, times }) in touched {
            let ledger = self.ledgers.get_mut(&partition).expect("touched partitions are open");
            let Some(next_offset) = positions.get(&partition).copied().or(ledger.last.map(|p| p.next_offset))
            else {
                continue;
            };
            let (watermark, max_event_time) = times
                .unwrap_or_else(|| ledger.last.map_or((i64::MIN, None), |p| (p.watermark, p.max_event_time)));
            let position = Position { next_offset, watermark, max_event_time };
            // Dedup records that fell behind the horizon go (tombstones).
            while let Some(&(seq, latest)) = ledger.dedup.front() {
                if latest >= watermark.saturating_sub(self.dedup_horizon_ms) {
                    break;
                }
                ledger.dedup.pop_front();
                records.push(record(partition, &ledger.topic, &RecordKey::Dedup(seq), None));
            }
            if !has_records && ledger.last == Some(position) {
                continue;
            }
            ledger.last = Some(position);
            // Last of the partition's records of this step: it marks the step complete.
            let value = encoded(|out| format::write_position(&position, out));
            records.push(record(partition, &ledger.topic, &RecordKey::Position, Some(value)));
        }
        // Position records close each partition's share; keep every partition's records in
        // the order made (a stable sort by partition keeps each marker after its records).
        records.sort_by_key(|r| r.partition);
        if !records.is_empty() {
            self.pending.push_back(PendingStep { ticket, records });
        }
    }

    /// The records of every step below `durable_below` (whose feature writes the store
    /// acknowledged), oldest first, to produce now; records of partitions closed since (lost
    /// to another member) are left out.
    pub fn take_durable(&mut self, durable_below: u64) -> Vec<ChangelogRecord> {
        let mut out = Vec::new();
        while self.pending.front().is_some_and(|s| s.ticket < durable_below) {
            let step = self.pending.pop_front().expect("front exists");
            out.extend(step.records.into_iter().filter(|r| self.ledgers.contains_key(&r.partition)));
        }
        out
    }
}

/// A record of engine partition `partition` (input `topic`) about `what`.
fn record(partition: u32, topic: &str, what: &RecordKey<'_>, value: Option<Vec<u8>>) -> ChangelogRecord {
    ChangelogRecord { partition, key: encoded(|out| format::write_key(topic, what, out)), value }
}

/// The bytes `write` writes into a new buffer.
fn encoded(write: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut out = Vec::new();
    write(&mut out);
    out
}

/// Reads one partition's records back, in changelog order, keeping only complete steps.
#[derive(Debug)]
pub struct Restorer {
    topic: String,
    restored: Restored,
    dedup: BTreeMap<i64, Vec<(i64, u128)>>,
    /// Records since the last position record: applied when one follows.
    uncommitted: Vec<(Vec<u8>, Option<Vec<u8>>)>,
}

impl Restorer {
    /// A restore of the partition of input `topic`.
    pub fn new(topic: &str) -> Self {
        Restorer {
            topic: topic.to_string(),
            restored: Restored::default(),
            dedup: BTreeMap::new(),
            uncommitted: Vec::new(),
        }
    }

    /// Takes the next record of the changelog partition (records of other topics are skipped).
    pub fn apply(&mut self, key: &[u8], value: Option<&[u8]>) -> Result<(), format::FormatError> {
        let (topic, what) = format::read_key(key)?;
        if topic != self.topic {
            return Ok(());
        }
        self.restored.records += 1;
        if let RecordKey::Takeover(_) = what {
            // What no position closed before it will never be completed.
            self.restored.incomplete += self.uncommitted.len() as u64;
            self.uncommitted.clear();
            return Ok(());
        }
        if what != RecordKey::Position {
            self.uncommitted.push((key.to_vec(), value.map(<[u8]>::to_vec)));
            return Ok(());
        }
        let bad = |reason| format::FormatError { key: String::from_utf8_lossy(key).into_owned(), reason };
        let position = format::read_position(value.ok_or_else(|| bad("a position without a value".into()))?)
            .map_err(bad)?;
        for (key, value) in std::mem::take(&mut self.uncommitted) {
            self.commit(&key, value)?;
        }
        self.restored.position = Some(position);
        self.restored.state.watermark = Some((position.watermark, position.max_event_time));
        Ok(())
    }

    fn commit(&mut self, key: &[u8], value: Option<Vec<u8>>) -> Result<(), format::FormatError> {
        let bad = |reason| format::FormatError { key: String::from_utf8_lossy(key).into_owned(), reason };
        match format::read_key(key)?.1 {
            RecordKey::State { plugin, key: k } => {
                let keys = self.restored.state.keys.entry(plugin.to_string()).or_default();
                match value {
                    Some(v) => {
                        keys.insert(k.to_string(), format::read_state(&v).map_err(bad)?);
                    }
                    None => {
                        keys.remove(k);
                    }
                }
            }
            RecordKey::Dedup(seq) => match value {
                Some(v) => {
                    self.dedup.insert(seq, format::read_dedup(&v).map_err(bad)?);
                }
                None => {
                    self.dedup.remove(&seq);
                }
            },
            RecordKey::Position | RecordKey::Takeover(_) => unreachable!("not held back"),
        }
        Ok(())
    }

    /// The partition's state: the complete steps read; a step cut short is left out and counted.
    pub fn finish(mut self) -> Restored {
        self.restored.incomplete += self.uncommitted.len() as u64;
        self.restored.state.keys.retain(|_, keys| !keys.is_empty());
        for (seq, ids) in self.dedup {
            let latest = ids.iter().map(|(t, _)| *t).max().unwrap_or(i64::MIN);
            self.restored.dedup.push_back((seq, latest));
            self.restored.state.dedup.extend(ids);
        }
        self.restored
    }
}

#[cfg(test)]
mod tests;
