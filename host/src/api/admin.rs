//! The admin API over the plugin directory: upload a plugin (checked before it is written),
//! remove one, roll one back to its previous file. The directory watcher then loads, swaps or
//! stops it at a step boundary. When the HTTP server listens beyond loopback every admin call
//! needs `Authorization: Bearer <http.admin_token>`; without a token it is then refused.

use super::AppState;
use crate::status::PluginInfo;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde_json::json;
use std::path::PathBuf;

/// What the admin API needs: the plugin directory, the token and the limits uploads must fit.
#[derive(Clone)]
pub struct Admin {
    /// The watched plugin directory that uploads, removals and rollbacks change.
    pub dir: PathBuf,
    /// Required when `loopback_only` is false.
    pub token: Option<String>,
    /// The HTTP server listens on loopback only: admin calls then need no token.
    pub loopback_only: bool,
    /// The limits and settings an upload is compiled and checked under before it is written.
    pub policy: crate::plugin::PluginPolicy,
}

/// Where the file a plugin replaced or a removal took away is kept, for rollback.
const PREVIOUS: &str = ".previous";

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin/plugins", get(list))
        .route("/admin/plugins/{name}", put(upload).delete(remove))
        .route("/admin/plugins/{name}/rollback", post(rollback))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_UPLOAD))
}

/// Largest component an upload may carry.
const MAX_UPLOAD: usize = 64 << 20;

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({ "error": message.into() }))).into_response()
}

/// A refused admin call, boxed: a response is large and most calls are not refused.
type Refusal = Box<Response>;

fn refuse(status: StatusCode, message: impl Into<String>) -> Refusal {
    Box::new(error(status, message))
}

/// The admin settings when the caller may use them, else the refusal.
fn authorize(state: &AppState, headers: &HeaderMap) -> Result<Admin, Refusal> {
    let Some(admin) = state.admin.clone() else {
        return Err(refuse(
            StatusCode::CONFLICT,
            "no plugin directory: start with --plugins DIR (plugins.dir)",
        ));
    };
    if admin.loopback_only {
        return Ok(admin);
    }
    let Some(token) = &admin.token else {
        return Err(refuse(
            StatusCode::FORBIDDEN,
            "the API listens beyond loopback and http.admin_token is not set",
        ));
    };
    let given =
        headers.get("authorization").and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
    if given != Some(token.as_str()) {
        return Err(refuse(
            StatusCode::UNAUTHORIZED,
            "admin calls need Authorization: Bearer <http.admin_token>",
        ));
    }
    Ok(admin)
}

/// A plugin name usable as a file name.
fn file_name(name: &str) -> Result<String, Refusal> {
    let ok = !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'));
    if ok {
        Ok(format!("{name}.wasm"))
    } else {
        Err(refuse(StatusCode::BAD_REQUEST, format!("{name:?} is not a plugin name (a-z A-Z 0-9 - _)")))
    }
}

async fn list(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Err(refused) = authorize(&state, &headers) {
        return *refused;
    }
    let plugins: Vec<PluginInfo> = super::read_status(&state).plugins;
    Json(plugins).into_response()
}

/// PUT /admin/plugins/{name} with the component bytes: compiled and checked first (the world,
/// `describe`, the name), then written; the watcher swaps it in.
async fn upload(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(name): Path<String>,
    body: Bytes,
) -> Response {
    let admin = match authorize(&state, &headers) {
        Ok(admin) => admin,
        Err(refused) => return *refused,
    };
    let file = match file_name(&name) {
        Ok(file) => file,
        Err(refused) => return *refused,
    };
    let policy = admin.policy.clone();
    let wasm = body.to_vec();
    let checked = tokio::task::spawn_blocking(move || {
        crate::plugin::check_component(&wasm, &policy).map(|d| (d, wasm))
    });
    let (descriptor, wasm) = match checked.await {
        Ok(Ok(found)) => found,
        Ok(Err(reason)) => return error(StatusCode::BAD_REQUEST, format!("plugin refused: {reason}")),
        Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    };
    if descriptor.name != name {
        return error(
            StatusCode::BAD_REQUEST,
            format!("the component describes itself as {:?}, not {name:?}", descriptor.name),
        );
    }
    let path = admin.dir.join(&file);
    let result = keep_previous(&admin, &file).and_then(|()| {
        let tmp = admin.dir.join(format!(".{file}.upload"));
        std::fs::write(&tmp, &wasm)?;
        std::fs::rename(&tmp, &path)
    });
    match result {
        Ok(()) => (
            StatusCode::ACCEPTED,
            Json(json!({ "plugin": name, "version": descriptor.version, "file": path.display().to_string(),
                         "status": "written; the watcher loads it at the next step boundary" })),
        )
            .into_response(),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, format!("cannot write {}: {e}", path.display())),
    }
}

/// Copies the current file (if any) to `.previous/`, for rollback.
fn keep_previous(admin: &Admin, file: &str) -> std::io::Result<()> {
    let current = admin.dir.join(file);
    if !current.exists() {
        return Ok(());
    }
    std::fs::create_dir_all(admin.dir.join(PREVIOUS))?;
    std::fs::copy(current, admin.dir.join(PREVIOUS).join(file)).map(|_| ())
}

/// DELETE /admin/plugins/{name}: the file moves to `.previous/`; the watcher stops the plugin.
async fn remove(State(state): State<AppState>, headers: HeaderMap, Path(name): Path<String>) -> Response {
    let (admin, file) = match authorize(&state, &headers).and_then(|a| file_name(&name).map(|f| (a, f))) {
        Ok(found) => found,
        Err(refused) => return *refused,
    };
    let current = admin.dir.join(&file);
    if !current.exists() {
        return error(StatusCode::NOT_FOUND, format!("no plugin file {}", current.display()));
    }
    let result = keep_previous(&admin, &file).and_then(|()| std::fs::remove_file(&current));
    match result {
        Ok(()) => (
            StatusCode::ACCEPTED,
            Json(json!({ "plugin": name, "status": "removed; it stops at the next step boundary" })),
        )
            .into_response(),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

/// POST /admin/plugins/{name}/rollback: the previous file comes back (and the current one
/// becomes the previous, so a second rollback undoes the first).
async fn rollback(State(state): State<AppState>, headers: HeaderMap, Path(name): Path<String>) -> Response {
    let (admin, file) = match authorize(&state, &headers).and_then(|a| file_name(&name).map(|f| (a, f))) {
        Ok(found) => found,
        Err(refused) => return *refused,
    };
    let previous = admin.dir.join(PREVIOUS).join(&file);
    if !previous.exists() {
        return error(StatusCode::NOT_FOUND, format!("no previous version of {name}"));
    }
    let current = admin.dir.join(&file);
    let result = (|| {
        let bytes = std::fs::read(&previous)?;
        if current.exists() {
            std::fs::copy(&current, &previous)?;
        } else {
            std::fs::remove_file(&previous)?;
        }
        let tmp = admin.dir.join(format!(".{file}.rollback"));
        std::fs::write(&tmp, bytes)?;
        std::fs::rename(&tmp, &current)
    })();
    match result {
        Ok(()) => (
            StatusCode::ACCEPTED,
            Json(json!({ "plugin": name, "status": "rolled back; swapped at the next step boundary" })),
        )
            .into_response(),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}
