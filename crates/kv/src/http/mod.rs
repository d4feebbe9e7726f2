//! The REST surface (axum). [`routes`] is the KV and admin API alone, for a server that embeds it
//! (Nova, the Comet daemon); [`router`] adds `/healthcheck` and `/metrics` for the standalone one.
//!
//! Key and value routes: `PUT|GET|DELETE /databases/{db}/keys/{key}` (a key may hold `/`),
//! `GET /databases/{db}/keys?keys=a&keys=b`, `GET /databases/{db}/count`.
//! Admin routes: `POST /admin/databases/{db}/catch-up-with-primary`,
//! `GET /admin/databases/{db}/properties/{name}`, `PUT /admin/databases/{db}/checkpoint/{dir}`,
//! `PUT /admin/databases/{db}/ingest/{dir}`, `GET /admin/databases/{db}/ingest/last` (both also
//! spelled `ingests`, as the original's puller did), `POST /admin/databases/{db}/pull`.
//!
//! Every error is `{"error": …}`: an unknown path under `/databases/{db}` or
//! `/admin/databases/{db}` is a 404, a method a route does not serve a 405 (with `Allow`), a
//! segment that is not UTF-8 or a bad query string a 400, even inside a server that embeds
//! [`routes`] without a fallback of its own.

mod admin;
mod extract;
mod keys;
mod query;
mod reply;

use std::sync::Arc;

use axum::Router;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, any, get, post, put};

use crate::service::Kv;

/// The KV and admin routes.
pub fn routes(kv: Arc<Kv>) -> Router {
    let last = || get(admin::last_ingest).put(admin::ingest_dir_named_last);
    Router::new()
        .route(
            "/databases/{db}/keys/{*key}",
            get(keys::get).put(keys::put).delete(keys::delete),
        )
        .route("/databases/{db}/keys/", any(keys::empty_key))
        .route("/databases/{db}/keys", get(keys::multi_get))
        .route("/databases/{db}/count", get(keys::count))
        .route(
            "/admin/databases/{db}/catch-up-with-primary",
            post(admin::catch_up),
        )
        .route(
            "/admin/databases/{db}/properties/{name}",
            get(admin::property),
        )
        .route(
            "/admin/databases/{db}/checkpoint/{dir}",
            put(admin::checkpoint),
        )
        .route("/admin/databases/{db}/ingest/{dir}", put(admin::ingest))
        .route("/admin/databases/{db}/ingests/{dir}", put(admin::ingest))
        .route("/admin/databases/{db}/ingest/last", last())
        .route("/admin/databases/{db}/ingests/last", last())
        .route("/admin/databases/{db}/pull", post(admin::pull))
        // The rest of the KV's paths: a JSON 404 whatever server mounts these routes.
        .route("/databases", unknown())
        .route("/databases/", unknown())
        .route("/databases/{db}", unknown())
        .route("/databases/{db}/", unknown())
        .route("/databases/{db}/{*rest}", unknown())
        .route("/admin/databases", unknown())
        .route("/admin/databases/", unknown())
        .route("/admin/databases/{db}", unknown())
        .route("/admin/databases/{db}/", unknown())
        .route("/admin/databases/{db}/{*rest}", unknown())
        .method_not_allowed_fallback(reply::method_not_allowed)
        .with_state(kv)
}

fn unknown() -> MethodRouter<Arc<Kv>> {
    any(reply::not_found)
}

/// A JSON 404 (`{"error": "no route for GET /x"}`), for a server's own fallback.
pub async fn not_found(request: axum::extract::Request) -> Response {
    reply::not_found(request).await
}

/// The standalone server: [`routes`] plus `/healthcheck`, `/metrics` and JSON 404s.
pub fn router(kv: Arc<Kv>) -> Router {
    let metrics_kv = kv.clone();
    routes(kv)
        .route(
            "/healthcheck",
            get(|| async { axum::Json(serde_json::json!({"status": "ok"})) }),
        )
        .route(
            "/metrics",
            get(move || {
                let kv = metrics_kv.clone();
                async move { metrics(&kv) }
            }),
        )
        .method_not_allowed_fallback(reply::method_not_allowed)
        .fallback(reply::not_found)
}

fn metrics(kv: &Kv) -> Response {
    let mut out = String::new();
    kv.render_metrics(&mut out);
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out).into_response()
}

impl Kv {
    /// This service's part of a Prometheus scrape.
    pub fn render_metrics(&self, out: &mut String) {
        let mut figures: Vec<(String, crate::engine::Figures)> = self
            .databases()
            .map(|db| (db.name.clone(), db.engine().figures()))
            .collect();
        figures.sort_by(|a, b| a.0.cmp(&b.0));
        self.metrics.render(&figures, out);
    }
}
