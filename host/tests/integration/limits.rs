//! Limits and isolation: a plugin that loops forever, one that allocates without bound, one that
//! traps, one whose output is too big and one whose state is over the quota each fail alone —
//! dead-lettered, quarantined after N failures, the host running on and the other plugins'
//! outputs unchanged. Also: what a plugin can see of its host, and how bad plugins are refused.

use crate::common::{guest_wasm, replay_text, test_data};
use live_shopper::engine::{Engine, EngineConfig, FailureKind, Operator};
use live_shopper::plugin::PluginSet;
use live_shopper::plugin::{embedded, Limits, LoadError, PluginPolicy, PluginRuntime};
use live_shopper::sink::EmissionLog;
use std::time::{Duration, Instant};

fn strict_limits() -> Limits {
    Limits { memory_bytes: 32 << 20, cpu_per_call: Duration::from_millis(50), ..Limits::default() }
}

fn input() -> String {
    let session = std::fs::read_to_string(test_data("snowplow/store-session-20.tsv")).unwrap();
    let checkout = std::fs::read_to_string(test_data("snowplow/flink-format-checkout.jsonl")).unwrap();
    format!("{session}{checkout}")
}

/// The default five plugins, Wasm, with `limits`.
fn defaults(limits: Limits) -> Vec<Box<dyn Operator>> {
    PluginSet::load(None, &limits.into()).unwrap().into_operators()
}

/// Consecutive failures that quarantine a plugin in these tests.
const QUARANTINE_AFTER: u32 = 3;

/// Runs the defaults alone, then the defaults with `bad` (under `limits`) in the middle, one
/// event per step; checks that `bad` failed alone (with a failure of kind `expected` whose
/// message names `reason`), was dead-lettered and quarantined.
fn contained(bad: &str, limits: Limits, expected: FailureKind, reason: &str) {
    let runtime = PluginRuntime::new().unwrap();
    let (alone, _) = replay_text(&input(), defaults(strict_limits()));

    let mut ops = defaults(strict_limits());
    let bad_op = runtime.load(bad, &guest_wasm(bad), &limits.into()).expect("the guest loads");
    ops.insert(2, Box::new(bad_op));
    let config = EngineConfig { quarantine_after: QUARANTINE_AFTER, ..EngineConfig::default() };
    let mut engine = Engine::new(config, ops);
    let mut log = EmissionLog::new(Vec::new());
    let started = Instant::now();
    let events: Vec<_> = input()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| live_shopper::decode::decode_record(l.as_bytes()).unwrap())
        .collect();
    let mut failed = Vec::new();
    for e in &events {
        engine.process(std::slice::from_ref(e), &mut log);
        failed.extend(engine.take_failed_batches());
    }
    engine.finish(&mut log);
    let with_bad = String::from_utf8(log.into_inner().unwrap()).unwrap();

    assert_eq!(with_bad, alone, "the other plugins' emissions are unchanged");
    let report = engine.reports().into_iter().find(|r| r.descriptor.name == bad).unwrap();
    assert_eq!(report.stats.failures, report.stats.calls, "every call of {bad} failed");
    assert_eq!(
        report.stats.calls, QUARANTINE_AFTER as u64,
        "called again after failing (instance rebuilt), then quarantined"
    );
    assert!(report.stats.health.quarantined);
    assert_eq!(report.stats.skipped, events.len() as u64 - QUARANTINE_AFTER as u64, "later events skipped");
    assert_eq!(report.stats.last_failure.unwrap().kind, expected);
    assert_eq!(report.stats.emissions, 0);

    // Each failed call is dead-lettered with the plugin, version, reason and events involved.
    assert_eq!(failed.len(), QUARANTINE_AFTER as usize, "{failed:?}");
    for (i, batch) in failed.iter().enumerate() {
        assert_eq!((batch.plugin.as_str(), batch.version.as_str()), (bad, "0.0.1"));
        assert_eq!(batch.failure.kind, expected, "{}", batch.failure);
        assert!(batch.failure.message.contains(reason), "{}", batch.failure);
        assert_eq!(batch.event_ids, [events[i].event_id.to_string()]);
        assert_eq!(batch.keys.len(), 1);
        assert_eq!(batch.quarantined, i + 1 == QUARANTINE_AFTER as usize);
    }
    // Bounded: each failing call costs at most about its deadline.
    let per_call = limits.cpu_per_call + Duration::from_millis(10);
    let budget = per_call * report.stats.calls as u32 + Duration::from_secs(10);
    assert!(started.elapsed() < budget, "took {:?} for {} calls", started.elapsed(), report.stats.calls);
}

#[test]
fn an_endless_loop_is_stopped_by_the_cpu_deadline() {
    contained("endless-loop", strict_limits(), FailureKind::Timeout, "CPU deadline");
}

#[test]
fn a_memory_bomb_is_stopped_by_the_memory_cap() {
    // A generous CPU deadline, so that only the memory cap can be what stops it, however busy
    // the machine is.
    let limits = Limits { memory_bytes: 16 << 20, cpu_per_call: Duration::from_secs(5), ..Limits::default() };
    contained("memory-bomb", limits, FailureKind::OutOfMemory, "memory cap");
}

#[test]
fn a_trap_fails_only_its_own_plugin() {
    contained("trap", strict_limits(), FailureKind::Trap, "trap plugin always fails");
}

#[test]
fn an_oversized_output_is_refused_by_the_output_limit() {
    let limits = Limits { output_bytes: 64 << 10, ..strict_limits() };
    contained("oversized-output", limits, FailureKind::LimitExceeded, "exceeds the limit of 65536");
}

#[test]
fn a_state_over_the_quota_is_refused() {
    // The guest's state grows by 80 KiB per event; the default quota is 64 KiB per key.
    assert_eq!(EngineConfig::default().state_bytes_per_key, 64 << 10);
    contained("state-hog", strict_limits(), FailureKind::LimitExceeded, "over the 65536-byte quota per key");
}

#[test]
fn a_trap_reports_the_guests_panic_message() {
    let runtime = PluginRuntime::new().unwrap();
    let op = runtime.load("trap", &guest_wasm("trap"), &PluginPolicy::default()).unwrap();
    let mut engine = Engine::new(EngineConfig::default(), vec![Box::new(op)]);
    let line = std::fs::read_to_string(test_data("snowplow/store-home-5.tsv")).unwrap();
    let event = live_shopper::decode::decode_record(line.lines().next().unwrap().as_bytes()).unwrap();
    engine.process(&[event], &mut EmissionLog::new(Vec::new()));
    let failure = engine.reports()[0].stats.last_failure.clone().unwrap();
    assert!(failure.message.contains("trap plugin always fails"), "{}", failure.message);
}

#[test]
fn plugins_see_no_environment_clock_or_files() {
    let runtime = PluginRuntime::new().unwrap();
    let op = runtime.load("sandbox-probe", &guest_wasm("sandbox-probe"), &PluginPolicy::default()).unwrap();
    let (log, _) = replay_text(
        &std::fs::read_to_string(test_data("snowplow/store-home-5.tsv")).unwrap(),
        vec![Box::new(op)],
    );
    let first: serde_json::Value = serde_json::from_str(log.lines().next().unwrap()).unwrap();
    let f = &first["fields"];
    assert_eq!(f["env_vars"], "0");
    assert_eq!(f["args"], "0");
    assert_eq!(f["wall_clock_secs"], "0", "the clock is frozen at the epoch");
    assert_eq!(f["root_dir_listable"], "false");
    assert_eq!(f["file_creatable"], "false");
}

#[test]
fn bad_plugins_are_refused_with_the_reason() {
    let runtime = PluginRuntime::new().unwrap();
    let err = runtime.load("garbage.wasm", b"\0asm not really", &PluginPolicy::default()).err().unwrap();
    assert!(matches!(err, LoadError::Compile { .. }), "{err}");
    assert!(err.to_string().contains("garbage.wasm"), "{err}");

    // A core module is not a component of our world.
    let core_module = b"\0asm\x01\0\0\0";
    let err = runtime.load("core.wasm", core_module, &PluginPolicy::default()).err().unwrap();
    assert!(err.to_string().contains("core.wasm"), "{err}");

    let dir = tempfile::tempdir().unwrap();
    let err = embedded::load_dir(&runtime, dir.path(), &PluginPolicy::default()).err().unwrap();
    assert!(matches!(err, LoadError::Empty { .. }), "{err}");

    std::fs::write(dir.path().join("a.wasm"), guest_wasm("trap")).unwrap();
    std::fs::write(dir.path().join("b.wasm"), guest_wasm("trap")).unwrap();
    let err = embedded::load_dir(&runtime, dir.path(), &PluginPolicy::default()).err().unwrap();
    assert!(matches!(err, LoadError::DuplicateName { .. }), "{err}");
}

/// A policy giving `memory-bomb` 16 MiB and `product` 96 MiB, everyone else the defaults.
fn two_caps() -> live_shopper::plugin::PluginPolicy {
    use live_shopper::plugin::PluginOverrides;
    let cap = |mib: usize| PluginOverrides { memory_bytes: Some(mib << 20), ..PluginOverrides::default() };
    let defaults = Limits { cpu_per_call: Duration::from_secs(5), ..Limits::default() };
    live_shopper::plugin::PluginPolicy {
        defaults,
        plugins: [("memory-bomb".to_string(), cap(16)), ("product".to_string(), cap(96))].into(),
        ..Default::default()
    }
}

#[test]
fn two_plugins_with_their_own_memory_caps_the_one_over_its_cap_fails_alone() {
    use live_shopper::pipeline::PluginFacts;
    use live_shopper::status::PluginInfo;
    let runtime = PluginRuntime::new().unwrap();
    let policy = two_caps();
    let bomb = runtime.load("memory-bomb", &guest_wasm("memory-bomb"), &policy).unwrap();
    let product = embedded::load_default(&runtime, &policy)
        .unwrap()
        .into_iter()
        .find(|op| op.descriptor().name == "product")
        .unwrap();
    assert_eq!((bomb.limits().memory_bytes, product.limits().memory_bytes), (16 << 20, 96 << 20));
    let facts = PluginFacts::of(&[bomb, product]);
    let ops: Vec<Box<dyn Operator>> = vec![
        Box::new(runtime.load("memory-bomb", &guest_wasm("memory-bomb"), &policy).unwrap()),
        Box::new(
            PluginSet::load(None, &policy).unwrap().select(&["product".into()]).unwrap().operators.remove(0),
        ),
    ];
    let mut engine = Engine::new(EngineConfig::default(), ops);
    let events: Vec<_> =
        input().lines().filter_map(|l| live_shopper::decode::decode_record(l.as_bytes()).ok()).collect();
    let mut sink = live_shopper::engine::emission::CountingSink::default();
    for e in &events {
        engine.process(std::slice::from_ref(e), &mut sink);
    }
    let reports = engine.reports();
    let (bomb_report, product_report) = (&reports[0], &reports[1]);
    let failure = bomb_report.stats.last_failure.as_ref().expect("the bomb failed");
    assert_eq!(failure.kind, FailureKind::OutOfMemory);
    assert!(failure.message.contains(&format!("memory cap of {} bytes", 16 << 20)), "{failure}");
    assert_eq!(product_report.stats.failures, 0);
    assert!(product_report.stats.emissions > 0);
    // `/plugins` shows each plugin's own cap.
    let shown: Vec<serde_json::Value> = reports
        .iter()
        .map(|r| serde_json::to_value(PluginInfo::from_report(r, facts.get(&r.descriptor.name))).unwrap())
        .collect();
    assert_eq!(shown[0]["limits"]["memory_bytes"], 16 << 20);
    assert_eq!(shown[1]["limits"]["memory_bytes"], 96 << 20);
}
