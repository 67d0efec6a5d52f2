//! Emissions: what the engine hands a sink when a plugin recomputes a feature group for a key.

use live_shopper_abi::{FeatureGroup, FeatureValue};

/// One recomputed group for one key, borrowed from the engine for the duration of the call.
#[derive(Debug, Clone, Copy)]
pub struct Emission<'a> {
    pub plugin: &'a str,
    pub group: &'a FeatureGroup,
    /// The entity id (shopper or session).
    pub key: &'a str,
    /// The as-of time A; written as `updated_at`.
    pub as_of: i64,
    /// The final emission of a closing entity (a session).
    pub closed: bool,
    /// One value per `group.features`, in order.
    pub values: &'a [FeatureValue<'a>],
}

impl Emission<'_> {
    /// The Redis key of the hash, e.g. `user:abc:features:5min`.
    pub fn redis_key(&self) -> String {
        let mut key = String::new();
        self.write_redis_key(&mut key);
        key
    }

    /// Writes the Redis key into `out` (cleared first), reusing its capacity.
    pub fn write_redis_key(&self, out: &mut String) {
        out.clear();
        let (before, after) = self.group.redis_key.split_once("{key}").unwrap_or((&self.group.redis_key, ""));
        out.push_str(before);
        out.push_str(self.key);
        out.push_str(after);
    }

    /// HSET semantics into `fields`: each feature is overwritten in place, new fields are
    /// appended; no allocation for a field that already exists. `updated_at` keeps the latest
    /// as-of time: two plugins share a hash (product and cart), and one may fire an earlier
    /// tick after the other fired a later one within a step.
    pub fn merge_into(&self, fields: &mut Vec<(String, String)>) {
        let newer =
            |(n, v): &(String, String)| n == "updated_at" && v.parse::<i64>().is_ok_and(|t| t >= self.as_of);
        let keep_updated_at = fields.iter().any(newer);
        let mut set = |name: &str, write: &dyn Fn(&mut String)| {
            let at = match fields.iter().position(|(n, _)| n == name) {
                Some(at) => at,
                None => {
                    fields.push((name.to_string(), String::new()));
                    fields.len() - 1
                }
            };
            let value = &mut fields[at].1;
            value.clear();
            write(value);
        };
        for (name, value) in self.group.features.iter().zip(self.values) {
            set(name, &|out| value.write_redis_string(out));
        }
        if !keep_updated_at {
            set("updated_at", &|out| {
                use std::fmt::Write as _;
                let _ = write!(out, "{}", self.as_of);
            });
        }
    }

    /// The hash fields as strings, `updated_at` last (FEATURES.md §3).
    pub fn fields(&self) -> Vec<(&str, String)> {
        let mut out: Vec<(&str, String)> = self
            .group
            .features
            .iter()
            .map(String::as_str)
            .zip(self.values.iter().map(FeatureValue::to_redis_string))
            .collect();
        out.push(("updated_at", self.as_of.to_string()));
        out
    }
}

/// Where emissions and login aliases go: a feature store, an emission log, a counter.
pub trait EmissionSink {
    fn emit(&mut self, emission: &Emission<'_>);

    /// An event carried a login id: readers may look the shopper up by it.
    fn alias(&mut self, _user_id: &str, _shopper_id: &str) {}
}

/// Sends everything to two sinks.
pub struct Tee<'a, A: ?Sized, B: ?Sized>(pub &'a mut A, pub &'a mut B);

impl<A: EmissionSink + ?Sized, B: EmissionSink + ?Sized> EmissionSink for Tee<'_, A, B> {
    fn emit(&mut self, emission: &Emission<'_>) {
        self.0.emit(emission);
        self.1.emit(emission);
    }

    fn alias(&mut self, user_id: &str, shopper_id: &str) {
        self.0.alias(user_id, shopper_id);
        self.1.alias(user_id, shopper_id);
    }
}

/// Counts emissions without keeping them (benchmarks).
#[derive(Debug, Default)]
pub struct CountingSink {
    pub emissions: u64,
    pub values: u64,
    pub aliases: u64,
}

impl EmissionSink for CountingSink {
    fn emit(&mut self, emission: &Emission<'_>) {
        self.emissions += 1;
        self.values += emission.values.len() as u64;
    }

    fn alias(&mut self, _: &str, _: &str) {
        self.aliases += 1;
    }
}
