//! Per-product flash-sale features (docs/FEATURES-0.2.md, flash-sale): views, add-to-carts and
//! purchases over a 10-minute window sliding every 5 minutes of event time, and the
//! `flash_sale_alert` signal when a product draws many views but few purchases.
//!
//! State per product: one pane of counts per 5 minutes. A window is two consecutive panes; it
//! is emitted once, when the watermark passes its end (a timer on the next window end).

use live_shopper_sdk::abi::{DecodeError, Reader, Writer};
use live_shopper_sdk::{
    group, signal, Descriptor, Emitter, EventKind, EventKinds, KeyKind, Plugin, SettingDecl, SettingKind,
    State, Step, MINUTE,
};

/// How far a window slides, and the width of a pane.
pub const SLIDE_MS: i64 = 5 * MINUTE as i64;
/// The window's length: two panes.
pub const WINDOW_MS: i64 = 10 * MINUTE as i64;

/// Default of setting `min_views`: an alert needs more views than this.
pub const DEFAULT_MIN_VIEWS: i64 = 100;
/// Default of setting `max_purchases`: an alert needs fewer purchases than this.
pub const DEFAULT_MAX_PURCHASES: i64 = 5;

const FEATURES: [&str; 6] = [
    "views_10min",
    "add_to_carts_10min",
    "purchases_10min",
    "conversion_rate_10min",
    "view_to_cart_rate_10min",
    "window_end",
];

const ALERT_FIELDS: [&str; 4] = ["product_id", "views_10min", "purchases_10min", "window_end"];

/// Counts of one 5-minute pane of one product.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pane {
    /// Start of the pane (a multiple of 5 minutes), ms.
    pub start: i64,
    /// product_view events naming the product.
    pub views: u32,
    /// add_to_cart events naming it.
    pub add_to_carts: u32,
    /// transaction events naming it.
    pub purchases: u32,
}

/// One product's panes (oldest first) and the end of the last window emitted.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FlashSaleState {
    /// Panes still inside a window not yet emitted.
    pub panes: Vec<Pane>,
    /// End of the last emitted window; events of panes ending at or before it are late.
    pub emitted_until: i64,
}

impl State<'_> for FlashSaleState {
    fn load(&mut self, bytes: &[u8]) -> Result<(), DecodeError> {
        let mut r = Reader::new(bytes);
        self.emitted_until = r.i64()?;
        self.panes.clear();
        for _ in 0..r.count()? {
            let start = r.i64()?;
            let (views, add_to_carts, purchases) =
                (r.varint()? as u32, r.varint()? as u32, r.varint()? as u32);
            self.panes.push(Pane { start, views, add_to_carts, purchases });
        }
        Ok(())
    }

    fn clear(&mut self) {
        self.panes.clear();
        self.emitted_until = 0;
    }

    fn encode(&self, out: &mut Vec<u8>) {
        let mut w = Writer::to(out);
        w.i64(self.emitted_until);
        w.varint(self.panes.len() as u64);
        for p in &self.panes {
            w.i64(p.start);
            w.varint(p.views as u64);
            w.varint(p.add_to_carts as u64);
            w.varint(p.purchases as u64);
        }
    }

    fn is_empty(&self) -> bool {
        self.panes.is_empty()
    }
}

/// The features of the window ending at `end`.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct WindowFeatures {
    /// Views in the window.
    pub views: u32,
    /// Add-to-carts in the window.
    pub add_to_carts: u32,
    /// Purchases in the window.
    pub purchases: u32,
}

impl WindowFeatures {
    /// Purchases per view; 0 without views.
    pub fn conversion_rate(&self) -> f64 {
        ratio(self.purchases, self.views)
    }

    /// Add-to-carts per view; 0 without views.
    pub fn view_to_cart_rate(&self) -> f64 {
        ratio(self.add_to_carts, self.views)
    }
}

fn ratio(a: u32, b: u32) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

impl FlashSaleState {
    /// Counts one event of `kind` at `t` (late ones, in an emitted window, are not counted).
    pub fn count(&mut self, kind: EventKind, t: i64) {
        let start = t.div_euclid(SLIDE_MS) * SLIDE_MS;
        if start + SLIDE_MS <= self.emitted_until {
            return;
        }
        let at = match self.panes.binary_search_by_key(&start, |p| p.start) {
            Ok(i) => i,
            Err(i) => {
                self.panes.insert(i, Pane { start, ..Pane::default() });
                i
            }
        };
        let pane = &mut self.panes[at];
        match kind {
            EventKind::ProductView => pane.views += 1,
            EventKind::AddToCart => pane.add_to_carts += 1,
            EventKind::Transaction => pane.purchases += 1,
            _ => {}
        }
    }

    /// The window ending at `end` (the two panes before it).
    pub fn window(&self, end: i64) -> WindowFeatures {
        let mut f = WindowFeatures::default();
        for p in self.panes.iter().filter(|p| p.start >= end - WINDOW_MS && p.start < end) {
            f.views += p.views;
            f.add_to_carts += p.add_to_carts;
            f.purchases += p.purchases;
        }
        f
    }

    /// The end of the next window to emit: the first window end after `emitted_until` that a
    /// pane falls in.
    pub fn next_window_end(&self) -> Option<i64> {
        let first = self.panes.first()?;
        Some((first.start + SLIDE_MS).max(self.emitted_until + SLIDE_MS))
    }

    /// Marks the window ending at `end` emitted and drops the panes no later window needs.
    pub fn close(&mut self, end: i64) {
        self.emitted_until = end;
        self.panes.retain(|p| p.start + WINDOW_MS > end);
    }
}

/// The flash-sale plugin.
pub struct FlashSalePlugin;

impl Plugin for FlashSalePlugin {
    type State<'a> = FlashSaleState;

    fn descriptor() -> Descriptor {
        let setting = |name: &str, default: i64, doc: &str| SettingDecl {
            name: name.into(),
            kind: SettingKind::Integer,
            default: default.to_string(),
            min: Some(0.0),
            max: None,
            doc: doc.into(),
        };
        Descriptor {
            name: "flash-sale".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            key: KeyKind::Product,
            groups: vec![group(
                "10min",
                "product:{key}:features:10min",
                WINDOW_MS as u64,
                SLIDE_MS as u64,
                20 * MINUTE,
                &FEATURES,
            )],
            event_kinds: EventKinds::of(&[
                EventKind::ProductView,
                EventKind::AddToCart,
                EventKind::Transaction,
            ]),
            event_fields: Default::default(),
            state_schema: 1,
            signals: vec![signal("flash_sale_alert", &ALERT_FIELDS)],
            settings: vec![
                setting("min_views", DEFAULT_MIN_VIEWS, "an alert needs more views than this in the window"),
                setting("max_purchases", DEFAULT_MAX_PURCHASES, "an alert needs fewer purchases than this"),
            ],
            ..Descriptor::default()
        }
    }

    fn step(state: &mut FlashSaleState, step: &Step<'_, '_>, out: &mut Emitter<'_, '_>) -> Option<i64> {
        for e in step.events {
            state.count(e.kind, e.event_time);
        }
        if let Some(tick) = step.tick {
            // Every window end the watermark passed since the last emission, in order.
            while let Some(end) = state.next_window_end().filter(|end| *end <= tick) {
                let f = state.window(end);
                out.group(0)
                    .int(f.views as i64)
                    .int(f.add_to_carts as i64)
                    .int(f.purchases as i64)
                    .float(f.conversion_rate())
                    .float(f.view_to_cart_rate())
                    .timestamp(end);
                let min_views = step.settings.integer("min_views").unwrap_or(DEFAULT_MIN_VIEWS);
                let max_purchases = step.settings.integer("max_purchases").unwrap_or(DEFAULT_MAX_PURCHASES);
                if (f.views as i64) > min_views && (f.purchases as i64) < max_purchases {
                    out.signal(0).text(step.key).int(f.views as i64).int(f.purchases as i64).timestamp(end);
                }
                state.close(end);
            }
        }
        state.next_window_end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_741_946_400_000; // 2025-03-14T10:00:00Z, a multiple of 5 minutes

    #[test]
    fn a_window_is_two_panes_and_slides_by_one() {
        let mut s = FlashSaleState::default();
        s.count(EventKind::ProductView, T0 + 1_000);
        s.count(EventKind::ProductView, T0 + SLIDE_MS + 1_000);
        s.count(EventKind::Transaction, T0 + SLIDE_MS + 2_000);
        s.count(EventKind::AddToCart, T0 + 2 * SLIDE_MS);
        assert_eq!(s.next_window_end(), Some(T0 + SLIDE_MS));
        assert_eq!(s.window(T0 + SLIDE_MS), WindowFeatures { views: 1, add_to_carts: 0, purchases: 0 });
        s.close(T0 + SLIDE_MS);
        assert_eq!(s.window(T0 + 2 * SLIDE_MS), WindowFeatures { views: 2, add_to_carts: 0, purchases: 1 });
        s.close(T0 + 2 * SLIDE_MS);
        assert_eq!(s.window(T0 + 3 * SLIDE_MS), WindowFeatures { views: 1, add_to_carts: 1, purchases: 1 });
        assert_eq!(s.next_window_end(), Some(T0 + 3 * SLIDE_MS));
        s.count(EventKind::ProductView, T0 + 1);
        assert_eq!(s.window(T0 + 3 * SLIDE_MS).views, 1, "late: its window was emitted");
    }

    #[test]
    fn rates_are_zero_without_views() {
        let f = WindowFeatures { views: 4, add_to_carts: 2, purchases: 1 };
        assert_eq!((f.conversion_rate(), f.view_to_cart_rate()), (0.25, 0.5));
        assert_eq!(WindowFeatures::default().conversion_rate(), 0.0);
    }

    #[test]
    fn state_round_trips() {
        let mut s = FlashSaleState::default();
        s.count(EventKind::ProductView, T0);
        s.count(EventKind::AddToCart, T0 + SLIDE_MS);
        s.close(T0);
        let mut bytes = Vec::new();
        s.encode(&mut bytes);
        let mut back = FlashSaleState::default();
        back.load(&bytes).unwrap();
        assert_eq!(back, s);
    }

    #[test]
    fn descriptor_is_valid() {
        FlashSalePlugin::descriptor().validate().unwrap();
    }
}
