//! Snowplow enriched JSON, the shape the analytics SDKs make of an enriched TSV line: atomic fields by
//! name, `contexts_<vendor>_<name>_<major>` arrays of entity data (derived contexts included) and
//! `unstruct_event_<vendor>_<name>_<major>` holding the event's data.

use crate::model::Interest;
use live_shopper_abi::Event;
use serde_json::value::RawValue;

use super::entities::{custom_from_sdk_key, kind_from_sdk_key, Entities, EntityKind};
use super::json::{json_str, Key};
use super::{finish, Atomic, DecodeError, KindSource};

macro_rules! atomic_fields {
    ($($name:ident),* $(,)?) => {
        /// The raw values of the atomic fields the decoder reads.
        #[derive(Default)]
        struct Fields<'a> {
            $($name: Option<&'a RawValue>,)*
        }

        impl<'a> Fields<'a> {
            fn slot(&mut self, key: &str) -> Option<&mut Option<&'a RawValue>> {
                match key {
                    $(stringify!($name) => Some(&mut self.$name),)*
                    _ => None,
                }
            }
        }
    };
}

atomic_fields!(
    event_id,
    event,
    event_name,
    derived_tstamp,
    collector_tstamp,
    domain_userid,
    network_userid,
    user_id,
    domain_sessionid,
    page_url,
    page_title,
    page_referrer,
    mkt_source,
    mkt_medium,
    mkt_campaign,
    geo_country,
    geo_region,
    geo_city,
    platform,
    useragent,
);

/// Decodes the members of an enriched-JSON object.
pub(super) fn decode(members: &[(Key<'_>, &RawValue)], interest: &Interest) -> Result<Event, DecodeError> {
    let mut f = Fields::default();
    let mut entities: Vec<(EntityKind, &RawValue)> = Vec::new();
    let mut custom: Vec<(String, bool, &RawValue)> = Vec::new();
    for (key, value) in members {
        if let Some(slot) = f.slot(key.as_str()) {
            *slot = Some(value);
        } else if let Some(kind) = kind_from_sdk_key(key.as_str()) {
            entities.push((kind, value));
        } else if interest.wants_custom() {
            if let Some((schema, is_event)) = custom_from_sdk_key(key.as_str(), interest) {
                custom.push((schema, is_event, value));
            }
        }
    }
    let atomic = Atomic {
        event_id: json_str("event_id", f.event_id)?,
        kind: KindSource::Snowplow(json_str("event_name", f.event_name)?.or(json_str("event", f.event)?)),
        times: [
            ("derived_tstamp", json_str("derived_tstamp", f.derived_tstamp)?),
            ("collector_tstamp", json_str("collector_tstamp", f.collector_tstamp)?),
        ],
        domain_userid: json_str("domain_userid", f.domain_userid)?,
        network_userid: json_str("network_userid", f.network_userid)?,
        user_id: json_str("user_id", f.user_id)?,
        domain_sessionid: json_str("domain_sessionid", f.domain_sessionid)?,
        page: [
            json_str("page_url", f.page_url)?,
            json_str("page_title", f.page_title)?,
            json_str("page_referrer", f.page_referrer)?,
        ],
        marketing: [
            json_str("mkt_source", f.mkt_source)?,
            json_str("mkt_medium", f.mkt_medium)?,
            json_str("mkt_campaign", f.mkt_campaign)?,
        ],
        geo: [
            json_str("geo_country", f.geo_country)?,
            json_str("geo_region", f.geo_region)?,
            json_str("geo_city", f.geo_city)?,
        ],
        platform: json_str("platform", f.platform)?,
        useragent: json_str("useragent", f.useragent)?,
    };
    finish(atomic, interest, |found| {
        entities.into_iter().try_for_each(|(kind, raw)| found.add_json(kind, raw.get()))?;
        for (schema, is_event, raw) in custom {
            keep_custom(found, schema, is_event, raw.get())?;
        }
        Ok(())
    })
}

/// Keeps a custom key's data: the event's object, or each object of a `contexts_…` array.
fn keep_custom(found: &mut Entities, schema: String, is_event: bool, json: &str) -> Result<(), DecodeError> {
    let json = json.trim();
    if is_event || !json.starts_with('[') {
        if json != "null" {
            found.keep(schema, json, is_event);
        }
        return Ok(());
    }
    let items: Vec<&RawValue> = serde_json::from_str(json)
        .map_err(|e| DecodeError::BadJson { what: "a contexts_ array", reason: e.to_string() })?;
    for item in items {
        found.keep(schema.clone(), item.get(), false);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use live_shopper_abi::{DeviceClass, EventKind};
    use serde_json::{json, Map, Value};

    use crate::decode::decode_record;

    fn data(name: &str) -> String {
        let path = format!("{}/../testdata/snowplow/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    /// Atomic columns the test converter writes (a subset of the 131; the rest stay out, as the SDK
    /// leaves out empty fields).
    const COLUMNS: [(usize, &str); 27] = [
        (0, "app_id"),
        (1, "platform"),
        (2, "etl_tstamp"),
        (3, "collector_tstamp"),
        (4, "dvce_created_tstamp"),
        (5, "event"),
        (6, "event_id"),
        (9, "v_tracker"),
        (12, "user_id"),
        (15, "domain_userid"),
        (16, "domain_sessionidx"),
        (17, "network_userid"),
        (18, "geo_country"),
        (19, "geo_region"),
        (20, "geo_city"),
        (29, "page_url"),
        (30, "page_title"),
        (31, "page_referrer"),
        (47, "mkt_medium"),
        (48, "mkt_source"),
        (49, "mkt_term"),
        (51, "mkt_campaign"),
        (77, "useragent"),
        (123, "domain_sessionid"),
        (124, "derived_tstamp"),
        (125, "event_vendor"),
        (126, "event_name"),
    ];

    /// `com.acme-co/PerformanceNavigationTiming` + major → `com_acme_co_performance_navigation_timing_1`.
    fn sdk_key(prefix: &str, uri: &str) -> String {
        let parts: Vec<&str> = uri.trim_start_matches("iglu:").split('/').collect();
        let mut name = String::new();
        for (i, c) in parts[1].chars().enumerate() {
            if c.is_ascii_uppercase() && i > 0 && !name.ends_with('_') {
                name.push('_');
            }
            name.push(c.to_ascii_lowercase());
        }
        let major = parts[3].split('-').next().unwrap();
        format!("{prefix}_{}_{name}_{major}", parts[0].replace(['.', '-'], "_"))
    }

    /// A small analytics-SDK-style converter: TSV line → enriched JSON object.
    pub(crate) fn tsv_to_enriched_json(line: &str) -> Value {
        let col: Vec<&str> = line.split('\t').collect();
        let mut out = Map::new();
        for (i, name) in COLUMNS {
            let v = col[i];
            if v.is_empty() {
                continue;
            }
            let value = if name.ends_with("_tstamp") {
                json!(format!("{}Z", v.replacen(' ', "T", 1)))
            } else if name == "domain_sessionidx" {
                json!(v.parse::<u64>().unwrap())
            } else {
                json!(v)
            };
            out.insert(name.to_owned(), value);
        }
        for i in [52, 122] {
            if col[i].is_empty() {
                continue;
            }
            let envelope: Value = serde_json::from_str(col[i]).unwrap();
            for entity in envelope["data"].as_array().unwrap() {
                let key = sdk_key("contexts", entity["schema"].as_str().unwrap());
                let list = out.entry(key).or_insert_with(|| json!([]));
                list.as_array_mut().unwrap().push(entity["data"].clone());
            }
        }
        if !col[58].is_empty() {
            let envelope: Value = serde_json::from_str(col[58]).unwrap();
            let event = &envelope["data"];
            out.insert(sdk_key("unstruct_event", event["schema"].as_str().unwrap()), event["data"].clone());
        }
        Value::Object(out)
    }

    #[test]
    fn converted_tsv_decodes_to_the_same_event() {
        for file in ["store-home-5.tsv", "store-page-ping-5.tsv", "store-session-20.tsv"] {
            for (n, line) in data(file).lines().enumerate() {
                let from_tsv = decode_record(line.as_bytes()).unwrap();
                let json = tsv_to_enriched_json(line).to_string();
                let from_json = decode_record(json.as_bytes()).unwrap_or_else(|e| panic!("{file}:{n}: {e}"));
                assert_eq!(from_json, from_tsv, "{file}:{n}");
                // Pretty-printed with escaped slashes decodes the same too.
                let pretty =
                    serde_json::to_string_pretty(&tsv_to_enriched_json(line)).unwrap().replace('/', "\\/");
                assert_eq!(decode_record(pretty.as_bytes()).unwrap(), from_tsv, "{file}:{n} pretty");
            }
        }
    }

    #[test]
    fn converter_keys_look_like_the_sdk() {
        let line = data("store-session-20.tsv").lines().nth(15).unwrap().to_owned();
        let json = tsv_to_enriched_json(&line);
        let obj = json.as_object().unwrap();
        assert!(obj.contains_key("contexts_com_snowplowanalytics_snowplow_ecommerce_product_1"));
        assert!(obj.contains_key("contexts_org_w3_performance_navigation_timing_1"));
        assert!(obj.contains_key("contexts_com_snowplowanalytics_snowplow_client_session_1"));
        assert!(obj.contains_key(
            "unstruct_event_com_snowplowanalytics_snowplow_ecommerce_snowplow_ecommerce_action_1"
        ));
    }

    #[test]
    fn warehouse_shapes_and_derived_contexts() {
        // Warehouse-style keys (`_1_0_0`), numbers as strings, microsecond timestamps with an offset.
        let record = json!({
            "event_id": "e1",
            "event": "unstruct",
            "event_name": "snowplow_ecommerce_action",
            "collector_tstamp": "2022-12-22 13:25:55.906000+00:00",
            "derived_tstamp": "2022-12-22 13:25:55.904000+00:00",
            "domain_userid": "",
            "network_userid": "n1",
            "user_id": null,
            "geo_country": "GR", "geo_region": "I", "geo_city": "Aigaleo",
            "useragent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) Chrome/108.0.0.0 Safari/537.36",
            "unstruct_event_com_snowplowanalytics_snowplow_ecommerce_snowplow_ecommerce_action_1_0_0":
                {"type": "transaction", "name": null},
            "contexts_com_snowplowanalytics_snowplow_ecommerce_product_1_0_0": [
                {"category": "Hats", "currency": "EUR", "id": "1236", "price": "12.0", "quantity": "2", "name": null},
                {"category": "Socks", "currency": "EUR", "id": 77, "price": 3.5, "quantity": null}
            ],
            "contexts_com_snowplowanalytics_snowplow_ecommerce_transaction_1_0_0": [
                {"currency": "EUR", "payment_method": "BNPL", "revenue": "13.0", "total_quantity": "1",
                 "transaction_id": "TtlZ3b", "tax": null}
            ],
            "contexts_com_snowplowanalytics_snowplow_ecommerce_cart_1_0_0": [],
            "contexts_com_snowplowanalytics_snowplow_client_session_1_0_1": [],
            "contexts_nl_basjes_yauaa_context_1": [{"deviceClass": "Tablet"}],
        });
        let e = decode_record(record.to_string().as_bytes()).unwrap();
        assert_eq!(e.kind, EventKind::Transaction);
        assert_eq!(e.event_time, 1_671_715_555_904);
        assert_eq!(
            (e.shopper_id.as_str(), e.user_id.as_deref(), e.session_id.as_deref()),
            ("n1", None, None)
        );
        assert_eq!(e.geo.city.as_deref(), Some("Aigaleo"));
        assert_eq!(e.products.len(), 2);
        assert_eq!(
            (e.products[0].price, e.products[0].quantity, e.products[0].name.as_deref()),
            (Some(12.0), 2, None)
        );
        assert_eq!((e.products[1].id.as_str(), e.products[1].quantity), ("77", 1));
        let t = e.transaction.unwrap();
        assert_eq!(
            (t.id.as_str(), t.revenue, t.currency.as_deref(), t.total_quantity),
            ("TtlZ3b", 13.0, Some("EUR"), Some(1))
        );
        assert_eq!(e.device_class, DeviceClass::Tablet);
    }

    #[test]
    fn wrong_types_name_the_field() {
        let base =
            json!({"event_id": "e1", "collector_tstamp": "2025-03-14T22:42:30.344Z", "domain_userid": "d1"});
        assert_eq!(decode_record(base.to_string().as_bytes()).unwrap().kind, EventKind::Other);
        let mut bad = base.clone();
        bad["event_id"] = json!(42);
        let err = decode_record(bad.to_string().as_bytes()).unwrap_err();
        assert_eq!(
            (err.code(), err.to_string().as_str()),
            ("wrong_type", "wrong type in event_id: expected a string, found a number")
        );
        let mut bad = base.clone();
        bad["page_url"] = json!({"href": "x"});
        assert_eq!(decode_record(bad.to_string().as_bytes()).unwrap_err().code(), "wrong_type");
        let mut bad = base.clone();
        bad["contexts_com_snowplowanalytics_snowplow_ecommerce_cart_1"] = json!([{"total_value": [1]}]);
        let err = decode_record(bad.to_string().as_bytes()).unwrap_err();
        assert_eq!(err.code(), "bad_entity");
        assert!(err.to_string().starts_with("bad cart entity: "), "{err}");
        let mut bad = base.clone();
        bad["collector_tstamp"] = json!("14/03/2025");
        let err = decode_record(bad.to_string().as_bytes()).unwrap_err();
        assert_eq!(err.to_string(), "bad timestamp in collector_tstamp: \"14/03/2025\"");
        let mut bad = base;
        bad.as_object_mut().unwrap().remove("event_id");
        assert_eq!(decode_record(bad.to_string().as_bytes()).unwrap_err().code(), "missing_event_id");
    }
}
