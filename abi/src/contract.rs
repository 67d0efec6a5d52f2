//! What contract 0.2 adds to a plugin's self-description: the Iglu schemas it asks for, the
//! signals it emits and the settings it accepts, each with its own validation.

/// An Iglu schema a plugin asks for, by vendor, name and major version: written
/// `iglu:com.acme/loyalty/jsonschema/1-*-*` (a full version such as `1-0-2` is accepted and
/// matches by its major version too).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SchemaCriterion {
    /// Iglu vendor, e.g. `com.acme`.
    pub vendor: String,
    /// Iglu name, e.g. `loyalty`.
    pub name: String,
    /// Major version (the first number of `1-0-0`).
    pub major: u32,
}

impl SchemaCriterion {
    /// Reads `iglu:<vendor>/<name>/jsonschema/<major>-<minor|*>-<patch|*>`; the error says what
    /// part is wrong.
    pub fn parse(uri: &str) -> Result<Self, String> {
        let bad =
            |why: &str| format!("schema {uri:?} is not `iglu:<vendor>/<name>/jsonschema/<major>-*-*`: {why}");
        let rest = uri.strip_prefix("iglu:").ok_or_else(|| bad("it must start with `iglu:`"))?;
        let parts: Vec<&str> = rest.split('/').collect();
        let [vendor, name, format, version] = parts[..] else {
            return Err(bad("it needs four parts separated by `/`"));
        };
        let identifier = |s: &str| {
            !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        };
        if !identifier(vendor) || !identifier(name) {
            return Err(bad("vendor and name are letters, digits, `.`, `_` or `-`"));
        }
        if format != "jsonschema" {
            return Err(bad("the format must be `jsonschema`"));
        }
        let numbers: Vec<&str> = version.split('-').collect();
        let [major, minor, patch] = numbers[..] else {
            return Err(bad("the version needs three parts, e.g. `1-*-*`"));
        };
        let major: u32 = major.parse().map_err(|_| bad("the major version must be a number"))?;
        let part_ok = |s: &str| s == "*" || (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()));
        if !part_ok(minor) || !part_ok(patch) {
            return Err(bad("minor and patch are numbers or `*`"));
        }
        Ok(SchemaCriterion { vendor: vendor.into(), name: name.into(), major })
    }

    /// Whether the entity or event with Iglu URI `uri` (`iglu:vendor/name/jsonschema/1-0-2`) is
    /// one this criterion asks for.
    pub fn matches(&self, uri: &str) -> bool {
        let Some(rest) = uri.strip_prefix("iglu:") else { return false };
        let mut parts = rest.split('/');
        let (Some(vendor), Some(name), Some(_format), Some(version)) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return false;
        };
        vendor == self.vendor
            && name == self.name
            && version.split('-').next().and_then(|m| m.parse::<u32>().ok()) == Some(self.major)
    }

    /// Whether an enriched-JSON key stem (`com_acme_loyalty`, the analytics SDK's snake case of
    /// `vendor_name`) with major version `major` is this schema.
    pub fn matches_sdk_stem(&self, stem: &str, major: u32) -> bool {
        major == self.major && {
            let vendor = self.vendor.replace(['.', '-'], "_");
            let name = self.name.replace('-', "_");
            stem.len() == vendor.len() + 1 + name.len()
                && stem.starts_with(&vendor)
                && stem.as_bytes()[vendor.len()] == b'_'
                && stem.ends_with(&name)
        }
    }

    /// The criterion as it is written: `iglu:vendor/name/jsonschema/<major>-*-*`.
    pub fn to_uri(&self) -> String {
        format!("iglu:{}/{}/jsonschema/{}-*-*", self.vendor, self.name, self.major)
    }
}

/// A named record a plugin may emit besides feature hashes (an alert, say).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignalDecl {
    /// The signal's name, e.g. `flash_sale_alert`: lowercase ASCII, digits, `_` or `-`.
    pub name: String,
    /// Its field names, in the order the plugin emits their values.
    pub fields: Vec<String>,
}

/// The type a setting's value must parse as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SettingKind {
    /// Any text.
    #[default]
    Text,
    /// A whole number (`i64`).
    Integer,
    /// A number (`f64`).
    Float,
    /// `true` or `false`.
    Boolean,
}

impl SettingKind {
    /// The kind's name as the docs and errors write it.
    pub fn as_str(self) -> &'static str {
        match self {
            SettingKind::Text => "text",
            SettingKind::Integer => "integer",
            SettingKind::Float => "float",
            SettingKind::Boolean => "boolean",
        }
    }

    /// Why `value` is not of this kind, if it is not.
    pub fn check(self, value: &str) -> Result<(), String> {
        let ok = match self {
            SettingKind::Text => true,
            SettingKind::Integer => value.trim().parse::<i64>().is_ok(),
            SettingKind::Float => value.trim().parse::<f64>().is_ok_and(f64::is_finite),
            SettingKind::Boolean => matches!(value.trim(), "true" | "false"),
        };
        if ok {
            Ok(())
        } else {
            Err(format!(
                "{value:?} is not {} {}",
                if self == SettingKind::Integer { "an" } else { "a" },
                self.as_str()
            ))
        }
    }
}

/// One setting a plugin accepts, with the value it takes when the operator sets none.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SettingDecl {
    /// The setting's name, e.g. `min_views`.
    pub name: String,
    /// What its value must parse as.
    pub kind: SettingKind,
    /// The value when the operator sets none (must itself be valid).
    pub default: String,
    /// Smallest value allowed (numbers only).
    pub min: Option<f64>,
    /// Largest value allowed (numbers only).
    pub max: Option<f64>,
    /// One line saying what it does.
    pub doc: String,
}

impl SettingDecl {
    /// Why `value` is refused for this setting, if it is.
    pub fn check(&self, value: &str) -> Result<(), String> {
        self.kind.check(value)?;
        if matches!(self.kind, SettingKind::Integer | SettingKind::Float) {
            let v: f64 = value.trim().parse().map_err(|_| format!("{value:?} is not a number"))?;
            if let Some(min) = self.min.filter(|min| v < *min) {
                return Err(format!("{value} is below the minimum {min}"));
            }
            if let Some(max) = self.max.filter(|max| v > *max) {
                return Err(format!("{value} is above the maximum {max}"));
            }
        }
        Ok(())
    }
}

/// The settings a plugin runs with, as the host hands them in each batch: every declared
/// setting, the operator's value or the default, already checked against its kind.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Settings<'a> {
    pairs: Vec<(&'a str, &'a str)>,
}

impl<'a> Settings<'a> {
    /// Settings from (name, value) pairs.
    pub fn new(pairs: Vec<(&'a str, &'a str)>) -> Self {
        Settings { pairs }
    }

    /// The value of setting `name`, if the plugin has it.
    pub fn get(&self, name: &str) -> Option<&'a str> {
        self.pairs.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
    }

    /// Setting `name` as a whole number (`None` when absent or not one).
    pub fn integer(&self, name: &str) -> Option<i64> {
        self.get(name)?.trim().parse().ok()
    }

    /// Setting `name` as a number (`None` when absent or not one).
    pub fn float(&self, name: &str) -> Option<f64> {
        self.get(name)?.trim().parse().ok()
    }

    /// Setting `name` as a boolean (`None` when absent or not one).
    pub fn boolean(&self, name: &str) -> Option<bool> {
        self.get(name)?.trim().parse().ok()
    }

    /// Every (name, value) pair, in declaration order.
    pub fn pairs(&self) -> &[(&'a str, &'a str)] {
        &self.pairs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_criteria_parse_and_match_by_major_version() {
        let c = SchemaCriterion::parse("iglu:com.acme/loyalty/jsonschema/1-*-*").unwrap();
        assert_eq!((c.vendor.as_str(), c.name.as_str(), c.major), ("com.acme", "loyalty", 1));
        assert!(c.matches("iglu:com.acme/loyalty/jsonschema/1-0-0"));
        assert!(c.matches("iglu:com.acme/loyalty/jsonschema/1-2-3"));
        assert!(!c.matches("iglu:com.acme/loyalty/jsonschema/2-0-0"));
        assert!(!c.matches("iglu:com.acme/loyalty_v2/jsonschema/1-0-0"));
        assert!(!c.matches("com.acme/loyalty/jsonschema/1-0-0"));
        assert!(c.matches_sdk_stem("com_acme_loyalty", 1));
        assert!(!c.matches_sdk_stem("com_acme_loyalty", 2));
        assert!(!c.matches_sdk_stem("com_acme_loyaltyx", 1));
        assert_eq!(c.to_uri(), "iglu:com.acme/loyalty/jsonschema/1-*-*");
        assert_eq!(SchemaCriterion::parse("iglu:com.acme/wishlist_add/jsonschema/2-0-1").unwrap().major, 2);
        for bad in [
            "com.acme/loyalty/jsonschema/1-*-*",
            "iglu:com.acme/loyalty/1-*-*",
            "iglu:com.acme/loyalty/avro/1-*-*",
            "iglu:com.acme/loyalty/jsonschema/x-*-*",
            "iglu:com.acme/loyalty/jsonschema/1-*",
            "iglu:com acme/loyalty/jsonschema/1-*-*",
        ] {
            assert!(SchemaCriterion::parse(bad).unwrap_err().contains(bad), "{bad}");
        }
    }

    #[test]
    fn settings_are_checked_against_their_kind_and_range() {
        let min_views = SettingDecl {
            name: "min_views".into(),
            kind: SettingKind::Integer,
            default: "100".into(),
            min: Some(1.0),
            ..Default::default()
        };
        assert!(min_views.check("250").is_ok());
        assert_eq!(min_views.check("lots").unwrap_err(), "\"lots\" is not an integer");
        assert_eq!(min_views.check("0").unwrap_err(), "0 is below the minimum 1");
        assert_eq!(SettingKind::Boolean.check("yes").unwrap_err(), "\"yes\" is not a boolean");
        let s = Settings::new(vec![("min_views", "250"), ("ratio", "0.5"), ("on", "true")]);
        assert_eq!(
            (s.integer("min_views"), s.float("ratio"), s.boolean("on")),
            (Some(250), Some(0.5), Some(true))
        );
        assert_eq!(s.get("other"), None);
    }
}
