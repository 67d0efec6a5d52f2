//! Hostile input through the real stack (tansu, redis-server, the `run` binary): records that
//! must not poison the host for everyone else, writes Redis refuses for good, and a stall that
//! `/healthz` must report.

use crate::expected::{assert_redis_holds, assert_redis_holds_where, expected, expected_with};
use crate::kafka::{generated_records, kafka_env, produce, setup};
use crate::services::{Broker, Host, RedisServer};
use live_shopper::decode::decode_record;
use live_shopper::source::generator::{tsv::write_enriched_tsv, Generator, GeneratorConfig};
use live_shopper::source::kafka::{self, KafkaProducer};
use std::time::Duration;

const PARTITIONS: i32 = 3;

/// A year-9999 copy of `record` with a fresh id.
fn from_the_year_9999(record: &[u8], n: usize) -> Vec<u8> {
    let mut event = decode_record(record).unwrap();
    event.event_time = 253_402_300_799_000;
    event.event_id = format!("99999999-9999-4999-8999-{n:012}");
    let mut line = String::new();
    write_enriched_tsv(&event, &mut line);
    assert_eq!(decode_record(line.as_bytes()).unwrap().event_time, event.event_time);
    line.into_bytes()
}

#[test]
fn a_year_9999_event_on_every_partition_is_dead_lettered_and_later_events_are_taken_also_after_a_restart() {
    let (broker, redis) = (Broker::start(), RedisServer::start());
    setup(&broker, "future", PARTITIONS);
    let first = &generated_records(600, 41)[..];
    let producer = KafkaProducer::new(&broker.brokers()).unwrap();
    for p in 0..PARTITIONS {
        let forged = from_the_year_9999(&first[p as usize], p as usize);
        producer.send_to("future", p, format!("forger-{p}").as_bytes(), &forged).unwrap();
    }
    producer.flush(Duration::from_secs(30)).unwrap();
    produce(&broker, "future", first);

    let env = kafka_env(&broker, &redis, "future", "future");
    let host = Host::start(&env, &[]);
    let total = PARTITIONS as u64 + first.len() as u64;
    host.wait_health("every record", Duration::from_secs(30), |h| h["records"].as_u64() == Some(total));
    let health = host.health();
    assert_eq!(health["rejected_by_reason"]["time_out_of_range"], PARTITIONS, "{health}");
    assert!(health["watermark"].as_i64() < Some(2_000_000_000_000), "the watermark did not jump: {health}");
    // Features are those of the ordinary records alone: no window decayed, no event late.
    assert_redis_holds(&redis, &expected(first), &host, Duration::from_secs(30));
    let letters = kafka::read_topic(
        &broker.brokers(),
        "future-dead-letter",
        PARTITIONS as usize,
        Duration::from_secs(20),
    )
    .unwrap();
    assert_eq!(letters.len(), PARTITIONS as usize);
    for letter in &letters {
        assert_eq!(letter.header(kafka::HEADER_REASON_CODE), Some("time_out_of_range"), "{letter:?}");
        assert!(letter.header(kafka::HEADER_REASON).unwrap().contains("engine.max_future_ms"), "{letter:?}");
    }
    host.stop();

    // A restart restores the changelog's watermarks, which the forged events never moved:
    // events stamped in the last minutes (within the shortest window, flash-sale's 10 minutes)
    // are taken, not late. (The first run's records are from 2025
    // and its idle partitions followed the clock, so more of those would be late by design.)
    let now = live_shopper::clock::wall_ms();
    let config = GeneratorConfig { shoppers: 50, events: 400, seed: 45, start_ms: now - 8 * 60_000 };
    let mut line = String::new();
    let fresh: Vec<Vec<u8>> = Generator::new(config)
        .filter(|e| e.event_time <= now - 10_000)
        .map(|e| {
            line.clear();
            write_enriched_tsv(&e, &mut line);
            line.as_bytes().to_vec()
        })
        .collect();
    assert!(fresh.len() > 30, "{}", fresh.len());
    produce(&broker, "future", &fresh);
    let host = Host::start(&env, &[]);
    host.wait_health("the fresh records", Duration::from_secs(30), |h| {
        h["records"].as_u64() == Some(fresh.len() as u64)
    });
    let health = host.health();
    assert_eq!(health["rejected"], 0, "the forged records were committed with the first run: {health}");
    let late: u64 = serde_json::from_str::<serde_json::Value>(&host.get("/plugins").1)
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["late"].as_u64().unwrap())
        .sum();
    assert_eq!(late, 0, "no fresh event is late");
    // The hashes that stay put while the test looks: shopper-keyed ones (product-keyed ones
    // wait in the repartition topic for the watermark), and not the 5-minute windows, which
    // decay tick by tick as the clock moves on.
    let all: Vec<Vec<u8>> = first.iter().chain(&fresh).cloned().collect();
    let shopper_keyed = ["product", "cart", "session", "purchase", "context"];
    let keep = |key: &str| !key.starts_with("product:") && !key.ends_with("5min");
    assert_redis_holds_where(
        &redis,
        &expected_with(&all, &shopper_keyed),
        Duration::from_secs(30),
        keep,
        || host.stderr(),
    );
    host.stop();
}

#[test]
fn a_hash_redis_refuses_for_good_is_dead_lettered_the_rest_written_and_an_oversized_reject_cut() {
    let (broker, redis) = (Broker::start(), RedisServer::start());
    setup(&broker, "refused", 1);
    let records = generated_records(300, 43);
    let shopper = decode_record(&records[0]).unwrap().shopper_id;
    let poisoned = format!("user:{shopper}:features:5min");
    let mut c = redis.connection().unwrap();
    redis::cmd("SET")
        .arg(&poisoned)
        .arg("a string where a plugin writes a hash")
        .query::<()>(&mut c)
        .unwrap();
    let oversized = vec![b'x'; 700 << 10];
    let mut all = records.clone();
    all.push(oversized.clone());
    produce(&broker, "refused", &all);

    let host = Host::start(&kafka_env(&broker, &redis, "refused", "refused"), &[]);
    host.wait_health("every record", Duration::from_secs(30), |h| h["records"] == 301);
    let committed = || kafka::committed_offsets(&broker.brokers(), "refused", "refused", 1).unwrap();
    let started = std::time::Instant::now();
    while committed() != [Some(301)] {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "stalled at {:?}\n{}",
            committed(),
            host.stderr()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let health = host.health();
    assert!(health["store_refusals"].as_u64() >= Some(1), "{health}");
    let last = health["last_store_refusal"].as_str().unwrap_or_default();
    assert!(last.starts_with(&poisoned) && last.contains("WRONGTYPE"), "{health}");

    let letters =
        kafka::read_topic(&broker.brokers(), "live-shopper-plugin-dead-letter", 1, Duration::from_secs(20))
            .unwrap();
    let letter = letters
        .iter()
        .find(|l| l.key.as_deref() == Some(poisoned.as_bytes()))
        .expect("the refused hash's dead letter");
    let body: serde_json::Value = serde_json::from_slice(&letter.payload).unwrap();
    assert_eq!(body["kind"], "store_refused", "{body}");
    assert!(body["plugins"].as_array().unwrap().iter().any(|p| p == "product"), "{body}");
    assert!(body["reason"].as_str().unwrap().contains("WRONGTYPE"), "{body}");

    // The oversized reject was cut to fit, keeping its reason and original size.
    let rejects =
        kafka::read_topic(&broker.brokers(), "refused-dead-letter", 1, Duration::from_secs(20)).unwrap();
    assert_eq!(rejects.len(), 1);
    assert_eq!(rejects[0].payload.len(), kafka::MAX_DEAD_LETTER_BYTES);
    assert_eq!(rejects[0].header(kafka::HEADER_ORIGINAL_SIZE), Some((700 << 10).to_string().as_str()));
    assert_eq!(rejects[0].header(kafka::HEADER_REASON_CODE), Some("unknown_format"));

    // Every other hash was written.
    redis::cmd("DEL").arg(&poisoned).query::<()>(&mut c).unwrap();
    let keep = |key: &str| key != poisoned;
    assert_redis_holds_where(&redis, &expected(&records), Duration::from_secs(30), keep, || host.stderr());
    host.stop();
}

#[test]
fn healthz_answers_503_while_redis_is_down_past_the_stall_threshold_and_200_once_it_is_back() {
    let dir = tempfile::tempdir().unwrap();
    let (broker, mut redis) = (Broker::start(), RedisServer::start_persistent(dir.path()));
    setup(&broker, "stall", 1);
    let config = dir.path().join("ls.toml");
    std::fs::write(&config, "[pipeline]\nstall_after_ms = 1000\n").unwrap();
    let host =
        Host::start(&kafka_env(&broker, &redis, "stall", "stall"), &["--config", config.to_str().unwrap()]);
    let records = generated_records(400, 44);
    produce(&broker, "stall", &records[..200]);
    host.wait_health("the first records", Duration::from_secs(30), |h| h["records"] == 200);
    let (code, body) = host.get("/healthz");
    assert_eq!(code, 200, "{body}");

    redis.kill();
    produce(&broker, "stall", &records[200..]);
    let wait_for = |want: u16, what: &str| {
        let started = std::time::Instant::now();
        loop {
            let (code, body) = host.get("/healthz");
            if code == want {
                return body;
            }
            assert!(started.elapsed() < Duration::from_secs(30), "{what}: {code} {body}\n{}", host.stderr());
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    let body = wait_for(503, "stalled while Redis is down");
    let health: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(health["status"], "stalled", "{health}");
    let reasons = health["stalled"].to_string();
    assert!(reasons.contains("store write") || reasons.contains("turn"), "{health}");

    redis.restart();
    wait_for(200, "live once Redis is back");
    host.wait_health("every record", Duration::from_secs(30), |h| h["records"] == 400);
    host.stop();
}
