//! The Kafka driver's side of the repartition topic: forwarding each input record under the keys
//! of the plugins in the through lane (sent with the step that read it, so the step is durable
//! only once they are delivered), collecting the events of the through partitions this host
//! owns with the key each carries, and the upstream watermark reports: every host reports its
//! input partitions' watermarks to every through partition, and a through partition's watermark
//! is the least of its upstream partitions' once each has reported (Flink's watermarks across a
//! shuffle).
//!
//! A through partition's events arrive interleaved by how the hosts happened to take their input
//! partitions, and a key's state judges lateness by the newest event it has seen (FEATURES.md
//! §2): taken as they come, one partition run ahead would make the others' events late. So they
//! are held until the partition's watermark passes them and released in event-time order (ties
//! by event id): what a product key sees no longer depends on the interleaving. A held event is
//! not yet in the state, so the partition's changelog position stays at the first held record,
//! and a restore reads the held ones again.

use super::Pipeline;
use crate::engine::through::{PartitionEvents, ThroughKey};
use crate::model::Event;
use crate::source::kafka::{upstream_name, KafkaSource, KafkaSourceError};
use std::collections::BTreeMap;
use std::ops::Range;
use std::time::{Duration, Instant};

/// How often this host reports its input partitions' watermarks.
const REPORT_EVERY: Duration = Duration::from_millis(200);

/// The event time one slice of released events spans: less than any window or tick interval,
/// so a slice never holds a key's event together with one a window later.
const SLICE_MS: i64 = 60_000;

/// What the driver keeps of the repartition topic between turns.
#[derive(Default)]
pub(super) struct ThroughLane {
    /// Every input partition (`topic/partition`): each through partition waits for them all.
    inputs: Vec<String>,
    /// Owned through partition -> its upstream partitions' reported watermarks.
    owned: BTreeMap<u32, BTreeMap<String, i64>>,
    /// This step's forwards: the key and the range of `payloads` holding the record.
    forwards: Vec<(ThroughKey, Range<usize>)>,
    payloads: Vec<u8>,
    /// Events read but held until their partition's watermark passes them, per partition:
    /// (event time, offset, event, key).
    held: BTreeMap<u32, Vec<(i64, i64, Event, ThroughKey)>>,
    /// Each owned through partition's watermark as its upstream reports set it.
    watermarks: BTreeMap<u32, i64>,
    /// This step's watermark reports: (through partition, upstream partition, watermark).
    reports: Vec<(u32, String, i64)>,
    scratch: Vec<ThroughKey>,
    last_report: Option<Instant>,
}

impl ThroughLane {
    /// A lane whose through partitions are fed by `inputs` (`topic/partition`).
    pub(super) fn new(inputs: Vec<String>) -> Self {
        ThroughLane { inputs, ..ThroughLane::default() }
    }

    /// A through partition assigned here, whose restored watermark is `watermark`: it waits
    /// for every upstream report again.
    pub(super) fn own(&mut self, partition: u32, watermark: Option<i64>) {
        self.owned.insert(partition, BTreeMap::new());
        self.watermarks.insert(partition, watermark.unwrap_or(i64::MIN));
    }

    /// A through partition handed over: what it held is read again by its next owner.
    pub(super) fn disown(&mut self, partition: u32) {
        self.owned.remove(&partition);
        self.held.remove(&partition);
        self.watermarks.remove(&partition);
    }

    /// `positions` (each partition's next offset) with each through partition's at its first
    /// held record: what the changelog may say the state includes.
    pub(super) fn positions(&self, positions: &BTreeMap<u32, i64>) -> BTreeMap<u32, i64> {
        let mut positions = positions.clone();
        for (partition, held) in &self.held {
            if let Some(first) = held.iter().map(|h| h.1).min() {
                positions.insert(*partition, first);
            }
        }
        positions
    }

    /// Events held, over all partitions.
    pub(super) fn held(&self) -> usize {
        self.held.values().map(Vec::len).sum()
    }

    /// The through partitions owned here.
    pub(super) fn owned(&self) -> impl Iterator<Item = &u32> {
        self.owned.keys()
    }

    /// Notes the forwards of input event `e`, read from `payload`.
    pub(super) fn forward(&mut self, pipeline: &mut Pipeline, e: &Event, payload: &[u8]) {
        self.scratch.clear();
        pipeline.through_keys(e, &mut self.scratch);
        if self.scratch.is_empty() {
            return;
        }
        let start = self.payloads.len();
        self.payloads.extend_from_slice(payload);
        for key in self.scratch.drain(..) {
            self.forwards.push((key, start..start + payload.len()));
        }
    }

    /// Holds event `e`, read at `offset` of through partition `partition` with the key it carries.
    pub(super) fn read(&mut self, partition: u32, offset: i64, e: Event, key: ThroughKey) {
        self.held.entry(partition).or_default().push((e.event_time, offset, e, key));
    }

    /// Notes an upstream watermark report read from through partition `partition`.
    pub(super) fn read_report(&mut self, partition: u32, of: String, watermark: i64) {
        self.reports.push((partition, of, watermark));
    }

    /// Takes this turn's upstream reports: a through partition whose upstream partitions have
    /// all reported has the least of them as its watermark.
    pub(super) fn take_reports(&mut self) {
        for (partition, of, watermark) in std::mem::take(&mut self.reports) {
            let Some(upstream) = self.owned.get_mut(&partition) else { continue };
            let w = upstream.entry(of).or_insert(watermark);
            *w = (*w).max(watermark);
            if self.inputs.iter().all(|input| upstream.contains_key(input)) {
                let least = upstream.values().copied().min().unwrap_or(i64::MIN);
                let current = self.watermarks.entry(partition).or_insert(i64::MIN);
                *current = (*current).max(least);
            }
        }
    }

    /// Runs the held events of every owned through partition that its watermark passed, in
    /// event-time order and in slices of [`SLICE_MS`] of event time, each followed by the
    /// partition's watermark moving to the slice's end (firing what is due): however much is
    /// released at once (a backlog, a restore), each key sees its events and ticks in the order
    /// one engine taking the records as they came would have. Then every partition's watermark
    /// moves to its upstream's least.
    pub(super) fn run(&mut self, pipeline: &mut Pipeline) {
        for (&partition, held) in self.held.iter_mut() {
            let watermark = self.watermarks.get(&partition).copied().unwrap_or(i64::MIN);
            if !held.iter().any(|h| h.0 <= watermark) {
                continue;
            }
            let passed = pipeline.partition_watermark(partition).unwrap_or(i64::MIN);
            let late = held.iter().filter(|h| h.0 <= passed).count();
            if late > 0 {
                tracing::debug!(
                    partition,
                    late,
                    passed,
                    watermark,
                    "through events arrived after their watermark"
                );
            }
            held.sort_by(|a, b| (a.0, &a.2.event_id, &a.3).cmp(&(b.0, &b.2.event_id, &b.3)));
            let due = held.partition_point(|h| h.0 <= watermark);
            let mut released = held.drain(..due).peekable();
            let (mut events, mut keys) = (Vec::new(), Vec::new());
            while let Some(first) = released.peek() {
                let slice_end = first.0.div_euclid(SLICE_MS) * SLICE_MS + SLICE_MS;
                events.clear();
                keys.clear();
                while let Some((_, _, e, key)) = released.next_if(|h| h.0 < slice_end) {
                    events.push(e);
                    keys.push(key);
                }
                pipeline.step(&[PartitionEvents { partition, events: &events, through: Some(&keys) }]);
                pipeline.advance_partition(partition, watermark.min(slice_end - 1));
            }
        }
        for (partition, watermark) in &self.watermarks {
            if *watermark > i64::MIN
                && pipeline.partition_watermark(*partition).is_some_and(|w| w < *watermark)
            {
                pipeline.advance_partition(*partition, *watermark);
            }
        }
    }

    /// Sends this step's forwards as part of step `ticket`.
    pub(super) fn send(&mut self, source: &mut KafkaSource, ticket: u64) -> Result<(), KafkaSourceError> {
        for (key, range) in self.forwards.drain(..) {
            source.through().forward(ticket, &key.kind, &key.key, &self.payloads[range])?;
        }
        self.payloads.clear();
        Ok(())
    }

    /// Reports the watermarks of the input partitions this host owns (`inputs`, engine ids) to
    /// every through partition, at most every [`REPORT_EVERY`].
    pub(super) fn report(
        &mut self,
        pipeline: &Pipeline,
        source: &mut KafkaSource,
        inputs: impl Iterator<Item = u32>,
    ) -> Result<(), KafkaSourceError> {
        if self.last_report.is_some_and(|at| at.elapsed() < REPORT_EVERY) {
            return Ok(());
        }
        self.last_report = Some(Instant::now());
        for id in inputs {
            if let Some(w) = pipeline.partition_watermark(id).filter(|w| *w > i64::MIN) {
                let (topic, partition) = source.partition_name(id);
                let name = upstream_name(topic, partition);
                source.through().report_watermark(&name, w)?;
            }
        }
        Ok(())
    }
}
