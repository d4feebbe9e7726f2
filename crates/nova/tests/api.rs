//! The HTTP API over a real daemon: real SQLite, real agents, real sockets.

mod common;

use common::{
    TestDaemon, agents_under, all_agents_under, eventually, examples, python_function,
    status_and_json,
};
use serde_json::json;

const HELLO: &str = "def handler(event):\n    return {'hello': event.get('name', 'world')}\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn function_crud_round_trip() {
    let d = TestDaemon::start().await;
    let source = std::fs::read_to_string(examples().join("python/hello.py")).expect("example");
    let mut body = python_function("hello", &source);
    body["env_vars"] = json!({"GREETING": "hi"});
    body["limits"] = json!({"vcpus": 2});
    let (status, created) = d.post_json("/functions", &body).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["version"], 1);
    assert_eq!(created["limits"]["vcpus"], 2);
    assert_eq!(created["code_hash"].as_str().map(str::len), Some(64));

    let got: serde_json::Value = d
        .client
        .get(d.url("/functions/hello"))
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(got, created);
    let code = d
        .client
        .get(d.url("/functions/hello/code"))
        .header("accept", "application/octet-stream")
        .send()
        .await
        .expect("code")
        .text()
        .await
        .expect("text");
    assert_eq!(code, source);

    let (status, list) = status_and_json(
        d.client
            .get(d.url("/functions?search=HEL&limit=10"))
            .send()
            .await
            .expect("list"),
    )
    .await;
    assert_eq!((status, list.as_array().map(Vec::len)), (200, Some(1)));

    let patch = d
        .client
        .patch(d.url("/functions/hello"))
        .json(&json!({"memory_mb": 256}))
        .send()
        .await
        .expect("patch");
    let (status, updated) = status_and_json(patch).await;
    assert_eq!(
        (
            status,
            updated["version"].clone(),
            updated["memory_mb"].clone()
        ),
        (200, json!(2), json!(256))
    );
    assert_eq!(updated["code_hash"], created["code_hash"], "code unchanged");

    let deleted = d
        .client
        .delete(d.url("/functions/hello"))
        .send()
        .await
        .expect("delete");
    assert_eq!(deleted.status().as_u16(), 204);
    let (status, err) = status_and_json(
        d.client
            .get(d.url("/functions/hello"))
            .send()
            .await
            .expect("get"),
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(err["error"], "function 'hello' not found");
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_clear_errors_and_right_codes() {
    let d = TestDaemon::start().await;
    let cases = [
        (
            json!({"name": "a", "runtime": "cobol", "code": "x"}),
            400,
            "unknown runtime 'cobol'",
        ),
        (
            json!({"name": "a", "runtime": "python"}),
            400,
            "code is required",
        ),
        (
            json!({"name": "a b", "runtime": "python", "code": "x"}),
            400,
            "invalid function name",
        ),
        (
            json!({"name": "a", "runtime": "python", "code": "x", "limits": {"vcpus": 64}}),
            400,
            "vcpus must be between 1 and 32",
        ),
        (
            json!({"name": "a", "runtime": "python", "code": "x", "timeout_s": -1}),
            400,
            "timeout_s must not be negative",
        ),
        (
            json!({"name": "a", "runtime": "python", "code": "x", "env_vars": {"1X": "y"}}),
            400,
            "invalid environment variable name",
        ),
        (
            json!({"name": "a", "runtime": "python", "code": "x", "colour": "red"}),
            400,
            "unknown field `colour`",
        ),
        (
            json!({"name": "a", "runtime": "go", "code": "package main"}),
            400,
            "must be a Linux executable",
        ),
        (
            json!({"name": "a", "runtime": "python", "code_base64": "!!!"}),
            400,
            "not valid base64",
        ),
        (
            json!({"name": "a", "runtime": "python", "mode": "eternal", "code": "x"}),
            400,
            "unknown mode",
        ),
    ];
    for (body, status, message) in cases {
        let (got, err) = d.post_json("/functions", &body).await;
        assert_eq!(got, status, "{body} → {err}");
        assert!(
            err["error"].as_str().unwrap_or("").contains(message),
            "{body} → {err}"
        );
    }
    let raw = d
        .client
        .post(d.url("/functions"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .expect("send");
    let (status, err) = status_and_json(raw).await;
    assert_eq!(status, 400);
    assert!(
        err["error"]
            .as_str()
            .unwrap_or("")
            .contains("invalid JSON body")
    );

    assert_eq!(
        d.post_json("/functions", &python_function("dup", HELLO))
            .await
            .0,
        201
    );
    let (status, err) = d
        .post_json("/functions", &python_function("dup", HELLO))
        .await;
    assert_eq!(
        (status, err["error"].as_str()),
        (409, Some("function 'dup' already exists"))
    );

    let (status, _) = d.invoke("dup", "{broken").await;
    assert_eq!(status, 400);
    let (status, _) = d.invoke("ghost", "{}").await;
    assert_eq!(status, 404);
    let (status, err) =
        status_and_json(d.client.get(d.url("/nowhere")).send().await.expect("send")).await;
    assert_eq!(
        (status, err["error"].as_str()),
        (404, Some("no route for /nowhere"))
    );
    let (status, _) = status_and_json(
        d.client
            .get(d.url("/functions?limit=0"))
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert_eq!(status, 400);
    let empty_patch = d
        .client
        .patch(d.url("/functions/dup"))
        .json(&json!({}))
        .send()
        .await
        .expect("send");
    assert_eq!(empty_patch.status().as_u16(), 400);
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_bodies_are_refused_with_413() {
    let d = TestDaemon::start().await;
    assert_eq!(
        d.post_json("/functions", &python_function("f", HELLO))
            .await
            .0,
        201
    );
    let big = format!("{{\"pad\":\"{}\"}}", "x".repeat(7 * 1024 * 1024));
    let (status, err) = d.invoke("f", &big).await;
    assert_eq!(status, 413, "{err}");
    assert_eq!(err["error"], "request body is too large");
    let huge_code = "#".repeat(33 * 1024 * 1024);
    let (status, err) = d
        .post_json("/functions", &python_function("g", &huge_code))
        .await;
    assert_eq!(status, 413, "{err}");
    // The daemon is unharmed.
    assert_eq!(d.invoke("f", "{}").await.0, 200);
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invoke_cold_then_warm_and_failures_map_to_statuses() {
    let d = TestDaemon::start().await;
    let mut counter = python_function(
        "count",
        &std::fs::read_to_string(examples().join("python/counter.py")).expect("example"),
    );
    counter["handler"] = json!("counter.handler");
    counter["mode"] = json!("persistent");
    assert_eq!(d.post_json("/functions", &counter).await.0, 201);
    let (s1, first) = d.invoke("count", r#"{"name":"A"}"#).await;
    let (s2, second) = d.invoke("count", "").await;
    assert_eq!((s1, s2), (200, 200));
    assert_eq!(
        (first["cold_start"].clone(), second["cold_start"].clone()),
        (json!(true), json!(false))
    );
    assert_eq!(second["output"]["invocations"], 2);
    assert_eq!(second["output"]["request_id"], second["request_id"]);
    assert_eq!(second["version"], 1);

    let mut slow = python_function("slow", "import time\ndef handler(e):\n    time.sleep(10)\n");
    slow["timeout_s"] = json!(1);
    assert_eq!(d.post_json("/functions", &slow).await.0, 201);
    let (status, body) = d.invoke("slow", "{}").await;
    assert_eq!(status, 504, "{body}");
    assert_eq!(body["timed_out"], true);

    let crash = python_function(
        "crash",
        "import sys\nif __name__ == '__main__':\n    sys.exit(7)\n",
    );
    assert_eq!(d.post_json("/functions", &crash).await.0, 201);
    let (status, body) = d.invoke("crash", "{}").await;
    assert_eq!(status, 200);
    assert!(
        body["error"].as_str().unwrap_or("").contains("status 7"),
        "{body}"
    );

    let broken = json!({"name": "broken", "runtime": "python", "mode": "persistent", "code": "def handler(:\n"});
    assert_eq!(d.post_json("/functions", &broken).await.0, 201);
    let (status, body) = d.invoke("broken", "{}").await;
    assert_eq!(status, 502, "{body}");
    assert!(
        body["error"].as_str().unwrap_or("").contains("SyntaxError"),
        "{body}"
    );
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_http_invocations_with_max_replicas() {
    let d = TestDaemon::start().await;
    let mut f = python_function(
        "echo",
        "def handler(event):\n    return {'id': event['id']}\n",
    );
    f["mode"] = json!("persistent");
    f["max_replicas"] = json!(3);
    assert_eq!(d.post_json("/functions", &f).await.0, 201);
    let calls = (0..50).map(|i| {
        let (client, url) = (d.client.clone(), d.url("/functions/echo/invoke"));
        tokio::spawn(async move {
            let resp = client
                .post(url)
                .header("content-type", "application/json")
                .body(format!("{{\"id\":{i}}}"))
                .send()
                .await
                .expect("send");
            (i, status_and_json(resp).await)
        })
    });
    let mut cold = 0;
    for call in calls {
        let (i, (status, body)) = call.await.expect("task");
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["output"]["id"], i, "response crossed");
        cold += usize::from(body["cold_start"] == true);
    }
    assert!(
        (1..=3).contains(&cold),
        "{cold} cold starts with max_replicas 3"
    );
    let metrics = d.text("/metrics").await;
    assert!(
        metrics.contains("nova_invocations_total{function=\"echo\"} 50"),
        "{metrics}"
    );
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_update_leaves_the_old_version_to_the_ttl_and_delete_stops_instances() {
    // The old version's instance is not evicted by the new one; the idle TTL reclaims it.
    let d = TestDaemon::start_with_ttl("2s").await;
    let mut f = python_function("ver", "def handler(e):\n    return 1\n");
    f["mode"] = json!("persistent");
    f["min_replicas"] = json!(1);
    assert_eq!(d.post_json("/functions", &f).await.0, 201);
    let instances = d.dir.path().join("instances");
    eventually("a pre-warmed instance", || agents_under(&instances) == 1).await;
    let (_, warm) = d.invoke("ver", "{}").await;
    assert_eq!(
        (warm["output"].clone(), warm["cold_start"].clone()),
        (json!(1), json!(false))
    );

    let patch = d
        .client
        .patch(d.url("/functions/ver"))
        .json(&json!({"code": "def handler(e):\n    return 2\n"}))
        .send()
        .await
        .expect("patch");
    assert_eq!(patch.status().as_u16(), 200);
    let (_, after) = d.invoke("ver", "{}").await;
    assert_eq!(
        (after["output"].clone(), after["version"].clone()),
        (json!(2), json!(2))
    );
    let request = d.client.post(d.url("/functions/ver/invoke?qualifier=1"));
    let (_, old) = status_and_json(request.json(&json!({})).send().await.expect("send")).await;
    assert_eq!(
        (old["output"].clone(), old["cold_start"].clone()),
        (json!(1), json!(false)),
        "version 1 is still warm after the update"
    );
    eventually("only the new version's instance, after the TTL", || {
        agents_under(&instances) == 1
    })
    .await;

    d.client
        .delete(d.url("/functions/ver"))
        .send()
        .await
        .expect("delete");
    eventually("no instances after delete", || {
        agents_under(&instances) == 0
    })
    .await;
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_shutdown_stops_everything() {
    let d = TestDaemon::start().await;
    let (status, health) =
        status_and_json(d.client.get(d.url("/health")).send().await.expect("health")).await;
    assert_eq!((status, health["status"].as_str()), (200, Some("ok")));
    let mut f = python_function("keep", HELLO);
    f["mode"] = json!("persistent");
    f["min_replicas"] = json!(2);
    assert_eq!(d.post_json("/functions", &f).await.0, 201);
    let instances = d.dir.path().join("instances");
    eventually("two pre-warmed instances", || agents_under(&instances) == 2).await;
    d.stop().await;
    eventually("no agent, standby ones included, after shutdown", || {
        all_agents_under(&instances) == 0
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_sweeper_stops_idle_instances_after_the_ttl() {
    let d = TestDaemon::start_with_ttl("300ms").await;
    let mut f = python_function("brief", HELLO);
    f["mode"] = json!("persistent");
    assert_eq!(d.post_json("/functions", &f).await.0, 201);
    assert_eq!(d.invoke("brief", "{}").await.0, 200);
    let instances = d.dir.path().join("instances");
    assert_eq!(agents_under(&instances), 1);
    eventually("the idle instance to expire", || {
        agents_under(&instances) == 0
    })
    .await;
    let (_, again) = d.invoke("brief", "{}").await;
    assert_eq!(again["cold_start"], true);
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wasm_functions_register_invoke_and_invalid_modules_are_refused() {
    let d = TestDaemon::start().await;
    let wat = std::fs::read_to_string(examples().join("wasm/hello.wat")).expect("example");
    let f = json!({"name": "hello-wasm", "runtime": "wasm", "code": wat});
    assert_eq!(d.post_json("/functions", &f).await.0, 201);
    let (s1, cold) = d.invoke("hello-wasm", r#"{"name":"W"}"#).await;
    let (s2, warm) = d.invoke("hello-wasm", r#"{"name":"X"}"#).await;
    assert_eq!((s1, s2), (200, 200));
    assert_eq!(
        cold["output"],
        json!({"hello": "wasm", "input": {"name": "W"}})
    );
    assert_eq!(
        (cold["cold_start"].clone(), warm["cold_start"].clone()),
        (json!(true), json!(false))
    );

    let bad = json!({"name": "bad-wasm", "runtime": "wasm", "code_base64": "AGFzbQEAAAAB"});
    let (status, err) = d.post_json("/functions", &bad).await;
    assert_eq!(status, 400, "{err}");
    assert!(
        err["error"]
            .as_str()
            .unwrap_or("")
            .contains("invalid WebAssembly module"),
        "{err}"
    );
    let (status, _) = status_and_json(
        d.client
            .get(d.url("/functions/bad-wasm"))
            .send()
            .await
            .expect("get"),
    )
    .await;
    assert_eq!(status, 404, "a refused module must not be stored");
    d.stop().await;
}

#[tokio::test]
async fn the_kv_service_is_served_embedded() {
    let d = TestDaemon::start().await;
    let url = d.url("/databases/default/keys/state/counter");
    let put = d
        .client
        .put(&url)
        .header("content-type", "application/json")
        .body("{\"n\": 1}")
        .send()
        .await
        .expect("put");
    assert_eq!(put.status(), 204);
    let got = d.client.get(&url).send().await.expect("get");
    assert_eq!(got.headers()["content-type"], "application/json");
    assert_eq!(got.text().await.expect("body"), "{\"n\": 1}");
    let missing = d
        .client
        .get(d.url("/databases/nope/keys/x"))
        .send()
        .await
        .expect("get");
    assert_eq!(missing.status(), 404);
    let metrics = d.text("/metrics").await;
    assert!(
        metrics.contains("comet_kv_requests_total{route=\"put\",db=\"default\",status=\"204\"} 1"),
        "{metrics}"
    );
    d.stop().await;
}
