//! `[plugins.<name>]`: one plugin's limits over the `[plugins]` defaults and its settings, from
//! the file and from `LIVE_SHOPPER_PLUGIN_<NAME>__<FIELD>` variables, validated into the
//! plugin module's [`PluginOverrides`].

use super::{invalid, ConfigError};
use crate::plugin::PluginOverrides;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

/// The prefix of per-plugin variables: `LIVE_SHOPPER_PLUGIN_FLASH_SALE__MEMORY_MIB=32`,
/// `LIVE_SHOPPER_PLUGIN_FLASH_SALE__SETTING_MIN_VIEWS=50` (plugin names match with `-` and `_`
/// alike).
pub const ENV_PLUGIN_PREFIX: &str = "LIVE_SHOPPER_PLUGIN_";

/// One plugin's section. Every field may be left out (the `[plugins]` value applies).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct PluginSection {
    /// Linear memory cap, MiB.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory_mib: Option<u64>,
    /// CPU deadline per call, ms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_ms_per_call: Option<u64>,
    /// Largest output of one call, MiB.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_mib: Option<u64>,
    /// Largest state of one key, KiB.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state_kib_per_key: Option<u64>,
    /// Largest state of all the plugin's keys together, MiB.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state_mib_total: Option<u64>,
    /// Values of the plugin's declared settings (text, numbers or booleans).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub settings: BTreeMap<String, SettingValue>,
}

/// A setting's value as TOML writes it; the plugin's declaration decides whether it fits.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum SettingValue {
    /// `min_views = "100"`
    Text(String),
    /// `min_views = 100`
    Integer(i64),
    /// `ratio = 0.5`
    Float(f64),
    /// `enabled = true`
    Boolean(bool),
}

impl std::fmt::Display for SettingValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SettingValue::Text(v) => f.write_str(v),
            SettingValue::Integer(v) => write!(f, "{v}"),
            SettingValue::Float(v) => write!(f, "{v}"),
            SettingValue::Boolean(v) => write!(f, "{v}"),
        }
    }
}

/// The name plugins are matched by: `flash-sale` and `flash_sale` (or `FLASH_SALE` in a
/// variable) are the same plugin.
pub fn plugin_key(name: &str) -> String {
    name.to_ascii_lowercase().replace('-', "_")
}

/// Applies the `LIVE_SHOPPER_PLUGIN_<NAME>__<FIELD>` variables in `vars` over `sections`.
pub fn apply_env(
    sections: &mut BTreeMap<String, PluginSection>,
    vars: &[(String, String)],
) -> Result<(), ConfigError> {
    for (var, value) in vars {
        let Some(rest) = var.strip_prefix(ENV_PLUGIN_PREFIX) else { continue };
        let Some((plugin, field)) = rest.split_once("__") else {
            return Err(invalid(
                var,
                "write LIVE_SHOPPER_PLUGIN_<NAME>__<FIELD>, e.g. ..._FLASH_SALE__MEMORY_MIB",
            ));
        };
        let key = plugin_key(plugin);
        let existing = sections.keys().find(|k| plugin_key(k) == key).cloned();
        let section = sections.entry(existing.unwrap_or(key)).or_default();
        let number = || {
            value.trim().parse::<u64>().map_err(|_| invalid(var, format!("{value:?} is not a whole number")))
        };
        match field {
            "MEMORY_MIB" => section.memory_mib = Some(number()?),
            "CPU_MS_PER_CALL" => section.cpu_ms_per_call = Some(number()?),
            "OUTPUT_MIB" => section.output_mib = Some(number()?),
            "STATE_KIB_PER_KEY" => section.state_kib_per_key = Some(number()?),
            "STATE_MIB_TOTAL" => section.state_mib_total = Some(number()?),
            f => match f.strip_prefix("SETTING_") {
                Some(setting) => {
                    section.settings.insert(setting.to_ascii_lowercase(), SettingValue::Text(value.clone()));
                }
                None => {
                    return Err(invalid(
                        var,
                        "the field is one of MEMORY_MIB, CPU_MS_PER_CALL, OUTPUT_MIB, STATE_KIB_PER_KEY, \
                         STATE_MIB_TOTAL or SETTING_<NAME>",
                    ))
                }
            },
        }
    }
    Ok(())
}

/// Validates each section into overrides, keyed by [`plugin_key`].
pub fn validate(
    sections: &BTreeMap<String, PluginSection>,
) -> Result<BTreeMap<String, PluginOverrides>, ConfigError> {
    sections
        .iter()
        .map(|(name, s)| {
            let field = |f: &str| format!("plugins.{name}.{f}");
            let ranged = |f: &str, v: Option<u64>, min: u64, max: u64| {
                v.map(|v| super::in_range(&field(f), v, min, max)).transpose()
            };
            let overrides = PluginOverrides {
                memory_bytes: ranged("memory_mib", s.memory_mib, 1, 4_096)?.map(|v| (v << 20) as usize),
                cpu_per_call: ranged("cpu_ms_per_call", s.cpu_ms_per_call, 1, 60_000)?
                    .map(Duration::from_millis),
                output_bytes: ranged("output_mib", s.output_mib, 1, 1_024)?.map(|v| (v << 20) as usize),
                state_bytes_per_key: ranged("state_kib_per_key", s.state_kib_per_key, 1, 1 << 20)?
                    .map(|v| (v << 10) as usize),
                state_bytes_total: ranged("state_mib_total", s.state_mib_total, 1, 1 << 20)?
                    .map(|v| (v << 20) as usize),
                settings: s.settings.iter().map(|(k, v)| (k.clone(), v.to_string())).collect(),
            };
            Ok((plugin_key(name), overrides))
        })
        .collect()
}
