//! The JSON columns of an enriched event: `contexts` (Snowplow ecommerce entities, web page,
//! browser, client session), `unstruct_event` (ecommerce action, site search) and the derived
//! YAUAA context, shaped as the Iglu schemas in `data/iglu/` say.

use live_shopper_abi::{Event, EventKind, Product};
use serde_json::{json, Map, Value};

use super::catalogue::{promotion_for, CURRENCY};
use super::shopper::{Platform, UserAgent};
use super::{session_index, stable_hash};

const CONTEXTS_SCHEMA: &str = "iglu:com.snowplowanalytics.snowplow/contexts/jsonschema/1-0-1";
const UNSTRUCT_SCHEMA: &str = "iglu:com.snowplowanalytics.snowplow/unstruct_event/jsonschema/1-0-0";
pub(crate) const SNOWPLOW: &str = "com.snowplowanalytics.snowplow";
pub(crate) const ECOMMERCE: &str = "com.snowplowanalytics.snowplow.ecommerce";

/// The `unstruct_event` column: the self-describing event of ecommerce actions and site searches.
pub(crate) fn unstruct_event(event: &Event) -> Option<String> {
    Some(self_describing(UNSTRUCT_SCHEMA, &unstruct_data(event)?))
}

fn unstruct_data(event: &Event) -> Option<String> {
    match event.kind {
        EventKind::PageView | EventKind::PagePing | EventKind::Other => None,
        EventKind::SiteSearch => {
            let results = stable_hash(&[&event.event_id, "results"]) % 240;
            Some(iglu(
                "iglu:com.snowplowanalytics.snowplow/site_search/jsonschema/1-0-0",
                json!({"terms": event.search_terms, "totalResults": results, "pageResults": results.min(24)}),
            ))
        }
        kind => {
            // Written by hand to keep the tracker's key order: `type` first.
            let mut action = format!("{{\"type\":{}", Value::from(kind.as_str()));
            if let Some(name) = &event.list_name {
                action.push_str(&format!(",\"name\":{}", Value::from(name.as_str())));
            }
            action.push('}');
            Some(self_describing(
                &format!("iglu:{ECOMMERCE}/snowplow_ecommerce_action/jsonschema/1-0-2"),
                &action,
            ))
        }
    }
}

/// The `contexts` column: the event's entities, in the order the JavaScript tracker attaches them.
pub(crate) fn contexts(event: &Event, agent: &UserAgent) -> String {
    self_describing(CONTEXTS_SCHEMA, &format!("[{}]", entities(event, agent).join(",")))
}

/// The `derived_contexts` column: what Enrich's YAUAA enrichment says about the user agent.
pub(crate) fn derived_contexts(agent: &UserAgent) -> String {
    let yauaa = iglu(
        "iglu:nl.basjes/yauaa_context/jsonschema/1-0-4",
        json!({
            "deviceClass": agent.yauaa_class,
            "deviceName": agent.device_name,
            "operatingSystemName": agent.os_name,
            "agentClass": if agent.platform == Platform::Web { "Browser" } else { "Mobile App" },
            "agentName": agent.agent_name,
        }),
    );
    self_describing(CONTEXTS_SCHEMA, &format!("[{yauaa}]"))
}

fn entities(event: &Event, agent: &UserAgent) -> Vec<String> {
    let web = agent.platform == Platform::Web;
    let (viewport, screen) = (agent.viewport, agent.screen);
    let mut entities = Vec::new();
    let hash_of = |what: &str| stable_hash(&[event.session_id.as_deref().unwrap_or(""), what]);
    let ecommerce = |name: &str| format!("iglu:{ECOMMERCE}/{name}/jsonschema/1-0-0");
    if let (true, Some(url)) = (web, &event.page.url) {
        let page_view_id = hashed_uuid(stable_hash(&[event.session_id.as_deref().unwrap_or(""), url]));
        entities
            .push(iglu(&format!("iglu:{SNOWPLOW}/web_page/jsonschema/1-0-0"), json!({"id": page_view_id})));
        entities.push(iglu(
            &format!("iglu:{SNOWPLOW}/browser_context/jsonschema/2-0-0"),
            json!({
                "viewport": format!("{}x{}", viewport.0, viewport.1),
                "documentSize": format!("{}x{}", viewport.0, viewport.1 * 3),
                "resolution": format!("{}x{}", screen.0, screen.1),
                "colorDepth": 24, "cookiesEnabled": true, "online": true, "webdriver": false,
                "browserLanguage": "en-US", "documentLanguage": "en",
                "tabId": hashed_uuid(hash_of("tab")),
            }),
        ));
        entities.push(iglu(
            &ecommerce("page"),
            json!({"type": page_type(url), "language": "en", "locale": "en-US"}),
        ));
    }
    let positioned = event.kind == EventKind::ListView;
    for (position, product) in event.products.iter().enumerate() {
        entities.push(iglu(
            &ecommerce("product"),
            product_entity(product, event.kind, positioned.then_some(position)),
        ));
    }
    if let Some(total) = event.cart_total {
        let cart_id = hashed_uuid(stable_hash(&[&event.shopper_id, "cart"]));
        entities.push(iglu(
            &ecommerce("cart"),
            json!({"cart_id": cart_id, "total_value": total, "currency": CURRENCY}),
        ));
    }
    if let Some(step) = event.checkout_step {
        let account_type = if event.user_id.is_some() { "existing user" } else { "guest" };
        let mut data = json!({"step": step, "account_type": account_type});
        if step >= 2 {
            data["delivery_method"] = ["standard delivery", "express delivery", "store pickup"]
                [(hash_of("delivery") % 3) as usize]
                .into();
        }
        entities.push(iglu(&ecommerce("checkout_step"), data));
    }
    if let Some(t) = &event.transaction {
        let total_quantity: u32 =
            t.total_quantity.unwrap_or_else(|| event.products.iter().map(|p| p.quantity).sum());
        let data = json!({
            "transaction_id": t.id,
            "revenue": t.revenue,
            "currency": t.currency.as_deref().unwrap_or(CURRENCY),
            "payment_method": payment_method(&t.id),
            "total_quantity": total_quantity,
        });
        entities.push(iglu(&ecommerce("transaction"), data));
    }
    if event.kind == EventKind::TrnsError {
        entities.push(iglu(
            &ecommerce("transaction_error"),
            json!({
                "error_code": "E522",
                "error_shortcode": "card_declined",
                "error_type": "soft",
                "resolution": "retry_allowed",
            }),
        ));
    }
    if let Some(r) = &event.refund {
        entities.push(iglu(
            &ecommerce("refund"),
            json!({
                "transaction_id": r.transaction_id,
                "currency": CURRENCY,
                "refund_amount": r.amount,
                "refund_reason": "return",
            }),
        ));
    }
    if matches!(event.kind, EventKind::PromoView | EventKind::PromoClick) {
        let promotion = promotion_for(event.session_id.as_deref().unwrap_or(""));
        entities.push(iglu(
            &ecommerce("promotion"),
            json!({
                "id": promotion.id,
                "name": promotion.name,
                "product_ids": promotion.product_ids,
                "position": 0,
                "type": promotion.kind,
                "slot": promotion.slot,
                "creative_id": format!("/promo/{}.webp", promotion.id),
            }),
        ));
    }
    if let Some(user_id) = &event.user_id {
        entities.push(iglu(&ecommerce("user"), json!({"id": user_id, "is_guest": false, "email": user_id})));
    }
    if let Some(session_id) = &event.session_id {
        entities.push(iglu(
            &format!("iglu:{SNOWPLOW}/client_session/jsonschema/1-0-2"),
            json!({
                "userId": event.shopper_id, "sessionId": session_id,
                "sessionIndex": session_index(session_id).unwrap_or(1), "eventIndex": null,
                "previousSessionId": null, "storageMechanism": if web { "COOKIE_1" } else { "SQLITE" },
                "firstEventId": null, "firstEventTimestamp": null,
            }),
        ));
    }
    // Custom entities the event carries (the generator's loyalty entity, say), as Enrich would.
    for sd in event.self_describing.iter().filter(|sd| !sd.is_event) {
        entities.push(self_describing(&sd.schema, &sd.data));
    }
    entities
}

/// A `product` entity; `quantity` is written where it matters (cart, order, refund) or is not 1.
fn product_entity(product: &Product, kind: EventKind, position: Option<usize>) -> Value {
    let mut data = Map::new();
    data.insert("id".into(), product.id.as_str().into());
    let mut put = |key: &str, value: Option<Value>| {
        if let Some(value) = value {
            data.insert(key.into(), value);
        }
    };
    put("name", product.name.as_deref().map(Value::from));
    put("category", product.category.as_deref().map(Value::from));
    put("price", product.price.map(Value::from));
    let counted = matches!(
        kind,
        EventKind::AddToCart
            | EventKind::RemoveFromCart
            | EventKind::Transaction
            | EventKind::TrnsError
            | EventKind::Refund
    );
    put("quantity", (counted || product.quantity != 1).then(|| product.quantity.into()));
    put("currency", product.currency.as_deref().map(Value::from));
    put("brand", product.brand.as_deref().map(Value::from));
    put("position", position.map(Value::from));
    data.into()
}

fn page_type(url: &str) -> &'static str {
    let path = url.split_once("://").map_or(url, |(_, rest)| rest.find('/').map_or("/", |i| &rest[i..]));
    match path {
        p if p.starts_with("/c/") => "category",
        p if p.starts_with("/search") => "search",
        p if p.starts_with("/p/") => "product",
        p if p.starts_with("/cart") => "cart",
        p if p.starts_with("/checkout") => "checkout",
        p if p.starts_with("/account") => "account",
        _ => "homepage",
    }
}

fn payment_method(transaction_id: &str) -> &'static str {
    ["card", "card", "paypal", "apple_pay", "klarna"]
        [(stable_hash(&[transaction_id, "payment"]) % 5) as usize]
}

/// A self-describing JSON object, `schema` first as Snowplow writes it.
fn iglu(schema: &str, data: Value) -> String {
    self_describing(schema, &data.to_string())
}

/// Like [`iglu`] with `data` already JSON text.
fn self_describing(schema: &str, data: &str) -> String {
    format!("{{\"schema\":{},\"data\":{data}}}", Value::from(schema))
}

/// A UUID-shaped id derived from a hash.
pub(crate) fn hashed_uuid(hash: u64) -> String {
    let high = stable_hash(&[&hash.to_string()]);
    let hex = format!("{high:016x}{hash:016x}");
    format!("{}-{}-4{}-a{}-{}", &hex[0..8], &hex[8..12], &hex[13..16], &hex[17..20], &hex[20..32])
}
