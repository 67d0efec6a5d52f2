//! The normalised shopper event (FEATURES.md §1) as the host owns it, the kind and field masks,
//! and its encoding on the wire with only the fields a plugin asked for (read back in `event_ref`).

use crate::codec::Writer;

/// What happened. The order is the order of the WIT `event-kinds` flags; do not reorder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
#[repr(u8)]
pub enum EventKind {
    /// A page view (`page_view`).
    PageView = 0,
    /// A periodic ping while a page stays open (`page_ping`).
    PagePing,
    /// A product detail view.
    ProductView,
    /// Products added to the cart.
    AddToCart,
    /// Products removed from the cart.
    RemoveFromCart,
    /// A click on a product in a list.
    ListClick,
    /// A product list seen.
    ListView,
    /// A click on a promotion.
    PromoClick,
    /// A promotion seen.
    PromoView,
    /// A step of the checkout reached.
    CheckoutStep,
    /// A completed purchase.
    Transaction,
    /// A refund.
    Refund,
    /// A failed transaction (`trns_error`).
    TrnsError,
    /// A search on the site.
    SiteSearch,
    /// Any other event, or an unknown kind.
    #[default]
    Other,
}

impl EventKind {
    /// Every kind, in code order: a kind's index here is its code.
    pub const ALL: [EventKind; 15] = [
        EventKind::PageView,
        EventKind::PagePing,
        EventKind::ProductView,
        EventKind::AddToCart,
        EventKind::RemoveFromCart,
        EventKind::ListClick,
        EventKind::ListView,
        EventKind::PromoClick,
        EventKind::PromoView,
        EventKind::CheckoutStep,
        EventKind::Transaction,
        EventKind::Refund,
        EventKind::TrnsError,
        EventKind::SiteSearch,
        EventKind::Other,
    ];

    /// The snake_case name used by Snowplow (`product_view`) and in the Live Shopper JSON `type`.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::PageView => "page_view",
            EventKind::PagePing => "page_ping",
            EventKind::ProductView => "product_view",
            EventKind::AddToCart => "add_to_cart",
            EventKind::RemoveFromCart => "remove_from_cart",
            EventKind::ListClick => "list_click",
            EventKind::ListView => "list_view",
            EventKind::PromoClick => "promo_click",
            EventKind::PromoView => "promo_view",
            EventKind::CheckoutStep => "checkout_step",
            EventKind::Transaction => "transaction",
            EventKind::Refund => "refund",
            EventKind::TrnsError => "trns_error",
            EventKind::SiteSearch => "site_search",
            EventKind::Other => "other",
        }
    }

    /// The kind for a Snowplow event or ecommerce action name; unknown names are `Other`.
    pub fn from_name(name: &str) -> EventKind {
        EventKind::ALL.into_iter().find(|k| k.as_str() == name).unwrap_or(EventKind::Other)
    }

    /// The kind whose code is `code`, if any.
    pub fn from_code(code: u8) -> Option<EventKind> {
        EventKind::ALL.get(code as usize).copied()
    }

    /// This kind's bit in an [`EventKinds`] mask.
    pub const fn bit(self) -> u32 {
        1 << (self as u8)
    }
}

/// A set of event kinds as a bit mask (bit n = `EventKind` with code n).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EventKinds(pub u32);

impl EventKinds {
    /// Every kind.
    pub const ALL: EventKinds = EventKinds((1 << 15) - 1);

    /// The set of `kinds`.
    pub const fn of(kinds: &[EventKind]) -> EventKinds {
        let mut bits = 0;
        let mut i = 0;
        while i < kinds.len() {
            bits |= kinds[i].bit();
            i += 1;
        }
        EventKinds(bits)
    }

    /// Whether `kind` is in the set.
    #[inline]
    pub fn contains(self, kind: EventKind) -> bool {
        self.0 & kind.bit() != 0
    }
}

/// Optional event fields a plugin may ask for, as a bit mask in the order of the WIT
/// `event-fields` flags. `event_time` and `kind` are always sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EventFields(pub u32);

impl EventFields {
    /// Bit for [`Event::event_id`].
    pub const EVENT_ID: u32 = 1 << 0;
    /// Bit for [`Event::shopper_id`].
    pub const SHOPPER_ID: u32 = 1 << 1;
    /// Bit for [`Event::user_id`].
    pub const USER_ID: u32 = 1 << 2;
    /// Bit for [`Event::session_id`].
    pub const SESSION_ID: u32 = 1 << 3;
    /// Bit for [`Event::products`].
    pub const PRODUCTS: u32 = 1 << 4;
    /// Bit for [`Event::list_name`].
    pub const LIST_NAME: u32 = 1 << 5;
    /// Bit for [`Event::cart_total`].
    pub const CART_TOTAL: u32 = 1 << 6;
    /// Bit for [`Event::checkout_step`].
    pub const CHECKOUT_STEP: u32 = 1 << 7;
    /// Bit for [`Event::transaction`].
    pub const TRANSACTION: u32 = 1 << 8;
    /// Bit for [`Event::refund`].
    pub const REFUND: u32 = 1 << 9;
    /// Bit for [`Event::search_terms`].
    pub const SEARCH_TERMS: u32 = 1 << 10;
    /// Bit for [`Event::page`] (url, title, referrer).
    pub const PAGE: u32 = 1 << 11;
    /// Bit for [`Event::marketing`] (source, medium, campaign).
    pub const MARKETING: u32 = 1 << 12;
    /// Bit for [`Event::geo`] (country, region, city).
    pub const GEO: u32 = 1 << 13;
    /// Bit for [`Event::device_class`].
    pub const DEVICE_CLASS: u32 = 1 << 14;
    /// Bit for [`Event::platform`].
    pub const PLATFORM: u32 = 1 << 15;
    /// Every optional field.
    pub const ALL: EventFields = EventFields((1 << 16) - 1);
    /// The names of the bits, in order (the WIT flag names).
    pub const NAMES: [&'static str; 16] = [
        "event-id",
        "shopper-id",
        "user-id",
        "session-id",
        "products",
        "list-name",
        "cart-total",
        "checkout-step",
        "transaction",
        "refund",
        "search-terms",
        "page",
        "marketing",
        "geo",
        "device-class",
        "platform",
    ];

    /// Whether the field `bit` (one of the constants above) is in the mask.
    #[inline]
    pub fn has(self, bit: u32) -> bool {
        self.0 & bit != 0
    }
}

/// Desktop / Mobile / Tablet / Other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[repr(u8)]
pub enum DeviceClass {
    /// A desktop or laptop computer.
    Desktop = 0,
    /// A phone.
    Mobile,
    /// A tablet.
    Tablet,
    /// Anything else (bots, TVs, watches), or unknown.
    #[default]
    Other,
}

impl DeviceClass {
    /// The variant's name: `Desktop`, `Mobile`, `Tablet` or `Other`.
    pub fn as_str(self) -> &'static str {
        match self {
            DeviceClass::Desktop => "Desktop",
            DeviceClass::Mobile => "Mobile",
            DeviceClass::Tablet => "Tablet",
            DeviceClass::Other => "Other",
        }
    }

    /// The class whose code is `code` (Desktop 0, Mobile 1, Tablet 2, Other 3), if any.
    pub fn from_code(code: u8) -> Option<DeviceClass> {
        [DeviceClass::Desktop, DeviceClass::Mobile, DeviceClass::Tablet, DeviceClass::Other]
            .get(code as usize)
            .copied()
    }
}

/// One `product` entity.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Product {
    /// The product's id (SKU).
    pub id: String,
    /// Product name.
    pub name: Option<String>,
    /// Category, as the site names it.
    pub category: Option<String>,
    /// Brand.
    pub brand: Option<String>,
    /// Price of one unit, in `currency`.
    pub price: Option<f64>,
    /// Defaults to 1 when the entity has none.
    pub quantity: u32,
    /// Currency of `price`, e.g. `EUR`.
    pub currency: Option<String>,
}

/// One `transaction` entity: a completed purchase.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Transaction {
    /// Transaction id.
    pub id: String,
    /// Total value of the transaction, in `currency`.
    pub revenue: f64,
    /// Currency of `revenue`, e.g. `EUR`.
    pub currency: Option<String>,
    /// Number of items bought, when the entity gives it.
    pub total_quantity: Option<u32>,
}

/// One `refund` entity.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Refund {
    /// Id of the refunded transaction.
    pub transaction_id: String,
    /// Amount refunded.
    pub amount: f64,
}

/// The page an event happened on.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Page {
    /// Page URL.
    pub url: Option<String>,
    /// Page title.
    pub title: Option<String>,
    /// URL of the referring page.
    pub referrer: Option<String>,
}

/// Campaign attribution (Snowplow's `mkt_*` fields).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Marketing {
    /// Campaign source, e.g. `google`.
    pub source: Option<String>,
    /// Campaign medium, e.g. `cpc`.
    pub medium: Option<String>,
    /// Campaign name.
    pub campaign: Option<String>,
}

/// Where the shopper is, as the pipeline geolocated them (Snowplow's `geo_*` fields).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Geo {
    /// Country code, e.g. `GR`.
    pub country: Option<String>,
    /// Region code within the country.
    pub region: Option<String>,
    /// City name.
    pub city: Option<String>,
}

/// A self-describing event or entity some loaded plugin asked for (contract 0.2), kept as its
/// Iglu URI and the raw JSON text of its data; the host never parses it beyond that.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SelfDescribing {
    /// Its Iglu URI, e.g. `iglu:com.acme/loyalty/jsonschema/1-0-0`.
    pub schema: String,
    /// Its data object, as JSON text.
    pub data: String,
    /// True for the event's `unstruct_event`, false for an entity (`contexts`, `derived_contexts`).
    pub is_event: bool,
}

/// One normalised shopper action, as the decoders produce it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Event {
    /// Unique event id; a repeat within the dedup horizon is skipped.
    pub event_id: String,
    /// Milliseconds since the Unix epoch, UTC.
    pub event_time: i64,
    /// What happened.
    pub kind: EventKind,
    /// The browser: `domain_userid`, else `network_userid`, else `user_id`.
    pub shopper_id: String,
    /// The site's login id, when the shopper is signed in.
    pub user_id: Option<String>,
    /// The session: `client_session.sessionId`, else `domain_sessionid`.
    pub session_id: Option<String>,
    /// The `product` entities, in record order.
    pub products: Vec<Product>,
    /// Name of the product list (list views and clicks only).
    pub list_name: Option<String>,
    /// Total value of the cart (`cart` entity).
    pub cart_total: Option<f64>,
    /// Checkout step number (`checkout_step` entity).
    pub checkout_step: Option<u32>,
    /// The `transaction` entity, if any.
    pub transaction: Option<Transaction>,
    /// The `refund` entity, if any.
    pub refund: Option<Refund>,
    /// Terms of a site search (empty terms dropped).
    pub search_terms: Vec<String>,
    /// The page the event happened on.
    pub page: Page,
    /// Campaign attribution.
    pub marketing: Marketing,
    /// Where the shopper is.
    pub geo: Geo,
    /// From a UA-parser entity, else the user agent; `Other` when neither tells.
    pub device_class: DeviceClass,
    /// Snowplow platform code, e.g. `web`.
    pub platform: Option<String>,
    /// The self-describing events and entities that loaded plugins asked for (contract 0.2), in
    /// record order (empty when none did).
    pub self_describing: Vec<SelfDescribing>,
}

impl Event {
    /// Appends this event to `w` with only the fields in `fields`.
    pub fn encode(&self, fields: EventFields, w: &mut Writer<'_>) {
        w.i64(self.event_time);
        w.u8(self.kind as u8);
        if fields.has(EventFields::EVENT_ID) {
            w.str(&self.event_id);
        }
        if fields.has(EventFields::SHOPPER_ID) {
            w.str(&self.shopper_id);
        }
        if fields.has(EventFields::USER_ID) {
            w.opt_str(self.user_id.as_deref());
        }
        if fields.has(EventFields::SESSION_ID) {
            w.opt_str(self.session_id.as_deref());
        }
        if fields.has(EventFields::PRODUCTS) {
            w.varint(self.products.len() as u64);
            for p in &self.products {
                w.str(&p.id);
                w.opt_str(p.name.as_deref());
                w.opt_str(p.category.as_deref());
                w.opt_str(p.brand.as_deref());
                w.opt_f64(p.price);
                w.varint(p.quantity as u64);
                w.opt_str(p.currency.as_deref());
            }
        }
        if fields.has(EventFields::LIST_NAME) {
            w.opt_str(self.list_name.as_deref());
        }
        if fields.has(EventFields::CART_TOTAL) {
            w.opt_f64(self.cart_total);
        }
        if fields.has(EventFields::CHECKOUT_STEP) {
            w.opt_varint(self.checkout_step.map(u64::from));
        }
        if fields.has(EventFields::TRANSACTION) {
            match &self.transaction {
                None => w.u8(0),
                Some(t) => {
                    w.u8(1);
                    w.str(&t.id);
                    w.f64(t.revenue);
                    w.opt_str(t.currency.as_deref());
                    w.opt_varint(t.total_quantity.map(u64::from));
                }
            }
        }
        if fields.has(EventFields::REFUND) {
            match &self.refund {
                None => w.u8(0),
                Some(r) => {
                    w.u8(1);
                    w.str(&r.transaction_id);
                    w.f64(r.amount);
                }
            }
        }
        if fields.has(EventFields::SEARCH_TERMS) {
            w.varint(self.search_terms.len() as u64);
            for t in &self.search_terms {
                w.str(t);
            }
        }
        if fields.has(EventFields::PAGE) {
            w.opt_str(self.page.url.as_deref());
            w.opt_str(self.page.title.as_deref());
            w.opt_str(self.page.referrer.as_deref());
        }
        if fields.has(EventFields::MARKETING) {
            w.opt_str(self.marketing.source.as_deref());
            w.opt_str(self.marketing.medium.as_deref());
            w.opt_str(self.marketing.campaign.as_deref());
        }
        if fields.has(EventFields::GEO) {
            w.opt_str(self.geo.country.as_deref());
            w.opt_str(self.geo.region.as_deref());
            w.opt_str(self.geo.city.as_deref());
        }
        if fields.has(EventFields::DEVICE_CLASS) {
            w.u8(self.device_class as u8);
        }
        if fields.has(EventFields::PLATFORM) {
            w.opt_str(self.platform.as_deref());
        }
    }
}
