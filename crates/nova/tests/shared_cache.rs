//! The read-through cache of function metadata in Redis, shared by two daemons on one Postgres
//! (a private one, so the test can stop it) and this machine's Redis.

mod common;

use std::time::Duration;

use common::services::PrivatePostgres;
use common::{TestDaemon, python_function};

/// The entry of `name` in Redis, whatever the store's identity.
fn entry(redis: &mut redis::Connection, name: &str) -> Option<(String, String)> {
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("nova:*:function:{name}"))
        .query(redis)
        .expect("keys");
    let key = keys.into_iter().next()?;
    let value: Option<String> = redis::cmd("GET").arg(&key).query(redis).expect("get");
    value.map(|v| (key, v))
}

async fn version_on(d: &TestDaemon, name: &str) -> (u16, serde_json::Value) {
    let response = d
        .client
        .get(d.url(&format!("/functions/{name}")))
        .send()
        .await;
    common::status_and_json(response.expect("get")).await
}

#[tokio::test]
async fn daemons_share_function_metadata_through_redis() {
    let pg = PrivatePostgres::start();
    let keys = tempfile::tempdir().expect("tempdir");
    let config = format!(
        "postgres:\n  dsn: {}\nredis:\n  addr: 127.0.0.1:6379\n{}",
        pg.dsn(),
        common::databases::master_key_config(keys.path())
    );
    let (a, b) = (
        TestDaemon::start_with_config(&config).await,
        TestDaemon::start_with_config(&config).await,
    );
    let mut redis = redis::Client::open("redis://127.0.0.1:6379/0")
        .expect("url")
        .get_connection()
        .expect("redis");
    let name = format!("cached-{}", uuid::Uuid::new_v4().simple());
    let f = python_function(&name, "def handler(event, context=None):\n    return 1\n");
    assert_eq!(a.post_json("/functions", &f).await.0, 201);
    let (key, value) = entry(&mut redis, &name).expect("written through on register");
    assert!(value.starts_with("v1|"), "{value}");

    // Read through Redis: b answers with Postgres stopped (having read the API keys before).
    assert_eq!(
        b.client
            .get(b.url("/functions"))
            .send()
            .await
            .expect("list")
            .status(),
        200
    );
    pg.stop();
    let (status, body) = version_on(&b, &name).await;
    assert_eq!((status, body["version"].clone()), (200, 1.into()), "{body}");
    let (status, _) = version_on(&b, "never-registered").await;
    assert_eq!(status, 503, "a miss still needs the database");
    pg.start_again();

    // An update replaces the entry; a late write of an older version would not.
    let patch = |memory_mb: u32| {
        a.client
            .patch(a.url(&format!("/functions/{name}")))
            .json(&serde_json::json!({ "memory_mb": memory_mb }))
            .send()
    };
    let mut updated = 0;
    for _ in 0..100 {
        updated = patch(256).await.expect("patch").status().as_u16();
        if updated != 503 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await; // the store reconnecting
    }
    assert_eq!(updated, 200);
    let (_, value) = entry(&mut redis, &name).expect("entry");
    assert!(value.starts_with("v2|") && value.contains("256"), "{value}");
    let _: () = redis::cmd("SET")
        .arg(&key)
        .arg("v99|not json")
        .query(&mut redis)
        .expect("set");
    assert_eq!(patch(512).await.expect("patch").status(), 200);
    let (_, value) = entry(&mut redis, &name).expect("entry");
    assert!(
        value.starts_with("v3|") && value.contains("512"),
        "an entry that does not verify is replaced, whatever version it claims: {value}"
    );
    let (mut status, mut body) = version_on(&b, &name).await;
    for _ in 0..100 {
        if status != 503 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await; // b reconnecting
        (status, body) = version_on(&b, &name).await;
    }
    assert_eq!(
        (status, body["version"].clone()),
        (200, 3.into()),
        "the replaced entry is read: {body}"
    );

    // A delete leaves a tombstone that no reader can fill over.
    let deleted = a
        .client
        .delete(a.url(&format!("/functions/{name}")))
        .send()
        .await
        .expect("delete");
    assert_eq!(deleted.status(), 204);
    assert_eq!(entry(&mut redis, &name).expect("tombstone").1, "deleted");
    let mut status = version_on(&b, &name).await.0;
    for _ in 0..100 {
        if status != 503 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await; // b reconnecting
        status = version_on(&b, &name).await.0;
    }
    assert_eq!(status, 404);
    // A reader that got the old row from the database (here: the row put back behind the
    // cache's back) serves it but cannot refill the entry while the tombstone stands.
    let old: nova_api::Function = serde_json::from_value(body).expect("the function");
    let behind = nova_store::SqlStore::postgres(&pg.dsn())
        .await
        .expect("open");
    nova_store::FunctionStore::insert_function(&behind, &old, b"code")
        .await
        .expect("put back");
    let (status, body) = version_on(&b, &name).await;
    assert_eq!((status, body["version"].clone()), (200, 3.into()), "{body}");
    assert_eq!(entry(&mut redis, &name).expect("tombstone").1, "deleted");
    assert!(
        nova_store::FunctionStore::delete_function(&behind, &name)
            .await
            .expect("delete")
    );
    a.stop().await;
    b.stop().await;
}

/// An update on one daemon reaches the other through the Redis broadcast as "forget the spec",
/// not "stop the instances": a call in flight there on the old version ends normally, the next
/// call runs the new version, and the old version stays warm for calls that name it.
#[tokio::test]
async fn an_update_elsewhere_lets_calls_in_flight_finish() {
    let db = nova_store::testing::FreshDatabase::create().await;
    let (a, b, _keys) = common::databases::shared_pair(&db.dsn).await;
    let name = format!("inflight-{}", uuid::Uuid::new_v4().simple());
    let code = |v: u32| {
        format!(
            "import time\ndef handler(event, context=None):\n    \
             time.sleep(event.get('sleep', 0))\n    return {{'v': {v}}}\n"
        )
    };
    let mut f = python_function(&name, &code(1));
    f["mode"] = "persistent".into();
    assert_eq!(a.post_json("/functions", &f).await.0, 201);
    assert_eq!(b.invoke(&name, "{}").await.0, 200, "warm on b");
    let slow = {
        let (client, url) = (
            b.client.clone(),
            b.url(&format!("/functions/{name}/invoke")),
        );
        tokio::spawn(async move {
            let sent = client
                .post(url)
                .header("content-type", "application/json")
                .body(r#"{"sleep": 2}"#)
                .send()
                .await;
            common::status_and_json(sent.expect("send")).await
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (status, _) = a
        .call(
            "PATCH",
            &format!("/functions/{name}"),
            Some(serde_json::json!({"code": code(2)})),
            &[],
        )
        .await;
    assert_eq!(status, 200);
    let (status, body) = slow.await.expect("join");
    assert_eq!((status, &body["output"]["v"]), (200, &1.into()), "{body}");
    let mut newest = None;
    for _ in 0..100 {
        let (status, body) = b.invoke(&name, "{}").await;
        assert_eq!(status, 200, "{body}");
        if body["version"] == 2 {
            newest = Some(body);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let newest = newest.expect("b runs the new version");
    assert_eq!(newest["output"]["v"], 2, "{newest}");
    // The old version's instance is still warm on b for calls that name it.
    let (status, old) = b
        .call(
            "POST",
            &format!("/functions/{name}/invoke?qualifier=1"),
            Some(serde_json::json!({})),
            &[],
        )
        .await;
    assert_eq!((status, &old["version"]), (200, &1.into()), "{old}");
    assert_eq!(
        old["cold_start"], false,
        "evicted on b by a's update: {old}"
    );
    a.stop().await;
    b.stop().await;
}
