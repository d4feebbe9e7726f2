//! The `async:` section of nova.yaml: how the daemon runs async invocations (attempts, back-off,
//! concurrency, the idempotency window), for every function and per function. These live in the
//! daemon's settings rather than on the function spec for now: every daemon sharing a store
//! should be given the same section.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use super::{ConfigError, parse_duration};

/// The section as printed by `nova config print-default`.
pub const DEFAULT_SECTION: &str = r#"async:
  # Async invocations (nova invoke NAME --async, POST /functions/NAME/invoke-async).
  # Attempts per invocation before it is dead-lettered (a handler error or timeout is a failed
  # attempt; so is a daemon that died while running it).
  max_attempts: 3
  # Back-off before attempt n+1: base * 2^(n-1), capped, then jittered down by up to half.
  backoff_base: 1s
  backoff_cap: 60s
  # Dead-letter an invocation not yet succeeded this long after it was accepted (default: never).
  # max_event_age: 6h
  # Calls of one function running at once from the queue, and of all functions: an async burst
  # leaves room for synchronous calls.
  concurrency: 4
  total_concurrency: 16
  # How long an Idempotency-Key stands for the first invocation enqueued with it (at most 7d).
  dedupe_window: 24h
  # How long a daemon holds a running invocation without renewing (renewed every third of it);
  # after a crash, another daemon runs the call again once this has passed.
  lease: 30s
  # Per function: max_attempts, concurrency, max_event_age.
  # functions:
  #   resize: { max_attempts: 5, concurrency: 2 }
"#;

/// Longest idempotency window (the original Nova's), in the section and per call.
pub const MAX_DEDUPE_WINDOW: Duration = Duration::from_secs(7 * 86_400);

/// The `async:` section as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AsyncSection {
    /// Attempts per invocation before it is dead-lettered (default 3).
    pub max_attempts: Option<u32>,
    /// The first back-off (default 1s), doubled per failed attempt.
    pub backoff_base: Option<String>,
    /// The longest back-off (default 60s).
    pub backoff_cap: Option<String>,
    /// Dead-letter what has not succeeded this long after acceptance (default: never).
    pub max_event_age: Option<String>,
    /// Calls of one function running at once from the queue (default 4).
    pub concurrency: Option<usize>,
    /// Calls of all functions running at once from the queue (default 16).
    pub total_concurrency: Option<usize>,
    /// How long an idempotency key stands (default 24h, at most 7d).
    pub dedupe_window: Option<String>,
    /// How long a running invocation is held without renewal (default 30s).
    pub lease: Option<String>,
    /// Settings of single functions, over the ones above.
    #[serde(default)]
    pub functions: BTreeMap<String, FunctionAsyncSection>,
}

/// One function's settings in the `async:` section.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FunctionAsyncSection {
    /// Attempts before it is dead-lettered.
    pub max_attempts: Option<u32>,
    /// Calls running at once from the queue.
    pub concurrency: Option<usize>,
    /// Dead-letter what has not succeeded this long after acceptance.
    pub max_event_age: Option<String>,
}

/// One function's resolved settings.
#[derive(Debug, Clone, PartialEq)]
pub struct FunctionAsync {
    /// Attempts before it is dead-lettered.
    pub max_attempts: u32,
    /// Calls running at once from the queue.
    pub concurrency: usize,
    /// Dead-letter what has not succeeded this long after acceptance.
    pub max_event_age: Option<Duration>,
    /// The function called with the request and result when an invocation succeeds (set only
    /// through `PUT /functions/{name}/async-config`).
    pub on_success: Option<String>,
    /// The function called with the request and errors when one is dead-lettered (likewise).
    pub on_failure: Option<String>,
}

/// The resolved section.
#[derive(Debug, Clone, PartialEq)]
pub struct AsyncSettings {
    /// What functions not named in `functions` get.
    pub defaults: FunctionAsync,
    /// The first back-off.
    pub backoff_base: Duration,
    /// The longest back-off.
    pub backoff_cap: Duration,
    /// Calls of all functions running at once from the queue.
    pub total_concurrency: usize,
    /// How long an idempotency key stands.
    pub dedupe_window: Duration,
    /// How long a running invocation is held without renewal.
    pub lease: Duration,
    /// Per-function settings.
    pub functions: BTreeMap<String, FunctionAsync>,
}

impl Default for AsyncSettings {
    fn default() -> Self {
        AsyncSettings {
            defaults: FunctionAsync {
                max_attempts: 3,
                concurrency: 4,
                max_event_age: None,
                on_success: None,
                on_failure: None,
            },
            backoff_base: Duration::from_secs(1),
            backoff_cap: Duration::from_secs(60),
            total_concurrency: 16,
            dedupe_window: Duration::from_secs(86_400),
            lease: Duration::from_secs(30),
            functions: BTreeMap::new(),
        }
    }
}

impl AsyncSettings {
    /// The settings of `function`.
    pub fn of(&self, function: &str) -> &FunctionAsync {
        self.functions.get(function).unwrap_or(&self.defaults)
    }
}

fn at_least_one<T: PartialOrd + From<u8> + ToString>(
    what: &'static str,
    value: T,
) -> Result<T, ConfigError> {
    if value < T::from(1) {
        return Err(ConfigError::Invalid {
            what,
            value: value.to_string(),
            message: "must be at least 1".into(),
        });
    }
    Ok(value)
}

fn duration(what: &'static str, text: &Option<String>) -> Result<Option<Duration>, ConfigError> {
    text.as_deref().map(|t| parse_duration(what, t)).transpose()
}

impl AsyncSection {
    /// The settings, defaults filled in; a zero count or a window over 7 days is an error.
    pub fn resolve(&self) -> Result<AsyncSettings, ConfigError> {
        let d = AsyncSettings::default();
        let defaults = FunctionAsync {
            max_attempts: at_least_one(
                "async.max_attempts",
                self.max_attempts.unwrap_or(d.defaults.max_attempts),
            )?,
            concurrency: at_least_one(
                "async.concurrency",
                self.concurrency.unwrap_or(d.defaults.concurrency) as u64,
            )? as usize,
            max_event_age: duration("async.max_event_age", &self.max_event_age)?,
            on_success: None,
            on_failure: None,
        };
        let dedupe_window =
            duration("async.dedupe_window", &self.dedupe_window)?.unwrap_or(d.dedupe_window);
        if dedupe_window > MAX_DEDUPE_WINDOW {
            return Err(ConfigError::Invalid {
                what: "async.dedupe_window",
                value: self.dedupe_window.clone().unwrap_or_default(),
                message: "at most 7d".into(),
            });
        }
        let mut functions = BTreeMap::new();
        for (name, f) in &self.functions {
            let resolved = FunctionAsync {
                max_attempts: at_least_one(
                    "async.functions.*.max_attempts",
                    f.max_attempts.unwrap_or(defaults.max_attempts),
                )?,
                concurrency: at_least_one(
                    "async.functions.*.concurrency",
                    f.concurrency.unwrap_or(defaults.concurrency) as u64,
                )? as usize,
                max_event_age: duration("async.functions.*.max_event_age", &f.max_event_age)?
                    .or(defaults.max_event_age),
                on_success: None,
                on_failure: None,
            };
            functions.insert(name.clone(), resolved);
        }
        Ok(AsyncSettings {
            backoff_base: duration("async.backoff_base", &self.backoff_base)?
                .unwrap_or(d.backoff_base),
            backoff_cap: duration("async.backoff_cap", &self.backoff_cap)?.unwrap_or(d.backoff_cap),
            total_concurrency: at_least_one(
                "async.total_concurrency",
                self.total_concurrency.unwrap_or(d.total_concurrency) as u64,
            )? as usize,
            lease: duration("async.lease", &self.lease)?.unwrap_or(d.lease),
            dedupe_window,
            functions,
            defaults,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_section_resolves_to_the_defaults() {
        #[derive(Deserialize)]
        struct File {
            #[serde(rename = "async")]
            section: AsyncSection,
        }
        let file: File = serde_yaml::from_str(DEFAULT_SECTION).expect("parses");
        assert_eq!(
            file.section.resolve().expect("valid"),
            AsyncSettings::default()
        );
    }

    #[test]
    fn per_function_settings_override_the_defaults() {
        let section: AsyncSection = serde_yaml::from_str(
            "max_attempts: 5\nfunctions:\n  f: { concurrency: 1, max_event_age: 1m }\n",
        )
        .expect("parses");
        let s = section.resolve().expect("valid");
        assert_eq!(
            s.of("f"),
            &FunctionAsync {
                max_attempts: 5,
                concurrency: 1,
                max_event_age: Some(Duration::from_secs(60)),
                on_success: None,
                on_failure: None,
            }
        );
        assert_eq!(s.of("g").concurrency, 4);
        let zero: AsyncSection = serde_yaml::from_str("concurrency: 0").expect("parses");
        assert!(zero.resolve().is_err());
        let long: AsyncSection = serde_yaml::from_str("dedupe_window: 8d").expect("parses");
        assert!(long.resolve().is_err());
    }
}
