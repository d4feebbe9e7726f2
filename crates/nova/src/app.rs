//! What the HTTP API (and the CLI's local target) works with: the function service, the API
//! keys, the secrets, the invocation logger and the rate limits, each built once by
//! [`crate::daemon::assemble`] and put together here. Handlers take the part they need
//! (`State<Functions>`, `State<Arc<ApiKeys>>`, …) or the whole [`AppState`].

use std::sync::Arc;

use axum::extract::FromRef;

use crate::apikeys::ApiKeys;
use crate::logs::Logger;
use crate::ratelimit::RateLimits;
use crate::secrets::{SecretError, Secrets};
use crate::service::{Functions, ServiceError};

/// The application's parts. Cheap to clone. Built with a struct literal, so the compiler checks
/// that every part is there, and each part is finished before it goes in.
#[derive(Clone)]
pub struct AppState {
    pub functions: Functions,
    pub keys: Arc<ApiKeys>,
    /// None when the master key could not be read: secrets then cannot be used.
    pub secrets: Option<Arc<Secrets>>,
    /// Where invocation records go; none in a one-off CLI run or with `logs.enabled: false`.
    pub logger: Option<Arc<Logger>>,
    /// Async invocations (the dispatcher runs them in the daemon only).
    pub queue: crate::queue::Queue,
    /// Schedules of functions (the scheduler fires them in the daemon only).
    pub schedules: crate::schedule::Schedules,
    /// Both invocation limits, per API key and per function, taken in one place
    /// ([`RateLimits::admit`]).
    pub limits: RateLimits,
}

impl AppState {
    /// The secrets, or why they cannot be used.
    pub fn secrets(&self) -> Result<&Secrets, ServiceError> {
        self.secrets.as_deref().ok_or_else(secrets_unavailable)
    }
}

/// Why secrets cannot be used: the master key could not be read at start-up.
pub fn secrets_unavailable() -> ServiceError {
    ServiceError::Secret(SecretError::MasterKey(
        "not available: set NOVA_MASTER_KEY or fix secrets.master_key_file".into(),
    ))
}

impl FromRef<AppState> for Functions {
    fn from_ref(state: &AppState) -> Functions {
        state.functions.clone()
    }
}

impl FromRef<AppState> for Arc<ApiKeys> {
    fn from_ref(state: &AppState) -> Arc<ApiKeys> {
        state.keys.clone()
    }
}

impl FromRef<AppState> for crate::queue::Queue {
    fn from_ref(state: &AppState) -> crate::queue::Queue {
        state.queue.clone()
    }
}

impl FromRef<AppState> for crate::schedule::Schedules {
    fn from_ref(state: &AppState) -> crate::schedule::Schedules {
        state.schedules.clone()
    }
}

impl FromRef<AppState> for RateLimits {
    fn from_ref(state: &AppState) -> RateLimits {
        state.limits.clone()
    }
}
