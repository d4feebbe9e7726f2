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

/// A DSN whose tables live in a schema of their own, new and empty, and the schema's name.
async fn fresh_schema(name: &str) -> (String, String) {
    let base = dsn();
    let schema = format!(
        "ctx_{name}_{}_{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos()
    );
    let admin = sqlx::postgres::PgPool::connect(&base).await.unwrap();
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(&admin)
        .await
        .unwrap();
    admin.close().await;
    let joiner = if base.contains('?') { '&' } else { '?' };
    let dsn = format!("{base}{joiner}options=-c%20search_path%3D{schema}");
    (dsn, schema)
}

async fn drop_schema(schema: &str) {
    let admin = sqlx::postgres::PgPool::connect(&dsn()).await.unwrap();
    sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
        .execute(&admin)
        .await
        .unwrap();
    admin.close().await;
}

#[tokio::test]
async fn heads_starting_together_on_a_fresh_schema_all_open() {
    let (dsn, schema) = fresh_schema("race").await;
    let config = ContextConfig {
        store: dsn,
        ..ContextConfig::default()
    };
    let dir = tempfile::tempdir().unwrap();
    let opens: Vec<_> = (0..8)
        .map(|_| {
            let (config, path) = (config.clone(), dir.path().to_path_buf());
            tokio::spawn(async move { comet_context::open(&config, &path).await })
        })
        .collect();
    for open in opens {
        if let Err(e) = open.await.unwrap() {
            panic!("a head failed to open a fresh schema: {e}");
        }
    }
    drop_schema(&schema).await;
}

#[tokio::test]
async fn the_entry_quota_holds_across_heads_writing_at_once() {
    let (dsn, schema) = fresh_schema("quota").await;
    let config = ContextConfig {
        store: dsn,
        max_entries_per_context: 10,
        ..ContextConfig::default()
    };
    let dir = tempfile::tempdir().unwrap();
    let a = common::embedded(config.clone(), dir.path()).await;
    let b = common::embedded(config, dir.path()).await;
    let writes: Vec<_> = (0..40)
        .map(|n: u32| {
            let url = if n.is_multiple_of(2) {
                a.url.clone()
            } else {
                b.url.clone()
            };
            tokio::spawn(async move {
                let key = format!("vm{n}");
                let query = [
                    ("contextID", "slice-q"),
                    ("family", "hostsall"),
                    ("Key", key.as_str()),
                    ("readToken", "read-token"),
                    ("writeToken", "write-token"),
                ];
                let url = format!("{url}/writeScope");
                call(&client(), "POST", &url, &query, Some("x")).await.0
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for w in writes {
        statuses.push(w.await.unwrap());
    }
    let ok = statuses.iter().filter(|s| **s == 200).count();
    let full = statuses.iter().filter(|s| **s == 507).count();
    assert_eq!((ok, full), (10, 30), "{statuses:?}");
    let list = [("contextID", "slice-q"), ("readToken", "read-token")];
    let (_, v) = call(
        &client(),
        "GET",
        &format!("{}/enumerateScope", b.url),
        &list,
        None,
    )
    .await;
    assert_eq!(v["entries"].as_array().unwrap().len(), 10);
    // Expiry through either head gives the room back to both.
    assert_eq!(a.exchange.store().remove_idle(i64::MAX).await.unwrap(), 10);
    let query = [
        ("contextID", "slice-q"),
        ("family", "hostsall"),
        ("Key", "again"),
        ("readToken", "read-token"),
        ("writeToken", "write-token"),
    ];
    let (status, v) = call(
        &client(),
        "POST",
        &format!("{}/writeScope", b.url),
        &query,
        Some("x"),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    a.stop();
    b.stop();
    drop((a, b));
    drop_schema(&schema).await;
}

/// Heads racing to update, create and delete the same entries with values of other sizes: the
/// usage rows end as the entries are, so the quotas stay exact.
#[tokio::test]
async fn usage_stays_exact_when_heads_race() {
    let (dsn, schema) = fresh_schema("usage").await;
    let config = ContextConfig {
        store: dsn.clone(),
        ..ContextConfig::default()
    };
    let dir = tempfile::tempdir().unwrap();
    let a = common::embedded(config.clone(), dir.path()).await;
    let b = common::embedded(config, dir.path()).await;
    let calls: Vec<_> = (0..60)
        .map(|n: usize| {
            let url = if n.is_multiple_of(2) {
                a.url.clone()
            } else {
                b.url.clone()
            };
            tokio::spawn(async move {
                let key = format!("vm{}", n % 3);
                let query = [
                    ("contextID", "slice-u"),
                    ("family", "hostsall"),
                    ("Key", key.as_str()),
                    ("readToken", "read-token"),
                    ("writeToken", "write-token"),
                ];
                let value = "v".repeat(1 + n * 7 % 50);
                if n % 5 == 4 {
                    let url = format!("{url}/deleteScope");
                    call(&client(), "DELETE", &url, &query, None).await.0
                } else {
                    let url = format!("{url}/writeScope");
                    call(&client(), "POST", &url, &query, Some(&value)).await.0
                }
            })
        })
        .collect();
    for c in calls {
        assert_eq!(c.await.unwrap(), 200);
    }
    let db = sqlx::postgres::PgPool::connect(&dsn).await.unwrap();
    let held: (i64, i64) = sqlx::query_as(
        "SELECT COUNT(*), COALESCE(SUM(size), 0)::BIGINT FROM context_entries
         WHERE context_id = 'slice-u'",
    )
    .fetch_one(&db)
    .await
    .unwrap();
    let counted: Option<(i64, i64)> =
        sqlx::query_as("SELECT entries, bytes FROM context_usage WHERE context_id = 'slice-u'")
            .fetch_optional(&db)
            .await
            .unwrap();
    assert_eq!(counted.unwrap_or((0, 0)), held);
    let totals: (i64, i64) =
        sqlx::query_as("SELECT entries, bytes FROM context_usage WHERE context_id = ''")
            .fetch_one(&db)
            .await
            .unwrap();
    assert_eq!(totals, held);
    db.close().await;
    a.stop();
    b.stop();
    drop((a, b));
    drop_schema(&schema).await;
}
