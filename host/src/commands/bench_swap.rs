//! `live-shopper bench-swap`: what a hot reload costs. The five plugins run from a watched
//! directory on generated traffic in one engine thread, as `run` does; a second thread rewrites
//! one plugin's file every second. Three phases of equal length — no swaps, swaps of content the
//! compiled cache already holds (no compile), swaps of new content (compiled each time) — report
//! the time from the file changing to the new version serving, the longest pause of event
//! processing, and throughput. Prints JSON.

use crate::engine::emission::CountingSink;
use crate::engine::{Engine, EngineConfig, Operator};
use crate::model::Event;
use crate::plugin::directory::{PluginChange, PluginDirectory};
use crate::plugin::PluginSet;
use crate::plugin::{embedded, PluginPolicy};
use crate::source::generator::{Generator, GeneratorConfig};
use anyhow::Context;
use hdrhistogram::Histogram;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Arguments of `live-shopper bench-swap`.
#[derive(Debug, clap::Args)]
pub struct BenchSwapArgs {
    /// Length of each phase, in seconds.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(2..=600))]
    pub seconds: u64,
    /// The plugin swapped every second.
    #[arg(long, default_value = "product")]
    pub plugin: String,
    /// How often the plugin directory is checked, in ms (`plugins.watch_interval_ms`).
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub watch_ms: u64,
    /// Distinct shoppers in the generated traffic.
    #[arg(long, default_value_t = 10_000)]
    pub shoppers: u32,
    /// Generator seed; the same seed gives the same events.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Events per engine step.
    #[arg(long, default_value_t = 1_024, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub batch_size: u64,
    /// Also write the JSON report to this file.
    #[arg(long, short)]
    pub output: Option<PathBuf>,
}

/// When each content hash was written, so its arrival can be timed.
type WrittenAt = Arc<Mutex<HashMap<String, Instant>>>;

/// What one phase measured.
#[derive(Default)]
struct Phase {
    events: u64,
    /// Time inside the engine (steps and swaps), excluding event generation.
    engine_time: Duration,
    /// Every step's time, swaps included.
    steps: Vec<Duration>,
    /// The longest step that began with a swap: the pause a swap causes.
    longest_swap_step: Duration,
    /// File written → new version installed, per swap.
    change_to_serving: Vec<Duration>,
    /// Reading, compiling and checking the file on the watcher thread, per swap.
    prepared_in: Vec<Duration>,
    /// The swap itself (between two steps), per swap.
    install: Vec<Duration>,
    state_kept: u64,
    compiled: u64,
    /// Changes that did not install (refused files, refused migrations).
    refused: u64,
}

/// Runs the three phases on a temporary plugin directory and prints the JSON report.
pub fn run(args: BenchSwapArgs) -> anyhow::Result<()> {
    let original = embedded::wasm(&args.plugin).with_context(|| {
        format!(
            "no embedded plugin {:?}; pick one of {:?}",
            args.plugin,
            embedded::names().collect::<Vec<_>>()
        )
    })?;
    let work = tempfile::Builder::new().prefix("live-shopper-bench-swap-").tempdir()?;
    let (plugins, cache) = (work.path().join("plugins"), work.path().join("compiled-cache"));
    std::fs::create_dir_all(&plugins)?;
    for name in embedded::names() {
        std::fs::write(plugins.join(format!("{name}.wasm")), embedded::wasm(name).expect("listed"))?;
    }
    let file = plugins.join(format!("{}.wasm", args.plugin));
    let policy = PluginPolicy::default();
    // Warm the compiled cache with the two variants the no-compile phase alternates between.
    let warm = PluginSet::runtime(Some(&cache))?;
    let variants = [original.to_vec(), embedded::retagged(&args.plugin, 1).expect("listed")];
    for v in &variants {
        warm.load("warm-up", v, &policy)?;
    }
    let (directory, operators) = PluginDirectory::open(&plugins, PluginSet::runtime(Some(&cache))?, policy)?;
    let stop = Arc::new(AtomicBool::new(false));
    let changes = directory.watch(Duration::from_millis(args.watch_ms), stop.clone())?;
    let operators: Vec<Box<dyn Operator>> =
        operators.into_iter().map(|op| Box::new(op) as Box<dyn Operator>).collect();
    let mut engine = Engine::new(EngineConfig::default(), operators);
    let mut events = Generator::new(GeneratorConfig {
        shoppers: args.shoppers,
        events: u64::MAX,
        seed: args.seed,
        ..Default::default()
    });
    let phase_len = Duration::from_secs(args.seconds);
    let written: WrittenAt = Arc::default();

    eprintln!("bench-swap: warming up the engine ({} s)…", args.seconds.min(3));
    run_phase(
        &mut engine,
        &mut events,
        &changes,
        &written,
        args.batch_size,
        Duration::from_secs(args.seconds.min(3)),
    );
    eprintln!("bench-swap: {} s without swaps…", args.seconds);
    let baseline = run_phase(&mut engine, &mut events, &changes, &written, args.batch_size, phase_len);

    let mut phases = Vec::new();
    for (label, fresh_content) in [("cached", false), ("compiled", true)] {
        eprintln!("bench-swap: {} s swapping {} every second ({label})…", args.seconds, args.plugin);
        let swapper = {
            let (stop, file, written, variants) =
                (Arc::new(AtomicBool::new(false)), file.clone(), written.clone(), variants.clone());
            let flag = stop.clone();
            let plugin = args.plugin.clone();
            let handle = std::thread::spawn(move || -> anyhow::Result<()> {
                let mut n: u64 = 0;
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_secs(1));
                    n += 1;
                    let bytes = match fresh_content {
                        false => variants[(n % 2) as usize].clone(),
                        true => embedded::retagged(&plugin, 1_000 + n).expect("listed"),
                    };
                    let hash = hex::encode(Sha256::digest(&bytes));
                    let staged = file.with_extension("tmp");
                    std::fs::write(&staged, &bytes)?;
                    written.lock().expect("not poisoned").insert(hash, Instant::now());
                    std::fs::rename(&staged, &file)?;
                }
                Ok(())
            });
            (stop, handle)
        };
        let phase = run_phase(&mut engine, &mut events, &changes, &written, args.batch_size, phase_len);
        swapper.0.store(true, Ordering::Relaxed);
        swapper.1.join().map_err(|_| anyhow::anyhow!("the swapper thread panicked"))??;
        // Let a swap still in flight land before the next phase.
        std::thread::sleep(Duration::from_millis(args.watch_ms * 2 + 500));
        run_phase(&mut engine, &mut events, &changes, &written, args.batch_size, Duration::from_millis(1));
        phases.push((label, phase));
    }
    stop.store(true, Ordering::Relaxed);

    let failures: u64 = engine.reports().iter().map(|r| r.stats.failures).sum();
    let report = json!({
        "benchmark": "hot reload under load (generated events, five Wasm plugins, in-memory sink, one engine thread)",
        "command": format!(
            "live-shopper bench-swap --seconds {} --plugin {} --watch-ms {} --shoppers {} --seed {} --batch-size {}",
            args.seconds, args.plugin, args.watch_ms, args.shoppers, args.seed, args.batch_size
        ),
        "watch_interval_ms": args.watch_ms,
        "without_swaps": phase_json(&baseline),
        "swapping_every_second_cached": phase_json(&phases[0].1),
        "swapping_every_second_compiled": phase_json(&phases[1].1),
        "plugin_failures": failures,
    });
    super::print_report(&report, args.output.as_deref())
}

/// Runs steps for `length`, applying plugin changes between steps as the pipeline does.
fn run_phase(
    engine: &mut Engine,
    events: &mut Generator,
    changes: &std::sync::mpsc::Receiver<PluginChange>,
    written: &WrittenAt,
    batch_size: u64,
    length: Duration,
) -> Phase {
    let mut phase = Phase::default();
    let mut sink = CountingSink::default();
    let mut batch: Vec<Event> = Vec::with_capacity(batch_size as usize);
    let started = Instant::now();
    while started.elapsed() < length {
        batch.clear();
        batch.extend(events.by_ref().take(batch_size as usize));
        let step = Instant::now();
        let mut swapped = false;
        for change in changes.try_iter() {
            let PluginChange::Load { op, prepared_in, .. } = change else {
                phase.refused += 1;
                continue;
            };
            swapped = true;
            let written_at = written.lock().expect("not poisoned").remove(op.content_hash());
            phase.compiled += u64::from(!op.from_compiled_cache);
            let installing = Instant::now();
            let installed = engine.install(op);
            phase.install.push(installing.elapsed());
            phase.refused += u64::from(installed.is_err());
            phase.state_kept +=
                u64::from(matches!(installed, Ok(crate::engine::lifecycle::Installed::StateKept { .. })));
            phase.prepared_in.push(prepared_in);
            if let Some(at) = written_at {
                phase.change_to_serving.push(at.elapsed());
            }
        }
        engine.process(&batch, &mut sink);
        let took = step.elapsed();
        phase.engine_time += took;
        phase.steps.push(took);
        if swapped {
            phase.longest_swap_step = phase.longest_swap_step.max(took);
        }
        phase.events += batch.len() as u64;
    }
    phase
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e5).round() / 100.0
}

/// p50, p99 and max of `samples`, in ms.
fn percentiles(samples: &[Duration]) -> Value {
    if samples.is_empty() {
        return json!(null);
    }
    let mut h = Histogram::<u64>::new(3).expect("valid histogram");
    for s in samples {
        h.record(s.as_micros() as u64).expect("auto-resizing histogram");
    }
    let at = |q: f64| (h.value_at_quantile(q) as f64 / 10.0).round() / 100.0;
    json!({ "count": samples.len(), "p50_ms": at(0.5), "p99_ms": at(0.99), "max_ms": ms(*samples.iter().max().expect("not empty")) })
}

fn phase_json(p: &Phase) -> Value {
    let secs = p.engine_time.as_secs_f64();
    json!({
        "events": p.events,
        "events_per_sec_engine_time": (p.events as f64 / secs).round(),
        "step": percentiles(&p.steps),
        "longest_step_with_a_swap_ms": if p.install.is_empty() { json!(null) } else { json!(ms(p.longest_swap_step)) },
        "swaps": p.install.len(),
        "swaps_keeping_state": p.state_kept,
        "swaps_compiled": p.compiled,
        "changes_refused": p.refused,
        "change_to_serving": percentiles(&p.change_to_serving),
        "prepare_on_watcher_thread": percentiles(&p.prepared_in),
        "install_between_steps": percentiles(&p.install),
    })
}
