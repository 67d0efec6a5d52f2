//! Product-view features over 5-minute and 1-hour rolling windows (FEATURES.md §4, product).

use live_shopper_sdk::abi::{DecodeError, Reader, Writer};
use live_shopper_sdk::window::id_hash;
use live_shopper_sdk::{
    group, Descriptor, Emitter, EventFields, EventKind, EventKinds, KeyKind, Plugin, State, Step, TimedLog,
    WindowSpec, HOUR, MINUTE, SECOND,
};

/// The two windows, in descriptor group order.
pub const SPECS: [WindowSpec; 2] = [
    WindowSpec { window_ms: 5 * MINUTE, interval_ms: 30 * SECOND },
    WindowSpec { window_ms: HOUR, interval_ms: 60 * SECOND },
];

const SUFFIXES: [&str; 2] = ["5min", "1hr"];

const FEATURES: [&str; 10] = [
    "product_view_count",
    "unique_products_viewed",
    "return_view_count",
    "avg_viewed_price",
    "min_viewed_price",
    "max_viewed_price",
    "price_range_viewed",
    "category_view_count",
    "unique_categories",
    "top_category",
];

/// One product view: the first product entity of a product_view event.
#[derive(Debug, Clone, PartialEq)]
pub struct View<'a> {
    /// Hash of the product id (distinct counting only needs identity).
    pub product: Option<u64>,
    /// The product's price, if the event gave one.
    pub price: Option<f64>,
    /// The product's category; `None` when missing or empty.
    pub category: Option<&'a str>,
}

/// A shopper's product views, kept while a window still counts them.
#[derive(Debug, Default, PartialEq)]
pub struct ProductState<'a> {
    /// The views by event time.
    pub views: TimedLog<View<'a>>,
}

impl<'a> State<'a> for ProductState<'a> {
    fn load(&mut self, bytes: &'a [u8]) -> Result<(), DecodeError> {
        self.views.load(&mut Reader::new(bytes), |r: &mut Reader<'a>| {
            let product = if r.bool()? { Some(r.i64()? as u64) } else { None };
            Ok(View { product, price: r.opt_f64()?, category: r.opt_str()? })
        })
    }

    fn clear(&mut self) {
        self.views.clear();
    }

    fn encode(&self, out: &mut Vec<u8>) {
        self.views.encode(&mut Writer::to(out), |v, w| {
            match v.product {
                Some(p) => {
                    w.u8(1);
                    w.i64(p as i64);
                }
                None => w.u8(0),
            }
            w.opt_f64(v.price);
            w.opt_str(v.category);
        });
    }

    fn is_empty(&self) -> bool {
        self.views.is_empty()
    }
}

/// The product features of one window.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ProductFeatures {
    /// Product views.
    pub views: usize,
    /// Distinct products viewed (views without a product are not counted).
    pub unique_products: usize,
    /// Views of a product viewed before in the window.
    pub return_views: usize,
    /// Mean price of the views with a price; 0 when none has one.
    pub avg_price: f64,
    /// Lowest viewed price; 0 when no view has a price.
    pub min_price: f64,
    /// Highest viewed price; 0 when no view has a price.
    pub max_price: f64,
    /// Views with a category.
    pub category_views: usize,
    /// Distinct categories viewed.
    pub unique_categories: usize,
    /// The most viewed category (ties go to the most recently viewed); empty when none.
    pub top_category: String,
}

/// Computes the features over the views of one window (oldest first).
pub fn compute(views: &[(i64, View<'_>)]) -> ProductFeatures {
    let mut products: Vec<u64> = views.iter().filter_map(|(_, v)| v.product).collect();
    let with_product = products.len();
    products.sort_unstable();
    products.dedup();

    let (mut priced, mut sum, mut min, mut max) = (0usize, 0.0, f64::INFINITY, f64::NEG_INFINITY);
    for price in views.iter().filter_map(|(_, v)| v.price) {
        priced += 1;
        sum += price;
        min = min.min(price);
        max = max.max(price);
    }
    let (avg, min, max) = if priced == 0 { (0.0, 0.0, 0.0) } else { (sum / priced as f64, min, max) };

    // category -> (views, index of its latest view); ties on views go to the most recent.
    let mut categories: Vec<(&str, usize, usize)> = Vec::new();
    let mut category_views = 0;
    for (i, (_, v)) in views.iter().enumerate() {
        let Some(c) = v.category else { continue };
        category_views += 1;
        match categories.iter_mut().find(|(name, _, _)| *name == c) {
            Some(entry) => {
                entry.1 += 1;
                entry.2 = i;
            }
            None => categories.push((c, 1, i)),
        }
    }
    let top = categories.iter().max_by_key(|(_, n, last)| (*n, *last)).map(|(c, _, _)| c.to_string());

    ProductFeatures {
        views: views.len(),
        unique_products: products.len(),
        return_views: with_product - products.len(),
        avg_price: avg,
        min_price: min,
        max_price: max,
        category_views,
        unique_categories: categories.len(),
        top_category: top.unwrap_or_default(),
    }
}

/// The product feature plugin.
pub struct ProductPlugin;

impl Plugin for ProductPlugin {
    type State<'a> = ProductState<'a>;

    fn descriptor() -> Descriptor {
        let groups = SPECS
            .iter()
            .zip(SUFFIXES)
            .map(|(spec, suffix)| {
                let names: Vec<String> = FEATURES.iter().map(|f| format!("{f}_{suffix}")).collect();
                let ttl = if suffix == "5min" { 10 * MINUTE } else { 2 * HOUR };
                group(
                    suffix,
                    &format!("user:{{key}}:features:{suffix}"),
                    spec.window_ms,
                    spec.interval_ms,
                    ttl,
                    &names,
                )
            })
            .collect();
        Descriptor {
            name: "product".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            key: KeyKind::Shopper,
            groups,
            event_kinds: EventKinds::of(&[EventKind::ProductView]),
            event_fields: EventFields(EventFields::PRODUCTS),
            state_schema: 1,
            ..Descriptor::default()
        }
    }

    fn step<'a>(state: &mut ProductState<'a>, step: &Step<'_, 'a>, out: &mut Emitter<'_, '_>) -> Option<i64> {
        let mut new_times = Vec::with_capacity(step.events.len());
        for e in step.events.iter().filter(|e| e.kind == EventKind::ProductView) {
            let first = e.products.first();
            let view = View {
                product: first.map(|p| id_hash(p.id)),
                price: first.and_then(|p| p.price),
                category: first.and_then(|p| p.category).filter(|c| !c.is_empty()),
            };
            state.views.insert(e.event_time, view);
            new_times.push(e.event_time);
        }
        let emit = state.views.groups_to_emit(&SPECS, step.as_of, step.tick, &new_times);
        for (g, spec) in SPECS.iter().enumerate() {
            if !emit[g] {
                continue;
            }
            let f = compute(state.views.window(*spec, step.as_of));
            out.group(g as u8)
                .count(f.views)
                .count(f.unique_products)
                .count(f.return_views)
                .float(f.avg_price)
                .float(f.min_price)
                .float(f.max_price)
                .float(f.max_price - f.min_price)
                .count(f.category_views)
                .count(f.unique_categories)
                .text(&f.top_category);
            state.views.mark_emitted(g, step.as_of);
        }
        state.views.prune(&SPECS);
        state.views.next_timer(&SPECS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(p: &str, price: f64, cat: Option<&'static str>) -> View<'static> {
        View { product: Some(id_hash(p)), price: Some(price), category: cat }
    }

    #[test]
    fn counts_views_not_distinct_products() {
        let views = vec![
            (1, view("a", 10.0, Some("Shoes"))),
            (2, view("b", 30.0, Some("Hats"))),
            (3, view("a", 20.0, Some("Shoes"))),
        ];
        let f = compute(&views);
        assert_eq!(f.views, 3);
        assert_eq!(f.unique_products, 2);
        assert_eq!(f.return_views, 1);
        assert_eq!(f.avg_price, 20.0);
        assert_eq!((f.min_price, f.max_price), (10.0, 30.0));
        assert_eq!((f.category_views, f.unique_categories), (3, 2));
        assert_eq!(f.top_category, "Shoes");
    }

    #[test]
    fn top_category_ties_go_to_the_most_recent_view() {
        let views = vec![(1, view("a", 1.0, Some("Shoes"))), (2, view("b", 1.0, Some("Hats")))];
        assert_eq!(compute(&views).top_category, "Hats");
    }

    #[test]
    fn an_empty_window_gives_zeros() {
        assert_eq!(compute(&[]), ProductFeatures::default());
    }

    #[test]
    fn state_round_trips() {
        let mut s = ProductState::default();
        s.views.insert(5, view("a", 1.5, None));
        s.views.insert(7, View { product: None, price: None, category: Some("X") });
        s.views.mark_emitted(1, 7);
        let mut bytes = Vec::new();
        s.encode(&mut bytes);
        assert_eq!(ProductState::decode(&bytes).unwrap(), s);
    }

    #[test]
    fn descriptor_is_valid() {
        ProductPlugin::descriptor().validate().unwrap();
    }
}
