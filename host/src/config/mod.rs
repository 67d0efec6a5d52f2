//! Settings of `live-shopper run`: the TOML file (`run --config FILE`), then the environment,
//! then command-line flags, each overriding the one before; parsed, then validated into typed
//! [`Settings`]. Every default is documented in `docs/CONFIG.md`; every error names its field.

mod file;
mod kafka;
pub mod per_plugin;

pub use file::ConfigFile;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;
use thiserror::Error;

/// A setting that is invalid, named by its place in the file (`kafka.topics`) or by the
/// environment variable or flag it came from.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// The config file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The config file.
        path: PathBuf,
        /// Why reading failed.
        source: std::io::Error,
    },
    /// The config file is not valid TOML, or has an unknown or mistyped field.
    #[error("config file {path}: {message}")]
    Parse {
        /// The config file.
        path: PathBuf,
        /// The parser's message, naming the field and its line.
        message: String,
    },
    /// A setting's value is malformed or out of range.
    #[error("{field}: {message}")]
    Invalid {
        /// The setting: its place in the file (`kafka.topics`), or the variable or flag it came from.
        field: String,
        /// What is wrong with the value.
        message: String,
    },
}

impl crate::error::Classified for ConfigError {
    /// A setting, a config file or its path: always the operator's to fix.
    fn fault(&self) -> crate::error::Fault {
        crate::error::Fault::Input
    }
}

pub(super) fn invalid(field: &str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid { field: field.to_string(), message: message.into() }
}

/// Environment variables that override the file (FEATURES.md §1 deployment settings).
pub const ENV_KAFKA_BROKERS: &str = "LIVE_SHOPPER_KAFKA_BROKERS";
/// Overrides `kafka.topics` (comma-separated).
pub const ENV_KAFKA_TOPICS: &str = "LIVE_SHOPPER_KAFKA_TOPICS";
/// Overrides `kafka.group`.
pub const ENV_KAFKA_GROUP: &str = "LIVE_SHOPPER_KAFKA_GROUP";
/// Overrides `kafka.group_instance_id` (static membership: unique per host, e.g. a pod's name).
pub const ENV_KAFKA_GROUP_INSTANCE_ID: &str = "LIVE_SHOPPER_KAFKA_GROUP_INSTANCE_ID";
/// Overrides `kafka.dead_letter_topic`.
pub const ENV_DEAD_LETTER_TOPIC: &str = "LIVE_SHOPPER_DEAD_LETTER_TOPIC";
/// Overrides `redis.url`.
pub const ENV_REDIS_URL: &str = "LIVE_SHOPPER_REDIS_URL";
/// Overrides `http.addr`.
pub const ENV_HTTP_ADDR: &str = "LIVE_SHOPPER_HTTP_ADDR";
/// Overrides `engine.max_future_ms` (e.g. to replay a stream stamped ahead of the clock).
pub const ENV_MAX_FUTURE_MS: &str = "LIVE_SHOPPER_MAX_FUTURE_MS";

/// Values given on the command line or in the environment, applied over the file.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// Replaces `kafka.brokers` (`host:port[,host:port]`; selects the Kafka source).
    pub kafka_brokers: Option<String>,
    /// Replaces `kafka.topics`: comma-separated topic names.
    pub kafka_topics: Option<String>,
    /// Replaces `kafka.group`.
    pub kafka_group: Option<String>,
    /// Replaces `kafka.group_instance_id`.
    pub kafka_group_instance_id: Option<String>,
    /// Replaces `kafka.dead_letter_topic`.
    pub dead_letter_topic: Option<String>,
    /// Replaces `redis.url` (selects the Redis store).
    pub redis_url: Option<String>,
    /// Replaces `http.addr`.
    pub http_addr: Option<String>,
    /// Replaces `plugins.dir`.
    pub plugins_dir: Option<PathBuf>,
    /// Replaces `pipeline.flush_interval_ms`.
    pub flush_interval_ms: Option<u64>,
    /// Replaces `engine.max_future_ms` (a number of ms, as written in the variable).
    pub max_future_ms: Option<String>,
    /// Replaces `generator.rate` (events per second).
    pub rate: Option<u64>,
    /// Replaces `generator.shoppers`.
    pub shoppers: Option<u64>,
    /// Replaces `generator.seed`.
    pub seed: Option<u64>,
    /// `LIVE_SHOPPER_PLUGIN_<NAME>__<FIELD>` variables (name, value), applied over
    /// `[plugins.<name>]`.
    pub plugin_vars: Vec<(String, String)>,
}

impl Overrides {
    /// The `LIVE_SHOPPER_*` variables that are set (an empty value counts as unset).
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Self {
        let get = |name: &str| var(name).filter(|v| !v.trim().is_empty());
        Overrides {
            kafka_brokers: get(ENV_KAFKA_BROKERS),
            kafka_topics: get(ENV_KAFKA_TOPICS),
            kafka_group: get(ENV_KAFKA_GROUP),
            kafka_group_instance_id: get(ENV_KAFKA_GROUP_INSTANCE_ID),
            dead_letter_topic: get(ENV_DEAD_LETTER_TOPIC),
            redis_url: get(ENV_REDIS_URL),
            http_addr: get(ENV_HTTP_ADDR),
            max_future_ms: get(ENV_MAX_FUTURE_MS),
            ..Overrides::default()
        }
    }

    /// Adds the per-plugin variables (`LIVE_SHOPPER_PLUGIN_<NAME>__<FIELD>`) among `vars`.
    pub fn with_plugin_vars(mut self, vars: impl Iterator<Item = (String, String)>) -> Self {
        self.plugin_vars.extend(vars.filter(|(name, _)| name.starts_with(per_plugin::ENV_PLUGIN_PREFIX)));
        self
    }

    /// Every value set in `later` replaces this one's.
    pub fn then(self, later: Overrides) -> Overrides {
        Overrides {
            kafka_brokers: later.kafka_brokers.or(self.kafka_brokers),
            kafka_topics: later.kafka_topics.or(self.kafka_topics),
            kafka_group: later.kafka_group.or(self.kafka_group),
            kafka_group_instance_id: later.kafka_group_instance_id.or(self.kafka_group_instance_id),
            dead_letter_topic: later.dead_letter_topic.or(self.dead_letter_topic),
            redis_url: later.redis_url.or(self.redis_url),
            http_addr: later.http_addr.or(self.http_addr),
            plugins_dir: later.plugins_dir.or(self.plugins_dir),
            flush_interval_ms: later.flush_interval_ms.or(self.flush_interval_ms),
            max_future_ms: later.max_future_ms.or(self.max_future_ms),
            rate: later.rate.or(self.rate),
            shoppers: later.shoppers.or(self.shoppers),
            seed: later.seed.or(self.seed),
            plugin_vars: self.plugin_vars.into_iter().chain(later.plugin_vars).collect(),
        }
    }
}

/// Where events come from.
#[derive(Debug, Clone, PartialEq)]
pub enum SourceSettings {
    /// The built-in traffic generator.
    Generator {
        /// Generated events per second of wall-clock time.
        rate: u32,
        /// Distinct shoppers simulated.
        shoppers: u32,
        /// The generator's seed.
        seed: u64,
        /// Attach the example loyalty entity to every event.
        loyalty: bool,
    },
    /// A Kafka consumer group (boxed: it is much larger than the generator's settings).
    Kafka(Box<KafkaSettings>),
}

/// Where a partition starts when the group has no committed offset for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartFrom {
    /// The oldest record the broker still has.
    Earliest,
    /// The end of the partition: only records produced from then on.
    Latest,
}

/// Validated settings of the Kafka source (`[kafka]`).
#[derive(Debug, Clone, PartialEq)]
pub struct KafkaSettings {
    /// Bootstrap brokers, `host:port[,host:port]`.
    pub brokers: String,
    /// Input topics; at least one.
    pub topics: Vec<String>,
    /// Consumer group id; not empty.
    pub group: String,
    /// Where rejected (undecodable) records go; never an input topic.
    pub dead_letter_topic: String,
    /// Where a plugin's failed batches go, as JSON; never an input topic.
    pub plugin_dead_letter_topic: String,
    /// Where a partition without a committed offset starts.
    pub start_from: StartFrom,
    /// Consumer group session timeout, in ms.
    pub session_timeout_ms: u64,
    /// Longest time between polls, in ms, before the consumer leaves the group.
    pub max_poll_interval_ms: u64,
    /// librdkafka's local prefetch bound per consumer, in KiB (the bounded input buffer).
    pub queued_max_kbytes: u64,
    /// Longest the broker may hold a fetch that has no data yet, in ms.
    pub fetch_wait_max_ms: u64,
    /// Extra librdkafka properties (key, value) for the consumer and the producers.
    pub properties: Vec<(String, String)>,
    /// The topic of each signal, by signal name.
    pub signal_topics: BTreeMap<String, String>,
    /// The state changelog topic (`<group>-changelog` unless named).
    pub changelog_topic: String,
    /// The repartition topic that takes events to the plugins keyed by product, category,
    /// global or an entity field (`<group>-repartition` unless named).
    pub repartition_topic: String,
    /// Whether plugins keyed by product, category, global or an entity field take their events
    /// through the repartition topic (false: from the input partitions, right on one host only).
    pub repartition: bool,
    /// librdkafka's `partition.assignment.strategy`.
    pub assignment_strategy: String,
    /// Static membership: the consumer's `group.instance.id`.
    pub group_instance_id: Option<String>,
    /// Start empty where the group has committed offsets but the changelog holds no state
    /// (`--reset-state`); otherwise such a start is refused.
    pub reset_state: bool,
}

/// Validated settings of `run`.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// Address of the HTTP API.
    pub http_addr: SocketAddr,
    /// Bearer token (at least 16 characters) the admin API requires when `http_addr` is not loopback.
    pub admin_token: Option<String>,
    /// Where events come from.
    pub source: SourceSettings,
    /// None: the in-memory feature store.
    pub redis_url: Option<String>,
    /// Longest a record waits before its features are written.
    pub flush_interval: Duration,
    /// Most records taken into one step.
    pub max_batch_records: usize,
    /// `/healthz` answers 503 once the pipeline is stalled this long.
    pub stall_after: Duration,
    /// Allowed out-of-orderness: the watermark trails the max event time by this much.
    pub out_of_orderness_ms: u64,
    /// Time without records after which a partition's watermark follows the wall clock.
    pub idle_after: Duration,
    /// How long an event id is remembered for dedup, in event time.
    pub dedup_horizon_ms: u64,
    /// How far an event's time may lie from its ingest time (Kafka).
    pub time_bounds: crate::decode::TimeBounds,
    /// Where the engine's checkpoint is kept; None: state lives in memory only.
    pub checkpoint_file: Option<PathBuf>,
    /// How often a checkpoint is saved (and, with checkpoints on, offsets committed).
    pub checkpoint_interval: Duration,
    /// Load `*.wasm` from this folder; None: the embedded set.
    pub plugins_dir: Option<PathBuf>,
    /// How often the plugin directory is checked for changes; None: never.
    pub plugins_watch: Option<Duration>,
    /// The limits every plugin runs under, each plugin's own over them, and its settings.
    pub plugin_policy: crate::plugin::PluginPolicy,
    /// Largest state one key may hold per plugin, in bytes.
    pub state_bytes_per_key: usize,
    /// Consecutive failed calls after which a plugin is quarantined (0: never).
    pub quarantine_after: u32,
    /// Where compiled components are kept; None: compile at every start.
    pub compiled_cache_dir: Option<PathBuf>,
}

impl Settings {
    /// Reads `path` (if any), applies `overrides` and validates the result.
    pub fn load(path: Option<&Path>, overrides: Overrides) -> Result<Settings, ConfigError> {
        let file = match path {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|source| ConfigError::Read { path: path.to_path_buf(), source })?;
                ConfigFile::parse(&text)
                    .map_err(|message| ConfigError::Parse { path: path.to_path_buf(), message })?
            }
            None => ConfigFile::default(),
        };
        Settings::from_file(file, overrides)
    }

    /// Applies `o` over `file` and validates the result.
    pub fn from_file(mut file: ConfigFile, o: Overrides) -> Result<Settings, ConfigError> {
        if let Some(v) = o.kafka_brokers {
            file.kafka.brokers = Some(v);
        }
        if let Some(v) = o.kafka_topics {
            file.kafka.topics = v.split(',').map(|t| t.trim().to_string()).collect();
        }
        if let Some(v) = o.kafka_group {
            file.kafka.group = v;
        }
        if let Some(v) = o.kafka_group_instance_id {
            file.kafka.group_instance_id = Some(v);
        }
        if let Some(v) = o.dead_letter_topic {
            file.kafka.dead_letter_topic = v;
        }
        if let Some(v) = o.redis_url {
            file.redis.url = Some(v);
        }
        if let Some(v) = o.http_addr {
            file.http.addr = v;
        }
        if let Some(v) = o.plugins_dir {
            file.plugins.dir = Some(v);
        }
        if let Some(v) = o.flush_interval_ms {
            file.pipeline.flush_interval_ms = v;
        }
        if let Some(v) = o.max_future_ms {
            file.engine.max_future_ms = v.trim().parse().map_err(|_| {
                invalid(
                    &format!("engine.max_future_ms ({ENV_MAX_FUTURE_MS})"),
                    format!("{v:?} is not a whole number of ms"),
                )
            })?;
        }
        file.generator.rate = o.rate.unwrap_or(file.generator.rate);
        file.generator.shoppers = o.shoppers.unwrap_or(file.generator.shoppers);
        file.generator.seed = o.seed.unwrap_or(file.generator.seed);
        per_plugin::apply_env(&mut file.plugins.per_plugin, &o.plugin_vars)?;
        file.validate()
    }
}

impl ConfigFile {
    /// Parses TOML; the message names the unknown or mistyped field and its line.
    pub fn parse(text: &str) -> Result<ConfigFile, String> {
        toml::from_str(text).map_err(|e| e.to_string().trim_end().to_string())
    }

    fn validate(self) -> Result<Settings, ConfigError> {
        let http_addr = self.http.addr.parse().map_err(|_| {
            invalid("http.addr", format!("{:?} is not an address like 127.0.0.1:8080", self.http.addr))
        })?;
        let source = match self.kafka.brokers.clone() {
            Some(brokers) => SourceSettings::Kafka(Box::new(kafka::validate(brokers, self.kafka)?)),
            None => {
                let g = &self.generator;
                SourceSettings::Generator {
                    rate: in_range("generator.rate", g.rate, 1, 10_000_000)? as u32,
                    shoppers: in_range("generator.shoppers", g.shoppers, 1, u32::MAX as u64)? as u32,
                    seed: g.seed,
                    loyalty: g.loyalty,
                }
            }
        };
        if let Some(url) = &self.redis.url {
            validate_redis_url(url)?;
        }
        if matches!(source, SourceSettings::Kafka(_)) && self.engine.checkpoint_file.is_some() {
            return Err(invalid(
                "engine.checkpoint_file",
                "with Kafka, state is kept in the changelog topic (kafka.changelog_topic) and follows its \
                 partition; the checkpoint file is for the generator and replay: remove the setting",
            ));
        }
        let p = &self.pipeline;
        let e = &self.engine;
        let limits = crate::plugin::Limits {
            memory_bytes: (in_range("plugins.memory_mib", self.plugins.memory_mib, 1, 4_096)? << 20) as usize,
            cpu_per_call: Duration::from_millis(in_range(
                "plugins.cpu_ms_per_call",
                self.plugins.cpu_ms_per_call,
                1,
                60_000,
            )?),
            output_bytes: (in_range("plugins.output_mib", self.plugins.output_mib, 1, 1_024)? << 20) as usize,
            ..crate::plugin::Limits::default()
        };
        let plugin_policy = crate::plugin::PluginPolicy {
            defaults: limits,
            plugins: per_plugin::validate(&self.plugins.per_plugin)?,
            signal_topics: match &source {
                SourceSettings::Kafka(k) => Some(k.signal_topics.keys().cloned().collect()),
                SourceSettings::Generator { .. } => None,
            },
        };
        if self.http.admin_token.as_ref().is_some_and(|t| t.len() < 16) {
            return Err(invalid("http.admin_token", "use at least 16 characters"));
        }
        Ok(Settings {
            http_addr,
            admin_token: self.http.admin_token.clone(),
            source,
            redis_url: self.redis.url,
            flush_interval: Duration::from_millis(in_range(
                "pipeline.flush_interval_ms",
                p.flush_interval_ms,
                1,
                10_000,
            )?),
            max_batch_records: in_range("pipeline.max_batch_records", p.max_batch_records, 1, 1_000_000)?
                as usize,
            stall_after: Duration::from_millis(in_range(
                "pipeline.stall_after_ms",
                p.stall_after_ms,
                1_000,
                3_600_000,
            )?),
            out_of_orderness_ms: in_range("engine.out_of_orderness_ms", e.out_of_orderness_ms, 0, 3_600_000)?,
            idle_after: Duration::from_millis(in_range(
                "engine.idle_after_ms",
                e.idle_after_ms,
                1,
                3_600_000,
            )?),
            dedup_horizon_ms: in_range("engine.dedup_horizon_ms", e.dedup_horizon_ms, 0, 30 * 86_400_000)?,
            time_bounds: crate::decode::TimeBounds {
                max_future_ms: in_range("engine.max_future_ms", e.max_future_ms, 1_000, 365 * 86_400_000)?,
                max_age_ms: in_range("engine.max_age_ms", e.max_age_ms, 0, 3_650 * 86_400_000)?,
            },
            checkpoint_interval: Duration::from_millis(in_range(
                "engine.checkpoint_interval_ms",
                e.checkpoint_interval_ms,
                100,
                3_600_000,
            )?),
            checkpoint_file: e.checkpoint_file.clone(),
            state_bytes_per_key: (in_range(
                "plugins.state_kib_per_key",
                self.plugins.state_kib_per_key,
                1,
                1 << 20,
            )? << 10) as usize,
            quarantine_after: in_range(
                "plugins.quarantine_after_failures",
                self.plugins.quarantine_after_failures,
                0,
                1_000_000,
            )? as u32,
            compiled_cache_dir: match self.plugins.compiled_cache {
                true => self
                    .plugins
                    .compiled_cache_dir
                    .clone()
                    .or_else(crate::plugin::compiled_cache::default_dir),
                false => None,
            },
            plugins_watch: match in_range(
                "plugins.watch_interval_ms",
                self.plugins.watch_interval_ms,
                0,
                3_600_000,
            )? {
                0 => None,
                ms => Some(Duration::from_millis(ms)),
            },
            plugins_dir: self.plugins.dir,
            plugin_policy,
        })
    }
}

fn in_range(field: &str, v: u64, min: u64, max: u64) -> Result<u64, ConfigError> {
    if (min..=max).contains(&v) {
        Ok(v)
    } else {
        Err(invalid(field, format!("{v} is out of range; allowed {min}..={max}")))
    }
}

fn validate_redis_url(url: &str) -> Result<(), ConfigError> {
    const FIELD: &str = "redis.url (or LIVE_SHOPPER_REDIS_URL)";
    crate::sink::RedisTarget::parse(url).map(|_| ()).map_err(|e| invalid(FIELD, e.to_string()))
}

#[cfg(test)]
mod tests;
