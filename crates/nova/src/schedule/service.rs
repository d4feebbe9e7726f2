//! [`Schedules`]: what the HTTP routes and the CLI do with schedules, apart from HTTP. A schedule
//! is checked before anything is stored: its function exists, its expression parses in its zone
//! and has a tick to fire (nova-cron's message otherwise). `next_fire_at` is computed here on
//! create, change and resume, and cleared on pause.

use std::sync::Arc;

use chrono::Utc;
use nova_store::{Kind, Schedule, ScheduleStore, StoreError};
use serde::{Deserialize, Serialize};

use super::at;
use crate::service::{Functions, ServiceError};

/// What a caller writes: all of it on create (`cron` required), any of it on a change.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleSpec {
    /// The cron expression (5 or 6 fields, `@every 30s`, `@hourly`, `@daily` …); the original
    /// Nova's clients call it `cron_expression`.
    #[serde(skip_serializing_if = "Option::is_none", alias = "cron_expression")]
    pub cron: Option<String>,
    /// The IANA zone its fields are read in (UTC when not given).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// The payload of every tick (`{}` when not given); `input` in the original Nova.
    #[serde(skip_serializing_if = "Option::is_none", alias = "input")]
    pub payload: Option<serde_json::Value>,
    /// False to pause it (true when not given on create).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// The version or alias its calls name (`$LATEST` when not given), resolved at each call.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub qualifier: Option<String>,
}

/// The schedules of functions. Cheap to clone.
#[derive(Clone)]
pub struct Schedules {
    store: Arc<dyn ScheduleStore>,
    functions: Functions,
}

impl Schedules {
    /// Schedules in `store`, of the functions `functions` knows.
    pub fn new(store: Arc<dyn ScheduleStore>, functions: Functions) -> Schedules {
        Schedules { store, functions }
    }

    /// The store (what the scheduler fires from).
    pub fn store(&self) -> Arc<dyn ScheduleStore> {
        self.store.clone()
    }

    /// Creates a schedule of `function`; nothing stored when the function is missing or the
    /// expression, zone or payload is refused.
    pub async fn create(
        &self,
        function: &str,
        spec: ScheduleSpec,
    ) -> Result<Schedule, ServiceError> {
        let cron = spec
            .cron
            .ok_or_else(|| ServiceError::BadRequest("cron is required".into()))?;
        self.functions.get(function).await?;
        let qualifier = self.qualifier(function, spec.qualifier.as_deref()).await?;
        let now = Utc::now().timestamp_millis();
        let mut schedule = Schedule {
            id: uuid::Uuid::new_v4().simple().to_string(),
            function: function.to_string(),
            cron,
            timezone: spec.timezone,
            payload: spec.payload.unwrap_or_else(|| serde_json::json!({})),
            qualifier,
            enabled: spec.enabled.unwrap_or(true),
            next_fire_at_ms: None,
            last_fired_at_ms: None,
            created_at_ms: now,
            updated_at_ms: now,
        };
        schedule.next_fire_at_ms = next_fire(&schedule, now)?;
        Ok(self.store.create_schedule(&schedule).await?)
    }

    /// The schedules of `function`, oldest first; `NotFound` without the function.
    pub async fn list(&self, function: &str) -> Result<Vec<Schedule>, ServiceError> {
        self.functions.get(function).await?;
        Ok(self.store.list_schedules(function).await?)
    }

    /// Changes a schedule (pause, resume, expression, zone, payload), its next tick computed
    /// anew.
    pub async fn update(
        &self,
        function: &str,
        id: &str,
        spec: ScheduleSpec,
    ) -> Result<Schedule, ServiceError> {
        let mut schedule = self
            .store
            .get_schedule(function, id)
            .await?
            .ok_or_else(|| StoreError::not_found(Kind::Schedule, id))?;
        if let Some(cron) = spec.cron {
            schedule.cron = cron;
        }
        if let Some(timezone) = spec.timezone {
            schedule.timezone = Some(timezone);
        }
        if let Some(payload) = spec.payload {
            schedule.payload = payload;
        }
        if let Some(enabled) = spec.enabled {
            schedule.enabled = enabled;
        }
        if let Some(qualifier) = spec.qualifier.as_deref() {
            schedule.qualifier = self.qualifier(function, Some(qualifier)).await?;
        }
        schedule.next_fire_at_ms = next_fire(&schedule, Utc::now().timestamp_millis())?;
        Ok(self.store.update_schedule(&schedule).await?)
    }

    /// The qualifier a schedule stores: `None` for `$LATEST`; else one that names a version or
    /// alias of `function` now (a 400 otherwise, nothing stored).
    async fn qualifier(
        &self,
        function: &str,
        given: Option<&str>,
    ) -> Result<Option<String>, ServiceError> {
        let Some(given) = given else {
            return Ok(None);
        };
        let qualifier: nova_api::Qualifier = given
            .parse()
            .map_err(|e| ServiceError::BadRequest(format!("qualifier '{given}': {e}")))?;
        if qualifier == nova_api::Qualifier::Latest {
            return Ok(None);
        }
        let found = match &qualifier {
            nova_api::Qualifier::Version(n) => {
                self.functions.version(function, *n).await.map(|_| ())
            }
            q => self.functions.version_of(function, q).await.map(|_| ()),
        };
        match found {
            Ok(()) => Ok(Some(qualifier.to_string())),
            Err(e @ (ServiceError::NoVersion { .. } | ServiceError::NoQualifier { .. })) => {
                Err(ServiceError::BadRequest(e.to_string()))
            }
            Err(e) => Err(e),
        }
    }

    /// Deletes a schedule; `NotFound` when there is none.
    pub async fn delete(&self, function: &str, id: &str) -> Result<(), ServiceError> {
        if self.store.delete_schedule(function, id).await? {
            Ok(())
        } else {
            Err(StoreError::not_found(Kind::Schedule, id).into())
        }
    }
}

/// The tick `schedule` owes first after `now` (none while paused); a 400 with nova-cron's
/// message when its expression or zone is refused or it has no tick left.
fn next_fire(schedule: &Schedule, now: i64) -> Result<Option<i64>, ServiceError> {
    let cron = nova_cron::Schedule::parse(&schedule.cron, schedule.timezone.as_deref())
        .map_err(|e| ServiceError::BadRequest(format!("cron '{}': {e}", schedule.cron)))?
        .with_anchor(at(schedule.created_at_ms));
    let next = cron
        .next_after(at(now))
        .ok_or_else(|| ServiceError::BadRequest(format!("cron '{}' never fires", schedule.cron)))?;
    Ok(schedule.enabled.then(|| next.timestamp_millis()))
}
