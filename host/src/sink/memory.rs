//! The in-memory feature store of the embedded default: Redis-like hashes with TTLs and the
//! `alias:user:{user_id}` strings, shared between the pipeline (a [`FeatureSink`]) and the HTTP
//! API (a [`FeatureReader`]). Writes land as they are emitted, so a submit is acknowledged at once.

use super::contract::{Ack, FeatureReader, FeatureSink, SinkCounters, SinkError};
use super::hash::{self, ALIAS_TTL_MS};
use crate::clock::{wall_ms, wall_us};
use crate::engine::emission::{Emission, EmissionSink};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

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
        e.group.write_key(e.key, &mut self.key);
        if !self.hashes.contains_key(self.key.as_str()) {
            self.hashes.insert(self.key.clone(), Hash { fields: Vec::new(), expires_at_ms: 0 });
        }
        let entry = self.hashes.get_mut(self.key.as_str()).expect("just ensured");
        hash::merge(e, &mut entry.fields);
        entry.expires_at_ms = now_ms + e.group.ttl_ms as i64;
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

    /// Hashes held, live or not yet evicted.
    pub fn len(&self) -> usize {
        self.hashes.len()
    }

    /// True when no hash is held.
    pub fn is_empty(&self) -> bool {
        self.hashes.is_empty()
    }
}

/// A [`FeatureStore`] shared with readers; locks once per write.
#[derive(Debug, Clone, Default)]
pub struct SharedStore {
    store: Arc<Mutex<FeatureStore>>,
    /// Acknowledgements of submits not yet taken (a memory write is durable when it is made).
    acks: Vec<Ack>,
}

impl SharedStore {
    /// The store, locked (a poisoned lock is taken over: the store holds no invariant a panic
    /// could break halfway).
    pub fn lock(&self) -> MutexGuard<'_, FeatureStore> {
        self.store.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
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

impl FeatureSink for SharedStore {
    fn submit(&mut self, ticket: u64, _give_up: &dyn Fn() -> bool) -> Result<(), SinkError> {
        self.acks.push(Ack { ticket, at_us: wall_us() });
        Ok(())
    }

    fn take_acks(&mut self, acks: &mut Vec<Ack>) -> Result<(), SinkError> {
        acks.append(&mut self.acks);
        Ok(())
    }

    fn wait_all(&mut self, _give_up: &dyn Fn() -> bool) -> Result<(), SinkError> {
        Ok(())
    }

    fn pending_fields(&self) -> usize {
        0
    }

    fn maintain(&mut self, now_ms: i64) {
        self.lock().evict_expired(now_ms);
    }

    fn counters(&self) -> SinkCounters {
        SinkCounters { hashes: Some(self.lock().len()), ..SinkCounters::default() }
    }
}

impl FeatureReader for SharedStore {
    fn hash(&self, key: &str) -> Result<Option<Vec<(String, String)>>, SinkError> {
        Ok(self.lock().hash(key, wall_ms()).map(<[_]>::to_vec))
    }

    fn alias(&self, user_id: &str) -> Result<Option<String>, SinkError> {
        Ok(self.lock().alias(user_id, wall_ms()).map(str::to_string))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use live_shopper_abi::{FeatureGroup, FeatureValue};

    fn group() -> FeatureGroup {
        FeatureGroup {
            name: "5min".into(),
            redis_key: "user:{key}:features:5min".into(),
            window_ms: 300_000,
            emit_interval_ms: 30_000,
            ttl_ms: 600_000,
            features: vec!["a".into()],
        }
    }

    #[test]
    fn writes_merge_fields_and_expire_by_ttl() {
        let group = group();
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

    #[test]
    fn maintenance_evicts_what_expired_and_submits_are_acknowledged_in_order() {
        let group = group();
        let mut store = SharedStore::default();
        let values = [FeatureValue::Int(1)];
        store.emit(&Emission {
            plugin: "p",
            group: &group,
            key: "s",
            as_of: 5,
            closed: false,
            values: &values,
        });
        assert_eq!(store.counters().hashes, Some(1));
        store.maintain(wall_ms() + group.ttl_ms as i64 + 1);
        assert_eq!(store.counters().hashes, Some(0), "evicted after its TTL");
        for ticket in [3, 4] {
            store.submit(ticket, &|| false).unwrap();
        }
        let mut acks = Vec::new();
        store.take_acks(&mut acks).unwrap();
        assert_eq!(acks.iter().map(|a| a.ticket).collect::<Vec<_>>(), [3, 4]);
    }
}
