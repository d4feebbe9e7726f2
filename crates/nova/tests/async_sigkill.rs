//! Nothing lost (issue 15, point 5): 2,000 async invocations accepted (202) by a `nova daemon`
//! process, the daemon SIGKILLed while it works through them, a new daemon started on the same
//! store: every one reaches succeeded, none is missing from the handler's own record, and the
//! only calls run twice are those that were running at the kill — at most the calls in flight
//! (the function's async concurrency), each again under the same id. On SQLite and on Postgres.

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::databases::master_key_config;
use common::process::{Daemon, NOVA};
use serde_json::{Value, json};

const CALLS: usize = 2000;
/// Calls of the function in flight at once: the most the kill can leave to run again.
const IN_FLIGHT: usize = 2;

fn handler(log: &Path) -> String {
    format!(
        "import time\n\
         def handler(event, context=None):\n    \
             with open(\"{}\", \"a\") as f:\n        \
                 f.write(context.request_id + \"\\n\")\n    \
             time.sleep(0.01)\n    \
             return {{\"n\": event.get(\"n\")}}\n",
        log.display()
    )
}

fn runs(log: &Path) -> HashMap<String, usize> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let mut counts = HashMap::new();
    for line in text.lines() {
        *counts.entry(line.to_string()).or_default() += 1;
    }
    counts
}

async fn json_of(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Every invocation in `status`, by id, through the daemon at `url`.
async fn all_in(client: &reqwest::Client, url: &str, status: &str) -> HashMap<String, Value> {
    let mut found = HashMap::new();
    for offset in (0..CALLS + 1000).step_by(1000) {
        let page = format!("{url}/async-invocations?status={status}&limit=1000&offset={offset}");
        let (code, body) = json_of(client.get(page).send().await.expect("list")).await;
        assert_eq!(code, 200, "{body}");
        for i in body.as_array().expect("array") {
            found.insert(i["id"].as_str().expect("id").to_string(), i.clone());
        }
    }
    found
}

/// A `nova daemon` like [`Daemon::start_with`], its log in `log`.
fn daemon(data: &Path, args: &[&str], log: &Path) -> Daemon {
    use std::io::BufRead as _;
    let mut child = std::process::Command::new(NOVA)
        .args(["daemon", "--http", "127.0.0.1:0"])
        .args(args)
        .env("NOVA_DATA_DIR", data)
        .env("NOVA_LOG", "info")
        .stdout(std::process::Stdio::piped())
        .stderr(std::fs::File::create(log).expect("log"))
        .spawn()
        .expect("start daemon");
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("read");
    let url = line
        .trim()
        .strip_prefix("Nova daemon listening on ")
        .expect("listening")
        .to_string();
    Daemon { child, url }
}

async fn nothing_lost(dir: &Path, extra: &[&str]) {
    let log = dir.join("calls.log");
    let config = dir.join("nova.yaml");
    let shared = master_key_config(dir);
    std::fs::write(
        &config,
        format!(
            "sandbox:\n  isolation: off\nasync:\n  concurrency: {IN_FLIGHT}\n  lease: 2s\n{shared}"
        ),
    )
    .expect("config");
    let data = dir.join("data");
    let config_arg = config.display().to_string();
    let mut args = vec!["--config", config_arg.as_str()];
    args.extend_from_slice(extra);
    let first = daemon(&data, &args, &dir.join("first.log"));
    let client = reqwest::Client::new();
    let function =
        json!({"name": "tally", "runtime": "python", "mode": "persistent", "code": handler(&log)});
    let (code, body) = json_of(
        client
            .post(format!("{}/functions", first.url))
            .json(&function)
            .send()
            .await
            .expect("register"),
    )
    .await;
    assert_eq!(code, 201, "{body}");

    // 2,000 acceptances from 8 clients.
    let started = Instant::now();
    let url = Arc::new(first.url.clone());
    let mut clients = Vec::new();
    for c in 0..8 {
        let (client, url) = (client.clone(), url.clone());
        clients.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            for n in (c..CALLS).step_by(8) {
                let (code, body) = json_of(
                    client
                        .post(format!("{url}/functions/tally/invoke-async"))
                        .json(&json!({"n": n}))
                        .send()
                        .await
                        .expect("enqueue"),
                )
                .await;
                assert_eq!(code, 202, "{body}");
                ids.push(body["id"].as_str().expect("id").to_string());
            }
            ids
        }));
    }
    let mut ids = Vec::new();
    for c in clients {
        ids.extend(c.await.expect("client"));
    }
    let accepted = started.elapsed();
    let ran_before = runs(&log).len();
    assert!(
        ran_before < CALLS - 200,
        "killed too late: {ran_before} already ran"
    );
    drop(first); // SIGKILL
    let ran_at_kill = runs(&log).len();

    let second = daemon(&data, &args, &dir.join("second.log"));
    let deadline = Instant::now() + Duration::from_secs(90);
    while runs(&log).len() < CALLS {
        assert!(
            Instant::now() < deadline,
            "only {} of {CALLS} ran",
            runs(&log).len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let succeeded = loop {
        let done = all_in(&client, &second.url, "succeeded").await;
        if done.len() == CALLS {
            break done;
        }
        if Instant::now() > deadline {
            let mut others = Vec::new();
            for status in ["queued", "running", "failed", "dead_lettered"] {
                others.extend(all_in(&client, &second.url, status).await.into_values());
            }
            let log = std::fs::read_to_string(dir.join("second.log")).unwrap_or_default();
            let log: Vec<&str> = log.lines().filter(|l| !l.contains(" INFO ")).collect();
            panic!(
                "{} of {CALLS} succeeded; the others: {others:#?}\nthe daemon's log:\n{}",
                done.len(),
                log.join("\n")
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let counts = runs(&log);
    for id in &ids {
        assert!(counts.contains_key(id), "{id} never ran");
        assert!(succeeded.contains_key(id), "{id} did not succeed");
    }
    let twice: Vec<(&String, &usize)> = counts.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.len() <= IN_FLIGHT, "run more than once: {twice:?}");
    for (id, n) in &twice {
        assert_eq!(**n, 2, "{id}");
        assert_eq!(
            succeeded[id.as_str()]["attempts"],
            2,
            "{id}: the same id, one more attempt"
        );
    }
    println!(
        "{CALLS} accepted in {accepted:?}; {ran_before} ran before the SIGKILL ({ran_at_kill} at it); \
         run twice: {} (at most {IN_FLIGHT})",
        twice.len()
    );
}

#[tokio::test]
async fn sqlite_loses_nothing_to_a_sigkill() {
    let dir = tempfile::tempdir().expect("tempdir");
    nothing_lost(dir.path(), &[]).await;
}

#[tokio::test]
async fn postgres_loses_nothing_to_a_sigkill() {
    let db = nova_store::testing::FreshDatabase::create().await;
    let dir = tempfile::tempdir().expect("tempdir");
    nothing_lost(dir.path(), &["--pg-dsn", &db.dsn]).await;
}
