//! The daemon's dispatcher: claims due async invocations and runs each through
//! [`Functions::invoke_as`] (the path of a synchronous call: versions, aliases, secrets, logs),
//! its request id the invocation's id, so a repeated call after a crash carries the same id.
//!
//! Woken at once by an enqueue or a retry on this daemon and by every call that ends (a slot is
//! free); otherwise it sleeps until the next retry is due, at most [`TICK`], which covers what
//! other daemons enqueue. Calls run bounded per function and in total (the `async:` settings),
//! so a burst cannot take every instance from synchronous callers. Leases of running calls are
//! renewed every third of the lease; on shutdown it stops claiming and gives the calls in flight
//! [`DRAIN`] to end (the others' leases lapse and another daemon runs them again).

use std::collections::{HashMap, HashSet};
use std::str::FromStr;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nova_api::Qualifier;
use nova_store::{AsyncInvocation, AttemptError, NewAsyncInvocation, Outcome};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

use super::{Queue, backoff};

/// The longest the dispatcher sleeps without looking at the store.
pub const TICK: Duration = Duration::from_secs(1);
/// How long the calls in flight get to end at shutdown.
pub const DRAIN: Duration = Duration::from_secs(10);

/// How long to wait after each failed try to record an outcome: a call that ran is not run
/// again for a moment's contention on the database.
const FINISH_RETRIES: [Duration; 4] = [
    Duration::from_millis(50),
    Duration::from_millis(200),
    Duration::from_millis(500),
    Duration::ZERO,
];

/// What is running here: calls per function and the ids whose leases to renew.
#[derive(Default)]
struct Running {
    per_function: HashMap<String, usize>,
    ids: HashSet<String>,
}

/// A running dispatcher; [`Dispatcher::stop`] ends it.
pub struct Dispatcher {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Dispatcher {
    /// Starts dispatching `queue`'s invocations.
    pub fn start(queue: Queue) -> Dispatcher {
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(run(queue, stopped));
        Dispatcher { stop, task }
    }

    /// Stops claiming, waits up to [`DRAIN`] for the calls in flight, and returns.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        if let Err(e) = self.task.await {
            tracing::error!(error = %e, "the async dispatcher failed");
        }
    }
}

async fn run(queue: Queue, mut stopped: watch::Receiver<bool>) {
    let settings = queue.settings().clone();
    let lease_ms = settings.lease.as_millis() as i64;
    let slots = Arc::new(Semaphore::new(settings.total_concurrency));
    let running = Arc::new(Mutex::new(Running::default()));
    let mut calls = JoinSet::new();
    let mut renew = tokio::time::interval(settings.lease / 3);
    // When the store must be looked at whatever was enqueued: at start, at the next retry's due
    // time (at most a TICK away), at once after a full claim. It is kept across rounds, so wakes
    // that read nothing (enqueues of a busy function) never push it back. Between those, a round
    // woken by enqueues only looks when one of the functions enqueued here has room: a claim that
    // skips a busy function's backlog would read that backlog for nothing.
    let mut deadline = tokio::time::Instant::now();
    loop {
        let now = tokio::time::Instant::now();
        let due = now >= deadline;
        let mut next = None;
        let free = slots.available_permits();
        let enqueued = queue.take_enqueued();
        let look_now = due | queue.inner.must_claim.swap(false, Relaxed);
        if free > 0 {
            // One claim can take at most what the tightest function still has room for, so
            // no function ever runs more than its concurrency here.
            queue.refresh(false).await;
            let (busy, room) = {
                let running = comet_util::lock(&running);
                let room_of = |f: &String, n: usize| queue.of(f).concurrency.saturating_sub(n);
                let mut busy: Vec<String> = (running.per_function.iter())
                    .filter(|(f, n)| room_of(f, **n) == 0)
                    .map(|(f, _)| f.clone())
                    .collect();
                for paused in queue.paused() {
                    if !busy.contains(&paused) {
                        busy.push(paused);
                    }
                }
                let room = (running.per_function.iter())
                    .map(|(f, n)| room_of(f, *n))
                    .filter(|r| *r > 0)
                    .fold(queue.min_concurrency(), usize::min);
                (busy, room)
            };
            let limit = free.min(room) as u32;
            let worth = look_now || enqueued.iter().any(|f| !busy.contains(f));
            let claimed = if worth {
                queue.inner.store.claim(limit, &busy, lease_ms).await
            } else {
                Ok(Vec::new())
            };
            match claimed {
                Ok(claimed) => {
                    let full = claimed.len() as u32 == limit;
                    for invocation in claimed {
                        let permit = slots.clone().try_acquire_owned().ok();
                        {
                            let mut running = comet_util::lock(&running);
                            *running
                                .per_function
                                .entry(invocation.function.clone())
                                .or_default() += 1;
                            running.ids.insert(invocation.id.clone());
                        }
                        let (queue, running) = (queue.clone(), running.clone());
                        calls.spawn(async move {
                            let id = invocation.id.clone();
                            let function = invocation.function.clone();
                            attempt(&queue, invocation).await;
                            drop(permit);
                            let mut r = comet_util::lock(&running);
                            r.ids.remove(&id);
                            if let Some(n) = r.per_function.get_mut(&function) {
                                *n -= 1;
                                if *n == 0 {
                                    r.per_function.remove(&function);
                                }
                            }
                            drop(r);
                            queue.wake();
                        });
                    }
                    if !worth {
                        // Nothing read: the deadline or a call that ends looks again.
                    } else if full {
                        next = Some(Duration::ZERO);
                    } else {
                        let mut wait = TICK;
                        // A call due already but not claimed is a busy function's: it is
                        // looked for when one of its calls ends, not in a spin.
                        if let Ok(Some(at)) = queue.inner.store.next_due().await {
                            let ms = at - comet_util::now_ms();
                            if ms > 0 {
                                wait = wait.min(Duration::from_millis(ms as u64));
                            }
                        }
                        next = Some(wait);
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot claim async invocations");
                    next = Some(TICK);
                }
            }
        }
        match next {
            Some(wait) => deadline = now + wait,
            // The deadline passed with no slot free: a call that ends looks; so does the timer.
            None if due => deadline = now + TICK,
            None => {}
        }
        tokio::select! {
            _ = stopped.changed() => break,
            () = queue.inner.wake.notified() => {}
            () = tokio::time::sleep_until(deadline) => {}
            _ = renew.tick() => {
                let ids: Vec<String> = comet_util::lock(&running).ids.iter().cloned().collect();
                if let Err(e) = queue.inner.store.renew(&ids, lease_ms).await {
                    tracing::warn!(error = %e, "cannot renew the leases of async invocations");
                }
            }
            Some(_) = calls.join_next(), if !calls.is_empty() => {}
        }
    }
    let drained =
        tokio::time::timeout(DRAIN, async { while calls.join_next().await.is_some() {} }).await;
    if drained.is_err() {
        tracing::warn!(
            left = calls.len(),
            "async invocations still running at shutdown; another daemon runs them again once their leases lapse"
        );
        calls.abort_all();
    }
}

/// Runs one claimed attempt and records how it ended.
async fn attempt(queue: &Queue, invocation: AsyncInvocation) {
    let settings = queue.settings();
    let now = comet_util::now_ms();
    let function = queue.of(&invocation.function);
    let refuse = if invocation.attempts > invocation.max_attempts {
        Some("the daemon running its last attempt stopped".to_string())
    } else {
        function.max_event_age.and_then(|age| {
            (now - invocation.created_at_ms > age.as_millis() as i64)
                .then(|| format!("older than max_event_age ({}s)", age.as_secs()))
        })
    };
    let (outcome, version) = match refuse {
        Some(error) => (Err(error), invocation.version),
        None => run_once(queue, &invocation).await,
    };
    let outcome = match outcome {
        Ok(result) => Outcome::Succeeded {
            result,
            version: version.unwrap_or_default(),
        },
        Err(error) if refuse_again(&invocation) => Outcome::DeadLetter { error, version },
        Err(error) => {
            let wait = backoff(
                settings.backoff_base,
                settings.backoff_cap,
                invocation.attempts,
                fastrand::f64(),
            );
            Outcome::Retry {
                error,
                next_attempt_at_ms: comet_util::now_ms() + wait.as_millis() as i64,
                version,
            }
        }
    };
    let then = destination(queue, &function, &invocation, &outcome);
    let mut recorded = Err(nova_store::StoreError::Unavailable("not tried".into()));
    for wait in FINISH_RETRIES {
        recorded = (queue.inner.store)
            .finish(&invocation.id, invocation.attempts, &outcome, then.as_ref())
            .await;
        if recorded.is_ok() {
            break;
        }
        tokio::time::sleep(wait).await;
    }
    match recorded {
        Ok(true) => {}
        Ok(false) => tracing::warn!(
            id = %invocation.id,
            "an async invocation's lease lapsed while it ran; another daemon has it now"
        ),
        Err(e) => tracing::error!(
            id = %invocation.id, error = %e,
            "cannot record an async invocation's outcome; it runs again when its lease lapses"
        ),
    }
}

/// The call of the function's on-success or on-failure destination that `outcome` makes, if
/// any: enqueued with the outcome, in its transaction, so it happens exactly when the outcome is
/// recorded. Its payload holds the request, the response or the errors, and where it came from.
fn destination(
    queue: &Queue,
    function: &crate::config::FunctionAsync,
    invocation: &AsyncInvocation,
    outcome: &Outcome,
) -> Option<NewAsyncInvocation> {
    let (target, condition, version, response, errors) = match outcome {
        Outcome::Succeeded { result, version } => (
            function.on_success.as_ref()?,
            "success",
            Some(*version),
            result.clone(),
            invocation.errors.clone(),
        ),
        Outcome::DeadLetter { error, version } => {
            let mut errors = invocation.errors.clone();
            errors.push(AttemptError {
                attempt: invocation.attempts,
                at_ms: comet_util::now_ms(),
                error: error.clone(),
            });
            (
                function.on_failure.as_ref()?,
                "dead_lettered",
                *version,
                serde_json::Value::Null,
                errors,
            )
        }
        Outcome::Retry { .. } => return None,
    };
    let payload = serde_json::json!({
        "condition": condition,
        "source": {
            "id": invocation.id,
            "function": invocation.function,
            "qualifier": invocation.qualifier,
            "version": version,
            "attempts": invocation.attempts,
            "created_at_ms": invocation.created_at_ms,
        },
        "request": invocation.payload,
        "response": response,
        "errors": errors,
    });
    Some(queue.call(target, Qualifier::Latest.to_string(), payload, None))
}

/// Whether no attempt is left after this one.
fn refuse_again(invocation: &AsyncInvocation) -> bool {
    invocation.attempts >= invocation.max_attempts
}

/// One call: the handler's result, or why it failed (a handler error or timeout as much as a
/// function or version gone); and the version that ran.
async fn run_once(
    queue: &Queue,
    invocation: &AsyncInvocation,
) -> (Result<serde_json::Value, String>, Option<u64>) {
    let qualifier = match Qualifier::from_str(&invocation.qualifier) {
        Ok(q) => q,
        Err(e) => return (Err(e.to_string()), None),
    };
    let payload = invocation.payload.to_string();
    let called = queue
        .inner
        .functions
        .invoke_as(
            &invocation.function,
            &qualifier,
            &payload,
            invocation.id.clone(),
            invocation.attempts,
        )
        .await;
    match called {
        Err(e) => (Err(e.to_string()), None),
        Ok(response) if response.timed_out => (
            Err(response.error.unwrap_or_else(|| "timed out".into())),
            response.version,
        ),
        Ok(response) => match (response.error, response.output) {
            (Some(error), _) => (Err(error), response.version),
            (None, output) => {
                let result = output
                    .map(|raw| serde_json::from_str(raw.get()).unwrap_or(serde_json::Value::Null))
                    .unwrap_or(serde_json::Value::Null);
                (Ok(result), response.version)
            }
        },
    }
}
