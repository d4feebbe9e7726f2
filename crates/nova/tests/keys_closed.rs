//! Issue 13: API keys fail closed (point 1), keys as the original Nova's clients send them and
//! `PATCH /apikeys/{name}` (point 13), and JSON errors for bad key and secret requests (point 16).

mod common;

use std::time::Duration;

use common::TestDaemon;
use serde_json::{Value, json};

/// `method path` with an optional key sent as `Authorization: Bearer` and an optional JSON body.
async fn call(
    d: &TestDaemon,
    method: &str,
    path: &str,
    key: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    let mut request = d.client.request(method, d.url(path));
    if let Some(k) = key {
        request = request.bearer_auth(k);
    }
    if let Some(b) = body {
        request = request.json(&b);
    }
    common::status_and_json(request.send().await.expect("send")).await
}

async fn make_key(d: &TestDaemon, by: Option<&str>, body: Value) -> String {
    let (status, created) = call(d, "POST", "/apikeys", by, Some(body)).await;
    assert_eq!(status, 201, "{created}");
    created["key"].as_str().expect("key").to_string()
}

/// A worker's view (`comet daemon --api-keys-from <nova.db>`) of the daemon's store.
async fn worker_verifier(d: &TestDaemon) -> nova_keys::Verifier {
    let db = d.dir.path().join("nova.db");
    let source = nova_keys::sql::SqlKeys::open(db.to_str().expect("utf-8"))
        .await
        .expect("open as a worker");
    nova_keys::Verifier::new(std::sync::Arc::new(source), false)
}

#[tokio::test]
async fn an_expired_last_key_leaves_the_api_closed() {
    let d = TestDaemon::start().await;
    let root = make_key(
        &d,
        None,
        json!({"name": "root", "scopes": ["admin"], "expires_in": "1s"}),
    )
    .await;
    assert_eq!(call(&d, "GET", "/secrets", Some(&root), None).await.0, 200);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (status, body) = call(&d, "GET", "/secrets", None, None).await;
    assert_eq!(status, 401, "{body}");
    assert!(body["error"].is_string(), "{body}");
    let new = json!({"name": "again", "scopes": ["admin"]});
    assert_eq!(
        call(&d, "POST", "/apikeys", None, Some(new.clone()))
            .await
            .0,
        401
    );
    assert_eq!(
        call(&d, "POST", "/apikeys", Some(&root), Some(new)).await.0,
        401,
        "the expired key itself"
    );
    let worker = worker_verifier(&d).await;
    assert!(
        matches!(
            worker.check(None, nova_keys::Scope::Invoke).await,
            Err(nova_keys::Denied::Unauthenticated(_))
        ),
        "a worker reading the store is closed as well"
    );
    d.stop().await;
}

#[tokio::test]
async fn revoking_or_deleting_the_last_key_leaves_the_api_closed() {
    let d = TestDaemon::start().await;
    let root = make_key(&d, None, json!({"name": "root", "scopes": ["admin"]})).await;
    let spare = make_key(
        &d,
        Some(&root),
        json!({"name": "spare", "scopes": ["read"]}),
    )
    .await;
    assert_eq!(
        call(&d, "DELETE", "/apikeys/spare", Some(&root), None)
            .await
            .0,
        204
    );
    assert_eq!(
        call(&d, "GET", "/functions", Some(&spare), None).await.0,
        401
    );
    assert_eq!(
        call(&d, "POST", "/apikeys/root/revoke", Some(&root), None)
            .await
            .0,
        204
    );
    assert_eq!(call(&d, "GET", "/secrets", None, None).await.0, 401);
    assert_eq!(
        call(&d, "GET", "/secrets", Some(&root), None).await.0,
        401,
        "the revoked key itself"
    );
    assert_eq!(
        call(
            &d,
            "POST",
            "/apikeys",
            None,
            Some(json!({"name": "x", "scopes": ["admin"]}))
        )
        .await
        .0,
        401
    );
    let worker = worker_verifier(&d).await;
    assert!(worker.check(None, nova_keys::Scope::Read).await.is_err());
    d.stop().await;

    // The operator opens it on purpose: without a key while none is active.
    let open = TestDaemon::start_with_config("auth:\n  allow_anonymous: true\n").await;
    let root = make_key(&open, None, json!({"name": "root", "scopes": ["admin"]})).await;
    assert_eq!(call(&open, "GET", "/secrets", None, None).await.0, 401);
    assert_eq!(
        call(&open, "POST", "/apikeys/root/revoke", Some(&root), None)
            .await
            .0,
        204
    );
    assert_eq!(call(&open, "GET", "/secrets", None, None).await.0, 200);
    open.stop().await;
}

#[tokio::test]
async fn keys_come_as_the_original_clients_send_them_and_can_be_patched() {
    let d = TestDaemon::start().await;
    let (status, created) = call(
        &d,
        "POST",
        "/apikeys",
        None,
        Some(json!({"name": "ops", "scopes": ["admin"], "expires_in": "1h"})),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let rfc3339 = |v: &Value| {
        v.as_str()
            .is_some_and(|t| humantime::parse_rfc3339(t).is_ok())
    };
    assert!(rfc3339(&created["created_at"]), "{created}");
    assert!(rfc3339(&created["expires_at"]), "{created}");
    let admin = created["key"].as_str().expect("key").to_string();
    for (header, value) in [
        ("x-api-key", admin.clone()),
        ("authorization", format!("ApiKey {admin}")),
        ("authorization", format!("Bearer {admin}")),
    ] {
        let r = d
            .client
            .get(d.url("/apikeys"))
            .header(header, value)
            .send()
            .await
            .expect("send");
        assert_eq!(r.status(), 200, "{header}");
    }
    let reader = make_key(&d, Some(&admin), json!({"name": "ci", "scopes": ["read"]})).await;

    // What orbit's `apikeys update` sends (name, scopes) and the original API's `enabled`.
    let (status, patched) = call(
        &d,
        "PATCH",
        "/apikeys/ci",
        Some(&admin),
        Some(json!({"name": "ci2", "scopes": ["read", "invoke"]})),
    )
    .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(
        (patched["name"].clone(), patched["scopes"].clone()),
        (json!("ci2"), json!("invoke,read"))
    );
    assert!(rfc3339(&patched["created_at"]), "{patched}");
    let (status, patched) = call(
        &d,
        "PATCH",
        "/apikeys/ci2",
        Some(&admin),
        Some(json!({"enabled": false})),
    )
    .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(patched["status"], "revoked");
    assert!(rfc3339(&patched["revoked_at"]), "{patched}");
    assert_eq!(
        call(&d, "GET", "/functions", Some(&reader), None).await.0,
        401
    );
    let (status, listed) = call(&d, "GET", "/apikeys", Some(&admin), None).await;
    assert_eq!(status, 200);
    let ci = listed
        .as_array()
        .expect("keys")
        .iter()
        .find(|k| k["name"] == "ci2")
        .expect("ci2")
        .clone();
    assert_eq!(
        (ci["status"].clone(), ci["enabled"].clone()),
        (json!("revoked"), json!(false))
    );
    assert!(rfc3339(&ci["revoked_at"]), "{ci}");
    let (status, _) = call(
        &d,
        "PATCH",
        "/apikeys/ci2",
        Some(&admin),
        Some(json!({"enabled": true})),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        call(&d, "GET", "/functions", Some(&reader), None).await.0,
        200
    );
    assert_eq!(
        call(&d, "POST", "/functions/x/invoke", Some(&reader), None)
            .await
            .0,
        404,
        "the invoke scope was granted: past the door, no such function"
    );
    let (status, body) = call(
        &d,
        "PATCH",
        "/apikeys/nope",
        Some(&admin),
        Some(json!({"enabled": false})),
    )
    .await;
    assert_eq!(status, 404, "{body}");

    // orbit spells the routes /api-keys and names a key by its id.
    let (status, listed) = call(&d, "GET", "/api-keys", Some(&admin), None).await;
    assert_eq!(status, 200, "{listed}");
    let id = listed
        .as_array()
        .expect("keys")
        .iter()
        .find(|k| k["name"] == "ci2")
        .and_then(|k| k["id"].as_str())
        .expect("ci2's id")
        .to_string();
    let (status, patched) = call(
        &d,
        "PATCH",
        &format!("/api-keys/{id}"),
        Some(&admin),
        Some(json!({"name": "ci3"})),
    )
    .await;
    assert_eq!((status, patched["name"].clone()), (200, json!("ci3")));
    let (status, _) = call(&d, "DELETE", &format!("/api-keys/{id}"), Some(&admin), None).await;
    assert_eq!(status, 204);
    assert_eq!(
        call(&d, "GET", "/functions", Some(&reader), None).await.0,
        401
    );
    assert_eq!(call(&d, "GET", "/api-keys", None, None).await.0, 401);
    d.stop().await;
}

#[tokio::test]
async fn bad_key_and_secret_requests_get_json_errors() {
    let d = TestDaemon::start().await;
    let send = |path: &'static str, content_type: &'static str, body: Vec<u8>| {
        let request = d
            .client
            .post(d.url(path))
            .header("content-type", content_type)
            .body(body);
        async move { common::status_and_json(request.send().await.expect("send")).await }
    };
    let (status, body) = send("/apikeys", "text/plain", b"{}".to_vec()).await;
    assert_eq!(status, 415, "{body}");
    assert!(body["error"].is_string(), "{body}");
    let (status, body) = send("/apikeys", "application/json", b"{\"name\": ".to_vec()).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"].is_string(), "{body}");
    let (status, body) = send(
        "/apikeys",
        "application/json",
        br#"{"name": "x", "scopes": ["write"]}"#.to_vec(),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    let message = body["error"].as_str().expect("error");
    assert!(
        message.contains("write") && message.contains("read, invoke or admin"),
        "{message}"
    );
    let mut huge = br#"{"name": ""#.to_vec();
    huge.resize(nova::http::FUNCTION_BODY_LIMIT + 1024, b'a');
    huge.extend_from_slice(br#"", "scopes": ["read"]}"#);
    let (status, body) = send("/apikeys", "application/json", huge).await;
    assert_eq!(status, 413, "{body}");
    assert!(body["error"].is_string(), "{body}");

    let put = |value: Value| {
        let request = d
            .client
            .put(d.url("/secrets/token"))
            .json(&json!({ "value": value }));
        async move { common::status_and_json(request.send().await.expect("send")).await }
    };
    let (status, body) = put(json!("a\u{0}b")).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"].as_str().expect("error").contains("NUL"),
        "{body}"
    );
    assert_eq!(put(json!("fine")).await.0, 204);
    for (content_type, body, expected) in [
        ("text/plain", r#"{"value": "x"}"#, 415),
        ("application/json", r#"{"value": "#, 400),
    ] {
        let request = d
            .client
            .put(d.url("/secrets/token"))
            .header("content-type", content_type)
            .body(body);
        let (status, reply) = common::status_and_json(request.send().await.expect("send")).await;
        assert_eq!(status, expected, "{reply}");
        assert!(reply["error"].is_string(), "{reply}");
    }
    d.stop().await;
}

/// `nova apikey list` tells an expired key and a revoked one from an active one.
#[test]
fn the_cli_lists_expired_and_revoked_keys_as_such() {
    let (_daemon, env) = common::process::daemon_and_cli(&[]);
    let out = env.ok(&["apikey", "create", "ops", "--scopes", "admin"]);
    let key = out
        .lines()
        .find(|l| l.starts_with("nova_"))
        .expect("the key")
        .to_string();
    let ok = |args: &[&str]| {
        let args: Vec<&str> = ["--api-key", key.as_str()]
            .into_iter()
            .chain(args.iter().copied())
            .collect();
        env.ok(&args)
    };
    ok(&[
        "apikey",
        "create",
        "brief",
        "--scopes",
        "read",
        "--expires",
        "1s",
    ]);
    ok(&["apikey", "create", "gone", "--scopes", "read"]);
    ok(&["apikey", "revoke", "gone"]);
    std::thread::sleep(Duration::from_millis(1100));
    let listed = ok(&["apikey", "list"]);
    let status = |name: &str| {
        listed
            .lines()
            .find(|l| l.starts_with(&format!("{name} ")))
            .and_then(|l| l.split_whitespace().last())
            .unwrap_or_else(|| panic!("{name} in {listed}"))
            .to_string()
    };
    assert_eq!(
        (status("ops"), status("brief"), status("gone")),
        ("active".into(), "expired".into(), "revoked".into()),
        "{listed}"
    );
}

/// A real `comet daemon` worker reading the keys from the daemon's store
/// (`--api-keys-from nova.db`) stays closed too once the only key has expired.
#[tokio::test]
async fn a_worker_stays_closed_when_the_last_key_expires() {
    let nova = TestDaemon::start().await;
    let store = nova.dir.path().join("nova.db");
    let worker = common::process::start_worker(
        "closed",
        &["--api-keys-from", store.to_str().expect("utf-8")],
    );
    // A call that needs the read scope and runs no code.
    let list = || async {
        let mut client = comet_grpc::proto::data_plane_client::DataPlaneClient::connect(format!(
            "http://{}",
            worker.endpoint
        ))
        .await
        .expect("connect");
        let request = comet_grpc::proto::ListInvocationsRequest {
            function: "echo".into(),
            limit: 1,
            offset: 0,
        };
        match client.list_invocations(request).await {
            Ok(_) => tonic::Code::Ok,
            Err(status) => status.code(),
        }
    };
    assert_eq!(list().await, tonic::Code::Ok, "open before any key");
    make_key(
        &nova,
        None,
        json!({"name": "root", "scopes": ["admin"], "expires_in": "1s"}),
    )
    .await;
    // The worker reads the keys within its refresh period.
    let mut code = list().await;
    for _ in 0..100 {
        if code != tonic::Code::Ok {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        code = list().await;
    }
    assert_eq!(code, tonic::Code::Unauthenticated, "a key is required");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        list().await,
        tonic::Code::Unauthenticated,
        "still closed after the last key expired"
    );
    nova.stop().await;
}
