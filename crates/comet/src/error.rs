//! Why an invocation did not produce a handler result.

use std::time::Duration;

use comet_sandbox::SandboxError;
use nova_api::Runtime;
use thiserror::Error;

/// A failure of the platform around a call. A handler that fails is not one of these: its error
/// travels in [`nova_api::InvokeResponse::error`].
#[derive(Debug, Error)]
pub enum InvokeError {
    #[error("the {backend} backend cannot run {runtime} functions")]
    Unsupported {
        backend: &'static str,
        runtime: Runtime,
    },
    #[error("could not start an instance of '{function}': {source}")]
    Start {
        function: String,
        #[source]
        source: SandboxError,
    },
    #[error("all {max} instances of '{function}' stayed busy for {waited:?}; try again later")]
    Busy {
        function: String,
        max: u32,
        waited: Duration,
    },
    #[error("the instance serving '{function}' failed: {source}")]
    Instance {
        function: String,
        #[source]
        source: SandboxError,
    },
    #[error("the data plane is shutting down")]
    ShuttingDown,
    /// No worker could take the call (remote data planes).
    #[error("the data plane is unavailable: {0}")]
    Unavailable(String),
    /// Every worker that could take the call is at capacity (remote data planes).
    #[error("the data plane is at capacity: {0}")]
    Overloaded(String),
    /// A worker refused the function or the call as invalid (remote data planes).
    #[error("the data plane refused the call: {0}")]
    Rejected(String),
    /// A worker failed the call after it may have reached the handler (remote data planes).
    #[error("the data plane failed the call: {0}")]
    Remote(String),
}
