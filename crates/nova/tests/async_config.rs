//! A function's own async settings and its destinations (issue 15, point 3), over HTTP on a real
//! daemon: `GET|PUT|DELETE /functions/{name}/async-config`, refusals storing nothing, a success
//! and a dead-letter each calling their destination once with the request, the response or the
//! errors; and a schedule naming a version runs that version.

mod common;

use std::time::{Duration, Instant};

use common::{TestDaemon, python_function, says};
use serde_json::{Value, json};

/// Fast back-off, no sandbox.
const CONFIG: &str = "sandbox:\n  isolation: off\nasync:\n  backoff_base: 100ms\n";

/// Fails when asked to, else answers with its event.
const WORK: &str = "def handler(event, context=None):\n    \
    if event.get('fail'):\n        raise RuntimeError('boom ' + str(event['fail']))\n    \
    return {'done': event}\n";

/// Answers with what it was sent.
const ECHO: &str = "def handler(event, context=None):\n    return event\n";

/// `method path` on the daemon at `url` with an optional JSON body.
async fn call(url: &str, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    let mut request = reqwest::Client::new().request(method, format!("{url}{path}"));
    if let Some(body) = body {
        request = request.json(&body);
    }
    common::status_and_json(request.send().await.expect("send")).await
}

async fn register(url: &str, name: &str, source: &str) {
    let (status, body) = call(
        url,
        "POST",
        "/functions",
        Some(python_function(name, source)),
    )
    .await;
    assert_eq!(status, 201, "{body}");
}

async fn enqueue(url: &str, name: &str, payload: Value) -> String {
    let path = format!("/functions/{name}/invoke-async");
    let (status, body) = call(url, "POST", &path, Some(payload)).await;
    assert_eq!(status, 202, "{body}");
    body["id"].as_str().expect("id").to_string()
}

/// `function`'s async invocations once there are `n` and each has ended (within 30 s).
async fn settled(url: &str, function: &str, n: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let path = format!("/functions/{function}/async-invocations");
        let (status, body) = call(url, "GET", &path, None).await;
        assert_eq!(status, 200, "{body}");
        let list = body.as_array().expect("a list").clone();
        let ended = |i: &Value| i["status"] == "succeeded" || i["status"] == "dead_lettered";
        if list.len() >= n && list.iter().all(ended) {
            return list;
        }
        assert!(Instant::now() < deadline, "{function}: {body}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn own_settings_apply_and_destinations_get_each_outcome_once() {
    let d = TestDaemon::start_with_config(CONFIG).await;
    register(&d.url, "work", WORK).await;
    register(&d.url, "audit", ECHO).await;
    register(&d.url, "alert", ECHO).await;

    // Nothing set: the daemon's section applies.
    let (status, shown) = d
        .call("GET", "/functions/work/async-config", None, &[])
        .await;
    assert_eq!(status, 200, "{shown}");
    assert_eq!(shown["own"], json!({}));
    assert_eq!(
        (
            &shown["effective"]["max_attempts"],
            &shown["effective"]["concurrency"]
        ),
        (&json!(3), &json!(4))
    );

    let config = json!({"max_attempts": 2, "on_success": "audit", "on_failure": "alert"});
    let (status, shown) = d
        .call(
            "PUT",
            "/functions/work/async-config",
            Some(config.clone()),
            &[],
        )
        .await;
    assert_eq!(status, 200, "{shown}");
    assert_eq!(shown["own"], config);
    assert_eq!(shown["effective"]["max_attempts"], 2);
    assert_eq!(shown["effective"]["concurrency"], 4, "unset: the daemon's");

    // Refusals name the problem and change nothing.
    let refused = [
        (
            json!({"max_attempts": 0}),
            400,
            "max_attempts must be 1 to 100",
        ),
        (
            json!({"max_attempts": 101}),
            400,
            "max_attempts must be 1 to 100",
        ),
        (
            json!({"concurrency": 1001}),
            400,
            "concurrency must be 0 (paused) to 1000",
        ),
        (
            json!({"max_event_age_s": 0}),
            400,
            "max_event_age_s must be",
        ),
        (json!({"max_attempts": -1}), 400, "invalid JSON body"),
        (
            json!({"on_success": "nope"}),
            400,
            "on_success: there is no function 'nope'",
        ),
        (
            json!({"on_failure": "work"}),
            400,
            "cannot be 'work' itself",
        ),
        (json!({"retries": 2}), 400, "unknown field `retries`"),
        (json!([1, 2]), 400, "expected an object"),
    ];
    for (body, status, says) in refused {
        let (got, answer) = d
            .call(
                "PUT",
                "/functions/work/async-config",
                Some(body.clone()),
                &[],
            )
            .await;
        assert_eq!(got, status, "{body}: {answer}");
        let error = answer["error"].as_str().expect("a JSON error");
        assert!(error.contains(says), "{body}: {error}");
    }
    let (status, answer) = d
        .call("PUT", "/functions/ghost/async-config", Some(json!({})), &[])
        .await;
    assert_eq!(
        (status, &answer["error"]),
        (404, &json!("function 'ghost' not found"))
    );
    let (_, shown) = d
        .call("GET", "/functions/work/async-config", None, &[])
        .await;
    assert_eq!(shown["own"], config, "unchanged by the refusals");

    // A success calls on_success once; a failure, after max_attempts (2, its own), on_failure.
    let ok = enqueue(&d.url, "work", json!({"n": 1})).await;
    let bad = enqueue(&d.url, "work", json!({"fail": 7})).await;
    let work = settled(&d.url, "work", 2).await;
    let failed = work
        .iter()
        .find(|i| i["id"] == bad)
        .expect("the failing call");
    assert_eq!(
        (
            &failed["status"],
            &failed["attempts"],
            &failed["max_attempts"]
        ),
        (&json!("dead_lettered"), &json!(2), &json!(2))
    );
    let audit = settled(&d.url, "audit", 1).await;
    assert_eq!(audit.len(), 1, "{audit:?}");
    let sent = &audit[0]["result"];
    assert_eq!(sent["condition"], "success");
    assert_eq!(sent["source"]["id"], ok);
    assert_eq!(sent["source"]["function"], "work");
    assert_eq!(sent["source"]["version"], 1);
    assert_eq!(sent["request"], json!({"n": 1}));
    assert_eq!(sent["response"], json!({"done": {"n": 1}}));
    let alert = settled(&d.url, "alert", 1).await;
    assert_eq!(alert.len(), 1, "{alert:?}");
    let sent = &alert[0]["result"];
    assert_eq!(sent["condition"], "dead_lettered");
    assert_eq!(sent["source"]["id"], bad);
    assert_eq!(sent["request"], json!({"fail": 7}));
    let errors = sent["errors"].as_array().expect("errors");
    assert_eq!(errors.len(), 2, "{sent}");
    assert!(
        errors
            .iter()
            .all(|e| e["error"].as_str().unwrap_or("").contains("boom 7"))
    );
    // The log keeps each attempt: the id, then `<id>.2`.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, logs) = d.call("GET", "/functions/work/logs", None, &[]).await;
        assert_eq!(status, 200, "{logs}");
        let ids: Vec<&str> = (logs.as_array().expect("logs").iter())
            .filter_map(|l| l["id"].as_str())
            .collect();
        if ids.contains(&bad.as_str()) && ids.contains(&format!("{bad}.2").as_str()) {
            break;
        }
        assert!(Instant::now() < deadline, "each attempt logged: {ids:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Cleared: the daemon's settings again, and no destination.
    let (status, _) = d
        .call("DELETE", "/functions/work/async-config", None, &[])
        .await;
    assert_eq!(status, 204);
    let (status, answer) = d
        .call("DELETE", "/functions/work/async-config", None, &[])
        .await;
    assert_eq!(status, 404, "{answer}");
    let (_, shown) = d
        .call("GET", "/functions/work/async-config", None, &[])
        .await;
    assert_eq!(
        (&shown["own"], &shown["effective"]["max_attempts"]),
        (&json!({}), &json!(3))
    );
    enqueue(&d.url, "work", json!({"n": 2})).await;
    settled(&d.url, "work", 3).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        settled(&d.url, "audit", 1).await.len(),
        1,
        "no destination any more"
    );
    d.stop().await;
}

#[tokio::test]
async fn a_schedule_naming_a_version_runs_that_version() {
    let d = TestDaemon::start_with_config(CONFIG).await;
    register(&d.url, "tick", &says("one")).await;
    let (status, body) = d.call("POST", "/functions/tick/versions", None, &[]).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = d
        .call(
            "PATCH",
            "/functions/tick",
            Some(json!({"code": says("two")})),
            &[],
        )
        .await;
    assert_eq!(status, 200, "{body}");

    // An unknown version or alias, or a malformed one: a 400, nothing stored.
    for (qualifier, says) in [
        ("9", "function 'tick' has no version 9"),
        ("live", "function 'tick' has no version or alias 'live'"),
        ("a b", "invalid qualifier"),
    ] {
        let body = json!({"cron": "@every 1s", "qualifier": qualifier});
        let (status, answer) = d
            .call("POST", "/functions/tick/schedules", Some(body), &[])
            .await;
        assert_eq!(status, 400, "{qualifier}: {answer}");
        let error = answer["error"].as_str().expect("a JSON error");
        assert!(error.contains(says), "{qualifier}: {error}");
    }
    let (_, listed) = d.call("GET", "/functions/tick/schedules", None, &[]).await;
    assert_eq!(listed, json!([]));

    let body = json!({"cron": "@every 1s", "qualifier": "1"});
    let (status, schedule) = d
        .call("POST", "/functions/tick/schedules", Some(body), &[])
        .await;
    assert_eq!(
        (status, &schedule["qualifier"]),
        (201, &json!("1")),
        "{schedule}"
    );
    let fired = settled(&d.url, "tick", 1).await;
    let first = fired.last().expect("one call");
    assert_eq!(
        (&first["qualifier"], &first["version"], &first["result"]),
        (&json!("1"), &json!(1), &json!({"says": "one"})),
        "{first}"
    );
    d.stop().await;
}

/// The settings route as an attacker meets it: no key, a wrong key, a key without the scope, a
/// foreign page, a huge body: each refused, nothing changed; an admin key changes them.
#[tokio::test]
async fn the_settings_route_fails_closed() {
    let d = TestDaemon::start_with_config(CONFIG).await;
    register(&d.url, "work", WORK).await;
    register(&d.url, "audit", ECHO).await;
    let (status, root) = d
        .call(
            "POST",
            "/apikeys",
            Some(json!({"name": "root", "scopes": ["admin"]})),
            &[],
        )
        .await;
    assert_eq!(status, 201, "{root}");
    let root = format!("Bearer {}", root["key"].as_str().expect("key"));
    let (status, invoker) = d
        .call(
            "POST",
            "/apikeys",
            Some(json!({"name": "caller", "scopes": ["invoke", "read"]})),
            &[("Authorization", root.as_str())],
        )
        .await;
    assert_eq!(status, 201, "{invoker}");
    let invoker = format!("Bearer {}", invoker["key"].as_str().expect("key"));
    let path = "/functions/work/async-config";
    let change = json!({"on_success": "audit"});
    let attempts: [(&[(&str, &str)], u16); 4] = [
        (&[], 401),
        (&[("Authorization", "Bearer nova_wrong")], 401),
        (&[("Authorization", invoker.as_str())], 403),
        (
            &[
                ("Authorization", root.as_str()),
                ("Origin", "http://evil.example"),
            ],
            403,
        ),
    ];
    for (headers, expected) in attempts {
        let (status, answer) = d.call("PUT", path, Some(change.clone()), headers).await;
        assert_eq!(status, expected, "{headers:?}: {answer}");
        assert!(answer["error"].is_string(), "{answer}");
        let (status, answer) = d.call("DELETE", path, None, headers).await;
        assert_eq!(status, expected, "DELETE {headers:?}: {answer}");
    }
    let long = json!({"on_success": "x".repeat(512 * 1024)});
    let (status, answer) = d
        .call("PUT", path, Some(long), &[("Authorization", root.as_str())])
        .await;
    let error = answer["error"].as_str().expect("a JSON error");
    assert_eq!(status, 400, "{}", nova_api::preview(error));
    assert!(
        error.len() < 400,
        "the refusal quotes a bit of it: {}",
        nova_api::preview(error)
    );
    let huge = json!({"on_success": "x".repeat(2 * 1024 * 1024)});
    let (status, answer) = d
        .call("PUT", path, Some(huge), &[("Authorization", root.as_str())])
        .await;
    assert_eq!(status, 413, "{}", nova_api::preview(&answer.to_string()));
    // A read key reads; nothing above changed anything.
    let (status, shown) = d
        .call("GET", path, None, &[("Authorization", invoker.as_str())])
        .await;
    assert_eq!((status, &shown["own"]), (200, &json!({})), "{shown}");
    let (status, shown) = d
        .call(
            "PUT",
            path,
            Some(change),
            &[("Authorization", root.as_str())],
        )
        .await;
    assert_eq!(
        (status, &shown["own"]["on_success"]),
        (200, &json!("audit"))
    );
    d.stop().await;
}

/// Two daemons on one Postgres: settings changed on one apply on the other within the refresh
/// (5 s), and a destination's call is made once whichever daemon ran the call.
#[tokio::test]
async fn settings_reach_every_daemon_and_destinations_fire_once() {
    let db = nova_store::testing::FreshDatabase::create().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let shared = common::databases::master_key_config(dir.path());
    let mut nodes = Vec::new();
    for name in ["a", "b"] {
        let home = dir.path().join(name);
        std::fs::create_dir_all(&home).expect("dir");
        let settings = common::settings_in(&home, Some(&db.dsn), &format!("{CONFIG}{shared}"));
        nodes.push(common::Served::start(&settings).await);
    }
    let (a, b) = (nodes[0].url.clone(), nodes[1].url.clone());
    register(&a, "work", WORK).await;
    register(&a, "audit", ECHO).await;
    // b reads the settings before they change, so it holds a copy to go stale.
    enqueue(&b, "work", json!({"n": 0})).await;
    settled(&b, "work", 1).await;
    let config = json!({"max_attempts": 1, "on_success": "audit"});
    let (status, shown) = call(&a, "PUT", "/functions/work/async-config", Some(config)).await;
    assert_eq!(status, 200, "{shown}");
    tokio::time::sleep(nova::queue::configs::REFRESH + Duration::from_millis(500)).await;
    let failing = enqueue(&b, "work", json!({"fail": 1})).await;
    let (_, accepted) = call(&b, "GET", &format!("/async-invocations/{failing}"), None).await;
    assert_eq!(
        accepted["max_attempts"], 1,
        "b applies a's setting: {accepted}"
    );
    let mut ids = Vec::new();
    for n in 1..=20 {
        let node = if n % 2 == 0 { &a } else { &b };
        ids.push(enqueue(node, "work", json!({"n": n})).await);
    }
    settled(&a, "work", 22).await;
    let audit = settled(&a, "audit", 20).await;
    let mut seen: Vec<String> = (audit.iter())
        .map(|i| {
            i["payload"]["source"]["id"]
                .as_str()
                .unwrap_or("?")
                .to_string()
        })
        .collect();
    seen.sort();
    ids.sort();
    assert_eq!(
        seen, ids,
        "one destination call per success, none for the older call"
    );
    for node in nodes {
        node.stop().await;
    }
}

/// Concurrency 0 pauses a function's queue: calls are accepted and wait (through the timer's
/// looks too), other functions run; raised again, the waiting calls run.
#[tokio::test]
async fn a_paused_function_accepts_and_holds_its_calls() {
    let d = TestDaemon::start_with_config(CONFIG).await;
    register(&d.url, "work", WORK).await;
    register(&d.url, "audit", ECHO).await;
    let (status, shown) = d
        .call(
            "PUT",
            "/functions/work/async-config",
            Some(json!({"concurrency": 0})),
            &[],
        )
        .await;
    assert_eq!(
        (status, &shown["effective"]["concurrency"]),
        (200, &json!(0)),
        "{shown}"
    );
    let mut ids = Vec::new();
    for n in 0..3 {
        ids.push(enqueue(&d.url, "work", json!({"n": n})).await);
    }
    settled(&d.url, "audit", 0).await;
    enqueue(&d.url, "audit", json!({"other": true})).await;
    settled(&d.url, "audit", 1).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    for id in &ids {
        let (_, got) = d
            .call("GET", &format!("/async-invocations/{id}"), None, &[])
            .await;
        assert_eq!(got["status"], "queued", "held while paused: {got}");
    }
    let (status, _) = d
        .call("DELETE", "/functions/work/async-config", None, &[])
        .await;
    assert_eq!(status, 204);
    let ran = settled(&d.url, "work", 3).await;
    assert!(ran.iter().all(|i| i["status"] == "succeeded"), "{ran:?}");
    d.stop().await;
}
