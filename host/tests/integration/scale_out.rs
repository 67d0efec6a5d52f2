//! State that survives the machine and follows its partition: hosts killed with SIGKILL at
//! random moments, several hosts in one group joining and leaving, a host with an empty disk,
//! and a start refused when the group has offsets but the changelog has no state. Real tansu,
//! real redis-server, real host processes; Redis must end up holding exactly what one
//! uninterrupted engine computes over the same records.

use crate::expected::{assert_redis_holds_where, expected, expected_of, Expected};
use crate::kafka::{ahead_of_the_clock, generated_records, kafka_env, setup};
use crate::redis_monitor::{log_time_us, without_colours, HashWrite, Monitor};
use crate::services::{Broker, Host, RedisServer};
use live_shopper::decode::decode_record;
use live_shopper::engine::emission::{Emission, EmissionSink, Signal, Tee};
use live_shopper::engine::{Engine, EngineConfig, Operator};
use live_shopper::plugin::native;
use live_shopper::sink::PendingWrites;
use live_shopper::source::generator::{tsv::write_enriched_tsv, Generator, GeneratorConfig};
use live_shopper::source::kafka::{self, KafkaProducer};
use std::collections::BTreeMap;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

const PARTITIONS: i32 = 6;

/// A stream of records, each with the partition it goes to. Event times start a day from now, so
/// a host whose partitions idle (their watermark then follows the wall clock) never makes a
/// later record late: what Redis ends with does not depend on when hosts come and go. The stream
/// ends with one sentinel per partition a day after its last event, which moves every
/// partition's watermark past every timer: the final hashes are then those of one run.
struct Stream {
    records: Vec<(i32, Vec<u8>)>,
}

impl Stream {
    fn generated(events: u64, seed: u64) -> Stream {
        let start_ms = live_shopper::clock::wall_ms() + 86_400_000;
        let config = GeneratorConfig { shoppers: 200, events, seed, start_ms };
        let mut line = String::new();
        let mut last = start_ms;
        let mut records: Vec<(i32, Vec<u8>)> = Generator::new(config)
            .map(|e| {
                line.clear();
                write_enriched_tsv(&e, &mut line);
                last = last.max(e.event_time);
                (partition_of(&e.shopper_id), line.as_bytes().to_vec())
            })
            .collect();
        // A sentinel feeds no plugin keyed by product: an event forwarded to the repartition
        // topic waits there until every input partition's watermark passes it, which nothing
        // after the last sentinel does (one engine takes it at once).
        let sentinels =
            GeneratorConfig { shoppers: 60, events: 600, seed: seed + 1, start_ms: last + 86_400_000 };
        let mut engine = Engine::new(EngineConfig::default(), operators());
        engine.repartition();
        let mut through = Vec::new();
        let mut sentinel_partitions = std::collections::BTreeSet::new();
        for e in Generator::new(sentinels) {
            through.clear();
            engine.through_keys(&e, &mut through);
            let p = partition_of(&e.shopper_id);
            if through.is_empty() && sentinel_partitions.insert(p) {
                line.clear();
                write_enriched_tsv(&e, &mut line);
                records.push((p, line.as_bytes().to_vec()));
            }
        }
        assert_eq!(sentinel_partitions.len(), PARTITIONS as usize, "a sentinel for every partition");
        Stream { records }
    }

    /// What one engine computes over the stream with the same partitions, and its signals' ids.
    fn expected(&self) -> (Expected, Vec<String>) {
        let mut engine = Engine::new(EngineConfig::default(), operators());
        let (mut pending, mut ids) = (PendingWrites::default(), SignalIds::default());
        for (p, r) in &self.records {
            if let Ok(event) = decode_record(r) {
                engine.process_partitions(&[(*p as u32, &[event][..])], &mut Tee(&mut pending, &mut ids));
            }
        }
        (expected_of(pending), ids.0)
    }
}

/// The plugins the hosts of these tests run, natively: the default set, flash-sale alerting often.
fn operators() -> Vec<Box<dyn Operator>> {
    native::default_set()
        .into_iter()
        .map(|o| match o.descriptor().name.as_str() {
            "flash-sale" => Box::new(alerting_flash_sale()) as Box<dyn Operator>,
            _ => Box::new(o) as Box<dyn Operator>,
        })
        .collect()
}

/// The flash-sale plugin with the settings the hosts of these tests get ([`ALERT_ON_ANYTHING`]):
/// it alerts often on generated traffic.
fn alerting_flash_sale() -> native::NativeOperator {
    let settings = ALERT_ON_ANYTHING.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    native::NativeOperator::of::<live_shopper_plugin_flash_sale::Plugin>().with_settings(settings)
}

/// Flash-sale settings that make it alert on generated traffic: (setting, value).
const ALERT_ON_ANYTHING: [(&str, &str); 2] = [("min_views", "1"), ("max_purchases", "1000")];

/// The environment giving the hosts' flash-sale plugin [`ALERT_ON_ANYTHING`].
fn alerting_env() -> Vec<(&'static str, String)> {
    vec![
        ("LIVE_SHOPPER_PLUGIN_FLASH_SALE__SETTING_MIN_VIEWS", ALERT_ON_ANYTHING[0].1.to_string()),
        ("LIVE_SHOPPER_PLUGIN_FLASH_SALE__SETTING_MAX_PURCHASES", ALERT_ON_ANYTHING[1].1.to_string()),
    ]
}

/// The partition of a shopper's records: the test's own partitioner (a shopper's records on
/// one partition, as Snowplow's keyed topics have them).
fn partition_of(shopper: &str) -> i32 {
    (shopper.bytes().fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(b as u32)) % PARTITIONS as u32) as i32
}

/// Produces `records` in slices of `slice`, each once the group has committed all but two
/// slices of what came before, so the stream goes on while hosts come and go (and waits while
/// none runs). Returns when all are out.
fn produce_over_time(
    broker: &Broker,
    topic: &str,
    records: Vec<(i32, Vec<u8>)>,
    slice: usize,
) -> JoinHandle<()> {
    let (brokers, topic) = (broker.brokers(), topic.to_string());
    std::thread::spawn(move || {
        let producer = KafkaProducer::new(&brokers).unwrap();
        let mut sent = 0;
        for chunk in records.chunks(slice) {
            let started = Instant::now();
            while committed_at(&brokers, &topic, &topic) < sent as i64 - 2 * slice as i64 {
                assert!(started.elapsed() < Duration::from_secs(300), "the consumers stopped consuming");
                std::thread::sleep(Duration::from_millis(50));
            }
            produce_to(&producer, &topic, chunk);
            sent += chunk.len();
        }
    })
}

/// Produces `records` to their partitions and waits for their delivery.
fn produce_to(producer: &KafkaProducer, topic: &str, records: &[(i32, Vec<u8>)]) {
    for (p, r) in records {
        producer.send_to(topic, *p, &p.to_be_bytes(), r).unwrap();
    }
    producer.flush(Duration::from_secs(30)).unwrap();
}

/// The sum of `group`'s committed offsets over `topic`'s partitions, on `brokers`.
fn committed_at(brokers: &str, group: &str, topic: &str) -> i64 {
    kafka::committed_offsets(brokers, group, topic, PARTITIONS).unwrap().iter().map(|o| o.unwrap_or(0)).sum()
}

/// The sum of the group's committed offsets over the topic's partitions.
fn committed(broker: &Broker, group: &str, topic: &str) -> i64 {
    committed_at(&broker.brokers(), group, topic)
}

/// Waits until the group has committed every one of `total` records.
fn wait_committed(broker: &Broker, group: &str, topic: &str, total: i64, log: impl Fn() -> String) {
    let started = Instant::now();
    while committed(broker, group, topic) < total {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "not all {total} records committed:\n{}",
            log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The ids of the signals an engine emits.
#[derive(Default)]
struct SignalIds(Vec<String>);

impl EmissionSink for SignalIds {
    fn emit(&mut self, _: &Emission<'_>) {}
    fn signal(&mut self, s: &Signal<'_>) {
        let mut line = String::new();
        live_shopper::signals::format_signal(s, &mut line);
        let json: serde_json::Value = serde_json::from_str(&line).unwrap();
        self.0.push(json["id"].as_str().unwrap().to_string());
    }
}

/// Every signal id in the signal topic, with how often it came: the whole topic.
fn signal_ids_in_topic(broker: &Broker) -> BTreeMap<String, usize> {
    let records =
        kafka::read_topic_to_end(&broker.brokers(), "live-shopper-signals", 1, Duration::from_secs(30))
            .unwrap();
    let mut ids = BTreeMap::new();
    for r in records {
        let json: serde_json::Value = serde_json::from_slice(&r.payload).unwrap();
        *ids.entry(json["id"].as_str().unwrap().to_string()).or_insert(0) += 1;
    }
    ids
}

/// A small deterministic generator of "random" moments (no dependency needed).
struct Moments(u64);

impl Moments {
    fn next_in(&mut self, low: u64, high: u64) -> u64 {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        low + (self.0 >> 33) % (high - low)
    }
}

#[test]
fn kill_nine_at_random_moments_ten_times_ends_with_the_hashes_of_one_uninterrupted_run() {
    let (broker, redis) = (Broker::start(), RedisServer::start());
    setup(&broker, "kill9", PARTITIONS);
    // The restarted host takes its own place in the group again (static membership).
    let mut env = kafka_env(&broker, &redis, "kill9", "kill9");
    env.push(("LIVE_SHOPPER_KAFKA_GROUP_INSTANCE_ID", "kill9-host".to_string()));
    env.extend(alerting_env());
    env.push(ahead_of_the_clock());
    let stream = Stream::generated(50_000, 77);
    let total = stream.records.len() as i64;
    let producer = produce_over_time(&broker, "kill9", stream.records.clone(), 2_000);

    let mut moments = Moments(2024);
    let mut logs = String::new();
    for kill in 1..=10 {
        let host = Host::start(&env, &[]);
        // A random moment: once this run has taken some records and the group's progress has
        // passed a random point of the kill's share of the stream.
        let at = kill * 4_000 + moments.next_in(0, 2_000) as i64;
        let started = Instant::now();
        while committed(&broker, "kill9", "kill9") < at {
            assert!(started.elapsed() < Duration::from_secs(60), "kill {kill} at {at}:\n{}", host.stderr());
            std::thread::sleep(Duration::from_millis(20));
        }
        host.wait_health(&format!("kill {kill}: a record taken"), Duration::from_secs(60), |h| {
            h["records"].as_u64() > Some(0)
        });
        logs.push_str(&host.kill9());
    }
    // The last run drains the rest of the stream (the producer waits for it).
    let host = Host::start(&env, &[]);
    host.wait_health("the last run owns every partition", Duration::from_secs(60), |h| owned_count(h) == 6);
    producer.join().unwrap();
    wait_committed(&broker, "kill9", "kill9", total, || host.stderr());
    let (want, signals) = stream.expected();
    assert_redis_holds_where(&redis, &want, Duration::from_secs(60), every_hash, || {
        format!("{logs}\n--- last run ---\n{}", host.stderr())
    });
    let log = host.stop();
    assert!(log.contains("partition state restored from the changelog"), "{log}");
    assert_signals_of_one_run(&broker, &signals);
}

/// Every hash: shopper, session and product (the repartition topic's keys) alike.
fn every_hash(_: &str) -> bool {
    true
}

/// The signal topic holds exactly the signals one uninterrupted run emits, by id. A kill between
/// a signal's delivery and its step's changelog records sends it again, with the same id
/// (docs/ARCHITECTURE.md): consumers drop repeats by id, so repeats are reported, not failed.
fn assert_signals_of_one_run(broker: &Broker, signals: &[String]) {
    assert!(!signals.is_empty(), "the generated stream makes the flash-sale plugin alert");
    let got = signal_ids_in_topic(broker);
    let want: std::collections::BTreeSet<&str> = signals.iter().map(String::as_str).collect();
    let have: std::collections::BTreeSet<&str> = got.keys().map(String::as_str).collect();
    assert_eq!(want.len(), signals.len(), "one run names each signal once");
    let lost: Vec<_> = want.difference(&have).collect();
    let foreign: Vec<_> = have.difference(&want).collect();
    assert!(
        lost.is_empty() && foreign.is_empty(),
        "{} signals in one run, {} in the topic; lost {lost:?}; not of one run {foreign:?}",
        want.len(),
        have.len()
    );
    let repeated = got.values().filter(|n| **n > 1).count();
    eprintln!("{} signals, as one run; {repeated} delivered more than once (same id)", got.len());
}

/// The input partitions a host owns, from its `/healthz`.
fn owned(host: &Host) -> usize {
    owned_count(&host.health()) as usize
}

#[test]
fn three_hosts_joining_and_leaving_one_group_end_with_the_hashes_of_one_host() {
    let (broker, redis) = (Broker::start(), RedisServer::start());
    let monitor = Monitor::start(&redis);
    setup(&broker, "three", PARTITIONS);
    let mut env = kafka_env(&broker, &redis, "three", "three");
    env.extend(alerting_env());
    env.push(ahead_of_the_clock());
    let stream = Stream::generated(30_000, 78);
    let slices: Vec<&[(i32, Vec<u8>)]> = stream.records.chunks(5_001).collect();
    let producer = KafkaProducer::new(&broker.brokers()).unwrap();
    let produce = |slice: &[(i32, Vec<u8>)]| produce_to(&producer, "three", slice);
    let wait = Duration::from_secs(60);

    let a = Host::start(&env, &[]);
    produce(slices[0]);
    a.wait_health("host A takes the first records", wait, |h| h["records"].as_u64() >= Some(2_000));
    let b = Host::start(&env, &[]);
    let b_pid = b.pid();
    b.wait_health("host B owns partitions", wait, |h| {
        h["partitions"].as_array().is_some_and(|p| !p.is_empty())
    });
    produce(slices[1]);
    let c = Host::start(&env, &[]);
    c.wait_health("host C owns partitions", wait, |h| {
        h["partitions"].as_array().is_some_and(|p| !p.is_empty())
    });
    produce(slices[2]);
    b.wait_health("host B consumes", wait, |h| h["records"].as_u64() > Some(0));
    c.wait_health("host C consumes", wait, |h| h["records"].as_u64() > Some(0));
    let started = Instant::now();
    // Input and repartition partitions are balanced together: a host may own only one kind.
    let all = |h: &Host| h.health()["partitions"].as_array().map_or(0, Vec::len);
    while owned(&a) + owned(&b) + owned(&c) != PARTITIONS as usize || all(&a) + all(&b) + all(&c) != 12 {
        assert!(started.elapsed() < wait, "the twelve partitions did not settle on the three hosts");
        std::thread::sleep(Duration::from_millis(100));
    }

    // B leaves cleanly (SIGTERM) while records arrive; C dies (SIGKILL) a little later.
    produce(slices[3]);
    let b_log = b.terminate();
    let mut logs = b_log.clone();
    let started = Instant::now();
    while owned(&a) + owned(&c) != PARTITIONS as usize {
        assert!(
            started.elapsed() < wait,
            "A and C did not take over B's partitions:\n{logs}\n{}",
            c.stderr()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    produce(slices[4]);
    logs.push_str(&c.kill9());
    produce(slices[5]);
    a.wait_health("host A owns every partition", wait, |h| owned_count(h) == 6);
    wait_committed(&broker, "three", "three", stream.records.len() as i64, || {
        format!("{logs}\n{}", a.stderr())
    });
    let (want, signals) = stream.expected();
    assert_redis_holds_where(&redis, &want, Duration::from_secs(90), every_hash, || {
        format!("{logs}\n--- host A ---\n{}", a.stderr())
    });
    assert_signals_of_one_run(&broker, &signals);
    let log = a.stop();
    assert!(
        logs.contains("partition handed over; its state dropped here"),
        "B handed its partitions back: {logs}"
    );
    assert!(log.contains("partition state restored from the changelog"), "{log}");
    monitor.catch_up(&redis);
    assert_no_write_after_hand_over(&monitor.hash_writes(), b_pid, &b_log, &stream);
}

/// No hash write from host `pid` (its log `log`) reached Redis for a partition after a revoke of
/// that partition completed there, until it was assigned again: the input partition of a
/// shopper's or a session's hash, the repartition topic's partition of a product's.
fn assert_no_write_after_hand_over(writes: &[HashWrite], pid: u32, log: &str, stream: &Stream) {
    // (time, topic, partition, owned from then on), in log order.
    let mut moves: Vec<(i64, String, i32, bool)> = Vec::new();
    for line in without_colours(log).lines() {
        let owned = if line.contains("partition handed over; its state dropped here") {
            false
        } else if line.contains("partition state restored from the changelog") {
            true
        } else {
            continue;
        };
        let field =
            |name: &str| line.split_whitespace().find_map(|w| w.strip_prefix(name)).map(str::to_string);
        let (Some(at), Some(topic), Some(partition)) =
            (log_time_us(line), field("topic="), field("partition="))
        else {
            panic!("unparsed: {line}")
        };
        moves.push((at, topic, partition.parse().unwrap(), owned));
    }
    assert!(moves.iter().any(|m| !m.3), "host {pid} handed partitions over");
    let mut shopper_of_session = BTreeMap::new();
    for (_, r) in &stream.records {
        if let Ok(e) = decode_record(r) {
            if let Some(session) = e.session_id {
                shopper_of_session.insert(session, e.shopper_id);
            }
        }
    }
    let name = format!("live-shopper-{pid}");
    let (mut checked, mut after_hand_over) = (0, 0);
    for w in writes.iter().filter(|w| w.client.as_deref() == Some(name.as_str())) {
        let mut parts = w.key.split(':');
        let (kind, id) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        let owner = match kind {
            "user" => ("three".to_string(), partition_of(id)),
            "session" => ("three".to_string(), partition_of(&shopper_of_session[id])),
            "product" => {
                ("three-repartition".to_string(), kafka::through_partition("product", id, PARTITIONS))
            }
            other => panic!("a hash of an unexpected kind {other:?}: {}", w.key),
        };
        checked += 1;
        let last =
            moves.iter().rev().find(|m| m.0 < w.at_us && (m.1.as_str(), m.2) == (owner.0.as_str(), owner.1));
        if moves.iter().any(|m| !m.3 && m.0 < w.at_us) {
            after_hand_over += 1;
        }
        assert!(
            last.is_none_or(|m| m.3),
            "host {pid} wrote {} at {} µs, after it handed {}[{}] over at {} µs:\n{}",
            w.key,
            w.at_us,
            owner.0,
            owner.1,
            last.unwrap().0,
            without_colours(log)
        );
    }
    assert!(checked > 0, "host {pid} wrote no hash");
    eprintln!("host {pid}: {checked} hash writes checked, {after_hand_over} after its first hand-over; none for a partition it had handed over");
}

/// How many input partitions a `/healthz` says the host owns (not those of the repartition
/// topic, `<group>-repartition[p]`).
fn owned_count(health: &serde_json::Value) -> u64 {
    let partitions = health["partitions"].as_array().map_or(&[][..], Vec::as_slice);
    partitions.iter().filter(|p| p.as_str().is_some_and(|p| !p.contains("-repartition["))).count() as u64
}

#[test]
fn a_host_with_an_empty_disk_restores_from_the_changelog_and_continues_with_day_and_month_features() {
    let (broker, redis) = (Broker::start(), RedisServer::start());
    setup(&broker, "fresh", PARTITIONS);
    let env = kafka_env(&broker, &redis, "fresh", "fresh");
    let records = generated_records(12_000, 79);
    let (first, rest) = records.split_at(6_000);
    crate::kafka::produce(&broker, "fresh", first);
    let disk = tempfile::tempdir().unwrap();
    // The replacement takes the dead host's place in the group (static membership, as a
    // StatefulSet's pod name would give it).
    let cache = |dir: &std::path::Path| {
        let mut env = env.clone();
        env.push(("XDG_CACHE_HOME", dir.display().to_string()));
        env.push(("LIVE_SHOPPER_KAFKA_GROUP_INSTANCE_ID", "fresh-host-0".to_string()));
        env
    };
    let host = Host::start(&cache(disk.path()), &[]);
    wait_committed(&broker, "fresh", "fresh", first.len() as i64, || host.stderr());
    let first_run = host.kill9();
    drop(disk);

    // Another machine: nothing on its disk, the same group.
    let empty = tempfile::tempdir().unwrap();
    crate::kafka::produce(&broker, "fresh", rest);
    let host = Host::start(&cache(empty.path()), &[]);
    wait_committed(&broker, "fresh", "fresh", records.len() as i64, || host.stderr());
    let want = expected(&records);
    assert!(want.hashes.keys().any(|k| k.ends_with(":features:24hr")), "24 h features are checked");
    assert!(want.hashes.keys().any(|k| k.ends_with(":features:context")), "30-day features are checked");
    assert_redis_holds_where(&redis, &want, Duration::from_secs(60), every_hash, || {
        format!("{first_run}\n--- the replacement ---\n{}", host.stderr())
    });
    host.stop();
}

#[test]
fn a_group_with_offsets_but_no_changelog_state_is_refused_unless_reset() {
    let (broker, redis) = (Broker::start(), RedisServer::start());
    setup(&broker, "lost", 2);
    let records = generated_records(1_000, 80);
    crate::kafka::produce(&broker, "lost", &records);
    let mut env = kafka_env(&broker, &redis, "lost", "lost");
    let host = Host::start(&env, &[]);
    wait_committed_two(&broker, "lost", 1_000, || host.stderr());
    host.stop();

    // The changelog is gone (here: another one is named): starting empty would regress every
    // feature, so the host refuses and says how to proceed.
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("ls.toml");
    std::fs::write(&config, "[kafka]\nchangelog_topic = \"lost-changelog-elsewhere\"\n").unwrap();
    env.push(("RUST_LOG", "warn".to_string()));
    let args = ["--config", config.to_str().unwrap()];
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_live-shopper"))
        .args(["run", "--http-addr", "127.0.0.1:0"])
        .args(args)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("holds no state") && stderr.contains("--reset-state"), "{stderr}");

    let args = ["--config", config.to_str().unwrap(), "--reset-state"];
    let host = Host::start(&env, &args);
    host.wait_health("an empty start owning both partitions", Duration::from_secs(30), |h| {
        owned_count(h) == 2
    });
    let log = host.stop();
    assert!(log.contains("--reset-state: starting this partition empty"), "{log}");
}

/// Waits until the group committed `total` records of the two-partition topic `topic`.
fn wait_committed_two(broker: &Broker, topic: &str, total: i64, log: impl Fn() -> String) {
    let started = Instant::now();
    let sum = || {
        kafka::committed_offsets(&broker.brokers(), topic, topic, 2)
            .unwrap()
            .iter()
            .map(|o| o.unwrap_or(0))
            .sum::<i64>()
    };
    while sum() < total {
        assert!(started.elapsed() < Duration::from_secs(60), "not committed:\n{}", log());
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A whole backlog at once: the host takes each input partition in large batches, one far ahead
/// of the others, yet a product key sees its events in event-time order through the repartition
/// topic, so the flash-sale alerts are exactly one engine's. (Shopper-keyed hashes are not
/// compared here: a backlog batch spanning more than a window is a known limit of the input
/// lane, docs/ARCHITECTURE.md.)
#[test]
fn a_backlog_taken_at_once_alerts_exactly_as_one_engine() {
    let (broker, redis) = (Broker::start(), RedisServer::start());
    setup(&broker, "backlog", PARTITIONS);
    let mut env = kafka_env(&broker, &redis, "backlog", "backlog");
    env.extend(alerting_env());
    env.push(ahead_of_the_clock());
    let stream = Stream::generated(50_000, 77);
    let producer = KafkaProducer::new(&broker.brokers()).unwrap();
    produce_to(&producer, "backlog", &stream.records);
    let host = Host::start(&env, &[]);
    wait_committed(&broker, "backlog", "backlog", stream.records.len() as i64, || host.stderr());
    host.wait_health("every held event released", Duration::from_secs(30), |h| {
        h["through"]["held"] == 0 && h["through"]["events"].as_u64() > Some(0)
    });
    let (_, signals) = stream.expected();
    assert_signals_of_one_run(&broker, &signals);
    host.stop();
}
