//! `comet daemon` and `comet kv serve`: open the KV databases and serve them until SIGTERM or
//! Ctrl-C.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use comet::config::{Overrides, Settings};
use comet_kv::Kv;

pub async fn run(overrides: Overrides) -> Result<ExitCode> {
    let settings = Settings::resolve(&overrides)?;
    std::fs::create_dir_all(&settings.data_dir).with_context(|| {
        format!(
            "cannot create the data directory {}",
            settings.data_dir.display()
        )
    })?;
    let kv_config = settings.kv.clone();
    let kv = tokio::task::spawn_blocking(move || Kv::open(kv_config))
        .await
        .context("opening the KV databases")??;
    let listener = tokio::net::TcpListener::bind(settings.http_addr)
        .await
        .with_context(|| format!("cannot listen on {}", settings.http_addr))?;
    tracing::info!(
        addr = %listener.local_addr()?,
        data_dir = %settings.data_dir.display(),
        databases = ?kv,
        "comet serving"
    );
    comet_kv::serve(Arc::new(kv), listener, comet::lifecycle::shutdown_signal()).await?;
    tracing::info!("comet stopped");
    Ok(ExitCode::SUCCESS)
}
