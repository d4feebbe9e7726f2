//! The KV service's configuration: the `kv:` section of `comet.yaml` (and of `nova.yaml`, where
//! Nova serves the same routes embedded). Unknown keys are errors that name the key.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Deserializer};

use crate::auth::Scope;

/// Largest value a `PUT` accepts unless configured otherwise: 16 MiB.
pub const DEFAULT_MAX_VALUE_SIZE: usize = 16 * 1024 * 1024;

/// The name of the database created when none is configured.
pub const DEFAULT_DATABASE: &str = "default";

/// A commented `kv:` section with every key explained (part of `comet config print-default`).
pub const DEFAULT_SECTION: &str = r#"kv:
  # Databases served under /databases/{name}. With none listed, one read-write database named
  # "default" lives in <data_dir>/kv/default.
  # databases:
  #   - name: users
  #     path: /var/lib/comet/users
  #     mode: read-write        # read-write | read-only | secondary
  #     sync_writes: false      # fsync the WAL before acknowledging a write
  #     block_cache_mb: 256
  #   - name: users-replica
  #     path: /var/lib/comet/users-secondary   # the secondary's own directory
  #     mode: secondary
  #     primary: /var/lib/comet/users
  #     catch_up_interval: 5s   # also catch up on this interval (on demand always works)
  #   - name: features
  #     path: /var/lib/comet/features
  #     puller:                 # ingest <base>_<n> folders that carry a _SUCCESS marker
  #       source: /mnt/exports  # a directory, or file:///... (object store URL)
  #       base: features
  #       schedule: "0 */5 * * * *"   # cron with seconds; omit for on-demand only
  #       retries: 3
  # Checkpoints are written under backup_path, ingests read from under ingest_path.
  # Default: <data_dir>/kv-backups and <data_dir>/kv-ingest.
  # backup_path: /var/backups/comet
  # ingest_path: /var/lib/comet/ingest
  # Bearer tokens and their scopes (kv-read, kv-write, admin). With none, every route is open
  # and the server says so loudly at start. A token may come from the environment instead.
  # tokens:
  #   - name: app
  #     token_env: COMET_KV_APP_TOKEN
  #     scopes: [kv-read, kv-write]
  #   - name: operator
  #     token: "change-me-to-a-long-random-string"
  #     scopes: [admin]
  # Largest value a PUT accepts (bytes); larger bodies get 413.
  max_value_size: 16777216
"#;

/// The `kv:` section.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KvConfig {
    #[serde(default)]
    pub databases: Vec<DatabaseConfig>,
    pub backup_path: Option<PathBuf>,
    pub ingest_path: Option<PathBuf>,
    #[serde(default)]
    pub tokens: Vec<TokenConfig>,
    pub max_value_size: Option<usize>,
}

/// How a database is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DbMode {
    #[default]
    ReadWrite,
    ReadOnly,
    /// Follows a primary opened by another process; sees its writes after a catch-up.
    Secondary,
}

impl DbMode {
    pub fn as_str(self) -> &'static str {
        match self {
            DbMode::ReadWrite => "read-write",
            DbMode::ReadOnly => "read-only",
            DbMode::Secondary => "secondary",
        }
    }
}

/// One database.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseConfig {
    pub name: String,
    pub path: PathBuf,
    #[serde(default)]
    pub mode: DbMode,
    /// The primary's path (secondary only).
    pub primary: Option<PathBuf>,
    /// Catch up with the primary on this interval too (secondary only).
    #[serde(default, deserialize_with = "opt_duration")]
    pub catch_up_interval: Option<Duration>,
    /// fsync the WAL before a write is acknowledged.
    #[serde(default)]
    pub sync_writes: bool,
    /// Size of this database's block cache.
    pub block_cache_mb: Option<usize>,
    pub puller: Option<PullerConfig>,
}

/// Where a database pulls its bulk loads from.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PullerConfig {
    /// A local directory, or an object store URL (`file:///…`, `memory:///`).
    pub source: String,
    /// Folders are named `<base>_<n>`.
    pub base: String,
    /// Cron expression with seconds (`sec min hour day month weekday`); none = on demand only.
    pub schedule: Option<String>,
    /// Attempts per folder and run before the run stops (the next run tries again).
    #[serde(default = "default_retries")]
    pub retries: u32,
    #[serde(default = "default_retry_backoff", deserialize_with = "duration")]
    pub retry_backoff: Duration,
}

fn default_retries() -> u32 {
    3
}

fn default_retry_backoff() -> Duration {
    Duration::from_secs(1)
}

/// One bearer token.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenConfig {
    /// A label for logs (never the token itself).
    pub name: String,
    pub token: Option<String>,
    /// Read the token from this environment variable instead.
    pub token_env: Option<String>,
    pub scopes: Vec<Scope>,
}

impl KvConfig {
    /// Fills what the file left out: the default database, backup and ingest paths.
    pub fn with_defaults(mut self, data_dir: &Path) -> KvConfig {
        if self.databases.is_empty() {
            self.databases.push(DatabaseConfig {
                name: DEFAULT_DATABASE.into(),
                path: data_dir.join("kv").join(DEFAULT_DATABASE),
                mode: DbMode::ReadWrite,
                primary: None,
                catch_up_interval: None,
                sync_writes: false,
                block_cache_mb: None,
                puller: None,
            });
        }
        self.backup_path
            .get_or_insert_with(|| data_dir.join("kv-backups"));
        self.ingest_path
            .get_or_insert_with(|| data_dir.join("kv-ingest"));
        self
    }

    pub fn max_value_size(&self) -> usize {
        self.max_value_size.unwrap_or(DEFAULT_MAX_VALUE_SIZE)
    }
}

fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(d)?;
    humantime::parse_duration(&text).map_err(|e| serde::de::Error::custom(format!("{text}: {e}")))
}

fn opt_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    duration(d).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct File {
        kv: KvConfig,
    }

    #[test]
    fn the_commented_default_parses() {
        let file: File = serde_yaml::from_str(DEFAULT_SECTION).unwrap();
        assert_eq!(file.kv.max_value_size(), DEFAULT_MAX_VALUE_SIZE);
        let kv = file.kv.with_defaults(Path::new("/data"));
        assert_eq!(kv.databases[0].path, Path::new("/data/kv/default"));
        assert_eq!(
            kv.backup_path.as_deref(),
            Some(Path::new("/data/kv-backups"))
        );
    }

    #[test]
    fn a_full_section_parses() {
        let yaml = r#"
databases:
  - {name: a, path: /a, mode: secondary, primary: /p, catch_up_interval: 5s}
  - {name: b, path: /b, puller: {source: /src, base: ex, schedule: "*/5 * * * * *"}}
tokens:
  - {name: t, token: x, scopes: [kv-read, admin]}
"#;
        let kv: KvConfig = serde_yaml::from_str(yaml).unwrap();
        assert_eq!(kv.databases[0].mode, DbMode::Secondary);
        assert_eq!(
            kv.databases[0].catch_up_interval,
            Some(Duration::from_secs(5))
        );
        assert_eq!(kv.databases[1].puller.as_ref().unwrap().retries, 3);
        assert_eq!(kv.tokens[0].scopes, vec![Scope::KvRead, Scope::Admin]);
    }

    #[test]
    fn unknown_keys_and_modes_are_named() {
        let err = serde_yaml::from_str::<KvConfig>("databses: []").unwrap_err();
        assert!(err.to_string().contains("databses"), "{err}");
        let err = serde_yaml::from_str::<KvConfig>("databases: [{name: a, path: /a, mode: rw}]")
            .unwrap_err();
        assert!(err.to_string().contains("rw"), "{err}");
    }
}
