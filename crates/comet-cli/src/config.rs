//! The `comet` binary's settings (`comet.yaml`): built-in defaults < config file < environment <
//! flags. An unknown key in the file is an error that names it (`comet_plumbing::load_file`).
//! The executor never reads them: `comet daemon` turns them into a `LocalConfig`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use comet::ExecutorConfig;

use comet_context::ContextConfig;
use comet_kv::KvConfig;
use comet_plumbing::{FileError, load_file};
use serde::Deserialize;
use thiserror::Error;

/// Where the data-plane HTTP server (KV, metrics) listens when told nothing: loopback only, so a
/// KV without tokens is never exposed by accident. `:8000` means every interface.
pub const DEFAULT_HTTP_ADDR: &str = "127.0.0.1:8000";

/// The commented default file (`comet config print-default`).
pub fn default_file() -> String {
    format!(
        r#"# comet.yaml: every key is optional; environment variables and flags override the file.

# Where Comet keeps its data (KV databases, backups, ingests, function code).
# Env COMET_DATA_DIR, flag --data-dir. Default: $XDG_DATA_HOME/comet or ~/.local/share/comet;
# for `comet daemon --node-id N`, its nodes/N subdirectory, so workers on one host stay apart.
# data_dir: /var/lib/comet

grpc:
  # comet daemon: the DataPlane service Nova calls. ":9090" = every interface.
  # Env COMET_GRPC_ADDR, flag --grpc-addr.
  addr: "127.0.0.1:9090"
  # This worker's name in a cluster. Env COMET_NODE_ID, flag --node-id. Default: the hostname.
  # node_id: worker1
  # A token Nova must present (nova.yaml comet.token). Env COMET_TOKEN. Default: none, so bind
  # loopback or a private network.
  # token: a-long-random-string
  # Nova's store, to accept Nova's API keys on the invoke path: a Postgres DSN (Nova's
  # --pg-dsn) or Nova's SQLite file (<nova data dir>/nova.db), read-only. GetMetrics and
  # ListInvocations then need the read scope; Invoke, Prewarm and Evict admin (they
  # carry the function's code); Health is open. Calls pass until a key exists, unless require_auth or a token is set. Env
  # COMET_API_KEYS_FROM, flag --api-keys-from.
  # api_keys_from: postgres://nova:secret@db.example/nova
  # require_auth: false

pool:
  # How long an idle instance stays warm. Env COMET_IDLE_TTL, flag --idle-ttl.
  idle_ttl: 60s

http:
  # The data-plane HTTP server: KV and context routes, /healthcheck, /metrics (HTTPS when
  # context.tls is set). ":8000" = every interface. `comet kv serve` and `comet context serve`
  # always serve it; `comet daemon` only when an address is given (here, env or flag) or this
  # file has a kv or context section, so several workers can share a host.
  # Env COMET_HTTP_ADDR, flag --http-addr.
  addr: "{DEFAULT_HTTP_ADDR}"
  # When the server listens on loopback, requests whose Host is not localhost, an IP address or
  # one of these names are refused (403): a web page cannot reach it through DNS rebinding.
  allowed_hosts: []
  # Origins (scheme://host:port) whose web pages may call it; any other Origin is refused.
  allowed_origins: []
  # A client must send a request's headers within this time (an idle keep-alive connection is
  # closed after it too).
  header_timeout: 30s
  # Most connections open at once; more are answered 503 and closed.
  max_connections: 4096
  # On shutdown, how long requests in flight get to finish before their connections are closed.
  drain_timeout: 10s

{}
{}"#,
        comet_kv::config::DEFAULT_SECTION,
        comet_context::config::DEFAULT_SECTION
    )
}

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error(transparent)]
    File(#[from] FileError),
    #[error("invalid listen address '{0}': {1}")]
    Addr(String, &'static str),
    #[error("no data directory: set --data-dir or COMET_DATA_DIR (HOME is not set)")]
    NoDataDir,
    #[error("invalid {what} '{value}': {message}")]
    Invalid {
        what: &'static str,
        value: String,
        message: String,
    },
    #[error(transparent)]
    Http(#[from] comet_httpd::InvalidSetting),
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub data_dir: Option<PathBuf>,
    #[serde(default)]
    pub http: comet_httpd::HttpConfig,
    #[serde(default)]
    pub grpc: GrpcSection,
    #[serde(default)]
    pub pool: PoolSection,
    /// The KV service; `None` when the file has no kv section.
    #[serde(default)]
    pub kv: Option<KvConfig>,
    /// The context exchange; `None` when the file has no context section.
    #[serde(default)]
    pub context: Option<ContextConfig>,
}

/// The DataPlane gRPC service of `comet daemon`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrpcSection {
    pub addr: Option<String>,
    /// This worker's name in a cluster.
    pub node_id: Option<String>,
    /// A token Nova must present on every call (its `comet.token`).
    pub token: Option<String>,
    /// Nova's store (Postgres DSN or SQLite path), whose API keys callers may present.
    pub api_keys_from: Option<String>,
    /// Require a credential even before the first API key exists.
    pub require_auth: Option<bool>,
}

pub use comet_plumbing::PoolSection;

/// Environment and flags, already merged by the CLI.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub config_file: Option<PathBuf>,
    pub data_dir: Option<PathBuf>,
    pub http_addr: Option<String>,
    /// `comet daemon`'s node id, when given: without a data directory, it picks the node's own.
    pub node_id: Option<String>,
}

#[derive(Debug)]
pub struct Settings {
    pub data_dir: PathBuf,
    pub http_addr: SocketAddr,
    /// Whether the HTTP data services were asked for: an address given, or a kv or context
    /// section in the file (`comet daemon` serves them only then).
    pub http_wanted: bool,
    /// The HTTP server's timeouts, connection cap and drain.
    pub http_limits: comet_httpd::Limits,
    /// Which Host names (on loopback) and Origins the HTTP server accepts.
    pub http_guard: comet_httpd::GuardConfig,
    /// With the default database and paths filled in.
    pub kv: KvConfig,
    pub context: ContextConfig,
    /// From the file; `comet daemon`'s flags override them.
    pub grpc: GrpcSection,
    pub pool: PoolSection,
}

impl Settings {
    /// How long idle instances stay warm: `flag` (the flag or its environment variable, already
    /// parsed) over the file's `pool.idle_ttl` over the executor's default. The file takes what
    /// the flag takes, and what nova.yaml takes: `60s`, `5m` or plain seconds (`60`).
    pub fn idle_ttl(&self, flag: Option<Duration>) -> Result<Duration, ConfigError> {
        match (flag, &self.pool.idle_ttl) {
            (Some(ttl), _) => Ok(ttl),
            (None, Some(text)) => {
                comet_plumbing::parse_duration(text).map_err(|e| ConfigError::Invalid {
                    what: "pool.idle_ttl",
                    value: text.clone(),
                    message: e.to_string(),
                })
            }
            (None, None) => Ok(ExecutorConfig::default().idle_ttl),
        }
    }

    pub fn resolve(o: &Overrides) -> Result<Settings, ConfigError> {
        let file = match &o.config_file {
            Some(path) => load_file::<FileConfig>(path)?,
            None => FileConfig::default(),
        };
        let data_dir = match (o.data_dir.clone().or(file.data_dir), &o.node_id) {
            (Some(dir), _) => dir,
            (None, Some(node)) => default_data_dir()?.join("nodes").join(node_dir(node)?),
            (None, None) => default_data_dir()?,
        };
        // Absolute, so that a relative `--data-dir` still names it from inside a sandbox.
        let data_dir = std::path::absolute(&data_dir).unwrap_or(data_dir);
        let http_wanted = o.http_addr.is_some()
            || file.http.addr.is_some()
            || file.kv.is_some()
            || file.context.is_some();
        let addr = o
            .http_addr
            .clone()
            .or(file.http.addr.clone())
            .unwrap_or_else(|| DEFAULT_HTTP_ADDR.into());
        let http_addr =
            nova_api::parse_listen_addr(&addr).map_err(|m| ConfigError::Addr(addr.clone(), m))?;
        let http_guard = comet_httpd::GuardConfig {
            // Remote clients reach a server on a routable address by whatever name they use;
            // on loopback, only a browser on this machine can, and a rebound name is an attack.
            check_host: http_addr.ip().is_loopback(),
            ..file.http.guard(&[], &[])
        };
        Ok(Settings {
            http_limits: file.http.limits()?,
            http_guard,
            http_wanted,
            kv: file.kv.unwrap_or_default().with_defaults(&data_dir),
            context: file.context.unwrap_or_default(),
            grpc: file.grpc,
            pool: file.pool,
            data_dir,
            http_addr,
        })
    }
}

/// A node id as a directory name: letters, digits, `.`, `_` and `-`, not starting with `.`.
fn node_dir(node: &str) -> Result<&str, ConfigError> {
    let fine = !node.is_empty()
        && !node.starts_with('.')
        && node.len() <= 128
        && node
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if fine {
        Ok(node)
    } else {
        Err(ConfigError::Invalid {
            what: "node id",
            value: node.to_string(),
            message: "use letters, digits, '.', '_' and '-' (it names the node's data directory)"
                .into(),
        })
    }
}

fn default_data_dir() -> Result<PathBuf, ConfigError> {
    comet_plumbing::default_data_dir("comet").ok_or(ConfigError::NoDataDir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_printed_default_parses_and_flags_win() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("comet.yaml");
        std::fs::write(&file, default_file()).unwrap();
        let settings = Settings::resolve(&Overrides {
            config_file: Some(file.clone()),
            data_dir: Some(dir.path().into()),
            http_addr: Some(":9000".into()),
            node_id: None,
        })
        .unwrap();
        assert_eq!(settings.http_addr.to_string(), "0.0.0.0:9000");
        assert_eq!(settings.kv.databases[0].path, dir.path().join("kv/default"));
        std::fs::write(&file, "http: {adr: x}").unwrap();
        let err = Settings::resolve(&Overrides {
            config_file: Some(file),
            ..Overrides::default()
        })
        .unwrap_err();
        assert!(err.to_string().contains("adr"), "{err}");
    }

    #[test]
    fn the_idle_ttl_takes_seconds_or_a_unit_and_the_flag_wins() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("comet.yaml");
        let resolve = |text: &str| {
            std::fs::write(&file, text).unwrap();
            Settings::resolve(&Overrides {
                config_file: Some(file.clone()),
                data_dir: Some(dir.path().into()),
                ..Overrides::default()
            })
            .unwrap()
        };
        let ttl = |s: &Settings, flag| s.idle_ttl(flag).map_err(|e| e.to_string());
        assert_eq!(ttl(&resolve(""), None), Ok(Duration::from_secs(60)));
        assert_eq!(
            ttl(&resolve("pool: {idle_ttl: 90}"), None),
            Ok(Duration::from_secs(90))
        );
        let s = resolve("pool: {idle_ttl: 2m}");
        assert_eq!(ttl(&s, None), Ok(Duration::from_secs(120)));
        assert_eq!(
            ttl(&s, Some(Duration::from_secs(5))),
            Ok(Duration::from_secs(5))
        );
        let err = ttl(&resolve("pool: {idle_ttl: soon}"), None).unwrap_err();
        assert!(err.starts_with("invalid pool.idle_ttl 'soon': "), "{err}");
        let err = ttl(&resolve("pool: {idle_ttl: 0s}"), None).unwrap_err();
        assert_eq!(err, "invalid pool.idle_ttl '0s': must be more than zero");
    }
}
