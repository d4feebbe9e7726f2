//! Access and records over the HTTP API: invocation logs, API keys and secrets.

mod common;

use common::{TestDaemon, python_function};

#[tokio::test]
async fn every_invocation_is_logged() {
    let d = TestDaemon::start().await;
    let source = "import sys\ndef handler(event, context=None):\n    print('said', event.get('n'))\n    if event.get('fail'):\n        raise ValueError('no')\n    return {'n': event.get('n')}\n";
    let mut config = python_function("logged", source);
    config["handler"] = "main.handler".into();
    let (status, body) = d.post_json("/functions", &config).await;
    assert_eq!(status, 201, "{body}");
    let mut ids = Vec::new();
    for payload in [r#"{"n": 1}"#, r#"{"n": 2}"#, r#"{"fail": true}"#] {
        let (status, body) = d.invoke("logged", payload).await;
        assert_eq!(status, 200, "{body}");
        ids.push(body["request_id"].as_str().expect("id").to_string());
    }
    // Records are written in batches off the hot path, yet a read sees every call that finished
    // before it.
    let text = d.text("/functions/logged/logs?tail=10").await;
    let logs: serde_json::Value = serde_json::from_str(&text).expect("json");
    let records = logs.as_array().expect("logs");
    assert_eq!(records.len(), 3, "{logs}");
    assert_eq!(records[0]["id"], ids[2].as_str(), "newest first");
    assert_eq!(records[0]["success"], false);
    assert!(
        records[0]["error_message"]
            .as_str()
            .expect("error")
            .contains("no")
    );
    assert_eq!(records[2]["cold_start"], true);
    assert!(
        records[1]["stdout"]
            .as_str()
            .expect("stdout")
            .contains("said 2")
    );
    assert!(records[1]["duration_us"].as_u64().expect("duration") > 0);
    assert_eq!(records[1]["input_size"], 8);
    // One request by id; the whole list; bad and unknown requests.
    let one: serde_json::Value = serde_json::from_str(
        &d.text(&format!("/functions/logged/logs?request_id={}", ids[0]))
            .await,
    )
    .expect("json");
    assert_eq!(one.as_array().expect("logs").len(), 1);
    let all: serde_json::Value =
        serde_json::from_str(&d.text("/invocations?function=logged&limit=2").await).expect("json");
    assert_eq!(all.as_array().expect("list").len(), 2);
    let r = d
        .client
        .get(d.url("/functions/nope/logs"))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 404);
    let r = d
        .client
        .get(d.url("/invocations?limit=0"))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 400);
    d.stop().await;
}

#[tokio::test]
async fn api_keys_guard_the_api_once_one_exists() {
    let d = TestDaemon::start().await;
    let call = |method: &str, path: &str, key: Option<&str>, body: Option<serde_json::Value>| {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut request = d.client.request(method, d.url(path));
        if let Some(k) = key {
            request = request.bearer_auth(k);
        }
        if let Some(b) = body {
            request = request.json(&b);
        }
        async move {
            let r = request.send().await.expect("send");
            let status = r.status().as_u16();
            (
                status,
                r.json::<serde_json::Value>().await.unwrap_or_default(),
            )
        }
    };
    // No keys yet: open, and the first key can be made without one.
    assert_eq!(call("GET", "/functions", None, None).await.0, 200);
    let new_key = |name: &str, scopes: &[&str]| serde_json::json!({"name": name, "scopes": scopes});
    let (status, admin) = call("POST", "/apikeys", None, Some(new_key("ops", &["admin"]))).await;
    assert_eq!(status, 201, "{admin}");
    let admin = admin["key"].as_str().expect("key").to_string();
    // From now on, keys are required.
    let (status, body) = call("POST", "/apikeys", None, Some(new_key("x", &["read"]))).await;
    assert_eq!(status, 401, "{body}");
    let make = |name: &'static str, scopes: &'static [&'static str]| {
        let admin = admin.clone();
        let call = &call;
        async move {
            let (status, body) = call(
                "POST",
                "/apikeys",
                Some(&admin),
                Some(new_key(name, scopes)),
            )
            .await;
            assert_eq!(status, 201, "{body}");
            body["key"].as_str().expect("key").to_string()
        }
    };
    let reader = make("reader", &["read"]).await;
    let invoker = make("invoker", &["invoke"]).await;
    // A taken name is a conflict that names the API key, on create and on rename.
    let (status, body) = call(
        "POST",
        "/apikeys",
        Some(&admin),
        Some(new_key("reader", &["read"])),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (409, Some("API key 'reader' already exists"))
    );
    let rename = serde_json::json!({"name": "reader"});
    let (status, body) = call("PATCH", "/apikeys/invoker", Some(&admin), Some(rename)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (409, Some("API key 'reader' already exists"))
    );
    let f = python_function(
        "guarded",
        "def handler(event, context=None):\n    return 1\n",
    );
    assert_eq!(
        call("POST", "/functions", Some(&reader), Some(f.clone()))
            .await
            .0,
        403
    );
    assert_eq!(
        call("POST", "/functions", Some(&admin), Some(f)).await.0,
        201
    );
    for (key, expected) in [
        (None, 401),
        (Some("nova_000000000000_wrong"), 401),
        (Some("garbage"), 401),
        (Some(invoker.as_str()), 403),
        (Some(reader.as_str()), 200),
        (Some(admin.as_str()), 200),
    ] {
        assert_eq!(
            call("GET", "/functions/guarded", key, None).await.0,
            expected,
            "{key:?}"
        );
    }
    let invoke = "/functions/guarded/invoke";
    assert_eq!(call("POST", invoke, Some(&reader), None).await.0, 403);
    assert_eq!(call("POST", invoke, Some(&invoker), None).await.0, 200);
    assert_eq!(
        call("DELETE", "/functions/guarded", Some(&invoker), None)
            .await
            .0,
        403
    );
    assert_eq!(call("GET", "/health", None, None).await.0, 200);
    // Listing keys never shows a secret or its digest.
    assert_eq!(call("GET", "/apikeys", Some(&reader), None).await.0, 403);
    let (status, keys) = call("GET", "/apikeys", Some(&admin), None).await;
    assert_eq!(status, 200);
    let text = keys.to_string();
    assert!(!text.contains("digest") && !text.contains(reader.rsplit('_').next().expect("secret")));
    assert_eq!(keys.as_array().expect("keys").len(), 3);
    // Revoked and expired keys stop working.
    assert_eq!(
        call("POST", "/apikeys/reader/revoke", Some(&admin), None)
            .await
            .0,
        204
    );
    assert_eq!(call("GET", "/functions", Some(&reader), None).await.0, 401);
    let body = serde_json::json!({"name": "brief", "scopes": ["read"], "expires_in": "1s"});
    let (_, brief) = call("POST", "/apikeys", Some(&admin), Some(body)).await;
    let brief = brief["key"].as_str().expect("key").to_string();
    assert_eq!(call("GET", "/functions", Some(&brief), None).await.0, 200);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(call("GET", "/functions", Some(&brief), None).await.0, 401);
    assert_eq!(
        call("DELETE", "/apikeys/nope", Some(&admin), None).await.0,
        404
    );
    d.stop().await;
}

#[tokio::test]
async fn secrets_are_resolved_only_in_the_invocation_path() {
    let d = TestDaemon::start().await;
    let value = "s3cr3t-value-7f1d9c";
    let put = d
        .client
        .put(d.url("/secrets/api-token"))
        .json(&serde_json::json!({"value": value}))
        .send()
        .await
        .expect("put");
    assert_eq!(put.status(), 204);
    let source = "import os\ndef handler(event, context=None):\n    return {'len': len(os.environ['TOKEN']), 'same': os.environ['TOKEN'] == event['expect']}\n";
    let mut config = python_function("uses-secret", source);
    config["handler"] = "main.handler".into();
    config["env_vars"] = serde_json::json!({"TOKEN": "$SECRET:api-token"});
    let (status, body) = d.post_json("/functions", &config).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["env_vars"]["TOKEN"], "$SECRET:api-token");
    let (status, body) = d
        .invoke("uses-secret", &format!(r#"{{"expect": "{value}"}}"#))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["output"]["same"], true, "{body}");
    // get, list and the database file never show the value.
    let got = d.text("/functions/uses-secret").await;
    assert!(got.contains("$SECRET:api-token") && !got.contains(value));
    let listed = d.text("/secrets").await;
    assert!(
        listed.contains("api-token") && !listed.contains(value),
        "{listed}"
    );
    let db = std::fs::read(d.dir.path().join("nova.db")).expect("db");
    let wal = std::fs::read(d.dir.path().join("nova.db-wal")).unwrap_or_default();
    let needle = value.as_bytes();
    for bytes in [&db, &wal] {
        assert!(
            !bytes.windows(needle.len()).any(|w| w == needle),
            "plaintext at rest"
        );
    }
    // A new value reaches the function (its instances were replaced).
    let put = d
        .client
        .put(d.url("/secrets/api-token"))
        .json(&serde_json::json!({"value": "another"}))
        .send()
        .await
        .expect("put");
    assert_eq!(put.status(), 204);
    let (_, body) = d.invoke("uses-secret", r#"{"expect": "another"}"#).await;
    assert_eq!(body["output"]["same"], true, "{body}");
    // A missing secret is refused at registration, by name; the value of none appears anywhere.
    let mut config = python_function("missing-secret", source);
    config["handler"] = "main.handler".into();
    config["env_vars"] = serde_json::json!({"TOKEN": "$SECRET:nope"});
    let (status, body) = d.post_json("/functions", &config).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"].as_str().expect("error").contains("nope"));
    let logs = d.text("/invocations?limit=100").await;
    assert!(!logs.contains(value) && !logs.contains("another"));
    assert_eq!(
        d.client
            .delete(d.url("/secrets/api-token"))
            .send()
            .await
            .expect("delete")
            .status(),
        204
    );
    assert_eq!(
        d.client
            .delete(d.url("/secrets/api-token"))
            .send()
            .await
            .expect("delete")
            .status(),
        404
    );
    d.stop().await;
}

#[tokio::test]
async fn invocations_are_limited_per_key_and_per_function() {
    let d =
        TestDaemon::start_with_config("limits:\n  per_key: 2/s:3\n  per_function: 60/m:4\n").await;
    let mut f = python_function(
        "limited",
        "def handler(event, context=None):\n    return 1\n",
    );
    f["mode"] = "persistent".into();
    f["handler"] = "main.handler".into();
    assert_eq!(d.post_json("/functions", &f).await.0, 201);
    // Open API: every caller shares one key bucket of burst 3.
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let r = d
            .client
            .post(d.url("/functions/limited/invoke"))
            .send()
            .await
            .expect("invoke");
        if r.status() == 429 {
            assert!(
                r.headers().contains_key("retry-after"),
                "429 without Retry-After"
            );
        }
        statuses.push(r.status().as_u16());
    }
    assert_eq!(statuses, [200, 200, 200, 429], "per-key burst");
    // A caller over its limit is refused before its body is read: a 429, not the 413 that a
    // body over the invoke limit (6 MiB) gets once read.
    let r = d
        .client
        .post(d.url("/functions/limited/invoke"))
        .header("content-type", "application/json")
        .body(vec![b' '; 7 << 20])
        .send()
        .await
        .expect("invoke");
    assert_eq!(r.status(), 429, "refused before the body is read");
    // After the key bucket refills, the function's own bucket (1/s, burst 4) stops the third.
    tokio::time::sleep(std::time::Duration::from_millis(1600)).await;
    let (status, body) = d.invoke("limited", "{}").await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = d.invoke("limited", "{}").await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = d.invoke("limited", "{}").await;
    assert_eq!(status, 429, "per-function limit: {body}");
    assert!(
        body["error"]
            .as_str()
            .expect("error")
            .contains("function:limited"),
        "{body}"
    );
    d.stop().await;
}

/// Two daemons on one Redis honour one limit; with Redis unreachable each daemon limits alone.
#[tokio::test]
async fn a_redis_limit_is_shared_by_daemons_and_survives_redis_going_away() {
    let name = format!("shared-limit-{}", std::process::id());
    let config = "redis:\n  addr: 127.0.0.1:6379\nlimits:\n  per_function: 1/m:3\n";
    let (a, b) = (
        TestDaemon::start_with_config(config).await,
        TestDaemon::start_with_config(config).await,
    );
    let f = python_function(&name, "def handler(event, context=None):\n    return 1\n");
    for d in [&a, &b] {
        assert_eq!(d.post_json("/functions", &f).await.0, 201);
    }
    let mut statuses = Vec::new();
    for d in [&a, &b, &a, &b] {
        statuses.push(d.invoke(&name, "{}").await.0);
    }
    assert_eq!(statuses, [200, 200, 200, 429], "one bucket across daemons");

    // Redis away: calls neither hang nor go unlimited; each daemon limits with its own buckets.
    let gone = "redis:\n  addr: 127.0.0.1:1\nlimits:\n  per_function: 1/m:2\n";
    let c = TestDaemon::start_with_config(gone).await;
    assert_eq!(c.post_json("/functions", &f).await.0, 201);
    let started = std::time::Instant::now();
    let statuses: Vec<u16> = [
        c.invoke(&name, "{}").await.0,
        c.invoke(&name, "{}").await.0,
        c.invoke(&name, "{}").await.0,
    ]
    .to_vec();
    assert_eq!(statuses, [200, 200, 429]);
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    for d in [a, b, c] {
        d.stop().await;
    }
}

/// Two daemons on one Postgres and one Redis: an update or delete on one reaches the other's
/// warm spec cache and instances.
#[tokio::test]
async fn an_update_on_one_daemon_reaches_the_other_through_redis() {
    // A database of its own: no API key was ever made there, so the API is open.
    let db = nova_store::testing::FreshDatabase::create().await;
    let (a, b, _keys) = common::databases::shared_pair(&db.dsn).await;
    let name = format!("spread-{}", std::process::id());
    let mut f = python_function(
        &name,
        "def handler(event, context=None):\n    return 'v1'\n",
    );
    f["mode"] = "persistent".into();
    f["handler"] = "main.handler".into();
    assert_eq!(a.post_json("/functions", &f).await.0, 201);
    let (_, body) = b.invoke(&name, "{}").await;
    assert_eq!(body["output"], "v1", "{body}");
    let patch = a
        .client
        .patch(a.url(&format!("/functions/{name}")))
        .json(&serde_json::json!({"code": "def handler(event, context=None):\n    return 'v2'\n"}))
        .send()
        .await
        .expect("patch");
    assert_eq!(patch.status(), 200);
    let mut seen = serde_json::Value::Null;
    for _ in 0..60 {
        seen = b.invoke(&name, "{}").await.1["output"].clone();
        if seen == "v2" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(seen, "v2", "the other daemon kept the old version");
    let deleted = a
        .client
        .delete(a.url(&format!("/functions/{name}")))
        .send()
        .await
        .expect("delete");
    assert_eq!(deleted.status(), 204);
    let mut status = 0;
    for _ in 0..60 {
        status = b.invoke(&name, "{}").await.0;
        if status == 404 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(
        status, 404,
        "the other daemon still runs a deleted function"
    );
    a.stop().await;
    b.stop().await;
}
