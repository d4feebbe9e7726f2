//! [`ContextStore`] in SQL, through sqlx's `Any` driver: the same statements on SQLite and
//! Postgres (`$n` placeholders, `ON CONFLICT`, `RETURNING`), so neither can drift from the other.
//!
//! `context_usage` holds, per context, how many entries and bytes it has, and under the context
//! id `''` (which no entry can have) the totals of the store. A change that adds or removes
//! bytes changes the entry first, then its context's row, then the totals row, in one
//! transaction: the rows' locks make the quota checks exact across heads on Postgres, and the
//! fixed order keeps two such transactions from waiting on each other.

use std::collections::BTreeMap;
use std::path::Path;

use async_trait::async_trait;
use sqlx::any::AnyRow;
use sqlx::{Any, AnyConnection, AnyPool, Row, Transaction};

use super::{ContextStore, Limits, Quota, Selection, StoreError};
use crate::entry::{Entry, EntryId};

const SCHEMA: [&str; 3] = [
    "CREATE TABLE IF NOT EXISTS context_entries (
        context_id  TEXT NOT NULL,
        family      TEXT NOT NULL,
        entry_key   TEXT NOT NULL,
        read_token  TEXT NOT NULL,
        write_token TEXT NOT NULL,
        value       TEXT NOT NULL,
        last_access BIGINT NOT NULL,
        size        BIGINT NOT NULL DEFAULT 0,
        PRIMARY KEY (context_id, family, entry_key)
    )",
    "CREATE INDEX IF NOT EXISTS context_entries_last_access ON context_entries (last_access)",
    "CREATE TABLE IF NOT EXISTS context_usage (
        context_id TEXT PRIMARY KEY,
        entries    BIGINT NOT NULL,
        bytes      BIGINT NOT NULL
    )",
];

/// The usage row that holds the store's totals.
const TOTALS: &str = "";

/// Any number that fits the store's counters.
const UNLIMITED: i64 = i64::MAX / 4;

/// Every head migrates under this Postgres advisory lock ("comet-ctx" in ASCII).
const SCHEMA_LOCK: i64 = 0x636f_6d65_742d_6374;

const COLUMNS: &str = "context_id, family, entry_key, read_token, write_token, value, last_access";

pub struct SqlStore {
    pool: AnyPool,
    limits: Limits,
}

impl Default for Limits {
    fn default() -> Self {
        crate::config::ContextConfig::default().limits()
    }
}

fn clamp(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(UNLIMITED).min(UNLIMITED)
}

impl SqlStore {
    /// The embedded store: a SQLite file (WAL), created if missing, with the default limits.
    pub async fn sqlite(path: &Path) -> Result<SqlStore, StoreError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| StoreError::Database(e.into()))?;
        }
        let url = format!("sqlite://{}?mode=rwc", path.display());
        let store = SqlStore::connect(&url, 4).await?;
        sqlx::query("PRAGMA journal_mode = WAL")
            .execute(&store.pool)
            .await?;
        Ok(store)
    }

    /// A Postgres store shared by several heads (`postgres://user@host/db`), with the default
    /// limits.
    pub async fn postgres(dsn: &str) -> Result<SqlStore, StoreError> {
        SqlStore::connect(dsn, 16).await
    }

    /// The same store with these limits.
    pub fn with_limits(mut self, limits: Limits) -> SqlStore {
        self.limits = limits;
        self
    }

    async fn connect(url: &str, connections: u32) -> Result<SqlStore, StoreError> {
        let pragmas = &["PRAGMA synchronous = NORMAL", "PRAGMA busy_timeout = 5000"];
        let pool = comet_util::sql::open(url, connections, pragmas).await?;
        create_schema(&pool).await?;
        Ok(SqlStore {
            pool,
            limits: Limits::default(),
        })
    }

    /// Every entry (the embedded store loads them at start).
    pub async fn all(&self) -> Result<Vec<Entry>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM context_entries");
        let rows = sqlx::query(&sql).fetch_all(&self.pool).await?;
        Ok(rows.iter().map(entry).collect::<Result<_, _>>()?)
    }

    /// Adds `entries` and `bytes` (either may be negative) to the usage of `context_id` and to
    /// the totals, unless that takes either past its limit.
    async fn charge(
        &self,
        tx: &mut Transaction<'_, Any>,
        context_id: &str,
        entries: i64,
        bytes: i64,
    ) -> Result<(), StoreError> {
        let max_entries = clamp(self.limits.max_entries_per_context);
        let max_bytes = clamp(self.limits.max_bytes_per_context);
        let max_total = clamp(self.limits.max_total_bytes);
        if entries > max_entries {
            return Err(Quota::ContextEntries(self.limits.max_entries_per_context).into());
        }
        if bytes > max_bytes {
            return Err(Quota::ContextBytes(self.limits.max_bytes_per_context).into());
        }
        let charged = sqlx::query(
            "INSERT INTO context_usage (context_id, entries, bytes) VALUES ($1, $2, $3)
             ON CONFLICT (context_id) DO UPDATE
             SET entries = context_usage.entries + excluded.entries,
                 bytes = context_usage.bytes + excluded.bytes
             WHERE (excluded.entries <= 0 OR context_usage.entries + excluded.entries <= $4)
               AND (excluded.bytes <= 0 OR context_usage.bytes + excluded.bytes <= $5)",
        )
        .bind(context_id)
        .bind(entries)
        .bind(bytes)
        .bind(max_entries)
        .bind(max_bytes)
        .execute(&mut **tx)
        .await?;
        if charged.rows_affected() == 0 {
            let held: i64 =
                sqlx::query_scalar("SELECT entries FROM context_usage WHERE context_id = $1")
                    .bind(context_id)
                    .fetch_one(&mut **tx)
                    .await?;
            return Err(if entries > 0 && held + entries > max_entries {
                Quota::ContextEntries(self.limits.max_entries_per_context)
            } else {
                Quota::ContextBytes(self.limits.max_bytes_per_context)
            }
            .into());
        }
        let total = sqlx::query(
            "UPDATE context_usage SET entries = entries + $2, bytes = bytes + $3
             WHERE context_id = $1 AND ($3 <= 0 OR bytes + $3 <= $4)",
        )
        .bind(TOTALS)
        .bind(entries)
        .bind(bytes)
        .bind(max_total)
        .execute(&mut **tx)
        .await?;
        if total.rows_affected() == 0 {
            return Err(Quota::TotalBytes(self.limits.max_total_bytes).into());
        }
        Ok(())
    }

    /// Takes what `removed` entries held (per context: count and bytes) off the usage rows,
    /// and drops the rows of contexts left empty.
    async fn release(
        tx: &mut Transaction<'_, Any>,
        removed: &BTreeMap<String, (i64, i64)>,
    ) -> Result<(), StoreError> {
        let (mut entries, mut bytes) = (0, 0);
        for (context_id, (n, size)) in removed {
            sqlx::query(
                "UPDATE context_usage SET entries = entries - $2, bytes = bytes - $3
                 WHERE context_id = $1",
            )
            .bind(context_id)
            .bind(n)
            .bind(size)
            .execute(&mut **tx)
            .await?;
            sqlx::query("DELETE FROM context_usage WHERE context_id = $1 AND entries <= 0")
                .bind(context_id)
                .execute(&mut **tx)
                .await?;
            entries += n;
            bytes += size;
        }
        if entries > 0 {
            sqlx::query(
                "UPDATE context_usage SET entries = entries - $2, bytes = bytes - $3
                 WHERE context_id = $1",
            )
            .bind(TOTALS)
            .bind(entries)
            .bind(bytes)
            .execute(&mut **tx)
            .await?;
        }
        Ok(())
    }
}

/// Creates the tables if missing, and the usage rows of a store made before there were any.
/// On Postgres the whole migration runs in one transaction under an advisory lock, so heads
/// that start together take turns instead of racing on the catalog (`CREATE TABLE IF NOT
/// EXISTS` is not atomic there).
async fn create_schema(pool: &AnyPool) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    let postgres = tx.backend_name() == "PostgreSQL";
    if postgres {
        sqlx::query("SELECT COUNT(*) FROM (SELECT pg_advisory_xact_lock($1)) AS locked")
            .bind(SCHEMA_LOCK)
            .execute(&mut *tx)
            .await?;
    }
    for statement in SCHEMA {
        sqlx::query(statement).execute(&mut *tx).await?;
    }
    if !has_size_column(&mut tx, postgres).await? {
        sqlx::query("ALTER TABLE context_entries ADD COLUMN size BIGINT NOT NULL DEFAULT 0")
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "UPDATE context_entries SET size = length(context_id) + length(family)
                + length(entry_key) + length(read_token) + length(write_token) + length(value)",
        )
        .execute(&mut *tx)
        .await?;
    }
    let totals: Option<i64> =
        sqlx::query_scalar("SELECT entries FROM context_usage WHERE context_id = $1")
            .bind(TOTALS)
            .fetch_optional(&mut *tx)
            .await?;
    if totals.is_none() {
        sqlx::query("DELETE FROM context_usage")
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO context_usage (context_id, entries, bytes)
             SELECT context_id, COUNT(*), SUM(size) FROM context_entries GROUP BY context_id",
        )
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO context_usage (context_id, entries, bytes)
             SELECT $1, COUNT(*), COALESCE(SUM(size), 0) FROM context_entries",
        )
        .bind(TOTALS)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await
}

/// Whether `context_entries` has its `size` column (stores made before the quotas have not).
async fn has_size_column(conn: &mut AnyConnection, postgres: bool) -> Result<bool, sqlx::Error> {
    let probe = if postgres {
        "SELECT COUNT(*) FROM information_schema.columns WHERE table_schema = current_schema()
           AND table_name = 'context_entries' AND column_name = 'size'"
    } else {
        "SELECT COUNT(*) FROM pragma_table_info('context_entries') WHERE name = 'size'"
    };
    let found: i64 = sqlx::query_scalar(probe).fetch_one(conn).await?;
    Ok(found > 0)
}

fn entry(row: &AnyRow) -> Result<Entry, sqlx::Error> {
    Ok(Entry {
        id: EntryId {
            context_id: row.try_get(0)?,
            family: row.try_get(1)?,
            key: row.try_get(2)?,
        },
        read_token: row.try_get(3)?,
        write_token: row.try_get(4)?,
        value: row.try_get(5)?,
        last_access: row.try_get(6)?,
    })
}

#[async_trait]
impl ContextStore for SqlStore {
    async fn get(&self, id: &EntryId) -> Result<Option<Entry>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM context_entries
             WHERE context_id = $1 AND family = $2 AND entry_key = $3"
        );
        let row = sqlx::query(&sql)
            .bind(&id.context_id)
            .bind(&id.family)
            .bind(&id.key)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| entry(&r)).transpose()?)
    }

    async fn create(&self, e: &Entry) -> Result<bool, StoreError> {
        let size = clamp(e.size());
        let mut tx = self.pool.begin().await?;
        let sql = format!(
            "INSERT INTO context_entries ({COLUMNS}, size) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
             ON CONFLICT (context_id, family, entry_key) DO NOTHING"
        );
        let done = sqlx::query(&sql)
            .bind(&e.id.context_id)
            .bind(&e.id.family)
            .bind(&e.id.key)
            .bind(&e.read_token)
            .bind(&e.write_token)
            .bind(&e.value)
            .bind(e.last_access)
            .bind(size)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        // A refusal drops the transaction, which rolls the insert back.
        self.charge(&mut tx, &e.id.context_id, 1, size).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn update(&self, e: &Entry) -> Result<bool, StoreError> {
        let size = clamp(e.size());
        // The old size is read first and the update made only if it still holds, so what is
        // charged is exactly what changed even when writers race (a lost race looks again).
        for _ in 0..16 {
            let old: Option<i64> = sqlx::query_scalar(
                "SELECT size FROM context_entries WHERE context_id = $1 AND family = $2
                   AND entry_key = $3 AND write_token = $4 AND read_token = $5",
            )
            .bind(&e.id.context_id)
            .bind(&e.id.family)
            .bind(&e.id.key)
            .bind(&e.write_token)
            .bind(&e.read_token)
            .fetch_optional(&self.pool)
            .await?;
            let Some(old) = old else {
                return Ok(false);
            };
            let mut tx = self.pool.begin().await?;
            let done = sqlx::query(
                "UPDATE context_entries SET value = $1, last_access = $2, size = $3
                 WHERE context_id = $4 AND family = $5 AND entry_key = $6
                   AND write_token = $7 AND read_token = $8 AND size = $9",
            )
            .bind(&e.value)
            .bind(e.last_access)
            .bind(size)
            .bind(&e.id.context_id)
            .bind(&e.id.family)
            .bind(&e.id.key)
            .bind(&e.write_token)
            .bind(&e.read_token)
            .bind(old)
            .execute(&mut *tx)
            .await?;
            if done.rows_affected() != 1 {
                continue;
            }
            if size != old {
                self.charge(&mut tx, &e.id.context_id, 0, size - old)
                    .await?;
            }
            tx.commit().await?;
            return Ok(true);
        }
        Err(StoreError::Database(sqlx::Error::Protocol(
            "the entry kept changing while it was being updated".into(),
        )))
    }

    async fn delete(
        &self,
        id: &EntryId,
        read_token: &str,
        write_token: &str,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let size: Option<i64> = sqlx::query_scalar(
            "DELETE FROM context_entries
             WHERE context_id = $1 AND family = $2 AND entry_key = $3
               AND read_token = $4 AND write_token = $5
             RETURNING size",
        )
        .bind(&id.context_id)
        .bind(&id.family)
        .bind(&id.key)
        .bind(read_token)
        .bind(write_token)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(size) = size else {
            return Ok(false);
        };
        let removed = BTreeMap::from([(id.context_id.clone(), (1, size))]);
        SqlStore::release(&mut tx, &removed).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn list(
        &self,
        context_id: &str,
        family: Option<&str>,
        read_token: &str,
    ) -> Result<Vec<Entry>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM context_entries
             WHERE context_id = $1 AND read_token = $2 AND ($3 = '' OR family = $3)
             ORDER BY family, entry_key"
        );
        let rows = sqlx::query(&sql)
            .bind(context_id)
            .bind(read_token)
            .bind(family.unwrap_or(""))
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(entry).collect::<Result<_, _>>()?)
    }

    async fn touch(
        &self,
        scope: &Selection<'_>,
        now: i64,
        stale_before: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE context_entries SET last_access = $1
             WHERE context_id = $2 AND read_token = $3 AND ($4 = '' OR family = $4)
               AND ($5 = '' OR entry_key = $5) AND last_access < $6 AND last_access >= $7",
        )
        .bind(now)
        .bind(scope.context_id)
        .bind(scope.read_token)
        .bind(scope.family.unwrap_or(""))
        .bind(scope.key.unwrap_or(""))
        .bind(stale_before)
        .bind(scope.alive_since)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn remove_idle(&self, before: i64) -> Result<u64, StoreError> {
        let mut tx = self.pool.begin().await?;
        let rows = sqlx::query(
            "DELETE FROM context_entries WHERE last_access < $1 RETURNING context_id, size",
        )
        .bind(before)
        .fetch_all(&mut *tx)
        .await?;
        let mut removed: BTreeMap<String, (i64, i64)> = BTreeMap::new();
        for row in &rows {
            let held = removed.entry(row.try_get(0)?).or_default();
            held.0 += 1;
            held.1 += row.try_get::<i64, _>(1)?;
        }
        SqlStore::release(&mut tx, &removed).await?;
        tx.commit().await?;
        Ok(rows.len() as u64)
    }
}
