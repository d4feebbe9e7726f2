//! `PUT|GET|DELETE /secrets/{name}`, `GET /secrets` (names and times only). Admin scope.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use super::error::ApiError;
use crate::service::Functions;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretValue {
    value: String,
}

pub async fn put(
    State(functions): State<Functions>,
    Path(name): Path<String>,
    Json(body): Json<SecretValue>,
) -> Result<StatusCode, ApiError> {
    functions.set_secret(&name, &body.value).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn get(
    State(functions): State<Functions>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let value = functions
        .secrets()?
        .get(&name)
        .await
        .map_err(crate::service::ServiceError::from)?;
    Ok(Json(json!({ "name": name, "value": value })))
}

pub async fn list(State(functions): State<Functions>) -> Result<Json<Value>, ApiError> {
    let secrets = functions
        .secrets()?
        .list()
        .await
        .map_err(crate::service::ServiceError::from)?;
    let listed: Vec<Value> = secrets
        .iter()
        .map(|s| json!({"name": s.name, "created_at": s.created_at, "updated_at": s.updated_at}))
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
