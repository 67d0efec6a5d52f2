//! Decoding one Kafka record into the normalised [`Event`] of FEATURES.md §1: per-record format
//! detection, the error type, and the rules all three formats share (ids, event time, shopper id).
//!
//! One file per format: `tsv` (Snowplow enriched TSV), `enriched_json` (the analytics SDK's JSON of
//! an enriched event), `live_json` (the upstream accelerator's Live Shopper JSON); `entities` reads
//! the self-describing entities all of them carry, `json` the JSON shapes, `device` the device class,
//! `timestamp` the timestamps and `time_bounds` the plausibility of an event's time.

mod device;
mod enriched_json;
mod entities;
mod json;
mod live_json;
mod time_bounds;
mod timestamp;
mod tsv;

use std::borrow::Cow;

use crate::model::Interest;
use live_shopper_abi::{Event, EventKind, Geo, Marketing, Page};
use serde_json::value::RawValue;

pub use device::from_user_agent as device_class_from_user_agent;
pub use time_bounds::TimeBounds;
pub use timestamp::parse_timestamp_ms;

use entities::Entities;
use json::{Key, Members};

/// Why a record was not decoded. The `Display` text is the human reason for the dead-letter topic;
/// [`DecodeError::code`] is a stable label for counting.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DecodeError {
    /// The record is not valid UTF-8.
    #[error("not UTF-8: invalid byte at offset {valid_up_to}")]
    BadUtf8 {
        /// Byte offset of the first invalid byte.
        valid_up_to: usize,
    },
    /// The record is in none of the three formats; the text says what it looks like instead.
    #[error("unrecognised record format: {0}")]
    UnknownFormat(&'static str),
    /// A TSV record without the 131 fields of an enriched event.
    #[error("TSV has {found} fields, expected 131")]
    TsvFieldCount {
        /// Number of fields found.
        found: usize,
    },
    /// The record, or a JSON column of a TSV record, is not valid JSON.
    #[error("invalid JSON in {what}: {reason}")]
    BadJson {
        /// What held the JSON: `record`, or the TSV column's name.
        what: &'static str,
        /// The JSON parser's error.
        reason: String,
    },
    /// A field has the wrong JSON type.
    #[error("wrong type in {field}: {reason}")]
    WrongType {
        /// The field.
        field: &'static str,
        /// What was expected and found.
        reason: String,
    },
    /// A self-describing entity that does not have the shape of its schema.
    #[error("bad {entity} entity: {reason}")]
    BadEntity {
        /// The entity's Iglu name.
        entity: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The event has no event id.
    #[error("missing event_id")]
    MissingEventId,
    /// The event has neither of the fields its event time is taken from.
    #[error("missing event time: no {} or {}", .fields[0], .fields[1])]
    MissingEventTime {
        /// The two fields looked for, in order of preference.
        fields: [&'static str; 2],
    },
    /// The event has no domain_userid, network_userid or user_id.
    #[error("missing shopper id: no domain_userid, network_userid or user_id")]
    MissingShopperId,
    /// A timestamp that does not parse.
    #[error("bad timestamp in {field}: {value:?}")]
    BadTimestamp {
        /// The field.
        field: &'static str,
        /// Its value, cut to 40 characters.
        value: String,
    },
    /// The event's time is implausibly far from its ingest time ([`TimeBounds`]).
    #[error("event time {event_time} ms is out of range: more than {limit_ms} ms ({limit}) from its ingest time {ingest_ms} ms")]
    TimeOutOfRange {
        /// The event's time, ms since the epoch.
        event_time: i64,
        /// When the record reached the broker (or the host), ms since the epoch.
        ingest_ms: i64,
        /// The setting that bounds it.
        limit: &'static str,
        /// Its value.
        limit_ms: u64,
    },
}

impl crate::error::Classified for DecodeError {
    /// A record that does not decode is the producer's: it goes to the dead-letter topic.
    fn fault(&self) -> crate::error::Fault {
        crate::error::Fault::Input
    }
}

impl DecodeError {
    /// Every value [`DecodeError::code`] can return, e.g. to register counters up front.
    pub const CODES: [&'static str; 11] = [
        "bad_utf8",
        "unknown_format",
        "tsv_field_count",
        "bad_json",
        "wrong_type",
        "bad_entity",
        "missing_event_id",
        "missing_event_time",
        "missing_shopper_id",
        "bad_timestamp",
        "time_out_of_range",
    ];

    /// A short, stable snake_case reason code.
    pub fn code(&self) -> &'static str {
        match self {
            DecodeError::BadUtf8 { .. } => "bad_utf8",
            DecodeError::UnknownFormat(_) => "unknown_format",
            DecodeError::TsvFieldCount { .. } => "tsv_field_count",
            DecodeError::BadJson { .. } => "bad_json",
            DecodeError::WrongType { .. } => "wrong_type",
            DecodeError::BadEntity { .. } => "bad_entity",
            DecodeError::MissingEventId => "missing_event_id",
            DecodeError::MissingEventTime { .. } => "missing_event_time",
            DecodeError::MissingShopperId => "missing_shopper_id",
            DecodeError::BadTimestamp { .. } => "bad_timestamp",
            DecodeError::TimeOutOfRange { .. } => "time_out_of_range",
        }
    }
}

/// Decodes one record (a Kafka message value) in whichever of the three formats it is.
///
/// A JSON object is enriched JSON when it has `event_id` or `collector_tstamp` (or, failing both,
/// more enriched-event keys than Live Shopper keys), and Live Shopper JSON when it has `id`, `type`,
/// `timestamp`, `payload`, `enrich`, `session` or `metadata`. Anything else with tabs is TSV.
/// Never panics. Reads what the five default plugins need ([`Interest::default`]).
pub fn decode_record(bytes: &[u8]) -> Result<Event, DecodeError> {
    decode_record_for(bytes, &Interest::default())
}

/// Decodes one record, reading of its entities only what `interest` asks for: the standard
/// ones if any plugin reads them, and the custom events and entities some plugin declared
/// (kept raw in [`Event::self_describing`]); every other entity is skipped unread.
pub fn decode_record_for(bytes: &[u8], interest: &Interest) -> Result<Event, DecodeError> {
    let text =
        std::str::from_utf8(bytes).map_err(|e| DecodeError::BadUtf8 { valid_up_to: e.valid_up_to() })?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let body = text.trim_start();
    if body.starts_with('{') {
        match serde_json::from_str::<Members<'_>>(body) {
            Ok(members) => return decode_object(&members.0, interest),
            // A TSV line whose app_id happens to start with `{`.
            Err(_) if tsv::has_all_fields(text) => {}
            Err(e) => return Err(DecodeError::BadJson { what: "record", reason: e.to_string() }),
        }
    } else if body.starts_with('[') {
        return Err(DecodeError::UnknownFormat("a JSON array; expected one event object per record"));
    }
    if text.contains('\t') {
        return tsv::decode(text, interest);
    }
    Err(DecodeError::UnknownFormat(if body.is_empty() {
        "empty record"
    } else {
        "neither tab-separated fields nor a JSON object"
    }))
}

fn decode_object(members: &[(Key<'_>, &RawValue)], interest: &Interest) -> Result<Event, DecodeError> {
    let (mut enriched, mut live, mut strong) = (0, 0, false);
    for (key, _) in members {
        match key.as_str() {
            "event_id" | "collector_tstamp" => (enriched, strong) = (enriched + 1, true),
            "derived_tstamp"
            | "etl_tstamp"
            | "dvce_created_tstamp"
            | "event"
            | "event_name"
            | "domain_userid"
            | "network_userid"
            | "domain_sessionid"
            | "app_id"
            | "v_tracker" => enriched += 1,
            k if k.starts_with("contexts_") || k.starts_with("unstruct_event_") => enriched += 1,
            "id" | "type" | "timestamp" | "payload" | "enrich" | "session" | "metadata" => live += 1,
            _ => {}
        }
    }
    if strong || (enriched > 0 && enriched >= live) {
        enriched_json::decode(members, interest)
    } else if live > 0 {
        live_json::decode(members, interest)
    } else {
        Err(DecodeError::UnknownFormat(
            "a JSON object that is neither Snowplow enriched JSON (event_id, collector_tstamp, ...) \
             nor Live Shopper JSON (id, type, timestamp, payload, enrich, session)",
        ))
    }
}

/// How a format names the event kind.
enum KindSource<'a> {
    /// Snowplow's atomic event name; the kind follows the §1 rule with the entities.
    Snowplow(Option<Cow<'a, str>>),
    /// A kind name given outright (Live Shopper JSON `type`).
    Named(Option<Cow<'a, str>>),
}

/// The top-level fields of one record, before the rules of §1 apply. Empty strings are `None`.
struct Atomic<'a> {
    event_id: Option<Cow<'a, str>>,
    kind: KindSource<'a>,
    /// The event time candidates in order of preference, with their field names for errors.
    times: [(&'static str, Option<Cow<'a, str>>); 2],
    domain_userid: Option<Cow<'a, str>>,
    network_userid: Option<Cow<'a, str>>,
    user_id: Option<Cow<'a, str>>,
    domain_sessionid: Option<Cow<'a, str>>,
    page: [Option<Cow<'a, str>>; 3],
    /// source, medium, campaign
    marketing: [Option<Cow<'a, str>>; 3],
    /// country, region, city
    geo: [Option<Cow<'a, str>>; 3],
    platform: Option<Cow<'a, str>>,
    useragent: Option<Cow<'a, str>>,
}

/// Applies the shared rules: rejects a record without event id, event time or shopper id (in that
/// order, before `load` parses any entity), then lets `load` collect the entities and builds the event.
fn finish(
    a: Atomic<'_>,
    interest: &Interest,
    load: impl FnOnce(&mut Entities) -> Result<(), DecodeError>,
) -> Result<Event, DecodeError> {
    let event_id = a.event_id.ok_or(DecodeError::MissingEventId)?.into_owned();
    let event_time = event_time(&a.times)?;
    let shopper_id = a
        .domain_userid
        .or(a.network_userid)
        .or_else(|| a.user_id.clone())
        .ok_or(DecodeError::MissingShopperId)?;
    let mut found = Entities::for_interest(interest);
    load(&mut found)?;
    let kind = match &a.kind {
        KindSource::Snowplow(name) => found.snowplow_kind(name.as_deref()),
        KindSource::Named(name) => name.as_deref().map_or(EventKind::Other, EventKind::from_name),
    };
    let [url, title, referrer] = a.page.map(owned);
    let [source, medium, campaign] = a.marketing.map(owned);
    let [country, region, city] = a.geo.map(owned);
    let mut e = Event {
        event_id,
        event_time,
        kind,
        shopper_id: shopper_id.into_owned(),
        user_id: owned(a.user_id),
        page: Page { url, title, referrer },
        marketing: Marketing { source, medium, campaign },
        geo: Geo { country, region, city },
        platform: owned(a.platform),
        ..Event::default()
    };
    found.fill(&mut e, owned(a.domain_sessionid), a.useragent.as_deref());
    Ok(e)
}

fn owned(s: Option<Cow<'_, str>>) -> Option<String> {
    s.map(Cow::into_owned)
}

fn event_time(times: &[(&'static str, Option<Cow<'_, str>>); 2]) -> Result<i64, DecodeError> {
    for (field, value) in times {
        if let Some(value) = value {
            return parse_timestamp_ms(value)
                .ok_or_else(|| DecodeError::BadTimestamp { field, value: value.chars().take(40).collect() });
        }
    }
    Err(DecodeError::MissingEventTime { fields: [times[0].0, times[1].0] })
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    fn data(name: &str) -> String {
        let path = format!("{}/../testdata/snowplow/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    fn code(bytes: &[u8]) -> &'static str {
        decode_record(bytes).unwrap_err().code()
    }

    /// Every record of every data file, as Kafka would carry it.
    fn all_records() -> Vec<String> {
        let mut records = Vec::new();
        for file in [
            "store-home-5.tsv",
            "store-page-ping-5.tsv",
            "store-session-20.tsv",
            "flink-format-checkout.jsonl",
        ] {
            records.extend(data(file).lines().map(str::to_owned));
        }
        records.push(data("flink-format-product-view.json"));
        records
    }

    #[test]
    fn kafka_records_decode_like_the_tsv() {
        #[derive(Deserialize)]
        struct KafkaRecord {
            key: String,
            value: String,
        }
        let text = data("store-home-5.kafka-records.json");
        let records: Vec<KafkaRecord> =
            serde_json::Deserializer::from_str(&text).into_iter().collect::<Result<_, _>>().unwrap();
        assert_eq!(records.len(), 5);
        let tsv = data("store-home-5.tsv");
        for (record, line) in records.iter().zip(tsv.lines()) {
            assert!(!record.key.is_empty());
            let e = decode_record(record.value.as_bytes()).unwrap();
            assert_eq!(e, decode_record(line.as_bytes()).unwrap());
        }
        let e = decode_record(records[0].value.as_bytes()).unwrap();
        assert_eq!(e.event_id, "6e9aaf0c-9e1d-49ae-8515-2911ab9dfd56");
        assert_eq!((e.kind, e.list_name.as_deref()), (EventKind::ListView, Some("Top this week")));
        assert_eq!(e.event_time, 1_741_756_908_013);
    }

    #[test]
    fn codes_are_listed_and_unique() {
        let mut codes = DecodeError::CODES.to_vec();
        codes.sort();
        codes.dedup();
        assert_eq!(codes.len(), DecodeError::CODES.len());
        let errors = [
            DecodeError::BadUtf8 { valid_up_to: 0 },
            DecodeError::UnknownFormat("x"),
            DecodeError::TsvFieldCount { found: 1 },
            DecodeError::BadJson { what: "x", reason: String::new() },
            DecodeError::WrongType { field: "x", reason: String::new() },
            DecodeError::BadEntity { entity: "x", reason: String::new() },
            DecodeError::MissingEventId,
            DecodeError::MissingEventTime { fields: ["a", "b"] },
            DecodeError::MissingShopperId,
            DecodeError::BadTimestamp { field: "x", value: String::new() },
            DecodeError::TimeOutOfRange { event_time: 0, ingest_ms: 0, limit: "x", limit_ms: 0 },
        ];
        assert_eq!(errors.map(|e| e.code()), DecodeError::CODES);
    }

    #[test]
    fn garbage_is_rejected_with_a_reason() {
        assert_eq!(code(b""), "unknown_format");
        assert_eq!(code(b"   \n"), "unknown_format");
        assert_eq!(code(b"hello world"), "unknown_format");
        assert_eq!(code(b"[1, 2]"), "unknown_format");
        assert_eq!(code(b"{\"foo\": 1}"), "unknown_format");
        assert_eq!(code(b"{\"event_id\": "), "bad_json");
        assert_eq!(code(b"{\"event_id\": \"a\"} trailing"), "bad_json");
        assert_eq!(code(b"a\tb\tc"), "tsv_field_count");
        let err = decode_record(b"\xff\xfe{\"id\":1}").unwrap_err();
        assert_eq!(
            (err.code(), err.to_string().as_str()),
            ("bad_utf8", "not UTF-8: invalid byte at offset 0")
        );
        // Deep nesting hits serde_json's recursion limit, not the stack.
        let deep = format!("{{\"payload\": {}", "[".repeat(100_000));
        assert_eq!(code(deep.as_bytes()), "bad_json");
        let deep = format!("{{\"id\": \"x\", \"payload\": {}1{}}}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(DecodeError::CODES.contains(&code(deep.as_bytes())));
        // JSON with a UTF-8 byte-order mark and surrounding whitespace is still JSON.
        let product_view = data("flink-format-product-view.json");
        decode_record(format!("\u{feff}\n {product_view}\n").as_bytes()).unwrap();
        // Every truncation of a JSON record is invalid JSON.
        let product_view = product_view.trim_end();
        for (i, _) in product_view.char_indices().skip(1) {
            assert_eq!(code(&product_view.as_bytes()[..i]), "bad_json", "cut at {i}");
        }
    }

    #[test]
    fn random_and_mutated_bytes_never_panic() {
        let mut state = 0x9E37_79B9_7F4A_7C15_u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for len in 0..2000 {
            let bytes: Vec<u8> = (0..len % 300).map(|_| next() as u8).collect();
            if let Err(e) = decode_record(&bytes) {
                assert!(DecodeError::CODES.contains(&e.code()));
                assert!(!e.to_string().is_empty());
            }
        }
        let records = all_records();
        let alphabet = b"\t{}[]\":,0123456789.-eE nulltruefalse\\\xff\xc3";
        for round in 0..6000 {
            let mut bytes = records[round % records.len()].clone().into_bytes();
            for _ in 0..1 + next() % 4 {
                let at = next() as usize % bytes.len();
                match next() % 3 {
                    0 => bytes[at] = alphabet[next() as usize % alphabet.len()],
                    1 => bytes.truncate(at),
                    _ => {
                        bytes.remove(at);
                    }
                }
                if bytes.is_empty() {
                    break;
                }
            }
            let _ = decode_record(&bytes);
        }
    }
}
