//! Comet, the data plane: it runs functions.
//!
//! The [`Executor`] takes a resolved [`nova_api::FunctionSpec`] and an invocation, finds or creates
//! a warm instance in that function's [`pool`], runs the call and returns the instance to the
//! pool. Instances come from a [`comet_sandbox::Backend`]; the executor never knows which one.
//!
//! Where an invocation goes: `Executor::invoke` → `Pool::acquire` (warm instance, or a cold start
//! shared by concurrent callers) → `Instance::invoke` (agent protocol) → `Lease::release`.

pub mod dataplane;
mod error;
mod executor;
pub mod journal;
pub mod local;
mod pool;

pub use comet_sandbox as sandbox;
pub use dataplane::{DataPlane, Embedded, Health};
pub use error::InvokeError;
pub use executor::{Executor, ExecutorConfig, PoolStats};
