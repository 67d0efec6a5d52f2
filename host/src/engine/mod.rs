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
pub mod keyed_state;
pub mod lifecycle;
pub mod operator;
mod outputs;
pub mod partitions;
mod report;
mod routing;
pub mod snapshot;
pub mod through;
pub mod watermark;

use crate::model::{Event, Interest};
use dedup::PartitionDedup;
use emission::{Emission, EmissionSink, Signal};
use failures::FailedBatch;
use keyed_state::KeyedState;
use live_shopper_abi::{BatchHeader, BatchWriter, Descriptor, SelfDescribingRefs, StateOp};
pub use operator::{FailureKind, Operator, OperatorFailure, StateQuota};
use outputs::{check_state_sizes, check_total_state, read_outputs};
pub use report::{EngineStats, OperatorReport, OperatorStats};
use routing::NoKey;
use std::borrow::Cow;
use through::{PartitionEvents, ThroughKey};
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
            state_bytes_per_key: 64 << 10,
            quarantine_after: 5,
        }
    }
}

/// The events a step accepted (not duplicates), with the partition of each and, for a through
/// partition's, the key it feeds.
struct Accepted<'e> {
    events: Vec<&'e Event>,
    owners: Vec<u32>,
    routes: Vec<Option<&'e ThroughKey>>,
}

/// One key's share of a call.
#[derive(Debug, Clone, Copy)]
struct KeyWork {
    slot: u32,
    as_of: i64,
    tick: Option<i64>,
}

struct Runner {
    op: Box<dyn Operator>,
    descriptor: Descriptor,
    /// The kind of its key when that is not the input's partition key (`through::kind_of`).
    through_kind: Option<String>,
    max_window_ms: i64,
    state: KeyedState,
    stats: OperatorStats,
    input: Vec<u8>,
    output: Vec<u8>,
    routed: Vec<(u32, u32)>,
    work: Vec<KeyWork>,
    state_limit: usize,
    state_total_limit: Option<usize>,
    quarantine_after: u32,
    failed: Vec<FailedBatch>,
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
                    Some(t) => self.dedup.first_time(
                        partition,
                        &through::keyed_dedup_id(&e.event_id, t),
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
            self.advance_watermark(t, sink);
        }
    }

    fn fire_timers(&mut self, sink: &mut dyn EmissionSink) {
        let input = self.watermark.update();
        let through = self.watermark.through_current();
        let max = self.config.max_timers_per_call;
        for runner in &mut self.runners {
            let wm = if runner.in_through_lane(self.repartitioned) { through } else { input };
            runner.run_timers(wm, max, sink);
        }
        let watermarks = &self.watermark;
        self.dedup.expire(|partition| watermarks.lane_of(partition));
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

impl Runner {
    fn new(op: Box<dyn Operator>, config: &EngineConfig, tracking: bool) -> Self {
        let descriptor = op.descriptor().clone();
        let quota = op.state_quota();
        let mut state = KeyedState::default();
        state.set_tracking(tracking);
        Runner {
            max_window_ms: descriptor.max_window_ms() as i64,
            through_kind: through::kind_of(&descriptor),
            descriptor,
            op,
            state,
            stats: OperatorStats::default(),
            input: Vec::new(),
            output: Vec::new(),
            routed: Vec::new(),
            work: Vec::new(),
            state_limit: quota.per_key.unwrap_or(config.state_bytes_per_key),
            state_total_limit: quota.total,
            quarantine_after: config.quarantine_after,
            failed: Vec::new(),
        }
    }

    /// Applies a new version's own limits (a reload may change them).
    fn take_quota(&mut self, config: &EngineConfig) {
        let quota = self.op.state_quota();
        self.state_limit = quota.per_key.unwrap_or(config.state_bytes_per_key);
        self.state_total_limit = quota.total;
    }

    /// Whether the plugin takes its events from through partitions.
    fn in_through_lane(&self, repartitioned: bool) -> bool {
        repartitioned && self.through_kind.is_some()
    }

    /// Whether the plugin takes event `i` of `accepted`: it wants the event, and with
    /// repartitioning the event is of the plugin's lane (an input event for the input lane, a
    /// through event of the plugin's kind of key for the through lane).
    fn takes(&self, accepted: &Accepted<'_>, i: usize, repartitioned: bool) -> bool {
        routing::wants(&self.descriptor, accepted.events[i])
            && match (repartitioned, &self.through_kind, accepted.routes[i]) {
                (false, _, _) | (true, None, None) => true,
                (true, Some(kind), Some(route)) => *kind == route.kind,
                _ => false,
            }
    }

    /// The keys event `i` of `accepted` feeds, appended to `keys`; false when it feeds none. A
    /// through event feeds the one key it carries.
    fn keys_for<'e>(
        &mut self,
        accepted: &Accepted<'e>,
        i: usize,
        repartitioned: bool,
        keys: &mut Vec<Cow<'e, str>>,
    ) -> bool {
        if !self.takes(accepted, i, repartitioned) {
            return false;
        }
        if let Some(route) = accepted.routes[i] {
            keys.push(Cow::Borrowed(route.key.as_str()));
            return true;
        }
        match routing::keys_of(&self.descriptor, accepted.events[i], keys) {
            Ok(()) => true,
            Err(NoKey::Absent) => false,
            Err(NoKey::Unfit) => {
                self.stats.unkeyed += 1;
                false
            }
        }
    }

    /// Runs the operator on the step's `accepted` events; the partition of an event owns a key
    /// it creates.
    fn run_events(
        &mut self,
        accepted: &Accepted<'_>,
        repartitioned: bool,
        watermark: i64,
        sink: &mut dyn EmissionSink,
    ) {
        let (events, owners) = (&accepted.events, &accepted.owners);
        if self.stats.health.quarantined {
            self.stats.skipped +=
                (0..events.len()).filter(|&i| self.takes(accepted, i, repartitioned)).count() as u64;
            return;
        }
        self.routed.clear();
        let mut keys: Vec<Cow<'_, str>> = Vec::new();
        for (i, e) in events.iter().enumerate() {
            keys.clear();
            if !self.keys_for(accepted, i, repartitioned, &mut keys) {
                continue;
            }
            for key in &keys {
                // A key without state has no as-of time yet: an event that could not be inside
                // any window as of the watermark is late for it.
                if self.max_window_ms > 0
                    && self.state.get(key).is_none()
                    && e.event_time <= watermark.saturating_sub(self.max_window_ms)
                {
                    self.stats.late += 1;
                    continue;
                }
                let slot = self.state.get_or_insert(key, e.event_time, owners[i]);
                self.routed.push((slot, i as u32));
            }
        }
        if self.routed.is_empty() {
            return;
        }
        // (slot, arrival index) pairs are unique: an unstable sort keeps arrival order within a key.
        self.routed.sort_unstable();

        let reads_self_describing = self.descriptor.reads_self_describing();
        let mut writer =
            BatchWriter::with_header(&mut self.input, &header(self.op.as_ref(), &self.descriptor, watermark));
        self.work.clear();
        let mut delivered = 0;
        let mut entities = Vec::new();
        for group in self.routed.chunk_by(|a, b| a.0 == b.0) {
            let slot_id = group[0].0;
            let slot = self.state.slot(slot_id);
            let newest = group.iter().map(|(_, i)| events[*i as usize].event_time).max().unwrap_or(i64::MIN);
            let as_of = slot.as_of.max(newest);
            let horizon = as_of.saturating_sub(self.max_window_ms);
            let is_late = |t: i64| self.max_window_ms > 0 && t <= horizon;
            let late = group.iter().filter(|(_, i)| is_late(events[*i as usize].event_time)).count();
            self.stats.late += late as u64;
            if late == group.len() {
                continue;
            }
            writer.key(&slot.key, as_of, None, &slot.state);
            for (_, i) in group {
                let e = events[*i as usize];
                if is_late(e.event_time) {
                    continue;
                }
                if reads_self_describing {
                    entities.clear();
                    routing::entities_for(&self.descriptor.entities, &e.self_describing, &mut entities);
                    let custom = routing::custom_event(&self.descriptor.custom_events, &e.self_describing);
                    writer.event_with(e, SelfDescribingRefs { custom, entities: &entities });
                } else {
                    writer.event(e);
                }
                delivered += 1;
            }
            self.work.push(KeyWork { slot: slot_id, as_of, tick: None });
        }
        writer.finish();
        self.stats.events_in += delivered;
        if let Err(failure) = self.call(sink) {
            let event_ids = self.routed.iter().map(|(_, i)| events[*i as usize].event_id.clone()).collect();
            self.record_failure(failure, event_ids);
            // Keys created for this batch hold nothing; do not leak them.
            for w in std::mem::take(&mut self.work) {
                let slot = self.state.slot(w.slot);
                if slot.state.is_empty() && slot.timer.is_none() {
                    self.state.remove(w.slot);
                }
            }
        }
    }

    fn run_timers(&mut self, watermark: i64, max: usize, sink: &mut dyn EmissionSink) {
        if self.stats.health.quarantined {
            return;
        }
        loop {
            let due = self.state.take_due(watermark, max);
            if due.is_empty() {
                return;
            }
            let mut writer = BatchWriter::with_header(
                &mut self.input,
                &header(self.op.as_ref(), &self.descriptor, watermark),
            );
            self.work.clear();
            for &(t, slot_id) in &due {
                let slot = self.state.slot(slot_id);
                let as_of = slot.as_of.max(t);
                writer.key(&slot.key, as_of, Some(t), &slot.state);
                self.work.push(KeyWork { slot: slot_id, as_of, tick: Some(t) });
            }
            writer.finish();
            if let Err(failure) = self.call(sink) {
                self.record_failure(failure, Vec::new());
                // Keep the timers for the next step rather than losing the keys' decay.
                for (t, slot_id) in due {
                    self.state.set_timer(slot_id, Some(t));
                }
                return;
            }
        }
    }

    /// Counts a failed call, keeps it for the plugin dead-letter and quarantines the plugin
    /// after too many in a row.
    fn record_failure(&mut self, failure: OperatorFailure, event_ids: Vec<String>) {
        tracing::warn!(plugin = %self.descriptor.name, %failure, "plugin call failed; batch skipped for this plugin");
        self.stats.failures += 1;
        self.stats.last_failure = Some(failure.clone());
        let quarantined = self.stats.health.failed(self.quarantine_after);
        if quarantined {
            tracing::error!(plugin = %self.descriptor.name, failures = self.quarantine_after, "plugin quarantined after consecutive failures; the others go on");
        }
        if self.failed.len() < failures::KEEP_AT_MOST {
            self.failed.push(FailedBatch {
                plugin: self.descriptor.name.clone(),
                version: self.descriptor.version.clone(),
                failure,
                keys: self.work.iter().map(|w| self.state.slot(w.slot).key.to_string()).collect(),
                event_ids,
                quarantined,
            });
        }
    }

    /// Calls the operator on `self.input` for `self.work` and applies the output.
    fn call(&mut self, sink: &mut dyn EmissionSink) -> Result<(), OperatorFailure> {
        self.stats.calls += 1;
        let limit = self.state_limit;
        let (outputs, emissions, values) = self
            .op
            .process(&self.input, &mut self.output)
            .and_then(|()| read_outputs(&self.output, &self.work, &self.descriptor))
            .and_then(|outputs| check_state_sizes(outputs, limit))
            .and_then(|outputs| {
                check_total_state(outputs, &self.work, &self.state, self.state_total_limit)
            })?;
        self.stats.health.succeeded();
        let groups = self.descriptor.groups.len();
        for (w, out) in self.work.iter().zip(outputs) {
            let slot = self.state.slot_mut(w.slot);
            slot.as_of = w.as_of;
            for e in &emissions[out.emissions.clone()] {
                let Some(group) = self.descriptor.groups.get(e.group as usize) else {
                    self.stats.signals += 1;
                    sink.signal(&Signal {
                        plugin: &self.descriptor.name,
                        version: &self.descriptor.version,
                        signal: &self.descriptor.signals[e.group as usize - groups],
                        key: &slot.key,
                        as_of: w.as_of,
                        at: w.tick.unwrap_or(w.as_of),
                        values: &values[e.values.clone()],
                    });
                    continue;
                };
                sink.emit(&Emission {
                    plugin: &self.descriptor.name,
                    group,
                    key: &slot.key,
                    as_of: w.as_of,
                    closed: e.closed,
                    values: &values[e.values.clone()],
                });
            }
            self.stats.emissions +=
                emissions[out.emissions.clone()].iter().filter(|e| (e.group as usize) < groups).count()
                    as u64;
            // A timer must lie after the tick that just fired, or the key would spin.
            let timer = out.timer.filter(|t| w.tick.is_none_or(|fired| *t > fired));
            match out.state {
                StateOp::Clear => self.state.remove(w.slot),
                StateOp::Keep => {
                    self.state.set_timer(w.slot, timer);
                    self.state.touch(w.slot);
                }
                StateOp::Replace(bytes) => {
                    self.state.set_state(w.slot, bytes);
                    self.state.set_timer(w.slot, timer);
                    self.state.touch(w.slot);
                }
            }
        }
        Ok(())
    }
}

/// The header of a batch for `op`: its wire version and settings, `descriptor`'s fields.
fn header<'o>(op: &'o dyn Operator, descriptor: &Descriptor, watermark: i64) -> BatchHeader<'o> {
    BatchHeader {
        wire: op.wire(),
        fields: descriptor.event_fields,
        watermark,
        settings: op.settings(),
        self_describing: descriptor.reads_self_describing(),
    }
}

#[cfg(test)]
mod tests;
