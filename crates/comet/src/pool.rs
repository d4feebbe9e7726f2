//! One version's warm instances ([`Pool`]), and a function's pools, one per version
//! ([`Versions`]).
//!
//! Invariants of a pool, all under one short std mutex: `live` counts instances that are idle,
//! leased or being created; at most one creation runs at a time (concurrent cold callers share it
//! and otherwise wait for a released instance); `live` never exceeds `max_replicas` (0 =
//! unlimited); idle instances always run the spec the pool was last given, so a spec of the same
//! version with other code replaces the pool's (its instances stop, idle now and leased as soon
//! as they come back).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use comet_sandbox::{Backend, Instance, SandboxError};
use nova_api::FunctionSpec;
use tokio::sync::{Notify, oneshot};

use crate::error::InvokeError;
use crate::executor::{PoolStats, lock};

mod versions;

pub(crate) use versions::Versions;

pub(crate) struct Pool {
    name: String,
    state: Mutex<State>,
    /// Signalled whenever an instance is released or a creation finishes.
    available: Notify,
    /// Shared by the pools of one function's versions, so its figures outlive an old version's
    /// pool.
    tallies: Arc<Tallies>,
}

/// A function's call counts.
#[derive(Default)]
pub(crate) struct Tallies {
    invocations: AtomicU64,
    cold_starts: AtomicU64,
    errors: AtomicU64,
}

impl Tallies {
    pub fn record(&self, success: bool) {
        self.invocations.fetch_add(1, Ordering::Relaxed);
        if !success {
            self.errors.fetch_add(1, Ordering::Relaxed);
        }
    }
}

struct State {
    /// The spec last given; idle instances run it.
    spec: Option<Arc<FunctionSpec>>,
    generation: u64,
    idle: Vec<Idle>,
    live: usize,
    creating: bool,
    closed: bool,
    /// Set by [`Pool::prewarm`]: the daemon keeps this pool at `min_replicas`. A pool that an
    /// in-flight call re-created after its function was deleted is not, so it drains away.
    managed: bool,
}

struct Idle {
    instance: Box<dyn Instance>,
    since: Instant,
}

/// What a caller does next, decided under the lock.
enum Step {
    Warm(Box<dyn Instance>, u64),
    /// Create an instance of this spec (the pool's current one, which a caller with other
    /// code of the same version may have replaced meanwhile: an instance tagged current must
    /// run current code).
    Create(u64, Arc<FunctionSpec>),
    Wait,
    Closed,
}

impl Pool {
    #[cfg(test)]
    pub fn new(name: &str) -> Pool {
        Pool::sharing(name, Arc::default())
    }

    /// A pool whose call counts go to `tallies`.
    pub fn sharing(name: &str, tallies: Arc<Tallies>) -> Pool {
        Pool {
            name: name.to_string(),
            state: Mutex::new(State {
                spec: None,
                generation: 0,
                idle: Vec::new(),
                live: 0,
                creating: false,
                closed: false,
                managed: false,
            }),
            available: Notify::new(),
            tallies,
        }
    }

    /// A warm instance if one is idle, else a new one (one creation at a time), else the next
    /// one released.
    pub async fn acquire(
        self: &Arc<Self>,
        spec: &Arc<FunctionSpec>,
        backend: &Arc<dyn Backend>,
    ) -> Result<Lease, InvokeError> {
        let step = self.decide(spec, State::next_step).await;
        match step {
            Step::Warm(instance, generation) => Ok(Lease::new(self, instance, generation, false)),
            Step::Create(generation, current) => self.create(&current, backend, generation).await,
            Step::Closed => Err(InvokeError::ShuttingDown),
            Step::Wait => unreachable!("decide() waits instead of returning Wait"),
        }
    }

    /// Looks at the state (after adopting `spec`) and lets `choose` pick the next step; while it
    /// says [`Step::Wait`], waits for a release or a finished creation and looks again.
    async fn decide(
        &self,
        spec: &Arc<FunctionSpec>,
        choose: impl Fn(&mut State, &Arc<FunctionSpec>) -> Step,
    ) -> Step {
        loop {
            let notified = self.available.notified();
            tokio::pin!(notified);
            // Registered before looking, so a release between the look and the wait is not lost.
            notified.as_mut().enable();
            let (step, stale) = {
                let mut st = lock(&self.state);
                let stale = st.adopt(spec);
                (choose(&mut st, spec), stale)
            };
            stop_all(stale);
            match step {
                Step::Wait => notified.await,
                step => return step,
            }
        }
    }

    /// Creates an instance on a task of its own, so that a caller who goes away mid-creation
    /// neither leaks the instance nor leaves the pool thinking a creation is still running.
    async fn create(
        self: &Arc<Self>,
        spec: &Arc<FunctionSpec>,
        backend: &Arc<dyn Backend>,
        generation: u64,
    ) -> Result<Lease, InvokeError> {
        let (tx, rx) = oneshot::channel();
        let pool = self.clone();
        let task_spec = spec.clone();
        let backend = backend.clone();
        tokio::spawn(async move {
            let result = backend.create(&task_spec).await;
            pool.creation_finished(result.is_ok());
            match result {
                Ok(instance) => {
                    if let Err(Ok(instance)) = tx.send(Ok(instance)) {
                        pool.give_back(instance, generation);
                    }
                }
                Err(e) => {
                    tracing::warn!(function = %task_spec.name, error = %e, "instance creation failed");
                    let _ = tx.send(Err(e));
                }
            }
        });
        match rx.await {
            Ok(Ok(instance)) => {
                self.tallies.cold_starts.fetch_add(1, Ordering::Relaxed);
                Ok(Lease::new(self, instance, generation, true))
            }
            Ok(Err(source)) => Err(start_error(&spec.name, source)),
            Err(_) => Err(InvokeError::ShuttingDown),
        }
    }

    fn creation_finished(&self, created: bool) {
        let mut st = lock(&self.state);
        st.creating = false;
        if !created {
            st.live -= 1;
        }
        drop(st);
        self.available.notify_one();
    }

    /// Starts instances until `min_replicas` exist, parking them idle. Takes part in the
    /// one-creation-at-a-time rule, so a caller arriving meanwhile waits for the warm instance
    /// instead of starting another.
    pub async fn prewarm(
        self: &Arc<Self>,
        spec: &Arc<FunctionSpec>,
        backend: &Arc<dyn Backend>,
    ) -> Result<usize, InvokeError> {
        let mut started = 0;
        loop {
            let step = self.decide(spec, State::next_prewarm).await;
            let Step::Create(generation, current) = step else {
                return Ok(started);
            };
            let result = backend.create(&current).await;
            self.creation_finished(result.is_ok());
            let instance = result.map_err(|source| start_error(&spec.name, source))?;
            self.give_back(instance, generation);
            started += 1;
        }
    }

    /// Returns an instance after a call: idle again if it is current and alive, else stopped.
    fn give_back(&self, mut instance: Box<dyn Instance>, generation: u64) {
        let alive = instance.is_alive();
        let mut st = lock(&self.state);
        if alive && !st.closed && generation == st.generation {
            st.idle.push(Idle {
                instance,
                since: Instant::now(),
            });
            drop(st);
        } else {
            st.live -= 1;
            drop(st);
            stop_all(vec![instance]);
        }
        self.available.notify_one();
    }

    /// Drops an instance whose state is unknown (its call failed or was abandoned).
    fn forget(&self, instance: Box<dyn Instance>) {
        lock(&self.state).live -= 1;
        self.available.notify_one();
        stop_all(vec![instance]);
    }

    /// Stops idle instances unused for `ttl` (keeping `min_replicas` when `keep_min`: the
    /// function's newest version) and any that died.
    pub async fn sweep(&self, now: Instant, ttl: Duration, keep_min: bool) {
        let stale = {
            let mut st = lock(&self.state);
            let keep = match &st.spec {
                Some(spec) if keep_min => spec.min_replicas as usize,
                _ => 0,
            };
            let mut stale = Vec::new();
            let mut kept = Vec::with_capacity(st.idle.len());
            // Oldest first: `idle` is pushed in release order.
            for mut idle in std::mem::take(&mut st.idle) {
                let expired = now.saturating_duration_since(idle.since) >= ttl;
                let dead = !idle.instance.is_alive();
                if dead || (expired && st.live > keep) {
                    st.live -= 1;
                    stale.push(idle.instance);
                } else {
                    kept.push(idle);
                }
            }
            st.idle = kept;
            stale
        };
        if !stale.is_empty() {
            tracing::debug!(function = %self.name, stopped = stale.len(), "idle instances expired");
            self.available.notify_one();
        }
        stop_and_wait(stale).await;
    }

    /// The spec to pre-warm with, when fewer than `min_replicas` instances exist.
    pub fn spec_needing_replicas(&self) -> Option<Arc<FunctionSpec>> {
        let st = lock(&self.state);
        let spec = st.spec.as_ref()?;
        (st.managed && !st.closed && st.live < spec.min_replicas as usize).then(|| spec.clone())
    }

    /// Has the daemon keep this pool at `min_replicas` from now on, as [`Pool::prewarm`] does.
    pub fn manage(&self) {
        lock(&self.state).managed = true;
    }

    /// True when no instance exists or is being created.
    pub fn is_empty(&self) -> bool {
        lock(&self.state).live == 0
    }

    /// Stops every idle instance and refuses new calls; leased ones stop when released.
    pub async fn close(&self) {
        let idle = {
            let mut st = lock(&self.state);
            st.closed = true;
            let idle: Vec<_> = st.idle.drain(..).map(|i| i.instance).collect();
            st.live -= idle.len();
            idle
        };
        self.available.notify_waiters();
        stop_and_wait(idle).await;
    }

    /// (instances, idle) of this pool.
    pub fn counts(&self) -> (usize, usize) {
        let st = lock(&self.state);
        (st.live, st.idle.len())
    }

    #[cfg(test)]
    pub fn stats(&self) -> PoolStats {
        let (instances, idle) = self.counts();
        self.tallies.stats(&self.name, instances, idle)
    }
}

impl Tallies {
    pub fn stats(&self, function: &str, instances: usize, idle: usize) -> PoolStats {
        PoolStats {
            function: function.to_string(),
            instances,
            idle,
            invocations: self.invocations.load(Ordering::Relaxed),
            cold_starts: self.cold_starts.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
        }
    }
}

impl State {
    /// Makes `spec` current if it is another one than the pool's (a pool holds one version: the
    /// same version with other code); returns the idle instances of the old one.
    fn adopt(&mut self, spec: &Arc<FunctionSpec>) -> Vec<Box<dyn Instance>> {
        let other = match &self.spec {
            None => true,
            Some(cur) => spec.version != cur.version || spec.code_hash != cur.code_hash,
        };
        if !other {
            return Vec::new();
        }
        let replaced = self.spec.is_some();
        self.spec = Some(spec.clone());
        if !replaced {
            return Vec::new();
        }
        self.generation += 1;
        let old: Vec<_> = self.idle.drain(..).map(|i| i.instance).collect();
        self.live -= old.len();
        old
    }

    fn has_room(&self, spec: &FunctionSpec) -> bool {
        spec.max_replicas == 0 || self.live < spec.max_replicas as usize
    }

    fn next_step(&mut self, spec: &Arc<FunctionSpec>) -> Step {
        if self.closed {
            return Step::Closed;
        }
        // Most recently used first: it is the warmest, and the others can expire.
        while let Some(mut idle) = self.idle.pop() {
            if idle.instance.is_alive() {
                return Step::Warm(idle.instance, self.generation);
            }
            self.live -= 1;
            stop_all(vec![idle.instance]);
        }
        if !self.creating && self.has_room(spec) {
            self.creating = true;
            self.live += 1;
            return Step::Create(self.generation, self.current(spec));
        }
        Step::Wait
    }

    /// Pre-warming: create while fewer than `min_replicas` exist (one creation at a time);
    /// `Closed` when there is nothing (more) to do.
    fn next_prewarm(&mut self, spec: &Arc<FunctionSpec>) -> Step {
        self.managed = true;
        let wanted = spec.min_replicas as usize;
        if self.closed || self.live >= wanted || !self.has_room(spec) {
            Step::Closed
        } else if self.creating {
            Step::Wait
        } else {
            self.creating = true;
            self.live += 1;
            Step::Create(self.generation, self.current(spec))
        }
    }

    /// The spec this pool runs (`fallback`'s, which it adopted, unless another replaced it).
    fn current(&self, fallback: &Arc<FunctionSpec>) -> Arc<FunctionSpec> {
        self.spec.clone().unwrap_or_else(|| fallback.clone())
    }
}

fn start_error(function: &str, source: SandboxError) -> InvokeError {
    match source {
        SandboxError::Unsupported { backend, runtime } => {
            InvokeError::Unsupported { backend, runtime }
        }
        source => InvokeError::Start {
            function: function.to_string(),
            source,
        },
    }
}

/// Stops instances in the background (used where we hold no async context worth blocking).
fn stop_all(instances: Vec<Box<dyn Instance>>) {
    if instances.is_empty() {
        return;
    }
    match tokio::runtime::Handle::try_current() {
        Ok(handle) => {
            handle.spawn(stop_and_wait(instances));
        }
        // No runtime: dropping an instance kills its process.
        Err(_) => drop(instances),
    }
}

async fn stop_and_wait(instances: Vec<Box<dyn Instance>>) {
    for instance in instances {
        instance.stop().await;
    }
}

/// An instance lent to one call. Returned with [`Lease::release`]; one dropped without it (the
/// caller went away mid-call) is stopped, since its state is unknown.
pub(crate) struct Lease {
    pool: Arc<Pool>,
    instance: Option<Box<dyn Instance>>,
    generation: u64,
    cold: bool,
}

impl Lease {
    fn new(pool: &Arc<Pool>, instance: Box<dyn Instance>, generation: u64, cold: bool) -> Lease {
        Lease {
            pool: pool.clone(),
            instance: Some(instance),
            generation,
            cold,
        }
    }

    pub fn instance(&mut self) -> &mut dyn Instance {
        self.instance
            .as_deref_mut()
            .expect("a lease holds its instance until released")
    }

    /// True when this call created the instance.
    pub fn cold_start(&self) -> bool {
        self.cold
    }

    pub fn release(mut self) {
        if let Some(instance) = self.instance.take() {
            self.pool.give_back(instance, self.generation);
        }
    }

    pub fn discard(mut self) {
        if let Some(instance) = self.instance.take() {
            self.pool.forget(instance);
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(instance) = self.instance.take() {
            self.pool.forget(instance);
        }
    }
}

#[cfg(test)]
mod tests;
