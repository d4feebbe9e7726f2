//! Schedules (issue 15, point 4) over the HTTP API on a daemon with the real SQLite store: an
//! `@every 1s` schedule fires into the async queue and its calls succeed with its payload; the
//! listing shows the last and next fire; pausing stops it and resuming starts it again; a cron
//! that cannot fire, a bad zone, a bad body or an unknown function store nothing.

mod common;

use std::time::{Duration, Instant};

use common::{TestDaemon, python_function};
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
