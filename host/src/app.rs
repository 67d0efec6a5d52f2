//! The wiring of the main job (`run`, and `dev` on top of it), in named steps: load the plugins,
//! build the engine, restore its checkpoint, open the feature store, spawn the pipeline thread
//! with the configured driver, and serve the HTTP API until the pipeline stops or Ctrl-C.

use crate::api::{self, AppState};
use crate::checkpoint::Checkpointer;
use crate::config::{Settings, SourceSettings};
use crate::engine::{Engine, EngineConfig, Operator};
use crate::pipeline::generator::GeneratorDriver;
use crate::pipeline::kafka::KafkaDriver;
use crate::pipeline::{Pipeline, PipelineError, PluginFacts, Stop};
use crate::plugin::directory::PluginChange;
use crate::plugin::PluginSet;
use crate::signals::{SignalHub, SignalOutlets, SignalTopics};
use crate::status::Status;
use anyhow::Context;
use std::net::SocketAddr;
use std::sync::atomic::AtomicBool;
use std::sync::mpsc::Receiver;
use std::sync::{Arc, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Runs the main job with `settings` until Ctrl-C (or for `duration`).
pub fn serve(settings: Settings, duration: Option<Duration>) -> anyhow::Result<()> {
    let stop = Stop::new(Arc::new(AtomicBool::new(false)), duration.map(|d| Instant::now() + d));
    let (plugins, plugin_changes) = load_plugins(&settings, &stop)?;
    let facts = PluginFacts::of(&plugins.operators);
    let mut engine = build_engine(&settings, plugins.into_operators());
    let checkpoint = restore(&settings, &mut engine)?;
    let (sink, reader) =
        crate::sink::open(settings.redis_url.as_deref()).context("cannot open the feature store")?;
    let status = Arc::new(RwLock::new(Status::default()));
    let hub = SignalHub::default();
    let pipeline = Pipeline::new(engine, sink, status.clone(), facts)
        .with_checkpoint(checkpoint)
        .with_plugin_changes(plugin_changes)
        .with_signals(SignalOutlets::new(hub.clone(), signal_topics(&settings)?));
    // The API answers from the first request with the plugins loaded, not an empty list.
    pipeline.publish();

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let listener = runtime
        .block_on(api::bind(settings.http_addr))
        .with_context(|| format!("cannot listen on {} (set http.addr or --http-addr)", settings.http_addr))?;
    let addr = listener.local_addr()?;
    let admin = settings.plugins_dir.clone().map(|dir| api::admin::Admin {
        dir,
        token: settings.admin_token.clone(),
        loopback_only: addr.ip().is_loopback(),
        policy: settings.plugin_policy.clone(),
    });
    let stall_after = settings.stall_after;
    let worker = spawn_pipeline(settings, pipeline, stop.clone(), addr)?;
    serve_http(
        &runtime,
        listener,
        AppState { store: reader, status, admin, signals: hub, stall_after },
        &stop,
    )?;
    let summary = worker.join().map_err(|_| anyhow::anyhow!("the pipeline thread panicked"))??;
    eprintln!("{summary}");
    Ok(())
}

/// Step 1: the plugins — a watched directory, a directory, or the embedded default set.
fn load_plugins(
    settings: &Settings,
    stop: &Stop,
) -> anyhow::Result<(PluginSet, Option<Receiver<PluginChange>>)> {
    let loading = Instant::now();
    let cache = settings.compiled_cache_dir.as_deref();
    let (plugins, changes) = match (&settings.plugins_dir, settings.plugins_watch) {
        (Some(dir), Some(every)) => {
            let (set, changes) =
                PluginSet::load_watched(dir, &settings.plugin_policy, cache, every, stop.flag.clone())
                    .with_context(|| format!("loading plugins from {}", dir.display()))?;
            eprintln!(
                "watching {} for new, changed and removed plugins every {} ms",
                dir.display(),
                every.as_millis()
            );
            (set, Some(changes))
        }
        (Some(dir), None) => (
            PluginSet::load_cached(Some(dir), &settings.plugin_policy, cache)
                .with_context(|| format!("loading plugins from {}", dir.display()))?,
            None,
        ),
        (None, _) => (
            PluginSet::load_cached(None, &settings.plugin_policy, cache)
                .context("loading the embedded plugins")?,
            None,
        ),
    };
    let cached = plugins.operators.iter().filter(|op| op.from_compiled_cache).count();
    eprintln!(
        "{} plugins loaded in {} ms ({cached} from the compiled-component cache)",
        plugins.operators.len(),
        loading.elapsed().as_millis()
    );
    Ok((plugins, changes))
}

/// Step 1b: the durable outlet of signals — the mapped Kafka topics with the Kafka source,
/// none otherwise (signals then reach the live `GET /signals` stream only).
fn signal_topics(settings: &Settings) -> anyhow::Result<Option<Box<dyn SignalTopics>>> {
    match &settings.source {
        SourceSettings::Kafka(kafka) => {
            let topics = crate::source::kafka::KafkaSignalTopics::connect(kafka)?;
            Ok(Some(Box::new(topics)))
        }
        SourceSettings::Generator { .. } => Ok(None),
    }
}

/// Step 2: the engine under the configured settings.
fn build_engine(settings: &Settings, operators: Vec<Box<dyn Operator>>) -> Engine {
    let config = EngineConfig {
        out_of_orderness_ms: settings.out_of_orderness_ms,
        dedup_horizon_ms: settings.dedup_horizon_ms,
        state_bytes_per_key: settings.state_bytes_per_key,
        quarantine_after: settings.quarantine_after,
        ..EngineConfig::default()
    };
    Engine::new(config, operators)
}

/// Step 3: the engine's state from its checkpoint, when checkpoints are on and one exists.
fn restore(settings: &Settings, engine: &mut Engine) -> anyhow::Result<Option<Checkpointer>> {
    let Some(path) = &settings.checkpoint_file else { return Ok(None) };
    let checkpoint = Checkpointer::new(path, settings.checkpoint_interval);
    match checkpoint.load(engine)? {
        None => eprintln!("no checkpoint at {}; starting with empty state", path.display()),
        Some(report) => {
            eprintln!("restored {}: {:?}, {} dedup ids", path.display(), report.restored, report.dedup_ids);
            for (plugin, from) in &report.migrated {
                eprintln!("  state of plugin {plugin} migrated from state schema {from}");
            }
            for (plugin, why) in &report.dropped {
                eprintln!("  state of plugin {plugin} dropped: {why}");
            }
        }
    }
    Ok(Some(checkpoint))
}

/// Asks everyone sharing the stop to end when dropped: also when the pipeline thread panics,
/// so the HTTP server does not go on serving a dead pipeline's counters.
struct StopOnDrop(Stop);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.request();
    }
}

/// Step 4: the pipeline thread, running the configured driver until `stop`; it returns the
/// run's summary line.
fn spawn_pipeline(
    settings: Settings,
    mut pipeline: Pipeline,
    stop: Stop,
    addr: SocketAddr,
) -> anyhow::Result<JoinHandle<anyhow::Result<String>>> {
    let worker = std::thread::Builder::new().name("pipeline".into()).spawn(move || {
        let _stop_on_exit = StopOnDrop(stop.clone());
        drive(&settings, &mut pipeline, &stop, addr)?;
        Ok(pipeline.summary())
    })?;
    Ok(worker)
}

/// Runs the configured source's driver until `stop`.
fn drive(
    settings: &Settings,
    pipeline: &mut Pipeline,
    stop: &Stop,
    addr: SocketAddr,
) -> Result<(), PipelineError> {
    match &settings.source {
        SourceSettings::Generator { rate, shoppers, seed, loyalty } => {
            let driver = GeneratorDriver {
                rate: *rate,
                shoppers: *shoppers,
                seed: *seed,
                loyalty: *loyalty,
                flush_interval: settings.flush_interval,
                idle_after: settings.idle_after,
            };
            driver.run(pipeline, stop, |batch| {
                let session = batch.iter().find_map(|e| e.session_id.as_deref()).unwrap_or("<session id>");
                eprintln!("Live Shopper is running: {rate} generated events/s over {shoppers} shoppers.");
                announce(addr, &batch[0].shopper_id, session);
            })
        }
        SourceSettings::Kafka(kafka) => {
            eprintln!(
                "Live Shopper is consuming {:?} from {} as group {:?}; rejects go to {:?}.",
                kafka.topics, kafka.brokers, kafka.group, kafka.dead_letter_topic
            );
            announce(addr, "<shopper id>", "<session id>");
            let driver = KafkaDriver {
                settings: kafka.as_ref().clone(),
                flush_interval: settings.flush_interval,
                max_batch_records: settings.max_batch_records,
                idle_after: settings.idle_after,
                stop_after_records: None,
                dedup_horizon_ms: settings.dedup_horizon_ms,
                time_bounds: settings.time_bounds,
                changelog: true,
            };
            driver.run(pipeline, stop)
        }
    }
}

/// Step 5: the HTTP API until Ctrl-C or the pipeline stops.
fn serve_http(
    runtime: &tokio::runtime::Runtime,
    listener: tokio::net::TcpListener,
    app: AppState,
    stop: &Stop,
) -> anyhow::Result<()> {
    let stop = stop.clone();
    runtime.block_on(async move {
        let shutdown = async move {
            // Both listeners live across the loop: a signal that arrives while none is
            // registered is lost (a fresh `ctrl_c()` each turn missed a SIGINT now and then).
            use tokio::signal::unix::{signal, SignalKind};
            let mut interrupt = signal(SignalKind::interrupt()).expect("a SIGINT handler can be installed");
            let mut terminate = signal(SignalKind::terminate()).expect("a SIGTERM handler can be installed");
            loop {
                tokio::select! {
                    _ = interrupt.recv() => break,
                    _ = terminate.recv() => break,
                    _ = tokio::time::sleep(Duration::from_millis(200)) => {
                        if stop.requested() { break; }
                    }
                }
            }
            stop.request();
            eprintln!("shutting down…");
        };
        api::serve(listener, app, shutdown).await
    })?;
    Ok(())
}

fn announce(addr: SocketAddr, shopper: &str, session: &str) {
    eprintln!("  plugins   curl http://{addr}/plugins");
    eprintln!("  features  curl http://{addr}/features/user/{shopper}");
    eprintln!("  sessions  curl http://{addr}/features/session/{session}");
    eprintln!("  health    curl http://{addr}/healthz     metrics  curl http://{addr}/metrics");
    eprintln!("Press Ctrl-C to stop.");
}
