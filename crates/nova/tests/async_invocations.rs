//! Async invocations (issue 15, point 3) over the HTTP API, on the real SQLite and Postgres
//! stores: a call accepted (202) and run with its result; a failing one dead-lettered after
//! exactly `max_attempts` with back-off between them, then retried by hand; idempotency keys; bad
//! input storing nothing; a call accepted with no daemon running, run by the next one; two
//! daemons on one Postgres never running one invocation twice.
//!
//! The handler appends its request id (the invocation's id) to a file, so the tests count what
//! really ran.

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{databases::master_key_config, python_function, status_and_json};
use nova::config::Settings;
use serde_json::{Value, json};

/// A daemon in this process over `dir` (and Postgres at `pg`), with `config` in its file.
struct Node {
    url: String,
    client: reqwest::Client,
    served: common::Served,
}

/// Fast back-off, no sandbox (the handler writes into the test's directory).
const CONFIG: &str = "sandbox:\n  isolation: off\nasync:\n  backoff_base: 200ms\n  lease: 3s\n";

fn settings(dir: &Path, pg: Option<&str>, extra: &str) -> Settings {
    common::settings_in(dir, pg, &format!("{CONFIG}{extra}"))
}

impl Node {
    async fn start(dir: &Path, pg: Option<&str>, extra: &str) -> Node {
        let settings = settings(dir, pg, extra);
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

    async fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
        headers: &[(&str, &str)],
    ) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut request = self.client.request(method, format!("{}{path}", self.url));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        status_and_json(request.send().await.expect("send")).await
    }

    async fn register(&self, name: &str, dir: &Path) {
        self.register_as(name, dir, "process").await;
    }

    async fn register_as(&self, name: &str, dir: &Path, mode: &str) {
        let mut function = python_function(name, &handler(dir));
        function["mode"] = json!(mode);
        let body = function.to_string();
        let (status, body) = self.call("POST", "/functions", Some(&body), &[]).await;
        assert_eq!(status, 201, "{body}");
    }

    /// Enqueues `payload` for `name`: the id.
    async fn enqueue(&self, name: &str, payload: &str) -> String {
        let path = format!("/functions/{name}/invoke-async");
        let (status, body) = self.call("POST", &path, Some(payload), &[]).await;
        assert_eq!((status, &body["status"]), (202, &json!("queued")), "{body}");
        body["id"].as_str().expect("id").to_string()
    }

    /// The invocation once it reaches `status` (within `within`).
    async fn wait_for(&self, id: &str, status: &str, within: Duration) -> Value {
        let deadline = Instant::now() + within;
        loop {
            let (code, body) = self
                .call("GET", &format!("/async-invocations/{id}"), None, &[])
                .await;
            assert_eq!(code, 200, "{body}");
            if body["status"] == status {
                return body;
            }
            assert!(Instant::now() < deadline, "not {status} in time: {body}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// A path, the body and headers sent to it, and the status expected.
type Refusal<'a> = (&'a str, Option<&'a str>, &'a [(&'a str, &'a str)], u16);

/// Appends its request id to `calls.log`; fails while `ok` is missing when asked to.
fn handler(dir: &Path) -> String {
    format!(
        r#"import os, time
def handler(event, context=None):
    started = int(time.time() * 1000)
    with open("{log}", "a") as f:
        f.write(context.request_id + "\n")
    if event.get("fail") and not os.path.exists("{ok}"):
        raise RuntimeError("boom")
    time.sleep(event.get("sleep", 0))
    return {{"id": context.request_id, "event": event, "started_ms": started}}
"#,
        log = dir.join("calls.log").display(),
        ok = dir.join("ok").display()
    )
}

/// How many times each id ran.
fn runs(dir: &Path) -> HashMap<String, usize> {
    let text = std::fs::read_to_string(dir.join("calls.log")).unwrap_or_default();
    let mut counts = HashMap::new();
    for line in text.lines() {
        *counts.entry(line.to_string()).or_default() += 1;
    }
    counts
}

#[tokio::test]
async fn an_async_call_runs_once_and_keeps_its_result() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = Node::start(dir.path(), None, "").await;
    node.register_as("job", dir.path(), "persistent").await;
    // Warm, so that the figure below is dispatch, not a cold start.
    let (status, _) = node
        .call("POST", "/functions/job/invoke", Some("{}"), &[])
        .await;
    assert_eq!(status, 200);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut latencies = Vec::new();
    for n in 0..5 {
        let id = node.enqueue("job", &format!(r#"{{"n": {n}}}"#)).await;
        let done = node
            .wait_for(&id, "succeeded", Duration::from_secs(20))
            .await;
        assert_eq!(
            done["result"]["id"],
            id.as_str(),
            "the request id is the invocation's: {done}"
        );
        assert_eq!(done["result"]["event"], json!({"n": n}));
        assert_eq!(
            (&done["attempts"], &done["version"]),
            (&json!(1), &json!(1)),
            "{done}"
        );
        assert_eq!(done["errors"], json!([]));
        latencies.push(
            done["result"]["started_ms"].as_i64().expect("ms")
                - done["created_at_ms"].as_i64().expect("ms"),
        );
    }
    latencies.sort();
    println!(
        "enqueue → handler start on an idle daemon, warm persistent handler (ms): {latencies:?}"
    );
    // Listing: all, by function, by status; a function's own route.
    let (status, all) = node
        .call(
            "GET",
            "/async-invocations?function=job&status=succeeded&limit=3",
            None,
            &[],
        )
        .await;
    assert_eq!(
        (status, all.as_array().map(Vec::len)),
        (200, Some(3)),
        "{all}"
    );
    let (status, mine) = node
        .call(
            "GET",
            "/functions/job/async-invocations?offset=4",
            None,
            &[],
        )
        .await;
    assert_eq!(
        (status, mine.as_array().map(Vec::len)),
        (200, Some(1)),
        "{mine}"
    );
    let (status, none) = node
        .call("GET", "/async-invocations?status=dead_lettered", None, &[])
        .await;
    assert_eq!((status, none), (200, json!([])));
    let (status, bad) = node
        .call("GET", "/async-invocations?status=done", None, &[])
        .await;
    assert_eq!(status, 400, "{bad}");
    assert!(
        bad["error"]
            .as_str()
            .is_some_and(|e| e.contains("unknown status")),
        "{bad}"
    );
    assert!(runs(dir.path()).values().all(|n| *n == 1));
    node.stop().await;
}

#[tokio::test]
async fn a_failing_call_is_dead_lettered_after_max_attempts_then_retried_by_hand() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = Node::start(dir.path(), None, "  max_attempts: 3\n").await;
    node.register("flaky", dir.path()).await;
    let id = node.enqueue("flaky", r#"{"fail": true}"#).await;
    let dead = node
        .wait_for(&id, "dead_lettered", Duration::from_secs(30))
        .await;
    assert_eq!(dead["attempts"], 3, "{dead}");
    let errors = dead["errors"].as_array().expect("errors");
    assert_eq!(errors.len(), 3, "{dead}");
    assert!(
        errors
            .iter()
            .all(|e| e["error"].as_str().is_some_and(|t| t.contains("boom"))),
        "{dead}"
    );
    assert_eq!(
        errors
            .iter()
            .map(|e| e["attempt"].clone())
            .collect::<Vec<_>>(),
        [json!(1), json!(2), json!(3)]
    );
    // Back-off: base 200 ms doubled, jittered down by at most half: ≥ 100 ms, then ≥ 200 ms.
    let at: Vec<i64> = errors
        .iter()
        .map(|e| e["at_ms"].as_i64().expect("at"))
        .collect();
    assert!(at[1] - at[0] >= 100, "{at:?}");
    assert!(at[2] - at[1] >= 200, "{at:?}");
    assert_eq!(
        runs(dir.path()).get(&id),
        Some(&3),
        "exactly max_attempts calls"
    );

    // Only a dead-lettered one can be retried; an unknown id is a 404.
    std::fs::write(dir.path().join("ok"), "").expect("ok");
    let (status, body) = node
        .call("POST", &format!("/async-invocations/{id}/retry"), None, &[])
        .await;
    assert_eq!(
        (status, &body["status"], &body["attempts"]),
        (202, &json!("queued"), &json!(0)),
        "{body}"
    );
    let done = node
        .wait_for(&id, "succeeded", Duration::from_secs(20))
        .await;
    assert_eq!(
        (&done["attempts"], done["errors"].as_array().map(Vec::len)),
        (&json!(1), Some(3)),
        "{done}"
    );
    let (status, body) = node
        .call("POST", &format!("/async-invocations/{id}/retry"), None, &[])
        .await;
    assert_eq!(status, 409, "{body}");
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|e| e.contains("succeeded")),
        "{body}"
    );
    let (status, body) = node
        .call("POST", "/async-invocations/nope/retry", None, &[])
        .await;
    assert_eq!(status, 404, "{body}");
    let (status, body) = node.call("GET", "/async-invocations/nope", None, &[]).await;
    assert_eq!(status, 404, "{body}");
    node.stop().await;
}

#[tokio::test]
async fn idempotency_keys_dedupe_and_bad_input_stores_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = Node::start(dir.path(), None, "").await;
    node.register("once", dir.path()).await;
    let key = [("Idempotency-Key", "order-42")];
    let (s1, first) = node
        .call("POST", "/functions/once/invoke-async", Some("{}"), &key)
        .await;
    let (s2, second) = node
        .call(
            "POST",
            "/functions/once/invoke-async",
            Some(r#"{"x":1}"#),
            &key,
        )
        .await;
    assert_eq!((s1, s2), (202, 202));
    assert_eq!(first["id"], second["id"], "{first} {second}");
    assert_eq!(
        (&first["deduplicated"], &second["deduplicated"]),
        (&json!(false), &json!(true))
    );
    let id = first["id"].as_str().expect("id");
    let done = node
        .wait_for(id, "succeeded", Duration::from_secs(20))
        .await;
    assert_eq!(done["idempotency_key"], "order-42");

    let refused: [Refusal; 6] = [
        ("/functions/once/invoke-async", Some("{not json"), &[], 400),
        ("/functions/missing/invoke-async", Some("{}"), &[], 404),
        (
            "/functions/once/invoke-async?qualifier=7",
            Some("{}"),
            &[],
            400,
        ),
        (
            "/functions/once/invoke-async",
            Some("{}"),
            &[("X-Nova-Qualifier", "nolias")],
            400,
        ),
        (
            "/functions/once/invoke-async?qualifier=1",
            Some("{}"),
            &[("X-Nova-Qualifier", "2")],
            400,
        ),
        (
            "/functions/once/invoke-async",
            Some("{}"),
            &[("Idempotency-Key", "")],
            400,
        ),
    ];
    for (path, body, headers, expected) in refused {
        let (status, answer) = node.call("POST", path, body, headers).await;
        assert_eq!(status, expected, "{path} {headers:?}: {answer}");
        assert!(answer["error"].is_string(), "{path}: {answer}");
    }
    // Each refusal names what is wrong, and only the payload's says the payload.
    let (_, answer) = node
        .call(
            "POST",
            "/functions/once/invoke-async",
            Some("{}"),
            &[("Idempotency-Key", "")],
        )
        .await;
    assert_eq!(
        answer["error"],
        json!("Idempotency-Key must be 1 to 256 bytes"),
        "{answer}"
    );
    let (status, answer) = node
        .call("GET", "/async-invocations/no-such-id", None, &[])
        .await;
    assert_eq!(
        (status, answer),
        (
            404,
            json!({"error": "async invocation 'no-such-id' not found"})
        )
    );
    for limit in ["0", "1001"] {
        let path = format!("/async-invocations?limit={limit}");
        let (status, answer) = node.call("GET", &path, None, &[]).await;
        assert_eq!(
            (status, answer),
            (400, json!({"error": "limit must be between 1 and 1000"}))
        );
    }
    let (_, all) = node.call("GET", "/async-invocations", None, &[]).await;
    assert_eq!(
        all.as_array().map(Vec::len),
        Some(1),
        "nothing else stored: {all}"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(runs(dir.path()).values().sum::<usize>(), 1);
    node.stop().await;
}

/// Accepted with no daemon (the CLI's local path), and still running when its daemon stopped:
/// the next daemon on the same store runs both, the second again under the same id.
#[tokio::test]
async fn calls_survive_a_daemon_that_is_gone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let first = Node::start(dir.path(), None, "").await;
    first.register("slow", dir.path()).await;
    let running = first.enqueue("slow", r#"{"sleep": 30}"#).await;
    common::eventually("the call to start", || {
        runs(dir.path()).contains_key(&running)
    })
    .await;
    // The daemon goes while the call runs: it is abandoned after the drain, its lease lapses.
    let stopping = tokio::spawn(first.stop());
    // With no daemon: the local store takes it (nothing runs it yet).
    let app = nova::daemon::assemble(&settings(dir.path(), None, ""), false)
        .await
        .expect("assemble locally");
    let (queued, created) = app
        .queue
        .enqueue("slow", &nova_api::Qualifier::Latest, r#"{"n": 1}"#, None)
        .await
        .expect("enqueue locally");
    assert!(created);
    drop(app);
    stopping.await.expect("stopped");
    let second = Node::start(dir.path(), None, "").await;
    let done = second
        .wait_for(&queued.id, "succeeded", Duration::from_secs(20))
        .await;
    assert_eq!(done["attempts"], 1);
    let again = second
        .wait_for(&running, "running", Duration::from_secs(20))
        .await;
    assert_eq!(
        again["attempts"], 2,
        "claimed again after its lease lapsed: {again}"
    );
    assert_eq!(
        runs(dir.path()).get(&running),
        Some(&2),
        "the same id, run again"
    );
    second.stop().await;
}

/// Two daemons on one Postgres share the queue and never run one invocation twice.
#[tokio::test]
async fn two_daemons_on_postgres_run_each_call_once() {
    let db = nova_store::testing::FreshDatabase::create().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let shared = master_key_config(dir.path());
    let (a_dir, b_dir): (PathBuf, PathBuf) = (dir.path().join("a"), dir.path().join("b"));
    std::fs::create_dir_all(&a_dir).expect("a");
    std::fs::create_dir_all(&b_dir).expect("b");
    let a = Node::start(&a_dir, Some(&db.dsn), &shared).await;
    let b = Node::start(&b_dir, Some(&db.dsn), &shared).await;
    a.register("shared", dir.path()).await;
    let mut ids = Vec::new();
    for n in 0..60 {
        let node = if n % 2 == 0 { &a } else { &b };
        ids.push(node.enqueue("shared", &format!(r#"{{"n": {n}}}"#)).await);
    }
    for id in &ids {
        a.wait_for(id, "succeeded", Duration::from_secs(60)).await;
    }
    let counts = runs(dir.path());
    for id in &ids {
        assert_eq!(
            counts.get(id),
            Some(&1),
            "{id} ran {:?} times",
            counts.get(id)
        );
    }
    assert_eq!(counts.len(), 60);
    a.stop().await;
    b.stop().await;
}

/// A burst runs at most `concurrency` calls of the function at once, and a synchronous call
/// made meanwhile does not wait for the burst.
#[tokio::test]
async fn a_burst_runs_within_the_functions_concurrency() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = Node::start(dir.path(), None, "  concurrency: 2\n").await;
    node.register_as("busy", dir.path(), "persistent").await;
    let mut ids = Vec::new();
    for _ in 0..8 {
        ids.push(node.enqueue("busy", r#"{"sleep": 0.3}"#).await);
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let asked = Instant::now();
    let (status, body) = node
        .call("POST", "/functions/busy/invoke", Some("{}"), &[])
        .await;
    let waited = asked.elapsed();
    assert_eq!(status, 200, "{body}");
    assert!(
        waited < Duration::from_secs(2),
        "a sync call waited {waited:?}"
    );
    let mut spans = Vec::new();
    for id in &ids {
        let done = node
            .wait_for(id, "succeeded", Duration::from_secs(30))
            .await;
        let start = done["result"]["started_ms"].as_i64().expect("started");
        spans.push((start, start + 300));
    }
    let most = spans
        .iter()
        .map(|(at, _)| spans.iter().filter(|(s, e)| s <= at && at < e).count())
        .max();
    assert_eq!(most, Some(2), "at most two at once: {spans:?}");
    println!("a sync call during the burst took {waited:?}");
    node.stop().await;
}
