//! Tests of config parsing, precedence and field-named errors.

use super::*;

fn load(text: &str, o: Overrides) -> Result<Settings, ConfigError> {
    let file =
        ConfigFile::parse(text).map_err(|message| ConfigError::Parse { path: "t.toml".into(), message })?;
    Settings::from_file(file, o)
}

fn err(text: &str, o: Overrides) -> String {
    load(text, o).expect_err("should be refused").to_string()
}

#[test]
fn an_empty_file_is_the_embedded_default() {
    let s = load("", Overrides::default()).unwrap();
    assert_eq!(s.http_addr.to_string(), "127.0.0.1:8080");
    assert_eq!(s.source, SourceSettings::Generator { rate: 500, shoppers: 1_000, seed: 1, loyalty: false });
    assert_eq!(s.redis_url, None);
    assert_eq!(s.flush_interval, Duration::from_millis(50));
    assert_eq!(s.plugin_policy, crate::plugin::PluginPolicy::default());
    assert_eq!(s.idle_after, Duration::from_secs(3));
}

#[test]
fn the_checked_in_example_files_are_valid() {
    for path in ["../deploy/live-shopper.toml", "../docs/live-shopper.example.toml"] {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
        let s = Settings::load(Some(&path), Overrides::default()).unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(s.source, SourceSettings::Kafka(_)), "{}", path.display());
        assert!(s.redis_url.is_some());
    }
}

#[test]
fn brokers_switch_the_source_to_kafka_and_the_environment_wins_over_the_file() {
    let text = r#"
        [kafka]
        brokers = "file:9092"
        topics = ["a"]
        group = "g"
        [redis]
        url = "redis://file:6379"
    "#;
    let env = Overrides::from_env(|name| match name {
        ENV_KAFKA_TOPICS => Some("x, y".into()),
        ENV_KAFKA_GROUP => Some("env-group".into()),
        ENV_REDIS_URL => Some("redis://env:6379".into()),
        ENV_HTTP_ADDR => Some("0.0.0.0:9000".into()),
        ENV_DEAD_LETTER_TOPIC => Some("dlq".into()),
        _ => None,
    });
    let s = load(text, env).unwrap();
    let SourceSettings::Kafka(k) = s.source else { panic!("kafka expected") };
    assert_eq!(k.brokers, "file:9092");
    assert_eq!(k.topics, ["x", "y"]);
    assert_eq!(k.group, "env-group");
    assert_eq!(k.dead_letter_topic, "dlq");
    assert_eq!(k.start_from, StartFrom::Earliest);
    assert_eq!(s.redis_url.as_deref(), Some("redis://env:6379"));
    assert_eq!(s.http_addr.to_string(), "0.0.0.0:9000");
}

#[test]
fn a_flag_wins_over_the_environment() {
    let env = Overrides { redis_url: Some("redis://env:1".into()), ..Overrides::default() };
    let cli = Overrides { redis_url: Some("redis://cli:2".into()), ..Overrides::default() };
    let s = load("", env.then(cli)).unwrap();
    assert_eq!(s.redis_url.as_deref(), Some("redis://cli:2"));
}

#[test]
fn errors_name_the_field() {
    let none = Overrides::default;
    assert!(err("[kafka]\nbrokrs = \"x:1\"", none()).contains("unknown field `brokrs`"));
    assert!(err("[pipeline]\nflush_interval_ms = \"fast\"", none()).contains("flush_interval_ms"));
    assert!(err("[http]\naddr = \"nowhere\"", none()).starts_with("http.addr:"));
    assert!(err("[pipeline]\nflush_interval_ms = 0", none())
        .starts_with("pipeline.flush_interval_ms: 0 is out of range"));
    assert!(err("[kafka]\nbrokers = \"host\"", none()).starts_with("kafka.brokers"));
    assert!(err("[kafka]\nbrokers = \"h:1\"\ntopics = []", none()).starts_with("kafka.topics"));
    assert!(err("[kafka]\nbrokers = \"h:1\"\ntopics = [\"bad topic\"]", none())
        .contains("not a Kafka topic name"));
    assert!(
        err("[kafka]\nbrokers = \"h:1\"\nstart_from = \"middle\"", none()).starts_with("kafka.start_from")
    );
    assert!(err("[kafka]\nbrokers = \"h:1\"\ntopics = [\"t\"]\ndead_letter_topic = \"t\"", none())
        .contains("also an input topic"));
    assert!(err("[redis]\nurl = \"http://x\"", none()).starts_with("redis.url"));
    assert!(err("[plugins]\nmemory_mib = 0", none()).starts_with("plugins.memory_mib"));
    let env = Overrides::from_env(|n| (n == ENV_KAFKA_BROKERS).then(|| "no-port".to_string()));
    assert!(err("", env).contains("LIVE_SHOPPER_KAFKA_BROKERS"));
}

#[test]
fn a_missing_file_is_named() {
    let e = Settings::load(Some(Path::new("/nonexistent/ls.toml")), Overrides::default()).unwrap_err();
    assert!(e.to_string().contains("/nonexistent/ls.toml"), "{e}");
}

fn repo_file(path: &str) -> String {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    std::fs::read_to_string(root.join(path)).unwrap()
}

/// Every field of the config file as (dotted name, default value).
fn flatten(value: &serde_json::Value, prefix: &str, out: &mut Vec<(String, serde_json::Value)>) {
    match value {
        serde_json::Value::Object(map) if prefix.split('.').count() < 2 || prefix.is_empty() => {
            for (k, v) in map {
                let name = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                flatten(v, &name, out);
            }
        }
        other => out.push((prefix.to_string(), other.clone())),
    }
}

/// The defaults live in `config/file.rs` (taking the engine's and the limits' from their
/// owners); docs/CONFIG.md states each of them and the example file shows each of them.
#[test]
fn docs_config_md_and_the_example_file_state_the_defaults_of_the_code() {
    let docs = repo_file("docs/CONFIG.md");
    let mut fields = Vec::new();
    flatten(&serde_json::to_value(ConfigFile::default()).unwrap(), "", &mut fields);
    assert!(fields.len() > 30, "{fields:?}");
    for (field, value) in &fields {
        let row = docs
            .lines()
            .find(|l| l.starts_with(&format!("| `{field}`")))
            .unwrap_or_else(|| panic!("docs/CONFIG.md has no row for {field}"));
        let cell = row.split(" | ").nth(1).unwrap_or_default().replace('`', "");
        let documented = match value {
            serde_json::Value::Null => cell.starts_with("unset") || cell.starts_with("$XDG_CACHE_HOME"),
            serde_json::Value::Number(n) => {
                let digits: String = cell.chars().take_while(|c| c.is_ascii_digit() || *c == ' ').collect();
                digits.replace(' ', "") == n.to_string()
            }
            serde_json::Value::String(s) => cell == *s,
            serde_json::Value::Bool(b) => cell == b.to_string(),
            serde_json::Value::Object(map) if map.is_empty() => cell == "none",
            other => cell == other.to_string().replace(',', ", "),
        };
        assert!(documented, "docs/CONFIG.md says {cell:?} for {field}; the code's default is {value}");
    }
    for row in docs.lines().filter(|l| l.starts_with("| `") && l.contains('.')) {
        let name = row.trim_start_matches("| `").split('`').next().unwrap();
        if name.contains('.')
            && !name.starts_with("--")
            && name.chars().all(|c| c.is_ascii_lowercase() || c == '.' || c == '_')
        {
            assert!(
                fields.iter().any(|(f, _)| f == name),
                "docs/CONFIG.md documents {name}, which the file does not have"
            );
        }
    }

    let mut example = ConfigFile::parse(&repo_file("docs/live-shopper.example.toml")).unwrap();
    // The example sets these two to show their form; by default they are unset.
    assert!(example.kafka.brokers.take().is_some() && example.redis.url.take().is_some());
    assert_eq!(example, ConfigFile::default(), "docs/live-shopper.example.toml shows every default");
}

#[test]
fn a_plugin_section_sets_its_limits_and_settings_and_the_environment_wins() {
    let text = r#"
        [plugins]
        memory_mib = 64
        [plugins.flash-sale]
        memory_mib = 16
        state_mib_total = 2
        [plugins.flash-sale.settings]
        min_views = 50
        max_purchases = "3"
    "#;
    let env = Overrides::default().with_plugin_vars(
        [
            ("LIVE_SHOPPER_PLUGIN_FLASH_SALE__SETTING_MIN_VIEWS".to_string(), "70".to_string()),
            ("LIVE_SHOPPER_PLUGIN_PRODUCT__CPU_MS_PER_CALL".to_string(), "20".to_string()),
            ("UNRELATED".to_string(), "x".to_string()),
        ]
        .into_iter(),
    );
    let p = load(text, env).unwrap().plugin_policy;
    let flash = p.limits_for("flash-sale");
    assert_eq!((flash.memory_bytes, flash.state_bytes_total), (16 << 20, Some(2 << 20)));
    assert_eq!(p.limits_for("product").cpu_per_call, Duration::from_millis(20));
    assert_eq!(p.limits_for("cart"), p.defaults);
    let settings = &p.plugins["flash_sale"].settings;
    assert_eq!((settings["min_views"].as_str(), settings["max_purchases"].as_str()), ("70", "3"));
    assert_eq!(p.signal_topics, None, "the generator sends signals to the live hub only");
}

#[test]
fn a_bad_plugin_section_names_its_field() {
    assert!(err("[plugins.cart]\nmemory_mib = 0", Overrides::default()).contains("plugins.cart.memory_mib"));
    assert!(err("[plugins.cart]\nmemroy_mib = 1", Overrides::default()).contains("memroy_mib"));
    let env = Overrides::default()
        .with_plugin_vars([("LIVE_SHOPPER_PLUGIN_CART__MEMORY".to_string(), "1".to_string())].into_iter());
    assert!(err("", env).contains("LIVE_SHOPPER_PLUGIN_CART__MEMORY"));
}
