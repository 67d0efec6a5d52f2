//! The in-memory feature store of the embedded default: Redis-like hashes with TTLs and the
//! `alias:user:{user_id}` strings, shared between the engine and the HTTP API.

use crate::engine::emission::{Emission, EmissionSink};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

/// How long a login alias lives after its last write (FEATURES.md §3).
pub const ALIAS_TTL_MS: i64 = 30 * 24 * 3_600_000;

fn wall_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

#[derive(Debug, Clone)]
struct Hash {
    /// Fields in first-write order, like a Redis hash listing.
    fields: Vec<(String, String)>,
    expires_at_ms: i64,
}

/// Hashes and aliases, expiring by wall clock like Redis TTLs.
#[derive(Debug, Default)]
pub struct FeatureStore {
    hashes: HashMap<String, Hash>,
    aliases: HashMap<String, (String, i64)>,
    /// Scratch for building Redis keys without allocating.
    key: String,
}

impl FeatureStore {
    /// HSET of the emission's fields (and `updated_at`), then EXPIRE with the group's TTL.
    pub fn write(&mut self, e: &Emission<'_>, now_ms: i64) {
        e.write_redis_key(&mut self.key);
        if !self.hashes.contains_key(self.key.as_str()) {
            self.hashes.insert(self.key.clone(), Hash { fields: Vec::new(), expires_at_ms: 0 });
        }
        let hash = self.hashes.get_mut(self.key.as_str()).expect("just ensured");
        e.merge_into(&mut hash.fields);
        hash.expires_at_ms = now_ms + e.group.ttl_ms as i64;
    }

    /// The live fields of hash `key`.
    pub fn hash(&self, key: &str, now_ms: i64) -> Option<&[(String, String)]> {
        self.hashes.get(key).filter(|h| h.expires_at_ms > now_ms).map(|h| h.fields.as_slice())
    }

    /// The shopper id a login id points to.
    pub fn alias(&self, user_id: &str, now_ms: i64) -> Option<&str> {
        self.aliases.get(user_id).filter(|(_, exp)| *exp > now_ms).map(|(s, _)| s.as_str())
    }

    /// SET `alias:user:{user_id}` to the shopper id with its TTL (in place when it exists).
    pub fn set_alias(&mut self, user_id: &str, shopper_id: &str, now_ms: i64) {
        let expires = now_ms + ALIAS_TTL_MS;
        match self.aliases.get_mut(user_id) {
            Some((shopper, exp)) => {
                if shopper != shopper_id {
                    shopper.clear();
                    shopper.push_str(shopper_id);
                }
                *exp = expires;
            }
            None => {
                self.aliases.insert(user_id.to_string(), (shopper_id.to_string(), expires));
            }
        }
    }

    /// Drops expired hashes and aliases.
    pub fn evict_expired(&mut self, now_ms: i64) {
        self.hashes.retain(|_, h| h.expires_at_ms > now_ms);
        self.aliases.retain(|_, (_, exp)| *exp > now_ms);
    }

    pub fn len(&self) -> usize {
        self.hashes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.hashes.is_empty()
    }
}

/// A [`FeatureStore`] shared with readers; locks once per write.
#[derive(Debug, Clone, Default)]
pub struct SharedStore(Arc<Mutex<FeatureStore>>);

impl SharedStore {
    pub fn lock(&self) -> MutexGuard<'_, FeatureStore> {
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn now_ms() -> i64 {
        wall_ms()
    }
}

impl EmissionSink for SharedStore {
    fn emit(&mut self, e: &Emission<'_>) {
        self.lock().write(e, wall_ms());
    }

    fn alias(&mut self, user_id: &str, shopper_id: &str) {
        self.lock().set_alias(user_id, shopper_id, wall_ms());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use live_shopper_abi::{FeatureGroup, FeatureValue};

    #[test]
    fn writes_merge_fields_and_expire_by_ttl() {
        let group = FeatureGroup {
            name: "5min".into(),
            redis_key: "user:{key}:features:5min".into(),
            window_ms: 300_000,
            emit_interval_ms: 30_000,
            ttl_ms: 600_000,
            features: vec!["a".into()],
        };
        let mut store = FeatureStore::default();
        let values = [FeatureValue::Int(1)];
        let e = Emission { plugin: "p", group: &group, key: "s", as_of: 5, closed: false, values: &values };
        store.write(&e, 1_000);
        let fields = store.hash("user:s:features:5min", 1_000).unwrap();
        assert_eq!(fields, &[("a".into(), "1".into()), ("updated_at".into(), "5".into())]);
        assert!(store.hash("user:s:features:5min", 601_000).is_none());
        store.set_alias("u", "s", 0);
        assert_eq!(store.alias("u", 1), Some("s"));
        store.set_alias("u", "other-browser", 5);
        assert_eq!(store.alias("u", ALIAS_TTL_MS + 1), Some("other-browser"), "moved and renewed");
    }
}
