//! `live-shopper run`: the main job on the embedded default — generated live traffic, the
//! plugins, the in-memory feature store and the HTTP API — until Ctrl-C.

use super::plugin_set::PluginSet;
use crate::api::{self, AppState, PluginInfo, Status};
use crate::engine::emission::{CountingSink, EmissionSink, Tee};
use crate::engine::{Engine, EngineConfig, Operator};
use crate::plugin::Limits;
use crate::sink::{RedisSink, SharedStore};
use crate::source::generator::{Generator, GeneratorConfig};
use anyhow::Context;
use serde_json::json;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Address of the HTTP API (features, plugins, health).
    #[arg(long, env = "LIVE_SHOPPER_HTTP_ADDR", default_value = "127.0.0.1:8080")]
    pub http_addr: SocketAddr,
    /// Load the plugins from this directory instead of the embedded default set.
    #[arg(long, value_name = "DIR")]
    pub plugins: Option<PathBuf>,
    /// Generated events per second of wall-clock time.
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u32).range(1..=10_000_000))]
    pub rate: u32,
    /// Distinct shoppers the generator simulates.
    #[arg(long, default_value_t = 1_000, value_parser = clap::value_parser!(u32).range(1..))]
    pub shoppers: u32,
    /// Generator seed.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// How often generated events are processed and features written, in milliseconds.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub flush_interval_ms: u64,
    /// Also write features to Redis (hashes with TTLs, login aliases), flushed every interval.
    #[arg(long, env = "LIVE_SHOPPER_REDIS_URL", value_name = "URL")]
    pub redis_url: Option<String>,
    /// Stop by itself after this many seconds (default: run until Ctrl-C).
    #[arg(long)]
    pub duration_secs: Option<u64>,
}

/// Wall-clock idle time after which the watermark advances by the clock (FEATURES.md §2).
const IDLE_AFTER: Duration = Duration::from_secs(3);
const STATUS_EVERY: Duration = Duration::from_millis(500);

fn wall_ms() -> i64 {
    SharedStore::now_ms()
}

pub fn run(args: RunArgs) -> anyhow::Result<()> {
    let limits = Limits::default();
    let plugins = PluginSet::load(args.plugins.as_deref(), limits)?;
    let hashes: Vec<(String, String)> = plugins
        .operators
        .iter()
        .map(|op| (op.descriptor().name.clone(), op.content_hash().to_string()))
        .collect();
    let engine = Engine::new(EngineConfig::default(), plugins.into_operators());

    let store = SharedStore::default();
    let status = Arc::new(RwLock::new(Status::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let listener = runtime
        .block_on(api::bind(args.http_addr))
        .with_context(|| format!("cannot listen on {} (set --http-addr)", args.http_addr))?;
    let addr = listener.local_addr()?;

    let pipeline = {
        let (store, status, stop) = (store.clone(), status.clone(), stop.clone());
        let limits_json = json!({
            "memory_bytes": limits.memory_bytes,
            "cpu_ms_per_call": limits.cpu_per_call.as_millis() as u64,
            "output_bytes": limits.output_bytes,
        });
        std::thread::Builder::new()
            .name("pipeline".into())
            .spawn(move || pipeline(engine, &args, store, status, stop, hashes, limits_json, addr))?
    };

    let app = AppState { store, status };
    let stop_server = stop.clone();
    runtime.block_on(async move {
        let shutdown = async move {
            loop {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => break,
                    _ = tokio::time::sleep(Duration::from_millis(200)) => {
                        if stop_server.load(Ordering::Relaxed) { break; }
                    }
                }
            }
            stop_server.store(true, Ordering::Relaxed);
            eprintln!("shutting down…");
        };
        api::serve(listener, app, shutdown).await
    })?;
    let summary = pipeline.join().map_err(|_| anyhow::anyhow!("the pipeline thread panicked"))??;
    eprintln!("{summary}");
    Ok(())
}

/// The engine loop: every flush interval, takes the events due at the configured rate,
/// processes them, and publishes status for the API.
#[allow(clippy::too_many_arguments)]
fn pipeline(
    mut engine: Engine,
    args: &RunArgs,
    mut store: SharedStore,
    status: Arc<RwLock<Status>>,
    stop: Arc<AtomicBool>,
    hashes: Vec<(String, String)>,
    limits: serde_json::Value,
    addr: SocketAddr,
) -> anyhow::Result<String> {
    let started = Instant::now();
    let deadline = args.duration_secs.map(|s| started + Duration::from_secs(s));
    let config =
        GeneratorConfig { shoppers: args.shoppers, events: u64::MAX, seed: args.seed, start_ms: wall_ms() };
    let mut generator = Generator::new(config);
    // Every flush interval's writes go to Redis as one pipeline; while Redis is down the loop
    // waits in `flush`, so no new events are taken and nothing is lost.
    let mut redis = match &args.redis_url {
        Some(url) => Some(RedisSink::new(url, usize::MAX)?),
        None => None,
    };
    let flush = Duration::from_millis(args.flush_interval_ms);
    let mut produced = 0u64;
    let mut last_event = Instant::now();
    let mut last_status = Instant::now() - STATUS_EVERY;
    let mut announced = false;
    let mut batch = Vec::new();
    while !stop.load(Ordering::Relaxed) && deadline.is_none_or(|d| Instant::now() < d) {
        std::thread::sleep(flush);
        let due = (started.elapsed().as_secs_f64() * args.rate as f64) as u64;
        let now = wall_ms();
        batch.clear();
        while produced < due {
            let Some(mut event) = generator.next() else { break };
            // Live traffic happens now: the generator supplies the shape, the clock the time.
            event.event_time = now;
            batch.push(event);
            produced += 1;
        }
        let mut counting = CountingSink::default();
        let redis_sink: &mut dyn EmissionSink = match redis.as_mut() {
            Some(r) => r,
            None => &mut counting,
        };
        let mut sink = Tee(&mut store, redis_sink);
        if batch.is_empty() {
            if last_event.elapsed() >= IDLE_AFTER {
                engine.advance_idle(now, &mut sink);
            }
        } else {
            last_event = Instant::now();
            engine.process(&batch, &mut sink);
            if !announced {
                announced = true;
                let session = batch.iter().find_map(|e| e.session_id.as_deref()).unwrap_or("<session id>");
                announce(addr, &batch[0].shopper_id, session, args);
            }
        }
        if let Some(r) = redis.as_mut() {
            let give_up = || stop.load(Ordering::Relaxed) || deadline.is_some_and(|d| Instant::now() >= d);
            if let Err(e) = r.flush_or_give_up(give_up) {
                tracing::error!(error = %e, "stopping while Redis is unreachable");
                break;
            }
        }
        if last_status.elapsed() >= STATUS_EVERY {
            last_status = Instant::now();
            store.lock().evict_expired(wall_ms());
            publish(&engine, &status, &hashes, &limits);
        }
    }
    stop.store(true, Ordering::Relaxed);
    publish(&engine, &status, &hashes, &limits);
    let s = engine.stats();
    Ok(format!(
        "processed {} events ({} duplicates) in {:.1} s; {} feature hashes in the store",
        s.events,
        s.duplicates,
        started.elapsed().as_secs_f64(),
        store.lock().len()
    ))
}

fn announce(addr: SocketAddr, shopper: &str, session: &str, args: &RunArgs) {
    eprintln!(
        "Live Shopper is running: {} generated events/s over {} shoppers, 5 plugins.",
        args.rate, args.shoppers
    );
    eprintln!("  plugins   curl http://{addr}/plugins");
    eprintln!("  features  curl http://{addr}/features/user/{shopper}");
    eprintln!("  sessions  curl http://{addr}/features/session/{session}");
    eprintln!("  health    curl http://{addr}/healthz");
    eprintln!("Press Ctrl-C to stop.");
}

fn publish(
    engine: &Engine,
    status: &RwLock<Status>,
    hashes: &[(String, String)],
    limits: &serde_json::Value,
) {
    let plugins = engine
        .reports()
        .iter()
        .map(|r| {
            let hash = hashes.iter().find(|(n, _)| *n == r.descriptor.name).map_or("", |(_, h)| h.as_str());
            PluginInfo::from_report(r, hash, limits.clone())
        })
        .collect();
    let stats = engine.stats();
    let mut s = status.write().unwrap_or_else(|p| p.into_inner());
    *s = Status {
        events: stats.events,
        duplicates: stats.duplicates,
        rejected: 0,
        watermark: Some(engine.watermark()).filter(|w| *w > i64::MIN),
        plugins,
    };
}
