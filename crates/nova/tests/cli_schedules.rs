//! `nova schedule create|list|pause|resume|delete` as a user runs them, against a running daemon
//! (where the schedule fires) and alone on the local store.

mod common;

use std::time::{Duration, Instant};

use common::process::{Daemon, Env};
use common::says_file;

/// The id in `Schedule <id> of …`.
fn id_of(created: &str) -> String {
    let id = created.split_whitespace().nth(1).expect("id");
    assert!(
        created.starts_with("Schedule ") && id.len() == 32,
        "{created}"
    );
    id.to_string()
}

/// The `list` row of `id`.
fn row(env: &Env, id: &str) -> String {
    let table = env.ok(&["schedule", "list", "greet"]);
    assert!(table.starts_with("ID"), "{table}");
    (table.lines().find(|l| l.starts_with(id)))
        .unwrap_or_else(|| panic!("{id} in {table}"))
        .to_string()
}

fn schedules(env: &Env, fires: bool) {
    let code = tempfile::tempdir().expect("tempdir");
    env.ok(&[
        "register",
        "greet",
        "-r",
        "python",
        "-c",
        &says_file(code.path(), "hi"),
    ]);
    let created = env.ok(&[
        "schedule",
        "create",
        "greet",
        "--cron",
        "@every 1s",
        "--payload",
        r#"{"n": 1}"#,
    ]);
    let id = id_of(&created);
    assert!(
        created.contains("of greet (@every 1s), next fire 20"),
        "{created}"
    );
    let active = row(env, &id);
    assert!(
        active.contains("active") && active.contains("@every 1s"),
        "{active}"
    );
    if fires {
        // The daemon fires it: the last fire time appears.
        let deadline = Instant::now() + Duration::from_secs(15);
        while row(env, &id)
            .split_whitespace()
            .nth(6)
            .is_some_and(|t| t == "-")
        {
            assert!(Instant::now() < deadline, "never fired: {}", row(env, &id));
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    let paused = env.ok(&["schedule", "pause", "greet", &id]);
    assert_eq!(paused.trim(), format!("Paused schedule {id} of greet"));
    let row_paused = row(env, &id);
    assert!(
        row_paused.contains("paused") && row_paused.ends_with(" -"),
        "{row_paused}"
    );
    let resumed = env.ok(&["schedule", "resume", "greet", &id]);
    assert!(resumed.starts_with(&format!("Resumed schedule {id} of greet, next fire 20")));
    let zoned = env.ok(&[
        "schedule",
        "create",
        "greet",
        "--cron",
        "0 9 * * 1-5",
        "--timezone",
        "Europe/Berlin",
        "--qualifier",
        "1",
    ]);
    let zoned = row(env, &id_of(&zoned));
    assert!(
        zoned.contains("Europe/Berlin") && zoned.contains("  1  "),
        "{zoned}"
    );
    assert!(row(env, &id).contains("$LATEST"), "{}", row(env, &id));
    env.fails(
        &[
            "schedule",
            "create",
            "greet",
            "--cron",
            "@daily",
            "--qualifier",
            "9",
        ],
        "function 'greet' has no version 9",
    );

    env.fails(
        &["schedule", "create", "greet", "--cron", "61 * * * *"],
        "cron '61 * * * *'",
    );
    env.fails(
        &[
            "schedule",
            "create",
            "greet",
            "--cron",
            "@daily",
            "--payload",
            "{",
        ],
        "--payload is not valid JSON",
    );
    env.fails(
        &["schedule", "create", "nope", "--cron", "@daily"],
        "function 'nope' not found",
    );
    let deleted = env.ok(&["schedule", "delete", "greet", &id]);
    assert_eq!(deleted.trim(), format!("Deleted schedule {id} of greet"));
    env.fails(&["schedule", "delete", "greet", &id], "not found");
    env.ok(&["delete", "greet"]);
}

#[test]
fn schedules_through_the_daemon() {
    let data_dir = tempfile::tempdir().expect("tempdir");
    let daemon = Daemon::start(data_dir.path());
    let env = Env {
        url: daemon.url.clone(),
        data_dir,
    };
    schedules(&env, true);
}

#[test]
fn schedules_on_the_local_store() {
    let env = Env {
        data_dir: tempfile::tempdir().expect("tempdir"),
        url: "http://127.0.0.1:9".into(),
    };
    schedules(&env, false);
}
