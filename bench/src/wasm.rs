//! WebAssembly: what one instantiation costs, and warm invocations over HTTP beside persistent
//! Python, in one run.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Result;
use comet_sandbox::Backend;
use comet_wasm::{WasmBackend, WasmConfig};
use nova_api::{FunctionSpec, Runtime};
use serde_json::value::RawValue;

use crate::daemon::{Daemon, find_nova};
use crate::load::register;
use crate::raw_http;
use crate::stats::{self, Samples};

const PAYLOAD: &str = r#"{"name": "bench"}"#;
const NOOP: &str = r#"(module (memory (export "memory") 1) (func (export "_start")))"#;

#[derive(clap::Args)]
pub struct WasmArgs {
    /// How long each HTTP measurement runs.
    #[arg(long, default_value = "3s", value_parser = humantime::parse_duration)]
    pub duration: Duration,
    /// Concurrent clients for the throughput runs.
    #[arg(long, default_value_t = 4)]
    pub clients: usize,
    /// Instantiations measured.
    #[arg(long, default_value_t = 5000)]
    pub instantiations: usize,
    /// The nova binary [default: beside this one].
    #[arg(long)]
    pub nova: Option<std::path::PathBuf>,
}

pub async fn run(args: WasmArgs) -> Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    println!(
        "nova-bench wasm: {} instantiations; HTTP runs of {} with 1 and {} clients",
        args.instantiations,
        humantime::format_duration(args.duration),
        args.clients
    );
    stats::header();
    let instantiate = instantiation_cost(args.instantiations).await?.summary();
    stats::row("instantiate + run a no-op module", 1, &instantiate);

    let daemon = Daemon::start(&find_nova(args.nova.clone())?)?;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()?;
    let hello_wat = std::fs::read(root.join("examples/wasm/hello.wat"))?;
    let hello_py = std::fs::read(root.join("examples/python/hello.py"))?;
    register(
        &client,
        &daemon.url,
        "wasm-hello",
        "wasm",
        "process",
        &hello_wat,
    )
    .await?;
    register(
        &client,
        &daemon.url,
        "py-persistent",
        "python",
        "persistent",
        &hello_py,
    )
    .await?;
    let mut rows = Vec::new();
    // The floor: an HTTP round trip that runs no function at all.
    let health = format!("{}/health", daemon.url);
    let floor = raw_http::load(&health, "GET", "", 1, args.duration)
        .await
        .summary();
    stats::row("HTTP floor: GET /health", 1, &floor);
    for (label, function) in [
        ("wasm hello (HTTP)", "wasm-hello"),
        ("python persistent (HTTP)", "py-persistent"),
    ] {
        let url = format!("{}/functions/{function}/invoke", daemon.url);
        let warmup = Duration::from_millis(500);
        raw_http::load(&url, "POST", PAYLOAD, args.clients, warmup).await;
        let one = raw_http::load(&url, "POST", PAYLOAD, 1, args.duration)
            .await
            .summary();
        let many = raw_http::load(&url, "POST", PAYLOAD, args.clients, args.duration)
            .await
            .summary();
        stats::row(label, 1, &one);
        stats::row(label, args.clients, &many);
        rows.push((label, one, many));
    }
    println!();
    println!("instantiation: p50 {:.1} µs", instantiate.p50_ms * 1000.0);
    println!(
        "HTTP floor (GET /health, 1 client): p50 {:.0} µs",
        floor.p50_ms * 1000.0
    );
    for (label, one, many) in rows {
        println!(
            "{label}: p50 {:.0} µs, p99 {:.0} µs (1 client); {:.0} invocations/s ({} clients)",
            one.p50_ms * 1000.0,
            one.p99_ms * 1000.0,
            many.per_sec,
            args.clients
        );
    }
    Ok(())
}

/// A fresh store and instance per call, straight on the backend (no HTTP, no pool).
async fn instantiation_cost(n: usize) -> Result<Samples> {
    let scratch = tempfile::tempdir()?;
    let name = format!("nova-bench-{}", std::process::id());
    let instances = WasmConfig::scratch_dir(scratch.path().join("instances"), &name);
    let backend = WasmBackend::new(WasmConfig::new(scratch.path().join("cache"), instances))?;
    let spec = FunctionSpec {
        memory_mb: 16,
        ..FunctionSpec::with_defaults("noop", Runtime::Wasm, NOOP.as_bytes().to_vec())
    };
    let mut instance = backend.create(&spec).await?;
    let input = RawValue::from_string("{}".into())?;
    let mut samples = Samples::default();
    let start = Instant::now();
    for _ in 0..n {
        let t = Instant::now();
        // The no-op prints nothing, so the contract answers with an error; the cost is the same.
        instance.invoke("i", &input, Duration::from_secs(5)).await?;
        samples.push(t.elapsed());
    }
    samples.elapsed = start.elapsed();
    Ok(samples)
}
