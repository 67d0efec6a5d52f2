//! Engine snapshots for checkpoints: every operator's keyed state, as-of times and timers, the
//! dedup memory and the watermark, as one byte string. Restoring matches operators by name. A
//! plugin whose state schema version changed has its state migrated when the loaded version
//! exports a migration; without one (or when the key kind changed, or the plugin is gone) its
//! state is dropped and the report says so. A migration that fails stops the restore: silently
//! dropping state the loaded version was meant to convert would lose it.

use super::Engine;
use live_shopper_abi::codec::{Reader, Writer};
use thiserror::Error;

const MAGIC: u32 = u32::from_le_bytes(*b"LSCK");
/// 2 added each plugin's key kind; version 1 checkpoints are still read.
const VERSION: u64 = 2;

/// Why a snapshot could not be restored.
#[derive(Debug, Error)]
pub enum SnapshotError {
    /// The bytes do not start with the checkpoint magic number.
    #[error("not a Live Shopper checkpoint")]
    NotACheckpoint,
    /// A checkpoint format version this build cannot read.
    #[error("checkpoint format version {0} is not supported (this build reads 1 to {VERSION})")]
    Version(u64),
    /// A plugin's checkpointed state failed to migrate to the loaded version's state schema.
    #[error(
        "plugin {plugin:?}: its checkpointed state (state schema {from_schema}) could not be migrated \
         by the loaded version: {reason}; load a version that reads schema {from_schema}, or remove \
         the plugin's file to start without it"
    )]
    Migration {
        /// The plugin's name.
        plugin: String,
        /// The state schema in the checkpoint.
        from_schema: u64,
        /// Why the migration failed.
        reason: String,
    },
    /// The checkpoint does not decode (truncated or malformed).
    #[error("corrupt checkpoint: {0}")]
    Corrupt(String),
}

/// What a restore did, per plugin.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RestoreReport {
    /// (plugin, keys restored)
    pub restored: Vec<(String, usize)>,
    /// (plugin, why its state was dropped)
    pub dropped: Vec<(String, String)>,
    /// (plugin, the checkpoint's state schema) of restored state converted by a migration
    pub migrated: Vec<(String, u32)>,
    /// Event ids restored into the dedup memory.
    pub dedup_ids: usize,
    /// The checkpoint's watermark, to which the engine's advanced.
    pub watermark: i64,
}

impl Engine {
    /// Writes the engine's state into `out` (cleared first).
    pub fn snapshot(&self, out: &mut Vec<u8>) {
        out.clear();
        let mut w = Writer::to(out);
        w.u32_fixed(MAGIC);
        w.varint(VERSION);
        w.i64(self.watermark.current());
        w.varint(self.stats.events);
        w.varint(self.stats.duplicates);
        w.varint(self.dedup.len() as u64);
        for (t, id) in self.dedup.entries() {
            w.i64(t);
            w.i64((id >> 64) as i64);
            w.i64(id as i64);
        }
        w.varint(self.runners.len() as u64);
        for r in &self.runners {
            w.str(&r.descriptor.name);
            w.varint(r.descriptor.state_schema as u64);
            w.u8(key_kind_tag(&r.descriptor.key));
            w.varint(r.state.keys() as u64);
            for slot in r.state.iter() {
                w.str(&slot.key);
                w.i64(slot.as_of);
                w.opt_i64(slot.timer);
                w.bytes(&slot.state);
            }
        }
    }

    /// Replaces the engine's state with a snapshot's. Call before any event is processed.
    pub fn restore(&mut self, bytes: &[u8]) -> Result<RestoreReport, SnapshotError> {
        let corrupt = |e: live_shopper_abi::codec::DecodeError| SnapshotError::Corrupt(e.to_string());
        let mut r = Reader::new(bytes);
        if r.u32_fixed().ok() != Some(MAGIC) {
            return Err(SnapshotError::NotACheckpoint);
        }
        let version = r.varint().map_err(corrupt)?;
        if !(1..=VERSION).contains(&version) {
            return Err(SnapshotError::Version(version));
        }
        let mut report = RestoreReport { watermark: r.i64().map_err(corrupt)?, ..RestoreReport::default() };
        // Checkpoints serve single-partition sources (the generator, replay): partition 0.
        self.watermark.advance_all(report.watermark);
        self.watermark.restore(0, report.watermark, None);
        self.stats.events = r.varint().map_err(corrupt)?;
        self.stats.duplicates = r.varint().map_err(corrupt)?;
        let ids = r.count().map_err(corrupt)?;
        for _ in 0..ids {
            let t = r.i64().map_err(corrupt)?;
            let id =
                ((r.i64().map_err(corrupt)? as u64 as u128) << 64) | r.i64().map_err(corrupt)? as u64 as u128;
            self.dedup.restore(0, t, id);
        }
        report.dedup_ids = ids;
        let plugins = r.count().map_err(corrupt)?;
        for _ in 0..plugins {
            let name = r.str().map_err(corrupt)?.to_string();
            let schema = r.varint().map_err(corrupt)?;
            // Version 1 did not record the key kind: the loaded one is assumed.
            let key = if version >= 2 { Some(r.u8().map_err(corrupt)?) } else { None };
            let keys = r.count().map_err(corrupt)?;
            let runner = self.runners.iter_mut().find(|x| x.descriptor.name == name);
            let plan = match runner.as_ref() {
                None => Err("the plugin is not loaded".to_string()),
                Some(x) if key.is_some_and(|k| k != key_kind_tag(&x.descriptor.key)) => {
                    Err(format!("its key kind changed to {:?}", x.descriptor.key))
                }
                Some(x) if x.descriptor.state_schema as u64 == schema => Ok(None),
                Some(x) if x.op.migrates() => Ok(Some(schema)),
                Some(x) => Err(format!(
                    "state schema {schema} in the checkpoint, {} loaded, and it has no migration",
                    x.descriptor.state_schema
                )),
            };
            let mut runner = runner.filter(|_| plan.is_ok());
            for _ in 0..keys {
                let key = r.str().map_err(corrupt)?;
                let as_of = r.i64().map_err(corrupt)?;
                let timer = r.opt_i64().map_err(corrupt)?;
                let state = r.bytes().map_err(corrupt)?;
                if let Some(x) = runner.as_deref_mut() {
                    let slot = x.state.get_or_insert(key, as_of, 0);
                    x.state.slot_mut(slot).as_of = as_of;
                    x.state.set_state(slot, state);
                    x.state.set_timer(slot, timer);
                }
            }
            match (plan, runner) {
                (Ok(Some(from)), Some(x)) => {
                    let failed =
                        |reason| SnapshotError::Migration { plugin: name.clone(), from_schema: from, reason };
                    let from_schema = u32::try_from(from).map_err(|_| failed("no such schema".into()))?;
                    x.migrate_in_place(from_schema).map_err(failed)?;
                    report.migrated.push((name.clone(), from_schema));
                    report.restored.push((name, keys));
                }
                (Ok(_), _) => report.restored.push((name, keys)),
                (Err(why), _) => report.dropped.push((name, why)),
            }
        }
        if !r.is_at_end() {
            return Err(SnapshotError::Corrupt("trailing bytes".into()));
        }
        Ok(report)
    }
}

/// The key kind as a checkpoint records it (a changed entity field is not told apart).
pub(super) fn key_kind_tag(key: &live_shopper_abi::KeyKind) -> u8 {
    use live_shopper_abi::KeyKind;
    match key {
        KeyKind::Shopper => 0,
        KeyKind::Session => 1,
        KeyKind::Product => 2,
        KeyKind::Category => 3,
        KeyKind::Global => 4,
        KeyKind::EntityField { .. } => 5,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::emission::{Emission, EmissionSink, Signal};
    use crate::engine::{EngineConfig, Operator};
    use crate::plugin::native;
    use crate::source::generator::{Generator, GeneratorConfig};

    /// Every emission as a line, to compare runs.
    #[derive(Default)]
    struct Lines(Vec<String>);

    impl EmissionSink for Lines {
        fn emit(&mut self, e: &Emission<'_>) {
            self.0.push(format!(
                "{} {} {} {:?}",
                e.plugin,
                crate::sink::hash::key(e),
                e.as_of,
                crate::sink::hash::fields(e)
            ));
        }

        fn signal(&mut self, s: &Signal<'_>) {
            let mut line = String::new();
            crate::signals::format_signal(s, &mut line);
            self.0.push(line);
        }
    }

    fn engine() -> Engine {
        let ops = native::default_set().into_iter().map(|o| Box::new(o) as Box<dyn Operator>).collect();
        Engine::new(EngineConfig::default(), ops)
    }

    /// The flash-sale plugin alone, alerting on anything (so generated traffic gives many).
    fn alerting_engine() -> Engine {
        let settings = vec![
            ("min_views".to_string(), "1".to_string()),
            ("max_purchases".to_string(), "1000".to_string()),
        ];
        let op =
            native::NativeOperator::of::<live_shopper_plugin_flash_sale::Plugin>().with_settings(settings);
        Engine::new(EngineConfig::default(), vec![Box::new(op)])
    }

    #[test]
    fn a_restart_from_a_checkpoint_neither_loses_nor_repeats_a_signal() {
        let config = GeneratorConfig { shoppers: 300, events: 20_000, seed: 5, start_ms: 1_742_000_000_000 };
        let events: Vec<_> = Generator::new(config).collect();
        let signals = |lines: &Lines| {
            lines.0.iter().filter(|l| l.starts_with("{\"signal\"")).cloned().collect::<Vec<_>>()
        };
        let mut whole = alerting_engine();
        let mut uninterrupted = Lines::default();
        for chunk in events.chunks(100) {
            whole.process(chunk, &mut uninterrupted);
        }
        whole.finish(&mut uninterrupted);

        // Stop at a step boundary, checkpoint, restart from it; the records after the
        // checkpoint (and some before, read again) follow.
        let (first, rest) = events.split_at(10_000);
        let mut before = alerting_engine();
        let mut seen = Lines::default();
        for chunk in first.chunks(100) {
            before.process(chunk, &mut seen);
        }
        let mut bytes = Vec::new();
        before.snapshot(&mut bytes);
        let mut after = alerting_engine();
        after.restore(&bytes).unwrap();
        for chunk in first[9_000..].chunks(100).chain(rest.chunks(100)) {
            after.process(chunk, &mut seen);
        }
        after.finish(&mut seen);

        let expected = signals(&uninterrupted);
        assert!(expected.len() > 50, "{} signals", expected.len());
        assert_eq!(signals(&seen), expected, "every signal once, in order, across the restart");
    }

    #[test]
    fn a_restored_engine_continues_exactly_like_the_uninterrupted_one() {
        let config = GeneratorConfig { shoppers: 300, events: 6_000, seed: 11, start_ms: 1_742_000_000_000 };
        let events: Vec<_> = Generator::new(config).collect();
        let (first, rest) = events.split_at(3_000);
        let mut whole = engine();
        let mut expected = Lines::default();
        for chunk in first.chunks(100) {
            whole.process(chunk, &mut expected);
        }
        let mut bytes = Vec::new();
        whole.snapshot(&mut bytes);
        expected.0.clear();
        // The events around the cut arrive again (a replay from the last commit): dedup skips them.
        for chunk in first[2_500..].chunks(100).chain(rest.chunks(100)) {
            whole.process(chunk, &mut expected);
        }
        whole.finish(&mut expected);

        let mut restored = engine();
        let report = restored.restore(&bytes).unwrap();
        assert_eq!(report.restored.len(), crate::plugin::embedded::DEFAULT_PLUGINS.len());
        assert!(report.dropped.is_empty());
        assert_eq!(report.dedup_ids, 3_000);
        let mut got = Lines::default();
        for chunk in first[2_500..].chunks(100).chain(rest.chunks(100)) {
            restored.process(chunk, &mut got);
        }
        restored.finish(&mut got);
        assert_eq!(restored.stats().duplicates, 500);
        assert!(expected.0.len() > 1_000);
        let first_difference = got.0.iter().zip(&expected.0).position(|(a, b)| a != b);
        assert_eq!(
            (got.0.len(), first_difference.map(|i| (&got.0[i], &expected.0[i]))),
            (expected.0.len(), None),
            "(lines, first difference: restored vs uninterrupted)"
        );
        let (a, b) = (whole.reports(), restored.reports());
        for (a, b) in a.iter().zip(&b) {
            assert_eq!(
                (a.keys, a.state_bytes, a.timers),
                (b.keys, b.state_bytes, b.timers),
                "{}",
                a.descriptor.name
            );
        }
    }

    #[test]
    fn garbage_and_other_versions_are_refused_and_a_changed_schema_drops_that_state() {
        let mut e = engine();
        assert!(matches!(e.restore(b"nonsense"), Err(SnapshotError::NotACheckpoint)));
        let mut bytes = Vec::new();
        engine().snapshot(&mut bytes);
        bytes[4] = 9;
        assert!(matches!(e.restore(&bytes), Err(SnapshotError::Version(9))));

        let mut with_state = engine();
        let config = GeneratorConfig { shoppers: 20, events: 200, seed: 3, start_ms: 1_742_000_000_000 };
        with_state.process(&Generator::new(config).collect::<Vec<_>>(), &mut Lines::default());
        with_state.snapshot(&mut bytes);
        let mut other = engine();
        other.runners[0].descriptor.state_schema += 1;
        let report = other.restore(&bytes).unwrap();
        assert_eq!(report.dropped.len(), 1, "{report:?}");
        assert!(report.dropped[0].1.contains("state schema"), "{report:?}");
        assert_eq!(other.reports()[0].keys, 0);
        assert!(other.reports()[1].keys > 0);
        assert!(matches!(other.restore(&bytes[..bytes.len() - 3]), Err(SnapshotError::Corrupt(_))));

        let mut rekeyed = engine();
        rekeyed.runners[0].descriptor.key = live_shopper_abi::KeyKind::Session;
        let report = rekeyed.restore(&bytes).unwrap();
        assert_eq!(report.dropped.len(), 1, "{report:?}");
        assert!(report.dropped[0].1.contains("key kind"), "{report:?}");
        assert_eq!(rekeyed.reports()[0].keys, 0);
    }

    #[test]
    fn a_version_1_checkpoint_without_key_kinds_is_still_read() {
        let mut bytes = Vec::new();
        let mut w = Writer::to(&mut bytes);
        w.u32_fixed(MAGIC);
        w.varint(1);
        w.i64(1_742_000_000_000); // watermark
        w.varint(10); // events
        w.varint(0); // duplicates
        w.varint(0); // dedup ids
        w.varint(1); // plugins
        w.str("product");
        let e = engine();
        w.varint(e.runners[0].descriptor.state_schema as u64);
        w.varint(1); // keys
        w.str("shopper-1");
        w.i64(1_742_000_000_000);
        w.opt_i64(None);
        w.bytes(b"state bytes");
        let mut restored = engine();
        let report = restored.restore(&bytes).unwrap();
        assert_eq!(report.restored, [("product".to_string(), 1)]);
        assert_eq!(restored.state_of("product", "shopper-1").unwrap(), b"state bytes");
    }
}
