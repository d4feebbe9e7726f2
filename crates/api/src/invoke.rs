//! One invocation: what goes into the data plane and what comes back.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// A request to run a function once.
#[derive(Debug, Clone)]
pub struct InvokeRequest {
    /// Unique per invocation; chosen by the caller so logs on both planes agree.
    pub request_id: String,
    /// The JSON event, exactly as the caller sent it.
    pub payload: Box<RawValue>,
}

/// The outcome of one invocation, as `POST /functions/{name}/invoke` returns it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InvokeResponse {
    pub request_id: String,
    /// The handler's JSON result; absent when it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<Box<RawValue>>,
    /// Why the invocation failed; absent on success.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Whole milliseconds, for the original Nova's clients.
    pub duration_ms: u64,
    /// The same duration in microseconds: warm calls take less than a millisecond.
    #[serde(default)]
    pub duration_us: u64,
    /// True exactly when this call created the instance that served it.
    pub cold_start: bool,
    /// True when the handler ran past its timeout and was killed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub timed_out: bool,
    /// The function version that ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u64>,
    /// What the handler printed besides its result (bounded).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub stdout: String,
    /// What the handler wrote to stderr (bounded).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub stderr: String,
}

impl InvokeResponse {
    pub fn is_success(&self) -> bool {
        self.error.is_none()
    }
}
