//! Async invocations: the durable queue of calls accepted now and run later by whichever daemon
//! sharing the store claims them, with their attempts, errors and result.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::StoreError;

/// Where an async invocation stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AsyncStatus {
    /// Accepted, not run yet (or sent back by a manual retry).
    Queued,
    /// Claimed by a daemon, under a lease.
    Running,
    /// Ran; `result` holds the handler's answer.
    Succeeded,
    /// The last attempt failed; another one comes at `next_attempt_at`.
    Failed,
    /// Every attempt failed (or the event grew too old): nothing runs it again but a manual retry.
    DeadLettered,
}

impl AsyncStatus {
    /// The name stored and shown: `queued`, `running`, `succeeded`, `failed`, `dead_lettered`.
    pub fn as_str(self) -> &'static str {
        match self {
            AsyncStatus::Queued => "queued",
            AsyncStatus::Running => "running",
            AsyncStatus::Succeeded => "succeeded",
            AsyncStatus::Failed => "failed",
            AsyncStatus::DeadLettered => "dead_lettered",
        }
    }

    /// The status named `text` (as [`AsyncStatus::as_str`] writes it).
    pub fn parse(text: &str) -> Option<AsyncStatus> {
        [
            AsyncStatus::Queued,
            AsyncStatus::Running,
            AsyncStatus::Succeeded,
            AsyncStatus::Failed,
            AsyncStatus::DeadLettered,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }
}

/// One failed attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttemptError {
    /// Which attempt, from 1.
    pub attempt: u32,
    /// When it ended, Unix milliseconds.
    pub at_ms: i64,
    /// Why it failed.
    pub error: String,
}

/// An async invocation as stored. Times are Unix milliseconds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AsyncInvocation {
    /// Its id, also the request id of every attempt (so a handler can dedupe a repeated call).
    pub id: String,
    /// The function it calls.
    pub function: String,
    /// The qualifier as given (`$LATEST`, a version number, an alias), resolved at each attempt.
    pub qualifier: String,
    /// The version the last attempt ran, once one ran.
    pub version: Option<u64>,
    /// The payload (JSON).
    pub payload: serde_json::Value,
    /// Where it stands.
    pub status: AsyncStatus,
    /// Attempts started so far.
    pub attempts: u32,
    /// Attempts allowed before it is dead-lettered.
    pub max_attempts: u32,
    /// Every failed attempt, oldest first.
    pub errors: Vec<AttemptError>,
    /// The handler's answer, once it succeeded.
    pub result: Option<serde_json::Value>,
    /// The caller's idempotency key, if any.
    pub idempotency_key: Option<String>,
    /// When it may run next.
    pub next_attempt_at_ms: i64,
    /// Until when the daemon running it holds it; past that, another daemon may claim it.
    pub lease_until_ms: Option<i64>,
    /// When it was accepted.
    pub created_at_ms: i64,
    /// When it last changed.
    pub updated_at_ms: i64,
}

/// What [`QueueStore::enqueue`] writes.
#[derive(Debug, Clone)]
pub struct NewAsyncInvocation {
    /// Its id (the caller makes it, so that it can log it first).
    pub id: String,
    /// The function it calls.
    pub function: String,
    /// The qualifier as given.
    pub qualifier: String,
    /// The payload (valid JSON).
    pub payload: serde_json::Value,
    /// Attempts allowed.
    pub max_attempts: u32,
    /// The caller's idempotency key, if any.
    pub idempotency_key: Option<String>,
    /// How long an idempotency key stands for its first invocation, in milliseconds.
    pub dedupe_window_ms: i64,
}

/// One function's async settings as stored (`PUT /functions/{name}/async-config`): each field
/// left out falls back to the daemon's `async:` section.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AsyncConfig {
    /// Attempts before an invocation is dead-lettered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_attempts: Option<u32>,
    /// Dead-letter what has not succeeded this many seconds after it was accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_event_age_s: Option<u64>,
    /// Calls of the function running at once from the queue, per daemon; 0 pauses it (calls
    /// are accepted and wait until it is raised).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<u32>,
    /// A function called (async) with the request and the result when an invocation succeeds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_success: Option<String>,
    /// A function called (async) with the request and the errors when one is dead-lettered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_failure: Option<String>,
}

/// How an attempt ended, as [`QueueStore::finish`] records it.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// The handler answered.
    Succeeded {
        /// Its answer.
        result: serde_json::Value,
        /// The version that ran.
        version: u64,
    },
    /// It failed and runs again at `next_attempt_at_ms`.
    Retry {
        /// Why it failed.
        error: String,
        /// When to try again.
        next_attempt_at_ms: i64,
        /// The version that ran, if one was resolved.
        version: Option<u64>,
    },
    /// It failed for the last time.
    DeadLetter {
        /// Why it failed.
        error: String,
        /// The version that ran, if one was resolved.
        version: Option<u64>,
    },
}

/// Which invocations [`QueueStore::list_async`] returns, newest first.
#[derive(Debug, Clone, Default)]
pub struct AsyncQuery {
    /// Only this function's.
    pub function: Option<String>,
    /// Only those in this status.
    pub status: Option<AsyncStatus>,
    /// At most this many.
    pub limit: u32,
    /// Skipping this many.
    pub offset: u32,
}

/// What a manual retry did.
#[derive(Debug, Clone)]
pub enum Retried {
    /// It was dead-lettered and is queued again, its attempts back to zero (errors kept).
    Queued(Box<AsyncInvocation>),
    /// It is not dead-lettered, so it was left alone.
    NotDeadLettered(AsyncStatus),
}

/// The queue of async invocations.
///
/// An enqueue is durable when it returns. Claiming hands each due invocation to one claimer
/// (Postgres: `FOR UPDATE SKIP LOCKED`; SQLite: one writer) under a lease; an expired lease makes
/// it claimable again under the same id, its attempt counted.
#[async_trait]
pub trait QueueStore: Send + Sync + 'static {
    /// Stores a new invocation, queued and due now; or, when its idempotency key was used for
    /// the same function within the dedupe window, stores nothing and returns that first
    /// invocation. The flag says whether this call stored it.
    async fn enqueue(
        &self,
        new: &NewAsyncInvocation,
    ) -> Result<(AsyncInvocation, bool), StoreError> {
        let mut stored = self.enqueue_all(std::slice::from_ref(new)).await?;
        stored
            .pop()
            .ok_or_else(|| StoreError::Corrupt("an enqueue of one stored nothing".into()))
    }

    /// Enqueues each of `batch` as [`QueueStore::enqueue`] does, in one transaction (a group
    /// commit: every one is durable when this returns, or none is stored). The answers are in
    /// the batch's order.
    async fn enqueue_all(
        &self,
        batch: &[NewAsyncInvocation],
    ) -> Result<Vec<(AsyncInvocation, bool)>, StoreError>;

    /// Claims up to `limit` due invocations (oldest due first), none of the functions in
    /// `busy`: each becomes running, its attempts one more, leased until `now + lease_ms`.
    async fn claim(
        &self,
        limit: u32,
        busy: &[String],
        lease_ms: i64,
    ) -> Result<Vec<AsyncInvocation>, StoreError>;

    /// Extends the leases of the running invocations `ids` to `now + lease_ms`.
    async fn renew(&self, ids: &[String], lease_ms: i64) -> Result<(), StoreError>;

    /// Records how attempt `attempt` of `id` ended and, in the same transaction, enqueues `then`
    /// (a destination's call) if given; false (and nothing written) when that attempt no longer
    /// holds it (its lease expired and another daemon claimed it).
    async fn finish(
        &self,
        id: &str,
        attempt: u32,
        outcome: &Outcome,
        then: Option<&NewAsyncInvocation>,
    ) -> Result<bool, StoreError>;

    /// When the next queued or failed invocation is due, if any is waiting.
    async fn next_due(&self) -> Result<Option<i64>, StoreError>;

    /// The invocation `id`, if there is one.
    async fn get_async(&self, id: &str) -> Result<Option<AsyncInvocation>, StoreError>;

    /// Invocations, newest first.
    async fn list_async(&self, query: &AsyncQuery) -> Result<Vec<AsyncInvocation>, StoreError>;

    /// Every function's stored async settings.
    async fn async_configs(&self) -> Result<Vec<(String, AsyncConfig)>, StoreError>;

    /// Stores `function`'s async settings, replacing what was there. `NotFound`
    /// ([`crate::Kind::Function`]) when there is no such function; deleting the function deletes
    /// them.
    async fn put_async_config(
        &self,
        function: &str,
        config: &AsyncConfig,
    ) -> Result<(), StoreError>;

    /// Forgets `function`'s async settings; false when it had none.
    async fn delete_async_config(&self, function: &str) -> Result<bool, StoreError>;

    /// Queues a dead-lettered invocation again. `NotFound` ([`crate::Kind::AsyncInvocation`])
    /// when there is none.
    async fn retry_async(&self, id: &str) -> Result<Retried, StoreError>;
}
