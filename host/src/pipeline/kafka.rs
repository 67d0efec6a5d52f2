//! The Kafka driver: pulls what the consumer has (waiting at most one flush interval), decodes
//! each record (rejects go to the dead-letter topic with the reason), runs the step, writes the
//! features to the store, and only once the store acknowledged them commits the offsets. While
//! Redis is down it retries and takes nothing new, so the consumer's bounded prefetch is the only
//! buffer. Idle partitions advance their watermark by wall clock.
//!
//! State follows its partition through the changelog topic (`crate::changelog`): a step's state
//! changes are produced once the store acknowledged its features, and offsets are committed once
//! those records are delivered. A revoked partition is made durable, committed and dropped
//! before librdkafka lets it go; an assigned one is restored before its first record.
//!
//! Plugins keyed by product, category, global or an entity field take their events from the
//! repartition topic, which the driver both feeds and consumes (`through.rs`).
//!
//! One turn of the loop is four named phases: `follow_assignment`, `consume`, `advance_idle` and
//! `make_durable`.

use super::through::ThroughLane;
use super::{Pipeline, PipelineError, Stop};
use crate::changelog::{Changelog, Restorer};
use crate::clock::wall_ms;
use crate::config::KafkaSettings;
use crate::decode::{decode_record_for, TimeBounds};
use crate::engine::through::{PartitionEvents, ThroughKey};
use crate::model::Event;
use crate::source::kafka::{
    KafkaRecord, KafkaSource, Rebalancing, Start, HEADER_KEY_KIND, HEADER_WATERMARK_OF,
};
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
    /// The engine's dedup horizon: dedup records older than this behind the watermark leave
    /// the changelog.
    pub dedup_horizon_ms: u64,
    /// How far an event's time may lie from its record's ingest time.
    pub time_bounds: crate::decode::TimeBounds,
    /// Keep the changelog (always in `run`: it is what makes state durable). Off only in
    /// `bench-e2e --changelog off`, to measure what it costs.
    pub changelog: bool,
}

const STATUS_EVERY: Duration = Duration::from_millis(500);

/// The reason code of an empty record (a tombstone or a blank line).
pub const EMPTY_RECORD: &str = "empty_record";

/// The reason code of a record in the repartition topic that no host wrote (no key kind, a key
/// or report that is not UTF-8, a report that is not 8 bytes).
pub const BAD_THROUGH_RECORD: &str = "bad_repartition_record";

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
    /// State changes waiting for their step to be durable, and what the changelog holds.
    changelog: Option<Changelog>,
    /// The first step whose changelog records are not produced yet.
    changelog_from: u64,
    /// Partition restores made.
    restores: u64,
    /// The repartition topic: forwards, through partitions owned, upstream reports.
    through: ThroughLane,
}

impl KafkaDriver {
    /// Consumes until `stop` (or `stop_after_records`), then makes the last writes, changelog
    /// records and offsets durable.
    pub fn run(&self, pipeline: &mut Pipeline, stop: &Stop) -> Result<(), PipelineError> {
        let created = KafkaSource::ensure_output_topics(&self.settings)?;
        if !created.is_empty() {
            tracing::info!(topics = ?created, "created the missing topics the host writes to");
        }
        let state_topics = KafkaSource::ensure_state_topics(&self.settings)?;
        if !state_topics.created.is_empty() {
            tracing::info!(topics = ?state_topics.created, "created the state topics (changelog, repartition)");
        }
        let mut source = KafkaSource::connect(&self.settings, &state_topics)?;
        tracing::info!(brokers = %self.settings.brokers, topics = ?self.settings.topics, group = %self.settings.group, changelog = %self.settings.changelog_topic, repartition = %self.settings.repartition_topic, "consuming from Kafka");
        let changelog = self.changelog.then(|| Changelog::new(self.dedup_horizon_ms));
        if changelog.is_some() {
            pipeline.track_changes();
        }
        if self.settings.repartition {
            pipeline.repartition();
        }
        let through = ThroughLane::new(state_topics.inputs);
        let mut state = LoopState { changelog, through, ..LoopState::default() };
        let mut last_status = Instant::now() - STATUS_EVERY;
        let give_up = || stop.requested();
        let result = loop {
            if stop.requested() || self.stop_after_records.is_some_and(|n| pipeline.records() >= n) {
                break Ok(());
            }
            let consuming_since = Instant::now();
            pipeline.apply_plugin_changes();
            if let Err(e) = self.follow_assignment(pipeline, &mut source, &mut state, &give_up) {
                break Err(e);
            }
            self.consume(pipeline, &mut source, &mut state);
            self.advance_idle(pipeline, &mut state, consuming_since.elapsed());
            self.send_failed_batches(pipeline, &mut source);
            if let Err(e) = self.make_durable(pipeline, &mut source, &mut state, &give_up) {
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
            self.finish(pipeline, &mut source, &mut state, &give_up)?;
        }
        pipeline.publish();
        result
    }

    /// Phase 1: acts on a rebalance librdkafka announced. A revoked partition's steps are made
    /// durable (features, changelog, a synchronous commit) and its state dropped before it is
    /// let go; an assigned one's state is restored from the changelog, and it resumes right
    /// after the last record that state includes.
    fn follow_assignment(
        &self,
        pipeline: &mut Pipeline,
        source: &mut KafkaSource,
        state: &mut LoopState,
        give_up: &dyn Fn() -> bool,
    ) -> Result<(), PipelineError> {
        while let Some(rebalance) = source.pending_rebalance() {
            let mut starts = BTreeMap::new();
            match rebalance {
                Rebalancing::Revoke { partitions, lost } => {
                    if lost {
                        // Another member owns them already: write nothing more for them.
                        for id in &partitions {
                            state.changelog.iter_mut().for_each(|c| c.close_partition(*id));
                        }
                    } else {
                        self.make_all_durable(pipeline, source, state, give_up)?;
                    }
                    for id in partitions {
                        state.idle.remove(&id);
                        state.through.disown(id);
                        state.changelog.iter_mut().for_each(|c| c.close_partition(id));
                        let dropped = pipeline.drop_partition(id);
                        let (topic, partition) = source.partition_name(id);
                        tracing::info!(%topic, partition, lost, keys = dropped.keys, dedup_ids = dropped.dedup_ids, "partition handed over; its state dropped here");
                    }
                }
                Rebalancing::Assign { partitions } => {
                    for id in partitions {
                        let restored = self.restore(pipeline, source, state, id)?;
                        state.restores += 1;
                        if source.is_through(id) {
                            // Its watermark comes from upstream reports, not from idling.
                            pipeline.add_through_partition(id);
                            state.through.own(id, pipeline.partition_watermark(id));
                        } else {
                            state.idle.insert(id, Duration::ZERO);
                        }
                        let start = match restored {
                            Some(offset) => Some(Start::At(offset)),
                            // Everything forwarded to a through partition is owed to it.
                            None if source.is_through(id) && source.committed_offset(id)?.is_none() => {
                                Some(Start::Beginning)
                            }
                            None => None,
                        };
                        starts.extend(start.map(|s| (id, s)));
                    }
                }
            }
            source.finish_rebalance(&starts)?;
            let owned = state
                .idle
                .keys()
                .chain(state.through.owned())
                .map(|id| {
                    let (topic, partition) = source.partition_name(*id);
                    format!("{topic}[{partition}]")
                })
                .collect();
            pipeline.set_ownership(owned, state.restores);
        }
        Ok(())
    }

    /// Restores partition `id` from the changelog; returns the offset to resume at (None: the
    /// group's committed offset, or where `start_from` says).
    fn restore(
        &self,
        pipeline: &mut Pipeline,
        source: &mut KafkaSource,
        state: &mut LoopState,
        id: u32,
    ) -> Result<Option<i64>, PipelineError> {
        let Some(changelog) = state.changelog.as_mut() else { return Ok(None) };
        let started = Instant::now();
        let (topic, partition) = source.partition_name(id);
        let (topic, partition) = (topic.to_string(), partition);
        let mut restorer = Restorer::new(&topic);
        source
            .changelog()
            .read_partition(partition, |key, value| restorer.apply(key, value).map_err(|e| e.to_string()))?;
        let mut restored = restorer.finish();
        if restored.position.is_none() {
            if let Some(committed) = source.committed_offset(id)? {
                if !self.settings.reset_state {
                    return Err(PipelineError::NoState {
                        topic,
                        partition,
                        committed,
                        changelog: self.settings.changelog_topic.clone(),
                    });
                }
                tracing::warn!(%topic, partition, committed, "--reset-state: starting this partition empty at the committed offset");
            }
        }
        let report = pipeline
            .restore_partition(id, std::mem::take(&mut restored.state))
            .map_err(|e| PipelineError::Restore { topic: topic.clone(), partition, source: Box::new(e) })?;
        for (plugin, keys, why) in &report.dropped {
            tracing::warn!(%topic, partition, %plugin, keys, %why, "restored state dropped");
        }
        changelog.open_partition(id, &topic, &restored);
        let resume = restored.position.map(|p| p.next_offset);
        tracing::info!(
            %topic, partition, keys = report.keys, dedup_ids = report.dedup_ids, records = restored.records,
            incomplete = restored.incomplete, resume_at = ?resume, ms = started.elapsed().as_millis() as u64,
            "partition state restored from the changelog"
        );
        Ok(resume)
    }

    /// Phase 2: takes what the consumer has, decodes it (rejects to the dead-letter topic) and
    /// runs the step.
    fn consume(&self, pipeline: &mut Pipeline, source: &mut KafkaSource, state: &mut LoopState) {
        for events in state.parts.values_mut() {
            events.clear();
        }
        state.fed.clear();
        let (parts, fed, through) = (&mut state.parts, &mut state.fed, &mut state.through);
        let interest = pipeline.interest();
        let through_topic = self.settings.repartition_topic.as_str();
        let time_bounds = self.time_bounds;
        source.poll(self.max_batch_records, self.flush_interval, |record, dead_letters| {
            if fed.last() != Some(&record.partition) {
                fed.push(record.partition);
            }
            if record.topic() == through_topic {
                if let Err(reason) = read_through(record, &interest, through) {
                    dead_letters.send(record, BAD_THROUGH_RECORD, &reason);
                    pipeline.reject(BAD_THROUGH_RECORD);
                }
                return;
            }
            if record.payload.is_empty() {
                dead_letters.send(record, EMPTY_RECORD, "the record has no payload");
                pipeline.reject(EMPTY_RECORD);
                pipeline.note_record(None);
                return;
            }
            let decoded = decode_record_for(record.payload, &interest).and_then(|event| {
                let ingest = TimeBounds::ingest_time(record.timestamp_ms, wall_ms());
                time_bounds.check(event.event_time, ingest).map(|()| event)
            });
            match decoded {
                Ok(event) => {
                    through.forward(pipeline, &event, record.payload);
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
        let step: Vec<PartitionEvents<'_>> = state
            .parts
            .iter()
            .filter(|(_, events)| !events.is_empty())
            .map(|(p, events)| PartitionEvents::input(*p, events))
            .collect();
        if !step.is_empty() {
            pipeline.step(&step);
        }
        state.through.take_reports();
        state.through.run(pipeline);
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

    /// Produces the writes the store refused for good to the plugin dead-letter topic, as JSON
    /// keyed by the hash's key, with reason code `store_refused`.
    fn send_refused_writes(&self, pipeline: &mut Pipeline, source: &mut KafkaSource) {
        let topic = &self.settings.plugin_dead_letter_topic;
        for r in pipeline.take_refused_writes() {
            let payload = serde_json::json!({
                "kind": "store_refused", "key": r.key, "plugins": r.plugins, "reason": r.reason,
                "at_ms": wall_ms(),
            });
            let headers = [("live-shopper-reason-code", "store_refused")];
            source.dead_letters_mut().send_own(topic, &r.key, payload.to_string().as_bytes(), &headers);
        }
    }

    /// Phase 4: the step's writes go to the store in the background (retried until they land)
    /// and its state changes wait beside them; once the store acknowledged a step, its changelog
    /// records are produced, and offsets are committed once those and the dead letters are
    /// delivered.
    fn make_durable(
        &self,
        pipeline: &mut Pipeline,
        source: &mut KafkaSource,
        state: &mut LoopState,
        give_up: &dyn Fn() -> bool,
    ) -> Result<(), PipelineError> {
        end_step(pipeline, source, state, give_up)?;
        state.through.report(pipeline, source, state.idle.keys().copied())?;
        let below = pipeline.acknowledged()?.min(source.through().delivered_below()?);
        // Before the acknowledged steps' offsets can be committed: their commit waits for
        // these dead letters to be delivered.
        self.send_refused_writes(pipeline, source);
        produce_changelog(state, source, below)?;
        if let Err(e) = source.commit(below, false, give_up) {
            let error = crate::error::Chain(&e);
            tracing::warn!(%error, "offset commit failed; will commit again after the next step");
        }
        pipeline.set_commits(source.commits);
        pipeline.set_changelog_records(source.changelog().produced);
        pipeline.set_through(source.through().forwarded, state.through.held() as u64);
        Ok(())
    }

    /// Waits for every submitted step, produces its changelog records and commits synchronously.
    fn make_all_durable(
        &self,
        pipeline: &mut Pipeline,
        source: &mut KafkaSource,
        state: &mut LoopState,
        give_up: &dyn Fn() -> bool,
    ) -> Result<(), PipelineError> {
        end_step(pipeline, source, state, give_up)?;
        let below = pipeline.wait_all(give_up)?;
        source.through().flush(give_up)?;
        let below = below.min(source.through().delivered_below()?);
        produce_changelog(state, source, below)?;
        source.changelog().flush(give_up)?;
        source.commit(below, true, give_up)?;
        pipeline.set_commits(source.commits);
        Ok(())
    }

    /// Waits for the last writes, then makes the final state and offsets durable.
    fn finish(
        &self,
        pipeline: &mut Pipeline,
        source: &mut KafkaSource,
        state: &mut LoopState,
        give_up: &dyn Fn() -> bool,
    ) -> Result<(), PipelineError> {
        self.make_all_durable(pipeline, source, state, give_up)
    }
}

/// Ends the step: its writes go to the store under a ticket, the source notes its positions,
/// and its state changes wait in the changelog for the store's acknowledgement.
fn end_step(
    pipeline: &mut Pipeline,
    source: &mut KafkaSource,
    state: &mut LoopState,
    give_up: &dyn Fn() -> bool,
) -> Result<(), PipelineError> {
    let ticket = pipeline.submit(give_up)?;
    state.through.send(source, ticket)?;
    source.end_step(ticket);
    if let Some(changelog) = state.changelog.as_mut() {
        pipeline.record_changes(changelog, ticket, &state.through.positions(source.positions()));
    }
    Ok(())
}

/// Produces the changelog records of every step below `durable_below`, in order. They are
/// delivered as one: each is tagged with the first step they cover, so none of those steps is
/// committed before all are delivered.
fn produce_changelog(
    state: &mut LoopState,
    source: &mut KafkaSource,
    durable_below: u64,
) -> Result<(), PipelineError> {
    let Some(changelog) = state.changelog.as_mut() else { return Ok(()) };
    let first_step = state.changelog_from;
    for record in changelog.take_durable(durable_below) {
        let (_, partition) = source.partition_name(record.partition);
        source.changelog().send(partition, &record.key, record.value.as_deref(), first_step)?;
    }
    state.changelog_from = state.changelog_from.max(durable_below);
    Ok(())
}

/// Takes a record of the repartition topic: a forwarded record (its event, with the key it
/// carries, is held until its partition's watermark passes it) or an upstream watermark report.
/// An error is the reason it goes to the dead-letter topic.
fn read_through(
    record: &KafkaRecord<'_>,
    interest: &crate::model::Interest,
    through: &mut ThroughLane,
) -> Result<(), String> {
    let text = |bytes: &[u8], what: &str| {
        std::str::from_utf8(bytes).map(str::to_string).map_err(|_| format!("its {what} is not UTF-8"))
    };
    if let Some(of) = record.header(HEADER_WATERMARK_OF) {
        let bytes: [u8; 8] =
            record.payload.try_into().map_err(|_| "a watermark report must hold 8 bytes".to_string())?;
        through.read_report(
            record.partition,
            text(of, "watermark report header")?,
            i64::from_be_bytes(bytes),
        );
        return Ok(());
    }
    let kind = record.header(HEADER_KEY_KIND).ok_or_else(|| format!("it has no {HEADER_KEY_KIND} header"))?;
    let key = ThroughKey { kind: text(kind, "key kind")?, key: text(record.key(), "key")? };
    let event = decode_record_for(record.payload, interest).map_err(|e| e.to_string())?;
    through.read(record.partition, record.offset(), event, key);
    Ok(())
}
