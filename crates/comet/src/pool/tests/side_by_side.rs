//! A function's versions side by side ([`Versions`]) against the fake: each call gets an
//! instance of its own version, a new version stops nothing, old versions go at the idle TTL,
//! `min_replicas` is the newest version's, `max_replicas` holds per version, and an evict stops
//! every version.

use nova_api::InvokeRequest;

use super::*;
use crate::executor::{Executor, ExecutorConfig};

/// A lease on an instance of `s`, from its version's pool.
async fn take(versions: &Versions, s: &Arc<FunctionSpec>, backend: &Arc<dyn Backend>) -> Lease {
    let pool = versions.pool(s).await.expect("pool");
    pool.acquire(s, backend).await.expect("acquire")
}

/// (instances, idle, cold starts) of the function, every version together.
fn totals(versions: &Versions) -> (usize, usize, u64) {
    let s = versions.stats();
    (s.instances, s.idle, s.cold_starts)
}

#[tokio::test(start_paused = true)]
async fn two_versions_stay_warm_side_by_side_and_each_call_gets_its_own() {
    let (fake, versions) = (Fake::new(), Versions::new("f"));
    let backend = fake.backend();
    let (v1, v3) = (spec(1), spec(3));
    let mut first = take(&versions, &v1, &backend).await;
    let one = id_of(&mut first);
    first.release();
    let mut newest = take(&versions, &v3, &backend).await;
    assert!(newest.cold_start(), "v3 must not run on a v1 instance");
    let three = id_of(&mut newest);
    newest.release();
    assert_eq!((fake.version_of(&one), fake.version_of(&three)), (1, 3));

    for round in 0..5 {
        for (s, want) in [(&v1, &one), (&v3, &three), (&v1, &one)] {
            let mut lease = take(&versions, s, &backend).await;
            assert!(
                !lease.cold_start(),
                "round {round}: v{} was cold",
                s.version
            );
            assert_eq!(&id_of(&mut lease), want, "round {round}: v{}", s.version);
            lease.release();
        }
    }
    settle().await;
    assert_eq!(fake.created().len(), 2);
    assert_eq!(fake.stopped(), Vec::<String>::new(), "v3 stopped nothing");
    assert_eq!(versions.by_version(), [(1, 1, 1), (3, 1, 1)]);
    assert_eq!(totals(&versions), (2, 2, 2));
}

#[tokio::test(start_paused = true)]
async fn a_new_version_leaves_old_instances_idle_and_leased_running() {
    let (fake, versions) = (Fake::new(), Versions::new("f"));
    let backend = fake.backend();
    let (v1, v2) = (spec(1), spec(2));
    let idle = take(&versions, &v1, &backend).await;
    let busy = take(&versions, &v1, &backend).await;
    idle.release();
    let mut new = take(&versions, &v2, &backend).await;
    assert!(new.cold_start());
    assert_eq!(fake.version_of(&id_of(&mut new)), 2);
    busy.release();
    new.release();
    settle().await;
    assert_eq!(fake.stopped(), Vec::<String>::new());
    assert_eq!(versions.by_version(), [(1, 2, 2), (2, 1, 1)]);
    let warm = take(&versions, &v1, &backend).await;
    assert!(!warm.cold_start(), "v1 is still warm after v2 came");
}

#[tokio::test(start_paused = true)]
async fn a_call_carrying_an_older_spec_gets_its_own_code() {
    let (fake, versions) = (Fake::new(), Versions::new("f"));
    let backend = fake.backend();
    take(&versions, &spec(2), &backend).await.release();
    let mut late = take(&versions, &spec(1), &backend).await;
    assert!(late.cold_start());
    assert_eq!(fake.version_of(&id_of(&mut late)), 1, "v1 runs v1's code");
    late.release();
    let mut newest = take(&versions, &spec(2), &backend).await;
    assert!(!newest.cold_start());
    assert_eq!(fake.version_of(&id_of(&mut newest)), 2);
}

#[tokio::test(start_paused = true)]
async fn an_old_version_goes_at_the_ttl_and_only_the_newest_keeps_min_replicas() {
    let (fake, versions) = (Fake::new(), Versions::new("f"));
    let backend = fake.backend();
    let (v1, v2) = (spec_with(1, 1, 0), spec_with(2, 1, 0));
    assert_eq!(versions.prewarm(&v1, &backend).await.expect("v1"), 1);
    assert_eq!(versions.prewarm(&v2, &backend).await.expect("v2"), 1);
    assert_eq!(
        versions.prewarm(&v1, &backend).await.expect("v1 again"),
        0,
        "an old version is not pre-warmed"
    );
    assert_eq!(fake.created(), ["i1", "i2"]);
    let now = Instant::now();
    versions.sweep(now, TTL, &backend).await;
    assert_eq!(fake.stopped(), Vec::<String>::new(), "nothing expired yet");

    versions.sweep(now + TTL, TTL, &backend).await;
    assert_eq!(fake.stopped(), ["i1"], "v1's idle instance went at the TTL");
    assert_eq!(versions.by_version(), [(2, 1, 1)], "and its pool with it");
    versions.sweep(now + 10 * TTL, TTL, &backend).await;
    assert_eq!(versions.by_version(), [(2, 1, 1)], "v2 keeps min_replicas");

    // v1 called again starts afresh, and is reclaimed again.
    let lease = take(&versions, &v1, &backend).await;
    assert!(lease.cold_start());
    lease.release();
    assert_eq!(totals(&versions), (2, 2, 1));
    versions.sweep(Instant::now() + TTL, TTL, &backend).await;
    assert_eq!(fake.stopped(), ["i1", "i3"]);
    assert_eq!(
        totals(&versions),
        (1, 1, 1),
        "cold starts outlive v1's pool"
    );
}

#[tokio::test(start_paused = true)]
async fn the_sweep_keeps_an_old_version_busy_or_held_by_a_caller() {
    let (fake, versions) = (Fake::new(), Versions::new("f"));
    let backend = fake.backend();
    let busy = take(&versions, &spec(1), &backend).await;
    take(&versions, &spec(2), &backend).await.release();
    versions.sweep(Instant::now() + TTL, TTL, &backend).await;
    assert_eq!(versions.by_version(), [(1, 1, 0), (2, 0, 0)]);
    busy.release();
    // A caller holds v1's pool and has not acquired yet: the pool must not be forgotten under it.
    let held = versions.pool(&spec(1)).await.expect("pool");
    versions
        .sweep(Instant::now() + 2 * TTL, TTL, &backend)
        .await;
    assert_eq!(versions.by_version(), [(1, 0, 0), (2, 0, 0)]);
    let lease = held.acquire(&spec(1), &backend).await.expect("acquire");
    lease.release();
    assert_eq!(versions.by_version(), [(1, 1, 1), (2, 0, 0)]);
    drop(held);
    versions
        .sweep(Instant::now() + 3 * TTL, TTL, &backend)
        .await;
    assert_eq!(versions.by_version(), [(2, 0, 0)]);
    settle().await;
    assert_eq!(fake.stopped(), ["i2", "i1", "i3"]);
}

#[tokio::test(start_paused = true)]
async fn max_replicas_holds_per_version() {
    let (fake, versions) = (Fake::new(), Versions::new("f"));
    let backend = fake.backend();
    let (v1, v2) = (spec_with(1, 0, 1), spec_with(2, 0, 1));
    let one = take(&versions, &v1, &backend).await;
    let two = take(&versions, &v2, &backend).await;
    assert!(two.cold_start(), "v2 has room of its own");
    let pool = versions.pool(&v1).await.expect("pool");
    let second = tokio::time::timeout(Duration::from_secs(5), pool.acquire(&v1, &backend)).await;
    assert!(second.is_err(), "a second v1 instance was handed out");
    let pool = versions.pool(&v2).await.expect("pool");
    let second = tokio::time::timeout(Duration::from_secs(5), pool.acquire(&v2, &backend)).await;
    assert!(second.is_err(), "a second v2 instance was handed out");
    assert_eq!(fake.created().len(), 2);
    assert_eq!(totals(&versions), (2, 0, 2));
    drop((one, two));
}

#[tokio::test(start_paused = true)]
async fn the_same_version_with_new_code_replaces_it_and_the_versions_above() {
    let (fake, versions) = (Fake::new(), Versions::new("f"));
    let backend = fake.backend();
    take(&versions, &spec(1), &backend).await.release();
    take(&versions, &spec(2), &backend).await.release();
    // Deleted and registered again while an evict could not reach us: version 1, other code.
    let recoded = Arc::new(FunctionSpec {
        code_hash: "another-hash".into(),
        ..(*spec(1)).clone()
    });
    let mut new = take(&versions, &recoded, &backend).await;
    assert!(new.cold_start());
    assert_eq!(id_of(&mut new), "i3");
    new.release();
    settle().await;
    let mut stopped = fake.stopped();
    stopped.sort();
    assert_eq!(stopped, ["i1", "i2"], "the old code's instances stopped");
    assert_eq!(versions.by_version(), [(1, 1, 1)]);
    assert_eq!(totals(&versions), (1, 1, 3));
}

#[tokio::test(start_paused = true)]
async fn closing_stops_every_version() {
    let (fake, versions) = (Fake::new(), Versions::new("f"));
    let backend = fake.backend();
    take(&versions, &spec(1), &backend).await.release();
    let busy = take(&versions, &spec(2), &backend).await;
    versions.close().await;
    assert_eq!(fake.stopped(), ["i1"]);
    assert!(matches!(
        versions.pool(&spec(1)).await,
        Err(InvokeError::ShuttingDown)
    ));
    busy.release();
    settle().await;
    assert_eq!(fake.stopped(), ["i1", "i2"]);
    assert_eq!(totals(&versions), (0, 0, 2));
}

fn request(id: &str) -> InvokeRequest {
    InvokeRequest {
        request_id: id.to_string(),
        payload: RawValue::from_string("{}".into()).expect("json"),
    }
}

#[tokio::test(start_paused = true)]
async fn the_executor_runs_the_version_each_call_carries_and_evicts_them_all() {
    let fake = Fake::new();
    let executor = Executor::new(fake.backend(), ExecutorConfig { idle_ttl: TTL });
    let mut seen = Vec::new();
    for (i, version) in [1, 3, 1, 3, 3, 1].into_iter().enumerate() {
        let response = executor
            .invoke(spec(version), request(&i.to_string()))
            .await
            .expect("invoke");
        seen.push((response.version, response.cold_start));
    }
    assert_eq!(
        seen,
        [
            (Some(1), true),
            (Some(3), true),
            (Some(1), false),
            (Some(3), false),
            (Some(3), false),
            (Some(1), false)
        ]
    );
    let stats = executor.stats();
    assert_eq!(stats.len(), 1, "one entry per function");
    let s = &stats[0];
    assert_eq!(
        (s.instances, s.idle, s.invocations, s.cold_starts),
        (2, 2, 6, 2)
    );
    executor.evict("f").await;
    assert_eq!(fake.stopped(), ["i1", "i2"], "every version stopped");
    assert!(executor.stats().is_empty());
    executor.shutdown().await;
}
