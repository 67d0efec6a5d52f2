//! Purchase features over a 24-hour rolling window (FEATURES.md §4, purchase).

use live_shopper_sdk::abi::{DecodeError, Reader, Writer};
use live_shopper_sdk::{
    group, Descriptor, Emitter, EventFields, EventKind, EventKinds, KeyKind, Plugin, State, Step, TimedLog,
    WindowSpec, DAY, HOUR, SECOND,
};

/// The 24-hour window, ticking every minute.
pub const SPECS: [WindowSpec; 1] = [WindowSpec { window_ms: DAY, interval_ms: 60 * SECOND }];

/// One purchased line: category and price x quantity.
#[derive(Debug, Clone, PartialEq)]
pub struct Line<'a> {
    /// The product's category; `None` when missing or empty.
    pub category: Option<&'a str>,
    /// Price x quantity (a missing price counts as 0).
    pub value: f64,
    /// Units purchased.
    pub quantity: u32,
}

/// A purchase fact kept in the window: an order or a refund.
#[derive(Debug, Clone, PartialEq)]
pub enum Fact<'a> {
    /// A transaction event.
    Order {
        /// The transaction id; a repeated one counts once.
        transaction_id: &'a str,
        /// The transaction's revenue.
        revenue: f64,
        /// One line per product entity of the event.
        lines: Vec<Line<'a>>,
        /// The transaction's total quantity, counted as its items when it has no lines.
        total_quantity: Option<u32>,
    },
    /// A refund event.
    Refund {
        /// The refunded amount.
        amount: f64,
    },
}

/// A shopper's purchase facts, kept while the window still counts them.
#[derive(Debug, Default, PartialEq)]
pub struct PurchaseState<'a> {
    /// Orders and refunds by event time.
    pub facts: TimedLog<Fact<'a>>,
}

impl<'a> State<'a> for PurchaseState<'a> {
    fn clear(&mut self) {
        self.facts.clear();
    }

    fn load(&mut self, bytes: &'a [u8]) -> Result<(), DecodeError> {
        self.facts.load(&mut Reader::new(bytes), |r: &mut Reader<'a>| {
            if !r.bool()? {
                return Ok(Fact::Refund { amount: r.f64()? });
            }
            let transaction_id = r.str()?;
            let revenue = r.f64()?;
            let total_quantity = r.opt_varint()?.map(|q| q as u32);
            let n = r.count()?;
            let mut lines = Vec::with_capacity(n.min(64));
            for _ in 0..n {
                lines.push(Line { category: r.opt_str()?, value: r.f64()?, quantity: r.varint()? as u32 });
            }
            Ok(Fact::Order { transaction_id, revenue, lines, total_quantity })
        })
    }

    fn encode(&self, out: &mut Vec<u8>) {
        self.facts.encode(&mut Writer::to(out), |f, w| match f {
            Fact::Refund { amount } => {
                w.bool(false);
                w.f64(*amount);
            }
            Fact::Order { transaction_id, revenue, lines, total_quantity } => {
                w.bool(true);
                w.str(transaction_id);
                w.f64(*revenue);
                w.opt_varint(total_quantity.map(u64::from));
                w.varint(lines.len() as u64);
                for l in lines {
                    w.opt_str(l.category);
                    w.f64(l.value);
                    w.varint(l.quantity as u64);
                }
            }
        });
    }

    fn is_empty(&self) -> bool {
        self.facts.is_empty()
    }
}

/// The purchase features of the window.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PurchaseFeatures {
    /// Distinct transactions.
    pub orders: usize,
    /// Summed revenue of those transactions.
    pub order_value: f64,
    /// `order_value / orders`, rounded half-even to 2 decimals; 0 without orders.
    pub avg_order_value: f64,
    /// Units purchased: line quantities, or the total quantity of an order without lines.
    pub items: u64,
    /// The category with the highest line value (ties go to the name that sorts first); empty when none.
    pub top_category: String,
    /// Distinct categories over the orders' lines.
    pub unique_categories: usize,
    /// Summed refund amounts.
    pub refund_value: f64,
}

/// Rounds to 2 decimal places, ties to even.
pub fn round_half_even_2(x: f64) -> f64 {
    let y = x * 100.0;
    let r = y.round();
    let r = if (y - y.trunc()).abs() == 0.5 && r % 2.0 != 0.0 { r - y.signum() } else { r };
    r / 100.0
}

/// Computes the features over a window. A transaction id seen twice counts once.
pub fn compute(facts: &[(i64, Fact<'_>)]) -> PurchaseFeatures {
    let mut f = PurchaseFeatures::default();
    let mut seen: Vec<&str> = Vec::new();
    let mut categories: Vec<(&str, f64)> = Vec::new();
    for (_, fact) in facts {
        match fact {
            Fact::Refund { amount } => f.refund_value += amount,
            Fact::Order { transaction_id, revenue, lines, total_quantity } => {
                if seen.contains(transaction_id) {
                    continue;
                }
                seen.push(transaction_id);
                f.order_value += revenue;
                f.items += if lines.is_empty() {
                    total_quantity.unwrap_or(0) as u64
                } else {
                    lines.iter().map(|l| l.quantity as u64).sum()
                };
                for l in lines {
                    let Some(c) = l.category else { continue };
                    match categories.iter_mut().find(|(name, _)| *name == c) {
                        Some(entry) => entry.1 += l.value,
                        None => categories.push((c, l.value)),
                    }
                }
            }
        }
    }
    f.orders = seen.len();
    f.avg_order_value = if f.orders == 0 { 0.0 } else { round_half_even_2(f.order_value / f.orders as f64) };
    f.unique_categories = categories.len();
    // Highest value; ties go to the name that sorts first.
    f.top_category = categories
        .iter()
        .max_by(|a, b| a.1.total_cmp(&b.1).then_with(|| b.0.cmp(a.0)))
        .map(|(c, _)| c.to_string())
        .unwrap_or_default();
    f
}

/// The purchase feature plugin.
pub struct PurchasePlugin;

impl Plugin for PurchasePlugin {
    type State<'a> = PurchaseState<'a>;

    fn descriptor() -> Descriptor {
        Descriptor {
            name: "purchase".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            key: KeyKind::Shopper,
            groups: vec![group(
                "24hr",
                "user:{key}:features:24hr",
                DAY,
                60 * SECOND,
                48 * HOUR,
                &[
                    "orders_count_24hr",
                    "order_value_24hr",
                    "avg_order_value_24hr",
                    "items_purchased_24hr",
                    "top_category_24hr",
                    "unique_categories_24hr",
                    "refund_value_24hr",
                ],
            )],
            event_kinds: EventKinds::of(&[EventKind::Transaction, EventKind::Refund]),
            event_fields: EventFields(EventFields::PRODUCTS | EventFields::TRANSACTION | EventFields::REFUND),
            state_schema: 1,
            ..Descriptor::default()
        }
    }

    fn step<'a>(
        state: &mut PurchaseState<'a>,
        step: &Step<'_, 'a>,
        out: &mut Emitter<'_, '_>,
    ) -> Option<i64> {
        let mut new_times = Vec::new();
        for e in step.events {
            if let Some((id, revenue, _, total_quantity)) =
                e.transaction.filter(|_| e.kind == EventKind::Transaction)
            {
                let lines = e
                    .products
                    .iter()
                    .map(|p| Line {
                        category: p.category.filter(|c| !c.is_empty()),
                        value: p.price.unwrap_or(0.0) * p.quantity as f64,
                        quantity: p.quantity,
                    })
                    .collect();
                let fact = Fact::Order { transaction_id: id, revenue, lines, total_quantity };
                state.facts.insert(e.event_time, fact);
                new_times.push(e.event_time);
            }
            if let Some((_, amount)) = e.refund {
                state.facts.insert(e.event_time, Fact::Refund { amount });
                new_times.push(e.event_time);
            }
        }
        if state.facts.groups_to_emit(&SPECS, step.as_of, step.tick, &new_times)[0] {
            let f = compute(state.facts.window(SPECS[0], step.as_of));
            out.group(0)
                .count(f.orders)
                .float(f.order_value)
                .float(f.avg_order_value)
                .int(f.items as i64)
                .text(&f.top_category)
                .count(f.unique_categories)
                .float(f.refund_value);
            state.facts.mark_emitted(0, step.as_of);
        }
        state.facts.prune(&SPECS);
        state.facts.next_timer(&SPECS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(id: &'static str, revenue: f64, lines: &[(&'static str, f64, u32)]) -> Fact<'static> {
        Fact::Order {
            transaction_id: id,
            revenue,
            total_quantity: None,
            lines: lines
                .iter()
                .map(|(c, v, q)| Line { category: Some(*c), value: *v, quantity: *q })
                .collect(),
        }
    }

    #[test]
    fn orders_are_distinct_transactions() {
        let facts = vec![
            (1, order("t1", 100.0, &[("Shoes", 80.0, 2), ("Hats", 20.0, 1)])),
            (2, order("t1", 100.0, &[("Shoes", 80.0, 2)])),
            (3, order("t2", 50.0, &[("Hats", 50.0, 1)])),
            (4, Fact::Refund { amount: 12.5 }),
        ];
        let f = compute(&facts);
        assert_eq!(f.orders, 2);
        assert_eq!(f.order_value, 150.0);
        assert_eq!(f.avg_order_value, 75.0);
        assert_eq!(f.items, 4);
        assert_eq!(f.top_category, "Shoes");
        assert_eq!(f.unique_categories, 2);
        assert_eq!(f.refund_value, 12.5);
    }

    #[test]
    fn top_category_ties_go_by_name() {
        let f = compute(&[(1, order("t", 2.0, &[("b", 1.0, 1), ("a", 1.0, 1)]))]);
        assert_eq!(f.top_category, "a");
    }

    #[test]
    fn average_rounds_half_to_even() {
        assert_eq!(round_half_even_2(0.125), 0.12);
        assert_eq!(round_half_even_2(0.375), 0.38);
        assert_eq!(round_half_even_2(10.0 / 3.0), 3.33);
        let f = compute(&[(1, order("a", 0.25, &[])), (2, order("b", 0.0, &[]))]);
        assert_eq!(f.avg_order_value, 0.12);
    }

    #[test]
    fn state_round_trips() {
        let mut s = PurchaseState::default();
        s.facts.insert(1, order("t", 3.0, &[("c", 3.0, 1)]));
        s.facts.insert(2, Fact::Refund { amount: 1.0 });
        let mut bytes = Vec::new();
        s.encode(&mut bytes);
        assert_eq!(PurchaseState::decode(&bytes).unwrap(), s);
    }

    #[test]
    fn descriptor_is_valid() {
        PurchasePlugin::descriptor().validate().unwrap();
    }
}
