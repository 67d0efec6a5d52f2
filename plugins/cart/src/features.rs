//! Cart features over 5-minute and 1-hour rolling windows (FEATURES.md §4, cart).

use live_shopper_sdk::abi::{DecodeError, Reader, Writer};
use live_shopper_sdk::{
    group, Descriptor, Emitter, EventFields, EventKind, EventKinds, KeyKind, Plugin, State, Step, TimedLog,
    WindowSpec, HOUR, MINUTE, SECOND,
};

/// The two windows, in descriptor group order.
pub const SPECS: [WindowSpec; 2] = [
    WindowSpec { window_ms: 5 * MINUTE, interval_ms: 30 * SECOND },
    WindowSpec { window_ms: HOUR, interval_ms: 60 * SECOND },
];

/// One add_to_cart or remove_from_cart.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CartChange {
    /// True for an add_to_cart, false for a remove_from_cart.
    pub added: bool,
    /// Sum of price x quantity over the event's product entities.
    pub value: f64,
    /// The tracker's cart total on this event.
    pub cart_total: Option<f64>,
}

/// A shopper's cart changes, kept while a window still counts them.
#[derive(Debug, Default, PartialEq)]
pub struct CartState {
    /// The changes by event time.
    pub changes: TimedLog<CartChange>,
}

impl State<'_> for CartState {
    fn load(&mut self, bytes: &[u8]) -> Result<(), DecodeError> {
        self.changes.load(&mut Reader::new(bytes), |r: &mut Reader<'_>| {
            Ok(CartChange { added: r.bool()?, value: r.f64()?, cart_total: r.opt_f64()? })
        })
    }

    fn clear(&mut self) {
        self.changes.clear();
    }

    fn encode(&self, out: &mut Vec<u8>) {
        self.changes.encode(&mut Writer::to(out), |c, w| {
            w.bool(c.added);
            w.f64(c.value);
            w.opt_f64(c.cart_total);
        });
    }

    fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }
}

/// The cart features of one window.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct CartFeatures {
    /// add_to_cart events.
    pub adds: usize,
    /// remove_from_cart events.
    pub removes: usize,
    /// Value added minus value removed (price x quantity).
    pub value: f64,
    /// The latest change's tracker total; 0 for an empty window or a change without one.
    pub cart_total: f64,
}

/// Computes the features over the changes of one window (oldest first).
pub fn compute(changes: &[(i64, CartChange)]) -> CartFeatures {
    let mut f = CartFeatures::default();
    for (_, c) in changes {
        if c.added {
            f.adds += 1;
            f.value += c.value;
        } else {
            f.removes += 1;
            f.value -= c.value;
        }
    }
    f.cart_total = changes.last().and_then(|(_, c)| c.cart_total).unwrap_or(0.0);
    f
}

/// The cart feature plugin.
pub struct CartPlugin;

impl Plugin for CartPlugin {
    type State<'a> = CartState;

    fn descriptor() -> Descriptor {
        let per_window = |w: &str| {
            ["cart_add_count", "cart_remove_count", "cart_update_frequency", "cart_value"]
                .map(|f| format!("{f}_{w}"))
        };
        let mut five: Vec<String> = per_window("5min").to_vec();
        five.push("cart_total".into());
        let hour = per_window("1hr").to_vec();
        Descriptor {
            name: "cart".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            key: KeyKind::Shopper,
            groups: vec![
                group("5min", "user:{key}:features:5min", 5 * MINUTE, 30 * SECOND, 10 * MINUTE, &five),
                group("1hr", "user:{key}:features:1hr", HOUR, 60 * SECOND, 2 * HOUR, &hour),
            ],
            event_kinds: EventKinds::of(&[EventKind::AddToCart, EventKind::RemoveFromCart]),
            event_fields: EventFields(EventFields::PRODUCTS | EventFields::CART_TOTAL),
            state_schema: 1,
            ..Descriptor::default()
        }
    }

    fn step(state: &mut CartState, step: &Step<'_, '_>, out: &mut Emitter<'_, '_>) -> Option<i64> {
        let mut new_times = Vec::with_capacity(step.events.len());
        for e in step.events {
            let added = match e.kind {
                EventKind::AddToCart => true,
                EventKind::RemoveFromCart => false,
                _ => continue,
            };
            let value = e.products.iter().map(|p| p.price.unwrap_or(0.0) * p.quantity as f64).sum();
            state.changes.insert(e.event_time, CartChange { added, value, cart_total: e.cart_total });
            new_times.push(e.event_time);
        }
        let emit = state.changes.groups_to_emit(&SPECS, step.as_of, step.tick, &new_times);
        for (g, spec) in SPECS.iter().enumerate() {
            if !emit[g] {
                continue;
            }
            let f = compute(state.changes.window(*spec, step.as_of));
            let e =
                out.group(g as u8).count(f.adds).count(f.removes).count(f.adds + f.removes).float(f.value);
            if g == 0 {
                e.float(f.cart_total);
            }
            state.changes.mark_emitted(g, step.as_of);
        }
        state.changes.prune(&SPECS);
        state.changes.next_timer(&SPECS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(added: bool, value: f64, total: Option<f64>) -> CartChange {
        CartChange { added, value, cart_total: total }
    }

    #[test]
    fn cart_value_nets_adds_against_removes() {
        let f = compute(&[
            (1, change(true, 40.0, Some(40.0))),
            (2, change(true, 10.0, None)),
            (3, change(false, 15.0, Some(35.0))),
        ]);
        assert_eq!((f.adds, f.removes), (2, 1));
        assert_eq!(f.value, 35.0);
        assert_eq!(f.cart_total, 35.0);
    }

    #[test]
    fn cart_total_is_the_latest_changes_and_zero_when_empty() {
        assert_eq!(
            compute(&[(1, change(true, 1.0, Some(9.0))), (2, change(true, 1.0, None))]).cart_total,
            0.0
        );
        assert_eq!(compute(&[]), CartFeatures::default());
    }

    #[test]
    fn descriptor_is_valid() {
        CartPlugin::descriptor().validate().unwrap();
    }
}
