//! What the original's clients rely on (issue 13, point 12) and JSON on every error (point 16):
//! base URLs ending in `/`, the 400 for equal tokens, both tokens to delete, the original's
//! `/getVersion` keys; unknown routes, wrong methods and undecodable paths answer JSON.
#![allow(clippy::unwrap_used)]

mod common;

use comet_context::ContextConfig;
use common::{call, client, embedded};

fn entry(key: &'static str) -> [(&'static str, &'static str); 5] {
    [
        ("contextID", "slice-compat"),
        ("family", "hostsall"),
        ("Key", key),
        ("readToken", "read-token"),
        ("writeToken", "write-token"),
    ]
}

#[tokio::test]
async fn a_doubled_slash_reaches_every_route() {
    let dir = tempfile::tempdir().unwrap();
    let head = embedded(ContextConfig::default(), dir.path()).await;
    let http = client();
    // What `host + '/writeScope'` makes of a host that ends in '/'.
    let base = format!("{}/", head.url);
    let (status, v) = call(
        &http,
        "POST",
        &format!("{base}/writeScope"),
        &entry("vm1"),
        Some("x"),
    )
    .await;
    assert_eq!((status, v["Success"].is_string()), (200, true), "{v}");
    let (status, v) = call(
        &http,
        "GET",
        &format!("{base}/readScope"),
        &entry("vm1")[..4],
        None,
    )
    .await;
    assert_eq!((status, v["value"].as_str()), (200, Some("x")), "{v}");
    let list = [("contextID", "slice-compat"), ("readToken", "read-token")];
    let (status, v) = call(&http, "GET", &format!("{base}/enumerateScope"), &list, None).await;
    assert_eq!(
        (status, v["entries"][0]["key"].as_str()),
        (200, Some("vm1"))
    );
    let (status, v) = call(&http, "GET", &format!("{base}/getVersion"), &[], None).await;
    assert_eq!(status, 200, "{v}");
    let (status, v) = call(
        &http,
        "DELETE",
        &format!("{base}/deleteScope"),
        &entry("vm1"),
        None,
    )
    .await;
    assert_eq!((status, v["Success"].is_string()), (200, true), "{v}");
}

#[tokio::test]
async fn equal_tokens_are_a_400_with_the_original_message() {
    let dir = tempfile::tempdir().unwrap();
    let head = embedded(ContextConfig::default(), dir.path()).await;
    let r = client()
        .post(format!("{}/writeScope", head.url))
        .query(&[
            ("contextID", "slice-compat"),
            ("family", "hostsall"),
            ("Key", "vm1"),
            ("readToken", "same-token"),
            ("writeToken", "same-token"),
        ])
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: serde_json::Value = r.json().await.unwrap();
    let message = "Invalid tokens: read and write token cannot be the same";
    assert_eq!(body["message"], message, "{body}");
    assert_eq!(body["error"], message, "{body}");
    assert_eq!(body["value"]["error"], message, "{body}");
}

#[tokio::test]
async fn a_delete_needs_the_right_read_token_too() {
    let dir = tempfile::tempdir().unwrap();
    let head = embedded(ContextConfig::default(), dir.path()).await;
    let http = client();
    let write = format!("{}/writeScope", head.url);
    let delete = format!("{}/deleteScope", head.url);
    let read = format!("{}/readScope", head.url);
    let (_, v) = call(&http, "POST", &write, &entry("vm1"), Some("kept")).await;
    assert!(v["Success"].is_string(), "{v}");
    let mut wrong_read = entry("vm1");
    wrong_read[3] = ("readToken", "guess-token");
    let (status, v) = call(&http, "DELETE", &delete, &wrong_read, None).await;
    assert_eq!((status, v["error"].is_string()), (200, true), "{v}");
    let (_, v) = call(&http, "GET", &read, &entry("vm1")[..4], None).await;
    assert_eq!(v["value"], "kept", "a wrong read token deleted the entry");
    let (_, v) = call(&http, "DELETE", &delete, &entry("vm1"), None).await;
    assert!(v["Success"].is_string(), "{v}");
    let (_, v) = call(&http, "GET", &read, &entry("vm1")[..4], None).await;
    assert_eq!(v, serde_json::json!({}));
}

#[tokio::test]
async fn get_version_answers_the_original_keys_and_ours() {
    let dir = tempfile::tempdir().unwrap();
    let head = embedded(ContextConfig::default(), dir.path()).await;
    let (status, v) = call(
        &client(),
        "GET",
        &format!("{}/getVersion", head.url),
        &[],
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert!(v["Comet version"].is_string(), "{v}");
    assert_eq!(v["Comet API version"], "1.0.0", "{v}");
    assert_eq!(v["version"], comet_context::http::VERSION, "{v}");
}

/// The status and JSON body of a request, whatever it is.
async fn raw(request: reqwest::RequestBuilder) -> (u16, serde_json::Value, String) {
    let r = request.send().await.unwrap();
    let status = r.status().as_u16();
    let allow = r
        .headers()
        .get("allow")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let text = r.text().await.unwrap();
    let body = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("status {status}: not JSON ({e}): {text:?}"));
    (status, body, allow)
}

#[tokio::test]
async fn every_error_is_json() {
    let dir = tempfile::tempdir().unwrap();
    let config = ContextConfig {
        max_value_size: 10,
        ..ContextConfig::default()
    };
    let head = embedded(config, dir.path()).await;
    let http = client();
    let url = |path: &str| format!("{}{path}", head.url);
    // Unknown routes, with one slash or two.
    for path in ["/nope", "//nope", "/writeScope/x"] {
        let (status, body, _) = raw(http.get(url(path))).await;
        assert_eq!(status, 404, "{path}");
        assert!(
            body["error"].as_str().unwrap().contains("no route"),
            "{body}"
        );
    }
    // A method the route does not take: 405, with Allow kept.
    for (method, path) in [
        ("GET", "/writeScope"),
        ("PUT", "/readScope"),
        ("POST", "//deleteScope"),
    ] {
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let (status, body, allow) = raw(http.request(m, url(path))).await;
        assert_eq!(status, 405, "{method} {path}: {body}");
        assert!(body["error"].is_string(), "{body}");
        assert!(!allow.is_empty(), "{method} {path}: no Allow header");
    }
    // Percent-encoded bytes that are not UTF-8, in the path and in the query.
    let (status, body, _) = raw(http.get(url("/readScope%FF%FE"))).await;
    assert_eq!(status, 404, "{body}");
    let (status, body, _) = raw(http.get(url(
        "/readScope?contextID=%FF%FE&family=f&Key=k&readToken=read-token",
    )))
    .await;
    assert_eq!(status, 200, "an undecodable byte reads as U+FFFD: {body}");
    // The handlers' own refusals.
    let (status, body, _) = raw(http
        .post(url("/writeScope"))
        .query(&entry("vm1"))
        .body("x".repeat(11)))
    .await;
    assert_eq!(status, 413, "{body}");
    assert!(body["error"].is_string(), "{body}");
    let (status, body, _) = raw(reqwest::Client::new()
        .get(url("/readScope"))
        .query(&entry("vm1")[..4]))
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"].is_string(), "{body}");
}
