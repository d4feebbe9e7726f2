//! `nova alias set|list|get|delete` and `nova invoke NAME:ALIAS` as a user runs them, against a
//! running daemon and alone on the local store.

mod common;

use common::process::{Daemon, Env};
use common::says_file;

/// `greet` at versions 1 and 2, aliased, invoked through the aliases, and cleaned up.
fn aliases_through(env: &Env) {
    let code = tempfile::tempdir().expect("tempdir");
    let (one, two) = (says_file(code.path(), "one"), says_file(code.path(), "two"));
    env.ok(&["register", "greet", "-r", "python", "-c", &one]);
    env.ok(&["update", "greet", "-c", &two]);

    let set = env.ok(&[
        "alias",
        "set",
        "greet",
        "live",
        "--version",
        "1",
        "-d",
        "stable",
    ]);
    assert_eq!(set.trim(), "Alias live of greet -> 1");
    let out = env.ok(&["invoke", "greet:live"]);
    assert!(
        out.contains("\"says\": \"one\"") && out.contains("Version:    1"),
        "{out}"
    );

    let canary = env.ok(&[
        "alias",
        "set",
        "greet",
        "canary",
        "--version",
        "1",
        "--weight",
        "2=50",
    ]);
    assert_eq!(canary.trim(), "Alias canary of greet -> 1 (50%), 2 (50%)");
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..30 {
        let out = env.ok(&["invoke", "greet:canary", "-o", "json"]);
        let reply: serde_json::Value = serde_json::from_str(&out).expect("json");
        seen.insert(reply["version"].as_u64().expect("version"));
        if seen.len() == 2 {
            break;
        }
    }
    assert_eq!(seen.into_iter().collect::<Vec<_>>(), [1, 2]);

    let table = env.ok(&["alias", "list", "greet"]);
    let names: Vec<&str> = (table.lines().skip(1))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(names, ["canary", "live"], "{table}");
    assert!(table.starts_with("ALIAS"), "{table}");
    let details = env.ok(&["alias", "get", "greet", "live"]);
    for line in [
        "Alias:          live",
        "Versions:       1",
        "Description:    stable",
    ] {
        assert!(details.contains(line), "{line:?} in {details}");
    }
    let json: serde_json::Value =
        serde_json::from_str(&env.ok(&["alias", "get", "greet", "canary", "-o", "json"]))
            .expect("json");
    assert_eq!(json["routing"], serde_json::json!({"2": 50}));

    env.fails(
        &[
            "alias",
            "set",
            "greet",
            "live",
            "--version",
            "1",
            "--weight",
            "2=300",
        ],
        "invalid weight 300%",
    );
    env.fails(
        &[
            "alias",
            "set",
            "greet",
            "live",
            "--version",
            "1",
            "--weight",
            "2",
        ],
        "write VERSION=PERCENT",
    );
    env.fails(
        &["alias", "set", "greet", "live", "--version", "9"],
        "function 'greet' has no version 9",
    );
    env.fails(
        &["alias", "set", "greet", "12", "--version", "1"],
        "invalid alias name '12'",
    );
    env.fails(
        &["alias", "get", "greet", "nope"],
        "function 'greet' has no alias 'nope'",
    );
    env.fails(&["invoke", "greet:nope"], "has no version or alias 'nope'");

    env.ok(&["alias", "set", "greet", "live", "--version", "2"]);
    let moved = env.ok(&["alias", "get", "greet", "live"]);
    assert!(moved.contains("Description:    stable"), "kept: {moved}");
    let out = env.ok(&["invoke", "greet:live"]);
    assert!(out.contains("Version:    2"), "{out}");
    let deleted = env.ok(&["alias", "delete", "greet", "canary"]);
    assert_eq!(deleted.trim(), "Deleted alias canary of greet");
    env.fails(
        &["alias", "delete", "greet", "canary"],
        "has no alias 'canary'",
    );
    env.ok(&["delete", "greet"]);
    env.fails(&["alias", "list", "greet"], "function 'greet' not found");
}

#[test]
fn aliases_through_the_daemon() {
    let data_dir = tempfile::tempdir().expect("tempdir");
    let daemon = Daemon::start(data_dir.path());
    let env = Env {
        url: daemon.url.clone(),
        data_dir,
    };
    aliases_through(&env);
}

#[test]
fn aliases_on_the_local_store() {
    let env = Env {
        data_dir: tempfile::tempdir().expect("tempdir"),
        url: "http://127.0.0.1:9".into(),
    };
    aliases_through(&env);
}

#[test]
fn the_help_explains_aliases() {
    let env = Env {
        data_dir: tempfile::tempdir().expect("tempdir"),
        url: "http://127.0.0.1:9".into(),
    };
    let help = env.ok(&["alias", "--help"]);
    assert!(
        help.contains("--weight M=PCT") && help.contains("NAME:ALIAS"),
        "{help}"
    );
    let set = env.ok(&["alias", "set", "--help"]);
    assert!(
        set.contains("--weight <M=PCT>") && set.contains("for canaries"),
        "{set}"
    );
    assert!(env.ok(&["--help"]).contains("alias"));
}
