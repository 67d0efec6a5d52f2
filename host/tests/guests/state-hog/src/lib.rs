//! A plugin whose state grows by 80 KiB with every event, past the host's default per-key state quota (64 KiB).

use live_shopper_sdk::abi::DecodeError;
use live_shopper_sdk::{group, Descriptor, Emitter, EventFields, EventKinds, KeyKind, Plugin, State, Step};

/// The plugin whose state grows by 80 KiB per event (and by 80 KiB on a step without events).
pub struct StateHog;

/// Bytes hoarded per event.
const GROWTH: usize = 80 << 10;

/// The hoarded bytes, stored verbatim as the key's state.
#[derive(Default)]
pub struct Hoard(Vec<u8>);

impl<'a> State<'a> for Hoard {
    fn load(&mut self, bytes: &'a [u8]) -> Result<(), DecodeError> {
        self.0.clear();
        self.0.extend_from_slice(bytes);
        Ok(())
    }
    fn clear(&mut self) {
        self.0.clear();
    }
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.0);
    }
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Plugin for StateHog {
    type State<'a> = Hoard;

    fn descriptor() -> Descriptor {
        Descriptor {
            name: "state-hog".into(),
            version: "0.0.1".into(),
            key: KeyKind::Shopper,
            groups: vec![group("x", "test:{key}:hog", 0, 0, 60_000, &["hoarded_bytes"])],
            event_kinds: EventKinds::ALL,
            event_fields: EventFields(0),
            state_schema: 1,
            ..Descriptor::default()
        }
    }

    fn step(state: &mut Hoard, step: &Step<'_, '_>, out: &mut Emitter<'_, '_>) -> Option<i64> {
        state.0.resize(state.0.len() + GROWTH * step.events.len().max(1), 7);
        out.group(0).count(state.0.len());
        None
    }
}

live_shopper_sdk::export_plugin!(StateHog);
