//! `nova invoke NAME --async` and `nova async get|list|retry` as a user runs them: on the local
//! store with no daemon (the call is stored, and the daemon started next runs it), then through
//! that daemon.

mod common;

use std::time::{Duration, Instant};

use common::process::{Daemon, Env};

fn status_of(env: &Env, id: &str) -> serde_json::Value {
    let out = env.ok(&["async", "get", id, "-o", "json"]);
    serde_json::from_str(&out).expect("json")
}

fn wait_until(env: &Env, id: &str, status: &str) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let got = status_of(env, id);
        if got["status"] == status {
            return got;
        }
        assert!(Instant::now() < deadline, "not {status}: {got}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn async_calls_from_the_cli_with_and_without_a_daemon() {
    let data_dir = tempfile::tempdir().expect("tempdir");
    // Nothing listens on the discard port: the CLI works on the local store.
    let local = Env {
        data_dir,
        url: "http://127.0.0.1:9".into(),
    };
    local.register_hello("hello");
    let out = local.nova(&["invoke", "hello", "--async", "-p", r#"{"name": "queue"}"#]);
    assert!(out.status.success(), "{out:?}");
    let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert_eq!(id.len(), 32, "{id}");
    let note = String::from_utf8_lossy(&out.stderr);
    assert!(
        note.contains("a Nova daemon on this store runs it"),
        "{note}"
    );
    let shown = local.ok(&["async", "get", &id]);
    assert!(
        shown.contains("Status:       queued") && shown.contains("Attempts:     0 of 3"),
        "{shown}"
    );
    let listed = local.ok(&["async", "list"]);
    assert!(listed.starts_with("ID") && listed.contains(&id), "{listed}");
    local.fails(
        &["invoke", "hello", "--async", "-p", "{oops"],
        "not valid JSON",
    );
    local.fails(&["invoke", "nope", "--async"], "not found");

    // The daemon started next runs what was queued.
    let daemon = Daemon::start(local.data_dir.path());
    let env = Env {
        url: daemon.url.clone(),
        data_dir: local.data_dir,
    };
    let done = wait_until(&env, &id, "succeeded");
    assert_eq!(done["attempts"], 1, "{done}");
    assert!(done["result"].to_string().contains("queue"), "{done}");

    // Through the daemon: an idempotency key gives the first id again.
    let args = ["invoke", "hello", "--async", "--idempotency-key", "k-1"];
    let first = env.ok(&args).trim().to_string();
    assert_eq!(env.ok(&args).trim(), first);
    wait_until(&env, &first, "succeeded");
    let listed = env.ok(&[
        "async",
        "list",
        "--function",
        "hello",
        "--status",
        "succeeded",
    ]);
    assert_eq!(listed.lines().count(), 3, "a header and two: {listed}");
    env.fails(
        &["async", "retry", &first],
        "only a dead-lettered one can be retried",
    );
    env.fails(&["async", "get", "missing"], "not found");
    env.fails(&["async", "list", "--status", "done"], "unknown status");
    drop(daemon);
}

/// `nova async config` on the local store and through a daemon: set, show (each setting's
/// source), unset one, refusals that change nothing, clear.
#[test]
fn async_settings_from_the_cli() {
    let data_dir = tempfile::tempdir().expect("tempdir");
    let local = Env {
        data_dir,
        url: "http://127.0.0.1:9".into(),
    };
    local.register_hello("work");
    local.register_hello("audit");
    let shown = local.ok(&["async", "config", "work"]);
    assert!(
        shown.contains("max_attempts     3") && shown.contains("daemon"),
        "{shown}"
    );
    let set = local.ok(&[
        "async",
        "config",
        "work",
        "--max-attempts",
        "5",
        "--on-success",
        "audit",
    ]);
    assert!(
        set.contains("max_attempts     5                        function"),
        "{set}"
    );
    assert!(set.contains("on_success       audit"), "{set}");

    let (daemon, env) = (Daemon::start(local.data_dir.path()), local);
    let env = Env {
        url: daemon.url.clone(),
        data_dir: env.data_dir,
    };
    let set = env.ok(&[
        "async",
        "config",
        "work",
        "--max-event-age",
        "1h",
        "-o",
        "json",
    ]);
    let set: serde_json::Value = serde_json::from_str(&set).expect("json");
    assert_eq!(
        set["own"],
        serde_json::json!({"max_attempts": 5, "max_event_age_s": 3600, "on_success": "audit"}),
        "what the store had, and the change"
    );
    env.fails(
        &["async", "config", "work", "--max-attempts", "0"],
        "max_attempts must be 1 to 100",
    );
    env.fails(
        &["async", "config", "work", "--on-failure", "work"],
        "itself",
    );
    env.fails(
        &["async", "config", "work", "--on-failure", "nope"],
        "no function 'nope'",
    );
    env.fails(
        &["async", "config", "work", "--unset", "retries"],
        "no such setting",
    );
    env.fails(&["async", "config", "ghost"], "not found");
    let unset = env.ok(&["async", "config", "work", "--unset", "on-success"]);
    assert!(unset.contains("on_success       -"), "{unset}");
    assert!(
        unset.contains("max_attempts     5"),
        "the rest stays: {unset}"
    );
    let out = env.nova(&["async", "config", "work", "--clear"]);
    assert!(out.status.success(), "{out:?}");
    let shown = env.ok(&["async", "config", "work"]);
    assert!(
        shown.contains("max_attempts     3                        daemon"),
        "{shown}"
    );
    env.fails(
        &["async", "config", "work", "--clear"],
        "no async settings of its own",
    );
    drop(daemon);
}
