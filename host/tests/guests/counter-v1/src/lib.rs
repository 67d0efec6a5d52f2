//! Counts each shopper's events; state schema 1 keeps the count as 8 little-endian bytes.

use live_shopper_sdk::abi::DecodeError;
use live_shopper_sdk::{group, Descriptor, Emitter, EventFields, EventKinds, KeyKind, Plugin, State, Step};

/// The counter plugin, version 1.0.0 (state schema 1).
pub struct CounterV1;

/// A shopper's event count; encoded as 8 little-endian bytes.
#[derive(Default)]
pub struct Count(u64);

impl State<'_> for Count {
    fn load(&mut self, bytes: &[u8]) -> Result<(), DecodeError> {
        self.0 = u64::from_le_bytes(
            bytes.try_into().map_err(|_| DecodeError::Truncated { at: bytes.len(), wanted: "8 bytes" })?,
        );
        Ok(())
    }
    fn clear(&mut self) {
        self.0 = 0;
    }
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.0.to_le_bytes());
    }
    fn is_empty(&self) -> bool {
        self.0 == 0
    }
}

impl Plugin for CounterV1 {
    type State<'a> = Count;

    fn descriptor() -> Descriptor {
        Descriptor {
            name: "counter".into(),
            version: "1.0.0".into(),
            key: KeyKind::Shopper,
            groups: vec![group("n", "test:{key}:counter", 0, 0, 60_000, &["events_seen", "schema"])],
            event_kinds: EventKinds::ALL,
            event_fields: EventFields(0),
            state_schema: 1,
            ..Descriptor::default()
        }
    }

    fn step(state: &mut Count, step: &Step<'_, '_>, out: &mut Emitter<'_, '_>) -> Option<i64> {
        state.0 += step.events.len() as u64;
        out.group(0).int(state.0 as i64).int(1);
        None
    }
}

live_shopper_sdk::export_plugin!(CounterV1);
