//! The Kafka driver: pulls what the consumer has (waiting at most one flush interval), decodes
//! each record (rejects go to the dead-letter topic with the reason), runs the step, writes the
//! features to the store, and only once the store acknowledged them commits the offsets. While
//! Redis is down it retries and takes nothing new, so the consumer's bounded prefetch is the only
//! buffer. Idle partitions advance their watermark by wall clock.
//!
//! One turn of the loop is four named phases: `follow_assignment`, `consume`, `advance_idle` and
//! `make_durable`.

use super::{Pipeline, PipelineError, Stop};
use crate::clock::wall_ms;
use crate::config::KafkaSettings;
use crate::decode::decode_record_for;
use crate::model::Event;
use crate::source::kafka::{AssignmentChange, KafkaSource};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Drives a [`Pipeline`] from a Kafka consumer group.
pub struct KafkaDriver {
    /// The consumer, topics and dead-letter topics.
    pub settings: KafkaSettings,
    /// Longest a poll waits for a first record.
    pub flush_interval: Duration,
    /// Most records in one step.
    pub max_batch_records: usize,
    /// Consuming time without a record after which a partition follows the wall clock.
    pub idle_after: Duration,
    /// Stop after this many records are processed and committed (benchmarks); None: run on.
    pub stop_after_records: Option<u64>,
}

const STATUS_EVERY: Duration = Duration::from_millis(500);

/// The reason code of an empty record (a tombstone or a blank line).
pub const EMPTY_RECORD: &str = "empty_record";

/// What the loop keeps between its turns.
#[derive(Default)]
struct LoopState {
    /// Engine partition id -> time spent consuming without a record from it (assigned
    /// partitions only). Time blocked writing to Redis is not idleness: it is left out.
    idle: BTreeMap<u32, Duration>,
    /// Partitions that gave records this turn.
    fed: Vec<u32>,
    /// This turn's events per partition (vectors reused).
    parts: BTreeMap<u32, Vec<Event>>,
}

impl KafkaDriver {
    /// Consumes until `stop` (or `stop_after_records`), then makes the last writes, checkpoint
    /// and offsets durable.
    pub fn run(&self, pipeline: &mut Pipeline, stop: &Stop) -> Result<(), PipelineError> {
        let created = KafkaSource::ensure_output_topics(&self.settings)?;
        if !created.is_empty() {
            tracing::info!(topics = ?created, "created the missing topics the host writes to");
        }
        let mut source = KafkaSource::connect(&self.settings)?;
        tracing::info!(brokers = %self.settings.brokers, topics = ?self.settings.topics, group = %self.settings.group, "consuming from Kafka");
        let mut state = LoopState::default();
        let mut last_status = Instant::now() - STATUS_EVERY;
        let give_up = || stop.requested();
        let result = loop {
            if stop.requested() || self.stop_after_records.is_some_and(|n| pipeline.records() >= n) {
                break Ok(());
            }
            let consuming_since = Instant::now();
            pipeline.apply_plugin_changes();
            self.follow_assignment(pipeline, &mut source, &mut state);
            self.consume(pipeline, &mut source, &mut state);
            self.advance_idle(pipeline, &mut state, consuming_since.elapsed());
            self.send_failed_batches(pipeline, &mut source);
            if let Err(e) = self.make_durable(pipeline, &mut source, &give_up) {
                break Err(e);
            }
            if last_status.elapsed() >= STATUS_EVERY {
                last_status = Instant::now();
                // The in-memory store drops expired hashes here, as with the generator.
                pipeline.maintain(wall_ms());
                pipeline.publish();
            }
        };
        if result.is_ok() {
            self.finish(pipeline, &mut source, &give_up)?;
        }
        pipeline.publish();
        result
    }

    /// Phase 1: partitions assigned to or revoked from this host since the last turn.
    fn follow_assignment(&self, pipeline: &mut Pipeline, source: &mut KafkaSource, state: &mut LoopState) {
        for change in source.take_assignment_changes() {
            match change {
                AssignmentChange::Assigned(ids) => {
                    for id in ids {
                        pipeline.assign(id);
                        state.idle.insert(id, Duration::ZERO);
                    }
                }
                AssignmentChange::Revoked(ids) => {
                    for id in ids {
                        state.idle.remove(&id);
                        pipeline.revoke(id);
                    }
                }
            }
        }
    }

    /// Phase 2: takes what the consumer has, decodes it (rejects to the dead-letter topic) and
    /// runs the step.
    fn consume(&self, pipeline: &mut Pipeline, source: &mut KafkaSource, state: &mut LoopState) {
        for events in state.parts.values_mut() {
            events.clear();
        }
        state.fed.clear();
        let (parts, fed) = (&mut state.parts, &mut state.fed);
        let interest = pipeline.interest();
        let n = source.poll(self.max_batch_records, self.flush_interval, |record, dead_letters| {
            if fed.last() != Some(&record.partition) {
                fed.push(record.partition);
            }
            if record.payload.is_empty() {
                dead_letters.send(record, EMPTY_RECORD, "the record has no payload");
                pipeline.reject(EMPTY_RECORD);
                pipeline.note_record(None);
                return;
            }
            match decode_record_for(record.payload, &interest) {
                Ok(event) => {
                    parts.entry(record.partition).or_default().push(event);
                    pipeline.note_record(record.timestamp_ms);
                }
                Err(e) => {
                    dead_letters.send(record, e.code(), &e.to_string());
                    pipeline.reject(e.code());
                    pipeline.note_record(None);
                }
            }
        });
        if n > 0 {
            let step: Vec<(u32, &[Event])> =
                parts.iter().filter(|(_, e)| !e.is_empty()).map(|(p, e)| (*p, e.as_slice())).collect();
            pipeline.step(&step);
        }
    }

    /// Phase 3: partitions without records for `idle_after` of consuming time follow the clock.
    fn advance_idle(&self, pipeline: &mut Pipeline, state: &mut LoopState, consumed_for: Duration) {
        let now = wall_ms();
        for (id, idle_for) in state.idle.iter_mut() {
            if state.fed.contains(id) {
                *idle_for = Duration::ZERO;
                continue;
            }
            *idle_for += consumed_for;
            if *idle_for >= self.idle_after {
                pipeline.advance_idle_partition(*id, now);
            }
        }
    }

    /// Produces the plugins' failed batches of the step to the plugin dead-letter topic, as JSON
    /// keyed by plugin name, with the plugin, version and failure kind in headers.
    fn send_failed_batches(&self, pipeline: &mut Pipeline, source: &mut KafkaSource) {
        let topic = &self.settings.plugin_dead_letter_topic;
        for f in pipeline.take_failed_batches() {
            let payload = serde_json::json!({
                "plugin": f.plugin, "version": f.version, "kind": f.failure.kind.as_str(),
                "reason": f.failure.message, "quarantined": f.quarantined, "keys": f.keys,
                "event_ids": f.event_ids, "at_ms": wall_ms(),
            });
            let headers = [
                ("live-shopper-plugin", f.plugin.as_str()),
                ("live-shopper-plugin-version", f.version.as_str()),
                ("live-shopper-reason-code", f.failure.kind.as_str()),
            ];
            source.dead_letters_mut().send_own(topic, &f.plugin, payload.to_string().as_bytes(), &headers);
        }
    }

    /// Phase 4: the step's writes go to the store in the background (retried until they land);
    /// offsets are committed for the steps the store has acknowledged, after their dead letters
    /// (with checkpoints: only at a checkpoint, once every write is acknowledged).
    fn make_durable(
        &self,
        pipeline: &mut Pipeline,
        source: &mut KafkaSource,
        give_up: &dyn Fn() -> bool,
    ) -> Result<(), PipelineError> {
        let ticket = pipeline.submit(give_up)?;
        source.end_step(ticket);
        let durable_below = if pipeline.checkpoint_due(false) {
            let below = pipeline.wait_all(give_up)?;
            match pipeline.save_checkpoint() {
                Ok(()) => Some(below),
                Err(e) => {
                    let error = crate::error::Chain(&e);
                    tracing::error!(%error, "checkpoint failed; offsets stay uncommitted until one succeeds");
                    None
                }
            }
        } else if pipeline.checkpoints() {
            None
        } else {
            Some(pipeline.acknowledged()?)
        };
        if let Some(below) = durable_below {
            if let Err(e) = source.commit(below, false, give_up) {
                let error = crate::error::Chain(&e);
                tracing::warn!(%error, "offset commit failed; will commit again after the next step");
            }
        }
        pipeline.set_commits(source.commits);
        Ok(())
    }

    /// Waits for the last writes, then makes the final state and offsets durable.
    fn finish(
        &self,
        pipeline: &mut Pipeline,
        source: &mut KafkaSource,
        give_up: &dyn Fn() -> bool,
    ) -> Result<(), PipelineError> {
        let below = pipeline.wait_all(give_up)?;
        if pipeline.checkpoint_due(true) {
            pipeline.save_checkpoint()?;
        }
        source.commit(below, true, give_up)?;
        pipeline.set_commits(source.commits);
        Ok(())
    }
}
