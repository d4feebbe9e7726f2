//! The protocol as real clients speak it: a Python `requests` client (tests/clients), plus the
//! token, size and expiry rules over plain HTTP.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use comet_context::ContextConfig;
use common::{call, client, embedded, python_client};

#[tokio::test]
async fn a_python_requests_client_speaks_the_whole_protocol() {
    let dir = tempfile::tempdir().unwrap();
    let head = embedded(ContextConfig::default(), dir.path()).await;
    let out = python_client(vec![head.url.clone()]).await;
    assert!(out.trim_end().ends_with("OK"), "{out}");
}

#[tokio::test]
async fn parameters_tokens_and_sizes() {
    let dir = tempfile::tempdir().unwrap();
    let config = ContextConfig {
        min_token_length: 8,
        max_value_size: 1000,
        ..ContextConfig::default()
    };
    let head = embedded(config, dir.path()).await;
    let http = client();
    let write = format!("{}/writeScope", head.url);
    let full = [
        ("contextID", "s1"),
        ("family", "users"),
        ("Key", "vm1"),
        ("readToken", "read-token"),
        ("writeToken", "write-token"),
    ];
    let (status, value) = call(&http, "POST", &write, &full[..4], Some("{}")).await;
    assert_eq!(status, 400, "missing writeToken: {value}");
    assert!(value["error"].as_str().unwrap().contains("writeToken"));
    let short = [("readToken", "short"), ("writeToken", "short-w")];
    let query: Vec<(&str, &str)> = full[..3].iter().chain(&short).copied().collect();
    let (status, value) = call(&http, "POST", &write, &query, Some("{}")).await;
    assert_eq!(
        status, 400,
        "tokens that break the rules are a 400: {value}"
    );
    assert!(
        value["error"].as_str().unwrap().contains("at least 8"),
        "{value}"
    );
    let (status, _) = call(&http, "POST", &write, &full, Some(&"x".repeat(1001))).await;
    assert_eq!(status, 413);
    let (status, value) = call(&http, "POST", &write, &full, Some("[1,2]")).await;
    assert_eq!(
        (status, value["Success"].is_string()),
        (200, true),
        "{value}"
    );
    // Bodies are kept verbatim, whatever they are.
    let read = format!("{}/readScope", head.url);
    let (_, value) = call(&http, "GET", &read, &full[..4], None).await;
    assert_eq!(value["value"], "[1,2]");
    // A second writer without the write token cannot take the entry over, nor change its tokens.
    let thief = [("readToken", "read-token"), ("writeToken", "other-token")];
    let query: Vec<(&str, &str)> = full[..3].iter().chain(&thief).copied().collect();
    let (_, value) = call(&http, "POST", &write, &query, Some("stolen")).await;
    assert!(value["error"].is_string(), "{value}");
    let (_, value) = call(&http, "GET", &read, &full[..4], None).await;
    assert_eq!(value["value"], "[1,2]");
    // NUL characters are refused (Postgres could not store them), in a parameter or the body.
    let (status, _) = call(&http, "POST", &write, &full, Some("a\u{0}b")).await;
    assert_eq!(status, 400);
    let nul = [
        ("contextID", "s\u{0}1"),
        ("family", "f"),
        ("Key", "k"),
        ("readToken", "read-token"),
    ];
    assert_eq!(call(&http, "GET", &read, &nul, None).await.0, 400);
    // Unknown paths and methods are not routes.
    let r = http.get(format!("{}/nope", head.url)).send().await.unwrap();
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn the_strength_rule_of_the_original() {
    let dir = tempfile::tempdir().unwrap();
    let config = ContextConfig {
        strong_tokens: true,
        ..ContextConfig::default()
    };
    let head = embedded(config, dir.path()).await;
    let http = client();
    let write = format!("{}/writeScope", head.url);
    for (read, write_token, ok) in [
        ("Read1234", "Write1234", true),
        ("read1234", "Write1234", false),
        ("READ1234", "Write1234", false),
        ("ReadRead", "Write1234", false),
        ("Rd1", "Write1234", false),
        ("Read 1234", "Write1234", false),
    ] {
        let query = [
            ("contextID", "s-strong"),
            ("family", "f"),
            ("Key", read),
            ("readToken", read),
            ("writeToken", write_token),
        ];
        let (_, v) = call(&http, "POST", &write, &query, Some("x")).await;
        assert_eq!(v["Success"].is_string(), ok, "{read}: {v}");
    }
}

#[tokio::test]
async fn an_expired_entry_stays_gone_even_before_the_sweep() {
    use comet_context::service::Params;
    let dir = tempfile::tempdir().unwrap();
    let config = ContextConfig {
        record_expire_time: Some(Duration::from_millis(200)),
        ..ContextConfig::default()
    };
    // No sweeper runs here: only the alive rule stands between a reader and expired entries.
    let exchange = comet_context::open(&config, dir.path()).await.unwrap();
    let params = |key: &str| Params {
        context_id: Some("s-sweep".into()),
        family: Some("hostsall".into()),
        key: Some(key.into()),
        read_token: Some("read-token".into()),
        write_token: Some("write-token".into()),
    };
    let caller = comet_context::service::Caller::default();
    for key in ["a", "b"] {
        exchange
            .write(&params(key), "v".into(), caller)
            .await
            .unwrap();
    }
    for _ in 0..6 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let b = exchange.read(&params("b")).await.unwrap();
        assert!(b.get().contains("\"key\":\"b\""), "{}", b.get());
    }
    // "a" expired 200 ms ago; enumerating must not bring it back.
    let listing = Params {
        key: None,
        ..params("")
    };
    let all = exchange.enumerate(&listing).await.unwrap();
    assert!(!all.get().contains("\"key\":\"a\""), "{}", all.get());
    tokio::time::sleep(Duration::from_millis(50)).await;
    let a = exchange.read(&params("a")).await.unwrap();
    assert_eq!(a.get(), "{}");
    let id = comet_context::entry::EntryId {
        context_id: "s-sweep".into(),
        family: "hostsall".into(),
        key: "a".into(),
    };
    let stored = exchange.store().get(&id).await.unwrap().unwrap();
    assert!(
        stored.last_access < exchange_now() - 400,
        "the enumerate touched an expired entry"
    );
    // The sweep removes it from the store itself.
    let removed = exchange
        .store()
        .remove_idle(exchange_now() - 400)
        .await
        .unwrap();
    assert_eq!(removed, 1);
    assert!(exchange.store().get(&id).await.unwrap().is_none());
}

fn exchange_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

#[tokio::test]
async fn entries_expire_unless_read_or_enumerated() {
    let dir = tempfile::tempdir().unwrap();
    let config = ContextConfig {
        record_expire_time: Some(Duration::from_millis(600)),
        ..ContextConfig::default()
    };
    let head = embedded(config, dir.path()).await;
    let http = client();
    let entry = |key: &'static str| {
        [
            ("contextID", "s-exp"),
            ("family", "hostsall"),
            ("Key", key),
            ("readToken", "read-token"),
            ("writeToken", "write-token"),
        ]
    };
    for key in ["read", "listed", "idle"] {
        let (_, v) = call(
            &http,
            "POST",
            &format!("{}/writeScope", head.url),
            &entry(key),
            Some("x"),
        )
        .await;
        assert!(v["Success"].is_string(), "{v}");
    }
    // For 3 s (2.5 × the 1.2 s lifetime), "read" is read and "listed" enumerated every 300 ms.
    let read = format!("{}/readScope", head.url);
    let list = format!("{}/enumerateScope", head.url);
    let listing = [
        ("contextID", "s-exp"),
        ("readToken", "read-token"),
        ("family", "hostsall"),
    ];
    for _ in 0..10 {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let (_, v) = call(&http, "GET", &read, &entry("read")[..4], None).await;
        assert_eq!(v["key"], "read", "a read entry expired");
    }
    let (_, v) = call(&http, "GET", &list, &listing, None).await;
    let keys: Vec<&str> = v["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["read"], "only what was used survives: {v}");
    let (_, v) = call(&http, "GET", &read, &entry("idle")[..4], None).await;
    assert_eq!(v, serde_json::json!({}));
    // The sweeper (every 300 ms) has removed it from the store, not just from view.
    let idle = comet_context::entry::EntryId {
        context_id: "s-exp".into(),
        family: "hostsall".into(),
        key: "idle".into(),
    };
    assert!(head.exchange.store().get(&idle).await.unwrap().is_none());
    // An enumerate keeps entries alive too.
    let (_, v) = call(
        &http,
        "POST",
        &format!("{}/writeScope", head.url),
        &entry("listed"),
        Some("y"),
    )
    .await;
    assert!(
        v["Success"].is_string(),
        "an expired entry's address is free again: {v}"
    );
    for _ in 0..10 {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let (_, v) = call(&http, "GET", &list, &listing, None).await;
        assert!(!v["entries"].as_array().unwrap().is_empty());
    }
    let (_, v) = call(&http, "GET", &read, &entry("listed")[..4], None).await;
    assert_eq!(v["value"], "y", "an enumerated entry expired");
}
