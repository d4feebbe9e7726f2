//! `comet`: the data plane's command line. `comet daemon` serves the data plane (today its HTTP
//! side: the KV service, health and metrics); `comet kv` runs or feeds the KV service alone;
//! `comet run` runs a function file directly, the quickest way to see what an instance does.

mod cli;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;

use cli::Cli;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let serves = cli.command.is_server();
    init_tracing(serves);
    let runtime = if serves {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    };
    let runtime = match runtime {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(cli::dispatch(cli.command)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Logs go to stderr; `COMET_LOG` (or `RUST_LOG`) sets the filter. Servers log at info, one-shot
/// commands only warnings.
fn init_tracing(server: bool) {
    let default = if server { "info" } else { "warn" };
    let filter = std::env::var("COMET_LOG")
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_else(|_| default.to_string());
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .init();
}
