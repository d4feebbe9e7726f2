//! Validation of what users send, with messages that name the field and the allowed range.

use thiserror::Error;

use crate::function::{FunctionConfig, Mode, Network, Runtime};

/// Longest function name; also bounds directory names derived from it.
pub const MAX_NAME_LEN: usize = 63;

/// Why a function definition was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ValidationError {
    #[error("function name must not be empty")]
    EmptyName,
    #[error(
        "invalid function name '{0}': use 1 to {MAX_NAME_LEN} letters, digits, '-' or '_', starting with a letter or digit"
    )]
    BadName(String),
    #[error("runtime is required (one of: python, go, rust, wasm)")]
    MissingRuntime,
    #[error("unknown runtime '{0}' (expected one of: python, go, rust, wasm)")]
    UnknownRuntime(String),
    #[error("unknown mode '{0}' (expected process or persistent)")]
    UnknownMode(String),
    #[error("unknown network '{0}' (expected none or host)")]
    UnknownNetwork(String),
    #[error("invalid handler '{0}': for python use module.function, e.g. main.handler")]
    BadHandler(String),
    #[error("{field} must not be negative (got {value})")]
    Negative { field: &'static str, value: i64 },
    #[error("{field} must be between {min} and {max} (got {value})")]
    OutOfRange {
        field: &'static str,
        value: i64,
        min: i64,
        max: i64,
    },
    #[error("min_replicas ({min}) must not exceed max_replicas ({max})")]
    ReplicasInverted { min: i64, max: i64 },
    #[error(
        "instance_concurrency {0} is not supported: an instance serves one invocation at a time"
    )]
    Concurrency(i64),
    #[error(
        "invalid environment variable name '{0}': use letters, digits and '_', not starting with a digit"
    )]
    BadEnvKey(String),
    #[error("environment variable '{0}' contains a NUL byte")]
    NulInEnv(String),
    #[error("code is required: send `code` (source text) or `code_base64`")]
    MissingCode,
    #[error("send either `code` or `code_base64`, not both")]
    TwoCodes,
    #[error("code is empty")]
    EmptyCode,
}

/// A name usable in URLs, file names and metrics labels.
pub fn validate_name(name: &str) -> Result<(), ValidationError> {
    if name.is_empty() {
        return Err(ValidationError::EmptyName);
    }
    let ok_char = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    let starts_ok = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric());
    if name.len() > MAX_NAME_LEN || !starts_ok || !name.chars().all(ok_char) {
        return Err(ValidationError::BadName(preview(name)));
    }
    Ok(())
}

/// Hostile input quoted in a message: at most 80 characters of it, then `…`, so a refusal of a
/// huge value is not itself huge.
pub fn preview(text: &str) -> String {
    const SHOWN: usize = 80;
    match text.char_indices().nth(SHOWN) {
        None => text.to_string(),
        Some((cut, _)) => format!("{}…", &text[..cut]),
    }
}

/// A POSIX-portable environment variable name.
pub fn validate_env_key(key: &str) -> Result<(), ValidationError> {
    let mut chars = key.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    if !first_ok || !chars.all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(ValidationError::BadEnvKey(key.to_string()));
    }
    Ok(())
}

pub(crate) fn config(c: &FunctionConfig) -> Result<(Runtime, Mode, Network), ValidationError> {
    validate_name(&c.name)?;
    if c.runtime.is_empty() {
        return Err(ValidationError::MissingRuntime);
    }
    let runtime: Runtime = c.runtime.parse()?;
    let mode: Mode = c.mode.parse()?;
    let network: Network = c.network.parse()?;
    if runtime == Runtime::Python && !is_python_handler(&c.handler) {
        return Err(ValidationError::BadHandler(c.handler.clone()));
    }
    range("memory_mb", c.memory_mb, 1, 65_536)?;
    range("timeout_s", c.timeout_s, 1, 3_600)?;
    range("min_replicas", c.min_replicas, 0, 1_000)?;
    range("max_replicas", c.max_replicas, 0, 10_000)?;
    if c.max_replicas > 0 && c.min_replicas > c.max_replicas {
        return Err(ValidationError::ReplicasInverted {
            min: c.min_replicas,
            max: c.max_replicas,
        });
    }
    if !(0..=1).contains(&c.instance_concurrency) {
        return Err(ValidationError::Concurrency(c.instance_concurrency));
    }
    range("vcpus", c.limits.vcpus, 1, 32)?;
    range("disk_iops", c.limits.disk_iops, 0, i64::MAX)?;
    range("disk_bandwidth", c.limits.disk_bandwidth, 0, i64::MAX)?;
    range("net_rx_bandwidth", c.limits.net_rx_bandwidth, 0, i64::MAX)?;
    range("net_tx_bandwidth", c.limits.net_tx_bandwidth, 0, i64::MAX)?;
    for (key, value) in &c.env_vars {
        validate_env_key(key)?;
        if value.contains('\0') {
            return Err(ValidationError::NulInEnv(key.clone()));
        }
    }
    Ok((runtime, mode, network))
}

fn range(field: &'static str, value: i64, min: i64, max: i64) -> Result<(), ValidationError> {
    if value < 0 {
        return Err(ValidationError::Negative { field, value });
    }
    if value < min || value > max {
        return Err(ValidationError::OutOfRange {
            field,
            value,
            min,
            max,
        });
    }
    Ok(())
}

fn is_python_handler(handler: &str) -> bool {
    let is_ident = |s: &str| {
        let mut chars = s.chars();
        chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
    };
    match handler.rsplit_once('.') {
        Some((module, function)) => module.split('.').all(is_ident) && is_ident(function),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> FunctionConfig {
        FunctionConfig {
            name: "hello".into(),
            runtime: "python".into(),
            ..FunctionConfig::default()
        }
    }

    #[test]
    fn defaults_are_valid() {
        assert_eq!(
            base().validate(),
            Ok((Runtime::Python, Mode::Process, Network::None))
        );
    }

    #[test]
    fn names() {
        assert!(validate_name("a-b_c9").is_ok());
        for bad in ["", "-a", "a/b", "a b", "../x", &"x".repeat(64)] {
            assert!(validate_name(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn vcpus_out_of_range_names_the_field() {
        let mut c = base();
        c.limits.vcpus = 33;
        let err = c.validate().unwrap_err().to_string();
        assert!(err.contains("vcpus must be between 1 and 32"), "{err}");
        c.limits.vcpus = 0;
        assert!(c.validate().is_err());
    }

    #[test]
    fn negative_values_are_named() {
        let mut c = base();
        c.memory_mb = -5;
        assert_eq!(
            c.validate().unwrap_err().to_string(),
            "memory_mb must not be negative (got -5)"
        );
    }

    #[test]
    fn unknown_runtime_and_mode() {
        let mut c = base();
        c.runtime = "cobol".into();
        assert!(matches!(
            c.validate(),
            Err(ValidationError::UnknownRuntime(_))
        ));
        let mut c = base();
        c.mode = "forever".into();
        assert!(matches!(c.validate(), Err(ValidationError::UnknownMode(_))));
        let mut c = base();
        c.network = "bridge".into();
        assert!(matches!(
            c.validate(),
            Err(ValidationError::UnknownNetwork(_))
        ));
    }

    #[test]
    fn python_handler_shape() {
        let mut c = base();
        for good in ["main.handler", "pkg.mod.fn", "_m._f"] {
            c.handler = good.into();
            assert!(c.validate().is_ok(), "{good}");
        }
        for bad in ["handler", "main.", ".x", "a-b.c", "main.handler()"] {
            c.handler = bad.into();
            assert!(c.validate().is_err(), "{bad}");
        }
    }

    #[test]
    fn env_keys() {
        assert!(validate_env_key("PATH_2").is_ok());
        for bad in ["", "2X", "A-B", "A=B"] {
            assert!(validate_env_key(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn replicas_must_not_invert() {
        let mut c = base();
        c.min_replicas = 3;
        c.max_replicas = 2;
        assert!(matches!(
            c.validate(),
            Err(ValidationError::ReplicasInverted { .. })
        ));
        c.max_replicas = 0;
        assert!(c.validate().is_ok());
    }
}
