//! `POST /secrets` (`{name, value}`, the original Nova's), `PUT|GET|DELETE /secrets/{name}`,
//! `GET /secrets` (names and RFC 3339 times only). Admin scope.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use super::error::ApiError;
use super::functions::json_body;
use crate::app::AppState;
use crate::logs::rfc3339;
use crate::service::Functions;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretValue {
    value: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NamedSecret {
    name: String,
    value: String,
}

pub async fn create(
    State(functions): State<Functions>,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let body: NamedSecret = json_body(body)?;
    functions.set_secret(&body.name, &body.value).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "name": body.name, "status": "created" })),
    ))
}

pub async fn put(
    State(functions): State<Functions>,
    Path(name): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<StatusCode, ApiError> {
    let body: SecretValue = json_body(body)?;
    functions.set_secret(&name, &body.value).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn get(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let value = state
        .secrets()?
        .get(&name)
        .await
        .map_err(crate::service::ServiceError::from)?;
    Ok(Json(json!({ "name": name, "value": value })))
}

pub async fn list(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let secrets = state
        .secrets()?
        .list()
        .await
        .map_err(crate::service::ServiceError::from)?;
    let listed: Vec<Value> = secrets
        .iter()
        .map(|s| {
            json!({
                "name": s.name,
                "created_at": rfc3339(s.created_at),
                "updated_at": rfc3339(s.updated_at),
            })
        })
        .collect();
    Ok(Json(Value::Array(listed)))
}

pub async fn delete(
    State(functions): State<Functions>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    match functions.delete_secret(&name).await? {
        true => Ok(StatusCode::NO_CONTENT),
        false => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no secret named '{name}'"),
        )),
    }
}
