//! The original Nova's clients (its CLI `orbit`) against this API: the requests they send, the
//! shapes they read; Prometheus counters that never go down; JSON errors everywhere; and the
//! embedded KV routes behind the same API keys as the rest.

mod common;

use std::process::{Command, Stdio};

use common::process::{NOVA, daemon_and_cli};
use common::{TestDaemon, python_function, status_and_json};
use reqwest::header::{ACCEPT, CONTENT_TYPE};
use serde_json::{Value, json};

const HELLO: &str =
    "def handler(event, context):\n    return {'hello': event.get('name', 'world')}\n";

fn is_rfc3339(value: &Value) -> bool {
    value
        .as_str()
        .is_some_and(|t| humantime::parse_rfc3339(t).is_ok())
}

async fn send(
    d: &TestDaemon,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = d.client.request(method, d.url(path));
    if let Some(body) = body {
        request = request.json(&body);
    }
    status_and_json(request.send().await.expect("send")).await
}

/// What `orbit functions create --code-path`, `code get|update`, `logs`, `invocations`,
/// `metrics` and `secrets` send and read.
#[tokio::test]
async fn the_original_clients_requests_and_shapes() {
    let d = TestDaemon::start().await;
    use reqwest::Method;
    // orbit sends the file's path beside its content, and the original's model has more fields.
    let mut create = python_function("hello", HELLO);
    create["code_path"] = "/home/me/hello.py".into();
    create["auto_scale_policy"] = json!({"enabled": false});
    let (status, created) = send(&d, Method::POST, "/functions", Some(create.clone())).await;
    assert_eq!(status, 201, "{created}");
    assert!(is_rfc3339(&created["created_at"]) && is_rfc3339(&created["updated_at"]));
    // A field nobody knows is still refused, by name.
    let mut typo = python_function("typo", HELLO);
    typo["memroy_mb"] = 256.into();
    let (status, body) = send(&d, Method::POST, "/functions", Some(typo)).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"].as_str().expect("error").contains("memroy_mb"));
    let patch = json!({"memory_mb": 256, "code": HELLO, "code_path": "/home/me/hello.py"});
    let (status, body) = send(&d, Method::PATCH, "/functions/hello", Some(patch)).await;
    assert_eq!((status, body["version"].as_u64()), (200, Some(2)), "{body}");

    // Code: the original's JSON, or the bytes to a client that asks for them.
    let (status, code) = send(&d, Method::GET, "/functions/hello/code", None).await;
    assert_eq!(status, 200, "{code}");
    assert_eq!(code["function_id"], created["id"]);
    assert_eq!(code["source_code"], HELLO);
    assert_eq!(code["source_hash"], created["code_hash"]);
    assert_eq!(code["compile_status"], "not_required");
    let raw = d
        .client
        .get(d.url("/functions/hello/code"))
        .header(ACCEPT, "application/octet-stream")
        .send()
        .await
        .expect("raw");
    assert_eq!(raw.text().await.expect("text"), HELLO);
    let v3 = "def handler(event, context):\n    return {'v': 3}\n";
    let (status, put) = send(
        &d,
        Method::PUT,
        "/functions/hello/code",
        Some(json!({"code": v3})),
    )
    .await;
    assert_eq!(status, 200, "{put}");
    assert_eq!(put["version"], 3);
    assert_eq!(
        put["source_hash"],
        nova_api::code_hash(v3.as_bytes()).as_str()
    );
    let (status, body) = send(&d, Method::POST, "/functions/hello/invoke", Some(json!({}))).await;
    assert_eq!((status, &body["output"]), (200, &json!({"v": 3})), "{body}");
    let (status, _) = send(
        &d,
        Method::PUT,
        "/functions/nope/code",
        Some(json!({"code": v3})),
    )
    .await;
    assert_eq!(status, 404);

    // Logs and invocations: bare arrays in the original's field names.
    for path in ["/functions/hello/logs?tail=5", "/invocations?limit=5"] {
        let (status, logs) = send(&d, Method::GET, path, None).await;
        assert_eq!(status, 200, "{logs}");
        let logs = logs.as_array().unwrap_or_else(|| panic!("{path}: {logs}"));
        assert_eq!(logs.len(), 1, "{path}");
        let log = &logs[0];
        assert_eq!(log["id"], body["request_id"]);
        assert_eq!(log["function_name"], "hello");
        assert_eq!(log["function_id"], created["id"]);
        assert_eq!(log["runtime"], "python");
        assert_eq!(log["input_size"], 2);
        assert!(log["output_size"].as_u64() > Some(0), "{log}");
        assert_eq!(log["success"], true);
        assert!(
            log["duration_ms"].is_u64() && is_rfc3339(&log["created_at"]),
            "{log}"
        );
    }

    // Metrics: JSON when asked for, Prometheus text otherwise and at /metrics/prometheus.
    let json_metrics = d
        .client
        .get(d.url("/metrics"))
        .header(ACCEPT, "application/json")
        .send()
        .await
        .expect("metrics");
    let (status, m) = status_and_json(json_metrics).await;
    assert_eq!(status, 200, "{m}");
    assert_eq!(m["invocations"]["total"], 1, "{m}");
    assert_eq!(m["functions"]["hello"]["cold_starts"], 1, "{m}");
    for path in ["/metrics", "/metrics/prometheus"] {
        let text = d.text(path).await;
        assert!(
            text.contains("nova_invocations_total{function=\"hello\"} 1"),
            "{path}: {text}"
        );
    }

    // Secrets: created the original's way, listed with RFC 3339 times.
    let secret = json!({"name": "tok", "value": "s3cret"});
    let (status, body) = send(&d, Method::POST, "/secrets", Some(secret)).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["name"], "tok");
    let (_, listed) = send(&d, Method::GET, "/secrets", None).await;
    assert_eq!(listed[0]["name"], "tok");
    assert!(is_rfc3339(&listed[0]["created_at"]) && is_rfc3339(&listed[0]["updated_at"]));
    assert!(!listed.to_string().contains("s3cret"));
    d.stop().await;
}

/// `nova_*_total` stay counters when a function is updated (its pool, which counted, is dropped).
#[tokio::test]
async fn counters_never_decrease_when_a_function_is_updated() {
    let d = TestDaemon::start().await;
    let source = "def handler(event, context):\n    if event.get('fail'):\n        raise ValueError('no')\n    return {}\n";
    let (status, body) = d
        .post_json("/functions", &python_function("c", source))
        .await;
    assert_eq!(status, 201, "{body}");
    for payload in [json!({}), json!({}), json!({"fail": true})] {
        let r = d
            .client
            .post(d.url("/functions/c/invoke"))
            .json(&payload)
            .send()
            .await
            .expect("invoke");
        assert_eq!(r.status(), 200);
    }
    let figures = |text: &str| -> [String; 3] {
        [
            "nova_invocations_total",
            "nova_invocation_errors_total",
            "nova_cold_starts_total",
        ]
        .map(|name| {
            text.lines()
                .find_map(|l| l.strip_prefix(&format!("{name}{{function=\"c\"}} ")))
                .unwrap_or_else(|| panic!("{name} missing: {text}"))
                .to_string()
        })
    };
    assert_eq!(figures(&d.text("/metrics").await), ["3", "1", "1"]);
    let patch = json!({"code": format!("{source}\n")});
    let r = d
        .client
        .patch(d.url("/functions/c"))
        .json(&patch)
        .send()
        .await
        .expect("update");
    assert_eq!(r.status(), 200);
    assert_eq!(
        figures(&d.text("/metrics").await),
        ["3", "1", "1"],
        "an update must not lower a counter"
    );
    let r = d
        .client
        .post(d.url("/functions/c/invoke"))
        .json(&json!({}))
        .send()
        .await
        .expect("invoke");
    assert_eq!(r.status(), 200);
    assert_eq!(figures(&d.text("/metrics").await), ["4", "1", "2"]);
    d.stop().await;
}

/// 404, 405, an unreadable path, query or body: `{"error": ...}` with the right status; and env
/// that names a missing secret is refused when it is written, not when it is run.
#[tokio::test]
async fn every_error_is_json_and_missing_secrets_are_refused_up_front() {
    let d = TestDaemon::start().await;
    use reqwest::Method;
    let cases: [(Method, &str, Option<Value>, u16); 7] = [
        (Method::GET, "/nowhere", None, 404),
        (Method::DELETE, "/health", None, 405),
        (Method::PUT, "/functions", Some(json!({})), 405),
        (Method::GET, "/functions/%FF%FE", None, 400),
        (Method::GET, "/functions?limit=many", None, 400),
        (
            Method::PUT,
            "/secrets/x",
            Some(json!({"valu": "typo"})),
            400,
        ),
        (Method::POST, "/secrets", Some(json!({"name": "x"})), 400),
    ];
    for (method, path, body, expected) in cases {
        let mut request = d.client.request(method.clone(), d.url(path));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("send");
        let content_type = response.headers().get(CONTENT_TYPE).cloned();
        let (status, body) = status_and_json(response).await;
        assert_eq!(status, expected, "{method} {path}: {body}");
        assert!(
            body["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{method} {path}: {body}"
        );
        assert_eq!(
            content_type.as_ref().and_then(|v| v.to_str().ok()),
            Some("application/json"),
            "{method} {path}"
        );
    }

    let mut config = python_function("needs-secret", HELLO);
    config["env_vars"] = json!({"TOKEN": "$SECRET:nope"});
    let (status, body) = d.post_json("/functions", &config).await;
    assert_eq!(status, 400, "{body}");
    let error = body["error"].as_str().expect("error");
    assert!(error.contains("nope") && error.contains("TOKEN"), "{error}");
    assert_eq!(
        d.post_json("/functions", &python_function("plain", HELLO))
            .await
            .0,
        201
    );
    let r = d
        .client
        .patch(d.url("/functions/plain"))
        .json(&json!({"env_vars": {"TOKEN": "$SECRET:nope"}}))
        .send()
        .await
        .expect("patch");
    let (status, body) = status_and_json(r).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"].as_str().expect("error").contains("nope"));
    // Once the secret exists, the same env is accepted.
    let r = d
        .client
        .put(d.url("/secrets/nope"))
        .json(&json!({"value": "now it exists"}))
        .send()
        .await
        .expect("put");
    assert_eq!(r.status(), 204);
    assert_eq!(d.post_json("/functions", &config).await.0, 201);
    d.stop().await;
}

/// Once keys exist, the embedded KV routes need one too: a write needs admin.
#[tokio::test]
async fn the_embedded_kv_routes_obey_api_keys() {
    let d = TestDaemon::start().await;
    let key = |name: &str, scope: &str| {
        let body = json!({"name": name, "scopes": [scope]});
        let request = d.client.post(d.url("/apikeys")).json(&body);
        async move {
            let (status, created) = status_and_json(request.send().await.expect("key")).await;
            (status, created)
        }
    };
    let (status, admin) = key("root", "admin").await;
    assert_eq!(status, 201, "{admin}");
    let admin = admin["key"].as_str().expect("key").to_string();
    let body = json!({"name": "reader", "scopes": ["read"]});
    let r = d
        .client
        .post(d.url("/apikeys"))
        .bearer_auth(&admin)
        .json(&body)
        .send()
        .await
        .expect("key");
    let (status, reader) = status_and_json(r).await;
    assert_eq!(status, 201, "{reader}");
    let reader = reader["key"].as_str().expect("key").to_string();
    let put = |key: Option<&str>| {
        let mut request = d
            .client
            .put(d.url("/databases/default/keys/a"))
            .body("{\"n\": 1}");
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        async move { request.send().await.expect("put").status().as_u16() }
    };
    assert_eq!(put(None).await, 401);
    assert_eq!(put(Some(&reader)).await, 403);
    assert_eq!(put(Some(&admin)).await, 204);
    let get = |key: Option<&str>| {
        let mut request = d.client.get(d.url("/databases/default/keys/a"));
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        async move { request.send().await.expect("get").status().as_u16() }
    };
    assert_eq!(get(None).await, 401);
    assert_eq!(get(Some(&reader)).await, 200);
    d.stop().await;
}

/// `nova list | head -1`: a reader that goes away ends the command quietly, not in a panic.
#[test]
fn a_closed_stdout_ends_the_cli_quietly() {
    let (daemon, env) = daemon_and_cli(&[]);
    for name in ["one", "two"] {
        env.register_hello(name);
    }
    for args in [&["list"][..], &["get", "one"], &["logs", "one"]] {
        let (reader, writer) = std::io::pipe().expect("pipe");
        // Closed before the command writes anything: its first write meets a broken pipe.
        drop(reader);
        let out = Command::new(NOVA)
            .args(args)
            .env("NOVA_DATA_DIR", env.data_dir.path())
            .env("NOVA_URL", &env.url)
            .stdout(writer)
            .stderr(Stdio::piped())
            .output()
            .expect("run nova");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "nova {args:?}: {stderr}");
        assert_eq!(out.status.code(), Some(0), "nova {args:?}: {stderr}");
    }
    drop(daemon);
}
