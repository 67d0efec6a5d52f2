//! The generator's example custom entity: `iglu:com.acme/loyalty/jsonschema/1-0-0` (schema in
//! `schemas/com.acme/loyalty/`), a shopper's tier and points, attached to every event when
//! `generator.loyalty` is on. Stable per shopper, so features computed from it are checkable.

use super::stable_hash;
use crate::model::{Event, SelfDescribing};

/// The entity's Iglu URI.
pub const LOYALTY_SCHEMA: &str = "iglu:com.acme/loyalty/jsonschema/1-0-0";

const TIERS: [&str; 4] = ["bronze", "silver", "gold", "platinum"];

/// The loyalty entity's data for `shopper_id`: `{"tier": …, "points": …}`.
pub fn loyalty_of(shopper_id: &str) -> (&'static str, u64) {
    let hash = stable_hash(&[shopper_id, "loyalty"]);
    (TIERS[(hash % 4) as usize], (hash >> 8) % 20_000)
}

/// Attaches the shopper's loyalty entity to `event`.
pub fn add_loyalty(event: &mut Event) {
    let (tier, points) = loyalty_of(&event.shopper_id);
    event.self_describing.push(SelfDescribing {
        schema: LOYALTY_SCHEMA.to_string(),
        data: format!("{{\"tier\":\"{tier}\",\"points\":{points}}}"),
        is_event: false,
    });
}
