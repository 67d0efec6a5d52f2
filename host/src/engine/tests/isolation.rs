//! A key fails alone: a failed call is split until each failing key fails alone, the step's
//! other keys are applied, and one poison key among healthy traffic never quarantines the
//! plugin. Native operators; no WebAssembly involved.

use super::*;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// The lines of `rec` for keys other than `key`'s.
fn lines_without(rec: &Recorder, shopper: &str) -> Vec<Line> {
    let own = format!("user:{shopper}:");
    rec.lines.iter().filter(|l| !l.1.starts_with(&own)).cloned().collect()
}

/// One step: `bot` views `bot_views` distinct products, and 100 ordinary shoppers view one
/// product each, interleaved.
fn busy_step(step: i64, bot: &str, bot_views: usize) -> Vec<Event> {
    let t = T0 + step * MIN;
    let mut events = Vec::new();
    for j in 0..bot_views.max(100) {
        if j < bot_views {
            let product = format!("scraped-product-with-a-rather-long-id-{j:05}");
            events.push(view(&format!("bot-{step}-{j}"), bot, t + j as i64, &product, 9.99));
        }
        if j < 100 {
            events.push(view(&format!("s{j}-{step}"), &format!("shopper-{j}"), t + j as i64, "p", 5.0));
        }
    }
    events
}

#[test]
fn a_2000_view_bot_over_the_state_quota_fails_alone_and_100_shoppers_in_its_step_are_applied() {
    let mut alone = Recorder::default();
    let mut engine = product_engine();
    for step in 0..8 {
        engine.process(&busy_step(step, "bot", 0), &mut alone);
    }

    // The default quota (64 KiB per key) and quarantine (5 in a row), more steps than that.
    let mut engine = product_engine();
    let mut rec = Recorder::default();
    let mut failed = Vec::new();
    for step in 0..8 {
        engine.process(&busy_step(step, "bot", 2_000), &mut rec);
        failed.extend(engine.take_failed_batches());
    }
    assert_eq!(
        lines_without(&rec, "bot"),
        alone.lines,
        "every ordinary shopper's features, as without the bot"
    );
    let report = &engine.reports()[0];
    assert!(!report.stats.health.quarantined, "one poison key does not quarantine the plugin");
    // The first 2 000 views fit the quota (about 32 bytes a view); from the next step on, the
    // bot's state would be over it.
    assert_eq!(report.stats.failures, 7, "the bot failed alone, once per step after the first");
    assert_eq!(report.stats.last_failure.as_ref().unwrap().kind, FailureKind::LimitExceeded);
    assert_eq!(failed.len(), 7);
    for (i, batch) in failed.iter().enumerate() {
        assert_eq!(batch.keys, ["bot"]);
        assert_eq!(batch.event_ids.len(), 2_000, "the bot's events of the step, and only them");
        assert_eq!(batch.event_ids[0], format!("bot-{}-0", i + 1));
        assert!(!batch.quarantined);
    }
    let bot_state = engine.state_of("product", "bot").map_or(0, <[u8]>::len);
    assert!(
        bot_state > 0 && bot_state <= 64 << 10,
        "the bot keeps what its last successful call left: {bot_state}"
    );
    assert_eq!(report.keys, 101);
}

/// The product plugin, failing every call whose batch holds `poison` once `armed`.
struct PoisonKey {
    inner: NativeOperator,
    poison: &'static [u8],
    armed: Arc<AtomicBool>,
}

impl Operator for PoisonKey {
    fn descriptor(&self) -> &Descriptor {
        self.inner.descriptor()
    }
    fn process(&mut self, input: &[u8], output: &mut Vec<u8>) -> Result<(), OperatorFailure> {
        let poisoned = input.windows(self.poison.len()).any(|w| w == self.poison);
        if poisoned && self.armed.load(Ordering::Relaxed) {
            return Err(OperatorFailure::new(FailureKind::Trap, "poisoned"));
        }
        self.inner.process(input, output)
    }
}

fn poison_engine(armed: bool) -> (Engine, Arc<AtomicBool>) {
    let armed = Arc::new(AtomicBool::new(armed));
    let op = PoisonKey {
        inner: NativeOperator::of::<ProductPlugin>(),
        poison: b"poison-shopper",
        armed: armed.clone(),
    };
    (Engine::new(EngineConfig::default(), vec![Box::new(op)]), armed)
}

#[test]
fn a_key_whose_events_trap_fails_alone_step_after_step_without_quarantine() {
    let mut alone = Recorder::default();
    let mut engine = product_engine();
    let mut rec = Recorder::default();
    let (mut poisoned, _) = poison_engine(true);
    for step in 0..20 {
        let mut events = busy_step(step, "poison-shopper", 3);
        poisoned.process(&events, &mut rec);
        events.retain(|e| e.shopper_id != "poison-shopper");
        engine.process(&events, &mut alone);
    }
    poisoned.finish(&mut rec);
    engine.finish(&mut alone);
    assert_eq!(lines_without(&rec, "poison-shopper"), alone.lines);
    let report = &poisoned.reports()[0];
    assert_eq!(report.stats.failures, 20);
    assert!(!report.stats.health.quarantined);
    assert!(report.stats.split_calls >= 20, "each step's call was split: {}", report.stats.split_calls);
    let failed = poisoned.take_failed_batches();
    assert!(failed.iter().all(|b| b.keys == ["poison-shopper"] && b.event_ids.len() == 3));
}

#[test]
fn a_key_whose_tick_fails_loses_that_tick_and_the_other_keys_decay() {
    let (mut engine, armed) = poison_engine(false);
    let mut rec = Recorder::default();
    engine.process(&busy_step(0, "poison-shopper", 3), &mut rec);
    assert!(engine.state_of("product", "poison-shopper").is_some());
    armed.store(true, Ordering::Relaxed);
    // Every window has closed: each key's ticks decay it to zero and clear it, in rounds.
    engine.advance_watermark(T0 + 3 * 60 * MIN, &mut rec);
    let report = &engine.reports()[0];
    assert_eq!(report.stats.failures, 1, "the poison key's tick failed alone");
    assert!(!report.stats.health.quarantined);
    assert_eq!(report.keys, 1, "the 100 others decayed and were cleared");
    assert!(engine.state_of("product", "poison-shopper").is_some(), "its state stays, its tick is gone");
    let failed = engine.take_failed_batches();
    assert_eq!(
        (failed[0].keys.as_slice(), failed[0].event_ids.len()),
        (&["poison-shopper".to_string()][..], 0)
    );
    // The next event of the key sets a new tick; the key recovers once the poison is gone.
    armed.store(false, Ordering::Relaxed);
    engine.process(&[view("late-but-new", "poison-shopper", T0 + 3 * 60 * MIN, "p", 1.0)], &mut rec);
    engine.advance_watermark(T0 + 6 * 60 * MIN, &mut rec);
    assert_eq!(engine.reports()[0].keys, 0);
}

#[test]
fn a_plugin_failing_on_every_key_is_quarantined_after_that_many_keys_failed_alone() {
    let mut failing_descriptor = <ProductPlugin as live_shopper_sdk::Plugin>::descriptor();
    failing_descriptor.name = "failing".into();
    let config = EngineConfig { quarantine_after: 3, ..EngineConfig::default() };
    let mut engine = Engine::new(config, vec![Box::new(AlwaysFails(failing_descriptor))]);
    let events: Vec<Event> =
        (0..10).map(|i| view(&format!("e{i}"), &format!("s{i}"), T0 + i, "p", 1.0)).collect();
    engine.process(&events, &mut Recorder::default());
    let report = &engine.reports()[0];
    // 0..10 fails, 0..5, 0..2, then 0 and 1 alone; 2..5, then 2 alone: quarantined.
    assert_eq!((report.stats.calls, report.stats.split_calls, report.stats.failures), (7, 4, 3));
    assert!(report.stats.health.quarantined);
    assert_eq!(report.stats.skipped, 7, "the keys not called are counted as skipped");
    assert_eq!(report.keys, 0);
    let failed = engine.take_failed_batches();
    let keys: Vec<_> = failed.iter().map(|b| b.keys.concat()).collect();
    assert_eq!(keys, ["s0", "s1", "s2"]);
    assert!(failed[2].quarantined);
}

/// A plugin that sets its timer one millisecond after every tick, forever.
struct Spinner;

/// A state that is never empty, so the key (and its timer) stays.
#[derive(Default)]
struct Kept;

impl live_shopper_sdk::State<'_> for Kept {
    fn load(&mut self, _: &[u8]) -> Result<(), live_shopper_abi::codec::DecodeError> {
        Ok(())
    }
    fn clear(&mut self) {}
    fn encode(&self, out: &mut Vec<u8>) {
        out.push(1);
    }
    fn is_empty(&self) -> bool {
        false
    }
}

impl live_shopper_sdk::Plugin for Spinner {
    type State<'a> = Kept;

    fn descriptor() -> Descriptor {
        live_shopper_sdk::Descriptor {
            name: "spinner".into(),
            version: "0.0.1".into(),
            key: live_shopper_sdk::KeyKind::Shopper,
            groups: vec![live_shopper_sdk::group("x", "test:{key}:spin", 0, 0, 60_000, &["never"])],
            event_kinds: live_shopper_sdk::EventKinds::ALL,
            event_fields: live_shopper_sdk::EventFields(0),
            state_schema: 1,
            ..live_shopper_sdk::Descriptor::default()
        }
    }

    fn step(
        _: &mut Kept,
        step: &live_shopper_sdk::Step<'_, '_>,
        _: &mut live_shopper_sdk::Emitter<'_, '_>,
    ) -> Option<i64> {
        Some(step.tick.unwrap_or(step.as_of) + 1)
    }
}

#[test]
fn a_plugin_that_keeps_its_timer_due_runs_a_bounded_number_of_rounds_per_step() {
    let config = EngineConfig { max_timer_rounds: 8, ..EngineConfig::default() };
    let mut engine = Engine::new(config, vec![Box::new(NativeOperator::of::<Spinner>())]);
    let mut rec = Recorder::default();
    engine.process(&[view("e0", "s", T0, "p", 1.0)], &mut rec);
    // An hour of watermark: 3.6 million ticks of 1 ms were due at once.
    engine.advance_watermark(T0 + 60 * MIN, &mut rec);
    assert_eq!(engine.reports()[0].stats.calls, 1 + 8, "the event's call, then 8 rounds");
    engine.advance_watermark(T0 + 60 * MIN, &mut rec);
    assert_eq!(engine.reports()[0].stats.calls, 1 + 16, "8 more at the next step");
}
