//! Dedup by event id within a horizon of event time (FEATURES.md §1).

use rustc_hash::FxHashSet;
use std::collections::VecDeque;

/// Remembers event ids for `horizon_ms` of event time behind the watermark.
#[derive(Debug)]
pub struct Dedup {
    horizon_ms: i64,
    seen: FxHashSet<u128>,
    order: VecDeque<(i64, u128)>,
}

/// A compact id: the UUID's 128 bits when the id is a UUID, else a 128-bit hash of it.
pub fn compact_id(id: &str) -> u128 {
    if let Some(v) = parse_uuid(id) {
        return v;
    }
    // Two 64-bit FNV-1a passes with different seeds; a collision is astronomically unlikely.
    let fnv = |seed: u64| id.bytes().fold(seed, |h, b| (h ^ b as u64).wrapping_mul(0x0100_0000_01b3));
    ((fnv(0xcbf2_9ce4_8422_2325) as u128) << 64) | fnv(0x8422_2325_cbf2_9ce4) as u128
}

/// The 128 bits of a canonical `8-4-4-4-12` hex UUID.
fn parse_uuid(id: &str) -> Option<u128> {
    let bytes = id.as_bytes();
    if bytes.len() != 36 {
        return None;
    }
    let mut v: u128 = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if matches!(i, 8 | 13 | 18 | 23) {
            if b != b'-' {
                return None;
            }
            continue;
        }
        v = (v << 4) | (b as char).to_digit(16)? as u128;
    }
    Some(v)
}

impl Dedup {
    pub fn new(horizon_ms: u64) -> Self {
        Dedup { horizon_ms: horizon_ms as i64, seen: FxHashSet::default(), order: VecDeque::new() }
    }

    /// Records `id`; false when it was already seen within the horizon.
    pub fn first_time(&mut self, id: &str, event_time: i64) -> bool {
        let id = compact_id(id);
        if !self.seen.insert(id) {
            return false;
        }
        self.order.push_back((event_time, id));
        true
    }

    /// Forgets ids whose event time is older than the horizon behind `watermark`.
    pub fn expire(&mut self, watermark: i64) {
        let limit = watermark.saturating_sub(self.horizon_ms);
        while let Some(&(t, id)) = self.order.front() {
            if t >= limit {
                break;
            }
            self.order.pop_front();
            self.seen.remove(&id);
        }
    }

    /// (event time, compact id) of every remembered id, oldest first.
    pub fn entries(&self) -> impl Iterator<Item = (i64, u128)> + '_ {
        self.order.iter().copied()
    }

    /// Remembers a compact id restored from a checkpoint.
    pub fn restore(&mut self, event_time: i64, id: u128) {
        if self.seen.insert(id) {
            self.order.push_back((event_time, id));
        }
    }

    pub fn len(&self) -> usize {
        self.seen.len()
    }

    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeated_id_is_caught_until_it_ages_out() {
        let mut d = Dedup::new(1_000);
        assert!(d.first_time("b0dd2164-7081-4fd0-af3d-b87a202ca706", 0));
        assert!(!d.first_time("b0dd2164-7081-4fd0-af3d-b87a202ca706", 5));
        assert!(d.first_time("not-a-uuid", 0));
        assert!(!d.first_time("not-a-uuid", 0));
        d.expire(2_000);
        assert!(d.is_empty());
        assert!(d.first_time("not-a-uuid", 2_000));
    }

    #[test]
    fn uuids_compact_to_their_bits() {
        assert_eq!(compact_id("00000000-0000-0000-0000-0000000000ff"), 255);
        assert_ne!(compact_id("a"), compact_id("b"));
    }
}
