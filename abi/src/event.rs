//! The normalised shopper event (FEATURES.md §1), owned on the host side and borrowed in guests,
//! plus its encoding on the wire with only the fields a plugin asked for.

use crate::codec::{DecodeError, Reader, Writer};

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

/// One `product` entity borrowed from a batch.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ProductRef<'a> {
    pub id: &'a str,
    pub name: Option<&'a str>,
    pub category: Option<&'a str>,
    pub brand: Option<&'a str>,
    pub price: Option<f64>,
    pub quantity: u32,
    pub currency: Option<&'a str>,
}

/// A normalised event borrowed from a batch. Fields the plugin did not ask for are empty.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct EventRef<'a> {
    pub event_time: i64,
    pub kind: EventKind,
    pub event_id: &'a str,
    pub shopper_id: &'a str,
    pub user_id: Option<&'a str>,
    pub session_id: Option<&'a str>,
    pub products: Vec<ProductRef<'a>>,
    pub list_name: Option<&'a str>,
    pub cart_total: Option<f64>,
    pub checkout_step: Option<u32>,
    /// (id, revenue, currency, total_quantity)
    pub transaction: Option<(&'a str, f64, Option<&'a str>, Option<u32>)>,
    /// (transaction id, refund amount)
    pub refund: Option<(&'a str, f64)>,
    pub search_terms: Vec<&'a str>,
    pub page_url: Option<&'a str>,
    pub page_title: Option<&'a str>,
    pub page_referrer: Option<&'a str>,
    pub mkt_source: Option<&'a str>,
    pub mkt_medium: Option<&'a str>,
    pub mkt_campaign: Option<&'a str>,
    pub geo_country: Option<&'a str>,
    pub geo_region: Option<&'a str>,
    pub geo_city: Option<&'a str>,
    pub device_class: DeviceClass,
    pub platform: Option<&'a str>,
}

impl<'a> EventRef<'a> {
    /// Reads one event written by [`Event::encode`] with the same `fields`.
    pub fn decode(fields: EventFields, r: &mut Reader<'a>) -> Result<EventRef<'a>, DecodeError> {
        let mut e = EventRef { event_time: r.i64()?, ..Default::default() };
        let at = r.position();
        let code = r.u8()?;
        e.kind =
            EventKind::from_code(code).ok_or(DecodeError::BadTag { at, what: "event kind", tag: code })?;
        if fields.has(EventFields::EVENT_ID) {
            e.event_id = r.str()?;
        }
        if fields.has(EventFields::SHOPPER_ID) {
            e.shopper_id = r.str()?;
        }
        if fields.has(EventFields::USER_ID) {
            e.user_id = r.opt_str()?;
        }
        if fields.has(EventFields::SESSION_ID) {
            e.session_id = r.opt_str()?;
        }
        if fields.has(EventFields::PRODUCTS) {
            let n = r.count()?;
            e.products.reserve(n.min(64));
            for _ in 0..n {
                e.products.push(ProductRef {
                    id: r.str()?,
                    name: r.opt_str()?,
                    category: r.opt_str()?,
                    brand: r.opt_str()?,
                    price: r.opt_f64()?,
                    quantity: r.varint()? as u32,
                    currency: r.opt_str()?,
                });
            }
        }
        if fields.has(EventFields::LIST_NAME) {
            e.list_name = r.opt_str()?;
        }
        if fields.has(EventFields::CART_TOTAL) {
            e.cart_total = r.opt_f64()?;
        }
        if fields.has(EventFields::CHECKOUT_STEP) {
            e.checkout_step = r.opt_varint()?.map(|v| v as u32);
        }
        if fields.has(EventFields::TRANSACTION) && r.bool()? {
            e.transaction = Some((r.str()?, r.f64()?, r.opt_str()?, r.opt_varint()?.map(|v| v as u32)));
        }
        if fields.has(EventFields::REFUND) && r.bool()? {
            e.refund = Some((r.str()?, r.f64()?));
        }
        if fields.has(EventFields::SEARCH_TERMS) {
            let n = r.count()?;
            for _ in 0..n {
                e.search_terms.push(r.str()?);
            }
        }
        if fields.has(EventFields::PAGE) {
            e.page_url = r.opt_str()?;
            e.page_title = r.opt_str()?;
            e.page_referrer = r.opt_str()?;
        }
        if fields.has(EventFields::MARKETING) {
            e.mkt_source = r.opt_str()?;
            e.mkt_medium = r.opt_str()?;
            e.mkt_campaign = r.opt_str()?;
        }
        if fields.has(EventFields::GEO) {
            e.geo_country = r.opt_str()?;
            e.geo_region = r.opt_str()?;
            e.geo_city = r.opt_str()?;
        }
        if fields.has(EventFields::DEVICE_CLASS) {
            let at = r.position();
            let code = r.u8()?;
            e.device_class = DeviceClass::from_code(code).ok_or(DecodeError::BadTag {
                at,
                what: "device class",
                tag: code,
            })?;
        }
        if fields.has(EventFields::PLATFORM) {
            e.platform = r.opt_str()?;
        }
        Ok(e)
    }

    /// The marketing fields, if any of them is present.
    pub fn has_marketing(&self) -> bool {
        self.mkt_source.is_some() || self.mkt_medium.is_some() || self.mkt_campaign.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full_event() -> Event {
        Event {
            event_id: "e".into(),
            event_time: 1_741_992_150_344,
            kind: EventKind::Transaction,
            shopper_id: "s".into(),
            user_id: Some("u@x".into()),
            session_id: Some("sess".into()),
            products: vec![Product {
                id: "p".into(),
                name: Some("Shoe".into()),
                category: Some("Shoes".into()),
                brand: None,
                price: Some(42.99),
                quantity: 2,
                currency: Some("EUR".into()),
            }],
            list_name: Some("Top".into()),
            cart_total: Some(85.98),
            checkout_step: Some(2),
            transaction: Some(Transaction {
                id: "t".into(),
                revenue: 85.98,
                currency: Some("EUR".into()),
                total_quantity: Some(2),
            }),
            refund: Some(Refund { transaction_id: "t".into(), amount: 1.5 }),
            search_terms: vec!["red".into(), "shoes".into()],
            page: Page { url: Some("http://x/?q=a".into()), title: Some("T".into()), referrer: None },
            marketing: Marketing {
                source: Some("google".into()),
                medium: Some("cpc".into()),
                campaign: None,
            },
            geo: Geo { country: Some("GR".into()), region: Some("I".into()), city: Some("Athens".into()) },
            device_class: DeviceClass::Tablet,
            platform: Some("web".into()),
        }
    }

    #[test]
    fn every_field_round_trips() {
        let e = full_event();
        let mut buf = Vec::new();
        e.encode(EventFields::ALL, &mut Writer::to(&mut buf));
        let mut r = Reader::new(&buf);
        let d = EventRef::decode(EventFields::ALL, &mut r).unwrap();
        assert!(r.is_at_end());
        assert_eq!(
            (d.event_id, d.shopper_id, d.event_time, d.kind),
            ("e", "s", e.event_time, EventKind::Transaction)
        );
        assert_eq!((d.user_id, d.session_id), (Some("u@x"), Some("sess")));
        assert_eq!(d.products[0].price, Some(42.99));
        assert_eq!((d.products[0].quantity, d.products[0].category), (2, Some("Shoes")));
        assert_eq!((d.list_name, d.cart_total, d.checkout_step), (Some("Top"), Some(85.98), Some(2)));
        assert_eq!(d.transaction, Some(("t", 85.98, Some("EUR"), Some(2))));
        assert_eq!(d.refund, Some(("t", 1.5)));
        assert_eq!(d.search_terms, vec!["red", "shoes"]);
        assert_eq!((d.page_url, d.page_title, d.page_referrer), (Some("http://x/?q=a"), Some("T"), None));
        assert_eq!((d.mkt_source, d.mkt_medium, d.mkt_campaign), (Some("google"), Some("cpc"), None));
        assert_eq!((d.geo_country, d.geo_region, d.geo_city), (Some("GR"), Some("I"), Some("Athens")));
        assert_eq!((d.device_class, d.platform), (DeviceClass::Tablet, Some("web")));
    }

    #[test]
    fn only_requested_fields_are_sent() {
        let e = full_event();
        let mut all = Vec::new();
        e.encode(EventFields::ALL, &mut Writer::to(&mut all));
        let mut geo_only = Vec::new();
        e.encode(EventFields(EventFields::GEO), &mut Writer::to(&mut geo_only));
        assert!(geo_only.len() < all.len() / 3, "{} vs {}", geo_only.len(), all.len());
        let d = EventRef::decode(EventFields(EventFields::GEO), &mut Reader::new(&geo_only)).unwrap();
        assert_eq!(d.geo_city, Some("Athens"));
        assert!(d.products.is_empty() && d.user_id.is_none());
    }

    #[test]
    fn kind_names_match_snowplow() {
        for k in EventKind::ALL {
            assert_eq!(EventKind::from_name(k.as_str()), k);
        }
        assert_eq!(EventKind::from_name("unstruct"), EventKind::Other);
    }
}
