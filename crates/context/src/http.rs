//! The COMET API over HTTP, wire-compatible with the original: the same paths and query
//! parameter spellings, the reply envelope `{"message", "value", "version", "status"}`, 400 when
//! `Accept: application/json` is missing, and `Access-Control-Allow-Origin: *` on every reply.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use serde_json::json;
use serde_json::value::RawValue;

use crate::service::{Caller, ContextError, Exchange, Params, Reply};

/// The version every reply carries.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The context routes. `max_value_size` bounds a write's body.
pub fn routes(exchange: Arc<Exchange>, max_value_size: usize) -> Router {
    Router::new()
        .route("/writeScope", post(write))
        .route("/readScope", get(read))
        .route("/enumerateScope", get(enumerate))
        .route("/deleteScope", delete(remove))
        .route("/getVersion", get(version))
        .layer(DefaultBodyLimit::max(max_value_size))
        .layer(axum::middleware::map_response(allow_any_origin))
        .with_state(exchange)
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
    });
    (status, axum::Json(body)).into_response()
}

fn answer(result: Result<Reply, ContextError>) -> Response {
    match result {
        Ok(value) => envelope(&value),
        Err(e) => {
            let status = match &e {
                ContextError::Missing(_) | ContextError::NotText | ContextError::Nul(_) => {
                    StatusCode::BAD_REQUEST
                }
                ContextError::CertificateRequired(_) => StatusCode::FORBIDDEN,
                ContextError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
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
            let value = json!({"version": VERSION, "server": "comet-context (Rust)"});
            envelope(&serde_json::value::to_raw_value(&value).unwrap_or_default())
        }
        Err(r) => *r,
    }
}
