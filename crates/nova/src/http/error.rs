//! Every error the API returns: JSON `{"error": "..."}` with the status that fits. Handlers return
//! [`ApiError`]; [`json_errors`] rewrites what axum itself answers (a 405, a path or query it
//! cannot read, a body over the limit) and what routes from other crates answer in plain text.

use axum::Json;
use axum::extract::Request;
use axum::http::{HeaderValue, Method, StatusCode, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use comet::InvokeError;
use nova_store::StoreError;
use serde_json::json;

use crate::code::CodeError;
use crate::service::{AliasFailure, ServiceError};

/// An error on its way to the client.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    /// Seconds, for a 429's Retry-After.
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
            retry_after: None,
        }
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::error!(status = %self.status, error = %self.message, "request failed");
        }
        let mut response = (self.status, Json(json!({ "error": self.message }))).into_response();
        if let Some(seconds) = self.retry_after
            && let Ok(value) = axum::http::HeaderValue::from_str(&seconds.to_string())
        {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, value);
        }
        response
    }
}

/// 429 with `Retry-After` in whole seconds (at least 1).
impl From<crate::ratelimit::RateLimited> for ApiError {
    fn from(e: crate::ratelimit::RateLimited) -> Self {
        let mut error = ApiError::new(StatusCode::TOO_MANY_REQUESTS, e.to_string());
        error.retry_after = Some(e.retry_after.as_secs().max(1));
        error
    }
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        let status = match &e {
            ServiceError::Invalid(_)
            | ServiceError::Unsupported(..)
            | ServiceError::EmptyUpdate
            | ServiceError::MissingSecret { .. }
            | ServiceError::BadPayload(_)
            | ServiceError::BadRequest(_)
            | ServiceError::BadQualifier(_)
            | ServiceError::LongDescription(_)
            | ServiceError::Alias(AliasFailure::Invalid(_) | AliasFailure::NoVersion { .. }) => {
                StatusCode::BAD_REQUEST
            }
            ServiceError::Code(CodeError::TooLarge { .. }) => StatusCode::PAYLOAD_TOO_LARGE,
            ServiceError::Code(_) => StatusCode::BAD_REQUEST,
            ServiceError::NotFound(_)
            | ServiceError::NoVersion { .. }
            | ServiceError::NoQualifier { .. }
            | ServiceError::Alias(AliasFailure::NotFound { .. })
            | ServiceError::Secret(crate::secrets::SecretError::NotFound(_)) => {
                StatusCode::NOT_FOUND
            }
            ServiceError::Secret(crate::secrets::SecretError::Invalid(_)) => {
                StatusCode::BAD_REQUEST
            }
            ServiceError::Secret(crate::secrets::SecretError::Store(e)) if e.is_unavailable() => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ServiceError::Secret(_) => StatusCode::INTERNAL_SERVER_ERROR,
            ServiceError::AlreadyExists(_) | ServiceError::Conflict(_) => StatusCode::CONFLICT,
            ServiceError::Invoke(e) => invoke_status(e),
            // Records other than functions (a function's own become the variants above).
            ServiceError::Store(StoreError::NotFound { .. }) => StatusCode::NOT_FOUND,
            ServiceError::Store(StoreError::AlreadyExists { .. } | StoreError::Conflict { .. }) => {
                StatusCode::CONFLICT
            }
            ServiceError::Store(e) if e.is_unavailable() => StatusCode::SERVICE_UNAVAILABLE,
            ServiceError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError::new(status, e.to_string())
    }
}

fn invoke_status(e: &InvokeError) -> StatusCode {
    match e {
        InvokeError::Unsupported { .. } | InvokeError::Rejected(_) => StatusCode::BAD_REQUEST,
        InvokeError::Busy { .. } | InvokeError::Overloaded(_) => StatusCode::TOO_MANY_REQUESTS,
        InvokeError::Start { .. }
        | InvokeError::Instance { .. }
        | InvokeError::Deadline { .. }
        | InvokeError::OutputNotUtf8
        | InvokeError::OutputNotJson(_)
        | InvokeError::Remote(_) => StatusCode::BAD_GATEWAY,
        InvokeError::ShuttingDown
        | InvokeError::NoWorker
        | InvokeError::WentAway { .. }
        | InvokeError::Unauthorized { .. }
        | InvokeError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
    }
}

/// A rejected body (too large, unreadable) as a JSON error with the rejection's own status.
pub fn body_rejection(rejection: axum::extract::rejection::BytesRejection) -> ApiError {
    let status = rejection.status();
    let message = if status == StatusCode::PAYLOAD_TOO_LARGE {
        "request body is too large".to_string()
    } else {
        rejection.body_text()
    };
    ApiError::new(status, message)
}

pub async fn not_found(uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        format!("no route for {}", uri.path()),
    )
}

pub async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("method {method} is not allowed on {}", uri.path()),
    )
}

/// Longest error body rewritten; a longer one is replaced by the status's reason.
const MAX_ERROR_TEXT: usize = 16 * 1024;

/// Turns an error response that is not JSON into `{"error": "<its text>"}` with the same status
/// and headers (`Allow`, `Retry-After`...), so that clients can always read why.
pub async fn json_errors(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, MAX_ERROR_TEXT)
        .await
        .ok()
        .map(|b| String::from_utf8_lossy(&b).trim().to_string())
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| {
            status
                .canonical_reason()
                .unwrap_or("error")
                .to_ascii_lowercase()
        });
    let body = serde_json::to_vec(&json!({ "error": text })).unwrap_or_default();
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Response::from_parts(parts, axum::body::Body::from(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invoke_errors_keep_their_http_statuses() {
        let w = || "w".to_string();
        let cases = [
            (InvokeError::Rejected(w()), StatusCode::BAD_REQUEST),
            (InvokeError::Overloaded(w()), StatusCode::TOO_MANY_REQUESTS),
            (InvokeError::Remote(w()), StatusCode::BAD_GATEWAY),
            (
                InvokeError::Deadline { worker: w() },
                StatusCode::BAD_GATEWAY,
            ),
            (InvokeError::OutputNotUtf8, StatusCode::BAD_GATEWAY),
            (InvokeError::OutputNotJson(w()), StatusCode::BAD_GATEWAY),
            (InvokeError::ShuttingDown, StatusCode::SERVICE_UNAVAILABLE),
            (InvokeError::NoWorker, StatusCode::SERVICE_UNAVAILABLE),
            (
                InvokeError::WentAway { worker: w() },
                StatusCode::SERVICE_UNAVAILABLE,
            ),
            (
                InvokeError::Unauthorized {
                    worker: w(),
                    message: w(),
                },
                StatusCode::SERVICE_UNAVAILABLE,
            ),
            (
                InvokeError::Unavailable(w()),
                StatusCode::SERVICE_UNAVAILABLE,
            ),
        ];
        for (error, status) in cases {
            assert_eq!(invoke_status(&error), status, "{error}");
        }
    }
}
