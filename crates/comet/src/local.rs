//! Building this machine's data plane: the process and WebAssembly backends behind a router, and
//! an executor over them, after clearing what a crashed predecessor left behind.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use comet_wasm::{WasmBackend, WasmConfig};
use thiserror::Error;

use crate::executor::{Executor, ExecutorConfig};
use crate::sandbox::{
    IsolationConfig, ProcessBackend, ProcessConfig, Router, find_agent, find_python,
};

#[derive(Debug, Clone)]
pub struct LocalConfig {
    /// Code cache, instance directories and compiled WebAssembly live here.
    pub data_dir: PathBuf,
    /// The comet-agent binary (default: beside this binary, else on PATH).
    pub agent: Option<PathBuf>,
    /// The Python interpreter (default: /usr/bin/python3, else python3 on PATH).
    pub python: Option<PathBuf>,
    pub isolation: IsolationConfig,
    pub idle_ttl: Duration,
    /// A long-running process: keep standby agents and run the idle sweeper.
    pub daemon: bool,
}

#[derive(Debug, Error)]
pub enum LocalError {
    #[error(
        "comet-agent not found: install it beside this binary, put it on PATH, or set COMET_AGENT"
    )]
    NoAgent,
    #[error("cannot prepare the process backend: {0}")]
    Backend(std::io::Error),
}

pub fn executor(config: &LocalConfig) -> Result<Executor, LocalError> {
    let data_dir = &config.data_dir;
    let agent = config
        .agent
        .clone()
        .or_else(find_agent)
        .ok_or(LocalError::NoAgent)?;
    let python = config.python.clone().or_else(find_python);
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
            // A one-off run starts one instance: standby agents would be waste.
            standby: if config.daemon {
                config.isolation.standby
            } else {
                0
            },
            ..config.isolation.clone()
        },
    })
    .map_err(LocalError::Backend)?;
    tracing::info!(isolation = backend.isolation(), "process backend ready");
    let pid = std::process::id();
    let wasm = WasmBackend::new(WasmConfig::new(
        data_dir.join("wasm-cache"),
        WasmConfig::scratch_dir(
            data_dir.join("wasm-instances").join(pid.to_string()),
            &format!("nova-wasm-{pid}"),
        ),
    ))
    .map_err(LocalError::Backend)?;
    // One line per backend: each runtime goes to the first that supports it.
    let backends = Router::new(vec![Arc::new(backend), Arc::new(wasm)]);
    let executor = Executor::new(
        Arc::new(backends),
        ExecutorConfig {
            idle_ttl: config.idle_ttl,
        },
    );
    if config.daemon {
        executor.start_maintenance();
    }
    Ok(executor)
}

/// `/dev/shm/nova-wasm-<pid>` of processes that are gone.
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
