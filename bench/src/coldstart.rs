//! Sandbox cost: cold start (create → first response) and warm invoke, with full isolation and
//! with none (a bare spawn of the agent), in one run, straight on the backend (no HTTP).

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use comet_sandbox::{
    Backend, IsolationConfig, IsolationMode, ProcessBackend, ProcessConfig, find_agent, find_python,
};
use nova_api::{FunctionSpec, Mode, Runtime};
use serde_json::value::RawValue;

use crate::stats::{self, Samples, Summary};

#[derive(clap::Args)]
pub struct ColdStartArgs {
    /// Cold starts measured per configuration.
    #[arg(long, default_value_t = 100)]
    pub starts: usize,
    /// Warm invocations measured per configuration.
    #[arg(long, default_value_t = 3000)]
    pub warm: usize,
    /// Sandbox without the seccomp filter (to see what it costs).
    #[arg(long)]
    pub no_seccomp: bool,
    /// Sandbox without cgroups (to see what they cost).
    #[arg(long)]
    pub no_cgroups: bool,
    /// The nova binary for the HTTP comparison [default: beside this one].
    #[arg(long)]
    pub nova: Option<std::path::PathBuf>,
    /// Standby agents kept ready by the sandboxed backend.
    #[arg(long, default_value_t = 2)]
    pub standby: usize,
}

pub async fn run(args: ColdStartArgs) -> Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let scratch = tempfile::tempdir()?;
    let hello_c = crate::load::build_c(&root.join("examples/c/hello.c"), scratch.path())?;
    let hello_py = std::fs::read(root.join("examples/python/hello.py"))?;
    let native = spec(
        "native",
        Runtime::Go,
        Mode::Process,
        std::fs::read(&hello_c)?,
    );
    let python = spec("python", Runtime::Python, Mode::Persistent, hello_py);
    let sandboxed = backend(
        scratch.path(),
        "on",
        IsolationConfig {
            seccomp: !args.no_seccomp,
            cgroups: !args.no_cgroups,
            standby: args.standby,
            ..IsolationConfig::default()
        },
    )?;
    let bare = backend(
        scratch.path(),
        "off",
        IsolationConfig {
            mode: IsolationMode::Off,
            ..IsolationConfig::default()
        },
    )?;
    println!(
        "nova-bench coldstart: {} cold starts and {} warm calls per row; isolation on = {}",
        args.starts,
        args.warm,
        sandboxed.isolation()
    );
    stats::header();
    let mut rows = Vec::new();
    for (label, f) in [
        ("native C, process mode", &native),
        ("python, persistent mode", &python),
    ] {
        // Interleaved, so drift on a busy machine hits both alike.
        let (mut on, mut off) = (Samples::default(), Samples::default());
        for _ in 0..args.starts {
            on.push(cold_start(&sandboxed, f).await?);
            off.push(cold_start(&bare, f).await?);
        }
        on.elapsed = Duration::from_secs(1);
        off.elapsed = Duration::from_secs(1);
        let (on, off) = (on.summary(), off.summary());
        stats::row(&format!("cold {label}, sandbox"), 1, &on);
        stats::row(&format!("cold {label}, bare agent"), 1, &off);
        rows.push((label, on, off));
    }
    let (warm_on, warm_off) = warm(&sandboxed, &bare, &python, args.warm).await?;
    stats::row("warm python persistent, sandbox", 1, &warm_on);
    stats::row("warm python persistent, bare agent", 1, &warm_off);
    let (http_on, http_off) = warm_over_http(args.nova.clone()).await?;
    stats::row("warm python persistent HTTP, sandbox", 1, &http_on);
    stats::row("warm python persistent HTTP, bare", 1, &http_off);
    println!("(req/s of cold rows is not meaningful: they run interleaved)");
    println!();
    for (label, on, off) in rows {
        println!(
            "{label}: the sandbox adds {:.2} ms at p50, {:.2} ms at p99 to a cold start",
            on.p50_ms - off.p50_ms,
            on.p99_ms - off.p99_ms
        );
    }
    println!(
        "warm python persistent, on the backend: sandbox p50 {:+.1}% vs bare",
        (warm_on.p50_ms / warm_off.p50_ms - 1.0) * 100.0
    );
    println!(
        "warm python persistent, end to end over HTTP: sandbox p50 {:+.1}% vs bare",
        (http_on.p50_ms / http_off.p50_ms - 1.0) * 100.0
    );
    Ok(())
}

fn backend(scratch: &Path, name: &str, isolation: IsolationConfig) -> Result<ProcessBackend> {
    Ok(ProcessBackend::new(ProcessConfig {
        agent: find_agent().context("comet-agent not found beside nova-bench")?,
        python: find_python(),
        code_dir: scratch.join("code"),
        instance_dir: scratch.join(name),
        isolation,
    })?)
}

fn spec(name: &str, runtime: Runtime, mode: Mode, code: Vec<u8>) -> FunctionSpec {
    FunctionSpec {
        mode,
        timeout_s: 10,
        ..FunctionSpec::with_defaults(name, runtime, code)
    }
}

fn payload() -> Box<RawValue> {
    RawValue::from_string(r#"{"name": "bench"}"#.into()).expect("valid JSON")
}

/// Create → first response; the instance is stopped outside the measurement.
async fn cold_start(backend: &ProcessBackend, f: &FunctionSpec) -> Result<Duration> {
    let t = Instant::now();
    let mut instance = backend.create(f).await?;
    let resp = instance
        .invoke("cold", &payload(), Duration::from_secs(10))
        .await?;
    let elapsed = t.elapsed();
    instance.stop().await;
    if let Some(e) = resp.error {
        bail!("{}: {e}", f.name);
    }
    Ok(elapsed)
}

/// Warm calls on one sandboxed and one bare instance, alternating in rounds so that drift on a
/// busy machine lands on both alike.
async fn warm(
    sandboxed: &ProcessBackend,
    bare: &ProcessBackend,
    f: &FunctionSpec,
    calls: usize,
) -> Result<(Summary, Summary)> {
    let mut on = sandboxed.create(f).await?;
    let mut off = bare.create(f).await?;
    let input = payload();
    let (mut on_samples, mut off_samples) = (Samples::default(), Samples::default());
    let rounds = 20;
    for round in 0..=rounds {
        // Round 0 warms both up and is not counted.
        let per_round = if round == 0 { 200 } else { calls / rounds };
        for (instance, samples) in [(&mut on, &mut on_samples), (&mut off, &mut off_samples)] {
            let start = Instant::now();
            for _ in 0..per_round {
                let t = Instant::now();
                let resp = instance
                    .invoke("warm", &input, Duration::from_secs(10))
                    .await?;
                if round == 0 {
                    continue;
                }
                match resp.error {
                    None => samples.push(t.elapsed()),
                    Some(_) => samples.errors += 1,
                }
            }
            if round > 0 {
                samples.elapsed += start.elapsed();
            }
        }
    }
    on.stop().await;
    off.stop().await;
    Ok((on_samples.summary(), off_samples.summary()))
}

/// The user-visible warm path: one daemon sandboxing, one not, the same persistent Python
/// function on each, measured in alternating rounds over HTTP.
async fn warm_over_http(nova: Option<std::path::PathBuf>) -> Result<(Summary, Summary)> {
    let nova = crate::daemon::find_nova(nova)?;
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let code = std::fs::read(root.join("examples/python/hello.py"))?;
    let client = reqwest::Client::new();
    let on = crate::daemon::Daemon::start_with(&nova, "auto")?;
    let off = crate::daemon::Daemon::start_with(&nova, "off")?;
    for d in [&on, &off] {
        crate::load::register(&client, &d.url, "py", "python", "persistent", &code).await?;
    }
    let url = |d: &crate::daemon::Daemon| format!("{}/functions/py/invoke", d.url);
    let body = r#"{"name": "bench"}"#;
    let (mut on_samples, mut off_samples) = (Samples::default(), Samples::default());
    for round in 0..=10 {
        for (d, samples) in [(&on, &mut on_samples), (&off, &mut off_samples)] {
            let run =
                crate::raw_http::load(&url(d), "POST", body, 1, Duration::from_millis(300)).await;
            if round > 0 {
                samples.elapsed += run.elapsed;
                samples.merge(run);
            }
        }
    }
    Ok((on_samples.summary(), off_samples.summary()))
}
