//! Per-key state of one operator: the state bytes the plugin returned, the key's as-of time, and
//! its timer, with timers ordered by deadline beside the data.
//!
//! Timers sit in a min-heap with lazy invalidation: a slot's `timer` is the truth, and a heap
//! entry that no longer matches its slot is skipped when it surfaces. Moving a timer (which
//! session-like plugins do on every event) is then one push instead of a remove and an insert.
//! The heap is rebuilt from the slots when stale entries outnumber live ones.
//!
//! Every slot belongs to one source partition (its `owner`), so a revoked partition's keys can
//! be dropped alone. With change tracking on (a changelog is kept), the keys whose state, as-of
//! or timer a step changed, and the keys it cleared, are remembered until taken.

use rustc_hash::FxHashMap;
use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// Stale heap entries tolerated beyond the live timers before the heap is rebuilt.
const STALE_SLACK: usize = 1024;

/// One key's slot.
#[derive(Debug)]
pub struct Slot {
    /// The key (the entity id).
    pub key: Box<str>,
    /// The plugin's state bytes for the key; empty when it holds none.
    pub state: Vec<u8>,
    /// The key's as-of time A; never goes backwards.
    pub as_of: i64,
    /// When the key's timer fires, in event time; `None` when none is set.
    pub timer: Option<i64>,
    /// The source partition the key's state belongs to (the engine's partition id).
    pub owner: u32,
    /// Changed since the changes were last taken (change tracking only).
    dirty: bool,
}

/// A key's change since the last [`KeyedState::take_changes`].
#[derive(Debug)]
pub enum Change<'a> {
    /// The key holds this state, as-of and timer now.
    Put(&'a Slot),
    /// The key was cleared: it holds nothing now.
    Removed {
        /// The key.
        key: &'a str,
        /// The partition it belonged to.
        owner: u32,
    },
}

/// Slots addressed by key, reused through a free list, and the timer queue.
#[derive(Debug, Default)]
pub struct KeyedState {
    slots: Vec<Option<Slot>>,
    free: Vec<u32>,
    index: FxHashMap<Box<str>, u32>,
    timers: BinaryHeap<Reverse<(i64, u32)>>,
    live_timers: usize,
    state_bytes: usize,
    /// Change tracking: on when a changelog is kept.
    tracking: bool,
    /// Slots changed since the last take (each once: the slot's `dirty` flag).
    dirty: Vec<u32>,
    /// Keys cleared since the last take, with their owner.
    removed: Vec<(Box<str>, u32)>,
}

impl KeyedState {
    /// The slot of `key`, if it has one.
    pub fn get(&self, key: &str) -> Option<u32> {
        self.index.get(key).copied()
    }

    /// The slot of `key`, created (empty, as of `as_of`, belonging to partition `owner`) when absent.
    pub fn get_or_insert(&mut self, key: &str, as_of: i64, owner: u32) -> u32 {
        if let Some(id) = self.index.get(key) {
            return *id;
        }
        let slot = Slot { key: key.into(), state: Vec::new(), as_of, timer: None, owner, dirty: false };
        let id = match self.free.pop() {
            Some(id) => {
                self.slots[id as usize] = Some(slot);
                id
            }
            None => {
                self.slots.push(Some(slot));
                (self.slots.len() - 1) as u32
            }
        };
        self.index.insert(key.into(), id);
        id
    }

    /// The live slot `id`; panics when it is free.
    pub fn slot(&self, id: u32) -> &Slot {
        self.slots[id as usize].as_ref().expect("live slot")
    }

    /// The live slot `id`, mutably; panics when it is free.
    pub fn slot_mut(&mut self, id: u32) -> &mut Slot {
        self.slots[id as usize].as_mut().expect("live slot")
    }

    /// Replaces a slot's state bytes.
    pub fn set_state(&mut self, id: u32, bytes: &[u8]) {
        let slot = self.slots[id as usize].as_mut().expect("live slot");
        self.state_bytes = self.state_bytes + bytes.len() - slot.state.len();
        slot.state.clear();
        slot.state.extend_from_slice(bytes);
    }

    /// Sets or clears a slot's timer.
    pub fn set_timer(&mut self, id: u32, timer: Option<i64>) {
        let slot = self.slots[id as usize].as_mut().expect("live slot");
        if slot.timer == timer {
            return;
        }
        match (slot.timer.is_some(), timer.is_some()) {
            (false, true) => self.live_timers += 1,
            (true, false) => self.live_timers -= 1,
            _ => {}
        }
        slot.timer = timer;
        if let Some(t) = timer {
            self.timers.push(Reverse((t, id)));
            if self.timers.len() > 2 * self.live_timers + STALE_SLACK {
                self.rebuild_timers();
            }
        }
    }

    fn rebuild_timers(&mut self) {
        let live = self
            .slots
            .iter()
            .enumerate()
            .filter_map(|(id, s)| Some(Reverse((s.as_ref()?.timer?, id as u32))));
        self.timers = live.collect();
    }

    /// True when the heap entry (t, id) is still that slot's timer.
    fn is_live(&self, t: i64, id: u32) -> bool {
        self.slots.get(id as usize).and_then(|s| s.as_ref()).is_some_and(|s| s.timer == Some(t))
    }

    /// Frees a slot: the key holds nothing any more (a tracked change when it was ever written).
    pub fn remove(&mut self, id: u32) {
        self.set_timer(id, None);
        if let Some(slot) = self.slots[id as usize].take() {
            self.state_bytes -= slot.state.len();
            self.index.remove(&slot.key);
            self.free.push(id);
            if self.tracking {
                self.removed.push((slot.key, slot.owner));
            }
        }
    }

    /// Frees every slot (a tracked change for each key).
    pub fn clear(&mut self) {
        let ids: Vec<u32> = self.slots().map(|(id, _)| id).collect();
        for id in ids {
            self.remove(id);
        }
        self.timers.clear();
    }

    /// Turns change tracking on or off (off forgets what was tracked).
    pub fn set_tracking(&mut self, on: bool) {
        self.tracking = on;
        if !on {
            self.removed.clear();
            for id in std::mem::take(&mut self.dirty) {
                if let Some(slot) = self.slots[id as usize].as_mut() {
                    slot.dirty = false;
                }
            }
        }
    }

    /// Notes that slot `id` changed (its state, as-of or timer), when tracking.
    pub fn touch(&mut self, id: u32) {
        if !self.tracking {
            return;
        }
        let slot = self.slots[id as usize].as_mut().expect("live slot");
        if !slot.dirty {
            slot.dirty = true;
            self.dirty.push(id);
        }
    }

    /// Notes every live slot as changed (a migration rewrote them all), when tracking.
    pub fn touch_all(&mut self) {
        for id in 0..self.slots.len() as u32 {
            if self.slots[id as usize].is_some() {
                self.touch(id);
            }
        }
    }

    /// Hands every change since the last take to `out` — cleared keys first, then the keys
    /// that hold state now — and forgets them. A key cleared and written again within the
    /// same take is reported once, as it is now.
    pub fn take_changes(&mut self, mut out: impl FnMut(Change<'_>)) {
        for (key, owner) in std::mem::take(&mut self.removed) {
            if !self.index.contains_key(&key) {
                out(Change::Removed { key: &key, owner });
            }
        }
        for id in std::mem::take(&mut self.dirty) {
            if let Some(slot) = self.slots[id as usize].as_mut().filter(|s| s.dirty) {
                slot.dirty = false;
                out(Change::Put(slot));
            }
        }
    }

    /// Drops every key of partition `owner` (revoked: its next owner restores them), without
    /// tracking it as a change; returns how many keys were dropped.
    pub fn drop_owner(&mut self, owner: u32) -> usize {
        let ids: Vec<u32> = self.slots().filter(|(_, s)| s.owner == owner).map(|(id, _)| id).collect();
        let tracking = std::mem::replace(&mut self.tracking, false);
        for &id in &ids {
            self.remove(id);
        }
        self.tracking = tracking;
        self.removed.retain(|(_, o)| *o != owner);
        ids.len()
    }

    /// Removes and returns the timers due at `watermark`, up to `max`, earliest first and, at
    /// the same time, by key: the order is the keys', not the slots' (which differ after a
    /// restore), so a restored engine emits in the order the uninterrupted one does.
    pub fn take_due(&mut self, watermark: i64, max: usize) -> Vec<(i64, u32)> {
        let mut due = Vec::new();
        while due.len() < max {
            match self.timers.peek() {
                Some(&Reverse((t, id))) if t <= watermark => {
                    self.timers.pop();
                    if self.is_live(t, id) {
                        self.slot_mut(id).timer = None;
                        self.live_timers -= 1;
                        due.push((t, id));
                    }
                }
                _ => break,
            }
        }
        due.sort_unstable_by(|a, b| a.0.cmp(&b.0).then_with(|| self.slot(a.1).key.cmp(&self.slot(b.1).key)));
        due
    }

    /// Whether a live timer is due at `watermark` (stale entries at the top are dropped).
    pub fn has_due(&mut self, watermark: i64) -> bool {
        while let Some(&Reverse((t, id))) = self.timers.peek() {
            if t > watermark {
                return false;
            }
            if self.is_live(t, id) {
                return true;
            }
            self.timers.pop();
        }
        false
    }

    /// Every live slot, in slot order.
    pub fn iter(&self) -> impl Iterator<Item = &Slot> {
        self.slots.iter().flatten()
    }

    /// Every live slot with its id, in slot order.
    pub fn slots(&self) -> impl Iterator<Item = (u32, &Slot)> {
        self.slots.iter().enumerate().filter_map(|(id, s)| Some((id as u32, s.as_ref()?)))
    }

    /// How many keys hold a slot.
    pub fn keys(&self) -> usize {
        self.index.len()
    }

    /// Total state bytes over all slots.
    pub fn state_bytes(&self) -> usize {
        self.state_bytes
    }

    /// How many slots have a timer set.
    pub fn timers(&self) -> usize {
        self.live_timers
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_reused_and_timers_fire_in_order() {
        let mut s = KeyedState::default();
        let a = s.get_or_insert("a", 0, 0);
        let b = s.get_or_insert("b", 0, 0);
        s.set_state(a, b"xyz");
        s.set_timer(a, Some(20));
        s.set_timer(b, Some(10));
        assert_eq!(s.state_bytes(), 3);
        assert_eq!(s.take_due(15, 100), vec![(10, b)]);
        assert_eq!(s.take_due(25, 100), vec![(20, a)]);
        s.remove(a);
        assert_eq!((s.keys(), s.state_bytes()), (1, 0));
        let c = s.get_or_insert("c", 0, 0);
        assert_eq!(c, a, "freed slot is reused");
        assert_eq!(s.get("a"), None);
    }

    #[test]
    fn tracked_changes_name_each_changed_key_once_and_a_revoked_owner_leaves_no_trace() {
        let mut s = KeyedState::default();
        s.set_tracking(true);
        let a = s.get_or_insert("a", 0, 1);
        let b = s.get_or_insert("b", 0, 2);
        let c = s.get_or_insert("c", 0, 1);
        s.set_state(a, b"1");
        s.touch(a);
        s.touch(a);
        s.touch(b);
        s.touch(c);
        s.remove(c);
        let mut seen = Vec::new();
        let take = |s: &mut KeyedState| {
            let mut out = Vec::new();
            s.take_changes(|c| {
                out.push(match c {
                    Change::Put(slot) => format!("put {} {}", slot.key, slot.owner),
                    Change::Removed { key, owner } => format!("del {key} {owner}"),
                })
            });
            out
        };
        seen.extend(take(&mut s));
        assert_eq!(seen, ["del c 1", "put a 1", "put b 2"]);
        assert!(take(&mut s).is_empty(), "taken changes are forgotten");
        s.touch(b);
        assert_eq!(s.drop_owner(2), 1);
        assert!(take(&mut s).is_empty(), "a dropped partition's keys are not changes");
        assert_eq!((s.keys(), s.get("a").is_some()), (1, true));
    }

    #[test]
    fn resetting_a_timer_replaces_it() {
        let mut s = KeyedState::default();
        let a = s.get_or_insert("a", 0, 0);
        s.set_timer(a, Some(5));
        s.set_timer(a, Some(50));
        assert_eq!(s.take_due(10, 10), vec![]);
        assert_eq!(s.timers(), 1);
        assert_eq!(s.take_due(50, 10), vec![(50, a)]);
        assert_eq!(s.timers(), 0);
    }

    #[test]
    fn a_freed_and_reused_slot_does_not_inherit_a_stale_timer() {
        let mut s = KeyedState::default();
        let a = s.get_or_insert("a", 0, 0);
        s.set_timer(a, Some(5));
        s.remove(a);
        let b = s.get_or_insert("b", 0, 0);
        assert_eq!(b, a);
        s.set_timer(b, Some(9));
        assert_eq!(s.take_due(100, 10), vec![(9, b)]);
    }

    #[test]
    fn the_heap_stays_bounded_when_timers_move_on_every_event() {
        let mut s = KeyedState::default();
        let a = s.get_or_insert("a", 0, 0);
        for t in 0..100_000 {
            s.set_timer(a, Some(t));
        }
        assert!(s.timers.len() <= 2 + STALE_SLACK, "{}", s.timers.len());
        assert_eq!(s.take_due(i64::MAX, 10), vec![(99_999, a)]);
    }
}
