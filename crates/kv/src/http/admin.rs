//! Admin routes (scope `admin`). Their work runs on the blocking pool: checkpoints, ingests and
//! catch-ups take from milliseconds to minutes. A property is answered as text, as the original
//! did, unless the client asks for JSON.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::extract::Segments;
use super::reply::{authorize, blocking, finish, json};
use crate::auth::Scope;
use crate::error::KvError;
use crate::metrics::Route;
use crate::service::Kv;

pub async fn catch_up(
    State(kv): State<Arc<Kv>>,
    Segments(db): Segments<String>,
    request: Request,
) -> Response {
    admin(kv, Route::CatchUp, db, request.headers(), |kv, db| {
        kv.catch_up(&db)?;
        Ok(json!({"database": db, "caught_up": true}))
    })
    .await
}

pub async fn property(
    State(kv): State<Arc<Kv>>,
    Segments((db, name)): Segments<(String, String)>,
    request: Request,
) -> Response {
    let as_json = wants_json(request.headers());
    let started = Instant::now();
    let result = match authorize(&kv, request.headers(), Scope::Admin) {
        Ok(()) => {
            let (worker, name_of_db) = (kv.clone(), db.clone());
            blocking(move || {
                let value = worker.property(&name_of_db, &name)?;
                Ok(if as_json {
                    json(json!({"database": name_of_db, "property": name, "value": value}))
                } else {
                    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], value).into_response()
                })
            })
            .await
        }
        Err(e) => Err(e),
    };
    finish(&kv, Route::Property, &db, started, result)
}

/// True when `Accept` prefers `application/json` to `text/plain`: a higher q, or the same q and
/// named first (`application/json, text/plain, */*`, as axios sends). Only types named outright
/// count: `*/*` alone gets text.
fn wants_json(headers: &HeaderMap) -> bool {
    // (q, position) of each type's first mention.
    let (mut json, mut text) = (None, None);
    let ranges = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','));
    for (position, range) in ranges.enumerate() {
        let mut parts = range.split(';');
        let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let q = parts
            .filter_map(|p| p.trim().strip_prefix("q="))
            .find_map(|q| q.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        let slot = match media.as_str() {
            "application/json" => &mut json,
            "text/plain" => &mut text,
            _ => continue,
        };
        slot.get_or_insert((q, position));
    }
    match (json, text) {
        (Some((jq, _)), None) => jq > 0.0,
        (Some((jq, jp)), Some((tq, tp))) => jq > 0.0 && (jq > tq || (jq == tq && jp < tp)),
        (None, _) => false,
    }
}

pub async fn checkpoint(
    State(kv): State<Arc<Kv>>,
    Segments((db, dir)): Segments<(String, String)>,
    request: Request,
) -> Response {
    admin(
        kv,
        Route::Checkpoint,
        db,
        request.headers(),
        move |kv, db| {
            let path = kv.checkpoint(&db, &dir)?;
            Ok(json!({"database": db, "checkpoint": dir, "path": path}))
        },
    )
    .await
}

pub async fn ingest(
    State(kv): State<Arc<Kv>>,
    Segments((db, dir)): Segments<(String, String)>,
    request: Request,
) -> Response {
    ingest_dir(kv, db, dir, request).await
}

/// `PUT …/ingest/last` is an ingest of a directory named `last` (the GET is the last record).
pub async fn ingest_dir_named_last(
    State(kv): State<Arc<Kv>>,
    Segments(db): Segments<String>,
    request: Request,
) -> Response {
    ingest_dir(kv, db, "last".into(), request).await
}

async fn ingest_dir(kv: Arc<Kv>, db: String, dir: String, request: Request) -> Response {
    admin(kv, Route::Ingest, db, request.headers(), move |kv, db| {
        let record = kv.ingest(&db, &dir)?;
        Ok(json!({"database": db, "ingested": record}))
    })
    .await
}

pub async fn last_ingest(
    State(kv): State<Arc<Kv>>,
    Segments(db): Segments<String>,
    request: Request,
) -> Response {
    admin(kv, Route::LastIngest, db, request.headers(), |kv, db| {
        let last = kv.last_ingest(&db)?;
        Ok(json!({"database": db, "last": last}))
    })
    .await
}

/// Runs the database's puller now; answers when the run is over.
pub async fn pull(
    State(kv): State<Arc<Kv>>,
    Segments(db): Segments<String>,
    request: Request,
) -> Response {
    let started = Instant::now();
    let result = match authorize(&kv, request.headers(), Scope::Admin) {
        Ok(()) => match kv.puller(&db) {
            Ok(puller) => Ok(json(json!({"database": db, "run": puller.run().await}))),
            Err(e) => Err(e),
        },
        Err(e) => Err(e),
    };
    finish(&kv, Route::Pull, &db, started, result)
}

/// Authorizes as admin, runs `work` on the blocking pool, answers and records the request.
async fn admin(
    kv: Arc<Kv>,
    route: Route,
    db: String,
    headers: &HeaderMap,
    work: impl FnOnce(&Kv, String) -> Result<Value, KvError> + Send + 'static,
) -> Response {
    let started = Instant::now();
    let result = match authorize(&kv, headers, Scope::Admin) {
        Ok(()) => {
            let (worker, name) = (kv.clone(), db.clone());
            blocking(move || work(&worker, name)).await.map(json)
        }
        Err(e) => Err(e),
    };
    finish(&kv, route, &db, started, result)
}
