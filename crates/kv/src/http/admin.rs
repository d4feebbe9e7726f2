//! Admin routes (scope `admin`). Their work runs on the blocking pool: checkpoints, ingests and
//! catch-ups take from milliseconds to minutes.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Path, Request, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::{Value, json};

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
    admin(kv, Route::CatchUp, db, request.headers(), |kv, db| {
        kv.catch_up(&db)?;
        Ok(json!({"database": db, "caught_up": true}))
    })
    .await
}

pub async fn property(
    State(kv): State<Arc<Kv>>,
    Path((db, name)): Path<(String, String)>,
    request: Request,
) -> Response {
    admin(kv, Route::Property, db, request.headers(), move |kv, db| {
        let value = kv.property(&db, &name)?;
        Ok(json!({"database": db, "property": name, "value": value}))
    })
    .await
}

pub async fn checkpoint(
    State(kv): State<Arc<Kv>>,
    Path((db, dir)): Path<(String, String)>,
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
    admin(kv, Route::Ingest, db, request.headers(), move |kv, db| {
        let record = kv.ingest(&db, &dir)?;
        Ok(json!({"database": db, "ingested": record}))
    })
    .await
}

pub async fn last_ingest(
    State(kv): State<Arc<Kv>>,
    Path(db): Path<String>,
    request: Request,
) -> Response {
    admin(kv, Route::LastIngest, db, request.headers(), |kv, db| {
        let last = kv.last_ingest(&db)?;
        Ok(json!({"database": db, "last": last}))
    })
    .await
}

/// Runs the database's puller now; answers when the run is over.
pub async fn pull(State(kv): State<Arc<Kv>>, Path(db): Path<String>, request: Request) -> Response {
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
