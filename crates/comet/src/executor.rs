//! The executor: one pool per version of each function, a maintenance loop, and the invoke
//! path.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use comet_sandbox::{Backend, SandboxError, require_runtime};
use nova_api::{FunctionSpec, InvokeRequest, InvokeResponse};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::error::InvokeError;
use crate::pool::Versions;

/// Settings of the executor itself (per-function settings come with each spec).
#[derive(Debug, Clone)]
pub struct ExecutorConfig {
    /// How long an idle instance is kept before it is stopped (never below the newest version's
    /// `min_replicas`).
    pub idle_ttl: Duration,
}

impl Default for ExecutorConfig {
    fn default() -> Self {
        ExecutorConfig {
            idle_ttl: Duration::from_secs(60),
        }
    }
}

/// A snapshot of one function's pools (every version's instances together).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PoolStats {
    pub function: String,
    /// Instances that exist or are starting.
    pub instances: usize,
    pub idle: usize,
    pub invocations: u64,
    pub cold_starts: u64,
    pub errors: u64,
}

/// Runs invocations on warm instances. Cheap to clone; clones share the pools.
#[derive(Clone)]
pub struct Executor {
    inner: Arc<Inner>,
}

struct Inner {
    backend: Arc<dyn Backend>,
    config: ExecutorConfig,
    /// Each function's pools, one per version.
    pools: Mutex<HashMap<String, Arc<Versions>>>,
    shutdown: watch::Sender<bool>,
    maintenance: Mutex<Option<JoinHandle<()>>>,
}

impl Executor {
    pub fn new(backend: Arc<dyn Backend>, config: ExecutorConfig) -> Executor {
        Executor {
            inner: Arc::new(Inner {
                backend,
                config,
                pools: Mutex::new(HashMap::new()),
                shutdown: watch::channel(false).0,
                maintenance: Mutex::new(None),
            }),
        }
    }

    pub fn backend(&self) -> &Arc<dyn Backend> {
        &self.inner.backend
    }

    /// Runs one invocation of `spec`, on an instance of exactly that spec.
    pub async fn invoke(
        &self,
        spec: Arc<FunctionSpec>,
        request: InvokeRequest,
    ) -> Result<InvokeResponse, InvokeError> {
        let started = Instant::now();
        let backend = &self.inner.backend;
        if let Err(SandboxError::Unsupported { backend, runtime }) =
            require_runtime(backend.as_ref(), spec.runtime)
        {
            return Err(InvokeError::Unsupported { backend, runtime });
        }
        let versions = self.function(&spec.name)?;
        let pool = versions.pool(&spec).await?;
        let timeout = Duration::from_secs(u64::from(spec.timeout_s.max(1)));
        let mut lease = match tokio::time::timeout(timeout, pool.acquire(&spec, backend)).await {
            Ok(lease) => lease?,
            Err(_) => {
                return Err(InvokeError::Busy {
                    function: spec.name.clone(),
                    max: spec.max_replicas,
                    waited: timeout,
                });
            }
        };
        let result = lease
            .instance()
            .invoke(&request.request_id, &request.payload, timeout)
            .await;
        let cold_start = lease.cold_start();
        let resp = match result {
            Ok(resp) => {
                lease.release();
                resp
            }
            Err(source) => {
                lease.discard();
                versions.record(false);
                return Err(InvokeError::Instance {
                    function: spec.name.clone(),
                    source,
                });
            }
        };
        versions.record(resp.error.is_none());
        let elapsed = started.elapsed();
        Ok(InvokeResponse {
            request_id: request.request_id,
            output: resp.output,
            error: resp.error,
            duration_ms: elapsed.as_millis() as u64,
            duration_us: elapsed.as_micros() as u64,
            cold_start,
            timed_out: resp.timed_out,
            version: Some(spec.version),
            stdout: resp.stdout,
            stderr: resp.stderr,
        })
    }

    /// Starts instances until `spec.min_replicas` exist; returns how many were started.
    pub async fn prewarm(&self, spec: Arc<FunctionSpec>) -> Result<usize, InvokeError> {
        if spec.min_replicas == 0 {
            return Ok(0);
        }
        self.function(&spec.name)?
            .prewarm(&spec, &self.inner.backend)
            .await
    }

    /// Stops every instance of every version of a function and forgets its pools (after a
    /// delete, or to force new code). Instances busy right now are stopped when their call
    /// returns.
    pub async fn evict(&self, function: &str) {
        let pool = lock(&self.inner.pools).remove(function);
        if let Some(pool) = pool {
            pool.close().await;
        }
    }

    /// Stops idle instances older than the TTL (keeping the newest version's `min_replicas`),
    /// replaces dead ones and forgets old versions' empty pools. Takes the current time so tests
    /// can move the clock.
    pub async fn sweep(&self, now: Instant) {
        let functions: Vec<Arc<Versions>> = lock(&self.inner.pools).values().cloned().collect();
        for versions in functions {
            let ttl = self.inner.config.idle_ttl;
            versions.sweep(now, ttl, &self.inner.backend).await;
        }
    }

    /// Runs [`Executor::sweep`] periodically until [`Executor::shutdown`].
    pub fn start_maintenance(&self) {
        let period = (self.inner.config.idle_ttl / 4)
            .clamp(Duration::from_millis(50), Duration::from_secs(5));
        let executor = self.clone();
        let mut stop = self.inner.shutdown.subscribe();
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(period);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = tick.tick() => executor.sweep(Instant::now()).await,
                    _ = stop.changed() => break,
                }
            }
        });
        *lock(&self.inner.maintenance) = Some(task);
    }

    /// Stops the maintenance loop and every instance. Later invocations fail with
    /// [`InvokeError::ShuttingDown`].
    pub async fn shutdown(&self) {
        let _ = self.inner.shutdown.send(true);
        let task = lock(&self.inner.maintenance).take();
        if let Some(task) = task {
            let _ = task.await;
        }
        let pools: Vec<Arc<Versions>> = lock(&self.inner.pools).drain().map(|(_, p)| p).collect();
        for pool in pools {
            pool.close().await;
        }
        self.inner.backend.shutdown().await;
    }

    /// One snapshot per function that has a pool, sorted by name.
    pub fn stats(&self) -> Vec<PoolStats> {
        let mut stats: Vec<PoolStats> = lock(&self.inner.pools)
            .values()
            .map(|p| p.stats())
            .collect();
        stats.sort_by(|a, b| a.function.cmp(&b.function));
        stats
    }

    fn function(&self, function: &str) -> Result<Arc<Versions>, InvokeError> {
        let mut pools = lock(&self.inner.pools);
        // Checked under the lock that shutdown drains with: no pool appears after the drain.
        if *self.inner.shutdown.borrow() {
            return Err(InvokeError::ShuttingDown);
        }
        Ok(pools
            .entry(function.to_string())
            .or_insert_with(|| Arc::new(Versions::new(function)))
            .clone())
    }
}

/// Every critical section of the executor and its pools leaves the state consistent before
/// anything that could panic, so a poisoned mutex is taken as it is.
pub(crate) use comet_util::lock;
