//! `live-shopper bench`: engine throughput through the five plugins as Wasm and as native code
//! (the same logic compiled into the host), overall and per plugin, printed as JSON.

use crate::engine::emission::{CountingSink, EmissionSink};
use crate::engine::{Engine, EngineConfig, Operator, OperatorReport};
use crate::model::Event;
use crate::plugin::PluginSet;
use crate::plugin::{native, PluginPolicy};
use crate::sink::SharedStore;
use crate::source::generator::{Generator, GeneratorConfig};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Arguments of `live-shopper bench`.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// Generated events per run.
    #[arg(long, default_value_t = 200_000)]
    pub events: u64,
    /// Distinct shoppers in the generated traffic.
    #[arg(long, default_value_t = 10_000)]
    pub shoppers: u32,
    /// Generator seed; the same seed gives the same events.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Events per engine step (one plugin call per step).
    #[arg(long, default_value_t = 1_024, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub batch_size: u64,
    /// Runs per measurement; the median is reported.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub repeat: u32,
    /// Skip the per-plugin measurements.
    #[arg(long)]
    pub quick: bool,
    /// Also write the JSON report to this file.
    #[arg(long, short)]
    pub output: Option<PathBuf>,
}

/// One measured configuration.
struct Measured {
    elapsed: Duration,
    emissions: u64,
    reports: Vec<OperatorReport>,
}

fn run_once(
    operators: Vec<Box<dyn Operator>>,
    events: &[Event],
    batch: usize,
    sink: &mut dyn EmissionSink,
) -> Measured {
    let mut engine = Engine::new(EngineConfig::default(), operators);
    let mut counter = CountingSink::default();
    let started = Instant::now();
    {
        let mut tee = crate::engine::emission::Tee(sink, &mut counter);
        for chunk in events.chunks(batch) {
            engine.process(chunk, &mut tee);
        }
        engine.finish(&mut tee);
    }
    Measured { elapsed: started.elapsed(), emissions: counter.emissions, reports: engine.reports() }
}

/// Median of `repeat` runs of `make()`'s operators.
fn measure(
    repeat: u32,
    events: &[Event],
    batch: usize,
    mut make: impl FnMut() -> anyhow::Result<Vec<Box<dyn Operator>>>,
    mut sink: impl FnMut() -> Box<dyn EmissionSink>,
) -> anyhow::Result<Measured> {
    let mut runs = Vec::new();
    for _ in 0..repeat {
        runs.push(run_once(make()?, events, batch, sink().as_mut()));
    }
    runs.sort_by_key(|m| m.elapsed);
    Ok(runs.swap_remove(runs.len() / 2))
}

fn throughput(m: &Measured, events: usize) -> Value {
    let secs = m.elapsed.as_secs_f64();
    json!({
        "events_per_sec": (events as f64 / secs).round(),
        "ns_per_event": (secs * 1e9 / events as f64 * 10.0).round() / 10.0,
        "seconds": secs,
        "emissions": m.emissions,
    })
}

fn ratio(native: &Measured, wasm: &Measured) -> f64 {
    (native.elapsed.as_secs_f64() / wasm.elapsed.as_secs_f64() * 1000.0).round() / 1000.0
}

fn wasm_set(policy: &PluginPolicy) -> anyhow::Result<Vec<Box<dyn Operator>>> {
    Ok(PluginSet::load(None, policy)?.into_operators())
}

fn native_set() -> Vec<Box<dyn Operator>> {
    native::default_set().into_iter().map(|op| Box::new(op) as Box<dyn Operator>).collect()
}

/// Generates the events, measures every configuration and prints the JSON report.
pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    let config = GeneratorConfig {
        shoppers: args.shoppers,
        events: args.events,
        seed: args.seed,
        ..Default::default()
    };
    eprintln!("bench: generating {} events over {} shoppers…", args.events, args.shoppers);
    let events: Vec<Event> = Generator::new(config).collect();
    let n = events.len();
    let batch = args.batch_size as usize;
    let policy = PluginPolicy::default();
    let counting = || Box::new(CountingSink::default()) as Box<dyn EmissionSink>;

    eprintln!("bench: the engine with no plugins (dedup, watermark, routing)…");
    let bare = measure(args.repeat, &events, batch, || Ok(Vec::new()), counting)?;
    eprintln!("bench: all default plugins as Wasm…");
    let wasm = measure(args.repeat, &events, batch, || wasm_set(&policy), counting)?;
    eprintln!("bench: all default plugins native…");
    let native_all = measure(args.repeat, &events, batch, || Ok(native_set()), counting)?;
    eprintln!("bench: Wasm into the in-memory feature store…");
    let stored =
        measure(args.repeat, &events, batch, || wasm_set(&policy), || Box::new(SharedStore::default()))?;

    eprintln!("bench: decoding TSV with a custom entity, full and with only that entity asked for…");
    let decode = super::bench_decode::measure(&events[..n.min(50_000)], args.repeat)?;

    let mut per_plugin = Vec::new();
    if !args.quick {
        for (i, name) in crate::plugin::embedded::names().enumerate() {
            eprintln!("bench: {name} alone…");
            let pick = |mut ops: Vec<Box<dyn Operator>>| vec![ops.swap_remove(i)];
            let w = measure(args.repeat, &events, batch, || Ok(pick(wasm_set(&policy)?)), counting)?;
            let nat = measure(args.repeat, &events, batch, || Ok(pick(native_set())), counting)?;
            let r = &w.reports[0];
            per_plugin.push(json!({
                "plugin": name,
                "events_in": r.stats.events_in,
                "calls": r.stats.calls,
                "wasm_ns_per_event": (w.elapsed.as_secs_f64() * 1e9 / n as f64 * 10.0).round() / 10.0,
                "native_ns_per_event": (nat.elapsed.as_secs_f64() * 1e9 / n as f64 * 10.0).round() / 10.0,
                "wasm_over_native_throughput": ratio(&nat, &w),
            }));
        }
    }

    let state: Vec<Value> = wasm
        .reports
        .iter()
        .map(|r| {
            json!({
                "plugin": r.descriptor.name, "keys_at_end": r.keys, "state_bytes_at_end": r.state_bytes,
                "bytes_per_key": if r.keys == 0 { 0.0 } else { (r.state_bytes as f64 / r.keys as f64).round() },
                "failures": r.stats.failures,
            })
        })
        .collect();
    let report = json!({
        "benchmark": "engine (generated events, in-memory sink, one thread)",
        "command": format!(
            "live-shopper bench --events {} --shoppers {} --seed {} --batch-size {} --repeat {}",
            args.events, args.shoppers, args.seed, args.batch_size, args.repeat
        ),
        "events": n,
        "batch_size": batch,
        "engine_without_plugins": throughput(&bare, n),
        "all_plugins_wasm": throughput(&wasm, n),
        "all_plugins_native": throughput(&native_all, n),
        "wasm_over_native_throughput": ratio(&native_all, &wasm),
        "all_plugins_wasm_into_memory_store": throughput(&stored, n),
        "decode": decode,
        "per_plugin": per_plugin,
        "state": state,
    });
    super::print_report(&report, args.output.as_deref())
}
