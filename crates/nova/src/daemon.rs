//! Assembling the platform (store + backend + executor) and serving the HTTP API until shutdown.

use std::future::Future;
use std::path::Path;
use std::sync::Arc;

use comet::sandbox::{
    IsolationConfig, ProcessBackend, ProcessConfig, Router, find_agent, find_python,
};
use comet::{Executor, ExecutorConfig};
use comet_kv::Kv;
use comet_wasm::{WasmBackend, WasmConfig};
use thiserror::Error;
use tokio::net::TcpListener;

use crate::config::Settings;
use crate::service::Functions;
use crate::store::{SqliteStore, StoreError};

#[derive(Debug, Error)]
pub enum StartError {
    #[error("cannot create the data directory {path}: {source}")]
    DataDir {
        path: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("comet-agent not found: install it beside nova, put it on PATH, or set COMET_AGENT")]
    NoAgent,
    #[error("cannot prepare the process backend: {0}")]
    Backend(std::io::Error),
    #[error("cannot open the KV service: {0}")]
    Kv(#[from] comet_kv::OpenError),
}

/// Opens the store and starts an executor over the process backend.
///
/// `daemon` turns on what only a long-running process wants: keeping `min_replicas` warm and the
/// idle-TTL sweeper.
pub async fn assemble(settings: &Settings, daemon: bool) -> Result<Functions, StartError> {
    let data_dir = &settings.data_dir;
    std::fs::create_dir_all(data_dir).map_err(|source| StartError::DataDir {
        path: data_dir.display().to_string(),
        source,
    })?;
    let store = SqliteStore::open(&settings.database_path()).await?;
    let agent = settings
        .agent
        .clone()
        .or_else(find_agent)
        .ok_or(StartError::NoAgent)?;
    let python = settings.python.clone().or_else(find_python);
    if python.is_none() {
        tracing::warn!(
            "no Python interpreter found: python functions cannot run (set NOVA_PYTHON)"
        );
    }
    let instances = data_dir.join("instances");
    remove_dead_instance_dirs(&instances);
    remove_dead_instance_dirs(&data_dir.join("wasm-instances"));
    remove_dead_scratch_dirs();
    let backend = ProcessBackend::new(ProcessConfig {
        agent,
        python,
        code_dir: data_dir.join("code-cache"),
        instance_dir: instances.join(std::process::id().to_string()),
        isolation: IsolationConfig {
            // A one-off CLI run starts one instance: standby agents would be waste.
            standby: if daemon {
                settings.isolation.standby
            } else {
                0
            },
            ..settings.isolation.clone()
        },
    })
    .map_err(StartError::Backend)?;
    tracing::info!(isolation = backend.isolation(), "process backend ready");
    let pid = std::process::id();
    let wasm = WasmBackend::new(WasmConfig::new(
        data_dir.join("wasm-cache"),
        WasmConfig::scratch_dir(
            data_dir.join("wasm-instances").join(pid.to_string()),
            &format!("nova-wasm-{pid}"),
        ),
    ))
    .map_err(StartError::Backend)?;
    // One line per backend: each runtime goes to the first that supports it.
    let backends = Router::new(vec![Arc::new(backend), Arc::new(wasm)]);
    let executor = Executor::new(
        Arc::new(backends),
        ExecutorConfig {
            idle_ttl: settings.idle_ttl,
        },
    );
    if daemon {
        executor.start_maintenance();
    }
    let dataplane = Arc::new(comet::Embedded::new(executor, "embedded"));
    Ok(Functions::new(Arc::new(store), dataplane, daemon))
}

/// Opens the KV databases the daemon serves embedded (only the daemon: a database has one
/// writer process).
pub async fn open_kv(settings: &Settings) -> Result<Arc<Kv>, StartError> {
    let config = settings.kv.clone();
    let kv = tokio::task::spawn_blocking(move || Kv::open(config))
        .await
        .map_err(|e| StartError::Backend(std::io::Error::other(e)))??;
    Ok(Arc::new(kv))
}

/// Serves the API (and the KV routes, when given) on `listener` until `shutdown` resolves, then
/// stops every instance.
pub async fn serve(
    listener: TcpListener,
    functions: Functions,
    kv: Option<Arc<Kv>>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    if let Err(e) = functions.prewarm_all().await {
        tracing::warn!(error = %e, "could not pre-warm functions");
    }
    let _kv_background = kv.as_ref().map(comet_kv::spawn_background).map(AbortOnDrop);
    let app = crate::http::router(functions.clone(), kv);
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await;
    functions.dataplane().shutdown().await;
    served
}

struct AbortOnDrop(Vec<tokio::task::JoinHandle<()>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.iter().for_each(|task| task.abort());
    }
}

/// `/dev/shm/nova-wasm-<pid>` of daemons that are gone.
fn remove_dead_scratch_dirs() {
    let Ok(entries) = std::fs::read_dir("/dev/shm") else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let pid = name
            .to_str()
            .and_then(|n| n.strip_prefix("nova-wasm-")?.parse::<u32>().ok());
        if pid.is_some_and(|pid| !Path::new("/proc").join(pid.to_string()).exists()) {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// Instance directories are named by the owning process id; those of processes that are gone
/// are leftovers of a crash.
fn remove_dead_instance_dirs(instances: &Path) {
    let Ok(entries) = std::fs::read_dir(instances) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        if !Path::new("/proc").join(pid.to_string()).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}
