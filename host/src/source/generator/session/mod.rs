//! One visit of a shopper: a browse → cart → checkout funnel that queues its events view by view,
//! with dwell times, page pings, list and promotion clicks, sign-in, orders and refunds.

use std::collections::VecDeque;

use live_shopper_abi::{Event, EventKind, Geo, Marketing, Page as PageFields};
use rand::rngs::SmallRng;
use rand::Rng;

mod actions;

use super::catalogue::Catalogue;
use super::page::{Campaign, View, CAMPAIGNS, ORGANIC_REFERRERS, SITE};
use super::shopper::{Device, Platform, Shopper};
use super::{exponential, session_uuid, uuid};
use actions::{order_details, Action};

/// What a session step may touch besides the session: the RNG, the shop and the shopper.
pub(crate) struct World<'a> {
    pub rng: &'a mut SmallRng,
    pub catalogue: &'a Catalogue,
    pub shopper: &'a mut Shopper,
}

/// A product list shown on the current view, so a later `list_click` picks from it.
struct ShownList {
    name: String,
    products: Vec<usize>,
}

/// The current view and the page fields its events carry (none in the app).
struct Current {
    view: View,
    url: Option<String>,
    title: Option<String>,
    referrer: Option<String>,
    marketing: Marketing,
    lists: Vec<ShownList>,
    promo_shown: bool,
    added_to_cart: bool,
}

/// One visit. Events are queued in event-time order; the generator drains them one by one.
pub(crate) struct Session {
    id: String,
    shopper_id: String,
    device: Device,
    geo: Geo,
    user_id: Option<String>,
    /// Whether the site tracks searches with `site_search` events (else only `?q=` page views).
    tracks_site_search: bool,
    current: Option<Current>,
    views_left: u32,
    clock: i64,
    payment_failed: bool,
    queue: VecDeque<Event>,
}

impl Session {
    /// Starts a visit of `world.shopper` at `at` and queues its landing view.
    pub(crate) fn begin(w: &mut World, at: i64) -> Session {
        w.shopper.sessions += 1;
        let engagement = w.shopper.activity.powf(0.6);
        let mut session = Session {
            id: session_uuid(w.rng, w.shopper.sessions),
            shopper_id: w.shopper.id.clone(),
            device: w.shopper.pick_device(w.rng),
            geo: w.shopper.pick_geo(w.rng),
            user_id: w.shopper.signed_in.then(|| w.shopper.account.clone()).flatten(),
            tracks_site_search: w.rng.random_bool(0.6),
            current: None,
            views_left: 4 + (exponential(w.rng, 12.0 * engagement) as u32).min(100),
            clock: at,
            payment_failed: false,
            queue: VecDeque::new(),
        };
        session.land(w);
        session
    }

    /// Event time of the next queued event.
    pub(crate) fn next_time(&self) -> Option<i64> {
        self.queue.front().map(|e| e.event_time)
    }

    pub(crate) fn pop(&mut self) -> Option<Event> {
        self.queue.pop_front()
    }

    /// The time the visit is at: its last event, or later while the shopper still reads.
    pub(crate) fn clock(&self) -> i64 {
        self.clock
    }

    /// Queues the events of the shopper's next action(s); `false` when the visit is over.
    pub(crate) fn plan_next(&mut self, w: &mut World) -> bool {
        while self.queue.is_empty() {
            match self.choose(w) {
                Action::Exit => {
                    w.shopper.signed_in = self.user_id.is_some() && w.rng.random_bool(0.75);
                    return false;
                }
                Action::Go(view) => self.visit(w, view, None),
                Action::ListClick => self.list_click(w),
                Action::PromoClick => self.promo_click(w),
                Action::AddToCart => self.add_to_cart(w),
                Action::RemoveFromCart => self.remove_from_cart(w),
                Action::SignIn => self.sign_in(w),
                Action::PlaceOrder => self.place_order(w),
            }
        }
        true
    }

    fn web(&self) -> bool {
        self.device.platform == Platform::Web
    }

    fn land(&mut self, w: &mut World) {
        let refundable = self.user_id.is_some() && w.shopper.orders.iter().any(|o| !o.refunded);
        let view = if refundable && w.rng.random_bool(0.2) {
            View::Orders
        } else {
            match w.rng.random::<f64>() {
                r if r < 0.4 => View::Home,
                r if r < 0.62 => View::Category(self.some_category(w)),
                r if r < 0.85 => {
                    let category = self.some_category(w);
                    View::Product(w.catalogue.pick(w.rng, Some(category)))
                }
                _ => self.search_view(w),
            }
        };
        let campaign = (self.web() && w.rng.random_bool(0.35))
            .then(|| &CAMPAIGNS[w.rng.random_range(0..CAMPAIGNS.len())]);
        self.visit(w, view, campaign);
    }

    fn some_category(&self, w: &mut World) -> usize {
        let favourites = &w.shopper.favourite_categories;
        if !favourites.is_empty() && w.rng.random_bool(0.65) {
            favourites[w.rng.random_range(0..favourites.len())]
        } else {
            w.rng.random_range(0..w.catalogue.category_count())
        }
    }

    fn search_view(&self, w: &mut World) -> View {
        let category = self.some_category(w);
        View::Search { category, phrase: w.catalogue.search_phrase(w.rng, category) }
    }

    /// Moves to `view`: its page fields, its events (page view, lists, …) and the time spent on it.
    fn visit(&mut self, w: &mut World, view: View, campaign: Option<&'static Campaign>) {
        let order_id = match view {
            View::Confirmation(i) => w.shopper.orders.get(i).map(|o| o.id.clone()),
            _ => None,
        };
        let (path, title) = view.path_and_title(w.catalogue, order_id.as_deref());
        let referrer = match &self.current {
            Some(current) => current.url.clone(),
            None => match campaign {
                Some(c) => c.referrer.map(str::to_string),
                None => ORGANIC_REFERRERS[w.rng.random_range(0..ORGANIC_REFERRERS.len())].map(str::to_string),
            },
        };
        let url = format!("{SITE}{}", campaign.map_or(path.clone(), |c| c.tag(&path)));
        let web = self.web();
        self.current = Some(Current {
            view: view.clone(),
            url: web.then_some(url),
            title: web.then_some(title),
            referrer: referrer.filter(|_| web),
            marketing: campaign.filter(|_| web).map(Campaign::marketing).unwrap_or_default(),
            lists: Vec::new(),
            promo_shown: false,
            added_to_cart: false,
        });
        self.views_left = self.views_left.saturating_sub(1);
        let start = self.clock;
        if web {
            self.emit(w.rng, EventKind::PageView, |_| {});
        }
        self.view_events(w, &view);
        self.dwell(w.rng, start, &view);
    }

    fn view_events(&mut self, w: &mut World, view: &View) {
        match *view {
            View::Home => {
                if w.rng.random_bool(0.5) {
                    self.emit(w.rng, EventKind::PromoView, |_| {});
                    self.current_mut().promo_shown = true;
                }
                self.show_list(w, "Top this week".to_string(), None, 6);
                if w.rng.random_bool(0.4) {
                    self.show_list(w, "New series".to_string(), None, 6);
                }
            }
            View::Category(c) => {
                self.show_list(w, format!("Category: {}", w.catalogue.category_leaf(c)), Some(c), 8)
            }
            View::Search { category, phrase } => {
                if !self.web() || self.tracks_site_search {
                    let terms = phrase.split(' ').map(str::to_string).collect();
                    self.emit(w.rng, EventKind::SiteSearch, |e| e.search_terms = terms);
                }
                self.show_list(w, "Search results".to_string(), Some(category), 8);
            }
            View::Product(p) => {
                let entity = w.catalogue.entity(p, 1);
                self.emit(w.rng, EventKind::ProductView, |e| e.products = vec![entity]);
                if w.rng.random_bool(0.5) {
                    let category = w.catalogue.product(p).category;
                    self.show_list(w, "You might also be interested in".to_string(), Some(category), 4);
                }
            }
            View::Checkout(step) => {
                self.emit(w.rng, EventKind::CheckoutStep, |e| e.checkout_step = Some(step))
            }
            View::Confirmation(i) => {
                let Some(order) = w.shopper.orders.get(i) else { return };
                let (transaction, products) = order_details(w.catalogue, order);
                self.emit(w.rng, EventKind::Transaction, |e| {
                    e.transaction = Some(transaction);
                    e.products = products;
                });
            }
            View::Orders => self.refund(w),
            View::Cart | View::SignIn => {}
        }
    }

    /// Time on the current view, with a page ping every 10 s of it on the web.
    fn dwell(&mut self, rng: &mut SmallRng, start: i64, view: &View) {
        let dwell_ms = match view {
            View::Checkout(_) | View::SignIn => rng.random_range(8_000..45_000),
            View::Confirmation(_) | View::Orders => rng.random_range(4_000..25_000),
            _ => 3_000 + (exponential(rng, 30_000.0) as i64).min(300_000),
        };
        if self.web() && view.pings() {
            let mut at = start + 10_000;
            while at < start + dwell_ms {
                self.clock = self.clock.max(at + rng.random_range(0..250));
                self.emit(rng, EventKind::PagePing, |_| {});
                at += 10_000;
            }
        }
        self.clock = self.clock.max(start + dwell_ms);
    }

    fn show_list(&mut self, w: &mut World, name: String, category: Option<usize>, count: usize) {
        let products = w.catalogue.pick_list(w.rng, category, count);
        if products.is_empty() {
            return;
        }
        let entities = products.iter().map(|&p| w.catalogue.entity(p, 1)).collect();
        let list_name = name.clone();
        self.emit(w.rng, EventKind::ListView, |e| {
            e.list_name = Some(list_name);
            e.products = entities;
        });
        self.current_mut().lists.push(ShownList { name, products });
    }

    /// Queues an event of `kind` on the current view at the session clock, then moves the clock on
    /// by the few milliseconds the tracker takes between events.
    fn emit(&mut self, rng: &mut SmallRng, kind: EventKind, fill: impl FnOnce(&mut Event)) {
        let current = self.current.as_ref();
        let titled = matches!(kind, EventKind::PageView | EventKind::PagePing);
        let mut event = Event {
            event_id: uuid(rng),
            event_time: self.clock,
            kind,
            shopper_id: self.shopper_id.clone(),
            user_id: self.user_id.clone(),
            session_id: Some(self.id.clone()),
            page: PageFields {
                url: current.and_then(|c| c.url.clone()),
                title: current.filter(|_| titled).and_then(|c| c.title.clone()),
                referrer: current.and_then(|c| c.referrer.clone()),
            },
            marketing: current.map(|c| c.marketing.clone()).unwrap_or_default(),
            geo: self.geo.clone(),
            device_class: self.device.class,
            platform: Some(self.device.platform.as_str().to_string()),
            ..Event::default()
        };
        fill(&mut event);
        self.queue.push_back(event);
        self.clock += rng.random_range(3..60);
    }

    fn current_mut(&mut self) -> &mut Current {
        self.current.as_mut().expect("a visit has a current view after landing")
    }
}
