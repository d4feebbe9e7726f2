//! Each function's own async settings (`PUT /functions/{name}/async-config`, `nova async config`),
//! over the daemon's `async:` section: a copy of the stored table kept in memory, read again
//! every [`REFRESH`] (so a change made on another daemon applies here within that) and at once
//! after a change made here.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use nova_store::AsyncConfig;

use crate::config::{AsyncSettings, FunctionAsync};
use crate::service::ServiceError;

/// How stale the copy of the stored settings may grow.
pub const REFRESH: Duration = Duration::from_secs(5);
/// Most attempts a function may ask for.
pub const MAX_ATTEMPTS: u32 = 100;
/// Most calls of one function a daemon runs at once from the queue (0 pauses it: calls are
/// accepted and wait).
pub const MAX_CONCURRENCY: u32 = 1000;
/// Longest `max_event_age_s`: seven days, as long as an idempotency key may stand.
pub const MAX_EVENT_AGE_S: u64 = 7 * 86_400;

/// The copy of the stored settings.
#[derive(Default)]
pub struct Stored {
    loaded_at: Option<Instant>,
    by_function: HashMap<String, AsyncConfig>,
}

impl Stored {
    /// Whether it should be read again.
    pub fn stale(&self) -> bool {
        self.loaded_at.is_none_or(|at| at.elapsed() >= REFRESH)
    }

    /// Replaces the copy with what the store holds.
    pub fn replace(&mut self, configs: Vec<(String, AsyncConfig)>) {
        self.by_function = configs.into_iter().collect();
        self.loaded_at = Some(Instant::now());
    }

    /// Records a change made here.
    pub fn set(&mut self, function: &str, config: Option<AsyncConfig>) {
        match config {
            Some(config) => self.by_function.insert(function.to_string(), config),
            None => self.by_function.remove(function),
        };
    }

    /// What was set for `function` itself.
    pub fn by_function(&self, function: &str) -> Option<&AsyncConfig> {
        self.by_function.get(function)
    }

    /// What `function` runs by: its own settings, else the section's for it.
    pub fn of(&self, settings: &AsyncSettings, function: &str) -> FunctionAsync {
        let base = settings.of(function).clone();
        match self.by_function.get(function) {
            None => base,
            Some(own) => merge(base, own),
        }
    }

    /// The functions paused (concurrency 0): no claim takes their calls.
    pub fn paused(&self) -> impl Iterator<Item = &String> {
        (self.by_function.iter())
            .filter(|(_, c)| c.concurrency == Some(0))
            .map(|(f, _)| f)
    }

    /// The smallest per-function concurrency anywhere but a paused function's (0): what one
    /// claim may take at most.
    pub fn min_concurrency(&self, settings: &AsyncSettings) -> usize {
        (settings.functions.values().map(|f| f.concurrency))
            .chain(
                (self.by_function.values())
                    .filter_map(|c| c.concurrency)
                    .map(|c| c as usize),
            )
            .filter(|c| *c > 0)
            .fold(settings.defaults.concurrency, usize::min)
    }
}

/// `base` with what `own` sets.
pub fn merge(base: FunctionAsync, own: &AsyncConfig) -> FunctionAsync {
    FunctionAsync {
        max_attempts: own.max_attempts.unwrap_or(base.max_attempts),
        concurrency: own.concurrency.map_or(base.concurrency, |c| c as usize),
        max_event_age: (own.max_event_age_s)
            .map(Duration::from_secs)
            .or(base.max_event_age),
        on_success: own.on_success.clone().or(base.on_success),
        on_failure: own.on_failure.clone().or(base.on_failure),
    }
}

/// `FunctionAsync` as the API shows it (`max_event_age_s` in seconds).
pub fn shown(f: &FunctionAsync) -> AsyncConfig {
    AsyncConfig {
        max_attempts: Some(f.max_attempts),
        max_event_age_s: f.max_event_age.map(|a| a.as_secs()),
        concurrency: Some(f.concurrency as u32),
        on_success: f.on_success.clone(),
        on_failure: f.on_failure.clone(),
    }
}

/// Refuses numbers out of range and a function as its own destination (a call that would call
/// itself for ever). Whether the destinations exist is the caller's to check.
pub fn check(function: &str, config: &AsyncConfig) -> Result<(), ServiceError> {
    let bad = |m: String| Err(ServiceError::BadRequest(m));
    if let Some(n) = config.max_attempts
        && !(1..=MAX_ATTEMPTS).contains(&n)
    {
        return bad(format!("max_attempts must be 1 to {MAX_ATTEMPTS}, not {n}"));
    }
    if let Some(n) = config.concurrency
        && n > MAX_CONCURRENCY
    {
        return bad(format!(
            "concurrency must be 0 (paused) to {MAX_CONCURRENCY}, not {n}"
        ));
    }
    if let Some(n) = config.max_event_age_s
        && !(1..=MAX_EVENT_AGE_S).contains(&n)
    {
        return bad(format!(
            "max_event_age_s must be 1 to {MAX_EVENT_AGE_S} (7 days), not {n}"
        ));
    }
    for (field, target) in [
        ("on_success", &config.on_success),
        ("on_failure", &config.on_failure),
    ] {
        if let Some(target) = target
            && let Err(e) = nova_api::validate_name(target)
        {
            return bad(format!("{field}: {e}"));
        }
        if target.as_deref() == Some(function) {
            return bad(format!(
                "{field} cannot be '{function}' itself: each call would queue another for ever"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_settings_override_the_section_field_by_field() {
        let settings = AsyncSettings::default();
        let mut stored = Stored::default();
        assert!(stored.stale());
        stored.replace(vec![(
            "f".into(),
            AsyncConfig {
                max_attempts: Some(7),
                on_failure: Some("alert".into()),
                ..Default::default()
            },
        )]);
        assert!(!stored.stale());
        let f = stored.of(&settings, "f");
        assert_eq!((f.max_attempts, f.concurrency), (7, 4));
        assert_eq!(f.on_failure.as_deref(), Some("alert"));
        assert_eq!(stored.of(&settings, "g"), settings.defaults);
        stored.set(
            "g",
            Some(AsyncConfig {
                concurrency: Some(2),
                ..Default::default()
            }),
        );
        assert_eq!(stored.min_concurrency(&settings), 2);
        stored.set("g", None);
        assert_eq!(stored.min_concurrency(&settings), 4);
        // A paused function (0) bounds no claim.
        stored.set(
            "h",
            Some(AsyncConfig {
                concurrency: Some(0),
                ..Default::default()
            }),
        );
        assert_eq!(stored.min_concurrency(&settings), 4);
        assert_eq!(stored.of(&settings, "h").concurrency, 0);
    }

    #[test]
    fn out_of_range_numbers_and_a_loop_onto_itself_are_refused() {
        let ok = AsyncConfig {
            max_attempts: Some(1),
            max_event_age_s: Some(60),
            concurrency: Some(1000),
            on_success: Some("g".into()),
            on_failure: None,
        };
        assert!(check("f", &ok).is_ok());
        for bad in [
            AsyncConfig {
                max_attempts: Some(0),
                ..Default::default()
            },
            AsyncConfig {
                max_attempts: Some(101),
                ..Default::default()
            },
            AsyncConfig {
                concurrency: Some(1001),
                ..Default::default()
            },
            AsyncConfig {
                max_event_age_s: Some(0),
                ..Default::default()
            },
            AsyncConfig {
                max_event_age_s: Some(MAX_EVENT_AGE_S + 1),
                ..Default::default()
            },
            AsyncConfig {
                on_failure: Some("f".into()),
                ..Default::default()
            },
        ] {
            assert!(check("f", &bad).is_err(), "{bad:?}");
        }
    }
}
