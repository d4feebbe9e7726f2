//! Handlers of the alias routes: `GET|POST /functions/{name}/aliases` (list by name; create, a
//! taken name is a 409) and `GET|PUT|PATCH|DELETE /functions/{name}/aliases/{alias}` (read;
//! create or replace; change some fields; delete).
//!
//! The body is `{"name": "live", "version": 3, "routing": {"4": 10}, "description": "..."}`:
//! `routing` gives a second version and the percentage of calls it takes (1–99). The original
//! Nova's shape, `{"name": "live", "traffic_split": {"3": 90, "4": 10}}` (shares summing to
//! 100), is taken too: the larger share is the alias's version. What a GET returns can be PUT
//! back unchanged (`function` must then be the path's; timestamps are ignored).

use std::collections::BTreeMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use nova_api::{AliasError, FunctionAlias};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::error::{ApiError, body_rejection};
use crate::service::{AliasFailure, AliasPatch, Functions, ServiceError};

/// An alias as a client writes it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AliasBody {
    name: Option<String>,
    version: Option<u64>,
    routing: Option<BTreeMap<u64, u64>>,
    /// The original Nova's shape: every version's share, summing to 100.
    traffic_split: Option<BTreeMap<u64, u64>>,
    description: Option<String>,
    /// As a GET shows it: must be the function of the path.
    function: Option<String>,
    #[allow(dead_code)]
    created_at: Option<String>,
    #[allow(dead_code)]
    updated_at: Option<String>,
}

/// `PATCH`'s body: absent fields stay.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PatchBody {
    version: Option<u64>,
    routing: Option<BTreeMap<u64, u64>>,
    description: Option<String>,
}

pub async fn list(
    State(functions): State<Functions>,
    Path(name): Path<String>,
) -> Result<Json<Vec<FunctionAlias>>, ApiError> {
    Ok(Json(functions.aliases(&name).await?))
}

pub async fn get(
    State(functions): State<Functions>,
    Path((name, alias)): Path<(String, String)>,
) -> Result<Json<FunctionAlias>, ApiError> {
    Ok(Json(functions.alias(&name, &alias).await?))
}

pub async fn create(
    State(functions): State<Functions>,
    Path(name): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<FunctionAlias>), ApiError> {
    let body: AliasBody = json_body(body)?;
    let alias = body.into_alias(&name, None)?;
    let alias = functions.set_alias(alias, false).await?;
    Ok((StatusCode::CREATED, Json(alias)))
}

pub async fn put(
    State(functions): State<Functions>,
    Path((name, alias)): Path<(String, String)>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<FunctionAlias>, ApiError> {
    let body: AliasBody = json_body(body)?;
    let alias = body.into_alias(&name, Some(&alias))?;
    Ok(Json(functions.set_alias(alias, true).await?))
}

pub async fn patch(
    State(functions): State<Functions>,
    Path((name, alias)): Path<(String, String)>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<FunctionAlias>, ApiError> {
    let body: PatchBody = json_body(body)?;
    let patch = AliasPatch {
        version: body.version,
        routing: body.routing.map(percentages).transpose()?,
        description: body.description,
    };
    Ok(Json(functions.update_alias(&name, &alias, patch).await?))
}

pub async fn delete(
    State(functions): State<Functions>,
    Path((name, alias)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    functions.delete_alias(&name, &alias).await?;
    Ok(StatusCode::NO_CONTENT)
}

impl AliasBody {
    /// The alias of `function` this body describes; `path` is the alias's name in the path.
    fn into_alias(self, function: &str, path: Option<&str>) -> Result<FunctionAlias, ApiError> {
        if let Some(other) = self.function.as_deref().filter(|f| *f != function) {
            return Err(ApiError::bad_request(format!(
                "the body is about function '{other}', the path about '{function}'"
            )));
        }
        let name = match (self.name, path) {
            (Some(body), Some(path)) if body != path => {
                return Err(ApiError::bad_request(format!(
                    "the body names alias '{body}', the path '{path}'"
                )));
            }
            (_, Some(path)) => path.to_string(),
            (Some(body), None) => body,
            (None, None) => return Err(ApiError::bad_request("name is required")),
        };
        let (version, routing) = match (self.version, self.routing, self.traffic_split) {
            (None, None, Some(split)) => from_split(split)?,
            (_, _, Some(_)) => {
                return Err(ApiError::bad_request(
                    "give version (and routing) or traffic_split, not both",
                ));
            }
            (Some(version), routing, None) => (version, percentages(routing.unwrap_or_default())?),
            (None, _, None) => return Err(ApiError::bad_request("version is required")),
        };
        Ok(FunctionAlias {
            function: function.to_string(),
            name,
            version,
            routing,
            description: self.description.unwrap_or_default(),
            created_at: String::new(),
            updated_at: String::new(),
        })
    }
}

/// Percentages as the alias keeps them; one over 100 is refused by its value.
fn percentages(routing: BTreeMap<u64, u64>) -> Result<BTreeMap<u64, u8>, ApiError> {
    routing
        .into_iter()
        .map(|(version, percent)| match u8::try_from(percent) {
            Ok(p) if p <= 100 => Ok((version, p)),
            _ => Err(invalid(AliasError::BadWeight(percent))),
        })
        .collect()
}

/// The original's `traffic_split`: one version at 100, or two whose shares sum to 100 (the
/// larger share, or the older version on a tie, is the alias's version).
fn from_split(split: BTreeMap<u64, u64>) -> Result<(u64, BTreeMap<u64, u8>), ApiError> {
    let bad = || {
        ApiError::bad_request(
            "traffic_split gives one or two versions whose percentages sum to 100",
        )
    };
    if split.values().sum::<u64>() != 100 {
        return Err(bad());
    }
    let mut shares: Vec<(u64, u64)> = split.into_iter().collect();
    shares.sort_by_key(|&(version, share)| (std::cmp::Reverse(share), version));
    match shares.as_slice() {
        [(version, _)] => Ok((*version, BTreeMap::new())),
        [(version, _), second] => Ok((*version, percentages(BTreeMap::from([*second]))?)),
        _ => Err(bad()),
    }
}

fn invalid(e: AliasError) -> ApiError {
    ServiceError::Alias(AliasFailure::Invalid(e)).into()
}

/// A JSON object body, every failure a 400 that says what is wrong.
fn json_body<T: DeserializeOwned>(body: Result<Bytes, BytesRejection>) -> Result<T, ApiError> {
    json_object(body, r#"{"name": "live", "version": 3}"#)
}

/// The body as a JSON object of `T`'s fields (`example` shows one in the message when it is not
/// an object).
pub(super) fn json_object<T: DeserializeOwned>(
    body: Result<Bytes, BytesRejection>,
    example: &str,
) -> Result<T, ApiError> {
    let body = body.map_err(body_rejection)?;
    let invalid = |e: serde_json::Error| ApiError::bad_request(format!("invalid JSON body: {e}"));
    let value: serde_json::Value = serde_json::from_slice(&body).map_err(invalid)?;
    if !value.is_object() {
        return Err(ApiError::bad_request(format!(
            "invalid JSON body: expected an object such as {example}"
        )));
    }
    serde_json::from_value(value).map_err(invalid)
}
