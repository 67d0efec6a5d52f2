//! The HTTP API over the feature store: features by shopper (or login id) and session, the loaded
//! plugins, and health. The only module that imports the HTTP framework.

use crate::engine::OperatorReport;
use crate::sink::{RedisReader, SharedStore};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use live_shopper_abi::KeyKind;
use serde::Serialize;
use serde_json::{json, Map, Value};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};

pub mod admin;
mod metrics;

/// A loaded plugin as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct PluginInfo {
    pub name: String,
    pub version: String,
    pub contract: &'static str,
    pub content_hash: String,
    pub key: &'static str,
    pub state_schema: u32,
    pub status: &'static str,
    pub groups: Vec<Value>,
    pub limits: Value,
    pub events_in: u64,
    pub calls: u64,
    pub emissions: u64,
    pub failures: u64,
    pub late: u64,
    /// Events not delivered while quarantined.
    pub skipped: u64,
    pub consecutive_failures: u32,
    pub last_failure: Option<String>,
    pub keys: usize,
    pub state_bytes: usize,
}

impl PluginInfo {
    pub fn from_report(report: &OperatorReport, content_hash: &str, limits: Value) -> Self {
        let d = &report.descriptor;
        PluginInfo {
            name: d.name.clone(),
            version: d.version.clone(),
            contract: crate::plugin::CONTRACT_VERSION,
            content_hash: content_hash.to_string(),
            key: match d.key {
                KeyKind::Shopper => "shopper",
                KeyKind::Session => "session",
            },
            state_schema: d.state_schema,
            status: if report.stats.health.quarantined { "quarantined" } else { "running" },
            groups: d
                .groups
                .iter()
                .map(|g| {
                    json!({
                        "name": g.name, "redis_key": g.redis_key, "window_ms": g.window_ms,
                        "emit_interval_ms": g.emit_interval_ms, "ttl_ms": g.ttl_ms, "features": g.features,
                    })
                })
                .collect(),
            limits,
            events_in: report.stats.events_in,
            calls: report.stats.calls,
            emissions: report.stats.emissions,
            failures: report.stats.failures,
            late: report.stats.late,
            skipped: report.stats.skipped,
            consecutive_failures: report.stats.health.consecutive_failures,
            last_failure: report.stats.last_failure.as_ref().map(ToString::to_string),
            keys: report.keys,
            state_bytes: report.state_bytes,
        }
    }
}

/// What the engine side publishes for the API.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Status {
    /// Records taken from the source (events, duplicates and rejects).
    pub records: u64,
    pub events: u64,
    pub duplicates: u64,
    pub rejected: u64,
    pub rejected_by_reason: std::collections::BTreeMap<String, u64>,
    pub commits: u64,
    /// (pipelines written, failed attempts retried) when Redis is the store.
    pub redis_writes: Option<(u64, u64)>,
    /// p50, p99, p99.9 of source timestamp → store acknowledgement, in ms.
    pub freshness_ms: Option<[f64; 3]>,
    pub watermark: Option<i64>,
    /// Plugin files refused since the start, and the last one (file and reason).
    pub plugin_refusals: u64,
    pub last_plugin_refusal: Option<String>,
    pub plugins: Vec<PluginInfo>,
}

/// Where the API reads features: the in-memory store, or Redis when Redis is the store.
#[derive(Clone)]
pub enum FeatureView {
    Memory(SharedStore),
    Redis(Arc<RedisReader>),
}

impl FeatureView {
    fn hash(&self, key: &str) -> Result<Option<Vec<(String, String)>>, String> {
        match self {
            FeatureView::Memory(store) => {
                Ok(store.lock().hash(key, SharedStore::now_ms()).map(<[_]>::to_vec))
            }
            FeatureView::Redis(reader) => reader.hash(key).map_err(|e| e.to_string()),
        }
    }

    fn alias(&self, user_id: &str) -> Result<Option<String>, String> {
        match self {
            FeatureView::Memory(store) => {
                Ok(store.lock().alias(user_id, SharedStore::now_ms()).map(str::to_string))
            }
            FeatureView::Redis(reader) => reader.alias(user_id).map_err(|e| e.to_string()),
        }
    }
}

#[derive(Clone)]
pub struct AppState {
    pub store: FeatureView,
    pub status: Arc<RwLock<Status>>,
    /// The admin API, when plugins come from a directory.
    pub admin: Option<admin::Admin>,
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics::render))
        .route("/plugins", get(plugins))
        .route("/features/user/{id}", get(user_features))
        .route("/features/session/{id}", get(session_features))
        .merge(admin::routes())
        .with_state(state)
}

/// Serves the API on `listener` until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state)).with_graceful_shutdown(shutdown).await
}

/// Binds the API's listener (so callers can report the actual port before serving).
pub async fn bind(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr).await
}

fn read_status(state: &AppState) -> Status {
    state.status.read().unwrap_or_else(|p| p.into_inner()).clone()
}

async fn healthz(State(state): State<AppState>) -> Json<Value> {
    let s = read_status(&state);
    let failing: Vec<&str> = s.plugins.iter().filter(|p| p.failures > 0).map(|p| p.name.as_str()).collect();
    Json(json!({
        "status": "ok", "records": s.records, "events": s.events, "duplicates": s.duplicates,
        "rejected": s.rejected, "rejected_by_reason": s.rejected_by_reason, "commits": s.commits,
        "redis_writes": s.redis_writes.map(|(w, _)| w), "redis_retries": s.redis_writes.map(|(_, r)| r),
        "freshness_ms": s.freshness_ms.map(|[p50, p99, p999]| json!({"p50": p50, "p99": p99, "p999": p999})),
        "watermark": s.watermark, "plugins": s.plugins.len(), "plugins_with_failures": failing,
        "plugin_refusals": s.plugin_refusals, "last_plugin_refusal": s.last_plugin_refusal,
    }))
}

async fn plugins(State(state): State<AppState>) -> Json<Vec<PluginInfo>> {
    Json(read_status(&state).plugins)
}

fn not_found(what: String) -> Response {
    (StatusCode::NOT_FOUND, Json(json!({ "error": what }))).into_response()
}

/// The hashes of the given Redis keys that exist, as `{group: {field: value}}`.
fn collect(state: &AppState, keys: &[(String, String)]) -> Result<Map<String, Value>, String> {
    let mut groups = Map::new();
    for (group, key) in keys {
        if let Some(fields) = state.store.hash(key)? {
            let fields: Map<String, Value> = fields.into_iter().map(|(k, v)| (k, Value::String(v))).collect();
            groups.insert(group.clone(), Value::Object(fields));
        }
    }
    Ok(groups)
}

/// (group name, Redis key) of every group keyed by `kind`, for entity `id`, without repeats.
fn group_keys(state: &AppState, kind: &'static str, id: &str) -> Vec<(String, String)> {
    let mut keys: Vec<(String, String)> = Vec::new();
    for p in read_status(state).plugins.iter().filter(|p| p.key == kind) {
        for g in &p.groups {
            let (Some(name), Some(template)) = (g["name"].as_str(), g["redis_key"].as_str()) else {
                continue;
            };
            let key = template.replacen("{key}", id, 1);
            if !keys.iter().any(|(_, k)| *k == key) {
                keys.push((name.to_string(), key));
            }
        }
    }
    keys
}

/// A shopper's groups by shopper id, or by login id through `alias:user:{id}`.
/// A shopper id and its groups.
type UserFeatures = (String, Map<String, Value>);

fn lookup_user(state: &AppState, id: &str) -> Result<Option<UserFeatures>, String> {
    let groups = collect(state, &group_keys(state, "shopper", id))?;
    if !groups.is_empty() {
        return Ok(Some((id.to_string(), groups)));
    }
    let Some(shopper) = state.store.alias(id)? else { return Ok(None) };
    let groups = collect(state, &group_keys(state, "shopper", &shopper))?;
    Ok((!groups.is_empty()).then_some((shopper, groups)))
}

/// Runs a store read off the async workers (Redis reads block) and maps a store error to 503.
async fn read_store<T: Send + 'static>(
    state: AppState,
    read: impl FnOnce(&AppState) -> Result<T, String> + Send + 'static,
) -> Result<T, Response> {
    let unavailable =
        |e: String| (StatusCode::SERVICE_UNAVAILABLE, Json(json!({ "error": e }))).into_response();
    match tokio::task::spawn_blocking(move || read(&state)).await {
        Ok(result) => result.map_err(unavailable),
        Err(e) => Err(unavailable(e.to_string())),
    }
}

async fn user_features(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    let lookup = {
        let id = id.clone();
        move |s: &AppState| lookup_user(s, &id)
    };
    match read_store(state, lookup).await {
        Ok(Some((shopper, groups))) => {
            Json(json!({ "shopper_id": shopper, "groups": groups })).into_response()
        }
        Ok(None) => not_found(format!("no features for user {id}")),
        Err(response) => response,
    }
}

async fn session_features(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    let lookup = {
        let id = id.clone();
        move |s: &AppState| collect(s, &group_keys(s, "session", &id))
    };
    match read_store(state, lookup).await.map(|groups| groups.into_iter().next()) {
        Ok(Some((_, fields))) => Json(json!({ "session_id": id, "features": fields })).into_response(),
        Ok(None) => not_found(format!("no features for session {id}")),
        Err(response) => response,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::emission::{Emission, EmissionSink};
    use crate::engine::{Operator, OperatorStats};
    use crate::plugin::native;
    use live_shopper_abi::FeatureValue;

    fn state_with_context_features() -> AppState {
        let op = native::default_set().pop().expect("context is last");
        let descriptor = op.descriptor().clone();
        let report = OperatorReport {
            descriptor: descriptor.clone(),
            stats: OperatorStats::default(),
            keys: 1,
            state_bytes: 0,
            timers: 0,
        };
        let mut store = SharedStore::default();
        let group = &descriptor.groups[0];
        let values: Vec<FeatureValue<'_>> = group.features.iter().map(|_| FeatureValue::Int(1)).collect();
        store.emit(&Emission {
            plugin: "context",
            group,
            key: "browser-1",
            as_of: 7,
            closed: false,
            values: &values,
        });
        store.alias("ann@example.com", "browser-1");
        let status = Status {
            plugins: vec![PluginInfo::from_report(&report, "hash", Value::Null)],
            ..Default::default()
        };
        AppState { store: FeatureView::Memory(store), status: Arc::new(RwLock::new(status)), admin: None }
    }

    #[test]
    fn users_are_found_by_shopper_id_and_by_login_id() {
        let state = state_with_context_features();
        let (shopper, groups) = lookup_user(&state, "browser-1").unwrap().unwrap();
        assert_eq!(shopper, "browser-1");
        assert_eq!(groups["context"]["updated_at"], "7");
        let (shopper, groups) = lookup_user(&state, "ann@example.com").unwrap().unwrap();
        assert_eq!(shopper, "browser-1", "resolved through alias:user:ann@example.com");
        assert_eq!(groups["context"]["shopper_session_count"], "1");
        assert!(lookup_user(&state, "nobody").unwrap().is_none());
    }
}
