//! `nova-bench`: benchmarks that print their figures beside a baseline measured in the same run.
//!
//! `nova-bench invoke` starts a real `nova daemon` (release build), registers the example
//! handlers, drives warm invocations over HTTP with several concurrent clients, and runs the same
//! handlers directly (`python3 hello.py input.json` in a loop) as the bare baseline.
//! `nova-bench coldstart` measures what the sandbox adds to a cold start and a warm call.
//! `nova-bench context` loads the COMET context exchange (`comet context serve`).

mod access;
mod async_bench;
mod baseline;
mod coldstart;
mod context;
mod daemon;
mod dataplane;
mod load;
mod raw_http;
mod serving;
mod stats;
mod wasm;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "nova-bench", about = "Nova + Comet benchmarks")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Warm invoke latency and throughput over HTTP, beside the bare cost of each handler.
    Invoke(InvokeArgs),
    /// Sandbox cold start and warm invoke, isolated beside a bare agent.
    Coldstart(coldstart::ColdStartArgs),
    /// WebAssembly instantiation cost and warm invocations over HTTP beside persistent Python.
    Wasm(wasm::WasmArgs),
    /// The COMET context exchange: read/enumerate throughput and a slice's sync round.
    Context(context::ContextArgs),
    /// Warm invoke embedded vs remote (one comet worker over gRPC) vs a three-worker cluster.
    Dataplane(dataplane::DataPlaneArgs),
    /// What API-key auth, rate limiting and invocation logs add to a warm invoke.
    Access(access::AccessArgs),
    /// Our serving loop and browser guard beside axum::serve, on one echo route.
    Serving(serving::ServingArgs),
    /// Async invocations: acceptance rate, acceptance to start, end to end, sync beside a backlog.
    Async(async_bench::AsyncArgs),
    /// Load any URL of a running daemon and print one row (for profiling one route under load).
    Load(LoadArgs),
}

#[derive(clap::Args)]
pub struct LoadArgs {
    /// The full URL, e.g. http://127.0.0.1:8080/functions/echo/invoke-async.
    pub url: String,
    /// The method.
    #[arg(long, default_value = "POST")]
    pub method: String,
    /// The body (sent as application/json).
    #[arg(long, default_value = "{}")]
    pub body: String,
    /// Concurrent clients, each on its own keep-alive connection.
    #[arg(long, default_value_t = 8)]
    pub clients: usize,
    /// How long it runs.
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    pub duration: Duration,
}

#[derive(clap::Args)]
pub struct InvokeArgs {
    /// How long each measurement runs.
    #[arg(long, default_value = "3s", value_parser = humantime::parse_duration)]
    pub duration: Duration,
    /// Concurrent clients for the throughput runs.
    #[arg(long, default_value_t = 4)]
    pub clients: usize,
    /// The nova binary [default: beside this one].
    #[arg(long)]
    pub nova: Option<PathBuf>,
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match cli.command {
        Command::Invoke(args) => runtime.block_on(load::invoke_benchmark(args)),
        Command::Coldstart(args) => runtime.block_on(coldstart::run(args)),
        Command::Wasm(args) => runtime.block_on(wasm::run(args)),
        Command::Context(args) => runtime.block_on(context::run(args)),
        Command::Dataplane(args) => runtime.block_on(dataplane::run(args)),
        Command::Access(args) => runtime.block_on(access::run(args)),
        Command::Serving(args) => runtime.block_on(serving::run(args)),
        Command::Async(args) => runtime.block_on(async_bench::run(args)),
        Command::Load(args) => runtime.block_on(async move {
            let samples = raw_http::load(
                &args.url,
                &args.method,
                &args.body,
                args.clients,
                args.duration,
            )
            .await;
            stats::header();
            stats::row(&args.url, args.clients, &samples.summary());
            Ok(())
        }),
    }
}
