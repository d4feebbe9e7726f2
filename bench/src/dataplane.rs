//! `nova-bench dataplane`: warm invocations through the `DataPlane` interface Nova uses, in one
//! run: embedded (in this process), remote (one `comet daemon` over gRPC) and cluster (three
//! daemons on this machine). The function is a persistent Python echo, so the figures are the
//! data plane's path, not the handler's.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use comet::DataPlane;
use comet::local::LocalConfig;
use comet_testkit::Worker;
use nova_api::{FunctionSpec, InvokeRequest, Mode, Runtime};
use serde_json::value::RawValue;

use crate::stats::{self, Samples};

#[derive(clap::Args)]
pub struct DataPlaneArgs {
    /// How long each measurement runs.
    #[arg(long, default_value = "3s", value_parser = humantime::parse_duration)]
    pub duration: Duration,
    /// Concurrent clients for the throughput runs.
    #[arg(long, default_value_t = 4)]
    pub clients: usize,
    /// The comet binary [default: beside this one].
    #[arg(long)]
    pub comet: Option<PathBuf>,
}

fn worker(comet: &Path, name: &str) -> Result<Worker> {
    Worker::start(comet, name, "127.0.0.1:0", &[]).map_err(anyhow::Error::msg)
}

const ECHO: &str = "def handler(event, context=None):\n    return {'echo': event.get('n')}\n";

pub async fn run(args: DataPlaneArgs) -> Result<()> {
    let comet = match args.comet.clone() {
        Some(p) => p,
        None => std::env::current_exe()?.with_file_name("comet"),
    };
    let workers = [
        worker(&comet, "w1")?,
        worker(&comet, "w2")?,
        worker(&comet, "w3")?,
    ];
    let dir = tempfile::tempdir()?;
    let executor = comet::local::executor(&LocalConfig {
        data_dir: dir.path().to_path_buf(),
        agent: None,
        python: None,
        isolation: Default::default(),
        idle_ttl: Duration::from_secs(600),
        daemon: true,
    })?;
    let planes: Vec<(&str, Arc<dyn DataPlane>)> = vec![
        (
            "embedded",
            Arc::new(comet::Embedded::new(executor, "bench")),
        ),
        (
            "remote (1 worker)",
            Arc::new(comet_grpc::Cluster::connect(
                &[workers[0].endpoint.clone()],
                Duration::from_secs(10),
            )?),
        ),
        (
            "cluster (3 workers)",
            Arc::new(comet_grpc::Cluster::connect(
                &workers
                    .iter()
                    .map(|w| w.endpoint.clone())
                    .collect::<Vec<_>>(),
                Duration::from_secs(10),
            )?),
        ),
    ];
    let spec = Arc::new(FunctionSpec {
        mode: Mode::Persistent,
        handler: "main.handler".into(),
        max_replicas: args.clients as u32,
        ..FunctionSpec::with_defaults("echo", Runtime::Python, ECHO.as_bytes().to_vec())
    });
    println!("warm invoke of a persistent python echo through the DataPlane interface");
    stats::header();
    let mut p50 = Vec::new();
    for (name, plane) in &planes {
        for _ in 0..200 {
            invoke(plane, &spec).await?;
        }
        let one = load(plane.clone(), spec.clone(), 1, args.duration)
            .await
            .summary();
        stats::row(name, 1, &one);
        p50.push(one.p50_ms);
        let many = load(plane.clone(), spec.clone(), args.clients, args.duration)
            .await
            .summary();
        stats::row(name, args.clients, &many);
    }
    println!(
        "remote adds {:.0} µs at p50 over embedded (target ≤ 150 µs); cluster adds {:.0} µs",
        (p50[1] - p50[0]) * 1000.0,
        (p50[2] - p50[0]) * 1000.0
    );
    for (_, plane) in &planes {
        plane.shutdown().await;
    }
    Ok(())
}

async fn invoke(plane: &Arc<dyn DataPlane>, spec: &Arc<FunctionSpec>) -> Result<()> {
    let request = InvokeRequest {
        request_id: "bench".into(),
        payload: RawValue::from_string(r#"{"n": 1}"#.into())?,
    };
    let r = plane.invoke(spec.clone(), request).await?;
    if let Some(e) = r.error {
        bail!("the handler failed: {e}");
    }
    Ok(())
}

async fn load(
    plane: Arc<dyn DataPlane>,
    spec: Arc<FunctionSpec>,
    clients: usize,
    duration: Duration,
) -> Samples {
    let start = Instant::now();
    stats::concurrently(clients, || {
        let (plane, spec) = (plane.clone(), spec.clone());
        async move {
            let mut samples = Samples::default();
            while start.elapsed() < duration {
                let t = Instant::now();
                match invoke(&plane, &spec).await {
                    Ok(()) => samples.push(t.elapsed()),
                    Err(_) => samples.errors += 1,
                }
            }
            samples
        }
    })
    .await
}
