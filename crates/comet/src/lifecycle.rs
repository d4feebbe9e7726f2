//! What the `comet` and `nova` binaries share around their commands: logging, the async runtime
//! (multi-threaded for servers, one thread for one-shot commands), errors printed for people, and
//! the signal that stops a server.

use std::future::Future;
use std::io::IsTerminal;
use std::process::ExitCode;

use tracing_subscriber::EnvFilter;

/// Runs `command` to completion and turns an error into `error: …` on stderr and exit code 1.
/// `log_env` names the variable that sets the log filter (`RUST_LOG` is read after it).
pub fn main<F>(server: bool, log_env: &str, command: F) -> ExitCode
where
    F: Future<Output = anyhow::Result<ExitCode>>,
{
    init_tracing(log_env, server);
    let runtime = if server {
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
    match runtime.block_on(command) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Logs go to stderr. Servers log at info, one-shot commands only warnings, so their output
/// stays clean.
fn init_tracing(log_env: &str, server: bool) {
    let default = if server { "info" } else { "warn" };
    let filter = std::env::var(log_env)
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_else(|_| default.to_string());
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .init();
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
    tracing::info!("shutting down");
}
