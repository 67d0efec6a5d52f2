//! Converts the WIT descriptor a component returns (0.2.0 or 0.1.0) into the engine's native
//! descriptor, refusing what does not parse (a malformed Iglu criterion).

use super::bindings::{v0_1, v0_2};
use live_shopper_abi::{
    Descriptor, EventFields, EventKinds, FeatureGroup, KeyKind, SchemaCriterion, SettingDecl, SettingKind,
    SignalDecl,
};

/// The WIT `feature-group` records (the same in both contracts, as two generated types) as
/// native groups.
macro_rules! feature_groups {
    ($groups:expr) => {
        $groups
            .into_iter()
            .map(|g| FeatureGroup {
                name: g.name,
                redis_key: g.redis_key,
                window_ms: g.window_ms,
                emit_interval_ms: g.emit_interval_ms,
                ttl_ms: g.ttl_ms,
                features: g.features,
            })
            .collect()
    };
}

/// A 0.2.0 descriptor; the error names what does not parse.
pub fn from_wit(d: v0_2::live_shopper::plugin::types::Descriptor) -> Result<Descriptor, String> {
    use v0_2::live_shopper::plugin::types as wit;
    let criteria = |uris: Vec<String>, what: &str| {
        uris.iter()
            .map(|uri| SchemaCriterion::parse(uri).map_err(|e| format!("{what}: {e}")))
            .collect::<Result<Vec<_>, _>>()
    };
    Ok(Descriptor {
        name: d.name,
        version: d.version,
        key: match d.key {
            wit::KeyKind::Shopper => KeyKind::Shopper,
            wit::KeyKind::Session => KeyKind::Session,
            wit::KeyKind::Product => KeyKind::Product,
            wit::KeyKind::Category => KeyKind::Category,
            wit::KeyKind::Global => KeyKind::Global,
            wit::KeyKind::EntityField(f) => KeyKind::EntityField { entity: f.entity, field: f.field },
        },
        groups: feature_groups!(d.groups),
        event_kinds: EventKinds(d.event_kinds.as_array()[0]),
        event_fields: EventFields(d.event_fields.as_array()[0]),
        state_schema: d.state_schema,
        custom_events: criteria(d.custom_events, "custom event")?,
        entities: criteria(d.entities, "entity")?,
        signals: d.signals.into_iter().map(|s| SignalDecl { name: s.name, fields: s.fields }).collect(),
        settings: d
            .settings
            .into_iter()
            .map(|s| SettingDecl {
                name: s.name,
                kind: match s.kind {
                    wit::SettingKind::Text => SettingKind::Text,
                    wit::SettingKind::Integer => SettingKind::Integer,
                    wit::SettingKind::Float => SettingKind::Float,
                    wit::SettingKind::Boolean => SettingKind::Boolean,
                },
                default: s.default,
                min: s.min,
                max: s.max,
                doc: s.doc,
            })
            .collect(),
    })
}

/// A 0.1.0 descriptor: none of the 0.2 additions.
pub fn from_wit_0_1(d: v0_1::live_shopper::plugin::types::Descriptor) -> Descriptor {
    use v0_1::live_shopper::plugin::types as wit;
    Descriptor {
        name: d.name,
        version: d.version,
        key: match d.key {
            wit::KeyKind::Shopper => KeyKind::Shopper,
            wit::KeyKind::Session => KeyKind::Session,
        },
        groups: feature_groups!(d.groups),
        event_kinds: EventKinds(d.event_kinds.as_array()[0]),
        event_fields: EventFields(d.event_fields.as_array()[0]),
        state_schema: d.state_schema,
        ..Descriptor::default()
    }
}
