//! The live pipeline that `run` drives: steps of decoded events go through the engine into the
//! feature store — in memory, or Redis with writes coalesced per hash and flushed as one
//! pipeline per step — and status is published for the HTTP API. The drivers feed it:
//! [`generator`] (the embedded default) and [`kafka`] (production, with offsets committed only
//! after Redis acknowledged the features).

pub mod generator;
pub mod kafka;

use crate::api::{PluginInfo, Status};
use crate::checkpoint::{CheckpointError, Checkpointer};
use crate::engine::lifecycle::Installed;
use crate::engine::{Engine, EngineStats, Operator};
use crate::plugin::directory::PluginChange;
use crate::sink::background::wall_us;
use crate::sink::redis::RedisSinkError;
use crate::sink::{RedisSink, SharedStore};
use hdrhistogram::Histogram;
use serde_json::Value;
use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Receiver;
use std::sync::{Arc, RwLock};
use std::time::Instant;

/// Where features go.
pub enum Store {
    /// The embedded default, also what the HTTP API reads.
    Memory(SharedStore),
    /// Redis: emissions wait in the sink's pending writes until [`Pipeline::flush`].
    Redis(Box<RedisSink>),
}

/// What the API shows about each plugin beside the engine's report.
#[derive(Debug, Clone, Default)]
pub struct PluginFacts {
    /// (plugin name, content hash)
    pub hashes: Vec<(String, String)>,
    pub limits: Value,
}

/// Counters of the whole run, for the summary, the API and metrics.
#[derive(Debug, Clone, Default)]
pub struct RunCounters {
    pub records: u64,
    /// Records sent to the dead-letter topic (or, without one, refused), per reason code.
    pub rejected: BTreeMap<&'static str, u64>,
    pub commits: u64,
    /// Plugin files refused (did not compile or validate, or their migration failed).
    pub plugin_refusals: u64,
    /// The last refusal: the file and why.
    pub last_plugin_refusal: Option<String>,
    /// When the first record arrived (benchmarks measure from it).
    pub first_record: Option<Instant>,
}

impl RunCounters {
    /// Logs and counts a plugin file that was refused; whatever ran before keeps running.
    fn plugin_refused(&mut self, origin: &str, error: &str) {
        tracing::error!(%origin, %error, "plugin file refused; the running version stays");
        self.plugin_refusals += 1;
        self.last_plugin_refusal = Some(format!("{origin}: {error}"));
    }
}

pub struct Pipeline {
    pub engine: Engine,
    pub store: Store,
    status: Arc<RwLock<Status>>,
    facts: PluginFacts,
    pub counters: RunCounters,
    /// Microseconds from a record's source timestamp to the store's acknowledgement.
    pub freshness_us: Histogram<u64>,
    /// Microseconds from a record's source timestamp to its arrival in the host: the broker's
    /// and the client's share of freshness.
    pub arrival_us: Histogram<u64>,
    /// Source timestamps (ms) of the records of the step being built.
    step_timestamps: Vec<i64>,
    /// (ticket, source timestamps) of steps submitted to the store and not yet acknowledged.
    in_flight: VecDeque<(u64, Vec<i64>)>,
    next_ticket: u64,
    started: Instant,
    /// Saves the engine's state; offsets are committed only at saves when it is set.
    pub checkpoint: Option<Checkpointer>,
    /// Plugins loaded, reloaded or removed by the plugin directory's watcher.
    pub plugin_changes: Option<Receiver<PluginChange>>,
}

impl Pipeline {
    pub fn new(engine: Engine, store: Store, status: Arc<RwLock<Status>>, facts: PluginFacts) -> Self {
        Pipeline {
            engine,
            store,
            status,
            facts,
            counters: RunCounters::default(),
            freshness_us: Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid histogram bounds"),
            arrival_us: Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid histogram bounds"),
            step_timestamps: Vec::new(),
            in_flight: VecDeque::new(),
            next_ticket: 0,
            started: Instant::now(),
            checkpoint: None,
            plugin_changes: None,
        }
    }

    /// Applies the plugin directory's changes at this step boundary: a new plugin starts, a
    /// changed one replaces the running version (state kept when its schema is unchanged), a
    /// removed one stops. Refused files leave the running version in place.
    pub fn apply_plugin_changes(&mut self) {
        let Some(changes) = &self.plugin_changes else { return };
        for change in changes.try_iter() {
            match change {
                PluginChange::Load { origin, op, prepared_in } => {
                    let (name, version, hash) = (
                        op.descriptor().name.clone(),
                        op.descriptor().version.clone(),
                        op.content_hash().to_string(),
                    );
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
                    self.facts.hashes.retain(|(n, _)| *n != name);
                    self.facts.hashes.push((name, hash));
                }
                PluginChange::Remove { origin, name } => {
                    let keys = self.engine.uninstall(&name);
                    tracing::info!(plugin = %name, %origin, ?keys, "plugin removed; its Redis keys expire by their TTLs");
                    self.facts.hashes.retain(|(n, _)| *n != name);
                }
                PluginChange::Refused { origin, error } => self.counters.plugin_refused(&origin, &error),
            }
        }
    }

    /// True when a checkpoint should be saved now (`force`: at shutdown).
    pub fn checkpoint_due(&self, force: bool) -> bool {
        self.checkpoint.as_ref().is_some_and(|c| force || c.due())
    }

    /// Saves a checkpoint of the engine. Call only when every submitted step is durable, so the
    /// saved state never covers a feature write Redis has not acknowledged.
    pub fn save_checkpoint(&mut self) -> Result<(), CheckpointError> {
        match &mut self.checkpoint {
            Some(c) => c.save(&self.engine),
            None => Ok(()),
        }
    }

    /// Runs one step of events (grouped by source partition) through the engine.
    pub fn step(&mut self, parts: &[(u32, &[crate::model::Event])]) {
        match &mut self.store {
            Store::Memory(store) => self.engine.process_partitions(parts, store),
            Store::Redis(redis) => self.engine.process_partitions(parts, redis.as_mut()),
        }
    }

    /// Notes a record's source timestamp, to measure freshness when its step is acknowledged.
    pub fn note_timestamp(&mut self, timestamp_ms: i64) {
        self.step_timestamps.push(timestamp_ms);
        self.arrival_us.saturating_record((wall_us() - timestamp_ms * 1_000).max(1) as u64);
    }

    /// Lets the engine act on the sink: idle advances, partition changes.
    pub fn with_sink(&mut self, f: impl FnOnce(&mut Engine, &mut dyn crate::engine::emission::EmissionSink)) {
        match &mut self.store {
            Store::Memory(store) => f(&mut self.engine, store),
            Store::Redis(redis) => f(&mut self.engine, redis.as_mut()),
        }
    }

    /// Ends the step: its writes go to the store (Redis: to the writer thread, which retries
    /// until they land) under a ticket, returned. Blocks while Redis is two steps behind.
    pub fn submit(&mut self, give_up: &dyn Fn() -> bool) -> Result<u64, RedisSinkError> {
        let ticket = self.next_ticket;
        self.next_ticket += 1;
        let timestamps = std::mem::take(&mut self.step_timestamps);
        match &mut self.store {
            Store::Redis(redis) => {
                self.in_flight.push_back((ticket, timestamps));
                redis.submit(ticket, give_up)?;
            }
            Store::Memory(_) => self.record_freshness(&timestamps, wall_us()),
        }
        Ok(ticket)
    }

    /// Takes the store's acknowledgements and returns the first ticket not yet acknowledged:
    /// every step below it is durable.
    pub fn acknowledged(&mut self) -> Result<u64, RedisSinkError> {
        if let Store::Redis(redis) = &mut self.store {
            for (ticket, at_us) in redis.take_acks()? {
                while let Some((t, _)) = self.in_flight.front() {
                    if *t > ticket {
                        break;
                    }
                    let (_, timestamps) = self.in_flight.pop_front().expect("front exists");
                    self.record_freshness(&timestamps, at_us);
                }
            }
        }
        Ok(self.in_flight.front().map_or(self.next_ticket, |(t, _)| *t))
    }

    /// Waits until every submitted step is durable; returns the next ticket.
    pub fn wait_all(&mut self, give_up: &dyn Fn() -> bool) -> Result<u64, RedisSinkError> {
        if let Store::Redis(redis) = &mut self.store {
            redis.wait_all(give_up)?;
        }
        self.acknowledged()
    }

    /// Submits the step and waits until it, and every step before, is durable.
    pub fn flush(&mut self, give_up: impl Fn() -> bool) -> Result<(), RedisSinkError> {
        self.submit(&give_up)?;
        self.wait_all(&give_up).map(|_| ())
    }

    fn record_freshness(&mut self, timestamps: &[i64], at_us: i64) {
        for t in timestamps {
            self.freshness_us.saturating_record((at_us - t * 1_000).max(1) as u64);
        }
    }

    pub fn reject(&mut self, code: &'static str) {
        *self.counters.rejected.entry(code).or_default() += 1;
    }

    /// The status the HTTP API serves, refreshed from the engine and counters.
    pub fn publish(&self) {
        let plugins = self
            .engine
            .reports()
            .iter()
            .map(|r| {
                let hash = self
                    .facts
                    .hashes
                    .iter()
                    .find(|(n, _)| *n == r.descriptor.name)
                    .map_or("", |(_, h)| h.as_str());
                PluginInfo::from_report(r, hash, self.facts.limits.clone())
            })
            .collect();
        let stats: &EngineStats = self.engine.stats();
        let mut s = self.status.write().unwrap_or_else(|p| p.into_inner());
        *s = Status {
            events: stats.events,
            duplicates: stats.duplicates,
            rejected: self.counters.rejected.values().sum(),
            rejected_by_reason: self.counters.rejected.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
            records: self.counters.records,
            commits: self.counters.commits,
            redis_writes: self.redis_writes(),
            freshness_ms: self.freshness_summary(),
            watermark: Some(self.engine.watermark()).filter(|w| *w > i64::MIN),
            plugin_refusals: self.counters.plugin_refusals,
            last_plugin_refusal: self.counters.last_plugin_refusal.clone(),
            plugins,
        };
    }

    fn redis_writes(&self) -> Option<(u64, u64)> {
        match &self.store {
            Store::Redis(r) => Some(r.counts()),
            Store::Memory(_) => None,
        }
    }

    /// p50, p99 and p99.9 freshness in milliseconds, once anything was measured.
    pub fn freshness_summary(&self) -> Option<[f64; 3]> {
        quantiles_ms(&self.freshness_us)
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
        if let Some((writes, retries)) = self.redis_writes() {
            line += &format!("; {writes} Redis pipelines ({retries} retries)");
        }
        if self.counters.commits > 0 {
            line += &format!("; {} offset commits", self.counters.commits);
        }
        if let Some([p50, p99, p999]) = self.freshness_summary() {
            line += &format!("; freshness p50 {p50:.1} ms, p99 {p99:.1} ms, p99.9 {p999:.1} ms");
        }
        if let Store::Memory(store) = &self.store {
            line += &format!("; {} feature hashes in the store", store.lock().len());
        }
        line
    }
}

/// Stop conditions shared by the drivers: Ctrl-C or the API's shutdown, or a deadline.
#[derive(Clone)]
pub struct Stop {
    pub flag: Arc<AtomicBool>,
    pub deadline: Option<Instant>,
}

impl Stop {
    pub fn new(flag: Arc<AtomicBool>, deadline: Option<Instant>) -> Self {
        Stop { flag, deadline }
    }

    pub fn requested(&self) -> bool {
        self.flag.load(Ordering::Relaxed) || self.deadline.is_some_and(|d| Instant::now() >= d)
    }

    pub fn request(&self) {
        self.flag.store(true, Ordering::Relaxed);
    }
}

fn quantiles_ms(h: &Histogram<u64>) -> Option<[f64; 3]> {
    (!h.is_empty()).then(|| [0.5, 0.99, 0.999].map(|q| h.value_at_quantile(q) as f64 / 1_000.0))
}

pub fn wall_ms() -> i64 {
    SharedStore::now_ms()
}
