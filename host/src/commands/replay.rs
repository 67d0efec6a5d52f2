//! `live-shopper replay`: feeds files of events through the plugins in replay mode (event time
//! only) and optionally writes the emission log; ends with a summary.

use crate::decode::decode_record_for;
use crate::engine::emission::{CountingSink, EmissionSink, Tee};
use crate::engine::{Engine, EngineConfig, Operator};
use crate::model::Event;
use crate::pipeline::writes::Writes;
use crate::plugin::PluginPolicy;
use crate::plugin::PluginSet;
use crate::sink::{EmissionLog, RedisSink};
use crate::source::file::RecordReader;
use anyhow::Context;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::BufWriter;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Arguments of `live-shopper replay`.
#[derive(Debug, clap::Args)]
pub struct ReplayArgs {
    /// Files of events (Snowplow enriched TSV, enriched JSON or Live Shopper JSON, detected per
    /// record); `-` reads stdin.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Write every emission as a JSON line to this file.
    #[arg(long, value_name = "OUT.jsonl")]
    pub emit: Option<PathBuf>,
    /// Load the plugins from this directory instead of the embedded default set.
    #[arg(long, value_name = "DIR")]
    pub plugins: Option<PathBuf>,
    /// Run only the named plugin(s) of the set (repeatable).
    #[arg(long, value_name = "NAME")]
    pub only: Vec<String>,
    /// Events per engine step. 1 gives one emission per event; larger steps coalesce a key's
    /// emissions within the step (the output stays deterministic for a given value).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub batch_size: u64,
    /// Allowed out-of-orderness of event times, in milliseconds.
    #[arg(long, default_value_t = 5_000)]
    pub out_of_orderness_ms: u64,
    /// Also write the features to Redis (hashes with TTLs, login aliases), e.g. `redis://127.0.0.1:6379`.
    #[arg(long, env = "LIVE_SHOPPER_REDIS_URL", value_name = "URL")]
    pub redis_url: Option<String>,
    /// Print the summary as JSON on stdout as well.
    #[arg(long)]
    pub json: bool,
}

/// What a replay did.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct ReplaySummary {
    /// Records read from the inputs.
    pub records: u64,
    /// Records decoded into events.
    pub decoded: u64,
    /// Records that did not decode.
    pub rejected: u64,
    /// Rejected records per reason code.
    pub rejected_by_reason: BTreeMap<String, u64>,
    /// The first few rejects, `file:line: reason`.
    pub reject_examples: Vec<String>,
    /// Events dropped by dedup as already seen.
    pub duplicates: u64,
    /// Events dropped as late, summed over the plugins.
    pub late: u64,
    /// Emissions the plugins made.
    pub emissions: u64,
    /// Failed plugin calls, summed over the plugins.
    pub plugin_failures: u64,
    /// Wall-clock time the replay took, in seconds.
    pub seconds: f64,
    /// Decoded events per second of `seconds` (0 when no time passed).
    pub events_per_second: f64,
}

const REJECT_EXAMPLES: usize = 10;
/// Pending Redis fields that trigger a flush during a replay.
const REDIS_FLUSH_FIELDS: usize = 200_000;
const PROGRESS_EVERY: Duration = Duration::from_secs(2);

/// Replays `inputs` through `operators` into `sink`. Deterministic for equal inputs and options.
pub fn replay(
    inputs: Vec<(String, RecordReader)>,
    operators: Vec<Box<dyn Operator>>,
    config: EngineConfig,
    batch_size: usize,
    sink: &mut dyn EmissionSink,
) -> anyhow::Result<ReplaySummary> {
    let started = Instant::now();
    let mut engine = Engine::new(config, operators);
    let interest = engine.interest();
    let mut counter = CountingSink::default();
    let mut summary = ReplaySummary::default();
    let mut batch: Vec<Event> = Vec::with_capacity(batch_size);
    let mut last_progress = Instant::now();
    {
        let mut tee = Tee(sink, &mut counter);
        for (name, mut reader) in inputs {
            while let Some(record) = reader.next_record().with_context(|| format!("reading {name}"))? {
                summary.records += 1;
                match decode_record_for(&record.bytes, &interest) {
                    Ok(event) => {
                        summary.decoded += 1;
                        batch.push(event);
                        if batch.len() >= batch_size {
                            engine.process(&batch, &mut tee);
                            batch.clear();
                        }
                    }
                    Err(err) => {
                        summary.rejected += 1;
                        *summary.rejected_by_reason.entry(err.code().to_string()).or_default() += 1;
                        if summary.reject_examples.len() < REJECT_EXAMPLES {
                            summary.reject_examples.push(format!("{name}:{}: {err}", record.line));
                        }
                    }
                }
                if last_progress.elapsed() >= PROGRESS_EVERY {
                    last_progress = Instant::now();
                    eprintln!(
                        "replay: {} records, {} MB of {name}, {:.0} events/s",
                        summary.records,
                        reader.bytes_read() >> 20,
                        summary.decoded as f64 / started.elapsed().as_secs_f64()
                    );
                }
            }
        }
        if !batch.is_empty() {
            engine.process(&batch, &mut tee);
        }
        engine.finish(&mut tee);
    }
    summary.duplicates = engine.stats().duplicates;
    for r in engine.reports() {
        summary.late += r.stats.late;
        summary.plugin_failures += r.stats.failures;
    }
    summary.emissions = counter.emissions;
    summary.seconds = started.elapsed().as_secs_f64();
    summary.events_per_second =
        if summary.seconds > 0.0 { summary.decoded as f64 / summary.seconds } else { 0.0 };
    Ok(summary)
}

/// Prints the summary as a table on stderr.
pub fn print_summary(s: &ReplaySummary) {
    eprintln!("replay summary");
    eprintln!("  records read     {}", s.records);
    eprintln!("  events decoded   {}", s.decoded);
    eprintln!("  rejected         {}", s.rejected);
    for (reason, n) in &s.rejected_by_reason {
        eprintln!("    {reason:<22} {n}");
    }
    for example in &s.reject_examples {
        eprintln!("    e.g. {example}");
    }
    eprintln!("  duplicates       {}", s.duplicates);
    eprintln!("  late             {}", s.late);
    eprintln!("  emissions        {}", s.emissions);
    eprintln!("  plugin failures  {}", s.plugin_failures);
    eprintln!("  time taken       {:.3} s", s.seconds);
    eprintln!("  events/s         {:.0}", s.events_per_second);
}

/// Replays the files through the chosen plugins, writing the emission log and Redis when asked,
/// and prints the summary.
pub fn run(args: ReplayArgs) -> anyhow::Result<()> {
    let inputs = args
        .files
        .iter()
        .map(|p| {
            let reader = RecordReader::open(p).with_context(|| format!("cannot open {}", p.display()))?;
            Ok((p.display().to_string(), reader))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let plugins = PluginSet::load(args.plugins.as_deref(), &PluginPolicy::default())?.select(&args.only)?;
    let config = EngineConfig { out_of_orderness_ms: args.out_of_orderness_ms, ..EngineConfig::default() };
    let batch_size = args.batch_size as usize;
    let mut redis = match &args.redis_url {
        Some(url) => Some(Writes::new(Box::new(RedisSink::new(url)?)).submitting_at(REDIS_FLUSH_FIELDS)),
        None => None,
    };
    let mut counting = CountingSink::default();
    let redis_sink: &mut dyn EmissionSink = match redis.as_mut() {
        Some(r) => r,
        None => &mut counting,
    };
    let summary = match &args.emit {
        Some(path) => {
            let file = File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
            let mut log = EmissionLog::new(BufWriter::new(file));
            let summary =
                replay(inputs, plugins.into_operators(), config, batch_size, &mut Tee(&mut log, redis_sink))?;
            log.finish().with_context(|| format!("writing {}", path.display()))?;
            summary
        }
        None => replay(inputs, plugins.into_operators(), config, batch_size, redis_sink)?,
    };
    if let Some(redis) = redis.as_mut() {
        // Retrying until Redis takes it is the point: nothing is lost while it is down.
        redis.flush(&|| false).context("writing the last features to Redis")?;
        let counters = redis.counters();
        let (writes, retries) = (counters.writes.unwrap_or(0), counters.retries.unwrap_or(0));
        eprintln!("redis: {writes} pipelines written, {retries} retries");
    }
    print_summary(&summary);
    if args.json {
        println!("{}", serde_json::to_string(&summary)?);
    }
    Ok(())
}
