//! The CLI against the platform's larger shapes: a comet worker over gRPC, two daemons on one
//! Postgres, invocation logs, API keys and secrets.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::process::{Daemon, Env, NOVA, daemon_and_cli, example, start_worker};

/// Standalone mode: `nova daemon --comet-endpoint` runs functions on a `comet daemon` process
/// over gRPC; the CLI cannot tell.
#[test]
fn functions_run_on_a_comet_daemon_over_grpc() {
    let mut comet = start_worker("worker-1", &[]);
    let data_dir = tempfile::tempdir().expect("tempdir");
    let daemon = Daemon::start_with(data_dir.path(), &["--comet-endpoint", &comet.endpoint]);
    let env = Env {
        url: daemon.url.clone(),
        data_dir,
    };
    env.register_hello("hello");
    let first = env.ok(&["invoke", "hello", "-p", r#"{"name": "gRPC"}"#]);
    assert!(
        first.contains("Hello, gRPC!") && first.contains("Cold Start: true"),
        "{first}"
    );
    let second = env.ok(&["invoke", "hello", "-p", r#"{"name": "again"}"#]);
    assert!(second.contains("Cold Start: false"), "{second}");
    // The worker going away is a clear error, not a hang.
    comet.kill();
    env.fails(&["invoke", "hello"], "data plane");
}

/// Two daemons on one Postgres (`--pg-dsn`) see each other's functions.
#[test]
fn two_daemons_share_functions_through_postgres() {
    // A database of its own: no API key was ever made there, so the API is open.
    let db = nova_store::testing::FreshDatabase::create_blocking();
    let dsn = db.dsn.clone();
    let (dir_a, dir_b) = (
        tempfile::tempdir().expect("tempdir"),
        tempfile::tempdir().expect("tempdir"),
    );
    let a = Daemon::start_with(dir_a.path(), &["--pg-dsn", &dsn]);
    // Daemons sharing a store share its secrets' master key.
    std::fs::copy(
        dir_a.path().join("master.key"),
        dir_b.path().join("master.key"),
    )
    .expect("copy the master key");
    let b = Daemon::start_with(dir_b.path(), &["--pg-dsn", &dsn]);
    let name = format!("shared-{}", std::process::id());
    let on_a = Env {
        url: a.url.clone(),
        data_dir: dir_a,
    };
    let on_b = Env {
        url: b.url.clone(),
        data_dir: dir_b,
    };
    on_a.ok(&[
        "register",
        &name,
        "-r",
        "python",
        "-c",
        &example("python/hello.py"),
    ]);
    let listed = on_b.ok(&["get", &name]);
    assert!(listed.contains(&name), "{listed}");
    let out = on_b.ok(&["invoke", &name, "-p", r#"{"name": "B"}"#]);
    assert!(out.contains("Hello, B!"), "{out}");
    on_b.ok(&["delete", &name]);
    on_a.fails(&["get", &name], "not found");
}

/// `nova logs` shows what the daemon recorded.
#[test]
fn logs_show_recorded_invocations() {
    let (_daemon, env) = daemon_and_cli(&[]);
    env.register_hello("hello");
    let out = env.ok(&["invoke", "hello", "-p", r#"{"name": "log"}"#]);
    let id = out
        .lines()
        .find_map(|l| l.strip_prefix("Request ID: "))
        .expect("request id")
        .trim()
        .to_string();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let table = env.ok(&["logs", "hello", "--tail", "5"]);
        if table.contains(&id) {
            assert!(table.contains("ok") && table.contains("yes"), "{table}");
            break;
        }
        assert!(Instant::now() < deadline, "never logged: {table}");
        std::thread::sleep(Duration::from_millis(50));
    }
    let json = env.ok(&["logs", "hello", "--request-id", &id, "-o", "json"]);
    let logs: serde_json::Value = serde_json::from_str(&json).expect("json");
    assert_eq!(logs[0]["id"], id.as_str());
    env.fails(&["logs", "nope"], "not found");
    env.fails(&["logs", "hello", "--tail", "0"], "--tail");
}

/// `nova apikey`: the first key is shown once; then the CLI needs `--api-key` (or NOVA_API_KEY).
#[test]
fn apikeys_from_the_cli() {
    let (_daemon, env) = daemon_and_cli(&[]);
    let out = env.ok(&["apikey", "create", "ops", "--scopes", "admin"]);
    let key = out
        .lines()
        .find(|l| l.starts_with("nova_"))
        .expect("the key is printed")
        .to_string();
    env.fails(&["list"], "API key");
    let listed = env.ok(&["--api-key", &key, "apikey", "list"]);
    assert!(
        listed.contains("ops") && listed.contains("admin") && !listed.contains(&key),
        "{listed}"
    );
    env.ok(&[
        "--api-key",
        &key,
        "apikey",
        "create",
        "ci",
        "--scopes",
        "read",
        "--expires",
        "1h",
    ]);
    env.ok(&["--api-key", &key, "apikey", "revoke", "ci"]);
    env.fails(
        &["--api-key", &key, "apikey", "revoke", "ci"],
        "no active API key",
    );
    env.fails(
        &[
            "--api-key",
            &key,
            "apikey",
            "create",
            "bad",
            "--scopes",
            "root",
        ],
        "unknown scope",
    );
    env.ok(&["--api-key", &key, "apikey", "delete", "ci"]);
}

/// `nova secret`: the value comes from standard input and never shows in `list`.
#[test]
fn secrets_from_the_cli() {
    use std::io::Write;
    let (_daemon, env) = daemon_and_cli(&[]);
    let mut set = Command::new(NOVA)
        .args(["secret", "set", "db-password"])
        .env("NOVA_URL", &env.url)
        .env("NOVA_DATA_DIR", env.data_dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn");
    set.stdin
        .take()
        .expect("stdin")
        .write_all(b"pa55 word\n")
        .expect("write");
    assert!(set.wait().expect("wait").success());
    assert_eq!(env.ok(&["secret", "get", "db-password"]), "pa55 word\n");
    let listed = env.ok(&["secret", "list"]);
    assert!(
        listed.contains("db-password") && !listed.contains("pa55"),
        "{listed}"
    );
    env.ok(&["secret", "delete", "db-password"]);
    env.fails(&["secret", "get", "db-password"], "no secret named");
}

/// `--redis`, `--redis-pass` and `--redis-db`: two daemons given only flags share one rate
/// limit in that database of a password-protected Redis.
#[test]
fn redis_flags_point_daemons_at_a_shared_redis() {
    use common::services::{PrivateRedis, free_port};
    const PASSWORD: &str = "s3cret pass@:/";
    let port = free_port();
    let _redis = PrivateRedis::start_with(port, &["--requirepass", PASSWORD]);
    let config_dir = tempfile::tempdir().expect("tempdir");
    let config = config_dir.path().join("nova.yaml");
    std::fs::write(&config, "limits:\n  per_function: 1/m:2\n").expect("config");
    let address = format!("127.0.0.1:{port}");
    let flags = [
        "--config",
        config.to_str().expect("utf-8"),
        "--redis",
        &address,
        "--redis-pass",
        PASSWORD,
        "--redis-db",
        "3",
    ];
    let (_a, env_a) = daemon_and_cli(&flags);
    let (_b, env_b) = daemon_and_cli(&flags);
    env_a.register_hello("hello");
    env_b.register_hello("hello");
    env_a.ok(&["invoke", "hello"]);
    env_b.ok(&["invoke", "hello"]);
    env_a.fails(&["invoke", "hello"], "rate limit of function:hello reached");
    let keys_in = |db: &str| {
        let out = Command::new("redis-cli")
            .args(["-p", &port.to_string(), "-a", PASSWORD, "--no-auth-warning"])
            .args(["-n", db, "dbsize"])
            .output()
            .expect("redis-cli");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    assert_ne!(keys_in("3"), "0", "the buckets live in database 3");
    assert_eq!(keys_in("0"), "0");
}

/// A password or database given beside a `redis://` URL would be dropped: refused instead.
#[test]
fn a_redis_url_with_separate_credentials_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = Command::new(NOVA)
        .args(["daemon", "--http", "127.0.0.1:0"])
        .args([
            "--redis",
            "redis://127.0.0.1:6379",
            "--redis-pass",
            "hunter2",
        ])
        .env("NOVA_DATA_DIR", dir.path())
        .output()
        .expect("run nova");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "started: {stderr}");
    assert!(stderr.contains("inside the URL"), "{stderr}");
    assert!(!stderr.contains("hunter2"), "{stderr}");
}
