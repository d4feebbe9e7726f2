//! Several stateless heads over one Postgres: what one head writes, another reads. Postgres runs
//! on this machine (`.ci/run` starts it); COMET_TEST_PG_DSN points elsewhere.
#![allow(clippy::unwrap_used)]

mod common;

use comet_context::ContextConfig;
use common::{call, client};

fn dsn() -> String {
    std::env::var("COMET_TEST_PG_DSN")
        .unwrap_or_else(|_| "postgres://postgres:postgres@127.0.0.1:5432/test".into())
}

#[tokio::test]
async fn two_heads_share_one_postgres_store() {
    let config = ContextConfig {
        store: dsn(),
        ..ContextConfig::default()
    };
    let dir = tempfile::tempdir().unwrap();
    let a = common::embedded(config.clone(), dir.path()).await;
    let b = common::embedded(config, dir.path()).await;
    // A context of this run only: the table is shared with every other run.
    let slice = format!(
        "slice-pg-{}-{}",
        std::process::id(),
        a.url.rsplit(':').next().unwrap()
    );
    let http = client();
    let entry = [
        ("contextID", slice.as_str()),
        ("family", "pubkeysall"),
        ("Key", "vm1"),
        ("readToken", "read-token"),
        ("writeToken", "write-token"),
    ];
    let (_, v) = call(
        &http,
        "POST",
        &format!("{}/writeScope", a.url),
        &entry,
        Some("from a"),
    )
    .await;
    assert!(v["Success"].is_string(), "{v}");
    let (_, v) = call(
        &http,
        "GET",
        &format!("{}/readScope", b.url),
        &entry[..4],
        None,
    )
    .await;
    assert_eq!(v["value"], "from a");
    // The write token guards the entry on every head.
    let thief = [("readToken", "read-token"), ("writeToken", "guess-token")];
    let query: Vec<(&str, &str)> = entry[..3].iter().chain(&thief).copied().collect();
    let (_, v) = call(
        &http,
        "POST",
        &format!("{}/writeScope", b.url),
        &query,
        Some("x"),
    )
    .await;
    assert!(v["error"].is_string(), "{v}");
    let (_, v) = call(
        &http,
        "POST",
        &format!("{}/writeScope", b.url),
        &entry,
        Some("from b"),
    )
    .await;
    assert!(v["Success"].is_string(), "{v}");
    let list = [("contextID", slice.as_str()), ("readToken", "read-token")];
    let (_, v) = call(
        &http,
        "GET",
        &format!("{}/enumerateScope", a.url),
        &list,
        None,
    )
    .await;
    assert_eq!(v["entries"][0]["value"], "from b", "{v}");
    let (_, v) = call(
        &http,
        "DELETE",
        &format!("{}/deleteScope", a.url),
        &entry,
        None,
    )
    .await;
    assert!(v["Success"].is_string(), "{v}");
    let (_, v) = call(
        &http,
        "GET",
        &format!("{}/readScope", b.url),
        &entry[..4],
        None,
    )
    .await;
    assert_eq!(v, serde_json::json!({}));
}

#[tokio::test]
async fn a_bad_store_setting_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let config = ContextConfig {
        store: "mysql://x".into(),
        ..ContextConfig::default()
    };
    let err = comet_context::open(&config, dir.path())
        .await
        .err()
        .unwrap();
    assert!(err.to_string().contains("mysql://x"), "{err}");
}
