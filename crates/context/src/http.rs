//! The COMET API over HTTP, wire-compatible with the original: the same paths and query
//! parameter spellings, the reply envelope `{"message", "value", "version", "status"}`, 400 when
//! `Accept: application/json` is missing, and `Access-Control-Allow-Origin: *` on every reply.
//!
//! Clients join a base URL ending in `/` with `/writeScope`, so every route also answers with a
//! doubled leading slash. Every error is JSON: the envelope with `value: {"error": …}` and the
//! message also as a top-level `error`, including unknown routes (404) and methods (405).

use std::sync::Arc;

use axum::Router;
use axum::body::{Bytes, HttpBody};
use axum::extract::rejection::QueryRejection;
use axum::extract::{DefaultBodyLimit, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, delete, get, post};
use serde_json::json;
use serde_json::value::RawValue;

use crate::service::{Caller, ContextError, Exchange, Params, Reply};

/// The version every reply carries.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The version of the COMET API this server speaks (the original's `Comet API version`).
pub const API_VERSION: &str = "1.0.0";

/// The context routes, with a JSON 404 for every other path. `max_value_size` bounds a write's
/// body. The router has a fallback: merge it only into routers that have none.
pub fn routes(exchange: Arc<Exchange>, max_value_size: usize) -> Router {
    let routes: [(&str, MethodRouter<Arc<Exchange>>); 5] = [
        ("/writeScope", post(write)),
        ("/readScope", get(read)),
        ("/enumerateScope", get(enumerate)),
        ("/deleteScope", delete(remove)),
        ("/getVersion", get(version)),
    ];
    let mut router = Router::new();
    for (path, handler) in routes {
        router = router
            .route(path, handler.clone())
            .route(&format!("/{path}"), handler);
    }
    router
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(max_value_size))
        .layer(axum::middleware::from_fn(no_empty_errors))
        .layer(axum::middleware::map_response(allow_any_origin))
        .with_state(exchange)
}

/// The reply to a path that is no route.
pub async fn not_found(request: Request) -> Response {
    let message = format!("no route for {} {}", request.method(), request.uri().path());
    failure(StatusCode::NOT_FOUND, message)
}

/// Gives every error reply that has no body (a method the route does not take, a rejection
/// made below the handlers) the JSON envelope, keeping its status and headers (`Allow`).
async fn no_empty_errors(request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let response = next.run(request).await;
    let status = response.status();
    let is_error = status.is_client_error() || status.is_server_error();
    if !is_error || response.body().size_hint().exact() != Some(0) {
        return response;
    }
    let message = if status == StatusCode::METHOD_NOT_ALLOWED {
        // The `Allow` header is added after this layer: the reply carries it all the same.
        format!("{path} does not take {method}")
    } else {
        format!(
            "{method} {path}: {}",
            status.canonical_reason().unwrap_or("error")
        )
    };
    let (mut parts, _) = response.into_parts();
    let (json_parts, body) = failure(status, message).into_parts();
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.extend(json_parts.headers);
    Response::from_parts(parts, body)
}

async fn allow_any_origin(mut response: Response) -> Response {
    response.headers_mut().insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    response
}

fn envelope(value: &RawValue) -> Response {
    let body = format!(
        r#"{{"message":"success","value":{},"version":"{VERSION}","status":"OK"}}"#,
        value.get()
    );
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

fn failure(status: StatusCode, message: String) -> Response {
    let reason = status.canonical_reason().unwrap_or("Error");
    let body = json!({
        "message": message,
        "value": {"error": message},
        "version": VERSION,
        "status": reason,
        "error": message,
    });
    (status, axum::Json(body)).into_response()
}

fn answer(result: Result<Reply, ContextError>) -> Response {
    match result {
        Ok(value) => envelope(&value),
        Err(e) => {
            let status = match &e {
                ContextError::Missing(_)
                | ContextError::NotText
                | ContextError::Nul(_)
                | ContextError::Tokens(_) => StatusCode::BAD_REQUEST,
                ContextError::CertificateRequired(_) => StatusCode::FORBIDDEN,
                ContextError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
                // RFC 4331's answer to a write past a quota: the request is fine, there is no
                // room for it (429 would invite a retry that cannot succeed, 403 would say the
                // tokens are wrong).
                ContextError::Quota(_) => StatusCode::INSUFFICIENT_STORAGE,
                ContextError::Store(_) => {
                    // The details stay in the log: they are the database's, not the client's.
                    tracing::error!(error = %e, "context request failed");
                    let message = "the context store is unavailable; try again".to_string();
                    return failure(StatusCode::SERVICE_UNAVAILABLE, message);
                }
            };
            failure(status, e.to_string())
        }
    }
}

/// Checks what every call checks: a JSON client, and parameters that parse. The error is the
/// 400 reply.
fn admitted(
    headers: &HeaderMap,
    query: Result<Query<Params>, QueryRejection>,
) -> Result<Params, Box<Response>> {
    let wants_json = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.to_ascii_lowercase().contains("application/json"));
    if !wants_json {
        return Err(Box::new(failure(
            StatusCode::BAD_REQUEST,
            "send 'Accept: application/json'".into(),
        )));
    }
    query
        .map(|Query(p)| p)
        .map_err(|e| Box::new(failure(StatusCode::BAD_REQUEST, e.body_text())))
}

async fn write(
    State(x): State<Arc<Exchange>>,
    caller_ext: Option<axum::Extension<Caller>>,
    headers: HeaderMap,
    query: Result<Query<Params>, QueryRejection>,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Response {
    let params = match admitted(&headers, query) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    let body = match body {
        Ok(b) => b,
        Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return failure(e.status(), "the body is too large".into());
        }
        Err(e) => return failure(e.status(), e.body_text()),
    };
    let Ok(text) = String::from_utf8(body.to_vec()) else {
        return answer(Err(ContextError::NotText));
    };
    let caller = caller_ext.map(|e| e.0).unwrap_or_default();
    answer(x.write(&params, text, caller).await)
}

async fn read(
    State(x): State<Arc<Exchange>>,
    headers: HeaderMap,
    query: Result<Query<Params>, QueryRejection>,
) -> Response {
    match admitted(&headers, query) {
        Ok(p) => answer(x.read(&p).await),
        Err(r) => *r,
    }
}

async fn enumerate(
    State(x): State<Arc<Exchange>>,
    headers: HeaderMap,
    query: Result<Query<Params>, QueryRejection>,
) -> Response {
    match admitted(&headers, query) {
        Ok(p) => answer(x.enumerate(&p).await),
        Err(r) => *r,
    }
}

async fn remove(
    State(x): State<Arc<Exchange>>,
    caller_ext: Option<axum::Extension<Caller>>,
    headers: HeaderMap,
    query: Result<Query<Params>, QueryRejection>,
) -> Response {
    match admitted(&headers, query) {
        Ok(p) => {
            let caller = caller_ext.map(|e| e.0).unwrap_or_default();
            answer(x.delete(&p, caller).await)
        }
        Err(r) => *r,
    }
}

async fn version(headers: HeaderMap, query: Result<Query<Params>, QueryRejection>) -> Response {
    match admitted(&headers, query) {
        Ok(_) => {
            let value = json!({
                "version": VERSION,
                "server": "comet-context (Rust)",
                "Comet version": VERSION,
                "Comet API version": API_VERSION,
            });
            envelope(&serde_json::value::to_raw_value(&value).unwrap_or_default())
        }
        Err(r) => *r,
    }
}
