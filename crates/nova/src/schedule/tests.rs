//! The scheduler's passes on real stores with a clock the test sets: a due tick fires into the
//! queue once, ticks missed while nothing ran fire once, a paused schedule does not fire, and
//! three schedulers on one Postgres fire each tick exactly once.

use std::collections::BTreeMap;

use nova_api::{Function, Limits, Mode, Network, Runtime, code_hash};
use nova_store::{AsyncQuery, FunctionStore, QueueStore, Schedule, ScheduleStore, SqlStore};

use super::*;

const T0: i64 = 1_800_000_000_000;

async fn with_function(store: &SqlStore, name: &str) {
    let code = b"def handler(event, context): return event".to_vec();
    let f = Function {
        id: uuid::Uuid::new_v4().to_string(),
        name: name.into(),
        runtime: Runtime::Python,
        handler: "main.handler".into(),
        mode: Mode::Process,
        network: Network::None,
        memory_mb: 128,
        timeout_s: 30,
        min_replicas: 0,
        max_replicas: 0,
        instance_concurrency: 1,
        env_vars: BTreeMap::new(),
        limits: Limits::default(),
        version: 1,
        code_hash: code_hash(&code),
        code_size: code.len() as u64,
        created_at: nova_store::record_now(),
        updated_at: nova_store::record_now(),
    };
    store.insert_function(&f, &code).await.expect("function");
}

/// An `@every 1s` schedule of `function` created at T0, its first tick owed at T0 + 1 s.
async fn every_second(store: &SqlStore, function: &str) -> Schedule {
    let schedule = Schedule {
        id: uuid::Uuid::new_v4().simple().to_string(),
        function: function.into(),
        cron: "@every 1s".into(),
        timezone: None,
        payload: serde_json::json!({"scheduled": true}),
        qualifier: None,
        enabled: true,
        next_fire_at_ms: Some(T0 + 1_000),
        last_fired_at_ms: None,
        created_at_ms: T0,
        updated_at_ms: T0,
    };
    store.create_schedule(&schedule).await.expect("schedule")
}

async fn queued_keys(store: &SqlStore, function: &str) -> Vec<String> {
    let query = AsyncQuery {
        function: Some(function.into()),
        limit: 1000,
        ..AsyncQuery::default()
    };
    let mut keys: Vec<String> = (store.list_async(&query).await.expect("list"))
        .into_iter()
        .filter_map(|a| a.idempotency_key)
        .collect();
    keys.sort();
    keys
}

#[tokio::test]
async fn a_due_tick_fires_once_and_missed_ticks_fire_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SqlStore::sqlite(&dir.path().join("nova.db"))
        .await
        .expect("open");
    with_function(&store, "tick").await;
    let s = every_second(&store, "tick").await;
    let settings = AsyncSettings::default();
    // Not due yet.
    let pass = fire_due(&store, &settings, at(T0 + 999))
        .await
        .expect("pass");
    assert_eq!(pass.fired, 0);
    // Down across three ticks (T0+1 s, +2 s, +3 s): one call, for the latest.
    let pass = fire_due(&store, &settings, at(T0 + 3_500))
        .await
        .expect("pass");
    assert_eq!(pass.fired, 1);
    assert_eq!(
        queued_keys(&store, "tick").await,
        vec![format!("schedule:{}:{}", s.id, T0 + 3_000)]
    );
    let now = store
        .get_schedule("tick", &s.id)
        .await
        .expect("get")
        .expect("found");
    assert_eq!(
        (now.last_fired_at_ms, now.next_fire_at_ms),
        (Some(T0 + 3_000), Some(T0 + 4_000))
    );
    let all = AsyncQuery {
        limit: 10,
        ..AsyncQuery::default()
    };
    let queued = store.list_async(&all).await.expect("list");
    assert_eq!(queued[0].payload, serde_json::json!({"scheduled": true}));
    assert_eq!(queued[0].qualifier, "$LATEST");
    // Again at the same instant: nothing owed.
    let pass = fire_due(&store, &settings, at(T0 + 3_900))
        .await
        .expect("pass");
    assert_eq!(pass.fired, 0);
    // Paused: nothing fires however late.
    let paused = Schedule {
        enabled: false,
        next_fire_at_ms: None,
        ..now
    };
    store.update_schedule(&paused).await.expect("pause");
    let pass = fire_due(&store, &settings, at(T0 + 9_000))
        .await
        .expect("pass");
    assert_eq!(pass.fired, 0);
    assert_eq!(queued_keys(&store, "tick").await.len(), 1);
}

#[tokio::test]
async fn three_schedulers_on_one_postgres_fire_each_tick_once() {
    let db = nova_store::testing::FreshDatabase::create().await;
    let mut stores = Vec::new();
    for _ in 0..3 {
        stores.push(SqlStore::postgres(&db.dsn).await.expect("open postgres"));
    }
    with_function(&stores[0], "shared").await;
    let s = every_second(&stores[0], "shared").await;
    let settings = AsyncSettings::default();
    // Five ticks, every scheduler passing at each one at once.
    for k in 1..=5 {
        let now = at(T0 + k * 1_000 + 10);
        let (a, b, c) = tokio::join!(
            fire_due(&stores[0], &settings, now),
            fire_due(&stores[1], &settings, now),
            fire_due(&stores[2], &settings, now),
        );
        let fired: usize = [a, b, c].into_iter().map(|p| p.expect("pass").fired).sum();
        assert_eq!(fired, 1, "tick {k}");
    }
    let expected: Vec<String> = (1..=5)
        .map(|k| format!("schedule:{}:{}", s.id, T0 + k * 1_000))
        .collect();
    let mut expected = expected;
    expected.sort();
    assert_eq!(queued_keys(&stores[0], "shared").await, expected);
}
