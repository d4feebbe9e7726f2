//! Handlers of the version routes: `GET /functions/{name}/versions` (newest first, paged like
//! `/functions`), `GET /functions/{name}/versions/{version}` (a number or `$LATEST`) and
//! `POST /functions/{name}/versions` (publish, optional body `{"description": "..."}`), and how
//! an invocation names its version (`?qualifier=` or `X-Nova-Qualifier`).

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use nova_api::{FunctionVersion, LATEST, Qualifier};
use nova_store::VersionQuery;
use serde::Deserialize;

use super::error::{ApiError, body_rejection};
use crate::service::{Functions, ServiceError};

/// Most versions one `GET /functions/{name}/versions` returns.
const MAX_PAGE: u32 = 1000;

/// The header through which the original Nova's clients named a version or an alias.
pub const QUALIFIER_HEADER: &str = "x-nova-qualifier";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PageParams {
    limit: Option<u32>,
    offset: Option<u32>,
}

pub async fn list(
    State(functions): State<Functions>,
    Path(name): Path<String>,
    params: Result<Query<PageParams>, QueryRejection>,
) -> Result<Json<Vec<FunctionVersion>>, ApiError> {
    let Query(params) = params.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let limit = params.limit.unwrap_or(100);
    if limit == 0 || limit > MAX_PAGE {
        return Err(ApiError::bad_request(format!(
            "limit must be between 1 and {MAX_PAGE}"
        )));
    }
    let query = VersionQuery {
        limit,
        offset: params.offset.unwrap_or(0),
    };
    Ok(Json(functions.versions(&name, &query).await?))
}

pub async fn get(
    State(functions): State<Functions>,
    Path((name, version)): Path<(String, String)>,
) -> Result<Json<FunctionVersion>, ApiError> {
    let number = if version == LATEST {
        functions.get(&name).await?.version
    } else {
        Qualifier::version_number(&version).map_err(crate::service::ServiceError::from)?
    };
    Ok(Json(functions.version(&name, number).await?))
}

/// What `POST /functions/{name}/versions` takes; an empty body is no description.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Publish {
    #[serde(default)]
    description: String,
}

pub async fn publish(
    State(functions): State<Functions>,
    Path(name): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<FunctionVersion>, ApiError> {
    let body = body.map_err(body_rejection)?;
    let publish: Publish = if body.iter().all(u8::is_ascii_whitespace) {
        Publish::default()
    } else {
        let invalid =
            |e: serde_json::Error| ApiError::bad_request(format!("invalid JSON body: {e}"));
        let value: serde_json::Value = serde_json::from_slice(&body).map_err(invalid)?;
        if !value.is_object() {
            return Err(ApiError::bad_request(
                r#"invalid JSON body: expected an object such as {"description": "..."}"#,
            ));
        }
        serde_json::from_value(value).map_err(invalid)?
    };
    Ok(Json(functions.publish(&name, &publish.description).await?))
}

/// The invoke route's query; other parameters are left alone, as before qualifiers.
#[derive(Deserialize)]
pub struct InvokeParams {
    qualifier: Option<String>,
}

/// The qualifier an invocation names, by `?qualifier=` or the `X-Nova-Qualifier` header (both
/// only if they agree); `$LATEST` when neither.
pub fn qualifier(
    params: Result<Query<InvokeParams>, QueryRejection>,
    headers: &HeaderMap,
) -> Result<Qualifier, ApiError> {
    let Query(params) = params.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let header = match headers.get(QUALIFIER_HEADER) {
        None => None,
        Some(value) => Some(value.to_str().map_err(|_| {
            ApiError::bad_request(format!("the {QUALIFIER_HEADER} header is not text"))
        })?),
    };
    let text = match (params.qualifier.as_deref(), header) {
        (Some(q), Some(h)) if q != h.trim() => {
            return Err(ApiError::bad_request(format!(
                "?qualifier={q} and the {QUALIFIER_HEADER} header ({h}) disagree"
            )));
        }
        (Some(q), _) => q,
        (None, Some(h)) => h.trim(),
        (None, None) => return Ok(Qualifier::Latest),
    };
    text.parse::<Qualifier>()
        .map_err(|e| crate::service::ServiceError::from(e).into())
}

/// An invocation's error, where a version or alias the caller named (in `?qualifier=` or
/// `X-Nova-Qualifier`) does not exist: a bad parameter, so 400, like a malformed one. (A missing
/// function stays a 404: it is the path's resource.)
pub(super) fn invocation_error(e: ServiceError) -> ApiError {
    match e {
        ServiceError::NoVersion { .. } | ServiceError::NoQualifier { .. } => {
            ApiError::bad_request(e.to_string())
        }
        e => e.into(),
    }
}
