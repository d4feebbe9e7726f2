//! Async invocations: [`Queue`] accepts them into the store's durable queue (a `QueueStore`) and
//! answers for them; [`dispatcher`] (the daemon's only) claims and runs them through the same
//! service path as a synchronous call.
//!
//! Dispatch is pushed: an enqueue on this daemon wakes its dispatcher at once through a
//! [`Notify`]; a slow timer covers what other daemons enqueued and the retries that come due.

pub mod dispatcher;

use std::sync::Arc;
use std::time::Duration;

use nova_api::Qualifier;
use nova_store::{
    AsyncInvocation, AsyncQuery, AsyncStatus, NewAsyncInvocation, QueueStore, Retried,
};
use tokio::sync::Notify;

use crate::config::AsyncSettings;
use crate::service::{Functions, ServiceError};

/// Longest idempotency key, in bytes.
pub const MAX_IDEMPOTENCY_KEY: usize = 256;
/// Most invocations one list returns.
pub const MAX_LIST: u32 = 1000;

/// The async invocations of one store. Cheap to clone.
#[derive(Clone)]
pub struct Queue {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn QueueStore>,
    functions: Functions,
    settings: AsyncSettings,
    /// Wakes this daemon's dispatcher (an enqueue, a retry, a call that finished).
    wake: Notify,
}

impl Queue {
    /// The queue over `store`, running calls through `functions`.
    pub fn new(store: Arc<dyn QueueStore>, functions: Functions, settings: AsyncSettings) -> Queue {
        Queue {
            inner: Arc::new(Inner {
                store,
                functions,
                settings,
                wake: Notify::new(),
            }),
        }
    }

    /// Wakes this daemon's dispatcher: something was queued without [`Queue::enqueue`] (a
    /// schedule's tick).
    pub fn wake(&self) {
        self.inner.wake.notify_one();
    }

    /// The settings it runs by.
    pub fn settings(&self) -> &AsyncSettings {
        &self.inner.settings
    }

    /// Accepts a call of `name` at `qualifier` with `payload` (raw JSON text; empty means `{}`):
    /// stored, and so durable, when this returns. A malformed payload, an unknown function or
    /// qualifier store nothing. With an idempotency key used for the function within the
    /// dedupe window, returns that first invocation instead (the flag is false).
    pub async fn enqueue(
        &self,
        name: &str,
        qualifier: &Qualifier,
        payload: &str,
        idempotency_key: Option<&str>,
    ) -> Result<(AsyncInvocation, bool), ServiceError> {
        let trimmed = payload.trim();
        let payload: serde_json::Value =
            serde_json::from_str(if trimmed.is_empty() { "{}" } else { trimmed })
                .map_err(|e| ServiceError::BadPayload(e.to_string()))?;
        if let Some(key) = idempotency_key
            && (key.is_empty() || key.len() > MAX_IDEMPOTENCY_KEY)
        {
            return Err(ServiceError::BadRequest(format!(
                "Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY} bytes"
            )));
        }
        // The function and the version or alias must exist now.
        if let Qualifier::Version(n) = qualifier {
            self.inner.functions.version(name, *n).await?;
        } else {
            self.inner.functions.version_of(name, qualifier).await?;
        }
        let settings = &self.inner.settings;
        let new = NewAsyncInvocation {
            id: uuid::Uuid::new_v4().simple().to_string(),
            function: name.to_string(),
            qualifier: qualifier.to_string(),
            payload,
            max_attempts: settings.of(name).max_attempts,
            idempotency_key: idempotency_key.map(str::to_string),
            dedupe_window_ms: settings.dedupe_window.as_millis() as i64,
        };
        let stored = self.inner.store.enqueue(&new).await?;
        if stored.1 {
            self.inner.wake.notify_one();
        }
        Ok(stored)
    }

    /// The invocation `id`.
    pub async fn get(&self, id: &str) -> Result<AsyncInvocation, ServiceError> {
        self.inner
            .store
            .get_async(id)
            .await?
            .ok_or_else(|| not_found(id))
    }

    /// Invocations, newest first (the limit capped at [`MAX_LIST`]).
    pub async fn list(&self, query: &AsyncQuery) -> Result<Vec<AsyncInvocation>, ServiceError> {
        let query = AsyncQuery {
            limit: query.limit.min(MAX_LIST),
            ..query.clone()
        };
        Ok(self.inner.store.list_async(&query).await?)
    }

    /// Queues a dead-lettered invocation again, its attempts back to zero; `Conflict` when it
    /// is not dead-lettered.
    pub async fn retry(&self, id: &str) -> Result<AsyncInvocation, ServiceError> {
        match self.inner.store.retry_async(id).await? {
            Retried::Queued(invocation) => {
                self.inner.wake.notify_one();
                Ok(*invocation)
            }
            Retried::NotDeadLettered(status) => Err(ServiceError::Conflict(format!(
                "async invocation '{id}' is {}: only a dead-lettered one can be retried",
                status.as_str()
            ))),
        }
    }
}

fn not_found(id: &str) -> ServiceError {
    ServiceError::Store(nova_store::StoreError::not_found(
        nova_store::Kind::AsyncInvocation,
        id,
    ))
}

/// A status filter as given (`queued`, `running`, `succeeded`, `failed`, `dead_lettered`;
/// `dlq` and `dead-lettered` too).
pub fn parse_status(text: &str) -> Result<AsyncStatus, ServiceError> {
    let text = match text {
        "dlq" | "dead-lettered" => "dead_lettered",
        t => t,
    };
    AsyncStatus::parse(text).ok_or_else(|| {
        ServiceError::BadRequest(format!(
            "unknown status '{text}': queued, running, succeeded, failed or dead_lettered"
        ))
    })
}

/// The back-off after failed attempt `attempt` (from 1): `base · 2^(attempt−1)`, capped, then
/// jittered down by up to half (`roll` in 0..1), so retries of a burst spread out but never come
/// sooner than half the back-off.
pub fn backoff(base: Duration, cap: Duration, attempt: u32, roll: f64) -> Duration {
    let exponent = attempt.saturating_sub(1).min(30);
    let full = base.saturating_mul(1 << exponent).min(cap);
    full.mul_f64(1.0 - roll.clamp(0.0, 1.0) / 2.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap_and_jitters_down_by_at_most_half() {
        let (base, cap) = (Duration::from_secs(1), Duration::from_secs(60));
        assert_eq!(backoff(base, cap, 1, 0.0), Duration::from_secs(1));
        assert_eq!(backoff(base, cap, 2, 0.0), Duration::from_secs(2));
        assert_eq!(backoff(base, cap, 4, 0.0), Duration::from_secs(8));
        assert_eq!(backoff(base, cap, 7, 0.0), Duration::from_secs(60));
        assert_eq!(backoff(base, cap, 99, 0.0), Duration::from_secs(60));
        assert_eq!(backoff(base, cap, 3, 1.0), Duration::from_secs(2));
        assert_eq!(backoff(base, cap, 1, 0.5), Duration::from_millis(750));
    }

    #[test]
    fn statuses_are_parsed_with_the_originals_names() {
        assert_eq!(parse_status("dlq").ok(), Some(AsyncStatus::DeadLettered));
        assert_eq!(parse_status("queued").ok(), Some(AsyncStatus::Queued));
        assert!(parse_status("done").is_err());
    }
}
