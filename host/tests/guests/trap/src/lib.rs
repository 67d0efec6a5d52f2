//! A plugin that panics (a Wasm trap) on every `process` call.

use live_shopper_sdk::{
    group, Descriptor, Emitter, EventFields, EventKinds, KeyKind, Plugin, Stateless, Step,
};

/// The plugin that panics on every step.
pub struct Trap;

impl Plugin for Trap {
    type State<'a> = Stateless;

    fn descriptor() -> Descriptor {
        Descriptor {
            name: "trap".into(),
            version: "0.0.1".into(),
            key: KeyKind::Shopper,
            groups: vec![group("x", "test:{key}:trap", 0, 0, 60_000, &["never"])],
            event_kinds: EventKinds::ALL,
            event_fields: EventFields(0),
            state_schema: 1,
            ..Descriptor::default()
        }
    }

    fn step(_: &mut Stateless, step: &Step<'_, '_>, _: &mut Emitter<'_, '_>) -> Option<i64> {
        panic!("trap plugin always fails (key {})", step.key)
    }
}

live_shopper_sdk::export_plugin!(Trap);
