//! `live-shopper run`: the main job — a live source (the built-in generator, or Kafka), the
//! plugins, the feature store (in memory, or Redis) and the HTTP API — until Ctrl-C. The
//! wiring itself is `app.rs`.

use crate::config::{Overrides, Settings};
use std::path::PathBuf;
use std::time::Duration;

/// Settings come from `--config FILE`, then the `LIVE_SHOPPER_*` environment, then these flags;
/// every setting and default is in `docs/CONFIG.md`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// TOML config file (see docs/CONFIG.md and docs/live-shopper.example.toml).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Address of the HTTP API [http.addr; env LIVE_SHOPPER_HTTP_ADDR].
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
    /// Generated events per second of wall-clock time [generator.rate].
    #[arg(long)]
    pub rate: Option<u64>,
    /// Distinct shoppers the generator simulates [generator.shoppers].
    #[arg(long)]
    pub shoppers: Option<u64>,
    /// Generator seed [generator.seed].
    #[arg(long)]
    pub seed: Option<u64>,
    /// Longest a record waits before its features are written, in ms [pipeline.flush_interval_ms].
    #[arg(long)]
    pub flush_interval_ms: Option<u64>,
    /// Stop by itself after this many seconds (default: run until Ctrl-C).
    #[arg(long)]
    pub duration_secs: Option<u64>,
    /// With Kafka: start with empty state where the group has committed offsets but the
    /// changelog holds no state for a partition (otherwise such a start is refused).
    #[arg(long)]
    pub reset_state: bool,
}

impl RunArgs {
    fn overrides(&self) -> Overrides {
        Overrides {
            kafka_brokers: self.kafka_brokers.clone(),
            kafka_topics: self.kafka_topics.clone(),
            kafka_group: self.kafka_group.clone(),
            kafka_group_instance_id: None,
            dead_letter_topic: self.dead_letter_topic.clone(),
            redis_url: self.redis_url.clone(),
            http_addr: self.http_addr.clone(),
            plugins_dir: self.plugins.clone(),
            flush_interval_ms: self.flush_interval_ms,
            max_future_ms: None,
            rate: self.rate,
            shoppers: self.shoppers,
            seed: self.seed,
            plugin_vars: Vec::new(),
        }
    }
}

/// Loads the settings (file, environment, flags) and runs the job until Ctrl-C or `--duration-secs`.
pub fn run(args: RunArgs) -> anyhow::Result<()> {
    let overrides = Overrides::from_env(|name| std::env::var(name).ok())
        .with_plugin_vars(std::env::vars())
        .then(args.overrides());
    let mut settings = Settings::load(args.config.as_deref(), overrides)?;
    if args.reset_state {
        match &mut settings.source {
            crate::config::SourceSettings::Kafka(kafka) => kafka.reset_state = true,
            crate::config::SourceSettings::Generator { .. } => {
                anyhow::bail!(
                    "--reset-state applies to the Kafka source, whose state lives in the changelog topic"
                )
            }
        }
    }
    crate::app::serve(settings, args.duration_secs.map(Duration::from_secs))
}
