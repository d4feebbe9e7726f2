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
    /// No worker could be tried at all (remote data planes).
    #[error(
        "the data plane is unavailable: no comet worker is reachable; is `comet daemon` running?"
    )]
    NoWorker,
    /// The connection to `worker` broke after the call was sent, so the handler may have run and
    /// the call was not retried (remote data planes).
    #[error(
        "the data plane is unavailable: {worker} went away during the call; the handler may have \
         run, so the call was not retried"
    )]
    WentAway { worker: String },
    /// `worker` refused Nova's own credential: an operator's fix, not the caller's (remote data
    /// planes). `message` is the worker's.
    #[error(
        "the data plane is unavailable: {worker}: {message} (give Nova the worker's token or an API \
         key as comet.token)"
    )]
    Unauthorized { worker: String, message: String },
    /// `worker` gave no answer within the call's deadline (remote data planes).
    #[error("the data plane failed the call: {worker}: no answer within the call's deadline")]
    Deadline { worker: String },
    /// A worker answered with output that is not UTF-8 (remote data planes).
    #[error("the data plane failed the call: output is not UTF-8")]
    OutputNotUtf8,
    /// A worker answered with output that is not JSON; the text is the parser's (remote data
    /// planes).
    #[error("the data plane failed the call: output is not JSON: {0}")]
    OutputNotJson(String),
    /// No worker could take the call, for a reason a worker gave (remote data planes). The text
    /// is `<worker>: <its message>`; causes known here have variants of their own.
    #[error("the data plane is unavailable: {0}")]
    Unavailable(String),
    /// Every worker that could take the call is at capacity (remote data planes); the text is
    /// `<worker>: <its message>`.
    #[error("the data plane is at capacity: {0}")]
    Overloaded(String),
    /// A worker refused the function or the call as invalid (remote data planes); the text is
    /// `<worker>: <its message>`.
    #[error("the data plane refused the call: {0}")]
    Rejected(String),
    /// A worker failed the call after it may have reached the handler (remote data planes); the
    /// text is `<worker>: <its message>`.
    #[error("the data plane failed the call: {0}")]
    Remote(String),
}
