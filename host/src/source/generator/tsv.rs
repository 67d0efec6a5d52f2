//! Snowplow enriched TSV for a normalised event: the 131-column line Enrich would have written for
//! it, carrying every field the way FEATURES.md §1 reads it back.

use live_shopper_abi::{Event, EventKind, Product};
use serde_json::{json, Map, Value};

use super::catalogue::{promotion_for, CURRENCY};
use super::page::query_param;
use super::shopper::{find_place, user_agent_for, Platform};
use super::{delivery_delay_ms, session_index, stable_hash};

/// Columns of an enriched TSV line.
pub const FIELD_COUNT: usize = 131;

// The 0-based columns this writer fills.
const APP_ID: usize = 0;
const PLATFORM: usize = 1;
const ETL_TSTAMP: usize = 2;
const COLLECTOR_TSTAMP: usize = 3;
const DVCE_CREATED_TSTAMP: usize = 4;
const EVENT: usize = 5;
const EVENT_ID: usize = 6;
const NAME_TRACKER: usize = 8;
const V_TRACKER: usize = 9;
const V_COLLECTOR: usize = 10;
const V_ETL: usize = 11;
const USER_ID: usize = 12;
const USER_IPADDRESS: usize = 13;
const DOMAIN_USERID: usize = 15;
const DOMAIN_SESSIONIDX: usize = 16;
const NETWORK_USERID: usize = 17;
const GEO_COUNTRY: usize = 18;
const GEO_REGION: usize = 19;
const GEO_CITY: usize = 20;
const GEO_LATITUDE: usize = 22;
const GEO_LONGITUDE: usize = 23;
const GEO_REGION_NAME: usize = 24;
const PAGE_URL: usize = 29;
const PAGE_TITLE: usize = 30;
const PAGE_REFERRER: usize = 31;
const PAGE_URL_PARTS: usize = 32; // scheme, host, port, path, query, fragment
const REFR_URL_PARTS: usize = 38; // the same for the referrer
const REFR_MEDIUM: usize = 44;
const REFR_SOURCE: usize = 45;
const MKT_MEDIUM: usize = 47;
const MKT_SOURCE: usize = 48;
const MKT_TERM: usize = 49;
const MKT_CONTENT: usize = 50;
const MKT_CAMPAIGN: usize = 51;
const CONTEXTS: usize = 52;
const SE_CATEGORY: usize = 53;
const SE_ACTION: usize = 54;
const UNSTRUCT_EVENT: usize = 58;
const PP_OFFSETS: usize = 73; // xoffset_min, xoffset_max, yoffset_min, yoffset_max
const USERAGENT: usize = 77;
const BR_LANG: usize = 83;
const BR_COOKIES: usize = 93;
const BR_COLORDEPTH: usize = 94;
const BR_VIEWWIDTH: usize = 95;
const BR_VIEWHEIGHT: usize = 96;
const OS_TIMEZONE: usize = 100;
const DVCE_SCREENWIDTH: usize = 103;
const DVCE_SCREENHEIGHT: usize = 104;
const DOC_CHARSET: usize = 105;
const DOC_WIDTH: usize = 106;
const DOC_HEIGHT: usize = 107;
const GEO_TIMEZONE: usize = 115;
const DVCE_SENT_TSTAMP: usize = 119;
const DERIVED_CONTEXTS: usize = 122;
const DOMAIN_SESSIONID: usize = 123;
const DERIVED_TSTAMP: usize = 124;
const EVENT_VENDOR: usize = 125;
const EVENT_NAME: usize = 126;
const EVENT_FORMAT: usize = 127;
const EVENT_VERSION: usize = 128;

const CONTEXTS_SCHEMA: &str = "iglu:com.snowplowanalytics.snowplow/contexts/jsonschema/1-0-1";
const UNSTRUCT_SCHEMA: &str = "iglu:com.snowplowanalytics.snowplow/unstruct_event/jsonschema/1-0-0";
const SNOWPLOW: &str = "com.snowplowanalytics.snowplow";
const ECOMMERCE: &str = "com.snowplowanalytics.snowplow.ecommerce";

/// Appends the enriched TSV line of `event` to `out`: exactly 131 tab-separated fields, no newline.
///
/// Timestamps: `derived_tstamp` is the event time; `collector_tstamp` is later by the delivery delay
/// the generator ordered the stream by; device timestamps carry a per-shopper clock skew, and
/// `derived = collector - (dvce_sent - dvce_created)` holds as in Enrich. Values the event does not
/// carry (user agent, IP, network id, …) are derived from its ids, so the line is a function of the event.
pub fn write_enriched_tsv(event: &Event, out: &mut String) {
    let mut f: Vec<String> = vec![String::new(); FIELD_COUNT];
    let web = event.platform.as_deref() != Some("mob");
    let shopper_hash = stable_hash(&[&event.shopper_id, "shopper"]);
    let event_hash = stable_hash(&[&event.event_id, "event"]);
    let agent = user_agent_for(event.device_class, event.platform.as_deref(), shopper_hash);

    let delay = delivery_delay_ms(event);
    let latency = 10 + (event_hash % 140) as i64;
    let skew = match shopper_hash % 10 {
        0 => (shopper_hash >> 16) as i64 % 120_000 - 60_000,
        _ => (shopper_hash >> 16) as i64 % 400 - 200,
    };
    let created = event.event_time - latency + skew;
    f[APP_ID] = agent.app_id.into();
    f[PLATFORM] = event.platform.clone().unwrap_or_default();
    f[ETL_TSTAMP] = tstamp(event.event_time + delay + 900 + (event_hash >> 20) as i64 % 2_000);
    f[COLLECTOR_TSTAMP] = tstamp(event.event_time + delay);
    f[DVCE_CREATED_TSTAMP] = tstamp(created);
    f[DVCE_SENT_TSTAMP] = tstamp(created + delay);
    f[DERIVED_TSTAMP] = tstamp(event.event_time);
    f[EVENT_ID] = event.event_id.clone();
    f[NAME_TRACKER] = "sp".into();
    f[V_TRACKER] = agent.tracker.into();
    f[V_COLLECTOR] = "ssc-3.2.0-kafka".into();
    f[V_ETL] = "snowplow-enrich-kafka-5.2.0".into();
    f[USER_ID] = event.user_id.clone().unwrap_or_default();
    f[USER_IPADDRESS] = format!("198.51.{}.{}", (shopper_hash >> 8) % 256, (shopper_hash >> 24) % 254 + 1);
    f[DOMAIN_USERID] = event.shopper_id.clone();
    f[NETWORK_USERID] = hashed_uuid(stable_hash(&[&event.shopper_id, "network"]));

    if let Some(session_id) = &event.session_id {
        f[DOMAIN_SESSIONID] = session_id.clone();
        f[DOMAIN_SESSIONIDX] = session_index(session_id).unwrap_or(1).to_string();
    }
    f[GEO_COUNTRY] = event.geo.country.clone().unwrap_or_default();
    f[GEO_REGION] = event.geo.region.clone().unwrap_or_default();
    f[GEO_CITY] = event.geo.city.clone().unwrap_or_default();
    if let Some(place) = find_place(&event.geo) {
        f[GEO_LATITUDE] = place.latitude.to_string();
        f[GEO_LONGITUDE] = place.longitude.to_string();
        f[GEO_REGION_NAME] = place.region_name.into();
        f[GEO_TIMEZONE] = place.timezone.into();
        f[OS_TIMEZONE] = place.timezone.into();
    }

    write_page_fields(event, &mut f);
    f[MKT_MEDIUM] = event.marketing.medium.clone().unwrap_or_default();
    f[MKT_SOURCE] = event.marketing.source.clone().unwrap_or_default();
    f[MKT_CAMPAIGN] = event.marketing.campaign.clone().unwrap_or_default();
    if let Some(url) = event.page.url.as_deref().filter(|_| event.marketing.source.is_some()) {
        f[MKT_TERM] = query_param(url, "utm_term").unwrap_or_default();
        f[MKT_CONTENT] = query_param(url, "utm_content").unwrap_or_default();
    }

    let (kind_column, vendor, name, version) = event_names(event.kind);
    f[EVENT] = kind_column.into();
    f[EVENT_VENDOR] = vendor.into();
    f[EVENT_NAME] = name.into();
    f[EVENT_FORMAT] = "jsonschema".into();
    f[EVENT_VERSION] = version.into();
    if event.kind == EventKind::Other {
        f[SE_CATEGORY] = "shop".into();
        f[SE_ACTION] = "other".into();
    }
    if let Some(data) = unstruct_data(event) {
        f[UNSTRUCT_EVENT] = json!({"schema": UNSTRUCT_SCHEMA, "data": data}).to_string();
    }
    f[CONTEXTS] =
        json!({"schema": CONTEXTS_SCHEMA, "data": contexts(event, web, agent.viewport, agent.screen)})
            .to_string();
    let yauaa = json!({
        "schema": "iglu:nl.basjes/yauaa_context/jsonschema/1-0-4",
        "data": {
            "deviceClass": agent.yauaa_class,
            "deviceName": agent.device_name,
            "operatingSystemName": agent.os_name,
            "agentClass": if agent.platform == Platform::Web { "Browser" } else { "Mobile App" },
            "agentName": agent.agent_name,
        }
    });
    f[DERIVED_CONTEXTS] = json!({"schema": CONTEXTS_SCHEMA, "data": [yauaa]}).to_string();

    f[USERAGENT] = agent.ua.into();
    if web {
        let (view_w, view_h) = agent.viewport;
        f[BR_LANG] = "en-US".into();
        f[BR_COOKIES] = "1".into();
        f[BR_COLORDEPTH] = "24".into();
        f[BR_VIEWWIDTH] = view_w.to_string();
        f[BR_VIEWHEIGHT] = view_h.to_string();
        f[DOC_CHARSET] = "UTF-8".into();
        f[DOC_WIDTH] = view_w.to_string();
        f[DOC_HEIGHT] = (view_h * 3).to_string();
    }
    f[DVCE_SCREENWIDTH] = agent.screen.0.to_string();
    f[DVCE_SCREENHEIGHT] = agent.screen.1.to_string();
    if event.kind == EventKind::PagePing {
        let scrolled = event_hash % u64::from(agent.viewport.1 * 2);
        for (i, value) in [0, 0, scrolled, scrolled + 600].iter().enumerate() {
            f[PP_OFFSETS + i] = value.to_string();
        }
    }

    for (i, field) in f.iter().enumerate() {
        if i > 0 {
            out.push('\t');
        }
        // Enrich never lets a tab or newline into a field; neither do we.
        out.extend(field.chars().map(|c| if matches!(c, '\t' | '\n' | '\r') { ' ' } else { c }));
    }
}

/// `event`, vendor, name and version columns of each kind.
fn event_names(kind: EventKind) -> (&'static str, &'static str, &'static str, &'static str) {
    match kind {
        EventKind::PageView => ("page_view", SNOWPLOW, "page_view", "1-0-0"),
        EventKind::PagePing => ("page_ping", SNOWPLOW, "page_ping", "1-0-0"),
        EventKind::SiteSearch => ("unstruct", SNOWPLOW, "site_search", "1-0-0"),
        EventKind::Other => ("struct", "com.google.analytics", "event", "1-0-0"),
        _ => ("unstruct", ECOMMERCE, "snowplow_ecommerce_action", "1-0-2"),
    }
}

fn unstruct_data(event: &Event) -> Option<Value> {
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
            let mut action = Map::new();
            action.insert("type".into(), kind.as_str().into());
            if let Some(name) = &event.list_name {
                action.insert("name".into(), name.as_str().into());
            }
            Some(iglu(&format!("iglu:{ECOMMERCE}/snowplow_ecommerce_action/jsonschema/1-0-2"), action.into()))
        }
    }
}

/// The entities of `contexts`, in the order the JavaScript tracker attaches them.
fn contexts(event: &Event, web: bool, viewport: (u32, u32), screen: (u32, u32)) -> Vec<Value> {
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
        let mut data = json!({"step": step, "account_type": if event.user_id.is_some() { "existing user" } else { "guest" }});
        if step >= 2 {
            data["delivery_method"] = ["standard delivery", "express delivery", "store pickup"]
                [(hash_of("delivery") % 3) as usize]
                .into();
        }
        entities.push(iglu(&ecommerce("checkout_step"), data));
    }
    if let Some(t) = &event.transaction {
        let data = json!({
            "transaction_id": t.id, "revenue": t.revenue, "currency": t.currency.as_deref().unwrap_or(CURRENCY),
            "payment_method": payment_method(&t.id),
            "total_quantity": t.total_quantity.unwrap_or_else(|| event.products.iter().map(|p| p.quantity).sum()),
        });
        entities.push(iglu(&ecommerce("transaction"), data));
    }
    if event.kind == EventKind::TrnsError {
        entities.push(iglu(
            &ecommerce("transaction_error"),
            json!({"error_code": "E522", "error_shortcode": "card_declined", "error_type": "soft", "resolution": "retry_allowed"}),
        ));
    }
    if let Some(r) = &event.refund {
        entities.push(iglu(
            &ecommerce("refund"),
            json!({"transaction_id": r.transaction_id, "currency": CURRENCY, "refund_amount": r.amount, "refund_reason": "return"}),
        ));
    }
    if matches!(event.kind, EventKind::PromoView | EventKind::PromoClick) {
        let promotion = promotion_for(event.session_id.as_deref().unwrap_or(""));
        entities.push(iglu(
            &ecommerce("promotion"),
            json!({"id": promotion.id, "name": promotion.name, "product_ids": promotion.product_ids, "position": 0,
                   "type": promotion.kind, "slot": promotion.slot, "creative_id": format!("/promo/{}.webp", promotion.id)}),
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

fn write_page_fields(event: &Event, f: &mut [String]) {
    let page = &event.page;
    f[PAGE_URL] = page.url.clone().unwrap_or_default();
    f[PAGE_TITLE] = page.title.clone().unwrap_or_default();
    f[PAGE_REFERRER] = page.referrer.clone().unwrap_or_default();
    if let Some(parts) = page.url.as_deref().and_then(url_parts) {
        for (i, part) in parts.into_iter().enumerate() {
            f[PAGE_URL_PARTS + i] = part;
        }
    }
    let Some(referrer) = page.referrer.as_deref() else { return };
    let Some(parts) = url_parts(referrer) else { return };
    let page_host = page.url.as_deref().and_then(url_parts).map(|p| p[1].clone());
    let (medium, source) = match parts[1].as_str() {
        host if Some(host) == page_host.as_deref() => ("internal", ""),
        "www.google.com" => ("search", "Google"),
        "www.bing.com" => ("search", "Bing"),
        "duckduckgo.com" => ("search", "DuckDuckGo"),
        "l.facebook.com" => ("social", "Facebook"),
        "l.instagram.com" => ("social", "Instagram"),
        _ => ("unknown", ""),
    };
    for (i, part) in parts.into_iter().enumerate() {
        f[REFR_URL_PARTS + i] = part;
    }
    f[REFR_MEDIUM] = medium.into();
    f[REFR_SOURCE] = source.into();
}

/// Scheme, host, port, path, query and fragment of an absolute URL.
fn url_parts(url: &str) -> Option<[String; 6]> {
    let (scheme, rest) = url.split_once("://")?;
    let (rest, fragment) = rest.split_once('#').unwrap_or((rest, ""));
    let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
    let (authority, path) = rest.find('/').map_or((rest, "/"), |i| (&rest[..i], &rest[i..]));
    let default_port = if scheme == "https" { "443" } else { "80" };
    let (host, port) = authority.split_once(':').unwrap_or((authority, default_port));
    Some([scheme, host, port, path, query, fragment].map(str::to_string))
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

fn iglu(schema: &str, data: Value) -> Value {
    json!({"schema": schema, "data": data})
}

fn hashed_uuid(hash: u64) -> String {
    let high = stable_hash(&[&hash.to_string()]);
    let hex = format!("{high:016x}{hash:016x}");
    format!("{}-{}-4{}-a{}-{}", &hex[0..8], &hex[8..12], &hex[13..16], &hex[17..20], &hex[20..32])
}

/// `2025-03-14 22:42:30.344` (UTC) for ms since the Unix epoch.
pub(crate) fn tstamp(ms: i64) -> String {
    let (days, ms_of_day) = (ms.div_euclid(86_400_000), ms.rem_euclid(86_400_000));
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let (h, m, s, milli) =
        (ms_of_day / 3_600_000, ms_of_day / 60_000 % 60, ms_of_day / 1_000 % 60, ms_of_day % 1_000);
    format!("{year:04}-{month:02}-{day:02} {h:02}:{m:02}:{s:02}.{milli:03}")
}
