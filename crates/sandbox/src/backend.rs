//! The seam between the executor and the ways of running an instance.

use std::time::Duration;

use async_trait::async_trait;
use comet_protocol::{FrameError, RespPayload};
use nova_api::{FunctionSpec, Runtime};
use serde_json::value::RawValue;
use thiserror::Error;

/// Why an instance could not be created or could not answer.
#[derive(Debug, Error)]
pub enum SandboxError {
    #[error("the {backend} backend cannot run {runtime} functions")]
    Unsupported {
        backend: &'static str,
        runtime: Runtime,
    },
    #[error("cannot prepare the instance: {0}")]
    Setup(#[from] std::io::Error),
    #[error("the function failed to start: {0}")]
    Init(String),
    #[error("the instance did not answer within {0:?} and was stopped")]
    Unresponsive(Duration),
    #[error("the instance exited unexpectedly")]
    Gone,
    #[error("protocol error talking to the instance: {0}")]
    Protocol(#[from] FrameError),
}

/// Why a backend refuses a function at register time: it can never start here.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ValidateError {
    /// No backend here runs the function's runtime.
    #[error("no backend here runs {0} functions")]
    Unsupported(Runtime),
    /// The function asks for more memory than the backend's runtime gives.
    #[error("memory_mb {requested} exceeds the {backend} runtime's maximum of {max} MB")]
    TooMuchMemory {
        backend: &'static str,
        requested: u32,
        max: u32,
    },
    /// The code is not a module the backend can load; the text is the loader's own.
    #[error("invalid WebAssembly module: {0}")]
    InvalidModule(String),
}

impl SandboxError {
    /// Whether the instance that raised this error must be thrown away.
    pub fn is_fatal(&self) -> bool {
        !matches!(self, SandboxError::Unsupported { .. })
    }
}

/// Creates instances of functions.
#[async_trait]
pub trait Backend: Send + Sync + 'static {
    /// A short name for logs and errors: `process`, `wasm`, `router`.
    fn name(&self) -> &'static str;

    /// Whether this backend can run functions of `runtime`.
    fn supports(&self, runtime: Runtime) -> bool;

    /// Checks a function before it is stored (compiling its code, where that applies), so one
    /// that can never start is refused at register time.
    fn validate(&self, _spec: &FunctionSpec) -> Result<(), ValidateError> {
        Ok(())
    }

    /// Starts an instance of `spec`, ready to serve its first invocation.
    async fn create(&self, spec: &FunctionSpec) -> Result<Box<dyn Instance>, SandboxError>;

    /// Releases what the backend holds besides instances (standby processes, host resources).
    /// Called once, after every instance has stopped.
    async fn shutdown(&self) {}
}

/// One running instance of one function version. Serves one invocation at a time.
#[async_trait]
pub trait Instance: Send + 'static {
    /// Unique among the instances of this process.
    fn id(&self) -> &str;

    /// Runs the handler once. `Ok` carries the agent's answer, which may itself report a handler
    /// failure; `Err` means the instance failed and must be discarded.
    async fn invoke(
        &mut self,
        request_id: &str,
        input: &RawValue,
        timeout: Duration,
    ) -> Result<RespPayload, SandboxError>;

    /// Whether the instance can still serve (cheap; no round trip).
    fn is_alive(&mut self) -> bool;

    /// Stops the instance and releases everything it holds.
    async fn stop(self: Box<Self>);
}
