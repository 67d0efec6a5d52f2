//! The TOML config file as written: every section and field, with its default. This file is the
//! one place the defaults of `run` live (those of the engine and the plugin limits are taken
//! from `EngineConfig` and `Limits`, which own them); `docs/CONFIG.md` and
//! `docs/live-shopper.example.toml` are checked against it by a test. Unknown fields are refused
//! so a typo names itself.

use super::per_plugin::PluginSection;
use crate::engine::EngineConfig;
use crate::plugin::Limits;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// The whole file. Every section may be left out.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConfigFile {
    /// The HTTP API: its address and admin token.
    pub http: HttpSection,
    /// The built-in traffic generator (the source when no Kafka brokers are set).
    pub generator: GeneratorSection,
    /// The Kafka source and its dead-letter topics.
    pub kafka: KafkaSection,
    /// The Redis feature store.
    pub redis: RedisSection,
    /// How records move through the host.
    pub pipeline: PipelineSection,
    /// The engine's watermark, dedup and checkpoint settings.
    pub engine: EngineSection,
    /// Where plugins are loaded from and the limits they run under.
    pub plugins: PluginsSection,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpSection {
    /// Address of the HTTP API. `:0` picks a free port.
    pub addr: String,
    /// Bearer token the admin API requires when `addr` is not a loopback address.
    pub admin_token: Option<String>,
}

impl Default for HttpSection {
    fn default() -> Self {
        HttpSection { addr: "127.0.0.1:8080".into(), admin_token: None }
    }
}

/// The built-in traffic generator: the source when no Kafka brokers are set.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct GeneratorSection {
    pub rate: u64,
    pub shoppers: u64,
    pub seed: u64,
    /// Attach the example custom entity `iglu:com.acme/loyalty/jsonschema/1-0-0` to every event.
    pub loyalty: bool,
}

impl Default for GeneratorSection {
    fn default() -> Self {
        GeneratorSection { rate: 500, shoppers: 1_000, seed: 1, loyalty: false }
    }
}

/// The Kafka source and the dead-letter topic. Setting `brokers` switches the source to Kafka.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct KafkaSection {
    pub brokers: Option<String>,
    pub topics: Vec<String>,
    pub group: String,
    pub dead_letter_topic: String,
    /// Where a plugin's failed batches go (plugin, version, reason, keys, event ids), as JSON.
    pub plugin_dead_letter_topic: String,
    /// `earliest` or `latest`: where a partition starts when the group has no committed offset.
    pub start_from: String,
    pub session_timeout_ms: u64,
    pub max_poll_interval_ms: u64,
    /// librdkafka's local prefetch bound per consumer, in KiB (the bounded input buffer).
    pub queued_max_kbytes: u64,
    /// Longest the broker may hold a fetch that has no data yet.
    pub fetch_wait_max_ms: u64,
    /// Extra librdkafka properties for the consumer and the producer (`"security.protocol" = "ssl"`).
    pub properties: BTreeMap<String, String>,
    /// The topic each signal goes to, by signal name. A plugin declaring a signal not mapped
    /// here is refused at load when the source is Kafka.
    pub signal_topics: BTreeMap<String, String>,
    /// The state changelog topic of the group; empty: `<group>-changelog`.
    pub changelog_topic: String,
    /// The repartition topic of the group; empty: `<group>-repartition`.
    pub repartition_topic: String,
    /// Send events of plugins keyed by product, category, global or an entity field through
    /// the repartition topic (needed with several hosts in the group).
    pub repartition: bool,
    /// librdkafka's `partition.assignment.strategy`.
    pub assignment_strategy: String,
    /// Static membership (`group.instance.id`): a restart within the session timeout keeps
    /// its partitions without a rebalance. Unset: dynamic membership.
    pub group_instance_id: Option<String>,
}

impl Default for KafkaSection {
    fn default() -> Self {
        KafkaSection {
            brokers: None,
            topics: vec!["snowplow-enriched-good".into()],
            group: "live-shopper".into(),
            dead_letter_topic: "live-shopper-dead-letter".into(),
            plugin_dead_letter_topic: "live-shopper-plugin-dead-letter".into(),
            start_from: "earliest".into(),
            session_timeout_ms: 10_000,
            max_poll_interval_ms: 300_000,
            queued_max_kbytes: 65_536,
            fetch_wait_max_ms: 10,
            properties: BTreeMap::new(),
            signal_topics: [("flash_sale_alert".to_string(), "live-shopper-signals".to_string())].into(),
            changelog_topic: String::new(),
            repartition_topic: String::new(),
            repartition: true,
            assignment_strategy: "cooperative-sticky".into(),
            group_instance_id: None,
        }
    }
}

/// The Redis store. Setting `url` switches the feature store from in-memory to Redis.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct RedisSection {
    /// `redis://host:port[/db]`, `rediss://…`, or `redis+cluster://host:port,host:port` for a cluster.
    pub url: Option<String>,
}

#[allow(clippy::derivable_impls)]
impl Default for RedisSection {
    fn default() -> Self {
        RedisSection { url: None }
    }
}

/// How records move through the host.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct PipelineSection {
    /// Longest a record waits before its features are written (writes coalesce within it).
    pub flush_interval_ms: u64,
    /// Most records taken into one step (one plugin call each, one Redis pipeline).
    pub max_batch_records: u64,
    /// `/healthz` answers 503 once the loop has not finished a turn, or every store write has
    /// failed, for this long.
    pub stall_after_ms: u64,
}

impl Default for PipelineSection {
    fn default() -> Self {
        PipelineSection { flush_interval_ms: 50, max_batch_records: 10_000, stall_after_ms: 30_000 }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct EngineSection {
    pub out_of_orderness_ms: u64,
    pub idle_after_ms: u64,
    pub dedup_horizon_ms: u64,
    /// Most an event's time may be ahead of its ingest time (Kafka timestamp, never past the
    /// wall clock); later ones are dead-lettered as `time_out_of_range`.
    pub max_future_ms: u64,
    /// Most an event's time may be behind its ingest time; 0: no bound.
    pub max_age_ms: u64,
    /// Where the engine's checkpoint (keyed state, timers, dedup memory, watermark) is kept.
    /// None: state lives in memory only and a restart starts empty.
    pub checkpoint_file: Option<PathBuf>,
    pub checkpoint_interval_ms: u64,
}

impl Default for EngineSection {
    fn default() -> Self {
        // The engine and the decoder own their defaults; the file takes them from there.
        let (engine, bounds) = (EngineConfig::default(), crate::decode::TimeBounds::default());
        EngineSection {
            out_of_orderness_ms: engine.out_of_orderness_ms,
            idle_after_ms: 3_000,
            dedup_horizon_ms: engine.dedup_horizon_ms,
            max_future_ms: bounds.max_future_ms,
            max_age_ms: bounds.max_age_ms,
            checkpoint_file: None,
            checkpoint_interval_ms: 10_000,
        }
    }
}

/// `[plugins]`: where plugins come from and the limits every one runs under; a sub-table
/// `[plugins.<name>]` sets one plugin's own (per_plugin.rs). Unknown scalar fields are refused
/// as a sub-table of the wrong type, which names the field.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default)]
pub struct PluginsSection {
    /// Load `*.wasm` from this folder instead of the embedded set.
    pub dir: Option<PathBuf>,
    pub memory_mib: u64,
    pub cpu_ms_per_call: u64,
    pub output_mib: u64,
    /// Largest state one key may hold per plugin, in KiB.
    pub state_kib_per_key: u64,
    /// Consecutive failed calls after which a plugin is quarantined (0: never).
    pub quarantine_after_failures: u64,
    /// How often `dir` is checked for new, changed and removed plugins (0: never).
    pub watch_interval_ms: u64,
    /// Keep compiled components so a restart skips compilation.
    pub compiled_cache: bool,
    /// Where; default `$XDG_CACHE_HOME/live-shopper/components` or `~/.cache/live-shopper/components`.
    pub compiled_cache_dir: Option<PathBuf>,
    /// `[plugins.<name>]` sections, by plugin name.
    #[serde(flatten)]
    pub per_plugin: BTreeMap<String, PluginSection>,
}

impl Default for PluginsSection {
    fn default() -> Self {
        // The limits and the engine own their defaults; the file takes them from there.
        let (limits, engine) = (Limits::default(), EngineConfig::default());
        PluginsSection {
            dir: None,
            memory_mib: (limits.memory_bytes >> 20) as u64,
            cpu_ms_per_call: limits.cpu_per_call.as_millis() as u64,
            output_mib: (limits.output_bytes >> 20) as u64,
            state_kib_per_key: (engine.state_bytes_per_key >> 10) as u64,
            quarantine_after_failures: engine.quarantine_after as u64,
            watch_interval_ms: 1_000,
            compiled_cache: true,
            compiled_cache_dir: None,
            per_plugin: BTreeMap::new(),
        }
    }
}
