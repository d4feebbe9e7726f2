//! `comet daemon`, `comet kv serve` and `comet context serve`: one HTTP server (HTTPS when
//! `context.tls` is set) carrying the chosen services, `/healthcheck` and `/metrics`, until
//! SIGTERM or Ctrl-C.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::serve::ListenerExt;
use comet::config::{Overrides, Settings};
use comet_kv::Kv;

/// Which data services a server carries.
#[derive(Debug, Clone, Copy)]
pub struct Services {
    pub kv: bool,
    pub context: bool,
}

pub async fn run(overrides: Overrides, services: Services) -> Result<ExitCode> {
    let settings = Settings::resolve(&overrides)?;
    std::fs::create_dir_all(&settings.data_dir).with_context(|| {
        format!(
            "cannot create the data directory {}",
            settings.data_dir.display()
        )
    })?;
    let mut app = Router::new();
    let mut background = Vec::new();
    let mut kv = None;
    if services.kv {
        let config = settings.kv.clone();
        let opened = tokio::task::spawn_blocking(move || Kv::open(config))
            .await
            .context("opening the KV databases")??;
        let opened = Arc::new(opened);
        background.extend(comet_kv::spawn_background(&opened));
        app = app.merge(comet_kv::http::routes(opened.clone()));
        kv = Some(opened);
    }
    if services.context {
        let exchange = comet_context::open(&settings.context, &settings.data_dir)
            .await
            .context("opening the context store")?;
        background.extend(exchange.spawn_sweeper());
        app = app.merge(comet_context::http::routes(
            exchange,
            settings.context.max_value_size,
        ));
    }
    let app = app
        .route(
            "/healthcheck",
            get(|| async { axum::Json(serde_json::json!({"status": "ok"})) }),
        )
        .route("/metrics", get(move || metrics(kv.clone())));
    let listener = tokio::net::TcpListener::bind(settings.http_addr)
        .await
        .with_context(|| format!("cannot listen on {}", settings.http_addr))?;
    tracing::info!(
        addr = %listener.local_addr()?,
        tls = settings.context.tls.is_some(),
        data_dir = %settings.data_dir.display(),
        ?services,
        "comet serving"
    );
    let shutdown = comet::lifecycle::shutdown_signal();
    let served = match &settings.context.tls {
        Some(tls) => {
            let config = comet_context::tls::server_config(tls)?;
            comet_context::tls::serve(listener, app, config, shutdown).await
        }
        None => {
            let listener = listener.tap_io(|tcp| {
                let _ = tcp.set_nodelay(true);
            });
            axum::serve(listener, app)
                .with_graceful_shutdown(shutdown)
                .await
        }
    };
    background.iter().for_each(|task| task.abort());
    served?;
    tracing::info!("comet stopped");
    Ok(ExitCode::SUCCESS)
}

async fn metrics(kv: Option<Arc<Kv>>) -> impl IntoResponse {
    let mut out = String::new();
    if let Some(kv) = kv {
        kv.render_metrics(&mut out);
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out)
}
