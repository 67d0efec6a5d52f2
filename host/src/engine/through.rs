//! Keys that are not the input's partition key (product, category, global, an entity field):
//! with several hosts their events go through a repartition topic keyed by that key (Kafka
//! Streams' through-topic), so one partition, and one host, holds each such key.
//!
//! The engine's part, with no Kafka in it: which plugins are keyed that way (their *lane*), the
//! (kind, key) pairs an input event is forwarded under ([`Engine::through_keys`]), and a step
//! that mixes input partitions with through partitions, whose events each carry the one key
//! they feed ([`PartitionEvents`]). A through partition's watermark is not its events': it is
//! set from the watermarks its upstream partitions report ([`Engine::advance_partition`]), as
//! Flink's watermarks flow through a shuffle, so an event that was on time in its input
//! partition is on time after the shuffle.

use super::{routing, Engine};
use crate::model::Event;
use live_shopper_abi::{Descriptor, KeyKind};
use std::borrow::Cow;

/// The key an event carries through the repartition topic: the kind of key (see [`kind_of`])
/// and the key itself.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ThroughKey {
    /// `product`, `category`, `global` or `entity:<vendor>/<name>/<major>.<field>`.
    pub kind: String,
    /// The product id, category, `global` or field value.
    pub key: String,
}

/// One partition's share of a step.
#[derive(Debug, Clone, Copy)]
pub struct PartitionEvents<'a> {
    /// The engine's partition id.
    pub partition: u32,
    /// Its events, in arrival order.
    pub events: &'a [Event],
    /// For a through partition, the key each event feeds (`through[i]` is `events[i]`'s);
    /// `None` for an input partition.
    pub through: Option<&'a [ThroughKey]>,
}

impl<'a> PartitionEvents<'a> {
    /// An input partition's events.
    pub fn input(partition: u32, events: &'a [Event]) -> Self {
        PartitionEvents { partition, events, through: None }
    }
}

/// The kind of key a plugin keyed by something other than the input's partition key has; `None`
/// for the shopper and session keys, which the input's partitioning already groups.
pub fn kind_of(descriptor: &Descriptor) -> Option<String> {
    match &descriptor.key {
        KeyKind::Shopper | KeyKind::Session => None,
        KeyKind::Product => Some("product".into()),
        KeyKind::Category => Some("category".into()),
        KeyKind::Global => Some("global".into()),
        KeyKind::EntityField { entity, field } => {
            let c = &descriptor.entities[*entity as usize];
            Some(format!("entity:{}/{}/{}.{field}", c.vendor, c.name, c.major))
        }
    }
}

/// The compact dedup id of an event fed to one key on a through partition: the same event
/// reaches it once per key it names, and a repeat of one of them is a duplicate. The hash of
/// `event id NUL kind NUL key`, made without building that string (once per through event).
pub(super) fn keyed_dedup_id(event_id: &str, through: &ThroughKey) -> u128 {
    let bytes = event_id.bytes().chain([0]).chain(through.kind.bytes()).chain([0]).chain(through.key.bytes());
    super::dedup::hashed_id(bytes)
}

impl Engine {
    /// From now on an input event feeds only the plugins keyed by shopper or session; the
    /// others take their events from through partitions (a Kafka source with several hosts).
    pub fn repartition(&mut self) {
        self.repartitioned = true;
    }

    /// Appends the distinct (kind, key) pairs input event `e` is forwarded under: one per key
    /// of every plugin in the through lane that wants it (none unless repartitioning). An entity field that is missing or
    /// unfit counts as `unkeyed` here, where the event is read first.
    pub fn through_keys(&mut self, e: &Event, out: &mut Vec<ThroughKey>) {
        if !self.repartitioned {
            return;
        }
        let mut keys: Vec<Cow<'_, str>> = Vec::new();
        for runner in &mut self.runners {
            let Some(kind) = &runner.through_kind else { continue };
            if !routing::wants(&runner.descriptor, e) {
                continue;
            }
            keys.clear();
            match routing::keys_of(&runner.descriptor, e, &mut keys) {
                Ok(()) => {}
                Err(routing::NoKey::Absent) => continue,
                Err(routing::NoKey::Unfit) => {
                    runner.stats.unkeyed += 1;
                    continue;
                }
            }
            for key in &keys {
                if !out.iter().any(|t| t.kind == *kind && t.key == **key) {
                    out.push(ThroughKey { kind: kind.clone(), key: key.to_string() });
                }
            }
        }
    }

    /// Registers a through partition: its watermark comes from its upstream partitions'
    /// reports, and it holds back only the through lane's watermark.
    pub fn add_through_partition(&mut self, partition: u32) {
        self.watermark.add_through(partition);
    }

    /// The watermark of `partition`, if the engine has it.
    pub fn partition_watermark(&self, partition: u32) -> Option<i64> {
        self.watermark.partitions().find(|(p, _)| *p == partition).map(|(_, w)| w)
    }

    /// Advances one partition's watermark to `t` (a through partition's, from its upstream
    /// reports); due timers fire if that moved its lane's watermark.
    pub fn advance_partition(&mut self, partition: u32, t: i64, sink: &mut dyn super::EmissionSink) {
        self.watermark.advance_partition(partition, t);
        self.fire_timers(sink);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::emission::{Emission, EmissionSink};
    use crate::engine::{EngineConfig, Operator};
    use crate::model::{EventKind, Product};
    use crate::plugin::native;
    use live_shopper_abi::SchemaCriterion;
    use std::collections::BTreeMap;

    /// Redis as the fenced writes leave it: per hash, the fields of the newest as-of; and the
    /// ids of the signals.
    #[derive(Default)]
    struct Hashes(BTreeMap<String, (i64, Vec<(String, String)>)>, Vec<String>);

    impl EmissionSink for Hashes {
        fn signal(&mut self, s: &crate::engine::emission::Signal<'_>) {
            self.1.push(format!("{}/{}/{}", s.plugin, s.key, s.at));
        }

        fn emit(&mut self, e: &Emission<'_>) {
            let fields = crate::sink::hash::fields(e).into_iter().map(|(k, v)| (k.to_string(), v)).collect();
            let entry = self.0.entry(crate::sink::hash::key(e)).or_insert((i64::MIN, Vec::new()));
            if e.as_of >= entry.0 {
                *entry = (e.as_of, fields);
            }
        }
    }

    /// The default plugins, flash-sale alerting on any window with two views.
    fn engine() -> Engine {
        let alerting = [("min_views", "1"), ("max_purchases", "1000")];
        let ops = native::default_set()
            .into_iter()
            .map(|o| match o.descriptor().name.as_str() {
                "flash-sale" => {
                    o.with_settings(alerting.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect())
                }
                _ => o,
            })
            .map(|o| Box::new(o) as Box<dyn Operator>)
            .collect();
        Engine::new(EngineConfig::default(), ops)
    }

    /// Views and purchases of three products by six shoppers, over two input partitions
    /// (a shopper's events on one), an hour of event time.
    fn stream() -> Vec<(u32, Event)> {
        let t0 = 1_700_000_000_000 - 1_700_000_000_000 % 3_600_000;
        (0..600)
            .map(|i: i64| {
                let shopper = i % 6;
                let e = Event {
                    event_id: format!("e{i}"),
                    event_time: t0 + i * 6_000,
                    kind: if i % 7 == 0 { EventKind::Transaction } else { EventKind::ProductView },
                    shopper_id: format!("s{shopper}"),
                    session_id: Some(format!("session-{shopper}")),
                    products: vec![Product {
                        id: format!("p{}", i % 3),
                        price: Some(10.0),
                        quantity: 1,
                        ..Default::default()
                    }],
                    ..Default::default()
                };
                ((shopper % 2) as u32, e)
            })
            .collect()
    }

    #[test]
    fn a_repartitioned_engine_ends_with_the_hashes_of_one_engine() {
        let events = stream();
        let (mut one, mut want) = (engine(), Hashes::default());
        for (p, e) in &events {
            one.process_partitions(&[(*p, std::slice::from_ref(e))], &mut want);
        }
        one.advance_watermark(i64::MAX / 2, &mut want);

        // Input partitions 0 and 1 forward in chunks to through partition 2, which runs a
        // chunk behind, its watermark the least of its upstream partitions'.
        let (mut split, mut got) = (engine(), Hashes::default());
        split.repartition();
        split.add_through_partition(2);
        for chunk in events.chunks(50) {
            let (mut through, mut keys) = (Vec::new(), Vec::new());
            for (p, e) in chunk {
                split.process_partitions(&[(*p, std::slice::from_ref(e))], &mut got);
                let mut out = Vec::new();
                split.through_keys(e, &mut out);
                for key in out {
                    through.push(e.clone());
                    keys.push(key);
                }
            }
            let part = PartitionEvents { partition: 2, events: &through, through: Some(&keys) };
            split.process_step(&[part], &mut got);
            // A repeat of the chunk is a duplicate on the through partition.
            split.process_step(&[part], &mut got);
            let least = [0, 1].map(|p| split.partition_watermark(p).unwrap()).into_iter().min().unwrap();
            split.advance_partition(2, least, &mut got);
        }
        split.advance_watermark(i64::MAX / 2, &mut got);
        assert!(want.0.keys().any(|k| k.starts_with("product:")), "product hashes are compared");
        assert_eq!(got.0, want.0);
        assert!(!want.1.is_empty(), "flash-sale alerts");
        let sorted = |mut ids: Vec<String>| {
            ids.sort();
            ids
        };
        assert_eq!(sorted(got.1), sorted(want.1));
        assert!(split.stats().through_duplicates > 0);
    }

    #[test]
    fn a_keyed_dedup_id_is_the_compact_id_of_event_kind_and_key() {
        // The ids changelogs already hold were made from the joined string.
        let key = ThroughKey { kind: "product".into(), key: "p-1".into() };
        let id = "8d222008-ffeb-455c-a26d-7cb9380dcc67";
        assert_eq!(
            keyed_dedup_id(id, &key),
            crate::engine::dedup::compact_id(&format!("{id}\0product\0p-1"))
        );
    }

    #[test]
    fn only_keys_the_input_does_not_group_have_a_kind() {
        let by = |key| Descriptor { key, ..Default::default() };
        assert_eq!(kind_of(&by(KeyKind::Shopper)), None);
        assert_eq!(kind_of(&by(KeyKind::Session)), None);
        assert_eq!(kind_of(&by(KeyKind::Product)).as_deref(), Some("product"));
        assert_eq!(kind_of(&by(KeyKind::Global)).as_deref(), Some("global"));
        let d = Descriptor {
            key: KeyKind::EntityField { entity: 0, field: "store_id".into() },
            entities: vec![SchemaCriterion::parse("iglu:com.acme/loyalty/jsonschema/1-*-*").unwrap()],
            ..Default::default()
        };
        assert_eq!(kind_of(&d).as_deref(), Some("entity:com.acme/loyalty/1.store_id"));
    }
}
