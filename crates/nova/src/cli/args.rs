//! Every command and flag of `nova`, with the help text users see.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "nova",
    version,
    about = "Nova: serverless functions on your own machine",
    long_about = "Nova registers functions and runs them in warm, reusable instances.\n\n\
        Commands talk to the daemon at --url when one answers there; otherwise they use the local \
        store in --data-dir directly (and `invoke` runs the function once, as a cold start).",
    after_help = "Examples:\n  \
        nova register hello -r python -c examples/python/hello.py\n  \
        nova invoke hello -p '{\"name\": \"World\"}'\n  \
        nova invoke hello:1          (version 1 of hello)\n  \
        nova invoke hello:live       (the version alias live points at)\n  \
        nova daemon --http 127.0.0.1:8080 --idle-ttl 60s"
)]
pub struct Cli {
    /// Configuration file (YAML; see `nova config print-default`).
    #[arg(long, global = true, env = "NOVA_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Data directory holding nova.db and instance files [default: ~/.local/share/nova].
    #[arg(long, global = true, env = "NOVA_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Keep functions in Postgres instead of the embedded SQLite file, so several daemons share
    /// them (postgres://user:password@host/db).
    #[arg(long, global = true, env = "NOVA_PG_DSN", value_name = "DSN")]
    pub pg_dsn: Option<String>,
    /// Redis (host:port, or a redis:// URL) shared by several daemons: rate limits hold across
    /// them and function changes reach every daemon's cache.
    #[arg(long, global = true, env = "NOVA_REDIS_ADDR", value_name = "ADDR")]
    pub redis: Option<String>,
    /// Password for --redis.
    #[arg(
        long,
        global = true,
        env = "NOVA_REDIS_PASSWORD",
        value_name = "PASSWORD",
        hide_env_values = true
    )]
    pub redis_pass: Option<String>,
    /// Database number for --redis [default: 0].
    #[arg(long, global = true, env = "NOVA_REDIS_DB", value_name = "N")]
    pub redis_db: Option<u32>,
    /// API key for a daemon that requires one (sent as a bearer token).
    #[arg(
        long,
        global = true,
        env = "NOVA_API_KEY",
        value_name = "KEY",
        hide_env_values = true
    )]
    pub api_key: Option<String>,

    /// URL of a running Nova daemon.
    #[arg(
        long,
        global = true,
        env = "NOVA_URL",
        default_value = "http://127.0.0.1:8080"
    )]
    pub url: String,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Register a new function.
    Register(RegisterArgs),
    /// Change settings or code of a function (creates a new version).
    Update(UpdateArgs),
    /// List functions.
    List(ListArgs),
    /// Show one function, or one of its versions (--version).
    Get(GetArgs),
    /// Publish the function as it is now as a version, with a description.
    #[command(
        long_about = "Publish the function as it is now as a version, with a description.\n\n\
            Every register and every update already records a new version (numbered like the \
            function's `version`), so publishing never copies one: it gives the newest version \
            the description if it has none yet, and prints that version either way. Run an old \
            version with `nova invoke NAME:N`; `$LATEST` (the default) is the newest."
    )]
    Publish(PublishArgs),
    /// List a function's versions, newest first (every change of code or settings is one).
    Versions(VersionsArgs),
    /// Manage aliases: names that point at a version (live -> 3), optionally sending a share of
    /// the calls to a second version (a canary). Invoke one as NAME:ALIAS.
    #[command(
        subcommand,
        long_about = "Manage aliases: names that point at a version of a function.\n\n\
            Callers invoke NAME:ALIAS (over HTTP ?qualifier=ALIAS or the X-Nova-Qualifier \
            header); moving the alias with `nova alias set` moves them all. With \
            --weight M=PCT the alias sends PCT percent of the calls to version M and the rest \
            to --version, for canaries; each invocation prints the version that ran.\n\n\
            An alias points only at versions that exist (see `nova versions NAME`), and a \
            version an alias points at is kept with its code. Alias names use the characters \
            of function names and are never only digits (those are version numbers) nor \
            $LATEST. Deleting the function deletes its aliases.",
        after_help = "Examples:\n  \
            nova alias set hello live --version 3\n  \
            nova alias set hello live --version 3 --weight 4=10   (10 % to version 4)\n  \
            nova invoke hello:live\n  \
            nova alias list hello\n  \
            nova alias delete hello live"
    )]
    Alias(AliasCommand),
    /// Call a function on a cron schedule, through the async queue.
    #[command(
        subcommand,
        long_about = "Call a function on a cron schedule. Each tick is an async invocation \
            (retried like any other); with several daemons on one Postgres each tick fires \
            exactly once, and ticks missed while no daemon ran fire once, not once each.\n\n\
            Expressions: 5 fields (minute hour day month weekday), 6 with seconds first, \
            @every 30s, @hourly, @daily, @weekly, @monthly, @yearly; --timezone reads the \
            fields in an IANA zone (UTC by default).",
        after_help = "Examples:\n  \
            nova schedule create hello --cron '*/5 * * * *' --payload '{\"n\": 1}'\n  \
            nova schedule create hello --cron '0 9 * * 1-5' --timezone Europe/Berlin\n  \
            nova schedule list hello\n  \
            nova schedule pause hello ID"
    )]
    Schedule(ScheduleCommand),
    /// Delete a function and stop its instances.
    Delete(NameArg),
    /// Invoke a function and print its result (with --async: queue the call, print its id).
    Invoke(InvokeArgs),
    /// Async invocations: show one, list them, retry a dead-lettered one; a function's async
    /// settings and destinations (config).
    #[command(subcommand)]
    Async(super::asynchronous::AsyncCommand),
    /// Show a function's recent invocations (kept by the daemon for logs.retention).
    Logs(LogsArgs),
    /// Manage API keys: once one exists, the HTTP API requires a key.
    #[command(subcommand)]
    Apikey(ApikeyCommand),
    /// Manage secrets, which function env refers to as $SECRET:name.
    #[command(subcommand)]
    Secret(SecretCommand),
    /// Run the Nova daemon: HTTP API, warm pools, pre-warming.
    Daemon(DaemonArgs),
    /// Packages of classes and functions (seed 004): check a package file.
    #[command(subcommand)]
    Package(PackageCommand),
    /// Work with configuration files.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Print the version.
    Version,
}

#[derive(Debug, Subcommand)]
pub enum PackageCommand {
    /// Read a package file (YAML or JSON; an oaas-rs package with our provision_config) and
    /// report every problem with its path, the code files it names included. Needs no daemon.
    #[command(after_help = "Example:\n  nova package check -f examples/objects/package.yaml")]
    Check {
        /// The package file.
        #[arg(short, long)]
        file: std::path::PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print a commented nova.yaml with every default.
    PrintDefault,
}

#[derive(Debug, Args)]
pub struct NameArg {
    /// Function name.
    pub name: String,
}

/// Settings shared by register and update. Numbers are signed so a negative value gets a clear
/// message rather than a parse error.
#[derive(Debug, Args)]
pub struct SettingsArgs {
    /// Handler: for python, module.function (the function takes event[, context]).
    #[arg(short = 'H', long)]
    pub handler: Option<String>,
    /// Memory limit in MB [default: 128].
    #[arg(short, long, allow_negative_numbers = true)]
    pub memory: Option<i64>,
    /// Timeout of one invocation, in seconds [default: 30].
    #[arg(short, long, allow_negative_numbers = true)]
    pub timeout: Option<i64>,
    /// Instances kept warm at all times [default: 0].
    #[arg(long, allow_negative_numbers = true)]
    pub min_replicas: Option<i64>,
    /// Most instances at once; 0 = unlimited [default: 0].
    #[arg(long, allow_negative_numbers = true)]
    pub max_replicas: Option<i64>,
    /// Virtual CPUs, 1-32 [default: 1].
    #[arg(long, allow_negative_numbers = true)]
    pub vcpus: Option<i64>,
    /// Disk operations per second; 0 = unlimited.
    #[arg(long, allow_negative_numbers = true)]
    pub disk_iops: Option<i64>,
    /// Disk bandwidth in bytes/s; 0 = unlimited.
    #[arg(long, allow_negative_numbers = true)]
    pub disk_bandwidth: Option<i64>,
    /// Inbound network bandwidth in bytes/s; 0 = unlimited.
    #[arg(long, allow_negative_numbers = true)]
    pub net_rx_bandwidth: Option<i64>,
    /// Outbound network bandwidth in bytes/s; 0 = unlimited.
    #[arg(long, allow_negative_numbers = true)]
    pub net_tx_bandwidth: Option<i64>,
    /// Environment variable KEY=VALUE for the function (repeatable).
    #[arg(short, long = "env", value_name = "KEY=VALUE")]
    pub env: Vec<String>,
    /// process: a fresh handler process per call; persistent: one long-lived process per instance.
    #[arg(long, value_enum)]
    pub mode: Option<ModeArg>,
    /// none: loopback only (default); host: the host's network.
    #[arg(long, value_enum)]
    pub network: Option<NetworkArg>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum NetworkArg {
    None,
    Host,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ModeArg {
    Process,
    Persistent,
}

#[derive(Debug, Args)]
pub struct RegisterArgs {
    /// Function name: letters, digits, '-' and '_'.
    pub name: String,
    /// Runtime: python, go, rust or wasm.
    #[arg(short, long)]
    pub runtime: String,
    /// Code file: a Python source file, or an executable for go/rust.
    #[arg(short, long, value_name = "FILE")]
    pub code: PathBuf,
    #[command(flatten)]
    pub settings: SettingsArgs,
}

#[derive(Debug, Args)]
pub struct UpdateArgs {
    /// Function name.
    pub name: String,
    /// New runtime.
    #[arg(short, long)]
    pub runtime: Option<String>,
    /// New code file.
    #[arg(short, long, value_name = "FILE")]
    pub code: Option<PathBuf>,
    /// Remove every environment variable before applying --env.
    #[arg(long)]
    pub clear_env: bool,
    #[command(flatten)]
    pub settings: SettingsArgs,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum Output {
    Table,
    Json,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only names containing this text.
    #[arg(long)]
    pub search: Option<String>,
    /// Output format.
    #[arg(short, long, value_enum, default_value = "table")]
    pub output: Output,
}

#[derive(Debug, Args)]
pub struct GetArgs {
    /// Function name.
    pub name: String,
    /// Show this version (a number, as `nova versions` lists them) rather than the function as
    /// it is now.
    #[arg(long, value_name = "N")]
    pub version: Option<u64>,
    /// Output format.
    #[arg(short, long, value_enum, default_value = "table")]
    pub output: Output,
}

#[derive(Debug, Args)]
pub struct PublishArgs {
    /// Function name.
    pub name: String,
    /// What this version is (at most 256 characters); kept if the version already has one.
    #[arg(short, long, default_value = "")]
    pub description: String,
    /// Output format.
    #[arg(short, long, value_enum, default_value = "table")]
    pub output: Output,
}

#[derive(Debug, Args)]
pub struct VersionsArgs {
    /// Function name.
    pub name: String,
    /// Output format.
    #[arg(short, long, value_enum, default_value = "table")]
    pub output: Output,
}

#[derive(Debug, Subcommand)]
pub enum AliasCommand {
    /// Create an alias or move it to other versions.
    Set {
        /// Function name.
        name: String,
        /// Alias name (letters, digits, '-', '_'; not only digits, not $LATEST).
        alias: String,
        /// The version that takes the calls (the rest, with --weight).
        #[arg(long, value_name = "N")]
        version: u64,
        /// A second version M taking PCT percent of the calls (0 < PCT < 100), for canaries.
        #[arg(long, value_name = "M=PCT")]
        weight: Option<String>,
        /// What the alias is for (at most 256 characters) [default: the alias's own, if it
        /// exists].
        #[arg(short, long)]
        description: Option<String>,
        /// Output format.
        #[arg(short, long, value_enum, default_value = "table")]
        output: Output,
    },
    /// List a function's aliases.
    List {
        /// Function name.
        name: String,
        /// Output format.
        #[arg(short, long, value_enum, default_value = "table")]
        output: Output,
    },
    /// Show one alias.
    Get {
        /// Function name.
        name: String,
        /// Alias name.
        alias: String,
        /// Output format.
        #[arg(short, long, value_enum, default_value = "table")]
        output: Output,
    },
    /// Delete an alias (its versions stay).
    Delete {
        /// Function name.
        name: String,
        /// Alias name.
        alias: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum ScheduleCommand {
    /// Create a schedule.
    Create {
        /// Function name.
        name: String,
        /// The cron expression.
        #[arg(long, value_name = "EXPR")]
        cron: String,
        /// The payload of every call (JSON) [default: {}].
        #[arg(long, value_name = "JSON")]
        payload: Option<String>,
        /// The IANA zone the fields are read in [default: UTC].
        #[arg(long, value_name = "TZ")]
        timezone: Option<String>,
        /// The version (a number) or alias each call runs [default: $LATEST].
        #[arg(long, value_name = "QUALIFIER")]
        qualifier: Option<String>,
        /// Output format.
        #[arg(short, long, value_enum, default_value = "table")]
        output: Output,
    },
    /// List a function's schedules with their last and next fire times.
    List {
        /// Function name.
        name: String,
        /// Output format.
        #[arg(short, long, value_enum, default_value = "table")]
        output: Output,
    },
    /// Pause a schedule.
    Pause {
        /// Function name.
        name: String,
        /// Schedule id.
        id: String,
    },
    /// Resume a paused schedule (from its next tick).
    Resume {
        /// Function name.
        name: String,
        /// Schedule id.
        id: String,
    },
    /// Delete a schedule.
    Delete {
        /// Function name.
        name: String,
        /// Schedule id.
        id: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum SecretCommand {
    /// Set a secret; the value is read from standard input unless --value is given (which
    /// leaves it in your shell history).
    Set {
        name: String,
        #[arg(long)]
        value: Option<String>,
    },
    /// Print a secret's value.
    Get { name: String },
    /// List secrets (names and times, never values).
    List,
    /// Delete a secret.
    Delete { name: String },
}

#[derive(Debug, Subcommand)]
pub enum ApikeyCommand {
    /// Create a key and print it (this is the only time it is shown).
    Create {
        /// A name for the key.
        name: String,
        /// What it may do: read, invoke, admin (comma-separated; admin includes the others).
        #[arg(long, value_delimiter = ',', default_value = "read,invoke")]
        scopes: Vec<String>,
        /// Lifetime, e.g. 30d, 12h [default: no expiry].
        #[arg(long)]
        expires: Option<String>,
    },
    /// List keys (never their secrets).
    List {
        #[arg(short, long, value_enum, default_value = "table")]
        output: Output,
    },
    /// Revoke a key: it stops working at once here, within seconds on daemons sharing the store.
    Revoke { name: String },
    /// Delete a key's record.
    Delete { name: String },
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// Function name.
    pub name: String,
    /// How many of the newest invocations to show (1-1000).
    #[arg(long, default_value_t = 20)]
    pub tail: u32,
    /// Show only this request.
    #[arg(long)]
    pub request_id: Option<String>,
    /// Output format.
    #[arg(short, long, value_enum, default_value = "table")]
    pub output: Output,
}

#[derive(Debug, Args)]
pub struct InvokeArgs {
    /// Function name, or NAME:VERSION for one of its versions (NAME:$LATEST, the default, is
    /// the newest), or NAME:ALIAS for the version an alias sends the call to.
    #[arg(value_name = "NAME[:VERSION]")]
    pub name: String,
    /// The JSON event.
    #[arg(short, long, default_value = "{}", conflicts_with = "payload_file")]
    pub payload: String,
    /// Read the JSON event from a file ('-' for stdin).
    #[arg(long, value_name = "FILE")]
    pub payload_file: Option<PathBuf>,
    /// Queue the call and print its id; a daemon runs it, retrying a failure (`nova async get`).
    #[arg(long = "async")]
    pub asynchronous: bool,
    /// With --async: a second call with this key within the dedupe window
    /// (async.dedupe_window, 24h by default) gets the first one's id instead of running again.
    #[arg(long, requires = "asynchronous", value_name = "KEY")]
    pub idempotency_key: Option<String>,
    /// Output format: table prints Request ID, Cold Start, Duration and Output.
    #[arg(short, long, value_enum, default_value = "table")]
    pub output: Output,
}

#[derive(Debug, Args)]
pub struct DaemonArgs {
    /// Listen address of the HTTP API [default: 127.0.0.1:8080; ":8080" = every interface].
    #[arg(long, env = "NOVA_HTTP_ADDR", value_name = "ADDR")]
    pub http: Option<String>,
    /// How long idle instances stay warm, e.g. 60s, 5m [default: 60s].
    #[arg(long, env = "NOVA_IDLE_TTL", value_name = "DURATION")]
    pub idle_ttl: Option<String>,
    /// Require an API key on every request even before the first key exists.
    #[arg(long, env = "NOVA_REQUIRE_AUTH")]
    pub require_auth: bool,
    /// Let requests without an API key through while no key is active, even though keys existed
    /// (all expired, revoked or deleted): to get back in. Without it the API stays closed once a
    /// key has existed [config: auth.allow_anonymous].
    #[arg(long, env = "NOVA_ALLOW_ANONYMOUS", conflicts_with = "require_auth")]
    pub allow_anonymous: bool,
    /// A host name the API answers to besides localhost and IP addresses (repeatable; "*": any).
    /// Requests with any other Host are refused, which keeps web pages out through DNS rebinding.
    #[arg(
        long = "allowed-host",
        env = "NOVA_ALLOWED_HOSTS",
        value_name = "NAME",
        value_delimiter = ','
    )]
    pub allowed_hosts: Vec<String>,
    /// An origin (scheme://host:port) whose web pages may call the API besides its own
    /// (repeatable); requests from any other Origin are refused.
    #[arg(
        long = "allowed-origin",
        env = "NOVA_ALLOWED_ORIGINS",
        value_name = "ORIGIN",
        value_delimiter = ','
    )]
    pub allowed_origins: Vec<String>,
    /// Run functions on a comet daemon over gRPC instead of in this process (standalone mode).
    #[arg(
        long,
        env = "NOVA_COMET_ENDPOINT",
        value_name = "HOST:PORT",
        conflicts_with = "comet_endpoints"
    )]
    pub comet_endpoint: Option<String>,
    /// Run functions on several comet daemons (cluster mode): warm workers first, then the least
    /// loaded; workers that stop answering are taken out and their calls retried elsewhere.
    #[arg(
        long,
        env = "NOVA_COMET_ENDPOINTS",
        value_name = "A,B,C",
        value_delimiter = ','
    )]
    pub comet_endpoints: Vec<String>,
}
