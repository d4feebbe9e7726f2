//! Several daemons on one store (issue 13): a master key that must be shared (point 10) and a
//! Redis cache that is not trusted (point 3). Each test has a fresh database of its own on this
//! machine's Postgres. Migrations racing on a fresh schema (point 9) are the store's own
//! business: `crates/store/tests/migrations.rs`.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use common::process::{Daemon, NOVA};
use common::{TestDaemon, python_function};
use nova_store::testing::FreshDatabase;
use serde_json::{Value, json};

/// `nova daemon …` that must exit (not start); its status and standard error.
fn refused(command: &mut Command) -> (std::process::ExitStatus, String) {
    let mut child = command
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn nova");
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the daemon started instead of refusing");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().expect("stderr"), &mut stderr)
        .expect("stderr");
    (status, stderr)
}

#[tokio::test]
async fn daemons_sharing_postgres_need_the_same_master_key() {
    let db = FreshDatabase::create().await;
    let (dir_a, dir_b) = (
        tempfile::tempdir().expect("tempdir"),
        tempfile::tempdir().expect("tempdir"),
    );
    let a = Daemon::start_with(dir_a.path(), &["--pg-dsn", &db.dsn]);
    let (status, stderr) = refused(
        Command::new(NOVA)
            .args(["daemon", "--http", "127.0.0.1:0", "--pg-dsn", &db.dsn])
            .env("NOVA_DATA_DIR", dir_b.path()),
    );
    assert!(!status.success(), "{stderr}");
    assert!(
        stderr.contains("master key")
            && stderr.contains("master.key")
            && stderr.contains("NOVA_MASTER_KEY"),
        "the refusal says how to share the key: {stderr}"
    );
    assert!(
        !dir_b.path().join("master.key").exists(),
        "the refused key it made is not left behind"
    );

    std::fs::copy(
        dir_a.path().join("master.key"),
        dir_b.path().join("master.key"),
    )
    .expect("copy the key");
    let b = Daemon::start_with(dir_b.path(), &["--pg-dsn", &db.dsn]);
    let client = reqwest::Client::new();
    let put = client
        .put(format!("{}/secrets/shared", a.url))
        .json(&json!({"value": "s3cret"}))
        .send()
        .await
        .expect("put");
    assert_eq!(put.status(), 204);
    let got = client
        .get(format!("{}/secrets/shared", b.url))
        .send()
        .await
        .expect("get");
    let (status, body) = common::status_and_json(got).await;
    assert_eq!(
        (status, body["value"].clone()),
        (200, json!("s3cret")),
        "{body}"
    );
    drop((a, b));
}

/// The entry of `name` in Redis under any store identity: its key and value.
fn entry(redis: &mut redis::Connection, name: &str) -> (String, String) {
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("nova:*:function:{name}"))
        .query(redis)
        .expect("keys");
    let key = keys.into_iter().next().expect("an entry");
    let value: String = redis::cmd("GET").arg(&key).query(redis).expect("get");
    (key, value)
}

/// An entry claiming version 99 of `function` (JSON as a daemon stores it), with another
/// function's code and the host's network, written as someone with only Redis access can.
fn forge(mut function: Value, code_hash: &str, mac: Option<&str>) -> String {
    function["code_hash"] = code_hash.into();
    function["version"] = 99.into();
    function["network"] = "host".into();
    match mac {
        Some(mac) => format!("v99|{mac}|{function}"),
        None => format!("v99|{function}"),
    }
}

async fn invoke(d: &TestDaemon, name: &str) -> (u16, Value) {
    let response = d
        .client
        .post(d.url(&format!("/functions/{name}/invoke")))
        .json(&json!({}))
        .send()
        .await
        .expect("invoke");
    common::status_and_json(response).await
}

#[tokio::test]
async fn a_forged_redis_entry_is_never_run_and_blocks_no_update() {
    let db = FreshDatabase::create().await;
    let keys = tempfile::tempdir().expect("tempdir");
    let key_file = keys.path().join("master.key");
    std::fs::write(
        &key_file,
        base64::engine::general_purpose::STANDARD.encode([7u8; 32]),
    )
    .expect("key");
    let config = format!(
        "postgres:\n  dsn: {}\nredis:\n  addr: 127.0.0.1:6379\nsecrets:\n  master_key_file: {}\n",
        db.dsn,
        key_file.display()
    );
    let a = TestDaemon::start_with_config(&config).await;
    let id = uuid::Uuid::new_v4().simple().to_string();
    let (real, evil) = (format!("real-{id}"), format!("evil-{id}"));
    let source = |out: &str| format!("def handler(event, context=None):\n    return '{out}'\n");
    assert_eq!(
        a.post_json("/functions", &python_function(&real, &source("real")))
            .await
            .0,
        201
    );
    let (status, evil_fn) = a
        .post_json("/functions", &python_function(&evil, &source("evil")))
        .await;
    assert_eq!(status, 201, "{evil_fn}");
    let evil_hash = evil_fn["code_hash"]
        .as_str()
        .expect("code_hash")
        .to_string();

    let mut redis = redis::Client::open("redis://127.0.0.1:6379/0")
        .expect("url")
        .get_connection()
        .expect("redis");
    let (key, stored) = entry(&mut redis, &real);
    let json: Value = serde_json::from_str(
        stored
            .splitn(3, '|')
            .nth(2)
            .expect("v<version>|<mac>|<json>"),
    )
    .expect("json");
    let set = |redis: &mut redis::Connection, value: &str| {
        let _: () = redis::cmd("SET")
            .arg(&key)
            .arg(value)
            .query(redis)
            .expect("set");
    };
    set(&mut redis, &forge(json.clone(), &evil_hash, None));

    // A daemon with a cold cache runs the real code, and the forged entry is gone.
    let b = TestDaemon::start_with_config(&config).await;
    let (status, body) = invoke(&b, &real).await;
    assert_eq!(
        (status, body["output"].clone()),
        (200, json!("real")),
        "{body}"
    );
    let (_, now) = entry(&mut redis, &real);
    assert!(now.starts_with("v1|"), "{now}");

    // A forged higher version (with a made-up MAC) does not make an update fail with 409.
    set(&mut redis, &forge(json, &evil_hash, Some(&"0".repeat(64))));
    let patched = a
        .client
        .patch(a.url(&format!("/functions/{real}")))
        .json(&json!({"code": source("real2")}))
        .send()
        .await
        .expect("patch");
    let (status, body) = common::status_and_json(patched).await;
    assert_eq!(status, 200, "{body}");
    let (_, now) = entry(&mut redis, &real);
    assert!(
        now.starts_with("v2|"),
        "the update replaced the forged entry: {now}"
    );
    let mut output = Value::Null;
    for _ in 0..100 {
        output = invoke(&b, &real).await.1["output"].clone();
        if output == "real2" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await; // the change reaching b
    }
    assert_eq!(output, "real2");
    a.stop().await;
    b.stop().await;
}

/// A store of one daemon's own (SQLite) without secrets takes a new master key (a lost
/// `master.key` does not stop the daemon); one with secrets, or a shared store, refuses it.
#[tokio::test]
async fn a_new_master_key_is_taken_only_where_nothing_is_lost() {
    use nova::secrets::{MasterKey, SecretError, Secrets, check_master_key};
    let dir = tempfile::tempdir().expect("tempdir");
    let store = nova_store::SqlStore::sqlite(&dir.path().join("nova.db"))
        .await
        .expect("open");
    let key = |byte: u8| MasterKey {
        key: [byte; 32],
        source: format!("key {byte}"),
        path: None,
        created: false,
    };
    let refused = |r: Result<(), SecretError>| matches!(r, Err(SecretError::WrongMasterKey { .. }));
    check_master_key(&store, &store, &key(1), false)
        .await
        .expect("first");
    assert!(refused(
        check_master_key(&store, &store, &key(2), true).await
    ));
    check_master_key(&store, &store, &key(2), false)
        .await
        .expect("no secrets: the new key is kept");
    Secrets::new(std::sync::Arc::new(store.clone()), [2; 32])
        .set("s", "v")
        .await
        .expect("set");
    assert!(refused(
        check_master_key(&store, &store, &key(1), false).await
    ));
    check_master_key(&store, &store, &key(2), false)
        .await
        .expect("the key in use");
}
