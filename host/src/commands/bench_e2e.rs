//! `live-shopper bench-e2e`: the end-to-end benchmark. Generated Snowplow TSV is produced to a
//! Kafka topic, consumed by the same driver `run` uses, computed by the five Wasm plugins and
//! written to Redis; offsets are committed after Redis acknowledges. Two phases:
//! 1. sustained: a backlog of N records is drained as fast as possible → events/s, and events
//!    per CPU-second of this process (the broker and Redis are separate processes);
//! 2. freshness: records produced at a fraction (default 70 %) of the sustained rate, stamped
//!    now → p50/p99/p99.9 of Kafka timestamp → Redis acknowledgement;
//! 3. restore: the sustained phase's changelog read back into a new engine, as a new owner of
//!    every partition would → seconds, and seconds per 100 000 keys.
//!
//! `--no-changelog` runs the driver without its changelog, to measure what the changelog costs.
//!
//! `xtask/bench-e2e` starts a tansu broker and a redis-server on free ports and runs it.

use crate::changelog::Restorer;
use crate::config::{KafkaSettings, StartFrom};
use crate::engine::{Engine, EngineConfig};
use crate::model::Event;
use crate::pipeline::kafka::KafkaDriver;
use crate::pipeline::{Pipeline, PluginFacts, Stop};
use crate::plugin::PluginPolicy;
use crate::plugin::PluginSet;
use crate::sink::RedisSink;
use crate::source::generator::{tsv::write_enriched_tsv, Generator, GeneratorConfig};
use crate::source::kafka::{create_topics, ChangelogTopic, KafkaProducer};
use crate::status::Status;
use anyhow::Context;
use serde_json::json;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

/// Arguments of `live-shopper bench-e2e`.
#[derive(Debug, clap::Args)]
pub struct BenchE2eArgs {
    /// Kafka bootstrap servers (host:port).
    #[arg(long)]
    pub kafka_brokers: String,
    /// Redis URL.
    #[arg(long)]
    pub redis_url: String,
    /// Records in the sustained phase.
    #[arg(long, default_value_t = 200_000)]
    pub events: u64,
    /// Distinct shoppers in the generated traffic.
    #[arg(long, default_value_t = 10_000)]
    pub shoppers: u32,
    /// Generator seed (the freshness phase uses the next one).
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Partitions of the benchmark topics.
    #[arg(long, default_value_t = 4)]
    pub partitions: i32,
    /// Seconds of paced load in the freshness phase (0 skips it).
    #[arg(long, default_value_t = 10)]
    pub freshness_secs: u64,
    /// Paced rate as a fraction of the measured sustained rate.
    #[arg(long, default_value_t = 0.7)]
    pub load_fraction: f64,
    /// Longest a record waits before its features are written, in ms.
    #[arg(long, default_value_t = 50)]
    pub flush_interval_ms: u64,
    /// The consumer's fetch.wait.max.ms: tansu answers a fetch without data only when this wait
    /// ends, so it bounds the broker's share of freshness.
    #[arg(long, default_value_t = 1)]
    pub fetch_wait_max_ms: u64,
    /// Most records in one step.
    #[arg(long, default_value_t = 10_000)]
    pub max_batch_records: usize,
    /// Run without the state changelog (only to measure its cost; `run` always keeps it).
    #[arg(long)]
    pub no_changelog: bool,
    /// Run product-keyed plugins on the input partitions, not through the repartition topic
    /// (`kafka.repartition = false`: right with one host only), to measure what it costs.
    #[arg(long)]
    pub no_repartition: bool,
    /// Also write the JSON report to this file.
    #[arg(long, short)]
    pub output: Option<PathBuf>,
}

/// CPU seconds (user + system) this process has used, from /proc/self/stat.
fn process_cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // Fields 14 and 15 of stat (utime, stime) are 11 and 12 after the name; 100 ticks per second.
    (ticks(11) + ticks(12)) / 100.0
}

fn pipeline(args: &BenchE2eArgs) -> anyhow::Result<Pipeline> {
    let plugins = PluginSet::load(None, &PluginPolicy::default())?;
    let engine = Engine::new(EngineConfig::default(), plugins.into_operators());
    let sink = Box::new(RedisSink::new(&args.redis_url)?);
    Ok(Pipeline::new(engine, sink, Arc::new(RwLock::new(Status::default())), PluginFacts::default()))
}

fn driver(args: &BenchE2eArgs, topic: &str, records: u64) -> KafkaDriver {
    KafkaDriver {
        settings: KafkaSettings {
            brokers: args.kafka_brokers.clone(),
            topics: vec![topic.to_string()],
            group: format!("{topic}-group"),
            dead_letter_topic: format!("{topic}-dead-letter"),
            plugin_dead_letter_topic: format!("{topic}-plugin-dead-letter"),
            start_from: StartFrom::Earliest,
            session_timeout_ms: 10_000,
            max_poll_interval_ms: 300_000,
            queued_max_kbytes: 65_536,
            fetch_wait_max_ms: args.fetch_wait_max_ms,
            properties: Vec::new(),
            signal_topics: Default::default(),
            changelog_topic: format!("{topic}-group-changelog"),
            repartition_topic: format!("{topic}-group-repartition"),
            repartition: !args.no_repartition,
            assignment_strategy: "cooperative-sticky".into(),
            group_instance_id: None,
            reset_state: false,
        },
        flush_interval: Duration::from_millis(args.flush_interval_ms),
        max_batch_records: args.max_batch_records,
        idle_after: Duration::from_secs(3),
        stop_after_records: Some(records),
        dedup_horizon_ms: EngineConfig::default().dedup_horizon_ms,
        // The generated backlog runs ahead of the clock: its event times span hours from now.
        time_bounds: crate::decode::TimeBounds { max_future_ms: 365 * 86_400_000, max_age_ms: 0 },
        changelog: !args.no_changelog,
    }
}

fn tsv(event: &Event, line: &mut String) {
    line.clear();
    write_enriched_tsv(event, line);
}

/// Runs the sustained phase, then the freshness phase unless `--freshness-secs 0`, on new topics
/// and prints the JSON report.
pub fn run(args: BenchE2eArgs) -> anyhow::Result<()> {
    let stamp = crate::clock::wall_ms();
    let sustained_topic = format!("bench-sustained-{stamp}");
    let paced_topic = format!("bench-paced-{stamp}");
    create_topics(
        &args.kafka_brokers,
        &[(&sustained_topic, args.partitions), (&paced_topic, args.partitions)],
    )?;
    let producer = KafkaProducer::new(&args.kafka_brokers)?;
    let stop = Stop::new(Arc::new(AtomicBool::new(false)), None);

    // Phase 1: a backlog drained as fast as the pipeline goes.
    eprintln!("bench-e2e: producing {} records to {sustained_topic}…", args.events);
    let config =
        GeneratorConfig { shoppers: args.shoppers, events: args.events, seed: args.seed, start_ms: stamp };
    let mut line = String::new();
    let produce_started = Instant::now();
    for event in Generator::new(config) {
        tsv(&event, &mut line);
        producer.send(&sustained_topic, Some(event.shopper_id.as_bytes()), line.as_bytes(), None)?;
    }
    producer.flush(Duration::from_secs(120))?;
    let produce_secs = produce_started.elapsed().as_secs_f64();
    eprintln!("bench-e2e: produced in {produce_secs:.1} s; consuming…");
    let mut p = pipeline(&args)?;
    let cpu_before = process_cpu_seconds();
    driver(&args, &sustained_topic, args.events).run(&mut p, &stop).context("sustained phase")?;
    let cpu = process_cpu_seconds() - cpu_before;
    let first = p.first_record().context("no record was consumed")?;
    let secs = first.elapsed().as_secs_f64();
    let sustained = args.events as f64 / secs;
    let sustained_summary = p.summary();

    let mut report = json!({
        "benchmark": "end to end: Kafka (tansu or any broker) -> decode -> the default Wasm plugins -> Redis, offsets committed after Redis acks",
        "command": format!(
            "live-shopper bench-e2e --kafka-brokers {} --redis-url {} --events {} --shoppers {} --seed {} --partitions {} --freshness-secs {} --load-fraction {} --flush-interval-ms {} --max-batch-records {} --fetch-wait-max-ms {}{}",
            args.kafka_brokers, args.redis_url, args.events, args.shoppers, args.seed, args.partitions,
            args.freshness_secs, args.load_fraction, args.flush_interval_ms, args.max_batch_records,
            args.fetch_wait_max_ms,
            [(args.no_changelog, " --no-changelog"), (args.no_repartition, " --no-repartition")]
                .iter()
                .filter(|(on, _)| *on)
                .map(|(_, flag)| *flag)
                .collect::<String>()
        ),
        "sustained": {
            "records": args.events,
            "seconds": secs,
            "events_per_sec": sustained.round(),
            "ns_per_event": (secs * 1e9 / args.events as f64).round(),
            "host_cpu_seconds": cpu,
            "events_per_host_cpu_second": (args.events as f64 / cpu.max(1e-9)).round(),
            "summary": sustained_summary,
            "produce_seconds": produce_secs,
            "changelog": !args.no_changelog,
            "repartition": !args.no_repartition,
        },
        "targets": { "events_per_sec_per_core": 150_000, "p99_freshness_ms_at_70_percent": 25 },
    });
    if !args.no_changelog {
        report["restore"] = restore_phase(&args, &sustained_topic)?;
    }
    if args.freshness_secs > 0 {
        report["freshness"] = freshness_phase(&args, &paced_topic, sustained, &stop)?;
    }
    super::print_report(&report, args.output.as_deref())
}

/// Phase 3: every partition of the sustained phase's changelog read back into a new engine of
/// the same plugins, as a new owner restores them.
fn restore_phase(args: &BenchE2eArgs, topic: &str) -> anyhow::Result<serde_json::Value> {
    let plugins = PluginSet::load(None, &PluginPolicy::default())?;
    let mut engine = Engine::new(EngineConfig::default(), plugins.into_operators());
    let changelog = ChangelogTopic::connect(&args.kafka_brokers, &format!("{topic}-group-changelog"))?;
    eprintln!("bench-e2e: restoring every partition from {}…", changelog.name());
    let started = Instant::now();
    let (mut keys, mut records, mut bytes) = (0, 0, 0);
    for partition in 0..args.partitions {
        let mut restorer = Restorer::new(topic);
        changelog.read_partition(partition, |key, value| {
            bytes += key.len() + value.map_or(0, <[u8]>::len);
            restorer.apply(key, value).map_err(|e| e.to_string())
        })?;
        let restored = restorer.finish();
        records += restored.records;
        keys += engine.restore_partition(partition as u32, restored.state)?.keys;
    }
    let secs = started.elapsed().as_secs_f64();
    Ok(json!({
        "partitions": args.partitions,
        "keys": keys,
        "changelog_records_read": records,
        "changelog_bytes_read": bytes,
        "seconds": secs,
        "seconds_per_100k_keys": secs * 100_000.0 / keys.max(1) as f64,
    }))
}

/// Phase 2: paced load at a fraction of the sustained rate, stamped now.
fn freshness_phase(
    args: &BenchE2eArgs,
    paced_topic: &str,
    sustained: f64,
    stop: &Stop,
) -> anyhow::Result<serde_json::Value> {
    let rate = (sustained * args.load_fraction).max(1.0);
    let paced = (rate * args.freshness_secs as f64) as u64;
    eprintln!("bench-e2e: sustained {sustained:.0} events/s; pacing {paced} records at {rate:.0}/s…");
    let mut p = pipeline(args)?;
    // The records are made before the clock starts, so the paced producer costs only the sends
    // (both share this machine's cores with the pipeline, the broker and Redis).
    let start_ms = crate::clock::wall_ms();
    let config = GeneratorConfig { shoppers: args.shoppers, events: paced, seed: args.seed + 1, start_ms };
    let mut line = String::new();
    let records: Vec<(String, Vec<u8>)> = Generator::new(config)
        .map(|event| {
            tsv(&event, &mut line);
            (event.shopper_id, line.as_bytes().to_vec())
        })
        .collect();
    let producer_thread = {
        let (brokers, topic) = (args.kafka_brokers.clone(), paced_topic.to_string());
        std::thread::spawn(move || -> anyhow::Result<()> {
            let producer = KafkaProducer::new(&brokers)?;
            let started = Instant::now();
            for (i, (key, record)) in records.iter().enumerate() {
                let due = started + Duration::from_secs_f64(i as f64 / rate);
                if let Some(wait) = due.checked_duration_since(Instant::now()) {
                    std::thread::sleep(wait);
                }
                // Stamped by the client now: freshness runs from this send.
                producer.send(&topic, Some(key.as_bytes()), record, None)?;
                producer.poll();
            }
            producer.flush(Duration::from_secs(60))?;
            Ok(())
        })
    };
    driver(args, paced_topic, paced).run(&mut p, stop).context("freshness phase")?;
    producer_thread.join().map_err(|_| anyhow::anyhow!("producer thread panicked"))??;
    let [p50, p99, p999] = p.freshness_summary().context("no freshness measured")?;
    let [a50, a99, a999] = p.arrival_summary().context("no arrival measured")?;
    let h = p.freshness_us();
    Ok(json!({
        "target_rate": rate.round(),
        "records": paced,
        "p50_ms": p50,
        "p99_ms": p99,
        "p999_ms": p999,
        "max_ms": h.max() as f64 / 1_000.0,
        "mean_ms": h.mean() / 1_000.0,
        "arrival_from_kafka_timestamp_ms": { "p50": a50, "p99": a99, "p999": a999 },
        "summary": p.summary(),
    }))
}
