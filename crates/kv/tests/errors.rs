//! Every error the KV routes answer is `{"error": …}` with its status, whether the routes are
//! served alone or mounted in a server with no fallback of its own (`comet kv serve`, the Comet
//! daemon, Nova), and hostile input is refused with one, never a panic or a 500.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test, with its line

mod common;

use common::{Mount, Server, raw};

const MOUNTS: [Mount; 2] = [Mount::Standalone, Mount::Embedded];

#[tokio::test]
async fn unknown_paths_under_the_kv_routes_are_json_404s() {
    for mount in MOUNTS {
        let s = Server::open_as(mount).await;
        for path in [
            "/databases",
            "/databases/",
            "/databases/main",
            "/databases/main/",
            "/databases/main/nope",
            "/databases/main/count/",
            "/databases/main/keysX",
            "/admin/databases",
            "/admin/databases/",
            "/admin/databases/main",
            "/admin/databases/main/",
            "/admin/databases/main/nope",
            "/admin/databases/main/ingest",
            "/admin/databases/%FF/count",
        ] {
            for method in ["GET", "PUT", "POST"] {
                raw(&s.url, method, path, "Content-Length: 0\r\n", b"")
                    .await
                    .assert_json_error(404, &format!("{mount:?} {method} {path}"));
            }
        }
    }
}

#[tokio::test]
async fn a_method_a_route_does_not_serve_is_a_json_405_with_allow() {
    for mount in MOUNTS {
        let s = Server::open_as(mount).await;
        let check = |method, path, allow| check_405(&s.url, method, path, allow);
        for (method, path, allow) in [
            ("POST", "/databases/main/keys/a", "GET,HEAD,PUT,DELETE"),
            ("PATCH", "/databases/main/keys/a/b", "GET,HEAD,PUT,DELETE"),
            ("DELETE", "/databases/main/keys", "GET,HEAD"),
            ("PUT", "/databases/main/count", "GET,HEAD"),
            ("GET", "/admin/databases/main/catch-up-with-primary", "POST"),
            ("PATCH", "/admin/databases/main/properties/x", "GET,HEAD"),
            ("GET", "/admin/databases/main/checkpoint/x", "PUT"),
            ("GET", "/admin/databases/main/ingests/x", "PUT"),
            (
                "DELETE",
                "/admin/databases/main/ingests/last",
                "GET,HEAD,PUT",
            ),
            ("GET", "/admin/databases/main/pull", "POST"),
        ] {
            check(method, path, allow).await;
        }
        // The standalone server's own routes too.
        if matches!(mount, Mount::Standalone) {
            check("POST", "/healthcheck", "GET,HEAD").await;
            check("DELETE", "/metrics", "GET,HEAD").await;
        }
    }
}

async fn check_405(url: &str, method: &str, path: &str, allow: &str) {
    let reply = raw(url, method, path, "Content-Length: 0\r\n", b"").await;
    let what = format!("{url} {method} {path}");
    reply.assert_json_error(405, &what);
    assert_eq!(reply.header("allow"), Some(allow), "{what}");
}

#[tokio::test]
async fn path_segments_that_are_not_utf8_are_json_400s() {
    for mount in MOUNTS {
        let s = Server::open_as(mount).await;
        for (method, path) in [
            ("GET", "/databases/main/keys/%FF"),
            ("PUT", "/databases/main/keys/a%C3"),
            ("DELETE", "/databases/main/keys/%FF/b"),
            ("GET", "/databases/%FF/keys/a"),
            ("GET", "/databases/%FF/keys?keys=a"),
            ("GET", "/databases/%FF/count"),
            ("POST", "/admin/databases/%FF/catch-up-with-primary"),
            ("GET", "/admin/databases/main/properties/%FF"),
            ("PUT", "/admin/databases/main/checkpoint/%FF"),
            ("PUT", "/admin/databases/main/ingest/%FF"),
            ("PUT", "/admin/databases/main/ingests/%FF"),
            ("GET", "/admin/databases/%FF/ingests/last"),
            ("POST", "/admin/databases/%FF/pull"),
        ] {
            raw(&s.url, method, path, "Content-Length: 0\r\n", b"")
                .await
                .assert_json_error(400, &format!("{mount:?} {method} {path}"));
        }
    }
}

#[tokio::test]
async fn bad_query_strings_are_json_400s_not_other_keys() {
    let s = Server::open().await;
    // U+FFFD is a key like any other: a query that is not UTF-8 must not read it.
    assert_eq!(s.put("main", "%EF%BF%BD", "replacement").await, 204);
    for query in [
        "keys=%FF",
        "keys=a&keys=%C3",
        "keys=%zz",
        "keys=%4",
        "keys=%+1",
    ] {
        let path = format!("/databases/main/keys?{query}");
        raw(&s.url, "GET", &path, "", b"")
            .await
            .assert_json_error(400, &path);
    }
    let (status, body) = s.call("GET", "/databases/main/keys?keys=%EF%BF%BD").await;
    assert_eq!(
        (status, &body["\u{FFFD}"]["value"]),
        (200, &"replacement".into())
    );
}

#[tokio::test]
async fn refused_bodies_are_json_errors() {
    let s = Server::open().await;
    let max = s.kv.max_value_size();
    // Announced too large: refused before the body is read.
    raw(
        &s.url,
        "PUT",
        "/databases/main/keys/big",
        &format!("Content-Length: {}\r\n", max + 1),
        b"",
    )
    .await
    .assert_json_error(413, "announced");
    // Chunked, with no length announced: refused once it passes the limit.
    let chunk = vec![b'x'; max + 1];
    let mut body = format!("{:x}\r\n", chunk.len()).into_bytes();
    body.extend_from_slice(&chunk);
    body.extend_from_slice(b"\r\n0\r\n\r\n");
    raw(
        &s.url,
        "PUT",
        "/databases/main/keys/big",
        "Transfer-Encoding: chunked\r\n",
        &body,
    )
    .await
    .assert_json_error(413, "chunked");
    // A Content-Type that is not text.
    raw(
        &s.url,
        "PUT",
        "/databases/main/keys/a",
        "Content-Type: \u{e9}t\u{e9}\r\nContent-Length: 1\r\n",
        b"x",
    )
    .await
    .assert_json_error(400, "content-type");
    assert_eq!(s.get("main", "big").await.0, 404);
    assert_eq!(s.get("main", "a").await.0, 404);
}

#[tokio::test]
async fn hostile_keys_and_names_are_refused_with_json() {
    for mount in MOUNTS {
        let s = Server::open_as(mount).await;
        let long_key = "k".repeat(comet_kv::service::MAX_KEY + 1);
        let long_dir = "d".repeat(300);
        for (method, path, status) in [
            // The empty key, whatever the method.
            ("PUT", "/databases/main/keys/".to_string(), 400),
            ("GET", "/databases/main/keys/".to_string(), 400),
            ("DELETE", "/databases/main/keys/".to_string(), 400),
            ("GET", format!("/databases/main/keys?keys={long_key}"), 400),
            ("PUT", format!("/databases/main/keys/{long_key}"), 400),
            // Names longer than a file name may be.
            (
                "PUT",
                format!("/admin/databases/main/checkpoint/{long_dir}"),
                400,
            ),
            (
                "PUT",
                format!("/admin/databases/main/ingest/{long_dir}"),
                400,
            ),
            // Directories that would leave their base, NUL bytes.
            (
                "PUT",
                "/admin/databases/main/checkpoint/..".to_string(),
                400,
            ),
            (
                "PUT",
                "/admin/databases/main/ingests/%2E%2E".to_string(),
                400,
            ),
            (
                "PUT",
                "/admin/databases/main/checkpoint/a%00b".to_string(),
                400,
            ),
            (
                "PUT",
                "/admin/databases/main/ingests/a%00b".to_string(),
                400,
            ),
            (
                "GET",
                "/admin/databases/main/properties/a%00b".to_string(),
                400,
            ),
            ("GET", "/databases/a%00b/count".to_string(), 404),
        ] {
            raw(&s.url, method, &path, "Content-Length: 0\r\n", b"")
                .await
                .assert_json_error(
                    status,
                    &format!("{mount:?} {method} {}", &path[..60.min(path.len())]),
                );
        }
        assert!(
            std::fs::read_dir(s.backup_path()).unwrap().next().is_none(),
            "no checkpoint was written"
        );
        // A NUL byte is a byte like any other inside a key.
        assert_eq!(s.put("main", "a%00b", "nul").await, 204);
        assert_eq!(s.get("main", "a%00b").await, (200, "nul".into()));
        assert_eq!(s.get("main", "a").await.0, 404);
    }
}

/// A tab is legal inside a header value; stored as is, it made the value look foreign, and it was
/// served back with the stored header glued to its body.
#[tokio::test]
async fn a_content_type_with_a_tab_round_trips() {
    let s = Server::open().await;
    let reply = raw(
        &s.url,
        "PUT",
        "/databases/main/keys/tabbed",
        "Content-Type: text/plain;\tcharset=utf-8\r\nContent-Length: 5\r\n",
        b"hello",
    )
    .await;
    assert_eq!(reply.status, 204, "{reply:?}");
    let r = s
        .http
        .get(format!("{}/databases/main/keys/tabbed", s.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["content-type"], "text/plain; charset=utf-8");
    assert_eq!(r.text().await.unwrap(), "hello");
    // Through the service itself, a control character is refused rather than stored.
    let refused = s.kv.put("main", "ctl", Some("text/plain\u{1}"), b"x").await;
    assert!(
        matches!(refused, Err(comet_kv::KvError::BadRequest(_))),
        "{refused:?}"
    );
}
