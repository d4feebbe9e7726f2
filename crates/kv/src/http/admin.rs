//! Admin routes (scope `admin`). The slow ones run on the blocking pool.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Path, Request, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::json;

use super::reply::{authorize, blocking, finish, json};
use crate::auth::Scope;
use crate::error::KvError;
use crate::metrics::Route;
use crate::service::Kv;

pub async fn catch_up(
    State(kv): State<Arc<Kv>>,
    Path(db): Path<String>,
    request: Request,
) -> Response {
    let started = Instant::now();
    let result = admin(&kv, request.headers(), &db, |kv, db| {
        kv.catch_up(&db)?;
        Ok(json!({"database": db, "caught_up": true}))
    })
    .await;
    finish(&kv, Route::CatchUp, &db, started, result)
}

pub async fn property(
    State(kv): State<Arc<Kv>>,
    Path((db, name)): Path<(String, String)>,
    request: Request,
) -> Response {
    let started = Instant::now();
    let result = admin(&kv, request.headers(), &db, move |kv, db| {
        let value = kv.property(&db, &name)?;
        Ok(json!({"database": db, "property": name, "value": value}))
    })
    .await;
    finish(&kv, Route::Property, &db, started, result)
}

pub async fn checkpoint(
    State(kv): State<Arc<Kv>>,
    Path((db, dir)): Path<(String, String)>,
    request: Request,
) -> Response {
    let started = Instant::now();
    let result = admin(&kv, request.headers(), &db, move |kv, db| {
        let path = kv.checkpoint(&db, &dir)?;
        Ok(json!({"database": db, "checkpoint": dir, "path": path}))
    })
    .await;
    finish(&kv, Route::Checkpoint, &db, started, result)
}

pub async fn ingest(
    State(kv): State<Arc<Kv>>,
    Path((db, dir)): Path<(String, String)>,
    request: Request,
) -> Response {
    ingest_dir(kv, db, dir, request).await
}

/// `PUT …/ingest/last` is an ingest of a directory named `last` (the GET is the last record).
pub async fn ingest_dir_named_last(
    State(kv): State<Arc<Kv>>,
    Path(db): Path<String>,
    request: Request,
) -> Response {
    ingest_dir(kv, db, "last".into(), request).await
}

async fn ingest_dir(kv: Arc<Kv>, db: String, dir: String, request: Request) -> Response {
    let started = Instant::now();
    let result = admin(&kv, request.headers(), &db, move |kv, db| {
        let record = kv.ingest(&db, &dir)?;
        Ok(json!({"database": db, "ingested": record}))
    })
    .await;
    finish(&kv, Route::Ingest, &db, started, result)
}

pub async fn last_ingest(
    State(kv): State<Arc<Kv>>,
    Path(db): Path<String>,
    request: Request,
) -> Response {
    let started = Instant::now();
    let result = admin(&kv, request.headers(), &db, |kv, db| {
        let last = kv.last_ingest(&db)?;
        Ok(json!({"database": db, "last": last}))
    })
    .await;
    finish(&kv, Route::LastIngest, &db, started, result)
}

/// Runs the database's puller now; answers when the run is over.
pub async fn pull(State(kv): State<Arc<Kv>>, Path(db): Path<String>, request: Request) -> Response {
    let started = Instant::now();
    let headers = request.headers().clone();
    let result = async {
        authorize(&kv, &headers, Scope::Admin)?;
        let report = kv.puller(&db)?.run().await;
        Ok(json(json!({"database": db, "run": report})))
    }
    .await;
    finish(&kv, Route::Pull, &db, started, result)
}

/// Authorizes as admin, then runs `work` on the blocking pool.
async fn admin(
    kv: &Arc<Kv>,
    headers: &HeaderMap,
    db: &str,
    work: impl FnOnce(&Kv, String) -> Result<serde_json::Value, KvError> + Send + 'static,
) -> Result<Response, KvError> {
    authorize(kv, headers, Scope::Admin)?;
    let kv = kv.clone();
    let db = db.to_string();
    blocking(move || work(&kv, db)).await.map(json)
}
