//! The real stack: records produced to a tansu broker, `live-shopper run` consuming them with
//! Kafka and Redis configured through the environment, features read back from a real
//! `redis-server`. Expected hashes come from the engine run over the same records one at a
//! time, then advanced by wall clock as the idle host does.

use crate::common::test_data;
use crate::expected::{assert_redis_holds, expected};
use crate::services::{Broker, Host, RedisServer};
use live_shopper::decode::decode_record;
use live_shopper::engine::{Engine, EngineConfig, Operator};
use live_shopper::plugin::native;
use live_shopper::sink::PendingWrites;
use live_shopper::source::generator::{tsv::write_enriched_tsv, Generator, GeneratorConfig};
use live_shopper::source::kafka::{self, KafkaProducer};
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

pub(crate) fn kafka_env(
    broker: &Broker,
    redis: &RedisServer,
    topic: &str,
    group: &str,
) -> Vec<(&'static str, String)> {
    vec![
        ("LIVE_SHOPPER_KAFKA_BROKERS", broker.brokers()),
        ("LIVE_SHOPPER_KAFKA_TOPICS", topic.to_string()),
        ("LIVE_SHOPPER_KAFKA_GROUP", group.to_string()),
        ("LIVE_SHOPPER_DEAD_LETTER_TOPIC", format!("{topic}-dead-letter")),
        ("LIVE_SHOPPER_REDIS_URL", redis.url()),
    ]
}

/// The variable that lets a host take a generated stream stamped from now (or later): its
/// event times run hours or days ahead of the clock, past the default `engine.max_future_ms`.
pub(crate) fn ahead_of_the_clock() -> (&'static str, String) {
    (live_shopper::config::ENV_MAX_FUTURE_MS, (7 * 86_400_000u64).to_string())
}

pub(crate) fn setup(broker: &Broker, topic: &str, partitions: i32) {
    kafka::create_topics(&broker.brokers(), &[(topic, partitions), (&format!("{topic}-dead-letter"), 1)])
        .unwrap();
}

/// Records keyed by shopper (as Snowplow's `partitionKey = domain_userid` does), so a shopper's
/// records share a partition and keep their order; undecodable ones go unkeyed.
pub(crate) fn produce(broker: &Broker, topic: &str, records: &[Vec<u8>]) {
    let producer = KafkaProducer::new(&broker.brokers()).unwrap();
    for r in records {
        let key = decode_record(r).ok().map(|e| e.shopper_id);
        producer.send(topic, key.as_deref().map(str::as_bytes), r, None).unwrap();
    }
    producer.flush(Duration::from_secs(30)).unwrap();
}

#[test]
fn snowplow_files_of_every_format_through_kafka_land_in_redis_with_their_fields_and_ttls() {
    let (broker, redis) = (Broker::start(), RedisServer::start());
    setup(&broker, "enriched", 3);
    let mut records = Vec::new();
    for file in ["store-home-5.tsv", "store-page-ping-5.tsv", "store-session-20.tsv"] {
        let text = std::fs::read_to_string(test_data(&format!("snowplow/{file}"))).unwrap();
        records.extend(text.lines().filter(|l| !l.is_empty()).map(|l| l.as_bytes().to_vec()));
    }
    assert_eq!(records.len(), 30);
    // Live Shopper JSON on the same topic: the upstream checkout (one record per line) and a
    // pretty-printed product view (one record of many lines).
    let checkout = std::fs::read_to_string(test_data("snowplow/flink-format-checkout.jsonl")).unwrap();
    records.extend(checkout.lines().filter(|l| !l.trim().is_empty()).map(|l| l.as_bytes().to_vec()));
    records.push(std::fs::read(test_data("snowplow/flink-format-product-view.json")).unwrap());
    let total = records.len();
    // In event-time order, as a live tracker would send them (the files are days apart).
    records.sort_by_key(|r| decode_record(r).unwrap().event_time);
    produce(&broker, "enriched", &records);
    let host = Host::start(&kafka_env(&broker, &redis, "enriched", "tsv-files"), &[]);
    let want = expected(&records);
    assert!(want.hashes.keys().any(|k| k.ends_with(":features:5min")) && want.hashes.len() >= 4);
    assert_redis_holds(&redis, &want, &host, Duration::from_secs(30));
    // Every record is committed once its features are in Redis.
    host.wait_health("commits", Duration::from_secs(10), |h| {
        h["records"] == total && h["commits"].as_u64() > Some(0)
    });
    let health = host.health();
    assert_eq!(health["rejected"], 0, "{health}");
    let committed = kafka::committed_offsets(&broker.brokers(), "tsv-files", "enriched", 3).unwrap();
    assert_eq!(committed.iter().map(|o| o.unwrap_or(0)).sum::<i64>(), total as i64, "{committed:?}");
    // The API reads the features back from Redis.
    let shopper =
        want.hashes.keys().find_map(|k| k.strip_prefix("user:")).unwrap().split(':').next().unwrap();
    let (status, body) = host.get(&format!("/features/user/{shopper}"));
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"context\""), "{body}");
    let log = host.stop();
    assert!(log.contains(&format!("from {total} records")), "{log}");
}

pub(crate) fn generated_records(events: u64, seed: u64) -> Vec<Vec<u8>> {
    let config = GeneratorConfig { shoppers: 200, events, seed, start_ms: 1_742_000_000_000 };
    let mut line = String::new();
    Generator::new(config)
        .map(|e| {
            line.clear();
            write_enriched_tsv(&e, &mut line);
            line.as_bytes().to_vec()
        })
        .collect()
}

#[test]
fn redis_killed_mid_stream_loses_nothing_and_offsets_never_pass_unacknowledged_features() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::start();
    let mut redis = RedisServer::start_persistent(dir.path());
    setup(&broker, "stream", 3);
    let records = generated_records(12_000, 5);
    let host = Host::start(&kafka_env(&broker, &redis, "stream", "kill"), &[]);
    let (first, rest) = records.split_at(4_000);
    produce(&broker, "stream", first);
    host.wait_health("the first records", Duration::from_secs(30), |h| h["records"].as_u64() >= Some(4_000));

    redis.kill();
    produce(&broker, "stream", rest);
    std::thread::sleep(Duration::from_millis(500));
    let offsets = || kafka::committed_offsets(&broker.brokers(), "kill", "stream", 3).unwrap();
    let during = offsets();
    let mut seen_records = Vec::new();
    for _ in 0..5 {
        std::thread::sleep(Duration::from_millis(400));
        assert_eq!(offsets(), during, "offsets moved while Redis was down");
        seen_records.push(host.health()["records"].as_u64().unwrap());
    }
    // Backpressure: while the write is retried, nothing new is taken.
    assert!(seen_records.windows(2).all(|w| w[0] == w[1]), "{seen_records:?}");
    assert!(seen_records[0] < 12_000, "the outage caught the stream mid-way: {seen_records:?}");

    redis.restart();
    host.wait_health("every record", Duration::from_secs(60), |h| h["records"] == 12_000);
    assert_redis_holds(&redis, &expected(&records), &host, Duration::from_secs(30));
    let end = offsets();
    assert_eq!(end.iter().map(|o| o.unwrap_or(0)).sum::<i64>(), 12_000, "{end:?}");
    let health = host.health();
    assert!(health["redis_retries"].as_u64() > Some(0), "{health}");
    let log = host.stop();
    assert!(log.contains("retrying"), "{log}");
}

#[test]
fn garbage_lands_in_the_dead_letter_topic_with_reasons_and_the_pipeline_keeps_going() {
    let (broker, redis) = (Broker::start(), RedisServer::start());
    // Only the input topic: tansu does not create topics on first write, so the host must
    // create the dead-letter topics itself or the first reject would stall it.
    kafka::create_topics(&broker.brokers(), &[("mixed", 2)]).unwrap();
    let good = generated_records(40, 9);
    let truncated: Vec<u8> = good[0].split(|b| *b == b'\t').take(50).collect::<Vec<_>>().join(&b'\t');
    let mut no_shopper: Vec<Vec<u8>> = good[1].split(|b| *b == b'\t').map(<[u8]>::to_vec).collect();
    no_shopper[15].clear();
    no_shopper[17].clear();
    no_shopper[12].clear();
    let garbage: Vec<(&str, Vec<u8>)> = vec![
        ("random bytes", vec![0xff, 0x00, 0x13, 0x37, 0xfe, 0x80]),
        ("truncated TSV", truncated),
        ("JSON with wrong types", br#"{"id": 5, "type": "page_view", "timestamp": true, "payload": {}, "enrich": {}, "session": {}}"#.to_vec()),
        ("JSON without ids", br#"{"event_id": null, "collector_tstamp": "2025-03-14T10:00:00Z"}"#.to_vec()),
        ("TSV without a shopper", no_shopper.join(&b'\t')),
        ("empty record", Vec::new()),
    ];
    let mut records: Vec<Vec<u8>> = Vec::new();
    for (i, g) in good.iter().enumerate() {
        records.push(g.clone());
        if let Some((_, bad)) = garbage.get(i) {
            records.push(bad.clone());
        }
    }
    produce(&broker, "mixed", &records);
    let host = Host::start(&kafka_env(&broker, &redis, "mixed", "dlq"), &[]);
    host.wait_health("all records", Duration::from_secs(30), |h| h["records"] == 46);
    let health = host.health();
    assert_eq!(health["rejected"], 6, "{health}");
    let dead = kafka::read_topic(&broker.brokers(), "mixed-dead-letter", 6, Duration::from_secs(20)).unwrap();
    assert_eq!(dead.len(), 6, "{dead:?}");
    for (what, bytes) in &garbage {
        let letter = dead
            .iter()
            .find(|d| d.payload == *bytes)
            .unwrap_or_else(|| panic!("{what} was not dead-lettered"));
        let reason = letter.header(kafka::HEADER_REASON).unwrap_or_default();
        assert!(!reason.is_empty(), "{what}: {letter:?}");
        assert!(letter.header(kafka::HEADER_REASON_CODE).is_some_and(|c| !c.is_empty()));
        assert_eq!(letter.header(kafka::HEADER_TOPIC), Some("mixed"));
        let partition: i32 = letter.header(kafka::HEADER_PARTITION).unwrap().parse().unwrap();
        let offset: i64 = letter.header(kafka::HEADER_OFFSET).unwrap().parse().unwrap();
        assert!((0..2).contains(&partition) && offset >= 0, "{letter:?}");
        eprintln!("{what}: {reason}");
    }
    // The good records went on through: their features are in Redis.
    assert_redis_holds(&redis, &expected(&good), &host, Duration::from_secs(30));
    let (_, metrics) = host.get("/metrics");
    assert!(metrics.contains("live_shopper_rejected_total{reason="), "{metrics}");
    let log = host.stop();
    assert!(log.contains("6 rejected"), "{log}");
    assert!(log.contains("created the missing topics the host writes to"), "{log}");
    assert!(log.contains("mixed-dead-letter") && log.contains("live-shopper-plugin-dead-letter"), "{log}");
}

#[test]
fn a_restart_resumes_from_the_changelog_and_skips_records_it_already_processed() {
    let (broker, redis) = (Broker::start(), RedisServer::start());
    setup(&broker, "resume", 2);
    let mut env = kafka_env(&broker, &redis, "resume", "resume");
    env.push(ahead_of_the_clock());

    let first = generated_records(1_500, 21);
    produce(&broker, "resume", &first);
    let host = Host::start(&env, &[]);
    host.wait_health("the first run", Duration::from_secs(30), |h| h["records"] == 1_500);
    let log = host.stop();
    assert!(log.contains("created the state topics (changelog, repartition)"), "{log}");
    let changelog =
        kafka::read_topic(&broker.brokers(), "resume-changelog", 1, Duration::from_secs(10)).unwrap();
    assert!(!changelog.is_empty(), "the changelog holds the state");

    // A producer retry sends 500 records again; 700 new ones (stamped now, so not late) follow.
    let config =
        GeneratorConfig { shoppers: 50, events: 700, seed: 22, start_ms: live_shopper::clock::wall_ms() };
    let mut line = String::new();
    let fresh: Vec<Vec<u8>> = Generator::new(config)
        .map(|e| {
            line.clear();
            write_enriched_tsv(&e, &mut line);
            line.as_bytes().to_vec()
        })
        .collect();
    let again: Vec<Vec<u8>> = first[..500].iter().chain(&fresh).cloned().collect();
    produce(&broker, "resume", &again);
    let host = Host::start(&env, &[]);
    host.wait_health("the second run", Duration::from_secs(30), |h| h["records"] == 1_200);
    let health = host.health();
    assert_eq!(health["duplicates"], 500, "dedup memory survived the restart in the changelog: {health}");
    assert_eq!(health["events"].as_u64(), Some(700), "{health}");
    let log = host.stop();
    assert!(log.contains("partition state restored from the changelog"), "{log}");
    let committed = kafka::committed_offsets(&broker.brokers(), "resume", "resume", 2).unwrap();
    assert_eq!(committed.iter().map(|o| o.unwrap_or(0)).sum::<i64>(), 2_700, "{committed:?}");
}

/// Kafka steps are whatever the consumer had ready, so what Redis ends up holding must not depend
/// on the step size. (It once did: product and cart share a hash, and within one step a plugin
/// could fire an earlier tick after the other fired a later one, moving `updated_at` back.)
#[test]
fn the_stored_hashes_do_not_depend_on_the_step_size() {
    let records = generated_records(12_000, 5);
    let run = |batch: usize| {
        let operators: Vec<Box<dyn Operator>> =
            native::default_set().into_iter().map(|o| Box::new(o) as Box<dyn Operator>).collect();
        let mut engine = Engine::new(EngineConfig::default(), operators);
        let mut pending = PendingWrites::default();
        let events: Vec<_> = records.iter().map(|r| decode_record(r).unwrap()).collect();
        for chunk in events.chunks(batch) {
            engine.process(chunk, &mut pending);
        }
        engine.advance_idle(live_shopper::clock::wall_ms(), &mut pending);
        pending
            .hashes
            .into_iter()
            .map(|(k, h)| (k, h.fields.into_iter().collect::<BTreeMap<_, _>>()))
            .collect::<BTreeMap<_, _>>()
    };
    let a = run(1);
    let b = run(5000);
    let diffs: Vec<_> =
        a.iter().filter(|(k, v)| b.get(*k) != Some(v)).map(|(k, v)| (k, v, b.get(k))).collect();
    assert!(diffs.is_empty(), "{} of {} hashes differ, e.g. {:?}", diffs.len(), a.len(), diffs.first());
    assert_eq!(a.len(), b.len());
}

#[test]
fn a_failing_plugin_is_dead_lettered_and_quarantined_while_the_pipeline_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let (broker, redis) = (Broker::start(), RedisServer::start());
    setup(&broker, "plugfail", 1);
    kafka::create_topics(&broker.brokers(), &[("plugfail-plugins", 1)]).unwrap();
    let plugins = dir.path().join("plugins");
    std::fs::create_dir(&plugins).unwrap();
    std::fs::write(plugins.join("trap.wasm"), crate::common::guest_wasm("trap")).unwrap();
    let config = dir.path().join("ls.toml");
    std::fs::write(
        &config,
        "[kafka]\nplugin_dead_letter_topic = \"plugfail-plugins\"\n[plugins]\nquarantine_after_failures = 3\n",
    )
    .unwrap();
    let env = kafka_env(&broker, &redis, "plugfail", "plugfail");
    let host =
        Host::start(&env, &["--config", config.to_str().unwrap(), "--plugins", plugins.to_str().unwrap()]);
    let records = generated_records(50, 31);
    // Five rounds, so the plugin is called (and fails) at least once per round until quarantined.
    for (round, chunk) in records.chunks(10).enumerate() {
        produce(&broker, "plugfail", chunk);
        let done = (round as u64 + 1) * 10;
        host.wait_health("the round", Duration::from_secs(20), |h| h["records"].as_u64() >= Some(done));
    }
    let (_, body) = host.get("/plugins");
    let plugins: serde_json::Value = serde_json::from_str(&body).unwrap();
    let trap = &plugins[0];
    assert_eq!(trap["name"], "trap");
    assert_eq!(trap["status"], "quarantined", "{trap}");
    assert_eq!(trap["failures"], 3, "{trap}");
    assert!(trap["skipped"].as_u64() > Some(0), "{trap}");

    let letters =
        kafka::read_topic(&broker.brokers(), "plugfail-plugins", 3, Duration::from_secs(20)).unwrap();
    assert_eq!(letters.len(), 3);
    let mut ids = 0;
    for (i, letter) in letters.iter().enumerate() {
        let body: serde_json::Value = serde_json::from_slice(&letter.payload).unwrap();
        assert_eq!(
            (body["plugin"].as_str(), body["version"].as_str(), body["kind"].as_str()),
            (Some("trap"), Some("0.0.1"), Some("trap"))
        );
        assert!(body["reason"].as_str().unwrap().contains("trap plugin always fails"), "{body}");
        assert_eq!(body["quarantined"], i == 2, "{body}");
        ids += body["event_ids"].as_array().unwrap().len();
        assert_eq!(letter.header("live-shopper-plugin"), Some("trap"));
    }
    assert!(ids >= 3, "the failed batches name their events");
    // The last round's offsets are committed once its writes are acknowledged, while the
    // partition is idle: no later record is needed to carry them.
    let committed = || kafka::committed_offsets(&broker.brokers(), "plugfail", "plugfail", 1).unwrap();
    let started = Instant::now();
    while committed() != [Some(50)] {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "offsets stuck at {:?}\n{}",
            committed(),
            host.stderr()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    host.stop();
}

/// The flash-sale fixture's events as Snowplow enriched TSV, in event-time order.
fn flash_sale_records() -> Vec<Vec<u8>> {
    let fixture = crate::common::repo_root().join("plugins/flash-sale/fixtures/basic.input.jsonl");
    let mut line = String::new();
    std::fs::read_to_string(fixture)
        .unwrap()
        .lines()
        .map(|l| {
            line.clear();
            write_enriched_tsv(&decode_record(l.as_bytes()).unwrap(), &mut line);
            line.as_bytes().to_vec()
        })
        .collect()
}

#[test]
fn a_flash_sale_through_kafka_alerts_on_the_signal_topic_and_writes_its_product_hash() {
    let broker = Broker::start();
    let redis = RedisServer::start();
    let records = flash_sale_records();
    setup(&broker, "sale", 2);
    produce(&broker, "sale", &records);
    let host = Host::start(&kafka_env(&broker, &redis, "sale", "flash"), &[]);

    // The product's hash reaches its last window (ending 10:15), with its TTL.
    let started = Instant::now();
    let mut c = redis.connection().unwrap();
    loop {
        let hash: HashMap<String, String> =
            redis::cmd("HGETALL").arg("product:p1:features:10min").query(&mut c).unwrap();
        if hash.get("window_end").map(String::as_str) == Some("2025-03-14T10:15:00.000Z") {
            assert_eq!((hash["views_10min"].as_str(), hash["purchases_10min"].as_str()), ("44", "2"));
            let ttl: i64 = redis::cmd("PTTL").arg("product:p1:features:10min").query(&mut c).unwrap();
            assert!(ttl > 0 && ttl <= 20 * 60_000, "{ttl}");
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "{hash:?}\n{}", host.stderr());
        std::thread::sleep(Duration::from_millis(100));
    }
    // After a clean stop every signal is in its topic: the one alert, of the window ending 10:10.
    let log = host.stop();
    let alerts =
        kafka::read_topic(&broker.brokers(), "live-shopper-signals", 2, Duration::from_secs(15)).unwrap();
    assert_eq!(alerts.len(), 1, "one alert: the other windows have too few views\n{log}");
    let alert: serde_json::Value = serde_json::from_slice(&alerts[0].payload).unwrap();
    assert_eq!(
        (alert["signal"].as_str(), alert["plugin"].as_str()),
        (Some("flash_sale_alert"), Some("flash-sale"))
    );
    assert_eq!(alert["key"], "p1");
    assert_eq!(alerts[0].key.as_deref(), Some(&b"p1"[..]), "keyed by the signal's key");
    assert_eq!(
        (alert["fields"]["views_10min"].as_u64(), alert["fields"]["purchases_10min"].as_u64()),
        (Some(104), Some(2))
    );
    assert_eq!(alert["fields"]["window_end"], "2025-03-14T10:10:00.000Z");
}
