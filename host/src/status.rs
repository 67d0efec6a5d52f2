//! What a running host reports about itself: the counters, the store's figures and every
//! plugin's state. The pipeline publishes a [`Status`]; the HTTP API, `/healthz` and `/metrics`
//! read it. Neither side knows the other: this module is the neutral ground.

use crate::engine::OperatorReport;
use crate::plugin::Limits;
use live_shopper_abi::FeatureGroup;
use serde::Serialize;
use std::collections::BTreeMap;

/// What a plugin was loaded as, beside the engine's report of it (none for native operators).
#[derive(Debug, Clone, Default)]
pub struct PluginFact {
    /// SHA-256 of its component.
    pub content_hash: String,
    /// The contract it was built against.
    pub contract: &'static str,
    /// The limits it runs under (the defaults with its own overrides).
    pub limits: Limits,
    /// The settings it runs with.
    pub settings: Vec<(String, String)>,
}

/// A plugin's feature group as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupInfo {
    /// Short name, e.g. `5min`.
    pub name: String,
    /// The hash key template with `{key}` where the entity id goes.
    pub redis_key: String,
    /// Rolling window length (0: not windowed).
    pub window_ms: u64,
    /// Tick period (0: emits on events only).
    pub emit_interval_ms: u64,
    /// Time to live of the hash after its last write.
    pub ttl_ms: u64,
    /// Feature field names, in order.
    pub features: Vec<String>,
}

impl GroupInfo {
    /// The key of this group's hash for entity `id`.
    pub fn key_for(&self, id: &str) -> String {
        self.redis_key.replacen("{key}", id, 1)
    }
}

impl From<&FeatureGroup> for GroupInfo {
    fn from(g: &FeatureGroup) -> Self {
        GroupInfo {
            name: g.name.clone(),
            redis_key: g.redis_key.clone(),
            window_ms: g.window_ms,
            emit_interval_ms: g.emit_interval_ms,
            ttl_ms: g.ttl_ms,
            features: g.features.clone(),
        }
    }
}

/// The limits a plugin runs under, as the API shows them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct LimitsInfo {
    /// Linear memory cap per instance.
    pub memory_bytes: usize,
    /// CPU deadline per call.
    pub cpu_ms_per_call: u64,
    /// Largest output of one call.
    pub output_bytes: usize,
    /// Largest state of one key (the engine's `plugins.state_kib_per_key` when null).
    pub state_bytes_per_key: Option<usize>,
    /// Largest state of all its keys (no cap when null).
    pub state_bytes_total: Option<usize>,
}

impl From<Limits> for LimitsInfo {
    fn from(l: Limits) -> Self {
        LimitsInfo {
            memory_bytes: l.memory_bytes,
            cpu_ms_per_call: l.cpu_per_call.as_millis() as u64,
            output_bytes: l.output_bytes,
            state_bytes_per_key: l.state_bytes_per_key,
            state_bytes_total: l.state_bytes_total,
        }
    }
}

/// A signal a plugin declares, as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SignalInfo {
    /// The signal's name.
    pub name: String,
    /// Its fields, in order.
    pub fields: Vec<String>,
}

/// Whether a plugin is called.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PluginStatus {
    /// Called with its events.
    Running,
    /// Not called after consecutive failures, until it is reloaded.
    Quarantined,
}

/// A loaded plugin as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct PluginInfo {
    /// The plugin's name.
    pub name: String,
    /// Its version, from its descriptor.
    pub version: String,
    /// The WIT contract it was built against.
    pub contract: &'static str,
    /// SHA-256 of its component (empty for native operators).
    pub content_hash: String,
    /// The entity its state is keyed by: `shopper`, `session`, `product`, `category`,
    /// `global` or `entity:<name>.<field>`.
    pub key: String,
    /// The custom events it subscribes to (Iglu criteria).
    pub custom_events: Vec<String>,
    /// The entities it reads (Iglu criteria).
    pub entities: Vec<String>,
    /// The signals it may emit.
    pub signals: Vec<SignalInfo>,
    /// The settings it runs with (the operator's values, else the defaults).
    pub settings: BTreeMap<String, String>,
    /// Version of its state encoding.
    pub state_schema: u32,
    /// Running or quarantined.
    pub status: PluginStatus,
    /// Its feature groups.
    pub groups: Vec<GroupInfo>,
    /// The limits it runs under.
    pub limits: LimitsInfo,
    /// Events delivered to it.
    pub events_in: u64,
    /// Calls made.
    pub calls: u64,
    /// Feature groups emitted.
    pub emissions: u64,
    /// Keys whose call failed with them alone (each dead-lettered with its events).
    pub failures: u64,
    /// Failed calls of several keys tried again in halves to isolate the failing keys.
    pub split_calls: u64,
    /// Events dropped as late.
    pub late: u64,
    /// Events not delivered while quarantined.
    pub skipped: u64,
    /// Events skipped for it because the entity field it is keyed by was missing or not a
    /// string or whole number.
    pub unkeyed: u64,
    /// Signals emitted.
    pub signals_emitted: u64,
    /// Keys that failed alone since the plugin's last successful call.
    pub consecutive_failures: u32,
    /// The last failure, if any.
    pub last_failure: Option<String>,
    /// Keys holding state.
    pub keys: usize,
    /// Bytes of keyed state.
    pub state_bytes: usize,
}

impl PluginInfo {
    /// The API's view of an engine report.
    pub fn from_report(report: &OperatorReport, fact: Option<&PluginFact>) -> Self {
        let d = &report.descriptor;
        let native = PluginFact::default();
        let fact = fact.unwrap_or(&native);
        PluginInfo {
            name: d.name.clone(),
            version: d.version.clone(),
            contract: if fact.contract.is_empty() { crate::plugin::CONTRACT_VERSION } else { fact.contract },
            content_hash: fact.content_hash.clone(),
            key: d.key.describe(&d.entities),
            custom_events: d.custom_events.iter().map(|c| c.to_uri()).collect(),
            entities: d.entities.iter().map(|c| c.to_uri()).collect(),
            signals: d
                .signals
                .iter()
                .map(|s| SignalInfo { name: s.name.clone(), fields: s.fields.clone() })
                .collect(),
            settings: fact.settings.iter().cloned().collect(),
            state_schema: d.state_schema,
            status: if report.stats.health.quarantined {
                PluginStatus::Quarantined
            } else {
                PluginStatus::Running
            },
            groups: d.groups.iter().map(GroupInfo::from).collect(),
            limits: fact.limits.into(),
            events_in: report.stats.events_in,
            calls: report.stats.calls,
            emissions: report.stats.emissions,
            failures: report.stats.failures,
            split_calls: report.stats.split_calls,
            late: report.stats.late,
            skipped: report.stats.skipped,
            unkeyed: report.stats.unkeyed,
            signals_emitted: report.stats.signals,
            consecutive_failures: report.stats.health.consecutive_failures,
            last_failure: report.stats.last_failure.as_ref().map(ToString::to_string),
            keys: report.keys,
            state_bytes: report.state_bytes,
        }
    }
}

/// Whether the pipeline is alive, as `/healthz` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Liveness {
    /// Since the pipeline last finished a turn of its loop, ms.
    pub last_turn_age_ms: i64,
    /// Since offsets were last committed, ms (None: never).
    pub last_commit_age_ms: Option<i64>,
    /// How long every store write has been failing, ms (None: the last succeeded).
    pub store_failing_for_ms: Option<i64>,
    /// Why the pipeline counts as stalled; empty when it is live.
    pub stalled: Vec<String>,
}

/// What the pipeline publishes for the API.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Status {
    /// Records taken from the source (events, duplicates and rejects).
    pub records: u64,
    /// Records whose features the store acknowledged.
    pub durable_records: u64,
    /// Events processed (after dedup).
    pub events: u64,
    /// Events skipped as duplicates.
    pub duplicates: u64,
    /// Records rejected (dead-lettered).
    pub rejected: u64,
    /// Rejected records by reason code.
    pub rejected_by_reason: BTreeMap<String, u64>,
    /// Kafka offset commits.
    pub commits: u64,
    /// Redis pipelines written (None unless Redis is the store).
    pub redis_writes: Option<u64>,
    /// Failed Redis writes retried (None unless Redis is the store).
    pub redis_retries: Option<u64>,
    /// p50, p99, p99.9 of source timestamp → store acknowledgement, in ms.
    pub freshness_ms: Option<[f64; 3]>,
    /// The engine's watermark, once it has one.
    pub watermark: Option<i64>,
    /// Plugin files refused since the start.
    pub plugin_refusals: u64,
    /// When the pipeline last published this status (it does every turn of its loop, at most
    /// every 500 ms), ms since the epoch: a loop stuck anywhere stops it.
    pub published_at_ms: i64,
    /// When offsets were last committed (Kafka), ms since the epoch.
    pub last_commit_at_ms: Option<i64>,
    /// Since when every store write has failed, ms since the epoch (None: the last succeeded).
    pub store_failing_since_ms: Option<i64>,
    /// Writes the store refused for good (dead-lettered) since the start.
    pub store_refusals: u64,
    /// The last of them: the key and the store's answer.
    pub last_store_refusal: Option<String>,
    /// The last refusal: the file and why.
    pub last_plugin_refusal: Option<String>,
    /// Every running plugin.
    pub plugins: Vec<PluginInfo>,
    /// The input partitions this host owns (`topic[partition]`; with Kafka).
    pub partitions: Vec<String>,
    /// Partition state restores from the changelog since the start.
    pub restores: u64,
    /// Changelog records produced since the start.
    pub changelog_records: u64,
    /// Events taken from the repartition topic (after dedup).
    pub through_events: u64,
    /// Events of the repartition topic skipped as duplicates.
    pub through_duplicates: u64,
    /// Records forwarded to the repartition topic since the start.
    pub forwarded: u64,
    /// Events of the repartition topic held until their partition's watermark passes them.
    pub through_held: u64,
}

impl Status {
    /// The pipeline's liveness at `now_ms`: stalled when its loop has not finished a turn, or
    /// every store write has failed, for `stall_after_ms`. (Idle input is not a stall: the loop
    /// turns without records.)
    pub fn liveness(&self, now_ms: i64, stall_after_ms: i64) -> Liveness {
        let last_turn_age_ms = if self.published_at_ms > 0 { now_ms - self.published_at_ms } else { 0 };
        let store_failing_for_ms = self.store_failing_since_ms.map(|t| now_ms - t);
        let mut stalled = Vec::new();
        if last_turn_age_ms > stall_after_ms {
            stalled.push(format!("the pipeline has not finished a turn for {last_turn_age_ms} ms"));
        }
        if let Some(ms) = store_failing_for_ms.filter(|ms| *ms > stall_after_ms) {
            stalled.push(format!("every store write has failed for {ms} ms"));
        }
        Liveness {
            last_turn_age_ms,
            last_commit_age_ms: self.last_commit_at_ms.map(|t| now_ms - t),
            store_failing_for_ms,
            stalled,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pipeline_is_stalled_when_its_loop_or_its_store_is_stuck_past_the_threshold() {
        let status = Status { published_at_ms: 1_000, ..Status::default() };
        assert!(status.liveness(30_000, 30_000).stalled.is_empty());
        let stuck = status.liveness(32_000, 30_000);
        assert_eq!(stuck.last_turn_age_ms, 31_000);
        assert_eq!(stuck.stalled, ["the pipeline has not finished a turn for 31000 ms"]);
        let failing =
            Status { published_at_ms: 40_000, store_failing_since_ms: Some(5_000), ..Status::default() };
        let live = failing.liveness(40_100, 30_000);
        assert_eq!(live.store_failing_for_ms, Some(35_100));
        assert_eq!(live.stalled, ["every store write has failed for 35100 ms"]);
        assert!(Status::default().liveness(1_000_000, 30_000).stalled.is_empty(), "not started yet");
    }
}
