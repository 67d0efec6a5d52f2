//! `live-shopper run`: the main job — a live source (the built-in generator, or Kafka), the
//! plugins, the feature store (in memory, or Redis) and the HTTP API — until Ctrl-C.

use super::plugin_set::PluginSet;
use crate::api::{self, AppState, FeatureView, Status};
use crate::checkpoint::Checkpointer;
use crate::config::{Overrides, Settings, SourceSettings};
use crate::engine::{Engine, EngineConfig, Operator};
use crate::pipeline::generator::GeneratorDriver;
use crate::pipeline::kafka::KafkaDriver;
use crate::pipeline::{Pipeline, PluginFacts, Stop, Store};
use crate::sink::{RedisReader, RedisSink, SharedStore};
use anyhow::Context;
use serde_json::json;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

/// Settings come from `--config FILE`, then the `LIVE_SHOPPER_*` environment, then these flags;
/// every setting and default is in `docs/CONFIG.md`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// TOML config file (see docs/CONFIG.md and docs/live-shopper.example.toml).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Address of the HTTP API [file: http.addr; env LIVE_SHOPPER_HTTP_ADDR; default 127.0.0.1:8080].
    #[arg(long)]
    pub http_addr: Option<String>,
    /// Load the plugins from this directory instead of the embedded default set [plugins.dir].
    #[arg(long, value_name = "DIR")]
    pub plugins: Option<PathBuf>,
    /// Consume from these Kafka brokers (host:port,...) instead of the generator [kafka.brokers;
    /// env LIVE_SHOPPER_KAFKA_BROKERS].
    #[arg(long, value_name = "HOST:PORT,...")]
    pub kafka_brokers: Option<String>,
    /// Comma-separated input topics [kafka.topics; env LIVE_SHOPPER_KAFKA_TOPICS].
    #[arg(long, value_name = "TOPIC,...")]
    pub kafka_topics: Option<String>,
    /// Consumer group [kafka.group; env LIVE_SHOPPER_KAFKA_GROUP].
    #[arg(long)]
    pub kafka_group: Option<String>,
    /// Topic for undecodable records [kafka.dead_letter_topic; env LIVE_SHOPPER_DEAD_LETTER_TOPIC].
    #[arg(long)]
    pub dead_letter_topic: Option<String>,
    /// Write features to Redis instead of the in-memory store; `redis+cluster://h:p,h:p` for a
    /// cluster [redis.url; env LIVE_SHOPPER_REDIS_URL].
    #[arg(long, value_name = "URL")]
    pub redis_url: Option<String>,
    /// Generated events per second of wall-clock time [generator.rate; default 500].
    #[arg(long)]
    pub rate: Option<u64>,
    /// Distinct shoppers the generator simulates [generator.shoppers; default 1000].
    #[arg(long)]
    pub shoppers: Option<u64>,
    /// Generator seed [generator.seed; default 1].
    #[arg(long)]
    pub seed: Option<u64>,
    /// Longest a record waits before its features are written, in ms [pipeline.flush_interval_ms; default 50].
    #[arg(long)]
    pub flush_interval_ms: Option<u64>,
    /// Stop by itself after this many seconds (default: run until Ctrl-C).
    #[arg(long)]
    pub duration_secs: Option<u64>,
}

impl RunArgs {
    fn overrides(&self) -> Overrides {
        Overrides {
            kafka_brokers: self.kafka_brokers.clone(),
            kafka_topics: self.kafka_topics.clone(),
            kafka_group: self.kafka_group.clone(),
            dead_letter_topic: self.dead_letter_topic.clone(),
            redis_url: self.redis_url.clone(),
            http_addr: self.http_addr.clone(),
            plugins_dir: self.plugins.clone(),
            flush_interval_ms: self.flush_interval_ms,
            rate: self.rate,
            shoppers: self.shoppers,
            seed: self.seed,
        }
    }
}

pub fn run(args: RunArgs) -> anyhow::Result<()> {
    let overrides = Overrides::from_env(|name| std::env::var(name).ok()).then(args.overrides());
    let settings = Settings::load(args.config.as_deref(), overrides)?;
    serve(settings, args.duration_secs.map(Duration::from_secs))
}

/// Runs the main job with `settings` until Ctrl-C (or for `duration`).
pub fn serve(settings: Settings, duration: Option<Duration>) -> anyhow::Result<()> {
    let loading = Instant::now();
    let stop = Stop::new(Arc::new(AtomicBool::new(false)), duration.map(|d| Instant::now() + d));
    let cache = settings.compiled_cache_dir.as_deref();
    let (plugins, plugin_changes) = match (&settings.plugins_dir, settings.plugins_watch) {
        (Some(dir), Some(every)) => {
            let (set, changes) =
                PluginSet::load_watched(dir, settings.limits, cache, every, stop.flag.clone())?;
            eprintln!(
                "watching {} for new, changed and removed plugins every {} ms",
                dir.display(),
                every.as_millis()
            );
            (set, Some(changes))
        }
        (dir, _) => (PluginSet::load_cached(dir.as_deref(), settings.limits, cache)?, None),
    };
    let cached = plugins.operators.iter().filter(|op| op.from_compiled_cache).count();
    eprintln!(
        "{} plugins loaded in {} ms ({cached} from the compiled-component cache)",
        plugins.operators.len(),
        loading.elapsed().as_millis()
    );
    let facts = PluginFacts {
        hashes: plugins
            .operators
            .iter()
            .map(|op| (op.descriptor().name.clone(), op.content_hash().to_string()))
            .collect(),
        limits: json!({
            "memory_bytes": settings.limits.memory_bytes,
            "cpu_ms_per_call": settings.limits.cpu_per_call.as_millis() as u64,
            "output_bytes": settings.limits.output_bytes,
        }),
    };
    let engine_config = EngineConfig {
        out_of_orderness_ms: settings.out_of_orderness_ms,
        dedup_horizon_ms: settings.dedup_horizon_ms,
        state_bytes_per_key: settings.state_bytes_per_key,
        quarantine_after: settings.quarantine_after,
        ..EngineConfig::default()
    };
    let engine = Engine::new(engine_config, plugins.into_operators());
    let (store, view) = match &settings.redis_url {
        Some(url) => (
            Store::Redis(Box::new(RedisSink::new(url, usize::MAX)?)),
            FeatureView::Redis(Arc::new(RedisReader::new(url)?)),
        ),
        None => {
            let shared = SharedStore::default();
            (Store::Memory(shared.clone()), FeatureView::Memory(shared))
        }
    };
    let status = Arc::new(RwLock::new(Status::default()));
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
        limits: settings.limits,
    });
    let mut pipeline = Pipeline::new(engine, store, status.clone(), facts);
    pipeline.plugin_changes = plugin_changes;
    if let Some(path) = &settings.checkpoint_file {
        let checkpoint = Checkpointer::new(path, settings.checkpoint_interval);
        match checkpoint.load(&mut pipeline.engine)? {
            None => eprintln!("no checkpoint at {}; starting with empty state", path.display()),
            Some(report) => {
                eprintln!(
                    "restored {}: {:?}, {} dedup ids",
                    path.display(),
                    report.restored,
                    report.dedup_ids
                );
                for (plugin, from) in &report.migrated {
                    eprintln!("  state of plugin {plugin} migrated from state schema {from}");
                }
                for (plugin, why) in &report.dropped {
                    eprintln!("  state of plugin {plugin} dropped: {why}");
                }
            }
        }
        pipeline.checkpoint = Some(checkpoint);
    }
    // The API answers from the first request with the plugins loaded, not an empty list.
    pipeline.publish();
    let worker = {
        let stop = stop.clone();
        std::thread::Builder::new().name("pipeline".into()).spawn(move || {
            let result = drive(&settings, &mut pipeline, &stop, addr);
            stop.request();
            result.map(|()| pipeline.summary())
        })?
    };

    let app = AppState { store: view, status, admin };
    let stop_server = stop.clone();
    runtime.block_on(async move {
        let shutdown = async move {
            loop {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => break,
                    _ = tokio::time::sleep(Duration::from_millis(200)) => {
                        if stop_server.requested() { break; }
                    }
                }
            }
            stop_server.flag.store(true, Ordering::Relaxed);
            eprintln!("shutting down…");
        };
        api::serve(listener, app, shutdown).await
    })?;
    let summary = worker.join().map_err(|_| anyhow::anyhow!("the pipeline thread panicked"))??;
    eprintln!("{summary}");
    Ok(())
}

/// Runs the configured source's driver until `stop`.
fn drive(settings: &Settings, pipeline: &mut Pipeline, stop: &Stop, addr: SocketAddr) -> anyhow::Result<()> {
    match &settings.source {
        SourceSettings::Generator { rate, shoppers, seed } => {
            let driver = GeneratorDriver {
                rate: *rate,
                shoppers: *shoppers,
                seed: *seed,
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
                settings: kafka.clone(),
                flush_interval: settings.flush_interval,
                max_batch_records: settings.max_batch_records,
                idle_after: settings.idle_after,
                stop_after_records: None,
            };
            driver.run(pipeline, stop)
        }
    }
}

fn announce(addr: SocketAddr, shopper: &str, session: &str) {
    eprintln!("  plugins   curl http://{addr}/plugins");
    eprintln!("  features  curl http://{addr}/features/user/{shopper}");
    eprintln!("  sessions  curl http://{addr}/features/session/{session}");
    eprintln!("  health    curl http://{addr}/healthz     metrics  curl http://{addr}/metrics");
    eprintln!("Press Ctrl-C to stop.");
}
