//! Nova's settings: built-in defaults < config file < environment < flags.
//!
//! The file (`--config nova.yaml`) is YAML; an unknown key is an error that names it. Flags and
//! the environment variables beside them are read by the CLI (clap); the variables that are
//! settings of their own are read once into an [`Environment`]; both reach [`Settings::resolve`]
//! in [`Overrides`], and nothing below it reads the process environment.

mod asynchronous;
mod environment;
#[cfg(test)]
mod tests;

pub use asynchronous::{AsyncSection, AsyncSettings, FunctionAsync, MAX_DEDUPE_WINDOW};
pub use environment::Environment;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use comet::sandbox::{IsolationConfig, IsolationMode};
use serde::Deserialize;
use thiserror::Error;

/// Where Nova listens when told nothing: loopback only, since the API has no authentication yet.
pub const DEFAULT_HTTP_ADDR: &str = "127.0.0.1:8080";

/// A commented config file with every key at its default (`nova config print-default`).
/// The kv section comes from the KV crate, so both daemons document it the same way.
pub fn default_file() -> String {
    format!(
        "{NOVA_SECTIONS}\n{}\n{}",
        asynchronous::DEFAULT_SECTION,
        comet_kv::config::DEFAULT_SECTION
    )
}

/// Nova's own sections of the default file (kept as YAML beside this file).
const NOVA_SECTIONS: &str = include_str!("config/default.yaml");

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error(transparent)]
    File(#[from] comet_plumbing::FileError),
    #[error("invalid {what} '{value}': {message}")]
    Invalid {
        what: &'static str,
        value: String,
        message: String,
    },
    #[error("no data directory: set --data-dir or NOVA_DATA_DIR (HOME is not set)")]
    NoDataDir,
    #[error(transparent)]
    Http(#[from] comet_httpd::InvalidSetting),
}

/// The config file's shape.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Data directory.
    pub data_dir: Option<PathBuf>,
    #[serde(default)]
    pub http: comet_httpd::HttpConfig,
    #[serde(default)]
    pub pool: PoolSection,
    #[serde(default)]
    pub sandbox: SandboxSection,
    #[serde(default)]
    pub runtimes: RuntimesSection,
    /// Where functions run: in this process (embedded) or on comet daemons (remote).
    #[serde(default)]
    pub comet: CometSection,
    #[serde(default)]
    pub postgres: PostgresSection,
    #[serde(default)]
    pub logs: LogsSection,
    #[serde(default)]
    pub secrets: SecretsSection,
    /// Who may call without an API key.
    #[serde(default)]
    pub auth: AuthSection,
    #[serde(default)]
    pub limits: LimitsSection,
    #[serde(default)]
    pub redis: RedisSection,
    /// The KV service Nova serves embedded (`/databases/...`).
    #[serde(default)]
    pub kv: comet_kv::KvConfig,
    /// Async invocations: attempts, back-off, concurrency.
    #[serde(default, rename = "async")]
    pub async_queue: AsyncSection,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SandboxSection {
    /// auto, required or off.
    pub isolation: Option<String>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub pids_max: Option<u32>,
    pub nofile: Option<u64>,
    pub tmp_size_mb: Option<u32>,
}

pub use comet_plumbing::PoolSection;

/// Redis, shared by several daemons (rate limits today).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisSection {
    /// host:port.
    pub addr: Option<String>,
    pub password: Option<String>,
    pub db: Option<u32>,
}

/// Invocation rate limits: `N/s`, `N/m` or `N/h`, with an optional burst (`100/s:200`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsSection {
    pub per_key: Option<String>,
    pub per_function: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSection {
    /// Let requests without a key through while no key is active, even after keys existed.
    pub allow_anonymous: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretsSection {
    /// A file holding the base64 of 32 random bytes.
    pub master_key_file: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogsSection {
    /// Record invocations at all (default true).
    pub enabled: Option<bool>,
    /// How long invocation records are kept, e.g. `7d`, `12h`.
    pub retention: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostgresSection {
    /// postgres://user:password@host/db; without it, SQLite in the data directory.
    pub dsn: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CometSection {
    /// embedded (default) or remote.
    pub mode: Option<String>,
    /// One comet daemon (standalone mode).
    pub endpoint: Option<String>,
    /// Several (cluster mode).
    #[serde(default)]
    pub endpoints: Vec<String>,
    /// Longest a call to a worker may take beyond the function's own timeout, e.g. `10s`.
    pub timeout: Option<String>,
    /// The token the workers require (their grpc.token). Env NOVA_COMET_TOKEN.
    pub token: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuntimesSection {
    /// Python interpreter.
    pub python: Option<PathBuf>,
    /// comet-agent binary.
    pub agent: Option<PathBuf>,
}

/// Values from the environment or flags (the CLI already merged those two), and the environment
/// variables that have no flag.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    /// Variables that are settings of their own ([`Environment::from_process`] in the CLI; empty
    /// by default, so a test's settings do not depend on the shell it runs in).
    pub env: Environment,
    pub config_file: Option<PathBuf>,
    pub data_dir: Option<PathBuf>,
    pub http_addr: Option<String>,
    pub idle_ttl: Option<String>,
    /// gRPC endpoints of comet daemons (empty: the file's, else embedded).
    pub comet_endpoints: Vec<String>,
    /// Postgres DSN for the store.
    pub pg_dsn: Option<String>,
    /// Redis `host:port` (or URL), password and database number.
    pub redis_addr: Option<String>,
    pub redis_password: Option<String>,
    pub redis_db: Option<u32>,
    /// Require an API key even before the first exists.
    pub require_auth: bool,
    /// Let requests without a key through while no key is active (`--allow-anonymous`).
    pub allow_anonymous: bool,
    /// Host names and origins accepted besides the defaults (flags and env add to the file's).
    pub allowed_hosts: Vec<String>,
    pub allowed_origins: Vec<String>,
}

/// Settings after every source has been applied.
#[derive(Debug, Clone)]
pub struct Settings {
    pub data_dir: PathBuf,
    pub http_addr: SocketAddr,
    pub idle_ttl: Duration,
    pub python: Option<PathBuf>,
    pub agent: Option<PathBuf>,
    pub isolation: IsolationConfig,
    /// With the default database and paths filled in.
    pub kv: comet_kv::KvConfig,
    /// Whether the daemon serves the KV routes embedded: by default with SQLite; with Postgres
    /// (several daemons, maybe on one host and data directory, and a RocksDB database has one
    /// writer process) only when the file names KV databases.
    pub kv_embedded: bool,
    /// Comet daemons to run functions on; empty = the embedded data plane.
    pub comet_endpoints: Vec<String>,
    /// Margin a remote call gets beyond the function's timeout.
    pub comet_timeout: Duration,
    /// The token comet workers require.
    pub comet_token: Option<Hidden>,
    /// The store: Postgres at this DSN, else SQLite in the data directory.
    pub pg_dsn: Option<String>,
    /// How long invocation records are kept.
    pub log_retention: Duration,
    /// Whether invocations are recorded.
    pub logs_enabled: bool,
    /// The secrets' master key given whole (NOVA_MASTER_KEY, base64), over any file.
    pub master_key: Option<Hidden>,
    /// Where the secrets' master key is (default: <data dir>/master.key).
    pub master_key_file: Option<PathBuf>,
    /// Invocations per API key and per function (none: unlimited).
    pub per_key_limit: Option<crate::ratelimit::Limit>,
    pub per_function_limit: Option<crate::ratelimit::Limit>,
    /// `redis://…` when Redis is configured: rate limits are then shared by every daemon on it.
    pub redis_url: Option<String>,
    pub require_auth: bool,
    /// Requests without a key pass while no key is active, even after keys existed.
    pub allow_anonymous: bool,
    /// How the HTTP API serves: timeouts, the connection cap and the drain.
    pub http_limits: comet_httpd::Limits,
    /// Which Host names and Origins the HTTP API accepts.
    pub http_guard: comet_httpd::GuardConfig,
    /// How the daemon runs async invocations.
    pub async_queue: AsyncSettings,
}

impl Settings {
    pub fn resolve(o: &Overrides) -> Result<Settings, ConfigError> {
        let file = match &o.config_file {
            Some(path) => comet_plumbing::load_file::<FileConfig>(path)?,
            None => FileConfig::default(),
        };
        let data_dir = o
            .data_dir
            .clone()
            .or(file.data_dir)
            .map_or_else(default_data_dir, Ok)?;
        // Absolute, so that a relative `--data-dir` still names it from inside a sandbox (whose
        // working directory is elsewhere).
        let data_dir = std::path::absolute(&data_dir).unwrap_or(data_dir);
        let addr = o
            .http_addr
            .clone()
            .or(file.http.addr.clone())
            .unwrap_or_else(|| DEFAULT_HTTP_ADDR.to_string());
        let idle_ttl = match o.idle_ttl.clone().or(file.pool.idle_ttl) {
            Some(ttl) => parse_duration("idle TTL", &ttl)?,
            None => comet::ExecutorConfig::default().idle_ttl,
        };
        let comet_endpoints = comet_endpoints(o, &file.comet)?;
        let comet_timeout = match &file.comet.timeout {
            Some(t) => parse_duration("comet.timeout", t)?,
            None => Duration::from_secs(10),
        };
        let pg_dsn = o.pg_dsn.clone().or(file.postgres.dsn.clone());
        let kv_embedded = pg_dsn.is_none() || !file.kv.databases.is_empty();
        let log_retention = match &file.logs.retention {
            Some(r) => parse_duration("logs.retention", r)?,
            None => Duration::from_secs(7 * 86_400),
        };
        let limit = |what: &'static str, text: &Option<String>| match text {
            Some(t) => crate::ratelimit::Limit::parse(t)
                .map(Some)
                .map_err(|message| ConfigError::Invalid {
                    what,
                    value: t.clone(),
                    message,
                }),
            None => Ok(None),
        };
        let redis_url = redis_url(o, &file.redis)?;
        let http_limits = file.http.limits()?;
        let http_guard = comet_httpd::GuardConfig {
            check_host: true,
            json_bodies: true,
            // The KV routes store opaque bytes with their own content type.
            raw_body_prefixes: vec!["/databases/".into()],
            ..file.http.guard(&o.allowed_hosts, &o.allowed_origins)
        };
        Ok(Settings {
            async_queue: file.async_queue.resolve()?,
            http_limits,
            http_guard,
            comet_token: o
                .env
                .comet_token
                .clone()
                .or(file.comet.token.clone())
                .map(Hidden),
            require_auth: o.require_auth,
            allow_anonymous: allow_anonymous(o, &file.auth)?,
            redis_url,
            logs_enabled: file.logs.enabled.unwrap_or(true),
            per_key_limit: limit("limits.per_key", &file.limits.per_key)?,
            per_function_limit: limit("limits.per_function", &file.limits.per_function)?,
            master_key: o.env.master_key.clone().map(Hidden),
            master_key_file: o
                .env
                .master_key_file
                .clone()
                .or(file.secrets.master_key_file.clone()),
            log_retention,
            pg_dsn,
            comet_endpoints,
            comet_timeout,
            kv_embedded,
            kv: file.kv.with_defaults(&data_dir),
            data_dir,
            http_addr: parse_addr(&addr)?,
            idle_ttl,
            python: o.env.python.clone().or(file.runtimes.python),
            agent: o.env.agent.clone().or(file.runtimes.agent),
            isolation: isolation(&o.env, file.sandbox)?,
        })
    }

    pub fn database_path(&self) -> PathBuf {
        self.data_dir.join("nova.db")
    }
}

/// `--allow-anonymous` over `NOVA_ALLOW_ANONYMOUS` (true/false, 1/0) over `auth.allow_anonymous`.
fn allow_anonymous(o: &Overrides, file: &AuthSection) -> Result<bool, ConfigError> {
    if o.allow_anonymous {
        return Ok(true);
    }
    match o.env.allow_anonymous.clone() {
        Some(v) => match v.trim().to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" | "on" => Ok(true),
            "0" | "false" | "no" | "off" => Ok(false),
            _ => Err(ConfigError::Invalid {
                what: "NOVA_ALLOW_ANONYMOUS",
                value: v,
                message: "use true or false".into(),
            }),
        },
        None => Ok(file.allow_anonymous.unwrap_or(false)),
    }
}

/// Where Redis is, as a URL: flags (and their env) over the bare environment over the file.
fn redis_url(o: &Overrides, file: &RedisSection) -> Result<Option<String>, ConfigError> {
    let Some(addr) = o
        .redis_addr
        .clone()
        .or_else(|| o.env.redis_addr.clone())
        .or(file.addr.clone())
    else {
        return Ok(None);
    };
    if addr.starts_with("redis://") || addr.starts_with("rediss://") {
        if o.redis_password.is_some() || o.redis_db.is_some() {
            return Err(ConfigError::Invalid {
                what: "--redis",
                value: "a redis:// URL".into(),
                message: "give the password and database inside the URL, or give --redis as \
                          host:port with --redis-pass and --redis-db"
                    .into(),
            });
        }
        return Ok(Some(addr));
    }
    let env_db = match o.env.redis_db.clone() {
        Some(text) => Some(text.parse().map_err(|_| ConfigError::Invalid {
            what: "NOVA_REDIS_DB",
            value: text.clone(),
            message: "a database number, e.g. 0".into(),
        })?),
        None => None,
    };
    let db: u32 = o.redis_db.or(env_db).or(file.db).unwrap_or(0);
    let password = o
        .redis_password
        .clone()
        .or_else(|| o.env.redis_password.clone())
        .or(file.password.clone());
    let auth = password
        .map(|p| format!(":{}@", percent_encode(&p)))
        .unwrap_or_default();
    Ok(Some(format!("redis://{auth}{addr}/{db}")))
}

/// `text` as it may stand in a URL (a password, a query value): unreserved bytes as they are,
/// the rest percent-encoded.
pub fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Flags and env win over the file; the file's `mode: embedded` ignores its endpoints.
fn comet_endpoints(o: &Overrides, section: &CometSection) -> Result<Vec<String>, ConfigError> {
    if !o.comet_endpoints.is_empty() {
        return Ok(o.comet_endpoints.clone());
    }
    let listed: Vec<String> = section
        .endpoint
        .iter()
        .chain(&section.endpoints)
        .cloned()
        .collect();
    match section.mode.as_deref() {
        Some("embedded") => Ok(Vec::new()),
        None => Ok(listed),
        Some("remote") if listed.is_empty() => Err(ConfigError::Invalid {
            what: "comet.mode",
            value: "remote".into(),
            message: "needs comet.endpoint or comet.endpoints".into(),
        }),
        Some("remote") => Ok(listed),
        Some(other) => Err(ConfigError::Invalid {
            what: "comet.mode",
            value: other.into(),
            message: "use embedded or remote".into(),
        }),
    }
}

fn isolation(env: &Environment, s: SandboxSection) -> Result<IsolationConfig, ConfigError> {
    let d = IsolationConfig::default();
    let mode = match env.isolation.clone().or(s.isolation) {
        Some(m) => m
            .parse::<IsolationMode>()
            .map_err(|message| ConfigError::Invalid {
                what: "isolation mode",
                value: m,
                message,
            })?,
        None => d.mode,
    };
    Ok(IsolationConfig {
        mode,
        uid: s.uid.unwrap_or(d.uid),
        gid: s.gid.unwrap_or(d.gid),
        pids_max: s.pids_max.unwrap_or(d.pids_max),
        nofile: s.nofile.unwrap_or(d.nofile),
        tmp_size_mb: s.tmp_size_mb.unwrap_or(d.tmp_size_mb),
        ..d
    })
}

/// A setting that must not show in logs or `Debug` output (a token, a key).
#[derive(Clone, PartialEq, Eq)]
pub struct Hidden(pub String);

impl Hidden {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Hidden {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<hidden>")
    }
}

fn default_data_dir() -> Result<PathBuf, ConfigError> {
    comet_plumbing::default_data_dir("nova").ok_or(ConfigError::NoDataDir)
}

/// `:8080` (every interface), `localhost:8080`, `127.0.0.1:8080`, `[::1]:8080`.
pub fn parse_addr(addr: &str) -> Result<SocketAddr, ConfigError> {
    nova_api::parse_listen_addr(addr).map_err(|message| ConfigError::Invalid {
        what: "listen address",
        value: addr.to_string(),
        message: message.to_string(),
    })
}

/// `60s`, `500ms`, `5m`, or plain seconds (`60`); never zero (`comet_plumbing::parse_duration`,
/// which `comet daemon` uses too). `what` names the setting in the error.
pub fn parse_duration(what: &'static str, value: &str) -> Result<Duration, ConfigError> {
    comet_plumbing::parse_duration(value).map_err(|e| ConfigError::Invalid {
        what,
        value: value.to_string(),
        message: e.to_string(),
    })
}
