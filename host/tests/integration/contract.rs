//! Contract 0.2: a plugin's settings are checked against what it declares, and with Kafka a
//! signal without a topic refuses the plugin (each refusal names what is wrong); a plugin reading
//! a custom entity, dropped into a running host's folder, computes from it without a restart.

use crate::common::example_wasm;
use crate::services::Host;
use live_shopper::source::generator::loyalty::loyalty_of;
use std::time::{Duration, Instant};

use live_shopper::engine::Operator;
use live_shopper::plugin::{embedded, LoadError, PluginOverrides, PluginPolicy, PluginRuntime, WasmOperator};

fn load_flash_sale(policy: &PluginPolicy) -> Result<WasmOperator, LoadError> {
    let runtime = PluginRuntime::new().unwrap();
    let wasm = embedded::EMBEDDED.iter().find(|(name, _)| *name == "flash-sale").expect("embedded").1;
    runtime.load("flash-sale.wasm", wasm, policy)
}

fn with_settings(settings: &[(&str, &str)]) -> PluginPolicy {
    let overrides = PluginOverrides {
        settings: settings.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        ..PluginOverrides::default()
    };
    PluginPolicy { plugins: [("flash_sale".to_string(), overrides)].into(), ..PluginPolicy::default() }
}

#[test]
fn settings_reach_the_plugin_and_bad_ones_refuse_it_naming_the_field() {
    let op = load_flash_sale(&with_settings(&[("min_views", "7")])).unwrap();
    assert_eq!(
        op.settings(),
        [("min_views".to_string(), "7".to_string()), ("max_purchases".to_string(), "5".to_string())]
    );
    for (settings, says) in [
        (&[("min_views", "many")][..], "plugins.flash-sale.settings.min_views: \"many\" is not an integer"),
        (&[("min_views", "-1")][..], "plugins.flash-sale.settings.min_views: -1 is below the minimum 0"),
        (
            &[("threshold", "1")][..],
            "plugins.flash-sale.settings.threshold: the plugin declares no such setting",
        ),
    ] {
        let err = load_flash_sale(&with_settings(settings)).err().expect("refused").to_string();
        assert!(err.starts_with("flash-sale.wasm: refused settings: ") && err.contains(says), "{err}");
    }
}

#[test]
fn with_kafka_a_signal_without_a_topic_refuses_the_plugin() {
    let unmapped = PluginPolicy { signal_topics: Some(Default::default()), ..PluginPolicy::default() };
    let err = load_flash_sale(&unmapped).err().expect("refused").to_string();
    assert!(
        err.contains("signal \"flash_sale_alert\" has no topic") && err.contains("[kafka.signal_topics]"),
        "{err}"
    );
    let mapped = PluginPolicy {
        signal_topics: Some(["flash_sale_alert".to_string()].into()),
        ..PluginPolicy::default()
    };
    assert!(load_flash_sale(&mapped).is_ok());
}

#[test]
fn the_loyalty_example_dropped_into_a_running_host_computes_from_the_custom_entity() {
    let wasm = example_wasm("loyalty");
    let dir = tempfile::tempdir().unwrap();
    let plugins = dir.path().join("plugins");
    std::fs::create_dir_all(&plugins).unwrap();
    std::fs::write(plugins.join("product.wasm"), embedded::wasm("product").unwrap()).unwrap();
    let config = dir.path().join("ls.toml");
    std::fs::write(&config, "[plugins]\nwatch_interval_ms = 100\n[generator]\nloyalty = true\n").unwrap();
    let args =
        ["--config", config.to_str().unwrap(), "--plugins", plugins.to_str().unwrap(), "--rate", "300"];
    let host = Host::start_at("127.0.0.1:0", &[], &args);
    host.wait_health("events", Duration::from_secs(30), |h| h["durable_records"].as_u64() > Some(0));

    std::fs::write(plugins.join("loyalty.wasm"), &wasm).unwrap();
    let started = Instant::now();
    let emitted = loop {
        let (_, body) = host.get("/plugins");
        let list: serde_json::Value = serde_json::from_str(&body).unwrap();
        let loyalty = list.as_array().unwrap().iter().find(|p| p["name"] == "loyalty").cloned();
        if let Some(p) = loyalty.filter(|p| p["emissions"].as_u64() > Some(0)) {
            break p;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "loyalty never emitted: {body}\n{}",
            host.stderr()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(emitted["entities"][0], "iglu:com.acme/loyalty/jsonschema/1-*-*");
    assert_eq!(emitted["contract"], "live-shopper:plugin@0.2.0");

    // A shopper the host announced: their loyalty hash holds what their entity says.
    let log = host.stderr();
    let shopper = log
        .lines()
        .find_map(|l| l.trim().strip_prefix("features  curl http://")?.split("/features/user/").nth(1))
        .expect("run announces a shopper")
        .trim()
        .to_string();
    let (tier, points) = loyalty_of(&shopper);
    let started = Instant::now();
    loop {
        let (status, body) = host.get(&format!("/features/user/{shopper}"));
        let features: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        if status == 200 && features["groups"]["loyalty"].is_object() {
            assert_eq!(features["groups"]["loyalty"]["loyalty_tier"], tier, "{body}");
            assert_eq!(features["groups"]["loyalty"]["points_balance"], points.to_string(), "{body}");
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "no loyalty features for {shopper}: {body}");
        std::thread::sleep(Duration::from_millis(200));
    }
    host.stop();
}
