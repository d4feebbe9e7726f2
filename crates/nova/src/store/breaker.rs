//! A circuit breaker around a [`Store`]. When the database cannot be reached, the pool would
//! retry connecting for its whole acquire timeout on every call, so each request during an
//! outage would hang for seconds before failing. Instead, the first such failure opens the
//! breaker: calls then fail at once with [`StoreError::Unavailable`] (saying for how long), a
//! single task pings the database until it answers, and the breaker closes again.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use nova_api::Function;

use super::{ApiKeyRecord, InvocationLog, ListQuery, LogQuery, SecretRecord, Store, StoreError};

/// How often the probe tries the database while the breaker is open.
const PROBE_EVERY: Duration = Duration::from_millis(250);

pub struct Breaker<S> {
    inner: Arc<S>,
    open: Arc<AtomicBool>,
    /// Since when, and why, the breaker is open.
    outage: Arc<Mutex<Option<(Instant, String)>>>,
}

impl<S: Store> Breaker<S> {
    pub fn new(inner: S) -> Breaker<S> {
        Breaker {
            inner: Arc::new(inner),
            open: Arc::new(AtomicBool::new(false)),
            outage: Arc::new(Mutex::new(None)),
        }
    }

    async fn guard<T>(
        &self,
        call: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        if self.open.load(Ordering::Acquire) {
            return Err(self.refusal());
        }
        let result = call.await;
        if let Err(StoreError::Unavailable(why)) = &result {
            self.trip(why.clone());
        }
        result
    }

    fn refusal(&self) -> StoreError {
        let outage = comet_util::lock(&self.outage);
        match outage.as_ref() {
            Some((since, why)) => {
                StoreError::Unavailable(format!("down for {}s: {why}", since.elapsed().as_secs()))
            }
            None => StoreError::Unavailable("reconnecting".into()),
        }
    }

    /// Opens the breaker and starts the probe, once per outage.
    fn trip(&self, why: String) {
        if self.open.swap(true, Ordering::AcqRel) {
            return;
        }
        tracing::error!(error = %why, "the metadata store is unreachable; failing fast until it answers");
        *comet_util::lock(&self.outage) = Some((Instant::now(), why));
        let (inner, open, outage) = (self.inner.clone(), self.open.clone(), self.outage.clone());
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(PROBE_EVERY).await;
                let answered = tokio::time::timeout(PROBE_EVERY * 4, inner.ping()).await;
                if answered.is_ok_and(|r| r.is_ok()) {
                    let since = comet_util::lock(&outage).take();
                    open.store(false, Ordering::Release);
                    let down = since.map(|(s, _)| s.elapsed()).unwrap_or_default();
                    tracing::info!(?down, "the metadata store answers again");
                    return;
                }
            }
        });
    }
}

#[async_trait]
impl<S: Store> Store for Breaker<S> {
    async fn ping(&self) -> Result<(), StoreError> {
        self.inner.ping().await
    }

    async fn identity(&self) -> Result<String, StoreError> {
        self.inner.identity().await
    }

    async fn insert_function(&self, function: &Function, code: &[u8]) -> Result<(), StoreError> {
        self.guard(self.inner.insert_function(function, code)).await
    }

    async fn replace_function(
        &self,
        function: &Function,
        code: Option<&[u8]>,
        expected_version: u64,
    ) -> Result<(), StoreError> {
        self.guard(
            self.inner
                .replace_function(function, code, expected_version),
        )
        .await
    }

    async fn get_function(&self, name: &str) -> Result<Option<Function>, StoreError> {
        self.guard(self.inner.get_function(name)).await
    }

    async fn list_functions(&self, query: &ListQuery) -> Result<Vec<Function>, StoreError> {
        self.guard(self.inner.list_functions(query)).await
    }

    async fn delete_function(&self, name: &str) -> Result<bool, StoreError> {
        self.guard(self.inner.delete_function(name)).await
    }

    async fn get_code(&self, hash: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.guard(self.inner.get_code(hash)).await
    }

    async fn insert_invocations(&self, logs: &[InvocationLog]) -> Result<(), StoreError> {
        self.guard(self.inner.insert_invocations(logs)).await
    }

    async fn list_invocations(&self, query: &LogQuery) -> Result<Vec<InvocationLog>, StoreError> {
        self.guard(self.inner.list_invocations(query)).await
    }

    async fn delete_invocations_before(&self, before_ms: i64) -> Result<u64, StoreError> {
        self.guard(self.inner.delete_invocations_before(before_ms))
            .await
    }

    async fn insert_api_key(&self, key: &ApiKeyRecord) -> Result<(), StoreError> {
        self.guard(self.inner.insert_api_key(key)).await
    }

    async fn list_api_keys(&self) -> Result<Vec<ApiKeyRecord>, StoreError> {
        self.guard(self.inner.list_api_keys()).await
    }

    async fn revoke_api_key(&self, name: &str, at_ms: i64) -> Result<bool, StoreError> {
        self.guard(self.inner.revoke_api_key(name, at_ms)).await
    }

    async fn delete_api_key(&self, name: &str) -> Result<bool, StoreError> {
        self.guard(self.inner.delete_api_key(name)).await
    }

    async fn update_api_key(&self, key: &ApiKeyRecord) -> Result<bool, StoreError> {
        self.guard(self.inner.update_api_key(key)).await
    }

    async fn keys_required(&self) -> Result<bool, StoreError> {
        self.guard(self.inner.keys_required()).await
    }

    async fn setting(&self, name: &str) -> Result<Option<String>, StoreError> {
        self.guard(self.inner.setting(name)).await
    }

    async fn init_setting(&self, name: &str, value: &str) -> Result<String, StoreError> {
        self.guard(self.inner.init_setting(name, value)).await
    }

    async fn put_setting(&self, name: &str, value: &str) -> Result<(), StoreError> {
        self.guard(self.inner.put_setting(name, value)).await
    }

    async fn put_secret(&self, secret: &SecretRecord) -> Result<(), StoreError> {
        self.guard(self.inner.put_secret(secret)).await
    }

    async fn get_secret(&self, name: &str) -> Result<Option<SecretRecord>, StoreError> {
        self.guard(self.inner.get_secret(name)).await
    }

    async fn list_secrets(&self) -> Result<Vec<SecretRecord>, StoreError> {
        self.guard(self.inner.list_secrets()).await
    }

    async fn delete_secret(&self, name: &str) -> Result<bool, StoreError> {
        self.guard(self.inner.delete_secret(name)).await
    }
}
