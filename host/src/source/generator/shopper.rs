//! Who shops: per-shopper profiles (activity, devices, places, login, cart, orders) and the static
//! tables of places and user agents that the TSV writer shares with the generator.

use live_shopper_abi::{DeviceClass, Geo};
use rand::rngs::SmallRng;
use rand::Rng;
use rand_distr::{Distribution, Pareto};

use super::uuid;

/// Where the shopper's events come from: the web shop or the mobile app.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Platform {
    Web,
    Mob,
}

impl Platform {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Platform::Web => "web",
            Platform::Mob => "mob",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Device {
    pub class: DeviceClass,
    pub platform: Platform,
}

/// A geo-IP location: ISO country, MaxMind-style region code, city, and the extras Enrich adds.
pub(crate) struct Place {
    pub country: &'static str,
    pub region: &'static str,
    pub region_name: &'static str,
    pub city: &'static str,
    pub latitude: f64,
    pub longitude: f64,
    pub timezone: &'static str,
}

const fn place(
    country: &'static str,
    region: &'static str,
    region_name: &'static str,
    city: &'static str,
    latitude: f64,
    longitude: f64,
    timezone: &'static str,
) -> Place {
    Place { country, region, region_name, city, latitude, longitude, timezone }
}

#[rustfmt::skip]
pub(crate) static PLACES: [Place; 30] = [
    place("US", "CA", "California", "San Francisco", 37.7749, -122.4194, "America/Los_Angeles"),
    place("US", "CA", "California", "Los Angeles", 34.0522, -118.2437, "America/Los_Angeles"),
    place("US", "NY", "New York", "New York", 40.7128, -74.006, "America/New_York"),
    place("US", "NJ", "New Jersey", "Jersey City", 40.7178, -74.0431, "America/New_York"),
    place("US", "TX", "Texas", "Austin", 30.2672, -97.7431, "America/Chicago"),
    place("US", "WA", "Washington", "Seattle", 47.6062, -122.3321, "America/Los_Angeles"),
    place("US", "IL", "Illinois", "Chicago", 41.8781, -87.6298, "America/Chicago"),
    place("GB", "ENG", "England", "London", 51.5072, -0.1276, "Europe/London"),
    place("GB", "ENG", "England", "Manchester", 53.4808, -2.2426, "Europe/London"),
    place("GB", "SCT", "Scotland", "Edinburgh", 55.9533, -3.1883, "Europe/London"),
    place("DE", "BE", "Berlin", "Berlin", 52.52, 13.405, "Europe/Berlin"),
    place("DE", "BY", "Bavaria", "München", 48.1351, 11.582, "Europe/Berlin"),
    place("DE", "HH", "Hamburg", "Hamburg", 53.5511, 9.9937, "Europe/Berlin"),
    place("FR", "IDF", "Île-de-France", "Paris", 48.8566, 2.3522, "Europe/Paris"),
    place("FR", "ARA", "Auvergne-Rhône-Alpes", "Lyon", 45.764, 4.8357, "Europe/Paris"),
    place("GR", "I", "Attica", "Athens", 37.9838, 23.7275, "Europe/Athens"),
    place("GR", "A1", "Attica", "Piraeus", 37.942, 23.6465, "Europe/Athens"),
    place("GR", "B", "Central Macedonia", "Thessaloniki", 40.6401, 22.9444, "Europe/Athens"),
    place("NL", "NH", "North Holland", "Amsterdam", 52.3676, 4.9041, "Europe/Amsterdam"),
    place("NL", "ZH", "South Holland", "Rotterdam", 51.9244, 4.4777, "Europe/Amsterdam"),
    place("PT", "11", "Lisbon", "Lisbon", 38.7223, -9.1393, "Europe/Lisbon"),
    place("PT", "13", "Porto", "Porto", 41.1579, -8.6291, "Europe/Lisbon"),
    place("ES", "MD", "Madrid", "Madrid", 40.4168, -3.7038, "Europe/Madrid"),
    place("ES", "CT", "Catalonia", "Barcelona", 41.3874, 2.1686, "Europe/Madrid"),
    place("CZ", "", "", "", 49.75, 15.5, "Europe/Prague"),
    place("CZ", "10", "Hlavní město Praha", "Prague", 50.0755, 14.4378, "Europe/Prague"),
    place("CH", "ZH", "Zurich", "Zürich", 47.3769, 8.5417, "Europe/Zurich"),
    place("CA", "ON", "Ontario", "Toronto", 43.6532, -79.3832, "America/Toronto"),
    place("AU", "NSW", "New South Wales", "Sydney", -33.8688, 151.2093, "Australia/Sydney"),
    place("BR", "SP", "São Paulo", "São Paulo", -23.5558, -46.6396, "America/Sao_Paulo"),
];

impl Place {
    /// The normalised geo fields; empty parts are absent.
    pub(crate) fn geo(&self) -> Geo {
        let part = |s: &str| (!s.is_empty()).then(|| s.to_string());
        Geo { country: part(self.country), region: part(self.region), city: part(self.city) }
    }
}

/// The place an event's geo fields came from, if it is one of [`PLACES`].
pub(crate) fn find_place(geo: &Geo) -> Option<&'static Place> {
    let (country, region, city) = (part(&geo.country), part(&geo.region), part(&geo.city));
    PLACES.iter().find(|p| (p.country, p.region, p.city) == (country, region, city))
}

fn part(field: &Option<String>) -> &str {
    field.as_deref().unwrap_or("")
}

/// A user agent with what a UA parser (YAUAA) says about it.
pub(crate) struct UserAgent {
    pub class: DeviceClass,
    pub platform: Platform,
    pub ua: &'static str,
    /// YAUAA `deviceClass`: `Desktop`, `Phone`, `Tablet`, or `TV` for the one `Other` agent.
    pub yauaa_class: &'static str,
    pub device_name: &'static str,
    pub os_name: &'static str,
    pub agent_name: &'static str,
    pub screen: (u32, u32),
    pub viewport: (u32, u32),
}

const fn agent(
    class: DeviceClass,
    platform: Platform,
    (device_name, os_name, agent_name): (&'static str, &'static str, &'static str),
    screen: (u32, u32),
    viewport: (u32, u32),
    ua: &'static str,
) -> UserAgent {
    let yauaa_class = match class {
        DeviceClass::Desktop => "Desktop",
        DeviceClass::Mobile => "Phone",
        DeviceClass::Tablet => "Tablet",
        DeviceClass::Other => "TV",
    };
    UserAgent { class, platform, ua, yauaa_class, device_name, os_name, agent_name, screen, viewport }
}

impl UserAgent {
    fn android(&self) -> bool {
        self.os_name == "Android"
    }

    /// The Snowplow `app_id`: the web shop, or the iOS or Android app.
    pub(crate) fn app_id(&self) -> &'static str {
        match self.platform {
            Platform::Web => "shop-web",
            Platform::Mob if self.android() => "shop-android",
            Platform::Mob => "shop-ios",
        }
    }

    /// The tracker (`v_tracker`) that sends this device's events.
    pub(crate) fn tracker(&self) -> &'static str {
        match self.platform {
            Platform::Web => "js-4.3.1",
            Platform::Mob if self.android() => "andr-6.1.0",
            Platform::Mob => "ios-6.1.0",
        }
    }
}

use DeviceClass::{Desktop, Mobile, Other, Tablet};
use Platform::{Mob, Web};

/// Desktop UAs carry no `Mobile`, `Android`, `iPhone` or `iPad`; phone UAs carry `iPhone` or
/// `Android … Mobile`; tablet UAs carry `iPad` or `Android` without `Mobile`. The smart TV (class
/// `Other`) is never generated; it lets the TSV writer render events of that class.
#[rustfmt::skip]
pub(crate) static USER_AGENTS: [UserAgent; 13] = [
    agent(Desktop, Web, ("Desktop", "Windows NT", "Chrome"), (1920, 1080), (1903, 969),
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/134.0.0.0 Safari/537.36"),
    agent(Desktop, Web, ("Apple Macintosh", "Mac OS", "Safari"), (2560, 1440), (1512, 823),
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.3 Safari/605.1.15"),
    agent(Desktop, Web, ("Linux Desktop", "Linux", "Chrome"), (3440, 1440), (1377, 1170),
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/134.0.0.0 Safari/537.36"),
    agent(Desktop, Web, ("Desktop", "Windows NT", "Firefox"), (1536, 864), (1519, 730),
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:136.0) Gecko/20100101 Firefox/136.0"),
    agent(Mobile, Web, ("Apple iPhone", "iOS", "Safari"), (390, 844), (390, 664),
        "Mozilla/5.0 (iPhone; CPU iPhone OS 18_3 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.3 Mobile/15E148 Safari/604.1"),
    agent(Mobile, Web, ("Google Pixel 8", "Android", "Chrome"), (412, 915), (412, 776),
        "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/134.0.0.0 Mobile Safari/537.36"),
    agent(Mobile, Web, ("Samsung SM-S921B", "Android", "Samsung Internet"), (384, 832), (384, 705),
        "Mozilla/5.0 (Linux; Android 14; SM-S921B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/26.0 Chrome/122.0.0.0 Mobile Safari/537.36"),
    agent(Tablet, Web, ("Samsung SM-X710", "Android", "Chrome"), (1600, 2560), (800, 1208),
        "Mozilla/5.0 (Linux; Android 14; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/134.0.0.0 Safari/537.36"),
    agent(Tablet, Web, ("Apple iPad", "iPadOS", "Chrome"), (820, 1180), (820, 1106),
        "Mozilla/5.0 (iPad; CPU OS 17_7 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/134.0.6998.33 Mobile/15E148 Safari/604.1"),
    agent(Mobile, Mob, ("Google Pixel 7a", "Android", "Chrome Webview"), (412, 915), (412, 915),
        "Mozilla/5.0 (Linux; Android 14; Pixel 7a Build/AP2A.240905.003; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/134.0.0.0 Mobile Safari/537.36"),
    agent(Mobile, Mob, ("Apple iPhone", "iOS", "Apple WebKit"), (393, 852), (393, 852),
        "Mozilla/5.0 (iPhone; CPU iPhone OS 18_3 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148"),
    agent(Tablet, Mob, ("Apple iPad", "iPadOS", "Apple WebKit"), (1024, 1366), (1024, 1366),
        "Mozilla/5.0 (iPad; CPU OS 17_7 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148"),
    agent(Other, Web, ("Samsung Smart TV", "Tizen", "Samsung Internet"), (1920, 1080), (1920, 1080),
        "Mozilla/5.0 (SMART-TV; LINUX; Tizen 6.5) AppleWebKit/537.36 (KHTML, like Gecko) 85.0.4183.93/6.5 TV Safari/537.36"),
];

/// The user agent a shopper's device of `class` on `platform` sends; `pick` chooses among several.
pub(crate) fn user_agent_for(class: DeviceClass, platform: Option<&str>, pick: u64) -> &'static UserAgent {
    let platform = if platform == Some("mob") { Mob } else { Web };
    // Prefer agents of the device class on the platform, else any of the class.
    for same_platform in [true, false] {
        let fits = |a: &&UserAgent| a.class == class && (!same_platform || a.platform == platform);
        let count = USER_AGENTS.iter().filter(fits).count() as u64;
        if let Some(agent) = USER_AGENTS.iter().filter(fits).nth((pick % count.max(1)) as usize) {
            return agent;
        }
    }
    &USER_AGENTS[0]
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CartLine {
    pub product: usize,
    pub quantity: u32,
}

/// A placed order, kept so a later visit can refund it.
#[derive(Debug, Clone)]
pub(crate) struct Order {
    pub id: String,
    pub lines: Vec<CartLine>,
    pub revenue_cents: u64,
    pub refunded: bool,
}

static FIRST_NAMES: [&str; 16] = [
    "anna", "ben", "chloe", "dimitris", "elena", "felix", "grace", "hugo", "ines", "jonas", "kate", "liam",
    "maria", "noah", "olivia", "pedro",
];
static LAST_NAMES: [&str; 12] = [
    "smith",
    "papadopoulos",
    "muller",
    "silva",
    "novak",
    "garcia",
    "jones",
    "rossi",
    "dubois",
    "berg",
    "kim",
    "o'neill",
];
static MAIL_DOMAINS: [&str; 4] = ["example.com", "mail.example.org", "example.net", "inbox.example"];

/// One shopper (one browser cookie, `domain_userid`) and what persists between their visits.
pub(crate) struct Shopper {
    pub id: String,
    /// Relative activity (Pareto from 0.3, capped at 40): active shoppers come back sooner and
    /// browse longer.
    pub activity: f64,
    /// One device, or two for shoppers who switch between visits.
    pub devices: Vec<Device>,
    /// Home place first; a second one for shoppers who travel. Empty: geo lookup fails.
    pub places: Vec<&'static Place>,
    /// The login id, for shoppers with an account.
    pub account: Option<String>,
    /// Whether the last visit ended signed in (the next one starts signed in).
    pub signed_in: bool,
    pub favourite_categories: Vec<usize>,
    /// 0..1, how readily this shopper adds to cart and checks out.
    pub buy_propensity: f64,
    pub cart: Vec<CartLine>,
    pub orders: Vec<Order>,
    /// Visits so far.
    pub sessions: u32,
}

impl Shopper {
    pub(crate) fn new(rng: &mut SmallRng, index: u32, category_count: usize) -> Shopper {
        let activity: f64 = Pareto::new(0.3, 1.0).expect("valid pareto").sample(rng);
        let primary = random_device(rng);
        let mut devices = vec![primary];
        if rng.random_bool(0.12) {
            let second = random_device(rng);
            if second.class != primary.class {
                devices.push(second);
            }
        }
        let mut places = Vec::new();
        if !rng.random_bool(0.03) {
            let home = rng.random_range(0..PLACES.len());
            places.push(&PLACES[home]);
            if rng.random_bool(0.15) {
                let away = (home + rng.random_range(1..PLACES.len())) % PLACES.len();
                places.push(&PLACES[away]);
            }
        }
        let account = rng.random_bool(0.7).then(|| {
            let first = FIRST_NAMES[rng.random_range(0..FIRST_NAMES.len())];
            let last = LAST_NAMES[rng.random_range(0..LAST_NAMES.len())];
            let domain = MAIL_DOMAINS[rng.random_range(0..MAIL_DOMAINS.len())];
            format!("{first}.{last}{index}@{domain}")
        });
        let favourites = rng.random_range(1..=3);
        Shopper {
            id: uuid(rng),
            activity: activity.min(40.0),
            devices,
            places,
            signed_in: account.is_some() && rng.random_bool(0.3),
            account,
            favourite_categories: (0..favourites).map(|_| rng.random_range(0..category_count)).collect(),
            buy_propensity: rng.random::<f64>().powi(2),
            cart: Vec::new(),
            orders: Vec::new(),
            sessions: 0,
        }
    }

    /// The device of the next visit: usually the first, sometimes the other.
    pub(crate) fn pick_device(&self, rng: &mut SmallRng) -> Device {
        match self.devices.as_slice() {
            [_, second] if rng.random_bool(0.35) => *second,
            [first, ..] => *first,
            [] => Device { class: Desktop, platform: Web },
        }
    }

    /// The geo fields of the next visit: home, or the second place for travellers.
    pub(crate) fn pick_geo(&self, rng: &mut SmallRng) -> Geo {
        match self.places.as_slice() {
            [_, away] if rng.random_bool(0.4) => away.geo(),
            [home, ..] => home.geo(),
            [] => Geo::default(),
        }
    }
}

fn random_device(rng: &mut SmallRng) -> Device {
    let roll = rng.random::<f64>();
    let (class, platform) = match roll {
        r if r < 0.44 => (Desktop, Web),
        r if r < 0.76 => (Mobile, Web),
        r if r < 0.86 => (Tablet, Web),
        r if r < 0.97 => (Mobile, Mob),
        _ => (Tablet, Mob),
    };
    Device { class, platform }
}
