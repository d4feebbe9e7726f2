//! Invocation records as the API shows them (`GET /functions/{name}/logs`, `GET /invocations`).

use serde::{Deserialize, Serialize};

/// One finished invocation, with the original Nova's field names so its clients read it as is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvocationEntry {
    /// The request id.
    pub id: String,
    /// The function's id; empty when the function has been deleted since.
    #[serde(default)]
    pub function_id: String,
    pub function_name: String,
    /// The function's runtime now; empty when it has been deleted since.
    #[serde(default)]
    pub runtime: String,
    /// The version that ran.
    pub version: u64,
    pub duration_ms: u64,
    /// The same duration in microseconds, for calls shorter than a millisecond.
    pub duration_us: u64,
    pub cold_start: bool,
    pub success: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
    /// Bytes of the event.
    pub input_size: u64,
    /// Bytes of the handler's JSON result.
    pub output_size: u64,
    /// The handler's output streams, cut to 4 KiB each.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub stdout: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub stderr: String,
    /// RFC 3339, UTC.
    pub created_at: String,
}
