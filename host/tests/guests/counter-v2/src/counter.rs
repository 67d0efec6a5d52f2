//! Counts each shopper's events; state schema 2 keeps the count as decimal text. Shared by the
//! `counter-v2` guests with and without a migration.

use live_shopper_sdk::abi::DecodeError;
use live_shopper_sdk::{group, Descriptor, Emitter, EventFields, EventKinds, KeyKind, Plugin, State, Step};

/// The counter plugin, version 2.0.0 (state schema 2).
pub struct CounterV2;

/// A shopper's event count; encoded as decimal text.
#[derive(Default)]
pub struct Count(pub u64);

impl State<'_> for Count {
    fn load(&mut self, bytes: &[u8]) -> Result<(), DecodeError> {
        let text = std::str::from_utf8(bytes).map_err(|_| DecodeError::Utf8 { at: 0 })?;
        self.0 = text.parse().map_err(|_| DecodeError::Truncated { at: 0, wanted: "a decimal count" })?;
        Ok(())
    }
    fn clear(&mut self) {
        self.0 = 0;
    }
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.0.to_string().as_bytes());
    }
    fn is_empty(&self) -> bool {
        self.0 == 0
    }
}

impl Plugin for CounterV2 {
    type State<'a> = Count;

    fn descriptor() -> Descriptor {
        Descriptor {
            name: "counter".into(),
            version: "2.0.0".into(),
            key: KeyKind::Shopper,
            groups: vec![group("n", "test:{key}:counter", 0, 0, 60_000, &["events_seen", "schema"])],
            event_kinds: EventKinds::ALL,
            event_fields: EventFields(0),
            state_schema: 2,
            ..Descriptor::default()
        }
    }

    fn step(state: &mut Count, step: &Step<'_, '_>, out: &mut Emitter<'_, '_>) -> Option<i64> {
        state.0 += step.events.len() as u64;
        out.group(0).int(state.0 as i64).int(2);
        None
    }
}
