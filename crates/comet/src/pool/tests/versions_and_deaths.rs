//! The pool against the fake: replaced code, dead instances, abandoned leases, closing.

use super::*;

/// A pool holds one version: the same version with other code (a replaced spec) stops the
/// instances of the old code. Versions side by side are `side_by_side`'s.
#[tokio::test(start_paused = true)]
async fn the_same_version_with_new_code_replaces_the_old_code() {
    let (fake, pool) = (Fake::new(), Arc::new(Pool::new("f")));
    let backend = fake.backend();
    pool.acquire(&spec(1), &backend)
        .await
        .expect("old")
        .release();
    let recoded = Arc::new(FunctionSpec {
        code_hash: "another-hash".into(),
        ..(*spec(1)).clone()
    });
    let mut new = pool.acquire(&recoded, &backend).await.expect("new code");
    assert!(new.cold_start());
    assert_eq!(id_of(&mut new), "i2");
    settle().await;
    assert_eq!(fake.stopped(), ["i1"]);
}

#[tokio::test(start_paused = true)]
async fn a_dead_idle_instance_is_replaced_not_reused() {
    let (fake, pool, s) = (Fake::new(), Arc::new(Pool::new("f")), spec(1));
    let backend = fake.backend();
    pool.acquire(&s, &backend).await.expect("a").release();
    fake.kill("i1");
    let mut next = pool.acquire(&s, &backend).await.expect("next");
    assert!(next.cold_start(), "a dead instance must not be reused");
    assert_eq!(id_of(&mut next), "i2");
    settle().await;
    assert_eq!(fake.stopped(), ["i1"]);
    assert_eq!(counts(&pool), (1, 0, 2));
}

#[tokio::test(start_paused = true)]
async fn an_instance_that_dies_during_its_call_is_not_taken_back() {
    let (fake, pool, s) = (Fake::new(), Arc::new(Pool::new("f")), spec(1));
    let backend = fake.backend();
    let lease = pool.acquire(&s, &backend).await.expect("a");
    fake.kill("i1");
    lease.release();
    settle().await;
    assert_eq!(fake.stopped(), ["i1"]);
    assert_eq!(counts(&pool), (0, 0, 1));

    // A failed call discards its instance whatever it says about itself.
    let lease = pool.acquire(&s, &backend).await.expect("b");
    lease.discard();
    settle().await;
    assert_eq!(fake.stopped(), ["i1", "i2"]);
    assert_eq!(counts(&pool), (0, 0, 2));
}

#[tokio::test(start_paused = true)]
async fn an_abandoned_lease_stops_its_instance() {
    let (fake, pool, s) = (Fake::new(), Arc::new(Pool::new("f")), spec(1));
    let backend = fake.backend();
    let lease = pool.acquire(&s, &backend).await.expect("a");
    drop(lease);
    settle().await;
    assert_eq!(fake.stopped(), ["i1"], "its state is unknown: stopped");
    assert_eq!(counts(&pool), (0, 0, 1));
    let mut next = pool.acquire(&s, &backend).await.expect("next");
    assert!(next.cold_start());
    assert_eq!(id_of(&mut next), "i2");
}

#[tokio::test(start_paused = true)]
async fn a_caller_gone_mid_creation_leaves_the_instance_idle_not_leaked() {
    let (fake, pool, s) = (Fake::gated(), Arc::new(Pool::new("f")), spec(1));
    let backend = fake.backend();
    let caller = {
        let (pool, s, backend) = (pool.clone(), s.clone(), backend.clone());
        tokio::spawn(async move { pool.acquire(&s, &backend).await.map(drop) })
    };
    settle().await;
    assert_eq!(fake.started.load(Ordering::SeqCst), 1);
    caller.abort();
    assert!(caller.await.expect_err("aborted").is_cancelled());
    fake.open(1);
    settle().await;
    assert_eq!(counts(&pool), (1, 1, 0), "the finished creation went idle");
    assert_eq!(fake.stopped(), Vec::<String>::new());
    let mut next = pool.acquire(&s, &backend).await.expect("next");
    assert_eq!(id_of(&mut next), "i1");
    assert!(!next.cold_start());
}

#[tokio::test(start_paused = true)]
async fn a_failed_creation_frees_its_slot() {
    let (fake, pool, s) = (Fake::new(), Arc::new(Pool::new("f")), spec_with(1, 0, 1));
    let backend = fake.backend();
    fake.failures.store(1, Ordering::SeqCst);
    match pool.acquire(&s, &backend).await {
        Err(InvokeError::Start { function, .. }) => assert_eq!(function, "f"),
        Err(e) => panic!("expected a start error, got {e}"),
        Ok(_) => panic!("expected a start error, got an instance"),
    }
    assert_eq!(counts(&pool), (0, 0, 0));
    let mut lease = pool
        .acquire(&s, &backend)
        .await
        .expect("the slot is free again");
    assert_eq!(id_of(&mut lease), "i1");
    assert!(lease.cold_start());
}

#[tokio::test(start_paused = true)]
async fn closing_stops_idle_instances_refuses_calls_and_stops_leased_ones_on_return() {
    let (fake, pool, s) = (Fake::new(), Arc::new(Pool::new("f")), spec(1));
    let backend = fake.backend();
    let idle = pool.acquire(&s, &backend).await.expect("idle");
    let busy = pool.acquire(&s, &backend).await.expect("busy");
    idle.release();
    pool.close().await;
    assert_eq!(fake.stopped(), ["i1"]);
    assert!(matches!(
        pool.acquire(&s, &backend).await,
        Err(InvokeError::ShuttingDown)
    ));
    busy.release();
    settle().await;
    assert_eq!(fake.stopped(), ["i1", "i2"]);
    assert_eq!(counts(&pool), (0, 0, 2));
    assert!(pool.spec_needing_replicas().is_none());
}

#[tokio::test(start_paused = true)]
async fn closing_wakes_a_waiter() {
    let (fake, pool, s) = (Fake::new(), Arc::new(Pool::new("f")), spec_with(1, 0, 1));
    let backend = fake.backend();
    let busy = pool.acquire(&s, &backend).await.expect("busy");
    let waiter = {
        let (pool, s, backend) = (pool.clone(), s.clone(), backend.clone());
        tokio::spawn(async move { pool.acquire(&s, &backend).await.map(drop) })
    };
    settle().await;
    assert!(!waiter.is_finished());
    pool.close().await;
    assert!(matches!(
        waiter.await.expect("waiter"),
        Err(InvokeError::ShuttingDown)
    ));
    drop(busy);
    settle().await;
    assert_eq!(fake.stopped(), ["i1"]);
}

#[tokio::test(start_paused = true)]
async fn prewarm_reaches_min_replicas_once_and_callers_use_those() {
    let (fake, pool, s) = (Fake::new(), Arc::new(Pool::new("f")), spec_with(1, 2, 0));
    let backend = fake.backend();
    assert!(
        pool.spec_needing_replicas().is_none(),
        "not managed before a prewarm"
    );
    assert_eq!(pool.prewarm(&s, &backend).await.expect("prewarm"), 2);
    assert_eq!(pool.prewarm(&s, &backend).await.expect("again"), 0);
    assert_eq!(counts(&pool), (2, 2, 0));
    let mut lease = pool.acquire(&s, &backend).await.expect("warm");
    assert!(!lease.cold_start());
    assert_eq!(id_of(&mut lease), "i2");
    assert_eq!(fake.created(), ["i1", "i2"]);
}
