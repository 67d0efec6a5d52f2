//! A plugin that never returns from `process`: the host's CPU deadline must stop it.

use live_shopper_sdk::{
    group, Descriptor, Emitter, EventFields, EventKinds, KeyKind, Plugin, Stateless, Step,
};

/// The plugin whose every step loops forever.
pub struct EndlessLoop;

impl Plugin for EndlessLoop {
    type State<'a> = Stateless;

    fn descriptor() -> Descriptor {
        Descriptor {
            name: "endless-loop".into(),
            version: "0.0.1".into(),
            key: KeyKind::Shopper,
            groups: vec![group("x", "test:{key}:loop", 0, 0, 60_000, &["never"])],
            event_kinds: EventKinds::ALL,
            event_fields: EventFields(0),
            state_schema: 1,
            ..Descriptor::default()
        }
    }

    fn step(_: &mut Stateless, step: &Step<'_, '_>, _: &mut Emitter<'_, '_>) -> Option<i64> {
        let mut n = step.as_of;
        loop {
            n = std::hint::black_box(n.wrapping_add(1));
        }
    }
}

live_shopper_sdk::export_plugin!(EndlessLoop);
