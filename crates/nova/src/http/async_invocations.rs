//! Async invocations, the original Nova's routes: `POST /functions/{name}/invoke-async` (202 and
//! the id; `?qualifier=` or `X-Nova-Qualifier` as for a call, an `Idempotency-Key` header),
//! `GET /async-invocations/{id}`, `GET /async-invocations?function=&status=&limit=&offset=`,
//! `POST /async-invocations/{id}/retry` (a dead-lettered one only) and
//! `GET /functions/{name}/async-invocations?status=&limit=&offset=`. An invocation is shown as
//! the store keeps it ([`nova_store::AsyncInvocation`]), its times in Unix milliseconds, plus the
//! original's names for its fields ([`original::invocation`]).
//!
//! The body of `invoke-async` is the event, or the original Nova's envelope around it
//! (`{"payload": …, "max_attempts", "idempotency_key", "idempotency_ttl_s"}`, what its CLI
//! sends): see [`unwrap_envelope`].
//!
//! Ours: `GET|PUT|DELETE /functions/{name}/async-config`, a function's own settings
//! (`{"max_attempts": 5, "max_event_age_s": 3600, "concurrency": 2, "on_success": "audit",
//! "on_failure": "alert"}`, each optional) and what its invocations run by.

use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use nova_store::{AsyncConfig, AsyncInvocation, AsyncQuery};
use serde::Deserialize;

use super::error::{ApiError, body_rejection};
use super::original;
use super::versions::InvokeParams;
use crate::queue::{ConfigView, EnqueueOptions, Queue, parse_status};

/// The header that names a caller's idempotency key.
pub const IDEMPOTENCY_HEADER: &str = "idempotency-key";
/// How many invocations a list returns when not told.
const DEFAULT_LIMIT: u32 = 100;

/// Runs after the invocation limits, like a call. A 202 means the invocation is stored.
pub async fn enqueue(
    State(queue): State<Queue>,
    Path(name): Path<String>,
    params: Result<Query<InvokeParams>, QueryRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, HeaderMap, Json<serde_json::Value>), ApiError> {
    let qualifier = super::versions::qualifier(params, &headers)?;
    let key = match headers.get(IDEMPOTENCY_HEADER) {
        None => None,
        Some(v) => Some(
            v.to_str()
                .map_err(|_| ApiError::bad_request("the Idempotency-Key header is not text"))?
                .trim(),
        ),
    };
    let body = body.map_err(body_rejection)?;
    let text = std::str::from_utf8(&body)
        .map_err(|_| ApiError::bad_request("payload is not valid UTF-8 JSON"))?
        .trim();
    let value: serde_json::Value = serde_json::from_str(if text.is_empty() { "{}" } else { text })
        .map_err(|e| ApiError::bad_request(format!("payload is not valid JSON: {e}")))?;
    let (payload, envelope) = unwrap_envelope(value)?;
    if let (Some(header), Some(inside)) = (key, envelope.idempotency_key.as_deref())
        && header != inside.trim()
    {
        return Err(ApiError::bad_request(
            "the Idempotency-Key header and the body's idempotency_key disagree",
        ));
    }
    let options = EnqueueOptions {
        idempotency_key: key.or(envelope.idempotency_key.as_deref().map(str::trim)),
        max_attempts: envelope.max_attempts,
        dedupe_window: envelope.idempotency_ttl_s.map(Duration::from_secs),
    };
    let (invocation, created) = (queue
        .enqueue_value(&name, &qualifier, payload, &options)
        .await)
        .map_err(super::versions::invocation_error)?;
    let mut answer = HeaderMap::new();
    if let Ok(location) = format!("/async-invocations/{}", invocation.id).parse() {
        answer.insert(header::LOCATION, location);
    }
    Ok((
        StatusCode::ACCEPTED,
        answer,
        Json(serde_json::json!({
            "id": invocation.id,
            "status": invocation.status,
            "deduplicated": !created,
            "function": invocation.function,
            "function_name": invocation.function,
            "max_attempts": invocation.max_attempts,
            "created_at": comet_util::rfc3339(invocation.created_at_ms),
        })),
    ))
}

/// The original Nova's request body: `{"payload": <event>, "max_attempts": 5,
/// "idempotency_key": "k", "idempotency_ttl_s": 3600}` (its CLI, orbit, sends this).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Envelope {
    payload: serde_json::Value,
    max_attempts: Option<u32>,
    idempotency_key: Option<String>,
    idempotency_ttl_s: Option<u64>,
    backoff_base_ms: Option<u64>,
    backoff_max_ms: Option<u64>,
}

/// The fields only the envelope has; `payload` must be there too.
const ENVELOPE_FIELDS: [&str; 6] = [
    "payload",
    "max_attempts",
    "idempotency_key",
    "idempotency_ttl_s",
    "backoff_base_ms",
    "backoff_max_ms",
];

/// The event and the per-call options of a body. A JSON object that has `payload` and nothing
/// but the envelope's fields is the original Nova's envelope, its `payload` the event; anything
/// else is the event itself. (To send an event shaped like an envelope, wrap it in one.)
fn unwrap_envelope(body: serde_json::Value) -> Result<(serde_json::Value, Envelope), ApiError> {
    let is_envelope = body.as_object().is_some_and(|fields| {
        fields.contains_key("payload")
            && fields.keys().all(|k| ENVELOPE_FIELDS.contains(&k.as_str()))
    });
    if !is_envelope {
        return Ok((body, Envelope::default()));
    }
    let envelope: Envelope = serde_json::from_value(body)
        .map_err(|e| ApiError::bad_request(format!("invalid invoke-async envelope: {e}")))?;
    if envelope.backoff_base_ms.is_some() || envelope.backoff_max_ms.is_some() {
        return Err(ApiError::bad_request(
            "backoff_base_ms and backoff_max_ms are not taken per call: back-off is the daemon's \
             (async.backoff_base, async.backoff_cap in nova.yaml)",
        ));
    }
    let payload = envelope.payload.clone();
    Ok((payload, envelope))
}

pub async fn get(
    State(queue): State<Queue>,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    Ok(Json(original::invocation(&queue.get(&id).await?)))
}

fn shown(list: Vec<AsyncInvocation>) -> Json<Vec<serde_json::Value>> {
    Json(list.iter().map(original::invocation).collect())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    function: Option<String>,
    status: Option<String>,
    limit: Option<u32>,
    offset: Option<u32>,
}

fn query_of(
    params: Result<Query<ListParams>, QueryRejection>,
    function: Option<String>,
) -> Result<AsyncQuery, ApiError> {
    let Query(params) = params.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let limit = params.limit.unwrap_or(DEFAULT_LIMIT);
    if limit == 0 || limit > crate::queue::MAX_LIST {
        return Err(ApiError::bad_request(format!(
            "limit must be between 1 and {}",
            crate::queue::MAX_LIST
        )));
    }
    Ok(AsyncQuery {
        function: function.or(params.function),
        status: params.status.as_deref().map(parse_status).transpose()?,
        limit,
        offset: params.offset.unwrap_or(0),
    })
}

pub async fn list(
    State(queue): State<Queue>,
    params: Result<Query<ListParams>, QueryRejection>,
) -> Result<Json<Vec<serde_json::Value>>, ApiError> {
    Ok(shown(queue.list(&query_of(params, None)?).await?))
}

/// A function's invocations; `NotFound` when there is no such function and no invocation of it.
pub async fn of_function(
    State(queue): State<Queue>,
    Path(name): Path<String>,
    params: Result<Query<ListParams>, QueryRejection>,
) -> Result<Json<Vec<serde_json::Value>>, ApiError> {
    Ok(shown(queue.list(&query_of(params, Some(name))?).await?))
}

pub async fn retry(
    State(queue): State<Queue>,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let retried = queue.retry(&id).await?;
    Ok((StatusCode::ACCEPTED, Json(original::invocation(&retried))))
}

pub async fn config(
    State(queue): State<Queue>,
    Path(name): Path<String>,
) -> Result<Json<ConfigView>, ApiError> {
    Ok(Json(queue.config(&name).await?))
}

/// Replaces the function's own settings with the body's (a field left out is the daemon's).
pub async fn set_config(
    State(queue): State<Queue>,
    Path(name): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<ConfigView>, ApiError> {
    let config: AsyncConfig =
        super::aliases::json_object(body, r#"{"max_attempts": 5, "on_failure": "alert"}"#)?;
    Ok(Json(queue.set_config(&name, config).await?))
}

pub async fn delete_config(
    State(queue): State<Queue>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    if queue.delete_config(&name).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("function '{name}' has no async settings of its own"),
        ))
    }
}
