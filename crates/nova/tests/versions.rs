//! Versions over the HTTP API (issue 15, point 1): every register and update is kept as a version,
//! listed and read again, run again by qualifier (`?qualifier=` or `X-Nova-Qualifier`),
//! published with a description, and removed with their function; bad input is refused with
//! JSON and the right status.

mod common;

use common::{TestDaemon, python_function, says, status_and_json};
use serde_json::{Value, json};

/// A query, the headers sent with it, and what is expected back.
type Case<'a, A, B> = (&'a str, &'a [(&'a str, &'a str)], A, B);

/// `greet` at three versions: one (code "one"), two (code "two"), three (code "two", 256 MB).
async fn three_versions(d: &TestDaemon) -> Value {
    let (status, v1) = d
        .post_json("/functions", &python_function("greet", &says("one")))
        .await;
    assert_eq!(status, 201, "{v1}");
    let code = json!({ "code": says("two") });
    let (status, body) = d.call("PATCH", "/functions/greet", Some(code), &[]).await;
    assert_eq!((status, &body["version"]), (200, &json!(2)), "{body}");
    let memory = json!({ "memory_mb": 256 });
    let (status, body) = d.call("PATCH", "/functions/greet", Some(memory), &[]).await;
    assert_eq!((status, &body["version"]), (200, &json!(3)), "{body}");
    v1
}

async fn invoke_at(d: &TestDaemon, query: &str, headers: &[(&str, &str)]) -> (u16, Value) {
    let path = format!("/functions/greet/invoke{query}");
    d.call("POST", &path, Some(json!({})), headers).await
}

#[tokio::test]
async fn every_change_is_a_version_that_runs_again() {
    let d = TestDaemon::start().await;
    let v1 = three_versions(&d).await;

    let (status, list) = d.call("GET", "/functions/greet/versions", None, &[]).await;
    assert_eq!(status, 200, "{list}");
    let list = list.as_array().expect("a list").clone();
    let field = |name: &str| list.iter().map(|v| v[name].clone()).collect::<Vec<_>>();
    assert_eq!(field("version"), [json!(3), json!(2), json!(1)]);
    assert_eq!(field("memory_mb")[0], 256);
    assert_eq!(field("memory_mb")[1], v1["memory_mb"]);
    assert_eq!(field("code_hash")[0], field("code_hash")[1]);
    assert_ne!(field("code_hash")[1], v1["code_hash"]);
    assert_eq!(field("code_hash")[2], v1["code_hash"]);
    assert_eq!(field("description"), [json!(""), json!(""), json!("")]);

    // One version: the function as it stood; $LATEST is the newest; paging as /functions.
    let (status, one) = d
        .call("GET", "/functions/greet/versions/1", None, &[])
        .await;
    assert_eq!(status, 200, "{one}");
    for key in ["memory_mb", "code_hash", "handler", "runtime", "env_vars"] {
        assert_eq!(one[key], v1[key], "{key}");
    }
    let (status, latest) = d
        .call("GET", "/functions/greet/versions/$LATEST", None, &[])
        .await;
    assert_eq!((status, &latest["version"]), (200, &json!(3)), "{latest}");
    let (status, page) = d
        .call(
            "GET",
            "/functions/greet/versions?limit=1&offset=1",
            None,
            &[],
        )
        .await;
    assert_eq!((status, &page[0]["version"]), (200, &json!(2)), "{page}");
    assert_eq!(page.as_array().map(Vec::len), Some(1));

    // Running them: the newest by default, an old one by query or header, and back again; the
    // old code is still there after two updates.
    let runs: [Case<&str, u64>; 7] = [
        ("", &[], "two", 3),
        ("?qualifier=1", &[], "one", 1),
        ("", &[], "two", 3),
        ("", &[("X-Nova-Qualifier", "1")], "one", 1),
        ("?qualifier=2", &[], "two", 2),
        ("?qualifier=%24LATEST", &[], "two", 3),
        ("?qualifier=3", &[("X-Nova-Qualifier", "3")], "two", 3),
    ];
    for (query, headers, output, version) in runs {
        let (status, body) = invoke_at(&d, query, headers).await;
        assert_eq!(status, 200, "{query} {headers:?}: {body}");
        assert_eq!(
            body["output"]["says"], output,
            "{query} {headers:?}: {body}"
        );
        assert_eq!(body["version"], version, "{query} {headers:?}: {body}");
    }
    // The log says which version ran.
    let (_, logs) = d
        .call("GET", "/functions/greet/logs?tail=10", None, &[])
        .await;
    let ran: Vec<u64> = (logs.as_array().expect("logs").iter())
        .map(|l| l["version"].as_u64().expect("version"))
        .collect();
    assert_eq!(ran, [3, 3, 2, 1, 3, 1, 3], "newest first");
    d.stop().await;
}

#[tokio::test]
async fn publishing_describes_the_current_version_once() {
    let d = TestDaemon::start().await;
    three_versions(&d).await;
    let publish = |body: Option<Value>| d.call("POST", "/functions/greet/versions", body, &[]);
    let (status, first) = publish(Some(json!({"description": "first release"}))).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(
        (&first["version"], &first["description"]),
        (&json!(3), &json!("first release"))
    );
    // Nothing changed since: the same version, its description kept.
    let (status, again) = publish(Some(json!({"description": "other"}))).await;
    assert_eq!((status, &again), (200, &first));
    let (status, none) = publish(None).await;
    assert_eq!(
        (status, &none),
        (200, &first),
        "an empty body publishes too"
    );
    let (_, list) = d.call("GET", "/functions/greet/versions", None, &[]).await;
    assert_eq!(list.as_array().map(Vec::len), Some(3), "{list}");
    // After a change, the new version gets the next description.
    let change = json!({ "timeout_s": 7 });
    d.call("PATCH", "/functions/greet", Some(change), &[]).await;
    let (status, second) = publish(Some(json!({"description": "second"}))).await;
    assert_eq!((status, &second["version"]), (200, &json!(4)), "{second}");
    assert_eq!(second["timeout_s"], 7);
    let (_, three) = d
        .call("GET", "/functions/greet/versions/3", None, &[])
        .await;
    assert_eq!(three["description"], "first release");

    // Bad bodies are refused and change nothing.
    let long = "x".repeat(257);
    let bad: [(Option<Value>, u16, &str); 4] = [
        (Some(json!({"description": long})), 400, "too long"),
        (Some(json!({"descripton": "typo"})), 400, "unknown field"),
        (Some(json!({"description": 5})), 400, "invalid type"),
        (Some(json!(["x"])), 400, "invalid"),
    ];
    for (body, status, says) in bad {
        let (got, reply) = publish(body).await;
        assert_eq!(got, status, "{reply}");
        let error = reply["error"].as_str().expect("a JSON error");
        assert!(error.contains(says), "{error}");
    }
    let raw = d
        .client
        .post(d.url("/functions/greet/versions"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .expect("send");
    let (status, reply) = status_and_json(raw).await;
    assert_eq!(status, 400, "{reply}");
    let text = d
        .client
        .post(d.url("/functions/greet/versions"))
        .header("content-type", "text/plain")
        .body("description")
        .send()
        .await
        .expect("send");
    let (status, reply) = status_and_json(text).await;
    assert_eq!(status, 415, "{reply}");
    assert!(reply["error"].is_string(), "{reply}");
    let (_, four) = d
        .call("GET", "/functions/greet/versions/4", None, &[])
        .await;
    assert_eq!(four["description"], "second", "unchanged by bad requests");
    let (status, reply) = d.call("POST", "/functions/nope/versions", None, &[]).await;
    assert_eq!(
        (status, reply["error"].as_str()),
        (404, Some("function 'nope' not found"))
    );
    d.stop().await;
}

#[tokio::test]
async fn bad_qualifiers_unknown_versions_and_deletion() {
    let daemon = TestDaemon::start().await;
    let d = &daemon;
    three_versions(d).await;
    let get = |path: String| async move { d.call("GET", &path, None, &[]).await };
    let cases = [
        (
            "/functions/greet/versions/abc",
            400,
            "invalid qualifier 'abc'",
        ),
        (
            "/functions/greet/versions/0",
            400,
            "version numbers start at 1",
        ),
        ("/functions/greet/versions/-1", 400, "invalid qualifier"),
        (
            "/functions/greet/versions/9",
            404,
            "function 'greet' has no version 9",
        ),
        (
            "/functions/nope/versions/1",
            404,
            "function 'nope' not found",
        ),
        ("/functions/nope/versions", 404, "function 'nope' not found"),
        ("/functions/greet/versions?limit=0", 400, "limit must be"),
        ("/functions/greet/versions?bogus=1", 400, "unknown field"),
    ];
    for (path, status, says) in cases {
        let (got, reply) = get(path.to_string()).await;
        assert_eq!(got, status, "{path}: {reply}");
        let error = reply["error"].as_str().expect("a JSON error");
        assert!(error.contains(says), "{path}: {error}");
    }
    let invokes: [Case<u16, &str>; 7] = [
        (
            "?qualifier=9",
            &[],
            400,
            "function 'greet' has no version 9",
        ),
        (
            "?qualifier=prod",
            &[],
            400,
            "function 'greet' has no version or alias 'prod'",
        ),
        ("?qualifier=0", &[], 400, "version numbers start at 1"),
        ("?qualifier=a%20b", &[], 400, "invalid qualifier 'a b'"),
        ("?qualifier=", &[], 400, "invalid qualifier ''"),
        (
            "",
            &[("X-Nova-Qualifier", "x/y")],
            400,
            "invalid qualifier 'x/y'",
        ),
        (
            "?qualifier=1",
            &[("X-Nova-Qualifier", "2")],
            400,
            "disagree",
        ),
    ];
    for (query, headers, status, says) in invokes {
        let (got, reply) = invoke_at(d, query, headers).await;
        assert_eq!(got, status, "{query} {headers:?}: {reply}");
        let error = reply["error"].as_str().expect("a JSON error");
        assert!(error.contains(says), "{query}: {error}");
    }
    let (status, reply) = d
        .call("POST", "/functions/nope/invoke?qualifier=1", None, &[])
        .await;
    assert_eq!(
        (status, reply["error"].as_str()),
        (404, Some("function 'nope' not found"))
    );

    // Deleting the function deletes its versions; registered again, it starts at 1.
    let (status, _) = d.call("DELETE", "/functions/greet", None, &[]).await;
    assert_eq!(status, 204);
    let (status, reply) = get("/functions/greet/versions".into()).await;
    assert_eq!(status, 404, "{reply}");
    let (status, reply) = get("/functions/greet/versions/1".into()).await;
    assert_eq!(status, 404, "{reply}");
    let (status, _) = d
        .post_json("/functions", &python_function("greet", &says("anew")))
        .await;
    assert_eq!(status, 201);
    let (_, list) = get("/functions/greet/versions".into()).await;
    assert_eq!(list.as_array().map(Vec::len), Some(1), "{list}");
    let (status, body) = invoke_at(d, "?qualifier=1", &[]).await;
    assert_eq!(
        (status, &body["output"]["says"]),
        (200, &json!("anew")),
        "{body}"
    );
    daemon.stop().await;
}

#[tokio::test]
async fn a_read_key_lists_versions_but_cannot_publish() {
    let d = TestDaemon::start().await;
    three_versions(&d).await;
    let key = |name: &str, scopes: &[&str]| json!({"name": name, "scopes": scopes});
    let (status, admin) = d.post_json("/apikeys", &key("ops", &["admin"])).await;
    assert_eq!(status, 201, "{admin}");
    let admin = admin["key"].as_str().expect("key").to_string();
    let bearer = |k: &str| format!("Bearer {k}");
    let as_admin = [("authorization", bearer(&admin))];
    let as_admin: Vec<(&str, &str)> = as_admin.iter().map(|(h, v)| (*h, v.as_str())).collect();
    let (status, reader) = d
        .call(
            "POST",
            "/apikeys",
            Some(key("reader", &["read"])),
            &as_admin,
        )
        .await;
    assert_eq!(status, 201, "{reader}");
    let reader = bearer(reader["key"].as_str().expect("key"));
    let as_reader = [("authorization", reader.as_str())];

    let (status, list) = d
        .call("GET", "/functions/greet/versions", None, &as_reader)
        .await;
    assert_eq!(status, 200, "{list}");
    let (status, one) = d
        .call("GET", "/functions/greet/versions/1", None, &as_reader)
        .await;
    assert_eq!(status, 200, "{one}");
    let described = Some(json!({"description": "mine"}));
    let (status, reply) = d
        .call(
            "POST",
            "/functions/greet/versions",
            described.clone(),
            &as_reader,
        )
        .await;
    assert_eq!(status, 403, "{reply}");
    assert!(reply["error"].is_string(), "{reply}");
    let (_, newest) = d
        .call("GET", "/functions/greet/versions/3", None, &as_admin)
        .await;
    assert_eq!(newest["description"], "", "nothing stored");
    let (status, reply) = d
        .call("POST", "/functions/greet/versions", described, &as_admin)
        .await;
    assert_eq!(
        (status, &reply["description"]),
        (200, &json!("mine")),
        "{reply}"
    );
    d.stop().await;
}

/// Two daemons on one Postgres (and Redis, as they are deployed): versions made on one are
/// listed, run and published on the other, and a delete on one reaches the other's cache of
/// old versions' specs.
#[tokio::test]
async fn daemons_sharing_postgres_share_versions() {
    let db = nova_store::testing::FreshDatabase::create().await;
    let (a, b, _keys) = common::databases::shared_pair(&db.dsn).await;
    three_versions(&a).await;
    let (status, list) = b.call("GET", "/functions/greet/versions", None, &[]).await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list.as_array().map(Vec::len), Some(3), "{list}");
    let (status, body) = invoke_at(&b, "?qualifier=1", &[]).await;
    assert_eq!(
        (status, &body["output"]["says"]),
        (200, &json!("one")),
        "{body}"
    );
    let (status, body) = invoke_at(&b, "", &[]).await;
    assert_eq!((status, &body["version"]), (200, &json!(3)), "{body}");
    let described = Some(json!({"description": "from b"}));
    let (status, _) = b
        .call("POST", "/functions/greet/versions", described, &[])
        .await;
    assert_eq!(status, 200);
    let (_, newest) = a
        .call("GET", "/functions/greet/versions/3", None, &[])
        .await;
    assert_eq!(newest["description"], "from b");

    let (status, _) = a.call("DELETE", "/functions/greet", None, &[]).await;
    assert_eq!(status, 204);
    let (status, reply) = b.call("GET", "/functions/greet/versions", None, &[]).await;
    assert_eq!(status, 404, "{reply}");
    let mut gone = false;
    for _ in 0..100 {
        let (status, _) = invoke_at(&b, "?qualifier=1", &[]).await;
        if status == 404 {
            gone = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(gone, "b forgot version 1 of the deleted function");
    a.stop().await;
    b.stop().await;
}

/// Calls of an old version and of the newest at once each run their own version's code, and
/// both versions stay warm side by side: once both ran, alternating calls are warm.
#[tokio::test]
async fn concurrent_calls_of_two_versions_each_run_their_own_code() {
    let d = TestDaemon::start().await;
    three_versions(&d).await;
    let mut calls = tokio::task::JoinSet::new();
    for i in 0..20 {
        let (client, url) = (d.client.clone(), d.url.clone());
        calls.spawn(async move {
            let (query, says, version) = if i % 2 == 0 {
                ("?qualifier=1", "one", 1)
            } else {
                ("", "two", 3)
            };
            let request = client
                .post(format!("{url}/functions/greet/invoke{query}"))
                .json(&json!({}));
            let (status, body) = status_and_json(request.send().await.expect("send")).await;
            assert_eq!(status, 200, "{body}");
            assert_eq!(
                (&body["output"]["says"], &body["version"]),
                (&json!(says), &json!(version)),
                "{body}"
            );
        });
    }
    while let Some(done) = calls.join_next().await {
        done.expect("a call");
    }
    let mut ran = Vec::new();
    for query in [
        "?qualifier=1",
        "",
        "?qualifier=1",
        "?qualifier=3",
        "",
        "?qualifier=1",
    ] {
        let (status, body) = invoke_at(&d, query, &[]).await;
        assert_eq!(status, 200, "{body}");
        ran.push((body["version"].clone(), body["cold_start"].clone()));
    }
    let warm = |v: u64| (json!(v), json!(false));
    assert_eq!(
        ran,
        [warm(1), warm(3), warm(1), warm(3), warm(3), warm(1)],
        "a switch of version is no cold start"
    );
    d.stop().await;
}
