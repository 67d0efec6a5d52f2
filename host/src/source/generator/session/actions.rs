//! The shopper's choices during a visit (where to go next, with weights per view) and the actions
//! that change the shopper's state: cart adds and removes, sign-in, orders, declined payments, refunds.

use live_shopper_abi::{EventKind, Product, Refund, Transaction};
use rand::rngs::SmallRng;
use rand::Rng;

use super::super::catalogue::{cents_to_amount, promotion_for, Catalogue, CURRENCY};
use super::super::exponential;
use super::super::page::View;
use super::super::shopper::{CartLine, Order};
use super::{Session, World};

pub(super) enum Action {
    Go(View),
    ListClick,
    PromoClick,
    AddToCart,
    RemoveFromCart,
    SignIn,
    PlaceOrder,
    Exit,
}

impl Session {
    pub(super) fn choose(&self, w: &mut World) -> Action {
        let Some(current) = &self.current else { return Action::Exit };
        let cart = !w.shopper.cart.is_empty();
        let can_sign_in = self.user_id.is_none() && w.shopper.account.is_some();
        let buy = w.shopper.buy_propensity;
        let lists = !current.lists.is_empty();
        let flag = |on: bool, weight: f64| if on { weight } else { 0.0 };
        let category = self.some_category(w);
        let search = self.search_view(w);
        if self.views_left == 0 && !matches!(current.view, View::Checkout(_)) {
            return Action::Exit;
        }
        let options: Vec<(f64, Action)> = match current.view {
            View::Checkout(step) => vec![
                (flag(step == 1 && can_sign_in, 5.0), Action::SignIn),
                (flag(step < 3, 8.0), Action::Go(View::Checkout(step + 1))),
                (flag(step >= 3 && cart, 8.5), Action::PlaceOrder),
                (flag(self.views_left > 0, 0.5), Action::Go(View::Cart)),
                (1.5, Action::Exit),
            ],
            View::Home => {
                let refundable = self.user_id.is_some() && w.shopper.orders.iter().any(|o| !o.refunded);
                vec![
                    (flag(lists, 45.0), Action::ListClick),
                    (25.0, Action::Go(View::Category(category))),
                    (12.0, Action::Go(search)),
                    (flag(current.promo_shown, 8.0), Action::PromoClick),
                    (flag(cart, 5.0), Action::Go(View::Cart)),
                    (flag(refundable, 4.0), Action::Go(View::Orders)),
                    (flag(can_sign_in, 2.0), Action::SignIn),
                    (5.0, Action::Exit),
                ]
            }
            View::Category(_) | View::Search { .. } => vec![
                (flag(lists, 58.0), Action::ListClick),
                (10.0, Action::Go(View::Category(category))),
                (12.0, Action::Go(search)),
                (4.0, Action::Go(View::Home)),
                (flag(cart, 4.0), Action::Go(View::Cart)),
                (flag(can_sign_in, 1.0), Action::SignIn),
                (6.0, Action::Exit),
            ],
            View::Product(p) => vec![
                (flag(!current.added_to_cart, 5.0 + 40.0 * buy), Action::AddToCart),
                (flag(lists, 30.0), Action::ListClick),
                (10.0, Action::Go(View::Category(w.catalogue.product(p).category))),
                (8.0, Action::Go(search)),
                (
                    flag(cart, if current.added_to_cart { 25.0 } else { 4.0 + 20.0 * buy }),
                    Action::Go(View::Cart),
                ),
                (3.0, Action::Go(View::Home)),
                (flag(can_sign_in, 1.0), Action::SignIn),
                (6.0, Action::Exit),
            ],
            View::Cart => vec![
                (flag(cart, 12.0 + 40.0 * buy), Action::Go(View::Checkout(1))),
                (flag(cart, 12.0), Action::RemoveFromCart),
                (flag(cart, 6.0), Action::Go(View::Product(w.shopper.cart.first().map_or(0, |l| l.product)))),
                (5.0, Action::Go(View::Home)),
                (10.0, Action::Exit),
            ],
            View::Confirmation(_) | View::Orders | View::SignIn => {
                vec![(3.0, Action::Go(View::Home)), (7.0, Action::Exit)]
            }
        };
        pick_weighted(w.rng, options)
    }

    pub(super) fn list_click(&mut self, w: &mut World) {
        let current = self.current_mut();
        let list = &current.lists[w.rng.random_range(0..current.lists.len())];
        // Shoppers click near the top of a list far more often than near the bottom.
        let position = (exponential(w.rng, 1.5) as usize).min(list.products.len() - 1);
        let (name, product) = (list.name.clone(), list.products[position]);
        let entity = w.catalogue.entity(product, 1);
        self.emit(w.rng, EventKind::ListClick, |e| {
            e.list_name = Some(name);
            e.products = vec![entity];
        });
        self.clock += w.rng.random_range(200..1_500);
        self.visit(w, View::Product(product), None);
    }

    pub(super) fn promo_click(&mut self, w: &mut World) {
        let promotion = promotion_for(&self.id);
        self.emit(w.rng, EventKind::PromoClick, |_| {});
        self.clock += w.rng.random_range(200..1_500);
        let target = promotion.product_ids[w.rng.random_range(0..promotion.product_ids.len())];
        match w.catalogue.index_of(target) {
            Some(product) => self.visit(w, View::Product(product), None),
            None => self.visit(w, View::Home, None),
        }
    }

    pub(super) fn add_to_cart(&mut self, w: &mut World) {
        let View::Product(product) = self.current_mut().view else { return };
        let quantity = match w.rng.random::<f64>() {
            r if r < 0.85 => 1,
            r if r < 0.97 => 2,
            _ => 3,
        };
        match w.shopper.cart.iter_mut().find(|l| l.product == product) {
            Some(line) => line.quantity += quantity,
            None => w.shopper.cart.push(CartLine { product, quantity }),
        }
        self.current_mut().added_to_cart = true;
        self.cart_event(w, EventKind::AddToCart, product, quantity);
    }

    pub(super) fn remove_from_cart(&mut self, w: &mut World) {
        let index = w.rng.random_range(0..w.shopper.cart.len());
        let line = &mut w.shopper.cart[index];
        let quantity = if line.quantity > 1 && w.rng.random_bool(0.5) { 1 } else { line.quantity };
        let product = line.product;
        line.quantity -= quantity;
        w.shopper.cart.retain(|l| l.quantity > 0);
        self.cart_event(w, EventKind::RemoveFromCart, product, quantity);
    }

    fn cart_event(&mut self, w: &mut World, kind: EventKind, product: usize, quantity: u32) {
        let total = cart_value_cents(w.catalogue, &w.shopper.cart);
        let entity = w.catalogue.entity(product, quantity);
        self.emit(w.rng, kind, |e| {
            e.products = vec![entity];
            e.cart_total = Some(cents_to_amount(total));
        });
        self.clock += w.rng.random_range(1_000..8_000);
    }

    /// Signs in: the login page on the web, then back where the shopper was; from now on every
    /// event of the visit carries the login id.
    pub(super) fn sign_in(&mut self, w: &mut World) {
        let back = self.current_mut().view.clone();
        if self.web() {
            self.visit(w, View::SignIn, None);
        } else {
            self.clock += w.rng.random_range(5_000..30_000);
        }
        self.user_id = w.shopper.account.clone();
        w.shopper.signed_in = true;
        if self.web() {
            self.visit(w, back, None);
        }
    }

    pub(super) fn place_order(&mut self, w: &mut World) {
        let id = format!("ORD-{}", w.rng.random_range(10_000_000..100_000_000u64));
        let lines = std::mem::take(&mut w.shopper.cart);
        let items = cart_value_cents(w.catalogue, &lines);
        let shipping = if items >= 5_000 { 0 } else { 499 };
        let order = Order { id, lines, revenue_cents: items + shipping, refunded: false };
        if !self.payment_failed && w.rng.random_bool(0.07) {
            // The card is declined; the cart stays and the shopper may try again.
            self.payment_failed = true;
            let (transaction, products) = order_details(w.catalogue, &order);
            self.emit(w.rng, EventKind::TrnsError, |e| {
                e.transaction = Some(transaction);
                e.products = products;
            });
            w.shopper.cart = order.lines;
            self.clock += w.rng.random_range(10_000..60_000);
            return;
        }
        w.shopper.orders.push(order);
        self.visit(w, View::Confirmation(w.shopper.orders.len() - 1), None);
    }

    /// Refunds (part of) the shopper's latest order that has not been refunded yet.
    pub(super) fn refund(&mut self, w: &mut World) {
        let Some(order) = w.shopper.orders.iter_mut().rev().find(|o| !o.refunded) else { return };
        order.refunded = true;
        let (amount, lines) = if order.lines.len() > 1 && w.rng.random_bool(0.6) {
            let line = order.lines[w.rng.random_range(0..order.lines.len())].clone();
            (cart_value_cents(w.catalogue, std::slice::from_ref(&line)), vec![line])
        } else {
            (order.revenue_cents, order.lines.clone())
        };
        let refund = Refund { transaction_id: order.id.clone(), amount: cents_to_amount(amount) };
        let products = lines.iter().map(|l| w.catalogue.entity(l.product, l.quantity)).collect();
        self.emit(w.rng, EventKind::Refund, |e| {
            e.refund = Some(refund);
            e.products = products;
        });
    }
}

/// The transaction entity and product entities of an order.
pub(super) fn order_details(catalogue: &Catalogue, order: &Order) -> (Transaction, Vec<Product>) {
    let transaction = Transaction {
        id: order.id.clone(),
        revenue: cents_to_amount(order.revenue_cents),
        currency: Some(CURRENCY.to_string()),
        total_quantity: Some(order.lines.iter().map(|l| l.quantity).sum()),
    };
    (transaction, order.lines.iter().map(|l| catalogue.entity(l.product, l.quantity)).collect())
}

fn cart_value_cents(catalogue: &Catalogue, lines: &[CartLine]) -> u64 {
    lines.iter().map(|l| catalogue.product(l.product).price_cents * u64::from(l.quantity)).sum()
}

fn pick_weighted(rng: &mut SmallRng, options: Vec<(f64, Action)>) -> Action {
    let total: f64 = options.iter().map(|(w, _)| w).sum();
    let mut ticket = rng.random::<f64>() * total;
    let mut last = Action::Exit;
    for (weight, action) in options {
        if weight <= 0.0 {
            continue;
        }
        if ticket < weight {
            return action;
        }
        ticket -= weight;
        last = action;
    }
    last
}
