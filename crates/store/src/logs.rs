//! Invocation logs: one record per finished invocation, written in batches, swept by age.

use async_trait::async_trait;

use crate::StoreError;

/// Invocation records. Append-only: records are added in batches and removed only by age.
#[async_trait]
pub trait LogStore: Send + Sync + 'static {
    /// Appends invocation records, all in one transaction; a record whose id is stored already
    /// is kept once.
    async fn insert_invocations(&self, logs: &[InvocationLog]) -> Result<(), StoreError>;

    /// Records matching `query`, newest first.
    async fn list_invocations(&self, query: &LogQuery) -> Result<Vec<InvocationLog>, StoreError>;

    /// Deletes records created before `before_ms`; returns how many.
    async fn delete_invocations_before(&self, before_ms: i64) -> Result<u64, StoreError>;
}

/// One finished invocation, as the logs keep it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct InvocationLog {
    /// The request id.
    pub id: String,
    /// The function's name.
    pub function: String,
    /// The function's version that ran.
    pub version: u64,
    /// How long the invocation took, in microseconds.
    pub duration_us: u64,
    /// Whether it started its instance.
    pub cold_start: bool,
    /// Whether the handler answered without an error.
    pub success: bool,
    /// The error, when there was one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Size of the payload.
    pub input_bytes: u64,
    /// Size of the answer.
    pub output_bytes: u64,
    /// The handler's output streams, cut to `LOG_STREAM_LIMIT` bytes each.
    pub stdout: String,
    /// The handler's standard error, cut likewise.
    pub stderr: String,
    /// Unix milliseconds.
    pub created_at: i64,
}

/// Most bytes of stdout and of stderr a log keeps.
pub const LOG_STREAM_LIMIT: usize = 4096;

/// Which invocation records to return.
#[derive(Debug, Clone, Default)]
pub struct LogQuery {
    /// Only this function's records.
    pub function: Option<String>,
    /// Only the record of this request.
    pub request_id: Option<String>,
    /// Records at most (at least one is returned when there are any).
    pub limit: u32,
    /// Records to skip, newest first.
    pub offset: u32,
}
