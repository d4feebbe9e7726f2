//! The pool's state machine against a fake backend: instances are plain structs whose liveness
//! the test sets, creations can be held at a gate, and every creation and stop is recorded. No
//! agent, no Python, no processes; time moves only where the test says so (`sweep` takes `now`,
//! tokio's clock is paused).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use comet_protocol::RespPayload;
use comet_sandbox::{Backend, Instance, SandboxError};
use nova_api::{FunctionSpec, Runtime};
use serde_json::value::RawValue;
use tokio::sync::Semaphore;

use super::{Lease, Pool, Versions};
use crate::error::InvokeError;

const TTL: Duration = Duration::from_secs(60);

/// What the fake backend did, shared with the instances it made.
#[derive(Default)]
struct Record {
    /// (instance id, spec version it was created with), in creation order.
    created: Vec<(String, u64)>,
    /// Instance ids, in stopping order.
    stopped: Vec<String>,
    /// Liveness switch of every instance ever created, by id.
    alive: Vec<(String, Arc<AtomicBool>)>,
}

type Shared = Arc<Mutex<Record>>;

struct Fake {
    record: Shared,
    /// Creations that entered `create` (including those held at the gate).
    started: AtomicUsize,
    running: AtomicUsize,
    max_running: AtomicUsize,
    /// When set, each creation takes a permit first: the test decides when creations finish.
    gate: Option<Semaphore>,
    /// The next this many creations fail.
    failures: AtomicUsize,
}

impl Fake {
    fn new() -> Arc<Fake> {
        Fake::build(None)
    }

    /// Creations wait until the test adds permits with [`Fake::open`].
    fn gated() -> Arc<Fake> {
        Fake::build(Some(Semaphore::new(0)))
    }

    fn build(gate: Option<Semaphore>) -> Arc<Fake> {
        Arc::new(Fake {
            record: Shared::default(),
            started: AtomicUsize::new(0),
            running: AtomicUsize::new(0),
            max_running: AtomicUsize::new(0),
            gate,
            failures: AtomicUsize::new(0),
        })
    }

    fn backend(self: &Arc<Self>) -> Arc<dyn Backend> {
        self.clone()
    }

    fn open(&self, permits: usize) {
        self.gate
            .as_ref()
            .expect("a gated fake")
            .add_permits(permits);
    }

    fn record(&self) -> std::sync::MutexGuard<'_, Record> {
        self.record.lock().expect("record")
    }

    fn created(&self) -> Vec<String> {
        self.record()
            .created
            .iter()
            .map(|(id, _)| id.clone())
            .collect()
    }

    fn version_of(&self, id: &str) -> u64 {
        self.record()
            .created
            .iter()
            .find(|(i, _)| i == id)
            .map(|(_, v)| *v)
            .expect("created by this fake")
    }

    fn stopped(&self) -> Vec<String> {
        self.record().stopped.clone()
    }

    /// Makes instance `id` report itself dead from now on.
    fn kill(&self, id: &str) {
        let record = self.record();
        let (_, alive) = record
            .alive
            .iter()
            .find(|(i, _)| i == id)
            .expect("created by this fake");
        alive.store(false, Ordering::SeqCst);
    }
}

#[async_trait]
impl Backend for Fake {
    fn name(&self) -> &'static str {
        "fake"
    }

    fn supports(&self, _: Runtime) -> bool {
        true
    }

    async fn create(&self, spec: &FunctionSpec) -> Result<Box<dyn Instance>, SandboxError> {
        self.started.fetch_add(1, Ordering::SeqCst);
        let running = self.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_running.fetch_max(running, Ordering::SeqCst);
        if let Some(gate) = &self.gate {
            gate.acquire()
                .await
                .expect("the gate is never closed")
                .forget();
        }
        self.running.fetch_sub(1, Ordering::SeqCst);
        let fail = self
            .failures
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if fail {
            return Err(SandboxError::Init("the fake refused".into()));
        }
        let mut record = self.record();
        let id = format!("i{}", record.created.len() + 1);
        let alive = Arc::new(AtomicBool::new(true));
        record.created.push((id.clone(), spec.version));
        record.alive.push((id.clone(), alive.clone()));
        Ok(Box::new(FakeInstance {
            id,
            alive,
            record: self.record.clone(),
        }))
    }
}

struct FakeInstance {
    id: String,
    alive: Arc<AtomicBool>,
    record: Shared,
}

#[async_trait]
impl Instance for FakeInstance {
    fn id(&self) -> &str {
        &self.id
    }

    async fn invoke(
        &mut self,
        request_id: &str,
        _: &RawValue,
        _: Duration,
    ) -> Result<RespPayload, SandboxError> {
        Ok(RespPayload {
            request_id: request_id.to_string(),
            ..RespPayload::default()
        })
    }

    fn is_alive(&mut self) -> bool {
        self.alive.load(Ordering::SeqCst)
    }

    async fn stop(self: Box<Self>) {
        self.alive.store(false, Ordering::SeqCst);
        self.record.lock().expect("record").stopped.push(self.id);
    }
}

fn spec(version: u64) -> Arc<FunctionSpec> {
    Arc::new(FunctionSpec {
        version,
        ..FunctionSpec::with_defaults("f", Runtime::Python, format!("v{version}").into_bytes())
    })
}

fn spec_with(version: u64, min_replicas: u32, max_replicas: u32) -> Arc<FunctionSpec> {
    Arc::new(FunctionSpec {
        min_replicas,
        max_replicas,
        ..(*spec(version)).clone()
    })
}

fn id_of(lease: &mut Lease) -> String {
    lease.instance().id().to_string()
}

/// Lets spawned tasks (background stops, creations) run until nothing is left to do.
async fn settle() {
    for _ in 0..50 {
        tokio::task::yield_now().await;
    }
}

/// (instances, idle, cold starts) of the pool.
fn counts(pool: &Pool) -> (usize, usize, u64) {
    let s = pool.stats();
    (s.instances, s.idle, s.cold_starts)
}

#[tokio::test(start_paused = true)]
async fn warm_instances_are_reused_most_recently_used_first() {
    let (fake, pool, s) = (Fake::new(), Arc::new(Pool::new("f")), spec(1));
    let backend = fake.backend();
    let mut a = pool.acquire(&s, &backend).await.expect("a");
    let mut b = pool.acquire(&s, &backend).await.expect("b");
    let mut c = pool.acquire(&s, &backend).await.expect("c");
    assert!(a.cold_start() && b.cold_start() && c.cold_start());
    let (ia, ib, ic) = (id_of(&mut a), id_of(&mut b), id_of(&mut c));
    assert_eq!(fake.created(), [ia.as_str(), &ib, &ic]);
    // Released in the order b, c, a: a is the most recently used.
    b.release();
    c.release();
    a.release();
    assert_eq!(counts(&pool), (3, 3, 3));

    let mut warm = pool.acquire(&s, &backend).await.expect("warm");
    assert!(!warm.cold_start());
    assert_eq!(id_of(&mut warm), ia, "the most recently used goes first");
    warm.release();
    let mut again = pool.acquire(&s, &backend).await.expect("again");
    assert_eq!(id_of(&mut again), ia, "and again after its release");
    let mut next = pool.acquire(&s, &backend).await.expect("next");
    assert_eq!(id_of(&mut next), ic, "then the next most recent");
    again.release();
    next.release();
    settle().await;
    assert_eq!(fake.created().len(), 3, "no creation while one was idle");
    assert_eq!(fake.stopped(), Vec::<String>::new());
    assert_eq!(counts(&pool), (3, 3, 3));
}

#[tokio::test(start_paused = true)]
async fn concurrent_cold_callers_share_one_creation() {
    let (fake, pool, s) = (Fake::gated(), Arc::new(Pool::new("f")), spec(1));
    let backend = fake.backend();
    let served = Arc::new(Mutex::new(Vec::new()));
    let callers: Vec<_> = (0..10)
        .map(|_| {
            let (pool, s, backend, served) =
                (pool.clone(), s.clone(), backend.clone(), served.clone());
            tokio::spawn(async move {
                let mut lease = pool.acquire(&s, &backend).await.expect("acquire");
                served
                    .lock()
                    .expect("served")
                    .push((id_of(&mut lease), lease.cold_start()));
                lease.release();
            })
        })
        .collect();
    settle().await;
    assert_eq!(
        fake.started.load(Ordering::SeqCst),
        1,
        "ten cold callers, one creation"
    );
    assert!(served.lock().expect("served").is_empty());
    assert_eq!(counts(&pool), (1, 0, 0), "the creation counts as live");

    // One creation finishes: its caller and the waiters it releases to are served by it.
    fake.open(1);
    settle().await;
    // A waiter that woke to the finished creation while its instance was still on the way may
    // have started a second one; it is held at the gate. Let it through.
    fake.open(10);
    for caller in callers {
        caller.await.expect("caller");
    }
    let served = served.lock().expect("served").clone();
    assert_eq!(served.len(), 10);
    let cold = served.iter().filter(|(_, cold)| *cold).count();
    let created = fake.created();
    assert_eq!(
        cold,
        created.len(),
        "each creation served exactly one caller cold"
    );
    assert!(created.len() <= 2, "{created:?} created for 10 callers");
    assert_eq!(
        fake.max_running.load(Ordering::SeqCst),
        1,
        "one creation at a time"
    );
    assert_eq!(served[0], (created[0].clone(), true));
    assert_eq!(counts(&pool), (created.len(), created.len(), cold as u64));
}

#[tokio::test(start_paused = true)]
async fn max_replicas_caps_instances_and_waiters_get_released_ones() {
    let (fake, pool, s) = (Fake::new(), Arc::new(Pool::new("f")), spec_with(1, 0, 2));
    let backend = fake.backend();
    let mut a = pool.acquire(&s, &backend).await.expect("a");
    let b = pool.acquire(&s, &backend).await.expect("b");
    // A third caller waits: there is no room for another instance.
    let third = tokio::time::timeout(Duration::from_secs(5), pool.acquire(&s, &backend)).await;
    assert!(third.is_err(), "a third instance was handed out");
    assert_eq!(fake.started.load(Ordering::SeqCst), 2);

    let waiter = {
        let (pool, s, backend) = (pool.clone(), s.clone(), backend.clone());
        tokio::spawn(async move {
            let mut lease = pool.acquire(&s, &backend).await.expect("waiter");
            (id_of(&mut lease), lease.cold_start(), lease)
        })
    };
    settle().await;
    assert!(!waiter.is_finished());
    let released = id_of(&mut a);
    a.release();
    let (got, cold, lease) = waiter.await.expect("waiter");
    assert_eq!(
        (got, cold),
        (released, false),
        "the waiter gets the released instance"
    );
    assert_eq!(fake.created().len(), 2);
    assert_eq!(counts(&pool), (2, 0, 2));
    lease.release();
    b.release();
    assert_eq!(counts(&pool), (2, 2, 2));
}

#[tokio::test(start_paused = true)]
async fn idle_instances_expire_after_the_ttl_but_never_below_min_replicas() {
    let (fake, pool, s) = (Fake::new(), Arc::new(Pool::new("f")), spec_with(1, 1, 0));
    let backend = fake.backend();
    let mut leases = Vec::new();
    for _ in 0..3 {
        leases.push(pool.acquire(&s, &backend).await.expect("acquire"));
    }
    let ids: Vec<String> = leases.iter_mut().map(id_of).collect();
    for lease in leases {
        lease.release();
    }
    pool.sweep(Instant::now(), TTL, true).await;
    assert_eq!(counts(&pool), (3, 3, 3), "nothing expired yet");
    assert_eq!(fake.stopped(), Vec::<String>::new());

    pool.sweep(Instant::now() + TTL, TTL, true).await;
    assert_eq!(
        fake.stopped(),
        ids[..2],
        "the least recently used go first, and stop before the sweep returns"
    );
    assert_eq!(counts(&pool), (1, 1, 3), "min_replicas stays");
    pool.sweep(Instant::now() + 10 * TTL, TTL, true).await;
    assert_eq!(counts(&pool), (1, 1, 3), "still min_replicas, however long");
    let mut kept = pool.acquire(&s, &backend).await.expect("kept");
    assert_eq!(id_of(&mut kept), ids[2]);
    assert!(!kept.cold_start());
}

#[tokio::test(start_paused = true)]
async fn without_min_replicas_every_idle_instance_expires_and_the_next_call_is_cold() {
    let (fake, pool, s) = (Fake::new(), Arc::new(Pool::new("f")), spec(1));
    let backend = fake.backend();
    pool.acquire(&s, &backend).await.expect("a").release();
    pool.sweep(Instant::now() + TTL, TTL, true).await;
    assert_eq!(fake.stopped(), ["i1"]);
    assert_eq!(counts(&pool), (0, 0, 1));
    let mut next = pool.acquire(&s, &backend).await.expect("next");
    assert!(next.cold_start());
    assert_eq!(id_of(&mut next), "i2");
}

#[tokio::test(start_paused = true)]
async fn a_sweep_stops_dead_idle_instances_even_below_min_replicas() {
    let (fake, pool, s) = (Fake::new(), Arc::new(Pool::new("f")), spec_with(1, 2, 0));
    let backend = fake.backend();
    assert_eq!(pool.prewarm(&s, &backend).await.expect("prewarm"), 2);
    assert_eq!(
        counts(&pool),
        (2, 2, 0),
        "prewarmed instances are not cold starts"
    );
    assert!(pool.spec_needing_replicas().is_none());
    fake.kill("i1");
    pool.sweep(Instant::now(), TTL, true).await;
    assert_eq!(fake.stopped(), ["i1"]);
    assert_eq!(counts(&pool), (1, 1, 0));
    let needed = pool.spec_needing_replicas().expect("below min_replicas");
    assert_eq!(needed.version, 1);
    assert_eq!(pool.prewarm(&needed, &backend).await.expect("refill"), 1);
    assert_eq!(fake.created(), ["i1", "i2", "i3"]);
}

mod side_by_side;
mod versions_and_deaths;
