//! The changelog against the engine with the native plugins: a restart restores every partition
//! and continues exactly like the uninterrupted engine; a partition handed to another engine
//! midway ends with the same features; a step cut short is left out whole.

use super::*;
use crate::engine::emission::{Emission, EmissionSink, Signal};
use crate::engine::{EngineConfig, Operator};
use crate::model::Event;
use crate::plugin::native;
use crate::sink::PendingWrites;
use crate::source::generator::{Generator, GeneratorConfig};

/// Every emission and signal as a line, to compare runs. Within a step, keys are called in the
/// order of their slots, which a restore allocates by key rather than by arrival: each step's
/// lines are sorted ([`Lines::end_step`]) so runs compare by what each step emitted.
#[derive(Default)]
struct Lines(Vec<String>, usize);

impl Lines {
    fn end_step(&mut self) {
        self.0[self.1..].sort();
        self.1 = self.0.len();
    }
}

impl EmissionSink for Lines {
    fn emit(&mut self, e: &Emission<'_>) {
        let fields = crate::sink::hash::fields(e);
        self.0.push(format!("{} {} {} {fields:?}", e.plugin, crate::sink::hash::key(e), e.as_of));
    }

    fn signal(&mut self, s: &Signal<'_>) {
        let mut line = String::new();
        crate::signals::format_signal(s, &mut line);
        self.0.push(line);
    }
}

fn engine() -> Engine {
    engine_of(|_| true)
}

/// An engine of the native plugins `keep` selects, tracking changes.
fn engine_of(keep: impl Fn(&live_shopper_abi::Descriptor) -> bool) -> Engine {
    let ops = native::default_set()
        .into_iter()
        .filter(|o| keep(o.descriptor()))
        .map(|o| Box::new(o) as Box<dyn Operator>)
        .collect();
    let mut engine = Engine::new(EngineConfig::default(), ops);
    engine.track_changes();
    engine
}

/// The partition of a shopper's events, as a Snowplow topic keyed by shopper would have it.
fn partition_of(e: &Event) -> u32 {
    e.shopper_id.bytes().map(u32::from).sum::<u32>() % 2
}

/// A host of the test: an engine, its changelog bookkeeping and the input positions.
struct TestHost {
    engine: Engine,
    changelog: Changelog,
    positions: BTreeMap<u32, i64>,
    ticket: u64,
}

impl TestHost {
    fn new() -> Self {
        Self::with(engine())
    }

    fn with(engine: Engine) -> Self {
        TestHost { engine, changelog: Changelog::new(24 * 3_600_000), positions: BTreeMap::new(), ticket: 0 }
    }

    /// Takes ownership of `partition`, restoring it from `log`; returns where its input resumes.
    fn assign(&mut self, partition: u32, log: &[ChangelogRecord]) -> i64 {
        let mut restorer = Restorer::new("t");
        for r in log.iter().filter(|r| r.partition == partition) {
            restorer.apply(&r.key, r.value.as_deref()).unwrap();
        }
        let restored = restorer.finish();
        self.engine.restore_partition(partition, restored.state.clone()).unwrap();
        self.changelog.open_partition(partition, "t", &restored);
        let next = restored.position.map_or(0, |p| p.next_offset);
        self.positions.insert(partition, next);
        next
    }

    /// One step of `events` (offset, event) per partition; its records go to `log` at once (the
    /// store acknowledges every step here).
    fn step(
        &mut self,
        parts: &[(u32, Vec<(i64, Event)>)],
        sink: &mut dyn EmissionSink,
        log: &mut Vec<ChangelogRecord>,
    ) {
        let events: Vec<(u32, Vec<Event>)> =
            parts.iter().map(|(p, es)| (*p, es.iter().map(|(_, e)| e.clone()).collect())).collect();
        let slices: Vec<(u32, &[Event])> = events.iter().map(|(p, es)| (*p, es.as_slice())).collect();
        self.engine.process_partitions(&slices, sink);
        for (p, es) in parts {
            if let Some((offset, _)) = es.last() {
                self.positions.insert(*p, offset + 1);
            }
        }
        self.changelog.record_step(self.ticket, &mut self.engine, &self.positions);
        self.ticket += 1;
        log.extend(self.changelog.take_durable(self.ticket));
    }
}

/// One step's events, (offset, event) per partition.
type Step = Vec<(u32, Vec<(i64, Event)>)>;

/// Generated events with their offsets in their partition, in steps of about `step` events.
fn steps(events: &[Event], first_offsets: [i64; 2], step: usize) -> Vec<Step> {
    let mut offsets = first_offsets;
    events
        .chunks(step)
        .map(|chunk| {
            let mut parts: Vec<(u32, Vec<(i64, Event)>)> = vec![(0, Vec::new()), (1, Vec::new())];
            for e in chunk {
                let p = partition_of(e) as usize;
                parts[p].1.push((offsets[p], e.clone()));
                offsets[p] += 1;
            }
            parts.retain(|(_, es)| !es.is_empty());
            parts
        })
        .collect()
}

fn generated(events: u64, seed: u64) -> Vec<Event> {
    let config = GeneratorConfig { shoppers: 300, events, seed, start_ms: 1_742_000_000_000 };
    Generator::new(config).collect()
}

#[test]
fn a_restart_from_the_changelog_continues_exactly_like_the_uninterrupted_engine() {
    let events = generated(8_000, 3);
    let all = steps(&events, [0, 0], 100);
    let (first, rest) = all.split_at(40);

    let mut whole = TestHost::new();
    whole.assign(0, &[]);
    whole.assign(1, &[]);
    let (mut log, mut expected) = (Vec::new(), Lines::default());
    for s in first {
        whole.step(s, &mut Lines::default(), &mut log);
    }
    for s in rest {
        whole.step(s, &mut expected, &mut Vec::new());
        expected.end_step();
    }
    whole.engine.finish(&mut expected);
    expected.end_step();

    // A new host (empty disk) reads the changelog and resumes each partition where it says.
    let mut restored = TestHost::new();
    let resume = [restored.assign(0, &log), restored.assign(1, &log)];
    assert_eq!(resume, [whole_offsets(first, 0), whole_offsets(first, 1)]);
    let mut got = Lines::default();
    for s in rest {
        restored.step(s, &mut got, &mut Vec::new());
        got.end_step();
    }
    restored.engine.finish(&mut got);
    got.end_step();
    assert!(expected.0.len() > 1_000, "{}", expected.0.len());
    let first_difference = got.0.iter().zip(&expected.0).position(|(a, b)| a != b);
    assert_eq!(
        (got.0.len(), first_difference.map(|i| (&got.0[i], &expected.0[i]))),
        (expected.0.len(), None),
        "(lines, first difference: restored vs uninterrupted)"
    );
    let (a, b) = (whole.engine.reports(), restored.engine.reports());
    for (a, b) in a.iter().zip(&b) {
        assert_eq!(
            (a.keys, a.state_bytes, a.timers),
            (b.keys, b.state_bytes, b.timers),
            "{}",
            a.descriptor.name
        );
    }
}

/// The next offset of `partition` after `steps`.
fn whole_offsets(steps: &[Step], partition: u32) -> i64 {
    steps
        .iter()
        .flatten()
        .filter(|(p, _)| *p == partition)
        .filter_map(|(_, es)| es.last().map(|(o, _)| o + 1))
        .max()
        .unwrap_or(0)
}

/// Plugins whose keys line up with a shopper-keyed input partition (shopper and session keys);
/// product-keyed ones need the repartition topic to be split over hosts (docs/ARCHITECTURE.md).
fn partition_aligned() -> Engine {
    use live_shopper_abi::KeyKind;
    engine_of(|d| matches!(d.key, KeyKind::Shopper | KeyKind::Session))
}

#[test]
fn a_partition_handed_to_another_host_ends_with_the_features_of_one_host() {
    let events = generated(8_000, 9);
    let all = steps(&events, [0, 0], 100);
    let mut one = TestHost::with(partition_aligned());
    one.assign(0, &[]);
    one.assign(1, &[]);
    let mut expected = PendingWrites::default();
    for s in &all {
        one.step(s, &mut expected, &mut Vec::new());
    }
    one.engine.advance_watermark(i64::MAX / 2, &mut expected);

    // Host A owns both; halfway partition 1 goes to host B, which restores it from the changelog.
    let (first, rest) = all.split_at(40);
    let (mut a, mut b) = (TestHost::with(partition_aligned()), TestHost::with(partition_aligned()));
    a.assign(0, &[]);
    a.assign(1, &[]);
    let (mut log, mut got) = (Vec::new(), PendingWrites::default());
    for s in first {
        a.step(s, &mut got, &mut log);
    }
    let dropped = a.engine.drop_partition(1);
    a.changelog.close_partition(1);
    assert!(dropped.keys > 0 && dropped.dedup_ids > 0, "{dropped:?}");
    b.assign(1, &log);
    for s in rest {
        let (on_a, on_b): (Vec<_>, Vec<_>) = s.iter().cloned().partition(|(p, _)| *p == 0);
        a.step(&on_a, &mut got, &mut log);
        b.step(&on_b, &mut got, &mut log);
    }
    a.engine.advance_watermark(i64::MAX / 2, &mut got);
    b.engine.advance_watermark(i64::MAX / 2, &mut got);
    assert!(expected.hashes.len() > 500, "{}", expected.hashes.len());
    let differing: Vec<_> = expected
        .hashes
        .iter()
        .filter(|(k, h)| got.hashes.get(*k) != Some(h))
        .map(|(k, _)| k)
        .take(3)
        .collect();
    assert!(differing.is_empty(), "hashes differ after the hand-over: {differing:?}");
    assert_eq!(got.hashes.len(), expected.hashes.len());
}

#[test]
fn a_step_cut_short_is_left_out_whole_and_tombstones_remove_keys() {
    let mut log = Vec::new();
    let mut host = TestHost::new();
    host.assign(0, &[]);
    let events = generated(400, 4);
    let parts: Vec<(u32, Vec<(i64, Event)>)> =
        vec![(0, events.iter().enumerate().map(|(i, e)| (i as i64, e.clone())).collect())];
    host.step(&parts, &mut Lines::default(), &mut log);
    let complete = log.len();
    assert!(complete > 10, "{complete}");

    // A second step whose position record never arrived: only its state records made it.
    let (mut key, mut value) = (Vec::new(), Vec::new());
    format::write_key("t", &RecordKey::State { plugin: "cart", key: "ghost" }, &mut key);
    let v =
        crate::engine::partitions::KeyValue { schema: 1, key_kind: 0, as_of: 1, timer: None, state: b"x" };
    format::write_state(&v, &mut value);
    log.push(ChangelogRecord { partition: 0, key: key.clone(), value: Some(value.clone()) });
    // Another topic's records in the same changelog partition are not this partition's.
    format::write_key("other", &RecordKey::Position, &mut key);
    log.push(ChangelogRecord { partition: 0, key: key.clone(), value: Some(vec![1, 2, 3]) });

    let mut restorer = Restorer::new("t");
    for r in &log {
        restorer.apply(&r.key, r.value.as_deref()).unwrap();
    }
    let restored = restorer.finish();
    assert_eq!(restored.incomplete, 1);

    // A new owner takes over and writes a step of its own: the dead owner's cut step stays out.
    let mut next = Changelog::new(86_400_000);
    next.open_partition(0, "t", &restored);
    let mut later = log.clone();
    later.extend(next.take_durable(1));
    later.push(log[complete - 1].clone());
    let mut restorer = Restorer::new("t");
    for r in &later {
        restorer.apply(&r.key, r.value.as_deref()).unwrap();
    }
    let again = restorer.finish();
    assert_eq!(again.incomplete, 1, "the takeover closed the cut step for good");
    assert!(again.state.keys.values().all(|keys| !keys.contains_key("ghost")));
    assert_eq!(restored.position.map(|p| p.next_offset), Some(400));
    assert!(restored.state.keys.values().all(|keys| !keys.contains_key("ghost")));
    let keys: usize = restored.state.keys.values().map(BTreeMap::len).sum();
    let live: usize = host.engine.reports().iter().map(|r| r.keys).sum();
    assert_eq!(keys, live, "the changelog holds exactly the live keys (cleared ones tombstoned)");
    assert_eq!(restored.state.dedup.len(), 400);
}
