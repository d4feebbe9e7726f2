//! The `comet` commands and their flags.

mod kv;
mod run;
mod serve;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use comet::sandbox::IsolationMode;
use nova_api::{FunctionSpec, Mode, Network, Runtime};
use serde_json::value::RawValue;
use serve::Services;

use crate::config::Overrides;

#[derive(Parser)]
#[command(name = "comet", version, about = "Comet: the Nova data plane")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Serve the data plane: functions over gRPC (the DataPlane service Nova calls), and, when
    /// an HTTP address or a kv/context section is configured, the KV and context services,
    /// /healthcheck and /metrics over HTTP. With --node-id and no data directory, the node gets
    /// its own (<default>/nodes/<id>), so several workers can run on one host as typed.
    Daemon(DaemonArgs),
    /// The KV service on its own: serve it, or build SST files for its bulk loads.
    #[command(subcommand)]
    Kv(KvCommand),
    /// The context-exchange (COMET) API on its own.
    #[command(subcommand)]
    Context(ContextCommand),
    /// Run a function file in a fresh instance, once or several times (later calls are warm),
    /// printing each response as one JSON line.
    Run(RunArgs),
    /// Print a commented comet.yaml with every key at its default.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Print the version.
    Version,
}

impl Command {
    /// Servers get a multi-threaded runtime and info logs.
    pub fn is_server(&self) -> bool {
        matches!(
            self,
            Command::Daemon(_)
                | Command::Kv(KvCommand::Serve(_))
                | Command::Context(ContextCommand::Serve(_))
        )
    }
}

#[derive(Subcommand)]
pub enum ConfigCommand {
    /// Print the default comet.yaml, commented.
    PrintDefault,
}

/// Where a server reads its settings: file < environment < flags.
#[derive(Args, Clone)]
pub struct ServerArgs {
    /// Config file (YAML; `comet config print-default` shows every key).
    #[arg(long, env = "COMET_CONFIG")]
    pub config: Option<PathBuf>,
    /// Data directory (databases, backups, ingests, function code) [default:
    /// ~/.local/share/comet; `comet daemon --node-id N`: its nodes/N subdirectory].
    #[arg(long, env = "COMET_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// HTTP listen address, e.g. 127.0.0.1:8000 or :8000 (every interface).
    #[arg(long, env = "COMET_HTTP_ADDR")]
    pub http_addr: Option<String>,
}

impl ServerArgs {
    pub fn overrides(&self) -> Overrides {
        Overrides {
            config_file: self.config.clone(),
            data_dir: self.data_dir.clone(),
            http_addr: self.http_addr.clone(),
            node_id: None,
        }
    }
}

#[derive(Args, Clone)]
pub struct DaemonArgs {
    #[command(flatten)]
    pub server: ServerArgs,
    /// gRPC listen address of the DataPlane service [default: 127.0.0.1:9090; ":9090" = every
    /// interface].
    #[arg(long, env = "COMET_GRPC_ADDR")]
    pub grpc_addr: Option<String>,
    /// This worker's name in a cluster (reported with every invocation) [default: the hostname].
    #[arg(long, env = "COMET_NODE_ID")]
    pub node_id: Option<String>,
    /// Refuse gRPC calls that carry neither this token (Nova's comet.token) nor, with
    /// --api-keys-from, an API key with the call's scope.
    #[arg(long, env = "COMET_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Accept Nova's API keys, read from Nova's store: a Postgres DSN (Nova's --pg-dsn) or
    /// Nova's SQLite file (<nova data dir>/nova.db). Metrics and invocation lists need the read
    /// scope; invoke, prewarm and evict admin (their calls carry code); Health is open. Calls
    /// pass until the first key exists, unless --require-auth or --token.
    #[arg(
        long,
        env = "COMET_API_KEYS_FROM",
        hide_env_values = true,
        value_name = "DSN|PATH"
    )]
    pub api_keys_from: Option<String>,
    /// With --api-keys-from: require a key even before the first one exists.
    #[arg(long, env = "COMET_REQUIRE_AUTH")]
    pub require_auth: bool,
    /// How long idle instances stay warm, e.g. 60s, 5m or 60 (seconds) [default: 60s].
    #[arg(long, env = "COMET_IDLE_TTL", value_parser = comet_plumbing::parse_duration)]
    pub idle_ttl: Option<std::time::Duration>,
    #[command(flatten)]
    pub programs: ProgramArgs,
}

/// The host programs instances need; found by themselves when not given.
#[derive(Args, Clone)]
pub struct ProgramArgs {
    /// The guest agent binary [default: comet-agent beside comet, else on PATH].
    #[arg(long, env = "COMET_AGENT", value_name = "FILE")]
    pub agent: Option<PathBuf>,
    /// The Python interpreter for python functions [default: /usr/bin/python3, else the
    /// python3 on PATH, resolved once].
    #[arg(long, env = "NOVA_PYTHON", value_name = "FILE")]
    pub python: Option<PathBuf>,
}

#[derive(Subcommand)]
pub enum KvCommand {
    /// Serve the KV REST API (and /healthcheck, /metrics) alone.
    Serve(ServerArgs),
    /// Turn JSONL or CSV into SST files for `PUT /admin/databases/{db}/ingest/{dir}`.
    BuildSst(kv::BuildSstArgs),
}

#[derive(Subcommand)]
pub enum ContextCommand {
    /// Serve the context-exchange API (and /healthcheck) alone.
    Serve(ServerArgs),
}

#[derive(Args)]
pub struct RunArgs {
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
    #[command(flatten)]
    programs: ProgramArgs,
}

pub async fn dispatch(command: Command) -> Result<ExitCode> {
    match command {
        Command::Version => {
            println!("comet {}", env!("CARGO_PKG_VERSION"));
            Ok(ExitCode::SUCCESS)
        }
        Command::Config(ConfigCommand::PrintDefault) => {
            print!("{}", crate::config::default_file());
            Ok(ExitCode::SUCCESS)
        }
        Command::Daemon(args) => serve::daemon(args).await,
        Command::Kv(KvCommand::Serve(args)) => {
            serve::run_with(
                args.overrides(),
                Services {
                    kv: true,
                    context: false,
                },
            )
            .await
        }
        Command::Context(ContextCommand::Serve(args)) => {
            serve::run_with(
                args.overrides(),
                Services {
                    kv: false,
                    context: true,
                },
            )
            .await
        }
        Command::Kv(KvCommand::BuildSst(args)) => kv::build_sst(args),
        Command::Run(args) => run_file(args).await,
    }
}

async fn run_file(a: RunArgs) -> Result<ExitCode> {
    let payload = RawValue::from_string(a.payload).context("--payload is not valid JSON")?;
    if a.timeout == 0 {
        bail!("--timeout must be at least 1 second");
    }
    let code =
        std::fs::read(&a.code).with_context(|| format!("cannot read {}", a.code.display()))?;
    let spec = Arc::new(FunctionSpec {
        handler: a.handler,
        mode: a.mode,
        network: a.network,
        memory_mb: a.memory,
        timeout_s: a.timeout,
        max_replicas: 1,
        ..FunctionSpec::with_defaults("comet-run", a.runtime, code)
    });
    run::run_function(spec, payload, a.times, a.isolation, a.programs).await
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn daemon_idle_ttl(value: &str) -> Result<Option<Duration>, clap::Error> {
        match Cli::try_parse_from(["comet", "daemon", "--idle-ttl", value])?.command {
            Command::Daemon(args) => Ok(args.idle_ttl),
            _ => panic!("not the daemon command"),
        }
    }

    #[test]
    fn the_idle_ttl_flag_takes_what_nova_takes() {
        assert_eq!(
            daemon_idle_ttl("60").expect("plain seconds"),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            daemon_idle_ttl("60s").expect("with a unit"),
            Some(Duration::from_secs(60))
        );
        assert!(daemon_idle_ttl("0").is_err());
        assert!(daemon_idle_ttl("soon").is_err());
    }
}
