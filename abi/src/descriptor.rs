//! What a plugin says about itself: the native mirror of the WIT `descriptor` record.

use crate::contract::{SchemaCriterion, SettingDecl, SignalDecl};
use crate::event::{EventFields, EventKinds};

/// The entity a plugin's state and features are keyed by.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub enum KeyKind {
    /// `shopper_id` (the browser; FEATURES.md §1).
    #[default]
    Shopper,
    /// `session_id`; events without one are not sent to the plugin.
    Session,
    /// One key per distinct product id of the event's product entities (contract 0.2); events
    /// without products are not sent.
    Product,
    /// One key per distinct category of the event's products (contract 0.2).
    Category,
    /// One key, `global`, for the whole stream (contract 0.2).
    Global,
    /// The value of field `field` in the first entity (or custom event) matching the plugin's
    /// `entities[entity]` (contract 0.2). Strings are taken as they are, whole numbers written
    /// in decimal; an event whose entity lacks the field, or holds another type there, is
    /// skipped for this plugin and counted as `unkeyed`.
    EntityField {
        /// Index into the descriptor's `entities`.
        entity: u8,
        /// The field of the entity's data object, e.g. `store_id`.
        field: String,
    },
}

impl KeyKind {
    /// The key kind's name as `/plugins` shows it: `shopper`, `product`, `entity:loyalty.tier`.
    pub fn describe(&self, entities: &[SchemaCriterion]) -> String {
        match self {
            KeyKind::Shopper => "shopper".into(),
            KeyKind::Session => "session".into(),
            KeyKind::Product => "product".into(),
            KeyKind::Category => "category".into(),
            KeyKind::Global => "global".into(),
            KeyKind::EntityField { entity, field } => {
                let name = entities.get(*entity as usize).map_or("?", |c| c.name.as_str());
                format!("entity:{name}.{field}")
            }
        }
    }
}

/// The key a [`KeyKind::Global`] plugin's one state and hashes live under.
pub const GLOBAL_KEY: &str = "global";

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
#[derive(Debug, Clone, PartialEq, Default)]
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
    /// Self-describing events it subscribes to (contract 0.2): an event whose `unstruct_event`
    /// matches one is sent whatever its kind, with its data.
    pub custom_events: Vec<SchemaCriterion>,
    /// Entities whose data it receives (contract 0.2), from `contexts` and `derived_contexts`.
    pub entities: Vec<SchemaCriterion>,
    /// Named records it may emit besides feature hashes (contract 0.2). An emission's index
    /// names a group below `groups.len()` and the signal `index - groups.len()` from there on.
    pub signals: Vec<SignalDecl>,
    /// Settings it accepts, with their defaults (contract 0.2).
    pub settings: Vec<SettingDecl>,
}

/// The longest TTL a feature group may ask for: Redis refuses an expiry past its range, and a
/// refused write must not be met at run time.
pub const MAX_TTL_MS: u64 = 90 * 86_400_000;
/// Key prefixes the host writes itself (`alias:user:…`) or keeps for itself.
pub const RESERVED_KEY_PREFIXES: [&str; 2] = ["alias:", "live-shopper:"];
/// The suffix of the host's companion hash of each feature hash (`{key}:as-of`).
pub const RESERVED_KEY_SUFFIX: &str = ":as-of";

impl Descriptor {
    /// Whether the plugin reads self-describing data (custom events or entities), so its batches
    /// carry that section (docs/ABI.md, wire version 2).
    pub fn reads_self_describing(&self) -> bool {
        !self.custom_events.is_empty() || !self.entities.is_empty()
    }

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
        if self.groups.len() + self.signals.len() > 255 {
            return Err("plugin declares more than 255 feature groups and signals".into());
        }
        if self.event_kinds.0 == 0 && self.custom_events.is_empty() {
            return Err("plugin asks for no event kinds and no custom events".into());
        }
        if self.custom_events.len() > 255 || self.entities.len() > 255 {
            return Err("plugin asks for more than 255 custom events or entities".into());
        }
        if let KeyKind::EntityField { entity, field } = &self.key {
            if *entity as usize >= self.entities.len() {
                return Err(format!(
                    "key field {field:?} names entity {entity}, but the plugin declares {} entities",
                    self.entities.len()
                ));
            }
            if field.is_empty() {
                return Err("the key field's name is empty".into());
            }
        }
        for s in &self.signals {
            if !valid_name(&s.name) {
                return Err(format!(
                    "signal name {:?} must be non-empty lowercase ASCII, digits, '-' or '_'",
                    s.name
                ));
            }
            if s.fields.is_empty() {
                return Err(format!("signal {:?} declares no fields", s.name));
            }
            if self.signals.iter().filter(|o| o.name == s.name).count() > 1 {
                return Err(format!("signal {:?} is declared twice", s.name));
            }
        }
        for s in &self.settings {
            if !valid_name(&s.name) {
                return Err(format!(
                    "setting name {:?} must be non-empty lowercase ASCII, digits, '-' or '_'",
                    s.name
                ));
            }
            if self.settings.iter().filter(|o| o.name == s.name).count() > 1 {
                return Err(format!("setting {:?} is declared twice", s.name));
            }
            s.check(&s.default).map_err(|e| format!("setting {:?}: its default {e}", s.name))?;
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
            if g.ttl_ms == 0 || g.ttl_ms > MAX_TTL_MS {
                return Err(format!(
                    "group {:?}: ttl-ms {} is out of range; allowed 1..={MAX_TTL_MS} (90 days)",
                    g.name, g.ttl_ms
                ));
            }
            if let Some(prefix) = RESERVED_KEY_PREFIXES.iter().find(|p| g.redis_key.starts_with(*p)) {
                return Err(format!(
                    "group {:?}: redis-key {:?} starts with {prefix:?}, which the host keeps for its own keys",
                    g.name, g.redis_key
                ));
            }
            if g.redis_key.ends_with(RESERVED_KEY_SUFFIX) || g.redis_key.starts_with('{') {
                return Err(format!(
                    "group {:?}: redis-key {:?} has the shape of the host's companion hashes (`{{…}}…{RESERVED_KEY_SUFFIX}`)",
                    g.name, g.redis_key
                ));
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

#[cfg(test)]
mod tests {
    use super::*;

    fn with_group(redis_key: &str, ttl_ms: u64) -> Descriptor {
        Descriptor {
            name: "probe".into(),
            version: "1".into(),
            groups: vec![FeatureGroup {
                name: "g".into(),
                redis_key: redis_key.into(),
                window_ms: 0,
                emit_interval_ms: 0,
                ttl_ms,
                features: vec!["f".into()],
            }],
            event_kinds: EventKinds::ALL,
            ..Descriptor::default()
        }
    }

    #[test]
    fn a_ttl_redis_would_refuse_and_the_hosts_own_keys_are_refused_at_load() {
        assert_eq!(with_group("user:{key}:f", 86_400_000).validate(), Ok(()));
        assert_eq!(with_group("user:{key}:f", MAX_TTL_MS).validate(), Ok(()));
        let err = with_group("user:{key}:f", u64::MAX / 2).validate().unwrap_err();
        assert!(err.contains("ttl-ms") && err.contains("out of range"), "{err}");
        let err = with_group("alias:user:{key}", 1_000).validate().unwrap_err();
        assert!(err.contains("\"alias:\""), "{err}");
        assert!(with_group("live-shopper:{key}", 1_000).validate().is_err());
        let err = with_group("user:{key}:features:5min:as-of", 1_000).validate().unwrap_err();
        assert!(err.contains("companion"), "{err}");
        assert!(with_group("{{key}}:x", 1_000).validate().is_err());
    }
}
