//! The normalised shopper event (FEATURES.md §1) as the host owns it, the kind and field masks,
//! and its encoding on the wire with only the fields a plugin asked for (read back in `event_ref`).

use crate::codec::Writer;

/// What happened. The order is the order of the WIT `event-kinds` flags; do not reorder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
#[repr(u8)]
pub enum EventKind {
    PageView = 0,
    PagePing,
    ProductView,
    AddToCart,
    RemoveFromCart,
    ListClick,
    ListView,
    PromoClick,
    PromoView,
    CheckoutStep,
    Transaction,
    Refund,
    TrnsError,
    SiteSearch,
    #[default]
    Other,
}

impl EventKind {
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
    pub const ALL: EventKinds = EventKinds((1 << 15) - 1);

    pub const fn of(kinds: &[EventKind]) -> EventKinds {
        let mut bits = 0;
        let mut i = 0;
        while i < kinds.len() {
            bits |= kinds[i].bit();
            i += 1;
        }
        EventKinds(bits)
    }

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
    pub const EVENT_ID: u32 = 1 << 0;
    pub const SHOPPER_ID: u32 = 1 << 1;
    pub const USER_ID: u32 = 1 << 2;
    pub const SESSION_ID: u32 = 1 << 3;
    pub const PRODUCTS: u32 = 1 << 4;
    pub const LIST_NAME: u32 = 1 << 5;
    pub const CART_TOTAL: u32 = 1 << 6;
    pub const CHECKOUT_STEP: u32 = 1 << 7;
    pub const TRANSACTION: u32 = 1 << 8;
    pub const REFUND: u32 = 1 << 9;
    pub const SEARCH_TERMS: u32 = 1 << 10;
    pub const PAGE: u32 = 1 << 11;
    pub const MARKETING: u32 = 1 << 12;
    pub const GEO: u32 = 1 << 13;
    pub const DEVICE_CLASS: u32 = 1 << 14;
    pub const PLATFORM: u32 = 1 << 15;
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

    #[inline]
    pub fn has(self, bit: u32) -> bool {
        self.0 & bit != 0
    }
}

/// Desktop / Mobile / Tablet / Other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[repr(u8)]
pub enum DeviceClass {
    Desktop = 0,
    Mobile,
    Tablet,
    #[default]
    Other,
}

impl DeviceClass {
    pub fn as_str(self) -> &'static str {
        match self {
            DeviceClass::Desktop => "Desktop",
            DeviceClass::Mobile => "Mobile",
            DeviceClass::Tablet => "Tablet",
            DeviceClass::Other => "Other",
        }
    }

    pub fn from_code(code: u8) -> Option<DeviceClass> {
        [DeviceClass::Desktop, DeviceClass::Mobile, DeviceClass::Tablet, DeviceClass::Other]
            .get(code as usize)
            .copied()
    }
}

/// One `product` entity.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Product {
    pub id: String,
    pub name: Option<String>,
    pub category: Option<String>,
    pub brand: Option<String>,
    pub price: Option<f64>,
    /// Defaults to 1 when the entity has none.
    pub quantity: u32,
    pub currency: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Transaction {
    pub id: String,
    pub revenue: f64,
    pub currency: Option<String>,
    pub total_quantity: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Refund {
    pub transaction_id: String,
    pub amount: f64,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Page {
    pub url: Option<String>,
    pub title: Option<String>,
    pub referrer: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Marketing {
    pub source: Option<String>,
    pub medium: Option<String>,
    pub campaign: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Geo {
    pub country: Option<String>,
    pub region: Option<String>,
    pub city: Option<String>,
}

/// One normalised shopper action, as the decoders produce it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Event {
    pub event_id: String,
    /// Milliseconds since the Unix epoch, UTC.
    pub event_time: i64,
    pub kind: EventKind,
    pub shopper_id: String,
    pub user_id: Option<String>,
    pub session_id: Option<String>,
    pub products: Vec<Product>,
    pub list_name: Option<String>,
    pub cart_total: Option<f64>,
    pub checkout_step: Option<u32>,
    pub transaction: Option<Transaction>,
    pub refund: Option<Refund>,
    pub search_terms: Vec<String>,
    pub page: Page,
    pub marketing: Marketing,
    pub geo: Geo,
    pub device_class: DeviceClass,
    pub platform: Option<String>,
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
