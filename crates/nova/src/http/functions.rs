//! Handlers of the function routes.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use nova_api::{Function, FunctionConfig, FunctionPatch, InvokeResponse};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::json;

use super::error::{ApiError, body_rejection};
use crate::service::Functions;
use crate::store::ListQuery;

/// Most functions one `GET /functions` returns.
const MAX_PAGE: u32 = 1000;

pub async fn health() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok", "service": "nova", "version": env!("CARGO_PKG_VERSION") }))
}

pub async fn create(
    State(functions): State<Functions>,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Function>), ApiError> {
    let config: FunctionConfig = json_body(body)?;
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

pub async fn code(
    State(functions): State<Functions>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let code = functions.code(&name).await?;
    Ok(([(header::CONTENT_TYPE, "application/octet-stream")], code).into_response())
}

pub async fn update(
    State(functions): State<Functions>,
    Path(name): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Function>, ApiError> {
    let patch: FunctionPatch = json_body(body)?;
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
pub async fn invoke(
    State(functions): State<Functions>,
    Path(name): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<InvokeResponse>), ApiError> {
    let body = body.map_err(body_rejection)?;
    let payload = std::str::from_utf8(&body)
        .map_err(|_| ApiError::bad_request("payload is not valid UTF-8 JSON"))?;
    let response = functions.invoke(&name, payload).await?;
    let status = if response.timed_out {
        StatusCode::GATEWAY_TIMEOUT
    } else {
        StatusCode::OK
    };
    Ok((status, Json(response)))
}

/// Parses a JSON body whatever its Content-Type (curl users often omit it), with the parser's
/// message (unknown field, wrong type, line and column) on failure.
fn json_body<T: DeserializeOwned>(body: Result<Bytes, BytesRejection>) -> Result<T, ApiError> {
    let body = body.map_err(body_rejection)?;
    serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))
}
