//! Nova's HTTP API (axum). Handlers parse the request, call [`crate::service::Functions`] and map
//! the result; status codes are decided in one place, [`error`].
//!
//! Routes, compatible with the original Nova (its CLI `orbit` works unchanged) where they
//! overlap: `POST /functions`, `GET /functions`, `GET|PATCH|DELETE /functions/{name}`,
//! `GET|PUT /functions/{name}/code`, `POST /functions/{name}/invoke`,
//! `GET /functions/{name}/logs`, `GET|POST /functions/{name}/versions`,
//! `GET /functions/{name}/versions/{version}`, `GET|POST /functions/{name}/aliases`,
//! `GET|PUT|PATCH|DELETE /functions/{name}/aliases/{alias}`, `POST /functions/{name}/invoke-async`,
//! `GET /async-invocations[/{id}]`, `POST /async-invocations/{id}/retry`,
//! `GET /functions/{name}/async-invocations`, `GET|POST /functions/{name}/schedules`,
//! `PATCH|DELETE /functions/{name}/schedules/{id}`, `GET /invocations`, `GET /health`, `GET /metrics`,
//! `GET /metrics/prometheus`, `GET|POST /secrets`, `DELETE /secrets/{name}`, `/apikeys`;
//! ours: `PUT|GET /secrets/{name}`, `POST /apikeys/{name}/revoke`,
//! `GET|PUT|DELETE /functions/{name}/async-config`, and the embedded KV routes.

mod aliases;
mod async_invocations;
mod auth;
mod error;
mod functions;
mod logs;
mod metrics;
mod original;
mod schedules;
mod secrets;
mod versions;

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderMap, header};
use axum::routing::{get, post};
use axum::{Extension, Router};
use comet_kv::Kv;

use crate::app::AppState;
pub use error::ApiError;

/// Largest body of `POST /functions` and `PATCH`: code up to 32 MiB, base64-encoded, plus JSON.
pub const FUNCTION_BODY_LIMIT: usize = 48 * 1024 * 1024;
/// Largest invocation payload (and schedule body): it must fit, with room, in one 8 MiB agent
/// frame.
pub const INVOKE_BODY_LIMIT: usize = 6 * 1024 * 1024;
/// Largest body of every other route (aliases, settings, keys, secrets, publish, retry).
pub const SETTINGS_BODY_LIMIT: usize = 1024 * 1024;

/// The whole API over the application's parts, with the KV routes when Nova serves them embedded.
///
/// Every route, the KV ones included, is behind the API-key guard; every error is JSON.
pub fn router(state: AppState, kv: Option<Arc<Kv>>) -> Router {
    metrics::started();
    let invoke = Router::new()
        .route("/functions/{name}/invoke", post(functions::invoke))
        .route(
            "/functions/{name}/invoke-async",
            post(async_invocations::enqueue),
        )
        .route_layer(axum::middleware::from_fn_with_state(
            state.limits.clone(),
            functions::admit,
        ))
        .layer(DefaultBodyLimit::max(INVOKE_BODY_LIMIT));
    // Code comes in big bodies; a schedule's payload is an invocation's; everything else is a
    // few settings, refused past SETTINGS_BODY_LIMIT before it is read.
    let code = Router::new()
        .route("/functions", post(functions::create).get(functions::list))
        .route(
            "/functions/{name}",
            get(functions::get)
                .patch(functions::update)
                .delete(functions::delete),
        )
        .route(
            "/functions/{name}/code",
            get(functions::code).put(functions::put_code),
        )
        .layer(DefaultBodyLimit::max(FUNCTION_BODY_LIMIT));
    let schedules = Router::new()
        .route(
            "/functions/{name}/schedules",
            get(schedules::list).post(schedules::create),
        )
        .route(
            "/functions/{name}/schedules/{id}",
            axum::routing::patch(schedules::update).delete(schedules::delete),
        )
        .layer(DefaultBodyLimit::max(INVOKE_BODY_LIMIT));
    let api = Router::new()
        .route("/functions/{name}/logs", get(logs::function_logs))
        .route(
            "/functions/{name}/versions",
            get(versions::list).post(versions::publish),
        )
        .route("/functions/{name}/versions/{version}", get(versions::get))
        .route(
            "/functions/{name}/aliases",
            get(aliases::list).post(aliases::create),
        )
        .route(
            "/functions/{name}/aliases/{alias}",
            get(aliases::get)
                .put(aliases::put)
                .patch(aliases::patch)
                .delete(aliases::delete),
        )
        .route(
            "/functions/{name}/async-invocations",
            get(async_invocations::of_function),
        )
        .route(
            "/functions/{name}/async-config",
            get(async_invocations::config)
                .put(async_invocations::set_config)
                .delete(async_invocations::delete_config),
        )
        .route("/async-invocations", get(async_invocations::list))
        .route("/async-invocations/{id}", get(async_invocations::get))
        .route(
            "/async-invocations/{id}/retry",
            post(async_invocations::retry),
        )
        .route("/invocations", get(logs::invocations))
        .route("/apikeys", post(auth::create).get(auth::list))
        .route(
            "/apikeys/{name}",
            axum::routing::delete(auth::delete).patch(auth::update),
        )
        .route("/apikeys/{name}/revoke", post(auth::revoke))
        // The original Nova's CLI (orbit) spells them so, and names a key by its id.
        .route("/api-keys", post(auth::create).get(auth::list))
        .route(
            "/api-keys/{name}",
            axum::routing::delete(auth::delete).patch(auth::update),
        )
        .route("/secrets", get(secrets::list).post(secrets::create))
        .route(
            "/secrets/{name}",
            get(secrets::get).put(secrets::put).delete(secrets::delete),
        )
        .layer(DefaultBodyLimit::max(SETTINGS_BODY_LIMIT))
        .merge(code)
        .merge(schedules)
        .merge(invoke)
        .route("/health", get(functions::health))
        .route("/metrics", get(metrics::render))
        .route("/metrics/prometheus", get(metrics::prometheus))
        .layer(Extension(kv.clone()))
        .with_state(state.clone());
    let api = match kv {
        Some(kv) => api.merge(comet_kv::http::routes(kv)),
        None => api,
    };
    api.fallback(error::not_found)
        .method_not_allowed_fallback(error::method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            state.keys.clone(),
            auth::guard,
        ))
        .layer(axum::middleware::from_fn(error::json_errors))
}

/// Whether the request's `Accept` header names `media_type`.
pub(crate) fn accepts(headers: &HeaderMap, media_type: &str) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|item| item.split(';').next().unwrap_or("").trim() == media_type)
}
