//! State migration across a schema change, with real components: `counter-v1` keeps its count
//! as 8 little-endian bytes (schema 1); `counter-v2` keeps it as decimal text (schema 2) and
//! exports a migration from schema 1; `counter-v2-no-migration` is the same without it. Both
//! a hot reload and a restart from a checkpoint are covered.

use crate::common::guest_wasm;
use live_shopper::engine::lifecycle::Installed;
use live_shopper::engine::{Engine, EngineConfig, Operator};
use live_shopper::model::{Event, EventKind};
use live_shopper::plugin::{PluginPolicy, PluginRuntime};
use live_shopper::sink::EmissionLog;

const T0: i64 = 1_750_000_000_000;

fn counter(version: &str) -> Box<dyn Operator> {
    let runtime = PluginRuntime::new().unwrap();
    Box::new(runtime.load(version, &guest_wasm(version), &PluginPolicy::default()).unwrap())
}

/// `n` page views from each of `shoppers` shoppers, starting at event number `from`.
fn views(from: usize, n: usize, shoppers: usize) -> Vec<Event> {
    (from..from + n * shoppers)
        .map(|i| Event {
            event_id: format!("e{i}"),
            event_time: T0 + i as i64,
            kind: EventKind::PageView,
            shopper_id: format!("shopper-{}", i % shoppers),
            ..Event::default()
        })
        .collect()
}

/// The engine's last emission for `shopper`: (events_seen, schema).
fn last_count(engine: &mut Engine, events: &[Event], shopper: &str) -> (String, String) {
    let mut log = EmissionLog::new(Vec::new());
    engine.process(events, &mut log);
    let text = String::from_utf8(log.into_inner().unwrap()).unwrap();
    let line = text
        .lines()
        .rev()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|l| l["key"] == format!("test:{shopper}:counter"))
        .expect("an emission for the shopper");
    (
        line["fields"]["events_seen"].as_str().unwrap().into(),
        line["fields"]["schema"].as_str().unwrap().into(),
    )
}

/// An engine running counter-v1 after 3 events from each of 2 000 shoppers.
fn v1_engine() -> Engine {
    let mut engine = Engine::new(EngineConfig::default(), vec![counter("counter-v1")]);
    assert_eq!(last_count(&mut engine, &views(0, 3, 2_000), "shopper-7"), ("3".into(), "1".into()));
    assert_eq!(engine.state_of("counter", "shopper-7").unwrap(), 3u64.to_le_bytes());
    engine
}

#[test]
fn a_reload_with_a_bumped_schema_and_a_migration_converts_every_keys_state() {
    let mut engine = v1_engine();
    let installed = engine.install(counter("counter-v2")).unwrap();
    assert_eq!(installed, Installed::StateMigrated { keys: 2_000, from_schema: 1, to_schema: 2 });
    assert_eq!(engine.state_of("counter", "shopper-7").unwrap(), b"3", "converted at the swap");
    assert_eq!(engine.state_of("counter", "shopper-1999").unwrap(), b"3");
    let next = views(6_000, 1, 2_000);
    assert_eq!(last_count(&mut engine, &next, "shopper-7"), ("4".into(), "2".into()), "counting goes on");
}

#[test]
fn a_reload_with_a_bumped_schema_and_no_migration_drops_the_state_and_says_why() {
    let mut engine = v1_engine();
    let installed = engine.install(counter("counter-v2-no-migration")).unwrap();
    let Installed::StateDropped { keys, reason } = installed else { panic!("{installed:?}") };
    assert_eq!(keys, 2_000);
    assert!(reason.contains("state schema 1 → 2") && reason.contains("no migration"), "{reason}");
    assert!(engine.state_of("counter", "shopper-7").is_none());
    let next = views(6_000, 1, 2_000);
    assert_eq!(last_count(&mut engine, &next, "shopper-7"), ("1".into(), "2".into()), "counting starts over");
}

#[test]
fn a_restart_under_a_new_schema_migrates_the_checkpointed_state_or_drops_it_without_a_migration() {
    let mut snapshot = Vec::new();
    v1_engine().snapshot(&mut snapshot);

    let mut migrated = Engine::new(EngineConfig::default(), vec![counter("counter-v2")]);
    let report = migrated.restore(&snapshot).unwrap();
    assert_eq!(report.restored, [("counter".to_string(), 2_000)]);
    assert_eq!(report.migrated, [("counter".to_string(), 1)]);
    assert!(report.dropped.is_empty(), "{report:?}");
    assert_eq!(migrated.state_of("counter", "shopper-7").unwrap(), b"3");
    assert_eq!(last_count(&mut migrated, &views(6_000, 1, 2_000), "shopper-7"), ("4".into(), "2".into()));

    let mut dropped = Engine::new(EngineConfig::default(), vec![counter("counter-v2-no-migration")]);
    let report = dropped.restore(&snapshot).unwrap();
    assert!(report.restored.is_empty(), "{report:?}");
    assert!(report.dropped[0].1.contains("no migration"), "{report:?}");
    assert_eq!(last_count(&mut dropped, &views(6_000, 1, 2_000), "shopper-7"), ("1".into(), "2".into()));
}
