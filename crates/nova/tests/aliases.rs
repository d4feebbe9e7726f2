//! Aliases (issue 15, point 2): set, read, moved and deleted over the HTTP API; invocations
//! through one (`?qualifier=`, `X-Nova-Qualifier`) run the version it picks and say so; a
//! weighted alias splits calls by its weights (10,000 resolutions in the service, and both
//! versions really run over HTTP); resolution is cached and the cache follows changes, here and
//! on another daemon; bad input is a 400 that stores nothing.

mod common;

use std::collections::BTreeMap;

use common::{TestDaemon, python_function, says, status_and_json};
use nova::config::{Overrides, Settings};
use nova_api::{FunctionAlias, Qualifier};
use nova_store::AliasStore as _;
use serde_json::{Value, json};

/// `greet` at versions 1 ("one"), 2 ("two") and 3 ("three").
async fn three_versions(d: &TestDaemon) {
    let (status, body) = d
        .post_json("/functions", &python_function("greet", &says("one")))
        .await;
    assert_eq!(status, 201, "{body}");
    for word in ["two", "three"] {
        let code = json!({ "code": says(word) });
        let (status, body) = d.call("PATCH", "/functions/greet", Some(code), &[]).await;
        assert_eq!(status, 200, "{body}");
    }
}

async fn invoke(d: &TestDaemon, query: &str, headers: &[(&str, &str)]) -> (u16, Value) {
    let path = format!("/functions/greet/invoke{query}");
    d.call("POST", &path, Some(json!({})), headers).await
}

#[tokio::test]
async fn aliases_are_set_read_moved_invoked_and_deleted() {
    let d = TestDaemon::start().await;
    three_versions(&d).await;

    let live = json!({"name": "live", "version": 1, "description": "what users get"});
    let (status, created) = d
        .call("POST", "/functions/greet/aliases", Some(live), &[])
        .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(
        (
            &created["function"],
            &created["version"],
            &created["routing"]
        ),
        (&json!("greet"), &json!(1), &json!({})),
        "{created}"
    );
    let again = json!({"name": "live", "version": 2});
    let (status, taken) = d
        .call("POST", "/functions/greet/aliases", Some(again), &[])
        .await;
    assert_eq!(status, 409, "{taken}");
    assert_eq!(
        taken["error"],
        "alias 'live' already exists (of function 'greet'): PUT /functions/greet/aliases/live replaces it"
    );

    for (query, headers) in [
        ("?qualifier=live", &[][..]),
        ("", &[("x-nova-qualifier", "live")][..]),
    ] {
        let (status, body) = invoke(&d, query, headers).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            (&body["output"]["says"], &body["version"]),
            (&json!("one"), &json!(1))
        );
    }

    // Moved with PUT (what a GET returned, changed), then PATCHed: calls follow at once.
    let mut moved = created.clone();
    moved["version"] = json!(2);
    let (status, body) = d
        .call("PUT", "/functions/greet/aliases/live", Some(moved), &[])
        .await;
    assert_eq!((status, &body["version"]), (200, &json!(2)), "{body}");
    assert_eq!(body["created_at"], created["created_at"], "created_at kept");
    let (_, body) = invoke(&d, "?qualifier=live", &[]).await;
    assert_eq!(
        (&body["output"]["says"], &body["version"]),
        (&json!("two"), &json!(2))
    );
    let patch = json!({"version": 3});
    let (status, body) = d
        .call("PATCH", "/functions/greet/aliases/live", Some(patch), &[])
        .await;
    assert_eq!(
        (status, &body["description"]),
        (200, &json!("what users get")),
        "{body}"
    );
    let (_, body) = invoke(&d, "?qualifier=live", &[]).await;
    assert_eq!(body["version"], 3, "{body}");

    // PUT creates too; the original Nova's traffic_split is read as version + routing.
    let split = json!({"traffic_split": {"1": 80, "2": 20}});
    let (status, beta) = d
        .call("PUT", "/functions/greet/aliases/beta", Some(split), &[])
        .await;
    assert_eq!(status, 200, "{beta}");
    assert_eq!(
        (&beta["version"], &beta["routing"]),
        (&json!(1), &json!({"2": 20}))
    );

    let (status, list) = d.call("GET", "/functions/greet/aliases", None, &[]).await;
    assert_eq!(status, 200, "{list}");
    let names: Vec<&Value> = list
        .as_array()
        .expect("list")
        .iter()
        .map(|a| &a["name"])
        .collect();
    assert_eq!(names, [&json!("beta"), &json!("live")]);
    let (status, one) = d
        .call("GET", "/functions/greet/aliases/beta", None, &[])
        .await;
    assert_eq!((status, &one), (200, &beta));

    let (status, _) = d
        .call("DELETE", "/functions/greet/aliases/beta", None, &[])
        .await;
    assert_eq!(status, 204);
    let (status, gone) = d
        .call("GET", "/functions/greet/aliases/beta", None, &[])
        .await;
    assert_eq!(status, 404, "{gone}");
    assert_eq!(gone["error"], "function 'greet' has no alias 'beta'");
    // Named by a parameter, an unknown alias is a bad request.
    let (status, body) = invoke(&d, "?qualifier=beta", &[]).await;
    assert_eq!(status, 400, "{body}");

    // Deleting the function takes its aliases: a new `greet` has none.
    let (status, _) = d.call("DELETE", "/functions/greet", None, &[]).await;
    assert_eq!(status, 204);
    let (status, _) = d.call("GET", "/functions/greet/aliases", None, &[]).await;
    assert_eq!(status, 404);
    let (status, _) = d
        .post_json("/functions", &python_function("greet", &says("new")))
        .await;
    assert_eq!(status, 201);
    let (status, list) = d.call("GET", "/functions/greet/aliases", None, &[]).await;
    assert_eq!((status, list), (200, json!([])));
    d.stop().await;
}

#[tokio::test]
async fn bad_aliases_are_refused_and_nothing_is_stored() {
    let d = TestDaemon::start().await;
    three_versions(&d).await;
    let cases: &[(&str, &str, Value, &str)] = &[
        (
            "POST",
            "",
            json!({"name": "live", "version": 1, "routing": {"2": 300}}),
            "invalid weight 300%",
        ),
        (
            "POST",
            "",
            json!({"name": "live", "version": 1, "routing": {"2": 0}}),
            "invalid weight 0%",
        ),
        (
            "POST",
            "",
            json!({"name": "live", "version": 1, "routing": {"2": 100}}),
            "invalid weight 100%",
        ),
        (
            "POST",
            "",
            json!({"name": "live", "version": 1, "routing": {"1": 10}}),
            "is the alias's own version",
        ),
        (
            "POST",
            "",
            json!({"name": "live", "version": 9}),
            "function 'greet' has no version 9",
        ),
        (
            "POST",
            "",
            json!({"name": "live", "version": 1, "routing": {"7": 5}}),
            "has no version 7",
        ),
        (
            "POST",
            "",
            json!({"name": "live", "version": 1, "routing": {"2": 5, "3": 5}}),
            "at most one weighted version",
        ),
        (
            "POST",
            "",
            json!({"name": "12", "version": 1}),
            "invalid alias name '12'",
        ),
        (
            "POST",
            "",
            json!({"name": "$LATEST", "version": 1}),
            "invalid alias name '$LATEST'",
        ),
        ("POST", "", json!({"name": "live"}), "version is required"),
        ("POST", "", json!({"version": 1}), "name is required"),
        (
            "POST",
            "",
            json!({"name": "live", "version": 1, "colour": "red"}),
            "unknown field `colour`",
        ),
        (
            "POST",
            "",
            json!({"name": "live", "version": 0}),
            "version numbers start at 1",
        ),
        (
            "POST",
            "",
            json!({"name": "live", "traffic_split": {"1": 50, "2": 40}}),
            "sum to 100",
        ),
        ("POST", "", json!([1]), "expected an object"),
        (
            "PUT",
            "/live",
            json!({"name": "other", "version": 1}),
            "the body names alias 'other'",
        ),
        (
            "PUT",
            "/live",
            json!({"version": 1, "routing": {"x": 5}}),
            "invalid JSON body",
        ),
        ("PUT", "/7", json!({"version": 1}), "invalid alias name '7'"),
    ];
    for (method, path, body, message) in cases {
        let path = format!("/functions/greet/aliases{path}");
        let (status, reply) = d.call(method, &path, Some(body.clone()), &[]).await;
        assert_eq!(status, 400, "{body}: {reply}");
        let error = reply["error"].as_str().unwrap_or_default();
        assert!(error.contains(message), "{body}: {error}");
    }
    let malformed = d
        .client
        .post(d.url("/functions/greet/aliases"))
        .header("content-type", "application/json")
        .body("{\"name\": ")
        .send()
        .await
        .expect("send");
    let (status, reply) = status_and_json(malformed).await;
    assert_eq!(status, 400, "{reply}");
    assert!(
        reply["error"]
            .as_str()
            .is_some_and(|e| e.contains("invalid JSON body"))
    );
    let (status, list) = d.call("GET", "/functions/greet/aliases", None, &[]).await;
    assert_eq!((status, list), (200, json!([])), "nothing stored");

    let (status, _) = d
        .call("GET", "/functions/greet/aliases/nope", None, &[])
        .await;
    assert_eq!(status, 404);
    let (status, _) = d
        .call("DELETE", "/functions/greet/aliases/nope", None, &[])
        .await;
    assert_eq!(status, 404);
    let patch = Some(json!({"version": 2}));
    let (status, _) = d
        .call("PATCH", "/functions/greet/aliases/nope", patch, &[])
        .await;
    assert_eq!(status, 404);
    let (status, _) = d.call("GET", "/functions/nothing/aliases", None, &[]).await;
    assert_eq!(status, 404);
    let live = Some(json!({"name": "live", "version": 1}));
    let (status, _) = d
        .call("POST", "/functions/nothing/aliases", live, &[])
        .await;
    assert_eq!(status, 404);
    d.stop().await;
}

/// A 50/50 alias over HTTP: both versions really run, each call saying which.
#[tokio::test]
async fn a_weighted_alias_runs_both_versions() {
    let d = TestDaemon::start().await;
    three_versions(&d).await;
    let canary = json!({"name": "canary", "version": 1, "routing": {"3": 50}});
    let (status, body) = d
        .call("POST", "/functions/greet/aliases", Some(canary), &[])
        .await;
    assert_eq!(status, 201, "{body}");
    let mut ran = BTreeMap::new();
    for _ in 0..40 {
        let (status, body) = invoke(&d, "?qualifier=canary", &[]).await;
        assert_eq!(status, 200, "{body}");
        let says = body["output"]["says"].as_str().expect("says").to_string();
        let version = body["version"].as_u64().expect("version");
        assert_eq!(says, if version == 1 { "one" } else { "three" }, "{body}");
        *ran.entry(version).or_insert(0) += 1;
    }
    assert_eq!(ran.keys().copied().collect::<Vec<_>>(), [1, 3], "{ran:?}");
    let (status, logs) = d
        .call("GET", "/functions/greet/logs?tail=100", None, &[])
        .await;
    assert_eq!(status, 200, "{logs}");
    let logged: Vec<u64> = (logs.as_array().expect("logs").iter())
        .filter_map(|l| l["version"].as_u64())
        .collect();
    for version in [1, 3] {
        assert!(
            logged.contains(&version),
            "the log says {version} ran: {logs}"
        );
    }
    d.stop().await;
}

/// In the service: 10,000 resolutions of a 90/10 alias split within ±3 points; resolution is
/// cached (a change made behind the service's back is not seen) and a change through the
/// service is seen at once.
#[tokio::test]
async fn resolutions_split_by_weight_and_are_cached() {
    let dir = tempfile::tempdir().expect("tempdir");
    let settings = Settings::resolve(&Overrides {
        data_dir: Some(dir.path().to_path_buf()),
        ..Overrides::default()
    })
    .expect("settings");
    let app = nova::daemon::assemble(&settings, false)
        .await
        .expect("assemble");
    let functions = &app.functions;
    let config: nova_api::FunctionConfig =
        serde_json::from_value(python_function("greet", &says("one"))).expect("config");
    functions.register(config).await.expect("register");
    for word in ["two", "three"] {
        let patch: nova_api::FunctionPatch =
            serde_json::from_value(json!({"code": says(word)})).expect("patch");
        functions.update("greet", patch).await.expect("update");
    }
    let alias = |version: u64, routing: &[(u64, u8)]| FunctionAlias {
        function: "greet".into(),
        name: "live".into(),
        version,
        routing: routing.iter().copied().collect(),
        description: String::new(),
        created_at: String::new(),
        updated_at: String::new(),
    };
    functions
        .set_alias(alias(2, &[(3, 10)]), true)
        .await
        .expect("set");
    let live = Qualifier::Alias("live".into());
    let calls = 10_000;
    let mut to_three = 0;
    for _ in 0..calls {
        match functions.version_of("greet", &live).await.expect("resolve") {
            3 => to_three += 1,
            2 => {}
            other => panic!("version {other}"),
        }
    }
    let share = f64::from(to_three) * 100.0 / f64::from(calls);
    assert!((share - 10.0).abs() <= 3.0, "{share}% went to version 3");

    // Behind the service's back: the cached alias still answers, so no read reached the store.
    let store = nova_store::SqlStore::sqlite(&dir.path().join("nova.db"))
        .await
        .expect("open the same store");
    store.put_alias(&alias(1, &[]), true).await.expect("behind");
    for _ in 0..100 {
        assert_ne!(
            functions.version_of("greet", &live).await.expect("resolve"),
            1
        );
    }
    // Through the service: seen at once.
    functions.set_alias(alias(1, &[]), true).await.expect("set");
    assert_eq!(
        functions.version_of("greet", &live).await.expect("resolve"),
        1
    );
    functions
        .delete_alias("greet", "live")
        .await
        .expect("delete");
    assert!(functions.version_of("greet", &live).await.is_err());
}

/// Two daemons on one Postgres and Redis: an alias set on one is used by the other, and moving
/// it on one reaches the other's cache.
#[tokio::test]
async fn daemons_sharing_postgres_follow_alias_changes() {
    let db = nova_store::testing::FreshDatabase::create().await;
    let (a, b, _keys) = common::databases::shared_pair(&db.dsn).await;
    three_versions(&a).await;
    let live = Some(json!({"name": "live", "version": 1}));
    let (status, _) = a.call("POST", "/functions/greet/aliases", live, &[]).await;
    assert_eq!(status, 201);
    let (status, body) = invoke(&b, "?qualifier=live", &[]).await;
    assert_eq!((status, &body["version"]), (200, &json!(1)), "{body}");
    let patch = Some(json!({"version": 2}));
    let (status, _) = a
        .call("PATCH", "/functions/greet/aliases/live", patch, &[])
        .await;
    assert_eq!(status, 200);
    let mut moved = false;
    for _ in 0..100 {
        let (_, body) = invoke(&b, "?qualifier=live", &[]).await;
        if body["version"] == 2 {
            moved = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(moved, "b follows the alias a moved");
    a.stop().await;
    b.stop().await;
}

/// Reading aliases needs read; writing them admin.
#[tokio::test]
async fn a_read_key_reads_aliases_but_cannot_change_them() {
    let d = TestDaemon::start().await;
    three_versions(&d).await;
    let key = |name: &str, scopes: &[&str]| json!({"name": name, "scopes": scopes});
    let (status, admin) = d.post_json("/apikeys", &key("ops", &["admin"])).await;
    assert_eq!(status, 201, "{admin}");
    let admin = format!("Bearer {}", admin["key"].as_str().expect("key"));
    let as_admin = [("authorization", admin.as_str())];
    let (status, reader) = d
        .call(
            "POST",
            "/apikeys",
            Some(key("r", &["read", "invoke"])),
            &as_admin,
        )
        .await;
    assert_eq!(status, 201, "{reader}");
    let reader = format!("Bearer {}", reader["key"].as_str().expect("key"));
    let as_reader = [("authorization", reader.as_str())];

    let live = Some(json!({"name": "live", "version": 1}));
    let (status, _) = d
        .call("POST", "/functions/greet/aliases", live.clone(), &as_reader)
        .await;
    assert_eq!(status, 403);
    let (status, _) = d
        .call("POST", "/functions/greet/aliases", live, &as_admin)
        .await;
    assert_eq!(status, 201);
    let (status, _) = d
        .call("GET", "/functions/greet/aliases", None, &as_reader)
        .await;
    assert_eq!(status, 200);
    let (status, _) = d
        .call("GET", "/functions/greet/aliases/live", None, &as_reader)
        .await;
    assert_eq!(status, 200);
    let patch = Some(json!({"version": 2}));
    let (status, _) = d
        .call("PATCH", "/functions/greet/aliases/live", patch, &as_reader)
        .await;
    assert_eq!(status, 403);
    let (status, _) = d
        .call("DELETE", "/functions/greet/aliases/live", None, &as_reader)
        .await;
    assert_eq!(status, 403);
    let (status, body) = invoke(&d, "?qualifier=live", &as_reader).await;
    assert_eq!((status, &body["version"]), (200, &json!(1)), "{body}");
    d.stop().await;
}
