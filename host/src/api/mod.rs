//! The HTTP API over the feature store: features by shopper (or login id) and session, the loaded
//! plugins, and health. The only module that imports the HTTP framework.

use crate::sink::FeatureReader;
use crate::status::{PluginInfo, Status};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Map, Value};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};

pub mod admin;
mod metrics;

/// What every handler reads: the features, the published status and the admin API.
#[derive(Clone)]
pub struct AppState {
    /// Reads features from whichever store the pipeline writes.
    pub store: Arc<dyn FeatureReader>,
    /// The status the pipeline publishes.
    pub status: Arc<RwLock<Status>>,
    /// The admin API, when plugins come from a directory.
    pub admin: Option<admin::Admin>,
    /// The live stream of signals behind `GET /signals`.
    pub signals: crate::signals::SignalHub,
    /// `/healthz` answers 503 once the pipeline is stalled this long.
    pub stall_after: std::time::Duration,
}

/// Every route of the API.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics::render))
        .route("/plugins", get(plugins))
        .route("/signals", get(signals))
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

/// `GET /signals`: every signal from now on as a server-sent event (`event: signal`, the JSON
/// line as data); a subscriber that falls behind gets `event: lagged` with how many it missed.
async fn signals(
    State(state): State<AppState>,
) -> Sse<impl futures_util::Stream<Item = Result<SseEvent, std::convert::Infallible>>> {
    use tokio::sync::broadcast::error::RecvError;
    let receiver = state.signals.subscribe();
    let stream = futures_util::stream::unfold(receiver, |mut receiver| async move {
        let event = match receiver.recv().await {
            Ok(line) => SseEvent::default().event("signal").data(&*line),
            Err(RecvError::Lagged(missed)) => SseEvent::default().event("lagged").data(missed.to_string()),
            Err(RecvError::Closed) => return None,
        };
        Some((Ok(event), receiver))
    });
    Sse::new(stream).keep_alive(KeepAlive::default())
}

fn read_status(state: &AppState) -> Status {
    state.status.read().unwrap_or_else(|p| p.into_inner()).clone()
}

/// `GET /healthz`: liveness first (503 when stalled, with the reasons), then the counters.
async fn healthz(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let s = read_status(&state);
    let live = s.liveness(crate::clock::wall_ms(), state.stall_after.as_millis() as i64);
    let failing: Vec<&str> = s.plugins.iter().filter(|p| p.failures > 0).map(|p| p.name.as_str()).collect();
    let code = if live.stalled.is_empty() { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    let body = Json(json!({
        "status": if live.stalled.is_empty() { "ok" } else { "stalled" }, "stalled": live.stalled,
        "last_turn_age_ms": live.last_turn_age_ms, "last_commit_age_ms": live.last_commit_age_ms,
        "store_failing_for_ms": live.store_failing_for_ms, "stall_after_ms": state.stall_after.as_millis() as u64,
        "store_refusals": s.store_refusals, "last_store_refusal": s.last_store_refusal,
        "records": s.records, "events": s.events, "duplicates": s.duplicates,
        "rejected": s.rejected, "rejected_by_reason": s.rejected_by_reason, "commits": s.commits,
        "durable_records": s.durable_records,
        "redis_writes": s.redis_writes, "redis_retries": s.redis_retries,
        "freshness_ms": s.freshness_ms.map(|[p50, p99, p999]| json!({"p50": p50, "p99": p99, "p999": p999})),
        "watermark": s.watermark, "plugins": s.plugins.len(), "plugins_with_failures": failing,
        "plugin_refusals": s.plugin_refusals, "last_plugin_refusal": s.last_plugin_refusal,
        "partitions": s.partitions, "restores": s.restores, "changelog_records": s.changelog_records,
        "through": {"events": s.through_events, "duplicates": s.through_duplicates, "forwarded": s.forwarded, "held": s.through_held},
    }));
    (code, body)
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
        if let Some(fields) = state.store.hash(key).map_err(|e| crate::error::Chain(&e).to_string())? {
            let fields: Map<String, Value> = fields.into_iter().map(|(k, v)| (k, Value::String(v))).collect();
            groups.insert(group.clone(), Value::Object(fields));
        }
    }
    Ok(groups)
}

/// (group name, Redis key) of every group keyed by `kind`, for entity `id`, without repeats.
fn group_keys(state: &AppState, kind: &str, id: &str) -> Vec<(String, String)> {
    let mut keys: Vec<(String, String)> = Vec::new();
    for p in read_status(state).plugins.iter().filter(|p| p.key == kind) {
        for g in &p.groups {
            let key = g.key_for(id);
            if !keys.iter().any(|(_, k)| *k == key) {
                keys.push((g.name.clone(), key));
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
    let Some(shopper) = state.store.alias(id).map_err(|e| crate::error::Chain(&e).to_string())? else {
        return Ok(None);
    };
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
    use crate::engine::{Operator, OperatorReport, OperatorStats};
    use crate::plugin::native;
    use crate::sink::SharedStore;
    use live_shopper_abi::FeatureValue;

    fn state_with_context_features() -> AppState {
        let op =
            native::default_set().into_iter().find(|op| op.descriptor().name == "context").expect("context");
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
        EmissionSink::alias(&mut store, "ann@example.com", "browser-1");
        let status = Status { plugins: vec![PluginInfo::from_report(&report, None)], ..Default::default() };
        AppState {
            store: Arc::new(store),
            status: Arc::new(RwLock::new(status)),
            admin: None,
            signals: Default::default(),
            stall_after: std::time::Duration::from_secs(30),
        }
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
