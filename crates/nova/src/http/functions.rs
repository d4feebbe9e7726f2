//! Handlers of the function routes.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use nova_api::{Function, FunctionConfig, FunctionPatch, InvokeResponse};
use nova_store::ListQuery;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::json;

use super::accepts;
use super::auth::Caller;
use super::error::{ApiError, body_rejection};
use crate::ratelimit::RateLimits;
use crate::service::Functions;

/// Most functions one `GET /functions` returns.
const MAX_PAGE: u32 = 1000;

pub async fn health() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok", "service": "nova", "version": env!("CARGO_PKG_VERSION") }))
}

pub async fn create(
    State(functions): State<Functions>,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Function>), ApiError> {
    let config: FunctionConfig = function_body(body)?;
    let function = functions.register(config).await?;
    Ok((StatusCode::CREATED, Json(function)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    search: Option<String>,
    limit: Option<u32>,
    offset: Option<u32>,
}

pub async fn list(
    State(functions): State<Functions>,
    params: Result<Query<ListParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Vec<Function>>, ApiError> {
    let Query(params) = params.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let limit = params.limit.unwrap_or(100);
    if limit == 0 || limit > MAX_PAGE {
        return Err(ApiError::bad_request(format!(
            "limit must be between 1 and {MAX_PAGE}"
        )));
    }
    let query = ListQuery {
        search: params.search,
        limit,
        offset: params.offset.unwrap_or(0),
    };
    Ok(Json(functions.list(&query).await?))
}

pub async fn get(
    State(functions): State<Functions>,
    Path(name): Path<String>,
) -> Result<Json<Function>, ApiError> {
    Ok(Json(functions.get(&name).await?))
}

/// The code as the original Nova shows it (JSON: `function_id`, `source_code`, `source_hash`,
/// `compile_status`; binary code as `code_base64` with `binary_hash`), or the raw bytes to a
/// client that asks for `application/octet-stream`.
pub async fn code(
    State(functions): State<Functions>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let function = functions.get(&name).await?;
    let code = functions.code(&name).await?;
    if accepts(&headers, "application/octet-stream") {
        return Ok(([(header::CONTENT_TYPE, "application/octet-stream")], code).into_response());
    }
    let mut reply = json!({
        "function_id": function.id,
        "function_name": function.name,
        "version": function.version,
        "source_hash": function.code_hash,
        "code_size": code.len(),
        // Nova runs what it is given: nothing is ever compiled.
        "compile_status": "not_required",
    });
    match String::from_utf8(code) {
        Ok(text) => reply["source_code"] = text.into(),
        Err(binary) => {
            reply["source_code"] = "".into();
            reply["binary_hash"] = function.code_hash.clone().into();
            reply["code_base64"] = base64::engine::general_purpose::STANDARD
                .encode(binary.into_bytes())
                .into();
        }
    }
    Ok(Json(reply).into_response())
}

/// What `PUT /functions/{name}/code` takes as JSON: the original's `code` (and `entry_point`,
/// which sets the handler), or `code_base64`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewCode {
    code: Option<String>,
    code_base64: Option<String>,
    entry_point: Option<String>,
}

/// Replaces the code: a new version, as an update with only code does.
pub async fn put_code(
    State(functions): State<Functions>,
    Path(name): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let new: NewCode = json_body(body)?;
    if new.code.is_none() && new.code_base64.is_none() {
        return Err(ApiError::bad_request(
            "code is required: send `code` (source text) or `code_base64`",
        ));
    }
    let entry_point = new.entry_point.clone();
    let patch = FunctionPatch {
        code: new.code,
        code_base64: new.code_base64,
        handler: new.entry_point,
        ..FunctionPatch::default()
    };
    let function = functions.update(&name, patch).await?;
    let mut reply = json!({
        "compile_status": "not_required",
        "source_hash": function.code_hash,
        "version": function.version,
    });
    if let Some(entry_point) = entry_point {
        reply["entry_point"] = entry_point.into();
    }
    Ok(Json(reply))
}

pub async fn update(
    State(functions): State<Functions>,
    Path(name): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Function>, ApiError> {
    let patch: FunctionPatch = function_body(body)?;
    Ok(Json(functions.update(&name, patch).await?))
}

pub async fn delete(
    State(functions): State<Functions>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    functions.delete(&name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The body is the raw JSON event. A handler's own failure is still a 200 with `error` set (the
/// function ran and answered); a timeout is a 504 with the same body.
/// Both rate limits of an invocation, the caller's key's and the function's, taken in one place
/// ([`RateLimits::admit`]) before the body is read: a caller over its limit cannot make the
/// daemon read megabytes first. Layered on the invoke route, inside the API-key guard.
pub async fn admit(
    State(limits): State<RateLimits>,
    Path(name): Path<String>,
    request: Request,
    next: Next,
) -> Response {
    let caller = request
        .extensions()
        .get::<Caller>()
        .cloned()
        .unwrap_or_default();
    match limits.admit(caller.key(), &name).await {
        Ok(()) => next.run(request).await,
        Err(e) => ApiError::from(e).into_response(),
    }
}

/// Runs after [`admit`]. The version is the one `?qualifier=` or `X-Nova-Qualifier` names, the
/// newest by default.
pub async fn invoke(
    State(functions): State<Functions>,
    Path(name): Path<String>,
    params: Result<Query<super::versions::InvokeParams>, axum::extract::rejection::QueryRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<InvokeResponse>), ApiError> {
    let qualifier = super::versions::qualifier(params, &headers)?;
    let body = body.map_err(body_rejection)?;
    let payload = std::str::from_utf8(&body)
        .map_err(|_| ApiError::bad_request("payload is not valid UTF-8 JSON"))?;
    let response = (functions.invoke_at(&name, &qualifier, payload).await)
        .map_err(super::versions::invocation_error)?;
    let status = if response.timed_out {
        StatusCode::GATEWAY_TIMEOUT
    } else {
        StatusCode::OK
    };
    Ok((status, Json(response)))
}

/// A function body ([`FunctionConfig`] or [`FunctionPatch`]): the original Nova's extra fields
/// are dropped ([`nova_api::IGNORED_FUNCTION_FIELDS`]), any other unknown one is refused by name.
fn function_body<T: DeserializeOwned>(body: Result<Bytes, BytesRejection>) -> Result<T, ApiError> {
    let value: serde_json::Value = json_body(body)?;
    serde_json::from_value(nova_api::drop_ignored_fields(value))
        .map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))
}

/// Parses a JSON body whatever its Content-Type (curl users often omit it), with the parser's
/// message (unknown field, wrong type, line and column) on failure.
pub(super) fn json_body<T: DeserializeOwned>(
    body: Result<Bytes, BytesRejection>,
) -> Result<T, ApiError> {
    let body = body.map_err(body_rejection)?;
    serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))
}
