//! [`QueueStore`] in SQL: the `async_invocations` table and the idempotency keys beside it.
//!
//! A claim is one `UPDATE … WHERE id IN (SELECT … LIMIT n) RETURNING`: atomic on SQLite (one
//! writer), and on Postgres the inner select takes `FOR UPDATE SKIP LOCKED`, so daemons claiming
//! together each get other rows instead of waiting for one another. Every change of an attempt's
//! outcome is guarded by the attempt number, so a daemon whose lease expired cannot overwrite
//! what the next claimer does.

use async_trait::async_trait;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row as _};

use super::{SqlStore, placeholders};
use crate::queue::{
    AsyncConfig, AsyncInvocation, AsyncQuery, AsyncStatus, AttemptError, NewAsyncInvocation,
    Outcome, QueueStore, Retried,
};
use crate::{Kind, StoreError};

const COLUMNS: &str = "id, function_name, qualifier, version, payload, status, attempts, \
    max_attempts, errors, result, idempotency_key, next_attempt_at, lease_until, created_at, \
    updated_at";

/// The rows a claim reads: waiting ones whose time has come, in the order they come due (the
/// partial index `async_invocations_ready`, so only as many as it takes), and running ones
/// whose lease has lapsed (their daemon died; `async_invocations_leased`). `{skip}` leaves out
/// busy functions, `{lock}` is Postgres's `FOR UPDATE SKIP LOCKED`. The status conditions are
/// written exactly as in the indexes, for SQLite to match them.
const CLAIMABLE: &str = "SELECT id FROM (\
    SELECT id, next_attempt_at FROM (SELECT id, next_attempt_at FROM async_invocations \
        WHERE status IN ('queued', 'failed') AND next_attempt_at <= $1{skip} \
        ORDER BY next_attempt_at LIMIT $3{lock}) ready \
    UNION ALL \
    SELECT id, next_attempt_at FROM (SELECT id, next_attempt_at FROM async_invocations \
        WHERE status = 'running' AND lease_until < $1{skip} \
        ORDER BY lease_until LIMIT $3{lock}) lapsed\
    ) claimable ORDER BY next_attempt_at LIMIT $3";

fn corrupt(id: &str, what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("async invocation '{id}': {what}: {e}"))
}

fn read(row: &AnyRow) -> Result<AsyncInvocation, StoreError> {
    let id: String = row.try_get("id")?;
    let status: String = row.try_get("status")?;
    let payload: String = row.try_get("payload")?;
    let errors: String = row.try_get("errors")?;
    let result: Option<String> = row.try_get("result")?;
    let version: Option<i64> = row.try_get("version")?;
    let attempts: i64 = row.try_get("attempts")?;
    let max_attempts: i64 = row.try_get("max_attempts")?;
    Ok(AsyncInvocation {
        function: row.try_get("function_name")?,
        qualifier: row.try_get("qualifier")?,
        version: version.map(|v| v as u64),
        payload: serde_json::from_str(&payload).map_err(|e| corrupt(&id, "payload", e))?,
        status: AsyncStatus::parse(&status).ok_or_else(|| corrupt(&id, "status", &status))?,
        attempts: attempts as u32,
        max_attempts: max_attempts as u32,
        errors: serde_json::from_str(&errors).map_err(|e| corrupt(&id, "errors", e))?,
        result: result
            .map(|r| serde_json::from_str(&r))
            .transpose()
            .map_err(|e| corrupt(&id, "result", e))?,
        idempotency_key: row.try_get("idempotency_key")?,
        next_attempt_at_ms: row.try_get("next_attempt_at")?,
        lease_until_ms: row.try_get("lease_until")?,
        created_at_ms: row.try_get("created_at")?,
        updated_at_ms: row.try_get("updated_at")?,
        id,
    })
}

/// Enqueues `new` on `conn`, inside the caller's transaction (see [`QueueStore::enqueue`]): what
/// a schedule's tick uses to enqueue in the transaction that claims the tick.
pub(super) async fn enqueue_in(
    conn: &mut AnyConnection,
    new: &NewAsyncInvocation,
    now: i64,
) -> Result<(AsyncInvocation, bool), StoreError> {
    if let Some(key) = &new.idempotency_key {
        // The first writer of a key holds its row until the window passes; a concurrent one
        // waits on the primary key and then finds the first's id.
        sqlx::query(
            "INSERT INTO async_idempotency (function_name, key, id, created_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (function_name, key) DO UPDATE \
             SET id = excluded.id, created_at = excluded.created_at \
             WHERE async_idempotency.created_at <= $5",
        )
        .bind(new.function.clone())
        .bind(key.clone())
        .bind(new.id.clone())
        .bind(now)
        .bind(now - new.dedupe_window_ms)
        .execute(&mut *conn)
        .await?;
        let first: String = sqlx::query_scalar(
            "SELECT id FROM async_idempotency WHERE function_name = $1 AND key = $2",
        )
        .bind(new.function.clone())
        .bind(key.clone())
        .fetch_one(&mut *conn)
        .await?;
        if first != new.id {
            let found = fetch(conn, &first).await?;
            let found = found.ok_or_else(|| corrupt(&first, "idempotency key", "no row"))?;
            return Ok((found, false));
        }
    }
    insert_rows(conn, &[new], now).await?;
    Ok((stored(new, now), true))
}

/// Rows one `INSERT` writes at most (seven parameters each).
const ROWS_PER_INSERT: usize = 128;

/// Inserts `news` as queued rows, [`ROWS_PER_INSERT`] to a statement.
async fn insert_rows(
    conn: &mut AnyConnection,
    news: &[&NewAsyncInvocation],
    now: i64,
) -> Result<(), StoreError> {
    for chunk in news.chunks(ROWS_PER_INSERT) {
        let rows: Vec<String> = (0..chunk.len())
            .map(|i| {
                let p = |n: usize| format!("${}", i * 7 + n);
                format!(
                    "({}, {}, {}, NULL, {}, 'queued', 0, {}, '[]', NULL, {}, {}, NULL, {}, {})",
                    p(1),
                    p(2),
                    p(3),
                    p(4),
                    p(5),
                    p(6),
                    p(7),
                    p(7),
                    p(7)
                )
            })
            .collect();
        let sql = format!(
            "INSERT INTO async_invocations ({COLUMNS}) VALUES {}",
            rows.join(", ")
        );
        let mut query = sqlx::query(&sql);
        for new in chunk {
            query = query
                .bind(new.id.clone())
                .bind(new.function.clone())
                .bind(new.qualifier.clone())
                .bind(new.payload.to_string())
                .bind(i64::from(new.max_attempts))
                .bind(new.idempotency_key.clone())
                .bind(now);
        }
        query.execute(&mut *conn).await?;
    }
    Ok(())
}

/// What a row inserted at `now` holds, without reading it back.
fn stored(new: &NewAsyncInvocation, now: i64) -> AsyncInvocation {
    AsyncInvocation {
        id: new.id.clone(),
        function: new.function.clone(),
        qualifier: new.qualifier.clone(),
        version: None,
        payload: new.payload.clone(),
        status: AsyncStatus::Queued,
        attempts: 0,
        max_attempts: new.max_attempts,
        errors: Vec::new(),
        result: None,
        idempotency_key: new.idempotency_key.clone(),
        next_attempt_at_ms: now,
        lease_until_ms: None,
        created_at_ms: now,
        updated_at_ms: now,
    }
}

/// Forgets `function`'s async settings (the function is being deleted).
pub(super) async fn forget(conn: &mut AnyConnection, function: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM async_configs WHERE function_name = $1")
        .bind(function.to_string())
        .execute(conn)
        .await?;
    Ok(())
}

fn read_config(row: &AnyRow) -> Result<(String, AsyncConfig), StoreError> {
    let function: String = row.try_get("function_name")?;
    let number = |column: &str| -> Result<Option<i64>, StoreError> { Ok(row.try_get(column)?) };
    let config = AsyncConfig {
        max_attempts: number("max_attempts")?.map(|n| n as u32),
        max_event_age_s: number("max_event_age")?.map(|n| n as u64),
        concurrency: number("concurrency")?.map(|n| n as u32),
        on_success: row.try_get("on_success")?,
        on_failure: row.try_get("on_failure")?,
    };
    Ok((function, config))
}

/// The invocation `id` on `conn`.
async fn fetch(conn: &mut AnyConnection, id: &str) -> Result<Option<AsyncInvocation>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM async_invocations WHERE id = $1");
    let row = sqlx::query(&sql)
        .bind(id.to_string())
        .fetch_optional(conn)
        .await?;
    row.map(|r| read(&r)).transpose()
}

impl SqlStore {
    async fn fetch_async(
        &self,
        conn: &mut AnyConnection,
        id: &str,
    ) -> Result<Option<AsyncInvocation>, StoreError> {
        fetch(conn, id).await
    }
}

#[async_trait]
impl QueueStore for SqlStore {
    async fn enqueue_all(
        &self,
        batch: &[NewAsyncInvocation],
    ) -> Result<Vec<(AsyncInvocation, bool)>, StoreError> {
        let now = comet_util::now_ms();
        let (keyed, plain): (Vec<&NewAsyncInvocation>, Vec<&NewAsyncInvocation>) =
            batch.iter().partition(|n| n.idempotency_key.is_some());
        if keyed.is_empty() && plain.len() <= ROWS_PER_INSERT {
            // One statement, atomic by itself: the common case costs one round trip.
            let mut conn = self.writer.acquire().await?;
            insert_rows(&mut conn, &plain, now).await?;
            return Ok(batch.iter().map(|n| (stored(n, now), true)).collect());
        }
        let mut tx = self.writer.begin().await?;
        insert_rows(&mut tx, &plain, now).await?;
        // Keyed ones in the batch's order, so the first of two with one key holds it.
        let mut firsts = std::collections::HashMap::new();
        for new in keyed {
            firsts.insert(new.id.as_str(), enqueue_in(&mut tx, new, now).await?);
        }
        tx.commit().await?;
        Ok(batch
            .iter()
            .map(|n| {
                firsts
                    .remove(n.id.as_str())
                    .unwrap_or_else(|| (stored(n, now), true))
            })
            .collect())
    }

    async fn claim(
        &self,
        limit: u32,
        busy: &[String],
        lease_ms: i64,
    ) -> Result<Vec<AsyncInvocation>, StoreError> {
        let now = comet_util::now_ms();
        let skip = if busy.is_empty() {
            String::new()
        } else {
            format!(
                " AND function_name NOT IN ({})",
                placeholders(4, busy.len()).join(", ")
            )
        };
        let lock = if self.backend == "SQLite" {
            ""
        } else {
            " FOR UPDATE SKIP LOCKED"
        };
        let claimable = CLAIMABLE.replace("{skip}", &skip).replace("{lock}", lock);
        let sql = format!(
            "UPDATE async_invocations SET status = 'running', attempts = attempts + 1, \
             lease_until = $2, updated_at = $1 WHERE id IN ({claimable}) RETURNING {COLUMNS}"
        );
        let mut query = sqlx::query(&sql)
            .bind(now)
            .bind(now + lease_ms)
            .bind(i64::from(limit));
        for function in busy {
            query = query.bind(function.clone());
        }
        let rows = query.fetch_all(&self.writer).await?;
        let mut claimed = rows.iter().map(read).collect::<Result<Vec<_>, _>>()?;
        claimed.sort_by_key(|c| c.next_attempt_at_ms);
        Ok(claimed)
    }

    async fn renew(&self, ids: &[String], lease_ms: i64) -> Result<(), StoreError> {
        if ids.is_empty() {
            return Ok(());
        }
        let sql = format!(
            "UPDATE async_invocations SET lease_until = $1 \
             WHERE status = 'running' AND id IN ({})",
            placeholders(2, ids.len()).join(", ")
        );
        let mut query = sqlx::query(&sql).bind(comet_util::now_ms() + lease_ms);
        for id in ids {
            query = query.bind(id.clone());
        }
        query.execute(&self.writer).await?;
        Ok(())
    }

    async fn finish(
        &self,
        id: &str,
        attempt: u32,
        outcome: &Outcome,
        then: Option<&NewAsyncInvocation>,
    ) -> Result<bool, StoreError> {
        let now = comet_util::now_ms();
        if let (Outcome::Succeeded { result, version }, None) = (outcome, then) {
            // The common case in one statement: a success leaves the errors as they are.
            let done = sqlx::query(
                "UPDATE async_invocations SET status = 'succeeded', version = $1, result = $2, \
                 lease_until = NULL, updated_at = $3 \
                 WHERE id = $4 AND status = 'running' AND attempts = $5",
            )
            .bind(*version as i64)
            .bind(result.to_string())
            .bind(now)
            .bind(id.to_string())
            .bind(i64::from(attempt))
            .execute(&self.writer)
            .await?;
            return Ok(done.rows_affected() == 1);
        }
        let mut tx = self.writer.begin().await?;
        // Write first: on SQLite that takes the write lock (waiting under the busy timeout)
        // before the read, since a read transaction cannot become a writer once another has
        // committed; on Postgres it locks the row against a concurrent claim.
        sqlx::query("UPDATE async_invocations SET updated_at = updated_at WHERE id = $1")
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
        let Some(current) = self.fetch_async(&mut tx, id).await? else {
            return Ok(false);
        };
        if current.status != AsyncStatus::Running || current.attempts != attempt {
            return Ok(false);
        }
        let mut errors = current.errors;
        let (status, version, result, next) = match outcome {
            Outcome::Succeeded { result, version } => (
                AsyncStatus::Succeeded,
                Some(*version),
                Some(result.to_string()),
                current.next_attempt_at_ms,
            ),
            Outcome::Retry {
                error,
                next_attempt_at_ms,
                version,
            } => {
                errors.push(AttemptError {
                    attempt,
                    at_ms: now,
                    error: error.clone(),
                });
                (AsyncStatus::Failed, *version, None, *next_attempt_at_ms)
            }
            Outcome::DeadLetter { error, version } => {
                errors.push(AttemptError {
                    attempt,
                    at_ms: now,
                    error: error.clone(),
                });
                (
                    AsyncStatus::DeadLettered,
                    *version,
                    None,
                    current.next_attempt_at_ms,
                )
            }
        };
        let errors = serde_json::to_string(&errors).map_err(|e| corrupt(id, "errors", e))?;
        let done = sqlx::query(
            "UPDATE async_invocations SET status = $1, version = COALESCE($2, version), \
             result = $3, errors = $4, next_attempt_at = $5, lease_until = NULL, updated_at = $6 \
             WHERE id = $7 AND status = 'running' AND attempts = $8",
        )
        .bind(status.as_str())
        .bind(version.map(|v| v as i64))
        .bind(result)
        .bind(errors)
        .bind(next)
        .bind(now)
        .bind(id.to_string())
        .bind(i64::from(attempt))
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        if let Some(then) = then {
            enqueue_in(&mut tx, then, now).await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    async fn next_due(&self) -> Result<Option<i64>, StoreError> {
        let due: Option<i64> = sqlx::query_scalar(
            "SELECT MIN(next_attempt_at) FROM async_invocations \
             WHERE status IN ('queued', 'failed')",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(due)
    }

    async fn get_async(&self, id: &str) -> Result<Option<AsyncInvocation>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        self.fetch_async(&mut conn, id).await
    }

    async fn list_async(&self, query: &AsyncQuery) -> Result<Vec<AsyncInvocation>, StoreError> {
        let mut conditions = Vec::new();
        let mut binds = Vec::new();
        if let Some(function) = &query.function {
            binds.push(function.clone());
            conditions.push(format!("function_name = ${}", binds.len()));
        }
        if let Some(status) = query.status {
            binds.push(status.as_str().to_string());
            conditions.push(format!("status = ${}", binds.len()));
        }
        let filter = if conditions.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", conditions.join(" AND "))
        };
        let sql = format!(
            "SELECT {COLUMNS} FROM async_invocations{filter} \
             ORDER BY created_at DESC, id LIMIT ${} OFFSET ${}",
            binds.len() + 1,
            binds.len() + 2
        );
        let mut q = sqlx::query(&sql);
        for bind in binds {
            q = q.bind(bind);
        }
        let rows = q
            .bind(i64::from(query.limit))
            .bind(i64::from(query.offset))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(read).collect()
    }

    async fn async_configs(&self) -> Result<Vec<(String, AsyncConfig)>, StoreError> {
        let rows = sqlx::query(
            "SELECT function_name, max_attempts, max_event_age, concurrency, on_success, \
             on_failure FROM async_configs ORDER BY function_name",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(read_config).collect()
    }

    async fn put_async_config(
        &self,
        function: &str,
        config: &AsyncConfig,
    ) -> Result<(), StoreError> {
        let mut tx = self.writer.begin().await?;
        // Write first (SQLite's write lock, see `finish`), then check the function is there.
        let number = |n: Option<u64>| n.map(|n| n.min(i64::MAX as u64) as i64);
        sqlx::query(
            "INSERT INTO async_configs (function_name, max_attempts, max_event_age, \
             concurrency, on_success, on_failure, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (function_name) DO UPDATE SET max_attempts = excluded.max_attempts, \
             max_event_age = excluded.max_event_age, concurrency = excluded.concurrency, \
             on_success = excluded.on_success, on_failure = excluded.on_failure, \
             updated_at = excluded.updated_at",
        )
        .bind(function.to_string())
        .bind(number(config.max_attempts.map(u64::from)))
        .bind(number(config.max_event_age_s))
        .bind(number(config.concurrency.map(u64::from)))
        .bind(config.on_success.clone())
        .bind(config.on_failure.clone())
        .bind(comet_util::now_ms())
        .execute(&mut *tx)
        .await?;
        let exists: Option<String> =
            sqlx::query_scalar("SELECT name FROM functions WHERE name = $1")
                .bind(function.to_string())
                .fetch_optional(&mut *tx)
                .await?;
        if exists.is_none() {
            return Err(StoreError::not_found(Kind::Function, function));
        }
        tx.commit().await?;
        Ok(())
    }

    async fn delete_async_config(&self, function: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM async_configs WHERE function_name = $1")
            .bind(function.to_string())
            .execute(&self.writer)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn retry_async(&self, id: &str) -> Result<Retried, StoreError> {
        let now = comet_util::now_ms();
        let mut tx = self.writer.begin().await?;
        let done = sqlx::query(
            "UPDATE async_invocations SET status = 'queued', attempts = 0, next_attempt_at = $1, \
             lease_until = NULL, updated_at = $1 WHERE id = $2 AND status = 'dead_lettered'",
        )
        .bind(now)
        .bind(id.to_string())
        .execute(&mut *tx)
        .await?;
        let found = self.fetch_async(&mut tx, id).await?;
        tx.commit().await?;
        let found = found.ok_or_else(|| StoreError::not_found(Kind::AsyncInvocation, id))?;
        Ok(if done.rows_affected() == 1 {
            Retried::Queued(Box::new(found))
        } else {
            Retried::NotDeadLettered(found.status)
        })
    }
}
