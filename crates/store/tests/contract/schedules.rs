//! The contract of [`ScheduleStore`]: schedules only of existing functions, a tick claimed
//! exactly once (the enqueue in the claim's transaction, under the key `schedule:<id>:<fire>`),
//! pause, change, delete, and a deleted function's schedules gone with it.

use nova_store::{
    FunctionStore, Kind, NewAsyncInvocation, QueueStore, Schedule, ScheduleStore, StoreError, Tick,
};

fn schedule(function: &str, id: &str, next: Option<i64>) -> Schedule {
    Schedule {
        id: id.into(),
        function: function.into(),
        cron: "@every 1s".into(),
        timezone: Some("Europe/Berlin".into()),
        payload: serde_json::json!({"tick": true}),
        qualifier: None,
        enabled: true,
        next_fire_at_ms: next,
        last_fired_at_ms: None,
        created_at_ms: 1_000,
        updated_at_ms: 1_000,
    }
}

fn call(s: &Schedule, fire: i64) -> NewAsyncInvocation {
    NewAsyncInvocation {
        id: uuid::Uuid::new_v4().simple().to_string(),
        function: s.function.clone(),
        qualifier: "$LATEST".into(),
        payload: s.payload.clone(),
        max_attempts: 3,
        idempotency_key: Some(format!("schedule:{}:{fire}", s.id)),
        dedupe_window_ms: 86_400_000,
    }
}

fn tick(s: &Schedule, read: i64, fire: i64, next: i64) -> Tick {
    Tick {
        id: s.id.clone(),
        read_ms: read,
        fire_ms: fire,
        next_ms: Some(next),
    }
}

pub async fn schedules(
    functions: &dyn FunctionStore,
    store: &dyn ScheduleStore,
    queue: &dyn QueueStore,
    p: &str,
) {
    let f = format!("{p}-sched");
    // Only of a function that exists.
    let missing = store
        .create_schedule(&schedule(&f, &format!("{p}-s0"), Some(2_000)))
        .await
        .expect_err("no such function");
    assert!(
        matches!(&missing, StoreError::NotFound { kind: Kind::Function, name } if *name == f),
        "{missing:?}"
    );
    assert!(store.list_schedules(&f).await.expect("list").is_empty());
    let code = b"def handler(e, c): return e".to_vec();
    functions
        .insert_function(&super::function(&f, &code, 1), &code)
        .await
        .expect("insert function");
    let s = schedule(&f, &format!("{p}-s1"), Some(2_000));
    let stored = store.create_schedule(&s).await.expect("create");
    assert_eq!(stored, s);
    assert_eq!(
        store.get_schedule(&f, &s.id).await.expect("get"),
        Some(s.clone())
    );
    assert_eq!(store.get_schedule("other", &s.id).await.expect("get"), None);
    let later = store
        .create_schedule(&Schedule {
            created_at_ms: 1_500,
            ..schedule(&f, &format!("{p}-s2"), Some(9_000))
        })
        .await
        .expect("create");
    let ids: Vec<String> = store
        .list_schedules(&f)
        .await
        .expect("list")
        .into_iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(ids, vec![s.id.clone(), later.id.clone()]);

    // Due: enabled with next_fire_at at or before now, earliest first.
    assert_eq!(store.next_schedule_due().await.expect("next"), Some(2_000));
    assert!(
        store
            .due_schedules(1_999, 10)
            .await
            .expect("due")
            .is_empty()
    );
    let due = store.due_schedules(2_000, 10).await.expect("due");
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].id, s.id);

    // Four claimers of one tick at once: exactly one fires, and its call is queued.
    let t = tick(&s, 2_000, 2_000, 3_000);
    let calls: Vec<NewAsyncInvocation> = (0..4).map(|_| call(&s, 2_000)).collect();
    let (a, b, c, d) = tokio::join!(
        store.fire_schedule(&t, &calls[0]),
        store.fire_schedule(&t, &calls[1]),
        store.fire_schedule(&t, &calls[2]),
        store.fire_schedule(&t, &calls[3]),
    );
    let fired: Vec<_> = [a, b, c, d]
        .into_iter()
        .filter_map(|r| r.expect("fire"))
        .collect();
    assert_eq!(fired.len(), 1, "{fired:?}");
    let queued = queue
        .get_async(&fired[0].id)
        .await
        .expect("get")
        .expect("queued");
    assert_eq!(queued.function, f);
    assert_eq!(queued.payload, serde_json::json!({"tick": true}));
    let key = format!("schedule:{}:2000", s.id);
    assert_eq!(queued.idempotency_key.as_deref(), Some(key.as_str()));
    let now = store
        .get_schedule(&f, &s.id)
        .await
        .expect("get")
        .expect("found");
    assert_eq!(
        (now.last_fired_at_ms, now.next_fire_at_ms),
        (Some(2_000), Some(3_000))
    );
    // The stale read claims nothing more; the next tick does.
    let again = store
        .fire_schedule(&t, &call(&s, 2_000))
        .await
        .expect("fire");
    assert!(again.is_none());
    let next = store
        .fire_schedule(&tick(&s, 3_000, 3_000, 4_000), &call(&s, 3_000))
        .await
        .expect("fire");
    assert!(next.is_some());

    // Paused: not due, and a claim read before the pause fires nothing.
    let paused = store
        .update_schedule(&Schedule {
            enabled: false,
            next_fire_at_ms: None,
            ..now.clone()
        })
        .await
        .expect("pause");
    assert!(!paused.enabled);
    assert_eq!(paused.next_fire_at_ms, None);
    assert!(
        store
            .due_schedules(i64::MAX, 10)
            .await
            .expect("due")
            .iter()
            .all(|d| d.id != s.id)
    );
    let stale = store
        .fire_schedule(&tick(&s, 4_000, 4_000, 5_000), &call(&s, 4_000))
        .await
        .expect("fire");
    assert!(stale.is_none());
    // Changed and resumed.
    let resumed = store
        .update_schedule(&Schedule {
            enabled: true,
            cron: "*/5 * * * *".into(),
            timezone: None,
            payload: serde_json::json!([1]),
            next_fire_at_ms: Some(300_000),
            ..paused
        })
        .await
        .expect("resume");
    assert_eq!(
        (
            resumed.cron.as_str(),
            resumed.timezone.as_deref(),
            resumed.enabled
        ),
        ("*/5 * * * *", None, true)
    );
    assert_eq!(resumed.payload, serde_json::json!([1]));
    assert_eq!(resumed.last_fired_at_ms, Some(3_000));
    assert_eq!(resumed.next_fire_at_ms, Some(300_000));
    let gone = store
        .update_schedule(&schedule(&f, &format!("{p}-nope"), None))
        .await
        .expect_err("no such schedule");
    assert!(
        matches!(
            &gone,
            StoreError::NotFound {
                kind: Kind::Schedule,
                ..
            }
        ),
        "{gone:?}"
    );

    // Delete one; deleting the function deletes the rest.
    assert!(store.delete_schedule(&f, &s.id).await.expect("delete"));
    assert!(!store.delete_schedule(&f, &s.id).await.expect("delete"));
    assert!(
        !store
            .delete_schedule("other", &later.id)
            .await
            .expect("delete")
    );
    assert!(
        functions
            .delete_function(&f)
            .await
            .expect("delete function")
    );
    assert!(store.list_schedules(&f).await.expect("list").is_empty());
    assert_eq!(store.next_schedule_due().await.expect("next"), None);
}
