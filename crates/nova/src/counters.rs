//! Invocation counts per function since this process started, for `/metrics`.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use comet::InvokeError;
use nova_api::InvokeResponse;

/// Invocation counts per function since this process started. They only grow: the data plane's
/// own counts live in its pools, which an update or a delete drops, so they are no base for the
/// Prometheus counters.
#[derive(Default)]
pub struct Counters {
    by_function: RwLock<HashMap<String, Arc<FunctionCounts>>>,
}

#[derive(Default)]
struct FunctionCounts {
    invocations: AtomicU64,
    errors: AtomicU64,
    cold_starts: AtomicU64,
}

/// One function's counts at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Invocations that reached an instance.
    pub invocations: u64,
    /// Of those, the ones that ended in an error.
    pub errors: u64,
    /// Of those, the ones that started their instance.
    pub cold_starts: u64,
}

impl Counters {
    /// Counts one invocation's outcome; calls that never reached an instance are not counted.
    pub(crate) fn record(&self, function: &str, result: &Result<InvokeResponse, InvokeError>) {
        let (error, cold) = match result {
            Ok(r) => (r.error.is_some(), r.cold_start),
            Err(InvokeError::Instance { .. }) => (true, false),
            Err(_) => return,
        };
        let counts = self.of(function);
        counts.invocations.fetch_add(1, Ordering::Relaxed);
        if error {
            counts.errors.fetch_add(1, Ordering::Relaxed);
        }
        if cold {
            counts.cold_starts.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn of(&self, function: &str) -> Arc<FunctionCounts> {
        let known = comet_util::read(&self.by_function).get(function).cloned();
        known.unwrap_or_else(|| {
            comet_util::write(&self.by_function)
                .entry(function.to_string())
                .or_default()
                .clone()
        })
    }

    /// Every function counted so far, by name.
    pub fn snapshot(&self) -> BTreeMap<String, Counts> {
        comet_util::read(&self.by_function)
            .iter()
            .map(|(name, c)| {
                let counts = Counts {
                    invocations: c.invocations.load(Ordering::Relaxed),
                    errors: c.errors.load(Ordering::Relaxed),
                    cold_starts: c.cold_starts.load(Ordering::Relaxed),
                };
                (name.clone(), counts)
            })
            .collect()
    }
}
