//! `nova publish`, `nova versions`, `nova get --version` and `nova invoke NAME:N` as a user runs
//! them, against a running daemon and alone on the local store.

mod common;

use common::process::{Daemon, Env};
use common::says_file;

/// Three versions of `greet`, read, published, run and deleted through `env`.
fn versions_through(env: &Env) {
    let code = tempfile::tempdir().expect("tempdir");
    let (one, two) = (says_file(code.path(), "one"), says_file(code.path(), "two"));
    env.ok(&["register", "greet", "-r", "python", "-c", &one]);
    env.ok(&["update", "greet", "-c", &two]);
    let updated = env.ok(&["update", "greet", "-m", "256"]);
    assert!(updated.contains("version 3"), "{updated}");

    let table = env.ok(&["versions", "greet"]);
    let numbers: Vec<&str> = (table.lines().skip(1))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(numbers, ["3", "2", "1"], "{table}");
    assert!(table.starts_with("VERSION"), "{table}");
    let json: serde_json::Value =
        serde_json::from_str(&env.ok(&["versions", "greet", "-o", "json"])).expect("json");
    assert_eq!(json[0]["memory_mb"], 256);
    assert_eq!(json[2]["memory_mb"], 128);
    assert_ne!(json[1]["code_hash"], json[2]["code_hash"]);

    let first = env.ok(&["get", "greet", "--version", "1"]);
    for line in [
        "Version:        1",
        "Memory:         128 MB",
        "Description:    -",
    ] {
        assert!(first.contains(line), "{line:?} in {first}");
    }
    let published = env.ok(&["publish", "greet", "-d", "first release"]);
    assert_eq!(published.trim(), "Published greet version 3: first release");
    let again = env.ok(&["publish", "greet", "--description", "other"]);
    assert_eq!(again, published, "nothing changed: the same version");
    let newest = env.ok(&["get", "greet", "--version", "3", "-o", "json"]);
    let newest: serde_json::Value = serde_json::from_str(&newest).expect("json");
    assert_eq!(newest["description"], "first release");

    for (target, word, version) in [
        ("greet:1", "one", 1),
        ("greet", "two", 3),
        ("greet:2", "two", 2),
        ("greet:$LATEST", "two", 3),
    ] {
        let out = env.ok(&["invoke", target]);
        assert!(
            out.contains(&format!("\"says\": \"{word}\"")),
            "{target}: {out}"
        );
        assert!(
            out.contains(&format!("Version:    {version}")),
            "{target}: {out}"
        );
    }

    env.fails(&["invoke", "greet:9"], "function 'greet' has no version 9");
    env.fails(&["invoke", "greet:0"], "version numbers start at 1");
    env.fails(&["invoke", "greet:a/b"], "invalid qualifier 'a/b'");
    env.fails(&["invoke", "greet:prod"], "has no version or alias 'prod'");
    env.fails(
        &["get", "greet", "--version", "9"],
        "function 'greet' has no version 9",
    );
    env.fails(&["get", "greet", "--version", "x"], "invalid value 'x'");
    env.fails(&["publish", "nope"], "function 'nope' not found");
    let long = "x".repeat(300);
    env.fails(
        &["publish", "greet", "-d", &long],
        "description is too long",
    );

    env.ok(&["delete", "greet"]);
    env.fails(&["versions", "greet"], "function 'greet' not found");
}

#[test]
fn versions_through_the_daemon() {
    let data_dir = tempfile::tempdir().expect("tempdir");
    let daemon = Daemon::start(data_dir.path());
    let env = Env {
        url: daemon.url.clone(),
        data_dir,
    };
    versions_through(&env);
}

#[test]
fn versions_on_the_local_store() {
    let env = Env {
        data_dir: tempfile::tempdir().expect("tempdir"),
        // Nothing listens on port 9 (discard) on loopback here.
        url: "http://127.0.0.1:9".into(),
    };
    versions_through(&env);
}

#[test]
fn the_help_explains_versions() {
    let env = Env {
        data_dir: tempfile::tempdir().expect("tempdir"),
        url: "http://127.0.0.1:9".into(),
    };
    let help = env.ok(&["publish", "--help"]);
    assert!(help.contains("never copies one"), "{help}");
    assert!(env.ok(&["invoke", "--help"]).contains("NAME[:VERSION]"));
    assert!(env.ok(&["get", "--help"]).contains("--version <N>"));
    assert!(env.ok(&["--help"]).contains("versions"));
}
