//! Turning results into responses, and recording each one in the metrics.

use std::time::Instant;

use axum::Json;
use axum::extract::Request;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::auth::Scope;
use crate::error::KvError;
use crate::metrics::Route;
use crate::service::Kv;

/// Answers with `result` (or its error) and records the request under `route` and `db`.
pub fn finish(
    kv: &Kv,
    route: Route,
    db: &str,
    started: Instant,
    result: Result<Response, KvError>,
) -> Response {
    let response = result.unwrap_or_else(error);
    kv.metrics
        .observe(route, db, response.status().as_u16(), started.elapsed());
    response
}

pub fn error(e: KvError) -> Response {
    let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if status.is_server_error() {
        tracing::error!(error = %e, "KV request failed");
    }
    let mut response = (status, Json(json!({ "error": e.to_string() }))).into_response();
    if status == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Bearer"),
        );
    }
    response
}

/// Checks the request's bearer token against `scope`.
pub fn authorize(kv: &Kv, headers: &HeaderMap, scope: Scope) -> Result<(), KvError> {
    kv.authorize(
        headers.get(header::AUTHORIZATION).map(|v| v.as_bytes()),
        scope,
    )
}

pub fn json(value: serde_json::Value) -> Response {
    Json(value).into_response()
}

pub async fn not_found(request: Request) -> Response {
    let message = format!("no route for {} {}", request.method(), request.uri().path());
    (StatusCode::NOT_FOUND, Json(json!({ "error": message }))).into_response()
}

/// Runs a slow, blocking operation (checkpoint, ingest, catch-up, synced write) on the blocking
/// pool, so the async workers keep serving reads meanwhile.
pub async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, KvError> + Send + 'static,
) -> Result<T, KvError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| KvError::Io(std::io::Error::other(format!("operation panicked: {e}"))))?
}
