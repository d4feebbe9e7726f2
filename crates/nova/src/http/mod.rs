//! Nova's HTTP API (axum). Handlers parse the request, call [`crate::service::Functions`] and map
//! the result; status codes are decided in one place, [`error`].
//!
//! Routes, compatible with the original Nova where they overlap:
//! `POST /functions`, `GET /functions`, `GET|PATCH|DELETE /functions/{name}`,
//! `GET /functions/{name}/code`, `POST /functions/{name}/invoke`, `GET /health`, `GET /metrics`;
//! ours: `GET /functions/{name}/logs`, `GET /invocations`.

mod auth;
mod error;
mod functions;
mod logs;
mod metrics;
mod secrets;

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::{Extension, Router};
use comet_kv::Kv;

use crate::service::Functions;
pub use error::ApiError;

/// Largest body of `POST /functions` and `PATCH`: code up to 32 MiB, base64-encoded, plus JSON.
pub const FUNCTION_BODY_LIMIT: usize = 48 * 1024 * 1024;
/// Largest invocation payload: it must fit, with room, in one 8 MiB agent frame.
pub const INVOKE_BODY_LIMIT: usize = 6 * 1024 * 1024;

/// The whole API over one function service, with the KV routes when Nova serves them embedded.
pub fn router(functions: Functions, kv: Option<Arc<Kv>>) -> Router {
    let invoke = Router::new()
        .route("/functions/{name}/invoke", post(functions::invoke))
        .layer(DefaultBodyLimit::max(INVOKE_BODY_LIMIT));
    let api = Router::new()
        .route("/functions", post(functions::create).get(functions::list))
        .route(
            "/functions/{name}",
            get(functions::get)
                .patch(functions::update)
                .delete(functions::delete),
        )
        .route("/functions/{name}/code", get(functions::code))
        .route("/functions/{name}/logs", get(logs::function_logs))
        .route("/invocations", get(logs::invocations))
        .route("/apikeys", post(auth::create).get(auth::list))
        .route("/apikeys/{name}", axum::routing::delete(auth::delete).patch(auth::update))
        .route("/apikeys/{name}/revoke", post(auth::revoke))
        .route("/secrets", get(secrets::list))
        .route(
            "/secrets/{name}",
            get(secrets::get).put(secrets::put).delete(secrets::delete),
        )
        .layer(DefaultBodyLimit::max(FUNCTION_BODY_LIMIT))
        .merge(invoke)
        .route("/health", get(functions::health))
        .route("/metrics", get(metrics::render))
        .fallback(error::not_found)
        .layer(Extension(kv.clone()))
        .layer(axum::middleware::from_fn_with_state(
            functions.clone(),
            auth::guard,
        ))
        .with_state(functions);
    match kv {
        Some(kv) => api.merge(comet_kv::http::routes(kv)),
        None => api,
    }
}
