//! Quotas (issue 13, point 6): entries and bytes per context and bytes in all, answered with 507;
//! deletes, expiry and smaller values give the room back; the usage survives a restart.
#![allow(clippy::unwrap_used)]

mod common;

use comet_context::ContextConfig;
use common::{call, client, embedded};

fn limited() -> ContextConfig {
    ContextConfig {
        max_entries_per_context: 5,
        max_bytes_per_context: 1000,
        max_total_bytes: 3000,
        ..ContextConfig::default()
    }
}

fn entry(context: &str, key: &str) -> Vec<(&'static str, String)> {
    vec![
        ("contextID", context.to_string()),
        ("family", "hostsall".to_string()),
        ("Key", key.to_string()),
        ("readToken", "read-token".to_string()),
        ("writeToken", "write-token".to_string()),
    ]
}

async fn put(url: &str, context: &str, key: &str, value: &str) -> (u16, serde_json::Value) {
    let query = entry(context, key);
    let query: Vec<(&str, &str)> = query.iter().map(|(k, v)| (*k, v.as_str())).collect();
    call(
        &client(),
        "POST",
        &format!("{url}/writeScope"),
        &query,
        Some(value),
    )
    .await
}

async fn remove(url: &str, context: &str, key: &str) -> (u16, serde_json::Value) {
    let query = entry(context, key);
    let query: Vec<(&str, &str)> = query.iter().map(|(k, v)| (*k, v.as_str())).collect();
    call(
        &client(),
        "DELETE",
        &format!("{url}/deleteScope"),
        &query,
        None,
    )
    .await
}

#[tokio::test]
async fn entries_per_context_are_capped() {
    let dir = tempfile::tempdir().unwrap();
    let head = embedded(limited(), dir.path()).await;
    for n in 0..5 {
        let (status, v) = put(&head.url, "ctx-a", &format!("vm{n}"), "x").await;
        assert_eq!(status, 200, "{v}");
    }
    let (status, v) = put(&head.url, "ctx-a", "vm5", "x").await;
    assert_eq!(status, 507, "{v}");
    assert!(v["error"].as_str().unwrap().contains("5 entries"), "{v}");
    // Updating what exists is still fine, another context is not affected, and a delete gives
    // the room back.
    assert_eq!(put(&head.url, "ctx-a", "vm0", "y").await.0, 200);
    assert_eq!(put(&head.url, "ctx-b", "vm0", "x").await.0, 200);
    assert_eq!(remove(&head.url, "ctx-a", "vm1").await.0, 200);
    assert_eq!(put(&head.url, "ctx-a", "vm5", "x").await.0, 200);
    assert_eq!(put(&head.url, "ctx-a", "vm6", "x").await.0, 507);
}

#[tokio::test]
async fn bytes_per_context_are_capped_for_new_and_growing_values() {
    let dir = tempfile::tempdir().unwrap();
    let head = embedded(limited(), dir.path()).await;
    let big = "v".repeat(400);
    assert_eq!(put(&head.url, "ctx-b", "vm0", &big).await.0, 200);
    assert_eq!(put(&head.url, "ctx-b", "vm1", &big).await.0, 200);
    let (status, v) = put(&head.url, "ctx-b", "vm2", &big).await;
    assert_eq!(status, 507, "{v}");
    assert!(v["error"].as_str().unwrap().contains("1000 bytes"), "{v}");
    // An update that grows a value past the quota is refused and leaves the value as it was.
    let (status, _) = put(&head.url, "ctx-b", "vm0", &"w".repeat(600)).await;
    assert_eq!(status, 507);
    let query = entry("ctx-b", "vm0");
    let query: Vec<(&str, &str)> = query[..4].iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (_, v) = call(
        &client(),
        "GET",
        &format!("{}/readScope", head.url),
        &query,
        None,
    )
    .await;
    assert_eq!(v["value"], big.as_str());
    // A smaller value frees room for another entry.
    assert_eq!(put(&head.url, "ctx-b", "vm0", "small").await.0, 200);
    assert_eq!(put(&head.url, "ctx-b", "vm2", &big).await.0, 200);
}

/// 1 KB writes to ever new contexts, as in the report: the store stops growing at its
/// byte cap, also after a restart, and what was refused is not stored anywhere.
#[tokio::test]
async fn the_store_stops_growing_at_its_byte_cap() {
    let dir = tempfile::tempdir().unwrap();
    let head = embedded(limited(), dir.path()).await;
    let kb = "k".repeat(1000 - 60);
    let mut accepted = Vec::new();
    let mut refused = None;
    for n in 0..100 {
        let context = format!("ctx-{n}");
        let (status, v) = put(&head.url, &context, "vm", &kb).await;
        match status {
            200 => accepted.push(context),
            507 => {
                refused = Some(v);
                break;
            }
            other => panic!("{other}: {v}"),
        }
    }
    let refused = refused.expect("100 writes of 1 KB never met the 3000-byte cap");
    assert!(
        refused["error"].as_str().unwrap().contains("store is full"),
        "{refused}"
    );
    assert_eq!(accepted.len(), 3, "{accepted:?}");
    // What the store holds: the accepted entries only.
    let mut held = 0;
    for n in 0..=accepted.len() {
        let id = comet_context::entry::EntryId {
            context_id: format!("ctx-{n}"),
            family: "hostsall".into(),
            key: "vm".into(),
        };
        if let Some(e) = head.exchange.store().get(&id).await.unwrap() {
            held += e.size();
        }
    }
    assert!(held <= 3000, "{held} bytes held");
    // A restart keeps the count: still full, until an entry goes.
    head.stop();
    drop(head);
    let head = embedded(limited(), dir.path()).await;
    assert_eq!(put(&head.url, "ctx-new", "vm", &kb).await.0, 507);
    assert_eq!(remove(&head.url, &accepted[0], "vm").await.0, 200);
    assert_eq!(put(&head.url, "ctx-new", "vm", &kb).await.0, 200);
}

#[tokio::test]
async fn expired_entries_give_their_room_back() {
    let dir = tempfile::tempdir().unwrap();
    let config = ContextConfig {
        record_expire_time: Some(std::time::Duration::from_secs(3600)),
        ..limited()
    };
    let exchange = comet_context::open(&config, dir.path()).await.unwrap();
    let head = common::serve(exchange.clone(), &config).await;
    for n in 0..5 {
        assert_eq!(put(&head.url, "ctx-e", &format!("vm{n}"), "x").await.0, 200);
    }
    assert_eq!(put(&head.url, "ctx-e", "vm5", "x").await.0, 507);
    // What the sweeper does once they have expired.
    let removed = exchange.store().remove_idle(i64::MAX).await.unwrap();
    assert_eq!(removed, 5);
    for n in 5..10 {
        assert_eq!(put(&head.url, "ctx-e", &format!("vm{n}"), "x").await.0, 200);
    }
}
