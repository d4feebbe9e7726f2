//! Schedules: a function called on a cron expression, each tick fired into the async queue so
//! that it retries like any async call. The store keeps the expression as text and the tick still
//! owed; computing ticks is nova-cron's, in the caller.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::{AsyncInvocation, NewAsyncInvocation, StoreError};

/// A schedule as stored. Times are Unix milliseconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Schedule {
    /// Its id.
    pub id: String,
    /// The function it calls.
    pub function: String,
    /// The cron expression, as written (`*/5 * * * *`, `@every 30s`, `@daily` …).
    pub cron: String,
    /// The IANA time zone its ticks are counted in; `None` is UTC.
    pub timezone: Option<String>,
    /// The payload every tick sends (JSON).
    pub payload: serde_json::Value,
    /// The qualifier its calls name (`None`: `$LATEST`).
    pub qualifier: Option<String>,
    /// False while paused.
    pub enabled: bool,
    /// The tick still owed, if any (none while paused or when no tick is left).
    pub next_fire_at_ms: Option<i64>,
    /// The last tick fired, if any.
    pub last_fired_at_ms: Option<i64>,
    /// When it was created.
    pub created_at_ms: i64,
    /// When it last changed.
    pub updated_at_ms: i64,
}

/// One tick claimed by [`ScheduleStore::fire_schedule`].
#[derive(Debug, Clone)]
pub struct Tick {
    /// The schedule.
    pub id: String,
    /// The `next_fire_at_ms` the caller read: the claim holds only if it is still there.
    pub read_ms: i64,
    /// The tick fired, recorded as `last_fired_at_ms`.
    pub fire_ms: i64,
    /// The tick owed after it, stored as `next_fire_at_ms`.
    pub next_ms: Option<i64>,
}

/// The schedules of functions.
///
/// A tick fires exactly once among every daemon sharing the store: [`ScheduleStore::fire_schedule`]
/// moves `next_fire_at` from the value read to the next tick and enqueues the call in one
/// transaction, and only the daemon whose update changed the row enqueues.
#[async_trait]
pub trait ScheduleStore: Send + Sync + 'static {
    /// Stores a new schedule as given (the caller sets its times). `NotFound`
    /// ([`crate::Kind::Function`]) without the function, checked in the same transaction.
    async fn create_schedule(&self, schedule: &Schedule) -> Result<Schedule, StoreError>;

    /// The schedule `id` of `function`, if there is one.
    async fn get_schedule(&self, function: &str, id: &str) -> Result<Option<Schedule>, StoreError>;

    /// The function's schedules, oldest first. Empty when there is no such function.
    async fn list_schedules(&self, function: &str) -> Result<Vec<Schedule>, StoreError>;

    /// Writes what a caller may change (cron, timezone, payload, qualifier, enabled,
    /// next_fire_at). `NotFound` ([`crate::Kind::Schedule`]) when there is none.
    async fn update_schedule(&self, schedule: &Schedule) -> Result<Schedule, StoreError>;

    /// Deletes the schedule; whether there was one.
    async fn delete_schedule(&self, function: &str, id: &str) -> Result<bool, StoreError>;

    /// Up to `limit` enabled schedules whose `next_fire_at` is at or before `now_ms`, earliest
    /// first.
    async fn due_schedules(&self, now_ms: i64, limit: u32) -> Result<Vec<Schedule>, StoreError>;

    /// The earliest `next_fire_at` of an enabled schedule, if any.
    async fn next_schedule_due(&self) -> Result<Option<i64>, StoreError>;

    /// Claims `tick` and enqueues `call` in one transaction; `None` (and nothing written) when
    /// the schedule's `next_fire_at` is no longer `tick.read_ms` (another daemon fired it, or it
    /// was paused, changed or deleted meanwhile).
    async fn fire_schedule(
        &self,
        tick: &Tick,
        call: &NewAsyncInvocation,
    ) -> Result<Option<AsyncInvocation>, StoreError>;
}
