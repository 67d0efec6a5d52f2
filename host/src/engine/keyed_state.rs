//! Per-key state of one operator: the state bytes the plugin returned, the key's as-of time, and
//! its timer, with timers ordered by (deadline, slot) beside the data.

use rustc_hash::FxHashMap;
use std::collections::BTreeSet;

/// One key's slot.
#[derive(Debug)]
pub struct Slot {
    pub key: Box<str>,
    pub state: Vec<u8>,
    /// The key's as-of time A; never goes backwards.
    pub as_of: i64,
    pub timer: Option<i64>,
}

/// Slots addressed by key, reused through a free list, and the timer queue.
#[derive(Debug, Default)]
pub struct KeyedState {
    slots: Vec<Option<Slot>>,
    free: Vec<u32>,
    index: FxHashMap<Box<str>, u32>,
    timers: BTreeSet<(i64, u32)>,
    state_bytes: usize,
}

impl KeyedState {
    pub fn get(&self, key: &str) -> Option<u32> {
        self.index.get(key).copied()
    }

    /// The slot of `key`, created (empty, as of `as_of`) when absent.
    pub fn get_or_insert(&mut self, key: &str, as_of: i64) -> u32 {
        if let Some(id) = self.index.get(key) {
            return *id;
        }
        let slot = Slot { key: key.into(), state: Vec::new(), as_of, timer: None };
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

    pub fn slot(&self, id: u32) -> &Slot {
        self.slots[id as usize].as_ref().expect("live slot")
    }

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
        if let Some(old) = slot.timer.take() {
            self.timers.remove(&(old, id));
        }
        if let Some(t) = timer {
            self.timers.insert((t, id));
        }
        slot.timer = timer;
    }

    /// Frees a slot: the key holds nothing any more.
    pub fn remove(&mut self, id: u32) {
        self.set_timer(id, None);
        if let Some(slot) = self.slots[id as usize].take() {
            self.state_bytes -= slot.state.len();
            self.index.remove(&slot.key);
            self.free.push(id);
        }
    }

    /// Removes and returns the timers due at `watermark`, earliest first, up to `max`.
    pub fn take_due(&mut self, watermark: i64, max: usize) -> Vec<(i64, u32)> {
        let mut due = Vec::new();
        while due.len() < max {
            match self.timers.first() {
                Some(&(t, id)) if t <= watermark => {
                    self.timers.pop_first();
                    self.slot_mut(id).timer = None;
                    due.push((t, id));
                }
                _ => break,
            }
        }
        due
    }

    pub fn next_timer(&self) -> Option<i64> {
        self.timers.first().map(|(t, _)| *t)
    }

    pub fn keys(&self) -> usize {
        self.index.len()
    }

    pub fn state_bytes(&self) -> usize {
        self.state_bytes
    }

    pub fn timers(&self) -> usize {
        self.timers.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_reused_and_timers_fire_in_order() {
        let mut s = KeyedState::default();
        let a = s.get_or_insert("a", 0);
        let b = s.get_or_insert("b", 0);
        s.set_state(a, b"xyz");
        s.set_timer(a, Some(20));
        s.set_timer(b, Some(10));
        assert_eq!(s.state_bytes(), 3);
        assert_eq!(s.take_due(15, 100), vec![(10, b)]);
        assert_eq!(s.take_due(25, 100), vec![(20, a)]);
        s.remove(a);
        assert_eq!((s.keys(), s.state_bytes()), (1, 0));
        let c = s.get_or_insert("c", 0);
        assert_eq!(c, a, "freed slot is reused");
        assert_eq!(s.get("a"), None);
    }

    #[test]
    fn resetting_a_timer_replaces_it() {
        let mut s = KeyedState::default();
        let a = s.get_or_insert("a", 0);
        s.set_timer(a, Some(5));
        s.set_timer(a, Some(50));
        assert_eq!(s.take_due(10, 10), vec![]);
        assert_eq!(s.timers(), 1);
    }
}
