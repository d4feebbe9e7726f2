//! What each command does.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use base64::Engine as _;
use nova_api::{FunctionConfig, FunctionPatch, Limits, Qualifier, validate_env_key};

use super::args::{
    ApikeyCommand, Cli, Command, ConfigCommand, InvokeArgs, ModeArg, NetworkArg, Output,
    PackageCommand, RegisterArgs, SecretCommand, SettingsArgs, UpdateArgs,
};
use super::print;
use super::target::Target;
use nova::apikeys::Scope;
use nova::config::{Environment, Overrides, Settings, default_file};

pub async fn run(cli: Cli) -> Result<ExitCode> {
    let mut overrides = Overrides {
        config_file: cli.config.clone(),
        data_dir: cli.data_dir.clone(),
        pg_dsn: cli.pg_dsn.clone(),
        redis_addr: cli.redis.clone(),
        redis_password: cli.redis_pass.clone(),
        redis_db: cli.redis_db,
        env: Environment::from_process(),
        ..Overrides::default()
    };
    match cli.command {
        Command::Version => {
            println!("nova {}", env!("CARGO_PKG_VERSION"));
            Ok(ExitCode::SUCCESS)
        }
        Command::Config {
            command: ConfigCommand::PrintDefault,
        } => {
            print!("{}", default_file());
            Ok(ExitCode::SUCCESS)
        }
        Command::Package(PackageCommand::Check { file }) => Ok(if super::packages::check(&file)? {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        }),
        Command::Daemon(args) => {
            overrides.http_addr = args.http;
            overrides.idle_ttl = args.idle_ttl;
            overrides.require_auth = args.require_auth;
            overrides.allow_anonymous = args.allow_anonymous;
            overrides.allowed_hosts = args.allowed_hosts;
            overrides.allowed_origins = args.allowed_origins;
            overrides.comet_endpoints = match args.comet_endpoint {
                Some(one) => vec![one],
                None => args.comet_endpoints,
            };
            daemon(Settings::resolve(&overrides)?).await
        }
        command => {
            let settings = Settings::resolve(&overrides)?;
            let target = Target::connect(&cli.url, cli.api_key.as_deref(), &settings).await?;
            let result = dispatch(&target, command).await;
            target.close().await;
            result
        }
    }
}

async fn dispatch(target: &Target, command: Command) -> Result<ExitCode> {
    match command {
        Command::Register(args) => {
            let f = target.register(register_config(args)?).await?;
            println!(
                "Registered {} (version {}, {} runtime, {} mode, code sha256 {})",
                f.name,
                f.version,
                f.runtime,
                f.mode,
                &f.code_hash[..12]
            );
        }
        Command::Update(args) => {
            let name = args.name.clone();
            let current = target.get(&name).await?;
            let patch = update_patch(args, current.env_vars, current.limits)?;
            let f = target.update(&name, patch).await?;
            println!("Updated {} to version {}", f.name, f.version);
        }
        Command::List(args) => {
            let functions = target.list(args.search).await?;
            match args.output {
                Output::Json => print::json(&functions),
                Output::Table => print::function_table(&functions),
            }
        }
        Command::Get(args) => match args.version {
            Some(number) => {
                let v = target.version(&args.name, number).await?;
                match args.output {
                    Output::Json => print::json(&v),
                    Output::Table => print::version_details(&v),
                }
            }
            None => {
                let f = target.get(&args.name).await?;
                match args.output {
                    Output::Json => print::json(&f),
                    Output::Table => print::function_details(&f),
                }
            }
        },
        Command::Publish(args) => {
            let v = target.publish(&args.name, &args.description).await?;
            match args.output {
                Output::Json => print::json(&v),
                Output::Table if v.description.is_empty() => {
                    println!(
                        "Published {} version {}",
                        v.function.name, v.function.version
                    )
                }
                Output::Table => println!(
                    "Published {} version {}: {}",
                    v.function.name, v.function.version, v.description
                ),
            }
        }
        Command::Versions(args) => {
            let versions = target.versions(&args.name).await?;
            match args.output {
                Output::Json => print::json(&versions),
                Output::Table => print::version_table(&versions),
            }
        }
        Command::Apikey(command) => apikey(target, command).await?,
        Command::Secret(command) => secret(target, command).await?,
        Command::Alias(command) => super::aliases::alias(target, command).await?,
        Command::Schedule(command) => super::schedules::schedule(target, command).await?,
        Command::Logs(args) => {
            if args.tail == 0 || args.tail > 1000 {
                anyhow::bail!("--tail must be between 1 and 1000");
            }
            let logs = target.logs(&args.name, args.tail, args.request_id).await?;
            match args.output {
                Output::Json => print::json(&logs),
                Output::Table => print::invocation_table(&logs),
            }
        }
        Command::Delete(args) => {
            target.delete(&args.name).await?;
            println!("Deleted {}", args.name);
        }
        Command::Invoke(args) => return invoke(target, args).await,
        Command::Async(command) => super::asynchronous::run(target, command).await?,
        Command::Daemon(_) | Command::Version | Command::Config { .. } | Command::Package(_) => {
            unreachable!("handled before connecting")
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn invoke(target: &Target, args: InvokeArgs) -> Result<ExitCode> {
    let payload = match &args.payload_file {
        Some(path) if path == Path::new("-") => {
            let mut s = String::new();
            std::io::stdin()
                .read_to_string(&mut s)
                .context("cannot read the payload from stdin")?;
            s
        }
        Some(path) => std::fs::read_to_string(path)
            .with_context(|| format!("cannot read payload file {}", path.display()))?,
        None => args.payload.clone(),
    };
    if let Err(e) = serde_json::from_str::<serde::de::IgnoredAny>(&payload) {
        bail!("--payload is not valid JSON: {e}");
    }
    let (name, qualifier) = match args.name.split_once(':') {
        Some((name, qualifier)) => (name, qualifier.parse::<Qualifier>()?),
        None => (args.name.as_str(), Qualifier::Latest),
    };
    if args.asynchronous {
        let key = args.idempotency_key.as_deref();
        super::asynchronous::enqueue(target, name, &qualifier, payload, key).await?;
        return Ok(ExitCode::SUCCESS);
    }
    let response = target.invoke(name, &qualifier, payload).await?;
    match args.output {
        Output::Json => print::json(&response),
        Output::Table => print::invocation(&response),
    }
    Ok(if response.is_success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

async fn daemon(settings: Settings) -> Result<ExitCode> {
    let listener = tokio::net::TcpListener::bind(settings.http_addr)
        .await
        .with_context(|| format!("cannot listen on {}", settings.http_addr))?;
    let app = nova::daemon::assemble(&settings, true).await?;
    let kv = match settings.kv_embedded {
        true => Some(nova::daemon::open_kv(&settings).await?),
        false => {
            tracing::info!(
                "shared store: the embedded KV service is off (name kv.databases in the config \
                 file to serve it here, or run comet kv serve)"
            );
            None
        }
    };
    let addr = listener.local_addr()?;
    tracing::info!(%addr, data_dir = %settings.data_dir.display(), idle_ttl = ?settings.idle_ttl, "nova daemon started");
    // One plain line on stdout that people (and scripts) can read the address from.
    println!("Nova daemon listening on http://{addr}");
    nova::daemon::serve_with(
        listener,
        app,
        kv,
        settings.http_limits,
        settings.http_guard.clone(),
        comet_plumbing::lifecycle::shutdown_signal(),
    )
    .await?;
    tracing::info!("nova daemon stopped");
    Ok(ExitCode::SUCCESS)
}

fn register_config(args: RegisterArgs) -> Result<FunctionConfig> {
    // Cheap checks first, so a typo is reported before a missing file.
    nova_api::validate_name(&args.name)?;
    args.runtime.parse::<nova_api::Runtime>()?;
    let mut config = FunctionConfig {
        name: args.name,
        runtime: args.runtime,
        ..FunctionConfig::default()
    };
    let env = parse_env(&args.settings.env)?;
    config.env_vars = env;
    set_code(
        &mut config.code,
        &mut config.code_base64,
        &args.code,
        &config.runtime,
    )?;
    let patch = settings_patch(&args.settings, config.limits)?;
    patch.apply(&mut config);
    Ok(config)
}

fn update_patch(
    args: UpdateArgs,
    mut env: BTreeMap<String, String>,
    limits: Limits,
) -> Result<FunctionPatch> {
    let mut patch = settings_patch(&args.settings, limits)?;
    patch.runtime = args.runtime.clone();
    if let Some(path) = &args.code {
        let runtime = args.runtime.as_deref().unwrap_or("");
        set_code(&mut patch.code, &mut patch.code_base64, path, runtime)?;
    }
    if args.clear_env {
        env.clear();
    }
    let added = parse_env(&args.settings.env)?;
    if args.clear_env || !added.is_empty() {
        env.extend(added);
        patch.env_vars = Some(env);
    }
    if patch.limits == Some(limits) {
        patch.limits = None;
    }
    Ok(patch)
}

/// The flags a user gave, as a patch over the defaults (register) or the current settings
/// (update); negative numbers are refused with the flag's own name.
fn settings_patch(s: &SettingsArgs, mut limits: Limits) -> Result<FunctionPatch> {
    let checked = |flag: &str, v: Option<i64>| -> Result<Option<i64>> {
        match v {
            Some(v) if v < 0 => bail!("--{flag} must not be negative (got {v})"),
            v => Ok(v),
        }
    };
    let limit_flags = [
        ("vcpus", s.vcpus, &mut limits.vcpus),
        ("disk-iops", s.disk_iops, &mut limits.disk_iops),
        (
            "disk-bandwidth",
            s.disk_bandwidth,
            &mut limits.disk_bandwidth,
        ),
        (
            "net-rx-bandwidth",
            s.net_rx_bandwidth,
            &mut limits.net_rx_bandwidth,
        ),
        (
            "net-tx-bandwidth",
            s.net_tx_bandwidth,
            &mut limits.net_tx_bandwidth,
        ),
    ];
    for (flag, value, slot) in limit_flags {
        if let Some(v) = checked(flag, value)? {
            *slot = v;
        }
    }
    Ok(FunctionPatch {
        handler: s.handler.clone(),
        memory_mb: checked("memory", s.memory)?,
        timeout_s: checked("timeout", s.timeout)?,
        min_replicas: checked("min-replicas", s.min_replicas)?,
        max_replicas: checked("max-replicas", s.max_replicas)?,
        mode: s.mode.map(|m| match m {
            ModeArg::Process => "process".to_string(),
            ModeArg::Persistent => "persistent".to_string(),
        }),
        network: s.network.map(|n| match n {
            NetworkArg::None => "none".to_string(),
            NetworkArg::Host => "host".to_string(),
        }),
        limits: Some(limits),
        ..FunctionPatch::default()
    })
}

/// Python source travels as text (as the original clients send it), everything else as base64.
fn set_code(
    text: &mut Option<String>,
    b64: &mut Option<String>,
    path: &Path,
    runtime: &str,
) -> Result<()> {
    let bytes =
        std::fs::read(path).with_context(|| format!("cannot read code file {}", path.display()))?;
    if bytes.is_empty() {
        bail!("code file {} is empty", path.display());
    }
    match String::from_utf8(bytes) {
        Ok(source) if runtime == "python" => *text = Some(source),
        Ok(source) => *b64 = Some(base64::engine::general_purpose::STANDARD.encode(source)),
        Err(e) => *b64 = Some(base64::engine::general_purpose::STANDARD.encode(e.into_bytes())),
    }
    Ok(())
}

fn parse_env(pairs: &[String]) -> Result<BTreeMap<String, String>> {
    let mut env = BTreeMap::new();
    for pair in pairs {
        let Some((key, value)) = pair.split_once('=') else {
            bail!("malformed --env '{pair}': expected KEY=VALUE");
        };
        validate_env_key(key).map_err(|e| anyhow::anyhow!("--env '{pair}': {e}"))?;
        if env.insert(key.to_string(), value.to_string()).is_some() {
            bail!("--env {key} is given more than once");
        }
    }
    Ok(env)
}

async fn apikey(target: &Target, command: ApikeyCommand) -> Result<()> {
    match command {
        ApikeyCommand::Create {
            name,
            scopes,
            expires,
        } => {
            let scopes = scopes
                .iter()
                .map(|s| s.parse::<Scope>().map_err(anyhow::Error::msg))
                .collect::<Result<Vec<_>>>()?;
            let created = target.create_key(&name, &scopes, expires).await?;
            println!(
                "Created API key {} ({})",
                created.record.name, created.record.scopes
            );
            println!("{}", created.key);
            eprintln!(
                "This is the only time the key is shown: keep it (e.g. export NOVA_API_KEY=...)."
            );
        }
        ApikeyCommand::List { output } => {
            let keys = target.list_keys().await?;
            match output {
                Output::Json => print::json(&keys),
                Output::Table => print::key_table(&keys),
            }
        }
        ApikeyCommand::Revoke { name } => {
            target.revoke_key(&name).await?;
            println!("Revoked {name}");
        }
        ApikeyCommand::Delete { name } => {
            target.delete_key(&name).await?;
            println!("Deleted {name}");
        }
    }
    Ok(())
}

async fn secret(target: &Target, command: SecretCommand) -> Result<()> {
    match command {
        SecretCommand::Set { name, value } => {
            let value = match value {
                Some(v) => v,
                None => {
                    let mut text = String::new();
                    std::io::stdin()
                        .read_to_string(&mut text)
                        .context("reading the secret from standard input")?;
                    text.strip_suffix('\n').unwrap_or(&text).to_string()
                }
            };
            target.set_secret(&name, &value).await?;
            println!("Set secret {name}");
        }
        SecretCommand::Get { name } => println!("{}", target.get_secret(&name).await?),
        SecretCommand::List => {
            let secrets = target.list_secrets().await?;
            if secrets.is_empty() {
                println!("No secrets.");
            }
            for (name, updated) in secrets {
                println!("{name:<32} updated {updated}");
            }
        }
        SecretCommand::Delete { name } => {
            target.delete_secret(&name).await?;
            println!("Deleted secret {name}");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_pairs() {
        let env = parse_env(&["A=1".into(), "B=x=y".into(), "C=".into()]).expect("valid");
        assert_eq!(env["B"], "x=y");
        assert_eq!(env["C"], "");
        assert!(
            parse_env(&["NOEQUALS".into()])
                .unwrap_err()
                .to_string()
                .contains("KEY=VALUE")
        );
        assert!(parse_env(&["1A=x".into()]).is_err());
        assert!(
            parse_env(&["A=1".into(), "A=2".into()])
                .unwrap_err()
                .to_string()
                .contains("more than once")
        );
    }
}
