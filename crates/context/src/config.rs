//! The `context:` section of `comet.yaml`.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Deserializer};

/// A commented `context:` section (part of `comet config print-default`).
pub const DEFAULT_SECTION: &str = r#"context:
  # Where entries live: "embedded" (SQLite in <data_dir>/context.db) or a Postgres DSN, which
  # lets several stateless heads share one store.
  store: embedded
  # store: postgres://comet@db.example/comet
  # Entries neither read nor enumerated for twice this long are deleted. Default: never.
  # record_expire_time: 1h
  # Tokens: refuse readToken == writeToken (always), and tokens shorter than this.
  min_token_length: 1
  # The original COMET's rule: at least 8 characters, a digit, a lowercase and an uppercase letter.
  strong_tokens: false
  # Largest body a writeScope accepts, in bytes (larger: 413).
  max_value_size: 1048576
  # Quotas, counting every string an entry stores (ids, tokens, value) in bytes. A write past
  # one is refused with 507 Insufficient Storage, as RFC 4331 answers a quota.
  # Entries one context (slice) may hold.
  max_entries_per_context: 10000
  # Bytes one context may hold.
  max_bytes_per_context: 67108864
  # Bytes the whole store may hold (the embedded store keeps every entry in memory too).
  max_total_bytes: 536870912
  # HTTPS for the whole data-plane HTTP server. With client_ca set, a client certificate signed
  # by it is required to create or delete an entry (reads and updates of existing entries need
  # only the tokens, as VMs have no certificates).
  # tls:
  #   cert: /etc/comet/server.pem
  #   key: /etc/comet/server.key
  #   client_ca: /etc/comet/clients-ca.pem
"#;

/// The context exchange's settings (the `context:` section of `comet.yaml`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContextConfig {
    /// `embedded` (SQLite in `<data_dir>/context.db`) or a Postgres DSN shared by several heads.
    #[serde(default = "default_store")]
    pub store: String,
    /// Entries neither read nor enumerated for twice this long are deleted. Default: never.
    #[serde(default, deserialize_with = "opt_duration")]
    pub record_expire_time: Option<Duration>,
    /// Shortest token accepted. Default 1.
    #[serde(default = "default_min_token_length")]
    pub min_token_length: usize,
    /// The original COMET's rule: 8+ characters, a digit, a lowercase and an uppercase letter.
    #[serde(default)]
    pub strong_tokens: bool,
    /// Largest body a write accepts, in bytes; a larger one is 413. Default 1 MiB.
    #[serde(default = "default_max_value_size")]
    pub max_value_size: usize,
    /// Entries one context may hold; one more is refused with 507. Default 10,000 (a slice of
    /// 1,000 VMs with ten families each).
    #[serde(default = "default_max_entries_per_context")]
    pub max_entries_per_context: u64,
    /// Bytes one context may hold (every string of its entries: ids, tokens, values); a write
    /// past it is refused with 507. Default 64 MiB.
    #[serde(default = "default_max_bytes_per_context")]
    pub max_bytes_per_context: u64,
    /// Bytes the whole store may hold, all contexts together; a write past it is refused with
    /// 507. It bounds the embedded store's memory, which holds every entry. Default 512 MiB.
    #[serde(default = "default_max_total_bytes")]
    pub max_total_bytes: u64,
    /// HTTPS, and client certificates to create or delete entries.
    pub tls: Option<TlsConfig>,
}

impl ContextConfig {
    /// The store's quotas.
    pub fn limits(&self) -> crate::store::Limits {
        crate::store::Limits {
            max_entries_per_context: self.max_entries_per_context,
            max_bytes_per_context: self.max_bytes_per_context,
            max_total_bytes: self.max_total_bytes,
        }
    }
}

impl Default for ContextConfig {
    fn default() -> Self {
        ContextConfig {
            store: default_store(),
            record_expire_time: None,
            min_token_length: default_min_token_length(),
            strong_tokens: false,
            max_value_size: default_max_value_size(),
            max_entries_per_context: default_max_entries_per_context(),
            max_bytes_per_context: default_max_bytes_per_context(),
            max_total_bytes: default_max_total_bytes(),
            tls: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM certificate chain of the server.
    pub cert: PathBuf,
    /// PEM private key of the server.
    pub key: PathBuf,
    /// PEM CA certificates that client certificates must chain to.
    pub client_ca: Option<PathBuf>,
}

fn default_store() -> String {
    "embedded".into()
}

fn default_min_token_length() -> usize {
    1
}

fn default_max_value_size() -> usize {
    1024 * 1024
}

fn default_max_entries_per_context() -> u64 {
    10_000
}

fn default_max_bytes_per_context() -> u64 {
    64 << 20
}

fn default_max_total_bytes() -> u64 {
    512 << 20
}

fn opt_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    let text = String::deserialize(d)?;
    match humantime::parse_duration(&text) {
        Ok(d) if d.is_zero() => Err(serde::de::Error::custom(format!(
            "{text}: must be more than zero (leave it out for no expiry)"
        ))),
        Ok(d) => Ok(Some(d)),
        Err(e) => Err(serde::de::Error::custom(format!("{text}: {e}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct File {
        context: ContextConfig,
    }

    #[test]
    fn the_commented_default_parses() {
        let file: File = serde_yaml::from_str(DEFAULT_SECTION).unwrap();
        assert_eq!(file.context.store, "embedded");
        assert_eq!(file.context.max_value_size, 1024 * 1024);
        // The commented section says what the defaults are.
        let limits = file.context.limits();
        assert_eq!(limits, ContextConfig::default().limits());
        let err = serde_yaml::from_str::<ContextConfig>("stor: x").unwrap_err();
        assert!(err.to_string().contains("stor"));
        let c: ContextConfig = serde_yaml::from_str("record_expire_time: 90s").unwrap();
        assert_eq!(c.record_expire_time, Some(Duration::from_secs(90)));
        assert!(serde_yaml::from_str::<ContextConfig>("record_expire_time: 0s").is_err());
    }
}
