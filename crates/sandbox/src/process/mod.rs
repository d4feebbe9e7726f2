//! The process backend: each instance is `comet-agent` as a child process with a working
//! directory of its own, reached over one end of a Unix socket pair, and confined as
//! [`isolation`] decides: namespaces, a minimal read-only root, cgroups and seccomp as root;
//! rlimits and seccomp otherwise.

mod agent;
pub mod cgroup;
mod code;
mod instance;
pub mod isolation;
mod standby;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use nova_api::{FunctionSpec, Runtime};

use crate::backend::{Backend, Instance, SandboxError};
use agent::AgentProcess;
use code::CodeCache;
use instance::Launch;
pub use instance::ProcessInstance;
use isolation::Isolation;
pub use isolation::{IsolationConfig, IsolationMode};
use standby::StandbyPool;

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
    /// How instances are confined.
    pub isolation: IsolationConfig,
}

/// Runs instances as child processes of this one.
pub struct ProcessBackend {
    config: ProcessConfig,
    code: CodeCache,
    isolation: Arc<Isolation>,
    /// Present when instances get cgroups.
    standby: Option<Arc<StandbyPool>>,
    next_id: AtomicU64,
}

impl ProcessBackend {
    /// Probes what isolation the host allows, prepares the directories and removes what a
    /// previous run left behind (instance files, cgroups).
    pub fn new(config: ProcessConfig) -> std::io::Result<ProcessBackend> {
        let isolation = Isolation::probe(config.isolation.clone())
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::Unsupported, e))?;
        if config.instance_dir.exists() {
            std::fs::remove_dir_all(&config.instance_dir)?;
        }
        std::fs::create_dir_all(&config.instance_dir)?;
        let standby = isolation.cgroups().map(|c| {
            let target = config.isolation.standby;
            let pool = StandbyPool::new(c.clone(), &config.agent, &config.instance_dir, target);
            pool.refill();
            pool
        });
        Ok(ProcessBackend {
            code: CodeCache::new(
                config.code_dir.clone(),
                isolation.uses_namespaces().then_some(config.isolation.gid),
            )?,
            isolation: Arc::new(isolation),
            standby,
            config,
            next_id: AtomicU64::new(1),
        })
    }

    /// How instances are confined on this host, in a few words.
    pub fn isolation(&self) -> &'static str {
        self.isolation.describe()
    }

    fn command(
        &self,
        spec: &FunctionSpec,
        code: &std::path::Path,
    ) -> Result<Vec<String>, SandboxError> {
        // Inside namespaces the code is mounted at /code.
        let code = if self.isolation.uses_namespaces() {
            "/code/handler".to_string()
        } else {
            code.display().to_string()
        };
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
        if let Some(pool) = &self.standby {
            pool.drain();
        }
        // Every instance removes its own directory and cgroup when it stops; this removes the
        // parents.
        let _ = std::fs::remove_dir_all(&self.config.instance_dir);
        self.isolation.remove_own_cgroups();
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

    async fn shutdown(&self) {
        if let Some(pool) = self.standby.clone() {
            let _ = tokio::task::spawn_blocking(move || pool.drain()).await;
        }
    }

    async fn create(&self, spec: &FunctionSpec) -> Result<Box<dyn Instance>, SandboxError> {
        crate::require_runtime(self, spec.runtime)?;
        let code_path = self.code.materialize(spec).await?;
        let command = self.command(spec, &code_path)?;
        let n = self.next_id.fetch_add(1, Ordering::Relaxed);
        let id = format!("{}-{n}", spec.name);
        // With cgroups, a standby agent already sits in a fresh one; otherwise start one now.
        let (agent, cgroup) = match &self.standby {
            Some(pool) => {
                let mut standby = pool.take()?;
                let ready = self
                    .isolation
                    .apply_limits(&standby.cgroup, spec)
                    .and_then(|()| {
                        // From here on it is this instance: its directory says so.
                        let dir = self.config.instance_dir.join(&id);
                        std::fs::rename(&standby.agent.dir, &dir)?;
                        standby.agent.dir = dir;
                        Ok(())
                    });
                if let Err(e) = ready {
                    let dir = standby.agent.dir.clone();
                    drop(standby.agent);
                    let cgroup = standby.cgroup;
                    let _ = tokio::task::spawn_blocking(move || {
                        cgroup.destroy();
                        let _ = std::fs::remove_dir_all(dir);
                    })
                    .await;
                    return Err(e.into());
                }
                (standby.agent, Some(standby.cgroup))
            }
            None => (
                AgentProcess::spawn(&self.config.agent, self.config.instance_dir.join(&id), &[])?,
                None,
            ),
        };
        let code_dir = code_path.parent().unwrap_or(&code_path).to_path_buf();
        let sandbox = self.isolation.sandbox_spec(
            spec,
            &agent.dir.join("root"),
            &code_dir,
            self.config.python.as_deref(),
        );
        let launch = Launch {
            id,
            command,
            code_dir: if self.isolation.uses_namespaces() {
                PathBuf::from("/code")
            } else {
                code_dir
            },
            sandbox,
            cgroup,
        };
        let instance = ProcessInstance::start(agent, launch, spec).await?;
        Ok(Box::new(instance))
    }
}
