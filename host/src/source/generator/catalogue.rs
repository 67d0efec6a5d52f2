//! The synthetic shop's catalogue: 500 products over 21 categories, with brands, prices, Zipf
//! popularity, search phrases and the promotions shown on the home page.

use live_shopper_abi::Product;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Zipf};

/// The store's only currency.
pub(crate) const CURRENCY: &str = "USD";
/// How many products the catalogue holds.
const PRODUCT_COUNT: usize = 500;
/// The catalogue does not depend on the traffic seed: the same shop serves every run.
const CATALOGUE_SEED: u64 = 0x5ca1_ab1e;
/// Zipf exponent of product popularity (a few best sellers, a long tail).
const POPULARITY_EXPONENT: f64 = 1.05;

/// A category: its full name (as in the `product` entity), URL slug, brands, product nouns,
/// price range in dollars, relative size and what shoppers type to find it.
struct CategorySpec {
    name: &'static str,
    slug: &'static str,
    brands: &'static [&'static str],
    nouns: &'static [&'static str],
    price: (f64, f64),
    weight: u32,
    searches: &'static [&'static str],
}

const fn cat(
    name: &'static str,
    slug: &'static str,
    price: (f64, f64),
    weight: u32,
    brands: &'static [&'static str],
    nouns: &'static [&'static str],
    searches: &'static [&'static str],
) -> CategorySpec {
    CategorySpec { name, slug, brands, nouns, price, weight, searches }
}

#[rustfmt::skip]
static CATEGORIES: [CategorySpec; 21] = [
    cat("Shoes/Running", "running-shoes", (59.0, 189.0), 8,
        &["Stridewell", "Northpeak", "Velo"],
        &["Trail Runner", "Road Racer", "Tempo Trainer"],
        &["running shoes", "trail shoes", "marathon"]),
    cat("Shoes/Sneakers", "sneakers", (45.0, 160.0), 7,
        &["Urbanfoot", "Stridewell", "Kiko"],
        &["Low Top", "High Top", "Court Classic"],
        &["sneakers", "white sneakers", "high tops"]),
    cat("Shoes/Boots", "boots", (79.0, 249.0), 4,
        &["Timberline", "Ridgeback"],
        &["Chelsea Boot", "Hiking Boot", "Winter Boot"],
        &["boots", "waterproof boots"]),
    cat("Clothing/Jackets", "jackets", (49.0, 349.0), 6,
        &["Northpeak", "Fjordline", "Arcadia"],
        &["Rain Jacket", "Down Parka", "Fleece"],
        &["rain jacket", "down jacket", "fleece"]),
    cat("Clothing/T-Shirts", "t-shirts", (9.0, 45.0), 7,
        &["Basico", "Arcadia", "Kiko"],
        &["Crew Tee", "V-Neck Tee", "Graphic Tee"],
        &["t shirt", "tee", "organic cotton"]),
    cat("Clothing/Jeans", "jeans", (35.0, 129.0), 5,
        &["Indigo & Co", "Basico"],
        &["Slim Jeans", "Straight Jeans", "Relaxed Jeans"],
        &["jeans", "slim fit jeans"]),
    cat("Clothing/Dresses", "dresses", (29.0, 199.0), 5,
        &["Maison Lune", "Arcadia"],
        &["Wrap Dress", "Midi Dress", "Shirt Dress"],
        &["summer dress", "midi dress"]),
    cat("Electronics/Headphones", "headphones", (19.0, 399.0), 6,
        &["Sonique", "Auralis", "Beatbox"],
        &["Wireless Earbuds", "Over-Ear Headphones", "Sport Buds"],
        &["wireless headphones", "earbuds", "noise cancelling"]),
    cat("Electronics/Smartphones", "smartphones", (199.0, 1299.0), 3,
        &["Novaphone", "Pixelon"],
        &["Phone 12", "Phone Lite", "Phone Pro Max"],
        &["smartphone", "phone case", "5g phone"]),
    cat("Electronics/Laptops", "laptops", (299.0, 2499.0), 3,
        &["Lumen", "Corebook", "Pixelon"],
        &["Ultrabook 14\"", "Gaming Laptop 16\"", "Chromebook"],
        &["laptop", "gaming laptop", "ultrabook"]),
    cat("Electronics/Smart Home", "smart-home", (12.0, 229.0), 4,
        &["Homely", "Lumen"],
        &["Smart Bulb", "Video Doorbell", "Smart Plug"],
        &["smart bulb", "doorbell camera"]),
    cat("Home & Kitchen/Cookware", "cookware", (19.0, 289.0), 5,
        &["Ferro", "Cucina Verde"],
        &["Cast Iron Skillet", "Saucepan Set", "Dutch Oven"],
        &["frying pan", "cast iron", "dutch oven"]),
    cat("Home & Kitchen/Coffee", "coffee", (14.0, 699.0), 4,
        &["Barista Bros", "Ferro", "Kaffa"],
        &["Burr Grinder", "Pour-Over Kettle", "Espresso Machine"],
        &["coffee grinder", "espresso machine", "kettle"]),
    cat("Home & Kitchen/Bedding", "bedding", (25.0, 259.0), 4,
        &["Dreamweave", "Casa Blanca"],
        &["Duvet Cover", "Linen Sheet Set", "Memory Foam Pillow"],
        &["duvet cover", "linen sheets", "pillow"]),
    cat("Beauty/Skincare", "skincare", (8.0, 89.0), 5,
        &["Lumière", "Pure Botanics"],
        &["Face Serum", "Day Cream", "Cleansing Gel"],
        &["vitamin c serum", "moisturiser", "spf"]),
    cat("Beauty/Fragrance", "fragrance", (19.0, 189.0), 3,
        &["Maison Lune", "Lumière"],
        &["Eau de Parfum", "Eau de Toilette", "Body Mist"],
        &["perfume", "eau de parfum"]),
    cat("Sports/Cycling", "cycling", (15.0, 249.0), 4,
        &["Velo", "Ridgeback"],
        &["Cycling Helmet", "Bike Light Set", "Padded Shorts"],
        &["bike helmet", "bike lights", "cycling shorts"]),
    cat("Sports/Fitness", "fitness", (9.0, 149.0), 5,
        &["Corefit", "Stridewell"],
        &["Yoga Mat", "Kettlebell", "Resistance Bands"],
        &["yoga mat", "kettlebell", "dumbbells"]),
    cat("Outdoor/Camping", "camping", (24.0, 449.0), 4,
        &["Fjordline", "Northpeak", "Timberline"],
        &["2-Person Tent", "Sleeping Bag", "Camping Stove"],
        &["tent", "sleeping bag", "camping stove"]),
    cat("Toys/Building Sets", "building-sets", (14.0, 199.0), 3,
        &["Brickly", "Tinker Co"],
        &["Castle Set", "Space Shuttle Set", "City Bus Set"],
        &["lego", "building blocks"]),
    cat("Books/Fiction", "fiction", (7.0, 34.0), 4,
        &["Paperhouse", "Quill Press"],
        &["Mystery Novel", "Sci-Fi Saga", "Literary Fiction"],
        &["mystery novel", "sci fi books", "bestseller"]),
];

static MODEL_WORDS: [&str; 12] =
    ["Air", "Pro", "Lite", "Max", "Flow", "Edge", "Nova", "Prime", "Zen", "Aero", "Core", "Plus"];

/// A home-page promotion. The product ids are catalogue ids, so the TSV writer can render the
/// `promotion` entity without the catalogue.
pub(crate) struct Promotion {
    pub id: &'static str,
    pub name: &'static str,
    pub kind: &'static str,
    pub slot: &'static str,
    pub product_ids: [&'static str; 2],
}

pub(crate) static PROMOTIONS: [Promotion; 4] = [
    Promotion {
        id: "promo_spring25",
        name: "spring_sale",
        kind: "banner",
        slot: "home_hero",
        product_ids: ["p-0001", "p-0004"],
    },
    Promotion {
        id: "promo_newin",
        name: "new_arrivals",
        kind: "carousel",
        slot: "home_row_1",
        product_ids: ["p-0012", "p-0027"],
    },
    Promotion {
        id: "promo_freeship",
        name: "free_shipping_over_50",
        kind: "banner",
        slot: "home_hero",
        product_ids: ["p-0003", "p-0040"],
    },
    Promotion {
        id: "promo_weekly",
        name: "weekly_deals",
        kind: "popup",
        slot: "sitewide_popup",
        product_ids: ["p-0009", "p-0055"],
    },
];

/// One product of the shop. Prices are kept in cents so sums are exact.
pub(crate) struct CatalogueProduct {
    pub id: String,
    pub slug: String,
    pub name: String,
    pub category: usize,
    pub brand: Option<&'static str>,
    pub price_cents: u64,
}

/// Products (in popularity order) and samplers for "a popular product" overall or per category.
pub(crate) struct Catalogue {
    products: Vec<CatalogueProduct>,
    /// Product indices of each category, most popular first.
    by_category: Vec<Vec<usize>>,
    global_zipf: Zipf<f64>,
    category_zipf: Vec<Zipf<f64>>,
}

impl Catalogue {
    pub(crate) fn new() -> Catalogue {
        let mut rng = SmallRng::seed_from_u64(CATALOGUE_SEED);
        let total_weight: u32 = CATEGORIES.iter().map(|c| c.weight).sum();
        let mut products = Vec::with_capacity(PRODUCT_COUNT);
        for i in 0..PRODUCT_COUNT {
            // The first products cycle through every category so each has a few; the rest follow weights.
            let category = if i < CATEGORIES.len() * 8 {
                i % CATEGORIES.len()
            } else {
                weighted_category(rng.random_range(0..total_weight))
            };
            products.push(make_product(&mut rng, i, category));
        }
        // Popularity follows the index: product 0 sells best, so promotions on low ids are best sellers.
        let mut by_category = vec![Vec::new(); CATEGORIES.len()];
        for (index, product) in products.iter().enumerate() {
            by_category[product.category].push(index);
        }
        let zipf = |n: usize| Zipf::new(n as f64, POPULARITY_EXPONENT).expect("valid zipf parameters");
        let category_zipf = by_category.iter().map(|c| zipf(c.len())).collect();
        Catalogue { products, by_category, global_zipf: zipf(PRODUCT_COUNT), category_zipf }
    }

    pub(crate) fn product(&self, index: usize) -> &CatalogueProduct {
        &self.products[index]
    }

    pub(crate) fn category_count(&self) -> usize {
        CATEGORIES.len()
    }

    /// The last part of the category name, for page titles and list names.
    pub(crate) fn category_leaf(&self, category: usize) -> &'static str {
        let name = CATEGORIES[category].name;
        name.rsplit('/').next().unwrap_or(name)
    }

    pub(crate) fn category_slug(&self, category: usize) -> &'static str {
        CATEGORIES[category].slug
    }

    /// A search phrase that finds products of `category`.
    pub(crate) fn search_phrase(&self, rng: &mut SmallRng, category: usize) -> &'static str {
        let phrases = CATEGORIES[category].searches;
        phrases[rng.random_range(0..phrases.len())]
    }

    /// The catalogue index of a product id such as `p-0042`.
    pub(crate) fn index_of(&self, id: &str) -> Option<usize> {
        let index = id.strip_prefix("p-")?.parse::<usize>().ok()?.checked_sub(1)?;
        (index < self.products.len()).then_some(index)
    }

    /// A product drawn by popularity, from `category` if given.
    pub(crate) fn pick(&self, rng: &mut SmallRng, category: Option<usize>) -> usize {
        match category {
            Some(c) => self.by_category[c][self.category_zipf[c].sample(rng) as usize - 1],
            None => self.global_zipf.sample(rng) as usize - 1,
        }
    }

    /// Up to `count` distinct products drawn by popularity, for a product list.
    pub(crate) fn pick_list(&self, rng: &mut SmallRng, category: Option<usize>, count: usize) -> Vec<usize> {
        let available = category.map_or(self.products.len(), |c| self.by_category[c].len());
        let count = count.min(available);
        let mut list = Vec::with_capacity(count);
        let mut attempts = 0;
        while list.len() < count && attempts < count * 20 {
            let p = self.pick(rng, category);
            if !list.contains(&p) {
                list.push(p);
            }
            attempts += 1;
        }
        list
    }

    /// The `product` entity of a catalogue product as the normalised event carries it.
    pub(crate) fn entity(&self, index: usize, quantity: u32) -> Product {
        let p = &self.products[index];
        Product {
            id: p.id.clone(),
            name: Some(p.name.clone()),
            category: Some(CATEGORIES[p.category].name.to_string()),
            brand: p.brand.map(str::to_string),
            price: Some(cents_to_amount(p.price_cents)),
            quantity,
            currency: Some(CURRENCY.to_string()),
        }
    }
}

/// The promotion shown to a session, chosen from the session id so the TSV writer agrees.
pub(crate) fn promotion_for(session_id: &str) -> &'static Promotion {
    &PROMOTIONS[(super::stable_hash(&[session_id, "promotion"]) % PROMOTIONS.len() as u64) as usize]
}

/// Cents as a currency amount with at most two decimals (exact in shortest round-trip form).
pub(crate) fn cents_to_amount(cents: u64) -> f64 {
    cents as f64 / 100.0
}

fn weighted_category(mut ticket: u32) -> usize {
    for (i, c) in CATEGORIES.iter().enumerate() {
        if ticket < c.weight {
            return i;
        }
        ticket -= c.weight;
    }
    CATEGORIES.len() - 1
}

fn make_product(rng: &mut SmallRng, index: usize, category: usize) -> CatalogueProduct {
    let spec = &CATEGORIES[category];
    // About one product in twenty is the shop's own label and has no brand.
    let brand = (!rng.random_bool(0.05)).then(|| spec.brands[rng.random_range(0..spec.brands.len())]);
    let noun = spec.nouns[rng.random_range(0..spec.nouns.len())];
    let model = MODEL_WORDS[rng.random_range(0..MODEL_WORDS.len())];
    let generation = rng.random_range(1..=9);
    let name = match brand {
        Some(brand) => format!("{brand} {model} {noun} {generation}"),
        None => format!("Essentials {model} {noun} {generation}"),
    };
    // Log-uniform within the category's range, ending in .99, .49 or .00 like shop prices do.
    let (low, high) = spec.price;
    let dollars = (low.ln() + rng.random::<f64>() * (high.ln() - low.ln())).exp().floor() as u64;
    let cents = [99, 99, 99, 49, 0][rng.random_range(0..5)];
    let slug = name.to_lowercase().replace(|c: char| !c.is_ascii_alphanumeric(), "-");
    CatalogueProduct {
        id: format!("p-{:04}", index + 1),
        slug,
        name,
        category,
        brand,
        price_cents: dollars.max(1) * 100 + cents,
    }
}
