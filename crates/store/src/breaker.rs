//! A circuit breaker in front of a store. When the database cannot be reached, the pool would
//! retry connecting for its whole acquire timeout on every call, so each request during an
//! outage would hang for seconds before failing. Instead, the first such failure opens the
//! breaker: calls then fail at once with [`StoreError::Unavailable`] (saying for how long), a
//! single task pings the database until it answers, and the breaker closes again.
//!
//! One database is one circuit: a [`Breaker`] and all its clones share it, whichever aggregate's
//! trait a call goes through, so an outage seen by the log writer also stops function reads from
//! waiting on the pool.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use nova_api::{Function, FunctionAlias, FunctionVersion};

use crate::{
    AliasStore, ApiKeyRecord, Database, FunctionStore, InvocationLog, KeyStore, ListQuery,
    LogQuery, LogStore, SecretRecord, SecretStore, SettingStore, StoreError, VersionQuery,
    VersionStore,
};
use crate::{
    AsyncConfig, AsyncInvocation, AsyncQuery, NewAsyncInvocation, Outcome, QueueStore, Retried,
};
use crate::{PackageRecord, PackageStore, Schedule, ScheduleStore, Tick};

/// How often the probe tries the database while the breaker is open.
const PROBE_EVERY: Duration = Duration::from_millis(250);

/// Wraps a store `S` and implements each aggregate's trait that `S` implements, failing fast
/// while the database is unreachable. Cheap to clone; clones share the one circuit.
///
/// [`Database::ping`] and [`Database::identity`] go through unguarded: the ping is what tells
/// whether the database is back.
pub struct Breaker<S> {
    inner: Arc<S>,
    circuit: Arc<Circuit>,
}

impl<S> Clone for Breaker<S> {
    fn clone(&self) -> Self {
        Breaker {
            inner: self.inner.clone(),
            circuit: self.circuit.clone(),
        }
    }
}

/// The state every clone of one breaker shares.
struct Circuit {
    open: AtomicBool,
    /// Since when, and why, the breaker is open.
    outage: Mutex<Option<(Instant, String)>>,
    /// What the probe pings: the database behind the store.
    database: Arc<dyn Database>,
}

impl<S: Database> Breaker<S> {
    /// A closed breaker in front of `inner`.
    pub fn new(inner: S) -> Breaker<S> {
        let inner = Arc::new(inner);
        let database: Arc<dyn Database> = inner.clone();
        Breaker {
            inner,
            circuit: Arc::new(Circuit {
                open: AtomicBool::new(false),
                outage: Mutex::new(None),
                database,
            }),
        }
    }
}

impl<S> Breaker<S> {
    /// Whether calls are refused now because the database was found unreachable.
    pub fn is_open(&self) -> bool {
        self.circuit.open.load(Ordering::Acquire)
    }

    async fn guard<T>(
        &self,
        call: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        if self.is_open() {
            return Err(self.circuit.refusal());
        }
        let result = call.await;
        if let Err(StoreError::Unavailable(why)) = &result {
            Circuit::trip(&self.circuit, why.clone());
        }
        result
    }
}

impl Circuit {
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
    fn trip(circuit: &Arc<Circuit>, why: String) {
        if circuit.open.swap(true, Ordering::AcqRel) {
            return;
        }
        tracing::error!(error = %why, "the metadata store is unreachable; failing fast until it answers");
        *comet_util::lock(&circuit.outage) = Some((Instant::now(), why));
        let circuit = circuit.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(PROBE_EVERY).await;
                let answered = tokio::time::timeout(PROBE_EVERY * 4, circuit.database.ping()).await;
                if answered.is_ok_and(|r| r.is_ok()) {
                    let since = comet_util::lock(&circuit.outage).take();
                    circuit.open.store(false, Ordering::Release);
                    let down = since.map(|(s, _)| s.elapsed()).unwrap_or_default();
                    tracing::info!(?down, "the metadata store answers again");
                    return;
                }
            }
        });
    }
}

#[async_trait]
impl<S: Database> Database for Breaker<S> {
    async fn ping(&self) -> Result<(), StoreError> {
        self.inner.ping().await
    }

    async fn identity(&self) -> Result<String, StoreError> {
        self.inner.identity().await
    }
}

#[async_trait]
impl<S: FunctionStore> FunctionStore for Breaker<S> {
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
}

#[async_trait]
impl<S: VersionStore> VersionStore for Breaker<S> {
    async fn list_versions(
        &self,
        function: &str,
        query: &VersionQuery,
    ) -> Result<Vec<FunctionVersion>, StoreError> {
        self.guard(self.inner.list_versions(function, query)).await
    }

    async fn get_version(
        &self,
        function: &str,
        number: u64,
    ) -> Result<Option<FunctionVersion>, StoreError> {
        self.guard(self.inner.get_version(function, number)).await
    }

    async fn publish_version(
        &self,
        function: &str,
        description: &str,
    ) -> Result<FunctionVersion, StoreError> {
        self.guard(self.inner.publish_version(function, description))
            .await
    }
}

#[async_trait]
impl<S: AliasStore> AliasStore for Breaker<S> {
    async fn put_alias(
        &self,
        alias: &FunctionAlias,
        replace: bool,
    ) -> Result<FunctionAlias, StoreError> {
        self.guard(self.inner.put_alias(alias, replace)).await
    }

    async fn get_alias(
        &self,
        function: &str,
        name: &str,
    ) -> Result<Option<FunctionAlias>, StoreError> {
        self.guard(self.inner.get_alias(function, name)).await
    }

    async fn list_aliases(&self, function: &str) -> Result<Vec<FunctionAlias>, StoreError> {
        self.guard(self.inner.list_aliases(function)).await
    }

    async fn delete_alias(&self, function: &str, name: &str) -> Result<bool, StoreError> {
        self.guard(self.inner.delete_alias(function, name)).await
    }
}

#[async_trait]
impl<S: QueueStore> QueueStore for Breaker<S> {
    async fn enqueue_all(
        &self,
        batch: &[NewAsyncInvocation],
    ) -> Result<Vec<(AsyncInvocation, bool)>, StoreError> {
        self.guard(self.inner.enqueue_all(batch)).await
    }

    async fn claim(
        &self,
        limit: u32,
        busy: &[String],
        lease_ms: i64,
    ) -> Result<Vec<AsyncInvocation>, StoreError> {
        self.guard(self.inner.claim(limit, busy, lease_ms)).await
    }

    async fn renew(&self, ids: &[String], lease_ms: i64) -> Result<(), StoreError> {
        self.guard(self.inner.renew(ids, lease_ms)).await
    }

    async fn finish(
        &self,
        id: &str,
        attempt: u32,
        outcome: &Outcome,
        then: Option<&NewAsyncInvocation>,
    ) -> Result<bool, StoreError> {
        self.guard(self.inner.finish(id, attempt, outcome, then))
            .await
    }

    async fn next_due(&self) -> Result<Option<i64>, StoreError> {
        self.guard(self.inner.next_due()).await
    }

    async fn get_async(&self, id: &str) -> Result<Option<AsyncInvocation>, StoreError> {
        self.guard(self.inner.get_async(id)).await
    }

    async fn list_async(&self, query: &AsyncQuery) -> Result<Vec<AsyncInvocation>, StoreError> {
        self.guard(self.inner.list_async(query)).await
    }

    async fn async_configs(&self) -> Result<Vec<(String, AsyncConfig)>, StoreError> {
        self.guard(self.inner.async_configs()).await
    }

    async fn put_async_config(
        &self,
        function: &str,
        config: &AsyncConfig,
    ) -> Result<(), StoreError> {
        self.guard(self.inner.put_async_config(function, config))
            .await
    }

    async fn delete_async_config(&self, function: &str) -> Result<bool, StoreError> {
        self.guard(self.inner.delete_async_config(function)).await
    }

    async fn retry_async(&self, id: &str) -> Result<Retried, StoreError> {
        self.guard(self.inner.retry_async(id)).await
    }
}

#[async_trait]
impl<S: ScheduleStore> ScheduleStore for Breaker<S> {
    async fn create_schedule(&self, schedule: &Schedule) -> Result<Schedule, StoreError> {
        self.guard(self.inner.create_schedule(schedule)).await
    }

    async fn get_schedule(&self, function: &str, id: &str) -> Result<Option<Schedule>, StoreError> {
        self.guard(self.inner.get_schedule(function, id)).await
    }

    async fn list_schedules(&self, function: &str) -> Result<Vec<Schedule>, StoreError> {
        self.guard(self.inner.list_schedules(function)).await
    }

    async fn update_schedule(&self, schedule: &Schedule) -> Result<Schedule, StoreError> {
        self.guard(self.inner.update_schedule(schedule)).await
    }

    async fn delete_schedule(&self, function: &str, id: &str) -> Result<bool, StoreError> {
        self.guard(self.inner.delete_schedule(function, id)).await
    }

    async fn due_schedules(&self, now_ms: i64, limit: u32) -> Result<Vec<Schedule>, StoreError> {
        self.guard(self.inner.due_schedules(now_ms, limit)).await
    }

    async fn next_schedule_due(&self) -> Result<Option<i64>, StoreError> {
        self.guard(self.inner.next_schedule_due()).await
    }

    async fn fire_schedule(
        &self,
        tick: &Tick,
        call: &NewAsyncInvocation,
    ) -> Result<Option<AsyncInvocation>, StoreError> {
        self.guard(self.inner.fire_schedule(tick, call)).await
    }
}

#[async_trait]
impl<S: LogStore> LogStore for Breaker<S> {
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
}

#[async_trait]
impl<S: KeyStore> KeyStore for Breaker<S> {
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
}

#[async_trait]
impl<S: SecretStore> SecretStore for Breaker<S> {
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

#[async_trait]
impl<S: PackageStore> PackageStore for Breaker<S> {
    async fn put_package(&self, package: &PackageRecord) -> Result<bool, StoreError> {
        self.guard(self.inner.put_package(package)).await
    }

    async fn get_package(&self, name: &str) -> Result<Option<PackageRecord>, StoreError> {
        self.guard(self.inner.get_package(name)).await
    }

    async fn list_packages(&self) -> Result<Vec<PackageRecord>, StoreError> {
        self.guard(self.inner.list_packages()).await
    }

    async fn delete_package(&self, name: &str) -> Result<bool, StoreError> {
        self.guard(self.inner.delete_package(name)).await
    }
}

#[async_trait]
impl<S: SettingStore> SettingStore for Breaker<S> {
    async fn setting(&self, name: &str) -> Result<Option<String>, StoreError> {
        self.guard(self.inner.setting(name)).await
    }

    async fn init_setting(&self, name: &str, value: &str) -> Result<String, StoreError> {
        self.guard(self.inner.init_setting(name, value)).await
    }

    async fn put_setting(&self, name: &str, value: &str) -> Result<(), StoreError> {
        self.guard(self.inner.put_setting(name, value)).await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use super::*;
    use crate::Kind;

    /// A database that is down while `down` is set; counts the calls that reach it.
    #[derive(Default)]
    struct Fake {
        down: AtomicBool,
        calls: AtomicUsize,
    }

    impl Fake {
        fn answer(&self) -> Result<(), StoreError> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            if self.down.load(Ordering::SeqCst) {
                Err(StoreError::Unavailable("connection refused".into()))
            } else {
                Ok(())
            }
        }

        fn calls(&self) -> usize {
            self.calls.load(Ordering::SeqCst)
        }
    }

    #[async_trait]
    impl Database for Fake {
        async fn ping(&self) -> Result<(), StoreError> {
            if self.down.load(Ordering::SeqCst) {
                Err(StoreError::Unavailable("still down".into()))
            } else {
                Ok(())
            }
        }

        async fn identity(&self) -> Result<String, StoreError> {
            Ok("fake".into())
        }
    }

    #[async_trait]
    impl SettingStore for Fake {
        async fn setting(&self, _: &str) -> Result<Option<String>, StoreError> {
            self.answer().map(|()| None)
        }

        async fn init_setting(&self, name: &str, _: &str) -> Result<String, StoreError> {
            self.answer()?;
            Err(StoreError::already_exists(Kind::Secret, name))
        }

        async fn put_setting(&self, _: &str, _: &str) -> Result<(), StoreError> {
            self.answer()
        }
    }

    #[async_trait]
    impl LogStore for Fake {
        async fn insert_invocations(&self, _: &[InvocationLog]) -> Result<(), StoreError> {
            self.answer()
        }

        async fn list_invocations(&self, _: &LogQuery) -> Result<Vec<InvocationLog>, StoreError> {
            self.answer().map(|()| Vec::new())
        }

        async fn delete_invocations_before(&self, _: i64) -> Result<u64, StoreError> {
            self.answer().map(|()| 0)
        }
    }

    fn breaker() -> (Breaker<Fake>, Arc<Fake>) {
        let breaker = Breaker::new(Fake::default());
        let fake = breaker.inner.clone();
        (breaker, fake)
    }

    #[tokio::test]
    async fn one_unreachable_call_makes_the_others_fail_at_once() {
        let (breaker, fake) = breaker();
        breaker.put_setting("a", "b").await.expect("up");
        fake.down.store(true, Ordering::SeqCst);
        let first = breaker.setting("a").await.expect_err("down");
        assert!(first.is_unavailable(), "{first}");
        assert!(breaker.is_open());
        let reached = fake.calls();
        for _ in 0..5 {
            let refused = breaker.setting("a").await.expect_err("refused");
            assert!(
                refused.is_unavailable() && refused.to_string().contains("down for"),
                "{refused}"
            );
        }
        assert_eq!(fake.calls(), reached, "no call reached the database");
        // The database itself is still asked: that is how the probe knows.
        assert!(breaker.ping().await.is_err());
        assert_eq!(breaker.identity().await.expect("identity"), "fake");
    }

    #[tokio::test]
    async fn clones_and_every_aggregate_share_one_circuit() {
        let (breaker, fake) = breaker();
        let logs: Arc<dyn LogStore> = Arc::new(breaker.clone());
        let settings: Arc<dyn SettingStore> = Arc::new(breaker.clone());
        fake.down.store(true, Ordering::SeqCst);
        assert!(logs.insert_invocations(&[]).await.is_err());
        let reached = fake.calls();
        assert!(settings.setting("x").await.is_err());
        assert!(
            breaker
                .list_invocations(&LogQuery::default())
                .await
                .is_err()
        );
        assert_eq!(fake.calls(), reached, "the settings were not asked");
    }

    #[tokio::test]
    async fn other_errors_leave_it_closed() {
        let (breaker, fake) = breaker();
        let taken = breaker.init_setting("k", "v").await.expect_err("taken");
        assert!(matches!(taken, StoreError::AlreadyExists { .. }), "{taken}");
        assert!(!breaker.is_open());
        breaker.setting("k").await.expect("still closed");
        assert_eq!(fake.calls(), 2);
    }

    #[tokio::test]
    async fn it_closes_once_the_database_answers() {
        let (breaker, fake) = breaker();
        fake.down.store(true, Ordering::SeqCst);
        assert!(breaker.setting("a").await.is_err());
        tokio::time::sleep(PROBE_EVERY * 2).await;
        assert!(breaker.is_open(), "the probe finds it still down");
        fake.down.store(false, Ordering::SeqCst);
        let deadline = Instant::now() + PROBE_EVERY * 12;
        while breaker.is_open() && Instant::now() < deadline {
            tokio::time::sleep(PROBE_EVERY / 5).await;
        }
        assert!(!breaker.is_open(), "closed after the database answered");
        breaker.setting("a").await.expect("through again");
    }
}
