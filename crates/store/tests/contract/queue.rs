//! The contract of [`QueueStore`]: durable enqueue, idempotency keys, claims under leases (an
//! expired one claimable again, the late holder refused), outcomes, listing and manual retry.

use std::collections::HashSet;

use nova_store::{
    AsyncConfig, AsyncQuery, AsyncStatus, FunctionStore, Kind, NewAsyncInvocation, Outcome,
    QueueStore, Retried, StoreError,
};

fn new(function: &str, key: Option<&str>) -> NewAsyncInvocation {
    NewAsyncInvocation {
        id: uuid::Uuid::new_v4().simple().to_string(),
        function: function.into(),
        qualifier: "$LATEST".into(),
        payload: serde_json::json!({"n": 1}),
        max_attempts: 3,
        idempotency_key: key.map(str::to_string),
        dedupe_window_ms: 60_000,
    }
}

const LEASE: i64 = 60_000;

pub async fn queue(store: &dyn QueueStore, p: &str) {
    let f = format!("{p}-async");
    // Enqueue, then the same key again: the first id, nothing stored.
    let first = new(&f, Some("k1"));
    let (stored, created) = store.enqueue(&first).await.expect("enqueue");
    assert!(created);
    assert_eq!(
        (stored.id.as_str(), stored.status),
        (first.id.as_str(), AsyncStatus::Queued)
    );
    assert_eq!((stored.attempts, stored.max_attempts), (0, 3));
    assert_eq!(stored.payload, serde_json::json!({"n": 1}));
    let (again, created) = store.enqueue(&new(&f, Some("k1"))).await.expect("again");
    assert!(!created);
    assert_eq!(again.id, first.id);
    // The key is per function, and stands only for its window.
    let (other, created) = store
        .enqueue(&new(&format!("{f}2"), Some("k1")))
        .await
        .expect("other");
    assert!(created && other.id != first.id);
    let expired = NewAsyncInvocation {
        dedupe_window_ms: 0,
        ..new(&f, Some("k1"))
    };
    let (fresh, created) = store.enqueue(&expired).await.expect("after the window");
    assert!(created && fresh.id != first.id);
    let (third, _) = store.enqueue(&new(&f, Some("k1"))).await.expect("third");
    assert_eq!(third.id, fresh.id, "the new first holds the key now");

    // Claims: a busy function is skipped; each row goes to one claimer.
    let skipped = store
        .claim(100, &[f.clone(), format!("{f}2")], LEASE)
        .await
        .expect("claim");
    assert!(
        skipped.iter().all(|c| !c.function.starts_with(&f)),
        "{skipped:?}"
    );
    let claimed = store.claim(100, &[], LEASE).await.expect("claim");
    let ours: Vec<_> = claimed.iter().filter(|c| c.function == f).collect();
    assert_eq!(ours.len(), 2);
    assert!(
        ours.iter()
            .all(|c| c.status == AsyncStatus::Running && c.attempts == 1)
    );
    assert!(ours.iter().all(|c| c.lease_until_ms.is_some()));
    assert!(
        store
            .claim(100, &[], LEASE)
            .await
            .expect("claim")
            .is_empty()
    );

    // A retry later: failed, not claimable until due; a wrong attempt number changes nothing.
    let later = comet_util::now_ms() + 60_000;
    let retry = Outcome::Retry {
        error: "boom".into(),
        next_attempt_at_ms: later,
        version: Some(1),
    };
    assert!(
        !store
            .finish(&first.id, 2, &retry, None)
            .await
            .expect("finish")
    );
    assert!(
        store
            .finish(&first.id, 1, &retry, None)
            .await
            .expect("finish")
    );
    assert!(
        !store
            .finish(&first.id, 1, &retry, None)
            .await
            .expect("twice"),
        "not running any more"
    );
    let got = store
        .get_async(&first.id)
        .await
        .expect("get")
        .expect("found");
    assert_eq!(got.status, AsyncStatus::Failed);
    assert_eq!(
        (
            got.errors.len(),
            got.errors[0].attempt,
            got.errors[0].error.as_str()
        ),
        (1, 1, "boom")
    );
    assert_eq!(
        (got.next_attempt_at_ms, got.version, got.lease_until_ms),
        (later, Some(1), None)
    );
    assert!(
        store
            .next_due()
            .await
            .expect("next due")
            .is_some_and(|d| d <= later)
    );
    assert!(
        store
            .claim(100, &[], LEASE)
            .await
            .expect("claim")
            .iter()
            .all(|c| c.id != first.id)
    );

    // Due now: claimed again as attempt 2, dead-lettered, then retried by hand.
    let now = Outcome::Retry {
        error: "again".into(),
        next_attempt_at_ms: 0,
        version: None,
    };
    let (_, made) = store
        .enqueue(&new(&f, None))
        .await
        .map(|(i, c)| (i.id, c))
        .expect("enqueue");
    assert!(made);
    let c = store.claim(100, &[], LEASE).await.expect("claim");
    let id = c.iter().find(|c| c.function == f).expect("ours").id.clone();
    assert!(store.finish(&id, 1, &now, None).await.expect("finish"));
    let c = store.claim(100, &[], LEASE).await.expect("claim");
    assert_eq!(c.iter().find(|c| c.id == id).expect("again").attempts, 2);
    let dead = Outcome::DeadLetter {
        error: "last".into(),
        version: None,
    };
    assert!(store.finish(&id, 2, &dead, None).await.expect("dead"));
    let got = store.get_async(&id).await.expect("get").expect("found");
    assert_eq!(
        (got.status, got.errors.len()),
        (AsyncStatus::DeadLettered, 2)
    );
    match store.retry_async(&id).await.expect("retry") {
        Retried::Queued(inv) => assert_eq!(
            (inv.status, inv.attempts, inv.errors.len()),
            (AsyncStatus::Queued, 0, 2)
        ),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        store.retry_async(&id).await.expect("retry"),
        Retried::NotDeadLettered(AsyncStatus::Queued)
    ));
    let missing = store.retry_async("nope").await.expect_err("missing");
    assert!(
        matches!(
            missing,
            StoreError::NotFound {
                kind: Kind::AsyncInvocation,
                ..
            }
        ),
        "{missing:?}"
    );

    // An expired lease: claimed again under the same id; the late holder cannot finish.
    let c = store
        .claim(100, &[], -1)
        .await
        .expect("claim with a lease already over");
    assert!(c.iter().any(|c| c.id == id && c.attempts == 1));
    let c = store.claim(100, &[], LEASE).await.expect("reclaim");
    assert!(c.iter().any(|c| c.id == id && c.attempts == 2), "{c:?}");
    let ok = Outcome::Succeeded {
        result: serde_json::json!({"ok": true}),
        version: 3,
    };
    assert!(!store.finish(&id, 1, &ok, None).await.expect("late"));
    store
        .renew(std::slice::from_ref(&id), LEASE)
        .await
        .expect("renew");
    assert!(store.finish(&id, 2, &ok, None).await.expect("finish"));
    let got = store.get_async(&id).await.expect("get").expect("found");
    assert_eq!(
        (got.status, got.result, got.version),
        (
            AsyncStatus::Succeeded,
            Some(serde_json::json!({"ok": true})),
            Some(3)
        )
    );

    // Listing, newest first, with filters.
    let all = AsyncQuery {
        function: Some(f.clone()),
        limit: 100,
        ..Default::default()
    };
    let listed = store.list_async(&all).await.expect("list");
    assert_eq!(listed.len(), 3);
    assert!(
        listed
            .windows(2)
            .all(|w| w[0].created_at_ms >= w[1].created_at_ms)
    );
    let done = AsyncQuery {
        status: Some(AsyncStatus::Succeeded),
        ..all.clone()
    };
    assert_eq!(store.list_async(&done).await.expect("list").len(), 1);
    let page = AsyncQuery {
        limit: 1,
        offset: 1,
        ..all
    };
    assert_eq!(store.list_async(&page).await.expect("page").len(), 1);

    // Two claimers at once never get the same row.
    let g = format!("{p}-race");
    for _ in 0..40 {
        store.enqueue(&new(&g, None)).await.expect("enqueue");
    }
    let mut seen = HashSet::new();
    loop {
        let (a, b) = tokio::join!(store.claim(7, &[], LEASE), store.claim(7, &[], LEASE));
        let (a, b) = (a.expect("claim a"), b.expect("claim b"));
        if a.is_empty() && b.is_empty() {
            break;
        }
        for c in a.iter().chain(&b) {
            assert!(seen.insert(c.id.clone()), "claimed twice: {}", c.id);
        }
    }
    assert!(seen.len() >= 40);
}

/// A batch enqueued in one transaction; a destination enqueued with the outcome that names it
/// (and not by a late holder); each function's async settings, gone with the function.
pub async fn batches_destinations_and_configs(
    functions: &dyn FunctionStore,
    store: &dyn QueueStore,
    p: &str,
) {
    let f = format!("{p}-batch");
    let batch = vec![new(&f, Some("b1")), new(&f, None), new(&f, Some("b1"))];
    let stored = store.enqueue_all(&batch).await.expect("a batch");
    assert_eq!(stored.len(), 3);
    assert!(stored[0].1 && stored[1].1 && !stored[2].1, "{stored:?}");
    assert_eq!(stored[2].0.id, batch[0].id, "the key's first holds it");
    for (invocation, _) in &stored[..2] {
        let got = store.get_async(&invocation.id).await.expect("get");
        assert_eq!(
            got.as_ref(),
            Some(invocation),
            "what enqueue returned is what is stored"
        );
    }
    assert!(store.enqueue_all(&[]).await.expect("empty").is_empty());

    // A success that names a destination enqueues it in its transaction; a late one does not.
    let claimed = store.claim(100, &[], LEASE).await.expect("claim");
    let mine = claimed
        .iter()
        .find(|c| c.id == batch[0].id)
        .expect("the batch's first is claimable");
    let ok = Outcome::Succeeded {
        result: serde_json::json!({"done": 1}),
        version: 1,
    };
    let late = new(&format!("{f}-late"), None);
    assert!(
        !store
            .finish(&mine.id, mine.attempts + 1, &ok, Some(&late))
            .await
            .expect("late")
    );
    assert!(store.get_async(&late.id).await.expect("get").is_none());
    let then = new(&format!("{f}-then"), None);
    assert!(
        store
            .finish(&mine.id, mine.attempts, &ok, Some(&then))
            .await
            .expect("finish")
    );
    let queued = store
        .get_async(&then.id)
        .await
        .expect("get")
        .expect("queued");
    assert_eq!(queued.status, AsyncStatus::Queued);

    // Settings: only for a function that exists, replaced whole, deleted with the function.
    let g = format!("{p}-configured");
    let config = AsyncConfig {
        max_attempts: Some(5),
        max_event_age_s: Some(3600),
        concurrency: None,
        on_success: Some(format!("{p}-fn")),
        on_failure: None,
    };
    match store.put_async_config(&g, &config).await {
        Err(StoreError::NotFound {
            kind: Kind::Function,
            name,
        }) => assert_eq!(name, g),
        other => panic!("settings of no function: {other:?}"),
    }
    assert!(
        !store
            .async_configs()
            .await
            .expect("list")
            .iter()
            .any(|(n, _)| n == &g)
    );
    functions
        .insert_function(&crate::function(&g, b"print(1)", 1), b"print(1)")
        .await
        .expect("create");
    store.put_async_config(&g, &config).await.expect("put");
    let listed = store.async_configs().await.expect("list");
    assert!(listed.contains(&(g.clone(), config.clone())), "{listed:?}");
    let smaller = AsyncConfig {
        concurrency: Some(2),
        ..Default::default()
    };
    store.put_async_config(&g, &smaller).await.expect("replace");
    let listed = store.async_configs().await.expect("list");
    assert!(listed.contains(&(g.clone(), smaller)), "{listed:?}");
    assert!(store.delete_async_config(&g).await.expect("delete"));
    assert!(!store.delete_async_config(&g).await.expect("again"));
    store.put_async_config(&g, &config).await.expect("put");
    assert!(
        functions
            .delete_function(&g)
            .await
            .expect("delete the function")
    );
    assert!(
        !store
            .async_configs()
            .await
            .expect("list")
            .iter()
            .any(|(n, _)| n == &g)
    );
}
