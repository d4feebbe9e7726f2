//! Schedules (issue 15, point 4) over the HTTP API on a daemon with the real SQLite store: an
//! `@every 1s` schedule fires into the async queue and its calls succeed with its payload; the
//! listing shows the last and next fire; pausing stops it and resuming starts it again; a cron
//! that cannot fire, a bad zone, a bad body or an unknown function store nothing; three daemons
//! on one fresh Postgres fire each tick once; ticks missed while the daemon was down fire once.

mod common;

use std::time::{Duration, Instant};

use common::databases::master_key_config;
use common::{TestDaemon, python_function, status_and_json};
use serde_json::{Value, json};

const CONFIG: &str = "sandbox:\n  isolation: off\n";

/// The function's async invocations that succeeded.
async fn succeeded(daemon: &TestDaemon, name: &str) -> Vec<Value> {
    let path = format!("/functions/{name}/async-invocations?status=succeeded");
    let (status, body) = daemon.call("GET", &path, None, &[]).await;
    assert_eq!(status, 200, "{body}");
    body.as_array().expect("list").clone()
}

async fn wait_for_succeeded(daemon: &TestDaemon, name: &str, n: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let done = succeeded(daemon, name).await;
        if done.len() >= n {
            return done;
        }
        assert!(
            Instant::now() < deadline,
            "{n} calls not done in time: {done:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_schedule_fires_into_the_queue_pauses_and_resumes() {
    let daemon = TestDaemon::start_with_config(CONFIG).await;
    let code = "def handler(event, context=None):\n    return event\n";
    let (status, body) = daemon
        .post_json("/functions", &python_function("ticker", code))
        .await;
    assert_eq!(status, 201, "{body}");

    let spec = json!({"cron": "@every 1s", "payload": {"k": 1}});
    let (status, created) = daemon
        .call("POST", "/functions/ticker/schedules", Some(spec), &[])
        .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().expect("id").to_string();
    assert_eq!(created["enabled"], json!(true));
    assert!(created["next_fire_at_ms"].is_i64(), "{created}");

    let done = wait_for_succeeded(&daemon, "ticker", 2).await;
    assert_eq!(done[0]["result"], json!({"k": 1}), "{done:?}");
    let key = done[0]["idempotency_key"].as_str().expect("key");
    assert!(key.starts_with(&format!("schedule:{id}:")), "{key}");
    let (status, listed) = daemon
        .call("GET", "/functions/ticker/schedules", None, &[])
        .await;
    assert_eq!(status, 200, "{listed}");
    assert!(listed[0]["last_fired_at_ms"].is_i64(), "{listed}");
    assert!(listed[0]["next_fire_at_ms"].is_i64(), "{listed}");

    // Paused: no next fire, and no more calls.
    let path = format!("/functions/ticker/schedules/{id}");
    let (status, paused) = daemon
        .call("PATCH", &path, Some(json!({"enabled": false})), &[])
        .await;
    assert_eq!(
        (status, &paused["next_fire_at_ms"]),
        (200, &Value::Null),
        "{paused}"
    );
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let before = count_all(&daemon).await;
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    assert_eq!(count_all(&daemon).await, before, "a paused schedule fired");

    // Resumed: it fires again.
    let (status, resumed) = daemon
        .call("PATCH", &path, Some(json!({"enabled": true})), &[])
        .await;
    assert_eq!(status, 200, "{resumed}");
    assert!(resumed["next_fire_at_ms"].is_i64(), "{resumed}");
    let deadline = Instant::now() + Duration::from_secs(15);
    while count_all(&daemon).await <= before {
        assert!(Instant::now() < deadline, "a resumed schedule did not fire");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Deleted: gone, and a second delete is a 404.
    let (status, _) = daemon.call("DELETE", &path, None, &[]).await;
    assert_eq!(status, 204);
    let (status, _) = daemon.call("DELETE", &path, None, &[]).await;
    assert_eq!(status, 404);
    daemon.stop().await;
}

/// Every async invocation of `ticker`, whatever its status.
async fn count_all(daemon: &TestDaemon) -> usize {
    let (status, body) = daemon
        .call(
            "GET",
            "/functions/ticker/async-invocations?limit=1000",
            None,
            &[],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body.as_array().expect("list").len()
}

#[tokio::test]
async fn refused_schedules_store_nothing() {
    let daemon = TestDaemon::start_with_config(CONFIG).await;
    let code = "def handler(event, context=None):\n    return event\n";
    let (status, body) = daemon
        .post_json("/functions", &python_function("f", code))
        .await;
    assert_eq!(status, 201, "{body}");
    let path = "/functions/f/schedules";
    for (spec, expected) in [
        (json!({"cron": "0 0 30 2 *"}), 400),
        (json!({"cron": "61 * * * *"}), 400),
        (json!({"cron": "@daily", "timezone": "Mars/Olympus"}), 400),
        (json!({"cron": "@daily", "color": "red"}), 400),
        (json!({"payload": {}}), 400),
    ] {
        let (status, body) = daemon.call("POST", path, Some(spec.clone()), &[]).await;
        assert_eq!(status, expected, "{spec}: {body}");
        assert!(
            body["error"].is_string() || body["message"].is_string(),
            "{body}"
        );
    }
    let (status, _) = daemon
        .call(
            "POST",
            "/functions/nope/schedules",
            Some(json!({"cron": "@daily"})),
            &[],
        )
        .await;
    assert_eq!(status, 404);
    let (status, listed) = daemon.call("GET", path, None, &[]).await;
    assert_eq!((status, listed), (200, json!([])));
    daemon.stop().await;
}

/// A daemon over `dir` (and Postgres at `pg`), stopped by [`Node::stop`].
struct Node {
    url: String,
    client: reqwest::Client,
    served: common::Served,
}

impl Node {
    /// `extra`: more YAML for its config file (a shared master key).
    async fn start(dir: &std::path::Path, pg: Option<&str>, extra: &str) -> Node {
        let settings = common::settings_in(dir, pg, &format!("{CONFIG}{extra}"));
        let served = common::Served::start(&settings).await;
        Node {
            url: served.url.clone(),
            client: reqwest::Client::new(),
            served,
        }
    }

    async fn stop(self) {
        self.served.stop().await;
    }

    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut request = self.client.request(method, format!("{}{path}", self.url));
        if let Some(body) = body {
            request = request.json(&body);
        }
        status_and_json(request.send().await.expect("send")).await
    }

    /// The fire time of every call the schedule `id` queued, oldest first.
    async fn fires(&self, id: &str) -> Vec<i64> {
        let path = "/functions/ticker/async-invocations?limit=1000";
        let (status, body) = self.call("GET", path, None).await;
        assert_eq!(status, 200, "{body}");
        let prefix = format!("schedule:{id}:");
        let mut fires: Vec<i64> = (body.as_array().expect("list").iter())
            .filter_map(|a| a["idempotency_key"].as_str())
            .filter_map(|k| k.strip_prefix(&prefix)?.parse().ok())
            .collect();
        fires.sort();
        fires
    }

    /// Registers `ticker` and gives it an `@every 1s` schedule: its id.
    async fn ticker(&self) -> String {
        let code = "def handler(event, context=None):\n    return event\n";
        let (status, body) = self
            .call("POST", "/functions", Some(python_function("ticker", code)))
            .await;
        assert_eq!(status, 201, "{body}");
        let spec = json!({"cron": "@every 1s"});
        let (status, body) = self
            .call("POST", "/functions/ticker/schedules", Some(spec))
            .await;
        assert_eq!(status, 201, "{body}");
        body["id"].as_str().expect("id").to_string()
    }
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

#[tokio::test]
async fn three_daemons_on_one_postgres_fire_each_tick_once() {
    let db = nova_store::testing::FreshDatabase::create().await;
    let dirs: Vec<_> = (0..3)
        .map(|_| tempfile::tempdir().expect("tempdir"))
        .collect();
    let shared = master_key_config(dirs[0].path());
    let mut nodes = Vec::new();
    for dir in &dirs {
        nodes.push(Node::start(dir.path(), Some(&db.dsn), &shared).await);
    }
    let id = nodes[0].ticker().await;
    tokio::time::sleep(Duration::from_millis(5_500)).await;
    let path = format!("/functions/ticker/schedules/{id}");
    let (status, body) = nodes[1]
        .call("PATCH", &path, Some(json!({"enabled": false})))
        .await;
    assert_eq!(status, 200, "{body}");
    let fires = nodes[2].fires(&id).await;
    // One call per tick, none twice, none skipped.
    assert!((4..=7).contains(&fires.len()), "{fires:?}");
    for pair in fires.windows(2) {
        assert_eq!(pair[1] - pair[0], 1_000, "each tick once: {fires:?}");
    }
    // And every call ran once.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let path = "/functions/ticker/async-invocations?status=succeeded&limit=1000";
        let (_, done) = nodes[0].call("GET", path, None).await;
        if done.as_array().expect("list").len() == fires.len() {
            break;
        }
        assert!(Instant::now() < deadline, "not all ran: {done}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for node in nodes {
        node.stop().await;
    }
}

#[tokio::test]
async fn ticks_missed_while_down_fire_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = Node::start(dir.path(), None, "").await;
    let id = node.ticker().await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while node.fires(&id).await.is_empty() {
        assert!(Instant::now() < deadline, "never fired");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    node.stop().await;
    let stopped = now_ms();
    tokio::time::sleep(Duration::from_millis(3_500)).await;
    let restarting = now_ms();
    let node = Node::start(dir.path(), None, "").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let fires = node.fires(&id).await;
    let missed: Vec<i64> = fires
        .iter()
        .copied()
        .filter(|f| *f > stopped && *f <= restarting)
        .collect();
    assert!(missed.len() <= 1, "missed ticks fired once: {fires:?}");
    let first_after = fires.iter().copied().find(|f| *f > stopped);
    let first_after = first_after.expect("fired after the restart");
    assert!(
        first_after >= restarting - 1_000,
        "the latest missed tick, not the first: {first_after} vs {restarting}: {fires:?}"
    );
    node.stop().await;
}
