//! Async invocations: [`Queue`] accepts them into the store's durable queue (a `QueueStore`) and
//! answers for them; [`dispatcher`] (the daemon's only) claims and runs them through the same
//! service path as a synchronous call.
//!
//! Dispatch is pushed: an enqueue on this daemon wakes its dispatcher at once through a
//! [`Notify`]; a slow timer covers what other daemons enqueued and the retries that come due.
//! Acceptances are group-committed ([`batch`]); each function's own settings and destinations
//! are in [`configs`].

pub mod batch;
pub mod configs;
pub mod dispatcher;

use std::collections::HashSet;
use std::sync::atomic::AtomicBool;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use nova_api::Qualifier;
use nova_store::{
    AsyncConfig, AsyncInvocation, AsyncQuery, AsyncStatus, NewAsyncInvocation, QueueStore, Retried,
};
use serde::Serialize;
use tokio::sync::Notify;

use crate::config::{AsyncSettings, FunctionAsync, MAX_DEDUPE_WINDOW};
use crate::service::{Functions, ServiceError};

/// Longest idempotency key, in bytes.
pub const MAX_IDEMPOTENCY_KEY: usize = 256;
/// Most invocations one list returns.
pub const MAX_LIST: u32 = 1000;

/// What one enqueue may set for itself, over the function's settings.
#[derive(Debug, Clone, Default)]
pub struct EnqueueOptions<'a> {
    /// Dedupes a repeated enqueue of the function with this key.
    pub idempotency_key: Option<&'a str>,
    /// Attempts for this call (1–100).
    pub max_attempts: Option<u32>,
    /// How long the key stands (at most 7 days).
    pub dedupe_window: Option<Duration>,
}

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
    /// Set with every wake but an enqueue's: the dispatcher must look at the store.
    must_claim: AtomicBool,
    /// The functions enqueued here since the dispatcher last looked.
    enqueued: std::sync::Mutex<HashSet<String>>,
    /// Stores acceptances, many to a transaction.
    batcher: batch::Batcher,
    /// Each function's own settings, as last read.
    own: RwLock<configs::Stored>,
}

/// A function's async settings as `GET /functions/{name}/async-config` shows them.
#[derive(Debug, Clone, Serialize)]
pub struct ConfigView {
    /// The function.
    pub function: String,
    /// What was set for it (each field left out comes from the daemon's `async:` section).
    pub own: AsyncConfig,
    /// What its invocations run by.
    pub effective: AsyncConfig,
}

impl Queue {
    /// The queue over `store`, running calls through `functions`, with `writers` transactions of
    /// acceptances at a time (one for SQLite). Needs a Tokio runtime.
    pub fn new(
        store: Arc<dyn QueueStore>,
        functions: Functions,
        settings: AsyncSettings,
        writers: usize,
    ) -> Queue {
        Queue {
            inner: Arc::new(Inner {
                batcher: batch::Batcher::start(store.clone(), writers),
                store,
                functions,
                settings,
                wake: Notify::new(),
                must_claim: AtomicBool::new(false),
                enqueued: std::sync::Mutex::new(HashSet::new()),
                own: RwLock::new(configs::Stored::default()),
            }),
        }
    }

    /// What `function`'s invocations run by: its own settings over the `async:` section.
    pub fn of(&self, function: &str) -> FunctionAsync {
        comet_util::read(&self.inner.own).of(&self.inner.settings, function)
    }

    /// The functions paused (own concurrency 0).
    fn paused(&self) -> Vec<String> {
        comet_util::read(&self.inner.own)
            .paused()
            .cloned()
            .collect()
    }

    /// The smallest per-function concurrency anywhere.
    fn min_concurrency(&self) -> usize {
        comet_util::read(&self.inner.own).min_concurrency(&self.inner.settings)
    }

    /// Reads every function's own settings again if the copy is older than
    /// [`configs::REFRESH`] (or `now`); on a failure it keeps the old copy.
    pub async fn refresh(&self, now: bool) {
        if !now && !comet_util::read(&self.inner.own).stale() {
            return;
        }
        match self.inner.store.async_configs().await {
            Ok(found) => comet_util::write(&self.inner.own).replace(found),
            Err(e) => tracing::warn!(error = %e, "cannot read the functions' async settings"),
        }
    }

    /// `name`'s async settings, its own and in effect.
    pub async fn config(&self, name: &str) -> Result<ConfigView, ServiceError> {
        self.inner.functions.get(name).await?;
        self.refresh(true).await;
        Ok(self.view(name))
    }

    fn view(&self, name: &str) -> ConfigView {
        let own = comet_util::read(&self.inner.own)
            .by_function(name)
            .cloned()
            .unwrap_or_default();
        ConfigView {
            function: name.to_string(),
            effective: configs::shown(&self.of(name)),
            own,
        }
    }

    /// Sets `name`'s own async settings (replacing what was set). Numbers out of range, a
    /// destination that is no function or the function itself are refused, nothing stored.
    pub async fn set_config(
        &self,
        name: &str,
        config: AsyncConfig,
    ) -> Result<ConfigView, ServiceError> {
        configs::check(name, &config)?;
        self.inner.functions.get(name).await?;
        for (field, target) in [
            ("on_success", &config.on_success),
            ("on_failure", &config.on_failure),
        ] {
            if let Some(target) = target {
                match self.inner.functions.get(target).await {
                    Ok(_) => {}
                    Err(ServiceError::NotFound(_)) => {
                        return Err(ServiceError::BadRequest(format!(
                            "{field}: there is no function '{target}'"
                        )));
                    }
                    Err(e) => return Err(e),
                }
            }
        }
        self.inner.store.put_async_config(name, &config).await?;
        comet_util::write(&self.inner.own).set(name, Some(config));
        Ok(self.view(name))
    }

    /// Forgets `name`'s own async settings; false when it had none.
    pub async fn delete_config(&self, name: &str) -> Result<bool, ServiceError> {
        let deleted = self.inner.store.delete_async_config(name).await?;
        comet_util::write(&self.inner.own).set(name, None);
        Ok(deleted)
    }

    /// Wakes this daemon's dispatcher to look at the store: something was queued without
    /// [`Queue::enqueue`] (a schedule's tick, a retry) or a call ended.
    pub fn wake(&self) {
        self.inner.must_claim.store(true, Relaxed);
        self.inner.wake.notify_one();
    }

    /// The functions enqueued here since the last call, forgotten.
    fn take_enqueued(&self) -> HashSet<String> {
        std::mem::take(&mut *comet_util::lock(&self.inner.enqueued))
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
        let options = EnqueueOptions {
            idempotency_key,
            ..EnqueueOptions::default()
        };
        self.enqueue_value(name, qualifier, payload, &options).await
    }

    /// [`Queue::enqueue`] of a parsed payload, with this call's own options.
    pub async fn enqueue_value(
        &self,
        name: &str,
        qualifier: &Qualifier,
        payload: serde_json::Value,
        options: &EnqueueOptions<'_>,
    ) -> Result<(AsyncInvocation, bool), ServiceError> {
        let idempotency_key = options.idempotency_key;
        if let Some(n) = options.max_attempts
            && !(1..=configs::MAX_ATTEMPTS).contains(&n)
        {
            return Err(ServiceError::BadRequest(format!(
                "max_attempts must be 1 to {}, not {n}",
                configs::MAX_ATTEMPTS
            )));
        }
        if let Some(window) = options.dedupe_window
            && (window.is_zero() || window > MAX_DEDUPE_WINDOW)
        {
            return Err(ServiceError::BadRequest(
                "idempotency_ttl_s must be 1 to 604800 (7 days)".into(),
            ));
        }
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
        self.refresh(false).await;
        let mut new = self.call(name, qualifier.to_string(), payload, idempotency_key);
        if let Some(n) = options.max_attempts {
            new.max_attempts = n;
        }
        if let Some(window) = options.dedupe_window {
            new.dedupe_window_ms = window.as_millis() as i64;
        }
        let stored = self.inner.batcher.enqueue(new).await?;
        if stored.1 {
            comet_util::lock(&self.inner.enqueued).insert(name.to_string());
            self.inner.wake.notify_one();
        }
        Ok(stored)
    }

    /// A new invocation of `name` by this queue's settings.
    fn call(
        &self,
        name: &str,
        qualifier: String,
        payload: serde_json::Value,
        idempotency_key: Option<&str>,
    ) -> NewAsyncInvocation {
        NewAsyncInvocation {
            // Time-ordered (UUIDv7): new rows go at the end of the primary key's index rather
            // than on a random page of it, and ids sort by acceptance.
            id: uuid::Uuid::now_v7().simple().to_string(),
            function: name.to_string(),
            qualifier,
            payload,
            max_attempts: self.of(name).max_attempts,
            idempotency_key: idempotency_key.map(str::to_string),
            dedupe_window_ms: self.inner.settings.dedupe_window.as_millis() as i64,
        }
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
                self.wake();
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
