//! Sandbox backends: where a function instance lives.
//!
//! An instance is the guest agent (`comet-agent`) plus the function's code, reached over the
//! agent protocol. A [`Backend`] creates instances; an [`Instance`] runs invocations one at a time.
//! The process backend ([`process`]) runs the agent as a child process; the WebAssembly backend
//! (crate `comet-wasm`) implements the same two traits, and a [`Router`] sends each runtime to the
//! first backend that supports it, so the executor never knows which one it drives.

mod backend;
mod discover;
pub mod process;
mod router;

pub use backend::{Backend, Instance, SandboxError, ValidateError};
pub use discover::{find_agent, find_python};
pub use process::{IsolationConfig, IsolationMode, ProcessBackend, ProcessConfig};
pub use router::{Router, require_runtime};
