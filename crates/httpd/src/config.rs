//! The `http:` section of `nova.yaml` and `comet.yaml`: where a server listens and how it serves.
//! One shape for both files, so both daemons take the same keys with the same meaning.

use std::time::Duration;

use serde::Deserialize;
use thiserror::Error;

use crate::{GuardConfig, Limits};

/// The `http:` section. Every key is optional; defaults are [`Limits::default`] and no extra
/// hosts or origins.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// Listen address, e.g. `127.0.0.1:8080` or `:8080` (every interface).
    pub addr: Option<String>,
    /// Host names accepted besides localhost and IP literals (`*`: any).
    #[serde(default)]
    pub allowed_hosts: Vec<String>,
    /// Origins accepted besides the server's own, e.g. `https://console.example` (`*`: any).
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    /// Longest a client may take to send a request's headers, e.g. `30s`.
    pub header_timeout: Option<String>,
    /// Most connections open at once.
    pub max_connections: Option<usize>,
    /// How long requests in flight get on shutdown, e.g. `10s`.
    pub drain_timeout: Option<String>,
}

/// A setting of the section that cannot be used.
#[derive(Debug, Error)]
#[error("invalid http.{key} '{value}': {message}")]
pub struct InvalidSetting {
    pub key: &'static str,
    pub value: String,
    pub message: &'static str,
}

impl HttpConfig {
    /// The timeouts and the connection cap, defaults where the section is silent.
    pub fn limits(&self) -> Result<Limits, InvalidSetting> {
        let duration = |key: &'static str, text: &str| -> Result<Duration, InvalidSetting> {
            comet_util::parse_duration(text).map_err(|_| InvalidSetting {
                key,
                value: text.trim().to_string(),
                message: "a duration above zero, e.g. 30s",
            })
        };
        let mut limits = Limits::default();
        if let Some(text) = &self.header_timeout {
            limits.header_timeout = duration("header_timeout", text)?;
        }
        if let Some(text) = &self.drain_timeout {
            limits.drain_timeout = duration("drain_timeout", text)?;
        }
        match self.max_connections {
            Some(0) => {
                return Err(InvalidSetting {
                    key: "max_connections",
                    value: "0".into(),
                    message: "must be at least 1",
                });
            }
            Some(n) => limits.max_connections = n,
            None => {}
        }
        Ok(limits)
    }

    /// The guard's names and origins: the file's, then `hosts` and `origins` (flags and env).
    pub fn guard(&self, hosts: &[String], origins: &[String]) -> GuardConfig {
        GuardConfig {
            allowed_hosts: [self.allowed_hosts.as_slice(), hosts].concat(),
            allowed_origins: [self.allowed_origins.as_slice(), origins].concat(),
            ..GuardConfig::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_default_parse_and_refuse_nonsense() {
        let config = HttpConfig::default();
        assert_eq!(config.limits().expect("defaults").max_connections, 4096);
        let config = HttpConfig {
            header_timeout: Some("2s".into()),
            drain_timeout: Some("5".into()),
            max_connections: Some(10),
            ..HttpConfig::default()
        };
        let limits = config.limits().expect("valid");
        assert_eq!(limits.header_timeout, Duration::from_secs(2));
        assert_eq!(limits.drain_timeout, Duration::from_secs(5));
        assert_eq!(limits.max_connections, 10);
        for bad in [
            HttpConfig {
                header_timeout: Some("0s".into()),
                ..HttpConfig::default()
            },
            HttpConfig {
                drain_timeout: Some("soon".into()),
                ..HttpConfig::default()
            },
            HttpConfig {
                max_connections: Some(0),
                ..HttpConfig::default()
            },
        ] {
            assert!(bad.limits().is_err(), "{bad:?}");
        }
    }
}
