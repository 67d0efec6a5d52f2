//! Snowplow enriched TSV: 131 tab-separated fields, no header, JSON in the contexts, unstruct_event
//! and derived_contexts columns. Splits without allocating per field.

use std::borrow::Cow;

use crate::model::Interest;
use live_shopper_abi::Event;
use serde::Deserialize;
use serde_json::value::RawValue;

use super::entities::{kind_from_iglu, Entities};
use super::json::Key;
use super::{finish, Atomic, DecodeError, KindSource};

/// Fields in an enriched TSV line.
pub(super) const FIELDS: usize = 131;

// 0-based columns (FEATURES.md §1).
const PLATFORM: usize = 1;
const COLLECTOR_TSTAMP: usize = 3;
const EVENT: usize = 5;
const EVENT_ID: usize = 6;
const USER_ID: usize = 12;
const DOMAIN_USERID: usize = 15;
const NETWORK_USERID: usize = 17;
const GEO_COUNTRY: usize = 18;
const GEO_REGION: usize = 19;
const GEO_CITY: usize = 20;
const PAGE_URL: usize = 29;
const PAGE_TITLE: usize = 30;
const PAGE_REFERRER: usize = 31;
const MKT_MEDIUM: usize = 47;
const MKT_SOURCE: usize = 48;
const MKT_CAMPAIGN: usize = 51;
const CONTEXTS: usize = 52;
const UNSTRUCT_EVENT: usize = 58;
const USERAGENT: usize = 77;
const DERIVED_CONTEXTS: usize = 122;
const DOMAIN_SESSIONID: usize = 123;
const DERIVED_TSTAMP: usize = 124;
const EVENT_NAME: usize = 126;

/// The JSON columns, with the names used in error messages.
const JSON_COLUMNS: [(usize, &str); 3] = [
    (CONTEXTS, "contexts (column 52)"),
    (UNSTRUCT_EVENT, "unstruct_event (column 58)"),
    (DERIVED_CONTEXTS, "derived_contexts (column 122)"),
];

/// Whether `text` is one line of exactly 131 tab-separated fields.
pub(super) fn has_all_fields(text: &str) -> bool {
    strip_line_end(text).bytes().filter(|&b| b == b'\t').count() == FIELDS - 1
}

fn strip_line_end(text: &str) -> &str {
    let text = text.strip_suffix('\n').unwrap_or(text);
    text.strip_suffix('\r').unwrap_or(text)
}

/// Decodes one enriched TSV line (a trailing `\n` or `\r\n` is ignored).
pub(super) fn decode(line: &str, interest: &Interest) -> Result<Event, DecodeError> {
    let mut col = [""; FIELDS];
    let mut found = 0;
    for field in strip_line_end(line).split('\t') {
        if let Some(slot) = col.get_mut(found) {
            *slot = field;
        }
        found += 1;
    }
    if found != FIELDS {
        return Err(DecodeError::TsvFieldCount { found });
    }
    let get = |i: usize| Some(col[i]).filter(|s| !s.is_empty()).map(Cow::Borrowed);
    let atomic = Atomic {
        event_id: get(EVENT_ID),
        kind: KindSource::Snowplow(get(EVENT_NAME).or_else(|| get(EVENT))),
        times: [("derived_tstamp", get(DERIVED_TSTAMP)), ("collector_tstamp", get(COLLECTOR_TSTAMP))],
        domain_userid: get(DOMAIN_USERID),
        network_userid: get(NETWORK_USERID),
        user_id: get(USER_ID),
        domain_sessionid: get(DOMAIN_SESSIONID),
        page: [get(PAGE_URL), get(PAGE_TITLE), get(PAGE_REFERRER)],
        marketing: [get(MKT_SOURCE), get(MKT_MEDIUM), get(MKT_CAMPAIGN)],
        geo: [get(GEO_COUNTRY), get(GEO_REGION), get(GEO_CITY)],
        platform: get(PLATFORM),
        useragent: get(USERAGENT),
    };
    finish(atomic, interest, |found| {
        for (i, what) in JSON_COLUMNS {
            if !col[i].is_empty() {
                load_column(found, interest, col[i], what, i == UNSTRUCT_EVENT)?;
            }
        }
        Ok(())
    })
}

/// `{"schema": "iglu:...", "data": ...}`
#[derive(Deserialize)]
pub(super) struct SelfDescribing<'a> {
    #[serde(borrow)]
    schema: Key<'a>,
    #[serde(borrow)]
    data: &'a RawValue,
}

/// `{"schema": "iglu:...contexts...", "data": [entity, ...]}`
#[derive(Deserialize)]
struct Contexts<'a> {
    #[serde(borrow)]
    data: Vec<SelfDescribing<'a>>,
}

/// Adds the entities of one JSON column: a `contexts` envelope whose data is an array of
/// self-describing entities, or an `unstruct_event` envelope whose data is one self-describing event.
fn load_column(
    found: &mut Entities,
    interest: &Interest,
    json: &str,
    what: &'static str,
    is_event: bool,
) -> Result<(), DecodeError> {
    let add = |found: &mut Entities, item: &SelfDescribing<'_>| add(found, interest, item, is_event);
    // The common shape in one pass: a contexts envelope whose data is an array of entities.
    if let Ok(envelope) = serde_json::from_str::<Contexts<'_>>(json) {
        return envelope.data.iter().try_for_each(|item| add(found, item));
    }
    let bad = |e: serde_json::Error| DecodeError::BadJson { what, reason: e.to_string() };
    let envelope: SelfDescribing<'_> = serde_json::from_str(json).map_err(bad)?;
    let data = envelope.data.get().trim_start();
    if data.starts_with('[') {
        let items: Vec<SelfDescribing<'_>> = serde_json::from_str(data).map_err(bad)?;
        for item in items {
            add(found, &item)?;
        }
        Ok(())
    } else {
        add(found, &serde_json::from_str(data).map_err(bad)?)
    }
}

/// Adds one self-describing item: a standard entity by its kind, a custom one if some plugin asked for it.
pub(super) fn add(
    found: &mut Entities,
    interest: &Interest,
    item: &SelfDescribing<'_>,
    is_event: bool,
) -> Result<(), DecodeError> {
    let schema = item.schema.as_str();
    match kind_from_iglu(schema) {
        Some(kind) => found.add(kind, item.data.get()),
        None => {
            let wanted = if is_event { interest.wants_event(schema) } else { interest.wants_entity(schema) };
            if wanted {
                found.keep(schema.to_string(), item.data.get(), is_event);
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use live_shopper_abi::{DeviceClass, EventKind, Product};

    use super::*;
    use crate::decode::decode_record;

    pub(crate) fn data(name: &str) -> String {
        let path = format!("{}/../testdata/snowplow/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    fn line(file: &str, n: usize) -> String {
        data(file).lines().nth(n).unwrap().to_owned()
    }

    fn decode_line(file: &str, n: usize) -> Event {
        decode_record(line(file, n).as_bytes()).unwrap()
    }

    /// Replaces column `i` of a TSV line.
    fn with_column(line: &str, i: usize, value: &str) -> String {
        let mut cols: Vec<&str> = line.split('\t').collect();
        cols[i] = value;
        cols.join("\t")
    }

    #[test]
    fn every_tsv_line_decodes() {
        for file in ["store-home-5.tsv", "store-page-ping-5.tsv", "store-session-20.tsv"] {
            let text = data(file);
            for (n, line) in text.lines().enumerate() {
                let e = decode_record(line.as_bytes()).unwrap_or_else(|err| panic!("{file}:{n}: {err}"));
                assert_eq!(e.platform.as_deref(), Some("web"));
                assert_eq!(e.device_class, DeviceClass::Desktop, "Linux Chrome UA");
                assert_eq!(e.session_id.as_deref(), Some(line.split('\t').nth(DOMAIN_SESSIONID).unwrap()));
                assert!(e.user_id.is_none() && e.geo.country.is_none() && e.marketing.source.is_none());
            }
            // With the line ending, as read from a file.
            decode_record(format!("{}\r\n", text.lines().next().unwrap()).as_bytes()).unwrap();
        }
    }

    #[test]
    fn list_view_with_products() {
        let e = decode_line("store-session-20.tsv", 15);
        assert_eq!(e.event_id, "82d858d2-c4e1-4067-bd2a-c9dfc1508480");
        assert_eq!(e.event_time, 1_741_992_155_638); // derived_tstamp 2025-03-14 22:42:35.638
        assert_eq!(e.kind, EventKind::ListView);
        assert_eq!(e.list_name.as_deref(), Some("Men shoes"));
        assert_eq!(e.shopper_id, "5b5bbf68-5b5d-4ec3-839d-1271c2abe892");
        assert_eq!(e.session_id.as_deref(), Some("2724caf0-5279-4bab-b735-e86c7e45c44a"));
        assert_eq!(e.page.url.as_deref(), Some("http://localhost:3000/category/men-shoes"));
        assert_eq!(e.page.referrer.as_deref(), Some("http://localhost:3000/"));
        assert_eq!(e.page.title, None);
        assert_eq!(
            e.products,
            vec![
                Product {
                    id: "1".into(),
                    name: Some("SP Dunk Low Retro".into()),
                    category: Some("Men shoes".into()),
                    brand: Some("Snowplow".into()),
                    price: Some(119.99),
                    quantity: 1,
                    currency: Some("USD".into()),
                },
                Product {
                    id: "2".into(),
                    name: Some("SP Air Max Plus 3".into()),
                    category: Some("Men shoes".into()),
                    brand: Some("Snowplow".into()),
                    price: Some(189.99),
                    quantity: 1,
                    currency: Some("USD".into()),
                },
            ]
        );
    }

    #[test]
    fn kinds_and_details() {
        let e = decode_line("store-session-20.tsv", 0);
        assert_eq!((e.kind, e.list_name.as_deref()), (EventKind::ListView, Some("New series")));
        assert_eq!(e.event_time, 1_741_992_150_341);
        assert!(e.products.is_empty());

        let e = decode_line("store-session-20.tsv", 19);
        assert_eq!(e.event_id, "f34690bb-1fc1-4f33-b085-9fcd9a08ad99");
        assert_eq!((e.kind, e.list_name.as_deref()), (EventKind::ProductView, None));
        assert_eq!((e.products[0].id.as_str(), e.products[0].price), ("1", Some(119.99)));

        let e = decode_line("store-session-20.tsv", 3);
        assert_eq!(e.kind, EventKind::PageView);
        assert_eq!(e.page.title.as_deref(), Some("Snowplow shoe: SP Dunk Low Retro"));

        let e = decode_line("store-page-ping-5.tsv", 0);
        assert_eq!((e.kind, e.event_time), (EventKind::PagePing, 1_742_817_265_523));
        assert_eq!(e.shopper_id, "c23e1cce-e6a8-4074-a66e-6946acc72026");

        let e = decode_line("store-page-ping-5.tsv", 1);
        assert_eq!(
            (e.kind, e.list_name.as_deref()),
            (EventKind::ListClick, Some("You might also be interested in"))
        );
        assert_eq!(e.products[0].category.as_deref(), Some("Women shoes"));

        let e = decode_line("store-home-5.tsv", 3);
        assert_eq!((e.kind, e.products.len()), (EventKind::PromoView, 0));
        let e = decode_line("store-home-5.tsv", 4);
        assert_eq!(e.kind, EventKind::PromoClick);
        assert_eq!(e.session_id.as_deref(), Some("869e1e50-b3f6-4aee-a2f2-68ebe6d440e7"));
    }

    #[test]
    fn session_prefers_client_session() {
        let l = line("store-session-20.tsv", 15);
        let e = decode_record(with_column(&l, DOMAIN_SESSIONID, "dsid").as_bytes()).unwrap();
        assert_eq!(e.session_id.as_deref(), Some("2724caf0-5279-4bab-b735-e86c7e45c44a"));
        let no_contexts = with_column(&with_column(&l, DOMAIN_SESSIONID, "dsid"), CONTEXTS, "");
        let e = decode_record(no_contexts.as_bytes()).unwrap();
        assert_eq!((e.session_id.as_deref(), e.products.len()), (Some("dsid"), 0));
    }

    #[test]
    fn atomic_fallbacks() {
        let l = line("store-home-5.tsv", 0);
        // derived_tstamp missing: collector_tstamp 2025-03-12 05:21:48.020.
        let e = decode_record(with_column(&l, DERIVED_TSTAMP, "").as_bytes()).unwrap();
        assert_eq!(e.event_time, 1_741_756_908_020);
        // domain_userid missing: network_userid, then user_id.
        let l2 = with_column(&with_column(&l, DOMAIN_USERID, ""), USER_ID, "me@example.com");
        let e = decode_record(l2.as_bytes()).unwrap();
        assert_eq!(e.shopper_id, "58cd9bd9-d577-45d0-a303-c703a3ec3ff5");
        assert_eq!(e.user_id.as_deref(), Some("me@example.com"));
        let e = decode_record(with_column(&l2, NETWORK_USERID, "").as_bytes()).unwrap();
        assert_eq!(e.shopper_id, "me@example.com");
        // Marketing and geo columns.
        let mut l3 = l.clone();
        for (i, v) in [
            (47, "cpc"),
            (48, "google"),
            (49, "shoes"),
            (51, "spring"),
            (18, "GR"),
            (19, "I"),
            (20, "Athens"),
        ] {
            l3 = with_column(&l3, i, v);
        }
        let e = decode_record(l3.as_bytes()).unwrap();
        assert_eq!(
            (e.marketing.source.as_deref(), e.marketing.medium.as_deref(), e.marketing.campaign.as_deref()),
            (Some("google"), Some("cpc"), Some("spring"))
        );
        assert_eq!(
            (e.geo.country.as_deref(), e.geo.region.as_deref(), e.geo.city.as_deref()),
            (Some("GR"), Some("I"), Some("Athens"))
        );
    }

    #[test]
    fn ua_parser_entities_in_derived_contexts() {
        let l = line("store-session-20.tsv", 0);
        let yauaa = r#"{"schema":"iglu:com.snowplowanalytics.snowplow/contexts/jsonschema/1-0-1","data":[{"schema":"iglu:nl.basjes/yauaa_context/jsonschema/1-0-4","data":{"deviceClass":"Phone","agentName":"Chrome"}}]}"#;
        let e = decode_record(with_column(&l, DERIVED_CONTEXTS, yauaa).as_bytes()).unwrap();
        assert_eq!(e.device_class, DeviceClass::Mobile, "the entity beats the Linux UA");
        let ua_parser = r#"{"schema":"iglu:com.snowplowanalytics.snowplow/contexts/jsonschema/1-0-1","data":[{"schema":"iglu:com.snowplowanalytics.snowplow/ua_parser_context/jsonschema/1-0-0","data":{"useragentFamily":"Safari","deviceFamily":"iPad"}}]}"#;
        let e = decode_record(with_column(&l, DERIVED_CONTEXTS, ua_parser).as_bytes()).unwrap();
        assert_eq!(e.device_class, DeviceClass::Tablet);
    }

    #[test]
    fn site_search_unstruct_event() {
        let l = line("store-page-ping-5.tsv", 0);
        let search = r#"{"schema":"iglu:com.snowplowanalytics.snowplow/unstruct_event/jsonschema/1-0-0","data":{"schema":"iglu:com.snowplowanalytics.snowplow/site_search/jsonschema/1-0-0","data":{"terms":["red","shoes",""],"filters":{},"totalResults":3}}}"#;
        let l = with_column(&with_column(&l, UNSTRUCT_EVENT, search), EVENT_NAME, "site_search");
        let e = decode_record(l.as_bytes()).unwrap();
        assert_eq!(e.kind, EventKind::SiteSearch);
        assert_eq!(e.search_terms, ["red", "shoes"]);
    }

    #[test]
    fn bad_json_columns_are_named() {
        let l = line("store-session-20.tsv", 15);
        let err = decode_record(with_column(&l, CONTEXTS, "{\"schema\":").as_bytes()).unwrap_err();
        assert_eq!(err.code(), "bad_json");
        assert!(err.to_string().starts_with("invalid JSON in contexts (column 52): "), "{err}");
        let err = decode_record(with_column(&l, UNSTRUCT_EVENT, "[]").as_bytes()).unwrap_err();
        assert!(err.to_string().starts_with("invalid JSON in unstruct_event (column 58): "), "{err}");
        let price = l.replace("\"price\":119.99", "\"price\":\"cheap\"");
        let err = decode_record(price.as_bytes()).unwrap_err();
        assert_eq!(err.code(), "bad_entity");
        assert!(err.to_string().starts_with("bad product entity: invalid value: string \"cheap\""), "{err}");
    }

    #[test]
    fn rejects_and_field_counts() {
        let l = line("store-session-20.tsv", 2);
        let code = |s: &str| decode_record(s.as_bytes()).unwrap_err().code();
        assert_eq!(code(&with_column(&l, EVENT_ID, "")), "missing_event_id");
        assert_eq!(
            code(&with_column(&with_column(&l, DERIVED_TSTAMP, ""), COLLECTOR_TSTAMP, "")),
            "missing_event_time"
        );
        assert_eq!(code(&with_column(&l, DERIVED_TSTAMP, "yesterday")), "bad_timestamp");
        let no_ids =
            [DOMAIN_USERID, NETWORK_USERID, USER_ID].iter().fold(l.clone(), |l, &i| with_column(&l, i, ""));
        assert_eq!(code(&no_ids), "missing_shopper_id");
        let err = decode_record(format!("{l}\textra").as_bytes()).unwrap_err();
        assert_eq!(err.to_string(), "TSV has 132 fields, expected 131");
        let cut: String = l.split('\t').take(97).collect::<Vec<_>>().join("\t");
        assert_eq!(decode_record(cut.as_bytes()).unwrap_err().to_string(), "TSV has 97 fields, expected 131");
        // Every truncation of a good line fails cleanly.
        for (i, _) in l.char_indices().skip(1) {
            let c = decode_record(&l.as_bytes()[..i]).unwrap_err().code();
            assert!(matches!(c, "tsv_field_count" | "unknown_format"), "cut at {i}: {c}");
        }
    }
}
