//! The KV service as users run it: the real `comet` binary, killed and restarted, fed by
//! `comet kv build-sst`.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test, with its line

use std::collections::HashMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use comet_testkit::free_port;

struct Daemon {
    child: Child,
    url: String,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `comet <command…> --config <config> --data-dir <dir>` and waits for /healthcheck.
fn start(command: &[&str], config: &Path, data: &Path) -> Daemon {
    let port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_comet"))
        .args(command)
        .arg("--config")
        .arg(config)
        .arg("--data-dir")
        .arg(data)
        .arg("--http-addr")
        .arg(format!("127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let daemon = Daemon {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    let client = reqwest::blocking::Client::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok((200, _)) = send(client.get(format!("{}/healthcheck", daemon.url))) {
            return daemon;
        }
        assert!(
            Instant::now() < deadline,
            "comet never answered on {}",
            daemon.url
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Status and body of a request.
fn send(request: reqwest::blocking::RequestBuilder) -> Result<(u16, String), reqwest::Error> {
    let r = request.send()?;
    let status = r.status().as_u16();
    Ok((status, r.text()?))
}

#[test]
fn every_acknowledged_write_survives_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("comet.yaml");
    // Synced writes off: the WAL is still written before a PUT is acknowledged, and a killed
    // process loses nothing the kernel already has.
    std::fs::write(
        &config,
        "kv:\n  databases:\n    - {name: main, path: DATA/main}\n"
            .replace("DATA", &dir.path().to_string_lossy()),
    )
    .unwrap();
    let daemon = start(&["kv", "serve"], &config, dir.path());
    let acked: Arc<Mutex<HashMap<String, String>>> = Arc::default();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let (url, acked, stop) = (daemon.url.clone(), acked.clone(), stop.clone());
            std::thread::spawn(move || {
                let client = reqwest::blocking::Client::new();
                let mut i = 0u64;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let (key, value) = (format!("w{w}-{i}"), format!("value {w} {i}"));
                    match send(
                        client
                            .put(format!("{url}/databases/main/keys/{key}"))
                            .body(value.clone()),
                    ) {
                        Ok((204, _)) => {
                            acked.lock().unwrap().insert(key, value);
                        }
                        Ok(other) => panic!("unexpected {other:?}"),
                        Err(_) => return, // the server is gone
                    }
                    i += 1;
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(1500));
    let mut daemon = daemon;
    // SIGKILL while the writers are still writing.
    daemon.child.kill().unwrap();
    daemon.child.wait().unwrap();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for w in writers {
        w.join().unwrap();
    }
    drop(daemon);
    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.len() > 100,
        "the load was too light to mean anything: {}",
        acked.len()
    );

    let restarted = start(&["kv", "serve"], &config, dir.path());
    let client = reqwest::blocking::Client::new();
    for (key, value) in &acked {
        let got = send(client.get(format!("{}/databases/main/keys/{key}", restarted.url))).unwrap();
        assert_eq!(
            got,
            (200, value.clone()),
            "acknowledged write {key} was lost"
        );
    }
    eprintln!(
        "{} acknowledged writes, all found after SIGKILL",
        acked.len()
    );
}

#[test]
fn build_sst_then_ingest_through_the_daemon() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("data.csv");
    let mut csv = String::from("id,name,payload\n");
    // Unsorted, with a repeated key whose last value must win.
    for i in (0..30000).rev() {
        csv.push_str(&format!("user{i:05},name{i},\"{{\"\"n\"\": {i}}}\"\n"));
    }
    csv.push_str("user00007,name7,\"{\"\"n\"\": \"\"last\"\"}\"\n");
    std::fs::write(&input, csv).unwrap();
    let ingest_dir = dir.path().join("kv-ingest/batch");
    let out = Command::new(env!("CARGO_BIN_EXE_comet"))
        .args([
            "kv",
            "build-sst",
            "--quiet",
            "--key-field",
            "id",
            "--value-field",
            "payload",
        ])
        .args([
            "--content-type",
            "application/json",
            "--memory-mb",
            "1",
            "--input",
        ])
        .arg(&input)
        .arg("--output")
        .arg(&ingest_dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("30001 records, 30000 keys"), "{stdout}");
    // 30,000 records do not fit in 1 MiB: the input was sorted in runs spilled to disk.
    assert!(!stdout.contains("(0 sorted runs"), "{stdout}");

    let config = dir.path().join("comet.yaml");
    std::fs::write(&config, "").unwrap();
    let daemon = start(
        &["daemon", "--grpc-addr", "127.0.0.1:0"],
        &config,
        dir.path(),
    );
    let client = reqwest::blocking::Client::new();
    let (status, body) = send(client.put(format!(
        "{}/admin/databases/default/ingest/batch",
        daemon.url
    )))
    .unwrap();
    assert_eq!(status, 200, "{body}");
    let got = send(client.get(format!("{}/databases/default/keys/user00042", daemon.url))).unwrap();
    assert_eq!(got, (200, "{\"n\": 42}".into()));
    let got = send(client.get(format!("{}/databases/default/keys/user00007", daemon.url))).unwrap();
    assert_eq!(got, (200, "{\"n\": \"last\"}".into()));
    // The daemon serves the context exchange beside the KV service.
    let version = client
        .get(format!("{}/getVersion", daemon.url))
        .header("accept", "application/json");
    let (status, body) = send(version).unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"status\":\"OK\""), "{body}");
}

#[test]
fn build_sst_names_the_bad_line_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("data.jsonl");
    std::fs::write(&input, "{\"key\": \"a\", \"value\": 1}\n{\"key\": \"b\"}\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_comet"))
        .args(["kv", "build-sst", "--input"])
        .arg(&input)
        .arg("--output")
        .arg(dir.path().join("out"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("input line 2") && stderr.contains("no 'value' field"),
        "{stderr}"
    );
    let ssts = std::fs::read_dir(dir.path().join("out"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "sst")
        })
        .count();
    assert_eq!(ssts, 0);
    // A column the header does not have.
    let csv = dir.path().join("data.csv");
    std::fs::write(&csv, "id,payload\nk,v\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_comet"))
        .args([
            "kv",
            "build-sst",
            "--key-field",
            "id",
            "--value-field",
            "paylaod",
            "--input",
        ])
        .arg(&csv)
        .arg("--output")
        .arg(dir.path().join("out2"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no column 'paylaod'"));
    // An unknown format is a usage error.
    let out = Command::new(env!("CARGO_BIN_EXE_comet"))
        .args(["kv", "build-sst", "--input", "x.txt", "--output", "o"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("--format"));
}

#[test]
fn a_bad_config_is_named_and_the_daemon_does_not_start() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("comet.yaml");
    std::fs::write(
        &config,
        "kv:\n  databases:\n    - {name: a, path: /x, mode: primary}\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_comet"))
        .args(["daemon", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("primary") && stderr.contains("comet.yaml"),
        "{stderr}"
    );
}
