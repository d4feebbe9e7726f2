//! Comet's WebAssembly backend: functions as WASI preview 1 command modules, run in-process on
//! wasmtime.
//!
//! A module is compiled once per code hash and engine ([`artifact`]), instantiated through an
//! `InstancePre` (imports resolved once), and every invocation gets a fresh store and instance
//! from the pooling allocator, so nothing leaks between calls. The function contract is the same
//! as for processes: argv `[handler, input.json]` with the file in a preopened directory, JSON
//! on stdout, exit code 0 for success. Time is bounded by epoch interruption, memory by a store
//! limiter, output by a capped pipe.

mod artifact;
mod engine;
mod instance;
mod run;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use comet_sandbox::{Backend, Instance, SandboxError, ValidateError, require_runtime};
use nova_api::{FunctionSpec, Runtime};

use engine::WasmEngine;
use instance::WasmInstance;

/// Where the backend keeps files.
#[derive(Debug, Clone)]
pub struct WasmConfig {
    /// Compiled artifacts, `<code hash>-<engine hash>.cwasm`; shared between processes.
    pub cache_dir: PathBuf,
    /// Per-instance directories holding the input file; emptied at start. Put it on a tmpfs
    /// ([`WasmConfig::scratch_dir`]): every invocation rewrites a file there.
    pub instance_dir: PathBuf,
    /// Largest linear memory a function may ask for, in MiB (sizes the pooling allocator).
    pub max_memory_mb: u32,
    /// Instances that can exist at once.
    pub max_instances: u32,
}

impl WasmConfig {
    /// Where per-invocation input files should live: `/dev/shm` (memory) when the host has it,
    /// else `fallback`. On a disk filesystem each rewrite costs block allocation and journaling.
    pub fn scratch_dir(fallback: PathBuf, name: &str) -> PathBuf {
        let shm = std::path::Path::new("/dev/shm");
        if shm.is_dir() {
            shm.join(name)
        } else {
            fallback
        }
    }

    pub fn new(cache_dir: PathBuf, instance_dir: PathBuf) -> WasmConfig {
        WasmConfig {
            cache_dir,
            instance_dir,
            max_memory_mb: 1024,
            max_instances: 256,
        }
    }
}

/// Runs `wasm` functions in this process.
pub struct WasmBackend {
    engine: Arc<WasmEngine>,
    config: WasmConfig,
    next_id: AtomicU64,
}

impl WasmBackend {
    pub fn new(config: WasmConfig) -> std::io::Result<WasmBackend> {
        if config.instance_dir.exists() {
            std::fs::remove_dir_all(&config.instance_dir)?;
        }
        std::fs::create_dir_all(&config.instance_dir)?;
        std::fs::create_dir_all(&config.cache_dir)?;
        let engine = WasmEngine::new(&config).map_err(std::io::Error::other)?;
        Ok(WasmBackend {
            engine: Arc::new(engine),
            config,
            next_id: AtomicU64::new(1),
        })
    }

    /// The pooling allocator sizes every memory slot for the configured maximum.
    fn check_memory(&self, spec: &FunctionSpec) -> Result<(), ValidateError> {
        if spec.memory_mb > self.config.max_memory_mb {
            return Err(ValidateError::TooMuchMemory {
                backend: "wasm",
                requested: spec.memory_mb,
                max: self.config.max_memory_mb,
            });
        }
        Ok(())
    }
}

impl Drop for WasmBackend {
    fn drop(&mut self) {
        // Instances remove their own directories; this removes the parent.
        let _ = std::fs::remove_dir_all(&self.config.instance_dir);
    }
}

#[async_trait]
impl Backend for WasmBackend {
    fn name(&self) -> &'static str {
        "wasm"
    }

    fn supports(&self, runtime: Runtime) -> bool {
        runtime == Runtime::Wasm
    }

    fn validate(&self, spec: &FunctionSpec) -> Result<(), ValidateError> {
        if !self.supports(spec.runtime) {
            return Ok(());
        }
        self.check_memory(spec)?;
        artifact::load(
            &self.engine,
            &self.config.cache_dir,
            &spec.code_hash,
            &spec.code,
        )
        .map(|_| ())
        .map_err(|e| ValidateError::InvalidModule(format!("{e:#}")))
    }

    async fn create(&self, spec: &FunctionSpec) -> Result<Box<dyn Instance>, SandboxError> {
        require_runtime(self, spec.runtime)?;
        self.check_memory(spec)
            .map_err(|e| SandboxError::Init(e.to_string()))?;
        let id = format!(
            "{}-{}",
            spec.name,
            self.next_id.fetch_add(1, Ordering::Relaxed)
        );
        let dir = self.config.instance_dir.join(&id);
        let engine = self.engine.clone();
        let cache = self.config.cache_dir.clone();
        let spec = spec.clone();
        let instance =
            tokio::task::spawn_blocking(move || WasmInstance::new(id, dir, engine, &cache, &spec))
                .await
                .map_err(|e| SandboxError::Init(e.to_string()))??;
        Ok(Box::new(instance))
    }
}
