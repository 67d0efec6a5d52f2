//! Snowplow self-describing entities, shared by every format: which schema is which, and what the
//! normalised event takes from product, cart, checkout_step, transaction, refund, client_session,
//! site_search, the ecommerce action and the UA-parser contexts.

use crate::model::Interest;
use live_shopper_abi::{DeviceClass, Event, EventKind, Product, Refund, SelfDescribing, Transaction};
use serde::Deserialize;
use serde_json::value::RawValue;

use super::json::{text, whole, CartData, CheckoutStepData, ProductData, RefundData, TransactionData};
use super::{device, DecodeError};

/// The entities (and self-describing events) the decoder reads; every other schema is skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum EntityKind {
    Product,
    Cart,
    CheckoutStep,
    Transaction,
    Refund,
    ClientSession,
    SiteSearch,
    EcommerceAction,
    UaParser,
    Yauaa,
}

const ECOM: &str = "com.snowplowanalytics.snowplow.ecommerce";
const SP: &str = "com.snowplowanalytics.snowplow";

/// (Iglu vendor, Iglu name, the analytics SDK's key stem `vendor_name` in snake case, kind).
const KNOWN: [(&str, &str, &str, EntityKind); 10] = [
    (ECOM, "product", "com_snowplowanalytics_snowplow_ecommerce_product", EntityKind::Product),
    (ECOM, "cart", "com_snowplowanalytics_snowplow_ecommerce_cart", EntityKind::Cart),
    (
        ECOM,
        "checkout_step",
        "com_snowplowanalytics_snowplow_ecommerce_checkout_step",
        EntityKind::CheckoutStep,
    ),
    (ECOM, "transaction", "com_snowplowanalytics_snowplow_ecommerce_transaction", EntityKind::Transaction),
    (ECOM, "refund", "com_snowplowanalytics_snowplow_ecommerce_refund", EntityKind::Refund),
    (
        ECOM,
        "snowplow_ecommerce_action",
        "com_snowplowanalytics_snowplow_ecommerce_snowplow_ecommerce_action",
        EntityKind::EcommerceAction,
    ),
    (SP, "client_session", "com_snowplowanalytics_snowplow_client_session", EntityKind::ClientSession),
    (SP, "site_search", "com_snowplowanalytics_snowplow_site_search", EntityKind::SiteSearch),
    (SP, "ua_parser_context", "com_snowplowanalytics_snowplow_ua_parser_context", EntityKind::UaParser),
    ("nl.basjes", "yauaa_context", "nl_basjes_yauaa_context", EntityKind::Yauaa),
];

impl EntityKind {
    /// Whether the kind only feeds event fields (not the kind or the session id), so it is
    /// skipped unread when no loaded plugin reads the standard entities.
    fn feeds_fields_only(self) -> bool {
        matches!(
            self,
            EntityKind::Product
                | EntityKind::Cart
                | EntityKind::CheckoutStep
                | EntityKind::Transaction
                | EntityKind::Refund
                | EntityKind::UaParser
                | EntityKind::Yauaa
        )
    }

    /// The Iglu name, used in error messages.
    pub(super) fn name(self) -> &'static str {
        KNOWN.iter().find(|k| k.3 == self).map_or("entity", |k| k.1)
    }
}

/// The kind for an Iglu URI such as `iglu:com.snowplowanalytics.snowplow.ecommerce/product/jsonschema/1-0-0`
/// (any version).
pub(super) fn kind_from_iglu(uri: &str) -> Option<EntityKind> {
    let mut parts = uri.strip_prefix("iglu:")?.split('/');
    let (vendor, name) = (parts.next()?, parts.next()?);
    KNOWN.iter().find(|k| k.0 == vendor && k.1 == name).map(|k| k.3)
}

/// The kind for an enriched-JSON key: `contexts_<stem>_<major>` or `unstruct_event_<stem>_<major>`
/// (analytics SDK), also `_<major>_<minor>_<patch>` (warehouse column names).
pub(super) fn kind_from_sdk_key(key: &str) -> Option<EntityKind> {
    let mut stem = key.strip_prefix("contexts_").or_else(|| key.strip_prefix("unstruct_event_"))?;
    for _ in 0..3 {
        match stem.rsplit_once('_') {
            Some((head, v)) if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) => stem = head,
            _ => break,
        }
    }
    KNOWN.iter().find(|k| k.2 == stem).map(|k| k.3)
}

/// A custom (not standard) enriched-JSON key some plugin asked for: the Iglu URI it stands for
/// and whether it holds the event (`unstruct_event_…`) rather than entities (`contexts_…`).
pub(super) fn custom_from_sdk_key(key: &str, interest: &Interest) -> Option<(String, bool)> {
    let (is_event, mut stem) = match key.strip_prefix("contexts_") {
        Some(stem) => (false, stem),
        None => (true, key.strip_prefix("unstruct_event_")?),
    };
    let mut version: Vec<&str> = Vec::new();
    while version.len() < 3 {
        match stem.rsplit_once('_') {
            Some((head, v)) if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) => {
                version.insert(0, v);
                stem = head;
            }
            _ => break,
        }
    }
    let major: u32 = version.first()?.parse().ok()?;
    let c = interest.for_sdk_stem(stem, major, is_event)?;
    let rest = |i: usize| version.get(i).copied().unwrap_or("*");
    Some((format!("iglu:{}/{}/jsonschema/{major}-{}-{}", c.vendor, c.name, rest(1), rest(2)), is_event))
}

/// What one record's entities contribute to the event. Products accumulate; for the others the
/// first entity of its kind wins. Custom events and entities some plugin asked for are kept raw.
#[derive(Debug, Default)]
pub(super) struct Entities {
    /// Skip the entities that only feed event fields (no loaded plugin reads them).
    skip_field_entities: bool,
    /// The custom events and entities kept, in record order.
    custom: Vec<SelfDescribing>,
    pub products: Vec<Product>,
    pub cart_total: Option<f64>,
    pub checkout_step: Option<u32>,
    pub transaction: Option<Transaction>,
    pub refund: Option<Refund>,
    /// `client_session.sessionId` (Live Shopper JSON: `session.sessionId`).
    pub session_id: Option<String>,
    /// The terms of a `site_search` event; `Some` (maybe empty) when the event is a search.
    pub search: Option<Vec<String>>,
    /// The ecommerce action's `type`, `Other` when unknown.
    pub action: Option<EventKind>,
    /// The ecommerce action's `name` (Live Shopper JSON: `payload.list_name`).
    pub list_name: Option<String>,
    yauaa: Option<DeviceClass>,
    ua_parser: Option<DeviceClass>,
}

impl Entities {
    /// Collects what `interest` asks for.
    pub(super) fn for_interest(interest: &Interest) -> Self {
        Entities { skip_field_entities: !interest.standard_entities, ..Entities::default() }
    }

    /// Keeps the data of the self-describing item `schema` (the caller checked some plugin
    /// asked for it): the event's when `is_event`, else an entity's.
    pub(super) fn keep(&mut self, schema: String, data: &str, is_event: bool) {
        self.custom.push(SelfDescribing { schema, data: data.trim().to_string(), is_event });
    }

    /// Adds one entity, or each entity of a JSON array of them; `null` adds nothing.
    pub(super) fn add_json(&mut self, kind: EntityKind, json: &str) -> Result<(), DecodeError> {
        let trimmed = json.trim();
        if trimmed.starts_with('[') {
            let items: Vec<&RawValue> =
                serde_json::from_str(trimmed).map_err(|e| bad(kind, e.to_string()))?;
            items.into_iter().try_for_each(|item| self.add(kind, item.get()))
        } else if trimmed == "null" {
            Ok(())
        } else {
            self.add(kind, trimmed)
        }
    }

    /// Adds one entity given as its JSON data object.
    pub(super) fn add(&mut self, kind: EntityKind, json: &str) -> Result<(), DecodeError> {
        if self.skip_field_entities && kind.feeds_fields_only() {
            return Ok(());
        }
        let fail = |reason: String| bad(kind, reason);
        match kind {
            EntityKind::Product => {
                if let Some(p) =
                    parse::<ProductData>(json).and_then(ProductData::into_product).map_err(fail)?
                {
                    self.products.push(p);
                }
            }
            EntityKind::Cart => {
                let cart = parse::<CartData>(json).map_err(fail)?;
                self.cart_total = self.cart_total.or(cart.total_value.0);
            }
            EntityKind::CheckoutStep => {
                let step =
                    parse::<CheckoutStepData>(json).and_then(|c| whole("step", c.step)).map_err(fail)?;
                self.checkout_step = self.checkout_step.or(step);
            }
            EntityKind::Transaction => {
                let t = parse::<TransactionData>(json)
                    .and_then(TransactionData::into_transaction)
                    .map_err(fail)?;
                self.transaction = self.transaction.take().or(t);
            }
            EntityKind::Refund => {
                let r = parse::<RefundData>(json).and_then(RefundData::into_refund).map_err(fail)?;
                self.refund = self.refund.take().or(r);
            }
            EntityKind::ClientSession => {
                let s = parse::<ClientSessionData>(json).map_err(fail)?;
                self.session_id = self.session_id.take().or(text(s.session_id));
            }
            EntityKind::SiteSearch => {
                let s = parse::<SiteSearchData>(json).map_err(fail)?;
                let terms = s.terms.unwrap_or_default().into_iter().filter(|t| !t.is_empty()).collect();
                self.search.get_or_insert(terms);
            }
            EntityKind::EcommerceAction => {
                let a = parse::<ActionData>(json).map_err(fail)?;
                if self.action.is_none() {
                    self.action = Some(a.kind.as_deref().map_or(EventKind::Other, EventKind::from_name));
                    self.list_name = self.list_name.take().or(text(a.name));
                }
            }
            EntityKind::UaParser => {
                let class = device::from_ua_parser_entity(json).map_err(|e| fail(e.to_string()))?;
                self.ua_parser = self.ua_parser.or(class);
            }
            EntityKind::Yauaa => {
                let class = device::from_yauaa_entity(json).map_err(|e| fail(e.to_string()))?;
                self.yauaa = self.yauaa.or(class);
            }
        }
        Ok(())
    }

    /// The kind by the rule of FEATURES.md §1 for Snowplow events: `page_view`, the ecommerce action's
    /// type, `site_search`, `page_ping`, else `other`. `event_name` is the atomic event name.
    pub(super) fn snowplow_kind(&self, event_name: Option<&str>) -> EventKind {
        if event_name == Some("page_view") {
            EventKind::PageView
        } else if let Some(kind) = self.action {
            kind
        } else if self.search.is_some() {
            EventKind::SiteSearch
        } else if event_name == Some("page_ping") {
            EventKind::PagePing
        } else {
            EventKind::Other
        }
    }

    /// Moves what was found into `e`, whose `kind` is already set. `session_fallback` is the
    /// `domain_sessionid`; `useragent` decides the device class when no UA-parser entity did.
    pub(super) fn fill(self, e: &mut Event, session_fallback: Option<String>, useragent: Option<&str>) {
        e.products = self.products;
        e.cart_total = self.cart_total;
        e.checkout_step = self.checkout_step;
        e.transaction = self.transaction;
        e.refund = self.refund;
        e.session_id = self.session_id.or(session_fallback);
        e.search_terms = self.search.unwrap_or_default();
        if matches!(e.kind, EventKind::ListView | EventKind::ListClick) {
            e.list_name = self.list_name;
        }
        e.self_describing = self.custom;
        e.device_class = self
            .yauaa
            .or(self.ua_parser)
            .or_else(|| useragent.map(device::from_user_agent))
            .unwrap_or(DeviceClass::Other);
    }
}

fn bad(kind: EntityKind, reason: String) -> DecodeError {
    DecodeError::BadEntity { entity: kind.name(), reason }
}

fn parse<'a, T: Deserialize<'a>>(json: &'a str) -> Result<T, String> {
    serde_json::from_str(json).map_err(|e| e.to_string())
}

#[derive(Deserialize)]
struct ClientSessionData {
    #[serde(rename = "sessionId")]
    session_id: Option<String>,
}

#[derive(Deserialize)]
struct SiteSearchData {
    terms: Option<Vec<String>>,
}

#[derive(Deserialize)]
struct ActionData {
    #[serde(rename = "type")]
    kind: Option<String>,
    name: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entities(items: &[(EntityKind, &str)]) -> Result<Entities, DecodeError> {
        let mut found = Entities::default();
        items.iter().try_for_each(|&(kind, json)| found.add_json(kind, json)).map(|()| found)
    }

    fn reason(kind: EntityKind, json: &str) -> String {
        entities(&[(kind, json)]).unwrap_err().to_string()
    }

    #[test]
    fn schema_names() {
        for (vendor, name, stem, kind) in KNOWN {
            assert_eq!(kind_from_iglu(&format!("iglu:{vendor}/{name}/jsonschema/1-0-2")), Some(kind));
            assert_eq!(stem, format!("{}_{name}", vendor.replace('.', "_")));
            assert_eq!(kind_from_sdk_key(&format!("contexts_{stem}_1")), Some(kind));
            assert_eq!(kind_from_sdk_key(&format!("unstruct_event_{stem}_1_0_2")), Some(kind));
        }
        assert_eq!(kind_from_iglu("iglu:com.snowplowanalytics.snowplow/web_page/jsonschema/1-0-0"), None);
        assert_eq!(kind_from_iglu("com.snowplowanalytics.snowplow.ecommerce/product/jsonschema/1-0-0"), None);
        assert_eq!(kind_from_sdk_key("contexts_org_w3_performance_navigation_timing_1"), None);
        assert_eq!(kind_from_sdk_key("com_snowplowanalytics_snowplow_ecommerce_product_1"), None);
    }

    #[test]
    fn products() {
        let found = entities(&[
            (
                EntityKind::Product,
                r#"{"id":"1","category":"Hats","price":"12.50","currency":"EUR","quantity":"2"}"#,
            ),
            (EntityKind::Product, r#"[{"id":2,"price":3,"name":"","quantity":null}, {}]"#),
            (EntityKind::Product, "null"),
        ])
        .unwrap();
        let p = &found.products;
        assert_eq!(p.len(), 2);
        assert_eq!(
            (p[0].id.as_str(), p[0].price, p[0].quantity, p[0].category.as_deref()),
            ("1", Some(12.5), 2, Some("Hats"))
        );
        assert_eq!(
            (p[1].id.as_str(), p[1].price, p[1].quantity, p[1].name.as_deref()),
            ("2", Some(3.0), 1, None)
        );
        assert_eq!(reason(EntityKind::Product, r#"{"price":1}"#), "bad product entity: product without id");
        assert!(reason(EntityKind::Product, r#"{"id":"1","quantity":-1}"#)
            .contains("quantity -1 is not a whole number"));
        assert!(reason(EntityKind::Product, r#"{"id":"1","category":5}"#)
            .starts_with("bad product entity: invalid type"));
        assert!(reason(EntityKind::Product, "[1]").starts_with("bad product entity: invalid type"));
    }

    #[test]
    fn first_entity_of_a_kind_wins() {
        let found = entities(&[
            (EntityKind::Cart, r#"{"total_value":"0"}"#),
            (EntityKind::Cart, r#"{"total_value":99}"#),
            (EntityKind::CheckoutStep, r#"{}"#),
            (EntityKind::CheckoutStep, r#"{"step":"2"}"#),
            (EntityKind::ClientSession, r#"{"sessionId":"s1","previousSessionId":null}"#),
            (EntityKind::ClientSession, r#"{"sessionId":"s2"}"#),
            (EntityKind::EcommerceAction, r#"{"type":"list_view","name":"Top"}"#),
            (EntityKind::EcommerceAction, r#"{"type":"refund","name":"x"}"#),
            (EntityKind::Yauaa, r#"{"deviceClass":"Unknown"}"#),
            (EntityKind::UaParser, r#"{"deviceFamily":"iPhone"}"#),
        ])
        .unwrap();
        assert_eq!((found.cart_total, found.checkout_step), (Some(0.0), Some(2)));
        assert_eq!(found.session_id.as_deref(), Some("s1"));
        assert_eq!((found.action, found.list_name.as_deref()), (Some(EventKind::ListView), Some("Top")));
        assert_eq!(found.snowplow_kind(Some("snowplow_ecommerce_action")), EventKind::ListView);
        assert_eq!(found.snowplow_kind(Some("page_view")), EventKind::PageView);
        let mut e = Event { kind: EventKind::ProductView, ..Event::default() };
        found.fill(&mut e, Some("fallback".into()), Some("Mozilla/5.0 (X11; Linux x86_64)"));
        assert_eq!(
            (e.list_name, e.device_class),
            (None, DeviceClass::Mobile),
            "list_name only for list events"
        );
    }

    #[test]
    fn transactions_refunds_searches() {
        let found = entities(&[
            (EntityKind::Transaction, r#"{"transaction_id":"T1","revenue":"13.0","currency":"EUR","payment_method":"BNPL","total_quantity":"1","tax":null}"#),
            (EntityKind::Refund, r#"{"transaction_id":"T0","currency":"EUR","refund_amount":4.5}"#),
            (EntityKind::SiteSearch, r#"{"terms":["boots"],"filters":{"size":"42"}}"#),
        ])
        .unwrap();
        let t = found
            .transaction
            .as_ref()
            .map(|t| (t.id.as_str(), t.revenue, t.currency.as_deref(), t.total_quantity));
        assert_eq!(t, Some(("T1", 13.0, Some("EUR"), Some(1))));
        assert_eq!(found.refund, Some(Refund { transaction_id: "T0".into(), amount: 4.5 }));
        assert_eq!(found.search.as_deref(), Some(&["boots".to_owned()][..]));
        assert_eq!(found.snowplow_kind(Some("site_search")), EventKind::SiteSearch);
        assert_eq!(found.snowplow_kind(Some("page_ping")), EventKind::SiteSearch);
        assert_eq!(Entities::default().snowplow_kind(Some("page_ping")), EventKind::PagePing);
        assert_eq!(Entities::default().snowplow_kind(Some("struct")), EventKind::Other);
        assert_eq!(
            reason(EntityKind::Transaction, r#"{"revenue":1}"#),
            "bad transaction entity: transaction without transaction_id"
        );
        assert_eq!(
            reason(EntityKind::Transaction, r#"{"transaction_id":"T"}"#),
            "bad transaction entity: transaction without revenue"
        );
        assert_eq!(
            reason(EntityKind::Refund, r#"{"transaction_id":"T"}"#),
            "bad refund entity: refund without refund_amount"
        );
        assert!(reason(EntityKind::SiteSearch, r#"{"terms":"boots"}"#)
            .starts_with("bad site_search entity: invalid type"));
        assert!(entities(&[(EntityKind::Transaction, "{}"), (EntityKind::Refund, "{}")])
            .unwrap()
            .transaction
            .is_none());
    }
}
