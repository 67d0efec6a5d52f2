//! Plugins loaded, reloaded and removed while `live-shopper run` consumes from Kafka: each of
//! the five swapped under load (same state schema) ends with the hashes of a run without swaps;
//! a brand-new plugin starts computing and stops when its file is removed.

use crate::expected::{assert_redis_holds, expected_with, redis_contents};
use crate::kafka::{generated_records, kafka_env, produce, setup};
use crate::services::{Broker, Host, RedisServer};
use live_shopper::decode::decode_record;
use live_shopper::model::EventKind;
use live_shopper::plugin::embedded;
use sha2::{Digest, Sha256};
use std::path::Path;
use std::time::{Duration, Instant};

pub(crate) const PLUGINS: [&str; 5] = ["product", "cart", "session", "purchase", "context"];

/// The embedded component with a custom section appended: the same plugin, other bytes.
pub(crate) fn rebuilt(name: &str, tag: u8) -> Vec<u8> {
    embedded::retagged(name, tag.into()).unwrap()
}

pub(crate) fn write_plugins(dir: &Path, names: &[&str]) {
    for name in names {
        std::fs::write(dir.join(format!("{name}.wasm")), embedded::wasm(name).unwrap()).unwrap();
    }
}

fn start(dir: &Path, broker: &Broker, redis: &RedisServer, topic: &str) -> Host {
    let config = dir.join("ls.toml");
    std::fs::write(&config, "[plugins]\nwatch_interval_ms = 100\n").unwrap();
    let plugins = dir.join("plugins");
    let args = ["--config", config.to_str().unwrap(), "--plugins", plugins.to_str().unwrap()];
    Host::start(&kafka_env(broker, redis, topic, topic), &args)
}

/// (name, content hash) of the running plugins.
pub(crate) fn running(host: &Host) -> Vec<(String, String)> {
    let (_, body) = host.get("/plugins");
    let plugins: serde_json::Value = serde_json::from_str(&body).unwrap();
    plugins
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["name"].as_str().unwrap().to_string(), p["content_hash"].as_str().unwrap().to_string()))
        .collect()
}

pub(crate) fn wait_until(host: &Host, what: &str, done: impl Fn(&[(String, String)]) -> bool) {
    let started = Instant::now();
    while !done(&running(host)) {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "timed out waiting for {what}\n{}",
            host.stderr()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn each_plugin_swapped_under_load_ends_with_the_hashes_of_a_run_without_swaps() {
    let dir = tempfile::tempdir().unwrap();
    let (broker, redis) = (Broker::start(), RedisServer::start());
    setup(&broker, "swaps", 2);
    std::fs::create_dir(dir.path().join("plugins")).unwrap();
    write_plugins(&dir.path().join("plugins"), &PLUGINS);
    let host = start(dir.path(), &broker, &redis, "swaps");
    let records = generated_records(6_000, 41);
    for (round, chunk) in records.chunks(1_000).enumerate() {
        produce(&broker, "swaps", chunk);
        if let Some(name) = PLUGINS.get(round) {
            // Swap while the round's records are being consumed.
            let wasm = rebuilt(name, round as u8);
            let hash = hex::encode(Sha256::digest(&wasm));
            std::fs::write(dir.path().join("plugins").join(format!("{name}.wasm")), &wasm).unwrap();
            wait_until(&host, name, |r| r.iter().any(|(n, h)| n == name && *h == hash));
        }
        let done = (round as u64 + 1) * 1_000;
        host.wait_health("the round", Duration::from_secs(30), |h| h["records"].as_u64() >= Some(done));
    }
    assert_redis_holds(&redis, &expected_with(&records, &PLUGINS), &host, Duration::from_secs(30));
    let log = host.stop();
    assert_eq!(log.matches("StateKept").count(), 5, "{log}");
}

#[test]
fn a_new_plugin_starts_computing_without_a_restart_and_stops_when_removed() {
    let dir = tempfile::tempdir().unwrap();
    let (broker, redis) = (Broker::start(), RedisServer::start());
    setup(&broker, "newcomer", 1);
    let plugins = dir.path().join("plugins");
    std::fs::create_dir(&plugins).unwrap();
    write_plugins(&plugins, &["product", "cart", "session", "context"]);
    let host = start(dir.path(), &broker, &redis, "newcomer");
    let orders = |seed| {
        generated_records(4_000, seed)
            .into_iter()
            .filter(|r| decode_record(r).is_ok_and(|e| e.kind == EventKind::Transaction))
            .collect::<Vec<_>>()
    };
    let day_hashes = || redis_contents(&redis).0.keys().filter(|k| k.ends_with(":features:24hr")).count();

    let first = orders(51);
    produce(&broker, "newcomer", &first);
    // Every record's features acknowledged by Redis: whatever they produce is there now.
    host.wait_health("the orders' features", Duration::from_secs(20), |h| {
        h["durable_records"].as_u64() == Some(first.len() as u64)
    });
    assert_eq!(day_hashes(), 0, "no purchase plugin yet");

    write_plugins(&plugins, &["purchase"]);
    wait_until(&host, "purchase to load", |r| r.iter().any(|(n, _)| n == "purchase"));
    let second = orders(52);
    assert!(!second.is_empty());
    produce(&broker, "newcomer", &second);
    let started = Instant::now();
    while day_hashes() == 0 {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "purchase features never appeared\n{}",
            host.stderr()
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    std::fs::remove_file(plugins.join("purchase.wasm")).unwrap();
    wait_until(&host, "purchase to stop", |r| r.iter().all(|(n, _)| n != "purchase"));
    let before = day_hashes();
    let total = host.health()["records"].as_u64().unwrap();
    let third = orders(53);
    produce(&broker, "newcomer", &third);
    host.wait_health("the last orders' features", Duration::from_secs(20), |h| {
        h["durable_records"].as_u64() == Some(total + third.len() as u64)
    });
    assert_eq!(day_hashes(), before, "no purchase features once removed");

    // A file that is not a component is refused, reported, and changes nothing.
    assert_eq!(host.health()["plugin_refusals"], 0);
    std::fs::write(plugins.join("broken.wasm"), b"\0asm but not really").unwrap();
    host.wait_health("the refusal", Duration::from_secs(20), |h| h["plugin_refusals"] == 1);
    let last = host.health()["last_plugin_refusal"].as_str().unwrap().to_string();
    assert!(last.contains("broken.wasm") && last.contains("not a valid WebAssembly component"), "{last}");
    assert!(host.get("/metrics").1.contains("live_shopper_plugin_refusals_total 1"));
    assert_eq!(running(&host).len(), 4, "the running plugins are untouched");
    host.stop();
}
