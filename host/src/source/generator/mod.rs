//! Synthetic shopper traffic: a deterministic stream of normalised events from many interleaved
//! shopper visits (browse, search, cart, checkout, refunds), and their Snowplow enriched TSV form.
//!
//! Shoppers have skewed activity and come back after more than 30 minutes of idle time, so one
//! shopper has several sessions. Events are yielded in the order the collector would receive them:
//! event time plus a delivery delay of at most 2 s, so event times increase overall with a small
//! out-of-order jitter, as on a real Kafka topic.

mod catalogue;
mod entities;
pub mod loyalty;
mod page;
mod session;
mod shopper;
#[cfg(test)]
mod tests;
pub mod tsv;

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use live_shopper_abi::Event;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use catalogue::Catalogue;
use session::{Session, World};
use shopper::Shopper;

pub use tsv::write_enriched_tsv;

/// 2025-03-14T00:00:00Z in ms since the Unix epoch.
pub const DEFAULT_START_MS: i64 = 1_741_910_400_000;
/// A new session starts only after this much idle time (the tracker's session timeout is 30 min).
const MIN_IDLE_MS: i64 = 31 * 60 * 1000;
/// Mean extra idle time before a shopper of activity 1 comes back (divided by the activity).
const RETURN_MEAN_MS: f64 = 15.0 * 60.0 * 1000.0;
/// The longest delivery delay, hence the largest out-of-orderness of the stream.
pub const MAX_DELIVERY_DELAY_MS: i64 = 2_000;

/// What to generate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratorConfig {
    /// Distinct shoppers (browser cookies) in the population; 0 counts as 1. Default 1000. Their
    /// activity is skewed: a few come back far more often and browse far longer than most.
    pub shoppers: u32,
    /// Exactly how many events the generator yields. Default 100_000.
    pub events: u64,
    /// RNG seed; the same config always yields the same events. Default 1.
    pub seed: u64,
    /// Event time (ms since the Unix epoch) the traffic starts at. Default 2025-03-14T00:00:00Z.
    pub start_ms: i64,
}

impl Default for GeneratorConfig {
    fn default() -> Self {
        GeneratorConfig { shoppers: 1000, events: 100_000, seed: 1, start_ms: DEFAULT_START_MS }
    }
}

/// An iterator over exactly `config.events` synthetic events, deterministic per config.
pub struct Generator {
    config: GeneratorConfig,
    rng: SmallRng,
    catalogue: Catalogue,
    shoppers: Vec<Shopper>,
    /// What happens next in event time: a shopper starting a visit, or a visit's next event.
    agenda: BinaryHeap<Scheduled>,
    /// Generated events waiting for their delivery time, so the stream is in collector order.
    in_flight: BinaryHeap<InFlight>,
    generated: u64,
    seq: u64,
}

enum Task {
    Start(usize),
    Continue(usize, Box<Session>),
}

struct Scheduled {
    at: i64,
    seq: u64,
    task: Task,
}

struct InFlight {
    delivered_at: i64,
    seq: u64,
    event: Event,
}

impl Generator {
    /// A generator of `config.events` events. Shopper profiles are drawn now; events lazily as it
    /// is iterated.
    pub fn new(config: GeneratorConfig) -> Generator {
        let mut rng = SmallRng::seed_from_u64(config.seed);
        let catalogue = Catalogue::new();
        let count = config.shoppers.max(1);
        let shoppers: Vec<Shopper> =
            (0..count).map(|i| Shopper::new(&mut rng, i, catalogue.category_count())).collect();
        let mut generator = Generator {
            config,
            rng,
            catalogue,
            shoppers,
            agenda: BinaryHeap::new(),
            in_flight: BinaryHeap::new(),
            generated: 0,
            seq: 0,
        };
        // Spread first visits over one return cycle of each shopper, so traffic is steady from the start.
        for index in 0..generator.shoppers.len() {
            let cycle = MIN_IDLE_MS as f64 + RETURN_MEAN_MS / generator.shoppers[index].activity;
            let at = generator.config.start_ms + (generator.rng.random::<f64>() * cycle) as i64;
            generator.schedule(at, Task::Start(index));
        }
        generator
    }

    /// The config this generator was made from.
    pub fn config(&self) -> &GeneratorConfig {
        &self.config
    }

    fn schedule(&mut self, at: i64, task: Task) {
        self.seq += 1;
        self.agenda.push(Scheduled { at, seq: self.seq, task });
    }

    /// Runs the agenda until one more event is generated (and put in flight).
    fn generate_one(&mut self) {
        while let Some(Scheduled { at, task, .. }) = self.agenda.pop() {
            let (index, mut session) = match task {
                Task::Start(index) => {
                    let mut world = self.world(index);
                    (index, Box::new(Session::begin(&mut world, at)))
                }
                Task::Continue(index, session) => (index, session),
            };
            let event = session.pop();
            let more = session.next_time().is_some() || session.plan_next(&mut self.world(index));
            if more {
                let next = session.next_time().unwrap_or(at);
                self.schedule(next, Task::Continue(index, session));
            } else {
                let idle = exponential(&mut self.rng, RETURN_MEAN_MS / self.shoppers[index].activity);
                self.schedule(session.clock() + MIN_IDLE_MS + idle as i64, Task::Start(index));
            }
            if let Some(event) = event {
                self.seq += 1;
                let delivered_at = event.event_time + delivery_delay_ms(&event);
                self.in_flight.push(InFlight { delivered_at, seq: self.seq, event });
                self.generated += 1;
                return;
            }
        }
    }

    fn world(&mut self, index: usize) -> World<'_> {
        World { rng: &mut self.rng, catalogue: &self.catalogue, shopper: &mut self.shoppers[index] }
    }
}

impl Iterator for Generator {
    type Item = Event;

    fn next(&mut self) -> Option<Event> {
        loop {
            // Every event still to be generated happens at or after the agenda's next time, and is
            // delivered no earlier, so anything in flight delivered by then can go out now.
            let horizon = match self.generated < self.config.events {
                true => self.agenda.peek().map_or(i64::MAX, |s| s.at),
                false => i64::MAX,
            };
            if self.in_flight.peek().is_some_and(|f| f.delivered_at <= horizon) {
                return self.in_flight.pop().map(|f| f.event);
            }
            if self.generated >= self.config.events {
                return None;
            }
            self.generate_one();
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.config.events - self.generated + self.in_flight.len() as u64;
        let left = usize::try_from(left).unwrap_or(usize::MAX);
        (left, Some(left))
    }
}

impl ExactSizeIterator for Generator {}

/// How long after its event time the collector receives `event` (≤ [`MAX_DELIVERY_DELAY_MS`]).
/// A function of the event alone, so the TSV writer's `collector_tstamp` agrees with the stream
/// order. Web trackers send within a few hundred ms, sometimes later; apps send in batches.
pub(crate) fn delivery_delay_ms(event: &Event) -> i64 {
    let h = stable_hash(&[&event.event_id, "delivery"]);
    let mob = event.platform.as_deref() == Some("mob");
    let slow = h % 100 < 4;
    let spread = (h >> 8) as i64;
    match (mob, slow) {
        (false, false) => 15 + spread % 300,
        (true, _) | (false, true) => 300 + spread % (MAX_DELIVERY_DELAY_MS - 299),
    }
}

/// 64-bit FNV-1a over the parts (with separators), finished with a SplitMix64 mix.
pub(crate) fn stable_hash(parts: &[&str]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for &b in part.as_bytes().iter().chain(&[0xff]) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

/// A random version-4 UUID string from the generator's RNG.
pub(crate) fn uuid(rng: &mut SmallRng) -> String {
    format_uuid(rng.random::<u128>())
}

/// A UUID-shaped id for the `index`-th session of a shopper. The last 8 hex digits hold the index,
/// so the TSV writer can fill `domain_sessionidx` / `sessionIndex` from the event alone.
pub(crate) fn session_uuid(rng: &mut SmallRng, index: u32) -> String {
    format_uuid((rng.random::<u128>() & !0xffff_ffff) | u128::from(index))
}

/// The session index a [`session_uuid`] carries.
pub(crate) fn session_index(session_id: &str) -> Option<u32> {
    let tail = session_id.get(session_id.len().checked_sub(8)?..)?;
    u32::from_str_radix(tail, 16).ok().filter(|&i| i > 0)
}

fn format_uuid(bits: u128) -> String {
    // Version 4, RFC 4122 variant.
    let bits = (bits & !(0xf << 76) & !(0x3 << 62)) | (0x4 << 76) | (0x2 << 62);
    let hex = format!("{bits:032x}");
    format!("{}-{}-{}-{}-{}", &hex[0..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..32])
}

/// A sample of the exponential distribution with the given mean.
pub(crate) fn exponential(rng: &mut SmallRng, mean: f64) -> f64 {
    -mean * (1.0 - rng.random::<f64>()).ln()
}

impl Ord for Scheduled {
    /// Reversed, so the `BinaryHeap` pops the earliest; `seq` breaks ties deterministically.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

impl PartialOrd for Scheduled {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Scheduled {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}

impl Eq for Scheduled {}

impl Ord for InFlight {
    fn cmp(&self, other: &Self) -> Ordering {
        (other.delivered_at, other.seq).cmp(&(self.delivered_at, self.seq))
    }
}

impl PartialOrd for InFlight {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for InFlight {
    fn eq(&self, other: &Self) -> bool {
        (self.delivered_at, self.seq) == (other.delivered_at, other.seq)
    }
}

impl Eq for InFlight {}
