//! API keys at the door: every route but `/health` needs a key with the right scope once any key
//! has existed (or with `--require-auth`): reads need `read`, invocations `invoke`, everything
//! that changes state `admin`. A key comes as `X-API-Key`, `Authorization: Bearer` or
//! `Authorization: ApiKey`. And the routes that manage the keys.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Path, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::error::ApiError;
use crate::apikeys::{ApiKeyView, ApiKeys, AuthError, CreatedKey, Denied, KeyChange, Scope};

/// The scope a request needs, from its method and path.
fn scope_of(method: &Method, path: &str) -> Option<Scope> {
    if path == "/health" {
        return None;
    }
    // Keys and secrets are the operator's, whatever the method, and so is the embedded KV
    // service's administration.
    if path.starts_with("/apikeys")
        || path.starts_with("/api-keys")
        || path.starts_with("/secrets")
        || path.starts_with("/admin/")
        || path == "/admin"
    {
        return Some(Scope::Admin);
    }
    let read = matches!(*method, Method::GET | Method::HEAD);
    // The embedded KV service: reads need read, every write admin.
    if path.starts_with("/databases/") || path == "/databases" {
        return Some(if read { Scope::Read } else { Scope::Admin });
    }
    Some(match *method {
        _ if read => Scope::Read,
        Method::POST if is_invocation(path) => Scope::Invoke,
        _ => Scope::Admin,
    })
}

/// `/functions/{name}/invoke` or `/functions/{name}/invoke-async` exactly (not, say, an alias
/// named `invoke`).
fn is_invocation(path: &str) -> bool {
    let Some(rest) = path.strip_prefix("/functions/") else {
        return false;
    };
    (rest
        .strip_suffix("/invoke")
        .or(rest.strip_suffix("/invoke-async")))
    .is_some_and(|name| !name.is_empty() && !name.contains('/'))
}

/// The key a request presents: `X-API-Key: <key>` (what the original Nova's CLI sends),
/// `Authorization: Bearer <key>` or `Authorization: ApiKey <key>`.
fn presented_key(headers: &HeaderMap) -> Option<&str> {
    if let Some(key) = headers.get("x-api-key").and_then(|v| v.to_str().ok()) {
        return Some(key.trim());
    }
    let authorization = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, key) = authorization.trim().split_once(' ')?;
    (scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("apikey"))
        .then_some(key.trim())
}

/// Who is calling, as the guard found it: the key's name, or `None` for a call the API let in
/// without one. Handlers that count calls per key (the rate limits) read it.
#[derive(Debug, Clone, Default)]
pub struct Caller(pub Option<String>);

impl Caller {
    pub fn key(&self) -> Option<&str> {
        self.0.as_deref()
    }
}

pub async fn guard(State(keys): State<Arc<ApiKeys>>, mut request: Request, next: Next) -> Response {
    let Some(scope) = scope_of(request.method(), request.uri().path()) else {
        return next.run(request).await;
    };
    let key = presented_key(request.headers());
    match keys.check_key(key, scope).await {
        Ok(key) => {
            request.extensions_mut().insert(Caller(key));
            next.run(request).await
        }
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
            AuthError::NotFound(_) => StatusCode::NOT_FOUND,
            AuthError::Store(nova_store::StoreError::AlreadyExists { .. }) => StatusCode::CONFLICT,
            AuthError::Store(e) if e.is_unavailable() => StatusCode::SERVICE_UNAVAILABLE,
            AuthError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError::new(status, e.to_string())
    }
}

/// A JSON body whose every rejection is a JSON error with the status that fits: 415 without a
/// JSON content type, 413 over the size limit, 400 for malformed JSON or the wrong shape (axum
/// would answer in plain text, and the wrong shape with 422).
pub struct JsonBody<T>(pub T);

impl<S, T> FromRequest<S> for JsonBody<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(request, state).await {
            Ok(Json(value)) => Ok(JsonBody(value)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

fn json_rejection(rejection: JsonRejection) -> ApiError {
    let status = match &rejection {
        JsonRejection::MissingJsonContentType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        JsonRejection::BytesRejection(_) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            StatusCode::PAYLOAD_TOO_LARGE
        }
        _ => StatusCode::BAD_REQUEST,
    };
    ApiError::new(status, rejection.body_text())
}

/// Scope names as a client sent them; an unknown one is a 400 that names it and the valid ones.
fn scopes(names: &[String]) -> Result<Vec<Scope>, ApiError> {
    names
        .iter()
        .map(|name| name.parse::<Scope>().map_err(ApiError::bad_request))
        .collect()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewKey {
    name: String,
    #[serde(default)]
    scopes: Vec<String>,
    /// How long the key lives, e.g. "30d"; forever when absent.
    expires_in: Option<String>,
}

pub async fn create(
    State(keys): State<Arc<ApiKeys>>,
    JsonBody(new): JsonBody<NewKey>,
) -> Result<(StatusCode, Json<CreatedKey>), ApiError> {
    let scopes = scopes(&new.scopes)?;
    let ttl: Option<Duration> = match &new.expires_in {
        Some(text) => Some(
            humantime::parse_duration(text)
                .map_err(|e| ApiError::bad_request(format!("expires_in '{text}': {e}")))?,
        ),
        None => None,
    };
    let created = keys.create(&new.name, &scopes, ttl).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

pub async fn list(State(keys): State<Arc<ApiKeys>>) -> Result<Json<Vec<ApiKeyView>>, ApiError> {
    Ok(Json(keys.list().await?))
}

/// `PATCH /apikeys/{name}`: what the original Nova's CLI (`name`, `scopes`) and API (`enabled`)
/// send.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyPatch {
    name: Option<String>,
    scopes: Option<Vec<String>>,
    enabled: Option<bool>,
}

/// The name of the key `given` designates: a key's name, or its id (the public part of the key,
/// which the original Nova's CLI sends).
async fn key_name(keys: &ApiKeys, given: String) -> Result<String, ApiError> {
    let keys = keys.list().await?;
    if keys.iter().any(|k| k.name == given) {
        return Ok(given);
    }
    Ok(keys
        .into_iter()
        .find(|k| k.id == given)
        .map_or(given, |k| k.name))
}

pub async fn update(
    State(keys): State<Arc<ApiKeys>>,
    Path(name): Path<String>,
    JsonBody(patch): JsonBody<KeyPatch>,
) -> Result<Json<ApiKeyView>, ApiError> {
    let name = key_name(&keys, name).await?;
    let change = KeyChange {
        name: patch.name,
        scopes: patch.scopes.as_deref().map(scopes).transpose()?,
        enabled: patch.enabled,
    };
    Ok(Json(keys.update(&name, &change).await?))
}

pub async fn revoke(
    State(keys): State<Arc<ApiKeys>>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    let name = key_name(&keys, name).await?;
    match keys.revoke(&name).await? {
        true => Ok(StatusCode::NO_CONTENT),
        false => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no active API key '{name}'"),
        )),
    }
}

pub async fn delete(
    State(keys): State<Arc<ApiKeys>>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    let name = key_name(&keys, name).await?;
    match keys.delete(&name).await? {
        true => Ok(StatusCode::NO_CONTENT),
        false => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no API key '{name}'"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_by_route() {
        let get = Method::GET;
        assert_eq!(scope_of(&get, "/health"), None);
        assert_eq!(scope_of(&get, "/functions"), Some(Scope::Read));
        assert_eq!(scope_of(&get, "/functions/f/versions"), Some(Scope::Read));
        assert_eq!(scope_of(&get, "/functions/f/versions/2"), Some(Scope::Read));
        assert_eq!(
            scope_of(&Method::POST, "/functions/f/versions"),
            Some(Scope::Admin)
        );
        // Schedules and async settings: reads read, every write admin (a schedule invokes on
        // its own; a destination is a call made on the function's behalf).
        assert_eq!(scope_of(&get, "/functions/f/schedules"), Some(Scope::Read));
        for (method, path) in [
            (Method::POST, "/functions/f/schedules"),
            (Method::PATCH, "/functions/f/schedules/s1"),
            (Method::DELETE, "/functions/f/schedules/s1"),
            (Method::PUT, "/functions/f/async-config"),
            (Method::DELETE, "/functions/f/async-config"),
        ] {
            assert_eq!(
                scope_of(&method, path),
                Some(Scope::Admin),
                "{method} {path}"
            );
        }
        assert_eq!(scope_of(&get, "/apikeys"), Some(Scope::Admin));
        assert_eq!(scope_of(&get, "/api-keys"), Some(Scope::Admin));
        assert_eq!(scope_of(&get, "/admin/databases/x"), Some(Scope::Admin));
        assert_eq!(
            scope_of(&Method::PUT, "/admin/databases/d/ingests/x"),
            Some(Scope::Admin)
        );
        assert_eq!(scope_of(&get, "/databases/d/keys/a"), Some(Scope::Read));
        assert_eq!(
            scope_of(&Method::HEAD, "/databases/d/keys/a"),
            Some(Scope::Read)
        );
        for m in [Method::PUT, Method::POST, Method::DELETE] {
            assert_eq!(scope_of(&m, "/databases/d/keys/a"), Some(Scope::Admin));
        }
        assert_eq!(
            scope_of(&Method::POST, "/functions/f/invoke"),
            Some(Scope::Invoke)
        );
        // Async invocations: enqueueing is an invocation, reading them read, a retry admin.
        assert_eq!(
            scope_of(&Method::POST, "/functions/f/invoke-async"),
            Some(Scope::Invoke)
        );
        for path in [
            "/async-invocations",
            "/async-invocations/x",
            "/functions/f/async-invocations",
        ] {
            assert_eq!(scope_of(&get, path), Some(Scope::Read), "{path}");
        }
        for path in [
            "/async-invocations/x/retry",
            "/functions/f/aliases/invoke-async",
            "/functions/invoke-async",
        ] {
            assert_eq!(scope_of(&Method::POST, path), Some(Scope::Admin), "{path}");
        }
        // Aliases: reading them needs read, changing them admin (not invoke).
        for path in ["/functions/f/aliases", "/functions/f/aliases/live"] {
            assert_eq!(scope_of(&get, path), Some(Scope::Read), "{path}");
        }
        for m in [Method::POST, Method::PUT, Method::PATCH, Method::DELETE] {
            let path = if m == Method::POST {
                "/functions/f/aliases"
            } else {
                "/functions/f/aliases/live"
            };
            assert_eq!(scope_of(&m, path), Some(Scope::Admin), "{m} {path}");
        }
        assert_eq!(
            scope_of(&Method::POST, "/functions/f/aliases/invoke"),
            Some(Scope::Admin),
            "an alias named invoke is still an alias"
        );
    }

    #[test]
    fn a_key_comes_in_three_ways() {
        let with = |name: &'static str, value: &str| {
            let mut h = HeaderMap::new();
            h.insert(name, value.parse().expect("header"));
            h
        };
        assert_eq!(
            presented_key(&with("x-api-key", "nova_a_b")),
            Some("nova_a_b")
        );
        for value in ["Bearer nova_a_b", "ApiKey nova_a_b", "apikey  nova_a_b"] {
            assert_eq!(
                presented_key(&with("authorization", value)),
                Some("nova_a_b"),
                "{value}"
            );
        }
        assert_eq!(presented_key(&with("authorization", "Basic eA==")), None);
        assert_eq!(presented_key(&HeaderMap::new()), None);
    }
}
