//! API keys at the door: every route but `/health` needs a key with the right scope once any key
//! exists (or with `--require-auth`): reads need `read`, invocations `invoke`, everything that
//! changes state `admin`. And the routes that manage the keys.

use std::time::Duration;

use axum::Json;
use axum::extract::{Path, Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::error::ApiError;
use crate::apikeys::{AuthError, CreatedKey, Denied, Scope};
use crate::service::Functions;
use crate::store::ApiKeyRecord;

/// The scope a request needs, from its method and path.
fn scope_of(method: &Method, path: &str) -> Option<Scope> {
    if path == "/health" {
        return None;
    }
    // Keys and secrets are the operator's, whatever the method.
    if path.starts_with("/apikeys") || path.starts_with("/secrets") {
        return Some(Scope::Admin);
    }
    Some(match *method {
        Method::GET | Method::HEAD => Scope::Read,
        Method::POST if path.ends_with("/invoke") && path.starts_with("/functions/") => {
            Scope::Invoke
        }
        _ => Scope::Admin,
    })
}

pub async fn guard(State(functions): State<Functions>, request: Request, next: Next) -> Response {
    let Some(scope) = scope_of(request.method(), request.uri().path()) else {
        return next.run(request).await;
    };
    let authorization = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    match functions.keys().check(authorization, scope).await {
        Ok(key) if scope == Scope::Invoke => match functions.take_key_token(key.as_deref()).await {
            Ok(()) => next.run(request).await,
            Err(e) => ApiError::from(e).into_response(),
        },
        Ok(_) => next.run(request).await,
        Err(e) => ApiError::from(e).into_response(),
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> ApiError {
        let status = match &e {
            AuthError::Denied(Denied::Unauthenticated(_)) => StatusCode::UNAUTHORIZED,
            AuthError::Denied(Denied::Forbidden { .. }) => StatusCode::FORBIDDEN,
            AuthError::Denied(Denied::Unavailable(_)) => StatusCode::SERVICE_UNAVAILABLE,
            AuthError::Invalid(_) => StatusCode::BAD_REQUEST,
            AuthError::Store(crate::store::StoreError::AlreadyExists(_)) => StatusCode::CONFLICT,
            AuthError::Store(e) if e.is_unavailable() => StatusCode::SERVICE_UNAVAILABLE,
            AuthError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError::new(status, e.to_string())
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewKey {
    name: String,
    scopes: Vec<Scope>,
    /// How long the key lives, e.g. "30d"; forever when absent.
    expires_in: Option<String>,
}

pub async fn create(
    State(functions): State<Functions>,
    Json(new): Json<NewKey>,
) -> Result<(StatusCode, Json<CreatedKey>), ApiError> {
    let ttl: Option<Duration> = match &new.expires_in {
        Some(text) => Some(
            humantime::parse_duration(text)
                .map_err(|e| ApiError::bad_request(format!("expires_in '{text}': {e}")))?,
        ),
        None => None,
    };
    let created = functions.keys().create(&new.name, &new.scopes, ttl).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

pub async fn list(State(functions): State<Functions>) -> Result<Json<Vec<ApiKeyRecord>>, ApiError> {
    Ok(Json(functions.keys().list().await?))
}

pub async fn revoke(
    State(functions): State<Functions>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    match functions.keys().revoke(&name).await? {
        true => Ok(StatusCode::NO_CONTENT),
        false => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no active API key '{name}'"),
        )),
    }
}

pub async fn delete(
    State(functions): State<Functions>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    match functions.keys().delete(&name).await? {
        true => Ok(StatusCode::NO_CONTENT),
        false => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no API key '{name}'"),
        )),
    }
}
