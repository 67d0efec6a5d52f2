//! `live-shopper bench-failover`: the fail-over gap. Two hosts (`run` processes of this binary,
//! each with its own `group.instance.id`) share a consumer group on a topic of six partitions
//! while generated traffic, stamped now, is produced at a fixed rate, with one probe shopper per
//! partition every 100 ms. One host is killed with SIGKILL. A partition's gap is the time from
//! the kill until Redis shows a probe event produced after it (the probe's
//! `user:<id>:features:context` `updated_at`, its newest event time): for the surviving host's
//! partitions about a step, for the killed host's the detection, rebalance and restore. With
//! `--restart` the killed host starts again at once under the same identity (a StatefulSet
//! pod's restart); without it the survivor takes the partitions once the session times out.
//!
//! `xtask/bench-failover` starts a tansu broker and a redis-server on free ports and runs it.

use crate::source::generator::{tsv::write_enriched_tsv, Generator, GeneratorConfig};
use crate::source::kafka::{create_topics, KafkaProducer};
use anyhow::Context;
use serde_json::json;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Partitions of the benchmark topic.
const PARTITIONS: i32 = 6;
/// How often each partition's probe shopper sends an event.
const PROBE_EVERY: Duration = Duration::from_millis(100);

/// Arguments of `live-shopper bench-failover`.
#[derive(Debug, clap::Args)]
pub struct BenchFailoverArgs {
    /// Kafka bootstrap servers (host:port).
    #[arg(long)]
    pub kafka_brokers: String,
    /// Redis URL.
    #[arg(long)]
    pub redis_url: String,
    /// Generated events per second besides the probes.
    #[arg(long, default_value_t = 2_000)]
    pub rate: u64,
    /// Seconds both hosts run before the kill.
    #[arg(long, default_value_t = 20)]
    pub warmup_secs: u64,
    /// Start the killed host again at once, under the same `group.instance.id`.
    #[arg(long)]
    pub restart: bool,
    /// Give up on a partition this many seconds after the kill.
    #[arg(long, default_value_t = 90)]
    pub timeout_secs: u64,
    /// Also write the JSON report to this file.
    #[arg(long, short)]
    pub output: Option<PathBuf>,
}

/// The probe shopper of partition `p`.
fn probe(p: i32) -> String {
    format!("00000000-0000-4000-8000-{p:012}")
}

/// One `live-shopper run` process of the group, its log in `log`.
struct Member {
    child: Child,
}

impl Member {
    fn start(args: &BenchFailoverArgs, topic: &str, name: &str, log: &Path) -> anyhow::Result<Member> {
        let exe = std::env::current_exe().context("cannot find this binary")?;
        let log = std::fs::OpenOptions::new().create(true).append(true).open(log)?;
        let child = Command::new(exe)
            .args(["run", "--http-addr", "127.0.0.1:0"])
            .env("LIVE_SHOPPER_KAFKA_BROKERS", &args.kafka_brokers)
            .env("LIVE_SHOPPER_KAFKA_TOPICS", topic)
            .env("LIVE_SHOPPER_KAFKA_GROUP", topic)
            .env("LIVE_SHOPPER_KAFKA_GROUP_INSTANCE_ID", format!("{topic}-{name}"))
            .env("LIVE_SHOPPER_DEAD_LETTER_TOPIC", format!("{topic}-dead-letter"))
            .env("LIVE_SHOPPER_REDIS_URL", &args.redis_url)
            // The generated traffic's event times run ahead of the clock.
            .env(crate::config::ENV_MAX_FUTURE_MS, (365 * 86_400_000u64).to_string())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .context("cannot start a host")?;
        Ok(Member { child })
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs the benchmark and prints the JSON report.
pub fn run(args: BenchFailoverArgs) -> anyhow::Result<()> {
    let topic = format!("failover-{}", crate::clock::wall_ms());
    create_topics(&args.kafka_brokers, &[(&topic, PARTITIONS), (&format!("{topic}-dead-letter"), 1)])?;
    let (_, reader) = crate::sink::open(Some(&args.redis_url)).context("cannot open Redis")?;
    let logs = std::env::temp_dir().join(&topic);
    std::fs::create_dir_all(&logs)?;
    let log_of = |name: &str| logs.join(format!("{name}.log"));
    let mut members = vec![
        Member::start(&args, &topic, "a", &log_of("a"))?,
        Member::start(&args, &topic, "b", &log_of("b"))?,
    ];
    let running = Arc::new(AtomicBool::new(true));
    let producer = spawn_traffic(&args, &topic, running.clone());
    let newest = |p: i32| -> Option<i64> {
        let fields = reader.hash(&format!("user:{}:features:context", probe(p))).ok()??;
        fields.into_iter().find(|(f, _)| f == "updated_at")?.1.parse().ok()
    };

    eprintln!("bench-failover: two hosts on {topic}; {} s before the kill…", args.warmup_secs);
    let started = Instant::now();
    let warm = |at: i64| (0..PARTITIONS).all(|p| newest(p).is_some_and(|t| t >= at - 1_000));
    while started.elapsed() < Duration::from_secs(args.warmup_secs) || !warm(crate::clock::wall_ms()) {
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(args.warmup_secs + 120),
            "the hosts did not take every partition (logs in {})",
            logs.display()
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    let killed_at = crate::clock::wall_ms();
    let mut victim = members.remove(1);
    victim.child.kill()?;
    victim.child.wait()?;
    let restarted = args.restart.then(|| Member::start(&args, &topic, "b", &log_of("b"))).transpose()?;
    eprintln!(
        "bench-failover: host b killed{}; waiting for every partition…",
        if args.restart { " and restarted" } else { "" }
    );
    let mut gaps: BTreeMap<i32, Option<i64>> = (0..PARTITIONS).map(|p| (p, None)).collect();
    let deadline = Instant::now() + Duration::from_secs(args.timeout_secs);
    while gaps.values().any(Option::is_none) && Instant::now() < deadline {
        let now = crate::clock::wall_ms();
        for (p, gap) in gaps.iter_mut().filter(|(_, g)| g.is_none()) {
            if newest(*p).is_some_and(|t| t >= killed_at) {
                *gap = Some(now - killed_at);
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    running.store(false, Ordering::Release);
    producer.join().map_err(|_| anyhow::anyhow!("the producer thread panicked"))??;
    drop(restarted);
    drop(members);

    let worst = gaps.values().map(|g| g.unwrap_or(i64::MAX)).max().unwrap_or(0);
    let report = json!({
        "benchmark": "fail-over gap: kill -9 of one of two hosts until every partition's features update again",
        "command": format!(
            "live-shopper bench-failover --kafka-brokers {} --redis-url {} --rate {} --warmup-secs {}{}",
            args.kafka_brokers, args.redis_url, args.rate, args.warmup_secs,
            if args.restart { " --restart" } else { "" }
        ),
        "restart": args.restart,
        "gap_ms_per_partition": gaps,
        "gap_ms": if worst == i64::MAX { serde_json::Value::Null } else { json!(worst) },
        "recovered": gaps.values().all(Option::is_some),
        "aim_ms": 5_000,
        "logs": logs.display().to_string(),
    });
    super::print_report(&report, args.output.as_deref())
}

/// Produces generated traffic at `args.rate` and one event per partition's probe shopper every
/// [`PROBE_EVERY`], each stamped at its send, until `running` is cleared.
fn spawn_traffic(
    args: &BenchFailoverArgs,
    topic: &str,
    running: Arc<AtomicBool>,
) -> std::thread::JoinHandle<anyhow::Result<()>> {
    let (brokers, topic, rate) = (args.kafka_brokers.clone(), topic.to_string(), args.rate.max(1));
    std::thread::spawn(move || {
        let producer = KafkaProducer::new(&brokers)?;
        let config =
            GeneratorConfig { shoppers: 2_000, events: u64::MAX, seed: 7, start_ms: crate::clock::wall_ms() };
        let mut events = Generator::new(config);
        let mut line = String::new();
        let started = Instant::now();
        let (mut sent, mut probes) = (0u64, 0u32);
        while running.load(Ordering::Acquire) {
            let elapsed = started.elapsed();
            if elapsed >= PROBE_EVERY * probes {
                probes += 1;
                for p in 0..PARTITIONS {
                    let mut e = events.next().context("the generator ended")?;
                    e.shopper_id = probe(p);
                    e.event_time = crate::clock::wall_ms();
                    line.clear();
                    write_enriched_tsv(&e, &mut line);
                    producer.send_to(&topic, p, e.shopper_id.as_bytes(), line.as_bytes())?;
                }
            }
            if (sent as f64) < elapsed.as_secs_f64() * rate as f64 {
                let mut e = events.next().context("the generator ended")?;
                e.event_time = crate::clock::wall_ms();
                line.clear();
                write_enriched_tsv(&e, &mut line);
                let p = (e.shopper_id.bytes().fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(b as u32))
                    % PARTITIONS as u32) as i32;
                producer.send_to(&topic, p, e.shopper_id.as_bytes(), line.as_bytes())?;
                sent += 1;
            } else {
                producer.poll();
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        producer.flush(Duration::from_secs(30))?;
        Ok(())
    })
}
