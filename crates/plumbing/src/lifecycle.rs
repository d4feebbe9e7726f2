//! What the `comet` and `nova` binaries share around their commands: logging, the async runtime
//! (multi-threaded for servers, one thread for one-shot commands), errors printed for people, and
//! the signal that stops a server.

use std::future::Future;
use std::io::IsTerminal;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::ExitCode;

use tracing_subscriber::EnvFilter;

/// Runs `command` to completion and turns an error into `error: …` on stderr and exit code 1.
/// `log_env` names the variable that sets the log filter (`RUST_LOG` is read after it).
pub fn main<F>(server: bool, log_env: &str, command: F) -> ExitCode
where
    F: Future<Output = anyhow::Result<ExitCode>>,
{
    init_tracing(log_env, server);
    if server {
        raise_open_files_limit();
    }
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
            eprintln!("error: {}", causes(&e));
            ExitCode::FAILURE
        }
    }
}

/// An error and its causes on one line, each said once: many errors print their source in
/// their own message too, and the chain would repeat it at every level.
pub fn causes(error: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in error.chain() {
        let text = cause.to_string();
        if text.is_empty() || line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
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

/// Files and directories this process creates from now on are its owner's alone (umask 077):
/// databases, logs, keys and code in the data directory hold secrets and other users' code.
/// Processes it starts inherit this; the guest agent sets its own.
pub fn owner_only_files() {
    // SAFETY: umask has no preconditions and cannot fail.
    unsafe { libc::umask(0o077) };
}

/// Creates `dir` (and its missing parents) readable by its owner only, and takes group and
/// other access away from an existing one this user owns (a data directory made by an older
/// version, or by hand); a shared sticky directory such as /tmp is left as it is.
pub fn private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    let meta = std::fs::metadata(dir)?;
    // SAFETY: geteuid has no preconditions.
    let me = unsafe { libc::geteuid() };
    let mode = meta.permissions().mode();
    if meta.uid() == me && mode & 0o1000 == 0 && mode & 0o077 != 0 {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
        tracing::info!(dir = %dir.display(), "the data directory is now readable by its owner only");
    }
    Ok(())
}

/// Servers hold a socket per client: lift the soft limit on open files to the hard one, so that
/// the connection cap, not the descriptor limit, decides when clients are turned away.
fn raise_open_files_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit get a valid pointer to a properly initialised rlimit.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && limit.rlim_cur < limit.rlim_max
        {
            limit.rlim_cur = limit.rlim_max;
            let _ = libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("database 'default': {source}")]
    struct Open {
        source: std::io::Error,
    }

    #[test]
    fn a_cause_already_in_the_message_is_said_once() {
        let io = std::io::Error::other("lock held by another process");
        let e = anyhow::Error::new(Open { source: io }).context("cannot open the KV service");
        assert_eq!(
            causes(&e),
            "cannot open the KV service: database 'default': lock held by another process"
        );
    }
}
