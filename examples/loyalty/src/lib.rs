//! Example plugin reading a custom entity (contract 0.2): per shopper, the tier and points of the
//! `iglu:com.acme/loyalty/jsonschema/1-*-*` entity (schema in `schemas/com.acme/loyalty/`) on
//! their latest event, in `user:{key}:features:loyalty`. Stateless: each event carries the
//! current standing. An entity that does not parse as the schema says is ignored (the event
//! emits nothing), so a producer's mistake never fails the batch.

use live_shopper_sdk::{
    group, schema, Descriptor, Emitter, EventFields, EventKinds, KeyKind, Plugin, Stateless, Step, DAY,
};
use serde::Deserialize;

/// The entity's data as the schema defines it.
#[derive(Debug, Deserialize, PartialEq)]
pub struct Loyalty {
    /// Programme tier: bronze, silver, gold or platinum.
    pub tier: String,
    /// Points balance.
    pub points: u64,
}

/// The loyalty example plugin.
pub struct LoyaltyPlugin;

impl Plugin for LoyaltyPlugin {
    type State<'a> = Stateless;

    fn descriptor() -> Descriptor {
        Descriptor {
            name: "loyalty".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            key: KeyKind::Shopper,
            groups: vec![group(
                "loyalty",
                "user:{key}:features:loyalty",
                0,
                0,
                30 * DAY,
                &["loyalty_tier", "points_balance"],
            )],
            event_kinds: EventKinds::ALL,
            event_fields: EventFields(0),
            state_schema: 1,
            entities: vec![schema("iglu:com.acme/loyalty/jsonschema/1-*-*")],
            ..Descriptor::default()
        }
    }

    fn step(_: &mut Stateless, step: &Step<'_, '_>, out: &mut Emitter<'_, '_>) -> Option<i64> {
        let latest = step
            .events
            .iter()
            .rev()
            .find_map(|e| e.entity(0).and_then(|json| serde_json::from_str::<Loyalty>(json).ok()));
        if let Some(loyalty) = latest {
            out.group(0).text(&loyalty.tier).int(loyalty.points as i64);
        }
        None
    }
}

live_shopper_sdk::export_plugin!(LoyaltyPlugin);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_descriptor_is_valid_and_asks_for_the_entity() {
        let d = LoyaltyPlugin::descriptor();
        d.validate().unwrap();
        assert!(d.entities[0].matches("iglu:com.acme/loyalty/jsonschema/1-0-0"));
    }

    #[test]
    fn the_entity_parses_as_its_schema_says() {
        let l: Loyalty = serde_json::from_str(r#"{"tier":"gold","points":120}"#).unwrap();
        assert_eq!(l, Loyalty { tier: "gold".into(), points: 120 });
    }
}
