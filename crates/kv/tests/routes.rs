//! Every KV and admin route over real HTTP and real RocksDB databases.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test, with its line

mod common;

use comet_kv::KvConfig;
use comet_kv::config::DbMode;
use common::{Server, build_ssts, db, raw_status};

#[tokio::test]
async fn values_keep_their_bytes_and_content_type() {
    let s = Server::open().await;
    let url = format!("{}/databases/main/keys/img/1", s.url);
    let png = vec![0x89u8, b'P', b'N', b'G', 0, 0xff, 0xC0];
    let r = s
        .http
        .put(&url)
        .header("content-type", "image/png")
        .body(png.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let r = s.http.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "image/png");
    assert_eq!(r.bytes().await.unwrap().to_vec(), png);

    // No Content-Type stored: served as octet-stream. Empty values are values.
    assert_eq!(s.put("main", "plain", "").await, 204);
    let r = s
        .http
        .get(format!("{}/databases/main/keys/plain", s.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["content-type"], "application/octet-stream");
    assert_eq!(r.bytes().await.unwrap().len(), 0);

    // Overwrite, delete, absent.
    assert_eq!(s.put("main", "k", "one").await, 204);
    assert_eq!(s.put("main", "k", "two").await, 204);
    assert_eq!(s.get("main", "k").await, (200, "two".into()));
    assert_eq!(s.call("DELETE", "/databases/main/keys/k").await.0, 204);
    assert_eq!(s.get("main", "k").await.0, 404);
    // Percent-encoded keys are decoded; a key may hold '/'.
    assert_eq!(s.put("main", "a%20b", "space").await, 204);
    assert_eq!(s.get("main", "a b").await, (200, "space".into()));
}

#[tokio::test]
async fn multi_get_and_count() {
    let s = Server::open().await;
    for (k, v) in [("a", "1"), ("b", "2"), ("c", "3")] {
        assert_eq!(s.put("main", k, v).await, 204);
    }
    let (status, body) = s
        .call("GET", "/databases/main/keys?keys=a&keys=c&keys=zz")
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["a"]["value"], "1");
    assert_eq!(body["c"]["value"], "3");
    assert!(body["zz"].is_null());
    let (status, body) = s.call("GET", "/databases/main/keys").await;
    assert_eq!(status, 400, "{body}");
    let many: Vec<String> = (0..1001).map(|i| format!("keys={i}")).collect();
    let (status, _) = s
        .call("GET", &format!("/databases/main/keys?{}", many.join("&")))
        .await;
    assert_eq!(status, 400);
    let (status, body) = s.call("GET", "/databases/main/count").await;
    assert_eq!(status, 200);
    assert_eq!(body["count"], 3);
}

#[tokio::test]
async fn unknown_database_oversized_value_and_long_key() {
    let s = Server::start(|d| KvConfig {
        databases: vec![db("main", &d.join("main"), DbMode::ReadWrite)],
        max_value_size: Some(1024),
        ..KvConfig::default()
    })
    .await;
    assert_eq!(s.get("nope", "k").await.0, 404);
    assert_eq!(s.put("nope", "k", "v").await, 404);
    assert_eq!(s.call("GET", "/databases/nope/count").await.0, 404);
    assert_eq!(
        s.call("GET", "/admin/databases/nope/properties/rocksdb.stats")
            .await
            .0,
        404
    );
    assert_eq!(s.put("main", "big", &"x".repeat(1024)).await, 204);
    assert_eq!(s.put("main", "big", &"y".repeat(1025)).await, 413);
    // The refused write left the stored value alone.
    assert_eq!(s.get("main", "big").await, (200, "x".repeat(1024)));
    // Values that add up to more than the limit in one multi-get: 413, ask for fewer.
    assert_eq!(s.put("main", "big2", &"z".repeat(1000)).await, 204);
    let (status, body) = s
        .call("GET", "/databases/main/keys?keys=big&keys=big2")
        .await;
    assert_eq!(status, 413, "{body}");
    let long_key = "k".repeat(4097);
    assert_eq!(s.put("main", &long_key, "v").await, 400);
    assert_eq!(s.call("GET", "/no/such/route").await.0, 404);
}

#[tokio::test]
async fn wrong_mode_is_409() {
    let dir = tempfile::tempdir().unwrap();
    // A database written once, then served read-only beside a read-write one.
    {
        let s = Server::start(|_| KvConfig {
            databases: vec![db("ro", &dir.path().join("ro"), DbMode::ReadWrite)],
            ..KvConfig::default()
        })
        .await;
        assert_eq!(s.put("ro", "k", "v").await, 204);
    }
    let s = Server::start(|d| KvConfig {
        databases: vec![
            db("ro", &dir.path().join("ro"), DbMode::ReadOnly),
            db("rw", &d.join("rw"), DbMode::ReadWrite),
        ],
        ..KvConfig::default()
    })
    .await;
    assert_eq!(s.get("ro", "k").await, (200, "v".into()));
    assert_eq!(s.put("ro", "k", "w").await, 409);
    assert_eq!(s.call("DELETE", "/databases/ro/keys/k").await.0, 409);
    std::fs::create_dir_all(s.ingest_path().join("batch")).unwrap();
    let (status, body) = s.call("PUT", "/admin/databases/ro/ingest/batch").await;
    assert_eq!(status, 409, "{body}");
    let (status, body) = s
        .call("POST", "/admin/databases/rw/catch-up-with-primary")
        .await;
    assert_eq!(status, 409);
    assert!(
        body["error"].as_str().unwrap().contains("secondary"),
        "{body}"
    );
    assert_eq!(s.get("ro", "k").await, (200, "v".into()));
}

#[tokio::test]
async fn directories_may_not_escape_their_base() {
    let s = Server::open().await;
    let outside = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(outside.path(), s.ingest_path().join("out")).unwrap();
    std::os::unix::fs::symlink(outside.path(), s.backup_path().join("out")).unwrap();
    for dir in ["%2E%2E", "..%2F..%2Fetc", "%2Fetc", "out", "a%2Fb"] {
        for (method, route) in [("PUT", "checkpoint"), ("PUT", "ingest"), ("PUT", "ingests")] {
            let path = format!("/admin/databases/main/{route}/{dir}");
            assert_eq!(raw_status(&s.url, method, &path).await, 400, "{path}");
        }
    }
    // A symlinked .sst inside a plain ingest dir that points outside is refused too.
    build_ssts(&outside.path().join("ssts"), &[("x", "1")]);
    let batch = s.ingest_path().join("batch");
    std::fs::create_dir(&batch).unwrap();
    std::os::unix::fs::symlink(outside.path().join("ssts/000001.sst"), batch.join("a.sst"))
        .unwrap();
    let (status, body) = s.call("PUT", "/admin/databases/main/ingest/batch").await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(s.get("main", "x").await.0, 404);
    let mut outside_names: Vec<String> = std::fs::read_dir(outside.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    outside_names.sort();
    assert_eq!(
        outside_names,
        ["ssts", "ssts.jsonl"],
        "nothing written outside"
    );
}

#[tokio::test]
async fn properties_are_text_unless_json_is_asked_for() {
    let s = Server::open().await;
    assert_eq!(s.put("main", "k", "v").await, 204);
    let property = |name: &str, accept: Option<&str>| {
        let mut request = s
            .http
            .get(format!("{}/admin/databases/main/properties/{name}", s.url));
        if let Some(accept) = accept {
            request = request.header("accept", accept);
        }
        async move {
            let r = request.send().await.unwrap();
            let content_type = r.headers()["content-type"].to_str().unwrap().to_string();
            (r.status().as_u16(), content_type, r.text().await.unwrap())
        }
    };
    // As the original answers: the property itself, as text.
    for accept in [
        None,
        Some("*/*"),
        Some("text/plain"),
        Some("text/plain, application/json;q=0.5"),
        Some("text/plain, application/json"),
        Some("application/json;q=0"),
    ] {
        let (status, content_type, body) = property("rocksdb.estimate-num-keys", accept).await;
        assert_eq!((status, body.as_str()), (200, "1"), "{accept:?}");
        assert!(
            content_type.starts_with("text/plain"),
            "{accept:?}: {content_type}"
        );
    }
    let (status, _, body) = property("rocksdb.stats", None).await;
    assert_eq!(status, 200);
    assert!(body.contains("Compaction Stats"), "{body}");
    // A client that asks for JSON gets an object.
    for accept in [
        "application/json",
        "text/plain;q=0.1, application/json",
        "application/json, text/plain, */*",
    ] {
        let (status, content_type, body) =
            property("rocksdb.estimate-num-keys", Some(accept)).await;
        assert_eq!(
            (status, content_type.as_str()),
            (200, "application/json"),
            "{accept}"
        );
        let body: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(
            body,
            serde_json::json!({"database": "main", "property": "rocksdb.estimate-num-keys", "value": "1"})
        );
    }
    // Errors are JSON whatever was asked for.
    let (status, content_type, body) = property("no.such", Some("text/plain")).await;
    assert_eq!(
        (status, content_type.as_str()),
        (400, "application/json"),
        "{body}"
    );
    assert!(body.contains("no such property"), "{body}");
}

/// The seed's puller spells the ingest routes `ingests`: both spellings ingest and answer alike.
#[tokio::test]
async fn the_pullers_ingests_spelling_ingests_too() {
    let s = Server::open().await;
    build_ssts(&s.ingest_path().join("batch_1"), &[("a", "1")]);
    build_ssts(&s.ingest_path().join("last"), &[("b", "2")]);
    let (status, body) = s.call("PUT", "/admin/databases/main/ingests/batch_1").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["ingested"]["dir"], "batch_1", "{body}");
    assert_eq!(s.get("main", "a").await, (200, "1".into()));
    for spelling in ["ingest", "ingests"] {
        let (status, body) = s
            .call("GET", &format!("/admin/databases/main/{spelling}/last"))
            .await;
        assert_eq!(
            (status, &body["last"]["dir"]),
            (200, &"batch_1".into()),
            "{body}"
        );
    }
    // A directory named `last` is ingested by a PUT under either spelling.
    let (status, body) = s.call("PUT", "/admin/databases/main/ingests/last").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(s.get("main", "b").await, (200, "2".into()));
    let (_, body) = s.call("GET", "/admin/databases/main/ingests/last").await;
    assert_eq!(body["last"]["dir"], "last", "{body}");
    // Refusals are the same as the other spelling's.
    assert_eq!(
        s.call("PUT", "/admin/databases/main/ingests/nope").await.0,
        400
    );
    assert_eq!(
        s.call("PUT", "/admin/databases/nope/ingests/batch_1")
            .await
            .0,
        404
    );
}

#[tokio::test]
async fn a_checkpoint_opens_as_a_database_with_the_same_data() {
    let s = Server::open().await;
    for i in 0..100 {
        assert_eq!(s.put("main", &format!("k{i}"), &format!("v{i}")).await, 204);
    }
    let (status, body) = s
        .call("PUT", "/admin/databases/main/checkpoint/snap1")
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        s.call("PUT", "/admin/databases/main/checkpoint/snap1")
            .await
            .0,
        409
    );
    assert_eq!(s.put("main", "k0", "changed after").await, 204);

    let snap = s.backup_path().join("snap1");
    let copy = Server::start(|_| KvConfig {
        databases: vec![db("snap", &snap, DbMode::ReadOnly)],
        ..KvConfig::default()
    })
    .await;
    for i in 0..100 {
        assert_eq!(
            copy.get("snap", &format!("k{i}")).await,
            (200, format!("v{i}"))
        );
    }
}

#[tokio::test]
async fn ingested_keys_become_visible_and_the_last_ingest_is_recorded() {
    let s = Server::open().await;
    assert_eq!(s.put("main", "user-key", "mine").await, 204);
    build_ssts(
        &s.ingest_path().join("batch1"),
        &[("b", "2"), ("a", "1"), ("c", "3")],
    );
    let (status, body) = s.call("PUT", "/admin/databases/main/ingest/batch1").await;
    assert_eq!(status, 200, "{body}");
    let r = s
        .http
        .get(format!("{}/databases/main/keys/a", s.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["content-type"], "text/plain");
    assert_eq!(r.text().await.unwrap(), "1");
    assert_eq!(s.get("main", "c").await, (200, "3".into()));
    assert!(
        s.ingest_path().join("batch1/000001.sst").exists(),
        "the operator's files are copied, not consumed"
    );
    for spelling in ["ingest", "ingests"] {
        let (status, body) = s
            .call("GET", &format!("/admin/databases/main/{spelling}/last"))
            .await;
        assert_eq!(status, 200);
        assert_eq!(body["last"]["dir"], "batch1", "{body}");
        assert_eq!(body["last"]["files"][0], "000001.sst");
    }
    // The bookkeeping is not in the user keyspace: 3 ingested + 1 put.
    let (_, count) = s.call("GET", "/databases/main/count").await;
    assert_eq!(count["count"], 4);
    assert_eq!(s.get("main", "ingest.last").await.0, 404);
    // Missing and empty directories are refused.
    assert_eq!(
        s.call("PUT", "/admin/databases/main/ingest/nope").await.0,
        400
    );
    std::fs::create_dir(s.ingest_path().join("empty")).unwrap();
    assert_eq!(
        s.call("PUT", "/admin/databases/main/ingest/empty").await.0,
        400
    );
}

#[tokio::test]
async fn a_corrupt_sst_is_refused_and_the_database_is_untouched() {
    let s = Server::open().await;
    build_ssts(&s.ingest_path().join("good"), &[("g", "1")]);
    assert_eq!(
        s.call("PUT", "/admin/databases/main/ingest/good").await.0,
        200
    );
    assert_eq!(s.put("main", "k", "v").await, 204);

    // A good file, then one whose footer is broken: all or nothing.
    let bad = s.ingest_path().join("bad");
    build_ssts(&bad, &[("a", "new"), ("k", "overwritten?")]);
    let broken = bad.join("000002.sst");
    std::fs::copy(bad.join("000001.sst"), &broken).unwrap();
    let mut bytes = std::fs::read(&broken).unwrap();
    let len = bytes.len();
    bytes[len - 20..].fill(0xAB);
    std::fs::write(&broken, &bytes).unwrap();
    let (status, body) = s.call("PUT", "/admin/databases/main/ingest/bad").await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("unchanged"),
        "{body}"
    );
    assert_eq!(s.get("main", "a").await.0, 404);
    assert_eq!(s.get("main", "k").await, (200, "v".into()));
    assert_eq!(s.get("main", "g").await, (200, "1".into()));
    let (_, last) = s.call("GET", "/admin/databases/main/ingest/last").await;
    assert_eq!(last["last"]["dir"], "good");
}

#[tokio::test]
async fn a_secondary_sees_the_primarys_writes_after_catch_up() {
    let s = Server::start(|d| {
        let primary = d.join("primary");
        let mut secondary = db("replica", &d.join("replica"), DbMode::Secondary);
        secondary.primary = Some(primary.clone());
        // The primary must exist before its secondary opens: configured first.
        KvConfig {
            databases: vec![db("primary", &primary, DbMode::ReadWrite), secondary],
            ..KvConfig::default()
        }
    })
    .await;
    assert_eq!(s.put("primary", "k", "v1").await, 204);
    assert_eq!(s.get("replica", "k").await.0, 404);
    assert_eq!(s.put("replica", "k", "x").await, 409);
    let (status, body) = s
        .call("POST", "/admin/databases/replica/catch-up-with-primary")
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(s.get("replica", "k").await, (200, "v1".into()));
    assert_eq!(s.put("primary", "k", "v2").await, 204);
    assert_eq!(
        s.call("POST", "/admin/databases/replica/catch-up-with-primary")
            .await
            .0,
        200
    );
    assert_eq!(s.get("replica", "k").await, (200, "v2".into()));
}

#[tokio::test]
async fn a_secondary_catches_up_on_its_interval() {
    let s = Server::start(|d| {
        let primary = d.join("primary");
        let mut secondary = db("replica", &d.join("replica"), DbMode::Secondary);
        secondary.primary = Some(primary.clone());
        secondary.catch_up_interval = Some(std::time::Duration::from_millis(100));
        KvConfig {
            databases: vec![db("primary", &primary, DbMode::ReadWrite), secondary],
            ..KvConfig::default()
        }
    })
    .await;
    assert_eq!(s.put("primary", "k", "v").await, 204);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while s.get("replica", "k").await.0 != 200 {
        assert!(
            std::time::Instant::now() < deadline,
            "the replica never caught up"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn healthcheck_and_metrics() {
    let s = Server::open().await;
    assert_eq!(
        s.call("GET", "/healthcheck").await,
        (200, serde_json::json!({"status": "ok"}))
    );
    assert_eq!(s.put("main", "k", "v").await, 204);
    for _ in 0..3 {
        assert_eq!(s.get("main", "k").await.0, 200);
    }
    assert_eq!(s.get("main", "absent").await.0, 404);
    let text = s
        .http
        .get(format!("{}/metrics", s.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for line in [
        "comet_kv_requests_total{route=\"get\",db=\"main\",status=\"200\"} 3",
        "comet_kv_requests_total{route=\"get\",db=\"main\",status=\"404\"} 1",
        "comet_kv_requests_total{route=\"put\",db=\"main\",status=\"204\"} 1",
        "comet_kv_request_duration_seconds_count{route=\"get\",db=\"main\"} 4",
        "comet_kv_block_cache_hits_total{db=\"main\"}",
        "comet_kv_pending_compaction_bytes{db=\"main\"}",
    ] {
        assert!(text.contains(line), "missing {line} in\n{text}");
    }
}

#[tokio::test]
async fn synced_writes_are_served_like_any_other() {
    let s = Server::start(|d| {
        let mut synced = db("synced", &d.join("synced"), DbMode::ReadWrite);
        synced.sync_writes = true;
        KvConfig {
            databases: vec![synced],
            ..KvConfig::default()
        }
    })
    .await;
    let writes: Vec<_> = (0..20)
        .map(|i| {
            let (http, url) = (s.http.clone(), s.url.clone());
            tokio::spawn(async move {
                let r = http
                    .put(format!("{url}/databases/synced/keys/k{i}"))
                    .body(format!("v{i}"))
                    .send()
                    .await
                    .unwrap();
                r.status().as_u16()
            })
        })
        .collect();
    for w in writes {
        assert_eq!(w.await.unwrap(), 204);
    }
    for i in 0..20 {
        assert_eq!(
            s.get("synced", &format!("k{i}")).await,
            (200, format!("v{i}"))
        );
    }
    assert_eq!(s.call("DELETE", "/databases/synced/keys/k0").await.0, 204);
    assert_eq!(s.get("synced", "k0").await.0, 404);
}
