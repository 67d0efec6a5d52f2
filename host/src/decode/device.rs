//! Device class (Desktop / Mobile / Tablet / Other): from a UA-parser entity the pipeline added, else a
//! small heuristic on the user agent string.

use live_shopper_abi::DeviceClass;
use serde::Deserialize;

/// The class from the data of a `nl.basjes/yauaa_context` entity, if it settles it.
pub(super) fn from_yauaa_entity(json: &str) -> Result<Option<DeviceClass>, serde_json::Error> {
    #[derive(Deserialize)]
    struct Yauaa {
        #[serde(rename = "deviceClass")]
        device_class: Option<String>,
    }
    let data: Yauaa = serde_json::from_str(json)?;
    Ok(data.device_class.as_deref().and_then(from_yauaa_class))
}

/// The class from the data of a `com.snowplowanalytics.snowplow/ua_parser_context` entity, if it
/// settles it.
pub(super) fn from_ua_parser_entity(json: &str) -> Result<Option<DeviceClass>, serde_json::Error> {
    #[derive(Deserialize)]
    struct UaParser {
        #[serde(rename = "deviceFamily")]
        device_family: Option<String>,
    }
    let data: UaParser = serde_json::from_str(json)?;
    Ok(data.device_family.as_deref().and_then(from_ua_parser_family))
}

/// The class for a YAUAA `deviceClass` (`nl.basjes/yauaa_context`). `None` when YAUAA could not tell
/// (`Unknown`, `Anonymized`), so the caller falls back to the user agent; other classes it knows
/// (Watch, TV, Robot, Game Console, ...) are `Other`.
pub fn from_yauaa_class(class: &str) -> Option<DeviceClass> {
    match class {
        "Phone" | "Mobile" => Some(DeviceClass::Mobile),
        "Tablet" => Some(DeviceClass::Tablet),
        "Desktop" => Some(DeviceClass::Desktop),
        "" | "Unknown" | "Anonymized" => None,
        _ => Some(DeviceClass::Other),
    }
}

/// The class for a ua-parser `deviceFamily` (`com.snowplowanalytics.snowplow/ua_parser_context`).
/// ua-parser names device models (`iPhone`, `iPad`, `Samsung SM-G960F`) and says `Other` for
/// desktops, so only the families that settle the question map; the rest are `None`.
pub fn from_ua_parser_family(family: &str) -> Option<DeviceClass> {
    if family.contains("iPad") || family.contains("Tablet") || family.contains("Kindle") {
        Some(DeviceClass::Tablet)
    } else if family.contains("iPhone")
        || family.contains("iPod")
        || family.contains("Phone")
        || family.contains("phone")
        || family.contains("Mobile")
    {
        Some(DeviceClass::Mobile)
    } else if family == "Desktop" {
        Some(DeviceClass::Desktop)
    } else if family == "Spider" {
        Some(DeviceClass::Other)
    } else {
        None
    }
}

/// A heuristic on the raw user agent: `iPad`/`Tablet` → Tablet; `Mobi`/`iPhone` → Mobile;
/// `Android` without `Mobi` → Tablet (Android phones' browsers say `Mobile`, tablets' do not);
/// `Windows`/`Macintosh`/`X11`/`Linux`/`CrOS` → Desktop; anything else (bots, SDKs, empty) → Other.
/// The order matters: phones say `Linux; Android`, Windows phones say `Windows Phone ... Mobile`.
pub fn from_user_agent(ua: &str) -> DeviceClass {
    let has = |needle: &str| ua.contains(needle);
    if has("iPad") || has("Tablet") {
        DeviceClass::Tablet
    } else if has("Mobi") || has("iPhone") {
        DeviceClass::Mobile
    } else if has("Android") {
        DeviceClass::Tablet
    } else if has("Windows") || has("Macintosh") || has("X11") || has("Linux") || has("CrOS") {
        DeviceClass::Desktop
    } else {
        DeviceClass::Other
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use DeviceClass::*;

    #[test]
    fn user_agents() {
        let cases = [
            (
                "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/134.0.0.0 Safari/537.36",
                Desktop,
            ),
            (
                "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/134.0.0.0 Safari/537.36",
                Desktop,
            ),
            ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36", Desktop),
            ("Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 Chrome/120.0 Safari/537.36", Desktop),
            (
                "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148 Safari/604.1",
                Mobile,
            ),
            (
                "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 Chrome/120.0 Mobile Safari/537.36",
                Mobile,
            ),
            ("Mozilla/5.0 (iPad; CPU OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148", Tablet),
            ("Mozilla/5.0 (Linux; Android 13; Tablet; rv:120.0) Gecko/120.0 Firefox/120.0", Tablet),
            ("Mozilla/5.0 (Linux; Android 14; SM-X710) AppleWebKit/537.36 Chrome/120.0 Safari/537.36", Tablet),
            ("Mozilla/5.0 (Windows Phone 10.0; Android 6.0.1; Lumia 950) Mobile Safari/537.36 Edge/15", Mobile),
            ("snowplow/andr-5.0.0 android/11", Other),
            ("Googlebot/2.1 (+http://www.google.com/bot.html)", Other),
            ("", Other),
        ];
        for (ua, want) in cases {
            assert_eq!(from_user_agent(ua), want, "{ua}");
        }
    }

    #[test]
    fn parser_entities() {
        assert_eq!(from_yauaa_class("Phone"), Some(Mobile));
        assert_eq!(from_yauaa_class("Mobile"), Some(Mobile));
        assert_eq!(from_yauaa_class("Tablet"), Some(Tablet));
        assert_eq!(from_yauaa_class("Desktop"), Some(Desktop));
        assert_eq!(from_yauaa_class("Robot"), Some(Other));
        assert_eq!(from_yauaa_class("Unknown"), None);
        assert_eq!(from_ua_parser_family("iPhone"), Some(Mobile));
        assert_eq!(from_ua_parser_family("iPad"), Some(Tablet));
        assert_eq!(from_ua_parser_family("Generic Smartphone"), Some(Mobile));
        assert_eq!(from_ua_parser_family("Desktop"), Some(Desktop));
        assert_eq!(from_ua_parser_family("Spider"), Some(Other));
        assert_eq!(from_ua_parser_family("Other"), None);
        assert_eq!(from_ua_parser_family("Samsung SM-G960F"), None);
        assert_eq!(
            from_yauaa_entity(r#"{"deviceClass":"Tablet","agentName":"Chrome"}"#).unwrap(),
            Some(Tablet)
        );
        assert_eq!(from_ua_parser_entity(r#"{"deviceFamily":null}"#).unwrap(), None);
        assert!(from_ua_parser_entity(r#"{"deviceFamily":1}"#).is_err());
    }
}
