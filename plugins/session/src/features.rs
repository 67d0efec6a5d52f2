//! Session features, keyed by session id; a session closes 30 minutes after its last event
//! (FEATURES.md §4, session).

use live_shopper_sdk::abi::{DecodeError, Reader, Writer};
use live_shopper_sdk::{
    group, Descriptor, Emitter, EventFields, EventKind, EventKinds, EventRef, KeyKind, Plugin, State, Step,
    HOUR, MINUTE,
};

/// Inactivity after which a session closes.
pub const SESSION_GAP_MS: i64 = 30 * MINUTE as i64;

/// The first marketing-bearing event of the session, by event time.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Marketing<'a> {
    /// Event time of that event, epoch ms.
    pub at: i64,
    /// Marketing source; empty when absent.
    pub source: &'a str,
    /// Marketing medium; empty when absent.
    pub medium: &'a str,
    /// Marketing campaign; empty when absent.
    pub campaign: &'a str,
}

/// One session's state; it closes [`SESSION_GAP_MS`] after its last event.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SessionState<'a> {
    /// Earliest event time, epoch ms.
    pub first: i64,
    /// Latest event time, epoch ms.
    pub last: i64,
    /// Events folded in; 0 for an empty state.
    pub events: u64,
    /// page_view events.
    pub page_views: u64,
    /// product_view events.
    pub product_views: u64,
    /// add_to_cart events.
    pub cart_adds: u64,
    /// site_search events.
    pub searches: u64,
    /// Page views whose URL has a non-empty `q` parameter (the fallback search count).
    pub query_pages: u64,
    /// The earliest event with marketing fields, if any.
    pub marketing: Option<Marketing<'a>>,
}

impl<'a> State<'a> for SessionState<'a> {
    fn clear(&mut self) {
        *self = SessionState::default();
    }

    fn load(&mut self, bytes: &'a [u8]) -> Result<(), DecodeError> {
        let mut r = Reader::new(bytes);
        let mut s = SessionState {
            first: r.i64()?,
            last: r.i64()?,
            events: r.varint()?,
            page_views: r.varint()?,
            product_views: r.varint()?,
            cart_adds: r.varint()?,
            searches: r.varint()?,
            query_pages: r.varint()?,
            marketing: None,
        };
        if r.bool()? {
            s.marketing =
                Some(Marketing { at: r.i64()?, source: r.str()?, medium: r.str()?, campaign: r.str()? });
        }
        *self = s;
        Ok(())
    }

    fn encode(&self, out: &mut Vec<u8>) {
        let mut w = Writer::to(out);
        w.i64(self.first);
        w.i64(self.last);
        for n in [
            self.events,
            self.page_views,
            self.product_views,
            self.cart_adds,
            self.searches,
            self.query_pages,
        ] {
            w.varint(n);
        }
        match &self.marketing {
            None => w.bool(false),
            Some(m) => {
                w.bool(true);
                w.i64(m.at);
                w.str(m.source);
                w.str(m.medium);
                w.str(m.campaign);
            }
        }
    }

    fn is_empty(&self) -> bool {
        self.events == 0
    }
}

/// True when `url` has a query parameter `q` with a non-empty value.
pub fn has_search_query(url: &str) -> bool {
    let Some((_, query)) = url.split_once('?') else { return false };
    let query = query.split('#').next().unwrap_or("");
    query.split('&').any(|pair| matches!(pair.split_once('='), Some(("q", v)) if !v.is_empty()))
}

impl<'a> SessionState<'a> {
    /// Folds one event in (any order of arrival).
    pub fn apply(&mut self, e: &EventRef<'a>) {
        if self.events == 0 {
            self.first = e.event_time;
            self.last = e.event_time;
        }
        self.first = self.first.min(e.event_time);
        self.last = self.last.max(e.event_time);
        self.events += 1;
        match e.kind {
            EventKind::PageView => {
                self.page_views += 1;
                if e.page_url.is_some_and(has_search_query) {
                    self.query_pages += 1;
                }
            }
            EventKind::ProductView => self.product_views += 1,
            EventKind::AddToCart => self.cart_adds += 1,
            EventKind::SiteSearch => self.searches += 1,
            _ => {}
        }
        if e.has_marketing() && self.marketing.as_ref().is_none_or(|m| e.event_time < m.at) {
            self.marketing = Some(Marketing {
                at: e.event_time,
                source: e.mkt_source.unwrap_or_default(),
                medium: e.mkt_medium.unwrap_or_default(),
                campaign: e.mkt_campaign.unwrap_or_default(),
            });
        }
    }

    /// Seconds from the first event to the last.
    pub fn duration_seconds(&self) -> f64 {
        (self.last - self.first) as f64 / 1000.0
    }

    /// Cart adds per product view; 0 without product views.
    pub fn cart_ratio(&self) -> f64 {
        if self.product_views == 0 {
            0.0
        } else {
            self.cart_adds as f64 / self.product_views as f64
        }
    }

    /// site_search events, or, when there are none, page views with a `q` query.
    pub fn search_count(&self) -> u64 {
        if self.searches > 0 {
            self.searches
        } else {
            self.query_pages
        }
    }

    fn emit(&self, out: &mut Emitter<'_, '_>, closing: bool) {
        let m = self.marketing.unwrap_or_default();
        let e = if closing { out.closing_group(0) } else { out.group(0) };
        e.float(self.duration_seconds())
            .int(self.events as i64)
            .int(self.page_views as i64)
            .bool(self.page_views < 2)
            .float(self.cart_ratio())
            .int(self.search_count() as i64)
            .text(m.source)
            .text(m.medium)
            .text(m.campaign)
            .timestamp(self.first)
            .timestamp(self.last);
    }
}

/// The session feature plugin.
pub struct SessionPlugin;

impl Plugin for SessionPlugin {
    type State<'a> = SessionState<'a>;

    fn descriptor() -> Descriptor {
        Descriptor {
            name: "session".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            key: KeyKind::Session,
            groups: vec![group(
                "session",
                "session:{key}:features",
                0,
                0,
                2 * HOUR,
                &[
                    "session_duration",
                    "session_event_count",
                    "session_page_count",
                    "session_bounce",
                    "session_cart_ratio",
                    "session_search_count",
                    "session_marketing_source",
                    "session_marketing_medium",
                    "session_marketing_campaign",
                    "session_start",
                    "session_end",
                ],
            )],
            event_kinds: EventKinds::ALL,
            event_fields: EventFields(EventFields::PAGE | EventFields::MARKETING),
            state_schema: 1,
            ..Descriptor::default()
        }
    }

    fn step<'a>(state: &mut SessionState<'a>, step: &Step<'_, 'a>, out: &mut Emitter<'_, '_>) -> Option<i64> {
        for e in step.events {
            state.apply(e);
        }
        if state.is_empty() {
            return None;
        }
        if step.tick.is_some_and(|t| t >= state.last + SESSION_GAP_MS) {
            state.emit(out, true);
            state.clear();
            return None;
        }
        if !step.events.is_empty() {
            state.emit(out, false);
        }
        Some(state.last + SESSION_GAP_MS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(kind: EventKind, t: i64) -> EventRef<'static> {
        EventRef { kind, event_time: t, ..Default::default() }
    }

    #[test]
    fn duration_is_first_to_last_in_seconds() {
        let mut s = SessionState::default();
        s.apply(&event(EventKind::PageView, 5_000));
        s.apply(&event(EventKind::PageView, 1_500));
        assert_eq!(s.duration_seconds(), 3.5);
        assert_eq!(s.page_views, 2);
    }

    #[test]
    fn cart_ratio_is_a_float() {
        let mut s = SessionState::default();
        for k in
            [EventKind::ProductView, EventKind::ProductView, EventKind::ProductView, EventKind::AddToCart]
        {
            s.apply(&event(k, 1));
        }
        assert_eq!(s.cart_ratio(), 1.0 / 3.0);
        assert_eq!(SessionState::default().cart_ratio(), 0.0);
    }

    #[test]
    fn search_count_falls_back_to_q_pages() {
        let mut s = SessionState::default();
        let mut pv = event(EventKind::PageView, 1);
        pv.page_url = Some("http://shop/search?q=run&x=1");
        s.apply(&pv);
        pv.page_url = Some("http://shop/search?q=");
        s.apply(&pv);
        assert_eq!(s.search_count(), 1);
        s.apply(&event(EventKind::SiteSearch, 2));
        s.apply(&event(EventKind::SiteSearch, 3));
        assert_eq!(s.search_count(), 2);
        assert!(!has_search_query("http://shop/?query=x"));
    }

    #[test]
    fn marketing_comes_from_the_earliest_event_that_has_it() {
        let mut s = SessionState::default();
        let mut late = event(EventKind::PageView, 10);
        late.mkt_source = Some("news");
        let mut early = event(EventKind::PageView, 5);
        early.mkt_medium = Some("cpc");
        s.apply(&late);
        s.apply(&early);
        let m = s.marketing.unwrap();
        assert_eq!((m.source, m.medium), ("", "cpc"));
    }

    #[test]
    fn state_round_trips() {
        let mut s = SessionState::default();
        let mut e = event(EventKind::PageView, 7);
        e.mkt_campaign = Some("c");
        s.apply(&e);
        let mut bytes = Vec::new();
        s.encode(&mut bytes);
        assert_eq!(SessionState::decode(&bytes).unwrap(), s);
    }

    #[test]
    fn descriptor_is_valid() {
        SessionPlugin::descriptor().validate().unwrap();
    }
}
