//! Engine tests with native operators: dedup, windows decaying to zero, late events, session
//! close, failure isolation. No WebAssembly involved.

use super::emission::{Emission, EmissionSink};
use super::*;
use crate::model::{EventKind, Product};
use crate::plugin::native::NativeOperator;
use live_shopper_abi::Descriptor;
use live_shopper_plugin_product::features::ProductPlugin;
use live_shopper_plugin_session::features::SessionPlugin;

mod isolation;

const MIN: i64 = 60_000;
/// A round time, so window and tick arithmetic is easy to read.
const T0: i64 = 1_700_000_000_000 - 1_700_000_000_000 % (60 * MIN);

/// One recorded emission: (plugin, redis key, as_of, closed, fields).
type Line = (String, String, i64, bool, Vec<(String, String)>);

/// Keeps every emission.
#[derive(Default)]
struct Recorder {
    lines: Vec<Line>,
    aliases: Vec<(String, String)>,
}

impl EmissionSink for Recorder {
    fn emit(&mut self, e: &Emission<'_>) {
        let fields = crate::sink::hash::fields(e).into_iter().map(|(k, v)| (k.to_string(), v)).collect();
        self.lines.push((e.plugin.to_string(), crate::sink::hash::key(e), e.as_of, e.closed, fields));
    }

    fn alias(&mut self, user_id: &str, shopper_id: &str) {
        self.aliases.push((user_id.into(), shopper_id.into()));
    }
}

impl Recorder {
    fn field(&self, line: usize, name: &str) -> &str {
        let fields = &self.lines[line].4;
        fields.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).expect("field present")
    }
}

fn view(id: &str, shopper: &str, t: i64, product: &str, price: f64) -> Event {
    Event {
        event_id: id.into(),
        event_time: t,
        kind: EventKind::ProductView,
        shopper_id: shopper.into(),
        session_id: Some(format!("session-of-{shopper}")),
        products: vec![Product {
            id: product.into(),
            price: Some(price),
            category: Some("Shoes".into()),
            quantity: 1,
            ..Default::default()
        }],
        ..Default::default()
    }
}

fn product_engine() -> Engine {
    Engine::new(EngineConfig::default(), vec![Box::new(NativeOperator::of::<ProductPlugin>())])
}

#[test]
fn each_event_emits_the_groups_it_touches_as_of_its_time() {
    let mut engine = product_engine();
    let mut rec = Recorder::default();
    engine.process(&[view("e1", "s", T0, "p1", 10.0)], &mut rec);
    engine.process(&[view("e2", "s", T0 + 1_000, "p1", 30.0)], &mut rec);
    let keys: Vec<&str> = rec.lines.iter().map(|l| l.1.as_str()).collect();
    assert_eq!(
        keys,
        ["user:s:features:5min", "user:s:features:1hr", "user:s:features:5min", "user:s:features:1hr"]
    );
    assert_eq!(rec.lines[2].2, T0 + 1_000);
    assert_eq!(rec.field(2, "product_view_count_5min"), "2");
    assert_eq!(rec.field(2, "unique_products_viewed_5min"), "1");
    assert_eq!(rec.field(2, "avg_viewed_price_5min"), "20");
    assert_eq!(rec.field(2, "updated_at"), (T0 + 1_000).to_string());
}

#[test]
fn duplicates_are_counted_and_skipped() {
    let mut engine = product_engine();
    let mut rec = Recorder::default();
    engine.process(&[view("same", "s", T0, "p1", 10.0), view("same", "s", T0 + 5, "p2", 10.0)], &mut rec);
    assert_eq!(engine.stats().duplicates, 1);
    assert_eq!(engine.stats().events, 1);
    assert_eq!(rec.field(0, "product_view_count_5min"), "1");
}

#[test]
fn windows_decay_to_zero_once_and_then_the_key_holds_no_state() {
    let mut engine = product_engine();
    let mut rec = Recorder::default();
    engine.process(&[view("e1", "s", T0 + 1_000, "p1", 10.0)], &mut rec);
    engine.advance_watermark(T0 + 3 * 60 * MIN, &mut rec);
    // 2 on the event, then the 5-minute zero at the first 30 s tick after T0+1s+5min, then the
    // hour zero at the first 60 s tick after T0+1s+1h. Nothing else: values did not change.
    let summary: Vec<(&str, i64)> = rec.lines.iter().map(|l| (l.1.as_str(), l.2)).collect();
    assert_eq!(
        summary,
        [
            ("user:s:features:5min", T0 + 1_000),
            ("user:s:features:1hr", T0 + 1_000),
            ("user:s:features:5min", T0 + 5 * MIN + 30_000),
            ("user:s:features:1hr", T0 + 61 * MIN),
        ]
    );
    assert_eq!(rec.field(2, "product_view_count_5min"), "0");
    assert_eq!(rec.field(2, "top_category_5min"), "");
    assert_eq!(rec.field(3, "product_view_count_1hr"), "0");
    assert_eq!(engine.state_of("product", "s"), None);
    assert_eq!(engine.reports()[0].keys, 0);
}

#[test]
fn events_older_than_every_window_are_late() {
    let mut engine = product_engine();
    let mut rec = Recorder::default();
    engine.process(&[view("e1", "s", T0 + 2 * 60 * MIN, "p1", 10.0)], &mut rec);
    engine.process(&[view("e2", "s", T0, "p1", 10.0)], &mut rec);
    // Within the hour: not late, lands in the 1hr group only.
    engine.process(&[view("e3", "s", T0 + 2 * 60 * MIN - 10 * MIN, "p2", 20.0)], &mut rec);
    assert_eq!(engine.reports()[0].stats.late, 1);
    assert_eq!(rec.lines.last().unwrap().1, "user:s:features:1hr");
    assert_eq!(rec.field(rec.lines.len() - 1, "product_view_count_1hr"), "2");
    assert_eq!(rec.lines.last().unwrap().2, T0 + 2 * 60 * MIN, "as-of never goes backwards");
}

#[test]
fn sessions_close_thirty_minutes_after_their_last_event() {
    let mut engine =
        Engine::new(EngineConfig::default(), vec![Box::new(NativeOperator::of::<SessionPlugin>())]);
    let mut rec = Recorder::default();
    let mut e1 = view("e1", "s", T0, "p", 1.0);
    e1.kind = EventKind::PageView;
    let mut e2 = view("e2", "s", T0 + 90_000, "p", 1.0);
    e2.kind = EventKind::PageView;
    engine.process(&[e1, e2], &mut rec);
    engine.advance_watermark(T0 + 90_000 + 30 * MIN - 1, &mut rec);
    assert!(rec.lines.iter().all(|l| !l.3), "not closed before the gap has passed");
    engine.advance_watermark(T0 + 90_000 + 30 * MIN, &mut rec);
    let last = rec.lines.len() - 1;
    assert!(rec.lines[last].3, "the final emission is marked closed");
    assert_eq!(rec.field(last, "session_duration"), "90");
    assert_eq!(rec.field(last, "session_page_count"), "2");
    assert_eq!(rec.field(last, "session_bounce"), "false");
    assert_eq!(engine.state_of("session", "session-of-s"), None);
}

/// An operator that fails every call.
struct AlwaysFails(Descriptor);

impl Operator for AlwaysFails {
    fn descriptor(&self) -> &Descriptor {
        &self.0
    }
    fn process(&mut self, _: &[u8], _: &mut Vec<u8>) -> Result<(), OperatorFailure> {
        Err(OperatorFailure::new(FailureKind::Trap, "boom"))
    }
}

#[test]
fn a_failing_operator_fails_alone() {
    let events: Vec<Event> =
        (0..50).map(|i| view(&format!("e{i}"), &format!("s{}", i % 7), T0 + i * 1_000, "p", 1.0)).collect();
    let mut alone = Recorder::default();
    let mut engine = product_engine();
    engine.process(&events, &mut alone);

    let mut failing_descriptor = <ProductPlugin as live_shopper_sdk::Plugin>::descriptor();
    failing_descriptor.name = "failing".into();
    let mut engine = Engine::new(
        EngineConfig::default(),
        vec![Box::new(AlwaysFails(failing_descriptor)), Box::new(NativeOperator::of::<ProductPlugin>())],
    );
    let mut mixed = Recorder::default();
    engine.process(&events, &mut mixed);
    assert_eq!(mixed.lines, alone.lines);
    let reports = engine.reports();
    // Split in halves down to single keys: five keys failed alone, then the plugin was
    // quarantined and the two keys left were not called.
    assert_eq!(reports[0].stats.failures, 5);
    assert!(reports[0].stats.health.quarantined);
    assert_eq!(reports[0].keys, 0, "keys created for the failed batch are not leaked");
    assert_eq!(reports[0].stats.last_failure.as_ref().unwrap().message, "boom");
}

#[test]
fn a_plugin_failing_again_and_again_is_quarantined_and_its_batches_kept_for_the_dead_letter() {
    let mut failing_descriptor = <ProductPlugin as live_shopper_sdk::Plugin>::descriptor();
    failing_descriptor.name = "failing".into();
    let config = EngineConfig { quarantine_after: 3, ..EngineConfig::default() };
    let mut engine = Engine::new(
        config,
        vec![Box::new(AlwaysFails(failing_descriptor)), Box::new(NativeOperator::of::<ProductPlugin>())],
    );
    let mut rec = Recorder::default();
    for step in 0..5 {
        let e = view(&format!("e{step}"), "s", T0 + step * 1_000, "p", 1.0);
        engine.process(&[e], &mut rec);
    }
    let reports = engine.reports();
    assert_eq!(reports[0].stats.failures, 3, "no calls once quarantined");
    assert!(reports[0].stats.health.quarantined);
    assert_eq!(reports[0].stats.skipped, 2);
    assert_eq!(reports[1].stats.failures, 0);
    assert_eq!(reports[1].stats.events_in, 5, "the other plugin goes on");
    let failed = engine.take_failed_batches();
    assert_eq!(failed.len(), 3);
    assert_eq!(failed[0].event_ids, ["e0"]);
    assert_eq!(failed[0].keys, ["s"]);
    assert_eq!((failed[0].plugin.as_str(), failed[0].failure.kind.as_str()), ("failing", "trap"));
    assert!(!failed[1].quarantined && failed[2].quarantined);
    assert!(engine.take_failed_batches().is_empty(), "taken once");
}

#[test]
fn a_state_over_the_quota_fails_the_call_and_leaves_the_state_as_it_was() {
    let config = EngineConfig { state_bytes_per_key: 200, quarantine_after: 0, ..EngineConfig::default() };
    let mut engine = Engine::new(config, vec![Box::new(NativeOperator::of::<ProductPlugin>())]);
    let mut rec = Recorder::default();
    engine.process(&[view("e0", "s", T0, "p0", 1.0)], &mut rec);
    let small = engine.state_of("product", "s").unwrap().to_vec();
    assert!(small.len() <= 200, "{}", small.len());
    let many: Vec<Event> =
        (1..40).map(|i| view(&format!("e{i}"), "s", T0 + i, &format!("product-{i}"), 1.0)).collect();
    let emitted = rec.lines.len();
    engine.process(&many, &mut rec);
    let report = &engine.reports()[0];
    assert_eq!(report.stats.failures, 1);
    assert_eq!(report.stats.last_failure.as_ref().unwrap().kind, FailureKind::LimitExceeded);
    assert!(!report.stats.health.quarantined, "0 never quarantines");
    assert_eq!(engine.state_of("product", "s").unwrap(), small.as_slice(), "nothing of the call applied");
    assert_eq!(rec.lines.len(), emitted, "no emission from the refused call");
}

#[test]
fn a_reload_keeps_state_for_the_same_schema_drops_it_for_another_and_new_names_are_added() {
    use super::lifecycle::Installed;
    let mut engine = product_engine();
    let mut rec = Recorder::default();
    engine.process(&[view("e0", "s", T0, "p", 1.0), view("e1", "t", T0, "p", 2.0)], &mut rec);
    let state = engine.state_of("product", "s").unwrap().to_vec();

    let same = engine.install(Box::new(NativeOperator::of::<ProductPlugin>())).unwrap();
    assert_eq!(same, Installed::StateKept { keys: 2 });
    assert_eq!(engine.state_of("product", "s").unwrap(), state.as_slice());
    engine.process(&[view("e2", "s", T0 + 1_000, "p", 1.0)], &mut rec);
    assert_eq!(
        rec.field(rec.lines.len() - 2, "product_view_count_5min"),
        "2",
        "counts carried over the swap"
    );

    let mut bumped = <ProductPlugin as live_shopper_sdk::Plugin>::descriptor();
    bumped.state_schema += 1;
    let dropped = engine.install(Box::new(AlwaysFails(bumped))).unwrap();
    assert!(matches!(dropped, Installed::StateDropped { keys: 2, .. }), "{dropped:?}");
    assert!(engine.state_of("product", "s").is_none());

    let added = engine.install(Box::new(NativeOperator::of::<SessionPlugin>())).unwrap();
    assert_eq!(added, Installed::Added);
    assert_eq!(engine.reports().len(), 2);
    assert_eq!(engine.uninstall("session"), Some(0));
    assert_eq!(engine.uninstall("session"), None);
    assert_eq!(engine.reports().len(), 1);
}

/// How [`MigratingProduct`]'s migration answers.
#[derive(Clone, Copy)]
enum Migration {
    /// Each state comes back with a marker byte appended, which `process` strips again.
    Converts,
    /// Call `n` (1-based) fails; earlier calls convert.
    FailsOnCall(usize),
    /// Answers with one state too few.
    LosesAState,
}

/// The product plugin under a bumped state schema whose encoding would be the old one plus a
/// trailing marker byte, with a migration (see [`Migration`]) and a shared count of its calls.
struct MigratingProduct {
    inner: NativeOperator,
    descriptor: Descriptor,
    migration: Migration,
    calls: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

const MARKER: u8 = 0xAB;

impl MigratingProduct {
    fn new(migration: Migration) -> (Self, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
        let inner = NativeOperator::of::<ProductPlugin>();
        let mut descriptor = inner.descriptor().clone();
        descriptor.state_schema += 1;
        let calls = std::sync::Arc::default();
        let op = MigratingProduct { inner, descriptor, migration, calls: std::sync::Arc::clone(&calls) };
        (op, calls)
    }
}

impl Operator for MigratingProduct {
    fn descriptor(&self) -> &Descriptor {
        &self.descriptor
    }
    fn process(&mut self, input: &[u8], output: &mut Vec<u8>) -> Result<(), OperatorFailure> {
        // The tests never process a migrated (marked) state, only the old version's.
        self.inner.process(input, output)
    }
    fn migrates(&self) -> bool {
        true
    }
    fn migrate(&mut self, from: u32, states: Vec<Vec<u8>>) -> Result<Vec<Vec<u8>>, OperatorFailure> {
        let call = self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
        assert_eq!(from, self.descriptor.state_schema - 1);
        let mut converted: Vec<Vec<u8>> = states
            .into_iter()
            .map(|mut s| {
                s.push(MARKER);
                s
            })
            .collect();
        match self.migration {
            Migration::Converts => Ok(converted),
            Migration::FailsOnCall(n) if n == call => {
                Err(OperatorFailure::new(FailureKind::PluginError, "cannot read schema"))
            }
            Migration::FailsOnCall(_) => Ok(converted),
            Migration::LosesAState => {
                converted.pop();
                Ok(converted)
            }
        }
    }
}

/// A product engine after 3 000 views from 1 500 shoppers (two each), and the state of s7.
fn engine_with_1500_keys() -> (Engine, Vec<u8>) {
    let mut engine = product_engine();
    let events: Vec<Event> =
        (0..3000).map(|i| view(&format!("e{i}"), &format!("s{}", i % 1500), T0 + i, "p", 1.0)).collect();
    engine.process(&events, &mut Recorder::default());
    let state = engine.state_of("product", "s7").unwrap().to_vec();
    (engine, state)
}

#[test]
fn a_schema_change_migrates_every_keys_state_in_chunks_when_the_new_version_can() {
    use super::lifecycle::Installed;
    let (mut engine, before) = engine_with_1500_keys();
    let (op, calls) = MigratingProduct::new(Migration::Converts);
    let to = op.descriptor.state_schema;
    let migrated = engine.install(Box::new(op)).unwrap();
    assert_eq!(migrated, Installed::StateMigrated { keys: 1500, from_schema: to - 1, to_schema: to });
    assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 2, "1 500 keys in chunks of 1 024");
    let after = engine.state_of("product", "s7").unwrap();
    assert_eq!(after, [before.as_slice(), &[MARKER]].concat().as_slice(), "the converted state is installed");
}

#[test]
fn a_failed_or_short_migration_refuses_the_new_version_and_keeps_the_old_with_its_state() {
    for (migration, why) in [
        (Migration::FailsOnCall(1), "cannot read schema"),
        (Migration::FailsOnCall(2), "cannot read schema"),
        (Migration::LosesAState, "returned 1023 states for 1024"),
    ] {
        let (mut engine, before) = engine_with_1500_keys();
        let old_schema = engine.reports()[0].descriptor.state_schema;
        let (op, _) = MigratingProduct::new(migration);
        let refused = engine.install(Box::new(op)).unwrap_err();
        assert!(refused.to_string().contains(why), "{refused}");
        assert_eq!(engine.reports()[0].descriptor.state_schema, old_schema, "the old version runs");
        assert_eq!(engine.state_of("product", "s7").unwrap(), before.as_slice(), "its state untouched");
        let mut rec = Recorder::default();
        engine.process(&[view("x", "s7", T0 + 5_000, "p", 1.0)], &mut rec);
        assert_eq!(rec.field(rec.lines.len() - 2, "product_view_count_5min"), "3", "and it goes on counting");
    }
}

#[test]
fn a_restore_under_a_new_schema_migrates_or_fails_loudly_when_the_migration_fails() {
    let (engine, before) = engine_with_1500_keys();
    let mut checkpoint = Vec::new();
    engine.snapshot(&mut checkpoint);

    let (op, _) = MigratingProduct::new(Migration::Converts);
    let mut migrated = Engine::new(EngineConfig::default(), vec![Box::new(op)]);
    let report = migrated.restore(&checkpoint).unwrap();
    assert_eq!(report.migrated, [("product".to_string(), engine.reports()[0].descriptor.state_schema)]);
    assert_eq!(
        migrated.state_of("product", "s7").unwrap(),
        [before.as_slice(), &[MARKER]].concat().as_slice()
    );

    let (op, _) = MigratingProduct::new(Migration::FailsOnCall(2));
    let mut failing = Engine::new(EngineConfig::default(), vec![Box::new(op)]);
    let err = failing.restore(&checkpoint).unwrap_err().to_string();
    assert!(err.contains("\"product\"") && err.contains("cannot read schema"), "{err}");
}

#[test]
fn login_ids_are_passed_to_the_sink_as_aliases() {
    let mut engine = product_engine();
    let mut rec = Recorder::default();
    let mut e = view("e1", "browser-1", T0, "p", 1.0);
    e.user_id = Some("trent@example.com".into());
    engine.process(&[e], &mut rec);
    assert_eq!(rec.aliases, [("trent@example.com".to_string(), "browser-1".to_string())]);
}
