//! The normalised event model the whole host works on (defined in `live-shopper-abi`, shared
//! with plugins), re-exported here so the rest of the host names it in one place; and
//! [`Interest`], what the loaded plugins need a decoder to read of a record.

pub use live_shopper_abi::{
    DeviceClass, Event, EventKind, Geo, Marketing, Page, Product, Refund, SelfDescribing, Transaction,
};

use live_shopper_abi::{Descriptor, EventFields, KeyKind, SchemaCriterion};

/// What the loaded plugins need of a record, beyond its atomic fields: whether any reads the
/// standard ecommerce entities (products, cart, checkout step, transaction, refund, UA
/// parsers), and the custom events and entities some plugin asked for. A decoder parses
/// nothing else: an entity no plugin asked for is skipped unread.
#[derive(Debug, Clone, PartialEq)]
pub struct Interest {
    /// Parse the standard entities (else only those the kind and session id come from).
    pub standard_entities: bool,
    /// Self-describing events to keep (their data, raw).
    pub custom_events: Vec<SchemaCriterion>,
    /// Entities to keep (their data, raw).
    pub entities: Vec<SchemaCriterion>,
}

impl Default for Interest {
    /// Every standard entity and no custom data: what the five default plugins need.
    fn default() -> Self {
        Interest { standard_entities: true, custom_events: Vec::new(), entities: Vec::new() }
    }
}

/// Event fields that come from the standard entities.
const ENTITY_FIELDS: u32 = EventFields::PRODUCTS
    | EventFields::CART_TOTAL
    | EventFields::CHECKOUT_STEP
    | EventFields::TRANSACTION
    | EventFields::REFUND
    | EventFields::DEVICE_CLASS;

impl Interest {
    /// The union of what `descriptors` need.
    pub fn of<'d>(descriptors: impl Iterator<Item = &'d Descriptor>) -> Self {
        let mut interest =
            Interest { standard_entities: false, custom_events: Vec::new(), entities: Vec::new() };
        for d in descriptors {
            interest.standard_entities |= d.event_fields.0 & ENTITY_FIELDS != 0
                || matches!(d.key, KeyKind::Product | KeyKind::Category);
            for c in &d.custom_events {
                if !interest.custom_events.contains(c) {
                    interest.custom_events.push(c.clone());
                }
            }
            for c in &d.entities {
                if !interest.entities.contains(c) {
                    interest.entities.push(c.clone());
                }
            }
        }
        interest
    }

    /// Whether some plugin asked for the self-describing event with Iglu URI `uri`.
    pub fn wants_event(&self, uri: &str) -> bool {
        self.custom_events.iter().any(|c| c.matches(uri))
    }

    /// Whether some plugin asked for the entity with Iglu URI `uri`.
    pub fn wants_entity(&self, uri: &str) -> bool {
        self.entities.iter().any(|c| c.matches(uri))
    }

    /// The criterion some plugin asked for that matches an enriched-JSON key stem (the
    /// analytics SDK's `vendor_name` in snake case) and major version, as (criterion, is_event).
    pub fn for_sdk_stem(&self, stem: &str, major: u32, is_event: bool) -> Option<&SchemaCriterion> {
        let list = if is_event { &self.custom_events } else { &self.entities };
        list.iter().find(|c| c.matches_sdk_stem(stem, major))
    }

    /// Whether any custom data is asked for.
    pub fn wants_custom(&self) -> bool {
        !self.custom_events.is_empty() || !self.entities.is_empty()
    }
}
