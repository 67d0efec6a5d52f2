//! Live Shopper JSON, the upstream accelerator's Snowbridge output: `{id, type, timestamp, payload,
//! enrich, session, metadata}` with the entities in `payload` and the atomic fields under `enrich`.

use crate::model::Interest;
use live_shopper_abi::Event;
use serde::Deserialize;
use serde_json::value::RawValue;

use super::entities::EntityKind;
use super::json::{json_str, Key};
use super::tsv::{add, SelfDescribing};
use super::{finish, Atomic, DecodeError, KindSource};

type Raw<'a> = Option<&'a RawValue>;

#[derive(Deserialize)]
struct Payload<'a> {
    #[serde(borrow)]
    product: Raw<'a>,
    #[serde(borrow)]
    products: Raw<'a>,
    #[serde(borrow)]
    cart: Raw<'a>,
    #[serde(borrow)]
    checkout_step: Raw<'a>,
    #[serde(borrow)]
    transaction: Raw<'a>,
    #[serde(borrow)]
    refund: Raw<'a>,
    #[serde(borrow)]
    site_search: Raw<'a>,
    #[serde(borrow)]
    list_name: Raw<'a>,
    #[serde(borrow)]
    page_url: Raw<'a>,
    #[serde(borrow)]
    page_title: Raw<'a>,
    #[serde(borrow)]
    referrer: Raw<'a>,
}

#[derive(Deserialize, Default)]
struct Enrich<'a> {
    #[serde(borrow)]
    client: Option<Client<'a>>,
    #[serde(borrow)]
    user: Option<User<'a>>,
    #[serde(borrow)]
    marketing: Option<MarketingJson<'a>>,
    #[serde(borrow)]
    platform: Raw<'a>,
    #[serde(borrow)]
    geo: Option<GeoJson<'a>>,
}

#[derive(Deserialize, Default)]
struct Client<'a> {
    #[serde(borrow)]
    useragent: Raw<'a>,
    #[serde(borrow)]
    page: Option<ClientPage<'a>>,
}

#[derive(Deserialize, Default)]
struct ClientPage<'a> {
    #[serde(borrow)]
    page_url: Raw<'a>,
    #[serde(borrow)]
    page_title: Raw<'a>,
    #[serde(borrow)]
    page_referrer: Raw<'a>,
}

#[derive(Deserialize, Default)]
struct User<'a> {
    #[serde(borrow)]
    user_id: Raw<'a>,
    #[serde(borrow)]
    domain_userid: Raw<'a>,
    #[serde(borrow)]
    network_userid: Raw<'a>,
}

#[derive(Deserialize, Default)]
struct MarketingJson<'a> {
    #[serde(borrow)]
    mkt_source: Raw<'a>,
    #[serde(borrow)]
    mkt_medium: Raw<'a>,
    #[serde(borrow)]
    mkt_campaign: Raw<'a>,
}

/// `enrich.geo`, with either short or atomic field names.
#[derive(Deserialize, Default)]
struct GeoJson<'a> {
    #[serde(borrow, alias = "geo_country")]
    country: Raw<'a>,
    #[serde(borrow, alias = "geo_region")]
    region: Raw<'a>,
    #[serde(borrow, alias = "geo_city")]
    city: Raw<'a>,
}

/// `session`: the client_session entity, or `{domain_sessionid, domain_sessionidx}` without one.
#[derive(Deserialize, Default)]
struct Session<'a> {
    #[serde(borrow, rename = "sessionId")]
    session_id: Raw<'a>,
    #[serde(borrow)]
    domain_sessionid: Raw<'a>,
}

#[derive(Deserialize, Default)]
struct Metadata<'a> {
    #[serde(borrow)]
    collector_tstamp: Raw<'a>,
}

/// Parses an object-valued member; absent and `null` are `None`.
fn section<'a, T: Deserialize<'a>>(field: &'static str, raw: Raw<'a>) -> Result<Option<T>, DecodeError> {
    match raw {
        None => Ok(None),
        Some(raw) => serde_json::from_str::<Option<T>>(raw.get())
            .map_err(|e| DecodeError::WrongType { field, reason: e.to_string() }),
    }
}

/// Decodes the members of a Live Shopper JSON object.
pub(super) fn decode(members: &[(Key<'_>, &RawValue)], interest: &Interest) -> Result<Event, DecodeError> {
    let (mut id, mut kind, mut timestamp, mut payload, mut enrich, mut session, mut metadata) =
        (None, None, None, None, None, None, None);
    // Self-describing data as Snowplow writes it (a Live Shopper extension of the format):
    // `contexts` an array of {schema, data}, `unstruct_event` one {schema, data}.
    let (mut contexts, mut unstruct_event) = (None, None);
    for &(ref key, value) in members {
        match key.as_str() {
            "id" => id = Some(value),
            "type" => kind = Some(value),
            "timestamp" => timestamp = Some(value),
            "payload" => payload = Some(value),
            "enrich" => enrich = Some(value),
            "session" => session = Some(value),
            "metadata" => metadata = Some(value),
            "contexts" => contexts = Some(value),
            "unstruct_event" => unstruct_event = Some(value),
            _ => {}
        }
    }
    let enrich: Enrich<'_> = section("enrich", enrich)?.unwrap_or_default();
    let session: Session<'_> = section("session", session)?.unwrap_or_default();
    let metadata: Metadata<'_> = section("metadata", metadata)?.unwrap_or_default();
    let payload: Option<Payload<'_>> = section("payload", payload)?;
    let client = enrich.client.unwrap_or_default();
    let client_page = client.page.unwrap_or_default();
    let user = enrich.user.unwrap_or_default();
    let marketing = enrich.marketing.unwrap_or_default();
    let geo = enrich.geo.unwrap_or_default();
    let p = payload.as_ref();

    let atomic = Atomic {
        event_id: json_str("id", id)?,
        kind: KindSource::Named(json_str("type", kind)?),
        times: [
            ("timestamp", json_str("timestamp", timestamp)?),
            ("metadata.collector_tstamp", json_str("metadata.collector_tstamp", metadata.collector_tstamp)?),
        ],
        domain_userid: json_str("enrich.user.domain_userid", user.domain_userid)?,
        network_userid: json_str("enrich.user.network_userid", user.network_userid)?,
        user_id: json_str("enrich.user.user_id", user.user_id)?,
        domain_sessionid: json_str("session.domain_sessionid", session.domain_sessionid)?,
        page: [
            json_str("payload.page_url", p.and_then(|p| p.page_url))?
                .or(json_str("enrich.client.page.page_url", client_page.page_url)?),
            json_str("payload.page_title", p.and_then(|p| p.page_title))?
                .or(json_str("enrich.client.page.page_title", client_page.page_title)?),
            json_str("payload.referrer", p.and_then(|p| p.referrer))?
                .or(json_str("enrich.client.page.page_referrer", client_page.page_referrer)?),
        ],
        marketing: [
            json_str("enrich.marketing.mkt_source", marketing.mkt_source)?,
            json_str("enrich.marketing.mkt_medium", marketing.mkt_medium)?,
            json_str("enrich.marketing.mkt_campaign", marketing.mkt_campaign)?,
        ],
        geo: [
            json_str("enrich.geo.country", geo.country)?,
            json_str("enrich.geo.region", geo.region)?,
            json_str("enrich.geo.city", geo.city)?,
        ],
        platform: json_str("enrich.platform", enrich.platform)?,
        useragent: json_str("enrich.client.useragent", client.useragent)?,
    };
    finish(atomic, interest, |found| {
        found.session_id = json_str("session.sessionId", session.session_id)?.map(|s| s.into_owned());
        let items: Option<Vec<SelfDescribing<'_>>> = section("contexts", contexts)?;
        for item in items.unwrap_or_default() {
            add(found, interest, &item, false)?;
        }
        if let Some(item) = section::<SelfDescribing<'_>>("unstruct_event", unstruct_event)? {
            add(found, interest, &item, true)?;
        }
        let Some(p) = &payload else { return Ok(()) };
        found.list_name = json_str("payload.list_name", p.list_name)?.map(|s| s.into_owned());
        let entities = [
            (EntityKind::Product, p.product),
            (EntityKind::Product, p.products),
            (EntityKind::Cart, p.cart),
            (EntityKind::CheckoutStep, p.checkout_step),
            (EntityKind::Transaction, p.transaction),
            (EntityKind::Refund, p.refund),
            (EntityKind::SiteSearch, p.site_search),
        ];
        for (kind, raw) in entities {
            if let Some(raw) = raw {
                found.add_json(kind, raw.get())?;
            }
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use live_shopper_abi::{DeviceClass, Event, EventKind};
    use serde_json::{json, Value};

    use crate::decode::decode_record;

    fn data(name: &str) -> String {
        let path = format!("{}/../testdata/snowplow/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    fn checkout() -> Vec<Event> {
        data("flink-format-checkout.jsonl")
            .lines()
            .enumerate()
            .map(|(n, l)| decode_record(l.as_bytes()).unwrap_or_else(|e| panic!("line {n}: {e}")))
            .collect()
    }

    const SHOPPER: &str = "67430c52-68fb-4277-baeb-b6033403094a";

    #[test]
    fn checkout_file_decodes() {
        let events = checkout();
        assert_eq!(events.len(), 26);
        for e in &events {
            assert_eq!(e.shopper_id, SHOPPER, "keyed by the browser, not the login");
            assert_eq!(e.session_id.as_deref(), Some("c9727c0f-0f83-4a70-9eca-a415cf9ea52b"));
            assert_eq!((e.platform.as_deref(), e.device_class), (Some("web"), DeviceClass::Desktop));
        }
        // The shopper signs in mid-session: user_id from line 13 on.
        let first_login = events.iter().position(|e| e.user_id.is_some()).unwrap();
        assert_eq!(first_login, 13);
        assert_eq!(events[13].event_id, "89298148-aa8a-4512-8489-9baa6a33c982");
        assert_eq!(events[13].user_id.as_deref(), Some("trent@snowplowanalytics.com"));
        assert!(events[13..].iter().all(|e| e.user_id.is_some()));
        let steps: Vec<u32> = events.iter().filter_map(|e| e.checkout_step).collect();
        assert_eq!(steps, [1, 1, 2]);
        assert_eq!(events.iter().filter(|e| e.kind == EventKind::AddToCart).count(), 1);
    }

    #[test]
    fn checkout_details() {
        let events = checkout();
        let e = &events[0];
        assert_eq!(e.event_id, "4ba8f147-05cf-48c6-b218-0def4f209181");
        assert_eq!((e.event_time, e.kind), (1_742_986_606_033, EventKind::ListView));
        assert_eq!(e.list_name.as_deref(), Some("New series"));
        assert!(e.products.is_empty(), "`product: {{}}` means none");
        assert_eq!(
            (e.marketing.source.as_deref(), e.marketing.medium.as_deref(), e.marketing.campaign.as_deref()),
            (Some("google"), Some("cpc"), Some("google-ads-winter-sale-24"))
        );
        assert!(e.page.url.as_deref().unwrap().starts_with("http://localhost:3000/?utm_source=google"));

        let e = &events[8];
        assert_eq!((e.kind, e.event_time), (EventKind::AddToCart, 1_742_986_669_335));
        let p = &e.products[0];
        assert_eq!((p.id.as_str(), p.price, p.category.as_deref()), ("5", Some(42.99), Some("Kid shoes")));
        assert_eq!(
            (p.name.as_deref(), p.quantity, p.currency.as_deref()),
            (Some("SP Flex Runner 2"), 1, Some("USD"))
        );
        assert_eq!(e.cart_total, Some(0.0), "the tracker reports 0 here");
        assert_eq!(e.marketing.source, None);

        let e = &events[10];
        assert_eq!((e.kind, e.checkout_step, e.cart_total), (EventKind::CheckoutStep, Some(1), None));
        let e = &events[12];
        assert_eq!((e.kind, e.event_time), (EventKind::PageView, 1_742_986_676_700)); // "…:56.7Z"
        assert_eq!(e.page.title.as_deref(), Some("Snowplow store sign in"));
        assert_eq!(e.page.url.as_deref(), Some("http://localhost:3000/sign-in"));
        assert_eq!(e.page.referrer.as_deref(), Some("http://localhost:3000/cart"));
        assert_eq!(e.user_id, None);
        assert_eq!(events[20].checkout_step, Some(2));
        assert_eq!((events[3].kind, events[3].list_name.as_deref()), (EventKind::PromoView, None));
    }

    #[test]
    fn product_view_file() {
        let e = decode_record(data("flink-format-product-view.json").as_bytes()).unwrap();
        assert_eq!(e.event_id, "e9081481-82fb-4e7f-9771-82ce58dc22a3");
        assert_eq!((e.kind, e.event_time), (EventKind::ProductView, 1_743_777_219_968));
        assert_eq!(e.shopper_id, SHOPPER);
        assert_eq!(e.user_id.as_deref(), Some("trent@snowplowanalytics.com"));
        assert_eq!(e.session_id.as_deref(), Some("116cf32d-74ac-4d54-aae1-65277a0ea749"));
        let p = &e.products[0];
        assert_eq!((p.id.as_str(), p.price, p.category.as_deref()), ("5", Some(42.99), Some("Kid shoes")));
        assert_eq!(e.page.url.as_deref(), Some("http://localhost:3000/product/5"));
        assert_eq!(e.page.referrer.as_deref(), Some("http://localhost:3000/search?q=run"));
        assert_eq!(e.marketing.source, None, "`marketing: null`");
        assert_eq!(e.device_class, DeviceClass::Desktop, "Mac Chrome");
    }

    fn minimal() -> Value {
        json!({
            "id": "l1", "type": "list_click", "timestamp": "", "payload": {},
            "enrich": {"user": {"domain_userid": "", "network_userid": "n1"}},
            "session": {"domain_sessionid": "ds1", "domain_sessionidx": 3},
            "metadata": {"collector_tstamp": "2025-03-26T10:56:46Z"}
        })
    }

    #[test]
    fn fallbacks_and_variants() {
        let e = decode_record(minimal().to_string().as_bytes()).unwrap();
        assert_eq!((e.event_time, e.shopper_id.as_str()), (1_742_986_606_000, "n1"));
        assert_eq!((e.session_id.as_deref(), e.device_class), (Some("ds1"), DeviceClass::Other));
        let mut r = minimal();
        r["payload"] = json!({
            "products": [{"id": "1", "price": "9.50", "quantity": 3}, {"id": "2"}],
            "list_name": "Top this week",
            "transaction": {"transaction_id": "T1", "revenue": 28.5, "currency": "USD", "total_quantity": 3},
            "refund": {"transaction_id": "T0", "refund_amount": "5"},
        });
        r["enrich"]["geo"] = json!({"geo_country": "CZ", "geo_city": "Brno"});
        let e = decode_record(r.to_string().as_bytes()).unwrap();
        assert_eq!((e.kind, e.list_name.as_deref()), (EventKind::ListClick, Some("Top this week")));
        assert_eq!(
            e.products.iter().map(|p| (p.price, p.quantity)).collect::<Vec<_>>(),
            [(Some(9.5), 3), (None, 1)]
        );
        assert_eq!(e.transaction.as_ref().map(|t| (t.id.as_str(), t.revenue)), Some(("T1", 28.5)));
        assert_eq!(e.refund.as_ref().map(|r| (r.transaction_id.as_str(), r.amount)), Some(("T0", 5.0)));
        assert_eq!(
            (e.geo.country.as_deref(), e.geo.region.as_deref(), e.geo.city.as_deref()),
            (Some("CZ"), None, Some("Brno"))
        );
        r["type"] = json!("unknown_ecommerce");
        assert_eq!(decode_record(r.to_string().as_bytes()).unwrap().kind, EventKind::Other);
    }

    #[test]
    fn rejects() {
        let code = |r: &Value| decode_record(r.to_string().as_bytes()).unwrap_err().code();
        let mut r = minimal();
        r.as_object_mut().unwrap().remove("id");
        assert_eq!(code(&r), "missing_event_id");
        let mut r = minimal();
        r["metadata"] = json!(null);
        let err = decode_record(r.to_string().as_bytes()).unwrap_err();
        assert_eq!(err.to_string(), "missing event time: no timestamp or metadata.collector_tstamp");
        let mut r = minimal();
        r["enrich"]["user"]["network_userid"] = json!(null);
        assert_eq!(code(&r), "missing_shopper_id");
        let mut r = minimal();
        r["payload"] = json!([]);
        let err = decode_record(r.to_string().as_bytes()).unwrap_err();
        assert_eq!(
            (err.code(), err.to_string().starts_with("wrong type in payload: ")),
            ("wrong_type", true)
        );
        let mut r = minimal();
        r["enrich"]["user"]["network_userid"] = json!(7);
        assert_eq!(code(&r), "wrong_type");
        let mut r = minimal();
        r["payload"]["product"] = json!({"name": "no id"});
        assert_eq!(code(&r), "bad_entity");
        let mut r = minimal();
        r["payload"]["product"] = json!("5");
        assert_eq!(code(&r), "bad_entity");
        let mut r = minimal();
        r["payload"]["checkout_step"] = json!({"step": 1.5});
        assert_eq!(code(&r), "bad_entity");
        let mut r = minimal();
        r["timestamp"] = json!("2025-03-26 25:00:00");
        assert_eq!(code(&r), "bad_timestamp");
    }
}
