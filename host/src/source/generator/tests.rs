//! Tests of the traffic generator (determinism, event mix, time behaviour) and of its TSV lines,
//! which a small test-only reader parses back into the event they came from.

use std::collections::{HashMap, HashSet};

use live_shopper_abi::{DeviceClass, Event, EventKind, Product, Refund, Transaction};
use serde_json::Value;

use super::tsv::FIELD_COUNT;
use super::{write_enriched_tsv, Generator, GeneratorConfig, MAX_DELIVERY_DELAY_MS};

fn generate(shoppers: u32, events: u64, seed: u64) -> Vec<Event> {
    Generator::new(GeneratorConfig { shoppers, events, seed, ..GeneratorConfig::default() }).collect()
}

#[test]
fn same_config_same_events_and_other_seed_other_events() {
    let a = generate(50, 3_000, 42);
    assert_eq!(a.len(), 3_000);
    assert_eq!(a, generate(50, 3_000, 42));
    let b = generate(50, 3_000, 43);
    assert_eq!(b.len(), 3_000);
    assert_ne!(a, b);
}

#[test]
fn yields_exactly_the_configured_count() {
    for events in [0, 1, 17, 999] {
        assert_eq!(generate(3, events, 1).len() as u64, events);
    }
    let mut generator = Generator::new(GeneratorConfig { events: 50, ..GeneratorConfig::default() });
    assert_eq!(generator.len(), 50);
    generator.nth(9);
    assert_eq!(generator.len(), 40);
    assert_eq!(generate(0, 10, 1).len(), 10, "zero shoppers is treated as one");
}

#[test]
fn realistic_mix_over_twenty_thousand_events() {
    let events = generate(200, 20_000, 7);
    assert_eq!(events.len(), 20_000);
    let kinds: HashMap<EventKind, usize> = events.iter().fold(HashMap::new(), |mut m, e| {
        *m.entry(e.kind).or_default() += 1;
        m
    });
    use EventKind::*;
    for kind in [
        PageView,
        PagePing,
        ProductView,
        AddToCart,
        RemoveFromCart,
        ListView,
        ListClick,
        CheckoutStep,
        Transaction,
        SiteSearch,
        Refund,
        PromoView,
        PromoClick,
    ] {
        assert!(kinds.contains_key(&kind), "no {kind:?} in {kinds:?}");
    }
    let devices: HashSet<DeviceClass> = events.iter().map(|e| e.device_class).collect();
    assert!(devices.len() >= 3, "{devices:?}");

    let mut sessions: HashMap<&str, HashSet<&str>> = HashMap::new();
    for e in &events {
        sessions.entry(&e.shopper_id).or_default().insert(e.session_id.as_deref().unwrap());
    }
    assert!(sessions.values().any(|s| s.len() >= 2), "no shopper with two sessions");

    let mut by_time: Vec<&Event> = events.iter().collect();
    by_time.sort_by_key(|e| e.event_time);
    let mut seen_anonymous: HashSet<&str> = HashSet::new();
    let mut logged_in_midway = false;
    let mut last_region: HashMap<&str, (&str, &str)> = HashMap::new();
    let mut region_changes = 0;
    for e in &by_time {
        let session = e.session_id.as_deref().unwrap();
        match &e.user_id {
            None => {
                seen_anonymous.insert(session);
            }
            Some(_) => logged_in_midway |= seen_anonymous.contains(session),
        }
        if let (Some(country), Some(region)) = (&e.geo.country, &e.geo.region) {
            let previous = last_region.insert(&e.shopper_id, (country, region));
            region_changes += usize::from(previous.is_some_and(|p| p != (country.as_str(), region.as_str())));
        }
    }
    assert!(logged_in_midway, "no session gains a user_id midway");
    assert!(region_changes > 0, "no shopper changes region");
    assert!(events.iter().any(|e| e.marketing.source.is_some()));
    assert!(events.iter().any(|e| e.platform.as_deref() == Some("mob")));

    // Sessions never see 30 min of idle time; a new one starts only after more than that.
    let mut last_in_session: HashMap<&str, i64> = HashMap::new();
    for e in &by_time {
        if let Some(last) = last_in_session.insert(e.session_id.as_deref().unwrap(), e.event_time) {
            assert!(e.event_time - last < 30 * 60 * 1000);
        }
    }

    let mut max_seen = events[0].event_time;
    let mut worst_lateness = 0;
    for e in &events {
        worst_lateness = worst_lateness.max(max_seen - e.event_time);
        max_seen = max_seen.max(e.event_time);
    }
    assert!(worst_lateness <= MAX_DELIVERY_DELAY_MS, "out of order by {worst_lateness} ms");
    assert!(worst_lateness > 0, "no out-of-order jitter at all");
    let span_h = (by_time.last().unwrap().event_time - by_time[0].event_time) as f64 / 3_600_000.0;
    assert!((1.0..6.0).contains(&span_h), "span {span_h} h");
    println!("kinds {kinds:?}\ndevices {devices:?}\nspan {span_h:.2} h, worst lateness {worst_lateness} ms");
}

#[test]
fn every_tsv_line_has_131_clean_fields_and_reads_back_as_its_event() {
    let mut line = String::new();
    for event in generate(120, 12_000, 11) {
        line.clear();
        write_enriched_tsv(&event, &mut line);
        assert!(!line.contains(['\n', '\r']));
        let fields: Vec<&str> = line.split('\t').collect();
        assert_eq!(fields.len(), FIELD_COUNT);
        assert_eq!(fields[6], event.event_id);
        assert_eq!(fields[15], event.shopper_id);
        assert_eq!(parse_tstamp(fields[124]), event.event_time);
        let collected = parse_tstamp(fields[3]);
        assert!((0..=MAX_DELIVERY_DELAY_MS).contains(&(collected - event.event_time)));
        let (created, sent) = (parse_tstamp(fields[4]), parse_tstamp(fields[119]));
        assert_eq!(collected - (sent - created), event.event_time, "derived_tstamp as Enrich computes it");
        for column in [52, 58, 122] {
            if !fields[column].is_empty() {
                serde_json::from_str::<Value>(fields[column]).expect("valid JSON column");
            }
        }
        assert_eq!(read_back(&fields), event);
    }
}

#[test]
fn timestamps_format_like_enrich() {
    assert_eq!(super::tsv::tstamp(1_741_992_150_344), "2025-03-14 22:42:30.344");
    assert_eq!(super::tsv::tstamp(0), "1970-01-01 00:00:00.000");
    assert_eq!(parse_tstamp("2024-02-29 23:59:59.999"), 1_709_251_199_999);
    assert_eq!(super::tsv::tstamp(1_709_251_199_999), "2024-02-29 23:59:59.999");
}

fn parse_tstamp(s: &str) -> i64 {
    let n = |range: std::ops::Range<usize>| s[range].parse::<i64>().unwrap();
    let (y, m, d) = (n(0..4), n(5..7), n(8..10));
    let (y, m) = if m <= 2 { (y - 1, m + 9) } else { (y, m - 3) };
    let days = 365 * y + y / 4 - y / 100 + y / 400 + (153 * m + 2) / 5 + d - 1 - 719_468;
    days * 86_400_000 + n(11..13) * 3_600_000 + n(14..16) * 60_000 + n(17..19) * 1000 + n(20..23)
}

/// A minimal reader of the columns FEATURES.md §1 lists, for checking the writer.
fn read_back(f: &[&str]) -> Event {
    let text = |i: usize| (!f[i].is_empty()).then(|| f[i].to_string());
    let contexts: Vec<Value> =
        serde_json::from_str::<Value>(f[52]).unwrap()["data"].as_array().unwrap().clone();
    let entity = |name: &str| -> Vec<&Value> {
        let suffix = format!("/{name}/jsonschema");
        contexts
            .iter()
            .filter(|c| c["schema"].as_str().unwrap().contains(&suffix))
            .map(|c| &c["data"])
            .collect()
    };
    let unstruct: Value = if f[58].is_empty() { Value::Null } else { serde_json::from_str(f[58]).unwrap() };
    let inner = &unstruct["data"];
    let inner_schema = inner["schema"].as_str().unwrap_or("");
    let kind = match f[5] {
        "page_view" => EventKind::PageView,
        "page_ping" => EventKind::PagePing,
        _ if inner_schema.contains("/snowplow_ecommerce_action/") => {
            EventKind::from_name(inner["data"]["type"].as_str().unwrap())
        }
        _ if inner_schema.contains("/site_search/") => EventKind::SiteSearch,
        _ => EventKind::Other,
    };
    let str_of = |v: &Value| v.as_str().map(str::to_string);
    let derived: Value = serde_json::from_str(f[122]).unwrap();
    let device_class = match derived["data"][0]["data"]["deviceClass"].as_str() {
        Some("Desktop") => DeviceClass::Desktop,
        Some("Phone") | Some("Mobile") => DeviceClass::Mobile,
        Some("Tablet") => DeviceClass::Tablet,
        _ => DeviceClass::Other,
    };
    assert_eq!(device_class, device_from_user_agent(f[77]), "{}", f[77]);
    Event {
        event_id: f[6].to_string(),
        event_time: parse_tstamp(f[124]),
        kind,
        shopper_id: f[15].to_string(),
        user_id: text(12),
        session_id: entity("client_session")
            .first()
            .and_then(|s| str_of(&s["sessionId"]))
            .or_else(|| text(123)),
        products: entity("product")
            .into_iter()
            .map(|p| Product {
                id: p["id"].as_str().unwrap().to_string(),
                name: str_of(&p["name"]),
                category: str_of(&p["category"]),
                brand: str_of(&p["brand"]),
                price: p["price"].as_f64(),
                quantity: p["quantity"].as_u64().map_or(1, |q| q as u32),
                currency: str_of(&p["currency"]),
            })
            .collect(),
        list_name: str_of(&inner["data"]["name"]),
        cart_total: entity("cart").first().and_then(|c| c["total_value"].as_f64()),
        checkout_step: entity("checkout_step").first().and_then(|c| c["step"].as_u64()).map(|s| s as u32),
        transaction: entity("transaction").first().map(|t| Transaction {
            id: t["transaction_id"].as_str().unwrap().to_string(),
            revenue: t["revenue"].as_f64().unwrap(),
            currency: str_of(&t["currency"]),
            total_quantity: t["total_quantity"].as_u64().map(|q| q as u32),
        }),
        refund: entity("refund").first().map(|r| Refund {
            transaction_id: r["transaction_id"].as_str().unwrap().to_string(),
            amount: r["refund_amount"].as_f64().unwrap(),
        }),
        search_terms: inner["data"]["terms"]
            .as_array()
            .map_or(Vec::new(), |t| t.iter().map(|t| t.as_str().unwrap().to_string()).collect()),
        page: live_shopper_abi::Page { url: text(29), title: text(30), referrer: text(31) },
        marketing: live_shopper_abi::Marketing { source: text(48), medium: text(47), campaign: text(51) },
        geo: live_shopper_abi::Geo { country: text(18), region: text(19), city: text(20) },
        device_class,
        platform: text(1),
        self_describing: Vec::new(),
    }
}

/// The user-agent rule the generator's agents follow (see `shopper::USER_AGENTS`).
fn device_from_user_agent(ua: &str) -> DeviceClass {
    if ua.contains("iPad") || (ua.contains("Android") && !ua.contains("Mobile")) {
        DeviceClass::Tablet
    } else if ua.contains("iPhone") || ua.contains("Mobile") {
        DeviceClass::Mobile
    } else {
        DeviceClass::Desktop
    }
}
