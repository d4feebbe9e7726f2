//! Comet KV: a key-value REST service on RocksDB, for data too big for Redis's RAM and too
//! simple for a database cluster. Values are opaque bytes served with the Content-Type they were
//! stored with; bulk loads are built offline as SST files ([`sst`]) and ingested by an admin
//! route or pulled from a directory or object store ([`puller`]).
//!
//! The pieces, outside in: [`http`] (axum routes) → [`service::Kv`] (databases, tokens, paths,
//! metrics) → [`database::Database`] (mode checks, ingest bookkeeping) → [`engine::Engine`] (the
//! storage seam; [`engine::rocks`] is RocksDB). [`serve`] runs it alone; Nova and the Comet daemon
//! mount [`http::routes`] in their own servers.

pub mod auth;
pub mod config;
pub mod database;
pub mod engine;
pub mod error;
pub mod http;
pub mod metrics;
pub mod paths;
pub mod puller;
pub mod service;
pub mod sst;
pub mod value;
mod writer;

use std::future::Future;

use axum::serve::ListenerExt;
use std::sync::Arc;

pub use config::{DbMode, KvConfig};
pub use error::KvError;
pub use service::{Kv, OpenError};

/// Starts what runs in the background: secondaries' catch-up intervals and pullers' schedules.
/// They run until aborted: abort the handles on shutdown.
pub fn spawn_background(kv: &Arc<Kv>) -> Vec<tokio::task::JoinHandle<()>> {
    let mut tasks: Vec<_> = kv
        .pullers()
        .filter_map(|p| p.clone().spawn_schedule())
        .collect();
    for db in &kv.config().databases {
        let Some(every) = db.catch_up_interval else {
            continue;
        };
        let kv = kv.clone();
        let name = db.name.clone();
        tasks.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let kv = kv.clone();
                let name = name.clone();
                let result = tokio::task::spawn_blocking(move || kv.catch_up(&name)).await;
                if let Ok(Err(e)) = result {
                    tracing::warn!(error = %e, "KV catch-up failed");
                }
            }
        }));
    }
    tasks
}

/// Serves [`http::router`] on `listener` until `shutdown` resolves, with the background tasks.
pub async fn serve(
    kv: Arc<Kv>,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // Background tasks end with the server, however it ends (even when its task is aborted).
    let _background = comet_util::AbortOnDrop(spawn_background(&kv));
    // Replies are one small write each: never hold them back for Nagle.
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, http::router(kv))
        .with_graceful_shutdown(shutdown)
        .await
}
