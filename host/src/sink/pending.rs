//! Writes waiting for the next flush: emissions coalesced per Redis hash (the last value of each
//! field wins) and login aliases, so a burst of emissions for one key costs one write.

use super::hash;
use crate::engine::emission::{Emission, EmissionSink};
use std::collections::HashMap;

/// One hash's pending fields and its TTL.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct PendingHash {
    /// Field name and value, in first-write order; the last value of a field wins.
    pub fields: Vec<(String, String)>,
    /// The longest TTL of the groups written to this hash.
    pub ttl_ms: u64,
    /// Each plugin writing this hash and the latest as-of of its fields here (two plugins share
    /// some hashes); a store fences each plugin's fields by it.
    pub plugins: Vec<(String, i64)>,
    /// The index in `plugins` of the plugin that wrote each field of `fields`
    /// ([`NO_PLUGIN`] for `updated_at`, which belongs to the hash).
    pub field_plugin: Vec<u16>,
}

/// The `field_plugin` of a field no plugin owns (`updated_at`).
pub const NO_PLUGIN: u16 = u16::MAX;

impl PendingHash {
    /// (plugin, as-of, its fields) of each plugin writing this hash, `updated_at` left out.
    pub fn parts(
        &self,
    ) -> impl Iterator<Item = (&str, i64, impl Iterator<Item = &(String, String)> + '_)> + '_ {
        self.plugins.iter().enumerate().map(move |(i, (plugin, as_of))| {
            let fields = self
                .fields
                .iter()
                .zip(&self.field_plugin)
                .filter(move |(_, p)| **p as usize == i)
                .map(|(f, _)| f);
            (plugin.as_str(), *as_of, fields)
        })
    }
}

/// Everything to write at the next flush.
#[derive(Debug, Default)]
pub struct PendingWrites {
    /// Redis key -> its pending fields.
    pub hashes: HashMap<String, PendingHash>,
    /// login id -> shopper id
    pub aliases: HashMap<String, String>,
    key: String,
    fields: usize,
}

impl PendingWrites {
    /// True when nothing waits to be written.
    pub fn is_empty(&self) -> bool {
        self.hashes.is_empty() && self.aliases.is_empty()
    }

    /// Fields waiting, over all hashes.
    pub fn fields(&self) -> usize {
        self.fields
    }

    /// Forgets everything pending, keeping the allocations.
    pub fn clear(&mut self) {
        self.hashes.clear();
        self.aliases.clear();
        self.fields = 0;
    }
}

impl EmissionSink for PendingWrites {
    fn emit(&mut self, e: &Emission<'_>) {
        e.group.write_key(e.key, &mut self.key);
        let pending = match self.hashes.get_mut(self.key.as_str()) {
            Some(pending) => pending,
            None => self.hashes.entry(self.key.clone()).or_default(),
        };
        pending.ttl_ms = pending.ttl_ms.max(e.group.ttl_ms);
        let before = pending.fields.len();
        hash::merge(e, &mut pending.fields);
        self.fields += pending.fields.len() - before;
        let plugin = match pending.plugins.iter().position(|(p, _)| p == e.plugin) {
            Some(at) => {
                pending.plugins[at].1 = pending.plugins[at].1.max(e.as_of);
                at
            }
            None => {
                pending.plugins.push((e.plugin.to_string(), e.as_of));
                pending.plugins.len() - 1
            }
        };
        for (name, _) in &pending.fields[pending.field_plugin.len()..] {
            pending.field_plugin.push(if name == "updated_at" { NO_PLUGIN } else { plugin as u16 });
        }
    }

    fn alias(&mut self, user_id: &str, shopper_id: &str) {
        match self.aliases.get_mut(user_id) {
            Some(s) if s == shopper_id => {}
            Some(s) => *s = shopper_id.to_string(),
            None => {
                self.aliases.insert(user_id.to_string(), shopper_id.to_string());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use live_shopper_abi::{FeatureGroup, FeatureValue};

    #[test]
    fn emissions_coalesce_per_hash_and_the_last_value_wins() {
        let group = FeatureGroup {
            name: "5min".into(),
            redis_key: "user:{key}:features:5min".into(),
            window_ms: 1,
            emit_interval_ms: 1,
            ttl_ms: 600_000,
            features: vec!["a".into()],
        };
        let mut p = PendingWrites::default();
        for (as_of, v) in [(1, 10), (2, 20)] {
            let values = [FeatureValue::Int(v)];
            p.emit(&Emission { plugin: "x", group: &group, key: "s", as_of, closed: false, values: &values });
        }
        p.alias("u", "s");
        let h = &p.hashes["user:s:features:5min"];
        assert_eq!(
            h.fields,
            [("a".to_string(), "20".to_string()), ("updated_at".to_string(), "2".to_string())]
        );
        assert_eq!(h.ttl_ms, 600_000);
        assert_eq!(h.plugins, [("x".to_string(), 2)]);
        let parts: Vec<_> = h.parts().map(|(p, a, f)| (p, a, f.cloned().collect::<Vec<_>>())).collect();
        assert_eq!(
            parts,
            [("x", 2, vec![("a".to_string(), "20".to_string())])],
            "updated_at belongs to no plugin"
        );
        assert_eq!(p.aliases["u"], "s");
        assert_eq!(p.fields(), 2);
    }
}
