//! [`ScheduleStore`] in SQL: the `schedules` table. Firing a tick is one transaction: the
//! conditional update of `next_fire_at` (from the value read) and, only when it changed the row,
//! the enqueue of the call through the queue's own statements.

use async_trait::async_trait;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row as _};

use super::SqlStore;
use crate::schedules::{Schedule, ScheduleStore, Tick};
use crate::{AsyncInvocation, Kind, NewAsyncInvocation, StoreError};

const COLUMNS: &str = "id, function_name, cron, timezone, payload, qualifier, enabled, \
    next_fire_at, last_fired_at, created_at, updated_at";

/// Forgets every schedule of `function` (deleted, or registered anew over an older daemon's rows).
pub(super) async fn forget(conn: &mut AnyConnection, function: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM schedules WHERE function_name = $1")
        .bind(function.to_string())
        .execute(conn)
        .await?;
    Ok(())
}

fn read(row: &AnyRow) -> Result<Schedule, StoreError> {
    let id: String = row.try_get("id")?;
    let payload: String = row.try_get("payload")?;
    let enabled: i64 = row.try_get("enabled")?;
    Ok(Schedule {
        function: row.try_get("function_name")?,
        cron: row.try_get("cron")?,
        timezone: row.try_get("timezone")?,
        payload: serde_json::from_str(&payload)
            .map_err(|e| StoreError::Corrupt(format!("schedule '{id}': payload: {e}")))?,
        qualifier: row.try_get("qualifier")?,
        enabled: enabled != 0,
        next_fire_at_ms: row.try_get("next_fire_at")?,
        last_fired_at_ms: row.try_get("last_fired_at")?,
        created_at_ms: row.try_get("created_at")?,
        updated_at_ms: row.try_get("updated_at")?,
        id,
    })
}

async fn fetch(conn: &mut AnyConnection, id: &str) -> Result<Option<Schedule>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM schedules WHERE id = $1");
    let row = sqlx::query(&sql)
        .bind(id.to_string())
        .fetch_optional(conn)
        .await?;
    row.map(|r| read(&r)).transpose()
}

#[async_trait]
impl ScheduleStore for SqlStore {
    async fn create_schedule(&self, schedule: &Schedule) -> Result<Schedule, StoreError> {
        let mut tx = self.writer.begin().await?;
        // Written first so that SQLite takes its write lock before the read (see `finish`).
        let sql = format!(
            "INSERT INTO schedules ({COLUMNS}) \
             SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11 \
             WHERE EXISTS (SELECT 1 FROM functions WHERE name = $2)"
        );
        let done = sqlx::query(&sql)
            .bind(schedule.id.clone())
            .bind(schedule.function.clone())
            .bind(schedule.cron.clone())
            .bind(schedule.timezone.clone())
            .bind(schedule.payload.to_string())
            .bind(schedule.qualifier.clone())
            .bind(i64::from(schedule.enabled))
            .bind(schedule.next_fire_at_ms)
            .bind(schedule.last_fired_at_ms)
            .bind(schedule.created_at_ms)
            .bind(schedule.updated_at_ms)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::not_found(Kind::Function, &schedule.function));
        }
        let stored = fetch(&mut tx, &schedule.id).await?;
        tx.commit().await?;
        stored.ok_or_else(|| StoreError::Corrupt(format!("schedule '{}': no row", schedule.id)))
    }

    async fn get_schedule(&self, function: &str, id: &str) -> Result<Option<Schedule>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        Ok(fetch(&mut conn, id)
            .await?
            .filter(|s| s.function == function))
    }

    async fn list_schedules(&self, function: &str) -> Result<Vec<Schedule>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM schedules WHERE function_name = $1 ORDER BY created_at, id"
        );
        let rows = sqlx::query(&sql)
            .bind(function.to_string())
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(read).collect()
    }

    async fn update_schedule(&self, schedule: &Schedule) -> Result<Schedule, StoreError> {
        let mut tx = self.writer.begin().await?;
        let done = sqlx::query(
            "UPDATE schedules SET cron = $1, timezone = $2, payload = $3, qualifier = $4, \
             enabled = $5, next_fire_at = $6, updated_at = $7 \
             WHERE id = $8 AND function_name = $9",
        )
        .bind(schedule.cron.clone())
        .bind(schedule.timezone.clone())
        .bind(schedule.payload.to_string())
        .bind(schedule.qualifier.clone())
        .bind(i64::from(schedule.enabled))
        .bind(schedule.next_fire_at_ms)
        .bind(comet_util::now_ms())
        .bind(schedule.id.clone())
        .bind(schedule.function.clone())
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::not_found(Kind::Schedule, &schedule.id));
        }
        let stored = fetch(&mut tx, &schedule.id).await?;
        tx.commit().await?;
        stored.ok_or_else(|| StoreError::not_found(Kind::Schedule, &schedule.id))
    }

    async fn delete_schedule(&self, function: &str, id: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM schedules WHERE id = $1 AND function_name = $2")
            .bind(id.to_string())
            .bind(function.to_string())
            .execute(&self.writer)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn due_schedules(&self, now_ms: i64, limit: u32) -> Result<Vec<Schedule>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM schedules WHERE enabled = 1 AND next_fire_at <= $1 \
             ORDER BY next_fire_at LIMIT $2"
        );
        let rows = sqlx::query(&sql)
            .bind(now_ms)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(read).collect()
    }

    async fn next_schedule_due(&self) -> Result<Option<i64>, StoreError> {
        let due: Option<i64> =
            sqlx::query_scalar("SELECT MIN(next_fire_at) FROM schedules WHERE enabled = 1")
                .fetch_one(&self.pool)
                .await?;
        Ok(due)
    }

    async fn fire_schedule(
        &self,
        tick: &Tick,
        call: &NewAsyncInvocation,
    ) -> Result<Option<AsyncInvocation>, StoreError> {
        let now = comet_util::now_ms();
        let mut tx = self.writer.begin().await?;
        // On Postgres a concurrent claimer waits on the row and then finds `next_fire_at` moved:
        // zero rows. On SQLite the update takes the one write lock first.
        let claimed = sqlx::query(
            "UPDATE schedules SET next_fire_at = $1, last_fired_at = $2, updated_at = $3 \
             WHERE id = $4 AND enabled = 1 AND next_fire_at = $5",
        )
        .bind(tick.next_ms)
        .bind(tick.fire_ms)
        .bind(now)
        .bind(tick.id.clone())
        .bind(tick.read_ms)
        .execute(&mut *tx)
        .await?;
        if claimed.rows_affected() == 0 {
            tx.rollback().await?;
            return Ok(None);
        }
        let (invocation, _) = super::queue::enqueue_in(&mut tx, call, now).await?;
        tx.commit().await?;
        Ok(Some(invocation))
    }
}
