//! Converts the WIT descriptor a component returns into the engine's native descriptor.

use super::bindings::live_shopper::plugin::types as wit;
use live_shopper_abi::{Descriptor, EventFields, EventKinds, FeatureGroup, KeyKind};

pub fn from_wit(d: wit::Descriptor) -> Descriptor {
    Descriptor {
        name: d.name,
        version: d.version,
        key: match d.key {
            wit::KeyKind::Shopper => KeyKind::Shopper,
            wit::KeyKind::Session => KeyKind::Session,
        },
        groups: d
            .groups
            .into_iter()
            .map(|g| FeatureGroup {
                name: g.name,
                redis_key: g.redis_key,
                window_ms: g.window_ms,
                emit_interval_ms: g.emit_interval_ms,
                ttl_ms: g.ttl_ms,
                features: g.features,
            })
            .collect(),
        event_kinds: EventKinds(d.event_kinds.as_array()[0]),
        event_fields: EventFields(d.event_fields.as_array()[0]),
        state_schema: d.state_schema,
    }
}
