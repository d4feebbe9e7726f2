//! Shared services going away under running daemons and coming back: a private Redis and a
//! private Postgres, stopped and started while two Nova daemons use them.

mod common;

use std::time::{Duration, Instant};

use common::services::{PrivatePostgres, PrivateRedis, free_port};
use common::{TestDaemon, python_function, status_and_json};

/// Redis restarted under running daemons: limits go on meanwhile (each daemon's own), and are
/// shared again once it is back.
#[tokio::test]
async fn a_restarted_redis_is_survived() {
    let port = free_port();
    let redis = PrivateRedis::start(port);
    let config = format!("redis:\n  addr: 127.0.0.1:{port}\nlimits:\n  per_function: 1/m:2\n");
    let (a, b) = (
        TestDaemon::start_with_config(&config).await,
        TestDaemon::start_with_config(&config).await,
    );
    let f = python_function(
        "restart",
        "def handler(event, context=None):\n    return 1\n",
    );
    for d in [&a, &b] {
        assert_eq!(d.post_json("/functions", &f).await.0, 201);
    }
    assert_eq!(a.invoke("restart", "{}").await.0, 200);
    drop(redis);
    // Meanwhile: no hang, no error but the limit's, each daemon with its own bucket.
    let started = std::time::Instant::now();
    let during: Vec<u16> = vec![
        b.invoke("restart", "{}").await.0,
        b.invoke("restart", "{}").await.0,
        b.invoke("restart", "{}").await.0,
    ];
    assert_eq!(during, [200, 200, 429]);
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    // Back: the shared bucket again (a fresh Redis: two more, then both daemons are refused)
    // once each daemon has tried again, which it does at most once a second while Redis is away.
    let _redis = PrivateRedis::start(port);
    tokio::time::sleep(nova::shared_redis::RECONNECT_EVERY + Duration::from_millis(200)).await;
    let after: Vec<u16> = vec![
        a.invoke("restart", "{}").await.0,
        b.invoke("restart", "{}").await.0,
        a.invoke("restart", "{}").await.0,
        b.invoke("restart", "{}").await.0,
    ];
    assert_eq!(after, [200, 200, 429, 429], "the shared limit is back");
    a.stop().await;
    b.stop().await;
}

/// A request with an API key: status and JSON body.
async fn call(
    d: &TestDaemon,
    method: reqwest::Method,
    path: &str,
    key: &str,
    body: Option<&serde_json::Value>,
) -> (u16, serde_json::Value) {
    let mut request = d.client.request(method, d.url(path)).bearer_auth(key);
    if let Some(body) = body {
        request = request.json(body);
    }
    status_and_json(request.send().await.expect("send")).await
}

/// Postgres stopped under two daemons that share it: warm invocations go on (cached specs, the
/// last copy of the API keys, logs held back), what needs the database fails fast with a 503
/// that says so, and once Postgres is back everything works again and the held-back logs are
/// stored.
#[tokio::test]
async fn a_restarted_postgres_is_survived() {
    let pg = PrivatePostgres::start();
    // Trust auth ignores the password; it is there to be kept out of every message.
    let dsn = format!(
        "postgres://postgres:pw-not-shown@127.0.0.1:{}/postgres",
        pg.port
    );
    let keys = tempfile::tempdir().expect("tempdir");
    let config = format!(
        "postgres:\n  dsn: {dsn}\n{}",
        common::databases::master_key_config(keys.path())
    );
    let (a, b) = (
        TestDaemon::start_with_config(&config).await,
        TestDaemon::start_with_config(&config).await,
    );
    let (status, created) = a
        .post_json(
            "/apikeys",
            &serde_json::json!({"name": "ops", "scopes": ["admin"]}),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let key = created["key"].as_str().expect("key").to_string();
    let f = python_function(
        "steady",
        "def handler(event, context=None):\n    return 'up'\n",
    );
    let post = reqwest::Method::POST;
    assert_eq!(
        call(&a, post.clone(), "/functions", &key, Some(&f)).await.0,
        201
    );
    for d in [&a, &b] {
        let (status, body) = call(d, post.clone(), "/functions/steady/invoke", &key, None).await;
        assert_eq!(
            (status, body["output"].clone()),
            (200, "up".into()),
            "{body}"
        );
    }

    pg.stop();
    let started = Instant::now();
    for d in [&a, &b] {
        let (status, body) = call(d, post.clone(), "/functions/steady/invoke", &key, None).await;
        assert_eq!(
            status, 200,
            "a warm function runs without the database: {body}"
        );
    }
    let (status, body) = call(&b, reqwest::Method::GET, "/functions", &key, None).await;
    assert_eq!(status, 503, "{body}");
    let error = body["error"].as_str().expect("error");
    assert!(error.contains("metadata store is unreachable"), "{error}");
    assert!(
        !error.contains("pw-not-shown") && !error.contains(&key),
        "{error}"
    );
    // Now that the daemon knows, the next call fails at once instead of waiting on the pool.
    let asked = Instant::now();
    let (status, body) = call(&b, reqwest::Method::GET, "/functions/steady", &key, None).await;
    assert_eq!(status, 503, "{body}");
    assert!(
        asked.elapsed() < Duration::from_secs(2),
        "{:?}",
        asked.elapsed()
    );
    let other = python_function("later", "def handler(event, context=None):\n    return 1\n");
    let (status, body) = call(&a, post.clone(), "/functions", &key, Some(&other)).await;
    assert_eq!(status, 503, "{body}");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "calls during the outage took {:?}",
        started.elapsed()
    );

    pg.start_again();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, body) = call(&a, post.clone(), "/functions", &key, Some(&other)).await;
        if status == 201 {
            break;
        }
        assert!(Instant::now() < deadline, "no recovery: {status} {body}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The other daemon recovers on its own (its pool reconnects, its breaker half-opens), not
    // necessarily by the time the first one has.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, body) = call(&b, post.clone(), "/functions/later/invoke", &key, None).await;
        if status == 200 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the other daemon never read the store again: {status} {body}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The two invocations made during the outage were held back, not lost.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, logs) = call(
            &a,
            reqwest::Method::GET,
            "/functions/steady/logs?tail=100",
            &key,
            None,
        )
        .await;
        let stored = logs.as_array().map_or(0, |l| l.len());
        if status == 200 && stored >= 4 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "logs of the outage: {status} {logs}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    a.stop().await;
    b.stop().await;
}
