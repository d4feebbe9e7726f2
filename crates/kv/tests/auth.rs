//! The auth matrix: every route × no token, a wrong token, and tokens of each scope.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test, with its line

mod common;

use comet_kv::KvConfig;
use comet_kv::auth::Scope;
use comet_kv::config::DbMode;
use common::{Server, db, token};

const READER: &str = "reader-token-0123456789";
const WRITER: &str = "writer-token-0123456789";
const ADMIN: &str = "admin-token-0123456789";

/// (method, path, scope the route needs)
const ROUTES: [(&str, &str, Scope); 13] = [
    ("GET", "/databases/main/keys/k", Scope::KvRead),
    ("GET", "/databases/main/keys?keys=k", Scope::KvRead),
    ("GET", "/databases/main/count", Scope::KvRead),
    ("PUT", "/databases/main/keys/k", Scope::KvWrite),
    ("DELETE", "/databases/main/keys/other", Scope::KvWrite),
    (
        "GET",
        "/admin/databases/main/properties/rocksdb.stats",
        Scope::Admin,
    ),
    ("GET", "/admin/databases/main/ingest/last", Scope::Admin),
    (
        "POST",
        "/admin/databases/main/catch-up-with-primary",
        Scope::Admin,
    ),
    ("PUT", "/admin/databases/main/checkpoint/cp", Scope::Admin),
    ("POST", "/admin/databases/main/pull", Scope::Admin),
    ("PUT", "/admin/databases/main/ingest/batch", Scope::Admin),
    ("PUT", "/admin/databases/main/ingest/last", Scope::Admin),
    ("GET", "/admin/databases/main/ingests/last", Scope::Admin),
];

async fn status(s: &Server, method: &str, path: &str, bearer: Option<&str>) -> u16 {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut request = s.http.request(method, format!("{}{path}", s.url)).body("v");
    if let Some(t) = bearer {
        request = request.bearer_auth(t);
    }
    request.send().await.unwrap().status().as_u16()
}

fn allowed(route_needs: Scope, token_has: Scope) -> bool {
    token_has == Scope::Admin || token_has == route_needs
}

#[tokio::test]
async fn every_route_checks_its_scope() {
    let s = Server::start(|d| KvConfig {
        databases: vec![db("main", &d.join("main"), DbMode::ReadWrite)],
        tokens: vec![
            token("reader", READER, &[Scope::KvRead]),
            token("writer", WRITER, &[Scope::KvWrite]),
            token("admin", ADMIN, &[Scope::Admin]),
        ],
        ..KvConfig::default()
    })
    .await;
    let checkpoint_dir = s.backup_path().join("cp");
    for (method, path, needs) in ROUTES {
        assert_eq!(
            status(&s, method, path, None).await,
            401,
            "{method} {path} without a token"
        );
        let wrong = status(&s, method, path, Some("not-a-token-at-all-xx")).await;
        assert_eq!(wrong, 401, "{method} {path} with a wrong token");
        // A database that does not exist is not revealed before authentication.
        let other = path.replace("/main/", "/secret/");
        assert_eq!(
            status(&s, method, &other, None).await,
            401,
            "{method} {other}"
        );
        for (secret, has) in [
            (READER, Scope::KvRead),
            (WRITER, Scope::KvWrite),
            (ADMIN, Scope::Admin),
        ] {
            let _ = std::fs::remove_dir_all(&checkpoint_dir);
            let got = status(&s, method, path, Some(secret)).await;
            if allowed(needs, has) {
                assert!(
                    ![401, 403].contains(&got),
                    "{method} {path} with {has:?}: {got}"
                );
            } else {
                assert_eq!(got, 403, "{method} {path} with {has:?}");
            }
        }
    }
    // The routes that need no token.
    assert_eq!(status(&s, "GET", "/healthcheck", None).await, 200);
    assert_eq!(status(&s, "GET", "/metrics", None).await, 200);
    // 401 tells the client how to authenticate.
    let r = s
        .http
        .get(format!("{}/databases/main/keys/k", s.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["www-authenticate"], "Bearer");
}

#[tokio::test]
async fn without_tokens_every_route_is_open() {
    let s = Server::open().await;
    assert_eq!(status(&s, "PUT", "/databases/main/keys/k", None).await, 204);
    assert_eq!(status(&s, "GET", "/databases/main/keys/k", None).await, 200);
    assert_eq!(
        status(
            &s,
            "GET",
            "/admin/databases/main/properties/rocksdb.stats",
            None
        )
        .await,
        200
    );
}
