//! The Redis sink against a real `redis-server` started by the test on a free loopback port:
//! hashes, fields and TTLs as FEATURES.md §3 says, login aliases, and retries that lose nothing
//! while Redis is down.

use crate::common::test_data;
use crate::services::{RedisCluster, RedisServer};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn inputs() -> Vec<std::path::PathBuf> {
    vec![test_data("snowplow/store-session-20.tsv"), test_data("snowplow/flink-format-checkout.jsonl")]
}

/// The hash each key must hold: every emission's fields merged in order (last write wins).
fn expected_hashes(log: &str) -> HashMap<String, HashMap<String, String>> {
    let mut hashes: HashMap<String, HashMap<String, String>> = HashMap::new();
    for line in log.lines() {
        let e: serde_json::Value = serde_json::from_str(line).unwrap();
        if e.get("signal").is_some() {
            continue; // signals go to their outlets, not to hashes
        }
        let hash = hashes.entry(e["key"].as_str().unwrap().to_string()).or_default();
        for (k, v) in e["fields"].as_object().unwrap() {
            let v = v.as_str().unwrap().to_string();
            // `updated_at` keeps the latest as-of of the plugins sharing the hash.
            let older = k == "updated_at"
                && hash.get(k).is_some_and(|t| t.parse::<i64>().ok() > v.parse::<i64>().ok());
            if !older {
                hash.insert(k.clone(), v);
            }
        }
    }
    hashes
}

/// TTL of a hash by its key (FEATURES.md §3).
fn ttl_ms(key: &str) -> i64 {
    const MIN: i64 = 60_000;
    match key.rsplit(':').next().unwrap() {
        "5min" => 10 * MIN,
        "10min" => 20 * MIN,
        "1hr" => 120 * MIN,
        "24hr" => 48 * 60 * MIN,
        "context" => 30 * 24 * 60 * MIN,
        "features" => 120 * MIN,
        other => panic!("unexpected key suffix {other}"),
    }
}

fn replay_into(url: &str, log: &std::path::Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_live-shopper"));
    cmd.arg("replay").args(inputs()).arg("--redis-url").arg(url).arg("--emit").arg(log);
    cmd
}

/// Checks every hash, field and TTL the emission log implies, and the login alias, through `c`
/// (a server or a cluster connection); returns how many hashes there are.
fn assert_hashes_match_log(c: &mut impl redis::ConnectionLike, log: &std::path::Path) -> usize {
    let expected = expected_hashes(&std::fs::read_to_string(log).unwrap());
    assert!(expected.len() >= 8, "both shoppers' groups and both sessions: {:?}", expected.keys());
    for (key, fields) in &expected {
        let got: HashMap<String, String> = redis::cmd("HGETALL").arg(key).query(c).unwrap();
        assert_eq!(&got, fields, "{key}");
        let ttl: i64 = redis::cmd("PTTL").arg(key).query(c).unwrap();
        assert!(ttl > ttl_ms(key) - 60_000 && ttl <= ttl_ms(key), "{key}: PTTL {ttl}");
    }
    let alias: String = redis::cmd("GET").arg("alias:user:trent@snowplowanalytics.com").query(c).unwrap();
    assert_eq!(alias, "67430c52-68fb-4277-baeb-b6033403094a", "login id points at the browser");
    let ttl: i64 = redis::cmd("PTTL").arg("alias:user:trent@snowplowanalytics.com").query(c).unwrap();
    assert!(ttl > 29 * 24 * 3_600_000, "alias TTL {ttl}");
    expected.len()
}

fn assert_redis_matches_log(server: &RedisServer, log: &std::path::Path) {
    let mut c = server.connection().unwrap();
    let hashes = assert_hashes_match_log(&mut c, log);
    let keys: Vec<String> = redis::cmd("KEYS").arg("*").query(&mut c).unwrap();
    let (fences, keys): (Vec<_>, Vec<_>) = keys.into_iter().partition(|k| k.ends_with(":as-of"));
    assert_eq!(keys.len(), hashes + 1, "nothing but the hashes and the alias: {keys:?}");
    assert_eq!(fences.len(), hashes, "each hash has its as-of companion: {fences:?}");
}

/// Writes one emission of `plugin` for shopper `s` through a Redis sink and waits for it.
fn write(url: &str, plugin: &str, features: &[&str], values: &[i64], as_of: i64) {
    use live_shopper::engine::emission::{Emission, EmissionSink};
    use live_shopper::sink::FeatureSink;
    let group = live_shopper_abi::FeatureGroup {
        name: "5min".into(),
        redis_key: "user:{key}:features:5min".into(),
        window_ms: 300_000,
        emit_interval_ms: 30_000,
        ttl_ms: 600_000,
        features: features.iter().map(|f| f.to_string()).collect(),
    };
    let values: Vec<_> = values.iter().map(|v| live_shopper_abi::FeatureValue::Int(*v)).collect();
    let mut sink = live_shopper::sink::RedisSink::new(url).unwrap();
    sink.emit(&Emission { plugin, group: &group, key: "s", as_of, closed: false, values: &values });
    sink.submit(0, &|| false).unwrap();
    sink.wait_all(&|| false).unwrap();
}

#[test]
fn a_late_write_of_an_older_as_of_cannot_overwrite_a_newer_value_and_updated_at_never_goes_back() {
    let server = RedisServer::start();
    let mut c = server.connection().unwrap();
    let hash = |c: &mut redis::Connection| -> HashMap<String, String> {
        redis::cmd("HGETALL").arg("user:s:features:5min").query(c).unwrap()
    };
    write(&server.url(), "cart", &["cart_value"], &[30], 2_000);
    // A deposed owner's late write for the same plugin, computed as of earlier: refused.
    write(&server.url(), "cart", &["cart_value"], &[10], 1_000);
    assert_eq!(hash(&mut c)["cart_value"], "30");
    // Another plugin sharing the hash writes its own fields as of its own time.
    write(&server.url(), "product", &["views"], &[4], 1_500);
    let h = hash(&mut c);
    assert_eq!((h["cart_value"].as_str(), h["views"].as_str()), ("30", "4"));
    assert_eq!(h["updated_at"], "2000", "updated_at keeps the latest as-of");
    // The same as-of again (a replay after a crash) is applied: values are recomputed overwrites.
    write(&server.url(), "cart", &["cart_value"], &[31], 2_000);
    assert_eq!(hash(&mut c)["cart_value"], "31");
    let ttl: i64 = redis::cmd("PTTL").arg("user:s:features:5min").query(&mut c).unwrap();
    assert!(ttl > 590_000 && ttl <= 600_000, "{ttl}");
}

#[test]
fn replay_writes_every_hash_field_and_ttl_to_redis() {
    let server = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("out.jsonl");
    let status = replay_into(&server.url(), &log).stderr(Stdio::null()).status().unwrap();
    assert!(status.success());
    assert_redis_matches_log(&server, &log);
}

#[test]
fn writes_wait_for_redis_and_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("out.jsonl");
    // Redis is not there yet (its socket is named, not yet made): the replay must keep
    // retrying, not fail or drop the writes.
    let socket = dir.path().join("redis.sock");
    let mut replay = replay_into(&format!("redis+unix://{}", socket.display()), &log)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(replay.stderr.take().unwrap());
    let mut seen = String::new();
    while !seen.contains("retrying") {
        assert!(stderr.read_line(&mut seen).unwrap() > 0, "replay ended without retrying: {seen}");
    }
    assert!(replay.try_wait().unwrap().is_none(), "still waiting for Redis");
    let server = RedisServer::start_on_socket(&socket);
    stderr.read_to_string(&mut seen).unwrap();
    let status = replay.wait().unwrap();
    assert!(status.success(), "{seen}");
    assert_redis_matches_log(&server, &log);
}

#[test]
fn run_writes_live_features_to_redis() {
    let server = RedisServer::start();
    let out = Command::new(env!("CARGO_BIN_EXE_live-shopper"))
        .args([
            "run",
            "--http-addr",
            "127.0.0.1:0",
            "--rate",
            "2000",
            "--shoppers",
            "30",
            "--duration-secs",
            "3",
        ])
        .env("LIVE_SHOPPER_REDIS_URL", server.url())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let shopper = stderr.lines().find_map(|l| l.trim().strip_prefix("features  curl http://")).unwrap();
    let shopper = shopper.rsplit('/').next().unwrap();
    let mut c = server.connection().unwrap();
    let context: HashMap<String, String> =
        redis::cmd("HGETALL").arg(format!("user:{shopper}:features:context")).query(&mut c).unwrap();
    assert!(context.contains_key("shopper_first_seen") && context.contains_key("updated_at"), "{context:?}");
    let sessions: Vec<String> = redis::cmd("KEYS").arg("session:*:features").query(&mut c).unwrap();
    assert!(!sessions.is_empty());
}

#[test]
fn run_stops_on_time_while_redis_is_unreachable_and_says_what_was_not_written() {
    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_live-shopper"))
        .args(["run", "--http-addr", "127.0.0.1:0", "--duration-secs", "2"])
        .args(["--redis-url", "redis+unix:///nonexistent/live-shopper-test/redis.sock"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(started.elapsed() < Duration::from_secs(15), "took {:?}", started.elapsed());
    assert!(stderr.contains("left unwritten"), "{stderr}");
}

#[test]
fn replay_writes_to_a_redis_cluster_through_its_seed_nodes() {
    let cluster = RedisCluster::start();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("out.jsonl");
    let out = replay_into(&cluster.url(), &log).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let hashes = assert_hashes_match_log(&mut cluster.connection(), &log);
    let per_node = cluster.keys_per_node();
    // Each hash, its as-of companion (written in the same script call, so in the same slot), the alias.
    assert_eq!(per_node.iter().sum::<usize>(), 2 * hashes + 1, "{per_node:?}");
    assert!(per_node.iter().filter(|n| **n > 0).count() >= 2, "keys spread over the slots: {per_node:?}");
}
