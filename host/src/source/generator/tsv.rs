//! Snowplow enriched TSV for a normalised event: the 131-column line Enrich would have written for
//! it, carrying every field the way FEATURES.md §1 reads it back.

use live_shopper_abi::{Event, EventKind};

use super::entities::{contexts, derived_contexts, hashed_uuid, unstruct_event, ECOMMERCE, SNOWPLOW};
use super::page::query_param;
use super::shopper::{find_place, user_agent_for};
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
    f[APP_ID] = agent.app_id().into();
    f[PLATFORM] = event.platform.clone().unwrap_or_default();
    f[ETL_TSTAMP] = tstamp(event.event_time + delay + 900 + (event_hash >> 20) as i64 % 2_000);
    f[COLLECTOR_TSTAMP] = tstamp(event.event_time + delay);
    f[DVCE_CREATED_TSTAMP] = tstamp(created);
    f[DVCE_SENT_TSTAMP] = tstamp(created + delay);
    f[DERIVED_TSTAMP] = tstamp(event.event_time);
    f[EVENT_ID] = event.event_id.clone();
    f[NAME_TRACKER] = "sp".into();
    f[V_TRACKER] = agent.tracker().into();
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
    f[UNSTRUCT_EVENT] = unstruct_event(event).unwrap_or_default();
    f[CONTEXTS] = contexts(event, agent);
    f[DERIVED_CONTEXTS] = derived_contexts(agent);

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
        if field.contains(['\t', '\n', '\r']) {
            out.extend(field.chars().map(|c| if matches!(c, '\t' | '\n' | '\r') { ' ' } else { c }));
        } else {
            out.push_str(field);
        }
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
