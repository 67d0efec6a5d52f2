//! What a plugin says about itself: the native mirror of the WIT `descriptor` record.

use crate::event::{EventFields, EventKinds};

/// The entity a plugin's state and features are keyed by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyKind {
    /// `shopper_id` (the browser; FEATURES.md §1).
    Shopper,
    /// `session_id`; events without one are not sent to the plugin.
    Session,
}

/// One Redis hash of features written by a plugin.
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureGroup {
    /// Short name, e.g. `5min`.
    pub name: String,
    /// The Redis key with `{key}` where the entity id goes, e.g. `user:{key}:features:5min`.
    pub redis_key: String,
    /// Rolling window length; 0 when the group is not windowed.
    pub window_ms: u64,
    /// Tick period for decay; 0 when the group emits on events only.
    pub emit_interval_ms: u64,
    /// Time to live of the hash after its last write.
    pub ttl_ms: u64,
    /// Feature field names, in the order the plugin emits values.
    pub features: Vec<String>,
}

impl FeatureGroup {
    /// Writes the group's key for entity `key` into `out` (cleared first): the template with
    /// `{key}` replaced, reusing `out`'s capacity.
    pub fn write_key(&self, key: &str, out: &mut String) {
        out.clear();
        let (before, after) = self.redis_key.split_once("{key}").unwrap_or((&self.redis_key, ""));
        out.push_str(before);
        out.push_str(key);
        out.push_str(after);
    }
}

/// A plugin's self-description.
#[derive(Debug, Clone, PartialEq)]
pub struct Descriptor {
    /// The plugin's name: non-empty, lowercase ASCII letters, digits, `-` or `_`.
    pub name: String,
    /// The plugin's own version string.
    pub version: String,
    /// The entity the plugin's state and features are keyed by.
    pub key: KeyKind,
    /// The feature groups it writes (1 to 255); an emission names one by its index here.
    pub groups: Vec<FeatureGroup>,
    /// The event kinds the host sends it (at least one).
    pub event_kinds: EventKinds,
    /// The optional event fields the host encodes in each event.
    pub event_fields: EventFields,
    /// Version of the plugin's state encoding; a reload with another value needs a migration.
    pub state_schema: u32,
}

impl Descriptor {
    /// The longest window of any group (0 when none is windowed).
    pub fn max_window_ms(&self) -> u64 {
        self.groups.iter().map(|g| g.window_ms).max().unwrap_or(0)
    }

    /// Why this descriptor cannot be run, if anything.
    pub fn validate(&self) -> Result<(), String> {
        let valid_name = |s: &str| {
            !s.is_empty()
                && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
        };
        if !valid_name(&self.name) {
            return Err(format!(
                "plugin name {:?} must be non-empty lowercase ASCII, digits, '-' or '_'",
                self.name
            ));
        }
        if self.groups.is_empty() {
            return Err("plugin declares no feature groups".into());
        }
        if self.groups.len() > 255 {
            return Err("plugin declares more than 255 feature groups".into());
        }
        if self.event_kinds.0 == 0 {
            return Err("plugin asks for no event kinds".into());
        }
        for g in &self.groups {
            if g.redis_key.matches("{key}").count() != 1 {
                return Err(format!(
                    "group {:?}: redis-key {:?} must contain {{key}} exactly once",
                    g.name, g.redis_key
                ));
            }
            if g.features.is_empty() {
                return Err(format!("group {:?} declares no features", g.name));
            }
            if g.ttl_ms == 0 {
                return Err(format!("group {:?}: ttl-ms must be positive", g.name));
            }
            if let Some(dup) = g.features.iter().enumerate().find(|(i, f)| g.features[..*i].contains(f)) {
                return Err(format!("group {:?} declares feature {:?} twice", g.name, dup.1));
            }
            if g.features.iter().any(|f| f == "updated_at") {
                return Err(format!("group {:?}: `updated_at` is written by the host", g.name));
            }
        }
        Ok(())
    }
}
