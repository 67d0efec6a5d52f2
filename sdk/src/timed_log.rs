//! `TimedLog`: a key's events in event-time order, shared by one or more rolling windows.
//!
//! It decides which groups emit in a step (an event landed in the window, or an event left it at
//! one of the group's ticks), keeps entries until every group has emitted their departure, and
//! computes the next tick a key needs. Plugins keep their per-event facts in `E`.

use crate::window::{contains, earliest, expiry_tick, is_tick_of};
use live_shopper_abi::{DecodeError, Reader, Writer};

/// A windowed group's timing: window length and tick period.
#[derive(Debug, Clone, Copy)]
pub struct WindowSpec {
    /// How far back the window reaches.
    pub window_ms: u64,
    /// The group's emit interval: ticks fall on its multiples.
    pub interval_ms: u64,
}

/// Entries sorted by event time, plus each group's last emission as-of time.
#[derive(Debug, Clone, PartialEq)]
pub struct TimedLog<E> {
    entries: Vec<(i64, E)>,
    last_emitted: Vec<i64>,
}

impl<E> Default for TimedLog<E> {
    fn default() -> Self {
        TimedLog { entries: Vec::new(), last_emitted: Vec::new() }
    }
}

impl<E> TimedLog<E> {
    /// True when no entry is kept.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Entries kept.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Inserts an entry, after any with the same time (arrival order breaks ties).
    pub fn insert(&mut self, t: i64, e: E) {
        if self.entries.last().is_none_or(|(last, _)| *last <= t) {
            self.entries.push((t, e));
        } else {
            let at = self.entries.partition_point(|(x, _)| *x <= t);
            self.entries.insert(at, (t, e));
        }
    }

    fn last_emitted(&self, group: usize) -> i64 {
        self.last_emitted.get(group).copied().unwrap_or(i64::MIN)
    }

    /// The entries inside `spec`'s window as of `as_of`, oldest first.
    pub fn window(&self, spec: WindowSpec, as_of: i64) -> &[(i64, E)] {
        let lo = as_of.saturating_sub(spec.window_ms as i64);
        let start = self.entries.partition_point(|(t, _)| *t <= lo);
        let end = self.entries.partition_point(|(t, _)| *t <= as_of);
        &self.entries[start..end]
    }

    /// True when an entry counted at the group's last emission has left its window by `as_of`
    /// and `tick` is one of the group's ticks.
    pub fn expired_at_tick(&self, group: usize, spec: WindowSpec, as_of: i64, tick: Option<i64>) -> bool {
        let Some(tick) = tick else { return false };
        if !is_tick_of(tick, spec.interval_ms) {
            return false;
        }
        let w = spec.window_ms as i64;
        let counted_after = self.last_emitted(group).saturating_sub(w);
        let now_after = as_of.saturating_sub(w);
        self.entries.iter().any(|(t, _)| *t > counted_after && *t <= now_after)
    }

    /// Decides which of `specs` emit in this step: those an event of `new_times` landed in, and
    /// those from which an entry left at one of their ticks.
    pub fn groups_to_emit(
        &self,
        specs: &[WindowSpec],
        as_of: i64,
        tick: Option<i64>,
        new_times: &[i64],
    ) -> Vec<bool> {
        specs
            .iter()
            .enumerate()
            .map(|(g, spec)| {
                new_times.iter().any(|t| contains(*t, as_of, spec.window_ms))
                    || self.expired_at_tick(g, *spec, as_of, tick)
            })
            .collect()
    }

    /// Records that `group` emitted as of `as_of`.
    pub fn mark_emitted(&mut self, group: usize, as_of: i64) {
        if self.last_emitted.len() <= group {
            self.last_emitted.resize(group + 1, i64::MIN);
        }
        self.last_emitted[group] = as_of;
    }

    /// Drops entries every group has already emitted the departure of; frees all when none is left.
    pub fn prune(&mut self, specs: &[WindowSpec]) {
        let keep_after = specs
            .iter()
            .enumerate()
            .map(|(g, s)| self.last_emitted(g).saturating_sub(s.window_ms as i64))
            .min()
            .unwrap_or(i64::MIN);
        let drop = self.entries.partition_point(|(t, _)| *t <= keep_after);
        self.entries.drain(..drop);
        if self.entries.is_empty() {
            self.last_emitted.clear();
        }
    }

    /// The next tick this log needs: for each group, the tick at which its oldest counted entry
    /// leaves the window.
    pub fn next_timer(&self, specs: &[WindowSpec]) -> Option<i64> {
        specs.iter().enumerate().fold(None, |acc, (g, s)| {
            let counted_after = self.last_emitted(g).saturating_sub(s.window_ms as i64);
            let oldest = self.entries.iter().find(|(t, _)| *t > counted_after);
            earliest(acc, oldest.map(|(t, _)| expiry_tick(*t, s.window_ms, s.interval_ms)))
        })
    }

    /// Writes the log with `entry` writing each entry's facts.
    pub fn encode(&self, w: &mut Writer<'_>, mut entry: impl FnMut(&E, &mut Writer<'_>)) {
        w.varint(self.last_emitted.len() as u64);
        for t in &self.last_emitted {
            w.i64(*t);
        }
        w.varint(self.entries.len() as u64);
        for (t, e) in &self.entries {
            w.i64(*t);
            entry(e, w);
        }
    }

    /// Empties the log, keeping its allocations.
    pub fn clear(&mut self) {
        self.entries.clear();
        self.last_emitted.clear();
    }

    /// Replaces the contents with a log written by [`TimedLog::encode`], reusing allocations.
    pub fn load<'a>(
        &mut self,
        r: &mut Reader<'a>,
        mut entry: impl FnMut(&mut Reader<'a>) -> Result<E, DecodeError>,
    ) -> Result<(), DecodeError> {
        self.clear();
        for _ in 0..r.count()? {
            self.last_emitted.push(r.i64()?);
        }
        let n = r.count()?;
        self.entries.reserve(n.min(4096));
        for _ in 0..n {
            let t = r.i64()?;
            self.entries.push((t, entry(r)?));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPECS: [WindowSpec; 2] = [
        WindowSpec { window_ms: 300_000, interval_ms: 30_000 },
        WindowSpec { window_ms: 3_600_000, interval_ms: 60_000 },
    ];

    #[test]
    fn an_event_touches_the_windows_it_lands_in() {
        let log: TimedLog<()> = TimedLog::default();
        assert_eq!(log.groups_to_emit(&SPECS, 1_000_000, None, &[1_000_000]), vec![true, true]);
        assert_eq!(log.groups_to_emit(&SPECS, 1_000_000, None, &[600_000]), vec![false, true]);
    }

    #[test]
    fn departures_emit_once_at_the_groups_tick_then_the_log_empties() {
        let mut log = TimedLog::default();
        log.insert(10_000, ());
        log.mark_emitted(0, 10_000);
        log.mark_emitted(1, 10_000);
        // The 5-minute window loses the event at 310_000 -> first 30 s tick at or after is 330_000.
        assert_eq!(log.next_timer(&SPECS), Some(330_000));
        assert_eq!(log.groups_to_emit(&SPECS, 330_000, Some(330_000), &[]), vec![true, false]);
        log.mark_emitted(0, 330_000);
        log.prune(&SPECS);
        assert_eq!(log.len(), 1, "the hour window still counts it");
        assert_eq!(log.next_timer(&SPECS), Some(3_660_000));
        assert_eq!(log.groups_to_emit(&SPECS, 3_660_000, Some(3_660_000), &[]), vec![false, true]);
        log.mark_emitted(1, 3_660_000);
        log.prune(&SPECS);
        assert!(log.is_empty());
        assert_eq!(log.next_timer(&SPECS), None);
    }

    #[test]
    fn out_of_order_entries_are_kept_sorted() {
        let mut log = TimedLog::default();
        for t in [5, 1, 3, 3] {
            log.insert(t, t);
        }
        let spec = WindowSpec { window_ms: 10, interval_ms: 1 };
        let times: Vec<i64> = log.window(spec, 5).iter().map(|(t, _)| *t).collect();
        assert_eq!(times, vec![1, 3, 3, 5]);
        assert_eq!(
            log.window(WindowSpec { window_ms: 3, interval_ms: 1 }, 5).len(),
            3,
            "(2, 5] holds 3, 3 and 5"
        );
    }
}
