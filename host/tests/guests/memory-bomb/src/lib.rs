//! A plugin that allocates without bound in `process`: the host's memory cap must stop it.

use live_shopper_sdk::{
    group, Descriptor, Emitter, EventFields, EventKinds, KeyKind, Plugin, Stateless, Step,
};

/// The plugin whose every step allocates 1 MiB blocks until stopped.
pub struct MemoryBomb;

impl Plugin for MemoryBomb {
    type State<'a> = Stateless;

    fn descriptor() -> Descriptor {
        Descriptor {
            name: "memory-bomb".into(),
            version: "0.0.1".into(),
            key: KeyKind::Shopper,
            groups: vec![group("x", "test:{key}:bomb", 0, 0, 60_000, &["never"])],
            event_kinds: EventKinds::ALL,
            event_fields: EventFields(0),
            state_schema: 1,
            ..Descriptor::default()
        }
    }

    fn step(_: &mut Stateless, _: &Step<'_, '_>, _: &mut Emitter<'_, '_>) -> Option<i64> {
        let mut hoard: Vec<Vec<u8>> = Vec::new();
        loop {
            hoard.push(vec![1u8; 1 << 20]);
            std::hint::black_box(&hoard);
        }
    }
}

live_shopper_sdk::export_plugin!(MemoryBomb);
