//! Per-plugin resource limits and settings: the global defaults, each plugin's overrides
//! (`[plugins.<name>]`), and what one loaded plugin ends up running with.

use live_shopper_abi::Descriptor;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// What one plugin may use. Exceeding a limit fails that plugin's batch only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Cap on the plugin's linear memory. Default 64 MiB.
    pub memory_bytes: usize,
    /// CPU deadline per call, enforced by epoch interruption. Default 200 ms.
    pub cpu_per_call: Duration,
    /// Largest output one call may return. Default 64 MiB.
    pub output_bytes: usize,
    /// Largest state one key may hold; `None`: the engine's `state_bytes_per_key`.
    pub state_bytes_per_key: Option<usize>,
    /// Largest state all the plugin's keys may hold together; `None`: no cap.
    pub state_bytes_total: Option<usize>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory_bytes: 64 << 20,
            cpu_per_call: Duration::from_millis(200),
            output_bytes: 64 << 20,
            state_bytes_per_key: None,
            state_bytes_total: None,
        }
    }
}

/// What `[plugins.<name>]` sets for one plugin: limits over the defaults, and settings.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PluginOverrides {
    /// Replaces [`Limits::memory_bytes`].
    pub memory_bytes: Option<usize>,
    /// Replaces [`Limits::cpu_per_call`].
    pub cpu_per_call: Option<Duration>,
    /// Replaces [`Limits::output_bytes`].
    pub output_bytes: Option<usize>,
    /// Replaces [`Limits::state_bytes_per_key`].
    pub state_bytes_per_key: Option<usize>,
    /// Replaces [`Limits::state_bytes_total`].
    pub state_bytes_total: Option<usize>,
    /// Values of the plugin's declared settings, by name.
    pub settings: BTreeMap<String, String>,
}

/// The limits every plugin runs under and what each one overrides, by plugin name.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PluginPolicy {
    /// The limits of a plugin without overrides.
    pub defaults: Limits,
    /// Overrides by plugin name (as its descriptor says it, or with `-` written `_`).
    pub plugins: BTreeMap<String, PluginOverrides>,
    /// The signals that have a topic (`[kafka.signal_topics]`), when signals go to Kafka: a
    /// plugin declaring another one is refused. `None`: signals go to the live hub only.
    pub signal_topics: Option<BTreeSet<String>>,
}

impl From<Limits> for PluginPolicy {
    fn from(defaults: Limits) -> Self {
        PluginPolicy { defaults, ..PluginPolicy::default() }
    }
}

impl PluginPolicy {
    /// The limits of plugin `name`: its overrides over the defaults.
    pub fn limits_for(&self, name: &str) -> Limits {
        let d = self.defaults;
        let Some(o) = self.overrides(name) else { return d };
        Limits {
            memory_bytes: o.memory_bytes.unwrap_or(d.memory_bytes),
            cpu_per_call: o.cpu_per_call.unwrap_or(d.cpu_per_call),
            output_bytes: o.output_bytes.unwrap_or(d.output_bytes),
            state_bytes_per_key: o.state_bytes_per_key.or(d.state_bytes_per_key),
            state_bytes_total: o.state_bytes_total.or(d.state_bytes_total),
        }
    }

    /// The first signal of `descriptor` without a topic, when signals go to Kafka.
    pub fn unmapped_signal<'d>(&self, descriptor: &'d Descriptor) -> Option<&'d str> {
        let mapped = self.signal_topics.as_ref()?;
        descriptor.signals.iter().map(|s| s.name.as_str()).find(|s| !mapped.contains(*s))
    }

    /// Plugin `name`'s overrides, if it has any.
    fn overrides(&self, name: &str) -> Option<&PluginOverrides> {
        self.plugins.get(name).or_else(|| self.plugins.get(&name.replace('-', "_")))
    }

    /// The settings `descriptor`'s plugin runs with, in declaration order: each declared one,
    /// the configured value or its default. A configured setting the plugin does not declare,
    /// or a value of the wrong kind, is the error, naming the config field.
    pub fn settings_for(&self, descriptor: &Descriptor) -> Result<Vec<(String, String)>, String> {
        let name = &descriptor.name;
        let empty = BTreeMap::new();
        let configured = self.overrides(name).map_or(&empty, |o| &o.settings);
        for key in configured.keys() {
            if !descriptor.settings.iter().any(|s| &s.name == key) {
                let declared: Vec<&str> = descriptor.settings.iter().map(|s| s.name.as_str()).collect();
                return Err(format!(
                    "plugins.{name}.settings.{key}: the plugin declares no such setting (it has: {})",
                    if declared.is_empty() { "none".to_string() } else { declared.join(", ") }
                ));
            }
        }
        descriptor
            .settings
            .iter()
            .map(|decl| {
                let value = configured.get(&decl.name).unwrap_or(&decl.default);
                decl.check(value).map_err(|e| format!("plugins.{name}.settings.{}: {e}", decl.name))?;
                Ok((decl.name.clone(), value.clone()))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use live_shopper_abi::{SettingDecl, SettingKind};

    fn flash_sale() -> Descriptor {
        Descriptor {
            name: "flash-sale".into(),
            settings: vec![SettingDecl {
                name: "min_views".into(),
                kind: SettingKind::Integer,
                default: "100".into(),
                min: Some(1.0),
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    fn policy(settings: &[(&str, &str)]) -> PluginPolicy {
        let overrides = PluginOverrides {
            memory_bytes: Some(8 << 20),
            settings: settings.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            ..Default::default()
        };
        PluginPolicy { plugins: [("flash-sale".to_string(), overrides)].into(), ..PluginPolicy::default() }
    }

    #[test]
    fn a_plugin_s_overrides_replace_only_what_they_set() {
        let p = policy(&[]);
        let limits = p.limits_for("flash-sale");
        assert_eq!((limits.memory_bytes, limits.cpu_per_call), (8 << 20, Limits::default().cpu_per_call));
        assert_eq!(p.limits_for("product"), Limits::default());
    }

    #[test]
    fn settings_take_defaults_and_refuse_unknown_or_malformed_values() {
        assert_eq!(policy(&[]).settings_for(&flash_sale()).unwrap(), [("min_views".into(), "100".into())]);
        assert_eq!(policy(&[("min_views", "7")]).settings_for(&flash_sale()).unwrap()[0].1, "7");
        assert_eq!(
            policy(&[("min_view", "7")]).settings_for(&flash_sale()).unwrap_err(),
            "plugins.flash-sale.settings.min_view: the plugin declares no such setting (it has: min_views)"
        );
        assert_eq!(
            policy(&[("min_views", "many")]).settings_for(&flash_sale()).unwrap_err(),
            "plugins.flash-sale.settings.min_views: \"many\" is not an integer"
        );
    }
}
