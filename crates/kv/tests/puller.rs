//! The puller over a local source directory: order, completeness markers, skipping, retries.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test, with its line

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use comet_kv::KvConfig;
use comet_kv::config::{DbMode, PullerConfig};
use common::{Server, build_ssts, db};

fn folder(source: &Path, name: &str, pairs: &[(&str, &str)], complete: bool) {
    build_ssts(&source.join(name), pairs);
    if complete {
        std::fs::write(source.join(name).join("_SUCCESS"), b"").unwrap();
    }
}

fn puller_db(
    path: &Path,
    source: &Path,
    schedule: Option<&str>,
) -> comet_kv::config::DatabaseConfig {
    let mut main = db("main", path, DbMode::ReadWrite);
    main.puller = Some(PullerConfig {
        source: source.to_string_lossy().into(),
        base: "export".into(),
        schedule: schedule.map(String::from),
        retries: 2,
        retry_backoff: Duration::from_millis(10),
    });
    main
}

async fn server(source: &Path, schedule: Option<&str>) -> Server {
    Server::start(move |d| KvConfig {
        databases: vec![
            puller_db(&d.join("main"), source, schedule),
            db("other", &d.join("other"), DbMode::ReadWrite),
        ],
        ..KvConfig::default()
    })
    .await
}

#[tokio::test]
async fn ingests_complete_folders_in_order_and_never_a_half_written_one() {
    let source = tempfile::tempdir().unwrap();
    let src = source.path();
    folder(src, "export_1", &[("k", "from 1"), ("a", "1")], true);
    folder(src, "export_2", &[("k", "from 2"), ("b", "2")], false);
    folder(src, "export_10", &[("k", "from 10"), ("c", "10")], true);
    folder(src, "other_3", &[("x", "not ours")], true);
    std::fs::create_dir(src.join("export_x")).unwrap();
    let s = server(src, None).await;

    let (status, body) = s.call("POST", "/admin/databases/main/pull").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["run"]["ingested"], serde_json::json!(["export_1"]));
    assert_eq!(body["run"]["waiting_for"], "export_2");
    assert_eq!(s.get("main", "k").await, (200, "from 1".into()));
    assert_eq!(
        s.get("main", "b").await.0,
        404,
        "a folder without _SUCCESS is never read"
    );
    assert_eq!(s.get("main", "c").await.0, 404, "nor one after it");

    std::fs::write(src.join("export_2/_SUCCESS"), b"").unwrap();
    let (_, body) = s.call("POST", "/admin/databases/main/pull").await;
    assert_eq!(
        body["run"]["ingested"],
        serde_json::json!(["export_2", "export_10"])
    );
    assert_eq!(body["run"]["already_ingested"], 1);
    assert_eq!(
        s.get("main", "k").await,
        (200, "from 10".into()),
        "later folders win"
    );
    assert_eq!(s.get("main", "x").await.0, 404);

    let (_, body) = s.call("POST", "/admin/databases/main/pull").await;
    assert_eq!(body["run"]["ingested"], serde_json::json!([]));
    assert_eq!(body["run"]["already_ingested"], 3);
    let (_, last) = s.call("GET", "/admin/databases/main/ingest/last").await;
    assert_eq!(last["last"]["dir"], "export_10");
    // A database without a puller.
    assert_eq!(s.call("POST", "/admin/databases/other/pull").await.0, 409);
}

#[tokio::test]
async fn a_failing_folder_is_retried_and_blocks_later_ones_until_fixed() {
    let source = tempfile::tempdir().unwrap();
    let src = source.path();
    folder(src, "export_1", &[("a", "1")], true);
    std::fs::write(src.join("export_1/000001.sst"), b"corrupt").unwrap();
    folder(src, "export_2", &[("b", "2")], true);
    let s = server(src, None).await;

    let (_, body) = s.call("POST", "/admin/databases/main/pull").await;
    assert_eq!(body["run"]["failed"]["folder"], "export_1", "{body}");
    assert_eq!(body["run"]["failed"]["attempts"], 2);
    assert_eq!(body["run"]["ingested"], serde_json::json!([]));
    assert_eq!(s.get("main", "b").await.0, 404);

    // Fixed at the source: the next run picks it up, then the next folder.
    std::fs::remove_dir_all(src.join("export_1")).unwrap();
    folder(src, "export_1", &[("a", "1")], true);
    let (_, body) = s.call("POST", "/admin/databases/main/pull").await;
    assert_eq!(
        body["run"]["ingested"],
        serde_json::json!(["export_1", "export_2"]),
        "{body}"
    );
    assert_eq!(s.get("main", "b").await, (200, "2".into()));
}

#[tokio::test]
async fn the_schedule_pulls_without_being_asked_and_progress_survives_a_restart() {
    let source = tempfile::tempdir().unwrap();
    let src = source.path();
    folder(src, "export_1", &[("a", "1")], true);
    let state = tempfile::tempdir().unwrap();
    let main_path = state.path().join("main");
    let s = Server::start(|_| KvConfig {
        databases: vec![puller_db(&main_path, src, Some("* * * * * *"))],
        ..KvConfig::default()
    })
    .await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while s.get("main", "a").await.0 != 200 {
        assert!(Instant::now() < deadline, "the scheduled pull never ran");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    s.stop().await;
    // Restarted on the same database without a schedule: export_1 is not ingested again.
    let restarted = Server::start(|_| KvConfig {
        databases: vec![puller_db(&main_path, src, None)],
        ..KvConfig::default()
    })
    .await;
    let report = restarted.kv.puller("main").unwrap().run().await;
    assert_eq!(report.already_ingested, 1, "{report:?}");
    assert!(report.ingested.is_empty());
}

#[tokio::test]
async fn an_empty_complete_folder_is_passed_over_and_subfolders_are_not_read() {
    let source = tempfile::tempdir().unwrap();
    let src = source.path();
    std::fs::create_dir(src.join("export_1")).unwrap();
    std::fs::write(src.join("export_1/_SUCCESS"), b"").unwrap();
    folder(src, "export_2", &[("a", "2")], true);
    // A writer's leftover inside a complete folder is not part of it.
    build_ssts(
        &src.join("export_2/_temporary"),
        &[("a", "stale"), ("t", "temp")],
    );
    let s = server(src, None).await;
    let (_, body) = s.call("POST", "/admin/databases/main/pull").await;
    assert_eq!(
        body["run"]["empty"],
        serde_json::json!(["export_1"]),
        "{body}"
    );
    assert_eq!(
        body["run"]["ingested"],
        serde_json::json!(["export_2"]),
        "{body}"
    );
    assert_eq!(s.get("main", "a").await, (200, "2".into()));
    assert_eq!(s.get("main", "t").await.0, 404);
}

#[tokio::test]
async fn a_pull_outlives_a_client_that_gives_up() {
    let source = tempfile::tempdir().unwrap();
    let src = source.path();
    folder(src, "export_1", &[("a", "1")], true);
    std::fs::write(src.join("export_1/000001.sst"), b"corrupt").unwrap();
    let s = Server::start(|d| {
        let mut main = puller_db(&d.join("main"), src, None);
        if let Some(p) = main.puller.as_mut() {
            p.retries = 3;
            p.retry_backoff = Duration::from_millis(400);
        }
        KvConfig {
            databases: vec![main],
            ..KvConfig::default()
        }
    })
    .await;
    // The first client gives up after 100 ms; its run goes on (attempts 1..3, ~1.2 s).
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(100))
        .build()
        .unwrap();
    let started = Instant::now();
    assert!(
        impatient
            .post(format!("{}/admin/databases/main/pull", s.url))
            .send()
            .await
            .is_err()
    );
    // A second run waits for the first instead of running beside it.
    let (_, body) = s.call("POST", "/admin/databases/main/pull").await;
    assert_eq!(body["run"]["failed"]["attempts"], 3, "{body}");
    assert!(
        started.elapsed() >= Duration::from_millis(2000),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_bad_schedule_or_source_is_a_clear_error_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let main = puller_db(
        &dir.path().join("main"),
        dir.path(),
        Some("every five minutes"),
    );
    let config = KvConfig {
        databases: vec![main],
        ..KvConfig::default()
    }
    .with_defaults(dir.path());
    let err = comet_kv::Kv::open(config).unwrap_err().to_string();
    assert!(err.contains("invalid schedule"), "{err}");
    let main = puller_db(&dir.path().join("main"), &dir.path().join("absent"), None);
    let config = KvConfig {
        databases: vec![main],
        ..KvConfig::default()
    }
    .with_defaults(dir.path());
    let err = comet_kv::Kv::open(config).unwrap_err().to_string();
    assert!(err.contains("source") && err.contains("absent"), "{err}");
}

#[tokio::test]
async fn an_object_store_url_is_a_source_too() {
    let source = tempfile::tempdir().unwrap();
    let src = source.path();
    folder(src, "export_1", &[("a", "from the store")], true);
    let url = format!("file://{}", src.display());
    let s = Server::start(|d| KvConfig {
        databases: vec![puller_db(&d.join("main"), Path::new(&url), None)],
        ..KvConfig::default()
    })
    .await;
    let (status, body) = s.call("POST", "/admin/databases/main/pull").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["run"]["ingested"],
        serde_json::json!(["export_1"]),
        "{body}"
    );
    assert_eq!(s.get("main", "a").await, (200, "from the store".into()));
    // The source's files are untouched: the puller ingests its own downloaded copies.
    assert!(src.join("export_1/000001.sst").exists());
}
