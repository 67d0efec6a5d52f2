//! Which events a plugin gets and under which keys: its kinds and custom events, its key kind
//! (shopper, session, one key per product or category, one global key, or a field of a
//! declared entity), and the self-describing data each event carries to it.

use crate::model::Event;
use live_shopper_abi::{Descriptor, KeyKind, SchemaCriterion, SelfDescribing, GLOBAL_KEY};
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::collections::BTreeMap;

/// Why an event a plugin wants has no key for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum NoKey {
    /// The event has nothing of that kind (no session id, no products): not sent, not counted.
    Absent,
    /// The declared entity field is missing or not a string or whole number: counted as
    /// `unkeyed` in the plugin's report.
    Unfit,
}

/// Whether `descriptor`'s plugin takes `e`: its kind is asked for, or it is a custom event the
/// plugin subscribes to.
pub(super) fn wants(descriptor: &Descriptor, e: &Event) -> bool {
    descriptor.event_kinds.contains(e.kind)
        || custom_event(&descriptor.custom_events, &e.self_describing).is_some()
}

/// Appends `e`'s keys for `descriptor`'s plugin to `keys` (distinct, in record order).
pub(super) fn keys_of<'e>(
    descriptor: &Descriptor,
    e: &'e Event,
    keys: &mut Vec<Cow<'e, str>>,
) -> Result<(), NoKey> {
    let mut push_distinct = |k: &'e str| {
        if !keys.iter().any(|have| have == k) {
            keys.push(Cow::Borrowed(k));
        }
    };
    match &descriptor.key {
        KeyKind::Shopper => push_distinct(&e.shopper_id),
        KeyKind::Session => match e.session_id.as_deref().filter(|s| !s.is_empty()) {
            Some(s) => push_distinct(s),
            None => return Err(NoKey::Absent),
        },
        KeyKind::Product => {
            e.products.iter().map(|p| p.id.as_str()).filter(|id| !id.is_empty()).for_each(push_distinct)
        }
        KeyKind::Category => e
            .products
            .iter()
            .filter_map(|p| p.category.as_deref())
            .filter(|c| !c.is_empty())
            .for_each(push_distinct),
        KeyKind::Global => push_distinct(GLOBAL_KEY),
        KeyKind::EntityField { entity, field } => {
            let criterion = &descriptor.entities[*entity as usize];
            let Some(data) =
                e.self_describing.iter().find(|sd| !sd.is_event && criterion.matches(&sd.schema))
            else {
                return Err(NoKey::Absent);
            };
            keys.push(field_value(&data.data, field).ok_or(NoKey::Unfit)?);
        }
    }
    if keys.is_empty() {
        Err(NoKey::Absent)
    } else {
        Ok(())
    }
}

/// The value of top-level field `field` of the JSON object `json`: a string as it is, a whole
/// number in decimal; anything else (missing, null, a fraction, an object) is `None`.
fn field_value<'e>(json: &'e str, field: &str) -> Option<Cow<'e, str>> {
    let object: BTreeMap<Cow<'e, str>, &'e RawValue> = serde_json::from_str(json).ok()?;
    let raw = object.get(field)?.get();
    if raw.starts_with('"') {
        return serde_json::from_str::<String>(raw).ok().map(Cow::Owned);
    }
    let number: i64 = serde_json::from_str(raw).ok()?;
    Some(Cow::Owned(number.to_string()))
}

/// The custom event `items` hold for a plugin subscribing to `criteria`: (index, data).
pub(super) fn custom_event<'e>(
    criteria: &[SchemaCriterion],
    items: &'e [SelfDescribing],
) -> Option<(u8, &'e str)> {
    if criteria.is_empty() {
        return None;
    }
    let event = items.iter().find(|sd| sd.is_event)?;
    let index = criteria.iter().position(|c| c.matches(&event.schema))?;
    Some((index as u8, event.data.as_str()))
}

/// Appends the entities among `items` a plugin declaring `criteria` gets: (index, data).
pub(super) fn entities_for<'e>(
    criteria: &[SchemaCriterion],
    items: &'e [SelfDescribing],
    out: &mut Vec<(u8, &'e str)>,
) {
    for sd in items.iter().filter(|sd| !sd.is_event) {
        if let Some(index) = criteria.iter().position(|c| c.matches(&sd.schema)) {
            out.push((index as u8, sd.data.as_str()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use live_shopper_abi::{Product, SchemaCriterion};

    fn loyalty(data: &str) -> SelfDescribing {
        SelfDescribing {
            schema: "iglu:com.acme/loyalty/jsonschema/1-0-0".into(),
            data: data.into(),
            is_event: false,
        }
    }

    fn keys(d: &Descriptor, e: &Event) -> Result<Vec<String>, NoKey> {
        let mut keys = Vec::new();
        keys_of(d, e, &mut keys).map(|()| keys.into_iter().map(Cow::into_owned).collect())
    }

    #[test]
    fn product_category_and_global_keys() {
        let product = |id: &str, category: Option<&str>| Product {
            id: id.into(),
            category: category.map(Into::into),
            ..Default::default()
        };
        let e = Event {
            products: vec![product("p1", Some("Hats")), product("p2", Some("Hats")), product("p1", None)],
            ..Default::default()
        };
        let by = |key| Descriptor { key, ..Default::default() };
        assert_eq!(keys(&by(KeyKind::Product), &e).unwrap(), ["p1", "p2"]);
        assert_eq!(keys(&by(KeyKind::Category), &e).unwrap(), ["Hats"]);
        assert_eq!(keys(&by(KeyKind::Global), &e).unwrap(), ["global"]);
        assert_eq!(keys(&by(KeyKind::Product), &Event::default()), Err(NoKey::Absent));
    }

    #[test]
    fn an_entity_field_key_is_a_string_or_whole_number_else_the_event_is_unfit() {
        let d = Descriptor {
            key: KeyKind::EntityField { entity: 0, field: "store_id".into() },
            entities: vec![SchemaCriterion::parse("iglu:com.acme/loyalty/jsonschema/1-*-*").unwrap()],
            ..Default::default()
        };
        let with = |data: &str| Event { self_describing: vec![loyalty(data)], ..Default::default() };
        assert_eq!(keys(&d, &with(r#"{"store_id":"s\u00e9-1"}"#)).unwrap(), ["sé-1"]);
        assert_eq!(keys(&d, &with(r#"{"store_id":42,"tier":"gold"}"#)).unwrap(), ["42"]);
        assert_eq!(keys(&d, &with(r#"{"store_id":4.5}"#)), Err(NoKey::Unfit));
        assert_eq!(keys(&d, &with(r#"{"tier":"gold"}"#)), Err(NoKey::Unfit));
        assert_eq!(keys(&d, &with(r#"[1]"#)), Err(NoKey::Unfit));
        assert_eq!(keys(&d, &Event::default()), Err(NoKey::Absent));
    }

    #[test]
    fn self_describing_data_is_selected_by_the_plugin_s_criteria() {
        let criteria = [SchemaCriterion::parse("iglu:com.acme/loyalty/jsonschema/1-*-*").unwrap()];
        let wishlist = SelfDescribing {
            schema: "iglu:com.acme/wishlist_add/jsonschema/1-0-0".into(),
            data: "{}".into(),
            is_event: true,
        };
        let items = [wishlist, loyalty(r#"{"tier":"gold"}"#), loyalty("{}")];
        let mut out = Vec::new();
        entities_for(&criteria, &items, &mut out);
        assert_eq!(out, [(0, r#"{"tier":"gold"}"#), (0, "{}")]);
        assert_eq!(custom_event(&criteria, &items), None);
        let events = [SchemaCriterion::parse("iglu:com.acme/wishlist_add/jsonschema/1-*-*").unwrap()];
        assert_eq!(custom_event(&events, &items), Some((0, "{}")));
    }
}
