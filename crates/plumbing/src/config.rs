//! Config-file loading and the small parsers both daemons' settings share: built-in defaults <
//! config file < environment < flags is each binary's own business; reading the file, the default
//! data directory and durations such as `60s` or `60` are the same for both.

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use thiserror::Error;

/// A config file that cannot be read or parsed.
#[derive(Debug, Error)]
pub enum FileError {
    /// The file could not be read (missing, unreadable).
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file asked for.
        path: PathBuf,
        /// Why it could not be read.
        source: std::io::Error,
    },
    /// The file is not valid YAML for the settings, or has a key they do not know.
    #[error("invalid config file {path}: {message}")]
    Parse {
        /// The file asked for.
        path: PathBuf,
        /// serde's message, which names an unknown key and where it is.
        message: String,
    },
}

/// Reads a YAML config file; an empty file is all defaults. Unknown keys are refused by `T`
/// (`deny_unknown_fields`), and serde names them.
pub fn load_file<T: DeserializeOwned + Default>(path: &Path) -> Result<T, FileError> {
    let text = std::fs::read_to_string(path).map_err(|source| FileError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    if text.trim().is_empty() {
        return Ok(T::default());
    }
    serde_yaml::from_str(&text).map_err(|e| FileError::Parse {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

/// Where `app` keeps its data when told nothing: `$XDG_DATA_HOME/<app>`, else
/// `~/.local/share/<app>`; `None` when neither variable is set (empty counts as unset).
pub fn default_data_dir(app: &str) -> Option<PathBuf> {
    let env = |name| {
        std::env::var_os(name)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    if let Some(xdg) = env("XDG_DATA_HOME") {
        return Some(xdg.join(app));
    }
    env("HOME").map(|home| home.join(".local/share").join(app))
}

pub use comet_util::{DurationError, parse_duration};

/// The `pool:` section both daemons' config files have.
#[derive(Debug, Default, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoolSection {
    /// How long an idle instance stays warm, e.g. `60s`, `5m` or `60` (seconds).
    pub idle_ttl: Option<String>,
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[derive(Debug, Default, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Settings {
        #[serde(default)]
        ttl: Option<String>,
    }

    #[test]
    fn durations_in_seconds_or_with_a_unit() {
        assert_eq!(parse_duration("60").expect("ok"), Duration::from_secs(60));
        assert_eq!(parse_duration("60s").expect("ok"), Duration::from_secs(60));
        assert_eq!(
            parse_duration(" 250ms ").expect("ok"),
            Duration::from_millis(250)
        );
        assert_eq!(parse_duration("5m").expect("ok"), Duration::from_secs(300));
        assert!(matches!(parse_duration("0"), Err(DurationError::Zero)));
        assert!(matches!(parse_duration("0s"), Err(DurationError::Zero)));
        let err = parse_duration("soon").expect_err("not a duration");
        assert!(matches!(err, DurationError::Invalid(_)), "{err}");
    }

    #[test]
    fn a_file_is_read_and_unknown_keys_are_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("app.yaml");
        std::fs::write(&path, "ttl: 5s\n").expect("write");
        let s: Settings = load_file(&path).expect("parses");
        assert_eq!(s.ttl.as_deref(), Some("5s"));
        std::fs::write(&path, "  \n").expect("write");
        let s: Settings = load_file(&path).expect("empty is all defaults");
        assert_eq!(s.ttl, None);
        std::fs::write(&path, "tll: 5s\n").expect("write");
        let err = load_file::<Settings>(&path).expect_err("unknown key");
        assert!(matches!(err, FileError::Parse { .. }), "{err}");
        assert!(err.to_string().contains("tll"), "{err}");
        let err = load_file::<Settings>(&dir.path().join("missing.yaml")).expect_err("missing");
        assert!(matches!(err, FileError::Read { .. }), "{err}");
    }

    #[test]
    fn the_data_directory_is_named_after_the_app() {
        // SAFETY: no other test in this crate reads or writes the environment.
        unsafe {
            std::env::set_var("XDG_DATA_HOME", "/xdg");
            std::env::set_var("HOME", "/home/u");
        }
        assert_eq!(default_data_dir("nova"), Some(PathBuf::from("/xdg/nova")));
        // SAFETY: as above.
        unsafe { std::env::set_var("XDG_DATA_HOME", "") };
        assert_eq!(
            default_data_dir("comet"),
            Some(PathBuf::from("/home/u/.local/share/comet"))
        );
        // SAFETY: as above.
        unsafe { std::env::remove_var("HOME") };
        assert_eq!(default_data_dir("comet"), None);
    }
}
