//! A plugin whose every call returns more output than the host's per-call limit allows.

use live_shopper_sdk::{
    group, Descriptor, Emitter, EventFields, EventKinds, KeyKind, Plugin, Stateless, Step,
};

/// The plugin whose every step emits a 256 KiB text value.
pub struct OversizedOutput;

impl Plugin for OversizedOutput {
    type State<'a> = Stateless;

    fn descriptor() -> Descriptor {
        Descriptor {
            name: "oversized-output".into(),
            version: "0.0.1".into(),
            key: KeyKind::Shopper,
            groups: vec![group("x", "test:{key}:oversized", 0, 0, 60_000, &["blob"])],
            event_kinds: EventKinds::ALL,
            event_fields: EventFields(0),
            state_schema: 1,
            ..Descriptor::default()
        }
    }

    fn step(_: &mut Stateless, _: &Step<'_, '_>, out: &mut Emitter<'_, '_>) -> Option<i64> {
        // 256 KiB per emission, so any batch's output is past a 64 KiB limit.
        out.group(0).text(&"x".repeat(256 << 10));
        None
    }
}

live_shopper_sdk::export_plugin!(OversizedOutput);
