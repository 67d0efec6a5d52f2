//! The normalised event as a plugin sees it: borrowed from the batch, with only the fields the
//! plugin asked for, decoded from what `Event::encode` wrote.

use crate::codec::{DecodeError, Reader};
use crate::event::{DeviceClass, EventFields, EventKind};

/// One `product` entity borrowed from a batch.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ProductRef<'a> {
    /// The product's id (SKU).
    pub id: &'a str,
    /// Product name.
    pub name: Option<&'a str>,
    /// Category, as the site names it.
    pub category: Option<&'a str>,
    /// Brand.
    pub brand: Option<&'a str>,
    /// Price of one unit, in `currency`.
    pub price: Option<f64>,
    /// Number of units (1 when the entity has none).
    pub quantity: u32,
    /// Currency of `price`, e.g. `EUR`.
    pub currency: Option<&'a str>,
}

/// A normalised event borrowed from a batch. Fields the plugin did not ask for are empty.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct EventRef<'a> {
    /// Milliseconds since the Unix epoch, UTC (always sent).
    pub event_time: i64,
    /// What happened (always sent).
    pub kind: EventKind,
    /// Unique event id.
    pub event_id: &'a str,
    /// The browser's id.
    pub shopper_id: &'a str,
    /// The site's login id, when the shopper is signed in.
    pub user_id: Option<&'a str>,
    /// The session id, if the event has one.
    pub session_id: Option<&'a str>,
    /// The `product` entities, in record order.
    pub products: Vec<ProductRef<'a>>,
    /// Name of the product list (list views and clicks only).
    pub list_name: Option<&'a str>,
    /// Total value of the cart.
    pub cart_total: Option<f64>,
    /// Checkout step number.
    pub checkout_step: Option<u32>,
    /// (id, revenue, currency, total_quantity)
    pub transaction: Option<(&'a str, f64, Option<&'a str>, Option<u32>)>,
    /// (transaction id, refund amount)
    pub refund: Option<(&'a str, f64)>,
    /// Terms of a site search.
    pub search_terms: Vec<&'a str>,
    /// Page URL.
    pub page_url: Option<&'a str>,
    /// Page title.
    pub page_title: Option<&'a str>,
    /// URL of the referring page.
    pub page_referrer: Option<&'a str>,
    /// Campaign source, e.g. `google`.
    pub mkt_source: Option<&'a str>,
    /// Campaign medium, e.g. `cpc`.
    pub mkt_medium: Option<&'a str>,
    /// Campaign name.
    pub mkt_campaign: Option<&'a str>,
    /// Country code, e.g. `GR`.
    pub geo_country: Option<&'a str>,
    /// Region code within the country.
    pub geo_region: Option<&'a str>,
    /// City name.
    pub geo_city: Option<&'a str>,
    /// Desktop / Mobile / Tablet / Other.
    pub device_class: DeviceClass,
    /// Snowplow platform code, e.g. `web`.
    pub platform: Option<&'a str>,
    /// The custom event this is (contract 0.2): its index in the descriptor's `custom_events`
    /// and its data, the raw JSON object of the `unstruct_event`.
    pub custom_event: Option<(u8, &'a str)>,
    /// The entities the plugin asked for that the event carries (contract 0.2), in record
    /// order: each one's index in the descriptor's `entities` and its data as raw JSON.
    pub entities: Vec<(u8, &'a str)>,
}

impl<'a> EventRef<'a> {
    /// Reads one event written by `Event::encode` with the same `fields`.
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

    /// Reads the self-describing section that follows the fields in a version-2 batch.
    pub fn read_self_describing(&mut self, r: &mut Reader<'a>) -> Result<(), DecodeError> {
        let custom = r.u8()?;
        if custom > 0 {
            self.custom_event = Some((custom - 1, r.str()?));
        }
        let n = r.count()?;
        for _ in 0..n {
            self.entities.push((r.u8()?, r.str()?));
        }
        Ok(())
    }

    /// The data (raw JSON) of the first entity of the event matching the descriptor's
    /// `entities[index]`.
    pub fn entity(&self, index: u8) -> Option<&'a str> {
        self.entities.iter().find(|(i, _)| *i == index).map(|(_, json)| *json)
    }

    /// The marketing fields, if any of them is present.
    pub fn has_marketing(&self) -> bool {
        self.mkt_source.is_some() || self.mkt_medium.is_some() || self.mkt_campaign.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::Writer;
    use crate::event::{Event, Geo, Marketing, Page, Product, Refund, Transaction};

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
            self_describing: Vec::new(),
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
