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
}
