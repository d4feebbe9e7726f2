//! The daemon's scheduler: fires the ticks of schedules (a `ScheduleStore`) into the async
//! queue, so that a scheduled call retries like any async call.
//!
//! It sleeps until the earliest `next_fire_at`, at most [`TICK`] (which covers schedules other
//! daemons create or change), then for each due schedule asks nova-cron which tick is owed since
//! the last one fired (or since the schedule was created) and claims it with
//! `ScheduleStore::fire_schedule`: one transaction moves `next_fire_at` from the value read and
//! enqueues the call (idempotency key `schedule:<id>:<fire>`). Of several daemons on one store
//! only the one whose update changed the row enqueues, so each tick fires exactly once. Ticks
//! missed while every daemon was down fire once, not once each (nova-cron's policy: the latest
//! missed tick).

mod service;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use nova_store::{NewAsyncInvocation, Schedule, ScheduleStore, StoreError, Tick};
use tokio::sync::watch;

use crate::config::AsyncSettings;
use crate::queue::Queue;

pub use service::{ScheduleSpec, Schedules};

/// The longest the scheduler sleeps without looking at the store.
pub const TICK: Duration = Duration::from_secs(1);
/// The shortest sleep: a schedule that is due but owes no tick (it cannot be claimed) does not
/// spin the loop.
const MIN_SLEEP: Duration = Duration::from_millis(50);
/// Most schedules fired in one pass; more wait for the next, which comes at once.
const BATCH: u32 = 100;

/// A running scheduler; [`Scheduler::stop`] ends it.
pub struct Scheduler {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Scheduler {
    /// Starts firing `store`'s schedules into `queue`.
    pub fn start(store: Arc<dyn ScheduleStore>, queue: Queue) -> Scheduler {
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(run(store, queue, stopped));
        Scheduler { stop, task }
    }

    /// Stops it and waits for the pass in progress.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        if let Err(e) = self.task.await {
            tracing::error!(error = %e, "the scheduler failed");
        }
    }
}

async fn run(store: Arc<dyn ScheduleStore>, queue: Queue, mut stopped: watch::Receiver<bool>) {
    loop {
        let mut sleep = TICK;
        match fire_due(store.as_ref(), queue.settings(), Utc::now()).await {
            Ok(pass) => {
                if pass.fired > 0 {
                    queue.wake();
                }
                if pass.full {
                    sleep = Duration::ZERO;
                }
            }
            Err(e) => tracing::warn!(error = %e, "could not fire due schedules"),
        }
        if !sleep.is_zero() {
            match store.next_schedule_due().await {
                Ok(Some(at)) => {
                    let wait = at.saturating_sub(comet_util::now_ms()).max(0) as u64;
                    sleep = Duration::from_millis(wait).clamp(MIN_SLEEP, TICK);
                }
                Ok(None) => {}
                Err(e) => tracing::warn!(error = %e, "could not read the next schedule due"),
            }
        }
        tokio::select! {
            () = tokio::time::sleep(sleep) => {}
            _ = stopped.changed() => return,
        }
    }
}

/// What one pass of [`fire_due`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pass {
    /// Ticks this pass fired (claimed and enqueued).
    pub fired: usize,
    /// Whether it read a full batch (more may be due).
    pub full: bool,
}

/// Fires every schedule due at `now` (its calls with `settings`' attempts and dedupe window) whose tick this daemon claims first. A schedule whose
/// expression no longer parses is logged and left alone.
pub async fn fire_due(
    store: &dyn ScheduleStore,
    settings: &AsyncSettings,
    now: DateTime<Utc>,
) -> Result<Pass, StoreError> {
    let due = store.due_schedules(now.timestamp_millis(), BATCH).await?;
    let full = due.len() as u32 == BATCH;
    let mut fired = 0;
    for schedule in due {
        let Some((tick, call)) = owed(&schedule, settings, now) else {
            continue;
        };
        if store.fire_schedule(&tick, &call).await?.is_some() {
            tracing::debug!(schedule = %schedule.id, fire = tick.fire_ms, "schedule fired");
            fired += 1;
        }
    }
    Ok(Pass { fired, full })
}

/// The tick `schedule` owes at `now` and the call it makes, if it owes one.
fn owed(
    schedule: &Schedule,
    settings: &AsyncSettings,
    now: DateTime<Utc>,
) -> Option<(Tick, NewAsyncInvocation)> {
    let read = schedule.next_fire_at_ms?;
    let cron = match nova_cron::Schedule::parse(&schedule.cron, schedule.timezone.as_deref()) {
        Ok(cron) => cron.with_anchor(at(schedule.created_at_ms)),
        Err(e) => {
            tracing::warn!(schedule = %schedule.id, error = %e, "schedule cannot be parsed");
            return None;
        }
    };
    let after = at(schedule.last_fired_at_ms.unwrap_or(schedule.created_at_ms));
    let due = cron.due(after, now);
    let fire = due.fire?.timestamp_millis();
    let call = NewAsyncInvocation {
        id: uuid::Uuid::new_v4().simple().to_string(),
        function: schedule.function.clone(),
        qualifier: schedule
            .qualifier
            .clone()
            .unwrap_or_else(|| "$LATEST".to_string()),
        payload: schedule.payload.clone(),
        max_attempts: settings.of(&schedule.function).max_attempts,
        idempotency_key: Some(format!("schedule:{}:{fire}", schedule.id)),
        dedupe_window_ms: settings.dedupe_window.as_millis() as i64,
    };
    let tick = Tick {
        id: schedule.id.clone(),
        read_ms: read,
        fire_ms: fire,
        next_ms: due.next.map(|n| n.timestamp_millis()),
    };
    Some((tick, call))
}

/// Unix milliseconds as a time (the epoch if out of range).
pub fn at(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

#[cfg(test)]
mod tests;
