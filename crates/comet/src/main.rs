//! `comet`: the data plane's command line. Today it runs a function file directly through the
//! executor (no control plane, no store), which is the quickest way to see what an instance does.
//! The gRPC data-plane daemon joins it as `comet daemon`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use comet::sandbox::{Backend, Router};
use comet::sandbox::{
    IsolationConfig, IsolationMode, ProcessBackend, ProcessConfig, find_agent, find_python,
};
use comet::{Executor, ExecutorConfig};
use comet_wasm::{WasmBackend, WasmConfig};
use nova_api::{FunctionSpec, InvokeRequest, Mode, Network, Runtime};
use serde_json::value::RawValue;

#[derive(Parser)]
#[command(name = "comet", version, about = "Comet: the Nova data plane")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a function file in a fresh instance, once or several times (later calls are warm),
    /// printing each response as one JSON line.
    Run {
        /// Runtime: python, go, rust or wasm.
        #[arg(short, long)]
        runtime: Runtime,
        /// Code file.
        #[arg(short, long)]
        code: PathBuf,
        /// Handler (python: module.function).
        #[arg(short = 'H', long, default_value = nova_api::DEFAULT_HANDLER)]
        handler: String,
        /// process or persistent.
        #[arg(long, default_value = "process")]
        mode: Mode,
        /// The JSON event.
        #[arg(short, long, default_value = "{}")]
        payload: String,
        /// How many times to invoke.
        #[arg(short = 'n', long, default_value_t = 1)]
        times: u32,
        /// Timeout per invocation, in seconds.
        #[arg(short, long, default_value_t = 30)]
        timeout: u32,
        /// Memory limit in MB.
        #[arg(short, long, default_value_t = 128)]
        memory: u32,
        /// none (loopback only) or host.
        #[arg(long, default_value = "none")]
        network: Network,
        /// auto (all the host allows), required (fail without it) or off.
        #[arg(long, default_value = "auto")]
        isolation: IsolationMode,
    },
    /// Print the version.
    Version,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Version => {
            println!("comet {}", env!("CARGO_PKG_VERSION"));
            Ok(ExitCode::SUCCESS)
        }
        Command::Run {
            runtime,
            code,
            handler,
            mode,
            payload,
            times,
            timeout,
            memory,
            network,
            isolation,
        } => {
            let payload = RawValue::from_string(payload).context("--payload is not valid JSON")?;
            if timeout == 0 {
                bail!("--timeout must be at least 1 second");
            }
            let code =
                std::fs::read(&code).with_context(|| format!("cannot read {}", code.display()))?;
            let spec = Arc::new(FunctionSpec {
                handler,
                mode,
                network,
                memory_mb: memory,
                timeout_s: timeout,
                max_replicas: 1,
                ..FunctionSpec::with_defaults("comet-run", runtime, code)
            });
            run_function(spec, payload, times, isolation).await
        }
    }
}

async fn run_function(
    spec: Arc<FunctionSpec>,
    payload: Box<RawValue>,
    times: u32,
    isolation: IsolationMode,
) -> Result<ExitCode> {
    let scratch = tempfile::tempdir().context("cannot create a scratch directory")?;
    let agent =
        find_agent().context("comet-agent not found: put it beside comet or set COMET_AGENT")?;
    let process = ProcessBackend::new(ProcessConfig {
        agent,
        python: find_python(),
        code_dir: scratch.path().join("code"),
        instance_dir: scratch.path().join("instances"),
        isolation: IsolationConfig {
            mode: isolation,
            ..IsolationConfig::default()
        },
    })?;
    let wasm = WasmBackend::new(WasmConfig::new(
        scratch.path().join("wasm-cache"),
        scratch.path().join("wasm-instances"),
    ))?;
    let backend = Router::new(vec![Arc::new(process), Arc::new(wasm)]);
    if let Err(e) = backend.validate(&spec) {
        bail!("{e}");
    }
    let executor = Executor::new(
        Arc::new(backend),
        ExecutorConfig {
            idle_ttl: Duration::from_secs(60),
        },
    );
    let mut failed = false;
    for _ in 0..times {
        let request = InvokeRequest {
            request_id: uuid::Uuid::new_v4().simple().to_string(),
            payload: payload.clone(),
        };
        match executor.invoke(spec.clone(), request).await {
            Ok(resp) => {
                failed |= !resp.is_success();
                println!("{}", serde_json::to_string(&resp)?);
            }
            Err(e) => {
                executor.shutdown().await;
                return Err(e.into());
            }
        }
    }
    executor.shutdown().await;
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
