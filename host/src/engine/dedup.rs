//! Dedup by event id within a horizon of event time (FEATURES.md §1), one memory per source
//! partition ([`PartitionDedup`]) so that a revoked partition's ids leave with it.

use rustc_hash::FxHashSet;
use std::collections::BTreeMap;

/// Shards of the id set. Growing a hash set rehashes all of it at once: with one set of a few
/// million ids that stalled a step for 200–400 ms (`bench-swap` showed it). A shard holds about
/// 1/64 of the ids, so one growth costs 1/64 as much; evenly filled shards reach their growth
/// points at about the same total, so a step of many thousands of new ids may still grow
/// several, but steps of a thousand or so (as `run` makes) spread the growths over many steps.
const SHARDS: usize = 64;
/// Event-time width of one bucket of the expiry index, in ms.
const BUCKET_MS: i64 = 1_000;

/// Remembers event ids for `horizon_ms` of event time behind the watermark.
#[derive(Debug)]
pub struct Dedup {
    horizon_ms: i64,
    shards: Vec<FxHashSet<u128>>,
    /// The expiry index: (event time, id) by second of event time, in arrival order within a
    /// second. Ids expire by their own time, so one id stamped far ahead holds back nothing
    /// but itself.
    by_time: BTreeMap<i64, Vec<(i64, u128)>>,
    len: usize,
}

/// The shard of an id: the top bits of a multiplicative hash of its two halves.
fn shard_of(id: u128) -> usize {
    let folded = (id as u64) ^ ((id >> 64) as u64);
    (folded.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (64 - SHARDS.trailing_zeros())) as usize
}

/// A compact id: the UUID's 128 bits when the id is a UUID, else a 128-bit hash of it.
pub fn compact_id(id: &str) -> u128 {
    parse_uuid(id).unwrap_or_else(|| hashed_id(id.bytes()))
}

/// A 128-bit hash of an id's bytes: two 64-bit FNV-1a passes with different seeds; a collision
/// is astronomically unlikely.
pub fn hashed_id(bytes: impl Iterator<Item = u8> + Clone) -> u128 {
    let fnv = |seed: u64| bytes.clone().fold(seed, |h, b| (h ^ b as u64).wrapping_mul(0x0100_0000_01b3));
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
    /// An empty memory keeping ids for `horizon_ms` of event time.
    pub fn new(horizon_ms: u64) -> Self {
        Dedup {
            horizon_ms: horizon_ms as i64,
            shards: (0..SHARDS).map(|_| FxHashSet::default()).collect(),
            by_time: BTreeMap::new(),
            len: 0,
        }
    }

    /// Records `id`; false when it was already seen within the horizon.
    pub fn first_time(&mut self, id: &str, event_time: i64) -> bool {
        self.remember(event_time, compact_id(id))
    }

    /// Records a compact id (see [`compact_id`]); false when it was already seen within the horizon.
    pub fn remember(&mut self, event_time: i64, id: u128) -> bool {
        if !self.shards[shard_of(id)].insert(id) {
            return false;
        }
        self.by_time.entry(event_time.div_euclid(BUCKET_MS)).or_default().push((event_time, id));
        self.len += 1;
        true
    }

    /// Forgets ids whose event time is older than the horizon behind `watermark`: whole seconds
    /// at once, and in the second the limit falls in, those that arrived first while they are
    /// older than it.
    pub fn expire(&mut self, watermark: i64) {
        let limit = watermark.saturating_sub(self.horizon_ms);
        while let Some(mut bucket) = self.by_time.first_entry() {
            let whole = (*bucket.key() + 1).saturating_mul(BUCKET_MS) <= limit;
            let ids = bucket.get_mut();
            let gone = if whole { ids.len() } else { ids.iter().take_while(|(t, _)| *t < limit).count() };
            for (_, id) in ids.drain(..gone) {
                self.shards[shard_of(id)].remove(&id);
            }
            self.len -= gone;
            if !ids.is_empty() {
                break;
            }
            bucket.remove();
        }
    }

    /// (event time, compact id) of every remembered id, by second of event time, in arrival
    /// order within a second.
    pub fn entries(&self) -> impl Iterator<Item = (i64, u128)> + '_ {
        self.by_time.values().flatten().copied()
    }

    /// Remembers a compact id restored from a checkpoint.
    pub fn restore(&mut self, event_time: i64, id: u128) {
        self.remember(event_time, id);
    }

    /// How many ids are remembered.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when no id is remembered.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// The dedup memories of every partition feeding one engine.
#[derive(Debug)]
pub struct PartitionDedup {
    horizon_ms: u64,
    parts: BTreeMap<u32, Dedup>,
}

impl PartitionDedup {
    /// Empty memories keeping ids for `horizon_ms` of event time.
    pub fn new(horizon_ms: u64) -> Self {
        PartitionDedup { horizon_ms, parts: BTreeMap::new() }
    }

    fn part(&mut self, partition: u32) -> &mut Dedup {
        let horizon = self.horizon_ms;
        self.parts.entry(partition).or_insert_with(|| Dedup::new(horizon))
    }

    /// Records `id` of an event of `partition`: its compact id the first time, None when it was
    /// already seen within the horizon.
    pub fn first_time(&mut self, partition: u32, id: &str, event_time: i64) -> Option<u128> {
        self.first_time_compact(partition, compact_id(id), event_time)
    }

    /// Like [`first_time`](Self::first_time), for an id already compact (see [`compact_id`]).
    pub fn first_time_compact(&mut self, partition: u32, id: u128, event_time: i64) -> Option<u128> {
        self.part(partition).remember(event_time, id).then_some(id)
    }

    /// Remembers a compact id of `partition` restored from a checkpoint or a changelog.
    pub fn restore(&mut self, partition: u32, event_time: i64, id: u128) {
        self.part(partition).remember(event_time, id);
    }

    /// Forgets, in every partition, ids older than the horizon behind the partition's
    /// `watermark` (that of its lane).
    pub fn expire(&mut self, watermark: impl Fn(u32) -> i64) {
        for (partition, d) in self.parts.iter_mut() {
            d.expire(watermark(*partition));
        }
    }

    /// Forgets a revoked partition's ids; returns how many there were.
    pub fn drop_partition(&mut self, partition: u32) -> usize {
        self.parts.remove(&partition).map_or(0, |d| d.len())
    }

    /// (event time, compact id) of every remembered id, partition by partition, by second of event time.
    pub fn entries(&self) -> impl Iterator<Item = (i64, u128)> + '_ {
        self.parts.values().flat_map(Dedup::entries)
    }

    /// How many ids are remembered over all partitions.
    pub fn len(&self) -> usize {
        self.parts.values().map(Dedup::len).sum()
    }

    /// True when no id is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
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
    fn many_ids_across_seconds_and_shards_are_kept_in_order_and_expire_by_time() {
        let mut d = Dedup::new(1_000);
        let n = 200_017;
        for i in 0..n {
            assert!(d.first_time(&format!("id-{i}"), i));
        }
        assert!(!d.first_time("id-5", 5));
        assert_eq!(d.len(), n as usize);
        assert!(d.entries().map(|(t, _)| t).eq(0..n), "time order");
        let busiest = d.shards.iter().map(|s| s.len()).max().unwrap();
        assert!(busiest < 2 * n as usize / SHARDS, "ids spread over the shards: {busiest}");
        d.expire(n - 10 + 1_000);
        assert_eq!(d.len(), 10);
        assert!(d.first_time("id-0", 0), "forgotten");
        assert!(!d.first_time(&format!("id-{}", n - 1), n - 1), "still remembered");
    }

    #[test]
    fn an_id_stamped_far_ahead_holds_back_no_other_ids_expiry() {
        let mut d = Dedup::new(1_000);
        assert!(d.first_time("from-the-future", 253_402_300_799_000));
        for i in 0..100 {
            assert!(d.first_time(&format!("id-{i}"), i * 100));
        }
        d.expire(5_000 + 1_000);
        assert_eq!(d.len(), 51, "ids before 5 000 ms expired behind the one from the future");
        assert!(d.first_time("id-0", 0), "forgotten");
        assert!(!d.first_time("id-50", 5_000), "still remembered");
        assert!(
            !d.first_time("from-the-future", 253_402_300_799_000),
            "remembered until its own time passes"
        );
    }

    #[test]
    fn ids_arriving_out_of_time_order_expire_by_their_own_times() {
        let mut d = Dedup::new(0);
        for t in [5_500, 1_200, 5_100, 900, 1_800] {
            assert!(d.first_time(&format!("at-{t}"), t));
        }
        d.expire(5_200);
        let left: Vec<i64> = d.entries().map(|(t, _)| t).collect();
        // Within the second the limit falls in, 5 100 waits for 5 500, which arrived first.
        assert_eq!(left, [5_500, 5_100]);
    }

    #[test]
    fn partitions_remember_apart_and_a_dropped_one_forgets() {
        let mut d = PartitionDedup::new(1_000);
        assert!(d.first_time(0, "x", 0).is_some());
        assert!(d.first_time(0, "x", 0).is_none());
        assert!(d.first_time(1, "x", 0).is_some(), "another partition's memory");
        assert_eq!(d.drop_partition(0), 1);
        assert!(d.first_time(0, "x", 0).is_some(), "forgotten with its partition");
        assert_eq!(d.len(), 2);
    }

    #[test]
    fn uuids_compact_to_their_bits() {
        assert_eq!(compact_id("00000000-0000-0000-0000-0000000000ff"), 255);
        assert_ne!(compact_id("a"), compact_id("b"));
    }
}
