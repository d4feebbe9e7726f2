//! The invoke benchmark: HTTP load against a real daemon, beside bare runs of the same handlers.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::json;

use crate::InvokeArgs;
use crate::daemon::{Daemon, find_nova};
use crate::stats::{self, Samples};

const PAYLOAD: &str = r#"{"name": "bench"}"#;

struct Workload {
    label: &'static str,
    function: &'static str,
    /// The bare command (program, leading args) whose loop is the baseline, if any.
    bare: Option<(&'static str, PathBuf, Vec<PathBuf>)>,
}

pub async fn invoke_benchmark(args: InvokeArgs) -> Result<()> {
    let nova = find_nova(args.nova.clone())?;
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let scratch = tempfile::tempdir()?;
    let hello_py = root.join("examples/python/hello.py");
    let hello_c = build_c(&root.join("examples/c/hello.c"), scratch.path())?;
    let python = comet_sandbox::find_python().context("no python3 found")?;
    let input = scratch.path().join("input.json");
    std::fs::write(&input, PAYLOAD)?;

    let daemon = Daemon::start(&nova)?;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()?;
    register(
        &client,
        &daemon.url,
        "py-process",
        "python",
        "process",
        &std::fs::read(&hello_py)?,
    )
    .await?;
    register(
        &client,
        &daemon.url,
        "py-persistent",
        "python",
        "persistent",
        &std::fs::read(&hello_py)?,
    )
    .await?;
    register(
        &client,
        &daemon.url,
        "native-c",
        "go",
        "process",
        &std::fs::read(&hello_c)?,
    )
    .await?;

    let workloads = [
        Workload {
            label: "python process",
            function: "py-process",
            bare: Some((
                "bare python3 hello.py input.json",
                python.clone(),
                vec![hello_py.clone()],
            )),
        },
        Workload {
            label: "python persistent",
            function: "py-persistent",
            bare: None,
        },
        Workload {
            label: "native (C) process",
            function: "native-c",
            bare: Some(("bare ./hello-c input.json", hello_c.clone(), vec![])),
        },
    ];

    println!(
        "nova-bench invoke: {} per run, warm instances, payload {PAYLOAD}, {} cores",
        humantime::format_duration(args.duration),
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    stats::header();
    let mut ratios = Vec::new();
    for w in &workloads {
        let url = format!("{}/functions/{}/invoke", daemon.url, w.function);
        // Warm up as many instances as the throughput run will use.
        http_load(&client, &url, args.clients, Duration::from_millis(500)).await;
        let one = http_load(&client, &url, 1, args.duration).await.summary();
        let many = http_load(&client, &url, args.clients, args.duration)
            .await
            .summary();
        stats::row(&format!("{} (HTTP)", w.label), 1, &one);
        stats::row(&format!("{} (HTTP)", w.label), args.clients, &many);
        if let Some((label, program, leading)) = &w.bare {
            let leading: Vec<&Path> = leading.iter().map(PathBuf::as_path).collect();
            let bare_one =
                crate::baseline::run(program, &leading, &input, 1, args.duration).summary();
            let bare_many =
                crate::baseline::run(program, &leading, &input, args.clients, args.duration)
                    .summary();
            stats::row(label, 1, &bare_one);
            stats::row(label, args.clients, &bare_many);
            ratios.push((w.label, one, bare_one, many, bare_many));
        }
    }
    println!();
    for (label, one, bare_one, many, bare_many) in ratios {
        println!(
            "{label}: p50 {:+.1}% vs bare (1 client); throughput {:.2}x bare ({} clients)",
            (one.p50_ms / bare_one.p50_ms - 1.0) * 100.0,
            many.per_sec / bare_many.per_sec,
            args.clients
        );
    }
    Ok(())
}

pub async fn register(
    client: &reqwest::Client,
    base: &str,
    name: &str,
    runtime: &str,
    mode: &str,
    code: &[u8],
) -> Result<()> {
    use base64::Engine as _;
    let body = json!({
        "name": name,
        "runtime": runtime,
        "mode": mode,
        "code_base64": base64::engine::general_purpose::STANDARD.encode(code),
    });
    let resp = client
        .post(format!("{base}/functions"))
        .json(&body)
        .send()
        .await?;
    if !resp.status().is_success() {
        bail!("register {name}: {}", resp.text().await.unwrap_or_default());
    }
    Ok(())
}

/// `clients` tasks invoking back to back for `duration`; only successful answers are samples.
pub async fn http_load(
    client: &reqwest::Client,
    url: &str,
    clients: usize,
    duration: Duration,
) -> Samples {
    let start = Instant::now();
    let url = Arc::new(url.to_string());
    stats::concurrently(clients, || {
        let (client, url) = (client.clone(), url.clone());
        async move {
            let mut samples = Samples::default();
            while start.elapsed() < duration {
                let t = Instant::now();
                match invoke_once(&client, &url).await {
                    true => samples.push(t.elapsed()),
                    false => samples.errors += 1,
                }
            }
            samples
        }
    })
    .await
}

async fn invoke_once(client: &reqwest::Client, url: &str) -> bool {
    let Ok(resp) = client
        .post(url)
        .header("content-type", "application/json")
        .body(PAYLOAD)
        .send()
        .await
    else {
        return false;
    };
    let ok = resp.status().is_success();
    match resp.bytes().await {
        // A handler failure is a 200 with "error": count it as an error, not a sample.
        Ok(body) => ok && !body.windows(8).any(|w| w == b"\"error\":"),
        Err(_) => false,
    }
}

pub fn build_c(source: &Path, dir: &Path) -> Result<PathBuf> {
    let out = dir.join("hello-c");
    let status = Command::new("cc")
        .args(["-O2", "-o"])
        .arg(&out)
        .arg(source)
        .status()?;
    if !status.success() {
        bail!("cc failed on {}", source.display());
    }
    Ok(out)
}
