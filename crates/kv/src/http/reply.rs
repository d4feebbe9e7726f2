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
    let mut response = error_with(status, e.to_string());
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

/// `{"error": message}` with `status`: the shape of every error this service answers.
pub fn error_with(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({ "error": message.into() }))).into_response()
}

/// 404 for a path no route serves.
pub async fn not_found(request: Request) -> Response {
    let message = format!("no route for {} {}", request.method(), request.uri().path());
    error_with(StatusCode::NOT_FOUND, message)
}

/// 405 for a method a route does not serve; axum adds the `Allow` header.
pub async fn method_not_allowed(request: Request) -> Response {
    let message = format!(
        "method {} is not allowed on {}",
        request.method(),
        request.uri().path()
    );
    error_with(StatusCode::METHOD_NOT_ALLOWED, message)
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
