//! Where a shopper is during a visit: the shop's views, their URLs and titles, and the marketing
//! campaigns (UTM parameters) and external referrers that bring shoppers in.

use live_shopper_abi::Marketing;

use super::catalogue::Catalogue;

/// The shop's origin; every web page URL starts with it.
pub(crate) const SITE: &str = "https://shop.example.com";
const SHOP_NAME: &str = "Example Shop";

/// A screen of the shop (a page on the web, a screen in the app).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum View {
    Home,
    Category(usize),
    Search {
        category: usize,
        phrase: &'static str,
    },
    Product(usize),
    Cart,
    Checkout(u32),
    /// The confirmation of the shopper's order with this index in their order history.
    Confirmation(usize),
    Orders,
    SignIn,
}

impl View {
    /// Whether the web tracker's activity tracking sends page pings while the shopper reads it.
    pub(crate) fn pings(&self) -> bool {
        matches!(self, View::Home | View::Category(_) | View::Search { .. } | View::Product(_) | View::Cart)
    }

    /// Path (with query) and title of the view's web page.
    pub(crate) fn path_and_title(&self, catalogue: &Catalogue, order_id: Option<&str>) -> (String, String) {
        match self {
            View::Home => ("/".to_string(), format!("{SHOP_NAME} – Shoes, Tech & Home")),
            View::Category(c) => (
                format!("/c/{}", catalogue.category_slug(*c)),
                format!("{} | {SHOP_NAME}", catalogue.category_leaf(*c)),
            ),
            View::Search { phrase, .. } => (
                format!("/search?q={}", phrase.replace(' ', "+")),
                format!("Search results for \"{phrase}\" | {SHOP_NAME}"),
            ),
            View::Product(p) => {
                let product = catalogue.product(*p);
                (format!("/p/{}/{}", product.id, product.slug), format!("{} | {SHOP_NAME}", product.name))
            }
            View::Cart => ("/cart".to_string(), format!("Your cart | {SHOP_NAME}")),
            View::Checkout(step) => {
                let (slug, name) = match step {
                    1 => ("information", "Information"),
                    2 => ("shipping", "Shipping"),
                    _ => ("payment", "Payment"),
                };
                (format!("/checkout/{slug}"), format!("Checkout – {name} | {SHOP_NAME}"))
            }
            View::Confirmation(_) => (
                format!("/checkout/confirmation?order={}", order_id.unwrap_or("")),
                format!("Thank you for your order | {SHOP_NAME}"),
            ),
            View::Orders => ("/account/orders".to_string(), format!("Your orders | {SHOP_NAME}")),
            View::SignIn => ("/account/login".to_string(), format!("Sign in | {SHOP_NAME}")),
        }
    }
}

/// A marketing campaign as it appears in landing-page UTM parameters.
pub(crate) struct Campaign {
    pub source: &'static str,
    pub medium: &'static str,
    pub campaign: Option<&'static str>,
    pub term: Option<&'static str>,
    pub content: Option<&'static str>,
    pub referrer: Option<&'static str>,
}

const fn campaign(
    source: &'static str,
    medium: &'static str,
    campaign: Option<&'static str>,
    term: Option<&'static str>,
    content: Option<&'static str>,
    referrer: Option<&'static str>,
) -> Campaign {
    Campaign { source, medium, campaign, term, content, referrer }
}

#[rustfmt::skip]
pub(crate) static CAMPAIGNS: [Campaign; 7] = [
    campaign("google", "cpc", Some("spring-sale-25"), Some("running shoes"), Some("ad_variant_1"),
        Some("https://www.google.com/")),
    campaign("google", "cpc", Some("brand-search"), Some("example shop"), None,
        Some("https://www.google.com/")),
    campaign("bing", "cpc", Some("spring-sale-25"), None, None, Some("https://www.bing.com/")),
    campaign("facebook", "paid_social", Some("new-arrivals-mar"), None, Some("carousel"),
        Some("https://l.facebook.com/")),
    campaign("instagram", "social", None, None, None, Some("https://l.instagram.com/")),
    campaign("newsletter", "email", Some("weekly-2025-11"), None, Some("hero_button"), None),
    campaign("awin", "affiliate", Some("partner-program"), None, None, Some("https://www.deals.example/")),
];

/// Referrers of visits that arrive without a campaign (`None`: typed in or bookmarked).
pub(crate) static ORGANIC_REFERRERS: [Option<&str>; 5] = [
    Some("https://www.google.com/"),
    Some("https://www.google.com/"),
    Some("https://duckduckgo.com/"),
    None,
    None,
];

impl Campaign {
    pub(crate) fn marketing(&self) -> Marketing {
        Marketing {
            source: Some(self.source.to_string()),
            medium: Some(self.medium.to_string()),
            campaign: self.campaign.map(str::to_string),
        }
    }

    /// `path` with this campaign's UTM parameters appended to its query.
    pub(crate) fn tag(&self, path: &str) -> String {
        let mut url = path.to_string();
        let mut add = |key: &str, value: Option<&str>| {
            if let Some(value) = value {
                url.push(if url.contains('?') { '&' } else { '?' });
                url.push_str(key);
                url.push('=');
                url.push_str(&value.replace(' ', "%20"));
            }
        };
        add("utm_source", Some(self.source));
        add("utm_medium", Some(self.medium));
        add("utm_campaign", self.campaign);
        add("utm_term", self.term);
        add("utm_content", self.content);
        url
    }
}

/// The value of query parameter `key` in `url`, with `+` and `%XX` decoded.
pub(crate) fn query_param(url: &str, key: &str) -> Option<String> {
    let query = url.split_once('?')?.1.split('#').next()?;
    let raw = query.split('&').find_map(|pair| pair.strip_prefix(key)?.strip_prefix('='))?;
    Some(percent_decode(raw))
}

fn percent_decode(raw: &str) -> String {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => match bytes.get(i + 1..i + 3).filter(|h| h.iter().all(u8::is_ascii_hexdigit)) {
                Some(hex) => {
                    out.push(u8::from_str_radix(std::str::from_utf8(hex).unwrap_or("0"), 16).unwrap_or(0));
                    i += 2;
                }
                None => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
