//! The live pipeline that `run` drives: steps of decoded events go through the engine into the
//! feature store (any [`FeatureSink`]: in memory, or Redis written in the background), offsets
//! follow the store's acknowledgements ([`writes`]), and status is published for the HTTP API.
//! The drivers feed it: [`generator`] (the embedded default) and [`kafka`] (production).

mod counters;
pub mod generator;
pub mod kafka;
mod partitions;
mod through;
pub mod writes;

use crate::checkpoint::{CheckpointError, Checkpointer};
use crate::clock::wall_us;
use crate::engine::emission::Tee;
use crate::engine::failures::FailedBatch;
use crate::engine::lifecycle::Installed;
use crate::engine::{Engine, EngineStats, Operator};
use crate::error::Classified;
use crate::model::Interest;
use crate::plugin::directory::PluginChange;
use crate::signals::{SignalHub, SignalOutlets};

use crate::sink::{FeatureSink, RefusedWrite, SinkError};
use crate::status::{PluginFact, PluginInfo, Status};
use counters::RunCounters;
use hdrhistogram::Histogram;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Receiver;
use std::sync::{Arc, RwLock};
use std::time::Instant;
use thiserror::Error;
use writes::{latency_histogram, Writes};

/// Why a driver stopped before it was asked to.
#[derive(Debug, Error)]
pub enum PipelineError {
    /// The store could not take the features (Redis unreachable at shutdown, or its writer died).
    #[error("stopping while the feature store is unreachable; offsets of unwritten features not committed")]
    Store(#[from] SinkError),
    /// The Kafka source failed.
    #[error("the Kafka source failed")]
    Kafka(#[from] crate::source::kafka::KafkaSourceError),
    /// A checkpoint could not be written at shutdown.
    #[error("the final checkpoint failed")]
    Checkpoint(#[from] CheckpointError),
    /// A partition's state could not be restored from the changelog.
    #[error("restoring {topic}[{partition}] from the changelog failed")]
    Restore {
        /// The input topic.
        topic: String,
        /// The Kafka partition.
        partition: i32,
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The group committed offsets for a partition whose changelog holds no state: starting
    /// would silently regress every feature, so the host refuses unless told to.
    #[error(
        "{topic}[{partition}]: the group has committed offset {committed} but the changelog {changelog} holds \
         no state for it; starting would lose every key's state. Restore the changelog topic, or start \
         with --reset-state to begin empty from the committed offset"
    )]
    NoState {
        /// The input topic.
        topic: String,
        /// The Kafka partition.
        partition: i32,
        /// The committed offset.
        committed: i64,
        /// The changelog topic.
        changelog: String,
    },
}

impl Classified for PipelineError {
    fn fault(&self) -> crate::error::Fault {
        match self {
            PipelineError::Store(e) => e.fault(),
            PipelineError::Kafka(e) => e.fault(),
            PipelineError::Checkpoint(e) => e.fault(),
            PipelineError::Restore { .. } => crate::error::Fault::External,
            PipelineError::NoState { .. } => crate::error::Fault::Input,
        }
    }
}

/// What the API shows about each plugin beside the engine's report: what it was loaded as.
#[derive(Debug, Clone, Default)]
pub struct PluginFacts {
    by_name: BTreeMap<String, PluginFact>,
}

impl PluginFacts {
    /// The facts of `operators`.
    pub fn of(operators: &[crate::plugin::WasmOperator]) -> Self {
        let mut facts = PluginFacts::default();
        operators.iter().for_each(|op| facts.record(op));
        facts
    }

    /// Records `op`'s facts, replacing those of a running version.
    pub fn record(&mut self, op: &crate::plugin::WasmOperator) {
        let fact = PluginFact {
            content_hash: op.content_hash().to_string(),
            contract: op.contract(),
            limits: op.limits(),
            settings: op.settings().to_vec(),
        };
        self.by_name.insert(op.descriptor().name.clone(), fact);
    }

    /// Forgets plugin `name` (removed).
    pub fn forget(&mut self, name: &str) {
        self.by_name.remove(name);
    }

    /// The facts of plugin `name`, if it was loaded from a component.
    pub fn get(&self, name: &str) -> Option<&PluginFact> {
        self.by_name.get(name)
    }
}

/// The engine, the store it writes to, and what the run reports.
pub struct Pipeline {
    engine: Engine,
    writes: Writes,
    status: Arc<RwLock<Status>>,
    facts: PluginFacts,
    /// What the loaded plugins need decoded (follows plugin changes; shared with the decoding
    /// loop without a copy per poll).
    interest: Arc<Interest>,
    /// Where the plugins' signals go.
    signals: SignalOutlets,
    counters: RunCounters,
    /// Microseconds from a record's source timestamp to its arrival in the host: the broker's
    /// and the client's share of freshness.
    arrival_us: Histogram<u64>,
    started: Instant,
    /// Saves the engine's state; offsets are committed only at saves when it is set.
    checkpoint: Option<Checkpointer>,
    /// Plugins loaded, reloaded or removed by the plugin directory's watcher.
    plugin_changes: Option<Receiver<PluginChange>>,
}

impl Pipeline {
    /// A pipeline of `engine` into `sink`, publishing to `status`.
    pub fn new(
        engine: Engine,
        sink: Box<dyn FeatureSink>,
        status: Arc<RwLock<Status>>,
        facts: PluginFacts,
    ) -> Self {
        Pipeline {
            interest: Arc::new(engine.interest()),
            signals: SignalOutlets::new(SignalHub::default(), None),
            engine,
            writes: Writes::new(sink),
            status,
            facts,
            counters: RunCounters::default(),
            arrival_us: latency_histogram(),
            started: Instant::now(),
            checkpoint: None,
            plugin_changes: None,
        }
    }

    /// Sends the plugins' signals to `signals` (by default a hub nobody listens to).
    pub fn with_signals(mut self, signals: SignalOutlets) -> Self {
        self.signals = signals;
        self
    }

    /// Saves checkpoints with `checkpoint` (the engine was restored from it already).
    pub fn with_checkpoint(mut self, checkpoint: Option<Checkpointer>) -> Self {
        self.checkpoint = checkpoint;
        self
    }

    /// Applies the plugin directory's changes from `changes` at step boundaries.
    pub fn with_plugin_changes(mut self, changes: Option<Receiver<PluginChange>>) -> Self {
        self.plugin_changes = changes;
        self
    }

    /// What the loaded plugins need a decoder to read of each record.
    pub fn interest(&self) -> Arc<Interest> {
        self.interest.clone()
    }

    /// The engine, for reports.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Applies the plugin directory's changes at this step boundary: a new plugin starts, a
    /// changed one replaces the running version (state kept when its schema is unchanged), a
    /// removed one stops. Refused files leave the running version in place.
    pub fn apply_plugin_changes(&mut self) {
        let Some(changes) = &self.plugin_changes else { return };
        for change in changes.try_iter() {
            match change {
                PluginChange::Load { origin, op, prepared_in } => {
                    let (name, version) = (op.descriptor().name.clone(), op.descriptor().version.clone());
                    let mut fact = PluginFacts::default();
                    fact.record(&op);
                    let installed = match self.engine.install(op) {
                        Ok(installed) => installed,
                        Err(refused) => {
                            self.counters.plugin_refused(&origin, &refused.to_string());
                            continue;
                        }
                    };
                    let prepared_ms = prepared_in.as_millis() as u64;
                    tracing::info!(plugin = %name, %version, %origin, prepared_ms, outcome = ?installed, "plugin loaded");
                    if let Installed::StateDropped { keys, reason } = &installed {
                        tracing::warn!(plugin = %name, keys, %reason, "plugin state dropped");
                    }
                    self.facts.by_name.extend(fact.by_name);
                }
                PluginChange::Remove { origin, name } => {
                    let keys = self.engine.uninstall(&name);
                    tracing::info!(plugin = %name, %origin, ?keys, "plugin removed; its Redis keys expire by their TTLs");
                    self.facts.forget(&name);
                }
                PluginChange::Refused { origin, error } => self.counters.plugin_refused(&origin, &error),
            }
        }
        self.interest = Arc::new(self.engine.interest());
    }

    /// True when a checkpoint should be saved now (`force`: at shutdown).
    pub fn checkpoint_due(&self, force: bool) -> bool {
        self.checkpoint.as_ref().is_some_and(|c| force || c.due())
    }

    /// True when offsets may be committed only at checkpoints.
    pub fn checkpoints(&self) -> bool {
        self.checkpoint.is_some()
    }

    /// Saves a checkpoint of the engine. Call only when every submitted step is durable, so the
    /// saved state never covers a feature write the store has not acknowledged.
    pub fn save_checkpoint(&mut self) -> Result<(), CheckpointError> {
        match &mut self.checkpoint {
            Some(c) => c.save(&self.engine),
            None => Ok(()),
        }
    }

    /// Runs one step of events (grouped by source partition) through the engine.
    pub fn step(&mut self, parts: &[crate::engine::through::PartitionEvents<'_>]) {
        self.engine.process_step(parts, &mut Tee(&mut self.writes, &mut self.signals));
    }

    /// Counts a record taken from the source; `timestamp_ms` (its source timestamp, for a
    /// record that became an event) measures arrival and freshness.
    pub fn note_record(&mut self, timestamp_ms: Option<i64>) {
        self.counters.records += 1;
        self.counters.first_record.get_or_insert_with(Instant::now);
        if let Some(t) = timestamp_ms {
            self.arrival_us.saturating_record((wall_us() - t * 1_000).max(1) as u64);
        }
        self.writes.note_records(1, timestamp_ms);
    }

    /// Counts `n` records taken from a source without timestamps (the generator).
    pub fn note_untimed_records(&mut self, n: u64) {
        self.counters.records += n;
        self.counters.first_record.get_or_insert_with(Instant::now);
        self.writes.note_records(n, None);
    }

    /// Records taken from the source so far.
    pub fn records(&self) -> u64 {
        self.counters.records
    }

    /// When the first record arrived.
    pub fn first_record(&self) -> Option<Instant> {
        self.counters.first_record
    }

    /// An idle partition follows the wall clock `now_ms`.
    pub fn advance_idle_partition(&mut self, partition: u32, now_ms: i64) {
        self.engine.advance_idle_partition(partition, now_ms, &mut Tee(&mut self.writes, &mut self.signals));
    }

    /// An idle source: every partition follows the wall clock `now_ms`.
    pub fn advance_idle(&mut self, now_ms: i64) {
        self.engine.advance_idle(now_ms, &mut Tee(&mut self.writes, &mut self.signals));
    }

    /// The plugins' failed batches since the last call.
    pub fn take_failed_batches(&mut self) -> Vec<FailedBatch> {
        self.engine.take_failed_batches()
    }

    /// Ends the step: its writes go to the store under a ticket, returned. Blocks while the
    /// store is two steps behind.
    pub fn submit(&mut self, give_up: &dyn Fn() -> bool) -> Result<u64, SinkError> {
        self.writes.submit(give_up)
    }

    /// Takes the store's acknowledgements and returns the first ticket not yet acknowledged:
    /// every step below it is durable.
    pub fn acknowledged(&mut self) -> Result<u64, SinkError> {
        self.flush_signals()?;
        let below = self.writes.acknowledged()?;
        self.writes.take_refused(&mut self.counters.refused);
        self.counters.keep_refused_bounded();
        Ok(below)
    }

    /// The writes the store refused for good since the last call (each also logged and
    /// counted), for the plugin dead-letter.
    pub fn take_refused_writes(&mut self) -> Vec<RefusedWrite> {
        self.counters.refused_counted = 0;
        std::mem::take(&mut self.counters.refused)
    }

    /// Waits until every signal so far is in its topic: before any acknowledgement lets
    /// offsets be committed or a checkpoint be saved.
    fn flush_signals(&mut self) -> Result<(), SinkError> {
        self.signals.flush().map_err(|e| SinkError {
            store: "signal topics",
            fault: crate::error::Fault::External,
            source: e.into(),
        })
    }

    /// Waits until every submitted step is durable; returns the next ticket.
    pub fn wait_all(&mut self, give_up: &dyn Fn() -> bool) -> Result<u64, SinkError> {
        self.flush_signals()?;
        self.writes.wait_all(give_up)
    }

    /// Submits the step and waits until it, and every step before, is durable.
    pub fn flush(&mut self, give_up: &dyn Fn() -> bool) -> Result<(), SinkError> {
        self.flush_signals()?;
        self.writes.flush(give_up)
    }

    /// Housekeeping of the store (the in-memory store drops expired hashes).
    pub fn maintain(&mut self, now_ms: i64) {
        self.writes.maintain(now_ms);
    }

    /// Counts a rejected record by its reason code.
    pub fn reject(&mut self, code: &'static str) {
        *self.counters.rejected.entry(code).or_default() += 1;
    }

    /// The source's count of offset commits.
    pub fn set_commits(&mut self, commits: u64) {
        if commits > self.counters.commits {
            self.counters.last_commit_at_ms = Some(crate::clock::wall_ms());
        }
        self.counters.commits = commits;
    }

    /// The input partitions this host owns now, and the restores made so far.
    pub fn set_ownership(&mut self, partitions: Vec<String>, restores: u64) {
        self.counters.partitions = partitions;
        self.counters.restores = restores;
    }

    /// Changelog records produced so far.
    pub fn set_changelog_records(&mut self, records: u64) {
        self.counters.changelog_records = records;
    }

    /// The status the HTTP API serves, refreshed from the engine and counters.
    pub fn publish(&self) {
        let plugins = self
            .engine
            .reports()
            .iter()
            .map(|r| PluginInfo::from_report(r, self.facts.get(&r.descriptor.name)))
            .collect();
        let stats: &EngineStats = self.engine.stats();
        let store = self.writes.counters();
        let status = Status {
            events: stats.events,
            duplicates: stats.duplicates,
            rejected: self.counters.rejected.values().sum(),
            rejected_by_reason: self.counters.rejected.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
            records: self.counters.records,
            durable_records: self.writes.durable_records(),
            commits: self.counters.commits,
            redis_writes: store.writes,
            redis_retries: store.retries,
            freshness_ms: self.freshness_summary(),
            watermark: Some(self.engine.watermark()).filter(|w| *w > i64::MIN),
            plugin_refusals: self.counters.plugin_refusals,
            published_at_ms: crate::clock::wall_ms(),
            last_commit_at_ms: self.counters.last_commit_at_ms,
            store_failing_since_ms: store.failing_since_ms,
            store_refusals: self.counters.store_refusals,
            last_store_refusal: self.counters.last_store_refusal.clone(),
            last_plugin_refusal: self.counters.last_plugin_refusal.clone(),
            plugins,
            partitions: self.counters.partitions.clone(),
            restores: self.counters.restores,
            changelog_records: self.counters.changelog_records,
            through_events: stats.through_events,
            through_duplicates: stats.through_duplicates,
            forwarded: self.counters.forwarded,
            through_held: self.counters.through_held,
        };
        *self.status.write().unwrap_or_else(|p| p.into_inner()) = status;
    }

    /// Source timestamp → store acknowledgement, µs.
    pub fn freshness_us(&self) -> &Histogram<u64> {
        self.writes.freshness_us()
    }

    /// p50, p99 and p99.9 freshness in milliseconds, once anything was measured.
    pub fn freshness_summary(&self) -> Option<[f64; 3]> {
        quantiles_ms(self.writes.freshness_us())
    }

    /// p50, p99 and p99.9 of source timestamp → arrival in the host, in milliseconds.
    pub fn arrival_summary(&self) -> Option<[f64; 3]> {
        quantiles_ms(&self.arrival_us)
    }

    /// One line for the end of a run.
    pub fn summary(&self) -> String {
        let s = self.engine.stats();
        let mut line = format!(
            "processed {} events ({} duplicates) from {} records in {:.1} s",
            s.events,
            s.duplicates,
            self.counters.records,
            self.started.elapsed().as_secs_f64()
        );
        let rejected: u64 = self.counters.rejected.values().sum();
        if rejected > 0 {
            line += &format!("; {rejected} rejected {:?}", self.counters.rejected);
        }
        let store = self.writes.counters();
        if let (Some(writes), Some(retries)) = (store.writes, store.retries) {
            line += &format!("; {writes} Redis pipelines ({retries} retries)");
        }
        if self.counters.commits > 0 {
            line += &format!("; {} offset commits", self.counters.commits);
        }
        if let Some([p50, p99, p999]) = self.freshness_summary() {
            line += &format!("; freshness p50 {p50:.1} ms, p99 {p99:.1} ms, p99.9 {p999:.1} ms");
        }
        if let Some(hashes) = store.hashes {
            line += &format!("; {hashes} feature hashes in the store");
        }
        line
    }
}

/// Stop conditions shared by the drivers: Ctrl-C or the API's shutdown, or a deadline.
#[derive(Clone)]
pub struct Stop {
    /// Set by Ctrl-C, the API or a driver that stopped.
    pub flag: Arc<AtomicBool>,
    /// Stop by itself at this instant.
    pub deadline: Option<Instant>,
}

impl Stop {
    /// Stops when `flag` is set or at `deadline`.
    pub fn new(flag: Arc<AtomicBool>, deadline: Option<Instant>) -> Self {
        Stop { flag, deadline }
    }

    /// True once a stop was asked for or the deadline passed.
    pub fn requested(&self) -> bool {
        self.flag.load(Ordering::Relaxed) || self.deadline.is_some_and(|d| Instant::now() >= d)
    }

    /// Asks every loop sharing this stop to end.
    pub fn request(&self) {
        self.flag.store(true, Ordering::Relaxed);
    }
}

fn quantiles_ms(h: &Histogram<u64>) -> Option<[f64; 3]> {
    (!h.is_empty()).then(|| [0.5, 0.99, 0.999].map(|q| h.value_at_quantile(q) as f64 / 1_000.0))
}
