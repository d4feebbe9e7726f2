//! Key routes. Reads and unsynced writes call the engine inline: a RocksDB get or WAL append
//! takes microseconds, less than a hop to the blocking pool would.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde_json::{Map, Value, json};

use super::extract::Segments;
use super::query;
use super::reply::{authorize, blocking, finish, json};
use crate::auth::Scope;
use crate::error::KvError;
use crate::metrics::Route;
use crate::service::Kv;
use crate::value::{DEFAULT_CONTENT_TYPE, StoredValue};

pub async fn get(
    State(kv): State<Arc<Kv>>,
    Segments((db, key)): Segments<(String, String)>,
    request: Request,
) -> Response {
    let started = Instant::now();
    let result = authorize(&kv, request.headers(), Scope::KvRead)
        .and_then(|()| kv.get(&db, &key))
        .map(value_response);
    finish(&kv, Route::Get, &db, started, result)
}

fn value_response(value: StoredValue) -> Response {
    let content_type = HeaderValue::from_str(value.content_type())
        .unwrap_or(HeaderValue::from_static(DEFAULT_CONTENT_TYPE));
    let mut response = Response::new(Body::from(value.body()));
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, content_type);
    response
}

pub async fn put(
    State(kv): State<Arc<Kv>>,
    Segments((db, key)): Segments<(String, String)>,
    request: Request,
) -> Response {
    let started = Instant::now();
    let result = store(&kv, db.clone(), key, request).await;
    finish(&kv, Route::Put, &db, started, result)
}

async fn store(
    kv: &Arc<Kv>,
    db: String,
    key: String,
    request: Request,
) -> Result<Response, KvError> {
    authorize(kv, request.headers(), Scope::KvWrite)?;
    let content_type = match request.headers().get(header::CONTENT_TYPE) {
        None => None,
        // A tab is legal whitespace in a header (around `;`), but not in what is stored.
        Some(v) => Some(
            v.to_str()
                .map_err(|_| KvError::BadRequest("Content-Type must be printable ASCII".into()))?
                .replace('\t', " "),
        ),
    };
    let body = read_body(request, kv.max_value_size()).await?;
    // The database's writer thread does the write (see `writer`): the async workers keep
    // serving reads, health checks and metrics through a RocksDB write stall.
    kv.put(&db, &key, content_type.as_deref(), &body).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The body, refused with 413 past `max` bytes (announced or sent), 400 if it cannot be read.
async fn read_body(request: Request, max: usize) -> Result<bytes::Bytes, KvError> {
    let announced = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if announced.is_some_and(|n| n > max as u64) {
        return Err(KvError::TooLarge { max });
    }
    axum::body::to_bytes(request.into_body(), max)
        .await
        .map_err(|e| {
            let too_long = std::error::Error::source(&e)
                .is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
            if too_long {
                KvError::TooLarge { max }
            } else {
                KvError::BadRequest(format!("cannot read the body: {e}"))
            }
        })
}

/// `/databases/{db}/keys/` names the empty key, which no database holds: 400, whatever the
/// method.
pub async fn empty_key() -> Response {
    super::reply::error(crate::service::bad_key_length())
}

pub async fn delete(
    State(kv): State<Arc<Kv>>,
    Segments((db, key)): Segments<(String, String)>,
    request: Request,
) -> Response {
    let started = Instant::now();
    let result = remove(&kv, db.clone(), key, request.headers()).await;
    finish(&kv, Route::Delete, &db, started, result)
}

async fn remove(
    kv: &Arc<Kv>,
    db: String,
    key: String,
    headers: &HeaderMap,
) -> Result<Response, KvError> {
    authorize(kv, headers, Scope::KvWrite)?;
    kv.delete(&db, &key).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `?keys=a&keys=b` → `{"a": {"content_type": …, "value": …}, "b": null}`; a body that is not
/// UTF-8 comes as `value_base64` instead of `value`. A key asked twice is answered once, and the
/// values together may not pass `max_value_size` (413: ask for fewer keys).
pub async fn multi_get(
    State(kv): State<Arc<Kv>>,
    Segments(db): Segments<String>,
    request: Request,
) -> Response {
    let started = Instant::now();
    let result = match authorize(&kv, request.headers(), Scope::KvRead)
        .and_then(|()| requested_keys(request.uri().query().unwrap_or("")))
    {
        Ok(keys) => {
            let (worker, name) = (kv.clone(), db.clone());
            blocking(move || {
                let values = worker.multi_get(&name, &keys)?;
                multi_get_json(keys, values, worker.max_value_size())
            })
            .await
        }
        Err(e) => Err(e),
    };
    finish(&kv, Route::MultiGet, &db, started, result)
}

fn requested_keys(query: &str) -> Result<Vec<String>, KvError> {
    let mut seen = std::collections::HashSet::new();
    Ok(query::pairs(query)?
        .into_iter()
        .filter(|(name, _)| name == "keys" || name == "keys[]")
        .map(|(_, v)| v)
        .filter(|k| seen.insert(k.clone()))
        .collect())
}

fn multi_get_json(
    keys: Vec<String>,
    values: Vec<Option<StoredValue>>,
    max_total: usize,
) -> Result<Response, KvError> {
    let total: usize = values.iter().flatten().map(|v| v.body().len()).sum();
    if total > max_total {
        return Err(KvError::ResponseTooLarge {
            total,
            max: max_total,
        });
    }
    let mut out = Map::new();
    for (key, value) in keys.into_iter().zip(values) {
        out.insert(key, value.map(value_json).unwrap_or(Value::Null));
    }
    Ok(json(Value::Object(out)))
}

fn value_json(value: StoredValue) -> Value {
    let body = value.body();
    match std::str::from_utf8(&body) {
        Ok(text) => json!({"content_type": value.content_type(), "value": text}),
        Err(_) => json!({
            "content_type": value.content_type(),
            "value_base64": base64::engine::general_purpose::STANDARD.encode(&body),
        }),
    }
}

pub async fn count(
    State(kv): State<Arc<Kv>>,
    Segments(db): Segments<String>,
    request: Request,
) -> Response {
    let started = Instant::now();
    let result = authorize(&kv, request.headers(), Scope::KvRead)
        .and_then(|()| kv.count(&db))
        .map(|n| json(json!({"database": db, "count": n, "estimated": true})));
    finish(&kv, Route::Count, &db, started, result)
}
