//! The engine: routes events to operators by key, owns every key's state and timers, tracks the
//! watermark, dedups, counts late events, and hands emissions to a sink.
//!
//! It knows nothing of wasmtime, Kafka, Redis or HTTP: an operator is anything implementing
//! [`Operator`], a sink anything implementing [`emission::EmissionSink`] (a test checks the
//! imports). One `Engine` serves every partition a host consumes: each key's state belongs to
//! the partition whose event created it, so a revoked partition's keys, timers and dedup memory
//! leave alone and a changelog can restore them elsewhere (`partitions.rs`); the watermark is the
//! least of the partitions' (`watermark.rs`). Calls are batched: one call per operator per step,
//! plus one per round of due timers.

pub mod dedup;
pub mod emission;
pub mod failures;
mod isolation;
pub mod keyed_state;
pub mod lifecycle;
pub mod operator;
mod outputs;
pub mod partitions;
mod report;
mod routing;
mod runner;
pub mod snapshot;
pub mod through;
pub mod watermark;

use crate::model::{Event, Interest};
use dedup::PartitionDedup;
use emission::EmissionSink;
use failures::FailedBatch;
pub use operator::{FailureKind, Operator, OperatorFailure, StateQuota};
pub use report::{EngineStats, OperatorReport, OperatorStats};
use runner::{Accepted, Runner};
use through::PartitionEvents;
use watermark::PartitionWatermarks;

/// Engine settings (documented with their defaults in `docs/CONFIG.md`).
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Allowed out-of-orderness: the watermark trails the max event time by this much.
    pub out_of_orderness_ms: u64,
    /// How long an event id is remembered for dedup, in event time.
    pub dedup_horizon_ms: u64,
    /// Most due timers handed to one operator call.
    pub max_timers_per_call: usize,
    /// Most rounds of due timers one operator runs per step; what is still due then waits for
    /// the next step (a plugin that keeps setting its timer just after the tick cannot hold
    /// the loop). `finish` runs every round.
    pub max_timer_rounds: u32,
    /// Largest state one key may hold per plugin; a call that returns more fails as
    /// `limit_exceeded` and nothing of it is applied.
    pub state_bytes_per_key: usize,
    /// Consecutive failed calls after which a plugin is quarantined (0: never).
    pub quarantine_after: u32,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            out_of_orderness_ms: 5_000,
            dedup_horizon_ms: 24 * 3_600_000,
            max_timers_per_call: 4_096,
            max_timer_rounds: 64,
            state_bytes_per_key: 64 << 10,
            quarantine_after: 5,
        }
    }
}

/// Runs the operators on steps of events; owns their keyed state and timers, dedup and the watermark.
pub struct Engine {
    runners: Vec<Runner>,
    watermark: PartitionWatermarks,
    dedup: PartitionDedup,
    config: EngineConfig,
    stats: EngineStats,
    /// Change tracking for a changelog: the ids each partition's dedup memory took since the
    /// changes were last taken (`None`: no changelog kept).
    fresh_ids: Option<std::collections::BTreeMap<u32, Vec<(i64, u128)>>>,
    /// Plugins keyed by product, category, global or an entity field take their events from
    /// through partitions only (`through.rs`).
    repartitioned: bool,
}

impl Engine {
    /// An engine running `operators`, with empty state and no event seen.
    pub fn new(config: EngineConfig, operators: Vec<Box<dyn Operator>>) -> Self {
        let runners = operators.into_iter().map(|op| Runner::new(op, &config, false)).collect();
        Engine {
            runners,
            watermark: PartitionWatermarks::new(config.out_of_orderness_ms),
            dedup: PartitionDedup::new(config.dedup_horizon_ms),
            config,
            stats: EngineStats::default(),
            fresh_ids: None,
            repartitioned: false,
        }
    }

    /// Processes one step of a single-partition source (files, the generator).
    pub fn process(&mut self, events: &[Event], sink: &mut dyn EmissionSink) {
        self.process_partitions(&[(0, events)], sink);
    }

    /// Processes one step of input partitions (see [`process_step`](Self::process_step)).
    pub fn process_partitions(&mut self, parts: &[(u32, &[Event])], sink: &mut dyn EmissionSink) {
        let parts: Vec<PartitionEvents<'_>> =
            parts.iter().map(|(partition, events)| PartitionEvents::input(*partition, events)).collect();
        self.process_step(&parts, sink);
    }

    /// Processes one step: dedups the events, runs every operator once on them (arrival order
    /// within a key), advances each input partition's watermark and fires the timers its lane's
    /// watermark (the least of the lane's partitions') passed. Events of a through partition
    /// feed only the key they carry, of the plugins in the through lane.
    pub fn process_step(&mut self, parts: &[PartitionEvents<'_>], sink: &mut dyn EmissionSink) {
        let total = parts.iter().map(|p| p.events.len()).sum();
        let mut accepted = Accepted {
            events: Vec::with_capacity(total),
            owners: Vec::with_capacity(total),
            routes: Vec::with_capacity(total),
        };
        let mut accepted_per_partition = Vec::with_capacity(parts.len());
        for part in parts {
            let partition = part.partition;
            if part.through.is_some() {
                self.watermark.add_through(partition);
            }
            let before = accepted.events.len();
            // With a changelog, the ids the partition's dedup memory takes are tracked.
            let mut fresh = self.fresh_ids.as_mut().map(|f| f.entry(partition).or_default());
            for (i, e) in part.events.iter().enumerate() {
                let route = part.through.map(|keys| &keys[i]);
                let first = match route {
                    None => self.dedup.first_time(partition, &e.event_id, e.event_time),
                    Some(t) => self.dedup.first_time_compact(
                        partition,
                        through::keyed_dedup_id(&e.event_id, t),
                        e.event_time,
                    ),
                };
                match first {
                    Some(id) => {
                        accepted.events.push(e);
                        accepted.owners.push(partition);
                        accepted.routes.push(route);
                        if let Some(fresh) = fresh.as_mut() {
                            fresh.push((e.event_time, id));
                        }
                    }
                    None if route.is_some() => self.stats.through_duplicates += 1,
                    None => self.stats.duplicates += 1,
                }
            }
            let n = accepted.events.len() - before;
            if part.through.is_some() {
                self.stats.through_events += n as u64;
            } else {
                self.stats.events += n as u64;
            }
            accepted_per_partition.push((part, n));
        }
        let lanes = (self.watermark.current(), self.watermark.through_current());
        for (e, route) in accepted.events.iter().zip(&accepted.routes) {
            if let (Some(user), None) = (e.user_id.as_deref().filter(|u| !u.is_empty()), route) {
                sink.alias(user, &e.shopper_id);
            }
        }
        for runner in &mut self.runners {
            let watermark = if runner.in_through_lane(self.repartitioned) { lanes.1 } else { lanes.0 };
            runner.run_events(&accepted, self.repartitioned, watermark, sink);
        }
        let mut rest = accepted.events.as_slice();
        for (part, n) in accepted_per_partition {
            let (events, tail) = rest.split_at(n);
            // A through partition's watermark comes from its upstream partitions' reports.
            if part.through.is_none() {
                for e in events {
                    self.watermark.observe(part.partition, e.event_time);
                }
            }
            rest = tail;
        }
        self.fire_timers(sink);
    }

    /// Advances every partition's watermark (end of input) and fires due timers.
    pub fn advance_watermark(&mut self, t: i64, sink: &mut dyn EmissionSink) {
        self.watermark.advance_all(t);
        self.fire_timers(sink);
    }

    /// An idle single-partition source in live mode: the watermark moves to wall-clock `now_ms`
    /// minus the allowed out-of-orderness (FEATURES.md §2) and due timers fire.
    pub fn advance_idle(&mut self, now_ms: i64, sink: &mut dyn EmissionSink) {
        self.advance_watermark(self.watermark.idle_target(now_ms), sink);
    }

    /// One idle partition of a live source advances by wall clock; due timers fire if that
    /// moved the engine's watermark.
    pub fn advance_idle_partition(&mut self, partition: u32, now_ms: i64, sink: &mut dyn EmissionSink) {
        self.watermark.advance_partition(partition, self.watermark.idle_target(now_ms));
        self.fire_timers(sink);
    }

    /// End of a replay: the watermark moves to the last event time and what is due fires.
    pub fn finish(&mut self, sink: &mut dyn EmissionSink) {
        if let Some(t) = self.watermark.max_event_time() {
            self.watermark.advance_all(t);
            while self.fire_timers(sink) {}
        }
    }

    /// Runs every operator's due timers, at most `max_timer_rounds` rounds each; true when some
    /// are still due.
    fn fire_timers(&mut self, sink: &mut dyn EmissionSink) -> bool {
        let input = self.watermark.update();
        let through = self.watermark.through_current();
        let (max, rounds) = (self.config.max_timers_per_call, self.config.max_timer_rounds);
        let mut more = false;
        for runner in &mut self.runners {
            let wm = if runner.in_through_lane(self.repartitioned) { through } else { input };
            more |= runner.run_timers(wm, max, rounds, sink);
        }
        let watermarks = &self.watermark;
        self.dedup.expire(|partition| watermarks.lane_of(partition));
        more
    }

    /// The engine's watermark in event-time ms: the least of the partitions' (it goes back only
    /// when a partition joins behind the others).
    pub fn watermark(&self) -> i64 {
        self.watermark.current()
    }

    /// Counters of the whole engine.
    pub fn stats(&self) -> &EngineStats {
        &self.stats
    }

    /// A report of every operator, in the order they were added.
    pub fn reports(&self) -> Vec<OperatorReport> {
        self.runners
            .iter()
            .map(|r| OperatorReport {
                descriptor: r.descriptor.clone(),
                stats: r.stats.clone(),
                keys: r.state.keys(),
                state_bytes: r.state.state_bytes(),
                timers: r.state.timers(),
            })
            .collect()
    }

    /// The calls that failed since the last take, oldest first (for the plugin dead-letter).
    pub fn take_failed_batches(&mut self) -> Vec<FailedBatch> {
        self.runners.iter_mut().flat_map(|r| std::mem::take(&mut r.failed)).collect()
    }

    /// What the loaded plugins need decoded from records: the standard entities, and which
    /// custom events and entities (their union).
    pub fn interest(&self) -> Interest {
        Interest::of(self.runners.iter().map(|r| &r.descriptor))
    }

    /// A key's state bytes in one operator (tests and inspection).
    pub fn state_of(&self, plugin: &str, key: &str) -> Option<&[u8]> {
        let r = self.runners.iter().find(|r| r.descriptor.name == plugin)?;
        r.state.get(key).map(|id| r.state.slot(id).state.as_slice())
    }
}

#[cfg(test)]
mod tests;
