//! The Kafka driver: pulls what the consumer has (waiting at most one flush interval), decodes
//! each record (rejects go to the dead-letter topic with the reason), runs the step, writes the
//! features to the store, and only once the store acknowledged them commits the offsets. While
//! Redis is down it retries and takes nothing new, so the consumer's bounded prefetch is the only
//! buffer. Idle partitions advance their watermark by wall clock.

use super::{wall_ms, Pipeline, Stop};
use crate::config::KafkaSettings;
use crate::decode::decode_record;
use crate::model::Event;
use crate::source::kafka::{AssignmentChange, KafkaSource};
use anyhow::Context;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

pub struct KafkaDriver {
    pub settings: KafkaSettings,
    pub flush_interval: Duration,
    pub max_batch_records: usize,
    pub idle_after: Duration,
    /// Stop after this many records are processed and committed (benchmarks); None: run on.
    pub stop_after_records: Option<u64>,
}

const STATUS_EVERY: Duration = Duration::from_millis(500);

/// Produces the plugins' failed batches of the step to the plugin dead-letter topic, as JSON
/// keyed by plugin name, with the plugin, version and failure kind in headers.
fn send_failed_batches(pipeline: &mut Pipeline, source: &mut KafkaSource, topic: &str) {
    for f in pipeline.engine.take_failed_batches() {
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

const UNWRITTEN: &str = "stopping while Redis is unreachable; offsets of unwritten features not committed";

/// The reason code of an empty record (a tombstone or a blank line).
pub const EMPTY_RECORD: &str = "empty_record";

impl KafkaDriver {
    pub fn run(&self, pipeline: &mut Pipeline, stop: &Stop) -> anyhow::Result<()> {
        let mut source = KafkaSource::connect(&self.settings).context("cannot start the Kafka source")?;
        tracing::info!(brokers = %self.settings.brokers, topics = ?self.settings.topics, group = %self.settings.group, "consuming from Kafka");
        // Engine partition id -> time spent consuming without a record from it (assigned
        // partitions only). Time blocked writing to Redis is not idleness: it is left out.
        let mut idle: BTreeMap<u32, Duration> = BTreeMap::new();
        let mut fed: Vec<u32> = Vec::new();
        let mut parts: BTreeMap<u32, Vec<Event>> = BTreeMap::new();
        let mut last_status = Instant::now() - STATUS_EVERY;
        let give_up = || stop.requested();
        let mut consuming_since = Instant::now();
        let result = loop {
            if stop.requested() || self.stop_after_records.is_some_and(|n| pipeline.counters.records >= n) {
                break Ok(());
            }
            pipeline.apply_plugin_changes();
            for change in source.take_assignment_changes() {
                match change {
                    AssignmentChange::Assigned(ids) => {
                        for id in ids {
                            pipeline.engine.add_partition(id);
                            idle.insert(id, Duration::ZERO);
                        }
                    }
                    AssignmentChange::Revoked(ids) => {
                        for id in ids {
                            idle.remove(&id);
                            pipeline.with_sink(|engine, sink| engine.remove_partition(id, sink));
                        }
                    }
                }
            }
            for events in parts.values_mut() {
                events.clear();
            }
            fed.clear();
            let n = source.poll(self.max_batch_records, self.flush_interval, |record, dead_letters| {
                if record.payload.is_empty() {
                    dead_letters.send(record, EMPTY_RECORD, "the record has no payload");
                    pipeline.reject(EMPTY_RECORD);
                    return;
                }
                match decode_record(record.payload) {
                    Ok(event) => {
                        parts.entry(record.partition).or_default().push(event);
                        if let Some(t) = record.timestamp_ms {
                            pipeline.note_timestamp(t);
                        }
                    }
                    Err(e) => {
                        dead_letters.send(record, e.code(), &e.to_string());
                        pipeline.reject(e.code());
                    }
                }
                if fed.last() != Some(&record.partition) {
                    fed.push(record.partition);
                }
            });
            pipeline.counters.records += n as u64;
            if n > 0 {
                pipeline.counters.first_record.get_or_insert_with(Instant::now);
                let step: Vec<(u32, &[Event])> =
                    parts.iter().filter(|(_, e)| !e.is_empty()).map(|(p, e)| (*p, e.as_slice())).collect();
                pipeline.step(&step);
            }
            let now = wall_ms();
            send_failed_batches(pipeline, &mut source, &self.settings.plugin_dead_letter_topic);
            for (id, idle_for) in idle.iter_mut() {
                if fed.contains(id) {
                    *idle_for = Duration::ZERO;
                    continue;
                }
                *idle_for += consuming_since.elapsed();
                if *idle_for >= self.idle_after {
                    pipeline.with_sink(|engine, sink| engine.advance_idle_partition(*id, now, sink));
                }
            }
            send_failed_batches(pipeline, &mut source, &self.settings.plugin_dead_letter_topic);
            // The step's writes go to Redis in the background (retried until they land); offsets
            // are committed for the steps Redis has acknowledged, after their dead letters.
            let ticket = match pipeline.submit(&give_up) {
                Ok(ticket) => ticket,
                Err(e) => break Err(anyhow::anyhow!(e).context(UNWRITTEN)),
            };
            source.end_step(ticket);
            let durable_below = if pipeline.checkpoint_due(false) {
                // A checkpoint covers only acknowledged writes: wait for them, save, then commit.
                match pipeline.wait_all(&give_up) {
                    Ok(below) => match pipeline.save_checkpoint() {
                        Ok(()) => Some(below),
                        Err(e) => {
                            tracing::error!(error = %e, "checkpoint failed; offsets stay uncommitted until one succeeds");
                            None
                        }
                    },
                    Err(e) => break Err(anyhow::anyhow!(e).context(UNWRITTEN)),
                }
            } else if pipeline.checkpoint.is_some() {
                None
            } else {
                match pipeline.acknowledged() {
                    Ok(below) => Some(below),
                    Err(e) => break Err(anyhow::anyhow!(e).context(UNWRITTEN)),
                }
            };
            if let Some(below) = durable_below {
                if let Err(e) = source.commit(below, false, &give_up) {
                    tracing::warn!(error = %e, "offset commit failed; will commit again after the next step");
                }
            }
            pipeline.counters.commits = source.commits;
            consuming_since = Instant::now();
            if last_status.elapsed() >= STATUS_EVERY {
                last_status = Instant::now();
                pipeline.publish();
            }
        };
        // Wait for the last writes, then make the final state and offsets durable before leaving.
        if result.is_ok() {
            let below = pipeline.wait_all(&give_up).context(UNWRITTEN)?;
            if pipeline.checkpoint_due(true) {
                pipeline.save_checkpoint().context("final checkpoint")?;
            }
            source.commit(below, true, &give_up).context("final offset commit")?;
            pipeline.counters.commits = source.commits;
        }
        pipeline.publish();
        result
    }
}
