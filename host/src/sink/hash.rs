//! The rules of a feature hash, shared by every store: its key, HSET semantics for a group's
//! fields, and `updated_at` keeping the latest as-of time (FEATURES.md §3).

use crate::engine::emission::Emission;
use live_shopper_abi::FeatureValue;

/// How long a login alias (`alias:user:{user_id}`) lives after its last write (FEATURES.md §3).
pub const ALIAS_TTL_MS: i64 = 30 * 24 * 3_600_000;

/// The hash's key, e.g. `user:abc:features:5min`.
pub fn key(e: &Emission<'_>) -> String {
    let mut key = String::new();
    e.group.write_key(e.key, &mut key);
    key
}

/// HSET semantics into `fields`: each feature is overwritten in place, new fields are appended;
/// no allocation for a field that already exists. `updated_at` keeps the latest as-of time: two
/// plugins share a hash (product and cart), and one may fire an earlier tick after the other
/// fired a later one within a step.
pub fn merge(e: &Emission<'_>, fields: &mut Vec<(String, String)>) {
    let newer = |(n, v): &(String, String)| n == "updated_at" && v.parse::<i64>().is_ok_and(|t| t >= e.as_of);
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
    for (name, value) in e.group.features.iter().zip(e.values) {
        set(name, &|out| value.write_redis_string(out));
    }
    if !keep_updated_at {
        set("updated_at", &|out| {
            use std::fmt::Write as _;
            // Writing to a String cannot fail.
            let _ = write!(out, "{}", e.as_of);
        });
    }
}

/// The emission's fields as strings, `updated_at` last.
pub fn fields<'a>(e: &Emission<'a>) -> Vec<(&'a str, String)> {
    let mut out: Vec<(&str, String)> = e
        .group
        .features
        .iter()
        .map(String::as_str)
        .zip(e.values.iter().map(FeatureValue::to_redis_string))
        .collect();
    out.push(("updated_at", e.as_of.to_string()));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use live_shopper_abi::FeatureGroup;

    #[test]
    fn updated_at_keeps_the_latest_as_of_of_a_shared_hash() {
        let group = FeatureGroup {
            name: "5min".into(),
            redis_key: "user:{key}:features:5min".into(),
            window_ms: 1,
            emit_interval_ms: 1,
            ttl_ms: 1,
            features: vec!["a".into()],
        };
        let emission =
            |as_of, v| Emission { plugin: "p", group: &group, key: "s", as_of, closed: false, values: v };
        let mut hash = Vec::new();
        merge(&emission(9, &[FeatureValue::Int(1)]), &mut hash);
        merge(&emission(5, &[FeatureValue::Int(2)]), &mut hash);
        assert_eq!(hash, [("a".to_string(), "2".to_string()), ("updated_at".to_string(), "9".to_string())]);
        assert_eq!(key(&emission(1, &[])), "user:s:features:5min");
    }
}
