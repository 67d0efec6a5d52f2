//! One operator as the engine runs it: its keyed state, counters and buffers, a step's events
//! routed to its keys and handed over in one call (`isolation.rs` splits a failed one), due
//! timers fired in rounds, and a call's outputs applied (state, timers, emissions, signals).

use super::emission::{Emission, EmissionSink, Signal};
use super::failures::FailedBatch;
use super::keyed_state::KeyedState;
use super::outputs::{check_state_sizes, check_total_state, read_outputs, KeyWork};
use super::routing::{self, NoKey};
use super::through::{self, ThroughKey};
use super::{EngineConfig, Operator, OperatorFailure, OperatorStats};
use crate::model::Event;
use live_shopper_abi::{Descriptor, StateOp};
use std::borrow::Cow;

/// The events a step accepted (not duplicates), with the partition of each and, for a through
/// partition's, the key it feeds.
pub(super) struct Accepted<'e> {
    pub(super) events: Vec<&'e Event>,
    pub(super) owners: Vec<u32>,
    pub(super) routes: Vec<Option<&'e ThroughKey>>,
}

pub(super) struct Runner {
    pub(super) op: Box<dyn Operator>,
    pub(super) descriptor: Descriptor,
    /// The kind of its key when that is not the input's partition key (`through::kind_of`).
    pub(super) through_kind: Option<String>,
    pub(super) max_window_ms: i64,
    pub(super) state: KeyedState,
    pub(super) stats: OperatorStats,
    pub(super) input: Vec<u8>,
    pub(super) output: Vec<u8>,
    pub(super) routed: Vec<(u32, u32)>,
    pub(super) work: Vec<KeyWork>,
    pub(super) state_limit: usize,
    pub(super) state_total_limit: Option<usize>,
    pub(super) quarantine_after: u32,
    pub(super) failed: Vec<FailedBatch>,
    /// The step's events each key is handed, by index into the step's accepted events.
    pub(super) delivered: Vec<u32>,
}

impl Runner {
    pub(super) fn new(op: Box<dyn Operator>, config: &EngineConfig, tracking: bool) -> Self {
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
            delivered: Vec::new(),
        }
    }

    /// Applies a new version's own limits (a reload may change them).
    pub(super) fn take_quota(&mut self, config: &EngineConfig) {
        let quota = self.op.state_quota();
        self.state_limit = quota.per_key.unwrap_or(config.state_bytes_per_key);
        self.state_total_limit = quota.total;
    }

    /// Whether the plugin takes its events from through partitions.
    pub(super) fn in_through_lane(&self, repartitioned: bool) -> bool {
        repartitioned && self.through_kind.is_some()
    }

    /// Whether the plugin takes event `i` of `accepted`: it wants the event, and with
    /// repartitioning the event is of the plugin's lane (an input event for the input lane, a
    /// through event of the plugin's kind of key for the through lane).
    pub(super) fn takes(&self, accepted: &Accepted<'_>, i: usize, repartitioned: bool) -> bool {
        routing::wants(&self.descriptor, accepted.events[i])
            && match (repartitioned, &self.through_kind, accepted.routes[i]) {
                (false, _, _) | (true, None, None) => true,
                (true, Some(kind), Some(route)) => *kind == route.kind,
                _ => false,
            }
    }

    /// The keys event `i` of `accepted` feeds, appended to `keys`; false when it feeds none. A
    /// through event feeds the one key it carries.
    pub(super) fn keys_for<'e>(
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
    pub(super) fn run_events(
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

        // Each key's events that are not late, in arrival order, as one run of `delivered`.
        self.delivered.clear();
        let mut work = Vec::new();
        for group in self.routed.chunk_by(|a, b| a.0 == b.0) {
            let slot_id = group[0].0;
            let slot = self.state.slot(slot_id);
            let newest = group.iter().map(|(_, i)| events[*i as usize].event_time).max().unwrap_or(i64::MIN);
            let as_of = slot.as_of.max(newest);
            let horizon = as_of.saturating_sub(self.max_window_ms);
            let first = self.delivered.len() as u32;
            for (_, i) in group {
                if self.max_window_ms > 0 && events[*i as usize].event_time <= horizon {
                    self.stats.late += 1;
                } else {
                    self.delivered.push(*i);
                }
            }
            let count = self.delivered.len() as u32 - first;
            if count > 0 {
                work.push(KeyWork { slot: slot_id, as_of, tick: None, first, count });
            }
        }
        self.stats.events_in += self.delivered.len() as u64;
        let outcome = self.call_isolating(work, events, watermark, sink);
        self.stats.skipped += outcome.not_called.iter().map(|w| u64::from(w.count)).sum::<u64>();
        // Keys created for a failed or skipped call hold nothing; do not leak them.
        for w in outcome.failed.iter().chain(&outcome.not_called) {
            let slot = self.state.slot(w.slot);
            if slot.state.is_empty() && slot.timer.is_none() {
                self.state.remove(w.slot);
            }
        }
    }

    /// Fires the timers due at `watermark`, up to `max` per call and `rounds` calls; true when
    /// some are still due (they wait for the next step).
    pub(super) fn run_timers(
        &mut self,
        watermark: i64,
        max: usize,
        rounds: u32,
        sink: &mut dyn EmissionSink,
    ) -> bool {
        if self.stats.health.quarantined {
            return false;
        }
        for _ in 0..rounds {
            let due = self.state.take_due(watermark, max);
            if due.is_empty() {
                return false;
            }
            let work = due
                .iter()
                .map(|&(t, slot)| {
                    let as_of = self.state.slot(slot).as_of.max(t);
                    KeyWork { slot, as_of, tick: Some(t), first: 0, count: 0 }
                })
                .collect();
            let outcome = self.call_isolating(work, &[], watermark, sink);
            // A key whose tick failed alone loses that tick (its next event sets another);
            // ticks not called because the plugin was quarantined on the way are kept.
            for w in &outcome.not_called {
                self.state.set_timer(w.slot, w.tick);
            }
            if !outcome.not_called.is_empty() {
                return false;
            }
        }
        let more = self.state.has_due(watermark);
        if more {
            tracing::debug!(plugin = %self.descriptor.name, rounds, "timer rounds per step used up; the rest wait for the next step");
        }
        more
    }

    /// Calls the operator on `self.input` for `self.work` and applies the output.
    pub(super) fn call(&mut self, sink: &mut dyn EmissionSink) -> Result<(), OperatorFailure> {
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
