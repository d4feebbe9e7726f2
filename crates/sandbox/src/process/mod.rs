//! The process backend: each instance is `comet-agent` as a child process with a working
//! directory of its own, reached over one end of a Unix socket pair.
//!
//! Isolation (namespaces, cgroups, seccomp) is layered on in a later step; this module owns
//! starting, talking to and cleaning up the agent.

mod code;
mod instance;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use nova_api::{FunctionSpec, Runtime};

use crate::backend::{Backend, Instance, SandboxError};
use code::CodeCache;
pub use instance::ProcessInstance;

/// What the process backend needs from the host.
#[derive(Debug, Clone)]
pub struct ProcessConfig {
    /// The `comet-agent` executable.
    pub agent: PathBuf,
    /// The Python interpreter for `python` functions.
    pub python: Option<PathBuf>,
    /// Where code is unpacked, one `<hash>/handler` per version; shared between processes.
    pub code_dir: PathBuf,
    /// Where this process's instances keep their files (`<id>/`). Must belong to this process
    /// alone: it is emptied at start.
    pub instance_dir: PathBuf,
}

/// Runs instances as child processes of this one.
pub struct ProcessBackend {
    config: ProcessConfig,
    code: CodeCache,
    next_id: AtomicU64,
}

impl ProcessBackend {
    /// Prepares the directories, removing instance files a previous run left behind.
    pub fn new(config: ProcessConfig) -> std::io::Result<ProcessBackend> {
        if config.instance_dir.exists() {
            std::fs::remove_dir_all(&config.instance_dir)?;
        }
        std::fs::create_dir_all(&config.instance_dir)?;
        Ok(ProcessBackend {
            code: CodeCache::new(config.code_dir.clone())?,
            config,
            next_id: AtomicU64::new(1),
        })
    }

    fn command(
        &self,
        spec: &FunctionSpec,
        code: &std::path::Path,
    ) -> Result<Vec<String>, SandboxError> {
        let code = code.display().to_string();
        match spec.runtime {
            Runtime::Python => match &self.config.python {
                Some(python) => Ok(vec![python.display().to_string(), code]),
                None => Err(SandboxError::Init(
                    "no Python interpreter found (set NOVA_PYTHON or install python3)".into(),
                )),
            },
            Runtime::Go | Runtime::Rust => Ok(vec![code]),
            Runtime::Wasm => Err(SandboxError::Unsupported {
                backend: self.name(),
                runtime: spec.runtime,
            }),
        }
    }
}

impl Drop for ProcessBackend {
    fn drop(&mut self) {
        // Every instance removes its own directory when it stops; this removes the parent.
        let _ = std::fs::remove_dir_all(&self.config.instance_dir);
    }
}

#[async_trait]
impl Backend for ProcessBackend {
    fn name(&self) -> &'static str {
        "process"
    }

    fn supports(&self, runtime: Runtime) -> bool {
        match runtime {
            Runtime::Python => self.config.python.is_some(),
            Runtime::Go | Runtime::Rust => true,
            Runtime::Wasm => false,
        }
    }

    async fn create(&self, spec: &FunctionSpec) -> Result<Box<dyn Instance>, SandboxError> {
        if !self.supports(spec.runtime) {
            return Err(SandboxError::Unsupported {
                backend: self.name(),
                runtime: spec.runtime,
            });
        }
        let code_path = self.code.materialize(spec).await?;
        let command = self.command(spec, &code_path)?;
        let id = format!(
            "{}-{}",
            spec.name,
            self.next_id.fetch_add(1, Ordering::Relaxed)
        );
        let dir = self.config.instance_dir.join(&id);
        let instance =
            ProcessInstance::start(id, dir, &self.config.agent, spec, command, &code_path).await?;
        Ok(Box::new(instance))
    }
}
