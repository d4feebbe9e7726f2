//! Invocation logs: `GET /functions/{name}/logs?tail=N&request_id=ID` and
//! `GET /invocations?function=NAME&limit=N&offset=M`, newest first, each a bare JSON array of
//! [`nova_api::InvocationEntry`] (the original Nova's shape).

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use nova_api::InvocationEntry;
use nova_store::LogQuery;
use serde::Deserialize;

use super::error::ApiError;
use crate::service::Functions;

/// Most records one request returns.
const MAX_LOGS: u32 = 1000;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FunctionLogParams {
    tail: Option<u32>,
    request_id: Option<String>,
    offset: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InvocationParams {
    function: Option<String>,
    limit: Option<u32>,
    offset: Option<u32>,
}

fn page_size(n: Option<u32>, name: &str) -> Result<u32, ApiError> {
    match n.unwrap_or(100) {
        n @ 1..=MAX_LOGS => Ok(n),
        _ => Err(ApiError::bad_request(format!(
            "{name} must be between 1 and {MAX_LOGS}"
        ))),
    }
}

pub async fn function_logs(
    State(functions): State<Functions>,
    Path(name): Path<String>,
    params: Result<Query<FunctionLogParams>, QueryRejection>,
) -> Result<Json<Vec<InvocationEntry>>, ApiError> {
    let Query(params) = params.map_err(|e| ApiError::bad_request(e.body_text()))?;
    // An unknown function is a 404, not an empty list.
    functions.get(&name).await?;
    let query = LogQuery {
        function: Some(name),
        request_id: params.request_id,
        limit: page_size(params.tail, "tail")?,
        offset: params.offset.unwrap_or(0),
    };
    Ok(Json(functions.invocations(&query).await?))
}

pub async fn invocations(
    State(functions): State<Functions>,
    params: Result<Query<InvocationParams>, QueryRejection>,
) -> Result<Json<Vec<InvocationEntry>>, ApiError> {
    let Query(params) = params.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let query = LogQuery {
        function: params.function,
        request_id: None,
        limit: page_size(params.limit, "limit")?,
        offset: params.offset.unwrap_or(0),
    };
    Ok(Json(functions.invocations(&query).await?))
}
